//! Drawing: renders an [`App`] into a ratatui frame. Stateless; every list
//! renders only the rows that fit, so a frame costs the same for 10 or
//! 200,000 events.

use loupe_analyze::{CacheRating, NodeStatus, SessionAnalysis, Severity, SpanKind};
use loupe_model::{SessionStatus, Timestamp};
use loupe_report::{human_duration_ms, human_tokens};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, Tabs, Wrap};
use ratatui::Frame;

use crate::app::{App, Screen, SessionView, Tab};
use crate::compare::{compare_pane, Verdict};

const HEADER: Style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
const DIM: Style = Style::new().fg(Color::DarkGray);
const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
const ERROR: Style = Style::new().fg(Color::Red);

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame<'_>, app: &App) {
    let [title, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    match app.screen() {
        Screen::Browser => draw_browser(frame, app, title, body),
        Screen::Detail => draw_detail(frame, app, title, body),
        Screen::Compare => draw_compare(frame, app, title, body),
    }
    draw_footer(frame, app, footer);
    if app.help_visible() {
        draw_help(frame, frame.area());
    }
}

/// Rows the browser's list (`None`) or a detail tab's list shows on a
/// terminal of `height` rows: what is left after the title and the footer,
/// the table header or the tab bar and position line, and the Tokens tab's
/// two lines of verdict above its table header. At least 1.
pub fn rows_shown(tab: Option<Tab>, height: u16) -> usize {
    let chrome = match tab {
        None => 3,
        Some(Tab::Tokens) => 6,
        Some(_) => 4,
    };
    usize::from(height.saturating_sub(chrome)).max(1)
}

/// Longest trace text drawn in one piece (a row shows less; wrapped
/// paragraphs show this much at most).
const MAX_TEXT: usize = 2_000;

/// Trace text as the terminal views show it (`loupe view`): control
/// characters escaped as `\u{1b}`, so they are seen rather than silently
/// dropped, a newline or tab shown as a space so lines do not run together,
/// and bidirectional overrides escaped so text shows in its stored order.
fn safe(s: &str) -> String {
    loupe_report::one_line(s, MAX_TEXT)
}

/// Efficiency colour: ≥70 green, ≥40 yellow, else red (attocode's bands).
fn efficiency_style(score: f64) -> Style {
    let color = if score >= 70.0 {
        Color::Green
    } else if score >= 40.0 {
        Color::Yellow
    } else {
        Color::Red
    };
    Style::new().fg(color)
}

fn status_style(status: SessionStatus) -> Style {
    match status {
        SessionStatus::Completed => Style::new().fg(Color::Green),
        SessionStatus::Failed => ERROR,
        SessionStatus::Cancelled => Style::new().fg(Color::Yellow),
        SessionStatus::Running => Style::new().fg(Color::Blue),
    }
}

/// `MM-DD HH:MM:SS` in UTC.
fn short_time(t: Option<Timestamp>) -> String {
    let Some(t) = t else {
        return "-".to_owned();
    };
    let text = t.to_rfc3339();
    match (text.get(5..10), text.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time}"),
        _ => text,
    }
}

/// The first `offset` that keeps `cursor` inside a window of `height` rows.
fn window_start(cursor: usize, height: usize) -> usize {
    (cursor + 1).saturating_sub(height.max(1))
}

fn draw_browser(frame: &mut Frame<'_>, app: &App, title: Rect, body: Rect) {
    let shown = app.visible_sessions().len();
    let total = app.sessions().len();
    let count = if shown == total {
        format!("{total} sessions")
    } else {
        format!("{shown}/{total} sessions")
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("Loupe sessions", HEADER),
            Span::raw(format!("  {count}  sort: {}", app.sort().label())),
        ])),
        title,
    );
    if shown == 0 {
        let text = if total == 0 {
            "No sessions yet (waiting for trace files...)"
        } else {
            "No session matches the filter (Esc clears it)"
        };
        frame.render_widget(Paragraph::new(text).style(DIM), body);
        return;
    }
    let height = usize::from(body.height.saturating_sub(1));
    let start = window_start(app.selected_index(), height);
    // Columns too wide for the terminal are left out whole, least useful
    // first: a value cut short ("$0.0" for $0.004) would read as another.
    const WIDTHS: [u16; 9] = [1, 18, 14, 9, 5, 7, 8, 3, 4];
    const DROP_ORDER: [usize; 7] = [8, 4, 2, 7, 3, 6, 5];
    let keep = fit_columns(&WIDTHS, &DROP_ORDER, body.width, 1);
    let rows = app
        .visible_sessions()
        .enumerate()
        .skip(start)
        .take(height)
        .map(|(i, view)| {
            let cells = kept(browser_cells(app, view), &keep);
            let row = Row::new(cells);
            if i == app.selected_index() {
                row.style(SELECTED)
            } else {
                row
            }
        });
    let widths: Vec<Constraint> = WIDTHS
        .iter()
        .enumerate()
        .filter(|(i, _)| keep[*i])
        // The task takes what is left.
        .map(|(i, &w)| {
            if i == 8 {
                Constraint::Min(w)
            } else {
                Constraint::Length(w)
            }
        })
        .collect();
    let header = Row::new(kept(
        vec![
            "", "Session", "Started", "Status", "Iter", "Tokens", "Cost", "Eff", "Task",
        ],
        &keep,
    ))
    .style(HEADER);
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        body,
    );
}

