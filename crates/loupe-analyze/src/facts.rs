//! One linear pass over a session that extracts what every analysis needs:
//! LLM calls (with tokens and cost), tool calls (with a fingerprint of tool +
//! arguments), iterations and session-level facts. Metrics, detectors, token
//! flow, tool statistics and scores all read these instead of re-walking the
//! events, which keeps analysis linear and allocation-light (payloads are
//! borrowed, never cloned).

use std::collections::{BTreeSet, VecDeque};

use crate::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};

use loupe_model::{
    keys, CostSource, Event, EventKind, SessionStatus, SourceFormat, Timestamp, TokenUsage,
};
use serde_json::Value;

use crate::pricing::PriceTable;
use crate::session::is_duplicate;
use crate::Session;

/// One LLM call (an `llm_response`, `llm_error` or `think` event).
#[derive(Debug)]
pub(crate) struct LlmCall<'a> {
    pub(crate) event: &'a Event,
    pub(crate) usage: TokenUsage,
    pub(crate) model: Option<&'a str>,
    pub(crate) agent: Option<&'a str>,
    pub(crate) iteration: Option<u32>,
    pub(crate) cost_usd: f64,
    pub(crate) cost_source: CostSource,
    pub(crate) failed: bool,
}

/// One finished tool call (`tool_end` / `tool_error`).
#[derive(Debug)]
pub(crate) struct ToolCall<'a> {
    pub(crate) index: usize,
    pub(crate) event: &'a Event,
    pub(crate) name: &'a str,
    pub(crate) agent: Option<&'a str>,
    pub(crate) iteration: Option<u32>,
    pub(crate) duration_ms: Option<f64>,
    pub(crate) failed: bool,
    pub(crate) timed_out: bool,
    /// The call's arguments: its end event's, else its start event's (the
    /// recorder and OTLP give them on the start only).
    pub(crate) args: Option<&'a Value>,
    /// Hash of `tool + ":" + args` with object keys sorted (attocode-py's doom-loop key).
    pub(crate) fingerprint: u64,
}

/// Everything extracted from one session.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    pub(crate) session: &'a Session,
    pub(crate) llm: Vec<LlmCall<'a>>,
    pub(crate) tools: Vec<ToolCall<'a>>,
    /// Distinct main-agent iteration numbers, ascending.
    pub(crate) iterations: Vec<u32>,
    /// Count of main-agent `iteration_start` events (attocode-py's count).
    pub(crate) iteration_starts: u64,
    pub(crate) task: Option<&'a str>,
    pub(crate) session_model: Option<&'a str>,
    pub(crate) agent_name: Option<&'a str>,
    pub(crate) status: SessionStatus,
    pub(crate) started_at: Option<Timestamp>,
    pub(crate) ended_at: Option<Timestamp>,
    pub(crate) compactions: u64,
    pub(crate) error_events: u64,
    pub(crate) subagent_errors: u64,
    pub(crate) failed_nodes: u64,
    pub(crate) subagent_ids: BTreeSet<&'a str>,
    pub(crate) unpriced_models: BTreeSet<String>,
    /// Other reported costs (attoswarm `cost_delta`...).
    pub(crate) extra_cost_usd: f64,
    /// The same, each with the iteration it was reported in (token flow rows).
    pub(crate) extra_costs: Vec<(Option<u32>, f64)>,
}

const FAIL_STATUSES: &[&str] = &[
    "error",
    "failed",
    "failure",
    "timeout",
    "timed_out",
    "blocked",
    "denied",
];

/// Whether a `status` string reports a failure.
pub(crate) fn is_fail_status(s: &str) -> bool {
    FAIL_STATUSES.iter().any(|f| s.eq_ignore_ascii_case(f))
}

