//! Victor workflow traces (seed-formats.md §5).
//!
//! Three whole-file JSON shapes, told apart by content (`source.format` is only
//! a hint):
//! - **WorkflowTracer** export `{trace_id, workflow_name, start_time, end_time,
//!   nodes: [...]}` → session `trace_id`: `workflow_start`/`workflow_end`, then per
//!   node `node_start` (at the node's `timestamp`) and `node_end` (after
//!   `duration_seconds`; status `completed` or `failed`). The node's tool calls
//!   become `tool_end`/`tool_error` events whose parent is the node span. The
//!   export has no tool timestamps, so tool calls are laid out back to back from
//!   the node's start: an approximation, durations are exact.
//! - **ExecutionTrace** `{execution_id, start_time, end_time, events: [...]}` →
//!   session `execution_id`: `workflow_started` → `workflow_start`,
//!   `workflow_completed`/`workflow_failed` → `workflow_end`, `node_started` →
//!   `node_start`, `node_completed`/`node_failed`/`node_skipped` → `node_end`
//!   (status completed/failed/skipped), `error_occurred` → `error`,
//!   `error_recovered` → `recovery`, `retry_attempt` → `retry_attempt`; the rest
//!   (`workflow_paused`, `workflow_resumed`, `node_paused`, `breakpoint_hit`,
//!   `state_captured`, unknown types) → `custom` with `name` and `source_kind`.
//! - **History** `{execution_id, workflow_name, …, metrics, trace_summary}` →
//!   session `execution_id` with `workflow_start` and `workflow_end` (Victor only
//!   writes history for successful runs, so status `completed`; `metrics` and
//!   `trace_summary` in data). Its event ids differ from the ExecutionTrace's.
//!
//! Timestamps are float epoch seconds (UTC).

use std::collections::HashMap;

use loupe_model::{keys, Event, EventKind, SourceFormat, Timestamp};
use serde_json::{Map, Value};

use crate::{ReadError, Sink, Skipped, Source};

/// Reads a Victor WorkflowTracer, ExecutionTrace or history JSON file.
pub fn read(bytes: &[u8], source: &Source, sink: &mut dyn Sink) -> Result<(), ReadError> {
    let parsed =
        serde_json::from_slice::<Value>(bytes).or_else(|e| match crate::lenient::repair(bytes) {
            Some(repaired) => serde_json::from_slice(&repaired),
            None => Err(e),
        });
    let doc = parsed.map_err(|e| ReadError::Invalid {
        path: source.path.clone(),
        format: source.format,
        reason: format!("line {}, column {}: {e}", e.line(), e.column()),
    })?;
    let Value::Object(root) = doc else {
        return Err(unrecognized(source, "top-level JSON is not an object"));
    };
    if root.contains_key("nodes") && root.contains_key("workflow_name") {
        return read_workflow_tracer(&root, source, sink);
    }
    if root.contains_key("execution_id") && root.contains_key("events") {
        return read_execution_trace(&root, source, sink);
    }
    if root.contains_key("execution_id")
        && (root.contains_key("trace_summary") || root.contains_key("metrics"))
    {
        return read_history(&root, source, sink);
    }
    Err(unrecognized(
        source,
        "JSON object without `nodes`+`workflow_name`, `execution_id`+`events` or `execution_id`+`trace_summary`",
    ))
}

fn unrecognized(source: &Source, reason: &str) -> ReadError {
    ReadError::Unrecognized {
        path: source.path.clone(),
        reason: format!("not a Victor trace: {reason}"),
    }
}

fn invalid(source: &Source, format: SourceFormat, reason: String) -> ReadError {
    ReadError::Invalid {
        path: source.path.clone(),
        format,
        reason,
    }
}

/// The array under `key` of a trace's root object, or why the trace is invalid.
fn array_field<'a>(
    root: &'a Map<String, Value>,
    key: &str,
    source: &Source,
    format: SourceFormat,
) -> Result<&'a [Value], ReadError> {
    match root.get(key) {
        Some(Value::Array(items)) => Ok(items),
        _ => Err(invalid(source, format, format!("`{key}` is not an array"))),
    }
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn secs(map: &Map<String, Value>, key: &str) -> Option<f64> {
    match map.get(key)? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    }
}

