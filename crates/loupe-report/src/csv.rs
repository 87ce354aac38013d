//! CSV output: one row per session (`--view summary`), per span-tree node
//! (`--view tree`; workflow nodes are rows with `kind = node`), per timeline
//! event (`--view timeline`) or per iteration of the token flow
//! (`--view tokens`). Each starts with a header row; quoting is the `csv`
//! crate's (RFC 4180).

use loupe_analyze::{SessionAnalysis, SpanNode};

use crate::text::ms_cell;
use std::borrow::Cow;

/// Header of [`sessions`].
pub const SESSION_COLUMNS: &[&str] = &[
    "session_id",
    "source_path",
    "source_format",
    "task",
    "model",
    "status",
    "started_at",
    "ended_at",
    "duration_ms",
    "iterations",
    "llm_calls",
    "tool_calls",
    "tool_errors",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "total_tokens",
    "cache_hit_rate",
    "cost_usd",
    "compactions",
    "subagents",
    "efficiency_score",
    "issues",
];

fn finish(w: csv::Writer<Vec<u8>>) -> String {
    // Writing to a Vec cannot fail, and every field comes from a Rust `String`.
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// A cell a spreadsheet would not run: text starting with `=`, `+`, `-`,
/// `@`, a tab or a carriage return (a formula to Excel, LibreOffice and
/// Sheets) gets a leading `'`, which they show as text. Numbers, negative
/// ones included, are left as they are. Trace content (tool arguments,
/// errors, task text) is untrusted, so every CSV cell goes through this.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    let risky = cell
        .as_bytes()
        .first()
        .is_some_and(|b| matches!(b, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r'));
    if risky && cell.parse::<f64>().is_err() {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Writes one record, each cell made [`spreadsheet_safe`]. Writing to a
/// `Vec` cannot fail.
fn row<I, T>(w: &mut csv::Writer<Vec<u8>>, cells: I)
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    let _ = w.write_record(
        cells
            .into_iter()
            .map(|c| spreadsheet_safe(c.as_ref()).into_owned()),
    );
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// One row per session.
pub fn sessions(analyses: &[SessionAnalysis]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    row(&mut w, SESSION_COLUMNS);
    for a in analyses {
        let m = &a.metrics;
        let t = &m.tokens;
        // Unknown is an empty cell, never 0 (the JSON's null).
        let tokens = |n: u64| opt(a.tokens_reported().then_some(n));
        row(
            &mut w,
            [
                a.session_id.clone(),
                a.source.path.clone(),
                a.source.format.as_str().to_owned(),
                a.task.clone().unwrap_or_default(),
                a.model.clone().unwrap_or_default(),
                a.status.as_str().to_owned(),
                opt(a.started_at.map(|t| t.to_rfc3339())),
                opt(a.ended_at.map(|t| t.to_rfc3339())),
                opt(a.duration_ms.map(ms_cell)),
                m.iterations.to_string(),
                m.llm_calls.to_string(),
                m.tool_calls.to_string(),
                m.tool_errors.to_string(),
                m.errors.to_string(),
                tokens(t.input_tokens),
                tokens(t.output_tokens),
                tokens(t.cache_read_tokens),
                tokens(t.cache_write_tokens),
                tokens(t.reasoning_tokens),
                tokens(t.total()),
                opt(a.known_cache_hit_rate().map(|r| format!("{r:.4}"))),
                opt(a.known_cost_usd().map(|c| format!("{c:.6}"))),
                m.compactions.to_string(),
                m.subagents.to_string(),
                format!("{:.1}", a.efficiency_score),
                a.issues.len().to_string(),
            ],
        );
    }
    finish(w)
}

/// One row per issue found (`loupe issues`/`fixes --output csv`), most
/// severe first within each session; `suggestion` is the fix.
pub fn issues(analyses: &[SessionAnalysis]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    row(
        &mut w,
        [
            "session_id",
            "severity",
            "category",
            "title",
            "iteration",
            "description",
            "suggestion",
            "evidence",
        ],
    );
    for a in analyses {
        for i in &a.issues {
            row(
                &mut w,
                [
                    a.session_id.clone(),
                    crate::terminal::summary::severity_name(i.severity).to_lowercase(),
                    i.category.clone(),
                    i.title.clone(),
                    opt(i.iteration),
                    i.description.clone(),
                    i.suggestion.clone(),
                    i.evidence.join("; "),
                ],
            );
        }
    }
    finish(w)
}

/// One row per span-tree node (depth-first), including workflow nodes.
pub fn nodes(analyses: &[SessionAnalysis]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    row(
        &mut w,
        [
            "session_id",
            "depth",
            "kind",
            "label",
            "status",
            "iteration",
            "agent",
            "start",
            "duration_ms",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "total_tokens",
        ],
    );
    fn walk(w: &mut csv::Writer<Vec<u8>>, session: &str, n: &SpanNode, depth: usize) {
        let split = n.tokens.filter(|t| !t.split_unknown());
        let kind = crate::text::serde_name(n.kind);
        let status = crate::text::serde_name(n.status);
        row(
            w,
            [
                session.to_owned(),
                depth.to_string(),
                kind,
                n.label.clone(),
                status,
                opt(n.iteration),
                n.agent.as_ref().map(|a| a.id.clone()).unwrap_or_default(),
                n.start.to_rfc3339(),
                opt(n.duration_ms.map(ms_cell)),
                // A total without its split leaves the split's cells empty.
                opt(split.map(|t| t.input_tokens)),
                opt(split.map(|t| t.output_tokens)),
                opt(split.map(|t| t.cache_read_tokens)),
                opt(n.tokens.map(|t| t.total())),
            ],
        );
        for c in &n.children {
            walk(w, session, c, depth + 1);
        }
    }
    for a in analyses {
        walk(&mut w, &a.session_id, &a.tree, 0);
    }
    finish(w)
}

/// One row per timeline event.
pub fn timeline(analyses: &[SessionAnalysis]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    row(
        &mut w,
        [
            "session_id",
            "offset_ms",
            "kind",
            "label",
            "duration_ms",
            "iteration",
            "agent",
            "important",
        ],
    );
    for a in analyses {
        for e in &a.timeline {
            row(
                &mut w,
                [
                    a.session_id.clone(),
                    format!("{:.3}", e.offset_ms),
                    e.kind.as_str().to_owned(),
                    e.label.clone(),
                    opt(e.duration_ms.map(ms_cell)),
                    opt(e.iteration),
                    e.agent.clone().unwrap_or_default(),
                    e.important.to_string(),
                ],
            );
        }
    }
    finish(w)
}

/// One row per iteration of the token flow.
pub fn token_flow(analyses: &[SessionAnalysis]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    row(
        &mut w,
        [
            "session_id",
            "iteration",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "total_tokens",
            "cache_hit_rate",
            "cost_usd",
            "cumulative_cost_usd",
            "cumulative_tokens",
        ],
    );
    for a in analyses {
        for r in &a.token_flow.rows {
            let t = &r.tokens;
            row(
                &mut w,
                [
                    a.session_id.clone(),
                    r.iteration.to_string(),
                    t.input_tokens.to_string(),
                    t.output_tokens.to_string(),
                    t.cache_read_tokens.to_string(),
                    t.cache_write_tokens.to_string(),
                    t.reasoning_tokens.to_string(),
                    t.total().to_string(),
                    format!("{:.4}", r.cache_hit_rate),
                    format!("{:.6}", r.cost_usd),
                    format!("{:.6}", r.cumulative_cost_usd),
                    r.cumulative_tokens.to_string(),
                ],
            );
        }
    }
    finish(w)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn unknown_is_an_empty_cell_and_durations_lose_their_float_noise() {
        let mut a = crate::testing::sample_analysis();
        a.metrics.tokens = loupe_model::TokenTotals::default();
        a.metrics.cost_usd = 0.0;
        a.token_flow.cache_rating = loupe_analyze::CacheRating::None;
        a.duration_ms = Some(8_700.000_047_683_716);
        a.tree.duration_ms = Some(4_099.999_904_632_568);
        let out = sessions(std::slice::from_ref(&a));
        let mut reader = ::csv::ReaderBuilder::new().from_reader(out.as_bytes());
        let header = reader.headers().unwrap().clone();
        let record = reader.records().next().unwrap().unwrap();
        let cell = |name: &str| {
            let i = header.iter().position(|h| h == name).unwrap();
            record.get(i).unwrap().to_owned()
        };
        for name in ["input_tokens", "total_tokens", "cache_hit_rate", "cost_usd"] {
            assert_eq!(cell(name), "", "{name}");
        }
        assert_eq!(cell("llm_calls"), "3");
        assert_eq!(cell("duration_ms"), "8700");
        let tree = nodes(std::slice::from_ref(&a));
        assert!(tree.contains(",4100,"), "{tree}");
        assert!(!tree.contains("4099.99"), "{tree}");
    }

    #[test]
    fn formulas_from_trace_content_are_kept_as_text() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1+cmd",
            "-2+3",
            "@SUM(A1)",
            "\tx",
            "\rx",
        ] {
            assert_eq!(spreadsheet_safe(formula), format!("'{formula}"));
        }
        for plain in ["-5", "-0.25", "+3", "1e-3", "bash", "", "a=b"] {
            assert_eq!(spreadsheet_safe(plain), plain);
        }
        // Every renderer's cells go through it.
        let hostile = crate::testing::hostile_analysis("=cmd|'/c calc'!A1");
        for csv in [
            sessions(std::slice::from_ref(&hostile)),
            issues(std::slice::from_ref(&hostile)),
            nodes(std::slice::from_ref(&hostile)),
            timeline(std::slice::from_ref(&hostile)),
        ] {
            let mut reader = ::csv::ReaderBuilder::new().from_reader(csv.as_bytes());
            for record in reader.records() {
                for cell in record.unwrap().iter() {
                    assert!(!cell.starts_with('='), "{cell:?} in {csv}");
                }
            }
        }
    }
}
