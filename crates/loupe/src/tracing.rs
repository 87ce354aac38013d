//! A `tracing` [`Layer`] that records spans and events into a Loupe session
//! (cargo feature `tracing`).
//!
//! Installing the layer takes `tracing-subscriber` in the agent's own
//! dependencies, with the features `registry` (the subscriber the layer
//! sits on) and `std` (`init`); its default features can stay off:
//!
//! ```toml
//! [dependencies]
//! loupe = { path = "../loupe/crates/loupe", features = ["tracing"] }
//! tracing = "0.1"
//! tracing-subscriber = { version = "0.3", default-features = false, features = ["registry", "std"] }
//! ```
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let session = loupe::Recorder::builder().task("Fix the login bug").start()?;
//! tracing_subscriber::registry()
//!     .with(loupe::tracing::layer(session.recorder()))
//!     .init();
//!
//! let call = tracing::info_span!(
//!     "chat",
//!     "gen_ai.operation.name" = "chat",
//!     "gen_ai.request.model" = "claude-sonnet-4-5",
//!     "gen_ai.usage.input_tokens" = tracing::field::Empty,
//! );
//! call.in_scope(|| { /* call the model */ });
//! call.record("gen_ai.usage.input_tokens", 1_200);
//! drop(call); // llm_request, then llm_response with the usage
//! session.end(loupe::SessionStatus::Completed);
//! # Ok::<(), loupe::RecorderError>(())
//! ```
//!
//! Spans carrying OpenTelemetry GenAI fields become typed events
//! (anchors.md, "Operations and span names"):
//! * `gen_ai.operation.name` = `chat` / `text_completion` / `generate_content`
//!   → `llm_request` on open, `llm_response` (or `llm_error` when the span has
//!   an `error` field) on close, with `gen_ai.request.model` /
//!   `gen_ai.response.model`, `gen_ai.provider.name` (or `gen_ai.system`),
//!   `gen_ai.usage.input_tokens`, `output_tokens`, `cache_read.input_tokens`,
//!   `cache_creation.input_tokens`, `reasoning.output_tokens` (OpenTelemetry
//!   semantics: input includes the cache parts), `gen_ai.response.finish_reasons`;
//! * `execute_tool` → `tool_start` / `tool_end` or `tool_error`
//!   (`gen_ai.tool.name`, `gen_ai.tool.call.id`, `gen_ai.tool.call.arguments`,
//!   `gen_ai.tool.call.result`);
//! * `invoke_agent` / `create_agent` → `subagent_spawn` / `subagent_complete`
//!   or `subagent_error` (`gen_ai.agent.id`, `gen_ai.agent.name`), and events
//!   inside carry the agent in `agent`;
//! * other spans → `span_start` / `span_end` with their fields in `data`;
//! * events → `log` with `level`, `target`, `message` and their fields.
//!
//! The layer comes with its own per-layer filter ([`Recording`]): when the
//! recorder records nothing (disabled, or the session sampled out), every
//! span and event call site is disabled for it (`Interest::never`), so they
//! cost what they cost without the layer (about a nanosecond instead of a
//! span in the registry), while the subscriber's other layers still get
//! them. Filter by level or target with [`layer_with_filter`] rather than
//! `.with_filter(...)` on top, which keeps the call sites its filter enables
//! costing a registry span even then.
//!
//! Spans and events on the recorder's own threads (its writer and HTTP
//! sender, whose HTTP client logs every request through `log`, which
//! `tracing-log` bridges here) are not recorded: recording them would make
//! each send log and send again, forever.
//!
//! `gen_ai.conversation.id` is kept as `data.conversation_id`. Parent links
//! follow the span tree.
//!
//! Values may be recorded after the span opened (`Span::record`). The start
//! event is written when the span opens, with the values known then; the end
//! event is written when it closes and carries what was recorded since:
//! * usage, response model, finish reasons, result, error and status are
//!   read at close in any case;
//! * tool arguments (`gen_ai.tool.call.arguments`) recorded late are put on
//!   `tool_end` / `tool_error` (`data.args`), as `tool_start` was already
//!   written;
//! * `gen_ai.conversation.id` recorded late is put on the end event
//!   (`data.conversation_id`);
//! * a plain span's fields recorded late (an `outcome`) are put on its
//!   `span_end`, in `data` like those of `span_start`.

use std::sync::Arc;