/// A float-seconds timestamp, or an ISO string (Victor CSV-style), as UTC.
/// `list[i]` as an object with a valid `timestamp`; otherwise the element is
/// reported as skipped (naming `list[i]` and why) and `None` returned.
fn timed_object<'a>(
    value: &'a Value,
    list: &str,
    i: usize,
    source: &Source,
    sink: &mut dyn Sink,
) -> Option<(&'a Map<String, Value>, Timestamp)> {
    let reason = match value.as_object() {
        None => "not an object",
        Some(map) => match time(map, "timestamp") {
            Some(ts) => return Some((map, ts)),
            None => "missing or invalid `timestamp`",
        },
    };
    sink.skip(Skipped::new(
        &source.path,
        None,
        format!("{list}[{i}]: {reason}"),
    ));
    None
}

fn time(map: &Map<String, Value>, key: &str) -> Option<Timestamp> {
    match map.get(key)? {
        Value::String(s) => Timestamp::parse(s).ok().or_else(|| {
            s.trim()
                .parse::<f64>()
                .ok()
                .and_then(Timestamp::from_epoch_secs_f64)
        }),
        v => v.as_f64().and_then(Timestamp::from_epoch_secs_f64),
    }
}

fn non_null(map: &Map<String, Value>, key: &str) -> Option<Value> {
    map.get(key).filter(|v| !v.is_null()).cloned()
}

/// When a WorkflowTracer node started. A record's `timestamp` is when it
/// was made: at the start for `start_node`/`end_node`, but at the end for
/// `trace_node`, called once the node has run. The file does not say which,
/// so a node that would end after its workflow, when starting at its
/// stamp, but fits inside it when ending there, ended at its stamp.
fn node_start(
    stamped: Timestamp,
    duration_ms: f64,
    workflow_start: Timestamp,
    workflow_end: Option<Timestamp>,
) -> Timestamp {
    // Float seconds in the file: allow their rounding.
    const SLACK_MS: f64 = 1.0;
    let Some(end) = workflow_end else {
        return stamped;
    };
    let overruns = after_millis(stamped, duration_ms).millis_since(end) > SLACK_MS;
    let as_end = after_millis(stamped, -duration_ms);
    if overruns && as_end.millis_since(workflow_start) >= -SLACK_MS {
        as_end
    } else {
        stamped
    }
}

