//! `loupe export --llm`: a compact JSON summary to paste into a model, at most
//! [`MAX_CHARS`] characters (about 4,000 tokens at 4 characters per token)
//! whatever the number or size of sessions.
//!
//! The budget is met by trying progressively terser detail levels (fewer
//! issues, tools, token-flow rows and failures, shorter texts, fewer
//! sessions) and keeping the first that fits; every cut list says how many
//! items it left out (`*_omitted`), so the model knows the summary is partial.

use loupe_analyze::{SessionAnalysis, SpanKind, SpanNode};
use serde_json::{json, Map, Value};

use crate::text::truncate_chars;

/// Hard ceiling on the output length, in characters.
pub const MAX_CHARS: usize = 16_000;

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

/// The compact summary of `analyses` as one line of JSON, ≤ [`MAX_CHARS`] characters.
pub fn render(analyses: &[SessionAnalysis]) -> String {
    for level in LEVELS {
        let s = document(analyses, *level).to_string();
        if s.chars().count() <= MAX_CHARS {
            return s;
        }
    }
    // Pathological input (for example enormous session ids): totals only.
    let s = totals(analyses).to_string();
    if s.chars().count() <= MAX_CHARS {
        return s;
    }
    json!({ "sessions_total": analyses.len(), "note": "summary too large" }).to_string()
}

fn totals(analyses: &[SessionAnalysis]) -> Value {
    let mut cost = 0.0;
    let mut tokens = 0u64;
    let mut issues = 0usize;
    let mut failed = 0usize;
    for a in analyses {
        cost += a.metrics.cost_usd;
        tokens += a.metrics.tokens.total();
        issues += a.issues.len();
        failed += usize::from(a.status == loupe_model::SessionStatus::Failed);
    }
    json!({
        "sessions_total": analyses.len(),
        "failed_sessions": failed,
        "total_tokens": tokens,
        "total_cost_usd": round(cost, 4),
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
    // failed sessions, then the lowest scores (input order breaks ties).
    let mut order: Vec<&SessionAnalysis> = analyses.iter().collect();
    if analyses.len() > d.sessions {
        order.sort_by(|x, y| {
            let failed = |a: &SessionAnalysis| a.status != loupe_model::SessionStatus::Failed;
            failed(x)
                .cmp(&failed(y))
                .then(x.efficiency_score.total_cmp(&y.efficiency_score))
        });
        doc.insert(
            "sessions_shown".into(),
            json!("failed first, then lowest score"),
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
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(y.0)));
    Value::Object(
        counts
            .into_iter()
            .take(10)
            .map(|(c, n)| (c.to_owned(), json!(n)))
            .collect(),
    )
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
            "input_tokens": t.input_tokens, "output_tokens": t.output_tokens,
            "cache_read_tokens": t.cache_read_tokens, "cache_write_tokens": t.cache_write_tokens,
            "reasoning_tokens": t.reasoning_tokens,
            "cache_hit_rate": round(m.cache_hit_rate, 3), "cost_usd": round(m.cost_usd, 4),
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
    let issues = a
        .issues
        .iter()
        .take(d.issues)
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
    let tools = a
        .tools
        .iter()
        .take(d.tools)
        .map(|t| {
            json!([
                text(&t.name, d),
                t.calls,
                t.errors,
                round(t.avg_duration_ms, 0)
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

    #[test]
    fn row_sampling_keeps_ends_and_peak() {
        assert_eq!(sample_rows(3, 8, None), vec![0, 1, 2]);
        assert_eq!(sample_rows(10, 4, None), vec![0, 1, 8, 9]);
        assert_eq!(sample_rows(10, 4, Some(5)), vec![0, 1, 5, 8]);
    }
}
