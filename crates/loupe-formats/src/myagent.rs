//! MyAgent JSON exports (seed-formats.md §3).
//!
//! Three whole-file shapes are read:
//! - the traces export `{metadata, traces: [trace…]}` (`export_traces_to_json`),
//! - a single trace `{id, …, runs: […]}` (`Trace.dict()`),
//! - the runs export `{metadata, runs: […]}` (`export_runs_to_json`), whose runs
//!   are grouped by `trace_id` into sessions.
//!
//! None of them is held whole (`read_with`). A traces export is mapped a
//! trace at a time as it is parsed, each trace's session said done after it.
//! A runs export is parsed twice: the first pass notes which trace each run
//! belongs to, the second holds a trace's runs only from its first to its
//! last. From 16 MiB on (or compressed) the file is parsed from disk, not
//! read into memory first; from a pipe, which cannot be read twice, it is
//! written to a temporary file first (`read.rs`). Only where no second
//! reading can be had are a runs export's runs held.
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
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::cut::{need, Cutter, Nested, Stop};
use crate::{ReadError, Sink, Skipped, Source};

/// Reads a MyAgent export (any of the three shapes) held in memory.
pub fn read(bytes: &[u8], source: &Source, sink: &mut dyn Sink) -> Result<(), ReadError> {
    let mut again = |each: &mut dyn FnMut(usize, Value)| {
        stream_runs(&mut serde_json::Deserializer::from_slice(bytes), each)
    };
    read_with(
        &mut serde_json::Deserializer::from_slice(bytes),
        Some(&mut again),
        0,
        source,
        sink,
    )
}

/// Reads a MyAgent export from `input` without holding it whole: a traces
/// export is read a trace at a time, and, when the input can be read again
/// from its start (`reopen`), runs are read in two passes (see
/// [`read_with`]). Input that can be read again is walked in pieces
/// ([`crate::cut`]), parsed from text in memory; where that walk gives up
/// (anything unusual or broken), serde_json reads the input itself again,
/// quietly over what the walk already handed on, and says what is wrong.
pub(crate) fn read_from(
    input: impl std::io::Read,
    reopen: Option<crate::read::Reopen<'_>>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    read_in_chunks(input, reopen, crate::cut::CHUNK, source, sink)
}

/// [`read_from`], walking `chunk` bytes at a time.
fn read_in_chunks(
    input: impl std::io::Read,
    reopen: Option<crate::read::Reopen<'_>>,
    chunk: usize,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let Some(reopen) = reopen else {
        let de = &mut serde_json::Deserializer::from_reader(byte_reader(input));
        return read_with(de, None, 0, source, sink);
    };
    let mut again = |each: &mut dyn FnMut(usize, Value)| -> Result<(), String> {
        let mut handed = 0usize;
        let mut count = |i: usize, run: Value| {
            handed += 1;
            each(i, run);
        };
        let input = reopen().map_err(|e| e.to_string())?;
        if stream_runs_cut(input, chunk, &mut count).is_ok() {
            return Ok(());
        }
        let mut seen = 0usize;
        let input = reopen().map_err(|e| e.to_string())?;
        stream_runs(
            &mut serde_json::Deserializer::from_reader(byte_reader(input)),
            &mut |i, run| {
                seen += 1;
                if seen > handed {
                    each(i, run);
                }
            },
        )
    };
    let mut reader = DocumentReader::new(source, sink, true, 0);
    match reader.walk(&mut Cutter::new(input, chunk)) {
        Ok(document) => reader.finish(Ok(document), Some(&mut again)),
        Err(_) => {
            let quiet = reader.traces_read;
            let input = reopen().map_err(ReadError::io_at(&source.path))?;
            let de = &mut serde_json::Deserializer::from_reader(byte_reader(input));
            read_with(de, Some(&mut again), quiet, source, sink)
        }
    }
}

