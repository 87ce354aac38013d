//! How an event is laid out in a SQLite row: indexed envelope fields get
//! columns; the rest goes into a compact binary `body` in which searchable
//! text is replaced by a reference to the `contents` table, so repeated
//! message content (the whole conversation re-sent on every LLM call) is
//! stored once.
//!
//! Body format (schema 2 on): byte [`BINARY_BODY`], a flags byte saying which
//! envelope fields follow (trace id, span id, parent event id, turn, agent),
//! those fields, then `data` as an object value. A value is a tag byte and
//! its payload; lengths, counts and integers are LEB128 varints, so decoding
//! parses no text and unescapes nothing.
//!
//! Stores written by schema 1 hold JSON bodies (they start with `{`), in which
//! a reference is a JSON string `"\u0001<content id>"`; those are still read.

use loupe_model::{AgentRef, Event, EventKind, Timestamp};
use serde_json::{Map, Number, Value};

use crate::derive::{LONG_TEXT_BYTES, TEXT_KEYS};

/// First byte of a binary body.
const BINARY_BODY: u8 = 1;

/// Marks a content reference in a legacy JSON body.
const REF_MARK: char = '\u{1}';

// Value tags of the binary body.
const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_UINT: u8 = 3;
const TAG_NEG_INT: u8 = 4;
const TAG_FLOAT: u8 = 5;
const TAG_STRING: u8 = 6;
const TAG_CONTENT: u8 = 7;
const TAG_ARRAY: u8 = 8;
const TAG_OBJECT: u8 = 9;
/// A number neither u64, i64 nor f64 can hold exactly (serde_json's
/// `arbitrary_precision`), kept as its JSON text.
const TAG_NUMBER_TEXT: u8 = 10;

// Envelope field flags of the binary body.
const HAS_TRACE: u8 = 1;
const HAS_SPAN: u8 = 2;
const HAS_PARENT: u8 = 4;
const HAS_TURN: u8 = 8;
const HAS_AGENT: u8 = 16;

/// Nesting deeper than this is refused when decoding (a corrupt body must not
/// overflow the stack); serde_json itself refuses input nested over 128.
const MAX_DEPTH: usize = 512;

/// Serialises everything but the indexed columns; `intern` stores a
/// searchable text and returns its content id.
pub(crate) fn encode_body<E>(
    event: &Event,
    out: &mut Vec<u8>,
    intern: &mut dyn FnMut(&str) -> Result<i64, E>,
) -> Result<(), E> {
    out.clear();
    out.push(BINARY_BODY);
    let agent = event
        .agent
        .as_ref()
        .and_then(|a| serde_json::to_value(a).ok());
    let mut flags = 0;
    for (present, flag) in [
        (event.trace_id.is_some(), HAS_TRACE),
        (event.span_id.is_some(), HAS_SPAN),
        (event.parent_event_id.is_some(), HAS_PARENT),
        (event.turn.is_some(), HAS_TURN),
        (agent.is_some(), HAS_AGENT),
    ] {
        if present {
            flags |= flag;
        }
    }
    out.push(flags);
    for s in [&event.trace_id, &event.span_id, &event.parent_event_id]
        .into_iter()
        .flatten()
    {
        write_str(s, out);
    }
    if let Some(turn) = event.turn {
        write_varint(u64::from(turn), out);
    }
    if let Some(agent) = &agent {
        write_value(agent, false, out, intern)?;
    }
    out.push(TAG_OBJECT);
    write_varint(event.data.len() as u64, out);
    for (key, value) in &event.data {
        write_str(key, out);
        write_value(value, TEXT_KEYS.contains(&key.as_str()), out, intern)?;
    }
    Ok(())
}

pub(crate) fn write_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    write_varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        out.push(TAG_UINT);
        write_varint(u, out);
    } else if let Some(i) = n.as_i64() {
        // Negative here: store its magnitude minus one so i64::MIN fits.
        out.push(TAG_NEG_INT);
        write_varint(!(i as u64), out);
    } else if let Some(f) = n
        .as_f64()
        .filter(|f| Number::from_f64(*f).as_ref() == Some(n))
    {
        out.push(TAG_FLOAT);
        out.extend_from_slice(&f.to_le_bytes());
    } else {
        out.push(TAG_NUMBER_TEXT);
        write_str(&n.to_string(), out);
    }
}

