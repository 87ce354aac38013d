//! The server's write path and REST API, end to end over real HTTP against a
//! real SQLite store: what is acknowledged is stored, bad payloads get clear
//! 4xx answers and store nothing, a full queue answers 429 with
//! `Retry-After`, keys are enforced, and a graceful shutdown loses nothing.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use loupe_model::Event;
use loupe_server::{ServerConfig, ServerHandle};
use loupe_store::testing::Intercepted;
use loupe_store::{EventQuery, SessionQuery, SqliteStore, Store, StoreResult};
use serde_json::{json, Value};

fn config() -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        summary_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

fn sqlite(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
    Arc::new(SqliteStore::open(dir.path().join("loupe.db")).unwrap())
}

/// A canonical JSONL session of `llm_calls` LLM calls and one tool call.
fn session_jsonl(session: &str, llm_calls: usize, task: &str) -> String {
    let mut lines = vec![json!({
        "event_id": format!("{session}-start"), "kind": "session_start",
        "timestamp": "2026-11-20T10:00:00.000000Z", "session_id": session,
        "data": {"format": "loupe", "format_version": 1, "task": task, "model": "claude-sonnet-4-5", "agent_name": "tester"}
    })];
    for i in 0..llm_calls {
        lines.push(json!({
            "event_id": format!("{session}-llm-{i}"), "kind": "llm_response",
            "timestamp": format!("2026-11-20T10:00:{:02}.000000Z", 1 + i % 50), "session_id": session,
            "iteration": i + 1, "duration_ms": 1200.0,
            "data": {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 1000, "output_tokens": 100}}
        }));
    }
    lines.push(json!({
        "event_id": format!("{session}-tool"), "kind": "tool_end",
        "timestamp": "2026-11-20T10:00:55.000000Z", "session_id": session, "iteration": 1,
        "duration_ms": 30.0, "data": {"tool": "read_file", "success": true}
    }));
    lines.push(json!({
        "event_id": format!("{session}-end"), "kind": "session_end",
        "timestamp": "2026-11-20T10:01:00.000000Z", "session_id": session,
        "data": {"status": "completed"}
    }));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, Value, Option<String>) {
    let result = ureq::post(url)
        .set("content-type", content_type)
        .send_bytes(body);
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url}: {e}"),
    };
    let status = response.status();
    let retry = response.header("retry-after").map(str::to_owned);
    let text = response.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        retry,
    )
}

