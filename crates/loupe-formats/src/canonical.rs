//! Canonical Loupe JSONL (docs/format.md): one [`Event`] per line. The reader
//! deserialises each line straight into [`Event`] (through the writer's own
//! layout when the line has it); [`CanonicalWriter`] writes
//! them back, reusing one buffer.

use std::io::{self, Write};

use loupe_model::{Event, EventKind, Timestamp};
use serde_json::{Map, Value};

use crate::common::{from_line, EndedSessions, LineCtx, LineParser};
use crate::layout::LayoutCursor;
use crate::Sink;

/// Reader for canonical lines.
#[derive(Default)]
pub(crate) struct CanonicalReader {
    ended: EndedSessions,
}

impl LineParser for CanonicalReader {
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String> {
        let laid_out = std::str::from_utf8(line).ok().and_then(layout_line);
        let event = match laid_out {
            Some(event) => {
                // Debug builds (tests, fuzz targets) hold the layout reader
                // to the derived parser on every line they read.
                debug_assert_eq!(
                    from_line::<Event>(line).ok().as_ref(),
                    Some(&event),
                    "the layout reader differs from serde on {}",
                    String::from_utf8_lossy(line)
                );
                event
            }
            None => match from_line::<Event>(line) {
                Ok(event) => event,
                Err(e) => with_numbers_mended(line)
                    .ok_or_else(|| format!("invalid canonical event: {e}"))?,
            },
        };
        self.ended.note(&event, ctx.source, sink);
        sink.event(ctx.source, event);
        Ok(())
    }
}

/// Reads again a line the typed parse refused, with each envelope number
/// written as something else mended: a numeric string (`"3"`) is read as
/// its number, anything else (`"NaN"`, `"Infinity"`, `true`) as unknown,
/// so `"duration_ms": "NaN"` costs the event its duration, not the event.
/// `None` when no such number was the trouble. Only after a failed parse:
/// well-formed lines pay nothing.
fn with_numbers_mended(line: &[u8]) -> Option<Event> {
    let mut value: Value = serde_json::from_slice(line).ok()?;
    let event = value.as_object_mut()?;
    let mut mended = false;
    for key in ["iteration", "turn"] {
        mended |= mend_number(event, key, whole_number);
    }
    mended |= mend_number(event, "duration_ms", finite_number);
    if let Some(agent) = event.get_mut("agent").and_then(Value::as_object_mut) {
        mended |= mend_number(agent, "spawned_at_iteration", whole_number);
    }
    if !mended {
        return None;
    }
    serde_json::from_value(value).ok()
}

/// Replaces `object[key]` with what `read` makes of it, or removes it when
/// that is nothing; returns whether it changed.
fn mend_number(
    object: &mut Map<String, Value>,
    key: &str,
    read: fn(&Value) -> Option<Value>,
) -> bool {
    let Some(value) = object.get(key) else {
        return false;
    };
    if value.is_null() {
        return false;
    }
    let mended = read(value);
    if mended.as_ref() == Some(value) {
        return false;
    }
    match mended {
        Some(number) => object.insert(key.to_owned(), number),
        None => object.remove(key),
    };
    true
}

/// A `u32` (an iteration or turn number), from a number or numeric string.
fn whole_number(value: &Value) -> Option<Value> {
    let n = loupe_model::value_u64(value)?;
    u32::try_from(n).ok().map(Value::from)
}

/// A finite number, from a number or numeric string.
fn finite_number(value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) => Some(value.clone()),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from),
        _ => None,
    }
}

