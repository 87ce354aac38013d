//! Row structs: what the store keeps and returns, separate from the model
//! (loupe-model's `Event` is stored as is; everything else here is a summary
//! computed by the caller or derived by the store).

use loupe_model::{SessionStatus, SourceFormat, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The metrics of one session, with the key names of design §4 (`metrics`).
/// A figure the trace does not report is `None` (JSON `null`), not 0, as in
/// `loupe view -o json`: token counts when LLM calls report no usage, the
/// cost when no call has a reported cost or a price, the cache hit rate
/// when no call reports cache use. Rows stored before these were optional
/// hold numbers, read as known.
#[allow(missing_docs)] // each field is the design §4 metric of the same name
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionMetrics {
    pub iterations: u64,
    pub llm_calls: u64,
    pub tool_calls: u64,
    pub tool_errors: u64,
    pub errors: u64,
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_tokens: Option<u64>,
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
    #[serde(default)]
    pub cache_hit_rate: Option<f64>,
    #[serde(default)]
    pub cost_usd: Option<f64>,
    pub compactions: u64,
    pub subagents: u64,
    /// Tokens of calls that reported only a total, no input/output split
    /// (part of [`Self::total_tokens`], of neither side).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total_only_tokens: u64,
    /// Models seen without a reported cost and absent from the price table:
    /// `cost_usd` leaves their calls out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SessionMetrics {
    /// `input_tokens + output_tokens`, plus the tokens reported only as a
    /// total: the figure `--min-tokens` and `--sort tokens` use. `None`
    /// when the session reports no token counts.
    pub fn total_tokens(&self) -> Option<u64> {
        if self.input_tokens.is_none()
            && self.output_tokens.is_none()
            && self.total_only_tokens == 0
        {
            return None;
        }
        Some(
            self.input_tokens
                .unwrap_or(0)
                .saturating_add(self.output_tokens.unwrap_or(0))
                .saturating_add(self.total_only_tokens),
        )
    }

    /// Whether the session recorded any error (agent errors or failed tool runs).
    pub fn has_errors(&self) -> bool {
        self.errors > 0 || self.tool_errors > 0
    }
}

/// Where a session was read from (design §4 `source`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The file or directory.
    pub path: String,
    /// The format it was read as.
    pub format: SourceFormat,
}

/// A session's summary, computed by the caller (the ingest pipeline runs
/// loupe-analyze) and upserted whole. Serialises with the field names of the
/// design §4 session object so JSON rows read like `loupe view --output json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The session id.
    pub session_id: String,
    /// The agent's name (`session_start.data.agent_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    /// What the agent was asked to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The main model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Outcome.
    pub status: SessionStatus,
    /// First event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Last event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Wall time in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// Tags (`session_start.data.tags`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Free-form metadata (`session_start.data.metadata`).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// Where it was read from, when it came from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceRef>,
    /// Names of the tools the session used.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Metrics (design §4 keys).
    pub metrics: SessionMetrics,
    /// Efficiency score, 0–100, when computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency_score: Option<f64>,
    /// LLM use per model, when computed (rows stored before it have none:
    /// their whole usage counts under `model`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<ModelUsage>,
}

/// One model's share of a session's LLM use ([`SessionRow::models`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelUsage {
    /// Model name (`""` for calls that name none).
    pub model: String,
    /// Prompt tokens (cache included).
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Cost.
    pub cost_usd: f64,
}

impl SessionRow {
    /// An empty running session with the given id (builder base).
    pub fn new(session_id: impl Into<String>) -> Self {
        SessionRow {
            session_id: session_id.into(),
            agent_name: None,
            task: None,
            model: None,
            status: SessionStatus::Running,
            started_at: None,
            ended_at: None,
            duration_ms: None,
            tags: Vec::new(),
            metadata: Map::new(),
            source: None,
            tools: Vec::new(),
            metrics: SessionMetrics::default(),
            efficiency_score: None,
            models: Vec::new(),
        }
    }

