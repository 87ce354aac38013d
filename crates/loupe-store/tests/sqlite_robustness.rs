//! SQLite under bad conditions: foreign, corrupt and newer files are refused
//! without being touched; a killed writer loses at most its open batch; two
//! writer processes share one file safely.
//!
//! The multi-process tests re-run this test binary as a child (`child_writer`
//! does nothing unless `LOUPE_STORE_CHILD_DB` is set).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use loupe_model::{keys, Event, EventKind, Timestamp};
use loupe_store::{EventQuery, SqliteStore, Store, StoreErrorKind};

const BATCH: usize = 500;

fn batch_events(prefix: &str, batch: usize) -> Vec<Event> {
    (0..BATCH)
        .map(|i| {
            Event::new(
                format!("{prefix}-{batch}-{i}"),
                EventKind::LlmResponse,
                Timestamp(1_000_000 * (batch * BATCH + i) as i64),
                format!("{prefix}-session-{}", batch % 3),
            )
            .with(
                keys::CONTENT,
                format!("answer {i} of batch {batch} with some shared words"),
            )
        })
        .collect()
}

/// The child side: appends `LOUPE_STORE_CHILD_BATCHES` batches, printing
/// `committed N` after each commit.
#[test]
fn child_writer() {
    let Ok(db) = std::env::var("LOUPE_STORE_CHILD_DB") else {
        return;
    };
    let prefix = std::env::var("LOUPE_STORE_CHILD_PREFIX").unwrap();
    let batches: usize = std::env::var("LOUPE_STORE_CHILD_BATCHES")
        .unwrap()
        .parse()
        .unwrap();
    let store = SqliteStore::open(&db).unwrap();
    for b in 0..batches {
        store.append_events(&batch_events(&prefix, b)).unwrap();
        println!("committed {b}");
    }
}

fn spawn_child(db: &Path, prefix: &str, batches: usize) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env("LOUPE_STORE_CHILD_DB", db)
        .env("LOUPE_STORE_CHILD_PREFIX", prefix)
        .env("LOUPE_STORE_CHILD_BATCHES", batches.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn count_events(store: &SqliteStore, prefix: &str) -> usize {
    (0..3)
        .map(|s| {
            store
                .events(&format!("{prefix}-session-{s}"), &EventQuery::default())
                .unwrap()
                .len()
        })
        .sum()
}

#[test]
fn a_killed_writer_loses_at_most_its_open_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let total_batches = 400;
    let mut child = spawn_child(&db, "k", total_batches);
    let stdout = child.stdout.take().unwrap();
    let mut committed = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.starts_with("committed ") {
            committed += 1;
            if committed == 8 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child must have been killed, not finished"
    );

    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    let stored = store.event_count().unwrap() as usize;
    assert!(
        stored >= committed * BATCH,
        "every reported commit survives: {stored}"
    );
    assert_eq!(stored % BATCH, 0, "no partial batch: {stored} events");
    assert!(stored < total_batches * BATCH, "killed before the end");
    // Every event of each committed batch is there.
    let whole_batches = stored / BATCH;
    let all: Vec<String> = (0..3)
        .flat_map(|s| {
            store
                .events(&format!("k-session-{s}"), &EventQuery::default())
                .unwrap()
        })
        .map(|e| e.event_id)
        .collect();
    for b in 0..whole_batches {
        for i in [0, BATCH / 2, BATCH - 1] {
            assert!(
                all.contains(&format!("k-{b}-{i}")),
                "batch {b} event {i} missing"
            );
        }
    }
    // Re-ingesting everything completes the store without duplicates.
    let mut dups = 0;
    for b in 0..total_batches.min(whole_batches + 3) {
        dups += store
            .append_events(&batch_events("k", b))
            .unwrap()
            .duplicates;
    }
    assert_eq!(dups as usize, stored);
    assert_eq!(
        store.event_count().unwrap() as usize,
        (whole_batches + 3).min(total_batches) * BATCH
    );
}

#[test]
fn two_writer_processes_share_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let batches = 12;
    // Both start on a file that does not exist yet: they race on creation too.
    let a = spawn_child(&db, "pa", batches);
    let b = spawn_child(&db, "pb", batches);
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "a writer failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.matches("committed ").count(), batches);
    }
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    assert_eq!(count_events(&store, "pa"), batches * BATCH);
    assert_eq!(count_events(&store, "pb"), batches * BATCH);
}

