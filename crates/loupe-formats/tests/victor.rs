//! Golden tests for the Victor reader over every real file in
//! `shared/samples/victor/`, checked against Victor's own analyses
//! (`workflow_tracer.analysis.json`, `*.summary.json`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loupe_formats::{Collected, ReadError, Source};
use loupe_model::{Event, EventKind, SourceFormat};
use serde_json::Value;

mod support;

fn samples() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/samples/victor"
    ));
    assert!(
        dir.is_dir(),
        "sample directory {} is missing: clone `shared/` beside the repository",
        dir.display()
    );
    dir.to_path_buf()
}

fn json(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(samples().join(name)).unwrap()).unwrap()
}

fn read(name: &str, format: SourceFormat) -> Vec<Event> {
    let path = samples().join(name);
    let bytes = std::fs::read(&path).unwrap();
    let mut sink = Collected::default();
    loupe_formats::victor::read(&bytes, &Source { path, format }, &mut sink).unwrap();
    assert!(sink.skipped.is_empty(), "{:?}", sink.skipped);
    sink.events.into_iter().map(|(_, e)| e).collect()
}

fn history_file() -> String {
    let dir = samples().join("workflow_history");
    let entry = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap();
    format!("workflow_history/{}", entry.file_name().to_string_lossy())
}

#[test]
fn workflow_tracer_matches_victors_own_analysis() {
    let events = read("workflow_tracer.json", SourceFormat::VictorWorkflow);
    let analysis = json("workflow_tracer.analysis.json");
    let sessions: Vec<&str> = events.iter().map(|e| e.session_id.as_str()).collect();
    assert!(sessions.iter().all(|s| *s == analysis["trace_id"]));

    let node_ends: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::NodeEnd)
        .collect();
    assert_eq!(
        node_ends.len() as u64,
        analysis["total_nodes"].as_u64().unwrap()
    );
    let failed = node_ends
        .iter()
        .filter(|e| e.status() == Some("failed"))
        .count() as u64;
    assert_eq!(failed, analysis["failed_nodes"].as_u64().unwrap());
    assert_eq!(failed, analysis["error_count"].as_u64().unwrap());
    assert_eq!(
        node_ends.len() as u64 - failed,
        analysis["successful_nodes"].as_u64().unwrap()
    );

    let tools: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ToolEnd | EventKind::ToolError))
        .collect();
    assert_eq!(
        tools.len() as u64,
        analysis["total_tool_calls"].as_u64().unwrap()
    );
    let mut per_tool: BTreeMap<&str, u64> = BTreeMap::new();
    for t in &tools {
        *per_tool.entry(t.tool_name().unwrap()).or_default() += 1;
    }
    for entry in analysis["most_used_tools"].as_array().unwrap() {
        assert_eq!(
            per_tool[entry["tool"].as_str().unwrap()],
            entry["calls"].as_u64().unwrap()
        );
    }
    // Tool errors, counted independently from the exported tool calls.
    let doc = json("workflow_tracer.json");
    let expected_tool_errors = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["tool_calls"].as_array().unwrap())
        .filter(|c| c["success"] == false)
        .count();
    let tool_errors = tools
        .iter()
        .filter(|t| t.kind == EventKind::ToolError)
        .count();
    assert_eq!((tool_errors, expected_tool_errors), (1, 1));

    // Slowest nodes: durations summed per node id, as Victor does.
    let mut per_node: BTreeMap<&str, f64> = BTreeMap::new();
    for n in &node_ends {
        *per_node.entry(n.str("node_id").unwrap()).or_default() += n.duration_ms.unwrap();
    }
    for entry in analysis["slowest_nodes"].as_array().unwrap() {
        let ours = per_node[entry["node_id"].as_str().unwrap()];
        let theirs = entry["duration"].as_f64().unwrap() * 1000.0;
        assert!((ours - theirs).abs() < 1e-6, "{entry}: {ours}");
    }
    let end = events
        .iter()
        .find(|e| e.kind == EventKind::WorkflowEnd)
        .unwrap();
    assert_eq!(
        end.duration_ms,
        Some(analysis["total_duration_seconds"].as_f64().unwrap() * 1000.0)
    );
    // No node ends after its workflow: `review`, stamped at the workflow's
    // end with 12 s of duration (a `trace_node` record, made once the node
    // ran), ended at its stamp.
    let last = events.iter().map(|e| e.timestamp).max().unwrap();
    assert_eq!(last, end.timestamp, "the workflow's end is the last event");

    // Tool calls hang under their node span, which is open around them.
    let failed_tool = tools
        .iter()
        .find(|t| t.kind == EventKind::ToolError)
        .unwrap();
    let node_start = events
        .iter()
        .find(|e| e.kind == EventKind::NodeStart && e.span_id == failed_tool.parent_event_id)
        .unwrap();
    assert_eq!(node_start.str("node_id"), Some("implement"));
    assert_eq!(failed_tool.error_message().as_deref(), Some("2 failed"));
}