fn read_workflow_tracer(
    root: &Map<String, Value>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let format = SourceFormat::VictorWorkflow;
    let trace_id = text(root, "trace_id")
        .ok_or_else(|| invalid(source, format, "missing `trace_id`".to_owned()))?;
    let nodes: &[Value] = array_field(root, "nodes", source, format)?;
    let first_node_time = nodes
        .iter()
        .filter_map(|n| n.as_object().and_then(|m| time(m, "timestamp")))
        .min();
    let start = time(root, "start_time")
        .or(first_node_time)
        .ok_or_else(|| {
            invalid(
                source,
                format,
                "no `start_time` and no timed node".to_owned(),
            )
        })?;
    let workflow = text(root, "workflow_name").unwrap_or_default();
    let workflow_end = time(root, "end_time");
    let new_event = |id: String, kind: EventKind, ts: Timestamp| {
        let mut e = Event::new(id, kind, ts, &trace_id);
        e.trace_id = Some(trace_id.clone());
        e
    };

    let mut first = new_event(format!("{trace_id}:start"), EventKind::WorkflowStart, start);
    first.span_id = Some(trace_id.clone());
    first
        .data
        .insert(keys::WORKFLOW.to_owned(), workflow.clone().into());
    // The workflow is what runs: its name is the agent's (stats by agent).
    if !workflow.is_empty() {
        first
            .data
            .insert(keys::AGENT_NAME.to_owned(), workflow.clone().into());
    }
    first
        .data
        .insert(keys::SOURCE_KIND.to_owned(), "workflow_tracer".into());
    if let Some(task) = root
        .get("inputs")
        .and_then(|i| i.get("task"))
        .and_then(Value::as_str)
    {
        first.data.insert(keys::TASK.to_owned(), task.into());
    }
    for key in ["inputs", "metadata"] {
        if let Some(v) = non_null(root, key) {
            first.data.insert(key.to_owned(), v);
        }
    }
    sink.event(source, first);

    let mut failed_nodes = 0u64;
    for (i, node) in nodes.iter().enumerate() {
        let Some((node, stamped)) = timed_object(node, "nodes", i, source, sink) else {
            continue;
        };
        let node_id = text(node, "node_id").unwrap_or_else(|| format!("node_{i}"));
        let span = format!("{trace_id}:node:{i}");
        let duration_ms = secs(node, "duration_seconds").map_or(0.0, seconds_to_ms);
        let node_start = node_start(stamped, duration_ms, start, workflow_end);
        let success = node.get("success").and_then(Value::as_bool).unwrap_or(true);
        let error = non_null(node, "error");
        let node_type = text(node, "node_type");

        let mut ns = new_event(format!("{span}:start"), EventKind::NodeStart, node_start);
        ns.span_id = Some(span.clone());
        ns.parent_event_id = Some(trace_id.clone());
        ns.data
            .insert(keys::NODE_ID.to_owned(), node_id.clone().into());
        if let Some(t) = &node_type {
            ns.data.insert(keys::NODE_TYPE.to_owned(), t.clone().into());
        }
        if let Some(v) = non_null(node, "inputs") {
            ns.data.insert("inputs".to_owned(), v);
        }
        sink.event(source, ns);

        let mut offset_ms = 0.0;
        if let Some(Value::Array(calls)) = node.get("tool_calls") {
            for (j, call) in calls.iter().enumerate() {
                let Some(call) = call.as_object() else {
                    sink.skip(Skipped::new(
                        &source.path,
                        None,
                        format!("nodes[{i}].tool_calls[{j}]: not an object"),
                    ));
                    continue;
                };
                let dur = secs(call, "duration_seconds").map_or(0.0, seconds_to_ms);
                offset_ms += dur;
                let ok = call.get("success").and_then(Value::as_bool).unwrap_or(true);
                let kind = if ok {
                    EventKind::ToolEnd
                } else {
                    EventKind::ToolError
                };
                let ts =
                    time(call, "timestamp").unwrap_or_else(|| after_millis(node_start, offset_ms));
                let mut t = new_event(format!("{span}:tool:{j}"), kind, ts);
                t.parent_event_id = Some(span.clone());
                t.duration_ms = Some(dur);
                t.data.insert(
                    keys::TOOL.to_owned(),
                    text(call, "tool_name").unwrap_or_default().into(),
                );
                t.data.insert(
                    keys::STATUS.to_owned(),
                    if ok { "success" } else { "error" }.into(),
                );
                t.data
                    .insert(keys::NODE_ID.to_owned(), node_id.clone().into());
                if let Some(err) = non_null(call, "error") {
                    t.data.insert(keys::ERROR.to_owned(), err);
                }
                for key in ["inputs", "outputs"] {
                    if let Some(v) = non_null(call, key) {
                        t.data.insert(key.to_owned(), v);
                    }
                }
                sink.event(source, t);
            }
        }

        let mut ne = new_event(
            format!("{span}:end"),
            EventKind::NodeEnd,
            after_millis(node_start, duration_ms),
        );
        ne.span_id = Some(span);
        ne.parent_event_id = Some(trace_id.clone());
        ne.duration_ms = Some(duration_ms);
        ne.data.insert(keys::NODE_ID.to_owned(), node_id.into());
        if let Some(t) = node_type {
            ne.data.insert(keys::NODE_TYPE.to_owned(), t.into());
        }
        ne.data.insert(
            keys::STATUS.to_owned(),
            if success { "completed" } else { "failed" }.into(),
        );
        if !success {
            failed_nodes += 1;
        }
        if let Some(err) = error {
            ne.data.insert(keys::ERROR.to_owned(), err);
        }
        if let Some(v) = non_null(node, "outputs") {
            ne.data.insert("outputs".to_owned(), v);
        }
        sink.event(source, ne);
    }

    if let Some(end) = time(root, "end_time") {
        let mut last = new_event(format!("{trace_id}:end"), EventKind::WorkflowEnd, end);
        last.span_id = Some(trace_id.clone());
        last.duration_ms = Some(
            secs(root, "duration_seconds")
                .map(seconds_to_ms)
                .unwrap_or_else(|| millis_between(start, end))
                .max(0.0),
        );
        last.data.insert(keys::WORKFLOW.to_owned(), workflow.into());
        // The tracer records no workflow outcome: it ended, so it completed; the
        // failed nodes are counted alongside for readers of this event.
        last.data
            .insert(keys::STATUS.to_owned(), "completed".into());
        last.data
            .insert("failed_nodes".to_owned(), failed_nodes.into());
        if let Some(v) = non_null(root, "outputs") {
            last.data.insert("outputs".to_owned(), v);
        }
        sink.event(source, last);
    }
    Ok(())
}