/// Which of the columns of `widths` fit in `available` cells (with
/// `spacing` between them), leaving out columns in `drop_order` until they do.
pub(crate) fn fit_columns(
    widths: &[u16],
    drop_order: &[usize],
    available: u16,
    spacing: u16,
) -> Vec<bool> {
    let mut keep = vec![true; widths.len()];
    let needed = |keep: &[bool]| -> u32 {
        let shown: Vec<u32> = widths
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(w, _)| u32::from(*w))
            .collect();
        shown.iter().sum::<u32>() + u32::from(spacing) * shown.len().saturating_sub(1) as u32
    };
    for &i in drop_order {
        if needed(&keep) <= u32::from(available) {
            break;
        }
        if let Some(k) = keep.get_mut(i) {
            *k = false;
        }
    }
    keep
}

/// The items of `cells` whose column is kept.
fn kept<T>(cells: Vec<T>, keep: &[bool]) -> Vec<T> {
    cells
        .into_iter()
        .zip(keep)
        .filter_map(|(c, k)| k.then_some(c))
        .collect()
}

fn browser_cells<'a>(app: &App, view: &'a SessionView) -> Vec<Line<'a>> {
    let a = &view.analysis;
    let mark = if app.is_marked(&a.session_id) {
        "*"
    } else {
        " "
    };
    let cost = match a.known_cost_usd() {
        // A lower bound when some model has no price, as `$x + unpriced` says in `view`.
        Some(usd) if !a.metrics.unpriced_models.is_empty() => format!("${usd:.3}+"),
        Some(usd) => format!("${usd:.3}"),
        None if !a.metrics.unpriced_models.is_empty() => "unpriced".to_owned(),
        None => "—".to_owned(),
    };
    vec![
        Line::raw(mark),
        Line::raw(safe(&a.session_id)),
        Line::raw(short_time(a.started_at)),
        Line::styled(a.status.as_str(), status_style(a.status)),
        Line::raw(a.metrics.iterations.to_string()),
        Line::raw(human_tokens(a.metrics.tokens.total())),
        Line::raw(cost),
        Line::styled(
            format!("{:.0}", a.efficiency_score),
            efficiency_style(a.efficiency_score),
        ),
        Line::raw(safe(a.task.as_deref().unwrap_or(""))),
    ]
}

/// The session's cache hit rate as the text summary gives it: `unreported`
/// when no call reports cache counts (not 0%), `-` without LLM input.
fn cache_hit_text(a: &SessionAnalysis) -> String {
    match (a.known_cache_hit_rate(), a.token_flow.cache_rating) {
        (None, _) => "unreported".to_owned(),
        (Some(_), CacheRating::None) => "-".to_owned(),
        (Some(rate), _) => format!("{:.1}%", rate * 100.0),
    }
}

/// The session's cost: `unreported` when no call reports usage or a cost,
/// `unpriced` when its only models have no price, and a lower bound
/// (`+ unpriced`) when some of them have none.
fn cost_text(a: &SessionAnalysis) -> String {
    let unpriced = !a.metrics.unpriced_models.is_empty();
    match a.known_cost_usd() {
        Some(usd) if unpriced => format!("${usd:.4} + unpriced"),
        Some(usd) => format!("${usd:.4}"),
        None if unpriced => "unpriced".to_owned(),
        None => "unreported".to_owned(),
    }
}

