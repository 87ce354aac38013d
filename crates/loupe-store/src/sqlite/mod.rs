//! The SQLite backend, Loupe's default store: one file in WAL mode.
//!
//! Durability: `synchronous = NORMAL` in WAL mode means a committed batch
//! survives the process being killed (the WAL is in the OS page cache); only
//! a power loss or OS crash can lose the last commits, never corrupt the file.
//! Each [`Store::append_events`] call is one `BEGIN IMMEDIATE` transaction, so
//! a killed ingest loses at most the batch it was writing, and a second
//! writer waits (up to the busy timeout) instead of failing.

mod blocks;
mod codec;
mod filter;
mod schema;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use loupe_model::{Event, EventKind, Timestamp};
use rusqlite::types::Value as SqlValue;
use rusqlite::{
    params, params_from_iter, CachedStatement, Connection, ErrorCode, OpenFlags, OptionalExtension,
};

pub use schema::{READABLE_SCHEMA_VERSION, SCHEMA_VERSION};

use crate::derive::tool_run;
use crate::memory::{add_metrics, finish_totals};
use crate::query::sessions_to_prune;
use crate::{
    AppendOutcome, EventQuery, IngestedFile, ModelStats, PruneOutcome, RetentionPolicy, SearchHit,
    SessionFilter, SessionQuery, SessionRow, Store, StoreError, StoreErrorKind, StoreResult,
    StoreStats, ToolAggregate, ToolRun, ToolRunQuery,
};
use codec::{
    body_fullness, content_hash, decode_event, encode_body, referenced_contents, Columns,
    DecodeError,
};

/// Where `loupe ingest`, `query` and `serve` keep their store by default.
pub const DEFAULT_DB_PATH: &str = ".loupe/loupe.db";

/// How long a writer waits for another process's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// Page cache of the writer connection (negative: KiB), 256 MiB.
const WRITER_CACHE_KIB: i64 = -262_144;

/// Read connections kept open between queries.
const MAX_IDLE_READERS: usize = 4;

/// Maps a SQLite error to a [`StoreError`] naming the file and the operation.
pub(crate) fn map_err(err: rusqlite::Error, path: &str, doing: &str) -> StoreError {
    let kind = match err.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StoreErrorKind::NotADatabase,
        Some(ErrorCode::DatabaseCorrupt) => StoreErrorKind::Corrupt,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreErrorKind::Busy,
        Some(
            ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::ReadOnly
            | ErrorCode::PermissionDenied,
        ) => StoreErrorKind::Io,
        _ => StoreErrorKind::Backend,
    };
    let reason = match kind {
        StoreErrorKind::NotADatabase => {
            format!("{doing}: the file is not a SQLite database (is it a Loupe store?): {err}")
        }
        StoreErrorKind::Corrupt => format!("{doing}: the database is corrupt: {err}"),
        _ => format!("{doing}: {err}"),
    };
    StoreError::new(kind, path, reason)
}

/// The writer's per-connection state.
struct Writer {
    conn: Connection,
    body: Vec<u8>,
    /// Content hash → id, kept across batches (repeated text is the common
    /// case); dropped when a prune (any process) bumps the generation, when
    /// a batch fails, or when it grows past [`MAX_CACHED_CONTENTS`].
    contents: ContentCache,
    /// Event-id keys of recently written sessions: appends deduplicate here
    /// rather than through an index. Dropped with the content cache.
    ids: IdCache,
    generation: i64,
}

/// The writer's dedup keys per session (by `sid`).
type IdCache = HashMap<i64, SessionIds, IdBuildHasher>;

/// One session's stored event-id keys ([`blocks::id_key`]), each with the
/// [`Event::fullness`] of the copy stored, so that a duplicate is checked
/// against the stored copy only when it may be fuller. `events` is the
/// session's stored event count the set matches: when another process has
/// appended to the session since, the counts differ and the set is reloaded
/// from the session's blocks.
struct SessionIds {
    events: i64,
    keys: StoredIds,
}

/// Event-id keys → the stored copy's fullness (saturated to `u32`).
type StoredIds = HashMap<blocks::IdKey, u32, IdBuildHasher>;

/// An event's [`Event::fullness`] as the writer's caches keep it.
fn fullness_u32(fullness: usize) -> u32 {
    u32::try_from(fullness).unwrap_or(u32::MAX)
}

/// Bound on the keys the writer keeps (about 40 MB).
const MAX_CACHED_IDS: usize = 1 << 21;

/// The writer's content-id cache.
type ContentCache = HashMap<ContentKey, i64, IdBuildHasher>;

/// Bound on the writer's content-id cache.
const MAX_CACHED_CONTENTS: usize = 1 << 20;

/// A store in one SQLite file. Cheap to share across threads (`&self` methods):
/// one writer connection, a small pool of read connections.
pub struct SqliteStore {
    path: PathBuf,
    label: String,
    access: Access,
    writer: Mutex<Writer>,
    readers: Mutex<Vec<Connection>>,
    checkpointer: Option<Checkpointer>,
}

/// WAL pages after which the writer checkpoints by itself, when the
/// checkpoint thread is missing or has fallen behind (64 MiB of 4 KiB pages).
const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

/// Least time between two checkpoints of the checkpoint thread.
const CHECKPOINT_SPACING: Duration = Duration::from_millis(250);

/// Copies the WAL back into the database file on its own thread and
/// connection after appends (at most every [`CHECKPOINT_SPACING`]), so the writer does not spend a tenth of its
/// time (and the fsyncs) on it. Stops when dropped.
struct Checkpointer {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(path: &Path, label: &str) -> Option<Checkpointer> {
        let conn = open_connection(path, label, Access::ReadWrite).ok()?;
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("loupe-checkpoint".to_owned())
            .spawn(move || {
                let mut due = woken.recv().is_ok();
                while due {
                    // PASSIVE never waits for readers or the writer; a failed
                    // checkpoint is retried at the next wake-up, and the
                    // writer's own backstop bounds the WAL meanwhile.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    // Wake-ups during the spacing coalesce into the next
                    // checkpoint: a page that many small commits rewrite is
                    // copied once per spacing, not once per commit. Dropping
                    // the store ends the wait at once.
                    let until = Instant::now() + CHECKPOINT_SPACING;
                    due = false;
                    loop {
                        let left = until.saturating_duration_since(Instant::now());
                        match woken.recv_timeout(left) {
                            Ok(()) => due = true,
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    due = due || woken.recv().is_ok();
                }
            })
            .ok()?;
        Some(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    fn wake(&self) {
        if let Some(wake) = &self.wake {
            // Full means a checkpoint is already pending: nothing to add.
            let _ = wake.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) a store. A file that is not a database, a
    /// SQLite database of another application, or one from a newer Loupe is
    /// refused with one clear error and left untouched.
    pub fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let label = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::new(
                    StoreErrorKind::Io,
                    parent.display().to_string(),
                    format!("creating the store's directory: {e}"),
                )
            })?;
        }
        let mut conn = open_in_wal_mode(&path, &label)?;
        // The writer touches random pages of the content-hash and dedup
        // indexes; a larger cache keeps big ingests off the disk.
        conn.pragma_update(None, "cache_size", WRITER_CACHE_KIB)
            .map_err(|e| map_err(e, &label, "sizing the page cache"))?;
        schema::migrate(&mut conn, &label)?;
        let checkpointer = Checkpointer::start(&path, &label);
        if checkpointer.is_some() {
            conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)
                .map_err(|e| map_err(e, &label, "setting the checkpoint interval"))?;
        }
        Ok(SqliteStore {
            path,
            label,
            access: Access::ReadWrite,
            writer: Mutex::new(Writer {
                conn,
                body: Vec::with_capacity(4096),
                contents: ContentCache::default(),
                ids: IdCache::default(),
                generation: -1,
            }),
            readers: Mutex::new(Vec::new()),
            checkpointer,
        })
    }

