//! Spans → Loupe events: the one mapping shared by file reading and the server.
//!
//! Each span is classified (priority after Langfuse's `ObservationTypeMapper`,
//! anchors.md §2.3): `langfuse.observation.type`, `openinference.span.kind`,
//! `gen_ai.operation.name`, `traceloop.span.kind`, `lmnr.span.type`, then the
//! fallbacks (`gen_ai.request.model` and friends → LLM; pydantic-ai's
//! `gen_ai.tool.call.arguments`/`.result` → tool). A span becomes a start event
//! at its start time (`{span_id}:start`) and an end event at its end time
//! (`{span_id}:end`, with `duration_ms`); an unended span (end time 0) yields only
//! its start event. Span events become `log` events (`exception` → `error`).
//!
//! Every event carries `trace_id` (hex), `span_id` (hex span id, except span
//! events which have none) and `parent_event_id` (hex parent span id). All span
//! attributes are kept as `data.attributes` on the closing event (the start event
//! when the span is unended). Resource attributes are written once per resource
//! and session, as `data.resource` on the first event emitted for them.
//!
//! Events of spans nested (within the same request) under a non-root agent span
//! carry that subagent as `agent`, so per-agent analysis sees subagent work.
//!
//! Spans written by Loupe's own OTLP writer carry `loupe.kind`; they are read
//! back exactly from their `loupe.*` attributes instead (see `super::export`).

use std::collections::HashMap;

use loupe_model::{keys, AgentRef, Event, EventKind, Timestamp, TokenUsage};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode, Span};
use serde_json::{Map, Value};

use super::attrs::{self, Attributes};
use super::names;
use crate::{Sink, Source};

/// What [`events_from_request`] did with a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OtlpStats {
    /// Spans turned into events.
    pub spans: u64,
    /// Spans rejected (missing or invalid ids).
    pub rejected_spans: u64,
    /// Why spans were rejected, one entry per rejected span.
    pub rejection_reasons: Vec<String>,
    /// Sessions to merge, `(from, into)`: spans of a trace that an earlier
    /// request put in the session named by the trace id (no span had named
    /// one yet) belong to the session this request's spans name. A receiver
    /// (`loupe serve`) moves what it stored under `from` into `into`.
    pub merged_sessions: Vec<(String, String)>,
}

/// Attribute names that carry a session id, in priority order.
const SESSION_KEYS: &[&str] = &[
    "gen_ai.conversation.id",
    "session.id",
    "langfuse.session.id",
    "lmnr.association.properties.session_id",
    "traceloop.association.properties.session_id",
];

/// How a span is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpanClass {
    Llm,
    Tool,
    Agent,
    Chain,
    Other,
}

/// Maps every span of `request` to events and hands them to `sink`.
///
/// Spans with a missing or invalid trace or span id are rejected (counted, with a
/// reason) and never panic; this is also what an OTLP *logs* payload posted as
/// traces decodes to (anchors.md §5, "Validate IDs before anything else").
pub fn events_from_request(
    request: &ExportTraceServiceRequest,
    source: &Source,
    sink: &mut dyn Sink,
) -> OtlpStats {
    events_from_request_remembering(request, source, sink, &TraceSessions::new(0))
}

