//! `cache_inefficiency` (attocode-ts viewer and `/trace --analyze`): the
//! main agent's hit rate is below `cache_high_rate` (0.3) with more than
//! `cache_high_min_iterations` (2) iterations → high; else below
//! `cache_medium_rate` (0.5) with more than `cache_medium_min_iterations` (3)
//! → medium. Loupe uses the token-weighted rate (`Σ cache_read / Σ input`)
//! instead of attocode-ts's unweighted mean of per-iteration rates, and only
//! judges traces that report cache counts at all (otherwise caching is
//! unknown, not bad).

use crate::{Issue, Severity};

use super::{issue, pct, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let t = cx.t;
    let (mut input, mut read, mut reports_cache) = (0u64, 0u64, false);
    for c in cx.facts.main_llm() {
        input = input.saturating_add(c.usage.input());
        read = read.saturating_add(c.usage.cache_read());
        reports_cache |=
            c.usage.cache_read_tokens.is_some() || c.usage.cache_write_tokens.is_some();
    }
    if input == 0 || !reports_cache {
        return;
    }
    let rate = read as f64 / input as f64;
    let its = cx.facts.iterations.len() as u32;
    let sev = if rate < t.cache_high_rate && its > t.cache_high_min_iterations {
        Severity::High
    } else if rate < t.cache_medium_rate && its > t.cache_medium_min_iterations {
        Severity::Medium
    } else {
        return;
    };
    out.push(issue(
        "cache_inefficiency",
        sev,
        format!("Low cache hit rate: {}", pct(rate)),
        format!("Only {} of the main agent's {} prompt tokens were read from the cache over {its} iterations; multi-iteration sessions should reach {} or more.", pct(rate), super::thousands(input), pct(t.cache_medium_rate)),
        None,
        vec![format!("cache_read {read} / input {input}")],
        "Put the stable parts first (system prompt, tool definitions, task), mark a cache breakpoint after them (Anthropic cache_control) and never edit earlier messages; append tool results at the end instead of re-rendering the conversation.".to_owned(),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::{run, run_with};
    use crate::detectors::Thresholds;
    use crate::testing::Trace;

    #[test]
    fn trips_high_below_30_percent() {
        let mut t = Trace::new();
        for i in 1..=4 {
            t.iter(i).llm(10_000, 100, 2_000, 1_000);
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].severity, Severity::High);
        assert!(issues[0].title.contains("20%"));
    }

    #[test]
    fn does_not_trip_on_good_cache_short_sessions_or_unreported_cache() {
        let mut good = Trace::new();
        for i in 1..=4 {
            good.iter(i).llm(10_000, 100, 8_000, 0);
        }
        assert!(run(check, &good).is_empty());
        let mut short = Trace::new();
        short
            .iter(1)
            .llm(10_000, 100, 0, 0)
            .iter(2)
            .llm(10_000, 100, 0, 0);
        assert!(run(check, &short).is_empty());
        let mut unknown = Trace::new();
        for i in 1..=5 {
            let e = unknown
                .iter(i)
                .push(loupe_model::EventKind::LlmResponse, &[]);
            e.set_usage(&loupe_model::TokenUsage::otel(5000, 10));
        }
        assert!(run(check, &unknown).is_empty());
    }

    #[test]
    fn the_description_names_the_configured_rate() {
        let mut t = Trace::new();
        for i in 1..=5 {
            t.iter(i).llm(10_000, 100, 6_000, 0); // 60% hit
        }
        let strict = Thresholds {
            cache_medium_rate: 0.8,
            ..Thresholds::default()
        };
        let issues = run_with(check, &t, &strict);
        assert!(
            issues[0].description.contains("should reach 80% or more"),
            "{}",
            issues[0].description
        );
    }
}