    /// Opens an existing, current store for reading only: no lock is taken,
    /// nothing is written (not even the WAL switch), so it works beside a
    /// writer holding its transaction and on a store in a directory this
    /// process cannot write. Writes through it fail. A missing file, an
    /// empty database or one older than [`READABLE_SCHEMA_VERSION`] (it
    /// needs [`SqliteStore::open`] to upgrade it) is refused.
    pub fn open_read_only(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        let path = path.as_ref().to_path_buf();
        let label = path.display().to_string();
        if !path.is_file() {
            return Err(StoreError::new(
                StoreErrorKind::Io,
                &label,
                "no such store (run `loupe ingest` first)",
            ));
        }
        let open = |access| {
            let conn = open_connection(&path, &label, access)?;
            let fresh = schema::check_identity(&conn, &label)?;
            Ok::<_, StoreError>((conn, fresh))
        };
        let (conn, access) = match open(Access::ReadOnly) {
            Ok((conn, fresh)) => ((conn, fresh), Access::ReadOnly),
            // A WAL reader needs the -shm file, which a directory this
            // process cannot write does not let it create. With no WAL
            // content no writer is at work (it would have had to create
            // the WAL there), so the file can be read as immutable.
            Err(e) if wal_is_empty(&path) => match open(Access::Immutable) {
                Ok(opened) => (opened, Access::Immutable),
                Err(_) => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let (conn, fresh) = conn;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| map_err(e, &label, "reading the schema version"))?;
        if fresh || version < READABLE_SCHEMA_VERSION {
            return Err(StoreError::new(
                StoreErrorKind::InvalidInput,
                &label,
                format!(
                    "schema version {version} is older than this Loupe reads ({READABLE_SCHEMA_VERSION}): it must be opened for writing to be upgraded"
                ),
            ));
        }
        Ok(SqliteStore {
            path,
            label,
            access,
            writer: Mutex::new(Writer {
                conn,
                body: Vec::new(),
                contents: ContentCache::default(),
                ids: IdCache::default(),
                generation: -1,
            }),
            readers: Mutex::new(Vec::new()),
            checkpointer: None,
        })
    }

    /// The schema version of an existing Loupe store, read without changing
    /// anything; `None` for a missing file or one that is not a Loupe store
    /// (opening it gives the error). Lets a caller say beforehand that
    /// [`SqliteStore::open`] will migrate the store, which rewrites a big
    /// store's events once.
    pub fn stored_schema_version(path: impl AsRef<Path>) -> Option<i64> {
        let path = path.as_ref();
        if !path.is_file() {
            return None;
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .ok()?;
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .ok()?;
        if app_id != schema::APPLICATION_ID {
            return None;
        }
        conn.query_row("PRAGMA user_version", [], |r| r.get(0)).ok()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `PRAGMA integrity_check` (reads the whole file: slow on big
    /// stores) and returns its messages; `["ok"]` when healthy.
    pub fn integrity_check(&self) -> StoreResult<Vec<String>> {
        self.read(
            |conn| {
                let mut stmt = conn.prepare("PRAGMA integrity_check")?;
                let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
                rows.collect()
            },
            "checking integrity",
        )
    }

    /// Number of stored events (all sessions).
    pub fn event_count(&self) -> StoreResult<u64> {
        self.read(
            |conn| {
                conn.query_row(
                    "SELECT coalesce(sum(events), 0) FROM event_blocks",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            },
            "counting events",
        )
        .map(|n| n.max(0) as u64)
    }

    /// Writes the WAL back into the main file (`PRAGMA wal_checkpoint(TRUNCATE)`),
    /// e.g. before measuring the file size.
    pub fn checkpoint(&self) -> StoreResult<()> {
        let writer = self.lock_writer()?;
        writer
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| map_err(e, &self.label, "checkpointing the WAL"))
    }

    fn lock_writer(&self) -> StoreResult<MutexGuard<'_, Writer>> {
        self.writer.lock().map_err(|_| poisoned(&self.label))
    }

    /// Runs a read on a pooled connection.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
        doing: &str,
    ) -> StoreResult<T> {
        let pooled = self
            .readers
            .lock()
            .map_err(|_| poisoned(&self.label))?
            .pop();
        let conn = match pooled {
            Some(c) => c,
            None => open_connection(&self.path, &self.label, self.access)?,
        };
        let result = f(&conn).map_err(|e| map_err(e, &self.label, doing));
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < MAX_IDLE_READERS {
                pool.push(conn);
            }
        }
        result
    }
}

/// Opens the writer's connection, checks the file is a Loupe store (or new)
/// and switches it to WAL. Two processes creating the same store race on
/// that switch, and SQLite answers the loser "locked" at once rather than
/// call the busy handler (waiting could deadlock both), so the loser retries
/// with fresh locks until the busy timeout.
fn open_in_wal_mode(path: &Path, label: &str) -> StoreResult<Connection> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let attempt = open_connection(path, label, Access::ReadWrite).and_then(|conn| {
            schema::check_identity(&conn, label)?;
            // Only now, with the file known to be ours (or new), change anything.
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(|e| map_err(e, label, "switching to WAL mode"))?;
            Ok(conn)
        });
        match attempt {
            Err(e) if e.kind() == StoreErrorKind::Busy && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn poisoned(label: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Backend,
        label,
        "a thread panicked while holding the store lock",
    )
}

/// How a store's connections open its file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Access {
    /// Reads and writes, creating the file if missing.
    ReadWrite,
    /// `SQLITE_OPEN_READ_ONLY`: a WAL reader like any other, never a writer.
    ReadOnly,
    /// Read-only with `immutable=1`: no locks and no -shm, for a store in a
    /// directory this process cannot write and whose WAL is empty.
    Immutable,
}

/// Whether the store's WAL file is missing or empty (all of it is in the
/// main file).
fn wal_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(Path::new(&wal)).map_or(true, |m| m.len() == 0)
}

/// `path` as a `file:` URI with `immutable=1` (characters a URI gives a
/// meaning to are percent-encoded).
fn immutable_uri(path: &Path) -> Option<String> {
    let absolute = std::path::absolute(path).ok()?;
    let text = absolute.to_str()?;
    let mut uri = String::from("file:");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.' | b'~') {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    Some(uri)
}

fn open_connection(path: &Path, label: &str, access: Access) -> StoreResult<Connection> {
    let read_only = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let opened = match access {
        Access::ReadWrite => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        ),
        Access::ReadOnly => Connection::open_with_flags(path, read_only),
        Access::Immutable => match immutable_uri(path) {
            Some(uri) => Connection::open_with_flags(uri, read_only),
            None => Connection::open_with_flags(path, read_only),
        },
    };
    let conn = opened.map_err(|e| map_err(e, label, "opening"))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| map_err(e, label, "setting the busy timeout"))?;
    conn.execute_batch(
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; \
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(|e| map_err(e, label, "setting pragmas"))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Hashes keys that are already well mixed (content hashes) or small ids
/// with one multiplication: SipHash showed in the writer's profile.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn write_u128(&mut self, n: u128) {
        // Event-id keys are BLAKE3 output: either half is already uniform.
        self.write_u64(n as u64);
    }
}

type IdBuildHasher = BuildHasherDefault<IdHasher>;

/// A content hash as a map key: hashed by its first eight bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct ContentKey([u8; 16]);

impl std::hash::Hash for ContentKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(head));
    }
}

/// The statements of one append, prepared once per batch rather than looked
/// up in the statement cache for every row.
struct AppendStatements<'c> {
    insert_block: CachedStatement<'c>,
    insert_link: CachedStatement<'c>,
    insert_tool_run: CachedStatement<'c>,
    insert_content: CachedStatement<'c>,
    find_content: CachedStatement<'c>,
    mark_searchable: CachedStatement<'c>,
    index_text: CachedStatement<'c>,
}

impl<'c> AppendStatements<'c> {
    fn prepare(tx: &'c rusqlite::Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(AppendStatements {
            insert_block: tx.prepare_cached(
                "INSERT INTO event_blocks(sid, first_ts, last_ts, events, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            insert_link: tx
                .prepare_cached("INSERT INTO recent_texts(content_id, block_id) VALUES (?1, ?2)")?,
            insert_tool_run: tx.prepare_cached(
                "INSERT INTO tool_runs(sid, event_id, tool, ts_us, duration_ms, success, iteration) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?,
            insert_content: tx.prepare_cached(
                "INSERT INTO contents(hash, searchable, text) VALUES (?1, 1, ?2) \
                 ON CONFLICT(hash) DO NOTHING",
            )?,
            find_content: tx.prepare_cached("SELECT id, searchable FROM contents WHERE hash = ?1")?,
            mark_searchable: tx.prepare_cached("UPDATE contents SET searchable = 1 WHERE id = ?1")?,
            index_text: tx
                .prepare_cached("INSERT INTO contents_fts(rowid, text) VALUES (?1, ?2)")?,
        })
    }

    /// Indexes `event` of session `sid` as a tool run, when it ends one.
    fn add_tool_run(&mut self, sid: i64, event: &Event) -> rusqlite::Result<()> {
        if let Some(run) = tool_run(event) {
            self.insert_tool_run.execute(params![
                sid,
                event.event_id,
                run.tool,
                run.timestamp.as_micros(),
                run.duration_ms,
                run.success,
                run.iteration
            ])?;
        }
        Ok(())
    }
}

