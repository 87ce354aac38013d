//! Comparing two sessions, or two groups of runs (baseline A vs candidate B).
//!
//! Each metric gets a [`MetricDelta`] (B − A) with a direction. A metric
//! *regresses* when it moved the wrong way by more than its threshold
//! (attocode-ts `compareSessions` thresholds, seed-formats.md §1.5, plus
//! Loupe's): iterations more than +2, cost more than +$0.01, cache hit rate
//! down more than 0.10, any increase in errors, total tokens / duration / tool
//! calls up more than 20%, efficiency down more than 10 points, any drop of
//! the success rate (the share of runs that completed, a run without an end
//! counting as not completed: a run that failed or crashed early looks
//! cheaper and faster, so its outcome is compared too). For groups the
//! medians are compared (the mean for the success rate) and, when both
//! groups have at least `min_group_runs` (4) runs, the shift must also be
//! significant: a two-sided Mann–Whitney U test (exact up to 8 vs 8 runs,
//! else the normal approximation with tie and continuity correction) with
//! p < `alpha` (0.05) — so one noisy run does not fail CI. Smaller groups
//! are judged on their medians alone (3 vs 3 runs can never reach p < 0.05:
//! at best 0.10, so testing them would make the gate unable to fail).
//!
//! Per-tool and per-workflow-node slowdowns: mean duration in B above A by
//! more than `slowdown_threshold_ms` (500 ms, Victor's node-regression
//! threshold) and by more than `slowdown_relative` (20%). Node durations come
//! from the span tree, so analyses made with `summary_only` have none.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{SessionAnalysis, SpanKind, SpanNode};

/// Thresholds for [`compare_sessions`] / [`compare_groups`].
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CompareConfig {
    /// Iterations: absolute change.
    pub iterations_abs: f64,
    /// Cost: absolute change in USD.
    pub cost_abs_usd: f64,
    /// Cache hit rate: absolute change (0–1).
    pub cache_hit_rate_abs: f64,
    /// Errors: absolute change (strictly above).
    pub errors_abs: f64,
    /// Tokens, duration, tool calls: relative change.
    pub relative: f64,
    /// Efficiency score: absolute change in points.
    pub efficiency_abs: f64,
    /// Success rate (share of runs that completed): absolute drop (0–1,
    /// strictly above; 0 means any drop).
    pub success_rate_abs: f64,
    /// Tool / node slowdown: minimum increase of the mean duration.
    pub slowdown_threshold_ms: f64,
    /// Tool / node slowdown: minimum relative increase.
    pub slowdown_relative: f64,
    /// Significance level of the Mann–Whitney test for groups.
    pub alpha: f64,
    /// Groups smaller than this are judged on medians alone.
    pub min_group_runs: usize,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            iterations_abs: 2.0,
            cost_abs_usd: 0.01,
            cache_hit_rate_abs: 0.1,
            errors_abs: 0.0,
            relative: 0.2,
            efficiency_abs: 10.0,
            success_rate_abs: 0.0,
            slowdown_threshold_ms: 500.0,
            slowdown_relative: 0.2,
            alpha: 0.05,
            min_group_runs: 4,
        }
    }
}

/// Which way a metric moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Moved the good way.
    Better,
    /// Moved the bad way.
    Worse,
    /// Did not move.
    Same,
}

/// One metric, A vs B.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricDelta {
    /// Metric name (`iterations`, `total_tokens`, `cache_hit_rate`, `cost_usd`,
    /// `errors`, `duration_ms`, `efficiency_score`, `tool_calls`).
    pub name: String,
    /// A's value (median for groups).
    pub a: f64,
    /// B's value (median for groups).
    pub b: f64,
    /// `b − a`.
    pub delta: f64,
    /// `delta / a × 100`; `None` when `a` is 0.
    pub percent_change: Option<f64>,
    /// Which way it moved.
    pub direction: Direction,
    /// Worse beyond its threshold (and significant, for groups).
    pub regression: bool,
    /// Two-sided Mann–Whitney p-value (groups only).
    pub p_value: Option<f64>,
}

/// A tool or workflow node that got slower.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slowdown {
    /// Tool name or node id.
    pub name: String,
    /// Mean duration in A (for a group, the median of its runs' means).
    pub a_avg_ms: f64,
    /// Mean duration in B (likewise).
    pub b_avg_ms: f64,
    /// `b − a`.
    pub delta_ms: f64,
    /// `delta / a × 100`.
    pub percent_change: Option<f64>,
    /// Two-sided Mann–Whitney p-value over the runs' means (groups only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
}

