//! Generates large, deterministic trace sets for the reading benchmark
//! (bench/parse-throughput.sh): canonical Loupe, attocode-py and attocode-ts
//! JSONL with a realistic event mix (sessions of iterations, each an LLM
//! request/response with cache tokens and one to three tool calls, some
//! failing), shaped exactly like the real writers' lines.
//!
//! Usage: `gen_jsonl OUT_DIR [BYTES_PER_FORMAT] [FILES_PER_FORMAT]`
//! (defaults: 1 GiB, 8 files). Writes `OUT_DIR/{loupe,attocode-py,attocode-ts}/*.jsonl`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use loupe_formats::CanonicalWriter;
use loupe_model::{keys, Event, EventKind, Timestamp, TokenUsage};

/// A small deterministic generator (xorshift64*), so every run writes the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TOOLS: &[&str] = &["read_file", "bash", "grep", "write_file", "glob", "edit"];
const ARGS: &[&str] = &[
    r#"{"path": "src/api/users.py"}"#,
    r#"{"command": "npm test -- users"}"#,
    r#"{"pattern": "TODO", "path": "src"}"#,
    r#"{"path": "tests/test_users.py", "content": "def test_create_user(): ..."}"#,
];

/// One synthetic LLM call with its tools.
struct Step {
    iteration: u32,
    t_ms: i64,
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    llm_ms: u64,
    tools: Vec<(usize, usize, u64, bool)>, // (tool, args, duration, failed)
}

fn session_steps(rng: &mut Rng, start_ms: i64) -> Vec<Step> {
    let n = 4 + rng.below(12) as u32;
    let mut t = start_ms;
    (1..=n)
        .map(|iteration| {
            let llm_ms = 500 + rng.below(4000);
            let tools = (0..1 + rng.below(3))
                .map(|_| {
                    (
                        rng.below(TOOLS.len() as u64) as usize,
                        rng.below(ARGS.len() as u64) as usize,
                        10 + rng.below(3000),
                        rng.below(10) == 0,
                    )
                })
                .collect::<Vec<_>>();
            let cache_read = 1000 * u64::from(iteration) + rng.below(500);
            let step = Step {
                iteration,
                t_ms: t,
                input: 400 + rng.below(2000),
                output: 50 + rng.below(800),
                cache_read,
                cache_write: 200 + rng.below(1500),
                llm_ms,
                tools,
            };
            t += llm_ms as i64 + step.tools.iter().map(|x| x.2 as i64).sum::<i64>() + 50;
            step
        })
        .collect()
}

fn ts_iso(ms: i64) -> String {
    // attocode-ts writes milliseconds with `Z`.
    let s = Timestamp::from_epoch_millis(ms).to_rfc3339();
    format!("{}Z", &s[..23])
}

fn write_canonical_session(
    w: &mut CanonicalWriter<impl Write>,
    sid: &str,
    steps: &[Step],
    start: i64,
) -> std::io::Result<()> {
    let ts = |ms: i64| Timestamp::from_epoch_millis(ms);
    let mut n = 0u64;
    let mut id = || {
        n += 1;
        format!("{sid}-{n}")
    };
    let start_ev = Event::new(id(), EventKind::SessionStart, ts(start), sid)
        .with(keys::FORMAT, "loupe")
        .with(keys::FORMAT_VERSION, 1)
        .with(keys::TASK, "Add input validation to the /users endpoint")
        .with(keys::MODEL, "claude-sonnet-4-5");
    w.write(&start_ev)?;
    let mut end = start;
    for s in steps {
        let mut e = Event::new(id(), EventKind::IterationStart, ts(s.t_ms), sid);
        e.iteration = Some(s.iteration);
        w.write(&e)?;
        let mut req = Event::new(id(), EventKind::LlmRequest, ts(s.t_ms), sid)
            .with(keys::MODEL, "claude-sonnet-4-5")
            .with(keys::MESSAGE_COUNT, 2 * s.iteration);
        req.iteration = Some(s.iteration);
        req.span_id = Some(format!("req-{}", s.iteration));
        w.write(&req)?;
        let mut resp = Event::new(
            id(),
            EventKind::LlmResponse,
            ts(s.t_ms + s.llm_ms as i64),
            sid,
        )
        .with(keys::MODEL, "claude-sonnet-4-5")
        .with(keys::STOP_REASON, "tool_use")
        .with(keys::TOOL_CALLS, s.tools.len());
        resp.iteration = Some(s.iteration);
        resp.span_id = req.span_id.clone();
        resp.duration_ms = Some(s.llm_ms as f64);
        resp.set_usage(&TokenUsage::from_additive(
            Some(s.input),
            Some(s.output),
            Some(s.cache_read),
            Some(s.cache_write),
        ));
        w.write(&resp)?;
        let mut t = s.t_ms + s.llm_ms as i64;
        for &(tool, args, dur, failed) in &s.tools {
            t += dur as i64;
            let kind = if failed {
                EventKind::ToolError
            } else {
                EventKind::ToolEnd
            };
            let mut te = Event::new(id(), kind, ts(t), sid)
                .with(keys::TOOL, TOOLS[tool])
                .with(
                    keys::ARGS,
                    serde_json::from_str::<serde_json::Value>(ARGS[args]).unwrap_or_default(),
                );
            if failed {
                te = te.with(keys::ERROR, "exit code 1: 3 failing");
            } else {
                te = te.with(keys::RESULT, "def create_user(...): ...");
            }
            te.iteration = Some(s.iteration);
            te.duration_ms = Some(dur as f64);
            w.write(&te)?;
        }
        end = t + 50;
    }
    w.write(&Event::new(id(), EventKind::SessionEnd, ts(end), sid).with(keys::STATUS, "completed"))
}

