//! Synthetic sessions for tests and the benchmark (not a stable API).

use loupe_analyze::{AnalysisConfig, PriceTable, Session, SessionAnalysis, SessionSource};
use loupe_model::{keys, Event, EventKind, SourceFormat, Timestamp, TokenUsage};

/// Shape of a synthetic session.
#[derive(Clone, Debug)]
pub struct Synthetic {
    /// Session id.
    pub session_id: String,
    /// Time of the first event.
    pub start: Timestamp,
    /// Iterations (each: start, request, response, tools, end).
    pub iterations: u32,
    /// Tool calls per iteration (a start and an end event each).
    pub tools_per_iteration: u32,
    /// Every n-th tool call fails (0: none).
    pub fail_every: u32,
    /// Task text.
    pub task: String,
    /// Input tokens of each LLM call.
    pub input_tokens: u64,
    /// Whether the calls report cache counts (half the input read from cache).
    pub reports_cache: bool,
    /// The model of every call.
    pub model: String,
}

impl Synthetic {
    /// A session of `iterations` iterations with 2 tools each, none failing.
    pub fn new(session_id: &str, iterations: u32) -> Self {
        Synthetic {
            session_id: session_id.to_owned(),
            start: Timestamp(1_790_000_000_000_000),
            iterations,
            tools_per_iteration: 2,
            fail_every: 0,
            task: format!("task of {session_id}"),
            input_tokens: 2_000,
            reports_cache: true,
            model: "claude-sonnet-4-5".to_owned(),
        }
    }

    /// Events per session: start + end + per iteration (4 + 2 × tools).
    pub fn event_count(&self) -> usize {
        2 + self.iterations as usize * (4 + 2 * self.tools_per_iteration as usize)
    }

    /// The canonical events, in time order, 100 ms apart.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::with_capacity(self.event_count());
        let mut clock = self.start;
        let mut seq = 0u64;
        let mut next = |kind: EventKind, clock: &mut Timestamp| {
            *clock = clock.plus_millis(100.0);
            seq += 1;
            Event::new(
                format!("{}-{seq:07}", self.session_id),
                kind,
                *clock,
                &self.session_id,
            )
        };
        events.push(
            next(EventKind::SessionStart, &mut clock)
                .with(keys::TASK, self.task.clone())
                .with(keys::MODEL, self.model.clone()),
        );
        let mut call = 0u32;
        for it in 1..=self.iterations {
            let mut start = next(EventKind::IterationStart, &mut clock);
            start.iteration = Some(it);
            events.push(start);
            let mut request = next(EventKind::LlmRequest, &mut clock);
            request.iteration = Some(it);
            events.push(request.with(keys::MODEL, self.model.clone()));
            let mut response = next(EventKind::LlmResponse, &mut clock)
                .with(keys::MODEL, self.model.clone())
                .with(keys::STOP_REASON, "tool_use");
            response.iteration = Some(it);
            response.duration_ms = Some(90.0);
            let usage = TokenUsage::otel(self.input_tokens, 150);
            response.set_usage(&if self.reports_cache {
                usage.with_cache(self.input_tokens / 2, 0)
            } else {
                usage
            });
            events.push(response);
            for t in 0..self.tools_per_iteration {
                call += 1;
                let tool = if t % 2 == 0 { "read_file" } else { "bash" };
                let call_id = format!("call-{call}");
                let mut tool_start = next(EventKind::ToolStart, &mut clock)
                    .with(keys::TOOL, tool)
                    .with(keys::CALL_ID, call_id.clone());
                tool_start.iteration = Some(it);
                events.push(tool_start);
                let failed = self.fail_every > 0 && call.is_multiple_of(self.fail_every);
                let mut tool_end = next(EventKind::ToolEnd, &mut clock)
                    .with(keys::TOOL, tool)
                    .with(keys::CALL_ID, call_id)
                    .with(keys::STATUS, if failed { "error" } else { "success" });
                if failed {
                    tool_end = tool_end.with(keys::ERROR, "exit status 1");
                }
                tool_end.iteration = Some(it);
                tool_end.duration_ms = Some(42.0);
                events.push(tool_end);
            }
            let mut end = next(EventKind::IterationEnd, &mut clock);
            end.iteration = Some(it);
            events.push(end);
        }
        events.push(next(EventKind::SessionEnd, &mut clock).with(keys::STATUS, "completed"));
        events
    }

    /// The session, assembled as a reader would deliver it.
    pub fn session(&self) -> Session {
        Session {
            session_id: self.session_id.clone(),
            source: SessionSource {
                path: format!("{}.jsonl", self.session_id),
                format: SourceFormat::Loupe,
            },
            events: self.events(),
        }
    }

    /// The session analysed with built-in prices.
    pub fn analysis(&self) -> SessionAnalysis {
        loupe_analyze::analyze(&self.session(), &config())
    }
}

/// Built-in prices, default thresholds, Loupe's score.
pub fn config() -> AnalysisConfig {
    AnalysisConfig {
        prices: PriceTable::builtin(),
        ..AnalysisConfig::default()
    }
}