/// Whether an event reports a failure: an error kind, a failure status,
/// or an LLM response or workflow end that carries an error (Agent Trace
/// writes a failed call as an `llm.response` with `error` set).
/// Whether the subagent that wrote the `error` event `e` also failed, by
/// the swarm's account, within a second of it (a failed retry attempt, a
/// subagent error or timeout): one failure written twice, as attoswarm
/// writes a worker's timeout in the worker's trace and in the swarm's
/// events. Events are in time order, so only that window is looked at.
fn said_by_the_swarm(events: &[Event], e: &Event) -> bool {
    let Some(agent) = e.agent.as_ref().map(|a| a.id.as_str()) else {
        return false;
    };
    let (lo, hi) = (
        e.timestamp.plus_millis(-1_000.0),
        e.timestamp.plus_millis(1_000.0),
    );
    let from = events.partition_point(|x| x.timestamp < lo);
    events[from..]
        .iter()
        .take_while(|x| x.timestamp <= hi)
        .any(|x| {
            x.agent.as_ref().is_some_and(|a| a.id == agent)
                && match x.kind {
                    EventKind::RetryAttempt => x.status().is_some_and(is_fail_status),
                    EventKind::SubagentError | EventKind::SubagentTimeout => true,
                    _ => false,
                }
        })
}

pub(crate) fn reports_failure(e: &Event) -> bool {
    e.kind.is_error()
        || e.status().is_some_and(is_fail_status)
        || (matches!(e.kind, EventKind::LlmResponse | EventKind::WorkflowEnd)
            && e.error_message().is_some())
}

/// Whether one event counts in `metrics.errors`, judged on its own (as a
/// live view must): a failed tool call, a failed LLM call, an `error`
/// event, a subagent error or timeout, a failed workflow node or a failed
/// workflow. A `recovery` is not an error (it follows one).
pub fn counts_as_error(e: &Event) -> bool {
    match e.kind {
        EventKind::ToolError
        | EventKind::LlmError
        | EventKind::Error
        | EventKind::SubagentError
        | EventKind::SubagentTimeout => true,
        EventKind::ToolEnd | EventKind::NodeEnd | EventKind::RetryAttempt => {
            e.status().is_some_and(is_fail_status)
        }
        EventKind::LlmResponse | EventKind::WorkflowEnd => reports_failure(e),
        _ => false,
    }
}

fn is_timeout(e: &Event) -> bool {
    let status_timeout = e
        .status()
        .is_some_and(|s| s.eq_ignore_ascii_case("timeout") || s.eq_ignore_ascii_case("timed_out"));
    status_timeout
        || e.str(keys::ERROR_TYPE)
            .is_some_and(|t| t.to_ascii_lowercase().contains("timeout"))
}

