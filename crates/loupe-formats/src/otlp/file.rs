//! Reading OTLP files: every span of the file is looked over once before
//! any is mapped.
//!
//! Why two passes: a span's session may be named only by another span of
//! its trace (the agent's root, often the last span a batch exporter
//! writes), and that span may sit in another request of the file (the
//! Collector's file exporter writes one request per line). The first pass
//! learns, for the whole file, each trace's session, the subagent above
//! each span ([`SpanContext`]) and where each session's last span is
//! ([`SessionEnds`]). The second maps spans to events in file order and
//! tells the sink when a session is complete ([`Sink::session_done`]), so a
//! file holding thousands of sessions is analysed session by session
//! instead of being held whole. Neither pass builds the request: JSON is
//! walked span by span ([`walk_request_json`]).

use std::io::{BufRead, Read as _};

use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::cut::{walk_request_cut, Cut};
use super::ingest::{SessionEnds, SpanContext, SpanMapper};
use super::json::{walk_request_json, walk_request_json_from, Piece};
use super::proto_cut::{self, Walked};
use super::{attrs, ExportTraceServiceRequest};
use crate::read::Reopen;
use crate::{ReadError, Sink, Skipped, Source};

/// The first pass: what the file's spans say about each other.
#[derive(Default)]
struct Learner {
    context: SpanContext,
    ends: SessionEnds,
    resource_session: Option<String>,
}

impl Learner {
    fn resource(&mut self, resource: Option<&Resource>) {
        self.resource_session = resource.and_then(|r| {
            let map = attrs::to_map(&r.attributes);
            super::ingest::resource_session(&map)
        });
    }

    fn span(&mut self, span: &Span) {
        self.context.add(span);
        self.ends.add(span, self.resource_session.as_deref());
    }

    fn request(&mut self, request: &ExportTraceServiceRequest) {
        for resource_spans in &request.resource_spans {
            self.resource(resource_spans.resource.as_ref());
            for span in resource_spans.scope_spans.iter().flat_map(|s| &s.spans) {
                self.span(span);
            }
        }
    }

    fn learn(&mut self, piece: &Piece) {
        match piece {
            Piece::Resource(resource) => self.resource(resource.as_ref()),
            Piece::Span(span) => self.span(span),
        }
    }
}

/// The second pass: spans mapped in file order, sessions announced done
/// after their last span.
struct Emitter<'a> {
    mapper: SpanMapper<'a>,
    ends: std::iter::Peekable<std::vec::IntoIter<(u64, String)>>,
    /// Ordinal of the next span with valid ids (as [`SessionEnds`] counts).
    ordinal: u64,
    source: &'a Source,
}

impl<'a> Emitter<'a> {
    fn new(learner: &'a mut Learner, source: &'a Source) -> Self {
        let ends = std::mem::take(&mut learner.ends).resolve(&learner.context);
        let learner: &'a Learner = learner;
        Emitter {
            mapper: SpanMapper::new(&learner.context),
            ends: ends.into_iter().peekable(),
            ordinal: 0,
            source,
        }
    }

    fn span(&mut self, span: &Span, line: Option<u64>, sink: &mut dyn Sink) {
        match self.mapper.map(span, self.source, sink) {
            Ok(()) => {
                while let Some((_, session)) = self.ends.next_if(|(o, _)| *o == self.ordinal) {
                    sink.session_done(self.source, &session);
                }
                self.ordinal += 1;
            }
            Err(reason) => sink.skip(Skipped::new(&self.source.path, line, reason)),
        }
    }

    fn emit(&mut self, piece: Piece, line: Option<u64>, sink: &mut dyn Sink) {
        match piece {
            Piece::Resource(resource) => self.mapper.begin_resource(resource.as_ref()),
            Piece::Span(span) => self.span(&span, line, sink),
        }
    }

    fn emit_request(
        &mut self,
        request: &ExportTraceServiceRequest,
        line: Option<u64>,
        sink: &mut dyn Sink,
    ) {
        for resource_spans in &request.resource_spans {
            self.mapper.begin_resource(resource_spans.resource.as_ref());
            for scope_spans in &resource_spans.scope_spans {
                for span in &scope_spans.spans {
                    self.span(span, line, sink);
                }
            }
        }
    }
}