fn read_execution_trace(
    root: &Map<String, Value>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let format = SourceFormat::VictorExecution;
    let exec_id = text(root, "execution_id")
        .ok_or_else(|| invalid(source, format, "`execution_id` is not a string".to_owned()))?;
    let events: &[Value] = array_field(root, "events", source, format)?;
    // Open node spans by node id → (span id, start time).
    let mut open: HashMap<String, (String, Timestamp)> = HashMap::new();
    let mut workflow_start: Option<Timestamp> = None;
    // When the last node ended (or the workflow started): a streamed
    // `node_completed` with no start and no duration ran since then, when
    // no other node was open (the executor ran them one after another).
    let mut last_boundary: Option<Timestamp> = None;
    for (i, raw) in events.iter().enumerate() {
        let Some((ev, ts)) = timed_object(raw, "events", i, source, sink) else {
            continue;
        };
        let event_type = text(ev, "event_type").unwrap_or_default();
        let node_id = text(ev, "node_id").unwrap_or_default();
        let duration_ms = secs(ev, "duration_seconds").map(seconds_to_ms);
        let (kind, node_status) = match event_type.as_str() {
            "workflow_started" => (EventKind::WorkflowStart, None),
            "workflow_completed" => (EventKind::WorkflowEnd, Some("completed")),
            "workflow_failed" => (EventKind::WorkflowEnd, Some("failed")),
            "node_started" => (EventKind::NodeStart, None),
            "node_completed" => (EventKind::NodeEnd, Some("completed")),
            "node_failed" => (EventKind::NodeEnd, Some("failed")),
            "node_skipped" => (EventKind::NodeEnd, Some("skipped")),
            "error_occurred" => (EventKind::Error, None),
            "error_recovered" => (EventKind::Recovery, None),
            "retry_attempt" => (EventKind::RetryAttempt, None),
            _ => (EventKind::Custom, None),
        };
        let mut e = Event::new(format!("{exec_id}:{i}"), kind.clone(), ts, &exec_id);
        e.trace_id = Some(exec_id.clone());
        e.data
            .insert(keys::SOURCE_KIND.to_owned(), event_type.clone().into());
        match kind {
            EventKind::WorkflowStart => {
                workflow_start = Some(ts);
                last_boundary = Some(ts);
                e.span_id = Some(exec_id.clone());
            }
            EventKind::WorkflowEnd => {
                e.span_id = Some(exec_id.clone());
                e.duration_ms =
                    duration_ms.or_else(|| workflow_start.map(|s| millis_between(s, ts)));
            }
            EventKind::NodeStart => {
                let span = format!("{exec_id}:node:{i}");
                open.insert(node_id.clone(), (span.clone(), ts));
                e.span_id = Some(span);
                e.parent_event_id = Some(exec_id.clone());
            }
            EventKind::NodeEnd => {
                let (span, started) = match open.remove(&node_id) {
                    Some((span, started)) => (span, Some(started)),
                    None => (format!("{exec_id}:node:{i}"), None),
                };
                e.span_id = Some(span);
                e.parent_event_id = Some(exec_id.clone());
                // Streamed `node_completed` events report 0 s; a matching
                // start is better, else the time since the previous node
                // ended, when nodes ran one at a time (noted as inferred).
                e.duration_ms = match (duration_ms, started, last_boundary) {
                    (Some(d), _, _) if d > 0.0 => Some(d),
                    (_, Some(s), _) => Some(millis_between(s, ts)),
                    (_, None, Some(b)) if open.is_empty() && ts >= b => {
                        e.data.insert("duration_inferred".to_owned(), true.into());
                        Some(millis_between(b, ts))
                    }
                    (d, None, _) => d,
                };
                last_boundary = Some(ts);
            }
            EventKind::Custom => {
                e.data
                    .insert(keys::NAME.to_owned(), event_type.clone().into());
                e.parent_event_id = open
                    .get(&node_id)
                    .map(|(s, _)| s.clone())
                    .or_else(|| Some(exec_id.clone()));
            }
            _ => {
                e.parent_event_id = open
                    .get(&node_id)
                    .map(|(s, _)| s.clone())
                    .or_else(|| Some(exec_id.clone()));
            }
        }
        if !node_id.is_empty() && node_id != "workflow" {
            e.data.insert(keys::NODE_ID.to_owned(), node_id.into());
        }
        match node_status {
            Some(s) => {
                e.data.insert(keys::STATUS.to_owned(), s.into());
            }
            None => {
                if let Some(s) = text(ev, "status") {
                    e.data.insert(keys::STATUS.to_owned(), s.into());
                }
            }
        }
        if let Some(err) = non_null(ev, "error") {
            e.data.insert(keys::ERROR.to_owned(), err);
        }
        if let Some(Value::Object(m)) = ev.get("metadata") {
            if !m.is_empty() {
                e.data
                    .insert(keys::METADATA.to_owned(), Value::Object(m.clone()));
            }
        }
        sink.event(source, e);
    }
    Ok(())
}

