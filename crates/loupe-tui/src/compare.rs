//! The compare pane's rows: attocode's twelve (seed-formats.md §2.10) with
//! deltas and a verdict per row.
//!
//! Unlike attocode, whose Tool Calls row always says "A better", every row
//! is judged by its numbers: lower is better except Efficiency and Cache Rate.

use loupe_analyze::SessionAnalysis;
use loupe_report::{human_duration_ms, human_tokens};

/// Which session a row favours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A's value is better.
    ABetter,
    /// B's value is better.
    BBetter,
    /// Equal.
    Same,
}

impl Verdict {
    /// Text shown in the pane.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::ABetter => "A better",
            Verdict::BBetter => "B better",
            Verdict::Same => "same",
        }
    }
}

/// How a compare value is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    Count,
    Tokens,
    Usd,
    Millis,
    Percent,
    Score,
}

/// One metric of A vs B.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    /// Metric name.
    pub label: &'static str,
    /// A's value.
    pub a: f64,
    /// B's value.
    pub b: f64,
    /// Which is better.
    pub verdict: Verdict,
    unit: Unit,
}

impl CompareRow {
    fn new(label: &'static str, a: f64, b: f64, unit: Unit, higher_is_better: bool) -> Self {
        let verdict = if (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()).max(1.0) {
            Verdict::Same
        } else if (a > b) == higher_is_better {
            Verdict::ABetter
        } else {
            Verdict::BBetter
        };
        CompareRow {
            label,
            a,
            b,
            verdict,
            unit,
        }
    }

    fn format(&self, v: f64) -> String {
        match self.unit {
            Unit::Count => format!("{}", v.round() as i64),
            Unit::Tokens => {
                let sign = if v < 0.0 { "-" } else { "" };
                format!("{sign}{}", human_tokens(v.abs().round() as u64))
            }
            Unit::Usd => format!("${v:.4}"),
            Unit::Millis => {
                let sign = if v < 0.0 { "-" } else { "" };
                format!("{sign}{}", human_duration_ms(v.abs()))
            }
            Unit::Percent => format!("{:.1}%", v * 100.0),
            Unit::Score => format!("{v:.0}"),
        }
    }

    /// A's value, formatted.
    pub fn a_text(&self) -> String {
        self.format(self.a)
    }

    /// B's value, formatted.
    pub fn b_text(&self) -> String {
        self.format(self.b)
    }

    /// `B − A`, formatted with a sign, plus the percent change when A is not 0.
    pub fn delta_text(&self) -> String {
        let delta = self.b - self.a;
        let sign = if delta > 0.0 { "+" } else { "" };
        let mut text = match self.unit {
            Unit::Percent => format!("{sign}{:.1}pp", delta * 100.0),
            _ => format!("{sign}{}", self.format(delta)),
        };
        if self.a != 0.0 && self.unit != Unit::Percent {
            text.push_str(&format!(" ({sign}{:.0}%)", delta / self.a.abs() * 100.0));
        }
        text
    }
}

/// The twelve rows comparing `a` and `b`.
pub fn compare_rows(a: &SessionAnalysis, b: &SessionAnalysis) -> Vec<CompareRow> {
    let per_iter = |s: &SessionAnalysis, v: f64| {
        if s.metrics.iterations == 0 {
            0.0
        } else {
            v / s.metrics.iterations as f64
        }
    };
    let tokens = |s: &SessionAnalysis| s.metrics.tokens.total() as f64;
    let row = |label, get: &dyn Fn(&SessionAnalysis) -> f64, unit, higher| {
        CompareRow::new(label, get(a), get(b), unit, higher)
    };
    vec![
        row(
            "Duration",
            &|s| s.duration_ms.unwrap_or(0.0),
            Unit::Millis,
            false,
        ),
        row(
            "Iterations",
            &|s| s.metrics.iterations as f64,
            Unit::Count,
            false,
        ),
        row("Total Tokens", &tokens, Unit::Tokens, false),
        row("Total Cost", &|s| s.metrics.cost_usd, Unit::Usd, false),
        row(
            "Tool Calls",
            &|s| s.metrics.tool_calls as f64,
            Unit::Count,
            false,
        ),
        row(
            "LLM Calls",
            &|s| s.metrics.llm_calls as f64,
            Unit::Count,
            false,
        ),
        row("Errors", &|s| s.metrics.errors as f64, Unit::Count, false),
        row(
            "Compactions",
            &|s| s.metrics.compactions as f64,
            Unit::Count,
            false,
        ),
        row("Efficiency", &|s| s.efficiency_score, Unit::Score, true),
        row(
            "Cache Rate",
            &|s| s.metrics.cache_hit_rate,
            Unit::Percent,
            true,
        ),
        row(
            "Avg Tok/Iter",
            &|s| per_iter(s, tokens(s)),
            Unit::Tokens,
            false,
        ),
        row(
            "Avg Cost/Iter",
            &|s| per_iter(s, s.metrics.cost_usd),
            Unit::Usd,
            false,
        ),
    ]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn verdicts_follow_the_direction_of_each_metric() {
        let lower = CompareRow::new("Errors", 3.0, 1.0, Unit::Count, false);
        assert_eq!(lower.verdict, Verdict::BBetter);
        assert_eq!(lower.delta_text(), "-2 (-67%)");
        let higher = CompareRow::new("Efficiency", 80.0, 60.0, Unit::Score, true);
        assert_eq!(higher.verdict, Verdict::ABetter);
        let same = CompareRow::new("Tool Calls", 4.0, 4.0, Unit::Count, false);
        assert_eq!(same.verdict, Verdict::Same);
        let rate = CompareRow::new("Cache Rate", 0.5, 0.75, Unit::Percent, true);
        assert_eq!(rate.delta_text(), "+25.0pp");
        assert_eq!(rate.verdict, Verdict::BBetter);
    }
}
