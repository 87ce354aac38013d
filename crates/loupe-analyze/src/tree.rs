//! The span tree: session → iterations (else turns) → LLM calls, tool calls,
//! subagents (holding that agent's own LLM and tool calls) and notable point
//! events (errors, decisions, budget warnings, compactions); workflow nodes
//! hold their tool calls.
//!
//! Start/end pairing: by `span_id`, else `call_id`, else (for formats without
//! ids) the oldest open `tool_start` of the same agent, tool and iteration;
//! LLM requests pair with the next response of the same agent. Spans never
//! closed stay [`NodeStatus::Running`]. Parents come from `parent_event_id`
//! when it names a container (workflow node, subagent), else from the agent,
//! the iteration and the turn. One pass plus a sort of each child list:
//! O(n log n).

use std::collections::VecDeque;

use crate::HashMap;

use loupe_model::{keys, Event, EventKind, Timestamp, TokenTotals};

use crate::facts::{args_brief, reports_failure, truncate_owned};
use crate::{NodeStatus, Session, SpanKind, SpanNode};

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Key {
    Iteration(u32),
    Turn(u32),
    Subagent(String),
    Node(String),
    Workflow,
}

/// (agent, tool, iteration) of a tool start without a span or call id.
type ToolKey<'a> = (Option<&'a str>, &'a str, Option<u32>);

struct Builder<'a> {
    session: &'a Session,
    nodes: Vec<SpanNode>,
    parent: Vec<Option<usize>>, // None = root
    containers: HashMap<Key, usize>,
    /// event_id / span_id of a container's opening event → container.
    anchors: HashMap<&'a str, usize>,
    /// open LLM requests per agent (FIFO).
    open_llm: HashMap<Option<&'a str>, VecDeque<usize>>,
    /// open spans by span id or call id.
    open_by_id: HashMap<&'a str, usize>,
    /// open tool starts without ids per (agent, tool, iteration).
    open_tools: HashMap<ToolKey<'a>, VecDeque<usize>>,
    /// LLM and tool calls by span id, open or closed: a subagent spawned
    /// inside one (a `delegate` tool) nests under it.
    call_spans: HashMap<&'a str, usize>,
}

fn node(kind: SpanKind, label: String, start: Timestamp, e: Option<(&Event, usize)>) -> SpanNode {
    SpanNode {
        kind,
        label,
        start,
        duration_ms: None,
        status: NodeStatus::Ok,
        iteration: e.and_then(|(e, _)| e.iteration),
        agent: e.and_then(|(e, _)| e.agent.as_deref().cloned()),
        event_index: e.map(|(_, i)| i),
        tokens: None,
        error: None,
        recorded_success: false,
        children: Vec::new(),
    }
}

impl<'a> Builder<'a> {
    fn push(&mut self, n: SpanNode, parent: Option<usize>) -> usize {
        self.nodes.push(n);
        self.parent.push(parent);
        self.nodes.len() - 1
    }

