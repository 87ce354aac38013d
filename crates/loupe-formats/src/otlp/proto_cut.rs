//! A binary OTLP file read from disk in pieces: the request's wire bytes
//! walked resource by resource and span by span, each piece decoded by
//! prost on its own, so a large `.pb` export is never held whole. Files of
//! length-framed requests (the Collector's file exporter) are read a frame
//! at a time.
//!
//! Like the JSON cut walk ([`super::cut`]), the walk answers only where it
//! hands over exactly what decoding the whole request would, prost's own
//! checks included, and otherwise says it is unsure or that the bytes are
//! broken; the caller then reads the file in memory, which says what is
//! wrong. How it stays exact:
//! - Only the outline is followed here: the request's `resource_spans`
//!   (field 1), each one's `scope_spans` (field 2), and each one's `spans`
//!   (field 2). Every other field on those three levels is kept as read
//!   and, at the end of its message, decoded by prost as that message:
//!   prost checks it, and merges a repeated `resource` as it would.
//! - Each span, and each message's other fields, are decoded inside an
//!   envelope of the levels above them, so prost's recursion limit counts
//!   from the same depth as in the whole request.
//! - A `resource` after spans of its own `ResourceSpans` (prost would apply
//!   it to spans already handed over) and group fields (wire types 3 and 4)
//!   make it unsure.

use std::io::{self, BufRead, Read};

use prost::Message;

use super::json::Piece;
use super::ExportTraceServiceRequest;

/// Field numbers of the outline (all length-delimited).
const RESOURCE_SPANS: u32 = 1;
const RESOURCE: u32 = 1;
const SCOPE_SPANS: u32 = 2;
const SPANS: u32 = 2;
/// The length-delimited wire type.
const LEN: u8 = 2;

/// What a walk over one input found.
#[derive(Debug, PartialEq)]
pub(super) enum Walked {
    /// A request prost decodes (or, for frames, a file of them): how many
    /// resource spans it holds and how many bytes it took.
    Request { resource_spans: u64, bytes: u64 },
    /// Not what prost decodes: bytes off the wire format, truncated, or a
    /// part that does not decode.
    Broken,
    /// Laid out in a way this walk does not follow; only decoding the whole
    /// tells.
    Unsure,
}

/// Why a walk stopped early.
enum Stop {
    Io(io::Error),
    Broken,
    Unsure,
}

type Step<T> = Result<T, Stop>;

/// Walks one unframed request from `input` to its end, handing each
/// resource and span to `each` as it is decoded. What was handed over is
/// only the request's if the answer is [`Walked::Request`].
pub(super) fn walk_request(
    input: &mut dyn BufRead,
    each: &mut dyn FnMut(Piece),
) -> io::Result<Walked> {
    let mut wire = Wire::new(input);
    finish(wire.request(each), wire.pos)
}

/// Walks a file of requests each behind a 4-byte big-endian length,
/// handing each request to `each` once it is decoded. Like the in-memory
/// reader, it wants at least one frame and frames that end with the file.
pub(super) fn walk_frames(
    input: &mut dyn BufRead,
    each: &mut dyn FnMut(&ExportTraceServiceRequest),
) -> io::Result<Walked> {
    let mut wire = Wire::new(input);
    finish(wire.frames(each), wire.pos)
}

fn finish(walked: Step<u64>, bytes: u64) -> io::Result<Walked> {
    match walked {
        Ok(resource_spans) => Ok(Walked::Request {
            resource_spans,
            bytes,
        }),
        Err(Stop::Io(error)) => Err(error),
        Err(Stop::Broken) => Ok(Walked::Broken),
        Err(Stop::Unsure) => Ok(Walked::Unsure),
    }
}

/// Wire bytes read from `input`; `pos` counts those taken.
struct Wire<'r> {
    input: &'r mut dyn BufRead,
    pos: u64,
    /// Reused for each span's envelope.
    scratch: Vec<u8>,
}

