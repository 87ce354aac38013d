//! [`Fields`]: the top-level members of one JSON line, kept as a small vector
//! with keys borrowed from the line, for readers that reshape lines.
//!
//! Readers take envelope keys out, rename others and add a few, then hand
//! what is left to [`Event::data`](loupe_model::Event). Doing that on a
//! `serde_json::Map` (a B-tree of owned keys) costs an allocation per key and
//! a tree update per take or rename; here keys stay borrowed until the end,
//! takes and renames are short linear scans (a line has a dozen keys), and
//! the map is built once by [`Fields::into_map`]. The semantics are those of
//! a map: one value per key, and a key repeated in the line keeps its last
//! value, as `serde_json` does.
//!
//! While a [`leave_out`] guard is alive, members it names are checked but
//! not kept (the reader's caller said it will not look at them, see
//! [`ReadOptions::unread_payload`](crate::ReadOptions)). It is a
//! thread-local rather than a parameter because `Fields` is also built by
//! derived `Deserialize` impls (attocode-py's typed fast path), which take
//! no arguments.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::common::timestamp_of;
use loupe_model::{Timestamp, UnreadMember};

/// What [`Fields`] leave out on this thread.
#[derive(Clone, Copy)]
struct LeftOut {
    members: &'static [UnreadMember],
    /// Whether any of `members` is bound to a kind (if none, the kind of a
    /// line need not be noted).
    kind_bound: bool,
    /// Which kind-bound entries of `members` name the kind of the line being
    /// parsed (bit `i` for entry `i`), as noted by [`note_line_kind`].
    kind_matches: u64,
}

impl LeftOut {
    const fn of(members: &'static [UnreadMember]) -> LeftOut {
        let mut kind_bound = false;
        let mut i = 0;
        while i < members.len() {
            kind_bound |= members[i].kind.is_some();
            i += 1;
        }
        LeftOut {
            members,
            kind_bound,
            kind_matches: 0,
        }
    }
}

thread_local! {
    static LEFT_OUT: Cell<LeftOut> = const { Cell::new(LeftOut::of(&[])) };
}

/// Until the guard is dropped, [`Fields`] parsed on this thread leave out
/// the members `unread` names (their syntax is still checked).
pub(crate) fn leave_out(unread: &'static [UnreadMember]) -> LeaveOut {
    LeaveOut(LEFT_OUT.with(|l| l.replace(LeftOut::of(unread))).members)
}

/// Restores the members left out before [`leave_out`].
pub(crate) struct LeaveOut(&'static [UnreadMember]);

impl Drop for LeaveOut {
    fn drop(&mut self) {
        LEFT_OUT.with(|l| l.set(LeftOut::of(self.0)));
    }
}

/// Notes the kind (canonical name) of the line being parsed, so that members
/// left out only in events of that kind are left out of the payload parsed
/// next; `None` between lines. A reader calls it when the kind comes before
/// the payload in the line; otherwise only members left out of every kind
/// are, and the rest is built as usual.
pub(crate) fn note_line_kind(kind: Option<&str>) {
    LEFT_OUT.with(|l| {
        let mut left = l.get();
        if !left.kind_bound {
            return;
        }
        left.kind_matches = 0;
        if let Some(kind) = kind {
            for (i, u) in left.members.iter().enumerate().take(64) {
                if u.kind == Some(kind) {
                    left.kind_matches |= 1 << i;
                }
            }
        }
        l.set(left);
    });
}

impl LeftOut {
    /// Whether `key` is left out of the payload being parsed.
    fn has(&self, key: &str) -> bool {
        self.members.iter().enumerate().any(|(i, u)| {
            u.member == key
                && match u.kind {
                    None => true,
                    Some(_) => i < 64 && self.kind_matches & (1 << i) != 0,
                }
        })
    }
}

/// The members of one JSON object, keys borrowed from the input when they
/// hold no escapes.
#[derive(Debug, Default)]
pub(crate) struct Fields<'a> {
    entries: Vec<Entry<'a>>,
}

#[derive(Debug)]
struct Entry<'a> {
    /// [`tag`] of the key: most mismatches are found without comparing bytes.
    tag: u32,
    key: Cow<'a, str>,
    value: Value,
}

/// A cheap summary of a key (length, first and last byte); equal keys have
/// equal tags.
fn tag(key: &str) -> u32 {
    let b = key.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            ((b.len() as u32) << 16) | (u32::from(first) << 8) | u32::from(last)
        }
        _ => 0,
    }
}

