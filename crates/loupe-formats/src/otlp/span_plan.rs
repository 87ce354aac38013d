//! Which events of a request become one span, and which span each span hangs
//! from: the layout step of the OTLP writer ([`super::export`]).
//!
//! **Pairs.** Events with a `span_id` pair by it (session, trace, span id and
//! parent must match). Most seed formats give no span ids (attocode-py,
//! Agent Trace, Victor), so events without one pair as the span tree pairs
//! them: a session's start with its end, an iteration or turn with the end of
//! the same number, an LLM request with the next response of the same agent,
//! a tool start with the end of the same call id (else the same tool in the
//! same iteration, first in first out), a subagent spawn with the completion
//! of the same agent id, a workflow, node, task, swarm wave or plan step
//! start with the end naming the same node, task, wave or step. A pair also
//! needs the same session, trace and agent, no end before its start, and the
//! end's parent to be the start's parent or the start itself (attocode-py
//! points a subagent's completion at its spawn). A start left without its end
//! stays an unended span.
//!
//! **Parents.** A span whose events name a parent that is written in the same
//! request hangs from it. Any other span hangs from the innermost structural
//! container written for its session and trace: its iteration (of the same
//! agent), else its subagent's span, else its turn, else the workflow for
//! nodes, else the session's span. Iterations hang from their subagent or
//! turn, subagents from the iteration that spawned them, everything from the
//! session. So a trace exported from a format without span ids opens in an
//! OpenTelemetry viewer as the tree Loupe shows, not as a flat list.
//!
//! Neither step changes what the reader restores: the `loupe.*` attributes
//! carry each event's own ids (see `export.rs`).

use std::collections::{HashMap, VecDeque};

use loupe_model::{keys, Event, EventKind};

/// The events one span is written from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Plan {
    /// A start event and its end event.
    Pair(usize, usize),
    /// One event on its own.
    Single(usize),
}

impl Plan {
    /// The event that opens the span (the only one for a single).
    pub(super) fn first(self) -> usize {
        match self {
            Plan::Pair(s, _) | Plan::Single(s) => s,
        }
    }

    /// The event that closes the span (the only one for a single).
    pub(super) fn last(self) -> usize {
        match self {
            Plan::Pair(_, e) | Plan::Single(e) => e,
        }
    }
}

/// What a start and an end event with span ids must share to form one span:
/// session, trace, span id and parent.
type IdKey<'a> = (&'a str, Option<&'a str>, &'a str, Option<&'a str>);

/// What a start and an end event without span ids must share.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct OpenKey<'a> {
    session: &'a str,
    trace: Option<&'a str>,
    agent: Option<&'a str>,
    family: Family<'a>,
}

