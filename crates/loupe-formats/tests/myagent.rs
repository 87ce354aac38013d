//! Golden tests for the MyAgent reader over every real export in
//! `shared/samples/myagent/`, checked against values computed independently
//! from the seed's own CSV, tree and statistics exports.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use loupe_formats::{Collected, ReadError, Source};
use loupe_model::{Event, EventKind, SourceFormat, TokenTotals};
use serde_json::Value;

mod support;

fn samples() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/samples/myagent"
    ));
    assert!(
        dir.is_dir(),
        "sample directory {} is missing: clone `shared/` beside the repository",
        dir.display()
    );
    dir.to_path_buf()
}

fn read(name: &str) -> Collected {
    let path = samples().join(name);
    let bytes = std::fs::read(&path).unwrap();
    let source = Source {
        path,
        format: SourceFormat::MyAgent,
    };
    let mut sink = Collected::default();
    loupe_formats::myagent::read(&bytes, &source, &mut sink).unwrap();
    sink
}

/// Per-session figures the acceptance criteria name.
#[derive(Debug, Default, PartialEq, Eq)]
struct SessionFigures {
    events: u64,
    llm_calls: u64,
    tool_calls: u64,
    tool_errors: u64,
    input_tokens: u64,
    output_tokens: u64,
}

fn figures(events: &[&Event]) -> BTreeMap<String, SessionFigures> {
    let mut map: BTreeMap<String, SessionFigures> = BTreeMap::new();
    for e in events {
        let f = map.entry(e.session_id.clone()).or_default();
        f.events += 1;
        match e.kind {
            EventKind::LlmResponse | EventKind::LlmError => f.llm_calls += 1,
            EventKind::ToolEnd => f.tool_calls += 1,
            EventKind::ToolError => {
                f.tool_calls += 1;
                f.tool_errors += 1;
            }
            _ => {}
        }
        let mut t = TokenTotals::default();
        t += &e.usage();
        f.input_tokens += t.input_tokens;
        f.output_tokens += t.output_tokens;
    }
    map
}

/// Whether a tool run whose status is `success` returned an error
/// (`outputs.error`, what MyAgent's tool wrapper writes when it catches
/// one): Loupe counts it as a failed call, MyAgent's own views do not.
fn returned_an_error(row: &BTreeMap<String, String>) -> bool {
    row["run_type"] == "tool"
        && row["status"] != "error"
        && serde_json::from_str::<Value>(&row["outputs"])
            .ok()
            .and_then(|o| o.get("error").cloned())
            .is_some_and(|e| !e.is_null() && e != "")
}

/// Per session, the tool runs that returned an error without failing.
fn returned_errors_from_runs_csv() -> BTreeMap<String, u64> {
    let mut reader = csv::Reader::from_path(samples().join("runs.csv")).unwrap();
    let mut map = BTreeMap::new();
    for row in reader.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        if returned_an_error(&row) {
            *map.entry(row["trace_id"].clone()).or_default() += 1;
        }
    }
    map
}

/// The same figures from `runs.csv` (export_runs_to_csv): one row per run.
fn figures_from_runs_csv() -> BTreeMap<String, SessionFigures> {
    let mut reader = csv::Reader::from_path(samples().join("runs.csv")).unwrap();
    let mut map: BTreeMap<String, SessionFigures> = BTreeMap::new();
    for row in reader.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        let f = map.entry(row["trace_id"].clone()).or_default();
        // Every run is ended: a start and an end event; the session adds two.
        f.events += 2;
        match row["run_type"].as_str() {
            "think" | "llm" => f.llm_calls += 1,
            "tool" => {
                f.tool_calls += 1;
                if row["status"] == "error" || returned_an_error(&row) {
                    f.tool_errors += 1;
                }
            }
            _ => {}
        }
        if let Ok(Value::Object(usage)) = serde_json::from_str::<Value>(&row["token_usage"]) {
            f.input_tokens += usage
                .get("prompt_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            f.output_tokens += usage
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
        }
    }
    for f in map.values_mut() {
        f.events += 2;
    }
    map
}

