//! The SQLite schema: versioned migrations, and the checks that refuse a
//! file Loupe did not create before anything is written to it.

use rusqlite::{Connection, TransactionBehavior};

use crate::sqlite::{blocks, codec, map_err};
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
    // 3: events in per-session blocks (`src/sqlite/blocks.rs`): one row per
    // up to 512 events instead of one each, deduplicated in the writer's
    // memory, texts linked per block. The event rows are moved into blocks
    // by `move_events_into_blocks` after this SQL.
    r#"
    ALTER TABLE session_keys ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE event_blocks (
        id INTEGER PRIMARY KEY,
        sid INTEGER NOT NULL,
        first_ts INTEGER NOT NULL,
        last_ts INTEGER NOT NULL,
        events INTEGER NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX event_blocks_sid ON event_blocks(sid);
    CREATE TABLE block_texts (
        content_id INTEGER NOT NULL,
        block_id INTEGER NOT NULL,
        PRIMARY KEY (content_id, block_id)
    ) WITHOUT ROWID;
    ALTER TABLE tool_runs RENAME COLUMN event_row TO id;
    ALTER TABLE tool_runs ADD COLUMN event_id TEXT NOT NULL DEFAULT '';
    UPDATE tool_runs SET event_id = coalesce((SELECT e.event_id FROM events e WHERE e.id = tool_runs.id), '');
    "#,
    // 4: new text links go to a small `recent_texts` first and are merged
    // into `block_texts` in one sorted pass once it has grown (see
    // `merge_recent_texts` in mod.rs): links are keyed by content id, so a
    // batch's links land all over the big index and every commit rewrote
    // most of its pages once the store was large. `all_texts` reads both.
    r#"
    CREATE TABLE recent_texts (
        content_id INTEGER NOT NULL,
        block_id INTEGER NOT NULL,
        PRIMARY KEY (content_id, block_id)
    ) WITHOUT ROWID;
    CREATE VIEW all_texts AS
        SELECT content_id, block_id FROM block_texts
        UNION ALL SELECT content_id, block_id FROM recent_texts;
    INSERT INTO store_meta(key, value) VALUES ('recent_links', 0);
    INSERT INTO store_meta(key, value) SELECT 'links', count(*) FROM block_texts;
    "#,
    // 5: how many of a session's events its summary row covers, so that
    // summaries an interrupted ingest (or server) never wrote are found and
    // written by the next one. Rows already stored are taken as current.
    r#"
    ALTER TABLE session_keys ADD COLUMN summarised_events INTEGER NOT NULL DEFAULT 0;
    UPDATE session_keys SET summarised_events = events WHERE sid IN (SELECT sid FROM sessions);
    "#,
    // 6: a session's cost and token count may be unknown (NULL): an
    // unpriced session is not free, and one whose calls report no usage
    // used no known number of tokens. SQLite cannot drop NOT NULL, so the
    // table is rebuilt. Rows summarised before stored 0 for unknown; the
    // cases that can only mean unknown are made so: LLM calls with no
    // tokens (tokens and cost unknown), and LLM calls with no cost while a
    // model was unpriced (cost unknown).
    r#"
    CREATE TABLE sessions_v6 (
        sid INTEGER PRIMARY KEY REFERENCES session_keys(sid) ON DELETE CASCADE,
        agent_name TEXT,
        task TEXT,
        model TEXT,
        status TEXT NOT NULL,
        started_at INTEGER,
        ended_at INTEGER,
        duration_ms REAL,
        cost_usd REAL,
        total_tokens INTEGER,
        has_errors INTEGER NOT NULL,
        row_json TEXT NOT NULL
    );
    INSERT INTO sessions_v6 SELECT sid, agent_name, task, model, status, started_at, ended_at,
        duration_ms, cost_usd, total_tokens, has_errors, row_json FROM sessions;
    DROP TABLE sessions;
    ALTER TABLE sessions_v6 RENAME TO sessions;
    CREATE INDEX sessions_started ON sessions(started_at);
    CREATE INDEX sessions_agent ON sessions(agent_name, started_at);
    CREATE INDEX sessions_model ON sessions(model, started_at);
    CREATE INDEX sessions_status ON sessions(status, started_at);
    CREATE INDEX sessions_errors ON sessions(has_errors, started_at);
    CREATE INDEX sessions_duration ON sessions(duration_ms);
    CREATE INDEX sessions_cost ON sessions(cost_usd);
    CREATE INDEX sessions_tokens ON sessions(total_tokens);
    UPDATE sessions SET
        total_tokens = NULL,
        cost_usd = NULL,
        row_json = json_set(row_json,
            '$.metrics.input_tokens', NULL, '$.metrics.output_tokens', NULL,
            '$.metrics.cache_read_tokens', NULL, '$.metrics.cache_write_tokens', NULL,
            '$.metrics.reasoning_tokens', NULL, '$.metrics.cache_hit_rate', NULL,
            '$.metrics.cost_usd', NULL)
    WHERE json_extract(row_json, '$.metrics.llm_calls') > 0 AND total_tokens = 0;
    UPDATE sessions SET
        cost_usd = NULL,
        row_json = json_set(row_json, '$.metrics.cost_usd', NULL)
    WHERE json_extract(row_json, '$.metrics.llm_calls') > 0 AND cost_usd = 0
        AND json_array_length(row_json, '$.metrics.unpriced_models') > 0;
    "#,
];

