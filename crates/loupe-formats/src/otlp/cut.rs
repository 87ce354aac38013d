//! A large OTLP/JSON request document read from disk in pieces: the
//! request's outline (`resourceSpans` → `scopeSpans` → `spans`, with their
//! braces, brackets, commas and colons) is followed here, and every value
//! in it (keys, spans, resources, skipped members) is parsed on its own by
//! serde_json from the text read so far, as [`walk_request_json`] parses it
//! in place. A value cut short by the end of what is read is parsed again
//! once more is read. Memory holds about one read (1 MiB) and one span; the
//! time is that of parsing text in memory, where serde_json reading the
//! file itself goes a byte at a time through `io::Read` (1.7× slower).
//!
//! The outline is followed only where it is plain: each member's value of
//! the expected type, a resource before its spans, UTF-8 text, nothing
//! after the document. Anything else, and any value that does not parse,
//! makes [`walk_request_cut`] give up ([`Cut::GaveUp`]), and the caller reads
//! the file the slower way, which says exactly what is wrong. Where it does
//! not give up it hands `visit` exactly what [`walk_request_json`] would on
//! the same bytes (property tests and a fuzz target hold it to that).
//!
//! [`walk_request_json`]: super::json::walk_request_json

use std::io::Read;

use serde::de::IgnoredAny;

use super::json::{JsonResource, JsonSpan, Piece};
use opentelemetry_proto::tonic::trace::v1::Span;

/// Bytes read from the file at a time.
const CHUNK: usize = 1 << 20;

/// What [`walk_request_cut`] made of a document.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Walked whole; whether it had a `resourceSpans` list.
    Walked { found: bool },
    /// A whole document, then more (OTLP JSONL, most likely).
    MoreAfter,
    /// Not plain enough to cut, or broken.
    GaveUp,
}

/// Walks the request document `reader` gives, handing resources and spans
/// to `visit` as [`walk_request_json`](super::json::walk_request_json)
/// does. Unless it is [`Cut::Walked`], `visit` may have seen part of it.
pub(crate) fn walk_request_cut(
    reader: impl Read,
    visit: &mut dyn FnMut(Piece),
) -> std::io::Result<Cut> {
    walk_in_chunks(reader, CHUNK, visit)
}

fn walk_in_chunks(
    reader: impl Read,
    chunk: usize,
    visit: &mut dyn FnMut(Piece),
) -> std::io::Result<Cut> {
    let mut cutter = Cutter {
        reader,
        text: String::with_capacity(chunk.saturating_mul(2)),
        scratch: Vec::new(),
        partial: 0,
        chunk: chunk.max(1),
        pos: 0,
        eof: false,
    };
    match cutter.request(visit) {
        Ok(found) => Ok(Cut::Walked { found }),
        Err(Stop::GiveUp) => Ok(Cut::GaveUp),
        Err(Stop::MoreAfter) => Ok(Cut::MoreAfter),
        Err(Stop::Io(error)) => Err(error),
    }
}

/// Holds [`walk_request_cut`], reading `chunk` bytes at a time, to the walk
/// in place over the same `bytes`: where it does not give up, both hand
/// over the same pieces and say the same about `resourceSpans`. Panics when
/// they differ; says whether the cut walk took the document. For tests and
/// the fuzz target.
pub(crate) fn assert_cut_agrees(bytes: &[u8], chunk: usize) -> bool {
    let mut cut = Vec::new();
    let Ok(Cut::Walked { found }) = walk_in_chunks(bytes, chunk, &mut |p| cut.push(p)) else {
        return false;
    };
    let mut in_place = Vec::new();
    let walked = super::json::walk_request_json(bytes, &mut |p| in_place.push(p));
    match (found, walked) {
        (true, Ok(())) => {}
        (false, Err(reason)) => assert!(
            reason.contains("resourceSpans") || reason.contains("not traces"),
            "valid to the cut walk, broken to the walk in place: {reason}"
        ),
        (true, Err(reason)) => panic!("the cut walk took what the walk in place did not: {reason}"),
        (false, Ok(())) => panic!("only the walk in place found resourceSpans"),
    }
    assert_eq!(cut, in_place, "the walks handed over different pieces");
    true
}