/// Reads an OTLP/JSON file: one request document, or one request per line.
pub fn read_json(bytes: &[u8], source: &Source, sink: &mut dyn Sink) -> Result<(), ReadError> {
    let mut learner = Learner::default();
    let whole_error = match walk_request_json(bytes, &mut |piece| learner.learn(&piece)) {
        Ok(()) => {
            let mut emitter = Emitter::new(&mut learner, source);
            // The same bytes walked again: this cannot fail where the first
            // walk did not.
            let again = walk_request_json(bytes, &mut |piece| emitter.emit(piece, None, sink));
            debug_assert!(again.is_ok(), "the second walk failed: {again:?}");
            return Ok(());
        }
        Err(reason) => reason,
    };
    // One request per line.
    let lines = read_lines_twice(
        &mut &bytes[..],
        None,
        &mut |length| {
            Ok(Box::new(
                &bytes[..usize::try_from(length).unwrap_or(bytes.len())],
            ))
        },
        source,
        sink,
    )
    .map_err(ReadError::io_at(&source.path))?;
    let LinesRead::NotLines { first_reason } = lines else {
        return Ok(());
    };
    // Valid JSON that is not a traces request (logs, metrics, anything else),
    // whole or on its first line, is a foreign file; anything else is broken.
    let not_traces =
        |reason: &str| reason.contains("not traces") || reason.contains("without a resourceSpans");
    Err(if not_traces(&whole_error) {
        ReadError::Unrecognized {
            path: source.path.clone(),
            reason: whole_error,
        }
    } else if let Some(reason) = first_reason.filter(|r| not_traces(r)) {
        ReadError::Unrecognized {
            path: source.path.clone(),
            reason,
        }
    } else {
        super::invalid(source, whole_error)
    })
}

/// Reads an OTLP/JSON file from `input` (decompressed, after any byte
/// order mark; `reopen` gives the same again, `size` is its length when
/// known) without holding it whole. A large document (`size` of 16 MiB or
/// more, or unknown) is read in pieces in both passes
/// ([`read_document_streamed`]). OTLP JSONL is read line by line in both
/// passes, the second from the input opened anew. A file of one line is a
/// whole document, read from that line as [`read_json`] would; a file with
/// no line that is a request on its own (a document spread over lines, or
/// no traces at all) is read whole by [`read_json`], which says which.
///
/// If the file is rewritten between the passes, lines that no longer parse
/// are skipped with their reason; sessions may then be split, never lost.
pub(crate) fn read_json_file(
    input: &mut dyn BufRead,
    size: Option<u64>,
    reopen: Reopen<'_>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let io = ReadError::io_at(&source.path);
    // Of unknown size (decompressed), it may be large.
    if size.is_none_or(|n| n >= STREAMED_DOCUMENT) && read_document_streamed(reopen, source, sink)?
    {
        return Ok(());
    }
    let mut again =
        |length: u64| -> std::io::Result<Box<dyn BufRead>> { Ok(Box::new(reopen()?.take(length))) };
    let lines = read_lines_twice(input, size, &mut again, source, sink).map_err(io)?;
    let LinesRead::NotLines { .. } = lines else {
        return Ok(());
    };
    let mut bytes = Vec::with_capacity(
        size.and_then(|n| usize::try_from(n).ok())
            .map_or(0, |n| n.saturating_add(1)),
    );
    reopen()
        .and_then(|mut input| input.read_to_end(&mut bytes))
        .map_err(io)?;
    read_json(&bytes, source, sink)
}

/// Files from this size on are first tried as one request document read
/// from disk in both passes ([`walk_request_cut`]), so memory stops growing
/// with them there; smaller ones are read into memory, which is a little
/// faster (docs/benchmarks.md).
const STREAMED_DOCUMENT: u64 = 16 << 20;