/// Overall verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    /// Only regressions.
    Regressed,
    /// Only improvements.
    Improved,
    /// Both.
    Mixed,
    /// Neither.
    Similar,
}

/// The result of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Runs in A.
    pub a_runs: usize,
    /// Runs in B.
    pub b_runs: usize,
    /// Per-metric deltas.
    pub metrics: Vec<MetricDelta>,
    /// Tools whose mean duration grew beyond the thresholds.
    pub tool_slowdowns: Vec<Slowdown>,
    /// Workflow nodes whose mean duration grew beyond the thresholds.
    pub node_slowdowns: Vec<Slowdown>,
    /// One line per regression (`+6 iterations (6 → 12)`).
    pub regressions: Vec<String>,
    /// One line per improvement.
    pub improvements: Vec<String>,
    /// Verdict.
    pub assessment: Assessment,
    /// True when anything regressed: `--fail-on-regression` exits 1.
    pub regressed: bool,
    /// Models with no price (and no reported cost) in either group: the
    /// cost of a run using one is unknown, so such runs are left out of
    /// `cost_usd` (and when every run of a group is, it is not compared).
    pub unpriced_models: Vec<String>,
}

/// How a metric is judged.
#[derive(Clone, Copy)]
enum Rule {
    /// Absolute threshold; `higher_is_better`.
    Abs(f64, bool),
    /// Relative threshold on `a` (lower is better).
    Rel(f64),
}

struct MetricDef {
    name: &'static str,
    get: fn(&SessionAnalysis) -> Option<f64>,
    /// How a group's values are summed up: the median, or (for 0/1
    /// outcomes, whose median says little) the mean.
    mean: bool,
    rule: fn(&CompareConfig) -> Rule,
    /// Regression / improvement wording.
    words: (&'static str, &'static str),
}

/// A run's outcome: 1 completed, else 0. A run still `running` in a
/// finished trace never wrote its end: it crashed (or was killed), which is
/// what a gate must catch, and `loupe stats` counts it the same way.
fn succeeded(s: &SessionAnalysis) -> Option<f64> {
    Some(f64::from(u8::from(
        s.status == loupe_model::SessionStatus::Completed,
    )))
}

const METRICS: &[MetricDef] = &[
    MetricDef {
        name: "success_rate",
        get: succeeded,
        mean: true,
        rule: |c| Rule::Abs(c.success_rate_abs, true),
        words: ("Lower success rate", "Higher success rate"),
    },
    MetricDef {
        name: "iterations",
        get: |s| Some(s.metrics.iterations as f64),
        mean: false,
        rule: |c| Rule::Abs(c.iterations_abs, false),
        words: ("iterations", "iterations"),
    },
    MetricDef {
        name: "total_tokens",
        get: |s| {
            s.tokens_reported()
                .then_some(s.metrics.tokens.total() as f64)
        },
        mean: false,
        rule: |c| Rule::Rel(c.relative),
        words: ("More tokens", "Fewer tokens"),
    },
    MetricDef {
        name: "cache_hit_rate",
        // Unknown, not 0%, when no call reports cache counts.
        get: SessionAnalysis::known_cache_hit_rate,
        mean: false,
        rule: |c| Rule::Abs(c.cache_hit_rate_abs, true),
        words: ("Lower cache hit rate", "Higher cache hit rate"),
    },
    MetricDef {
        name: "cost_usd",
        // Unknown, not $0, when a model has no price: such a run would
        // look cheaper than it was.
        get: |s| {
            s.known_cost_usd()
                .filter(|_| s.metrics.unpriced_models.is_empty())
        },
        mean: false,
        rule: |c| Rule::Abs(c.cost_abs_usd, false),
        words: ("Higher cost", "Lower cost"),
    },
    MetricDef {
        name: "errors",
        get: |s| Some(s.metrics.errors as f64),
        mean: false,
        rule: |c| Rule::Abs(c.errors_abs, false),
        words: ("More errors", "Fewer errors"),
    },
    MetricDef {
        name: "duration_ms",
        get: |s| s.duration_ms,
        mean: false,
        rule: |c| Rule::Rel(c.relative),
        words: ("Slower", "Faster"),
    },
    MetricDef {
        name: "efficiency_score",
        get: |s| Some(s.efficiency_score),
        mean: false,
        rule: |c| Rule::Abs(c.efficiency_abs, true),
        words: ("Lower efficiency score", "Higher efficiency score"),
    },
    MetricDef {
        name: "tool_calls",
        get: |s| Some(s.metrics.tool_calls as f64),
        mean: false,
        rule: |c| Rule::Rel(c.relative),
        words: ("More tool calls", "Fewer tool calls"),
    },
];

