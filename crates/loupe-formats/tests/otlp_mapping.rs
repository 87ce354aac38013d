//! OTLP span → event mapping: GenAI, OpenInference, Langfuse, Traceloop and
//! Laminar attributes; sessions; rejections.
#![allow(clippy::unwrap_used)]

use loupe_formats::otlp::{decode_request_json, events_from_request};
use loupe_formats::{Collected, Source};
use loupe_model::{Event, EventKind, SourceFormat, TokenUsage};
use serde_json::{json, Value};

const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn source() -> Source {
    Source {
        path: "spans.json".into(),
        format: SourceFormat::Otlp,
    }
}

fn attr(key: &str, value: Value) -> Value {
    let v = match value {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n }),
        Value::Array(items) => {
            json!({ "arrayValue": { "values": items.into_iter().map(|i| json!({"stringValue": i})).collect::<Vec<_>>() } })
        }
        other => panic!("unsupported {other}"),
    };
    json!({ "key": key, "value": v })
}

fn span(
    id: &str,
    parent: Option<&str>,
    name: &str,
    start_ms: u64,
    end_ms: u64,
    attrs: Vec<Value>,
) -> Value {
    let mut s = json!({
        "traceId": TRACE,
        "spanId": id,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": (1_772_280_000_000u64 + start_ms) * 1_000_000,
        "endTimeUnixNano": if end_ms == 0 { 0 } else { (1_772_280_000_000u64 + end_ms) * 1_000_000 },
        "attributes": attrs,
    });
    if let Some(p) = parent {
        s["parentSpanId"] = p.into();
    }
    s
}

fn request(resource: Vec<Value>, spans: Vec<Value>) -> Vec<u8> {
    json!({ "resourceSpans": [{
        "resource": { "attributes": resource },
        "scopeSpans": [{ "scope": { "name": "test" }, "spans": spans }]
    }]})
    .to_string()
    .into_bytes()
}

fn read(bytes: &[u8]) -> (Vec<Event>, loupe_formats::otlp::OtlpStats, Collected) {
    let req = decode_request_json(bytes).unwrap();
    let mut sink = Collected::default();
    let stats = events_from_request(&req, &source(), &mut sink);
    let events = sink.events.iter().map(|(_, e)| e.clone()).collect();
    (events, stats, sink)
}