/// Interns a searchable text in `contents` and the FTS index and returns its
/// id; `cache` (kept across batches) skips the database for known texts.
fn intern(
    tx: &rusqlite::Transaction<'_>,
    stmts: &mut AppendStatements<'_>,
    cache: &mut ContentCache,
    text: &str,
) -> rusqlite::Result<i64> {
    let hash = ContentKey(content_hash(text));
    if let Some(&id) = cache.get(&hash) {
        return Ok(id);
    }
    // Insert first: a text missing from the cache is usually new, and the
    // unique index on `hash` does the lookup anyway.
    let id = if stmts.insert_content.execute(params![&hash.0[..], text])? == 1 {
        let id = tx.last_insert_rowid();
        stmts.index_text.execute(params![id, text])?;
        id
    } else {
        let (id, searchable): (i64, bool) = stmts
            .find_content
            .query_row([&hash.0[..]], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if !searchable {
            // Stored by a schema-1 writer as a non-indexed text.
            stmts.mark_searchable.execute([id])?;
            stmts.index_text.execute(params![id, text])?;
        }
        id
    };
    cache.insert(hash, id);
    Ok(id)
}

/// Loads the event-id keys of a session's stored events and their copies'
/// fullness. A malformed block contributes the entries before the damage
/// (reads report it as corrupt); a malformed body counts as full, so that
/// nothing replaces it.
fn load_ids(tx: &rusqlite::Transaction<'_>, sid: i64) -> rusqlite::Result<StoredIds> {
    let mut keys = StoredIds::default();
    let mut stmt = tx.prepare_cached("SELECT body FROM event_blocks WHERE sid = ?1")?;
    let mut rows = stmt.query([sid])?;
    while let Some(r) = rows.next()? {
        if let rusqlite::types::ValueRef::Blob(bytes) = r.get_ref(0)? {
            for entry in blocks::entries(bytes).map_while(Result::ok) {
                let fullness = body_fullness(entry.body).unwrap_or(usize::MAX);
                keys.insert(blocks::id_key(entry.event_id), fullness_u32(fullness));
            }
        }
    }
    Ok(keys)
}

fn append_in(
    tx: &rusqlite::Transaction<'_>,
    events: &[Event],
    body: &mut Vec<u8>,
    cache: &mut ContentCache,
    ids: &mut IdCache,
    generation: &mut i64,
) -> rusqlite::Result<AppendOutcome> {
    let current: i64 = tx
        .prepare_cached("SELECT value FROM store_meta WHERE key = 'prune_generation'")?
        .query_row([], |r| r.get(0))?;
    if current != *generation || cache.len() > MAX_CACHED_CONTENTS {
        cache.clear();
        ids.clear();
        *generation = current;
    }
    if ids.values().map(|s| s.keys.len()).sum::<usize>() > MAX_CACHED_IDS {
        ids.clear();
    }
    // One session-key upsert per session per batch, widening its time range.
    let mut ranges: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for e in events {
        let ts = e.timestamp.as_micros();
        let r = ranges.entry(e.session_id.as_str()).or_insert((ts, ts));
        r.0 = r.0.min(ts);
        r.1 = r.1.max(ts);
    }
    let mut sids: HashMap<&str, i64> = HashMap::with_capacity(ranges.len());
    for (session_id, (first, last)) in ranges {
        let (sid, stored) = upsert_session_key(tx, session_id, Some(first), Some(last))?;
        sids.insert(session_id, sid);
        let fresh = ids.get(&sid).is_some_and(|s| s.events == stored);
        if !fresh {
            let keys = if stored == 0 {
                StoredIds::default()
            } else {
                load_ids(tx, sid)?
            };
            ids.insert(
                sid,
                SessionIds {
                    events: stored,
                    keys,
                },
            );
        }
    }
    let mut stmts = AppendStatements::prepare(tx)?;
    let mut outcome = AppendOutcome::default();
    let mut content_ids: Vec<i64> = Vec::new();
    // (content id, block id) for the whole batch, inserted in key order at
    // the end so the link index is written sequentially.
    let mut links: Vec<(i64, i64)> = Vec::new();
    // Open blocks by sid (events of sessions may interleave in a batch).
    let mut open: BTreeMap<i64, blocks::BlockBuilder> = BTreeMap::new();
    let mut added: HashMap<i64, i64, IdBuildHasher> = HashMap::default();
    // Batches come grouped by session: look the sid up only when it changes.
    let mut last: Option<(&str, i64)> = None;
    // Duplicates that may be fuller than their stored copy, replaced once
    // the batch's blocks are written (the copy may be in one of them).
    let mut fuller: Vec<(i64, &Event)> = Vec::new();
    for e in events {
        let sid = match last {
            Some((session_id, sid)) if session_id == e.session_id => sid,
            _ => {
                let Some(&sid) = sids.get(e.session_id.as_str()) else {
                    continue; // every session got a key above
                };
                last = Some((e.session_id.as_str(), sid));
                sid
            }
        };
        let Some(seen) = ids.get_mut(&sid) else {
            continue; // every session got a key set above
        };
        match seen.keys.entry(blocks::id_key(&e.event_id)) {
            Entry::Vacant(new) => {
                new.insert(fullness_u32(e.fullness()));
            }
            Entry::Occupied(stored) => {
                outcome.duplicates += 1;
                if fullness_u32(e.fullness()) > *stored.get() {
                    fuller.push((sid, e));
                }
                continue;
            }
        }
        content_ids.clear();
        encode_body(e, body, &mut |text| {
            let id = intern(tx, &mut stmts, cache, text)?;
            content_ids.push(id);
            Ok::<i64, rusqlite::Error>(id)
        })?;
        let block = open.entry(sid).or_default();
        block.push(&blocks::RawEntry::of(e, body), &content_ids);
        if block.is_full() {
            block.flush(sid, &mut stmts.insert_block, &mut links)?;
        }
        outcome.inserted += 1;
        *added.entry(sid).or_default() += 1;
        stmts.add_tool_run(sid, e)?;
    }
    for (sid, block) in &mut open {
        block.flush(*sid, &mut stmts.insert_block, &mut links)?;
    }
    for (sid, e) in fuller {
        if replace_stored(tx, &mut stmts, cache, sid, e, body, &mut links)? {
            if let Some(seen) = ids.get_mut(&sid) {
                seen.keys
                    .insert(blocks::id_key(&e.event_id), fullness_u32(e.fullness()));
            }
        }
    }
    links.sort_unstable();
    // A replaced entry may link a text another replacement in its block did.
    links.dedup();
    for &(cid, block_id) in &links {
        stmts.insert_link.execute(params![cid, block_id])?;
    }
    drop(stmts);
    merge_recent_texts(tx, links.len(), MIN_RECENT_LINKS)?;
    let mut count =
        tx.prepare_cached("UPDATE session_keys SET events = events + ?2 WHERE sid = ?1")?;
    for (sid, n) in added {
        count.execute(params![sid, n])?;
        if let Some(seen) = ids.get_mut(&sid) {
            seen.events += n;
        }
    }
    Ok(outcome)
}

/// Replaces the stored copy of `event` (same session, event id and time)
/// with `event` in its place when `event` is fuller
/// ([`Event::is_fuller_than`], the stored copy's fullness read from its
/// body), as `loupe view` keeps the fuller copy of an event read twice;
/// returns whether it did. A copy of another time stays as it is. Queues
/// links for the texts only the new copy uses and rewrites its tool run.
fn replace_stored(
    tx: &rusqlite::Transaction<'_>,
    stmts: &mut AppendStatements<'_>,
    cache: &mut ContentCache,
    sid: i64,
    event: &Event,
    body: &mut Vec<u8>,
    links: &mut Vec<(i64, i64)>,
) -> rusqlite::Result<bool> {
    let ts = event.timestamp.as_micros();
    let mut found = None;
    {
        let mut blocks_at = tx.prepare_cached(
            "SELECT body, id FROM event_blocks WHERE sid = ?1 AND first_ts <= ?2 AND last_ts >= ?2",
        )?;
        let mut rows = blocks_at.query(params![sid, ts])?;
        'blocks: while let Some(r) = rows.next()? {
            let bytes = block_bytes(r)?;
            let mut walk = blocks::entries(bytes);
            loop {
                let start = walk.position();
                let Some(Ok(entry)) = walk.next() else {
                    break;
                };
                if entry.ts_us == ts && entry.event_id == event.event_id {
                    let stored = body_fullness(entry.body).unwrap_or(usize::MAX);
                    if event.fullness() > stored {
                        let block_id: i64 = r.get(1)?;
                        found = Some((block_id, bytes.to_vec(), start..walk.position()));
                    }
                    break 'blocks;
                }
            }
        }
    }
    let Some((block_id, old, range)) = found else {
        return Ok(false);
    };
    let linked: HashSet<i64> = blocks::entries(&old)
        .map_while(Result::ok)
        .flat_map(|entry| referenced_contents(entry.body))
        .collect();
    let mut content_ids = Vec::new();
    encode_body(event, body, &mut |text| {
        let id = intern(tx, stmts, cache, text)?;
        content_ids.push(id);
        Ok::<i64, rusqlite::Error>(id)
    })?;
    let block = blocks::replace_entry(&old, range, &blocks::RawEntry::of(event, body));
    tx.prepare_cached("UPDATE event_blocks SET body = ?2 WHERE id = ?1")?
        .execute(params![block_id, block])?;
    links.extend(
        content_ids
            .into_iter()
            .filter(|id| !linked.contains(id))
            .map(|id| (id, block_id)),
    );
    tx.prepare_cached("DELETE FROM tool_runs WHERE sid = ?1 AND event_id = ?2")?
        .execute(params![sid, event.event_id])?;
    stmts.add_tool_run(sid, event)?;
    Ok(true)
}

/// Below this many pending text links a merge is never worth it.
const MIN_RECENT_LINKS: i64 = 65_536;

