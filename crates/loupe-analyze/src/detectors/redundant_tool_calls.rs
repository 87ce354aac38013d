//! `redundant_tool_calls` (attocode-ts viewer ≥ 3 calls, `/trace --analyze`
//! ≥ 5): the same tool with the same arguments called `redundant_calls_medium`
//! (3) or more times in a session (high from `redundant_calls_high`, 5), but
//! never `doom_loop_repeats` times in a row (that is a `doom_loop`). The seed
//! systems match on the tool name only, which flags every agent that reads
//! several files; Loupe matches on the tool + arguments fingerprint, per
//! agent: parallel subagents do not share a context, so three workers that
//! each read one file once are not redundant.

use crate::HashMap;

use crate::facts::{brief_of_args, iteration_range, ToolCall};
use crate::{Issue, Severity};

use super::{issue, Ctx};

/// The calls of one agent with one fingerprint, and their longest run in a row.
type Group<'c, 'a> = (Vec<&'c ToolCall<'a>>, usize);

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let t = cx.t;
    // (agent, fingerprint) → its calls; per agent, the current run of one fingerprint.
    let mut groups: HashMap<(Option<&str>, u64), Group<'_, '_>> = HashMap::default();
    let mut last_fp: HashMap<Option<&str>, (u64, usize)> = HashMap::default();
    for call in &cx.facts.tools {
        let run = last_fp.entry(call.agent).or_insert((call.fingerprint, 0));
        if run.0 == call.fingerprint {
            run.1 += 1;
        } else {
            *run = (call.fingerprint, 1);
        }
        let g = groups.entry((call.agent, call.fingerprint)).or_default();
        g.0.push(call);
        g.1 = g.1.max(run.1);
    }
    let mut found: Vec<(Vec<&ToolCall<'_>>, usize)> = groups
        .into_values()
        .filter(|(calls, longest)| {
            calls.len() >= t.redundant_calls_medium as usize
                && *longest < t.doom_loop_repeats as usize
        })
        .collect();
    found.sort_by_key(|(calls, _)| calls[0].index);
    for (calls, _) in found {
        let first = calls[0];
        let n = calls.len();
        let its: Vec<u32> = calls.iter().filter_map(|c| c.iteration).collect();
        let args = brief_of_args(first.args);
        let call = if args.is_empty() {
            first.name.to_owned()
        } else {
            format!("{}({args})", first.name)
        };
        let sev = if n >= t.redundant_calls_high as usize {
            Severity::High
        } else {
            Severity::Medium
        };
        let list: Vec<String> = its.iter().map(u32::to_string).collect();
        out.push(issue(
            "redundant_tool_calls",
            sev,
            format!("Redundant tool calls: {}", first.name),
            format!(
                "{call} was called {n} times with identical arguments{} ({}).",
                first.agent.map(|a| format!(" by {a}")).unwrap_or_default(),
                iteration_range(&its)
            ),
            first.iteration,
            vec![format!("called in iterations: {}", list.join(", "))],
            format!("Cache the result of {call} or keep it in context; it was called {n} times in {}. If the result can change, say so in the tool description so the model re-reads only after edits.", iteration_range(&its)),
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
    fn one_read_each_by_parallel_subagents_is_not_redundant() {
        let mut t = Trace::new();
        t.iter(1).llm(1000, 10, 0, 0);
        for worker in ["w1", "w2", "w3"] {
            t.as_agent(Some(worker));
            t.tool("read_file", json!({"path": "src/f0.rs"}), 5.0);
        }
        assert!(run(check, &t).is_empty());
        // The same subagent reading it three times is.
        t.as_agent(Some("w1"));
        t.tool("read_file", json!({"path": "src/f0.rs"}), 5.0);
        t.tool("bash", json!({"command": "ls"}), 5.0);
        t.tool("read_file", json!({"path": "src/f0.rs"}), 5.0);
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].description.contains("by w1"),
            "{}",
            issues[0].description
        );
    }

    #[test]
    fn trips_on_identical_reads_spread_over_iterations() {
        let mut t = Trace::new();
        for i in 3..=7 {
            t.iter(i).llm(1000, 10, 0, 0);
            t.tool("read_file", json!({"path": "src/a.rs"}), 5.0);
            t.tool("bash", json!({"command": format!("test {i}")}), 5.0);
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].severity, Severity::High);
        assert!(issues[0]
            .suggestion
            .starts_with("Cache the result of read_file(path=src/a.rs)"));
        assert!(issues[0].suggestion.contains("5 times in iterations 3–7"));
    }

    #[test]
    fn does_not_trip_on_same_tool_with_different_args_or_on_loops() {
        let mut t = Trace::new();
        t.iter(1);
        for f in ["a", "b", "c", "d"] {
            t.tool("read_file", json!({"path": f}), 5.0);
        }
        // three in a row is a doom loop, not a redundant call
        for _ in 0..3 {
            t.tool("grep", json!({"pattern": "x"}), 5.0);
        }
        assert!(run(check, &t).is_empty());
    }
}
