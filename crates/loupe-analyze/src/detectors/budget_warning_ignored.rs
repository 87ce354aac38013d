//! `budget_warning_ignored` (attocode-py): a `budget_warning` at iteration w
//! where w had tool calls, and in the next `budget_lookahead` (3) iterations
//! there was no `mode_change` and no iteration with fewer than
//! `budget_reduction` (half) of w's tool calls (a missing iteration counts as
//! 0 calls, i.e. as a change). Medium.

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
        if base == 0 {
            continue;
        }
        let ahead = 1..=cx.t.budget_lookahead;
        let changed = ahead.clone().any(|d| {
            let i = w.saturating_add(d);
            mode_changes.contains(&i)
                || f64::from(tools_per_it.get(&i).copied().unwrap_or(0))
                    < cx.t.budget_reduction * f64::from(base)
        });
        if changed {
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
        let used = e
            .f64(loupe_model::keys::USAGE_FRACTION)
            .map(|u| format!(" ({:.0}% used)", u * 100.0))
            .unwrap_or_default();
        out.push(issue(
            "budget_warning_ignored",
            Severity::Medium,
            "Budget warning without behaviour change".to_owned(),
            format!("A budget warning at iteration {w}{used} was not followed by fewer tool calls or a mode change in the next {} iterations.", cx.t.budget_lookahead),
            Some(w),
            vec![format!("tool calls: iteration {w}: {base}; after: {}", counts.join(", "))],
            "Act on budget warnings: inject the warning into the prompt with an instruction to wrap up, switch to a cheaper mode or model, or stop tool use once the budget passes 80%.".to_owned(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;
    use serde_json::json;

    fn trace(after: &[u32], mode_change: bool) -> Trace {
        let mut t = Trace::new();
        t.iter(4)
            .tool_err("bash", json!({}), "x")
            .tool("grep", json!({}), 1.0);
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
}
