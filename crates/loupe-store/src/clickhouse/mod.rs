//! The ClickHouse backend (feature `clickhouse`), for stores that outgrow one
//! machine's SQLite file. It talks to ClickHouse's HTTP interface directly
//! (`ureq`, blocking, no TLS needed for a local or in-cluster server) with
//! `FORMAT JSONEachRow` batches.
//!
//! Compatibility: the DDL (`sql/*.sql`, shared with the chdb check script)
//! and every query stay within what ClickHouse 18.16 (Debian's package) and
//! current releases both accept: no `Map`, `JSON`, `DateTime64`,
//! `JSONExtract`, `Nullable` or query parameters; timestamps are `Int64` µs,
//! optional values carry a `has_*` flag, payloads are JSON text, string
//! literals are escaped here. Tables are `ReplacingMergeTree(version)` and
//! read with `FINAL`, so a row written twice counts once.
//!
//! Full-text search: ClickHouse 18.16 has no text index, so each event keeps
//! its searchable texts as arrays of space-padded lowercase tokens (the same
//! tokenizer as the other backends, see [`crate::query::tokenize`]) and a
//! search scans them with `position`: same answers, linear cost.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loupe_model::{Event, Timestamp};
use serde_json::{json, Value};

use crate::derive::{searchable_texts, tool_run};
use crate::memory::{add_metrics, finish_totals};
use crate::query::{sessions_to_prune, text_terms, tokenize, SessionSort, TextTerm};
use crate::{
    AppendOutcome, EventQuery, IngestedFile, ModelStats, PruneOutcome, RetentionPolicy, SearchHit,
    SessionFilter, SessionQuery, SessionRow, Store, StoreError, StoreErrorKind, StoreResult,
    StoreStats, ToolAggregate, ToolRun, ToolRunQuery,
};

/// The DDL, in order, with `{db}` standing for the database name. Also read
/// by `scripts/check-clickhouse-sql-chdb.sh`.
pub const CLICKHOUSE_SQL: &[(&str, &str)] = &[
    ("01_database.sql", include_str!("sql/01_database.sql")),
    ("02_events.sql", include_str!("sql/02_events.sql")),
    ("03_sessions.sql", include_str!("sql/03_sessions.sql")),
    (
        "04_ingested_files.sql",
        include_str!("sql/04_ingested_files.sql"),
    ),
];

/// Rows per `INSERT` request.
const INSERT_BATCH: usize = 10_000;

/// A store in a ClickHouse database.
pub struct ClickHouseStore {
    url: String,
    db: String,
    agent: ureq::Agent,
}

/// A SQL string literal (ClickHouse escapes: backslash and quote).
fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn list(values: &[String]) -> String {
    values.iter().map(|v| lit(v)).collect::<Vec<_>>().join(", ")
}

/// A float literal ClickHouse parses (finite; non-finite filters become bounds).
fn float(f: f64) -> String {
    if f.is_finite() {
        format!("{f:?}")
    } else if f > 0.0 {
        "1e308".to_owned()
    } else {
        "-1e308".to_owned()
    }
}