fn draw_detail(frame: &mut Frame<'_>, app: &App, title: Rect, body: Rect) {
    let Some(view) = app.open_session() else {
        return;
    };
    let a = &view.analysis;
    let marked = if app.is_marked(&a.session_id) {
        " (marked)"
    } else {
        ""
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!("Session {}", safe(&a.session_id)), HEADER),
            Span::raw(marked),
        ])),
        title,
    );
    let [tabs_area, content] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(body);
    let titles = Tab::ALL
        .iter()
        .map(|t| format!("{} {}", t.index() + 1, t.title()));
    frame.render_widget(
        Tabs::new(titles)
            .select(app.tab().index())
            .highlight_style(SELECTED)
            .divider("|"),
        tabs_area,
    );
    let scroll = app.scroll(app.tab());
    match app.tab() {
        Tab::Summary => draw_summary(frame, a, content),
        Tab::Timeline => draw_timeline(frame, a, scroll, content),
        Tab::Tree => draw_tree(frame, view, scroll, content),
        Tab::Tokens => draw_tokens(frame, a, scroll, content),
        Tab::Issues => draw_issues(frame, a, scroll, content),
    }
}

fn kv(key: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{key:<13}"), DIM),
        Span::raw(value.into()),
    ])
}

fn draw_summary(frame: &mut Frame<'_>, a: &SessionAnalysis, area: Rect) {
    let m = &a.metrics;
    let t = &m.tokens;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{:<13}", "Status"), DIM),
            Span::styled(a.status.as_str(), status_style(a.status)),
            Span::raw("   "),
            Span::styled("Efficiency ", DIM),
            Span::styled(
                loupe_report::score(a.efficiency_score),
                efficiency_style(a.efficiency_score),
            ),
        ]),
        kv(
            "Task",
            a.task.as_deref().map_or_else(|| "-".to_owned(), safe),
        ),
        kv(
            "Model",
            a.model.as_deref().map_or_else(|| "-".to_owned(), safe),
        ),
        kv(
            "Source",
            format!("{} ({})", safe(&a.source.path), a.source.format.as_str()),
        ),
        kv(
            "Started",
            a.started_at
                .map_or_else(|| "-".to_owned(), |s| s.to_rfc3339()),
        ),
        kv(
            "Duration",
            a.duration_ms
                .map_or_else(|| "-".to_owned(), human_duration_ms),
        ),
        kv(
            "Iterations",
            format!(
                "{}   LLM calls {}   Tool calls {}",
                m.iterations, m.llm_calls, m.tool_calls
            ),
        ),
        kv(
            "Errors",
            format!("{}   (tool errors {})", m.errors, m.tool_errors),
        ),
        kv(
            "Tokens",
            if t.total_only_tokens > 0 {
                format!(
                    "in {}  out {}  cache read {}  write {}  (+{} without a split)",
                    human_tokens(t.input_tokens),
                    human_tokens(t.output_tokens),
                    human_tokens(t.cache_read_tokens),
                    human_tokens(t.cache_write_tokens),
                    human_tokens(t.total_only_tokens)
                )
            } else {
                format!(
                    "in {}  out {}  cache read {}  write {}",
                    human_tokens(t.input_tokens),
                    human_tokens(t.output_tokens),
                    human_tokens(t.cache_read_tokens),
                    human_tokens(t.cache_write_tokens)
                )
            },
        ),
        kv("Cache hit", cache_hit_text(a)),
        kv("Cost", cost_text(a)),
        kv(
            "Compactions",
            format!("{}   Subagents {}", m.compactions, m.subagents),
        ),
        kv("Issues", a.issues.len().to_string()),
    ];
    if !m.unpriced_models.is_empty() {
        lines.push(kv("Unpriced", safe(&m.unpriced_models.join(", "))));
    }
    let tools: Vec<String> = a
        .tools
        .iter()
        .take(5)
        .map(|t| format!("{} ×{}", safe(&t.name), t.calls))
        .collect();
    if !tools.is_empty() {
        lines.push(kv("Top tools", tools.join("  ")));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

/// Clamps a scroll offset so the last page stays full.
fn clamp_scroll(scroll: usize, len: usize, height: usize) -> usize {
    scroll.min(len.saturating_sub(height))
}

/// `(n/len)` position marker for scrolled lists.
fn position_line(first: usize, shown: usize, len: usize) -> Line<'static> {
    let last = (first + shown).min(len);
    Line::styled(
        format!("rows {}-{} of {len}", first.min(last) + 1, last),
        DIM,
    )
}

