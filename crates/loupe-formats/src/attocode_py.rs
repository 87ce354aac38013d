//! attocode Python `TraceCollector` JSONL (`kind` lines) and its older
//! `type`-line format (see seed-formats.md §2.2–§2.5).
//!
//! Normalisation:
//! - `timestamp` (float epoch seconds) becomes a UTC [`Timestamp`](loupe_model::Timestamp).
//! - Tokens are additive in attocode-py (`input_tokens` excludes cache reads
//!   and writes); `data.usage` gets OpenTelemetry semantics through
//!   [`TokenUsage::from_additive`]. The source keys `input_tokens`,
//!   `output_tokens`, `cache_read_tokens`, `cache_write_tokens` move into
//!   `usage`; the total `tokens` stays in `data`. When that total equals
//!   input + output rather than input + output + cache, the line's input
//!   already includes its cache tokens and is read as OTel as written
//!   (otherwise the cache would count twice) and marked
//!   `data.input_includes_cache = true`; a total that matches neither
//!   (`tokens: 0`) leaves the additive reading. An LLM response that only
//!   carries a total (`tokens`, the real CLI's `TraceWriter`) gets
//!   `usage.total_tokens` alone: the split between input and output is
//!   unknown, but the total counts (attocode's own `total_tokens` does too).
//! - `cost` becomes `cost_usd`, `goal` becomes `task`, `messages_count`
//!   becomes `message_count`.
//! - `"kind": "tool"` (TraceWriter bug, §2.5) becomes `tool_end` with
//!   `source_kind: "tool"`. Other unknown kinds are kept by name.
//! - A second `session_start` or `session_end` in a session (TraceWriter
//!   writes both twice) is kept but flagged `data.duplicate = true`.
//! - Legacy `type` lines map through the TraceWriter table
//!   (`iteration`→`iteration_start`, `llm.complete`→`llm_response`, ...);
//!   unmapped types become `custom` with `source_kind`.

use std::collections::HashSet;

use loupe_model::{keys, Event, EventKind, Timestamp, TokenUsage};
use serde_json::{Map, Value};

use crate::common::{
    derived_event_id, parse_object, take_f64, take_string, take_timestamp, take_u32, EndedSessions,
    LineCtx, LineParser,
};
use crate::fields::Fields;
use crate::layout::LayoutCursor;
use crate::Sink;

/// Reader state for one attocode-py file (current and legacy shapes).
pub(crate) struct AttocodePyReader {
    fallback_session: String,
    legacy_session: Option<String>,
    seen_start: HashSet<String>,
    seen_end: HashSet<String>,
    ended: EndedSessions,
}

impl AttocodePyReader {
    /// `fallback_session` is used for lines that name no session (legacy lines
    /// before `trace.start`, tail reads).
    pub(crate) fn new(fallback_session: String) -> Self {
        AttocodePyReader {
            fallback_session,
            legacy_session: None,
            seen_start: HashSet::new(),
            seen_end: HashSet::new(),
            ended: EndedSessions::default(),
        }
    }

    /// Hands `event` on, telling the sink which sessions are done
    /// ([`EndedSessions`]).
    fn send(&mut self, mut event: Event, source: &crate::Source, sink: &mut dyn Sink) {
        self.flag_duplicate(&mut event);
        self.ended.note(&event, source, sink);
        sink.event(source, event);
    }

    fn flag_duplicate(&mut self, event: &mut Event) {
        let seen = match event.kind {
            EventKind::SessionStart => &mut self.seen_start,
            EventKind::SessionEnd => &mut self.seen_end,
            _ => return,
        };
        if !seen.insert(event.session_id.clone()) {
            event.data.insert("duplicate".to_owned(), Value::Bool(true));
        }
    }

    /// The fast path for well-formed lines exactly as `TraceEvent.to_dict`
    /// writes them: a typed envelope with borrowed strings and no
    /// intermediate map, read through the writer's own layout when the line
    /// has it ([`layout_line`]), else by serde. Anything unusual (extra or
    /// odd-typed keys, bad JSON) returns `None` and goes through the lenient
    /// path, which also words the skip reasons.
    fn fast_line(&mut self, line: &[u8]) -> Option<Event> {
        let text = std::str::from_utf8(line).ok()?;
        let derived = || serde_json::from_str::<FastLine<'_>>(text).ok();
        crate::fields::note_line_kind(None);
        let event = match layout_line(text) {
            Some(read) => {
                let event = fast_event(read);
                // Debug builds (tests, fuzz targets) hold the layout reader
                // to the derived parser on every line they read.
                debug_assert_eq!(
                    derived().map(fast_event),
                    Some(event.clone()),
                    "the layout reader differs from serde on {text}"
                );
                event
            }
            None => derived().and_then(fast_event),
        };
        crate::fields::note_line_kind(None);
        event
    }

