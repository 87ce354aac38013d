//! `compaction_frequency` (attocode-py): at least `compaction_max_in_window +
//! 1` (4) compactions with an iteration number, and some window of
//! `compaction_window` (20) iterations starting at a compaction holding more
//! than `compaction_max_in_window` (3) of them. One issue, at the first such
//! window's start; medium.

use loupe_model::EventKind;

use crate::{Issue, Severity};

use super::{issue, Ctx};

pub(crate) fn check(cx: &Ctx<'_>, out: &mut Vec<Issue>) {
    let t = cx.t;
    let mut its: Vec<u32> = cx
        .facts
        .session
        .events
        .iter()
        .filter(|e| e.kind == EventKind::CompactionEnd && !e.is_subagent())
        .filter_map(|e| e.iteration)
        .collect();
    let max = t.compaction_max_in_window as usize;
    if its.len() <= max {
        return;
    }
    its.sort_unstable();
    // Two pointers: for each start, count compactions in [start, start + window].
    let mut hi = 0;
    for lo in 0..its.len() {
        let start = its[lo];
        let end = start.saturating_add(t.compaction_window);
        hi = hi.max(lo);
        while hi < its.len() && its[hi] <= end {
            hi += 1;
        }
        let n = hi - lo;
        if n > max {
            let list: Vec<String> = its[lo..hi].iter().map(u32::to_string).collect();
            out.push(issue(
                "compaction_frequency",
                Severity::Medium,
                "Excessive compaction frequency".to_owned(),
                format!("{n} context compactions within {} iterations (from iteration {start}). Each compaction rewrites the prompt, invalidates the cache and adds latency.", t.compaction_window),
                Some(start),
                vec![format!("compactions in iterations: {}", list.join(", "))],
                "The context fills too fast: truncate or summarise large tool outputs before they enter the conversation, drop stale file contents, or raise the compaction threshold so each compaction frees more room.".to_owned(),
            ));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detectors::test_support::run;
    use crate::testing::Trace;

    #[test]
    fn trips_on_four_compactions_in_eight_iterations() {
        let mut t = Trace::new();
        for i in 1..=8 {
            t.iter(i);
            if i % 2 == 1 {
                t.push(EventKind::CompactionEnd, &[]);
            }
        }
        let issues = run(check, &t);
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].iteration, Some(1));
    }

    #[test]
    fn does_not_trip_when_compactions_are_spread_out() {
        let mut t = Trace::new();
        for i in 1..=100 {
            t.iter(i);
            if i % 25 == 0 {
                t.push(EventKind::CompactionEnd, &[]);
            }
        }
        assert!(run(check, &t).is_empty());
    }
}