fn get(url: &str) -> (u16, Value) {
    match ureq::get(url).call() {
        Ok(r) => (
            r.status(),
            serde_json::from_str(&r.into_string().unwrap()).unwrap(),
        ),
        Err(ureq::Error::Status(code, r)) => (
            code,
            serde_json::from_str(&r.into_string().unwrap()).unwrap_or(Value::Null),
        ),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// Polls `f` until it returns `Some`, for at most 20 s.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn acknowledged_native_events_are_stored_and_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let server = ServerHandle::start(config(), store.clone()).unwrap();
    let (status, body, _) = post(
        &format!("{}/api/v1/events", server.url()),
        "application/x-ndjson",
        session_jsonl("s1", 3, "fix the bug").as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 6);
    // Acknowledged means stored: the events are there before any summary.
    assert_eq!(store.events("s1", &EventQuery::default()).unwrap().len(), 6);
    let row = eventually("the summary of s1", || {
        let (_, list) = get(&format!("{}/api/v1/sessions", server.url()));
        list["sessions"].as_array()?.first().cloned()
    });
    assert_eq!(row["session_id"], "s1");
    assert_eq!(row["task"], "fix the bug");
    assert_eq!(row["status"], "completed");
    assert_eq!(row["metrics"]["llm_calls"], 3);
    assert_eq!(row["metrics"]["input_tokens"], 3000);
    assert_eq!(row["source"]["format"], "loupe");

    // Re-sending is idempotent.
    let (status, _, _) = post(
        &format!("{}/api/v1/events", server.url()),
        "application/x-ndjson",
        session_jsonl("s1", 3, "fix the bug").as_bytes(),
    );
    assert_eq!(status, 200);
    assert_eq!(store.events("s1", &EventQuery::default()).unwrap().len(), 6);

    // Detail and paged events.
    let (status, detail) = get(&format!("{}/api/v1/sessions/s1", server.url()));
    assert_eq!(status, 200);
    assert_eq!(detail["analysis"]["metrics"]["llm_calls"], 3);
    assert_eq!(detail["analysis"]["tools"][0]["name"], "read_file");
    let (_, page) = get(&format!(
        "{}/api/v1/sessions/s1/events?offset=2&limit=3",
        server.url()
    ));
    assert_eq!(page["events"].as_array().unwrap().len(), 3);
    assert_eq!(page["events"][0]["event_id"], "s1-llm-1");
    assert_eq!(page["has_more"], true);
    server.shutdown().unwrap();
}

#[test]
fn bad_payloads_get_clear_errors_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let server = ServerHandle::start(
        ServerConfig {
            max_decoded_bytes: 64 * 1024,
            ..config()
        },
        store.clone(),
    )
    .unwrap();
    let events = format!("{}/api/v1/events", server.url());
    let traces = format!("{}/v1/traces", server.url());

    // One bad line among good ones: 400 naming the line, nothing stored.
    let mut batch = session_jsonl("s2", 2, "t");
    batch.push_str("{\"kind\": \n");
    let (status, body, _) = post(&events, "application/x-ndjson", batch.as_bytes());
    assert_eq!(status, 400);
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("line 6"), "{message}");
    assert!(message.contains("nothing was stored"), "{message}");
    assert!(store
        .events("s2", &EventQuery::default())
        .unwrap()
        .is_empty());

    // An event with an empty session id: a session nobody could open.
    let empty = "{\"event_id\":\"x\",\"kind\":\"session_start\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"session_id\":\"\"}\n";
    let (status, body, _) = post(&events, "application/x-ndjson", empty.as_bytes());
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("session_id"),
        "{body}"
    );

    // OTLP: not OTLP at all, a wrong content type, broken gzip, a gzip bomb.
    let (status, body, _) = post(&traces, "application/json", b"{\"hello\": 1}");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("OTLP"), "{body}");
    let (status, _, _) = post(&traces, "text/plain", b"spans");
    assert_eq!(status, 415);
    let response = ureq::post(&traces)
        .set("content-type", "application/x-protobuf")
        .set("content-encoding", "gzip")
        .send_bytes(b"not gzip");
    assert!(matches!(response, Err(ureq::Error::Status(400, _))));
    let mut bomb = GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 1 << 20]).unwrap();
    let response = ureq::post(&traces)
        .set("content-type", "application/json")
        .set("content-encoding", "gzip")
        .send_bytes(&bomb.finish().unwrap());
    assert!(matches!(response, Err(ureq::Error::Status(413, _))));
    let response = ureq::post(&traces)
        .set("content-type", "application/json")
        .set("content-encoding", "br")
        .send_bytes(b"{}");
    assert!(matches!(response, Err(ureq::Error::Status(415, _))));

    // Bad query parameters name the parameter.
    let (status, body) = get(&format!("{}/api/v1/sessions?since=yesterday", server.url()));
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("since"), "{body}");
    let (status, _) = get(&format!("{}/api/v1/sessions/nope", server.url()));
    assert_eq!(status, 404);
    // An unknown endpoint is a JSON error naming the path, like the others.
    let (status, body) = get(&format!("{}/api/v1/nope", server.url()));
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("/api/v1/nope"),
        "{body}"
    );

    let metrics = ureq::get(&format!("{}/metrics", server.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains("loupe_refused_requests_total{reason=\"bad_request\"}"),
        "{metrics}"
    );
    // The gzip bomb was refused for its size once decompressed.
    assert!(
        metrics.contains("loupe_refused_requests_total{reason=\"too_large\"}"),
        "{metrics}"
    );
    server.shutdown().unwrap();
    assert_eq!(store.event_count().unwrap(), 0);
}

