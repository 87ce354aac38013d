//! Session summaries: rebuild a session's [`SessionRow`] from its stored
//! events with loupe-analyze. Shared by file ingest and the server, which
//! re-summarises the sessions a batch touched.

use std::collections::{BTreeMap, BTreeSet};

use loupe_analyze::{AnalysisConfig, SessionAnalysis, SessionSource};
use loupe_model::{keys, Event, SourceFormat};
use loupe_store::{EventQuery, SessionMetrics, SessionRow, SourceRef, Store};

/// Sessions summarised between two upserts.
const SUMMARY_CHUNK: usize = 512;

/// Rebuilds the summary rows of `sessions` from their stored events, on one
/// thread per core (reads go to the store's pool of read connections), and
/// upserts them in id order, `SUMMARY_CHUNK` at a time.
pub fn summarise(
    store: &dyn Store,
    sessions: &BTreeSet<String>,
    sources: &BTreeMap<String, SourceRef>,
    config: &AnalysisConfig,
) -> anyhow::Result<u64> {
    let ids: Vec<&String> = sessions.iter().collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    for chunk in ids.chunks(SUMMARY_CHUNK) {
        let per_thread = chunk.len().div_ceil(threads).max(1);
        let parts: Vec<anyhow::Result<Vec<SessionRow>>> = if threads <= 1 || chunk.len() == 1 {
            vec![summarise_some(store, chunk, sources, config)]
        } else {
            std::thread::scope(|scope| {
                let workers: Vec<_> = chunk
                    .chunks(per_thread)
                    .map(|part| scope.spawn(move || summarise_some(store, part, sources, config)))
                    .collect();
                workers
                    .into_iter()
                    .map(|w| match w.join() {
                        Ok(rows) => rows,
                        Err(panic) => std::panic::resume_unwind(panic),
                    })
                    .collect()
            })
        };
        let mut rows = Vec::with_capacity(chunk.len());
        for part in parts {
            rows.extend(part?);
        }
        store.upsert_sessions(&rows)?;
    }
    Ok(sessions.len() as u64)
}

/// The summary rows of `ids`, in order.
fn summarise_some(
    store: &dyn Store,
    ids: &[&String],
    sources: &BTreeMap<String, SourceRef>,
    config: &AnalysisConfig,
) -> anyhow::Result<Vec<SessionRow>> {
    let mut rows = Vec::with_capacity(ids.len());
    for &id in ids {
        let events = store.events(id, &EventQuery::default())?;
        if events.is_empty() {
            continue;
        }
        let source = match sources.get(id) {
            Some(s) => s.clone(),
            None => match store.session(id)?.and_then(|r| r.source) {
                Some(s) => s,
                None => SourceRef {
                    path: String::new(),
                    format: SourceFormat::Loupe,
                },
            },
        };
        rows.extend(rows_from_events(events, source, config));
    }
    Ok(rows)
}

/// The summary rows of one session's events (one per session they assemble
/// into), read from `source`. Shared by file ingest and the server. A row needs
/// metrics, issues and tools, not the span tree or the timeline, so those are
/// not built.
pub fn rows_from_events(
    events: Vec<Event>,
    source: SourceRef,
    config: &AnalysisConfig,
) -> Vec<SessionRow> {
    let session_source = SessionSource {
        path: source.path.clone(),
        format: source.format,
    };
    let config = AnalysisConfig {
        summary_only: true,
        ..config.clone()
    };
    loupe_analyze::assemble(events, session_source)
        .iter()
        .map(|session| {
            let analysis = loupe_analyze::analyze(session, &config);
            session_row(&analysis, &session.events, source.clone())
        })
        .collect()
}

/// Maps an analysis to the store's summary row. Agent name, tags and
/// metadata come from `session_start`'s payload.
pub fn session_row(a: &SessionAnalysis, events: &[Event], source: SourceRef) -> SessionRow {
    let start = events
        .iter()
        .find(|e| e.kind == loupe_model::EventKind::SessionStart);
    // The main agent's name: a subagent's (on its spawn, its events) is not.
    let agent_name = start
        .and_then(|e| e.str(keys::AGENT_NAME))
        .or_else(|| {
            events
                .iter()
                .filter(|e| {
                    !e.is_subagent() && e.kind.category() != loupe_model::Category::Subagent
                })
                .find_map(|e| e.str(keys::AGENT_NAME))
        })
        .map(str::to_owned);
    let tags = start
        .and_then(|e| e.data.get(keys::TAGS))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let metadata = start
        .and_then(|e| e.data.get(keys::METADATA))
        .and_then(|v| v.as_object())
        .cloned()
        .unwrap_or_default();
    let m = &a.metrics;
    let tokens = |n: u64| a.tokens_reported().then_some(n);
    SessionRow {
        session_id: a.session_id.clone(),
        agent_name,
        task: a.task.clone(),
        model: a.model.clone(),
        status: a.status,
        started_at: a.started_at,
        ended_at: a.ended_at,
        duration_ms: a.duration_ms,
        tags,
        metadata,
        source: Some(source),
        tools: a.tools.iter().map(|t| t.name.clone()).collect(),
        metrics: SessionMetrics {
            iterations: m.iterations,
            llm_calls: m.llm_calls,
            tool_calls: m.tool_calls,
            tool_errors: m.tool_errors,
            errors: m.errors,
            // Unknown stays unknown, as `loupe view -o json` says it.
            input_tokens: tokens(m.tokens.input_tokens),
            output_tokens: tokens(m.tokens.output_tokens),
            cache_read_tokens: tokens(m.tokens.cache_read_tokens),
            cache_write_tokens: tokens(m.tokens.cache_write_tokens),
            reasoning_tokens: tokens(m.tokens.reasoning_tokens),
            cache_hit_rate: a.known_cache_hit_rate(),
            cost_usd: a.known_cost_usd(),
            compactions: m.compactions,
            subagents: m.subagents,
            total_only_tokens: m.tokens.total_only_tokens,
            unpriced_models: m.unpriced_models.clone(),
        },
        efficiency_score: Some(a.efficiency_score),
        models: a
            .models
            .iter()
            .map(|u| loupe_store::ModelUsage {
                model: u.model.clone(),
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                cost_usd: u.cost_usd,
            })
            .collect(),
    }
}
