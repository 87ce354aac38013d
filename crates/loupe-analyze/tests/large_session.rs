//! A large synthetic session (200,000 events in release builds, 20,000 in
//! debug builds to keep the suite fast) is analysed completely and exactly:
//! every count matches what the generator put in, the tree holds every
//! iteration and the timeline every event.

#![allow(clippy::unwrap_used)]

use loupe_analyze::{analyze, assemble, AnalysisConfig, SessionSource, SpanKind};
use loupe_model::{keys, Event, EventKind, SourceFormat, Timestamp, TokenUsage};

#[cfg(debug_assertions)]
const ITERATIONS: u32 = 2_000;
#[cfg(not(debug_assertions))]
const ITERATIONS: u32 = 20_000;

#[test]
fn large_sessions_are_analysed_exactly() {
    let mut events = Vec::new();
    let mut t = 0i64;
    let mut push = |kind: EventKind, it: Option<u32>, f: &dyn Fn(&mut Event)| {
        t += 1000;
        let mut e = Event::new(format!("e{t}"), kind, Timestamp(t), "big");
        e.iteration = it;
        f(&mut e);
        events.push(e);
    };
    push(EventKind::SessionStart, None, &|e| {
        e.data.insert(keys::MODEL.into(), "gpt-4o".into());
    });
    for i in 1..=ITERATIONS {
        push(EventKind::IterationStart, Some(i), &|_| {});
        push(EventKind::LlmRequest, Some(i), &|_| {});
        push(EventKind::LlmResponse, Some(i), &|e| {
            e.set_usage(&TokenUsage::otel(1000, 10).with_cache(500, 0));
            e.duration_ms = Some(100.0);
        });
        for k in 0..3u32 {
            push(EventKind::ToolStart, Some(i), &|e| {
                e.data.insert(keys::TOOL.into(), "read_file".into());
            });
            push(
                if k == 2 && i % 10 == 0 {
                    EventKind::ToolError
                } else {
                    EventKind::ToolEnd
                },
                Some(i),
                &|e| {
                    e.data.insert(keys::TOOL.into(), "read_file".into());
                    e.data.insert(
                        keys::ARGS.into(),
                        serde_json::json!({"path": format!("f{i}-{k}")}),
                    );
                    e.duration_ms = Some(5.0);
                },
            );
        }
        push(EventKind::IterationEnd, Some(i), &|_| {});
    }
    push(EventKind::SessionEnd, None, &|_| {});
    let n = events.len();
    let source = SessionSource {
        path: "big".into(),
        format: SourceFormat::Loupe,
    };
    let session = assemble(events, source).pop().unwrap();
    let a = analyze(&session, &AnalysisConfig::default());
    let its = u64::from(ITERATIONS);
    assert_eq!(a.metrics.iterations, its);
    assert_eq!(a.metrics.llm_calls, its);
    assert_eq!(a.metrics.tool_calls, its * 3);
    assert_eq!(a.metrics.tool_errors, its / 10);
    assert_eq!(a.metrics.tokens.input_tokens, its * 1000);
    assert_eq!(a.timeline.len(), n);
    assert_eq!(a.tree.children.len(), ITERATIONS as usize);
    assert!(a
        .tree
        .children
        .iter()
        .all(|c| c.kind == SpanKind::Iteration && c.children.len() == 4));
    assert_eq!(a.token_flow.rows.len(), ITERATIONS as usize);
    assert!(a
        .issues
        .iter()
        .any(|i| i.category == "excessive_iterations"));
}
