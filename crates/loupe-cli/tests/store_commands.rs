//! `loupe ingest`, `loupe query` and `loupe prune` end to end through the
//! binary: idempotent and incremental ingest, filters, JSON rows, pruning,
//! and a clear refusal of a file that is not a store.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use loupe_model::{keys, Event, EventKind, Timestamp};
use serde_json::{json, Value};

fn loupe(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(args)
        .current_dir(cwd)
        .env_remove("LOUPE_DB")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "loupe failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

const T0: i64 = 1_767_225_600_000_000;

fn line(e: &Event) -> String {
    format!("{}\n", serde_json::to_string(e).unwrap())
}

fn session(id: &str, agent: &str, tool: &str, text: &str, minute: i64) -> String {
    let ts = |s: i64| Timestamp(T0 + minute * 60_000_000 + s * 1_000_000);
    let mut out = String::new();
    out += &line(
        &Event::new(format!("{id}-1"), EventKind::SessionStart, ts(0), id)
            .with(keys::AGENT_NAME, agent)
            .with(keys::TASK, format!("task of {agent}"))
            .with(keys::TAGS, json!(["ci"]))
            .with(keys::METADATA, json!({"team": agent})),
    );
    let mut tool_end = Event::new(format!("{id}-2"), EventKind::ToolEnd, ts(2), id)
        .with(keys::TOOL, tool)
        .with(keys::RESULT, text);
    tool_end.duration_ms = Some(1500.0);
    out += &line(&tool_end);
    out
}

fn ids(json_rows: &str) -> Vec<String> {
    let rows: Vec<Value> = serde_json::from_str(json_rows).unwrap();
    rows.iter()
        .map(|r| r["session_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ingest_is_idempotent_and_incremental_and_query_filters() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("traces")).unwrap();
    let trace = root.join("traces/run.jsonl");
    std::fs::write(
        &trace,
        session("s1", "coder", "bash", "linker error in main", 0)
            + &session("s2", "reviewer", "grep", "all good", 10),
    )
    .unwrap();

    let out = ok(&loupe(&["ingest", "traces"], root));
    assert!(
        out.contains("4 new events, 0 duplicates, 2 sessions updated"),
        "{out}"
    );
    assert!(root.join(".loupe/loupe.db").exists(), "default store path");

    let again = ok(&loupe(&["ingest", "traces"], root));
    assert!(again.contains("(1 unchanged"), "{again}");
    assert!(again.contains("0 new events, 0 duplicates"), "{again}");

    // The file grows by one event and half of another: only the complete new
    // line is read (no duplicates means the old lines were not re-read).
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&trace)
        .unwrap();
    let end = line(
        &Event::new(
            "s1-3",
            EventKind::SessionEnd,
            Timestamp(T0 + 5_000_000),
            "s1",
        )
        .with(keys::STATUS, "completed"),
    );
    let more = line(
        &Event::new(
            "s2-3",
            EventKind::Error,
            Timestamp(T0 + 600_000_000 + 9_000_000),
            "s2",
        )
        .with(keys::ERROR, "quota exceeded"),
    );
    f.write_all(end.as_bytes()).unwrap();
    f.write_all(&more.as_bytes()[..20]).unwrap();
    f.flush().unwrap();
    let grown = ok(&loupe(&["ingest", "traces"], root));
    assert!(
        grown.contains("1 new events, 0 duplicates, 1 session updated"),
        "{grown}"
    );
    f.write_all(&more.as_bytes()[20..]).unwrap();
    f.flush().unwrap();
    let finished = ok(&loupe(&["ingest", "traces"], root));
    assert!(
        finished.contains("1 new events, 0 duplicates"),
        "{finished}"
    );

    let all = ok(&loupe(&["query", "--output", "json"], root));
    assert_eq!(ids(&all), ["s2", "s1"], "newest first");
    let rows: Vec<Value> = serde_json::from_str(&all).unwrap();
    let s1 = &rows[1];
    assert_eq!(s1["status"], "completed", "summary rebuilt after the tail");
    assert_eq!(s1["metrics"]["tool_calls"], 1);
    for key in [
        "iterations",
        "llm_calls",
        "tool_errors",
        "errors",
        "input_tokens",
        "cache_hit_rate",
        "cost_usd",
        "compactions",
        "subagents",
    ] {
        assert!(s1["metrics"].get(key).is_some(), "metrics.{key} present");
    }
    let q = |args: &[&str]| {
        let mut full = vec!["query", "--output", "json"];
        full.extend_from_slice(args);
        ids(&ok(&loupe(&full, root)))
    };
    assert_eq!(q(&["--agent", "coder"]), ["s1"]);
    assert_eq!(q(&["--name", "REVIEW"]), ["s2"]);
    assert_eq!(q(&["--tool", "grep"]), ["s2"]);
    assert_eq!(q(&["--text", "linker"]), ["s1"]);
    assert_eq!(q(&["--text", "quota"]), ["s2"]);
    assert_eq!(q(&["--has-errors"]), ["s2"]);
    assert_eq!(q(&["--status", "completed"]), ["s1"]);
    assert_eq!(q(&["--meta", "team=reviewer"]), ["s2"]);
    assert_eq!(q(&["--tag", "ci", "--sort", "name", "--asc"]), ["s1", "s2"]);
    assert_eq!(q(&["--since", "2026-01-01T00:05:00Z"]), ["s2"]);
    assert_eq!(q(&["--limit", "1", "--offset", "1"]), ["s1"]);
    let runs: Vec<Value> = serde_json::from_str(&ok(&loupe(
        &["query", "--tool-runs", "--tool", "bash", "--output", "json"],
        root,
    )))
    .unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["tool"], "bash");
    assert_eq!(runs[0]["duration_ms"], 1500.0);
    // Session filters choose whose runs are listed.
    let run_sessions = |args: &[&str]| {
        let mut full = vec!["query", "--tool-runs", "--output", "json"];
        full.extend_from_slice(args);
        let runs: Vec<Value> = serde_json::from_str(&ok(&loupe(&full, root))).unwrap();
        let mut sessions: Vec<String> = runs
            .iter()
            .map(|r| r["session_id"].as_str().unwrap().to_owned())
            .collect();
        sessions.dedup();
        sessions
    };
    assert_eq!(run_sessions(&[]).len(), 2, "both sessions have runs");
    assert_eq!(run_sessions(&["--agent", "coder"]), ["s1"]);
    assert_eq!(run_sessions(&["--name", "REVIEW"]), ["s2"]);
    assert_eq!(run_sessions(&["--since", "2026-01-01T00:05:00Z"]), ["s2"]);
    assert!(run_sessions(&["--since", "2030-01-01"]).is_empty());
    let refused = loupe(&["query", "--tool-runs", "--max-duration", "1s"], root);
    assert_eq!(refused.status.code(), Some(2));
    let csv = ok(&loupe(&["query", "--output", "csv"], root));
    assert!(
        csv.starts_with("session_id,agent_name,task,model,status"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3);

    let pruned = ok(&loupe(&["prune", "--max-count", "1"], root));
    assert!(pruned.contains("pruned 1 sessions (3 events)"), "{pruned}");
    assert!(pruned.contains("s1"), "{pruned}");
    assert_eq!(q(&[]), ["s2"]);
}

#[test]
fn a_file_that_is_not_a_store_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.db"), "").unwrap();
    let out = loupe(&["query", "--db", "empty.db"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty file, not a Loupe store"));
    assert_eq!(
        std::fs::metadata(dir.path().join("empty.db"))
            .unwrap()
            .len(),
        0
    );
    let bad = dir.path().join("notes.db");
    std::fs::write(&bad, "not a database at all\n".repeat(100)).unwrap();
    for args in [
        vec!["query", "--db", "notes.db"],
        vec!["prune", "--db", "notes.db", "--max-age", "30d"],
    ] {
        let out = loupe(&args, dir.path());
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("notes.db") && err.contains("not a SQLite database"),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "one clear error: {err}");
    }
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap(),
        "not a database at all\n".repeat(100)
    );
}

#[test]
fn prune_needs_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let out = loupe(&["prune"], dir.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn prune_dry_run_lists_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("run.jsonl"),
        session("old", "coder", "bash", "x", 0) + &session("new", "coder", "bash", "y", 10),
    )
    .unwrap();
    ok(&loupe(&["ingest", "run.jsonl"], root));
    let preview = ok(&loupe(&["prune", "--max-count", "1", "--dry-run"], root));
    assert!(
        preview.contains("would prune 1 session") && preview.contains("  old"),
        "{preview}"
    );
    assert_eq!(ids(&ok(&loupe(&["query", "-o", "json"], root))).len(), 2);
    let pruned = ok(&loupe(&["prune", "--max-count", "1"], root));
    assert!(pruned.contains("  old"), "{pruned}");
    assert_eq!(ids(&ok(&loupe(&["query", "-o", "json"], root))), ["new"]);
}