/// Reads a line laid out as [`CanonicalWriter`] lays it out (serde_json's
/// compact form of [`Event`]: fields in declaration order, absent ones left
/// out, no whitespace), or gives up (`None`). What it returns is what
/// `Event`'s derived parser returns for the same line (see [`crate::layout`]
/// and the tests below); it only skips the matching of keys and types.
fn layout_line(text: &str) -> Option<Event> {
    let mut c = LayoutCursor::new(text);
    c.expect(r#"{"event_id":"#)?;
    let event_id = c.plain_string()?;
    c.expect(r#","kind":"#)?;
    let kind = EventKind::from_name(c.plain_string()?);
    c.expect(r#","timestamp":"#)?;
    let timestamp = Timestamp::parse(c.plain_string()?).ok()?;
    c.expect(r#","session_id":"#)?;
    let session_id = c.plain_string()?;
    let mut event = Event::new(event_id, kind, timestamp, session_id);
    event.trace_id = optional_text(&mut c, r#","trace_id":"#)?;
    event.span_id = optional_text(&mut c, r#","span_id":"#)?;
    event.parent_event_id = optional_text(&mut c, r#","parent_event_id":"#)?;
    if c.eat(r#","iteration":"#) {
        event.iteration = Some(c.u32()?);
    }
    if c.eat(r#","turn":"#) {
        event.turn = Some(c.u32()?);
    }
    if c.eat(r#","duration_ms":"#) {
        event.duration_ms = Some(c.f64()?);
    }
    if c.eat(r#","agent":"#) {
        event.agent = Some(c.object()?);
    }
    if c.eat(r#","data":"#) {
        event.data = c.object()?;
    }
    (c.eat("}") && c.at_end()).then_some(event)
}

/// The text member `key` introduces, if the line goes on with `key`;
/// `None` to give up.
fn optional_text(c: &mut LayoutCursor<'_>, key: &str) -> Option<Option<String>> {
    if !c.eat(key) {
        return Some(None);
    }
    Some(Some(c.plain_string()?.to_owned()))
}

/// Writes events as canonical JSONL, one per line, to any [`Write`]. Each
/// line is serialised into a reused buffer and written with one call, so a
/// reader of a growing file never sees half an event unless the writer dies.
#[derive(Debug)]
pub struct CanonicalWriter<W: Write> {
    out: W,
    line: Vec<u8>,
    written: u64,
}

impl<W: Write> CanonicalWriter<W> {
    /// Wraps `out` (give it a `BufWriter` for files).
    pub fn new(out: W) -> Self {
        CanonicalWriter {
            out,
            line: Vec::with_capacity(1024),
            written: 0,
        }
    }

    /// Writes one event as one line.
    pub fn write(&mut self, event: &Event) -> io::Result<()> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, event).map_err(io::Error::other)?;
        self.line.push(b'\n');
        self.out.write_all(&self.line)?;
        self.written += 1;
        Ok(())
    }

    /// Number of events written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The underlying writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes `events` as canonical JSONL to `out`; returns how many were written.
pub fn write_canonical<'a, W: Write>(
    out: W,
    events: impl IntoIterator<Item = &'a Event>,
) -> io::Result<u64> {
    let mut w = CanonicalWriter::new(out);
    for e in events {
        w.write(e)?;
    }
    w.flush()?;
    Ok(w.written())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_session_is_done_once_another_starts_after_its_end() {
        let mut text = String::new();
        for (n, (id, kind)) in [
            ("a", EventKind::SessionStart),
            ("a", EventKind::SessionEnd),
            ("b", EventKind::SessionStart),
        ]
        .into_iter()
        .enumerate()
        {
            let e = Event::new(format!("e{n}"), kind, Timestamp(n as i64), id);
            text.push_str(&serde_json::to_string(&e).unwrap());
            text.push('\n');
        }
        let out = read(&text);
        assert_eq!(out.done, [(2, "a".to_owned())]);
    }

    /// Numbers written as strings, or out of range: each costs only
    /// itself. A numeric string is read as its number; `"NaN"`,
    /// `"Infinity"`, `1e999` and other non-numbers are unknown.
    #[test]
    fn an_envelope_number_that_is_not_one_costs_only_itself() {
        let line = |envelope: &str| {
            format!(
                r#"{{"event_id":"e1","kind":"llm_response","timestamp":"2026-02-28T12:00:00Z","session_id":"s",{envelope}"data":{{"model":"m","usage":{{"input_tokens":"NaN","output_tokens":10}}}}}}"#
            )
        };
        for (envelope, iteration, turn, duration) in [
            (r#""duration_ms":"NaN","#, None, None, None),
            (r#""duration_ms":"Infinity","#, None, None, None),
            (r#""duration_ms":1e999,"#, None, None, None),
            (
                r#""duration_ms":"-Infinity","iteration":2,"#,
                Some(2),
                None,
                None,
            ),
            (r#""duration_ms":" 12.5 ","#, None, None, Some(12.5)),
            (
                r#""iteration":"NaN","duration_ms":3.0,"#,
                None,
                None,
                Some(3.0),
            ),
            (r#""iteration":"4","turn":"x","#, Some(4), None, None),
            (r#""iteration":1e999,"turn":2,"#, None, Some(2), None),
            (r#""iteration":-1,"#, None, None, None),
        ] {
            let out = read(&format!("{}\n", line(envelope)));
            assert!(out.skipped.is_empty(), "{envelope}: {:?}", out.skipped);
            let e = &out.events[0].1;
            assert_eq!(
                (e.iteration, e.turn, e.duration_ms),
                (iteration, turn, duration),
                "{envelope}"
            );
            assert_eq!(e.usage().output_tokens, Some(10), "{envelope}");
        }
        let subagent = line(r#""agent":{"id":"sub","spawned_at_iteration":"NaN"},"#);
        let out = read(&format!("{subagent}\n"));
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        let agent = out.events[0].1.agent.as_deref().unwrap();
        assert_eq!(
            (agent.id.as_str(), agent.spawned_at_iteration),
            ("sub", None)
        );
        // Other trouble is still reported as it was.
        let out = read("{\"event_id\":\"e1\",\"kind\":\"log\"}\n");
        assert!(
            out.skipped[0].reason.contains("missing field"),
            "{:?}",
            out.skipped
        );
    }

    /// Python's `json.dumps` writes `NaN` for a duration it could not
    /// measure: the event still counts, with no duration.
    #[test]
    fn a_bare_nan_duration_is_read_as_none_and_the_event_kept() {
        let text = concat!(
            r#"{"event_id":"e1","kind":"llm_response","timestamp":"2026-02-28T12:00:00Z","session_id":"s","duration_ms":NaN,"data":{"model":"m","usage":{"input_tokens":1000,"output_tokens":10}}}"#,
            "\n"
        );
        let out = read(text);
        assert!(out.skipped.is_empty(), "{:?}", out.skipped);
        let e = &out.events[0].1;
        assert_eq!((e.duration_ms, e.usage().input_tokens), (None, Some(1000)));
    }

    /// `text` read by the canonical reader, as a file would be.
    fn read(text: &str) -> crate::Collected {
        let source = crate::Source {
            path: "t.jsonl".into(),
            format: loupe_model::SourceFormat::Loupe,
        };
        let mut out = crate::Collected::default();
        let mut reader = CanonicalReader::default();
        crate::common::drive_lines(text.as_bytes(), 1, &source, &mut reader, &mut out).unwrap();
        out
    }

    fn derived(line: &str) -> Option<Event> {
        serde_json::from_str(line).ok()
    }

    fn written(event: &Event) -> String {
        let mut out = Vec::new();
        write_canonical(&mut out, [event]).unwrap();
        String::from_utf8(out).unwrap().trim_end().to_owned()
    }

    /// Every event of every sample, written by the writer, is read back
    /// through the layout, as the derived parser reads it.
    #[test]
    fn the_writers_lines_take_the_layout_path_and_read_as_serde_reads_them() {
        let samples =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples");
        let mut events = crate::CollectedEvents::default();
        crate::read_paths(&[samples], &crate::ReadOptions::default(), &mut events).unwrap();
        assert!(events.events.len() > 300, "{}", events.events.len());
        let mut laid_out = 0;
        for event in &events.events {
            let line = written(event);
            let serde = derived(&line);
            assert!(serde.is_some(), "{line}");
            if let Some(read) = layout_line(&line) {
                laid_out += 1;
                assert_eq!(Some(read), serde, "{line}");
            } else {
                // Only text with escapes is left to serde.
                assert!(line.contains('\\'), "{line}");
            }
        }
        assert!(
            laid_out * 10 > events.events.len() * 9,
            "{laid_out} of {}",
            events.events.len()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// On lines near the writer's layout, valid or not, the layout reader
        /// either gives up or reads what the derived parser reads.
        #[test]
        fn the_layout_reader_never_reads_otherwise_than_serde(
            event_id in proptest::prop_oneof![3 => "[a-z0-9-]{0,6}", 1 => "[a-z0-9\"\\\t\u{e9}]{0,6}"],
            kind in proptest::sample::select(vec!["tool_start", "llm_response", "frobnicate", r"x\u0041", ""]),
            timestamp in proptest::sample::select(vec!["2026-02-28T12:01:00.000000Z", "2026-02-28T12:01:00Z", "2026-02-28T12:01:00.5+02:00", "2026-02-30T12:01:00Z", "yesterday", "1772294402"]),
            session_id in proptest::prop_oneof![3 => "[a-z0-9-]{0,6}", 1 => "[a-z0-9\"\\-]{0,6}"],
            ids in proptest::sample::subsequence(vec![r#","trace_id":"t""#, r#","span_id":"s""#, r#","parent_event_id":"p""#, r#","span_id":null"#, r#","trace_id":1"#], 0..3),
            iteration in proptest::sample::select(vec!["", ",\"iteration\":1", ",\"iteration\":4294967296", ",\"iteration\":-1", ",\"iteration\":null", ",\"iteration\":2.0"]),
            turn in proptest::sample::select(vec!["", ",\"turn\":3", ",\"turn\":\"3\""]),
            duration in proptest::sample::select(vec!["", ",\"duration_ms\":2400.0", ",\"duration_ms\":12", ",\"duration_ms\":1e400", ",\"duration_ms\":-0.5"]),
            agent in proptest::sample::select(vec!["", r#","agent":{"id":"a","type":"coder"}"#, r#","agent":{"name":"x"}"#, r#","agent":{}"#, r#","agent":null"#]),
            data in proptest::sample::select(vec!["", r#","data":{}"#, r#","data":{"a":[1,{"b":"}"}],"a":2}"#, r#","data":null"#, r#","data":[1]"#, r#","data":{"a":}"#]),
            suffix in proptest::sample::select(vec!["", "", "", " ", "x", "}", r#","extra":1}"#]),
        ) {
            let mut line = format!(r#"{{"event_id":"{event_id}","kind":"{kind}","timestamp":"{timestamp}","session_id":"{session_id}""#);
            for piece in ids.iter().chain(&[iteration, turn, duration, agent, data]) {
                line.push_str(piece);
            }
            match suffix.strip_suffix('}') {
                Some(members) if !members.is_empty() => { line.push_str(members); line.push('}'); }
                _ => { line.push('}'); line.push_str(suffix); }
            }
            if let Some(read) = layout_line(&line) {
                proptest::prop_assert_eq!(Some(read), derived(&line), "{}", line);
            }
        }
    }
}