/// For tests and the fuzz target: panics unless reading `bytes` as a file
/// (walked in pieces of `chunk` bytes, serde_json taking over where the
/// walk gives up) tells a sink exactly what serde_json reading the file
/// itself does: the same events, skips and sessions done, in the same
/// order, and the same result. Says whether the walk took the document.
#[doc(hidden)]
pub fn check_cut_walk(bytes: &[u8], chunk: usize) -> bool {
    let source = Source {
        path: "export.json".into(),
        format: loupe_model::SourceFormat::MyAgent,
    };
    let reopen = || -> std::io::Result<Box<dyn std::io::BufRead>> {
        Ok(Box::new(std::io::Cursor::new(bytes.to_vec())))
    };
    let mut walked = Told::default();
    let read = read_in_chunks(bytes, Some(&reopen), chunk, &source, &mut walked);
    walked.0.push(format!("{read:?}"));
    let mut again = |each: &mut dyn FnMut(usize, Value)| {
        stream_runs(&mut serde_json::Deserializer::from_reader(bytes), each)
    };
    let mut by_serde = Told::default();
    let de = &mut serde_json::Deserializer::from_reader(bytes);
    let read = read_with(de, Some(&mut again), 0, &source, &mut by_serde);
    by_serde.0.push(format!("{read:?}"));
    assert_eq!(
        walked, by_serde,
        "the walk in pieces read the export otherwise"
    );
    let mut quiet = Quiet;
    let mut index = DocumentReader::new(&source, &mut quiet, true, usize::MAX);
    index.walk(&mut Cutter::new(bytes, chunk)).is_ok()
}

/// Everything a reader tells its sink, in order (for [`check_cut_walk`]).
#[derive(Debug, Default, PartialEq)]
struct Told(Vec<String>);

impl Sink for Told {
    fn event(&mut self, _: &Source, event: Event) {
        self.0.push(format!("{event:?}"));
    }
    fn skip(&mut self, skipped: Skipped) {
        self.0.push(format!("skip {}", skipped.reason));
    }
    fn session_done(&mut self, _: &Source, session_id: &str) {
        self.0.push(format!("done {session_id}"));
    }
}

/// `input` behind a plain `BufReader`: serde_json reading a file itself
/// takes a byte at a time, which the standard library serves straight from
/// a `BufReader`'s buffer, where through `dyn Read` each byte is a call.
fn byte_reader<R: std::io::Read>(input: R) -> std::io::BufReader<R> {
    std::io::BufReader::with_capacity(64 * 1024, input)
}

/// Reads the document again from its start, handing each element of its
/// top-level `runs` array (with its index) to the callback.
type RunsAgain<'a> = dyn FnMut(&mut dyn FnMut(usize, Value)) -> Result<(), String> + 'a;

/// Reads one export. The traces of a traces export are mapped one at a
/// time as they are parsed, each followed by [`Sink::session_done`], so a
/// large export is never held whole, by the reader or by the analysis.
/// That has two consequences for broken exports:
/// - A file that breaks off (or stops being JSON) after some traces keeps
///   the traces read before the break, and the break is reported as a
///   skipped record with its line and column; one that breaks before any
///   trace is read is an invalid file, as any other broken export.
/// - A trace whose id an earlier trace of the file had is skipped (its
///   session was already said done); MyAgent trace ids are unique, so
///   this is a trace exported twice.
///
/// Runs (a runs export's, or a single trace's) are not held by the first
/// pass when the document can be read again (`again`): it only notes which
/// trace each run belongs to, and the second hands each trace on, and says
/// it done, once its last run is read ([`read_runs_streamed`]), in the
/// order traces first appear. Without `again` they are held.
fn read_with<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    again: Option<&mut RunsAgain<'_>>,
    quiet: usize,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let mut reader = DocumentReader::new(source, sink, again.is_some(), quiet);
    let read = (&mut reader)
        .deserialize(&mut *de)
        .and_then(|document| de.end().map(|()| document));
    reader.finish(read, again)
}

/// What the top level of a file turned out to be.
enum Document {
    NotObject,
    /// A traces export, already read; `array`: whether `traces` was one.
    Traces {
        array: bool,
    },
    /// Any other object, held (a single trace, a runs export, or neither).
    Other(Map<String, Value>),
}

/// Parses the top level of a file, mapping a traces export's traces as
/// they come.
struct DocumentReader<'a> {
    source: &'a Source,
    sink: &'a mut dyn Sink,
    /// Elements of `traces` read so far.
    traces_read: usize,
    /// Where each trace id read so far was.
    trace_ids: HashMap<String, usize>,
    /// Where the document will be read again: what `runs` says, instead of
    /// the runs themselves.
    runs_index: Option<RunsIndex>,
    /// Traces read before this many were handed on by an earlier read of
    /// the same input; they are mapped again, but not handed on.
    quiet: usize,
}

