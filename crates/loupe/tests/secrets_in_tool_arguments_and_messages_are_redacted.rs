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
