//! Inefficiency detection: one rule per file, merged from attocode-py's 13
//! `InefficiencyDetector` rules, the attocode-ts viewer's 10 and
//! `/trace --analyze`'s 4 (seed-formats.md §1.5, §2.8), one rule per concept.
//! docs/analysis.md has a section per rule with its trigger, severity and
//! where it differs from the seed systems.
//!
//! Every rule reads the pre-extracted [`Facts`] (linear in the number of
//! events) and pushes [`Issue`]s; thresholds come from [`Thresholds`]
//! (defaults = the documented values, overridable from TOML).

use serde::{Deserialize, Serialize};

use crate::facts::Facts;
use crate::pricing::PriceTable;
use crate::{Issue, Session, Severity};

mod budget_warning_ignored;
mod cache_drop;
mod cache_inefficiency;
mod compaction_frequency;
mod context_limit_warning;
mod context_overflow;
mod doom_loop;
mod empty_response;
mod error_loop;
mod excessive_iterations;
pub(crate) mod incomplete_trace;
mod long_tool;
mod redundant_tool_calls;
mod slow_tool;
mod spinning;
mod subagent_inefficiency;
mod subagent_timeout;
mod swarm_cascade_failures;
mod swarm_excessive_conflicts;
mod thinking_overhead;
mod token_spike;
mod tool_error_rate;
mod tool_timeout_patterns;

