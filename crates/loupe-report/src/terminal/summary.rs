//! The summary view: header, metrics, tokens and cost, issues with fixes, tools.

use std::fmt::Write as _;

use loupe_analyze::{SessionAnalysis, Severity};
use loupe_model::SessionStatus;

use super::{Align, Painter, Table};
use crate::text::{human_duration_ms, one_line, percent, short_name, thousands, usd};

/// Renders the summary of one session.
pub fn render(a: &SessionAnalysis, color: bool) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        p.bold("Session"),
        p.bold(&one_line(&a.session_id, 120))
    );
    let _ = writeln!(
        out,
        "  Source    {} ({})",
        one_line(&a.source.path, 160),
        a.source.format
    );
    if let Some(task) = &a.task {
        let _ = writeln!(out, "  Task      {}", one_line(task, 160));
    }
    if let Some(model) = &a.model {
        let _ = writeln!(out, "  Model     {}", short_name(model, 80));
    }
    let status = match a.status {
        SessionStatus::Completed => p.ok(a.status.as_str()),
        SessionStatus::Failed => p.bad(a.status.as_str()),
        _ => p.fg(anstyle::AnsiColor::Yellow, a.status.as_str()),
    };
    match a
        .tree
        .error
        .as_deref()
        .filter(|_| a.status != SessionStatus::Completed)
    {
        Some(why) => {
            let _ = writeln!(out, "  Status    {status}: {}", one_line(why, 160));
        }
        None => {
            let _ = writeln!(out, "  Status    {status}");
        }
    }
    if let Some(start) = a.started_at {
        let _ = writeln!(out, "  Started   {}", start.to_rfc3339());
    }
    if let Some(d) = a.duration_ms {
        let _ = writeln!(out, "  Duration  {}", human_duration_ms(d));
    }
    if let Some(note) = crate::text::invalid_durations_note(a.invalid_durations) {
        let _ = writeln!(out, "  Note      {note}");
    }
    let score = crate::text::score(a.efficiency_score);
    let score = if a.efficiency_score >= 80.0 {
        p.ok(&score)
    } else if a.efficiency_score >= 50.0 {
        p.fg(anstyle::AnsiColor::Yellow, &score)
    } else {
        p.bad(&score)
    };
    let _ = writeln!(out, "  Score     {score}");

    let m = &a.metrics;
    let t = &m.tokens;
    let _ = writeln!(out, "\n{}", p.bold("Metrics"));
    let _ = writeln!(
        out,
        "  Iterations {}   LLM calls {}   Tool calls {}   Tool errors {}   Errors {}   Compactions {}   Subagents {}",
        m.iterations, m.llm_calls, m.tool_calls, m.tool_errors, m.errors, m.compactions, m.subagents
    );
    // No count at all is unknown, not 0 tokens (docs/format.md).
    if t.total() == 0 {
        let _ = writeln!(
            out,
            "  Tokens {}",
            if m.llm_calls == 0 {
                "none: no LLM calls"
            } else {
                "unreported: no LLM call reports its usage"
            }
        );
    } else {
        let _ = writeln!(
            out,
            "  Input {} tokens (cache read {}, cache write {})   Output {} tokens (reasoning {})",
            thousands(t.input_tokens),
            thousands(t.cache_read_tokens),
            thousands(t.cache_write_tokens),
            thousands(t.output_tokens),
            thousands(t.reasoning_tokens)
        );
    }
    if t.total_only_tokens > 0 {
        let _ = writeln!(
            out,
            "  Total {} tokens, {} of them reported without an input/output split",
            thousands(t.total()),
            thousands(t.total_only_tokens)
        );
    }
    let _ = write!(
        out,
        "  Cache hit rate {}   Cost {}",
        match a.token_flow.cache_rating {
            loupe_analyze::CacheRating::Unreported => "unreported".to_owned(),
            loupe_analyze::CacheRating::None => "-".to_owned(),
            _ => percent(m.cache_hit_rate),
        },
        usd(m.cost_usd)
    );
    if !m.unpriced_models.is_empty() {
        let names: Vec<String> = m
            .unpriced_models
            .iter()
            .map(|s| short_name(s, 60))
            .collect();
        let _ = write!(out, " (unpriced: {})", names.join(", "));
    }
    out.push('\n');

    out.push_str(&render_issues(a, p, true));

    if !a.tools.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Tools"));
        let mut table = Table::new(&[
            ("Tool", Align::Left),
            ("Calls", Align::Right),
            ("Errors", Align::Right),
            ("Avg", Align::Right),
            ("p95", Align::Right),
        ]);
        for tool in &a.tools {
            let (avg, p95) = crate::text::tool_durations(tool);
            table.row(vec![
                short_name(&tool.name, 40),
                tool.calls.to_string(),
                tool.errors.to_string(),
                avg,
                p95,
            ]);
        }
        out.push_str(&table.render(2, p));
    }
    if !a.nodes.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Workflow nodes"));
        let mut table = Table::new(&[
            ("Node", Align::Left),
            ("Type", Align::Left),
            ("Runs", Align::Right),
            ("Failed", Align::Right),
            ("Total", Align::Right),
            ("Avg", Align::Right),
        ]);
        for n in &a.nodes {
            table.row(vec![
                short_name(&n.node_id, 40),
                short_name(n.node_type.as_deref().unwrap_or(""), 20),
                n.runs.to_string(),
                n.failures.to_string(),
                human_duration_ms(n.total_duration_ms),
                human_duration_ms(n.avg_duration_ms),
            ]);
        }
        out.push_str(&table.render(2, p));
    }
    out
}

