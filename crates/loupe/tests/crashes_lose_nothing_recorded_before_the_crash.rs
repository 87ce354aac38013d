//! Crash safety, in child processes (this test binary re-executed with
//! `LOUPE_CRASH_SCENARIO` set): a panic, `process::exit` with the session
//! open, `SIGKILL` after `flush()`, and `SIGKILL` in durable mode.
//!
//! The writer is configured to never write on its own (1 h interval, 16 MiB
//! buffer), so whatever reaches the file got there through the mechanism
//! under test.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use loupe::{Durability, Recorder, Session};
use serde_json::{json, Map, Value};

const EVENTS: u64 = 2_000;
const DURABLE_EVENTS: u64 = 100;
const SCENARIO: &str = "LOUPE_CRASH_SCENARIO";
const DIR: &str = "LOUPE_CRASH_DIR";

fn start(dir: &Path, durability: Durability) -> Session {
    Recorder::builder()
        .dir(dir)
        .session_id("crash")
        .durability(durability)
        .flush_interval(Duration::from_secs(3600))
        .buffer_size(16 << 20)
        .start()
        .unwrap()
}

fn record(r: &Recorder, from: u64, to: u64) {
    for seq in from..to {
        let mut data = Map::new();
        data.insert("seq".into(), json!(seq));
        r.record_custom("step", data);
    }
}

/// The child side. Does nothing in a normal test run.
#[test]
fn child_entry() {
    let Ok(scenario) = std::env::var(SCENARIO) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    match scenario.as_str() {
        "panic_with_leaked_session" => {
            let s = start(&dir, Durability::Buffered);
            record(&s, 0, EVENTS);
            std::mem::forget(s); // only the panic hook can save these events
            panic!("agent bug");
        }
        "panic_unwinding_through_the_session" => {
            let s = start(&dir, Durability::Buffered);
            record(&s, 0, EVENTS);
            let _it = s.iteration();
            panic!("agent bug");
        }
        "exit_with_open_session" => {
            let s = start(&dir, Durability::Buffered);
            record(&s, 0, EVENTS);
            let _keep = s; // never dropped: exit skips destructors
            std::process::exit(0);
        }
        "sigkill_after_flush" => {
            let s = start(&dir, Durability::Buffered);
            record(&s, 0, EVENTS);
            assert!(s.flush());
            record(&s, EVENTS, 2 * EVENTS); // buffered only, may be lost
            println!("LOUPE_READY");
            std::thread::sleep(Duration::from_secs(60));
        }
        "sigkill_durable" => {
            let s = start(&dir, Durability::EveryEvent);
            record(&s, 0, DURABLE_EVENTS);
            println!("LOUPE_READY");
            std::thread::sleep(Duration::from_secs(60));
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn child(scenario: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, scenario)
        .env(DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs a scenario to its end; returns whether the child exited successfully.
fn run_to_end(scenario: &str, dir: &Path) -> bool {
    child(scenario, dir).output().unwrap().status.success()
}

/// Runs a scenario until it prints `LOUPE_READY`, then `SIGKILL`s it.
fn run_and_kill(scenario: &str, dir: &Path) {
    let mut c = child(scenario, dir).spawn().unwrap();
    let out = BufReader::new(c.stdout.take().unwrap());
    let mut ready = false;
    for line in out.lines() {
        if line.unwrap().contains("LOUPE_READY") {
            ready = true;
            break;
        }
    }
    c.kill().unwrap(); // SIGKILL on Unix
    let status = c.wait().unwrap();
    assert!(ready, "child never got ready: {status:?}");
}

/// The `seq` of every `custom` event, checking that every line but the last parses.
fn seqs(path: &Path, allow_torn_last_line: bool) -> (Vec<u64>, Vec<Value>) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut events = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        match serde_json::from_str::<Value>(l) {
            Ok(v) => events.push(v),
            Err(e) if allow_torn_last_line && i + 1 == lines.len() && !text.ends_with('\n') => {
                let _ = e;
            }
            Err(e) => panic!("line {}: {e}: {l}", i + 1),
        }
    }
    let seqs = events
        .iter()
        .filter(|e| e["kind"] == "custom")
        .map(|e| e["data"]["seq"].as_u64().unwrap())
        .collect();
    (seqs, events)
}

#[test]
fn a_panic_hook_flushes_a_session_nobody_will_drop() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!run_to_end("panic_with_leaked_session", dir.path()));
    let (seqs, events) = seqs(&dir.path().join("crash.jsonl"), false);
    assert_eq!(seqs, (0..EVENTS).collect::<Vec<_>>());
    assert_eq!(events[0]["kind"], "session_start");
    assert!(common::of_kind(&events, "session_end").is_empty());
}

#[test]
fn a_panic_unwinding_through_guards_ends_them_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!run_to_end(
        "panic_unwinding_through_the_session",
        dir.path()
    ));
    let (seqs, events) = seqs(&dir.path().join("crash.jsonl"), false);
    assert_eq!(seqs, (0..EVENTS).collect::<Vec<_>>());
    let it_end = common::of_kind(&events, "iteration_end");
    assert_eq!(it_end.len(), 1);
    assert_eq!(it_end[0]["data"]["status"], "error");
    // The panic's place and message, not a bare "panicked".
    let error = it_end[0]["data"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("panicked at ") && error.ends_with(": agent bug"),
        "{error}"
    );
    assert!(
        error.contains("crashes_lose_nothing_recorded_before_the_crash.rs:"),
        "{error}"
    );
    let end = events.last().unwrap();
    assert_eq!(end["kind"], "session_end");
    assert_eq!(end["data"]["status"], "failed");
    assert_eq!(end["data"]["error"], error);
}

#[test]
fn process_exit_with_an_open_session_flushes_at_exit() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_to_end("exit_with_open_session", dir.path()));
    let (seqs, events) = seqs(&dir.path().join("crash.jsonl"), false);
    assert_eq!(seqs, (0..EVENTS).collect::<Vec<_>>());
    assert!(common::of_kind(&events, "session_end").is_empty());
}

#[test]
fn sigkill_after_flush_loses_at_most_the_unflushed_tail() {
    let dir = tempfile::tempdir().unwrap();
    run_and_kill("sigkill_after_flush", dir.path());
    let (seqs, _) = seqs(&dir.path().join("crash.jsonl"), true);
    assert!(
        seqs.len() as u64 >= EVENTS,
        "only {} events survived",
        seqs.len()
    );
    // What survived is a prefix, in order: nothing before the flush is missing.
    assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
}

#[test]
fn sigkill_in_durable_mode_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    run_and_kill("sigkill_durable", dir.path());
    let path = dir.path().join("crash.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'), "a durable trace has no torn line");
    let (seqs, _) = seqs(&path, false);
    assert_eq!(seqs, (0..DURABLE_EVENTS).collect::<Vec<_>>());
}
