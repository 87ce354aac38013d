//! OTLP/JSON reading: the lenient decoding real clients need, JSONL files as the
//! Collector file exporter writes them, and clean failures on bad input.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use loupe_formats::otlp::{decode_request_json, read_json};
use loupe_formats::{Collected, ReadError, Source};
use loupe_model::{EventKind, SourceFormat, TokenUsage};

mod support;

const TRACE_HEX: &str = "5b8efff798038103d269b633813fc60c";
const SPAN_HEX: &str = "eee19b7ec3c1b174";

fn source() -> Source {
    Source {
        path: "traces.json".into(),
        format: SourceFormat::Otlp,
    }
}

fn read(bytes: &[u8]) -> Result<Collected, ReadError> {
    let mut sink = Collected::default();
    read_json(bytes, &source(), &mut sink).map(|()| sink)
}

#[test]
fn base64_ids_string_numbers_enum_names_and_snake_case_are_accepted() {
    let b64 = |hex: &str| base64::engine::general_purpose::STANDARD.encode(const_hex_decode(hex));
    let doc = format!(
        r#"{{"resource_spans":[{{"scope_spans":[{{"spans":[{{
            "trace_id":"{}","span_id":"{}","name":"chat","kind":"SPAN_KIND_CLIENT",
            "start_time_unix_nano":1772280000000000000,"endTimeUnixNano":"1772280001500000000",
            "status":{{"code":"STATUS_CODE_OK"}},
            "attributes":[
              {{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},
              {{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"1200"}}}},
              {{"key":"gen_ai.usage.output_tokens","value":{{"int_value":34}}}},
              {{"key":"gen_ai.usage.cache_read.input_tokens","value":{{"doubleValue":"1000"}}}},
              {{"key":"gen_ai.request.stream","value":{{"boolValue":"true"}}}},
              {{"key":"unknown.bytes","value":{{"bytesValue":"AAE="}}}},
              {{"value":{{"stringValue":"keyless attributes are dropped"}}}}
            ],
            "someFutureField":{{"nested":[1,2,3]}}
        }}]}}]}}]}}"#,
        b64(TRACE_HEX),
        b64(SPAN_HEX)
    );
    let c = read(doc.as_bytes()).unwrap();
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    let events: Vec<_> = c.events.iter().map(|(_, e)| e).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].trace_id.as_deref(), Some(TRACE_HEX));
    assert_eq!(events[0].span_id.as_deref(), Some(SPAN_HEX));
    assert_eq!(events[1].kind, EventKind::LlmResponse);
    assert_eq!(events[1].duration_ms, Some(1500.0));
    assert_eq!(
        events[1].usage(),
        TokenUsage {
            cache_read_tokens: Some(1000),
            ..TokenUsage::otel(1200, 34)
        }
    );
    let attrs = &events[1].data["attributes"];
    assert_eq!(attrs["gen_ai.request.stream"], true);
    assert_eq!(attrs["unknown.bytes"], "AAE=");
    assert_eq!(attrs.as_object().unwrap().len(), 6);
}

fn const_hex_decode(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn missing_fields_and_nulls_are_tolerated() {
    let doc = format!(
        r#"{{"resourceSpans":[{{"resource":null,"scopeSpans":[{{"scope":null,"spans":[
            {{"traceId":"{TRACE_HEX}","spanId":"{SPAN_HEX}","parentSpanId":null,"attributes":null,"events":null,"status":null,"startTimeUnixNano":"5000"}}
        ]}}]}}]}}"#
    );
    let c = read(doc.as_bytes()).unwrap();
    let kinds: Vec<&str> = c.events.iter().map(|(_, e)| e.kind.as_str()).collect();
    assert_eq!(kinds, ["span_start"], "unended span: start only");
    assert_eq!(c.events[0].1.parent_event_id, None);
}

