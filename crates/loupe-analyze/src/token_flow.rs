//! Token flow per iteration, cache rating, trend and peak.
//!
//! Subagent LLM calls are booked under the parent iteration that spawned them
//! (`agent.spawned_at_iteration`), else under the main agent's iteration
//! running when they started, else under iteration 0 ("outside any
//! iteration"). Costs reported outside LLM calls (attoswarm `cost_delta`)
//! are booked in their iteration's row, so the rows add up to the session's
//! cost. Hit rate is `cache_read / input` (OpenTelemetry semantics).
//! Trend follows attocode-ts (seed-formats.md §1.5): with ≥ 3 rows, the mean
//! input of the second half vs the first half, ±20%.

use std::collections::BTreeMap;

use loupe_model::TokenTotals;

use crate::facts::Facts;
use crate::{CacheRating, TokenFlow, TokenFlowRow, Trend};

pub(crate) fn compute(f: &Facts<'_>) -> TokenFlow {
    let mut buckets: BTreeMap<u32, (TokenTotals, f64)> = BTreeMap::new();
    let mut all = TokenTotals::default();
    // When the main agent's iterations started, to book a subagent call
    // that names no parent iteration under the one running when it started.
    let mut main_starts: Vec<(loupe_model::Timestamp, u32)> = f
        .main_llm()
        .filter_map(|c| Some((c.event.start_time(), c.iteration?)))
        .collect();
    main_starts.sort_unstable();
    let running_at = |t: loupe_model::Timestamp| {
        let after = main_starts.partition_point(|(start, _)| *start <= t);
        after.checked_sub(1).map(|i| main_starts[i].1)
    };
    for c in &f.llm {
        let it = match c.iteration {
            Some(i) => i,
            None => c
                .event
                .agent
                .as_ref()
                .and_then(|a| a.spawned_at_iteration)
                .or_else(|| c.agent.and_then(|_| running_at(c.event.start_time())))
                .unwrap_or(0),
        };
        let b = buckets.entry(it).or_default();
        b.0 += &c.usage;
        b.1 += c.cost_usd;
        all += &c.usage;
    }
    // Costs reported outside LLM calls (`cost_delta`) belong to the session's
    // total, so they go in their iteration's row too: the rows add up to it.
    for &(iteration, cost) in f.extra_costs.iter().filter(|(_, c)| *c > 0.0) {
        buckets.entry(iteration.unwrap_or(0)).or_default().1 += cost;
    }
    let mut rows = Vec::with_capacity(buckets.len());
    let (mut cum_cost, mut cum_tokens) = (0.0, 0u64);
    for (iteration, (tokens, cost)) in buckets {
        cum_cost += cost;
        cum_tokens = cum_tokens.saturating_add(tokens.total());
        rows.push(TokenFlowRow {
            iteration,
            cache_hit_rate: tokens.cache_hit_rate(),
            tokens,
            cost_usd: cost,
            cumulative_cost_usd: cum_cost,
            cumulative_tokens: cum_tokens,
        });
    }
    let reports_cache = f.llm.iter().any(|c| c.usage.reports_cache());
    let (cache_rating, recommendation) = rate_cache(&all, reports_cache);
    TokenFlow {
        cache_boundary: cache_boundary(f),
        trend: trend(&rows),
        peak_iteration: rows
            .iter()
            .fold(None::<&TokenFlowRow>, |best, r| match best {
                Some(b) if b.tokens.total() >= r.tokens.total() => Some(b),
                _ => Some(r),
            })
            .map(|r| r.iteration),
        rows,
        cache_rating,
        recommendation,
    }
}

/// The cache boundary tracker over the main agent's calls that report
/// tokens, in order; `None` when none of them reports cache counts.
fn cache_boundary(f: &Facts<'_>) -> Option<crate::CacheBoundaryStats> {
    let calls = || f.main_llm().filter(|c| !c.usage.is_empty());
    if !calls().any(|c| c.usage.reports_cache()) {
        return None;
    }
    let mut tracker = crate::CacheBoundaryTracker::default();
    for c in calls() {
        tracker.record(&c.usage);
    }
    Some(tracker.stats())
}

/// Cache verdict and what to do about it.
pub(crate) fn rate_cache(t: &TokenTotals, reports_cache: bool) -> (CacheRating, String) {
    if t.input_tokens == 0 && t.total_only_tokens > 0 {
        return (
            CacheRating::Unreported,
            "Tokens are reported only as totals, without the input/output split, so cache use is unknown: record input, output and cache counts to judge it.".to_owned(),
        );
    }
    if t.input_tokens == 0 {
        return (
            CacheRating::None,
            "No LLM input was recorded, so there is nothing to cache.".to_owned(),
        );
    }
    if !reports_cache {
        return (
            CacheRating::Unreported,
            "No call reports cache reads or writes, so cache use is unknown: record them (gen_ai.usage.cache_read.input_tokens, cache_creation.input_tokens) to judge it.".to_owned(),
        );
    }
    let hit = t.cache_hit_rate();
    let pct = hit * 100.0;
    if hit >= 0.7 {
        (
            CacheRating::Good,
            format!("{pct:.0}% of prompt tokens came from the cache. Keep the system prompt, tool definitions and early messages stable to preserve it."),
        )
    } else if hit >= 0.4 {
        (
            CacheRating::Fair,
            format!("{pct:.0}% of prompt tokens came from the cache. Move changing content (timestamps, tool results, summaries) after the stable prefix and avoid editing earlier messages."),
        )
    } else if t.cache_read_tokens == 0 && t.cache_write_tokens == 0 {
        (
            CacheRating::Poor,
            "No prompt caching was reported. Enable prompt caching (Anthropic cache_control breakpoints, or a provider with automatic prefix caching) and keep the prompt prefix stable.".to_owned(),
        )
    } else {
        (
            CacheRating::Poor,
            format!("Only {pct:.0}% of prompt tokens came from the cache. Something invalidates the prefix between calls: look for dynamic content in the system prompt, reordered tools, or compactions rewriting early messages."),
        )
    }
}

