//! Criterion benchmarks of recording: the caller's cost of one typical
//! `llm_response` (loupe vs serialising and writing inline, the naive
//! baseline), and writer throughput to disk. For per-call median/p99/p99.9
//! see `examples/record_latency.rs`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs::File;
use std::io::{BufWriter, Write};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use loupe::{LlmResponse, QueueFullPolicy, Recorder};
use loupe_model::{keys, Event, EventKind, Timestamp, TokenUsage};

fn response() -> LlmResponse<'static> {
    LlmResponse {
        model: Some("claude-sonnet-4-5"),
        provider: Some("anthropic"),
        usage: TokenUsage::otel(12_345, 350)
            .with_cache(10_000, 1_200)
            .with_reasoning(40),
        stop_reason: Some("tool_use"),
        cost_usd: Some(0.0123),
        tool_calls: Some(2),
        duration_ms: Some(2400.0),
        ..Default::default()
    }
}

fn naive_event(i: u64) -> Event {
    let mut ev = Event::new(
        format!("{i:020x}"),
        EventKind::LlmResponse,
        Timestamp::now(),
        "bench-naive",
    )
    .with(keys::MODEL, "claude-sonnet-4-5")
    .with(keys::PROVIDER, "anthropic")
    .with(keys::STOP_REASON, "tool_use")
    .with(keys::COST_USD, 0.0123)
    .with(keys::TOOL_CALLS, 2);
    ev.duration_ms = Some(2400.0);
    ev.set_usage(
        &TokenUsage::otel(12_345, 350)
            .with_cache(10_000, 1_200)
            .with_reasoning(40),
    );
    ev
}

fn caller_cost(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("record_llm_response");
    g.throughput(Throughput::Elements(1));
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("bench-loupe")
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let resp = response();
    g.bench_function("loupe", |b| b.iter(|| session.record_llm_response(&resp)));
    let mut out = BufWriter::new(File::create(dir.path().join("naive.jsonl")).unwrap());
    let mut i = 0u64;
    g.bench_function("naive_inline_serde_write", |b| {
        b.iter(|| {
            i += 1;
            serde_json::to_writer(&mut out, &naive_event(i)).unwrap();
            out.write_all(b"\n").unwrap();
        })
    });
    g.finish();
}

fn writer_throughput(c: &mut Criterion) {
    const N: u64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("to_disk_100k_events");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("bench-throughput")
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let resp = response();
    g.bench_function("loupe_record_then_flush", |b| {
        b.iter(|| {
            for _ in 0..N {
                session.record_llm_response(&resp);
            }
            assert!(session.flush());
        })
    });
    g.bench_function("naive_inline_serde_write", |b| {
        b.iter_batched(
            || BufWriter::new(File::create(dir.path().join("naive-tp.jsonl")).unwrap()),
            |mut out| {
                for i in 0..N {
                    serde_json::to_writer(&mut out, &naive_event(i)).unwrap();
                    out.write_all(b"\n").unwrap();
                }
                out.flush().unwrap();
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, caller_cost, writer_throughput);
criterion_main!(benches);