    fn container(&mut self, key: Key, start: Timestamp, e: Option<(&'a Event, usize)>) -> usize {
        if let Some(&i) = self.containers.get(&key) {
            if start < self.nodes[i].start {
                self.nodes[i].start = start;
            }
            return i;
        }
        let (kind, label, parent) = match &key {
            Key::Iteration(n) => (SpanKind::Iteration, format!("Iteration {n}"), None),
            Key::Turn(n) => (SpanKind::Turn, format!("Turn {n}"), None),
            Key::Workflow => (
                SpanKind::Workflow,
                e.and_then(|(e, _)| e.str(keys::WORKFLOW))
                    .unwrap_or("Workflow")
                    .to_owned(),
                None,
            ),
            Key::Subagent(id) => {
                // Spawned inside a call, a plain span (an OTLP chain root)
                // or another subagent (OTLP spans say so by their parent):
                // nested there.
                let inside = e
                    .and_then(|(e, _)| e.parent_event_id.as_deref())
                    .and_then(|p| {
                        self.call_spans.get(p).copied().or_else(|| {
                            self.anchors.get(p).copied().filter(|&i| {
                                matches!(self.nodes[i].kind, SpanKind::Subagent | SpanKind::Span)
                            })
                        })
                    });
                let at = e.and_then(|(e, _)| {
                    e.agent
                        .as_ref()
                        .and_then(|a| a.spawned_at_iteration)
                        .or(if e.agent.is_none() { e.iteration } else { None })
                });
                let parent =
                    inside.or_else(|| at.map(|n| self.container(Key::Iteration(n), start, None)));
                (SpanKind::Subagent, format!("Subagent {id}"), parent)
            }
            Key::Node(id) => {
                let parent = self.containers.get(&Key::Workflow).copied();
                (SpanKind::Node, id.clone(), parent)
            }
        };
        let mut n = node(kind, label, start, e);
        if let Key::Iteration(i) = key {
            n.iteration = Some(i);
            n.agent = None;
            n.event_index = None;
        }
        if matches!(key, Key::Subagent(_)) {
            n.iteration = None;
        }
        let synthetic = n.event_index == Some(usize::MAX);
        if synthetic {
            n.event_index = None;
        }
        let i = self.push(n, parent);
        self.containers.insert(key, i);
        if let Some((e, _)) = e.filter(|_| !synthetic) {
            self.anchors.insert(e.event_id.as_str(), i);
            if let Some(s) = &e.span_id {
                self.anchors.insert(s.as_str(), i);
            }
        }
        i
    }

    /// Where a leaf event goes.
    fn parent_of(&mut self, e: &'a Event) -> Option<usize> {
        if let Some(p) = e
            .parent_event_id
            .as_deref()
            .and_then(|p| self.anchors.get(p))
        {
            return Some(*p);
        }
        if let Some(a) = &e.agent {
            return Some(self.container(
                Key::Subagent(a.id.clone()),
                e.start_time(),
                Some((e, usize::MAX)),
            ));
        }
        if let Some(id) = e.str(keys::NODE_ID) {
            if let Some(&n) = self.containers.get(&Key::Node(id.to_owned())) {
                return Some(n);
            }
        }
        if let Some(i) = e.iteration {
            let c = self.container(Key::Iteration(i), e.start_time(), None);
            // Iterations nest under the turn they happen in (Agent Trace).
            if let (Some(t), None) = (e.turn, self.parent[c]) {
                let turn = self.container(Key::Turn(t), e.start_time(), None);
                if turn != c {
                    self.parent[c] = Some(turn);
                }
            }
            return Some(c);
        }
        if let Some(t) = e.turn {
            return Some(self.container(Key::Turn(t), e.start_time(), None));
        }
        None
    }

    fn close(&mut self, i: usize, e: &Event, index: usize, failed: bool) {
        let n = &mut self.nodes[i];
        n.duration_ms = match e.duration_ms {
            Some(d) if crate::session::valid_duration(d) => Some(d),
            // Recorded but negative: unknown, as everywhere (assembly
            // already tried the time since its start).
            Some(_) => None,
            None => Some(e.timestamp.millis_since(n.start)).filter(|d| *d >= 0.0),
        };
        n.error = if failed { e.error_message() } else { None };
        n.recorded_success = !failed
            && e.status().is_some_and(|s| {
                ["success", "ok", "completed", "complete"]
                    .iter()
                    .any(|ok| s.eq_ignore_ascii_case(ok))
            });
        n.status = if failed {
            NodeStatus::Error
        } else if e
            .status()
            .is_some_and(|s| s.eq_ignore_ascii_case("skipped"))
        {
            NodeStatus::Skipped
        } else {
            NodeStatus::Ok
        };
        n.event_index = Some(index);
    }

    fn leaf(&mut self, e: &'a Event, index: usize) {
        let failed = reports_failure(e);
        match &e.kind {
            EventKind::IterationStart if !e.is_subagent() => {
                if let Some(n) = e.iteration {
                    let c = self.container(Key::Iteration(n), e.timestamp, None);
                    self.nodes[c].start = e.timestamp;
                }
            }
            EventKind::IterationEnd if !e.is_subagent() => {
                if let Some(n) = e.iteration {
                    let c = self.container(Key::Iteration(n), e.start_time(), None);
                    self.close(c, e, index, false);
                    self.nodes[c].event_index = None;
                }
            }
            EventKind::TurnStart => {
                if let Some(n) = e.turn {
                    self.container(Key::Turn(n), e.timestamp, None);
                }
            }
            EventKind::TurnEnd => {
                if let Some(n) = e.turn {
                    let c = self.container(Key::Turn(n), e.start_time(), None);
                    self.close(c, e, index, failed);
                }
            }
            EventKind::WorkflowStart => {
                self.container(Key::Workflow, e.timestamp, Some((e, index)));
            }
            EventKind::WorkflowEnd => {
                let c = self.container(Key::Workflow, e.start_time(), Some((e, index)));
                self.close(c, e, index, failed);
            }
            EventKind::NodeStart | EventKind::NodeEnd => {
                // A node that runs twice has one span per run; pair by span id
                // when there is one, else by node id.
                let id = e.str(keys::NODE_ID).unwrap_or("node");
                let key = e
                    .span_id
                    .as_deref()
                    .map_or_else(|| id.to_owned(), |s| format!("{id}\u{1f}{s}"));
                let c = self.container(Key::Node(key), e.start_time(), Some((e, index)));
                self.nodes[c].label = id.to_owned();
                if e.kind == EventKind::NodeEnd {
                    self.close(c, e, index, failed);
                } else {
                    self.nodes[c].status = NodeStatus::Running;
                }
            }
            EventKind::SubagentSpawn
            | EventKind::SubagentComplete
            | EventKind::SubagentError
            | EventKind::SubagentTimeout => {
                let id = e
                    .str(keys::AGENT_ID)
                    .or(e.agent.as_ref().map(|a| a.id.as_str()))
                    .unwrap_or("subagent")
                    .to_owned();
                let c = self.container(Key::Subagent(id), e.start_time(), Some((e, index)));
                if e.kind == EventKind::SubagentSpawn {
                    self.nodes[c].status = NodeStatus::Running;
                    self.nodes[c].start = e.timestamp;
                } else {
                    self.close(c, e, index, failed);
                }
            }
            EventKind::LlmRequest => {
                let p = self.parent_of(e);
                let mut n = node(
                    SpanKind::Llm,
                    e.model().unwrap_or("LLM call").to_owned(),
                    e.timestamp,
                    Some((e, index)),
                );
                n.status = NodeStatus::Running;
                let i = self.push(n, p);
                match e.span_id.as_deref() {
                    Some(s) => {
                        self.open_by_id.insert(s, i);
                        self.call_spans.insert(s, i);
                    }
                    None => self
                        .open_llm
                        .entry(e.agent.as_ref().map(|a| a.id.as_str()))
                        .or_default()
                        .push_back(i),
                }
            }
            EventKind::LlmResponse | EventKind::LlmError | EventKind::Think => {
                let open = match e.span_id.as_deref() {
                    Some(s) => self.open_by_id.remove(s),
                    None => {
                        let q = self
                            .open_llm
                            .entry(e.agent.as_ref().map(|a| a.id.as_str()))
                            .or_default();
                        q.pop_front()
                    }
                };
                let i = match open {
                    Some(i) => i,
                    None => {
                        let p = self.parent_of(e);
                        self.push(
                            node(
                                SpanKind::Llm,
                                "LLM call".to_owned(),
                                e.start_time(),
                                Some((e, index)),
                            ),
                            p,
                        )
                    }
                };
                self.close(i, e, index, failed);
                if let Some(m) = e.model() {
                    self.nodes[i].label = m.to_owned();
                }
                let u = e.usage();
                if !u.is_empty() {
                    let mut t = TokenTotals::default();
                    t += &u;
                    self.nodes[i].tokens = Some(t);
                }
            }
            EventKind::ToolStart => {
                let p = self.parent_of(e);
                let mut n = node(SpanKind::Tool, tool_label(e), e.timestamp, Some((e, index)));
                n.status = NodeStatus::Running;
                let i = self.push(n, p);
                match e.span_id.as_deref().or(e.str(keys::CALL_ID)) {
                    Some(s) => {
                        self.open_by_id.insert(s, i);
                        if e.span_id.is_some() {
                            self.call_spans.insert(s, i);
                        }
                    }
                    None => self
                        .open_tools
                        .entry((
                            e.agent.as_ref().map(|a| a.id.as_str()),
                            e.tool_name().unwrap_or(""),
                            e.iteration,
                        ))
                        .or_default()
                        .push_back(i),
                }
            }
            EventKind::ToolEnd | EventKind::ToolError => {
                let open = match e.span_id.as_deref().or(e.str(keys::CALL_ID)) {
                    Some(s) => self.open_by_id.remove(s),
                    None => {
                        let q = self
                            .open_tools
                            .entry((
                                e.agent.as_ref().map(|a| a.id.as_str()),
                                e.tool_name().unwrap_or(""),
                                e.iteration,
                            ))
                            .or_default();
                        q.pop_front()
                    }
                };
                let i = match open {
                    Some(i) => i,
                    None => {
                        let p = self.parent_of(e);
                        self.push(
                            node(
                                SpanKind::Tool,
                                String::new(),
                                e.start_time(),
                                Some((e, index)),
                            ),
                            p,
                        )
                    }
                };
                self.close(i, e, index, failed);
                // The end event's arguments win; formats that record them only
                // on the start event (MyAgent, OTLP) keep the start's label.
                if self.nodes[i].label.is_empty() || e.data.contains_key(keys::ARGS) {
                    self.nodes[i].label = tool_label(e);
                }
            }
            EventKind::SpanStart => {
                let p = self.parent_of(e);
                let mut n = node(
                    SpanKind::Span,
                    e.str(keys::NAME).unwrap_or("span").to_owned(),
                    e.timestamp,
                    Some((e, index)),
                );
                n.status = NodeStatus::Running;
                let i = self.push(n, p);
                if let Some(s) = e.span_id.as_deref() {
                    self.open_by_id.insert(s, i);
                    self.anchors.insert(s, i);
                }
                self.anchors.insert(e.event_id.as_str(), i);
            }
            EventKind::SpanEnd | EventKind::CompactionEnd | EventKind::TaskEnd => {
                let open = e.span_id.as_deref().and_then(|s| self.open_by_id.remove(s));
                let i = match open {
                    Some(i) => i,
                    None => {
                        let label = e
                            .str(keys::NAME)
                            .map(str::to_owned)
                            .unwrap_or_else(|| crate::timeline::label(e));
                        let p = self.parent_of(e);
                        self.push(
                            node(SpanKind::Span, label, e.start_time(), Some((e, index))),
                            p,
                        )
                    }
                };
                self.close(i, e, index, failed);
            }
            k if k.is_error()
                || matches!(
                    k,
                    EventKind::Decision
                        | EventKind::BudgetWarning
                        | EventKind::ModeChange
                        | EventKind::SubagentLink
                        | EventKind::Recovery
                        | EventKind::Checkpoint
                        | EventKind::Dropped
                ) =>
            {
                let p = self.parent_of(e);
                let mut n = node(
                    SpanKind::Event,
                    crate::timeline::label(e),
                    e.timestamp,
                    Some((e, index)),
                );
                n.status = if failed {
                    NodeStatus::Error
                } else {
                    NodeStatus::Ok
                };
                if failed {
                    n.error = e.error_message();
                }
                self.push(n, p);
            }
            _ => {}
        }
    }
}

fn tool_label(e: &Event) -> String {
    let name = e.tool_name().unwrap_or("tool");
    let args = args_brief(e);
    if args.is_empty() {
        name.to_owned()
    } else {
        truncate_owned(format!("{name} {args}"), 80)
    }
}

/// The span tree of a session.
pub fn span_tree(session: &Session) -> SpanNode {
    let mut b = Builder {
        session,
        nodes: Vec::new(),
        parent: Vec::new(),
        containers: HashMap::default(),
        anchors: HashMap::default(),
        open_llm: HashMap::default(),
        open_by_id: HashMap::default(),
        open_tools: HashMap::default(),
        call_spans: HashMap::default(),
    };
    for (i, e) in session.events.iter().enumerate() {
        b.leaf(e, i);
    }
    let Builder {
        nodes,
        parent,
        session,
        ..
    } = b;
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut roots = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match p {
            Some(p) if *p != i => children[*p].push(i),
            _ => roots.push(i),
        }
    }
    let mut slots: Vec<Option<SpanNode>> = nodes.into_iter().map(Some).collect();
    let start = session
        .events
        .first()
        .map(|e| e.timestamp)
        .unwrap_or(Timestamp(0));
    let end = session.events.last().map(|e| e.timestamp).unwrap_or(start);
    let mut root = SpanNode {
        kind: SpanKind::Session,
        label: session.session_id.clone(),
        start,
        duration_ms: Some(end.millis_since(start).max(0.0)),
        status: NodeStatus::Ok,
        iteration: None,
        agent: None,
        event_index: None,
        tokens: None,
        error: None,
        recorded_success: false,
        children: roots
            .iter()
            .filter_map(|&r| materialise(r, &mut slots, &children, 0))
            .collect(),
    };
    finish(&mut root);
    // A session ends with its `session_end`, or (Victor, which writes none)
    // its workflow's end, as its status does (`facts.rs`).
    if !session
        .events
        .iter()
        .any(|e| matches!(e.kind, EventKind::SessionEnd | EventKind::WorkflowEnd))
    {
        root.status = NodeStatus::Running;
    } else if root.children.iter().any(|c| c.status == NodeStatus::Error) {
        root.status = NodeStatus::Error;
    }
    root
}

