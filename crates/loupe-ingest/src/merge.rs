//! Joining an OpenTelemetry trace stored as two sessions.
//!
//! A trace's spans join the session one of them names (`gen_ai.conversation.id`,
//! `session.id`...). Spans stored before any span of their trace named one
//! went to the session named by the trace id; when the naming span arrives
//! later (another request to `loupe serve`, another file to `loupe ingest`),
//! those are moved into the named session.

use std::collections::HashMap;

use loupe_model::{Event, SourceFormat};
use loupe_store::{EventQuery, Store, StoreResult};

/// Moves every event stored under session `from` into session `into` and
/// deletes `from`; returns how many events moved in.
pub fn merge_sessions(store: &dyn Store, from: &str, into: &str) -> StoreResult<u64> {
    let mut moved = store.events(from, &EventQuery::default())?;
    if moved.is_empty() {
        return Ok(0);
    }
    for e in &mut moved {
        e.session_id = into.to_owned();
    }
    let outcome = store.append_events(&moved)?;
    store.delete_sessions(&[from.to_owned()])?;
    Ok(outcome.inserted)
}

/// Traces read so far, noting whether some of their spans went to the
/// trace-id session and which session others named: what to merge at the
/// end of an ingest. Bounded: past `capacity` traces, new ones are not noted.
#[derive(Debug, Default)]
pub(crate) struct TraceLinks {
    traces: HashMap<String, Link>,
}

#[derive(Debug, Default)]
struct Link {
    by_trace_id: bool,
    named: Option<String>,
}

impl TraceLinks {
    const CAPACITY: usize = 200_000;

    /// Notes an event read from a file of `format`.
    pub(crate) fn note(&mut self, format: SourceFormat, event: &Event) {
        if format != SourceFormat::Otlp {
            return;
        }
        let Some(trace) = event.trace_id.as_deref() else {
            return;
        };
        let update = |link: &mut Link| {
            if event.session_id == trace {
                link.by_trace_id = true;
            } else if link.named.is_none() {
                link.named = Some(event.session_id.clone());
            }
        };
        if let Some(link) = self.traces.get_mut(trace) {
            update(link);
        } else if self.traces.len() < Self::CAPACITY {
            let mut link = Link::default();
            update(&mut link);
            self.traces.insert(trace.to_owned(), link);
        }
    }

    /// `(trace-id session, named session)` for every trace read under a
    /// session name whose trace-id session this run read too, or an earlier
    /// run stored (`stored` says whether a session is stored).
    pub(crate) fn merges(
        &self,
        stored: &dyn Fn(&str) -> StoreResult<bool>,
    ) -> StoreResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (trace, link) in &self.traces {
            let Some(named) = &link.named else { continue };
            if link.by_trace_id || stored(trace)? {
                out.push((trace.clone(), named.clone()));
            }
        }
        out.sort();
        Ok(out)
    }
}
