//! Loupe's analysis engine: sessions from events, metrics, pricing, efficiency
//! scores, inefficiency detection, token flow, comparison and cross-session
//! statistics.
//!
//! Architecture Invariant: pure functions of `loupe_model` events. No I/O
//! besides loading optional TOML configuration (prices, thresholds) that the
//! caller asks for; no knowledge of input formats or output rendering.

mod types;

pub use types::*;
