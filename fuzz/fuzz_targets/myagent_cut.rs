//! Fuzz target: a MyAgent export read from disk in pieces tells its sink
//! exactly what serde_json reading the same file itself does, whether the
//! walk in pieces takes it or serde_json takes over, whatever the size of
//! the reads. The first byte picks the read size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, doc)) = data.split_first() else {
        return;
    };
    let chunk = match first {
        0 => 1 << 20,
        n => usize::from(n),
    };
    loupe_formats::myagent::check_cut_walk(doc, chunk);
});
