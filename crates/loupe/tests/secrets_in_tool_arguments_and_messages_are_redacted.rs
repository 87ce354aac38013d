//! Redaction: an Anthropic-style and an OpenAI-style key, a bearer token and
//! a password field, in tool arguments and in message content, never reach
//! the file; the surrounding text does.
#![allow(clippy::unwrap_used)]

use loupe::{LlmRequest, LlmResponse, Recorder, ToolCall};
use serde_json::json;

const ANTHROPIC: &str = "sk-ant-api03-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LzXcVbNm";
const OPENAI: &str = "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6";
const BEARER: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig_abc123";
const PASSWORD: &str = "correct horse battery staple";

#[test]
fn keys_tokens_and_passwords_are_replaced_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("redact")
        .redact_pattern("ACME-[0-9]{6}")
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let args = json!({
        "command": format!("curl -H 'Authorization: Bearer {BEARER}' https://api.example.com"),
        "env": {"ANTHROPIC_API_KEY": ANTHROPIC, "password": PASSWORD},
        "config": format!("{{\"api_key\": \"{OPENAI}\", \"retries\": 3}}"),
        "ticket": "ACME-123456",
    });
    session.record_tool_call(&ToolCall {
        tool: "bash",
        args: Some(&args),
        result: Some(&json!(format!("used {OPENAI}"))),
        ..Default::default()
    });
    let messages = json!([
        {"role": "user", "content": format!("my key is {ANTHROPIC} and my password: {PASSWORD}")},
        {"role": "user", "content": format!("login with password={PASSWORD}")},
    ]);
    session.record_llm_request(&LlmRequest {
        messages: Some(&messages),
        ..Default::default()
    });
    session.record_llm_response(&LlmResponse {
        content: Some(&format!("Set OPENAI_API_KEY={OPENAI} then retry")),
        ..Default::default()
    });
    drop(session);

    let text = std::fs::read_to_string(&path).unwrap();
    for secret in [ANTHROPIC, OPENAI, BEARER, "ACME-123456", "horse battery"] {
        assert!(!text.contains(secret), "{secret} leaked:\n{text}");
    }
    // The redaction is visible and the rest of the text survives.
    assert!(text.contains("Bearer [REDACTED]"));
    assert!(text.contains("my key is [REDACTED]"));
    assert!(text.contains("https://api.example.com"));
    assert!(text.contains("\"password\":\"[REDACTED]\""));
    assert!(text.contains("\\\"retries\\\": 3"));
}

#[test]
fn redaction_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("plain")
        .redact(false)
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    session.record_thinking(&format!("key {OPENAI}"), None);
    drop(session);
    assert!(std::fs::read_to_string(path).unwrap().contains(OPENAI));
}

/// Two patterns matching one value (a key after `x-api-key:`) redact it
/// once, and a URL's password goes too.
#[test]
fn overlapping_patterns_leave_no_stray_bracket_and_url_passwords_go() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("overlap")
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let args = json!({
        "header": format!("x-api-key: {ANTHROPIC}"),
        "pair": format!("api_key={ANTHROPIC}"),
        "dsn": "postgres://user:s3cretpw@db",
    });
    session.record_tool_call(&ToolCall {
        tool: "connect",
        args: Some(&args),
        ..Default::default()
    });
    drop(session);
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text.lines().find(|l| l.contains("\"connect\"")).unwrap();
    let ev: serde_json::Value = serde_json::from_str(line).unwrap();
    let args = &ev["data"]["args"];
    assert_eq!(args["header"], "x-api-key: [REDACTED]");
    assert_eq!(args["pair"], "api_key=[REDACTED]");
    assert_eq!(args["dsn"], "postgres://user:[REDACTED]@db");
}

/// A secret in a subagent's id is redacted alike in the spawn's
/// `data.agent_id` and in the `agent.id` of every event it records, on
/// both the built-event and the deferred `llm_response` paths.
#[test]
fn a_secret_in_a_subagent_id_is_redacted_in_agent_too() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("agent-id")
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let sub = session.subagent(&format!("worker-{ANTHROPIC}"), Some("coder"), None);
    sub.record_llm_response(&LlmResponse {
        model: Some("gpt-4o"),
        ..Default::default()
    });
    sub.record_tool_call(&ToolCall {
        tool: "t",
        ..Default::default()
    });
    sub.complete(None);
    drop(session);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(ANTHROPIC), "leaked:\n{text}");
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let spawn = events
        .iter()
        .find(|e| e["kind"] == "subagent_spawn")
        .unwrap();
    let id = spawn["data"]["agent_id"].as_str().unwrap();
    assert_eq!(id, "worker-[REDACTED]");
    let inside: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "llm_response" || e["kind"] == "tool_end")
        .collect();
    assert_eq!(inside.len(), 2);
    for ev in inside {
        assert_eq!(ev["agent"]["id"], id, "{ev}");
        assert_eq!(ev["agent"]["type"], "coder", "{ev}");
    }
}