impl<'a> Facts<'a> {
    pub(crate) fn build(session: &'a Session, prices: &PriceTable) -> Facts<'a> {
        let mut f = Facts {
            session,
            llm: Vec::new(),
            tools: Vec::new(),
            iterations: Vec::new(),
            iteration_starts: 0,
            task: None,
            session_model: None,
            agent_name: None,
            status: SessionStatus::Running,
            started_at: None,
            ended_at: None,
            compactions: 0,
            error_events: 0,
            subagent_errors: 0,
            failed_nodes: 0,
            subagent_ids: BTreeSet::new(),
            unpriced_models: BTreeSet::new(),
            extra_cost_usd: 0.0,
            extra_costs: Vec::new(),
        };
        let mut iteration_set: HashSet<u32> = HashSet::default();
        let mut compaction_starts = 0u64;
        let mut end_status: Option<SessionStatus> = None;
        let mut workflow_status: Option<SessionStatus> = None;
        let mut session_end_at: Option<Timestamp> = None;
        let mut session_start_at: Option<Timestamp> = None;
        let mut price_cache: HashMap<&str, Option<crate::pricing::ModelPrice>> = HashMap::default();
        let starts = starts_of_lacking_ends(&session.events);
        let start_of = |index: usize| starts.get(&index).map(|&i| &session.events[i]);

        for (index, e) in session.events.iter().enumerate() {
            if !e.is_subagent() {
                if let Some(it) = e.iteration {
                    iteration_set.insert(it);
                }
            }
            if let Some(a) = &e.agent {
                f.subagent_ids.insert(a.id.as_str());
            }
            match &e.kind {
                EventKind::SessionStart if !is_duplicate(e) => {
                    session_start_at.get_or_insert(e.timestamp);
                    if f.task.is_none() {
                        f.task = e
                            .str(keys::TASK)
                            .or_else(|| e.str("goal"))
                            .filter(|t| !t.is_empty());
                    }
                    if f.session_model.is_none() {
                        f.session_model = e.model().filter(|m| !m.is_empty());
                    }
                    if f.agent_name.is_none() {
                        f.agent_name = e.str(keys::AGENT_NAME).filter(|m| !m.is_empty());
                    }
                }
                EventKind::SessionEnd if !is_duplicate(e) => {
                    session_end_at = Some(e.timestamp);
                    end_status = Some(match e.status() {
                        None => SessionStatus::Completed,
                        Some(s) => match SessionStatus::from_lenient(s) {
                            // An end with a status word Loupe does not know
                            // (`budget_exhausted`...) is an unsuccessful end.
                            SessionStatus::Running
                                if !s.eq_ignore_ascii_case("running")
                                    && !s.eq_ignore_ascii_case("pending") =>
                            {
                                SessionStatus::Failed
                            }
                            st => st,
                        },
                    });
                }
                // attocode's TraceWriter ends a session twice, a bare end
                // then the full one (status, duration, summary) a moment
                // later: the session lasts until its last end, as attocode's
                // own loader and the writer's `duration_seconds` have it.
                EventKind::SessionEnd => {
                    session_end_at = session_end_at.max(Some(e.timestamp));
                }
                // A swarm's end says how it went, as a workflow's does (its
                // failed tasks are counted as their workers' errors).
                EventKind::SwarmComplete if !e.is_subagent() => {
                    workflow_status = Some(
                        e.status()
                            .map(SessionStatus::from_lenient)
                            .unwrap_or(SessionStatus::Completed),
                    );
                }
                // A workflow names its agent on its start (Victor), as a
                // session does.
                EventKind::WorkflowStart if f.agent_name.is_none() && !e.is_subagent() => {
                    f.agent_name = e.str(keys::AGENT_NAME).filter(|m| !m.is_empty());
                }
                EventKind::WorkflowEnd => {
                    f.error_events += u64::from(reports_failure(e));
                    workflow_status = Some(
                        e.status()
                            .map(SessionStatus::from_lenient)
                            .unwrap_or(SessionStatus::Completed),
                    );
                }
                EventKind::IterationStart if !e.is_subagent() => f.iteration_starts += 1,
                EventKind::LlmResponse | EventKind::LlmError | EventKind::Think => {
                    let usage = e.usage();
                    // The response's model, else its request's (some writers
                    // name it on the request only), else the session's.
                    let request = start_of(index);
                    let model = e
                        .model()
                        .filter(|m| !m.is_empty())
                        .or_else(|| request.and_then(Event::model).filter(|m| !m.is_empty()))
                        .or(if e.is_subagent() {
                            None
                        } else {
                            f.session_model
                        });
                    let reported = e.reported_cost();
                    let has_anything = reported.is_some() || !usage.is_empty();
                    let (cost_usd, cost_source) =
                        if let Some(c) = reported.filter(|c| c.is_finite() && *c >= 0.0) {
                            (c, CostSource::Reported)
                        } else if !has_anything {
                            (0.0, CostSource::Reported)
                        } else {
                            let price = model.and_then(|m| {
                                *price_cache
                                    .entry(m)
                                    .or_insert_with(|| prices.lookup(m).copied())
                            });
                            match price {
                                Some(p) => (p.cost(&usage), CostSource::Priced),
                                None => {
                                    f.unpriced_models
                                        .insert(model.unwrap_or("(unknown model)").to_owned());
                                    (0.0, CostSource::Unpriced)
                                }
                            }
                        };
                    f.llm.push(LlmCall {
                        event: e,
                        usage,
                        model,
                        agent: e.agent.as_ref().map(|a| a.id.as_str()),
                        iteration: e.iteration,
                        cost_usd,
                        cost_source,
                        failed: reports_failure(e),
                    });
                }
                EventKind::ToolEnd | EventKind::ToolError => {
                    let start = start_of(index);
                    let name = e
                        .tool_name()
                        .or_else(|| start.and_then(Event::tool_name))
                        .unwrap_or("(unknown tool)");
                    let args = e
                        .data
                        .get(keys::ARGS)
                        .or_else(|| start.and_then(|s| s.data.get(keys::ARGS)));
                    let failed =
                        e.kind == EventKind::ToolError || e.status().is_some_and(is_fail_status);
                    let duration_ms = crate::session::known_duration(e);
                    f.tools.push(ToolCall {
                        index,
                        event: e,
                        name,
                        agent: e.agent.as_ref().map(|a| a.id.as_str()),
                        iteration: e.iteration,
                        duration_ms,
                        failed,
                        timed_out: failed && is_timeout(e),
                        args,
                        fingerprint: fingerprint(name, args),
                    });
                }
                EventKind::CompactionEnd => f.compactions += 1,
                EventKind::CompactionStart => compaction_starts += 1,
                // Unless the swarm counted the same failure (below).
                EventKind::Error if !said_by_the_swarm(&session.events, e) => f.error_events += 1,
                // A retry that says its attempt failed (attoswarm's).
                EventKind::RetryAttempt if e.status().is_some_and(is_fail_status) => {
                    f.error_events += 1
                }
                EventKind::SubagentError | EventKind::SubagentTimeout => {
                    f.subagent_errors += 1;
                    if let Some(id) = e.str(keys::AGENT_ID) {
                        f.subagent_ids.insert(id);
                    }
                }
                EventKind::SubagentSpawn
                | EventKind::SubagentLink
                | EventKind::SubagentComplete => {
                    if let Some(id) = e.str(keys::AGENT_ID) {
                        f.subagent_ids.insert(id);
                    }
                }
                EventKind::NodeEnd if e.status().is_some_and(is_fail_status) => f.failed_nodes += 1,
                EventKind::CostDelta => {
                    if let Some(c) = e.reported_cost().filter(|c| c.is_finite() && *c >= 0.0) {
                        f.extra_cost_usd += c;
                        f.extra_costs.push((e.iteration, c));
                    }
                }
                _ => {}
            }
        }
        if f.agent_name.is_none() && session.source.format == SourceFormat::Otlp {
            // No start names it (an OpenTelemetry trace without an agent
            // root span): a main-agent event that does (`gen_ai.agent.name`
            // on its spans); a subagent's name is not the session's. Other
            // formats name their agent at the start, if at all: no pass.
            f.agent_name = session
                .events
                .iter()
                .filter(|e| {
                    !e.is_subagent() && e.kind.category() != loupe_model::Category::Subagent
                })
                .find_map(|e| e.str(keys::AGENT_NAME))
                .filter(|m| !m.is_empty());
        }
        if f.compactions == 0 {
            // Some formats only record the start of a compaction.
            f.compactions = compaction_starts;
        }
        f.iterations = iteration_set.into_iter().collect();
        f.iterations.sort_unstable();
        f.status = end_status
            .or(workflow_status)
            .or_else(|| spans_outcome(session))
            .unwrap_or(SessionStatus::Running);
        if f.task.is_none() {
            // No task on the start (Agent Trace): the first thing the user
            // asked, as a conversation's first turn gives it.
            f.task = session
                .events
                .iter()
                .filter(|e| e.kind == EventKind::TurnStart && !e.is_subagent())
                .find_map(|e| e.str("user_input"))
                .filter(|t| !t.is_empty());
        }
        f.started_at = session_start_at.or_else(|| session.events.first().map(|e| e.timestamp));
        f.ended_at = session_end_at.or_else(|| session.events.last().map(|e| e.timestamp));
        f
    }

    /// Main-agent LLM calls.
    pub(crate) fn main_llm(&self) -> impl Iterator<Item = &LlmCall<'a>> {
        self.llm.iter().filter(|c| c.agent.is_none())
    }

