//! With `write_file(false)` the recorder only sends: no trace file appears,
//! and when nothing listens at the endpoint, ending the session and dropping
//! the last handle takes about the shutdown timeout, not forever.
//! (Delivery to a real server is tested in
//! `crates/loupe-server/tests/recorder_http_sink.rs`.)
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use loupe::{LlmResponse, Recorder};
use loupe_model::{SessionStatus, TokenUsage};

#[test]
fn http_only_recorder_writes_no_file_and_ends_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("http-only")
        .write_file(false)
        .endpoint(format!("http://{addr}"))
        .http_shutdown_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    assert!(session.is_recording());
    assert_eq!(session.path(), None);
    for n in 0..50 {
        session.record_llm_response(&LlmResponse {
            model: Some("m"),
            usage: TokenUsage::otel(n, 1),
            ..Default::default()
        });
    }
    let recorder = session.recorder();
    let start = Instant::now();
    session.end(SessionStatus::Completed);
    let summary = recorder.summary();
    drop(recorder);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert_eq!(summary.events, 52);
    assert_eq!(summary.sent, 0);
}

#[test]
fn endpoints_other_than_plain_http_are_refused_at_start() {
    let err = Recorder::builder()
        .endpoint("https://collector.example:4318")
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("http://"), "{err}");
}
