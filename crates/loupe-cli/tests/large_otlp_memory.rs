//! A large binary OTLP export, from a file and from a pipe, is read in two
//! passes without being held: the peak memory of `loupe stats` stays below
//! the size of the export.
#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};

use prost::Message as _;

/// About 88 MB of protobuf: 400 conversations of 100 chat spans, each with
/// a 2 KB prompt.
fn export() -> Vec<u8> {
    let prompt = "Explain the failing test in module orders, step by step. ".repeat(36);
    let mut spans = Vec::new();
    for c in 0..400u32 {
        for step in 0..100u32 {
            let mut span = serde_json::json!({
                "traceId": format!("{:032x}", c + 1),
                "spanId": format!("{:016x}", ((c + 1) << 8) + step + 1),
                "name": "chat",
                "startTimeUnixNano": (1_772_280_000_000u64 + u64::from(c * 1000 + step)) * 1_000_000,
                "endTimeUnixNano": (1_772_280_000_000u64 + u64::from(c * 1000 + step) + 5) * 1_000_000,
                "attributes": [
                    { "key": "gen_ai.operation.name", "value": { "stringValue": "chat" } },
                    { "key": "gen_ai.conversation.id", "value": { "stringValue": format!("conv-{c}") } },
                    { "key": "gen_ai.prompt", "value": { "stringValue": prompt } },
                ],
            });
            span["kind"] = 1.into();
            spans.push(span);
        }
    }
    let document = serde_json::json!({ "resourceSpans": [{
        "resource": { "attributes": [] },
        "scopeSpans": [{ "spans": spans }]
    }]});
    loupe_formats::otlp::decode_request_json(document.to_string().as_bytes())
        .unwrap()
        .encode_to_vec()
}

/// Runs `loupe ARGS`, with `input` piped on standard input if given, and
/// returns its output and peak resident memory in bytes: the high-water
/// mark of its own address space (`VmHWM`), read from /proc while it runs.
/// (The children rusage of this process would not do: a child's count
/// includes this process's memory when it was spawned.)
fn run_measured(args: &[&str], input: Option<Vec<u8>>) -> (std::process::Output, u64) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loupe"))
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(text) = std::fs::read_to_string(&status) {
                    let kb = text
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                    peak = peak.max(kb.unwrap_or(0) * 1024);
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak
        })
    };
    let writer = input.map(|bytes| {
        let mut stdin = child.stdin.take().unwrap();
        std::thread::spawn(move || stdin.write_all(&bytes))
    });
    let output = child.wait_with_output().unwrap();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(writer) = writer {
        writer.join().unwrap().unwrap();
    }
    (output, watcher.join().unwrap())
}

#[test]
fn a_large_protobuf_export_is_read_without_being_held() {
    let bytes = export();
    let size = bytes.len() as u64;
    assert!(size > 80_000_000, "{size} bytes");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("export.pb");
    std::fs::write(&file, &bytes).unwrap();
    let (from_file, file_peak) =
        run_measured(&["stats", file.to_str().unwrap(), "--output", "json"], None);
    assert!(from_file.status.success());
    let (piped, piped_peak) = run_measured(&["stats", "-", "--output", "json"], Some(bytes));
    assert!(piped.status.success());
    assert_eq!(piped.stdout, from_file.stdout);
    let stats: serde_json::Value = serde_json::from_slice(&piped.stdout).unwrap();
    assert_eq!(stats["sessions"], 400);

    // Held whole, the request alone would take more than the file.
    for (how, peak) in [("from the file", file_peak), ("piped", piped_peak)] {
        assert!(peak > 0, "{how}: no memory figure read");
        assert!(
            peak < size,
            "{how}: peak memory {peak} bytes, not below the export's {size}"
        );
    }
}