#[test]
fn execution_traces_match_their_summaries() {
    for (trace, summary) in [
        (
            "execution_trace_invoke.json",
            "execution_trace_invoke.summary.json",
        ),
        (
            "execution_trace_stream.json",
            "execution_trace_stream.summary.json",
        ),
    ] {
        let events = read(trace, SourceFormat::VictorExecution);
        let summary = json(summary);
        assert!(
            events
                .iter()
                .all(|e| e.session_id == summary["execution_id"]),
            "{trace}"
        );
        assert_eq!(
            events.len() as u64,
            summary["total_events"].as_u64().unwrap(),
            "{trace}"
        );
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for e in &events {
            *counts
                .entry(e.str("source_kind").unwrap().to_owned())
                .or_default() += 1;
        }
        let expected: BTreeMap<String, u64> =
            serde_json::from_value(summary["event_counts"].clone()).unwrap();
        assert_eq!(counts, expected, "{trace}");
        let errors = events
            .iter()
            .filter(|e| e.error_message().is_some())
            .count() as u64;
        assert_eq!(errors, summary["error_count"].as_u64().unwrap(), "{trace}");
        let nodes = events
            .iter()
            .filter(|e| e.kind == EventKind::NodeEnd)
            .count();
        let node_counts = summary["node_counts"].as_object().unwrap();
        assert_eq!(
            nodes,
            node_counts.keys().filter(|k| *k != "workflow").count(),
            "{trace}"
        );
        let end = events
            .iter()
            .find(|e| e.kind == EventKind::WorkflowEnd)
            .unwrap();
        assert_eq!(end.status(), Some("completed"));
        assert_eq!(
            end.duration_ms,
            Some(summary["duration_seconds"].as_f64().unwrap() * 1000.0)
        );
    }
}

#[test]
fn failed_execution_ends_the_workflow_failed_with_its_error() {
    let events = read("execution_trace_failed.json", SourceFormat::VictorExecution);
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["workflow_start", "workflow_end"]);
    assert_eq!(events[1].status(), Some("failed"));
    assert_eq!(
        events[1].error_message().as_deref(),
        Some("node 'fetch' failed: HTTP 503")
    );
    assert_eq!(events[1].duration_ms, Some(3250.0));
}

#[test]
fn history_file_is_a_session_with_metrics() {
    let name = history_file();
    let events = read(&name, SourceFormat::VictorExecution);
    let doc = json(&name);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.session_id == doc["execution_id"]));
    assert_eq!(events[0].str("workflow"), Some("analysis"));
    assert_eq!(events[1].data["metrics"], doc["metrics"]);
    assert_eq!(events[1].data["trace_summary"]["total_events"], 2);
    assert_eq!(events[1].duration_ms, Some(3250.0));
}

#[test]
fn content_decides_the_shape_whatever_the_hint() {
    let events = read("workflow_tracer.json", SourceFormat::VictorExecution);
    assert!(events.iter().any(|e| e.kind == EventKind::NodeStart));
}

#[test]
fn snapshots() {
    let history = history_file();
    for (name, format) in [
        ("workflow_tracer.json", SourceFormat::VictorWorkflow),
        ("execution_trace_invoke.json", SourceFormat::VictorExecution),
        ("execution_trace_stream.json", SourceFormat::VictorExecution),
        ("execution_trace_failed.json", SourceFormat::VictorExecution),
        (history.as_str(), SourceFormat::VictorExecution),
    ] {
        let snap = name.replace('/', "__");
        // Sorted keys: the snapshot must not depend on serde_json's `preserve_order`
        // feature, which another crate in a workspace build may switch on.
        insta::with_settings!({sort_maps => true}, {
            insta::assert_json_snapshot!(format!("victor__{snap}"), read(name, format));
        });
    }
}

#[test]
fn detection_names_the_format() {
    let history = history_file();
    for (name, format) in [
        ("workflow_tracer.json", SourceFormat::VictorWorkflow),
        ("execution_trace_invoke.json", SourceFormat::VictorExecution),
        ("execution_trace_stream.json", SourceFormat::VictorExecution),
        ("execution_trace_failed.json", SourceFormat::VictorExecution),
        (history.as_str(), SourceFormat::VictorExecution),
    ] {
        let bytes = std::fs::read(samples().join(name)).unwrap();
        assert_eq!(loupe_formats::detect(&bytes), Some(format), "{name}");
    }
}

