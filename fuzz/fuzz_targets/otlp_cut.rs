//! Fuzz target: a large OTLP/JSON document read from disk in pieces hands
//! over exactly what the same bytes read in memory do, wherever the cutting
//! does not give up, whatever the size of the reads. The first byte picks
//! the read size.
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
    loupe_formats::otlp::check_cut_walk(doc, chunk);
});
