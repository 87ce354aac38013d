//! Behaviour of the reading framework: mixed and corrupt directories,
//! compression, torn last lines, tail reads, `--format`, parallel order,
//! and conversion to canonical JSONL.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use loupe_formats::{
    convert_paths, read_bytes, read_bytes_from, read_file, read_paths, read_paths_per_file,
    Collected, ConvertTarget, ExistingOutput, ReadError, ReadOptions,
};
use loupe_model::{Event, SourceFormat};
use support::{samples_dir, Summaries};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn events_of(paths: &[PathBuf], opts: &ReadOptions) -> Vec<Event> {
    let mut c = Collected::default();
    read_paths(paths, opts, &mut c).unwrap();
    c.events.into_iter().map(|(_, e)| e).collect()
}

#[test]
fn a_mixed_directory_with_corrupt_files_reads_everything_else_intact() {
    let samples = samples_dir();
    let tmp = tempfile::tempdir().unwrap();
    let mixed = tmp.path().join("mixed");
    for name in [
        "attocode-py",
        "attocode-ts",
        "agent-trace",
        "attoswarm-real",
        "myagent",
        "victor",
    ] {
        copy_dir(&samples.join(name), &mixed.join(name));
    }
    // Garbage lines inside an otherwise good attocode-py file (line 2 and 4).
    let good = std::fs::read_to_string(samples.join("attocode-py/crashed.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(1, "{this is not json");
    lines.insert(3, "[1, 2, 3]");
    std::fs::write(mixed.join("corrupt.jsonl"), lines.join("\n") + "\n").unwrap();
    // A whole-file MyAgent export cut in half.
    let export = std::fs::read(samples.join("myagent/traces_export.json")).unwrap();
    std::fs::write(mixed.join("truncated.json"), &export[..export.len() / 2]).unwrap();
    // A binary file.
    std::fs::write(mixed.join("blob.bin"), [0u8, 159, 146, 150, 1, 2, 3, 255]).unwrap();

    let mut sink = Summaries::new(&mixed);
    let stats = read_paths(
        std::slice::from_ref(&mixed),
        &ReadOptions::default(),
        &mut sink,
    )
    .unwrap();

    // The corrupt lines are listed with file, line and reason.
    let corrupt: Vec<_> = sink
        .skipped
        .iter()
        .filter(|s| s.path.ends_with("corrupt.jsonl"))
        .collect();
    assert_eq!(
        corrupt.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![Some(2), Some(4)]
    );
    assert!(
        corrupt[0].reason.contains("invalid JSON"),
        "{}",
        corrupt[0].reason
    );
    assert!(
        corrupt[1].reason.contains("expected a JSON object"),
        "{}",
        corrupt[1].reason
    );
    // The rest of that file is intact.
    assert_eq!(
        sink.files["corrupt.jsonl"].events,
        good.lines().count() as u64
    );
    // The truncated export keeps the trace before the break and lists the
    // break with its place; the binary file is ignored.
    assert!(stats.errors.is_empty(), "{:?}", stats.errors);
    let broken: Vec<_> = sink
        .skipped
        .iter()
        .filter(|s| s.path.ends_with("truncated.json"))
        .collect();
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(
        broken[0]
            .reason
            .starts_with("the export breaks off after 1 traces, at line "),
        "{}",
        broken[0].reason
    );
    assert!(sink.files["truncated.json"].events > 0);
    let blob = stats
        .ignored
        .iter()
        .find(|i| i.path.ends_with("blob.bin"))
        .unwrap();
    assert!(blob.reason.contains("binary"), "{}", blob.reason);

    // Everything else matches reading each sample folder on its own.
    for name in [
        "attocode-py",
        "attocode-ts",
        "agent-trace",
        "attoswarm-real",
    ] {
        let mut alone = Summaries::new(&samples);
        read_paths(&[samples.join(name)], &ReadOptions::default(), &mut alone).unwrap();
        for (file, summary) in &alone.files {
            assert_eq!(&sink.files[file], summary, "{file}");
        }
    }
    let formats: std::collections::BTreeSet<SourceFormat> = stats.formats.keys().copied().collect();
    for f in [
        SourceFormat::AttocodePy,
        SourceFormat::AttocodePyLegacy,
        SourceFormat::AttocodeTs,
        SourceFormat::AgentTrace,
        SourceFormat::Attoswarm,
    ] {
        assert!(formats.contains(&f), "{f} read from the mixed directory");
    }
}

#[test]
fn an_explicit_foreign_or_missing_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let readme = tmp.path().join("README.md");
    std::fs::write(&readme, "# not a trace\n").unwrap();
    let err = read_file(&readme, &ReadOptions::default(), &mut Collected::default()).unwrap_err();
    assert!(matches!(err, ReadError::Unrecognized { .. }), "{err}");
    assert!(err.to_string().contains("README.md"));
    let missing = tmp.path().join("nope.jsonl");
    let err = read_file(&missing, &ReadOptions::default(), &mut Collected::default()).unwrap_err();
    assert!(matches!(err, ReadError::Io { .. }), "{err}");
    let err = read_bytes(
        b"\x00\x01binary",
        Path::new("x.bin"),
        None,
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("x.bin") && err.to_string().contains("binary"),
        "{err}"
    );
}

#[test]
fn gzip_and_zstd_files_read_like_the_plain_file() {
    let samples = samples_dir();
    let plain_path = samples.join("attocode-ts/single-task-healthy.jsonl");
    let plain = std::fs::read(&plain_path).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let gz = tmp.path().join("t.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&plain).unwrap();
    enc.finish().unwrap();
    let zst = tmp.path().join("t.jsonl.zst");
    std::fs::write(&zst, zstd::encode_all(&plain[..], 3).unwrap()).unwrap();

    let want = events_of(&[plain_path], &ReadOptions::default());
    assert!(!want.is_empty());
    for compressed in [gz, zst] {
        let got = events_of(std::slice::from_ref(&compressed), &ReadOptions::default());
        assert_eq!(got, want, "{}", compressed.display());
        let bytes = std::fs::read(&compressed).unwrap();
        let mut c = Collected::default();
        assert_eq!(
            read_bytes(&bytes, &compressed, None, &mut c).unwrap(),
            SourceFormat::AttocodeTs
        );
        assert_eq!(c.events.len(), want.len());
    }
}

/// The compressed log of a writer that crashed (or a copy made while it
/// was written) ends without its trailer: the lines decoded before the cut
/// are read, and the cut is reported, as for a torn plain file.
#[test]
fn a_compressed_file_cut_short_keeps_what_was_decoded() {
    let plain_path = samples_dir().join("attocode-ts/single-task-healthy.jsonl");
    let plain = std::fs::read(&plain_path).unwrap();
    let want = events_of(&[plain_path], &ReadOptions::default());
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let gz = enc.finish().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.jsonl.gz");
    // The 8-byte trailer and the end of the last block are missing.
    std::fs::write(&cut, &gz[..gz.len() - 10]).unwrap();
    let mut c = Collected::default();
    read_paths(std::slice::from_ref(&cut), &ReadOptions::default(), &mut c).unwrap();
    let got: Vec<Event> = c.events.into_iter().map(|(_, e)| e).collect();
    assert!(!got.is_empty() && got.len() <= want.len());
    assert_eq!(
        got[..],
        want[..got.len()],
        "the decoded lines read as in the plain file"
    );
    assert!(
        c.skipped.iter().any(|s| s.reason.contains("cut short")),
        "{:?}",
        c.skipped
    );
    // Nothing decodable at all stays one clear error.
    let stub = tmp.path().join("stub.jsonl.gz");
    std::fs::write(&stub, &gz[..20]).unwrap();
    let mut c = Collected::default();
    let err = read_paths(std::slice::from_ref(&stub), &ReadOptions::default(), &mut c)
        .unwrap_err()
        .to_string();
    assert!(err.contains("stub.jsonl.gz"), "{err}");
    assert!(
        err.contains("cut short before anything could be decoded"),
        "{err}"
    );
    assert!(c.events.is_empty());
    // Corrupt data (a wrong checksum) is not a cut: the file fails.
    let mut bad = gz.clone();
    let crc_at = bad.len() - 8;
    bad[crc_at] ^= 0xff;
    let corrupt = tmp.path().join("corrupt.jsonl.gz");
    std::fs::write(&corrupt, &bad).unwrap();
    let mut c = Collected::default();
    assert!(read_paths(
        std::slice::from_ref(&corrupt),
        &ReadOptions::default(),
        &mut c
    )
    .is_err());
}

/// Every sample file read with a UTF-8 byte order mark in front (as some
/// Windows tools save JSON), or as UTF-16 with its mark (what PowerShell's
/// `>` writes), plain and gzip-compressed, gives the same events and skips
/// the same lines as the file itself.
#[test]
fn a_byte_order_mark_or_utf16_changes_nothing() {
    let mut files = Vec::new();
    let mut dirs = vec![samples_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    let mut read = 0;
    for path in files {
        let plain = std::fs::read(&path).unwrap();
        let mut want = Collected::default();
        let Ok(format) = read_bytes(&plain, &path, None, &mut want) else {
            continue;
        };
        let with_bom = [&b"\xEF\xBB\xBF"[..], &plain].concat();
        let mut variants = vec![("UTF-8 BOM", with_bom.clone())];
        if let Ok(text) = std::str::from_utf8(&plain) {
            let units: Vec<u16> = text.encode_utf16().collect();
            let le = units.iter().flat_map(|u| u.to_le_bytes());
            let be = units.iter().flat_map(|u| u.to_be_bytes());
            variants.push(("UTF-16LE", [0xFF, 0xFE].into_iter().chain(le).collect()));
            variants.push(("UTF-16BE", [0xFE, 0xFF].into_iter().chain(be).collect()));
        }
        for (encoding, bytes) in variants.clone() {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&bytes).unwrap();
            variants.push((encoding, gz.finish().unwrap()));
        }
        for (how, bytes) in variants {
            let mut got = Collected::default();
            let got_format = read_bytes(&bytes, &path, None, &mut got)
                .unwrap_or_else(|e| panic!("{} ({how}): {e}", path.display()));
            assert_eq!(got_format, format, "{} ({how})", path.display());
            assert_eq!(got.events, want.events, "{} ({how})", path.display());
            assert_eq!(got.skipped, want.skipped, "{} ({how})", path.display());
        }
        if loupe_formats::is_line_oriented(format) {
            let mut tail = Collected::default();
            read_bytes_from(&with_bom, &path, format, 1, None, &mut tail).unwrap();
            assert_eq!(tail.events.len(), want.events.len(), "{}", path.display());
        }
        read += 1;
    }
    assert!(read >= 20, "only {read} sample files read");
}

/// A crash can leave a block of NUL bytes in a trace (allocated, never
/// written). Such a file is still read: the zero-filled line is skipped and
/// named, every other line kept. Real binary data is still refused.
#[test]
fn zero_fill_left_by_a_crash_costs_only_its_own_line() {
    let fill = vec![0u8; 4096];
    for sample in [
        "attocode-py/healthy.jsonl",
        "attocode-ts/single-task-healthy.jsonl",
    ] {
        let good = std::fs::read(samples_dir().join(sample)).unwrap();
        let mut want = Collected::default();
        read_bytes(&good, Path::new(sample), None, &mut want).unwrap();
        let lines: Vec<&[u8]> = good.split_inclusive(|&b| b == b'\n').collect();
        let middle = lines.len() / 2;
        let cases = [
            ("at the end", [good.as_slice(), &fill].concat()),
            ("at the start", [&fill[..], b"\n", &good].concat()),
            (
                "in the middle",
                [
                    &lines[..middle].concat()[..],
                    &fill,
                    b"\n",
                    &lines[middle..].concat(),
                ]
                .concat(),
            ),
        ];
        for (place, bytes) in cases {
            let mut got = Collected::default();
            read_bytes(&bytes, Path::new(sample), None, &mut got)
                .unwrap_or_else(|e| panic!("{sample}, zero fill {place}: {e}"));
            assert_eq!(got.events.len(), want.events.len(), "{sample} {place}");
            assert_eq!(got.skipped.len(), 1, "{sample} {place}: {:?}", got.skipped);
            assert!(
                got.skipped[0].reason.contains("NUL bytes"),
                "{}",
                got.skipped[0].reason
            );
        }
    }
    // A PNG header: short NUL runs among other bytes.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x01\0\0\0\x01\0\x08\x06\0\0\0";
    let err = read_bytes(png, Path::new("x.png"), None, &mut Collected::default()).unwrap_err();
    assert!(err.to_string().contains("binary"), "{err}");
}

#[test]
fn a_torn_last_line_is_skipped_not_fatal() {
    let good = std::fs::read_to_string(samples_dir().join("attocode-py/healthy.jsonl")).unwrap();
    let torn = format!("{good}{{\"event_id\": \"x\", \"kind\": \"llm_resp");
    let mut c = Collected::default();
    let format = read_bytes(torn.as_bytes(), Path::new("torn.jsonl"), None, &mut c).unwrap();
    assert_eq!(format, SourceFormat::AttocodePy);
    assert_eq!(c.events.len(), good.lines().count());
    assert_eq!(c.skipped.len(), 1);
    let last_line = good.lines().count() as u64 + 1;
    assert_eq!(c.skipped[0].line, Some(last_line));
    assert!(
        c.skipped[0].reason.starts_with("torn last line"),
        "{}",
        c.skipped[0].reason
    );
    // CRLF and blank lines are fine.
    let crlf = good.replace('\n', "\r\n\r\n");
    let mut c2 = Collected::default();
    read_bytes(crlf.as_bytes(), Path::new("crlf.jsonl"), None, &mut c2).unwrap();
    assert_eq!(c2.events.len(), good.lines().count());
    assert!(c2.skipped.is_empty());
}

#[test]
fn a_tail_read_gives_the_same_ids_and_line_numbers_as_a_full_read() {
    let samples = samples_dir();
    for (file, format) in [
        (
            "attocode-ts/single-task-healthy.jsonl",
            SourceFormat::AttocodeTs,
        ),
        (
            "attocode-py/legacy-format.jsonl",
            SourceFormat::AttocodePyLegacy,
        ),
        (
            "agent-trace/traces/session-user-123/events.jsonl",
            SourceFormat::AgentTrace,
        ),
        ("attoswarm-real/swarm.events.jsonl", SourceFormat::Attoswarm),
    ] {
        let path = samples.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut full = Collected::default();
        read_bytes(text.as_bytes(), &path, Some(format), &mut full).unwrap();
        let split_at = 3usize;
        let tail: String = text
            .lines()
            .skip(split_at)
            .map(|l| format!("{l}\n"))
            .collect();
        let session = full.events[0].1.session_id.clone();
        let mut part = Collected::default();
        read_bytes_from(
            tail.as_bytes(),
            &path,
            format,
            split_at as u64 + 1,
            Some(session),
            &mut part,
        )
        .unwrap();
        let full_tail: Vec<&Event> = full.events.iter().skip(split_at).map(|(_, e)| e).collect();
        let part_events: Vec<&Event> = part.events.iter().map(|(_, e)| e).collect();
        let ids = |v: &[&Event]| v.iter().map(|e| e.event_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&part_events), ids(&full_tail), "{file}");
    }
    // Line numbers of skipped lines count from `first_line`.
    let mut c = Collected::default();
    read_bytes_from(
        b"{}\nnot json\n",
        Path::new("t"),
        SourceFormat::AttocodePy,
        40,
        None,
        &mut c,
    )
    .unwrap();
    assert_eq!(
        c.skipped.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![Some(40), Some(41)]
    );
    assert!(read_bytes_from(
        b"{}",
        Path::new("t"),
        SourceFormat::MyAgent,
        1,
        None,
        &mut c
    )
    .is_err());
}

#[test]
fn reading_twice_gives_identical_ids_and_parallel_order_is_the_walk_order() {
    let samples = samples_dir();
    let paths = [
        samples.join("attocode-py"),
        samples.join("attocode-ts"),
        samples.join("agent-trace"),
        samples.join("attoswarm-real"),
    ];
    let one = events_of(
        &paths,
        &ReadOptions {
            format: None,
            threads: 1,
            ..Default::default()
        },
    );
    let four = events_of(
        &paths,
        &ReadOptions {
            format: None,
            threads: 4,
            ..Default::default()
        },
    );
    assert_eq!(one, four);
    let mut ids = std::collections::HashSet::new();
    for e in &one {
        assert!(
            ids.insert((e.session_id.clone(), e.event_id.clone())),
            "duplicate id {} in {}",
            e.event_id,
            e.session_id
        );
    }
}

/// `read_paths_per_file` with `threads`: every file's events (collected on
/// its worker) in delivery order, with the paths `each` was given.
fn per_file(
    paths: &[PathBuf],
    threads: usize,
) -> (Vec<PathBuf>, Vec<Event>, loupe_formats::ReadStats) {
    let opts = ReadOptions {
        format: None,
        threads,
        ..Default::default()
    };
    let (mut files, mut events) = (Vec::new(), Vec::new());
    let stats = read_paths_per_file(
        paths,
        &opts,
        &|_| Collected::default(),
        &|c: Collected| c.events.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        &mut |path, file_events: Vec<Event>, _| {
            files.push(path.to_path_buf());
            events.extend(file_events);
        },
    )
    .unwrap();
    (files, events, stats)
}

#[test]
fn per_file_reading_delivers_the_same_events_in_walk_order_whatever_the_threads() {
    let samples = samples_dir();
    let tmp = tempfile::tempdir().unwrap();
    // Many files, so workers finish out of order, plus two that are no trace.
    copy_dir(&samples.join("attocode-py"), &tmp.path().join("py"));
    copy_dir(&samples.join("attocode-ts"), &tmp.path().join("ts"));
    copy_dir(&samples.join("agent-trace"), &tmp.path().join("at"));
    std::fs::write(tmp.path().join("notes.md"), "# not a trace\n").unwrap();
    std::fs::write(tmp.path().join("broken.jsonl"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    let paths = [tmp.path().to_path_buf()];
    let shared = events_of(
        &paths,
        &ReadOptions {
            format: None,
            threads: 1,
            ..Default::default()
        },
    );
    let (files_1, events_1, stats_1) = per_file(&paths, 1);
    let (files_3, events_3, stats_3) = per_file(&paths, 3);
    assert!(shared.len() > 100);
    assert_eq!(events_1, shared);
    assert_eq!(events_3, shared);
    // `each` sees every walked file once, in walk (sorted) order.
    assert_eq!(files_1, files_3);
    let mut sorted = files_3.clone();
    sorted.sort();
    assert_eq!(files_3, sorted);
    assert!(files_3.iter().any(|f| f.ends_with("notes.md")));
    let ignored = |stats: &loupe_formats::ReadStats| -> Vec<PathBuf> {
        stats.ignored.iter().map(|i| i.path.clone()).collect()
    };
    assert_eq!(ignored(&stats_1), ignored(&stats_3));
    for name in ["broken.jsonl", "notes.md"] {
        assert!(
            ignored(&stats_3).iter().any(|p| p.ends_with(name)),
            "{name}"
        );
    }
    for stats in [&stats_1, &stats_3] {
        assert_eq!(stats.events, shared.len() as u64);
        assert_eq!(stats.files, stats_1.files);
    }
}

#[test]
fn per_file_reading_of_a_missing_file_named_explicitly_is_an_error() {
    let err = read_paths_per_file(
        &[PathBuf::from("/nonexistent/trace.jsonl")],
        &ReadOptions::default(),
        &|_| Collected::default(),
        &|_| (),
        &mut |_, (), _| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/trace.jsonl"),
        "{err}"
    );
}

/// Hands on each event's id as it is read; closes with `"end"`.
struct HandingOn(loupe_formats::HandOn<String>);

impl loupe_formats::Sink for HandingOn {
    fn event(&mut self, _source: &loupe_formats::Source, event: Event) {
        self.0.hand_on(event.event_id);
    }
    fn skip(&mut self, _skipped: loupe_formats::Skipped) {}
}

#[test]
fn results_handed_on_before_a_file_ends_reach_the_caller_in_order() {
    let samples = samples_dir();
    let paths = [samples.join("attocode-py"), samples.join("attocode-ts")];
    let (files, events, _) = per_file(&paths, 1);
    let ids: Vec<String> = events.into_iter().map(|e| e.event_id).collect();
    for threads in [1, 2, 4] {
        let mut got: Vec<(PathBuf, String, bool)> = Vec::new();
        read_paths_per_file(
            &paths,
            &ReadOptions {
                format: None,
                threads,
                ..Default::default()
            },
            &|hand_on| HandingOn(hand_on),
            &|_| "end".to_owned(),
            &mut |path, result, last| got.push((path.to_path_buf(), result, last)),
        )
        .unwrap();
        // Files close in walk order, each after all it handed on.
        let closed: Vec<PathBuf> = got.iter().filter(|g| g.2).map(|g| g.0.clone()).collect();
        assert_eq!(closed, files, "{threads} threads");
        let mut open_file = None;
        for (path, result, last) in &got {
            if *last {
                assert_eq!(result, "end");
                open_file = None;
            } else {
                assert_eq!(*open_file.get_or_insert(path), path, "{threads} threads");
            }
        }
        let handed: Vec<String> = got.into_iter().filter(|g| !g.2).map(|g| g.1).collect();
        assert_eq!(handed, ids, "{threads} threads");
    }
}

#[test]
fn a_panic_while_working_on_one_file_reaches_the_caller_and_stops_the_workers() {
    let samples = samples_dir();
    let paths = [samples.join("attocode-py"), samples.join("attocode-ts")];
    let caught = std::panic::catch_unwind(|| {
        read_paths_per_file(
            &paths,
            &ReadOptions {
                format: None,
                threads: 2,
                ..Default::default()
            },
            &|_| Collected::default(),
            &|c: Collected| {
                if c.events
                    .iter()
                    .any(|(s, _)| s.path.ends_with("healthy.jsonl"))
                {
                    panic!("injected");
                }
            },
            &mut |_, (), _| {},
        )
    });
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"injected"));
}

#[test]
fn format_override_reads_as_the_named_format() {
    let bytes = std::fs::read(samples_dir().join("attocode-py/healthy.jsonl")).unwrap();
    let mut c = Collected::default();
    // Forced to attocode-ts: every line is skipped (no `_type`), nothing panics.
    assert_eq!(
        read_bytes(
            &bytes,
            Path::new("h"),
            Some(SourceFormat::AttocodeTs),
            &mut c
        )
        .unwrap(),
        SourceFormat::AttocodeTs
    );
    assert!(c.events.is_empty());
    assert!(c.skipped.iter().all(|s| s.reason.contains("_type")));
}

#[test]
fn every_sample_converted_to_canonical_matches_the_json_schema() {
    let schema_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/loupe-event.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).unwrap()).unwrap();
    let validator = jsonschema::JSONSchema::compile(&schema).unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = convert_paths(
        &[samples_dir()],
        &ReadOptions::default(),
        ConvertTarget::Canonical,
        out.path(),
        ExistingOutput::Refuse,
    )
    .unwrap();
    assert!(report.sessions.len() > 20, "{}", report.sessions.len());
    let mut lines = 0;
    for session in &report.sessions {
        for (n, line) in support::json_lines(&session.path).iter().enumerate() {
            lines += 1;
            if let Err(errors) = validator.validate(line) {
                let why: Vec<String> = errors.map(|e| e.to_string()).collect();
                panic!("{}:{}: {why:?}\n{line}", session.path.display(), n + 1);
            }
        }
    }
    assert!(lines > 500, "{lines}");
}

