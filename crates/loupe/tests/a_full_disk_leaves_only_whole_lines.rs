//! A write cut short (disk full, file size limit) leaves the trace with
//! whole lines only, and appending to a trace that a dead writer left torn
//! starts on a line of its own.
//!
//! The size limit is real: the child process (this test binary re-executed
//! with `LOUPE_FSIZE_DIR` set) runs under `ulimit -f`, so the kernel stops
//! its writes part way through a line, as a full disk does.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use loupe::Recorder;
use serde_json::{json, Map};

const DIR: &str = "LOUPE_FSIZE_DIR";
/// The child's file size limit, in the 1 KiB blocks of bash's `ulimit -f`.
const LIMIT_KIB: u64 = 64;
const EVENTS: u64 = 2_000;

fn record(rec: &Recorder, from: u64, to: u64) {
    for seq in from..to {
        let mut data = Map::new();
        data.insert("seq".into(), json!(seq));
        data.insert("pad".into(), json!("x".repeat(300)));
        rec.record_custom("e", data);
    }
}

/// The child side. Does nothing in a normal test run.
#[test]
fn child_entry() {
    let Some(dir) = std::env::var_os(DIR) else {
        return;
    };
    let session = Recorder::builder()
        .dir(PathBuf::from(dir))
        .session_id("limited")
        // Many small writes: one of them straddles the limit.
        .buffer_size(4_096)
        .start()
        .unwrap();
    let rec = session.recorder();
    record(&rec, 0, EVENTS);
    drop(session);
    println!("LOUPE_WRITE_ERRORS={}", rec.summary().write_errors);
}

#[test]
fn a_write_cut_short_by_a_size_limit_leaves_only_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    // `trap '' XFSZ`: the ignored signal stays ignored across `exec`, so the
    // write fails with EFBIG instead of killing the process.
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f {LIMIT_KIB}; exec \"$0\" \"$@\""
        ))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(DIR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness prints the test's name on the same line.
    let write_errors: u64 = stdout
        .split("LOUPE_WRITE_ERRORS=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(write_errors > 0, "the limit never stopped a write");

    let path = dir.path().join("limited.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.len() as u64 <= LIMIT_KIB * 1024);
    assert!(
        text.ends_with('\n'),
        "torn last line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    // Every line parses, and what was written is a prefix in order.
    let events = common::read_events(&path);
    let seqs: Vec<u64> = common::of_kind(&events, "custom")
        .iter()
        .map(|e| e["data"]["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.len() > 100, "only {} events written", seqs.len());
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn appending_to_a_torn_trace_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("torn.jsonl");
    let torn = r#"{"event_id":"1","kind":"session_start","timestamp":"2026-11"#;
    std::fs::write(path, torn).unwrap();

    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("torn")
        .start()
        .unwrap();
    record(&session.recorder(), 0, 10);
    drop(session);

    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(torn), "the torn line is kept as it was");
    let rest: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(rest.first().unwrap()["kind"], "session_start");
    assert_eq!(common::of_kind(&rest, "custom").len(), 10);
    assert_eq!(rest.last().unwrap()["kind"], "session_end");
}