impl<'a> DocumentReader<'a> {
    fn new(
        source: &'a Source,
        sink: &'a mut dyn Sink,
        index_runs: bool,
        quiet: usize,
    ) -> DocumentReader<'a> {
        DocumentReader {
            source,
            sink,
            traces_read: 0,
            trace_ids: HashMap::new(),
            runs_index: index_runs.then(RunsIndex::default),
            quiet,
        }
    }

    /// Walks the document in pieces, as serde_json reads it through
    /// [`DocumentReader`]'s `Visitor` (below).
    fn walk<R: std::io::Read>(&mut self, c: &mut Cutter<R>) -> Result<Document, Stop> {
        need(c.peek()? == Some(b'{'))?;
        c.expect(b'{')?;
        let mut root = Map::new();
        let mut traces = None;
        let mut first = true;
        while let Some(key) = c.key(first)? {
            first = false;
            if key == "traces" {
                traces = Some(c.elements(1, &mut |i, trace: Value| self.trace(i, trace))?);
            } else if let Some(index) = self.runs_index.as_mut().filter(|_| key == "runs") {
                let array = c.elements(1, &mut |i, run: RunKeys| index.note(i, &run.0))?;
                root.insert(key, noted_runs(array));
            } else {
                root.insert(key, c.shallow::<Value>(1)?);
            }
        }
        need(c.peek()?.is_none())?;
        Ok(match traces {
            Some(array) => Document::Traces { array },
            None => Document::Other(root),
        })
    }

    /// What the document read (`read`) comes to: a traces export was
    /// handed on as it was read; a runs export or a single trace is
    /// handed on now, from `again` when given.
    fn finish(
        self,
        read: Result<Document, serde_json::Error>,
        again: Option<&mut RunsAgain<'_>>,
    ) -> Result<(), ReadError> {
        let DocumentReader {
            source,
            sink,
            traces_read,
            runs_index,
            ..
        } = self;
        let mut root = match read {
            Ok(Document::NotObject) => {
                return Err(unrecognized(source, "top-level JSON is not an object"))
            }
            Ok(Document::Traces { array: false }) => {
                return Err(unrecognized(source, "`traces` is not an array"))
            }
            Ok(Document::Traces { array: true }) => return Ok(()),
            Ok(Document::Other(root)) => root,
            Err(e) if traces_read > 0 => {
                sink.skip(Skipped::new(
                    &source.path,
                    None,
                    format!(
                        "the export breaks off after {} traces, at line {}, column {}: {e}",
                        traces_read,
                        e.line(),
                        e.column()
                    ),
                ));
                return Ok(());
            }
            Err(e) => {
                return Err(ReadError::Invalid {
                    path: source.path.clone(),
                    format: loupe_model::SourceFormat::MyAgent,
                    reason: format!("line {}, column {}: {e}", e.line(), e.column()),
                })
            }
        };
        let streamed = runs_index.zip(again);
        if root.contains_key("id") && root.contains_key("runs") {
            if let Some((_, again)) = streamed {
                // One session: its runs are held after all.
                let mut runs = Vec::new();
                if let Err(reason) = again(&mut |_, run| runs.push(run)) {
                    changed(source, sink, &reason);
                }
                if matches!(root.get("runs"), Some(Value::Array(_))) {
                    root.insert("runs".to_owned(), Value::Array(runs));
                }
            }
            read_trace(&root, "trace", source, sink);
            return Ok(());
        }
        if let Some(Value::Array(runs)) = root.get("runs") {
            match streamed {
                Some((index, again)) => read_runs_streamed(&index, again, source, sink),
                None => read_runs_export(runs, source, sink),
            }
            return Ok(());
        }
        Err(unrecognized(
            source,
            "JSON object without `traces`, `id`+`runs` or `runs`",
        ))
    }

    fn trace(&mut self, i: usize, trace: Value) {
        let quiet = self.traces_read < self.quiet;
        self.traces_read += 1;
        let sink: &mut dyn Sink = if quiet { &mut Quiet } else { &mut *self.sink };
        let at = format!("traces[{i}]");
        let Value::Object(t) = trace else {
            sink.skip(Skipped::new(
                &self.source.path,
                None,
                format!("{at}: not an object"),
            ));
            return;
        };
        if let Some(id) = text(&t, "id") {
            if let Some(first) = self.trace_ids.get(&id) {
                sink.skip(Skipped::new(
                    &self.source.path,
                    None,
                    format!("{at}: trace {id} was already read at traces[{first}]"),
                ));
                return;
            }
            self.trace_ids.insert(id, i);
        }
        if let Some(session) = read_trace(&t, &at, self.source, sink) {
            sink.session_done(self.source, &session);
        }
    }
}

