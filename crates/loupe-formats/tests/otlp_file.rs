//! OTLP files read in two passes: a trace's session and subagents are known
//! across the whole file, and the reader says when each session is complete
//! (`Sink::session_done`) without ever saying it too early.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use loupe_formats::otlp::{decode_request_json, events_from_request, read_json};
use loupe_formats::{Collected, Sink, Skipped, Source};
use loupe_model::{Event, SourceFormat};
use proptest::prelude::*;
use serde_json::{json, Value};

fn source() -> Source {
    Source {
        path: "export.json".into(),
        format: SourceFormat::Otlp,
    }
}

/// Everything a reader hands over, in order.
#[derive(Debug, Clone, PartialEq)]
enum Record {
    Event(Box<Event>),
    Skip(Skipped),
    Done(String),
}

#[derive(Default)]
struct Recording(Vec<Record>);

impl Sink for Recording {
    fn event(&mut self, _source: &Source, event: Event) {
        self.0.push(Record::Event(Box::new(event)));
    }
    fn skip(&mut self, skipped: Skipped) {
        self.0.push(Record::Skip(skipped));
    }
    fn session_done(&mut self, _source: &Source, session_id: &str) {
        self.0.push(Record::Done(session_id.to_owned()));
    }
}

impl Recording {
    fn events(&self) -> Vec<Event> {
        self.0
            .iter()
            .filter_map(|r| match r {
                Record::Event(e) => Some((**e).clone()),
                _ => None,
            })
            .collect()
    }

    /// Every session with events is said done exactly once, after its last
    /// event; no session is said done that had none.
    fn assert_hints_are_sound(&self) {
        let mut done: HashSet<&str> = HashSet::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for record in &self.0 {
            match record {
                Record::Event(e) => {
                    assert!(
                        !done.contains(e.session_id.as_str()),
                        "event {} of session {} after it was said done",
                        e.event_id,
                        e.session_id
                    );
                    seen.insert(&e.session_id);
                }
                Record::Done(id) => {
                    assert!(
                        seen.contains(id.as_str()),
                        "{id} said done before any event"
                    );
                    assert!(done.insert(id), "{id} said done twice");
                }
                Record::Skip(_) => {}
            }
        }
        assert_eq!(done, seen, "every session is said done by the end");
    }
}

fn read(bytes: &[u8]) -> Recording {
    let mut sink = Recording::default();
    read_json(bytes, &source(), &mut sink).unwrap();
    sink
}