fn write_value<E>(
    v: &Value,
    under_text_key: bool,
    out: &mut Vec<u8>,
    intern: &mut dyn FnMut(&str) -> Result<i64, E>,
) -> Result<(), E> {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => {
            if !s.is_empty() && (under_text_key || s.len() >= LONG_TEXT_BYTES) {
                let id = intern(s)?;
                out.push(TAG_CONTENT);
                write_varint(id as u64, out);
            } else {
                out.push(TAG_STRING);
                write_str(s, out);
            }
        }
        Value::Array(items) => {
            out.push(TAG_ARRAY);
            write_varint(items.len() as u64, out);
            for item in items {
                write_value(item, under_text_key, out, intern)?;
            }
        }
        Value::Object(map) => {
            out.push(TAG_OBJECT);
            write_varint(map.len() as u64, out);
            for (key, item) in map {
                write_str(key, out);
                write_value(item, under_text_key, out, intern)?;
            }
        }
    }
    Ok(())
}

/// The indexed columns of a stored event.
pub(crate) struct Columns {
    pub(crate) event_id: String,
    pub(crate) session_id: String,
    pub(crate) ts_us: i64,
    pub(crate) kind: EventKind,
    pub(crate) iteration: Option<u32>,
    pub(crate) duration_ms: Option<f64>,
}

/// Why a body could not be decoded: it is malformed, or resolving a content
/// reference failed.
pub(crate) enum DecodeError<E> {
    Malformed(String),
    Resolve(E),
}

/// Rebuilds an event; `resolve` returns the text of a content id.
pub(crate) fn decode_event<E>(
    columns: Columns,
    body: &[u8],
    resolve: &mut dyn FnMut(i64) -> Result<String, E>,
) -> Result<Event, DecodeError<E>> {
    let mut event = Event::new(
        columns.event_id,
        columns.kind,
        Timestamp(columns.ts_us),
        columns.session_id,
    );
    event.iteration = columns.iteration;
    event.duration_ms = columns.duration_ms;
    match body.first() {
        Some(&BINARY_BODY) => {
            let mut reader = Reader {
                buf: body,
                pos: 1,
                resolve,
            };
            reader.envelope(&mut event)?;
        }
        Some(b'{') => decode_json_body(&mut event, body, resolve)?,
        _ => return Err(DecodeError::Malformed("unknown body format".to_owned())),
    }
    Ok(event)
}

/// Reads a binary body.
struct Reader<'a, 'r, E> {
    buf: &'a [u8],
    pos: usize,
    resolve: &'r mut dyn FnMut(i64) -> Result<String, E>,
}

fn truncated<E>() -> DecodeError<E> {
    DecodeError::Malformed("truncated body".to_owned())
}

impl<E> Reader<'_, '_, E> {
    fn envelope(&mut self, event: &mut Event) -> Result<(), DecodeError<E>> {
        let flags = self.byte()?;
        if flags & HAS_TRACE != 0 {
            event.trace_id = Some(self.string()?);
        }
        if flags & HAS_SPAN != 0 {
            event.span_id = Some(self.string()?);
        }
        if flags & HAS_PARENT != 0 {
            event.parent_event_id = Some(self.string()?);
        }
        if flags & HAS_TURN != 0 {
            event.turn = u32::try_from(self.varint()?).ok();
        }
        if flags & HAS_AGENT != 0 {
            let agent = self.value(0)?;
            event.agent = serde_json::from_value::<Box<AgentRef>>(agent).ok();
        }
        match self.value(0)? {
            Value::Object(map) => event.data = map,
            _ => return Err(DecodeError::Malformed("data is not an object".to_owned())),
        }
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, DecodeError<E>> {
        let b = *self.buf.get(self.pos).ok_or_else(truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError<E>> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7F) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(DecodeError::Malformed("varint too long".to_owned()))
    }

    fn bytes(&mut self) -> Result<&[u8], DecodeError<E>> {
        let len = usize::try_from(self.varint()?).map_err(|_| truncated())?;
        let end = self.pos.checked_add(len).ok_or_else(truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn string(&mut self) -> Result<String, DecodeError<E>> {
        let bytes = self.bytes()?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::Malformed("string is not UTF-8".to_owned()))
    }

    /// A count of items that each take at least one byte, so a corrupt count
    /// cannot make us reserve more than the body's size.
    fn count(&mut self) -> Result<usize, DecodeError<E>> {
        let n = usize::try_from(self.varint()?).map_err(|_| truncated())?;
        if n > self.buf.len() - self.pos {
            return Err(truncated());
        }
        Ok(n)
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError<E>> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::Malformed("nested too deeply".to_owned()));
        }
        Ok(match self.byte()? {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_UINT => Value::Number(self.varint()?.into()),
            TAG_NEG_INT => Value::Number((!self.varint()? as i64).into()),
            TAG_FLOAT => {
                let end = self.pos + 8;
                let raw = self.buf.get(self.pos..end).ok_or_else(truncated)?;
                self.pos = end;
                let mut le = [0u8; 8];
                le.copy_from_slice(raw);
                Number::from_f64(f64::from_le_bytes(le)).map_or(Value::Null, Value::Number)
            }
            TAG_NUMBER_TEXT => {
                let text = self.string()?;
                Value::Number(
                    text.parse()
                        .map_err(|_| DecodeError::Malformed(format!("bad number {text:?}")))?,
                )
            }
            TAG_STRING => Value::String(self.string()?),
            TAG_CONTENT => {
                let id = i64::try_from(self.varint()?)
                    .map_err(|_| DecodeError::Malformed("bad content reference".to_owned()))?;
                Value::String((self.resolve)(id).map_err(DecodeError::Resolve)?)
            }
            TAG_ARRAY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            TAG_OBJECT => {
                let n = self.count()?;
                let mut map = Map::new();
                for _ in 0..n {
                    let key = self.string()?;
                    let item = self.value(depth + 1)?;
                    map.insert(key, item);
                }
                Value::Object(map)
            }
            other => return Err(DecodeError::Malformed(format!("unknown value tag {other}"))),
        })
    }

