//! Test support (feature `testing`): a store that forwards to another and
//! lets a test act before appends and file records, to gate them, fail them
//! or log their order.

use loupe_model::Event;

use crate::{
    AppendOutcome, EventQuery, IngestedFile, PruneOutcome, RetentionPolicy, SearchHit,
    SessionFilter, SessionQuery, SessionRow, Store, StoreResult, StoreStats, ToolRun, ToolRunQuery,
};

/// Runs before an append; an error is returned instead of appending.
pub type BeforeAppend = Box<dyn Fn(&[Event]) -> StoreResult<()> + Send + Sync>;
/// Runs before file records are written; an error is returned instead.
pub type BeforeRecord = Box<dyn Fn(&[IngestedFile]) -> StoreResult<()> + Send + Sync>;

/// Forwards every call to `inner`, after the hooks that are set.
pub struct Intercepted<S> {
    /// The store that does the work.
    pub inner: S,
    /// Called with each batch before it is appended.
    pub before_append: Option<BeforeAppend>,
    /// Called with the files before they are recorded.
    pub before_record: Option<BeforeRecord>,
}

impl<S> Intercepted<S> {
    /// Forwards to `inner` with no hooks yet.
    pub fn new(inner: S) -> Self {
        Intercepted {
            inner,
            before_append: None,
            before_record: None,
        }
    }
}

impl<S: Store> Store for Intercepted<S> {
    fn append_events(&self, events: &[Event]) -> StoreResult<AppendOutcome> {
        if let Some(hook) = &self.before_append {
            hook(events)?;
        }
        self.inner.append_events(events)
    }
    fn upsert_sessions(&self, rows: &[SessionRow]) -> StoreResult<()> {
        self.inner.upsert_sessions(rows)
    }
    fn sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRow>> {
        self.inner.sessions(query)
    }
    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRow>> {
        self.inner.session(session_id)
    }
    fn sessions_needing_summary(&self, limit: usize) -> StoreResult<Vec<String>> {
        self.inner.sessions_needing_summary(limit)
    }
    fn session_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        self.inner.session_ids_with_prefix(prefix, limit)
    }
    fn events(&self, session_id: &str, query: &EventQuery) -> StoreResult<Vec<Event>> {
        self.inner.events(session_id, query)
    }
    fn tool_runs(&self, query: &ToolRunQuery) -> StoreResult<Vec<ToolRun>> {
        self.inner.tool_runs(query)
    }
    fn search(&self, text: &str, limit: usize) -> StoreResult<Vec<SearchHit>> {
        self.inner.search(text, limit)
    }
    fn stats(&self, filter: &SessionFilter) -> StoreResult<StoreStats> {
        self.inner.stats(filter)
    }
    fn prune(&self, policy: &RetentionPolicy) -> StoreResult<PruneOutcome> {
        self.inner.prune(policy)
    }
    fn delete_sessions(&self, ids: &[String]) -> StoreResult<PruneOutcome> {
        self.inner.delete_sessions(ids)
    }
    fn sessions_by_activity(&self) -> StoreResult<Vec<(Option<loupe_model::Timestamp>, String)>> {
        self.inner.sessions_by_activity()
    }
    fn ingested_file(&self, path: &str) -> StoreResult<Option<IngestedFile>> {
        self.inner.ingested_file(path)
    }
    fn record_ingested_file(&self, file: &IngestedFile) -> StoreResult<()> {
        self.record_ingested_files(std::slice::from_ref(file))
    }
    fn record_ingested_files(&self, files: &[IngestedFile]) -> StoreResult<()> {
        if let Some(hook) = &self.before_record {
            hook(files)?;
        }
        self.inner.record_ingested_files(files)
    }
}
