//! `excessive_iterations` (attocode-ts viewer and `/trace --analyze`): more
//! than `excessive_iterations_high` (10, high) or `…_medium` (7, medium)
//! main-agent iterations. Subagent LLM calls do not count (attocode-ts counts
//! them, as its iterations are LLM calls).

use crate::{Issue, Severity};

use super::{issue, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let n = cx.facts.iterations.len() as u32;
    let sev = if n > cx.t.excessive_iterations_high {
        Severity::High
    } else if n > cx.t.excessive_iterations_medium {
        Severity::Medium
    } else {
        return;
    };
    let tools = cx.facts.tools.iter().filter(|t| t.agent.is_none()).count();
    out.push(issue(
        "excessive_iterations",
        sev,
        format!("{n} iterations"),
        format!(
            "The session took {n} iterations ({tools} tool calls), more than the {} a task usually needs (threshold `excessive_iterations_medium`).",
            cx.t.excessive_iterations_medium
        ),
        None,
        vec![format!("iterations: {n}")],
        "Give the agent what it keeps looking for up front (relevant files, test command, acceptance criteria), allow several tool calls per turn, and split large tasks into subtasks with their own budgets.".to_owned(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_high_at_12() {
        let mut t = Trace::new();
        for i in 1..=12 {
            t.iter(i);
        }
        assert_eq!(run(check, &t)[0].severity, Severity::High);
    }

    #[test]
    fn does_not_trip_at_7_or_on_subagent_calls() {
        let mut t = Trace::new();
        t.no_iter();
        for _ in 0..7 {
            t.llm(10, 1, 0, 0);
        }
        t.as_agent(Some("sub"));
        for _ in 0..10 {
            t.llm(10, 1, 0, 0);
        }
        assert!(run(check, &t).is_empty());
    }
}