/// Runs `loupe ARGS` in `cwd` with `input` on standard input.
fn loupe_with_stdin(args: &[&str], cwd: &Path, input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(args)
        .current_dir(cwd)
        .env_remove("LOUPE_DB")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_dash_reads_standard_input_for_ingest_and_analyze() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let trace = session("p1", "coder", "bash", "piped in", 0);

    let out = ok(&loupe_with_stdin(&["ingest", "-"], root, trace.as_bytes()));
    assert!(
        out.contains("2 new events, 0 duplicates, 1 session updated"),
        "{out}"
    );
    // The same trace piped again: nothing is remembered of a pipe, and its
    // events are recognised as already stored.
    let again = ok(&loupe_with_stdin(&["ingest", "-"], root, trace.as_bytes()));
    assert!(again.contains("0 new events, 2 duplicates"), "{again}");
    let rows = ok(&loupe(&["query", "--output", "json"], root));
    assert_eq!(ids(&rows), ["p1"]);

    // Compressed input on standard input is read as from a file.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(trace.as_bytes()).unwrap();
    let analysis = ok(&loupe_with_stdin(
        &["analyze", "-", "--output", "json"],
        root,
        &gz.finish().unwrap(),
    ));
    let analysis: Value = serde_json::from_str(&analysis).unwrap();
    let session = &analysis["sessions"][0];
    assert_eq!(session["session_id"], "p1");
    assert_eq!(session["metrics"]["tool_calls"], 1);
}

