//! The `loupe` recording library's HTTP sink against the real server (real
//! HTTP on 127.0.0.1, real SQLite): a recorded session arrives complete; a
//! server that starts late still gets everything; a server answering 429
//! gets every event eventually; an unreachable server never slows the agent
//! down and the losses are counted and reported once it can be reached.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loupe::{LlmRequest, LlmResponse, Recorder};
use loupe_model::{EventKind, SessionStatus, TokenUsage};
use loupe_server::{ServerConfig, ServerHandle};
use loupe_store::{EventQuery, SqliteStore, Store};
use serde_json::json;

/// Generous: the machine is shared; the condition is polled, not slept on.
const PATIENCE: Duration = Duration::from_secs(60);

fn server_config(bind: SocketAddr) -> ServerConfig {
    ServerConfig {
        bind,
        summary_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

fn sqlite(dir: &Path) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(dir.join("loupe.db")).unwrap())
}

/// A loopback address nothing listens on (bound, then released).
fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stored_ids(store: &SqliteStore, session: &str) -> BTreeSet<String> {
    store
        .events(session, &EventQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.event_id)
        .collect()
}

fn file_ids(path: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event_id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// One iteration with an LLM call, a tool call that works and one that fails.
fn record_iteration(session: &Recorder, n: u64) {
    let it = session.iteration();
    let call = it.llm_call(&LlmRequest {
        model: Some("claude-sonnet-4-5"),
        ..Default::default()
    });
    call.response(&LlmResponse {
        usage: TokenUsage::otel(1_000 + n, 50).with_cache(800, 0),
        stop_reason: Some("tool_use"),
        content: Some("let me read the file"),
        ..Default::default()
    });
    let _ = it.in_tool("read_file", Some(&json!({"path": "src/main.rs"})), || {
        Ok::<_, std::io::Error>("fn main() {}")
    });
    let _ = it.in_tool("run_tests", Some(&json!({"cmd": "cargo test"})), || {
        Err::<(), _>(std::io::Error::other("2 tests failed"))
    });
}

#[test]
fn a_recorded_session_arrives_complete_with_its_llm_and_tool_spans() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path());
    let server = ServerHandle::start(server_config(free_addr()), store.clone()).unwrap();
    let session = Recorder::builder()
        .dir(dir.path().join("traces"))
        .session_id("http-complete")
        .endpoint(server.url())
        .http_max_delay(Duration::from_millis(20))
        .start()
        .unwrap();
    let recorder = session.recorder();
    for n in 0..20 {
        record_iteration(&recorder, n);
    }
    let path = session.path().unwrap().to_owned();
    session.end(SessionStatus::Completed);

    let in_file = file_ids(&path);
    assert!(in_file.len() > 100, "{}", in_file.len());
    wait_until("every event on the server", || {
        stored_ids(&store, "http-complete").len() >= in_file.len()
    });
    assert_eq!(stored_ids(&store, "http-complete"), in_file);
    let kinds: BTreeSet<EventKind> = store
        .events("http-complete", &EventQuery::default())
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in [
        EventKind::SessionStart,
        EventKind::LlmRequest,
        EventKind::LlmResponse,
        EventKind::ToolStart,
        EventKind::ToolEnd,
        EventKind::ToolError,
        EventKind::SessionEnd,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} missing: {kinds:?}");
    }
    wait_until("the sink's count", || {
        recorder.summary().sent == in_file.len() as u64
    });
    assert_eq!(recorder.summary().undelivered, 0);
    drop(recorder);
    server.shutdown().unwrap();
}

#[test]
fn events_recorded_before_the_server_starts_are_delivered_once_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let session = Recorder::builder()
        .dir(dir.path().join("traces"))
        .session_id("http-late-server")
        .endpoint(format!("http://{addr}"))
        .http_max_delay(Duration::from_millis(10))
        .start()
        .unwrap();
    let recorder = session.recorder();
    for n in 0..10 {
        record_iteration(&recorder, n);
    }
    assert!(recorder.flush());
    let path = session.path().unwrap().to_owned();
    session.end(SessionStatus::Completed);
    // The sink has been failing to connect for a while before the server
    // comes up on the same port.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(recorder.summary().sent, 0);

    let store = sqlite(dir.path());
    let server = ServerHandle::start(server_config(addr), store.clone()).unwrap();
    let in_file = file_ids(&path);
    wait_until("the late server to get every event", || {
        stored_ids(&store, "http-late-server").len() >= in_file.len()
    });
    assert_eq!(stored_ids(&store, "http-late-server"), in_file);
    assert_eq!(recorder.summary().undelivered, 0);
    drop(recorder);
    server.shutdown().unwrap();
}

