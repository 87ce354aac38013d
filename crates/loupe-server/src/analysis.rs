//! Full analyses of stored sessions (span tree, timeline, token flow), for
//! the session endpoints and the viewer's detail page, with a small cache:
//! analysing a 200,000-event session takes about a second, and a person
//! opening it twice should not wait twice.
//!
//! An entry is valid while the session's summary row is unchanged: the
//! summariser rewrites the row after every commit that touched the session,
//! so a cached analysis is never staler than the row shown beside it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use loupe_analyze::{AnalysisConfig, SessionAnalysis, SessionSource};
use loupe_model::SourceFormat;
use loupe_store::{EventQuery, SessionRow, Store, StoreResult};

/// Analyses kept, at most (large sessions' analyses are tens of MB).
const CAPACITY: usize = 8;

/// Analyses quicker than this are not worth keeping.
const WORTH_CACHING: Duration = Duration::from_millis(50);

/// Recently computed full analyses, most recent last.
#[derive(Default)]
pub(crate) struct AnalysisCache {
    entries: Mutex<VecDeque<(SessionRow, Arc<SessionAnalysis>)>>,
}

impl AnalysisCache {
    /// The session's row and full analysis, or `None` for an unknown session.
    pub(crate) fn get(
        &self,
        store: &dyn Store,
        session_id: &str,
        config: &AnalysisConfig,
    ) -> StoreResult<Option<(SessionRow, Arc<SessionAnalysis>)>> {
        let Some(row) = store.session(session_id)? else {
            return Ok(None);
        };
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, analysis)) = entries.iter().find(|(r, _)| *r == row) {
                return Ok(Some((row, analysis.clone())));
            }
        }
        let started = Instant::now();
        let analysis = Arc::new(analyse(store, &row, config)?);
        if started.elapsed() >= WORTH_CACHING {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.retain(|(r, _)| r.session_id != row.session_id);
            if entries.len() >= CAPACITY {
                entries.pop_front();
            }
            entries.push_back((row.clone(), analysis.clone()));
        }
        Ok(Some((row, analysis)))
    }
}

/// Reads the session's events and analyses them in full.
fn analyse(
    store: &dyn Store,
    row: &SessionRow,
    config: &AnalysisConfig,
) -> StoreResult<SessionAnalysis> {
    let events = store.events(&row.session_id, &EventQuery::default())?;
    let source = SessionSource {
        path: row
            .source
            .as_ref()
            .map(|s| s.path.clone())
            .unwrap_or_default(),
        format: row
            .source
            .as_ref()
            .map_or(SourceFormat::Loupe, |s| s.format),
    };
    let config = AnalysisConfig {
        summary_only: false,
        ..config.clone()
    };
    let analyses: Vec<SessionAnalysis> = loupe_analyze::assemble(events, source.clone())
        .iter()
        .map(|s| loupe_analyze::analyze(s, &config))
        .collect();
    Ok(
        match analyses
            .into_iter()
            .find(|a| a.session_id == row.session_id)
        {
            Some(a) => a,
            None => {
                let empty = loupe_analyze::Session {
                    session_id: row.session_id.clone(),
                    source,
                    events: Vec::new(),
                };
                loupe_analyze::analyze(&empty, &config)
            }
        },
    )
}