impl<'de> DeserializeSeed<'de> for &mut DocumentReader<'_> {
    type Value = Document;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Document, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for &mut DocumentReader<'_> {
    type Value = Document;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a MyAgent export")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
        let mut root = Map::new();
        let mut traces = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "traces" {
                traces = Some(
                    map.next_value_seed(Elements(&mut |i, trace: Value| self.trace(i, trace)))?,
                );
            } else if let Some(index) = self.runs_index.as_mut().filter(|_| key == "runs") {
                // Noted, not held; an empty array stands for it.
                let array =
                    map.next_value_seed(Elements(&mut |i, run: RunKeys| index.note(i, &run.0)))?;
                root.insert(key, noted_runs(array));
            } else {
                root.insert(key, map.next_value()?);
            }
        }
        Ok(match traces {
            Some(array) => Document::Traces { array },
            None => Document::Other(root),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Document, A::Error> {
        skip_seq(seq).map(|()| Document::NotObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Document, E> {
        Ok(Document::NotObject)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Document, E> {
        Ok(Document::NotObject)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Document, E> {
        Ok(Document::NotObject)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Document, E> {
        Ok(Document::NotObject)
    }

    fn visit_str<E>(self, _: &str) -> Result<Document, E> {
        Ok(Document::NotObject)
    }

    fn visit_unit<E>(self) -> Result<Document, E> {
        Ok(Document::NotObject)
    }
}

/// What stands in the root for a `runs` value only noted: an empty array
/// for an array, else null.
fn noted_runs(array: bool) -> Value {
    if array {
        Value::Array(Vec::new())
    } else {
        Value::Null
    }
}

/// A sink for what an earlier read already handed on.
struct Quiet;

impl Sink for Quiet {
    fn event(&mut self, _: &Source, _: Event) {}
    fn skip(&mut self, _: Skipped) {}
}

/// Hands each element of an array (`traces`, `runs`) to the callback as
/// it is parsed; says whether the value was an array (anything else is
/// checked and dropped).
struct Elements<'f, T>(&'f mut dyn FnMut(usize, T));

impl<'de, T: serde::de::Deserialize<'de>> DeserializeSeed<'de> for Elements<'_, T> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: serde::de::Deserialize<'de>> Visitor<'de> for Elements<'_, T> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut i = 0;
        while let Some(run) = seq.next_element::<T>()? {
            (self.0)(i, run);
            i += 1;
        }
        Ok(true)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Parses a whole document again, handing each element of its top-level
/// `runs` array to `each`.
fn stream_runs<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    each: &mut dyn FnMut(usize, Value),
) -> Result<(), String> {
    struct Root<'f>(&'f mut dyn FnMut(usize, Value));
    impl<'de> Visitor<'de> for Root<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a MyAgent export")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "runs" {
                    map.next_value_seed(Elements(&mut *self.0))?;
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(())
        }
    }
    de.deserialize_map(Root(each))
        .and_then(|()| de.end())
        .map_err(|e| e.to_string())
}

/// [`stream_runs`] walking the document in pieces; gives up where serde_json
/// should read it (see [`crate::cut`]), maybe after handing on some runs.
fn stream_runs_cut(
    input: impl std::io::Read,
    chunk: usize,
    each: &mut dyn FnMut(usize, Value),
) -> Result<(), Stop> {
    let c = &mut Cutter::new(input, chunk);
    c.expect(b'{')?;
    let mut first = true;
    while let Some(key) = c.key(first)? {
        first = false;
        if key == "runs" {
            c.elements(1, each)?;
        } else {
            c.shallow::<Value>(1)?;
        }
    }
    need(c.peek()?.is_none())
}

fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
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

/// Maps one trace; returns its session id, unless the trace was skipped.
fn read_trace(
    trace: &Map<String, Value>,
    at: &str,
    source: &Source,
    sink: &mut dyn Sink,
) -> Option<String> {
    let Some(trace_id) = text(trace, "id") else {
        sink.skip(Skipped::new(
            &source.path,
            None,
            format!("{at}: missing `id`"),
        ));
        return None;
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
                return None;
            }
        },
        Err(reason) => {
            sink.skip(Skipped::new(&source.path, None, format!("{at}: {reason}")));
            return None;
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
        let mut last = session_end(&trace_id, start, end);
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
    Some(trace_id)
}

/// `{metadata, runs}`: no trace records, so each `trace_id` group becomes a
/// session spanning its runs; its status follows MyAgent's own rule (error if
/// any run failed, else success). This reads runs held in memory; see
/// [`read_runs_streamed`] for the two-pass reading.
fn read_runs_export(runs_value: &[Value], source: &Source, sink: &mut dyn Sink) {
    let mut order: Vec<String> = Vec::new();
    let mut groups: HashMap<String, Vec<Run<'_>>> = HashMap::new();
    for (i, raw) in runs_value.iter().enumerate() {
        let Some((trace_id, run)) = run_in_trace(i, raw, source, sink) else {
            continue;
        };
        if !groups.contains_key(&trace_id) {
            order.push(trace_id.clone());
        }
        groups.entry(trace_id).or_default().push(run);
    }
    for trace_id in order {
        if let Some(runs) = groups.remove(&trace_id) {
            emit_runs_trace(&trace_id, &runs, source, sink);
        }
    }
}

/// Run `i` of a runs export and its trace id; `None`, reported as
/// skipped, when it has neither a usable shape nor a trace id.
fn run_in_trace<'a>(
    i: usize,
    raw: &'a Value,
    source: &Source,
    sink: &mut dyn Sink,
) -> Option<(String, Run<'a>)> {
    let run = match parse_run(raw) {
        Ok(r) => r,
        Err(reason) => {
            sink.skip(Skipped::new(
                &source.path,
                None,
                format!("runs[{i}]: {reason}"),
            ));
            return None;
        }
    };
    let Some(trace_id) = text(run.raw, "trace_id") else {
        sink.skip(Skipped::new(
            &source.path,
            None,
            format!("runs[{i}]: run {} has no `trace_id`", run.id),
        ));
        return None;
    };
    Some((trace_id, run))
}

