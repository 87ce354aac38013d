//! `loupe compare` output: a metric table with direction and regression
//! markers, tool and node slowdowns, regressions/improvements and the
//! verdict — as text or JSON.
//!
//! JSON: the analysis crate's `Comparison` (keys `a_runs`, `b_runs`,
//! `metrics[] {name,a,b,delta,percent_change,direction,regression,p_value}`,
//! `tool_slowdowns[]`, `node_slowdowns[]`, `regressions[]`, `improvements[]`,
//! `assessment`, `regressed`, `unpriced_models[]`) plus `a` and `b`:
//! `{ "label", "sessions": [id] }`.

use std::fmt::Write as _;

use loupe_analyze::{Assessment, Comparison, Direction, Slowdown};
use serde::Serialize;

use crate::terminal::{Align, Painter, Table};
use crate::text::{human_duration_ms, one_line, short_name, thousands};

/// One side of a comparison as the user named it.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    /// What the user passed (path or session id).
    pub label: String,
    /// The session ids it resolved to.
    pub sessions: Vec<String>,
}

#[derive(Serialize)]
struct CompareJson<'a> {
    a: &'a Side,
    b: &'a Side,
    #[serde(flatten)]
    comparison: &'a Comparison,
}

/// The comparison as one pretty JSON document with a trailing newline.
pub fn json(a: &Side, b: &Side, c: &Comparison) -> String {
    let mut s = serde_json::to_string_pretty(&CompareJson {
        a,
        b,
        comparison: c,
    })
    .unwrap_or_default();
    s.push('\n');
    s
}

/// A compared metric's value as `loupe compare` shows it (`64.8`, `$0.1801`,
/// `27.6s`, `100%`); the TUI's compare pane shows the same.
pub fn value(name: &str, v: f64) -> String {
    if !v.is_finite() {
        return "-".to_owned();
    }
    match name {
        "cache_hit_rate" => format!("{:.1}%", v * 100.0),
        "success_rate" => format!("{:.0}%", v * 100.0),
        "cost_usd" => format!("${v:.4}"),
        "duration_ms" => human_duration_ms(v),
        "efficiency_score" => format!("{v:.1}"),
        // Counts, or a group's median between two counts (`100,034.5`).
        _ if v.abs() < 1e14 => {
            let tenths_total = (v.abs() * 10.0).round() as u64;
            let (whole, tenths) = (thousands(tenths_total / 10), tenths_total % 10);
            let sign = if v < 0.0 { "-" } else { "" };
            if tenths == 0 {
                format!("{sign}{whole}")
            } else {
                format!("{sign}{whole}.{tenths}")
            }
        }
        _ => format!("{v:.2}"),
    }
}

/// A compared metric's change `B − A` with its sign, as `loupe compare`
/// shows it (`+7.7`, `-$0.1756`, `+12.5 pp`).
pub fn signed(name: &str, delta: f64) -> String {
    // A change of a rate is in percentage points, not a percentage of it.
    if name == "cache_hit_rate" && delta.is_finite() {
        return format!("{:+.1} pp", delta * 100.0);
    }
    if name == "success_rate" && delta.is_finite() {
        return format!("{:+.0} pp", delta * 100.0);
    }
    let s = value(name, delta.abs());
    if delta > 0.0 {
        format!("+{s}")
    } else if delta < 0.0 {
        format!("-{s}")
    } else {
        s
    }
}