#[test]
fn converting_an_attocode_py_directory_gives_one_canonical_event_per_source_event() {
    let src = samples_dir().join("attocode-py");
    let out = tempfile::tempdir().unwrap();
    let report = convert_paths(
        std::slice::from_ref(&src),
        &ReadOptions::default(),
        ConvertTarget::Canonical,
        out.path(),
        ExistingOutput::Refuse,
    )
    .unwrap();
    assert!(report.skipped.is_empty());
    assert_eq!(report.sessions.len(), 6);
    assert_eq!(report.read.files, 6);
    let source_files: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    for session in &report.sessions {
        let source_file = source_files
            .iter()
            .find(|p| {
                support::json_lines(p)
                    .iter()
                    .any(|l| l["session_id"] == session.session_id.as_str())
            })
            .unwrap();
        let source_lines = support::json_lines(source_file);
        let written = std::fs::read(&session.path).unwrap();
        let mut back = Collected::default();
        assert_eq!(
            read_bytes(&written, &session.path, None, &mut back).unwrap(),
            SourceFormat::Loupe
        );
        assert_eq!(
            back.events.len(),
            source_lines.len(),
            "{}",
            session.session_id
        );
        assert_eq!(session.events, source_lines.len() as u64);
        // Source event ids are kept one to one.
        for (line, (_, e)) in source_lines.iter().zip(&back.events) {
            if let Some(id) = line["event_id"].as_str() {
                assert_eq!(e.event_id, id);
            }
        }
        // Reading the canonical output gives exactly what reading the source gave.
        let mut direct = Collected::default();
        read_bytes(
            &std::fs::read(source_file).unwrap(),
            source_file,
            None,
            &mut direct,
        )
        .unwrap();
        let mut direct: Vec<Event> = direct.events.into_iter().map(|(_, e)| e).collect();
        // ...its session start marked canonical, as docs/format.md requires.
        for e in direct
            .iter_mut()
            .filter(|e| e.kind == loupe_model::EventKind::SessionStart)
        {
            e.data
                .entry("format")
                .or_insert(loupe_model::FORMAT_NAME.into());
            e.data
                .entry("format_version")
                .or_insert(loupe_model::FORMAT_VERSION.into());
        }
        let back: Vec<Event> = back.events.into_iter().map(|(_, e)| e).collect();
        assert_eq!(back, direct);
    }
}

