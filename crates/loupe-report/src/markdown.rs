//! Markdown output (GitHub-flavoured): a section per session with overview,
//! metrics table, issues with fixes, tools and token flow. Trace text is
//! escaped so it cannot break tables or inject HTML/links.

use std::fmt::Write as _;

use loupe_analyze::{NodeStatus, SessionAnalysis};
use loupe_model::TokenTotals;

use crate::terminal::summary::severity_name;
use crate::terminal::View;
use crate::text::{human_duration_ms, one_line, percent, thousands, usd};

/// Escapes trace text for Markdown: one line, Markdown punctuation and `|`
/// backslash-escaped, `<`/`>`/`&` as entities (GitHub renders inline HTML).
pub fn escape(s: &str) -> String {
    let line = one_line(s, 300);
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Renders every session as Markdown.
pub fn render(analyses: &[SessionAnalysis]) -> String {
    render_view(analyses, View::Summary)
}

/// [`render`], each session followed by what `view` shows beyond the
/// summary: its cache verdict, input trend and peak (`tokens`, `all`),
/// timeline (`timeline`, `all`) and span tree (`tree`, `all`); the token
/// flow table is always shown.
pub fn render_view(analyses: &[SessionAnalysis], view: View) -> String {
    let mut out = String::from("# Loupe report\n");
    if analyses.is_empty() {
        out.push_str("\nNo sessions found.\n");
    }
    for a in analyses {
        out.push_str(&session(a));
        if matches!(view, View::Tokens | View::All) {
            out.push_str(&cache_verdict(a));
        }
        if matches!(view, View::Timeline | View::All) {
            out.push_str(&timeline(a));
        }
        if matches!(view, View::Tree | View::All) {
            out.push_str(&tree(a));
        }
    }
    out
}

/// The token view's verdict under the token-flow table: cache efficiency
/// and what to do about it, the input trend and the peak iteration.
fn cache_verdict(a: &SessionAnalysis) -> String {
    let flow = &a.token_flow;
    let mut out = String::from("\n### Cache and trend\n\n");
    let rating = crate::text::serde_name(flow.cache_rating);
    if flow.cache_rating == loupe_analyze::CacheRating::Unreported {
        let _ = writeln!(out, "- **Cache efficiency:** {rating} (no cache counts)");
    } else {
        let _ = writeln!(
            out,
            "- **Cache efficiency:** {rating} ({} hit rate)",
            percent(a.metrics.cache_hit_rate)
        );
    }
    if !flow.recommendation.is_empty() {
        let _ = writeln!(
            out,
            "- **Recommendation:** {}",
            escape(&flow.recommendation)
        );
    }
    let _ = writeln!(
        out,
        "- **Input trend:** {}",
        crate::text::serde_name(flow.trend)
    );
    if let Some((peak, tokens)) = flow.peak() {
        let _ = writeln!(
            out,
            "- **Peak:** iteration {peak} ({} tokens)",
            thousands(tokens)
        );
    }
    out
}

fn timeline(a: &SessionAnalysis) -> String {
    let mut out =
        String::from("\n### Timeline\n\n| At | Event | Duration | |\n|---:|---|---:|---|\n");
    for e in &a.timeline {
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {} |",
            human_duration_ms(e.offset_ms),
            e.agent
                .as_deref()
                .map(|agent| format!("[{}] ", escape(agent)))
                .unwrap_or_default(),
            escape(&e.label),
            e.duration_ms.map(human_duration_ms).unwrap_or_default(),
            if e.failed { "✗" } else { "" }
        );
    }
    out
}

