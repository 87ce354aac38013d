//! `swarm_cascade_failures` (attocode-py): (failed swarm tasks + skipped
//! tasks) / started tasks above `swarm_cascade_ratio` (30%). Skipped tasks are
//! `swarm_task_skipped` events plus the lengths of `data.skipped` lists. High.
//! Unlike attocode-py, at least two tasks must have failed or been skipped:
//! one failure alone has nothing to cascade to.

use loupe_model::EventKind;

use crate::{Issue, Severity};

use super::{issue, pct, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let (mut started, mut failed, mut skipped) = (0u64, 0u64, 0u64);
    for e in &cx.facts.session.events {
        match e.kind {
            EventKind::SwarmTaskStart => started += 1,
            EventKind::SwarmTaskFailed => failed += 1,
            EventKind::SwarmTaskSkipped => skipped += 1,
            _ => {}
        }
        if let Some(list) = e.data.get("skipped").and_then(|v| v.as_array()) {
            skipped += list.len() as u64;
        }
    }
    if started == 0 || failed + skipped < 2 {
        return;
    }
    let ratio = (failed + skipped) as f64 / started as f64;
    if ratio <= cx.t.swarm_cascade_ratio {
        return;
    }
    out.push(issue(
        "swarm_cascade_failures",
        Severity::High,
        "Cascading swarm failures".to_owned(),
        format!("{failed} swarm task{} failed and {skipped} {} skipped out of {started} started ({}): failures propagated to dependent tasks.", if failed == 1 { "" } else { "s" }, if skipped == 1 { "was" } else { "were" }, pct(ratio)),
        None,
        vec![format!("failed {failed}, skipped {skipped}, started {started}")],
        "Fix the first failing task before its dependants run: retry or re-plan failed tasks, and loosen the decomposition so one failure does not block whole branches.".to_owned(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_when_failures_cascade() {
        let mut t = Trace::new();
        for _ in 0..5 {
            t.push(EventKind::SwarmTaskStart, &[]);
        }
        t.push(
            EventKind::SwarmTaskFailed,
            &[("skipped", serde_json::json!(["t3"]))],
        );
        assert_eq!(run(check, &t).len(), 1); // 2/5 = 40%
    }

    #[test]
    fn does_not_trip_on_one_failure_in_five() {
        let mut t = Trace::new();
        for _ in 0..5 {
            t.push(EventKind::SwarmTaskStart, &[]);
        }
        t.push(EventKind::SwarmTaskFailed, &[]);
        assert!(run(check, &t).is_empty());
    }

    #[test]
    fn one_failed_task_alone_is_no_cascade() {
        let mut t = Trace::new();
        t.push(EventKind::SwarmTaskStart, &[]);
        t.push(EventKind::SwarmTaskFailed, &[]);
        assert!(run(check, &t).is_empty());
        t.push(EventKind::SwarmTaskStart, &[]);
        t.push(EventKind::SwarmTaskFailed, &[]);
        assert_eq!(run(check, &t).len(), 1); // 2/2
    }
}
