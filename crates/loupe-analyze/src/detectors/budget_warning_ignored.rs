//! `budget_warning_ignored` (attocode-py): a `budget_warning` at iteration w
//! where w had tool calls, and in the next `budget_lookahead` (3) iterations
//! there was no `mode_change` and no iteration with fewer than
//! `budget_reduction` (half) of w's tool calls (a missing iteration counts as
//! 0 calls, i.e. as a change). Medium.
//!
//! A warning given in an iteration without tool calls: attocode-py flags it
//! unless a mode change follows (no later count is "fewer than 0"), even when
//! the agent stays text-only. Loupe flags it when one of the next
//! `budget_lookahead` iterations uses tools and no mode change follows (the
//! agent went back to tools), and not when they all stay tool-free (it
//! already stopped using tools).

use crate::{HashMap, HashSet};

use loupe_model::EventKind;

use crate::{Issue, Severity};

use super::{issue, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let f = cx.facts;
    let mut tools_per_it: HashMap<u32, u32> = HashMap::default();
    for t in f.tools.iter().filter(|t| t.agent.is_none()) {
        if let Some(i) = t.iteration {
            *tools_per_it.entry(i).or_default() += 1;
        }
    }
    let mode_changes: HashSet<u32> = f
        .session
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ModeChange)
        .filter_map(|e| e.iteration)
        .collect();
    for e in f
        .session
        .events
        .iter()
        .filter(|e| e.kind == EventKind::BudgetWarning && !e.is_subagent())
    {
        let Some(w) = e.iteration else { continue };
        let base = tools_per_it.get(&w).copied().unwrap_or(0);
        let ahead = 1..=cx.t.budget_lookahead;
        let tools_at = |d: u32| tools_per_it.get(&w.saturating_add(d)).copied().unwrap_or(0);
        let mode_changed = ahead
            .clone()
            .any(|d| mode_changes.contains(&w.saturating_add(d)));
        let ignored = if base == 0 {
            // Already tool-free: ignored only if tool use comes back.
            ahead.clone().any(|d| tools_at(d) > 0)
        } else {
            ahead
                .clone()
                .all(|d| f64::from(tools_at(d)) >= cx.t.budget_reduction * f64::from(base))
        };
        if mode_changed || !ignored {
            continue;
        }
        let counts: Vec<String> = ahead
            .map(|d| {
                tools_per_it
                    .get(&w.saturating_add(d))
                    .copied()
                    .unwrap_or(0)
                    .to_string()
            })
            .collect();
        let fraction = e.f64(loupe_model::keys::USAGE_FRACTION);
        let used = fraction
            .map(|u| format!(" ({:.0}% used)", u * 100.0))
            .unwrap_or_default();
        let what_followed = if base == 0 {
            "was followed by a return to tool calls without a mode change"
        } else {
            "was not followed by fewer tool calls or a mode change"
        };
        let when = fraction
            .map(|u| {
                format!(
                    "once the budget passes {:.0}%, where this warning fired",
                    u * 100.0
                )
            })
            .unwrap_or_else(|| "once the budget warning fires".to_owned());
        out.push(issue(
            "budget_warning_ignored",
            Severity::Medium,
            "Budget warning without behaviour change".to_owned(),
            format!("A budget warning at iteration {w}{used} {what_followed} in the next {} iterations.", cx.t.budget_lookahead),
            Some(w),
            vec![format!("tool calls: iteration {w}: {base}; after: {}", counts.join(", "))],
            format!("Act on budget warnings: inject the warning into the prompt with an instruction to wrap up, switch to a cheaper mode or model, or stop tool use {when}."),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::{run, run_with};
    use crate::detectors::Thresholds;
    use crate::testing::Trace;
    use serde_json::json;

    fn trace(after: &[u32], mode_change: bool) -> Trace {
        trace_from(2, after, mode_change)
    }

    /// A warning at iteration 4 after `before` tool calls there.
    fn trace_from(before: u32, after: &[u32], mode_change: bool) -> Trace {
        let mut t = Trace::new();
        t.iter(4);
        for j in 0..before {
            t.tool("grep", json!({"before": j}), 1.0);
        }
        t.push(
            EventKind::BudgetWarning,
            &[(loupe_model::keys::USAGE_FRACTION, 0.82.into())],
        );
        for (k, n) in after.iter().enumerate() {
            t.iter(5 + k as u32);
            if mode_change && k == 0 {
                t.push(EventKind::ModeChange, &[]);
            }
            for j in 0..*n {
                t.tool("read_file", json!({"f": j, "k": k}), 1.0);
            }
        }
        t
    }

    #[test]
    fn trips_when_tool_use_continues() {
        let issues = run(check, &trace(&[2, 3, 3], false));
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].iteration, Some(4));
        assert!(issues[0].description.contains("(82% used)"));
    }

    #[test]
    fn does_not_trip_after_a_reduction_or_mode_change() {
        assert!(run(check, &trace(&[2, 0, 3], false)).is_empty());
        assert!(run(check, &trace(&[2, 3, 3], true)).is_empty());
    }

    #[test]
    fn a_warning_in_a_tool_free_iteration_trips_when_tool_use_comes_back() {
        let issues = run(check, &trace_from(0, &[0, 2, 0], false));
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].description.contains("return to tool calls"),
            "{}",
            issues[0].description
        );
        // Already text-only and staying so: nothing ignored.
        assert!(run(check, &trace_from(0, &[0, 0, 0], false)).is_empty());
        // Tools come back after a mode change: acted on.
        assert!(run(check, &trace_from(0, &[2, 2, 2], true)).is_empty());
    }

    #[test]
    fn texts_name_the_configured_lookahead_and_the_warnings_own_level() {
        let t = Thresholds {
            budget_lookahead: 2,
            ..Thresholds::default()
        };
        let issues = run_with(check, &trace(&[2, 3], false), &t);
        assert!(
            issues[0].description.contains("in the next 2 iterations"),
            "{}",
            issues[0].description
        );
        // Not a fixed 80%: the level the trace's warning fired at.
        assert!(
            issues[0].suggestion.contains("passes 82%"),
            "{}",
            issues[0].suggestion
        );
    }
}