/// Per trace (by id prefix): LLM-call runs, tool runs and failed tool runs from
/// `trace_trees.txt` (export_trace_tree).
fn counts_from_tree() -> BTreeMap<String, (u64, u64, u64)> {
    let text = std::fs::read_to_string(samples().join("trace_trees.txt")).unwrap();
    let mut map = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Trace: ") {
            let open = rest.rfind('(').unwrap();
            current = rest[open + 1..].trim_end_matches("...)").to_owned();
            map.insert(current.clone(), (0, 0, 0));
            continue;
        }
        let Some(entry) = map.get_mut(&current) else {
            continue;
        };
        if line.contains("(think)") || line.contains("(llm)") {
            entry.0 += 1;
        }
        if line.contains("(tool)") {
            entry.1 += 1;
            if line.contains('✗') {
                entry.2 += 1;
            }
        }
    }
    map
}

fn events_of(c: &Collected) -> Vec<&Event> {
    c.events.iter().map(|(_, e)| e).collect()
}

#[test]
fn traces_export_matches_the_runs_csv_tree_and_statistics() {
    let c = read("traces_export.json");
    assert!(c.skipped.is_empty(), "{:?}", c.skipped);
    assert!(c
        .events
        .iter()
        .all(|(s, _)| s.format == SourceFormat::MyAgent));
    let ours = figures(&events_of(&c));
    assert_eq!(ours, figures_from_runs_csv());

    let tree = counts_from_tree();
    assert_eq!(tree.len(), ours.len());
    let returned = returned_errors_from_runs_csv();
    assert_eq!(returned.values().sum::<u64>(), 1, "one `no such table`");
    for (session, f) in &ours {
        let (llm, tools, tree_errors) = tree[&session[..8]];
        let tool_errors = tree_errors + returned.get(session).copied().unwrap_or(0);
        assert_eq!(
            (f.llm_calls, f.tool_calls, f.tool_errors),
            (llm, tools, tool_errors),
            "{session}"
        );
    }

    let stats: Value =
        serde_json::from_slice(&std::fs::read(samples().join("statistics.json")).unwrap()).unwrap();
    let trace_stats = &stats["trace_statistics"];
    let run_stats = &stats["run_statistics"];
    assert_eq!(
        ours.len() as u64,
        trace_stats["total_traces"].as_u64().unwrap()
    );
    let types = &run_stats["type_distribution"];
    let total = |pick: fn(&SessionFigures) -> u64| ours.values().map(pick).sum::<u64>();
    assert_eq!(
        total(|f| f.llm_calls),
        types["think"].as_u64().unwrap() + types["llm"].as_u64().unwrap()
    );
    assert_eq!(total(|f| f.tool_calls), types["tool"].as_u64().unwrap());
    // MyAgent counts runs by status; Loupe also counts the tool run that
    // returned an error with status `success`.
    assert_eq!(
        total(|f| f.tool_errors),
        run_stats["status_distribution"]["error"].as_u64().unwrap()
            + returned.values().sum::<u64>()
    );
    // MyAgent's total_tokens adds prompt + completion + total: exactly twice ours.
    let tokens = total(|f| f.input_tokens) + total(|f| f.output_tokens);
    assert_eq!(tokens * 2, trace_stats["total_tokens"].as_u64().unwrap());
    assert_eq!(
        (total(|f| f.input_tokens), total(|f| f.output_tokens)),
        (812, 64)
    );
}