/// A monotonic-enough version for `ReplacingMergeTree` (µs since epoch).
fn now_version() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Reads a JSON number that ClickHouse may quote (64-bit integers are strings
/// in JSON output by default).
fn num_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn num_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn num_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// The `WHERE` clause (over `sessions FINAL`) for a filter.
pub(crate) fn session_where(db: &str, filter: &SessionFilter) -> String {
    let mut c: Vec<String> = Vec::new();
    if !filter.session_ids.is_empty() {
        c.push(format!("session_id IN ({})", list(&filter.session_ids)));
    }
    if let Some(a) = &filter.agent {
        c.push(format!("agent_name = {}", lit(a)));
    }
    if let Some(n) = &filter.name_contains {
        let n = lit(&n.to_lowercase());
        c.push(format!(
            "(positionCaseInsensitiveUTF8(agent_name, {n}) > 0 OR positionCaseInsensitiveUTF8(task, {n}) > 0)"
        ));
    }
    if let Some(m) = &filter.model {
        c.push(format!("model = {}", lit(m)));
    }
    if let Some(s) = filter.status {
        c.push(format!("status = {}", lit(s.as_str())));
    }
    if let Some(t) = filter.since {
        c.push(format!(
            "has_started = 1 AND started_at >= {}",
            t.as_micros()
        ));
    }
    if let Some(t) = filter.until {
        c.push(format!(
            "has_started = 1 AND started_at < {}",
            t.as_micros()
        ));
    }
    if let Some(want) = filter.has_errors {
        c.push(format!("has_errors = {}", u8::from(want)));
    }
    if let Some(m) = filter.min_duration_ms {
        c.push(format!("has_duration = 1 AND duration_ms >= {}", float(m)));
    }
    if let Some(m) = filter.max_duration_ms {
        c.push(format!("has_duration = 1 AND duration_ms <= {}", float(m)));
    }
    // An unknown cost or token count is within no bound.
    if let Some(m) = filter.min_cost_usd {
        c.push(format!("has_cost = 1 AND cost_usd >= {}", float(m)));
    }
    if let Some(m) = filter.max_cost_usd {
        c.push(format!("has_cost = 1 AND cost_usd <= {}", float(m)));
    }
    if let Some(m) = filter.min_tokens {
        c.push(format!("has_tokens = 1 AND total_tokens >= {m}"));
    }
    if let Some(m) = filter.max_tokens {
        c.push(format!("has_tokens = 1 AND total_tokens <= {m}"));
    }
    for t in &filter.tools {
        c.push(format!("has(tools, {})", lit(t)));
    }
    for t in &filter.tags {
        c.push(format!("has(tags, {})", lit(t)));
    }
    for (k, v) in &filter.metadata {
        c.push(format!(
            "arrayExists((k, v) -> k = {} AND v = {}, meta_keys, meta_values)",
            lit(k),
            lit(v)
        ));
    }
    if let Some(text) = &filter.text {
        match text_condition(&text_terms(text)) {
            Some(cond) => c.push(format!(
                "session_id IN (SELECT session_id FROM {db}.events FINAL WHERE {cond})"
            )),
            None => c.push("0".to_owned()),
        }
    }
    if c.is_empty() {
        "1".to_owned()
    } else {
        c.join(" AND ")
    }
}

/// `arrayExists` over the token arrays: one text must hold every term.
fn text_condition(terms: &[TextTerm]) -> Option<String> {
    if terms.is_empty() {
        return None;
    }
    let parts: Vec<String> = terms
        .iter()
        .map(|t| {
            let needle = if t.prefix {
                format!(" {}", t.token)
            } else {
                format!(" {} ", t.token)
            };
            format!("position(t, {}) > 0", lit(&needle))
        })
        .collect();
    Some(format!("arrayExists(t -> {}, texts)", parts.join(" AND ")))
}

fn order_by(sort: SessionSort, descending: bool) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    // Sessions without a start sort first ascending, as `Option` does.
    let keys: &[&str] = match sort {
        SessionSort::StartedAt => &["has_started", "started_at"],
        SessionSort::Duration => &["if(has_duration = 1, duration_ms, -1.0)"],
        SessionSort::Cost => &["cost_usd"],
        SessionSort::Tokens => &["total_tokens"],
        SessionSort::Name => &["agent_name", "task"],
    };
    let mut parts: Vec<String> = keys.iter().map(|k| format!("{k} {dir}")).collect();
    // Unknown costs and token counts last in either direction.
    match sort {
        SessionSort::Cost => parts.insert(0, "has_cost DESC".to_owned()),
        SessionSort::Tokens => parts.insert(0, "has_tokens DESC".to_owned()),
        SessionSort::StartedAt | SessionSort::Duration | SessionSort::Name => {}
    }
    parts.push(format!("session_id {dir}"));
    parts.join(", ")
}

fn limit_sql(limit: Option<usize>, offset: usize) -> String {
    match limit {
        Some(l) => format!(" LIMIT {offset}, {l}"),
        // 18.16 returns nothing when offset + limit overflows: use a large, safe limit.
        None if offset > 0 => format!(" LIMIT {offset}, 1000000000000"),
        None => String::new(),
    }
}

