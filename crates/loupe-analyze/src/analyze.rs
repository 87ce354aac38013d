//! [`analyze()`]: everything Loupe computes about one session, from one
//! extraction pass ([`crate::facts`]) plus the tree and timeline passes.

use crate::detectors::{self, Thresholds};
use crate::facts::Facts;
use crate::pricing::PriceTable;
use crate::score::{attocode_py_score, attocode_ts_score, loupe_score, ScoreModel};
use crate::{metrics, token_flow, tools, NodeStatus, Session, SessionAnalysis, SpanKind, SpanNode};
use loupe_model::{keys, EventKind, SessionStatus, UnreadMember};

/// Payload members [`analyze()`] never reads: tool results. (Tool arguments
/// are read, from a call's end event or else its start: the recorder and
/// OTLP give them on the start only.) `loupe analyze` lets readers skip
/// building them (`ReadOptions::unread_payload`); the tests
/// `analysis_does_not_depend_on_unread_payload` and
/// `analysis_keeps_the_arguments_of_tool_starts_and_ends` hold it to this.
pub const ANALYSIS_UNREAD_PAYLOAD: &[UnreadMember] = &[UnreadMember::everywhere(keys::RESULT)];

/// What [`analyze()`] needs besides the session.
#[derive(Clone, Debug, Default)]
pub struct AnalysisConfig {
    /// Prices for sessions without reported costs.
    pub prices: PriceTable,
    /// Rule thresholds.
    pub thresholds: Thresholds,
    /// Which formula fills `efficiency_score`.
    pub score: ScoreModel,
    /// Skip the span tree and timeline (a bare session node and no rows):
    /// for `loupe stats` and other bulk uses that never show them.
    pub summary_only: bool,
}