/// The comparison as text.
pub fn text(a: &Side, b: &Side, c: &Comparison, color: bool) -> String {
    let p = Painter::new(color);
    let mut out = String::new();
    let runs = |n: usize| {
        if n == 1 {
            "1 run".to_owned()
        } else {
            format!("{n} runs")
        }
    };
    let _ = writeln!(
        out,
        "{} A: {} ({})",
        p.bold("Compare"),
        one_line(&a.label, 120),
        runs(c.a_runs)
    );
    let _ = writeln!(
        out,
        "        B: {} ({})\n",
        one_line(&b.label, 120),
        runs(c.b_runs)
    );
    let groups = c.metrics.iter().any(|m| m.p_value.is_some());
    let mut cols = vec![
        ("Metric", Align::Left),
        ("A", Align::Right),
        ("B", Align::Right),
        ("Δ", Align::Right),
        ("%", Align::Right),
        ("", Align::Left),
    ];
    if groups {
        cols.push(("p", Align::Right));
    }
    let mut table = Table::new(&cols);
    for m in &c.metrics {
        let mark = match (m.regression, m.direction) {
            (true, _) => p.bad("✗ regression"),
            (false, Direction::Worse) => p.fg(anstyle::AnsiColor::Yellow, "worse"),
            (false, Direction::Better) => p.ok("better"),
            (false, Direction::Same) => p.dim("same"),
        };
        let mut row = vec![
            m.name.clone(),
            value(&m.name, m.a),
            value(&m.name, m.b),
            signed(&m.name, m.delta),
            m.percent_change
                .map(|v| format!("{v:+.1}%"))
                .unwrap_or_else(|| "-".into()),
            mark,
        ];
        if groups {
            row.push(m.p_value.map(|v| format!("{v:.3}")).unwrap_or_default());
        }
        table.row(row);
    }
    out.push_str(&table.render(2, p));
    if !c.unpriced_models.is_empty() {
        let names: Vec<String> = c
            .unpriced_models
            .iter()
            .map(|m| short_name(m, 60))
            .collect();
        let _ = writeln!(
            out,
            "  {}",
            p.dim(&format!(
                "cost_usd leaves out runs using a model with no price ({}): their cost is unknown (--prices FILE adds prices)",
                names.join(", ")
            ))
        );
    }
    slowdowns(&mut out, "Tool slowdowns", &c.tool_slowdowns, p);
    slowdowns(&mut out, "Node slowdowns", &c.node_slowdowns, p);
    if !c.regressions.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Regressions"));
        for r in &c.regressions {
            let _ = writeln!(out, "  {} {}", p.bad("✗"), one_line(r, 200));
        }
    }
    if !c.improvements.is_empty() {
        let _ = writeln!(out, "\n{}", p.bold("Improvements"));
        for r in &c.improvements {
            let _ = writeln!(out, "  {} {}", p.ok("✓"), one_line(r, 200));
        }
    }
    let verdict = match c.assessment {
        Assessment::Regressed => p.bad("REGRESSED"),
        Assessment::Improved => p.ok("IMPROVED"),
        Assessment::Mixed => p.fg(anstyle::AnsiColor::Yellow, "MIXED"),
        Assessment::Similar => p.dim("SIMILAR"),
    };
    let _ = writeln!(out, "\nAssessment: {verdict}");
    out
}

fn slowdowns(out: &mut String, title: &str, list: &[Slowdown], p: Painter) {
    if list.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", p.bold(title));
    let mut table = Table::new(&[
        ("Name", Align::Left),
        ("A avg", Align::Right),
        ("B avg", Align::Right),
        ("Δ", Align::Right),
        ("%", Align::Right),
    ]);
    for s in list {
        table.row(vec![
            short_name(&s.name, 60),
            human_duration_ms(s.a_avg_ms),
            human_duration_ms(s.b_avg_ms),
            format!("+{}", human_duration_ms(s.delta_ms.max(0.0))),
            s.percent_change
                .map(|v| format!("{v:+.1}%"))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    out.push_str(&table.render(2, p));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_group_medians_between_counts_keep_their_separators() {
        assert_eq!(value("total_tokens", 90_586.0), "90,586");
        assert_eq!(value("total_tokens", 100_034.5), "100,034.5");
        assert_eq!(value("iterations", 6.96), "7");
        assert_eq!(value("total_tokens", -9_448.5), "-9,448.5");
    }
}