/// Which start an end closes, by kind and identifying payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Family<'a> {
    Session,
    Iteration(Option<u32>),
    Turn(Option<u32>),
    Llm,
    ToolCall(&'a str),
    ToolNamed(&'a str, Option<u32>),
    Subagent(Option<&'a str>),
    /// Other start/end kinds, by the start kind's name and the payload
    /// member naming the node, task, wave or step.
    Other(&'static str, Option<String>),
}

/// The member that tells apart concurrent spans of the "other" families.
fn other_id(e: &Event) -> Option<String> {
    const NAMES: [&str; 7] = [
        keys::NODE_ID,
        "task_id",
        "taskId",
        "wave",
        "step",
        "step_id",
        keys::NAME,
    ];
    NAMES.iter().find_map(|k| match e.data.get(*k)? {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// The families an event opens (`Some(true)`) or closes (`Some(false)`),
/// each key to try in order.
fn families(e: &Event) -> Option<(bool, Vec<Family<'_>>)> {
    use EventKind as K;
    let call = e.str(keys::CALL_ID);
    let named = || Family::ToolNamed(e.tool_name().unwrap_or(""), e.iteration);
    let subagent = || {
        Family::Subagent(
            e.str(keys::AGENT_ID)
                .or(e.agent.as_ref().map(|a| a.id.as_str())),
        )
    };
    let other = |start: &'static str| vec![Family::Other(start, other_id(e))];
    let (opens, keys) = match e.kind {
        K::SessionStart => (true, vec![Family::Session]),
        K::SessionEnd => (false, vec![Family::Session]),
        K::IterationStart => (true, vec![Family::Iteration(e.iteration)]),
        K::IterationEnd => (false, vec![Family::Iteration(e.iteration)]),
        K::TurnStart => (true, vec![Family::Turn(e.turn)]),
        K::TurnEnd => (false, vec![Family::Turn(e.turn)]),
        K::LlmRequest => (true, vec![Family::Llm]),
        K::LlmResponse | K::LlmError => (false, vec![Family::Llm]),
        K::ToolStart => (true, vec![call.map_or_else(named, Family::ToolCall)]),
        K::ToolEnd | K::ToolError => match call {
            Some(c) => (false, vec![Family::ToolCall(c), named()]),
            None => (false, vec![named()]),
        },
        K::SubagentSpawn => (true, vec![subagent()]),
        K::SubagentComplete | K::SubagentError | K::SubagentTimeout => (false, vec![subagent()]),
        K::CompactionStart => (true, other("compaction")),
        K::CompactionEnd => (false, other("compaction")),
        K::TaskStart => (true, other("task")),
        K::TaskEnd => (false, other("task")),
        K::SwarmStart => (true, other("swarm")),
        K::SwarmComplete => (false, other("swarm")),
        K::SwarmWaveStart => (true, other("swarm_wave")),
        K::SwarmWaveComplete => (false, other("swarm_wave")),
        K::SwarmTaskStart => (true, other("swarm_task")),
        K::SwarmTaskComplete | K::SwarmTaskFailed => (false, other("swarm_task")),
        K::PlanStepStart => (true, other("plan_step")),
        K::PlanStepComplete => (false, other("plan_step")),
        K::WorkflowStart => (true, other("workflow")),
        K::WorkflowEnd => (false, other("workflow")),
        K::NodeStart => (true, other("node")),
        K::NodeEnd => (false, other("node")),
        K::SpanStart => (true, other("span")),
        K::SpanEnd => (false, other("span")),
        _ => return None,
    };
    Some((opens, keys))
}

/// Whether `end` may close the span `start` opened (both without span ids).
fn closes(start: &Event, end: &Event) -> bool {
    end.timestamp >= start.timestamp
        && (end.parent_event_id == start.parent_event_id
            || end.parent_event_id.as_deref() == Some(start.event_id.as_str()))
}

/// Lays out the spans of `events`, in event order (a pair where its start is).
pub(super) fn plan(events: &[Event]) -> Vec<Plan> {
    let mut plans: Vec<Plan> = Vec::with_capacity(events.len());
    let mut open_by_id: HashMap<IdKey<'_>, usize> = HashMap::new();
    let mut open: HashMap<OpenKey<'_>, VecDeque<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        match e.span_id.as_deref() {
            Some(span_id) => {
                let key = (
                    e.session_id.as_str(),
                    e.trace_id.as_deref(),
                    span_id,
                    e.parent_event_id.as_deref(),
                );
                if e.kind.is_span_end() {
                    if let Some(slot) = open_by_id.remove(&key) {
                        if let Plan::Single(start) = plans[slot] {
                            plans[slot] = Plan::Pair(start, i);
                            continue;
                        }
                    }
                } else if e.kind.is_span_start() {
                    // A second start with the same key leaves the first one unended.
                    open_by_id.insert(key, plans.len());
                }
                plans.push(Plan::Single(i));
            }
            None => {
                let Some((opens, families)) = families(e) else {
                    plans.push(Plan::Single(i));
                    continue;
                };
                let key = |family| OpenKey {
                    session: e.session_id.as_str(),
                    trace: e.trace_id.as_deref(),
                    agent: e.agent.as_ref().map(|a| a.id.as_str()),
                    family,
                };
                if opens {
                    for family in families {
                        open.entry(key(family)).or_default().push_back(plans.len());
                    }
                    plans.push(Plan::Single(i));
                    continue;
                }
                let paired = families.into_iter().find_map(|family| {
                    let queue = open.get_mut(&key(family))?;
                    let at = queue.iter().position(
                        |&slot| matches!(plans[slot], Plan::Single(s) if closes(&events[s], e)),
                    )?;
                    queue.remove(at)
                });
                match paired {
                    Some(slot) => {
                        if let Plan::Single(start) = plans[slot] {
                            plans[slot] = Plan::Pair(start, i);
                        }
                    }
                    None => plans.push(Plan::Single(i)),
                }
            }
        }
    }
    plans
}

/// Where each planned span hangs from: an index into `plans`, or none (a root).
/// `ids[p]` is the OTLP span id written for `plans[p]`, `traces[p]` its trace id.
pub(super) fn parents(
    events: &[Event],
    plans: &[Plan],
    ids: &[Vec<u8>],
    traces: &[Vec<u8>],
    id_of: impl Fn(&str, &str) -> Vec<u8>,
) -> Vec<Option<usize>> {
    // Containers by (session, trace bytes, what they contain).
    #[derive(PartialEq, Eq, Hash)]
    enum Holds<'a> {
        Session,
        Iteration(Option<&'a str>, u32),
        Turn(u32),
        Subagent(&'a str),
        Workflow,
    }
    let mut containers: HashMap<(&str, &[u8], Holds<'_>), usize> = HashMap::new();
    for (p, plan) in plans.iter().enumerate() {
        let e = &events[plan.first()];
        let agent = e.agent.as_ref().map(|a| a.id.as_str());
        let holds = match e.kind {
            EventKind::SessionStart | EventKind::SessionEnd if agent.is_none() => Holds::Session,
            EventKind::IterationStart | EventKind::IterationEnd => match e.iteration {
                Some(n) => Holds::Iteration(agent, n),
                None => continue,
            },
            EventKind::TurnStart | EventKind::TurnEnd if agent.is_none() => match e.turn {
                Some(n) => Holds::Turn(n),
                None => continue,
            },
            EventKind::SubagentSpawn => match e.str(keys::AGENT_ID).or(agent) {
                Some(id) => Holds::Subagent(id),
                None => continue,
            },
            EventKind::WorkflowStart | EventKind::WorkflowEnd if agent.is_none() => Holds::Workflow,
            _ => continue,
        };
        // The first one written is the container (a session has one start).
        containers
            .entry((e.session_id.as_str(), traces[p].as_slice(), holds))
            .or_insert(p);
    }
    let written: HashMap<(&[u8], &[u8]), usize> = ids
        .iter()
        .zip(traces)
        .enumerate()
        .map(|(p, (id, trace))| ((trace.as_slice(), id.as_slice()), p))
        .collect();

    plans
        .iter()
        .enumerate()
        .map(|(p, plan)| {
            let (first, last) = (&events[plan.first()], &events[plan.last()]);
            let trace = traces[p].as_slice();
            // The events' own parent, when it is written here (an end that
            // points at its own start names no parent of the span).
            let named = [last, first].into_iter().find_map(|e| {
                let parent = e.parent_event_id.as_deref()?;
                if matches!(plan, Plan::Pair(..)) && parent == first.event_id {
                    return None;
                }
                written
                    .get(&(trace, id_of(&e.session_id, parent).as_slice()))
                    .copied()
            });
            if let Some(q) = named.filter(|&q| q != p) {
                return Some(q);
            }
            let at = |holds| {
                containers
                    .get(&(first.session_id.as_str(), trace, holds))
                    .copied()
                    .filter(|&q| q != p)
            };
            let agent = first.agent.as_ref().map(|a| a.id.as_str());
            let iteration = first.iteration.and_then(|n| at(Holds::Iteration(agent, n)));
            let subagent = || agent.and_then(|a| at(Holds::Subagent(a)));
            let turn = || first.turn.and_then(|n| at(Holds::Turn(n)));
            let main_iteration = || first.iteration.and_then(|n| at(Holds::Iteration(None, n)));
            let session = || at(Holds::Session);
            match first.kind {
                EventKind::SessionStart | EventKind::SessionEnd if agent.is_none() => None,
                EventKind::IterationStart | EventKind::IterationEnd => {
                    subagent().or_else(turn).or_else(session)
                }
                EventKind::TurnStart | EventKind::TurnEnd => session(),
                EventKind::SubagentSpawn
                | EventKind::SubagentComplete
                | EventKind::SubagentError
                | EventKind::SubagentTimeout
                    if agent.is_none() =>
                {
                    main_iteration().or_else(turn).or_else(session)
                }
                EventKind::NodeStart | EventKind::NodeEnd => {
                    at(Holds::Workflow).or(iteration).or_else(session)
                }
                _ => iteration.or_else(subagent).or_else(turn).or_else(session),
            }
        })
        .collect()
}

/// Every span's parent chain ends at a root: a chain that loops (events
/// naming each other as parents) is cut where it closes. Linear: each span
/// is walked once.
pub(super) fn break_cycles(parents: &mut [Option<usize>]) {
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        No,
        OnPath,
        Done,
    }
    let mut seen = vec![Seen::No; parents.len()];
    let mut path = Vec::new();
    for start in 0..parents.len() {
        let mut at = start;
        while seen[at] == Seen::No {
            seen[at] = Seen::OnPath;
            path.push(at);
            match parents[at] {
                Some(next) if seen[next] == Seen::OnPath => {
                    parents[at] = None;
                    break;
                }
                Some(next) => at = next,
                None => break,
            }
        }
        for p in path.drain(..) {
            seen[p] = Seen::Done;
        }
    }
}