/// Which session each recent trace belongs to, remembered across requests.
///
/// An SDK exports a trace's spans in several batches, and often only some
/// spans (the agent's root, say) carry `gen_ai.conversation.id`; a receiver
/// that keeps this map puts the later batches' spans of that trace into the
/// same session. Bounded: the oldest traces are forgotten first. Shared by
/// concurrent requests (locked briefly per request, not while mapping).
#[derive(Debug, Default)]
pub struct TraceSessions {
    inner: std::sync::Mutex<TraceSessionsInner>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct TraceSessionsInner {
    sessions: HashMap<Vec<u8>, String>,
    order: std::collections::VecDeque<Vec<u8>>,
    /// Traces whose spans went to the trace-id session so far (no span
    /// named a session yet), oldest first.
    orphans: std::collections::HashSet<Vec<u8>>,
    orphan_order: std::collections::VecDeque<Vec<u8>>,
}

impl TraceSessions {
    /// Remembers at most `capacity` traces (0: remembers nothing).
    pub fn new(capacity: usize) -> TraceSessions {
        TraceSessions {
            capacity,
            ..TraceSessions::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TraceSessionsInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session of a trace, if one of its spans named it.
    pub fn get(&self, trace_id: &[u8]) -> Option<String> {
        self.lock().sessions.get(trace_id).cloned()
    }

    /// Traces remembered.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no trace is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds what `found` learned and fills in, for traces it does not name,
    /// what earlier requests learned. Returns the sessions to merge: for each
    /// trace an earlier request left in its trace-id session that `found`
    /// now names, `(trace-id session, named session)`.
    fn exchange(
        &self,
        found: &mut HashMap<Vec<u8>, String>,
        traces: &[&Vec<u8>],
    ) -> Vec<(String, String)> {
        let mut merges = Vec::new();
        if self.capacity == 0 {
            return merges;
        }
        let mut inner = self.lock();
        for (trace, session) in found.iter() {
            if inner.orphans.remove(trace) {
                let by_trace = const_hex::encode(trace);
                if &by_trace != session {
                    merges.push((by_trace, session.clone()));
                }
            }
            if inner.sessions.contains_key(trace) {
                continue;
            }
            if inner.sessions.len() >= self.capacity {
                if let Some(oldest) = inner.order.pop_front() {
                    inner.sessions.remove(&oldest);
                }
            }
            inner.order.push_back(trace.clone());
            inner.sessions.insert(trace.clone(), session.clone());
        }
        for trace in traces {
            if !found.contains_key(*trace) {
                if let Some(known) = inner.sessions.get(*trace) {
                    found.insert((*trace).clone(), known.clone());
                } else if inner.orphans.insert((*trace).clone()) {
                    inner.orphan_order.push_back((*trace).clone());
                    // Merged orphans leave `orphan_order` only here, lazily.
                    while inner.orphans.len() > self.capacity {
                        match inner.orphan_order.pop_front() {
                            Some(oldest) => {
                                inner.orphans.remove(&oldest);
                            }
                            None => break,
                        }
                    }
                }
            }
        }
        if inner.orphan_order.len() > 2 * self.capacity {
            let TraceSessionsInner {
                orphans,
                orphan_order,
                ..
            } = &mut *inner;
            orphan_order.retain(|t| orphans.contains(t));
        }
        merges.sort();
        merges
    }
}

/// [`events_from_request`] for a receiver of many requests: spans without a
/// session attribute join the session that an earlier request's span of the
/// same trace named (see [`TraceSessions`]).
pub fn events_from_request_remembering(
    request: &ExportTraceServiceRequest,
    source: &Source,
    sink: &mut dyn Sink,
    memory: &TraceSessions,
) -> OtlpStats {
    let spans = || {
        request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
    };
    let mut context = SpanContext::default();
    for span in spans() {
        context.add(span);
    }
    let mut traces: Vec<&Vec<u8>> = spans().map(|span| &span.trace_id).collect();
    traces.sort_unstable();
    traces.dedup();
    let merged_sessions = memory.exchange(&mut context.trace_sessions, &traces);
    let mut mapper = SpanMapper::new(&context);
    for resource_spans in &request.resource_spans {
        mapper.begin_resource(resource_spans.resource.as_ref());
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                // Rejections are counted in `mapper.stats`.
                let _ = mapper.map(span, source, sink);
            }
        }
    }
    let mut stats = mapper.stats;
    stats.merged_sessions = merged_sessions;
    stats
}

/// What mapping one span needs to know about the others: the session each
/// trace belongs to and the subagent above each span. Built from every span
/// of a request (the server), or of a whole file before any is mapped (file
/// reading, where a trace's spans may sit in different requests).
#[derive(Debug, Default)]
pub(crate) struct SpanContext {
    /// The first session attribute found on any span of each trace, so that
    /// child spans of a root carrying `session.id` join its session.
    trace_sessions: HashMap<Vec<u8>, String>,
    ancestry: Ancestry,
}

impl SpanContext {
    /// Learns what `span` says about its trace and its place in the tree.
    /// Every span counts, valid ids or not, in the order they are read.
    pub(crate) fn add(&mut self, span: &Span) {
        if !self.trace_sessions.contains_key(&span.trace_id) {
            let found = span.attributes.iter().find_map(|kv| {
                if !SESSION_KEYS.contains(&kv.key.as_str()) {
                    return None;
                }
                match kv.value.as_ref().map(attrs::any_to_json) {
                    Some(Value::String(s)) if !s.trim().is_empty() => Some(s),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                }
            });
            if let Some(session) = found {
                self.trace_sessions.insert(span.trace_id.clone(), session);
            }
        }
        self.ancestry.add(span);
    }

    /// The session a span belongs to, from what it names itself
    /// ([`explicit_session`]), else its trace's, else its trace id in hex.
    pub(crate) fn session_of(&self, explicit: Option<String>, trace_id: &[u8]) -> String {
        explicit
            .or_else(|| self.trace_sessions.get(trace_id).cloned())
            .unwrap_or_else(|| const_hex::encode(trace_id))
    }
}

/// The session a span names by itself: `loupe.session_id` on a span Loupe
/// wrote, else its own session attribute, else its resource's. `None`
/// leaves it to its trace ([`SpanContext::session_of`]). One function for
/// mapping and for [`SessionEnds`], so the two always agree.
pub(crate) fn explicit_session(span: &Span, resource_session: Option<&str>) -> Option<String> {
    // As attribute maps do, the last of duplicate keys wins.
    let last = |key: &str| {
        span.attributes
            .iter()
            .rev()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.as_ref().map_or(Value::Null, attrs::any_to_json))
    };
    if last(names::KIND).is_some() {
        if let Some(Value::String(s)) = last(names::SESSION_ID) {
            return Some(s);
        }
    }
    SESSION_KEYS
        .iter()
        .find_map(|key| match last(key)? {
            Value::String(s) if !s.trim().is_empty() => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .or_else(|| resource_session.map(str::to_owned))
}

/// The session id a resource names for all its spans.
pub(crate) fn resource_session(resource: &attrs::Attributes) -> Option<String> {
    attrs::first_text(resource, SESSION_KEYS)
}

/// Maps spans to events one at a time, resource by resource, with what a
/// [`SpanContext`] knows about the rest of the request or file.
pub(crate) struct SpanMapper<'c> {
    context: &'c SpanContext,
    resource: attrs::Attributes,
    resource_session: Option<String>,
    /// Sessions that already received this resource's attributes.
    resource_written: std::collections::HashSet<String>,
    /// What was mapped so far.
    pub(crate) stats: OtlpStats,
}

impl<'c> SpanMapper<'c> {
    pub(crate) fn new(context: &'c SpanContext) -> Self {
        SpanMapper {
            context,
            resource: attrs::Attributes::new(),
            resource_session: None,
            resource_written: std::collections::HashSet::new(),
            stats: OtlpStats::default(),
        }
    }

    /// The spans that follow belong to `resource`.
    pub(crate) fn begin_resource(&mut self, resource: Option<&Resource>) {
        self.resource = resource
            .map(|r| attrs::to_map(&r.attributes))
            .unwrap_or_default();
        self.resource_session = resource_session(&self.resource);
        self.resource_written.clear();
    }