/// Thresholds of every rule. `Default` holds the documented values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// spinning: more than this many consecutive iterations without a tool call.
    pub spinning_iterations: u32,
    /// doom_loop: identical tool + arguments this many times in a row.
    pub doom_loop_repeats: u32,
    /// redundant_tool_calls: identical tool + arguments this many times (medium).
    pub redundant_calls_medium: u32,
    /// redundant_tool_calls: … this many times (high).
    pub redundant_calls_high: u32,
    /// cache_drop: absolute hit-rate drop between consecutive calls.
    pub cache_drop: f64,
    /// cache_drop: previous rate above this …
    pub cache_invalidation_prev: f64,
    /// … and current below this also counts (attocode-ts "cache invalidation").
    pub cache_invalidation_cur: f64,
    /// cache_inefficiency: hit rate below this with more than `cache_high_min_iterations` → high.
    pub cache_high_rate: f64,
    /// See `cache_high_rate`.
    pub cache_high_min_iterations: u32,
    /// cache_inefficiency: hit rate below this with more than `cache_medium_min_iterations` → medium.
    pub cache_medium_rate: f64,
    /// See `cache_medium_rate`.
    pub cache_medium_min_iterations: u32,
    /// token_spike: a call above this multiple of the session mean …
    pub token_spike_mean_factor: f64,
    /// … when the session has at least this many calls.
    pub token_spike_min_calls: u32,
    /// token_spike: growth over the previous call above this fraction (2.0 = +200%) …
    pub token_spike_growth: f64,
    /// … and more than this many tokens.
    pub token_spike_min_tokens: u64,
    /// compaction_frequency: more than this many compactions …
    pub compaction_max_in_window: u32,
    /// … within this many iterations.
    pub compaction_window: u32,
    /// tool_error_rate: failure fraction above this …
    pub tool_error_rate: f64,
    /// … with at least this many calls.
    pub tool_error_min_calls: u32,
    /// long_tool: a single call longer than this.
    pub long_tool_ms: f64,
    /// slow_tool: mean duration above this (medium).
    pub slow_tool_medium_ms: f64,
    /// slow_tool: mean duration above this (high).
    pub slow_tool_high_ms: f64,
    /// budget_warning_ignored: iterations after the warning that are checked.
    pub budget_lookahead: u32,
    /// budget_warning_ignored: tool calls must drop below this fraction.
    pub budget_reduction: f64,
    /// swarm_cascade_failures: (failed + skipped) / started above this.
    pub swarm_cascade_ratio: f64,
    /// swarm_excessive_conflicts: conflicts per wave above this.
    pub swarm_conflicts_per_wave: f64,
    /// excessive_iterations: more than this (medium).
    pub excessive_iterations_medium: u32,
    /// excessive_iterations: more than this (high).
    pub excessive_iterations_high: u32,
    /// error_loop: this many consecutive iterations with a failed tool.
    pub error_loop_iterations: u32,
    /// thinking_overhead: reasoning share of output above this.
    pub thinking_overhead_ratio: f64,
    /// subagent_inefficiency: failures of one agent type (medium).
    pub subagent_type_failures_medium: u32,
    /// subagent_inefficiency: failures of one agent type (high).
    pub subagent_type_failures_high: u32,
    /// subagent_inefficiency: with at least this many subagents …
    pub subagent_min_count: u32,
    /// … more than this fraction failed → high.
    pub subagent_failure_ratio: f64,
    /// context_limit_warning: peak prompt above this fraction of the window (medium).
    pub context_limit_medium: f64,
    /// context_limit_warning: … (critical).
    pub context_limit_critical: f64,
    /// context_limit_warning: window used when the model's is unknown.
    pub default_context_window: u64,
    /// tool_timeout_patterns: timeouts of one tool (medium).
    pub tool_timeouts_medium: u32,
    /// tool_timeout_patterns: timeouts of one tool (high).
    pub tool_timeouts_high: u32,
    /// tool_timeout_patterns: overall, with at least this many calls …
    pub tool_timeout_min_calls: u32,
    /// … more than this fraction timing out → high.
    pub tool_timeout_ratio: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            spinning_iterations: 15,
            doom_loop_repeats: 3,
            redundant_calls_medium: 3,
            redundant_calls_high: 5,
            cache_drop: 0.5,
            cache_invalidation_prev: 0.6,
            cache_invalidation_cur: 0.2,
            cache_high_rate: 0.3,
            cache_high_min_iterations: 2,
            cache_medium_rate: 0.5,
            cache_medium_min_iterations: 3,
            token_spike_mean_factor: 2.0,
            token_spike_min_calls: 3,
            token_spike_growth: 2.0,
            token_spike_min_tokens: 10_000,
            compaction_max_in_window: 3,
            compaction_window: 20,
            tool_error_rate: 0.3,
            tool_error_min_calls: 3,
            long_tool_ms: 30_000.0,
            slow_tool_medium_ms: 5_000.0,
            slow_tool_high_ms: 10_000.0,
            budget_lookahead: 3,
            budget_reduction: 0.5,
            swarm_cascade_ratio: 0.3,
            swarm_conflicts_per_wave: 2.0,
            excessive_iterations_medium: 7,
            excessive_iterations_high: 10,
            error_loop_iterations: 3,
            thinking_overhead_ratio: 0.7,
            subagent_type_failures_medium: 2,
            subagent_type_failures_high: 3,
            subagent_min_count: 3,
            subagent_failure_ratio: 0.5,
            context_limit_medium: 0.7,
            context_limit_critical: 0.9,
            default_context_window: 200_000,
            tool_timeouts_medium: 2,
            tool_timeouts_high: 3,
            tool_timeout_min_calls: 10,
            tool_timeout_ratio: 0.2,
        }
    }
}

/// A thresholds file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid thresholds {origin}: {message}")]
pub struct ThresholdsError {
    /// File path or `<string>`.
    pub origin: String,
    /// What is wrong (with line and column for syntax errors).
    pub message: String,
}

impl Thresholds {
    /// Reads thresholds from TOML; missing keys keep their defaults, unknown keys are errors.
    pub fn from_toml_str(text: &str) -> Result<Self, ThresholdsError> {
        Self::from_toml_named(text, "<string>")
    }

