//! Efficiency scores, 0–100.
//!
//! **Loupe** ([`loupe_score`]) — five parts, documented in docs/analysis.md:
//! * cache (25): `min(cache_hit_rate / 0.7, 1) × 25`; 25 without LLM input
//!   or when no call reports cache counts (unknown is not judged);
//! * reliability (25): `(1 − min(errors / (llm_calls + tool_calls), 1)) × 25`;
//! * tool success (15): `(1 − tool_errors / tool_calls) × 15`; 15 without tools;
//! * context stability (10): `(1 − min(compactions / iterations, 1)) × 10`; 10 without iterations;
//! * issues (25): `25 − Σ severity weight` (critical 12, high 6, medium 3, low 1), at least 0.
//!
//! Rounded to one decimal.
//!
//! **attocode-py** ([`attocode_py_score`]) reproduces `SessionAnalyzer`'s
//! formula exactly (seed-formats.md §2.6) on attocode-py's own semantics:
//! its `input_tokens` is *uncached* input, so its hit rate is
//! `cache_read / (input − cache_write)` in OpenTelemetry terms.
//!
//! **attocode-ts** ([`attocode_ts_score`]) reproduces the trace viewer's
//! `calculateEfficiencyScore` (§1.5) including its iteration grouping, where
//! every `llm_request` (subagents' too) is an iteration and `errors` is always 0.

use loupe_model::EventKind;
use serde::{Deserialize, Serialize};

use crate::{Issue, Metrics, Session, Severity};

/// Which efficiency formula fills `SessionAnalysis::efficiency_score`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreModel {
    /// Loupe's own formula.
    #[default]
    Loupe,
    /// attocode-py `SessionAnalyzer`.
    AttocodePy,
    /// attocode-ts trace viewer.
    AttocodeTs,
}

impl ScoreModel {
    /// Parses `loupe`, `attocode-py`, `attocode-ts`.
    pub fn from_name(name: &str) -> Option<ScoreModel> {
        match name {
            "loupe" => Some(ScoreModel::Loupe),
            "attocode-py" => Some(ScoreModel::AttocodePy),
            "attocode-ts" => Some(ScoreModel::AttocodeTs),
            _ => None,
        }
    }

