//! What `loupe view` shows of a session's rows: negative durations (clock
//! skew) read as unknown the same way in every view and output, and the
//! text timeline and tree of a huge session are cut at a limit that says
//! how to see everything.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn loupe(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// A canonical session with a clock that went back: an LLM call and a tool
/// call whose end records a negative duration though their start was
/// recorded (their time is the time between the two), a tool end alone
/// with a negative duration (unknown), and a timed tool call.
const SKEWED: &str = r#"{"event_id":"e1","kind":"session_start","timestamp":"2026-02-28T12:00:00.000000Z","session_id":"skew","data":{"task":"skew","model":"gpt-4o"}}
{"event_id":"e2","kind":"iteration_start","timestamp":"2026-02-28T12:00:00.100000Z","session_id":"skew","iteration":1}
{"event_id":"e3","kind":"llm_request","timestamp":"2026-02-28T12:00:00.200000Z","session_id":"skew","span_id":"l1","iteration":1,"data":{"model":"gpt-4o"}}
{"event_id":"e4","kind":"llm_response","timestamp":"2026-02-28T12:00:01.200000Z","session_id":"skew","span_id":"l1","iteration":1,"duration_ms":-1500,"data":{"model":"gpt-4o","usage":{"input_tokens":1000,"output_tokens":100}}}
{"event_id":"e5","kind":"tool_start","timestamp":"2026-02-28T12:00:01.300000Z","session_id":"skew","span_id":"t1","iteration":1,"data":{"tool":"read_file"}}
{"event_id":"e6","kind":"tool_end","timestamp":"2026-02-28T12:00:01.400000Z","session_id":"skew","span_id":"t1","iteration":1,"duration_ms":-250,"data":{"tool":"read_file","status":"success"}}
{"event_id":"e7","kind":"tool_start","timestamp":"2026-02-28T12:00:01.500000Z","session_id":"skew","span_id":"t2","iteration":1,"data":{"tool":"read_file"}}
{"event_id":"e8","kind":"tool_end","timestamp":"2026-02-28T12:00:01.900000Z","session_id":"skew","span_id":"t2","iteration":1,"duration_ms":400,"data":{"tool":"read_file","status":"success"}}
{"event_id":"e9","kind":"tool_end","timestamp":"2026-02-28T12:00:02.000000Z","session_id":"skew","iteration":1,"duration_ms":-3000,"data":{"tool":"bash","status":"success"}}
{"event_id":"e10","kind":"iteration_end","timestamp":"2026-02-28T12:00:02.100000Z","session_id":"skew","iteration":1}
{"event_id":"e11","kind":"session_end","timestamp":"2026-02-28T12:00:02.200000Z","session_id":"skew","data":{"status":"completed"}}
"#;

fn skewed_trace(dir: &Path) -> String {
    let path = dir.join("skew.jsonl");
    std::fs::write(&path, SKEWED).unwrap();
    path.to_str().unwrap().to_owned()
}

fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
}

