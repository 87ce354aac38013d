//! The O(1) running summary: relaxed atomics bumped by the typed helpers,
//! readable at any time from any thread, written into `session_end` as
//! `data.summary`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use loupe_model::TokenUsage;
use serde::Serialize;

/// Live counters of one session. Every field is a relaxed atomic: each is
/// exact on its own, a snapshot taken while other threads record may mix
/// moments (fine for a dashboard, exact once recording stopped).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events: AtomicU64,
    pub(crate) iterations: AtomicU64,
    pub(crate) turns: AtomicU64,
    pub(crate) llm_calls: AtomicU64,
    pub(crate) tool_calls: AtomicU64,
    pub(crate) tool_errors: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) compactions: AtomicU64,
    pub(crate) subagents: AtomicU64,
    pub(crate) input_tokens: AtomicU64,
    pub(crate) output_tokens: AtomicU64,
    pub(crate) cache_read_tokens: AtomicU64,
    pub(crate) cache_write_tokens: AtomicU64,
    pub(crate) reasoning_tokens: AtomicU64,
    /// Reported cost as `f64` bits, added with a CAS loop.
    cost_usd_bits: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) unwritten: AtomicU64,
    pub(crate) reopened: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) undelivered: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn add_usage(&self, u: &TokenUsage) {
        // Saturating, as the readers sum: an absurd count must not wrap.
        let add = |counter: &AtomicU64, n: u64| {
            if n > 0 {
                let _ = counter.fetch_update(Relaxed, Relaxed, |v| Some(v.saturating_add(n)));
            }
        };
        add(&self.input_tokens, u.input());
        add(&self.output_tokens, u.output());
        add(&self.cache_read_tokens, u.cache_read());
        add(&self.cache_write_tokens, u.cache_write());
        add(&self.reasoning_tokens, u.reasoning());
    }

    pub(crate) fn add_cost(&self, usd: f64) {
        if !crate::writer::plausible(usd) {
            return;
        }
        let mut cur = self.cost_usd_bits.load(Relaxed);
        loop {
            let next = (f64::from_bits(cur) + usd).to_bits();
            match self
                .cost_usd_bits
                .compare_exchange_weak(cur, next, Relaxed, Relaxed)
            {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Summary {
        Summary {
            events: self.events.load(Relaxed),
            iterations: self.iterations.load(Relaxed),
            turns: self.turns.load(Relaxed),
            llm_calls: self.llm_calls.load(Relaxed),
            tool_calls: self.tool_calls.load(Relaxed),
            tool_errors: self.tool_errors.load(Relaxed),
            errors: self.errors.load(Relaxed),
            compactions: self.compactions.load(Relaxed),
            subagents: self.subagents.load(Relaxed),
            input_tokens: self.input_tokens.load(Relaxed),
            output_tokens: self.output_tokens.load(Relaxed),
            cache_read_tokens: self.cache_read_tokens.load(Relaxed),
            cache_write_tokens: self.cache_write_tokens.load(Relaxed),
            reasoning_tokens: self.reasoning_tokens.load(Relaxed),
            reported_cost_usd: f64::from_bits(self.cost_usd_bits.load(Relaxed)),
            dropped: self.dropped.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
            unwritten: self.unwritten.load(Relaxed),
            reopened: self.reopened.load(Relaxed),
            sent: self.sent.load(Relaxed),
            undelivered: self.undelivered.load(Relaxed),
        }
    }
}

/// A snapshot of a session's counters ([`crate::Recorder::summary`]).
///
/// Counting rules: `iterations` per `iteration_start`; `llm_calls` per
/// `llm_response` or `llm_error` (a finished call); `tool_calls` per `tool_end`
/// or `tool_error`; `errors` counts `tool_error`, `llm_error`, `error`,
/// `subagent_error` and `subagent_timeout`; `compactions` per `compaction_end`;
/// tokens and `reported_cost_usd` from `llm_response` (cost only when
/// reported).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Events accepted by the recorder (written or queued; not dropped).
    pub events: u64,
    /// Iterations started.
    pub iterations: u64,
    /// Turns started.
    pub turns: u64,
    /// LLM calls finished (response or error).
    pub llm_calls: u64,
    /// Tool calls finished (success or error).
    pub tool_calls: u64,
    /// Tool calls that failed.
    pub tool_errors: u64,
    /// All recorded failures (see the type's docs).
    pub errors: u64,
    /// Compactions finished.
    pub compactions: u64,
    /// Subagents spawned.
    pub subagents: u64,
    /// Prompt tokens, cache included (OpenTelemetry semantics).
    pub input_tokens: u64,
    /// Completion tokens, reasoning included.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_write_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Sum of the costs reported on LLM responses, in USD. Calls that
    /// report none add nothing (the recorder has no price table): `loupe
    /// view` prices those, so its cost can be higher.
    pub reported_cost_usd: f64,
    /// Events dropped because the queue was full.
    pub dropped: u64,
    /// Failed writes to the trace file (the agent never sees them).
    pub write_errors: u64,
    /// Events the trace file could not take (disk full): the file keeps
    /// whole lines only and says how many are missing in a `loupe_dropped`
    /// event once it can be written again. Also counts the events a writer
    /// left behind in a hung write did not write (ending the session waits
    /// at most 5 s), and those written to a trace file that was then deleted
    /// or replaced ([`Summary::reopened`]).
    pub unwritten: u64,
    /// Times the trace file was found deleted or replaced while recording
    /// and opened again at its path (checked at most once a second and on
    /// every flush). The new file starts with a `loupe_dropped` event
    /// counting the events the old one took with it.
    pub reopened: u64,
    /// Events the HTTP sink delivered to the server so far
    /// ([`crate::Config::endpoint`]).
    pub sent: u64,
    /// Events the HTTP sink could not deliver: its buffer was full, the
    /// server refused them, or the shutdown timeout passed. The server is
    /// told in a `loupe_dropped` event when it can be.
    pub undelivered: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_saturate_and_ignore_implausible_costs() {
        let c = Counters::default();
        c.add_usage(&TokenUsage::otel(1, 0));
        c.add_usage(&TokenUsage::otel(u64::MAX, 0));
        c.add_cost(0.5);
        c.add_cost(-0.25);
        c.add_cost(f64::NAN);
        let s = c.snapshot();
        assert_eq!(s.input_tokens, u64::MAX);
        assert_eq!(s.reported_cost_usd, 0.5);
    }

    #[test]
    fn counters_add_tokens_and_cost() {
        let c = Counters::default();
        c.add_usage(
            &TokenUsage::otel(100, 10)
                .with_cache(80, 5)
                .with_reasoning(3),
        );
        c.add_usage(&TokenUsage::otel(50, 1));
        c.add_cost(0.25);
        c.add_cost(0.5);
        c.add_cost(f64::NAN);
        let s = c.snapshot();
        assert_eq!(
            (s.input_tokens, s.output_tokens, s.cache_read_tokens),
            (150, 11, 80)
        );
        assert_eq!((s.cache_write_tokens, s.reasoning_tokens), (5, 3));
        assert_eq!(s.reported_cost_usd, 0.75);
    }
}
