//! RAII guards: session → iteration/turn → spans (LLM call, tool call,
//! subagent, workflow, workflow node, generic span).
//!
//! A guard records its start event when created and its end event when
//! finished or dropped; the end carries the same `span_id`, the duration and a
//! `status`. Events recorded through a guard (it dereferences to a
//! [`Recorder`]) get the guard's span as `parent_event_id`. A guard dropped
//! without being finished records a failure: `panicked` during a panic,
//! `abandoned` otherwise — the work did not report success.

use std::fmt::Display;
use std::ops::Deref;
use std::sync::Arc;

use loupe_model::{keys, AgentRef, Event, EventKind, Timestamp};
use serde_json::Value;

use crate::helpers::{put, put_opt, LlmRequest, LlmResponse};
use crate::recorder::Recorder;

/// Why an unfinished guard was dropped (with the panic's message and place
/// when the panic hook saw it).
fn drop_reason() -> String {
    if std::thread::panicking() {
        crate::exit::panic_reason()
    } else {
        "abandoned".to_owned()
    }
}

/// The part every guard shares: where its start event hangs (`outer`), the
/// handle for events inside it (`inner`), its span id and start time.
struct SpanCore {
    outer: Recorder,
    inner: Recorder,
    span_id: Option<String>,
    started: Timestamp,
    done: bool,
}

impl SpanCore {
    fn open(outer: Recorder, kind: EventKind, fill: impl FnOnce(&mut Event)) -> SpanCore {
        let Some(mut ev) = outer.event(kind) else {
            return SpanCore {
                inner: outer.clone(),
                outer,
                span_id: None,
                started: Timestamp(0),
                done: true,
            };
        };
        fill(&mut ev);
        let span_id = ev.event_id.clone();
        ev.span_id = Some(span_id.clone());
        let started = ev.timestamp;
        outer.emit(ev);
        SpanCore {
            inner: outer.child(&span_id),
            outer,
            span_id: Some(span_id),
            started,
            done: false,
        }
    }

    /// Records the end event once; later calls do nothing.
    fn close(&mut self, kind: EventKind, fill: impl FnOnce(&mut Event)) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(mut ev) = self.outer.event(kind) {
            ev.span_id.clone_from(&self.span_id);
            ev.duration_ms = Some(ev.timestamp.millis_since(self.started).max(0.0));
            fill(&mut ev);
            self.outer.emit(ev);
        }
    }
}

macro_rules! guard_derefs {
    ($($guard:ident),*) => {$(
        impl Deref for $guard {
            type Target = Recorder;
            fn deref(&self) -> &Recorder {
                &self.core.inner
            }
        }
        impl $guard {
            /// The span id events inside this guard point to (`None` when not recording).
            pub fn span_id(&self) -> Option<&str> {
                self.core.span_id.as_deref()
            }
        }
    )*};
}

/// An iteration (one ReAct loop step). Ends with status `success` on drop,
/// `error` when failed or dropped during a panic.
#[must_use = "the iteration ends when this guard is dropped"]
pub struct IterationGuard {
    core: SpanCore,
}

/// A conversational turn.
#[must_use = "the turn ends when this guard is dropped"]
pub struct TurnGuard {
    core: SpanCore,
}

/// An LLM call: `llm_request` now, `llm_response` or `llm_error` at the end.
#[must_use = "finish the call with .response() or .fail()"]
pub struct LlmCallGuard {
    core: SpanCore,
    model: Option<String>,
}

/// A tool call: `tool_start` now, `tool_end` or `tool_error` at the end.
#[must_use = "finish the call with .ok() or .fail()"]
pub struct ToolGuard {
    core: SpanCore,
    tool: String,
}

/// A subagent: `subagent_spawn` now; events recorded through the guard carry
/// the subagent's identity in `agent`; `subagent_complete`, `subagent_error`
/// or `subagent_timeout` at the end.
#[must_use = "finish the subagent with .complete(), .fail() or .timeout()"]
pub struct SubagentGuard {
    core: SpanCore,
    agent_id: String,
}

/// A workflow run: `workflow_start` / `workflow_end`.
#[must_use = "the workflow ends when this guard is dropped"]
pub struct WorkflowGuard {
    core: SpanCore,
}

