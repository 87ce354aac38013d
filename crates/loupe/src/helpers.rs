//! Typed helpers: one method per thing an agent does, for every category of
//! [`loupe_model::Category`], each writing the canonical payload keys
//! ([`loupe_model::keys`]) and bumping the O(1) summary counters.
//!
//! Payload shapes follow attocode-py's helpers (seed-formats.md §2.4) with
//! OpenTelemetry token semantics instead of its additive counts.

use std::fmt::Display;

use loupe_model::{keys, Event, EventKind, TokenUsage};
use serde_json::{Map, Value};

use crate::recorder::Recorder;
use crate::summary::Counters;
use crate::writer::{DeferredLlmResponse, Pending};

/// An LLM request about to be sent.
#[derive(Clone, Copy, Debug, Default)]
pub struct LlmRequest<'a> {
    /// Requested model (`claude-sonnet-4-5`).
    pub model: Option<&'a str>,
    /// Provider (`anthropic`, `openai`...).
    pub provider: Option<&'a str>,
    /// Number of messages sent.
    pub message_count: Option<u64>,
    /// Number of tool definitions sent.
    pub tool_count: Option<u64>,
    /// The messages themselves; kept only when message capture is on.
    pub messages: Option<&'a Value>,
}

/// An LLM response as received.
#[derive(Clone, Copy, Debug, Default)]
pub struct LlmResponse<'a> {
    /// Model that answered.
    pub model: Option<&'a str>,
    /// Provider.
    pub provider: Option<&'a str>,
    /// Token usage in OpenTelemetry semantics: `input_tokens` includes cache
    /// reads and writes. Anthropic users: build it with
    /// [`TokenUsage::from_additive`] from the API's `usage` block.
    pub usage: TokenUsage,
    /// Why generation stopped (`end_turn`, `tool_use`, `max_tokens`...).
    pub stop_reason: Option<&'a str>,
    /// Cost reported by the provider or gateway, in USD; leave `None` rather
    /// than guess, the analysers price by model.
    pub cost_usd: Option<f64>,
    /// Number of tool calls the model asked for.
    pub tool_calls: Option<u32>,
    /// Response text; kept only when message capture is on.
    pub content: Option<&'a str>,
    /// Call duration, when the caller measured it (guards set it themselves).
    pub duration_ms: Option<f64>,
}

/// A finished tool call (attocode-py's `record_tool_call`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ToolCall<'a> {
    /// Tool name.
    pub tool: &'a str,
    /// Provider-assigned call id.
    pub call_id: Option<&'a str>,
    /// Arguments; kept only when tool-argument capture is on.
    pub args: Option<&'a Value>,
    /// Result; kept only when tool-result capture is on.
    pub result: Option<&'a Value>,
    /// Error text: makes the event a `tool_error`.
    pub error: Option<&'a str>,
    /// Duration.
    pub duration_ms: Option<f64>,
}

/// Budget state for [`Recorder::record_budget`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetStatus {
    /// Within budget (`budget_check`).
    Ok,
    /// Close to the limit (`budget_warning`).
    Warning,
    /// Limit reached (`budget_exhausted`).
    Exhausted,
}

/// A finished compaction.
#[derive(Clone, Copy, Debug, Default)]
pub struct Compaction<'a> {
    /// Context tokens before.
    pub tokens_before: Option<u64>,
    /// Context tokens after.
    pub tokens_after: Option<u64>,
    /// Messages before.
    pub messages_before: Option<u64>,
    /// Messages after.
    pub messages_after: Option<u64>,
    /// Strategy name (`summarize`, `truncate`...).
    pub strategy: Option<&'a str>,
    /// Duration.
    pub duration_ms: Option<f64>,
}

/// How a swarm task went, for [`Recorder::record_swarm_task`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwarmTaskStatus {
    /// `swarm_task_start`.
    Started,
    /// `swarm_task_complete`.
    Completed,
    /// `swarm_task_failed`.
    Failed,
}

/// How a subagent ended, for [`Recorder::record_subagent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubagentEvent {
    /// `subagent_spawn`.
    Spawn,
    /// `subagent_complete`.
    Complete,
    /// `subagent_error`.
    Error,
    /// `subagent_timeout`.
    Timeout,
}

pub(crate) fn put(ev: &mut Event, key: &str, v: impl Into<Value>) {
    ev.data.insert(key.to_owned(), v.into());
}

pub(crate) fn put_opt<V: Into<Value>>(ev: &mut Event, key: &str, v: Option<V>) {
    if let Some(v) = v {
        ev.data.insert(key.to_owned(), v.into());
    }
}

