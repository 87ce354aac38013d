//! Helpers shared by the line-oriented readers: line framing, JSON field
//! extraction, timestamps and deterministic event ids.
//!
//! Framing is kept apart from parsing (as in Vector's codecs): [`drive_lines`]
//! splits any `BufRead` into lines with one reused buffer and hands each line
//! to a [`LineParser`]; the parser only ever sees one complete line.

use std::io::BufRead;
use std::path::Path;

use loupe_model::Timestamp;
use serde_json::{Map, Value};

use crate::{ReadError, Sink, Skipped, Source};

/// Size of the read buffer used for files (large reads keep syscalls rare).
pub(crate) const READ_BUFFER_BYTES: usize = 256 * 1024;

/// What a line-oriented reader needs to know about where a line came from.
pub(crate) struct LineCtx<'a> {
    /// The file and format.
    pub(crate) source: &'a Source,
    /// 1-based line number in the file.
    pub(crate) line_no: u64,
}

/// One reader of a line-oriented format. `Err(reason)` skips the line.
pub(crate) trait LineParser {
    /// Parses one non-blank line (without its line terminator).
    fn line(&mut self, ctx: &LineCtx<'_>, line: &[u8], sink: &mut dyn Sink) -> Result<(), String>;
}

/// Splits `input` into lines and feeds them to `parser`, numbering lines from
/// `first_line`. Blank lines are ignored, CRLF is tolerated, and a last line
/// without a terminating newline that fails to parse is reported as a torn
/// last line (a writer was interrupted mid-line), never as an error.
pub(crate) fn drive_lines(
    mut input: impl BufRead,
    first_line: u64,
    source: &Source,
    parser: &mut dyn LineParser,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let mut buf = Vec::with_capacity(8 * 1024);
    let mut line_no = first_line.max(1);
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| ReadError::Io {
                path: source.path.clone(),
                source: e,
            })?;
        if n == 0 {
            return Ok(());
        }
        let terminated = buf.last() == Some(&b'\n');
        let mut line: &[u8] = &buf;
        while let Some((&last, rest)) = line.split_last() {
            if last == b'\n' || last == b'\r' {
                line = rest;
            } else {
                break;
            }
        }
        if !line.iter().all(u8::is_ascii_whitespace) {
            let ctx = LineCtx { source, line_no };
            if let Err(reason) = parser.line(&ctx, line, sink) {
                let reason = if terminated {
                    reason
                } else {
                    format!("torn last line (no newline at end of file): {reason}")
                };
                sink.skip(Skipped::new(&source.path, Some(line_no), reason));
            }
        }
        line_no += 1;
    }
}

/// Parses a line as a JSON object.
pub(crate) fn parse_object(line: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "expected a JSON object, found {}",
            json_type(&other)
        )),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

/// The JSON type name of a value, for messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Removes a string field (numbers are turned into their text).
pub(crate) fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    match map.remove(key)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => {
            // Not a scalar: put it back so it is not lost.
            map.insert(key.to_owned(), other);
            None
        }
    }
}

/// Removes a non-negative integer field that fits in `u32`.
pub(crate) fn take_u32(map: &mut Map<String, Value>, key: &str) -> Option<u32> {
    let v = map.remove(key)?;
    match loupe_model::value_u64(&v).and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Some(n),
        None => {
            if !v.is_null() {
                map.insert(key.to_owned(), v);
            }
            None
        }
    }
}

/// Removes a finite number field.
pub(crate) fn take_f64(map: &mut Map<String, Value>, key: &str) -> Option<f64> {
    let v = map.remove(key)?;
    match v.as_f64().filter(|f| f.is_finite()) {
        Some(f) => Some(f),
        None => {
            if !v.is_null() {
                map.insert(key.to_owned(), v);
            }
            None
        }
    }
}

/// Reads a non-negative integer (accepting integral floats and numeric strings).
pub(crate) fn get_u64(map: &Map<String, Value>, key: &str) -> Option<u64> {
    map.get(key).and_then(loupe_model::value_u64)
}

/// Moves `from` to `to` inside `map` (no-op when absent or null).
pub(crate) fn rename(map: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = map.remove(from) {
        if !v.is_null() {
            map.insert(to.to_owned(), v);
        }
    }
}

/// Reads a timestamp written as epoch seconds (number) or RFC 3339 text; both
/// end up in UTC.
pub(crate) fn timestamp_of(v: &Value) -> Result<Timestamp, String> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .and_then(Timestamp::from_epoch_secs_f64)
            .ok_or_else(|| format!("timestamp {n} is out of range")),
        Value::String(s) => Timestamp::parse(s).map_err(|e| format!("bad timestamp {s:?}: {e}")),
        other => Err(format!("timestamp is {}, not a time", json_type(other))),
    }
}

/// Removes and parses the timestamp field `key`.
pub(crate) fn take_timestamp(map: &mut Map<String, Value>, key: &str) -> Result<Timestamp, String> {
    let v = map.remove(key).ok_or_else(|| format!("missing `{key}`"))?;
    timestamp_of(&v)
}

/// Derives a deterministic event id for formats that have none: a hash of the
/// session id, the line number and the line's bytes. It depends on nothing
/// else (not the file path, not later lines), so a tail read from line N
/// produces the same ids as a full read, and re-reading is idempotent.
pub(crate) fn derived_event_id(session_id: &str, line_no: u64, line: &[u8]) -> String {
    use xxhash_rust::xxh3::Xxh3;
    let mut h = Xxh3::new();
    h.update(session_id.as_bytes());
    h.update(&[0]);
    h.update(&line_no.to_le_bytes());
    h.update(line);
    format!("{:016x}-{line_no}", h.digest())
}

/// The file stem (`trace-abc` for `dir/trace-abc.jsonl.gz`), used as a last
/// resort session id like attocode-py's own loader does.
pub(crate) fn file_stem_session(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut stem = name.as_str();
    for ext in [".gz", ".zst", ".jsonl", ".json", ".ndjson"] {
        if let Some(s) = stem.strip_suffix(ext) {
            stem = s;
        }
    }
    if stem.is_empty() {
        "unknown".to_owned()
    } else {
        stem.to_owned()
    }
}
