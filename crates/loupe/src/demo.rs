//! A simulated coding agent recorded through the public API, for `loupe demo`,
//! the docs and tests: iterations with growing, cached context; reported cost
//! on some calls only; tools with failures; a subagent with its own calls; a
//! compaction; a budget warning; thinking, a decision and file changes. Each
//! session works on one of four tasks (`SCENARIOS`), each going wrong its
//! own way: a retry loop (same command, same arguments, three times), a
//! build error fixed at once, a missing dependency retried once, and a load
//! test that times out until the session gives up and fails.
//!
//! Output is a pure function of `(sessions, seed)`: a [`ManualClock`] supplies
//! timestamps, [`Builder::id_seed`] fixes event ids and a small splitmix64
//! generator drives every choice, so two runs write identical bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use loupe_model::{SessionStatus, Timestamp, TokenUsage};
use serde_json::json;

use crate::{
    BudgetStatus, Builder, Compaction, LlmRequest, LlmResponse, ManualClock, QueueFullPolicy,
    Recorder, RecorderError, Summary,
};

/// What [`run_demo`] wrote.
#[derive(Clone, Debug, Default)]
pub struct DemoReport {
    /// One trace file per session, in order.
    pub files: Vec<PathBuf>,
    /// Events written, all sessions together.
    pub events: u64,
    /// Each session's final summary.
    pub summaries: Vec<Summary>,
}

/// splitmix64: tiny, fast, reproducible; quality is ample for a simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