#[test]
fn a_server_answering_429_still_gets_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(dir.path());
    // Room for one batch at a time: concurrent sessions overflow it.
    let config = ServerConfig {
        queue_events: 100,
        ..server_config(free_addr())
    };
    let server = ServerHandle::start(config, store.clone()).unwrap();
    let url = server.url();
    let sessions: Vec<(String, std::path::PathBuf)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|s| {
                let (url, traces) = (url.clone(), dir.path().join("traces"));
                scope.spawn(move || {
                    let id = format!("http-429-{s}");
                    let session = Recorder::builder()
                        .dir(traces)
                        .session_id(&id)
                        .endpoint(url)
                        .http_batch_size(100)
                        .http_max_delay(Duration::from_millis(1))
                        .buffer_size(4096)
                        .queue_full(loupe::QueueFullPolicy::Block)
                        .http_shutdown_timeout(Duration::from_secs(30))
                        .start()
                        .unwrap();
                    for n in 0..1_500u64 {
                        session.record_llm_response(&LlmResponse {
                            model: Some("claude-sonnet-4-5"),
                            usage: TokenUsage::otel(n, 1),
                            ..Default::default()
                        });
                        if n % 100 == 0 {
                            session.flush();
                        }
                    }
                    let path = session.path().unwrap().to_owned();
                    let summary = session.summary();
                    session.end(SessionStatus::Completed);
                    assert_eq!(summary.dropped, 0);
                    (id, path)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (id, path) in &sessions {
        let in_file = file_ids(path);
        assert_eq!(in_file.len(), 1_502);
        wait_until("every event of every session", || {
            stored_ids(&store, id).len() >= in_file.len()
        });
        assert_eq!(&stored_ids(&store, id), &in_file, "{id}");
    }
    let metrics = ureq::get(&format!("{url}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let refused_full: f64 = metrics
        .lines()
        .find(|l| l.starts_with("loupe_refused_requests_total{reason=\"queue_full\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    assert!(refused_full > 0.0, "no 429 was ever answered:\n{metrics}");
    server.shutdown().unwrap();
}

#[test]
fn an_unreachable_server_never_blocks_recording_and_drops_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let session = Recorder::builder()
        .dir(dir.path().join("traces"))
        .session_id("http-unreachable")
        .endpoint(format!("http://{addr}"))
        .http_buffer_bytes(64 * 1024)
        .http_shutdown_timeout(Duration::from_secs(2))
        .start()
        .unwrap();
    let resp = LlmResponse {
        model: Some("claude-sonnet-4-5"),
        usage: TokenUsage::otel(12_000, 300),
        stop_reason: Some("end_turn"),
        ..Default::default()
    };
    let start = Instant::now();
    for _ in 0..100_000 {
        session.record_llm_response(&resp);
    }
    let recording = start.elapsed();
    // Dozens of milliseconds normally; only a stalled caller takes seconds.
    assert!(recording < Duration::from_secs(10), "{recording:?}");
    assert!(session.flush());
    let summary = session.summary();
    let in_file = std::fs::read_to_string(session.path().unwrap())
        .unwrap()
        .lines()
        .count() as u64;
    assert!(
        in_file + summary.dropped >= 100_001,
        "{in_file} + {}",
        summary.dropped
    );
    // 100k lines do not fit in 64 KiB: all but a few hundred are counted as
    // undelivered (or, in a slow build, already dropped from the queue).
    assert!(
        summary.undelivered + summary.dropped > 90_000,
        "{summary:?}"
    );
    assert_eq!(summary.sent, 0);

    // The server comes up; ending the session delivers what the sink holds,
    // with a `loupe_dropped` event counting the rest.
    let store = sqlite(dir.path());
    let server = ServerHandle::start(server_config(addr), store.clone()).unwrap();
    let ending = Instant::now();
    session.end(SessionStatus::Completed);
    let ended = ending.elapsed();
    assert!(ended < Duration::from_secs(8), "{ended:?}");
    wait_until("the drop report on the server", || {
        store
            .events("http-unreachable", &EventQuery::default())
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::Dropped)
    });
    let events = store
        .events("http-unreachable", &EventQuery::default())
        .unwrap();
    let reported: u64 = events
        .iter()
        .filter(|e| e.kind == EventKind::Dropped)
        .filter_map(|e| e.data.get("dropped").and_then(|d| d.as_u64()))
        .sum();
    assert!(reported >= summary.undelivered, "{reported} < {summary:?}");
    assert!(events.len() > 10, "{}", events.len());
    server.shutdown().unwrap();
}

#[test]
fn with_no_server_at_all_ending_the_session_takes_at_most_the_shutdown_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path().join("traces"))
        .session_id("http-never")
        .endpoint(format!("http://{}", free_addr()))
        .http_shutdown_timeout(Duration::from_millis(300))
        .start()
        .unwrap();
    for n in 0..5 {
        record_iteration(&session, n);
    }
    let start = Instant::now();
    let recorder = session.recorder();
    session.end(SessionStatus::Completed);
    drop(recorder);
    let took = start.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
}