    /// Wall-clock duration.
    pub(crate) fn duration_ms(&self) -> Option<f64> {
        match (self.started_at, self.ended_at) {
            // An end before the start (clock skew) is unknown, not 0.
            (Some(a), Some(b)) => Some(b.millis_since(a)).filter(|d| *d >= 0.0),
            _ => None,
        }
    }

    /// The main model: most used by the main agent, else the session's.
    pub(crate) fn main_model(&self) -> Option<&'a str> {
        let mut counts: HashMap<&str, usize> = HashMap::default();
        let mut first: Vec<&str> = Vec::new();
        for c in self.main_llm() {
            if let Some(m) = c.model {
                let n = counts.entry(m).or_insert(0);
                if *n == 0 {
                    first.push(m);
                }
                *n += 1;
            }
        }
        // Ties go to the model seen first.
        let best = first
            .iter()
            .copied()
            .fold(None::<(&str, usize)>, |best, m| {
                let n = counts.get(m).copied().unwrap_or(0);
                match best {
                    Some((_, bn)) if bn >= n => best,
                    _ => Some((m, n)),
                }
            })
            .map(|(m, _)| m);
        best.or(self.session_model)
    }
}

/// The hasher of fingerprints: foldhash with a fixed seed, so a fingerprint
/// is the same in every process (they are only compared within a session,
/// but a fixed value keeps runs reproducible).
type FingerprintHasher = foldhash::fast::FoldHasher<'static>;

