//! attoswarm (attocode's Python swarm runner) files: `swarm.events.jsonl`,
//! `agents/*.trace.jsonl` and `control.jsonl` (samples/attoswarm-real/README.md).
//!
//! The swarm has no session id of its own, so the session is the swarm
//! directory's name (the parent of `swarm.events.jsonl`, or of `agents/`):
//! every file of one swarm lands in one session.
//!
//! Mapping of `swarm.events.jsonl` `event_type`: `spawn` → `subagent_spawn`,
//! `retry` → `retry_attempt` with status `failed` (an attempt that failed),
//! `complete` → `subagent_complete` (a worker's) or `swarm_complete` (with no
//! `agent_id`: the swarm's own, status `failed` when its `data.failed`
//! counts a task, else `completed`), `fail` → `subagent_error`, `decision` →
//! `swarm_decision`, `info` → `log`, anything
//! else → `swarm_event`; the worker (`agent_id`) becomes `agent`. Agent trace
//! lines (`entry_type`): `cost_delta` → `cost_delta` with `cost_usd`, `error` →
//! `error`, others → `swarm_event`. Control lines (`action`) → `custom` named
//! after the action. Nested `data` is flattened into `data`; the original
//! type is kept as `source_kind`.

use std::path::Path;

use loupe_model::{keys, AgentRef, Event, EventKind};
use serde_json::{Map, Value};

use crate::common::{
    derived_event_id, parse_object, take_string, take_timestamp, LineCtx, LineParser,
};
use crate::Sink;

/// Reader state for one attoswarm file.
pub(crate) struct AttoswarmReader {
    session: String,
}

impl AttoswarmReader {
    /// The session is the swarm directory's name, or `fallback` when the path
    /// says nothing (bytes read from memory).
    pub(crate) fn new(path: &Path, fallback: Option<String>) -> Self {
        AttoswarmReader {
            session: fallback.unwrap_or_else(|| swarm_session_of(path)),
        }
    }
}

/// The session of a file of the swarm: its swarm directory's name. attoswarm
/// writes every project's run to `PROJECT/.agent/hybrid-swarm/`, so there
/// the project's name comes first (`PROJECT/hybrid-swarm`): two projects'
/// runs are two sessions, not one.
pub(crate) fn swarm_session_of(path: &Path) -> String {
    // Standard input has no swarm directory (`/dev` is not one).
    if path == Path::new("/dev/stdin") || path == Path::new("-") {
        return "attoswarm".to_owned();
    }
    let mut dir = path.parent();
    if dir.and_then(Path::file_name).is_some_and(|n| n == "agents") {
        dir = dir.and_then(Path::parent);
    }
    let name = |d: Option<&Path>| {
        d.and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
    };
    let Some(swarm) = name(dir) else {
        return "attoswarm".to_owned();
    };
    let parent = dir.and_then(Path::parent);
    if let Some(agent_dir) = parent.filter(|p| name(Some(p)).as_deref() == Some(".agent")) {
        // `.agent/hybrid-swarm` given from inside the project: its name is
        // only on disk.
        let project = name(agent_dir.parent()).or_else(|| {
            let real = agent_dir.canonicalize().ok()?;
            name(real.parent())
        });
        if let Some(project) = project {
            return format!("{project}/{swarm}");
        }
    }
    swarm
}