#[test]
fn a_negative_duration_is_unknown_in_every_view_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let trace = skewed_trace(dir.path());

    // Text timeline: the lone bash end shows no duration (its label none
    // either); the paired calls show the time between start and end.
    let timeline = stdout(&loupe(&["view", &trace, "--view", "timeline"]));
    let bash = line_with(&timeline, "Tool completed: bash");
    assert!(!bash.contains("ms") && !bash.contains('-'), "{bash}");
    assert!(
        line_with(&timeline, "LLM response").ends_with("✓ 1.0s"),
        "{timeline}"
    );
    assert!(
        line_with(&timeline, "read_file (100ms)").ends_with("✓ 100ms"),
        "{timeline}"
    );
    assert!(
        !timeline.contains("-250") && !timeline.contains("-3000"),
        "{timeline}"
    );

    // Text tree: the same, never 0ms.
    let tree = stdout(&loupe(&["view", &trace, "--view", "tree"]));
    assert!(
        line_with(&tree, "tool bash")
            .trim_end()
            .ends_with("tool bash  ✓"),
        "{tree}"
    );
    assert!(line_with(&tree, "llm gpt-4o").contains("✓ 1.0s"), "{tree}");
    assert!(!tree.contains("0ms "), "{tree}");

    // Summary: bash's mean and p95 are unknown, read_file's mean is over
    // its two known durations (100 and 400 ms), and the note says why.
    let summary = stdout(&loupe(&["view", &trace]));
    let bash = line_with(&summary, "  bash ");
    assert!(bash.trim_end().ends_with("-      -"), "{summary}");
    assert!(
        line_with(&summary, "read_file").contains("250ms  400ms"),
        "{summary}"
    );
    assert!(
        line_with(&summary, "Note").contains("1 recorded duration is negative"),
        "{summary}"
    );
    let md = stdout(&loupe(&["view", &trace, "-o", "md"]));
    assert!(md.contains("| bash | 1 | 0 | - | - |"), "{md}");

    // JSON: null, never a negative number or 0; the note on stderr.
    let out = loupe(&["view", &trace, "--view", "all", "-o", "json"]);
    assert!(stderr(&out).contains("1 recorded duration is negative"));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let s = &doc["sessions"][0];
    let bash = s["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "bash")
        .unwrap();
    assert!(
        bash["avg_duration_ms"].is_null() && bash["p95_duration_ms"].is_null(),
        "{bash}"
    );
    let read = s["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "read_file")
        .unwrap();
    assert_eq!(read["avg_duration_ms"], 250.0);
    let end = s["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == "Tool completed: bash")
        .unwrap();
    assert!(end["duration_ms"].is_null(), "{end}");
    let text = stdout(&out);
    assert!(!text.contains("-250") && !text.contains("-3000") && !text.contains("-1500"));

    // CSV: an empty cell.
    let csv = stdout(&loupe(&["view", &trace, "--view", "timeline", "-o", "csv"]));
    assert!(
        line_with(&csv, "Tool completed: bash").contains("Tool completed: bash,,1"),
        "{csv}"
    );
    let csv = stdout(&loupe(&["view", &trace, "--view", "tree", "-o", "csv"]));
    assert!(
        line_with(&csv, ",tool,bash,").contains(":02.000000Z,,"),
        "{csv}"
    );
    assert!(!csv.contains(",-"), "{csv}");
}

/// One session of `tools` timed tool calls (one `tool_end` each) in one
/// iteration: `tools + 3` events, `tools + 2` spans.
fn long_session(dir: &Path, tools: usize) -> String {
    let mut text = String::from(
        r#"{"event_id":"s","kind":"session_start","timestamp":"2026-02-28T12:00:00.000000Z","session_id":"long","iteration":1}
{"event_id":"i","kind":"iteration_start","timestamp":"2026-02-28T12:00:00.000000Z","session_id":"long","iteration":1}
"#,
    );
    for i in 0..tools {
        text.push_str(&format!(
            r#"{{"event_id":"t{i}","kind":"tool_end","timestamp":"2026-02-28T12:{:02}:{:02}.{:03}000Z","session_id":"long","iteration":1,"duration_ms":5,"data":{{"tool":"grep","status":"success"}}}}"#,
            i / 60_000,
            (i / 1_000) % 60,
            i % 1_000
        ));
        text.push('\n');
    }
    text.push_str(
        r#"{"event_id":"e","kind":"session_end","timestamp":"2026-02-28T13:00:00.000000Z","session_id":"long","data":{"status":"completed"}}
"#,
    );
    let path = dir.join("long.jsonl");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_text_timeline_and_tree_of_a_huge_session_stop_at_the_limit_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    // Twice the default limit (3,000 rows, the HTML report's).
    let trace = long_session(dir.path(), 6_000);

    let timeline = stdout(&loupe(&["view", &trace, "--view", "timeline"]));
    // A heading, 3,000 events, the line that says what is left out.
    assert_eq!(timeline.lines().count(), 3_002, "{}", &timeline[..500]);
    assert_eq!(
        timeline.lines().last().unwrap(),
        "… 3,003 more events not shown (the first 3,000 of 6,003): --limit N shows more, --all shows every one, -o json or csv lists them all"
    );
    let tree = stdout(&loupe(&["view", &trace, "--view", "tree"]));
    assert_eq!(tree.lines().count(), 3_002);
    assert!(
        tree.lines()
            .last()
            .unwrap()
            .starts_with("… 3,002 more spans not shown (the first 3,000 of 6,002)"),
        "{}",
        tree.lines().last().unwrap()
    );

    // --limit N: N rows; --all: every row and no such line.
    let few = stdout(&loupe(&["view", &trace, "--view", "all", "--limit", "10"]));
    assert!(
        few.contains("… 5,993 more events not shown (the first 10 of 6,003)"),
        "{few}"
    );
    assert!(
        few.contains("… 5,992 more spans not shown (the first 10 of 6,002)"),
        "{few}"
    );
    let all = stdout(&loupe(&["view", &trace, "--view", "timeline", "--all"]));
    assert_eq!(all.lines().count(), 6_004);
    assert!(!all.contains("not shown"));
    let all = stdout(&loupe(&["view", &trace, "--view", "tree", "--all"]));
    assert_eq!(all.lines().count(), 6_003);

    // JSON and CSV stay complete.
    let csv = stdout(&loupe(&["view", &trace, "--view", "timeline", "-o", "csv"]));
    assert_eq!(csv.lines().count(), 6_004);
    let json = stdout(&loupe(&[
        "view", &trace, "--view", "timeline", "-o", "json",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        doc["sessions"][0]["timeline"].as_array().unwrap().len(),
        6_003
    );

    // A small session is not cut.
    let small = skewed_trace(dir.path());
    let text = stdout(&loupe(&["view", &small, "--view", "all"]));
    assert!(!text.contains("not shown"));
}

/// The summary view reads less (no tool results, no tree or timeline built):
/// what it shows is what the full analysis shows, on every sample.
#[test]
fn the_lean_summary_shows_what_the_full_analysis_shows() {
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/samples");
    assert!(Path::new(samples).is_dir(), "{samples} is missing");
    let lean: serde_json::Value =
        serde_json::from_str(&stdout(&loupe(&["view", samples, "-o", "json"]))).unwrap();
    let mut full: serde_json::Value = serde_json::from_str(&stdout(&loupe(&[
        "view", samples, "--view", "all", "-o", "json",
    ])))
    .unwrap();
    for s in full["sessions"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("timeline");
        s.remove("tree");
        s.remove("token_flow");
    }
    let mut lean = lean;
    for s in lean["sessions"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().remove("token_flow");
    }
    assert!(lean["sessions"].as_array().unwrap().len() > 10);
    assert_eq!(lean, full);
}
