//! Canonical events → OTLP (`loupe convert --to otlp`, `loupe export --format otlp`),
//! and the exact read-back of spans Loupe wrote.
//!
//! Mapping (each choice keeps canonical → OTLP → canonical lossless):
//! - A span-start event and its span-end event become **one span** (start →
//!   end): by `span_id` when they have one, else as the span tree pairs them
//!   (`span_plan.rs`). Its OTLP span id is the `span_id` when that is 16 hex
//!   digits, else a stable FNV-1a hash of it (of the start's event id for a
//!   pair without a span id).
//! - Every other event becomes **its own span**: an end event with `duration_ms`
//!   spans `timestamp - duration_ms → timestamp`; a lone start event is an unended
//!   span (end time 0, "in progress"); any other event (`error`, `log`, `custom`,
//!   budget checks...) is a zero-duration span. Span events are not used, because
//!   a point event may have no enclosing span to hang from.
//! - A span hangs from the span its events name as parent, else from its
//!   iteration, subagent, turn, workflow or session span (`span_plan.rs`), so
//!   the OTLP tree is the tree Loupe shows.
//! - The OTLP trace id is the event's `trace_id` when it is 32 hex digits, else a
//!   hash of the session id, so one session's spans share a trace.
//! - Current OTel GenAI names describe what other tools understand:
//!   `gen_ai.conversation.id` (and `session.id`), `gen_ai.operation.name` (`chat`, `execute_tool`,
//!   `invoke_agent`), `gen_ai.request.model`, `gen_ai.response.model`,
//!   `gen_ai.provider.name`, `gen_ai.usage.input_tokens` / `output_tokens` /
//!   `cache_read.input_tokens` / `cache_creation.input_tokens` /
//!   `reasoning.output_tokens`, `gen_ai.response.finish_reasons`,
//!   `gen_ai.tool.name`, `gen_ai.tool.call.id`, `gen_ai.tool.call.arguments` /
//!   `.result` (text; JSON for structured values), `gen_ai.agent.id` / `.name`, and
//!   OpenInference `llm.cost.total` for reported cost (GenAI has no cost attribute,
//!   anchors.md §2.4). Error kinds set span status ERROR with the error text.
//! - Loupe-only fields go into `loupe.*` attributes (`loupe.kind`,
//!   `loupe.event_id`, `loupe.session_id`, `loupe.iteration`, `loupe.turn`,
//!   `loupe.duration_ms`, `loupe.agent`, `loupe.data` as JSON text, and the same
//!   under `loupe.start.*` for the opening event of a pair). The reader restores
//!   such spans from them exactly; event *order* becomes span order.
//! - Timestamps before 1970 cannot be written (OTLP times are unsigned) and
//!   become 0.

use loupe_model::{keys, AgentRef, Event, EventKind, Timestamp};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind, status::StatusCode, ResourceSpans, ScopeSpans, Span, Status,
};
use serde_json::{json, Value};

use super::attrs::{self, Attributes};
use super::names;
use super::span_plan::{self, Plan};

/// The OTLP ids one span is written with.
struct SpanIds {
    span: Vec<u8>,
    trace: Vec<u8>,
    /// Empty for a root span.
    parent: Vec<u8>,
}

