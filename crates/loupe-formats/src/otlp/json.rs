//! Lenient OTLP/JSON decoding into the prost types.
//!
//! The OTLP/JSON spec says ids are hex, 64-bit integers may be strings, keys are
//! lowerCamelCase and enums are integers. Real clients (browser SDKs, hand-rolled
//! exporters) also send base64 ids, numbers as strings or numbers, enum *names*
//! (`SPAN_KIND_CLIENT`) and snake_case keys, so these serde "shadow" structs accept
//! all of those and convert into the `opentelemetry-proto` prost types (see
//! anchors.md §5, "JSON decoding"). We do not use the crate's `with-serde` derive
//! because it is strict about exactly these variations.
//!
//! Bad ids are not an error here: they decode to an empty byte vector and the span
//! is rejected later, with a reason, by [`super::events_from_request`].

use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use serde::{Deserialize, Deserializer};

/// Decodes one OTLP/JSON `ExportTraceServiceRequest` document.
///
/// Fails when the text is not JSON, or is JSON without a `resourceSpans` field
/// (for example an OTLP logs or metrics payload).
pub fn decode_request_json(bytes: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    let parsed = serde_json::from_slice::<JsonRequest>(bytes).or_else(|e| {
        match crate::lenient::repair(bytes) {
            Some(repaired) => serde_json::from_slice(&repaired),
            None => Err(e),
        }
    });
    let shadow = parsed.map_err(|e| e.to_string())?;
    let Some(resource_spans) = shadow.resource_spans else {
        return Err(not_traces_reason(bytes));
    };
    Ok(ExportTraceServiceRequest {
        resource_spans: resource_spans.into_iter().map(Into::into).collect(),
    })
}

/// One step of a request walked by [`walk_request_json`].
#[derive(Debug, PartialEq)]
pub(crate) enum Piece {
    /// A `resourceSpans` element begins: its resource, then its spans follow.
    Resource(Option<Resource>),
    /// One span of the current resource.
    Span(Box<Span>),
}

/// Walks one OTLP/JSON `ExportTraceServiceRequest` document, handing each
/// resource and then each of its spans to `visit` as soon as it is parsed,
/// so a large export is never held whole as a request.
///
/// Accepts what [`decode_request_json`] accepts, and fails where it fails,
/// except that members the mapping never reads (`scope`, `schemaUrl`) are
/// skipped unchecked. On failure `visit` may already have seen the spans
/// before the fault, so a caller that must not act on a broken document
/// walks it once to check it (the same walk, so the second cannot fail
/// where the first did not). Spans are handed over in document order; a
/// resource's spans are held back only when its `scopeSpans` come before
/// its `resource` in the text.
pub(crate) fn walk_request_json(bytes: &[u8], visit: &mut dyn FnMut(Piece)) -> Result<(), String> {
    // Text checked as UTF-8 in one go is parsed without serde_json checking
    // each string again (a tenth of the time on large exports); invalid
    // text goes the checking way, which says where it is invalid.
    let found = match std::str::from_utf8(bytes) {
        Ok(text) => walk(&mut serde_json::Deserializer::from_str(text), visit),
        Err(_) => walk(&mut serde_json::Deserializer::from_slice(bytes), visit),
    }
    .map_err(|e| e.to_string())?;
    if found {
        Ok(())
    } else {
        Err(not_traces_reason(bytes))
    }
}

/// [`walk_request_json`] over a reader, so the document is never held
/// whole (about 1.5× the parse time of text in memory). `Ok(false)`: valid
/// JSON, but not a traces request; [`walk_request_json`] on the same bytes
/// says why.
pub(crate) fn walk_request_json_from(
    reader: impl std::io::Read,
    visit: &mut dyn FnMut(Piece),
) -> Result<bool, String> {
    walk(&mut serde_json::Deserializer::from_reader(reader), visit).map_err(|e| e.to_string())
}

fn walk<'de, R: serde_json::de::Read<'de>>(
    de: &mut serde_json::Deserializer<R>,
    visit: &mut dyn FnMut(Piece),
) -> serde_json::Result<bool> {
    let found = serde::de::DeserializeSeed::deserialize(RequestSeed { visit }, &mut *de)?;
    de.end()?;
    Ok(found)
}

