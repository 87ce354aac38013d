//! `empty_response` (attocode-py): an LLM response that reports 0 output
//! tokens. Low (attocode-py's code; its docs said high). attocode-py also
//! requires its `tokens` total to be 0; in OpenTelemetry semantics a
//! response with input but no output is the same symptom.

use loupe_model::EventKind;

use crate::{Issue, Severity};

use super::{issue, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    for c in &cx.facts.llm {
        if c.event.kind != EventKind::LlmResponse || c.usage.output_tokens != Some(0) {
            continue;
        }
        out.push(issue(
            "empty_response",
            Severity::Low,
            "Empty LLM response".to_owned(),
            format!("An LLM call returned 0 output tokens after {} prompt tokens{}.", super::thousands(c.usage.input()), c.event.str(loupe_model::keys::STOP_REASON).map(|s| format!(" (stop reason: {s})")).unwrap_or_default()),
            c.iteration,
            vec![format!("event {}", c.event.event_id)],
            "Check the request before this response: a prompt at the context limit, a max_tokens of 0, a stop sequence matching immediately, or a provider error returned as an empty completion. Retry with a smaller context or log the raw response.".to_owned(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_zero_output() {
        let mut t = Trace::new();
        t.iter(3).llm(4300, 0, 100, 0);
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (issues[0].severity, issues[0].iteration),
            (Severity::Low, Some(3))
        );
    }

    #[test]
    fn does_not_trip_on_output_or_unknown_output() {
        let mut t = Trace::new();
        t.iter(1).llm(4300, 5, 0, 0);
        t.push(EventKind::LlmResponse, &[]); // no usage at all: unknown, not empty
        assert!(run(check, &t).is_empty());
    }
}
