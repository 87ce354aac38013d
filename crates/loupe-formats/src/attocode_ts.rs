//! attocode TypeScript `TraceCollector` JSONL (`_type` lines, see
//! seed-formats.md §1.2–§1.4), including the older lesson shape
//! (`tokens.cacheRead`/`tokens.cacheWrite`).
//!
//! Normalisation:
//! - `_ts` (ISO 8601, ms) becomes a UTC timestamp; `traceId` becomes `trace_id`.
//! - Lines tagged `subagentId` (written through a subagent view) keep the
//!   *parent's* session id and get `agent = {id: subagentId, type:
//!   subagentType, parent_session_id, spawned_at_iteration}`.
//! - Tokens: `tokens.input` already counts cache reads **and** cache writes.
//!   The data shows it: in every real `llm.response`, `cache.freshTokens =
//!   input − cacheReadTokens` equals `cacheWriteTokens` (single-task-healthy:
//!   6600 = 5200 read + 1400 written), and the lesson line has 5000 = 4200 +
//!   800. So `usage = {input_tokens: tokens.input, cache_read_tokens,
//!   cache_write_tokens}` is already OpenTelemetry-shaped; nothing is added.
//! - `llm.request`/`llm.response` share `span_id = requestId`; the response
//!   gets the request's `model` (the collector does not repeat it).
//! - `tool.execution` becomes `tool_end` (status `success`) or `tool_error`
//!   (`error`, `timeout`, `blocked`; `status` kept), with `duration_ms`.
//! - Nested records (`decision`, `memory.retrieval`, `plan.evolution`,
//!   `subagent.link`, `llm.thinking`) are flattened into `data`.
//! - Every other field is kept in `data` under its original name; the
//!   original `_type` is kept as `data.source_kind` when it differs from the
//!   canonical name. Unknown `_type`s are kept as kinds of their own name.

use std::collections::HashMap;

use loupe_model::{keys, AgentRef, Event, EventKind, TokenUsage};
use serde_json::Value;

use crate::common::{derived_event_id, get_u64, EndedSessions, LineCtx, LineParser};
use crate::fields::Fields;
use crate::Sink;

/// Pending `llm.request` models kept at most; a collector that never answers
/// must not make memory grow without bound.
const MAX_PENDING_REQUESTS: usize = 4096;

/// Reader state for one attocode-ts file.
pub(crate) struct AttocodeTsReader {
    session: Option<String>,
    fallback_session: String,
    request_models: HashMap<String, Value>,
    ended: EndedSessions,
}

impl AttocodeTsReader {
    /// `fallback_session` is used until a `session.start` names the session
    /// (tail reads, files whose first lines were lost).
    pub(crate) fn new(fallback_session: String) -> Self {
        AttocodeTsReader {
            session: None,
            fallback_session,
            request_models: HashMap::new(),
            ended: EndedSessions::default(),
        }
    }
}

impl LineParser for AttocodeTsReader {
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
        let mut map = Fields::parse_line(line)?;
        let type_name = map
            .take_string("_type")
            .ok_or("`_type` is missing or not a string")?;
        let timestamp = map.take_timestamp("_ts")?;
        let trace_id = map.take_string("traceId");
        let agent = take_agent(&mut map);

        // The session: the main agent's `session.start` sets it; subagent
        // lines (a subagent's own `session.start` included) stay in the parent's.
        if type_name == "session.start" && agent.is_none() {
            if let Some(s) = map.get_str("sessionId") {
                if self.session.as_deref() != Some(s) {
                    self.session = Some(s.to_owned());
                }
            }
        }
        let named = map.get_str("sessionId");
        // A session or task line names its session, unless the file's start
        // was lost (a tail read): then the lines before it went to the
        // fallback session, and its end belongs with them, not in a session
        // of its own with nothing in it.
        let session_id = match (&type_name[..], named) {
            (t, Some(s))
                if agent.is_none()
                    && (t.starts_with("session.") || t.starts_with("task."))
                    && (t == "session.start" || self.session.is_some()) =>
            {
                s.to_owned()
            }
            _ => self
                .session
                .clone()
                .unwrap_or_else(|| self.fallback_session.clone()),
        };
        if named == Some(session_id.as_str()) {
            map.remove("sessionId");
        }

        let event_id = derived_event_id(&session_id, ctx.line_no, line);
        let mut event = Event::new(event_id, EventKind::Custom, timestamp, session_id);
        event.trace_id = trace_id;
        event.agent = agent.map(Box::new);
        let (kind, usage) = self.map_kind(&type_name, &mut event, &mut map);
        event.kind = kind;
        if event.kind.as_str() != type_name {
            map.insert(keys::SOURCE_KIND, Value::String(type_name));
        }
        event.data = map.into_map();
        if let Some(usage) = usage {
            event.set_usage(&usage);
        }
        self.ended.note(&event, ctx.source, sink);
        sink.event(ctx.source, event);
        Ok(())
    }
}

