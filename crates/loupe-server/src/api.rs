//! The REST API (read side), JSON throughout:
//! - `GET /api/v1/sessions`: summary rows with filters, sort and paging;
//! - `GET /api/v1/sessions/{id}`: one session's row and full analysis
//!   (the design §4 session object of `loupe analyze --output json`);
//! - `GET /api/v1/sessions/{id}/events`: its events in time order, paged;
//! - `GET /api/v1/search?q=`, `GET /api/v1/tool-runs`, `GET /api/v1/stats`;
//! - `GET /healthz`.
//!
//! Bad parameters answer 400 naming the parameter and what was expected.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use loupe_model::{parse_duration_ms, parse_time, SessionStatus, Timestamp};
use loupe_store::{EventQuery, SessionFilter, SessionQuery, SessionRow, SessionSort, ToolRunQuery};
use serde_json::{json, Value};

use crate::body::Problem;
use crate::state::AppState;

/// Page size when none is asked for, and the largest allowed.
const DEFAULT_SESSIONS: usize = 50;
const MAX_SESSIONS: usize = 1_000;
const DEFAULT_EVENTS: usize = 1_000;
const MAX_EVENTS: usize = 10_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/sessions", get(sessions))
        .route("/api/v1/sessions/{id}", get(session))
        .route("/api/v1/sessions/{id}/events", get(events))
        .route("/api/v1/search", get(search))
        .route("/api/v1/tool-runs", get(tool_runs))
        .route("/api/v1/stats", get(stats))
        // Any other API path: a JSON 404 like every other API error, not
        // an empty body.
        .route("/api/{*rest}", axum::routing::any(unknown_endpoint))
}

async fn unknown_endpoint(uri: axum::http::Uri) -> Problem {
    Problem::new(
        axum::http::StatusCode::NOT_FOUND,
        format!(
            "no API endpoint {}: see GET /api/v1/sessions, /api/v1/sessions/ID, /api/v1/sessions/ID/events, /api/v1/search, /api/v1/tool-runs, /api/v1/stats, POST /api/v1/events",
            uri.path()
        ),
    )
}

type Params = Query<HashMap<String, String>>;

async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
        "queue_events": state.ingest.queued(),
    }))
}

/// Runs a blocking store call off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Problem> + Send + 'static,
) -> Result<T, Problem> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Problem::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

fn number<T: std::str::FromStr>(
    params: &HashMap<String, String>,
    name: &str,
) -> Result<Option<T>, Problem> {
    params
        .get(name)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse().map_err(|_| {
                Problem::bad_request(format!("parameter {name}: expected a number, got {v:?}"))
            })
        })
        .transpose()
}

fn text(params: &HashMap<String, String>, name: &str) -> Option<String> {
    params.get(name).filter(|v| !v.trim().is_empty()).cloned()
}