/// Converts canonical events to one OTLP request (see the module docs for the mapping).
pub fn events_to_request(events: &[Event]) -> ExportTraceServiceRequest {
    let plans = span_plan::plan(events);
    let ids: Vec<Vec<u8>> = plans
        .iter()
        .map(|plan| {
            let (first, last) = (&events[plan.first()], &events[plan.last()]);
            // A pair without a span id is known by its start's event id, which
            // is what other events name as their parent.
            let id = match (plan, last.span_id.as_deref()) {
                (_, Some(span)) => span,
                (Plan::Pair(..), None) => first.event_id.as_str(),
                (Plan::Single(_), None) => last.event_id.as_str(),
            };
            span_id_bytes(&last.session_id, id)
        })
        .collect();
    let traces: Vec<Vec<u8>> = plans
        .iter()
        .map(|plan| trace_id_bytes(&events[plan.last()]))
        .collect();
    let mut parents = span_plan::parents(events, &plans, &ids, &traces, span_id_bytes);
    span_plan::break_cycles(&mut parents);

    let spans = plans
        .iter()
        .zip(ids.iter().zip(&traces))
        .zip(&parents)
        .map(|((plan, (id, trace)), parent)| {
            let ids = SpanIds {
                span: id.clone(),
                trace: trace.clone(),
                parent: parent.map(|q| ids[q].clone()).unwrap_or_default(),
            };
            match *plan {
                Plan::Pair(s, e) => span_for(Some(&events[s]), &events[e], ids),
                Plan::Single(i) => span_for(None, &events[i], ids),
            }
        })
        .collect();

    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![kv("service.name", Value::from("loupe"))],
                dropped_attributes_count: 0,
                entity_refs: Vec::new(),
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "loupe".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    attributes: Vec::new(),
                    dropped_attributes_count: 0,
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Converts canonical events to OTLP/JSON text (one `ExportTraceServiceRequest`).
pub fn events_to_otlp_json(events: &[Event]) -> String {
    request_to_json(&events_to_request(events))
}

/// Writes a request as OTLP/JSON per the spec: hex ids, lowerCamelCase keys,
/// 64-bit integers as strings, enums as integers.
pub fn request_to_json(request: &ExportTraceServiceRequest) -> String {
    // Serialising straight from the prost types (no intermediate `Value` tree)
    // keeps `loupe export --format otlp` linear and allocation-light.
    serde_json::to_string(&wire_json::Request(request)).unwrap_or_default()
}

/// Writes a request as [`request_to_json`] does, to `out` as it goes: a
/// session of a million events is not held a second time as text.
pub fn write_request_json(
    out: impl std::io::Write,
    request: &ExportTraceServiceRequest,
) -> std::io::Result<()> {
    serde_json::to_writer(out, &wire_json::Request(request)).map_err(std::io::Error::from)
}

/// `Serialize` views of the prost types in OTLP/JSON form.
mod wire_json {
    use base64::Engine;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
    use serde::ser::{SerializeMap, SerializeSeq, Serializer};
    use serde::Serialize;

    pub(super) struct Request<'a>(pub(super) &'a ExportTraceServiceRequest);
    struct ResourceSpansJson<'a>(&'a ResourceSpans);
    struct ScopeSpansJson<'a>(&'a ScopeSpans);
    struct SpanJson<'a>(&'a Span);
    struct Attributes<'a>(&'a [KeyValue]);
    struct Any<'a>(&'a AnyValue);

    /// Serialises a slice through a per-item view.
    fn seq<'a, S: Serializer, T, V: Serialize>(
        s: S,
        items: &'a [T],
        view: impl Fn(&'a T) -> V,
    ) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_seq(Some(items.len()))?;
        for item in items {
            out.serialize_element(&view(item))?;
        }
        out.end()
    }

    struct Seq<'a, T, V>(&'a [T], fn(&'a T) -> V);
    impl<'a, T, V: Serialize> Serialize for Seq<'a, T, V> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            seq(s, self.0, self.1)
        }
    }

    impl Serialize for Request<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry(
                "resourceSpans",
                &Seq(&self.0.resource_spans, ResourceSpansJson),
            )?;
            m.end()
        }
    }

    impl Serialize for ResourceSpansJson<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            if let Some(r) = &self.0.resource {
                struct Resource<'a>(&'a [KeyValue]);
                impl Serialize for Resource<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_entry("attributes", &Attributes(self.0))?;
                        m.end()
                    }
                }
                m.serialize_entry("resource", &Resource(&r.attributes))?;
            }
            m.serialize_entry("scopeSpans", &Seq(&self.0.scope_spans, ScopeSpansJson))?;
            m.end()
        }
    }

    impl Serialize for ScopeSpansJson<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            if let Some(scope) = &self.0.scope {
                #[derive(Serialize)]
                struct Scope<'a> {
                    name: &'a str,
                    version: &'a str,
                }
                m.serialize_entry(
                    "scope",
                    &Scope {
                        name: &scope.name,
                        version: &scope.version,
                    },
                )?;
            }
            m.serialize_entry("spans", &Seq(&self.0.spans, SpanJson))?;
            m.end()
        }
    }

    impl Serialize for SpanJson<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let span = self.0;
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("traceId", &const_hex::encode(&span.trace_id))?;
            m.serialize_entry("spanId", &const_hex::encode(&span.span_id))?;
            if !span.parent_span_id.is_empty() {
                m.serialize_entry("parentSpanId", &const_hex::encode(&span.parent_span_id))?;
            }
            m.serialize_entry("name", &span.name)?;
            m.serialize_entry("kind", &span.kind)?;
            m.serialize_entry("startTimeUnixNano", &span.start_time_unix_nano.to_string())?;
            m.serialize_entry("endTimeUnixNano", &span.end_time_unix_nano.to_string())?;
            m.serialize_entry("attributes", &Attributes(&span.attributes))?;
            if !span.events.is_empty() {
                struct Event<'a>(&'a opentelemetry_proto::tonic::trace::v1::span::Event);
                impl Serialize for Event<'_> {
                    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                        let mut m = s.serialize_map(Some(3))?;
                        m.serialize_entry("timeUnixNano", &self.0.time_unix_nano.to_string())?;
                        m.serialize_entry("name", &self.0.name)?;
                        m.serialize_entry("attributes", &Attributes(&self.0.attributes))?;
                        m.end()
                    }
                }
                m.serialize_entry("events", &Seq(&span.events, Event))?;
            }
            if let Some(status) = &span.status {
                #[derive(Serialize)]
                struct Status<'a> {
                    #[serde(skip_serializing_if = "str::is_empty")]
                    message: &'a str,
                    code: i32,
                }
                m.serialize_entry(
                    "status",
                    &Status {
                        message: &status.message,
                        code: status.code,
                    },
                )?;
            }
            m.end()
        }
    }

    impl Serialize for Attributes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            struct Kv<'a>(&'a KeyValue);
            impl Serialize for Kv<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(Some(2))?;
                    m.serialize_entry("key", &self.0.key)?;
                    match &self.0.value {
                        Some(v) => m.serialize_entry("value", &Any(v))?,
                        None => m.serialize_entry("value", &serde_json::Map::new())?,
                    }
                    m.end()
                }
            }
            seq(s, self.0, Kv)
        }
    }

    impl Serialize for Any<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            struct Values<'a>(&'a [AnyValue]);
            impl Serialize for Values<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(Some(1))?;
                    m.serialize_entry("values", &Seq(self.0, Any))?;
                    m.end()
                }
            }
            struct KvValues<'a>(&'a [KeyValue]);
            impl Serialize for KvValues<'_> {
                fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                    let mut m = s.serialize_map(Some(1))?;
                    m.serialize_entry("values", &Attributes(self.0))?;
                    m.end()
                }
            }
            let mut m = s.serialize_map(Some(1))?;
            match &self.0.value {
                None => {}
                Some(any_value::Value::StringValue(v)) => m.serialize_entry("stringValue", v)?,
                Some(any_value::Value::BoolValue(v)) => m.serialize_entry("boolValue", v)?,
                Some(any_value::Value::IntValue(v)) => {
                    m.serialize_entry("intValue", &v.to_string())?
                }
                Some(any_value::Value::DoubleValue(v)) if v.is_finite() => {
                    m.serialize_entry("doubleValue", v)?
                }
                // JSON has no NaN or infinity; the spec spells them as strings.
                Some(any_value::Value::DoubleValue(v)) => {
                    let text = if v.is_nan() {
                        "NaN"
                    } else if *v > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    };
                    m.serialize_entry("doubleValue", text)?
                }
                Some(any_value::Value::ArrayValue(a)) => {
                    m.serialize_entry("arrayValue", &Values(&a.values))?
                }
                Some(any_value::Value::KvlistValue(kv)) => {
                    m.serialize_entry("kvlistValue", &KvValues(&kv.values))?
                }
                Some(any_value::Value::BytesValue(b)) => m.serialize_entry(
                    "bytesValue",
                    &base64::engine::general_purpose::STANDARD.encode(b),
                )?,
                Some(any_value::Value::StringValueStrindex(i)) => {
                    m.serialize_entry("intValue", &i.to_string())?
                }
            }
            m.end()
        }
    }
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(attrs::json_to_any(&value)),
        key_strindex: 0,
    }
}

