//! API keys. Off loopback the server refuses to start without them (see
//! [`crate::config::ServerConfig::check`]); when keys are configured every
//! request needs `Authorization: Bearer KEY`: an ingest key for the write
//! endpoints, a read key for everything else. `/healthz` stays open so load
//! balancers can probe it.

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::body::Problem;
use crate::state::AppState;

/// Paths that write into the store.
const INGEST_PATHS: &[&str] = &["/v1/traces", "/api/v1/events"];

pub(crate) async fn require_key(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path == "/healthz" {
        return next.run(request).await;
    }
    let ingest = request.method() == Method::POST && INGEST_PATHS.contains(&path);
    let keys = if ingest {
        &state.config.ingest_keys
    } else {
        &state.config.read_keys
    };
    if keys.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    // The web viewer's EventSource cannot set headers; it may pass `?key=`.
    let from_query = request.uri().query().and_then(|q| {
        q.split('&')
            .find_map(|pair| pair.strip_prefix("key="))
            .map(str::to_owned)
    });
    let ok = presented
        .map(str::to_owned)
        .or(from_query)
        .is_some_and(|k| {
            keys.iter()
                .any(|key| constant_time_eq(key.as_bytes(), k.as_bytes()))
        });
    if ok {
        return next.run(request).await;
    }
    state.metrics.refused("unauthorized");
    let what = if ingest { "an ingest" } else { "a read" };
    let mut response = Problem::new(
        StatusCode::UNAUTHORIZED,
        format!("this server requires {what} API key: send `Authorization: Bearer KEY`"),
    )
    .into_response();
    response.headers_mut().insert(
        WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Compares keys without an early exit, so timing does not reveal prefixes.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
