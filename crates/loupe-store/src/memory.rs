//! The in-memory backend: `BTreeMap`s behind one lock. It is the reference
//! implementation of the query semantics in [`crate::query`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

use loupe_model::{Event, Timestamp};

use crate::derive::{searchable_texts, tool_run};
use crate::query::{text_terms, texts_match, ToolRunQuery};
use crate::{
    AppendOutcome, EventQuery, IngestedFile, ModelStats, PruneOutcome, RetentionPolicy, SearchHit,
    SessionFilter, SessionQuery, SessionRow, Store, StoreError, StoreErrorKind, StoreResult,
    StoreStats, ToolAggregate, ToolRun,
};

#[derive(Default)]
struct SessionEvents {
    /// Each stored event id and where its event is in `events`.
    ids: HashMap<String, usize>,
    events: Vec<Event>,
    last_ts: Option<Timestamp>,
}

#[derive(Default)]
struct Inner {
    events: BTreeMap<String, SessionEvents>,
    rows: BTreeMap<String, SessionRow>,
    files: BTreeMap<String, IngestedFile>,
}

impl Inner {
    fn last_activity(&self, session_id: &str) -> Option<Timestamp> {
        let from_events = self.events.get(session_id).and_then(|s| s.last_ts);
        let from_row = self
            .rows
            .get(session_id)
            .and_then(|r| r.ended_at.or(r.started_at));
        from_events.max(from_row)
    }

    fn matching_rows(&self, filter: &SessionFilter) -> Vec<&SessionRow> {
        let terms = filter.text.as_deref().map(text_terms);
        self.rows
            .values()
            .filter(|row| filter.matches_row(row))
            .filter(|row| match &terms {
                None => true,
                Some(terms) => self.events.get(&row.session_id).is_some_and(|s| {
                    s.events
                        .iter()
                        .any(|e| texts_match(&searchable_texts(e), terms))
                }),
            })
            .collect()
    }
}

/// A store held in memory; lost when dropped.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Inner>> {
        self.inner.lock().map_err(|_| {
            StoreError::new(
                StoreErrorKind::Backend,
                "memory store",
                "a thread panicked while holding the store lock",
            )
        })
    }
}

fn page<T>(items: Vec<T>, offset: usize, limit: Option<usize>) -> Vec<T> {
    items
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect()
}

impl Store for MemoryStore {
    fn append_events(&self, events: &[Event]) -> StoreResult<AppendOutcome> {
        let mut inner = self.lock()?;
        let mut outcome = AppendOutcome::default();
        for event in events {
            let session = inner.events.entry(event.session_id.clone()).or_default();
            match session.ids.get(&event.event_id) {
                None => {
                    session
                        .ids
                        .insert(event.event_id.clone(), session.events.len());
                    session.events.push(event.clone());
                    session.last_ts = session.last_ts.max(Some(event.timestamp));
                    outcome.inserted += 1;
                }
                Some(&at) => {
                    outcome.duplicates += 1;
                    let stored = &mut session.events[at];
                    if stored.timestamp == event.timestamp && event.is_fuller_than(stored) {
                        *stored = event.clone();
                    }
                }
            }
        }
        Ok(outcome)
    }

    fn upsert_sessions(&self, rows: &[SessionRow]) -> StoreResult<()> {
        let mut inner = self.lock()?;
        for row in rows {
            inner.rows.insert(row.session_id.clone(), row.clone());
        }
        Ok(())
    }

    fn sessions(&self, query: &SessionQuery) -> StoreResult<Vec<SessionRow>> {
        let inner = self.lock()?;
        let mut rows: Vec<SessionRow> = inner
            .matching_rows(&query.filter)
            .into_iter()
            .cloned()
            .collect();
        rows.sort_by(|a, b| query.sort.compare_in(a, b, query.descending));
        Ok(page(rows, query.offset, query.limit))
    }

    fn session(&self, session_id: &str) -> StoreResult<Option<SessionRow>> {
        Ok(self.lock()?.rows.get(session_id).cloned())
    }

    fn session_ids_with_prefix(&self, prefix: &str, limit: usize) -> StoreResult<Vec<String>> {
        let inner = self.lock()?;
        let mut ids: Vec<String> = inner
            .rows
            .keys()
            .chain(inner.events.keys())
            .filter(|id| id.starts_with(prefix))
            .cloned()
            .collect();
        ids.sort();
        ids.dedup();
        ids.truncate(limit);
        Ok(ids)
    }

    fn events(&self, session_id: &str, query: &EventQuery) -> StoreResult<Vec<Event>> {
        let inner = self.lock()?;
        let Some(session) = inner.events.get(session_id) else {
            return Ok(Vec::new());
        };
        let mut events: Vec<Event> = session
            .events
            .iter()
            .filter(|e| query.since.is_none_or(|t| e.timestamp >= t))
            .filter(|e| query.until.is_none_or(|t| e.timestamp < t))
            .cloned()
            .collect();
        events.sort_by_key(|e| e.timestamp); // stable: ties keep insertion order
        Ok(page(events, query.offset, query.limit))
    }

    fn tool_runs(&self, query: &ToolRunQuery) -> StoreResult<Vec<ToolRun>> {
        let inner = self.lock()?;
        let mut runs: Vec<ToolRun> = inner
            .events
            .values()
            .flat_map(|s| s.events.iter().filter_map(tool_run))
            .filter(|r| query.matches(r))
            .collect();
        runs.sort_by(ToolRunQuery::compare);
        Ok(page(runs, query.offset, query.limit))
    }