/// One simulated task: what the agent reads, searches, breaks and fixes.
/// Each task shows a different way a run goes wrong, so the demo's sessions
/// differ the way real runs do.
struct Scenario {
    task: &'static str,
    plan: &'static [&'static str],
    thinking: &'static str,
    /// The first file read, and what it shows.
    read: (&'static str, &'static str),
    /// A search: pattern, directory, hit.
    search: (&'static str, &'static str, &'static str),
    /// A file that does not exist, read by mistake.
    missing: &'static str,
    /// The failing command of iteration 3, its error, and how many times
    /// the agent runs it unchanged (3 is a doom loop).
    failing: (&'static str, &'static str, u32),
    /// The subagent: type, task, what it searches and what it reports.
    subagent: (&'static str, &'static str, &'static str, &'static str),
    /// The edits of the later iterations, in order: path, old, new.
    edits: &'static [(&'static str, &'static str, &'static str)],
    /// The test command run after each edit, and its passing output.
    test: (&'static str, &'static str),
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        task: "Fix the failing login test in src/auth/session.rs",
        plan: &["reproduce", "locate the cause", "fix", "run the tests"],
        thinking: "The test fails after the token refresh; check how expiry is compared.",
        read: ("src/auth/session.rs", "pub fn refresh(&mut self) { ... }"),
        search: (
            "expires_at",
            "src",
            "src/auth/session.rs:42: if now > expires_at {",
        ),
        missing: "src/auth/missing.rs",
        failing: (
            "cargo test auth::",
            "test auth::refresh_keeps_session ... FAILED",
            3,
        ),
        subagent: (
            "researcher",
            "find how tokens are refreshed",
            "fn refresh",
            "refresh() compares expiry in seconds against milliseconds",
        ),
        edits: &[
            (
                "src/auth/session.rs",
                "now > expires_at",
                "now_ms > expires_at_ms",
            ),
            ("src/auth/token.rs", "expires_in * 1000", "expires_in_ms"),
            ("tests/auth.rs", "sleep(1)", "advance_clock(1_000)"),
            (
                "CHANGELOG.md",
                "## Unreleased",
                "## Unreleased\n- fix token expiry units",
            ),
        ],
        test: ("cargo test auth::", "test result: ok. 42 passed"),
    },
    Scenario {
        task: "Add pagination to the /users endpoint",
        plan: &[
            "read the handler",
            "add page parameters",
            "update the tests",
        ],
        thinking: "The handler returns every row; add limit and offset with a default page size.",
        read: (
            "src/api/users.rs",
            "async fn list_users(db: Db) -> Json<Vec<User>> { ... }",
        ),
        search: (
            "fn list_users",
            "src/api",
            "src/api/users.rs:18: async fn list_users(",
        ),
        missing: "src/api/pagination.rs",
        failing: (
            "cargo build",
            "error[E0425]: cannot find value `page_size` in this scope",
            1,
        ),
        subagent: (
            "reviewer",
            "check how other endpoints paginate",
            "Query<Page>",
            "orders.rs takes Query<Page> with limit ≤ 100; reuse it",
        ),
        edits: &[
            (
                "src/api/users.rs",
                "db: Db)",
                "db: Db, Query(page): Query<Page>)",
            ),
            (
                "src/api/users.rs",
                ".fetch_all(",
                ".limit(page.limit).offset(page.offset).fetch_all(",
            ),
            (
                "tests/users.rs",
                "get(\"/users\")",
                "get(\"/users?limit=2\")",
            ),
            ("docs/api.md", "GET /users", "GET /users?limit=&offset="),
        ],
        test: ("cargo test users::", "test result: ok. 18 passed"),
    },
    Scenario {
        task: "Refactor the config loader to support TOML",
        plan: &[
            "add the toml crate",
            "parse by extension",
            "keep YAML working",
        ],
        thinking: "Dispatch on the file extension; keep the YAML path as it is.",
        read: (
            "src/config.rs",
            "pub fn load(path: &Path) -> Result<Config> { serde_yaml::from_str(..) }",
        ),
        search: ("serde_yaml", "src", "src/config.rs:7: use serde_yaml;"),
        missing: "config/default.toml",
        failing: ("cargo build", "error[E0432]: unresolved import `toml`", 2),
        subagent: (
            "researcher",
            "list every caller of config::load",
            "config::load",
            "3 callers: main.rs, cli.rs, tests/config.rs",
        ),
        edits: &[
            (
                "Cargo.toml",
                "[dependencies]",
                "[dependencies]\ntoml = \"0.8\"",
            ),
            (
                "src/config.rs",
                "serde_yaml::from_str(&text)",
                "parse(path, &text)",
            ),
            (
                "src/config.rs",
                "pub fn load",
                "fn parse(path: &Path, text: &str) -> Result<Config>;\npub fn load",
            ),
            ("tests/config.rs", "load(\"a.yaml\")", "load(\"a.toml\")"),
        ],
        test: ("cargo test config", "test result: ok. 9 passed"),
    },
    Scenario {
        task: "Find and fix the memory leak in the cache layer",
        plan: &[
            "reproduce under load",
            "profile allocations",
            "fix the eviction",
        ],
        thinking: "Memory grows with distinct keys; eviction may never run.",
        read: (
            "src/cache/lru.rs",
            "fn insert(&mut self, k: K, v: V) { self.map.insert(k, v); }",
        ),
        search: (
            "fn evict",
            "src/cache",
            "src/cache/lru.rs:88: fn evict(&mut self) {",
        ),
        missing: "src/cache/metrics.rs",
        failing: (
            "cargo run --release --bin loadtest",
            "timed out after 120s: RSS 3.9 GiB and growing",
            3,
        ),
        subagent: (
            "profiler",
            "profile the allocations of the load test",
            "HashMap::insert",
            "98% of live bytes come from Lru::insert; evict() is never called",
        ),
        edits: &[
            (
                "src/cache/lru.rs",
                "self.map.insert(k, v);",
                "self.map.insert(k, v);\n        self.evict();",
            ),
            (
                "src/cache/lru.rs",
                "fn evict(&mut self) {",
                "fn evict(&mut self) {\n        while self.map.len() > self.cap {",
            ),
            (
                "src/cache/lru.rs",
                "self.order.push(k)",
                "self.order.push_back(k)",
            ),
            ("src/cache/lru.rs", "cap: usize", "cap: NonZeroUsize"),
        ],
        test: ("cargo test cache::", "test result: ok. 27 passed"),
    },
];

/// 2026-03-01T09:00:00Z.
const DEMO_EPOCH_MICROS: i64 = 1_772_355_600_000_000;

