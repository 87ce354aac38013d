//! Property: arbitrary canonical events → OTLP JSON → events are equal on every
//! field (the writer stores what OTLP cannot hold in `loupe.*` attributes).
//! Only event order may change: events come back in span order.
#![allow(clippy::unwrap_used)]

use loupe_formats::otlp::{events_to_otlp_json, read_json};
use loupe_formats::{Collected, Source};
use loupe_model::{AgentRef, Event, EventKind, SourceFormat, Timestamp};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn kind() -> impl Strategy<Value = EventKind> {
    prop_oneof![
        proptest::sample::select(EventKind::ALL.to_vec()),
        "[a-z_]{1,12}".prop_map(|s| EventKind::from_name(&s)),
    ]
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{16}",
        "[0-9a-f]{32}",
        "[a-zA-Z0-9:_-]{0,20}",
        "\\PC{0,8}",
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Milli-precision values: exact through any decimal JSON parser.
        (-1_000_000_000_000i64..1_000_000_000_000).prop_map(|i| Value::from(i as f64 / 1000.0)),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_.]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn data() -> impl Strategy<Value = Map<String, Value>> {
    let known = proptest::sample::select(vec![
        "model",
        "provider",
        "tool",
        "call_id",
        "status",
        "error",
        "name",
        "stop_reason",
        "agent_name",
    ]);
    (
        proptest::collection::btree_map("[a-z_]{1,10}", json_value(), 0..4),
        proptest::collection::btree_map(known, "\\PC{0,10}", 0..3),
        proptest::option::of((0u64..100_000, 0u64..5_000)),
        proptest::option::of((0u32..10_000_000).prop_map(|i| f64::from(i) / 1_000_000.0)),
    )
        .prop_map(|(free, known, usage, cost)| {
            let mut m: Map<String, Value> = free.into_iter().collect();
            for (k, v) in known {
                m.insert(k.to_owned(), v.into());
            }
            if let Some((i, o)) = usage {
                m.insert(
                    "usage".into(),
                    serde_json::json!({ "input_tokens": i, "output_tokens": o }),
                );
            }
            if let Some(c) = cost {
                m.insert("cost_usd".into(), c.into());
            }
            m
        })
}

fn agent() -> impl Strategy<Value = AgentRef> {
    (
        id(),
        proptest::option::of("\\PC{0,8}"),
        proptest::option::of(0u32..50),
    )
        .prop_map(|(id, name, it)| AgentRef {
            id,
            name,
            spawned_at_iteration: it,
            ..Default::default()
        })
}

prop_compose! {
    fn event()(
        event_id in id(),
        kind in kind(),
        micros in 0i64..4_000_000_000_000_000,
        session_id in prop_oneof![Just("s1".to_owned()), Just("s2".to_owned()), id()],
        trace_id in proptest::option::of(id()),
        span_id in proptest::option::of(prop_oneof![Just("span-a".to_owned()), Just("0011223344556677".to_owned()), id()]),
        parent in proptest::option::of(id()),
        iteration in proptest::option::of(any::<u32>()),
        turn in proptest::option::of(any::<u32>()),
        duration in proptest::option::of((0u64..10_000_000_000).prop_map(|i| i as f64 / 1000.0)),
        agent in proptest::option::of(agent()),
        data in data(),
    ) -> Event {
        let mut e = Event::new(event_id, kind, Timestamp(micros), session_id);
        e.trace_id = trace_id;
        e.span_id = span_id;
        e.parent_event_id = parent;
        e.iteration = iteration;
        e.turn = turn;
        e.duration_ms = duration;
        e.agent = agent.map(Box::new);
        e.data = data;
        e
    }
}

fn sorted(mut events: Vec<Event>) -> Vec<Event> {
    events.sort_by(|a, b| {
        serde_json::to_string(a)
            .unwrap()
            .cmp(&serde_json::to_string(b).unwrap())
    });
    events
}