/// Writes an `llm_response` payload (the one shape shared by the helper,
/// the LLM guard, the tracing layer and the writer's deferred records).
pub(crate) fn llm_response_payload(ev: &mut Event, resp: &LlmResponse<'_>, capture_messages: bool) {
    put_opt(ev, keys::MODEL, resp.model);
    put_opt(ev, keys::PROVIDER, resp.provider);
    if !resp.usage.is_empty() {
        ev.set_usage(&resp.usage);
    }
    put_opt(ev, keys::STOP_REASON, resp.stop_reason);
    put_opt(
        ev,
        keys::COST_USD,
        resp.cost_usd.filter(|&c| crate::writer::plausible(c)),
    );
    put_opt(ev, keys::TOOL_CALLS, resp.tool_calls);
    if capture_messages {
        put_opt(ev, keys::CONTENT, resp.content);
    }
    // A duration given that cannot be written leaves the measured one.
    if let Some(d) = resp.duration_ms.filter(|&d| crate::writer::plausible(d)) {
        ev.duration_ms = Some(d);
    }
}

/// Adds a response's tokens and reported cost to the summary.
fn count_llm_response(counters: &Counters, resp: &LlmResponse<'_>) {
    counters.add_usage(&resp.usage);
    if let Some(cost) = resp.cost_usd {
        counters.add_cost(cost);
    }
}

/// The counters an event kind feeds; shared by helpers, guards and bridges.
pub(crate) fn count(counters: &Counters, kind: &EventKind) {
    match kind {
        EventKind::IterationStart => Counters::bump(&counters.iterations),
        EventKind::TurnStart => Counters::bump(&counters.turns),
        EventKind::LlmResponse => Counters::bump(&counters.llm_calls),
        EventKind::LlmError => {
            Counters::bump(&counters.llm_calls);
            Counters::bump(&counters.errors);
        }
        EventKind::ToolEnd => Counters::bump(&counters.tool_calls),
        EventKind::ToolError => {
            Counters::bump(&counters.tool_calls);
            Counters::bump(&counters.tool_errors);
            Counters::bump(&counters.errors);
        }
        EventKind::Error | EventKind::SubagentError | EventKind::SubagentTimeout => {
            Counters::bump(&counters.errors)
        }
        EventKind::CompactionEnd => Counters::bump(&counters.compactions),
        EventKind::SubagentSpawn => Counters::bump(&counters.subagents),
        _ => {}
    }
}

impl Recorder {
    /// Counts and submits.
    pub(crate) fn emit(&self, ev: Event) {
        if let Some(c) = self.counters() {
            count(c, &ev.kind);
        }
        self.submit(ev);
    }

    /// Builds, lets `fill` add the payload, counts and submits. `fill` does
    /// not run when the recorder is off.
    pub(crate) fn emit_with(&self, kind: EventKind, fill: impl FnOnce(&mut Event)) {
        if let Some(mut ev) = self.event(kind) {
            fill(&mut ev);
            self.emit(ev);
        }
    }

    pub(crate) fn fill_llm_request(&self, ev: &mut Event, req: &LlmRequest<'_>) {
        put_opt(ev, keys::MODEL, req.model);
        put_opt(ev, keys::PROVIDER, req.provider);
        put_opt(ev, keys::MESSAGE_COUNT, req.message_count);
        put_opt(ev, keys::TOOL_COUNT, req.tool_count);
        if self.capture().is_some_and(|c| c.messages) {
            put_opt(ev, keys::MESSAGES, req.messages.cloned());
        }
    }

    pub(crate) fn fill_llm_response(&self, ev: &mut Event, resp: &LlmResponse<'_>) {
        let capture_messages = self.capture().is_some_and(|c| c.messages);
        llm_response_payload(ev, resp, capture_messages);
        if let Some(c) = self.counters() {
            count_llm_response(c, resp);
        }
    }

    pub(crate) fn fill_tool_args(&self, ev: &mut Event, args: Option<&Value>) {
        if self.capture().is_some_and(|c| c.tool_args) {
            put_opt(ev, keys::ARGS, args.cloned());
        }
    }

    pub(crate) fn fill_tool_result(&self, ev: &mut Event, result: Option<&Value>) {
        if self.capture().is_some_and(|c| c.tool_results) {
            put_opt(ev, keys::RESULT, result.cloned());
        }
    }

    // ---- LLM ----

    /// `llm_request`.
    pub fn record_llm_request(&self, req: &LlmRequest<'_>) {
        self.emit_with(EventKind::LlmRequest, |ev| self.fill_llm_request(ev, req));
    }