impl<'r> Wire<'r> {
    fn new(input: &'r mut dyn BufRead) -> Self {
        Wire {
            input,
            pos: 0,
            scratch: Vec::new(),
        }
    }

    /// The next byte, `None` at the end of the input.
    fn byte(&mut self) -> Step<Option<u8>> {
        let b = match self.input.fill_buf() {
            Ok(buf) => buf.first().copied(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return self.byte(),
            Err(e) => return Err(Stop::Io(e)),
        };
        if b.is_some() {
            self.input.consume(1);
            self.pos += 1;
        }
        Ok(b)
    }

    /// A varint as prost reads one (at most ten bytes, no overflow); `None`
    /// when the input ends before it starts.
    fn varint(&mut self) -> Step<Option<u64>> {
        let mut value = 0u64;
        for count in 0..10 {
            let Some(b) = self.byte()? else {
                return if count == 0 {
                    Ok(None)
                } else {
                    Err(Stop::Broken)
                };
            };
            value |= u64::from(b & 0x7f) << (7 * count);
            if b < 0x80 {
                if count == 9 && b >= 0x02 {
                    return Err(Stop::Broken);
                }
                return Ok(Some(value));
            }
        }
        Err(Stop::Broken)
    }

    /// A field's key as prost reads it: its number and wire type; `None`
    /// when the input ends before it.
    fn key(&mut self) -> Step<Option<(u32, u8)>> {
        let Some(key) = self.varint()? else {
            return Ok(None);
        };
        let key = u32::try_from(key).map_err(|_| Stop::Broken)?;
        let (field, wire_type) = (key >> 3, (key & 7) as u8);
        match wire_type {
            0 | 1 | 2 | 5 if field > 0 => Ok(Some((field, wire_type))),
            // Groups: prost skips them; not worth following here.
            3 | 4 => Err(Stop::Unsure),
            _ => Err(Stop::Broken),
        }
    }

    /// A length-delimited field's length, and where it ends; the field
    /// must end by `end`.
    fn length(&mut self, end: u64) -> Step<(u64, u64)> {
        let len = self.varint()?.ok_or(Stop::Broken)?;
        let field_end = self.pos.checked_add(len).ok_or(Stop::Broken)?;
        if field_end > end {
            return Err(Stop::Broken);
        }
        Ok((len, field_end))
    }

    /// Appends exactly `len` bytes of the input to `out`.
    fn take(&mut self, len: u64, out: &mut Vec<u8>) -> Step<()> {
        // Room is made up front for a plausible length (nearly every
        // field); a larger one is read only as far as the input goes, so a
        // corrupt length cannot claim memory the input does not fill.
        if let Some(n) = usize::try_from(len).ok().filter(|&n| n <= 1 << 20) {
            let start = out.len();
            out.resize(start + n, 0);
            return match self.input.read_exact(&mut out[start..]) {
                Ok(()) => {
                    self.pos += len;
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Stop::Broken),
                Err(e) => Err(Stop::Io(e)),
            };
        }
        let got = (&mut *self.input)
            .take(len)
            .read_to_end(out)
            .map_err(Stop::Io)?;
        self.pos += got as u64;
        if got as u64 == len {
            Ok(())
        } else {
            Err(Stop::Broken)
        }
    }

    /// Appends a field whose key has been read to `kept`, as it was (its
    /// varints written anew, which prost reads alike), for prost to decode
    /// with the rest of its message.
    fn keep(&mut self, field: u32, wire_type: u8, end: u64, kept: &mut Vec<u8>) -> Step<()> {
        prost::encoding::encode_varint(u64::from(field << 3 | u32::from(wire_type)), kept);
        match wire_type {
            0 => {
                let value = self.varint()?.ok_or(Stop::Broken)?;
                prost::encoding::encode_varint(value, kept);
            }
            1 => self.take(8, kept)?,
            5 => self.take(4, kept)?,
            _ => {
                let (len, _) = self.length(end)?;
                prost::encoding::encode_varint(len, kept);
                self.take(len, kept)?;
            }
        }
        if self.pos > end {
            return Err(Stop::Broken);
        }
        Ok(())
    }

    /// The whole input as one request; returns how many resource spans it
    /// held.
    fn request(&mut self, each: &mut dyn FnMut(Piece)) -> Step<u64> {
        let mut kept = Vec::new();
        let mut resource_spans = 0;
        while let Some((field, wire_type)) = self.key()? {
            if field == RESOURCE_SPANS && wire_type == LEN {
                let (_, end) = self.length(u64::MAX)?;
                self.resource_spans(end, each)?;
                resource_spans += 1;
            } else {
                self.keep(field, wire_type, u64::MAX, &mut kept)?;
            }
        }
        ExportTraceServiceRequest::decode(&kept[..]).map_err(|_| Stop::Broken)?;
        Ok(resource_spans)
    }

    /// One `ResourceSpans`, ending at `end`.
    fn resource_spans(&mut self, end: u64, each: &mut dyn FnMut(Piece)) -> Step<()> {
        let mut kept = Vec::new();
        let mut begun = false;
        while self.pos < end {
            let (field, wire_type) = self.key()?.ok_or(Stop::Broken)?;
            if field == SCOPE_SPANS && wire_type == LEN {
                if !begun {
                    each(Piece::Resource(resource_of(&kept)?));
                    begun = true;
                }
                let (_, scope_end) = self.length(end)?;
                self.scope_spans(scope_end, each)?;
            } else if begun && field == RESOURCE {
                return Err(Stop::Unsure);
            } else {
                self.keep(field, wire_type, end, &mut kept)?;
            }
        }
        if self.pos != end {
            return Err(Stop::Broken);
        }
        let resource = resource_of(&kept)?;
        if !begun {
            each(Piece::Resource(resource));
        }
        Ok(())
    }

    /// One `ScopeSpans`, ending at `end`.
    fn scope_spans(&mut self, end: u64, each: &mut dyn FnMut(Piece)) -> Step<()> {
        let mut kept = Vec::new();
        while self.pos < end {
            let (field, wire_type) = self.key()?.ok_or(Stop::Broken)?;
            if field == SPANS && wire_type == LEN {
                let (len, _) = self.length(end)?;
                let mut envelope = std::mem::take(&mut self.scratch);
                envelope.clear();
                open_envelope(&[RESOURCE_SPANS, SCOPE_SPANS, SPANS], len, &mut envelope);
                let taken = self.take(len, &mut envelope);
                let span = taken.and_then(|()| {
                    let request = decode(&envelope)?;
                    let span = request
                        .resource_spans
                        .into_iter()
                        .flat_map(|r| r.scope_spans)
                        .flat_map(|s| s.spans)
                        .next();
                    span.ok_or(Stop::Broken)
                });
                self.scratch = envelope;
                each(Piece::Span(Box::new(span?)));
            } else {
                self.keep(field, wire_type, end, &mut kept)?;
            }
        }
        if self.pos != end {
            return Err(Stop::Broken);
        }
        let mut envelope = Vec::with_capacity(kept.len() + 16);
        open_envelope(
            &[RESOURCE_SPANS, SCOPE_SPANS],
            kept.len() as u64,
            &mut envelope,
        );
        envelope.extend_from_slice(&kept);
        decode(&envelope).map(drop)
    }

    /// Length-framed requests to the end of the input; returns how many
    /// resource spans they held.
    fn frames(&mut self, each: &mut dyn FnMut(&ExportTraceServiceRequest)) -> Step<u64> {
        let mut resource_spans = 0;
        let mut frames = 0u64;
        let mut frame = Vec::new();
        loop {
            if self.input.fill_buf().map_err(Stop::Io)?.is_empty() {
                return if frames > 0 {
                    Ok(resource_spans)
                } else {
                    Err(Stop::Broken)
                };
            }
            frame.clear();
            self.take(4, &mut frame)?;
            let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            frame.clear();
            self.take(u64::from(len), &mut frame)?;
            let request = decode(&frame)?;
            resource_spans += request.resource_spans.len() as u64;
            frames += 1;
            each(&request);
        }
    }
}

/// The resource of a `ResourceSpans` whose fields other than its scope
/// spans are `kept`, as prost decodes them in place.
fn resource_of(kept: &[u8]) -> Step<Option<opentelemetry_proto::tonic::resource::v1::Resource>> {
    let mut envelope = Vec::with_capacity(kept.len() + 8);
    open_envelope(&[RESOURCE_SPANS], kept.len() as u64, &mut envelope);
    envelope.extend_from_slice(kept);
    let request = decode(&envelope)?;
    Ok(request
        .resource_spans
        .into_iter()
        .next()
        .and_then(|r| r.resource))
}

fn decode(bytes: &[u8]) -> Step<ExportTraceServiceRequest> {
    ExportTraceServiceRequest::decode(bytes).map_err(|_| Stop::Broken)
}

/// Writes the keys and lengths that nest a body of `len` bytes in the
/// length-delimited fields `path`, outermost first, from a request down.
fn open_envelope(path: &[u32], len: u64, out: &mut Vec<u8>) {
    // Each level's length: its body plus the keys and lengths inside it.
    let mut lengths = vec![len; path.len()];
    let mut inner = len;
    for (i, field) in path.iter().enumerate().rev() {
        lengths[i] = inner;
        inner += key_and_length_len(*field, inner);
    }
    for (field, len) in path.iter().zip(lengths) {
        prost::encoding::encode_varint(u64::from(field << 3 | u32::from(LEN)), out);
        prost::encoding::encode_varint(len, out);
    }
}

fn key_and_length_len(field: u32, len: u64) -> u64 {
    (prost::encoding::encoded_len_varint(u64::from(field << 3 | u32::from(LEN)))
        + prost::encoding::encoded_len_varint(len)) as u64
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    fn span(n: u8) -> Span {
        Span {
            trace_id: vec![n; 16],
            span_id: vec![n; 8],
            name: format!("span {n}"),
            ..Default::default()
        }
    }

    fn attribute(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.to_owned())),
            }),
            ..Default::default()
        }
    }

    fn request() -> ExportTraceServiceRequest {
        let resource = |name: &str| Resource {
            attributes: vec![attribute("service.name", name)],
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(resource("a")),
                    scope_spans: vec![
                        ScopeSpans {
                            spans: vec![span(1), span(2)],
                            ..Default::default()
                        },
                        ScopeSpans {
                            spans: vec![span(3)],
                            schema_url: "s".to_owned(),
                            ..Default::default()
                        },
                    ],
                    schema_url: String::new(),
                },
                ResourceSpans::default(),
                ResourceSpans {
                    resource: Some(resource("b")),
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span(4)],
                        ..Default::default()
                    }],
                    schema_url: "r".to_owned(),
                },
            ],
        }
    }

    /// The pieces of `bytes` as the walk hands them over, read through a
    /// buffer of `buffer` bytes.
    fn walked(bytes: &[u8], buffer: usize) -> (Walked, Vec<Piece>) {
        let mut input = io::BufReader::with_capacity(buffer, bytes);
        let mut pieces = Vec::new();
        let walked = walk_request(&mut input, &mut |p| pieces.push(p)).unwrap();
        (walked, pieces)
    }

    fn pieces_of(request: &ExportTraceServiceRequest) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for r in &request.resource_spans {
            pieces.push(Piece::Resource(r.resource.clone()));
            for s in r.scope_spans.iter().flat_map(|s| &s.spans) {
                pieces.push(Piece::Span(Box::new(s.clone())));
            }
        }
        pieces
    }

    #[test]
    fn a_request_is_handed_over_piece_by_piece_as_prost_decodes_it() {
        let request = request();
        let bytes = request.encode_to_vec();
        for buffer in [1, 3, 64, 1 << 20] {
            let (walked, pieces) = walked(&bytes, buffer);
            assert_eq!(
                walked,
                Walked::Request {
                    resource_spans: 3,
                    bytes: bytes.len() as u64
                }
            );
            assert_eq!(pieces, pieces_of(&request));
        }
    }

    #[test]
    fn what_prost_would_refuse_is_broken_and_odd_layouts_unsure() {
        let bytes = request().encode_to_vec();
        // Truncated anywhere.
        for cut in [1, 5, bytes.len() / 2, bytes.len() - 1] {
            assert_eq!(walked(&bytes[..cut], 64).0, Walked::Broken, "{cut}");
        }
        // A string that is not UTF-8 in a kept field (the resource's first key).
        let mut bad = bytes.clone();
        let at = bad.iter().position(|&b| b == b's').unwrap();
        bad[at] = 0xff;
        assert_eq!(prost_says(&bad), Err(()));
        assert_eq!(walked(&bad, 64).0, Walked::Broken);
        // A group field: prost skips it, the walk does not follow.
        let mut group = bytes.clone();
        group.extend_from_slice(&[0x7b, 0x7c]); // field 15, start and end group
        assert_eq!(prost_says(&group), Ok(3));
        assert_eq!(walked(&group, 64).0, Walked::Unsure);
        // A resource after its spans.
        let mut late = ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(9)],
                ..Default::default()
            }],
            ..Default::default()
        }
        .encode_to_vec();
        late.extend(
            ResourceSpans {
                resource: Some(Resource::default()),
                ..Default::default()
            }
            .encode_to_vec(),
        );
        let mut request = vec![0x0a];
        prost::encoding::encode_varint(late.len() as u64, &mut request);
        request.extend(late);
        assert_eq!(prost_says(&request), Ok(1));
        assert_eq!(walked(&request, 64).0, Walked::Unsure);
        // Unknown fields are fine where prost takes them.
        let mut unknown = bytes.clone();
        unknown.extend_from_slice(&[0x78, 0x05, 0x85, 0x01, 1, 2, 3, 4]);
        assert_eq!(prost_says(&unknown), Ok(3));
        assert!(matches!(walked(&unknown, 64).0, Walked::Request { .. }));
    }

    fn prost_says(bytes: &[u8]) -> Result<usize, ()> {
        ExportTraceServiceRequest::decode(bytes)
            .map(|r| r.resource_spans.len())
            .map_err(drop)
    }

    #[test]
    fn frames_are_read_one_at_a_time_to_the_end_of_the_file() {
        let one = request().encode_to_vec();
        let mut file = Vec::new();
        for _ in 0..3 {
            file.extend_from_slice(&(one.len() as u32).to_be_bytes());
            file.extend_from_slice(&one);
        }
        let mut seen = 0;
        let mut input = io::BufReader::with_capacity(7, &file[..]);
        let walked = walk_frames(&mut input, &mut |r| {
            assert_eq!(r, &request());
            seen += 1;
        })
        .unwrap();
        assert_eq!(
            walked,
            Walked::Request {
                resource_spans: 9,
                bytes: file.len() as u64
            }
        );
        assert_eq!(seen, 3);
        for cut in [0, 2, 4, file.len() - 1] {
            let mut input = &file[..cut];
            assert_eq!(
                walk_frames(&mut input, &mut |_| {}).unwrap(),
                Walked::Broken
            );
        }
    }

    #[test]
    fn envelopes_nest_bodies_as_prost_encodes_them() {
        for len in [0usize, 1, 127, 128, 300, 20_000] {
            let span = Span {
                name: "x".repeat(len),
                ..Default::default()
            };
            let body = span.encode_to_vec();
            let mut bytes = Vec::new();
            open_envelope(
                &[RESOURCE_SPANS, SCOPE_SPANS, SPANS],
                body.len() as u64,
                &mut bytes,
            );
            bytes.extend_from_slice(&body);
            let expected = ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    scope_spans: vec![ScopeSpans {
                        spans: vec![span],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            };
            assert_eq!(bytes, expected.encode_to_vec(), "{len}");
        }
    }
}
