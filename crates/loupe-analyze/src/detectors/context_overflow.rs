//! `context_overflow` (attocode-py): every `context_overflow` event, and
//! every failed LLM call whose error says the prompt did not fit the window
//! (`context_length_exceeded`, "maximum context length", "prompt is too
//! long": what OpenAI, Anthropic and most gateways answer). Critical.

use loupe_model::{keys, EventKind};

use crate::{Issue, Severity};

use super::{issue, pct, thousands, Ctx};

/// Whether an LLM call's error says its prompt did not fit the window.
fn overflow_error(e: &loupe_model::Event) -> bool {
    if !matches!(e.kind, EventKind::LlmError | EventKind::LlmResponse) {
        return false;
    }
    let says = |text: &str| {
        let t = text.to_ascii_lowercase();
        [
            "context_length_exceeded",
            "maximum context length",
            "context window",
            "prompt is too long",
            "too many tokens",
        ]
        .iter()
        .any(|p| t.contains(p))
    };
    e.error_message().is_some_and(|m| says(&m)) || e.str(keys::ERROR_TYPE).is_some_and(says)
}

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    for e in &cx.facts.session.events {
        if overflow_error(e) {
            out.push(issue(
                "context_overflow",
                Severity::Critical,
                "Context overflow".to_owned(),
                format!(
                    "An LLM call failed because its prompt did not fit the context window: {}.",
                    crate::facts::truncate_chars(
                        &e.error_message()
                            .or_else(|| e.str(keys::ERROR_TYPE).map(str::to_owned))
                            .unwrap_or_default(),
                        200
                    )
                ),
                e.iteration,
                vec![format!("event {}", e.event_id)],
                format!("Compact before the window fills: lower the compaction threshold (e.g. to {} of the window), truncate large tool outputs before they enter the context, and count the prompt's tokens before each call.", pct(cx.t.context_limit_medium)),
            ));
            continue;
        }
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
            format!("Compact earlier: lower the compaction threshold (e.g. to {} of the window), truncate large tool outputs before they enter the context, and drop stale file contents once they have been edited.", pct(cx.t.context_limit_medium)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_an_llm_call_refused_for_its_length_only() {
        let mut t = Trace::new();
        t.iter(2).push(
            EventKind::LlmError,
            &[(
                keys::ERROR,
                "This model's maximum context length is 8192 tokens".into(),
            )],
        );
        t.push(
            EventKind::LlmError,
            &[(keys::ERROR_TYPE, "context_length_exceeded".into())],
        );
        t.push(
            EventKind::LlmError,
            &[(keys::ERROR, "429 rate limited".into())],
        );
        let issues = run(check, &t);
        assert_eq!(issues.len(), 2, "{issues:?}");
        assert!(issues[0].description.contains("maximum context length"));
        assert_eq!(issues[0].iteration, Some(2));
    }

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
