//! `loupe export --llm`: a compact JSON summary to paste into a model, at most
//! [`MAX_TOKENS`] tokens by [`estimated_tokens`] whatever the number or size
//! of sessions.
//!
//! The estimate is deliberately conservative, so the budget holds for any
//! script: ASCII at 4 characters a token (English text and JSON punctuation
//! in the usual BPE tokenizers), every other character at 2 of its UTF-8
//! bytes a token, never less than one: an accented letter or Cyrillic is 1
//! token, a CJK ideograph 1.5, an emoji 2. Tokenizers give CJK about 1–1.5
//! tokens a character and an emoji 1–3.
//!
//! Issues, when not all fit, are picked one per category (most severe
//! first) before a category's repeats, and `issues_by_category` counts
//! them all, so a category never disappears behind another's repeats.
//!
//! The budget is met by trying progressively terser detail levels (fewer
//! issues, tools, token-flow rows and failures, shorter texts, fewer
//! sessions) and keeping the first that fits; every cut list says how many
//! items it left out (`*_omitted`), so the model knows the summary is partial.

use loupe_analyze::{SessionAnalysis, SpanKind, SpanNode};
use serde_json::{json, Map, Value};

use crate::text::truncate_chars;

/// Hard ceiling on the output's size, in [`estimated_tokens`].
pub const MAX_TOKENS: usize = 4_000;

/// A conservative token count of `s` (see the module's documentation):
/// ASCII at 4 characters a token, any other character at 2 UTF-8 bytes a
/// token.
pub fn estimated_tokens(s: &str) -> usize {
    let (mut ascii, mut other_halves) = (0usize, 0usize);
    for c in s.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else {
            // 2 bytes: 1 token, 3 bytes: 1.5, 4 bytes: 2 (in half tokens).
            other_halves += c.len_utf8().max(2);
        }
    }
    ascii.div_ceil(4) + other_halves.div_ceil(2)
}

#[derive(Clone, Copy)]
struct Detail {
    sessions: usize,
    issues: usize,
    tools: usize,
    flow_rows: usize,
    failures: usize,
    text: usize,
}

const LEVELS: &[Detail] = &[
    Detail {
        sessions: 20,
        issues: 12,
        tools: 12,
        flow_rows: 30,
        failures: 10,
        text: 240,
    },
    Detail {
        sessions: 12,
        issues: 8,
        tools: 8,
        flow_rows: 16,
        failures: 6,
        text: 160,
    },
    Detail {
        sessions: 8,
        issues: 5,
        tools: 5,
        flow_rows: 8,
        failures: 4,
        text: 100,
    },
    Detail {
        sessions: 5,
        issues: 3,
        tools: 3,
        flow_rows: 4,
        failures: 2,
        text: 60,
    },
    Detail {
        sessions: 3,
        issues: 2,
        tools: 2,
        flow_rows: 0,
        failures: 1,
        text: 40,
    },
    Detail {
        sessions: 1,
        issues: 1,
        tools: 1,
        flow_rows: 0,
        failures: 0,
        text: 30,
    },
];

/// The compact summary of `analyses` as one line of JSON, ≤ [`MAX_TOKENS`]
/// [`estimated_tokens`].
pub fn render(analyses: &[SessionAnalysis]) -> String {
    for level in LEVELS {
        let s = document(analyses, *level).to_string();
        if estimated_tokens(&s) <= MAX_TOKENS {
            return s;
        }
    }
    // Pathological input (for example enormous session ids): totals only.
    let s = totals(analyses).to_string();
    if estimated_tokens(&s) <= MAX_TOKENS {
        return s;
    }
    json!({ "sessions_total": analyses.len(), "note": "summary too large" }).to_string()
}

/// A session that never wrote its end (still `running` in a finished
/// trace): it crashed or was killed, which `compare` and `stats` count as
/// not completed.
fn unfinished(a: &SessionAnalysis) -> bool {
    a.status == loupe_model::SessionStatus::Running
}

fn failed(a: &SessionAnalysis) -> bool {
    a.status == loupe_model::SessionStatus::Failed
}