/// The SQL of representative queries, for the chdb compatibility check.
pub fn sample_queries(db: &str) -> Vec<String> {
    let filter = SessionFilter {
        session_ids: vec!["s1".into()],
        agent: Some("coder".into()),
        name_contains: Some("Fix".into()),
        model: Some("gpt-5".into()),
        status: Some(loupe_model::SessionStatus::Completed),
        since: Some(Timestamp(1)),
        until: Some(Timestamp(2)),
        has_errors: Some(true),
        min_duration_ms: Some(1.0),
        max_duration_ms: Some(2.0),
        min_cost_usd: Some(0.1),
        max_cost_usd: Some(0.2),
        min_tokens: Some(1),
        max_tokens: Some(2),
        tools: vec!["bash".into()],
        tags: vec!["nightly".into()],
        metadata: vec![("user".into(), "o'brien".into())],
        text: Some("quota exce*".into()),
    };
    let mut event = Event::new("a", loupe_model::EventKind::ToolEnd, Timestamp(1), "s1")
        .with(loupe_model::keys::TOOL, "bash")
        .with(loupe_model::keys::RESULT, "linker failed: quota exceeded");
    event.duration_ms = Some(7.0);
    let mut row = SessionRow::new("s1");
    row.agent_name = Some("coder".into());
    row.tags = vec!["nightly".into()];
    row.metadata.insert("user".into(), Value::from("o'brien"));
    vec![
        format!("INSERT INTO {db}.events FORMAT JSONEachRow {}", event_row(&event, 1, 1)),
        format!("INSERT INTO {db}.sessions FORMAT JSONEachRow {}", session_row(&row, 1)),
        sessions_sql(
            db,
            &SessionQuery {
                filter: filter.clone(),
                sort: SessionSort::Name,
                descending: true,
                limit: Some(10),
                offset: 5,
            },
        ),
        events_sql(db, "s1", &EventQuery { since: Some(Timestamp(0)), until: Some(Timestamp(9)), offset: 1, limit: Some(3) }),
        tool_runs_sql(db, &ToolRunQuery { session_ids: vec!["s1".into()], tools: vec!["bash".into()], min_duration_ms: Some(5.0), success_only: true, limit: None, offset: 2 }),
        search_sql(db, &text_terms("linker fail*"), 10).unwrap_or_default(),
        format!("SELECT count() AS n FROM {db}.events FINAL WHERE session_id IN (SELECT session_id FROM {db}.sessions FINAL WHERE {})", session_where(db, &filter)),
        tool_stats_sql(db, &session_where(db, &filter)),
        activity_sql(db),
        known_events_sql(db, "s1", &["a".to_owned(), "b".to_owned()]),
        format!("SELECT state FROM {db}.ingested_files FINAL WHERE path = 'x'"),
        format!("SELECT count() AS n FROM system.mutations WHERE database = {} AND is_done = 0", lit(db)),
        format!("ALTER TABLE {db}.events DELETE WHERE session_id IN ('zz')"),
    ]
}

fn sessions_sql(db: &str, q: &SessionQuery) -> String {
    format!(
        "SELECT row_json FROM {db}.sessions FINAL WHERE {} ORDER BY {}{}",
        session_where(db, &q.filter),
        order_by(q.sort, q.descending),
        limit_sql(q.limit, q.offset)
    )
}

fn events_sql(db: &str, session_id: &str, q: &EventQuery) -> String {
    let mut w = format!("session_id = {}", lit(session_id));
    if let Some(t) = q.since {
        w.push_str(&format!(" AND ts_us >= {}", t.as_micros()));
    }
    if let Some(t) = q.until {
        w.push_str(&format!(" AND ts_us < {}", t.as_micros()));
    }
    format!(
        "SELECT body FROM {db}.events FINAL WHERE {w} ORDER BY ts_us, seq{}",
        limit_sql(q.limit, q.offset)
    )
}

fn tool_runs_sql(db: &str, q: &ToolRunQuery) -> String {
    let mut w = vec!["is_tool_run = 1".to_owned()];
    if !q.session_ids.is_empty() {
        w.push(format!("session_id IN ({})", list(&q.session_ids)));
    }
    if !q.tools.is_empty() {
        w.push(format!("tool IN ({})", list(&q.tools)));
    }
    if let Some(m) = q.min_duration_ms {
        w.push(format!("has_duration = 1 AND duration_ms >= {}", float(m)));
    }
    if q.success_only {
        w.push("tool_success = 1".to_owned());
    }
    format!(
        "SELECT body FROM {db}.events FINAL WHERE {} ORDER BY ts_us DESC, session_id, event_id{}",
        w.join(" AND "),
        limit_sql(q.limit, q.offset)
    )
}

