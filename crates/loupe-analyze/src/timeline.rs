//! The timeline: one [`TimelineEntry`] per event, in order, with offsets from
//! the session start and attocode-py-style one-line labels (seed-formats.md
//! §2.6), e.g. `LLM response: 1,234 tokens ($0.0123)`,
//! `Tool completed: read_file (42ms)`, `Tool error: bash -- exit 1`.

use loupe_model::{keys, Event, EventKind};

use crate::detectors::{secs, thousands};
use crate::facts::{is_fail_status, reports_failure, truncate_owned};
use crate::session::known_duration;
use crate::{Session, TimelineEntry};

/// One entry per event.
pub fn timeline(session: &Session) -> Vec<TimelineEntry> {
    let start = session
        .events
        .iter()
        .find(|e| e.kind == EventKind::SessionStart)
        .or(session.events.first())
        .map(|e| e.timestamp);
    session
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| TimelineEntry {
            offset_ms: start.map_or(0.0, |s| e.timestamp.millis_since(s)),
            kind: e.kind.clone(),
            label: label(e),
            duration_ms: known_duration(e),
            iteration: e.iteration,
            agent: e
                .agent
                .as_ref()
                .map(|a| a.name.clone().unwrap_or_else(|| a.id.clone())),
            important: is_important(e),
            failed: reports_failure(e),
            event_index: i,
        })
        .collect()
}

fn is_important(e: &Event) -> bool {
    matches!(e.kind, EventKind::SessionStart | EventKind::SessionEnd) || reports_failure(e)
}

fn dur(e: &Event) -> String {
    known_duration(e)
        .map(|d| format!(" ({})", secs(d)))
        .unwrap_or_default()
}

fn or_kind<'a>(v: Option<&'a str>, fallback: &'a str) -> &'a str {
    v.filter(|s| !s.is_empty()).unwrap_or(fallback)
}

