//! A trace file that refuses writes (`/dev/full`: every write fails with
//! `ENOSPC`) makes `flush()` return false, for the rest of the session, and
//! the first error, only the first, is said on stderr with a `loupe:`
//! prefix naming the file and the OS error. Recording never fails or panics.
//!
//! The session runs in a child process (this test binary re-executed with
//! `LOUPE_DEV_FULL` set) so that its stderr can be read.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use loupe::Recorder;
use serde_json::{json, Map};
mod common;
use common::printed;

const CHILD: &str = "LOUPE_DEV_FULL";

/// The child side. Does nothing in a normal test run.
#[test]
fn child_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let session = Recorder::builder()
        .dir("/dev")
        .file_pattern("full")
        .session_id("full")
        .buffer_size(1_024)
        .start()
        .unwrap();
    for seq in 0..500 {
        let mut data = Map::new();
        data.insert("seq".into(), json!(seq));
        data.insert("pad".into(), json!("x".repeat(200)));
        session.record_custom("e", data);
    }
    let first = session.flush();
    session.record_custom("after", Map::new());
    let second = session.flush();
    let summary = session.summary();
    println!(
        "LOUPE_FLUSHED={first},{second} LOUPE_WRITE_ERRORS={} LOUPE_UNWRITTEN={}",
        summary.write_errors, summary.unwritten
    );
    drop(session);
}

#[test]
fn flush_is_false_when_events_were_not_written_and_the_error_is_said_once() {
    if !cfg!(target_os = "linux") || !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full");
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("LOUPE_FLUSHED=false,false"),
        "flush confirmed a trace missing events:\n{stdout}"
    );
    assert!(printed(&stdout, "LOUPE_WRITE_ERRORS") > 0, "{stdout}");
    assert!(printed(&stdout, "LOUPE_UNWRITTEN") > 0, "{stdout}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with("loupe:")).collect();
    assert_eq!(said.len(), 1, "stderr:\n{stderr}");
    assert!(said[0].contains("/dev/full"), "{}", said[0]);
    assert!(said[0].contains("No space left on device"), "{}", said[0]);
}

/// A healthy session's flush is still confirmed.
#[test]
fn flush_is_true_when_every_event_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("fine")
        .start()
        .unwrap();
    session.record_custom("e", Map::new());
    assert!(session.flush());
    assert_eq!(session.summary().write_errors, 0);
}
