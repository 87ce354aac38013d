//! `incomplete_trace` (Loupe's own): the recorder said in `loupe_dropped`
//! events that this trace lacks events (its queue was full, the trace file
//! could not take them, or they could not be sent to the server). Every
//! count and cost of the session covers only what the trace holds. High;
//! it says nothing about the agent, so it weighs nothing in Loupe's score.

use std::collections::BTreeSet;

use loupe_model::{keys, EventKind};

use crate::{Issue, Severity};

use super::{issue, thousands, Ctx};

/// The category, also known to the score (which leaves it out).
pub(crate) const CATEGORY: &str = "incomplete_trace";

/// Evidence lines kept at most.
const MAX_EVIDENCE: usize = 10;

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let mut missing = 0u64;
    let mut evidence = Vec::new();
    let mut reasons = BTreeSet::new();
    for e in &cx.facts.session.events {
        if e.kind != EventKind::Dropped {
            continue;
        }
        let dropped = e.u64(keys::DROPPED).unwrap_or(0);
        if dropped == 0 {
            continue;
        }
        missing = missing.saturating_add(dropped);
        if evidence.len() < MAX_EVIDENCE {
            evidence.push(format!(
                "event {}: {} missing",
                e.event_id,
                thousands(dropped)
            ));
        }
        if let Some(message) = e.str(keys::MESSAGE) {
            reasons.insert(message);
        }
    }
    if missing == 0 {
        return;
    }
    let why = if reasons.is_empty() {
        String::new()
    } else {
        format!(": {}", reasons.into_iter().collect::<Vec<_>>().join("; "))
    };
    out.push(issue(
        CATEGORY,
        Severity::High,
        format!("{} events missing from the trace", thousands(missing)),
        format!(
            "The recorder reported {} events it could not keep{why}. Every count, token total and cost of this session covers only the events the trace holds.",
            thousands(missing)
        ),
        None,
        evidence,
        "Keep every event: record with QueueFullPolicy::Block or a larger queue_capacity when the queue fills; keep free disk space where traces are written; when events could not be sent, check that `loupe serve` is reachable or raise http_buffer_bytes (the local trace file has them).".to_owned(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_reported_losses_and_adds_them_up() {
        let mut t = Trace::new();
        t.iter(1).push(
            EventKind::Dropped,
            &[
                (keys::DROPPED, 1_869.into()),
                (keys::MESSAGE, "disk full".into()),
            ],
        );
        t.iter(2).push(
            EventKind::Dropped,
            &[
                (keys::DROPPED, 131.into()),
                (keys::MESSAGE, "queue full".into()),
            ],
        );
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].category, CATEGORY);
        assert_eq!(issues[0].title, "2,000 events missing from the trace");
        assert!(
            issues[0]
                .description
                .contains("could not keep: disk full; queue full."),
            "{}",
            issues[0].description
        );
        assert_eq!(issues[0].evidence.len(), 2);
    }

    #[test]
    fn does_not_trip_without_losses() {
        let mut t = Trace::new();
        t.iter(1)
            .push(EventKind::Dropped, &[(keys::DROPPED, 0.into())]);
        t.iter(1)
            .push(EventKind::Error, &[(keys::MESSAGE, "boom".into())]);
        assert!(run(check, &t).is_empty());
    }
}
