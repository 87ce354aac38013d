//! `loupe tail` against a trace that a writer thread grows while tail runs:
//! every event is printed exactly once and in order, partial lines wait for
//! their newline, totals are printed at exit, and Ctrl-C (SIGINT) exits 0.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use loupe_tui::testing::Synthetic;

const LOUPE: &str = env!("CARGO_BIN_EXE_loupe");

/// A running `loupe tail --ids PATH` whose stdout lines arrive on a channel.
struct Tail {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
}

impl Tail {
    fn spawn(path: &Path) -> Tail {
        let mut child = Command::new(LOUPE)
            .args(["tail", "--ids", "--interval-ms", "20"])
            .arg(path)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Tail {
            child,
            lines,
            reader,
        }
    }

    /// The lines printed until `n` arrived (30 s at most).
    fn wait_for(&self, n: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.len() < n && Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                seen.push(line);
            }
        }
        seen
    }

    /// Stops it with SIGINT after a moment (anything printed late is added
    /// to `seen`) and returns its output.
    fn interrupt(self, seen: &mut Vec<String>) -> Output {
        std::thread::sleep(Duration::from_millis(200));
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "could not send SIGINT");
        let output = self.child.wait_with_output().unwrap();
        self.reader.join().unwrap();
        seen.extend(self.lines.try_iter());
        output
    }
}

/// The event ids `--ids` appends to printed lines.
/// `loupe tail -` fed `input` on standard input, run to the end of it.
fn tail_stdin(input: &[u8]) -> Output {
    let mut child = Command::new(LOUPE)
        .args(["tail", "-"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn ids(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| l.rsplit_once(" #").map_or("", |(_, id)| id))
        .collect()
}

#[test]
fn tail_prints_every_appended_event_once_in_order_and_stops_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grow.jsonl");
    let mut synthetic = Synthetic::new("grow", 12);
    synthetic.fail_every = 5;
    let events = synthetic.events();
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    // Some events exist before tail starts (printed first by default).
    let (before, after) = lines.split_at(5);
    std::fs::write(&path, before.concat()).unwrap();

    let tail = Tail::spawn(&path);

    let writer_path = path.clone();
    let to_write: Vec<String> = after.to_vec();
    let writer = std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&writer_path)
            .unwrap();
        for (i, line) in to_write.iter().enumerate() {
            if i % 3 == 0 {
                // Split the line: tail must wait for the rest.
                let (head, tail) = line.split_at(line.len() / 2);
                file.write_all(head.as_bytes()).unwrap();
                file.flush().unwrap();
                std::thread::sleep(Duration::from_millis(45));
                file.write_all(tail.as_bytes()).unwrap();
            } else {
                file.write_all(line.as_bytes()).unwrap();
            }
            file.flush().unwrap();
            if i % 4 == 0 {
                std::thread::sleep(Duration::from_millis(15));
            }
        }
    });

    let mut seen = tail.wait_for(events.len());
    writer.join().unwrap();
    // Anything extra printed after a moment must not be there.
    let output = tail.interrupt(&mut seen);
    let ids = ids(&seen);
    let expected: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(
        ids,
        expected,
        "every event once, in order; got:\n{}",
        seen.join("\n")
    );

    assert!(output.status.success(), "exit status {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 12 iterations × 2 tools; every 5th fails → 4 failures.
    assert!(
        stderr.contains(&format!("{} events", events.len())),
        "{stderr}"
    );
    assert!(stderr.contains("24 tool calls · 4 errors"), "{stderr}");
    assert!(stderr.contains("tokens in 24.0K out 1.8K"), "{stderr}");

    let tool_end = seen.iter().find(|l| l.contains("TOOL_END")).unwrap();
    assert!(
        tool_end.contains(" s=grow it=1 TOOL_END read_file 42ms ✓"),
        "{tool_end}"
    );
    assert!(
        !tool_end.contains('\x1b'),
        "no colour when piped: {tool_end:?}"
    );
    assert!(seen.iter().any(|l| l.contains("✗ exit status 1")));
}

