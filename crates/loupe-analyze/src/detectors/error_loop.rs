//! `error_loop` (attocode-ts viewer; `/trace --analyze`'s `errors > 3`
//! variant is subsumed): `error_loop_iterations` (3) or more consecutive
//! main-agent iterations each containing a failed tool call (timeouts are left
//! to `tool_timeout_patterns`, as in the viewer). High; critical when the run
//! lasts until the last iteration (the session ended still failing).

use std::collections::BTreeSet;

use crate::{Issue, Severity};

use super::{count_of, issue, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let failing: BTreeSet<u32> = cx
        .facts
        .tools
        .iter()
        .filter(|t| t.agent.is_none() && t.failed && !t.timed_out)
        .filter_map(|t| t.iteration)
        .collect();
    let Some(&last) = cx.facts.iterations.last() else {
        return;
    };
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &it in &failing {
        match runs.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(it) => *end = it,
            _ => runs.push((it, it)),
        }
    }
    for (from, to) in runs {
        let n = to - from + 1;
        if n < cx.t.error_loop_iterations {
            continue;
        }
        let trailing = to == last;
        let mut tools: Vec<&str> = cx
            .facts
            .tools
            .iter()
            .filter(|t| {
                t.agent.is_none()
                    && t.failed
                    && t.iteration.is_some_and(|i| (from..=to).contains(&i))
            })
            .map(|t| t.name)
            .collect();
        tools.sort_unstable();
        tools.dedup();
        let first_error = cx
            .facts
            .tools
            .iter()
            .find(|t| t.agent.is_none() && t.failed && t.iteration == Some(from))
            .and_then(|t| t.event.error_message())
            .unwrap_or_default();
        let list: Vec<String> = (from..=to).map(|i| i.to_string()).collect();
        out.push(issue(
            "error_loop",
            if trailing { Severity::Critical } else { Severity::High },
            format!("{n} consecutive iterations with tool errors"),
            format!(
                "Iterations {from}–{to} each had a failing tool call ({}){}.",
                tools.join(", "),
                if trailing { "; the session ended inside this error loop" } else { "" }
            ),
            Some(from),
            vec![format!("error iterations: {}", list.join(", ")), format!("first error: {}", crate::facts::truncate_chars(&first_error, 120))],
            format!("The agent retried {} without fixing the cause. Make the error text actionable (include the failing command's stderr), and after {} switch strategy: inspect the failure, or ask for help instead of retrying.", tools.join("/"), count_of(cx.t.error_loop_iterations.saturating_sub(1).max(1), "failing iteration")),
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

    #[test]
    fn trips_high_in_the_middle_and_critical_at_the_end() {
        let mut t = Trace::new();
        for i in 1..=5 {
            t.iter(i).llm(1000, 10, 0, 0);
            if (2..=4).contains(&i) {
                t.tool_err("bash", json!({"command": i}), "exit 1");
            } else {
                t.tool("read_file", json!({}), 1.0);
            }
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (issues[0].severity, issues[0].iteration),
            (Severity::High, Some(2))
        );
        t.iter(6).tool_err("bash", json!({}), "x");
        // 2,3,4 then 5 ok then 6 alone → still one high
        assert_eq!(run(check, &t).len(), 1);
        let mut t2 = Trace::new();
        for i in 1..=3 {
            t2.iter(i).tool_err("bash", json!({"n": i}), "exit 1");
        }
        assert_eq!(run(check, &t2)[0].severity, Severity::Critical);
    }

    #[test]
    fn does_not_trip_on_scattered_errors_or_timeouts() {
        let mut t = Trace::new();
        for i in 1..=6 {
            t.iter(i);
            if i % 2 == 0 {
                t.tool_err("bash", json!({"n": i}), "exit 1");
            } else {
                t.tool_status("bash", "timeout", 30_000.0);
            }
        }
        assert!(run(check, &t).is_empty());
    }

    #[test]
    fn the_suggestion_names_the_configured_loop_length() {
        let mut t = Trace::new();
        for i in 1..=5 {
            t.iter(i).tool_err("bash", json!({"i": i}), "exit 1");
        }
        let issues = run(check, &t);
        assert!(
            issues[0].suggestion.contains("after 2 failing iterations"),
            "{}",
            issues[0].suggestion
        );
        let long = Thresholds {
            error_loop_iterations: 5,
            ..Thresholds::default()
        };
        let issues = run_with(check, &t, &long);
        assert!(
            issues[0].suggestion.contains("after 4 failing iterations"),
            "{}",
            issues[0].suggestion
        );
    }
}
