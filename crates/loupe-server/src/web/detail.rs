//! `/sessions/{id}`: one session.
//!
//! The page itself is built from the summary row and an event count only,
//! so it shows at once however long the session is. Two parts fill in
//! afterwards through `viewer.js`:
//! - the analysis (span tree, waterfall, token flow, issues, tools), an HTML
//!   fragment from `/sessions/{id}/analysis`, re-fetched while the session
//!   grows;
//! - the event panel, a virtualised list paged from
//!   `/api/v1/sessions/{id}/events` (only the visible rows are in the DOM),
//!   extended by live `events` messages.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use loupe_analyze::{NodeStatus, SessionAnalysis, SpanKind, SpanNode};
use loupe_model::Timestamp;
use loupe_report::html::{escape, kind_name};
use loupe_report::{human_duration_ms, human_tokens};
use loupe_store::{SessionFilter, SessionRow};

use super::list::short_time;
use super::page::{blocking, percent, url_encode, Ctx, PageError};
use crate::state::AppState;

/// Rows of the waterfall; longer sessions show the first ones and say so.
const MAX_WATERFALL_ROWS: usize = 400;

pub(super) async fn page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let ctx = Ctx::new(&params);
    let store = state.store.clone();
    let lookup = id.clone();
    let (row, events) = blocking(move || {
        let row = store
            .session(&lookup)?
            .ok_or_else(|| PageError::not_found(format!("no session {lookup:?}")))?;
        let stats = store.stats(&SessionFilter {
            session_ids: vec![lookup],
            ..SessionFilter::default()
        })?;
        Ok((row, stats.events))
    })
    .await?;
    let mut body = String::with_capacity(8192);
    header(&mut body, &row);
    let enc = url_encode(&id);
    let _ = writeln!(
        body,
        "<section id=\"analysis\" data-src=\"{}\"><p class=\"muted loading\">Analysing the session…</p></section>",
        ctx.href(&format!("/sessions/{enc}/analysis"))
    );
    let _ = writeln!(
        body,
        "<section class=\"events-panel\" id=\"events\" data-total=\"{events}\" data-src=\"{}\" data-live=\"{}\">\n\
         <h2>Events <span class=\"muted\" id=\"event-count\">{events}</span></h2>\n\
         <p class=\"toolbar\"><label><input type=\"checkbox\" id=\"follow\"{}> Follow new events</label> \
         <span class=\"muted\">Click an event to see its JSON.</span></p>\n\
         <div class=\"ev-head\"><span>#</span><span>Time</span><span>Kind</span><span>It.</span><span>Summary</span><span class=\"num\">Duration</span></div>\n\
         <div class=\"ev-viewport\" id=\"ev-viewport\" tabindex=\"0\"><div class=\"ev-spacer\" id=\"ev-spacer\"></div></div>\n\
         <div class=\"inspector\" id=\"inspector\" hidden></div>\n</section>",
        ctx.href(&format!("/api/v1/sessions/{enc}/events")),
        ctx.href(&format!("/api/v1/live?session={enc}")),
        if row.status == loupe_model::SessionStatus::Running {
            " checked"
        } else {
            ""
        },
    );
    Ok(Html(ctx.layout(&format!("Session {id}"), "", &body)))
}

/// Title, metadata and metric cards; `viewer.js` updates the cards (by
/// `data-metric`) from live `session` messages.
fn header(out: &mut String, row: &SessionRow) {
    let _ = writeln!(
        out,
        "<h1>Session <code id=\"session-id\">{}</code> <span class=\"badge {status}\" data-metric=\"status\">{status}</span></h1>",
        escape(&row.session_id),
        status = row.status.as_str()
    );
    out.push_str("<dl class=\"meta\">\n");
    let mut meta = |k: &str, v: &str| {
        if !v.is_empty() {
            let _ = writeln!(out, "<dt>{k}</dt><dd>{}</dd>", escape(v));
        }
    };
    meta("Task", row.task.as_deref().unwrap_or(""));
    meta("Agent", row.agent_name.as_deref().unwrap_or(""));
    meta("Model", row.model.as_deref().unwrap_or(""));
    meta(
        "Started",
        &row.started_at.map(short_time).unwrap_or_default(),
    );
    meta("Tags", &row.tags.join(", "));
    meta("Tools", &row.tools.join(", "));
    if let Some(src) = &row.source {
        meta("Source", &format!("{} ({})", src.path, src.format));
    }
    out.push_str("</dl>\n");
    out.push_str("<div class=\"cards\" id=\"cards\">\n");
    for (metric, label, value, bad) in cards(row) {
        loupe_report::html::metric_card(out, label, &value, bad, Some(metric));
    }
    out.push_str("</div>\n");
}

