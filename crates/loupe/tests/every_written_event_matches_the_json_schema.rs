//! Runs a session through every helper and guard and validates each written
//! line against `docs/loupe-event.schema.json`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use loupe::{
    BudgetStatus, Compaction, LlmRequest, LlmResponse, QueueFullPolicy, Recorder, SubagentEvent,
    SwarmTaskStatus, ToolCall,
};
use loupe_model::{EventKind, SessionStatus, TokenUsage, FORMAT_VERSION};
use serde_json::{json, Map};

#[test]
fn every_event_of_a_session_using_every_helper_validates() {
    let validator = common::schema_validator();

    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("schema")
        .task("exercise everything")
        .model("claude-sonnet-4-5")
        .agent_name("tester")
        .metadata("user", "ci")
        .tag("schema")
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let r = session.recorder();
    {
        let turn = r.turn();
        let it = turn.iteration();
        it.record_llm_request(&LlmRequest {
            model: Some("claude-sonnet-4-5"),
            provider: Some("anthropic"),
            message_count: Some(3),
            tool_count: Some(2),
            messages: Some(&json!([{"role": "user", "content": "hi"}])),
        });
        it.record_llm_response(&LlmResponse {
            model: Some("claude-sonnet-4-5"),
            provider: Some("anthropic"),
            usage: TokenUsage::from_additive(Some(100), Some(50), Some(900), Some(10))
                .with_reasoning(5),
            stop_reason: Some("end_turn"),
            cost_usd: Some(0.01),
            tool_calls: Some(0),
            content: Some("hello"),
            duration_ms: Some(12.5),
        });
        // Numbers a caller got wrong are left out, never written as `null`
        // or a negative cost.
        it.record_llm_response(&LlmResponse {
            usage: TokenUsage::otel(1, 1),
            cost_usd: Some(-0.5),
            duration_ms: Some(f64::INFINITY),
            ..Default::default()
        });
        it.record_tool_call(&ToolCall {
            tool: "bash",
            duration_ms: Some(f64::NAN),
            ..Default::default()
        });
        it.llm_call(&LlmRequest::default()).response(&LlmResponse {
            duration_ms: Some(-5.0),
            ..Default::default()
        });
        // A total without its split (what attocode's CLI writer reports).
        it.record_llm_response(&LlmResponse {
            usage: TokenUsage::default().with_unsplit_total(Some(700)),
            ..Default::default()
        });
        it.record_llm_error(Some("claude-haiku-4-5"), "overloaded", Some(3.0));
        it.record_llm_retry(1, "overloaded");
        it.record_thinking("hmm", Some(12));
        it.record_tool_start("read_file", Some("call_1"), Some(&json!({"path": "a"})));
        it.record_tool_call(&ToolCall {
            tool: "read_file",
            call_id: Some("call_1"),
            args: Some(&json!({"path": "a"})),
            result: Some(&json!("text")),
            error: None,
            duration_ms: Some(1.0),
        });
        it.record_tool_call(&ToolCall {
            tool: "bash",
            error: Some("exit 1"),
            ..Default::default()
        });
        it.record_tool_approval("bash", false, Some("dangerous"));
        it.record_budget(BudgetStatus::Ok, 0.1, None);
        it.record_budget(BudgetStatus::Warning, 0.85, Some("85%"));
        it.record_budget(BudgetStatus::Exhausted, 1.0, Some("done"));
        it.record_compaction_start(Some(1000), Some(10));
        it.record_compaction(&Compaction {
            tokens_before: Some(1000),
            tokens_after: Some(300),
            messages_before: Some(10),
            messages_after: Some(2),
            strategy: Some("summarize"),
            duration_ms: Some(4.0),
        });
        it.record_context_overflow(200_000, Some(200_000));
        it.record_subagent(SubagentEvent::Spawn, "a1", Some("coder"), None);
        it.record_subagent(SubagentEvent::Timeout, "a1", Some("coder"), Some("60s"));
        it.record_swarm_start("swarm", 3);
        it.record_swarm_task("t1", SwarmTaskStatus::Started, None);
        it.record_swarm_task("t1", SwarmTaskStatus::Failed, Some("boom"));
        it.record_swarm_decision("split", "plan", "too big");
        it.record_swarm_conflict("a.rs", Some("f"), "merged");
        it.record_swarm_complete("completed", Some(10.0));
        it.record_plan_created(&["a", "b"]);
        it.record_plan_step_start(1, "a");
        it.record_plan_step_complete(1, "completed", Some(2.0));
        it.record_quality_check("lint", 0.9, true);
        it.record_learning("use grep first");
        it.record_error(&"disk full", Some("io"), Some("saving"));
        it.record_recovery("retry", None);
        it.record_mode_change("plan", "act", None);
        it.record_mcp_connect("fs", Some(4));
        it.record_mcp_disconnect("fs", Some("bye"));
        it.record_file_change("a.rs", "modify", Some(1), Some(2));
        it.record_checkpoint("c1", Some(4));
        it.record_decision("route", "haiku", Some("cheap"), &["haiku", "sonnet"]);
        let mut custom = Map::new();
        custom.insert("x".into(), json!(1));
        it.record_custom("my_event", custom);
        it.record(EventKind::Other("vendor_thing".into()), Map::new());

        let call = it.llm_call(&LlmRequest {
            model: Some("gpt-4o-mini"),
            ..Default::default()
        });
        call.response(&LlmResponse {
            usage: TokenUsage::otel(10, 2),
            ..Default::default()
        });
        it.llm_call(&LlmRequest::default()).fail("timeout");
        it.tool("grep", None).ok(Some(&json!(["a"])));
        it.tool_with_id("grep", Some("c2"), None).fail("bad regex");
        let _: Result<(), String> = it.in_tool("bash", None, || Err("nope".into()));
        let sub = it.subagent("s1", Some("researcher"), Some("look"));
        sub.record_thinking("inside", None);
        sub.complete(Some("found"));
        it.subagent("s2", None, None).fail("crashed");
        it.subagent("s3", None, None).timeout();
        let wf = it.workflow("build");
        wf.workflow_node("n1", Some("agent")).complete();
        wf.workflow_node("n2", None).skip();
        wf.workflow_node("n3", None).fail("x");
        wf.end("completed");
        it.span("phase").fail("oops");
        let _span = it.span("phase2");
    }
    session.end(SessionStatus::Completed);
    drop(r);

    let events = common::read_events(&path);
    let mut kinds = BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        if let Err(errors) = validator.validate(e) {
            let msgs: Vec<String> = errors
                .map(|x| format!("{} at {}", x, x.instance_path))
                .collect();
            panic!("line {}: {e}\n{}", i + 1, msgs.join("\n"));
        }
        kinds.insert(e["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(events[0]["data"]["format"], "loupe");
    assert_eq!(events[0]["data"]["format_version"], FORMAT_VERSION);
    // Every category of attocode-py's sixteen (bar swarm-only extras) plus the additions used.
    for k in [
        "session_start",
        "session_end",
        "turn_start",
        "turn_end",
        "iteration_start",
        "iteration_end",
        "llm_request",
        "llm_response",
        "llm_error",
        "llm_retry",
        "thinking",
        "tool_start",
        "tool_end",
        "tool_error",
        "tool_approval",
        "budget_check",
        "budget_warning",
        "budget_exhausted",
        "compaction_start",
        "compaction_end",
        "context_overflow",
        "subagent_spawn",
        "subagent_complete",
        "subagent_error",
        "subagent_timeout",
        "swarm_start",
        "swarm_complete",
        "swarm_task_start",
        "swarm_task_failed",
        "swarm_decision",
        "swarm_conflict",
        "plan_created",
        "plan_step_start",
        "plan_step_complete",
        "quality_check",
        "learning_proposed",
        "error",
        "recovery",
        "mode_change",
        "mcp_connect",
        "mcp_disconnect",
        "file_change",
        "checkpoint",
        "decision",
        "custom",
        "workflow_start",
        "workflow_end",
        "node_start",
        "node_end",
        "span_start",
        "span_end",
        "vendor_thing",
    ] {
        assert!(kinds.contains(k), "no {k} event written");
    }
    // The schema is not vacuous: a broken envelope and a bad usage are rejected.
    let mut bad = events[1].clone();
    bad["timestamp"] = json!(12.5);
    assert!(!validator.is_valid(&bad));
    let mut bad = events[0].clone();
    bad["data"]["format"] = json!("attocode");
    assert!(!validator.is_valid(&bad));
    let resp = events.iter().find(|e| e["kind"] == "llm_response").unwrap();
    let mut bad = resp.clone();
    bad["data"]["usage"]["input_tokens"] = json!(-1);
    assert!(!validator.is_valid(&bad));
    let mut bad = resp.clone();
    bad["extra"] = json!(1);
    assert!(!validator.is_valid(&bad));
}