/// The text table's ERRORS column is the session's `errors` metric (which
/// already counts tool errors), as in CSV and JSON.
#[test]
fn query_counts_each_error_once_in_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ts = |s: i64| Timestamp(T0 + s * 1_000_000);
    let mut failed = Event::new("e-2", EventKind::ToolError, ts(2), "e1").with(keys::TOOL, "bash");
    failed.duration_ms = Some(10.0);
    let text = line(&Event::new("e-1", EventKind::SessionStart, ts(0), "e1"))
        + &line(&failed)
        + &line(&Event::new("e-3", EventKind::Error, ts(3), "e1").with(keys::ERROR, "boom"));
    std::fs::write(root.join("e.jsonl"), text).unwrap();
    ok(&loupe(&["ingest", "e.jsonl"], root));
    let rows: serde_json::Value =
        serde_json::from_str(&ok(&loupe(&["query", "--output", "json"], root))).unwrap();
    assert_eq!(rows[0]["metrics"]["errors"], 2, "{rows}");
    let table = ok(&loupe(&["query"], root));
    let row = table.lines().find(|l| l.contains("e1")).unwrap();
    assert_eq!(row.split_whitespace().last(), Some("2"), "{table}");
}

#[test]
fn query_takes_a_session_id_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("run.jsonl"),
        session("run-2026-alpha", "coder", "bash", "x", 0)
            + &session("run-2026-beta", "coder", "bash", "y", 10)
            + &session("other", "coder", "bash", "z", 20),
    )
    .unwrap();
    ok(&loupe(&["ingest", "run.jsonl"], root));
    let query = |id: &str| loupe(&["query", "--session", id, "--output", "json"], root);
    assert_eq!(ids(&ok(&query("run-2026-b"))), ["run-2026-beta"]);
    assert_eq!(ids(&ok(&query("other"))), ["other"]);
    // An exact id wins over longer ids it starts.
    assert_eq!(ids(&ok(&query("run-2026-alpha"))), ["run-2026-alpha"]);
    let several = query("run-");
    assert!(!several.status.success());
    let err = String::from_utf8_lossy(&several.stderr);
    assert!(
        err.contains("several stored sessions start with \"run-\"")
            && err.contains("run-2026-alpha, run-2026-beta"),
        "{err}"
    );
    let none = query("nope");
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr)
            .contains("no stored session has the id or id prefix \"nope\""),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}

