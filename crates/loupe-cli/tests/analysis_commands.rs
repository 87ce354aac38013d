//! The analysis commands (`view`, `analyze`, `issues`, `fixes`, `compare`,
//! `export`) driven through the real `loupe` binary on the shared samples:
//! exit codes, colour rules, error messages and the JSON contract end to end.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/samples");

fn sample(rel: &str) -> PathBuf {
    let dir = Path::new(SAMPLES);
    assert!(
        dir.is_dir(),
        "{SAMPLES} is missing: clone the shared samples beside the repository (shared/ next to main/)"
    );
    dir.join(rel)
}

fn loupe(args: &[&str], cwd: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loupe"));
    cmd.args(args).env_remove("NO_COLOR");
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Maps a regression line of attocode-ts's compareSessions() to a metric name.
fn seed_regression_metric(line: &str) -> &'static str {
    if line.ends_with("iterations") {
        "iterations"
    } else if line.contains("cache hit rate") {
        "cache_hit_rate"
    } else if line.contains("cost") {
        "cost_usd"
    } else if line.contains("error") {
        "errors"
    } else if line.contains("token") {
        "total_tokens"
    } else {
        panic!("unmapped seed regression {line:?}")
    }
}

#[test]
fn compare_reports_the_seed_regressions_and_fails_the_gate() {
    let healthy = sample("attocode-ts/single-task-healthy.jsonl");
    let regressed = sample("attocode-ts/single-task-regressed.jsonl");
    let o = loupe(
        &[
            "compare",
            s(&healthy),
            s(&regressed),
            "--fail-on-regression",
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let ours: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(ours["regressed"], true);
    assert_eq!(ours["assessment"], "regressed");
    let golden: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(sample(
            "attocode-ts/golden/compare-healthy-vs-regressed.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let seed = golden["regressions"].as_array().unwrap();
    assert!(!seed.is_empty());
    for line in seed {
        let name = seed_regression_metric(line.as_str().unwrap());
        let metric = ours["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no metric {name}"));
        assert_eq!(
            metric["regression"], true,
            "seed reports {line}, Loupe does not: {metric}"
        );
    }

    // Without the gate the same comparison succeeds, and text output names the verdict.
    let o = loupe(&["compare", s(&healthy), s(&regressed)], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Assessment: REGRESSED"));
    // The slowdown threshold is the user's: a high one keeps bash's
    // slowdown out of the verdict; a bad one is refused.
    let slowdowns = |extra: &[&str]| {
        let mut args = vec!["compare", s(&healthy), s(&regressed), "--output", "json"];
        args.extend_from_slice(extra);
        let o = loupe(&args, None);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["tool_slowdowns"].as_array().unwrap().len()
    };
    assert!(slowdowns(&[]) > 0);
    assert_eq!(slowdowns(&["--slowdown-ms", "1000000"]), 0);
    // Every metric's threshold is the user's too.
    let regressed_metrics = |extra: &[&str]| {
        let mut args = vec!["compare", s(&healthy), s(&regressed), "--output", "json"];
        args.extend_from_slice(extra);
        let v: serde_json::Value = serde_json::from_str(&stdout(&loupe(&args, None))).unwrap();
        v["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["regression"] == true)
            .map(|m| m["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let all = regressed_metrics(&[]);
    assert!(all.contains(&"iterations".to_owned()), "{all:?}");
    let loose = regressed_metrics(&[
        "--iterations",
        "100",
        "--cost-usd",
        "100",
        "--errors",
        "100",
        "--efficiency-points",
        "100",
        "--cache-pp",
        "100",
        "--change-pct",
        "10000",
    ]);
    assert!(loose.is_empty(), "{loose:?}");
    let o = loupe(
        &["compare", s(&healthy), s(&regressed), "--alpha", "2"],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--alpha"), "{}", stderr(&o));
    // Comparing a run with itself passes the gate, and says the sides overlap.
    let o = loupe(
        &["compare", s(&healthy), s(&healthy), "--fail-on-regression"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stderr(&o).contains("A and B overlap"), "{}", stderr(&o));
}

#[test]
fn compare_accepts_session_ids_looked_up_in_a_directory() {
    let dir = sample("attocode-ts");
    let o = loupe(
        &[
            "compare",
            "session-1772280000000-healthy",
            "session-1772280030981-regressed",
            "--dir",
            s(&dir),
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["a"]["sessions"][0], "session-1772280000000-healthy");
    assert_eq!(v["b"]["sessions"][0], "session-1772280030981-regressed");
}

#[test]
fn compare_groups_of_runs_from_directories() {
    let py = sample("attocode-py");
    let ts = sample("attocode-ts");
    let o = loupe(&["compare", s(&py), s(&ts), "--output", "json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["a_runs"], 6);
    assert_eq!(v["b_runs"], 5);
    assert_eq!(v["a"]["sessions"].as_array().unwrap().len(), 6);
    assert!(v["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == "iterations"));
}

#[test]
fn piped_or_no_color_output_has_no_escape_sequences() {
    let healthy = sample("attocode-ts/single-task-healthy.jsonl");
    // Test stdout is a pipe: no colour even without NO_COLOR.
    let o = loupe(&["view", s(&healthy), "--view", "all"], None);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(
        text.contains("Token flow") && text.contains("├──"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
    let o = Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["analyze", s(&healthy)])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!stdout(&o).contains('\x1b'));
    assert!(stdout(&o).contains("Issues"));
}

#[test]
fn unreadable_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let foreign = dir.path().join("package.json");
    std::fs::write(&foreign, r#"{"name":"left-pad","version":"1.3.0"}"#).unwrap();
    let o = loupe(&["view", s(&foreign)], None);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("package.json"), "{err}");
    assert!(err.starts_with("loupe: "), "{err}");

    let missing = dir.path().join("nope.jsonl");
    for command in ["analyze", "stats", "view"] {
        let o = loupe(&[command, s(&missing)], None);
        assert_eq!(o.status.code(), Some(2));
        let err = stderr(&o);
        assert!(err.contains("nope.jsonl"), "{err}");
        // The reason once, not again as the error's source.
        assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    }

    // No PATH and no .loupe/traces: say how to get traces.
    let o = loupe(&["view"], Some(dir.path()));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("loupe demo"), "{}", stderr(&o));

    let o = loupe(
        &[
            "view",
            s(&sample("attocode-ts/swarm.jsonl")),
            "--since",
            "yesterday",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "bad --since is a usage error");
}

#[test]
fn a_format_that_reads_nothing_is_an_error_not_an_empty_result() {
    let py = sample("attocode-py/healthy.jsonl");
    for command in ["view", "analyze", "stats"] {
        let o = loupe(&[command, "--format", "attocode-ts", s(&py)], None);
        assert_eq!(o.status.code(), Some(2), "{command}");
        let err = stderr(&o);
        assert!(
            err.contains("no event read as attocode-ts (--format)")
                && err.contains("healthy.jsonl:1:"),
            "{command}: {err}"
        );
    }
    // A directory whose only trace cannot be opened says why.
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("run.jsonl");
    std::fs::copy(&py, &locked).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&locked).is_err() {
        // (root reads it anyway)
        for command in ["analyze", "stats", "view"] {
            let o = loupe(&[command, s(dir.path())], None);
            assert_eq!(o.status.code(), Some(2), "{command}");
            assert!(
                stderr(&o).contains("Permission denied"),
                "{command}: {}",
                stderr(&o)
            );
        }
    }
}

#[test]
fn malformed_lines_are_skipped_reported_and_listed_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = std::fs::read_to_string(sample("attocode-py/healthy.jsonl")).unwrap();
    text.push_str("{this is not json\n");
    let lines = text.lines().count();
    let file = dir.path().join("damaged.jsonl");
    std::fs::write(&file, text).unwrap();

    let o = loupe(&["view", s(&file)], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("1 malformed line skipped"), "{err}");
    assert!(err.contains(&format!("damaged.jsonl:{lines}:")), "{err}");

    let o = loupe(&["view", s(&file), "--output", "json"], None);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["skipped"][0]["line"], lines as u64);
    assert!(v["skipped"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("damaged.jsonl"));
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
}

/// A file name is input too: an escape sequence in one is shown escaped in
/// the warnings, never sent to the terminal as is.
#[test]
fn warnings_escape_control_characters_in_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a\u{1b}]0;pwned\u{7}b.jsonl");
    let mut text = std::fs::read_to_string(sample("attocode-py/healthy.jsonl")).unwrap();
    text.push_str("{this is not json\n");
    std::fs::write(&file, text).unwrap();
    let o = loupe(&["view", s(dir.path())], None);
    let err = stderr(&o);
    assert!(err.contains("1 malformed line skipped"), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(err.contains("a\\u{1b}]0;pwned\\u{7}b.jsonl"), "{err}");
}

#[test]
fn view_json_follows_the_contract_on_a_directory() {
    let o = loupe(
        &["view", s(&sample("agent-trace/traces")), "--output", "json"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 3);
    for sess in sessions {
        assert_eq!(sess["source"]["format"], "agent-trace");
        for k in [
            "session_id",
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
        ] {
            assert!(sess.get(k).is_some(), "missing {k}");
        }
    }
}

#[test]
fn session_and_time_filters_select_sessions() {
    let dir = sample("attocode-ts");
    let o = loupe(
        &[
            "view",
            s(&dir),
            "--session",
            "session-1772280030981",
            "--output",
            "json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["sessions"][0]["session_id"],
        "session-1772280030981-regressed"
    );

    let o = loupe(&["view", s(&dir), "--session", "no-such-session"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no-such-session"));

    // The single-task samples were recorded on 2026-02-28 (lesson26's example at another date).
    let count = |args: &[&str]| -> usize {
        let mut all = vec!["view", s(&dir), "--output", "json"];
        all.extend_from_slice(args);
        let o = loupe(&all, None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["sessions"].as_array().unwrap().len()
    };
    let all = count(&[]);
    assert!(all >= 4);
    assert_eq!(count(&["--since", "2026-03-01"]), 0);
    assert_eq!(
        count(&["--since", "2000-01-01", "--until", "2100-01-01T00:00:00Z"]),
        all
    );
    // lesson26's example is from 2024; the other four ran on 2026-02-28.
    assert_eq!(
        count(&["--since", "2026-02-28", "--until", "2026-02-28T23:59:59Z"]),
        all - 1
    );
    // Only the regressed run was active at 12:01.
    assert_eq!(
        count(&[
            "--since",
            "2026-02-28T12:01:00Z",
            "--until",
            "2026-02-28T12:01:01Z"
        ]),
        1
    );
    assert_eq!(count(&["--until", "2020-01-01"]), 0);
}

#[test]
fn issues_and_fixes_focus_their_output() {
    let regressed = sample("attocode-ts/single-task-regressed.jsonl");
    let issues = stdout(&loupe(&["issues", s(&regressed)], None));
    assert!(issues.contains("Issues ("), "{issues}");
    assert!(!issues.contains("Tools\n"), "issues shows no tool table");
    let fixes = stdout(&loupe(&["fixes", s(&regressed)], None));
    assert!(fixes.starts_with("Fixes for"), "{fixes}");
    assert!(fixes.contains("1. ["));
    let analyze = stdout(&loupe(
        &["analyze", s(&regressed), "--score", "attocode-ts"],
        None,
    ));
    assert!(analyze.contains("Score") && analyze.contains("Issues") && analyze.contains("→ "));
}

#[test]
fn export_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample("attocode-py");

    let o = loupe(&["export", s(&input), "--llm"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let llm = stdout(&o);
    assert!(llm.chars().count() <= 16_000);
    let v: serde_json::Value = serde_json::from_str(&llm).unwrap();
    assert_eq!(v["totals"]["sessions_total"], 6);

    let jsonl = dir.path().join("out/events.jsonl");
    let o = loupe(
        &["export", s(&input), "--format", "jsonl", "--out", s(&jsonl)],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The canonical export reads back as the same sessions with the same totals.
    let original = loupe(&["view", s(&input), "--output", "json"], None);
    let reread = loupe(&["view", s(&jsonl), "--output", "json"], None);
    let a: serde_json::Value = serde_json::from_str(&stdout(&original)).unwrap();
    let b: serde_json::Value = serde_json::from_str(&stdout(&reread)).unwrap();
    assert_eq!(b["sessions"][0]["source"]["format"], "loupe");
    let totals = |v: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        let mut t: Vec<_> = v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["session_id"].as_str().unwrap().to_owned(),
                    s["metrics"]["input_tokens"].clone(),
                )
            })
            .collect();
        t.sort_by(|x, y| x.0.cmp(&y.0));
        t
    };
    assert_eq!(totals(&a), totals(&b));

    let html = dir.path().join("report.html");
    let o = loupe(
        &["export", s(&input), "--format", "html", "--out", s(&html)],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("Content-Security-Policy"));

    for (format, marker) in [
        ("csv", "session_id,source_path"),
        ("md", "# Loupe report"),
        ("json", "\"sessions\""),
    ] {
        let o = loupe(&["export", s(&input), "--format", format], None);
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains(marker), "{format}");
    }
    let o = loupe(
        &[
            "export",
            s(&sample("attocode-ts/single-task-healthy.jsonl")),
            "--format",
            "otlp",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["resourceSpans"].is_array());
}

#[test]
fn price_and_threshold_files_change_the_analysis_or_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let regressed = sample("attocode-ts/single-task-regressed.jsonl");
    let cost = |extra: &[&str]| -> f64 {
        let mut args = vec!["view", s(&regressed), "--output", "json"];
        args.extend_from_slice(extra);
        let o = loupe(&args, None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["sessions"][0]["metrics"]["cost_usd"].as_f64().unwrap()
    };
    let builtin = cost(&[]);
    let prices = dir.path().join("prices.toml");
    // 158,000 input tokens at $1,000 per million: at least $158.
    std::fs::write(&prices, "[models.\"gpt-4o\"]\ninput = 1000.0\noutput = 0.0\ncache_read = 1000.0\ncache_write = 1000.0\n").unwrap();
    let priced = cost(&["--prices", s(&prices)]);
    assert!(
        builtin < 10.0 && priced >= 158.0,
        "builtin {builtin}, override {priced}"
    );

    let bad = dir.path().join("thresholds.toml");
    std::fs::write(&bad, "this is = = not toml").unwrap();
    let o = loupe(&["analyze", s(&regressed), "--thresholds", s(&bad)], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("thresholds.toml"), "{}", stderr(&o));
}

#[test]
fn stats_top_cuts_every_ranked_list() {
    let out = loupe(
        &["stats", s(&sample("")), "--top", "2", "--output", "json"],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    for list in [
        "slowest_llm_calls",
        "tool_failure_rates",
        "common_errors",
        "slow_nodes",
    ] {
        let n = doc[list].as_array().unwrap().len();
        assert!(n <= 2, "{list} has {n} entries with --top 2");
    }
    assert_eq!(doc["tool_failure_rates"].as_array().unwrap().len(), 2);
    // The most failing tool comes first.
    let rates: Vec<f64> = doc["tool_failure_rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["failure_rate"].as_f64().unwrap())
        .collect();
    assert!(rates[0] >= rates[1], "{rates:?}");
}

/// A directory of several trace files (one damaged line), for comparing the
/// streamed `analyze` with the read-everything paths.
fn several_files() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["healthy", "spinning", "crashed", "pathological"] {
        let from = sample(&format!("attocode-py/{name}.jsonl"));
        std::fs::copy(&from, dir.path().join(format!("{name}.jsonl"))).unwrap();
    }
    let mut damaged = std::fs::read_to_string(sample("attocode-ts/swarm.jsonl")).unwrap();
    damaged.push_str("{this is not json\n");
    std::fs::write(dir.path().join("swarm.jsonl"), damaged).unwrap();
    dir
}

#[test]
fn streamed_analyze_prints_what_reading_everything_first_prints() {
    let dir = several_files();
    // `view` reads every session before rendering; `analyze` streams them.
    let view = loupe(&["view", s(dir.path()), "--output", "json"], None);
    let analyze = loupe(&["analyze", s(dir.path()), "--output", "json"], None);
    assert_eq!(analyze.status.code(), Some(0), "{}", stderr(&analyze));
    assert_eq!(stdout(&analyze), stdout(&view));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&analyze)).unwrap();
    let ids: Vec<&str> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert!(ids.len() >= 5, "{ids:?}");
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 1);

    // Text: `--session` takes the read-everything path; one session at a
    // time, joined, must equal the streamed whole.
    for focus in ["analyze", "issues", "fixes"] {
        let whole = loupe(&[focus, s(dir.path())], None);
        assert_eq!(whole.status.code(), Some(0), "{}", stderr(&whole));
        assert!(stderr(&whole).contains("1 malformed line skipped"));
        let pieces: Vec<String> = ids
            .iter()
            .map(|id| stdout(&loupe(&[focus, s(dir.path()), "--session", id], None)))
            .collect();
        assert_eq!(stdout(&whole), pieces.join("\n"), "{focus}");
    }

    // Written to a file, the same bytes.
    let out = dir.path().join("out/report.json");
    let o = loupe(
        &["analyze", s(dir.path()), "-o", "json", "--out", s(&out)],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout(&view));
    assert!(
        stderr(&o).contains(&format!("loupe: wrote {}", out.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn analyze_merges_a_session_split_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sample("attocode-py/healthy.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (first, second) = lines.split_at(lines.len() / 2);
    std::fs::write(dir.path().join("a.jsonl"), first.join("\n") + "\n").unwrap();
    std::fs::write(dir.path().join("b.jsonl"), second.join("\n") + "\n").unwrap();
    let o = loupe(&["analyze", s(dir.path()), "--output", "json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "one session, not one per file");
    let whole = loupe(
        &[
            "analyze",
            s(&sample("attocode-py/healthy.jsonl")),
            "--output",
            "json",
        ],
        None,
    );
    let whole: serde_json::Value = serde_json::from_str(&stdout(&whole)).unwrap();
    assert_eq!(sessions[0]["metrics"], whole["sessions"][0]["metrics"]);
    // `stats` counts it once too, and says the session spans files (runs
    // that reuse a session id would be merged the same way).
    let o = loupe(&["stats", s(dir.path()), "--output", "json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["sessions"], 1);
    assert!(
        stderr(&o).contains("in more than one file"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stats_counts_every_session_once_across_many_files() {
    let dir = several_files();
    let o = loupe(&["stats", s(dir.path()), "--output", "json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let view = loupe(&["view", s(dir.path()), "--output", "json"], None);
    let view: serde_json::Value = serde_json::from_str(&stdout(&view)).unwrap();
    let sessions = view["sessions"].as_array().unwrap();
    assert_eq!(doc["sessions"].as_u64().unwrap(), sessions.len() as u64);
    let calls: u64 = sessions
        .iter()
        .map(|s| s["metrics"]["llm_calls"].as_u64().unwrap())
        .sum();
    assert_eq!(doc["total"]["llm_calls"].as_u64().unwrap(), calls);
    // The same input gives the same bytes, whatever the threads' timing.
    for _ in 0..3 {
        let again = loupe(&["stats", s(dir.path()), "--output", "json"], None);
        assert_eq!(stdout(&again), stdout(&o));
    }
}

#[test]
fn a_corrupt_trace_in_a_directory_is_named_and_other_files_skip_quietly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        sample("attocode-ts/single-task-healthy.jsonl"),
        dir.path().join("healthy.jsonl"),
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "# my traces\n").unwrap();
    let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 37 % 251) as u8).collect();
    std::fs::write(dir.path().join("broken.jsonl"), bytes).unwrap();
    for command in ["stats", "analyze", "view"] {
        let o = loupe(&[command, s(dir.path())], None);
        assert_eq!(o.status.code(), Some(0), "{command}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("broken.jsonl") && err.contains("not a trace"),
            "{command} names the corrupt trace: {err}"
        );
        assert!(!err.contains("README.md"), "{command}: {err}");
        assert!(
            !err.contains("reading traces"),
            "{command}: no progress spinner when stderr is not a terminal: {err}"
        );
        assert!(
            !stdout(&o).is_empty(),
            "{command} still shows the good file"
        );
    }
    let out = tempfile::tempdir().unwrap();
    let o = loupe(
        &[
            "convert",
            s(dir.path()),
            "--to",
            "canonical",
            "--out",
            s(out.path()),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("broken.jsonl"), "{}", stderr(&o));
}

/// An OTLP export of three conversations whose spans interleave and which
/// end in another order than they begin: `a` begins first and ends last.
fn interleaved_otlp_export() -> String {
    let span = |trace: u8, id: u8, root: Option<(u8, &str)>, op: &str, ms: u64| {
        let mut attributes = vec![serde_json::json!({
            "key": "gen_ai.operation.name", "value": { "stringValue": op }
        })];
        if op == "chat" {
            attributes.push(serde_json::json!({
                "key": "gen_ai.request.model", "value": { "stringValue": "gpt-4o" }
            }));
            attributes.push(serde_json::json!({
                "key": "gen_ai.usage.input_tokens", "value": { "intValue": "1000" }
            }));
        }
        let mut s = serde_json::json!({
            "traceId": format!("{trace:02x}").repeat(16),
            "spanId": format!("{id:02x}").repeat(8),
            "name": op,
            "startTimeUnixNano": (1_772_280_000_000u64 + ms) * 1_000_000,
            "endTimeUnixNano": (1_772_280_000_000u64 + ms + 50) * 1_000_000,
        });
        match root {
            Some((_, conversation)) => attributes.push(serde_json::json!({
                "key": "gen_ai.conversation.id", "value": { "stringValue": conversation }
            })),
            None => s["parentSpanId"] = format!("{:02x}", trace * 16).repeat(8).into(),
        }
        s["attributes"] = attributes.into();
        s
    };
    let spans = vec![
        span(1, 0x11, None, "chat", 0),
        span(2, 0x21, None, "chat", 10),
        span(2, 0x22, None, "execute_tool", 20),
        span(2, 0x20, Some((2, "b")), "invoke_agent", 30),
        span(3, 0x31, None, "chat", 40),
        span(1, 0x12, None, "chat", 50),
        span(3, 0x30, Some((3, "c")), "invoke_agent", 60),
        span(1, 0x10, Some((1, "a")), "invoke_agent", 70),
    ];
    serde_json::json!({ "resourceSpans": [{
        "resource": { "attributes": [
            { "key": "service.name", "value": { "stringValue": "agent" } }
        ]},
        "scopeSpans": [{ "spans": spans }]
    }]})
    .to_string()
}

#[test]
fn sessions_finished_early_in_a_large_otlp_file_come_out_as_read_whole() {
    // `analyze` and `stats` finish each conversation of an OTLP file as
    // soon as the reader says it is complete; `view` reads every session
    // first. Same bytes, sessions in order of first appearance.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.json");
    std::fs::write(&file, interleaved_otlp_export()).unwrap();
    let view = loupe(&["view", s(&file), "--output", "json"], None);
    let analyze = loupe(&["analyze", s(&file), "--output", "json"], None);
    assert_eq!(analyze.status.code(), Some(0), "{}", stderr(&analyze));
    assert_eq!(stdout(&analyze), stdout(&view));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&analyze)).unwrap();
    let sessions = doc["sessions"].as_array().unwrap();
    let ids: Vec<&str> = sessions
        .iter()
        .map(|s| s["session_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let calls: Vec<u64> = sessions
        .iter()
        .map(|s| s["metrics"]["llm_calls"].as_u64().unwrap())
        .collect();
    assert_eq!(calls, [2, 1, 1]);
    let stats = loupe(&["stats", s(&file), "--output", "json"], None);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
    assert_eq!(stats["sessions"], 3);
    assert_eq!(stats["total"]["llm_calls"], 4);
}

#[test]
fn results_handed_on_in_batches_keep_the_order_of_a_whole_read() {
    // 60 conversations, eight open at a time, each named by its root span
    // written after its children: `analyze` and `stats` hand finished
    // sessions' results on in batches while the file is still being read,
    // as JSONL and as one document; the output is that of reading it whole.
    let mut lines = Vec::new();
    let mut all_spans = Vec::new();
    for wave in 0..60u32 / 8 + 1 {
        let mut spans = Vec::new();
        let conversations: Vec<u32> = (wave * 8..(wave * 8 + 8).min(60)).collect();
        for step in 0..3u32 {
            for &c in &conversations {
                let trace = format!("{:032x}", c + 1);
                let root = format!("{:016x}", (c + 1) << 8);
                let ms = u64::from(c * 1000 + step * 10);
                let mut attributes = vec![serde_json::json!({
                    "key": "gen_ai.operation.name",
                    "value": { "stringValue": if step == 2 { "invoke_agent" } else { "chat" } }
                })];
                let mut span = serde_json::json!({
                    "traceId": trace,
                    "name": if step == 2 { "invoke_agent" } else { "chat" },
                    "startTimeUnixNano": (1_772_280_000_000u64 + ms) * 1_000_000,
                    "endTimeUnixNano": (1_772_280_000_000u64 + ms + 5) * 1_000_000,
                });
                if step == 2 {
                    span["spanId"] = root.clone().into();
                    attributes.push(serde_json::json!({
                        "key": "gen_ai.conversation.id",
                        "value": { "stringValue": format!("conv-{c:02}") }
                    }));
                } else {
                    span["spanId"] = format!("{:016x}", ((c + 1) << 8) + step + 1).into();
                    span["parentSpanId"] = root.clone().into();
                }
                span["attributes"] = attributes.into();
                spans.push(span);
            }
        }
        let request = |spans: &[serde_json::Value]| {
            serde_json::json!({ "resourceSpans": [{
                "resource": { "attributes": [] },
                "scopeSpans": [{ "spans": spans }]
            }]})
            .to_string()
        };
        lines.push(request(&spans));
        all_spans.extend(spans);
    }
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("export.jsonl");
    std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();
    let document = dir.path().join("export.json");
    std::fs::write(
        &document,
        serde_json::json!({ "resourceSpans": [{
            "resource": { "attributes": [] },
            "scopeSpans": [{ "spans": all_spans }]
        }]})
        .to_string(),
    )
    .unwrap();
    for file in [&jsonl, &document] {
        let view = loupe(&["view", s(file), "--output", "json"], None);
        let analyze = loupe(&["analyze", s(file), "--output", "json"], None);
        assert_eq!(analyze.status.code(), Some(0), "{}", stderr(&analyze));
        assert_eq!(stdout(&analyze), stdout(&view));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&analyze)).unwrap();
        let ids: Vec<String> = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["session_id"].as_str().unwrap().to_owned())
            .collect();
        let expected: Vec<String> = (0..60).map(|c| format!("conv-{c:02}")).collect();
        assert_eq!(ids, expected);
        let stats = loupe(&["stats", s(file), "--output", "json"], None);
        let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
        assert_eq!(stats["sessions"], 60);
        assert_eq!(stats["total"]["llm_calls"], 120);
    }
}

/// `loupe ARGS -` with `input` piped on standard input (written from a
/// thread, so a large input cannot block the child).
fn loupe_piped(args: &[&str], input: Vec<u8>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    out
}

#[test]
fn a_large_otlp_export_piped_on_standard_input_reads_as_the_same_file() {
    // Over 16 MiB of OTLP from a pipe is written to a temporary file as it
    // arrives and read from there in two passes, not held: JSON and
    // protobuf alike, the same results as the file itself.
    use prost::Message as _;
    let prompt = "Summarise the \"orders\" table ]}{[ — ü ".repeat(80);
    let mut spans = Vec::new();
    for c in 0..50u32 {
        let trace = format!("{:032x}", c + 1);
        let root = format!("{:016x}", (c + 1) << 8);
        for step in 0..120u32 {
            let agent = step == 119;
            let mut attributes = vec![
                serde_json::json!({ "key": "gen_ai.operation.name",
                    "value": { "stringValue": if agent { "invoke_agent" } else { "chat" } } }),
                serde_json::json!({ "key": "gen_ai.prompt", "value": { "stringValue": prompt } }),
            ];
            let ms = u64::from(c * 100_000 + step * 10);
            let mut span = serde_json::json!({
                "traceId": trace,
                "name": if agent { "invoke_agent" } else { "chat" },
                "startTimeUnixNano": (1_772_280_000_000u64 + ms) * 1_000_000,
                "endTimeUnixNano": (1_772_280_000_000u64 + ms + 5) * 1_000_000,
            });
            if agent {
                span["spanId"] = root.clone().into();
                attributes.push(serde_json::json!({ "key": "gen_ai.conversation.id",
                    "value": { "stringValue": format!("conv-{c:02}") } }));
            } else {
                span["spanId"] = format!("{:016x}", ((c + 1) << 8) + step + 1).into();
                span["parentSpanId"] = root.clone().into();
            }
            span["attributes"] = attributes.into();
            spans.push(span);
        }
    }
    let document = serde_json::json!({ "resourceSpans": [{
        "resource": { "attributes": [] },
        "scopeSpans": [{ "spans": spans }]
    }]})
    .to_string();
    let protobuf = loupe_formats::otlp::decode_request_json(document.as_bytes())
        .unwrap()
        .encode_to_vec();
    assert!(protobuf.len() > 16 << 20, "{} bytes", protobuf.len());
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("export.json", document.into_bytes()),
        ("export.pb", protobuf),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, &bytes).unwrap();
        for command in ["stats", "analyze"] {
            let from_file = loupe(&[command, s(&file), "--output", "json"], None);
            assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
            let piped = loupe_piped(&[command, "-", "--output", "json"], bytes.clone());
            assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
            let piped = stdout(&piped).replace("/dev/stdin", s(&file));
            assert_eq!(piped, stdout(&from_file), "{name}, {command}");
        }
        let stats = loupe(&["stats", s(&file), "--output", "json"], None);
        let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
        assert_eq!(stats["sessions"], 50, "{name}");
        assert_eq!(stats["total"]["llm_calls"], 50 * 119, "{name}");
    }
}

#[test]
fn a_myagent_runs_export_piped_on_standard_input_reads_as_the_same_file() {
    // A runs export is read in two passes; from a pipe (over 1 MiB) it is
    // written to a temporary file first rather than held.
    let at = |second: u64| {
        format!(
            "2026-02-28T{:02}:{:02}:{:02}Z",
            12 + second / 3600,
            second / 60 % 60,
            second % 60
        )
    };
    let mut runs = Vec::new();
    for t in 0..400u32 {
        let trace = format!("trace-{t:04}");
        for step in 0..6u32 {
            let second = u64::from(t * 10 + step);
            runs.push(serde_json::json!({
                "id": format!("{trace}-run-{step}"),
                "trace_id": trace,
                "parent_run_id": if step == 0 { serde_json::Value::Null } else { format!("{trace}-run-0").into() },
                "name": if step % 2 == 1 { "think" } else { "bash" },
                "run_type": if step == 0 { "agent" } else if step % 2 == 1 { "think" } else { "tool" },
                "status": if step == 4 && t % 7 == 0 { "error" } else { "success" },
                "start_time": at(second),
                "end_time": at(second + 1),
                "inputs": { "content": "Run the test suite and fix what fails. ".repeat(8) },
                "token_usage": { "prompt_tokens": 1000 + step, "completion_tokens": 50 },
            }));
        }
    }
    // Completion order interleaves the traces.
    runs.sort_by_key(|r| r["id"].as_str().unwrap().chars().rev().collect::<String>());
    let export = serde_json::json!({ "metadata": {}, "runs": runs }).to_string();
    assert!(export.len() > 1 << 20, "{} bytes", export.len());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runs_export.json");
    std::fs::write(&file, &export).unwrap();
    for command in ["stats", "analyze"] {
        let from_file = loupe(&[command, s(&file), "--output", "json"], None);
        assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
        let piped = loupe_piped(
            &[command, "-", "--output", "json"],
            export.clone().into_bytes(),
        );
        assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
        let piped = stdout(&piped).replace("/dev/stdin", s(&file));
        assert_eq!(piped, stdout(&from_file), "{command}");
    }
    let stats = loupe(&["stats", s(&file), "--output", "json"], None);
    let stats: serde_json::Value = serde_json::from_str(&stdout(&stats)).unwrap();
    assert_eq!(stats["sessions"], 400);
}

/// A malformed line is said on stderr whatever the command and the output
/// format, with its file and line.
#[test]
fn skipped_lines_are_reported_in_every_output_format() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(sample("attocode-py/healthy.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "{bad");
    let file = dir.path().join("mal.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let f = s(&file);
    let runs: &[&[&str]] = &[
        &["view", f],
        &["view", f, "-o", "json"],
        &["view", f, "-o", "csv"],
        &["view", f, "-o", "md"],
        &["view", f, "-o", "html"],
        &["analyze", f, "-o", "md"],
        &["analyze", f, "-o", "json"],
        &["issues", f, "-o", "csv"],
        &["stats", f, "-o", "json"],
        &["stats", f, "-o", "csv"],
        &["export", f, "--format", "csv"],
        &["export", f, "--format", "jsonl"],
        &["export", f, "--llm"],
    ];
    for args in runs {
        let o = loupe(args, None);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("1 malformed line skipped") && err.contains("mal.jsonl:4"),
            "{args:?}: {err}"
        );
    }
}

/// An event read twice counts once: a file given twice, or held in a
/// directory and given again, and the same traces in several exports.
#[test]
fn events_read_twice_count_once() {
    let file = sample("attocode-py/healthy.jsonl");
    let once = loupe(&["view", s(&file), "-o", "json"], None);
    let twice = loupe(&["view", s(&file), s(&file), "-o", "json"], None);
    assert_eq!(stdout(&twice), stdout(&once));
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&file, dir.path().join("a.jsonl")).unwrap();
    std::fs::copy(&file, dir.path().join("b.jsonl")).unwrap();
    for cmd in ["view", "stats"] {
        let one = loupe(&[cmd, s(&file), "-o", "json"], None);
        let copies = loupe(&[cmd, s(dir.path()), "-o", "json"], None);
        assert_eq!(copies.status.code(), Some(0), "{}", stderr(&copies));
        assert!(
            stderr(&copies).contains("events read twice dropped"),
            "{cmd}: {}",
            stderr(&copies)
        );
        let metrics = |o: &Output| -> serde_json::Value {
            let doc: serde_json::Value = serde_json::from_str(&stdout(o)).unwrap();
            let m = match cmd {
                "view" => doc["sessions"][0]["metrics"].clone(),
                _ => serde_json::json!([doc["sessions"], doc["total"]]),
            };
            assert!(
                !m.is_null() && !m.get(0).is_some_and(serde_json::Value::is_null),
                "{cmd}: {doc}"
            );
            m
        };
        assert_eq!(metrics(&copies), metrics(&one), "{cmd}");
    }
    // The MyAgent samples hold the same three traces in three shapes.
    let o = loupe(&["stats", s(&sample("myagent")), "-o", "json"], None);
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["sessions"], 3, "{doc}");
}

/// A span whose end is stamped before its start (skewed clocks) is one
/// call of no length, not a call answered before it was asked.
#[test]
fn an_otlp_span_ending_before_it_starts_is_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("skew.json");
    let span = |id: &str, parent: &str, name: &str, start: &str, end: &str, attrs: &str| {
        format!(
            r#"{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"{id}",{parent}"name":"{name}","startTimeUnixNano":"{start}","endTimeUnixNano":"{end}","attributes":[{attrs}]}}"#
        )
    };
    let agent = span(
        "eee19b7ec3c1b174",
        "",
        "invoke_agent",
        "1772280000000000000",
        "1772280010000000000",
        r#"{"key":"gen_ai.operation.name","value":{"stringValue":"invoke_agent"}}"#,
    );
    let chat = span(
        "eee19b7ec3c1b175",
        r#""parentSpanId":"eee19b7ec3c1b174","#,
        "chat gpt-4o",
        "1772280005000000000",
        "1772280004000000000",
        r#"{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"100"}}"#,
    );
    std::fs::write(
        &file,
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{agent},{chat}]}}]}}]}}"#),
    )
    .unwrap();
    let o = loupe(&["view", s(&file), "-o", "json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let m = &doc["sessions"][0]["metrics"];
    assert_eq!(
        (m["iterations"].as_u64(), m["llm_calls"].as_u64()),
        (Some(1), Some(1)),
        "{m}"
    );
    assert_eq!(m["input_tokens"], 100);
}

/// A trace whose first event is longer than the part of a file detection
/// looks at is still recognised.
#[test]
fn a_first_event_longer_than_the_detection_prefix_reads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("long.jsonl");
    let task = "T".repeat(100_000);
    std::fs::write(
        &file,
        format!(
            "{}\n{}\n",
            r#"{"event_id":"1","kind":"session_start","timestamp":"2026-03-01T09:00:00Z","session_id":"x","data":{"task":"TASK"}}"#
                .replace("TASK", &task),
            r#"{"event_id":"2","kind":"session_end","timestamp":"2026-03-01T09:00:01Z","session_id":"x","data":{"status":"completed"}}"#
        ),
    )
    .unwrap();
    let o = loupe(&["view", s(&file), "-o", "json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["sessions"][0]["status"], "completed");
}

/// `--view` chooses what JSON and Markdown show too, and `issues`/`fixes`
/// write issue rows as CSV.
#[test]
fn the_view_and_the_focus_hold_in_every_output_format() {
    let file = sample("attocode-py/healthy.jsonl");
    let f = s(&file);
    let keys = |view: &str| -> Vec<String> {
        let o = loupe(&["view", f, "--view", view, "-o", "json"], None);
        let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let session = doc["sessions"][0].as_object().unwrap();
        ["timeline", "tree", "token_flow"]
            .into_iter()
            .filter(|k| session.contains_key(*k))
            .map(str::to_owned)
            .collect()
    };
    assert!(keys("summary").is_empty());
    assert_eq!(keys("timeline"), ["timeline"]);
    assert_eq!(keys("tree"), ["tree"]);
    assert_eq!(keys("tokens"), ["token_flow"]);
    assert_eq!(keys("all"), ["timeline", "tree", "token_flow"]);
    // The summary document is unchanged by the new keys.
    assert_eq!(
        stdout(&loupe(&["view", f, "-o", "json"], None)),
        stdout(&loupe(&["analyze", f, "-o", "json"], None))
    );
    let md = |view: &str| stdout(&loupe(&["view", f, "--view", view, "-o", "md"], None));
    assert!(!md("summary").contains("### Timeline") && !md("summary").contains("### Span tree"));
    assert!(md("timeline").contains("### Timeline"));
    assert!(md("tree").contains("### Span tree"));
    assert!(md("all").contains("### Timeline") && md("all").contains("### Span tree"));
    // `tokens` adds the cache verdict, trend and peak to the token flow.
    assert!(
        md("tokens").contains("### Cache and trend") && md("tokens").contains("- **Input trend:**")
    );
    assert!(md("all").contains("### Cache and trend"));
    assert!(!md("summary").contains("### Cache and trend"));
    for focus in ["issues", "fixes"] {
        let csv = stdout(&loupe(&[focus, f, "-o", "csv"], None));
        assert!(
            csv.starts_with("session_id,severity,category,title,iteration,description,suggestion"),
            "{focus}: {csv}"
        );
        assert!(
            csv.lines().count() > 1,
            "{focus}: the sample has issues: {csv}"
        );
    }
}

/// `stats` refuses what `view` refuses: a session that matches nothing,
/// and ranked lists of no rows.
#[test]
fn stats_refuses_a_session_matching_nothing_and_an_empty_top() {
    let f = sample("attocode-py/healthy.jsonl");
    let none = loupe(&["stats", s(&f), "--session", "nothing"], None);
    assert_eq!(none.status.code(), Some(2), "{}", stdout(&none));
    assert!(
        stderr(&none).contains("no session matches \"nothing\""),
        "{}",
        stderr(&none)
    );
    let top = loupe(&["stats", s(&f), "--top", "0"], None);
    assert_eq!(top.status.code(), Some(2));
    let one = loupe(&["stats", s(&f), "--session", "heal", "-o", "json"], None);
    assert_eq!(one.status.code(), Some(0), "{}", stderr(&one));
}

/// `compare` reads one side from standard input, like every command.
#[test]
fn compare_reads_one_side_from_standard_input() {
    use std::io::Write as _;
    let a = sample("attocode-ts/single-task-healthy.jsonl");
    let b = sample("attocode-ts/single-task-regressed.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(["compare", "-", s(&b), "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&a).unwrap())
        .unwrap();
    let piped = child.wait_with_output().unwrap();
    assert_eq!(piped.status.code(), Some(0), "{}", stderr(&piped));
    let from_files = loupe(&["compare", s(&a), s(&b), "-o", "json"], None);
    let metrics = |o: &Output| -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&stdout(o)).unwrap()["metrics"].clone()
    };
    assert!(!metrics(&piped).is_null());
    assert_eq!(metrics(&piped), metrics(&from_files));
    let both = loupe(&["compare", "-", "-"], None);
    assert_eq!(both.status.code(), Some(2));
    assert!(stderr(&both).contains("only one side"), "{}", stderr(&both));
}

/// A run whose model has no price has an unknown cost, not $0: compare
/// neither praises nor blames its cost, and says why.
#[test]
fn compare_does_not_judge_an_unknown_cost() {
    let dir = tempfile::tempdir().unwrap();
    let healthy = sample("attocode-ts/single-task-healthy.jsonl");
    let text = std::fs::read_to_string(&healthy).unwrap();
    let unpriced = dir.path().join("unpriced.jsonl");
    std::fs::write(
        &unpriced,
        text.replace("claude-haiku-4-5", "my-private-model")
            .replace("claude-sonnet-4-20250514", "my-private-model"),
    )
    .unwrap();
    assert_ne!(std::fs::read_to_string(&unpriced).unwrap(), text);
    for (a, b) in [(&healthy, &unpriced), (&unpriced, &healthy)] {
        let o = loupe(
            &["compare", s(a), s(b), "-o", "json", "--fail-on-regression"],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
        let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let metrics = doc["metrics"].as_array().unwrap();
        assert!(metrics.iter().all(|m| m["name"] != "cost_usd"), "{doc}");
        assert_eq!(doc["unpriced_models"][0], "my-private-model");
    }
}

/// `convert` writes an event read twice once, to either target: an event id
/// is unique within its session, and so is an OTLP span id.
#[test]
fn convert_writes_an_event_read_twice_once() {
    let file = sample("attocode-py/healthy.jsonl");
    for target in ["canonical", "otlp"] {
        let once = tempfile::tempdir().unwrap();
        let twice = tempfile::tempdir().unwrap();
        let o = loupe(
            &["convert", s(&file), "--to", target, "--out", s(once.path())],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let o = loupe(
            &[
                "convert",
                s(&file),
                s(&sample("attocode-py")),
                "--to",
                target,
                "--out",
                s(twice.path()),
            ],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("read twice written once"),
            "{}",
            stderr(&o)
        );
        let name = if target == "otlp" {
            "healthy.otlp.json"
        } else {
            "healthy.jsonl"
        };
        let read = |dir: &Path| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(read(twice.path()), read(once.path()), "{target}");
    }
}

/// MyAgent writes the same traces as a runs export (no task, no metadata)
/// and a traces export; whichever is read first, the converted sessions
/// keep the task, as `view` of the two exports does.
#[test]
fn convert_keeps_the_fuller_copy_of_an_event_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // Named so the runs export is read first.
    std::fs::copy(
        sample("myagent/runs_export.json"),
        input.join("a_runs.json"),
    )
    .unwrap();
    std::fs::copy(
        sample("myagent/traces_export.json"),
        input.join("b_traces.json"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = loupe(
        &["convert", s(&input), "--to", "canonical", "--out", s(&out)],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let tasks = |path: &Path| {
        let o = loupe(&["view", s(path), "--output", "json"], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut tasks: Vec<String> = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["task"].as_str().unwrap_or("(none)").to_owned())
            .collect();
        tasks.sort();
        tasks
    };
    let converted = tasks(&out);
    assert_eq!(converted, tasks(&input));
    assert!(
        converted.contains(&"Weather in Paris?".to_owned()),
        "{converted:?}"
    );
}

/// Converting into the directory being read would truncate input files
/// before they are read (a user lost most of a trace this way): refused,
/// with the input left whole.
#[test]
fn convert_refuses_an_output_directory_that_overlaps_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let trace = input.join("healthy.jsonl");
    std::fs::copy(sample("attocode-py/healthy.jsonl"), &trace).unwrap();
    let before = std::fs::read(&trace).unwrap();
    let sub = input.join("converted");
    for (paths, out, says) in [
        (vec![s(&trace)], s(&input), "holds the input"),
        (vec![s(&input)], s(&input), "is inside the input"),
        (vec![s(&input)], s(&sub), "is inside the input"),
    ] {
        for target in ["canonical", "otlp"] {
            let mut args = vec!["convert"];
            args.extend(&paths);
            args.extend(["--to", target, "--out", out]);
            let o = loupe(&args, None);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
            assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
            assert_eq!(std::fs::read(&trace).unwrap(), before, "{args:?}");
        }
    }
    assert!(!sub.exists(), "nothing is created when refused");
    // Beside the input is fine.
    let out = dir.path().join("out");
    let o = loupe(
        &["convert", s(&input), "--to", "canonical", "--out", s(&out)],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read(&trace).unwrap(), before);
}

/// `issues` and `fixes` show issues in every format, not the whole report:
/// JSON is `{sessions: [{session_id, source, status, efficiency_score,
/// issues}], skipped}`, streamed or not; Markdown lists issues and fixes.
#[test]
fn issues_and_fixes_focus_on_issues_in_json_and_markdown() {
    let file = sample("attocode-py/pathological.jsonl");
    for command in ["issues", "fixes"] {
        let o = loupe(&[command, s(&file), "-o", "json"], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let streamed: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let session = &streamed["sessions"][0];
        assert_eq!(session["session_id"], "pathological");
        assert!(session["issues"].as_array().is_some_and(|i| !i.is_empty()));
        assert!(session.get("metrics").is_none(), "{session}");
        assert!(session["issues"][0]["suggestion"].is_string());
        // The whole-input path (`--session`) writes the same document.
        let o = loupe(
            &[command, s(&file), "-o", "json", "--session", "pathological"],
            None,
        );
        let whole: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(whole, streamed);

        let o = loupe(&[command, s(&file), "-o", "md"], None);
        let md = stdout(&o);
        assert!(md.starts_with("# Loupe issues"), "{md}");
        assert!(md.contains("Fix: "), "{md}");
        assert!(
            !md.contains("### Tools") && !md.contains("Token flow"),
            "{md}"
        );
    }
    let o = loupe(&["analyze", s(&file), "-o", "json"], None);
    let full: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(full["sessions"][0].get("metrics").is_some());
}

/// A conversion that finds no trace fails as `view` does and leaves no
/// empty output directory behind.
#[test]
fn convert_without_traces_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir(&docs).unwrap();
    std::fs::write(docs.join("README.md"), "# notes\n").unwrap();
    let out = dir.path().join("out");
    for target in ["canonical", "otlp"] {
        let o = loupe(
            &["convert", s(&docs), "--to", target, "--out", s(&out)],
            None,
        );
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("no trace files found"),
            "{}",
            stderr(&o)
        );
        assert!(
            !out.exists(),
            "{target}: an empty output directory was left"
        );
    }
}

/// One trace exported in two files (a rotating Collector file exporter;
/// children end, so are written, before their root): the file without the
/// root names no session, yet its spans belong to the conversation the
/// other file names, whichever command reads them.
#[test]
fn a_trace_split_across_otlp_files_is_one_session() {
    let doc: serde_json::Value = serde_json::from_str(&interleaved_otlp_export()).unwrap();
    let spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .unwrap()
        .clone();
    // Trace 1 (conversation "a"): its chat spans in one file, its root in the other.
    let trace_1 = |root: bool| -> Vec<serde_json::Value> {
        spans
            .iter()
            .filter(|sp| sp["traceId"] == "01".repeat(16))
            .filter(|sp| sp.get("parentSpanId").is_none() == root)
            .cloned()
            .collect()
    };
    let request = |spans: Vec<serde_json::Value>| {
        serde_json::json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": spans }] }] }).to_string()
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1-children.json"), request(trace_1(false))).unwrap();
    std::fs::write(dir.path().join("2-root.json"), request(trace_1(true))).unwrap();
    for command in ["view", "analyze", "stats"] {
        let o = loupe(&[command, s(dir.path()), "--output", "json"], None);
        assert_eq!(o.status.code(), Some(0), "{command}: {}", stderr(&o));
        let out: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        if command == "stats" {
            assert_eq!(out["sessions"], 1, "{out}");
            continue;
        }
        let sessions = out["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), 1, "{command}: {out}");
        assert_eq!(sessions[0]["session_id"], "a");
        assert_eq!(sessions[0]["metrics"]["llm_calls"], 2, "{command}");
    }
}

#[test]
fn compare_warns_of_runs_that_reuse_a_session_id_and_can_take_each_file_as_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let trace = sample("attocode-ts/single-task-healthy.jsonl");
    for run in ["run1", "run2", "run3"] {
        let d = dir.path().join("b").join(run);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(&trace, d.join("trace.jsonl")).unwrap();
    }
    let b = dir.path().join("b");
    let runs = |extra: &[&str]| {
        let mut args = vec!["compare", s(&trace), s(&b), "--output", "json"];
        args.extend_from_slice(extra);
        let o = loupe(&args, None);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        (v["b_runs"].as_u64().unwrap(), stderr(&o))
    };
    let (joined, warning) = runs(&[]);
    assert_eq!(joined, 1);
    assert!(
        warning.contains("is in 3 files") && warning.contains("--run-per-file"),
        "{warning}"
    );
    let (each, warning) = runs(&["--run-per-file"]);
    assert_eq!(each, 3);
    assert!(!warning.contains("is in 3 files"), "{warning}");
}

#[test]
fn an_attocode_py_session_done_early_and_then_continued_is_still_one_whole_session() {
    // The reader says a session is done when the next starts after its end;
    // a late line of it must still be counted in it, by analyze and stats.
    let dir = tempfile::tempdir().unwrap();
    let line = |id: &str, kind: &str, t: u32, data: &str| {
        format!(
            r#"{{"event_id": "{id}{t}", "kind": "{kind}", "timestamp": {t}, "session_id": "{id}", "iteration": 1, "data": {data}}}"#
        )
    };
    let usage = |i: u32| {
        format!(
            r#"{{"tokens": {}, "input_tokens": {i}, "output_tokens": 5}}"#,
            i + 5
        )
    };
    let text = [
        line("a", "session_start", 1, "{}"),
        line("a", "llm_response", 2, &usage(100)),
        line("a", "session_end", 3, "{}"),
        line("b", "session_start", 4, "{}"),
        line("a", "llm_response", 5, &usage(20)),
        line("b", "session_end", 6, "{}"),
    ]
    .join("\n");
    let path = dir.path().join("late.jsonl");
    std::fs::write(&path, text + "\n").unwrap();
    let o = loupe(&["analyze", s(&path), "--output", "json"], None);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{v}");
    assert_eq!(sessions[0]["session_id"], "a");
    assert_eq!(sessions[0]["metrics"]["llm_calls"], 2);
    assert_eq!(sessions[0]["metrics"]["input_tokens"], 120);
    let o = loupe(&["stats", s(&path), "--output", "json"], None);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["sessions"], 2, "{v}");
    assert_eq!(v["total"]["llm_calls"], 2);
}

/// One file in a list that is no trace (a README in a shell glob) does not
/// cost the others: they are shown, the file is named on stderr and in JSON
/// `skipped`, and the exit status is 2 so a script learns the input was
/// incomplete. `convert` writes what it could and says so the same way.
#[test]
fn a_named_file_that_is_no_trace_is_reported_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let readme = dir.path().join("README.md");
    std::fs::write(&readme, "# notes\nnot a trace\n").unwrap();
    let good = sample("attocode-py/healthy.jsonl");
    let o = loupe(&["view", s(&good), s(&readme), "--output", "json"], None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("error: ") && stderr(&o).contains("README.md"),
        "{}",
        stderr(&o)
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    let skipped = doc["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|r| r["path"].as_str().unwrap().ends_with("README.md") && r["line"].is_null()),
        "{doc}"
    );

    let out = dir.path().join("out");
    let o = loupe(
        &[
            "convert",
            s(&good),
            s(&readme),
            "--to",
            "canonical",
            "--out",
            s(&out),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stdout(&o).contains("Converted 1 file"), "{}", stdout(&o));
    assert!(out.join("healthy.jsonl").exists());

    // Alone, it is the command's error, as before.
    let o = loupe(&["view", s(&readme)], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("not a trace Loupe can read"),
        "{}",
        stderr(&o)
    );
}

/// A walked directory's file that looks like a trace but is not (a `.jsonl`
/// of garbage) is listed in JSON `skipped`, not only warned about on stderr;
/// it does not fail the run (directories hold other files).
#[test]
fn a_walked_file_that_is_no_trace_is_listed_in_json_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        sample("attocode-py/healthy.jsonl"),
        dir.path().join("a.jsonl"),
    )
    .unwrap();
    std::fs::write(dir.path().join("g.jsonl"), "garbage\n").unwrap();
    for cmd in ["view", "analyze"] {
        let o = loupe(&[cmd, s(dir.path()), "--output", "json"], None);
        assert_eq!(o.status.code(), Some(0), "{cmd}: {}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let skipped = doc["skipped"].as_array().unwrap();
        assert!(
            skipped
                .iter()
                .any(|r| r["path"].as_str().unwrap().ends_with("g.jsonl")),
            "{cmd}: {doc}"
        );
    }
}

/// `--until DATE` leaves out that whole day, a session starting at its
/// first instant too; an RFC 3339 `--until` keeps a session starting at it.
#[test]
fn until_a_date_leaves_out_a_session_starting_at_its_midnight() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("midnight.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"event_id":"a","kind":"session_start","timestamp":"2026-03-02T00:00:00Z","session_id":"midnight"}"#,
            "\n",
            r#"{"event_id":"b","kind":"session_end","timestamp":"2026-03-02T00:00:05Z","session_id":"midnight"}"#,
            "\n"
        ),
    )
    .unwrap();
    let count = |until: &str| -> usize {
        let o = loupe(
            &["view", s(&file), "--output", "json", "--until", until],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        v["sessions"].as_array().unwrap().len()
    };
    assert_eq!(count("2026-03-02"), 0);
    assert_eq!(count("2026-03-02T00:00:00Z"), 1);
    assert_eq!(count("2026-03-03"), 1);
}

/// MyAgent runs whose LLM calls report no usage: the text says "Tokens
/// unreported", and the machine-readable outputs say unknown too (null, an
/// empty CSV cell), never 0 tokens at $0.
#[test]
fn unreported_usage_is_null_in_json_csv_and_llm_not_zero() {
    let input = sample("myagent/runs_export.json");
    let text = stdout(&loupe(&["view", s(&input)], None));
    assert!(text.contains("Tokens unreported"), "{text}");
    for command in ["view", "analyze"] {
        let o = loupe(&[command, s(&input), "--output", "json"], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let unreported = v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| {
                s["metrics"]["llm_calls"].as_u64() > Some(0)
                    && s["metrics"]["input_tokens"].is_null()
            })
            .unwrap_or_else(|| panic!("{command}: no session with null tokens: {v}"));
        let m = &unreported["metrics"];
        assert!(
            m["total_tokens"].is_null() && m["cost_usd"].is_null() && m["cache_hit_rate"].is_null(),
            "{m}"
        );
    }
    let csv = stdout(&loupe(&["view", s(&input), "--output", "csv"], None));
    assert!(csv.lines().any(|l| l.contains(",,,,,,,,")), "{csv}");
    let llm = stdout(&loupe(&["export", s(&input), "--llm"], None));
    assert!(llm.contains("\"input_tokens\":null"), "{llm}");
}

#[test]
fn a_thresholds_override_changes_the_numbers_in_issue_texts() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("loop.jsonl");
    let mut lines = vec![r#"{"event_id": "s", "kind": "session_start", "timestamp": 1.0, "session_id": "loop", "data": {"goal": "g"}}"#.to_owned()];
    for i in 1..=5 {
        lines.push(format!(r#"{{"event_id": "i{i}", "kind": "iteration_start", "timestamp": {i}.0, "session_id": "loop", "iteration": {i}}}"#));
        lines.push(format!(r#"{{"event_id": "t{i}", "kind": "tool_end", "timestamp": {i}.5, "session_id": "loop", "iteration": {i}, "data": {{"tool": "read_file", "args": {{"path": "a.py"}}}}}}"#));
    }
    std::fs::write(&trace, lines.join("\n") + "\n").unwrap();
    let doom_suggestion = |extra: &[&str]| -> String {
        let mut args = vec!["analyze", s(&trace), "--output", "json"];
        args.extend_from_slice(extra);
        let o = loupe(&args, None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let issues = v["sessions"][0]["issues"].as_array().unwrap().clone();
        issues
            .iter()
            .find(|i| i["category"] == "doom_loop")
            .map(|i| i["suggestion"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no doom_loop in {issues:?}"))
    };
    assert!(doom_suggestion(&[]).contains("blocks a 3rd identical call"));
    let thresholds = dir.path().join("thresholds.toml");
    std::fs::write(&thresholds, "doom_loop_repeats = 5\n").unwrap();
    let configured = doom_suggestion(&["--thresholds", s(&thresholds)]);
    assert!(
        configured.contains("blocks a 5th identical call"),
        "{configured}"
    );
}

#[test]
fn the_token_view_shows_the_cache_boundary_tracker() {
    // 60 calls: the first 10 fully fresh, the last 50 reading 8,000 of 10,000
    // tokens from the cache, so the window's rate (80%) beats all-time (67%).
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("cache.jsonl");
    let mut lines = vec![r#"{"event_id": "s", "kind": "session_start", "timestamp": 1.0, "session_id": "cache", "data": {"goal": "g"}}"#.to_owned()];
    for i in 1..=60 {
        let (fresh, read) = if i <= 10 { (10_000, 0) } else { (2_000, 8_000) };
        lines.push(format!(r#"{{"event_id": "i{i}", "kind": "iteration_start", "timestamp": {i}.0, "session_id": "cache", "iteration": {i}}}"#));
        lines.push(format!(r#"{{"event_id": "r{i}", "kind": "llm_response", "timestamp": {i}.5, "session_id": "cache", "iteration": {i}, "data": {{"input_tokens": {fresh}, "output_tokens": 100, "cache_read_tokens": {read}, "cache_write_tokens": 0, "cost": 0.01}}}}"#));
    }
    std::fs::write(&trace, lines.join("\n") + "\n").unwrap();

    let o = loupe(&["view", s(&trace), "--view", "tokens"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains("Cache boundary: 80.0% hit rate over the last 50 requests vs 66.7% all-time (60 requests); the cached prefix ends near 8,000 tokens."),
        "{text}"
    );

    let o = loupe(
        &["view", s(&trace), "--view", "tokens", "--output", "json"],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let b = &v["sessions"][0]["token_flow"]["cache_boundary"];
    assert_eq!(b["window_size"], 50, "{v}");
    assert_eq!(b["window_requests"], 50);
    assert_eq!(b["estimated_boundary"], 8000);
    let rate = b["hit_rate"].as_f64().unwrap();
    assert!(
        rate <= 1.0 && (rate - 400_000.0 / 600_000.0).abs() < 1e-9,
        "{rate}"
    );

    for (format, needle) in [
        ("md", "Cache boundary: 80.0%"),
        ("html", "class=\"cache-boundary\""),
    ] {
        let o = loupe(
            &["view", s(&trace), "--view", "tokens", "--output", format],
            None,
        );
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(stdout(&o).contains(needle), "{format}: {}", stdout(&o));
    }
}

#[test]
fn an_agent_with_a_parent_that_is_no_agent_is_the_main_agent_and_verdicts_survive_conversion() {
    let span = |trace: &str,
                id: &str,
                parent: Option<&str>,
                name: &str,
                kind: u32,
                flags: u32,
                ms: u64,
                attributes: &[(&str, &str)]| {
        let mut s = serde_json::json!({
            "traceId": trace, "spanId": id, "name": name, "kind": kind, "flags": flags,
            "startTimeUnixNano": (1_772_280_000_000u64 + ms) * 1_000_000,
            "endTimeUnixNano": (1_772_280_000_000u64 + ms + 5) * 1_000_000,
            "attributes": attributes.iter().map(|(k, v)| serde_json::json!({"key": k, "value": {"stringValue": v}})).collect::<Vec<_>>(),
        });
        if let Some(p) = parent {
            s["parentSpanId"] = (*p).into();
        }
        s
    };
    let chat = [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.request.model", "gpt-4o"),
    ];
    let agent = |p: u8, trace: &str, session: &str, parent: &str, kind: u32, flags: u32| {
        vec![
            span(
                trace,
                &format!("{p}000000000000002"),
                Some(format!("{p}000000000000001").as_str()),
                "chat",
                3,
                0x100,
                10,
                &chat,
            ),
            span(
                trace,
                &format!("{p}000000000000003"),
                Some(format!("{p}000000000000001").as_str()),
                "chat",
                3,
                0x100,
                20,
                &chat,
            ),
            span(
                trace,
                &format!("{p}000000000000001"),
                Some(parent),
                "invoke_agent coder",
                kind,
                flags,
                1,
                &[
                    ("gen_ai.operation.name", "invoke_agent"),
                    ("gen_ai.agent.name", "coder"),
                    ("gen_ai.conversation.id", session),
                ],
            ),
        ]
    };
    let mut web = agent(1, &"a1".repeat(16), "web", "2000000000000001", 1, 0x100);
    web.push(span(
        &"a1".repeat(16),
        "2000000000000001",
        None,
        "POST /chat",
        2,
        0x100,
        0,
        &[],
    ));
    // A W3C traceparent's parent, with the flags silent: a SERVER span's
    // parent is the caller's.
    let remote = agent(4, &"b1".repeat(16), "remote", "00f067aa0ba902b7", 2, 0);
    // No agent span at all (Laminar, plain GenAI): over once its spans are.
    let bare = vec![
        span(
            &"c1".repeat(16),
            "3000000000000001",
            None,
            "chat",
            3,
            0,
            0,
            &[
                ("gen_ai.operation.name", "chat"),
                ("gen_ai.request.model", "gpt-4o"),
                ("gen_ai.conversation.id", "bare"),
            ],
        ),
        span(
            &"c1".repeat(16),
            "3000000000000002",
            Some("3000000000000001"),
            "execute_tool read_file",
            1,
            0,
            1,
            &[("gen_ai.operation.name", "execute_tool")],
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traces.json");
    let spans: Vec<serde_json::Value> = web.into_iter().chain(remote).chain(bare).collect();
    std::fs::write(
        &file,
        serde_json::json!({ "resourceSpans": [{ "scopeSpans": [{ "spans": spans }] }] })
            .to_string(),
    )
    .unwrap();
    let converted = dir.path().join("canonical");
    let o = loupe(
        &[
            "convert",
            s(&file),
            "--to",
            "canonical",
            "--out",
            s(&converted),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for input in [&file, &converted] {
        let o = loupe(&["analyze", s(input), "--output", "json"], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let out: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        let session = |id: &str| {
            out["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["session_id"] == id)
                .unwrap_or_else(|| panic!("{id} in {out}"))
                .clone()
        };
        for id in ["web", "remote"] {
            let x = session(id);
            assert_eq!(x["status"], "completed", "{}: {x}", input.display());
            assert_eq!(x["model"], "gpt-4o", "{id}");
            assert_eq!(x["metrics"]["iterations"], 2, "{id}");
            assert_eq!(x["metrics"]["subagents"], 0, "{id}");
        }
        assert_eq!(
            session("bare")["status"],
            "completed",
            "{}",
            input.display()
        );
    }
}

/// The lines of every `.jsonl` file of `dir`, as `(file name, timestamps)`.
fn canonical_times(dir: &Path) -> Vec<(String, Vec<String>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let times = std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| {
                    let e: serde_json::Value = serde_json::from_str(l).unwrap();
                    e["timestamp"].as_str().unwrap().to_owned()
                })
                .collect();
            (f.file_name().unwrap().to_string_lossy().into_owned(), times)
        })
        .collect()
}

/// OTLP read as canonical comes a span at a time (its start and end
/// together, a parent's end before its children); the canonical JSONL
/// `convert` writes of it is in time order, as line-by-line readers expect,
/// and says the same as the OTLP did.
#[test]
fn otlp_converted_to_canonical_is_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let traces = dir.path().join("traces");
    let o = loupe(
        &["demo", "--out", s(&traces), "--sessions", "2"],
        Some(dir.path()),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let otlp = dir.path().join("otlp");
    let interleaved = dir.path().join("interleaved.json");
    std::fs::write(&interleaved, interleaved_otlp_export()).unwrap();
    let o = loupe(
        &["convert", s(&traces), "--to", "otlp", "--out", s(&otlp)],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    std::fs::copy(&interleaved, otlp.join("interleaved.json")).unwrap();
    let canonical = dir.path().join("canonical");
    let o = loupe(
        &[
            "convert",
            s(&otlp),
            "--to",
            "canonical",
            "--out",
            s(&canonical),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let files = canonical_times(&canonical);
    assert_eq!(files.len(), 5, "{files:?}");
    for (name, times) in &files {
        // RFC 3339 in UTC with six fraction digits: text order is time order.
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "{name} is not in time order: {times:?}"
        );
    }
    let analysed = |path: &Path| {
        let o = loupe(&["analyze", s(path), "--output", "json"], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let mut sessions: Vec<String> = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{} {}", s["session_id"], s["metrics"]))
            .collect();
        sessions.sort();
        sessions
    };
    assert_eq!(analysed(&canonical), analysed(&otlp));
}

/// `convert` does not write over a file that is there already: it fails
/// (exit 2) naming the file, leaves it as it was and removes what it wrote
/// before it met it; `--force` overwrites.
#[test]
fn convert_refuses_to_overwrite_an_output_file_unless_forced() {
    let healthy = sample("attocode-py/healthy.jsonl");
    let crashed = sample("attocode-py/crashed.jsonl");
    for (target, ext) in [("canonical", "jsonl"), ("otlp", "otlp.json")] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        // The second session's file is in the way; the first's is not.
        let in_the_way = out.join(format!("healthy.{ext}"));
        std::fs::write(&in_the_way, "mine\n").unwrap();
        std::fs::write(out.join("notes.txt"), "mine too\n").unwrap();
        let args = [
            "convert",
            s(&crashed),
            s(&healthy),
            "--to",
            target,
            "--out",
            s(&out),
        ];
        let o = loupe(&args, None);
        assert_eq!(o.status.code(), Some(2), "{target}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(s(&in_the_way)) && stderr(&o).contains("--force"),
            "{target}: {}",
            stderr(&o)
        );
        assert_eq!(std::fs::read_to_string(&in_the_way).unwrap(), "mine\n");
        let mut left: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [format!("healthy.{ext}"), "notes.txt".to_owned()],
            "{target}: nothing written is left behind"
        );

        let mut forced = args.to_vec();
        forced.push("--force");
        let o = loupe(&forced, None);
        assert_eq!(o.status.code(), Some(0), "{target}: {}", stderr(&o));
        assert_ne!(std::fs::read_to_string(&in_the_way).unwrap(), "mine\n");
        assert!(out.join(format!("crashed.{ext}")).exists());
        // Rerun into the same directory: refused again, the output kept.
        let before = std::fs::read(&in_the_way).unwrap();
        let o = loupe(&args, None);
        assert_eq!(o.status.code(), Some(2), "{target}: {}", stderr(&o));
        assert_eq!(std::fs::read(&in_the_way).unwrap(), before);
        assert!(out.join(format!("crashed.{ext}")).exists());
    }
}