/// The names of the metrics a comparison judges, in its order.
pub fn compared_metrics() -> impl ExactSizeIterator<Item = &'static str> {
    METRICS.iter().map(|m| m.name)
}

/// One session's value of the compared metric `name`, as a comparison
/// reads it: `None` when it is unknown (no usage or cache counts reported,
/// an unpriced model) or `name` is no compared metric. A comparison leaves
/// out a metric unknown on either side, so a view showing the sides' own
/// values asks here rather than judging them again.
pub fn compared_value(s: &SessionAnalysis, name: &str) -> Option<f64> {
    let def = METRICS.iter().find(|m| m.name == name)?;
    (def.get)(s).filter(|v| v.is_finite())
}

fn fmt_value(name: &str, v: f64) -> String {
    match name {
        "cache_hit_rate" => format!("{:.1}%", v * 100.0),
        "success_rate" => format!("{:.0}%", v * 100.0),
        "cost_usd" => format!("${v:.4}"),
        "duration_ms" => crate::detectors::secs(v),
        "efficiency_score" => format!("{v:.1}"),
        _ => count(v),
    }
}

/// A count, or a group's median of counts (which may fall between two):
/// `6`, `6.5`, `105,498`, `293,917.5`.
fn count(v: f64) -> String {
    let whole = crate::detectors::thousands(v.abs().trunc() as u64);
    let sign = if v < 0.0 { "-" } else { "" };
    let tenths = ((v.abs().fract()) * 10.0).round() as u64;
    match tenths {
        0 => format!("{sign}{whole}"),
        10 => format!(
            "{sign}{}",
            crate::detectors::thousands(v.abs().trunc() as u64 + 1)
        ),
        t => format!("{sign}{whole}.{t}"),
    }
}

/// A p-value as the regression lines give it: `, p = 0.038`, `, p < 0.001`.
fn p_text(p: f64) -> String {
    if p < 0.001 {
        ", p < 0.001".to_owned()
    } else {
        format!(", p = {p:.3}")
    }
}

/// Drops from `a` what comparing does not read, so a group of thousands of
/// runs can be held for its medians: the timeline, and every span of the
/// tree but the workflow nodes (kept, flattened under the root, for the
/// per-node slowdowns). The comparison of pruned analyses is the same.
pub fn prune_for_comparison(a: &mut SessionAnalysis) {
    fn nodes_of(n: &mut SpanNode, out: &mut Vec<SpanNode>) {
        for mut c in std::mem::take(&mut n.children) {
            nodes_of(&mut c, out);
            if c.kind == SpanKind::Node {
                out.push(c);
            }
        }
    }
    a.timeline = Vec::new();
    let mut nodes = Vec::new();
    nodes_of(&mut a.tree, &mut nodes);
    a.tree.children = nodes;
}

/// Compares two sessions.
pub fn compare_sessions(
    a: &SessionAnalysis,
    b: &SessionAnalysis,
    cfg: &CompareConfig,
) -> Comparison {
    compare_groups(std::slice::from_ref(a), std::slice::from_ref(b), cfg)
}