/// A workflow node: `node_start` / `node_end` with status `completed`,
/// `failed` or `skipped`.
#[must_use = "finish the node with .complete(), .fail() or .skip()"]
pub struct NodeGuard {
    core: SpanCore,
    node_id: String,
}

/// A generic span: `span_start` / `span_end`.
#[must_use = "the span ends when this guard is dropped"]
pub struct SpanGuard {
    core: SpanCore,
    name: String,
}

guard_derefs!(
    IterationGuard,
    TurnGuard,
    LlmCallGuard,
    ToolGuard,
    SubagentGuard,
    WorkflowGuard,
    NodeGuard,
    SpanGuard
);

impl Recorder {
    /// Starts the next iteration (numbered 1, 2, ... per session).
    pub fn iteration(&self) -> IterationGuard {
        let n = self
            .core()
            .map(|c| {
                c.iteration_seq
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1
            })
            .unwrap_or(0);
        self.iteration_numbered(n)
    }

    /// Starts iteration `n` (when the agent numbers them itself).
    pub fn iteration_numbered(&self, n: u32) -> IterationGuard {
        let mut outer = self.clone();
        outer.scope.iteration = Some(n);
        IterationGuard {
            core: SpanCore::open(outer, EventKind::IterationStart, |_| {}),
        }
    }

    /// Starts the next conversational turn.
    pub fn turn(&self) -> TurnGuard {
        let n = self
            .core()
            .map(|c| {
                c.turn_seq
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    + 1
            })
            .unwrap_or(0);
        let mut outer = self.clone();
        outer.scope.turn = Some(n);
        TurnGuard {
            core: SpanCore::open(outer, EventKind::TurnStart, |_| {}),
        }
    }

    /// Starts an LLM call (records `llm_request`).
    pub fn llm_call(&self, req: &LlmRequest<'_>) -> LlmCallGuard {
        let core = SpanCore::open(self.clone(), EventKind::LlmRequest, |ev| {
            self.fill_llm_request(ev, req)
        });
        LlmCallGuard {
            core,
            model: req.model.map(str::to_owned),
        }
    }

    /// Starts a tool call (records `tool_start`).
    pub fn tool(&self, tool: &str, args: Option<&Value>) -> ToolGuard {
        self.tool_with_id(tool, None, args)
    }

    /// Starts a tool call with the provider's call id.
    pub fn tool_with_id(
        &self,
        tool: &str,
        call_id: Option<&str>,
        args: Option<&Value>,
    ) -> ToolGuard {
        let core = SpanCore::open(self.clone(), EventKind::ToolStart, |ev| {
            put(ev, keys::TOOL, tool);
            put_opt(ev, keys::CALL_ID, call_id);
            self.fill_tool_args(ev, args);
        });
        ToolGuard {
            core,
            tool: tool.to_owned(),
        }
    }

    /// Runs `f` as a tool call: `tool_end` when it returns `Ok`, `tool_error`
    /// with the error's text when it returns `Err` (or panics).
    pub fn in_tool<T, E: Display>(
        &self,
        tool: &str,
        args: Option<&Value>,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let guard = self.tool(tool, args);
        let out = f();
        match &out {
            Ok(_) => guard.ok(None),
            Err(e) => guard.fail(e),
        }
        out
    }

    /// Spawns a subagent (records `subagent_spawn`); record its work through
    /// the returned guard.
    pub fn subagent(
        &self,
        agent_id: &str,
        agent_type: Option<&str>,
        task: Option<&str>,
    ) -> SubagentGuard {
        let mut core = SpanCore::open(self.clone(), EventKind::SubagentSpawn, |ev| {
            put(ev, keys::AGENT_ID, agent_id);
            put_opt(ev, keys::AGENT_TYPE, agent_type);
            put_opt(ev, keys::TASK, task);
        });
        core.inner.scope.agent = Some(Arc::new(AgentRef {
            id: agent_id.to_owned(),
            name: None,
            agent_type: agent_type.map(str::to_owned),
            parent_session_id: self.session_id().map(str::to_owned),
            spawned_at_iteration: self.scope.iteration,
        }));
        SubagentGuard {
            core,
            agent_id: agent_id.to_owned(),
        }
    }

