//! Cache boundary tracker over a sliding window of requests (attocode-py's
//! `CacheBoundaryTracker`, seed-formats.md §2.9), in OpenTelemetry semantics.
//!
//! Loupe differs on purpose: the hit rate is `cache_read / input` with input
//! *including* cache reads, so it can never exceed 1 (attocode-py divides by
//! uncached input and reports 3.73 on its own healthy sample). Inconsistent
//! inputs (cache read > input) are clamped. The token flow carries its
//! stats (`TokenFlow::cache_boundary`) for every renderer to show.

use std::collections::VecDeque;

use loupe_model::TokenUsage;
use serde::{Deserialize, Serialize};

/// Default window: the last 50 requests.
pub const DEFAULT_WINDOW: usize = 50;

/// Running cache statistics with a window of recent requests.
#[derive(Clone, Debug)]
pub struct CacheBoundaryTracker {
    window_size: usize,
    /// (input, cache_read) of recent requests, oldest first.
    window: VecDeque<(u64, u64)>,
    total_requests: u64,
    total_input: u64,
    total_cache_read: u64,
    total_cache_write: u64,
}

/// A snapshot of the tracker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheBoundaryStats {
    /// Requests recorded.
    pub total_requests: u64,
    /// Size of the window (the last 50 requests by default).
    pub window_size: u64,
    /// Requests in the window now (at most `window_size`).
    pub window_requests: u64,
    /// `cache_read / input` over the window's requests, within 0..=1.
    pub window_hit_rate: f64,
    /// Prompt tokens (cache included).
    pub total_input_tokens: u64,
    /// Cache-read tokens.
    pub total_cache_read: u64,
    /// Cache-write tokens.
    pub total_cache_write: u64,
    /// All-time `cache_read / input`, within 0..=1.
    pub hit_rate: f64,
    /// Recency-weighted mean cache-read size over the window: roughly where
    /// the cached prefix ends, in tokens.
    pub estimated_boundary: u64,
}

impl Default for CacheBoundaryTracker {
    fn default() -> Self {
        CacheBoundaryTracker::new(DEFAULT_WINDOW)
    }
}

impl CacheBoundaryTracker {
    /// A tracker remembering the last `window_size` (at least 1) requests.
    pub fn new(window_size: usize) -> Self {
        let window_size = window_size.max(1);
        CacheBoundaryTracker {
            window_size,
            window: VecDeque::with_capacity(window_size),
            total_requests: 0,
            total_input: 0,
            total_cache_read: 0,
            total_cache_write: 0,
        }
    }

    /// Records one request's usage.
    pub fn record(&mut self, usage: &TokenUsage) {
        let input = usage.input();
        let read = usage.cache_read().min(input);
        self.total_requests += 1;
        self.total_input = self.total_input.saturating_add(input);
        self.total_cache_read = self.total_cache_read.saturating_add(read);
        self.total_cache_write = self.total_cache_write.saturating_add(usage.cache_write());
        if self.window.len() == self.window_size {
            self.window.pop_front();
        }
        self.window.push_back((input, read));
    }

    /// Hit rate of each request in the window, oldest first (0 without input).
    pub fn window_hit_rates(&self) -> impl Iterator<Item = f64> + '_ {
        self.window.iter().map(|&(input, read)| {
            if input == 0 {
                0.0
            } else {
                read as f64 / input as f64
            }
        })
    }

    /// All-time hit rate, 0..=1.
    pub fn hit_rate(&self) -> f64 {
        if self.total_input == 0 {
            0.0
        } else {
            (self.total_cache_read as f64 / self.total_input as f64).min(1.0)
        }
    }

    /// Weighted cache-read size over the window (weights 1..n, newest heaviest).
    pub fn boundary_position(&self) -> u64 {
        let (mut num, mut den) = (0.0, 0.0);
        for (i, &(_, read)) in self.window.iter().enumerate() {
            let w = (i + 1) as f64;
            num += read as f64 * w;
            den += w;
        }
        if den == 0.0 {
            0
        } else {
            (num / den) as u64
        }
    }

    /// `cache_read / input` summed over the window, 0..=1 (0 without input).
    pub fn window_hit_rate(&self) -> f64 {
        let (input, read) = self
            .window
            .iter()
            .fold((0u64, 0u64), |(i, r), &(input, read)| {
                (i.saturating_add(input), r.saturating_add(read))
            });
        if input == 0 {
            0.0
        } else {
            read as f64 / input as f64
        }
    }

    /// A snapshot.
    pub fn stats(&self) -> CacheBoundaryStats {
        CacheBoundaryStats {
            total_requests: self.total_requests,
            window_size: self.window_size as u64,
            window_requests: self.window.len() as u64,
            window_hit_rate: self.window_hit_rate(),
            total_input_tokens: self.total_input,
            total_cache_read: self.total_cache_read,
            total_cache_write: self.total_cache_write,
            hit_rate: self.hit_rate(),
            estimated_boundary: self.boundary_position(),
        }
    }
}

/// Runs the tracker over a session's main-agent LLM responses, in order.
pub fn cache_boundary(session: &crate::Session) -> CacheBoundaryStats {
    let mut t = CacheBoundaryTracker::default();
    for e in &session.events {
        if e.kind == loupe_model::EventKind::LlmResponse && !e.is_subagent() {
            t.record(&e.usage());
        }
    }
    t.stats()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_matches_attocode_py_on_pathological_cache_reads() {
        // pathological.jsonl cache reads; their estimated_boundary is 3663.
        let mut t = CacheBoundaryTracker::default();
        for read in [0u64, 3000, 100, 4000, 0, 5000, 5200, 5400] {
            t.record(&TokenUsage::otel(read + 1000, 10).with_cache(read, 0));
        }
        let s = t.stats();
        assert_eq!(s.estimated_boundary, 3663);
        assert_eq!(s.total_requests, 8);
        assert!(s.hit_rate <= 1.0);
    }

    #[test]
    fn session_helper_reads_main_agent_responses() {
        let mut t = crate::testing::Trace::new();
        t.iter(1).llm(1000, 10, 0, 1000).llm(1000, 10, 900, 0);
        t.as_agent(Some("sub")).llm(5000, 10, 0, 0);
        let s = cache_boundary(&t.session());
        assert_eq!((s.total_requests, s.total_input_tokens), (2, 2000));
        assert_eq!(s.hit_rate, 0.45);
        assert_eq!(s.estimated_boundary, 600); // (0×1 + 900×2) / 3
    }

    #[test]
    fn window_slides_and_rate_never_exceeds_one() {
        let mut t = CacheBoundaryTracker::new(2);
        t.record(&TokenUsage::otel(100, 0).with_cache(500, 0)); // inconsistent: clamped
        t.record(&TokenUsage::otel(100, 0).with_cache(50, 0));
        t.record(&TokenUsage::otel(0, 0));
        let rates: Vec<f64> = t.window_hit_rates().collect();
        assert_eq!(rates, vec![0.5, 0.0]);
        assert!(t.hit_rate() <= 1.0);
        assert_eq!(t.stats().hit_rate, 150.0 / 200.0);
        assert_eq!(t.boundary_position(), 50 / 3);
    }
}