fn otlp_json(session: &str, spans: &[(&str, &str)]) -> Value {
    // (span id hex, trace id hex) pairs; an empty id is invalid.
    let spans: Vec<Value> = spans
        .iter()
        .enumerate()
        .map(|(i, (span_id, trace_id))| {
            json!({
                "traceId": trace_id, "spanId": span_id, "name": "chat claude-sonnet-4-5",
                "kind": 3,
                "startTimeUnixNano": format!("{}", 1_763_632_800_000_000_000u64 + i as u64 * 1_000_000_000),
                "endTimeUnixNano": format!("{}", 1_763_632_800_500_000_000u64 + i as u64 * 1_000_000_000),
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "claude-sonnet-4-5"}},
                    {"key": "gen_ai.conversation.id", "value": {"stringValue": session}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "200"}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "20"}}
                ]
            })
        })
        .collect();
    json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]})
}

#[test]
fn otlp_json_protobuf_and_gzip_with_partial_success() {
    use loupe_formats::otlp::decode_request_json;
    use prost::Message;

    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let server = ServerHandle::start(config(), store.clone()).unwrap();
    let traces = format!("{}/v1/traces", server.url());
    let trace = "5b8efff798038103d269b633813fc60c";

    // JSON with one invalid span: partial success names the rejected count.
    let body = otlp_json(
        "conv-json",
        &[
            ("eee19b7ec3c1b174", trace),
            ("", trace),
            ("eee19b7ec3c1b175", trace),
        ],
    );
    let (status, answer, _) = post(&traces, "application/json", body.to_string().as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 1, "{answer}");

    // Protobuf, gzip-compressed.
    let body = otlp_json(
        "conv-proto",
        &[("aaa19b7ec3c1b174", "6b8efff798038103d269b633813fc60c")],
    );
    let request = decode_request_json(body.to_string().as_bytes()).unwrap();
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&request.encode_to_vec()).unwrap();
    let response = ureq::post(&traces)
        .set("content-type", "application/x-protobuf")
        .set("content-encoding", "gzip")
        .send_bytes(&gz.finish().unwrap())
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/x-protobuf")
    );
    let mut bytes = Vec::new();
    response.into_reader().read_to_end(&mut bytes).unwrap();
    let answer =
        opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
            &bytes[..],
        )
        .unwrap();
    assert!(answer.partial_success.is_none());

    let rows = eventually("both OTLP sessions", || {
        let (_, list) = get(&format!("{}/api/v1/sessions?sort=name", server.url()));
        let rows = list["sessions"].as_array()?.clone();
        (rows.len() == 2).then_some(rows)
    });
    let json_row = rows
        .iter()
        .find(|r| r["session_id"] == "conv-json")
        .unwrap();
    assert_eq!(json_row["metrics"]["llm_calls"], 2);
    assert_eq!(json_row["metrics"]["input_tokens"], 400);
    assert_eq!(json_row["source"]["format"], "otlp");
    server.shutdown().unwrap();
}

use std::io::Read;

/// Where a real SQLite store's appends wait until the test opens it (so the
/// queue can be filled deterministically), and fail while `fail` is set.
struct Gate {
    open: Mutex<bool>,
    cond: Condvar,
    fail: Mutex<bool>,
}

impl Gate {
    fn set_open(&self, open: bool) {
        *self.open.lock().unwrap() = open;
        self.cond.notify_all();
    }

    fn pass(&self) -> StoreResult<()> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.cond.wait(open).unwrap();
        }
        drop(open);
        if *self.fail.lock().unwrap() {
            return Err(loupe_store::StoreError::new(
                loupe_store::StoreErrorKind::Io,
                "gated.db",
                "disk full (injected)",
            ));
        }
        Ok(())
    }
}

