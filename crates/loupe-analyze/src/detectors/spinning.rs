//! `spinning` (attocode-py): more than `spinning_iterations` (15) consecutive
//! main-agent iteration numbers, from 1 to the last one seen, without any
//! tool call. Missing iteration numbers count as iterations without tools, as
//! in attocode-py. Computed from the gaps between tool-using iterations, so a
//! corrupt huge iteration number costs nothing.

use crate::{Issue, Severity};

use super::{issue, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let Some(&last) = cx.facts.iterations.last() else {
        return;
    };
    let mut with_tools: Vec<u32> = cx
        .facts
        .tools
        .iter()
        .filter(|t| t.agent.is_none())
        .filter_map(|t| t.iteration)
        .collect();
    with_tools.sort_unstable();
    with_tools.dedup();
    let limit = cx.t.spinning_iterations;
    let mut report = |from: u32, to: u32, trailing: bool| {
        let n = to - from + 1;
        if n <= limit {
            return;
        }
        let where_ = if trailing {
            " at the end of the session"
        } else {
            ""
        };
        out.push(issue(
            "spinning",
            Severity::High,
            "Excessive iterations without tool calls".to_owned(),
            format!("{n} consecutive iterations ({from}–{to}) made no tool call{where_}: the agent kept talking to the model without acting."),
            Some(from),
            vec![format!("iterations {from}–{to}: 0 tool calls")],
            format!("Cap consecutive tool-less iterations (e.g. stop or ask the user after {limit}); check whether the model is waiting for input it never gets, or whether tool definitions were dropped from the request around iteration {from}."),
        ));
    };
    let mut next = 1u32;
    for &it in &with_tools {
        if it > next {
            report(next, it - 1, false);
        }
        next = next.max(it.saturating_add(1));
    }
    if last >= next {
        report(next, last, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;
    use serde_json::json;

    #[test]
    fn trips_on_17_tool_less_iterations() {
        let mut t = Trace::new();
        for i in 1..=17 {
            t.iter(i).llm(1000, 50, 0, 0);
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].iteration, Some(1));
        assert!(issues[0]
            .description
            .contains("17 consecutive iterations (1–17)"));
        assert!(issues[0].description.contains("end of the session"));
    }

    #[test]
    fn does_not_trip_when_tools_break_the_run() {
        let mut t = Trace::new();
        for i in 1..=30 {
            t.iter(i).llm(1000, 50, 0, 0);
            if i % 10 == 0 {
                t.tool("read_file", json!({"path": i}), 5.0);
            }
        }
        assert!(run(check, &t).is_empty());
    }
}
