//! A tiny trace builder for unit tests: one line per event, time advancing by
//! one second per event unless told otherwise.

#![allow(clippy::unwrap_used)]

use loupe_model::{keys, AgentRef, Event, EventKind, SourceFormat, Timestamp, TokenUsage};
use serde_json::Value;

use crate::{Session, SessionSource};

/// Builds a session event by event.
pub(crate) struct Trace {
    events: Vec<Event>,
    now: i64,
    iteration: Option<u32>,
    agent: Option<AgentRef>,
}

impl Trace {
    /// A trace that starts with `session_start` (model `claude-sonnet-4-5`).
    pub(crate) fn new() -> Self {
        let mut t = Trace {
            events: Vec::new(),
            now: 1_772_280_000_000_000,
            iteration: None,
            agent: None,
        };
        t.push(
            EventKind::SessionStart,
            &[(keys::MODEL, "claude-sonnet-4-5".into())],
        );
        t
    }

    /// Following events are produced by subagent `id` (None = main agent).
    pub(crate) fn as_agent(&mut self, id: Option<&str>) -> &mut Self {
        self.agent = id.map(|id| AgentRef {
            id: id.to_owned(),
            agent_type: Some("researcher".to_owned()),
            ..Default::default()
        });
        self
    }

    /// Appends an event of `kind` with payload `data` and returns it for tweaking.
    pub(crate) fn push(&mut self, kind: EventKind, data: &[(&str, Value)]) -> &mut Event {
        self.now += 1_000_000;
        let id = format!("e{}", self.events.len() + 1);
        let mut e = Event::new(id, kind, Timestamp(self.now), "s1");
        for (k, v) in data {
            e.data.insert((*k).to_owned(), v.clone());
        }
        if !matches!(e.kind, EventKind::SessionStart | EventKind::SessionEnd) {
            e.iteration = self.iteration;
        }
        e.agent = self.agent.clone().map(Box::new);
        self.events.push(e);
        self.events.last_mut().unwrap()
    }

    /// `iteration_start` for iteration `n`; following events carry `n`.
    pub(crate) fn iter(&mut self, n: u32) -> &mut Self {
        self.iteration = Some(n);
        self.push(EventKind::IterationStart, &[]);
        self
    }

    /// Following events carry no iteration number (and no marker is written).
    pub(crate) fn no_iter(&mut self) -> &mut Self {
        self.iteration = None;
        self
    }

    /// An LLM request + response with OTel counts (input includes the cache parts).
    pub(crate) fn llm(
        &mut self,
        input: u64,
        output: u64,
        cache_read: u64,
        cache_write: u64,
    ) -> &mut Self {
        self.llm_model("claude-sonnet-4-5", input, output, cache_read, cache_write)
    }

    /// [`Trace::llm`] with a model.
    pub(crate) fn llm_model(
        &mut self,
        model: &str,
        input: u64,
        output: u64,
        cache_read: u64,
        cache_write: u64,
    ) -> &mut Self {
        self.push(EventKind::LlmRequest, &[(keys::MODEL, model.into())]);
        let e = self.push(EventKind::LlmResponse, &[(keys::MODEL, model.into())]);
        e.set_usage(&TokenUsage::otel(input, output).with_cache(cache_read, cache_write));
        e.duration_ms = Some(1000.0);
        self
    }

    /// A successful tool call.
    pub(crate) fn tool(&mut self, name: &str, args: Value, duration_ms: f64) -> &mut Self {
        let e = self.push(
            EventKind::ToolEnd,
            &[(keys::TOOL, name.into()), (keys::ARGS, args)],
        );
        e.duration_ms = Some(duration_ms);
        self
    }

    /// A failed tool call.
    pub(crate) fn tool_err(&mut self, name: &str, args: Value, error: &str) -> &mut Self {
        let e = self.push(
            EventKind::ToolError,
            &[
                (keys::TOOL, name.into()),
                (keys::ARGS, args),
                (keys::ERROR, error.into()),
            ],
        );
        e.duration_ms = Some(100.0);
        self
    }

    /// A tool call that ended with `status` (e.g. `timeout`).
    pub(crate) fn tool_status(&mut self, name: &str, status: &str, duration_ms: f64) -> &mut Self {
        let e = self.push(
            EventKind::ToolError,
            &[(keys::TOOL, name.into()), (keys::STATUS, status.into())],
        );
        e.duration_ms = Some(duration_ms);
        self
    }

    /// `session_end` with a status.
    pub(crate) fn end(&mut self, status: &str) -> &mut Self {
        self.push(EventKind::SessionEnd, &[(keys::STATUS, status.into())]);
        self
    }

    /// The events so far.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.events.clone()
    }

    /// The session (assembled, so iterations are inferred when needed).
    pub(crate) fn session(&self) -> Session {
        let mut all = crate::session::assemble(self.events.clone(), source());
        assert_eq!(all.len(), 1, "test trace must hold exactly one session");
        all.pop().unwrap()
    }
}

/// A dummy source.
pub(crate) fn source() -> SessionSource {
    SessionSource {
        path: "test.jsonl".to_owned(),
        format: SourceFormat::Loupe,
    }
}