#[test]
fn a_full_queue_answers_429_and_a_failing_store_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let gate = Arc::new(Gate {
        open: Mutex::new(false),
        cond: Condvar::new(),
        fail: Mutex::new(false),
    });
    let mut gated = Intercepted::new(SqliteStore::open(dir.path().join("loupe.db")).unwrap());
    let at_gate = gate.clone();
    gated.before_append = Some(Box::new(move |_: &[Event]| at_gate.pass()));
    let store = Arc::new(gated);
    let server = ServerHandle::start(
        ServerConfig {
            queue_events: 10,
            ..config()
        },
        store.clone(),
    )
    .unwrap();
    let url = format!("{}/api/v1/events", server.url());

    // Larger than the whole queue: 413, not retryable.
    let (status, body, _) = post(
        &url,
        "application/x-ndjson",
        session_jsonl("big", 20, "t").as_bytes(),
    );
    assert_eq!(status, 413, "{body}");

    // Six events wait at the gate; the next six do not fit: 429 + Retry-After.
    let first = {
        let url = url.clone();
        std::thread::spawn(move || {
            post(
                &url,
                "application/x-ndjson",
                session_jsonl("a", 3, "t").as_bytes(),
            )
        })
    };
    eventually("the first batch to be queued", || {
        let (_, health) = get(&format!("{}/healthz", server.url()));
        (health["queue_events"] == 6).then_some(())
    });
    let (status, body, retry) = post(
        &url,
        "application/x-ndjson",
        session_jsonl("b", 3, "t").as_bytes(),
    );
    assert_eq!(status, 429, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    gate.set_open(true);
    let (status, body, _) = first.join().unwrap();
    assert_eq!(status, 200, "{body}");
    // Retrying after the wait succeeds.
    let (status, _, _) = post(
        &url,
        "application/x-ndjson",
        session_jsonl("b", 3, "t").as_bytes(),
    );
    assert_eq!(status, 200);

    // The store failing: 503 with Retry-After, and the client's events are not acknowledged.
    *gate.fail.lock().unwrap() = true;
    let (status, body, retry) = post(
        &url,
        "application/x-ndjson",
        session_jsonl("c", 1, "t").as_bytes(),
    );
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("disk full"),
        "{body}"
    );
    assert!(retry.is_some());
    *gate.fail.lock().unwrap() = false;
    server.shutdown().unwrap();
    assert_eq!(
        store
            .inner
            .events("a", &EventQuery::default())
            .unwrap()
            .len(),
        6
    );
    assert!(store
        .inner
        .events("c", &EventQuery::default())
        .unwrap()
        .is_empty());
}

#[test]
fn keys_are_enforced_per_role() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerHandle::start(
        ServerConfig {
            ingest_keys: vec!["in-key".into()],
            read_keys: vec!["read-key".into()],
            ..config()
        },
        sqlite(&dir),
    )
    .unwrap();
    let events = format!("{}/api/v1/events", server.url());
    let sessions = format!("{}/api/v1/sessions", server.url());
    let body = session_jsonl("k", 1, "t");
    let send = |key: Option<&str>| {
        let mut r = ureq::post(&events).set("content-type", "application/x-ndjson");
        if let Some(k) = key {
            r = r.set("authorization", &format!("Bearer {k}"));
        }
        match r.send_string(&body) {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(c, _)) => c,
            Err(e) => panic!("{e}"),
        }
    };
    let read = |key: Option<&str>| {
        let mut r = ureq::get(&sessions);
        if let Some(k) = key {
            r = r.set("authorization", &format!("Bearer {k}"));
        }
        match r.call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(c, _)) => c,
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(send(None), 401);
    assert_eq!(send(Some("read-key")), 401);
    assert_eq!(send(Some("in-key")), 200);
    assert_eq!(read(None), 401);
    assert_eq!(read(Some("in-key")), 401);
    assert_eq!(read(Some("read-key")), 200);
    assert_eq!(
        ureq::get(&format!("{}/healthz", server.url()))
            .call()
            .unwrap()
            .status(),
        200
    );
    // Off loopback without keys the server refuses to start.
    let err = ServerHandle::start(
        ServerConfig {
            bind: "0.0.0.0:0".parse().unwrap(),
            ..ServerConfig::default()
        },
        sqlite(&dir),
    )
    .err()
    .expect("must refuse");
    assert!(err.to_string().contains("API key"), "{err}");
}

/// Subscribes to a live stream; each call gives its next message (name, data).
fn live_events(url: &str) -> impl FnMut() -> (String, Value) {
    let stream = ureq::get(url).call().unwrap();
    assert_eq!(stream.header("content-type"), Some("text/event-stream"));
    let mut lines = BufReader::new(stream.into_reader()).lines();
    move || {
        let mut name = String::new();
        loop {
            let line = lines.next().expect("stream ended").unwrap();
            if let Some(n) = line.strip_prefix("event: ") {
                name = n.to_owned();
            } else if let Some(data) = line.strip_prefix("data: ") {
                return (name, serde_json::from_str(data).unwrap());
            }
        }
    }
}