    /// Starts a workflow run.
    pub fn workflow(&self, name: &str) -> WorkflowGuard {
        WorkflowGuard {
            core: SpanCore::open(self.clone(), EventKind::WorkflowStart, |ev| {
                put(ev, keys::WORKFLOW, name)
            }),
        }
    }

    /// Starts a workflow node.
    pub fn workflow_node(&self, node_id: &str, node_type: Option<&str>) -> NodeGuard {
        NodeGuard {
            core: SpanCore::open(self.clone(), EventKind::NodeStart, |ev| {
                put(ev, keys::NODE_ID, node_id);
                put_opt(ev, keys::NODE_TYPE, node_type);
            }),
            node_id: node_id.to_owned(),
        }
    }

    /// Starts a generic named span.
    pub fn span(&self, name: &str) -> SpanGuard {
        SpanGuard {
            core: SpanCore::open(self.clone(), EventKind::SpanStart, |ev| {
                put(ev, keys::NAME, name)
            }),
            name: name.to_owned(),
        }
    }
}

fn status_end(core: &mut SpanCore, kind: EventKind, error: Option<String>) {
    core.close(kind, |ev| match error {
        Some(e) => {
            put(ev, keys::STATUS, "error");
            put(ev, keys::ERROR, e);
        }
        None => put(ev, keys::STATUS, "success"),
    });
}

impl IterationGuard {
    /// Ends the iteration successfully.
    pub fn end(mut self) {
        status_end(&mut self.core, EventKind::IterationEnd, None);
    }

    /// Ends the iteration with an error.
    pub fn fail(mut self, error: impl Display) {
        status_end(
            &mut self.core,
            EventKind::IterationEnd,
            Some(error.to_string()),
        );
    }

    /// This iteration's number.
    pub fn number(&self) -> Option<u32> {
        self.core.inner.scope.iteration
    }
}

impl Drop for IterationGuard {
    fn drop(&mut self) {
        let err = std::thread::panicking().then(drop_reason);
        status_end(&mut self.core, EventKind::IterationEnd, err);
    }
}

impl TurnGuard {
    /// Ends the turn successfully.
    pub fn end(mut self) {
        status_end(&mut self.core, EventKind::TurnEnd, None);
    }

    /// Ends the turn with an error.
    pub fn fail(mut self, error: impl Display) {
        status_end(&mut self.core, EventKind::TurnEnd, Some(error.to_string()));
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        let err = std::thread::panicking().then(drop_reason);
        status_end(&mut self.core, EventKind::TurnEnd, err);
    }
}

impl LlmCallGuard {
    /// Records the response; duration measured by the guard unless given.
    pub fn response(mut self, resp: &LlmResponse<'_>) {
        let outer = self.core.outer.clone();
        let model = self.model.take();
        self.core.close(EventKind::LlmResponse, |ev| {
            let measured = ev.duration_ms;
            outer.fill_llm_response(ev, resp);
            if !resp.duration_ms.is_some_and(crate::writer::plausible) {
                ev.duration_ms = measured;
            }
            if resp.model.is_none() {
                put_opt(ev, keys::MODEL, model);
            }
        });
    }

    /// Records `llm_error`.
    pub fn fail(mut self, error: impl Display) {
        self.error(error.to_string());
    }

    fn error(&mut self, error: String) {
        let model = self.model.take();
        self.core.close(EventKind::LlmError, |ev| {
            put_opt(ev, keys::MODEL, model);
            put(ev, keys::STATUS, "error");
            put(ev, keys::ERROR, error);
        });
    }
}

impl Drop for LlmCallGuard {
    fn drop(&mut self) {
        self.error(drop_reason());
    }
}

impl ToolGuard {
    /// Records `tool_end` with an optional result.
    pub fn ok(mut self, result: Option<&Value>) {
        let outer = self.core.outer.clone();
        let tool = std::mem::take(&mut self.tool);
        self.core.close(EventKind::ToolEnd, |ev| {
            put(ev, keys::TOOL, tool);
            outer.fill_tool_result(ev, result);
            put(ev, keys::STATUS, "success");
        });
    }

