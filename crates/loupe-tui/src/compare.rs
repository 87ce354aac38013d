//! The compare pane's rows: attocode's twelve (seed-formats.md §2.10) plus
//! the outcome, with deltas and a verdict per row.
//!
//! The metrics `loupe compare` judges (outcome, duration, iterations,
//! tokens, cost, tool calls, errors, efficiency, cache rate) are taken from
//! `loupe_analyze::compare_sessions`, values and directions alike, and
//! shown as `loupe compare` shows them, so the pane and the command never
//! disagree. A value a trace does not report (no cache counts, no usage, an
//! unpriced model, no end) is shown as such and judged neither way, as
//! `loupe compare` leaves it out. The pane's other rows (LLM calls,
//! compactions, per-iteration averages) are judged by their numbers: lower
//! is better.

use loupe_analyze::{
    compare_sessions, compared_value, Assessment, CompareConfig, Comparison, Direction,
    SessionAnalysis,
};
use loupe_report::compare::{signed, value};

/// Which session a row favours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A's value is better.
    ABetter,
    /// B's value is better.
    BBetter,
    /// Equal.
    Same,
    /// A value is unknown on one side or both: not judged.
    Unknown,
}

impl Verdict {
    /// Text shown in the pane.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::ABetter => "A better",
            Verdict::BBetter => "B better",
            Verdict::Same => "same",
            Verdict::Unknown => "—",
        }
    }

    /// B is the candidate: a metric that moved the good way favours B.
    fn of(direction: Direction) -> Verdict {
        match direction {
            Direction::Better => Verdict::BBetter,
            Direction::Worse => Verdict::ABetter,
            Direction::Same => Verdict::Same,
        }
    }
}

/// One metric of A vs B.
#[derive(Clone, Debug, PartialEq)]
pub struct CompareRow {
    /// Metric name.
    pub label: &'static str,
    /// A's value, `None` when unknown.
    pub a: Option<f64>,
    /// B's value, `None` when unknown.
    pub b: Option<f64>,
    /// Which is better.
    pub verdict: Verdict,
    /// `(B − A) / A × 100` when both are known and A is not 0.
    pub percent_change: Option<f64>,
    /// How values are written: a `loupe compare` metric name.
    format_as: &'static str,
    /// Text of an unknown A and B.
    unknown: (&'static str, &'static str),
    /// For the outcome row: each side's status.
    status: Option<(&'static str, &'static str)>,
}

impl CompareRow {
    fn text(&self, v: Option<f64>, unknown: &'static str) -> String {
        match v {
            Some(v) => value(self.format_as, v),
            None => unknown.to_owned(),
        }
    }

    /// A's value, formatted.
    pub fn a_text(&self) -> String {
        match self.status {
            Some((a, _)) => a.to_owned(),
            None => self.text(self.a, self.unknown.0),
        }
    }

    /// B's value, formatted.
    pub fn b_text(&self) -> String {
        match self.status {
            Some((_, b)) => b.to_owned(),
            None => self.text(self.b, self.unknown.1),
        }
    }

    /// `B − A`, formatted with a sign, plus the percent change when A is not
    /// 0; `—` when either is unknown.
    pub fn delta_text(&self) -> String {
        let (Some(a), Some(b)) = (self.a, self.b) else {
            return "—".to_owned();
        };
        if self.status.is_some() {
            // completed → failed says it; "-100 pp" of one run says no more.
            return String::new();
        }
        let mut text = signed(self.format_as, b - a);
        if let Some(p) = self
            .percent_change
            .filter(|_| self.format_as != "cache_hit_rate")
        {
            text.push_str(&format!(" ({p:+.0}%)"));
        }
        text
    }
}

/// The compare pane: its rows and `loupe compare`'s verdict.
#[derive(Clone, Debug)]
pub struct ComparePane {
    /// The rows in display order.
    pub rows: Vec<CompareRow>,
    /// What `loupe compare A B` finds for the same two sessions.
    pub comparison: Comparison,
}

impl ComparePane {
    /// Rows favouring A, favouring B, and not judged (a value unknown).
    pub fn tally(&self) -> (usize, usize, usize) {
        let count = |v: Verdict| self.rows.iter().filter(|r| r.verdict == v).count();
        (
            count(Verdict::ABetter),
            count(Verdict::BBetter),
            count(Verdict::Unknown),
        )
    }

    /// `loupe compare`'s assessment with its counts:
    /// `MIXED: 1 regression, 6 improvements`.
    pub fn assessment_text(&self) -> String {
        let word = match self.comparison.assessment {
            Assessment::Regressed => "REGRESSED",
            Assessment::Improved => "IMPROVED",
            Assessment::Mixed => "MIXED",
            Assessment::Similar => "SIMILAR",
        };
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        format!(
            "{word}: {}, {}",
            plural(
                self.comparison.regressions.len(),
                "regression",
                "regressions"
            ),
            plural(
                self.comparison.improvements.len(),
                "improvement",
                "improvements"
            )
        )
    }
}

