//! The write path's queue: handlers submit decoded events and wait; one
//! writer thread appends them to the store in group commits and then
//! acknowledges every request of the group. "Acknowledged means stored":
//! a request is answered 200 only after the transaction holding its events
//! committed.
//!
//! Memory stays bounded: the queue admits at most `queue_events` events
//! (a semaphore, acquired without waiting); a request that does not fit is
//! refused at once with 429 and `Retry-After`, so a client backs off instead
//! of the server buffering without limit.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use loupe_model::Event;
use loupe_store::{SourceRef, Store};
use tokio::sync::{broadcast, mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::body::Problem;
use crate::config::ServerConfig;
use crate::live::LiveUpdate;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::summarise::Summariser;

impl AppState {
    /// Admits one more ingest request (held until it is answered), or
    /// refuses with 503 and `Retry-After` when too many are in flight.
    pub(crate) fn admit_ingest(&self) -> Result<OwnedSemaphorePermit, Problem> {
        self.inflight.clone().try_acquire_owned().map_err(|_| {
            self.metrics.refused("too_many_requests");
            Problem::retry(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many ingest requests in flight; retry later",
                1,
            )
        })
    }

    /// Runs a body decoder on a blocking thread (decoding is CPU work that
    /// would stall the async workers), counting bad bodies.
    pub(crate) async fn decode_blocking<T: Send + 'static>(
        &self,
        decode: impl FnOnce() -> Result<T, Problem> + Send + 'static,
    ) -> Result<T, Problem> {
        let decoded = tokio::task::spawn_blocking(decode)
            .await
            .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        if let Err(problem) = &decoded {
            // A body too large once decompressed is refused for its size,
            // as a raw body over the limit is.
            self.metrics.refused(match problem.status {
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
                _ => "bad_request",
            });
        }
        decoded
    }
}

/// Why a submission was not stored.
#[derive(Debug)]
pub(crate) enum SubmitError {
    /// The queue is full: retry later.
    QueueFull,
    /// More events in one request than the queue holds at all.
    TooLarge { events: usize, capacity: usize },
    /// The server is shutting down.
    Stopped,
    /// The store refused the batch (disk full, locked...): retry later.
    Store(String),
}

struct Job {
    events: Vec<Event>,
    source: SourceRef,
    /// Sessions to merge once the events are stored: `(from, into)`.
    merges: Vec<(String, String)>,
    ack: oneshot::Sender<Result<(), String>>,
    /// Released when the job's events are committed (or failed).
    _permit: OwnedSemaphorePermit,
}

/// The handlers' side of the queue.
pub(crate) struct Ingestor {
    jobs: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    capacity: usize,
    metrics: Arc<Metrics>,
}

impl Ingestor {
    /// Starts the writer thread.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        config: &ServerConfig,
        summariser: Arc<Summariser>,
        live: broadcast::Sender<LiveUpdate>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(Ingestor, JoinHandle<()>)> {
        let (jobs, rx) = mpsc::unbounded_channel();
        let max_commit = config.max_commit_events;
        let writer_metrics = metrics.clone();
        let writer = std::thread::Builder::new()
            .name("loupe-writer".to_owned())
            .spawn(move || write_loop(rx, store, max_commit, summariser, live, writer_metrics))?;
        let capacity = config.queue_events.min(Semaphore::MAX_PERMITS);
        Ok((
            Ingestor {
                jobs,
                permits: Arc::new(Semaphore::new(capacity)),
                capacity,
                metrics,
            },
            writer,
        ))
    }

    /// Events accepted and not yet committed.
    pub(crate) fn queued(&self) -> usize {
        self.capacity - self.permits.available_permits()
    }

    /// Queues `events` and waits until they are stored.
    pub(crate) async fn submit(
        &self,
        events: Vec<Event>,
        source: SourceRef,
    ) -> Result<(), SubmitError> {
        self.submit_merging(events, source, Vec::new()).await
    }

    /// [`Ingestor::submit`], then moves the events stored under each
    /// `from` session into its `into` session (an OTLP trace whose session
    /// became known after some of its spans were stored under the trace id).
    pub(crate) async fn submit_merging(
        &self,
        events: Vec<Event>,
        source: SourceRef,
        merges: Vec<(String, String)>,
    ) -> Result<(), SubmitError> {
        if events.is_empty() && merges.is_empty() {
            return Ok(());
        }
        let n = events.len();
        if n > self.capacity {
            return Err(SubmitError::TooLarge {
                events: n,
                capacity: self.capacity,
            });
        }
        let permit = u32::try_from(n)
            .ok()
            .and_then(|n| self.permits.clone().try_acquire_many_owned(n).ok())
            .ok_or(SubmitError::QueueFull)?;
        let (ack, acked) = oneshot::channel();
        self.jobs
            .send(Job {
                events,
                source,
                merges,
                ack,
                _permit: permit,
            })
            .map_err(|_| SubmitError::Stopped)?;
        self.metrics.queue_events.set(self.queued() as i64);
        match acked.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SubmitError::Store(e)),
            Err(_) => Err(SubmitError::Stopped),
        }
    }
}