    /// [`Thresholds::from_toml_str`] naming the file in errors.
    pub fn from_toml_named(text: &str, origin: &str) -> Result<Self, ThresholdsError> {
        let thresholds: Thresholds = toml::from_str(text).map_err(|e| ThresholdsError {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        // Counts, durations, rates and ratios: none is negative (a negative
        // one would trip its rule on every session).
        if let Ok(serde_json::Value::Object(values)) = serde_json::to_value(&thresholds) {
            if let Some((key, v)) = values
                .iter()
                .find(|(_, v)| v.as_f64().is_some_and(|n| n < 0.0 || n.is_nan()))
            {
                return Err(ThresholdsError {
                    origin: origin.to_owned(),
                    message: format!("`{key}` = {v}: a threshold cannot be negative"),
                });
            }
        }
        // Repeats: "called once in a row" is no loop, a window of none is none.
        for (key, value, min) in [
            ("doom_loop_repeats", thresholds.doom_loop_repeats, 2),
            (
                "redundant_calls_medium",
                thresholds.redundant_calls_medium,
                2,
            ),
            ("redundant_calls_high", thresholds.redundant_calls_high, 2),
            ("error_loop_iterations", thresholds.error_loop_iterations, 1),
            ("compaction_window", thresholds.compaction_window, 1),
            ("budget_lookahead", thresholds.budget_lookahead, 1),
        ] {
            if value < min {
                return Err(ThresholdsError {
                    origin: origin.to_owned(),
                    message: format!("`{key}` = {value}: must be at least {min}"),
                });
            }
        }
        // Fractions of a whole cannot exceed it (a rule would never trip).
        for (key, value) in [
            ("tool_error_rate", thresholds.tool_error_rate),
            ("cache_high_rate", thresholds.cache_high_rate),
            ("cache_medium_rate", thresholds.cache_medium_rate),
            (
                "cache_invalidation_prev",
                thresholds.cache_invalidation_prev,
            ),
            ("cache_invalidation_cur", thresholds.cache_invalidation_cur),
            ("subagent_failure_ratio", thresholds.subagent_failure_ratio),
        ] {
            if value > 1.0 {
                return Err(ThresholdsError {
                    origin: origin.to_owned(),
                    message: format!("`{key}` = {value}: a fraction, at most 1"),
                });
            }
        }
        // A high level below its medium one would make every medium finding high.
        for (high, h, medium, m) in [
            (
                "excessive_iterations_high",
                thresholds.excessive_iterations_high,
                "excessive_iterations_medium",
                thresholds.excessive_iterations_medium,
            ),
            (
                "redundant_calls_high",
                thresholds.redundant_calls_high,
                "redundant_calls_medium",
                thresholds.redundant_calls_medium,
            ),
            (
                "tool_timeouts_high",
                thresholds.tool_timeouts_high,
                "tool_timeouts_medium",
                thresholds.tool_timeouts_medium,
            ),
        ] {
            if h < m {
                return Err(ThresholdsError {
                    origin: origin.to_owned(),
                    message: format!("`{high}` = {h} is below `{medium}` = {m}"),
                });
            }
        }
        Ok(thresholds)
    }
}

/// What a rule sees.
pub(crate) struct Ctx<'a> {
    pub(crate) facts: &'a Facts<'a>,
    pub(crate) t: &'a Thresholds,
    pub(crate) prices: &'a PriceTable,
}

type Rule = fn(&Ctx<'_>, &mut Vec<Issue>);

/// Every rule, in reporting order (before sorting by severity).
const RULES: &[(&str, Rule)] = &[
    ("excessive_iterations", excessive_iterations::check),
    ("spinning", spinning::check),
    ("doom_loop", doom_loop::check),
    ("redundant_tool_calls", redundant_tool_calls::check),
    ("error_loop", error_loop::check),
    ("cache_drop", cache_drop::check),
    ("cache_inefficiency", cache_inefficiency::check),
    ("token_spike", token_spike::check),
    ("compaction_frequency", compaction_frequency::check),
    ("empty_response", empty_response::check),
    ("tool_error_rate", tool_error_rate::check),
    ("long_tool", long_tool::check),
    ("slow_tool", slow_tool::check),
    ("tool_timeout_patterns", tool_timeout_patterns::check),
    ("context_overflow", context_overflow::check),
    ("context_limit_warning", context_limit_warning::check),
    ("budget_warning_ignored", budget_warning_ignored::check),
    ("thinking_overhead", thinking_overhead::check),
    ("subagent_timeout", subagent_timeout::check),
    ("subagent_inefficiency", subagent_inefficiency::check),
    ("swarm_cascade_failures", swarm_cascade_failures::check),
    (
        "swarm_excessive_conflicts",
        swarm_excessive_conflicts::check,
    ),
    (incomplete_trace::CATEGORY, incomplete_trace::check),
];

/// The category names of every rule.
pub fn rule_categories() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|(name, _)| *name)
}