impl AttocodeTsReader {
    /// Maps one line's `_type` and reshapes its fields. Fields moved onto the
    /// envelope or renamed are removed from `map`; what remains is kept as
    /// data. Also returns the LLM usage to store in `data.usage`.
    fn map_kind(
        &mut self,
        type_name: &str,
        event: &mut Event,
        map: &mut Fields<'_>,
    ) -> (EventKind, Option<TokenUsage>) {
        let mut usage = None;
        let kind = match type_name {
            "session.start" => {
                map.rename("task", keys::TASK);
                EventKind::SessionStart
            }
            "session.end" => {
                event.duration_ms = map.take_f64("durationMs");
                EventKind::SessionEnd
            }
            "task.start" => {
                event.span_id = map.take_string("taskId");
                EventKind::TaskStart
            }
            "task.end" => {
                event.span_id = map.take_string("taskId");
                event.duration_ms = map.take_f64("durationMs");
                EventKind::TaskEnd
            }
            "llm.request" => {
                event.span_id = map.take_string("requestId");
                map.rename("messageCount", keys::MESSAGE_COUNT);
                map.rename("toolCount", keys::TOOL_COUNT);
                if let (Some(id), Some(model)) = (&event.span_id, map.get(keys::MODEL)) {
                    if self.request_models.len() >= MAX_PENDING_REQUESTS {
                        self.request_models.clear();
                    }
                    self.request_models.insert(id.clone(), model.clone());
                }
                EventKind::LlmRequest
            }
            "llm.response" => {
                event.span_id = map.take_string("requestId");
                event.duration_ms = map.take_f64("durationMs");
                if let Some(model) = event
                    .span_id
                    .as_ref()
                    .and_then(|id| self.request_models.remove(id))
                {
                    map.insert_if_absent(keys::MODEL, model);
                }
                map.rename("stopReason", keys::STOP_REASON);
                map.rename("toolCallCount", keys::TOOL_CALLS);
                usage = Some(usage_of(map)).filter(|u| !u.is_empty());
                EventKind::LlmResponse
            }
            "llm.thinking" => {
                event.parent_event_id = map.take_string("requestId");
                map.flatten("thinking");
                map.rename("content", keys::THINKING);
                map.rename("estimatedTokens", keys::TOKENS);
                EventKind::Thinking
            }
            "tool.execution" => {
                event.span_id = map.take_string("executionId");
                event.duration_ms = map.take_f64("durationMs");
                map.rename("toolName", keys::TOOL);
                map.rename("input", keys::ARGS);
                map.rename("outputPreview", keys::RESULT);
                map.rename("errorMessage", keys::ERROR);
                match map.get_str(keys::STATUS) {
                    Some("success") | None => EventKind::ToolEnd,
                    Some(_) => EventKind::ToolError,
                }
            }
            "error" => {
                map.rename("errorMessage", keys::ERROR);
                map.rename("errorCode", keys::ERROR_TYPE);
                EventKind::Error
            }
            "decision" => {
                map.flatten("decision");
                EventKind::Decision
            }
            "memory.retrieval" => {
                map.flatten("retrieval");
                EventKind::MemoryRetrieval
            }
            "plan.evolution" => {
                map.flatten("evolution");
                EventKind::PlanEvolution
            }
            "subagent.link" => {
                map.flatten("link");
                EventKind::SubagentLink
            }
            "context.compacted" => {
                map.rename("tokensBefore", keys::TOKENS_BEFORE);
                map.rename("tokensAfter", keys::TOKENS_AFTER);
                if let (Some(b), Some(a)) = (
                    map.get_u64(keys::TOKENS_BEFORE),
                    map.get_u64(keys::TOKENS_AFTER),
                ) {
                    map.insert(keys::TOKENS_SAVED, Value::from(b.saturating_sub(a)));
                }
                EventKind::CompactionEnd
            }
            "swarm.start" => EventKind::SwarmStart,
            "swarm.decomposition" => EventKind::SwarmDecomposition,
            "swarm.wave" => match map.get_str("phase") {
                Some("complete") => EventKind::SwarmWaveComplete,
                _ => EventKind::SwarmWaveStart,
            },
            "swarm.task" => {
                map.rename("costUsed", keys::COST_USD);
                match map.get_str("phase") {
                    Some("completed") => EventKind::SwarmTaskComplete,
                    Some("failed") => EventKind::SwarmTaskFailed,
                    Some("skipped") => EventKind::SwarmTaskSkipped,
                    _ => EventKind::SwarmTaskStart,
                }
            }
            "swarm.quality" => EventKind::SwarmQuality,
            "swarm.budget" => EventKind::SwarmBudget,
            "swarm.verification" => EventKind::SwarmVerification,
            "swarm.complete" => EventKind::SwarmComplete,
            "codebase.map" => EventKind::CodebaseMap,
            "blackboard.event" => EventKind::Blackboard,
            "budget.pool" => EventKind::BudgetPool,
            "budget.check" => {
                if event.iteration.is_none() {
                    event.iteration = map.take_u32("iteration");
                }
                EventKind::BudgetCheck
            }
            "filecache.event" => EventKind::FileCache,
            "context.injection" => EventKind::ContextInjection,
            // Parsed by the viewer but never written by the collector (§1.3).
            "iteration.wrapper" => match map.get_str("phase") {
                Some("end") => EventKind::IterationEnd,
                _ => EventKind::IterationStart,
            },
            other => EventKind::Other(other.to_owned()),
        };
        (kind, usage)
    }
}

