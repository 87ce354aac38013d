//! MyAgent JSON exports (seed-formats.md §3).
//!
//! Three whole-file shapes are read:
//! - the traces export `{metadata, traces: [trace…]}` (`export_traces_to_json`),
//! - a single trace `{id, …, runs: […]}` (`Trace.dict()`),
//! - the runs export `{metadata, runs: […]}` (`export_runs_to_json`), whose runs
//!   are grouped by `trace_id` into sessions.
//!
//! Mapping decisions:
//! - **Session**: each trace is a session whose id is the trace id. The trace
//!   id keeps sessions distinct; MyAgent's `metadata.session_id` names the user's
//!   conversation and is kept in `session_start.data.metadata`.
//! - **Tree**: runs are exported in completion order, so the tree is rebuilt from
//!   `parent_run_id`, siblings ordered by start time. A run whose parent is missing
//!   is treated as a root.
//! - **Steps**: an agent run `step_N` becomes `iteration_start`/`iteration_end`
//!   with iteration N, and every run beneath it carries iteration N.
//! - **LLM calls**: a `think` run *is* the step's LLM call (MyAgent's think
//!   phase calls the model once), so it becomes `llm_request` + `llm_response`
//!   with `source_kind: "think"`, and `llm` runs do the same; analysis then counts
//!   one LLM call per think or llm run. The response carries the assistant
//!   message as `content` and the number of requested tool calls.
//! - **Tokens**: only per-run `token_usage` is used (`prompt_tokens` /
//!   `completion_tokens`, already OTel semantics). The trace-level
//!   `total_tokens` sums every value of every `token_usage` dict (prompt +
//!   completion + total), double counting, so it is kept only as
//!   `session_end.data.reported_total_tokens` and never trusted.
//! - **Tools**: `tool` and legacy `act` runs → `tool_start` + `tool_end` or
//!   `tool_error` (status `error`), other run types → `span_start`/`span_end`.
//! - Event ids are `{run_id}:start` / `{run_id}:end`; `span_id` is the run id and
//!   `parent_event_id` the parent run id. A run without an end time yields only
//!   its start event. Root runs' parent is the session span, whose `span_id` is
//!   the trace id.

use std::collections::HashMap;

use loupe_model::{keys, Event, EventKind, SessionStatus, Timestamp, TokenUsage};
use serde_json::{Map, Value};

use crate::{ReadError, Sink, Skipped, Source};

/// Reads a MyAgent export (any of the three shapes).
pub fn read(bytes: &[u8], source: &Source, sink: &mut dyn Sink) -> Result<(), ReadError> {
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| ReadError::Invalid {
        path: source.path.clone(),
        format: loupe_model::SourceFormat::MyAgent,
        reason: format!("line {}, column {}: {e}", e.line(), e.column()),
    })?;
    let Value::Object(root) = doc else {
        return Err(unrecognized(source, "top-level JSON is not an object"));
    };
    if let Some(traces) = root.get("traces") {
        let Value::Array(traces) = traces else {
            return Err(unrecognized(source, "`traces` is not an array"));
        };
        for (i, trace) in traces.iter().enumerate() {
            match trace {
                Value::Object(t) => read_trace(t, &format!("traces[{i}]"), source, sink),
                _ => sink.skip(Skipped::new(
                    &source.path,
                    None,
                    format!("traces[{i}]: not an object"),
                )),
            }
        }
        return Ok(());
    }
    if root.contains_key("id") && root.contains_key("runs") {
        read_trace(&root, "trace", source, sink);
        return Ok(());
    }
    if let Some(Value::Array(runs)) = root.get("runs") {
        read_runs_export(runs, source, sink);
        return Ok(());
    }
    Err(unrecognized(
        source,
        "JSON object without `traces`, `id`+`runs` or `runs`",
    ))
}

fn unrecognized(source: &Source, reason: &str) -> ReadError {
    ReadError::Unrecognized {
        path: source.path.clone(),
        reason: format!("not a MyAgent export: {reason}"),
    }
}

