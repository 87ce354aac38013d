//! Building [`Session`]s from a stream of events.
//!
//! Events are grouped by `session_id` (an input may interleave several
//! sessions), stably sorted by timestamp (ties keep read order) and, when the
//! trace has no iteration numbers of its own, given inferred ones: every
//! main-agent LLM call starts an iteration, like attocode-ts's viewer parser
//! (seed-formats.md §1.5) except that subagent events (`agent` set) never start
//! or join a parent iteration; they nest under their subagent instead.

use crate::HashMap;

use std::collections::VecDeque;

use loupe_model::{keys, Event, EventKind, SourceFormat, Timestamp};

use crate::{Session, SessionSource};

/// Groups events into sessions, all at once.
pub fn assemble(events: impl IntoIterator<Item = Event>, source: SessionSource) -> Vec<Session> {
    let mut assembler = SessionAssembler::new();
    for event in events {
        assembler.push(&source, event);
    }
    assembler.finish()
}

/// Streaming session builder: push events as they are read, then
/// [`SessionAssembler::finish`]. Sessions come out in order of first appearance.
/// A session known to be complete can be taken out early
/// ([`SessionAssembler::take`]), so a large input need not be held whole.
#[derive(Debug, Default)]
pub struct SessionAssembler {
    index: HashMap<String, usize>,
    /// In order of first appearance; a taken session leaves its slot, empty.
    sessions: Vec<Session>,
    /// Which slots were taken (parallel to `sessions`).
    taken: Vec<bool>,
    /// Events read twice, dropped (see [`finish_session`]).
    duplicates: usize,
}

impl SessionAssembler {
    /// An empty assembler.
    pub fn new() -> Self {
        SessionAssembler::default()
    }

    /// Adds one event read from `source` (the first source seen for a session is kept).
    pub fn push(&mut self, source: &SessionSource, event: Event) {
        // Files usually hold one session, or long runs of one: checking the
        // newest session first saves hashing the id of most events.
        if let (Some(newest), Some(false)) = (self.sessions.last_mut(), self.taken.last()) {
            if newest.session_id == event.session_id {
                newest.events.push(event);
                return;
            }
        }
        let slot = match self.index.get(&event.session_id) {
            Some(&i) if !self.taken[i] => i,
            // New, or taken already: events after a session was said to be
            // complete start a new part of it.
            _ => {
                let i = self.sessions.len();
                self.index.insert(event.session_id.clone(), i);
                self.sessions.push(Session {
                    session_id: event.session_id.clone(),
                    source: source.clone(),
                    events: Vec::new(),
                });
                self.taken.push(false);
                i
            }
        };
        self.sessions[slot].events.push(event);
    }

    /// Number of sessions seen so far.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True before the first event.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Takes out, finished, the session `id` (its reader said no more of
    /// its events will come), with its rank in order of first appearance;
    /// `None` when no such session is held.
    pub fn take(&mut self, id: &str) -> Option<(usize, Session)> {
        let slot = *self.index.get(id)?;
        if self.taken[slot] {
            return None;
        }
        self.taken[slot] = true;
        let held = &mut self.sessions[slot];
        let mut session = Session {
            session_id: held.session_id.clone(),
            source: held.source.clone(),
            events: std::mem::take(&mut held.events),
        };
        self.duplicates += finish_session(&mut session);
        Some((slot, session))
    }

    /// Events dropped so far as read twice (see [`finish_session`]).
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// Sorts each session's events and infers iterations where needed.
    pub fn finish(self) -> Vec<Session> {
        self.finish_ranked().0.into_iter().map(|(_, s)| s).collect()
    }

    /// [`SessionAssembler::finish`], each session with its rank in order of
    /// first appearance (the numbering [`SessionAssembler::take`] uses);
    /// taken sessions are left out. Also says how many events were dropped
    /// as read twice, by these sessions and the ones taken before.
    pub fn finish_ranked(self) -> (Vec<(usize, Session)>, usize) {
        let taken = self.taken;
        let mut duplicates = self.duplicates;
        let mut sessions: Vec<(usize, Session)> = self
            .sessions
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !taken[*i])
            .collect();
        join_traces_named_elsewhere(&mut sessions);
        for (_, s) in &mut sessions {
            duplicates += finish_session(s);
        }
        (sessions, duplicates)
    }
}