/// Removes the subagent tags and builds the agent identity.
fn take_agent(map: &mut Fields<'_>) -> Option<AgentRef> {
    let id = map.take_string("subagentId")?;
    Some(AgentRef {
        id,
        name: None,
        agent_type: map.take_string("subagentType"),
        parent_session_id: map.take_string("parentSessionId"),
        spawned_at_iteration: map.take_u32("spawnedAtIteration"),
    })
}

/// Builds OTel usage from `tokens` and `cache`; the counts used are removed
/// from those objects, the rest of them (breakdown, hit rate...) is kept.
fn usage_of(map: &mut Fields<'_>) -> TokenUsage {
    let mut usage = TokenUsage::default();
    if let Some(Value::Object(tokens)) = map.get_mut("tokens") {
        usage.input_tokens = get_u64(tokens, "input");
        usage.output_tokens = get_u64(tokens, "output");
        // Lesson shape: cache counts inside `tokens`.
        usage.cache_read_tokens = get_u64(tokens, "cacheRead");
        usage.cache_write_tokens = get_u64(tokens, "cacheWrite");
        for k in ["input", "output", "cacheRead", "cacheWrite"] {
            tokens.remove(k);
        }
        if tokens.is_empty() {
            map.remove("tokens");
        }
    }
    if let Some(Value::Object(cache)) = map.get_mut("cache") {
        if let Some(n) = get_u64(cache, "cacheReadTokens") {
            usage.cache_read_tokens = Some(n);
        }
        if let Some(n) = get_u64(cache, "cacheWriteTokens") {
            usage.cache_write_tokens = Some(n);
        }
        cache.remove("cacheReadTokens");
        cache.remove("cacheWriteTokens");
    }
    // Anything called `tokens` left in data would read as a count (keys::TOKENS).
    if let Some(rest) = map.remove("tokens") {
        map.insert("token_details", rest);
    }
    usage
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Collected, Source};
    use loupe_model::SourceFormat;

    fn read(text: &str) -> Collected {
        let source = Source {
            path: "t.jsonl".into(),
            format: SourceFormat::AttocodeTs,
        };
        let mut out = Collected::default();
        let mut r = AttocodeTsReader::new("fallback".into());
        crate::common::drive_lines(text.as_bytes(), 1, &source, &mut r, &mut out).unwrap();
        out
    }

    #[test]
    fn a_session_is_done_only_after_its_own_end_once_another_starts() {
        let out = read(concat!(
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:00.000Z","sessionId":"s1"}"#,
            "\n",
            // Another session's start and end inside s1 do not end s1.
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:01.000Z","sessionId":"sub","subagentId":"r-1"}"#,
            "\n",
            r#"{"_type":"session.end","_ts":"2026-02-28T12:00:02.000Z","sessionId":"sub","subagentId":"r-1"}"#,
            "\n",
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:03.000Z","sessionId":"sub2","subagentId":"r-2"}"#,
            "\n",
            r#"{"_type":"session.end","_ts":"2026-02-28T12:00:04.000Z","sessionId":"s1"}"#,
            "\n",
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:05.000Z","sessionId":"s2"}"#,
            "\n",
        ));
        let s1: Vec<usize> = out
            .done
            .iter()
            .filter(|(_, id)| id == "s1")
            .map(|(at, _)| *at)
            .collect();
        // Once, after its end (the fifth event), before s2 starts.
        assert_eq!(s1, [5], "{:?}", out.done);
    }

    #[test]
    fn a_subagents_own_session_start_does_not_take_over_the_parents_lines() {
        let out = read(concat!(
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:00.000Z","sessionId":"s1"}"#,
            "\n",
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:01.000Z","sessionId":"sub-coder","subagentId":"coder-3-2"}"#,
            "\n",
            r#"{"_type":"session.end","_ts":"2026-02-28T12:00:02.000Z","sessionId":"sub-coder","subagentId":"coder-3-2"}"#,
            "\n",
            // The parent goes on after its subagent ended.
            r#"{"_type":"llm.request","_ts":"2026-02-28T12:00:03.000Z","requestId":"r9","model":"m"}"#,
            "\n",
            r#"{"_type":"session.end","_ts":"2026-02-28T12:00:04.000Z","sessionId":"s1"}"#,
            "\n",
        ));
        let sessions: Vec<&str> = out
            .events
            .iter()
            .map(|(_, e)| e.session_id.as_str())
            .collect();
        assert_eq!(sessions, ["s1"; 5]);
        assert!(out.events[1].1.agent.is_some() && out.events[3].1.agent.is_none());
    }

    #[test]
    fn a_file_missing_its_start_is_one_session_with_its_end() {
        // `tail -n +2`: the start line is gone; the end still names the session.
        let out = read(concat!(
            r#"{"_type":"llm.request","_ts":"2026-02-28T12:00:01.000Z","requestId":"r1","model":"m"}"#,
            "\n",
            r#"{"_type":"llm.response","_ts":"2026-02-28T12:00:02.000Z","requestId":"r1","durationMs":900,"tokens":{"input":10,"output":5}}"#,
            "\n",
            r#"{"_type":"session.end","_ts":"2026-02-28T12:00:04.000Z","sessionId":"s1","status":"completed"}"#,
            "\n",
        ));
        let sessions: Vec<&str> = out
            .events
            .iter()
            .map(|(_, e)| e.session_id.as_str())
            .collect();
        assert_eq!(
            sessions, ["fallback"; 3],
            "no empty session of its own for the end"
        );
        assert_eq!(out.events[2].1.kind, EventKind::SessionEnd);
    }

    #[test]
    fn a_line_cut_inside_an_emoji_is_read_with_a_replacement_character() {
        // JSON.stringify("…😀".slice(0, -1)) writes a lone high surrogate.
        let out = read(concat!(
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:00.000Z","sessionId":"s1","task":"make the tests pass \ud83d"}"#,
            "\n",
        ));
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        assert_eq!(
            out.events[0].1.str(keys::TASK),
            Some("make the tests pass \u{fffd}")
        );
    }

    #[test]
    fn subagent_lines_belong_to_the_parent_session_with_an_agent() {
        let out = read(concat!(
            r#"{"_type":"session.start","_ts":"2026-02-28T12:00:00.000Z","sessionId":"s1","model":"m"}"#,
            "\n",
            r#"{"_type":"llm.request","_ts":"2026-02-28T12:00:01.000Z","requestId":"r1","model":"haiku","subagentId":"researcher-2-1","subagentType":"researcher","parentSessionId":"x","spawnedAtIteration":2}"#,
            "\n",
            r#"{"_type":"llm.response","_ts":"2026-02-28T12:00:02.000Z","requestId":"r1","durationMs":900,"tokens":{"input":6600,"output":520,"total":7120},"cache":{"cacheReadTokens":5200,"cacheWriteTokens":1400,"hitRate":0.78},"subagentId":"researcher-2-1","subagentType":"researcher","parentSessionId":"x","spawnedAtIteration":2}"#,
            "\n",
        ));
        let resp = &out.events[2].1;
        assert_eq!(resp.session_id, "s1");
        let agent = resp.agent.as_ref().unwrap();
        assert_eq!(agent.id, "researcher-2-1");
        assert_eq!(agent.spawned_at_iteration, Some(2));
        assert_eq!(resp.model(), Some("haiku"));
        assert_eq!(resp.span_id.as_deref(), Some("r1"));
        let u = resp.usage();
        assert_eq!(
            (u.input(), u.cache_read(), u.cache_write(), u.output()),
            (6600, 5200, 1400, 520)
        );
        assert_eq!(resp.duration_ms, Some(900.0));
    }

    #[test]
    fn tool_execution_status_picks_end_or_error() {
        let out = read(concat!(
            r#"{"_type":"tool.execution","_ts":"2026-02-28T12:00:00.000Z","toolName":"bash","durationMs":5,"status":"timeout"}"#,
            "\n",
            r#"{"_type":"tool.execution","_ts":"2026-02-28T12:00:00.000Z","toolName":"bash","durationMs":5,"status":"success"}"#,
            "\n",
        ));
        assert_eq!(out.events[0].1.kind, EventKind::ToolError);
        assert_eq!(out.events[0].1.status(), Some("timeout"));
        assert_eq!(
            out.events[0].1.str(keys::SOURCE_KIND),
            Some("tool.execution")
        );
        assert_eq!(out.events[1].1.kind, EventKind::ToolEnd);
        assert_eq!(out.events[1].1.tool_name(), Some("bash"));
        assert_eq!(out.events[1].1.session_id, "fallback");
    }
}
