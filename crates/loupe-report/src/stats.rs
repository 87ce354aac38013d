//! `loupe stats` output: cross-session statistics as text tables, JSON (the
//! analysis crate's `CrossStats` serialised as is) or CSV in long form
//! (`section,key,metric,value`: one number per row, easy to pivot).

use std::fmt::Write as _;

use loupe_analyze::{CrossStats, UsageBucket};

use crate::terminal::{Align, Painter, Table};
use crate::text::{human_duration_ms, one_line, percent, short_name, thousands, usd};

/// Pretty JSON with a trailing newline.
pub fn json(stats: &CrossStats) -> String {
    let mut s = serde_json::to_string_pretty(stats).unwrap_or_default();
    s.push('\n');
    s
}

/// Aligned text tables.
pub fn text(stats: &CrossStats, color: bool) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    let t = &stats.total;
    let _ = writeln!(
        out,
        "{} {} session{} · {} LLM call{} · {} input / {} output tokens · cache hit {} · {}",
        p.bold("Stats"),
        thousands(stats.sessions),
        if stats.sessions == 1 { "" } else { "s" },
        thousands(t.llm_calls),
        if t.llm_calls == 1 { "" } else { "s" },
        thousands(t.tokens.input_tokens),
        thousands(t.tokens.output_tokens),
        t.cache_hit_rate()
            .map_or_else(|| "unreported".to_owned(), percent),
        usd(t.cost_usd)
    );
    if t.unpriced_calls > 0 {
        let _ = writeln!(
            out,
            "  ({} LLM calls of unpriced models are not in the cost)",
            t.unpriced_calls
        );
    }

    if !stats.slowest_llm_calls.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Slowest LLM calls"));
        let mut table = Table::new(&[
            ("Duration", Align::Right),
            ("Model", Align::Left),
            ("Session", Align::Left),
            ("Iter", Align::Right),
            ("In", Align::Right),
            ("Out", Align::Right),
        ]);
        for c in &stats.slowest_llm_calls {
            table.row(vec![
                human_duration_ms(c.duration_ms),
                short_name(c.model.as_deref().unwrap_or("-"), 40),
                short_name(&c.session_id, 40),
                c.iteration.map(|i| i.to_string()).unwrap_or_default(),
                thousands(c.input_tokens),
                thousands(c.output_tokens),
            ]);
        }
        out.push_str(&table.render(2, p));
    }

    if !stats.tool_failure_rates.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Tools by failure rate"));
        let mut table = Table::new(&[
            ("Tool", Align::Left),
            ("Calls", Align::Right),
            ("Errors", Align::Right),
            ("Failure", Align::Right),
            ("Avg", Align::Right),
        ]);
        for f in &stats.tool_failure_rates {
            let rate = percent(f.failure_rate);
            table.row(vec![
                short_name(&f.tool, 40),
                thousands(f.calls),
                thousands(f.errors),
                rate,
                human_duration_ms(f.avg_duration_ms),
            ]);
        }
        out.push_str(&table.render(2, p));
    }

    usage(&mut out, "By model", &stats.by_model, p);
    usage(&mut out, "By agent", &stats.by_agent, p);
    usage(&mut out, "By day", &stats.by_day, p);

    if !stats.common_errors.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Common errors"));
        let mut table = Table::new(&[("Count", Align::Right), ("Pattern", Align::Left)]);
        for e in &stats.common_errors {
            table.row(vec![thousands(e.count), one_line(&e.pattern, 120)]);
        }
        out.push_str(&table.render(2, p));
    }

    if !stats.slow_nodes.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Consistently slow nodes"));
        let mut table = Table::new(&[
            ("Node", Align::Left),
            ("Sessions", Align::Right),
            ("Runs", Align::Right),
            ("Avg", Align::Right),
            ("Slow in", Align::Right),
        ]);
        for n in &stats.slow_nodes {
            table.row(vec![
                short_name(&n.node_id, 60),
                n.sessions.to_string(),
                n.runs.to_string(),
                human_duration_ms(n.avg_duration_ms),
                format!(
                    "{} session{}",
                    n.slow_sessions,
                    if n.slow_sessions == 1 { "" } else { "s" }
                ),
            ]);
        }
        out.push_str(&table.render(2, p));
    }

    if !stats.agents.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Agents"));
        let mut table = Table::new(&[
            ("Agent", Align::Left),
            ("Sessions", Align::Right),
            ("Success", Align::Right),
            ("LLM calls", Align::Right),
            ("Mean LLM", Align::Right),
            ("Mean session", Align::Right),
        ]);
        for a in &stats.agents {
            table.row(vec![
                short_name(&a.agent, 40),
                a.sessions.to_string(),
                percent(a.success_rate),
                thousands(a.llm_calls),
                if a.timed_llm_calls == 0 {
                    "-".to_owned()
                } else {
                    human_duration_ms(a.mean_llm_duration_ms)
                },
                human_duration_ms(a.mean_session_duration_ms),
            ]);
        }
        out.push_str(&table.render(2, p));
    }
    out
}