/// FNV-1a, 64-bit: a stable hash (unlike `std`'s `DefaultHasher`, which may
/// change between Rust releases) for deriving OTLP ids from non-hex ids.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash ^= 0xff;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        for b in part.bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash.max(1)
}

/// An 8-byte span id: the value itself when it is 16 hex digits, else a hash.
fn span_id_bytes(session: &str, id: &str) -> Vec<u8> {
    if id.len() == 16 {
        if let Ok(bytes) = const_hex::decode(id) {
            if bytes.iter().any(|b| *b != 0) {
                return bytes;
            }
        }
    }
    fnv1a(&[session, id]).to_be_bytes().to_vec()
}

/// A 16-byte trace id: the event's trace id when it is 32 hex digits, else a
/// hash of the session id.
fn trace_id_bytes(e: &Event) -> Vec<u8> {
    if let Some(t) = e.trace_id.as_deref() {
        if t.len() == 32 {
            if let Ok(bytes) = const_hex::decode(t) {
                if bytes.iter().any(|b| *b != 0) {
                    return bytes;
                }
            }
        }
    }
    let mut bytes = fnv1a(&["trace", &e.session_id]).to_be_bytes().to_vec();
    bytes.extend_from_slice(&fnv1a(&["trace-low", &e.session_id]).to_be_bytes());
    bytes
}