/// Reads the input as one request document, walked from disk in both
/// passes (`reopen` opens it), the second over exactly the bytes of the
/// first.
/// `false`, with nothing handed to the sink, when it is not one whole
/// traces request (OTLP JSONL, broken or foreign JSON): the caller reads it
/// the other ways, which say why. If the file is rewritten between the
/// passes, what the second walk cannot read is skipped with its reason.
fn read_document_streamed(
    reopen: Reopen<'_>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<bool, ReadError> {
    let io = ReadError::io_at(&source.path);
    let length = std::rc::Rc::new(std::cell::Cell::new(0));
    // Cut into pieces where the outline is plain (nearly always), else
    // walked by serde_json reading the file itself.
    for cut in [true, false] {
        let mut learner = Learner::default();
        let first = open_document(reopen, u64::MAX, &length).map_err(io)?;
        let learned = if cut {
            match walk_request_cut(first, &mut |piece| learner.learn(&piece)).map_err(io)? {
                Cut::Walked { found } => found,
                // One request per line: the caller reads lines.
                Cut::MoreAfter => return Ok(false),
                Cut::GaveUp => false,
            }
        } else {
            walk_request_json_from(first, &mut |piece| learner.learn(&piece)) == Ok(true)
        };
        if !learned {
            continue;
        }
        let again = open_document(reopen, length.get(), &length).map_err(io)?;
        let mut emitter = Emitter::new(&mut learner, source);
        let mut emit = |piece| emitter.emit(piece, None, sink);
        let walked = if cut {
            match walk_request_cut(again, &mut emit) {
                Ok(Cut::Walked { found: true }) => Ok(()),
                Ok(_) => Err("its outline changed".to_owned()),
                Err(error) => Err(error.to_string()),
            }
        } else {
            match walk_request_json_from(again, &mut emit) {
                Ok(true) => Ok(()),
                Ok(false) => Err("no longer a traces request".to_owned()),
                Err(reason) => Err(reason),
            }
        };
        if let Err(reason) = walked {
            sink.skip(Skipped::new(
                &source.path,
                None,
                format!("changed while it was read: {reason}"),
            ));
        }
        return Ok(true);
    }
    Ok(false)
}

/// Reads a binary OTLP file from `input` (decompressed; `reopen` gives
/// the same again, `size` is its length when known) without holding it
/// whole where it can: a large file (`size` of 16 MiB or more, or unknown)
/// is walked from disk in both passes ([`read_proto_streamed`]); anything
/// else, and whatever that walk does not take, is read into memory by
/// [`super::read_proto`], which also says what is wrong.
pub(crate) fn read_proto_file(
    input: &mut dyn BufRead,
    size: Option<u64>,
    reopen: Reopen<'_>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    if size.is_none_or(|n| n >= STREAMED_DOCUMENT) && read_proto_streamed(reopen, source, sink)? {
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(
        size.and_then(|n| usize::try_from(n).ok())
            .map_or(0, |n| n.saturating_add(1)),
    );
    input
        .read_to_end(&mut bytes)
        .map_err(ReadError::io_at(&source.path))?;
    super::read_proto(&bytes, source, sink)
}

/// Reads a binary OTLP file walked from disk in both passes
/// ([`proto_cut`]): one request, else length-framed requests, chosen as
/// [`super::read_proto`] chooses them, the second pass over exactly the
/// bytes of the first. `false`, with nothing handed to the sink, where the
/// walk cannot tell it would read the file as the in-memory reader does.
fn read_proto_streamed(
    reopen: Reopen<'_>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<bool, ReadError> {
    let io = ReadError::io_at(&source.path);
    let mut learner = Learner::default();
    let whole = proto_cut::walk_request(&mut *reopen().map_err(io)?, &mut |piece| {
        learner.learn(&piece);
    })
    .map_err(io)?;
    // As `read_proto`: one request, unless it does not decode or holds no
    // spans and the file is a sequence of frames that do.
    let (framed, length) = match whole {
        Walked::Request {
            resource_spans: 1..,
            bytes,
        } => (false, bytes),
        Walked::Unsure => return Ok(false),
        Walked::Broken | Walked::Request { .. } => {
            learner = Learner::default();
            let frames = proto_cut::walk_frames(&mut *reopen().map_err(io)?, &mut |request| {
                learner.request(request);
            })
            .map_err(io)?;
            match frames {
                Walked::Request {
                    resource_spans: 1..,
                    bytes,
                } => (true, bytes),
                _ => return Ok(false),
            }
        }
    };
    let mut again = reopen().map_err(io)?.take(length);
    let mut emitter = Emitter::new(&mut learner, source);
    let walked = if framed {
        proto_cut::walk_frames(&mut again, &mut |request| {
            emitter.emit_request(request, None, sink);
        })
    } else {
        proto_cut::walk_request(&mut again, &mut |piece| emitter.emit(piece, None, sink))
    };
    match walked {
        Ok(Walked::Request { bytes, .. }) if bytes == length => {}
        Ok(_) => sink.skip(Skipped::new(
            &source.path,
            None,
            "changed while it was read: no longer the same request".to_owned(),
        )),
        Err(error) => sink.skip(Skipped::new(
            &source.path,
            None,
            format!("changed while it was read: {error}"),
        )),
    }
    Ok(true)
}