fn assert_refused_untouched(path: &Path, kind: StoreErrorKind) {
    let before = std::fs::read(path).unwrap();
    let err = SqliteStore::open(path).err().expect("opening must fail");
    assert_eq!(err.kind(), kind, "{err}");
    assert!(!err.is_transient());
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "names the file: {message}"
    );
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "the file is untouched"
    );
    let wal = format!("{}-wal", path.display());
    assert!(!Path::new(&wal).exists(), "no WAL was created next to it");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    assert_refused_untouched(&path, StoreErrorKind::NotADatabase);
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(err.to_string().contains("not a SQLite database"), "{err}");
}

#[test]
fn another_applications_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE customers (id INTEGER, name TEXT); INSERT INTO customers VALUES (1, 'x');")
            .unwrap();
    }
    assert_refused_untouched(&path, StoreErrorKind::Foreign);
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(err.to_string().contains("not created by Loupe"), "{err}");
}

#[test]
fn a_store_from_a_newer_loupe_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let err = SqliteStore::open(&path).err().unwrap();
    assert_eq!(err.kind(), StoreErrorKind::NewerSchema, "{err}");
}

#[test]
fn a_corrupted_store_gives_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        for b in 0..4 {
            store.append_events(&batch_events("c", b)).unwrap();
        }
        store.checkpoint().unwrap();
    }
    // Scribble over the middle of the file (not the header).
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    assert!(
        len > 64 * 1024,
        "store is big enough to corrupt its middle: {len}"
    );
    for b in &mut bytes[len / 3..len / 3 + 16384] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let outcome = SqliteStore::open(&path).and_then(|store| {
        let check = store.integrity_check()?;
        assert_ne!(check, ["ok"], "integrity_check notices the damage");
        Ok(())
    });
    if let Err(err) = outcome {
        assert!(
            matches!(
                err.kind(),
                StoreErrorKind::Corrupt | StoreErrorKind::NotADatabase
            ),
            "{err}"
        );
    }
}

#[test]
fn repeated_text_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dedup.db");
    let store = SqliteStore::open(&path).unwrap();
    let history = "You are a careful coding agent. ".repeat(200); // ~6.4 KB
    let events: Vec<Event> = (0..200)
        .map(|i| {
            Event::new(format!("e{i}"), EventKind::LlmRequest, Timestamp(i), "s").with(
                keys::MESSAGES,
                serde_json::json!([{"role": "system", "content": history}]),
            )
        })
        .collect();
    store.append_events(&events).unwrap();
    store.checkpoint().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size < 200 * 1024,
        "200 copies of 6.4 KB stored once: file is {size} bytes"
    );
    let back = store.events("s", &EventQuery::default()).unwrap();
    assert_eq!(back, events);
}

#[test]
fn prune_keeps_text_shared_with_surviving_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("p.db")).unwrap();
    let shared = "the shared system prompt mentions zanzibar";
    let mk = |s: &str, t: i64| {
        Event::new(format!("{s}-1"), EventKind::LlmRequest, Timestamp(t), s)
            .with(keys::CONTENT, shared)
    };
    store
        .append_events(&[mk("old", 0), mk("new", 1_000_000_000)])
        .unwrap();
    let policy = loupe_store::RetentionPolicy {
        max_age_ms: None,
        max_count: Some(1),
        now: Timestamp(2_000_000_000),
    };
    assert_eq!(store.prune(&policy).unwrap().sessions, ["old"]);
    let hits = store.search("zanzibar", 10).unwrap();
    assert_eq!(
        hits.len(),
        1,
        "the surviving session still finds the shared text"
    );
    assert_eq!(hits[0].session_id, "new");
    assert_eq!(
        store.events("new", &EventQuery::default()).unwrap()[0].str(keys::CONTENT),
        Some(shared)
    );
    // Appending after a prune (cache invalidated) re-interns correctly.
    store.append_events(&[mk("again", 1_500_000_000)]).unwrap();
    assert_eq!(store.search("zanzibar", 10).unwrap().len(), 2);
    let policy = loupe_store::RetentionPolicy {
        max_count: Some(0),
        ..policy
    };
    assert_eq!(store.prune(&policy).unwrap().sessions.len(), 2);
    assert!(store.search("zanzibar", 10).unwrap().is_empty());
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
}