fn read_history(
    root: &Map<String, Value>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let format = SourceFormat::VictorExecution;
    let exec_id = text(root, "execution_id")
        .ok_or_else(|| invalid(source, format, "`execution_id` is not a string".to_owned()))?;
    let start = time(root, "start_time")
        .ok_or_else(|| invalid(source, format, "missing `start_time`".to_owned()))?;
    let workflow = text(root, "workflow_name").unwrap_or_default();
    let mut first = Event::new(
        format!("{exec_id}:history:start"),
        EventKind::WorkflowStart,
        start,
        &exec_id,
    );
    first.trace_id = Some(exec_id.clone());
    first.span_id = Some(exec_id.clone());
    first
        .data
        .insert(keys::WORKFLOW.to_owned(), workflow.clone().into());
    first
        .data
        .insert(keys::SOURCE_KIND.to_owned(), "workflow_history".into());
    sink.event(source, first);
    if let Some(end) = time(root, "end_time") {
        let mut last = Event::new(
            format!("{exec_id}:history:end"),
            EventKind::WorkflowEnd,
            end,
            &exec_id,
        );
        last.trace_id = Some(exec_id.clone());
        last.span_id = Some(exec_id.clone());
        last.duration_ms = Some(millis_between(start, end));
        last.data.insert(keys::WORKFLOW.to_owned(), workflow.into());
        last.data
            .insert(keys::STATUS.to_owned(), "completed".into());
        for key in ["metrics", "trace_summary"] {
            if let Some(v) = non_null(root, key) {
                last.data.insert(key.to_owned(), v);
            }
        }
        sink.event(source, last);
    }
    Ok(())
}

/// Milliseconds from `start` to `end`, never negative and without overflow on
/// absurd input (times are clamped by `Timestamp` to the `i64` range).
fn millis_between(start: Timestamp, end: Timestamp) -> f64 {
    (end.0.saturating_sub(start.0) as f64 / 1000.0).max(0.0)
}

/// `t + ms`, saturating instead of overflowing on absurd durations.
fn after_millis(t: Timestamp, ms: f64) -> Timestamp {
    // `as` saturates (and maps NaN to 0).
    Timestamp(t.0.saturating_add((ms * 1000.0).round() as i64))
}

/// Seconds to milliseconds, clamped to [0, ~3000 years] so absurd input stays finite.
fn seconds_to_ms(secs: f64) -> f64 {
    (secs * 1000.0).clamp(0.0, 1.0e14)
}