fn kinds(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

#[test]
fn an_agent_tree_maps_to_a_session_with_llm_and_tool_calls() {
    let bytes = request(
        vec![attr("service.name", json!("my-agent"))],
        vec![
            span(
                "a000000000000001",
                None,
                "invoke_agent planner",
                0,
                5000,
                vec![
                    attr("gen_ai.operation.name", json!("invoke_agent")),
                    attr("gen_ai.agent.name", json!("planner")),
                    attr("gen_ai.conversation.id", json!("conv-1")),
                ],
            ),
            span(
                "a000000000000002",
                Some("a000000000000001"),
                "chat claude-sonnet-4-5",
                100,
                1100,
                vec![
                    attr("gen_ai.operation.name", json!("chat")),
                    attr("gen_ai.provider.name", json!("anthropic")),
                    attr("gen_ai.request.model", json!("claude-sonnet-4-5")),
                    attr("gen_ai.response.model", json!("claude-sonnet-4-5-20250929")),
                    attr("gen_ai.usage.input_tokens", json!(1000)),
                    attr("gen_ai.usage.output_tokens", json!(50)),
                    attr("gen_ai.usage.cache_read.input_tokens", json!(800)),
                    attr("gen_ai.usage.cache_creation.input_tokens", json!(100)),
                    attr("gen_ai.usage.reasoning.output_tokens", json!(20)),
                    attr("gen_ai.response.finish_reasons", json!(["tool_use"])),
                    attr("llm.cost.total", json!(0.0123)),
                ],
            ),
            span(
                "a000000000000003",
                Some("a000000000000001"),
                "execute_tool bash",
                1200,
                1700,
                vec![
                    attr("gen_ai.operation.name", json!("execute_tool")),
                    attr("gen_ai.tool.name", json!("bash")),
                    attr("gen_ai.tool.call.id", json!("call_1")),
                    attr("gen_ai.tool.call.arguments", json!("{\"cmd\":\"ls\"}")),
                ],
            ),
            // A second chat with the deprecated names, no session attribute.
            span(
                "a000000000000004",
                Some("a000000000000001"),
                "chat",
                1800,
                2300,
                vec![
                    attr("gen_ai.operation.name", json!("chat")),
                    attr("gen_ai.system", json!("openai")),
                    attr("gen_ai.request.model", json!("gpt-4o")),
                    attr("gen_ai.usage.prompt_tokens", json!("300")),
                    attr("gen_ai.usage.completion_tokens", json!(30)),
                ],
            ),
        ],
    );
    let mut bytes_with_error: Value = serde_json::from_slice(&bytes).unwrap();
    let tool = &mut bytes_with_error["resourceSpans"][0]["scopeSpans"][0]["spans"][2];
    tool["status"] = json!({ "code": 2, "message": "exit status 1" });
    tool["events"] = json!([{ "timeUnixNano": "1772280001600000000", "name": "exception",
        "attributes": [attr("exception.type", json!("CommandError")), attr("exception.message", json!("exit status 1"))] }]);
    let (events, stats, sink) = read(bytes_with_error.to_string().as_bytes());
    // Sorted keys: the snapshot must not depend on serde_json's `preserve_order`
    // feature, which another crate in a workspace build may switch on.
    insta::with_settings!({sort_maps => true}, {
        insta::assert_json_snapshot!("otlp_agent_tree", events);
    });
    assert_eq!(stats.spans, 4);
    assert!(sink.skipped.is_empty());
    assert_eq!(
        kinds(&events),
        [
            "session_start",
            "session_end",
            "llm_request",
            "llm_response",
            "tool_start",
            // The tool's failure counts once, by its end; the exception
            // recorded with it is a log line.
            "log",
            "tool_error",
            "llm_request",
            "llm_response",
        ]
    );
    assert!(
        events.iter().all(|e| e.session_id == "conv-1"),
        "children join the root's session"
    );
    assert!(events.iter().all(|e| e.trace_id.as_deref() == Some(TRACE)));

    let session_start = &events[0];
    assert_eq!(session_start.str("agent_name"), Some("planner"));
    assert_eq!(session_start.data["resource"]["service.name"], "my-agent");
    assert_eq!(events[1].duration_ms, Some(5000.0));

    let request = &events[2];
    assert_eq!(request.event_id, "a000000000000002:start");
    assert_eq!(request.span_id.as_deref(), Some("a000000000000002"));
    assert_eq!(request.parent_event_id.as_deref(), Some("a000000000000001"));
    assert_eq!(request.model(), Some("claude-sonnet-4-5"));
    let response = &events[3];
    assert_eq!(response.event_id, "a000000000000002:end");
    assert_eq!(response.duration_ms, Some(1000.0));
    assert_eq!(response.model(), Some("claude-sonnet-4-5-20250929"));
    assert_eq!(response.provider(), Some("anthropic"));
    assert_eq!(response.str("stop_reason"), Some("tool_use"));
    assert_eq!(response.reported_cost(), Some(0.0123));
    assert_eq!(
        response.usage(),
        TokenUsage::otel(1000, 50)
            .with_cache(800, 100)
            .with_reasoning(20)
    );
    assert_eq!(
        response.data["attributes"]["gen_ai.usage.input_tokens"],
        1000
    );

    let tool_start = &events[4];
    assert_eq!(tool_start.tool_name(), Some("bash"));
    assert_eq!(tool_start.str("call_id"), Some("call_1"));
    assert_eq!(tool_start.data["args"], json!({"cmd": "ls"}));
    let exception = &events[5];
    assert_eq!(exception.error_message().as_deref(), Some("exit status 1"));
    assert_eq!(exception.str("error_type"), Some("CommandError"));
    assert_eq!(
        exception.parent_event_id.as_deref(),
        Some("a000000000000003")
    );
    let tool_error = &events[6];
    assert_eq!(tool_error.error_message().as_deref(), Some("exit status 1"));
    assert_eq!(tool_error.tool_name(), Some("bash"));

    let legacy = &events[8];
    assert_eq!(legacy.provider(), Some("openai"));
    assert_eq!(legacy.usage(), TokenUsage::otel(300, 30));
}

#[test]
fn nested_agents_are_subagents_and_other_conventions_are_classified() {
    let bytes = request(
        vec![],
        vec![
            span(
                "b000000000000001",
                None,
                "workflow",
                0,
                100,
                vec![attr("traceloop.span.kind", json!("workflow"))],
            ),
            span(
                "b000000000000002",
                Some("b000000000000001"),
                "researcher",
                0,
                90,
                vec![
                    attr("openinference.span.kind", json!("AGENT")),
                    attr("gen_ai.agent.id", json!("agent-7")),
                    attr("agent.name", json!("researcher")),
                    attr("session.id", json!("sess-oi")),
                ],
            ),
            span(
                "b000000000000003",
                Some("b000000000000002"),
                "ChatOpenAI",
                1,
                20,
                vec![
                    attr("openinference.span.kind", json!("LLM")),
                    attr("llm.model_name", json!("gpt-4o-mini")),
                    attr("llm.provider", json!("openai")),
                    attr("llm.token_count.prompt", json!(120)),
                    attr("llm.token_count.completion", json!(12)),
                    attr("llm.token_count.prompt_details.cache_read", json!(100)),
                    attr("llm.token_count.completion_details.reasoning", json!(4)),
                ],
            ),
            span(
                "b000000000000004",
                Some("b000000000000002"),
                "generation",
                21,
                30,
                vec![
                    attr("langfuse.observation.type", json!("generation")),
                    attr("langfuse.observation.model.name", json!("claude-haiku")),
                    attr(
                        "langfuse.observation.usage_details",
                        json!("{\"input\":40,\"output\":8}"),
                    ),
                    attr(
                        "langfuse.observation.cost_details",
                        json!("{\"input\":0.001,\"output\":0.002}"),
                    ),
                ],
            ),
            span(
                "b000000000000005",
                Some("b000000000000002"),
                "openai.chat",
                31,
                40,
                vec![
                    attr("llm.request.type", json!("chat")),
                    attr("gen_ai.prompt.0.role", json!("user")),
                    attr("gen_ai.prompt.0.content", json!("hi")),
                    attr("gen_ai.completion.0.content", json!("hello")),
                    attr("llm.usage.total_tokens", json!(15)),
                    attr("gen_ai.usage.completion_tokens", json!(5)),
                    attr("gen_ai.usage.cache_read_input_tokens", json!(0)),
                ],
            ),
            span(
                "b000000000000006",
                Some("b000000000000002"),
                "search",
                41,
                50,
                vec![
                    attr("lmnr.span.type", json!("TOOL")),
                    attr("gen_ai.usage.cost", json!(0.5)),
                ],
            ),
            span(
                "b000000000000007",
                Some("b000000000000002"),
                "run_python",
                51,
                60,
                vec![
                    attr("gen_ai.tool.call.arguments", json!("{\"code\":\"1+1\"}")),
                    attr("gen_ai.tool.call.result", json!("2")),
                ],
            ),
            span(
                "b000000000000008",
                Some("b000000000000002"),
                "node",
                61,
                0,
                vec![attr("graph.node.id", json!("n1"))],
            ),
        ],
    );
    let (events, stats, _) = read(&bytes);
    assert_eq!(stats.spans, 8);
    assert_eq!(
        kinds(&events),
        [
            "span_start",
            "span_end",
            "subagent_spawn",
            "subagent_complete",
            "llm_request",
            "llm_response",
            "llm_request",
            "llm_response",
            "llm_request",
            "llm_response",
            "tool_start",
            "tool_end",
            "tool_start",
            "tool_end",
            "node_start",
        ]
    );
    assert!(
        events.iter().all(|e| e.session_id == "sess-oi"),
        "the trace's session applies to all its spans"
    );
    // Work nested under the subagent is attributed to it; the workflow is not.
    assert!(events[..2].iter().all(|e| e.agent.is_none()));
    for e in &events[2..] {
        assert_eq!(
            e.agent.as_ref().map(|a| a.id.as_str()),
            Some("agent-7"),
            "{}",
            e.event_id
        );
    }
    let spawn = &events[2];
    assert_eq!(spawn.agent.as_ref().unwrap().id, "agent-7");
    assert_eq!(
        spawn.agent.as_ref().unwrap().name.as_deref(),
        Some("researcher")
    );
    let openinference = TokenUsage {
        input_tokens: Some(120),
        output_tokens: Some(12),
        cache_read_tokens: Some(100),
        cache_write_tokens: None,
        reasoning_tokens: Some(4),
        total_tokens: None,
    };
    assert_eq!(events[5].usage(), openinference);
    assert_eq!(events[5].model(), Some("gpt-4o-mini"));
    assert_eq!(events[7].usage(), TokenUsage::otel(40, 8));
    assert!((events[7].reported_cost().unwrap() - 0.003).abs() < 1e-12);
    assert_eq!(events[6].model(), Some("claude-haiku"));
    // Traceloop: input from total − completion; legacy indexed prompt messages.
    assert_eq!(events[9].usage().input_tokens, Some(10));
    assert_eq!(
        events[8].data["messages"],
        json!([{ "role": "user", "content": "hi" }])
    );
    assert_eq!(events[9].data["content"], json!([{ "content": "hello" }]));
    assert_eq!(events[10].tool_name(), Some("search"));
    assert_eq!(events[12].tool_name(), Some("run_python"));
    assert_eq!(events[13].data["result"], "2");
    // The unended span yields only its start, which then keeps the attributes.
    assert_eq!(events[14].str("node_id"), Some("n1"));
    assert!(events[14].data.contains_key("attributes"));
}

#[test]
fn spans_without_a_session_attribute_use_the_trace_id() {
    let bytes = request(
        vec![],
        vec![span(
            "c000000000000001",
            Some("0000000000000000"),
            "work",
            0,
            10,
            vec![],
        )],
    );
    let (events, _, _) = read(&bytes);
    assert_eq!(kinds(&events), ["span_start", "span_end"]);
    assert!(events.iter().all(|e| e.session_id == TRACE));
    assert_eq!(events[0].str("name"), Some("work"));
    assert_eq!(
        events[0].parent_event_id, None,
        "an all-zero parent is no parent"
    );
}

#[test]
fn session_aliases_on_resources_and_spans_are_honoured() {
    for key in [
        "session.id",
        "langfuse.session.id",
        "lmnr.association.properties.session_id",
        "traceloop.association.properties.session_id",
    ] {
        let bytes = request(
            vec![attr(key, json!("from-resource"))],
            vec![span("d000000000000001", None, "x", 0, 1, vec![])],
        );
        let (events, _, _) = read(&bytes);
        assert_eq!(events[0].session_id, "from-resource", "{key}");
        let bytes = request(
            vec![],
            vec![span(
                "d000000000000001",
                None,
                "x",
                0,
                1,
                vec![attr(key, json!("from-span"))],
            )],
        );
        let (events, _, _) = read(&bytes);
        assert_eq!(events[0].session_id, "from-span", "{key}");
    }
}

#[test]
fn id_less_spans_are_rejected_with_reasons() {
    // What an OTLP logs export posted to /v1/traces decodes to: spans without ids.
    let bytes = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"name":"log line","startTimeUnixNano":"1"},
        {"traceId":"00000000000000000000000000000000","spanId":"0000000000000001","name":"zero"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"abc","name":"short"},
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"e000000000000001","name":"ok","startTimeUnixNano":"1000","endTimeUnixNano":"2000"}
    ]}]}]}"#;
    let (events, stats, _) = read(bytes);
    assert_eq!(stats.spans, 1);
    assert_eq!(stats.rejected_spans, 3);
    assert!(
        stats.rejection_reasons[0].contains("'log line': trace id is missing or not an id"),
        "{:?}",
        stats.rejection_reasons
    );
    assert!(stats.rejection_reasons[1].contains("all zeros"));
    assert!(stats.rejection_reasons[2].contains("'short': span id is missing or not an id"));
    assert_eq!(kinds(&events), ["span_start", "span_end"]);
    assert_eq!(events[1].duration_ms, Some(0.001));
}

