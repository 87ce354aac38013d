//! A write cut short (disk full, file size limit) leaves the trace with
//! whole lines only; once the file can be written again, a `loupe_dropped`
//! line says how many events are missing; and appending to a trace that a
//! dead writer left torn starts on a line of its own.
//!
//! The size limit is real: the child process (this test binary re-executed
//! with `LOUPE_FSIZE_DIR` set) runs under `ulimit -S -f`, so the kernel
//! stops its writes part way through a line, as a full disk does; the test
//! then lifts the limit with `prlimit`, as freeing space would.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::printed;
use loupe::{QueueFullPolicy, Recorder};
use serde_json::{json, Map};

const DIR: &str = "LOUPE_FSIZE_DIR";
/// The child's file size limit, in the 1 KiB blocks of bash's `ulimit -f`.
const LIMIT_KIB: u64 = 64;
const EVENTS: u64 = 2_000;
/// Events the child records after the limit is lifted.
const AFTER: u64 = 100;

fn record(rec: &Recorder, from: u64, to: u64) {
    for seq in from..to {
        let mut data = Map::new();
        data.insert("seq".into(), json!(seq));
        data.insert("pad".into(), json!("x".repeat(300)));
        rec.record_custom("e", data);
    }
}

/// Records a whole session of `events` custom events, default settings,
/// into `dir`.
fn record_session(dir: &Path, id: &str, events: u64) {
    let session = Recorder::builder().dir(dir).session_id(id).start().unwrap();
    record(&session.recorder(), 0, events);
    drop(session);
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
        // Every event reaches the writer: what is missing, the file lost.
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let rec = session.recorder();
    record(&rec, 0, EVENTS);
    // Events are missing from the file: the flush must not confirm them.
    assert!(!session.flush());
    let full = rec.summary();
    println!("LOUPE_WRITE_ERRORS={}", full.write_errors);
    println!("LOUPE_UNWRITTEN={}", full.unwritten);
    // The parent lifts the limit, then says so.
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).unwrap();
    record(&rec, EVENTS, EVENTS + AFTER);
    drop(session);
    assert_eq!(rec.summary().unwritten, full.unwritten);
}

#[test]
fn a_write_cut_short_by_a_size_limit_leaves_only_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    // `trap '' XFSZ`: the ignored signal stays ignored across `exec`, so the
    // write fails with EFBIG instead of killing the process.
    // `-S`: only the soft limit, which `prlimit` can lift again.
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -S -f {LIMIT_KIB}; exec \"$0\" \"$@\""
        ))
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(DIR, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut before = String::new();
    while !before.contains("LOUPE_UNWRITTEN=") {
        if stdout.read_line(&mut before).unwrap() == 0 {
            let out = child.wait_with_output().unwrap();
            panic!(
                "child ended: {before}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    assert!(
        printed(&before, "LOUPE_WRITE_ERRORS") > 0,
        "the limit never stopped a write"
    );
    let unwritten = printed(&before, "LOUPE_UNWRITTEN");
    assert!(unwritten > 0);

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
    let written: Vec<u64> = common::of_kind(&events, "custom")
        .iter()
        .map(|e| e["data"]["seq"].as_u64().unwrap())
        .collect();
    assert!(written.len() > 100, "only {} events written", written.len());
    assert_eq!(written, (0..written.len() as u64).collect::<Vec<_>>());
    assert_eq!(written.len() as u64 + unwritten, EVENTS);

    // Space comes back.
    let lifted = Command::new("prlimit")
        .args(["--pid", &child.id().to_string(), "--fsize=unlimited"])
        .status()
        .unwrap();
    assert!(lifted.success(), "prlimit failed");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    // The first write error, and only it, is said on stderr.
    let said: Vec<&str> = stderr.lines().filter(|l| l.starts_with("loupe:")).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    assert!(said[0].contains("limited.jsonl"), "{}", said[0]);

    // The file says how many events it is missing (in one report or in
    // several, as space came and went), before the events that follow.
    let events = common::read_events(&path);
    let reports = common::of_kind(&events, "loupe_dropped");
    let reported: u64 = reports
        .iter()
        .map(|e| e["data"]["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(reported, unwritten);
    let seqs: Vec<u64> = common::of_kind(&events, "custom")
        .iter()
        .map(|e| e["data"]["seq"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = (0..written.len() as u64)
        .chain(EVENTS..EVENTS + AFTER)
        .collect();
    assert_eq!(seqs, expected);
    let last_report = events.iter().rposition(|e| e["kind"] == "loupe_dropped");
    let first_after = events.iter().position(|e| e["data"]["seq"] == EVENTS);
    assert!(last_report < first_after);
    assert_eq!(events.last().unwrap()["kind"], "session_end");
}

#[test]
fn appending_to_a_torn_trace_starts_a_new_line() {
    let dir = tempfile::tempdir().unwrap();
    let path: &Path = &dir.path().join("torn.jsonl");
    let torn = r#"{"event_id":"1","kind":"session_start","timestamp":"2026-11"#;
    std::fs::write(path, torn).unwrap();

    record_session(dir.path(), "torn", 10);

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

/// A named pipe as the trace file (a log shipper reading it): the check for
/// a torn tail must neither block nor fail the start, and every line
/// arrives whole.
#[test]
fn a_named_pipe_as_the_trace_file_receives_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("piped.jsonl");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    record_session(dir.path(), "piped", 10);
    let text = reader.join().unwrap();
    let kinds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(kinds.len(), 12, "{text}");
    assert_eq!(kinds[0], "\"session_start\"");
    assert_eq!(kinds[11], "\"session_end\"");
}