fn round_trip(events: &[Event]) -> Vec<Event> {
    let json = events_to_otlp_json(events);
    let mut sink = Collected::default();
    let source = Source {
        path: "x.otlp.json".into(),
        format: SourceFormat::Otlp,
    };
    read_json(json.as_bytes(), &source, &mut sink).unwrap();
    assert!(sink.skipped.is_empty(), "{:?}", sink.skipped);
    sink.events.into_iter().map(|(_, e)| e).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 64 } else { 512 }))]

    #[test]
    fn canonical_to_otlp_to_canonical_keeps_every_field(events in proptest::collection::vec(event(), 0..12)) {
        let back = round_trip(&events);
        prop_assert_eq!(sorted(back), sorted(events));
    }
}

#[test]
fn start_and_end_events_share_one_span() {
    let mut start = Event::new("a", EventKind::ToolStart, Timestamp(1_000_000), "s");
    start.span_id = Some("t1".into());
    let mut end =
        Event::new("b", EventKind::ToolEnd, Timestamp(3_000_000), "s").with("tool", "bash");
    end.span_id = Some("t1".into());
    end.duration_ms = Some(2000.0);
    let log = Event::new("c", EventKind::Log, Timestamp(2_000_000), "s");
    let json = events_to_otlp_json(&[start.clone(), log.clone(), end.clone()]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap();
    assert_eq!(spans.len(), 2, "tool pair + point event");
    assert_eq!(spans[0]["name"], "execute_tool bash");
    assert_eq!(spans[0]["startTimeUnixNano"], "1000000000");
    assert_eq!(spans[0]["endTimeUnixNano"], "3000000000");
    assert_eq!(spans[1]["startTimeUnixNano"], spans[1]["endTimeUnixNano"]);
    assert_eq!(
        round_trip(&[start.clone(), log.clone(), end.clone()]),
        vec![start, end, log]
    );
}

/// Other OpenTelemetry tools see a tool call's arguments and result under
/// the GenAI names, as text (JSON for structured arguments).
#[test]
fn tool_spans_carry_arguments_and_result_under_their_genai_names() {
    let mut start = Event::new("a", EventKind::ToolStart, Timestamp(1_000_000), "s")
        .with("tool", "grep")
        .with("args", json!({"pattern": "TODO", "path": "src"}));
    start.span_id = Some("t1".into());
    let mut end = Event::new("b", EventKind::ToolEnd, Timestamp(3_000_000), "s")
        .with("tool", "grep")
        .with("result", "src/a.rs:3: TODO");
    end.span_id = Some("t1".into());
    let json = events_to_otlp_json(&[start.clone(), end.clone()]);
    let doc: Value = serde_json::from_str(&json).unwrap();
    let span = &doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    let attr = |key: &str| {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].clone())
            .unwrap_or(Value::Null)
    };
    let args: Value =
        serde_json::from_str(attr("gen_ai.tool.call.arguments").as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"pattern": "TODO", "path": "src"}));
    assert_eq!(attr("gen_ai.tool.call.result"), "src/a.rs:3: TODO");
    assert_eq!(round_trip(&[start.clone(), end.clone()]), vec![start, end]);
}

/// Events of formats without span ids: start/end kinds of a few families,
/// one session, parents that are absent, shared, or another event's id.
fn unlabelled_events() -> impl Strategy<Value = Vec<Event>> {
    let kinds = proptest::sample::select(vec![
        EventKind::SessionStart,
        EventKind::SessionEnd,
        EventKind::IterationStart,
        EventKind::IterationEnd,
        EventKind::LlmRequest,
        EventKind::LlmResponse,
        EventKind::ToolStart,
        EventKind::ToolEnd,
        EventKind::ToolError,
        EventKind::SubagentSpawn,
        EventKind::SubagentComplete,
        EventKind::NodeStart,
        EventKind::NodeEnd,
        EventKind::Log,
    ]);
    proptest::collection::vec(
        (
            kinds,
            0i64..50,
            proptest::option::of(1u32..3),
            proptest::option::of(0usize..12),
            proptest::option::of(proptest::sample::select(vec!["bash", "grep"])),
            proptest::option::of(proptest::sample::select(vec!["a", "b"])),
            any::<bool>(),
        ),
        0..16,
    )
    .prop_map(|specs| {
        let mut events: Vec<Event> = Vec::new();
        for (i, (kind, at, iteration, parent, tool, agent, call)) in specs.into_iter().enumerate() {
            let mut e = Event::new(format!("e{i}"), kind, Timestamp(at * 1_000_000), "s");
            e.iteration = iteration;
            e.parent_event_id = parent.map(|p| format!("e{p}"));
            if let Some(t) = tool {
                e = e.with("tool", t).with("node_id", t);
            }
            if call {
                e = e.with("call_id", "c1");
            }
            if let Some(a) = agent {
                e = e.with("agent_id", a);
            }
            events.push(e);
        }
        events
    })
}