/// (metric key, label, value, highlight) — `viewer.js` formats the same keys.
fn cards(row: &SessionRow) -> Vec<(&'static str, &'static str, String, bool)> {
    let m = &row.metrics;
    vec![
        (
            "duration_ms",
            "Duration",
            row.duration_ms.map(human_duration_ms).unwrap_or_default(),
            false,
        ),
        ("iterations", "Iterations", m.iterations.to_string(), false),
        ("llm_calls", "LLM calls", m.llm_calls.to_string(), false),
        ("tool_calls", "Tool calls", m.tool_calls.to_string(), false),
        ("errors", "Errors", m.errors.to_string(), m.has_errors()),
        (
            "input_tokens",
            "Tokens in",
            super::page::known(m.input_tokens, human_tokens),
            false,
        ),
        (
            "output_tokens",
            "Tokens out",
            super::page::known(m.output_tokens, human_tokens),
            false,
        ),
        (
            "cache_hit_rate",
            "Cache hit rate",
            super::page::known(m.cache_hit_rate, percent),
            false,
        ),
        (
            "cost_usd",
            "Cost",
            super::page::known_cost_text(m.cost_usd, &m.unpriced_models),
            false,
        ),
        (
            "efficiency_score",
            "Efficiency",
            row.efficiency_score
                .map(loupe_report::score)
                .unwrap_or_default(),
            row.efficiency_score.is_some_and(|s| s < 50.0),
        ),
    ]
}

/// The full analysis of one stored session (`None` when it does not
/// exist), through the server's analysis cache.
pub(super) fn analyse(
    state: &AppState,
    id: &str,
) -> Result<Option<Arc<SessionAnalysis>>, PageError> {
    Ok(state
        .analyses
        .get(&*state.store, id, &state.config.analysis)?
        .map(|(_, analysis)| analysis))
}

/// The analysis part of the page, as an HTML fragment.
pub(super) async fn analysis_fragment(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, PageError> {
    let analysis = blocking(move || {
        analyse(&state, &id)?.ok_or_else(|| PageError::not_found(format!("no session {id:?}")))
    })
    .await?;
    let mut out = String::with_capacity(64 * 1024);
    analysis_html(&mut out, &analysis, Timestamp::now(), 0);
    Ok(Html(out))
}

/// Tree, waterfall, token flow, issues and tools of one analysis. `now`
/// bounds the bars of spans still running; `index` keeps element ids
/// unique when a page shows several sessions (0 gives the plain ids).
pub(super) fn analysis_html(out: &mut String, a: &SessionAnalysis, now: Timestamp, index: usize) {
    let id = |name: &str| {
        if index == 0 {
            name.to_owned()
        } else {
            format!("{name}-{index}")
        }
    };
    let _ = writeln!(
        out,
        "<div class=\"analysis-grid\">\n<section id=\"{}\" class=\"timeline\">\n<h3>Waterfall</h3>",
        id("timeline")
    );
    waterfall(out, a, now);
    let _ = writeln!(out, "</section>\n<section id=\"{}\">", id("token-flow"));
    loupe_report::html::token_flow_chart(out, a);
    let _ = writeln!(out, "</section>\n</div>\n<section id=\"{}\">", id("issues"));
    loupe_report::html::issues(out, index, a);
    let _ = writeln!(
        out,
        "</section>\n<section id=\"{}\" class=\"tree\">",
        id("tree")
    );
    let running = count_running(&a.tree);
    if running > 0 {
        let _ = writeln!(
            out,
            "<p class=\"running-note\"><span class=\"st-running\">…</span> {running} span{} not ended yet</p>",
            if running == 1 { "" } else { "s" }
        );
    }
    loupe_report::html::iterations(out, index, a);
    let _ = writeln!(out, "</section>\n<section id=\"{}\">", id("tools"));
    loupe_report::html::tools(out, a);
    out.push_str("</section>\n");
}

fn count_running(n: &SpanNode) -> usize {
    usize::from(n.kind != SpanKind::Session && n.status == NodeStatus::Running)
        + n.children.iter().map(count_running).sum::<usize>()
}

/// LLM, tool, subagent and workflow spans, depth first; running ones too.
fn collect_spans<'a>(n: &'a SpanNode, out: &mut Vec<&'a SpanNode>) {
    let timed = n.duration_ms.is_some() || n.status == NodeStatus::Running;
    if timed
        && matches!(
            n.kind,
            SpanKind::Llm | SpanKind::Tool | SpanKind::Subagent | SpanKind::Node
        )
    {
        out.push(n);
    }
    for c in &n.children {
        collect_spans(c, out);
    }
}