/// Takes every queued job (up to `max_commit` events), appends them in one
/// transaction, acknowledges them, then tells the summariser and the live
/// channel. Ends when every sender is gone and the queue is empty.
fn write_loop(
    mut rx: mpsc::UnboundedReceiver<Job>,
    store: Arc<dyn Store>,
    max_commit: usize,
    summariser: Arc<Summariser>,
    live: broadcast::Sender<LiveUpdate>,
    metrics: Arc<Metrics>,
) {
    let mut redirects = Redirects::default();
    // When the store last refused a batch: said on stderr at most once a
    // minute, so an operator sees a store that cannot be written (read-only
    // file, full disk) and the log is not flooded.
    let mut last_said: Option<Instant> = None;
    while let Some(first) = rx.blocking_recv() {
        let mut count = first.events.len();
        let mut jobs = vec![first];
        while count < max_commit {
            match rx.try_recv() {
                Ok(job) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(count);
        let mut touched: HashMap<String, SourceRef> = HashMap::new();
        let mut acks = Vec::with_capacity(jobs.len());
        let mut merges = Vec::new();
        for mut job in jobs {
            for (from, into) in job.merges.drain(..) {
                redirects.note(&from, &into);
                merges.push((from, into, job.source.clone()));
            }
            // Spans of a merged trace still under its trace id (a request
            // racing the one that named the session) go to the session.
            for e in &mut job.events {
                if let Some(into) = redirects.get(&e.session_id) {
                    e.session_id = into.to_owned();
                }
            }
            for e in &job.events {
                if !touched.contains_key(&e.session_id) {
                    touched.insert(e.session_id.clone(), job.source.clone());
                }
            }
            events.extend(job.events);
            acks.push((job.ack, job._permit));
        }
        let started = Instant::now();
        let result = store.append_events(&events);
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(outcome) => {
                metrics.commits.inc();
                metrics.stored_events.inc_by(outcome.inserted);
                metrics.duplicate_events.inc_by(outcome.duplicates);
                // Merged before the acknowledgement: once a request is
                // answered, its trace's spans are all in its session.
                for (from, into, source) in merges {
                    match loupe_ingest::merge_sessions(&*store, &from, &into) {
                        Ok(_moved) => {
                            let _ = live.send(LiveUpdate::Removed {
                                session_id: from.as_str().into(),
                                merged_into: into.as_str().into(),
                            });
                            touched.insert(into, source.clone());
                            // Summarised again: finds no events, drops the row.
                            touched.insert(from, source);
                        }
                        Err(_) => {
                            metrics.store_errors.inc();
                        }
                    }
                }
                // The queue space is free before the client hears back, so
                // its next request finds it free.
                for (ack, permit) in acks {
                    drop(permit);
                    let _ = ack.send(Ok(()));
                }
                // Events first: a live client sees them before the summary they change.
                announce(&live, events);
                summariser.mark(touched);
            }
            Err(e) => {
                metrics.store_errors.inc();
                let message = e.to_string();
                if last_said.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                    last_said = Some(Instant::now());
                    let mut stderr = std::io::stderr().lock();
                    let _ = writeln!(
                        stderr,
                        "loupe: the store refused {} events (clients were told to retry): {message}",
                        events.len()
                    );
                }
                for (ack, permit) in acks {
                    drop(permit);
                    let _ = ack.send(Err(message.clone()));
                }
            }
        }
    }
}

/// Sessions merged into others, remembered (boundedly) so that late events
/// of a merged session follow it.
#[derive(Default)]
struct Redirects(HashMap<String, String>);

impl Redirects {
    const CAPACITY: usize = 4096;

    fn note(&mut self, from: &str, into: &str) {
        if self.0.len() >= Self::CAPACITY {
            self.0.clear();
        }
        self.0.insert(from.to_owned(), into.to_owned());
    }

    fn get(&self, session: &str) -> Option<&str> {
        self.0.get(session).map(String::as_str)
    }
}

/// Sends the stored events, grouped by session, to live subscribers (if any:
/// grouping is skipped when nobody listens).
fn announce(live: &broadcast::Sender<LiveUpdate>, events: Vec<Event>) {
    if live.receiver_count() == 0 {
        return;
    }
    let mut by_session: HashMap<String, Vec<Event>> = HashMap::new();
    for e in events {
        match by_session.get_mut(&e.session_id) {
            Some(v) => v.push(e),
            None => {
                by_session.insert(e.session_id.clone(), vec![e]);
            }
        }
    }
    for (session_id, events) in by_session {
        let _ = live.send(LiveUpdate::Events {
            session_id: session_id.into(),
            events: events.into(),
        });
    }
}
