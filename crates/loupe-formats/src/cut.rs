//! A JSON document read from disk in pieces ([`Cutter`]): a walk follows
//! the outline of the document it expects (braces, brackets, commas,
//! colons), and every value in it (a key, an element, a skipped member) is
//! parsed on its own by serde_json from the text read so far. A value cut
//! short by the end of what is read is parsed again once more is read.
//! Memory holds about one read (1 MiB) and one value; the time is that of
//! parsing text in memory, where serde_json reading the file itself goes a
//! byte at a time through `io::Read` (1.7-3× slower).
//!
//! A walk follows the outline only where it is plain: each value of the
//! expected type, UTF-8 text, nothing after the document. Anything else,
//! and any value that does not parse, makes it give up ([`Stop::GiveUp`]),
//! and the caller reads the file the slower way, which says exactly what
//! is wrong. The walks are `otlp::cut` (OTLP/JSON requests) and
//! `myagent` (MyAgent exports).

use std::io::Read;

use serde_json::Value;

/// Bytes read from the file at a time.
pub(crate) const CHUNK: usize = 1 << 20;

/// Why a walk stopped short.
pub(crate) enum Stop {
    /// The file could not be read.
    Io(std::io::Error),
    /// The document is not plain enough to cut, or broken.
    GiveUp,
    /// Something follows the document.
    MoreAfter,
}

impl From<std::io::Error> for Stop {
    fn from(error: std::io::Error) -> Self {
        Stop::Io(error)
    }
}

/// The byte offset in `text` of the line and column serde_json gives for
/// an error in it.
fn error_offset(text: &str, error: &serde_json::Error) -> usize {
    let line_start = match error.line() {
        0 | 1 => 0,
        line => memchr::memchr_iter(b'\n', text.as_bytes())
            .nth(line - 2)
            .map_or(text.len(), |i| i + 1),
    };
    line_start + error.column()
}

/// Gives up unless `plain`.
pub(crate) fn need(plain: bool) -> Result<(), Stop> {
    if plain {
        Ok(())
    } else {
        Err(Stop::GiveUp)
    }
}

pub(crate) struct Cutter<R> {
    reader: R,
    /// Text read and checked as UTF-8, from some point before `pos` on.
    text: String,
    /// Read buffer; its first `partial` bytes, read after `text`, do not
    /// yet make a whole character.
    scratch: Vec<u8>,
    partial: usize,
    /// Bytes to read at a time.
    chunk: usize,
    /// Where the walk is in `text`.
    pos: usize,
    eof: bool,
}

impl<R: Read> Cutter<R> {
    /// A walk over what `reader` gives, reading `chunk` bytes at a time.
    pub(crate) fn new(reader: R, chunk: usize) -> Self {
        Cutter {
            reader,
            text: String::with_capacity(chunk.saturating_mul(2)),
            scratch: Vec::new(),
            partial: 0,
            chunk: chunk.max(1),
            pos: 0,
            eof: false,
        }
    }