/// One run, with the fields the mapping uses.
struct Run<'a> {
    id: String,
    parent: Option<String>,
    name: String,
    run_type: String,
    status: String,
    start: Timestamp,
    end: Option<Timestamp>,
    raw: &'a Map<String, Value>,
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn time(map: &Map<String, Value>, key: &str) -> Result<Option<Timestamp>, String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Timestamp::parse(s)
            .map(Some)
            .map_err(|e| format!("`{key}` {s:?}: {e}")),
        Some(Value::Number(n)) => n
            .as_f64()
            .and_then(Timestamp::from_epoch_secs_f64)
            .map(Some)
            .ok_or_else(|| format!("`{key}` {n} is not a time")),
        Some(other) => Err(format!("`{key}` is not a time: {other}")),
    }
}

fn parse_run<'a>(raw: &'a Value) -> Result<Run<'a>, String> {
    let Value::Object(map) = raw else {
        return Err("not an object".to_owned());
    };
    let id = text(map, "id").ok_or("missing `id`")?;
    let start = time(map, "start_time")?.ok_or(format!("run {id}: missing `start_time`"))?;
    let end = time(map, "end_time").map_err(|e| format!("run {id}: {e}"))?;
    Ok(Run {
        parent: text(map, "parent_run_id"),
        name: text(map, "name").unwrap_or_default(),
        run_type: text(map, "run_type").unwrap_or_else(|| "custom".to_owned()),
        status: text(map, "status").unwrap_or_default(),
        id,
        start,
        end,
        raw: map,
    })
}

fn read_trace(trace: &Map<String, Value>, at: &str, source: &Source, sink: &mut dyn Sink) {
    let Some(trace_id) = text(trace, "id") else {
        sink.skip(Skipped::new(
            &source.path,
            None,
            format!("{at}: missing `id`"),
        ));
        return;
    };
    let runs_value = match trace.get("runs") {
        Some(Value::Array(r)) => r.as_slice(),
        _ => &[],
    };
    let mut runs = Vec::with_capacity(runs_value.len());
    for (i, raw) in runs_value.iter().enumerate() {
        match parse_run(raw) {
            Ok(run) => runs.push(run),
            Err(reason) => sink.skip(Skipped::new(
                &source.path,
                None,
                format!("{at}.runs[{i}]: {reason}"),
            )),
        }
    }
    let start = match time(trace, "start_time") {
        Ok(Some(t)) => t,
        Ok(None) => match runs.iter().map(|r| r.start).min() {
            Some(t) => t,
            None => {
                sink.skip(Skipped::new(
                    &source.path,
                    None,
                    format!("{at}: trace {trace_id} has no start time and no runs"),
                ));
                return;
            }
        },
        Err(reason) => {
            sink.skip(Skipped::new(&source.path, None, format!("{at}: {reason}")));
            return;
        }
    };
    let end = time(trace, "end_time").ok().flatten();

    let mut first = session_start(&trace_id, start, "trace");
    if let Some(name) = text(trace, "name") {
        first.data.insert(keys::NAME.to_owned(), name.into());
    }
    if let Some(task) = text(trace, "request") {
        first.data.insert(keys::TASK.to_owned(), task.into());
    }
    if let Some(Value::Object(meta)) = trace.get("metadata") {
        let agent = meta
            .get("custom_fields")
            .and_then(|c| c.get("agent_name"))
            .and_then(Value::as_str);
        if let Some(agent) = agent {
            first.data.insert(keys::AGENT_NAME.to_owned(), agent.into());
        }
        if let Some(tags) = meta.get("tags").filter(|t| t.is_array()) {
            first.data.insert(keys::TAGS.to_owned(), tags.clone());
        }
        first
            .data
            .insert(keys::METADATA.to_owned(), Value::Object(meta.clone()));
    }
    sink.event(source, first);

    emit_runs(&runs, &trace_id, source, sink);

    if let Some(end) = end {
        let mut last = Event::new(
            format!("{trace_id}:end"),
            EventKind::SessionEnd,
            end,
            &trace_id,
        );
        last.trace_id = Some(trace_id.clone());
        last.span_id = Some(trace_id.clone());
        last.duration_ms = Some(millis_between(start, end));
        let status = text(trace, "status").unwrap_or_default();
        last.data.insert(
            keys::STATUS.to_owned(),
            SessionStatus::from_lenient(&status).as_str().into(),
        );
        if !status.is_empty() {
            last.data
                .insert(keys::SOURCE_KIND.to_owned(), status.into());
        }
        if let Some(response) = text(trace, "response") {
            last.data.insert("response".to_owned(), response.into());
        }
        if let Some(t) = trace.get("total_tokens").filter(|v| !v.is_null()) {
            last.data
                .insert("reported_total_tokens".to_owned(), t.clone());
        }
        if let Some(c) = trace.get("total_cost").filter(|v| !v.is_null()) {
            last.data
                .insert("reported_total_cost".to_owned(), c.clone());
        }
        sink.event(source, last);
    }
}

