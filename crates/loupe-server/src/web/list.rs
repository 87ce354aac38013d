//! `/`: the session list. Filters, search, sort and paging are the query
//! parameters of `GET /api/v1/sessions` (parsed by the same
//! [`crate::api::session_query`], so page and API always agree); rows of
//! sessions in progress are updated in place by `viewer.js` from the live
//! stream, and new sessions are inserted on an unfiltered first page.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::Html;
use loupe_report::html::escape;
use loupe_report::{human_duration_ms, human_tokens};
use loupe_store::SessionRow;

use super::page::{percent, query_string, usd, Ctx, PageError};
use crate::state::AppState;

/// The filter fields shown in the form, in order: (parameter, label, placeholder).
const TEXT_FILTERS: &[(&str, &str, &str)] = &[
    ("q", "Search", "text in events"),
    ("since", "Since", "1h, 7d or 2025-01-31"),
    ("until", "Until", "RFC 3339 or 2025-01-31"),
    ("agent", "Agent", ""),
    ("model", "Model", ""),
    ("tool", "Tool", "read_file,bash"),
];

/// Parameters the list understands (kept when paging).
const KEPT: &[&str] = &[
    "q",
    "since",
    "until",
    "agent",
    "model",
    "tool",
    "status",
    "has_errors",
    "sort",
    "order",
    "limit",
    "name",
    "tag",
    "meta",
    "min_duration",
    "max_duration",
    "min_cost",
    "max_cost",
    "min_tokens",
    "max_tokens",
];

