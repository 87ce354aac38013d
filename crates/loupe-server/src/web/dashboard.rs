//! `/dashboard`: response time and success rate over time, tokens and cost
//! by model, tool usage and failure rates, and error analysis, over the
//! sessions matching the same filters as the list (`?since=7d&agent=...`).
//!
//! Time series come from the most recent [`MAX_SESSIONS`] summary rows,
//! bucketed by start time ([`buckets`]); per-model and per-tool figures from
//! `Store::stats`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::Html;
use loupe_model::SessionStatus;
use loupe_report::html::escape;
use loupe_report::{human_duration_ms, human_tokens};
use loupe_store::{SessionQuery, SessionRow, SessionSort};

use super::charts::{self, Bar};
use super::list::short_time;
use super::page::{blocking, percent, url_encode, usd, Ctx, PageError};
use crate::state::AppState;

/// Sessions the time series look at (newest first).
const MAX_SESSIONS: usize = 5_000;
/// Points on the time axis.
const BUCKETS: usize = 24;

pub(super) async fn page(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let ctx = Ctx::new(&params);
    let filter = crate::api::session_filter(&params)?;
    let store = state.store.clone();
    let (rows, stats) = blocking(move || {
        let rows = store.sessions(&SessionQuery {
            filter: filter.clone(),
            sort: SessionSort::StartedAt,
            descending: true,
            limit: Some(MAX_SESSIONS),
            offset: 0,
        })?;
        Ok((rows, store.stats(&filter)?))
    })
    .await?;

    let mut body = String::with_capacity(32 * 1024);
    body.push_str("<h1>Dashboard</h1>\n");
    let t = &stats.totals;
    let _ = writeln!(
        body,
        "<div class=\"cards\">\
         <div class=\"card\"><div class=\"label\">Sessions</div><div class=\"value\">{}</div></div>\
         <div class=\"card\"><div class=\"label\">Events</div><div class=\"value\">{}</div></div>\
         <div class=\"card\"><div class=\"label\">Tokens</div><div class=\"value\">{}</div></div>\
         <div class=\"card\"><div class=\"label\">Cost</div><div class=\"value\">{}</div></div>\
         <div class=\"card\"><div class=\"label\">Cache hit rate</div><div class=\"value\">{}</div></div>\
         <div class=\"card{}\"><div class=\"label\">Errors</div><div class=\"value\">{}</div></div>\
         </div>",
        stats.sessions,
        stats.events,
        super::page::known(t.total_tokens(), human_tokens),
        super::page::known(t.cost_usd, usd),
        super::page::known(t.cache_hit_rate, percent),
        if t.has_errors() { " bad" } else { "" },
        t.errors
    );

    let series = buckets(&rows, BUCKETS);
    body.push_str("<div class=\"dash-grid\">\n<section id=\"response-time\">\n<h2>Response time</h2>\n<p class=\"muted\">Median session duration per period</p>\n");
    let points: Vec<(String, Option<f64>)> = series
        .iter()
        .map(|b| (b.label.clone(), b.median_duration_ms))
        .collect();
    charts::line(
        &mut body,
        "Median duration over time",
        &points,
        None,
        human_duration_ms,
    );
    body.push_str("</section>\n<section id=\"success-rate\">\n<h2>Success rate</h2>\n<p class=\"muted\">Completed among finished sessions per period</p>\n");
    let points: Vec<(String, Option<f64>)> = series
        .iter()
        .map(|b| (b.label.clone(), b.success_rate))
        .collect();
    charts::line(
        &mut body,
        "Success rate over time",
        &points,
        Some(1.0),
        percent,
    );
    body.push_str("</section>\n");

    body.push_str("<section id=\"models\">\n<h2>Tokens by model</h2>\n");
    let model_name = |m: &str| {
        if m.is_empty() {
            "(unknown)".to_owned()
        } else {
            m.to_owned()
        }
    };
    let token_bars: Vec<Bar> = stats
        .by_model
        .iter()
        .map(|m| Bar {
            label: model_name(&m.model),
            value: (m.input_tokens + m.output_tokens) as f64,
            text: format!(
                "{} in · {} out",
                human_tokens(m.input_tokens),
                human_tokens(m.output_tokens)
            ),
            class: "",
        })
        .collect();
    charts::bars(&mut body, "Tokens by model", &token_bars);
    body.push_str("<h2>Cost by model</h2>\n");
    let cost_bars: Vec<Bar> = stats
        .by_model
        .iter()
        .map(|m| Bar {
            label: model_name(&m.model),
            value: m.cost_usd,
            text: format!("{} · {} sessions", usd(m.cost_usd), m.sessions),
            class: "cost",
        })
        .collect();
    charts::bars(&mut body, "Cost by model", &cost_bars);
    body.push_str("</section>\n");

    body.push_str("<section id=\"tools\">\n<h2>Tool usage</h2>\n");
    let mut tools = stats.by_tool.clone();
    tools.sort_by(|a, b| b.runs.cmp(&a.runs).then_with(|| a.tool.cmp(&b.tool)));
    tools.truncate(25);
    let usage: Vec<Bar> = tools
        .iter()
        .map(|t| Bar {
            label: t.tool.clone(),
            value: t.runs as f64,
            text: format!(
                "{} runs · avg {}",
                t.runs,
                human_duration_ms(t.avg_duration_ms)
            ),
            class: "tool",
        })
        .collect();
    charts::bars(&mut body, "Tool runs", &usage);
    body.push_str("<h2>Tool failure rates</h2>\n");
    let mut failing: Vec<_> = tools.iter().filter(|t| t.runs > 0).collect();
    failing.sort_by(|a, b| failure_rate(b).total_cmp(&failure_rate(a)));
    let failure: Vec<Bar> = failing
        .iter()
        .map(|t| Bar {
            label: t.tool.clone(),
            value: failure_rate(t),
            text: format!(
                "{} ({} of {})",
                percent(failure_rate(t)),
                t.failures,
                t.runs
            ),
            class: "bad",
        })
        .collect();
    charts::bars(&mut body, "Tool failure rates", &failure);
    body.push_str("</section>\n");

    errors_section(&mut body, &ctx, &rows);
    body.push_str("</div>\n");
    Ok(Html(ctx.layout("Dashboard", "Dashboard", &body)))
}