/// Compares two groups of runs by their medians (with a significance test
/// when both have at least `min_group_runs` runs).
pub fn compare_groups(
    a: &[SessionAnalysis],
    b: &[SessionAnalysis],
    cfg: &CompareConfig,
) -> Comparison {
    let mut metrics = Vec::new();
    let mut regressions = Vec::new();
    let mut improvements = Vec::new();
    let grouped = a.len() >= cfg.min_group_runs && b.len() >= cfg.min_group_runs;
    for def in METRICS {
        let va: Vec<f64> = a
            .iter()
            .filter_map(def.get)
            .filter(|v| v.is_finite())
            .collect();
        let vb: Vec<f64> = b
            .iter()
            .filter_map(def.get)
            .filter(|v| v.is_finite())
            .collect();
        let summed = if def.mean { mean } else { median };
        let (Some(ma), Some(mb)) = (summed(&va), summed(&vb)) else {
            continue;
        };
        let delta = mb - ma;
        let percent_change = (ma != 0.0).then(|| delta / ma.abs() * 100.0);
        let (worse_beyond, better_beyond, higher_better) = match (def.rule)(cfg) {
            Rule::Abs(th, hb) => {
                let bad = if hb { -delta } else { delta };
                (bad > th, -bad > th, hb)
            }
            Rule::Rel(r) => {
                let rel = if ma != 0.0 {
                    delta / ma.abs()
                } else if delta > 0.0 {
                    f64::INFINITY
                } else {
                    0.0
                };
                (rel > r, -rel > r, false)
            }
        };
        let direction = if delta == 0.0 {
            Direction::Same
        } else if (delta > 0.0) == higher_better {
            Direction::Better
        } else {
            Direction::Worse
        };
        let p_value = grouped.then(|| mann_whitney_p(&va, &vb));
        let significant = p_value.is_none_or(|p| p < cfg.alpha);
        let regression = worse_beyond && significant;
        let improvement = better_beyond && significant;
        let change = format!(
            "({} → {})",
            fmt_value(def.name, ma),
            fmt_value(def.name, mb)
        );
        let p = p_value.map(p_text).unwrap_or_default();
        if regression {
            regressions.push(match def.name {
                "iterations" => format!("+{} iterations {change}{p}", count(delta)),
                _ => format!("{} {change}{p}", def.words.0),
            });
        } else if improvement {
            improvements.push(match def.name {
                "iterations" => format!("{} iterations {change}{p}", count(delta)),
                _ => format!("{} {change}{p}", def.words.1),
            });
        }
        metrics.push(MetricDelta {
            name: def.name.to_owned(),
            a: ma,
            b: mb,
            delta,
            percent_change,
            direction,
            regression,
            p_value,
        });
    }
    let tool_slowdowns = slowdowns(&tool_means(a), &tool_means(b), cfg, grouped);
    let node_slowdowns = slowdowns(&node_means(a), &node_means(b), cfg, grouped);
    for (kind, list) in [("Tool", &tool_slowdowns), ("Node", &node_slowdowns)] {
        for s in list {
            let p = s.p_value.map(p_text).unwrap_or_default();
            regressions.push(format!(
                "{kind} {} slower: {} → {} (+{}){p}",
                s.name,
                crate::detectors::secs(s.a_avg_ms),
                crate::detectors::secs(s.b_avg_ms),
                crate::detectors::secs(s.delta_ms)
            ));
        }
    }
    let assessment = match (regressions.is_empty(), improvements.is_empty()) {
        (false, true) => Assessment::Regressed,
        (true, false) => Assessment::Improved,
        (false, false) => Assessment::Mixed,
        (true, true) => Assessment::Similar,
    };
    let unpriced_models: std::collections::BTreeSet<String> = a
        .iter()
        .chain(b)
        .flat_map(|s| s.metrics.unpriced_models.iter().cloned())
        .collect();
    Comparison {
        a_runs: a.len(),
        b_runs: b.len(),
        unpriced_models: unpriced_models.into_iter().collect(),
        metrics,
        tool_slowdowns,
        node_slowdowns,
        regressed: !regressions.is_empty(),
        regressions,
        improvements,
        assessment,
    }
}

/// Mean; `None` for an empty slice.
fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Median; `None` for an empty slice.
pub(crate) fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_unstable_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}

/// Two-sided p-value of the Mann–Whitney U test; 1.0 when undefined. Exact
/// (every split of the pooled ranks, ties at their mid-ranks) while the
/// splits number at most [`EXACT_SPLITS`]: up to 8 vs 8 runs, where the
/// normal approximation is poor (with ties it put 3 vs 3 below 0.05,
/// which no 3 vs 3 can reach). Beyond, the normal approximation with tie
/// and continuity correction.
pub(crate) fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    if a.is_empty() || b.is_empty() {
        return 1.0;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    let n = pooled.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&x, &y| pooled[x].total_cmp(&pooled[y]));
    let mut rank = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && pooled[order[j]] == pooled[order[i]] {
            j += 1;
        }
        let t = (j - i) as f64;
        let avg_rank = (i + 1 + j) as f64 / 2.0; // ranks i+1 ..= j
        for &k in &order[i..j] {
            rank[k] = avg_rank;
        }
        tie_term += t * t * t - t;
        i = j;
    }
    let mu = n1 * n2 / 2.0;
    let u_of = |rank_sum: f64| rank_sum - n1 * (n1 + 1.0) / 2.0;
    let u1 = u_of(rank[..a.len()].iter().sum());
    if let Some(p) = exact_p(&rank, a.len(), (u1 - mu).abs(), &|s| (u_of(s) - mu).abs()) {
        return p;
    }
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = ((u1 - mu).abs() - 0.5).max(0.0) / var.sqrt();
    (2.0 * normal_sf(z)).min(1.0)
}

/// Splits of the pooled runs the exact test goes through at most
/// (C(16, 8) = 12,870).
const EXACT_SPLITS: u64 = 20_000;

