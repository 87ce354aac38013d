//! Fuzz target: a binary OTLP file walked from disk in pieces hands over
//! exactly what the same bytes read in memory do, wherever the walk takes
//! the file, whatever the size of the read buffer. The first byte picks
//! the buffer size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let buffer = match first {
        0 => 1 << 16,
        n => usize::from(n),
    };
    loupe_formats::otlp::check_proto_walk(file, buffer);
});
