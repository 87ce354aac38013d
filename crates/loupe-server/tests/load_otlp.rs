//! Load test on loopback, bounded in count and time: several clients post
//! 1,000,000 OTLP protobuf spans to an in-process server whose ingest queue
//! is deliberately small. Overload must show as 429/503 answers that the
//! clients retry (never other errors or dropped connections), every
//! acknowledged span must be in the store afterwards, and the process's
//! memory must stay bounded.

#![allow(clippy::unwrap_used)]

#[path = "load_common/mod.rs"]
mod load_common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use load_common::{encode, request, rss_bytes, session_id, span_id, Client, Delivery};
use loupe_server::{ServerConfig, ServerHandle};
use loupe_store::{EventQuery, SqliteStore, Store};

const SPANS_PER_SESSION: u64 = 100;
const SESSIONS_PER_REQUEST: u64 = 10;
const SESSIONS: u64 = 10_000;
const CLIENTS: u64 = 4;
/// Room for three requests' events (two per span): four clients overflow it.
const QUEUE_EVENTS: usize = 3 * (SESSIONS_PER_REQUEST * SPANS_PER_SESSION * 2) as usize;
/// Peak resident memory allowed for the whole process (server, clients, SQLite cache).
const MAX_RSS_BYTES: u64 = 1536 << 20;
/// Clients stop sending after this long, so a broken server cannot hang the suite.
const SEND_DEADLINE: Duration = Duration::from_secs(900);
const RUN: u64 = 0x10ad;

#[derive(Default)]
struct Totals {
    acknowledged_sessions: Vec<u64>,
    unacknowledged_requests: u64,
    too_many_requests: u64,
    unavailable: u64,
    failed_statuses: Vec<u16>,
    connection_errors: u64,
}

impl Totals {
    fn add(&mut self, sessions: std::ops::Range<u64>, d: Delivery) {
        if d.acknowledged {
            self.acknowledged_sessions.extend(sessions);
        } else {
            self.unacknowledged_requests += 1;
        }
        self.too_many_requests += d.too_many_requests;
        self.unavailable += d.unavailable;
        self.failed_statuses.extend(d.failed_status);
        self.connection_errors += d.connection_errors;
    }
}

#[test]
fn a_million_spans_under_overload_are_all_stored_with_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("load.db");
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        queue_events: QUEUE_EVENTS,
        ..ServerConfig::default()
    };
    let server = ServerHandle::start(config, Arc::new(SqliteStore::open(&db).unwrap())).unwrap();
    let base = server.url();

    // Peak RSS, sampled while the load runs.
    let done = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(rss_bytes().unwrap_or(0)));
    let sampler = {
        let (done, peak_rss) = (done.clone(), peak_rss.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes() {
                    peak_rss.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };

    let start_nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let next_request = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(Mutex::new(Totals::default()));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next_request, totals, base) = (next_request.clone(), totals.clone(), base.clone());
            std::thread::spawn(move || {
                let mut client = Client::new(&base);
                // The server answers Retry-After: 1; honour it, but no longer.
                client.max_retry_wait = Duration::from_secs(1);
                loop {
                    let n = next_request.fetch_add(1, Ordering::Relaxed);
                    let first = n * SESSIONS_PER_REQUEST;
                    if first >= SESSIONS || started.elapsed() > SEND_DEADLINE {
                        break;
                    }
                    let sessions = first..(first + SESSIONS_PER_REQUEST).min(SESSIONS);
                    let body = encode(&request(
                        RUN,
                        sessions.clone(),
                        SPANS_PER_SESSION,
                        start_nanos,
                    ));
                    let delivery = client.deliver(&body);
                    totals.lock().unwrap().add(sessions, delivery);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let sending = started.elapsed();
    // Shutting down commits everything queued and refreshes every pending
    // summary; nothing acknowledged may be missing after.
    server.shutdown().unwrap();
    let shutting_down = started.elapsed() - sending;
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak_rss = peak_rss.load(Ordering::Relaxed);

    let totals = std::mem::take(&mut *totals.lock().unwrap());
    let acknowledged_spans = totals.acknowledged_sessions.len() as u64 * SPANS_PER_SESSION;
    eprintln!(
        "load_otlp: {acknowledged_spans} spans acknowledged in {:.1} s ({:.0} spans/s); \
         {} × 429, {} × 503, peak RSS {} MiB",
        sending.as_secs_f64(),
        acknowledged_spans as f64 / sending.as_secs_f64(),
        totals.too_many_requests,
        totals.unavailable,
        peak_rss >> 20
    );
    assert!(
        totals.failed_statuses.is_empty(),
        "answers other than 200/429/503: {:?}",
        totals.failed_statuses
    );
    assert_eq!(totals.connection_errors, 0, "connection errors");
    assert_eq!(
        totals.unacknowledged_requests, 0,
        "requests never acknowledged"
    );
    assert!(
        acknowledged_spans >= 1_000_000,
        "only {acknowledged_spans} spans acknowledged before the deadline"
    );
    assert!(
        totals.too_many_requests + totals.unavailable > 0,
        "a queue of {QUEUE_EVENTS} events with {CLIENTS} clients must push back"
    );
    assert!(
        peak_rss < MAX_RSS_BYTES,
        "peak RSS {} MiB exceeds {} MiB",
        peak_rss >> 20,
        MAX_RSS_BYTES >> 20
    );

    // Every acknowledged span is stored: its start and end events, by span id.
    let store = SqliteStore::open(&db).unwrap();
    let mut stored_events = 0u64;
    for &session in &totals.acknowledged_sessions {
        let id = session_id(RUN, session);
        let events = store.events(&id, &EventQuery::default()).unwrap();
        stored_events += events.len() as u64;
        let ids: HashSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        for index in 0..SPANS_PER_SESSION {
            let span = const_hex_encode(&span_id(session, index));
            for suffix in ["start", "end"] {
                let event = format!("{span}:{suffix}");
                assert!(
                    ids.contains(event.as_str()),
                    "session {id}: {event} missing"
                );
            }
        }
        assert_eq!(
            events.len() as u64,
            SPANS_PER_SESSION * 2,
            "session {id}: unexpected events"
        );
    }
    assert_eq!(stored_events, acknowledged_spans * 2);
    eprintln!(
        "load_otlp: shutdown (summaries of pending sessions) took {:.1} s, checking the store {:.1} s",
        shutting_down.as_secs_f64(),
        (started.elapsed() - sending - shutting_down).as_secs_f64()
    );
}

fn const_hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
