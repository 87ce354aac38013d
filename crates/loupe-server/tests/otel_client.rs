//! The real OpenTelemetry Python SDK against `loupe serve`: a script in
//! `tests/otel/` sends nested GenAI spans (invoke_agent → chat →
//! execute_tool) through the stock OTLP/HTTP exporter, and the REST API must
//! then show each conversation as a session with the right tokens, calls,
//! tools, model and tool error. Run `scripts/setup-otel-venv.sh` first.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loupe_server::{ServerConfig, ServerHandle};
use loupe_store::SqliteStore;
use serde_json::Value;

/// How the script sends its spans.
#[derive(Clone, Copy)]
enum Transport {
    Protobuf,
    ProtobufGzip,
    Json,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn venv_python() -> PathBuf {
    let python = workspace_root().join(".venv-otel/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-otel-venv.sh (it installs the OpenTelemetry Python SDK this test drives)",
        python.display()
    );
    python
}

fn start_server(dir: &Path) -> ServerHandle {
    let store = SqliteStore::open(dir.join("loupe.db")).unwrap();
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        summary_interval: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    ServerHandle::start(config, Arc::new(store)).unwrap()
}

/// Runs the Python client; panics with its output when it fails.
fn send_spans(server: &ServerHandle, prefix: &str, transport: Transport) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otel/send_genai_spans.py");
    let mut command = Command::new(venv_python());
    command
        .arg(script)
        .arg("--prefix")
        .arg(prefix)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", server.url())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
        // Keep the SDK from reading anything else from the developer's environment.
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env("OTEL_SDK_DISABLED", "false");
    match transport {
        Transport::Protobuf => {
            command.env("OTEL_EXPORTER_OTLP_COMPRESSION", "none");
        }
        Transport::ProtobufGzip => {
            command.env("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip");
        }
        Transport::Json => {
            command.arg("--json");
        }
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "the OpenTelemetry client failed ({}):\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["exported"], 9, "{report}");
    assert_eq!(report["failures"], 0, "{report}");
}

fn get_json(url: &str) -> Value {
    let body = ureq::get(url).call().unwrap().into_string().unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Polls the session list until `id` is there with its final LLM call count:
/// summaries are rebuilt shortly after a commit, not within it.
fn wait_for_session(server: &ServerHandle, id: &str, llm_calls: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = get_json(&format!("{}/api/v1/sessions?limit=100", server.url()));
        let found = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["session_id"] == id)
            .cloned();
        if let Some(row) = found {
            if row["metrics"]["llm_calls"] == llm_calls && row["status"] != "running" {
                return row;
            }
        }
        assert!(
            Instant::now() < deadline,
            "session {id} not summarised in time; list: {list}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sorted_strings(value: &Value) -> Vec<String> {
    let mut names: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

fn check_sessions(server: &ServerHandle, prefix: &str) {
    let alpha_id = format!("conv-{prefix}-alpha");
    let alpha = wait_for_session(server, &alpha_id, 2);
    let m = &alpha["metrics"];
    assert_eq!(m["input_tokens"], 1200 + 1500, "{alpha}");
    assert_eq!(m["output_tokens"], 80 + 200, "{alpha}");
    assert_eq!(m["cache_read_tokens"], 1000 + 1200, "{alpha}");
    assert_eq!(m["tool_calls"], 2, "{alpha}");
    assert_eq!(m["tool_errors"], 0, "{alpha}");
    assert_eq!(alpha["model"], "gpt-4o", "{alpha}");
    assert_eq!(alpha["agent_name"], "support-bot", "{alpha}");
    assert_eq!(alpha["status"], "completed", "{alpha}");
    assert_eq!(
        sorted_strings(&alpha["tools"]),
        ["read_file", "run_tests"],
        "{alpha}"
    );

    let beta_id = format!("conv-{prefix}-beta");
    let beta = wait_for_session(server, &beta_id, 2);
    let m = &beta["metrics"];
    assert_eq!(m["input_tokens"], 900 + 1000, "{beta}");
    assert_eq!(m["output_tokens"], 60 + 40, "{beta}");
    assert_eq!(m["cache_read_tokens"], 0, "{beta}");
    assert_eq!(m["tool_calls"], 1, "{beta}");
    assert_eq!(m["tool_errors"], 1, "{beta}");
    assert_eq!(beta["model"], "gpt-4o-mini", "{beta}");
    assert_eq!(sorted_strings(&beta["tools"]), ["fetch_url"], "{beta}");

    // The detail endpoint: the same row plus the full analysis.
    let detail = get_json(&format!("{}/api/v1/sessions/{beta_id}", server.url()));
    assert_eq!(
        detail["session"]["session_id"],
        beta_id.as_str(),
        "{detail}"
    );
    let analysis = &detail["analysis"];
    assert_eq!(analysis["metrics"]["tool_errors"], 1, "{analysis}");
    assert_eq!(analysis["tools"][0]["name"], "fetch_url", "{analysis}");
    assert_eq!(analysis["tools"][0]["calls"], 1, "{analysis}");
    assert_eq!(analysis["tools"][0]["errors"], 1, "{analysis}");

    let detail = get_json(&format!("{}/api/v1/sessions/{alpha_id}", server.url()));
    assert_eq!(
        detail["analysis"]["metrics"]["input_tokens"], 2700,
        "{detail}"
    );
    assert_eq!(detail["analysis"]["metrics"]["llm_calls"], 2, "{detail}");

    // Each span became a start and an end event, children under their parents.
    let events = get_json(&format!(
        "{}/api/v1/sessions/{beta_id}/events?limit=1000",
        server.url()
    ));
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 8, "4 spans, 2 events each: {events:?}");
    let tool_error = events
        .iter()
        .find(|e| e["kind"] == "tool_error")
        .unwrap_or_else(|| panic!("no tool_error event: {events:?}"));
    // The span status message and the call id reach the failed tool's event.
    let failure = tool_error.to_string();
    assert!(failure.contains("connection refused"), "{tool_error}");
    assert!(failure.contains("call_beta_1"), "{tool_error}");
    let tool_parent = tool_error["parent_event_id"].as_str().unwrap();
    let parent_start = events
        .iter()
        .find(|e| e["span_id"] == tool_parent && e["kind"] == "llm_request")
        .unwrap_or_else(|| panic!("the failed tool is not under a chat span: {events:?}"));
    assert_eq!(parent_start["session_id"], beta_id.as_str());
}

#[test]
fn python_sdk_protobuf_spans_become_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    send_spans(&server, "pb", Transport::Protobuf);
    check_sessions(&server, "pb");
    server.shutdown().unwrap();
}

#[test]
fn python_sdk_gzip_protobuf_spans_become_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    send_spans(&server, "gz", Transport::ProtobufGzip);
    check_sessions(&server, "gz");
    server.shutdown().unwrap();
}

#[test]
fn python_sdk_json_spans_become_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    send_spans(&server, "json", Transport::Json);
    check_sessions(&server, "json");
    server.shutdown().unwrap();
}
