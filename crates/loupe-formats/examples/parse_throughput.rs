//! Reads trace files or directories into sinks that only count, and prints
//! bytes, events, seconds and MB/s (bench/parse-throughput.sh).
//!
//! By default each file is counted on the worker that parses it
//! (`read_paths_per_file`, as `loupe stats` and `loupe analyze` read); with
//! `--shared-sink` every event goes to one sink on the calling thread
//! (`read_paths`, as `loupe view` and `loupe ingest` read).
//!
//! Usage: `parse_throughput PATH... [--threads N] [--shared-sink]`

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

fn main() {
    let mut paths = Vec::new();
    let mut threads = 0;
    let mut shared = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--shared-sink" {
            shared = true;
        } else if a == "--threads" {
            threads = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        } else {
            paths.push(PathBuf::from(a));
        }
    }
    let mut sink = Counter::default();
    let started = Instant::now();
    let opts = ReadOptions {
        format: None,
        threads,
    };
    let read = if shared {
        read_paths(&paths, &opts, &mut sink)
    } else {
        read_paths_per_file(&paths, &opts, &Counter::default, &|c| c, &mut |_, c| {
            sink.events += c.events;
            sink.skipped += c.skipped;
            sink.tokens += c.tokens;
        })
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
        stats.files.len(),
        stats.bytes,
        sink.events,
        sink.skipped,
        sink.tokens,
        secs,
        stats.bytes as f64 / 1e6 / secs
    );
}