fn draw_timeline(frame: &mut Frame<'_>, a: &SessionAnalysis, scroll: usize, area: Rect) {
    let [list, pos] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let height = usize::from(list.height);
    let len = a.timeline.len();
    let start = clamp_scroll(scroll, len, height);
    let lines: Vec<Line<'_>> = a.timeline[start..(start + height).min(len)]
        .iter()
        .map(|e| {
            let style = if e.important { ERROR } else { Style::new() };
            let iteration = e.iteration.map_or_else(String::new, |i| format!("it={i}"));
            let duration = e.duration_ms.map_or_else(String::new, human_duration_ms);
            let agent = e
                .agent
                .as_deref()
                .map_or_else(String::new, |a| format!("[{}] ", safe(a)));
            Line::from(vec![
                Span::styled(format!("{:>9} ", offset_text(e.offset_ms)), DIM),
                Span::raw(format!("{iteration:<6}")),
                Span::styled(format!("{:<16} ", e.kind.as_str()), style),
                Span::raw(format!("{agent}{} ", safe(&e.label))),
                Span::styled(duration, DIM),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(Paragraph::new(position_line(start, height, len)), pos);
}

/// `+12.345s` / `+3m05s` offsets.
fn offset_text(ms: f64) -> String {
    if ms < 60_000.0 {
        format!("+{:.3}s", ms / 1_000.0)
    } else {
        format!("+{}", human_duration_ms(ms))
    }
}

fn draw_tree(frame: &mut Frame<'_>, view: &SessionView, scroll: usize, area: Rect) {
    let [list, pos] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let height = usize::from(list.height);
    let len = view.tree_rows.len();
    let start = clamp_scroll(scroll, len, height);
    let lines: Vec<Line<'_>> = view.tree_rows[start..(start + height).min(len)]
        .iter()
        .map(|row| {
            let (mark, style) = match row.status {
                NodeStatus::Ok => ("✓", Style::new().fg(Color::Green)),
                NodeStatus::Error => ("✗", ERROR),
                NodeStatus::Running => ("…", Style::new().fg(Color::Blue)),
                NodeStatus::Skipped => ("-", DIM),
            };
            let kind = match row.kind {
                SpanKind::Llm => "llm ",
                SpanKind::Tool => "tool ",
                SpanKind::Subagent => "agent ",
                _ => "",
            };
            let mut extra = row.duration_ms.map_or_else(String::new, human_duration_ms);
            if let Some(tokens) = row.tokens {
                extra.push_str(&format!(" {} tok", human_tokens(tokens)));
            }
            // Deep trees would push labels off screen: cap the indentation.
            let indent = "  ".repeat(usize::from(row.depth).min(20));
            Line::from(vec![
                Span::raw(indent),
                Span::styled(format!("{mark} "), style),
                Span::styled(kind, DIM),
                Span::raw(format!("{} ", safe(&row.label))),
                Span::styled(extra, DIM),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), list);
    frame.render_widget(Paragraph::new(position_line(start, height, len)), pos);
}

fn draw_tokens(frame: &mut Frame<'_>, a: &SessionAnalysis, scroll: usize, area: Rect) {
    let flow = &a.token_flow;
    let [head, table_area] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let peak = flow
        .peak_iteration
        .map_or_else(|| "-".to_owned(), |p| p.to_string());
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(format!(
                "Cache: {:?}  Trend: {:?}  Peak iteration: {peak}",
                flow.cache_rating, flow.trend
            )),
            Line::styled(safe(&flow.recommendation), DIM),
        ]),
        head,
    );
    let height = usize::from(table_area.height.saturating_sub(1));
    let len = flow.rows.len();
    let start = clamp_scroll(scroll, len, height);
    const WIDTHS: [u16; 7] = [5, 8, 8, 8, 6, 10, 10];
    const DROP_ORDER: [usize; 5] = [6, 4, 3, 2, 1];
    let keep = fit_columns(&WIDTHS, &DROP_ORDER, table_area.width, 1);
    // No call reports cache counts: each iteration's hit rate is unknown, not 0%.
    let cache_reported = flow.cache_rating != CacheRating::Unreported;
    let rows = flow.rows[start..(start + height).min(len)].iter().map(|r| {
        Row::new(kept(
            vec![
                r.iteration.to_string(),
                human_tokens(r.tokens.input_tokens),
                human_tokens(r.tokens.output_tokens),
                human_tokens(r.tokens.cache_read_tokens),
                if cache_reported {
                    format!("{:.0}%", r.cache_hit_rate * 100.0)
                } else {
                    "—".to_owned()
                },
                format!("${:.4}", r.cost_usd),
                format!("${:.4}", r.cumulative_cost_usd),
            ],
            &keep,
        ))
    });
    let widths: Vec<Constraint> = kept(WIDTHS.map(Constraint::Length).to_vec(), &keep);
    let header = Row::new(kept(
        vec!["Iter", "Input", "Output", "Cache", "Hit", "Cost", "Total"],
        &keep,
    ))
    .style(HEADER);
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
}

fn severity_style(severity: Severity) -> Style {
    match severity {
        Severity::Critical | Severity::High => ERROR,
        Severity::Medium => Style::new().fg(Color::Yellow),
        Severity::Low => DIM,
    }
}

fn draw_issues(frame: &mut Frame<'_>, a: &SessionAnalysis, scroll: usize, area: Rect) {
    if a.issues.is_empty() {
        frame.render_widget(
            Paragraph::new("No issues detected.").style(Style::new().fg(Color::Green)),
            area,
        );
        return;
    }
    // Issues are few (one per rule hit); scrolling is by issue.
    let start = scroll.min(a.issues.len().saturating_sub(1));
    let mut lines = vec![Line::styled(
        format!("{} issues (issue {} first)", a.issues.len(), start + 1),
        DIM,
    )];
    for issue in &a.issues[start..] {
        let severity = format!("{:?}", issue.severity).to_uppercase();
        let at = issue
            .iteration
            .map_or_else(String::new, |i| format!(" (iteration {i})"));
        lines.push(Line::from(vec![
            Span::styled(format!("[{severity}] "), severity_style(issue.severity)),
            Span::styled(
                safe(&issue.title),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(at),
        ]));
        lines.push(Line::raw(format!("  {}", safe(&issue.description))));
        lines.push(Line::styled(
            format!("  Fix: {}", safe(&issue.suggestion)),
            Style::new().fg(Color::Green),
        ));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn draw_compare(frame: &mut Frame<'_>, app: &App, title: Rect, body: Rect) {
    let Some((a, b)) = app.compared() else {
        return;
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![Span::styled("Compare", HEADER)])),
        title,
    );
    let [names, table_area, verdict] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(2),
    ])
    .areas(body);
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(format!("A: {}", safe(&a.analysis.session_id))),
            Line::raw(format!("B: {}", safe(&b.analysis.session_id))),
        ]),
        names,
    );
    let pane = compare_pane(&a.analysis, &b.analysis);
    let rows: Vec<Row<'_>> = pane
        .rows
        .iter()
        .map(|r| {
            let style = match r.verdict {
                Verdict::ABetter => Style::new().fg(Color::Red),
                Verdict::BBetter => Style::new().fg(Color::Green),
                Verdict::Same | Verdict::Unknown => DIM,
            };
            Row::new(vec![
                Line::raw(r.label),
                Line::raw(r.a_text()),
                Line::raw(r.b_text()),
                Line::raw(r.delta_text()),
                Line::styled(r.verdict.label(), style),
            ])
        })
        .collect();
    let widths = [
        Constraint::Length(14),
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(20),
        Constraint::Length(9),
    ];
    let header = Row::new(vec!["Metric", "A", "B", "Delta (B-A)", "Verdict"]).style(HEADER);
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
    let (a_wins, b_wins, unknown) = pane.tally();
    let judged = pane.rows.len() - unknown;
    let mut tally = format!("A better on {a_wins}, B better on {b_wins} of {judged} metrics");
    if unknown > 0 {
        tally.push_str(&format!(" ({unknown} unknown on a side, not judged)"));
    }
    frame.render_widget(
        Paragraph::new(vec![
            Line::raw(tally),
            Line::from(vec![
                Span::styled("loupe compare A B: ", DIM),
                Span::raw(pane.assessment_text()),
            ]),
        ]),
        verdict,
    );
}

