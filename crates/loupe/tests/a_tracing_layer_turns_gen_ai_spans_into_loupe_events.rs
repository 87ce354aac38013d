//! The `tracing` layer: `gen_ai.*` spans become LLM, tool and agent events
//! with usage in OpenTelemetry semantics; plain spans become `span_start` /
//! `span_end`; events become `log`; parent links follow the span tree.
#![allow(clippy::unwrap_used)]

mod common;

use loupe::{ManualClock, QueueFullPolicy, Recorder};
use loupe_model::Timestamp;
use std::sync::Arc;
use tracing_subscriber::prelude::*;

#[test]
fn gen_ai_spans_plain_spans_and_events_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_000_000)));
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("traced")
        .clock(clock.clone())
        .queue_full(QueueFullPolicy::Block)
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let subscriber = tracing_subscriber::registry().with(loupe::tracing::layer(session.recorder()));
    tracing::subscriber::with_default(subscriber, || {
        let turn = tracing::info_span!("handle_request", user = "ana");
        let _t = turn.enter();
        tracing::info!(attempt = 1, "starting");
        {
            let chat = tracing::info_span!(
                "chat claude-sonnet-4-5",
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = "anthropic",
                gen_ai.request.model = "claude-sonnet-4-5",
                gen_ai.conversation.id = "conv-7",
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty,
                gen_ai.usage.cache_read.input_tokens = tracing::field::Empty,
                gen_ai.usage.cache_creation.input_tokens = tracing::field::Empty,
                gen_ai.usage.reasoning.output_tokens = tracing::field::Empty,
                gen_ai.response.model = tracing::field::Empty,
            );
            let _c = chat.enter();
            clock.advance_ms(1200.0);
            chat.record("gen_ai.usage.input_tokens", 5_000u64);
            chat.record("gen_ai.usage.output_tokens", 250u64);
            chat.record("gen_ai.usage.cache_read.input_tokens", 4_000u64);
            chat.record("gen_ai.usage.cache_creation.input_tokens", 500u64);
            chat.record("gen_ai.usage.reasoning.output_tokens", 40u64);
            chat.record("gen_ai.response.model", "claude-sonnet-4-5-20250929");
        }
        {
            let tool = tracing::info_span!(
                "execute_tool read_file",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = "read_file",
                gen_ai.tool.call.id = "call_1",
                gen_ai.tool.call.arguments = r#"{"path":"a.rs"}"#,
                error = tracing::field::Empty,
            );
            let _g = tool.enter();
            clock.advance_ms(30.0);
            tool.record("error", "not found");
            tracing::warn!("file missing");
        }
        {
            let agent = tracing::info_span!(
                "invoke_agent researcher",
                gen_ai.operation.name = "invoke_agent",
                gen_ai.agent.name = "researcher",
                gen_ai.agent.id = "agent-1",
            );
            let _a = agent.enter();
            let inner = tracing::info_span!(
                "chat",
                gen_ai.operation.name = "chat",
                gen_ai.request.model = "claude-haiku-4-5",
                gen_ai.usage.input_tokens = 10u64,
                gen_ai.usage.output_tokens = 2u64
            );
            let _i = inner.enter();
        }
    });
    let summary = session.summary();
    drop(session);
    let events = common::read_events(&path);
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "session_start",
            "span_start",
            "log",
            "llm_request",
            "llm_response",
            "tool_start",
            "log",
            "tool_error",
            "subagent_spawn",
            "llm_request",
            "llm_response",
            "subagent_complete",
            "span_end",
            "session_end"
        ]
    );
    let by = |k: &str| common::of_kind(&events, k);
    let plain = by("span_start")[0];
    assert_eq!(plain["data"]["name"], "handle_request");
    assert_eq!(plain["data"]["user"], "ana");
    let plain_id = plain["span_id"].as_str().unwrap();
    let log = by("log")[0];
    assert_eq!(log["data"]["message"], "starting");
    assert_eq!(log["data"]["level"], "INFO");
    assert_eq!(log["data"]["attempt"], 1);
    assert_eq!(log["parent_event_id"], plain_id);

    let req = by("llm_request")[0];
    assert_eq!(req["data"]["model"], "claude-sonnet-4-5");
    assert_eq!(req["data"]["provider"], "anthropic");
    assert_eq!(req["data"]["conversation_id"], "conv-7");
    assert_eq!(req["parent_event_id"], plain_id);
    let resp = by("llm_response")[0];
    assert_eq!(resp["span_id"], req["span_id"]);
    assert_eq!(resp["duration_ms"], 1200.0);
    assert_eq!(resp["data"]["model"], "claude-sonnet-4-5-20250929");
    assert_eq!(
        resp["data"]["usage"],
        serde_json::json!({"input_tokens": 5000, "output_tokens": 250, "cache_read_tokens": 4000, "cache_write_tokens": 500, "reasoning_tokens": 40})
    );

    let tool_start = by("tool_start")[0];
    assert_eq!(
        tool_start["data"]["args"],
        serde_json::json!({"path": "a.rs"})
    );
    let tool_err = by("tool_error")[0];
    assert_eq!(tool_err["data"]["tool"], "read_file");
    assert_eq!(tool_err["data"]["error"], "not found");
    assert_eq!(tool_err["duration_ms"], 30.0);
    assert_eq!(by("log")[1]["parent_event_id"], tool_start["span_id"]);

    let inner_req = by("llm_request")[1];
    assert_eq!(inner_req["agent"]["id"], "agent-1");
    assert_eq!(
        inner_req["parent_event_id"],
        by("subagent_spawn")[0]["span_id"]
    );
    assert_eq!(summary.llm_calls, 2);
    assert_eq!(summary.cache_read_tokens, 4000);
    assert_eq!(summary.tool_errors, 1);
}

