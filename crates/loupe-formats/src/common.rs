//! Helpers shared by the line-oriented readers: line framing, JSON field
//! extraction, timestamps and deterministic event ids.
//!
//! Framing is kept apart from parsing (as in Vector's codecs): [`drive_lines`]
//! splits any `BufRead` into lines in place in its buffer and hands each line
//! to a [`LineParser`]; the parser only ever sees one complete line.

use std::io::BufRead;
use std::path::Path;

use loupe_model::Timestamp;
use serde_json::{Map, Value};

use crate::{ReadError, Sink, Skipped, Source};

/// Size of the read buffer used for files (large reads keep syscalls rare).
pub(crate) const READ_BUFFER_BYTES: usize = 256 * 1024;

/// What a line-oriented reader needs to know about where a line came from.
pub(crate) struct LineCtx<'a> {
    /// The file and format.
    pub(crate) source: &'a Source,
    /// 1-based line number in the file.
    pub(crate) line_no: u64,
}

/// One reader of a line-oriented format. `Err(reason)` skips the line.
pub(crate) trait LineParser {
    /// Parses one non-blank line (without its line terminator).
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String>;
}

/// Splits `input` into lines and feeds them to `parser`, numbering lines from
/// `first_line`. Blank lines are ignored, CRLF is tolerated, and a last line
/// without a terminating newline that fails to parse is reported as a torn
/// last line (a writer was interrupted mid-line), never as an error.
///
/// Lines are handed to the parser straight out of `input`'s buffer (found
/// with SIMD `memchr`); only a line that straddles two buffer fills is copied.
pub(crate) fn drive_lines(
    mut input: impl BufRead,
    first_line: u64,
    source: &Source,
    parser: &mut dyn LineParser,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let mut lines = Lines {
        line_no: first_line.max(1),
        source,
        parser,
        sink,
    };
    // The start of a line whose end is not in the buffer yet.
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let chunk = match input.fill_buf() {
            Ok(chunk) => chunk,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ReadError::Io {
                    path: source.path.clone(),
                    error: e,
                })
            }
        };
        let len = chunk.len();
        if len == 0 {
            if !carry.is_empty() {
                lines.line(&carry, false);
            }
            return Ok(());
        }
        let mut start = 0;
        if !carry.is_empty() {
            // Without an end here the line is longer than the buffer: the
            // loop below finds none either and the chunk joins the carry.
            if let Some(end) = memchr::memchr(b'\n', chunk) {
                carry.extend_from_slice(&chunk[..end]);
                lines.line(&carry, true);
                carry.clear();
                start = end + 1;
            }
        }
        if start < len {
            let rest = &chunk[start..];
            let mut from = 0;
            for end in memchr::memchr_iter(b'\n', rest) {
                lines.line(&rest[from..end], true);
                from = end + 1;
            }
            start += from;
        }
        carry.extend_from_slice(&chunk[start..]);
        input.consume(len);
    }
}

/// Line numbering and skip reporting for [`drive_lines`].
struct Lines<'s> {
    line_no: u64,
    source: &'s Source,
    parser: &'s mut dyn LineParser,
    sink: &'s mut dyn Sink,
}

impl Lines<'_> {
    /// One line without its `\n`; `terminated` is false for a last line that
    /// had none.
    fn line(&mut self, line: &[u8], terminated: bool) {
        let mut line = line;
        while let Some((&last, rest)) = line.split_last() {
            if last == b'\n' || last == b'\r' {
                line = rest;
            } else {
                break;
            }
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            let ctx = LineCtx {
                source: self.source,
                line_no: self.line_no,
            };
            let mut outcome = self.parser.line(&ctx, line, self.sink);
            if outcome.is_err() {
                if let Some(repaired) = crate::lenient::repair(line) {
                    outcome = self.parser.line(&ctx, &repaired, self.sink);
                }
            }
            if let Err(reason) = outcome {
                let reason = if line.contains(&0) {
                    format!("{reason} (the line holds NUL bytes: zero fill left by a crash?)")
                } else {
                    reason
                };
                let reason = if terminated {
                    reason
                } else {
                    format!("torn last line (no newline at end of file): {reason}")
                };
                self.sink
                    .skip(Skipped::new(&self.source.path, Some(self.line_no), reason));
            }
        }
        self.line_no += 1;
    }
}

