//! Event kinds and their categories.
//!
//! The base is attocode-py's 47 kinds in 16 categories (`TraceEventKind`), so a
//! canonical Loupe trace reads naturally to anyone who knows that format. The
//! other seed systems and OpenTelemetry map onto these or onto the documented
//! additions below (turns, thinking, decisions, memory retrieval, plan
//! evolution, tasks, workflow nodes, think records, generic spans, logs and
//! Loupe's own bookkeeping). A kind Loupe does not know is kept verbatim in
//! [`EventKind::Other`] and written back unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The broad family an event belongs to. The first sixteen are attocode-py's.
#[allow(missing_docs)] // the names say it
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Session,
    Iteration,
    Llm,
    Tool,
    Budget,
    Compaction,
    Subagent,
    Swarm,
    Plan,
    Quality,
    Error,
    Mode,
    Mcp,
    File,
    Checkpoint,
    Custom,
    // Additions beyond attocode-py's sixteen.
    /// REPL tasks grouping iterations (attocode-ts `task.*`).
    Task,
    /// Decisions taken by the agent (routing, tool selection, policy...).
    Decision,
    /// Memory retrieval.
    Memory,
    /// Workflow graphs and their nodes (Victor).
    Workflow,
    /// Swarm coordination side channels (blackboard, budget pool, file cache...).
    Coordination,
    /// Generic spans and log records (the `tracing` layer, unmapped OTLP spans).
    Span,
    /// Loupe's own bookkeeping (dropped-event counts...).
    Meta,
}

impl Category {
    /// Lowercase name as used in JSON output and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Session => "session",
            Category::Iteration => "iteration",
            Category::Llm => "llm",
            Category::Tool => "tool",
            Category::Budget => "budget",
            Category::Compaction => "compaction",
            Category::Subagent => "subagent",
            Category::Swarm => "swarm",
            Category::Plan => "plan",
            Category::Quality => "quality",
            Category::Error => "error",
            Category::Mode => "mode",
            Category::Mcp => "mcp",
            Category::File => "file",
            Category::Checkpoint => "checkpoint",
            Category::Custom => "custom",
            Category::Task => "task",
            Category::Decision => "decision",
            Category::Memory => "memory",
            Category::Workflow => "workflow",
            Category::Coordination => "coordination",
            Category::Span => "span",
            Category::Meta => "meta",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $cat:ident, )*) => {
        /// What an event records. Serialised as its snake_case name.
        #[allow(missing_docs)] // attocode-py's kinds are named for what they record
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventKind {
            $( $(#[$doc])* $variant, )*
            /// A kind Loupe does not know, kept with its original name.
            Other(String),
        }

        impl EventKind {
            /// Every known kind, in declaration order.
            pub const ALL: &'static [EventKind] = &[ $( EventKind::$variant, )* ];

            /// The canonical name (`llm_response`), or the original name for [`EventKind::Other`].
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventKind::$variant => $name, )*
                    EventKind::Other(s) => s.as_str(),
                }
            }

            /// Looks a name up; unknown names become [`EventKind::Other`].
            pub fn from_name(name: &str) -> EventKind {
                match name {
                    $( $name => EventKind::$variant, )*
                    other => EventKind::Other(other.to_owned()),
                }
            }

            /// The category; unknown kinds are [`Category::Custom`].
            pub fn category(&self) -> Category {
                match self {
                    $( EventKind::$variant => Category::$cat, )*
                    EventKind::Other(_) => Category::Custom,
                }
            }
        }
    };
}