fn search_sql(db: &str, terms: &[TextTerm], limit: usize) -> Option<String> {
    let cond = text_condition(terms)?;
    Some(format!(
        "SELECT session_id, event_id, kind, ts_us FROM {db}.events FINAL WHERE {cond} \
         ORDER BY ts_us DESC, session_id, event_id LIMIT {limit}"
    ))
}

fn tool_stats_sql(db: &str, session_where: &str) -> String {
    format!(
        "SELECT tool, count() AS runs, sum(1 - tool_success) AS failures, \
         sum(duration_ms * has_duration) AS dur_sum, sum(has_duration) AS dur_n \
         FROM {db}.events FINAL WHERE is_tool_run = 1 AND session_id IN \
         (SELECT session_id FROM {db}.sessions FINAL WHERE {session_where}) GROUP BY tool ORDER BY tool"
    )
}

fn activity_sql(db: &str) -> String {
    format!(
        "SELECT session_id, max(last) AS last, max(known) AS known FROM ( \
         SELECT session_id, max(ts_us) AS last, toUInt8(1) AS known FROM {db}.events FINAL GROUP BY session_id \
         UNION ALL \
         SELECT session_id, last_activity AS last, has_started AS known FROM {db}.sessions FINAL \
         ) GROUP BY session_id"
    )
}

impl ClickHouseStore {
    /// Connects to `url` (e.g. `http://127.0.0.1:8123`), creating the
    /// database and tables when missing.
    pub fn connect(url: &str, database: &str) -> StoreResult<ClickHouseStore> {
        let store = ClickHouseStore::client(url, database)?;
        store.create_schema()?;
        Ok(store)
    }

