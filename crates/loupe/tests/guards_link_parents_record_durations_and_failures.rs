//! Guards: start/end pairs share a span id, children point at their parent
//! span, durations come from the clock, and unfinished or failed work is
//! recorded as an error (`in_tool` records the closure's `Err`).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use loupe::{LlmRequest, LlmResponse, ManualClock, Recorder};
use loupe_model::{SessionStatus, Timestamp, TokenUsage};
use serde_json::json;

#[test]
fn guards_build_a_span_tree_with_durations_and_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("guards")
        .clock(clock.clone())
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    {
        let it = session.iteration();
        assert_eq!(it.number(), Some(1));
        let call = it.llm_call(&LlmRequest {
            model: Some("claude-sonnet-4-5"),
            ..Default::default()
        });
        clock.advance_ms(250.0);
        call.response(&LlmResponse {
            usage: TokenUsage::from_additive(Some(100), Some(20), Some(900), Some(0)),
            cost_usd: Some(0.002),
            ..Default::default()
        });
        let t = it.tool("read_file", Some(&json!({"path": "x"})));
        clock.advance_ms(5.0);
        drop(t); // neither ok() nor fail(): abandoned
        let r: Result<u32, std::io::Error> = it.in_tool("bash", None, || {
            clock.advance_ms(7.0);
            Err(std::io::Error::other("exit status 2"))
        });
        assert!(r.is_err());
        assert_eq!(it.in_tool("bash", None, || Ok::<_, String>(3)), Ok(3));
        let sub = it.subagent("helper", Some("coder"), None);
        sub.record_thinking("sub thoughts", Some(4));
        sub.timeout();
    }
    let second = session.iteration();
    second.fail("budget exhausted");
    let s = session.summary();
    assert_eq!(
        (s.iterations, s.llm_calls, s.tool_calls, s.tool_errors),
        (2, 1, 3, 2)
    );
    assert_eq!(
        (s.input_tokens, s.cache_read_tokens, s.output_tokens),
        (1000, 900, 20)
    );
    assert_eq!(s.errors, 3); // two tool errors and the subagent timeout
    assert_eq!(s.reported_cost_usd, 0.002);
    session.end(SessionStatus::Completed);

    let events = common::read_events(&path);
    let by = |k: &str| common::of_kind(&events, k);
    let start = by("session_start")[0];
    let it_start = by("iteration_start")[0];
    let it_end = by("iteration_end")[0];
    assert_eq!(it_start["parent_event_id"], start["span_id"]);
    assert_eq!(it_end["span_id"], it_start["span_id"]);
    assert_eq!(it_end["data"]["status"], "success");
    assert_eq!(it_end["duration_ms"], 262.0);
    assert_eq!(it_start["iteration"], 1);

    let req = by("llm_request")[0];
    let resp = by("llm_response")[0];
    assert_eq!(req["parent_event_id"], it_start["span_id"]);
    assert_eq!(resp["span_id"], req["span_id"]);
    assert_eq!(resp["duration_ms"], 250.0);
    assert_eq!(resp["data"]["model"], "claude-sonnet-4-5");
    assert_eq!(resp["iteration"], 1);

    let errors = by("tool_error");
    assert_eq!(errors[0]["data"]["error"], "abandoned");
    assert_eq!(errors[0]["duration_ms"], 5.0);
    assert_eq!(errors[1]["data"]["error"], "exit status 2");
    assert_eq!(errors[1]["data"]["tool"], "bash");
    assert_eq!(by("tool_end")[0]["data"]["status"], "success");

    let thinking = by("thinking")[0];
    assert_eq!(thinking["agent"]["id"], "helper");
    assert_eq!(thinking["agent"]["type"], "coder");
    assert_eq!(thinking["agent"]["spawned_at_iteration"], 1);
    assert_eq!(
        thinking["parent_event_id"],
        by("subagent_spawn")[0]["span_id"]
    );
    assert_eq!(by("subagent_timeout")[0]["data"]["status"], "timeout");

    let it2 = by("iteration_end")[1];
    assert_eq!(it2["iteration"], 2);
    assert_eq!(it2["data"]["status"], "error");
    assert_eq!(it2["data"]["error"], "budget exhausted");

    let end = by("session_end")[0];
    assert_eq!(end["span_id"], start["span_id"]);
    assert_eq!(end["data"]["status"], "completed");
    assert_eq!(end["data"]["summary"]["tool_errors"], 2);
}

#[test]
fn capture_toggles_drop_content_but_keep_counts() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("quiet")
        .capture_messages(false)
        .capture_thinking(false)
        .capture_tool_args(false)
        .capture_tool_results(false)
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    session.record_thinking("secret plan", Some(12));
    session
        .tool("grep", Some(&json!({"q": "x"})))
        .ok(Some(&json!("hit")));
    session.record_llm_response(&LlmResponse {
        content: Some("answer"),
        usage: TokenUsage::otel(1, 1),
        ..Default::default()
    });
    drop(session);
    let text = std::fs::read_to_string(path).unwrap();
    for gone in ["secret plan", "\"args\"", "\"result\"", "answer"] {
        assert!(!text.contains(gone), "{gone} was captured");
    }
    assert!(text.contains("\"tokens\":12"));
    assert!(text.contains("\"input_tokens\":1"));
}

#[test]
fn a_disabled_recorder_writes_nothing_and_costs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .enabled(false)
        .start()
        .unwrap();
    assert!(!session.is_recording());
    let it = session.iteration();
    it.tool("x", None).ok(None);
    drop(it);
    assert!(!session.flush());
    drop(session);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