kinds! {
    // --- attocode-py's 47 kinds (tracing/types.py, TraceEventKind) ---
    SessionStart = "session_start" => Session,
    SessionEnd = "session_end" => Session,
    IterationStart = "iteration_start" => Iteration,
    IterationEnd = "iteration_end" => Iteration,
    LlmRequest = "llm_request" => Llm,
    LlmResponse = "llm_response" => Llm,
    LlmError = "llm_error" => Llm,
    LlmRetry = "llm_retry" => Llm,
    ToolStart = "tool_start" => Tool,
    ToolEnd = "tool_end" => Tool,
    ToolError = "tool_error" => Tool,
    ToolApproval = "tool_approval" => Tool,
    BudgetCheck = "budget_check" => Budget,
    BudgetWarning = "budget_warning" => Budget,
    BudgetExhausted = "budget_exhausted" => Budget,
    CompactionStart = "compaction_start" => Compaction,
    CompactionEnd = "compaction_end" => Compaction,
    ContextOverflow = "context_overflow" => Compaction,
    SubagentSpawn = "subagent_spawn" => Subagent,
    SubagentComplete = "subagent_complete" => Subagent,
    SubagentError = "subagent_error" => Subagent,
    SubagentTimeout = "subagent_timeout" => Subagent,
    SwarmStart = "swarm_start" => Swarm,
    SwarmComplete = "swarm_complete" => Swarm,
    SwarmWaveStart = "swarm_wave_start" => Swarm,
    SwarmWaveComplete = "swarm_wave_complete" => Swarm,
    SwarmTaskStart = "swarm_task_start" => Swarm,
    SwarmTaskComplete = "swarm_task_complete" => Swarm,
    SwarmTaskFailed = "swarm_task_failed" => Swarm,
    SwarmToolAction = "swarm_tool_action" => Swarm,
    PlanCreated = "plan_created" => Plan,
    PlanStepStart = "plan_step_start" => Plan,
    PlanStepComplete = "plan_step_complete" => Plan,
    QualityCheck = "quality_check" => Quality,
    LearningProposed = "learning_proposed" => Quality,
    Error = "error" => Error,
    Recovery = "recovery" => Error,
    ModeChange = "mode_change" => Mode,
    McpConnect = "mcp_connect" => Mcp,
    McpDisconnect = "mcp_disconnect" => Mcp,
    FileChange = "file_change" => File,
    Checkpoint = "checkpoint" => Checkpoint,
    SwarmDecision = "swarm_decision" => Swarm,
    SwarmConflict = "swarm_conflict" => Swarm,
    SwarmBudgetProjection = "swarm_budget_projection" => Swarm,
    SwarmFailureAttribution = "swarm_failure_attribution" => Swarm,
    Custom = "custom" => Custom,

    // --- Additions for the other seed systems and OpenTelemetry ---
    /// A conversational turn begins (Agent Trace `turn.start`); `turn` on the envelope.
    TurnStart = "turn_start" => Iteration,
    /// A turn ends; `duration_ms` when known.
    TurnEnd = "turn_end" => Iteration,
    /// A REPL task begins (attocode-ts `task.start`).
    TaskStart = "task_start" => Task,
    /// A REPL task ends (attocode-ts `task.end`).
    TaskEnd = "task_end" => Task,
    /// Model reasoning / extended thinking content.
    Thinking = "thinking" => Llm,
    /// A MyAgent think record: one reasoning phase with its LLM output and chosen tools.
    Think = "think" => Llm,
    /// A decision (routing, tool selection, policy, retry...).
    Decision = "decision" => Decision,
    /// A memory lookup and what it returned.
    MemoryRetrieval = "memory_retrieval" => Memory,
    /// A new version of the plan.
    PlanEvolution = "plan_evolution" => Plan,
    /// A workflow run begins (Victor).
    WorkflowStart = "workflow_start" => Workflow,
    /// A workflow run ends; `status` in data.
    WorkflowEnd = "workflow_end" => Workflow,
    /// A workflow node begins.
    NodeStart = "node_start" => Workflow,
    /// A workflow node ends; `status` (completed, failed, skipped...) in data.
    NodeEnd = "node_end" => Workflow,
    /// A retry of a workflow node or step.
    RetryAttempt = "retry_attempt" => Error,
    /// A subagent link record with spawn context and result (attocode-ts `subagent.link`).
    SubagentLink = "subagent_link" => Subagent,
    /// Swarm task decomposition (attocode-ts `swarm.decomposition`).
    SwarmDecomposition = "swarm_decomposition" => Swarm,
    /// A swarm task was skipped.
    SwarmTaskSkipped = "swarm_task_skipped" => Swarm,
    /// A swarm quality score for a task.
    SwarmQuality = "swarm_quality" => Swarm,
    /// A swarm budget snapshot.
    SwarmBudget = "swarm_budget" => Swarm,
    /// A swarm verification phase or step.
    SwarmVerification = "swarm_verification" => Swarm,
    /// Swarm runner log line (attoswarm `swarm.events.jsonl`).
    SwarmEvent = "swarm_event" => Swarm,
    /// A repository map was built (attocode-ts `codebase.map`).
    CodebaseMap = "codebase_map" => Coordination,
    /// Shared blackboard activity between agents.
    Blackboard = "blackboard" => Coordination,
    /// Shared token budget pool activity.
    BudgetPool = "budget_pool" => Budget,
    /// Shared file cache activity.
    FileCache = "file_cache" => Coordination,
    /// Context injected into a subagent.
    ContextInjection = "context_injection" => Coordination,
    /// Cost delta reported by a swarm worker (attoswarm agent traces).
    CostDelta = "cost_delta" => Budget,
    /// A generic span begins (the `tracing` layer, unmapped OTLP spans).
    SpanStart = "span_start" => Span,
    /// A generic span ends; `duration_ms` set.
    SpanEnd = "span_end" => Span,
    /// A log record (a `tracing` event, an OTLP span event).
    Log = "log" => Span,
    /// The recorder dropped events because its queue was full; `dropped` in data.
    Dropped = "loupe_dropped" => Meta,
}