    /// Connects to an existing database of `url`, refusing one that does not
    /// exist rather than create it (commands that only read or delete: a
    /// mistyped name must not leave a new, empty database behind).
    pub fn connect_existing(url: &str, database: &str) -> StoreResult<ClickHouseStore> {
        let store = ClickHouseStore::client(url, database)?;
        let found = store.select(&format!(
            "SELECT name FROM system.databases WHERE name = {}",
            lit(database)
        ))?;
        if found.is_empty() {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                url,
                format!("no such database {database:?} (run `loupe ingest` first)"),
            ));
        }
        store.create_schema()?;
        Ok(store)
    }

    /// The HTTP client of `url` and `database`, checked but not yet used.
    fn client(url: &str, database: &str) -> StoreResult<ClickHouseStore> {
        if database.is_empty()
            || !database
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                url,
                format!("database name {database:?} must be ASCII letters, digits and _"),
            ));
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build();
        Ok(ClickHouseStore {
            url: url.trim_end_matches('/').to_owned(),
            db: database.to_owned(),
            agent,
        })
    }

    /// Creates the database and tables where missing, and adds the columns
    /// later versions added to tables an older Loupe created.
    fn create_schema(&self) -> StoreResult<()> {
        for (name, sql) in CLICKHOUSE_SQL {
            self.execute(&sql.replace("{db}", &self.db)).map_err(|e| {
                StoreError::new(
                    e.kind(),
                    &self.url,
                    format!("applying {name}: {}", e.reason()),
                )
            })?;
        }
        // Whether a session's cost and token count are known (they may not
        // be); rows stored before these columns count as known, as before.
        // 18.16 has no `ADD COLUMN IF NOT EXISTS`: look first.
        let present = self.select(&format!(
            "SELECT name FROM system.columns WHERE database = {} AND table = 'sessions'",
            lit(&self.db)
        ))?;
        for column in ["has_cost", "has_tokens"] {
            if !present
                .iter()
                .any(|r| r.get("name").and_then(Value::as_str) == Some(column))
            {
                let added = self.execute(&format!(
                    "ALTER TABLE {}.sessions ADD COLUMN {column} UInt8 DEFAULT 1",
                    self.db
                ));
                // Another process opening the store may have added it first.
                if let Err(e) = added {
                    if !e.reason().contains("already exists") {
                        return Err(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// Drops the database (tests).
    pub fn drop_database(&self) -> StoreResult<()> {
        self.execute(&format!("DROP DATABASE IF EXISTS {}", self.db))
    }

    fn error(&self, err: ureq::Error, doing: &str) -> StoreError {
        match err {
            ureq::Error::Status(code, response) => {
                let body = response.into_string().unwrap_or_default();
                let kind = if code == 503 || code == 429 {
                    StoreErrorKind::Unavailable
                } else {
                    StoreErrorKind::Backend
                };
                StoreError::new(
                    kind,
                    &self.url,
                    format!("{doing}: HTTP {code}: {}", body.trim()),
                )
            }
            ureq::Error::Transport(t) => {
                // ureq's own text repeats the URL this error is already about.
                let mut why = t.kind().to_string();
                if let Some(m) = t.message() {
                    why = format!("{why}: {m}");
                }
                if let Some(source) = std::error::Error::source(&t) {
                    why = format!("{why}: {source}");
                }
                StoreError::new(
                    StoreErrorKind::Unavailable,
                    &self.url,
                    format!("{doing}: {why}"),
                )
            }
        }
    }

    fn execute(&self, sql: &str) -> StoreResult<()> {
        self.agent
            .post(&format!("{}/", self.url))
            .send_string(sql)
            .map(|_| ())
            .map_err(|e| self.error(e, "executing SQL"))
    }

    fn select(&self, sql: &str) -> StoreResult<Vec<serde_json::Map<String, Value>>> {
        let body = self
            .agent
            .post(&format!("{}/", self.url))
            .send_string(&format!("{sql} FORMAT JSONEachRow"))
            .map_err(|e| self.error(e, "querying"))?
            .into_string()
            .map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Unavailable,
                    &self.url,
                    format!("reading a response: {e}"),
                )
            })?;
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| {
                    StoreError::new(
                        StoreErrorKind::Backend,
                        &self.url,
                        format!("bad response row: {e}"),
                    )
                })
            })
            .collect()
    }

    fn insert(&self, table: &str, rows: &[Value]) -> StoreResult<()> {
        for chunk in rows.chunks(INSERT_BATCH) {
            let mut body = String::new();
            for row in chunk {
                body.push_str(&row.to_string());
                body.push('\n');
            }
            self.agent
                .post(&format!("{}/", self.url))
                .query(
                    "query",
                    &format!("INSERT INTO {}.{table} FORMAT JSONEachRow", self.db),
                )
                .send_string(&body)
                .map_err(|e| self.error(e, &format!("inserting into {table}")))?;
        }
        Ok(())
    }

    fn rows_to_events(&self, rows: Vec<serde_json::Map<String, Value>>) -> StoreResult<Vec<Event>> {
        rows.into_iter()
            .map(|r| {
                let body = r.get("body").and_then(Value::as_str).unwrap_or("");
                serde_json::from_str(body).map_err(|e| {
                    StoreError::new(
                        StoreErrorKind::Backend,
                        &self.url,
                        format!("stored event unreadable: {e}"),
                    )
                })
            })
            .collect()
    }

    /// Waits until pending `ALTER ... DELETE` mutations of our tables finish
    /// (18.16 has no `mutations_sync`).
    fn wait_for_mutations(&self) -> StoreResult<()> {
        for _ in 0..600 {
            let rows = self.select(&format!(
                "SELECT count() AS n FROM system.mutations WHERE database = {} AND is_done = 0",
                lit(&self.db)
            ))?;
            let pending = rows
                .first()
                .and_then(|r| r.get("n"))
                .and_then(num_i64)
                .unwrap_or(0);
            if pending == 0 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            &self.url,
            "prune: deletions still running after 30 s",
        ))
    }
}

fn event_row(e: &Event, seq: u64, version: u64) -> Value {
    let run = tool_run(e);
    let texts: Vec<String> = searchable_texts(e)
        .into_iter()
        .map(|t| {
            let tokens = tokenize(t);
            format!(" {} ", tokens.join(" "))
        })
        .collect();
    let duration = e.duration_ms.filter(|d| d.is_finite());
    json!({
        "session_id": e.session_id,
        "ts_us": e.timestamp.as_micros(),
        "event_id": e.event_id,
        "seq": seq,
        "kind": e.kind.as_str(),
        "body": serde_json::to_string(e).unwrap_or_default(),
        "texts": texts,
        "is_tool_run": u8::from(run.is_some()),
        "tool": run.as_ref().map_or("", |r| r.tool.as_str()),
        "tool_success": u8::from(run.as_ref().is_some_and(|r| r.success)),
        "duration_ms": duration.unwrap_or(0.0),
        "has_duration": u8::from(duration.is_some()),
        "version": version,
    })
}