/// Runs every rule on a session.
pub fn detect(session: &Session, thresholds: &Thresholds, prices: &PriceTable) -> Vec<Issue> {
    let facts = Facts::build(session, prices);
    run_all(&facts, thresholds, prices)
}

/// Rules that report something missing (tool calls, a reaction), unsure
/// when the trace itself is missing events.
const ABSENCE_BASED: &[&str] = &["spinning", "budget_warning_ignored"];

pub(crate) fn run_all(facts: &Facts<'_>, t: &Thresholds, prices: &PriceTable) -> Vec<Issue> {
    let cx = Ctx { facts, t, prices };
    let mut out = Vec::new();
    for (_, rule) in RULES {
        rule(&cx, &mut out);
    }
    // A finding that rests on events *not* being there (no tool call in 50
    // iterations) cannot be trusted when the recorder says events are
    // missing: a full disk keeps short lines and loses long ones, and the
    // lost tool calls read as spinning. Said, and made low.
    if out.iter().any(|i| i.category == incomplete_trace::CATEGORY) {
        for i in out
            .iter_mut()
            .filter(|i| ABSENCE_BASED.contains(&i.category.as_str()))
        {
            i.severity = Severity::Low;
            i.description.push_str(
                " The trace is missing events (see incomplete_trace): the calls this finding misses may be among them.",
            );
        }
    }
    // Most severe first; stable, so rule order breaks ties.
    out.sort_by_key(|i| std::cmp::Reverse(i.severity));
    out
}

/// Builds an issue.
pub(crate) fn issue(
    category: &str,
    severity: Severity,
    title: String,
    description: String,
    iteration: Option<u32>,
    evidence: Vec<String>,
    suggestion: String,
) -> Issue {
    Issue {
        category: category.to_owned(),
        severity,
        title,
        description,
        iteration,
        evidence,
        suggestion,
    }
}