fn span_name(e: &Event, start: Option<&Event>) -> String {
    let get = |key: &str| {
        e.str(key)
            .or_else(|| start.and_then(|s| s.str(key)))
            .map(str::to_owned)
    };
    match operation(&e.kind) {
        Some("chat") => match get(keys::MODEL) {
            Some(m) => format!("chat {m}"),
            None => "chat".to_owned(),
        },
        Some("execute_tool") => match get(keys::TOOL) {
            Some(t) => format!("execute_tool {t}"),
            None => "execute_tool".to_owned(),
        },
        Some("invoke_agent") => match get(keys::AGENT_NAME).or_else(|| {
            e.agent
                .as_ref()
                .and_then(|a| a.name.clone().or_else(|| Some(a.id.clone())))
        }) {
            Some(n) => format!("invoke_agent {n}"),
            None => "invoke_agent".to_owned(),
        },
        _ => get(keys::NAME)
            .or_else(|| match e.kind {
                EventKind::NodeStart | EventKind::NodeEnd => {
                    get(keys::NODE_ID).map(|n| format!("node {n}"))
                }
                EventKind::WorkflowStart | EventKind::WorkflowEnd => {
                    get(keys::WORKFLOW).map(|w| format!("workflow {w}"))
                }
                _ => None,
            })
            .unwrap_or_else(|| match (start, e.iteration, e.turn) {
                // A pair is named for what it spans: `iteration 3`, `compaction`.
                (Some(s), Some(n), _) if s.kind == EventKind::IterationStart => {
                    format!("iteration {n}")
                }
                (Some(s), _, Some(n)) if s.kind == EventKind::TurnStart => format!("turn {n}"),
                (Some(s), _, _) => {
                    let kind = s.kind.as_str();
                    kind.strip_suffix("_start").unwrap_or(kind).to_owned()
                }
                (None, _, _) => e.kind.as_str().to_owned(),
            }),
    }
}

/// The GenAI operation a kind corresponds to, if any.
fn operation(kind: &EventKind) -> Option<&'static str> {
    match kind {
        EventKind::LlmRequest | EventKind::LlmResponse | EventKind::LlmError => Some("chat"),
        EventKind::ToolStart | EventKind::ToolEnd | EventKind::ToolError => Some("execute_tool"),
        EventKind::SubagentSpawn
        | EventKind::SubagentComplete
        | EventKind::SubagentError
        | EventKind::SubagentTimeout
        | EventKind::SessionStart
        | EventKind::SessionEnd => Some("invoke_agent"),
        _ => None,
    }
}

