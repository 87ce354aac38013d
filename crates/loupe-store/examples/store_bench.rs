//! Store benchmark (docs/benchmarks.md, "Store (issue 5)"): ingest rate into
//! SQLite, then on the resulting store the latency of a session list with
//! three filters, of one 100k-event session's events and of full-text search,
//! and bytes on disk per event.
//!
//! Usage: `cargo run --release -p loupe-store --example store_bench -- DB_PATH [EVENTS]`
//! (default 10,000,000 events; `bench/store-bench.sh` runs it).
//!
//! Synthetic data, deterministic: sessions of 1,000 events (plus one of
//! 100,000), iterations of six events (iteration start/end, LLM request with
//! a ~2 KB conversation drawn from 2,000 variants, LLM response of ~300 bytes
//! from 50,000 variants, tool start/end with arguments and a ~200-byte result
//! from 100,000 variants). Repetition rates are a guess at real agents, which
//! re-send their history and re-read the same files.

#![allow(clippy::unwrap_used)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use loupe_model::{keys, Event, EventKind, SessionStatus, Timestamp, TokenUsage};
use loupe_store::{
    EventQuery, SessionFilter, SessionMetrics, SessionQuery, SessionRow, SessionSort, SqliteStore,
    Store,
};
use serde_json::json;

const T0: i64 = 1_767_225_600_000_000;
const BATCH: usize = 20_000;
const SESSION_EVENTS: u64 = 1_000;
const BIG_SESSION_EVENTS: u64 = 100_000;
const AGENTS: &[&str] = &["coder", "reviewer", "planner", "tester", "researcher"];
const MODELS: &[&str] = &[
    "claude-sonnet-4-5",
    "gpt-5",
    "gemini-2.5-pro",
    "deepseek-chat",
];
const TOOLS: &[&str] = &[
    "bash",
    "read_file",
    "edit_file",
    "grep",
    "web_search",
    "list_dir",
];
const WORDS: &[&str] = &[
    "parser", "token", "cache", "budget", "retry", "config", "module", "network", "schema",
    "request", "function", "closure", "lifetime", "borrow", "thread", "channel", "socket",
    "buffer", "index", "query", "commit", "branch", "merge", "test", "assert", "panic", "error",
    "warning", "compile", "link", "deploy", "release", "metric", "latency",
];

/// Deterministic pseudo-random numbers (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A text of about `bytes` bytes, determined by `variant`.
fn text(kind: &str, variant: u64, bytes: usize) -> String {
    let mut rng = Rng(variant.wrapping_mul(31).wrapping_add(kind.len() as u64));
    let mut s = format!("{kind} {variant}:");
    while s.len() < bytes {
        s.push(' ');
        s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
    }
    s
}

struct Generator {
    rng: Rng,
}

impl Generator {
    /// Events `from..to` of session `session` (1-based iterations of six events).
    fn events(&mut self, session: &str, from: u64, to: u64, out: &mut Vec<Event>) {
        for n in from..to {
            let ts = Timestamp(T0 + (n as i64) * 250_000 + self.session_offset(session));
            let iteration = (n / 6 + 1) as u32;
            let id = format!("e{n}");
            let mut e = match n % 6 {
                0 => Event::new(id, EventKind::IterationStart, ts, session),
                1 => Event::new(id, EventKind::LlmRequest, ts, session).with(
                    keys::MESSAGES,
                    json!([{"role": "user", "content": text("history", self.rng.below(2_000), 2_000)}]),
                ),
                2 => {
                    let mut e = Event::new(id, EventKind::LlmResponse, ts, session)
                        .with(keys::MODEL, MODELS[self.rng.below(4) as usize])
                        .with(keys::CONTENT, text("answer", self.rng.below(50_000), 300));
                    e.set_usage(&TokenUsage::otel(12_000 + self.rng.below(4_000), 300).with_cache(9_000, 0));
                    e.duration_ms = Some(800.0 + self.rng.below(4_000) as f64);
                    e
                }
                3 => Event::new(id, EventKind::ToolStart, ts, session)
                    .with(keys::TOOL, TOOLS[self.rng.below(6) as usize]),
                4 => {
                    let mut e = Event::new(id, EventKind::ToolEnd, ts, session)
                        .with(keys::TOOL, TOOLS[self.rng.below(6) as usize])
                        .with(keys::ARGS, json!({"path": format!("src/module_{}.rs", self.rng.below(500))}))
                        .with(keys::RESULT, text("result", self.rng.below(100_000), 200));
                    e.duration_ms = Some(5.0 + self.rng.below(3_000) as f64);
                    e
                }
                _ => Event::new(id, EventKind::IterationEnd, ts, session),
            };
            e.iteration = Some(iteration);
            out.push(e);
        }
    }