/// Compares `a` (baseline) with `b` (candidate).
pub fn compare_pane(a: &SessionAnalysis, b: &SessionAnalysis) -> ComparePane {
    let comparison = compare_sessions(a, b, &CompareConfig::default());
    let judged = |name: &'static str, label: &'static str, unknown: &'static str| {
        let (a_value, b_value) = (compared_value(a, name), compared_value(b, name));
        let delta = comparison.metrics.iter().find(|m| m.name == name);
        CompareRow {
            label,
            // The comparison's own values where it compared them.
            a: delta.map(|m| m.a).or(a_value),
            b: delta.map(|m| m.b).or(b_value),
            verdict: delta.map_or(Verdict::Unknown, |m| Verdict::of(m.direction)),
            percent_change: delta.and_then(|m| m.percent_change),
            format_as: name,
            unknown: (
                unknown_word(a, name, unknown),
                unknown_word(b, name, unknown),
            ),
            status: None,
        }
    };
    let mut outcome = judged("success_rate", "Outcome", "—");
    outcome.status = Some((a.status.as_str(), b.status.as_str()));
    let tokens = |s: &SessionAnalysis| compared_value(s, "total_tokens");
    let cost = |s: &SessionAnalysis| compared_value(s, "cost_usd");
    let count = |get: fn(&SessionAnalysis) -> u64| move |s: &SessionAnalysis| Some(get(s) as f64);
    let rows = vec![
        outcome,
        judged("duration_ms", "Duration", "—"),
        judged("iterations", "Iterations", "—"),
        judged("total_tokens", "Total Tokens", "unreported"),
        judged("cost_usd", "Total Cost", "unreported"),
        judged("tool_calls", "Tool Calls", "—"),
        own_row(
            "LLM Calls",
            "count",
            "—",
            a,
            b,
            &count(|s| s.metrics.llm_calls),
        ),
        judged("errors", "Errors", "—"),
        own_row(
            "Compactions",
            "count",
            "—",
            a,
            b,
            &count(|s| s.metrics.compactions),
        ),
        judged("efficiency_score", "Efficiency", "—"),
        judged("cache_hit_rate", "Cache Rate", "unreported"),
        own_row("Avg Tok/Iter", "count", "unreported", a, b, &|s| {
            per_iteration(s, tokens(s)?)
        }),
        own_row("Avg Cost/Iter", "cost_usd", "unreported", a, b, &|s| {
            per_iteration(s, cost(s)?)
        }),
    ];
    ComparePane { rows, comparison }
}

/// Why a value is unknown: a cost of a run using a model with no price is
/// `unpriced`, not unreported.
fn unknown_word(s: &SessionAnalysis, name: &str, unknown: &'static str) -> &'static str {
    if name == "cost_usd" && !s.metrics.unpriced_models.is_empty() {
        "unpriced"
    } else {
        unknown
    }
}

fn per_iteration(s: &SessionAnalysis, v: f64) -> Option<f64> {
    (s.metrics.iterations > 0).then(|| v / s.metrics.iterations as f64)
}

/// A row `loupe compare` does not judge: lower is better.
fn own_row(
    label: &'static str,
    format_as: &'static str,
    unknown: &'static str,
    a: &SessionAnalysis,
    b: &SessionAnalysis,
    get: &dyn Fn(&SessionAnalysis) -> Option<f64>,
) -> CompareRow {
    let unknown_of = |s: &SessionAnalysis| {
        if format_as == "cost_usd" {
            unknown_word(s, "cost_usd", unknown)
        } else {
            unknown
        }
    };
    let (va, vb) = (get(a), get(b));
    let verdict = match (va, vb) {
        (Some(x), Some(y)) if x == y => Verdict::Same,
        (Some(x), Some(y)) if x < y => Verdict::ABetter,
        (Some(_), Some(_)) => Verdict::BBetter,
        _ => Verdict::Unknown,
    };
    CompareRow {
        label,
        a: va,
        b: vb,
        verdict,
        percent_change: match (va, vb) {
            (Some(x), Some(y)) if x != 0.0 => Some((y - x) / x.abs() * 100.0),
            _ => None,
        },
        format_as,
        unknown: (unknown_of(a), unknown_of(b)),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Synthetic;

    fn row<'a>(pane: &'a ComparePane, label: &str) -> &'a CompareRow {
        pane.rows.iter().find(|r| r.label == label).unwrap()
    }

    #[test]
    fn verdicts_follow_the_direction_of_each_metric() {
        let mut small = Synthetic::new("small", 2);
        small.fail_every = 2;
        let big = Synthetic::new("big", 6);
        let pane = compare_pane(&small.analysis(), &big.analysis());
        let iterations = row(&pane, "Iterations");
        assert_eq!(iterations.verdict, Verdict::ABetter);
        assert_eq!(iterations.delta_text(), "+4 (+200%)");
        let errors = row(&pane, "Errors");
        assert_eq!(errors.verdict, Verdict::BBetter);
        assert_eq!(errors.delta_text(), "-2 (-100%)");
        let compactions = row(&pane, "Compactions");
        assert_eq!(compactions.verdict, Verdict::Same);
        let rate = row(&pane, "Cache Rate");
        assert_eq!(rate.a_text(), "50.0%");
        assert_eq!(rate.delta_text(), "+0.0 pp");
        // Every judged row says what `loupe compare` says.
        for m in &pane.comparison.metrics {
            let shown = pane.rows.iter().find(|r| r.format_as == m.name).unwrap();
            assert_eq!(shown.verdict, Verdict::of(m.direction), "{}", m.name);
            assert_eq!((shown.a, shown.b), (Some(m.a), Some(m.b)), "{}", m.name);
        }
    }
}
