//! How an event is laid out in a SQLite row: indexed envelope fields get
//! columns; the rest goes into a compact JSON `body` in which text content is
//! replaced by a reference to the `contents` table, so repeated message
//! content (the whole conversation re-sent on every LLM call) is stored once.
//!
//! A reference is a JSON string `"\u0001<content id>"`. Any original string
//! that itself starts with U+0001 is always stored in `contents`, so decoding
//! is unambiguous.

use std::io::Write;

use loupe_model::{AgentRef, Event, EventKind, Timestamp};
use serde_json::{Map, Value};

use crate::derive::{LONG_TEXT_BYTES, TEXT_KEYS};

/// Marks a content reference in a stored body.
const REF_MARK: char = '\u{1}';

/// A text to be stored once, with whether it is full-text indexed.
pub(crate) struct Text<'a> {
    pub(crate) text: &'a str,
    pub(crate) searchable: bool,
}

/// Serialises everything but the indexed columns; `intern` stores a text and
/// returns its content id.
pub(crate) fn encode_body<E>(
    event: &Event,
    out: &mut Vec<u8>,
    intern: &mut dyn FnMut(Text<'_>) -> Result<i64, E>,
) -> Result<(), E> {
    out.clear();
    out.extend_from_slice(b"{\"d\":{");
    for (i, (key, value)) in event.data.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(&Value::String(key.clone()), out);
        out.push(b':');
        write_value(value, TEXT_KEYS.contains(&key.as_str()), out, intern)?;
    }
    out.push(b'}');
    let mut field = |name: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            write_json(&v, out);
        }
    };
    field("t", event.trace_id.clone().map(Value::String));
    field("s", event.span_id.clone().map(Value::String));
    field("p", event.parent_event_id.clone().map(Value::String));
    field("u", event.turn.map(Value::from));
    field(
        "a",
        event
            .agent
            .as_ref()
            .and_then(|a| serde_json::to_value(a).ok()),
    );
    out.push(b'}');
    Ok(())
}

fn write_json(v: &Value, out: &mut Vec<u8>) {
    // Writing a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn write_value<E>(
    v: &Value,
    under_text_key: bool,
    out: &mut Vec<u8>,
    intern: &mut dyn FnMut(Text<'_>) -> Result<i64, E>,
) -> Result<(), E> {
    match v {
        Value::String(s) => {
            let searchable = !s.is_empty() && (under_text_key || s.len() >= LONG_TEXT_BYTES);
            if searchable || s.starts_with(REF_MARK) {
                let id = intern(Text {
                    text: s,
                    searchable,
                })?;
                let _ = write!(out, "\"\\u0001{id}\"");
            } else {
                write_json(v, out);
            }
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, under_text_key, out, intern)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(&Value::String(key.clone()), out);
                out.push(b':');
                write_value(item, under_text_key, out, intern)?;
            }
            out.push(b'}');
        }
        other => write_json(other, out),
    }
    Ok(())
}

/// The indexed columns of a stored event.
pub(crate) struct Columns {
    pub(crate) event_id: String,
    pub(crate) session_id: String,
    pub(crate) ts_us: i64,
    pub(crate) kind: String,
    pub(crate) iteration: Option<u32>,
    pub(crate) duration_ms: Option<f64>,
}

/// Rebuilds an event; `resolve` returns the text of a content id.
pub(crate) fn decode_event<E>(
    columns: Columns,
    body: &[u8],
    resolve: &mut dyn FnMut(i64) -> Result<String, E>,
    bad_body: impl Fn(String) -> E,
) -> Result<Event, E> {
    let parsed: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| bad_body(e.to_string()))?;
    let mut event = Event::new(
        columns.event_id,
        EventKind::from_name(&columns.kind),
        Timestamp(columns.ts_us),
        columns.session_id,
    );
    event.iteration = columns.iteration;
    event.duration_ms = columns.duration_ms;
    for (key, mut value) in parsed {
        match key.as_str() {
            "d" => {
                resolve_refs(&mut value, resolve, &bad_body)?;
                if let Value::Object(map) = value {
                    event.data = map;
                }
            }
            "t" => event.trace_id = value.as_str().map(str::to_owned),
            "s" => event.span_id = value.as_str().map(str::to_owned),
            "p" => event.parent_event_id = value.as_str().map(str::to_owned),
            "u" => event.turn = value.as_u64().and_then(|t| u32::try_from(t).ok()),
            "a" => event.agent = serde_json::from_value::<AgentRef>(value).ok(),
            _ => {}
        }
    }
    Ok(event)
}

fn resolve_refs<E>(
    v: &mut Value,
    resolve: &mut dyn FnMut(i64) -> Result<String, E>,
    bad_body: &impl Fn(String) -> E,
) -> Result<(), E> {
    match v {
        Value::String(s) => {
            if let Some(rest) = s.strip_prefix(REF_MARK) {
                let id: i64 = rest
                    .parse()
                    .map_err(|_| bad_body(format!("bad content reference {rest:?}")))?;
                *s = resolve(id)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_refs(item, resolve, bad_body)?;
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                resolve_refs(item, resolve, bad_body)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The content ids a stored body references (`"\u0001<id>"` in its JSON).
pub(crate) fn referenced_contents(body: &[u8]) -> Vec<i64> {
    const MARK: &[u8] = b"\"\\u0001";
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&body[i..], MARK) {
        let start = i + pos + MARK.len();
        let end = body[start..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(body.len(), |p| start + p);
        if let Some(id) = std::str::from_utf8(&body[start..end])
            .ok()
            .and_then(|s| s.parse().ok())
        {
            out.push(id);
        }
        i = end;
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Content key: the first 16 bytes of the text's BLAKE3 hash (collisions are
/// out of reach at any realistic store size).
pub(crate) fn content_hash(text: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    key.copy_from_slice(&blake3::hash(text.as_bytes()).as_bytes()[..16]);
    key
}
