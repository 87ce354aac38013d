//! Hand-built analyses for tests and examples: a small, realistic coding-agent
//! session, and the same session with every string replaced by hostile text
//! (HTML/terminal injection tests). Not part of the stable API.

use loupe_analyze::{
    CacheRating, Issue, Metrics, NodeStatus, SessionAnalysis, SessionSource, Severity, SpanKind,
    SpanNode, TimelineEntry, TokenFlow, TokenFlowRow, ToolStats, Trend,
};
use loupe_model::{EventKind, SessionStatus, SourceFormat, Timestamp, TokenTotals};

const START: i64 = 1_772_280_000_000_000; // 2026-02-28T12:00:00Z

fn at(ms: f64) -> Timestamp {
    Timestamp(START).plus_millis(ms)
}

fn tokens(input: u64, output: u64, read: u64, write: u64) -> TokenTotals {
    TokenTotals {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: read,
        cache_write_tokens: write,
        reasoning_tokens: 0,
        total_only_tokens: 0,
    }
}

fn leaf(kind: SpanKind, label: &str, start_ms: f64, dur: f64, iteration: u32) -> SpanNode {
    SpanNode {
        kind,
        label: label.to_owned(),
        start: at(start_ms),
        duration_ms: Some(dur),
        status: NodeStatus::Ok,
        iteration: Some(iteration),
        agent: None,
        event_index: None,
        tokens: None,
        error: None,
        recorded_success: false,
        children: Vec::new(),
    }
}

fn entry(offset_ms: f64, kind: EventKind, label: &str, dur: Option<f64>, it: u32) -> TimelineEntry {
    TimelineEntry {
        failed: kind.is_error(),
        offset_ms,
        kind,
        label: label.to_owned(),
        duration_ms: dur,
        iteration: Some(it),
        agent: None,
        important: false,
        event_index: 0,
    }
}

/// A three-iteration coding session: LLM calls with caching, four tool calls,
/// one failing `bash`, two issues.
pub fn sample_analysis() -> SessionAnalysis {
    let mut llm1 = leaf(SpanKind::Llm, "claude-sonnet-4-5", 10.0, 2_400.0, 1);
    llm1.tokens = Some(tokens(10_400, 310, 0, 5_200));
    let mut llm2 = leaf(SpanKind::Llm, "claude-sonnet-4-5", 2_600.0, 2_700.0, 2);
    llm2.tokens = Some(tokens(12_000, 520, 9_500, 0));
    let mut llm3 = leaf(SpanKind::Llm, "claude-sonnet-4-5", 14_000.0, 1_900.0, 3);
    llm3.tokens = Some(tokens(13_100, 150, 12_000, 0));
    let mut bash = leaf(SpanKind::Tool, "bash npm test", 5_400.0, 8_450.0, 2);
    bash.status = NodeStatus::Error;

    let mut it1 = leaf(SpanKind::Iteration, "Iteration 1", 0.0, 2_565.0, 1);
    it1.children = vec![
        llm1,
        leaf(SpanKind::Tool, "read_file src/main.rs", 2_420.0, 45.0, 1),
        leaf(SpanKind::Tool, "grep \"validate\"", 2_470.0, 88.0, 1),
    ];
    let mut it2 = leaf(SpanKind::Iteration, "Iteration 2", 2_600.0, 11_300.0, 2);
    it2.status = NodeStatus::Error;
    it2.children = vec![
        llm2,
        leaf(
            SpanKind::Tool,
            "edit_file src/api/users.ts",
            5_320.0,
            36.0,
            2,
        ),
        bash,
    ];
    let mut it3 = leaf(SpanKind::Iteration, "Iteration 3", 14_000.0, 1_935.0, 3);
    it3.children = vec![llm3];

    let mut root = leaf(SpanKind::Session, "Add input validation", 0.0, 15_935.0, 0);
    root.iteration = None;
    root.children = vec![it1, it2, it3];

    let total = tokens(35_500, 980, 21_500, 5_200);
    let rows = vec![
        flow_row(
            1,
            tokens(10_400, 310, 0, 5_200),
            0.0,
            0.0358,
            0.0358,
            10_710,
        ),
        flow_row(
            2,
            tokens(12_000, 520, 9_500, 0),
            0.7917,
            0.0153,
            0.0511,
            23_230,
        ),
        flow_row(
            3,
            tokens(13_100, 150, 12_000, 0),
            0.9160,
            0.0092,
            0.0603,
            36_480,
        ),
    ];

    SessionAnalysis {
        session_id: "session-1772280000000-healthy".to_owned(),
        source: SessionSource {
            path: "traces/healthy.jsonl".to_owned(),
            format: SourceFormat::AttocodeTs,
        },
        task: Some("Add input validation to the /users endpoint".to_owned()),
        model: Some("claude-sonnet-4-5".to_owned()),
        status: SessionStatus::Completed,
        started_at: Some(at(0.0)),
        ended_at: Some(at(15_935.0)),
        duration_ms: Some(15_935.0),
        metrics: Metrics {
            iterations: 3,
            llm_calls: 3,
            tool_calls: 4,
            tool_errors: 1,
            errors: 1,
            tokens: total,
            cache_hit_rate: total.cache_hit_rate(),
            cost_usd: 0.0603,
            unpriced_models: Vec::new(),
            compactions: 0,
            subagents: 0,
        },
        efficiency_score: 82.5,
        issues: vec![
            Issue {
                category: "slow_tool".to_owned(),
                severity: Severity::Medium,
                title: "Tool \"bash\" is slow".to_owned(),
                description: "bash took 8450ms on average over 1 call".to_owned(),
                iteration: None,
                evidence: vec!["avg 8450ms".to_owned(), "max 8450ms".to_owned()],
                suggestion: "Run only the affected test file instead of the whole suite".to_owned(),
            },
            Issue {
                category: "tool_error".to_owned(),
                severity: Severity::Low,
                title: "bash failed once".to_owned(),
                description: "npm test exited with code 1 in iteration 2".to_owned(),
                iteration: Some(2),
                evidence: vec!["exit code 1".to_owned()],
                suggestion: "Read the failing test output before editing again".to_owned(),
            },
        ],
        nodes: Vec::new(),
        models: Vec::new(),
        tools: vec![
            tool("bash", 1, 1, 8_450.0, 8_450.0),
            tool("edit_file", 1, 0, 36.0, 36.0),
            tool("grep", 1, 0, 88.0, 88.0),
            tool("read_file", 1, 0, 45.0, 45.0),
        ],
        token_flow: TokenFlow {
            rows,
            cache_rating: CacheRating::Fair,
            recommendation:
                "Keep the system prompt and tool list stable so the prefix stays cached".to_owned(),
            trend: Trend::Increasing,
            peak_iteration: Some(3),
            cache_boundary: None,
        },
        tree: root,
        timeline: vec![
            {
                let mut e = entry(0.0, EventKind::SessionStart, "Session started", None, 1);
                e.iteration = None;
                e.important = true;
                e
            },
            entry(
                0.0,
                EventKind::IterationStart,
                "Iteration 1 started",
                None,
                1,
            ),
            entry(
                2_410.0,
                EventKind::LlmResponse,
                "claude-sonnet-4-5 (10400 in, 310 out)",
                Some(2_400.0),
                1,
            ),
            entry(
                2_465.0,
                EventKind::ToolEnd,
                "read_file src/main.rs",
                Some(45.0),
                1,
            ),
            entry(
                2_558.0,
                EventKind::ToolEnd,
                "grep \"validate\"",
                Some(88.0),
                1,
            ),
            entry(
                2_600.0,
                EventKind::IterationStart,
                "Iteration 2 started",
                None,
                2,
            ),
            entry(
                5_300.0,
                EventKind::LlmResponse,
                "claude-sonnet-4-5 (12000 in, 520 out)",
                Some(2_700.0),
                2,
            ),
            entry(
                5_356.0,
                EventKind::ToolEnd,
                "edit_file src/api/users.ts",
                Some(36.0),
                2,
            ),
            {
                let mut e = entry(
                    13_850.0,
                    EventKind::ToolError,
                    "bash npm test: exit code 1",
                    Some(8_450.0),
                    2,
                );
                e.important = true;
                e
            },
            entry(
                15_900.0,
                EventKind::LlmResponse,
                "claude-sonnet-4-5 (13100 in, 150 out)",
                Some(1_900.0),
                3,
            ),
            {
                let mut e = entry(
                    15_935.0,
                    EventKind::SessionEnd,
                    "Session completed",
                    Some(15_935.0),
                    3,
                );
                e.iteration = None;
                e.important = true;
                e
            },
        ],
        invalid_durations: 0,
    }
}