/// What the first pass over a runs export learns: the traces in the order
/// they first appear, and the index of each one's last run.
#[derive(Default)]
struct RunsIndex {
    order: Vec<String>,
    last: HashMap<String, usize>,
}

impl RunsIndex {
    fn note(&mut self, i: usize, raw: &Value) {
        let Some(trace_id) = parse_run(raw).ok().and_then(|r| text(r.raw, "trace_id")) else {
            return;
        };
        if self.last.insert(trace_id.clone(), i).is_none() {
            self.order.push(trace_id);
        }
    }
}

/// What the first pass keeps of a run: an object of the members
/// [`RunsIndex::note`] reads (the last of each, as in a map), or null for
/// anything but an object. The rest is checked and dropped.
struct RunKeys(Value);

impl<'de> serde::Deserialize<'de> for RunKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RunKeys, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = RunKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a run")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RunKeys, A::Error> {
                let mut kept = Map::new();
                while let Some(key) = map.next_key_seed(crate::fields::KeySeed)? {
                    if matches!(&*key, "id" | "trace_id" | "start_time" | "end_time") {
                        kept.insert(key.into_owned(), map.next_value()?);
                    } else {
                        map.next_value::<Checked>()?;
                    }
                }
                Ok(RunKeys(Value::Object(kept)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RunKeys, A::Error> {
                while seq.next_element::<Checked>()?.is_some() {}
                Ok(RunKeys(Value::Null))
            }
            fn visit_bool<E>(self, _: bool) -> Result<RunKeys, E> {
                Ok(RunKeys(Value::Null))
            }
            fn visit_i64<E>(self, _: i64) -> Result<RunKeys, E> {
                Ok(RunKeys(Value::Null))
            }
            fn visit_u64<E>(self, _: u64) -> Result<RunKeys, E> {
                Ok(RunKeys(Value::Null))
            }
            fn visit_f64<E>(self, _: f64) -> Result<RunKeys, E> {
                Ok(RunKeys(Value::Null))
            }
            fn visit_str<E>(self, _: &str) -> Result<RunKeys, E> {
                Ok(RunKeys(Value::Null))
            }
            fn visit_unit<E>(self) -> Result<RunKeys, E> {
                Ok(RunKeys(Value::Null))
            }
        }
        d.deserialize_any(Keys)
    }
}

/// A value parsed and dropped, accepted exactly where a [`Value`] would be:
/// unlike [`IgnoredAny`], which serde_json skips over without computing
/// its numbers, it refuses a number out of range as a `Value` does.
struct Checked;

impl<'de> serde::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Checked, D::Error> {
        d.deserialize_any(Checked)
    }
}

impl<'de> Visitor<'de> for Checked {
    type Value = Checked;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
}

impl Nested for RunKeys {
    fn nesting(&self) -> Option<usize> {
        None
    }
}