impl<'a> Fields<'a> {
    /// Parses a line that must be a JSON object. The error is worded like
    /// [`parse_object`](crate::common::parse_object)'s.
    pub(crate) fn parse_line(line: &'a [u8]) -> Result<Fields<'a>, String> {
        // Validating the line once and parsing it as `str` spares serde_json
        // a UTF-8 check per string; invalid UTF-8 gets serde_json's wording.
        let parsed = match std::str::from_utf8(line) {
            Ok(text) => {
                let mut de = serde_json::Deserializer::from_str(text);
                Fields::deserialize_from(&mut de).and_then(|f| de.end().map(|()| f))
            }
            Err(_) => Err(de::Error::custom("invalid UTF-8")),
        };
        match parsed {
            Ok(fields) => Ok(fields),
            // Not an object, or not JSON: let the general parser say which.
            Err(_) => crate::common::parse_object(line).map(Fields::from_map),
        }
    }

    fn deserialize_from<D: Deserializer<'a>>(d: D) -> Result<Fields<'a>, D::Error> {
        d.deserialize_map(FieldsVisitor)
    }

    /// Wraps an already parsed map.
    pub(crate) fn from_map(map: Map<String, Value>) -> Fields<'a> {
        Fields {
            entries: map
                .into_iter()
                .map(|(k, v)| Entry {
                    tag: tag(&k),
                    key: Cow::Owned(k),
                    value: v,
                })
                .collect(),
        }
    }