    fn current_line(
        &mut self,
        ctx: &LineCtx<'_>,
        line: &[u8],
        mut map: Map<String, Value>,
    ) -> Result<Event, String> {
        let kind_name = take_string(&mut map, "kind").ok_or("`kind` is not a string")?;
        let timestamp = take_timestamp(&mut map, "timestamp")?;
        let session_id =
            take_string(&mut map, "session_id").unwrap_or_else(|| self.fallback_session.clone());
        let event_id = take_string(&mut map, "event_id")
            .unwrap_or_else(|| derived_event_id(&session_id, ctx.line_no, line));
        let (kind, source_kind) = match kind_name.as_str() {
            "tool" => (EventKind::ToolEnd, Some(kind_name.clone())),
            name => (EventKind::from_name(name), None),
        };
        let mut event = Event::new(event_id, kind, timestamp, session_id);
        event.iteration = take_u32(&mut map, "iteration");
        event.parent_event_id = take_string(&mut map, "parent_event_id");
        event.duration_ms = take_f64(&mut map, "duration_ms");
        let mut data = match map.remove("data") {
            Some(Value::Object(d)) => d,
            Some(Value::Null) | None => Map::new(),
            Some(other) => {
                let mut d = Map::new();
                d.insert("data".to_owned(), other);
                d
            }
        };
        // Envelope keys attocode-py does not define are kept, not dropped.
        for (k, v) in map {
            data.entry(k).or_insert(v);
        }
        if let Some(sk) = source_kind {
            data.insert(keys::SOURCE_KIND.to_owned(), Value::String(sk));
        }
        finish(&mut event, Fields::from_map(data));
        Ok(event)
    }

    fn legacy_line(
        &mut self,
        ctx: &LineCtx<'_>,
        line: &[u8],
        mut map: Map<String, Value>,
    ) -> Result<Event, String> {
        let type_name = take_string(&mut map, "type").ok_or("`type` is not a string")?;
        let timestamp = take_timestamp(&mut map, "timestamp")?;
        let named_session = take_string(&mut map, "session_id");
        if type_name == "trace.start" {
            if let Some(s) = &named_session {
                self.legacy_session = Some(s.clone());
            }
        }
        let session_id = named_session
            .or_else(|| self.legacy_session.clone())
            .unwrap_or_else(|| self.fallback_session.clone());
        let kind = legacy_kind(&type_name);
        let event_id = take_string(&mut map, "event_id")
            .unwrap_or_else(|| derived_event_id(&session_id, ctx.line_no, line));
        let mut event = Event::new(event_id, kind.clone(), timestamp, session_id);
        event.iteration = take_u32(&mut map, "iteration");
        event.parent_event_id = take_string(&mut map, "parent_event_id");
        event.duration_ms = take_f64(&mut map, "duration_ms");
        if let Some(Value::Object(inner)) = map.remove("data") {
            for (k, v) in inner {
                map.entry(k).or_insert(v);
            }
        }
        if kind.as_str() != type_name {
            map.insert(keys::SOURCE_KIND.to_owned(), Value::String(type_name));
        }
        // Legacy lines have no TraceWriter metadata to lift.
        let mut data = Fields::from_map(map);
        let usage = normalise_payload(&event.kind, &mut data);
        event.data = data.into_map();
        if let Some(usage) = usage {
            event.set_usage(&usage);
        }
        Ok(event)
    }
}

impl LineParser for AttocodePyReader {
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
        if let Some(event) = self.fast_line(line) {
            self.send(event, ctx.source, sink);
            return Ok(());
        }
        let map = parse_object(line)?;
        let event = if map.contains_key("kind") {
            self.current_line(ctx, line, map)?
        } else if map.contains_key("type") {
            self.legacy_line(ctx, line, map)?
        } else {
            return Err("neither `kind` nor `type`: not an attocode-py event".to_owned());
        };
        self.send(event, ctx.source, sink);
        Ok(())
    }
}