/// The share of the ways to pick `k` of `ranks` whose distance from the
/// null mean (`distance` of their rank sum) is at least `observed`; `None`
/// when there are more than [`EXACT_SPLITS`] ways.
fn exact_p(ranks: &[f64], k: usize, observed: f64, distance: &dyn Fn(f64) -> f64) -> Option<f64> {
    let n = ranks.len();
    let mut total: u64 = 1;
    for i in 0..k as u64 {
        total = total.checked_mul(n as u64 - i)? / (i + 1);
        if total > EXACT_SPLITS * (k as u64).max(1) {
            return None;
        }
    }
    if total > EXACT_SPLITS {
        return None;
    }
    let mut pick: Vec<usize> = (0..k).collect();
    let mut as_far = 0u64;
    loop {
        let sum: f64 = pick.iter().map(|&i| ranks[i]).sum();
        // Rank sums are multiples of 0.5: compare with room for rounding.
        if distance(sum) >= observed - 1e-9 {
            as_far += 1;
        }
        // The next combination, in lexicographic order.
        let Some(i) = (0..k).rev().find(|&i| pick[i] != i + n - k) else {
            break;
        };
        pick[i] += 1;
        for j in i + 1..k {
            pick[j] = pick[j - 1] + 1;
        }
    }
    Some(as_far as f64 / total as f64)
}

/// Upper tail of the standard normal, via erfc (Abramowitz & Stegun 7.1.26,
/// absolute error < 1.5e-7 — plenty for a significance test).
fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    poly * (-x * x).exp()
}

/// Each run's mean duration of each tool (runs without a timed call of it
/// have none).
fn tool_means(runs: &[SessionAnalysis]) -> BTreeMap<String, Vec<f64>> {
    let mut m: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for t in &r.tools {
            if t.calls > 0 && t.avg_duration_ms > 0.0 && t.avg_duration_ms.is_finite() {
                m.entry(t.name.clone()).or_default().push(t.avg_duration_ms);
            }
        }
    }
    m
}

/// Each run's mean duration of each workflow node.
fn node_means(runs: &[SessionAnalysis]) -> BTreeMap<String, Vec<f64>> {
    fn walk(n: &SpanNode, m: &mut BTreeMap<String, (f64, u64)>) {
        if n.kind == SpanKind::Node {
            if let Some(d) = n.duration_ms.filter(|d| d.is_finite()) {
                let e = m.entry(n.label.clone()).or_default();
                e.0 += d;
                e.1 += 1;
            }
        }
        for c in &n.children {
            walk(c, m);
        }
    }
    let mut means: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for r in runs {
        let mut run = BTreeMap::new();
        walk(&r.tree, &mut run);
        for (name, (sum, n)) in run {
            means.entry(name).or_default().push(sum / n.max(1) as f64);
        }
    }
    means
}