#[test]
fn live_stream_announces_stored_events_and_new_summaries() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerHandle::start(config(), sqlite(&dir)).unwrap();
    let mut next_event = live_events(&format!("{}/api/v1/live?session=live-1", server.url()));
    assert_eq!(next_event().0, "ready");
    let url = format!("{}/api/v1/events", server.url());
    post(
        &url,
        "application/x-ndjson",
        session_jsonl("other", 1, "t").as_bytes(),
    );
    post(
        &url,
        "application/x-ndjson",
        session_jsonl("live-1", 2, "watch me").as_bytes(),
    );
    let (name, data) = next_event();
    assert_eq!(name, "events", "{data}");
    assert_eq!(data["session_id"], "live-1");
    assert_eq!(data["events"].as_array().unwrap().len(), 5);
    let (name, data) = next_event();
    assert_eq!(name, "session", "{data}");
    assert_eq!(data["session_id"], "live-1");
    assert_eq!(data["task"], "watch me");
    // Shutdown ends the stream instead of hanging on it.
    server.shutdown().unwrap();
}

#[test]
fn shutdown_stores_everything_acknowledged_and_summarises_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loupe.db");
    let server = ServerHandle::start(
        ServerConfig {
            summary_interval: Duration::from_secs(3600),
            ..config()
        },
        Arc::new(SqliteStore::open(&path).unwrap()),
    )
    .unwrap();
    let url = format!("{}/api/v1/events", server.url());
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut acknowledged = 0;
                for s in 0..25 {
                    let (status, body, _) = post(
                        &url,
                        "application/x-ndjson",
                        session_jsonl(&format!("c{c}-s{s}"), 4, "t").as_bytes(),
                    );
                    assert_eq!(status, 200);
                    acknowledged += body["accepted"].as_u64().unwrap();
                }
                acknowledged
            })
        })
        .collect();
    let acknowledged: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    server.shutdown().unwrap();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.event_count().unwrap(), acknowledged);
    let rows = store.sessions(&SessionQuery::default()).unwrap();
    assert_eq!(rows.len(), 100, "every session summarised at shutdown");
}

#[test]
fn later_batches_of_a_trace_join_the_session_an_earlier_batch_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let server = ServerHandle::start(config(), store.clone()).unwrap();
    let traces = format!("{}/v1/traces", server.url());
    let trace = "7b8efff798038103d269b633813fc60c";
    let first = otlp_json("conv-split", &[("bbb19b7ec3c1b174", trace)]);
    let (status, _, _) = post(&traces, "application/json", first.to_string().as_bytes());
    assert_eq!(status, 200);
    // The second batch's span carries no session attribute at all.
    let mut second = otlp_json("unused", &[("bbb19b7ec3c1b175", trace)]);
    second["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["key"] != "gen_ai.conversation.id");
    let (status, _, _) = post(&traces, "application/json", second.to_string().as_bytes());
    assert_eq!(status, 200);
    let events = store.events("conv-split", &EventQuery::default()).unwrap();
    let spans: std::collections::BTreeSet<_> =
        events.iter().filter_map(|e| e.span_id.clone()).collect();
    assert_eq!(spans.len(), 2, "{events:#?}");
    assert!(store
        .events(trace, &EventQuery::default())
        .unwrap()
        .is_empty());
    server.shutdown().unwrap();
}

