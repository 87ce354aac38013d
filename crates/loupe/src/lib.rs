//! Record LLM agent traces from Rust: typed events, RAII guards and a
//! non-blocking, crash-safe JSONL writer.
//!
//! One [`Session`] writes one file, `.loupe/traces/{session_id}.jsonl` by
//! default, holding one `serde_json` serialisation of [`loupe_model::Event`]
//! per line (the canonical Loupe format, `docs/loupe-event.schema.json`).
//!
//! ```
//! use loupe::{LlmRequest, LlmResponse, Recorder, SessionStatus, TokenUsage};
//! use serde_json::json;
//!
//! # let dir = tempfile::tempdir().unwrap();
//! let session = Recorder::builder()
//!     .dir(dir.path())          // default: .loupe/traces
//!     .session_id("fix-login")
//!     .task("Fix the login bug")
//!     .model("claude-sonnet-4-5")
//!     .start()?;
//!
//! {
//!     let it = session.iteration();
//!     let call = it.llm_call(&LlmRequest { model: Some("claude-sonnet-4-5"), ..Default::default() });
//!     call.response(&LlmResponse {
//!         usage: TokenUsage::otel(12_000, 300).with_cache(10_000, 0),
//!         stop_reason: Some("tool_use"),
//!         ..Default::default()
//!     });
//!     let read = it.in_tool("read_file", Some(&json!({"path": "src/login.rs"})), || {
//!         std::fs::read_to_string("does/not/exist")
//!     });
//!     assert!(read.is_err()); // recorded as tool_error with the io error's text
//! } // iteration_end recorded here
//!
//! assert_eq!(session.summary().cache_read_tokens, 10_000);
//! let path = session.path().unwrap().to_owned();
//! session.end(SessionStatus::Completed); // session_end with the summary, then flush
//! assert_eq!(std::fs::read_to_string(path)?.lines().count(), 8);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cost on the agent's thread
//!
//! A record call builds an [`loupe_model::Event`] (no timestamp formatting,
//! no serialisation, no regex) and pushes it onto a bounded queue. A
//! background thread per session redacts, truncates, serialises into a reused
//! buffer and writes in batches. Disabled or unsampled sessions hold no
//! state: each call is one branch. Sampling is deterministic: a hash of the
//! session id compared with [`Config::sample_rate`].
//!
//! When the queue is full, [`QueueFullPolicy::Drop`] (default) drops the
//! event, counts it ([`Summary::dropped`]) and the writer later writes a
//! `loupe_dropped` event with `data.dropped`; [`QueueFullPolicy::Block`]
//! waits for room instead and loses nothing.
//!
//! # Durability: what survives a crash
//!
//! | what happens | [`Durability::Buffered`] (default) | [`Durability::EveryEvent`] |
//! |---|---|---|
//! | `Session` ended or dropped | everything, `session_end` included | everything |
//! | panic (unwinding or `panic = "abort"`) | everything recorded before the panic: a panic hook flushes all live sessions; unwinding then ends them (and every open guard) as `failed`, with the panic's place and message as the error (`panicked at src/agent.rs:12:5: boom`) | everything |
//! | `std::process::exit`, `main` returning with a session still open | everything; an `atexit` handler flushes (sessions stay open: no `session_end`) | everything |
//! | `SIGKILL`, power loss | events recorded since the last write (at most `flush_interval`, 500 ms by default, or `buffer_size` bytes); the last line may be torn. Nothing recorded before a [`Recorder::flush`] that returned `true` is lost on `SIGKILL`. | nothing: each record call returns only after its line was written, flushed and `fsync`ed (a call costs one disk sync) |
//!
//! Readers skip a torn last line. Write errors never reach the agent; they are
//! counted in [`Summary::write_errors`], the first of a session is said once
//! on stderr (`loupe: cannot write the trace file PATH: OS error...`), and
//! from then on [`Recorder::flush`] returns false. A write the disk cuts short is cut
//! back to the last whole line, so the file never holds a torn line in its
//! middle; the events it could not take are counted in
//! [`Summary::unwritten`], and once the file takes lines again a
//! `loupe_dropped` line says how many are missing there.
//!
//! A write that never returns (a FIFO nobody reads, a hung network file
//! system) never hangs the agent either: [`Recorder::flush`],
//! [`Session::end`] (or dropping the session) and [`shutdown`] wait for the
//! writer at most 5 s in all, and dropping the last handle afterwards does
//! not wait again. A writer that did not stop in time is left behind (it
//! cannot keep the process from exiting); what it did not write is counted
//! in [`Summary::unwritten`] and said once on stderr.
//!
//! A trace file deleted or replaced while recording is noticed (the writer
//! compares the path's device and inode with its open file at most once a
//! second and on every flush) and opened again at its path, so later events
//! are found there. The new file starts with a `loupe_dropped` event
//! counting the events the old file took with it; they are counted in
//! [`Summary::unwritten`] (so `flush()` returns false from then on) and the
//! reopening in [`Summary::reopened`].
//!
//! # Configuration
//!
//! [`Builder`] methods, a TOML file ([`Builder::from_toml_file`], keys as in
//! [`Config`] plus `flush_interval_ms`, `capture_messages`,
//! `capture_thinking`, `capture_tool_args`, `capture_tool_results`) and
//! environment variables ([`Builder::from_env`]): `LOUPE_ENABLED`,
//! `LOUPE_DIR`, `LOUPE_FILE_PATTERN`, `LOUPE_QUEUE_CAPACITY`,
//! `LOUPE_BUFFER_SIZE`, `LOUPE_FLUSH_INTERVAL_MS`, `LOUPE_DURABILITY`
//! (`buffered`, `every_event`), `LOUPE_QUEUE_FULL` (`drop`, `block`),
//! `LOUPE_SAMPLE_RATE`, `LOUPE_CAPTURE_MESSAGES`, `LOUPE_CAPTURE_THINKING`,
//! `LOUPE_CAPTURE_TOOL_ARGS`, `LOUPE_CAPTURE_TOOL_RESULTS`,
//! `LOUPE_MAX_CONTENT_CHARS`, `LOUPE_REDACT`, `LOUPE_REDACT_PATTERNS` (one
//! regex, or a JSON array), `LOUPE_FLUSH_ON_PANIC`, `LOUPE_FLUSH_AT_EXIT`,
//! and for the HTTP sink `LOUPE_ENDPOINT`, `LOUPE_API_KEY`,
//! `LOUPE_WRITE_FILE`, `LOUPE_HTTP_BATCH_SIZE`, `LOUPE_HTTP_MAX_DELAY_MS`,
//! `LOUPE_HTTP_BUFFER_BYTES`, `LOUPE_HTTP_SHUTDOWN_TIMEOUT_MS` (TOML: the
//! same names in lower case without the prefix).
//!
//! # Sending to a server
//!
//! With [`Builder::endpoint`] (`LOUPE_ENDPOINT=http://127.0.0.1:4318`) a
//! second background thread sends the lines the writer writes, byte for
//! byte, to `loupe serve`'s `POST /api/v1/events`: gzip-compressed batches of
//! at most [`Config::http_batch_size`] lines, sent when full, after
//! [`Config::http_max_delay`] or on [`Recorder::flush`]; `Authorization:
//! Bearer` when [`Builder::api_key`] is set. The local file is still written
//! (it stays the crash-safe record) unless [`Config::write_file`] is off.
//! Record calls never wait for the network: the sink hangs off the writer
//! thread. Connection errors, 408, 429, 502, 503 and 504 are retried with
//! exponential backoff and jitter (100 ms doubling up to 5 s), honouring
//! `Retry-After`; a 413 halves the batch; other refusals drop the batch
//! (logged once to stderr). While the server is slow or down, lines wait in
//! a buffer of [`Config::http_buffer_bytes`]; beyond it they are dropped
//! (newest first; with [`QueueFullPolicy::Block`] the writer first waits
//! while the server is reachable). Dropped lines are counted in
//! [`Summary::undelivered`] and reported to the server in a `loupe_dropped`
//! event. When the recorder ends (last handle dropped) or the process exits,
//! delivery of what is pending gets at most [`Config::http_shutdown_timeout`]
//! (2 s).
//!
//! # Redaction and truncation
//!
//! Redaction covers, on the writer thread:
//!
//! * every string in `data`, recursively, keys included;
//! * the `agent` identity an event carries: `agent.id`, `agent.name` and
//!   `agent.type` (a subagent's id is redacted the same way in the spawn's
//!   `data.agent_id` and in its events' `agent.id`, so the two still match).
//!
//! It does not cover the ids the caller passes for the envelope:
//! `session_id` ([`Builder::session_id`], also in the file name and in
//! `agent.parent_session_id`), `trace_id`, `span_id`, `parent_event_id` and
//! `event_id` (of events given to [`Recorder::record_event`]) are written as
//! given; keep secrets out of them.
//!
//! Strings are checked against built-in patterns (Anthropic, OpenAI, AWS,
//! GitHub, Google, Slack, Stripe (`sk_live_`, `sk_test_`, `rk_live_`) and
//! Hugging Face (`hf_`) keys, JSON Web Tokens, `Bearer` tokens,
//! `password=`/`api_key:`/`passphrase:`-style pairs, passwords in URLs such
//! as `postgres://user:pw@host`, PEM private keys) and the user's regexes;
//! matches become `[REDACTED]`. The values of keys whose last words name a
//! secret (`password`, `passphrase`, `secret`, `token`, `api_key`,
//! `x-api-key`, `apiKey`, `OPENAI_API_KEY`, `private_key`, `ssh_key`,
//! `authorization`, `cookie`...; not `input_tokens` or `cache_key`) are
//! replaced whole, numbers and objects too.
//!
//! The built-in patterns leave ordinary code and prose alone: a comparison
//! is not a pair (`password == user.password_hash`), nor is a value that is
//! a call or a member access (`token = make_token(user)`, `api_key =
//! os.environ["KEY"]`), a type or placeholder (`token: string`), or a
//! sentence (`secret: we cache results`); quoted values are always
//! redacted. A `Bearer` token needs a digit or mixed case ("the bearer
//! instrument" stays). E-mail addresses are not redacted by default; add a
//! pattern for them if they must go ([`Builder::redact_pattern`],
//! `LOUPE_REDACT_PATTERNS`), e.g. `[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`.
//!
//! Truncation cuts free-text values only: string values in `data` longer
//! than [`Config::max_content_chars`] characters (messages, content,
//! results, tool arguments' values, errors, task...) are cut (never inside
//! a UTF-8 character) and end with `…[truncated N chars]`. Object keys are
//! never cut, nor are the members of `data` the library writes as
//! identifiers, fixed words or counts: `format`, `format_version`, `model`,
//! `provider`, `usage`, `cost_usd`, `stop_reason`, `tool_calls`,
//! `message_count`, `tool_count`, `tool`, `call_id`, `status`,
//! `error_type`, `agent_id`, `agent_type`, `agent_name`, `node_id`,
//! `node_type`, `workflow`, `name`, `dropped`, `tokens*`, `usage_fraction`,
//! `task_id` and the `session_end` `summary` (a limit however small keeps
//! every line valid and every token count). The envelope is never cut.
//! Arrays and objects nested more than 100 deep are replaced by a marker,
//! so every line reads back. A duration or cost that is not a finite,
//! non-negative number is left out.
//!
//! # Tokens
//!
//! [`LlmResponse::usage`] is a [`loupe_model::TokenUsage`] in OpenTelemetry
//! GenAI semantics: `input_tokens` includes cache reads and writes and
//! `output_tokens` includes reasoning. Anthropic's API reports additive
//! counts: convert them with [`loupe_model::TokenUsage::from_additive`].