impl EventKind {
    /// Whether this kind opens a span that a later kind closes.
    pub fn is_span_start(&self) -> bool {
        matches!(
            self,
            EventKind::SessionStart
                | EventKind::IterationStart
                | EventKind::TurnStart
                | EventKind::TaskStart
                | EventKind::LlmRequest
                | EventKind::ToolStart
                | EventKind::CompactionStart
                | EventKind::SubagentSpawn
                | EventKind::SwarmStart
                | EventKind::SwarmWaveStart
                | EventKind::SwarmTaskStart
                | EventKind::PlanStepStart
                | EventKind::WorkflowStart
                | EventKind::NodeStart
                | EventKind::SpanStart
        )
    }

    /// Whether this kind closes a span (its `duration_ms`, if any, is the span's).
    pub fn is_span_end(&self) -> bool {
        matches!(
            self,
            EventKind::SessionEnd
                | EventKind::IterationEnd
                | EventKind::TurnEnd
                | EventKind::TaskEnd
                | EventKind::LlmResponse
                | EventKind::LlmError
                | EventKind::ToolEnd
                | EventKind::ToolError
                | EventKind::CompactionEnd
                | EventKind::SubagentComplete
                | EventKind::SubagentError
                | EventKind::SubagentTimeout
                | EventKind::SwarmComplete
                | EventKind::SwarmWaveComplete
                | EventKind::SwarmTaskComplete
                | EventKind::SwarmTaskFailed
                | EventKind::PlanStepComplete
                | EventKind::WorkflowEnd
                | EventKind::NodeEnd
                | EventKind::SpanEnd
        )
    }

    /// Whether this kind reports a failure.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            EventKind::Error
                | EventKind::LlmError
                | EventKind::ToolError
                | EventKind::SubagentError
                | EventKind::SubagentTimeout
                | EventKind::SwarmTaskFailed
                | EventKind::BudgetExhausted
                | EventKind::ContextOverflow
        )
    }

    /// Whether Loupe knows this kind.
    pub fn is_known(&self) -> bool {
        !matches!(self, EventKind::Other(_))
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(EventKind::from_name(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attocode_py_kinds_are_all_known_in_sixteen_categories() {
        let py: Vec<&EventKind> = EventKind::ALL.iter().take(47).collect();
        assert_eq!(py.len(), 47);
        assert_eq!(py[46], &EventKind::Custom);
        let cats: std::collections::BTreeSet<Category> = py.iter().map(|k| k.category()).collect();
        assert_eq!(cats.len(), 16);
    }

    #[test]
    fn names_round_trip_and_unknown_kinds_survive() {
        for k in EventKind::ALL {
            assert_eq!(&EventKind::from_name(k.as_str()), k);
        }
        let k: EventKind = serde_json::from_str("\"frobnicate\"").unwrap();
        assert_eq!(k, EventKind::Other("frobnicate".into()));
        assert_eq!(serde_json::to_string(&k).unwrap(), "\"frobnicate\"");
    }

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for k in EventKind::ALL {
            assert!(seen.insert(k.as_str()), "duplicate {k}");
        }
    }
}
