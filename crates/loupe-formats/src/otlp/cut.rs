//! A large OTLP/JSON request document read from disk in pieces: the
//! request's outline (`resourceSpans` → `scopeSpans` → `spans`) is followed
//! byte by byte, and each span, resource and skipped member is cut out and
//! parsed on its own by serde_json, as [`walk_request_json`] would parse it
//! in place. Memory holds one span at a time, at the speed of parsing text
//! in memory; serde_json reading the file itself goes a byte at a time
//! through `io::Read`, 1.7× slower.
//!
//! The outline is followed only where it is plain: keys without escapes,
//! each member's value of the expected type, a resource before its spans,
//! nothing after the document. Anything else, and any piece that does not
//! parse, makes [`walk_request_cut`] give up (`Ok(None)`), and the caller
//! reads the file the slower way, which says exactly what is wrong. Where
//! it does not give up it hands `visit` exactly what [`walk_request_json`]
//! would on the same bytes (a property test and a fuzz target hold it to
//! that).
//!
//! [`walk_request_json`]: super::json::walk_request_json

use std::io::Read;

use serde::de::IgnoredAny;

use super::json::{JsonResource, JsonSpan, Piece};
use opentelemetry_proto::tonic::trace::v1::Span;

/// Bytes read from the file at a time.
const CHUNK: usize = 1 << 20;

/// Walks the request document `reader` gives, handing resources and spans
/// to `visit` as [`walk_request_json`](super::json::walk_request_json)
/// does. `Ok(Some(found))`: walked whole, `found` telling whether it had a
/// `resourceSpans` list. `Ok(None)`: not plain enough to cut (or broken);
/// `visit` may have seen part of it.
pub(crate) fn walk_request_cut(
    reader: impl Read,
    visit: &mut dyn FnMut(Piece),
) -> std::io::Result<Option<bool>> {
    walk_in_chunks(reader, CHUNK, visit)
}

fn walk_in_chunks(
    reader: impl Read,
    chunk: usize,
    visit: &mut dyn FnMut(Piece),
) -> std::io::Result<Option<bool>> {
    let mut cutter = Cutter {
        reader,
        buf: Vec::with_capacity(chunk),
        chunk: chunk.max(1),
        pos: 0,
        eof: false,
    };
    Ok(cutter.request(visit)?.ok())
}