    /// `llm_response`: tokens (cache read/write, reasoning), model, provider,
    /// stop reason, reported cost. Adds to the summary's tokens and cost.
    ///
    /// The hot path: the caller only copies the response into one compact
    /// record that travels inline in the queue; the writer thread serialises
    /// it (see `DeferredLlmResponse` in the writer). With short strings
    /// (no message content) the call allocates nothing.
    pub fn record_llm_response(&self, resp: &LlmResponse<'_>) {
        if let Some(core) = self.core() {
            count(&core.counters, &EventKind::LlmResponse);
            count_llm_response(&core.counters, resp);
            let record = DeferredLlmResponse::new(
                core.ids.next_number(),
                core.clock.now(),
                &self.scope,
                resp,
                core.config.capture.messages,
            );
            core.submit_pending(Pending::LlmResponse(record));
        }
    }

    /// `llm_error`.
    pub fn record_llm_error(&self, model: Option<&str>, error: &str, duration_ms: Option<f64>) {
        self.emit_with(EventKind::LlmError, |ev| {
            put_opt(ev, keys::MODEL, model);
            put(ev, keys::ERROR, error);
            put(ev, keys::STATUS, "error");
            ev.duration_ms = duration_ms;
        });
    }

    /// `llm_retry`: attempt number (1 = first retry) and why.
    pub fn record_llm_retry(&self, attempt: u32, reason: &str) {
        self.emit_with(EventKind::LlmRetry, |ev| {
            put(ev, "attempt", attempt);
            put(ev, "reason", reason);
        });
    }

    /// `thinking`: reasoning text (kept when thinking capture is on) and its
    /// token count.
    pub fn record_thinking(&self, text: &str, tokens: Option<u64>) {
        self.emit_with(EventKind::Thinking, |ev| {
            if self.capture().is_some_and(|c| c.thinking) {
                put(ev, keys::THINKING, text);
            }
            put_opt(ev, keys::TOKENS, tokens);
        });
    }

    // ---- Tools ----

    /// `tool_start`.
    pub fn record_tool_start(&self, tool: &str, call_id: Option<&str>, args: Option<&Value>) {
        self.emit_with(EventKind::ToolStart, |ev| {
            put(ev, keys::TOOL, tool);
            put_opt(ev, keys::CALL_ID, call_id);
            self.fill_tool_args(ev, args);
        });
    }

    /// `tool_end` on success, `tool_error` when `call.error` is set.
    pub fn record_tool_call(&self, call: &ToolCall<'_>) {
        let kind = if call.error.is_some() {
            EventKind::ToolError
        } else {
            EventKind::ToolEnd
        };
        self.emit_with(kind, |ev| {
            put(ev, keys::TOOL, call.tool);
            put_opt(ev, keys::CALL_ID, call.call_id);
            self.fill_tool_args(ev, call.args);
            self.fill_tool_result(ev, call.result);
            match call.error {
                Some(e) => {
                    put(ev, keys::ERROR, e);
                    put(ev, keys::STATUS, "error");
                }
                None => put(ev, keys::STATUS, "success"),
            }
            ev.duration_ms = call.duration_ms;
        });
    }

    /// `tool_approval`: whether a human or policy allowed the call.
    pub fn record_tool_approval(&self, tool: &str, approved: bool, reason: Option<&str>) {
        self.emit_with(EventKind::ToolApproval, |ev| {
            put(ev, keys::TOOL, tool);
            put(ev, "approved", approved);
            put_opt(ev, "reason", reason);
        });
    }

    // ---- Budget ----

    /// `budget_check`, `budget_warning` or `budget_exhausted`.
    pub fn record_budget(&self, status: BudgetStatus, usage_fraction: f64, message: Option<&str>) {
        let (kind, name) = match status {
            BudgetStatus::Ok => (EventKind::BudgetCheck, "ok"),
            BudgetStatus::Warning => (EventKind::BudgetWarning, "warning"),
            BudgetStatus::Exhausted => (EventKind::BudgetExhausted, "exhausted"),
        };
        self.emit_with(kind, |ev| {
            put(ev, keys::STATUS, name);
            if usage_fraction.is_finite() {
                put(ev, keys::USAGE_FRACTION, usage_fraction);
            }
            put_opt(ev, keys::MESSAGE, message);
        });
    }

    // ---- Compaction ----

    /// `compaction_start`.
    pub fn record_compaction_start(
        &self,
        tokens_before: Option<u64>,
        messages_before: Option<u64>,
    ) {
        self.emit_with(EventKind::CompactionStart, |ev| {
            put_opt(ev, keys::TOKENS_BEFORE, tokens_before);
            put_opt(ev, "messages_before", messages_before);
        });
    }