/// The second pass over a runs export: each trace's runs are held from its
/// first run to its last, then it is handed on and said done, in the order
/// traces first appear (a trace complete before an earlier one waits for
/// it). Memory holds the traces open at once, not the export.
fn read_runs_streamed(
    index: &RunsIndex,
    again: &mut RunsAgain<'_>,
    source: &Source,
    sink: &mut dyn Sink,
) {
    let mut open: HashMap<String, Vec<Value>> = HashMap::new();
    let mut complete: HashMap<String, Vec<Value>> = HashMap::new();
    let mut next = 0;
    let emit = |trace_id: &str, values: &[Value], sink: &mut dyn Sink| {
        // Checked as they were read: every value here parses.
        let runs: Vec<Run<'_>> = values.iter().filter_map(|v| parse_run(v).ok()).collect();
        emit_runs_trace(trace_id, &runs, source, sink);
        sink.session_done(source, trace_id);
    };
    let read = again(&mut |i, raw| {
        let Some((trace_id, _)) = run_in_trace(i, &raw, source, &mut *sink) else {
            return;
        };
        let last = index.last.get(&trace_id) == Some(&i);
        open.entry(trace_id.clone()).or_default().push(raw);
        if !last {
            return;
        }
        if let Some(runs) = open.remove(&trace_id) {
            complete.insert(trace_id, runs);
        }
        while let Some(runs) = index.order.get(next).and_then(|t| complete.remove(t)) {
            emit(&index.order[next], &runs, &mut *sink);
            next += 1;
        }
    });
    if let Err(reason) = read {
        changed(source, sink, &reason);
    }
    // Only if the file changed between the passes: what is left, in order.
    for trace_id in &index.order {
        let mut runs = complete.remove(trace_id).unwrap_or_default();
        runs.extend(open.remove(trace_id).unwrap_or_default());
        if !runs.is_empty() {
            emit(trace_id, &runs, sink);
        }
    }
    let mut rest: Vec<(String, Vec<Value>)> = open.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    for (trace_id, runs) in rest {
        emit(&trace_id, &runs, sink);
    }
}

fn changed(source: &Source, sink: &mut dyn Sink, reason: &str) {
    sink.skip(Skipped::new(
        &source.path,
        None,
        format!("changed while it was read: {reason}"),
    ));
}

/// One trace of a runs export: a session spanning its runs.
fn emit_runs_trace(trace_id: &str, runs: &[Run<'_>], source: &Source, sink: &mut dyn Sink) {
    let Some(start) = runs.iter().map(|r| r.start).min() else {
        return;
    };
    let end = runs.iter().filter_map(|r| r.end).max();
    sink.event(source, session_start(trace_id, start, "runs_export"));
    emit_runs(runs, trace_id, source, sink);
    if let Some(end) = end {
        let failed = runs.iter().any(|r| r.status == "error");
        let mut last = session_end(trace_id, start, end);
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

/// The `session_end` of trace `trace_id`, which started at `start`; its
/// status is the caller's to set.
fn session_end(trace_id: &str, start: Timestamp, end: Timestamp) -> Event {
    let mut e = Event::new(
        format!("{trace_id}:end"),
        EventKind::SessionEnd,
        end,
        trace_id,
    );
    e.trace_id = Some(trace_id.to_owned());
    e.span_id = Some(trace_id.to_owned());
    e.duration_ms = Some(millis_between(start, end));
    e
}

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

/// Emits the runs depth-first from the roots, siblings by start time.
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

#[derive(PartialEq, Eq)]
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

/// The error a tool run returned without raising: MyAgent's tool wrapper
/// catches it, keeps the run's status `success`, and writes `outputs.error`
/// (and `metadata.has_error`). The call failed all the same.
fn returned_error(run: &Run<'_>) -> Option<String> {
    let outputs_error = run
        .raw
        .get("outputs")
        .and_then(|o| o.get("error"))
        .filter(|e| !e.is_null() && e.as_str() != Some(""))
        .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned));
    let flagged = run
        .raw
        .get("metadata")
        .and_then(|m| m.get("has_error"))
        .and_then(Value::as_bool)
        == Some(true);
    outputs_error.or_else(|| flagged.then(|| "the tool returned an error".to_owned()))
}

fn end_event(run: &Run<'_>, trace_id: &str, step: Option<u32>) -> Option<Event> {
    let end = run.end?;
    let returned = (class(run) == RunClass::Tool && run.status != "error")
        .then(|| returned_error(run))
        .flatten();
    let failed = run.status == "error" || returned.is_some();
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
        _ if returned.is_some() => "error".to_owned(),
        "success" => "success".to_owned(),
        "error" => "error".to_owned(),
        "" => "unknown".to_owned(),
        other => other.to_owned(),
    };
    e.data.insert(keys::STATUS.to_owned(), status.into());
    if let Some(err) = text(run.raw, "error").or(returned) {
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
/// `total_tokens` is derived, never added, and kept only when it is all the
/// run reports).
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
        total_tokens: None,
    };
    if usage.input_tokens.is_none() {
        if let (Some(total), Some(out)) = (get(&["total_tokens"]), usage.output_tokens) {
            usage.input_tokens = Some(total.saturating_sub(out));
        }
    }
    let usage = usage.with_unsplit_total(get(&["total_tokens"]));
    (!usage.is_empty()).then_some(usage)
}

