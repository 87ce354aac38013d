//! Format detection by content, never by file name (seed-formats.md §6).
//!
//! JSONL formats are recognised by the keys of the first lines that parse as
//! JSON objects (up to [`LINES_TO_TRY`], so a few garbage lines at the top do
//! not hide a good file). Whole-file JSON documents are recognised by their
//! top-level keys, which are collected by a streaming scan that stops at the
//! end of the prefix, so a 100 MB export is sniffed from its first bytes.

use std::borrow::Cow;
use std::fmt;

use loupe_model::SourceFormat;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// JSONL lines examined before giving up.
const LINES_TO_TRY: usize = 16;

/// Bytes of a prefix checked to be UTF-8 (see [`looks_binary`]).
const UTF8_CHECK_BYTES: usize = 4096;
/// NUL bytes in a run at least this long are zero fill, not binary data
/// (see [`looks_binary`]); binary formats have short runs too.
const ZERO_FILL_RUN: usize = 16;

/// What a prefix of a file is, when it is no known trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sniff {
    /// A known format.
    Format(SourceFormat),
    /// Binary data (NUL bytes or not UTF-8).
    Binary,
    /// Text that is not JSON.
    NotJson,
    /// JSON whose shape Loupe does not know; the text says what was found.
    ForeignJson(String),
}

/// Detects the format of a file from its first bytes (the whole file or a
/// prefix of it; 64 KiB is plenty). `None` when it is no trace Loupe knows.
pub fn detect(prefix: &[u8]) -> Option<SourceFormat> {
    match sniff(prefix) {
        Sniff::Format(f) => Some(f),
        _ => None,
    }
}

/// Detection with the reason when nothing matches.
pub(crate) fn sniff(prefix: &[u8]) -> Sniff {
    let text = strip_bom(prefix);
    if looks_binary(text) {
        if crate::read::looks_like_otlp_proto(prefix) {
            return Sniff::Format(SourceFormat::Otlp);
        }
        // A stray NUL or invalid byte in a line of a JSONL trace makes that
        // line bad, not the file binary: its reader skips and reports it.
        // Only for text that starts as a JSON object does (UTF-16, which
        // is decoded before it is sniffed, and compressed data do not).
        let text = trim_start(text);
        return match text.first() {
            Some(b'{') => jsonl_format(text).map_or(Sniff::Binary, Sniff::Format),
            _ => Sniff::Binary,
        };
    }
    let trimmed = trim_start(text);
    let starts_like_json = matches!(trimmed.first(), Some(b'{') | Some(b'['));
    let mut first_keys: Option<Vec<String>> = None;
    let cut_short = !trimmed.ends_with(b"\n");
    let mut lines = trimmed.split(|&b| b == b'\n').take(LINES_TO_TRY).peekable();
    while let Some(line) = lines.next() {
        let line = trim_start(line);
        if line.is_empty() {
            continue;
        }
        let last = lines.peek().is_none();
        let shape = LineShape::parse(line).or_else(|| {
            (last && cut_short)
                .then(|| LineShape::parse_cut(line))
                .flatten()
        });
        if let Some(shape) = shape {
            if let Some(f) = line_format(&shape).or_else(|| document_format(&shape.keys)) {
                return Sniff::Format(f);
            }
            first_keys.get_or_insert_with(|| {
                // In key order, as a map of the line lists them.
                let mut keys: Vec<String> = shape.keys.iter().map(|k| k.to_string()).collect();
                keys.sort_unstable();
                keys
            });
        }
    }
    if !starts_like_json && first_keys.is_none() {
        return match scalar_json(trimmed) {
            Some(what) => Sniff::ForeignJson(format!("{what}, not an object")),
            None => Sniff::NotJson,
        };
    }
    // A pretty-printed or very long document: scan its top-level keys.
    let keys = top_level_keys(trimmed);
    if let Some(f) = document_format(&keys) {
        return Sniff::Format(f);
    }
    let keys = first_keys.unwrap_or(keys);
    if keys.is_empty() {
        Sniff::ForeignJson("JSON without any key Loupe recognises".to_owned())
    } else {
        let mut shown: Vec<&str> = keys.iter().map(String::as_str).take(8).collect();
        shown.sort_unstable();
        Sniff::ForeignJson(format!("JSON with keys {}", shown.join(", ")))
    }
}

/// What detection needs of one JSONL line: its top-level keys (each once)
/// and the JSON type of the two members whose type tells formats apart.
/// Parsing only that checks the line's syntax without building its values.
#[derive(Debug, Default)]
struct LineShape<'a> {
    keys: Vec<Cow<'a, str>>,
    timestamp: JsonType,
    type_: JsonType,
}

