//! Renderers for Loupe analyses: terminal views (summary, timeline, tree,
//! token flow), the JSON contract of design §4, CSV, Markdown, a compact
//! summary for pasting into a model, and a self-contained HTML report.
//!
//! Every renderer is a pure function from `loupe_analyze` results to a
//! `String`. Architecture Invariant: no I/O and no terminal detection here;
//! the CLI decides whether colour is on and passes `color: bool`, so output is
//! deterministic under test. The output DTOs (JSON, CSV rows) live in this
//! crate, not on the model, so the wire formats can evolve separately from the
//! analysis types.

#![warn(missing_docs)]

pub mod compare;
pub mod csv;
pub mod html;
pub mod json;
pub mod llm;
pub mod markdown;
pub mod stats;
pub mod terminal;
#[doc(hidden)]
pub mod testing;
mod text;

pub use json::SkippedRecord;
pub use text::{
    human_duration_ms, human_tokens, invalid_durations_note, one_line, score, thousands,
};