/// Why a walk stopped short.
enum Stop {
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
fn need(plain: bool) -> Result<(), Stop> {
    if plain {
        Ok(())
    } else {
        Err(Stop::GiveUp)
    }
}

struct Cutter<R> {
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
    fn peek(&mut self) -> Result<Option<u8>, Stop> {
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
    fn expect(&mut self, byte: u8) -> Result<(), Stop> {
        need(self.peek()? == Some(byte))?;
        self.pos += 1;
        Ok(())
    }

    /// Parses the next value as `T`, consuming it. serde_json finds where
    /// it ends: a value cut short by the end of what is read is parsed
    /// again once more is (at least as much again, so a large value costs
    /// a bounded number of tries).
    fn value<T: serde::de::DeserializeOwned>(&mut self) -> Result<T, Stop> {
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
                    return Ok(value);
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
    fn key(&mut self, first: bool) -> Result<Option<String>, Stop> {
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
    fn list(
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

    fn request(&mut self, visit: &mut dyn FnMut(Piece)) -> Result<bool, Stop> {
        self.expect(b'{')?;
        let mut found = false;
        let mut first = true;
        while let Some(key) = self.key(first)? {
            first = false;
            if key == "resourceSpans" || key == "resource_spans" {
                found |= self.list(&mut |c| c.resource_spans(visit))?;
            } else {
                self.value::<IgnoredAny>()?;
            }
        }
        if self.peek()?.is_some() {
            return Err(Stop::MoreAfter);
        }
        Ok(found)
    }

    fn resource_spans(&mut self, visit: &mut dyn FnMut(Piece)) -> Result<(), Stop> {
        self.expect(b'{')?;
        let mut announced = false;
        let mut first = true;
        while let Some(key) = self.key(first)? {
            first = false;
            match key.as_str() {
                "resource" => {
                    let resource = self.value::<Option<JsonResource>>()?;
                    if !announced {
                        announced = true;
                        visit(Piece::Resource(resource.map(Into::into)));
                    }
                }
                "scopeSpans" | "scope_spans" | "instrumentationLibrarySpans" => {
                    // Spans before their resource wait for it in the walk
                    // in place; here, give up on such rare documents.
                    need(announced)?;
                    self.list(&mut |c| c.scope_spans(visit))?;
                }
                _ => {
                    self.value::<IgnoredAny>()?;
                }
            }
        }
        if !announced {
            visit(Piece::Resource(None));
        }
        Ok(())
    }

    fn scope_spans(&mut self, visit: &mut dyn FnMut(Piece)) -> Result<(), Stop> {
        self.expect(b'{')?;
        let mut first = true;
        while let Some(key) = self.key(first)? {
            first = false;
            if key == "spans" {
                self.list(&mut |c| {
                    let span = c.value::<JsonSpan>()?;
                    visit(Piece::Span(Box::new(Span::from(span))));
                    Ok(())
                })?;
            } else {
                self.value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// Text of an object with `members` (already-written values), joined by
    /// `ws` around the punctuation.
    fn object(members: &[(&str, String)], ws: &str) -> String {
        let inner: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}"))
            .collect();
        format!("{{{}{ws}}}", inner.join(&format!("{ws},")))
    }

    fn list(items: &[String], ws: &str) -> String {
        format!("[{ws}{}{ws}]", items.join(&format!("{ws},{ws}")))
    }

    fn span(i: u8) -> String {
        format!(
            r#"{{"traceId":"{t}","spanId":"{s}","name":"chat \"{i}\" ]}}{{[","startTimeUnixNano":"1772280000000000000","endTimeUnixNano":1772280000500000000,"attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},{{"key":"gen_ai.prompt","value":{{"stringValue":"é \\ \u00e9 \\n"}}}}]}}"#,
            t = format!("{:02x}", i % 3 + 1).repeat(16),
            s = format!("{:02x}", i + 1).repeat(8),
        )
    }

    prop_compose! {
        fn document()(
            shape in proptest::collection::vec(
                (any::<bool>(), 0u8..4, proptest::collection::vec(0u8..5, 0..4), any::<bool>()),
                0..4,
            ),
            ws in prop_oneof![Just(""), Just(" "), Just("\n  "), Just("\t\r\n")],
            snake in any::<bool>(),
            extra in any::<bool>(),
            null_list in any::<bool>(),
        ) -> (String, bool) {
            let mut next = 0u8;
            // Whether every resource comes before its spans.
            let plain = shape.iter().all(|(first, resource, _, _)| *first && *resource > 0);
            let elements: Vec<String> = shape
                .iter()
                .map(|(resource_first, resource, scopes, unknown)| {
                    let resource_value = match resource {
                        0 => None,
                        1 => Some("null".to_owned()),
                        _ => Some(format!(
                            r#"{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc{resource}"}}}}]}}"#
                        )),
                    };
                    let scope_spans: Vec<String> = scopes
                        .iter()
                        .map(|n| {
                            let spans: Vec<String> = (0..*n)
                                .map(|_| {
                                    next = next.wrapping_add(1);
                                    span(next)
                                })
                                .collect();
                            object(
                                &[
                                    ("scope", r#"{"name":"s\"}"}"#.to_owned()),
                                    ("spans", list(&spans, ws)),
                                ],
                                ws,
                            )
                        })
                        .collect();
                    let key = if snake { "scope_spans" } else { "scopeSpans" };
                    let mut members = Vec::new();
                    if *unknown {
                        members.push(("schemaUrl", r#""https://x/\"[""#.to_owned()));
                        members.push(("droppedCount", "123456789".to_owned()));
                    }
                    let scope_member = (key, list(&scope_spans, ws));
                    match (resource_value, resource_first) {
                        (Some(r), true) => {
                            members.push(("resource", r));
                            members.push(scope_member);
                        }
                        (Some(r), false) => {
                            members.push(scope_member);
                            members.push(("resource", r));
                        }
                        (None, _) => members.push(scope_member),
                    }
                    object(&members, ws)
                })
                .collect();
            let key = if snake { "resource_spans" } else { "resourceSpans" };
            let value = if null_list { "null".to_owned() } else { list(&elements, ws) };
            let mut members = vec![(key, value)];
            if extra {
                members.push(("bare", "-12345.678e-3".to_owned()));
                members.insert(0, ("partialSuccess", r#"{"n":[1,{"a":"]"}],"f":-1.5e3,"t":true}"#.to_owned()));
            }
            (format!("{ws}{}{ws}", object(&members, ws)), plain || null_list)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Plain documents are cut, and cut the same whatever the chunk size.
        #[test]
        fn the_cut_walk_agrees_with_the_walk_in_place((doc, plain) in document(), chunk in 1usize..64) {
            let took = assert_cut_agrees(doc.as_bytes(), chunk);
            let took_whole = assert_cut_agrees(doc.as_bytes(), CHUNK);
            prop_assert_eq!(took, took_whole);
            // Only spans before their resource (or with none) make it give up.
            prop_assert_eq!(took, plain, "{}", doc);
        }

        /// Broken or cut short: it gives up, or agrees.
        #[test]
        fn broken_documents_are_given_up_or_read_alike(
            (doc, _) in document(),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            truncate in any::<bool>(),
            chunk in 1usize..32,
        ) {
            let mut bytes = doc.into_bytes();
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                if truncate {
                    bytes.truncate(i);
                } else {
                    bytes[i] = byte;
                }
            }
            assert_cut_agrees(&bytes, chunk);
        }
    }

    #[test]
    fn what_it_gives_up_on_and_what_it_takes() {
        let span = span(1);
        for doc in [
            // Spans before their resource.
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}],"resource":{{}}}}]}}"#
            ),
            // Something after the document (said so apart, below).
            r#"{"resourceSpans":[]} {}"#.to_owned(),
            // A trailing comma.
            r#"{"resourceSpans":[],}"#.to_owned(),
            // Not an object.
            "[]".to_owned(),
            String::new(),
        ] {
            let mut pieces = 0;
            let took = walk_request_cut(doc.as_bytes(), &mut |_| pieces += 1).unwrap();
            assert!(matches!(took, Cut::GaveUp | Cut::MoreAfter), "{doc}");
            assert!(!assert_cut_agrees(doc.as_bytes(), 3));
        }
        let mut pieces = Vec::new();
        let plain = format!(
            r#"{{"resourceSpans":[{{"resource":{{}},"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#
        );
        assert_eq!(
            walk_request_cut(plain.as_bytes(), &mut |p| pieces.push(p)).unwrap(),
            Cut::Walked { found: true }
        );
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            walk_request_cut(&b"{\"a\":1}"[..], &mut |_| {}).unwrap(),
            Cut::Walked { found: false }
        );
        let jsonl = format!("{plain}\n{plain}\n");
        assert_eq!(
            walk_request_cut(jsonl.as_bytes(), &mut |_| {}).unwrap(),
            Cut::MoreAfter
        );
        // Keys are read as serde_json reads them, escapes and all.
        let escaped = plain.replacen("resourceSpans", "resource\\u0053pans", 1);
        assert_ne!(escaped, plain);
        assert!(assert_cut_agrees(escaped.as_bytes(), 5));
    }
}