    /// Maps one span of the current resource into `sink`. A span with bad
    /// ids is rejected: counted, its reason kept in the stats and returned.
    pub(crate) fn map(
        &mut self,
        span: &Span,
        source: &Source,
        sink: &mut dyn Sink,
    ) -> Result<(), String> {
        if let Err(reason) = validate_span(span) {
            self.stats.rejected_spans += 1;
            self.stats.rejection_reasons.push(reason.clone());
            return Err(reason);
        }
        self.stats.spans += 1;
        let span_attrs = attrs::to_map(&span.attributes);
        let trace_hex = const_hex::encode(&span.trace_id);
        let session_id = self.context.session_of(
            explicit_session(span, self.resource_session.as_deref()),
            &span.trace_id,
        );
        // Spans Loupe wrote carry their events verbatim: no resource added.
        let loupe_span = span_attrs.contains_key(names::KIND);
        let mut events = if loupe_span {
            super::export::events_from_loupe_span(span, &span_attrs, &session_id)
        } else {
            map_span(span, span_attrs, &session_id, &trace_hex)
        };
        if !loupe_span {
            if let Some(agent) = self.context.ancestry.agent_above(&span.span_id) {
                for e in events.iter_mut().filter(|e| e.agent.is_none()) {
                    e.agent = Some(Box::new(agent.clone()));
                }
            }
        }
        if !loupe_span && !self.resource.is_empty() && !self.resource_written.contains(&session_id)
        {
            if let Some(first) = events.first_mut() {
                first
                    .data
                    .insert("resource".to_owned(), Value::Object(self.resource.clone()));
                self.resource_written.insert(session_id);
            }
        }
        for event in events {
            sink.event(source, event);
        }
        Ok(())
    }
}

/// Where each session's last span is, found before a file's spans are
/// mapped, so a reader can say when a session is complete
/// ([`Sink::session_done`]) and the sink need not hold every session of a
/// large file until its end.
#[derive(Debug, Default)]
pub(crate) struct SessionEnds {
    /// Spans with valid ids seen so far (the ordinal of the next one).
    spans: u64,
    /// Last ordinal of the spans that name their session.
    named: HashMap<String, u64>,
    /// Last ordinal of the spans, per trace, that leave their session to it.
    by_trace: HashMap<Vec<u8>, u64>,
}

impl SessionEnds {
    /// Notes a span (in the order the mapping will see it) of a resource
    /// naming `resource_session`.
    pub(crate) fn add(&mut self, span: &Span, resource_session: Option<&str>) {
        if validate_span(span).is_err() {
            return;
        }
        let ordinal = self.spans;
        self.spans += 1;
        match explicit_session(span, resource_session) {
            Some(session) => {
                self.named.insert(session, ordinal);
            }
            None => {
                self.by_trace.insert(span.trace_id.clone(), ordinal);
            }
        }
    }

    /// Sessions in the order they end, each with the ordinal of its last
    /// valid span.
    pub(crate) fn resolve(self, context: &SpanContext) -> Vec<(u64, String)> {
        let mut last = self.named;
        for (trace, ordinal) in self.by_trace {
            let session = context.session_of(None, &trace);
            let slot = last.entry(session).or_insert(ordinal);
            *slot = (*slot).max(ordinal);
        }
        let mut ends: Vec<(u64, String)> = last.into_iter().map(|(s, o)| (o, s)).collect();
        ends.sort_unstable();
        ends
    }
}

/// Whether a span can be mapped: valid ids, and times that are times.
fn validate_span(span: &Span) -> Result<(), String> {
    validate_ids(span)?;
    let name = if span.name.is_empty() {
        "<unnamed>"
    } else {
        span.name.as_str()
    };
    let unreadable = super::json::UNREADABLE_TIME;
    for (what, time) in [
        ("start time", span.start_time_unix_nano),
        ("end time", span.end_time_unix_nano),
    ]
    .into_iter()
    .chain(
        span.events
            .iter()
            .map(|e| ("an event's time", e.time_unix_nano)),
    ) {
        if time == unreadable {
            return Err(format!(
                "span '{name}': {what} is not a time (nanoseconds since 1970, as a number or a string of digits)"
            ));
        }
    }
    Ok(())
}

fn validate_ids(span: &Span) -> Result<(), String> {
    let name = if span.name.is_empty() {
        "<unnamed>"
    } else {
        span.name.as_str()
    };
    // Ids that are neither hex nor base64 (or absent) decode to nothing.
    if span.trace_id.is_empty() {
        return Err(format!(
            "span '{name}': trace id is missing or not an id (32 hex digits, or base64 of 16 bytes)"
        ));
    }
    if span.span_id.is_empty() {
        return Err(format!(
            "span '{name}': span id is missing or not an id (16 hex digits, or base64 of 8 bytes)"
        ));
    }
    if span.trace_id.len() != 16 {
        return Err(format!(
            "span '{name}': trace id has {} bytes, expected 16",
            span.trace_id.len()
        ));
    }
    if span.trace_id.iter().all(|b| *b == 0) {
        return Err(format!("span '{name}': trace id is all zeros"));
    }
    if span.span_id.len() != 8 {
        return Err(format!(
            "span '{name}': span id has {} bytes, expected 8",
            span.span_id.len()
        ));
    }
    if span.span_id.iter().all(|b| *b == 0) {
        return Err(format!("span '{name}': span id is all zeros"));
    }
    Ok(())
}

fn classify(span: &Span, a: &Attributes) -> SpanClass {
    classify_by(&span.name, &|key| attrs::first_str(a, &[key]), &|key| {
        a.contains_key(key)
    })
}

/// The classification rules over any attribute lookup (`text` gives a
/// non-empty string value, `has` says whether a key is present), so the
/// subagent pre-pass can classify without building attribute maps.
fn classify_by<'a>(
    span_name: &str,
    text: &dyn Fn(&str) -> Option<&'a str>,
    has: &dyn Fn(&str) -> bool,
) -> SpanClass {
    if let Some(t) = text("langfuse.observation.type") {
        match t.to_ascii_uppercase().as_str() {
            "GENERATION" | "EMBEDDING" => return SpanClass::Llm,
            "TOOL" => return SpanClass::Tool,
            "AGENT" => return SpanClass::Agent,
            "CHAIN" | "SPAN" => return SpanClass::Chain,
            "" => {}
            _ => return SpanClass::Other,
        }
    }
    if let Some(k) = text("openinference.span.kind") {
        match k.to_ascii_uppercase().as_str() {
            "LLM" | "EMBEDDING" => return SpanClass::Llm,
            "TOOL" => return SpanClass::Tool,
            "AGENT" => return SpanClass::Agent,
            "CHAIN" => return SpanClass::Chain,
            _ => return SpanClass::Other,
        }
    }
    if let Some(op) = text("gen_ai.operation.name") {
        match op {
            "chat" | "completion" | "text_completion" | "generate_content" | "generate"
            | "embeddings" => return SpanClass::Llm,
            "execute_tool" => return SpanClass::Tool,
            "invoke_agent" => return SpanClass::Agent,
            "invoke_workflow" => return SpanClass::Chain,
            _ => {}
        }
    }
    if let Some(k) = text("traceloop.span.kind") {
        match k {
            "tool" => return SpanClass::Tool,
            "agent" => return SpanClass::Agent,
            "workflow" | "task" => return SpanClass::Chain,
            _ => {}
        }
    }
    if let Some(t) = text("lmnr.span.type") {
        match t.to_ascii_uppercase().as_str() {
            "LLM" => return SpanClass::Llm,
            "TOOL" => return SpanClass::Tool,
            _ => {}
        }
    }
    let llm_hint = [
        "gen_ai.request.model",
        "gen_ai.response.model",
        "llm.request.type",
        "llm.model_name",
        "aisdk.model.id",
    ];
    if llm_hint.iter().any(|k| has(k)) {
        return SpanClass::Llm;
    }
    if has("gen_ai.tool.call.arguments") || has("gen_ai.tool.call.result") {
        return SpanClass::Tool;
    }
    if span_name.starts_with("execute_tool") {
        return SpanClass::Tool;
    }
    SpanClass::Other
}

