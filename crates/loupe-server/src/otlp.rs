//! `POST /v1/traces`: OTLP/HTTP trace export, protobuf or JSON, optionally
//! gzip-compressed, answered per the OTLP specification: 200 with an
//! `ExportTraceServiceResponse` (carrying `partial_success.rejected_spans`
//! when some spans had invalid ids) in the request's encoding; 400 for a
//! body that cannot be decoded; 429/503 with `Retry-After` when the server
//! cannot take more now (the SDK exporters retry those).

use std::path::PathBuf;
use std::time::Instant;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use loupe_formats::otlp::{
    decode_request_json, decode_request_proto, events_from_request_remembering, TraceSessions,
};
use loupe_formats::{CollectedEvents, Source};
use loupe_model::{Event, SourceFormat};
use loupe_store::SourceRef;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;

use crate::body::{self, Problem};
use crate::ingest::SubmitError;
use crate::state::AppState;

/// Where OTLP sessions say they came from.
pub(crate) const OTLP_SOURCE_PATH: &str = "POST /v1/traces";

/// Rejection reasons quoted in a partial-success message, at most.
const MAX_REASONS: usize = 5;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/v1/traces", post(post_traces))
}

/// The request's encoding; the answer uses the same.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// `google.rpc.Status`, the body OTLP/HTTP puts in error answers.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

async fn post_traces(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let received = Instant::now();
    let encoding = match body::media_type(&headers).as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            state.metrics.refused("unsupported_media_type");
            return error(
                Encoding::Json,
                Problem::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "unsupported Content-Type {other:?}: send application/x-protobuf or application/json"
                    ),
                ),
            );
        }
    };
    let body = match body::read_limited(body, state.config.max_body_bytes, |why| {
        state.metrics.refused(why)
    })
    .await
    {
        Ok(body) => body,
        Err(problem) => return error(encoding, problem),
    };
    match ingest(&state, encoding, headers, body).await {
        Ok(rejected) => {
            state
                .metrics
                .ingest_seconds
                .observe(received.elapsed().as_secs_f64());
            success(encoding, rejected)
        }
        Err(problem) => error(encoding, problem),
    }
}

/// Decodes, maps and stores; returns the rejected span count and reasons.
async fn ingest(
    state: &AppState,
    encoding: Encoding,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(u64, Vec<String>), Problem> {
    let _admitted = state.admit_ingest()?;
    let max_decoded = state.config.max_decoded_bytes;
    let memory = state.trace_sessions.clone();
    let (events, spans, rejected, reasons, merges) = state
        .decode_blocking(move || decode(encoding, &headers, body, max_decoded, &memory))
        .await?;
    state.metrics.received_spans.inc_by(spans);
    state.metrics.rejected_spans.inc_by(rejected);
    state.metrics.received("otlp", events.len());
    let source = SourceRef {
        path: OTLP_SOURCE_PATH.to_owned(),
        format: SourceFormat::Otlp,
    };
    state
        .ingest
        .submit_merging(events, source, merges)
        .await
        .map_err(|e| submit_problem(state, e))?;
    Ok((rejected, reasons))
}

/// Events, spans, rejected spans, why, and sessions to merge (`from`, `into`).
type Decoded = (Vec<Event>, u64, u64, Vec<String>, Vec<(String, String)>);

fn decode(
    encoding: Encoding,
    headers: &HeaderMap,
    body: Bytes,
    max_decoded: usize,
    memory: &TraceSessions,
) -> Result<Decoded, Problem> {
    let bytes = body::decode(headers, body, max_decoded)?;
    // `{}` is an empty ExportTraceServiceRequest, as an empty protobuf body
    // is (files are stricter: there `{}` is not taken for OTLP).
    if encoding == Encoding::Json && bytes.len() < 64 {
        if let Ok(map) =
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
        {
            if map.is_empty() {
                return Ok((Vec::new(), 0, 0, Vec::new(), Vec::new()));
            }
        }
    }
    let request = match encoding {
        Encoding::Protobuf => decode_request_proto(&bytes),
        Encoding::Json => decode_request_json(&bytes),
    }
    .map_err(|e| {
        let what = match encoding {
            Encoding::Protobuf => "protobuf",
            Encoding::Json => "JSON",
        };
        Problem::bad_request(format!(
            "the body is not an OTLP ExportTraceServiceRequest ({what}): {e}"
        ))
    })?;
    let source = Source {
        path: PathBuf::from(OTLP_SOURCE_PATH),
        format: SourceFormat::Otlp,
    };
    let mut sink = CollectedEvents::default();
    let stats = events_from_request_remembering(&request, &source, &mut sink, memory);
    let events = sink.events;
    let mut reasons = stats.rejection_reasons;
    reasons.truncate(MAX_REASONS);
    Ok((
        events,
        stats.spans,
        stats.rejected_spans,
        reasons,
        stats.merged_sessions,
    ))
}

/// Maps a queue refusal to the answer OTLP clients retry (429/503) or not.
pub(crate) fn submit_problem(state: &AppState, e: SubmitError) -> Problem {
    match e {
        SubmitError::QueueFull => {
            state.metrics.refused("queue_full");
            Problem::retry(
                StatusCode::TOO_MANY_REQUESTS,
                "the ingest queue is full; retry later",
                1,
            )
        }
        SubmitError::TooLarge { events, capacity } => {
            state.metrics.refused("too_large");
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{events} events in one request; the queue holds at most {capacity}: send smaller batches"),
            )
        }
        SubmitError::Stopped => {
            state.metrics.refused("stopping");
            Problem::retry(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
                5,
            )
        }
        SubmitError::Store(message) => {
            state.metrics.refused("store_error");
            Problem::retry(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the store could not save the batch: {message}"),
                5,
            )
        }
    }
}

fn success(encoding: Encoding, (rejected, reasons): (u64, Vec<String>)) -> Response {
    let partial_success = (rejected > 0).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: reasons.join("; "),
    });
    match encoding {
        Encoding::Protobuf => {
            let body = ExportTraceServiceResponse { partial_success }.encode_to_vec();
            ([(CONTENT_TYPE, "application/x-protobuf")], body).into_response()
        }
        Encoding::Json => {
            let body = match partial_success {
                Some(p) => serde_json::json!({
                    "partialSuccess": { "rejectedSpans": p.rejected_spans, "errorMessage": p.error_message }
                }),
                None => serde_json::json!({}),
            };
            ([(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
        }
    }
}

fn error(encoding: Encoding, problem: Problem) -> Response {
    match encoding {
        Encoding::Json => problem.into_response(),
        Encoding::Protobuf => {
            let body = RpcStatus {
                code: rpc_code(problem.status),
                message: problem.message.clone(),
            }
            .encode_to_vec();
            let response = (
                problem.status,
                [(CONTENT_TYPE, "application/x-protobuf")],
                body,
            )
                .into_response();
            problem.with_headers(response)
        }
    }
}

/// The gRPC status code matching an HTTP status.
fn rpc_code(status: StatusCode) -> i32 {
    match status {
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE => 3, // INVALID_ARGUMENT
        StatusCode::UNAUTHORIZED => 16,                                    // UNAUTHENTICATED
        StatusCode::TOO_MANY_REQUESTS | StatusCode::PAYLOAD_TOO_LARGE => 8, // RESOURCE_EXHAUSTED
        StatusCode::SERVICE_UNAVAILABLE => 14,                             // UNAVAILABLE
        _ => 13,                                                           // INTERNAL
    }
}
