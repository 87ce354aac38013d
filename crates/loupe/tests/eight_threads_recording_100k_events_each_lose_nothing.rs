//! 8 threads × 100,000 events into one session with the blocking policy:
//! every event arrives, every line is valid JSON, and each thread's events
//! are in the order it recorded them.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use loupe::{QueueFullPolicy, Recorder};
use serde::Deserialize;
use serde_json::{json, Map};

/// Just what the check needs; parsing into `Value` would dominate the test.
#[derive(Deserialize)]
struct Line<'a> {
    kind: &'a str,
    #[serde(default)]
    data: Option<Tick>,
}

#[derive(Deserialize)]
struct Tick {
    #[serde(default)]
    t: Option<u64>,
    #[serde(default)]
    seq: Option<u64>,
}

const THREADS: u64 = 8;
const PER_THREAD: u64 = 100_000;

#[test]
fn eight_threads_times_100k_events_all_arrive_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("stress")
        .queue_full(QueueFullPolicy::Block)
        .queue_capacity(8_192)
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let rec = Arc::new(session.recorder());
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let rec = Arc::clone(&rec);
            std::thread::spawn(move || {
                for seq in 0..PER_THREAD {
                    let mut data = Map::new();
                    data.insert("t".into(), json!(t));
                    data.insert("seq".into(), json!(seq));
                    rec.record_custom("tick", data);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let recorded = started.elapsed();
    let summary = rec.summary();
    drop(rec);
    drop(session);
    eprintln!(
        "recorded in {recorded:?}, written in {:?}",
        started.elapsed()
    );
    assert_eq!(summary.dropped, 0);
    assert_eq!(summary.write_errors, 0);

    let text = std::fs::read_to_string(&path).unwrap();
    let mut next: HashMap<u64, u64> = HashMap::new();
    let mut ticks = 0u64;
    for (i, line) in text.lines().enumerate() {
        let v: Line<'_> =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
        if v.kind != "custom" {
            continue;
        }
        let tick = v.data.unwrap();
        let (t, seq) = (tick.t.unwrap(), tick.seq.unwrap());
        let expected = next.entry(t).or_insert(0);
        assert_eq!(seq, *expected, "thread {t} out of order at line {}", i + 1);
        *expected += 1;
        ticks += 1;
    }
    assert_eq!(ticks, THREADS * PER_THREAD);
    assert!(next.values().all(|&n| n == PER_THREAD));
}