#[test]
fn converting_to_otlp_writes_one_request_per_session() {
    let src = samples_dir().join("attocode-ts/single-task-healthy.jsonl");
    let out = tempfile::tempdir().unwrap();
    let report = convert_paths(
        &[src],
        &ReadOptions::default(),
        ConvertTarget::Otlp,
        out.path(),
        ExistingOutput::Refuse,
    )
    .unwrap();
    assert_eq!(report.sessions.len(), 1);
    let written = std::fs::read(&report.sessions[0].path).unwrap();
    assert_eq!(loupe_formats::detect(&written), Some(SourceFormat::Otlp));
}

/// OTLP output is written as each input file ends (memory bounded by one
/// file's sessions): a session that continues in a later file is read back
/// from its output and joined, so it is still one request with every event,
/// and a file given twice adds nothing.
#[test]
fn converting_to_otlp_joins_a_session_continued_in_a_later_file() {
    let src = std::fs::read_to_string(samples_dir().join("attocode-py/healthy.jsonl")).unwrap();
    let lines: Vec<&str> = src.lines().collect();
    let (head, tail) = lines.split_at(lines.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    // Same file stem, so both parts read as session `healthy`.
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::write(dir.path().join("a/healthy.jsonl"), head.join("\n") + "\n").unwrap();
    std::fs::write(dir.path().join("b/healthy.jsonl"), tail.join("\n") + "\n").unwrap();
    let whole = events_of(
        &[samples_dir().join("attocode-py/healthy.jsonl")],
        &ReadOptions::default(),
    );
    let out = tempfile::tempdir().unwrap();
    let inputs = [
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("a/healthy.jsonl"),
    ];
    let report = convert_paths(
        &inputs,
        &ReadOptions::default(),
        ConvertTarget::Otlp,
        out.path(),
        ExistingOutput::Refuse,
    )
    .unwrap();
    assert_eq!(report.sessions.len(), 1, "{:?}", report.sessions);
    assert_eq!(report.sessions[0].events as usize, whole.len());
    assert_eq!(
        report.duplicates,
        head.len(),
        "the file given twice adds nothing"
    );
    let mut back = events_of(&[report.sessions[0].path.clone()], &ReadOptions::default());
    let mut want = whole;
    for events in [&mut back, &mut want] {
        events.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    }
    assert_eq!(back, want);
}

/// A named pipe returns what was written so far: a first read that ends
/// inside the first line must not decide the format (the file's size, 0,
/// says nothing about what a read can return).
#[cfg(unix)]
#[test]
fn a_named_pipe_written_slowly_is_detected_and_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("trace.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let line = |i: u32| {
        format!(
            r#"{{"event_id":"e{i}","kind":"custom","timestamp":"2026-01-01T00:00:0{i}Z","session_id":"s1"}}"#
        )
    };
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
            let first = line(1);
            w.write_all(&first.as_bytes()[..20]).unwrap();
            w.flush().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            w.write_all(&first.as_bytes()[20..]).unwrap();
            for i in 2..=3 {
                w.write_all(format!("\n{}", line(i)).as_bytes()).unwrap();
            }
            w.write_all(b"\n").unwrap();
        })
    };
    let events = events_of(
        &[fifo],
        &ReadOptions {
            threads: 1,
            ..Default::default()
        },
    );
    writer.join().unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e1", "e2", "e3"]);
}