fn trend(rows: &[TokenFlowRow]) -> Trend {
    if rows.len() < 3 {
        return Trend::Stable;
    }
    let mid = rows.len() / 2;
    let mean = |r: &[TokenFlowRow]| {
        r.iter().map(|x| x.tokens.input_tokens as f64).sum::<f64>() / r.len() as f64
    };
    let (first, second) = (mean(&rows[..mid]), mean(&rows[mid..]));
    if first <= 0.0 {
        return if second > 0.0 {
            Trend::Increasing
        } else {
            Trend::Stable
        };
    }
    let change = (second - first) / first;
    if change > 0.2 {
        Trend::Increasing
    } else if change < -0.2 {
        Trend::Decreasing
    } else {
        Trend::Stable
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::pricing::PriceTable;
    use crate::testing::Trace;

    #[test]
    fn a_subagent_call_naming_no_parent_iteration_books_under_the_running_one() {
        let mut t = Trace::new();
        t.iter(1).llm(1000, 100, 0, 0);
        t.iter(2).llm(2000, 100, 0, 0);
        t.no_iter().as_agent(Some("sub")).llm(500, 50, 0, 0);
        t.as_agent(None).iter(3).llm(4000, 200, 0, 0);
        let s = t.session();
        let f = Facts::build(&s, &PriceTable::builtin());
        let flow = compute(&f);
        let rows: Vec<(u32, u64)> = flow
            .rows
            .iter()
            .map(|r| (r.iteration, r.tokens.input_tokens))
            .collect();
        // Not a row 0 ahead of iteration 1: it ran during iteration 2.
        assert_eq!(rows, [(1, 1000), (2, 2500), (3, 4000)]);
    }

    #[test]
    fn rows_cumulate_and_subagents_book_under_their_spawn_iteration() {
        let mut t = Trace::new();
        t.iter(1).llm(1000, 100, 0, 1000);
        t.iter(2).llm(2000, 100, 1500, 0);
        t.no_iter().as_agent(Some("sub")).llm(500, 50, 0, 0);
        t.as_agent(None).iter(3).llm(4000, 200, 3800, 0);
        let mut s = t.session();
        for e in &mut s.events {
            if let Some(a) = &mut e.agent {
                a.spawned_at_iteration = Some(2);
            }
        }
        let f = Facts::build(&s, &PriceTable::builtin());
        let flow = compute(&f);
        assert_eq!(flow.rows.len(), 3);
        assert_eq!(flow.rows[1].tokens.input_tokens, 2500);
        assert_eq!(flow.rows[2].cumulative_tokens, 1100 + 2650 + 4200);
        assert!(flow.rows[2].cumulative_cost_usd > flow.rows[1].cumulative_cost_usd);
        assert_eq!(flow.peak_iteration, Some(3));
        assert_eq!(flow.trend, Trend::Increasing);
        assert_eq!(flow.cache_rating, CacheRating::Good); // 5300 / 7500 = 0.71
    }

    #[test]
    fn rows_add_up_to_the_session_cost_with_costs_reported_outside_calls() {
        let mut t = Trace::new();
        t.iter(1).llm(1000, 100, 0, 0);
        t.push(
            loupe_model::EventKind::CostDelta,
            &[("cost_usd", 0.25.into())],
        );
        t.no_iter().push(
            loupe_model::EventKind::CostDelta,
            &[("cost_usd", 0.5.into())],
        );
        let s = t.session();
        let f = Facts::build(&s, &PriceTable::builtin());
        let flow = compute(&f);
        let m = crate::metrics::compute(&f);
        let last = flow
            .rows
            .iter()
            .map(|r| r.cumulative_cost_usd)
            .fold(0.0, f64::max);
        assert!(
            (last - m.cost_usd).abs() < 1e-12,
            "{last} vs {}",
            m.cost_usd
        );
        let sum: f64 = flow.rows.iter().map(|r| r.cost_usd).sum();
        assert!((sum - m.cost_usd).abs() < 1e-12);
        assert!(flow
            .rows
            .iter()
            .any(|r| r.iteration == 0 && (r.cost_usd - 0.5).abs() < 1e-12));
    }

    #[test]
    fn ratings() {
        let t = |input, read| TokenTotals {
            input_tokens: input,
            cache_read_tokens: read,
            ..Default::default()
        };
        assert_eq!(rate_cache(&t(0, 0), true).0, CacheRating::None);
        assert_eq!(rate_cache(&t(100, 70), true).0, CacheRating::Good);
        assert_eq!(rate_cache(&t(100, 40), true).0, CacheRating::Fair);
        let (r, rec) = rate_cache(&t(100, 0), true);
        assert_eq!(r, CacheRating::Poor);
        assert!(rec.contains("Enable prompt caching"));
    }
}
