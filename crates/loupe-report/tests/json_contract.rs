//! The `--output json` contract of design §4, decoded with types written here
//! independently of the renderer's own (as ripgrep's tests/json.rs does), so a
//! renamed, retyped or dropped key fails this test even if the renderer and
//! its DTOs change together.
#![allow(clippy::unwrap_used)]

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct Doc {
    sessions: Vec<Session>,
    skipped: Vec<Skipped>,
}

#[derive(Debug, Deserialize)]
struct Session {
    session_id: String,
    source: Source,
    task: Option<String>,
    model: Option<String>,
    status: String,
    started_at: Option<String>,
    ended_at: Option<String>,
    duration_ms: Option<f64>,
    metrics: Metrics,
    efficiency_score: f64,
    issues: Vec<Issue>,
    tools: Vec<Tool>,
}

#[derive(Debug, Deserialize)]
struct Source {
    path: String,
    format: String,
}

#[derive(Debug, Deserialize)]
struct Metrics {
    iterations: u64,
    llm_calls: u64,
    tool_calls: u64,
    tool_errors: u64,
    errors: u64,
    // Unknown (not reported) is null, never 0.
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    cache_hit_rate: Option<f64>,
    cost_usd: Option<f64>,
    compactions: u64,
    subagents: u64,
}

#[derive(Debug, Deserialize)]
struct Issue {
    category: String,
    severity: String,
    title: String,
    description: String,
    iteration: Option<u32>,
    suggestion: String,
}