/// One attocode-py line in the exact shape the collector writes.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FastLine<'a> {
    event_id: String,
    #[serde(borrow)]
    kind: LineKind<'a>,
    timestamp: f64,
    session_id: String,
    #[serde(default)]
    iteration: Option<u32>,
    #[serde(default, borrow)]
    data: Option<Fields<'a>>,
    #[serde(default)]
    parent_event_id: Option<String>,
    #[serde(default)]
    duration_ms: Option<f64>,
}

/// The event a [`FastLine`] makes; `None` for a timestamp out of range.
fn fast_event(l: FastLine<'_>) -> Option<Event> {
    let timestamp = Timestamp::from_epoch_secs_f64(l.timestamp)?;
    let (kind, source_kind) = match &*l.kind {
        "tool" => (EventKind::ToolEnd, Some("tool")),
        name => (EventKind::from_name(name), None),
    };
    let mut event = Event::new(l.event_id, kind, timestamp, l.session_id);
    event.iteration = l.iteration;
    event.parent_event_id = l.parent_event_id;
    event.duration_ms = l.duration_ms.filter(|d| d.is_finite());
    let mut data = l.data.unwrap_or_default();
    if let Some(sk) = source_kind {
        data.insert(keys::SOURCE_KIND, Value::from(sk));
    }
    finish(&mut event, data);
    Some(event)
}

