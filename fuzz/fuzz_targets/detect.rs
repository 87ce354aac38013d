//! Fuzz target: detection never panics, and a detected format is the one
//! `read_bytes` then reads with (detection and reading agree).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loupe_formats::{detect, read_bytes, Collected};

fuzz_target!(|data: &[u8]| {
    let detected = detect(data);
    let read = read_bytes(
        data,
        std::path::Path::new("fuzz"),
        None,
        &mut Collected::default(),
    );
    if let (Some(d), Ok(r)) = (detected, read) {
        // Compressed input is detected after decompression only by read_bytes.
        assert_eq!(d, r);
    }
});