#[test]
fn earlier_batches_of_a_trace_join_the_session_a_later_batch_names() {
    // The usual order: children end (and are exported) before the root span
    // that names the session.
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let server = ServerHandle::start(config(), store.clone()).unwrap();
    let traces = format!("{}/v1/traces", server.url());
    let trace = "8c8efff798038103d269b633813fc60d";
    // A page following the trace-id session hears where it went.
    let mut next_event = live_events(&format!("{}/api/v1/live?session={trace}", server.url()));
    let mut next_named = |wanted: &str| loop {
        let (name, data) = next_event();
        if name == wanted {
            return data;
        }
    };
    next_named("ready");
    let unnamed = |span: &str| {
        let mut body = otlp_json("unused", &[(span, trace)]);
        body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]
            .as_array_mut()
            .unwrap()
            .retain(|a| a["key"] != "gen_ai.conversation.id");
        body
    };
    for span in ["ccc19b7ec3c1b171", "ccc19b7ec3c1b172"] {
        let (status, _, _) = post(
            &traces,
            "application/json",
            unnamed(span).to_string().as_bytes(),
        );
        assert_eq!(status, 200);
    }
    eventually("the trace-id session's summary", || {
        store.session(trace).unwrap()
    });
    let named = otlp_json("conv-late", &[("ccc19b7ec3c1b173", trace)]);
    let (status, _, _) = post(&traces, "application/json", named.to_string().as_bytes());
    assert_eq!(status, 200);
    let removed = next_named("removed");
    assert_eq!(
        (
            removed["session_id"].as_str(),
            removed["merged_into"].as_str()
        ),
        (Some(trace), Some("conv-late"))
    );
    let spans = || {
        store
            .events("conv-late", &EventQuery::default())
            .unwrap()
            .iter()
            .filter_map(|e| e.span_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(spans().len(), 3);
    // A straggler of the trace sent without the session still joins it.
    let (status, _, _) = post(
        &traces,
        "application/json",
        unnamed("ccc19b7ec3c1b174").to_string().as_bytes(),
    );
    assert_eq!(status, 200);
    assert_eq!(spans().len(), 4);
    let row = eventually("the merged summary", || {
        store
            .session("conv-late")
            .unwrap()
            .filter(|r| r.metrics.llm_calls == 4)
    });
    assert_eq!(row.metrics.total_tokens(), Some(4 * 220));
    eventually("the trace-id session gone", || {
        (store.session(trace).unwrap().is_none()
            && store
                .events(trace, &EventQuery::default())
                .unwrap()
                .is_empty())
        .then_some(())
    });
    server.shutdown().unwrap();
}

/// Garbage and near-valid bodies never crash the server nor get a 5xx: each
/// is either stored (2xx) or refused with a 4xx naming the problem.
#[test]
fn mutated_and_random_bodies_get_4xx_never_5xx() {
    use loupe_formats::otlp::decode_request_json;
    use prost::Message;

    let dir = tempfile::tempdir().unwrap();
    let server = ServerHandle::start(config(), sqlite(&dir)).unwrap();
    let valid_json = otlp_json(
        "fuzz",
        &[("ccc19b7ec3c1b174", "8b8efff798038103d269b633813fc60c")],
    )
    .to_string()
    .into_bytes();
    let valid_proto = decode_request_json(&valid_json).unwrap().encode_to_vec();
    let valid_jsonl = session_jsonl("fuzz-native", 2, "t").into_bytes();
    let targets = [
        ("/v1/traces", "application/json", valid_json),
        ("/v1/traces", "application/x-protobuf", valid_proto),
        ("/api/v1/events", "application/x-ndjson", valid_jsonl),
    ];
    // xorshift: deterministic, no dependency.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let (path, content_type, valid) = &targets[round % targets.len()];
        let mut body = valid.clone();
        match next() % 4 {
            0 => body.truncate((next() as usize) % body.len()),
            1 => {
                for _ in 0..1 + next() % 8 {
                    let i = (next() as usize) % body.len();
                    body[i] = next() as u8;
                }
            }
            2 => body = (0..next() % 512).map(|_| next() as u8).collect(),
            _ => {
                let i = (next() as usize) % body.len();
                let j = (next() as usize) % body.len();
                let (a, b) = (i.min(j), i.max(j));
                body.drain(a..b);
            }
        }
        let response = ureq::post(&format!("{}{path}", server.url()))
            .set("content-type", content_type)
            .send_bytes(&body);
        let status = match response {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("round {round}: transport error {e}"),
        };
        assert!(
            (200..300).contains(&status) || (400..500).contains(&status),
            "round {round} {path}: status {status} for {body:?}"
        );
    }
    let (status, health) = get(&format!("{}/healthz", server.url()));
    assert_eq!(status, 200, "{health}");
    server.shutdown().unwrap();
}