fn tree(a: &SessionAnalysis) -> String {
    let mut out = String::from("\n### Span tree\n\n");
    let mut stack = vec![(&a.tree, 0usize)];
    // Depth first without recursion, children in order.
    while let Some((node, depth)) = stack.pop() {
        let status = match node.status {
            NodeStatus::Ok => "✓",
            NodeStatus::Error => "✗",
            NodeStatus::Running => "…",
            NodeStatus::Skipped => "skipped",
        };
        let tag = crate::terminal::tree::kind_tag(node.kind);
        let _ = writeln!(
            out,
            "{}- {}{}{} {}{}{}",
            "  ".repeat(depth),
            tag,
            if tag.is_empty() { "" } else { " " },
            escape(&node.label),
            status,
            node.duration_ms
                .map(|d| format!(" {}", human_duration_ms(d)))
                .unwrap_or_default(),
            match node.error.as_deref().filter(|w| !node.label.contains(w)) {
                Some(w) => format!(" — {}", escape(&crate::text::one_line(w, 100))),
                None if node.status == NodeStatus::Ok
                    && node.kind != loupe_analyze::SpanKind::Session
                    && node.failed_inside() > 0 =>
                {
                    format!(" ({} failed inside)", node.failed_inside())
                }
                None => String::new(),
            }
        );
        stack.extend(node.children.iter().rev().map(|c| (c, depth + 1)));
    }
    out
}

/// The `loupe issues -o md` / `loupe fixes -o md` report: each session's
/// issues with their fixes, nothing else.
pub fn render_issues(analyses: &[SessionAnalysis]) -> String {
    let mut out = String::from("# Loupe issues\n");
    if analyses.is_empty() {
        out.push_str("\nNo sessions found.\n");
    }
    for a in analyses {
        let _ = writeln!(
            out,
            "\n## Session {} ({}, score {})\n",
            escape(&a.session_id),
            a.status.as_str(),
            crate::text::score(a.efficiency_score)
        );
        issue_list(&mut out, a);
    }
    out
}