fn attr(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

fn request(resource: &[Value], spans: &[Value]) -> Value {
    json!({ "resourceSpans": [{
        "resource": { "attributes": resource },
        "scopeSpans": [{ "scope": { "name": "t" }, "spans": spans }]
    }]})
}

fn span(trace: u8, id: u8, parent: Option<u8>, name: &str, attributes: Vec<Value>) -> Value {
    let mut s = json!({
        "traceId": format!("{trace:02x}").repeat(16),
        "spanId": format!("{id:02x}").repeat(8),
        "name": name,
        "startTimeUnixNano": 1_772_280_000_000_000_000u64 + u64::from(id) * 1_000_000,
        "endTimeUnixNano": 1_772_280_000_000_000_000u64 + u64::from(id) * 1_000_000 + 500_000,
        "attributes": attributes,
    });
    if let Some(p) = parent {
        s["parentSpanId"] = format!("{p:02x}").repeat(8).into();
    }
    s
}

/// A conversation whose root span (naming it) is sent in a later batch
/// than its children, one under a subagent: two requests.
fn split_conversation() -> [Value; 2] {
    let children = [
        span(
            1,
            2,
            Some(1),
            "chat",
            vec![attr("gen_ai.operation.name", "chat")],
        ),
        span(1, 4, Some(3), "execute_tool grep", vec![]),
        span(
            1,
            3,
            Some(1),
            "invoke_agent researcher",
            vec![attr("gen_ai.operation.name", "invoke_agent")],
        ),
    ];
    let root = [span(
        1,
        1,
        None,
        "invoke_agent coder",
        vec![
            attr("gen_ai.operation.name", "invoke_agent"),
            attr("gen_ai.conversation.id", "conv-7"),
        ],
    )];
    [request(&[], &children), request(&[], &root)]
}

#[test]
fn a_framed_protobuf_file_joins_sessions_across_frames_too() {
    use prost::Message as _;
    let mut file = Vec::new();
    for request in split_conversation() {
        let frame = decode_request_json(request.to_string().as_bytes())
            .unwrap()
            .encode_to_vec();
        file.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_be_bytes());
        file.extend_from_slice(&frame);
    }
    let mut recording = Recording::default();
    loupe_formats::otlp::read_proto(&file, &source(), &mut recording).unwrap();
    let events = recording.events();
    assert_eq!(events.len(), 8);
    assert!(events.iter().all(|e| e.session_id == "conv-7"));
    recording.assert_hints_are_sound();
    // A frame that does not decode is skipped; the whole frames are read.
    let mut broken = file.clone();
    broken.extend_from_slice(&[0, 0, 0, 1, 0xFF]);
    let mut rest = Recording::default();
    loupe_formats::otlp::read_proto(&broken, &source(), &mut rest).unwrap();
    assert_eq!(rest.events().len(), 8);
    // Without one frame that decodes, the file fails before anything is mapped.
    let mut nothing = Recording::default();
    assert!(loupe_formats::otlp::read_proto(&[0, 0, 0, 1, 0xFF], &source(), &mut nothing).is_err());
    assert!(nothing.0.is_empty(), "{:?}", nothing.0);
}

#[test]
fn a_trace_split_across_lines_joins_the_session_its_root_names() {
    // The Collector's file exporter writes one batch per line, and batch
    // exporters send a root span after its children: the children of the
    // agent's root (line 1) only learn their session from it (line 2).
    let [children, root] = split_conversation();
    let file = format!("{children}\n{root}\n");
    let recording = read(file.as_bytes());
    let events = recording.events();
    assert_eq!(events.len(), 8);
    assert!(
        events.iter().all(|e| e.session_id == "conv-7"),
        "{:?}",
        events.iter().map(|e| &e.session_id).collect::<Vec<_>>()
    );
    // The tool under the subagent (defined on the same line) and the
    // subagent itself carry it; the main agent's chat does not.
    let agent_of = |id: &str| {
        events
            .iter()
            .find(|e| e.event_id == id)
            .and_then(|e| e.agent.as_ref())
            .map(|a| a.id.clone())
    };
    assert_eq!(
        agent_of("0404040404040404:start").as_deref(),
        Some("researcher")
    );
    assert_eq!(agent_of("0202020202020202:start"), None);
    recording.assert_hints_are_sound();
    assert_eq!(recording.0.last(), Some(&Record::Done("conv-7".to_owned())));
}

#[test]
fn sessions_are_said_done_as_soon_as_their_last_span_is_mapped() {
    // Two conversations, one after the other: the first is complete before
    // the second begins, and the reader says so there, not at the end.
    let conv = |trace: u8, first_id: u8, name: &str| {
        vec![
            span(
                trace,
                first_id + 1,
                Some(first_id),
                "chat",
                vec![attr("gen_ai.operation.name", "chat")],
            ),
            span(
                trace,
                first_id,
                None,
                "invoke_agent",
                vec![
                    attr("gen_ai.operation.name", "invoke_agent"),
                    attr("gen_ai.conversation.id", name),
                ],
            ),
        ]
    };
    let mut spans = conv(1, 1, "first");
    spans.extend(conv(2, 10, "second"));
    let recording = read(request(&[], &spans).to_string().as_bytes());
    recording.assert_hints_are_sound();
    let order: Vec<String> = recording
        .0
        .iter()
        .map(|r| match r {
            Record::Event(e) => e.session_id.clone(),
            Record::Done(id) => format!("done {id}"),
            Record::Skip(s) => format!("skip {s}"),
        })
        .collect();
    assert_eq!(
        order,
        [
            "first",
            "first",
            "first",
            "first",
            "done first",
            "second",
            "second",
            "second",
            "second",
            "done second"
        ]
    );
}

