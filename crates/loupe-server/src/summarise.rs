//! Keeps session summaries fresh while traces stream in, and applies the
//! retention policy on its schedule.
//!
//! The writer marks the sessions each commit touched; this thread rebuilds
//! their summary rows from the stored events (loupe-analyze) and announces
//! them on the live channel. A session is summarised again at most every
//! `max(summary_interval, 4 × its last summary time)`, so a huge session
//! streaming in costs at most a fifth of a core however fast it grows; and
//! after each busy round the thread rests three times as long as the round
//! took, so many small live sessions cannot take more than a quarter of a
//! core from ingest either. That rest is skipped when no commit arrived
//! during the round: once ingest pauses, the backlog of summaries is worked
//! off at full speed (sessions become listable sooner).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use loupe_analyze::AnalysisConfig;
use loupe_ingest::rows_from_events;
use loupe_model::Timestamp;
use loupe_store::{EventQuery, RetentionPolicy, SessionRow, SourceRef, Store, StoreResult};
use tokio::sync::broadcast;

use crate::config::ServerConfig;
use crate::live::LiveUpdate;
use crate::metrics::Metrics;

/// Sessions whose rows are upserted in one transaction.
const UPSERT_CHUNK: usize = 256;

/// Longest rest after a busy round of summaries.
const MAX_REST: Duration = Duration::from_secs(2);

/// How long the thread sleeps when nothing is ready.
const TICK: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Pending {
    dirty: HashMap<String, SourceRef>,
    stop: bool,
}

/// The summariser's inbox.
pub(crate) struct Summariser {
    pending: Mutex<Pending>,
    wake: Condvar,
    /// Commits marked so far: tells a round whether ingest went on meanwhile.
    commits: AtomicU64,
}

impl Summariser {
    pub(crate) fn new() -> Summariser {
        Summariser {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            commits: AtomicU64::new(0),
        }
    }

    /// Marks sessions as changed (with where their events came from).
    pub(crate) fn mark(&self, sessions: HashMap<String, SourceRef>) {
        if sessions.is_empty() {
            return;
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        for (id, source) in sessions {
            pending.dirty.entry(id).or_insert(source);
        }
        self.wake.notify_one();
    }

    /// Asks the thread to summarise everything still pending and stop.
    pub(crate) fn stop(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.stop = true;
        self.wake.notify_one();
    }

    pub(crate) fn spawn(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        live: broadcast::Sender<LiveUpdate>,
        config: ServerConfig,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("loupe-summariser".to_owned())
            .spawn(move || self.run(&*store, &live, &config, &metrics))
    }

    fn run(
        &self,
        store: &dyn Store,
        live: &broadcast::Sender<LiveUpdate>,
        config: &ServerConfig,
        metrics: &Metrics,
    ) {
        let mut not_before: HashMap<String, Instant> = HashMap::new();
        let mut last_retention = Instant::now();
        loop {
            let (ready, stopping) = self.take_ready(&not_before);
            let round = Instant::now();
            let commits_before = self.commits.load(Ordering::Relaxed);
            // Rows are upserted in chunks: one write transaction per chunk
            // rather than per session keeps the writer's lock free.
            for chunk in ready.chunks(UPSERT_CHUNK) {
                let mut rows = Vec::with_capacity(chunk.len());
                let mut gone = Vec::new();
                for (id, source) in chunk {
                    let started = Instant::now();
                    match summary_rows(store, id, source.clone(), &config.analysis) {
                        Ok(None) => gone.push(id.clone()),
                        Ok(Some(r)) => rows.extend(r),
                        Err(_) => {
                            metrics.summary_errors.inc();
                        }
                    }
                    let cost = started.elapsed();
                    not_before.insert(
                        id.clone(),
                        Instant::now() + config.summary_interval.max(cost * 4),
                    );
                }
                match store.upsert_sessions(&rows) {
                    Ok(()) => {
                        metrics.summaries.inc_by(rows.len() as u64);
                        for row in rows {
                            let _ = live.send(LiveUpdate::Session(Arc::new(row)));
                        }
                    }
                    Err(_) => {
                        metrics.summary_errors.inc();
                    }
                }
                // A session whose events were all moved into another (see
                // the writer's merges) keeps no row, even one written by a
                // summary that read its events just before they moved.
                if !gone.is_empty() && store.delete_sessions(&gone).is_err() {
                    metrics.summary_errors.inc();
                }
            }
            // Under heavy ingest, summaries give way: rest three times as long
            // as the round took, so they use at most a quarter of a core and
            // the writer keeps the rest. The rest ends as soon as a tick
            // passes without a commit: idle ingest needs no room.
            let spent = round.elapsed();
            let ingesting = self.commits.load(Ordering::Relaxed) != commits_before;
            if !stopping && ingesting && spent > Duration::from_millis(5) {
                self.rest_while_ingesting((spent * 3).min(MAX_REST));
            }
            let now = Instant::now();
            if not_before.len() > 10_000 {
                not_before.retain(|_, t| *t > now);
            }
            if let Some(retention) = &config.retention {
                if now.duration_since(last_retention) >= retention.every {
                    last_retention = now;
                    let policy = RetentionPolicy {
                        max_age_ms: retention.max_age_ms,
                        max_count: retention.max_count,
                        now: Timestamp::now(),
                    };
                    if let Ok(outcome) = store.prune(&policy) {
                        metrics
                            .pruned_sessions
                            .inc_by(outcome.sessions.len() as u64);
                    }
                }
            }
            if stopping {
                return;
            }
        }
    }

    /// Sleeps up to `rest`, in ticks, while commits keep arriving.
    fn rest_while_ingesting(&self, rest: Duration) {
        let until = Instant::now() + rest;
        loop {
            let seen = self.commits.load(Ordering::Relaxed);
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(TICK));
            if self.commits.load(Ordering::Relaxed) == seen {
                return;
            }
        }
    }