/// The JSON type of a member, as far as detection cares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum JsonType {
    #[default]
    Absent,
    String,
    Number,
    Other,
}

impl<'a> LineShape<'a> {
    /// The shape of a line that is one JSON object, else `None`.
    fn parse(line: &'a [u8]) -> Option<LineShape<'a>> {
        let mut shape = LineShape::default();
        let mut de = serde_json::Deserializer::from_slice(line);
        de.deserialize_map(ShapeVisitor(&mut shape)).ok()?;
        de.end().ok()?;
        Some(shape)
    }

    /// The shape of the members before the end of `line`, when it is a JSON
    /// object cut short by the end of the prefix sniffed (a first event
    /// longer than the prefix: a long task, a large system prompt).
    fn parse_cut(line: &'a [u8]) -> Option<LineShape<'a>> {
        let mut shape = LineShape::default();
        let mut de = serde_json::Deserializer::from_slice(line);
        match de.deserialize_map(ShapeVisitor(&mut shape)) {
            Err(e) if e.is_eof() && !shape.keys.is_empty() => Some(shape),
            _ => None,
        }
    }

    fn has(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key)
    }
}

/// Fills in a [`LineShape`] member by member, so that what was read before
/// an error is kept.
struct ShapeVisitor<'s, 'de>(&'s mut LineShape<'de>);

impl<'de> Visitor<'de> for ShapeVisitor<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let shape = self.0;
        while let Some(key) = map.next_key_seed(crate::fields::KeySeed)? {
            // A repeated key counts once and keeps its last value, as in a map.
            match &*key {
                "timestamp" => shape.timestamp = map.next_value_seed(TypeSeed)?,
                "type" => shape.type_ = map.next_value_seed(TypeSeed)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            if !shape.has(&key) {
                shape.keys.push(key);
            }
        }
        Ok(())
    }
}

/// Reads a value for its [`JsonType`] only.
struct TypeSeed;

impl<'de> DeserializeSeed<'de> for TypeSeed {
    type Value = JsonType;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JsonType, D::Error> {
        d.deserialize_any(TypeVisitor)
    }
}

struct TypeVisitor;

