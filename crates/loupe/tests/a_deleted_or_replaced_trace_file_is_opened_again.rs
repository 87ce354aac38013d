//! A trace file deleted or replaced while the session records (a cleanup
//! job, an editor saving over it) is opened again at its path: the events
//! after land in the file there, it starts with a `loupe_dropped` event
//! counting the events the old file took with it, the summary counts the
//! reopening and `flush()` no longer claims a complete trace.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

use loupe::{Recorder, SessionStatus};
use serde_json::{json, Map};
mod common;
use common::{of_kind, read_events};

fn record(session: &Recorder, phase: &str, n: u64) {
    for seq in 0..n {
        let mut data = Map::new();
        data.insert("phase".into(), json!(phase));
        data.insert("seq".into(), json!(seq));
        session.record_custom("step", data);
    }
}

fn phases(events: &[serde_json::Value]) -> Vec<String> {
    of_kind(events, "custom")
        .iter()
        .map(|e| e["data"]["phase"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn events_after_the_trace_file_was_deleted_or_replaced_land_in_the_file_at_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("moved")
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    record(&session, "before", 10);
    assert!(session.flush());

    std::fs::remove_file(&path).unwrap();
    record(&session, "after-delete", 5);
    assert!(
        !session.flush(),
        "the file at the path misses the session's first events"
    );
    let events = read_events(&path);
    let dropped = of_kind(&events, "loupe_dropped");
    assert_eq!(dropped.len(), 1, "{events:?}");
    // session_start and the ten events before.
    assert_eq!(dropped[0]["data"]["dropped"], 11);
    assert_eq!(phases(&events), vec!["after-delete"; 5]);
    let summary = session.summary();
    assert_eq!((summary.reopened, summary.unwritten), (1, 11));

    // Replaced by another file (a new inode) at the same path.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"").unwrap();
    record(&session, "after-replace", 3);
    session.flush();
    let summary = session.summary();
    assert_eq!(summary.reopened, 2);
    // The marker and five events of the second file.
    assert_eq!(summary.unwritten, 11 + 6);
    session.end(SessionStatus::Completed);

    let events = read_events(&path);
    assert_eq!(phases(&events), vec!["after-replace"; 3]);
    let dropped = of_kind(&events, "loupe_dropped");
    assert_eq!(dropped.len(), 1, "{events:?}");
    assert_eq!(dropped[0]["data"]["dropped"], 6);
    assert_eq!(of_kind(&events, "session_end").len(), 1);
}

#[test]
fn a_trace_file_left_in_place_is_never_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("stays")
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    record(&session, "one", 100);
    assert!(session.flush());
    record(&session, "two", 100);
    assert!(session.flush());
    assert_eq!(session.summary().reopened, 0);
    session.end(SessionStatus::Completed);
    let events = read_events(&path);
    assert_eq!(phases(&events).len(), 200);
    assert!(of_kind(&events, "loupe_dropped").is_empty());
}