/// A map key looked up among one level's field names (index into `names`),
/// borrowed from the input, so unknown keys cost no allocation.
struct KeyIn(&'static [&'static str]);

impl<'de> serde::de::DeserializeSeed<'de> for KeyIn {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeyIn {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|name| *name == v))
    }
}

/// Reads the elements of one JSON array, one at a time, as the walk goes.
trait EachElement<'de> {
    /// Reads the next element; `false` at the end of the array.
    fn next<A: serde::de::SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error>;
}

/// A JSON array read by an [`EachElement`]; `null` counts as absent. Yields
/// whether an array was there.
struct OptionalList<E>(E);

impl<'de, E: EachElement<'de>> serde::de::DeserializeSeed<'de> for OptionalList<E> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, E: EachElement<'de>> serde::de::Visitor<'de> for OptionalList<E> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_none<Er>(self) -> Result<bool, Er> {
        Ok(false)
    }
    fn visit_unit<Er>(self) -> Result<bool, Er> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(mut self, mut seq: A) -> Result<bool, A::Error> {
        while self.0.next(&mut seq)? {}
        Ok(true)
    }
}

/// Elements deserialized as `T`, each handed to a function.
struct Typed<'f, T>(&'f mut dyn FnMut(T));

impl<'de, T: Deserialize<'de>> EachElement<'de> for Typed<'_, T> {
    fn next<A: serde::de::SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        Ok(match seq.next_element::<T>()? {
            Some(item) => {
                (self.0)(item);
                true
            }
            None => false,
        })
    }
}

/// The request object: `resourceSpans` is walked, everything else skipped.
/// Yields whether a `resourceSpans` list was there.
struct RequestSeed<'v> {
    visit: &'v mut dyn FnMut(Piece),
}

impl<'de> serde::de::DeserializeSeed<'de> for RequestSeed<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RequestSeed<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an OTLP ExportTraceServiceRequest object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key_seed(KeyIn(&["resourceSpans", "resource_spans"]))? {
            if key.is_none() {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let visit = &mut *self.visit;
            found |= map.next_value_seed(OptionalList(ResourceSpansElements { visit }))?;
        }
        Ok(found)
    }
}

/// The elements of `resourceSpans`.
struct ResourceSpansElements<'v> {
    visit: &'v mut dyn FnMut(Piece),
}

impl<'de> EachElement<'de> for ResourceSpansElements<'_> {
    fn next<A: serde::de::SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let visit = &mut *self.visit;
        Ok(seq
            .next_element_seed(ResourceSpansSeed { visit })?
            .is_some())
    }
}

/// One `resourceSpans` element: its resource, then its spans.
struct ResourceSpansSeed<'v> {
    visit: &'v mut dyn FnMut(Piece),
}

impl<'de> serde::de::DeserializeSeed<'de> for ResourceSpansSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ResourceSpansSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a resource spans object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        const NAMES: &[&str] = &[
            "resource",
            "scopeSpans",
            "scope_spans",
            "instrumentationLibrarySpans",
        ];
        let mut resource = ResourceWalk {
            visit: self.visit,
            announced: false,
            held: Vec::new(),
        };
        while let Some(key) = map.next_key_seed(KeyIn(NAMES))? {
            match key {
                Some(0) => {
                    let found: Option<JsonResource> = map.next_value()?;
                    resource.announce(found.map(Into::into));
                }
                Some(_) => {
                    map.next_value_seed(OptionalList(ScopeSpansElements {
                        resource: &mut resource,
                    }))?;
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        resource.announce(None);
        Ok(())
    }
}

/// One resource being walked: spans go out as they come once the resource
/// is announced, and wait for it before.
struct ResourceWalk<'v> {
    visit: &'v mut dyn FnMut(Piece),
    announced: bool,
    // Spans met before the resource (rare: writers put the resource first).
    held: Vec<Span>,
}

impl ResourceWalk<'_> {
    /// Announces the resource, once (a later duplicate is ignored), then
    /// the spans that waited for it.
    fn announce(&mut self, resource: Option<Resource>) {
        if self.announced {
            return;
        }
        self.announced = true;
        (self.visit)(Piece::Resource(resource));
        for span in std::mem::take(&mut self.held) {
            (self.visit)(Piece::Span(Box::new(span)));
        }
    }

    fn span(&mut self, span: JsonSpan) {
        let span = Span::from(span);
        if self.announced {
            (self.visit)(Piece::Span(Box::new(span)));
        } else {
            self.held.push(span);
        }
    }
}