/// A broken `metadata.json` beside an Agent Trace `events.jsonl` is said
/// (a skipped record naming it), and the events are read without it.
#[test]
fn a_broken_agent_trace_metadata_file_is_reported_not_silently_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let session = samples_dir().join("agent-trace/traces/session-user-123");
    let dir = tmp.path().join("session-user-123");
    copy_dir(&session, &dir);
    let intact = {
        let mut c = Collected::default();
        read_paths(std::slice::from_ref(&dir), &ReadOptions::default(), &mut c).unwrap();
        assert!(c.skipped.is_empty(), "{:?}", c.skipped);
        c.events.len()
    };
    std::fs::write(dir.join("metadata.json"), b"{\"session_id\": ").unwrap();
    let mut c = Collected::default();
    read_paths(std::slice::from_ref(&dir), &ReadOptions::default(), &mut c).unwrap();
    assert_eq!(c.events.len(), intact);
    assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
    assert!(c.skipped[0].path.ends_with("metadata.json"));
    assert!(
        c.skipped[0].reason.contains("invalid JSON"),
        "{}",
        c.skipped[0].reason
    );
}

/// A number out of `f64`'s range (`1e999`, which some writers print for an
/// infinite float) or a string where a number belongs (`"NaN"`, `"12"`)
/// costs only that value, never its line, in every line reader: the
/// fuzz seeds `odd-numbers.jsonl` of each reader are read whole.
#[test]
fn odd_numbers_cost_only_themselves_in_every_line_reader() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus-seed");
    for (target, format, events, output_tokens) in [
        (
            "read_canonical",
            SourceFormat::Loupe,
            4,
            vec![Some(2), Some(2)],
        ),
        (
            "read_attocode_ts",
            SourceFormat::AttocodeTs,
            3,
            vec![Some(2), Some(2)],
        ),
        (
            "read_attocode_py",
            SourceFormat::AttocodePy,
            3,
            vec![Some(5), Some(5)],
        ),
    ] {
        let path = seeds.join(target).join("odd-numbers.jsonl");
        let bytes = std::fs::read(&path).unwrap();
        let mut c = Collected::default();
        read_bytes(&bytes, &path, Some(format), &mut c).unwrap();
        assert!(c.skipped.is_empty(), "{target}: {:?}", c.skipped);
        assert_eq!(c.events.len(), events, "{target}");
        let responses: Vec<&Event> = c
            .events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| e.kind == loupe_model::EventKind::LlmResponse)
            .collect();
        let tokens: Vec<Option<u64>> = responses.iter().map(|e| e.usage().output_tokens).collect();
        assert_eq!(tokens, output_tokens, "{target}");
        for e in responses {
            assert_eq!(
                e.duration_ms, None,
                "{target}: {} has no duration",
                e.event_id
            );
        }
    }
}