    /// `compaction_end` (`tokens_saved` derived when both counts are known).
    pub fn record_compaction(&self, c: &Compaction<'_>) {
        self.emit_with(EventKind::CompactionEnd, |ev| {
            put_opt(ev, keys::TOKENS_BEFORE, c.tokens_before);
            put_opt(ev, keys::TOKENS_AFTER, c.tokens_after);
            if let (Some(b), Some(a)) = (c.tokens_before, c.tokens_after) {
                put(ev, keys::TOKENS_SAVED, b.saturating_sub(a));
            }
            put_opt(ev, "messages_before", c.messages_before);
            put_opt(ev, "messages_after", c.messages_after);
            put_opt(ev, "strategy", c.strategy);
            ev.duration_ms = c.duration_ms;
        });
    }

    /// `context_overflow`: the context reached `tokens` of `limit`.
    pub fn record_context_overflow(&self, tokens: u64, limit: Option<u64>) {
        self.emit_with(EventKind::ContextOverflow, |ev| {
            put(ev, keys::TOKENS, tokens);
            put_opt(ev, "limit", limit);
        });
    }

    // ---- Subagents ----

    /// A subagent lifecycle event recorded by hand (see also
    /// [`Recorder::subagent`], the guard).
    pub fn record_subagent(
        &self,
        event: SubagentEvent,
        agent_id: &str,
        agent_type: Option<&str>,
        message: Option<&str>,
    ) {
        let kind = match event {
            SubagentEvent::Spawn => EventKind::SubagentSpawn,
            SubagentEvent::Complete => EventKind::SubagentComplete,
            SubagentEvent::Error => EventKind::SubagentError,
            SubagentEvent::Timeout => EventKind::SubagentTimeout,
        };
        self.emit_with(kind, |ev| {
            put(ev, keys::AGENT_ID, agent_id);
            put_opt(ev, keys::AGENT_TYPE, agent_type);
            match event {
                SubagentEvent::Error | SubagentEvent::Timeout => put_opt(ev, keys::ERROR, message),
                _ => put_opt(ev, keys::MESSAGE, message),
            }
        });
    }

    // ---- Swarm ----

    /// `swarm_start`.
    pub fn record_swarm_start(&self, name: &str, workers: u32) {
        self.emit_with(EventKind::SwarmStart, |ev| {
            put(ev, keys::NAME, name);
            put(ev, "workers", workers);
        });
    }

    /// `swarm_complete`.
    pub fn record_swarm_complete(&self, status: &str, duration_ms: Option<f64>) {
        self.emit_with(EventKind::SwarmComplete, |ev| {
            put(ev, keys::STATUS, status);
            ev.duration_ms = duration_ms;
        });
    }

    /// `swarm_task_start`, `swarm_task_complete` or `swarm_task_failed`.
    pub fn record_swarm_task(&self, task_id: &str, status: SwarmTaskStatus, detail: Option<&str>) {
        let kind = match status {
            SwarmTaskStatus::Started => EventKind::SwarmTaskStart,
            SwarmTaskStatus::Completed => EventKind::SwarmTaskComplete,
            SwarmTaskStatus::Failed => EventKind::SwarmTaskFailed,
        };
        self.emit_with(kind, |ev| {
            put(ev, "task_id", task_id);
            match status {
                SwarmTaskStatus::Failed => put_opt(ev, keys::ERROR, detail),
                _ => put_opt(ev, keys::MESSAGE, detail),
            }
        });
    }

    /// `swarm_decision` (attocode-py keys `decision`, `phase`, `reasoning`).
    pub fn record_swarm_decision(&self, decision: &str, phase: &str, reasoning: &str) {
        self.emit_with(EventKind::SwarmDecision, |ev| {
            put(ev, "decision", decision);
            put(ev, "phase", phase);
            put(ev, "reasoning", reasoning);
        });
    }

    /// `swarm_conflict` (attocode-py keys `file_path`, `symbol`, `resolution`).
    pub fn record_swarm_conflict(&self, file_path: &str, symbol: Option<&str>, resolution: &str) {
        self.emit_with(EventKind::SwarmConflict, |ev| {
            put(ev, "file_path", file_path);
            put_opt(ev, "symbol", symbol);
            put(ev, "resolution", resolution);
        });
    }

    // ---- Plan ----

    /// `plan_created` with its steps.
    pub fn record_plan_created(&self, steps: &[&str]) {
        self.emit_with(EventKind::PlanCreated, |ev| {
            put(
                ev,
                "steps",
                steps.iter().map(|s| Value::from(*s)).collect::<Vec<_>>(),
            );
        });
    }