/// Analyses one session.
pub fn analyze(session: &Session, cfg: &AnalysisConfig) -> SessionAnalysis {
    let facts = Facts::build(session, &cfg.prices);
    let metrics = metrics::compute(&facts);
    let issues = detectors::run_all(&facts, &cfg.thresholds, &cfg.prices);
    let efficiency_score = match cfg.score {
        ScoreModel::Loupe => loupe_score(
            &metrics,
            &issues,
            facts.llm.iter().any(|c| c.usage.reports_cache()),
        ),
        ScoreModel::AttocodePy => attocode_py_score(session),
        ScoreModel::AttocodeTs => attocode_ts_score(session),
    };
    // Why a failed or cancelled session ended so, when its end says (an
    // agent stopped at its turn limit): the tree's root carries it, and the
    // summaries show it with the status.
    let end_error = matches!(
        facts.status,
        SessionStatus::Failed | SessionStatus::Cancelled
    )
    .then(|| {
        session
            .events
            .iter()
            .rev()
            .find(|e| matches!(e.kind, EventKind::SessionEnd | EventKind::WorkflowEnd))
            .and_then(loupe_model::Event::error_message)
    })
    .flatten();
    let (mut tree, timeline) = if cfg.summary_only {
        (
            SpanNode {
                kind: SpanKind::Session,
                label: session.session_id.clone(),
                start: facts.started_at.unwrap_or(loupe_model::Timestamp(0)),
                duration_ms: facts.duration_ms(),
                status: NodeStatus::Ok,
                iteration: None,
                agent: None,
                event_index: None,
                tokens: Some(metrics.tokens),
                error: None,
                recorded_success: false,
                children: Vec::new(),
            },
            Vec::new(),
        )
    } else {
        let mut tree = crate::tree::span_tree(session);
        // The root shows the session's own outcome, as the summary does; a
        // failed call inside a completed session is marked on that call
        // and its iteration, not on the whole run.
        tree.status = match facts.status {
            SessionStatus::Running => NodeStatus::Running,
            SessionStatus::Completed => NodeStatus::Ok,
            SessionStatus::Failed | SessionStatus::Cancelled => NodeStatus::Error,
        };
        (tree, crate::timeline::timeline(session))
    };
    if tree.error.is_none() {
        tree.error = end_error;
    }
    SessionAnalysis {
        session_id: session.session_id.clone(),
        source: session.source.clone(),
        task: facts.task.map(str::to_owned),
        model: facts.main_model().map(str::to_owned),
        status: facts.status,
        started_at: facts.started_at,
        ended_at: facts.ended_at,
        duration_ms: facts.duration_ms(),
        efficiency_score,
        issues,
        tools: tools::tool_stats(&facts),
        nodes: tools::slowest_nodes(session),
        models: metrics::by_model(&facts, facts.main_model()),
        token_flow: token_flow::compute(&facts),
        metrics,
        tree,
        timeline,
        invalid_durations: crate::session::invalid_durations(session),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Trace;
    use loupe_model::SessionStatus;
    use serde_json::json;

    #[test]
    fn analysis_fills_every_part() {
        let mut t = Trace::new();
        for i in 1..=3 {
            t.iter(i).llm(1000, 100, 500, 0);
            t.tool_err("bash", json!({"command": "npm test"}), "exit 1");
        }
        t.end("completed");
        let a = analyze(&t.session(), &AnalysisConfig::default());
        assert_eq!(a.status, SessionStatus::Completed);
        assert_eq!(a.model.as_deref(), Some("claude-sonnet-4-5"));
        assert_eq!(a.metrics.iterations, 3);
        assert!(a.issues.iter().any(|i| i.category == "doom_loop"));
        assert!(a.issues.iter().any(|i| i.category == "error_loop"));
        assert!(a.issues.windows(2).all(|w| w[0].severity >= w[1].severity));
        assert_eq!(a.tools[0].name, "bash");
        assert_eq!(a.token_flow.rows.len(), 3);
        assert_eq!(a.timeline.len(), t.session().events.len());
        assert_eq!(a.tree.children.len(), 3);
        assert!(a.efficiency_score < 60.0, "{}", a.efficiency_score);
        let py = analyze(
            &t.session(),
            &AnalysisConfig {
                score: ScoreModel::AttocodePy,
                summary_only: true,
                ..Default::default()
            },
        );
        assert_eq!(py.efficiency_score, attocode_py_score(&t.session()));
        assert!(py.timeline.is_empty() && py.tree.children.is_empty());
        assert_eq!(py.metrics, a.metrics);
    }

    #[test]
    fn hostile_values_do_not_panic() {
        use loupe_model::{keys, EventKind, Timestamp};
        let mut t = Trace::new();
        t.iter(u32::MAX).llm_model(
            "ünïcödé-modèl-20250101",
            u64::MAX / 4,
            u64::MAX / 4,
            u64::MAX / 2,
            7,
        );
        t.llm(u64::MAX, u64::MAX, u64::MAX, u64::MAX);
        t.iter(u32::MAX - 1).tool_err(
            "bash",
            json!({"x": f64::MAX}),
            "0xdeadbeef '\u{0}' /a/b 1e308",
        );
        for d in [f64::NAN, f64::INFINITY, -1.0, 1e300] {
            let e = t.push(EventKind::ToolEnd, &[(keys::TOOL, "t".into())]);
            e.duration_ms = Some(d);
            let e = t.push(EventKind::NodeEnd, &[(keys::NODE_ID, "n".into())]);
            e.duration_ms = Some(d);
        }
        t.push(
            EventKind::SessionEnd,
            &[(keys::STATUS, json!({"weird": true}))],
        )
        .timestamp = Timestamp(i64::MIN);
        t.push(EventKind::BudgetWarning, &[]).iteration = Some(u32::MAX);
        t.push(EventKind::CompactionEnd, &[]).iteration = Some(u32::MAX);
        let s = t.session();
        let a = analyze(&s, &AnalysisConfig::default());
        assert!(a.efficiency_score.is_finite());
        let _ = crate::tools::error_patterns(&s);
        let _ = crate::tools::slowest_nodes(&s);
        let _ = serde_json::to_string(&a).unwrap();
    }

    #[test]
    fn a_failed_sessions_end_says_why_on_the_trees_root() {
        use loupe_model::{keys, EventKind};
        for summary_only in [false, true] {
            let mut t = Trace::new();
            t.iter(1).llm(10, 1, 0, 0);
            t.push(
                EventKind::SessionEnd,
                &[
                    (keys::STATUS, "error".into()),
                    (keys::ERROR, "max turns (25) exceeded".into()),
                ],
            );
            let cfg = AnalysisConfig {
                summary_only,
                ..AnalysisConfig::default()
            };
            let a = analyze(&t.session(), &cfg);
            assert_eq!(a.status, SessionStatus::Failed);
            assert_eq!(a.tree.error.as_deref(), Some("max turns (25) exceeded"));
        }
        // A completed session's end says nothing of the kind.
        let mut t = Trace::new();
        t.iter(1).llm(10, 1, 0, 0);
        t.end("completed");
        assert_eq!(
            analyze(&t.session(), &AnalysisConfig::default()).tree.error,
            None
        );
    }

    #[test]
    fn duplicate_session_records_are_ignored_for_status_but_a_later_end_ends_it() {
        use loupe_model::{keys, EventKind};
        let mut t = Trace::new();
        t.push(EventKind::SessionStart, &[("duplicate", true.into())]);
        t.iter(1).llm(10, 1, 0, 0);
        t.end("completed");
        t.push(
            EventKind::SessionEnd,
            &[(keys::STATUS, "failed".into()), ("duplicate", true.into())],
        );
        let s = t.session();
        let a = analyze(&s, &AnalysisConfig::default());
        assert_eq!(a.status, SessionStatus::Completed);
        assert_eq!(a.started_at, Some(s.events[0].timestamp));
        assert_eq!(a.ended_at, Some(s.events[s.events.len() - 1].timestamp));
    }

    #[test]
    fn the_tree_root_shows_the_sessions_outcome_not_a_failed_call_inside() {
        let run = |end: Option<&str>| {
            let mut t = Trace::new();
            t.iter(1).llm(10, 1, 0, 0);
            t.tool_err("bash", json!({"c": "ls"}), "exit 1");
            if let Some(status) = end {
                t.end(status);
            }
            let a = analyze(&t.session(), &AnalysisConfig::default());
            let iteration = a.tree.children[0].status;
            (a.tree.status, iteration)
        };
        assert_eq!(run(Some("completed")), (NodeStatus::Ok, NodeStatus::Error));
        assert_eq!(run(Some("failed")).0, NodeStatus::Error);
        assert_eq!(run(None).0, NodeStatus::Running);
    }

    #[test]
    fn unknown_end_status_is_a_failure_and_missing_end_is_running() {
        let mut t = Trace::new();
        t.end("budget_exhausted");
        assert_eq!(
            analyze(&t.session(), &AnalysisConfig::default()).status,
            SessionStatus::Failed
        );
        assert_eq!(
            analyze(&Trace::new().session(), &AnalysisConfig::default()).status,
            SessionStatus::Running
        );
    }
}
