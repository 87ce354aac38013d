//! Queue-full policies: `Drop` never blocks, counts what it dropped and the
//! writer records a `loupe_dropped` event; `Block` loses nothing.
#![allow(clippy::unwrap_used)]

mod common;

use loupe::{QueueFullPolicy, Recorder};
use serde_json::{json, Map};

const EVENTS: u64 = 20_000;

fn flood(policy: QueueFullPolicy) -> (loupe::Summary, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("flood")
        .queue_capacity(4)
        .queue_full(policy)
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let rec = session.recorder();
    for seq in 0..EVENTS {
        let mut data = Map::new();
        data.insert("seq".into(), json!(seq));
        // Long strings make the writer slower than this loop.
        data.insert("pad".into(), json!("x".repeat(500)));
        rec.record_custom("e", data);
    }
    drop(session);
    let summary = rec.summary();
    drop(rec);
    (summary, common::read_events(&path))
}

#[test]
fn drop_policy_counts_drops_and_reports_them_in_the_trace() {
    let (summary, events) = flood(QueueFullPolicy::Drop);
    let written = common::of_kind(&events, "custom").len() as u64;
    assert!(summary.dropped > 0, "the queue of 4 never filled");
    assert_eq!(written + summary.dropped, EVENTS);
    let reported: u64 = common::of_kind(&events, "loupe_dropped")
        .iter()
        .map(|e| e["data"]["dropped"].as_u64().unwrap())
        .sum();
    assert_eq!(reported, summary.dropped);
    // The summary in session_end carries the count as of the end.
    let end = common::of_kind(&events, "session_end")[0];
    assert_eq!(end["data"]["summary"]["dropped"], summary.dropped);
}

#[test]
fn block_policy_loses_nothing() {
    let (summary, events) = flood(QueueFullPolicy::Block);
    assert_eq!(summary.dropped, 0);
    let seqs: Vec<u64> = common::of_kind(&events, "custom")
        .iter()
        .map(|e| e["data"]["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (0..EVENTS).collect::<Vec<_>>());
    assert!(common::of_kind(&events, "loupe_dropped").is_empty());
}