/// Reads a line laid out as attocode-py's writer lays it out (`json.dumps`
/// of `TraceEvent.to_dict`: this key order, `", "` and `": "` separators,
/// optional keys left out or null), or gives up (`None`). What it returns is
/// what `FastLine`'s derived parser returns for the same line (see the
/// module docs of [`crate::layout`] and the tests below); it only skips the
/// matching of keys and types.
fn layout_line(text: &str) -> Option<FastLine<'_>> {
    let mut c = LayoutCursor::new(text);
    c.expect(r#"{"event_id": "#)?;
    let event_id = c.plain_string()?;
    c.expect(r#", "kind": "#)?;
    let kind = c.plain_string()?;
    c.expect(r#", "timestamp": "#)?;
    let timestamp = c.f64()?;
    c.expect(r#", "session_id": "#)?;
    let session_id = c.plain_string()?;
    let mut line = FastLine {
        event_id: event_id.to_owned(),
        kind: LineKind(std::borrow::Cow::Borrowed(kind)),
        timestamp,
        session_id: session_id.to_owned(),
        iteration: None,
        data: None,
        parent_event_id: None,
        duration_ms: None,
    };
    if c.eat(r#", "iteration": "#) && !c.eat("null") {
        line.iteration = Some(c.u32()?);
    }
    if c.eat(r#", "data": "#) && !c.eat("null") {
        // The payload's kind-bound unread members depend on the kind.
        crate::fields::note_line_kind(Some(kind));
        line.data = Some(c.object()?);
    }
    if c.eat(r#", "parent_event_id": "#) && !c.eat("null") {
        line.parent_event_id = Some(c.plain_string()?.to_owned());
    }
    if c.eat(r#", "duration_ms": "#) && !c.eat("null") {
        line.duration_ms = Some(c.f64()?);
    }
    (c.eat("}") && c.at_end()).then_some(line)
}

/// A line's `kind`, noted as it is read so that kind-bound unread members
/// are left out of the `data` that follows it (the writer puts `kind`
/// first).
struct LineKind<'a>(std::borrow::Cow<'a, str>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for LineKind<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let kind = serde::de::DeserializeSeed::deserialize(crate::fields::KeySeed, d)?;
        crate::fields::note_line_kind(Some(&kind));
        Ok(LineKind(kind))
    }
}

impl std::ops::Deref for LineKind<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// attocode-py's `event_type_to_trace_kind` table, for legacy `type` lines and
/// TraceWriter-style names.
fn legacy_kind(type_name: &str) -> EventKind {
    match type_name {
        "trace.start" | "start" => EventKind::SessionStart,
        "trace.end" | "complete" => EventKind::SessionEnd,
        "iteration" => EventKind::IterationStart,
        "llm.start" => EventKind::LlmRequest,
        "llm.complete" | "response" | "llm.stream.chunk" => EventKind::LlmResponse,
        "llm.error" => EventKind::LlmError,
        "tool.start" => EventKind::ToolStart,
        "tool.complete" => EventKind::ToolEnd,
        "tool.error" => EventKind::ToolError,
        "compaction.start" => EventKind::CompactionStart,
        "compaction.complete" => EventKind::CompactionEnd,
        "error" => EventKind::Error,
        _ => EventKind::Custom,
    }
}

/// Lifts TraceWriter metadata, normalises the payload and stores it (with
/// its usage) as the event's data.
fn finish(event: &mut Event, mut data: Fields<'_>) {
    lift_tracewriter_metadata(&event.kind, &mut data, &mut event.duration_ms);
    let usage = normalise_payload(&event.kind, &mut data);
    event.data = data.into_map();
    if let Some(usage) = usage {
        event.set_usage(&usage);
    }
}

/// The real CLI's `TraceWriter` nests what it knows under `data.metadata`
/// (`duration_ms`, `model`, `agent_id`, `tokens_saved`...). Those keys are
/// lifted to where every other attocode-py line has them (`duration_ms` onto
/// the envelope, the rest flat into `data`, never overwriting a key that is
/// already there); `session_start` keeps its metadata as written.
fn lift_tracewriter_metadata(
    kind: &EventKind,
    data: &mut Fields<'_>,
    duration_ms: &mut Option<f64>,
) {
    if *kind == EventKind::SessionStart
        || !matches!(data.get(keys::METADATA), Some(Value::Object(_)))
    {
        return;
    }
    let Some(Value::Object(mut meta)) = data.remove(keys::METADATA) else {
        return;
    };
    if duration_ms.is_none() {
        *duration_ms = take_f64(&mut meta, "duration_ms");
    }
    for (k, v) in meta {
        data.insert_if_absent(k, v);
    }
}

/// The additive token counts attocode-py writes into `data`.
const SPLIT_TOKEN_KEYS: [&str; 4] = [
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
];

/// Renames attocode-py payload keys to the canonical ones and takes the
/// additive token counts out; returns the OTel usage they make, if any.
fn normalise_payload(kind: &EventKind, data: &mut Fields<'_>) -> Option<TokenUsage> {
    data.rename("cost", keys::COST_USD);
    match kind {
        EventKind::SessionStart => data.rename("goal", keys::TASK),
        EventKind::LlmRequest => data.rename("messages_count", keys::MESSAGE_COUNT),
        _ => {}
    }
    if !SPLIT_TOKEN_KEYS.iter().any(|k| data.contains_key(k)) {
        return match kind {
            EventKind::LlmResponse => {
                let total = data.get_u64(keys::TOKENS);
                let usage = TokenUsage::default().with_unsplit_total(total);
                (!usage.is_empty()).then_some(usage)
            }
            _ => None,
        };
    }
    let [input, output, cache_read, cache_write] = SPLIT_TOKEN_KEYS.map(|k| {
        let n = data.get_u64(k);
        data.remove(k);
        n
    });
    let inclusive = reads_as_inclusive(
        data.get_u64(keys::TOKENS),
        input,
        output,
        cache_read,
        cache_write,
    );
    let usage = if inclusive {
        // attocode-py's own score reads `input_tokens` as written; the mark
        // lets Loupe's `--score attocode-py` do the same.
        data.insert(INPUT_INCLUDES_CACHE, Value::Bool(true));
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            ..TokenUsage::default()
        }
    } else {
        TokenUsage::from_additive(input, output, cache_read, cache_write)
    };
    (!usage.is_empty()).then_some(usage)
}

/// Set to `true` in `data` on a line whose split was read as inclusive.
pub(crate) const INPUT_INCLUDES_CACHE: &str = "input_includes_cache";

