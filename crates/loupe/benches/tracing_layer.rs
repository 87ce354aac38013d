//! Criterion benchmark of the `tracing` layer's cost per span (create,
//! enter, exit, close) on the agent's thread: without any subscriber, with
//! the layer over a recorder that records nothing (disabled or sampled
//! out), the same with a level filter added on top (`.with_filter`) or
//! given to `layer_with_filter`, and over a recording session.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use loupe::{QueueFullPolicy, Recorder};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// One span entered and left; each use is its own callsite, so the cases
/// do not share a cached interest.
macro_rules! one_span {
    () => {{
        let span = tracing::info_span!("step", i = 1u64);
        let _entered = span.enter();
    }};
}

fn per_span(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("tracing_span");
    g.throughput(Throughput::Elements(1));

    g.bench_function("no_subscriber", |b| b.iter(|| one_span!()));

    let off = Recorder::builder().sample_rate(0.0).start().unwrap();
    let subscriber = tracing_subscriber::registry().with(loupe::tracing::layer(off.recorder()));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("layer_not_recording", |b| b.iter(|| one_span!()));
    });

    let subscriber = tracing_subscriber::registry()
        .with(loupe::tracing::layer(off.recorder()).with_filter(LevelFilter::INFO));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("layer_not_recording_with_filter", |b| {
            b.iter(|| one_span!())
        });
    });

    let subscriber = tracing_subscriber::registry().with(loupe::tracing::layer_with_filter(
        off.recorder(),
        LevelFilter::INFO,
    ));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("layer_with_filter_not_recording", |b| {
            b.iter(|| one_span!())
        });
    });

    let on = Recorder::builder()
        .dir(dir.path())
        .session_id("bench-tracing")
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(loupe::tracing::layer(on.recorder()));
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function("layer_recording", |b| b.iter(|| one_span!()));
    });
    g.finish();
}

criterion_group!(benches, per_span);
criterion_main!(benches);
