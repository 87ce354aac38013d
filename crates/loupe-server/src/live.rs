//! `GET /api/v1/live`: Server-Sent Events announcing what the server stored.
//!
//! Messages (`event:` name, `data:` JSON):
//! - `ready` once, when the subscription is active: `{"server_time"}`;
//! - `session`: a session's summary row changed (new or growing sessions);
//! - `events`: `{"session_id", "events": [...]}`, events just stored; sent
//!   only to subscribers of one session (`?session=ID`) or with `?events=true`;
//! - `lagged`: `{"missed"}`, the subscriber fell behind and missed updates
//!   (re-fetch through the REST API).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use axum::Router;
use loupe_model::{Event, Timestamp};
use loupe_store::SessionRow;
use serde::Deserialize;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use tokio_stream::{Stream, StreamExt};

use crate::state::AppState;

/// What changed in the store.
#[derive(Clone, Debug)]
pub enum LiveUpdate {
    /// A session's summary was rebuilt.
    Session(Arc<SessionRow>),
    /// Events of one session were stored.
    Events {
        /// The session.
        session_id: Arc<str>,
        /// The events, in the order they were received.
        events: Arc<[Event]>,
    },
    /// A session was deleted: its events moved into `merged_into` (an
    /// OpenTelemetry trace first stored under its trace id).
    Removed {
        /// The session that is gone.
        session_id: Arc<str>,
        /// Where its events went.
        merged_into: Arc<str>,
    },
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/live", get(live))
}

#[derive(Debug, Default, Deserialize)]
struct LiveParams {
    session: Option<String>,
    #[serde(default)]
    events: bool,
}

async fn live(
    State(state): State<AppState>,
    Query(params): Query<LiveParams>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let updates = BroadcastStream::new(state.live.subscribe());
    let ready = SseEvent::default()
        .event("ready")
        .data(serde_json::json!({ "server_time": Timestamp::now().to_rfc3339() }).to_string());
    let stream = tokio_stream::once(Some(ready))
        .chain(updates.map(move |update| to_sse(update, &params)))
        .filter_map(|e| e.map(Ok));
    // Ends the stream when the server stops, so a graceful shutdown is not
    // held open by browsers that never disconnect.
    let mut stop = WatchStream::new(state.stop.clone());
    let stopped = async move {
        while let Some(stopping) = stop.next().await {
            if stopping {
                break;
            }
        }
    };
    Sse::new(futures_util::StreamExt::take_until(stream, stopped))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

fn to_sse(
    update: Result<LiveUpdate, BroadcastStreamRecvError>,
    params: &LiveParams,
) -> Option<SseEvent> {
    let wanted = |id: &str| params.session.as_deref().is_none_or(|s| s == id);
    match update {
        Ok(LiveUpdate::Session(row)) if wanted(&row.session_id) => {
            let data = serde_json::to_string(&*row).ok()?;
            Some(SseEvent::default().event("session").data(data))
        }
        Ok(LiveUpdate::Events { session_id, events })
            if (params.events || params.session.is_some()) && wanted(&session_id) =>
        {
            let data = serde_json::json!({ "session_id": &*session_id, "events": &*events });
            Some(SseEvent::default().event("events").data(data.to_string()))
        }
        Ok(LiveUpdate::Removed {
            session_id,
            merged_into,
        }) if wanted(&session_id) || wanted(&merged_into) => {
            let data =
                serde_json::json!({ "session_id": &*session_id, "merged_into": &*merged_into });
            Some(SseEvent::default().event("removed").data(data.to_string()))
        }
        Ok(_) => None,
        Err(BroadcastStreamRecvError::Lagged(missed)) => Some(
            SseEvent::default()
                .event("lagged")
                .data(serde_json::json!({ "missed": missed }).to_string()),
        ),
    }
}
