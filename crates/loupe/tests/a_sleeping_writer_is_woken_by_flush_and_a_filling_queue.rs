//! The writer sleeps between batches and record calls do not wake it per
//! event; these tests prove it still wakes when it must: on `flush()` and
//! when the queue fills, long before its (here very long) flush interval.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use loupe::{LlmResponse, QueueFullPolicy, Recorder};
use loupe_model::TokenUsage;

const LONG_INTERVAL: Duration = Duration::from_secs(60);

#[test]
fn flush_wakes_the_writer_and_returns_with_the_event_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("wake-flush")
        .flush_interval(LONG_INTERVAL)
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    // Let the writer finish session_start and go to sleep.
    std::thread::sleep(Duration::from_millis(50));
    session.record_llm_response(&LlmResponse {
        model: Some("m"),
        usage: TokenUsage::otel(10, 2),
        ..LlmResponse::default()
    });
    let started = Instant::now();
    assert!(session.flush(), "the writer never confirmed the flush");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let events = common::read_events(&path);
    let responses = common::of_kind(&events, "llm_response");
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0]["data"]["usage"]["input_tokens"], 10);
}

#[test]
fn a_full_queue_wakes_the_writer_so_blocked_callers_proceed() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("wake-full")
        .flush_interval(LONG_INTERVAL)
        .queue_capacity(8)
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let started = Instant::now();
    for i in 0..1_000u64 {
        session.record_llm_response(&LlmResponse {
            usage: TokenUsage::otel(i, 1),
            ..LlmResponse::default()
        });
    }
    // 1,000 events through a queue of 8 need the writer awake throughout;
    // had it slept for its flush interval this would take a minute.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(session.summary().dropped, 0);
    let path = session.path().unwrap().to_owned();
    drop(session);
    let events = common::read_events(&path);
    let inputs: Vec<u64> = common::of_kind(&events, "llm_response")
        .iter()
        .map(|e| e["data"]["usage"]["input_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(inputs, (0..1_000).collect::<Vec<_>>());
}
