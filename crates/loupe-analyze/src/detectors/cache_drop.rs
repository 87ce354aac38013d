//! `cache_drop` (attocode-py `cache_drop` + attocode-ts "cache invalidation"):
//! between two consecutive LLM calls **of the same agent** with input, the
//! previous hit rate was above 0 and fell by more than `cache_drop` (0.5,
//! absolute), or it was above `cache_invalidation_prev` (0.6) and the new one
//! is below `cache_invalidation_cur` (0.2). A call without input resets the
//! comparison (attocode-py). attocode-ts compares across agents, so a
//! subagent's first call looks like a parent cache drop; Loupe does not.
//! Hit rate = `cache_read / input` (OpenTelemetry).

use crate::HashMap;

use crate::{Issue, Severity};

use super::{issue, pct, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let t = cx.t;
    let mut prev: HashMap<Option<&str>, f64> = HashMap::default();
    for c in &cx.facts.llm {
        let Some(rate) = c.usage.cache_hit_rate() else {
            prev.remove(&c.agent);
            continue;
        };
        if let Some(&p) = prev.get(&c.agent) {
            let dropped = p > 0.0
                && (p - rate > t.cache_drop
                    || (p > t.cache_invalidation_prev && rate < t.cache_invalidation_cur));
            if dropped {
                let who = c
                    .agent
                    .map(|a| format!(" (subagent {a})"))
                    .unwrap_or_default();
                out.push(issue(
                    "cache_drop",
                    Severity::Medium,
                    "Cache hit rate dropped significantly".to_owned(),
                    format!("Cache hit rate dropped from {} to {} between consecutive LLM calls{who}: the cached prompt prefix was invalidated and {} prompt tokens were processed uncached.", pct(p), pct(rate), super::thousands(c.usage.fresh_input() + c.usage.cache_write())),
                    c.iteration,
                    vec![format!("event {}", c.event.event_id), format!("hit rate {} → {}", pct(p), pct(rate))],
                    "Find what changed in the prompt prefix before this call: a compaction or summary rewriting early messages, a timestamp or other dynamic text in the system prompt, or reordered/changed tool definitions. Keep the prefix byte-identical and append new content at the end.".to_owned(),
                ));
            }
        }
        prev.insert(c.agent, rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_a_drop_from_79_to_2_percent() {
        let mut t = Trace::new();
        t.iter(1).llm(3000, 10, 0, 0);
        t.iter(2).llm(3800, 10, 3000, 0);
        t.iter(3).llm(4300, 10, 100, 0);
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].iteration, Some(3));
        assert!(issues[0].description.contains("from 79% to 2%"));
    }

    #[test]
    fn does_not_trip_on_small_drops_or_on_a_subagent_cold_start() {
        let mut t = Trace::new();
        t.iter(1).llm(1000, 10, 800, 0);
        t.iter(2).llm(1000, 10, 500, 0); // −0.3 with cur ≥ 0.2
        t.as_agent(Some("sub")).llm(1000, 10, 0, 0); // cold subagent cache
        t.as_agent(None).iter(3).llm(1000, 10, 700, 0);
        assert!(run(check, &t).is_empty());
    }
}
