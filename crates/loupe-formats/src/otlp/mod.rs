//! OpenTelemetry OTLP traces: reading (JSON and protobuf) and writing.
//!
//! - [`read_json`]: one OTLP/JSON `ExportTraceServiceRequest` document, or JSONL
//!   with one request per line as the OTel Collector file exporter writes;
//!   malformed lines are skipped with their line numbers.
//! - [`read_proto`]: one binary `ExportTraceServiceRequest`, or a sequence of
//!   them each prefixed by a 4-byte big-endian length (the Collector file
//!   exporter's `proto` format).
//! - [`decode_request_json`] / [`decode_request_proto`] + [`events_from_request`]:
//!   the same steps, for the HTTP server, so ingestion and file reading share one
//!   mapping. JSON decoding is lenient (hex or base64 ids, numbers as strings,
//!   enum names), see `json.rs`.
//! - [`events_to_request`] / [`events_to_otlp_json`]: the writer, see `export.rs`.
//!
//! The span → event mapping is documented in `ingest.rs`.

mod attrs;
mod cut;
mod export;
mod file;
mod ingest;
mod json;
mod proto_cut;
mod span_plan;

use prost::Message;

pub use export::{events_to_otlp_json, events_to_request, request_to_json, write_request_json};
pub use ingest::{events_from_request, events_from_request_remembering, OtlpStats, TraceSessions};
pub use json::decode_request_json;
/// The prost request type in this module's signatures, re-exported so callers
/// (the server) need not pin `opentelemetry-proto` themselves.
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

pub use file::read_json;

/// For the fuzz target: panics unless reading a large document from disk in
/// pieces hands over what reading it in memory does, wherever the first
/// does not give up (reading `chunk` bytes at a time). Says whether it took
/// the document.
#[doc(hidden)]
pub fn check_cut_walk(bytes: &[u8], chunk: usize) -> bool {
    cut::assert_cut_agrees(bytes, chunk)
}
/// For the fuzz target: panics unless reading a binary OTLP file from disk
/// in pieces hands over what reading it in memory does, wherever the first
/// takes the file (reading through a buffer of `buffer` bytes). Says
/// whether it took the file.
#[doc(hidden)]
pub fn check_proto_walk(bytes: &[u8], buffer: usize) -> bool {
    file::assert_proto_walk_agrees(bytes, buffer)
}
pub(crate) use file::{read_json_file, read_proto_file};

use crate::{ReadError, Sink, Source};

/// Names of the `loupe.*` attributes the writer adds for an exact read-back.
pub(crate) mod names {
    /// Prefix of every Loupe attribute.
    pub(crate) const PREFIX: &str = "loupe.";
    /// Sub-prefix for the opening event of a start/end pair.
    pub(crate) const START_PREFIX: &str = "start.";
    /// `loupe.kind`: the closing (or only) event's kind; marks a Loupe-written span.
    pub(crate) const KIND: &str = "loupe.kind";
    /// `loupe.role`: `pair`, `start`, `end` or `point`.
    pub(crate) const ROLE: &str = "loupe.role";
    /// `loupe.session_id`: the session id verbatim.
    pub(crate) const SESSION_ID: &str = "loupe.session_id";
    /// `loupe.trace_id`: the trace id verbatim (absent when the event had none).
    pub(crate) const TRACE_ID: &str = "loupe.trace_id";
    /// `loupe.span_id`: the span id verbatim.
    pub(crate) const SPAN_ID: &str = "loupe.span_id";
    /// `loupe.parent_event_id`: the parent verbatim.
    pub(crate) const PARENT_EVENT_ID: &str = "loupe.parent_event_id";
    /// `loupe.start.parent_event_id`: the opening event's parent, when it is
    /// not the closing event's (`false`: none).
    pub(crate) const START_PARENT_EVENT_ID: &str = "loupe.start.parent_event_id";
}

/// Decodes one binary OTLP `ExportTraceServiceRequest`.
pub fn decode_request_proto(bytes: &[u8]) -> Result<ExportTraceServiceRequest, String> {
    ExportTraceServiceRequest::decode(bytes).map_err(|e| e.to_string())
}

/// Whether `bytes` look like a binary OTLP traces request: the protobuf wire
/// structure `resource_spans → scope_spans → spans` leads to a span whose first
/// id field is a 16-byte trace id. Works on a prefix of the file (detection reads
/// only the first kilobytes), whole or behind a 4-byte length frame, and costs
/// no allocation.
pub fn looks_like_proto(bytes: &[u8]) -> bool {
    if wire::has_span_with_trace_id(bytes) {
        return true;
    }
    match bytes.split_first_chunk::<4>() {
        Some((len, rest)) => {
            let len = u32::from_be_bytes(*len) as usize;
            len > 0 && wire::has_span_with_trace_id(&rest[..len.min(rest.len())])
        }
        None => false,
    }
}

