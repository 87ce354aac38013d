//! Behaviour tests shared by every backend: each function takes a fresh,
//! empty `&dyn Store` and asserts the semantics of `loupe_store::query`.
//! `tests/behaviour.rs` (memory, SQLite) and `tests/clickhouse.rs` run them.

#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use loupe_model::{keys, AgentRef, Event, EventKind, SessionStatus, SourceFormat, Timestamp};
use loupe_store::{
    EventQuery, RetentionPolicy, SessionFilter, SessionMetrics, SessionQuery, SessionRow,
    SessionSort, SourceRef, Store, ToolRunQuery,
};
use serde_json::json;

/// 2026-01-01T00:00:00Z in µs.
pub const T0: i64 = 1_767_225_600_000_000;
const MIN: i64 = 60_000_000;

pub fn ts(minutes: i64) -> Timestamp {
    Timestamp(T0 + minutes * MIN)
}

/// Three sessions with distinct agents, models, statuses, tools, tags,
/// metadata, costs, tokens and texts.
pub fn fixture_events() -> Vec<Event> {
    let mut out = Vec::new();
    // s-alpha: coder on claude, completed, bash + read_file, one failed bash.
    let s = "s-alpha";
    out.push(
        Event::new("a1", EventKind::SessionStart, ts(0), s)
            .with(keys::TASK, "Fix the tokenizer bug")
            .with(keys::AGENT_NAME, "coder"),
    );
    out.push(
        Event::new("a2", EventKind::LlmRequest, ts(1), s)
            .with(
                keys::MESSAGES,
                json!([{"role": "user", "content": "Please fix the quantum tokenizer"}]),
            )
            .with(keys::MODEL, "claude-sonnet-4-5"),
    );
    let mut resp = Event::new("a3", EventKind::LlmResponse, ts(2), s)
        .with(keys::CONTENT, "I will run the unit tests first")
        .with(keys::MODEL, "claude-sonnet-4-5");
    resp.duration_ms = Some(60_000.0);
    resp.iteration = Some(1);
    out.push(resp);
    let mut tool = Event::new("a4", EventKind::ToolEnd, ts(3), s)
        .with(keys::TOOL, "bash")
        .with(keys::ARGS, json!({"command": "cargo test --workspace"}))
        .with(keys::RESULT, "error: linker failed with exit status 1");
    tool.duration_ms = Some(4_500.0);
    tool.iteration = Some(1);
    tool = tool.with(keys::STATUS, "error");
    out.push(tool);
    let mut read = Event::new("a5", EventKind::ToolEnd, ts(4), s)
        .with(keys::TOOL, "read_file")
        .with(keys::ARGS, json!({"path": "src/lexer.rs"}))
        .with(keys::RESULT, "fn lex() {}");
    read.duration_ms = Some(12.0);
    read.span_id = Some("sp-5".into());
    read.parent_event_id = Some("a3".into());
    read.trace_id = Some("tr-1".into());
    read.turn = Some(2);
    read.agent = Some(Box::new(AgentRef {
        id: "sub-1".into(),
        name: Some("reader".into()),
        ..Default::default()
    }));
    out.push(read);
    out.push(
        Event::new("a6", EventKind::Thinking, ts(5), s)
            .with(keys::THINKING, "The lexer drops unicode identifiers"),
    );
    // Same timestamp as a6: insertion order must decide.
    out.push(Event::new("a7", EventKind::SessionEnd, ts(5), s).with(keys::STATUS, "completed"));

    // s-beta: reviewer on gpt, failed, bash only (success), error text.
    let s = "s-beta";
    out.push(
        Event::new("b1", EventKind::SessionStart, ts(60), s).with(keys::AGENT_NAME, "reviewer"),
    );
    let mut tool = Event::new("b2", EventKind::ToolEnd, ts(61), s)
        .with(keys::TOOL, "bash")
        .with(keys::ARGS, json!({"command": "git diff"}))
        .with(keys::RESULT, "diff --git a/x b/x");
    tool.duration_ms = Some(900.0);
    out.push(tool);
    out.push(
        Event::new("b3", EventKind::Error, ts(62), s)
            .with(keys::ERROR, "RateLimitError: quota exceeded for gpt-5"),
    );
    let mut te = Event::new("b4", EventKind::ToolError, ts(63), s)
        .with(keys::TOOL, "web_search")
        .with(keys::ERROR, "timeout");
    te.duration_ms = Some(30_000.0);
    out.push(te);

    // s-gamma: coder on claude, running, no tools, long text.
    let s = "s-gamma";
    out.push(Event::new("g1", EventKind::SessionStart, ts(120), s).with(keys::AGENT_NAME, "coder"));
    out.push(
        Event::new("g2", EventKind::LlmRequest, ts(121), s)
            .with(
                "system_prompt",
                format!("{} zebra", "lorem ipsum ".repeat(40)),
            )
            .with("\u{1}odd", "\u{1}not a reference"),
    );
    out
}

