//! A trace write that never returns (a FIFO nobody reads; a hung network
//! file system behaves alike) must not hang the agent: ending the session
//! waits for the writer at most 5 s, dropping the last handle does not wait
//! again, the writer thread is left behind with what it did not write
//! counted and said on stderr, and the process still exits.
//!
//! The session runs in a child process (this test binary re-executed with
//! `LOUPE_HUNG_FIFO` set) so that a hang fails the test instead of stalling
//! the suite, and so that its stderr and its exit can be checked.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use std::fs::OpenOptions;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loupe::{LlmResponse, Recorder, SessionStatus, TokenUsage};
mod common;
use common::printed;

const CHILD: &str = "LOUPE_HUNG_FIFO";

/// The child side. Does nothing in a normal test run.
#[test]
fn child_entry() {
    let Some(dir) = std::env::var_os(CHILD) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let path = dir.join("hung.jsonl");
    let made = Command::new("mkfifo").arg(&path).status().unwrap();
    assert!(made.success());
    // Open for reading and writing, so the recorder's open does not wait for
    // a reader; nothing ever reads, so once the pipe's buffer (64 KiB) is
    // full every write blocks.
    let _held = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let session = Recorder::builder()
        .dir(&dir)
        .session_id("hung")
        .buffer_size(4_096)
        .start()
        .unwrap();
    let content = "y".repeat(500);
    for i in 0..2_000 {
        session.record_llm_response(&LlmResponse {
            usage: TokenUsage::otel(i, 1),
            content: Some(&content),
            ..Default::default()
        });
    }
    let other_handle = session.recorder();
    let started = Instant::now();
    session.end(SessionStatus::Completed);
    let end_ms = started.elapsed().as_millis();
    let started = Instant::now();
    drop(other_handle);
    let drop_ms = started.elapsed().as_millis();
    println!("LOUPE_END_MS={end_ms} LOUPE_DROP_MS={drop_ms}");
}

#[test]
fn ending_a_session_whose_trace_write_hangs_returns_within_the_timeout() {
    if Command::new("mkfifo").arg("--version").output().is_err() {
        eprintln!("skipped: no mkfifo");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound is 5 s; an exit-time flush must not wait long either.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent hung on a trace write that never returns");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let end_ms = printed(&stdout, "LOUPE_END_MS");
    assert!(
        (4_500..7_500).contains(&end_ms),
        "end() waited {end_ms} ms for a hung writer (bound: 5 s):\n{stdout}"
    );
    let drop_ms = printed(&stdout, "LOUPE_DROP_MS");
    assert!(
        drop_ms < 1_000,
        "the last handle waited {drop_ms} ms again for a writer known to hang"
    );
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("loupe: the trace writer did not finish within 5 s"))
        .collect();
    assert_eq!(said.len(), 1, "stderr:\n{stderr}");
    let lost: u64 = said[0]
        .split("about ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {}", said[0]));
    // The pipe took at most 64 KiB of ~600-byte lines; the rest (and
    // session_end) is counted.
    assert!(lost > 1_000, "{}", said[0]);
}