/// Records `sessions` simulated sessions into `out_dir` (files
/// `demo-{seed}-{n}.jsonl`, replaced if present) and reports what it wrote.
pub fn run_demo(out_dir: &Path, sessions: usize, seed: u64) -> Result<DemoReport, RecorderError> {
    let mut report = DemoReport::default();
    for index in 0..sessions {
        let session_id = format!("demo-{seed}-{:03}", index + 1);
        let path = out_dir.join(format!("{session_id}.jsonl"));
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(RecorderError::Io { path, source: e })
            }
            _ => {}
        }
        let summary = run_session(out_dir, &session_id, index, seed)?;
        report.events += summary.events;
        report.summaries.push(summary);
        report.files.push(path);
    }
    Ok(report)
}

fn run_session(
    out_dir: &Path,
    session_id: &str,
    index: usize,
    seed: u64,
) -> Result<Summary, RecorderError> {
    let mut rng = Rng(seed ^ (index as u64).wrapping_mul(0xa076_1d64_78bd_642f));
    let clock = Arc::new(ManualClock::new(Timestamp(
        DEMO_EPOCH_MICROS + index as i64 * 3_600_000_000,
    )));
    let (model, provider) = if index % 3 == 2 {
        ("gpt-4o-mini", "openai")
    } else {
        ("claude-sonnet-4-5", "anthropic")
    };
    let scenario = &SCENARIOS[index % SCENARIOS.len()];
    let task = scenario.task;
    let session = Builder::default()
        .dir(out_dir)
        .session_id(session_id)
        .task(task)
        .model(model)
        .agent_name("demo-coder")
        .tag("demo")
        .metadata("seed", seed)
        .clock(clock.clone())
        .id_seed(seed.wrapping_add(index as u64))
        .queue_full(QueueFullPolicy::Block)
        .flush_on_panic(false)
        .flush_at_exit(false)
        .start()?;
    let tick = |lo: u64, hi: u64, rng: &mut Rng| clock.advance_ms(rng.range(lo, hi) as f64);

    session.record_mcp_connect("filesystem", Some(6));
    session.record_mode_change("plan", "act", Some("plan approved"));
    session.record_plan_created(scenario.plan);

    // Every fourth session (the memory leak) gives up and fails.
    let gives_up = index % 4 == 3;
    let iterations = 6 + rng.range(0, 3) as u32;
    let mut context: u64 = 3_800 + rng.range(0, 800);
    let mut cached: u64 = 0;
    for k in 1..=iterations {
        let it = session.iteration();
        tick(20, 80, &mut rng);
        if k <= 2 {
            it.record_thinking(scenario.thinking, Some(rng.range(120, 400)));
        }
        // The LLM call: the previous context is read from the cache, the new
        // part is written to it.
        let call = it.llm_call(&LlmRequest {
            model: Some(model),
            provider: Some(provider),
            message_count: Some(u64::from(2 * k)),
            tool_count: Some(8),
            messages: None,
        });
        tick(700, 3_200, &mut rng);
        let output = rng.range(80, 600);
        let usage = TokenUsage::otel(context, output)
            .with_cache(cached, context - cached)
            .with_reasoning(output / 5);
        let last = k == iterations;
        call.response(&LlmResponse {
            usage,
            stop_reason: Some(if last { "end_turn" } else { "tool_use" }),
            cost_usd: (k % 2 == 0).then(|| price(model, &usage)),
            tool_calls: Some(if last { 0 } else { tool_calls_in(scenario, k) }),
            content: Some(match (last, gives_up) {
                (false, _) => "Let me look at the code.",
                (true, false) => "Done: the tests pass.",
                (true, true) => "I could not finish: the load test still runs out of memory.",
            }),
            ..Default::default()
        });
        cached = context;
        context += 1_800 + rng.range(0, 1_500);
        if last {
            if gives_up {
                it.record_quality_check("tests_pass", 0.35, false);
            } else {
                it.record_quality_check("tests_pass", 0.92, true);
            }
            it.record_checkpoint("final", Some(u64::from(2 * k)));
            break;
        }
        act(&it, scenario, k, &clock, &mut rng);
        if k == 4 {
            context += 9_000; // the subagent's findings land in the context
        }
        if k == 5 {
            it.record_budget(
                BudgetStatus::Warning,
                0.82,
                Some("82% of the token budget used"),
            );
        }
        if k == 6 {
            it.record_compaction_start(Some(context), Some(u64::from(2 * k)));
            tick(300, 900, &mut rng);
            let after = context / 3;
            it.record_compaction(&Compaction {
                tokens_before: Some(context),
                tokens_after: Some(after),
                messages_before: Some(u64::from(2 * k)),
                messages_after: Some(3),
                strategy: Some("summarize"),
                duration_ms: Some(600.0),
            });
            context = after;
            cached = 0; // a compaction rewrites the prefix: the cache starts over
        }
        tick(10, 40, &mut rng);
    }
    let recorder = session.recorder();
    let status = if gives_up {
        SessionStatus::Failed
    } else {
        SessionStatus::Completed
    };
    session.end(status);
    Ok(recorder.summary())
}

