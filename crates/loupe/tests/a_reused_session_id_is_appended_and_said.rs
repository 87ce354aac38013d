//! Starting a session whose id already has a trace file appends to it (a
//! resumed session reads as one), and says so once on stderr, so a new run
//! that reuses an id by mistake is not merged silently. A fresh id says
//! nothing.
//!
//! The sessions run in a child process (this test binary re-executed with
//! `LOUPE_REUSED_DIR` set) so that its stderr can be read.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use loupe::{Recorder, SessionStatus};

const CHILD: &str = "LOUPE_REUSED_DIR";

/// The child side. Does nothing in a normal test run.
#[test]
fn child_entry() {
    let Some(dir) = std::env::var_os(CHILD) else {
        return;
    };
    for id in ["fresh", "same", "same"] {
        let session = Recorder::builder()
            .dir(&dir)
            .session_id(id)
            .start()
            .unwrap();
        session.end(SessionStatus::Completed);
    }
}

#[test]
fn a_second_run_with_the_same_id_is_appended_and_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stderr}");
    let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with("loupe:")).collect();
    assert_eq!(said.len(), 1, "stderr:\n{stderr}");
    assert!(said[0].contains("same.jsonl"), "{}", said[0]);
    assert!(said[0].contains("appended"), "{}", said[0]);
    let text = std::fs::read_to_string(dir.path().join("same.jsonl")).unwrap();
    assert_eq!(text.matches("\"kind\":\"session_start\"").count(), 2);
}
