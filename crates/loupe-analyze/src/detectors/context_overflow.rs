//! `context_overflow` (attocode-py): every `context_overflow` event. Critical.

use loupe_model::{keys, EventKind};

use crate::{Issue, Severity};

use super::{issue, thousands, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    for e in &cx.facts.session.events {
        if e.kind != EventKind::ContextOverflow {
            continue;
        }
        let detail = match (e.u64(keys::TOKENS), e.u64("limit")) {
            (Some(t), Some(l)) => format!(
                " ({} tokens against a limit of {})",
                thousands(t),
                thousands(l)
            ),
            (Some(t), None) => format!(" ({} tokens)", thousands(t)),
            _ => String::new(),
        };
        let action = e
            .str("action")
            .map(|a| format!("; the agent reacted with {a}"))
            .unwrap_or_default();
        out.push(issue(
            "context_overflow",
            Severity::Critical,
            "Context overflow".to_owned(),
            format!("The context window was exceeded{detail}{action}."),
            e.iteration,
            vec![format!("event {}", e.event_id)],
            "Compact earlier: lower the compaction threshold (e.g. to 70% of the window), truncate large tool outputs before they enter the context, and drop stale file contents once they have been edited.".to_owned(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_each_overflow_event() {
        let mut t = Trace::new();
        t.iter(7).push(
            EventKind::ContextOverflow,
            &[(keys::TOKENS, 131_000.into()), ("limit", 128_000.into())],
        );
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (issues[0].severity, issues[0].iteration),
            (Severity::Critical, Some(7))
        );
        assert!(issues[0]
            .description
            .contains("131,000 tokens against a limit of 128,000"));
    }

    #[test]
    fn does_not_trip_without_one() {
        let mut t = Trace::new();
        t.iter(1).llm(100_000, 10, 0, 0);
        assert!(run(check, &t).is_empty());
    }
}