/// Percent with no decimals.
pub(crate) fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// English ordinal: 1 → "1st", 3 → "3rd", 12 → "12th", 22 → "22nd".
pub(crate) fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `n` and `noun`, with an `s` unless `n` is 1: "1 call", "2 calls".
pub(crate) fn count_of(n: u32, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Thousands separators: 30900 → "30,900".
pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        // `is_multiple_of` needs Rust 1.87; the workspace supports 1.80.
        #[allow(clippy::manual_is_multiple_of)]
        let group_boundary = (s.len() - i) % 3 == 0;
        if i > 0 && group_boundary {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1.5s`, `450ms`.
pub(crate) fn secs(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.1}s", ms / 1000.0)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::testing::Trace;

    /// Runs one rule on a trace with default thresholds.
    pub(crate) fn run(rule: Rule, trace: &Trace) -> Vec<Issue> {
        run_with(rule, trace, &Thresholds::default())
    }

    /// Runs one rule with custom thresholds.
    pub(crate) fn run_with(rule: Rule, trace: &Trace, t: &Thresholds) -> Vec<Issue> {
        let s = trace.session();
        let prices = PriceTable::builtin();
        let facts = Facts::build(&s, &prices);
        let cx = Ctx {
            facts: &facts,
            t,
            prices: &prices,
        };
        let mut out = Vec::new();
        rule(&cx, &mut out);
        for i in &out {
            assert!(!i.title.is_empty() && !i.description.is_empty() && !i.suggestion.is_empty());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spinning_is_unsure_on_a_trace_missing_events() {
        use crate::testing::Trace;
        use loupe_model::{keys, EventKind};
        let mut t = Trace::new();
        for i in 1..=17 {
            t.iter(i).llm(1000, 50, 0, 0);
        }
        let facts_of = |t: &Trace| {
            let session = t.session();
            let prices = PriceTable::empty();
            let issues = run_all(
                &Facts::build(&session, &prices),
                &Thresholds::default(),
                &prices,
            );
            issues
                .into_iter()
                .find(|i| i.category == "spinning")
                .unwrap()
        };
        assert_eq!(facts_of(&t).severity, Severity::High);
        t.push(EventKind::Dropped, &[(keys::DROPPED, 500.into())]);
        let spinning = facts_of(&t);
        assert_eq!(spinning.severity, Severity::Low);
        assert!(spinning.description.contains("missing events"));
    }

    #[test]
    fn thresholds_toml_overrides_some_keys_and_rejects_unknown_ones() {
        let t =
            Thresholds::from_toml_str("doom_loop_repeats = 5\nlong_tool_ms = 1000.0\n").unwrap();
        assert_eq!(t.doom_loop_repeats, 5);
        assert_eq!(t.long_tool_ms, 1000.0);
        assert_eq!(t.spinning_iterations, 15);
        let e = Thresholds::from_toml_named("doom_loop = 5\n", "t.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("t.toml") && e.contains("doom_loop"), "{e}");
        for negative in ["tool_error_rate = -1.0\n", "slow_tool_medium_ms = -5.0\n"] {
            let e = Thresholds::from_toml_named(negative, "t.toml")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("t.toml") && e.contains("cannot be negative"),
                "{e}"
            );
        }
        for (too_few, says) in [
            (
                "doom_loop_repeats = 0\n",
                "`doom_loop_repeats` = 0: must be at least 2",
            ),
            ("doom_loop_repeats = 1\n", "must be at least 2"),
            ("redundant_calls_high = 1\n", "`redundant_calls_high` = 1"),
            (
                "compaction_window = 0\n",
                "`compaction_window` = 0: must be at least 1",
            ),
            ("budget_lookahead = 0\n", "`budget_lookahead` = 0"),
            ("tool_error_rate = 1.5\n", "a fraction, at most 1"),
            (
                "excessive_iterations_high = 3\n",
                "`excessive_iterations_high` = 3 is below",
            ),
        ] {
            let e = Thresholds::from_toml_named(too_few, "t.toml")
                .unwrap_err()
                .to_string();
            assert!(e.contains("t.toml") && e.contains(says), "{e}");
        }
        assert!(Thresholds::from_toml_str("doom_loop_repeats = 2\n").is_ok());
    }

    #[test]
    fn categories_are_unique_and_cover_all_three_seed_rule_sets() {
        let cats: Vec<&str> = rule_categories().collect();
        let set: std::collections::HashSet<&str> = cats.iter().copied().collect();
        assert_eq!(set.len(), cats.len());
        for c in [
            "spinning",
            "doom_loop",
            "cache_drop",
            "token_spike",
            "compaction_frequency",
            "empty_response",
            "tool_error_rate",
            "long_tool",
            "context_overflow",
            "budget_warning_ignored",
            "subagent_timeout",
            "swarm_cascade_failures",
            "swarm_excessive_conflicts",
            "excessive_iterations",
            "cache_inefficiency",
            "redundant_tool_calls",
            "error_loop",
            "slow_tool",
            "thinking_overhead",
            "subagent_inefficiency",
            "context_limit_warning",
            "tool_timeout_patterns",
        ] {
            assert!(set.contains(c), "{c}");
        }
    }

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(30900), "30,900");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(secs(450.0), "450ms");
        assert_eq!(secs(45_000.0), "45.0s");
    }
}