/// Whether an OpenTelemetry session is named by its trace id alone: none of
/// the spans read with it named a session (see the OTLP reader).
pub fn is_named_by_its_trace(s: &Session) -> bool {
    s.source.format == SourceFormat::Otlp
        && !s.events.is_empty()
        && s.events
            .iter()
            .all(|e| e.trace_id.as_deref() == Some(s.session_id.as_str()))
}

/// A trace whose spans were exported in several files (the Collector's file
/// exporter rotates, and children end, so are written, before their root):
/// spans of a file that names no session are read as a session named by
/// the trace id, while another file's spans name the session. Such a
/// session joins the one that holds spans of its trace under a name.
fn join_traces_named_elsewhere(sessions: &mut Vec<(usize, Session)>) {
    if !sessions.iter().any(|(_, s)| is_named_by_its_trace(s)) {
        return;
    }
    let mut named: HashMap<String, usize> = HashMap::default();
    for (i, (_, s)) in sessions.iter().enumerate() {
        if s.source.format != SourceFormat::Otlp || is_named_by_its_trace(s) {
            continue;
        }
        for e in &s.events {
            if let Some(t) = &e.trace_id {
                named.entry(t.clone()).or_insert(i);
            }
        }
    }
    let mut joined = vec![false; sessions.len()];
    for i in 0..sessions.len() {
        if !is_named_by_its_trace(&sessions[i].1) {
            continue;
        }
        let Some(&to) = named.get(&sessions[i].1.session_id) else {
            continue;
        };
        let mut events = std::mem::take(&mut sessions[i].1.events);
        let id = sessions[to].1.session_id.clone();
        for e in &mut events {
            e.session_id.clone_from(&id);
        }
        sessions[to].1.events.append(&mut events);
        joined[i] = true;
    }
    let mut i = 0;
    sessions.retain(|_| {
        i += 1;
        !joined[i - 1]
    });
}

/// Sorts a session's events by time (stable), drops events read twice and
/// infers iteration numbers when the trace has none; returns how many
/// events it dropped. Idempotent.
///
/// An event with the id and the time of an earlier event of its session is
/// that event read twice (a file given twice, or within a directory and as
/// a compressed copy; the same MyAgent traces exported in two shapes; a
/// writer that repeated a line): it would count its tokens, cost and calls
/// twice. (The store keeps one event per id too, the fuller copy by the
/// same rule.)
pub fn finish_session(session: &mut Session) -> usize {
    // Traces are nearly always in order already; the check spares the sort's
    // scratch buffer (half the events' size), allocated before it looks.
    if !session.events.is_sorted_by_key(|e| e.timestamp) {
        session.events.sort_by_key(|e| e.timestamp);
    }
    let dropped = drop_repeated_events(&mut session.events);
    promote_outermost_agents(&mut session.events);
    attribute_to_subagents(&mut session.events);
    if !has_explicit_iterations(&session.events) {
        infer_iterations(&mut session.events);
    }
    fill_paired_durations(&mut session.events);
    dropped
}

fn is_subagent_span(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::SubagentSpawn
            | EventKind::SubagentComplete
            | EventKind::SubagentError
            | EventKind::SubagentTimeout
    )
}