/// A minimal protobuf wire walker for [`looks_like_proto`]; tolerant of
/// truncation at the end of the input, strict about everything before it.
mod wire {
    /// Field numbers on the path to a trace id (all length-delimited).
    const RESOURCE_SPANS: u64 = 1;
    const SCOPE_SPANS: u64 = 2;
    const SPANS: u64 = 2;
    const TRACE_ID: u64 = 1;

    fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
        let mut value: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *bytes.get(*pos)?;
            *pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// Calls `visit` with the (possibly truncated) payload of each
    /// length-delimited field numbered `wanted`; stops at the first malformed
    /// field or when `visit` returns true. Returns whether `visit` did.
    fn any_field(bytes: &[u8], wanted: u64, visit: &mut dyn FnMut(&[u8], bool) -> bool) -> bool {
        let mut pos = 0;
        while pos < bytes.len() {
            let Some(key) = varint(bytes, &mut pos) else {
                return false;
            };
            let (field, wire_type) = (key >> 3, key & 7);
            if field == 0 {
                return false;
            }
            match wire_type {
                0 => {
                    if varint(bytes, &mut pos).is_none() {
                        return false;
                    }
                }
                1 => pos += 8,
                5 => pos += 4,
                2 => {
                    let Some(len) = varint(bytes, &mut pos) else {
                        return false;
                    };
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    let end = pos.saturating_add(len);
                    let complete = end <= bytes.len();
                    let payload = &bytes[pos..end.min(bytes.len())];
                    if field == wanted && visit(payload, complete) {
                        return true;
                    }
                    pos = end;
                }
                _ => return false,
            }
        }
        false
    }

    pub(super) fn has_span_with_trace_id(bytes: &[u8]) -> bool {
        any_field(bytes, RESOURCE_SPANS, &mut |resource, _| {
            any_field(resource, SCOPE_SPANS, &mut |scope, _| {
                any_field(scope, SPANS, &mut |span, _| {
                    any_field(span, TRACE_ID, &mut |id, complete| {
                        complete && id.len() == 16
                    })
                })
            })
        })
    }
}

/// The frames of a length-framed file (the Collector's `proto` format):
/// each with its byte offset, and why the file's end is no whole frame
/// when it is not (an exporter killed mid-write tears the last one).
pub(super) struct Frames<'a> {
    pub(super) frames: Vec<(usize, &'a [u8])>,
    pub(super) torn_tail: Option<String>,
}

/// Splits a sequence of 4-byte big-endian length-prefixed frames; `None`
/// unless the lengths tile the input exactly, or tile it up to a last
/// frame cut short after at least one whole frame.
fn framed(bytes: &[u8]) -> Option<Frames<'_>> {
    let mut frames = Vec::new();
    let mut offset = 0;
    let mut torn_tail = None;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let number = frames.len() + 1;
        let Some((len_bytes, tail)) = rest.split_first_chunk::<4>() else {
            torn_tail = Some(format!(
                "frame {number} at byte {offset} is cut short: {} bytes, too few for its length; skipped",
                rest.len()
            ));
            break;
        };
        let len = usize::try_from(u32::from_be_bytes(*len_bytes)).ok()?;
        if len > tail.len() {
            torn_tail = Some(format!(
                "frame {number} at byte {offset} is cut short: {} of its {len} bytes; skipped",
                tail.len()
            ));
            break;
        }
        frames.push((offset, &tail[..len]));
        offset += 4 + len;
    }
    (!frames.is_empty()).then_some(Frames { frames, torn_tail })
}

/// Reads a binary OTLP file. Rejected spans become [`Skipped`](crate::Skipped)
/// entries, as do a framed file's frames that do not decode and its torn
/// last frame.
pub fn read_proto(bytes: &[u8], source: &Source, sink: &mut dyn Sink) -> Result<(), ReadError> {
    let whole = decode_request_proto(bytes);
    match framed(bytes) {
        // Prefer the framed reading when the whole does not decode, or
        // decodes to nothing (a frame prefix can parse as junk fields).
        Some(frames) if whole.as_ref().map_or(true, |r| r.resource_spans.is_empty()) => {
            drop(whole);
            file::read_frames(&frames, source, sink)
        }
        _ => {
            let request = whole.map_err(|reason| invalid(source, reason))?;
            if request.resource_spans.is_empty() {
                return Err(no_resource_spans(source));
            }
            file::read_request(&request, source, sink);
            Ok(())
        }
    }
}

fn no_resource_spans(source: &Source) -> ReadError {
    ReadError::Unrecognized {
        path: source.path.clone(),
        reason: "protobuf without any resource spans".to_owned(),
    }
}

fn invalid(source: &Source, reason: String) -> ReadError {
    ReadError::Invalid {
        path: source.path.clone(),
        format: loupe_model::SourceFormat::Otlp,
        reason,
    }
}
