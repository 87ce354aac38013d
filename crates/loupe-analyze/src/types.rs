//! The analysis results other crates consume (renderers, store, server, TUI).
//!
//! These are plain data with `Serialize`; the JSON contract of design §4 is
//! produced from them by `loupe-report`, which owns the output DTOs.

use loupe_model::{
    AgentRef, Event, EventKind, SessionStatus, SourceFormat, Timestamp, TokenTotals,
};
use serde::{Deserialize, Serialize};

/// Where a session was read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSource {
    /// The file (or directory for Agent Trace sessions, URL for the server).
    pub path: String,
    /// The format it was read as.
    pub format: SourceFormat,
}

/// One session's events, in time order, with what was known about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The session id.
    pub session_id: String,
    /// Where it came from.
    pub source: SessionSource,
    /// Events sorted by (timestamp, read order).
    pub events: Vec<Event>,
}

/// Severity of a detected issue, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Costs time or money.
    Medium,
    /// Clearly hurting the run.
    High,
    /// The run is failing or about to.
    Critical,
}

/// One inefficiency found in a session, with a concrete fix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    /// Rule category (`doom_loop`, `cache_drop`...). Stable: scripts match on it.
    pub category: String,
    /// How bad.
    pub severity: Severity,
    /// One line.
    pub title: String,
    /// What happened, with numbers.
    pub description: String,
    /// Iteration where it happened, when it is local.
    pub iteration: Option<u32>,
    /// The data that tripped the rule (counts, rates, event ids...).
    pub evidence: Vec<String>,
    /// What to change.
    pub suggestion: String,
}

/// Per-session metrics (keys of design §4 `metrics`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Main-agent iterations (explicit markers, else inferred from LLM calls).
    pub iterations: u64,
    /// LLM calls of every agent in the session.
    pub llm_calls: u64,
    /// Tool calls of every agent.
    pub tool_calls: u64,
    /// Tool calls that failed (error, timeout, blocked).
    pub tool_errors: u64,
    /// All errors: tool errors + LLM errors + error events + subagent errors.
    pub errors: u64,
    /// Token totals in OpenTelemetry semantics.
    pub tokens: TokenTotals,
    /// `cache_read / input`, 0 without input.
    pub cache_hit_rate: f64,
    /// Reported cost where present, else priced; excludes unpriced calls.
    pub cost_usd: f64,
    /// Models seen without a reported cost and absent from the price table.
    pub unpriced_models: Vec<String>,
    /// Context compactions.
    pub compactions: u64,
    /// Subagents spawned.
    pub subagents: u64,
}

/// Per-tool statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolStats {
    /// Tool name.
    pub name: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Mean duration of calls with a duration.
    pub avg_duration_ms: f64,
    /// 95th percentile duration (nearest rank).
    pub p95_duration_ms: f64,
    /// Calls with a valid duration (the mean and p95 are over those).
    #[serde(default)]
    pub timed_calls: u64,
    /// Calls whose recorded duration is negative ([`crate::valid_duration`]).
    #[serde(default)]
    pub invalid_durations: u64,
}

impl ToolStats {
    /// The mean and p95 durations, `None` when they are unknown: no call
    /// has a valid duration and some recorded a negative one (`-` in text,
    /// null in JSON), rather than a mean of 0 the calls never had.
    pub fn known_durations(&self) -> Option<(f64, f64)> {
        (self.timed_calls > 0 || self.invalid_durations == 0)
            .then_some((self.avg_duration_ms, self.p95_duration_ms))
    }
}

/// One model's share of a session's LLM calls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Model name (`""` for calls that name none).
    pub model: String,
    /// LLM calls to it.
    pub llm_calls: u64,
    /// Prompt tokens (cache included).
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost: reported, else priced (0 for an unpriced model).
    pub cost_usd: f64,
}