#[test]
fn the_tree_is_rebuilt_from_parent_ids_despite_completion_order() {
    let c = read("traces_export.json");
    let mut opened = BTreeSet::new();
    for e in events_of(&c) {
        if let Some(parent) = &e.parent_event_id {
            assert!(
                opened.contains(parent),
                "{} appears before its parent {parent}",
                e.event_id
            );
        }
        if e.kind.is_span_start() {
            opened.insert(e.span_id.clone().unwrap());
        }
        // think_step_N and everything under step_N carry iteration N.
        if let Some(n) = e.str("name").and_then(|n| n.strip_prefix("think_step_")) {
            assert_eq!(e.iteration, Some(n.parse().unwrap()), "{}", e.event_id);
        }
    }
    let c_kinds: Vec<&str> = events_of(&c)
        .iter()
        .filter(|e| e.session_id.starts_with("73c62e22"))
        .map(|e| e.kind.as_str())
        .collect();
    // The first SQL call returned "no such table" (a failed call).
    assert_eq!(
        &c_kinds[..6],
        [
            "session_start",
            "iteration_start",
            "llm_request",
            "llm_response",
            "tool_start",
            "tool_error"
        ]
    );
    assert_eq!(c_kinds.last(), Some(&"session_end"));
}

#[test]
fn sessions_carry_task_status_and_untrusted_trace_totals() {
    let c = read("traces_export.json");
    let ends: Vec<&Event> = events_of(&c)
        .into_iter()
        .filter(|e| e.kind == EventKind::SessionEnd)
        .collect();
    let status: BTreeMap<&str, &str> = ends
        .iter()
        .map(|e| (&e.session_id[..8], e.status().unwrap()))
        .collect();
    assert_eq!(status["9adfcf92"], "failed");
    assert_eq!(status["c02125d4"], "completed");
    let start = events_of(&c)
        .into_iter()
        .find(|e| e.kind == EventKind::SessionStart && e.session_id.starts_with("c02125d4"))
        .unwrap();
    assert_eq!(
        start.str("task"),
        Some("What's the weather in NYC and Boston?")
    );
    assert_eq!(start.str("agent_name"), Some("weather-agent"));
    assert_eq!(start.data["metadata"]["session_id"], "ws-session-1");
    let llm = events_of(&c)
        .into_iter()
        .find(|e| e.kind == EventKind::LlmResponse && e.reported_cost().is_some())
        .unwrap();
    assert_eq!(llm.reported_cost(), Some(0.00016));
    assert_eq!(llm.usage().total(), 876);
}

#[test]
fn single_trace_and_runs_export_agree_with_the_traces_export() {
    let all = figures(&events_of(&read("traces_export.json")));
    let single = figures(&events_of(&read("single_trace.json")));
    assert_eq!(single.len(), 1);
    let (id, f) = single.iter().next().unwrap();
    assert_eq!(&all[id], f);

    let runs = figures(&events_of(&read("runs_export.json")));
    assert_eq!(runs, all, "runs export: same sessions, events and counts");
}

#[test]
fn snapshots() {
    for name in [
        "traces_export.json",
        "single_trace.json",
        "runs_export.json",
    ] {
        let events: Vec<Event> = read(name).events.into_iter().map(|(_, e)| e).collect();
        // Sorted keys: the snapshot must not depend on serde_json's `preserve_order`
        // feature, which another crate in a workspace build may switch on.
        insta::with_settings!({sort_maps => true}, {
            insta::assert_json_snapshot!(format!("myagent__{name}"), events);
        });
    }
}

#[test]
fn detection_names_the_format() {
    for name in [
        "traces_export.json",
        "single_trace.json",
        "runs_export.json",
    ] {
        let bytes = std::fs::read(samples().join(name)).unwrap();
        assert_eq!(
            loupe_formats::detect(&bytes),
            Some(SourceFormat::MyAgent),
            "{name}"
        );
    }
}

