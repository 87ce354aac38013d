//! Fuzz target: the attocode-py reader (current `kind` lines and legacy
//! `type` lines) must never panic. Fuzz builds keep debug assertions, so
//! every line the layout reader takes is also checked against the derived
//! parser (`attocode_py::fast_line`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_formats::{read_bytes, Collected};
use loupe_model::SourceFormat;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.jsonl");
    for format in [SourceFormat::AttocodePy, SourceFormat::AttocodePyLegacy] {
        let _ = read_bytes(data, path, Some(format), &mut Collected::default());
    }
});