/// One generated span: which trace, whether it names a session (and
/// which), whether its ids are broken, whether it is an agent span.
#[derive(Debug, Clone)]
struct SpanPlan {
    trace: u8,
    session: Option<u8>,
    bad_id: bool,
    agent: bool,
    parent: Option<u8>,
}

fn plan() -> impl Strategy<Value = (Vec<SpanPlan>, Option<u8>, Vec<usize>)> {
    let one = (
        1u8..5,
        prop::option::weighted(0.3, 0u8..3),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        prop::option::of(0u8..24),
    )
        .prop_map(|(trace, session, bad_id, agent, parent)| SpanPlan {
            trace,
            session,
            bad_id,
            agent,
            parent,
        });
    (
        prop::collection::vec(one, 1..24),
        prop::option::weighted(0.15, 0u8..3),
        prop::collection::vec(1usize..6, 0..5),
    )
}

fn build(plans: &[SpanPlan]) -> Vec<Value> {
    plans
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = u8::try_from(i + 1).unwrap();
            let mut attributes = Vec::new();
            if let Some(s) = p.session {
                attributes.push(attr("session.id", &format!("s{s}")));
            }
            if p.agent {
                attributes.push(attr("gen_ai.operation.name", "invoke_agent"));
            } else {
                attributes.push(attr("gen_ai.operation.name", "chat"));
            }
            let mut s = span(p.trace, id, p.parent.map(|x| x + 1), "op", attributes);
            if p.bad_id {
                s["spanId"] = "zz".into();
            }
            s
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the order of spans and where sessions are named: a whole
    /// document maps exactly as the request mapping the server uses, the
    /// hints are sound, and the same spans cut into lines of a JSONL file
    /// (each line its own request) land in the same sessions.
    #[test]
    fn hints_are_sound_and_lines_agree_with_the_whole_document(
        (plans, resource_session, cuts) in plan()
    ) {
        let spans = build(&plans);
        let resource: Vec<Value> = resource_session
            .map(|s| vec![attr("session.id", &format!("r{s}"))])
            .unwrap_or_default();
        let document = request(&resource, &spans).to_string();

        let whole = read(document.as_bytes());
        whole.assert_hints_are_sound();
        let mut reference = Collected::default();
        let decoded = decode_request_json(document.as_bytes()).unwrap();
        events_from_request(&decoded, &source(), &mut reference);
        let reference: Vec<Event> = reference.events.into_iter().map(|(_, e)| e).collect();
        prop_assert_eq!(whole.events(), reference);

        let mut lines = String::new();
        let mut rest = &spans[..];
        for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
            let (line, after) = rest.split_at((*cut).min(rest.len()));
            if !line.is_empty() {
                lines.push_str(&request(&resource, line).to_string());
                lines.push('\n');
            }
            rest = after;
        }
        let split = read(lines.as_bytes());
        split.assert_hints_are_sound();
        let sessions = |r: &Recording| -> HashMap<String, String> {
            r.events().into_iter().map(|e| (e.event_id.clone(), e.session_id.clone())).collect()
        };
        prop_assert_eq!(sessions(&split), sessions(&whole));
    }
}