/// Makes the outermost agent span of a trace its main agent when the agent
/// has a parent that is no agent: an agent behind an instrumented web
/// server (`POST /chat` → `invoke_agent`) is no one's subagent. Readers map
/// an agent span with a parent as a subagent, since a parent may be another
/// agent whose span comes later (a receiver gets a trace in batches,
/// children first); here, with the session's spans together, an agent span
/// (with a trace id) whose parents up to the trace's root — a span without
/// a parent, or one whose parent is in another service — are all read and
/// none is an agent becomes the main agent: its spawn and completion become
/// the session's start and end, and the events under it lose it as their
/// agent. While a parent is missing (not yet received) it stays a subagent.
/// Only adds what more spans cannot take back, so the result does not
/// depend on the batching.
fn promote_outermost_agents(events: &mut [Event]) {
    let candidate = |e: &Event| {
        is_subagent_span(&e.kind) && e.trace_id.is_some() && e.parent_event_id.is_some()
    };
    if !events.iter().any(candidate) {
        return;
    }
    #[derive(Default)]
    struct SpanFacts<'e> {
        parent: Option<&'e str>,
        agent: bool,
        parent_remote: bool,
    }
    let mut spans: HashMap<&str, SpanFacts<'_>> = HashMap::default();
    for e in events.iter() {
        let Some(span) = e.span_id.as_deref() else {
            continue;
        };
        let facts = spans.entry(span).or_default();
        if facts.parent.is_none() {
            facts.parent = e.parent_event_id.as_deref().filter(|p| *p != span);
        }
        facts.agent |= is_subagent_span(&e.kind)
            || matches!(e.kind, EventKind::SessionStart | EventKind::SessionEnd);
        facts.parent_remote |=
            e.data.get(keys::PARENT_REMOTE) == Some(&serde_json::Value::Bool(true));
    }
    let outermost = |span: &str| -> bool {
        let Some(own) = spans.get(span) else {
            return false;
        };
        if own.parent_remote {
            return true;
        }
        let mut above = own.parent;
        // Bounded: corrupt input may hold parent cycles.
        for _ in 0..256 {
            let Some(parent) = above.and_then(|p| spans.get(p)) else {
                return false;
            };
            if parent.agent {
                return false;
            }
            if parent.parent.is_none() || parent.parent_remote {
                return true;
            }
            above = parent.parent;
        }
        false
    };
    let promoted: crate::HashSet<String> = events
        .iter()
        .filter(|e| candidate(e))
        .filter_map(|e| e.span_id.as_deref())
        .filter(|span| outermost(span))
        .map(str::to_owned)
        .collect();
    if promoted.is_empty() {
        return;
    }
    // The nearest agent span above each span, to find the events the
    // promoted agents were the agent of.
    let agent_spans: crate::HashSet<String> = events
        .iter()
        .filter(|e| is_subagent_span(&e.kind))
        .filter_map(|e| e.span_id.clone())
        .collect();
    let parents: HashMap<String, String> = events
        .iter()
        .filter_map(|e| Some((e.span_id.clone()?, e.parent_event_id.clone()?)))
        .filter(|(span, parent)| span != parent)
        .collect();
    let nearest_agent_is_promoted = |e: &Event| {
        let mut above = e.parent_event_id.as_deref();
        for _ in 0..256 {
            let Some(span) = above else { return false };
            if agent_spans.contains(span) {
                return promoted.contains(span);
            }
            above = parents.get(span).map(String::as_str);
        }
        false
    };
    let under: Vec<bool> = events
        .iter()
        .map(|e| !is_subagent_span(&e.kind) && nearest_agent_is_promoted(e))
        .collect();
    for (e, under) in events.iter_mut().zip(under) {
        if under {
            // The agent's own exception, kept as a log while the end of a
            // failed subagent counted the failure, is the session's error.
            if e.kind == EventKind::Log
                && e.span_id.is_none()
                && e.data.contains_key(keys::ERROR)
                && e.parent_event_id
                    .as_deref()
                    .is_some_and(|p| promoted.contains(p))
            {
                e.kind = EventKind::Error;
            }
            e.agent = None;
            continue;
        }
        if !e.span_id.as_deref().is_some_and(|s| promoted.contains(s)) {
            continue;
        }
        let kind = match e.kind {
            EventKind::SubagentSpawn => EventKind::SessionStart,
            EventKind::SubagentComplete | EventKind::SubagentError | EventKind::SubagentTimeout => {
                EventKind::SessionEnd
            }
            _ => continue,
        };
        if e.kind == EventKind::SubagentTimeout && !e.data.contains_key(keys::STATUS) {
            e.data.insert(keys::STATUS.to_owned(), "timeout".into());
        }
        e.kind = kind;
        e.agent = None;
        e.data.remove(keys::AGENT_ID);
    }
}

