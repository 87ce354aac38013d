//! OTLP protobuf: encode/decode round trip, detection sniffing, Collector
//! length-prefixed files and corrupt input.
#![allow(clippy::unwrap_used)]

use loupe_formats::otlp::{decode_request_proto, events_to_request, looks_like_proto, read_proto};
use loupe_formats::{Collected, ReadError, Source};
use loupe_model::{Event, EventKind, SourceFormat, Timestamp, TokenUsage};
use prost::Message;

mod support;

fn source() -> Source {
    Source {
        path: "traces.pb".into(),
        format: SourceFormat::Otlp,
    }
}

fn sample_events() -> Vec<Event> {
    let mut req = Event::new(
        "q1",
        EventKind::LlmRequest,
        Timestamp(1_772_280_000_000_000),
        "sess",
    )
    .with("model", "claude-sonnet-4-5");
    req.span_id = Some("0123456789abcdef".into());
    let mut resp = Event::new(
        "r1",
        EventKind::LlmResponse,
        Timestamp(1_772_280_001_250_000),
        "sess",
    )
    .with("model", "claude-sonnet-4-5");
    resp.span_id = req.span_id.clone();
    resp.duration_ms = Some(1250.0);
    resp.iteration = Some(2);
    resp.set_usage(&TokenUsage::otel(500, 40).with_cache(300, 0));
    vec![req, resp]
}

fn read(bytes: &[u8]) -> Result<Collected, ReadError> {
    let mut sink = Collected::default();
    read_proto(bytes, &source(), &mut sink).map(|()| sink)
}

#[test]
fn protobuf_round_trips_events_exactly() {
    let events = sample_events();
    let request = events_to_request(&events);
    let bytes = request.encode_to_vec();
    assert_eq!(decode_request_proto(&bytes).unwrap(), request);
    assert!(looks_like_proto(&bytes));
    let c = read(&bytes).unwrap();
    let back: Vec<Event> = c.events.into_iter().map(|(_, e)| e).collect();
    assert_eq!(back, events);
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(const_hex(&span.span_id), "0123456789abcdef");
    assert_eq!(span.name, "chat claude-sonnet-4-5");
}

fn const_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn length_prefixed_collector_files_are_read_frame_by_frame() {
    let events = sample_events();
    let one = events_to_request(&events[..1]).encode_to_vec();
    let two = events_to_request(&events[1..]).encode_to_vec();
    let mut file = Vec::new();
    for frame in [&one, &two] {
        file.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_be_bytes());
        file.extend_from_slice(frame);
    }
    assert!(looks_like_proto(&file));
    let c = read(&file).unwrap();
    let kinds: Vec<&str> = c.events.iter().map(|(_, e)| e.kind.as_str()).collect();
    assert_eq!(kinds, ["llm_request", "llm_response"]);
}

#[test]
fn a_collector_file_with_a_torn_last_frame_or_a_broken_one_keeps_its_whole_frames() {
    let events = sample_events();
    let one = events_to_request(&events[..1]).encode_to_vec();
    let two = events_to_request(&events[1..]).encode_to_vec();
    let frame = |bytes: &[u8]| {
        let mut f = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
        f.extend_from_slice(bytes);
        f
    };
    // An exporter killed while writing the second frame.
    let mut torn = frame(&one);
    let second = frame(&two);
    torn.extend_from_slice(&second[..second.len() / 2]);
    let c = read(&torn).unwrap();
    let kinds: Vec<&str> = c.events.iter().map(|(_, e)| e.kind.as_str()).collect();
    assert_eq!(kinds, ["llm_request"]);
    let skipped: Vec<(&str, &str)> = c
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.as_str()))
        .collect();
    let offset = 4 + one.len();
    assert_eq!(
        skipped,
        [(
            "traces.pb",
            format!(
                "frame 2 at byte {offset} is cut short: {} of its {} bytes; skipped",
                second.len() / 2 - 4,
                two.len()
            )
            .as_str()
        )]
    );
    // Cut inside the next frame's length.
    let mut torn = frame(&one);
    torn.extend_from_slice(&second[..2]);
    let c = read(&torn).unwrap();
    assert_eq!(c.events.len(), 1);
    assert!(
        c.skipped[0].reason.contains("frame 2 at byte") && c.skipped[0].reason.contains("too few"),
        "{:?}",
        c.skipped
    );
    // A whole frame that does not decode, between two that do.
    let mut broken = frame(&one);
    broken.extend_from_slice(&frame(&[0xff, 0xff, 0xff]));
    broken.extend_from_slice(&second);
    let c = read(&broken).unwrap();
    let kinds: Vec<&str> = c.events.iter().map(|(_, e)| e.kind.as_str()).collect();
    assert_eq!(kinds, ["llm_request", "llm_response"]);
    assert!(
        c.skipped.len() == 1 && c.skipped[0].reason.starts_with("frame 2 at byte "),
        "{:?}",
        c.skipped
    );
    // Only a torn frame: nothing whole to read, the file is invalid.
    let err = read(&second[..second.len() / 2]).unwrap_err();
    assert!(matches!(err, ReadError::Invalid { .. }), "{err}");
}

