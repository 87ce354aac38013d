//! The web viewer: server-rendered HTML pages over the store, with small
//! scripts for what has to move (live rows, the virtualised event panel).
//!
//! Pages: `/` (session list, [`list`]), `/sessions/{id}` (detail,
//! [`detail`]; its analysis arrives as a fragment from
//! `/sessions/{id}/analysis` so the first view never waits for it),
//! `/dashboard` ([`dashboard`]) and `/compare?a=&b=` ([`compare`]).
//! Assets are embedded in the binary and served from `/assets/NAME?v=HASH`
//! with year-long cache headers (the hash changes with the content).
//!
//! Security: every piece of trace content goes through
//! [`loupe_report::html::escape`]; pages carry no inline script or style, so
//! the Content-Security-Policy allows only this server's own assets.

mod assets;
mod charts;
mod compare;
mod dashboard;
mod detail;
mod list;
mod page;

use axum::http::header::{CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// No inline scripts or styles, no third-party origins.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list::page))
        .route("/sessions/{id}", get(detail::page))
        .route("/sessions/{id}/analysis", get(detail::analysis_fragment))
        .route("/dashboard", get(dashboard::page))
        .route("/compare", get(compare::page))
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