/// `{metadata, runs}`: no trace records, so each `trace_id` group becomes a
/// session spanning its runs; its status follows MyAgent's own rule (error if
/// any run failed, else success).
fn read_runs_export(runs_value: &[Value], source: &Source, sink: &mut dyn Sink) {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<Run<'_>>> = HashMap::new();
    for (i, raw) in runs_value.iter().enumerate() {
        let run = match parse_run(raw) {
            Ok(r) => r,
            Err(reason) => {
                sink.skip(Skipped::new(
                    &source.path,
                    None,
                    format!("runs[{i}]: {reason}"),
                ));
                continue;
            }
        };
        let Some(trace_id) = text(run.raw, "trace_id") else {
            sink.skip(Skipped::new(
                &source.path,
                None,
                format!("runs[{i}]: run {} has no `trace_id`", run.id),
            ));
            continue;
        };
        if !groups.contains_key(&trace_id) {
            order.push(trace_id.clone());
        }
        groups.entry(trace_id).or_default().push(run);
    }
    for trace_id in order {
        let Some(runs) = groups.remove(&trace_id) else {
            continue;
        };
        let Some(start) = runs.iter().map(|r| r.start).min() else {
            continue;
        };
        let end = runs.iter().filter_map(|r| r.end).max();
        sink.event(source, session_start(&trace_id, start, "runs_export"));
        emit_runs(&runs, &trace_id, source, sink);
        if let Some(end) = end {
            let failed = runs.iter().any(|r| r.status == "error");
            let mut last = Event::new(
                format!("{trace_id}:end"),
                EventKind::SessionEnd,
                end,
                &trace_id,
            );
            last.trace_id = Some(trace_id.clone());
            last.span_id = Some(trace_id.clone());
            last.duration_ms = Some(millis_between(start, end));
            let status = if failed {
                SessionStatus::Failed
            } else {
                SessionStatus::Completed
            };
            last.data
                .insert(keys::STATUS.to_owned(), status.as_str().into());
            sink.event(source, last);
        }
    }
}

/// Emits the runs depth-first from the roots, siblings by start time.
/// The `session_start` of trace `trace_id`, read from a MyAgent `source_kind`
/// shape (`trace` or `runs_export`).
fn session_start(trace_id: &str, start: Timestamp, source_kind: &str) -> Event {
    let mut e = Event::new(
        format!("{trace_id}:start"),
        EventKind::SessionStart,
        start,
        trace_id,
    );
    e.trace_id = Some(trace_id.to_owned());
    e.span_id = Some(trace_id.to_owned());
    e.data
        .insert(keys::SOURCE_KIND.to_owned(), source_kind.into());
    e
}