impl LineParser for AttoswarmReader {
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
        let mut map = parse_object(line)?;
        let timestamp = take_timestamp(&mut map, "timestamp")?;
        let agent_id = take_string(&mut map, "agent_id").filter(|s| !s.is_empty());
        let (source_kind, kind) = if let Some(t) = take_string(&mut map, "event_type") {
            let kind = match t.as_str() {
                "spawn" => EventKind::SubagentSpawn,
                // With no worker, the swarm itself completed ("Swarm
                // complete: 17/17 tasks").
                "complete" if agent_id.is_none() => {
                    let failed = map
                        .get("data")
                        .and_then(|d| d.get("failed"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0);
                    map.insert(
                        keys::STATUS.to_owned(),
                        Value::from(if failed == 0 { "completed" } else { "failed" }),
                    );
                    EventKind::SwarmComplete
                }
                "complete" => EventKind::SubagentComplete,
                "fail" => EventKind::SubagentError,
                // "Task task-6 failed (attempt 1/5), retrying": the
                // worker's attempt failed.
                "retry" => {
                    map.insert(keys::STATUS.to_owned(), Value::from("failed"));
                    EventKind::RetryAttempt
                }
                "decision" => EventKind::SwarmDecision,
                "info" => EventKind::Log,
                _ => EventKind::SwarmEvent,
            };
            (t, kind)
        } else if let Some(t) = take_string(&mut map, "entry_type") {
            let kind = match t.as_str() {
                "cost_delta" => EventKind::CostDelta,
                "error" => EventKind::Error,
                _ => EventKind::SwarmEvent,
            };
            (t, kind)
        } else if let Some(action) = take_string(&mut map, "action") {
            map.insert(keys::NAME.to_owned(), Value::String(action));
            ("control".to_owned(), EventKind::Custom)
        } else {
            return Err(
                "no `event_type`, `entry_type` or `action`: not an attoswarm line".to_owned(),
            );
        };
        let mut data: Map<String, Value> = Map::new();
        if let Some(Value::Object(inner)) = map.remove("data") {
            data = inner;
        }
        for (k, v) in map {
            data.entry(k).or_insert(v);
        }
        if data
            .get(keys::ERROR)
            .is_some_and(|e| e.as_str() == Some(""))
        {
            data.remove(keys::ERROR);
        }
        if let Some(id) = &agent_id {
            data.insert(keys::AGENT_ID.to_owned(), Value::String(id.clone()));
        }
        if kind.as_str() != source_kind {
            data.insert(keys::SOURCE_KIND.to_owned(), Value::String(source_kind));
        }
        let mut event = Event::new(
            derived_event_id(&self.session, ctx.line_no, line),
            kind,
            timestamp,
            self.session.clone(),
        );
        event.agent = agent_id.map(|id| {
            Box::new(AgentRef {
                id,
                ..AgentRef::default()
            })
        });
        event.data = data;
        sink.event(ctx.source, event);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Collected, Source};
    use loupe_model::SourceFormat;

    #[test]
    fn a_run_in_a_project_agent_directory_is_named_by_its_project() {
        let of = |p: &str| swarm_session_of(Path::new(p));
        assert_eq!(
            of("projA/.agent/hybrid-swarm/swarm.events.jsonl"),
            "projA/hybrid-swarm"
        );
        assert_eq!(
            of("/x/projB/.agent/hybrid-swarm/agents/agent-task-1.trace.jsonl"),
            "projB/hybrid-swarm"
        );
        assert_eq!(of("samples/attoswarm-real/control.jsonl"), "attoswarm-real");
        assert_eq!(of("swarm.events.jsonl"), "attoswarm");
        assert_eq!(of("/dev/stdin"), "attoswarm");
    }

    #[test]
    fn agent_files_belong_to_the_swarm_directory_session() {
        let path = Path::new("/x/hybrid-swarm/agents/agent-task-1.trace.jsonl");
        assert_eq!(swarm_session_of(path), "hybrid-swarm");
        let source = Source {
            path: path.into(),
            format: SourceFormat::Attoswarm,
        };
        let mut out = Collected::default();
        let mut r = AttoswarmReader::new(path, None);
        let line = r#"{"timestamp": 1773601529.2, "agent_id": "agent-task-1", "task_id": "task-1", "entry_type": "cost_delta", "data": {"cost_usd": 0.25, "tokens_used": 0, "error": ""}}"#;
        crate::common::drive_lines(line.as_bytes(), 1, &source, &mut r, &mut out).unwrap();
        let e = &out.events[0].1;
        assert_eq!(e.kind, EventKind::CostDelta);
        assert_eq!(e.reported_cost(), Some(0.25));
        assert_eq!(e.agent.as_ref().unwrap().id, "agent-task-1");
        assert_eq!(e.session_id, "hybrid-swarm");
        assert!(e.error_message().is_none());
    }
}