#![warn(missing_docs)]

mod clock;
mod config;
pub mod demo;
mod exit;
mod guards;
mod helpers;
mod http;
mod queue;
mod recorder;
mod sanitize;
mod summary;
#[cfg(feature = "tracing")]
pub mod tracing;
mod writer;

/// The event model the recorder writes (`Event`, `EventKind`, `keys`...),
/// re-exported so that agents need no dependency of their own on it.
pub use loupe_model;
pub use loupe_model::{AgentRef, Event, EventKind, SessionStatus, Timestamp, TokenUsage};

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Capture, Config, ConfigError, Durability, QueueFullPolicy, DEFAULT_DIR, DEFAULT_FILE_PATTERN,
    DEFAULT_MAX_CONTENT_CHARS, EVENTS_PATH,
};
pub use exit::shutdown;
pub use guards::{
    IterationGuard, LlmCallGuard, NodeGuard, SpanGuard, SubagentGuard, ToolGuard, TurnGuard,
    WorkflowGuard,
};
pub use helpers::{
    BudgetStatus, Compaction, LlmRequest, LlmResponse, SubagentEvent, SwarmTaskStatus, ToolCall,
};
pub use recorder::{is_sampled, sample_point, Builder, Recorder, RecorderError, Session};
pub use sanitize::{truncate_in_place, REDACTED};
pub use summary::Summary;

/// The README's Rust quick start, compiled as a doctest so that it stays
/// true to the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