    /// The name `from_name` accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreModel::Loupe => "loupe",
            ScoreModel::AttocodePy => "attocode-py",
            ScoreModel::AttocodeTs => "attocode-ts",
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Weight of an issue in the issues part of Loupe's score.
pub fn severity_weight(s: Severity) -> f64 {
    match s {
        Severity::Critical => 12.0,
        Severity::High => 6.0,
        Severity::Medium => 3.0,
        Severity::Low => 1.0,
    }
}

/// Loupe's score from metrics and detected issues.
pub fn loupe_score(m: &Metrics, issues: &[Issue], cache_reported: bool) -> f64 {
    let cache = if m.tokens.input_tokens == 0 || !cache_reported {
        25.0
    } else {
        (m.cache_hit_rate / 0.7).min(1.0) * 25.0
    };
    let actions = m.llm_calls + m.tool_calls;
    let reliability = if actions == 0 {
        if m.errors == 0 {
            25.0
        } else {
            0.0
        }
    } else {
        (1.0 - (m.errors as f64 / actions as f64).min(1.0)) * 25.0
    };
    let tool_success = if m.tool_calls == 0 {
        15.0
    } else {
        (1.0 - (m.tool_errors as f64 / m.tool_calls as f64).min(1.0)) * 15.0
    };
    let context = if m.iterations == 0 {
        10.0
    } else {
        (1.0 - (m.compactions as f64 / m.iterations as f64).min(1.0)) * 10.0
    };
    // An incomplete trace is the recorder's report, not the agent's doing.
    let penalty: f64 = issues
        .iter()
        .filter(|i| i.category != crate::detectors::incomplete_trace::CATEGORY)
        .map(|i| severity_weight(i.severity))
        .sum();
    let issues_part = (25.0 - penalty).max(0.0);
    round1((cache + reliability + tool_success + context + issues_part).clamp(0.0, 100.0))
}

/// attocode-py's `SessionAnalyzer` efficiency score (exact, one decimal).
pub fn attocode_py_score(session: &Session) -> f64 {
    let (mut iterations, mut tool_calls, mut tool_errors, mut errors, mut compactions) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    let (mut uncached, mut cache_read, mut output) = (0u64, 0u64, 0u64);
    for e in &session.events {
        match e.kind {
            EventKind::IterationStart => iterations += 1,
            EventKind::ToolEnd => tool_calls += 1,
            EventKind::ToolError => {
                tool_calls += 1;
                tool_errors += 1;
                errors += 1;
            }
            EventKind::Error | EventKind::LlmError => errors += 1,
            EventKind::CompactionEnd => compactions += 1,
            EventKind::LlmResponse => {
                let u = e.usage();
                // attocode-py takes `input_tokens` as written, which for a
                // line read as inclusive is the whole input.
                let as_written = if e.bool("input_includes_cache") == Some(true) {
                    u.input()
                } else {
                    u.fresh_input()
                };
                uncached = uncached.saturating_add(as_written);
                cache_read = cache_read.saturating_add(u.cache_read());
                output = output.saturating_add(u.output());
            }
            _ => {}
        }
    }
    let denom = uncached.saturating_add(cache_read);
    let hit = if denom == 0 {
        0.0
    } else {
        cache_read as f64 / denom as f64
    };
    let cache = hit * 30.0;
    let error = if tool_calls > 0 {
        (1.0 - (errors as f64 / tool_calls as f64).min(1.0)) * 25.0
    } else {
        25.0
    };
    let compaction = if iterations > 0 {
        (1.0 - (compactions as f64 / iterations as f64).min(1.0)).max(0.0) * 15.0
    } else {
        15.0
    };
    let tool_success = if tool_calls > 0 {
        (1.0 - tool_errors as f64 / tool_calls as f64).max(0.0) * 20.0
    } else {
        20.0
    };
    let token = if denom > 0 {
        (output as f64 / denom as f64).min(1.0) * 10.0
    } else {
        5.0
    };
    round1(cache + error + compaction + tool_success + token)
}

/// attocode-ts viewer's efficiency score (integer-valued).
pub fn attocode_ts_score(session: &Session) -> f64 {
    // Their grouping: each llm.request opens an iteration (reusing an open one
    // that has no response yet); a response fills it. Subagent calls included.
    let mut iterations = 0u64;
    let mut open_without_llm = false;
    let mut hits: Vec<f64> = Vec::new();
    for e in &session.events {
        match e.kind {
            EventKind::LlmRequest if !open_without_llm => {
                iterations += 1;
                open_without_llm = true;
            }
            EventKind::LlmResponse => {
                if !open_without_llm {
                    iterations += 1;
                }
                open_without_llm = false;
                hits.push(e.usage().cache_hit_rate().unwrap_or(0.0));
            }
            _ => {}
        }
    }
    let avg = if hits.is_empty() {
        0.0
    } else {
        hits.iter().sum::<f64>() / hits.len() as f64
    };
    let mut score = 100.0;
    if iterations > 5 {
        score -= ((iterations - 5) as f64 * 4.0).min(20.0);
    }
    if avg < 0.5 {
        // JavaScript Math.round: half rounds up.
        score -= ((0.5 - avg) * 40.0 + 0.5).floor();
    }
    if avg > 0.7 {
        score += 5.0;
    }
    f64::clamp(score, 0.0, 100.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Trace;
    use loupe_model::{keys, TokenTotals};
    use serde_json::json;

    fn issue(sev: Severity) -> Issue {
        Issue {
            category: "x".into(),
            severity: sev,
            title: String::new(),
            description: String::new(),
            iteration: None,
            evidence: vec![],
            suggestion: String::new(),
        }
    }

    #[test]
    fn loupe_score_parts() {
        assert_eq!(loupe_score(&Metrics::default(), &[], true), 100.0);
        let m = Metrics {
            iterations: 4,
            llm_calls: 4,
            tool_calls: 4,
            tool_errors: 2,
            errors: 2,
            tokens: TokenTotals {
                input_tokens: 1000,
                cache_read_tokens: 350,
                ..Default::default()
            },
            cache_hit_rate: 0.35,
            compactions: 1,
            ..Default::default()
        };
        // cache 12.5 + reliability 18.75 + tools 7.5 + context 7.5 + issues 25-6-3
        let s = loupe_score(&m, &[issue(Severity::High), issue(Severity::Medium)], true);
        assert_eq!(s, 62.3);
        // Unreported cache counts are not judged: the cache part is whole.
        let s = loupe_score(&m, &[issue(Severity::High), issue(Severity::Medium)], false);
        assert_eq!(s, 74.8);
        // A report of missing events is not the agent's: it weighs nothing.
        let mut incomplete = issue(Severity::High);
        incomplete.category = crate::detectors::incomplete_trace::CATEGORY.into();
        let with_report = [issue(Severity::High), issue(Severity::Medium), incomplete];
        assert_eq!(loupe_score(&m, &with_report, true), 62.3);
    }

    #[test]
    fn attocode_py_score_matches_their_worked_example() {
        // seed-formats §2.6 healthy sample: 23.66 + 21.43 + 12.5 + 17.14 + 0.42 = 75.2
        let mut t = Trace::new();
        // token sums (attocode-py additive): uncached 10000, cache_read 37300, cache_write 9400, output 2010
        for i in 1..=6u32 {
            t.iter(i);
        }
        t.llm(10_000 + 37_300 + 9_400, 2_010, 37_300, 9_400);
        for _ in 0..6 {
            t.tool("read_file", json!({}), 1.0);
        }
        t.tool_err("bash", json!({}), "exit 1");
        t.push(loupe_model::EventKind::CompactionEnd, &[]);
        assert_eq!(attocode_py_score(&t.session()), 75.2);
    }

    #[test]
    fn attocode_ts_score_counts_subagent_calls_as_iterations() {
        let mut t = Trace::new();
        t.no_iter();
        for _ in 0..5 {
            t.llm(1000, 10, 900, 0);
        }
        assert_eq!(attocode_ts_score(&t.session()), 100.0); // 5 its, avg 0.9 → +5 capped
        t.as_agent(Some("sub")).llm(1000, 10, 0, 0);
        // 6 iterations (−4), avg 0.75 (+5) → 100
        assert_eq!(attocode_ts_score(&t.session()), 100.0);
        t.llm(1000, 10, 0, 0).llm(1000, 10, 0, 0);
        // 8 its (−12), avg 4.5/8=0.5625 → 88
        assert_eq!(attocode_ts_score(&t.session()), 88.0);
        let mut empty = Trace::new();
        empty.push(
            loupe_model::EventKind::SessionEnd,
            &[(keys::STATUS, "failed".into())],
        );
        assert_eq!(attocode_ts_score(&empty.session()), 80.0);
    }

    #[test]
    fn score_model_names_round_trip() {
        for m in [
            ScoreModel::Loupe,
            ScoreModel::AttocodePy,
            ScoreModel::AttocodeTs,
        ] {
            assert_eq!(ScoreModel::from_name(m.as_str()), Some(m));
            assert_eq!(serde_json::to_value(m).unwrap(), json!(m.as_str()));
        }
        assert_eq!(ScoreModel::from_name("nope"), None);
    }
}