#[derive(Debug, Deserialize)]
struct Tool {
    name: String,
    calls: u64,
    errors: u64,
    /// `null` when unknown (every recorded duration negative).
    avg_duration_ms: Option<f64>,
    p95_duration_ms: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct Skipped {
    path: String,
    line: Option<u64>,
    reason: String,
}

const SESSION_KEYS: &[&str] = &[
    "session_id",
    "source",
    "task",
    "model",
    "status",
    "started_at",
    "ended_at",
    "duration_ms",
    "metrics",
    "efficiency_score",
    "issues",
    "tools",
];
const METRIC_KEYS: &[&str] = &[
    "iterations",
    "llm_calls",
    "tool_calls",
    "tool_errors",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cache_hit_rate",
    "cost_usd",
    "compactions",
    "subagents",
];
const ISSUE_KEYS: &[&str] = &[
    "category",
    "severity",
    "title",
    "description",
    "iteration",
    "suggestion",
];
const TOOL_KEYS: &[&str] = &[
    "name",
    "calls",
    "errors",
    "avg_duration_ms",
    "p95_duration_ms",
];
const FORMATS: &[&str] = &[
    "loupe",
    "attocode-ts",
    "attocode-py",
    "attocode-py-legacy",
    "agent-trace",
    "myagent",
    "victor-workflow",
    "victor-execution",
    "attoswarm",
    "otlp",
];

fn has_keys(v: &Value, keys: &[&str], what: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object"));
    for k in keys {
        assert!(
            obj.contains_key(*k),
            "{what} lacks key {k:?} (null is fine, absent is not)"
        );
    }
}

/// Checks `text` against the contract and returns the decoded document.
fn check(text: &str) -> Doc {
    assert!(text.ends_with('\n'));
    let raw: Value = serde_json::from_str(text).unwrap();
    has_keys(&raw, &["sessions", "skipped"], "document");
    for s in raw["sessions"].as_array().unwrap() {
        has_keys(s, SESSION_KEYS, "session");
        has_keys(&s["source"], &["path", "format"], "source");
        has_keys(&s["metrics"], METRIC_KEYS, "metrics");
        for i in s["issues"].as_array().unwrap() {
            has_keys(i, ISSUE_KEYS, "issue");
        }
        for t in s["tools"].as_array().unwrap() {
            has_keys(t, TOOL_KEYS, "tool");
        }
    }
    for k in raw["skipped"].as_array().unwrap() {
        has_keys(k, &["path", "line", "reason"], "skipped");
    }
    let doc: Doc = serde_json::from_str(text).unwrap();
    for s in &doc.sessions {
        assert!(
            FORMATS.contains(&s.source.format.as_str()),
            "unknown format {}",
            s.source.format
        );
        assert!(["running", "completed", "failed", "cancelled"].contains(&s.status.as_str()));
        for i in &s.issues {
            assert!(["low", "medium", "high", "critical"].contains(&i.severity.as_str()));
        }
        for t in [&s.started_at, &s.ended_at].into_iter().flatten() {
            assert!(t.ends_with('Z') && t.contains('T'), "not RFC 3339 UTC: {t}");
        }
    }
    doc
}

#[test]
fn the_document_has_every_contract_key_with_the_contract_types() {
    let a = loupe_report::testing::sample_analysis();
    let skipped = vec![loupe_report::SkippedRecord {
        path: "traces/bad.jsonl".into(),
        line: Some(7),
        reason: "expected value at column 1".into(),
    }];
    let doc = check(&loupe_report::json::render(
        std::slice::from_ref(&a),
        &skipped,
    ));

    let s = &doc.sessions[0];
    assert_eq!(s.session_id, "session-1772280000000-healthy");
    assert_eq!(s.source.path, "traces/healthy.jsonl");
    assert_eq!(s.source.format, "attocode-ts");
    assert_eq!(
        s.task.as_deref(),
        Some("Add input validation to the /users endpoint")
    );
    assert_eq!(s.model.as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(s.status, "completed");
    assert_eq!(s.started_at.as_deref(), Some("2026-02-28T12:00:00.000000Z"));
    assert_eq!(s.ended_at.as_deref(), Some("2026-02-28T12:00:15.935000Z"));
    assert_eq!(s.duration_ms, Some(15_935.0));
    let m = &s.metrics;
    assert_eq!(
        (
            m.iterations,
            m.llm_calls,
            m.tool_calls,
            m.tool_errors,
            m.errors
        ),
        (3, 3, 4, 1, 1)
    );
    assert_eq!(
        (
            m.input_tokens,
            m.output_tokens,
            m.cache_read_tokens,
            m.cache_write_tokens,
            m.reasoning_tokens
        ),
        (Some(35_500), Some(980), Some(21_500), Some(5_200), Some(0))
    );
    assert!((m.cache_hit_rate.unwrap() - 21_500.0 / 35_500.0).abs() < 1e-12);
    assert_eq!(m.cost_usd, Some(0.0603));
    assert_eq!((m.compactions, m.subagents), (0, 0));
    assert_eq!(s.efficiency_score, 82.5);
    assert_eq!(s.issues.len(), 2);
    assert_eq!(s.issues[0].category, "slow_tool");
    assert_eq!(s.issues[0].severity, "medium");
    assert_eq!(s.issues[0].iteration, None);
    assert_eq!(s.issues[1].iteration, Some(2));
    assert!(s.issues[1].suggestion.starts_with("Read the failing"));
    assert!(!s.issues[0].title.is_empty() && !s.issues[0].description.is_empty());
    assert_eq!(s.tools[0].name, "bash");
    assert_eq!((s.tools[0].calls, s.tools[0].errors), (1, 1));
    assert_eq!(
        (s.tools[0].avg_duration_ms, s.tools[0].p95_duration_ms),
        (Some(8_450.0), Some(8_450.0))
    );
    assert_eq!(doc.skipped.len(), 1);
    assert_eq!(doc.skipped[0].path, "traces/bad.jsonl");
    assert_eq!(doc.skipped[0].line, Some(7));
    assert_eq!(doc.skipped[0].reason, "expected value at column 1");
}

#[test]
fn absent_values_are_null_not_missing() {
    let mut a = loupe_report::testing::sample_analysis();
    a.task = None;
    a.model = None;
    a.started_at = None;
    a.ended_at = None;
    a.duration_ms = None;
    a.efficiency_score = f64::NAN;
    let text = loupe_report::json::render(&[a], &[]);
    let raw: Value = serde_json::from_str(&text).unwrap();
    let s = &raw["sessions"][0];
    for k in ["task", "model", "started_at", "ended_at", "duration_ms"] {
        assert_eq!(s[k], Value::Null, "{k}");
    }
    // A non-finite score must still be a number, as the contract promises.
    assert!(s["efficiency_score"].is_number());
    assert_eq!(raw["sessions"][0]["issues"][1]["iteration"], 2);
    check(&text);
}

#[test]
fn unreported_usage_is_null_with_every_key_present() {
    let mut a = loupe_report::testing::sample_analysis();
    a.metrics.tokens = Default::default();
    a.metrics.cost_usd = 0.0;
    let text = loupe_report::json::render(&[a], &[]);
    let raw: Value = serde_json::from_str(&text).unwrap();
    let m = &raw["sessions"][0]["metrics"];
    has_keys(m, METRIC_KEYS, "metrics");
    for k in ["input_tokens", "total_tokens", "cache_hit_rate", "cost_usd"] {
        assert_eq!(m[k], Value::Null, "{k}");
    }
    check(&text);
}

#[test]
fn no_sessions_is_still_one_valid_document() {
    let doc = check(&loupe_report::json::render(&[], &[]));
    assert!(doc.sessions.is_empty() && doc.skipped.is_empty());
}

#[test]
fn a_session_piece_is_the_session_as_the_whole_document_has_it() {
    let a = loupe_report::testing::sample_analysis();
    let whole = loupe_report::json::render(std::slice::from_ref(&a), &[]);
    let piece = loupe_report::json::session_piece(&a, 2);
    let head = "{\n  \"sessions\": [\n";
    assert!(whole.starts_with(head), "{whole}");
    assert_eq!(&whole[head.len()..head.len() + piece.len()], piece);
    assert!(whole[head.len() + piece.len()..].starts_with("\n  ],"));
    // At depth 0 it is serde_json's own pretty layout.
    assert_eq!(
        loupe_report::json::session_piece(&a, 0),
        serde_json::to_string_pretty(&loupe_report::json::SessionJson::new(&a)).unwrap()
    );
    // Empty arrays stay `[]`, nested values are indented below their key.
    assert!(piece.contains("\"unpriced_models\": []"), "{piece}");
    assert!(piece.contains("\n        \"iterations\": "), "{piece}");
}