    /// Records `tool_end` without a result.
    pub fn finish(self) {
        self.ok(None);
    }

    /// Records `tool_error`.
    pub fn fail(mut self, error: impl Display) {
        self.error(error.to_string());
    }

    fn error(&mut self, error: String) {
        let tool = std::mem::take(&mut self.tool);
        self.core.close(EventKind::ToolError, |ev| {
            put(ev, keys::TOOL, tool);
            put(ev, keys::STATUS, "error");
            put(ev, keys::ERROR, error);
        });
    }
}

impl Drop for ToolGuard {
    fn drop(&mut self) {
        self.error(drop_reason());
    }
}

impl SubagentGuard {
    fn end(&mut self, kind: EventKind, status: &str, key: &str, text: Option<String>) {
        let id = std::mem::take(&mut self.agent_id);
        self.core.close(kind, |ev| {
            put(ev, keys::AGENT_ID, id);
            put(ev, keys::STATUS, status);
            put_opt(ev, key, text);
        });
    }

    /// Records `subagent_complete` with an optional summary of its result.
    pub fn complete(mut self, result: Option<&str>) {
        self.end(
            EventKind::SubagentComplete,
            "success",
            keys::RESULT,
            result.map(str::to_owned),
        );
    }

    /// Records `subagent_error`.
    pub fn fail(mut self, error: impl Display) {
        self.end(
            EventKind::SubagentError,
            "error",
            keys::ERROR,
            Some(error.to_string()),
        );
    }

    /// Records `subagent_timeout`.
    pub fn timeout(mut self) {
        self.end(
            EventKind::SubagentTimeout,
            "timeout",
            keys::ERROR,
            Some("timed out".into()),
        );
    }
}

impl Drop for SubagentGuard {
    fn drop(&mut self) {
        self.end(
            EventKind::SubagentError,
            "error",
            keys::ERROR,
            Some(drop_reason()),
        );
    }
}

impl WorkflowGuard {
    /// Ends the workflow with `status` (`completed`, `failed`...).
    pub fn end(mut self, status: &str) {
        self.core
            .close(EventKind::WorkflowEnd, |ev| put(ev, keys::STATUS, status));
    }
}

impl Drop for WorkflowGuard {
    fn drop(&mut self) {
        let status = if std::thread::panicking() {
            "failed"
        } else {
            "completed"
        };
        self.core
            .close(EventKind::WorkflowEnd, |ev| put(ev, keys::STATUS, status));
    }
}

impl NodeGuard {
    fn end(&mut self, status: &str, error: Option<String>) {
        let id = std::mem::take(&mut self.node_id);
        self.core.close(EventKind::NodeEnd, |ev| {
            put(ev, keys::NODE_ID, id);
            put(ev, keys::STATUS, status);
            put_opt(ev, keys::ERROR, error);
        });
    }

    /// `node_end` with status `completed`.
    pub fn complete(mut self) {
        self.end("completed", None);
    }

    /// `node_end` with status `failed`.
    pub fn fail(mut self, error: impl Display) {
        self.end("failed", Some(error.to_string()));
    }

    /// `node_end` with status `skipped`.
    pub fn skip(mut self) {
        self.end("skipped", None);
    }
}

impl Drop for NodeGuard {
    fn drop(&mut self) {
        self.end("failed", Some(drop_reason()));
    }
}

impl SpanGuard {
    /// Ends the span with status `error`.
    pub fn fail(mut self, error: impl Display) {
        self.close_with(Some(error.to_string()));
    }

    pub(crate) fn close_with(&mut self, error: Option<String>) {
        let name = std::mem::take(&mut self.name);
        self.core.close(EventKind::SpanEnd, |ev| {
            put(ev, keys::NAME, name);
            match error {
                Some(e) => {
                    put(ev, keys::STATUS, "error");
                    put(ev, keys::ERROR, e);
                }
                None => put(ev, keys::STATUS, "success"),
            }
        });
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        let err = std::thread::panicking().then(drop_reason);
        self.close_with(err);
    }
}
