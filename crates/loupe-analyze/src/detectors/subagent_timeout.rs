//! `subagent_timeout` (attocode-py): every `subagent_timeout` event. High
//! (attocode-py's code; its docs said medium).

use loupe_model::{keys, EventKind};

use crate::{Issue, Severity};

use super::{issue, secs, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    for e in &cx.facts.session.events {
        if e.kind != EventKind::SubagentTimeout {
            continue;
        }
        let id = e
            .str(keys::AGENT_ID)
            .or(e.agent.as_ref().map(|a| a.id.as_str()))
            .unwrap_or("(unknown)");
        let after = e
            .f64("timeout_ms")
            .or(e.duration_ms)
            .map(|ms| format!(" after {}", secs(ms)))
            .unwrap_or_default();
        out.push(issue(
            "subagent_timeout",
            Severity::High,
            format!("Subagent timeout: {id}"),
            format!("Subagent {id} timed out{after}; its tokens were spent without a result for the parent."),
            e.iteration,
            vec![format!("event {}", e.event_id)],
            format!("Give {id} a smaller, well-bounded task (one file, one question), a faster model, or a longer timeout if the work is legitimately long; have the parent handle the timeout instead of waiting."),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_a_timeout() {
        let mut t = Trace::new();
        t.iter(8).push(
            EventKind::SubagentTimeout,
            &[
                (keys::AGENT_ID, "tester-8-1".into()),
                ("timeout_ms", 120_000.into()),
            ],
        );
        let issues = run(check, &t);
        assert_eq!(issues[0].title, "Subagent timeout: tester-8-1");
        assert!(issues[0].description.contains("after 120.0s"));
    }

    #[test]
    fn does_not_trip_on_completion() {
        let mut t = Trace::new();
        t.iter(8).push(
            EventKind::SubagentComplete,
            &[(keys::AGENT_ID, "tester-8-1".into())],
        );
        assert!(run(check, &t).is_empty());
    }
}