    /// `plan_step_start`.
    pub fn record_plan_step_start(&self, index: u32, description: &str) {
        self.emit_with(EventKind::PlanStepStart, |ev| {
            put(ev, "step", index);
            put(ev, "description", description);
        });
    }

    /// `plan_step_complete`.
    pub fn record_plan_step_complete(&self, index: u32, status: &str, duration_ms: Option<f64>) {
        self.emit_with(EventKind::PlanStepComplete, |ev| {
            put(ev, "step", index);
            put(ev, keys::STATUS, status);
            ev.duration_ms = duration_ms;
        });
    }

    // ---- Quality ----

    /// `quality_check`: a named check with a score in 0–1 and a verdict.
    pub fn record_quality_check(&self, name: &str, score: f64, passed: bool) {
        self.emit_with(EventKind::QualityCheck, |ev| {
            put(ev, keys::NAME, name);
            if score.is_finite() {
                put(ev, "score", score);
            }
            put(ev, "passed", passed);
        });
    }

    /// `learning_proposed`.
    pub fn record_learning(&self, text: &str) {
        self.emit_with(EventKind::LearningProposed, |ev| {
            put(ev, keys::MESSAGE, text)
        });
    }

    // ---- Errors ----

    /// `error`: the error's text, its type and what was being done.
    pub fn record_error(
        &self,
        error: &dyn Display,
        error_type: Option<&str>,
        context: Option<&str>,
    ) {
        self.emit_with(EventKind::Error, |ev| {
            put(ev, keys::ERROR, error.to_string());
            put_opt(ev, keys::ERROR_TYPE, error_type);
            put_opt(ev, "context", context);
        });
    }

    /// `recovery`: how the agent recovered.
    pub fn record_recovery(&self, strategy: &str, message: Option<&str>) {
        self.emit_with(EventKind::Recovery, |ev| {
            put(ev, "strategy", strategy);
            put_opt(ev, keys::MESSAGE, message);
        });
    }

    // ---- Mode, MCP, files, checkpoints ----

    /// `mode_change`.
    pub fn record_mode_change(&self, from: &str, to: &str, reason: Option<&str>) {
        self.emit_with(EventKind::ModeChange, |ev| {
            put(ev, "from", from);
            put(ev, "to", to);
            put_opt(ev, "reason", reason);
        });
    }

    /// `mcp_connect`.
    pub fn record_mcp_connect(&self, server: &str, tool_count: Option<u32>) {
        self.emit_with(EventKind::McpConnect, |ev| {
            put(ev, "server", server);
            put_opt(ev, keys::TOOL_COUNT, tool_count);
        });
    }

    /// `mcp_disconnect`.
    pub fn record_mcp_disconnect(&self, server: &str, reason: Option<&str>) {
        self.emit_with(EventKind::McpDisconnect, |ev| {
            put(ev, "server", server);
            put_opt(ev, "reason", reason);
        });
    }

    /// `file_change`: `action` is `create`, `modify`, `delete`, `rename`...
    pub fn record_file_change(
        &self,
        path: &str,
        action: &str,
        lines_added: Option<u64>,
        lines_removed: Option<u64>,
    ) {
        self.emit_with(EventKind::FileChange, |ev| {
            put(ev, "path", path);
            put(ev, "action", action);
            put_opt(ev, "lines_added", lines_added);
            put_opt(ev, "lines_removed", lines_removed);
        });
    }

    /// `checkpoint`.
    pub fn record_checkpoint(&self, label: &str, message_count: Option<u64>) {
        self.emit_with(EventKind::Checkpoint, |ev| {
            put(ev, "label", label);
            put_opt(ev, keys::MESSAGE_COUNT, message_count);
        });
    }

    /// `decision`: what was decided, among which options, and why.
    pub fn record_decision(
        &self,
        decision_type: &str,
        choice: &str,
        reason: Option<&str>,
        alternatives: &[&str],
    ) {
        self.emit_with(EventKind::Decision, |ev| {
            put(ev, "decision_type", decision_type);
            put(ev, "choice", choice);
            put_opt(ev, "reason", reason);
            if !alternatives.is_empty() {
                put(
                    ev,
                    "alternatives",
                    alternatives
                        .iter()
                        .map(|s| Value::from(*s))
                        .collect::<Vec<_>>(),
                );
            }
        });
    }

    /// `custom`: a named event with any payload.
    pub fn record_custom(&self, name: &str, data: Map<String, Value>) {
        self.emit_with(EventKind::Custom, |ev| {
            ev.data = data;
            put(ev, keys::NAME, name);
        });
    }
}