/// Sessions whose end was read, waiting for the next session's start to be
/// declared done ([`Sink::session_done`]): a file of many sessions written
/// one after another need not be held whole by the sink. Not at the end
/// itself, which some writers repeat (attocode's `TraceWriter` writes it
/// twice); a late event of a session declared done still reaches the sink,
/// which then reads the session whole.
#[derive(Default)]
pub(crate) struct EndedSessions(Vec<String>);

impl EndedSessions {
    /// Notes `event` (about to be handed on) and declares the sessions
    /// that ended done when another one starts.
    pub(crate) fn note(
        &mut self,
        event: &loupe_model::Event,
        source: &Source,
        sink: &mut dyn Sink,
    ) {
        use loupe_model::EventKind;
        match event.kind {
            EventKind::SessionStart if !self.0.is_empty() => {
                for done in std::mem::take(&mut self.0) {
                    if done != event.session_id {
                        sink.session_done(source, &done);
                    }
                }
            }
            EventKind::SessionEnd if !self.0.contains(&event.session_id) => {
                self.0.push(event.session_id.clone());
            }
            _ => {}
        }
    }
}

/// Deserialises one line into `T`. A line that is valid UTF-8 (nearly all)
/// is checked once and parsed as `str`, which spares serde_json a UTF-8 check
/// per string; other lines get serde_json's own error.
pub(crate) fn from_line<'a, T: serde::Deserialize<'a>>(line: &'a [u8]) -> serde_json::Result<T> {
    match std::str::from_utf8(line) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(line),
    }
}

/// Parses a line as a JSON object.
pub(crate) fn parse_object(line: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "expected a JSON object, found {}",
            json_type(&other)
        )),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// The JSON type name of a value, for messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Removes a string field (numbers are turned into their text).
pub(crate) fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => {
            // Not a scalar: put it back so it is not lost.
            map.insert(key.to_owned(), other);
            None
        }
    }
}

/// Removes a non-negative integer field that fits in `u32`.
pub(crate) fn take_u32(map: &mut Map<String, Value>, key: &str) -> Option<u32> {
    let v = map.remove(key)?;
    match loupe_model::value_u64(&v).and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Some(n),
        None => {
            if !v.is_null() {
                map.insert(key.to_owned(), v);
            }
            None
        }
    }
}

/// Removes a finite number field.
pub(crate) fn take_f64(map: &mut Map<String, Value>, key: &str) -> Option<f64> {
    let v = map.remove(key)?;
    match v.as_f64().filter(|f| f.is_finite()) {
        Some(f) => Some(f),
        None => {
            if !v.is_null() {
                map.insert(key.to_owned(), v);
            }
            None
        }
    }
}

/// Reads a non-negative integer (accepting integral floats and numeric strings).
pub(crate) fn get_u64(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key).and_then(loupe_model::value_u64)
}

/// Moves `from` to `to` inside `map` (no-op when absent or null).
pub(crate) fn rename(map: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = map.remove(from) {
        if !v.is_null() {
            map.insert(to.to_owned(), v);
        }
    }
}

/// Reads a timestamp written as epoch seconds (number) or RFC 3339 text; both
/// end up in UTC.
pub(crate) fn timestamp_of(v: &Value) -> Result<Timestamp, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(Timestamp::from_epoch_secs_f64)
            .ok_or_else(|| format!("timestamp {n} is out of range")),
        Value::String(s) => Timestamp::parse(s).map_err(|e| format!("bad timestamp {s:?}: {e}")),
        other => Err(format!("timestamp is {}, not a time", json_type(other))),
    }
}

