//! `long_tool` (attocode-py): a single tool call longer than `long_tool_ms`
//! (30 s). Medium (attocode-py's code; its docs said low). The per-tool
//! average is `slow_tool`'s business.

use crate::{Issue, Severity};

use super::{issue, secs, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    for c in &cx.facts.tools {
        let Some(d) = c.duration_ms.filter(|d| *d > cx.t.long_tool_ms) else {
            continue;
        };
        let args = crate::facts::brief_of_args(c.args);
        out.push(issue(
            "long_tool",
            Severity::Medium,
            format!("Long tool execution: {}", c.name),
            format!("{}{} took {}, over the {} threshold{}.", c.name, if args.is_empty() { String::new() } else { format!("({args})") }, secs(d), secs(cx.t.long_tool_ms), if c.timed_out { " and timed out" } else { "" }),
            c.iteration,
            vec![format!("event {}", c.event.event_id)],
            format!("Give {} a timeout below {} and make the agent run narrower operations (a single test file, a filtered search) or run the long job in the background and poll.", c.name, secs(cx.t.long_tool_ms)),
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
    fn trips_on_a_45_second_call() {
        let mut t = Trace::new();
        t.iter(5)
            .tool("bash", json!({"command": "npm run e2e"}), 45_000.0);
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].description.contains("took 45.0s"));
    }

    #[test]
    fn does_not_trip_at_30_seconds() {
        let mut t = Trace::new();
        t.iter(5).tool("bash", json!({}), 30_000.0);
        assert!(run(check, &t).is_empty());
    }
}