/// Holds [`walk_request_cut`], reading `chunk` bytes at a time, to the walk
/// in place over the same `bytes`: where it does not give up, both hand
/// over the same pieces and say the same about `resourceSpans`. Panics when
/// they differ; says whether the cut walk took the document. For tests and
/// the fuzz target.
pub(crate) fn assert_cut_agrees(bytes: &[u8], chunk: usize) -> bool {
    let mut cut = Vec::new();
    let Ok(Some(found)) = walk_in_chunks(bytes, chunk, &mut |p| cut.push(p)) else {
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

/// Gave up: the document is not plain, or broken.
struct GiveUp;

type Step<T> = std::io::Result<Result<T, GiveUp>>;

/// Stops the step with `GiveUp` when `$cond` fails; passes I/O errors up.
macro_rules! need {
    ($cond:expr) => {
        if !$cond {
            return Ok(Err(GiveUp));
        }
    };
}

/// Unwraps a step's result inside another step.
macro_rules! step {
    ($e:expr) => {
        match $e? {
            Ok(v) => v,
            Err(GiveUp) => return Ok(Err(GiveUp)),
        }
    };
}

struct Cutter<R> {
    reader: R,
    /// Bytes read and not yet dropped; `pos` indexes into it.
    buf: Vec<u8>,
    /// Bytes to read at a time.
    chunk: usize,
    pos: usize,
    eof: bool,
}

impl<R: Read> Cutter<R> {
    /// Reads more, dropping what lies before `pos` first; `false` at the
    /// end of the input. Indexes into `buf` taken before are invalid after.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + self.chunk, 0);
        let n = loop {
            match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// The byte at `pos` after JSON whitespace, not consumed; `None` at the end.
    fn peek(&mut self) -> std::io::Result<Option<u8>> {
        loop {
            while let Some(&b) = self.buf.get(self.pos) {
                if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Consumes `byte` after whitespace, or gives up.
    fn expect(&mut self, byte: u8) -> Step<()> {
        need!(self.peek()? == Some(byte));
        self.pos += 1;
        Ok(Ok(()))
    }

    /// Finds where the value starting at `pos` (after whitespace) ends,
    /// reading on as needed, without consuming it: its length. Strings are
    /// followed through their escapes and brackets counted outside them;
    /// whether the value is valid JSON is left to serde_json.
    fn value_len(&mut self) -> Step<usize> {
        let Some(opening) = self.peek()? else {
            return Ok(Err(GiveUp));
        };
        let scalar = !matches!(opening, b'{' | b'[' | b'"');
        let mut depth = 0usize;
        let mut in_string = false;
        // Offset from `pos`, which stays at the value's start (`fill` may
        // move the bytes, never past it).
        let mut off = 0;
        loop {
            let rest = &self.buf[(self.pos + off).min(self.buf.len())..];
            if rest.is_empty() {
                if !self.fill()? {
                    // A scalar may end the input; anything else is cut short.
                    need!(scalar);
                    return Ok(Ok(off));
                }
                continue;
            }
            if in_string {
                // Strings are most of the text: skip to a quote or an
                // escape at once.
                let Some(i) = memchr::memchr2(b'"', b'\\', rest) else {
                    off += rest.len();
                    continue;
                };
                if rest[i] == b'\\' {
                    // The escaped byte is skipped with it (perhaps beyond
                    // what is read yet).
                    off += i + 2;
                    continue;
                }
                off += i + 1;
                in_string = false;
                if depth == 0 {
                    return Ok(Ok(off));
                }
            } else if scalar {
                match rest
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                {
                    Some(i) => return Ok(Ok(off + i)),
                    None => off += rest.len(),
                }
            } else {
                match rest
                    .iter()
                    .position(|b| matches!(b, b'"' | b'{' | b'[' | b'}' | b']'))
                {
                    None => off += rest.len(),
                    Some(i) => {
                        off += i + 1;
                        match rest[i] {
                            b'"' => in_string = true,
                            b'{' | b'[' => depth += 1,
                            _ => {
                                need!(depth > 0);
                                depth -= 1;
                                if depth == 0 {
                                    return Ok(Ok(off));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Parses the next value as `T`, consuming it.
    fn value<T: serde::de::DeserializeOwned>(&mut self) -> Step<T> {
        let len = step!(self.value_len());
        let bytes = &self.buf[self.pos..self.pos + len];
        // As the walk in place does: text checked as UTF-8 in one go is
        // parsed without serde_json checking each string again.
        let parsed = match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str::<T>(text),
            Err(_) => serde_json::from_slice::<T>(bytes),
        };
        self.pos += len;
        Ok(parsed.map_err(|_| GiveUp))
    }

    /// The next object key, with its colon consumed; `None` at the
    /// object's end (its `}` consumed). `first` says whether a member came
    /// before (so a comma must).
    fn key(&mut self, first: bool) -> Step<Option<String>> {
        match self.peek()? {
            Some(b'}') => {
                self.pos += 1;
                return Ok(Ok(None));
            }
            Some(b',') if !first => self.pos += 1,
            _ if first => {}
            _ => return Ok(Err(GiveUp)),
        }
        need!(self.peek()? == Some(b'"'));
        let len = step!(self.value_len());
        let raw = &self.buf[self.pos + 1..self.pos + len - 1];
        // Escaped or control characters, or text that is not UTF-8: let
        // serde_json judge the key in place.
        need!(raw.iter().all(|&b| b >= 0x20 && b != b'\\'));
        let Ok(key) = std::str::from_utf8(raw) else {
            return Ok(Err(GiveUp));
        };
        let key = key.to_owned();
        self.pos += len;
        step!(self.expect(b':'));
        Ok(Ok(Some(key)))
    }

    /// A list the walk goes into: `null` (`false`), or `[`, each element
    /// handed to `element`, `]` (`true`).
    fn list(&mut self, element: &mut dyn FnMut(&mut Self) -> Step<()>) -> Step<bool> {
        if self.peek()? == Some(b'n') {
            step!(self.value::<()>());
            return Ok(Ok(false));
        }
        step!(self.expect(b'['));
        if self.peek()? == Some(b']') {
            self.pos += 1;
            return Ok(Ok(true));
        }
        loop {
            step!(element(self));
            match self.peek()? {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Ok(true));
                }
                _ => return Ok(Err(GiveUp)),
            }
        }
    }

    fn request(&mut self, visit: &mut dyn FnMut(Piece)) -> Step<bool> {
        step!(self.expect(b'{'));
        let mut found = false;
        let mut first = true;
        while let Some(key) = step!(self.key(first)) {
            first = false;
            if key == "resourceSpans" || key == "resource_spans" {
                found |= step!(self.list(&mut |c| c.resource_spans(visit)));
            } else {
                step!(self.value::<IgnoredAny>());
            }
        }
        need!(self.peek()?.is_none());
        Ok(Ok(found))
    }

    fn resource_spans(&mut self, visit: &mut dyn FnMut(Piece)) -> Step<()> {
        step!(self.expect(b'{'));
        let mut announced = false;
        let mut first = true;
        while let Some(key) = step!(self.key(first)) {
            first = false;
            match key.as_str() {
                "resource" => {
                    let resource = step!(self.value::<Option<JsonResource>>());
                    if !announced {
                        announced = true;
                        visit(Piece::Resource(resource.map(Into::into)));
                    }
                }
                "scopeSpans" | "scope_spans" | "instrumentationLibrarySpans" => {
                    // Spans before their resource wait for it in the walk
                    // in place; here, give up on such rare documents.
                    need!(announced);
                    step!(self.list(&mut |c| c.scope_spans(visit)));
                }
                _ => {
                    step!(self.value::<IgnoredAny>());
                }
            }
        }
        if !announced {
            visit(Piece::Resource(None));
        }
        Ok(Ok(()))
    }

    fn scope_spans(&mut self, visit: &mut dyn FnMut(Piece)) -> Step<()> {
        step!(self.expect(b'{'));
        let mut first = true;
        while let Some(key) = step!(self.key(first)) {
            first = false;
            if key == "spans" {
                step!(self.list(&mut |c| {
                    let span = step!(c.value::<JsonSpan>());
                    visit(Piece::Span(Box::new(Span::from(span))));
                    Ok(Ok(()))
                }));
            } else {
                step!(self.value::<IgnoredAny>());
            }
        }
        Ok(Ok(()))
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
    fn what_it_gives_up_on() {
        let span = span(1);
        for doc in [
            // Spans before their resource.
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}],"resource":{{}}}}]}}"#
            ),
            // An escaped key.
            format!(
                r#"{{"resource\u0053pans":[{{"resource":{{}},"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#
            ),
            // Something after the document.
            r#"{"resourceSpans":[]} {}"#.to_owned(),
            // A trailing comma.
            r#"{"resourceSpans":[],}"#.to_owned(),
            // Not an object.
            "[]".to_owned(),
            String::new(),
        ] {
            let mut pieces = 0;
            let took = walk_request_cut(doc.as_bytes(), &mut |_| pieces += 1).unwrap();
            assert_eq!(took, None, "{doc}");
            assert!(!assert_cut_agrees(doc.as_bytes(), 3));
        }
        let mut pieces = Vec::new();
        let plain = format!(
            r#"{{"resourceSpans":[{{"resource":{{}},"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#
        );
        assert_eq!(
            walk_request_cut(plain.as_bytes(), &mut |p| pieces.push(p)).unwrap(),
            Some(true)
        );
        assert_eq!(pieces.len(), 2);
        assert_eq!(
            walk_request_cut(&b"{\"a\":1}"[..], &mut |_| {}).unwrap(),
            Some(false)
        );
    }
}