fn session_row(r: &SessionRow, version: u64) -> Value {
    let (keys, values): (Vec<String>, Vec<String>) = r
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), crate::metadata_value_text(v)))
        .unzip();
    let activity = r.ended_at.or(r.started_at);
    json!({
        "session_id": r.session_id,
        "agent_name": r.agent_name.as_deref().unwrap_or(""),
        "task": r.task.as_deref().unwrap_or(""),
        "model": r.model.as_deref().unwrap_or(""),
        "status": r.status.as_str(),
        "has_started": u8::from(r.started_at.is_some()),
        "started_at": r.started_at.map_or(0, Timestamp::as_micros),
        "last_activity": activity.map_or(0, Timestamp::as_micros),
        "has_duration": u8::from(r.duration_ms.is_some()),
        "duration_ms": r.duration_ms.unwrap_or(0.0),
        "has_cost": u8::from(r.metrics.cost_usd.is_some()),
        "cost_usd": r.metrics.cost_usd.unwrap_or(0.0),
        "has_tokens": u8::from(r.metrics.total_tokens().is_some()),
        "total_tokens": r.metrics.total_tokens().unwrap_or(0),
        "has_errors": u8::from(r.metrics.has_errors()),
        "tags": r.tags,
        "tools": r.tools,
        "meta_keys": keys,
        "meta_values": values,
        "row_json": serde_json::to_string(r).unwrap_or_default(),
        "version": version,
    })
}

/// Bits of an event row's `version` below its fullness: the append time in
/// µs (2^52 µs is 142 years after 1970).
const VERSION_TIME_BITS: u32 = 52;

/// An event row's `version`: the copy's [`Event::fullness`] + 1 above the
/// append time, so that of two rows of one event (same session, time and
/// id: one sort key) `ReplacingMergeTree` keeps the fuller, and of two
/// equally full ones the later. 0 above the time (rows written before this
/// encoding) means the fullness is unknown.
fn event_version(e: &Event, now: u64) -> u64 {
    let full = u64::try_from(e.fullness()).unwrap_or(u64::MAX).min(4_094) + 1;
    (full << VERSION_TIME_BITS) | (now & ((1 << VERSION_TIME_BITS) - 1))
}

/// The stored copies of a session's events `ids`, for deduplication.
fn known_events_sql(db: &str, session: &str, ids: &[String]) -> String {
    format!(
        "SELECT event_id, ts_us, seq, version FROM {db}.events FINAL \
         WHERE session_id = {} AND event_id IN ({})",
        lit(session),
        list(ids)
    )
}

/// A stored or appended copy of an event, for deduplication.
struct KnownCopy {
    ts_us: i64,
    seq: u64,
    /// `version >> VERSION_TIME_BITS`: fullness + 1, 0 when unknown.
    full: u64,
    /// Its row in this append, when it is one.
    row: Option<usize>,
}