    fn session_offset(&self, session: &str) -> i64 {
        // Sessions start a minute apart.
        session
            .trim_start_matches("sess-")
            .parse::<i64>()
            .unwrap_or(0)
            * 60_000_000
    }
}

fn row(index: u64, events: u64) -> SessionRow {
    let mut r = SessionRow::new(format!("sess-{index}"));
    r.agent_name = Some(AGENTS[(index % 5) as usize].to_owned());
    r.model = Some(MODELS[(index % 4) as usize].to_owned());
    r.status = if index.is_multiple_of(7) {
        SessionStatus::Failed
    } else {
        SessionStatus::Completed
    };
    r.started_at = Some(Timestamp(T0 + index as i64 * 60_000_000));
    r.ended_at = Some(Timestamp(
        T0 + index as i64 * 60_000_000 + events as i64 * 250_000,
    ));
    r.duration_ms = Some(events as f64 * 250.0);
    r.tools = TOOLS[..(index % 6 + 1) as usize]
        .iter()
        .map(|t| (*t).to_owned())
        .collect();
    r.tags = vec![format!("batch-{}", index % 10)];
    r.metrics = SessionMetrics {
        iterations: events / 6,
        llm_calls: events / 6,
        tool_calls: events / 6,
        tool_errors: index % 3,
        input_tokens: Some(events * 2_000),
        output_tokens: Some(events * 50),
        cost_usd: Some(events as f64 * 0.001),
        ..Default::default()
    };
    r
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat:
/// the machine is shared, so wall time alone overstates the cost.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based); 11 and 12 after the comm.
    (ticks(11) + ticks(12)) / 100.0
}