    /// Collects content ids without building values (for prune).
    fn skip_value(&mut self, depth: usize, ids: &mut Vec<i64>) -> Result<(), DecodeError<E>> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::Malformed("nested too deeply".to_owned()));
        }
        match self.byte()? {
            TAG_NULL | TAG_FALSE | TAG_TRUE => {}
            TAG_UINT | TAG_NEG_INT => {
                self.varint()?;
            }
            TAG_FLOAT => {
                self.pos = self.pos.checked_add(8).ok_or_else(truncated)?;
            }
            TAG_STRING | TAG_NUMBER_TEXT => {
                self.bytes()?;
            }
            TAG_CONTENT => {
                if let Ok(id) = i64::try_from(self.varint()?) {
                    ids.push(id);
                }
            }
            TAG_ARRAY => {
                for _ in 0..self.count()? {
                    self.skip_value(depth + 1, ids)?;
                }
            }
            TAG_OBJECT => {
                for _ in 0..self.count()? {
                    self.bytes()?;
                    self.skip_value(depth + 1, ids)?;
                }
            }
            other => return Err(DecodeError::Malformed(format!("unknown value tag {other}"))),
        }
        Ok(())
    }

    fn skip_envelope(&mut self, ids: &mut Vec<i64>) -> Result<(), DecodeError<E>> {
        self.skip_to_data(ids)?;
        self.skip_value(0, ids)
    }

    /// Skips the envelope fields before `data`.
    fn skip_to_data(&mut self, ids: &mut Vec<i64>) -> Result<(), DecodeError<E>> {
        let flags = self.byte()?;
        for flag in [HAS_TRACE, HAS_SPAN, HAS_PARENT] {
            if flags & flag != 0 {
                self.bytes()?;
            }
        }
        if flags & HAS_TURN != 0 {
            self.varint()?;
        }
        if flags & HAS_AGENT != 0 {
            self.skip_value(0, ids)?;
        }
        Ok(())
    }
}

/// The [`Event::fullness`] of the event a stored body holds (its count of
/// `data` members, which the body records), without decoding the event;
/// `None` for a malformed body.
pub(crate) fn body_fullness(body: &[u8]) -> Option<usize> {
    match body.first() {
        Some(&BINARY_BODY) => {
            let mut reader = Reader::<()> {
                buf: body,
                pos: 1,
                resolve: &mut |_| Ok(String::new()),
            };
            reader.skip_to_data(&mut Vec::new()).ok()?;
            if reader.byte().ok()? != TAG_OBJECT {
                return None;
            }
            usize::try_from(reader.varint().ok()?).ok()
        }
        Some(b'{') => {
            let parsed: Map<String, Value> = serde_json::from_slice(body).ok()?;
            Some(
                parsed
                    .get("d")
                    .and_then(Value::as_object)
                    .map_or(0, Map::len),
            )
        }
        _ => None,
    }
}

