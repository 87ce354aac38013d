//! `loupe tui --server URL`: the dashboard fed by a Loupe server's REST API.
//!
//! Each poll fetches the newest session rows (`GET /api/v1/sessions`); only
//! sessions whose row changed since the last poll have their events fetched
//! again (`GET /api/v1/sessions/{id}/events`, page by page) and re-analysed
//! locally, so a live server costs one small request a second when idle.

use std::collections::HashMap;
use std::time::Duration;

use loupe_analyze::{AnalysisConfig, Session, SessionAnalysis, SessionSource};
use loupe_model::{Event, SourceFormat};
use loupe_store::SessionRow;
use serde::Deserialize;

/// Sessions shown, at most (the newest).
const MAX_SESSIONS: usize = 500;

/// Events fetched per request.
const EVENTS_PAGE: usize = 10_000;

#[derive(Deserialize)]
struct SessionPage {
    sessions: Vec<SessionRow>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct EventPage {
    events: Vec<Event>,
    has_more: bool,
}

/// Sessions of a Loupe server, re-fetched when their summary changes.
pub(crate) struct ServerFeed {
    base: String,
    key: Option<String>,
    agent: ureq::Agent,
    config: AnalysisConfig,
    /// Last seen row (as JSON) and analysis per session.
    known: HashMap<String, (String, SessionAnalysis)>,
    /// Session ids in the server's order at the last poll.
    order: Vec<String>,
    /// Whether the server holds more sessions than are shown.
    more: bool,
}

impl ServerFeed {
    pub(crate) fn new(url: &str, key: Option<String>, config: AnalysisConfig) -> ServerFeed {
        ServerFeed {
            base: url.trim_end_matches('/').to_owned(),
            key,
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(5))
                .timeout(Duration::from_secs(60))
                .build(),
            config,
            known: HashMap::new(),
            order: Vec::new(),
            more: false,
        }
    }

    fn get<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> Result<T, String> {
        let url = format!("{}{path_and_query}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(key) = &self.key {
            request = request.set("authorization", &format!("Bearer {key}"));
        }
        let response = request.call().map_err(|e| match e {
            ureq::Error::Status(401, _) => {
                format!("{url}: the server wants a read key (--api-key or LOUPE_READ_KEY)")
            }
            ureq::Error::Status(code, r) => {
                let body = r.into_string().unwrap_or_default();
                format!("{url}: HTTP {code}: {}", body.trim())
            }
            ureq::Error::Transport(t) => format!("cannot reach {url}: {t}"),
        })?;
        let text = response
            .into_string()
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{url}: not a Loupe server answer: {e}"))
    }

    fn fetch_session(&self, row: &SessionRow) -> Result<SessionAnalysis, String> {
        let id = encode(&row.session_id);
        let mut events = Vec::new();
        loop {
            let page: EventPage = self.get(&format!(
                "/api/v1/sessions/{id}/events?offset={}&limit={EVENTS_PAGE}",
                events.len()
            ))?;
            let done = !page.has_more || page.events.is_empty();
            events.extend(page.events);
            if done {
                break;
            }
        }
        let source = match &row.source {
            Some(s) => SessionSource {
                path: format!("{} {}", self.base, s.path),
                format: s.format,
            },
            None => SessionSource {
                path: self.base.clone(),
                format: SourceFormat::Loupe,
            },
        };
        let mut session = Session {
            session_id: row.session_id.clone(),
            source,
            events,
        };
        loupe_analyze::finish_session(&mut session);
        Ok(loupe_analyze::analyze(&session, &self.config))
    }
}

impl loupe_tui::Feed for ServerFeed {
    fn warning(&self) -> Option<String> {
        self.more.then(|| {
            format!("the newest {MAX_SESSIONS} sessions; the server has more (the web viewer and `loupe query` list them all)")
        })
    }

    fn poll(&mut self) -> Result<Option<Vec<SessionAnalysis>>, String> {
        let page: SessionPage = self.get(&format!("/api/v1/sessions?limit={MAX_SESSIONS}"))?;
        self.more = page.has_more;
        let mut changed = page.sessions.len() != self.order.len();
        let mut fresh = HashMap::with_capacity(page.sessions.len());
        let mut order = Vec::with_capacity(page.sessions.len());
        for row in page.sessions {
            let stamp = serde_json::to_string(&row).unwrap_or_default();
            let id = row.session_id.clone();
            let analysis = match self.known.remove(&id) {
                Some((old, analysis)) if old == stamp => analysis,
                _ => {
                    changed = true;
                    self.fetch_session(&row)?
                }
            };
            order.push(id.clone());
            fresh.insert(id, (stamp, analysis));
        }
        changed |= order != self.order;
        self.known = fresh;
        self.order = order;
        if !changed {
            return Ok(None);
        }
        Ok(Some(
            self.order
                .iter()
                .filter_map(|id| self.known.get(id).map(|(_, a)| a.clone()))
                .collect(),
        ))
    }
}

/// Percent-encodes a session id for a URL path segment.
fn encode(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