/// Gives events nested (by `parent_event_id`) under a subagent's span the
/// subagent as their `agent` when they lack one. Readers that see a whole
/// trace do this as they read (the OTLP reader's ancestry); a receiver gets a
/// trace in batches, children usually before the subagent span that encloses
/// them (it ends last), so the stored events of one session are completed
/// here, whatever the batching was.
fn attribute_to_subagents(events: &mut [Event]) {
    let mut agents: HashMap<String, Box<loupe_model::AgentRef>> = HashMap::default();
    for e in events.iter() {
        if let (true, Some(span), Some(agent)) = (is_subagent_span(&e.kind), &e.span_id, &e.agent) {
            agents.entry(span.clone()).or_insert_with(|| agent.clone());
        }
    }
    if agents.is_empty() {
        return;
    }
    let parents: HashMap<String, String> = events
        .iter()
        .filter_map(|e| Some((e.span_id.clone()?, e.parent_event_id.clone()?)))
        .filter(|(span, parent)| span != parent)
        .collect();
    for e in events.iter_mut() {
        if e.agent.is_some() || is_subagent_span(&e.kind) {
            continue;
        }
        let mut above = e.parent_event_id.as_deref();
        // Bounded: corrupt input may hold parent cycles.
        for _ in 0..256 {
            let Some(span) = above else { break };
            if let Some(agent) = agents.get(span) {
                e.agent = Some(agent.clone());
                break;
            }
            above = parents.get(span).map(String::as_str);
        }
    }
}

/// Whether a recorded duration can be used: finite and not negative. A
/// negative one (an end recorded before its start: clock skew between
/// processes, a writer's bug) is unknown, never 0, so it cannot pull a mean,
/// a p95 or a sum down (docs/analysis.md, Durations).
pub fn valid_duration(ms: f64) -> bool {
    ms.is_finite() && ms >= 0.0
}

/// The duration an event records (`duration_ms`, else a payload
/// `duration_ms`), when it is valid ([`valid_duration`]).
pub(crate) fn known_duration(e: &Event) -> Option<f64> {
    e.duration_ms
        .or_else(|| e.f64("duration_ms"))
        .filter(|d| valid_duration(*d))
}

/// Events of a session that record a duration that is not valid
/// ([`valid_duration`]), after the paired start and end of a call gave it
/// one where they could: what the views show as unknown.
pub(crate) fn invalid_durations(session: &Session) -> u64 {
    session
        .events
        .iter()
        .filter(|e| invalid_duration(e))
        .count() as u64
}

/// Whether `e` records a duration that is not valid.
pub(crate) fn invalid_duration(e: &Event) -> bool {
    e.duration_ms
        .or_else(|| e.f64("duration_ms"))
        .is_some_and(|d| !valid_duration(d))
}