/// Moves the links in `recent_texts` into `block_texts` once there are
/// enough of them. Links are keyed by content id, so one batch's links fall
/// all over `block_texts`, and inserting them there directly rewrote most of
/// its pages on every commit of a big store (at 6 M events that took half
/// the ingest time). The small table absorbs them; a merge then writes each
/// page of the big one once for many batches. The threshold,
/// `sqrt(2 × links stored × links this batch)`, balances rewriting the small
/// table on every commit against rewriting the big one on every merge
/// (measured at 6 M events: 2 beat 0.5 and 8 as the factor).
fn merge_recent_texts(
    tx: &rusqlite::Transaction<'_>,
    added: usize,
    min_recent: i64,
) -> rusqlite::Result<()> {
    let added = i64::try_from(added).unwrap_or(i64::MAX);
    let recent: i64 = tx
        .prepare_cached(
            "UPDATE store_meta SET value = value + ?1 WHERE key = 'recent_links' RETURNING value",
        )?
        .query_row([added], |r| r.get(0))?;
    let stored: i64 = tx
        .prepare_cached("SELECT value FROM store_meta WHERE key = 'links'")?
        .query_row([], |r| r.get(0))?;
    let threshold = ((2.0 * stored as f64 * added.max(1_024) as f64).sqrt() as i64).max(min_recent);
    if recent < threshold {
        return Ok(());
    }
    tx.prepare_cached(
        "INSERT INTO block_texts(content_id, block_id) \
         SELECT content_id, block_id FROM recent_texts ORDER BY content_id, block_id",
    )?
    .execute([])?;
    tx.prepare_cached("DELETE FROM recent_texts")?.execute([])?;
    tx.prepare_cached(
        "UPDATE store_meta SET value = CASE key WHEN 'links' THEN value + ?1 ELSE 0 END \
         WHERE key IN ('links', 'recent_links')",
    )?
    .execute([recent])?;
    Ok(())
}

fn upsert_session_key(
    tx: &rusqlite::Transaction<'_>,
    session_id: &str,
    first: Option<i64>,
    last: Option<i64>,
) -> rusqlite::Result<(i64, i64)> {
    tx.prepare_cached(
        "INSERT INTO session_keys(session_id, first_ts, last_ts) VALUES (?1, ?2, ?3) \
         ON CONFLICT(session_id) DO UPDATE SET \
           first_ts = CASE WHEN first_ts IS NULL OR excluded.first_ts < first_ts THEN coalesce(excluded.first_ts, first_ts) ELSE first_ts END, \
           last_ts = CASE WHEN last_ts IS NULL OR excluded.last_ts > last_ts THEN coalesce(excluded.last_ts, last_ts) ELSE last_ts END \
         RETURNING sid, events",
    )?
    .query_row(params![session_id, first, last], |r| Ok((r.get(0)?, r.get(1)?)))
}

fn upsert_row(tx: &rusqlite::Transaction<'_>, row: &SessionRow) -> rusqlite::Result<()> {
    let activity = row.ended_at.or(row.started_at).map(Timestamp::as_micros);
    let (sid, _) = upsert_session_key(
        tx,
        &row.session_id,
        row.started_at.map(Timestamp::as_micros),
        activity,
    )?;
    tx.prepare_cached("UPDATE session_keys SET summarised_events = events WHERE sid = ?1")?
        .execute([sid])?;
    let json = serde_json::to_string(row)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO sessions(sid, agent_name, task, model, status, started_at, ended_at, \
         duration_ms, cost_usd, total_tokens, has_errors, row_json) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        sid,
        row.agent_name,
        row.task,
        row.model,
        row.status.as_str(),
        row.started_at.map(Timestamp::as_micros),
        row.ended_at.map(Timestamp::as_micros),
        row.duration_ms,
        row.metrics.cost_usd,
        row.metrics
            .total_tokens()
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX)),
        row.metrics.has_errors(),
        json
    ])?;
    for table in ["session_tags", "session_tools", "session_meta"] {
        tx.prepare_cached(&format!("DELETE FROM {table} WHERE sid = ?1"))?
            .execute([sid])?;
    }
    for tag in &row.tags {
        tx.prepare_cached("INSERT OR IGNORE INTO session_tags(tag, sid) VALUES (?1, ?2)")?
            .execute(params![tag, sid])?;
    }
    for tool in &row.tools {
        tx.prepare_cached("INSERT OR IGNORE INTO session_tools(tool, sid) VALUES (?1, ?2)")?
            .execute(params![tool, sid])?;
    }
    for (key, value) in &row.metadata {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO session_meta(key, value, sid) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![key, crate::metadata_value_text(value), sid])?;
    }
    Ok(())
}

fn parse_row(json: &str) -> rusqlite::Result<SessionRow> {
    serde_json::from_str(json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn limit_sql(limit: Option<usize>, offset: usize) -> String {
    let limit = limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    format!(" LIMIT {limit} OFFSET {offset}")
}

/// Deletes one session's data; returns how many events it had.
fn delete_session(tx: &rusqlite::Transaction<'_>, sid: i64) -> rusqlite::Result<u64> {
    // Texts referenced by this session's events (their bodies hold the
    // references): unlink them from its blocks, then drop those no other
    // block uses.
    let mut links: Vec<(i64, i64)> = Vec::new();
    let mut events: u64 = 0;
    {
        let mut stmt =
            tx.prepare_cached("SELECT id, events, body FROM event_blocks WHERE sid = ?1")?;
        let mut rows = stmt.query([sid])?;
        while let Some(r) = rows.next()? {
            let block: i64 = r.get(0)?;
            events += r.get::<_, i64>(1)?.max(0) as u64;
            if let rusqlite::types::ValueRef::Blob(bytes) = r.get_ref(2)? {
                for entry in blocks::entries(bytes).map_while(Result::ok) {
                    links.extend(
                        codec::referenced_contents(entry.body)
                            .into_iter()
                            .map(|cid| (cid, block)),
                    );
                }
            }
        }
    }
    links.sort_unstable();
    links.dedup();
    // Links removed from (block_texts, recent_texts): the merge counters follow.
    let mut unlinked: (i64, i64) = (0, 0);
    let mut candidates: Vec<i64> = links.iter().map(|(c, _)| *c).collect();
    candidates.sort_unstable();
    candidates.dedup();
    for (cid, row) in &links {
        for (sql, count) in [
            (
                "DELETE FROM block_texts WHERE content_id = ?1 AND block_id = ?2",
                &mut unlinked.0,
            ),
            (
                "DELETE FROM recent_texts WHERE content_id = ?1 AND block_id = ?2",
                &mut unlinked.1,
            ),
        ] {
            *count += tx.prepare_cached(sql)?.execute(params![cid, row])? as i64;
        }
    }
    tx.prepare_cached(
        "UPDATE store_meta SET value = max(0, value - CASE key WHEN 'links' THEN ?1 ELSE ?2 END) \
         WHERE key IN ('links', 'recent_links')",
    )?
    .execute(params![unlinked.0, unlinked.1])?;
    tx.prepare_cached("DELETE FROM event_blocks WHERE sid = ?1")?
        .execute([sid])?;
    for sql in [
        "DELETE FROM tool_runs WHERE sid = ?1",
        "DELETE FROM sessions WHERE sid = ?1",
        "DELETE FROM session_tags WHERE sid = ?1",
        "DELETE FROM session_tools WHERE sid = ?1",
        "DELETE FROM session_meta WHERE sid = ?1",
        "DELETE FROM session_keys WHERE sid = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([sid])?;
    }
    for cid in candidates {
        let still_used: bool = tx
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM block_texts WHERE content_id = ?1) \
                 OR EXISTS (SELECT 1 FROM recent_texts WHERE content_id = ?1)",
            )?
            .query_row([cid], |r| r.get(0))?;
        if still_used {
            continue;
        }
        let content: Option<(bool, String)> = tx
            .prepare_cached("SELECT searchable, text FROM contents WHERE id = ?1")?
            .query_row([cid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        if let Some((searchable, text)) = content {
            if searchable {
                tx.prepare_cached(
                    "INSERT INTO contents_fts(contents_fts, rowid, text) VALUES ('delete', ?1, ?2)",
                )?
                .execute(params![cid, text])?;
            }
            tx.prepare_cached("DELETE FROM contents WHERE id = ?1")?
                .execute([cid])?;
        }
    }
    Ok(events)
}

/// One stored event read ahead of decoding.
struct RawRow {
    event_id: String,
    ts_us: i64,
    kind: EventKind,
    iteration: Option<u32>,
    duration_ms: Option<f64>,
    /// The body's bytes in [`RawRows::bodies`].
    body: std::ops::Range<usize>,
    row: i64,
}

/// The rows of an events query with the texts their bodies reference, read
/// in one pass over SQLite before decoding. (Decoding on two threads was
/// tried: 10-15% more CPU, and slower on a loaded machine.)
#[derive(Default)]
struct RawRows {
    rows: Vec<RawRow>,
    bodies: Vec<u8>,
    content_ids: Vec<i64>,
    texts: HashMap<i64, String, IdBuildHasher>,
}

impl RawRows {
    /// Queues one stored event; `row` orders events of equal time (their
    /// insertion order).
    fn push(&mut self, entry: &blocks::RawEntry<'_>, row: i64) {
        let start = self.bodies.len();
        self.bodies.extend_from_slice(entry.body);
        self.content_ids
            .extend(codec::referenced_contents(entry.body));
        self.rows.push(RawRow {
            event_id: entry.event_id.to_owned(),
            ts_us: entry.ts_us,
            kind: EventKind::from_name(entry.kind),
            iteration: entry.iteration,
            duration_ms: entry.duration_ms,
            body: start..self.bodies.len(),
            row,
        });
    }

    /// Reads every referenced text once. Ids close together (texts first
    /// stored by the same batches) are read by one range scan, the rest one
    /// by one: point lookups cost more than stepping over a few unused rows.
    fn fetch_texts(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        /// Ids at most this far apart are read by one scan...
        const SCAN_GAP: i64 = 8;
        /// ...when at least this many fall in it.
        const SCAN_MIN: usize = 16;
        self.content_ids.sort_unstable();
        self.content_ids.dedup();
        self.texts.reserve(self.content_ids.len());
        let ids = &self.content_ids;
        let mut point = conn.prepare_cached("SELECT text FROM contents WHERE id = ?1")?;
        let mut scan =
            conn.prepare_cached("SELECT id, text FROM contents WHERE id BETWEEN ?1 AND ?2")?;
        let mut start = 0;
        while start < ids.len() {
            let mut end = start + 1;
            while end < ids.len() && ids[end] - ids[end - 1] <= SCAN_GAP {
                end += 1;
            }
            let run = &ids[start..end];
            if run.len() >= SCAN_MIN {
                let mut rows = scan.query(params![run[0], run[run.len() - 1]])?;
                while let Some(r) = rows.next()? {
                    let id: i64 = r.get(0)?;
                    if run.binary_search(&id).is_ok() {
                        self.texts.insert(id, r.get(1)?);
                    }
                }
            } else {
                for &id in run {
                    let text: Option<String> = point.query_row([id], |r| r.get(0)).optional()?;
                    if let Some(text) = text {
                        self.texts.insert(id, text);
                    }
                }
            }
            start = end;
        }
        Ok(())
    }

    /// Decodes the rows in their current order.
    fn decode(mut self, session_id: &str) -> Result<Vec<Event>, String> {
        decode_rows(&mut self.rows, &self.bodies, &self.texts, session_id)
    }
}

/// The body blob of a block row (column 0).
fn block_bytes<'r>(r: &'r rusqlite::Row<'_>) -> rusqlite::Result<&'r [u8]> {
    match r.get_ref(0)? {
        rusqlite::types::ValueRef::Blob(b) => Ok(b),
        other => Err(rusqlite::Error::InvalidColumnType(
            0,
            "body".to_owned(),
            other.data_type(),
        )),
    }
}

fn decode_rows(
    rows: &mut [RawRow],
    bodies: &[u8],
    texts: &HashMap<i64, String, IdBuildHasher>,
    session_id: &str,
) -> Result<Vec<Event>, String> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let columns = Columns {
            event_id: std::mem::take(&mut r.event_id),
            session_id: session_id.to_owned(),
            ts_us: r.ts_us,
            kind: std::mem::replace(&mut r.kind, EventKind::Custom),
            iteration: r.iteration,
            duration_ms: r.duration_ms,
        };
        let body = bodies.get(r.body.clone()).unwrap_or_default();
        let event = decode_event(columns, body, &mut |id| {
            texts
                .get(&id)
                .cloned()
                .ok_or_else(|| format!("text {id} is missing"))
        })
        .map_err(|e| match e {
            DecodeError::Resolve(reason) | DecodeError::Malformed(reason) => reason,
        })?;
        out.push(event);
    }
    Ok(out)
}