fn emit_runs(runs: &[Run<'_>], trace_id: &str, source: &Source, sink: &mut dyn Sink) {
    let index: HashMap<&str, usize> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); runs.len()];
    let mut roots = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        match run.parent.as_deref().and_then(|p| index.get(p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let by_start = |list: &mut Vec<usize>| list.sort_by_key(|&i| (runs[i].start, i));
    by_start(&mut roots);
    for list in &mut children {
        by_start(list);
    }
    // Iterative DFS; `visited` guards against parent cycles in corrupt input.
    let mut visited = vec![false; runs.len()];
    let mut stack: Vec<(usize, bool, Option<u32>)> =
        roots.iter().rev().map(|&i| (i, false, None)).collect();
    while let Some((i, closing, iteration)) = stack.pop() {
        let run = &runs[i];
        let step = step_number(run).or(iteration);
        if closing {
            if let Some(e) = end_event(run, trace_id, step) {
                sink.event(source, e);
            }
            continue;
        }
        if visited[i] {
            continue;
        }
        visited[i] = true;
        sink.event(source, start_event(run, trace_id, step));
        stack.push((i, true, iteration));
        for &c in children[i].iter().rev() {
            stack.push((c, false, step));
        }
    }
    // Runs on a parent cycle are unreachable from any root: emit them flat.
    for (i, run) in runs.iter().enumerate() {
        if !visited[i] {
            sink.event(source, start_event(run, trace_id, step_number(run)));
            if let Some(e) = end_event(run, trace_id, step_number(run)) {
                sink.event(source, e);
            }
        }
    }
}

/// N for an agent run named `step_N`.
fn step_number(run: &Run<'_>) -> Option<u32> {
    if run.run_type != "agent" {
        return None;
    }
    run.name.strip_prefix("step_")?.parse().ok()
}

enum RunClass {
    Step,
    Llm,
    Tool,
    Other,
}

fn class(run: &Run<'_>) -> RunClass {
    match run.run_type.as_str() {
        "agent" if step_number(run).is_some() => RunClass::Step,
        "think" | "llm" => RunClass::Llm,
        "tool" | "act" => RunClass::Tool,
        _ => RunClass::Other,
    }
}

fn base_event(
    run: &Run<'_>,
    suffix: &str,
    kind: EventKind,
    ts: Timestamp,
    trace_id: &str,
    step: Option<u32>,
) -> Event {
    let mut e = Event::new(format!("{}:{suffix}", run.id), kind, ts, trace_id);
    e.trace_id = Some(trace_id.to_owned());
    e.span_id = Some(run.id.clone());
    // Root runs hang under the session span (`span_id` = trace id).
    e.parent_event_id = Some(run.parent.clone().unwrap_or_else(|| trace_id.to_owned()));
    e.iteration = step;
    e
}

fn start_event(run: &Run<'_>, trace_id: &str, step: Option<u32>) -> Event {
    let kind = match class(run) {
        RunClass::Step => EventKind::IterationStart,
        RunClass::Llm => EventKind::LlmRequest,
        RunClass::Tool => EventKind::ToolStart,
        RunClass::Other => EventKind::SpanStart,
    };
    let mut e = base_event(run, "start", kind, run.start, trace_id, step);
    e.data
        .insert(keys::NAME.to_owned(), run.name.clone().into());
    e.data
        .insert(keys::SOURCE_KIND.to_owned(), run.run_type.clone().into());
    let inputs = run.raw.get("inputs").filter(|v| !v.is_null());
    match class(run) {
        RunClass::Llm => {
            if let Some(model) = inputs.and_then(|i| i.get("model")).and_then(Value::as_str) {
                e.data.insert(keys::MODEL.to_owned(), model.into());
            }
            if let Some(n) = inputs
                .and_then(|i| i.get("message_count"))
                .and_then(Value::as_u64)
            {
                e.data.insert(keys::MESSAGE_COUNT.to_owned(), n.into());
            }
            if let Some(i) = inputs {
                e.data.insert(keys::MESSAGES.to_owned(), i.clone());
            }
        }
        RunClass::Tool => {
            e.data
                .insert(keys::TOOL.to_owned(), run.name.clone().into());
            if let Some(i) = inputs {
                e.data.insert(keys::ARGS.to_owned(), i.clone());
            }
        }
        RunClass::Step | RunClass::Other => {
            if let Some(i) = inputs {
                e.data.insert("inputs".to_owned(), i.clone());
            }
        }
    }
    e
}

fn end_event(run: &Run<'_>, trace_id: &str, step: Option<u32>) -> Option<Event> {
    let end = run.end?;
    let failed = run.status == "error";
    let kind = match (class(run), failed) {
        (RunClass::Step, _) => EventKind::IterationEnd,
        (RunClass::Llm, false) => EventKind::LlmResponse,
        (RunClass::Llm, true) => EventKind::LlmError,
        (RunClass::Tool, false) => EventKind::ToolEnd,
        (RunClass::Tool, true) => EventKind::ToolError,
        (RunClass::Other, _) => EventKind::SpanEnd,
    };
    let mut e = base_event(run, "end", kind, end, trace_id, step);
    let latency = run
        .raw
        .get("latency_ms")
        .and_then(Value::as_f64)
        .filter(|d| d.is_finite() && *d >= 0.0);
    e.duration_ms = Some(latency.unwrap_or_else(|| millis_between(run.start, end)));
    e.data
        .insert(keys::NAME.to_owned(), run.name.clone().into());
    e.data
        .insert(keys::SOURCE_KIND.to_owned(), run.run_type.clone().into());
    let status = match run.status.as_str() {
        "success" => "success".to_owned(),
        "error" => "error".to_owned(),
        "" => "unknown".to_owned(),
        other => other.to_owned(),
    };
    e.data.insert(keys::STATUS.to_owned(), status.into());
    if let Some(err) = text(run.raw, "error") {
        e.data.insert(keys::ERROR.to_owned(), err.into());
    }
    if let Some(t) = text(run.raw, "error_type") {
        e.data.insert(keys::ERROR_TYPE.to_owned(), t.into());
    }
    let outputs = run.raw.get("outputs").filter(|v| !v.is_null());
    match class(run) {
        RunClass::Llm => {
            if let Some(model) = run
                .raw
                .get("inputs")
                .and_then(|i| i.get("model"))
                .and_then(Value::as_str)
            {
                e.data.insert(keys::MODEL.to_owned(), model.into());
            }
            if let Some(content) = outputs
                .and_then(|o| o.get("content").or_else(|| o.get("response_preview")))
                .filter(|v| !v.is_null())
            {
                e.data.insert(keys::CONTENT.to_owned(), content.clone());
            }
            if let Some(calls) = outputs
                .and_then(|o| o.get("tool_calls"))
                .and_then(Value::as_array)
            {
                e.data
                    .insert(keys::TOOL_CALLS.to_owned(), calls.len().into());
            }
            if let Some(usage) = run.raw.get("token_usage").and_then(usage_from_token_usage) {
                e.set_usage(&usage);
            }
            if let Some(cost) = run.raw.get("cost").and_then(Value::as_f64) {
                e.data.insert(keys::COST_USD.to_owned(), cost.into());
            }
        }
        RunClass::Tool => {
            e.data
                .insert(keys::TOOL.to_owned(), run.name.clone().into());
            if let Some(o) = outputs {
                let result = o.get("output").filter(|v| !v.is_null()).unwrap_or(o);
                e.data.insert(keys::RESULT.to_owned(), result.clone());
            }
        }
        RunClass::Step | RunClass::Other => {
            if let Some(o) = outputs {
                e.data.insert("outputs".to_owned(), o.clone());
            }
        }
    }
    Some(e)
}

/// A run's free-form `token_usage` dict in OTel semantics (`prompt_tokens` /
/// `input_tokens` → input, `completion_tokens` / `output_tokens` → output;
/// `total_tokens` is derived, never added).
fn usage_from_token_usage(v: &Value) -> Option<TokenUsage> {
    let Value::Object(m) = v else {
        return None;
    };
    let get = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| m.get(*k).and_then(loupe_model::value_u64))
    };
    let mut usage = TokenUsage {
        input_tokens: get(&["prompt_tokens", "input_tokens"]),
        output_tokens: get(&["completion_tokens", "output_tokens"]),
        cache_read_tokens: get(&["cache_read_tokens", "cached_tokens"]),
        cache_write_tokens: get(&["cache_write_tokens", "cache_creation_tokens"]),
        reasoning_tokens: get(&["reasoning_tokens"]),
    };
    if usage.input_tokens.is_none() {
        if let (Some(total), Some(out)) = (get(&["total_tokens"]), usage.output_tokens) {
            usage.input_tokens = Some(total.saturating_sub(out));
        }
    }
    (!usage.is_empty()).then_some(usage)
}

/// Milliseconds from `start` to `end`, never negative and without overflow on
/// absurd input (times are clamped by `Timestamp` to the `i64` range).
fn millis_between(start: Timestamp, end: Timestamp) -> f64 {
    (end.0.saturating_sub(start.0) as f64 / 1000.0).max(0.0)
}