/// How many tools [`act`] runs in iteration `k` (what the model asked for).
fn tool_calls_in(scenario: &Scenario, k: u32) -> u32 {
    match k {
        1 => 1,
        2 => 2,
        3 => scenario.failing.2,
        4 => 1,
        _ => 1 + k % 2,
    }
}

/// The tools of iteration `k`.
fn act(it: &Recorder, scenario: &Scenario, k: u32, clock: &ManualClock, rng: &mut Rng) {
    let mut tick = |lo: u64, hi: u64| clock.advance_ms(rng.range(lo, hi) as f64);
    match k {
        1 => {
            let (path, content) = scenario.read;
            let t = it.tool("read_file", Some(&json!({ "path": path })));
            tick(5, 60);
            t.ok(Some(&json!(content)));
        }
        2 => {
            it.record_decision(
                "tool_selection",
                "grep",
                Some("searching is cheaper than reading every file"),
                &["grep", "read_file", "list_dir"],
            );
            let (pattern, dir, hit) = scenario.search;
            let t = it.tool("grep", Some(&json!({ "pattern": pattern, "path": dir })));
            tick(20, 150);
            t.ok(Some(&json!(hit)));
            let t = it.tool("read_file", Some(&json!({ "path": scenario.missing })));
            tick(2, 10);
            t.fail("No such file or directory (os error 2)");
        }
        3 => {
            // The same command with the same arguments, as many times as the
            // scenario's agent retries it (three is a doom loop).
            let (command, error, times) = scenario.failing;
            let args = json!({ "command": command });
            for _ in 0..times {
                let r: Result<(), String> = it.in_tool("bash", Some(&args), || {
                    tick(1_500, 4_000);
                    Err(error.into())
                });
                debug_assert!(r.is_err());
            }
            it.record_recovery(
                "read the error and change approach",
                Some("stop retrying the same command"),
            );
        }
        4 => {
            let (agent_type, task, pattern, finding) = scenario.subagent;
            let sub = it.subagent(&format!("{agent_type}-1"), Some(agent_type), Some(task));
            let call = sub.llm_call(&LlmRequest {
                model: Some("claude-haiku-4-5"),
                provider: Some("anthropic"),
                message_count: Some(2),
                ..Default::default()
            });
            tick(400, 1_200);
            call.response(&LlmResponse {
                usage: TokenUsage::otel(2_400, 180).with_cache(0, 2_400),
                stop_reason: Some("tool_use"),
                cost_usd: Some(0.0033),
                ..Default::default()
            });
            let t = sub.tool("grep", Some(&json!({ "pattern": pattern, "path": "src" })));
            tick(20, 90);
            t.ok(Some(&json!(finding)));
            sub.complete(Some(finding));
        }
        _ => {
            // Iterations 5 and later: one edit each, then the tests.
            let edits = scenario.edits;
            let (path, old, new) = edits[(k as usize - 5) % edits.len()];
            let args = json!({ "path": path, "old": old, "new": new });
            let t = it.tool("edit_file", Some(&args));
            tick(5, 30);
            t.ok(Some(&json!("ok")));
            it.record_file_change(path, "modify", Some(u64::from(1 + k % 3)), Some(1));
            // The tests after every other edit (running them after each
            // would be the same call over and over).
            if k % 2 == 1 {
                let (command, passed) = scenario.test;
                let r: Result<&str, String> =
                    it.in_tool("bash", Some(&json!({ "command": command })), || {
                        tick(2_000, 6_000);
                        Ok(passed)
                    });
                debug_assert!(r.is_ok());
            }
        }
    }
}