    /// Waits for work and takes the sessions whose turn has come (all of
    /// them when stopping). Returns whether the thread should stop after them.
    fn take_ready(
        &self,
        not_before: &HashMap<String, Instant>,
    ) -> (Vec<(String, SourceRef)>, bool) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.dirty.is_empty() && !pending.stop {
            pending = match self.wake.wait_timeout(pending, TICK) {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        }
        if pending.stop {
            let all = pending.dirty.drain().collect();
            return (all, true);
        }
        let now = Instant::now();
        let ready_ids: Vec<String> = pending
            .dirty
            .keys()
            .filter(|id| not_before.get(*id).is_none_or(|t| *t <= now))
            .cloned()
            .collect();
        let ready = ready_ids
            .into_iter()
            .filter_map(|id| pending.dirty.remove_entry(&id))
            .collect::<Vec<_>>();
        if ready.is_empty() && !pending.dirty.is_empty() {
            // Everything pending waits for its interval: don't spin.
            drop(pending);
            std::thread::sleep(TICK);
        }
        (ready, false)
    }
}

/// Rebuilds the summary rows of one session from its stored events (the
/// caller upserts them); `None` when it has no events (left).
pub(crate) fn summary_rows(
    store: &dyn Store,
    session_id: &str,
    source: SourceRef,
    analysis: &AnalysisConfig,
) -> StoreResult<Option<Vec<SessionRow>>> {
    let events = store.events(session_id, &EventQuery::default())?;
    if events.is_empty() {
        return Ok(None);
    }
    let source = store
        .session(session_id)?
        .and_then(|r| r.source)
        .unwrap_or(source);
    Ok(Some(rows_from_events(events, source, analysis)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rest_after_a_round_ends_at_once_when_ingest_is_idle() {
        let summariser = Summariser::new();
        let started = Instant::now();
        summariser.rest_while_ingesting(MAX_REST);
        // One tick without a commit ends it; the full rest would be 2 s.
        assert!(started.elapsed() < MAX_REST / 2, "{:?}", started.elapsed());
    }

    #[test]
    fn commits_are_counted_per_marked_batch() {
        let summariser = Summariser::new();
        summariser.mark(HashMap::new());
        assert_eq!(summariser.commits.load(Ordering::Relaxed), 0);
        let source = SourceRef {
            path: String::new(),
            format: loupe_model::SourceFormat::Otlp,
        };
        summariser.mark(HashMap::from([("s".to_owned(), source)]));
        assert_eq!(summariser.commits.load(Ordering::Relaxed), 1);
    }
}
