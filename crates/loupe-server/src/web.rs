//! The web viewer: server-rendered pages over the store (placeholder until
//! the viewer lands; the REST API and live stream already serve it).

use axum::response::Html;
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/", get(index))
}

async fn index() -> Html<&'static str> {
    Html("<!doctype html><title>Loupe</title><p>Loupe server: see /api/v1/sessions</p>")
}