/// A node of the span tree: session → iteration/turn → LLM call / tool / subagent → children.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanNode {
    /// What the node is.
    pub kind: SpanKind,
    /// Display label (`Iteration 3`, `read_file src/main.rs`, `claude-sonnet-4-5`).
    pub label: String,
    /// Start time.
    pub start: Timestamp,
    /// Duration, when ended.
    pub duration_ms: Option<f64>,
    /// `ok`, `error`, `running`...
    pub status: NodeStatus,
    /// Iteration it belongs to.
    pub iteration: Option<u32>,
    /// Producing agent when not the main one.
    pub agent: Option<AgentRef>,
    /// Index into `Session::events` of the event that closed (or opened) it.
    pub event_index: Option<usize>,
    /// Tokens of an LLM node.
    pub tokens: Option<TokenTotals>,
    /// Why it failed, when the event that closed it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether the event that closed it recorded a success status of its
    /// own (`success`, `completed`...): failed children then do not mark it
    /// failed. Only used while the tree is built.
    #[serde(skip)]
    pub recorded_success: bool,
    /// Child nodes in time order.
    pub children: Vec<SpanNode>,
}

impl SpanNode {
    /// Failed spans below this one, at any depth: what a node that
    /// recorded its own success shows beside its ✓ (an iteration that went
    /// on after three failed commands), so a collapsed tree still says where
    /// failures are.
    pub fn failed_inside(&self) -> usize {
        let mut stack: Vec<&SpanNode> = self.children.iter().collect();
        let mut failed = 0;
        while let Some(n) = stack.pop() {
            failed += usize::from(n.status == NodeStatus::Error);
            stack.extend(n.children.iter());
        }
        failed
    }
}

/// Kind of a span-tree node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// The whole session.
    Session,
    /// A ReAct iteration.
    Iteration,
    /// A conversational turn.
    Turn,
    /// A REPL task.
    Task,
    /// An LLM call.
    Llm,
    /// A tool call.
    Tool,
    /// A subagent.
    Subagent,
    /// A workflow run.
    Workflow,
    /// A workflow node.
    Node,
    /// Any other span (generic, compaction...).
    Span,
    /// A point event shown in the tree (error, decision, budget warning...).
    Event,
}

/// Status of a span-tree node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Finished fine.
    Ok,
    /// Failed.
    Error,
    /// Not ended (in progress or crashed).
    Running,
    /// Skipped (workflow nodes).
    Skipped,
}

/// One row of the timeline: every event in order with offsets from the session start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Milliseconds since the session started.
    pub offset_ms: f64,
    /// The event kind.
    pub kind: EventKind,
    /// One-line description (`Tool completed: read_file (42ms)`).
    pub label: String,
    /// Duration of the span it closes.
    pub duration_ms: Option<f64>,
    /// Iteration.
    pub iteration: Option<u32>,
    /// Agent when not the main one.
    pub agent: Option<String>,
    /// Errors, failed tools, session boundaries.
    pub important: bool,
    /// It reports a failure (an error, a failed call, tool, node or workflow).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// Index into `Session::events`.
    pub event_index: usize,
}

/// Token flow of one iteration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenFlowRow {
    /// Iteration number (0 = outside any iteration).
    pub iteration: u32,
    /// Tokens of the iteration's LLM calls.
    pub tokens: TokenTotals,
    /// `cache_read / input` for the iteration.
    pub cache_hit_rate: f64,
    /// Cost of the iteration.
    pub cost_usd: f64,
    /// Running cost up to and including this iteration.
    pub cumulative_cost_usd: f64,
    /// Running `input + output` tokens.
    pub cumulative_tokens: u64,
}

/// Cache efficiency verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheRating {
    /// Hit rate ≥ 0.7.
    Good,
    /// Hit rate ≥ 0.4.
    Fair,
    /// Below 0.4.
    Poor,
    /// No LLM input at all.
    None,
    /// LLM input, but no call reports cache reads or writes (the format or
    /// the instrumentation does not record them): cache use is unknown.
    Unreported,
}

/// Direction of a trend over iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Second-half mean input > first-half by more than 20%.
    Increasing,
    /// Less than −20%.
    Decreasing,
    /// Otherwise (or fewer than 3 iterations).
    Stable,
}

/// Token flow of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenFlow {
    /// One row per iteration, in order.
    pub rows: Vec<TokenFlowRow>,
    /// Cache verdict.
    pub cache_rating: CacheRating,
    /// What to do about the cache.
    pub recommendation: String,
    /// Input trend.
    pub trend: Trend,
    /// Iteration with the most `input + output` tokens.
    pub peak_iteration: Option<u32>,
    /// The cache boundary tracker over the main agent's calls (hit rate of
    /// the last 50 vs all-time, estimated cached-prefix size); `None` when
    /// no main-agent call reports cache counts (`null` in JSON).
    #[serde(default)]
    pub cache_boundary: Option<crate::CacheBoundaryStats>,
}