#[test]
fn kinds_not_known_to_loupe_are_kept_from_loupe_spans() {
    let e = Event::new(
        "e1",
        EventKind::from_name("quantum_leap"),
        loupe_model::Timestamp(1_000_000),
        "s1",
    );
    let json = loupe_formats::otlp::events_to_otlp_json(std::slice::from_ref(&e));
    let (events, _, _) = read(json.as_bytes());
    assert_eq!(events, vec![e]);
}

#[test]
fn loupe_written_spans_without_loupe_attributes_still_map_semantically() {
    let mut llm = Event::new(
        "r1",
        EventKind::LlmResponse,
        loupe_model::Timestamp(2_000_000),
        "s1",
    )
    .with("model", "gpt-4o")
    .with("stop_reason", "stop");
    llm.duration_ms = Some(500.0);
    llm.span_id = Some("span-1".into());
    llm.set_usage(&TokenUsage::otel(100, 10).with_cache(60, 0));
    let mut tool = Event::new(
        "t1",
        EventKind::ToolError,
        loupe_model::Timestamp(3_000_000),
        "s1",
    )
    .with("tool", "bash")
    .with("error", "boom");
    tool.duration_ms = Some(10.0);
    let json = loupe_formats::otlp::events_to_otlp_json(&[llm, tool]);
    let mut doc: Value = serde_json::from_str(&json).unwrap();
    for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array_mut()
        .unwrap()
    {
        let attrs = span["attributes"].as_array_mut().unwrap();
        attrs.retain(|a| !a["key"].as_str().unwrap().starts_with("loupe."));
    }
    let (events, _, _) = read(doc.to_string().as_bytes());
    assert_eq!(
        kinds(&events),
        ["llm_request", "llm_response", "tool_start", "tool_error"]
    );
    assert!(events.iter().all(|e| e.session_id == "s1"));
    assert_eq!(
        events[1].usage(),
        TokenUsage::otel(100, 10).with_cache(60, 0)
    );
    assert_eq!(events[1].duration_ms, Some(500.0));
    assert_eq!(events[1].str("stop_reason"), Some("stop"));
    assert_eq!(events[3].error_message().as_deref(), Some("boom"));
    assert_eq!(events[3].tool_name(), Some("bash"));
}