use loupe_model::{keys, AgentRef, EventKind, Timestamp, TokenUsage};
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::combinator::And;
use tracing_subscriber::filter::{FilterExt, Filtered, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::helpers::{put, put_opt};
use crate::recorder::{own_thread, Recorder};

/// The layer; build it with [`layer`] (which adds its [`Recording`]
/// filter).
#[derive(Debug, Clone)]
pub struct LoupeLayer {
    recorder: Recorder,
}

/// A layer recording into `recorder`'s session, with its own per-layer
/// filter ([`Recording`]): when the recorder records nothing (disabled,
/// sampled out), spans and events cost what they cost without the layer
/// (about a nanosecond at a span's call site, not a span in the registry),
/// and other layers still see them.
///
/// To filter what is recorded by level or target as well, pass the filter
/// to [`layer_with_filter`]: a filter added with `.with_filter(...)` on
/// top of this one keeps the call sites it enables costing a registry span
/// even when nothing is recorded.
pub fn layer<S>(recorder: Recorder) -> Filtered<LoupeLayer, Recording, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let recording = Recording(recorder.is_recording());
    LoupeLayer { recorder }.with_filter(recording)
}

/// [`layer`] recording only what `filter` also enables (a
/// `LevelFilter`, an `EnvFilter`, a `Targets`...).
pub fn layer_with_filter<S, F>(
    recorder: Recorder,
    filter: F,
) -> Filtered<LoupeLayer, And<Recording, F, S>, S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    F: Filter<S>,
{
    let recording = Recording(recorder.is_recording());
    LoupeLayer { recorder }.with_filter(recording.and(filter))
}

/// The layer's per-layer filter: everything while its recorder records,
/// nothing (`Interest::never`, a maximum level of `OFF`) when it records
/// nothing. Whether a recorder records is fixed when it starts (sampling is
/// decided per session, from its id), so the interest can be cached for
/// every call site. Being a per-layer filter, its "never" disables nothing
/// for the subscriber's other layers.
#[derive(Debug, Clone, Copy)]
pub struct Recording(bool);

