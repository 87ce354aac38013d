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
    // The main agent's tool calls: subagents' are not its iterations' work,
    // and saying so keeps the figure from reading as a different total than
    // the session's tool calls.
    let tools = cx.facts.tools.iter().filter(|t| t.agent.is_none()).count();
    let by_subagents = cx.facts.tools.len() - tools;
    let tool_calls = match by_subagents {
        0 => format!("{tools} tool calls"),
        n => format!("{tools} tool calls, not counting {n} by subagents"),
    };
    out.push(issue(
        "excessive_iterations",
        sev,
        format!("{n} iterations"),
        format!(
            "The session took {n} iterations ({tool_calls}), more than the {} a task usually needs (threshold `excessive_iterations_medium`).",
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
    fn counts_the_main_agents_tool_calls_and_says_what_subagents_did() {
        let mut t = Trace::new();
        for i in 1..=8 {
            t.iter(i);
            t.tool("bash", serde_json::json!({"command": i}), 5.0);
        }
        t.as_agent(Some("sub"));
        t.tool("grep", serde_json::json!({}), 5.0);
        let issues = run(check, &t);
        assert!(
            issues[0]
                .description
                .contains("(8 tool calls, not counting 1 by subagents)"),
            "{}",
            issues[0].description
        );
    }

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