/// An OpenTelemetry trace exported in two files, only the second (the agent's
/// root span, exported last) naming the session: one stored session, whether
/// the files are ingested together or one run after the other.
#[test]
fn an_otlp_trace_split_over_files_is_one_stored_session() {
    let trace = "0af7651916cd43dd8448eb211c80319c";
    let request = |span: &str| {
        format!(
            r#"{{"resourceSpans":[{{"resource":{{"attributes":[]}},"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#
        )
    };
    let child = request(&format!(
        r#"{{"traceId":"{trace}","spanId":"b7ad6b7169203331","parentSpanId":"00f067aa0ba902b7","name":"chat gpt-4o","kind":3,"startTimeUnixNano":"1700000001000000000","endTimeUnixNano":"1700000002000000000","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"chat"}}}},{{"key":"gen_ai.request.model","value":{{"stringValue":"gpt-4o"}}}},{{"key":"gen_ai.usage.input_tokens","value":{{"intValue":"100"}}}},{{"key":"gen_ai.usage.output_tokens","value":{{"intValue":"20"}}}}]}}"#
    ));
    let root = request(&format!(
        r#"{{"traceId":"{trace}","spanId":"00f067aa0ba902b7","name":"invoke_agent helper","kind":1,"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000003000000000","attributes":[{{"key":"gen_ai.operation.name","value":{{"stringValue":"invoke_agent"}}}},{{"key":"gen_ai.conversation.id","value":{{"stringValue":"conv-42"}}}}]}}"#
    ));
    for together in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let root_dir = dir.path();
        std::fs::write(root_dir.join("a.json"), &child).unwrap();
        std::fs::write(root_dir.join("b.json"), &root).unwrap();
        if together {
            ok(&loupe(&["ingest", "a.json", "b.json"], root_dir));
        } else {
            ok(&loupe(&["ingest", "a.json"], root_dir));
            assert_eq!(
                ids(&ok(&loupe(&["query", "-o", "json"], root_dir))),
                [trace]
            );
            ok(&loupe(&["ingest", "b.json"], root_dir));
        }
        let rows: Vec<Value> =
            serde_json::from_str(&ok(&loupe(&["query", "-o", "json"], root_dir))).unwrap();
        assert_eq!(rows.len(), 1, "together: {together}: {rows:#?}");
        assert_eq!(rows[0]["session_id"], "conv-42");
        assert_eq!(rows[0]["metrics"]["llm_calls"], 1);
        assert_eq!(rows[0]["status"], "completed");
    }
}