/// For tests and the fuzz target: panics unless walking `bytes` from
/// "disk" (through a buffer of `buffer` bytes) hands the sink exactly what
/// [`super::read_proto`] does in memory (events, skips and sessions done,
/// in order), wherever the walk takes the file; and nothing where it does
/// not. Says whether it took the file.
pub(super) fn assert_proto_walk_agrees(bytes: &[u8], buffer: usize) -> bool {
    /// Everything a sink is told, in order.
    #[derive(Debug, Default, PartialEq)]
    struct Told(Vec<String>);
    impl Sink for Told {
        fn event(&mut self, _: &Source, event: loupe_model::Event) {
            self.0.push(format!("{event:?}"));
        }
        fn skip(&mut self, skipped: Skipped) {
            self.0.push(format!("{skipped:?}"));
        }
        fn session_done(&mut self, _: &Source, session_id: &str) {
            self.0.push(format!("done {session_id}"));
        }
    }
    let source = Source {
        path: "export.pb".into(),
        format: loupe_model::SourceFormat::Otlp,
    };
    // `Reopen` gives boxes that own their input.
    let owned = bytes.to_vec();
    let reopen = || -> std::io::Result<Box<dyn BufRead>> {
        Ok(Box::new(std::io::BufReader::with_capacity(
            buffer.max(1),
            std::io::Cursor::new(owned.clone()),
        )))
    };
    let mut walked = Told::default();
    let took = read_proto_streamed(&reopen, &source, &mut walked)
        .unwrap_or_else(|e| panic!("reading from memory failed: {e}"));
    if !took {
        assert_eq!(walked, Told::default(), "handed over, then not taken");
        return false;
    }
    let mut in_memory = Told::default();
    let read = super::read_proto(bytes, &source, &mut in_memory);
    assert!(
        read.is_ok(),
        "taken by the walk, refused in memory: {read:?}"
    );
    assert_eq!(walked, in_memory, "the walk handed over something else");
    true
}

/// The input opened again, its first `limit` bytes; `read` counts the
/// bytes taken from it. A plain `BufReader` on the outside, because
/// serde_json reading it itself reads a byte at a time, and the standard
/// library reads those straight from its buffer.
fn open_document(
    reopen: Reopen<'_>,
    limit: u64,
    read: &std::rc::Rc<std::cell::Cell<u64>>,
) -> std::io::Result<DocumentReader> {
    read.set(0);
    let input = CountedRead {
        inner: reopen()?.take(limit),
        read: std::rc::Rc::clone(read),
    };
    Ok(std::io::BufReader::with_capacity(256 * 1024, input))
}

/// What [`open_document`] gives.
type DocumentReader = std::io::BufReader<CountedRead<std::io::Take<Box<dyn BufRead>>>>;

/// Counts the bytes a reader gave.
struct CountedRead<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for CountedRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// What [`read_lines_twice`] did.
enum LinesRead {
    /// Mapped as one request per line (or one document on its one line).
    Mapped,
    /// Not read: no line is a request on its own, or there is one line and
    /// it is not. Nothing was handed to the sink.
    NotLines {
        /// Why the first non-blank line is not a request.
        first_reason: Option<String>,
    },
}