/// Hash of `tool:args` with object keys sorted (independent of how the JSON
/// map orders keys).
pub(crate) fn fingerprint(tool: &str, args: Option<&Value>) -> u64 {
    let mut h: FingerprintHasher = foldhash::fast::FixedState::default().build_hasher();
    tool.hash(&mut h);
    ':'.hash(&mut h);
    if let Some(v) = args {
        hash_value(v, &mut h);
    }
    h.finish()
}

fn hash_value(v: &Value, h: &mut FingerprintHasher) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, *b).hash(h),
        // `1` and `1.0` differ, as in the JSON text.
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => (2u8, u).hash(h),
            (None, Some(i)) => (6u8, i).hash(h),
            (None, None) => (7u8, n.as_f64().map(f64::to_bits)).hash(h),
        },
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(a) => {
            (4u8, a.len()).hash(h);
            for x in a {
                hash_value(x, h);
            }
        }
        Value::Object(m) => {
            (5u8, m.len()).hash(h);
            // serde_json's map iterates in key order unless its
            // `preserve_order` feature is on; sort only then.
            if m.keys().is_sorted() {
                for (k, x) in m {
                    k.hash(h);
                    hash_value(x, h);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (k, x) in entries {
                    k.hash(h);
                    hash_value(x, h);
                }
            }
        }
    }
}

/// What tool starts without ids pair by: agent, tool and iteration.
type ToolKey<'a> = (Option<&'a str>, &'a str, Option<u32>);

/// Whether an LLM or tool end event lacks what its start may hold: the
/// model, the tool's name or its arguments.
fn lacks_start_info(e: &Event) -> bool {
    match e.kind {
        EventKind::LlmResponse | EventKind::LlmError | EventKind::Think => {
            e.model().is_none_or(str::is_empty)
        }
        EventKind::ToolEnd | EventKind::ToolError => {
            e.tool_name().is_none() || !e.data.contains_key(keys::ARGS)
        }
        _ => false,
    }
}

/// For each end event that [`lacks_start_info`], the index of the start it
/// closes. Empty, without pairing anything, when no end lacks what a start
/// could give (most formats repeat the model and arguments on the end, and
/// `loupe stats` leaves arguments out of both).
/// The outcome of an OpenTelemetry session with no agent root span (no
/// `session_end`): OTLP exports a span only once it has ended, so when every
/// span read has its end, and every parent they name has been read too, the
/// session is over. It failed when one of its root spans ended in error,
/// else it completed. A span without an end, or a parent not (yet) read
/// (a live agent's root span is exported last), keeps it `running`; other
/// formats without an end stay `running` (crashed or still going).
///
/// Such a session is known by its events, not by the format of the file:
/// every event of a span carries its trace id, also once converted to
/// canonical JSONL (`loupe convert --to canonical`), so the verdict
/// survives conversion. Loupe's recorder writes no trace ids, so its
/// sessions without an end (crashed) stay `running`.
fn spans_outcome(session: &Session) -> Option<SessionStatus> {
    if !session.events.iter().all(|e| e.trace_id.is_some()) {
        return None;
    }
    let mut spans: HashMap<&str, bool> = HashMap::default();
    for e in &session.events {
        if let Some(span) = e.span_id.as_deref() {
            let ended = spans.entry(span).or_insert(false);
            *ended |= e.kind.is_span_end();
        }
    }
    // A parent in another service (the caller of an agent behind a web
    // server) is not this trace's to export: it is not waited for.
    let parent_missing = || {
        let remote: crate::HashSet<&str> = session
            .events
            .iter()
            .filter(|e| e.data.get(keys::PARENT_REMOTE) == Some(&Value::Bool(true)))
            .filter_map(|e| e.span_id.as_deref())
            .collect();
        session.events.iter().any(|e| {
            e.parent_event_id
                .as_deref()
                .is_some_and(|p| !spans.contains_key(p))
                && !e.span_id.as_deref().is_some_and(|s| remote.contains(s))
        })
    };
    if spans.is_empty() || spans.values().any(|ended| !ended) || parent_missing() {
        return None;
    }
    let root_failed = session.events.iter().any(|e| {
        e.kind.is_span_end()
            && e.parent_event_id.is_none()
            && (e.kind.is_error() || e.status().is_some_and(is_fail_status))
    });
    Some(if root_failed {
        SessionStatus::Failed
    } else {
        SessionStatus::Completed
    })
}