/// The elements of a resource's `scopeSpans`.
struct ScopeSpansElements<'r, 'v> {
    resource: &'r mut ResourceWalk<'v>,
}

impl<'de> EachElement<'de> for ScopeSpansElements<'_, '_> {
    fn next<A: serde::de::SeqAccess<'de>>(&mut self, seq: &mut A) -> Result<bool, A::Error> {
        let resource = &mut *self.resource;
        Ok(seq
            .next_element_seed(ScopeSpansSeed { resource })?
            .is_some())
    }
}

/// One `scopeSpans` element: its spans, one at a time (the scope is not
/// used by the mapping, so it is skipped).
struct ScopeSpansSeed<'r, 'v> {
    resource: &'r mut ResourceWalk<'v>,
}

impl<'de> serde::de::DeserializeSeed<'de> for ScopeSpansSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ScopeSpansSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a scope spans object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(KeyIn(&["spans"]))? {
            if key.is_some() {
                let resource = &mut *self.resource;
                map.next_value_seed(OptionalList(Typed(&mut |span: JsonSpan| {
                    resource.span(span);
                })))?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// Why a JSON document without `resourceSpans` is not a traces request.
fn not_traces_reason(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    if text.contains("resourceLogs") || text.contains("resource_logs") {
        "an OTLP logs payload (resourceLogs), not traces".to_owned()
    } else if text.contains("resourceMetrics") || text.contains("resource_metrics") {
        "an OTLP metrics payload (resourceMetrics), not traces".to_owned()
    } else {
        "JSON without a resourceSpans field".to_owned()
    }
}

#[derive(Deserialize)]
struct JsonRequest {
    #[serde(default, alias = "resource_spans", rename = "resourceSpans")]
    resource_spans: Option<Vec<JsonResourceSpans>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonResourceSpans {
    resource: Option<JsonResource>,
    #[serde(
        alias = "scope_spans",
        rename = "scopeSpans",
        alias = "instrumentationLibrarySpans"
    )]
    scope_spans: Option<Vec<JsonScopeSpans>>,
    #[serde(alias = "schema_url", rename = "schemaUrl")]
    schema_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct JsonResource {
    attributes: Option<Vec<JsonKeyValue>>,
    #[serde(
        alias = "dropped_attributes_count",
        rename = "droppedAttributesCount",
        deserialize_with = "lenient_u32"
    )]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonScopeSpans {
    #[serde(alias = "instrumentationLibrary")]
    scope: Option<JsonScope>,
    spans: Option<Vec<JsonSpan>>,
    #[serde(alias = "schema_url", rename = "schemaUrl")]
    schema_url: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonScope {
    name: Option<String>,
    version: Option<String>,
    attributes: Option<Vec<JsonKeyValue>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct JsonSpan {
    #[serde(
        alias = "trace_id",
        rename = "traceId",
        deserialize_with = "lenient_id"
    )]
    trace_id: Vec<u8>,
    #[serde(alias = "span_id", rename = "spanId", deserialize_with = "lenient_id")]
    span_id: Vec<u8>,
    #[serde(alias = "trace_state", rename = "traceState")]
    trace_state: Option<String>,
    #[serde(
        alias = "parent_span_id",
        rename = "parentSpanId",
        deserialize_with = "lenient_id"
    )]
    parent_span_id: Vec<u8>,
    #[serde(deserialize_with = "lenient_u32")]
    flags: u32,
    name: Option<String>,
    #[serde(deserialize_with = "lenient_span_kind")]
    kind: i32,
    #[serde(
        alias = "start_time_unix_nano",
        rename = "startTimeUnixNano",
        deserialize_with = "lenient_time"
    )]
    start_time_unix_nano: u64,
    #[serde(
        alias = "end_time_unix_nano",
        rename = "endTimeUnixNano",
        deserialize_with = "lenient_time"
    )]
    end_time_unix_nano: u64,
    attributes: Option<Vec<JsonKeyValue>>,
    #[serde(
        alias = "dropped_attributes_count",
        rename = "droppedAttributesCount",
        deserialize_with = "lenient_u32"
    )]
    dropped_attributes_count: u32,
    events: Option<Vec<JsonSpanEvent>>,
    status: Option<JsonStatus>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonSpanEvent {
    #[serde(
        alias = "time_unix_nano",
        rename = "timeUnixNano",
        deserialize_with = "lenient_time"
    )]
    time_unix_nano: u64,
    name: Option<String>,
    attributes: Option<Vec<JsonKeyValue>>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonStatus {
    message: Option<String>,
    #[serde(deserialize_with = "lenient_status_code")]
    code: i32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonKeyValue {
    key: Option<String>,
    value: Option<JsonAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonAnyValue {
    #[serde(alias = "string_value", rename = "stringValue")]
    string_value: Option<String>,
    #[serde(
        alias = "bool_value",
        rename = "boolValue",
        deserialize_with = "lenient_bool"
    )]
    bool_value: Option<bool>,
    #[serde(
        alias = "int_value",
        rename = "intValue",
        deserialize_with = "lenient_i64"
    )]
    int_value: Option<i64>,
    #[serde(
        alias = "double_value",
        rename = "doubleValue",
        deserialize_with = "lenient_f64"
    )]
    double_value: Option<f64>,
    #[serde(alias = "array_value", rename = "arrayValue")]
    array_value: Option<JsonValues<JsonAnyValue>>,
    #[serde(alias = "kvlist_value", rename = "kvlistValue")]
    kvlist_value: Option<JsonValues<JsonKeyValue>>,
    #[serde(alias = "bytes_value", rename = "bytesValue")]
    bytes_value: Option<String>,
}