/// A session's issues as a Markdown list, each with its fix.
fn issue_list(out: &mut String, a: &SessionAnalysis) {
    if a.issues.is_empty() {
        let _ = writeln!(out, "No issues found.");
    }
    let (listed, omitted) = crate::text::listed_issues(&a.issues);
    for issue in listed {
        let at = issue
            .iteration
            .map(|i| format!(" (iteration {i})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- **{}** {}{} — {}  \n  Fix: {}",
            severity_name(issue.severity),
            escape(&issue.title),
            at,
            escape(&issue.description),
            escape(&issue.suggestion)
        );
    }
    for line in crate::text::omitted_issue_lines(&omitted) {
        let _ = writeln!(out, "- {}", escape(&line));
    }
}

/// The total, saying how much of it came without an input/output split.
fn total_tokens(t: &TokenTotals) -> String {
    if t.total_only_tokens > 0 {
        format!(
            "{} ({} without an input/output split)",
            thousands(t.total()),
            thousands(t.total_only_tokens)
        )
    } else {
        thousands(t.total())
    }
}

fn session(a: &SessionAnalysis) -> String {
    let mut out = String::new();
    let m = &a.metrics;
    let t = &m.tokens;
    let _ = writeln!(out, "\n## Session {}\n", escape(&a.session_id));
    let _ = writeln!(
        out,
        "- **Source:** {} ({})",
        escape(&a.source.path),
        a.source.format
    );
    if let Some(task) = &a.task {
        let _ = writeln!(out, "- **Task:** {}", escape(task));
    }
    if let Some(model) = &a.model {
        let _ = writeln!(out, "- **Model:** {}", escape(model));
    }
    match a
        .tree
        .error
        .as_deref()
        .filter(|_| a.status != loupe_model::SessionStatus::Completed)
    {
        Some(why) => {
            let _ = writeln!(out, "- **Status:** {}: {}", a.status, escape(why));
        }
        None => {
            let _ = writeln!(out, "- **Status:** {}", a.status);
        }
    }
    if let Some(d) = a.duration_ms {
        let _ = writeln!(out, "- **Duration:** {}", human_duration_ms(d));
    }
    if let Some(note) = crate::text::invalid_durations_note(a.invalid_durations) {
        let _ = writeln!(out, "- **Note:** {note}");
    }
    let _ = writeln!(
        out,
        "- **Efficiency score:** {}",
        crate::text::score(a.efficiency_score)
    );

    let _ = writeln!(out, "\n### Metrics\n");
    let _ = writeln!(out, "| Metric | Value |\n|---|---:|");
    let rows: [(&str, String); 15] = [
        ("Iterations", m.iterations.to_string()),
        ("LLM calls", m.llm_calls.to_string()),
        ("Tool calls", m.tool_calls.to_string()),
        ("Tool errors", m.tool_errors.to_string()),
        ("Errors", m.errors.to_string()),
        ("Input tokens", thousands(t.input_tokens)),
        ("Output tokens", thousands(t.output_tokens)),
        ("Cache read tokens", thousands(t.cache_read_tokens)),
        ("Cache write tokens", thousands(t.cache_write_tokens)),
        ("Reasoning tokens", thousands(t.reasoning_tokens)),
        ("Total tokens", total_tokens(t)),
        ("Cache hit rate", percent(m.cache_hit_rate)),
        ("Cost", usd(m.cost_usd)),
        ("Compactions", m.compactions.to_string()),
        ("Subagents", m.subagents.to_string()),
    ];
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    if !m.unpriced_models.is_empty() {
        let names: Vec<String> = m.unpriced_models.iter().map(|s| escape(s)).collect();
        let _ = writeln!(
            out,
            "\nUnpriced models (cost excludes them): {}",
            names.join(", ")
        );
    }

    let _ = writeln!(out, "\n### Issues\n");
    issue_list(&mut out, a);

    if !a.tools.is_empty() {
        let _ = writeln!(out, "\n### Tools\n");
        let _ = writeln!(
            out,
            "| Tool | Calls | Errors | Avg | p95 |\n|---|---:|---:|---:|---:|"
        );
        for tool in &a.tools {
            let (avg, p95) = crate::text::tool_durations(tool);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {avg} | {p95} |",
                escape(&tool.name),
                tool.calls,
                tool.errors,
            );
        }
    }

    if !a.nodes.is_empty() {
        let _ = writeln!(out, "\n### Workflow nodes\n");
        let _ = writeln!(
            out,
            "| Node | Type | Runs | Failed | Total | Avg |\n|---|---|---:|---:|---:|---:|"
        );
        for n in &a.nodes {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                escape(&n.node_id),
                escape(n.node_type.as_deref().unwrap_or("")),
                n.runs,
                n.failures,
                human_duration_ms(n.total_duration_ms),
                human_duration_ms(n.avg_duration_ms)
            );
        }
    }

    if !a.token_flow.rows.is_empty() {
        let _ = writeln!(out, "\n### Token flow\n");
        let _ = writeln!(
            out,
            "| Iteration | In | Out | Cache read | Cache write | Hit% | Cost |\n|---:|---:|---:|---:|---:|---:|---:|"
        );
        for r in &a.token_flow.rows {
            let t = &r.tokens;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.iteration,
                thousands(t.input_tokens),
                thousands(t.output_tokens),
                thousands(t.cache_read_tokens),
                thousands(t.cache_write_tokens),
                percent(r.cache_hit_rate),
                usd(r.cost_usd)
            );
        }
        if let Some(b) = &a.token_flow.cache_boundary {
            let (numbers, meaning) = crate::text::cache_boundary_sentences(b);
            let _ = writeln!(out, "\n{} {}", escape(&numbers), escape(&meaning));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn trace_text_cannot_break_tables_or_inject_html() {
        assert_eq!(escape("a|b"), "a\\|b");
        assert_eq!(escape("<script>"), "&lt;script&gt;");
        assert_eq!(escape("[x](javascript:y)"), "\\[x\\](javascript:y)");
        assert_eq!(escape("two\nlines"), "two lines");
    }

    #[test]
    fn tree_lines_name_the_kind_once() {
        let md = super::render_view(
            &[crate::testing::sample_analysis()],
            crate::terminal::View::Tree,
        );
        assert!(md.contains("\n  - Iteration 1 ✓"), "{md}");
        assert!(md.contains("- llm "), "{md}");
        assert!(!md.contains("Iteration Iteration"), "{md}");
    }
}