pub(super) async fn page(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Html<String>, PageError> {
    let ctx = Ctx::new(&params);
    let crate::api::SessionPage {
        rows,
        offset,
        limit,
        has_more,
    } = crate::api::session_page(&state, &params).await?;

    let filtered = KEPT
        .iter()
        .filter(|k| !matches!(**k, "sort" | "order" | "limit"))
        .any(|k| params.get(*k).is_some_and(|v| !v.is_empty()));
    let mut body = String::with_capacity(4096 + rows.len() * 1024);
    body.push_str("<h1>Sessions</h1>\n");
    filter_form(&mut body, &ctx, &params);
    let _ = writeln!(
        body,
        "<form class=\"compare-form\" method=\"get\" action=\"/compare\">"
    );
    if let Some(key) = params.get("key") {
        let _ = writeln!(
            body,
            "<input type=\"hidden\" name=\"key\" value=\"{}\">",
            escape(key)
        );
    }
    // Narrow screens scroll the table inside its wrapper, not the page.
    let _ = writeln!(
        body,
        "<div class=\"table-scroll\">\n<table class=\"sessions\" id=\"sessions\" data-live-insert=\"{}\">",
        u8::from(!filtered && offset == 0)
    );
    body.push_str(
        "<thead><tr><th title=\"compare A / B\">A B</th><th>Session</th><th>Agent</th><th>Model</th><th>Status</th><th>Started</th>\
         <th class=\"num\">Duration</th><th class=\"num\">LLM calls</th><th class=\"num\">Tool calls</th><th class=\"num\">Errors</th>\
         <th class=\"num\">Tokens in</th><th class=\"num\">Tokens out</th><th class=\"num\">Cache hit</th><th class=\"num\">Cost</th><th class=\"num\">Score</th></tr></thead>\n<tbody>\n",
    );
    for row in &rows {
        session_row(&mut body, &ctx, row);
    }
    body.push_str("</tbody>\n</table>\n</div>\n");
    if rows.is_empty() {
        body.push_str("<p class=\"muted empty\">No sessions match.</p>\n");
    } else {
        body.push_str("<p><button type=\"submit\">Compare A with B</button></p>\n");
    }
    body.push_str("</form>\n");
    pager(
        &mut body,
        &ctx,
        &params,
        offset,
        limit,
        rows.len(),
        has_more,
    );
    Ok(Html(ctx.layout("Sessions", "Sessions", &body)))
}

fn filter_form(out: &mut String, ctx: &Ctx, params: &HashMap<String, String>) {
    let value = |k: &str| escape(params.get(k).map_or("", String::as_str));
    out.push_str("<form class=\"filters\" method=\"get\" action=\"/\">\n");
    for (name, label, placeholder) in TEXT_FILTERS {
        let _ = writeln!(
            out,
            "<label>{label} <input name=\"{name}\" value=\"{}\" placeholder=\"{}\"></label>",
            value(name),
            escape(placeholder)
        );
    }
    let select = |out: &mut String, name: &str, label: &str, options: &[(&str, &str)]| {
        let current = params.get(name).map_or("", String::as_str);
        let _ = write!(out, "<label>{label} <select name=\"{name}\">");
        for (v, text) in options {
            let selected = if *v == current { " selected" } else { "" };
            let _ = write!(out, "<option value=\"{v}\"{selected}>{text}</option>");
        }
        out.push_str("</select></label>\n");
    };
    select(
        out,
        "status",
        "Status",
        &[
            ("", "any"),
            ("running", "running"),
            ("completed", "completed"),
            ("failed", "failed"),
            ("cancelled", "cancelled"),
        ],
    );
    select(
        out,
        "has_errors",
        "Errors",
        &[("", "any"), ("true", "with errors"), ("false", "without")],
    );
    select(
        out,
        "sort",
        "Sort",
        &[
            ("", "started"),
            ("duration", "duration"),
            ("cost", "cost"),
            ("tokens", "tokens"),
            ("name", "name"),
        ],
    );
    select(
        out,
        "order",
        "Order",
        &[("", "descending"), ("asc", "ascending")],
    );
    if let Some(key) = params.get("key") {
        let _ = writeln!(
            out,
            "<input type=\"hidden\" name=\"key\" value=\"{}\">",
            escape(key)
        );
    }
    let _ = writeln!(
        out,
        "<button type=\"submit\">Apply</button> <a href=\"{}\">Reset</a>\n</form>",
        ctx.href("/")
    );
}

/// One table row; `viewer.js` builds the same cells from live `session`
/// messages, keyed by `data-session` and `data-col`.
fn session_row(out: &mut String, ctx: &Ctx, row: &SessionRow) {
    let m = &row.metrics;
    let id = escape(&row.session_id);
    let href = ctx.href(&format!(
        "/sessions/{}",
        super::page::url_encode(&row.session_id)
    ));
    let _ = write!(
        out,
        "<tr data-session=\"{id}\" class=\"status-{status}\">\
         <td><input type=\"radio\" name=\"a\" value=\"{id}\" aria-label=\"A\"><input type=\"radio\" name=\"b\" value=\"{id}\" aria-label=\"B\"></td>\
         <td><a href=\"{href}\"><code>{id}</code></a><div class=\"task muted\" data-col=\"task\">{task}</div></td>\
         <td data-col=\"agent\">{agent}</td><td data-col=\"model\">{model}</td>\
         <td data-col=\"status\"><span class=\"badge {status}\">{status}</span></td>\
         <td data-col=\"started\">{started}</td>",
        status = row.status.as_str(),
        task = escape(row.task.as_deref().unwrap_or("")),
        agent = escape(row.agent_name.as_deref().unwrap_or("")),
        model = escape(row.model.as_deref().unwrap_or("")),
        started = row.started_at.map(short_time).unwrap_or_default(),
    );
    let numbers: [(&str, String); 9] = [
        (
            "duration",
            row.duration_ms.map(human_duration_ms).unwrap_or_default(),
        ),
        ("llm_calls", m.llm_calls.to_string()),
        ("tool_calls", m.tool_calls.to_string()),
        ("errors", (m.errors).to_string()),
        (
            "input_tokens",
            super::page::known(m.input_tokens, human_tokens),
        ),
        (
            "output_tokens",
            super::page::known(m.output_tokens, human_tokens),
        ),
        (
            "cache_hit_rate",
            super::page::known(m.cache_hit_rate, percent),
        ),
        // A lower bound when some calls had no price: short, for the table.
        (
            "cost_usd",
            match m.cost_usd {
                Some(cost) if m.unpriced_models.is_empty() => usd(cost),
                Some(cost) => format!("≥ {}", usd(cost)),
                None if m.unpriced_models.is_empty() => super::page::UNKNOWN.to_owned(),
                None => "unpriced".to_owned(),
            },
        ),
        (
            "score",
            row.efficiency_score
                .map(|s| format!("{s:.0}"))
                .unwrap_or_default(),
        ),
    ];
    for (col, v) in numbers {
        let bad = if col == "errors" && m.has_errors() {
            " bad"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<td class=\"num{bad}\" data-col=\"{col}\">{}</td>",
            escape(&v)
        );
    }
    out.push_str("</tr>\n");
}

/// `YYYY-MM-DD HH:MM:SS` (UTC).
pub(super) fn short_time(t: loupe_model::Timestamp) -> String {
    let s = t.to_rfc3339();
    s.get(..19).unwrap_or(&s).replace('T', " ")
}

fn pager(
    out: &mut String,
    ctx: &Ctx,
    params: &HashMap<String, String>,
    offset: usize,
    limit: usize,
    shown: usize,
    has_more: bool,
) {
    let link = |offset: usize| {
        let offset = offset.to_string();
        let pairs = KEPT
            .iter()
            .filter_map(|k| params.get(*k).map(|v| (*k, v.as_str())))
            .chain(std::iter::once(("offset", offset.as_str())));
        ctx.href(&format!("/{}", query_string(pairs)))
    };
    out.push_str("<nav class=\"pager\">");
    if offset > 0 {
        let _ = write!(
            out,
            "<a rel=\"prev\" href=\"{}\">← Newer</a> ",
            link(offset.saturating_sub(limit))
        );
    }
    let _ = write!(
        out,
        "<span class=\"muted\">{}–{}</span>",
        if shown == 0 { offset } else { offset + 1 },
        offset + shown
    );
    if has_more {
        let _ = write!(
            out,
            " <a rel=\"next\" href=\"{}\">Older →</a>",
            link(offset + limit)
        );
    }
    out.push_str("</nav>\n");
}