fn flow_row(
    iteration: u32,
    tokens: TokenTotals,
    hit: f64,
    cost: f64,
    cumulative_cost: f64,
    cumulative_tokens: u64,
) -> TokenFlowRow {
    TokenFlowRow {
        iteration,
        tokens,
        cache_hit_rate: hit,
        cost_usd: cost,
        cumulative_cost_usd: cumulative_cost,
        cumulative_tokens,
    }
}

fn tool(name: &str, calls: u64, errors: u64, avg: f64, p95: f64) -> ToolStats {
    ToolStats {
        name: name.to_owned(),
        calls,
        errors,
        avg_duration_ms: avg,
        p95_duration_ms: p95,
        timed_calls: calls,
        invalid_durations: 0,
    }
}

/// [`sample_analysis`] with every string field (ids, path, task, model, labels,
/// tool names, issue texts, recommendation…) replaced by `payload` wrapped in
/// a marker, so injection tests can check each field separately.
pub fn hostile_analysis(payload: &str) -> SessionAnalysis {
    let mut a = sample_analysis();
    let p = |field: &str| format!("[{field}]{payload}");
    a.session_id = p("session_id");
    a.source.path = p("path");
    a.task = Some(p("task"));
    a.model = Some(p("model"));
    a.metrics.unpriced_models = vec![p("unpriced")];
    for i in &mut a.issues {
        i.category = p("category");
        i.title = p("title");
        i.description = p("description");
        i.suggestion = p("suggestion");
        i.evidence = vec![p("evidence")];
    }
    for t in &mut a.tools {
        t.name = p("tool");
    }
    a.token_flow.recommendation = p("recommendation");
    fn walk(n: &mut SpanNode, p: &dyn Fn(&str) -> String) {
        n.label = p("label");
        if let Some(agent) = &mut n.agent {
            agent.id = p("agent");
        }
        for c in &mut n.children {
            walk(c, p);
        }
    }
    walk(&mut a.tree, &p);
    for e in &mut a.timeline {
        e.label = p("timeline");
        e.agent = Some(p("agent"));
        e.kind = EventKind::Other(p("kind"));
    }
    a
}
