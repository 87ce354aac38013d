//! Fuzz target: the OTLP protobuf reader and the detection sniff never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_formats::{Collected, Source};
use loupe_model::SourceFormat;

fuzz_target!(|data: &[u8]| {
    let source = Source {
        path: "fuzz.pb".into(),
        format: SourceFormat::Otlp,
    };
    let _ = loupe_formats::otlp::looks_like_proto(data);
    let _ = loupe_formats::otlp::read_proto(data, &source, &mut Collected::default());
});