/// Whether a line's split already counts its cache tokens in `input_tokens`
/// although attocode-py's split is additive: the reported total `tokens`
/// equals input + output, not input + output + cache, and the cache parts fit
/// in the input. Reading such a line additively would count the cache twice
/// (`crashed.jsonl`: 3,900 input of which 3,900 cache write, total 4,100).
/// Without a total, or with a total that agrees with neither (`tokens: 0`),
/// the split is read as additive, attocode-py's convention.
fn reads_as_inclusive(
    total: Option<u64>,
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
) -> bool {
    let (Some(total), Some(input)) = (total, input) else {
        return false;
    };
    let cache = cache_read
        .unwrap_or(0)
        .saturating_add(cache_write.unwrap_or(0));
    cache > 0 && cache <= input && total == input.saturating_add(output.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Collected, Source};
    use loupe_model::SourceFormat;

    fn read(text: &str) -> Collected {
        let source = Source {
            path: "t.jsonl".into(),
            format: SourceFormat::AttocodePy,
        };
        let mut out = Collected::default();
        let mut r = AttocodePyReader::new("t".into());
        crate::common::drive_lines(text.as_bytes(), 1, &source, &mut r, &mut out).unwrap();
        out
    }

    #[test]
    fn additive_tokens_become_otel_usage() {
        let out = read(
            r#"{"event_id": "a", "kind": "llm_response", "timestamp": 1.5, "session_id": "s", "data": {"tokens": 10710, "cost": 0.04, "input_tokens": 5200, "output_tokens": 310, "cache_read_tokens": 0, "cache_write_tokens": 5200}}"#,
        );
        let e = &out.events[0].1;
        assert_eq!(e.usage().input(), 10400);
        assert_eq!(e.usage().cache_write(), 5200);
        assert_eq!(e.reported_cost(), Some(0.04));
        assert_eq!(e.u64("tokens"), Some(10710));
        assert!(!e.data.contains_key("input_tokens"));
    }

    #[test]
    fn a_total_of_input_plus_output_means_the_input_includes_the_cache() {
        let line = |tokens: u64| {
            format!(
                r#"{{"event_id": "a", "kind": "llm_response", "timestamp": 1.5, "session_id": "s", "data": {{"tokens": {tokens}, "input_tokens": 3900, "output_tokens": 200, "cache_read_tokens": 0, "cache_write_tokens": 3900}}}}"#
            )
        };
        // The total is input + output: the 3,900 input already holds the write.
        let inclusive = read(&line(4100)).events[0].1.usage();
        assert_eq!(
            (
                inclusive.input(),
                inclusive.cache_write(),
                inclusive.total()
            ),
            (3900, 3900, 4100)
        );
        assert_eq!(
            read(&line(4100)).events[0].1.bool(INPUT_INCLUDES_CACHE),
            Some(true)
        );
        // The total counts the cache on top: additive, as attocode-py writes.
        let additive = read(&line(8000)).events[0].1.usage();
        assert_eq!((additive.input(), additive.total()), (7800, 8000));
        // A total that matches neither reading keeps the additive one.
        let neither = read(&line(0)).events[0].1.usage();
        assert_eq!(neither.input(), 7800);
    }

    #[test]
    fn a_session_is_done_when_the_next_starts_after_its_end_not_at_its_end() {
        let line = |id: &str, kind: &str, t: u32| {
            format!(
                r#"{{"event_id": "{id}{t}", "kind": "{kind}", "timestamp": {t}, "session_id": "{id}"}}"#
            )
        };
        let text = [
            line("a", "session_start", 1),
            line("a", "session_end", 2),
            line("a", "session_end", 3), // TraceWriter writes it twice
            line("b", "session_start", 4),
            line("b", "session_end", 5),
        ]
        .join("\n");
        // `a` is done after its three events, before `b` starts; `b` is not
        // declared (no session starts after it: the file's end finishes it).
        assert_eq!(read(&text).done, [(3, "a".to_owned())]);
    }

    #[test]
    fn a_total_without_its_split_is_kept_as_such() {
        let out = read(concat!(
            r#"{"event_id": "a", "kind": "llm_response", "timestamp": 1.5, "session_id": "s", "data": {"tokens": 2150, "cost": 0.0071}}"#,
            "\n",
            r#"{"type": "llm.complete", "timestamp": 2.0, "tokens": 1500, "cost": 0.004}"#,
            "\n",
            r#"{"event_id": "c", "kind": "tool_end", "timestamp": 3, "session_id": "s", "data": {"tokens": 9}}"#,
            "\n",
        ));
        let usage = |i: usize| out.events[i].1.usage();
        assert_eq!(usage(0).total_tokens, Some(2150));
        assert_eq!(
            (usage(0).input_tokens, usage(0).output_tokens),
            (None, None)
        );
        assert_eq!(usage(0).total(), 2150);
        assert_eq!(usage(1).total(), 1500, "the legacy line format too");
        assert!(usage(2).is_empty(), "only LLM responses carry usage");
    }

    #[test]
    fn tracewriter_tool_kind_and_duplicates() {
        let out = read(concat!(
            r#"{"event_id": "a", "kind": "session_start", "timestamp": 1, "session_id": "s"}"#,
            "\n",
            r#"{"event_id": "b", "kind": "session_start", "timestamp": 2, "session_id": "s"}"#,
            "\n",
            r#"{"event_id": "c", "kind": "tool", "timestamp": 3, "session_id": "s", "data": {"tool": "bash"}}"#,
            "\n",
        ));
        assert_eq!(out.events[0].1.bool("duplicate"), None);
        assert_eq!(out.events[1].1.bool("duplicate"), Some(true));
        assert_eq!(out.events[2].1.kind, EventKind::ToolEnd);
        assert_eq!(out.events[2].1.str(keys::SOURCE_KIND), Some("tool"));
    }

    #[test]
    fn legacy_lines_take_the_session_from_trace_start() {
        let out = read(concat!(
            r#"{"type": "trace.start", "timestamp": 1.0, "session_id": "legacy"}"#,
            "\n",
            r#"{"type": "tool.complete", "timestamp": 2.0, "tool": "read_file"}"#,
            "\n",
            r#"{"type": "mystery", "timestamp": 3.0}"#,
            "\n",
        ));
        assert_eq!(out.events[1].1.session_id, "legacy");
        assert_eq!(out.events[1].1.kind, EventKind::ToolEnd);
        assert_eq!(out.events[2].1.kind, EventKind::Custom);
        assert_eq!(out.events[2].1.str(keys::SOURCE_KIND), Some("mystery"));
        // Derived ids are stable and distinct.
        assert_ne!(out.events[1].1.event_id, out.events[2].1.event_id);
        assert_eq!(
            read(r#"{"type": "trace.start", "timestamp": 1.0, "session_id": "legacy"}"#).events[0]
                .1
                .event_id,
            out.events[0].1.event_id
        );
    }

    /// What the derived parser makes of a line, as an event.
    fn derived(line: &str) -> Option<Option<Event>> {
        serde_json::from_str::<FastLine<'_>>(line)
            .ok()
            .map(fast_event)
    }

    #[test]
    fn the_layout_reader_agrees_with_the_derived_parser_on_every_sample_line() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/samples/attocode-py");
        let (mut by_layout, mut by_serde) = (0, 0);
        for entry in std::fs::read_dir(&dir).expect("shared/samples beside the repository") {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "jsonl") {
                continue;
            }
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let serde = derived(line);
                by_serde += usize::from(serde.is_some());
                if let Some(event) = layout_line(line).map(fast_event) {
                    by_layout += 1;
                    assert_eq!(Some(event), serde, "{line}");
                }
            }
        }
        // Every line the writer wrote in its own layout takes the layout path.
        assert!(by_serde > 150, "{by_serde}");
        assert_eq!(by_layout, by_serde);
    }

    #[test]
    fn the_layout_reader_gives_up_off_the_layout() {
        let line = r#"{"event_id": "a", "kind": "tool_end", "timestamp": 1.5, "session_id": "s", "iteration": 2, "data": {"tool": "bash"}, "duration_ms": 3}"#;
        assert!(layout_line(line).is_some());
        let still_valid = [
            line.replace(r#", "iteration""#, r#","iteration""#),
            line.replace(r#""a""#, r#""\u0061""#),
            format!("{line} "),
            line.replace(
                r#""iteration": 2, "data": {"tool": "bash"}"#,
                r#""data": {"tool": "bash"}, "iteration": 2"#,
            ),
        ];
        for odd in still_valid {
            assert!(layout_line(&odd).is_none(), "{odd}");
            // The derived parser reads what is the same shape in other bytes.
            assert!(derived(&odd).is_some(), "{odd}");
        }
        for bad in [
            line.replace("1.5", "01.5"),
            line.replace("2, ", "2.0, "),
            line.replace(r#""duration_ms": 3"#, r#""duration_ms": 3, "extra": 1"#),
            line.replace(r#""a""#, "\"a\tb\""),
            format!("{line}}}"),
        ] {
            assert!(layout_line(&bad).is_none(), "{bad}");
            assert!(derived(&bad).is_none(), "{bad}");
        }
    }

    use proptest::strategy::Strategy as _;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// On lines near the writer's layout, valid or not, the layout reader
        /// either gives up or reads what the derived parser reads.
        #[test]
        fn the_layout_reader_never_reads_otherwise_than_serde(
            event_id in proptest::prop_oneof![3 => "[a-z0-9]{0,6}", 1 => "[a-z0-9\"\\\\\t\u{e9}]{0,6}"],
            kind in proptest::sample::select(vec!["tool_start", "tool", "llm_response", "session_start", r"x\u0041", ""]),
            timestamp in proptest::prop_oneof![
                proptest::sample::select(vec!["1772294402.5", "1772294402", "-1", "1e3", "01", "1.", "null", "\"1\"", "1e999"]).prop_map(str::to_owned),
                proptest::num::f64::NORMAL.prop_map(|x| format!("{x:?}")),
                (0u64..4_000_000_000_000).prop_map(|ms| format!("{}", ms as f64 / 1000.0)),
            ],
            session_id in proptest::prop_oneof![3 => "[a-z0-9-]{0,6}", 1 => "[a-z0-9\"\\\\-]{0,6}"],
            iteration in proptest::sample::select(vec!["", "null", "1", "0", "17", "", "4294967296", "-1", "1.0", "01", "\"2\""]),
            data in proptest::sample::select(vec!["", "null", "{}", r#"{"tool": "bash", "args": {"a": [1, 2]}, "tool": "x"}"#, r#"{"a": }"#, "[1]", r#"{"input_tokens": 5, "cost": 0.1}"#]),
            parent in proptest::sample::select(vec!["", "null", "\"p\"", "1"]),
            duration in proptest::sample::select(vec!["", "null", "2400.0", "12", "\"x\"", "-0.0"]),
            (comma, colon) in proptest::sample::select(vec![(", ", ": "), (", ", ": "), (", ", ": "), (",", ":"), (" ,", " : ")]),
            suffix in proptest::sample::select(vec!["", "", "", " ", "x", "}"]),
        ) {
            use std::fmt::Write as _;
            let mut line = format!(
                "{{\"event_id\"{colon}\"{event_id}\"{comma}\"kind\"{colon}\"{kind}\"{comma}\"timestamp\"{colon}{timestamp}{comma}\"session_id\"{colon}\"{session_id}\""
            );
            for (key, value) in [("iteration", iteration), ("data", data), ("parent_event_id", parent), ("duration_ms", duration)] {
                if !value.is_empty() {
                    let _ = write!(line, "{comma}\"{key}\"{colon}{value}");
                }
            }
            line.push('}');
            line.push_str(suffix);
            if let Some(read) = layout_line(&line) {
                proptest::prop_assert_eq!(Some(fast_event(read)), derived(&line), "{}", line);
            }
        }
    }

    #[test]
    fn the_fast_path_and_the_lenient_path_agree() {
        let lines = [
            r#"{"event_id": "a", "kind": "llm_response", "timestamp": 1772280002.45, "session_id": "s", "iteration": 1, "data": {"tokens": 10710, "cost": 0.03975, "input_tokens": 5200, "output_tokens": 310, "cache_read_tokens": 0, "cache_write_tokens": 5200}, "duration_ms": 2400.0}"#,
            r#"{"event_id": "b", "kind": "tool", "timestamp": 1772294403.0, "session_id": "s", "iteration": 1, "data": {"tool": "glob", "metadata": {"duration_ms": 12.0}}}"#,
            r#"{"event_id": "c", "kind": "session_start", "timestamp": 1.0, "session_id": "s", "data": {"goal": "g", "model": "m"}, "parent_event_id": "p"}"#,
        ];
        let source = Source {
            path: "t".into(),
            format: SourceFormat::AttocodePy,
        };
        for (n, line) in lines.iter().enumerate() {
            let mut r = AttocodePyReader::new("t".into());
            let fast = r.fast_line(line.as_bytes()).unwrap();
            let map = crate::common::parse_object(line.as_bytes()).unwrap();
            let ctx = LineCtx {
                source: &source,
                line_no: n as u64 + 1,
            };
            let slow = r.current_line(&ctx, line.as_bytes(), map).unwrap();
            assert_eq!(fast, slow, "{line}");
        }
    }
}