/// Spans nested deeper than this are not built into the tree (its
/// building and drawing recurse); one marker node stands for them.
const MAX_TREE_DEPTH: usize = 64;

fn materialise(
    i: usize,
    slots: &mut [Option<SpanNode>],
    children: &[Vec<usize>],
    depth: usize,
) -> Option<SpanNode> {
    let mut n = slots.get_mut(i)?.take()?;
    if depth < MAX_TREE_DEPTH {
        n.children = children[i]
            .iter()
            .filter_map(|&c| materialise(c, slots, children, depth + 1))
            .collect();
    } else if let Some(marker) = deeper_spans(i, slots, children, n.start) {
        n.children = vec![marker];
    }
    Some(n)
}

/// A node saying how many spans lie below `i` (taken out of `slots`,
/// walked without recursion), failed if any of them failed; `None` when
/// there are none.
fn deeper_spans(
    i: usize,
    slots: &mut [Option<SpanNode>],
    children: &[Vec<usize>],
    start: Timestamp,
) -> Option<SpanNode> {
    let mut stack = children[i].clone();
    let (mut count, mut failed) = (0usize, false);
    while let Some(c) = stack.pop() {
        if let Some(hidden) = slots.get_mut(c).and_then(Option::take) {
            count += 1;
            failed |= hidden.status == NodeStatus::Error;
            stack.extend_from_slice(&children[c]);
        }
    }
    (count > 0).then(|| SpanNode {
        kind: SpanKind::Event,
        label: format!(
            "… {count} deeper span{} not shown{}",
            if count == 1 { "" } else { "s" },
            if failed { ", some failed" } else { "" }
        ),
        start,
        duration_ms: None,
        status: if failed {
            NodeStatus::Error
        } else {
            NodeStatus::Ok
        },
        iteration: None,
        agent: None,
        event_index: None,
        tokens: None,
        error: None,
        recorded_success: false,
        children: Vec::new(),
    })
}

