//! Agent Trace session directories: `session-{id}/events.jsonl` lines with
//! `timestamp, event_type, session_id, run_id, turn, data, duration_ms,
//! error`, plus the sibling `metadata.json` (seed-formats.md §4).
//!
//! Normalisation:
//! - `session.start` gets the directory's `metadata.json` under
//!   `data.metadata` (the file alone is not a trace; the directory walk
//!   leaves it to this reader).
//! - `turn.start`/`turn.end` become `turn_start`/`turn_end` with `turn` on the
//!   envelope and `span_id = run_id`; other events of a turn get
//!   `parent_event_id = run_id`. Open turns (no `turn.end`, the normal case
//!   for a successful `trace_turn`) stay open.
//! - `llm.response`: `tokens {prompt, completion}` (also `input`/`output`,
//!   `prompt_tokens`/`completion_tokens`) becomes `data.usage`; a list of
//!   `tool_calls` becomes its count in `tool_calls` and the list in
//!   `tool_call_list`; an envelope `error` sets `data.error` and
//!   `status: "error"` (the event stays an `llm_response`: the call happened).
//! - `tool.call` → `tool_start`; `tool.result` → `tool_end` (`success: true`)
//!   or `tool_error`; `tool_name` becomes `tool`.
//! - `thinking` → `thinking` with the text in `thinking`.
//! - `session.end`: `outcome` becomes `status`; `duration_ms` kept.

use loupe_model::{keys, Event, EventKind, TokenUsage};
use serde_json::{Map, Value};

use crate::common::{
    derived_event_id, get_u64, parse_object, rename, take_f64, take_string, take_timestamp,
    take_u32, LineCtx, LineParser,
};
use crate::{Sink, Skipped};

/// Reader state for one `events.jsonl`.
pub(crate) struct AgentTraceReader {
    fallback_session: String,
    metadata: Option<Map<String, Value>>,
    /// Why the sibling `metadata.json` could not be used, said once.
    metadata_problem: Option<Skipped>,
}

impl AgentTraceReader {
    /// `metadata` is the parsed sibling `metadata.json`, when there is one;
    /// `metadata_problem` says why one that is there could not be used.
    pub(crate) fn new(
        fallback_session: String,
        metadata: Option<Map<String, Value>>,
        metadata_problem: Option<Skipped>,
    ) -> Self {
        AgentTraceReader {
            fallback_session,
            metadata,
            metadata_problem,
        }
    }
}

