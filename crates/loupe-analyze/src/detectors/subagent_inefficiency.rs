//! `subagent_inefficiency` (attocode-ts viewer): subagents of one type failed
//! `subagent_type_failures_high` (3, high) or `…_medium` (2, medium) times;
//! and, with at least `subagent_min_count` (3) subagents, more than
//! `subagent_failure_ratio` (50%) of them failed → high. A subagent failed if
//! it has a `subagent_error`/`subagent_timeout`, or a completion or link
//! record whose status is a failure.

use std::collections::BTreeMap;

use loupe_model::{keys, EventKind};

use crate::{Issue, Severity};

use super::{issue, pct, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    // id → (type, failed)
    let mut agents: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
    for e in &cx.facts.session.events {
        let outcome = match e.kind {
            EventKind::SubagentError | EventKind::SubagentTimeout => Some(true),
            EventKind::SubagentComplete | EventKind::SubagentLink | EventKind::SubagentSpawn => {
                Some(e.status().is_some_and(crate::facts::is_fail_status))
            }
            _ => None,
        };
        let Some(failed) = outcome else { continue };
        let Some(id) = e
            .str(keys::AGENT_ID)
            .or(e.agent.as_ref().map(|a| a.id.as_str()))
        else {
            continue;
        };
        let ty = e
            .str(keys::AGENT_TYPE)
            .or(e.agent.as_ref().and_then(|a| a.agent_type.as_deref()))
            .unwrap_or("(untyped)");
        let entry = agents.entry(id).or_insert((ty, false));
        if entry.0 == "(untyped)" {
            entry.0 = ty;
        }
        entry.1 |= failed;
    }
    let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, (ty, failed)) in &agents {
        if *failed {
            by_type.entry(ty).or_default().push(id);
        }
    }
    for (ty, ids) in &by_type {
        let n = ids.len() as u32;
        let sev = if n >= cx.t.subagent_type_failures_high {
            Severity::High
        } else if n >= cx.t.subagent_type_failures_medium {
            Severity::Medium
        } else {
            continue;
        };
        out.push(issue(
            "subagent_inefficiency",
            sev,
            format!("Subagents of type {ty} keep failing"),
            format!("{n} {ty} subagents failed: {}.", ids.join(", ")),
            None,
            ids.iter().map(|i| format!("agent {i}")).collect(),
            format!("Review how {ty} subagents are briefed: give them a narrower task, the context they need (files, constraints) and a clear completion criterion, or do the work in the parent agent."),
        ));
    }
    let total = agents.len();
    let failed: usize = by_type.values().map(Vec::len).sum();
    if total >= cx.t.subagent_min_count as usize
        && failed as f64 / total as f64 > cx.t.subagent_failure_ratio
    {
        out.push(issue(
            "subagent_inefficiency",
            Severity::High,
            "Most subagents failed".to_owned(),
            format!("{failed} of {total} subagents ({}) failed.", pct(failed as f64 / total as f64)),
            None,
            vec![format!("{failed}/{total} failed")],
            "Delegation is not paying off: spawn fewer subagents with clearer, self-contained tasks, and check their timeouts and tool permissions.".to_owned(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    fn spawn(t: &mut Trace, id: &str, fail: bool) {
        t.push(
            EventKind::SubagentSpawn,
            &[
                (keys::AGENT_ID, id.into()),
                (keys::AGENT_TYPE, "tester".into()),
            ],
        );
        let kind = if fail {
            EventKind::SubagentError
        } else {
            EventKind::SubagentComplete
        };
        t.push(kind, &[(keys::AGENT_ID, id.into())]);
    }

    #[test]
    fn trips_on_repeated_failures_of_one_type() {
        let mut t = Trace::new();
        spawn(&mut t, "a", true);
        spawn(&mut t, "b", true);
        spawn(&mut t, "c", false);
        let issues = run(check, &t);
        assert_eq!(issues.len(), 2); // 2 testers failed (medium) + 2/3 failed overall (high)
        assert_eq!(issues[0].severity, Severity::Medium);
        assert_eq!(issues[1].severity, Severity::High);
    }

    #[test]
    fn does_not_trip_on_one_failure() {
        let mut t = Trace::new();
        spawn(&mut t, "a", true);
        spawn(&mut t, "b", false);
        spawn(&mut t, "c", false);
        assert!(run(check, &t).is_empty());
    }
}
