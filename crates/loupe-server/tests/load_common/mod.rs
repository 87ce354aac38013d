//! OTLP load generation shared by the load test (`tests/load_otlp.rs`) and
//! the benchmark's load generator (`examples/otlp_load.rs`): synthetic GenAI
//! sessions as protobuf `ExportTraceServiceRequest`s, and a client that
//! posts them and retries on 429/503 as the OTLP specification asks.

#![allow(dead_code)] // each includer uses a different part

use std::io::Read;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;

/// The trace id of session `session` in run `run`: unique, never all zeros.
pub(crate) fn trace_id(run: u64, session: u64) -> Vec<u8> {
    let mut id = Vec::with_capacity(16);
    id.extend_from_slice(&(run | 1 << 63).to_be_bytes());
    id.extend_from_slice(&session.to_be_bytes());
    id
}

/// The span id of span `index` (0 is the root) of session `session`:
/// unique across sessions as long as a session has fewer than 2^20 spans.
pub(crate) fn span_id(session: u64, index: u64) -> [u8; 8] {
    (((session + 1) << 20) | (index + 1)).to_be_bytes()
}

/// The session id (`gen_ai.conversation.id`) of session `session` in run `run`.
pub(crate) fn session_id(run: u64, session: u64) -> String {
    format!("load-{run:x}-{session}")
}

fn text(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..KeyValue::default()
    }
}

/// One agent session of `spans` spans: an `invoke_agent` root, then
/// alternating `chat` and `execute_tool` children (GenAI semantic
/// conventions), every tenth tool failing.
pub(crate) fn session_spans(
    run: u64,
    session: u64,
    spans: u64,
    start_unix_nanos: u64,
) -> Vec<Span> {
    let trace = trace_id(run, session);
    let conversation = session_id(run, session);
    let root = span_id(session, 0);
    let step = 1_000_000; // 1 ms per child span
    let mut out = Vec::with_capacity(spans as usize);
    out.push(Span {
        trace_id: trace.clone(),
        span_id: root.to_vec(),
        name: "invoke_agent load-agent".to_owned(),
        kind: span::SpanKind::Internal as i32,
        start_time_unix_nano: start_unix_nanos,
        end_time_unix_nano: start_unix_nanos + step * spans,
        attributes: vec![
            text("gen_ai.operation.name", "invoke_agent"),
            text("gen_ai.agent.name", "load-agent"),
            text("gen_ai.conversation.id", conversation.clone()),
        ],
        ..Span::default()
    });
    for index in 1..spans {
        let start = start_unix_nanos + step * index;
        let mut span = Span {
            trace_id: trace.clone(),
            span_id: span_id(session, index).to_vec(),
            parent_span_id: root.to_vec(),
            start_time_unix_nano: start,
            end_time_unix_nano: start + step / 2,
            ..Span::default()
        };
        if index % 2 == 1 {
            span.name = "chat gpt-4o".to_owned();
            span.kind = span::SpanKind::Client as i32;
            span.attributes = vec![
                text("gen_ai.operation.name", "chat"),
                text("gen_ai.conversation.id", conversation.clone()),
                text("gen_ai.request.model", "gpt-4o"),
                int("gen_ai.usage.input_tokens", 1000 + index as i64),
                int("gen_ai.usage.output_tokens", 50),
            ];
        } else {
            let tool = ["read_file", "run_tests", "search"][(index / 2 % 3) as usize];
            span.name = format!("execute_tool {tool}");
            span.attributes = vec![
                text("gen_ai.operation.name", "execute_tool"),
                text("gen_ai.conversation.id", conversation.clone()),
                text("gen_ai.tool.name", tool),
                text("gen_ai.tool.call.id", format!("call_{session}_{index}")),
            ];
            if index % 20 == 0 {
                span.status = Some(Status {
                    code: status::StatusCode::Error as i32,
                    message: "tool failed".to_owned(),
                });
            }
        }
        out.push(span);
    }
    out
}

/// A request carrying whole sessions `sessions` (all their spans).
pub(crate) fn request(
    run: u64,
    sessions: std::ops::Range<u64>,
    spans_per_session: u64,
    start_unix_nanos: u64,
) -> ExportTraceServiceRequest {
    let spans = sessions
        .flat_map(|s| session_spans(run, s, spans_per_session, start_unix_nanos))
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![text("service.name", "loupe-load")],
                ..Resource::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "loupe.load".to_owned(),
                    ..InstrumentationScope::default()
                }),
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

/// What happened to one request over all its attempts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Whether it was finally answered 200.
    pub(crate) acknowledged: bool,
    /// Answers 429.
    pub(crate) too_many_requests: u64,
    /// Answers 503.
    pub(crate) unavailable: u64,
    /// Other answers ≥ 400 (each one ends the delivery).
    pub(crate) failed_status: Option<u16>,
    /// Transport errors (each one ends the delivery).
    pub(crate) connection_errors: u64,
}

/// Posts OTLP protobuf bodies to `{base}/v1/traces` on one keep-alive agent.
pub(crate) struct Client {
    agent: ureq::Agent,
    url: String,
    /// Longest wait honoured between attempts (`Retry-After` above it is cut).
    pub(crate) max_retry_wait: Duration,
    /// Gives up after this many retryable answers for one request.
    pub(crate) max_attempts: u32,
}

impl Client {
    /// A client for the server at `base` (`http://host:port`).
    pub(crate) fn new(base: &str) -> Client {
        Client {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(120))
                .build(),
            url: format!("{}/v1/traces", base.trim_end_matches('/')),
            max_retry_wait: Duration::from_secs(5),
            max_attempts: 10_000,
        }
    }

    /// Sends `body` until it is acknowledged, refused for good, or attempts run out.
    pub(crate) fn deliver(&self, body: &[u8]) -> Delivery {
        let mut delivery = Delivery::default();
        for _ in 0..self.max_attempts {
            let wait = match self
                .agent
                .post(&self.url)
                .set("Content-Type", "application/x-protobuf")
                .send_bytes(body)
            {
                Ok(response) => {
                    // Drain so the connection is reused.
                    let mut sink = Vec::new();
                    let _ = response.into_reader().read_to_end(&mut sink);
                    delivery.acknowledged = true;
                    return delivery;
                }
                Err(ureq::Error::Status(code @ (429 | 503), response)) => {
                    if code == 429 {
                        delivery.too_many_requests += 1;
                    } else {
                        delivery.unavailable += 1;
                    }
                    let seconds = response
                        .header("Retry-After")
                        .and_then(|v| v.trim().parse::<f64>().ok())
                        .unwrap_or(1.0);
                    let mut sink = Vec::new();
                    let _ = response.into_reader().read_to_end(&mut sink);
                    Duration::from_secs_f64(seconds.max(0.0)).min(self.max_retry_wait)
                }
                Err(ureq::Error::Status(code, _)) => {
                    delivery.failed_status = Some(code);
                    return delivery;
                }
                Err(ureq::Error::Transport(_)) => {
                    delivery.connection_errors += 1;
                    return delivery;
                }
            };
            std::thread::sleep(wait);
        }
        delivery
    }
}

/// Encodes a request as the protobuf body OTLP/HTTP sends.
pub(crate) fn encode(request: &ExportTraceServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

/// The process's resident set size now, in bytes (Linux `/proc/self/status`).
pub(crate) fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