fn draw_footer(frame: &mut Frame<'_>, app: &App, area: Rect) {
    let mut line = if app.editing_filter() {
        Line::from(vec![
            Span::styled("Filter: ", HEADER),
            Span::raw(format!("{}▏", safe(app.filter()))),
            Span::styled("  Enter keep · Esc clear", DIM),
        ])
    } else if let Some(status) = app.status() {
        // File names and skip reasons come from the input too.
        Line::styled(safe(status), Style::new().fg(Color::Yellow))
    } else {
        let hints = match app.screen() {
            Screen::Browser => "↑↓ move  Enter open  / filter  s sort  c mark  ? help  q quit",
            Screen::Detail => "1-5/Tab tabs  ↑↓ PgUp PgDn scroll  c mark  ? help  q back",
            Screen::Compare => "q back  ? help",
        };
        let mut spans = vec![Span::styled(hints, DIM)];
        if !app.filter().is_empty() && app.screen() == Screen::Browser {
            spans.push(Span::raw(format!("  filter: {}", safe(app.filter()))));
        }
        Line::from(spans)
    };
    if app.loading() {
        // First, so a narrow terminal still shows it.
        line.spans
            .insert(0, Span::styled("loading… ", Style::new().fg(Color::Cyan)));
    }
    frame.render_widget(Paragraph::new(line), area);
}