/// MyAgent exports one run twice: a runs export (whose `session_start`
/// has no task or metadata) and a traces export. Ingested in either order,
/// in one run or two, the stored session has the task and metadata, as
/// `loupe view` of both exports shows, and no event is stored twice.
#[test]
fn ingesting_both_myagent_exports_keeps_the_fuller_copy_in_either_order() {
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/myagent");
    let runs = samples.join("runs_export.json");
    let traces = samples.join("traces_export.json");
    let (runs, traces) = (runs.to_str().unwrap(), traces.to_str().unwrap());
    let stored = |dir: &Path| -> Value {
        let rows: Vec<Value> =
            serde_json::from_str(&ok(&loupe(&["query", "-o", "json"], dir))).unwrap();
        rows.into_iter()
            .find(|r| r["session_id"] == "9adfcf92-e65b-4af2-98b4-4f595101bbbc")
            .unwrap()
    };
    let alone = tempfile::tempdir().unwrap();
    ok(&loupe(&["ingest", traces], alone.path()));
    let expected = stored(alone.path());
    assert_eq!(expected["task"], "Weather in Paris?");
    assert_eq!(expected["metadata"]["user_id"], "u-42");
    for (first, second) in [(runs, traces), (traces, runs)] {
        for together in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let summary = if together {
                ok(&loupe(&["ingest", first, second], dir.path()))
            } else {
                ok(&loupe(&["ingest", first], dir.path()));
                ok(&loupe(&["ingest", second], dir.path()))
            };
            let case = format!("{first} then {second}, together: {together}");
            assert!(summary.contains("46 duplicates"), "{case}: {summary}");
            let row = stored(dir.path());
            for key in ["task", "agent_name", "tags", "metadata", "metrics"] {
                assert_eq!(row[key], expected[key], "{case}: {key}");
            }
        }
    }
}

/// `ingest`, `query` and `prune` on a real ClickHouse server given as
/// `--db clickhouse://HOST:PORT/DATABASE`. Runs when `LOUPE_TEST_CLICKHOUSE_URL`
/// is set (scripts/test-clickhouse.sh starts a throwaway server and sets it).
#[test]
fn the_store_commands_work_on_clickhouse() {
    let Ok(url) = std::env::var("LOUPE_TEST_CLICKHOUSE_URL") else {
        eprintln!("LOUPE_TEST_CLICKHOUSE_URL is not set: run scripts/test-clickhouse.sh");
        return;
    };
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let database = format!("loupe_cli_{}", std::process::id());
    let db = format!("clickhouse://{host}/{database}");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("run.jsonl"),
        session("ch-old", "coder", "bash", "linker error", 0)
            + &session("ch-new", "reviewer", "grep", "all good", 10),
    )
    .unwrap();
    let out = ok(&loupe(&["ingest", "run.jsonl", "--db", &db], root));
    assert!(out.contains("2 sessions updated"), "{out}");
    let rows = ok(&loupe(&["query", "--db", &db, "-o", "json"], root));
    assert_eq!(ids(&rows), ["ch-new", "ch-old"]);
    let found = ok(&loupe(
        &["query", "--db", &db, "--session", "ch-o", "-o", "json"],
        root,
    ));
    assert_eq!(ids(&found), ["ch-old"]);
    let text = ok(&loupe(
        &["query", "--db", &db, "--text", "linker", "-o", "json"],
        root,
    ));
    assert_eq!(ids(&text), ["ch-old"]);
    let preview = ok(&loupe(
        &["prune", "--db", &db, "--max-count", "1", "--dry-run"],
        root,
    ));
    assert!(preview.contains("  ch-old"), "{preview}");
    ok(&loupe(&["prune", "--db", &db, "--max-count", "1"], root));
    assert_eq!(
        ids(&ok(&loupe(&["query", "--db", &db, "-o", "json"], root))),
        ["ch-new"]
    );
    // Read commands refuse a mistyped database instead of creating it.
    let typo = format!("clickhouse://{host}/{database}_typo");
    for args in [
        vec!["query", "--db", &typo],
        vec!["prune", "--db", &typo, "--max-count", "1"],
    ] {
        let out = loupe(&args, root);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no such database"), "{err}");
    }
    let databases = ureq::post(&format!("{url}/"))
        .send_string("SELECT name FROM system.databases")
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        !databases.contains(&format!("{database}_typo")),
        "{databases}"
    );
    // Clean up the database this test made.
    let _ =
        ureq::post(&format!("{url}/")).send_string(&format!("DROP DATABASE IF EXISTS {database}"));
}

