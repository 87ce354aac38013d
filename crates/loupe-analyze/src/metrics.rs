//! Per-session [`Metrics`] (design §4 `metrics`).
//!
//! Counting rules (docs/analysis.md, "Metrics"):
//! * `iterations`: distinct main-agent iteration numbers (explicit, or inferred
//!   by [`crate::session`]); subagent activity never counts.
//! * `llm_calls`: `llm_response` + `llm_error` + `think` events of every agent.
//!   An `llm_request` without an answer is not a call (it shows as running in the tree).
//! * `tool_calls`: `tool_end` + `tool_error` of every agent; a `tool_start`
//!   without an end is not counted (it shows as running in the tree).
//! * `tool_errors`: `tool_error`, or `tool_end` whose status is a failure
//!   (`error`, `failed`, `timeout`, `blocked`, `denied`).
//! * `errors`: tool errors + failed LLM calls (`llm_error`, or a response
//!   with a failure status or an error) + `error` events + subagent errors
//!   and timeouts + failed workflow nodes + a failed workflow.
//! * tokens: summed usage of every LLM call, OpenTelemetry semantics.
//! * `cost_usd`: reported cost per call, else priced; unpriced calls add 0 and
//!   their models are listed in `unpriced_models`.
//! * `compactions`: `compaction_end` (or `compaction_start` when no end is recorded).
//! * `subagents`: distinct subagent ids (spawn, link, completion records and `agent.id`).

use loupe_model::TokenTotals;

use crate::facts::Facts;
use crate::pricing::PriceTable;
use crate::{Metrics, Session};

/// Metrics of one session priced with `prices`.
pub fn metrics(session: &Session, prices: &PriceTable) -> Metrics {
    compute(&Facts::build(session, prices))
}

pub(crate) fn compute(f: &Facts<'_>) -> Metrics {
    let mut tokens = TokenTotals::default();
    let mut cost = f.extra_cost_usd;
    let mut llm_errors = 0u64;
    for c in &f.llm {
        tokens += &c.usage;
        cost += c.cost_usd;
        llm_errors += u64::from(c.failed);
    }
    let tool_errors = f.tools.iter().filter(|t| t.failed).count() as u64;
    Metrics {
        iterations: f.iterations.len() as u64,
        llm_calls: f.llm.len() as u64,
        tool_calls: f.tools.len() as u64,
        tool_errors,
        errors: tool_errors + llm_errors + f.error_events + f.subagent_errors + f.failed_nodes,
        cache_hit_rate: tokens.cache_hit_rate(),
        tokens,
        cost_usd: cost,
        unpriced_models: f.unpriced_models.iter().cloned().collect(),
        compactions: f.compactions,
        subagents: f.subagent_ids.len() as u64,
    }
}

/// LLM use per model, by name. Cost not tied to a call goes to `main_model`.
pub(crate) fn by_model(f: &Facts<'_>, main_model: Option<&str>) -> Vec<crate::ModelUsage> {
    let mut by: std::collections::BTreeMap<&str, crate::ModelUsage> =
        std::collections::BTreeMap::new();
    for c in &f.llm {
        let name = c.model.unwrap_or("");
        let m = by.entry(name).or_insert_with(|| crate::ModelUsage {
            model: name.to_owned(),
            ..Default::default()
        });
        m.llm_calls += 1;
        m.input_tokens += c.usage.input();
        m.output_tokens += c.usage.output();
        m.cost_usd += c.cost_usd;
    }
    if f.extra_cost_usd != 0.0 {
        let name = main_model.unwrap_or("");
        by.entry(name)
            .or_insert_with(|| crate::ModelUsage {
                model: name.to_owned(),
                ..Default::default()
            })
            .cost_usd += f.extra_cost_usd;
    }
    by.into_values().collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Trace;
    use loupe_model::{keys, EventKind};
    use serde_json::json;

    #[test]
    fn counts_every_agent_and_prices_by_model() {
        let mut t = Trace::new();
        t.iter(1).llm(10_000, 500, 6_000, 1_000);
        t.tool("read_file", json!({"path": "a"}), 10.0);
        t.tool_err("bash", json!({"command": "x"}), "exit 1");
        t.push(EventKind::ToolStart, &[(keys::TOOL, "grep".into())]);
        t.iter(2);
        t.as_agent(Some("sub"))
            .llm_model("mystery-model", 100, 10, 0, 0);
        t.as_agent(None);
        t.push(EventKind::Error, &[(keys::ERROR, "boom".into())]);
        t.push(EventKind::CompactionEnd, &[]);
        t.push(EventKind::LlmResponse, &[(keys::COST_USD, 0.25.into())]);
        t.end("completed");
        let m = metrics(&t.session(), &PriceTable::builtin());
        assert_eq!(m.iterations, 2);
        assert_eq!(m.llm_calls, 3);
        assert_eq!(m.tool_calls, 2);
        assert_eq!(m.tool_errors, 1);
        assert_eq!(m.errors, 2);
        assert_eq!(m.tokens.input_tokens, 10_100);
        assert_eq!(m.tokens.cache_read_tokens, 6_000);
        assert!((m.cache_hit_rate - 6_000.0 / 10_100.0).abs() < 1e-12);
        let sonnet = (3_000.0 * 3.0 + 6_000.0 * 0.3 + 1_000.0 * 3.75 + 500.0 * 15.0) / 1e6;
        assert!(
            (m.cost_usd - (sonnet + 0.25)).abs() < 1e-12,
            "{}",
            m.cost_usd
        );
        assert_eq!(m.unpriced_models, vec!["mystery-model".to_owned()]);
        assert_eq!(m.compactions, 1);
        assert_eq!(m.subagents, 1);
    }

    #[test]
    fn a_response_without_a_model_is_priced_by_its_request() {
        let mut t = Trace::new();
        t.push(
            EventKind::SessionStart,
            &[(keys::MODEL, "claude-sonnet-4-5".into())],
        );
        t.iter(1);
        for model in ["gpt-4o-mini", "my-unknown"] {
            t.push(EventKind::LlmRequest, &[(keys::MODEL, model.into())]);
            let e = t.push(EventKind::LlmResponse, &[]);
            e.set_usage(&loupe_model::TokenUsage::otel(1_000_000, 0));
        }
        let m = metrics(&t.session(), &PriceTable::builtin());
        let mini = PriceTable::builtin().lookup("gpt-4o-mini").unwrap().input;
        assert!((m.cost_usd - mini).abs() < 1e-9, "{}", m.cost_usd);
        assert_eq!(m.unpriced_models, vec!["my-unknown".to_owned()]);
    }

    #[test]
    fn empty_session_is_all_zero() {
        let m = metrics(&Trace::new().session(), &PriceTable::builtin());
        assert_eq!(m, Metrics::default());
    }
}
