//! The span-tree view: session → iterations → LLM calls, tools, subagents,
//! drawn with `├──`, `└──` and `│`.

use std::fmt::Write as _;

use loupe_analyze::{CacheRating, NodeStatus, SessionAnalysis, SpanKind, SpanNode};

use super::Painter;
use crate::text::{human_duration_ms, human_tokens, one_line, percent, short_name};

/// Renders the span tree of one session, cut at [`super::ROW_LIMIT`] rows.
pub fn render(a: &SessionAnalysis, color: bool) -> String {
    render_limited(a, color, Some(super::ROW_LIMIT))
}

/// Renders the span tree of one session, its first `limit` spans depth
/// first (`None`: all, the session's own line included), then a line saying
/// how many were left out.
pub fn render_limited(a: &SessionAnalysis, color: bool, limit: Option<usize>) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        p.bold("Tree"),
        p.bold(&one_line(&a.session_id, 120))
    );
    // A session whose calls report no cache counts has an unknown hit
    // rate, not 0% (as the summary's "unreported").
    let cache_reported = a.token_flow.cache_rating != CacheRating::Unreported;
    let line = |node: &SpanNode| node_line(node, cache_reported, p);
    let mut budget = limit.unwrap_or(usize::MAX);
    if budget == 0 {
        // Nothing shown: only the count below.
    } else {
        budget -= 1;
        let _ = writeln!(out, "{}", line(&a.tree));
        let count = a.tree.children.len();
        for (i, child) in a.tree.children.iter().enumerate() {
            if !walk(child, "", i + 1 == count, &line, p, &mut out, &mut budget) {
                break;
            }
        }
    }
    if let Some(limit) = limit {
        let total = span_count(&a.tree);
        if total > limit {
            out.push_str(&super::rows_left_out(total, limit, "spans", p));
            out.push('\n');
        }
    }
    out
}

/// Writes `node` and its children while `budget` lasts; false once it ran
/// out before the end.
fn walk(
    node: &SpanNode,
    prefix: &str,
    last: bool,
    line: &dyn Fn(&SpanNode) -> String,
    p: Painter,
    out: &mut String,
    budget: &mut usize,
) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    let branch = if last { "└── " } else { "├── " };
    let _ = writeln!(out, "{prefix}{}{}", p.dim(branch), line(node));
    let child_prefix = format!("{prefix}{}", if last { "    " } else { "│   " });
    let count = node.children.len();
    for (i, child) in node.children.iter().enumerate() {
        if !walk(child, &child_prefix, i + 1 == count, line, p, out, budget) {
            return false;
        }
    }
    true
}

/// Spans of the tree, its root included: the rows of an uncut view.
fn span_count(node: &SpanNode) -> usize {
    // Iterative: a corrupt trace may nest deeply.
    let mut stack = vec![node];
    let mut count = 0;
    while let Some(n) = stack.pop() {
        count += 1;
        stack.extend(n.children.iter());
    }
    count
}

fn node_line(node: &SpanNode, cache_reported: bool, p: Painter) -> String {
    let mut s = String::new();
    let tag = kind_tag(node.kind);
    if !tag.is_empty() {
        s.push_str(&p.dim(tag));
        s.push(' ');
    }
    if let Some(agent) = &node.agent {
        let _ = write!(
            s,
            "[{}] ",
            short_name(agent.name.as_deref().unwrap_or(&agent.id), 30)
        );
    }
    s.push_str(&one_line(&node.label, 90));
    s.push_str("  ");
    s.push_str(&match node.status {
        NodeStatus::Ok => p.ok("✓"),
        NodeStatus::Error => p.bad("✗"),
        NodeStatus::Running => p.fg(anstyle::AnsiColor::Yellow, "…"),
        NodeStatus::Skipped => p.dim("⊘"),
    });
    if let Some(d) = node.duration_ms {
        let _ = write!(s, " {}", human_duration_ms(d));
    }
    if node.status == NodeStatus::Ok && node.kind != SpanKind::Session {
        let failed = node.failed_inside();
        if failed > 0 {
            let _ = write!(s, "  {}", p.bad(&format!("({failed} failed inside)")));
        }
    }
    // Why it failed, unless the label already says (timeline labels of
    // point events end with the error).
    if let Some(why) = node.error.as_deref().filter(|w| !node.label.contains(w)) {
        let _ = write!(s, "  {}", p.bad(&one_line(why, 100)));
    }
    if let Some(t) = node.tokens.filter(|t| t.split_unknown()) {
        let brief = format!(
            "[{} tokens, no input/output split]",
            human_tokens(t.total())
        );
        let _ = write!(s, "  {}", p.dim(&brief));
    } else if let Some(t) = &node.tokens {
        let hit = if cache_reported {
            format!(" hit {}", percent(t.cache_hit_rate()))
        } else {
            String::new()
        };
        let _ = write!(
            s,
            "  {}",
            p.dim(&format!(
                "[in {} out {}{hit}]",
                human_tokens(t.input_tokens),
                human_tokens(t.output_tokens),
            ))
        );
    }
    s
}

/// The word a tree line starts with for a node of `kind` (none for
/// iterations, turns and tasks, whose labels say what they are).
pub(crate) fn kind_tag(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Session => "session",
        SpanKind::Iteration | SpanKind::Turn | SpanKind::Task => "",
        SpanKind::Llm => "llm",
        SpanKind::Tool => "tool",
        SpanKind::Subagent => "subagent",
        SpanKind::Workflow => "workflow",
        SpanKind::Node => "node",
        SpanKind::Span => "span",
        SpanKind::Event => "event",
    }
}