pub fn fixture_rows() -> Vec<SessionRow> {
    let mut a = SessionRow::new("s-alpha");
    a.agent_name = Some("coder".into());
    a.task = Some("Fix the tokenizer bug".into());
    a.model = Some("claude-sonnet-4-5".into());
    a.status = SessionStatus::Completed;
    a.started_at = Some(ts(0));
    a.ended_at = Some(ts(5));
    a.duration_ms = Some(300_000.0);
    a.tags = vec!["nightly".into(), "repo:lexer".into()];
    a.metadata = json!({"user": "ana", "attempt": 2})
        .as_object()
        .unwrap()
        .clone();
    a.source = Some(SourceRef {
        path: "traces/a.jsonl".into(),
        format: SourceFormat::Loupe,
    });
    a.tools = vec!["bash".into(), "read_file".into()];
    a.metrics = SessionMetrics {
        iterations: 1,
        llm_calls: 1,
        tool_calls: 2,
        tool_errors: 1,
        errors: 0,
        input_tokens: Some(10_000),
        output_tokens: Some(500),
        cache_read_tokens: Some(8_000),
        cache_write_tokens: Some(1_000),
        reasoning_tokens: Some(100),
        cache_hit_rate: Some(0.8),
        cost_usd: Some(0.25),
        compactions: 0,
        subagents: 1,
        total_only_tokens: 0,
        unpriced_models: vec!["mystery-model".into()],
    };
    a.efficiency_score = Some(72.5);

    let mut b = SessionRow::new("s-beta");
    b.agent_name = Some("reviewer".into());
    b.task = Some("Review the PR".into());
    b.model = Some("gpt-5".into());
    b.status = SessionStatus::Failed;
    b.started_at = Some(ts(60));
    b.ended_at = Some(ts(63));
    b.duration_ms = Some(180_000.0);
    b.tags = vec!["nightly".into()];
    b.metadata = json!({"user": "bo"}).as_object().unwrap().clone();
    b.tools = vec!["bash".into(), "web_search".into()];
    b.metrics = SessionMetrics {
        tool_calls: 2,
        tool_errors: 1,
        errors: 1,
        input_tokens: Some(2_000),
        output_tokens: Some(100),
        cost_usd: Some(1.5),
        ..Default::default()
    };

    let mut g = SessionRow::new("s-gamma");
    g.agent_name = Some("coder".into());
    g.model = Some("claude-sonnet-4-5".into());
    g.status = SessionStatus::Running;
    g.started_at = Some(ts(120));
    g.duration_ms = Some(60_000.0);
    g.metrics = SessionMetrics {
        llm_calls: 1,
        input_tokens: Some(50_000),
        output_tokens: Some(0),
        cost_usd: Some(0.05),
        ..Default::default()
    };
    vec![a, b, g]
}

pub fn load(store: &dyn Store) {
    let out = store.append_events(&fixture_events()).unwrap();
    assert_eq!(out.inserted, 13);
    assert_eq!(out.duplicates, 0);
    store.upsert_sessions(&fixture_rows()).unwrap();
}

fn ids(store: &dyn Store, filter: SessionFilter) -> Vec<String> {
    let q = SessionQuery {
        filter,
        sort: SessionSort::StartedAt,
        descending: false,
        ..Default::default()
    };
    store
        .sessions(&q)
        .unwrap()
        .into_iter()
        .map(|r| r.session_id)
        .collect()
}

fn f() -> SessionFilter {
    SessionFilter::default()
}

pub fn append_is_idempotent(store: &dyn Store) {
    load(store);
    let again = store.append_events(&fixture_events()).unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 13));
    // A batch mixing new and known events counts each correctly, and a
    // duplicate inside one batch is caught too.
    let new = Event::new("a8", EventKind::Log, ts(6), "s-alpha");
    let mixed = vec![fixture_events()[0].clone(), new.clone(), new];
    let out = store.append_events(&mixed).unwrap();
    assert_eq!((out.inserted, out.duplicates), (1, 2));
    assert_eq!(
        store
            .events("s-alpha", &EventQuery::default())
            .unwrap()
            .len(),
        8
    );
    // The same event id in another session is a different event.
    let other = Event::new("a1", EventKind::Log, ts(7), "s-other");
    assert_eq!(store.append_events(&[other]).unwrap().inserted, 1);
}

pub fn events_round_trip_in_time_order(store: &dyn Store) {
    load(store);
    let expected: Vec<Event> = fixture_events()
        .into_iter()
        .filter(|e| e.session_id == "s-alpha")
        .collect();
    let got = store.events("s-alpha", &EventQuery::default()).unwrap();
    assert_eq!(
        got, expected,
        "events come back exactly, a6 before a7 (insertion order on ties)"
    );
    let gamma = store.events("s-gamma", &EventQuery::default()).unwrap();
    assert_eq!(
        gamma,
        fixture_events()[11..].to_vec(),
        "long and U+0001 strings survive"
    );
    let window = store
        .events(
            "s-alpha",
            &EventQuery {
                since: Some(ts(2)),
                until: Some(ts(5)),
                offset: 1,
                limit: Some(1),
            },
        )
        .unwrap();
    assert_eq!(
        window
            .iter()
            .map(|e| e.event_id.as_str())
            .collect::<Vec<_>>(),
        ["a4"]
    );
    assert!(store
        .events("nope", &EventQuery::default())
        .unwrap()
        .is_empty());
}

pub fn session_rows_round_trip(store: &dyn Store) {
    load(store);
    let rows = fixture_rows();
    assert_eq!(store.session("s-alpha").unwrap().as_ref(), Some(&rows[0]));
    assert_eq!(store.session("missing").unwrap(), None);
    let mut changed = rows[1].clone();
    changed.status = SessionStatus::Completed;
    changed.tags = vec!["weekly".into()];
    store.upsert_sessions(&[changed.clone()]).unwrap();
    assert_eq!(store.session("s-beta").unwrap(), Some(changed));
    let weekly = SessionFilter {
        tags: vec!["weekly".into()],
        ..f()
    };
    assert_eq!(ids(store, weekly), ["s-beta"]);
    let nightly = SessionFilter {
        tags: vec!["nightly".into()],
        ..f()
    };
    assert_eq!(
        ids(store, nightly),
        ["s-alpha"],
        "old tags are replaced on upsert"
    );
}

