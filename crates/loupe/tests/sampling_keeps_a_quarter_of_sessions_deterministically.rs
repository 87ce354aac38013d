//! Sampling at 0.25 over 10,000 session ids writes 25% ± 2% of them, the
//! same ones every time; unsampled sessions create no file.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use loupe::Recorder;

fn sampled_ids(dir: &std::path::Path, ids: &[String]) -> BTreeSet<String> {
    let mut kept = BTreeSet::new();
    for id in ids {
        let session = Recorder::builder()
            .dir(dir)
            .session_id(id.clone())
            .sample_rate(0.25)
            .flush_on_panic(false)
            .flush_at_exit(false)
            .start()
            .unwrap();
        session.record_thinking("x", None);
        if session.is_recording() {
            kept.insert(id.clone());
        }
    }
    kept
}

#[test]
fn a_quarter_of_10k_sessions_are_written_and_always_the_same() {
    let ids: Vec<String> = (0..10_000).map(|i| format!("session-{i}")).collect();
    let dir = tempfile::tempdir().unwrap();
    let first = sampled_ids(dir.path(), &ids);
    let files: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .trim_end_matches(".jsonl")
                .to_owned()
        })
        .collect();
    assert_eq!(files, first, "exactly the sampled sessions have files");
    let share = first.len() as f64 / ids.len() as f64;
    assert!((0.23..=0.27).contains(&share), "sampled {share}");

    let again_dir = tempfile::tempdir().unwrap();
    assert_eq!(sampled_ids(again_dir.path(), &ids), first);
    // The decision depends on the id alone.
    assert!(first.iter().all(|id| loupe::is_sampled(id, 0.25)));
}
