//! Golden snapshots of every view and output format on the real sample
//! traces in `../shared/samples/`, read by loupe-formats and analysed by
//! loupe-analyze, plus a cross-check of the JSON metrics against totals
//! computed here directly from the events.
//!
//! Paths are normalised to `samples/...`; HTML snapshots replace the constant
//! embedded CSS and script with placeholders so they show only the rendered
//! content.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use loupe_analyze::{AnalysisConfig, SessionAnalysis, SessionAssembler, SessionSource};
use loupe_formats::{Collected, ReadOptions};
use loupe_model::EventKind;
use loupe_report::terminal::{self, View};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/samples");

fn samples_dir() -> PathBuf {
    let dir = Path::new(SAMPLES);
    assert!(
        dir.is_dir(),
        "{SAMPLES} is missing: clone the shared samples beside the repository (shared/ next to main/)"
    );
    dir.canonicalize().unwrap()
}

struct Read {
    analyses: Vec<SessionAnalysis>,
    events: Vec<loupe_model::Event>,
}

fn read(rel: &str) -> Read {
    let root = samples_dir();
    let mut collected = Collected::default();
    loupe_formats::read_paths(&[root.join(rel)], &ReadOptions::default(), &mut collected).unwrap();
    assert!(
        collected.skipped.is_empty(),
        "{rel}: {:?}",
        collected.skipped
    );
    let mut asm = SessionAssembler::new();
    let mut events = Vec::new();
    for (source, event) in collected.events {
        let path = source.path.strip_prefix(&root).unwrap_or(&source.path);
        let src = SessionSource {
            path: format!("samples/{}", path.display()),
            format: source.format,
        };
        events.push(event.clone());
        asm.push(&src, event);
    }
    let cfg = AnalysisConfig::default();
    let analyses: Vec<SessionAnalysis> = asm
        .finish()
        .iter()
        .map(|s| loupe_analyze::analyze(s, &cfg))
        .collect();
    assert!(!analyses.is_empty(), "{rel}: no sessions");
    Read { analyses, events }
}

/// The HTML with the constant assets replaced, so snapshots show content only.
fn normalise_html(html: &str) -> String {
    let mut out = html.to_owned();
    for (open, close, placeholder) in [
        (
            "<style>",
            "</style>",
            "<style>/* assets/report.css */</style>",
        ),
        (
            "<script>",
            "</script>",
            "<script>/* assets/report.js */</script>",
        ),
    ] {
        if let (Some(a), Some(b)) = (out.find(open), out.find(close)) {
            out.replace_range(a..b + close.len(), placeholder);
        }
    }
    out
}

fn snapshot_all(name: &str, rel: &str) {
    let r = read(rel);
    let a = &r.analyses;
    let snap = |kind: &str, body: String| {
        insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "snapshots/samples" }, {
            insta::assert_snapshot!(format!("{name}__{kind}"), body);
        });
    };
    snap("summary", terminal::render(a, View::Summary, false));
    snap("timeline", terminal::render(a, View::Timeline, false));
    snap("tree", terminal::render(a, View::Tree, false));
    snap("tokens", terminal::render(a, View::Tokens, false));
    snap("json", loupe_report::json::render(a, &[]));
    snap("csv", loupe_report::csv::sessions(a));
    snap("csv_nodes", loupe_report::csv::nodes(a));
    snap("md", loupe_report::markdown::render(a));
    snap("llm", loupe_report::llm::render(a));
    snap("html", normalise_html(&loupe_report::html::render(a, None)));
    check_totals(rel, &r);
}

