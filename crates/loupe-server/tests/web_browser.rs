//! The web viewer in a real headless Chromium, driven over the DevTools
//! protocol: the session list (and a session inserted live), a session page
//! with its span tree and waterfall, a live update of that session (new
//! events appear in the event panel, the header metrics follow), the JSON
//! inspector, and a 200,000-event session whose event panel keeps only the
//! visible rows in the DOM. The first view of that session is printed, not
//! asserted (machines differ). No Content-Security-Policy violation may be
//! reported on any page.
//!
//! Screenshots go to `<workspace>/test-artifacts/web/`.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use loupe_model::{Event, EventKind, SessionStatus, Timestamp};
use loupe_server::{ServerConfig, ServerHandle};
use loupe_store::{SessionMetrics, SessionRow, SqliteStore, Store};
use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Every wait in this test gives up after this long.
const WAIT: Duration = Duration::from_secs(20);
const BIG_EVENTS: usize = 200_000;

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-artifacts/web");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Headless Chromium, killed on drop.
struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws_url: String,
}

impl Browser {
    fn launch() -> Browser {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: run scripts/setup-test-deps.sh (the browser test needs a real Chromium)"
        );
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-port=0",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads stderr for the DevTools URL, then keeps draining it so
        // Chromium never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let mut browser = Browser {
            child,
            _profile: profile,
            ws_url: String::new(),
        };
        browser.ws_url = rx
            .recv_timeout(WAIT)
            .expect("Chromium did not print its DevTools URL");
        browser
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DevTools connection with one page attached (flattened session).
struct Cdp {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    session: String,
    /// Console and log messages seen so far.
    logs: Vec<String>,
}