/// Deletes whole sessions by id (summary, events, tool runs); ids not
/// stored are left out of the outcome.
fn delete_by_id(
    tx: &rusqlite::Transaction<'_>,
    doomed: Vec<String>,
) -> rusqlite::Result<PruneOutcome> {
    let mut outcome = PruneOutcome::default();
    if !doomed.is_empty() {
        tx.execute(
            "UPDATE store_meta SET value = value + 1 WHERE key = 'prune_generation'",
            [],
        )?;
    }
    for id in doomed {
        let sid: Option<i64> = tx
            .prepare_cached("SELECT sid FROM session_keys WHERE session_id = ?1")?
            .query_row([&id], |r| r.get(0))
            .optional()?;
        if let Some(sid) = sid {
            outcome.events += delete_session(tx, sid)?;
            outcome.sessions.push(id);
        }
    }
    Ok(outcome)
}

/// The least text greater than every text starting with `prefix` (in
/// SQLite's byte order, which is code point order for UTF-8), or `None` when
/// there is none (an empty prefix, or one of only `char::MAX`).
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl Store for SqliteStore {
    fn append_events(&self, events: &[Event]) -> StoreResult<AppendOutcome> {
        if events.is_empty() {
            return Ok(AppendOutcome::default());
        }
        let mut guard = self.lock_writer()?;
        let Writer {
            conn,
            body,
            contents,
            ids,
            generation,
        } = &mut *guard;
        let result = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map_err(e, &self.label, "starting a write"))
            .and_then(|tx| {
                let outcome = append_in(&tx, events, body, contents, ids, generation)
                    .map_err(|e| map_err(e, &self.label, "appending events"))?;
                tx.commit()
                    .map_err(|e| map_err(e, &self.label, "committing events"))?;
                Ok(outcome)
            });
        if result.is_err() {
            // Ids interned and keys added by the rolled-back batch do not exist.
            contents.clear();
            ids.clear();
        } else if let Some(checkpointer) = &self.checkpointer {
            checkpointer.wake();
        }
        result
    }

    fn upsert_sessions(&self, rows: &[SessionRow]) -> StoreResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut guard = self.lock_writer()?;
        let tx = guard
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map_err(e, &self.label, "starting a write"))?;
        for row in rows {
            upsert_row(&tx, row).map_err(|e| {
                map_err(
                    e,
                    &self.label,
                    &format!("upserting session {}", row.session_id),
                )
            })?;
        }
        tx.commit()
            .map_err(|e| map_err(e, &self.label, "committing sessions"))
    }

    fn sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRow>> {
        let w = filter::session_where(&query.filter);
        let sql = format!(
            "SELECT s.row_json FROM sessions s JOIN session_keys k ON k.sid = s.sid WHERE {} ORDER BY {}{}",
            w.sql,
            filter::order_by(query.sort, query.descending),
            limit_sql(query.limit, query.offset)
        );
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows =
                    stmt.query_map(params_from_iter(w.params.iter()), |r| r.get::<_, String>(0))?;
                rows.map(|json| parse_row(&json?)).collect()
            },
            "listing sessions",
        )
    }

    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRow>> {
        self.read(
            |conn| {
                let json: Option<String> = conn
                    .prepare_cached(
                        "SELECT s.row_json FROM sessions s JOIN session_keys k ON k.sid = s.sid WHERE k.session_id = ?1",
                    )?
                    .query_row([session_id], |r| r.get(0))
                    .optional()?;
                json.map(|j| parse_row(&j)).transpose()
            },
            "reading a session",
        )
    }

    fn sessions_needing_summary(&self, limit: usize) -> StoreResult<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(
            |conn| {
                conn.prepare_cached(
                    "SELECT session_id FROM session_keys WHERE events <> summarised_events ORDER BY sid LIMIT ?1",
                )?
                .query_map([limit], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
            },
            "finding sessions without a current summary",
        )
    }

    fn session_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(
            |conn| {
                // A range over the unique index: ids from `prefix` up to the
                // first text after every id it starts (none: to the end).
                let ids = match prefix_successor(prefix) {
                    Some(end) => conn
                        .prepare_cached(
                            "SELECT session_id FROM session_keys WHERE session_id >= ?1 AND session_id < ?2 ORDER BY session_id LIMIT ?3",
                        )?
                        .query_map(rusqlite::params![prefix, end, limit], |r| r.get(0))?
                        .collect::<Result<Vec<String>, _>>()?,
                    None => conn
                        .prepare_cached(
                            "SELECT session_id FROM session_keys WHERE session_id >= ?1 ORDER BY session_id LIMIT ?2",
                        )?
                        .query_map(rusqlite::params![prefix, limit], |r| r.get(0))?
                        .collect::<Result<Vec<String>, _>>()?,
                };
                Ok(ids)
            },
            "reading session ids",
        )
    }

    fn events(&self, session_id: &str, query: &EventQuery) -> StoreResult<Vec<Event>> {
        let mut sql = String::from(
            "SELECT b.body FROM event_blocks b \
             WHERE b.sid = (SELECT sid FROM session_keys WHERE session_id = ?1)",
        );
        let mut params: Vec<SqlValue> = vec![SqlValue::Text(session_id.to_owned())];
        // Blocks wholly outside the window are skipped unread.
        if let Some(t) = query.since {
            params.push(SqlValue::Integer(t.as_micros()));
            sql.push_str(&format!(" AND b.last_ts >= ?{}", params.len()));
        }
        if let Some(t) = query.until {
            params.push(SqlValue::Integer(t.as_micros()));
            sql.push_str(&format!(" AND b.first_ts < ?{}", params.len()));
        }
        sql.push_str(" ORDER BY b.id");
        let since = query.since.map(Timestamp::as_micros);
        let until = query.until.map(Timestamp::as_micros);
        let in_window = |ts: i64| since.is_none_or(|s| ts >= s) && until.is_none_or(|u| ts < u);
        // A whole session is decoded and sorted on (time, insertion order).
        // A page is found by sorting only the (time, order) keys of the
        // session, then decoding just that page's events, so a page deep
        // into a 200k-event session does not decode every event.
        let whole = query.limit.is_none() && query.offset == 0;
        let label = self.label.clone();
        let malformed = |reason: String| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, reason.into())
        };
        let mut rows = self.read(
            |conn| {
                let mut rows = RawRows::default();
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut cursor = stmt.query(params_from_iter(params.iter()))?;
                let mut order: i64 = 0;
                if whole {
                    while let Some(r) = cursor.next()? {
                        let bytes = block_bytes(r)?;
                        for entry in blocks::entries(bytes) {
                            let entry = entry.map_err(malformed)?;
                            if in_window(entry.ts_us) {
                                rows.push(&entry, order);
                            }
                            order += 1;
                        }
                    }
                } else {
                    // (time, order, block, entry offset) of every event in the window.
                    let mut blobs: Vec<Vec<u8>> = Vec::new();
                    let mut keys: Vec<(i64, i64, usize, usize)> = Vec::new();
                    while let Some(r) = cursor.next()? {
                        let bytes = block_bytes(r)?;
                        let mut it = blocks::entries(bytes);
                        loop {
                            let at = it.position();
                            let Some(entry) = it.next() else { break };
                            let entry = entry.map_err(malformed)?;
                            if in_window(entry.ts_us) {
                                keys.push((entry.ts_us, order, blobs.len(), at));
                            }
                            order += 1;
                        }
                        blobs.push(bytes.to_vec());
                    }
                    keys.sort_unstable();
                    let end = query
                        .limit
                        .map_or(keys.len(), |l| query.offset.saturating_add(l))
                        .min(keys.len());
                    for &(_, order, blob, at) in keys.get(query.offset..end).unwrap_or(&[]) {
                        let bytes = blobs.get(blob).and_then(|b| b.get(at..)).unwrap_or(&[]);
                        if let Some(entry) = blocks::entries(bytes).next() {
                            rows.push(&entry.map_err(malformed)?, order);
                        }
                    }
                }
                rows.fetch_texts(conn)?;
                Ok(rows)
            },
            "reading events",
        )?;
        if whole {
            rows.rows.sort_unstable_by_key(|r| (r.ts_us, r.row));
        }
        rows.decode(session_id).map_err(|reason| {
            StoreError::new(
                StoreErrorKind::Corrupt,
                &label,
                format!("reading events: stored event body unreadable: {reason}"),
            )
        })
    }

    fn tool_runs(&self, query: &ToolRunQuery) -> StoreResult<Vec<ToolRun>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        let mut list = |col: &str, values: &[String], params: &mut Vec<SqlValue>| {
            if !values.is_empty() {
                let marks: Vec<String> = values
                    .iter()
                    .map(|v| {
                        params.push(SqlValue::Text(v.clone()));
                        format!("?{}", params.len())
                    })
                    .collect();
                clauses.push(format!("{col} IN ({})", marks.join(",")));
            }
        };
        list("k.session_id", &query.session_ids, &mut params);
        list("t.tool", &query.tools, &mut params);
        if let Some(min) = query.min_duration_ms {
            params.push(SqlValue::Real(min));
            clauses.push(format!("t.duration_ms >= ?{}", params.len()));
        }
        if query.success_only {
            clauses.push("t.success = 1".to_owned());
        }
        let where_sql = if clauses.is_empty() {
            "1".to_owned()
        } else {
            clauses.join(" AND ")
        };
        let sql = format!(
            "SELECT k.session_id, t.event_id, t.tool, t.ts_us, t.duration_ms, t.success, t.iteration \
             FROM tool_runs t JOIN session_keys k ON k.sid = t.sid \
             WHERE {where_sql} ORDER BY t.ts_us DESC, k.session_id, t.event_id{}",
            limit_sql(query.limit, query.offset)
        );
        self.read(
            |conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params_from_iter(params.iter()), |r| {
                    Ok(ToolRun {
                        session_id: r.get(0)?,
                        event_id: r.get(1)?,
                        tool: r.get(2)?,
                        timestamp: Timestamp(r.get(3)?),
                        duration_ms: r.get(4)?,
                        success: r.get(5)?,
                        iteration: r.get(6)?,
                    })
                })?;
                rows.collect()
            },
            "listing tool runs",
        )
    }

    fn search(&self, text: &str, limit: usize) -> StoreResult<Vec<SearchHit>> {
        let Some(expr) = filter::fts_match(text) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let newest_first = |a: &SearchHit, b: &SearchHit| {
            b.timestamp
                .cmp(&a.timestamp)
                .then_with(|| a.session_id.cmp(&b.session_id))
                .then_with(|| a.event_id.cmp(&b.event_id))
        };
        self.read(
            |conn| {
                // One pass over the full-text index: the matching texts that
                // some block links, and those blocks. A block links every
                // text any of its events uses, so its events are then
                // checked one by one, newest block (by last event) first,
                // stopping once no later block can hold an event newer than
                // the last hit kept.
                let mut matched: HashSet<i64, IdBuildHasher> = HashSet::default();
                let mut candidates: HashMap<i64, (i64, String), IdBuildHasher> = HashMap::default();
                {
                    let mut stmt = conn.prepare_cached(
                        "SELECT x.content_id, b.id, b.last_ts, k.session_id FROM contents_fts f \
                         JOIN all_texts x ON x.content_id = f.rowid \
                         JOIN event_blocks b ON b.id = x.block_id \
                         JOIN session_keys k ON k.sid = b.sid \
                         WHERE contents_fts MATCH ?1",
                    )?;
                    let mut rows = stmt.query([&expr])?;
                    while let Some(r) = rows.next()? {
                        matched.insert(r.get(0)?);
                        let block: i64 = r.get(1)?;
                        if let std::collections::hash_map::Entry::Vacant(slot) =
                            candidates.entry(block)
                        {
                            slot.insert((r.get(2)?, r.get(3)?));
                        }
                    }
                }
                let mut candidates: Vec<(i64, i64, String)> = candidates
                    .into_iter()
                    .map(|(block, (last_ts, session_id))| (block, last_ts, session_id))
                    .collect();
                candidates.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                let mut read =
                    conn.prepare_cached("SELECT body FROM event_blocks WHERE id = ?1")?;
                let mut hits: Vec<SearchHit> = Vec::new();
                for (block, last_ts, session_id) in candidates {
                    if hits.len() >= limit
                        && hits
                            .last()
                            .is_some_and(|h| last_ts < h.timestamp.as_micros())
                    {
                        break;
                    }
                    let mut cursor = read.query([block])?;
                    let Some(r) = cursor.next()? else { continue };
                    for entry in blocks::entries(block_bytes(r)?).map_while(Result::ok) {
                        if codec::referenced_contents(entry.body)
                            .iter()
                            .any(|c| matched.contains(c))
                        {
                            hits.push(SearchHit {
                                session_id: session_id.clone(),
                                event_id: entry.event_id.to_owned(),
                                kind: entry.kind.to_owned(),
                                timestamp: Timestamp(entry.ts_us),
                            });
                        }
                    }
                    hits.sort_by(newest_first);
                    hits.truncate(limit);
                }
                Ok(hits)
            },
            "searching",
        )
    }

    fn stats(&self, filter: &SessionFilter) -> StoreResult<StoreStats> {
        let w = filter::session_where(filter);
        let matching = format!(
            "SELECT s.sid FROM sessions s JOIN session_keys k ON k.sid = s.sid WHERE {}",
            w.sql
        );
        self.read(
            |conn| {
                let mut stats = StoreStats::default();
                let mut by_model: BTreeMap<String, ModelStats> = BTreeMap::new();
                let mut stmt = conn.prepare(&format!(
                    "SELECT s.row_json FROM sessions s JOIN session_keys k ON k.sid = s.sid WHERE {}",
                    w.sql
                ))?;
                let rows = stmt.query_map(params_from_iter(w.params.iter()), |r| {
                    r.get::<_, String>(0)
                })?;
                for json in rows {
                    let row = parse_row(&json?)?;
                    stats.sessions += 1;
                    add_metrics(&mut stats.totals, &row.metrics);
                    row.add_to_models(&mut by_model);
                }
                finish_totals(&mut stats.totals);
                stats.by_model = by_model.into_values().collect();
                stats.events = conn
                    .prepare(&format!(
                        "SELECT coalesce(sum(events), 0) FROM event_blocks WHERE sid IN ({matching})"
                    ))?
                    .query_row(params_from_iter(w.params.iter()), |r| r.get::<_, i64>(0))?
                    .max(0) as u64;
                let mut stmt = conn.prepare(&format!(
                    "SELECT tool, count(*), sum(1 - success), coalesce(avg(duration_ms), 0.0) \
                     FROM tool_runs WHERE sid IN ({matching}) GROUP BY tool ORDER BY tool"
                ))?;
                let tools = stmt.query_map(params_from_iter(w.params.iter()), |r| {
                    Ok(ToolAggregate {
                        tool: r.get(0)?,
                        runs: r.get::<_, i64>(1)?.max(0) as u64,
                        failures: r.get::<_, i64>(2)?.max(0) as u64,
                        avg_duration_ms: r.get(3)?,
                    })
                })?;
                stats.by_tool = tools.collect::<rusqlite::Result<_>>()?;
                Ok(stats)
            },
            "aggregating statistics",
        )
    }

    fn sessions_by_activity(&self) -> StoreResult<Vec<(Option<Timestamp>, String)>> {
        self.read(
            |conn| {
                conn.prepare_cached("SELECT last_ts, session_id FROM session_keys")?
                    .query_map([], |r| {
                        Ok((r.get::<_, Option<i64>>(0)?.map(Timestamp), r.get(1)?))
                    })?
                    .collect::<rusqlite::Result<_>>()
            },
            "listing sessions by activity",
        )
    }

    fn prune(&self, policy: &RetentionPolicy) -> StoreResult<PruneOutcome> {
        let mut guard = self.lock_writer()?;
        let tx = guard
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map_err(e, &self.label, "starting a prune"))?;
        let run = |tx: &rusqlite::Transaction<'_>| -> rusqlite::Result<PruneOutcome> {
            let mut sessions: Vec<(Option<Timestamp>, String)> = tx
                .prepare("SELECT last_ts, session_id FROM session_keys")?
                .query_map([], |r| {
                    Ok((r.get::<_, Option<i64>>(0)?.map(Timestamp), r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let doomed = sessions_to_prune(&mut sessions, policy);
            delete_by_id(tx, doomed)
        };
        let outcome = run(&tx).map_err(|e| map_err(e, &self.label, "pruning"))?;
        tx.commit()
            .map_err(|e| map_err(e, &self.label, "committing the prune"))?;
        Ok(outcome)
    }

    fn delete_sessions(&self, ids: &[String]) -> StoreResult<PruneOutcome> {
        let mut guard = self.lock_writer()?;
        let tx = guard
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map_err(e, &self.label, "starting a delete"))?;
        let outcome = delete_by_id(&tx, ids.to_vec())
            .map_err(|e| map_err(e, &self.label, "deleting sessions"))?;
        tx.commit()
            .map_err(|e| map_err(e, &self.label, "committing the delete"))?;
        Ok(outcome)
    }

    fn ingested_file(&self, path: &str) -> StoreResult<Option<IngestedFile>> {
        self.read(
            |conn| {
                conn.prepare_cached(
                    "SELECT size, mtime_us, head_hash, lines, byte_offset, format, session_hint FROM ingested_files WHERE path = ?1",
                )?
                .query_row([path], |r| {
                    Ok(IngestedFile {
                        path: path.to_owned(),
                        size: r.get::<_, i64>(0)?.max(0) as u64,
                        mtime_us: r.get(1)?,
                        head_hash: r.get(2)?,
                        lines: r.get::<_, i64>(3)?.max(0) as u64,
                        offset: r.get::<_, i64>(4)?.max(0) as u64,
                        format: r.get(5)?,
                        session_hint: r.get(6)?,
                    })
                })
                .optional()
            },
            "reading ingest state",
        )
    }

    fn record_ingested_file(&self, file: &IngestedFile) -> StoreResult<()> {
        self.record_ingested_files(std::slice::from_ref(file))
    }

    fn record_ingested_files(&self, files: &[IngestedFile]) -> StoreResult<()> {
        if files.is_empty() {
            return Ok(());
        }
        let mut guard = self.lock_writer()?;
        let write = |tx: &rusqlite::Transaction<'_>| -> rusqlite::Result<()> {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO ingested_files(path, size, mtime_us, head_hash, lines, byte_offset, format, session_hint) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for file in files {
                insert.execute(params![
                    file.path,
                    i64::try_from(file.size).unwrap_or(i64::MAX),
                    file.mtime_us,
                    file.head_hash,
                    i64::try_from(file.lines).unwrap_or(i64::MAX),
                    i64::try_from(file.offset).unwrap_or(i64::MAX),
                    file.format,
                    file.session_hint
                ])?;
            }
            Ok(())
        };
        guard
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .and_then(|tx| {
                write(&tx)?;
                tx.commit()
            })
            .map_err(|e| map_err(e, &self.label, "recording ingest state"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::RetentionPolicy;
    use loupe_model::{keys, EventKind};

    #[test]
    fn the_prefix_successor_bounds_every_id_with_the_prefix() {
        assert_eq!(prefix_successor("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        assert_eq!(prefix_successor(""), None);
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
        let ids = ["é-1", "é-2", "éa", "f", "e\u{10FFFF}"];
        let events: Vec<Event> = ids
            .iter()
            .map(|id| Event::new("e", EventKind::SessionStart, Timestamp(0), *id))
            .collect();
        store.append_events(&events).unwrap();
        assert_eq!(
            store.session_ids_with_prefix("é-", 10).unwrap(),
            ["é-1", "é-2"]
        );
        assert_eq!(
            store.session_ids_with_prefix("e", 10).unwrap(),
            ["e\u{10FFFF}"]
        );
    }
    use serde_json::json;

    #[test]
    fn closing_a_store_does_not_wait_out_the_checkpoint_spacing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path).unwrap();
        store.append_events(&legacy_events()).unwrap();
        // Let the checkpoint thread start its spacing; waiting it out would
        // take most of the 250 ms, ending it at once takes a few.
        std::thread::sleep(Duration::from_millis(5));
        let started = Instant::now();
        drop(store);
        assert!(
            started.elapsed() < CHECKPOINT_SPACING / 2,
            "dropping took {:?}",
            started.elapsed()
        );
        let reopened = SqliteStore::open(&path).unwrap();
        assert_eq!(reopened.event_count().unwrap(), 2);
    }

    fn legacy_events() -> Vec<Event> {
        let mut tool = Event::new("old-2", EventKind::ToolEnd, Timestamp(2_000), "old")
            .with(keys::TOOL, "bash")
            .with(keys::RESULT, "the legacy walrus result");
        tool.trace_id = Some("tr-9".into());
        vec![
            Event::new("old-1", EventKind::LlmRequest, Timestamp(1_000), "old")
                .with(
                    keys::MESSAGES,
                    json!([{"role": "user", "content": "ask the walrus"}]),
                )
                .with("\u{1}odd", "\u{1}not a reference"),
            tool,
        ]
    }

    /// Writes events the way a schema-1 Loupe did: JSON bodies, texts in a
    /// full-detail FTS index, other strings starting with U+0001 interned
    /// unindexed. (Texts are distinct here, so each is indexed once.)
    fn write_version_1(conn: &Connection, events: &[Event]) {
        conn.execute(
            "INSERT INTO session_keys(session_id, first_ts, last_ts) VALUES ('old', 1000, 2000)",
            [],
        )
        .unwrap();
        let sid = conn.last_insert_rowid();
        for e in events {
            let mut ids = Vec::new();
            let body = codec::encode_json_body(e, &mut |text, searchable| {
                conn.execute(
                    "INSERT OR IGNORE INTO contents(hash, searchable, text) VALUES (?1, ?2, ?3)",
                    params![&content_hash(text)[..], searchable, text],
                )
                .unwrap();
                let id: i64 = conn
                    .query_row("SELECT id FROM contents WHERE text = ?1", [text], |r| {
                        r.get(0)
                    })
                    .unwrap();
                if searchable {
                    conn.execute(
                        "INSERT INTO contents_fts(rowid, text) VALUES (?1, ?2)",
                        params![id, text],
                    )
                    .unwrap();
                }
                ids.push(id);
                id
            });
            conn.execute(
                "INSERT INTO events(sid, event_id, ts_us, kind, iteration, duration_ms, body) VALUES (?1, ?2, ?3, ?4, NULL, NULL, ?5)",
                params![sid, e.event_id, e.timestamp.as_micros(), e.kind.as_str(), body],
            )
            .unwrap();
            let row = conn.last_insert_rowid();
            for id in ids {
                conn.execute(
                    "INSERT OR IGNORE INTO event_texts(content_id, event_row) VALUES (?1, ?2)",
                    params![id, row],
                )
                .unwrap();
            }
            if let Some(run) = tool_run(e) {
                conn.execute(
                    "INSERT INTO tool_runs(event_row, sid, tool, ts_us, duration_ms, success, iteration) VALUES (?1, ?2, ?3, ?4, NULL, ?5, NULL)",
                    params![row, sid, run.tool, run.timestamp.as_micros(), run.success],
                )
                .unwrap();
            }
        }
    }

    #[test]
    fn a_version_5_store_says_unknown_where_it_stored_zero_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v5.db");
        // Rows as schema 5 stored them: numbers, 0 for what was unknown.
        let old_row = |id: &str,
                       sid: i64,
                       llm_calls: u64,
                       tokens: u64,
                       cost: f64,
                       unpriced: &[&str]| {
            let json = serde_json::json!({
                "session_id": id, "status": "completed", "tags": [], "metadata": {}, "tools": [],
                "metrics": {
                    "iterations": 1, "llm_calls": llm_calls, "tool_calls": 0, "tool_errors": 0,
                    "errors": 0, "input_tokens": tokens, "output_tokens": 0,
                    "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 0,
                    "cache_hit_rate": 0.0, "cost_usd": cost, "compactions": 0, "subagents": 0,
                    "unpriced_models": unpriced,
                }
            });
            (id.to_owned(), sid, tokens, cost, json.to_string())
        };
        {
            let mut conn = Connection::open(&path).unwrap();
            schema::create_version(&mut conn, 5).unwrap();
            for (id, sid, tokens, cost, json) in [
                old_row("priced", 1, 2, 900, 0.25, &[]),
                old_row("no-usage", 2, 3, 0, 0.0, &[]),
                old_row("unpriced", 3, 1, 400, 0.0, &["acme-1"]),
                old_row("no-llm", 4, 0, 0, 0.0, &[]),
            ] {
                conn.execute(
                    "INSERT INTO session_keys(sid, session_id) VALUES (?1, ?2)",
                    params![sid, id],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO sessions(sid, status, cost_usd, total_tokens, has_errors, row_json) \
                     VALUES (?1, 'completed', ?2, ?3, 0, ?4)",
                    params![sid, cost, tokens as i64, json],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(&path).unwrap();
        let known = |id: &str| {
            let m = store.session(id).unwrap().unwrap().metrics;
            (m.total_tokens(), m.cost_usd)
        };
        assert_eq!(known("priced"), (Some(900), Some(0.25)));
        assert_eq!(known("no-usage"), (None, None));
        assert_eq!(known("unpriced"), (Some(400), None));
        assert_eq!(known("no-llm"), (Some(0), Some(0.0)));
        let cheap = store
            .sessions(&SessionQuery {
                filter: SessionFilter {
                    max_cost_usd: Some(0.001),
                    ..SessionFilter::default()
                },
                ..SessionQuery::default()
            })
            .unwrap();
        assert_eq!(
            cheap
                .iter()
                .map(|r| r.session_id.as_str())
                .collect::<Vec<_>>(),
            ["no-llm"]
        );
        for descending in [true, false] {
            let by_cost = store
                .sessions(&SessionQuery {
                    sort: crate::SessionSort::Cost,
                    descending,
                    ..SessionQuery::default()
                })
                .unwrap();
            let mut last: Vec<&str> = by_cost[2..].iter().map(|r| r.session_id.as_str()).collect();
            last.sort_unstable();
            assert_eq!(last, ["no-usage", "unpriced"], "descending {descending}");
        }
    }

    #[test]
    fn a_version_1_store_is_migrated_and_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.db");
        let old = legacy_events();
        {
            let conn = Connection::open(&path).unwrap();
            schema::create_version_1(&conn).unwrap();
            write_version_1(&conn, &old);
        }
        assert_eq!(SqliteStore::stored_schema_version(&path), Some(1));
        assert_eq!(
            SqliteStore::stored_schema_version(dir.path().join("missing.db")),
            None
        );
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            SqliteStore::stored_schema_version(&path),
            Some(SCHEMA_VERSION)
        );
        let version: i64 = store
            .read(
                |c| c.query_row("PRAGMA user_version", [], |r| r.get(0)),
                "v",
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 6);
        // Its events had no summary row: the next ingest writes one.
        assert_eq!(store.sessions_needing_summary(10).unwrap(), ["old"]);
        assert_eq!(store.events("old", &EventQuery::default()).unwrap(), old);
        assert_eq!(store.event_count().unwrap(), 2, "counted in their blocks");
        let again = store.append_events(&old).unwrap();
        assert_eq!(
            (again.inserted, again.duplicates),
            (0, 2),
            "migrated events still deduplicate"
        );
        let hits = store.search("walrus", 10).unwrap();
        assert_eq!(
            hits.iter().map(|h| h.event_id.as_str()).collect::<Vec<_>>(),
            ["old-2", "old-1"],
            "texts indexed by schema 1 are found through the rebuilt index"
        );
        assert_eq!(store.tool_runs(&ToolRunQuery::default()).unwrap().len(), 1);

        // New events share the legacy texts, including the one schema 1 left
        // unindexed, and are stored in the binary format.
        let new = Event::new("new-1", EventKind::LlmResponse, Timestamp(3_000), "new")
            .with(keys::CONTENT, "\u{1}not a reference")
            .with(keys::RESULT, "the legacy walrus result");
        assert_eq!(
            store
                .append_events(std::slice::from_ref(&new))
                .unwrap()
                .inserted,
            1
        );
        let contents: i64 = store
            .read(
                |c| c.query_row("SELECT count(*) FROM contents", [], |r| r.get(0)),
                "n",
            )
            .unwrap();
        assert_eq!(contents, 4, "no text stored twice");
        assert_eq!(store.events("new", &EventQuery::default()).unwrap(), [new]);
        // The text schema 1 left unindexed is indexed now (the legacy event
        // linked to it matches too: schema 1 linked every interned text).
        assert!(store
            .search("reference", 10)
            .unwrap()
            .iter()
            .any(|h| h.event_id == "new-1"));
        assert_eq!(store.search("walrus", 10).unwrap().len(), 3);

        // Pruning reads references out of both body formats.
        let policy = RetentionPolicy {
            max_age_ms: None,
            max_count: Some(1),
            now: Timestamp(10_000),
        };
        assert_eq!(store.prune(&policy).unwrap().sessions, ["old"]);
        let hits = store.search("walrus", 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].event_id, "new-1");
        assert!(
            store.search("ask", 10).unwrap().is_empty(),
            "texts only the pruned session used are gone"
        );
        assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    }

    #[test]
    fn dedup_holds_across_reopening_and_a_second_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.db");
        let event =
            |n: usize| Event::new(format!("e{n}"), EventKind::Log, Timestamp(n as i64), "s");
        let range = |a: usize, b: usize| (a..b).map(event).collect::<Vec<_>>();
        {
            let store = SqliteStore::open(&path).unwrap();
            assert_eq!(store.append_events(&range(0, 700)).unwrap().inserted, 700);
        }
        // A fresh handle knows the stored ids from the blocks.
        let one = SqliteStore::open(&path).unwrap();
        let out = one.append_events(&range(0, 800)).unwrap();
        assert_eq!((out.inserted, out.duplicates), (100, 700));
        // Another writer (as another process would) appends to the same
        // session; the first handle's cached ids are stale and reloaded.
        let two = SqliteStore::open(&path).unwrap();
        let out = two.append_events(&range(750, 900)).unwrap();
        assert_eq!((out.inserted, out.duplicates), (100, 50));
        let out = one.append_events(&range(850, 1_000)).unwrap();
        assert_eq!((out.inserted, out.duplicates), (100, 50));
        assert_eq!(one.event_count().unwrap(), 1_000);
        let got = two.events("s", &EventQuery::default()).unwrap();
        assert_eq!(got, range(0, 1_000));
        drop(two);
        assert_eq!(one.integrity_check().unwrap(), ["ok"]);
    }

    #[test]
    fn recent_text_links_merge_into_the_big_index_and_stay_searchable() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("merge.db")).unwrap();
        let event = |session: &str, n: usize| {
            Event::new(
                format!("e{n}"),
                EventKind::ToolEnd,
                Timestamp(n as i64),
                session,
            )
            .with(keys::TOOL, "bash")
            .with(keys::RESULT, format!("shared walrus output and unique{n}"))
        };
        let a: Vec<Event> = (0..600).map(|n| event("a", n)).collect();
        let b: Vec<Event> = (600..700).map(|n| event("b", n)).collect();
        store.append_events(&a).unwrap();
        let count = |sql: &str| -> i64 {
            store
                .read(|c| c.query_row(sql, [], |r| r.get(0)), "count")
                .unwrap()
        };
        let meta = |key: &str| count(&format!("SELECT value FROM store_meta WHERE key = '{key}'"));
        // One result text per event, two blocks.
        assert_eq!(count("SELECT count(*) FROM recent_texts"), 600);
        assert_eq!((meta("recent_links"), meta("links")), (600, 0));
        // Force a merge (the threshold is far above a test's data).
        {
            let mut writer = store.lock_writer().unwrap();
            let tx = writer.conn.transaction().unwrap();
            merge_recent_texts(&tx, 0, 0).unwrap();
            tx.commit().unwrap();
        }
        assert_eq!(count("SELECT count(*) FROM recent_texts"), 0);
        assert_eq!(count("SELECT count(*) FROM block_texts"), 600);
        assert_eq!((meta("recent_links"), meta("links")), (0, 600));
        // New links go to the small table again; search and the text filter
        // see both.
        store.append_events(&b).unwrap();
        assert_eq!(count("SELECT count(*) FROM recent_texts"), 100);
        let hits = store.search("walrus", 1_000).unwrap();
        assert_eq!(hits.len(), 700);
        assert_eq!(store.search("unique5", 10).unwrap()[0].event_id, "e5");
        assert_eq!(store.search("unique650", 10).unwrap()[0].event_id, "e650");
        // Pruning unlinks from both tables and keeps the counters right.
        let policy = RetentionPolicy {
            max_age_ms: None,
            max_count: Some(1),
            now: Timestamp(10_000),
        };
        assert_eq!(store.prune(&policy).unwrap().sessions, ["a"]);
        assert_eq!(count("SELECT count(*) FROM block_texts"), 0);
        assert_eq!((meta("recent_links"), meta("links")), (100, 0));
        assert!(store.search("unique5", 10).unwrap().is_empty());
        assert_eq!(store.search("walrus", 1_000).unwrap().len(), 100);
        assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    }
}
