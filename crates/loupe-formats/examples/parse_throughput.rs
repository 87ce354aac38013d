//! Reads trace files or directories into sinks that only count, and prints
//! bytes, events, seconds and MB/s (bench/parse-throughput.sh).
//!
//! By default each file is counted on the worker that parses it
//! (`read_paths_per_file`, as `loupe stats` and `loupe analyze` read); with
//! `--shared-sink` every event goes to one sink on the calling thread
//! (`read_paths`, as `loupe view` and `loupe ingest` read).
//!
//! With `--serde validate` or `--serde value` it reads the same files the
//! same way (one file per worker) but only runs serde_json over each line,
//! into `IgnoredAny` (syntax check, nothing built) or into a
//! `serde_json::Value`: the ceiling a serde_json-based reader can reach on
//! these files, measured beside the readers.
//!
//! Usage: `parse_throughput PATH... [--threads N] [--shared-sink | --serde validate|value]`

use std::path::PathBuf;
use std::time::Instant;

use loupe_formats::{read_paths, read_paths_per_file, ReadOptions, Sink, Skipped, Source};
use loupe_model::Event;

// The `loupe` binary uses mimalloc; measure what users run.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Counts events and keeps a checksum of their token totals, so the parse
/// cannot be optimised away.
#[derive(Default)]
struct Counter {
    events: u64,
    skipped: u64,
    tokens: u64,
}

impl Sink for Counter {
    fn event(&mut self, _source: &Source, event: Event) {
        self.events += 1;
        self.tokens += event.usage().total();
    }
    fn skip(&mut self, _skipped: Skipped) {
        self.skipped += 1;
    }
}

/// Every file under `paths`, recursively, in a stable order.
fn files_under(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            let mut children: Vec<PathBuf> = std::fs::read_dir(&p)
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
            children.sort();
            stack.extend(children.into_iter().rev());
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs serde_json alone over every line of every file, one file per
/// worker thread; returns (bytes, lines, lines that failed).
fn serde_only(paths: &[PathBuf], threads: usize, build_values: bool) -> (u64, u64, u64) {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let files = files_under(paths);
    let next = AtomicUsize::new(0);
    let (bytes, lines, bad) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                let Ok(data) = std::fs::read(path) else {
                    continue;
                };
                let (mut n, mut failed) = (0, 0);
                for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    n += 1;
                    let ok = if build_values {
                        serde_json::from_slice::<serde_json::Value>(line).is_ok()
                    } else {
                        serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
                    };
                    failed += u64::from(!ok);
                }
                bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                lines.fetch_add(n, Ordering::Relaxed);
                bad.fetch_add(failed, Ordering::Relaxed);
            });
        }
    });
    (bytes.into_inner(), lines.into_inner(), bad.into_inner())
}

fn main() {
    let mut paths = Vec::new();
    let mut threads = 0;
    let mut shared = false;
    let mut serde_mode: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--shared-sink" {
            shared = true;
        } else if a == "--serde" {
            serde_mode = args.next();
        } else if a == "--threads" {
            threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    if let Some(mode) = serde_mode {
        let build = match mode.as_str() {
            "validate" => false,
            "value" => true,
            other => {
                eprintln!("error: --serde takes validate or value, not {other}");
                std::process::exit(2);
            }
        };
        let started = Instant::now();
        let (bytes, lines, bad) = serde_only(&paths, threads, build);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "serde={mode} bytes={bytes} lines={lines} failed={bad} secs={secs:.3} MB/s={:.1}",
            bytes as f64 / 1e6 / secs
        );
        return;
    }
    let mut sink = Counter::default();
    let started = Instant::now();
    let opts = ReadOptions {
        format: None,
        threads,
        ..ReadOptions::default()
    };
    let read = if shared {
        read_paths(&paths, &opts, &mut sink)
    } else {
        read_paths_per_file(
            &paths,
            &opts,
            &|_| Counter::default(),
            &|c| c,
            &mut |_, c, _| {
                sink.events += c.events;
                sink.skipped += c.skipped;
                sink.tokens += c.tokens;
            },
        )
    };
    let stats = match read {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let secs = started.elapsed().as_secs_f64();
    println!(
        "files={} bytes={} events={} skipped={} tokens={} secs={:.3} MB/s={:.1}",
        stats.files,
        stats.bytes,
        sink.events,
        sink.skipped,
        sink.tokens,
        secs,
        stats.bytes as f64 / 1e6 / secs
    );
}