#[test]
fn additive_cache_counts_and_flattened_openinference_messages_are_normalised() {
    let bytes = request(
        vec![],
        vec![span(
            "f000000000000001",
            None,
            "anthropic.messages",
            0,
            10,
            vec![
                attr("gen_ai.request.model", json!("claude-haiku")),
                // Anthropic-style: input excludes the cache parts (they exceed it).
                attr("gen_ai.usage.input_tokens", json!(100)),
                attr("gen_ai.usage.output_tokens", json!(7)),
                attr("gen_ai.usage.cache_read_input_tokens", json!(900)),
                attr("gen_ai.usage.cache_creation_input_tokens", json!(50)),
                attr("llm.input_messages.0.message.role", json!("system")),
                attr("llm.input_messages.1.message.role", json!("user")),
                attr("llm.input_messages.1.message.content", json!("hi")),
                attr("llm.output_messages.0.message.content", json!("hello")),
            ],
        )],
    );
    let (events, _, _) = read(&bytes);
    assert_eq!(kinds(&events), ["llm_request", "llm_response"]);
    let usage = events[1].usage();
    assert_eq!(usage, TokenUsage::otel(1050, 7).with_cache(900, 50));
    assert_eq!(usage.fresh_input(), 100);
    assert_eq!(events[0].u64("message_count"), Some(2));
    assert_eq!(events[0].data["messages"][1]["message.content"], "hi");
    assert_eq!(events[1].data["content"][0]["message.content"], "hello");
}

