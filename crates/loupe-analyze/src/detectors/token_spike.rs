//! `token_spike` (attocode-py + attocode-ts, one rule): a main-agent LLM call
//! whose `input + output` is more than `token_spike_mean_factor` (2) × the
//! session mean when there are at least `token_spike_min_calls` (3) calls
//! (attocode-py), or grew by more than `token_spike_growth` (+200%) over the
//! previous call and has more than `token_spike_min_tokens` (10,000) tokens
//! (attocode-ts: `tok > 10000`). Calls without token counts are left out. One issue per
//! call, medium.

use crate::{Issue, Severity};

use super::{issue, thousands, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let t = cx.t;
    let totals: Vec<(u64, &crate::facts::LlmCall<'_>)> = cx
        .facts
        .main_llm()
        .filter(|c| !c.usage.is_empty())
        .map(|c| (c.usage.total(), c))
        .collect();
    if totals.is_empty() {
        return;
    }
    let mean = totals.iter().map(|(n, _)| *n as f64).sum::<f64>() / totals.len() as f64;
    let use_mean = totals.len() >= t.token_spike_min_calls as usize && mean > 0.0;
    let mut prev: Option<u64> = None;
    for &(tok, c) in &totals {
        let vs_mean = use_mean && tok as f64 > t.token_spike_mean_factor * mean;
        let vs_prev = prev.is_some_and(|p| {
            p > 0
                && (tok as f64 - p as f64) / p as f64 > t.token_spike_growth
                && tok > t.token_spike_min_tokens
        });
        if vs_mean || vs_prev {
            let mut evidence = vec![format!("event {}", c.event.event_id)];
            if let Some(p) = prev {
                evidence.push(format!("tokens {} → {}", thousands(p), thousands(tok)));
            }
            let ratio = if mean > 0.0 { tok as f64 / mean } else { 0.0 };
            out.push(issue(
                "token_spike",
                Severity::Medium,
                "Token usage spike".to_owned(),
                format!("This LLM call used {} tokens ({} input), {ratio:.1}× the session average of {}{}.", thousands(tok), thousands(c.usage.input()), thousands(mean.round() as u64), prev.map(|p| format!(" and up from {} on the previous call", thousands(p))).unwrap_or_default()),
                c.iteration,
                evidence,
                "Look at the tool result injected just before this call: truncate large outputs (file reads, test logs, search results) to the relevant lines, or page them, and add a context-overflow guard that summarises oversized results.".to_owned(),
            ));
        }
        prev = Some(tok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_a_call_four_times_the_mean() {
        let mut t = Trace::new();
        for (i, n) in [3200u64, 3950, 4300, 5250, 30900, 6080, 6370, 6660]
            .iter()
            .enumerate()
        {
            t.iter(i as u32 + 1).llm(*n - 100, 100, 0, 0);
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].iteration, Some(5));
        assert!(issues[0].description.contains("30,900 tokens"));
    }

    #[test]
    fn does_not_trip_on_steady_growth() {
        let mut t = Trace::new();
        for i in 1..=10u32 {
            t.iter(i).llm(1000 * u64::from(i), 100, 0, 0);
        }
        assert!(run(check, &t).is_empty());
    }

    #[test]
    fn growth_needs_more_than_the_minimum_tokens_like_attocode_ts() {
        // +233% over the previous call; two calls, so the mean rule is off.
        let spikes = |total: u64| {
            let mut t = Trace::new();
            t.iter(1).llm(2_900, 100, 0, 0);
            t.iter(2).llm(total - 100, 100, 0, 0);
            run(check, &t).len()
        };
        assert_eq!(spikes(10_000), 0, "tok > 10000, not >=");
        assert_eq!(spikes(10_001), 1);
    }
}
