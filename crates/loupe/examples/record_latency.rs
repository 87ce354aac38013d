//! Caller-side latency and writer throughput of recording a typical LLM
//! response, 1,000,000 times, each call timed with `Instant`; then the same
//! with the naive baseline (serialise + write inline per event).
//!
//! `cargo run --release -p loupe --example record_latency [-- EVENTS [loupe]]`
//! prints one table and a machine-readable `RESULT` line per variant (with
//! `loupe`, only the loupe variant runs: for profiling). On Linux the loupe
//! line also carries the CPU time per event of the caller's thread and of
//! the writer thread (`/proc/self/task/*/schedstat`), steadier than wall
//! time on a shared machine.
#![allow(clippy::unwrap_used)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::{Duration, Instant};

use loupe::{LlmResponse, QueueFullPolicy, Recorder};
use loupe_model::{keys, Event, EventKind, Timestamp, TokenUsage};

fn usage(i: u64) -> TokenUsage {
    TokenUsage::otel(12_000 + i % 1000, 350)
        .with_cache(10_000, 1_200)
        .with_reasoning(40)
}

struct Stats {
    /// CPU ns per event of the calling thread and of the writer thread, when
    /// the platform reports per-thread CPU time.
    cpu_per_event: Option<(f64, f64)>,
    median_ns: f64,
    p99_ns: f64,
    p999_ns: f64,
    mean_ns: f64,
    events_per_s: f64,
}

fn stats(mut samples: Vec<u64>, total: Duration) -> Stats {
    let n = samples.len();
    let mean = samples.iter().sum::<u64>() as f64 / n as f64;
    samples.sort_unstable();
    let q = |p: f64| samples[((n as f64 * p) as usize).min(n - 1)] as f64;
    Stats {
        cpu_per_event: None,
        median_ns: q(0.5),
        p99_ns: q(0.99),
        p999_ns: q(0.999),
        mean_ns: mean,
        events_per_s: n as f64 / total.as_secs_f64(),
    }
}

/// Nanoseconds on CPU of one thread of this process (`/proc/.../schedstat`).
fn thread_cpu_ns(task_dir: &std::path::Path) -> Option<u64> {
    let stat = std::fs::read_to_string(task_dir.join("schedstat")).ok()?;
    stat.split_whitespace().next()?.parse().ok()
}

/// The CPU time of this process's `loupe-writer` thread (there is one while
/// exactly one session runs).
fn writer_cpu_ns() -> Option<u64> {
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "loupe-writer")
        })
        .and_then(|t| thread_cpu_ns(&t.path()))
}

fn caller_cpu_ns() -> Option<u64> {
    thread_cpu_ns(std::path::Path::new("/proc/thread-self"))
}

fn loupe_run(dir: &std::path::Path, events: u64) -> Stats {
    // `LOUPE_*` variables (e.g. LOUPE_BUFFER_SIZE, LOUPE_QUEUE_CAPACITY)
    // tune the run; the directory, id and queue policy stay the benchmark's.
    let session = Recorder::builder()
        .from_env()
        .dir(dir)
        .session_id("latency-loupe")
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let rec = session.recorder();
    let mut samples = Vec::with_capacity(events as usize);
    // The writer has named itself once it answered a flush.
    assert!(rec.flush());
    let (caller0, writer0) = (caller_cpu_ns(), writer_cpu_ns());
    let start = Instant::now();
    for i in 0..events {
        let t = Instant::now();
        rec.record_llm_response(&LlmResponse {
            model: Some("claude-sonnet-4-5"),
            provider: Some("anthropic"),
            usage: usage(i),
            stop_reason: Some("tool_use"),
            cost_usd: Some(0.0123),
            tool_calls: Some(2),
            duration_ms: Some(2400.0),
            ..Default::default()
        });
        samples.push(t.elapsed().as_nanos() as u64);
    }
    assert!(rec.flush());
    let total = start.elapsed();
    let (caller1, writer1) = (caller_cpu_ns(), writer_cpu_ns());
    assert_eq!(rec.summary().dropped, 0);
    let mut s = stats(samples, total);
    if let (Some(c0), Some(w0), Some(c1), Some(w1)) = (caller0, writer0, caller1, writer1) {
        let per = |a: u64, b: u64| b.saturating_sub(a) as f64 / events as f64;
        s.cpu_per_event = Some((per(c0, c1), per(w0, w1)));
    }
    s
}

fn naive_run(dir: &std::path::Path, events: u64) -> Stats {
    let mut out = BufWriter::new(File::create(dir.join("latency-naive.jsonl")).unwrap());
    let mut samples = Vec::with_capacity(events as usize);
    let start = Instant::now();
    for i in 0..events {
        let t = Instant::now();
        let mut ev = Event::new(
            format!("{i:020x}"),
            EventKind::LlmResponse,
            Timestamp::now(),
            "latency-naive",
        )
        .with(keys::MODEL, "claude-sonnet-4-5")
        .with(keys::PROVIDER, "anthropic")
        .with(keys::STOP_REASON, "tool_use")
        .with(keys::COST_USD, 0.0123)
        .with(keys::TOOL_CALLS, 2);
        ev.duration_ms = Some(2400.0);
        ev.set_usage(&usage(i));
        serde_json::to_writer(&mut out, &ev).unwrap();
        out.write_all(b"\n").unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
    }
    out.flush().unwrap();
    let total = start.elapsed();
    stats(samples, total)
}

fn main() {
    let events: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let loupe_only = std::env::args().nth(2).as_deref() == Some("loupe");
    let dir = tempfile::tempdir().unwrap();
    // Warm up page cache, allocator and the writer thread.
    loupe_run(dir.path(), events / 10);
    let l = loupe_run(dir.path(), events);
    let n = if loupe_only {
        None
    } else {
        Some(naive_run(dir.path(), events))
    };
    println!("{events} llm_response events, each call timed with Instant");
    println!(
        "{:<28} {:>10} {:>10} {:>10} {:>10} {:>14}",
        "variant", "median", "p99", "p99.9", "mean", "events/s"
    );
    let variants = [
        Some(("loupe (queue + writer)", "loupe", &l)),
        n.as_ref().map(|n| ("naive inline serde+write", "naive", n)),
    ];
    for (name, _, s) in variants.iter().flatten() {
        println!(
            "{:<28} {:>8.0}ns {:>8.0}ns {:>8.0}ns {:>8.0}ns {:>14.0}",
            name, s.median_ns, s.p99_ns, s.p999_ns, s.mean_ns, s.events_per_s
        );
    }
    for (_, name, s) in variants.iter().flatten() {
        let cpu = s.cpu_per_event.map_or(String::new(), |(caller, writer)| {
            format!(" caller_cpu_ns_per_event={caller:.0} writer_cpu_ns_per_event={writer:.0}")
        });
        println!(
            "RESULT {name} median_ns={:.0} p99_ns={:.0} p999_ns={:.0} events_per_s={:.0}{cpu}",
            s.median_ns, s.p99_ns, s.p999_ns, s.events_per_s
        );
    }
}
