//! `tool_timeout_patterns` (attocode-ts viewer): one tool timed out
//! `tool_timeouts_high` (3, high) or `tool_timeouts_medium` (2, medium) times;
//! and, overall, at least `tool_timeout_min_calls` (10) calls with more than
//! `tool_timeout_ratio` (20%) timing out → high.

use std::collections::BTreeMap;

use crate::{Issue, Severity};

use super::{issue, pct, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let t = cx.t;
    let mut by_tool: BTreeMap<&str, Vec<Option<u32>>> = BTreeMap::new();
    for c in cx.facts.tools.iter().filter(|c| c.timed_out) {
        by_tool.entry(c.name).or_default().push(c.iteration);
    }
    let total: usize = by_tool.values().map(Vec::len).sum();
    for (name, its) in &by_tool {
        let n = its.len() as u32;
        let sev = if n >= t.tool_timeouts_high {
            Severity::High
        } else if n >= t.tool_timeouts_medium {
            Severity::Medium
        } else {
            continue;
        };
        let list: Vec<String> = its
            .iter()
            .map(|i| i.map_or("-".to_owned(), |i| i.to_string()))
            .collect();
        out.push(issue(
            "tool_timeout_patterns",
            sev,
            format!("Tool {name} keeps timing out"),
            format!("{name} timed out {n} times."),
            its.iter().flatten().next().copied(),
            vec![format!("timeouts in iterations: {}", list.join(", "))],
            format!("Stop the agent from re-running {name} with the same scope after a timeout: narrow the operation, raise its timeout if the work is legitimately long, or run it in the background and poll for the result."),
        ));
    }
    let calls = cx.facts.tools.len();
    if calls >= t.tool_timeout_min_calls as usize
        && total as f64 / calls as f64 > t.tool_timeout_ratio
    {
        out.push(issue(
            "tool_timeout_patterns",
            Severity::High,
            "Many tool calls time out".to_owned(),
            format!("{total}/{calls} tool calls ({}) timed out.", pct(total as f64 / calls as f64)),
            None,
            vec![format!("timeouts by tool: {}", by_tool.iter().map(|(n, v)| format!("{n} ×{}", v.len())).collect::<Vec<_>>().join(", "))],
            "Timeouts are systemic here: check the sandbox or network the tools run in, and set per-tool timeouts that match the work each tool does.".to_owned(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_per_tool_and_overall() {
        let mut t = Trace::new();
        for i in [8, 10, 11] {
            t.iter(i).tool_status("bash", "timeout", 30_000.0);
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (issues[0].severity, issues[0].iteration),
            (Severity::High, Some(8))
        );
        for i in 0..7 {
            t.tool("grep", serde_json::json!({"i": i}), 1.0);
        }
        // 3/10 = 30% > 20% → the overall issue too
        assert_eq!(run(check, &t).len(), 2);
    }

    #[test]
    fn does_not_trip_on_one_timeout_or_plain_errors() {
        let mut t = Trace::new();
        t.tool_status("bash", "timeout", 30_000.0);
        t.tool_err("bash", serde_json::json!({}), "exit 1");
        t.tool_err("bash", serde_json::json!({"a": 1}), "exit 1");
        assert!(run(check, &t).is_empty());
    }
}