#[test]
fn a_named_file_that_is_no_trace_is_reported_and_the_others_are_still_stored() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.jsonl"), session("a", "coder", "bash", "x", 0)).unwrap();
    std::fs::write(root.join("readme.txt"), "just text\n").unwrap();
    std::fs::write(root.join("b.jsonl"), session("b", "coder", "bash", "y", 5)).unwrap();
    let out = loupe(&["ingest", "a.jsonl", "readme.txt", "b.jsonl"], root);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("loupe: error: ") && l.contains("readme.txt")),
        "{err}"
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2 sessions updated"), "{said}");
    // Both traces are stored and summarised, not only their events.
    let rows = ok(&loupe(&["query", "-o", "json"], root));
    assert_eq!(ids(&rows), ["b", "a"]);
}

#[test]
fn query_answers_while_a_writer_holds_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.jsonl"), session("a", "coder", "bash", "x", 0)).unwrap();
    ok(&loupe(&["ingest", "a.jsonl", "--db", "s.db", "-q"], root));
    let writer = rusqlite::Connection::open(root.join("s.db")).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let rows = ok(&loupe(&["query", "--db", "s.db", "-o", "json"], root));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "query waited {:?} for the writer",
        started.elapsed()
    );
    assert_eq!(ids(&rows), ["a"]);
    writer.execute_batch("COMMIT").unwrap();
}

#[test]
fn json_and_csv_say_on_stderr_that_more_sessions_match() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(
        root.join("run.jsonl"),
        session("a", "coder", "bash", "x", 0) + &session("b", "coder", "bash", "y", 5),
    )
    .unwrap();
    ok(&loupe(&["ingest", "run.jsonl", "-q"], root));
    for format in ["json", "csv"] {
        let out = loupe(&["query", "--limit", "1", "-o", format], root);
        ok(&out);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("more sessions match: see the next page with --offset 1"),
            "{format}: {err}"
        );
    }
    let json = loupe(&["query", "--limit", "1", "-o", "json"], root);
    assert_eq!(ids(&ok(&json)), ["b"]);
    let none = loupe(&["query", "--limit", "0"], root);
    let said = ok(&none);
    assert!(!said.contains("--offset 0"), "{said}");
    assert!(said.contains("raise --limit"), "{said}");
    let all = loupe(&["query", "-o", "json"], root);
    ok(&all);
    assert!(all.stderr.is_empty());
}

#[test]
fn unusable_query_and_prune_arguments_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("a.jsonl"), session("a", "coder", "bash", "x", 0)).unwrap();
    ok(&loupe(&["ingest", "a.jsonl", "-q"], root));
    let refused = |args: &[&str], says: &str| {
        let out = loupe(args, root);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    };
    refused(&["prune", "--max-age", "30"], "give a unit, e.g. 30d");
    for text in ["", "*", "🎉"] {
        refused(&["query", "--text", text], "no searchable word in --text");
    }
    refused(&["query", "--max-cost", "NaN"], "expected a cost in USD");
    refused(&["query", "--meta", "=a"], "the key is empty");
    refused(&["query", "--success-only"], "--tool-runs");
    // Nothing was deleted by the refused prune; an explicit unit still works.
    assert_eq!(ids(&ok(&loupe(&["query", "-o", "json"], root))), ["a"]);
    let pruned = ok(&loupe(&["prune", "--max-age", "3650d"], root));
    assert!(pruned.contains("pruned 0 sessions"), "{pruned}");
}

#[test]
fn query_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut trace = String::new();
    for i in 0..400 {
        trace += &session(&format!("s{i:03}"), "coder", "bash", "x", i);
    }
    std::fs::write(root.join("run.jsonl"), trace).unwrap();
    ok(&loupe(&["ingest", "run.jsonl", "-q"], root));
    for format in ["text", "json", "csv"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_loupe"))
            .args(["query", "--limit", "400", "-o", format])
            .current_dir(root)
            .env_remove("LOUPE_DB")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Read one byte, then close the pipe as `head -c1` does.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
        drop(stdout);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        assert!(
            out.stderr.is_empty(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
