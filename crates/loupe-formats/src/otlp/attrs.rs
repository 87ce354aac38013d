//! Span attributes as a JSON map, and typed lookups over the many attribute
//! names instrumentations use for the same thing.
//!
//! An attribute list becomes a flat `key → JSON value` map: strings, bools,
//! integers and doubles map to their JSON kinds, arrays to arrays, key-value
//! lists to objects, bytes to base64 strings. Lookups accept numbers written as
//! strings, since several SDKs stringify everything.

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use serde_json::{Map, Number, Value};

/// A flattened attribute list.
pub(crate) type Attributes = Map<String, Value>;

/// Converts an OTLP attribute list to a JSON map (later keys win on duplicates).
pub(crate) fn to_map(attrs: &[KeyValue]) -> Attributes {
    let mut map = Map::with_capacity(attrs.len());
    for kv in attrs {
        let value = kv.value.as_ref().map_or(Value::Null, any_to_json);
        map.insert(kv.key.clone(), value);
    }
    map
}

/// Converts one OTLP value to JSON.
pub(crate) fn any_to_json(v: &AnyValue) -> Value {
    match &v.value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::Number((*i).into()),
        Some(any_value::Value::DoubleValue(d)) => Number::from_f64(*d)
            .map(Value::Number)
            // JSON has no NaN or infinity; keep the spec's spelling as text.
            .unwrap_or_else(|| Value::String(d.to_string())),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(any_to_json).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(to_map(&kv.values)),
        Some(any_value::Value::BytesValue(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(any_value::Value::StringValueStrindex(i)) => Value::Number((*i).into()),
    }
}

/// Converts JSON to an OTLP value (the writer's direction).
pub(crate) fn json_to_any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(0.0)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(items) => Some(any_value::Value::ArrayValue(
            opentelemetry_proto::tonic::common::v1::ArrayValue {
                values: items.iter().map(json_to_any).collect(),
            },
        )),
        Value::Object(map) => Some(any_value::Value::KvlistValue(
            opentelemetry_proto::tonic::common::v1::KeyValueList {
                values: map
                    .iter()
                    .map(|(k, v)| KeyValue {
                        key: k.clone(),
                        value: Some(json_to_any(v)),
                        key_strindex: 0,
                    })
                    .collect(),
            },
        )),
    };
    AnyValue { value }
}

/// The first of `keys` present with a non-empty string value.
pub(crate) fn first_str<'a>(attrs: &'a Attributes, keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|k| match attrs.get(*k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        _ => None,
    })
}

/// The first of `keys` present as a string, or a number rendered as text
/// (session ids are sometimes integers).
pub(crate) fn first_text(attrs: &Attributes, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| match attrs.get(*k) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// The first of `keys` present as a non-negative integer (numbers or numeric strings).
pub(crate) fn first_u64(attrs: &Attributes, keys: &[&str]) -> Option<u64> {
    keys.iter()
        .find_map(|k| attrs.get(*k).and_then(loupe_model::value_u64))
}

/// The first of `keys` present as a finite number (numbers or numeric strings).
pub(crate) fn first_f64(attrs: &Attributes, keys: &[&str]) -> Option<f64> {
    keys.iter().find_map(|k| match attrs.get(*k)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    })
}

/// An attribute that may hold structured data either as JSON or as a JSON
/// string (OTel content attributes allow both); strings that are not JSON stay text.
pub(crate) fn structured(attrs: &Attributes, keys: &[&str]) -> Option<Value> {
    keys.iter().find_map(|k| match attrs.get(*k)? {
        Value::Null => None,
        Value::String(s) => {
            let t = s.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                Some(serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())))
            } else {
                Some(Value::String(s.clone()))
            }
        }
        other => Some(other.clone()),
    })
}

/// Collects indexed attributes such as Traceloop's legacy
/// `gen_ai.prompt.{i}.role` / `.content` into a list of objects, in index order.
pub(crate) fn indexed_messages(attrs: &Attributes, prefix: &str) -> Option<Value> {
    let mut items: Vec<(u64, Map<String, Value>)> = Vec::new();
    for (key, value) in attrs {
        let Some(rest) = key.strip_prefix(prefix) else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<u64>() else {
            continue;
        };
        let slot = match items.iter().position(|(i, _)| *i == index) {
            Some(pos) => pos,
            None => {
                items.push((index, Map::new()));
                items.len() - 1
            }
        };
        items[slot].1.insert(field.to_owned(), value.clone());
    }
    if items.is_empty() {
        return None;
    }
    items.sort_by_key(|(i, _)| *i);
    Some(Value::Array(
        items.into_iter().map(|(_, m)| Value::Object(m)).collect(),
    ))
}