/// Steps in Rust that follow a migration's SQL (by migration number).
fn after_migration(version: usize, tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    if version == 3 {
        move_events_into_blocks(tx)?;
    }
    Ok(())
}

/// Migration 3: rewrites each session's event rows, in insertion order, as
/// blocks (bodies are kept as they are, JSON or binary), links their texts
/// per block, counts the session's events, and drops the old tables.
fn move_events_into_blocks(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    let sids: Vec<i64> = tx
        .prepare("SELECT DISTINCT sid FROM events ORDER BY sid")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut read = tx.prepare(
        "SELECT event_id, ts_us, kind, iteration, duration_ms, body FROM events WHERE sid = ?1 ORDER BY id",
    )?;
    let mut insert = tx.prepare(
        "INSERT INTO event_blocks(sid, first_ts, last_ts, events, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut link = tx.prepare("INSERT INTO block_texts(content_id, block_id) VALUES (?1, ?2)")?;
    let mut count = tx.prepare("UPDATE session_keys SET events = ?2 WHERE sid = ?1")?;
    let mut links: Vec<(i64, i64)> = Vec::new();
    for sid in sids {
        let mut rows = read.query([sid])?;
        let mut block = blocks::BlockBuilder::default();
        let mut total: i64 = 0;
        while let Some(r) = rows.next()? {
            let event_id: String = r.get(0)?;
            let kind: String = r.get(2)?;
            let body: Vec<u8> = r.get(5)?;
            let entry = blocks::RawEntry {
                event_id: &event_id,
                ts_us: r.get(1)?,
                kind: &kind,
                iteration: r.get(3)?,
                duration_ms: r.get(4)?,
                body: &body,
            };
            block.push(&entry, &codec::referenced_contents(&body));
            total += 1;
            if block.is_full() {
                block.flush(sid, &mut insert, &mut links)?;
            }
        }
        block.flush(sid, &mut insert, &mut links)?;
        for &(cid, block_id) in &links {
            link.execute(rusqlite::params![cid, block_id])?;
        }
        links.clear();
        count.execute(rusqlite::params![sid, total])?;
    }
    tx.execute_batch("DROP TABLE event_texts; DROP TABLE events;")
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The oldest schema this build reads as it is, without migrating: schema 6
/// only let cost and tokens be NULL, which a reader of schema 5 never sees.
/// A read-only open accepts it, so reading never waits to upgrade.
pub const READABLE_SCHEMA_VERSION: i64 = 5;

/// Refuses foreign and newer databases. Runs before any write (and before
/// switching to WAL), so a refused file is left byte-for-byte untouched.
/// Returns whether the file is a fresh, empty database.
pub(crate) fn check_identity(conn: &Connection, path: &str) -> StoreResult<bool> {
    // One statement, so one snapshot: read apart, another process creating
    // the store between the reads showed its tables without its
    // application id yet, and the store was refused as foreign.
    let (app_id, version, objects): (i32, i64, i64) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id()), \
                    (SELECT user_version FROM pragma_user_version()), \
                    (SELECT count(*) FROM sqlite_master)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map_err(|e| map_err(e, path, "reading the database header and schema"))?;
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
/// opening a new store at once migrate it once; takes no lock when the
/// schema is current.
pub(crate) fn migrate(conn: &mut Connection, path: &str) -> StoreResult<()> {
    // A current store (the common case) is checked with a plain read: the
    // immediate transaction below would wait behind any writer (a long
    // prune, another ingest) just to learn there is nothing to do.
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| map_err(e, path, "reading the schema version"))?;
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
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
            .and_then(|()| after_migration(index + 1, &tx))
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

/// Creates a store at schema version `version` (tests of later migrations).
#[cfg(test)]
pub(crate) fn create_version(conn: &mut Connection, version: usize) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for (index, sql) in MIGRATIONS.iter().enumerate().take(version) {
        tx.execute_batch(sql)?;
        after_migration(index + 1, &tx)?;
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {version};"
    ))?;
    tx.commit()
}