/// Milliseconds from `start` to `end`, never negative and without overflow on
/// absurd input (times are clamped by `Timestamp` to the `i64` range).
fn millis_between(start: Timestamp, end: Timestamp) -> f64 {
    (end.0.saturating_sub(start.0) as f64 / 1000.0).max(0.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn run(id: &str, trace: &str, parent: Option<&str>, second: u32, status: &str) -> Value {
        serde_json::json!({
            "id": id, "trace_id": trace, "parent_run_id": parent, "name": id,
            "run_type": "tool", "status": status,
            "start_time": format!("2026-02-28 12:00:{second:02}+00:00"),
            "end_time": format!("2026-02-28 12:00:{:02}+00:00", second + 1),
        })
    }

    /// `text` read held (one pass) and in two passes: the events, in
    /// order, without the skips and sessions done the second adds or moves.
    fn both_ways(text: &[u8]) -> (Told, Told) {
        let source = Source {
            path: "runs.json".into(),
            format: loupe_model::SourceFormat::MyAgent,
        };
        let mut held = Told::default();
        read_with(
            &mut serde_json::Deserializer::from_slice(text),
            None,
            0,
            &source,
            &mut held,
        )
        .unwrap();
        let mut streamed = Told::default();
        read(text, &source, &mut streamed).unwrap();
        (held, streamed)
    }

    #[test]
    fn a_runs_export_read_in_two_passes_gives_what_holding_it_does() {
        // Traces interleaved: t2 ends before t1, which appeared first and
        // so is handed on first; runs that cannot be used are skipped.
        let doc = serde_json::json!({ "metadata": {}, "runs": [
            run("a1", "t1", None, 0, "success"),
            run("b1", "t2", None, 1, "success"),
            run("b2", "t2", Some("b1"), 2, "error"),
            {"id": "x", "start_time": "yesterday", "trace_id": "t2"},
            {"id": "y", "start_time": "2026-02-28 12:00:09+00:00"},
            run("c1", "t3", None, 3, "success"),
            run("a2", "t1", Some("a1"), 4, "success"),
            run("c2", "t3", Some("c1"), 5, "success"),
        ]});
        let (held, streamed) = both_ways(doc.to_string().as_bytes());
        let events = |t: &Told| -> Vec<String> {
            t.0.iter()
                .filter(|l| !l.starts_with("skip ") && !l.starts_with("done "))
                .cloned()
                .collect()
        };
        let skips = |t: &Told| -> Vec<String> {
            t.0.iter()
                .filter(|l| l.starts_with("skip "))
                .cloned()
                .collect()
        };
        assert_eq!(events(&streamed), events(&held));
        assert_eq!(skips(&streamed), skips(&held));
        assert_eq!(skips(&held).len(), 2, "{held:?}");
        // Each session is said done after its last event, in first-appearance order.
        let done: Vec<&String> = streamed
            .0
            .iter()
            .filter(|l| l.starts_with("done "))
            .collect();
        assert_eq!(done, ["done t1", "done t2", "done t3"]);
        for d in done {
            let session = format!("session_id: {:?}", d.trim_start_matches("done "));
            let at = streamed.0.iter().position(|l| l == d).unwrap();
            assert!(streamed.0[at..].iter().all(|l| !l.contains(&session)));
        }
    }

    #[test]
    fn a_single_trace_read_in_two_passes_gives_what_holding_it_does() {
        let doc = serde_json::json!({
            "id": "t1", "status": "success",
            "start_time": "2026-02-28 12:00:00+00:00", "end_time": "2026-02-28 12:00:09+00:00",
            "runs": [run("a1", "t1", None, 0, "success"), run("a2", "t1", Some("a1"), 1, "error")],
        });
        let (held, streamed) = both_ways(doc.to_string().as_bytes());
        assert_eq!(streamed, held);
        assert_eq!(held.0.len(), 6, "{held:?}");
    }

    /// A MyAgent export of one of the three shapes, written with `ws`
    /// around the punctuation: `(text, plain)`, plain when nothing in it
    /// should make the walk in pieces give up.
    fn export_text(
        shape: u8,
        traces: &[Vec<(u8, bool)>],
        ws: &str,
        extra: bool,
        twice: bool,
    ) -> (String, bool) {
        let runs_of = |t: usize, runs: &[(u8, bool)]| -> Vec<Value> {
            runs.iter()
                .enumerate()
                .map(|(i, (second, error))| {
                    let parent = (i > 0).then(|| format!("r{t}-{}", i - 1));
                    let status = if *error { "error" } else { "success" };
                    let mut r = run(
                        &format!("r{t}-{i}"),
                        &format!("t{t}"),
                        parent.as_deref(),
                        u32::from(*second % 50),
                        status,
                    );
                    r["inputs"] =
                        serde_json::json!({"q": "é \" ]}{[ \n", "n": [1, 2.5, -3e2, null, true]});
                    r
                })
                .collect()
        };
        let pretty = |v: &Value| -> String {
            let compact = v.to_string();
            if ws.is_empty() {
                compact
            } else {
                serde_json::to_string_pretty(v)
                    .unwrap()
                    .replace('\n', &format!("\n{ws}"))
            }
        };
        let mut members: Vec<(String, String)> = Vec::new();
        if extra {
            members.push((
                "metadata".into(),
                r#"{"total":[1,{"a":"]"}],"f":-1.5e3}"#.into(),
            ));
        }
        match shape % 3 {
            0 => {
                let list: Vec<Value> = traces
                    .iter()
                    .enumerate()
                    .map(|(t, runs)| serde_json::json!({
                        "id": format!("t{t}"), "name": "agent", "status": "success",
                        "start_time": "2026-02-28 12:00:00+00:00", "end_time": "2026-02-28 12:01:00+00:00",
                        "runs": runs_of(t, runs),
                    }))
                    .collect();
                members.push(("traces".into(), pretty(&Value::Array(list.clone()))));
                if twice {
                    members.push(("traces".into(), pretty(&Value::Array(list))));
                }
            }
            1 => {
                let mut all: Vec<Value> = Vec::new();
                let most = traces.iter().map(Vec::len).max().unwrap_or(0);
                for i in 0..most {
                    for (t, runs) in traces.iter().enumerate() {
                        if let Some(r) = runs_of(t, runs).into_iter().nth(i) {
                            all.push(r);
                        }
                    }
                }
                members.push(("runs".into(), pretty(&Value::Array(all))));
            }
            _ => {
                let runs = traces.first().map(|r| runs_of(0, r)).unwrap_or_default();
                members.push(("id".into(), "\"t0\"".into()));
                members.push(("start_time".into(), "\"2026-02-28 12:00:00+00:00\"".into()));
                members.push(("runs".into(), pretty(&Value::Array(runs))));
            }
        }
        if extra {
            members.push(("bare".into(), "-12345.678e-3".into()));
        }
        let inner: Vec<String> = members
            .iter()
            .map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}"))
            .collect();
        (format!("{ws}{{{}{ws}}}{ws}", inner.join(",")), true)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the shape, the spacing and the read size, an export
        /// walked in pieces reads as serde_json reads it, and a plain one
        /// is walked.
        #[test]
        fn the_walk_in_pieces_reads_as_serde_does(
            shape in 0u8..3,
            traces in proptest::collection::vec(proptest::collection::vec((0u8..60, proptest::prelude::any::<bool>()), 0..4), 0..4),
            ws in proptest::prop_oneof![proptest::strategy::Just(""), proptest::strategy::Just(" "), proptest::strategy::Just("\n  "), proptest::strategy::Just("\t\r\n")],
            extra in proptest::prelude::any::<bool>(),
            twice in proptest::prelude::any::<bool>(),
            chunk in 1usize..64,
        ) {
            let (doc, plain) = export_text(shape, &traces, ws, extra, twice);
            let took = check_cut_walk(doc.as_bytes(), chunk);
            proptest::prop_assert_eq!(took, plain, "{}", doc);
            proptest::prop_assert_eq!(check_cut_walk(doc.as_bytes(), 1 << 20), took);
        }

        /// Damaged or cut short: read as serde_json reads it, whoever reads.
        #[test]
        fn a_damaged_export_reads_as_serde_reads_it(
            shape in 0u8..3,
            traces in proptest::collection::vec(proptest::collection::vec((0u8..60, proptest::prelude::any::<bool>()), 1..3), 1..4),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
            truncate in proptest::prelude::any::<bool>(),
            chunk in 1usize..32,
        ) {
            let (doc, _) = export_text(shape, &traces, "", false, false);
            let mut bytes = doc.into_bytes();
            let i = at.index(bytes.len());
            if truncate {
                bytes.truncate(i);
            } else {
                bytes[i] = byte;
            }
            check_cut_walk(&bytes, chunk);
        }
    }
}
