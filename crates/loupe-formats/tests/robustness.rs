//! Property tests: no input makes a reader panic, `read_bytes` returns Ok or
//! a clean error, and canonical JSONL round-trips any event exactly.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use loupe_formats::{read_bytes, read_bytes_from, write_canonical, Collected};
use loupe_model::{AgentRef, Event, EventKind, SourceFormat, Timestamp};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys the readers look at, so generated objects reach deep into each mapping.
const KEYS: &[&str] = &[
    "_type",
    "_ts",
    "kind",
    "type",
    "event_id",
    "timestamp",
    "session_id",
    "sessionId",
    "iteration",
    "data",
    "duration_ms",
    "durationMs",
    "event_type",
    "run_id",
    "turn",
    "error",
    "agent_id",
    "entry_type",
    "message",
    "action",
    "task_id",
    "requestId",
    "tokens",
    "cache",
    "input",
    "output",
    "cacheReadTokens",
    "status",
    "toolName",
    "subagentId",
    "spawnedAtIteration",
    "metadata",
    "input_tokens",
    "cache_read_tokens",
    "tool_calls",
    "tool_name",
    "success",
    "decision",
    "phase",
    "resourceSpans",
    "traces",
    "runs",
    "nodes",
    "workflow_name",
    "execution_id",
    "events",
];
const STRINGS: &[&str] = &[
    "session.start",
    "llm.request",
    "llm.response",
    "tool.execution",
    "llm_response",
    "tool",
    "session_start",
    "trace.start",
    "iteration",
    "tool.result",
    "spawn",
    "cost_delta",
    "error",
    "2026-02-28T12:00:00.000Z",
    "2026-02-06T22:10:01.623456Z",
    "",
    "x",
    "success",
    "timeout",
    "turn.start",
    "thinking",
    "swarm.task",
    "failed",
    "subagent.link",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        proptest::sample::select(STRINGS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((proptest::sample::select(KEYS), inner), 0..8).prop_map(
                |kv| { Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()) }
            ),
        ]
    })
}

fn lines() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            json_value().prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ],
        0..12,
    )
    .prop_map(|ls| ls.join(&b'\n'))
}

fn every_reader_survives(bytes: &[u8]) {
    let path = Path::new("prop/session-x/events.jsonl");
    let mut formats: Vec<Option<SourceFormat>> = vec![None];
    formats.extend(SourceFormat::ALL.iter().copied().map(Some));
    for f in formats {
        let mut c = Collected::default();
        match read_bytes(bytes, path, f, &mut c) {
            Ok(_) => {}
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        for s in &c.skipped {
            assert!(!s.reason.is_empty());
        }
        if let Some(f) = f.filter(|f| loupe_formats::is_line_oriented(*f)) {
            let _ = read_bytes_from(bytes, path, f, 7, None, &mut Collected::default());
        }
    }
    let _ = loupe_formats::detect(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 128 } else { 1024 }))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        every_reader_survives(&bytes);
    }

    #[test]
    fn arbitrary_json_lines_never_panic(bytes in lines()) {
        every_reader_survives(&bytes);
    }

    #[test]
    fn canonical_round_trips_any_event(events in proptest::collection::vec(event(), 1..8)) {
        let mut out = Vec::new();
        prop_assert_eq!(write_canonical(&mut out, &events).unwrap(), events.len() as u64);
        let mut c = Collected::default();
        let format = read_bytes(&out, Path::new("rt.jsonl"), None, &mut c).unwrap();
        prop_assert_eq!(format, SourceFormat::Loupe);
        prop_assert!(c.skipped.is_empty(), "{:?}", c.skipped);
        let back: Vec<Event> = c.events.into_iter().map(|(_, e)| e).collect();
        prop_assert_eq!(back, events);
    }
}

fn event() -> impl Strategy<Value = Event> {
    let kind = prop_oneof![
        proptest::sample::select(EventKind::ALL).prop_map(|k| k.clone()),
        "[a-z_.]{1,16}".prop_map(|s| EventKind::from_name(&s)),
    ];
    let agent = proptest::option::of(
        (
            "[a-z0-9-]{1,10}",
            proptest::option::of("[a-z]{1,8}"),
            proptest::option::of(0u32..50),
        )
            .prop_map(|(id, agent_type, at)| AgentRef {
                id,
                name: None,
                agent_type,
                parent_session_id: None,
                spawned_at_iteration: at,
            }),
    );
    let data = proptest::collection::btree_map(
        "[a-z_]{1,10}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            ".{0,20}".prop_map(Value::String),
            // Exactly representable floats (serde_json's default float parsing
            // is not guaranteed to round-trip every last bit).
            (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        ],
        0..5,
    );
    (
        "[a-zA-Z0-9:-]{1,24}",
        kind,
        0i64..4_102_444_800_000_000,
        ".{1,20}",
        proptest::option::of("[0-9a-f]{32}"),
        proptest::option::of(0u32..1000),
        proptest::option::of((0i32..10_000_000).prop_map(|n| f64::from(n) / 4.0)),
        agent,
        data,
    )
        .prop_map(
            |(id, kind, ts, sid, trace, iteration, duration, agent, data)| {
                let mut e = Event::new(id, kind, Timestamp(ts), sid);
                e.trace_id = trace;
                e.iteration = iteration;
                e.duration_ms = duration;
                e.agent = agent.map(Box::new);
                e.data = data.into_iter().collect::<Map<String, Value>>();
                e
            },
        )
}