    fn search(&self, text: &str, limit: usize) -> StoreResult<Vec<SearchHit>> {
        let terms = text_terms(text);
        let inner = self.lock()?;
        let mut hits: Vec<SearchHit> = inner
            .events
            .values()
            .flat_map(|s| s.events.iter())
            .filter(|e| texts_match(&searchable_texts(e), &terms))
            .map(|e| SearchHit {
                session_id: e.session_id.clone(),
                event_id: e.event_id.clone(),
                kind: e.kind.as_str().to_owned(),
                timestamp: e.timestamp,
            })
            .collect();
        hits.sort_by(|a, b| {
            b.timestamp
                .cmp(&a.timestamp)
                .then_with(|| a.session_id.cmp(&b.session_id))
                .then_with(|| a.event_id.cmp(&b.event_id))
        });
        hits.truncate(limit);
        Ok(hits)
    }

    fn stats(&self, filter: &SessionFilter) -> StoreResult<StoreStats> {
        let inner = self.lock()?;
        let rows = inner.matching_rows(filter);
        let mut stats = StoreStats::default();
        let mut by_model: BTreeMap<String, ModelStats> = BTreeMap::new();
        let mut by_tool: BTreeMap<String, (ToolAggregate, f64, u64)> = BTreeMap::new();
        for row in &rows {
            stats.sessions += 1;
            add_metrics(&mut stats.totals, &row.metrics);
            row.add_to_models(&mut by_model);
            if let Some(s) = inner.events.get(&row.session_id) {
                stats.events += s.events.len() as u64;
                for run in s.events.iter().filter_map(tool_run) {
                    let (agg, sum, n) = by_tool.entry(run.tool.clone()).or_default();
                    agg.tool = run.tool.clone();
                    agg.runs += 1;
                    agg.failures += u64::from(!run.success);
                    if let Some(d) = run.duration_ms {
                        *sum += d;
                        *n += 1;
                    }
                }
            }
        }
        finish_totals(&mut stats.totals);
        stats.by_model = by_model.into_values().collect();
        stats.by_tool = by_tool
            .into_values()
            .map(|(mut agg, sum, n)| {
                agg.avg_duration_ms = if n == 0 { 0.0 } else { sum / n as f64 };
                agg
            })
            .collect();
        Ok(stats)
    }

    fn sessions_by_activity(&self) -> StoreResult<Vec<(Option<Timestamp>, String)>> {
        let inner = self.lock()?;
        let ids: BTreeSet<String> = inner
            .events
            .keys()
            .chain(inner.rows.keys())
            .cloned()
            .collect();
        Ok(ids
            .into_iter()
            .map(|id| (inner.last_activity(&id), id))
            .collect())
    }

    fn prune(&self, policy: &RetentionPolicy) -> StoreResult<PruneOutcome> {
        let mut by_activity = self.sessions_by_activity()?;
        let doomed = crate::query::sessions_to_prune(&mut by_activity, policy);
        let mut outcome = self.delete_sessions(&doomed)?;
        outcome.sessions.sort();
        Ok(outcome)
    }

    fn delete_sessions(&self, ids: &[String]) -> StoreResult<PruneOutcome> {
        let mut inner = self.lock()?;
        let mut outcome = PruneOutcome::default();
        for id in ids.iter().cloned() {
            if !inner.events.contains_key(&id) && !inner.rows.contains_key(&id) {
                continue;
            }
            if let Some(s) = inner.events.remove(&id) {
                outcome.events += s.events.len() as u64;
            }
            inner.rows.remove(&id);
            outcome.sessions.push(id);
        }
        Ok(outcome)
    }

    fn ingested_file(&self, path: &str) -> StoreResult<Option<IngestedFile>> {
        Ok(self.lock()?.files.get(path).cloned())
    }

    fn record_ingested_file(&self, file: &IngestedFile) -> StoreResult<()> {
        self.lock()?.files.insert(file.path.clone(), file.clone());
        Ok(())
    }
}

/// Adds one session's metrics into running totals.
pub(crate) fn add_metrics(t: &mut crate::SessionMetrics, m: &crate::SessionMetrics) {
    t.iterations += m.iterations;
    t.llm_calls += m.llm_calls;
    t.tool_calls += m.tool_calls;
    t.tool_errors += m.tool_errors;
    t.errors += m.errors;
    // Totals sum what is known; they stay unknown only when no session knows.
    fn add<T: std::ops::Add<Output = T> + Default + Copy>(total: &mut Option<T>, n: Option<T>) {
        if let Some(n) = n {
            *total = Some(total.unwrap_or_default() + n);
        }
    }
    add(&mut t.input_tokens, m.input_tokens);
    add(&mut t.output_tokens, m.output_tokens);
    add(&mut t.cache_read_tokens, m.cache_read_tokens);
    add(&mut t.cache_write_tokens, m.cache_write_tokens);
    add(&mut t.reasoning_tokens, m.reasoning_tokens);
    add(&mut t.cost_usd, m.cost_usd);
    t.compactions += m.compactions;
    t.subagents += m.subagents;
    t.total_only_tokens += m.total_only_tokens;
    for model in &m.unpriced_models {
        if !t.unpriced_models.contains(model) {
            t.unpriced_models.push(model.clone());
        }
    }
}

/// Recomputes the rate in summed totals.
pub(crate) fn finish_totals(t: &mut crate::SessionMetrics) {
    t.cache_hit_rate = t.input_tokens.map(|input| {
        if input == 0 {
            0.0
        } else {
            (t.cache_read_tokens.unwrap_or(0) as f64 / input as f64).min(1.0)
        }
    });
}
