//! A simulated coding agent recorded through the public API, for `loupe demo`,
//! the docs and tests: iterations with growing, cached context; reported cost
//! on some calls only; tools with failures and a retry loop (same tool, same
//! arguments, three times); a subagent with its own calls; a compaction; a
//! budget warning; thinking, a decision and file changes.
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

const TASKS: &[&str] = &[
    "Fix the failing login test in src/auth/session.rs",
    "Add pagination to the /users endpoint",
    "Refactor the config loader to support TOML",
    "Find and fix the memory leak in the cache layer",
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
    let task = TASKS[index % TASKS.len()];
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
    session.record_plan_created(&["reproduce", "locate the cause", "fix", "run the tests"]);

    let iterations = 6 + rng.range(0, 3) as u32;
    let mut context: u64 = 3_800 + rng.range(0, 800);
    let mut cached: u64 = 0;
    for k in 1..=iterations {
        let it = session.iteration();
        tick(20, 80, &mut rng);
        if k <= 2 {
            it.record_thinking(
                "The test fails after the token refresh; check how expiry is compared.",
                Some(rng.range(120, 400)),
            );
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
            tool_calls: Some(if last { 0 } else { 1 + (k % 2) }),
            content: Some(if last {
                "All tests pass now."
            } else {
                "Let me look at the code."
            }),
            ..Default::default()
        });
        cached = context;
        context += 1_800 + rng.range(0, 1_500);
        if last {
            it.record_quality_check("tests_pass", 0.92, true);
            it.record_checkpoint("final", Some(u64::from(2 * k)));
            break;
        }
        act(&it, k, &clock, &mut rng);
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
    let status = if index % 4 == 3 {
        SessionStatus::Failed
    } else {
        SessionStatus::Completed
    };
    session.end(status);
    Ok(recorder.summary())
}

/// The tools of iteration `k`.
fn act(it: &Recorder, k: u32, clock: &ManualClock, rng: &mut Rng) {
    let mut tick = |lo: u64, hi: u64| clock.advance_ms(rng.range(lo, hi) as f64);
    match k {
        1 => {
            let args = json!({"path": "src/auth/session.rs"});
            let t = it.tool("read_file", Some(&args));
            tick(5, 60);
            t.ok(Some(&json!("pub fn refresh(&mut self) { ... }")));
        }
        2 => {
            it.record_decision(
                "tool_selection",
                "grep",
                Some("searching is cheaper than reading every file"),
                &["grep", "read_file", "list_dir"],
            );
            let args = json!({"pattern": "expires_at", "path": "src"});
            let t = it.tool("grep", Some(&args));
            tick(20, 150);
            t.ok(Some(&json!(
                "src/auth/session.rs:42: if now > expires_at {"
            )));
            let t = it.tool("read_file", Some(&json!({"path": "src/auth/missing.rs"})));
            tick(2, 10);
            t.fail("No such file or directory (os error 2)");
        }
        3 => {
            // The retry loop: the same command with the same arguments, three times.
            let args = json!({"command": "cargo test auth::"});
            for _ in 0..3 {
                let r: Result<(), String> = it.in_tool("bash", Some(&args), || {
                    tick(1_500, 4_000);
                    Err("test auth::refresh_keeps_session ... FAILED".into())
                });
                debug_assert!(r.is_err());
            }
            it.record_recovery(
                "re-read the failing test",
                Some("stop retrying the same command"),
            );
        }
        4 => {
            let sub = it.subagent(
                "researcher-1",
                Some("researcher"),
                Some("find how tokens are refreshed"),
            );
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
            let t = sub.tool(
                "grep",
                Some(&json!({"pattern": "fn refresh", "path": "src"})),
            );
            tick(20, 90);
            t.ok(Some(&json!("src/auth/session.rs:40")));
            sub.complete(Some(
                "refresh() compares expiry in seconds against milliseconds",
            ));
        }
        _ => {
            let args = json!({"path": "src/auth/session.rs", "old": "now > expires_at", "new": "now_ms > expires_at_ms"});
            let t = it.tool("edit_file", Some(&args));
            tick(5, 30);
            t.ok(Some(&json!("ok")));
            it.record_file_change("src/auth/session.rs", "modify", Some(3), Some(1));
            let r: Result<&str, String> =
                it.in_tool("bash", Some(&json!({"command": "cargo test"})), || {
                    tick(2_000, 6_000);
                    Ok("test result: ok. 42 passed")
                });
            debug_assert!(r.is_ok());
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
}