#[test]
fn bodies_up_to_the_configured_limit_are_taken_and_larger_ones_refused_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    // 3 MiB of JSONL: over axum's own 2 MiB default, under the 32 MiB default.
    let big = session_jsonl("big", 14_000, "a large batch");
    assert!(big.len() > 3 << 20, "{}", big.len());
    let server = ServerHandle::start(config(), store.clone()).unwrap();
    let events = format!("{}/api/v1/events", server.url());
    let (status, body, _) = post(&events, "application/x-ndjson", big.as_bytes());
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["accepted"], 14_003);
    server.shutdown().unwrap();

    // A lower limit refuses the same body whole, in JSON, counted.
    let small = ServerConfig {
        max_body_bytes: 1 << 20,
        ..config()
    };
    let server = ServerHandle::start(small, sqlite(&tempfile::tempdir().unwrap())).unwrap();
    // The server reads an oversized body to its end before answering, so
    // the client gets the 413 (not a connection closed mid-send).
    let refused = |url: String, content_type: &str| {
        let (status, body, _) = post(&url, content_type, big.as_bytes());
        (status, body)
    };
    let (status, body) = refused(
        format!("{}/api/v1/events", server.url()),
        "application/x-ndjson",
    );
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("--max-body-mib"),
        "{body}"
    );
    let (status, body) = refused(format!("{}/v1/traces", server.url()), "application/json");
    assert_eq!(status, 413, "{body}");
    let metrics = ureq::get(&format!("{}/metrics", server.url()))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let too_large = metrics
        .lines()
        .find(|l| l.starts_with("loupe_refused_requests_total{reason=\"too_large\"}"))
        .unwrap_or_else(|| panic!("{metrics}"));
    let count: f64 = too_large.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 2.0, "{too_large}");
    server.shutdown().unwrap();
}

#[test]
fn native_ingest_refuses_foreign_content_types_and_otlp_takes_an_empty_request() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let server = ServerHandle::start(config(), store.clone()).unwrap();
    let events = format!("{}/api/v1/events", server.url());
    let jsonl = session_jsonl("s", 1, "t");
    for foreign in ["image/png", "application/x-protobuf"] {
        let (status, body, _) = post(&events, foreign, jsonl.as_bytes());
        assert_eq!(status, 415, "{foreign}: {body}");
        assert!(body["error"].is_string(), "{body}");
    }
    // curl's default type and plain text are taken as JSONL.
    for ok in ["application/x-www-form-urlencoded", "text/plain"] {
        let (status, body, _) = post(&events, ok, jsonl.as_bytes());
        assert_eq!(status, 200, "{ok}: {body}");
    }
    // An empty request is valid OTLP in either encoding.
    let traces = format!("{}/v1/traces", server.url());
    let (status, body, _) = post(&traces, "application/json", b"{}");
    assert_eq!(status, 200, "{body}");
    let (status, _, _) = post(&traces, "application/x-protobuf", b"");
    assert_eq!(status, 200);
    server.shutdown().unwrap();
    assert_eq!(store.event_count().unwrap(), 4);
}

/// An OTLP/JSON span of trace `trace` (ids in hex), `ms` after a fixed time.
#[allow(clippy::too_many_arguments)]
fn agent_trace_span(
    trace: &str,
    id: &str,
    parent: Option<&str>,
    name: &str,
    kind: u32,
    flags: u32,
    start_ms: u64,
    end_ms: u64,
    attributes: &[(&str, &str)],
) -> Value {
    let ns = |ms: u64| format!("{}", 1_763_632_800_000_000_000u64 + ms * 1_000_000);
    let mut span = json!({
        "traceId": trace, "spanId": id, "name": name, "kind": kind, "flags": flags,
        "startTimeUnixNano": ns(start_ms), "endTimeUnixNano": ns(end_ms),
        "attributes": attributes.iter().map(|(k, v)| json!({"key": k, "value": {"stringValue": v}})).collect::<Vec<_>>(),
    });
    if let Some(p) = parent {
        span["parentSpanId"] = p.into();
    }
    span
}