    /// Adds this session to per-model aggregates: each model it used gets
    /// the session and that model's tokens and cost (all of them under the
    /// main model for a row without a per-model split).
    pub fn add_to_models(&self, by_model: &mut std::collections::BTreeMap<String, ModelStats>) {
        let mut add = |model: &str, input: u64, output: u64, cost: f64| {
            let m = by_model.entry(model.to_owned()).or_default();
            m.model = model.to_owned();
            m.sessions += 1;
            m.input_tokens += input;
            m.output_tokens += output;
            m.cost_usd += cost;
        };
        if self.models.is_empty() {
            let m = &self.metrics;
            add(
                self.model.as_deref().unwrap_or(""),
                // Per-model sums count what is known.
                m.input_tokens.unwrap_or(0),
                m.output_tokens.unwrap_or(0),
                m.cost_usd.unwrap_or(0.0),
            );
        } else {
            for u in &self.models {
                add(&u.model, u.input_tokens, u.output_tokens, u.cost_usd);
            }
        }
    }

    /// A metadata value as the text `--meta key=value` compares against:
    /// strings as they are, other values as compact JSON.
    pub fn metadata_text(&self, key: &str) -> Option<String> {
        self.metadata.get(key).map(metadata_value_text)
    }
}

/// The text form of a metadata value used by metadata filters.
pub fn metadata_value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One tool execution, derived from a `tool_end` or `tool_error` event that names its tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolRun {
    /// Session of the run.
    pub session_id: String,
    /// The event that closed the run.
    pub event_id: String,
    /// Tool name.
    pub tool: String,
    /// When the run ended.
    pub timestamp: Timestamp,
    /// How long it took, when recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// False for `tool_error` events and for `tool_end` with an error or a failure status.
    pub success: bool,
    /// ReAct iteration, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
}

/// One full-text search match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Session of the matching event.
    pub session_id: String,
    /// The matching event.
    pub event_id: String,
    /// Its kind name.
    pub kind: String,
    /// Its timestamp.
    pub timestamp: Timestamp,
}

/// What an append did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// Events stored for the first time.
    pub inserted: u64,
    /// Events already present (same session id and event id): not added,
    /// though a fuller copy of the same time replaces the stored one.
    pub duplicates: u64,
}

impl std::ops::AddAssign for AppendOutcome {
    fn add_assign(&mut self, o: AppendOutcome) {
        self.inserted += o.inserted;
        self.duplicates += o.duplicates;
    }
}

/// Per-model aggregate in [`StoreStats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    /// Model name (sessions without a model are grouped under `""`).
    pub model: String,
    /// Number of sessions.
    pub sessions: u64,
    /// Sum of input tokens.
    pub input_tokens: u64,
    /// Sum of output tokens.
    pub output_tokens: u64,
    /// Sum of cost.
    pub cost_usd: f64,
}

/// Per-tool aggregate in [`StoreStats`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolAggregate {
    /// Tool name.
    pub tool: String,
    /// Number of runs.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Mean duration over runs that recorded one, 0 when none did.
    pub avg_duration_ms: f64,
}

/// Aggregates over the sessions matching a filter.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreStats {
    /// Matching sessions.
    pub sessions: u64,
    /// Events stored for those sessions.
    pub events: u64,
    /// Summed session metrics (rates are recomputed: `cache_hit_rate` over the sums).
    pub totals: SessionMetrics,
    /// Per model, sorted by model name.
    pub by_model: Vec<ModelStats>,
    /// Per tool (from stored tool runs), sorted by tool name.
    pub by_tool: Vec<ToolAggregate>,
}

/// What a prune removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneOutcome {
    /// Ids of the sessions deleted (whole: summary, events, tool runs, orphaned text).
    pub sessions: Vec<String>,
    /// Events deleted with them.
    pub events: u64,
}

/// What the store remembers about an ingested file, for incremental ingest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestedFile {
    /// The file path as given to ingest (canonicalised by the caller).
    pub path: String,
    /// Size in bytes at the last ingest.
    pub size: u64,
    /// Modification time (µs since epoch) at the last ingest.
    pub mtime_us: i64,
    /// Hash of the file's first bytes (up to 4 KiB, no further than `offset`
    /// when set, so appending keeps it), to notice a replaced file.
    pub head_hash: String,
    /// Number of complete lines consumed (line-oriented formats).
    pub lines: u64,
    /// Byte offset just after the last complete line consumed.
    pub offset: u64,
    /// Format name it was read as.
    pub format: String,
    /// Session id of the file's last event: the reader's hint for a tail
    /// whose lines do not name their session (attocode-ts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_hint: Option<String>,
}