const HELP: &[(&str, &str)] = &[
    ("↑ ↓ / j k", "move / scroll"),
    ("PgUp PgDn", "page up / down"),
    ("Home End", "first / last"),
    ("Enter", "open session"),
    ("Tab ← →", "switch tab"),
    ("1-5", "Summary Timeline Tree Tokens Issues"),
    ("/", "filter sessions"),
    ("s", "cycle sort"),
    ("c", "mark for compare (two)"),
    ("?", "this help"),
    ("q / Esc", "back / quit"),
];

/// Width of the keys column of the help.
const HELP_KEYS: usize = 11;

/// The help overlay: a bordered box when the terminal is tall enough;
/// otherwise the keys in two columns side by side when it is wide enough,
/// else as many as fit with a count of the rest, without a border, so that
/// a short terminal still shows the keys rather than a cut box.
fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let entry = |(keys, what): &(&str, &str)| {
        vec![
            Span::styled(format!("{keys:<HELP_KEYS$}"), HEADER),
            Span::raw(format!("{what:<36}")),
        ]
    };
    let close = Line::styled("any key closes", DIM);
    let rows = HELP.len() as u16;
    let (lines, width, bordered): (Vec<Line<'_>>, u16, bool) = if area.height > rows + 2 {
        let mut lines: Vec<Line<'_>> = HELP.iter().map(|e| Line::from(entry(e))).collect();
        lines.push(close);
        (lines, 52, true)
    } else if area.height > rows.div_ceil(2) && area.width >= 2 * 48 {
        let half = HELP.len().div_ceil(2);
        let mut lines: Vec<Line<'_>> = (0..half)
            .map(|i| {
                let mut spans = entry(&HELP[i]);
                if let Some(right) = HELP.get(i + half) {
                    spans.push(Span::raw(" "));
                    spans.extend(entry(right));
                }
                Line::from(spans)
            })
            .collect();
        lines.push(close);
        (lines, 2 * 48, false)
    } else {
        let fit = usize::from(area.height.saturating_sub(1)).min(HELP.len());
        let mut lines: Vec<Line<'_>> = HELP[..fit].iter().map(|e| Line::from(entry(e))).collect();
        let rest = HELP.len() - fit;
        lines.push(if rest == 0 {
            close
        } else {
            Line::styled(format!("…{rest} more keys in a taller terminal"), DIM)
        });
        (lines, 52, false)
    };
    let width = area.width.min(width);
    let height = area
        .height
        .min(lines.len() as u16 + if bordered { 2 } else { 0 });
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = if bordered {
        Block::default().borders(Borders::ALL).title(" Keys ")
    } else {
        Block::default()
    };
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_that_do_not_fit_are_left_out_whole_least_useful_first() {
        let widths = [1, 18, 14, 9, 5, 7, 8, 3, 4];
        let order = [8, 4, 2, 7, 3, 6, 5];
        assert!(fit_columns(&widths, &order, 200, 1).iter().all(|k| *k));
        let narrow = fit_columns(&widths, &order, 40, 1);
        assert_eq!(
            narrow,
            [true, true, false, false, false, true, true, false, false]
        );
        // Never more than the order allows: the mark and the id stay.
        let tiny = fit_columns(&widths, &order, 5, 1);
        assert!(tiny[0] && tiny[1]);
    }
}