impl Store for ClickHouseStore {
    fn append_events(&self, events: &[Event]) -> StoreResult<AppendOutcome> {
        // Which (session, event) ids exist already?
        let mut by_session: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for e in events {
            by_session
                .entry(&e.session_id)
                .or_default()
                .push(e.event_id.clone());
        }
        let mut known: HashMap<(String, String), KnownCopy> = HashMap::new();
        for (session, ids) in &by_session {
            for chunk in ids.chunks(5_000) {
                let rows = self.select(&known_events_sql(&self.db, session, chunk))?;
                for r in rows {
                    let Some(id) = r.get("event_id").and_then(Value::as_str) else {
                        continue;
                    };
                    let number = |key: &str| r.get(key).and_then(num_i64).unwrap_or(0);
                    let version = r.get("version").and_then(num_u64).unwrap_or(0);
                    known.insert(
                        ((*session).to_owned(), id.to_owned()),
                        KnownCopy {
                            ts_us: number("ts_us"),
                            seq: u64::try_from(number("seq")).unwrap_or(0),
                            full: version >> VERSION_TIME_BITS,
                            row: None,
                        },
                    );
                }
            }
        }
        let now = now_version();
        let mut outcome = AppendOutcome::default();
        let mut rows = Vec::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            let key = (e.session_id.clone(), e.event_id.clone());
            let version = event_version(e, now);
            let full = version >> VERSION_TIME_BITS;
            if let Some(copy) = known.get_mut(&key) {
                outcome.duplicates += 1;
                // A fuller copy of the same time replaces the first in its
                // place (same sort key and seq, higher version), as
                // `loupe view` keeps the fuller copy of an event read twice.
                let same_time = copy.ts_us == e.timestamp.as_micros();
                if same_time && copy.full != 0 && full > copy.full {
                    let row = event_row(e, copy.seq, version);
                    match copy.row {
                        Some(at) => rows[at] = row,
                        None => {
                            copy.row = Some(rows.len());
                            rows.push(row);
                        }
                    }
                    copy.full = full;
                }
                continue;
            }
            outcome.inserted += 1;
            let seq = now.saturating_mul(1024).saturating_add(i as u64);
            known.insert(
                key,
                KnownCopy {
                    ts_us: e.timestamp.as_micros(),
                    seq,
                    full,
                    row: Some(rows.len()),
                },
            );
            rows.push(event_row(e, seq, version));
        }
        self.insert("events", &rows)?;
        Ok(outcome)
    }

    fn upsert_sessions(&self, rows: &[SessionRow]) -> StoreResult<()> {
        let version = now_version();
        let values: Vec<Value> = rows.iter().map(|r| session_row(r, version)).collect();
        self.insert("sessions", &values)
    }

    fn sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRow>> {
        let rows = self.select(&sessions_sql(&self.db, query))?;
        rows.into_iter()
            .map(|r| {
                let json = r.get("row_json").and_then(Value::as_str).unwrap_or("");
                serde_json::from_str(json).map_err(|e| {
                    StoreError::new(
                        StoreErrorKind::Backend,
                        &self.url,
                        format!("stored session unreadable: {e}"),
                    )
                })
            })
            .collect()
    }

    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRow>> {
        let q = SessionQuery {
            filter: SessionFilter {
                session_ids: vec![session_id.to_owned()],
                ..Default::default()
            },
            ..Default::default()
        };
        Ok(self.sessions(&q)?.into_iter().next())
    }

    fn session_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        // `substring` counts bytes, as `prefix.len()` does (ClickHouse
        // 18.16 has no `startsWith`).
        let sql = format!(
            "SELECT DISTINCT session_id FROM {db}.sessions FINAL WHERE substring(session_id, 1, {n}) = {p} ORDER BY session_id LIMIT {limit}",
            db = self.db,
            n = prefix.len(),
            p = lit(prefix),
        );
        Ok(self
            .select(&sql)?
            .iter()
            .filter_map(|r| {
                r.get("session_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .collect())
    }

    fn events(&self, session_id: &str, query: &EventQuery) -> StoreResult<Vec<Event>> {
        let rows = self.select(&events_sql(&self.db, session_id, query))?;
        self.rows_to_events(rows)
    }

    fn tool_runs(&self, query: &ToolRunQuery) -> StoreResult<Vec<ToolRun>> {
        let rows = self.select(&tool_runs_sql(&self.db, query))?;
        Ok(self
            .rows_to_events(rows)?
            .iter()
            .filter_map(tool_run)
            .collect())
    }

    fn search(&self, text: &str, limit: usize) -> StoreResult<Vec<SearchHit>> {
        let Some(sql) = search_sql(&self.db, &text_terms(text), limit) else {
            return Ok(Vec::new());
        };
        Ok(self
            .select(&sql)?
            .into_iter()
            .map(|r| SearchHit {
                session_id: r
                    .get("session_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                event_id: r
                    .get("event_id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                kind: r
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                timestamp: Timestamp(r.get("ts_us").and_then(num_i64).unwrap_or(0)),
            })
            .collect())
    }

    fn stats(&self, filter: &SessionFilter) -> StoreResult<StoreStats> {
        let rows = self.sessions(&SessionQuery {
            filter: filter.clone(),
            ..Default::default()
        })?;
        let mut stats = StoreStats::default();
        let mut by_model: BTreeMap<String, ModelStats> = BTreeMap::new();
        for row in &rows {
            stats.sessions += 1;
            add_metrics(&mut stats.totals, &row.metrics);
            row.add_to_models(&mut by_model);
        }
        finish_totals(&mut stats.totals);
        stats.by_model = by_model.into_values().collect();
        let w = session_where(&self.db, filter);
        let count = self.select(&format!(
            "SELECT count() AS n FROM {db}.events FINAL WHERE session_id IN (SELECT session_id FROM {db}.sessions FINAL WHERE {w})",
            db = self.db
        ))?;
        stats.events = count
            .first()
            .and_then(|r| r.get("n"))
            .and_then(num_i64)
            .unwrap_or(0)
            .max(0) as u64;
        stats.by_tool = self
            .select(&tool_stats_sql(&self.db, &w))?
            .into_iter()
            .map(|r| {
                let n = r.get("dur_n").and_then(num_f64).unwrap_or(0.0);
                let sum = r.get("dur_sum").and_then(num_f64).unwrap_or(0.0);
                ToolAggregate {
                    tool: r
                        .get("tool")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    runs: r.get("runs").and_then(num_i64).unwrap_or(0).max(0) as u64,
                    failures: r.get("failures").and_then(num_i64).unwrap_or(0).max(0) as u64,
                    avg_duration_ms: if n > 0.0 { sum / n } else { 0.0 },
                }
            })
            .collect();
        Ok(stats)
    }

    fn sessions_by_activity(&self) -> StoreResult<Vec<(Option<Timestamp>, String)>> {
        let sessions: Vec<(Option<Timestamp>, String)> = self
            .select(&activity_sql(&self.db))?
            .into_iter()
            .map(|r| {
                let known = r.get("known").and_then(num_i64).unwrap_or(0) == 1;
                let last = r
                    .get("last")
                    .and_then(num_i64)
                    .filter(|_| known)
                    .map(Timestamp);
                (
                    last,
                    r.get("session_id")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                )
            })
            .collect();
        Ok(sessions)
    }

    fn prune(&self, policy: &RetentionPolicy) -> StoreResult<PruneOutcome> {
        let mut sessions = self.sessions_by_activity()?;
        let doomed = sessions_to_prune(&mut sessions, policy);
        self.delete_sessions(&doomed)
    }

    fn delete_sessions(&self, ids: &[String]) -> StoreResult<PruneOutcome> {
        let mut outcome = PruneOutcome::default();
        // Only ids stored (as a summary or as events) are reported deleted.
        let mut stored = std::collections::HashSet::new();
        for chunk in ids.chunks(1_000) {
            let ids = list(chunk);
            for table in ["sessions", "events"] {
                for row in self.select(&format!(
                    "SELECT DISTINCT session_id FROM {}.{table} FINAL WHERE session_id IN ({ids})",
                    self.db
                ))? {
                    if let Some(id) = row.get("session_id").and_then(Value::as_str) {
                        stored.insert(id.to_owned());
                    }
                }
            }
        }
        let doomed: Vec<String> = ids
            .iter()
            .filter(|id| stored.contains(*id))
            .cloned()
            .collect();
        if doomed.is_empty() {
            return Ok(outcome);
        }
        for chunk in doomed.chunks(1_000) {
            let ids = list(chunk);
            let count = self.select(&format!(
                "SELECT count() AS n FROM {}.events FINAL WHERE session_id IN ({ids})",
                self.db
            ))?;
            outcome.events += count
                .first()
                .and_then(|r| r.get("n"))
                .and_then(num_i64)
                .unwrap_or(0)
                .max(0) as u64;
            self.execute(&format!(
                "ALTER TABLE {}.events DELETE WHERE session_id IN ({ids})",
                self.db
            ))?;
            self.execute(&format!(
                "ALTER TABLE {}.sessions DELETE WHERE session_id IN ({ids})",
                self.db
            ))?;
        }
        self.wait_for_mutations()?;
        outcome.sessions = doomed;
        Ok(outcome)
    }

    fn ingested_file(&self, path: &str) -> StoreResult<Option<IngestedFile>> {
        let rows = self.select(&format!(
            "SELECT state FROM {}.ingested_files FINAL WHERE path = {}",
            self.db,
            lit(path)
        ))?;
        rows.first()
            .and_then(|r| r.get("state").and_then(Value::as_str))
            .map(|s| {
                serde_json::from_str(s).map_err(|e| {
                    StoreError::new(
                        StoreErrorKind::Backend,
                        &self.url,
                        format!("stored ingest state unreadable: {e}"),
                    )
                })
            })
            .transpose()
    }

    fn record_ingested_file(&self, file: &IngestedFile) -> StoreResult<()> {
        let state = serde_json::to_string(file).unwrap_or_default();
        self.insert(
            "ingested_files",
            &[json!({"path": file.path, "state": state, "version": now_version()})],
        )
    }
}