/// One-line description of an event.
pub(crate) fn label(e: &Event) -> String {
    let s = match &e.kind {
        EventKind::SessionStart => match e
            .str(keys::TASK)
            .or(e.str("goal"))
            .filter(|t| !t.is_empty())
        {
            Some(t) => format!("Session started: {t}"),
            None => match e.model().filter(|m| !m.is_empty()) {
                Some(m) => format!("Session started (model={m})"),
                None => "Session started".to_owned(),
            },
        },
        EventKind::SessionEnd => format!("Session ended: {}", or_kind(e.status(), "complete")),
        EventKind::IterationStart => format!("Iteration {} started", e.iteration.unwrap_or(0)),
        EventKind::IterationEnd => {
            format!("Iteration {} ended{}", e.iteration.unwrap_or(0), dur(e))
        }
        EventKind::TurnStart => format!("Turn {} started", e.turn.unwrap_or(0)),
        EventKind::TurnEnd => format!("Turn {} ended{}", e.turn.unwrap_or(0), dur(e)),
        EventKind::LlmRequest => {
            let n = e.u64(keys::MESSAGE_COUNT).or(e.u64("messages_count"));
            match (n, e.model()) {
                (Some(n), Some(m)) => format!("LLM request: {n} messages -> {m}"),
                (None, Some(m)) => format!("LLM request -> {m}"),
                (Some(n), None) => format!("LLM request: {n} messages"),
                (None, None) => "LLM request".to_owned(),
            }
        }
        EventKind::LlmResponse => {
            let u = e.usage();
            let cost = e
                .reported_cost()
                .map(|c| format!(" (${c:.4})"))
                .unwrap_or_default();
            if u.is_empty() {
                format!("LLM response{cost}{}", dur(e))
            } else {
                format!("LLM response: {} tokens{cost}", thousands(u.total()))
            }
        }
        EventKind::LlmError => format!("LLM error: {}", e.error_message().unwrap_or_default()),
        EventKind::LlmRetry => format!("LLM retry (attempt {})", e.u64("attempt").unwrap_or(0)),
        EventKind::Think => format!("Think{}", dur(e)),
        EventKind::Thinking => match e.u64(keys::TOKENS) {
            Some(t) => format!("Thinking: {} tokens", thousands(t)),
            None => "Thinking".to_owned(),
        },
        EventKind::ToolStart => format!("Tool started: {}", or_kind(e.tool_name(), "tool")),
        EventKind::ToolEnd if e.status().is_some_and(is_fail_status) => format!(
            "Tool {}: {}{}",
            or_kind(e.status(), "error"),
            or_kind(e.tool_name(), "tool"),
            dur(e)
        ),
        EventKind::ToolEnd => format!(
            "Tool completed: {}{}",
            or_kind(e.tool_name(), "tool"),
            dur(e)
        ),
        EventKind::ToolError => format!(
            "Tool error: {} -- {}",
            or_kind(e.tool_name(), "tool"),
            e.error_message()
                .or_else(|| e.status().map(str::to_owned))
                .unwrap_or_default()
        ),
        EventKind::ToolApproval => format!("Tool approval: {}", or_kind(e.tool_name(), "tool")),
        EventKind::BudgetCheck => match e.f64(keys::USAGE_FRACTION) {
            Some(u) => format!("Budget check: {:.0}% used", u * 100.0),
            None => "Budget check".to_owned(),
        },
        EventKind::BudgetWarning => {
            format!("Budget warning: {}", or_kind(e.str(keys::MESSAGE), ""))
        }
        EventKind::BudgetExhausted => "Budget exhausted".to_owned(),
        EventKind::CompactionStart => "Compaction started".to_owned(),
        EventKind::CompactionEnd => match e.u64(keys::TOKENS_SAVED) {
            Some(t) => format!("Compaction completed: {} tokens saved", thousands(t)),
            None => "Compaction completed".to_owned(),
        },
        EventKind::ContextOverflow => "Context overflow detected".to_owned(),
        EventKind::SubagentSpawn
        | EventKind::SubagentComplete
        | EventKind::SubagentError
        | EventKind::SubagentTimeout => {
            let verb = match e.kind {
                EventKind::SubagentSpawn => "spawned",
                EventKind::SubagentComplete => "completed",
                EventKind::SubagentError => "error",
                _ => "timeout",
            };
            let id = e
                .str(keys::AGENT_ID)
                .or(e.agent.as_ref().map(|a| a.id.as_str()))
                .unwrap_or("");
            format!("Subagent {verb}: {id}")
        }
        EventKind::Error => format!("Error: {}", e.error_message().unwrap_or_default()),
        EventKind::Recovery => "Recovery initiated".to_owned(),
        EventKind::NodeStart => format!("Node started: {}", or_kind(e.str(keys::NODE_ID), "node")),
        EventKind::NodeEnd => format!(
            "Node {}: {}{}",
            or_kind(e.status(), "completed"),
            or_kind(e.str(keys::NODE_ID), "node"),
            dur(e)
        ),
        EventKind::Decision => match e.str("decision").or(e.str(keys::MESSAGE)) {
            Some(d) => format!("Decision: {d}"),
            None => "Decision".to_owned(),
        },
        other => {
            let name = e.str(keys::NAME).map(str::to_owned).unwrap_or_else(|| {
                let raw = other.as_str().replace('_', " ");
                let mut c = raw.chars();
                match c.next() {
                    Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                    None => raw,
                }
            });
            // Logs, swarm steps, retries: their text says what happened.
            match e.str(keys::MESSAGE).filter(|m| !m.is_empty()) {
                Some(m) => format!("{name}{}: {m}", dur(e)),
                None => format!("{name}{}", dur(e)),
            }
        }
    };
    // A failure says why, when the label does not already.
    let s = match e.error_message().filter(|m| !m.is_empty()) {
        Some(why) if reports_failure(e) && !s.contains(why.as_str()) => format!("{s} -- {why}"),
        _ => s,
    };
    truncate_owned(s, 160)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Trace;
    use serde_json::json;

    #[test]
    fn labels_follow_attocode_py() {
        let mut t = Trace::new();
        t.iter(1).llm(1000, 234, 0, 0);
        t.tool("read_file", json!({}), 42.0);
        t.tool_err("bash", json!({}), "exit 1");
        t.push(EventKind::Custom, &[]);
        t.push(EventKind::SubagentSpawn, &[(keys::AGENT_ID, "r-1".into())]);
        let s = t.session();
        let tl = timeline(&s);
        let labels: Vec<&str> = tl.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(labels[0], "Session started (model=claude-sonnet-4-5)");
        assert_eq!(labels[1], "Iteration 1 started");
        assert_eq!(labels[2], "LLM request -> claude-sonnet-4-5");
        assert_eq!(labels[3], "LLM response: 1,234 tokens");
        assert_eq!(labels[4], "Tool completed: read_file (42ms)");
        assert_eq!(labels[5], "Tool error: bash -- exit 1");
        assert_eq!(labels[6], "Custom");
        assert_eq!(labels[7], "Subagent spawned: r-1");
        assert!(tl[5].important && !tl[4].important && tl[0].important);
        assert_eq!(tl[4].offset_ms, 4000.0);
        assert_eq!(tl.len(), s.events.len());
    }
}
