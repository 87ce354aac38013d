//! Replays the fuzz seeds (`fuzz/corpus-seed/<target>/`) and every seed
//! sample file through every reader with every forced format, on stable Rust
//! in CI: no input may panic, and every failure must be a clean error. The
//! cargo-fuzz targets in `fuzz/` explore further on nightly.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

use loupe_formats::{detect, is_line_oriented, read_bytes, read_bytes_from, Collected};
use loupe_model::SourceFormat;

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The cargo-fuzz seed corpus, a directory per target.
fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus-seed")
}

fn replay(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let detected = detect(&bytes);
    let mut formats: Vec<Option<SourceFormat>> = vec![None];
    formats.extend(SourceFormat::ALL.iter().copied().map(Some));
    for format in formats {
        let mut c = Collected::default();
        let result = read_bytes(&bytes, path, format, &mut c);
        if let Err(e) = &result {
            assert!(
                e.to_string().contains(&path.display().to_string()),
                "error names the file: {e}"
            );
        }
        if format.is_none() {
            if let (Some(d), Ok(r)) = (detected, &result) {
                assert_eq!(d, *r, "{}: detect and read agree", path.display());
            }
        }
        if let Some(f) = format.filter(|f| is_line_oriented(*f)) {
            let _ = read_bytes_from(
                &bytes,
                path,
                f,
                5,
                Some("hint".into()),
                &mut Collected::default(),
            );
        }
    }
}

#[test]
fn every_fuzz_seed_and_sample_goes_through_every_reader_without_panicking() {
    let seeds = seeds_dir();
    let mut files = Vec::new();
    files_under(&seeds, &mut files);
    let targets = [
        "read_canonical",
        "read_attocode_ts",
        "read_attocode_py",
        "read_agent_trace",
        "read_attoswarm",
        "detect",
    ];
    for t in targets {
        assert!(seeds.join(t).is_dir(), "seed directory for fuzz target {t}");
    }
    let seed_count = files.len();
    assert!(seed_count >= targets.len());
    files_under(&support::samples_dir(), &mut files);
    assert!(files.len() > seed_count + 30, "samples found");
    for f in &files {
        replay(f);
    }
}

/// The events of every sample file that reads and has any.
fn sample_events() -> Vec<(PathBuf, Vec<loupe_model::Event>)> {
    let mut samples = Vec::new();
    files_under(&support::samples_dir(), &mut samples);
    samples
        .into_iter()
        .filter_map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            let mut c = Collected::default();
            read_bytes(&bytes, &f, None, &mut c).ok()?;
            let events: Vec<_> = c.events.into_iter().map(|(_, e)| e).collect();
            (!events.is_empty()).then_some((f, events))
        })
        .collect()
}

#[test]
fn otlp_seeds_and_samples_cut_from_disk_read_as_in_memory() {
    let mut files = Vec::new();
    files_under(&seeds_dir().join("otlp_cut"), &mut files);
    let mut took = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        took += usize::from(loupe_formats::otlp::check_cut_walk(&bytes[1..], 7));
    }
    // Every sample as the OTLP document Loupe writes of it (real text:
    // escapes, non-ASCII, large payloads).
    for (f, events) in sample_events() {
        let doc = loupe_formats::otlp::events_to_otlp_json(&events);
        for chunk in [1, 13, 1 << 20] {
            let cut = loupe_formats::otlp::check_cut_walk(doc.as_bytes(), chunk);
            assert!(
                cut,
                "{}: Loupe's own OTLP is plain enough to cut",
                f.display()
            );
            took += 1;
        }
    }
    assert!(took >= 30, "OTLP documents cut: {took}");
}

#[test]
fn myagent_seeds_and_samples_walked_from_disk_read_as_serde_reads_them() {
    let mut files = Vec::new();
    files_under(&seeds_dir().join("myagent_cut"), &mut files);
    let mut took = 0;
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        took += usize::from(loupe_formats::myagent::check_cut_walk(&bytes[1..], 7));
    }
    assert!(took >= 4, "seeds walked: {took} of {}", files.len());
    assert!(
        !loupe_formats::myagent::check_cut_walk(
            &std::fs::read(seeds_dir().join("myagent_cut/deep.json")).unwrap()[1..],
            7
        ),
        "a value nested near serde_json's limit is left to serde_json"
    );
    let mut samples = Vec::new();
    files_under(&support::samples_dir().join("myagent"), &mut samples);
    let mut exports = 0;
    for f in samples
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        let bytes = std::fs::read(f).unwrap();
        if detect(&bytes) != Some(SourceFormat::MyAgent) {
            continue;
        }
        exports += 1;
        for chunk in [1, 13, 1 << 20] {
            assert!(
                loupe_formats::myagent::check_cut_walk(&bytes, chunk),
                "{}: a real export is walked in pieces",
                f.display()
            );
        }
    }
    assert!(exports >= 3, "MyAgent exports among the samples: {exports}");
}

#[test]
fn protobuf_seeds_and_samples_walked_from_disk_read_as_in_memory() {
    use prost::Message as _;
    let mut took = 0;
    let mut files = Vec::new();
    files_under(&seeds_dir().join("otlp_proto_cut"), &mut files);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let buffer = usize::from(bytes[0]).max(1);
        assert!(
            loupe_formats::otlp::check_proto_walk(&bytes[1..], buffer),
            "{}",
            f.display()
        );
        took += 1;
    }
    // Every sample as the protobuf request Loupe writes of it, whole and
    // in two frames.
    for (f, events) in sample_events() {
        let whole = loupe_formats::otlp::events_to_request(&events).encode_to_vec();
        let (first, second) = events.split_at(events.len() / 2);
        let mut framed = Vec::new();
        for part in [first, second] {
            let frame = loupe_formats::otlp::events_to_request(part).encode_to_vec();
            framed.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_be_bytes());
            framed.extend_from_slice(&frame);
        }
        for (bytes, buffer) in [(&whole, 1), (&whole, 1 << 16), (&framed, 13)] {
            assert!(
                loupe_formats::otlp::check_proto_walk(bytes, buffer),
                "{}: Loupe's own protobuf is walked",
                f.display()
            );
            took += 1;
        }
    }
    assert!(took >= 30, "protobuf files walked: {took}");
}