fn starts_of_lacking_ends(events: &[Event]) -> HashMap<usize, usize> {
    let mut found = HashMap::default();
    let (mut start_args, mut end_without_args, mut lacking) = (false, false, false);
    for e in events {
        match e.kind {
            EventKind::ToolStart => start_args |= e.data.contains_key(keys::ARGS),
            EventKind::ToolEnd | EventKind::ToolError => {
                end_without_args |= !e.data.contains_key(keys::ARGS);
                lacking |= e.tool_name().is_none();
            }
            EventKind::LlmResponse | EventKind::LlmError | EventKind::Think => {
                lacking |= e.model().is_none_or(str::is_empty);
            }
            _ => {}
        }
    }
    if !(lacking || start_args && end_without_args) {
        return found;
    }
    let mut open = OpenStarts::default();
    for (i, e) in events.iter().enumerate() {
        match e.kind {
            EventKind::LlmRequest | EventKind::ToolStart => open.open(e, i),
            EventKind::LlmResponse
            | EventKind::LlmError
            | EventKind::Think
            | EventKind::ToolEnd
            | EventKind::ToolError => {
                if let Some(start) = open.close(e) {
                    if lacks_start_info(e) {
                        found.insert(i, start);
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// Open LLM requests and tool starts (event indexes), paired with their
/// ends as the span tree pairs them: by span id (or a tool's call id), else
/// first in, first out per agent (LLM calls) or per agent, tool and
/// iteration (tools).
#[derive(Default)]
struct OpenStarts<'a> {
    by_id: HashMap<&'a str, usize>,
    llm: HashMap<Option<&'a str>, VecDeque<usize>>,
    tools: HashMap<ToolKey<'a>, VecDeque<usize>>,
}

impl<'a> OpenStarts<'a> {
    fn id(e: &'a Event) -> Option<&'a str> {
        match e.kind {
            EventKind::ToolStart | EventKind::ToolEnd | EventKind::ToolError => {
                e.span_id.as_deref().or_else(|| e.str(keys::CALL_ID))
            }
            _ => e.span_id.as_deref(),
        }
    }

    fn is_tool(e: &Event) -> bool {
        matches!(
            e.kind,
            EventKind::ToolStart | EventKind::ToolEnd | EventKind::ToolError
        )
    }

    fn tool_key(e: &'a Event) -> ToolKey<'a> {
        (
            e.agent.as_ref().map(|a| a.id.as_str()),
            e.tool_name().unwrap_or(""),
            e.iteration,
        )
    }

    fn open(&mut self, e: &'a Event, index: usize) {
        match Self::id(e) {
            Some(id) => {
                self.by_id.insert(id, index);
            }
            None if Self::is_tool(e) => {
                self.tools
                    .entry(Self::tool_key(e))
                    .or_default()
                    .push_back(index);
            }
            None => {
                let agent = e.agent.as_ref().map(|a| a.id.as_str());
                self.llm.entry(agent).or_default().push_back(index);
            }
        }
    }

    /// The index of the start `e` closes, if it was seen.
    fn close(&mut self, e: &'a Event) -> Option<usize> {
        match Self::id(e) {
            Some(id) => self.by_id.remove(id),
            None if Self::is_tool(e) => self.tools.get_mut(&Self::tool_key(e))?.pop_front(),
            None => {
                let agent = e.agent.as_ref().map(|a| a.id.as_str());
                self.llm.get_mut(&agent)?.pop_front()
            }
        }
    }
}

/// A short rendering of a tool call's arguments for evidence and suggestions
/// (`path=src/a.rs`), at most ~80 characters.
pub(crate) fn args_brief(e: &Event) -> String {
    brief_of_args(e.data.get(keys::ARGS))
}

/// [`args_brief`] of arguments given directly.
pub(crate) fn brief_of_args(args: Option<&Value>) -> String {
    let Some(args) = args else {
        return String::new();
    };
    let mut out = String::new();
    match args {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                match v {
                    Value::String(s) => out.push_str(s),
                    other => out.push_str(&other.to_string()),
                }
                if out.len() > 80 {
                    break;
                }
            }
        }
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
    truncate_owned(out, 80)
}

/// [`truncate_chars`] reusing the string when it is short enough (no copy).
pub(crate) fn truncate_owned(s: String, max: usize) -> String {
    if s.len() <= max {
        s
    } else {
        truncate_chars(&s, max)
    }
}

/// At most `max` characters, with `…` when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `"3–7"` or `"3"` for a list of iterations.
pub(crate) fn iteration_range(its: &[u32]) -> String {
    match (its.iter().min(), its.iter().max()) {
        (Some(a), Some(b)) if a == b => format!("iteration {a}"),
        (Some(a), Some(b)) => format!("iterations {a}–{b}"),
        _ => "no iteration".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn without_a_task_the_first_user_input_is_the_task() {
        use crate::testing::Trace;
        let mut t = Trace::new();
        t.no_iter();
        t.push(EventKind::SessionStart, &[]);
        t.push(
            EventKind::TurnStart,
            &[("user_input", "Why is CI red?".into())],
        );
        t.push(EventKind::TurnStart, &[("user_input", "And now?".into())]);
        let session = t.session();
        let f = Facts::build(&session, &PriceTable::empty());
        assert_eq!(f.task, Some("Why is CI red?"));
    }

    #[test]
    fn a_failure_the_worker_and_the_swarm_both_wrote_counts_once() {
        use crate::testing::Trace;
        let mut t = Trace::new();
        t.no_iter().as_agent(Some("w1"));
        // The worker's own error line, and the swarm's retry a moment later.
        t.push(EventKind::Error, &[(keys::ERROR, "timed out".into())]);
        t.push(EventKind::RetryAttempt, &[(keys::STATUS, "failed".into())])
            .timestamp = t.events().last().unwrap().timestamp.plus_millis(-500.0);
        // A retry with no error beside it, and an error with no retry.
        t.push(EventKind::RetryAttempt, &[(keys::STATUS, "failed".into())]);
        t.as_agent(Some("w2"));
        t.push(EventKind::Error, &[(keys::ERROR, "boom".into())]);
        let session = t.session();
        let f = Facts::build(&session, &PriceTable::empty());
        assert_eq!(f.error_events, 3);
    }

    #[test]
    fn fingerprint_ignores_key_order_but_not_values() {
        let a = json!({"a": 1, "b": {"x": "y", "z": [1, 2]}});
        let b: Value = serde_json::from_str(r#"{"b": {"z": [1, 2], "x": "y"}, "a": 1}"#).unwrap();
        assert_eq!(fingerprint("t", Some(&a)), fingerprint("t", Some(&b)));
        assert_ne!(fingerprint("t", Some(&a)), fingerprint("u", Some(&a)));
        assert_ne!(
            fingerprint("t", Some(&json!({"a": 2}))),
            fingerprint("t", Some(&json!({"a": 1})))
        );
    }

    fn otlp_session(
        format: SourceFormat,
        spans: &[(&str, Option<&str>, bool, Option<bool>)],
    ) -> Session {
        // (span, parent, is an LLM span, Some(failed) when it ended)
        let mut events = Vec::new();
        for (i, (span, parent, llm, end)) in spans.iter().enumerate() {
            let (start_kind, ok_kind, err_kind) = if *llm {
                (
                    EventKind::LlmRequest,
                    EventKind::LlmResponse,
                    EventKind::LlmError,
                )
            } else {
                (
                    EventKind::ToolStart,
                    EventKind::ToolEnd,
                    EventKind::ToolError,
                )
            };
            let mut start = Event::new(
                format!("{span}:start"),
                start_kind,
                Timestamp(i as i64),
                "s",
            );
            start.span_id = Some((*span).into());
            start.parent_event_id = parent.map(Into::into);
            if format == SourceFormat::Otlp {
                start.trace_id = Some("t".into());
            }
            events.push(start.clone());
            if let Some(failed) = end {
                let mut e = start;
                e.event_id = format!("{span}:end");
                e.kind = if *failed { err_kind } else { ok_kind };
                events.push(e);
            }
        }
        Session {
            session_id: "s".into(),
            source: crate::SessionSource {
                path: "t.json".into(),
                format,
            },
            events,
        }
    }

    #[test]
    fn an_otlp_session_without_a_root_ends_when_its_spans_have() {
        let status = |format, spans: &[_]| {
            Facts::build(&otlp_session(format, spans), &PriceTable::default()).status
        };
        let otlp = SourceFormat::Otlp;
        let done = [
            ("a", None, true, Some(false)),
            ("b", Some("a"), false, Some(false)),
        ];
        assert_eq!(status(otlp, &done), SessionStatus::Completed);
        // A failed tool inside a call that went on does not fail the session...
        let inner_failed = [
            ("a", None, true, Some(false)),
            ("b", Some("a"), false, Some(true)),
        ];
        assert_eq!(status(otlp, &inner_failed), SessionStatus::Completed);
        // ...a failed root span does.
        let root_failed = [
            ("a", None, true, Some(true)),
            ("b", None, false, Some(false)),
        ];
        assert_eq!(status(otlp, &root_failed), SessionStatus::Failed);
        // A parent not read (yet): a live agent whose root span comes last.
        let orphan = [("a", Some("later"), true, Some(false))];
        assert_eq!(status(otlp, &orphan), SessionStatus::Running);
        let open = [
            ("a", None, true, Some(false)),
            ("b", Some("a"), false, None),
        ];
        assert_eq!(status(otlp, &open), SessionStatus::Running);
        // Other formats without an end may have crashed: still running.
        assert_eq!(
            status(SourceFormat::AttocodeTs, &done),
            SessionStatus::Running
        );
    }

    #[test]
    fn spans_converted_to_canonical_keep_their_outcome() {
        // `loupe convert --to canonical` of OTLP spans: every event keeps its
        // trace id, and the session ends as it did when read as OTLP.
        let mut session = otlp_session(
            SourceFormat::Otlp,
            &[
                ("a", None, true, Some(false)),
                ("b", Some("a"), false, Some(false)),
            ],
        );
        session.source.format = SourceFormat::Loupe;
        let status = |s: &Session| Facts::build(s, &PriceTable::default()).status;
        assert_eq!(status(&session), SessionStatus::Completed);
        // A recorder's session (no trace ids) that stopped without its end
        // may have crashed: still running.
        for e in &mut session.events {
            e.trace_id = None;
        }
        assert_eq!(status(&session), SessionStatus::Running);
    }

    #[test]
    fn without_a_start_naming_it_the_agent_is_the_main_agents_not_a_subagents() {
        let mut spawn = Event::new("s", EventKind::SubagentSpawn, Timestamp(1), "s")
            .with(keys::AGENT_NAME, "researcher");
        spawn.agent = Some(Box::new(loupe_model::AgentRef {
            id: "researcher".into(),
            ..Default::default()
        }));
        let call = Event::new("c", EventKind::LlmResponse, Timestamp(2), "s")
            .with(keys::AGENT_NAME, "coder");
        let mut session = otlp_session(SourceFormat::Otlp, &[]);
        session.events = vec![spawn.clone(), call];
        let f = Facts::build(&session, &PriceTable::default());
        assert_eq!(f.agent_name, Some("coder"));
        session.events = vec![spawn];
        assert_eq!(
            Facts::build(&session, &PriceTable::default()).agent_name,
            None
        );
    }

    #[test]
    fn briefs_and_ranges() {
        let e = Event::new("x", EventKind::ToolEnd, Timestamp(0), "s")
            .with(keys::ARGS, json!({"path": "src/a.rs", "limit": 5}));
        assert_eq!(args_brief(&e), "limit=5, path=src/a.rs");
        assert_eq!(iteration_range(&[3, 7, 5]), "iterations 3–7");
        assert_eq!(truncate_chars("abcdef", 4), "abc…");
    }
}