fn failure_rate(t: &loupe_store::ToolAggregate) -> f64 {
    if t.runs == 0 {
        0.0
    } else {
        t.failures as f64 / t.runs as f64
    }
}

/// Error analysis: sessions by outcome, errors per model, recent failures.
fn errors_section(out: &mut String, ctx: &Ctx, rows: &[SessionRow]) {
    out.push_str("<section id=\"errors\">\n<h2>Error analysis</h2>\n");
    let mut by_status: BTreeMap<&str, u64> = BTreeMap::new();
    let mut errors_by_model: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for r in rows {
        *by_status.entry(r.status.as_str()).or_default() += 1;
        let e = errors_by_model
            .entry(r.model.clone().unwrap_or_else(|| "(unknown)".to_owned()))
            .or_default();
        e.0 += r.metrics.errors;
        e.1 += u64::from(r.metrics.has_errors());
    }
    let status_bars: Vec<Bar> = by_status
        .iter()
        .map(|(status, n)| Bar {
            label: (*status).to_owned(),
            value: *n as f64,
            text: n.to_string(),
            class: if *status == "failed" { "bad" } else { "" },
        })
        .collect();
    out.push_str("<h3>Sessions by outcome</h3>\n");
    charts::bars(out, "Sessions by outcome", &status_bars);
    out.push_str("<h3>Errors by model</h3>\n");
    let model_bars: Vec<Bar> = errors_by_model
        .iter()
        .map(|(model, (errors, sessions))| Bar {
            label: model.clone(),
            value: *errors as f64,
            text: format!("{errors} errors in {sessions} sessions"),
            class: "bad",
        })
        .collect();
    charts::bars(out, "Errors by model", &model_bars);
    out.push_str("<h3>Recent sessions with errors</h3>\n");
    let failing: Vec<&SessionRow> = rows
        .iter()
        .filter(|r| r.metrics.has_errors() || r.status == SessionStatus::Failed)
        .take(10)
        .collect();
    if failing.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
    } else {
        out.push_str("<ul class=\"failures\">\n");
        for r in failing {
            let _ = writeln!(
                out,
                "<li><a href=\"{}\"><code>{}</code></a> <span class=\"badge {status}\">{status}</span> {} errors, {} tool errors <span class=\"muted\">{}</span></li>",
                ctx.href(&format!("/sessions/{}", url_encode(&r.session_id))),
                escape(&r.session_id),
                r.metrics.errors,
                r.metrics.tool_errors,
                r.started_at.map(short_time).unwrap_or_default(),
                status = r.status.as_str(),
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</section>\n");
}

/// One period of the time series.
#[derive(Debug, PartialEq)]
pub(super) struct Bucket {
    /// Start of the period (`YYYY-MM-DD HH:MM`).
    pub(super) label: String,
    pub(super) sessions: usize,
    /// Median duration of the sessions that recorded one.
    pub(super) median_duration_ms: Option<f64>,
    /// Completed / (completed + failed + cancelled); `None` when none finished.
    pub(super) success_rate: Option<f64>,
}

/// Splits the time range of `rows` (by start) into `n` equal periods, oldest
/// first. Rows without a start time are left out.
pub(super) fn buckets(rows: &[SessionRow], n: usize) -> Vec<Bucket> {
    let starts: Vec<i64> = rows
        .iter()
        .filter_map(|r| r.started_at.map(|t| t.as_micros()))
        .collect();
    let (Some(&min), Some(&max)) = (starts.iter().min(), starts.iter().max()) else {
        return Vec::new();
    };
    let n = n.max(1);
    let width = ((max - min) / n as i64).max(1);
    let mut durations: Vec<Vec<f64>> = vec![Vec::new(); n];
    let mut outcomes = vec![(0usize, 0usize, 0usize); n];
    for r in rows {
        let Some(t) = r.started_at else { continue };
        let i = (((t.as_micros() - min) / width) as usize).min(n - 1);
        if let Some(d) = r.duration_ms {
            durations[i].push(d);
        }
        let o = &mut outcomes[i];
        o.0 += 1;
        match r.status {
            SessionStatus::Completed => o.1 += 1,
            SessionStatus::Failed | SessionStatus::Cancelled => o.2 += 1,
            SessionStatus::Running => {}
        }
    }
    durations
        .into_iter()
        .zip(outcomes)
        .enumerate()
        .map(|(i, (mut d, (sessions, ok, bad)))| {
            d.sort_by(f64::total_cmp);
            let median = match d.len() {
                0 => None,
                len if len % 2 == 1 => Some(d[len / 2]),
                len => Some((d[len / 2 - 1] + d[len / 2]) / 2.0),
            };
            let start = loupe_model::Timestamp(min + i as i64 * width);
            let label = short_time(start).get(..16).unwrap_or_default().to_owned();
            Bucket {
                label,
                sessions,
                median_duration_ms: median,
                success_rate: (ok + bad > 0).then(|| ok as f64 / (ok + bad) as f64),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use loupe_model::Timestamp;

    fn row(id: &str, start_s: i64, duration_ms: f64, status: SessionStatus) -> SessionRow {
        let mut r = SessionRow::new(id);
        r.started_at = Some(Timestamp(start_s * 1_000_000));
        r.duration_ms = Some(duration_ms);
        r.status = status;
        r
    }

    #[test]
    fn buckets_take_medians_and_success_rates_per_period() {
        let rows = vec![
            row("a", 0, 100.0, SessionStatus::Completed),
            row("b", 10, 300.0, SessionStatus::Failed),
            row("c", 20, 200.0, SessionStatus::Completed),
            row("d", 100, 50.0, SessionStatus::Running),
        ];
        let b = buckets(&rows, 2);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].sessions, 3);
        assert_eq!(b[0].median_duration_ms, Some(200.0));
        assert_eq!(b[0].success_rate, Some(2.0 / 3.0));
        assert_eq!(b[1].sessions, 1);
        assert_eq!(
            b[1].success_rate, None,
            "a running session has no outcome yet"
        );
        assert!(buckets(&[], 4).is_empty());
    }
}