/// The waterfall: span names as HTML in a left column (so they keep their
/// font size and end in an ellipsis when too long), bars in an SVG that
/// only stretches sideways (`preserveAspectRatio="none"`, one row =
/// `ROW_PX` CSS pixels, so bars line up with the names). Bars are SVG
/// because the CSP forbids the `style` attributes the report uses to place
/// them. Spans not ended yet run to the session's last event, or `now`
/// while it is running.
fn waterfall(out: &mut String, a: &SessionAnalysis, now: Timestamp) {
    /// Height of a row; `.wf-names > div` in viewer.css has the same.
    const ROW_PX: f64 = 18.0;
    /// Width of the bar track in SVG units (stretched to the column).
    const TRACK: f64 = 1000.0;
    let mut spans = Vec::new();
    collect_spans(&a.tree, &mut spans);
    spans.sort_by_key(|n| n.start);
    if spans.is_empty() {
        out.push_str("<p class=\"muted\">No timed LLM or tool spans.</p>\n");
        return;
    }
    let origin = a.started_at.unwrap_or(a.tree.start);
    let open_end = if a.status == loupe_model::SessionStatus::Running {
        now.max(a.ended_at.unwrap_or(now))
    } else {
        a.ended_at.unwrap_or(origin)
    };
    let end_of = |n: &SpanNode| match n.duration_ms {
        Some(d) => n.start.plus_millis(d),
        None => open_end.max(n.start),
    };
    let last = spans.iter().map(|n| end_of(n)).max().unwrap_or(origin);
    let total = a
        .duration_ms
        .unwrap_or(0.0)
        .max(last.millis_since(origin))
        .max(1.0);
    let shown = &spans[..spans.len().min(MAX_WATERFALL_ROWS)];
    let height = shown.len() as f64 * ROW_PX;
    out.push_str("<div class=\"wf-chart\">\n<div class=\"wf-names\">");
    for n in shown {
        let _ = write!(
            out,
            "<div title=\"{kind} {label}\"><span class=\"muted\">{kind}</span> {label}</div>",
            kind = kind_name(n.kind),
            label = escape(&n.label),
        );
    }
    let _ = writeln!(
        out,
        "</div>\n<svg class=\"waterfall-svg\" viewBox=\"0 0 {TRACK} {height}\" height=\"{height}\" \
         preserveAspectRatio=\"none\" role=\"img\" aria-label=\"Waterfall of spans\">"
    );
    for (i, n) in shown.iter().enumerate() {
        let left = (n.start.millis_since(origin) / total).clamp(0.0, 1.0) * TRACK;
        // At least 0.3% of the track, so the shortest spans stay visible.
        let width =
            (end_of(n).millis_since(n.start) / total * TRACK).clamp(3.0, (TRACK - left).max(3.0));
        let class = match (n.status, n.kind) {
            (NodeStatus::Error, _) => "wf-error",
            (NodeStatus::Running, _) => "wf-running",
            (_, SpanKind::Llm) => "wf-llm",
            (_, SpanKind::Tool) => "wf-tool",
            _ => "wf-other",
        };
        let dur = match n.duration_ms {
            Some(d) => human_duration_ms(d),
            None => "running".to_owned(),
        };
        let why = n
            .error
            .as_deref()
            .map(|w| format!(" · {}", escape(w)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<g class=\"wf-span\"><title>{kind} {label} · {dur}{why}</title>\
             <rect class=\"{class}\" x=\"{left:.1}\" y=\"{y:.1}\" width=\"{width:.1}\" height=\"12\"></rect></g>",
            kind = kind_name(n.kind),
            label = escape(&n.label),
            y = i as f64 * ROW_PX + 3.0,
        );
    }
    let _ = writeln!(
        out,
        "</svg>\n<div class=\"wf-axis muted\"><span>0</span><span>{}</span></div>\n</div>",
        human_duration_ms(total)
    );
    loupe_report::html::spans_not_shown(out, spans.len().saturating_sub(MAX_WATERFALL_ROWS));
}