/// Sorts children by start, fills container durations, rolls up errors and tokens.
fn finish(n: &mut SpanNode) {
    for c in &mut n.children {
        finish(c);
    }
    n.children.sort_by_key(|c| c.start);
    if matches!(
        n.kind,
        SpanKind::Iteration | SpanKind::Turn | SpanKind::Subagent | SpanKind::Workflow
    ) {
        if let Some(first) = n.children.first() {
            if first.start < n.start {
                n.start = first.start;
            }
        }
        // Whether an event ended it (else its extent comes from its children).
        let ended = n.duration_ms.is_some();
        if n.duration_ms.is_none() && !n.children.is_empty() {
            let end = n
                .children
                .iter()
                .map(|c| c.start.plus_millis(c.duration_ms.unwrap_or(0.0)))
                .max()
                .unwrap_or(n.start);
            n.duration_ms = Some(end.millis_since(n.start).max(0.0));
        }
        // A failed child marks its container failed, unless the container
        // recorded its own success (a subagent that recovered and
        // completed, an iteration ended with `status: success`): the tree
        // then shows what was recorded, and the failure on the child.
        let recorded_success = n.recorded_success;
        if n.status == NodeStatus::Ok
            && !recorded_success
            && n.children.iter().any(|c| c.status == NodeStatus::Error)
        {
            n.status = NodeStatus::Error;
        } else if n.status == NodeStatus::Ok
            && !ended
            && n.children.iter().any(|c| c.status == NodeStatus::Running)
        {
            // Never ended, with a call still open inside (a crash mid-tool):
            // still running, not done.
            n.status = NodeStatus::Running;
        }
        let mut t = TokenTotals::default();
        let mut any = false;
        for c in &n.children {
            if let Some(ct) = &c.tokens {
                t += ct;
                any = true;
            }
        }
        if any {
            n.tokens = Some(t);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Trace;
    use serde_json::json;

    #[test]
    fn session_iterations_llm_tools_and_nested_subagents() {
        let mut t = Trace::new();
        t.iter(1).llm(100, 10, 0, 0);
        t.push(EventKind::ToolStart, &[(keys::TOOL, "bash".into())]);
        t.push(EventKind::ToolEnd, &[(keys::TOOL, "bash".into())])
            .duration_ms = Some(500.0);
        t.iter(2).llm(200, 10, 0, 0);
        t.as_agent(Some("sub-1"));
        t.llm(50, 5, 0, 0)
            .tool_err("grep", json!({"pattern": "x"}), "boom");
        t.as_agent(None);
        t.push(EventKind::ToolStart, &[(keys::TOOL, "read_file".into())]);
        t.end("completed");
        let tree = span_tree(&t.session());
        assert_eq!(tree.kind, SpanKind::Session);
        let kinds: Vec<SpanKind> = tree.children.iter().map(|c| c.kind).collect();
        // The subagent has no spawn record and no spawn iteration: session level.
        assert_eq!(
            kinds,
            [SpanKind::Iteration, SpanKind::Iteration, SpanKind::Subagent]
        );
        let it1 = &tree.children[0];
        assert_eq!(
            it1.children.len(),
            2,
            "one LLM node, one tool node (start+end paired)"
        );
        assert_eq!(it1.children[1].duration_ms, Some(500.0));
        assert_eq!(it1.tokens.unwrap().input_tokens, 100);
        let it2 = &tree.children[1];
        assert!(it2
            .children
            .iter()
            .any(|c| c.kind == SpanKind::Tool && c.status == NodeStatus::Running));
        let sub = find(&tree, SpanKind::Subagent).unwrap();
        assert_eq!(sub.children.len(), 2);
        assert_eq!(sub.status, NodeStatus::Error);
    }

    #[test]
    fn containers_show_what_they_recorded_and_failures_say_why() {
        let mut t = Trace::new();
        // Iteration 1 ends with `status: success` although a tool failed in it.
        t.iter(1)
            .tool_err("bash", json!({"command": "make"}), "exit 2");
        t.push(EventKind::IterationEnd, &[(keys::STATUS, "success".into())]);
        // Iteration 2 never ends: its tool is still open (a crash mid-call).
        t.iter(2)
            .push(EventKind::ToolStart, &[(keys::TOOL, "grep".into())]);
        let tree = span_tree(&t.session());
        let (it1, it2) = (&tree.children[0], &tree.children[1]);
        assert_eq!(it1.status, NodeStatus::Ok, "its own success is kept");
        assert_eq!(it1.failed_inside(), 1, "and the failure inside is counted");
        let failed = &it1.children[0];
        assert_eq!(failed.status, NodeStatus::Error);
        assert_eq!(failed.error.as_deref(), Some("exit 2"));
        assert_eq!(it2.status, NodeStatus::Running, "{it2:?}");
    }

    fn find(n: &SpanNode, k: SpanKind) -> Option<&SpanNode> {
        if n.kind == k {
            return Some(n);
        }
        n.children.iter().find_map(|c| find(c, k))
    }

    #[test]
    fn subagent_spawned_in_an_iteration_nests_there_with_its_own_calls() {
        let mut t = Trace::new();
        t.iter(2)
            .push(EventKind::SubagentSpawn, &[(keys::AGENT_ID, "r-1".into())]);
        t.no_iter().as_agent(Some("r-1")).llm(50, 5, 0, 0);
        t.as_agent(None).push(
            EventKind::SubagentComplete,
            &[(keys::AGENT_ID, "r-1".into())],
        );
        let tree = span_tree(&t.session());
        assert_eq!(tree.children.len(), 1);
        let sub = &tree.children[0].children[0];
        assert_eq!((sub.kind, sub.status), (SpanKind::Subagent, NodeStatus::Ok));
        assert_eq!(sub.children[0].kind, SpanKind::Llm);
        assert!(sub.duration_ms.is_some());
    }

    #[test]
    fn a_subagent_spawned_inside_a_call_or_a_subagent_nests_there() {
        // OTLP-like spans: main → delegate tool → researcher → critic.
        let mut t = Trace::new();
        t.no_iter();
        let mut span = |kind, span: &str, parent: &str, agent: Option<&str>| {
            let data = match agent {
                Some(a) => vec![(keys::AGENT_ID, serde_json::Value::from(a))],
                None => vec![(keys::TOOL, serde_json::Value::from("delegate"))],
            };
            let e = t.push(kind, &data);
            e.span_id = Some(span.into());
            e.parent_event_id = Some(parent.into());
            e.agent = agent.map(|a| {
                Box::new(loupe_model::AgentRef {
                    id: a.into(),
                    ..Default::default()
                })
            });
        };
        span(EventKind::SpanStart, "root", "outside", None);
        span(EventKind::SubagentSpawn, "p", "root", Some("planner"));
        span(EventKind::SubagentComplete, "p", "root", Some("planner"));
        span(EventKind::ToolStart, "tool", "root", None);
        span(EventKind::SubagentSpawn, "r", "tool", Some("researcher"));
        span(EventKind::SubagentSpawn, "c", "r", Some("critic"));
        span(EventKind::SubagentComplete, "c", "r", Some("critic"));
        span(EventKind::SubagentComplete, "r", "tool", Some("researcher"));
        span(EventKind::ToolEnd, "tool", "root", None);
        let tree = span_tree(&t.session());
        let tool = find(&tree, SpanKind::Tool).unwrap();
        assert_eq!(tool.children.len(), 1, "{tree:#?}");
        let researcher = &tool.children[0];
        assert_eq!(researcher.label, "Subagent researcher");
        assert_eq!(researcher.children[0].label, "Subagent critic");
        // A subagent whose parent is a plain span (an OTLP chain root) sits in it.
        let root = find(&tree, SpanKind::Span).unwrap();
        let inside: Vec<&str> = root.children.iter().map(|c| c.label.as_str()).collect();
        assert!(inside.contains(&"Subagent planner"), "{inside:?}");
    }

    #[test]
    fn iterations_nest_under_their_turn() {
        let mut t = Trace::new();
        t.no_iter();
        for turn in 1..=2u32 {
            t.push(EventKind::TurnStart, &[]).turn = Some(turn);
            t.push(EventKind::LlmRequest, &[]).turn = Some(turn);
            t.push(EventKind::LlmResponse, &[]).turn = Some(turn);
        }
        let tree = span_tree(&t.session());
        let kinds: Vec<(SpanKind, usize)> = tree
            .children
            .iter()
            .map(|c| (c.kind, c.children.len()))
            .collect();
        assert_eq!(kinds, [(SpanKind::Turn, 1), (SpanKind::Turn, 1)]);
        assert_eq!(tree.children[1].children[0].label, "Iteration 2");
    }

    #[test]
    fn a_node_run_twice_gets_two_nodes_and_tools_follow_parent_links() {
        let mut t = Trace::new();
        t.no_iter();
        for (run, tool) in [("s1", "read_file"), ("s2", "bash")] {
            let e = t.push(EventKind::NodeStart, &[(keys::NODE_ID, "implement".into())]);
            e.span_id = Some(run.into());
            let e = t.push(EventKind::ToolEnd, &[(keys::TOOL, tool.into())]);
            e.parent_event_id = Some(run.into());
            let e = t.push(EventKind::NodeEnd, &[(keys::NODE_ID, "implement".into())]);
            e.span_id = Some(run.into());
        }
        let tree = span_tree(&t.session());
        let nodes: Vec<(&str, &str)> = tree
            .children
            .iter()
            .map(|n| (n.label.as_str(), n.children[0].label.as_str()))
            .collect();
        assert_eq!(nodes, [("implement", "read_file"), ("implement", "bash")]);
    }

    #[test]
    fn workflow_nodes_hold_their_tool_calls_and_unended_session_is_running() {
        let mut t = Trace::new();
        t.no_iter();
        t.push(
            EventKind::WorkflowStart,
            &[(keys::WORKFLOW, "bugfix".into())],
        );
        t.push(EventKind::NodeStart, &[(keys::NODE_ID, "implement".into())]);
        t.push(
            EventKind::ToolEnd,
            &[
                (keys::TOOL, "edit_file".into()),
                (keys::NODE_ID, "implement".into()),
            ],
        );
        t.push(
            EventKind::NodeEnd,
            &[
                (keys::NODE_ID, "implement".into()),
                (keys::STATUS, "failed".into()),
            ],
        );
        let tree = span_tree(&t.session());
        assert_eq!(tree.status, NodeStatus::Running);
        let wf = find(&tree, SpanKind::Workflow).unwrap();
        assert_eq!(wf.label, "bugfix");
        let node = &wf.children[0];
        assert_eq!(
            (node.kind, node.status),
            (SpanKind::Node, NodeStatus::Error)
        );
        assert_eq!(node.children[0].label, "edit_file");
        // Its workflow's end ends a session that has no `session_end`.
        t.push(EventKind::WorkflowEnd, &[(keys::STATUS, "failed".into())]);
        assert_ne!(span_tree(&t.session()).status, NodeStatus::Running);
    }

    #[test]
    fn spans_nested_too_deep_are_counted_by_a_marker_that_keeps_failures() {
        let at = |i: i64| Timestamp(1_000_000 + i * 1_000);
        let mut events = vec![Event::new("s", EventKind::SessionStart, at(0), "deep")];
        let depth = 100;
        for i in 0..depth {
            let mut e = Event::new(format!("b{i}"), EventKind::SpanStart, at(i), "deep");
            e.span_id = Some(format!("sp{i}"));
            e.parent_event_id = (i > 0).then(|| format!("sp{}", i - 1));
            events.push(e);
        }
        let mut tool =
            Event::new("t", EventKind::ToolError, at(depth), "deep").with(keys::TOOL, "bash");
        tool.parent_event_id = Some(format!("sp{}", depth - 1));
        events.push(tool);
        for i in (0..depth).rev() {
            let mut e = Event::new(
                format!("e{i}"),
                EventKind::SpanEnd,
                at(2 * depth - i),
                "deep",
            );
            e.span_id = Some(format!("sp{i}"));
            e.parent_event_id = (i > 0).then(|| format!("sp{}", i - 1));
            events.push(e);
        }
        let session = Session {
            session_id: "deep".into(),
            source: crate::testing::source(),
            events,
        };
        let tree = span_tree(&session);
        let mut node = &tree;
        let mut levels = 0;
        while let [only] = node.children.as_slice() {
            node = only;
            levels += 1;
        }
        assert!(node.children.is_empty());
        assert_eq!(node.kind, SpanKind::Event);
        // The spans below the limit and the failed tool: counted, and failed.
        // `levels` counts the marker too; the session holds `depth` spans and the tool.
        let hidden = depth + 2 - levels;
        assert_eq!(hidden, 36);
        assert_eq!(
            node.label,
            format!("… {hidden} deeper spans not shown, some failed")
        );
        assert_eq!(node.status, NodeStatus::Error);
    }
}