/// The JSON metrics agree with sums taken straight from the events, each
/// event once (the same event read from two files counts once: the
/// MyAgent samples hold the same traces in three shapes).
fn check_totals(rel: &str, r: &Read) {
    let doc: serde_json::Value =
        serde_json::from_str(&loupe_report::json::render(&r.analyses, &[])).unwrap();
    for s in doc["sessions"].as_array().unwrap() {
        let id = s["session_id"].as_str().unwrap();
        let mut once = std::collections::HashSet::new();
        let mine: Vec<&loupe_model::Event> = r
            .events
            .iter()
            .filter(|e| e.session_id == id && once.insert((&e.event_id, e.timestamp)))
            .collect();
        let responses: Vec<_> = mine
            .iter()
            .filter(|e| e.kind == EventKind::LlmResponse)
            .collect();
        let sum = |f: fn(&loupe_model::TokenUsage) -> u64| -> u64 {
            responses.iter().map(|e| f(&e.usage())).sum()
        };
        let m = &s["metrics"];
        let ctx = format!("{rel} / {id}");
        // Unreported counts are null, and then no event reports any.
        let count = |key: &str| -> u64 {
            if m[key].is_null() {
                assert_eq!(m["total_tokens"], serde_json::Value::Null, "{ctx}: {key}");
                0
            } else {
                m[key].as_u64().unwrap()
            }
        };
        assert_eq!(
            count("input_tokens"),
            sum(|u| u.input()),
            "{ctx}: input_tokens"
        );
        assert_eq!(
            count("output_tokens"),
            sum(|u| u.output()),
            "{ctx}: output_tokens"
        );
        assert_eq!(
            count("cache_read_tokens"),
            sum(|u| u.cache_read()),
            "{ctx}: cache_read_tokens"
        );
        assert_eq!(
            count("cache_write_tokens"),
            sum(|u| u.cache_write()),
            "{ctx}: cache_write_tokens"
        );
        let input = sum(|u| u.input());
        let expected_rate = if input == 0 {
            0.0
        } else {
            sum(|u| u.cache_read()) as f64 / input as f64
        };
        // Null is unknown (no call reports cache use).
        if let Some(rate) = m["cache_hit_rate"].as_f64() {
            assert!((rate - expected_rate).abs() < 1e-9, "{ctx}: cache_hit_rate");
        }
        let tool_ends = mine
            .iter()
            .filter(|e| matches!(e.kind, EventKind::ToolEnd | EventKind::ToolError))
            .count() as u64;
        assert!(
            m["tool_calls"].as_u64().unwrap() >= tool_ends,
            "{ctx}: tool_calls below finished tool events"
        );
        assert!(
            m["llm_calls"].as_u64().unwrap() >= responses.len() as u64,
            "{ctx}: llm_calls"
        );
        let tools_total: u64 = s["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["calls"].as_u64().unwrap())
            .sum();
        assert_eq!(
            tools_total,
            m["tool_calls"].as_u64().unwrap(),
            "{ctx}: per-tool calls add up"
        );
    }
}

macro_rules! samples {
    ($($test:ident => $name:literal, $rel:literal;)*) => {
        $( #[test] fn $test() { snapshot_all($name, $rel); } )*
    };
}

samples! {
    attocode_py_crashed => "py-crashed", "attocode-py/crashed.jsonl";
    attocode_py_healthy => "py-healthy", "attocode-py/healthy.jsonl";
    attocode_py_legacy => "py-legacy", "attocode-py/legacy-format.jsonl";
    attocode_py_pathological => "py-pathological", "attocode-py/pathological.jsonl";
    attocode_py_spinning => "py-spinning", "attocode-py/spinning.jsonl";
    attocode_py_tracewriter => "py-tracewriter", "attocode-py/tracewriter-cli.jsonl";
    attocode_ts_lesson26 => "ts-lesson26", "attocode-ts/lesson26-example.jsonl";
    attocode_ts_healthy => "ts-healthy", "attocode-ts/single-task-healthy.jsonl";
    attocode_ts_regressed => "ts-regressed", "attocode-ts/single-task-regressed.jsonl";
    attocode_ts_swarm => "ts-swarm", "attocode-ts/swarm.jsonl";
    attocode_ts_repl => "ts-repl", "attocode-ts/terminal-repl.jsonl";
    agent_trace => "agent-trace", "agent-trace/traces";
    myagent => "myagent", "myagent";
    victor => "victor", "victor";
    attoswarm => "attoswarm", "attoswarm-real";
}

#[test]
fn compare_healthy_vs_regressed() {
    let a = read("attocode-ts/single-task-healthy.jsonl").analyses;
    let b = read("attocode-ts/single-task-regressed.jsonl").analyses;
    let c = loupe_analyze::compare_sessions(&a[0], &b[0], &loupe_analyze::CompareConfig::default());
    let side = |label: &str, x: &[SessionAnalysis]| loupe_report::compare::Side {
        label: label.to_owned(),
        sessions: x.iter().map(|s| s.session_id.clone()).collect(),
    };
    let (sa, sb) = (side("healthy", &a), side("regressed", &b));
    let text = loupe_report::compare::text(&sa, &sb, &c, false);
    assert!(text.contains("✗ regression") && text.contains("Assessment: REGRESSED"));
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "snapshots/samples" }, {
        insta::assert_snapshot!("compare__text", text);
        insta::assert_snapshot!("compare__json", loupe_report::compare::json(&sa, &sb, &c));
    });
}

#[test]
fn stats_over_every_sample() {
    let root = samples_dir();
    let mut collected = Collected::default();
    loupe_formats::read_paths(
        std::slice::from_ref(&root),
        &ReadOptions::default(),
        &mut collected,
    )
    .unwrap();
    let mut asm = SessionAssembler::new();
    for (source, event) in collected.events {
        let path = source.path.strip_prefix(&root).unwrap_or(&source.path);
        let src = SessionSource {
            path: format!("samples/{}", path.display()),
            format: source.format,
        };
        asm.push(&src, event);
    }
    let cfg = AnalysisConfig {
        summary_only: true,
        ..AnalysisConfig::default()
    };
    let mut acc = loupe_analyze::StatsAccumulator::new(cfg.prices.clone()).with_top_n(5);
    let sessions = asm.finish();
    for s in &sessions {
        acc.add(&loupe_analyze::analyze(s, &cfg), s);
    }
    let stats = acc.finish(5);
    assert_eq!(stats.sessions as usize, sessions.len());
    let csv = loupe_report::stats::csv(&stats);
    assert!(csv.starts_with("section,key,metric,value\n"));
    assert!(csv.contains(&format!("total,sessions,count,{}\n", sessions.len())));
    insta::with_settings!({ prepend_module_to_snapshot => false, snapshot_path => "snapshots/samples" }, {
        insta::assert_snapshot!("stats__text", loupe_report::stats::text(&stats, false));
        insta::assert_snapshot!("stats__json", loupe_report::stats::json(&stats));
        insta::assert_snapshot!("stats__csv", csv);
    });
}