/// Span times: (start, end or `None` when the span has not ended). An end
/// before the start (clocks skewed between the two ends of a span, which
/// real exports have) is taken as the start: a span of no length, whose
/// end still comes after its start.
fn span_times(span: &Span) -> (Timestamp, Option<Timestamp>) {
    let end =
        (span.end_time_unix_nano > 0).then(|| Timestamp::from_epoch_nanos(span.end_time_unix_nano));
    let start = if span.start_time_unix_nano > 0 {
        Timestamp::from_epoch_nanos(span.start_time_unix_nano)
    } else {
        end.unwrap_or_default()
    };
    (start, end.map(|end| end.max(start)))
}

fn status_error(span: &Span) -> Option<String> {
    let status = span.status.as_ref()?;
    (status.code == StatusCode::Error as i32).then(|| {
        if status.message.is_empty() {
            "error".to_owned()
        } else {
            status.message.clone()
        }
    })
}

/// A failure Langfuse reports only by level (`langfuse.observation.level =
/// ERROR`, with its `status_message`), without an OTel span status.
fn langfuse_level_error(a: &Attributes) -> Option<String> {
    let level = attrs::first_str(a, &["langfuse.observation.level"])?;
    level.eq_ignore_ascii_case("error").then(|| {
        attrs::first_text(a, &["langfuse.observation.status_message"])
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "error".to_owned())
    })
}

/// `Span.flags`: whether the span says if its parent is remote, and if so.
const FLAG_HAS_IS_REMOTE: u32 = 0x100;
const FLAG_IS_REMOTE: u32 = 0x200;

/// Whether a span's parent is in another service (a caller that sent a W3C
/// `traceparent`): the flags say so, or, from an SDK whose flags are
/// silent, the span is the server or consumer end of a call. Such a parent
/// is not this service's to export.
fn parent_is_remote(span: &Span) -> bool {
    let has_parent = span.parent_span_id.iter().any(|b| *b != 0);
    has_parent
        && if span.flags & FLAG_HAS_IS_REMOTE != 0 {
            span.flags & FLAG_IS_REMOTE != 0
        } else {
            span.kind == SpanKind::Server as i32 || span.kind == SpanKind::Consumer as i32
        }
}

