//! `context_limit_warning` (attocode-ts viewer, fixed): the largest single
//! main-agent prompt is above `context_limit_critical` (90%, critical) or
//! `context_limit_medium` (70%, medium) of the model's context window (from
//! the price table, else `default_context_window`, 200k). attocode-ts compares
//! the *sum* of all prompts with 200k, which flags any long session.

use crate::{Issue, Severity};

use super::{issue, pct, thousands, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let Some(peak) = cx.facts.main_llm().max_by_key(|c| c.usage.input()) else {
        return;
    };
    let input = peak.usage.input();
    let window = peak
        .model
        .and_then(|m| cx.prices.context_window(m))
        .unwrap_or(cx.t.default_context_window);
    if window == 0 {
        return;
    }
    let used = input as f64 / window as f64;
    let sev = if used > cx.t.context_limit_critical {
        Severity::Critical
    } else if used > cx.t.context_limit_medium {
        Severity::Medium
    } else {
        return;
    };
    out.push(issue(
        "context_limit_warning",
        sev,
        format!("Context window {} full", pct(used)),
        format!("The largest prompt had {} tokens, {} of {}'s {}-token window.", thousands(input), pct(used), peak.model.unwrap_or("the model"), thousands(window)),
        peak.iteration,
        vec![format!("event {}", peak.event.event_id)],
        "Compact or trim before the window fills: summarise old tool results, keep only the file regions being edited, and set the compaction trigger well below the window so a large tool result cannot overflow it.".to_owned(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_a_prompt_near_the_window() {
        let mut t = Trace::new();
        t.iter(1).llm_model("gpt-4o", 20_000, 10, 0, 0);
        t.iter(2).llm_model("gpt-4o", 120_000, 10, 0, 0); // 94% of 128k
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(
            (issues[0].severity, issues[0].iteration),
            (Severity::Critical, Some(2))
        );
    }

    #[test]
    fn gpt_4_turbo_preview_ids_use_the_128k_window_not_gpt_4s_8k() {
        let mut t = Trace::new();
        for model in ["gpt-4-1106-preview", "gpt-4-0125-preview"] {
            t.iter(1).llm_model(model, 20_000, 10, 0, 0); // 244% of 8k, 16% of 128k
        }
        assert!(run(check, &t).is_empty());
    }

    #[test]
    fn does_not_trip_on_many_small_prompts_summing_past_the_window() {
        let mut t = Trace::new();
        for i in 1..=12 {
            t.iter(i).llm_model("gpt-4o", 30_000, 10, 0, 0);
        }
        assert!(run(check, &t).is_empty());
    }
}