#[derive(Deserialize)]
struct JsonValues<T> {
    #[serde(default = "Vec::new")]
    values: Vec<T>,
}

impl From<JsonResource> for Resource {
    fn from(r: JsonResource) -> Self {
        Resource {
            attributes: convert_attributes(r.attributes),
            dropped_attributes_count: r.dropped_attributes_count,
            entity_refs: Vec::new(),
        }
    }
}

impl From<JsonResourceSpans> for ResourceSpans {
    fn from(j: JsonResourceSpans) -> Self {
        ResourceSpans {
            resource: j.resource.map(Into::into),
            scope_spans: j
                .scope_spans
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            schema_url: j.schema_url.unwrap_or_default(),
        }
    }
}

impl From<JsonScopeSpans> for ScopeSpans {
    fn from(j: JsonScopeSpans) -> Self {
        ScopeSpans {
            scope: j.scope.map(|s| InstrumentationScope {
                name: s.name.unwrap_or_default(),
                version: s.version.unwrap_or_default(),
                attributes: convert_attributes(s.attributes),
                dropped_attributes_count: 0,
            }),
            spans: j
                .spans
                .unwrap_or_default()
                .into_iter()
                .map(Into::into)
                .collect(),
            schema_url: j.schema_url.unwrap_or_default(),
        }
    }
}

impl From<JsonSpan> for Span {
    fn from(j: JsonSpan) -> Self {
        Span {
            trace_id: j.trace_id,
            span_id: j.span_id,
            trace_state: j.trace_state.unwrap_or_default(),
            parent_span_id: j.parent_span_id,
            flags: j.flags,
            name: j.name.unwrap_or_default(),
            kind: j.kind,
            start_time_unix_nano: j.start_time_unix_nano,
            end_time_unix_nano: j.end_time_unix_nano,
            attributes: convert_attributes(j.attributes),
            dropped_attributes_count: j.dropped_attributes_count,
            events: j
                .events
                .unwrap_or_default()
                .into_iter()
                .map(|e| span::Event {
                    time_unix_nano: e.time_unix_nano,
                    name: e.name.unwrap_or_default(),
                    attributes: convert_attributes(e.attributes),
                    dropped_attributes_count: 0,
                })
                .collect(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: j.status.map(|s| Status {
                message: s.message.unwrap_or_default(),
                code: s.code,
            }),
        }
    }
}

fn convert_attributes(attrs: Option<Vec<JsonKeyValue>>) -> Vec<KeyValue> {
    attrs
        .unwrap_or_default()
        .into_iter()
        .filter_map(convert_key_value)
        .collect()
}

/// A key-value without a key carries nothing we can name, so it is dropped.
fn convert_key_value(kv: JsonKeyValue) -> Option<KeyValue> {
    Some(KeyValue {
        key: kv.key?,
        value: kv.value.map(convert_any_value),
        key_strindex: 0,
    })
}

fn convert_any_value(v: JsonAnyValue) -> AnyValue {
    let value = if let Some(s) = v.string_value {
        Some(any_value::Value::StringValue(s))
    } else if let Some(b) = v.bool_value {
        Some(any_value::Value::BoolValue(b))
    } else if let Some(i) = v.int_value {
        Some(any_value::Value::IntValue(i))
    } else if let Some(d) = v.double_value {
        Some(any_value::Value::DoubleValue(d))
    } else if let Some(a) = v.array_value {
        Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.values.into_iter().map(convert_any_value).collect(),
        }))
    } else if let Some(kv) = v.kvlist_value {
        Some(any_value::Value::KvlistValue(KeyValueList {
            values: kv
                .values
                .into_iter()
                .filter_map(convert_key_value)
                .collect(),
        }))
    } else {
        v.bytes_value.map(|b| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .unwrap_or_else(|_| b.into_bytes());
            any_value::Value::BytesValue(bytes)
        })
    };
    AnyValue { value }
}