#[test]
fn tail_new_only_skips_existing_events_and_a_missing_path_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let events = Synthetic::new("late", 1).events();
    let line = |i: usize| serde_json::to_string(&events[i]).unwrap() + "\n";
    std::fs::write(&path, line(0) + &line(1)).unwrap();
    let child = Command::new(LOUPE)
        .args(["tail", "--new-only", "--ids", "--interval-ms", "20"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(line(2).as_bytes()).unwrap();
    // Files are visited oldest-modified first per poll; let this poll pass
    // so the order below does not depend on mtime granularity.
    std::thread::sleep(Duration::from_millis(300));
    // A file created after start is printed whole.
    std::fs::write(dir.path().join("new.jsonl"), line(3)).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let ids: Vec<&str> = stdout
        .lines()
        .map(|l| l.rsplit_once(" #").map_or("", |(_, id)| id))
        .collect();
    assert_eq!(
        ids,
        [events[2].event_id.as_str(), events[3].event_id.as_str()],
        "{stdout}"
    );

    let missing = Command::new(LOUPE)
        .args(["tail", "/definitely/not/here.jsonl"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/definitely/not/here.jsonl"));
}

/// `agent | loupe tail -`: a banner the agent prints first is passed over
/// and counted, every event is printed, and the totals (cost included, for
/// a format that names the model on requests only) agree with `analyze`.
#[test]
fn tail_dash_follows_standard_input_to_its_end() {
    let sample = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/samples/attocode-ts/single-task-healthy.jsonl"
    );
    let trace = std::fs::read(sample).unwrap();
    let mut input = b"Starting agent v1.2...\n\n".to_vec();
    input.extend_from_slice(&trace);
    let output = tail_stdin(&input);
    assert!(output.status.success(), "exit status {:?}", output.status);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    let analysis = Command::new(LOUPE)
        .args(["analyze", sample, "--output", "json"])
        .output()
        .unwrap();
    let analysis: serde_json::Value = serde_json::from_slice(&analysis.stdout).unwrap();
    let metrics = &analysis["sessions"][0]["metrics"];
    let cost = metrics["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0);
    let events = trace.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(stdout.lines().count(), events, "{stdout}");
    assert!(stderr.contains(&format!("{events} events")), "{stderr}");
    assert!(stderr.contains(&format!("${cost:.4}")), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} tool calls · {} errors",
            metrics["tool_calls"], metrics["errors"]
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 malformed line(s) skipped"), "{stderr}");
}

#[test]
fn tail_follows_a_growing_utf16_trace() {
    // Windows PowerShell's `>` writes UTF-16LE with a byte order mark. Lines
    // arrive cut anywhere, even inside a code unit: each is printed once,
    // when its newline has arrived.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ps.jsonl");
    let events = Synthetic::new("wide", 3).events();
    let mut bytes = vec![0xFF, 0xFE];
    for e in &events {
        let line = serde_json::to_string(e).unwrap() + "\n";
        bytes.extend(line.encode_utf16().flat_map(u16::to_le_bytes));
    }
    // The mark and the first line and a half exist before tail starts.
    let first_line_end = 2 + 2 * (serde_json::to_string(&events[0]).unwrap().len() + 1);
    let cut = first_line_end + 41; // odd: half a code unit
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let tail = Tail::spawn(&path);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    for piece in bytes[cut..].chunks(333) {
        file.write_all(piece).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(25));
    }
    let mut seen = tail.wait_for(events.len());
    let output = tail.interrupt(&mut seen);
    let ids = ids(&seen);
    let expected: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, expected, "got:\n{}", seen.join("\n"));
    assert!(output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{} events", events.len())),
        "{stderr}"
    );
}

#[test]
fn tail_counts_errors_as_view_does_and_names_each_malformed_line() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Command::new(LOUPE)
        .args(["demo", "--sessions", "3", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(demo.status.success());
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    // The demo's sessions recover from errors: a `recovery` is not one.
    let trace = std::fs::read_to_string(&files[0]).unwrap();
    assert!(trace.contains("\"recovery\""));
    let mut lines: Vec<&str> = trace.lines().collect();
    lines.insert(3, "not json at all");
    let input = lines.join("\n") + "\n";
    let output = tail_stdin(input.as_bytes());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let view = Command::new(LOUPE)
        .args(["view", "--output", "json"])
        .arg(&files[0])
        .output()
        .unwrap();
    let view: serde_json::Value = serde_json::from_slice(&view.stdout).unwrap();
    let errors = &view["sessions"][0]["metrics"]["errors"];
    assert!(
        stderr.contains(&format!(" · {errors} errors")),
        "{errors}: {stderr}"
    );
    assert!(
        stderr.contains("loupe tail: skipped -:4: "),
        "the line is named: {stderr}"
    );
}

/// The lines of `events`, one JSON line each.
fn jsonl(events: &[loupe_model::Event]) -> String {
    events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect()
}

/// Log rotation: a file renamed away goes on from where it was (never
/// printed twice), and a new file put at a followed path is read from its
/// start, whether tail follows the directory or the file itself.
#[test]
fn tail_tells_files_by_identity_through_renames_and_replacements() {
    let dir = tempfile::tempdir().unwrap();
    let first = Synthetic::new("first", 3).events();
    let second = Synthetic::new("second", 2).events();
    let third = Synthetic::new("third", 2).events();
    let live = dir.path().join("trace.jsonl");
    std::fs::write(&live, jsonl(&first)).unwrap();

    // Following the directory: rotate `trace.jsonl` to `trace.jsonl.1`.
    let tail = Tail::spawn(dir.path());
    let mut seen = tail.wait_for(first.len());
    std::fs::rename(&live, dir.path().join("trace.jsonl.1")).unwrap();
    std::fs::write(&live, jsonl(&second)).unwrap();
    seen.extend(tail.wait_for(second.len()));
    let output = tail.interrupt(&mut seen);
    let expected: Vec<&str> = first
        .iter()
        .chain(&second)
        .map(|e| e.event_id.as_str())
        .collect();
    assert_eq!(ids(&seen), expected, "{}", seen.join("\n"));
    assert!(output.status.success());

    // Following the file: a new one renamed over it (an atomic rewrite).
    let tail = Tail::spawn(&live);
    let mut seen = tail.wait_for(second.len());
    let staged = dir.path().join("staged.tmp");
    std::fs::write(&staged, jsonl(&third)).unwrap();
    std::fs::rename(&staged, &live).unwrap();
    seen.extend(tail.wait_for(third.len()));
    let output = tail.interrupt(&mut seen);
    let expected: Vec<&str> = second
        .iter()
        .chain(&third)
        .map(|e| e.event_id.as_str())
        .collect();
    assert_eq!(ids(&seen), expected, "{}", seen.join("\n"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("was replaced"), "{stderr}");
    assert!(
        !stderr.contains("skipped"),
        "no line read mid-way: {stderr}"
    );
}

/// Event ids come from the trace: an escape sequence in one is shown, not
/// obeyed; and a model without a price makes the cost unknown, not $0.
#[test]
fn tail_cleans_ids_and_says_when_the_cost_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let mut events = Synthetic::new("odd", 1).events();
    events[0].event_id = "x\u{1b}]0;pwned\u{7}".to_owned();
    let text = jsonl(&events).replace("claude-sonnet-4-5", "acme-llm-9");
    std::fs::write(&path, text).unwrap();
    let tail = Tail::spawn(&path);
    let mut seen = tail.wait_for(events.len());
    let output = tail.interrupt(&mut seen);
    assert_eq!(seen.len(), events.len(), "{}", seen.join("\n"));
    assert!(seen
        .iter()
        .all(|l| !l.contains('\u{1b}') && !l.contains('\u{7}')));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cost unknown (unpriced: acme-llm-9)") && !stderr.contains("$0.0000"),
        "{stderr}"
    );
}