/// A `Sink + Send` recording, for `read_file`.
fn read_from_disk(path: &std::path::Path) -> Recording {
    let mut sink = Recording::default();
    loupe_formats::read_file(path, &loupe_formats::ReadOptions::default(), &mut sink).unwrap();
    sink
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// UTF-16 little-endian with its byte order mark.
fn utf16_le(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

#[test]
fn a_file_on_disk_reads_exactly_as_its_bytes_do() {
    // From a regular file, OTLP JSONL is read twice from disk rather than
    // held (decompressed and decoded again when it is compressed or
    // UTF-16, and then tried as a large document first, since its size is
    // unknown); a document on one line, or spread over lines, is read
    // whole.
    // Either way: the same events, skips and hints, in the same order, as
    // reading the bytes in memory.
    let [children, root] = split_conversation();
    let good_span = span(
        2,
        9,
        None,
        "chat",
        vec![attr("gen_ai.operation.name", "chat")],
    );
    // Parses one span, then breaks: the first pass has learned from it
    // before finding the line bad, and must forget it.
    let breaks_midway = json!({ "resourceSpans": [{
        "resource": { "attributes": [] },
        "scopeSpans": [{ "spans": [good_span, 5] }]
    }] });
    let torn = &root.to_string()[..40];
    let cases: Vec<(&str, String)> = vec![
        ("jsonl", format!("{children}\n{root}\n")),
        (
            "jsonl with a line that breaks midway and a torn end",
            format!("{children}\n\n{breaks_midway}\n{root}\n{torn}"),
        ),
        ("one line", root.to_string()),
        (
            "a document spread over lines",
            serde_json::to_string_pretty(&root).unwrap(),
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in cases {
        let in_memory = {
            let mut sink = Recording::default();
            read_json(text.as_bytes(), &source(), &mut sink).unwrap();
            sink
        };
        in_memory.assert_hints_are_sound();
        for (variant, bytes) in [
            ("plain", text.clone().into_bytes()),
            (
                "with a byte order mark",
                [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat(),
            ),
            // Decoded again for the second pass rather than held.
            ("gzip", gzip(text.as_bytes())),
            ("zstd", zstd::encode_all(text.as_bytes(), 3).unwrap()),
            ("UTF-16", utf16_le(&text)),
            ("UTF-16, gzip", gzip(&utf16_le(&text))),
        ] {
            let path = dir.path().join("export.json");
            std::fs::write(&path, &bytes).unwrap();
            let from_disk = read_from_disk(&path);
            let strip = |r: &Recording| -> Vec<Record> {
                r.0.iter()
                    .map(|record| match record {
                        Record::Skip(s) => Record::Skip(Skipped {
                            path: String::new(),
                            ..s.clone()
                        }),
                        other => other.clone(),
                    })
                    .collect()
            };
            assert_eq!(strip(&from_disk), strip(&in_memory), "{name}, {variant}");
        }
    }
}

/// `conversations` conversations of 100 chat spans each, with long
/// prompts full of JSON punctuation, as OTLP/JSON spans.
fn large_conversations(conversations: u8) -> Vec<Value> {
    let prompt = "Refactor the \"users\" module ]}{[ — é\\n ".repeat(24);
    let mut spans = Vec::new();
    for conversation in 1..=conversations {
        for i in 0..100u8 {
            let mut s = span(
                conversation,
                i.wrapping_add(1),
                (i > 0).then_some(1),
                "chat",
                vec![
                    attr("gen_ai.operation.name", "chat"),
                    attr("gen_ai.prompt", &prompt),
                ],
            );
            s["spanId"] = format!("{conversation:02x}{i:02x}").repeat(4).into();
            if i > 0 {
                s["parentSpanId"] = format!("{conversation:02x}00").repeat(4).into();
            }
            spans.push(s);
        }
    }
    spans
}

#[test]
fn a_large_document_read_from_disk_in_pieces_reads_as_in_memory() {
    // From 16 MiB on, a document is read from the file in pieces (both
    // passes), never held: the same events, hints and order as in memory.
    let spans = large_conversations(130);
    let text = request(&[attr("service.name", "coder")], &spans).to_string();
    assert!(text.len() > 16 << 20, "{} bytes", text.len());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    std::fs::write(&path, &text).unwrap();
    let from_disk = read_from_disk(&path);
    let in_memory = read(text.as_bytes());
    from_disk.assert_hints_are_sound();
    assert_eq!(from_disk.events().len(), 2 * 130 * 100);
    assert_eq!(from_disk.0, in_memory.0);
}

/// Length-framed protobuf requests, as the Collector's file exporter
/// writes them.
fn frames(requests: &[Vec<u8>]) -> Vec<u8> {
    let mut file = Vec::new();
    for frame in requests {
        file.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_be_bytes());
        file.extend_from_slice(frame);
    }
    file
}

fn protobuf(document: &Value) -> Vec<u8> {
    use prost::Message as _;
    decode_request_json(document.to_string().as_bytes())
        .unwrap()
        .encode_to_vec()
}

#[test]
fn a_large_protobuf_file_read_from_disk_in_pieces_reads_as_in_memory() {
    // From 16 MiB on (or when compressed, its size unknown), a binary
    // request, or a file of framed ones, is walked from the file in both
    // passes, never held: the same events, hints and order as in memory.
    let spans = large_conversations(160);
    let resource = [attr("service.name", "coder")];
    let whole = protobuf(&request(&resource, &spans));
    assert!(whole.len() > 16 << 20, "{} bytes", whole.len());
    let (first, second) = spans.split_at(7_000);
    let framed = frames(&[
        protobuf(&request(&resource, first)),
        protobuf(&request(&[], second)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("one request", whole), ("frames", framed)] {
        // Taken by the walk (so read from disk in pieces below), agreeing
        // with the in-memory reader.
        assert!(
            loupe_formats::otlp::check_proto_walk(&bytes, 1 << 16),
            "{name}"
        );
        let mut in_memory = Recording::default();
        loupe_formats::otlp::read_proto(&bytes, &source(), &mut in_memory).unwrap();
        in_memory.assert_hints_are_sound();
        assert_eq!(in_memory.events().len(), 2 * 160 * 100);
        for (variant, file) in [
            ("plain", bytes.clone()),
            ("gzip", gzip(&bytes)),
            ("zstd", zstd::encode_all(&bytes[..], 3).unwrap()),
        ] {
            let path = dir.path().join("export.pb");
            std::fs::write(&path, &file).unwrap();
            let from_disk = read_from_disk(&path);
            assert!(from_disk.0 == in_memory.0, "{name}, {variant}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Walked from disk, a binary request or a file of framed ones hands
    /// over exactly what the in-memory reader does, through any read
    /// buffer; broken or cut short, the walk declines or still agrees.
    #[test]
    fn protobuf_walked_in_pieces_reads_as_in_memory(
        (plans, resource_session, cuts) in plan(),
        buffer in 1usize..64,
        damage in prop::option::of((any::<prop::sample::Index>(), any::<u8>(), any::<bool>())),
    ) {
        let spans = build(&plans);
        let resource: Vec<Value> = resource_session
            .map(|s| vec![attr("session.id", &format!("r{s}"))])
            .unwrap_or_default();
        let Ok(whole) = decode_request_json(request(&resource, &spans).to_string().as_bytes()) else {
            return Ok(());
        };
        let whole = prost::Message::encode_to_vec(&whole);
        let mut requests = Vec::new();
        let mut rest = &spans[..];
        for cut in cuts.iter().chain(std::iter::once(&usize::MAX)) {
            let (part, after) = rest.split_at((*cut).min(rest.len()));
            if !part.is_empty() {
                requests.push(protobuf(&request(&resource, part)));
            }
            rest = after;
        }
        for mut bytes in [whole, frames(&requests)] {
            if let Some((at, byte, truncate)) = damage {
                let at = at.index(bytes.len());
                if truncate {
                    bytes.truncate(at);
                } else {
                    bytes[at] = byte;
                }
                loupe_formats::otlp::check_proto_walk(&bytes, buffer);
            } else {
                prop_assert!(loupe_formats::otlp::check_proto_walk(&bytes, buffer));
            }
        }
    }
}
