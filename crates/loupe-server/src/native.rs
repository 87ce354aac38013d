//! `POST /api/v1/events`: batches of canonical JSONL (docs/format.md), the
//! `loupe` recording library's HTTP sink and anything that writes Loupe's
//! own format. A batch is all or nothing: if any line is malformed the
//! answer is 400 naming each bad line and why, and nothing is stored.
//! Success: `{"accepted": N}` once the events are committed.

use std::path::Path;
use std::time::Instant;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use loupe_formats::{read_bytes_from, CollectedEvents};
use loupe_model::SourceFormat;
use loupe_store::SourceRef;

use crate::body::{self, Problem};
use crate::otlp::submit_problem;
use crate::state::AppState;

/// Where natively sent sessions say they came from.
pub(crate) const NATIVE_SOURCE_PATH: &str = "POST /api/v1/events";

/// Bad lines quoted in a 400 answer, at most.
const MAX_QUOTED: usize = 20;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/events", post(post_events))
}

async fn post_events(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let received = Instant::now();
    if let Err(problem) = check_media_type(&headers) {
        state.metrics.refused("unsupported_media_type");
        return problem.into_response();
    }
    let body = match body::read_limited(body, state.config.max_body_bytes, |why| {
        state.metrics.refused(why)
    })
    .await
    {
        Ok(body) => body,
        Err(problem) => return problem.into_response(),
    };
    match ingest(&state, headers, body).await {
        Ok(accepted) => {
            state
                .metrics
                .ingest_seconds
                .observe(received.elapsed().as_secs_f64());
            Json(serde_json::json!({ "accepted": accepted })).into_response()
        }
        Err(problem) => problem.into_response(),
    }
}

/// Canonical JSONL comes as NDJSON/JSONL/JSON or plain text; no type, or
/// curl's default form type, is taken as JSONL too. Anything else (OTLP
/// protobuf, images...) is a client mistake: 415.
fn check_media_type(headers: &HeaderMap) -> Result<(), Problem> {
    match body::media_type(headers).as_str() {
        ""
        | "application/x-ndjson"
        | "application/jsonl"
        | "application/json-lines"
        | "application/json"
        | "text/plain"
        | "application/x-www-form-urlencoded" => Ok(()),
        "application/x-protobuf" | "application/protobuf" => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "this endpoint takes canonical JSONL; send OTLP protobuf to /v1/traces",
        )),
        other => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "unsupported Content-Type {other:?}: send canonical JSONL as application/x-ndjson"
            ),
        )),
    }
}

async fn ingest(state: &AppState, headers: HeaderMap, body: Bytes) -> Result<usize, Problem> {
    let _admitted = state.admit_ingest()?;
    let max_decoded = state.config.max_decoded_bytes;
    let events = state
        .decode_blocking(move || parse(&headers, body, max_decoded))
        .await?;
    let n = events.len();
    state.metrics.received("native", n);
    let source = SourceRef {
        path: NATIVE_SOURCE_PATH.to_owned(),
        format: SourceFormat::Loupe,
    };
    state
        .ingest
        .submit(events, source)
        .await
        .map_err(|e| submit_problem(state, e))?;
    Ok(n)
}

fn parse(
    headers: &HeaderMap,
    body: Bytes,
    max_decoded: usize,
) -> Result<Vec<loupe_model::Event>, Problem> {
    let bytes = body::decode(headers, body, max_decoded)?;
    let mut sink = CollectedEvents::default();
    read_bytes_from(
        &bytes,
        Path::new(NATIVE_SOURCE_PATH),
        SourceFormat::Loupe,
        1,
        None,
        &mut sink,
    )
    .map_err(|e| Problem::bad_request(e.to_string()))?;
    if !sink.skipped.is_empty() {
        let quoted: Vec<String> = sink
            .skipped
            .iter()
            .take(MAX_QUOTED)
            .map(|s| {
                // A request body has no "end of file" to speak of: its last
                // line failed to parse, newline or not.
                let reason = s
                    .reason
                    .strip_prefix("torn last line (no newline at end of file): ")
                    .unwrap_or(&s.reason);
                match s.line {
                    Some(line) => format!("line {line}: {reason}"),
                    None => reason.to_owned(),
                }
            })
            .collect();
        return Err(Problem::bad_request(format!(
            "{} malformed line(s) (the body is canonical JSONL: one event object per line); nothing was stored: {}",
            sink.skipped.len(),
            quoted.join("; ")
        )));
    }
    // A session with no id could be stored but never opened (`/sessions/`).
    if let Some(i) = sink.events.iter().position(|e| e.session_id.is_empty()) {
        return Err(Problem::bad_request(format!(
            "event {} of the batch ({}) has an empty session_id; every event names its session; nothing was stored",
            i + 1,
            sink.events[i].event_id
        )));
    }
    Ok(sink.events)
}