#[test]
fn broken_inputs_give_clean_errors_or_skips() {
    let source = Source {
        path: "bad.json".into(),
        format: SourceFormat::MyAgent,
    };
    let bytes = std::fs::read(samples().join("traces_export.json")).unwrap();
    // Broken off before any trace is whole: an invalid file.
    let mut sink = Collected::default();
    let err = loupe_formats::myagent::read(&bytes[..200], &source, &mut sink).unwrap_err();
    assert!(matches!(err, ReadError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("bad.json: invalid myagent file: line "),
        "{err}"
    );
    assert!(sink.events.is_empty());
    // Broken off later: the traces before the break are kept, the break
    // is reported with its place.
    let mut whole = Collected::default();
    loupe_formats::myagent::read(&bytes, &source, &mut whole).unwrap();
    let mut half = Collected::default();
    loupe_formats::myagent::read(&bytes[..bytes.len() / 2], &source, &mut half).unwrap();
    let reason = half.skipped.last().unwrap().reason.clone();
    assert!(
        reason.starts_with("the export breaks off after 1 traces, at line "),
        "{reason}"
    );
    assert!(!half.events.is_empty());
    assert_eq!(half.events[..], whole.events[..half.events.len()]);
    let sessions = |c: &Collected| -> BTreeSet<String> {
        c.events.iter().map(|(_, e)| e.session_id.clone()).collect()
    };
    assert_eq!(sessions(&half).len(), 1);
    assert_eq!(sessions(&whole).len(), 3);

    let err = loupe_formats::myagent::read(br#"{"hello": 1}"#, &source, &mut sink).unwrap_err();
    assert!(matches!(err, ReadError::Unrecognized { .. }), "{err}");
    let err = loupe_formats::myagent::read(&[0xff, 0x00, 0x13], &source, &mut sink).unwrap_err();
    assert!(err.to_string().contains("bad.json"), "{err}");

    // Wrong types inside: the bad trace and the bad run are skipped, the rest read.
    let doc = br#"{"metadata":{},"traces":[7,{"id":"t1","start_time":"2026-02-28 12:00:00+00:00",
        "end_time":"2026-02-28 12:00:01+00:00","status":"success","runs":[
        {"id":"r1","parent_run_id":null,"name":"bash","run_type":"tool","status":"success",
         "start_time":"2026-02-28 12:00:00.5+00:00","end_time":"2026-02-28 12:00:00.75+00:00"},
        {"id":"r2","start_time":"yesterday"},
        {"id":"r3","parent_run_id":"r3","name":"loop","run_type":"tool","status":"success",
         "start_time":"2026-02-28 12:00:00.6+00:00","end_time":null}]}]}"#;
    let mut sink = Collected::default();
    loupe_formats::myagent::read(doc, &source, &mut sink).unwrap();
    let reasons: Vec<String> = sink.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("traces[0]: not an object"));
    assert!(reasons[1].contains("runs[1]") && reasons[1].contains("start_time"));
    let kinds: Vec<&str> = sink.events.iter().map(|(_, e)| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "session_start",
            "tool_start",
            "tool_end",
            "tool_start",
            "session_end"
        ]
    );
    let tool_end = &sink.events[2].1;
    assert_eq!(tool_end.duration_ms, Some(250.0));
}

#[test]
fn fuzz_seeds_samples_and_their_mutations_never_panic() {
    let mut files = support::seed_files("read_myagent");
    for name in [
        "traces_export.json",
        "single_trace.json",
        "runs_export.json",
    ] {
        files.push(samples().join(name));
    }
    let source = Source {
        path: "m.json".into(),
        format: SourceFormat::MyAgent,
    };
    let mut inputs = 0;
    for file in files {
        for input in support::mutations(&std::fs::read(&file).unwrap()) {
            inputs += 1;
            if let Err(e) = loupe_formats::myagent::read(&input, &source, &mut Collected::default())
            {
                assert!(e.to_string().starts_with("m.json: "), "{e}");
            }
        }
    }
    assert!(inputs > 500);
}

#[test]
fn absurd_times_do_not_overflow() {
    let source = Source {
        path: "m.json".into(),
        format: SourceFormat::MyAgent,
    };
    let doc = br#"{"id":"t","start_time":-1e13,"end_time":1e13,"status":"success","runs":[
        {"id":"r","name":"x","run_type":"tool","start_time":-1e13,"end_time":1e13,"latency_ms":1e400}]}"#;
    let mut sink = Collected::default();
    // 1e400 is not a JSON number serde can hold: the file is invalid, cleanly.
    assert!(loupe_formats::myagent::read(doc, &source, &mut sink).is_err());
    let doc = br#"{"id":"t","start_time":-1e13,"end_time":1e13,"status":"success","runs":[
        {"id":"r","name":"x","run_type":"tool","start_time":-1e13,"end_time":1e13,"latency_ms":-3}]}"#;
    let mut sink = Collected::default();
    loupe_formats::myagent::read(doc, &source, &mut sink).unwrap();
    assert_eq!(sink.events.len(), 4);
    assert!(sink
        .events
        .iter()
        .all(|(_, e)| e.duration_ms.unwrap_or(0.0).is_finite()));
}