impl LineParser for AgentTraceReader {
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
        if let Some(problem) = self.metadata_problem.take() {
            sink.skip(problem);
        }
        let mut map = parse_object(line)?;
        let type_name =
            take_string(&mut map, "event_type").ok_or("`event_type` is missing or not a string")?;
        let timestamp = take_timestamp(&mut map, "timestamp")?;
        let session_id = take_string(&mut map, "session_id")
            .or_else(|| {
                self.metadata
                    .as_ref()
                    .and_then(|m| m.get("session_id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| self.fallback_session.clone());
        let event_id = derived_event_id(&session_id, ctx.line_no, line);
        let mut event = Event::new(event_id, EventKind::Custom, timestamp, session_id);
        let run_id = take_string(&mut map, "run_id");
        event.turn = take_u32(&mut map, "turn");
        event.duration_ms = take_f64(&mut map, "duration_ms");
        let error = match map.remove("error") {
            None | Some(Value::Null) => None,
            Some(e) => Some(e),
        };
        let mut data = match map.remove("data") {
            Some(Value::Object(d)) => d,
            Some(Value::Null) | None => Map::new(),
            Some(other) => Map::from_iter([("data".to_owned(), other)]),
        };
        for (k, v) in map {
            data.entry(k).or_insert(v);
        }
        if let Some(e) = error {
            data.insert(keys::ERROR.to_owned(), e);
        }

        event.kind = match type_name.as_str() {
            "session.start" => {
                if let Some(meta) = &self.metadata {
                    data.insert(keys::METADATA.to_owned(), Value::Object(meta.clone()));
                }
                EventKind::SessionStart
            }
            "session.end" => {
                rename(&mut data, "outcome", keys::STATUS);
                EventKind::SessionEnd
            }
            "turn.start" => EventKind::TurnStart,
            "turn.end" => EventKind::TurnEnd,
            "llm.request" => {
                rename(&mut data, "message_count", keys::MESSAGE_COUNT);
                EventKind::LlmRequest
            }
            "llm.response" => {
                if let Some(Value::Array(calls)) = data.remove(keys::TOOL_CALLS) {
                    data.insert(keys::TOOL_CALLS.to_owned(), Value::from(calls.len()));
                    data.insert("tool_call_list".to_owned(), Value::Array(calls));
                }
                if data.contains_key(keys::ERROR) {
                    data.insert(keys::STATUS.to_owned(), Value::from("error"));
                }
                let usage = usage_of(&data);
                if !usage.is_empty() {
                    if let Ok(v) = serde_json::to_value(usage) {
                        data.remove(keys::TOKENS);
                        data.insert(keys::USAGE.to_owned(), v);
                    }
                }
                EventKind::LlmResponse
            }
            "tool.call" => {
                rename(&mut data, "tool_name", keys::TOOL);
                EventKind::ToolStart
            }
            "tool.result" => {
                rename(&mut data, "tool_name", keys::TOOL);
                let ok = data.get("success").and_then(Value::as_bool).unwrap_or(true)
                    && !data.contains_key(keys::ERROR);
                data.insert(
                    keys::STATUS.to_owned(),
                    Value::from(if ok { "success" } else { "error" }),
                );
                if ok {
                    EventKind::ToolEnd
                } else {
                    EventKind::ToolError
                }
            }
            "thinking" => {
                rename(&mut data, "content", keys::THINKING);
                rename(&mut data, "token_estimate", keys::TOKENS);
                EventKind::Thinking
            }
            other => EventKind::Other(other.to_owned()),
        };
        if event.kind.as_str() != type_name {
            data.insert(keys::SOURCE_KIND.to_owned(), Value::String(type_name));
        }
        match (&event.kind, run_id) {
            (EventKind::TurnStart | EventKind::TurnEnd, Some(run)) => event.span_id = Some(run),
            (_, Some(run)) => {
                event.parent_event_id = Some(run.clone());
                data.insert("run_id".to_owned(), Value::String(run));
            }
            (_, None) => {}
        }
        event.data = data;
        sink.event(ctx.source, event);
        Ok(())
    }
}

/// Reads the free-form `tokens` object in its common spellings.
fn usage_of(data: &Map<String, Value>) -> TokenUsage {
    let Some(Value::Object(t)) = data.get(keys::TOKENS) else {
        return TokenUsage::default();
    };
    let pick = |names: &[&str]| names.iter().find_map(|n| get_u64(t, n));
    let output_tokens = pick(&["completion", "output", "completion_tokens", "output_tokens"]);
    // The response's `thinking_tokens` (beside `tokens`, with its
    // `thinking` text) are reasoning, counted in the completion when they
    // fit in it (OpenTelemetry semantics: output includes reasoning).
    let thinking =
        get_u64(data, "thinking_tokens").filter(|&n| output_tokens.is_some_and(|out| n <= out));
    TokenUsage {
        input_tokens: pick(&["prompt", "input", "prompt_tokens", "input_tokens"]),
        output_tokens,
        cache_read_tokens: pick(&["cache_read", "cache_read_tokens", "cached_tokens"]),
        cache_write_tokens: pick(&["cache_write", "cache_write_tokens", "cache_creation_tokens"]),
        reasoning_tokens: pick(&["reasoning", "reasoning_tokens"]).or(thinking),
        total_tokens: None,
    }
    .with_unsplit_total(pick(&["total", "total_tokens"]))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Collected, Source};
    use loupe_model::SourceFormat;

    #[test]
    fn tokens_tool_results_and_open_turns() {
        let text = concat!(
            r#"{"timestamp": "2026-02-06T22:10:01.623456Z", "event_type": "turn.start", "session_id": "u", "run_id": "run-1", "turn": 1, "data": {}, "duration_ms": null, "error": null}"#,
            "\n",
            r#"{"timestamp": "2026-02-06T22:10:01.623456Z", "event_type": "llm.response", "session_id": "u", "run_id": "run-1", "turn": 1, "data": {"model": "gpt-4", "tool_calls": [{"name": "run_sql"}], "tokens": {"prompt": 100, "completion": 20}}, "duration_ms": 1500.0, "error": null}"#,
            "\n",
            r#"{"timestamp": "2026-02-06T22:10:07.503456Z", "event_type": "tool.result", "session_id": "u", "run_id": "run-1", "turn": 1, "data": {"tool_name": "make_chart", "success": false}, "duration_ms": 50.0, "error": "unknown chart type"}"#,
            "\n",
        );
        let source = Source {
            path: "events.jsonl".into(),
            format: SourceFormat::AgentTrace,
        };
        let mut out = Collected::default();
        let mut r = AgentTraceReader::new("x".into(), None, None);
        crate::common::drive_lines(text.as_bytes(), 1, &source, &mut r, &mut out).unwrap();
        let resp = &out.events[1].1;
        assert_eq!(resp.usage(), TokenUsage::otel(100, 20));
        assert_eq!(resp.u64(keys::TOOL_CALLS), Some(1));
        assert_eq!(resp.parent_event_id.as_deref(), Some("run-1"));
        let tool = &out.events[2].1;
        assert_eq!(tool.kind, EventKind::ToolError);
        assert_eq!(tool.tool_name(), Some("make_chart"));
        assert_eq!(tool.error_message().as_deref(), Some("unknown chart type"));
        assert_eq!(out.events[0].1.span_id.as_deref(), Some("run-1"));
        assert_eq!(out.events[0].1.turn, Some(1));
    }
}