fn map_span(span: &Span, a: Attributes, session_id: &str, trace_hex: &str) -> Vec<Event> {
    let span_hex = const_hex::encode(&span.span_id);
    // Some SDKs write an all-zero parent id for roots.
    let parent_hex = (span.parent_span_id.len() == 8
        && span.parent_span_id.iter().any(|b| *b != 0))
    .then(|| const_hex::encode(&span.parent_span_id));
    let parent_remote = parent_hex.is_some() && parent_is_remote(span);
    // An agent called from another service is that service's callee, but
    // the first agent of this trace's spans: its main agent.
    let root_agent = parent_hex.is_none() || parent_remote;
    let (start, end) = span_times(span);
    let class = classify(span, &a);
    // A bare ERROR status takes the message of the exception recorded on
    // the span, as `record_exception` writes it.
    let error = status_error(span)
        .or_else(|| langfuse_level_error(&a))
        .map(|msg| match (msg.as_str(), exception_message(span)) {
            ("error", Some(m)) => m,
            _ => msg,
        });
    // The failure of an LLM, tool or subagent span is counted by its end
    // event; the exception recorded on it is kept as a log line, not counted
    // again (OTel SDKs set the status and record the exception together).
    let failure_counted_by_end = error.is_some()
        && (matches!(class, SpanClass::Llm | SpanClass::Tool)
            || (class == SpanClass::Agent && !root_agent));

    let envelope = |id_suffix: &str, kind: EventKind, ts: Timestamp| {
        let mut e = Event::new(format!("{span_hex}:{id_suffix}"), kind, ts, session_id);
        e.trace_id = Some(trace_hex.to_owned());
        e.span_id = Some(span_hex.clone());
        e.parent_event_id = parent_hex.clone();
        e
    };

    let (start_kind, end_kind) = match class {
        SpanClass::Llm => (
            EventKind::LlmRequest,
            if error.is_some() {
                EventKind::LlmError
            } else {
                EventKind::LlmResponse
            },
        ),
        SpanClass::Tool => (
            EventKind::ToolStart,
            if error.is_some() {
                EventKind::ToolError
            } else {
                EventKind::ToolEnd
            },
        ),
        SpanClass::Agent if root_agent => (EventKind::SessionStart, EventKind::SessionEnd),
        SpanClass::Agent => (
            EventKind::SubagentSpawn,
            if error.is_some() {
                EventKind::SubagentError
            } else {
                EventKind::SubagentComplete
            },
        ),
        SpanClass::Chain | SpanClass::Other => {
            if a.contains_key("graph.node.id") {
                (EventKind::NodeStart, EventKind::NodeEnd)
            } else {
                (EventKind::SpanStart, EventKind::SpanEnd)
            }
        }
    };

    let mut first = envelope("start", start_kind, start);
    let mut last = end.map(|ts| {
        let mut e = envelope("end", end_kind, ts);
        e.duration_ms = Some(ts.millis_since(start).max(0.0));
        e
    });
    if !span.name.is_empty() {
        first
            .data
            .insert(keys::NAME.to_owned(), span.name.clone().into());
    }
    if parent_remote {
        first
            .data
            .insert(keys::PARENT_REMOTE.to_owned(), true.into());
    }

    match class {
        SpanClass::Llm => fill_llm(&a, &mut first, last.as_mut()),
        SpanClass::Tool => fill_tool(span, &a, &mut first, last.as_mut()),
        SpanClass::Agent => fill_agent(span, &a, &mut first, last.as_mut(), root_agent),
        SpanClass::Chain | SpanClass::Other => {
            if let Some(node) = attrs::first_text(&a, &["graph.node.id"]) {
                first
                    .data
                    .insert(keys::NODE_ID.to_owned(), node.clone().into());
                if let Some(l) = last.as_mut() {
                    l.data.insert(keys::NODE_ID.to_owned(), node.into());
                }
            }
            if let Some(l) = last.as_mut() {
                if !span.name.is_empty() {
                    l.data
                        .insert(keys::NAME.to_owned(), span.name.clone().into());
                }
            }
        }
    }
    // Which agent produced an LLM or tool span (agent spans record it themselves).
    if class != SpanClass::Agent {
        for (attribute, key) in [
            ("gen_ai.agent.id", keys::AGENT_ID),
            ("gen_ai.agent.name", keys::AGENT_NAME),
        ] {
            if let Some(v) = attrs::first_text(&a, &[attribute]) {
                first.data.insert(key.to_owned(), v.into());
            }
        }
    }
    let source_kind = attrs::first_str(
        &a,
        &[
            "langfuse.observation.type",
            "openinference.span.kind",
            "gen_ai.operation.name",
            "traceloop.span.kind",
            "lmnr.span.type",
        ],
    )
    .map(str::to_owned);
    if let Some(sk) = source_kind {
        first.data.insert(keys::SOURCE_KIND.to_owned(), sk.into());
    }

    if let Some(l) = last.as_mut() {
        match &error {
            Some(msg) => {
                l.data.insert(keys::STATUS.to_owned(), "error".into());
                l.data.insert(keys::ERROR.to_owned(), msg.clone().into());
                if let Some(t) = attrs::first_text(&a, &["error.type"]) {
                    l.data.insert(keys::ERROR_TYPE.to_owned(), t.into());
                }
            }
            None if class != SpanClass::Llm => {
                let status = if class == SpanClass::Agent {
                    "completed"
                } else {
                    "success"
                };
                l.data.insert(keys::STATUS.to_owned(), status.into());
            }
            None => {}
        }
    }

    let mut out = Vec::with_capacity(2 + span.events.len());
    let holder = last.as_mut().unwrap_or(&mut first);
    holder
        .data
        .insert("attributes".to_owned(), Value::Object(a));
    out.push(first);
    for (i, ev) in span.events.iter().enumerate() {
        let mut e = span_event(ev, i, &span_hex, session_id, trace_hex, start);
        if failure_counted_by_end && e.kind == EventKind::Error {
            e.kind = EventKind::Log;
        }
        out.push(e);
    }
    if let Some(l) = last {
        out.push(l);
    }
    out
}

/// The message of the first exception recorded on a span.
fn exception_message(span: &Span) -> Option<String> {
    span.events
        .iter()
        .filter(|ev| ev.name == "exception" || ev.name == "gen_ai.client.operation.exception")
        .flat_map(|ev| &ev.attributes)
        .find(|kv| kv.key == "exception.message")
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match attrs::any_to_json(v) {
            Value::String(s) if !s.trim().is_empty() => Some(s),
            _ => None,
        })
}