fn span_for(start: Option<&Event>, e: &Event, ids: SpanIds) -> Span {
    let session = e.session_id.as_str();
    let role = match start {
        Some(_) => "pair",
        None if e.kind.is_span_end() => "end",
        None if e.kind.is_span_start() => "start",
        None => "point",
    };
    let ns = |t: Timestamp| t.as_epoch_nanos();
    let (start_ns, end_ns) = match (start, role) {
        (Some(s), _) => (ns(s.timestamp), ns(e.timestamp)),
        (None, "end") => {
            let end = ns(e.timestamp);
            let span = e
                .duration_ms
                .filter(|d| d.is_finite() && *d > 0.0)
                .map_or(0, |d| (d * 1e6) as u64); // `as` saturates
            (end.saturating_sub(span), end)
        }
        (None, "start") => (ns(e.timestamp), 0),
        _ => (ns(e.timestamp), ns(e.timestamp)),
    };

    let mut a: Vec<KeyValue> = Vec::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            a.push(kv(key, value));
        }
    };
    // Semantic attributes first.
    put("gen_ai.conversation.id", session.into());
    put("session.id", session.into());
    let pick = |key: &str| {
        e.data
            .get(key)
            .or_else(|| start.and_then(|s| s.data.get(key)))
            .cloned()
            .unwrap_or(Value::Null)
    };
    if let Some(op) = operation(&e.kind) {
        put("gen_ai.operation.name", op.into());
        match op {
            "chat" => {
                let request_model = start
                    .and_then(|s| s.data.get(keys::MODEL).cloned())
                    .unwrap_or_else(|| pick(keys::MODEL));
                put("gen_ai.request.model", request_model);
                if start.is_some() || e.kind != EventKind::LlmRequest {
                    put(
                        "gen_ai.response.model",
                        e.data.get(keys::MODEL).cloned().unwrap_or(Value::Null),
                    );
                }
                put("gen_ai.provider.name", pick(keys::PROVIDER));
                let u = e.usage();
                let count = |v: Option<u64>| v.map_or(Value::Null, Value::from);
                put("gen_ai.usage.input_tokens", count(u.input_tokens));
                put("gen_ai.usage.output_tokens", count(u.output_tokens));
                put(
                    "gen_ai.usage.cache_read.input_tokens",
                    count(u.cache_read_tokens),
                );
                put(
                    "gen_ai.usage.cache_creation.input_tokens",
                    count(u.cache_write_tokens),
                );
                put(
                    "gen_ai.usage.reasoning.output_tokens",
                    count(u.reasoning_tokens),
                );
                if let Some(reason) = e.str(keys::STOP_REASON) {
                    put("gen_ai.response.finish_reasons", json!([reason]));
                }
                put(
                    "llm.cost.total",
                    e.data.get(keys::COST_USD).cloned().unwrap_or(Value::Null),
                );
            }
            "execute_tool" => {
                put("gen_ai.tool.name", pick(keys::TOOL));
                put("gen_ai.tool.call.id", pick(keys::CALL_ID));
                // What other tools show of a call (Jaeger, Langfuse, Phoenix
                // read these; `loupe.data` below is for Loupe's read-back).
                // Both are text in the conventions: JSON for structured values.
                let as_text = |v: Value| match v {
                    Value::Null => Value::Null,
                    Value::String(s) => Value::String(s),
                    other => Value::String(other.to_string()),
                };
                put("gen_ai.tool.call.arguments", as_text(pick(keys::ARGS)));
                put(
                    "gen_ai.tool.call.result",
                    as_text(e.data.get(keys::RESULT).cloned().unwrap_or(Value::Null)),
                );
            }
            _ => {
                let agent = e
                    .agent
                    .as_ref()
                    .or_else(|| start.and_then(|s| s.agent.as_ref()));
                put(
                    "gen_ai.agent.id",
                    agent.map_or(Value::Null, |a| a.id.clone().into()),
                );
                let name = agent
                    .and_then(|a| a.name.clone())
                    .map(Value::from)
                    .unwrap_or_else(|| pick(keys::AGENT_NAME));
                put("gen_ai.agent.name", name);
            }
        }
    }
    // Loupe-only fields, for an exact read-back.
    put(names::ROLE, role.into());
    put(names::SESSION_ID, session.into());
    put(
        names::TRACE_ID,
        e.trace_id.clone().map_or(Value::Null, Value::from),
    );
    put(
        names::SPAN_ID,
        e.span_id.clone().map_or(Value::Null, Value::from),
    );
    put(
        names::PARENT_EVENT_ID,
        e.parent_event_id.clone().map_or(Value::Null, Value::from),
    );
    // A start whose parent is not its end's (an end pointing at its own
    // start): `false` stands for no parent.
    if let Some(s) = start.filter(|s| s.parent_event_id != e.parent_event_id) {
        put(
            names::START_PARENT_EVENT_ID,
            s.parent_event_id
                .clone()
                .map_or(Value::Bool(false), Value::from),
        );
    }
    for (prefix, ev) in [("", Some(e)), (names::START_PREFIX, start)] {
        let Some(ev) = ev else { continue };
        let name = |field: &str| format!("{}{prefix}{field}", names::PREFIX);
        a.push(kv(&name("kind"), ev.kind.as_str().into()));
        a.push(kv(&name("event_id"), ev.event_id.clone().into()));
        if let Some(i) = ev.iteration {
            a.push(kv(&name("iteration"), i.into()));
        }
        if let Some(t) = ev.turn {
            a.push(kv(&name("turn"), t.into()));
        }
        if let Some(d) = ev.duration_ms {
            a.push(kv(&name("duration_ms"), json_f64(d)));
        }
        if let Some(agent) = &ev.agent {
            if let Ok(text) = serde_json::to_string(agent) {
                a.push(kv(&name("agent"), text.into()));
            }
        }
        if !ev.data.is_empty() {
            if let Ok(text) = serde_json::to_string(&ev.data) {
                a.push(kv(&name("data"), text.into()));
            }
        }
    }

    let failed =
        e.kind.is_error() || matches!(e.status(), Some("error" | "failed" | "failure" | "timeout"));
    let status = failed.then(|| Status {
        message: e.error_message().unwrap_or_default(),
        code: StatusCode::Error as i32,
    });
    let kind = if operation(&e.kind) == Some("chat") {
        SpanKind::Client
    } else {
        SpanKind::Internal
    };

    Span {
        trace_id: ids.trace,
        span_id: ids.span,
        trace_state: String::new(),
        parent_span_id: ids.parent,
        flags: 0,
        name: span_name(e, start),
        kind: kind as i32,
        start_time_unix_nano: start_ns,
        end_time_unix_nano: end_ns,
        attributes: a,
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status,
    }
}