#[test]
fn langfuse_usage_details_add_up_and_its_error_level_fails_the_span() {
    let generation = |id: &str, details: Value, extra: Vec<Value>| {
        let mut attrs = vec![
            attr("langfuse.observation.type", json!("generation")),
            attr("langfuse.observation.model.name", json!("gpt-4o")),
            attr(
                "langfuse.observation.usage_details",
                json!(details.to_string()),
            ),
        ];
        attrs.extend(extra);
        span(id, None, "generation", 0, 10, attrs)
    };
    let bytes = request(
        vec![],
        vec![
            // Langfuse's OpenAI shape: `input` and `output` leave out their parts.
            generation(
                "c000000000000001",
                json!({"input": 1600, "input_cached_tokens": 2900, "output": 550,
                       "output_reasoning_tokens": 50, "total": 5100}),
                vec![],
            ),
            // Its Anthropic shape, cache parts no larger than the fresh input.
            generation(
                "c000000000000002",
                json!({"input": 1500, "cache_read_input_tokens": 1000,
                       "cache_creation_input_tokens": 100, "output": 200}),
                vec![
                    attr("langfuse.observation.level", json!("ERROR")),
                    attr("langfuse.observation.status_message", json!("overloaded")),
                ],
            ),
            // Counts written as float text.
            span(
                "c000000000000003",
                None,
                "chat",
                0,
                10,
                vec![
                    attr("gen_ai.operation.name", json!("chat")),
                    attr("gen_ai.usage.input_tokens", json!("200.0")),
                    attr("gen_ai.usage.output_tokens", json!("2e1")),
                    attr("llm.usage.reasoning_tokens", json!(5)),
                ],
            ),
        ],
    );
    let (events, _, _) = read(&bytes);
    let ends: Vec<&Event> = events.iter().filter(|e| e.kind.is_span_end()).collect();
    let mut openai = TokenUsage::otel(4500, 600);
    openai.cache_read_tokens = Some(2900);
    openai.reasoning_tokens = Some(50);
    assert_eq!(ends[0].usage(), openai);
    assert_eq!(ends[0].kind, EventKind::LlmResponse);
    assert_eq!(
        ends[1].usage(),
        TokenUsage::otel(2600, 200).with_cache(1000, 100)
    );
    assert_eq!(ends[1].kind, EventKind::LlmError);
    assert_eq!(ends[1].error_message().as_deref(), Some("overloaded"));
    let mut floats = TokenUsage::otel(200, 20);
    floats.reasoning_tokens = Some(5);
    assert_eq!(ends[2].usage(), floats);
}