/// Tools or nodes slower in B, judged like the metrics: on the median of
/// the runs' means, beyond both thresholds, and for groups significant by
/// the Mann–Whitney test over those means, so one slow run in six does not
/// make a slowdown.
fn slowdowns(
    a: &BTreeMap<String, Vec<f64>>,
    b: &BTreeMap<String, Vec<f64>>,
    cfg: &CompareConfig,
    grouped: bool,
) -> Vec<Slowdown> {
    let mut out: Vec<Slowdown> = a
        .iter()
        .filter_map(|(name, va)| {
            let vb = b.get(name)?;
            let (ma, mb) = (median(va)?, median(vb)?);
            let delta = mb - ma;
            let rel_ok = ma <= 0.0 || delta / ma > cfg.slowdown_relative;
            let p_value = grouped.then(|| mann_whitney_p(va, vb));
            let significant = p_value.is_none_or(|p| p < cfg.alpha);
            (delta > cfg.slowdown_threshold_ms && rel_ok && significant).then(|| Slowdown {
                name: name.clone(),
                a_avg_ms: ma,
                b_avg_ms: mb,
                delta_ms: delta,
                percent_change: (ma > 0.0).then(|| delta / ma * 100.0),
                p_value,
            })
        })
        .collect();
    out.sort_by(|x, y| y.delta_ms.total_cmp(&x.delta_ms));
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Trace;
    use crate::{analyze, AnalysisConfig};
    use loupe_model::EventKind;
    use serde_json::json;

    fn run(iterations: u32, cache_read: u64, bash_ms: f64) -> SessionAnalysis {
        let mut t = Trace::new();
        for i in 1..=iterations {
            t.iter(i).llm(10_000, 100, cache_read, 0);
            t.tool("bash", json!({"i": i}), bash_ms);
        }
        t.end("completed");
        analyze(&t.session(), &AnalysisConfig::default())
    }

    /// A run with a workflow whose `implement` node takes `node_ms`.
    fn workflow_run(node_ms: f64) -> SessionAnalysis {
        use loupe_model::keys;
        let mut t = Trace::new();
        t.no_iter();
        t.push(
            EventKind::WorkflowStart,
            &[(keys::WORKFLOW, "bugfix".into())],
        );
        t.push(EventKind::NodeStart, &[(keys::NODE_ID, "implement".into())]);
        t.tool("bash", json!({"c": "make"}), 100.0);
        t.push(EventKind::NodeEnd, &[(keys::NODE_ID, "implement".into())])
            .duration_ms = Some(node_ms);
        t.end("completed");
        analyze(&t.session(), &AnalysisConfig::default())
    }

    #[test]
    fn pruned_analyses_compare_as_whole_ones() {
        let a: Vec<SessionAnalysis> = [1000.0, 1100.0, 900.0, 1050.0, 950.0]
            .iter()
            .map(|&ms| workflow_run(ms))
            .collect();
        let b: Vec<SessionAnalysis> = [3000.0, 3100.0, 2900.0, 3050.0, 2950.0]
            .iter()
            .map(|&ms| workflow_run(ms))
            .collect();
        let cfg = CompareConfig::default();
        let whole = compare_groups(&a, &b, &cfg);
        assert!(!whole.node_slowdowns.is_empty(), "{whole:?}");
        let prune = |runs: &[SessionAnalysis]| -> Vec<SessionAnalysis> {
            runs.iter()
                .cloned()
                .map(|mut r| {
                    prune_for_comparison(&mut r);
                    assert!(r.timeline.is_empty());
                    r
                })
                .collect()
        };
        let pruned = compare_groups(&prune(&a), &prune(&b), &cfg);
        assert_eq!(
            serde_json::to_value(&pruned).unwrap(),
            serde_json::to_value(&whole).unwrap()
        );
    }

    #[test]
    fn one_slow_run_in_a_group_is_not_a_tool_slowdown_but_all_slow_runs_are() {
        let base: Vec<SessionAnalysis> = [3000.0, 3100.0, 2900.0, 3050.0, 2950.0, 3000.0]
            .iter()
            .map(|&ms| run(6, 7000, ms))
            .collect();
        let mut outlier = base.clone();
        outlier[2] = run(6, 7000, 70_000.0);
        let c = compare_groups(&base, &outlier, &CompareConfig::default());
        assert!(c.tool_slowdowns.is_empty(), "{:?}", c.tool_slowdowns);
        assert!(!c.regressed, "{:?}", c.regressions);
        let slower: Vec<SessionAnalysis> = [9000.0, 9100.0, 8900.0, 9050.0, 8950.0, 9000.0]
            .iter()
            .map(|&ms| run(6, 7000, ms))
            .collect();
        let c = compare_groups(&base, &slower, &CompareConfig::default());
        let bash = &c.tool_slowdowns[0];
        assert_eq!((bash.a_avg_ms, bash.b_avg_ms), (3000.0, 9000.0));
        assert!(bash.p_value.unwrap() < 0.05);
        assert!(c
            .regressions
            .iter()
            .any(|r| r.starts_with("Tool bash slower")));
    }

    #[test]
    fn a_group_median_between_two_counts_is_worded_as_it_is() {
        let a = [run(6, 7000, 100.0), run(7, 7000, 100.0)];
        let b = [run(10, 7000, 100.0), run(10, 7000, 100.0)];
        let c = compare_groups(&a, &b, &CompareConfig::default());
        assert!(
            c.regressions
                .iter()
                .any(|r| r.starts_with("+3.5 iterations (6.5 → 10)")),
            "{:?}",
            c.regressions
        );
    }

    #[test]
    fn a_run_that_failed_regresses_even_when_it_was_cheaper() {
        let a = run(6, 7000, 8000.0);
        let mut t = Trace::new();
        t.iter(1).llm(10_000, 100, 7000, 0);
        t.end("failed");
        let b = analyze(&t.session(), &AnalysisConfig::default());
        let c = compare_sessions(&a, &b, &CompareConfig::default());
        assert!(c.regressed, "{:?}", c.regressions);
        assert!(c
            .regressions
            .contains(&"Lower success rate (100% → 0%)".to_owned()));
        let rate = c.metrics.iter().find(|m| m.name == "success_rate").unwrap();
        assert_eq!((rate.a, rate.b), (1.0, 0.0));
        // Groups compare the share of runs that completed, not a median of
        // outcomes: 3 of 4 completed is 75 %.
        let groups = compare_groups(
            &[a.clone(), a.clone(), a.clone(), a.clone()],
            &[a.clone(), a.clone(), a.clone(), b],
            &CompareConfig::default(),
        );
        let rate = groups
            .metrics
            .iter()
            .find(|m| m.name == "success_rate")
            .unwrap();
        assert_eq!(rate.b, 0.75);
    }

    #[test]
    fn a_run_that_never_ended_counts_as_not_completed() {
        let a = run(2, 7000, 100.0);
        let mut t = Trace::new();
        t.iter(1).llm(10_000, 100, 7000, 0);
        let crashed = analyze(&t.session(), &AnalysisConfig::default());
        assert_eq!(crashed.status, loupe_model::SessionStatus::Running);
        let c = compare_sessions(&a, &crashed, &CompareConfig::default());
        assert!(c.regressed);
        assert!(c
            .regressions
            .iter()
            .any(|r| r.starts_with("Lower success rate")));
    }

    #[test]
    fn counts_have_separators_and_tiny_p_values_read_as_bounds() {
        assert_eq!(count(293_917.5), "293,917.5");
        assert_eq!(count(-6.0), "-6");
        assert_eq!(count(9.96), "10");
        assert_eq!(p_text(0.000_155), ", p < 0.001");
        assert_eq!(p_text(0.038), ", p = 0.038");
    }

    #[test]
    fn tokens_no_call_reported_are_unknown_not_fewer() {
        let a = run(2, 7000, 100.0);
        let mut t = Trace::new();
        t.iter(1);
        t.push(EventKind::LlmResponse, &[]);
        t.iter(2);
        t.push(EventKind::LlmResponse, &[]);
        t.end("completed");
        let b = analyze(&t.session(), &AnalysisConfig::default());
        assert_eq!(b.metrics.llm_calls, 2);
        let c = compare_sessions(&a, &b, &CompareConfig::default());
        let names: Vec<&str> = c.metrics.iter().map(|m| m.name.as_str()).collect();
        assert!(!names.contains(&"total_tokens"), "{names:?}");
        assert!(!names.contains(&"cost_usd"), "{names:?}");
        assert!(
            !c.improvements.iter().any(|i| i.contains("tokens")),
            "{:?}",
            c.improvements
        );
    }

    #[test]
    fn single_sessions_report_regressions_with_direction() {
        let a = run(6, 7000, 8000.0);
        let b = run(12, 2700, 19000.0);
        let c = compare_sessions(&a, &b, &CompareConfig::default());
        assert!(c.regressed);
        assert_eq!(c.assessment, Assessment::Regressed);
        let it = c.metrics.iter().find(|m| m.name == "iterations").unwrap();
        assert_eq!(
            (it.delta, it.direction, it.regression),
            (6.0, Direction::Worse, true)
        );
        assert_eq!(it.percent_change, Some(100.0));
        let cache = c
            .metrics
            .iter()
            .find(|m| m.name == "cache_hit_rate")
            .unwrap();
        assert!(cache.regression && cache.direction == Direction::Worse);
        assert!(c.regressions.iter().any(|r| r.starts_with("+6 iterations")));
        assert!(c
            .regressions
            .iter()
            .any(|r| r.starts_with("Lower cache hit rate")));
        assert_eq!(c.tool_slowdowns[0].name, "bash");
        // and the other way round it is an improvement, not a regression
        let back = compare_sessions(&b, &a, &CompareConfig::default());
        assert!(!back.regressed);
        assert_eq!(back.assessment, Assessment::Improved);
        let same = compare_sessions(&a, &a, &CompareConfig::default());
        assert_eq!(same.assessment, Assessment::Similar);
        assert!(same.metrics.iter().all(|m| m.direction == Direction::Same));
    }

    #[test]
    fn compared_values_are_what_a_comparison_reads_per_side() {
        let mut t = Trace::new();
        t.iter(1);
        let e = t.push(
            loupe_model::EventKind::LlmResponse,
            &[("model", "claude-sonnet-4-5".into())],
        );
        e.set_usage(&loupe_model::TokenUsage::otel(10_000, 100));
        let without_cache = analyze(&t.session(), &AnalysisConfig::default());
        let with_cache = run(2, 6000, 100.0);
        assert_eq!(compared_metrics().len(), METRICS.len());
        assert_eq!(compared_value(&without_cache, "cache_hit_rate"), None);
        assert_eq!(compared_value(&without_cache, "success_rate"), Some(0.0));
        assert_eq!(compared_value(&with_cache, "success_rate"), Some(1.0));
        assert_eq!(compared_value(&with_cache, "cache_hit_rate"), Some(0.6));
        assert_eq!(compared_value(&with_cache, "no_such_metric"), None);
        let c = compare_sessions(&with_cache, &without_cache, &CompareConfig::default());
        for m in &c.metrics {
            assert_eq!(
                compared_value(&with_cache, &m.name),
                Some(m.a),
                "{}",
                m.name
            );
            assert_eq!(
                compared_value(&without_cache, &m.name),
                Some(m.b),
                "{}",
                m.name
            );
        }
        assert!(!c.metrics.iter().any(|m| m.name == "cache_hit_rate"));
    }

    #[test]
    fn unreported_cache_counts_are_not_compared_as_zero() {
        let with_cache = run(4, 6000, 100.0);
        let mut t = Trace::new();
        for i in 1..=4 {
            t.iter(i);
            let e = t.push(
                loupe_model::EventKind::LlmResponse,
                &[("model", "claude-sonnet-4-5".into())],
            );
            // Input and output only: the format records no cache counts.
            e.set_usage(&loupe_model::TokenUsage::otel(10_000, 100));
            t.tool("bash", json!({"i": i}), 100.0);
        }
        t.end("completed");
        let without = analyze(&t.session(), &AnalysisConfig::default());
        assert_eq!(
            without.token_flow.cache_rating,
            crate::CacheRating::Unreported
        );
        for c in [
            compare_sessions(&with_cache, &without, &CompareConfig::default()),
            compare_sessions(&without, &with_cache, &CompareConfig::default()),
        ] {
            let cache = c.metrics.iter().find(|m| m.name == "cache_hit_rate");
            assert!(cache.is_none_or(|m| !m.regression), "{cache:?}");
            assert!(
                !c.regressions
                    .iter()
                    .any(|r| r.contains("cache") || r.contains("efficiency")),
                "{:?}",
                c.regressions
            );
        }
        // Reported zeros are a real loss of caching.
        let zero = run(4, 0, 100.0);
        let c = compare_sessions(&with_cache, &zero, &CompareConfig::default());
        assert!(c
            .regressions
            .iter()
            .any(|r| r.starts_with("Lower cache hit rate")));
    }

    #[test]
    fn one_noisy_run_does_not_fail_a_group() {
        let a: Vec<SessionAnalysis> = (0..5).map(|_| run(6, 7000, 100.0)).collect();
        let mut b: Vec<SessionAnalysis> = (0..4).map(|_| run(6, 7000, 100.0)).collect();
        b.push(run(14, 1000, 100.0)); // one outlier
        let c = compare_groups(&a, &b, &CompareConfig::default());
        assert!(!c.regressed, "{:?}", c.regressions);
        let all_bad: Vec<SessionAnalysis> = (0..5).map(|k| run(12 + k, 1000, 100.0)).collect();
        let c = compare_groups(&a, &all_bad, &CompareConfig::default());
        assert!(c.regressed);
        let it = c.metrics.iter().find(|m| m.name == "iterations").unwrap();
        assert!(it.p_value.unwrap() < 0.05);
    }

    #[test]
    fn mann_whitney_matches_known_values() {
        // Complete separation 5 vs 5, exact: 2 of the C(10, 5) = 252 splits.
        let p = mann_whitney_p(&[1.0, 2.0, 3.0, 4.0, 5.0], &[6.0, 7.0, 8.0, 9.0, 10.0]);
        assert!((p - 2.0 / 252.0).abs() < 1e-12, "{p}");
        // 3 vs 3 can never go below 2 / 20, ties or not.
        assert!((mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) - 0.1).abs() < 1e-12);
        assert!((mann_whitney_p(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0]) - 0.1).abs() < 1e-12);
        // 10 vs 10 (184,756 splits): the normal approximation,
        // z = (50 − 0.5) / 13.229 = 3.742, p ≈ 0.00018.
        let a: Vec<f64> = (1..=10).map(f64::from).collect();
        let b: Vec<f64> = (11..=20).map(f64::from).collect();
        let p = mann_whitney_p(&a, &b);
        assert!((p - 0.000_183).abs() < 0.000_01, "{p}");
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), 1.0);
        assert!(mann_whitney_p(&[1.0, 2.0, 3.0], &[1.5, 2.5, 3.5]) > 0.5);
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), Some(2.5));
        assert!((erfc(0.0) - 1.0).abs() < 1e-6);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-4);
    }
}