/// Totals over every session; a token or cost total sums the sessions
/// where it is known, and is `null` when it is known for none.
fn totals(analyses: &[SessionAnalysis]) -> Value {
    let mut cost: Option<f64> = None;
    let mut tokens: Option<u64> = None;
    let mut issues = 0usize;
    let mut failed_sessions = 0usize;
    let mut unfinished_sessions = 0usize;
    for a in analyses {
        if let Some(c) = a.known_cost_usd() {
            *cost.get_or_insert(0.0) += c;
        }
        if a.tokens_reported() {
            *tokens.get_or_insert(0) += a.metrics.tokens.total();
        }
        issues += a.issues.len();
        failed_sessions += usize::from(failed(a));
        unfinished_sessions += usize::from(unfinished(a));
    }
    json!({
        "sessions_total": analyses.len(),
        "failed_sessions": failed_sessions,
        "unfinished_sessions": unfinished_sessions,
        "total_tokens": tokens,
        "total_cost_usd": cost.map(|c| round(c, 4)),
        "total_issues": issues,
    })
}

fn document(analyses: &[SessionAnalysis], d: Detail) -> Value {
    let mut doc = Map::new();
    doc.insert("format".into(), json!("loupe-llm-summary/1"));
    doc.insert(
        "note".into(),
        json!("tokens: input includes cache reads and writes; output includes reasoning"),
    );
    if analyses.len() > 1 {
        doc.insert("totals".into(), totals(analyses));
    }
    // When not all fit, the ones worth a model's attention come first:
    // failed and unfinished sessions, then the lowest scores (input order
    // breaks ties).
    let mut order: Vec<&SessionAnalysis> = analyses.iter().collect();
    if analyses.len() > d.sessions {
        order.sort_by(|x, y| {
            let ok = |a: &SessionAnalysis| !(failed(a) || unfinished(a));
            ok(x)
                .cmp(&ok(y))
                .then(x.efficiency_score.total_cmp(&y.efficiency_score))
        });
        doc.insert(
            "sessions_shown".into(),
            json!("failed and unfinished first, then lowest score"),
        );
        doc.insert("issue_counts".into(), issue_counts(analyses));
    }
    let shown: Vec<Value> = order
        .into_iter()
        .take(d.sessions)
        .map(|a| session(a, d))
        .collect();
    doc.insert("sessions".into(), Value::Array(shown));
    if analyses.len() > d.sessions {
        doc.insert(
            "sessions_omitted".into(),
            json!(analyses.len() - d.sessions),
        );
    }
    Value::Object(doc)
}

