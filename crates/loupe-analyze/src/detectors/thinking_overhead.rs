//! `thinking_overhead` (attocode-ts viewer): reasoning is more than
//! `thinking_overhead_ratio` (70%) of the output. Reasoning comes from
//! `usage.reasoning_tokens` (already part of output in OpenTelemetry
//! semantics), else from `thinking` events' `data.tokens` (then added to the
//! output, as in attocode-ts). Medium.

use loupe_model::{keys, EventKind};

use crate::{Issue, Severity};

use super::{issue, pct, thousands, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let (mut reasoning, mut output) = (0u64, 0u64);
    for c in &cx.facts.llm {
        reasoning = reasoning.saturating_add(c.usage.reasoning());
        output = output.saturating_add(c.usage.output());
    }
    let (thinking, total) = if reasoning > 0 {
        (reasoning, output)
    } else {
        let events: u64 = cx
            .facts
            .session
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Thinking)
            .filter_map(|e| e.u64(keys::TOKENS))
            .fold(0u64, u64::saturating_add);
        (events, events.saturating_add(output))
    };
    if total == 0 {
        return;
    }
    let ratio = thinking as f64 / total as f64;
    if ratio <= cx.t.thinking_overhead_ratio {
        return;
    }
    out.push(issue(
        "thinking_overhead",
        Severity::Medium,
        "High thinking overhead".to_owned(),
        format!("Reasoning was {} of the output ({} of {} tokens).", pct(ratio), thousands(thinking), thousands(total)),
        None,
        vec![format!("reasoning {thinking} / output {total}")],
        "Lower the thinking budget (or reasoning effort) for routine steps such as reading files and running tests, and keep extended thinking for planning and debugging turns.".to_owned(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;
    use loupe_model::TokenUsage;

    #[test]
    fn trips_when_reasoning_dominates_output() {
        let mut t = Trace::new();
        let e = t.iter(1).push(EventKind::LlmResponse, &[]);
        e.set_usage(&TokenUsage::otel(1000, 1000).with_reasoning(800));
        assert_eq!(run(check, &t).len(), 1);
        let mut t2 = Trace::new();
        t2.iter(1).llm(1000, 100, 0, 0);
        t2.push(EventKind::Thinking, &[(keys::TOKENS, 400.into())]);
        assert_eq!(run(check, &t2).len(), 1); // 400 / 500
    }

    #[test]
    fn does_not_trip_on_moderate_reasoning() {
        let mut t = Trace::new();
        let e = t.iter(1).push(EventKind::LlmResponse, &[]);
        e.set_usage(&TokenUsage::otel(1000, 1000).with_reasoning(500));
        assert!(run(check, &t).is_empty());
    }
}
