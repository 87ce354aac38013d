//! `GET /metrics`: the server's own health in the Prometheus text format
//! (prometheus-client), so the ingest rate, refusals, queue depth and commit
//! latency can be scraped like any other service.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::state::AppState;

/// A label set of one `(name, value)` pair.
type Label = Vec<(&'static str, &'static str)>;

/// Every metric the server exports.
pub(crate) struct Metrics {
    registry: Registry,
    /// Events received per endpoint (`otlp`, `native`), before storing.
    pub(crate) received_events: Family<Label, Counter>,
    /// OTLP spans received / rejected (invalid ids).
    pub(crate) received_spans: Counter,
    pub(crate) rejected_spans: Counter,
    /// Requests refused, by reason.
    pub(crate) refused_requests: Family<Label, Counter>,
    /// Events newly stored / already present.
    pub(crate) stored_events: Counter,
    pub(crate) duplicate_events: Counter,
    /// Events accepted and not yet committed.
    pub(crate) queue_events: Gauge,
    /// Group commits and their duration.
    pub(crate) commits: Counter,
    pub(crate) commit_seconds: Histogram,
    pub(crate) store_errors: Counter,
    /// Time from receiving an ingest request to acknowledging it.
    pub(crate) ingest_seconds: Histogram,
    pub(crate) summaries: Counter,
    pub(crate) summary_errors: Counter,
    pub(crate) pruned_sessions: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("loupe");
        let m = Metrics {
            received_events: Family::default(),
            received_spans: Counter::default(),
            rejected_spans: Counter::default(),
            refused_requests: Family::default(),
            stored_events: Counter::default(),
            duplicate_events: Counter::default(),
            queue_events: Gauge::default(),
            commits: Counter::default(),
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            store_errors: Counter::default(),
            ingest_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            summaries: Counter::default(),
            summary_errors: Counter::default(),
            pruned_sessions: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "received_events",
            "Events received, by endpoint",
            m.received_events.clone(),
        );
        r.register(
            "received_spans",
            "OTLP spans received",
            m.received_spans.clone(),
        );
        r.register(
            "rejected_spans",
            "OTLP spans rejected (invalid trace or span id)",
            m.rejected_spans.clone(),
        );
        r.register(
            "refused_requests",
            "Ingest requests refused, by reason",
            m.refused_requests.clone(),
        );
        r.register(
            "stored_events",
            "Events newly stored",
            m.stored_events.clone(),
        );
        r.register(
            "duplicate_events",
            "Events received again and skipped",
            m.duplicate_events.clone(),
        );
        r.register(
            "queue_events",
            "Events accepted and not yet committed",
            m.queue_events.clone(),
        );
        r.register("commits", "Store transactions committed", m.commits.clone());
        r.register(
            "commit_seconds",
            "Duration of one store commit",
            m.commit_seconds.clone(),
        );
        r.register(
            "store_errors",
            "Store commits that failed",
            m.store_errors.clone(),
        );
        r.register(
            "ingest_seconds",
            "Time from receiving an ingest request to acknowledging it",
            m.ingest_seconds.clone(),
        );
        r.register(
            "summaries",
            "Session summaries rebuilt",
            m.summaries.clone(),
        );
        r.register(
            "summary_errors",
            "Session summaries that failed",
            m.summary_errors.clone(),
        );
        r.register(
            "pruned_sessions",
            "Sessions deleted by scheduled retention",
            m.pruned_sessions.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts a refused request.
    pub(crate) fn refused(&self, reason: &'static str) {
        self.refused_requests
            .get_or_create(&vec![("reason", reason)])
            .inc();
    }

    /// Counts events received on an endpoint.
    pub(crate) fn received(&self, endpoint: &'static str, events: usize) {
        self.received_events
            .get_or_create(&vec![("endpoint", endpoint)])
            .inc_by(events as u64);
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.queue_events.set(state.ingest.queued() as i64);
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut text, &state.metrics.registry);
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
}