/// The two passes over one request per line. `first` is read by the first
/// pass; `again(length)` gives the same first `length` bytes for the second
/// (and for learning again without the broken lines, when a line broke
/// after teaching the first pass part of itself). Broken lines are skipped
/// with their reason, in line order with the events.
fn read_lines_twice<'r>(
    first: &mut dyn BufRead,
    size: Option<u64>,
    again: &mut dyn FnMut(u64) -> std::io::Result<Box<dyn BufRead + 'r>>,
    source: &Source,
    sink: &mut dyn Sink,
) -> std::io::Result<LinesRead> {
    let mut learner = Learner::default();
    let mut found = learn_lines(first, size, &[], &mut learner, source)?;
    if let (1, 1, Some(document)) = (found.requests, found.good, &found.only) {
        let mut emitter = Emitter::new(&mut learner, source);
        let walked = walk_request_json(document, &mut |piece| emitter.emit(piece, None, sink));
        debug_assert!(walked.is_ok(), "the second walk failed: {walked:?}");
        return Ok(LinesRead::Mapped);
    }
    found.only = None;
    if found.requests < 2 || found.good == 0 {
        return Ok(LinesRead::NotLines {
            first_reason: found.skipped.into_iter().next().map(|s| s.reason),
        });
    }
    let length = found.length;
    if !found.skipped.is_empty() {
        let bad: Vec<u64> = found.skipped.iter().filter_map(|s| s.line).collect();
        learner = Learner::default();
        learn_lines(&mut *again(length)?, None, &bad, &mut learner, source)?;
    }
    let mut lines = again(length)?;
    let mut emitter = Emitter::new(&mut learner, source);
    let mut skipped = found.skipped.into_iter().peekable();
    let mut line = Vec::new();
    for line_no in 1.. {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(s) = skipped.next_if(|s| s.line == Some(line_no)) {
            sink.skip(s);
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let walked = walk_request_json(&line, &mut |piece| {
            emitter.emit(piece, Some(line_no), sink);
        });
        if let Err(reason) = walked {
            sink.skip(Skipped::new(
                &source.path,
                Some(line_no),
                format!("changed while it was read: {reason}"),
            ));
        }
    }
    for s in skipped {
        sink.skip(s);
    }
    Ok(LinesRead::Mapped)
}

/// What the first pass over a file's lines found.
struct LearnedLines {
    /// Bytes read.
    length: u64,
    /// Non-blank lines.
    requests: u64,
    /// Lines that parsed as requests.
    good: u64,
    /// Lines that did not, with why.
    skipped: Vec<Skipped>,
    /// The only non-blank line, while there is one.
    only: Option<Vec<u8>>,
}

/// Walks each line of `input` as a request, teaching `learner` as it goes;
/// lines numbered in `bad` are passed over. `size` is room for the first
/// line's buffer (a document on one line is then read without growing by
/// doubling; room a short first line leaves unused is never touched, so it
/// costs no memory).
fn learn_lines(
    input: &mut dyn BufRead,
    size: Option<u64>,
    bad: &[u64],
    learner: &mut Learner,
    source: &Source,
) -> std::io::Result<LearnedLines> {
    let room = size
        .and_then(|n| usize::try_from(n).ok())
        .map_or(0, |n| n.saturating_add(1));
    let mut line = Vec::with_capacity(room);
    let mut found = LearnedLines {
        length: 0,
        requests: 0,
        good: 0,
        skipped: Vec::new(),
        only: None,
    };
    for line_no in 1.. {
        line.clear();
        let n = input.read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        found.length += n as u64;
        if line.iter().all(u8::is_ascii_whitespace) || bad.binary_search(&line_no).is_ok() {
            continue;
        }
        found.requests += 1;
        match walk_request_json(&line, &mut |piece| learner.learn(&piece)) {
            Ok(()) => found.good += 1,
            Err(reason) => found
                .skipped
                .push(Skipped::new(&source.path, Some(line_no), reason)),
        }
        found.only = (found.requests == 1).then(|| std::mem::take(&mut line));
    }
    Ok(found)
}

/// Maps one decoded binary request with the same two passes as JSON.
pub(super) fn read_request(
    request: &ExportTraceServiceRequest,
    source: &Source,
    sink: &mut dyn Sink,
) {
    let mut learner = Learner::default();
    learner.request(request);
    Emitter::new(&mut learner, source).emit_request(request, None, sink);
}

/// Maps a file of length-framed binary requests (the Collector's file
/// exporter) with the same two passes as JSON. Each frame is decoded once
/// per pass and dropped, so memory holds one frame's request at a time.
/// Fails, before anything is mapped, when a frame does not decode or no
/// frame holds resource spans.
pub(super) fn read_frames(
    frames: &super::Frames<'_>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    let mut learner = Learner::default();
    let mut any_spans = false;
    let mut broken = Vec::new();
    for (index, (offset, frame)) in frames.frames.iter().enumerate() {
        match super::decode_request_proto(frame) {
            Ok(request) => {
                any_spans |= !request.resource_spans.is_empty();
                learner.request(&request);
            }
            Err(reason) => broken.push((index + 1, *offset, reason)),
        }
    }
    if !any_spans {
        // Not one frame with spans: the file is broken, not a frame of it.
        return Err(match broken.into_iter().next() {
            Some((_, _, reason)) => super::invalid(source, reason),
            None => super::no_resource_spans(source),
        });
    }
    for (number, offset, reason) in broken {
        sink.skip(Skipped::new(
            &source.path,
            None,
            format!("frame {number} at byte {offset} does not decode ({reason}); skipped"),
        ));
    }
    if let Some(reason) = &frames.torn_tail {
        sink.skip(Skipped::new(&source.path, None, reason.clone()));
    }
    let mut emitter = Emitter::new(&mut learner, source);
    for (_, frame) in &frames.frames {
        // Frames that did not decode above were reported as skipped.
        if let Ok(request) = super::decode_request_proto(frame) {
            emitter.emit_request(&request, None, sink);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::CollectedEvents;
    use loupe_model::SourceFormat;
    use serde_json::json;

    fn span(trace: u8, id: u8, parent: Option<u8>, name: &str) -> serde_json::Value {
        let mut s = json!({
            "traceId": format!("{trace:02x}").repeat(16),
            "spanId": format!("{id:02x}").repeat(8),
            "name": name,
            "startTimeUnixNano": "1772280000000000000",
            "endTimeUnixNano": "1772280000500000000",
            "attributes": [
                { "key": "gen_ai.operation.name", "value": { "stringValue": "chat" } },
                { "key": "gen_ai.conversation.id", "value": { "stringValue": format!("c{trace}") } }
            ],
        });
        if let Some(p) = parent {
            s["parentSpanId"] = format!("{p:02x}").repeat(8).into();
        }
        s
    }

    fn request(spans: &[serde_json::Value]) -> serde_json::Value {
        json!({ "resourceSpans": [
            { "resource": { "attributes": [] }, "scopeSpans": [{ "spans": spans }] }
        ]})
    }

    /// [`read_document_streamed`] on `bytes` written to a file: whether it
    /// took the file, and what it handed over.
    fn streamed(bytes: &[u8]) -> (bool, CollectedEvents) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("export.json");
        std::fs::write(&path, bytes).unwrap();
        let source = Source {
            path: path.clone(),
            format: SourceFormat::Otlp,
        };
        let mut sink = CollectedEvents::default();
        let reopen = || -> std::io::Result<Box<dyn BufRead>> {
            let mut file = std::io::BufReader::new(std::fs::File::open(&path)?);
            if file.fill_buf()?.starts_with(b"\xEF\xBB\xBF") {
                file.consume(3);
            }
            Ok(Box::new(file))
        };
        let took = read_document_streamed(&reopen, &source, &mut sink).unwrap();
        (took, sink)
    }

    #[test]
    fn a_document_streamed_from_disk_maps_as_it_does_in_memory() {
        let document = request(&[
            span(1, 2, Some(1), "chat"),
            span(2, 3, None, "chat"),
            span(1, 1, None, "agent"),
        ]);
        let one_line = document.to_string();
        let pretty = serde_json::to_string_pretty(&document).unwrap();
        let with_bom = format!("\u{feff}{one_line}");
        // Too odd to cut into pieces (spans before their resource): walked
        // by serde_json reading the file.
        let resource_last = one_line
            .replace(r#""resource":{"attributes":[]},"#, "")
            .replace(r#"}]}]}"#, r#"}]}],"resource":{"attributes":[]}}"#);
        assert_ne!(resource_last, one_line);
        assert!(!super::super::cut::assert_cut_agrees(
            resource_last.as_bytes(),
            1 << 20
        ));
        for text in [&one_line, &pretty, &with_bom, &resource_last] {
            let (took, from_disk) = streamed(text.as_bytes());
            assert!(took);
            let mut in_memory = CollectedEvents::default();
            let source = Source {
                path: "export.json".into(),
                format: SourceFormat::Otlp,
            };
            read_json(one_line.as_bytes(), &source, &mut in_memory).unwrap();
            assert_eq!(
                from_disk.events.len(),
                6,
                "a request and a response per span"
            );
            assert_eq!(from_disk.events, in_memory.events);
            assert!(from_disk.skipped.is_empty());
        }
    }

    #[test]
    fn what_is_not_one_traces_document_is_left_to_the_other_ways_untouched() {
        let line = request(&[span(1, 1, None, "chat")]).to_string();
        for text in [
            format!("{line}\n{line}\n"),
            line[..line.len() - 3].to_owned(),
            r#"{"resourceMetrics":[]}"#.to_owned(),
            format!("{line}\u{0}"),
            "\u{fffe}".to_owned(),
        ] {
            let (took, sink) = streamed(text.as_bytes());
            assert!(!took, "{text:?}");
            assert!(
                sink.events.is_empty() && sink.skipped.is_empty(),
                "{text:?}"
            );
        }
        let (took, _) = streamed(b"\xff\xfe{}");
        assert!(!took);
    }
}