/// A plausible gateway-reported price (USD per million tokens: input,
/// output, cache read, cache write), used only for the demo's reported costs.
fn price(model: &str, u: &TokenUsage) -> f64 {
    let (i, o, r, w) = match model {
        "gpt-4o-mini" => (0.15, 0.60, 0.075, 0.15),
        "claude-haiku-4-5" => (1.0, 5.0, 0.10, 1.25),
        _ => (3.0, 15.0, 0.30, 3.75),
    };
    let usd = (u.fresh_input() as f64 * i
        + u.output() as f64 * o
        + u.cache_read() as f64 * r
        + u.cache_write() as f64 * w)
        / 1e6;
    (usd * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn demo_is_reproducible_and_has_the_promised_shape() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let ra = run_demo(a.path(), 3, 7).unwrap();
        let rb = run_demo(b.path(), 3, 7).unwrap();
        assert_eq!(ra.files.len(), 3);
        for (fa, fb) in ra.files.iter().zip(&rb.files) {
            let ta = std::fs::read_to_string(fa).unwrap();
            assert_eq!(ta, std::fs::read_to_string(fb).unwrap());
        }
        // Running again into the same directory replaces, not appends.
        let again = run_demo(a.path(), 3, 7).unwrap();
        assert_eq!(again.events, ra.events);
        let text = std::fs::read_to_string(&ra.files[0]).unwrap();
        assert_eq!(text.lines().count() as u64, ra.summaries[0].events);
        for needle in [
            "\"kind\":\"subagent_spawn\"",
            "\"agent\":{\"id\":\"researcher-1\"",
            "\"kind\":\"compaction_end\"",
            "\"kind\":\"budget_warning\"",
            "\"kind\":\"thinking\"",
            "\"kind\":\"decision\"",
            "\"kind\":\"file_change\"",
            "\"cache_read_tokens\"",
            "\"cost_usd\"",
        ] {
            assert!(text.contains(needle), "missing {needle}");
        }
        assert_eq!(text.matches("\"kind\":\"tool_error\"").count(), 4);
        let s = &ra.summaries[0];
        assert!(s.llm_calls > s.iterations, "the subagent adds a call");
    }

    #[test]
    fn each_task_goes_wrong_its_own_way() {
        let dir = tempfile::tempdir().unwrap();
        let report = run_demo(dir.path(), 4, 42).unwrap();
        let texts: Vec<String> = report
            .files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        // Each session reads, searches and edits its own task's files.
        for (text, scenario) in texts.iter().zip(SCENARIOS) {
            assert!(text.contains(scenario.task));
            assert!(text.contains(scenario.read.0), "{}", scenario.task);
            assert!(text.contains(scenario.failing.1), "{}", scenario.task);
        }
        assert!(
            !texts[1].contains("src/auth/"),
            "no login-test files in other tasks"
        );
        // Failed tool runs: the retry loop's three, one, two, three (plus
        // the missing file each time).
        let errors: Vec<usize> = texts
            .iter()
            .map(|t| t.matches("\"kind\":\"tool_error\"").count())
            .collect();
        assert_eq!(errors, [4, 2, 3, 4]);
        // Only the fourth gives up.
        let failed: Vec<bool> = texts
            .iter()
            .map(|t| t.contains("\"kind\":\"session_end\"") && t.contains("\"status\":\"failed\""))
            .collect();
        assert_eq!(failed, [false, false, false, true]);
    }
}