/// The issues section; `with_fixes` adds each suggestion under its issue.
pub(crate) fn render_issues(a: &SessionAnalysis, p: Painter, with_fixes: bool) -> String {
    let mut out = String::new();
    if a.issues.is_empty() {
        let _ = writeln!(out, "\n{} {}", p.bold("Issues"), p.ok("none found"));
        return out;
    }
    let _ = writeln!(out, "\n{} ({})", p.bold("Issues"), a.issues.len());
    let (listed, omitted) = crate::text::listed_issues(&a.issues);
    for issue in listed {
        let tag = format!("[{}]", severity_name(issue.severity));
        let at = issue
            .iteration
            .map(|i| format!(" (iteration {i})"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} {}{}  {}",
            p.severity(issue.severity, &tag),
            one_line(&issue.title, 120),
            at,
            p.dim(&one_line(&issue.category, 40))
        );
        let _ = writeln!(out, "      {}", one_line(&issue.description, 200));
        if with_fixes && !issue.suggestion.is_empty() {
            let _ = writeln!(out, "      → {}", one_line(&issue.suggestion, 200));
        }
    }
    for line in crate::text::omitted_issue_lines(&omitted) {
        let _ = writeln!(out, "  {}", p.dim(&line));
    }
    out
}

/// Only the fixes: one numbered suggestion per issue, most severe first.
pub fn render_fixes(a: &SessionAnalysis, color: bool) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        p.bold("Fixes for"),
        p.bold(&one_line(&a.session_id, 120))
    );
    if a.issues.is_empty() {
        let _ = writeln!(out, "  Nothing to fix: no issues found.");
        return out;
    }
    let (listed, omitted) = crate::text::listed_issues(&a.issues);
    for (n, issue) in listed.into_iter().enumerate() {
        let tag = format!("[{}]", severity_name(issue.severity));
        let _ = writeln!(
            out,
            "  {}. {} {}",
            n + 1,
            p.severity(issue.severity, &tag),
            // The fix is what this view is for: whole, within reason.
            one_line(&issue.suggestion, 1000)
        );
        let _ = writeln!(
            out,
            "     {}",
            p.dim(&format!("because: {}", one_line(&issue.title, 160)))
        );
    }
    for line in crate::text::omitted_issue_lines(&omitted) {
        let _ = writeln!(out, "  {}", p.dim(&line));
    }
    out
}

/// Issues only (no metrics), with fixes.
pub fn render_issues_only(a: &SessionAnalysis, color: bool) -> String {
    let p = Painter::new(color);
    let mut out = format!(
        "{} {}\n",
        p.bold("Session"),
        p.bold(&one_line(&a.session_id, 120))
    );
    let issues = render_issues(a, p, true);
    out.push_str(issues.strip_prefix('\n').unwrap_or(&issues));
    out
}

pub(crate) fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Low => "LOW",
        Severity::Medium => "MEDIUM",
        Severity::High => "HIGH",
        Severity::Critical => "CRITICAL",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn fixes_show_a_long_fix_whole() {
        let mut a = crate::testing::sample_analysis();
        let fix = format!(
            "{} end of the fix.",
            "Scope the command to the failing tests. ".repeat(10)
        );
        assert!(fix.len() > 300);
        a.issues[0].suggestion = fix.clone();
        let text = super::render_fixes(&a, false);
        assert!(text.contains(&fix), "{text}");
    }

    /// Thousands of issues of one category (a fan-out repeating one read)
    /// do not bury the others: each category lists a few and says how many
    /// more there are, in the text, Markdown and HTML reports alike.
    #[test]
    fn a_flood_of_one_category_is_cut_short_and_the_others_stay() {
        let mut a = crate::testing::sample_analysis();
        let template = a.issues[0].clone();
        a.issues.clear();
        for n in 0..2_000 {
            let mut issue = template.clone();
            issue.category = "redundant_tool_calls".to_owned();
            issue.title = format!("Redundant tool calls: read_file {n}");
            a.issues.push(issue);
        }
        let mut other = template.clone();
        other.category = "cache_drop".to_owned();
        other.title = "Cache hit rate dropped".to_owned();
        a.issues.push(other);
        let text = super::render(&a, false);
        assert!(text.contains("Issues (2001)"), "{text}");
        assert!(text.contains("Cache hit rate dropped"), "{text}");
        assert_eq!(text.matches("Redundant tool calls: read_file").count(), 5);
        assert!(
            text.contains("and 1,995 more redundant_tool_calls issues"),
            "{text}"
        );
        let fixes = super::render_fixes(&a, false);
        assert!(fixes.contains("and 1,995 more"), "{fixes}");
        let md = crate::markdown::render(std::slice::from_ref(&a));
        assert!(md.contains("and 1,995 more"), "{md}");
        assert_eq!(md.matches("Redundant tool calls: read").count(), 5);
        let html = crate::html::render(std::slice::from_ref(&a), None);
        assert!(html.contains("and 1,995 more"));
        assert!(html.matches("Redundant tool calls: read_file").count() <= 6);
    }

    /// MCP tools share long prefixes: cut at the end, two tools read as one.
    #[test]
    fn long_tool_names_that_differ_at_the_end_stay_distinct() {
        let mut a = crate::testing::sample_analysis();
        a.tools[0].name = "mcp__github__create_pull_request_review_comment".to_owned();
        a.tools[1].name = "mcp__github__create_pull_request_review_thread".to_owned();
        let text = super::render(&a, false);
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("mcp__github")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(rows[0].contains("_review_comment "), "{text}");
        assert!(rows[1].contains("_review_thread "), "{text}");
    }
}
