//! Loupe's vocabulary: the event envelope ([`Event`]), event kinds
//! ([`EventKind`], [`Category`]), token and cost types ([`TokenUsage`],
//! [`TokenTotals`], [`Cost`]), timestamps and source-format names.
//!
//! Architecture Invariant: this crate does no I/O and depends only on `serde`
//! and `serde_json`. Every other Loupe crate speaks these types; readers
//! convert *into* them and nothing downstream needs to know where an event
//! came from.
//!
//! The canonical JSONL format is one `serde_json` serialisation of [`Event`]
//! per line; it is specified in `docs/format.md` with a JSON Schema in
//! `docs/loupe-event.schema.json`.

#![warn(missing_docs)]

mod event;
mod kind;
mod source;
mod spec;
mod status;
mod timestamp;
mod tokens;
mod unread;

pub use event::{value_u64, AgentRef, Event};
pub use kind::{Category, EventKind};
pub use source::SourceFormat;
pub use spec::{parse_duration_ms, parse_time, parse_time_at};
pub use status::SessionStatus;
pub use timestamp::{Timestamp, TimestampError};
pub use tokens::{Cost, CostSource, TokenTotals, TokenUsage};
pub use unread::UnreadMember;

/// Name of the canonical format, written as `data.format` in `session_start`.
pub const FORMAT_NAME: &str = "loupe";

/// Version of the canonical format, written as `data.format_version` in `session_start`.
/// Readers accept any version ≤ this one and read newer ones best-effort.
pub const FORMAT_VERSION: u32 = 1;

/// Payload (`data`) keys with a fixed meaning across kinds. docs/format.md lists
/// which kinds carry which keys.
pub mod keys {
    /// `session_start`: the canonical format's name (`"loupe"`).
    pub const FORMAT: &str = "format";
    /// `session_start`: the canonical format's version.
    pub const FORMAT_VERSION: &str = "format_version";
    /// `session_start`: what the agent was asked to do.
    pub const TASK: &str = "task";
    /// `session_start`: the agent's name.
    pub const AGENT_NAME: &str = "agent_name";
    /// `session_start`: free-form metadata object (tags, user, environment...).
    pub const METADATA: &str = "metadata";
    /// `session_start`: list of tags.
    pub const TAGS: &str = "tags";
    /// LLM events, `session_start`: model name.
    pub const MODEL: &str = "model";
    /// LLM events: provider (`anthropic`, `openai`...).
    pub const PROVIDER: &str = "provider";
    /// `llm_response`: a [`crate::TokenUsage`] object.
    pub const USAGE: &str = "usage";
    /// `llm_response` and others: cost in USD reported by the trace.
    pub const COST_USD: &str = "cost_usd";
    /// `llm_response`: why generation stopped (`end_turn`, `tool_use`...).
    pub const STOP_REASON: &str = "stop_reason";
    /// `llm_response`: number of tool calls requested.
    pub const TOOL_CALLS: &str = "tool_calls";
    /// `llm_request`: number of messages sent.
    pub const MESSAGE_COUNT: &str = "message_count";
    /// `llm_request`: number of tool definitions sent.
    pub const TOOL_COUNT: &str = "tool_count";
    /// `llm_request`: the messages (when captured).
    pub const MESSAGES: &str = "messages";
    /// `llm_response`: the response text (when captured).
    pub const CONTENT: &str = "content";
    /// Tool events: the tool's name.
    pub const TOOL: &str = "tool";
    /// Tool events: provider-assigned call id.
    pub const CALL_ID: &str = "call_id";
    /// Tool events: arguments (when captured).
    pub const ARGS: &str = "args";
    /// Tool events: result (when captured).
    pub const RESULT: &str = "result";
    /// Span-closing events: `success`, `error`, `timeout`, `blocked`,
    /// `completed`, `failed`, `skipped`, `cancelled`...
    pub const STATUS: &str = "status";
    /// Error text.
    pub const ERROR: &str = "error";
    /// Error class or code.
    pub const ERROR_TYPE: &str = "error_type";
    /// Subagent events: the subagent's id.
    pub const AGENT_ID: &str = "agent_id";
    /// Subagent events: the subagent's type.
    pub const AGENT_TYPE: &str = "agent_type";
    /// `thinking`: reasoning text.
    pub const THINKING: &str = "thinking";
    /// Token counts outside LLM responses (thinking, compaction...).
    pub const TOKENS: &str = "tokens";
    /// Compaction: tokens before.
    pub const TOKENS_BEFORE: &str = "tokens_before";
    /// Compaction: tokens after.
    pub const TOKENS_AFTER: &str = "tokens_after";
    /// Compaction: tokens saved.
    pub const TOKENS_SAVED: &str = "tokens_saved";
    /// Budget events: fraction of the budget used (0–1).
    pub const USAGE_FRACTION: &str = "usage_fraction";
    /// Human-readable message.
    pub const MESSAGE: &str = "message";
    /// Workflow events: node id.
    pub const NODE_ID: &str = "node_id";
    /// Workflow events: node type.
    pub const NODE_TYPE: &str = "node_type";
    /// Workflow events: workflow name.
    pub const WORKFLOW: &str = "workflow";
    /// `loupe_dropped`: number of events the recorder dropped.
    pub const DROPPED: &str = "dropped";
    /// `custom`, `span_*`, `log`: the name of the custom event or span.
    pub const NAME: &str = "name";
    /// The original kind or type name of an event converted from another format.
    pub const SOURCE_KIND: &str = "source_kind";
    /// A span's opening event: `true` when its parent span is in another
    /// service (OpenTelemetry says so), so it is not part of this trace's
    /// spans and its absence is no span still to come.
    pub const PARENT_REMOTE: &str = "parent_remote";
}
