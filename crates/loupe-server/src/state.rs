//! What every handler shares, and the background threads behind it.

use std::ops::Deref;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use loupe_formats::otlp::TraceSessions;
use loupe_store::{SourceRef, Store};
use tokio::sync::{broadcast, watch, Semaphore};

use crate::analysis::AnalysisCache;
use crate::config::ServerConfig;
use crate::ingest::Ingestor;
use crate::live::LiveUpdate;
use crate::metrics::Metrics;
use crate::summarise::Summariser;

/// Live updates buffered per subscriber before it is told it lagged.
const LIVE_BUFFER: usize = 4096;

/// Ingest requests being decoded or waiting for their commit, at most
/// (beyond it: 503). Bounds the memory held by request bodies.
const MAX_INFLIGHT_INGEST: usize = 64;

/// OTLP traces whose session is remembered across requests.
const REMEMBERED_TRACES: usize = 100_000;

/// Shared state; cheap to clone.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) config: ServerConfig,
    pub(crate) ingest: Ingestor,
    pub(crate) live: broadcast::Sender<LiveUpdate>,
    pub(crate) metrics: Arc<Metrics>,
    /// Flips to `true` when the server starts shutting down.
    pub(crate) stop: watch::Receiver<bool>,
    /// Admission for ingest requests (see [`MAX_INFLIGHT_INGEST`]).
    pub(crate) inflight: Arc<Semaphore>,
    /// Full analyses recently shown.
    pub(crate) analyses: AnalysisCache,
    /// OTLP trace → session learned from earlier requests.
    pub(crate) trace_sessions: Arc<TraceSessions>,
    pub(crate) started: Instant,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The writer and summariser threads; joined after the HTTP side stopped.
pub(crate) struct Background {
    writer: JoinHandle<()>,
    summariser: Arc<Summariser>,
    summariser_thread: JoinHandle<()>,
}

impl Background {
    /// Waits for the writer to commit what is queued (it stops when the last
    /// queue sender is dropped), then for the summariser to catch up.
    pub(crate) fn join(self) {
        let _ = self.writer.join();
        self.summariser.stop();
        let _ = self.summariser_thread.join();
    }
}

impl AppState {
    pub(crate) fn start(
        config: ServerConfig,
        store: Arc<dyn Store>,
        stop: watch::Receiver<bool>,
    ) -> std::io::Result<(AppState, Background)> {
        let metrics = Arc::new(Metrics::new());
        let (live, _) = broadcast::channel(LIVE_BUFFER);
        let summariser = Arc::new(Summariser::new());
        // Sessions a server stopped before summarising them (a crash, a
        // kill) are summarised first; their stored row keeps their source.
        if let Ok(ids) = store.sessions_needing_summary(usize::MAX) {
            let unknown = SourceRef {
                path: String::new(),
                format: loupe_model::SourceFormat::Loupe,
            };
            summariser.mark(ids.into_iter().map(|id| (id, unknown.clone())).collect());
        }
        let summariser_thread = summariser.clone().spawn(
            store.clone(),
            live.clone(),
            config.clone(),
            metrics.clone(),
        )?;
        let (ingest, writer) = Ingestor::start(
            store.clone(),
            &config,
            summariser.clone(),
            live.clone(),
            metrics.clone(),
        )?;
        let state = AppState(Arc::new(Shared {
            store,
            config,
            ingest,
            live,
            metrics,
            stop,
            inflight: Arc::new(Semaphore::new(MAX_INFLIGHT_INGEST)),
            analyses: AnalysisCache::default(),
            trace_sessions: Arc::new(TraceSessions::new(REMEMBERED_TRACES)),
            started: Instant::now(),
        }));
        Ok((
            state,
            Background {
                writer,
                summariser,
                summariser_thread,
            },
        ))
    }
}
