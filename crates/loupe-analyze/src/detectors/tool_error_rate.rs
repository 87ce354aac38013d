//! `tool_error_rate` (attocode-py): at least `tool_error_min_calls` (3) tool
//! calls and more than `tool_error_rate` (30%) of them failed. High.

use std::collections::BTreeMap;

use crate::{Issue, Severity};

use super::{issue, pct, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let calls = cx.facts.tools.len();
    if calls < cx.t.tool_error_min_calls as usize || calls == 0 {
        return;
    }
    let mut by_tool: BTreeMap<&str, usize> = BTreeMap::new();
    for t in cx.facts.tools.iter().filter(|t| t.failed) {
        *by_tool.entry(t.name).or_default() += 1;
    }
    let failed: usize = by_tool.values().sum();
    let rate = failed as f64 / calls as f64;
    if rate <= cx.t.tool_error_rate {
        return;
    }
    let mut worst: Vec<(&str, usize)> = by_tool.into_iter().collect();
    worst.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let list: Vec<String> = worst.iter().map(|(n, c)| format!("{n} ×{c}")).collect();
    out.push(issue(
        "tool_error_rate",
        Severity::High,
        "High tool error rate".to_owned(),
        format!("{failed}/{calls} tool calls failed ({}), above the {} threshold.", pct(rate), pct(cx.t.tool_error_rate)),
        None,
        vec![format!("failures by tool: {}", list.join(", "))],
        format!("Start with {}: read its error messages (see the error patterns), then fix the cause — wrong paths, missing permissions, sandbox limits — or improve the tool description so the model calls it correctly.", worst.first().map(|w| w.0).unwrap_or("the failing tool")),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;
    use serde_json::json;

    #[test]
    fn trips_at_4_of_11() {
        let mut t = Trace::new();
        t.iter(1);
        for i in 0..7 {
            t.tool("read_file", json!({"i": i}), 1.0);
        }
        for i in 0..4 {
            t.tool_err("bash", json!({"i": i}), "exit 1");
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert!(issues[0]
            .description
            .starts_with("4/11 tool calls failed (36%)"));
        assert!(issues[0].suggestion.starts_with("Start with bash"));
    }

    #[test]
    fn does_not_trip_at_30_percent_or_with_few_calls() {
        let mut t = Trace::new();
        for i in 0..7 {
            t.tool("read_file", json!({"i": i}), 1.0);
        }
        for i in 0..3 {
            t.tool_err("bash", json!({"i": i}), "exit 1");
        }
        assert!(run(check, &t).is_empty());
        let mut few = Trace::new();
        few.tool_err("bash", json!({}), "x")
            .tool_err("bash", json!({"a": 1}), "x");
        assert!(run(check, &few).is_empty());
    }
}
