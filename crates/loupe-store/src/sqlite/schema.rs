//! The SQLite schema: versioned migrations, and the checks that refuse a
//! file Loupe did not create before anything is written to it.

use rusqlite::{Connection, TransactionBehavior};

use crate::sqlite::map_err;
use crate::{StoreError, StoreErrorKind, StoreResult};

/// `PRAGMA application_id` of a Loupe store ("LOUP").
pub(crate) const APPLICATION_ID: i32 = 0x4C4F_5550;

/// Migrations in order; `PRAGMA user_version` counts those applied. Never edit
/// a released migration: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE session_keys (
        sid INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL UNIQUE,
        first_ts INTEGER,
        last_ts INTEGER
    );
    CREATE INDEX session_keys_last ON session_keys(last_ts);

    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        sid INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        kind TEXT NOT NULL,
        iteration INTEGER,
        duration_ms REAL,
        body BLOB NOT NULL
    );
    CREATE UNIQUE INDEX events_dedup ON events(sid, event_id);
    CREATE INDEX events_time ON events(sid, ts_us);

    CREATE TABLE contents (
        id INTEGER PRIMARY KEY,
        hash BLOB NOT NULL UNIQUE,
        searchable INTEGER NOT NULL,
        text TEXT NOT NULL
    );
    CREATE VIRTUAL TABLE contents_fts USING fts5(
        text, content = 'contents', content_rowid = 'id', tokenize = 'unicode61'
    );
    CREATE TABLE event_texts (
        content_id INTEGER NOT NULL,
        event_row INTEGER NOT NULL,
        PRIMARY KEY (content_id, event_row)
    ) WITHOUT ROWID;

    CREATE TABLE tool_runs (
        event_row INTEGER PRIMARY KEY,
        sid INTEGER NOT NULL,
        tool TEXT NOT NULL,
        ts_us INTEGER NOT NULL,
        duration_ms REAL,
        success INTEGER NOT NULL,
        iteration INTEGER
    );
    CREATE INDEX tool_runs_tool ON tool_runs(tool, ts_us);
    CREATE INDEX tool_runs_time ON tool_runs(ts_us);
    CREATE INDEX tool_runs_sid ON tool_runs(sid);

    CREATE TABLE sessions (
        sid INTEGER PRIMARY KEY REFERENCES session_keys(sid) ON DELETE CASCADE,
        agent_name TEXT,
        task TEXT,
        model TEXT,
        status TEXT NOT NULL,
        started_at INTEGER,
        ended_at INTEGER,
        duration_ms REAL,
        cost_usd REAL NOT NULL,
        total_tokens INTEGER NOT NULL,
        has_errors INTEGER NOT NULL,
        row_json TEXT NOT NULL
    );
    CREATE INDEX sessions_started ON sessions(started_at);
    CREATE INDEX sessions_agent ON sessions(agent_name, started_at);
    CREATE INDEX sessions_model ON sessions(model, started_at);
    CREATE INDEX sessions_status ON sessions(status, started_at);
    CREATE INDEX sessions_errors ON sessions(has_errors, started_at);
    CREATE INDEX sessions_duration ON sessions(duration_ms);
    CREATE INDEX sessions_cost ON sessions(cost_usd);
    CREATE INDEX sessions_tokens ON sessions(total_tokens);

    CREATE TABLE session_tags (
        tag TEXT NOT NULL, sid INTEGER NOT NULL, PRIMARY KEY (tag, sid)
    ) WITHOUT ROWID;
    CREATE INDEX session_tags_sid ON session_tags(sid);
    CREATE TABLE session_tools (
        tool TEXT NOT NULL, sid INTEGER NOT NULL, PRIMARY KEY (tool, sid)
    ) WITHOUT ROWID;
    CREATE INDEX session_tools_sid ON session_tools(sid);
    CREATE TABLE session_meta (
        key TEXT NOT NULL, value TEXT NOT NULL, sid INTEGER NOT NULL,
        PRIMARY KEY (key, value, sid)
    ) WITHOUT ROWID;
    CREATE INDEX session_meta_sid ON session_meta(sid);

    -- Bumped by every prune, so writers drop their cached content ids.
    CREATE TABLE store_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO store_meta(key, value) VALUES ('prune_generation', 0);

    CREATE TABLE ingested_files (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_us INTEGER NOT NULL,
        head_hash TEXT NOT NULL,
        lines INTEGER NOT NULL,
        byte_offset INTEGER NOT NULL,
        format TEXT NOT NULL,
        session_hint TEXT
    );
    "#,
    // 2: faster ingest. Event bodies are binary from now on (schema-1 JSON
    // bodies stay readable). The full-text index keeps no positions or
    // lengths (queries are AND of single tokens and prefixes, never phrases
    // or ranking), so it is rebuilt smaller. `events_time` goes: a session's
    // events are found through `events_dedup` (sid first) and sorted, which
    // costs a read less than the index cost every insert.
    r#"
    DROP INDEX events_time;
    DROP TABLE contents_fts;
    CREATE VIRTUAL TABLE contents_fts USING fts5(
        text, content = 'contents', content_rowid = 'id', tokenize = 'unicode61',
        detail = 'none', columnsize = 0
    );
    INSERT INTO contents_fts(rowid, text) SELECT id, text FROM contents WHERE searchable = 1;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Refuses foreign and newer databases. Runs before any write (and before
/// switching to WAL), so a refused file is left byte-for-byte untouched.
/// Returns whether the file is a fresh, empty database.
pub(crate) fn check_identity(conn: &Connection, path: &str) -> StoreResult<bool> {
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| map_err(e, path, "reading the database header"))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| map_err(e, path, "reading the schema version"))?;
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| map_err(e, path, "reading the schema"))?;
    if app_id != APPLICATION_ID {
        if objects == 0 && app_id == 0 {
            return Ok(true);
        }
        return Err(StoreError::new(
            StoreErrorKind::Foreign,
            path,
            format!(
                "this SQLite database was not created by Loupe (application_id {app_id:#x}, {objects} schema objects); refusing to touch it"
            ),
        ));
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::new(
            StoreErrorKind::NewerSchema,
            path,
            format!("schema version {version} is newer than this Loupe's {SCHEMA_VERSION}; upgrade Loupe"),
        ));
    }
    Ok(false)
}

/// Applies pending migrations in one immediate transaction, so two processes
/// opening a new store at once migrate it once.
pub(crate) fn migrate(conn: &mut Connection, path: &str) -> StoreResult<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_err(e, path, "starting the migration"))?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| map_err(e, path, "reading the schema version"))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.execute_batch(sql)
            .map_err(|e| map_err(e, path, &format!("applying migration {}", index + 1)))?;
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(|e| map_err(e, path, "recording the schema version"))?;
    tx.commit()
        .map_err(|e| map_err(e, path, "committing the migration"))
}

/// Creates a store at schema version 1 (tests of the migration to 2).
#[cfg(test)]
pub(crate) fn create_version_1(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(MIGRATIONS[0])?;
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;"
    ))
}
