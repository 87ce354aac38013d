//! Fuzz target: the canonical JSONL reader must never panic; it returns events, skips or a clean error.
//! Fuzz builds keep debug assertions, so every line the layout reader takes
//! is also checked against the derived parser (`CanonicalReader::line`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_formats::{read_bytes, read_bytes_from, Collected};
use loupe_model::SourceFormat;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz/session-f/events.jsonl");
    let _ = read_bytes(
        data,
        path,
        Some(SourceFormat::Loupe),
        &mut Collected::default(),
    );
    let _ = read_bytes_from(
        data,
        path,
        SourceFormat::Loupe,
        3,
        None,
        &mut Collected::default(),
    );
});