pub fn session_ids_by_prefix(store: &dyn Store) {
    load(store);
    let by = |prefix: &str, limit| store.session_ids_with_prefix(prefix, limit).unwrap();
    assert_eq!(by("s-", 10), ["s-alpha", "s-beta", "s-gamma"]);
    assert_eq!(by("s-", 2), ["s-alpha", "s-beta"]);
    assert_eq!(by("", 10), ["s-alpha", "s-beta", "s-gamma"]);
    assert_eq!(by("s-b", 10), ["s-beta"]);
    assert_eq!(by("s-beta", 10), ["s-beta"]);
    assert!(by("s-beta-", 10).is_empty());
    assert!(by("s_", 10).is_empty(), "no pattern characters");
    assert!(by("s%", 10).is_empty(), "no pattern characters");
    assert!(by("t", 10).is_empty());
}

pub fn sessions_deleted_by_id(store: &dyn Store) {
    load(store);
    let before = store
        .events("s-beta", &EventQuery::default())
        .unwrap()
        .len() as u64;
    let outcome = store
        .delete_sessions(&["s-beta".to_owned(), "missing".to_owned()])
        .unwrap();
    assert_eq!(outcome.sessions, ["s-beta"]);
    assert_eq!(outcome.events, before);
    assert_eq!(store.session("s-beta").unwrap(), None);
    assert!(store
        .events("s-beta", &EventQuery::default())
        .unwrap()
        .is_empty());
    assert_eq!(ids(store, f()), ["s-alpha", "s-gamma"]);
    let runs = store
        .tool_runs(&ToolRunQuery {
            session_ids: vec!["s-beta".into()],
            ..Default::default()
        })
        .unwrap();
    assert!(runs.is_empty());
    assert!(store.session("s-alpha").unwrap().is_some());
}

pub fn every_session_filter(store: &dyn Store) {
    load(store);
    let all = ["s-alpha", "s-beta", "s-gamma"];
    assert_eq!(ids(store, f()), all);
    let check = |filter: SessionFilter, want: &[&str]| {
        let label = format!("{filter:?}");
        assert_eq!(ids(store, filter), want, "filter {label}");
    };
    check(
        SessionFilter {
            session_ids: vec!["s-beta".into(), "zz".into()],
            ..f()
        },
        &["s-beta"],
    );
    check(
        SessionFilter {
            agent: Some("coder".into()),
            ..f()
        },
        &["s-alpha", "s-gamma"],
    );
    check(
        SessionFilter {
            name_contains: Some("TOKENIZER".into()),
            ..f()
        },
        &["s-alpha"],
    );
    check(
        SessionFilter {
            name_contains: Some("review".into()),
            ..f()
        },
        &["s-beta"],
    );
    check(
        SessionFilter {
            model: Some("gpt-5".into()),
            ..f()
        },
        &["s-beta"],
    );
    check(
        SessionFilter {
            status: Some(SessionStatus::Running),
            ..f()
        },
        &["s-gamma"],
    );
    check(
        SessionFilter {
            since: Some(ts(60)),
            ..f()
        },
        &["s-beta", "s-gamma"],
    );
    check(
        SessionFilter {
            until: Some(ts(60)),
            ..f()
        },
        &["s-alpha"],
    );
    check(
        SessionFilter {
            since: Some(ts(1)),
            until: Some(ts(121)),
            ..f()
        },
        &["s-beta", "s-gamma"],
    );
    check(
        SessionFilter {
            has_errors: Some(true),
            ..f()
        },
        &["s-alpha", "s-beta"],
    );
    check(
        SessionFilter {
            has_errors: Some(false),
            ..f()
        },
        &["s-gamma"],
    );
    check(
        SessionFilter {
            min_duration_ms: Some(180_000.0),
            ..f()
        },
        &["s-alpha", "s-beta"],
    );
    check(
        SessionFilter {
            max_duration_ms: Some(180_000.0),
            ..f()
        },
        &["s-beta", "s-gamma"],
    );
    check(
        SessionFilter {
            min_cost_usd: Some(0.25),
            ..f()
        },
        &["s-alpha", "s-beta"],
    );
    check(
        SessionFilter {
            max_cost_usd: Some(0.25),
            ..f()
        },
        &["s-alpha", "s-gamma"],
    );
    check(
        SessionFilter {
            min_tokens: Some(10_500),
            ..f()
        },
        &["s-alpha", "s-gamma"],
    );
    check(
        SessionFilter {
            max_tokens: Some(10_500),
            ..f()
        },
        &["s-alpha", "s-beta"],
    );
    check(
        SessionFilter {
            tools: vec!["bash".into()],
            ..f()
        },
        &["s-alpha", "s-beta"],
    );
    check(
        SessionFilter {
            tools: vec!["bash".into(), "read_file".into()],
            ..f()
        },
        &["s-alpha"],
    );
    check(
        SessionFilter {
            tags: vec!["nightly".into()],
            ..f()
        },
        &["s-alpha", "s-beta"],
    );
    check(
        SessionFilter {
            tags: vec!["nightly".into(), "repo:lexer".into()],
            ..f()
        },
        &["s-alpha"],
    );
    check(
        SessionFilter {
            metadata: vec![("user".into(), "bo".into())],
            ..f()
        },
        &["s-beta"],
    );
    check(
        SessionFilter {
            metadata: vec![("attempt".into(), "2".into())],
            ..f()
        },
        &["s-alpha"],
    );
    check(
        SessionFilter {
            metadata: vec![("user".into(), "zed".into())],
            ..f()
        },
        &[],
    );
    check(
        SessionFilter {
            text: Some("quota".into()),
            ..f()
        },
        &["s-beta"],
    );
    check(
        SessionFilter {
            text: Some("zebra".into()),
            ..f()
        },
        &["s-gamma"],
    );
    check(
        SessionFilter {
            text: Some("tokenizer quantum".into()),
            ..f()
        },
        &["s-alpha"],
    );
    check(
        SessionFilter {
            text: Some("...".into()),
            ..f()
        },
        &[],
    );
    // Several filters at once (the benchmark's "three filters").
    check(
        SessionFilter {
            agent: Some("coder".into()),
            model: Some("claude-sonnet-4-5".into()),
            since: Some(ts(10)),
            ..f()
        },
        &["s-gamma"],
    );
}