#[test]
fn a_failure_recorded_as_status_and_exception_counts_once() {
    let exception = |message: &str| {
        json!([{
            "timeUnixNano": "1772280000005000000",
            "name": "exception",
            "attributes": [
                attr("exception.type", json!("AssertionError")),
                attr("exception.message", json!(message)),
            ],
        }])
    };
    let mut tool = span(
        "d000000000000002",
        Some("d000000000000001"),
        "execute_tool run_tests",
        1,
        6,
        vec![
            attr("gen_ai.operation.name", json!("execute_tool")),
            attr("gen_ai.tool.name", json!("run_tests")),
        ],
    );
    tool["status"] = json!({"code": 2});
    tool["events"] = exception("3 tests failed");
    let mut chain = span("d000000000000001", None, "pipeline", 0, 10, vec![]);
    chain["status"] = json!({"code": 2, "message": "pipeline broke"});
    chain["events"] = exception("3 tests failed");
    let (events, _, _) = read(&request(vec![], vec![chain, tool]));
    let tool_end = events
        .iter()
        .find(|e| e.kind == EventKind::ToolError)
        .unwrap();
    // The bare status takes the exception's message...
    assert_eq!(tool_end.error_message().as_deref(), Some("3 tests failed"));
    // ...whose event is then a log line, while the chain's, whose end
    // counts nothing, stays the error it reports.
    let logged: Vec<(&str, Option<&str>)> = events
        .iter()
        .filter(|e| e.data.get("name") == Some(&json!("exception")))
        .map(|e| (e.kind.as_str(), e.parent_event_id.as_deref()))
        .collect();
    assert_eq!(
        logged,
        [
            ("error", Some("d000000000000001")),
            ("log", Some("d000000000000002"))
        ]
    );
}

#[test]
fn openinference_messages_come_from_the_flattened_list_before_the_raw_request() {
    let request_body = json!({"model": "gpt-4o", "messages": [{"role": "user"}, {"role": "user"}]});
    let llm = |id: &str, flattened: bool| {
        let mut attrs = vec![
            attr("openinference.span.kind", json!("LLM")),
            attr("input.value", json!(request_body.to_string())),
        ];
        if flattened {
            for i in 0..3 {
                attrs.push(attr(
                    &format!("llm.input_messages.{i}.message.role"),
                    json!("user"),
                ));
            }
        }
        span(id, None, "llm", 0, 10, attrs)
    };
    let (events, _, _) = read(&request(
        vec![],
        vec![
            llm("e000000000000001", true),
            llm("e000000000000002", false),
        ],
    ));
    let counts: Vec<Option<u64>> = events
        .iter()
        .filter(|e| e.kind == EventKind::LlmRequest)
        .map(|e| e.u64("message_count"))
        .collect();
    assert_eq!(counts, [Some(3), Some(2)]);
}
