//! `/compare?a=ID&b=ID`: two sessions side by side — the metric deltas of
//! loupe-analyze's `compare_sessions` (regressions marked), then each
//! session's cards, waterfall, token flow and issues in two columns.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::Html;
use loupe_analyze::{CompareConfig, SessionAnalysis};
use loupe_model::Timestamp;
use loupe_report::html::escape;
use loupe_report::{human_duration_ms, human_tokens};

use super::page::{blocking, percent, url_encode, usd, Ctx, PageError};
use crate::body::Problem;
use crate::state::AppState;

pub(super) async fn page(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let ctx = Ctx::new(&params);
    let pick = |name: &str| {
        params
            .get(name)
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "parameter {name} is required: /compare?a=SESSION&b=SESSION (or pick A and B in the session list)"
                ))
            })
    };
    let (a_id, b_id) = (pick("a")?, pick("b")?);
    let (a, b) = blocking(move || {
        let load = |id: &str| {
            super::detail::analyse(&state, id)?
                .ok_or_else(|| PageError::not_found(format!("no session {id:?}")))
        };
        Ok((load(&a_id)?, load(&b_id)?))
    })
    .await?;
    let comparison = loupe_analyze::compare_sessions(&a, &b, &CompareConfig::default());

    let mut body = String::with_capacity(64 * 1024);
    let _ = writeln!(
        body,
        "<h1>Compare <code>{}</code> with <code>{}</code></h1>",
        escape(&a.session_id),
        escape(&b.session_id)
    );
    let _ = writeln!(
        body,
        "<p class=\"verdict\">Verdict: <strong>{}</strong></p>",
        escape(&serde_name(&comparison.assessment))
    );
    body.push_str("<div class=\"table-scroll\">\n<table class=\"compare\" id=\"compare-metrics\">\n<thead><tr><th>Metric</th><th class=\"num\">A</th><th class=\"num\">B</th><th class=\"num\">Change</th><th></th></tr></thead>\n<tbody>\n");
    for m in &comparison.metrics {
        let change = m
            .percent_change
            .map(|p| format!("{p:+.1}%"))
            .unwrap_or_else(|| format!("{:+}", round(m.delta)));
        let _ = writeln!(
            body,
            "<tr{}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            if m.regression { " class=\"regression\"" } else { "" },
            escape(&m.name),
            escape(&metric_value(&m.name, m.a)),
            escape(&metric_value(&m.name, m.b)),
            escape(&change),
            if m.regression { "regression" } else { "" }
        );
    }
    body.push_str("</tbody>\n</table>\n</div>\n");
    for (title, lines) in [
        ("Regressions", &comparison.regressions),
        ("Improvements", &comparison.improvements),
    ] {
        if lines.is_empty() {
            continue;
        }
        let _ = writeln!(body, "<h3>{title}</h3>\n<ul>");
        for l in lines {
            let _ = writeln!(body, "<li>{}</li>", escape(l));
        }
        body.push_str("</ul>\n");
    }
    body.push_str("<div class=\"side-by-side\">\n");
    let now = Timestamp::now();
    for (index, (side, analysis)) in [("A", &a), ("B", &b)].into_iter().enumerate() {
        column(&mut body, &ctx, side, analysis, now, index);
    }
    body.push_str("</div>\n");
    Ok(Html(ctx.layout("Compare", "", &body)))
}

fn column(
    out: &mut String,
    ctx: &Ctx,
    side: &str,
    a: &SessionAnalysis,
    now: Timestamp,
    index: usize,
) {
    let m = &a.metrics;
    let _ = writeln!(
        out,
        "<section class=\"side\"><h2>{side}: <a href=\"{}\"><code>{}</code></a></h2>",
        ctx.href(&format!("/sessions/{}", url_encode(&a.session_id))),
        escape(&a.session_id)
    );
    if let Some(task) = &a.task {
        let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(task));
    }
    out.push_str("<div class=\"cards\">\n");
    let cards = [
        ("Status", a.status.as_str().to_owned()),
        (
            "Duration",
            a.duration_ms.map(human_duration_ms).unwrap_or_default(),
        ),
        ("Iterations", m.iterations.to_string()),
        ("LLM calls", m.llm_calls.to_string()),
        ("Tool calls", m.tool_calls.to_string()),
        ("Errors", m.errors.to_string()),
        ("Tokens", human_tokens(m.tokens.total())),
        ("Cache hit rate", percent(m.cache_hit_rate)),
        ("Cost", usd(m.cost_usd)),
        ("Efficiency", loupe_report::score(a.efficiency_score)),
    ];
    for (label, value) in cards {
        let _ = writeln!(
            out,
            "<div class=\"card\"><div class=\"label\">{label}</div><div class=\"value\">{}</div></div>",
            escape(&value)
        );
    }
    out.push_str("</div>\n");
    super::detail::analysis_html(out, a, now, index);
    out.push_str("</section>\n");
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn metric_value(name: &str, v: f64) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    match name {
        "cache_hit_rate" | "success_rate" => percent(v),
        "cost_usd" => usd(v),
        "duration_ms" => human_duration_ms(v),
        "efficiency_score" => format!("{v:.1}"),
        _ => format!("{}", round(v)),
    }
}

/// The snake_case name serde gives an enum value.
fn serde_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}
