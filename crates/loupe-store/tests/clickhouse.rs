//! The shared behaviour tests (tests/common) against a real ClickHouse
//! server. Runs only when `LOUPE_TEST_CLICKHOUSE_URL` is set (e.g. by
//! `scripts/test-clickhouse.sh`, which installs and starts one); without it
//! each test prints why it did nothing.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use loupe_store::{ClickHouseStore, Store};

/// A store in its own database, dropped at the end of the test.
struct TempDatabase(Option<ClickHouseStore>);

impl common::AsStore for TempDatabase {
    fn as_store(&self) -> &dyn Store {
        match &self.0 {
            Some(store) => store,
            None => &NOOP,
        }
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if let Some(store) = &self.0 {
            let _ = store.drop_database();
        }
    }
}

static NOOP: Skip = Skip;

/// Stands in when no server is configured: the test ends at its first call.
struct Skip;

fn fresh() -> TempDatabase {
    static N: AtomicUsize = AtomicUsize::new(0);
    match std::env::var("LOUPE_TEST_CLICKHOUSE_URL") {
        Ok(url) => {
            let db = format!(
                "loupe_test_{}_{}",
                std::process::id(),
                N.fetch_add(1, Ordering::SeqCst)
            );
            TempDatabase(Some(ClickHouseStore::connect(&url, &db).unwrap()))
        }
        Err(_) => TempDatabase(None),
    }
}

macro_rules! skip {
    () => {{
        eprintln!("LOUPE_TEST_CLICKHOUSE_URL is not set: run scripts/test-clickhouse.sh");
        std::process::exit(0)
    }};
}

impl Store for Skip {
    fn append_events(
        &self,
        _: &[loupe_model::Event],
    ) -> loupe_store::StoreResult<loupe_store::AppendOutcome> {
        skip!()
    }
    fn upsert_sessions(&self, _: &[loupe_store::SessionRow]) -> loupe_store::StoreResult<()> {
        skip!()
    }
    fn sessions(
        &self,
        _: &loupe_store::SessionQuery,
    ) -> loupe_store::StoreResult<Vec<loupe_store::SessionRow>> {
        skip!()
    }
    fn session(&self, _: &str) -> loupe_store::StoreResult<Option<loupe_store::SessionRow>> {
        skip!()
    }
    fn session_ids_with_prefix(&self, _: &str, _: usize) -> loupe_store::StoreResult<Vec<String>> {
        skip!()
    }
    fn delete_sessions(&self, _: &[String]) -> loupe_store::StoreResult<loupe_store::PruneOutcome> {
        skip!()
    }
    fn sessions_by_activity(
        &self,
    ) -> loupe_store::StoreResult<Vec<(Option<loupe_model::Timestamp>, String)>> {
        skip!()
    }
    fn events(
        &self,
        _: &str,
        _: &loupe_store::EventQuery,
    ) -> loupe_store::StoreResult<Vec<loupe_model::Event>> {
        skip!()
    }
    fn tool_runs(
        &self,
        _: &loupe_store::ToolRunQuery,
    ) -> loupe_store::StoreResult<Vec<loupe_store::ToolRun>> {
        skip!()
    }
    fn search(&self, _: &str, _: usize) -> loupe_store::StoreResult<Vec<loupe_store::SearchHit>> {
        skip!()
    }
    fn stats(
        &self,
        _: &loupe_store::SessionFilter,
    ) -> loupe_store::StoreResult<loupe_store::StoreStats> {
        skip!()
    }
    fn prune(
        &self,
        _: &loupe_store::RetentionPolicy,
    ) -> loupe_store::StoreResult<loupe_store::PruneOutcome> {
        skip!()
    }
    fn ingested_file(
        &self,
        _: &str,
    ) -> loupe_store::StoreResult<Option<loupe_store::IngestedFile>> {
        skip!()
    }
    fn record_ingested_file(&self, _: &loupe_store::IngestedFile) -> loupe_store::StoreResult<()> {
        skip!()
    }
}

behaviour_tests!(fresh());
