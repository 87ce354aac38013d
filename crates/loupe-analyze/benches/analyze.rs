//! Analysis throughput on a synthetic 200,000-event session (design §5:
//! full analysis ≥ 50× attocode-py's analysers). Run with
//! `cargo bench -p loupe-analyze --bench analyze`.

#![allow(clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use loupe_analyze::{analyze, assemble, AnalysisConfig, SessionSource};
use loupe_model::{keys, Event, EventKind, SourceFormat, Timestamp, TokenUsage};
use serde_json::json;

/// A session of `iterations` × 10 events: iteration markers, an LLM call
/// pair and three tool calls with arguments, one failing.
fn synthetic(iterations: u32) -> Vec<Event> {
    let mut out = Vec::with_capacity(iterations as usize * 10 + 2);
    let mut t = 1_772_280_000_000_000i64;
    let mut n = 0u64;
    let mut ev = |kind: EventKind, it: Option<u32>, t: &mut i64| {
        *t += 50_000;
        n += 1;
        let mut e = Event::new(format!("e{n}"), kind, Timestamp(*t), "bench");
        e.iteration = it;
        e
    };
    out.push(ev(EventKind::SessionStart, None, &mut t).with(keys::MODEL, "claude-sonnet-4-5"));
    for i in 1..=iterations {
        let it = Some(i);
        out.push(ev(EventKind::IterationStart, it, &mut t));
        out.push(ev(EventKind::LlmRequest, it, &mut t).with(keys::MODEL, "claude-sonnet-4-5"));
        let mut r = ev(EventKind::LlmResponse, it, &mut t).with(keys::MODEL, "claude-sonnet-4-5");
        r.duration_ms = Some(1200.0);
        r.set_usage(
            &TokenUsage::otel(20_000 + u64::from(i % 50) * 100, 300).with_cache(15_000, 500),
        );
        out.push(r);
        for (k, tool) in ["read_file", "grep", "bash"].iter().enumerate() {
            out.push(ev(EventKind::ToolStart, it, &mut t).with(keys::TOOL, *tool));
            let kind = if k == 2 && i % 7 == 0 {
                EventKind::ToolError
            } else {
                EventKind::ToolEnd
            };
            let mut e = ev(kind, it, &mut t).with(keys::TOOL, *tool).with(
                keys::ARGS,
                json!({"path": format!("src/m{}.rs", i % 97), "n": k}),
            );
            e.duration_ms = Some(40.0 + f64::from(i % 13));
            out.push(e);
        }
        let mut end = ev(EventKind::IterationEnd, it, &mut t);
        end.duration_ms = Some(2000.0);
        out.push(end);
    }
    out.push(ev(EventKind::SessionEnd, None, &mut t).with(keys::STATUS, "completed"));
    out
}

fn bench(c: &mut Criterion) {
    let events = synthetic(20_000); // 200,002 events
    let source = SessionSource {
        path: "bench.jsonl".into(),
        format: SourceFormat::Loupe,
    };
    let session = assemble(events.clone(), source.clone()).pop().unwrap();
    let mut g = c.benchmark_group("analyze_200k_events");
    g.throughput(Throughput::Elements(events.len() as u64));
    g.sample_size(10);
    g.bench_function("assemble", |b| {
        b.iter_batched(
            || events.clone(),
            |ev| assemble(ev, source.clone()),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("analyze_full", |b| {
        b.iter(|| analyze(&session, &AnalysisConfig::default()))
    });
    let summary = AnalysisConfig {
        summary_only: true,
        ..Default::default()
    };
    g.bench_function("analyze_summary_only", |b| {
        b.iter(|| analyze(&session, &summary))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