#[test]
fn corrupt_and_foreign_bytes_are_clean_errors() {
    let bytes = events_to_request(&sample_events()).encode_to_vec();
    // A truncated file is still recognised as OTLP, so the reader can say what
    // is wrong with it instead of calling it binary.
    assert!(looks_like_proto(&bytes[..bytes.len() / 2]));
    let err = read(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, ReadError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("traces.pb: invalid otlp file: "),
        "{err}"
    );
    assert!(!looks_like_proto(b"{\"resourceSpans\":[]}"));
    assert!(!looks_like_proto(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"));
    assert!(!looks_like_proto(b""));
    let err = read(b"").unwrap_err();
    assert!(matches!(err, ReadError::Unrecognized { .. }), "{err}");
}

#[test]
fn spans_without_ids_are_skipped_with_reasons() {
    let mut request = events_to_request(&sample_events());
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans[0].trace_id.clear();
    let c = read(&request.encode_to_vec()).unwrap();
    assert!(c.events.is_empty());
    assert_eq!(c.skipped.len(), 1);
    assert!(
        c.skipped[0]
            .reason
            .contains("trace id is missing or not an id"),
        "{}",
        c.skipped[0]
    );
}

#[test]
fn fuzz_seeds_and_their_mutations_never_panic() {
    let mut inputs = 0;
    for file in support::seed_files("read_otlp_proto") {
        let bytes = std::fs::read(&file).unwrap();
        assert!(looks_like_proto(&bytes), "{}", file.display());
        assert!(
            !read(&bytes).unwrap().events.is_empty(),
            "{}",
            file.display()
        );
        assert!(loupe_formats::otlp::check_proto_walk(&bytes, 5));
        for input in support::mutations(&bytes) {
            inputs += 1;
            let _ = looks_like_proto(&input);
            // Walked from disk: declined, or read as in memory.
            loupe_formats::otlp::check_proto_walk(&input, 5);
            if let Err(e) = read(&input) {
                assert!(e.to_string().starts_with("traces.pb: "), "{e}");
            }
        }
    }
    assert!(inputs > 200);
}

/// The OTLP logs messages, declared here because Loupe does not read logs: an
/// OTLP logs export posted where traces are expected must not become events.
mod logs {
    use opentelemetry_proto::tonic::common::v1::AnyValue;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct LogRecord {
        #[prost(fixed64, tag = "1")]
        pub(super) time_unix_nano: u64,
        #[prost(string, tag = "3")]
        pub(super) severity_text: String,
        #[prost(message, optional, tag = "5")]
        pub(super) body: Option<AnyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ScopeLogs {
        #[prost(message, repeated, tag = "2")]
        pub(super) log_records: Vec<LogRecord>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ResourceLogs {
        #[prost(message, repeated, tag = "2")]
        pub(super) scope_logs: Vec<ScopeLogs>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ExportLogsServiceRequest {
        #[prost(message, repeated, tag = "1")]
        pub(super) resource_logs: Vec<ResourceLogs>,
    }
}

#[test]
fn a_logs_export_read_as_traces_yields_no_events() {
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    for time_unix_nano in [0, 1_772_280_000_000_000_000] {
        let record = logs::LogRecord {
            time_unix_nano,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("hello".into())),
            }),
        };
        let request = logs::ExportLogsServiceRequest {
            resource_logs: vec![logs::ResourceLogs {
                scope_logs: vec![logs::ScopeLogs {
                    log_records: vec![record.clone(), record],
                }],
            }],
        };
        let bytes = request.encode_to_vec();
        assert!(!looks_like_proto(&bytes));
        match read(&bytes) {
            Ok(c) => {
                assert!(c.events.is_empty(), "{:?}", c.events);
                assert_eq!(c.skipped.len(), 2, "each id-less span is reported");
                assert!(
                    c.skipped[0]
                        .reason
                        .contains("trace id is missing or not an id"),
                    "{}",
                    c.skipped[0]
                );
            }
            Err(e) => assert!(e.to_string().starts_with("traces.pb: "), "{e}"),
        }
    }
}

#[test]
fn detection_sniff_works_on_a_prefix_of_a_large_file() {
    let events: Vec<Event> = (0..2000)
        .map(|i| {
            Event::new(format!("e{i}"), EventKind::Log, Timestamp(i), "sess")
                .with("message", "x".repeat(40))
        })
        .collect();
    let bytes = events_to_request(&events).encode_to_vec();
    assert!(bytes.len() > 64 * 1024);
    assert!(
        decode_request_proto(&bytes[..4096]).is_err(),
        "a prefix does not decode"
    );
    assert!(looks_like_proto(&bytes[..4096]));
    assert!(!looks_like_proto(&bytes[..40]), "no complete trace id yet");
    assert!(!looks_like_proto(b"\n{\"resourceSpans\":[]}"));
    assert!(!looks_like_proto(&[0x0a; 64]));
}