fn span_event(
    ev: &opentelemetry_proto::tonic::trace::v1::span::Event,
    index: usize,
    span_hex: &str,
    session_id: &str,
    trace_hex: &str,
    span_start: Timestamp,
) -> Event {
    let ev_attrs = attrs::to_map(&ev.attributes);
    let is_exception = ev.name == "exception" || ev.name == "gen_ai.client.operation.exception";
    let kind = if is_exception {
        EventKind::Error
    } else {
        EventKind::Log
    };
    let ts = if ev.time_unix_nano > 0 {
        Timestamp::from_epoch_nanos(ev.time_unix_nano)
    } else {
        span_start
    };
    let mut e = Event::new(format!("{span_hex}:event:{index}"), kind, ts, session_id);
    e.trace_id = Some(trace_hex.to_owned());
    e.parent_event_id = Some(span_hex.to_owned());
    e.data.insert(keys::NAME.to_owned(), ev.name.clone().into());
    if is_exception {
        if let Some(m) = attrs::first_text(&ev_attrs, &["exception.message"]) {
            e.data.insert(keys::ERROR.to_owned(), m.into());
        }
        if let Some(t) = attrs::first_text(&ev_attrs, &["exception.type"]) {
            e.data.insert(keys::ERROR_TYPE.to_owned(), t.into());
        }
    } else if let Some(m) = attrs::first_text(&ev_attrs, &["message", "log.message", "body"]) {
        e.data.insert(keys::MESSAGE.to_owned(), m.into());
    }
    if !ev_attrs.is_empty() {
        e.data
            .insert("attributes".to_owned(), Value::Object(ev_attrs));
    }
    e
}

/// Token usage from Langfuse's `usage_details` when it is in Langfuse's own
/// shape (`input`, `output`, `total` and parts named after them). Its counts
/// add up: `input` leaves out the cached parts (`input_cached_tokens`,
/// `cache_read_input_tokens`...), `output` the reasoning ones
/// (`output_reasoning_tokens`), and `total` is the sum of all of them; in
/// OTel semantics they are included, so the parts are added back.
fn langfuse_usage(details: &Map<String, Value>) -> Option<TokenUsage> {
    if !details.contains_key("input") && !details.contains_key("output") {
        return None;
    }
    let count = |k: &str| details.get(k).and_then(loupe_model::value_u64);
    let sum_of = |side: &str| {
        details
            .iter()
            .filter(|(k, _)| {
                k.as_str() == side
                    || k.strip_prefix(side)
                        .is_some_and(|rest| rest.starts_with('_'))
                    || (side == "input"
                        && matches!(
                            k.as_str(),
                            "cache_read_input_tokens" | "cache_creation_input_tokens"
                        ))
            })
            .filter_map(|(_, v)| loupe_model::value_u64(v))
            .fold(None, |sum: Option<u64>, n| {
                Some(sum.unwrap_or(0).saturating_add(n))
            })
    };
    let first = |keys: &[&str]| keys.iter().find_map(|k| count(k));
    Some(TokenUsage {
        input_tokens: sum_of("input"),
        output_tokens: sum_of("output"),
        cache_read_tokens: first(&[
            "input_cached_tokens",
            "input_cache_read",
            "cache_read_input_tokens",
        ]),
        cache_write_tokens: first(&[
            "input_cache_creation",
            "input_cache_write",
            "cache_creation_input_tokens",
        ]),
        reasoning_tokens: first(&["output_reasoning_tokens", "output_reasoning"]),
        total_tokens: None,
    })
}

/// Token usage in OTel semantics from any of the known attribute families.
pub(crate) fn usage_from_attributes(a: &Attributes) -> TokenUsage {
    let details = attrs::structured(a, &["langfuse.observation.usage_details"])
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default();
    let standard_counts = [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.token_count.prompt",
        "llm.usage.prompt_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
        "llm.usage.completion_tokens",
    ];
    if !standard_counts.iter().any(|k| a.contains_key(*k)) {
        if let Some(usage) = langfuse_usage(&details) {
            return usage;
        }
    }
    let detail = |keys: &[&str]| attrs::first_u64(&details, keys);
    let mut usage = TokenUsage {
        input_tokens: attrs::first_u64(
            a,
            &[
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.prompt_tokens",
                "llm.token_count.prompt",
                "llm.usage.prompt_tokens",
            ],
        )
        .or_else(|| detail(&["input", "input_tokens", "prompt_tokens"])),
        output_tokens: attrs::first_u64(
            a,
            &[
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
                "llm.token_count.completion",
                "llm.usage.completion_tokens",
            ],
        )
        .or_else(|| detail(&["output", "output_tokens", "completion_tokens"])),
        cache_read_tokens: attrs::first_u64(
            a,
            &[
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_read_input_tokens",
                "llm.token_count.prompt_details.cache_read",
                "gen_ai.usage.details.cache_read_tokens",
            ],
        )
        .or_else(|| detail(&["cache_read_input_tokens", "input_cache_read", "cache_read"])),
        cache_write_tokens: attrs::first_u64(
            a,
            &[
                "gen_ai.usage.cache_creation.input_tokens",
                "gen_ai.usage.cache_creation_input_tokens",
                "llm.token_count.prompt_details.cache_write",
                "gen_ai.usage.details.cache_write_tokens",
            ],
        )
        .or_else(|| {
            detail(&[
                "cache_creation_input_tokens",
                "input_cache_creation",
                "cache_write",
            ])
        }),
        reasoning_tokens: attrs::first_u64(
            a,
            &[
                "gen_ai.usage.reasoning.output_tokens",
                "gen_ai.usage.reasoning_tokens",
                "llm.token_count.completion_details.reasoning",
                "llm.usage.reasoning_tokens",
            ],
        )
        .or_else(|| detail(&["reasoning", "reasoning_tokens", "output_reasoning"])),
        total_tokens: None,
    };
    let total = attrs::first_u64(
        a,
        &[
            "llm.usage.total_tokens",
            "llm.token_count.total",
            "gen_ai.usage.total_tokens",
        ],
    )
    .or_else(|| detail(&["total", "total_tokens"]));
    if usage.input_tokens.is_none() {
        if let (Some(total), Some(out)) = (total, usage.output_tokens) {
            usage.input_tokens = Some(total.saturating_sub(out));
        }
    }
    let mut usage = usage.with_unsplit_total(total);
    // OTel says input includes the cache parts. If the parts exceed the input, the
    // producer reported Anthropic-style additive counts: convert.
    if let Some(input) = usage.input_tokens {
        let parts = usage.cache_read() + usage.cache_write();
        if parts > input {
            usage.input_tokens = Some(input + parts);
        }
    }
    usage
}