impl TokenFlow {
    /// The peak iteration and its `input + output` tokens.
    pub fn peak(&self) -> Option<(u32, u64)> {
        let peak = self.peak_iteration?;
        let tokens = self
            .rows
            .iter()
            .find(|r| r.iteration == peak)
            .map_or(0, |r| r.tokens.total());
        Some((peak, tokens))
    }
}

/// Everything Loupe computes about one session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionAnalysis {
    /// Session id.
    pub session_id: String,
    /// Where it came from.
    pub source: SessionSource,
    /// The task / goal, when recorded.
    pub task: Option<String>,
    /// The main model (most used by the main agent).
    pub model: Option<String>,
    /// Outcome.
    pub status: SessionStatus,
    /// First event.
    pub started_at: Option<Timestamp>,
    /// Last event (or session end).
    pub ended_at: Option<Timestamp>,
    /// Wall-clock duration.
    pub duration_ms: Option<f64>,
    /// Metrics.
    pub metrics: Metrics,
    /// Loupe's efficiency score, 0–100.
    pub efficiency_score: f64,
    /// Detected issues, most severe first.
    pub issues: Vec<Issue>,
    /// Per-tool statistics, most called first.
    pub tools: Vec<ToolStats>,
    /// Workflow nodes (Victor), slowest first: durations summed per node
    /// id. Empty for sessions without workflow nodes.
    pub nodes: Vec<crate::NodeStats>,
    /// LLM use per model, by model name; a cost not tied to a call
    /// (reported per step or per task) goes to the session's model.
    pub models: Vec<ModelUsage>,
    /// Token flow.
    pub token_flow: TokenFlow,
    /// Span tree rooted at the session.
    pub tree: SpanNode,
    /// Timeline rows.
    pub timeline: Vec<TimelineEntry>,
    /// Events whose recorded duration is negative (an end before its
    /// start: clock skew), shown as unknown and left out of means and sums
    /// ([`crate::valid_duration`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub invalid_durations: u64,
}

// serde's `skip_serializing_if` takes a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What is known of a session's usage. A count a trace does not report is
/// unknown, not 0 (docs/format.md): every output that prints these figures
/// asks here, so the text views, `compare`, JSON, CSV and `--llm` agree.
impl SessionAnalysis {
    /// Whether the token counts are known: LLM calls that report no usage
    /// (some MyAgent runs, Victor) leave them unknown, not 0, or a run that
    /// reports nothing would look cheaper than one that does. A session
    /// without LLM calls used no tokens: 0 is known.
    pub fn tokens_reported(&self) -> bool {
        self.metrics.llm_calls == 0 || self.metrics.tokens.total() > 0
    }

    /// The cache hit rate, `None` when no call reports cache use (or no
    /// usage at all): the summary's `unreported`.
    pub fn known_cache_hit_rate(&self) -> Option<f64> {
        (self.tokens_reported() && self.token_flow.cache_rating != CacheRating::Unreported)
            .then_some(self.metrics.cache_hit_rate)
    }

    /// The cost, `None` when no LLM call has a reported cost or a price:
    /// calls that report no usage and no cost, or only unpriced models.
    /// With some models unpriced it is a lower bound (`unpriced_models`
    /// says which are missing).
    pub fn known_cost_usd(&self) -> Option<f64> {
        let m = &self.metrics;
        if m.llm_calls == 0 || m.cost_usd > 0.0 {
            return Some(m.cost_usd);
        }
        // A call that names no model is unpriced as "(unknown model)".
        let unpriced = |name: &str| {
            let name = if name.is_empty() {
                "(unknown model)"
            } else {
                name
            };
            m.unpriced_models.iter().any(|u| u == name)
        };
        let some_priced = self
            .models
            .iter()
            .any(|u| u.llm_calls > 0 && !unpriced(&u.model));
        (self.tokens_reported() && some_priced).then_some(m.cost_usd)
    }
}