fn json_f64(d: f64) -> Value {
    serde_json::Number::from_f64(d).map_or(Value::Null, Value::Number)
}

/// Rebuilds the events of a span written by [`events_to_request`] from its
/// `loupe.*` attributes.
pub(crate) fn events_from_loupe_span(
    span: &Span,
    a: &Attributes,
    fallback_session: &str,
) -> Vec<Event> {
    let text = |key: &str| match a.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let session = text(names::SESSION_ID).unwrap_or_else(|| fallback_session.to_owned());
    let role = text(names::ROLE).unwrap_or_else(|| "point".to_owned());
    let start_ts = Timestamp::from_epoch_nanos(span.start_time_unix_nano);
    let end_ts = Timestamp::from_epoch_nanos(span.end_time_unix_nano);
    let build = |prefix: &str, ts: Timestamp| -> Event {
        let name = |field: &str| format!("{}{prefix}{field}", names::PREFIX);
        let kind = EventKind::from_name(&text(&name("kind")).unwrap_or_default());
        let event_id = text(&name("event_id")).unwrap_or_else(|| {
            format!(
                "{}:{}",
                const_hex::encode(&span.span_id),
                if prefix.is_empty() { "end" } else { "start" }
            )
        });
        let mut e = Event::new(event_id, kind, ts, session.clone());
        e.trace_id = text(names::TRACE_ID);
        e.span_id = text(names::SPAN_ID);
        e.parent_event_id = match a.get(names::START_PARENT_EVENT_ID) {
            Some(Value::String(p)) if !prefix.is_empty() => Some(p.clone()),
            Some(Value::Bool(false)) if !prefix.is_empty() => None,
            _ => text(names::PARENT_EVENT_ID),
        };
        e.iteration = a
            .get(&name("iteration"))
            .and_then(loupe_model::value_u64)
            .and_then(|v| u32::try_from(v).ok());
        e.turn = a
            .get(&name("turn"))
            .and_then(loupe_model::value_u64)
            .and_then(|v| u32::try_from(v).ok());
        e.duration_ms = a.get(&name("duration_ms")).and_then(Value::as_f64);
        e.agent = text(&name("agent")).and_then(|t| serde_json::from_str::<Box<AgentRef>>(&t).ok());
        if let Some(Ok(Value::Object(data))) =
            text(&name("data")).map(|t| serde_json::from_str::<Value>(&t))
        {
            e.data = data;
        }
        e
    };
    match role.as_str() {
        "pair" => vec![build(names::START_PREFIX, start_ts), build("", end_ts)],
        "start" => vec![build("", start_ts)],
        "end" => vec![build("", end_ts)],
        _ => vec![build("", start_ts)],
    }
}
