//! `max_content_chars` cuts free text only: with a limit shorter than the
//! library's own keys and identifiers, every line still matches the JSON
//! schema, token counts survive, and the guard and `record_llm_response`
//! paths write the same `llm_response` payload.
#![allow(clippy::unwrap_used)]

mod common;

// Everything through `loupe`: the model crate is re-exported.
use loupe::loupe_model::FORMAT_VERSION;
use loupe::{LlmRequest, LlmResponse, Recorder, SessionStatus, TokenUsage, ToolCall};
use serde_json::json;

const MODEL: &str = "claude-sonnet-4-5";

#[test]
fn keys_usage_and_identifiers_survive_a_tiny_content_limit() {
    let validator = common::schema_validator();
    let usage = || {
        TokenUsage::otel(1000, 10)
            .with_cache(500, 100)
            .with_reasoning(5)
    };

    for limit in [16, 10] {
        let dir = tempfile::tempdir().unwrap();
        let session = Recorder::builder()
            .dir(dir.path())
            .session_id(format!("tiny-{limit}"))
            .task("a task described at some length")
            .model(MODEL)
            .max_content_chars(limit)
            .start()
            .unwrap();
        let path = session.path().unwrap().to_owned();
        let call = session.llm_call(&LlmRequest {
            model: Some(MODEL),
            ..Default::default()
        });
        call.response(&LlmResponse {
            usage: usage(),
            stop_reason: Some("end_turn_because_done"),
            ..Default::default()
        });
        session.record_llm_response(&LlmResponse {
            model: Some(MODEL),
            usage: usage(),
            stop_reason: Some("end_turn_because_done"),
            ..Default::default()
        });
        session.record_tool_call(&ToolCall {
            tool: "read_file_with_a_long_name",
            args: Some(&json!({"path_argument_key": "some/long/path/to/a/file.rs"})),
            error: Some("no such file or directory (os error 2)"),
            ..Default::default()
        });
        session.end(SessionStatus::Completed);

        let events = common::read_events(&path);
        for ev in &events {
            let errors: Vec<String> = match validator.validate(ev) {
                Ok(()) => Vec::new(),
                Err(errs) => errs.map(|e| e.to_string()).collect(),
            };
            assert!(errors.is_empty(), "limit {limit}: {errors:?}\n{ev}");
            assert!(
                !ev.to_string().contains("truncated")
                    || ev["kind"] == "session_start"
                    || ev["kind"] == "tool_error",
                "limit {limit}: only free text is cut: {ev}"
            );
        }

        let start = &common::of_kind(&events, "session_start")[0]["data"];
        assert_eq!(start["format"], "loupe");
        assert_eq!(start["format_version"], FORMAT_VERSION);
        assert_eq!(start["model"], MODEL);
        assert!(start["task"].as_str().unwrap().contains("…[truncated"));

        let responses = common::of_kind(&events, "llm_response");
        assert_eq!(responses.len(), 2);
        for r in &responses {
            let data = &r["data"];
            assert_eq!(data["model"], MODEL, "limit {limit}: {r}");
            assert_eq!(data["stop_reason"], "end_turn_because_done");
            assert_eq!(
                data["usage"],
                json!({
                    "input_tokens": 1000,
                    "output_tokens": 10,
                    "cache_read_tokens": 500,
                    "cache_write_tokens": 100,
                    "reasoning_tokens": 5,
                }),
                "limit {limit}: {r}"
            );
        }
        // The two API paths agree on the payload.
        assert_eq!(responses[0]["data"], responses[1]["data"]);

        let tool = &common::of_kind(&events, "tool_error")[0]["data"];
        assert_eq!(tool["tool"], "read_file_with_a_long_name");
        assert_eq!(tool["status"], "error");
        let args = tool["args"].as_object().unwrap();
        assert!(args.contains_key("path_argument_key"), "{args:?}");
        assert!(tool["error"].as_str().unwrap().contains("…[truncated"));

        let end = &common::of_kind(&events, "session_end")[0]["data"];
        assert_eq!(end["status"], "completed");
        assert_eq!(end["summary"]["cache_read_tokens"], 1000);
        assert_eq!(end["summary"]["cache_write_tokens"], 200);
        assert_eq!(end["summary"]["llm_calls"], 2);
    }
}