/// Gives an LLM or tool call's closing event the duration its opening event
/// implies, when the trace gives the call only as a start and an end (a
/// `tool_start`/`tool_end` pair sharing a `span_id`, docs/format.md), so the
/// tools table, the detectors and `stats` see what the tree shows. Pairing
/// is the tree's (`tree.rs`): by `span_id`, else `call_id`, else the oldest
/// open start of the same agent (and, for tools, tool and iteration). An end
/// whose recorded duration is negative is treated as one without: the time
/// between its start and itself replaces it when that is not negative too.
fn fill_paired_durations(events: &mut [Event]) {
    let is_end = |k: &EventKind| {
        matches!(
            k,
            EventKind::LlmResponse
                | EventKind::LlmError
                | EventKind::Think
                | EventKind::ToolEnd
                | EventKind::ToolError
        )
    };
    let unknown = |e: &Event| !e.duration_ms.is_some_and(valid_duration);
    if !events.iter().any(|e| is_end(&e.kind) && unknown(e)) {
        return;
    }
    type ToolKey = (Option<String>, String, Option<u32>);
    let mut by_id: HashMap<String, Timestamp> = HashMap::default();
    let mut llm: HashMap<Option<String>, VecDeque<Timestamp>> = HashMap::default();
    let mut tools: HashMap<ToolKey, VecDeque<Timestamp>> = HashMap::default();
    for e in events.iter_mut() {
        if !matches!(e.kind, EventKind::LlmRequest | EventKind::ToolStart) && !is_end(&e.kind) {
            continue;
        }
        let agent = e.agent.as_ref().map(|a| a.id.clone());
        let id = match e.kind {
            EventKind::LlmRequest
            | EventKind::LlmResponse
            | EventKind::LlmError
            | EventKind::Think => e.span_id.clone(),
            _ => e
                .span_id
                .clone()
                .or_else(|| e.str(keys::CALL_ID).map(str::to_owned)),
        };
        let tool_key = || -> ToolKey {
            (
                agent.clone(),
                e.tool_name().unwrap_or("").to_owned(),
                e.iteration,
            )
        };
        let start = match e.kind {
            EventKind::LlmRequest | EventKind::ToolStart => {
                match id {
                    Some(id) => {
                        by_id.insert(id, e.timestamp);
                    }
                    None if e.kind == EventKind::LlmRequest => {
                        llm.entry(agent).or_default().push_back(e.timestamp)
                    }
                    None => tools.entry(tool_key()).or_default().push_back(e.timestamp),
                }
                continue;
            }
            EventKind::LlmResponse | EventKind::LlmError | EventKind::Think => match id {
                Some(id) => by_id.remove(&id),
                None => llm.get_mut(&agent).and_then(VecDeque::pop_front),
            },
            EventKind::ToolEnd | EventKind::ToolError => match id {
                Some(id) => by_id.remove(&id),
                None => {
                    let key = tool_key();
                    tools.get_mut(&key).and_then(VecDeque::pop_front)
                }
            },
            _ => continue,
        };
        if let Some(start) = start.filter(|_| unknown(e)) {
            let between = e.timestamp.millis_since(start);
            if valid_duration(between) {
                e.duration_ms = Some(between);
            }
        }
    }
}

/// Drops, from events sorted by time, each one whose id an earlier event of
/// the same time has; returns how many. Of the two, the fuller one
/// ([`Event::is_fuller_than`]) is kept, in the first one's place: the same event in
/// two shapes (a MyAgent runs export and its traces export) keeps what
/// the richer one says. Only events of one time are compared, so the usual
/// run of distinct times costs one comparison each.
fn drop_repeated_events(events: &mut Vec<Event>) -> usize {
    let repeated = |events: &[Event], i: usize| {
        let e = &events[i];
        events[..i]
            .iter()
            .rev()
            .take_while(|earlier| earlier.timestamp == e.timestamp)
            .any(|earlier| earlier.event_id == e.event_id)
    };
    if !(1..events.len()).any(|i| repeated(events, i)) {
        return 0;
    }
    let before = events.len();
    let mut kept: Vec<Event> = Vec::with_capacity(before);
    for e in events.drain(..) {
        let start = kept.partition_point(|k| k.timestamp < e.timestamp);
        match kept[start..].iter_mut().find(|k| k.event_id == e.event_id) {
            Some(first) if e.is_fuller_than(first) => *first = e,
            Some(_) => {}
            None => kept.push(e),
        }
    }
    *events = kept;
    before - events.len()
}

/// Whether the main agent's iterations are recorded: an `iteration_start`
/// marker, or an iteration number on a main-agent LLM or tool event.
pub fn has_explicit_iterations(events: &[Event]) -> bool {
    events.iter().any(|e| {
        !e.is_subagent()
            && (e.kind == EventKind::IterationStart
                || (e.iteration.is_some() && (is_llm_call_kind(&e.kind) || is_tool_kind(&e.kind))))
    })
}

fn is_llm_call_kind(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::LlmRequest | EventKind::LlmResponse | EventKind::LlmError | EventKind::Think
    )
}

fn is_tool_kind(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ToolStart | EventKind::ToolEnd | EventKind::ToolError
    )
}

/// Each main-agent `llm_request` (or a response, think record or LLM error
/// without a preceding request) opens a new iteration; following main-agent
/// events without an iteration number get the current one.
fn infer_iterations(events: &mut [Event]) {
    let mut current: u32 = 0;
    let mut awaiting_response = false;
    for e in events.iter_mut() {
        if e.is_subagent() {
            continue;
        }
        match e.kind {
            EventKind::LlmRequest => {
                current += 1;
                awaiting_response = true;
            }
            EventKind::LlmResponse | EventKind::LlmError | EventKind::Think => {
                if !awaiting_response {
                    current += 1;
                }
                awaiting_response = false;
            }
            EventKind::SessionStart | EventKind::SessionEnd => continue,
            _ => {}
        }
        if current > 0 && e.iteration.is_none() {
            e.iteration = Some(current);
        }
    }
}