fn fill_llm(a: &Attributes, first: &mut Event, last: Option<&mut Event>) {
    let request_model = attrs::first_str(
        a,
        &[
            "gen_ai.request.model",
            "llm.request.model",
            "llm.model_name",
            "langfuse.observation.model.name",
            "aisdk.model.id",
        ],
    );
    let response_model = attrs::first_str(
        a,
        &[
            "gen_ai.response.model",
            "llm.response.model",
            "llm.response.model_name",
        ],
    )
    .or(request_model);
    let provider = attrs::first_str(
        a,
        &[
            "gen_ai.provider.name",
            "gen_ai.system",
            "llm.provider",
            "llm.system",
        ],
    );
    if let Some(m) = request_model.or(response_model) {
        first.data.insert(keys::MODEL.to_owned(), m.into());
    }
    if let Some(p) = provider {
        first.data.insert(keys::PROVIDER.to_owned(), p.into());
    }
    // OpenInference's `input.value` is the raw request: its messages, when
    // flattened as `llm.input_messages.*`, are the better record.
    let messages = attrs::structured(
        a,
        &[
            "gen_ai.input.messages",
            "langfuse.observation.input",
            "traceloop.entity.input",
            "lmnr.span.input",
        ],
    )
    .or_else(|| attrs::indexed_messages(a, "gen_ai.prompt."))
    .or_else(|| attrs::indexed_messages(a, "llm.input_messages."))
    .or_else(|| attrs::structured(a, &["input.value"]));
    if let Some(m) = messages {
        let count = match &m {
            Value::Array(items) => Some(items.len()),
            // A request body (`{"model": ..., "messages": [...]}`).
            Value::Object(body) => body.get("messages").and_then(Value::as_array).map(Vec::len),
            _ => None,
        };
        if let Some(n) = count {
            first.data.insert(keys::MESSAGE_COUNT.to_owned(), n.into());
        }
        first.data.insert(keys::MESSAGES.to_owned(), m);
    }
    let Some(last) = last else {
        return;
    };
    if let Some(m) = response_model {
        last.data.insert(keys::MODEL.to_owned(), m.into());
    }
    if let Some(p) = provider {
        last.data.insert(keys::PROVIDER.to_owned(), p.into());
    }
    let usage = usage_from_attributes(a);
    if !usage.is_empty() {
        last.set_usage(&usage);
    }
    let stop = match a.get("gen_ai.response.finish_reasons") {
        Some(Value::Array(items)) => items.first().and_then(Value::as_str).map(str::to_owned),
        Some(Value::String(s)) => match serde_json::from_str::<Vec<String>>(s) {
            Ok(list) => list.into_iter().next(),
            Err(_) => Some(s.clone()),
        },
        _ => None,
    }
    .or_else(|| attrs::first_text(a, &["llm.finish_reason"]));
    if let Some(s) = stop {
        last.data.insert(keys::STOP_REASON.to_owned(), s.into());
    }
    let cost = attrs::first_f64(a, &["llm.cost.total", "gen_ai.usage.cost"]).or_else(|| {
        match attrs::structured(a, &["langfuse.observation.cost_details"])? {
            Value::Object(m) => attrs::first_f64(&m, &["total"]).or_else(|| {
                let sum: f64 = m.values().filter_map(Value::as_f64).sum();
                (sum > 0.0).then_some(sum)
            }),
            _ => None,
        }
    });
    if let Some(c) = cost {
        last.data.insert(keys::COST_USD.to_owned(), c.into());
    }
    let content = attrs::structured(
        a,
        &[
            "gen_ai.output.messages",
            "langfuse.observation.output",
            "traceloop.entity.output",
            "lmnr.span.output",
            "output.value",
        ],
    )
    .or_else(|| attrs::indexed_messages(a, "gen_ai.completion."))
    .or_else(|| attrs::indexed_messages(a, "llm.output_messages."));
    if let Some(c) = content {
        last.data.insert(keys::CONTENT.to_owned(), c);
    }
}

fn tool_name(span: &Span, a: &Attributes) -> Option<String> {
    attrs::first_text(
        a,
        &["gen_ai.tool.name", "tool.name", "traceloop.entity.name"],
    )
    .or_else(|| {
        let name = span
            .name
            .strip_prefix("execute_tool")
            .unwrap_or(&span.name)
            .trim();
        (!name.is_empty()).then(|| name.to_owned())
    })
}