fn write_py_session(
    w: &mut impl Write,
    sid: &str,
    steps: &[Step],
    start: i64,
    rng: &mut Rng,
) -> std::io::Result<()> {
    let secs = |ms: i64| ms as f64 / 1000.0;
    let mut eid = || format!("{:012x}", rng.next() >> 16);
    writeln!(
        w,
        r#"{{"event_id": "{}", "kind": "session_start", "timestamp": {}, "session_id": "{sid}", "data": {{"goal": "Add input validation to the /users endpoint", "model": "claude-sonnet-4-20250514", "provider": "anthropic"}}}}"#,
        eid(),
        secs(start)
    )?;
    let mut end = start;
    for s in steps {
        let it = s.iteration;
        writeln!(
            w,
            r#"{{"event_id": "{}", "kind": "iteration_start", "timestamp": {}, "session_id": "{sid}", "iteration": {it}}}"#,
            eid(),
            secs(s.t_ms)
        )?;
        writeln!(
            w,
            r#"{{"event_id": "{}", "kind": "llm_request", "timestamp": {}, "session_id": "{sid}", "iteration": {it}, "data": {{"messages_count": {}, "model": "claude-sonnet-4-20250514"}}}}"#,
            eid(),
            secs(s.t_ms),
            2 * it
        )?;
        let total = s.input + s.output + s.cache_read + s.cache_write;
        writeln!(
            w,
            r#"{{"event_id": "{}", "kind": "llm_response", "timestamp": {}, "session_id": "{sid}", "iteration": {it}, "data": {{"tokens": {total}, "cost": 0.0{}, "model": "claude-sonnet-4-20250514", "input_tokens": {}, "output_tokens": {}, "cache_read_tokens": {}, "cache_write_tokens": {}, "stop_reason": "tool_use", "tool_calls": {}}}, "duration_ms": {}.0}}"#,
            eid(),
            secs(s.t_ms + s.llm_ms as i64),
            total,
            s.input,
            s.output,
            s.cache_read,
            s.cache_write,
            s.tools.len(),
            s.llm_ms
        )?;
        let mut t = s.t_ms + s.llm_ms as i64;
        for &(tool, args, dur, failed) in &s.tools {
            t += dur as i64;
            if failed {
                writeln!(
                    w,
                    r#"{{"event_id": "{}", "kind": "tool_error", "timestamp": {}, "session_id": "{sid}", "iteration": {it}, "data": {{"tool": "{}", "args": {}, "error": "exit code 1: 3 failing"}}, "duration_ms": {dur}.0}}"#,
                    eid(),
                    secs(t),
                    TOOLS[tool],
                    ARGS[args]
                )?;
            } else {
                writeln!(
                    w,
                    r#"{{"event_id": "{}", "kind": "tool_end", "timestamp": {}, "session_id": "{sid}", "iteration": {it}, "data": {{"tool": "{}", "args": {}, "result": "def create_user(...): ..."}}, "duration_ms": {dur}.0}}"#,
                    eid(),
                    secs(t),
                    TOOLS[tool],
                    ARGS[args]
                )?;
            }
        }
        writeln!(
            w,
            r#"{{"event_id": "{}", "kind": "iteration_end", "timestamp": {}, "session_id": "{sid}", "iteration": {it}, "duration_ms": {}.0}}"#,
            eid(),
            secs(t),
            t - s.t_ms
        )?;
        end = t + 50;
    }
    writeln!(
        w,
        r#"{{"event_id": "{}", "kind": "session_end", "timestamp": {}, "session_id": "{sid}", "data": {{"status": "complete", "duration_seconds": {}}}}}"#,
        eid(),
        secs(end),
        secs(end - start)
    )
}