impl<'de> Visitor<'de> for TypeVisitor {
    type Value = JsonType;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<JsonType, E> {
        Ok(JsonType::String)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<JsonType, E> {
        Ok(JsonType::Number)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<JsonType, E> {
        Ok(JsonType::Number)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<JsonType, E> {
        Ok(JsonType::Number)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<JsonType, E> {
        Ok(JsonType::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<JsonType, E> {
        Ok(JsonType::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonType, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonType::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonType, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonType::Other)
    }
}

/// What a text holding one JSON scalar holds (`JSON null`, `a JSON number`...), else
/// `None`.
fn scalar_json(text: &[u8]) -> Option<&'static str> {
    serde_json::from_slice::<IgnoredAny>(text).ok()?;
    Some(match text.first()? {
        b'n' => "JSON null",
        b't' | b'f' => "a JSON boolean",
        b'"' => "a JSON string",
        _ => "a JSON number",
    })
}

/// The format of the first of the first lines that parse as a JSON object
/// of a known line format.
fn jsonl_format(text: &[u8]) -> Option<SourceFormat> {
    text.split(|&b| b == b'\n')
        .take(LINES_TO_TRY)
        .filter_map(|line| LineShape::parse(trim_start(line)))
        .find_map(|shape| line_format(&shape))
}

/// The format of one JSONL line, from its keys.
fn line_format(o: &LineShape<'_>) -> Option<SourceFormat> {
    let has = |k: &str| o.has(k);
    if has("_type") {
        return Some(SourceFormat::AttocodeTs);
    }
    if has("kind") && (has("event_id") || has("session_id")) {
        return match o.timestamp {
            JsonType::Number => Some(SourceFormat::AttocodePy),
            JsonType::String if has("event_id") && has("session_id") => Some(SourceFormat::Loupe),
            _ => None,
        };
    }
    if has("event_type") && has("session_id") && has("run_id") {
        return Some(SourceFormat::AgentTrace);
    }
    if (has("event_type") && has("agent_id") && has("message"))
        || (has("entry_type") && has("agent_id"))
    {
        return Some(SourceFormat::Attoswarm);
    }
    if has("action") && has("task_id") && has("timestamp") && o.keys.len() <= 4 {
        return Some(SourceFormat::Attoswarm);
    }
    if o.type_ == JsonType::String && o.timestamp == JsonType::Number {
        return Some(SourceFormat::AttocodePyLegacy);
    }
    None
}

/// The format of a whole JSON document (or a JSONL line of OTLP requests),
/// from its top-level keys.
fn document_format<K: AsRef<str>>(keys: &[K]) -> Option<SourceFormat> {
    let has = |k: &str| keys.iter().any(|x| x.as_ref() == k);
    if has("resourceSpans") || has("resource_spans") {
        Some(SourceFormat::Otlp)
    } else if (has("traces") && has("metadata")) || (has("runs") && (has("id") || has("metadata")))
    {
        Some(SourceFormat::MyAgent)
    } else if has("nodes") && has("workflow_name") {
        Some(SourceFormat::VictorWorkflow)
    } else if (has("execution_id") && has("events")) || has("trace_summary") {
        Some(SourceFormat::VictorExecution)
    } else {
        None
    }
}

/// Collects the top-level keys of a JSON object, stopping quietly where the
/// text ends or breaks (a prefix of a large file).
fn top_level_keys(text: &[u8]) -> Vec<String> {
    struct KeyCollector<'k>(&'k mut Vec<String>);
    impl<'de> Visitor<'de> for KeyCollector<'_> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(k) = map.next_key::<String>()? {
                self.0.push(k);
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut keys = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(text);
    let _ = de::Deserializer::deserialize_map(&mut de, KeyCollector(&mut keys));
    keys
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// Binary when the prefix holds a NUL byte or its first [`UTF8_CHECK_BYTES`]
/// are not UTF-8 (allowing for a multi-byte character cut at their end).
/// Binary data shows itself in its first bytes; checking more would only
/// validate a second time what the line readers validate anyway (a bad line
/// further on is skipped and reported like any other).
///
/// Long runs of NUL bytes are not binary data but zero fill: what a file
/// system leaves in blocks that were allocated and never written when the
/// machine crashed. The lines around them are still a trace (the filled
/// line is skipped and reported like any other broken line).
pub(crate) fn looks_binary(prefix: &[u8]) -> bool {
    let mut rest = prefix;
    while let Some(start) = memchr::memchr(0, rest) {
        let run = rest[start..].iter().take_while(|&&b| b == 0).count();
        let reaches_end = start + run == rest.len();
        if run < ZERO_FILL_RUN && !reaches_end {
            return true;
        }
        rest = &rest[start + run..];
    }
    match std::str::from_utf8(&prefix[..prefix.len().min(UTF8_CHECK_BYTES)]) {
        Ok(_) => false,
        Err(e) => e.error_len().is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_json_is_named_by_its_first_keys_in_key_order() {
        let line =
            br#"{"k9": 1, "k3": 2, "k1": 3, "k8": 4, "k2": 5, "k7": 6, "k4": 7, "k6": 8, "k5": 9}"#;
        assert_eq!(
            sniff(line),
            Sniff::ForeignJson("JSON with keys k1, k2, k3, k4, k5, k6, k7, k8".to_owned())
        );
    }

    #[test]
    fn a_line_shape_is_read_like_a_map_of_the_line() {
        // A repeated key counts once and its last value decides.
        let line =
            br#"{"kind":"x","event_id":"a","timestamp":"t","session_id":"s","timestamp":2.5}"#;
        let shape = LineShape::parse(line).unwrap();
        assert_eq!(shape.keys.len(), 4);
        assert_eq!(shape.timestamp, JsonType::Number);
        assert_eq!(line_format(&shape), Some(SourceFormat::AttocodePy));
        // Nested values are skipped whole; `type` must be a string.
        let shape = LineShape::parse(br#"{"type":{"a":[1,{"b":null}]},"timestamp":1}"#).unwrap();
        assert_eq!(shape.type_, JsonType::Other);
        assert_eq!(line_format(&shape), None);
        // Not one object: no shape.
        for bad in [&br#"[1,2]"#[..], br#"{"a":1} x"#, br#"{"a":"#, b"\"s\""] {
            assert!(
                LineShape::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn detects_each_line_format_by_its_keys() {
        let cases: &[(&str, SourceFormat)] = &[
            (
                r#"{"_type":"session.start","_ts":"2026-01-01T00:00:00Z"}"#,
                SourceFormat::AttocodeTs,
            ),
            (
                r#"{"event_id": "a", "kind": "session_start", "timestamp": 1.0, "session_id": "s"}"#,
                SourceFormat::AttocodePy,
            ),
            (
                r#"{"event_id":"a","kind":"session_start","timestamp":"2026-01-01T00:00:00Z","session_id":"s"}"#,
                SourceFormat::Loupe,
            ),
            (
                r#"{"type": "trace.start", "timestamp": 1.0, "session_id": "x"}"#,
                SourceFormat::AttocodePyLegacy,
            ),
            (
                r#"{"timestamp": "2026-02-06T22:10:01Z", "event_type": "turn.start", "session_id": "u", "run_id": null}"#,
                SourceFormat::AgentTrace,
            ),
            (
                r#"{"event_type": "info", "timestamp": 1.0, "task_id": "", "agent_id": "", "data": {}, "message": "m"}"#,
                SourceFormat::Attoswarm,
            ),
            (
                r#"{"timestamp": 1.0, "agent_id": "a", "task_id": "t", "entry_type": "cost_delta", "data": {}}"#,
                SourceFormat::Attoswarm,
            ),
            (
                "{\n  \"metadata\": {},\n  \"traces\": [",
                SourceFormat::MyAgent,
            ),
            (
                "{\n  \"execution_id\": \"x\",\n  \"start_time\": 1.0,\n  \"events\": [ {\"a\": ",
                SourceFormat::VictorExecution,
            ),
            (r#"{"resourceSpans":[]}"#, SourceFormat::Otlp),
        ];
        for (text, want) in cases {
            assert_eq!(detect(text.as_bytes()), Some(*want), "{text}");
        }
    }

    #[test]
    fn garbage_first_lines_do_not_hide_a_trace_and_foreign_files_are_named() {
        let text = "not json\n{\"_type\":\"error\",\"_ts\":\"2026-01-01T00:00:00Z\"}\n";
        assert_eq!(detect(text.as_bytes()), Some(SourceFormat::AttocodeTs));
        assert_eq!(sniff(b"# README\n"), Sniff::NotJson);
        assert_eq!(
            sniff(b"null\n"),
            Sniff::ForeignJson("JSON null, not an object".to_owned())
        );
        assert_eq!(
            sniff(b" 12.5 "),
            Sniff::ForeignJson("a JSON number, not an object".to_owned())
        );
        assert_eq!(sniff(b"\x00\x01\x02"), Sniff::Binary);
        assert!(matches!(
            sniff(br#"{"session_id": "s", "created_at": "x"}"#),
            Sniff::ForeignJson(_)
        ));
    }

    #[test]
    fn a_first_line_longer_than_the_prefix_is_detected_by_its_first_members() {
        let canonical = format!(
            r#"{{"event_id":"1","kind":"session_start","timestamp":"2026-03-01T09:00:00Z","session_id":"x","data":{{"task":"{}"}}}}"#,
            "T".repeat(70_000)
        );
        let ts = format!(
            r#"{{"_type":"session.start","_ts":"2026-03-01T09:00:00.000Z","sessionId":"s","metadata":{{"prompt":"{}"}}}}"#,
            "p".repeat(70_000)
        );
        for (line, format) in [
            (canonical, SourceFormat::Loupe),
            (ts, SourceFormat::AttocodeTs),
        ] {
            let prefix = &line.as_bytes()[..64 * 1024];
            assert_eq!(detect(prefix), Some(format));
            // Whole, it is read as a line as before.
            assert_eq!(detect(line.as_bytes()), Some(format));
        }
        // A whole line that is not an object is not guessed at.
        assert_eq!(
            sniff(b"[1, 2, "),
            Sniff::ForeignJson("JSON without any key Loupe recognises".to_owned())
        );
    }

    #[test]
    fn a_stray_byte_in_a_line_does_not_make_a_jsonl_trace_binary() {
        let line = r#"{"event_id":"1","kind":"llm_request","timestamp":"2026-03-01T09:00:00Z","session_id":"x"}"#;
        let mut with_nul = format!("{line}\n{line}\n").into_bytes();
        with_nul.extend_from_slice(b"{\"event_id\":\"2\",\"kind\":\"x\x00\"}\n");
        assert_eq!(detect(&with_nul), Some(SourceFormat::Loupe));
        let mut bad_first = b"{\"event_id\":\"\xff\"}\n".to_vec();
        bad_first.extend_from_slice(format!("{line}\n").as_bytes());
        assert_eq!(detect(&bad_first), Some(SourceFormat::Loupe));
        // Binary data stays binary.
        assert_eq!(sniff(b"\x00\x01\x02{\n\xff"), Sniff::Binary);
    }
}