impl Cdp {
    fn connect(browser: &Browser) -> Cdp {
        let host = browser
            .ws_url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let stream = TcpStream::connect(&host).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let (ws, _) = tungstenite::client(browser.ws_url.as_str(), stream).unwrap();
        let mut cdp = Cdp {
            ws,
            next_id: 0,
            session: String::new(),
            logs: Vec::new(),
        };
        let target = cdp.call("Target.createTarget", json!({"url": "about:blank"}));
        let target_id = target["targetId"].as_str().unwrap().to_owned();
        let attached = cdp.call(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        );
        cdp.session = attached["sessionId"].as_str().unwrap().to_owned();
        cdp.call("Page.enable", json!({}));
        cdp.call("Runtime.enable", json!({}));
        cdp.call("Log.enable", json!({}));
        cdp.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
        );
        cdp
    }

    /// Sends a command (to the page once attached) and waits for its answer.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(message.to_string())).unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            assert!(Instant::now() < deadline, "no answer to {method}");
            let text = match self.ws.read().unwrap() {
                Message::Text(t) => t.to_string(),
                _ => continue,
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["id"] == json!(id) {
                assert!(value.get("error").is_none(), "{method}: {value}");
                return value["result"].clone();
            }
            self.record(&value);
        }
    }

    fn record(&mut self, event: &Value) {
        match event["method"].as_str() {
            Some("Log.entryAdded") => self.logs.push(
                event["params"]["entry"]["text"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
            ),
            Some("Runtime.consoleAPICalled") => self.logs.push(event["params"].to_string()),
            Some("Runtime.exceptionThrown") => self.logs.push(format!(
                "exception: {}",
                event["params"]["exceptionDetails"]
            )),
            _ => {}
        }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            result.get("exceptionDetails").is_none(),
            "{expression}: {result}"
        );
        result["result"]["value"].clone()
    }

    /// Polls `expression` until it is truthy; returns its value.
    fn wait_for(&mut self, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.eval(expression);
            let truthy =
                !matches!(&v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({expression}); console: {:?}",
                self.logs
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn navigate(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(
            &format!("{url} to load"),
            "document.readyState === 'complete' && document.body && document.body.dataset.viewerReady === '1'",
        );
    }

    fn screenshot(&mut self, name: &str) {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(artifacts().join(name), png).unwrap();
    }

    fn assert_no_csp_violation(&self) {
        let bad: Vec<_> = self
            .logs
            .iter()
            .filter(|l| l.contains("Content Security Policy") || l.contains("exception"))
            .collect();
        assert!(bad.is_empty(), "CSP violations or script errors: {bad:?}");
    }
}

fn post_events(server: &ServerHandle, lines: &[Value]) {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let response = ureq::post(&format!("{}/api/v1/events", server.url()))
        .set("content-type", "application/x-ndjson")
        .send_string(&body)
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn event(session: &str, id: &str, kind: &str, second: u32, extra: Value) -> Value {
    let mut e = json!({
        "event_id": id, "kind": kind, "session_id": session,
        "timestamp": format!("2026-11-22T10:00:{second:02}.000000Z"),
    });
    if let Value::Object(fields) = extra {
        for (k, v) in fields {
            e[k] = v;
        }
    }
    e
}

/// A session in progress: one finished iteration, a tool still running.
fn running_session(session: &str) -> Vec<Value> {
    vec![
        event(
            session,
            &format!("{session}-start"),
            "session_start",
            0,
            json!({
                "data": {"format": "loupe", "format_version": 1, "task": "watch me live", "model": "claude-sonnet-4-5", "agent_name": "live-agent"}
            }),
        ),
        event(
            session,
            &format!("{session}-llm-1"),
            "llm_response",
            2,
            json!({
                "iteration": 1, "duration_ms": 1500.0,
                "data": {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 1200, "output_tokens": 80}}
            }),
        ),
        event(
            session,
            &format!("{session}-tool-1"),
            "tool_end",
            3,
            json!({
                "iteration": 1, "duration_ms": 400.0, "data": {"tool": "read_file", "success": true}
            }),
        ),
        event(
            session,
            &format!("{session}-tool-2"),
            "tool_start",
            4,
            json!({
                "iteration": 2, "data": {"tool": "bash", "call_id": "c2"}
            }),
        ),
    ]
}

/// 200,000 events written straight into the store (the HTTP path is tested
/// elsewhere; this keeps the test fast), with a summary row.
fn big_session(store: &SqliteStore) {
    let start = Timestamp::parse("2026-11-21T08:00:00Z").unwrap();
    let mut events = Vec::with_capacity(BIG_EVENTS);
    events.push(
        Event::new("big-start", EventKind::SessionStart, start, "big")
            .with("task", "a very long session")
            .with("format", "loupe")
            .with("format_version", 1),
    );
    let iterations = (BIG_EVENTS - 1) / 2;
    for i in 0..iterations {
        let t = start.plus_millis(i as f64 * 10.0);
        let mut llm = Event::new(format!("big-llm-{i}"), EventKind::LlmResponse, t, "big")
            .with("model", "claude-sonnet-4-5")
            .with("usage", json!({"input_tokens": 100, "output_tokens": 10}));
        llm.iteration = Some(i as u32 + 1);
        llm.duration_ms = Some(6.0);
        let mut tool = Event::new(
            format!("big-tool-{i}"),
            EventKind::ToolEnd,
            t.plus_millis(8.0),
            "big",
        )
        .with("tool", "read_file")
        .with("success", true);
        tool.iteration = Some(i as u32 + 1);
        tool.duration_ms = Some(2.0);
        events.push(llm);
        events.push(tool);
    }
    while events.len() < BIG_EVENTS {
        let n = events.len();
        events.push(Event::new(
            format!("big-pad-{n}"),
            EventKind::Checkpoint,
            start.plus_millis(1e7),
            "big",
        ));
    }
    for chunk in events.chunks(50_000) {
        store.append_events(chunk).unwrap();
    }
    let mut row = SessionRow::new("big");
    row.task = Some("a very long session".to_owned());
    row.status = SessionStatus::Completed;
    row.started_at = Some(start);
    row.metrics = SessionMetrics {
        iterations: iterations as u64,
        llm_calls: iterations as u64,
        tool_calls: iterations as u64,
        ..SessionMetrics::default()
    };
    store.upsert_sessions(&[row]).unwrap();
}

#[test]
fn viewer_in_chromium_shows_sessions_live_updates_and_a_virtualised_200k_event_panel() {
    let browser = Browser::launch();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("loupe.db")).unwrap());
    big_session(&store);
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        summary_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = ServerHandle::start(config, store.clone()).unwrap();
    let url = server.url();
    let demo = loupe::demo::run_demo(dir.path(), 2, 11).unwrap();
    for file in &demo.files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        post_events(&server, &lines);
    }
    post_events(&server, &running_session("live-1"));
    let deadline = Instant::now() + WAIT;
    while store.sessions(&Default::default()).unwrap().len() < 4 {
        assert!(Instant::now() < deadline, "sessions were not summarised");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut cdp = Cdp::connect(&browser);

    // The list, then a session that starts while it is open.
    cdp.navigate(&format!("{url}/"));
    let rows = cdp.eval("document.querySelectorAll('#sessions tbody tr').length");
    assert_eq!(rows, json!(4), "demo ×2, live-1 and big listed");
    cdp.wait_for("the live stream", "document.body.dataset.liveReady === '1'");
    post_events(
        &server,
        &[event(
            "live-2",
            "live-2-start",
            "session_start",
            30,
            json!({
                "data": {"format": "loupe", "format_version": 1, "task": "appears without reload",
                         "agent_name": "late_agent_with_a_name_that_has_no_place_to_wrap_at_0123456789",
                         "model": "provider_a_model_name_that_has_no_place_to_wrap_at_0123456789"}
            }),
        )],
    );
    cdp.wait_for(
        "live-2 inserted into the list",
        "!!document.querySelector('#sessions tr[data-session=\"live-2\"]')",
    );
    let task = cdp.eval("document.querySelector('#sessions tr[data-session=\"live-2\"] [data-col=task]').textContent");
    assert_eq!(task, json!("appears without reload"));
    // On a 1280 px screen every column, cost and score included, stays in
    // view despite live-2's long agent and model names: the table does not
    // scroll sideways.
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}),
    );
    let overflow = cdp.eval(
        "(() => { const s = document.querySelector('.table-scroll'); return s.scrollWidth - s.clientWidth; })()",
    );
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the list scrolls sideways by {overflow} px at 1280 px"
    );
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
    );
    cdp.screenshot("list.png");
    cdp.assert_no_csp_violation();

    // A running session: tree, waterfall (with the running span), events.
    cdp.navigate(&format!("{url}/sessions/live-1"));
    cdp.wait_for(
        "the analysis",
        "document.querySelector('#analysis').dataset.loaded",
    );
    let iterations = cdp.eval("document.querySelectorAll('#tree details.iter').length");
    assert!(
        iterations.as_u64().unwrap() >= 2,
        "iterations in the tree: {iterations}"
    );
    let bars = cdp.eval("document.querySelectorAll('#timeline svg rect').length");
    assert!(bars.as_u64().unwrap() >= 2, "waterfall bars: {bars}");
    let running = cdp.eval("document.querySelectorAll('#timeline rect.wf-running').length + document.querySelectorAll('#tree .st-running').length");
    assert!(
        running.as_u64().unwrap() >= 1,
        "the unfinished tool shows as running"
    );
    cdp.wait_for(
        "4 event rows",
        "document.querySelectorAll('#ev-viewport .ev-row[data-event-id]').length === 4",
    );
    cdp.eval("document.querySelector('#tree details.iter').open = true");
    cdp.screenshot("session.png");

    // Live: new events for this session reach the panel and the header.
    cdp.wait_for("the live stream", "document.body.dataset.liveReady === '1'");
    let before = cdp.eval("document.querySelector('[data-metric=llm_calls]').textContent");
    assert_eq!(before, json!("1"));
    post_events(
        &server,
        &[
            event(
                "live-1",
                "live-1-tool-2-end",
                "tool_end",
                6,
                json!({
                    "iteration": 2, "duration_ms": 2000.0, "data": {"tool": "bash", "call_id": "c2", "success": true}
                }),
            ),
            event(
                "live-1",
                "live-1-llm-2",
                "llm_response",
                8,
                json!({
                    "iteration": 2, "duration_ms": 1700.0,
                    "data": {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 2400, "output_tokens": 90}}
                }),
            ),
        ],
    );
    cdp.wait_for(
        "the new event in the panel",
        "!!document.querySelector('.ev-row[data-event-id=\"live-1-llm-2\"]')",
    );
    assert_eq!(
        cdp.eval("document.getElementById('event-count').textContent"),
        json!("6")
    );
    cdp.wait_for(
        "the header metrics to update",
        "document.querySelector('[data-metric=llm_calls]').textContent === '2'",
    );
    cdp.wait_for(
        "the analysis to refresh",
        "Number(document.querySelector('#analysis').dataset.loaded) >= 2",
    );
    cdp.screenshot("session-live.png");

    // Clicking an event shows its JSON, collapsible.
    cdp.eval("document.querySelector('.ev-row[data-event-id=\"live-1-llm-2\"]').click()");
    cdp.wait_for(
        "the inspector",
        "!document.getElementById('inspector').hidden",
    );
    let json_text = cdp.eval("document.getElementById('inspector').textContent");
    assert!(
        json_text.as_str().unwrap().contains("input_tokens"),
        "{json_text}"
    );
    assert!(
        cdp.eval("document.querySelectorAll('#inspector details').length")
            .as_u64()
            .unwrap()
            >= 2
    );
    cdp.assert_no_csp_violation();

    // What the first view of the 200,000-event session costs on the server.
    for path in [
        "/sessions/big",
        "/api/v1/sessions/big/events?offset=0&limit=500",
        "/api/v1/sessions/big/events?offset=100000&limit=500",
    ] {
        let t = Instant::now();
        let status = ureq::get(&format!("{url}{path}")).call().unwrap().status();
        assert_eq!(status, 200);
        println!(
            "200k-event session: GET {path} took {} ms",
            t.elapsed().as_millis()
        );
    }

    // 200,000 events: the page shows from the summary and the first page of
    // events; the DOM holds only the rows in view.
    let started = Instant::now();
    cdp.navigate(&format!("{url}/sessions/big"));
    let first_rows = cdp.wait_for(
        "the first event rows",
        "document.getElementById('events').dataset.firstRowsSinceNavigationMs",
    );
    let wall = started.elapsed();
    let nav = cdp.eval("JSON.stringify((function(){var n=performance.getEntriesByType('navigation')[0];return {response_end:Math.round(n.responseEnd),dom_content_loaded:Math.round(n.domContentLoadedEventEnd)};})())");
    println!(
        "200k-event session, first view: first event rows {first_rows} ms after navigation start; navigation timing {nav}; wall clock from Page.navigate {} ms",
        wall.as_millis()
    );
    assert_eq!(
        cdp.eval("document.getElementById('events').dataset.total"),
        json!("200000")
    );
    let in_dom = cdp
        .eval("document.querySelectorAll('#ev-viewport .ev-row').length")
        .as_u64()
        .unwrap();
    assert!(
        in_dom > 0 && in_dom < 100,
        "{in_dom} rows in the DOM for {BIG_EVENTS} events"
    );
    // Jump to the middle: that page is fetched, still only a screenful of rows.
    let jump = Instant::now();
    cdp.eval("var v = document.getElementById('ev-viewport'); v.scrollTop = 100000 * 24; v.dispatchEvent(new Event('scroll'));");
    cdp.wait_for(
        "row 100,000 loaded",
        "!!document.querySelector('.ev-row[data-index=\"100000\"][data-event-id]')",
    );
    println!(
        "200k-event session: scrolled to row 100,000 and showed it in {} ms",
        jump.elapsed().as_millis()
    );
    let in_dom = cdp
        .eval("document.querySelectorAll('#ev-viewport .ev-row').length")
        .as_u64()
        .unwrap();
    assert!(in_dom < 100, "{in_dom} rows in the DOM after scrolling");
    cdp.screenshot("session-200k.png");
    cdp.assert_no_csp_violation();

    // Dashboard and compare render in the browser too.
    cdp.navigate(&format!("{url}/dashboard"));
    assert!(
        cdp.eval("document.querySelectorAll('svg.chart').length")
            .as_u64()
            .unwrap()
            >= 4
    );
    cdp.screenshot("dashboard.png");
    cdp.navigate(&format!("{url}/compare?a=demo-11-001&b=demo-11-002"));
    assert!(
        cdp.eval("document.querySelectorAll('#compare-metrics tbody tr').length")
            .as_u64()
            .unwrap()
            >= 5
    );
    cdp.screenshot("compare.png");
    cdp.assert_no_csp_violation();
    drop(cdp);
    drop(browser);
    server.shutdown().unwrap();
}