#[test]
fn broken_inputs_give_clean_errors_or_skips() {
    let source = Source {
        path: "wf.json".into(),
        format: SourceFormat::VictorWorkflow,
    };
    let bytes = std::fs::read(samples().join("workflow_tracer.json")).unwrap();
    let mut sink = Collected::default();
    let err =
        loupe_formats::victor::read(&bytes[..bytes.len() - 40], &source, &mut sink).unwrap_err();
    assert!(matches!(err, ReadError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("wf.json"), "{err}");
    let err = loupe_formats::victor::read(br#"[1,2]"#, &source, &mut sink).unwrap_err();
    assert!(matches!(err, ReadError::Unrecognized { .. }), "{err}");
    let err =
        loupe_formats::victor::read(br#"{"execution_id":5,"events":"x"}"#, &source, &mut sink)
            .unwrap_err();
    assert!(
        err.to_string().contains("`events` is not an array"),
        "{err}"
    );

    let doc = br#"{"execution_id":"e1","events":[
        {"node_id":"workflow","event_type":"workflow_started","timestamp":100.0},
        {"node_id":"a","event_type":"node_started","timestamp":"oops"},
        "junk",
        {"node_id":"a","event_type":"retry_attempt","timestamp":101.0},
        {"node_id":"a","event_type":"node_skipped","timestamp":102.0,"duration_seconds":0},
        {"node_id":"a","event_type":"breakpoint_hit","timestamp":102.5},
        {"node_id":"a","event_type":"error_occurred","timestamp":103.0,"error":"boom"}]}"#;
    let mut sink = Collected::default();
    loupe_formats::victor::read(doc, &source, &mut sink).unwrap();
    assert_eq!(sink.skipped.len(), 2, "{:?}", sink.skipped);
    assert!(sink.skipped[0].reason.contains("events[1]"));
    let kinds: Vec<&str> = sink.events.iter().map(|(_, e)| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "workflow_start",
            "retry_attempt",
            "node_end",
            "custom",
            "error"
        ]
    );
    assert_eq!(sink.events[2].1.status(), Some("skipped"));
    assert_eq!(sink.events[3].1.str("name"), Some("breakpoint_hit"));
}

#[test]
fn fuzz_seeds_samples_and_their_mutations_never_panic() {
    let mut files = support::seed_files("read_victor");
    for entry in std::fs::read_dir(samples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            files.push(path);
        }
    }
    files.push(samples().join(history_file()));
    let source = Source {
        path: "v.json".into(),
        format: SourceFormat::VictorExecution,
    };
    let mut inputs = 0;
    for file in files {
        for input in support::mutations(&std::fs::read(&file).unwrap()) {
            inputs += 1;
            if let Err(e) = loupe_formats::victor::read(&input, &source, &mut Collected::default())
            {
                assert!(e.to_string().starts_with("v.json: "), "{e}");
            }
        }
    }
    assert!(inputs > 500);
}

#[test]
fn absurd_numbers_neither_panic_nor_produce_non_finite_durations() {
    let source = Source {
        path: "wf.json".into(),
        format: SourceFormat::VictorWorkflow,
    };
    let doc = br#"{"trace_id":"t","workflow_name":"w","start_time":-1e13,"end_time":1e13,
        "duration_seconds":1e308,"nodes":[{"node_id":"n","timestamp":1e13,"duration_seconds":1e308,
        "success":false,"tool_calls":[{"tool_name":"x","duration_seconds":1e308},{"tool_name":"y","duration_seconds":-5}]}]}"#;
    let mut sink = Collected::default();
    loupe_formats::victor::read(doc, &source, &mut sink).unwrap();
    assert_eq!(sink.events.len(), 6);
    for (_, e) in &sink.events {
        let d = e.duration_ms.unwrap_or(0.0);
        assert!(d.is_finite() && d >= 0.0, "{}: {d}", e.event_id);
    }
    let exec =
        br#"{"execution_id":"e","events":[{"event_type":"workflow_started","timestamp":-1e13},
        {"event_type":"workflow_completed","timestamp":1e13}]}"#;
    let mut sink = Collected::default();
    loupe_formats::victor::read(exec, &source, &mut sink).unwrap();
    assert!(sink.events[1].1.duration_ms.unwrap().is_finite());
}
