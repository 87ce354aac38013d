//! The web viewer's pages over real HTTP and a real SQLite store: the list
//! and its filters (same parameters as the API), escaping of trace content,
//! security headers, the session page and its analysis fragment, the
//! dashboard, compare, embedded assets, HTML error pages and read keys.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use loupe_server::{ServerConfig, ServerHandle};
use loupe_store::SqliteStore;
use serde_json::{json, Value};

const HOSTILE: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";

fn config() -> ServerConfig {
    ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        summary_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

/// A canonical JSONL session: `llm_calls` calls, tool runs of `tool` (the
/// last one failing when `status` is "failed"), then its end.
fn session_jsonl(
    session: &str,
    agent: &str,
    model: &str,
    task: &str,
    tool: &str,
    status: &str,
) -> String {
    let mut lines = vec![json!({
        "event_id": format!("{session}-start"), "kind": "session_start",
        "timestamp": "2026-11-20T10:00:00.000000Z", "session_id": session,
        "data": {"format": "loupe", "format_version": 1, "task": task, "model": model, "agent_name": agent}
    })];
    for i in 0..3 {
        lines.push(json!({
            "event_id": format!("{session}-llm-{i}"), "kind": "llm_response",
            "timestamp": format!("2026-11-20T10:00:{:02}.000000Z", 1 + i * 10), "session_id": session,
            "iteration": i + 1, "duration_ms": 1200.0,
            "data": {"model": model, "usage": {"input_tokens": 1000, "output_tokens": 100}}
        }));
        let failed = status == "failed" && i == 2;
        lines.push(json!({
            "event_id": format!("{session}-tool-{i}"), "kind": if failed { "tool_error" } else { "tool_end" },
            "timestamp": format!("2026-11-20T10:00:{:02}.000000Z", 5 + i * 10), "session_id": session,
            "iteration": i + 1, "duration_ms": 30.0,
            "data": if failed { json!({"tool": tool, "success": false, "error": HOSTILE}) } else { json!({"tool": tool, "success": true}) }
        }));
    }
    lines.push(json!({
        "event_id": format!("{session}-end"), "kind": "session_end",
        "timestamp": "2026-11-20T10:01:00.000000Z", "session_id": session,
        "data": {"status": status}
    }));
    lines.iter().map(|l| format!("{l}\n")).collect()
}

struct Page {
    status: u16,
    content_type: String,
    csp: Option<String>,
    nosniff: Option<String>,
    cache: Option<String>,
    body: String,
}

fn get(url: &str) -> Page {
    let response = match ureq::get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    Page {
        status: response.status(),
        content_type: response.content_type().to_owned(),
        csp: response
            .header("content-security-policy")
            .map(str::to_owned),
        nosniff: response.header("x-content-type-options").map(str::to_owned),
        cache: response.header("cache-control").map(str::to_owned),
        body: response.into_string().unwrap(),
    }
}

fn post_events(server: &ServerHandle, body: &str, key: Option<&str>) {
    let mut request = ureq::post(&format!("{}/api/v1/events", server.url()))
        .set("content-type", "application/x-ndjson");
    if let Some(key) = key {
        request = request.set("authorization", &format!("Bearer {key}"));
    }
    let response = request.send_string(body).unwrap();
    assert_eq!(response.status(), 200);
}

/// Waits (at most 20 s) until the API lists `n` sessions.
fn wait_for_sessions(server: &ServerHandle, n: usize, key: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let url = match key {
        Some(k) => format!("{}/api/v1/sessions?limit=1000&key={k}", server.url()),
        None => format!("{}/api/v1/sessions?limit=1000", server.url()),
    };
    loop {
        let body: Value =
            serde_json::from_str(&ureq::get(&url).call().unwrap().into_string().unwrap()).unwrap();
        if body["sessions"].as_array().map_or(0, Vec::len) >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {n} sessions"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three demo sessions from the recorder, plus a hostile one and a calm one.
fn populated_server(dir: &tempfile::TempDir) -> ServerHandle {
    let store = Arc::new(SqliteStore::open(dir.path().join("loupe.db")).unwrap());
    let server = ServerHandle::start(config(), store).unwrap();
    let demo = loupe::demo::run_demo(dir.path(), 3, 7).unwrap();
    for file in &demo.files {
        post_events(&server, &std::fs::read_to_string(file).unwrap(), None);
    }
    post_events(
        &server,
        &session_jsonl("hostile", "evil-agent", "gpt-4o", HOSTILE, "bash", "failed"),
        None,
    );
    post_events(
        &server,
        &session_jsonl(
            "calm",
            "tester",
            "calm-model",
            "tidy the docs",
            "calm_tool",
            "completed",
        ),
        None,
    );
    wait_for_sessions(&server, 5, None);
    server
}

fn assert_secure_html(page: &Page) {
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    let csp = page
        .csp
        .as_deref()
        .expect("a Content-Security-Policy header");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.nosniff.as_deref(), Some("nosniff"));
    // No inline scripts or styles: the CSP would block them anyway.
    assert!(!page.body.contains("<script>"), "inline script in page");
    assert!(!page.body.contains("<style"), "inline style in page");
    assert!(!page.body.contains(" style=\""), "style attribute in page");
}

fn assert_hostile_escaped(html: &str) {
    assert!(
        !html.contains("<script>alert"),
        "raw script tag from trace content"
    );
    assert!(
        !html.contains("<img src=x"),
        "raw img tag from trace content"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped task missing"
    );
}

#[test]
fn session_list_filters_escapes_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = populated_server(&dir);
    let url = server.url();

    let all = get(&format!("{url}/"));
    assert_eq!(all.status, 200);
    assert_secure_html(&all);
    for id in ["demo-7-001", "demo-7-002", "demo-7-003", "hostile", "calm"] {
        assert!(
            all.body.contains(&format!("data-session=\"{id}\"")),
            "{id} not listed"
        );
    }
    assert_hostile_escaped(&all.body);
    // Metric columns carry the summary figures: calm made 3 LLM calls.
    let calm = all.body.split("data-session=\"calm\"").nth(1).unwrap();
    let calm = calm.split("</tr>").next().unwrap();
    assert!(calm.contains("data-col=\"llm_calls\">3<"), "{calm}");
    assert!(calm.contains("data-col=\"input_tokens\">3.0K<"), "{calm}");
    assert!(all.body.contains("data-live-insert=\"1\""));

    let listed = |query: &str| {
        let page = get(&format!("{url}/?{query}"));
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        ["demo-7-001", "hostile", "calm"]
            .into_iter()
            .filter(|id| page.body.contains(&format!("data-session=\"{id}\"")))
            .collect::<Vec<_>>()
    };
    eprintln!(
        "DEBUG {}",
        ureq::get(&format!("{url}/api/v1/sessions?session=calm,hostile"))
            .call()
            .unwrap()
            .into_string()
            .unwrap()
    );
    assert_eq!(listed("agent=evil-agent"), ["hostile"]);
    assert_eq!(listed("model=calm-model"), ["calm"]);
    assert_eq!(listed("status=failed"), ["hostile"]);
    assert_eq!(listed("tool=calm_tool"), ["calm"]);
    // Several tools: sessions that used all of them.
    assert!(listed("tool=bash,calm_tool").is_empty());
    assert_eq!(listed("q=tidy"), ["calm"]);
    assert!(listed("has_errors=true").contains(&"hostile"));
    assert!(!listed("has_errors=false").contains(&"hostile"));
    assert_eq!(
        listed("since=2026-11-20T09:00:00Z&until=2026-11-21"),
        ["hostile", "calm"]
    );
    // Filtered pages do not insert unrelated live sessions.
    assert!(get(&format!("{url}/?agent=tester"))
        .body
        .contains("data-live-insert=\"0\""));
    // The form shows the active filter, escaped.
    let echoed = get(&format!("{url}/?q=%3Cb%3E"));
    assert!(echoed.body.contains("value=\"&lt;b&gt;\""));

    // Sort and paging: two per page, every session on exactly one page, the
    // next-page link keeps the sort.
    let ids = ["demo-7-001", "demo-7-002", "demo-7-003", "hostile", "calm"];
    let mut seen: Vec<&str> = Vec::new();
    for offset in [0, 2, 4] {
        let page = get(&format!(
            "{url}/?sort=name&order=asc&limit=2&offset={offset}"
        ));
        let on_page: Vec<_> = ids
            .iter()
            .filter(|id| page.body.contains(&format!("data-session=\"{id}\"")))
            .collect();
        assert_eq!(
            on_page.len(),
            if offset == 4 { 1 } else { 2 },
            "offset {offset}"
        );
        seen.extend(on_page.into_iter().copied());
        let next = page.body.contains("rel=\"next\"");
        assert_eq!(next, offset < 4, "next-page link at offset {offset}");
        if next {
            assert!(page.body.contains(&format!(
                "sort=name&amp;order=asc&amp;limit=2&amp;offset={}",
                offset + 2
            )));
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);

    // Bad filters: a 400 page naming the parameter (still HTML, still with CSP).
    for (query, names) in [
        ("status=bogus", "parameter status"),
        ("since=yesterday-ish", "parameter since"),
        ("sort=nope", "parameter sort"),
    ] {
        let page = get(&format!("{url}/?{query}"));
        assert_eq!(page.status, 400, "{query}");
        assert_secure_html(&page);
        assert!(page.body.contains(names), "{query}: {}", page.body);
    }
}

#[test]
fn session_page_analysis_dashboard_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let server = populated_server(&dir);
    let url = server.url();

    let page = get(&format!("{url}/sessions/hostile"));
    assert_eq!(page.status, 200);
    assert_secure_html(&page);
    assert_hostile_escaped(&page.body);
    // 1 start + 3 × (LLM + tool) + 1 end.
    assert!(page.body.contains("data-total=\"8\""), "event count");
    assert!(page
        .body
        .contains("data-src=\"/api/v1/sessions/hostile/events\""));
    assert!(page
        .body
        .contains("data-live=\"/api/v1/live?session=hostile\""));
    assert!(page.body.contains("data-metric=\"llm_calls\">3<"));
    assert!(page.body.contains("class=\"badge failed\""));

    let fragment = get(&format!("{url}/sessions/hostile/analysis"));
    assert_eq!(fragment.status, 200);
    assert!(fragment.body.contains("id=\"tree\""));
    assert!(fragment.body.contains("<details class=\"iter"));
    assert!(fragment.body.contains("class=\"waterfall-svg\""));
    assert!(fragment.body.contains("<svg class=\"flow\""));
    assert!(fragment.body.contains("<td><code>bash</code></td>"));
    assert!(
        !fragment.body.contains("<img src=x"),
        "raw trace content in the fragment"
    );
    // The demo session has issues with their fixes and a subagent span.
    let demo = get(&format!("{url}/sessions/demo-7-001/analysis"));
    assert!(demo.body.contains("class=\"fix\""), "issues with fixes");
    assert!(
        demo.body.contains(">subagent</"),
        "subagent span in the tree"
    );

    let missing = get(&format!("{url}/sessions/no-such-session"));
    assert_eq!(missing.status, 404);
    assert_secure_html(&missing);
    assert!(missing.body.contains("no session"));
    assert_eq!(
        get(&format!("{url}/sessions/no-such-session/analysis")).status,
        404
    );

    let dash = get(&format!("{url}/dashboard"));
    assert_eq!(dash.status, 200);
    assert_secure_html(&dash);
    for section in ["response-time", "success-rate", "models", "tools", "errors"] {
        assert!(
            dash.body.contains(&format!("id=\"{section}\"")),
            "{section}"
        );
    }
    assert!(dash.body.contains("gpt-4o") && dash.body.contains("calm-model"));
    assert!(dash.body.contains(">calm_tool<") && dash.body.contains(">bash<"));
    assert!(
        dash.body.contains("href=\"/sessions/hostile\""),
        "failed session listed"
    );
    assert!(dash.body.contains("<path class=\"series\""));
    let filtered = get(&format!("{url}/dashboard?agent=tester"));
    assert!(!filtered.body.contains("gpt-4o"));
    assert_eq!(get(&format!("{url}/dashboard?status=bogus")).status, 400);

    let cmp = get(&format!("{url}/compare?a=calm&b=hostile"));
    assert_eq!(cmp.status, 200, "{}", cmp.body);
    assert_secure_html(&cmp);
    assert!(cmp.body.contains("id=\"compare-metrics\""));
    assert!(cmp.body.contains("<td>errors</td>"));
    assert!(
        cmp.body.contains("class=\"regression\""),
        "more errors in B is a regression"
    );
    assert_hostile_escaped(&cmp.body);
    assert_eq!(get(&format!("{url}/compare?a=calm")).status, 400);
    assert_eq!(get(&format!("{url}/compare?a=calm&b=nope")).status, 404);

    let js = get(&format!("{url}/assets/viewer.js"));
    assert_eq!(js.status, 200);
    assert!(js.content_type.contains("javascript"));
    assert!(js.cache.unwrap().contains("immutable"));
    assert!(js.body.contains("EventSource"));
    let css = get(&format!("{url}/assets/report.css"));
    assert!(css.content_type.starts_with("text/css"));
    assert_eq!(get(&format!("{url}/assets/nope.js")).status, 404);
}

#[test]
fn pages_need_the_read_key_and_pass_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("loupe.db")).unwrap());
    let config = ServerConfig {
        read_keys: vec!["r3ad".to_owned()],
        ingest_keys: vec!["1ngest".to_owned()],
        ..config()
    };
    let server = ServerHandle::start(config, store).unwrap();
    post_events(
        &server,
        &session_jsonl("keyed", "tester", "m", "t", "read_file", "completed"),
        Some("1ngest"),
    );
    wait_for_sessions(&server, 1, Some("r3ad"));
    let url = server.url();
    assert_eq!(get(&format!("{url}/")).status, 401);
    assert_eq!(get(&format!("{url}/sessions/keyed")).status, 401);
    let list = get(&format!("{url}/?key=r3ad"));
    assert_eq!(list.status, 200);
    assert!(list.body.contains("href=\"/sessions/keyed?key=r3ad\""));
    assert!(list.body.contains("/assets/viewer.js?v="));
    assert!(
        list.body.contains("&amp;key=r3ad\"></script>"),
        "asset URLs carry the key"
    );
    let page = get(&format!("{url}/sessions/keyed?key=r3ad"));
    assert!(page
        .body
        .contains("data-src=\"/api/v1/sessions/keyed/events?key=r3ad\""));
    assert!(page
        .body
        .contains("data-live=\"/api/v1/live?session=keyed&amp;key=r3ad\""));
}
