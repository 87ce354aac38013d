//! Loupe's trace store: keep traces, find them, bound their size.
//!
//! [`Store`] is the one interface: append events (deduplicated by session id
//! and event id), upsert session summaries computed by the caller, query
//! sessions / events / tool runs with filters, full-text search, aggregate
//! statistics and retention. Backends:
//! - [`SqliteStore`], the default: one WAL-mode SQLite file (`.loupe/loupe.db`),
//!   versioned migrations, FTS5, repeated text stored once.
//! - [`MemoryStore`]: `BTreeMap`s, for tests and library use.
//! - `ClickHouseStore` (feature `clickhouse`): scale-out over ClickHouse's HTTP interface.
//!
//! Architecture Invariant: this crate depends on `loupe-model` only; it never
//! reads trace files nor analyses sessions. Session summaries ([`SessionRow`])
//! come from the caller. Query semantics are defined once in [`query`] and
//! [`mod@derive`]; the in-memory backend is their reference implementation and
//! the shared behaviour tests (`tests/behaviour.rs`) hold every backend to it.

#![warn(missing_docs)]

pub mod derive;
mod error;
mod memory;
pub mod query;
mod rows;
mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "clickhouse")]
mod clickhouse;

pub use error::{StoreError, StoreErrorKind, StoreResult};
pub use memory::MemoryStore;
pub use query::{
    EventQuery, RetentionPolicy, SessionFilter, SessionQuery, SessionSort, ToolRunQuery,
};
pub use rows::{
    metadata_value_text, AppendOutcome, IngestedFile, ModelStats, ModelUsage, PruneOutcome,
    SearchHit, SessionMetrics, SessionRow, SourceRef, StoreStats, ToolAggregate, ToolRun,
};
pub use sqlite::{SqliteStore, DEFAULT_DB_PATH, READABLE_SCHEMA_VERSION, SCHEMA_VERSION};

#[cfg(feature = "clickhouse")]
pub use clickhouse::{
    sample_queries as clickhouse_sample_queries, ClickHouseStore, CLICKHOUSE_SQL,
};

use loupe_model::Event;

/// A trace store. Every method takes `&self` (backends synchronise
/// internally) so one store can serve many threads.
pub trait Store: Send + Sync {
    /// Appends events in one batch (one transaction where the backend has
    /// them). Events whose (session id, event id) is already stored are
    /// counted as duplicates and not added, so re-ingesting adds nothing;
    /// a duplicate of the same time that is fuller than the stored copy
    /// ([`Event::is_fuller_than`]) replaces it in its place, so the store
    /// keeps what `loupe view` keeps of an event read twice in two shapes,
    /// whichever came first.
    fn append_events(&self, events: &[Event]) -> StoreResult<AppendOutcome>;

    /// Inserts or replaces session summaries (keyed by session id).
    fn upsert_sessions(&self, rows: &[SessionRow]) -> StoreResult<()>;

    /// Session summaries matching a query, ordered and paged.
    fn sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRow>>;

    /// One session summary.
    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRow>>;

    /// Sessions whose stored events are not all covered by their summary
    /// row (an ingest or server stopped between storing events and
    /// summarising them), at most `limit`, so the next run summarises them.
    /// Backends that cannot tell return none.
    fn sessions_needing_summary(&self, _limit: usize) -> StoreResult<Vec<String>> {
        Ok(Vec::new())
    }

    /// Ids of stored sessions starting with `prefix`, in id order, at most
    /// `limit` (for commands that take an id prefix, as `loupe view` does).
    fn session_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>>;

    /// Events of one session in time order (ties in insertion order).
    fn events(&self, session_id: &str, query: &EventQuery) -> StoreResult<Vec<Event>>;

    /// Tool runs matching a query, newest first.
    fn tool_runs(&self, query: &ToolRunQuery) -> StoreResult<Vec<ToolRun>>;

    /// Events whose searchable text matches `text` (see [`query::text_terms`]),
    /// newest first, at most `limit`.
    fn search(&self, text: &str, limit: usize) -> StoreResult<Vec<SearchHit>>;

    /// Aggregates over the sessions matching `filter`.
    fn stats(&self, filter: &SessionFilter) -> StoreResult<StoreStats>;

    /// Deletes whole sessions per the policy (summary, events, tool runs).
    fn prune(&self, policy: &RetentionPolicy) -> StoreResult<PruneOutcome>;

    /// Every stored session with its last activity (`None`: unknown), the
    /// input of a retention policy.
    fn sessions_by_activity(&self) -> StoreResult<Vec<(Option<loupe_model::Timestamp>, String)>>;

    /// The sessions `prune(policy)` would delete now, without deleting them
    /// (`loupe prune --dry-run`).
    fn prune_preview(&self, policy: &RetentionPolicy) -> StoreResult<Vec<String>> {
        let mut sessions = self.sessions_by_activity()?;
        let mut doomed = query::sessions_to_prune(&mut sessions, policy);
        doomed.sort();
        Ok(doomed)
    }

    /// Deletes whole sessions by id (summary, events, tool runs); ids not
    /// stored are left out of the outcome.
    fn delete_sessions(&self, ids: &[String]) -> StoreResult<PruneOutcome>;

    /// What the store remembers about an ingested file.
    fn ingested_file(&self, path: &str) -> StoreResult<Option<IngestedFile>>;

    /// Records how far a file was ingested.
    fn record_ingested_file(&self, file: &IngestedFile) -> StoreResult<()>;

    /// Records several files at once (one transaction where the backend has
    /// them: an ingest of thousands of small files records them per batch).
    fn record_ingested_files(&self, files: &[IngestedFile]) -> StoreResult<()> {
        files.iter().try_for_each(|f| self.record_ingested_file(f))
    }
}
