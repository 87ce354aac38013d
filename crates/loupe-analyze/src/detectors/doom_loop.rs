//! `doom_loop` (attocode-py): the same tool with the same arguments
//! (fingerprint `tool:args`, object keys sorted) `doom_loop_repeats` (3) or
//! more times **in a row** within one agent. attocode-py counts identical
//! calls anywhere in the session; Loupe reports non-consecutive repeats as
//! `redundant_tool_calls` instead, so each concept has one rule.

use crate::HashMap;

use crate::facts::{brief_of_args, iteration_range, ToolCall};
use crate::{Issue, Severity};

use super::{count_of, issue, ordinal, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    // Per agent: the current run of identical calls.
    let mut runs: HashMap<Option<&str>, Vec<&ToolCall<'_>>> = HashMap::default();
    let mut finished: Vec<Vec<&ToolCall<'_>>> = Vec::new();
    for call in &cx.facts.tools {
        let run = runs.entry(call.agent).or_default();
        if run
            .last()
            .is_some_and(|l| l.fingerprint != call.fingerprint)
        {
            finished.push(std::mem::take(run));
        }
        run.push(call);
    }
    finished.extend(runs.into_values());
    finished.retain(|r| r.len() >= cx.t.doom_loop_repeats as usize);
    finished.sort_by_key(|r| r[0].index);
    // The suggestions name the configured repeat count, at least 2.
    let repeats = cx.t.doom_loop_repeats.max(2);
    for run in finished {
        let first = run[0];
        let n = run.len();
        let failed = run.iter().filter(|c| c.failed).count();
        let its: Vec<u32> = run.iter().filter_map(|c| c.iteration).collect();
        let args = brief_of_args(first.args);
        let call = if args.is_empty() {
            first.name.to_owned()
        } else {
            format!("{}({args})", first.name)
        };
        let outcome = if failed == n {
            " and it failed every time".to_owned()
        } else if failed > 0 {
            format!(" ({failed} failed)")
        } else {
            String::new()
        };
        out.push(issue(
            "doom_loop",
            Severity::High,
            format!("Repeated tool call: {}", first.name),
            format!("{call} was called {n} times in a row with identical arguments ({}){outcome}. This is a doom loop.", iteration_range(&its)),
            first.iteration,
            run.iter().map(|c| format!("event {}", c.event.event_id)).collect(),
            if failed > 0 {
                format!("Stop retrying {call} unchanged: feed the error back to the model with an instruction to change the command or arguments, and abort after {}.", count_of(repeats - 1, "identical failing call"))
            } else {
                format!("{call} returns the same result each time: keep its result in context instead of calling it again, and add a loop guard that blocks a {} identical call.", ordinal(repeats))
            },
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::{run, run_with};
    use crate::detectors::Thresholds;
    use crate::testing::Trace;
    use loupe_model::EventKind;
    use serde_json::json;

    #[test]
    fn trips_on_three_identical_calls_in_a_row() {
        let mut t = Trace::new();
        for i in 2..=4 {
            t.iter(i).llm(1000, 10, 0, 0);
            t.tool_err(
                "bash",
                json!({"command": "npm test", "cwd": "/r"}),
                "exit 1",
            );
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].iteration, Some(2));
        assert!(issues[0]
            .description
            .contains("bash(command=npm test, cwd=/r) was called 3 times"));
        assert!(issues[0].description.contains("iterations 2–4"));
        assert!(issues[0].suggestion.contains("Stop retrying"));
    }

    #[test]
    fn does_not_trip_on_changed_args_or_interleaved_calls() {
        let mut t = Trace::new();
        t.iter(1);
        t.tool("read_file", json!({"path": "a"}), 1.0);
        t.tool("read_file", json!({"path": "b"}), 1.0);
        t.tool("read_file", json!({"path": "a"}), 1.0);
        t.tool("grep", json!({"pattern": "x"}), 1.0);
        t.tool("read_file", json!({"path": "a"}), 1.0);
        assert!(run(check, &t).is_empty());
    }

    /// The recorder and OTLP give a call's arguments on its start only.
    fn start_only_calls(t: &mut Trace, paths: &[&str]) {
        for path in paths {
            t.push(
                EventKind::ToolStart,
                &[
                    ("tool", "read_file".into()),
                    ("args", json!({"path": path})),
                ],
            );
            t.push(EventKind::ToolEnd, &[("tool", "read_file".into())])
                .duration_ms = Some(5.0);
        }
    }

    #[test]
    fn reads_arguments_from_the_start_when_the_end_has_none() {
        let mut t = Trace::new();
        t.iter(1);
        start_only_calls(&mut t, &["a.rs", "b.rs", "c.rs", "d.rs"]);
        assert!(run(check, &t).is_empty(), "different arguments are no loop");

        let mut t = Trace::new();
        t.iter(1);
        start_only_calls(&mut t, &["a.rs", "a.rs", "a.rs"]);
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0].description.contains("read_file(path=a.rs)"),
            "{}",
            issues[0].description
        );
    }

    #[test]
    fn suggestions_name_the_configured_repeat_count() {
        let trace = |failing: bool| {
            let mut t = Trace::new();
            for i in 1..=5 {
                t.iter(i).llm(1000, 10, 0, 0);
                if failing {
                    t.tool_err("bash", json!({"command": "make"}), "exit 1");
                } else {
                    t.tool("read_file", json!({"path": "a"}), 1.0);
                }
            }
            t
        };
        let t = Thresholds {
            doom_loop_repeats: 5,
            ..Thresholds::default()
        };
        let ok = run_with(check, &trace(false), &t);
        assert!(
            ok[0].suggestion.contains("blocks a 5th identical call"),
            "{}",
            ok[0].suggestion
        );
        let failed = run_with(check, &trace(true), &t);
        assert!(
            failed[0]
                .suggestion
                .contains("abort after 4 identical failing calls"),
            "{}",
            failed[0].suggestion
        );
        // Defaults keep the seed's numbers.
        assert!(run(check, &trace(false))[0]
            .suggestion
            .contains("3rd identical call"));
    }
}