#[test]
fn an_unrecorded_session_makes_the_layer_inert() {
    let session = Recorder::builder().enabled(false).start().unwrap();
    let subscriber = tracing_subscriber::registry().with(loupe::tracing::layer(session.recorder()));
    tracing::subscriber::with_default(subscriber, || {
        let s = tracing::info_span!("x", gen_ai.operation.name = "chat");
        let _e = s.enter();
        tracing::info!("nothing");
    });
    assert_eq!(session.summary(), loupe::Summary::default());
    assert!(session.path().is_none());
}

/// Values recorded with `Span::record` after a span opened reach its end
/// event: tool arguments and the conversation id (which belong on the start
/// event, already written) and a plain span's fields.
#[test]
fn values_recorded_after_a_span_opened_are_written_when_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let session = Recorder::builder()
        .dir(dir.path())
        .session_id("late")
        .start()
        .unwrap();
    let path = session.path().unwrap().to_owned();
    let subscriber = tracing_subscriber::registry().with(loupe::tracing::layer(session.recorder()));
    tracing::subscriber::with_default(subscriber, || {
        let tool = tracing::info_span!(
            "execute_tool",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = "read_file",
            gen_ai.tool.call.arguments = tracing::field::Empty,
            gen_ai.conversation.id = tracing::field::Empty,
        );
        tool.record("gen_ai.tool.call.arguments", r#"{"path":"src/main.rs"}"#);
        tool.record("gen_ai.conversation.id", "conv-42");
        drop(tool);
        let step = tracing::info_span!("plan_step", step = 3, outcome = tracing::field::Empty);
        step.record("outcome", "patched");
        drop(step);
    });
    session.end(loupe::SessionStatus::Completed);

    let events = common::read_events(&path);
    let start = common::of_kind(&events, "tool_start")[0];
    assert!(start["data"].get("args").is_none(), "{start}");
    let end = common::of_kind(&events, "tool_end")[0];
    assert_eq!(end["data"]["args"]["path"], "src/main.rs", "{end}");
    assert_eq!(end["data"]["conversation_id"], "conv-42", "{end}");
    assert_eq!(end["data"]["tool"], "read_file", "{end}");

    let span_start = common::of_kind(&events, "span_start")[0];
    assert_eq!(span_start["data"]["step"], 3);
    assert!(span_start["data"].get("outcome").is_none());
    let span_end = common::of_kind(&events, "span_end")[0];
    assert_eq!(span_end["data"]["outcome"], "patched", "{span_end}");
    assert_eq!(span_end["data"]["name"], "plan_step");
    assert_eq!(span_end["data"]["status"], "success");
}

/// A layer whose recorder records nothing disables spans at their call
/// site (they cost what they cost without the layer), with a level filter
/// too, but takes nothing from the subscriber's other layers.
#[test]
fn a_layer_recording_nothing_disables_spans_but_not_for_other_layers() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::filter::LevelFilter;

    let off = Recorder::builder().sample_rate(0.0).start().unwrap();
    assert!(!off.is_recording());
    let alone = tracing_subscriber::registry().with(loupe::tracing::layer(off.recorder()));
    tracing::subscriber::with_default(alone, || {
        assert!(tracing::info_span!("alone").is_disabled());
    });
    let filtered = tracing_subscriber::registry().with(loupe::tracing::layer_with_filter(
        off.recorder(),
        LevelFilter::INFO,
    ));
    tracing::subscriber::with_default(filtered, || {
        assert!(tracing::info_span!("filtered").is_disabled());
    });

    /// Another layer of the agent's, counting the spans it sees.
    struct Counting(Arc<AtomicUsize>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Counting {
        fn on_new_span(
            &self,
            _: &tracing::span::Attributes<'_>,
            _: &tracing::span::Id,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let shared = tracing_subscriber::registry()
        .with(loupe::tracing::layer(off.recorder()))
        .with(Counting(seen.clone()));
    tracing::subscriber::with_default(shared, || {
        assert!(!tracing::info_span!("shared").is_disabled());
    });
    assert_eq!(seen.load(Ordering::Relaxed), 1);

    let dir = tempfile::tempdir().unwrap();
    let on = Recorder::builder().dir(dir.path()).start().unwrap();
    let recording = tracing_subscriber::registry().with(loupe::tracing::layer(on.recorder()));
    tracing::subscriber::with_default(recording, || {
        assert!(!tracing::info_span!("recorded").is_disabled());
    });
}