fn write_ts_session(
    w: &mut impl Write,
    sid: &str,
    steps: &[Step],
    start: i64,
) -> std::io::Result<()> {
    let trace = "9accd340b26dcfb6968f04f6f0d80ee8";
    writeln!(
        w,
        r#"{{"_type":"session.start","_ts":"{}","traceId":"{trace}","sessionId":"{sid}","task":"Add input validation to the /users endpoint","model":"claude-sonnet-4-20250514","metadata":{{}}}}"#,
        ts_iso(start)
    )?;
    let mut end = start;
    for s in steps {
        let req = format!("req-{}-{:06}", s.t_ms, s.iteration);
        writeln!(
            w,
            r#"{{"_type":"llm.request","_ts":"{}","traceId":"{trace}","requestId":"{req}","model":"claude-sonnet-4-20250514","messageCount":{},"toolCount":4,"estimatedInputTokens":{}}}"#,
            ts_iso(s.t_ms),
            2 * s.iteration,
            s.input
        )?;
        let input = s.input + s.cache_read + s.cache_write;
        let hit = s.cache_read as f64 / input as f64;
        writeln!(
            w,
            r#"{{"_type":"llm.response","_ts":"{}","traceId":"{trace}","requestId":"{req}","durationMs":{},"tokens":{{"input":{input},"output":{},"total":{},"breakdown":{{"systemPrompt":20,"messages":{},"toolDefinitions":111,"toolResults":0}}}},"cache":{{"cacheReadTokens":{},"cacheWriteTokens":{},"freshTokens":{},"hitRate":{hit},"estimatedSavings":0.0143,"breakpoints":[]}},"stopReason":"tool_use","toolCallCount":{}}}"#,
            ts_iso(s.t_ms + s.llm_ms as i64),
            s.llm_ms,
            s.output,
            input + s.output,
            input - 20,
            s.cache_read,
            s.cache_write,
            input - s.cache_read,
            s.tools.len()
        )?;
        let mut t = s.t_ms + s.llm_ms as i64;
        for (k, &(tool, args, dur, failed)) in s.tools.iter().enumerate() {
            t += dur as i64;
            let exec = format!("exec-{}-{:06}", t, k);
            if failed {
                writeln!(
                    w,
                    r#"{{"_type":"tool.execution","_ts":"{}","traceId":"{trace}","executionId":"{exec}","toolName":"{}","durationMs":{dur},"status":"error","input":{},"errorMessage":"exit code 1: 3 failing"}}"#,
                    ts_iso(t),
                    TOOLS[tool],
                    ARGS[args]
                )?;
            } else {
                writeln!(
                    w,
                    r#"{{"_type":"tool.execution","_ts":"{}","traceId":"{trace}","executionId":"{exec}","toolName":"{}","durationMs":{dur},"status":"success","resultSize":24,"input":{},"outputPreview":"def create_user(...): ..."}}"#,
                    ts_iso(t),
                    TOOLS[tool],
                    ARGS[args]
                )?;
            }
        }
        end = t + 50;
    }
    writeln!(
        w,
        r#"{{"_type":"session.end","_ts":"{}","traceId":"{trace}","sessionId":"{sid}","status":"completed","durationMs":{},"metrics":{{"inputTokens":0,"outputTokens":0,"cacheReadTokens":0,"cacheWriteTokens":0,"estimatedCost":0,"toolCalls":0,"llmCalls":{},"duration":0,"errors":0,"retries":0}}}}"#,
        ts_iso(end),
        end - start,
        steps.len()
    )
}

/// Counts bytes written through it.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn generate(dir: &Path, format: &str, bytes_total: u64, files: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let per_file = bytes_total.div_ceil(files);
    for f in 0..files {
        let path = dir.join(format!("{format}-{f:02}.jsonl"));
        let counted = Counted {
            inner: BufWriter::with_capacity(1 << 20, File::create(&path)?),
            bytes: 0,
        };
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((f + 1) << 8) ^ format.len() as u64);
        let mut start = 1_772_280_000_000i64;
        let mut session = 0u64;
        let mut next_session = |rng: &mut Rng| {
            session += 1;
            start += 60_000;
            let sid = format!("{format}-{f:02}-{session:07}");
            let steps = session_steps(rng, start);
            (sid, steps, start)
        };
        if format == "loupe" {
            let mut w = CanonicalWriter::new(counted);
            while w.get_ref().bytes < per_file {
                let (sid, steps, start) = next_session(&mut rng);
                write_canonical_session(&mut w, &sid, &steps, start)?;
            }
            w.flush()?;
        } else {
            let mut w = counted;
            while w.bytes < per_file {
                let (sid, steps, start) = next_session(&mut rng);
                if format == "attocode-py" {
                    write_py_session(&mut w, &sid, &steps, start, &mut rng)?;
                } else {
                    write_ts_session(&mut w, &sid, &steps, start)?;
                }
            }
            w.flush()?;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(out) = args.get(1) else {
        eprintln!("usage: gen_jsonl OUT_DIR [BYTES_PER_FORMAT] [FILES_PER_FORMAT]");
        std::process::exit(2);
    };
    let bytes: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1 << 30);
    let files: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8);
    for format in ["loupe", "attocode-py", "attocode-ts"] {
        let dir = Path::new(out).join(format);
        generate(&dir, format, bytes, files)?;
        eprintln!("wrote {}", dir.display());
    }
    Ok(())
}