/// Removes and parses the timestamp field `key`.
pub(crate) fn take_timestamp(map: &mut Map<String, Value>, key: &str) -> Result<Timestamp, String> {
    let v = map.remove(key).ok_or_else(|| format!("missing `{key}`"))?;
    timestamp_of(&v)
}

/// Derives a deterministic event id for formats that have none: a hash of the
/// session id, the line number and the line's bytes. It depends on nothing
/// else (not the file path, not later lines), so a tail read from line N
/// produces the same ids as a full read, and re-reading is idempotent.
pub(crate) fn derived_event_id(session_id: &str, line_no: u64, line: &[u8]) -> String {
    use std::cell::RefCell;
    thread_local! {
        // One-shot XXH3 over one buffer is several times cheaper than the
        // streaming hasher for a line this short; the digest is the same.
        static HASHED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let digest = HASHED.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        buf.extend_from_slice(session_id.as_bytes());
        buf.push(0);
        buf.extend_from_slice(&line_no.to_le_bytes());
        buf.extend_from_slice(line);
        xxhash_rust::xxh3::xxh3_64(&buf)
    });
    // `{digest:016x}-{line_no}`, without the formatting machinery.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(16 + 1 + 20);
    for shift in (0..16).rev() {
        id.push(char::from(HEX[((digest >> (shift * 4)) & 0xf) as usize]));
    }
    id.push('-');
    let mut digits = [0u8; 20];
    let mut n = line_no;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        id.push(char::from(d));
    }
    id
}

/// The file stem (`trace-abc` for `dir/trace-abc.jsonl.gz`), used as a last
/// resort session id like attocode-py's own loader does.
pub(crate) fn file_stem_session(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for ext in [".gz", ".zst", ".jsonl", ".json", ".ndjson"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
        }
    }
    if stem.is_empty() {
        "unknown".to_owned()
    } else {
        stem.to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn derived_ids_are_the_streaming_xxh3_of_session_line_number_and_bytes() {
        for (session, line_no, line) in [
            ("s", 1u64, &b"{}"[..]),
            ("", 0, b""),
            ("session-\u{e9}", u64::MAX, &[b'x'; 1000][..]),
            ("abc", 1234567, b"{\"_type\":\"x\"}"),
        ] {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(session.as_bytes());
            h.update(&[0]);
            h.update(&line_no.to_le_bytes());
            h.update(line);
            let want = format!("{:016x}-{line_no}", h.digest());
            assert_eq!(derived_event_id(session, line_no, line), want);
        }
    }

    struct Lines(Vec<(u64, String)>);
    impl LineParser for Lines {
        fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], _: &mut dyn Sink) -> Result<(), String> {
            let text = String::from_utf8_lossy(line).into_owned();
            if text.starts_with('!') {
                return Err("bang".to_owned());
            }
            self.0.push((ctx.line_no, text));
            Ok(())
        }
    }

    #[test]
    fn framing_is_the_same_whatever_the_buffer_size() {
        let text = "a\r\n\n  \nbb\n!bad\nccc\r\r\nlong-line-longer-than-the-buffer\n!torn";
        let source = Source {
            path: "f".into(),
            format: loupe_model::SourceFormat::Loupe,
        };
        for cap in [1, 2, 3, 7, 64] {
            let input = std::io::BufReader::with_capacity(cap, text.as_bytes());
            let mut parser = Lines(Vec::new());
            let mut sink = crate::Collected::default();
            drive_lines(input, 10, &source, &mut parser, &mut sink).unwrap();
            let lines: Vec<(u64, &str)> = parser.0.iter().map(|(n, l)| (*n, l.as_str())).collect();
            assert_eq!(
                lines,
                [
                    (10, "a"),
                    (13, "bb"),
                    (15, "ccc"),
                    (16, "long-line-longer-than-the-buffer")
                ],
                "buffer of {cap}"
            );
            let skipped: Vec<String> = sink.skipped.iter().map(ToString::to_string).collect();
            assert_eq!(
                skipped,
                [
                    "f:14: bang",
                    "f:17: torn last line (no newline at end of file): bang"
                ]
            );
        }
    }
}