/// The spans of a request written by `events_to_otlp_json`.
fn spans_of(json: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_str(json).unwrap();
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Every parent is a span of the same request and no chain of parents loops.
fn assert_tree(spans: &[Value]) {
    let by_id: std::collections::HashMap<&str, &Value> = spans
        .iter()
        .map(|s| (s["spanId"].as_str().unwrap(), s))
        .collect();
    for span in spans {
        let mut at = span;
        let mut steps = 0;
        while let Some(parent) = at["parentSpanId"].as_str().filter(|p| !p.is_empty()) {
            at = by_id
                .get(parent)
                .unwrap_or_else(|| panic!("parent {parent} of {span} is not written"));
            steps += 1;
            assert!(steps <= spans.len(), "parents loop at {span}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(debug_assertions) { 128 } else { 1024 }))]

    #[test]
    fn events_without_span_ids_pair_into_a_tree_and_read_back_exactly(events in unlabelled_events()) {
        let spans = spans_of(&events_to_otlp_json(&events));
        assert_tree(&spans);
        for span in &spans {
            let start: u64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
            let end: u64 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
            prop_assert!(end >= start || end == 0, "{span}");
        }
        prop_assert_eq!(sorted(round_trip(&events)), sorted(events));
    }
}

/// A trace from a format without span ids (attocode-py) opens in an
/// OpenTelemetry viewer as a tree: one root per session, iterations under it,
/// calls under their iteration, every start paired with its end.
#[test]
fn an_attocode_py_session_becomes_a_span_tree() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/samples/attocode-py/healthy.jsonl");
    let mut sink = Collected::default();
    loupe_formats::read_paths(&[path], &loupe_formats::ReadOptions::default(), &mut sink).unwrap();
    let events: Vec<Event> = sink.events.into_iter().map(|(_, e)| e).collect();
    let spans = spans_of(&events_to_otlp_json(&events));
    assert_tree(&spans);
    let attr = |span: &Value, key: &str| {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].as_str().unwrap_or("").to_owned())
    };
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|s| s["parentSpanId"].as_str().unwrap_or("").is_empty())
        .collect();
    assert_eq!(roots.len(), 1, "one root: {roots:?}");
    assert_eq!(attr(roots[0], "loupe.kind").as_deref(), Some("session_end"));
    assert!(
        spans.iter().all(|s| s["endTimeUnixNano"] != "0"),
        "every start of this finished session is paired"
    );
    let id_of = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no span {name}"))["spanId"]
            .clone()
    };
    let iteration_1 = id_of("iteration 1");
    assert_eq!(
        spans.iter().find(|s| s["name"] == "iteration 1").unwrap()["parentSpanId"],
        roots[0]["spanId"]
    );
    let under_1: Vec<&str> = spans
        .iter()
        .filter(|s| s["parentSpanId"] == iteration_1)
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        under_1,
        [
            "chat claude-sonnet-4-20250514",
            "execute_tool read_file",
            "execute_tool grep"
        ]
    );
    // The subagent spawned in iteration 3 hangs from it, as one span.
    let subagent = spans
        .iter()
        .find(|s| attr(s, "loupe.kind").as_deref() == Some("subagent_complete"))
        .unwrap();
    assert_eq!(attr(subagent, "loupe.role").as_deref(), Some("pair"));
    assert_eq!(subagent["parentSpanId"], id_of("iteration 3"));
    // And the read-back is exact.
    assert_eq!(sorted(round_trip(&events)), sorted(events));
}