fn usage(out: &mut String, title: &str, buckets: &[UsageBucket], p: Painter) {
    if buckets.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", p.bold(title));
    let mut table = Table::new(&[
        ("Key", Align::Left),
        ("LLM calls", Align::Right),
        ("Input", Align::Right),
        ("Output", Align::Right),
        ("Cache hit", Align::Right),
        ("Cost", Align::Right),
    ]);
    for b in buckets {
        let mut cost = usd(b.cost_usd);
        if b.unpriced_calls > 0 {
            cost.push_str(" *");
        }
        table.row(vec![
            short_name(&b.key, 50),
            thousands(b.llm_calls),
            thousands(b.tokens.input_tokens),
            thousands(b.tokens.output_tokens),
            b.cache_hit_rate().map_or_else(|| "-".to_owned(), percent),
            cost,
        ]);
    }
    out.push_str(&table.render(2, p));
    if buckets.iter().any(|b| b.unpriced_calls > 0) {
        let _ = writeln!(
            out,
            "  * includes calls of unpriced models (not in the cost)"
        );
    }
}

/// Long-form CSV: `section,key,metric,value`.
pub fn csv(stats: &CrossStats) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["section", "key", "metric", "value"]);
    let mut row = |section: &str, key: &str, metric: &str, value: String| {
        let _ = w.write_record(
            [section, key, metric, value.as_str()]
                .map(|c| crate::csv::spreadsheet_safe(c).into_owned()),
        );
    };
    row("total", "sessions", "count", stats.sessions.to_string());
    let mut bucket = |section: &str, b: &UsageBucket| {
        row(section, &b.key, "llm_calls", b.llm_calls.to_string());
        row(
            section,
            &b.key,
            "input_tokens",
            b.tokens.input_tokens.to_string(),
        );
        row(
            section,
            &b.key,
            "output_tokens",
            b.tokens.output_tokens.to_string(),
        );
        row(
            section,
            &b.key,
            "cache_read_tokens",
            b.tokens.cache_read_tokens.to_string(),
        );
        row(
            section,
            &b.key,
            "cache_write_tokens",
            b.tokens.cache_write_tokens.to_string(),
        );
        row(
            section,
            &b.key,
            "reasoning_tokens",
            b.tokens.reasoning_tokens.to_string(),
        );
        row(section, &b.key, "cost_usd", format!("{:.6}", b.cost_usd));
        row(
            section,
            &b.key,
            "unpriced_calls",
            b.unpriced_calls.to_string(),
        );
    };
    bucket("total", &stats.total);
    for b in &stats.by_model {
        bucket("by_model", b);
    }
    for b in &stats.by_agent {
        bucket("by_agent", b);
    }
    for b in &stats.by_day {
        bucket("by_day", b);
    }
    for (rank, c) in stats.slowest_llm_calls.iter().enumerate() {
        let key = format!("{}#{}", c.session_id, rank + 1);
        row(
            "slowest_llm_calls",
            &key,
            "duration_ms",
            format!("{:.3}", c.duration_ms),
        );
        row(
            "slowest_llm_calls",
            &key,
            "model",
            c.model.clone().unwrap_or_default(),
        );
        row(
            "slowest_llm_calls",
            &key,
            "input_tokens",
            c.input_tokens.to_string(),
        );
    }
    for f in &stats.tool_failure_rates {
        row("tools", &f.tool, "calls", f.calls.to_string());
        row("tools", &f.tool, "errors", f.errors.to_string());
        row(
            "tools",
            &f.tool,
            "failure_rate",
            format!("{:.4}", f.failure_rate),
        );
        row(
            "tools",
            &f.tool,
            "avg_duration_ms",
            format!("{:.3}", f.avg_duration_ms),
        );
    }
    for e in &stats.common_errors {
        row("common_errors", &e.pattern, "count", e.count.to_string());
    }
    for n in &stats.slow_nodes {
        row(
            "slow_nodes",
            &n.node_id,
            "avg_duration_ms",
            format!("{:.3}", n.avg_duration_ms),
        );
        row(
            "slow_nodes",
            &n.node_id,
            "slow_sessions",
            n.slow_sessions.to_string(),
        );
    }
    for a in &stats.agents {
        row("agents", &a.agent, "sessions", a.sessions.to_string());
        row(
            "agents",
            &a.agent,
            "success_rate",
            format!("{:.4}", a.success_rate),
        );
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}