fn otlp_spans(spans: Vec<Value>) -> String {
    json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).to_string()
}

#[test]
fn an_agent_behind_a_web_server_or_a_remote_caller_is_the_main_agent_whatever_the_batching() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir);
    let server = ServerHandle::start(config(), store.clone()).unwrap();
    let traces = format!("{}/v1/traces", server.url());
    // The agent's spans, under `parent`, as an SDK exports them: children
    // first, the agent last.
    let agent = |trace: &str, session: &str, parent: &str, kind: u32, flags: u32| {
        let chat = [
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.request.model", "claude-sonnet-4-5"),
        ];
        vec![
            agent_trace_span(
                trace,
                "1000000000000002",
                Some("1000000000000001"),
                "chat",
                3,
                0x100,
                10,
                20,
                &chat,
            ),
            agent_trace_span(
                trace,
                "1000000000000003",
                Some("1000000000000001"),
                "execute_tool read_file",
                1,
                0x100,
                21,
                22,
                &[
                    ("gen_ai.operation.name", "execute_tool"),
                    ("gen_ai.tool.name", "read_file"),
                ],
            ),
            agent_trace_span(
                trace,
                "1000000000000004",
                Some("1000000000000001"),
                "chat",
                3,
                0x100,
                23,
                30,
                &chat,
            ),
            agent_trace_span(
                trace,
                "1000000000000001",
                Some(parent),
                "invoke_agent coder",
                kind,
                flags,
                5,
                35,
                &[
                    ("gen_ai.operation.name", "invoke_agent"),
                    ("gen_ai.agent.name", "coder"),
                    ("gen_ai.conversation.id", session),
                ],
            ),
        ]
    };
    // Behind FastAPI: `POST /chat` (a root SERVER span) comes in a later batch.
    let web = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let (status, answer, _) = post(
        &traces,
        "application/json",
        otlp_spans(agent(web, "conv-web", "2000000000000001", 1, 0x100)).as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer, _) = post(
        &traces,
        "application/json",
        otlp_spans(vec![agent_trace_span(
            web,
            "2000000000000001",
            None,
            "POST /chat",
            2,
            0x100,
            0,
            40,
            &[("gen_ai.conversation.id", "conv-web")],
        )])
        .as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    // Called with a W3C traceparent: the parent is never exported here (the
    // flags say it is remote).
    let remote = "b1b2c3d4e5f60718293a4b5c6d7e8f90";
    let (status, answer, _) = post(
        &traces,
        "application/json",
        otlp_spans(agent(remote, "conv-remote", "00f067aa0ba902b7", 2, 0x300)).as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    for session in ["conv-web", "conv-remote"] {
        let row = eventually(session, || {
            store
                .session(session)
                .unwrap()
                .filter(|r| r.status == loupe_model::SessionStatus::Completed)
        });
        assert_eq!(row.metrics.llm_calls, 2, "{session}");
        assert_eq!(
            row.status,
            loupe_model::SessionStatus::Completed,
            "{session}: {row:?}"
        );
        assert_eq!(row.metrics.subagents, 0, "{session}");
        assert_eq!(row.metrics.iterations, 2, "{session}");
        assert_eq!(row.model.as_deref(), Some("claude-sonnet-4-5"), "{session}");
        assert_eq!(row.agent_name.as_deref(), Some("coder"), "{session}");
    }
    let (_, running) = get(&format!("{}/api/v1/sessions?status=running", server.url()));
    assert_eq!(
        running["sessions"].as_array().map(Vec::len),
        Some(0),
        "{running}"
    );

    // A time that is not one: that span is rejected, with the reason.
    let mut bad = agent_trace_span(remote, "3000000000000001", None, "chat", 3, 0, 0, 1, &[]);
    bad["startTimeUnixNano"] = "abc".into();
    let (status, answer, _) = post(
        &traces,
        "application/json",
        otlp_spans(vec![bad]).as_bytes(),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 1, "{answer}");
    let message = answer["partialSuccess"]["errorMessage"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("start time is not a time"), "{answer}");
    server.shutdown().unwrap();
}
