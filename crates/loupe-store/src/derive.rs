//! What the store derives from events, identically in every backend: the
//! searchable texts of an event and the tool run it closes.

use loupe_model::{keys, Event, EventKind, SessionStatus};
use serde_json::Value;

use crate::rows::ToolRun;

/// Payload keys whose string values (at any depth) are full-text indexed:
/// messages, responses, tool arguments and results, errors, thinking, tasks.
pub const TEXT_KEYS: &[&str] = &[
    keys::MESSAGES,
    keys::CONTENT,
    keys::ARGS,
    keys::RESULT,
    keys::ERROR,
    keys::THINKING,
    keys::MESSAGE,
    keys::TASK,
];

/// Strings at least this long are indexed wherever they appear (a large
/// string is text content even under a key Loupe does not know).
pub const LONG_TEXT_BYTES: usize = 256;

/// The searchable texts of an event (non-empty strings only).
pub fn searchable_texts(event: &Event) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    fn walk<'a>(v: &'a Value, under: bool, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) if !s.is_empty() && (under || s.len() >= LONG_TEXT_BYTES) => {
                out.push(s)
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, under, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, under, out)),
            _ => {}
        }
    }
    for (key, value) in &event.data {
        walk(value, TEXT_KEYS.contains(&key.as_str()), &mut out);
    }
    out
}

/// The tool run an event closes: `tool_end` or `tool_error` naming its tool.
/// A run failed when the event is a `tool_error`, carries an error, or has a
/// failure-like status (`error`, `failed`, `timeout`, `cancelled`, `blocked`...).
pub fn tool_run(event: &Event) -> Option<ToolRun> {
    if !matches!(event.kind, EventKind::ToolEnd | EventKind::ToolError) {
        return None;
    }
    let tool = event.tool_name()?.to_owned();
    let status_ok = event.status().is_none_or(|s| {
        s.trim() != "blocked"
            && !matches!(
                SessionStatus::from_lenient(s),
                SessionStatus::Failed | SessionStatus::Cancelled
            )
    });
    let success = event.kind == EventKind::ToolEnd && event.error_message().is_none() && status_ok;
    Some(ToolRun {
        session_id: event.session_id.clone(),
        event_id: event.event_id.clone(),
        tool,
        timestamp: event.timestamp,
        duration_ms: event.duration_ms.filter(|d| d.is_finite()),
        success,
        iteration: event.iteration,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use loupe_model::Timestamp;
    use serde_json::json;

    #[test]
    fn texts_come_from_text_keys_and_long_strings_only() {
        let long = "x".repeat(LONG_TEXT_BYTES);
        let e = Event::new("e", EventKind::LlmRequest, Timestamp(0), "s")
            .with(
                keys::MESSAGES,
                json!([{"role": "user", "content": "fix the parser"}]),
            )
            .with(keys::MODEL, "gpt-5")
            .with("blob", long.clone());
        let mut texts = searchable_texts(&e);
        texts.sort_unstable();
        assert_eq!(texts, vec!["fix the parser", "user", long.as_str()]);
    }

    #[test]
    fn tool_runs_fail_on_error_or_failure_status() {
        let ok = Event::new("a", EventKind::ToolEnd, Timestamp(0), "s").with(keys::TOOL, "bash");
        assert!(tool_run(&ok).unwrap().success);
        let bad = ok.clone().with(keys::STATUS, "timeout");
        assert!(!tool_run(&bad).unwrap().success);
        let err = ok.clone().with(keys::ERROR, "exit 1");
        assert!(!tool_run(&err).unwrap().success);
        let start =
            Event::new("b", EventKind::ToolStart, Timestamp(0), "s").with(keys::TOOL, "bash");
        assert!(tool_run(&start).is_none());
    }
}