/// Decodes a trace or span id written as hex (the spec) or base64 (what some
/// clients send). Anything else becomes an empty id, rejected later with a reason.
pub(crate) fn decode_id(text: &str) -> Vec<u8> {
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    let hex_len_ok = text.len() == 32 || text.len() == 16;
    if hex_len_ok && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(bytes) = const_hex::decode(text) {
            return bytes;
        }
    }
    for engine in [
        &base64::engine::general_purpose::STANDARD,
        &base64::engine::general_purpose::URL_SAFE,
        &base64::engine::general_purpose::STANDARD_NO_PAD,
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        if let Ok(bytes) = engine.decode(text.as_bytes()) {
            if bytes.len() == 16 || bytes.len() == 8 {
                return bytes;
            }
        }
    }
    // Hex of the wrong length: its bytes, so the rejection says how many.
    if text.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(bytes) = const_hex::decode(text) {
            return bytes;
        }
    }
    Vec::new()
}

/// A JSON scalar as clients write it: number, numeric string or bool; objects
/// and arrays where a scalar belongs are skipped as `Other`.
enum Scalar {
    Unsigned(u64),
    Signed(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    Other,
}

/// A hand-written visitor rather than `#[serde(untagged)]`, which buffers every
/// value before trying each variant (several times slower on large requests).
impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> serde::de::Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number, string or bool")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Unsigned(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Signed(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Text(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Scalar, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Scalar, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(ScalarVisitor)
    }
}

impl Scalar {
    fn as_u64(&self) -> Option<u64> {
        match self {
            Scalar::Unsigned(u) => Some(*u),
            Scalar::Signed(i) => u64::try_from(*i).ok(),
            Scalar::Float(f) if f.is_finite() && *f >= 0.0 && *f < 1.8e19 => Some(*f as u64),
            Scalar::Text(s) => {
                let s = s.trim();
                s.parse::<u64>().ok().or_else(|| {
                    s.parse::<f64>()
                        .ok()
                        .and_then(|f| Scalar::Float(f).as_u64())
                })
            }
            _ => None,
        }
    }

    fn as_i64(&self) -> Option<i64> {
        match self {
            Scalar::Unsigned(u) => i64::try_from(*u).ok(),
            Scalar::Signed(i) => Some(*i),
            Scalar::Float(f) if f.is_finite() && f.abs() < 9.2e18 => Some(*f as i64),
            Scalar::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Unsigned(u) => Some(*u as f64),
            Scalar::Signed(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            // The spec writes non-finite doubles as "NaN", "Infinity", "-Infinity".
            Scalar::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// What a time that is there but is not a time (`"abc"`, a structure, a
/// negative number) reads as: the span is rejected with a reason
/// (`ingest::validate_span`) rather than read as 1970. No real time is this
/// far off (the year 2554).
pub(crate) const UNREADABLE_TIME: u64 = u64::MAX;

/// A time in nanoseconds: absent or `null` is 0 (unset, as in protobuf);
/// anything else that is not a count is [`UNREADABLE_TIME`].
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(match Option::<Scalar>::deserialize(d)? {
        None => 0,
        Some(s) => s
            .as_u64()
            .map_or(UNREADABLE_TIME, |t| t.min(UNREADABLE_TIME - 1)),
    })
}

fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?
        .and_then(|s| s.as_u64())
        .and_then(|u| u32::try_from(u).ok())
        .unwrap_or(0))
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.and_then(|s| s.as_i64()))
}

fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.and_then(|s| s.as_f64()))
}

fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Scalar>::deserialize(d)? {
        Some(Scalar::Bool(b)) => Some(b),
        Some(Scalar::Text(s)) => match s.trim() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            _ => None,
        },
        Some(other) => other.as_i64().map(|i| i != 0),
        None => None,
    })
}

fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    Ok(match Option::<Scalar>::deserialize(d)? {
        Some(Scalar::Text(s)) => decode_id(&s),
        _ => Vec::new(),
    })
}

/// An enum given as its ordinal, its ordinal as a string, or its name with or
/// without the prefix (`SPAN_KIND_CLIENT`, `CLIENT`, `client`).
fn lenient_enum<'de, D: Deserializer<'de>>(
    d: D,
    prefix: &str,
    names: &[&str],
) -> Result<i32, D::Error> {
    let Some(scalar) = Option::<Scalar>::deserialize(d)? else {
        return Ok(0);
    };
    if let Some(i) = scalar.as_i64() {
        return Ok(i32::try_from(i).unwrap_or(0));
    }
    if let Scalar::Text(s) = scalar {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix(prefix).unwrap_or(&upper);
        if let Some(pos) = names.iter().position(|n| *n == bare) {
            return Ok(i32::try_from(pos).unwrap_or(0));
        }
    }
    Ok(0)
}

fn lenient_span_kind<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    lenient_enum(
        d,
        "SPAN_KIND_",
        &[
            "UNSPECIFIED",
            "INTERNAL",
            "SERVER",
            "CLIENT",
            "PRODUCER",
            "CONSUMER",
        ],
    )
}

fn lenient_status_code<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    lenient_enum(d, "STATUS_CODE_", &["UNSET", "OK", "ERROR"])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_decode_from_hex_and_base64_and_bad_ids_become_empty() {
        let hex = "5b8efff798038103d269b633813fc60c";
        let bytes = decode_id(hex);
        assert_eq!(bytes.len(), 16);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(decode_id(&b64), bytes);
        assert_eq!(decode_id("eee19b7ec3c1b174").len(), 8);
        assert!(decode_id("not an id!").is_empty());
        assert!(decode_id("").is_empty());
        // Short hex keeps its bytes, so the rejection can say "2 bytes".
        assert_eq!(decode_id("abcd"), [0xab, 0xcd]);
    }

    #[test]
    fn structures_where_numbers_belong_read_as_zero_but_times_as_unreadable() {
        let doc = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"name":"a","startTimeUnixNano":{"a":[1]},"endTimeUnixNano":null,"flags":[1,2],"kind":null,
             "attributes":[{"key":"n","value":{"intValue":{"x":1},"doubleValue":"NaN"}}]}
        ]}]}]}"#;
        let req = decode_request_json(doc).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        // A time that is not one is not 1970: the span is rejected.
        assert_eq!(
            (
                span.start_time_unix_nano,
                span.end_time_unix_nano,
                span.flags,
                span.kind
            ),
            (UNREADABLE_TIME, 0, 0, 0)
        );
        let value = span.attributes[0]
            .value
            .as_ref()
            .unwrap()
            .value
            .as_ref()
            .unwrap();
        assert!(matches!(value, any_value::Value::DoubleValue(d) if d.is_nan()));
    }

    #[test]
    fn enums_accept_names_ordinals_and_strings() {
        let doc = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[
            {"name":"a","kind":"SPAN_KIND_CLIENT","status":{"code":"STATUS_CODE_ERROR"}},
            {"name":"b","kind":3,"status":{"code":2}},
            {"name":"c","kind":"3","status":{"code":"ERROR"}}
        ]}]}]}"#;
        let req = decode_request_json(doc).unwrap();
        for span in &req.resource_spans[0].scope_spans[0].spans {
            assert_eq!(span.kind, 3, "{}", span.name);
            assert_eq!(span.status.as_ref().unwrap().code, 2, "{}", span.name);
        }
    }
}
