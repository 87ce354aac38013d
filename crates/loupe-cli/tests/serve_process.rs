//! `loupe serve` as a process: SIGTERM (what systemd, Docker and
//! Kubernetes send) stops it as Ctrl-C does, storing what was acknowledged.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, Read};
use std::process::{Command, Stdio};

const LOUPE: &str = env!("CARGO_BIN_EXE_loupe");

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("loupe.db");
    let mut child = Command::new(LOUPE)
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_owned();
    let body = "{\"event_id\":\"e1\",\"kind\":\"session_start\",\"timestamp\":\"2026-03-01T09:00:00Z\",\"session_id\":\"term\"}\n";
    let response = ureq::post(&format!("{url}/api/v1/events"))
        .set("content-type", "application/x-ndjson")
        .send_string(body)
        .unwrap();
    assert_eq!(response.status(), 200);
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status:?}: {rest}");
    assert!(rest.contains("stopping"), "{rest}");
    // What was acknowledged is in the store.
    let o = Command::new(LOUPE)
        .args(["query", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("term"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