/// How many sessions each issue category was found in, most common first
/// (at most ten), across every session, shown or not.
fn issue_counts(analyses: &[SessionAnalysis]) -> Value {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for a in analyses {
        let mut seen: Vec<&str> = a.issues.iter().map(|i| i.category.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        for c in seen {
            *counts.entry(c).or_default() += 1;
        }
    }
    most_first(counts, 10, str::to_owned)
}

fn text(s: &str, d: Detail) -> String {
    truncate_chars(s, d.text)
}

fn round(v: f64, places: i32) -> f64 {
    if !v.is_finite() {
        return 0.0;
    }
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn capped(obj: &mut Map<String, Value>, key: &str, items: Vec<Value>, total: usize) {
    obj.insert(key.to_owned(), Value::Array(items));
    if total > 0 {
        let shown = obj.get(key).and_then(Value::as_array).map_or(0, Vec::len);
        if total > shown {
            obj.insert(format!("{key}_omitted"), json!(total - shown));
        }
    }
}

fn session(a: &SessionAnalysis, d: Detail) -> Value {
    let m = &a.metrics;
    let t = &m.tokens;
    // Unknown counts are null, as in `--output json`.
    let tokens = |n: u64| a.tokens_reported().then_some(n);
    let mut s = Map::new();
    s.insert("id".into(), json!(text(&a.session_id, d)));
    s.insert("format".into(), json!(a.source.format.as_str()));
    if let Some(task) = &a.task {
        s.insert("task".into(), json!(text(task, d)));
    }
    if let Some(model) = &a.model {
        s.insert("model".into(), json!(text(model, d)));
    }
    s.insert("status".into(), json!(a.status.as_str()));
    if let Some(ms) = a.duration_ms {
        s.insert("duration_s".into(), json!(round(ms / 1000.0, 1)));
    }
    s.insert(
        "efficiency_score".into(),
        json!(round(a.efficiency_score, 1)),
    );
    s.insert(
        "metrics".into(),
        json!({
            "iterations": m.iterations, "llm_calls": m.llm_calls, "tool_calls": m.tool_calls,
            "tool_errors": m.tool_errors, "errors": m.errors,
            "input_tokens": tokens(t.input_tokens), "output_tokens": tokens(t.output_tokens),
            "cache_read_tokens": tokens(t.cache_read_tokens),
            "cache_write_tokens": tokens(t.cache_write_tokens),
            "reasoning_tokens": tokens(t.reasoning_tokens),
            "cache_hit_rate": a.known_cache_hit_rate().map(|r| round(r, 3)),
            "cost_usd": a.known_cost_usd().map(|c| round(c, 4)),
            "compactions": m.compactions, "subagents": m.subagents,
        }),
    );
    if !m.unpriced_models.is_empty() {
        let names: Vec<Value> = m
            .unpriced_models
            .iter()
            .take(3)
            .map(|n| json!(text(n, d)))
            .collect();
        s.insert("unpriced_models".into(), Value::Array(names));
    }
    let issues = pick_issues(&a.issues, d.issues)
        .into_iter()
        .map(|i| {
            let mut o = json!({
                "severity": i.severity, "category": text(&i.category, d),
                "title": text(&i.title, d), "fix": text(&i.suggestion, d),
            });
            if let (Some(it), Some(obj)) = (i.iteration, o.as_object_mut()) {
                obj.insert("iteration".into(), json!(it));
            }
            o
        })
        .collect();
    capped(&mut s, "issues", issues, a.issues.len());
    if a.issues.len() > d.issues {
        s.insert(
            "issues_by_category".into(),
            issues_by_category(&a.issues, d),
        );
    }
    let tools = a
        .tools
        .iter()
        .take(d.tools)
        .map(|t| {
            json!([
                text(&t.name, d),
                t.calls,
                t.errors,
                t.known_durations().map(|(avg, _)| round(avg, 0))
            ])
        })
        .collect();
    s.insert(
        "tools_columns".into(),
        json!(["name", "calls", "errors", "avg_ms"]),
    );
    capped(&mut s, "tools", tools, a.tools.len());
    if d.flow_rows > 0 && !a.token_flow.rows.is_empty() {
        let rows = &a.token_flow.rows;
        let picked = sample_rows(
            rows.len(),
            d.flow_rows,
            a.token_flow
                .peak_iteration
                .and_then(|p| rows.iter().position(|r| r.iteration == p)),
        );
        let flow = picked
            .into_iter()
            .filter_map(|i| rows.get(i))
            .map(|r| {
                json!([
                    r.iteration,
                    r.tokens.input_tokens,
                    r.tokens.output_tokens,
                    r.tokens.cache_read_tokens,
                    round(r.cost_usd, 4)
                ])
            })
            .collect();
        s.insert(
            "token_flow_columns".into(),
            json!(["iteration", "input", "output", "cache_read", "cost_usd"]),
        );
        capped(&mut s, "token_flow", flow, rows.len());
    }
    s.insert("trend".into(), json!(a.token_flow.trend));
    let mut failures = Vec::new();
    collect_failures(&a.tree, &mut failures);
    let total_failures = failures.len();
    let failures = failures
        .into_iter()
        .take(d.failures)
        .map(|(it, label)| json!({"iteration": it, "span": text(label, d)}))
        .collect();
    capped(&mut s, "failed_spans", failures, total_failures);
    Value::Object(s)
}

/// At most `max` of `issues` (most severe first), one per category before
/// any category's second, so a category with many repeats cannot push the
/// others out; shown in their original (severity) order.
fn pick_issues(issues: &[loupe_analyze::Issue], max: usize) -> Vec<&loupe_analyze::Issue> {
    let mut firsts = Vec::new();
    let mut repeats = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (index, issue) in issues.iter().enumerate() {
        if seen.insert(issue.category.as_str()) {
            firsts.push(index);
        } else {
            repeats.push(index);
        }
    }
    let mut picked: Vec<usize> = firsts.into_iter().chain(repeats).take(max).collect();
    picked.sort_unstable();
    picked.into_iter().filter_map(|i| issues.get(i)).collect()
}

/// How many issues of each category the session has, most first.
fn issues_by_category(issues: &[loupe_analyze::Issue], d: Detail) -> Value {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for i in issues {
        *counts.entry(i.category.as_str()).or_default() += 1;
    }
    // Rule names are a few dozen; the cap only guards against a trace
    // that invents categories by the thousand.
    most_first(counts, 32, |c| text(c, d))
}

/// Category counts as a JSON object, most common first (ties by name), at
/// most `cap` of them, each name written by `name`.
fn most_first(
    counts: std::collections::BTreeMap<&str, usize>,
    cap: usize,
    name: impl Fn(&str) -> String,
) -> Value {
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    Value::Object(
        counts
            .into_iter()
            .take(cap)
            .map(|(c, n)| (name(c), json!(n)))
            .collect(),
    )
}

/// Indices of at most `max` rows: the first and last halves, plus the peak.
fn sample_rows(len: usize, max: usize, peak: Option<usize>) -> Vec<usize> {
    if len <= max {
        return (0..len).collect();
    }
    let head = max.div_ceil(2);
    let tail = max - head;
    let mut picked: Vec<usize> = (0..head).chain(len - tail..len).collect();
    if let Some(p) = peak {
        if !picked.contains(&p) {
            picked.pop();
            picked.push(p);
            picked.sort_unstable();
        }
    }
    picked
}

fn collect_failures<'a>(n: &'a SpanNode, out: &mut Vec<(Option<u32>, &'a str)>) {
    if n.status == loupe_analyze::NodeStatus::Error
        && !matches!(
            n.kind,
            SpanKind::Session | SpanKind::Iteration | SpanKind::Turn | SpanKind::Task
        )
    {
        out.push((n.iteration, &n.label));
    }
    for c in &n.children {
        collect_failures(c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_not_all_sessions_fit_the_failed_and_lowest_scoring_come_first() {
        let mut analyses: Vec<SessionAnalysis> = (0..40)
            .map(|i| {
                let mut a = crate::testing::sample_analysis();
                a.session_id = format!("s{i:02}");
                a.status = loupe_model::SessionStatus::Completed;
                a.efficiency_score = 90.0 - f64::from(i % 7);
                a
            })
            .collect();
        analyses[33].status = loupe_model::SessionStatus::Failed;
        analyses[21].efficiency_score = 12.3;
        let doc: Value = serde_json::from_str(&render(&analyses)).unwrap();
        let ids: Vec<&str> = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().or(s["session_id"].as_str()).unwrap())
            .collect();
        assert_eq!(&ids[..2], ["s33", "s21"], "{ids:?}");
        assert_eq!(doc["sessions"][1]["efficiency_score"], 12.3);
        assert!(doc["issue_counts"]
            .as_object()
            .is_some_and(|m| !m.is_empty()));
    }

    fn issue(category: &str, severity: loupe_analyze::Severity) -> loupe_analyze::Issue {
        loupe_analyze::Issue {
            category: category.to_owned(),
            severity,
            title: format!("{category} found"),
            description: String::new(),
            iteration: Some(3),
            evidence: Vec::new(),
            suggestion: "do less".to_owned(),
        }
    }

    #[test]
    fn every_issue_category_shows_before_any_category_repeats() {
        use loupe_analyze::Severity;
        let mut a = crate::testing::sample_analysis();
        a.issues = std::iter::once(issue("excessive_iterations", Severity::High))
            .chain((0..199).map(|_| issue("doom_loop", Severity::High)))
            .chain((0..499).map(|_| issue("error_loop", Severity::Medium)))
            .chain((0..39).map(|_| issue("cache_drop", Severity::Low)))
            .collect();
        let doc: Value = serde_json::from_str(&render(&[a])).unwrap();
        let s = &doc["sessions"][0];
        let shown: Vec<&str> = s["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["category"].as_str().unwrap())
            .collect();
        for category in [
            "excessive_iterations",
            "doom_loop",
            "error_loop",
            "cache_drop",
        ] {
            assert!(
                shown.contains(&category),
                "{category} missing from {shown:?}"
            );
        }
        // Still most severe first.
        assert_eq!(shown[0], "excessive_iterations");
        assert_eq!(shown.last(), Some(&"cache_drop"));
        assert_eq!(s["issues_by_category"]["error_loop"], 499);
        assert_eq!(s["issues_by_category"]["doom_loop"], 199);
        assert_eq!(s["issues_by_category"]["cache_drop"], 39);
        assert_eq!(s["issues_by_category"]["excessive_iterations"], 1);
        assert_eq!(s["issues_omitted"], 738 - shown.len());
    }

    #[test]
    fn unfinished_sessions_are_counted_and_shown_first() {
        let analyses: Vec<SessionAnalysis> = (0..30)
            .map(|i| {
                let mut a = crate::testing::sample_analysis();
                a.session_id = format!("s{i:02}");
                a.efficiency_score = 10.0 + f64::from(i);
                a
            })
            .collect();
        let mut analyses = analyses;
        // Highest scores, so only their status can bring them forward.
        analyses[28].status = loupe_model::SessionStatus::Running;
        analyses[29].status = loupe_model::SessionStatus::Failed;
        let doc: Value = serde_json::from_str(&render(&analyses)).unwrap();
        assert_eq!(doc["totals"]["unfinished_sessions"], 1);
        assert_eq!(doc["totals"]["failed_sessions"], 1);
        let ids: Vec<&str> = doc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(&ids[..3], ["s28", "s29", "s00"], "{ids:?}");
    }

    #[test]
    fn unknown_usage_is_null_not_zero() {
        let mut a = crate::testing::sample_analysis();
        a.metrics.tokens = loupe_model::TokenTotals::default();
        a.metrics.cost_usd = 0.0;
        a.token_flow.cache_rating = loupe_analyze::CacheRating::None;
        let doc: Value = serde_json::from_str(&render(&[a])).unwrap();
        let m = &doc["sessions"][0]["metrics"];
        for key in [
            "input_tokens",
            "output_tokens",
            "cache_hit_rate",
            "cost_usd",
        ] {
            assert!(m[key].is_null(), "{key}: {m}");
        }
    }

    /// CJK and emoji cost far more tokens a character than English: a
    /// budget in characters let such a summary reach ~3x its size.
    #[test]
    fn the_budget_holds_in_tokens_for_cjk_and_emoji_text() {
        let cjk = "漢字仮名交じり文😀🚀".repeat(400);
        let analyses: Vec<SessionAnalysis> = (0..40)
            .map(|i| {
                let mut a = crate::testing::sample_analysis();
                a.session_id = format!("会话-{i}-{}", "😀".repeat(30));
                a.task = Some(cjk.clone());
                for issue in &mut a.issues {
                    issue.title = cjk.clone();
                    issue.suggestion = cjk.clone();
                }
                a
            })
            .collect();
        let out = render(&analyses);
        assert!(serde_json::from_str::<Value>(&out).is_ok());
        // A tokenizer-like count: CJK a token each, emoji two.
        let realistic: usize = out
            .chars()
            .map(|c| match c.len_utf8() {
                1 => 1,
                4 => 8,
                _ => 4,
            })
            .sum::<usize>()
            .div_ceil(4);
        assert!(realistic <= MAX_TOKENS, "~{realistic} tokens");
        assert!(estimated_tokens(&out) <= MAX_TOKENS);
    }

    #[test]
    fn token_estimate() {
        assert_eq!(estimated_tokens("abcdefgh"), 2);
        assert_eq!(estimated_tokens("é"), 1);
        assert_eq!(estimated_tokens("漢字"), 3);
        assert_eq!(estimated_tokens("😀"), 2);
    }

    #[test]
    fn row_sampling_keeps_ends_and_peak() {
        assert_eq!(sample_rows(3, 8, None), vec![0, 1, 2]);
        assert_eq!(sample_rows(10, 4, None), vec![0, 1, 8, 9]);
        assert_eq!(sample_rows(10, 4, Some(5)), vec![0, 1, 5, 8]);
    }
}
