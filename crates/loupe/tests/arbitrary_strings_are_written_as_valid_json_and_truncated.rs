//! Property: whatever string an agent records (control characters, lone
//! surrogates are impossible in Rust but astral planes, combining marks and
//! huge strings are not) comes back as valid JSON, unchanged below the
//! limit, cut to the limit and marked `…[truncated N chars]` above it.
#![allow(clippy::unwrap_used)]

mod common;

use loupe::{QueueFullPolicy, Recorder};
use proptest::prelude::*;
use serde_json::{json, Map};

const LIMIT: usize = 64;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,200}",
        "[\\x00-\\x1f\"\\\\]{0,100}",
        "[\u{0300}-\u{036f}\u{1F600}-\u{1F64F}\u{10000}-\u{10FFFF}]{0,150}",
        proptest::collection::vec(any::<char>(), 0..300).prop_map(|v| v.into_iter().collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn strings_round_trip_or_truncate_with_the_marker(texts in proptest::collection::vec(any_text(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let session = Recorder::builder()
            .dir(dir.path())
            .session_id("prop")
            .redact(false)
            .max_content_chars(LIMIT)
            .queue_full(QueueFullPolicy::Block)
            .start()
            .unwrap();
        let path = session.path().unwrap().to_owned();
        for t in &texts {
            let mut data = Map::new();
            data.insert("text".into(), json!(t));
            data.insert("nested".into(), json!({"list": [t]}));
            session.record_custom("s", data);
        }
        drop(session);
        let events = common::read_events(&path);
        let customs = common::of_kind(&events, "custom");
        prop_assert_eq!(customs.len(), texts.len());
        for (t, e) in texts.iter().zip(customs) {
            let expected = expected_after_truncation(t);
            prop_assert_eq!(e["data"]["text"].as_str().unwrap(), expected.as_str());
            prop_assert_eq!(e["data"]["nested"]["list"][0].as_str().unwrap(), expected.as_str());
        }
    }
}

/// The specification, written independently of the library's code.
fn expected_after_truncation(t: &str) -> String {
    let n = t.chars().count();
    if n <= LIMIT {
        return t.to_owned();
    }
    let kept: String = t.chars().take(LIMIT).collect();
    format!("{kept}…[truncated {} chars]", n - LIMIT)
}

#[test]
fn a_huge_string_is_cut_to_the_default_limit() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("huge")
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let huge = "é🎉\u{7}".repeat(2_000_000);
    session.record_thinking(&huge, None);
    drop(session);
    let events = common::read_events(&path);
    let text = common::of_kind(&events, "thinking")[0]["data"]["thinking"]
        .as_str()
        .unwrap()
        .to_owned();
    let limit = loupe::DEFAULT_MAX_CONTENT_CHARS;
    assert!(text.ends_with(&format!("…[truncated {} chars]", 6_000_000 - limit)));
    assert!(text.starts_with("é🎉\u{7}"));
}
