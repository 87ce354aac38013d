//! `slow_tool` (attocode-ts viewer): a tool whose mean duration is above
//! `slow_tool_high_ms` (10 s, high) or `slow_tool_medium_ms` (5 s, medium).

use std::collections::BTreeMap;

use crate::{Issue, Severity};

use super::{issue, secs, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let mut by_tool: BTreeMap<&str, (f64, f64, u32)> = BTreeMap::new();
    for c in &cx.facts.tools {
        if let Some(d) = c.duration_ms {
            let e = by_tool.entry(c.name).or_default();
            e.0 += d;
            e.1 = e.1.max(d);
            e.2 += 1;
        }
    }
    for (name, (sum, max, n)) in by_tool {
        let avg = sum / f64::from(n);
        let sev = if avg > cx.t.slow_tool_high_ms {
            Severity::High
        } else if avg > cx.t.slow_tool_medium_ms {
            Severity::Medium
        } else {
            continue;
        };
        out.push(issue(
            "slow_tool",
            sev,
            format!("Slow tool: {name}"),
            format!(
                "{name} averaged {} over {n} call{} (max {}).",
                secs(avg),
                if n == 1 { "" } else { "s" },
                secs(max)
            ),
            None,
            vec![format!("average {avg:.0}ms, max {max:.0}ms, calls {n}")],
            format!("Make {name} cheaper: scope it (run only the affected tests, search a subdirectory), cache its results between iterations, or run it in parallel with other work."),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;
    use serde_json::json;

    #[test]
    fn trips_medium_at_8s_average_and_high_at_19s() {
        let mut t = Trace::new();
        t.tool("bash", json!({"a": 1}), 8450.0)
            .tool("bash", json!({"a": 2}), 7900.0);
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].severity, Severity::Medium);
        t.tool("bash", json!({"a": 3}), 41_000.0);
        assert_eq!(run(check, &t)[0].severity, Severity::High);
    }

    #[test]
    fn does_not_trip_on_fast_tools() {
        let mut t = Trace::new();
        t.tool("grep", json!({}), 80.0)
            .tool("bash", json!({}), 4_900.0);
        assert!(run(check, &t).is_empty());
    }
}
