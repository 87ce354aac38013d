//! Terminal views of one session: summary, timeline, span tree and token flow.
//!
//! Each view is `render(&SessionAnalysis, color) -> String`. With `color`
//! false the output is plain text with no escape sequences (pipes, files,
//! `NO_COLOR`, tests). Trace content is passed through `crate::text`'s
//! scrubber so a trace cannot inject terminal escape sequences.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use loupe_analyze::{SessionAnalysis, Severity};

pub mod summary;
pub mod timeline;
pub mod tokens;
pub mod tree;

/// Which view(s) `loupe view` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Overview, metrics, issues, tools.
    Summary,
    /// Every event in order.
    Timeline,
    /// The span tree.
    Tree,
    /// Per-iteration token flow.
    Tokens,
    /// All of the above.
    All,
}

impl View {
    /// Parses `summary|timeline|tree|tokens|all`.
    pub fn from_name(name: &str) -> Option<View> {
        match name {
            "summary" => Some(View::Summary),
            "timeline" => Some(View::Timeline),
            "tree" => Some(View::Tree),
            "tokens" => Some(View::Tokens),
            "all" => Some(View::All),
            _ => None,
        }
    }
}

/// Rows the text timeline and span tree show of one session by default, as
/// the HTML report lists at most this many spans: a session of a million
/// events stays readable, and `loupe view --limit N` or `--all` shows more.
pub const ROW_LIMIT: usize = 3_000;

/// Renders `view` of every session, separated by blank lines, the timeline
/// and tree cut at [`ROW_LIMIT`] rows each.
pub fn render(analyses: &[SessionAnalysis], view: View, color: bool) -> String {
    render_limited(analyses, view, color, Some(ROW_LIMIT))
}

/// [`render`] with the timeline and tree cut at `limit` rows per session
/// (`None`: every row). A cut view ends with a line saying how many rows
/// it left out and how to see them.
pub fn render_limited(
    analyses: &[SessionAnalysis],
    view: View,
    color: bool,
    limit: Option<usize>,
) -> String {
    let mut out = String::new();
    for (i, a) in analyses.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        match view {
            View::Summary => out.push_str(&summary::render(a, color)),
            View::Timeline => out.push_str(&timeline::render_limited(a, color, limit)),
            View::Tree => out.push_str(&tree::render_limited(a, color, limit)),
            View::Tokens => out.push_str(&tokens::render(a, color)),
            View::All => {
                out.push_str(&summary::render(a, color));
                out.push('\n');
                out.push_str(&timeline::render_limited(a, color, limit));
                out.push('\n');
                out.push_str(&tree::render_limited(a, color, limit));
                out.push('\n');
                out.push_str(&tokens::render(a, color));
            }
        }
    }
    if analyses.is_empty() {
        out.push_str("No sessions found.\n");
    }
    out
}

/// The line that ends a view cut at `limit` rows of `total`: how many rows
/// it left out and how to see them.
pub(crate) fn rows_left_out(total: usize, limit: usize, what: &str, p: Painter) -> String {
    let note = format!(
        "… {} more {what} not shown (the first {} of {}): --limit N shows more, --all shows every one, -o json or csv lists them all",
        crate::text::thousands((total - limit) as u64),
        crate::text::thousands(limit as u64),
        crate::text::thousands(total as u64),
    );
    p.dim(&note)
}

/// Applies styles only when colour is on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Painter {
    color: bool,
}

impl Painter {
    pub(crate) fn new(color: bool) -> Self {
        Painter { color }
    }

    pub(crate) fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{}{}", style.render(), text, style.render_reset())
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint(Style::new().bold(), text)
    }

    pub(crate) fn dim(&self, text: &str) -> String {
        self.paint(Style::new().dimmed(), text)
    }

    pub(crate) fn fg(&self, color: AnsiColor, text: &str) -> String {
        self.paint(Style::new().fg_color(Some(color.into())), text)
    }

    pub(crate) fn ok(&self, text: &str) -> String {
        self.fg(AnsiColor::Green, text)
    }

    pub(crate) fn bad(&self, text: &str) -> String {
        self.fg(AnsiColor::Red, text)
    }

    pub(crate) fn severity(&self, s: Severity, text: &str) -> String {
        match s {
            Severity::Critical => self.paint(
                Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
                text,
            ),
            Severity::High => self.fg(AnsiColor::Red, text),
            Severity::Medium => self.fg(AnsiColor::Yellow, text),
            Severity::Low => self.fg(AnsiColor::Cyan, text),
        }
    }
}

/// Column alignment in a [`Table`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A plain aligned text table: header, rule, rows. Cells are measured before
/// colouring, so alignment holds with colour on.
#[derive(Debug)]
pub(crate) struct Table {
    headers: Vec<String>,
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            headers: columns.iter().map(|(h, _)| (*h).to_owned()).collect(),
            aligns: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Renders with `indent` spaces before each line; the header is bold.
    pub(crate) fn render(&self, indent: usize, painter: Painter) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| crate::text::width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(crate::text::width(cell));
                }
            }
        }
        let pad = " ".repeat(indent);
        let mut out = String::new();
        let line = |cells: &[String]| -> String {
            let mut s = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                let fill = w.saturating_sub(crate::text::width(cell));
                if i > 0 {
                    s.push_str("  ");
                }
                match self.aligns.get(i).copied().unwrap_or(Align::Left) {
                    Align::Left => {
                        s.push_str(cell);
                        if i + 1 < cells.len() {
                            s.push_str(&" ".repeat(fill));
                        }
                    }
                    Align::Right => {
                        s.push_str(&" ".repeat(fill));
                        s.push_str(cell);
                    }
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{pad}{}", painter.bold(&line(&self.headers)));
        let total: usize = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
        let _ = writeln!(out, "{pad}{}", painter.dim(&"─".repeat(total)));
        for row in &self.rows {
            let _ = writeln!(out, "{pad}{}", line(row));
        }
        out
    }
}
