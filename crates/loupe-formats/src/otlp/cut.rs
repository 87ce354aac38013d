//! A large OTLP/JSON request document read from disk in pieces, through
//! [`crate::cut::Cutter`]: the request's outline (`resourceSpans` →
//! `scopeSpans` → `spans`) is followed here, and every value in it (keys,
//! spans, resources, skipped members) is parsed on its own, as
//! [`walk_request_json`] parses it in place. Memory holds about one read
//! (1 MiB) and one span.
//!
//! The outline is followed only where it is plain (see [`crate::cut`]),
//! and a resource must come before its spans. Anything else makes
//! [`walk_request_cut`] give up ([`Cut::GaveUp`]), and the caller reads
//! the file the slower way, which says exactly what is wrong. Where it does
//! not give up it hands `visit` exactly what [`walk_request_json`] would on
//! the same bytes (property tests and a fuzz target hold it to that).
//!
//! [`walk_request_json`]: super::json::walk_request_json

use std::io::Read;

use serde::de::IgnoredAny;

use super::json::{JsonResource, JsonSpan, Piece};
use crate::cut::{need, Cutter, Stop, CHUNK};
use opentelemetry_proto::tonic::trace::v1::Span;

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
    match request(&mut Cutter::new(reader, chunk), visit) {
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

fn request<R: Read>(c: &mut Cutter<R>, visit: &mut dyn FnMut(Piece)) -> Result<bool, Stop> {
    c.expect(b'{')?;
    let mut found = false;
    let mut first = true;
    while let Some(key) = c.key(first)? {
        first = false;
        if key == "resourceSpans" || key == "resource_spans" {
            found |= c.list(&mut |c| resource_spans(c, visit))?;
        } else {
            c.value::<IgnoredAny>()?;
        }
    }
    if c.peek()?.is_some() {
        return Err(Stop::MoreAfter);
    }
    Ok(found)
}

fn resource_spans<R: Read>(c: &mut Cutter<R>, visit: &mut dyn FnMut(Piece)) -> Result<(), Stop> {
    c.expect(b'{')?;
    let mut announced = false;
    let mut first = true;
    while let Some(key) = c.key(first)? {
        first = false;
        match key.as_str() {
            "resource" => {
                let resource = c.value::<Option<JsonResource>>()?;
                if !announced {
                    announced = true;
                    visit(Piece::Resource(resource.map(Into::into)));
                }
            }
            "scopeSpans" | "scope_spans" | "instrumentationLibrarySpans" => {
                // Spans before their resource wait for it in the walk
                // in place; here, give up on such rare documents.
                need(announced)?;
                c.list(&mut |c| scope_spans(c, visit))?;
            }
            _ => {
                c.value::<IgnoredAny>()?;
            }
        }
    }
    if !announced {
        visit(Piece::Resource(None));
    }
    Ok(())
}

fn scope_spans<R: Read>(c: &mut Cutter<R>, visit: &mut dyn FnMut(Piece)) -> Result<(), Stop> {
    c.expect(b'{')?;
    let mut first = true;
    while let Some(key) = c.key(first)? {
        first = false;
        if key == "spans" {
            c.list(&mut |c| {
                let span = c.value::<JsonSpan>()?;
                visit(Piece::Span(Box::new(Span::from(span))));
                Ok(())
            })?;
        } else {
            c.value::<IgnoredAny>()?;
        }
    }
    Ok(())
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
