//! Loupe's analysis engine: sessions from events, metrics, pricing, efficiency
//! scores, inefficiency detection, token flow, comparison and cross-session
//! statistics.
//!
//! Architecture Invariant: pure functions of `loupe_model` events. No I/O
//! besides parsing optional TOML configuration (prices, thresholds) that the
//! caller reads; no knowledge of input formats or output rendering.
//!
//! Entry points: [`assemble`] / [`SessionAssembler`] build [`Session`]s,
//! [`analyze()`] turns one into a [`SessionAnalysis`], [`compare_sessions`] and
//! [`compare_groups`] diff runs, and [`StatsAccumulator`] folds many analyses
//! into [`CrossStats`]. docs/analysis.md documents every formula and rule.

#![warn(missing_docs)]

mod analyze;
mod cache_boundary;
mod compare;
mod detectors;
mod facts;
mod metrics;
mod pricing;
mod score;
mod session;
mod stats;
#[cfg(test)]
mod testing;
mod timeline;
mod token_flow;
mod tools;
mod tree;
mod types;

/// The analysis's hash maps and sets: foldhash, seeded per process (several
/// times faster than the standard SipHash on short keys, and still not
/// predictable by whoever wrote the trace).
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
/// See [`HashMap`].
pub(crate) type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

pub use analyze::{analyze, AnalysisConfig, ANALYSIS_UNREAD_PAYLOAD};
pub use cache_boundary::{
    cache_boundary, CacheBoundaryStats, CacheBoundaryTracker, DEFAULT_WINDOW,
};
pub use compare::{
    compare_groups, compare_sessions, compared_metrics, compared_value, prune_for_comparison,
    Assessment, CompareConfig, Comparison, Direction, MetricDelta, Slowdown,
};
pub use detectors::{detect, rule_categories, Thresholds, ThresholdsError};
pub use facts::counts_as_error;
pub use metrics::metrics;
pub use pricing::{normalise_model, ModelPrice, PriceError, PriceTable};
pub use score::{attocode_py_score, attocode_ts_score, loupe_score, severity_weight, ScoreModel};
pub use session::{
    assemble, finish_session, has_explicit_iterations, is_named_by_its_trace, valid_duration,
    SessionAssembler,
};
pub use stats::{
    AgentStats, CrossStats, NodeSlowness, SessionStats, SlowLlmCall, StatsAccumulator,
    ToolFailureRate, UsageBucket, STATS_UNREAD_PAYLOAD,
};
pub use timeline::timeline;
pub use tools::{
    error_patterns, normalise_error, slowest_nodes, tools, ErrorPattern, ErrorPatternCounter,
    NodeStats,
};
pub use tree::span_tree;
pub use types::*;