fn percentiles(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.95))
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        last = Some(f());
        samples.push(t.elapsed().as_secs_f64() * 1_000.0);
    }
    let (p50, p95) = percentiles(samples);
    (p50, p95, last.unwrap())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let db = args
        .next()
        .unwrap_or_else(|| "bench/out/store-bench.db".to_owned());
    let total: u64 = args.next().map_or(10_000_000, |n| n.parse().unwrap());
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(format!("{db}-wal"));
    let _ = std::fs::remove_file(format!("{db}-shm"));
    let store = SqliteStore::open(&db).unwrap();
    let mut gen = Generator { rng: Rng(42) };

    // Ingest: the big session first, then 1,000-event sessions.
    let mut plan: Vec<(String, u64)> = vec![("sess-0".to_owned(), BIG_SESSION_EVENTS.min(total))];
    let mut left = total.saturating_sub(BIG_SESSION_EVENTS);
    let mut index = 1;
    while left > 0 {
        let n = SESSION_EVENTS.min(left);
        plan.push((format!("sess-{index}"), n));
        left -= n;
        index += 1;
    }
    let mut batch = Vec::with_capacity(BATCH);
    let mut append_secs = 0.0;
    let mut stored = 0u64;
    let started = Instant::now();
    let cpu_started = cpu_secs();
    let mut append_cpu = 0.0;
    let flush =
        |batch: &mut Vec<Event>, append_secs: &mut f64, append_cpu: &mut f64, stored: &mut u64| {
            let t = Instant::now();
            let c = cpu_secs();
            let out = store.append_events(batch).unwrap();
            *append_secs += t.elapsed().as_secs_f64();
            *append_cpu += cpu_secs() - c;
            *stored += out.inserted;
            batch.clear();
        };
    for (session, n) in &plan {
        let mut from = 0;
        while from < *n {
            let to = (from + (BATCH - batch.len()) as u64).min(*n);
            gen.events(session, from, to, &mut batch);
            from = to;
            if batch.len() >= BATCH {
                flush(&mut batch, &mut append_secs, &mut append_cpu, &mut stored);
            }
        }
    }
    flush(&mut batch, &mut append_secs, &mut append_cpu, &mut stored);
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_started;
    let rows: Vec<SessionRow> = plan
        .iter()
        .enumerate()
        .map(|(i, (_, n))| row(i as u64, *n))
        .collect();
    for chunk in rows.chunks(1_000) {
        store.upsert_sessions(chunk).unwrap();
    }
    store.checkpoint().unwrap();
    let bytes = std::fs::metadata(&db).unwrap().len();
    println!("events stored: {stored} in {} sessions", plan.len());
    println!(
        "ingest: {:.0} events/s (append time {:.1} s; {:.0} events/s including generation, {:.1} s)",
        stored as f64 / append_secs,
        append_secs,
        stored as f64 / wall,
        wall
    );
    println!(
        "ingest CPU: {:.1} s in append ({:.0} events per CPU-second of append); {:.1} s with generation",
        append_cpu,
        stored as f64 / append_cpu,
        cpu
    );
    println!(
        "bytes on disk: {bytes} ({:.0} bytes/event)",
        bytes as f64 / stored as f64
    );

    let runs = 30;
    let three = SessionQuery {
        filter: SessionFilter {
            agent: Some("coder".into()),
            model: Some("gpt-5".into()),
            has_errors: Some(true),
            ..Default::default()
        },
        sort: SessionSort::StartedAt,
        descending: true,
        limit: Some(50),
        offset: 0,
    };
    let (p50, p95, found) = time(runs, || store.sessions(&three).unwrap().len());
    println!("session list, 3 filters (agent, model, has_errors), limit 50: p50 {p50:.2} ms, p95 {p95:.2} ms ({found} rows)");
    let ranged = SessionQuery {
        filter: SessionFilter {
            model: Some("claude-sonnet-4-5".into()),
            since: Some(Timestamp(T0 + 1_000 * 60_000_000)),
            min_cost_usd: Some(0.5),
            ..Default::default()
        },
        ..three.clone()
    };
    let (p50, p95, found) = time(runs, || store.sessions(&ranged).unwrap().len());
    println!("session list, 3 filters (model, since, min cost), limit 50: p50 {p50:.2} ms, p95 {p95:.2} ms ({found} rows)");
    // The call is timed to its return; freeing the 100k events afterwards
    // (the caller's cost, not the store's) is timed apart, before the next
    // call, so every call reuses the memory of the previous one. The first
    // call is also printed alone: it touches ~220 MB of memory the process
    // has not used yet, which on this VM costs 100-450 ms more depending on
    // whether the host still backs the pages (docs/benchmarks.md).
    const READS: usize = 21;
    let c = cpu_secs();
    let (mut calls, mut frees, mut found) = (Vec::new(), Vec::new(), 0);
    for _ in 0..READS {
        let t = Instant::now();
        let events = store.events("sess-0", &EventQuery::default()).unwrap();
        calls.push(t.elapsed().as_secs_f64() * 1_000.0);
        found = events.len();
        let t = Instant::now();
        drop(events);
        frees.push(t.elapsed().as_secs_f64() * 1_000.0);
    }
    let cpu_ms = (cpu_secs() - c) * 1_000.0 / READS as f64;
    let first = calls[0];
    let ((p50, p95), (free_p50, _)) = (percentiles(calls), percentiles(frees));
    println!("one session's events ({READS} reads): p50 {p50:.1} ms, p95 {p95:.1} ms wall to return them (the first {first:.1} ms), then {free_p50:.1} ms to free them; {cpu_ms:.0} ms CPU per run with the freeing ({found} events)");
    // What the web viewer's virtualised event list asks for while scrolling.
    for offset in [0, 50_000, 99_800] {
        let page = EventQuery {
            limit: Some(200),
            offset,
            ..EventQuery::default()
        };
        let (p50, p95, found) = time(runs, || store.events("sess-0", &page).unwrap().len());
        println!("a 200-event page of that session at offset {offset}: p50 {p50:.2} ms, p95 {p95:.2} ms ({found} events)");
    }
    let (p50, p95, found) = time(runs, || store.search("answer 4242", 50).unwrap().len());
    println!("full-text search \"answer 4242\", limit 50: p50 {p50:.2} ms, p95 {p95:.2} ms ({found} hits)");
    let (p50, p95, found) = time(runs, || store.search("result 77777", 50).unwrap().len());
    println!("full-text search \"result 77777\", limit 50: p50 {p50:.2} ms, p95 {p95:.2} ms ({found} hits)");
    let text_filter = SessionQuery {
        filter: SessionFilter {
            text: Some("answer 4242".into()),
            ..Default::default()
        },
        ..three
    };
    let (p50, p95, found) = time(runs, || store.sessions(&text_filter).unwrap().len());
    println!("session list by text: p50 {p50:.2} ms, p95 {p95:.2} ms ({found} rows)");
}
