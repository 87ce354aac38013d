//! Fuzz target: the myagent reader never panics; it returns events, skips or a clean error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_formats::{Collected, Source};
use loupe_model::SourceFormat;

fuzz_target!(|data: &[u8]| {
    for format in [
        SourceFormat::MyAgent,
        SourceFormat::VictorWorkflow,
        SourceFormat::VictorExecution,
    ] {
        let source = Source {
            path: "fuzz.json".into(),
            format,
        };
        let _ = loupe_formats::myagent::read(data, &source, &mut Collected::default());
    }
});