/// Whether readers flagged this event as a duplicate (`data.duplicate = true`).
pub(crate) fn is_duplicate(e: &Event) -> bool {
    e.bool("duplicate").unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::{source, Trace};
    use loupe_model::Timestamp;

    #[test]
    fn groups_interleaved_sessions_and_sorts_stably() {
        let mut a = Event::new("a1", EventKind::Custom, Timestamp(30), "A");
        a.data.insert("n".into(), 1.into());
        let b = Event::new("b1", EventKind::Custom, Timestamp(10), "B");
        let a2 = Event::new("a2", EventKind::Custom, Timestamp(10), "A");
        let a3 = Event::new("a3", EventKind::Custom, Timestamp(10), "A");
        let out = assemble(vec![a, b, a2, a3], source());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].session_id, "A");
        let ids: Vec<&str> = out[0].events.iter().map(|e| e.event_id.as_str()).collect();
        assert_eq!(ids, ["a2", "a3", "a1"], "ties keep read order");
        assert_eq!(out[1].events.len(), 1);
    }

    #[test]
    fn events_under_a_subagent_span_are_its_own_whatever_order_they_came_in() {
        // As a receiver stores a trace: children (no agent known yet) in an
        // earlier batch than the subagent span enclosing them.
        let span = |id: &str, kind, at, parent: &str| {
            let mut e = Event::new(format!("{id}:{at}"), kind, Timestamp(at), "s");
            e.span_id = Some(id.into());
            e.parent_event_id = Some(parent.into());
            e
        };
        let mut child = vec![
            span("c1", EventKind::LlmRequest, 20, "sub"),
            span("c1", EventKind::LlmResponse, 30, "sub"),
            span("t1", EventKind::ToolEnd, 35, "c1"),
        ];
        let researcher = loupe_model::AgentRef {
            id: "researcher-1".into(),
            ..Default::default()
        };
        let mut spawn = span("sub", EventKind::SubagentSpawn, 10, "root");
        spawn.agent = Some(Box::new(researcher.clone()));
        let mut done = span("sub", EventKind::SubagentComplete, 40, "root");
        done.agent = Some(Box::new(researcher));
        let main = vec![
            span("m1", EventKind::LlmRequest, 1, "root"),
            span("m1", EventKind::LlmResponse, 5, "root"),
            span("m2", EventKind::LlmRequest, 50, "root"),
            span("m2", EventKind::LlmResponse, 60, "root"),
        ];
        let mut events = main;
        events.append(&mut child);
        events.extend([spawn, done]);
        let session = &assemble(events, source())[0];
        let agent_of = |id: &str| {
            session
                .events
                .iter()
                .find(|e| e.event_id == id)
                .and_then(|e| e.agent.as_ref().map(|a| a.id.clone()))
        };
        assert_eq!(agent_of("c1:30").as_deref(), Some("researcher-1"));
        assert_eq!(agent_of("t1:35").as_deref(), Some("researcher-1"));
        assert_eq!(agent_of("m2:60"), None);
        // The subagent's call is not a parent iteration.
        let iterations: std::collections::BTreeSet<u32> =
            session.events.iter().filter_map(|e| e.iteration).collect();
        assert_eq!(iterations.len(), 2, "{iterations:?}");
    }

    #[test]
    fn an_agent_below_a_plain_span_is_the_main_agent_once_its_parents_are_read() {
        // POST /chat (a web server's span) → invoke_agent coder → a call, a
        // tool, and a researcher subagent with its own call.
        let span = |id: &str, kind, at, parent: Option<&str>, agent: Option<&str>| {
            let mut e = Event::new(format!("{id}:{at}"), kind, Timestamp(at), "s");
            e.trace_id = Some("t".into());
            e.span_id = Some(id.into());
            e.parent_event_id = parent.map(Into::into);
            e.agent = agent.map(|a| {
                Box::new(loupe_model::AgentRef {
                    id: a.into(),
                    ..Default::default()
                })
            });
            e
        };
        let mut exception = Event::new("coder:event:0", EventKind::Log, Timestamp(38), "s")
            .with(keys::ERROR, "boom");
        exception.trace_id = Some("t".into());
        exception.parent_event_id = Some("coder".into());
        let below = vec![
            span("l1", EventKind::LlmRequest, 2, Some("coder"), Some("coder")),
            span(
                "l1",
                EventKind::LlmResponse,
                5,
                Some("coder"),
                Some("coder"),
            ),
            // Tagged by no reader yet (it came in another batch).
            span("t1", EventKind::ToolEnd, 6, Some("coder"), None),
            span(
                "sub",
                EventKind::SubagentSpawn,
                7,
                Some("coder"),
                Some("researcher"),
            )
            .with(keys::AGENT_ID, "researcher"),
            span(
                "l2",
                EventKind::LlmResponse,
                8,
                Some("sub"),
                Some("researcher"),
            ),
            span(
                "sub",
                EventKind::SubagentComplete,
                9,
                Some("coder"),
                Some("researcher"),
            ),
            span(
                "coder",
                EventKind::SubagentSpawn,
                1,
                Some("web"),
                Some("coder"),
            )
            .with(keys::AGENT_ID, "coder")
            .with(keys::AGENT_NAME, "coder"),
            exception,
            span(
                "coder",
                EventKind::SubagentError,
                40,
                Some("web"),
                Some("coder"),
            )
            .with(keys::AGENT_ID, "coder")
            .with(keys::STATUS, "error"),
        ];
        let web = vec![
            span("web", EventKind::SpanStart, 0, None, None),
            span("web", EventKind::SpanEnd, 41, None, None),
        ];
        let kinds_and_agents = |events: Vec<Event>| {
            let session = assemble(events, source()).remove(0);
            let mut out: Vec<(String, String, Option<String>)> = session
                .events
                .iter()
                .filter(|e| e.span_id.as_deref() != Some("web"))
                .map(|e| {
                    (
                        e.event_id.clone(),
                        e.kind.as_str().to_owned(),
                        e.agent.as_ref().map(|a| a.id.clone()),
                    )
                })
                .collect();
            out.sort();
            out
        };
        // Its parent not read yet (a receiver's earlier batch): still a
        // subagent, since that parent may be an agent.
        let waiting = kinds_and_agents(below.clone());
        assert!(
            waiting.contains(&(
                "coder:1".into(),
                "subagent_spawn".into(),
                Some("coder".into())
            )),
            "{waiting:?}"
        );
        // Every parent read, none an agent: the main agent, whatever the order.
        let whole = kinds_and_agents(web.iter().cloned().chain(below.clone()).collect());
        let reversed = kinds_and_agents(below.iter().rev().cloned().chain(web).collect());
        assert_eq!(whole, reversed);
        let expected: Vec<(String, String, Option<String>)> = [
            ("coder:1".into(), "session_start", None),
            ("coder:40".into(), "session_end", None),
            ("coder:event:0".into(), "error", None),
            ("l1:2".into(), "llm_request", None),
            ("l1:5".into(), "llm_response", None),
            ("l2:8".into(), "llm_response", Some("researcher".into())),
            ("sub:7".into(), "subagent_spawn", Some("researcher".into())),
            (
                "sub:9".into(),
                "subagent_complete",
                Some("researcher".into()),
            ),
            ("t1:6".into(), "tool_end", None),
        ]
        .into_iter()
        .map(|(id, kind, agent): (String, &str, Option<String>)| (id, kind.to_owned(), agent))
        .collect();
        assert_eq!(whole, expected);
    }

    #[test]
    fn infers_iterations_from_main_agent_llm_calls_only() {
        let mut t = Trace::new();
        t.no_iter();
        t.llm(100, 10, 0, 0)
            .tool("read_file", serde_json::json!({"path": "a"}), 5.0);
        t.as_agent(Some("sub-1"))
            .llm(50, 5, 0, 0)
            .tool("grep", serde_json::json!({}), 5.0);
        t.as_agent(None).llm(200, 10, 0, 0);
        let s = t.session();
        let iters: Vec<(String, Option<u32>)> = s
            .events
            .iter()
            .map(|e| (e.kind.to_string(), e.iteration))
            .collect();
        assert_eq!(iters[0], ("session_start".into(), None));
        assert_eq!(iters[1].1, Some(1));
        assert_eq!(iters[3], ("tool_end".into(), Some(1)));
        // subagent events keep no parent iteration
        assert!(s.events[4..7].iter().all(|e| e.iteration.is_none()));
        assert_eq!(s.events[7].iteration, Some(2));
        assert_eq!(s.events[8].iteration, Some(2));
    }

    #[test]
    fn explicit_iterations_are_left_alone() {
        let mut t = Trace::new();
        t.iter(1).llm(100, 10, 0, 0).llm(100, 10, 0, 0);
        let s = t.session();
        assert!(has_explicit_iterations(&s.events));
        assert!(s.events[1..].iter().all(|e| e.iteration == Some(1)));
    }

    #[test]
    fn events_read_twice_are_dropped_keeping_the_richer() {
        let at = |id: &str, t: i64| Event::new(id, EventKind::Custom, Timestamp(t), "A");
        let rich = at("e2", 20).with("task", "x");
        // Read once, then again (a file given twice); the second copy of
        // e2 has a payload; e3 shares e1's id at another time and stays.
        let events = vec![
            at("e1", 10),
            at("e2", 20),
            at("e1", 10),
            rich.clone(),
            at("e1", 30),
        ];
        let mut asm = SessionAssembler::new();
        for e in events {
            asm.push(&source(), e);
        }
        let (sessions, dropped) = asm.finish_ranked();
        assert_eq!(dropped, 2);
        let kept: Vec<(&str, i64)> = sessions[0]
            .1
            .events
            .iter()
            .map(|e| (e.event_id.as_str(), e.timestamp.0))
            .collect();
        assert_eq!(kept, [("e1", 10), ("e2", 20), ("e1", 30)]);
        assert_eq!(sessions[0].1.events[1], rich);
        // Nothing repeated: nothing dropped, nothing moved.
        let mut once = Session {
            session_id: "A".into(),
            source: source(),
            events: vec![at("e1", 10), at("e2", 10)],
        };
        assert_eq!(finish_session(&mut once), 0);
        assert_eq!(once.events.len(), 2);
    }

    #[test]
    fn a_call_given_as_a_start_and_an_end_gets_its_duration() {
        let at = |id: &str, kind: EventKind, secs: i64| {
            Event::new(id, kind, Timestamp(secs * 1_000_000), "A")
        };
        let mut tool_start = at("1", EventKind::ToolStart, 1).with(keys::TOOL, "bash");
        tool_start.span_id = Some("t".into());
        let mut tool_end = at("2", EventKind::ToolEnd, 41).with(keys::TOOL, "bash");
        tool_end.span_id = Some("t".into());
        // Without ids: paired in order, as the tree pairs them.
        let request = at("3", EventKind::LlmRequest, 50);
        let response = at("4", EventKind::LlmResponse, 70);
        let mut given = at("5", EventKind::ToolEnd, 80).with(keys::TOOL, "grep");
        given.duration_ms = Some(5.0);
        let unpaired = at("6", EventKind::ToolEnd, 90).with(keys::TOOL, "ls");
        let out = assemble(
            vec![tool_start, tool_end, request, response, given, unpaired],
            source(),
        );
        let durations: Vec<Option<f64>> = out[0].events.iter().map(|e| e.duration_ms).collect();
        assert_eq!(
            durations,
            [None, Some(40_000.0), None, Some(20_000.0), Some(5.0), None]
        );
    }

    #[test]
    fn streaming_and_batch_agree() {
        let mut t = Trace::new();
        t.no_iter().llm(1, 1, 0, 0);
        let mut asm = SessionAssembler::new();
        assert!(asm.is_empty());
        for e in t.events() {
            asm.push(&source(), e);
        }
        assert_eq!(asm.len(), 1);
        assert_eq!(asm.finish(), assemble(t.events(), source()));
    }
}