impl<S> Filter<S> for Recording {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        self.0
    }

    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> Interest {
        if self.0 {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        (!self.0).then_some(LevelFilter::OFF)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpanKind {
    Llm,
    Tool,
    Agent,
    Plain,
}

/// Per-span state, kept in the registry's extensions.
struct LoupeSpan {
    kind: SpanKind,
    span_id: Option<String>,
    started: Timestamp,
    /// Every field's latest value.
    fields: Map<String, Value>,
    /// The fields recorded after the span opened (`Span::record`): the start
    /// event was written without them, so the end event carries them.
    late: Map<String, Value>,
    /// Handle for events inside this span (parent and agent set).
    inner: Recorder,
    /// Handle the span's own start/end events are recorded with.
    outer: Recorder,
}

struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .insert(field.name().to_owned(), value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

fn field_str<'a>(fields: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|n| fields.get(*n).and_then(Value::as_str))
}

fn field_u64(fields: &Map<String, Value>, names: &[&str]) -> Option<u64> {
    names
        .iter()
        .find_map(|n| fields.get(*n).and_then(loupe_model::value_u64))
}

/// A string field that holds JSON (arguments, results) is kept as JSON.
fn field_json(fields: &Map<String, Value>, name: &str) -> Option<Value> {
    let v = fields.get(name)?;
    match v {
        Value::String(s) => Some(serde_json::from_str(s).unwrap_or_else(|_| v.clone())),
        other => Some(other.clone()),
    }
}

fn usage_of(f: &Map<String, Value>) -> TokenUsage {
    TokenUsage {
        input_tokens: field_u64(
            f,
            &["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"],
        ),
        output_tokens: field_u64(
            f,
            &[
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.completion_tokens",
            ],
        ),
        cache_read_tokens: field_u64(
            f,
            &[
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_read_input_tokens",
            ],
        ),
        cache_write_tokens: field_u64(
            f,
            &[
                "gen_ai.usage.cache_creation.input_tokens",
                "gen_ai.usage.cache_creation_input_tokens",
            ],
        ),
        reasoning_tokens: field_u64(
            f,
            &[
                "gen_ai.usage.reasoning.output_tokens",
                "gen_ai.usage.reasoning_tokens",
            ],
        ),
        total_tokens: None,
    }
    .with_unsplit_total(field_u64(
        f,
        &["gen_ai.usage.total_tokens", "llm.usage.total_tokens"],
    ))
}

const TOOL_ARGS: &str = "gen_ai.tool.call.arguments";
const CONVERSATION_ID: &str = "gen_ai.conversation.id";

const ERROR_FIELDS: &[&str] = &["error", "error.message", "exception.message"];

fn error_of(f: &Map<String, Value>) -> Option<String> {
    if let Some(e) = field_str(f, ERROR_FIELDS) {
        return Some(e.to_owned());
    }
    let status = field_str(f, &["otel.status_code"])?;
    status.eq_ignore_ascii_case("error").then(|| {
        field_str(f, &["otel.status_description"])
            .unwrap_or("error")
            .to_owned()
    })
}

/// Fields not consumed by the typed mapping, copied into plain spans and logs.
fn copy_fields(ev: &mut loupe_model::Event, fields: &Map<String, Value>) {
    for (k, v) in fields {
        if k == CONVERSATION_ID {
            ev.data.insert("conversation_id".into(), v.clone());
        } else if k != "message" {
            ev.data.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

impl<S> Layer<S> for LoupeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.recorder.is_recording() || own_thread::is() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Map::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        let outer = span
            .parent()
            .and_then(|p| p.extensions().get::<LoupeSpan>().map(|s| s.inner.clone()))
            .unwrap_or_else(|| self.recorder.clone());
        let kind = match field_str(&fields, &["gen_ai.operation.name"]) {
            Some("chat" | "text_completion" | "generate_content" | "completion") => SpanKind::Llm,
            Some("execute_tool") => SpanKind::Tool,
            Some("invoke_agent" | "create_agent") => SpanKind::Agent,
            _ => SpanKind::Plain,
        };
        let start_kind = match kind {
            SpanKind::Llm => EventKind::LlmRequest,
            SpanKind::Tool => EventKind::ToolStart,
            SpanKind::Agent => EventKind::SubagentSpawn,
            SpanKind::Plain => EventKind::SpanStart,
        };
        let Some(mut ev) = outer.event(start_kind) else {
            return;
        };
        let started = ev.timestamp;
        ev.span_id = Some(ev.event_id.clone());
        match kind {
            SpanKind::Llm => {
                put_opt(
                    &mut ev,
                    keys::MODEL,
                    field_str(&fields, &["gen_ai.request.model"]),
                );
                put_opt(
                    &mut ev,
                    keys::PROVIDER,
                    field_str(&fields, &["gen_ai.provider.name", "gen_ai.system"]),
                );
            }
            SpanKind::Tool => {
                put_opt(
                    &mut ev,
                    keys::TOOL,
                    field_str(&fields, &["gen_ai.tool.name"]),
                );
                put_opt(
                    &mut ev,
                    keys::CALL_ID,
                    field_str(&fields, &["gen_ai.tool.call.id"]),
                );
                outer.fill_tool_args(&mut ev, field_json(&fields, TOOL_ARGS).as_ref());
            }
            SpanKind::Agent => {
                put_opt(&mut ev, keys::AGENT_ID, agent_id(&fields));
                put_opt(
                    &mut ev,
                    keys::NAME,
                    field_str(&fields, &["gen_ai.agent.name"]),
                );
            }
            SpanKind::Plain => {
                put(&mut ev, keys::NAME, span.name());
                copy_fields(&mut ev, &fields);
            }
        }
        if let Some(conv) = field_str(&fields, &[CONVERSATION_ID]) {
            put(&mut ev, "conversation_id", conv);
        }
        let span_id = ev.event_id.clone();
        outer.emit(ev);
        let mut inner = outer.child(&span_id);
        if kind == SpanKind::Agent {
            inner.scope.agent = Some(Arc::new(AgentRef {
                id: agent_id(&fields).unwrap_or("agent").to_owned(),
                name: field_str(&fields, &["gen_ai.agent.name"]).map(str::to_owned),
                agent_type: None,
                parent_session_id: outer.session_id().map(str::to_owned),
                spawned_at_iteration: outer.scope.iteration,
            }));
        }
        span.extensions_mut().insert(LoupeSpan {
            kind,
            span_id: Some(span_id),
            started,
            fields,
            late: Map::new(),
            inner,
            outer,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(state) = span.extensions_mut().get_mut::<LoupeSpan>() {
                let mut recorded = Map::new();
                values.record(&mut FieldVisitor(&mut recorded));
                for (name, value) in recorded {
                    state.fields.insert(name.clone(), value.clone());
                    state.late.insert(name, value);
                }
            }
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if !self.recorder.is_recording() || own_thread::is() {
            return;
        }
        let rec = ctx
            .event_span(event)
            .and_then(|s| s.extensions().get::<LoupeSpan>().map(|st| st.inner.clone()))
            .unwrap_or_else(|| self.recorder.clone());
        let mut fields = Map::new();
        event.record(&mut FieldVisitor(&mut fields));
        let meta = event.metadata();
        rec.emit_with(EventKind::Log, |ev| {
            put(ev, "level", meta.level().as_str());
            put(ev, "target", meta.target());
            put_opt(ev, keys::MESSAGE, fields.get("message").cloned());
            copy_fields(ev, &fields);
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(state) = span.extensions_mut().remove::<LoupeSpan>() else {
            return;
        };
        let f = &state.fields;
        let error = error_of(f);
        let end_kind = match (state.kind, &error) {
            (SpanKind::Llm, None) => EventKind::LlmResponse,
            (SpanKind::Llm, Some(_)) => EventKind::LlmError,
            (SpanKind::Tool, None) => EventKind::ToolEnd,
            (SpanKind::Tool, Some(_)) => EventKind::ToolError,
            (SpanKind::Agent, None) => EventKind::SubagentComplete,
            (SpanKind::Agent, Some(_)) => EventKind::SubagentError,
            (SpanKind::Plain, _) => EventKind::SpanEnd,
        };
        let outer = &state.outer;
        let Some(mut ev) = outer.event(end_kind) else {
            return;
        };
        ev.span_id.clone_from(&state.span_id);
        ev.duration_ms = Some(ev.timestamp.millis_since(state.started).max(0.0));
        match state.kind {
            SpanKind::Llm => {
                let usage = usage_of(f);
                let finish = f.get("gen_ai.response.finish_reasons").map(|v| match v {
                    Value::String(s) => s.trim_matches(|c| "[]\"' ".contains(c)).to_owned(),
                    other => other.to_string(),
                });
                let resp = crate::LlmResponse {
                    model: field_str(f, &["gen_ai.response.model", "gen_ai.request.model"]),
                    provider: field_str(f, &["gen_ai.provider.name", "gen_ai.system"]),
                    usage,
                    stop_reason: finish.as_deref(),
                    cost_usd: f.get("gen_ai.usage.cost").and_then(Value::as_f64),
                    ..Default::default()
                };
                if error.is_none() {
                    outer.fill_llm_response(&mut ev, &resp);
                } else {
                    put_opt(&mut ev, keys::MODEL, resp.model);
                }
            }
            SpanKind::Tool => {
                put_opt(&mut ev, keys::TOOL, field_str(f, &["gen_ai.tool.name"]));
                put_opt(
                    &mut ev,
                    keys::CALL_ID,
                    field_str(f, &["gen_ai.tool.call.id"]),
                );
                outer.fill_tool_result(&mut ev, field_json(f, "gen_ai.tool.call.result").as_ref());
                // Arguments belong on `tool_start`, which was written before
                // they were recorded.
                if state.late.contains_key(TOOL_ARGS) {
                    outer.fill_tool_args(&mut ev, field_json(f, TOOL_ARGS).as_ref());
                }
            }
            SpanKind::Agent => {
                put_opt(&mut ev, keys::AGENT_ID, agent_id(f));
            }
            SpanKind::Plain => {
                put(&mut ev, keys::NAME, span.name());
                copy_fields(&mut ev, &state.late);
            }
        }
        if let Some(conv) = field_str(&state.late, &[CONVERSATION_ID]) {
            put(&mut ev, "conversation_id", conv);
        }
        match error {
            Some(e) => {
                put(&mut ev, keys::STATUS, "error");
                put(&mut ev, keys::ERROR, e);
            }
            None => put(&mut ev, keys::STATUS, "success"),
        }
        outer.emit(ev);
    }
}

fn agent_id(f: &Map<String, Value>) -> Option<&str> {
    field_str(f, &["gen_ai.agent.id", "gen_ai.agent.name"])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tracing_subscriber::prelude::*;

    #[test]
    fn events_on_the_recorders_own_threads_are_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let session = Recorder::builder()
            .dir(dir.path())
            .session_id("own")
            .start()
            .unwrap();
        let path = session.path().unwrap().to_owned();
        let subscriber = tracing_subscriber::registry().with(layer(session.recorder()));
        let dispatch = tracing::Dispatch::new(subscriber);
        let on = |own: bool, message: &'static str| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                if own {
                    own_thread::mark();
                }
                tracing::dispatcher::with_default(&dispatch, || {
                    let _span = tracing::info_span!("sending").entered();
                    tracing::info!(target: "ureq::unit", "{message}");
                });
            })
            .join()
            .unwrap();
        };
        on(
            true,
            "sending request POST http://127.0.0.1:4318/api/v1/events",
        );
        on(false, "the agent's own log line");
        drop(session);
        let text = std::fs::read_to_string(path).unwrap();
        assert!(!text.contains("sending request"), "{text}");
        assert!(text.contains("the agent's own log line"), "{text}");
        assert_eq!(text.matches("\"span_start\"").count(), 1, "{text}");
    }
}