fn fill_tool(span: &Span, a: &Attributes, first: &mut Event, last: Option<&mut Event>) {
    let name = tool_name(span, a);
    let call_id = attrs::first_text(a, &["gen_ai.tool.call.id", "tool.id", "tool_call.id"]);
    let args = attrs::structured(
        a,
        &[
            "gen_ai.tool.call.arguments",
            "tool.parameters",
            "input.value",
            "traceloop.entity.input",
            "langfuse.observation.input",
            "lmnr.span.input",
        ],
    );
    if let Some(n) = &name {
        first.data.insert(keys::TOOL.to_owned(), n.clone().into());
    }
    if let Some(c) = &call_id {
        first
            .data
            .insert(keys::CALL_ID.to_owned(), c.clone().into());
    }
    if let Some(args) = args {
        first.data.insert(keys::ARGS.to_owned(), args);
    }
    let Some(last) = last else {
        return;
    };
    if let Some(n) = name {
        last.data.insert(keys::TOOL.to_owned(), n.into());
    }
    if let Some(c) = call_id {
        last.data.insert(keys::CALL_ID.to_owned(), c.into());
    }
    let result = attrs::structured(
        a,
        &[
            "gen_ai.tool.call.result",
            "output.value",
            "traceloop.entity.output",
            "langfuse.observation.output",
            "lmnr.span.output",
        ],
    );
    if let Some(r) = result {
        last.data.insert(keys::RESULT.to_owned(), r);
    }
}

fn fill_agent(
    span: &Span,
    a: &Attributes,
    first: &mut Event,
    last: Option<&mut Event>,
    is_root: bool,
) {
    let (id, name) = agent_identity(
        span,
        attrs::first_text(a, &["gen_ai.agent.id"]),
        attrs::first_text(
            a,
            &["gen_ai.agent.name", "agent.name", "traceloop.entity.name"],
        ),
    );
    // A subagent's start says them too: what it was asked and with which
    // model, and it is what an agent below a plain span (`POST /chat`)
    // becomes the main agent with (`loupe_analyze`'s session assembly).
    if let Some(t) = attrs::structured(a, &["input.value", "langfuse.trace.input"]) {
        first.data.insert(keys::TASK.to_owned(), t);
    }
    if let Some(m) = attrs::first_str(a, &["gen_ai.request.model"]) {
        first.data.insert(keys::MODEL.to_owned(), m.into());
    }
    if is_root {
        if let Some(n) = &name {
            first
                .data
                .insert(keys::AGENT_NAME.to_owned(), n.clone().into());
        }
        return;
    }
    let agent = agent_ref(span, id, name.clone());
    first
        .data
        .insert(keys::AGENT_ID.to_owned(), agent.id.clone().into());
    if let Some(n) = &name {
        first
            .data
            .insert(keys::AGENT_NAME.to_owned(), n.clone().into());
    }
    first.agent = Some(Box::new(agent.clone()));
    if let Some(l) = last {
        l.data
            .insert(keys::AGENT_ID.to_owned(), agent.id.clone().into());
        l.agent = Some(Box::new(agent));
    }
}

/// An agent span's id and name attributes, the name falling back to the span
/// name without its `invoke_agent` prefix.
fn agent_identity(
    span: &Span,
    id: Option<String>,
    name: Option<String>,
) -> (Option<String>, Option<String>) {
    let name = name.or_else(|| {
        let n = span
            .name
            .strip_prefix("invoke_agent")
            .unwrap_or(&span.name)
            .trim();
        (!n.is_empty()).then(|| n.to_owned())
    });
    (id, name)
}

/// The agent identity of a subagent span: `gen_ai.agent.id`, else its name,
/// else its span id.
fn agent_ref(span: &Span, id: Option<String>, name: Option<String>) -> AgentRef {
    AgentRef {
        id: id
            .or_else(|| name.clone())
            .unwrap_or_else(|| const_hex::encode(&span.span_id)),
        name,
        ..Default::default()
    }
}

/// Per span id: its parent and, for subagent spans (non-root agent spans), the
/// agent. Lets events of spans nested under a subagent carry that agent.
#[derive(Debug, Default)]
///
/// Ids are kept as 8-byte arrays, not vectors (a file's every span is
/// here, so this is most of what the first pass holds). A span whose id has
/// another length is rejected by the mapping, so it can be nobody's
/// subagent; a parent id of another length ends the walk up.
struct Ancestry {
    parents: HashMap<[u8; 8], [u8; 8]>,
    agents: HashMap<[u8; 8], AgentRef>,
}

impl Ancestry {
    fn add(&mut self, span: &Span) {
        let is_root = span.parent_span_id.iter().all(|b| *b == 0);
        if is_root {
            return;
        }
        // An agent span under a remote parent is a main agent (`map_span`).
        let may_be_subagent = !parent_is_remote(span);
        let (Ok(id), Ok(parent)) = (
            <[u8; 8]>::try_from(span.span_id.as_slice()),
            <[u8; 8]>::try_from(span.parent_span_id.as_slice()),
        ) else {
            return;
        };
        self.parents.insert(id, parent);
        let text = |key: &str| -> Option<&str> {
            span.attributes.iter().find_map(|kv| {
                if kv.key != key {
                    return None;
                }
                match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(v) if !v.trim().is_empty() => Some(v.as_str()),
                    _ => None,
                }
            })
        };
        let has = |key: &str| span.attributes.iter().any(|kv| kv.key == key);
        if may_be_subagent
            && classify_by(&span.name, &text, &has) == SpanClass::Agent
            && !span.attributes.iter().any(|kv| kv.key == names::KIND)
        {
            let (agent_id, name) = agent_identity(
                span,
                text("gen_ai.agent.id").map(str::to_owned),
                text("gen_ai.agent.name")
                    .or_else(|| text("agent.name"))
                    .or_else(|| text("traceloop.entity.name"))
                    .map(str::to_owned),
            );
            self.agents.insert(id, agent_ref(span, agent_id, name));
        }
    }

    /// The nearest subagent strictly above `span_id` (bounded walk: corrupt
    /// input may contain parent cycles).
    fn agent_above(&self, span_id: &[u8]) -> Option<&AgentRef> {
        let mut current = self.parents.get(<&[u8; 8]>::try_from(span_id).ok()?)?;
        for _ in 0..256 {
            if let Some(agent) = self.agents.get(current) {
                return Some(agent);
            }
            current = self.parents.get(current)?;
        }
        None
    }
}
