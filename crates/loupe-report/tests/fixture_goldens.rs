//! Golden snapshots of every view and output format for a hand-built session
//! (`loupe_report::testing::sample_analysis`). They pin layout decisions
//! (alignment, bars, sections) independently of the readers and analysers;
//! `samples_goldens.rs` covers the real sample traces end to end.
#![allow(clippy::unwrap_used)]

use loupe_report::terminal::{self, View};
use loupe_report::testing::sample_analysis;

#[test]
fn terminal_views() {
    let a = [sample_analysis()];
    insta::assert_snapshot!("summary", terminal::render(&a, View::Summary, false));
    insta::assert_snapshot!("timeline", terminal::render(&a, View::Timeline, false));
    insta::assert_snapshot!("tree", terminal::render(&a, View::Tree, false));
    insta::assert_snapshot!("tokens", terminal::render(&a, View::Tokens, false));
    insta::assert_snapshot!("fixes", terminal::summary::render_fixes(&a[0], false));
}

#[test]
fn colour_is_only_added_when_asked() {
    let a = [sample_analysis()];
    let plain = terminal::render(&a, View::All, false);
    let coloured = terminal::render(&a, View::All, true);
    assert!(!plain.contains('\x1b'));
    assert!(coloured.contains("\x1b["));
    // Stripping the escapes gives back the plain text: colour changes nothing else.
    let stripped = strip_ansi(&coloured);
    assert_eq!(stripped, plain);
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn file_formats() {
    let a = [sample_analysis()];
    insta::assert_snapshot!("json", loupe_report::json::render(&a, &[]));
    insta::assert_snapshot!("csv_sessions", loupe_report::csv::sessions(&a));
    insta::assert_snapshot!("csv_nodes", loupe_report::csv::nodes(&a));
    insta::assert_snapshot!("csv_timeline", loupe_report::csv::timeline(&a));
    insta::assert_snapshot!("csv_tokens", loupe_report::csv::token_flow(&a));
    insta::assert_snapshot!("markdown", loupe_report::markdown::render(&a));
    insta::assert_snapshot!("llm", loupe_report::llm::render(&a));
    insta::assert_snapshot!("html", loupe_report::html::render(&a, None));
}

#[test]
fn llm_summary_stays_within_budget_for_huge_inputs() {
    let mut big = sample_analysis();
    let issue = big.issues[0].clone();
    big.issues = (0..1_000).map(|_| issue.clone()).collect();
    let row = big.token_flow.rows[0].clone();
    big.token_flow.rows = (0..2_000)
        .map(|i| {
            let mut r = row.clone();
            r.iteration = i;
            r
        })
        .collect();
    big.task = Some("x".repeat(100_000));
    let many: Vec<_> = (0..120).map(|_| big.clone()).collect();
    let out = loupe_report::llm::render(&many);
    assert!(
        loupe_report::llm::estimated_tokens(&out) <= loupe_report::llm::MAX_TOKENS,
        "{} tokens",
        loupe_report::llm::estimated_tokens(&out)
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["totals"]["sessions_total"], 120);
    assert!(v["sessions_omitted"].as_u64().unwrap() > 0);
    assert!(v["sessions"][0]["issues_omitted"].as_u64().unwrap() > 0);
    // A single small session is rendered in full.
    let small = loupe_report::llm::render(&[sample_analysis()]);
    let v: serde_json::Value = serde_json::from_str(&small).unwrap();
    assert_eq!(v["sessions"][0]["issues"].as_array().unwrap().len(), 2);
    assert!(v["sessions"][0].get("issues_omitted").is_none());
}

#[test]
fn trace_text_cannot_inject_terminal_escapes() {
    let a = [loupe_report::testing::hostile_analysis(
        "\x1b[2J\x1b]0;owned\x07\nfake line",
    )];
    for view in [View::Summary, View::Timeline, View::Tree, View::Tokens] {
        let out = terminal::render(&a, view, false);
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "{view:?}: {out}"
        );
        assert!(
            !out.contains("\nfake line"),
            "{view:?}: a trace newline started a new line"
        );
    }
    let fixes = terminal::summary::render_fixes(&a[0], false);
    assert!(!fixes.contains('\x1b'));
}