/// Everything a reader tells its sink, in order.
#[derive(Debug, Default, PartialEq)]
struct Told(Vec<String>);

impl loupe_formats::Sink for Told {
    fn event(&mut self, _: &Source, event: Event) {
        self.0
            .push(format!("event {} {}", event.session_id, event.event_id));
    }
    fn skip(&mut self, skipped: loupe_formats::Skipped) {
        self.0.push(format!("skip {}", skipped.reason));
    }
    fn session_done(&mut self, _: &Source, session_id: &str) {
        self.0.push(format!("done {session_id}"));
    }
}

/// What reading `compressed` (the export `text`, compressed) from a file
/// tells a sink, and what reading `text` in memory does.
fn from_disk_and_in_memory(text: &[u8], compressed: &[u8]) -> (Told, Told) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json.compressed");
    std::fs::write(&path, compressed).unwrap();
    let mut from_disk = Told::default();
    loupe_formats::read_file(
        &path,
        &loupe_formats::ReadOptions::default(),
        &mut from_disk,
    )
    .unwrap();
    let mut in_memory = Told::default();
    let source = Source {
        path,
        format: SourceFormat::MyAgent,
    };
    loupe_formats::myagent::read(text, &source, &mut in_memory).unwrap();
    (from_disk, in_memory)
}

#[test]
fn a_traces_export_is_read_trace_by_trace_from_disk_as_in_memory() {
    // A traces export of 16 MiB or more, or compressed (its size unknown),
    // is parsed from the file and each trace mapped and said done as soon
    // as it is parsed: the same events as reading it in memory, in the same
    // order, with each session said done after its last event. A trace
    // exported twice is skipped: its session was already done.
    let bytes = std::fs::read(samples().join("traces_export.json")).unwrap();
    let mut doc: Value = serde_json::from_slice(&bytes).unwrap();
    let first = doc["traces"][0].clone();
    doc["traces"].as_array_mut().unwrap().push(first);
    let text = serde_json::to_vec(&doc).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &text).unwrap();
    let (from_disk, in_memory) = from_disk_and_in_memory(&text, &gz.finish().unwrap());
    assert_eq!(from_disk, in_memory);

    let told = &from_disk.0;
    let done: Vec<&String> = told.iter().filter(|t| t.starts_with("done ")).collect();
    assert_eq!(done.len(), 3, "{told:?}");
    for d in done {
        let session = d.trim_start_matches("done ");
        let at = told.iter().position(|t| t == d).unwrap();
        assert!(
            told[at + 1..]
                .iter()
                .all(|t| !t.starts_with(&format!("event {session} "))),
            "events of {session} after it was said done"
        );
    }
    let last = told.last().unwrap();
    assert!(
        last.starts_with("skip traces[3]: trace ")
            && last.ends_with("was already read at traces[0]"),
        "{last}"
    );
}

#[test]
fn runs_exports_and_single_traces_read_from_disk_in_two_passes_as_in_memory() {
    // Compressed (size unknown), the file is parsed from disk, twice: the
    // first pass notes which trace each run belongs to, the second hands
    // each trace on once its last run is read. The same as in memory.
    for name in ["runs_export.json", "single_trace.json"] {
        let text = std::fs::read(samples().join(name)).unwrap();
        let compressed = zstd::encode_all(&text[..], 3).unwrap();
        let (from_disk, in_memory) = from_disk_and_in_memory(&text, &compressed);
        assert_eq!(from_disk, in_memory, "{name}");
        assert!(
            from_disk.0.iter().any(|t| t.starts_with("event ")),
            "{name}"
        );
    }
}