/// Decodes a schema-1 JSON body.
fn decode_json_body<E>(
    event: &mut Event,
    body: &[u8],
    resolve: &mut dyn FnMut(i64) -> Result<String, E>,
) -> Result<(), DecodeError<E>> {
    let parsed: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    for (key, mut value) in parsed {
        match key.as_str() {
            "d" => {
                resolve_json_refs(&mut value, resolve)?;
                if let Value::Object(map) = value {
                    event.data = map;
                }
            }
            "t" => event.trace_id = value.as_str().map(str::to_owned),
            "s" => event.span_id = value.as_str().map(str::to_owned),
            "p" => event.parent_event_id = value.as_str().map(str::to_owned),
            "u" => event.turn = value.as_u64().and_then(|t| u32::try_from(t).ok()),
            "a" => event.agent = serde_json::from_value::<Box<AgentRef>>(value).ok(),
            _ => {}
        }
    }
    Ok(())
}

fn resolve_json_refs<E>(
    v: &mut Value,
    resolve: &mut dyn FnMut(i64) -> Result<String, E>,
) -> Result<(), DecodeError<E>> {
    match v {
        Value::String(s) => {
            if let Some(rest) = s.strip_prefix(REF_MARK) {
                let id: i64 = rest.parse().map_err(|_| {
                    DecodeError::Malformed(format!("bad content reference {rest:?}"))
                })?;
                *s = resolve(id).map_err(DecodeError::Resolve)?;
            }
        }
        Value::Array(items) => {
            for item in items {
                resolve_json_refs(item, resolve)?;
            }
        }
        Value::Object(map) => {
            for (_, item) in map.iter_mut() {
                resolve_json_refs(item, resolve)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The content ids a stored body references. A malformed body yields what
/// could be read before the damage (prune must not fail on one bad row).
pub(crate) fn referenced_contents(body: &[u8]) -> Vec<i64> {
    let mut out = Vec::new();
    if body.first() == Some(&BINARY_BODY) {
        let mut reader = Reader::<()> {
            buf: body,
            pos: 1,
            resolve: &mut |_| Ok(String::new()),
        };
        let _ = reader.skip_envelope(&mut out);
        return out;
    }
    // Legacy JSON: references are `"\u0001<id>"`.
    const MARK: &[u8] = b"\"\\u0001";
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

/// Writes a schema-1 JSON body (tests of reading old stores only); `intern`
/// gets each text and whether it is searchable.
#[cfg(test)]
pub(crate) fn encode_json_body(
    event: &Event,
    intern: &mut dyn FnMut(&str, bool) -> i64,
) -> Vec<u8> {
    fn refs(v: &Value, under: bool, intern: &mut dyn FnMut(&str, bool) -> i64) -> Value {
        match v {
            Value::String(s) => {
                let searchable = !s.is_empty() && (under || s.len() >= LONG_TEXT_BYTES);
                if searchable || s.starts_with(REF_MARK) {
                    Value::String(format!("{REF_MARK}{}", intern(s, searchable)))
                } else {
                    v.clone()
                }
            }
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| refs(i, under, intern)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, i)| (k.clone(), refs(i, under, intern)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    let data: Map<String, Value> = event
        .data
        .iter()
        .map(|(k, v)| (k.clone(), refs(v, TEXT_KEYS.contains(&k.as_str()), intern)))
        .collect();
    let mut body = Map::new();
    body.insert("d".to_owned(), Value::Object(data));
    if let Some(t) = &event.trace_id {
        body.insert("t".to_owned(), Value::String(t.clone()));
    }
    if let Some(a) = &event.agent {
        body.insert(
            "a".to_owned(),
            serde_json::to_value(a).unwrap_or(Value::Null),
        );
    }
    Value::Object(body).to_string().into_bytes()
}

/// Content key: the first 16 bytes of the text's BLAKE3 hash (collisions are
/// out of reach at any realistic store size).
pub(crate) fn content_hash(text: &str) -> [u8; 16] {
    let mut key = [0u8; 16];
    key.copy_from_slice(&blake3::hash(text.as_bytes()).as_bytes()[..16]);
    key
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn round_trip(event: &Event) -> Event {
        let mut texts: Vec<String> = Vec::new();
        let mut body = Vec::new();
        encode_body(event, &mut body, &mut |t| {
            texts.push(t.to_owned());
            Ok::<i64, ()>(texts.len() as i64 - 1)
        })
        .unwrap();
        let columns = Columns {
            event_id: event.event_id.clone(),
            session_id: event.session_id.clone(),
            ts_us: event.timestamp.as_micros(),
            kind: event.kind.clone(),
            iteration: event.iteration,
            duration_ms: event.duration_ms,
        };
        assert_eq!(
            referenced_contents(&body),
            (0..texts.len() as i64).collect::<Vec<_>>()
        );
        assert_eq!(body_fullness(&body), Some(event.fullness()));
        let decoded = decode_event(columns, &body, &mut |id| {
            Ok::<_, ()>(texts[id as usize].clone())
        });
        match decoded {
            Ok(e) => e,
            Err(_) => panic!("body did not decode"),
        }
    }

    #[test]
    fn every_value_kind_and_envelope_field_round_trips() {
        let mut e = Event::new("e1", EventKind::ToolEnd, Timestamp(-5), "s")
            .with(
                "numbers",
                json!([
                    0,
                    1,
                    127,
                    128,
                    u64::MAX,
                    -1,
                    i64::MIN,
                    0.5,
                    -2.25e300,
                    1e-300
                ]),
            )
            .with("flags", json!([true, false, null]))
            .with("nested", json!({"a": {"b": [[], {}, "", "x"]}}))
            .with("long", "y".repeat(LONG_TEXT_BYTES))
            .with("\u{1}odd", "\u{1}not a reference")
            .with(
                loupe_model::keys::MESSAGES,
                json!([{"role": "user", "content": "hi"}]),
            );
        e.trace_id = Some("tr".into());
        e.span_id = Some("sp".into());
        e.parent_event_id = Some("pa".into());
        e.turn = Some(u32::MAX);
        e.iteration = Some(3);
        e.duration_ms = Some(1.5);
        e.agent = Some(Box::new(AgentRef {
            id: "sub".into(),
            name: Some("reader".into()),
            ..Default::default()
        }));
        assert_eq!(round_trip(&e), e);
        let bare = Event::new(
            "e2",
            EventKind::from_name("vendor_specific_thing"),
            Timestamp(0),
            "s",
        );
        assert_eq!(round_trip(&bare), bare);
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        let mut body = Vec::new();
        let e = Event::new("e", EventKind::LlmRequest, Timestamp(0), "s")
            .with("k", json!({"a": [1, 2.5, "text"]}));
        encode_body(&e, &mut body, &mut |_| Ok::<i64, ()>(0)).unwrap();
        for cut in 0..body.len() {
            let columns = Columns {
                event_id: "e".into(),
                session_id: "s".into(),
                ts_us: 0,
                kind: EventKind::LlmRequest,
                iteration: None,
                duration_ms: None,
            };
            let decoded = decode_event(columns, &body[..cut], &mut |_| Ok::<_, ()>(String::new()));
            assert!(decoded.is_err(), "a body cut at {cut} bytes is refused");
            let _ = referenced_contents(&body[..cut]);
            let _ = body_fullness(&body[..cut]);
        }
        let mut deep = vec![BINARY_BODY, 0];
        for _ in 0..10_000 {
            deep.extend_from_slice(&[TAG_ARRAY, 1]);
        }
        assert!(referenced_contents(&deep).is_empty());
    }

    #[test]
    fn legacy_json_bodies_still_decode() {
        let e = Event::new("e", EventKind::LlmResponse, Timestamp(7), "s")
            .with(loupe_model::keys::CONTENT, "the answer")
            .with("n", 3);
        let mut texts = Vec::new();
        let body = encode_json_body(&e, &mut |t, _| {
            texts.push(t.to_owned());
            texts.len() as i64 - 1
        });
        assert_eq!(referenced_contents(&body), [0]);
        assert_eq!(body_fullness(&body), Some(2));
        let columns = Columns {
            event_id: "e".into(),
            session_id: "s".into(),
            ts_us: 7,
            kind: EventKind::LlmResponse,
            iteration: None,
            duration_ms: None,
        };
        let back = decode_event(columns, &body, &mut |id| {
            Ok::<_, ()>(texts[id as usize].clone())
        });
        assert!(matches!(back, Ok(ref b) if *b == e));
    }
}