    /// The map for [`Event::data`](loupe_model::Event), built in one go.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        let mut map = Map::new();
        for e in self.entries {
            map.insert(e.key.into_owned(), e.value);
        }
        map
    }

    fn position(&self, key: &str) -> Option<usize> {
        let t = tag(key);
        self.entries.iter().position(|e| e.tag == t && e.key == key)
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].value)
    }

    /// The value of `key`, mutably.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|i| &mut self.entries[i].value)
    }

    /// Removes `key` and returns its value.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        Some(self.entries.swap_remove(i).value)
    }

    /// Sets `key` (replacing any value it had).
    pub(crate) fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: Value) {
        let key = key.into();
        match self.position(&key) {
            Some(i) => self.entries[i].value = value,
            None => self.push(key, value),
        }
    }

    /// Sets `key` unless it is already present.
    pub(crate) fn insert_if_absent(&mut self, key: impl Into<Cow<'a, str>>, value: Value) {
        let key = key.into();
        if self.position(&key).is_none() {
            self.push(key, value);
        }
    }

    fn push(&mut self, key: Cow<'a, str>, value: Value) {
        self.entries.push(Entry {
            tag: tag(&key),
            key,
            value,
        });
    }

    /// A string field.
    pub(crate) fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// A non-negative integer (accepting integral floats and numeric strings).
    pub(crate) fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(loupe_model::value_u64)
    }

    /// Removes a string field (numbers are turned into their text); any other
    /// non-null value stays.
    pub(crate) fn take_string(&mut self, key: &str) -> Option<String> {
        let i = self.position(key)?;
        match &self.entries[i].value {
            Value::String(_) | Value::Number(_) | Value::Null => {}
            _ => return None,
        }
        match self.entries.swap_remove(i).value {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// Removes a non-negative integer field that fits in `u32`; any other
    /// non-null value stays.
    pub(crate) fn take_u32(&mut self, key: &str) -> Option<u32> {
        let i = self.position(key)?;
        let v = &self.entries[i].value;
        let n = loupe_model::value_u64(v).and_then(|n| u32::try_from(n).ok());
        if n.is_some() || v.is_null() {
            self.entries.swap_remove(i);
        }
        n
    }

    /// Removes a finite number field; any other non-null value stays.
    pub(crate) fn take_f64(&mut self, key: &str) -> Option<f64> {
        let i = self.position(key)?;
        let v = &self.entries[i].value;
        let f = v.as_f64().filter(|f| f.is_finite());
        if f.is_some() || v.is_null() {
            self.entries.swap_remove(i);
        }
        f
    }

    /// Removes and parses the timestamp field `key`.
    pub(crate) fn take_timestamp(&mut self, key: &str) -> Result<Timestamp, String> {
        let v = self.remove(key).ok_or_else(|| format!("missing `{key}`"))?;
        timestamp_of(&v)
    }

    /// Moves `from` to `to` (no-op when absent; a null `from` is dropped).
    pub(crate) fn rename(&mut self, from: &str, to: &'static str) {
        if let Some(v) = self.remove(from) {
            if !v.is_null() {
                self.insert(to, v);
            }
        }
    }

    /// Moves the members of the nested object `key` up into these fields
    /// (existing keys win).
    pub(crate) fn flatten(&mut self, key: &str) {
        if !matches!(self.get(key), Some(Value::Object(_))) {
            return;
        }
        if let Some(Value::Object(inner)) = self.remove(key) {
            for (k, v) in inner {
                self.insert_if_absent(k, v);
            }
        }
    }

    /// The JSON type of `key`'s value, for messages.
    #[cfg(test)]
    pub(crate) fn type_of(&self, key: &str) -> Option<&'static str> {
        self.get(key).map(crate::common::json_type)
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fields: Fields<'de> = Fields::deserialize_from(d)?;
        Ok(fields)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields {
            entries: Vec::with_capacity(access.size_hint().unwrap_or(16).min(64)),
        };
        let left_out = LEFT_OUT.with(Cell::get);
        while let Some(key) = access.next_key_seed(KeySeed)? {
            if !left_out.members.is_empty() && left_out.has(&key) {
                access.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let value: Value = access.next_value()?;
            // A repeated key keeps its last value, like a map.
            fields.insert(key, value);
        }
        Ok(fields)
    }
}

/// Deserialises a key, borrowing it from the input when possible.
pub(crate) struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn members_are_left_out_everywhere_or_in_the_noted_kind_only() {
        const UNREAD: &[UnreadMember] = &[
            UnreadMember::everywhere("a"),
            UnreadMember::in_kind("tool_start", "b"),
        ];
        let line = br#"{"a": [1, {"x": 2}], "b": "x", "c": 3}"#;
        let keys = |f: &Fields<'_>| {
            f.entries
                .iter()
                .map(|e| e.key.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(&Fields::parse_line(line).unwrap()), ["a", "b", "c"]);
        {
            let _guard = leave_out(UNREAD);
            assert_eq!(keys(&Fields::parse_line(line).unwrap()), ["b", "c"]);
            note_line_kind(Some("tool_start"));
            assert_eq!(keys(&Fields::parse_line(line).unwrap()), ["c"]);
            note_line_kind(Some("tool_end"));
            assert_eq!(keys(&Fields::parse_line(line).unwrap()), ["b", "c"]);
            note_line_kind(Some("tool_start"));
            {
                // A nested guard starts afresh and gives the outer list back.
                let _inner = leave_out(&[]);
                assert_eq!(keys(&Fields::parse_line(line).unwrap()), ["a", "b", "c"]);
            }
            assert_eq!(keys(&Fields::parse_line(line).unwrap()), ["b", "c"]);
            // A member left out still has its syntax checked.
            assert!(Fields::parse_line(br#"{"a": [1,, 2], "c": 3}"#).is_err());
        }
        note_line_kind(Some("tool_start"));
        assert_eq!(keys(&Fields::parse_line(line).unwrap()), ["a", "b", "c"]);
    }

    #[test]
    fn behaves_like_a_map_of_the_line() {
        let line = br#"{"a": 1, "b": "x", "a": 2, "c\n": null, "n": {"k": true}}"#;
        let mut f = Fields::parse_line(line).unwrap();
        let map = crate::common::parse_object(line).unwrap();
        assert_eq!(f.get("a"), Some(&Value::from(2)));
        assert_eq!(f.take_u32("c\n"), None);
        assert!(!f.contains_key("c\n"), "a null is taken away");
        f.flatten("n");
        assert_eq!(f.type_of("k"), Some("a boolean"));
        f.rename("b", "bee");
        let out = f.into_map();
        assert_eq!(out.get("bee"), map.get("b"));
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn errors_are_worded_like_the_map_parser() {
        for line in [
            &b"[1]"[..],
            b"{\"a\":",
            b"\"s\"",
            b"{\"a\": \"\xff\"}",
            b"{} x",
        ] {
            assert_eq!(
                Fields::parse_line(line).unwrap_err(),
                crate::common::parse_object(line).unwrap_err()
            );
        }
    }

    #[test]
    fn odd_values_stay_when_not_taken() {
        let mut f = Fields::parse_line(br#"{"s": [1], "u": -1, "f": "x"}"#).unwrap();
        assert_eq!(f.take_string("s"), None);
        assert_eq!(f.take_u32("u"), None);
        assert_eq!(f.take_f64("f"), None);
        assert_eq!(f.into_map().len(), 3);
    }
}