    /// Reads at least `at_least` more bytes (or to the end), dropping the
    /// text before `pos` first; `false` when nothing more was read.
    fn fill(&mut self, at_least: usize) -> Result<bool, Stop> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 && self.pos >= self.text.len() / 2 {
            // `pos` is always after an ASCII byte (punctuation, the end
            // of a value, whitespace), so on a character boundary.
            need(self.text.is_char_boundary(self.pos))?;
            self.text.drain(..self.pos);
            self.pos = 0;
        }
        let wanted = at_least.max(self.chunk);
        let before = self.text.len();
        // `scratch` starts with the bytes of a character cut by the last
        // read; it only grows, so it is zeroed once.
        let kept = self.partial;
        if self.scratch.len() < kept + wanted {
            self.scratch.resize(kept + wanted, 0);
        }
        let mut filled = kept;
        while filled < kept + wanted {
            let n = loop {
                match self.reader.read(&mut self.scratch[filled..kept + wanted]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Stop::Io(e)),
                }
            };
            if n == 0 {
                self.eof = true;
                break;
            }
            filled += n;
        }
        // Text that is not UTF-8 is left to serde_json reading the file,
        // which says where; a character cut by the read waits for the rest.
        let bytes = &self.scratch[..filled];
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                self.text.push_str(text);
                self.partial = 0;
            }
            Err(e) if e.error_len().is_none() && !self.eof => {
                let whole = e.valid_up_to();
                let text = std::str::from_utf8(&bytes[..whole]).map_err(|_| Stop::GiveUp)?;
                self.text.push_str(text);
                self.scratch.copy_within(whole..filled, 0);
                self.partial = filled - whole;
            }
            Err(_) => return Err(Stop::GiveUp),
        }
        Ok(self.text.len() > before || filled > kept)
    }

    /// The byte at `pos` after JSON whitespace, not consumed; `None` at the end.
    pub(crate) fn peek(&mut self) -> Result<Option<u8>, Stop> {
        loop {
            while let Some(&b) = self.text.as_bytes().get(self.pos) {
                if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill(0)? {
                return Ok(None);
            }
        }
    }

    /// Consumes `byte` after whitespace, or gives up.
    pub(crate) fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        need(self.peek()? == Some(byte))?;
        self.pos += 1;
        Ok(())
    }

    /// Parses the next value as `T`, consuming it. serde_json finds where
    /// it ends: a value cut short by the end of what is read is parsed
    /// again once more is (at least as much again, so a large value costs
    /// a bounded number of tries).
    pub(crate) fn value<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Stop> {
        self.value_and_length().map(|(value, _)| value)
    }

    /// [`Cutter::value`], with the length of its text (which ends at `pos`).
    fn value_and_length<T: serde::de::DeserializeOwned>(&mut self) -> Result<(T, usize), Stop> {
        loop {
            let rest = &self.text[self.pos..];
            let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
            let parsed = values.next();
            let end = values.byte_offset();
            // A value that reaches the end of what is read may go on
            // (a number), unless the input ends there.
            let complete = end < rest.len() || self.eof;
            match parsed {
                Some(Ok(value)) if complete => {
                    self.pos += end;
                    return Ok((value, end));
                }
                // Broken before the end of what is read (a number cut
                // short by the read is an error at the end, not an EOF).
                Some(Err(e)) if !e.is_eof() && error_offset(rest, &e) + 1 < rest.len() => {
                    return Err(Stop::GiveUp)
                }
                _ if self.eof => return Err(Stop::GiveUp),
                _ => {
                    let len = rest.len();
                    self.fill(len)?;
                }
            }
        }
    }

    /// The next object key, with its colon consumed; `None` at the
    /// object's end (its `}` consumed). `first` says whether a member came
    /// before (so a comma must).
    pub(crate) fn key(&mut self, first: bool) -> Result<Option<String>, Stop> {
        match self.peek()? {
            Some(b'}') => {
                self.pos += 1;
                return Ok(None);
            }
            Some(b',') if !first => self.pos += 1,
            _ if first => {}
            _ => return Err(Stop::GiveUp),
        }
        need(self.peek()? == Some(b'"'))?;
        let key = self.value::<String>()?;
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// A list the walk goes into: `null` (`false`), or `[`, each element
    /// handed to `element`, `]` (`true`).
    pub(crate) fn list(
        &mut self,
        element: &mut dyn FnMut(&mut Self) -> Result<(), Stop>,
    ) -> Result<bool, Stop> {
        if self.peek()? == Some(b'n') {
            self.value::<()>()?;
            return Ok(false);
        }
        self.expect(b'[')?;
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(true);
        }
        loop {
            element(self)?;
            match self.peek()? {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(true);
                }
                _ => return Err(Stop::GiveUp),
            }
        }
    }

    /// The elements of an array, each parsed as `T` and handed to
    /// `element` with its index (`true`); any other value is parsed and
    /// dropped (`false`). The array lies `depth` levels down in the
    /// document (see [`Cutter::shallow`]).
    pub(crate) fn elements<T: Nested>(
        &mut self,
        depth: usize,
        element: &mut dyn FnMut(usize, T),
    ) -> Result<bool, Stop> {
        if self.peek()? != Some(b'[') {
            self.shallow::<Value>(depth)?;
            return Ok(false);
        }
        let mut i = 0;
        self.list(&mut |c| {
            element(i, c.shallow(depth + 1)?);
            i += 1;
            Ok(())
        })
    }

    /// The next value, which lies `depth` levels down in the document.
    /// serde_json reading the whole document counts those levels towards
    /// its recursion limit, where parsing the value on its own does not:
    /// a value that may nest too deep for the whole document is given up
    /// on (the check is kept simple and safe).
    pub(crate) fn shallow<T: Nested>(&mut self, depth: usize) -> Result<T, Stop> {
        let (value, length) = self.value_and_length::<T>()?;
        let nesting = value.nesting().unwrap_or_else(|| {
            // Arrays and objects opened in its text: at least its nesting.
            let text = &self.text.as_bytes()[self.pos - length..self.pos];
            text.iter().filter(|&&b| b == b'[' || b == b'{').count()
        });
        need(depth + nesting < MAX_NESTING)?;
        Ok(value)
    }
}

/// A value a walk hands on.
pub(crate) trait Nested: serde::de::DeserializeOwned {
    /// How many arrays and objects nest in the text it was read from, the
    /// value itself included; `None` when it cannot tell (it kept only
    /// part of that text).
    fn nesting(&self) -> Option<usize>;
}

impl Nested for Value {
    fn nesting(&self) -> Option<usize> {
        Some(nesting(self))
    }
}

/// serde_json's recursion limit counts arrays and objects opened; at 128 a
/// document is refused. Values up to this many levels, with the levels
/// above them, are well inside it.
const MAX_NESTING: usize = 120;

/// How many arrays and objects are nested in `value`, itself included.
fn nesting(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}