pub fn sort_limit_offset(store: &dyn Store) {
    load(store);
    let list = |sort: SessionSort, descending: bool, limit: Option<usize>, offset: usize| {
        store
            .sessions(&SessionQuery {
                filter: f(),
                sort,
                descending,
                limit,
                offset,
            })
            .unwrap()
            .into_iter()
            .map(|r| r.session_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(SessionSort::StartedAt, true, None, 0),
        ["s-gamma", "s-beta", "s-alpha"]
    );
    assert_eq!(
        list(SessionSort::Duration, true, None, 0),
        ["s-alpha", "s-beta", "s-gamma"]
    );
    assert_eq!(
        list(SessionSort::Cost, false, None, 0),
        ["s-gamma", "s-alpha", "s-beta"]
    );
    assert_eq!(
        list(SessionSort::Tokens, true, None, 0),
        ["s-gamma", "s-alpha", "s-beta"]
    );
    // Name sorts by agent then task; the two coders tie on agent.
    assert_eq!(
        list(SessionSort::Name, false, None, 0),
        ["s-gamma", "s-alpha", "s-beta"]
    );
    assert_eq!(list(SessionSort::StartedAt, true, Some(1), 1), ["s-beta"]);
    assert_eq!(list(SessionSort::StartedAt, true, None, 2), ["s-alpha"]);
    assert!(list(SessionSort::StartedAt, true, Some(5), 3).is_empty());
}

pub fn tool_run_filters(store: &dyn Store) {
    load(store);
    let runs = |q: ToolRunQuery| {
        store
            .tool_runs(&q)
            .unwrap()
            .into_iter()
            .map(|r| r.event_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(runs(ToolRunQuery::default()), ["b4", "b2", "a5", "a4"]);
    assert_eq!(
        runs(ToolRunQuery {
            tools: vec!["bash".into()],
            ..Default::default()
        }),
        ["b2", "a4"]
    );
    assert_eq!(
        runs(ToolRunQuery {
            min_duration_ms: Some(900.0),
            ..Default::default()
        }),
        ["b4", "b2", "a4"]
    );
    assert_eq!(
        runs(ToolRunQuery {
            success_only: true,
            ..Default::default()
        }),
        ["b2", "a5"]
    );
    assert_eq!(
        runs(ToolRunQuery {
            session_ids: vec!["s-alpha".into()],
            limit: Some(1),
            offset: 1,
            ..Default::default()
        }),
        ["a4"]
    );
    let all = store.tool_runs(&ToolRunQuery::default()).unwrap();
    let a4 = all.iter().find(|r| r.event_id == "a4").unwrap();
    assert_eq!(
        (a4.tool.as_str(), a4.duration_ms, a4.success, a4.iteration),
        ("bash", Some(4_500.0), false, Some(1))
    );
    assert_eq!(a4.session_id, "s-alpha");
    assert_eq!(a4.timestamp, ts(3));
}

/// Words with diacritics are found without them (and the other way
/// round), as SQLite FTS5's `unicode61` tokenizer finds them.
pub fn search_folds_diacritics(store: &dyn Store) {
    let texts = [
        ("d1", "Résumé attached"),
        ("d2", "ÉCOLE normale"),
        ("d3", "a naïve approach"),
        ("d4", "İstanbul office"),
        ("d5", "plain resume"),
    ];
    let events: Vec<Event> = texts
        .iter()
        .enumerate()
        .map(|(i, (id, text))| {
            Event::new(*id, EventKind::LlmResponse, ts(i as i64), "s-accents")
                .with(keys::CONTENT, *text)
        })
        .collect();
    store.append_events(&events).unwrap();
    let hits = |q: &str| {
        let mut ids: Vec<String> = store
            .search(q, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.event_id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(hits("resume"), ["d1", "d5"]);
    assert_eq!(hits("résumé"), ["d1", "d5"]);
    assert_eq!(hits("ecole"), ["d2"]);
    assert_eq!(hits("naive"), ["d3"]);
    assert_eq!(hits("istanbul"), ["d4"]);
    assert_eq!(hits("ISTAN*"), ["d4"]);
}

/// A cost or token count the trace does not report is unknown: it reads
/// back as unknown, is within no min/max bound, and sorts last both ways.
pub fn unknown_cost_and_tokens_stay_unknown(store: &dyn Store) {
    let row = |id: &str, tokens: Option<u64>, cost: Option<f64>| {
        let mut r = SessionRow::new(id);
        r.status = SessionStatus::Completed;
        r.metrics = SessionMetrics {
            llm_calls: 2,
            input_tokens: tokens,
            output_tokens: tokens.map(|_| 0),
            cost_usd: cost,
            ..SessionMetrics::default()
        };
        r
    };
    store
        .upsert_sessions(&[
            row("u-cheap", Some(50), Some(0.0005)),
            row("u-dear", Some(5_000), Some(2.0)),
            row("u-unpriced", Some(80), None),
            row("u-silent", None, None),
        ])
        .unwrap();
    let back = store.session("u-silent").unwrap().unwrap();
    assert_eq!(back.metrics.cost_usd, None);
    assert_eq!(back.metrics.input_tokens, None);
    assert_eq!(back.metrics.total_tokens(), None);
    let json = serde_json::to_value(&back).unwrap();
    assert!(json["metrics"]["cost_usd"].is_null(), "{json}");
    let ids = |filter: SessionFilter, sort: SessionSort, descending: bool| {
        store
            .sessions(&SessionQuery {
                filter,
                sort,
                descending,
                limit: None,
                offset: 0,
            })
            .unwrap()
            .into_iter()
            .map(|r| r.session_id)
            .collect::<Vec<_>>()
    };
    let only = |f: SessionFilter| ids(f, SessionSort::StartedAt, true);
    assert_eq!(
        only(SessionFilter {
            max_cost_usd: Some(0.001),
            ..SessionFilter::default()
        }),
        ["u-cheap"]
    );
    assert_eq!(
        only(SessionFilter {
            min_cost_usd: Some(0.0),
            ..SessionFilter::default()
        })
        .len(),
        2
    );
    let mut small = only(SessionFilter {
        max_tokens: Some(100),
        ..SessionFilter::default()
    });
    small.sort();
    assert_eq!(small, ["u-cheap", "u-unpriced"]);
    let all = SessionFilter::default;
    assert_eq!(
        ids(all(), SessionSort::Cost, false)[..2],
        ["u-cheap", "u-dear"]
    );
    assert_eq!(
        ids(all(), SessionSort::Cost, true)[..2],
        ["u-dear", "u-cheap"]
    );
    assert_eq!(
        ids(all(), SessionSort::Tokens, false)[3],
        "u-silent",
        "unknown last ascending"
    );
    assert_eq!(
        ids(all(), SessionSort::Tokens, true)[3],
        "u-silent",
        "unknown last descending"
    );
}

pub fn full_text_search(store: &dyn Store) {
    load(store);
    let hits = |q: &str| {
        store
            .search(q, 10)
            .unwrap()
            .into_iter()
            .map(|h| h.event_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(hits("tokenizer"), ["a2", "a1"], "message content and task");
    assert_eq!(hits("cargo"), ["a4"], "tool arguments");
    assert_eq!(hits("LINKER"), ["a4"], "tool results, case-insensitive");
    assert_eq!(hits("quota"), ["b3"], "errors");
    assert_eq!(hits("unicode identifiers"), ["a6"], "thinking; all terms");
    assert_eq!(
        hits("unicode zebra"),
        Vec::<String>::new(),
        "terms must share one text"
    );
    assert_eq!(hits("zebra"), ["g2"], "long strings under any key");
    assert_eq!(
        hits("claude"),
        Vec::<String>::new(),
        "model names are not text content"
    );
    assert_eq!(hits("lexe*"), ["a6", "a5"], "prefix");
    assert_eq!(hits("lexe"), Vec::<String>::new(), "whole tokens without *");
    assert_eq!(hits("the"), ["a6", "a3", "a2", "a1"], "newest first");
    assert_eq!(store.search("the", 2).unwrap().len(), 2, "limit");
    let h = &store.search("quota", 1).unwrap()[0];
    assert_eq!(
        (h.session_id.as_str(), h.kind.as_str(), h.timestamp),
        ("s-beta", "error", ts(62))
    );
    assert!(store.search("", 10).unwrap().is_empty());
    assert!(store
        .search("\"); DROP TABLE events; --", 10)
        .unwrap()
        .is_empty());
}

pub fn statistics(store: &dyn Store) {
    load(store);
    let all = store.stats(&f()).unwrap();
    assert_eq!(all.sessions, 3);
    assert_eq!(all.events, 13);
    assert_eq!(all.totals.input_tokens, Some(62_000));
    assert_eq!(all.totals.tool_errors, 2);
    assert!((all.totals.cost_usd.unwrap() - 1.8).abs() < 1e-9);
    assert!((all.totals.cache_hit_rate.unwrap() - 8_000.0 / 62_000.0).abs() < 1e-12);
    let models: Vec<(String, u64)> = all
        .by_model
        .iter()
        .map(|m| (m.model.clone(), m.sessions))
        .collect();
    assert_eq!(
        models,
        [("claude-sonnet-4-5".to_owned(), 2), ("gpt-5".to_owned(), 1)]
    );
    let tools: Vec<(String, u64, u64)> = all
        .by_tool
        .iter()
        .map(|t| (t.tool.clone(), t.runs, t.failures))
        .collect();
    assert_eq!(
        tools,
        [
            ("bash".to_owned(), 2, 1),
            ("read_file".to_owned(), 1, 0),
            ("web_search".to_owned(), 1, 1)
        ]
    );
    let bash = &all.by_tool[0];
    assert!((bash.avg_duration_ms - 2_700.0).abs() < 1e-9);
    let coder = store
        .stats(&SessionFilter {
            agent: Some("coder".into()),
            ..f()
        })
        .unwrap();
    assert_eq!((coder.sessions, coder.events), (2, 9));
    assert_eq!(coder.by_tool.len(), 2);
}

/// A session that used two models counts under each, with that model's
/// tokens and cost (not all of them under its main model).
pub fn statistics_split_a_session_by_model(store: &dyn Store) {
    load(store);
    let mut rows = fixture_rows();
    let beta = rows
        .iter_mut()
        .find(|r| r.model.as_deref() == Some("gpt-5"))
        .unwrap();
    let (input, output, cost) = (
        beta.metrics.input_tokens.unwrap(),
        beta.metrics.output_tokens.unwrap(),
        beta.metrics.cost_usd.unwrap(),
    );
    beta.models = vec![
        loupe_store::ModelUsage {
            model: "gpt-5".into(),
            input_tokens: input - 1_000,
            output_tokens: output,
            cost_usd: cost - 0.25,
        },
        loupe_store::ModelUsage {
            model: "gpt-5-mini".into(),
            input_tokens: 1_000,
            output_tokens: 0,
            cost_usd: 0.25,
        },
    ];
    store.upsert_sessions(&rows).unwrap();
    let all = store.stats(&f()).unwrap();
    let models: Vec<(String, u64, u64)> = all
        .by_model
        .iter()
        .map(|m| (m.model.clone(), m.sessions, m.input_tokens))
        .collect();
    assert_eq!(
        models,
        [
            ("claude-sonnet-4-5".to_owned(), 2, 62_000 - input),
            ("gpt-5".to_owned(), 1, input - 1_000),
            ("gpt-5-mini".to_owned(), 1, 1_000)
        ]
    );
    let mini = &all.by_model[2];
    assert!((mini.cost_usd - 0.25).abs() < 1e-9);
    // The split survives a read back.
    let back = store.session(&rows[1].session_id).unwrap().unwrap();
    assert_eq!(back.models, rows[1].models);
}

pub fn prune_by_age(store: &dyn Store) {
    load(store);
    // Last activity: alpha ts(5), beta ts(63), gamma ts(121). Keep 90 minutes before ts(150).
    let policy = RetentionPolicy {
        max_age_ms: Some(90.0 * 60_000.0),
        max_count: None,
        now: ts(150),
    };
    let out = store.prune(&policy).unwrap();
    assert_eq!(out.sessions, ["s-alpha"]);
    assert_eq!(out.events, 7);
    assert_eq!(ids(store, f()), ["s-beta", "s-gamma"]);
    assert!(store
        .events("s-alpha", &EventQuery::default())
        .unwrap()
        .is_empty());
    assert!(
        store.search("tokenizer", 10).unwrap().is_empty(),
        "its text is gone from search"
    );
    assert!(store
        .tool_runs(&ToolRunQuery::default())
        .unwrap()
        .iter()
        .all(|r| r.session_id != "s-alpha"));
    assert_eq!(
        store.prune(&policy).unwrap().sessions.len(),
        0,
        "nothing more to do"
    );
    // Re-appending the pruned session works (its text is interned afresh).
    store.append_events(&fixture_events()[..7]).unwrap();
    assert_eq!(store.search("tokenizer", 10).unwrap().len(), 2);
}

pub fn prune_by_count(store: &dyn Store) {
    load(store);
    // A session with events but no summary row still counts and is pruned whole.
    store
        .append_events(&[Event::new("x1", EventKind::Log, ts(-10), "s-orphan")])
        .unwrap();
    let policy = RetentionPolicy {
        max_age_ms: None,
        max_count: Some(2),
        now: ts(150),
    };
    // A preview names what prune deletes, and deletes nothing.
    assert_eq!(
        store.prune_preview(&policy).unwrap(),
        ["s-alpha", "s-orphan"]
    );
    assert_eq!(ids(store, f()).len(), 3);
    let out = store.prune(&policy).unwrap();
    assert_eq!(out.sessions, ["s-alpha", "s-orphan"]);
    assert_eq!(out.events, 8);
    assert_eq!(ids(store, f()), ["s-beta", "s-gamma"]);
    assert_eq!(store.stats(&f()).unwrap().events, 6);
}

pub fn ingested_files_are_remembered(store: &dyn Store) {
    assert_eq!(store.ingested_file("a.jsonl").unwrap(), None);
    let mut file = loupe_store::IngestedFile {
        path: "a.jsonl".into(),
        size: 100,
        mtime_us: 5,
        head_hash: "abc".into(),
        lines: 3,
        offset: 100,
        format: "loupe".into(),
        session_hint: None,
    };
    store.record_ingested_file(&file).unwrap();
    assert_eq!(
        store.ingested_file("a.jsonl").unwrap().as_ref(),
        Some(&file)
    );
    file.lines = 7;
    file.offset = 250;
    file.session_hint = Some("s-1".into());
    store.record_ingested_file(&file).unwrap();
    assert_eq!(store.ingested_file("a.jsonl").unwrap(), Some(file));
}

/// A test's handle on a store (a temp dir may need to outlive it).
pub trait AsStore {
    fn as_store(&self) -> &dyn Store;
}

impl AsStore for loupe_store::MemoryStore {
    fn as_store(&self) -> &dyn Store {
        self
    }
}

/// Pages of a session's events, walked with every page size, give back the
/// whole session in order (ties kept in insertion order); past the end is empty.
pub fn event_pages_cover_the_session_in_order(store: &dyn Store) {
    load(store);
    let whole = store.events("s-alpha", &EventQuery::default()).unwrap();
    assert!(whole.len() >= 5, "the fixture has a session worth paging");
    for size in 1..=whole.len() {
        let mut walked = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .events(
                    "s-alpha",
                    &EventQuery {
                        offset,
                        limit: Some(size),
                        ..EventQuery::default()
                    },
                )
                .unwrap();
            assert!(page.len() <= size, "a page never exceeds its limit");
            if page.is_empty() {
                break;
            }
            offset += page.len();
            walked.extend(page);
        }
        assert_eq!(walked, whole, "pages of {size} rebuild the session");
    }
    let tail = store
        .events(
            "s-alpha",
            &EventQuery {
                offset: whole.len() - 2,
                limit: None,
                ..EventQuery::default()
            },
        )
        .unwrap();
    assert_eq!(
        tail,
        whole[whole.len() - 2..].to_vec(),
        "an offset without a limit reads to the end"
    );
    let past = store
        .events(
            "s-alpha",
            &EventQuery {
                offset: whole.len() + 10,
                limit: Some(5),
                ..EventQuery::default()
            },
        )
        .unwrap();
    assert!(past.is_empty(), "a page past the end is empty");
}

/// Sessions longer than a storage block (1,300 events, appended in three
/// batches that interleave two sessions, overlap each other and repeat
/// timestamps) read back whole, by page and by time window exactly as the
/// reference order says; duplicates across and inside batches are caught;
/// search finds the newest hits across blocks; prune removes all of it.
pub fn long_interleaved_sessions(store: &dyn Store) {
    let event = |session: &str, n: i64| {
        // Timestamps repeat in threes, so ties cross block boundaries.
        let mut e = Event::new(
            format!("{session}-{n}"),
            EventKind::ToolEnd,
            Timestamp(T0 + (n / 3) * 1_000),
            session,
        )
        .with(keys::TOOL, "bash")
        .with(keys::RESULT, format!("output number{n} of {session}"));
        e.iteration = Some((n / 10 + 1) as u32);
        e
    };
    let batch = |from: i64, to: i64| {
        let mut out = Vec::new();
        for n in from..to {
            out.push(event("long-a", n));
            if n % 2 == 0 {
                out.push(event("long-b", n));
            }
        }
        out
    };
    let first = store.append_events(&batch(0, 600)).unwrap();
    assert_eq!((first.inserted, first.duplicates), (900, 0));
    // Overlaps the first batch by 100 events and repeats one inside itself.
    let mut second = batch(500, 1_100);
    second.push(event("long-a", 1_050));
    let out = store.append_events(&second).unwrap();
    assert_eq!((out.inserted, out.duplicates), (750, 151));
    let out = store.append_events(&batch(1_100, 1_300)).unwrap();
    assert_eq!((out.inserted, out.duplicates), (300, 0));
    let again = store.append_events(&batch(0, 1_300)).unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 1_950));

    let expected: Vec<Event> = (0..1_300).map(|n| event("long-a", n)).collect();
    let whole = store.events("long-a", &EventQuery::default()).unwrap();
    assert_eq!(whole.len(), 1_300);
    assert!(
        whole == expected,
        "the whole session in time, then insertion, order"
    );
    let b = store.events("long-b", &EventQuery::default()).unwrap();
    assert_eq!(b.len(), 650);
    for (offset, limit) in [(0, 200), (510, 7), (1_023, 300), (1_299, 5)] {
        let page = store
            .events(
                "long-a",
                &EventQuery {
                    offset,
                    limit: Some(limit),
                    ..EventQuery::default()
                },
            )
            .unwrap();
        let end = (offset + limit).min(1_300);
        assert!(page == expected[offset..end], "page at {offset}");
    }
    let window = store
        .events(
            "long-a",
            &EventQuery {
                since: Some(Timestamp(T0 + 170 * 1_000)),
                until: Some(Timestamp(T0 + 350 * 1_000)),
                ..EventQuery::default()
            },
        )
        .unwrap();
    assert!(window == expected[510..1_050], "time window across blocks");

    let hits = store.search("output", 4).unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.event_id.as_str()).collect();
    assert_eq!(
        ids,
        ["long-a-1299", "long-a-1296", "long-a-1297", "long-a-1298"],
        "newest first, ties by session then event id"
    );
    let hits = store.search("number700", 10).unwrap();
    let ids: Vec<&str> = hits.iter().map(|h| h.event_id.as_str()).collect();
    assert_eq!(ids, ["long-a-700", "long-b-700"]);
    let runs = store
        .tool_runs(&ToolRunQuery {
            session_ids: vec!["long-b".into()],
            ..ToolRunQuery::default()
        })
        .unwrap();
    assert_eq!(runs.len(), 650);
    assert_eq!(runs[0].event_id, "long-b-1296");

    let pruned = store
        .prune(&RetentionPolicy {
            max_age_ms: None,
            max_count: Some(0),
            now: Timestamp(T0 + 3_600_000_000),
        })
        .unwrap();
    assert_eq!(pruned.events, 1_950);
    assert!(store
        .events("long-a", &EventQuery::default())
        .unwrap()
        .is_empty());
    assert!(store.search("output", 4).unwrap().is_empty());
    // A pruned session's ids may be used again.
    assert_eq!(store.append_events(&batch(0, 1)).unwrap().inserted, 2);
}

/// The same event read twice in two shapes (a MyAgent runs export and its
/// traces export): the store keeps the fuller copy, in either order and
/// within one batch, in the first copy's place, and its texts and tool run
/// are what the fuller copy says; a fuller copy of another time is only a
/// duplicate; counts never double.
pub fn a_fuller_copy_replaces_the_stored_one(store: &dyn Store) {
    let s = "s-copies";
    let poor = vec![
        Event::new("c1", EventKind::SessionStart, ts(0), s),
        Event::new("c2", EventKind::ToolEnd, ts(1), s),
        Event::new("c3", EventKind::Log, ts(1), s).with(keys::MESSAGE, "tied"),
        Event::new("c4", EventKind::SessionEnd, ts(2), s)
            .with(keys::STATUS, "completed")
            .with("extra", 1),
    ];
    let full = vec![
        Event::new("c1", EventKind::SessionStart, ts(0), s)
            .with(keys::TASK, "Summarise the zeppelin manifest")
            .with(keys::AGENT_NAME, "summariser"),
        Event::new("c2", EventKind::ToolEnd, ts(1), s).with(keys::TOOL, "grep"),
        // Fewer members than the stored copy: it stays.
        Event::new("c4", EventKind::SessionEnd, ts(2), s).with(keys::STATUS, "completed"),
    ];
    let first = store.append_events(&poor).unwrap();
    assert_eq!((first.inserted, first.duplicates), (4, 0));
    assert!(store
        .tool_runs(&ToolRunQuery::default())
        .unwrap()
        .is_empty());
    let second = store.append_events(&full).unwrap();
    assert_eq!((second.inserted, second.duplicates), (0, 3));
    let stored = store.events(s, &EventQuery::default()).unwrap();
    let ids: Vec<&str> = stored.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["c1", "c2", "c3", "c4"], "each copy kept its place");
    assert_eq!(stored[0], full[0]);
    assert_eq!(stored[1], full[1]);
    assert_eq!(stored[3], poor[3], "the fuller copy stored first stays");
    let runs = store.tool_runs(&ToolRunQuery::default()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        (runs[0].event_id.as_str(), runs[0].tool.as_str()),
        ("c2", "grep")
    );
    let hits = store.search("zeppelin", 10).unwrap();
    assert_eq!(hits.len(), 1, "the fuller copy's texts are searchable");
    // Poorer copies again, and a fuller one of another time: nothing changes.
    let later = Event::new("c3", EventKind::Log, ts(5), s)
        .with(keys::MESSAGE, "moved")
        .with("extra", 2);
    let third = store
        .append_events(&[poor.clone(), vec![later]].concat())
        .unwrap();
    assert_eq!((third.inserted, third.duplicates), (0, 5));
    assert_eq!(store.events(s, &EventQuery::default()).unwrap(), stored);
    // Both copies in one batch, the fuller second.
    let t = "s-copies-batch";
    let pair = vec![
        Event::new("d1", EventKind::SessionStart, ts(0), t),
        Event::new("d1", EventKind::SessionStart, ts(0), t).with(keys::TASK, "both at once"),
    ];
    let out = store.append_events(&pair).unwrap();
    assert_eq!((out.inserted, out.duplicates), (1, 1));
    assert_eq!(
        store.events(t, &EventQuery::default()).unwrap(),
        [pair[1].clone()]
    );
}

/// Instantiates every behaviour test for a backend: `$make` builds a fresh store.
#[macro_export]
macro_rules! behaviour_tests {
    ($make:expr) => {
        #[test]
        fn search_folds_diacritics() {
            let store = $make;
            common::search_folds_diacritics(common::AsStore::as_store(&store));
        }
        #[test]
        fn unknown_cost_and_tokens_stay_unknown() {
            let store = $make;
            common::unknown_cost_and_tokens_stay_unknown(common::AsStore::as_store(&store));
        }
        #[test]
        fn long_interleaved_sessions() {
            let store = $make;
            common::long_interleaved_sessions(common::AsStore::as_store(&store));
        }
        #[test]
        fn a_fuller_copy_replaces_the_stored_one() {
            let store = $make;
            common::a_fuller_copy_replaces_the_stored_one(common::AsStore::as_store(&store));
        }
        #[test]
        fn append_is_idempotent() {
            let store = $make;
            common::append_is_idempotent(common::AsStore::as_store(&store));
        }
        #[test]
        fn events_round_trip_in_time_order() {
            let store = $make;
            common::events_round_trip_in_time_order(common::AsStore::as_store(&store));
        }
        #[test]
        fn event_pages_cover_the_session_in_order() {
            let store = $make;
            common::event_pages_cover_the_session_in_order(common::AsStore::as_store(&store));
        }
        #[test]
        fn session_rows_round_trip() {
            let store = $make;
            common::session_rows_round_trip(common::AsStore::as_store(&store));
        }
        #[test]
        fn every_session_filter() {
            let store = $make;
            common::every_session_filter(common::AsStore::as_store(&store));
        }
        #[test]
        fn session_ids_by_prefix() {
            let store = $make;
            common::session_ids_by_prefix(common::AsStore::as_store(&store));
        }
        #[test]
        fn sessions_deleted_by_id() {
            let store = $make;
            common::sessions_deleted_by_id(common::AsStore::as_store(&store));
        }
        #[test]
        fn sort_limit_offset() {
            let store = $make;
            common::sort_limit_offset(common::AsStore::as_store(&store));
        }
        #[test]
        fn tool_run_filters() {
            let store = $make;
            common::tool_run_filters(common::AsStore::as_store(&store));
        }
        #[test]
        fn full_text_search() {
            let store = $make;
            common::full_text_search(common::AsStore::as_store(&store));
        }
        #[test]
        fn statistics() {
            let store = $make;
            common::statistics(common::AsStore::as_store(&store));
        }
        #[test]
        fn statistics_split_a_session_by_model() {
            let store = $make;
            common::statistics_split_a_session_by_model(common::AsStore::as_store(&store));
        }
        #[test]
        fn prune_by_age() {
            let store = $make;
            common::prune_by_age(common::AsStore::as_store(&store));
        }
        #[test]
        fn prune_by_count() {
            let store = $make;
            common::prune_by_count(common::AsStore::as_store(&store));
        }
        #[test]
        fn ingested_files_are_remembered() {
            let store = $make;
            common::ingested_files_are_remembered(common::AsStore::as_store(&store));
        }
    };
}
