//! Getting traces into a store: the glue of loupe-formats (read),
//! loupe-store (append) and loupe-analyze (summarise) that both
//! `loupe ingest` and `loupe serve` run.
//!
//! - [`files`]: ingest trace files, idempotently and incrementally.
//! - [`summary`]: rebuild the summary rows of sessions from their stored events.
//! - [`merge`]: join an OpenTelemetry trace stored as two sessions.

pub mod files;
pub mod merge;
pub mod summary;

pub use files::{expand_paths, ingest, IngestSummary, InputFile, BATCH_EVENTS};
pub use merge::merge_sessions;
pub use summary::{rows_from_events, session_row, summarise};