#[test]
fn jsonl_files_skip_malformed_lines_with_their_numbers() {
    let line = |span: &str| {
        format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{TRACE_HEX}","spanId":"{span}","name":"s","startTimeUnixNano":"1000","endTimeUnixNano":"2000"}}]}}]}}]}}"#
        )
    };
    let text = format!(
        "{}\n{{\"resourceSpans\": [\n\n{}\n{{\"resourceLogs\":[]}}\n{}\n",
        line("0000000000000001"),
        line("0000000000000002"),
        line("0000000000000003")
    );
    let c = read(text.as_bytes()).unwrap();
    assert_eq!(c.events.len(), 6);
    let skipped: Vec<(Option<u64>, &str)> = c
        .skipped
        .iter()
        .map(|s| (s.line, s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, Some(2));
    assert_eq!(skipped[1].0, Some(5));
    assert!(skipped[1].1.contains("logs payload"), "{}", skipped[1].1);
    assert_eq!(c.skipped[0].path, "traces.json");
}

#[test]
fn a_span_whose_time_is_not_a_time_is_skipped_with_a_reason_not_read_as_1970() {
    let doc = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[
            {{"traceId":"{TRACE_HEX}","spanId":"{SPAN_HEX}","name":"bad","startTimeUnixNano":"abc","endTimeUnixNano":"1760000000000000000"}},
            {{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b175","name":"late","startTimeUnixNano":"1760000000000000000","endTimeUnixNano":"1760000001000000000",
              "events":[{{"name":"e","timeUnixNano":-5}}]}},
            {{"traceId":"{TRACE_HEX}","spanId":"eee19b7ec3c1b176","name":"good","startTimeUnixNano":"1760000000000000000","endTimeUnixNano":null}}
        ]}}]}}]}}"#
    );
    let c = read(doc.as_bytes()).unwrap();
    let reasons: Vec<&str> = c.skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("span 'bad': start time is not a time"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("span 'late': an event's time is not a time"),
        "{reasons:?}"
    );
    let names: Vec<_> = c
        .events
        .iter()
        .map(|(_, e)| (e.kind.as_str(), e.timestamp.to_string()))
        .collect();
    assert_eq!(
        names,
        [("span_start", "2025-10-09T08:53:20.000000Z".to_owned())],
        "only the good span, unended"
    );
}

#[test]
fn foreign_truncated_and_binary_inputs_are_one_clear_error() {
    let err = read(br#"{"resourceLogs":[{"scopeLogs":[]}]}"#).unwrap_err();
    assert!(matches!(err, ReadError::Unrecognized { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "traces.json: not a trace Loupe can read: an OTLP logs payload (resourceLogs), not traces"
    );
    let err = read(b"{\"resourceMetrics\":[]}\n{\"resourceMetrics\":[]}\n").unwrap_err();
    assert!(matches!(err, ReadError::Unrecognized { .. }), "{err}");
    assert!(err.to_string().contains("metrics payload"), "{err}");
    let err = read(br#"{"hello":"world"}"#).unwrap_err();
    assert!(matches!(err, ReadError::Unrecognized { .. }), "{err}");

    let doc = format!(
        r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{TRACE_HEX}","spanId":"{SPAN_HEX}"}}]}}]}}]}}"#
    );
    let err = read(&doc.as_bytes()[..doc.len() - 7]).unwrap_err();
    assert!(matches!(err, ReadError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("traces.json: invalid otlp file: "),
        "{err}"
    );

    let err = read(&[0x0a, 0xff, 0x00, 0x01, 0x02]).unwrap_err();
    assert!(err.to_string().starts_with("traces.json: "), "{err}");
    // Wrong types where structures are expected: an error, not a panic.
    let err = read(br#"{"resourceSpans":"nope"}"#).unwrap_err();
    assert!(matches!(err, ReadError::Invalid { .. }), "{err}");
}

#[test]
fn decode_request_json_is_usable_on_its_own() {
    let req = decode_request_json(br#"{"resourceSpans":[]}"#).unwrap();
    assert!(req.resource_spans.is_empty());
    assert!(decode_request_json(b"").is_err());
}

#[test]
fn fuzz_seeds_and_their_mutations_never_panic() {
    let mut inputs = 0;
    for file in support::seed_files("read_otlp_json") {
        for input in support::mutations(&std::fs::read(&file).unwrap()) {
            inputs += 1;
            if let Err(e) = read(&input) {
                assert!(e.to_string().starts_with("traces.json: "), "{e}");
            }
        }
    }
    assert!(inputs > 200);
}
