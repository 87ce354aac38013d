//! The timeline view: one line per event, offset from the session start,
//! e.g. `00:02.400  TOOL      read_file src/main.rs  ✓ 45ms`.

use std::fmt::Write as _;

use loupe_analyze::{SessionAnalysis, TimelineEntry};
use loupe_model::Category;

use super::Painter;
use crate::text::{human_duration_ms, one_line, short_name};

/// Renders the timeline of one session, cut at [`super::ROW_LIMIT`] rows.
pub fn render(a: &SessionAnalysis, color: bool) -> String {
    render_limited(a, color, Some(super::ROW_LIMIT))
}

/// Renders the timeline of one session, its first `limit` events (`None`:
/// all), then a line saying how many were left out.
pub fn render_limited(a: &SessionAnalysis, color: bool, limit: Option<usize>) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        p.bold("Timeline"),
        p.bold(&one_line(&a.session_id, 120))
    );
    if a.timeline.is_empty() {
        let _ = writeln!(out, "  (no events)");
    }
    let shown = limit.map_or(&a.timeline[..], |n| &a.timeline[..n.min(a.timeline.len())]);
    // Offsets past an hour are longer: all are aligned to the longest.
    let width = shown
        .iter()
        .map(|e| offset(e.offset_ms).len())
        .max()
        .unwrap_or(0);
    for e in shown {
        out.push_str(&line(e, width, p));
        out.push('\n');
    }
    if shown.len() < a.timeline.len() {
        out.push_str(&super::rows_left_out(
            a.timeline.len(),
            shown.len(),
            "events",
            p,
        ));
        out.push('\n');
    }
    out
}

fn line(e: &TimelineEntry, width: usize, p: Painter) -> String {
    let tag = format!("{:<9}", kind_tag(e));
    let tag = if e.failed || e.kind.is_error() {
        p.bad(&tag)
    } else {
        p.dim(&tag)
    };
    let mut s = format!("{:>width$}  {}", offset(e.offset_ms), tag);
    if let Some(agent) = &e.agent {
        let _ = write!(s, "[{}] ", short_name(agent, 30));
    }
    let label = one_line(&e.label, 100);
    s.push_str(&if e.important { p.bold(&label) } else { label });
    if e.failed || e.kind.is_error() {
        s.push_str("  ");
        s.push_str(&p.bad("✗"));
    } else if e.kind.is_span_end() && e.duration_ms.is_some() {
        s.push_str("  ");
        s.push_str(&p.ok("✓"));
    }
    if let Some(d) = e.duration_ms {
        let _ = write!(s, " {}", human_duration_ms(d));
    }
    s
}

/// `MM:SS.mmm`, or `H:MM:SS.mmm` past an hour.
/// The time since the session started; signed, as an event recorded before
/// the session's start (a clock that jumped, lines merged out of order) is
/// shown where it happened rather than at 00:00.
fn offset(ms: f64) -> String {
    let ms = if ms.is_finite() { ms } else { 0.0 };
    let sign = if ms.round() < 0.0 { "-" } else { "" };
    let total = ms.abs().round() as u64; // `as` saturates
    format!("{sign}{}", clock(total))
}

fn clock(total: u64) -> String {
    let (h, rest) = (total / 3_600_000, total % 3_600_000);
    let (m, rest) = (rest / 60_000, rest % 60_000);
    let (s, milli) = (rest / 1_000, rest % 1_000);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{milli:03}")
    } else {
        format!("{m:02}:{s:02}.{milli:03}")
    }
}

fn kind_tag(e: &TimelineEntry) -> &'static str {
    if e.kind.is_error() {
        return "ERROR";
    }
    match e.kind.category() {
        Category::Session => "SESSION",
        Category::Iteration => "ITER",
        Category::Llm => "LLM",
        Category::Tool => "TOOL",
        Category::Budget => "BUDGET",
        Category::Compaction => "COMPACT",
        Category::Subagent => "SUBAGENT",
        Category::Swarm | Category::Coordination => "SWARM",
        Category::Plan => "PLAN",
        Category::Quality => "QUALITY",
        Category::Error => "ERROR",
        Category::Mode => "MODE",
        Category::Mcp => "MCP",
        Category::File => "FILE",
        Category::Checkpoint => "CHECKPT",
        Category::Task => "TASK",
        Category::Decision => "DECISION",
        Category::Memory => "MEMORY",
        Category::Workflow => "WORKFLOW",
        Category::Span => "SPAN",
        Category::Meta => "LOUPE",
        Category::Custom => "CUSTOM",
    }
}

#[cfg(test)]
mod tests {
    use super::offset;

    #[test]
    fn offsets_read_as_clock_times() {
        assert_eq!(offset(2_400.0), "00:02.400");
        assert_eq!(offset(61_005.0), "01:01.005");
        assert_eq!(offset(3_723_004.0), "1:02:03.004");
        assert_eq!(offset(-5.0), "-00:00.005");
        assert_eq!(offset(-17_987_000.0), "-4:59:47.000");
        assert_eq!(offset(-0.2), "00:00.000");
        assert_eq!(offset(f64::NAN), "00:00.000");
    }

    #[test]
    fn offsets_past_an_hour_keep_the_columns_aligned() {
        let mut a = crate::testing::sample_analysis();
        let mut late = a.timeline[0].clone();
        late.offset_ms = 3_723_004.0;
        a.timeline.push(late);
        let text = super::render(&a, false);
        let columns: Vec<usize> = text
            .lines()
            .skip(1)
            .map(|l| {
                // Where the offset ends: right-aligned, after any padding.
                let padding = l.len() - l.trim_start().len();
                padding + l.trim_start().find("  ").unwrap_or(0)
            })
            .collect();
        assert!(columns.len() > 1);
        assert!(columns.iter().all(|&c| c == columns[0]), "{text}");
    }
}