fn list(params: &HashMap<String, String>, name: &str) -> Vec<String> {
    params
        .get(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn time(params: &HashMap<String, String>, name: &str) -> Result<Option<Timestamp>, Problem> {
    text(params, name)
        .map(|v| parse_time(&v).map_err(|e| Problem::bad_request(format!("parameter {name}: {e}"))))
        .transpose()
}

fn duration(params: &HashMap<String, String>, name: &str) -> Result<Option<f64>, Problem> {
    text(params, name)
        .map(|v| {
            parse_duration_ms(&v)
                .map_err(|e| Problem::bad_request(format!("parameter {name}: {e}")))
        })
        .transpose()
}

fn boolean(params: &HashMap<String, String>, name: &str) -> Result<Option<bool>, Problem> {
    match text(params, name).as_deref() {
        None => Ok(None),
        Some("true" | "1" | "yes") => Ok(Some(true)),
        Some("false" | "0" | "no") => Ok(Some(false)),
        Some(v) => Err(Problem::bad_request(format!(
            "parameter {name}: expected true or false, got {v:?}"
        ))),
    }
}

/// The session filter of a query string (shared with the web viewer).
pub(crate) fn session_filter(params: &HashMap<String, String>) -> Result<SessionFilter, Problem> {
    let status = text(params, "status")
        .map(|s| match s.as_str() {
            "running" => Ok(SessionStatus::Running),
            "completed" => Ok(SessionStatus::Completed),
            "failed" => Ok(SessionStatus::Failed),
            "cancelled" => Ok(SessionStatus::Cancelled),
            other => Err(Problem::bad_request(format!(
                "parameter status: expected running, completed, failed or cancelled, got {other:?}"
            ))),
        })
        .transpose()?;
    Ok(SessionFilter {
        session_ids: list(params, "session"),
        agent: text(params, "agent"),
        name_contains: text(params, "name"),
        model: text(params, "model"),
        status,
        since: time(params, "since")?,
        until: time(params, "until")?,
        has_errors: boolean(params, "has_errors")?,
        min_duration_ms: duration(params, "min_duration")?,
        max_duration_ms: duration(params, "max_duration")?,
        min_cost_usd: number(params, "min_cost")?,
        max_cost_usd: number(params, "max_cost")?,
        min_tokens: number(params, "min_tokens")?,
        max_tokens: number(params, "max_tokens")?,
        tools: list(params, "tool"),
        tags: list(params, "tag"),
        metadata: list(params, "meta")
            .into_iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| {
                        Problem::bad_request(format!(
                            "parameter meta: expected KEY=VALUE, got {kv:?}"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
        text: text(params, "q"),
    })
}

/// The session query (filter, sort, page) of a query string.
pub(crate) fn session_query(params: &HashMap<String, String>) -> Result<SessionQuery, Problem> {
    let sort = match text(params, "sort") {
        None => SessionSort::StartedAt,
        Some(s) => SessionSort::from_name(&s).ok_or_else(|| {
            Problem::bad_request(format!(
                "parameter sort: expected started_at, duration, cost, tokens or name, got {s:?}"
            ))
        })?,
    };
    let descending = match text(params, "order").as_deref() {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(o) => {
            return Err(Problem::bad_request(format!(
                "parameter order: expected asc or desc, got {o:?}"
            )))
        }
    };
    let limit = number::<usize>(params, "limit")?
        .unwrap_or(DEFAULT_SESSIONS)
        .min(MAX_SESSIONS);
    Ok(SessionQuery {
        filter: session_filter(params)?,
        sort,
        descending,
        limit: Some(limit),
        offset: number(params, "offset")?.unwrap_or(0),
    })
}

/// One page of the sessions a query string asks for (shared with the web
/// viewer's list).
pub(crate) struct SessionPage {
    pub(crate) rows: Vec<SessionRow>,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
    pub(crate) has_more: bool,
}

pub(crate) async fn session_page(
    state: &AppState,
    params: &HashMap<String, String>,
) -> Result<SessionPage, Problem> {
    let mut query = session_query(params)?;
    let limit = query.limit.unwrap_or(DEFAULT_SESSIONS);
    let offset = query.offset;
    // One more than asked tells whether another page exists.
    query.limit = Some(limit + 1);
    let store = state.store.clone();
    let mut rows = blocking(move || Ok(store.sessions(&query)?)).await?;
    let has_more = rows.len() > limit;
    rows.truncate(limit);
    Ok(SessionPage {
        rows,
        offset,
        limit,
        has_more,
    })
}

async fn sessions(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, Problem> {
    let page = session_page(&state, &params).await?;
    Ok(Json(json!({
        "sessions": page.rows,
        "offset": page.offset,
        "limit": page.limit,
        "has_more": page.has_more,
    })))
}

async fn session(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let shared = state.clone();
    blocking(move || {
        let (row, analysis) = shared
            .analyses
            .get(&*shared.store, &id, &shared.config.analysis)?
            .ok_or_else(|| Problem::not_found(format!("no session {id:?}")))?;
        Ok(Json(json!({
            "session": row,
            "analysis": loupe_report::json::SessionJson::new(&analysis),
        })))
    })
    .await
}

async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Result<Json<Value>, Problem> {
    let limit = number::<usize>(&params, "limit")?
        .unwrap_or(DEFAULT_EVENTS)
        .min(MAX_EVENTS);
    let offset = number::<usize>(&params, "offset")?.unwrap_or(0);
    let query = EventQuery {
        since: time(&params, "since")?,
        until: time(&params, "until")?,
        offset,
        limit: Some(limit + 1),
    };
    let store = state.store.clone();
    blocking(move || {
        let mut events = store.events(&id, &query)?;
        if events.is_empty() && offset == 0 && store.session(&id)?.is_none() {
            return Err(Problem::not_found(format!("no session {id:?}")));
        }
        let has_more = events.len() > limit;
        events.truncate(limit);
        Ok(Json(json!({
            "session_id": id,
            "offset": offset,
            "limit": limit,
            "has_more": has_more,
            "events": events,
        })))
    })
    .await
}

async fn search(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, Problem> {
    let q = text(&params, "q").ok_or_else(|| Problem::bad_request("parameter q is required"))?;
    let limit = number::<usize>(&params, "limit")?
        .unwrap_or(50)
        .min(MAX_SESSIONS);
    let store = state.store.clone();
    blocking(move || Ok(Json(json!({ "hits": store.search(&q, limit)? })))).await
}

async fn tool_runs(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, Problem> {
    let query = ToolRunQuery {
        session_ids: list(&params, "session"),
        tools: list(&params, "tool"),
        min_duration_ms: duration(&params, "min_duration")?,
        success_only: boolean(&params, "success_only")?.unwrap_or(false),
        limit: Some(
            number::<usize>(&params, "limit")?
                .unwrap_or(100)
                .min(MAX_EVENTS),
        ),
        offset: number(&params, "offset")?.unwrap_or(0),
    };
    let store = state.store.clone();
    blocking(move || Ok(Json(json!({ "tool_runs": store.tool_runs(&query)? })))).await
}

async fn stats(
    State(state): State<AppState>,
    Query(params): Params,
) -> Result<Json<Value>, Problem> {
    let filter = session_filter(&params)?;
    let store = state.store.clone();
    blocking(move || {
        Ok(Json(
            serde_json::to_value(store.stats(&filter)?).unwrap_or(Value::Null),
        ))
    })
    .await
}
