//! The reading framework: paths → files → detection → decompression →
//! framing → per-format parsing → [`Sink`].
//!
//! - Directories are walked recursively in sorted (deterministic) order, as
//!   the reading goes ([`walk`](crate::walk)): no list of every file is
//!   kept, and a subdirectory that cannot be listed goes to
//!   [`ReadStats::errors`].
//!   Hidden entries (name starting with `.`, e.g. `.git`) are skipped, symlinked
//!   directories are not followed (no cycles). An Agent Trace `metadata.json`
//!   beside an `events.jsonl` is not read on its own: the reader of
//!   `events.jsonl` merges it into the session.
//! - Formats are detected per file by content ([`detect`](crate::detect));
//!   [`ReadOptions::format`] overrides detection.
//! - `.gz` and `.zst` are recognised by their magic bytes and decompressed as
//!   a stream.
//! - Files are read in parallel (one file per worker, workers talk to the
//!   caller's thread over bounded channels), but the sink sees each file's
//!   records contiguously and files in walk order, from one thread at a time.
//!   Workers may run at most `8 × threads` files ahead of the sink, and each
//!   file's channel holds at most `CHANNEL_BATCHES × BATCH_EVENTS` events, so
//!   memory is bounded whatever the input size (Victor files, each one
//!   session, are held in memory one file at a time; a MyAgent export of
//!   16 MiB or more is parsed from the file a trace at a time, see
//!   [`myagent`](crate::myagent); OTLP of 16 MiB or more, JSON or
//!   protobuf, or OTLP JSONL of any size, is read from disk twice instead,
//!   see [`otlp`](crate::otlp)).
//! - In a directory walk, files that are no trace (binary, non-JSON text such
//!   as `.md`/`.csv`/`.html`, JSON of an unknown shape) are listed in
//!   [`ReadStats::ignored`]; files that look like a trace but are broken as a
//!   whole, or cannot be opened, go to [`ReadStats::errors`]. Neither stops
//!   the walk. A file named explicitly that cannot be read is an error
//!   returned by [`read_paths`]/[`read_file`].

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::{Mutex, PoisonError};

use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use encoding_rs_io::DecodeReaderBytesBuilder;

use loupe_model::{Event, SourceFormat, UnreadMember};
use serde_json::{Map, Value};

use crate::agent_trace::AgentTraceReader;
use crate::attocode_py::AttocodePyReader;
use crate::attocode_ts::AttocodeTsReader;
use crate::attoswarm::AttoswarmReader;
use crate::canonical::CanonicalReader;
use crate::common::{drive_lines, file_stem_session, LineParser, READ_BUFFER_BYTES};
use crate::detect::{sniff, Sniff};
use crate::walk::{Item, Walk};
use crate::{ReadError, Sink, Skipped, Source};

/// Bytes examined for format detection.
const SNIFF_BYTES: u64 = 64 * 1024;
/// Events per message from a worker to the caller's thread.
///
/// Kept small (with [`CHANNEL_BATCHES`]) so the events in flight stay in
/// cache and their memory is reused: with 512 × 8 the 2-thread read took a
/// quarter more CPU per MB and twice the peak RSS (docs/benchmarks.md).
const BATCH_EVENTS: usize = 128;
/// Messages buffered per file in flight before its worker waits.
const CHANNEL_BATCHES: usize = 4;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// How to read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Read every file as this format instead of detecting it (`--format`).
    pub format: Option<SourceFormat>,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// Payload members the caller never looks at (`loupe stats` does not
    /// need tool arguments or results). Readers may leave them out of
    /// [`Event::data`](loupe_model::Event) rather than build them: a hint,
    /// which the line readers that reshape fields (attocode-py,
    /// attocode-ts) take, after checking the member's syntax all the same.
    /// Members bound to a kind are left out where the reader knows the
    /// line's kind before its payload (attocode-py as its writer orders
    /// lines).
    pub unread_payload: &'static [UnreadMember],
}

/// A file a directory walk passed over because it is no trace.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Ignored {
    /// The file.
    pub path: PathBuf,
    /// Why (binary, not JSON, JSON of an unknown shape).
    pub reason: String,
}

/// What a read did.
#[derive(Debug, Default)]
pub struct ReadStats {
    /// Files read. Their paths and formats reach the sink, in
    /// [`Sink::begin`]; they are not listed here, so that what a read keeps
    /// does not grow with the number of files.
    pub files: u64,
    /// Files read, by the format each was read as.
    pub formats: BTreeMap<SourceFormat, u64>,
    /// Events delivered to the sink.
    pub events: u64,
    /// Records skipped (also delivered to the sink).
    pub skipped: u64,
    /// Bytes of input read (on disk, before decompression).
    pub bytes: u64,
    /// Files of a directory walk that are not traces.
    pub ignored: Vec<Ignored>,
    /// Files that could not be read: of a directory walk (I/O errors), and
    /// files named explicitly that could not be read or are no trace, when
    /// other files were read (when none was, the first is the read's error).
    pub errors: Vec<ReadError>,
}

/// Whether `format` is read line by line (JSONL). Only those formats support
/// [`read_bytes_from`] (incremental tails).
pub fn is_line_oriented(format: SourceFormat) -> bool {
    match format {
        SourceFormat::Loupe
        | SourceFormat::AttocodeTs
        | SourceFormat::AttocodePy
        | SourceFormat::AttocodePyLegacy
        | SourceFormat::AgentTrace
        | SourceFormat::Attoswarm => true,
        SourceFormat::MyAgent
        | SourceFormat::VictorWorkflow
        | SourceFormat::VictorExecution
        | SourceFormat::Otlp => false,
    }
}

/// Whether binary bytes are an OTLP protobuf `ExportTraceServiceRequest`
/// (asks the OTLP module, which reads a request cut short by the end of
/// the sniffed prefix as far as it goes).
pub(crate) fn looks_like_otlp_proto(bytes: &[u8]) -> bool {
    crate::otlp::looks_like_proto(bytes)
}

/// For `map_err`: an I/O error reading `path`, failing its read.
fn io_failure(path: &Path) -> impl Fn(io::Error) -> Failure + Copy + '_ {
    move |error| Failure::Error(ReadError::io_at(path)(error))
}

/// Opens the input of a read again, from its start, giving what the first
/// opening gave (decompressed, after any byte order mark): how a reader goes
/// over a file twice instead of holding it.
pub(crate) type Reopen<'a> = &'a dyn Fn() -> io::Result<Box<dyn BufRead>>;

/// Whether OTLP input starting with `head` is protobuf rather than JSON,
/// judged on its first 64 KiB whatever the read buffer holds.
fn is_protobuf(head: &[u8]) -> bool {
    crate::detect::looks_binary(&head[..head.len().min(64 * 1024)])
}

/// Reads whole-file formats by handing the bytes to their modules.
fn read_whole(bytes: &[u8], source: &Source, sink: &mut dyn Sink) -> Result<(), ReadError> {
    match source.format {
        SourceFormat::MyAgent => crate::myagent::read(bytes, source, sink),
        SourceFormat::VictorWorkflow | SourceFormat::VictorExecution => {
            crate::victor::read(bytes, source, sink)
        }
        SourceFormat::Otlp if is_protobuf(bytes) => crate::otlp::read_proto(bytes, source, sink),
        SourceFormat::Otlp => crate::otlp::read_json(bytes, source, sink),
        // Line-oriented formats never get here.
        other => Err(ReadError::Invalid {
            path: source.path.clone(),
            format: other,
            reason: "internal: a line-oriented format was read as a whole file".to_owned(),
        }),
    }
}

/// Reads every path (files, or directories walked recursively) into `sink`.
pub fn read_paths(
    paths: &[PathBuf],
    opts: &ReadOptions,
    sink: &mut (dyn Sink + Send),
) -> Result<ReadStats, ReadError> {
    let mut stats = ReadStats::default();
    let mut walk = Walk::new(paths)?;
    let threads = worker_threads(opts, &mut walk);
    let mut named_failures = Vec::new();
    let mut record = |item: &Item, outcome: Outcome, stats: &mut ReadStats| {
        record_outcome(item, outcome, stats, &mut named_failures);
    };
    if threads <= 1 {
        while let Some((_, item)) = walk.next_numbered() {
            let mut counting = Counting {
                inner: &mut *sink,
                events: 0,
                skipped: 0,
            };
            let outcome = read_one(&item.path, opts, &mut counting);
            stats.events += counting.events;
            stats.skipped += counting.skipped;
            record(&item, outcome, &mut stats);
        }
    } else {
        walk = read_parallel(walk, opts, threads, sink, &mut stats, &mut record);
    }
    stats.errors.extend(walk.into_errors());
    finish(stats, named_failures)
}

/// A read's result: an error when nothing could be read and a file named
/// explicitly is why (`loupe view notes.md`); otherwise the stats, the
/// named files that failed among its errors, so one bad file in a list
/// (or in a shell glob) does not cost the others.
fn finish(mut stats: ReadStats, named_failures: Vec<ReadError>) -> Result<ReadStats, ReadError> {
    let mut failures = named_failures.into_iter();
    if stats.files == 0 {
        if let Some(first) = failures.next() {
            return Err(first);
        }
    }
    stats.errors.extend(failures);
    Ok(stats)
}

/// Reads every path like [`read_paths`], but each file into its own sink on
/// the worker thread that parses it: `open` makes the sink, `close` turns it
/// into a result there, and `each` gets the results on the calling thread in
/// walk order, with the file's path.
///
/// A sink may also hand results on before its file ends, through the
/// [`HandOn`] that `open` gets: `each` then gets them, in the order they were
/// handed on, before the file's closing result (its third argument, `true`
/// only for that last one). A file of many sessions need not then hold all
/// their results until it ends.
///
/// Use it when the work on a file's events can be done on its own (counting,
/// assembling and analysing its sessions): events are then made, used and
/// freed on one thread. Handing them to another thread, as [`read_paths`]
/// must, costs more than the parse on two cores — a cross-thread free per
/// allocation — so reading with two workers took more wall time than with one
/// (docs/benchmarks.md, "Reading").
///
/// Memory is bounded by `8 × threads` files in flight: a worker waits while
/// that many results are ahead of the one `each` waits for. Results handed
/// on by a file other than the one `each` waits for are held until it is
/// that file's turn. A panic in `open`, `close` or a reader is re-raised on
/// the calling thread.
pub fn read_paths_per_file<S, R>(
    paths: &[PathBuf],
    opts: &ReadOptions,
    open: &(dyn Fn(HandOn<R>) -> S + Sync),
    close: &(dyn Fn(S) -> R + Sync),
    each: &mut dyn FnMut(&Path, R, bool),
) -> Result<ReadStats, ReadError>
where
    S: Sink,
    R: Send,
{
    let mut walk = Walk::new(paths)?;
    let threads = worker_threads(opts, &mut walk);
    let mut stats = ReadStats::default();
    let mut named_failures = Vec::new();
    let (msg_tx, msg_rx) = unbounded::<FileMsg<R>>();
    let work = |i: usize, item: &Item, to: &Sender<FileMsg<R>>| {
        let mut counting = Counting {
            inner: open(HandOn {
                file: i,
                path: item.path.as_path().into(),
                to: to.clone(),
            }),
            events: 0,
            skipped: 0,
        };
        let outcome = read_one(&item.path, opts, &mut counting);
        let (events, skipped) = (counting.events, counting.skipped);
        (outcome, events, skipped, close(counting.inner))
    };
    let mut deliver = |item: &Item,
                       (outcome, events, skipped, result): FileDone<R>,
                       each: &mut dyn FnMut(&Path, R, bool)| {
        stats.events += events;
        stats.skipped += skipped;
        record_outcome(item, outcome, &mut stats, &mut named_failures);
        each(&item.path, result, true);
    };
    // Even one worker runs beside this thread, which hands on its results
    // as they come.
    let walk_shared = Mutex::new(walk);
    let (token_tx, token_rx) = read_ahead_tokens(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (msg_tx, token_rx, walk, work) =
                (msg_tx.clone(), token_rx.clone(), &walk_shared, &work);
            scope.spawn(move || loop {
                if token_rx.recv().is_err() {
                    break;
                }
                let Some((i, item)) = next_item(walk) else {
                    break;
                };
                let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work(i, &item, &msg_tx)
                }));
                let panicked = done.is_err();
                if msg_tx.send(FileMsg::Done(i, item, done)).is_err() || panicked {
                    break;
                }
            });
        }
        drop(msg_tx);
        let mut pending: HashMap<usize, (Item, FileDone<R>)> = HashMap::new();
        let mut handed_early: HashMap<usize, Vec<(std::sync::Arc<Path>, R)>> = HashMap::new();
        let mut next_emit = 0;
        // Ends when every worker has stopped: the walk is done and all it
        // handed out has been sent (the sinks' `HandOn`s are gone with them).
        while let Ok(msg) = msg_rx.recv() {
            match msg {
                FileMsg::Part(i, path, part) if i == next_emit => each(&path, part, false),
                FileMsg::Part(i, path, part) => {
                    handed_early.entry(i).or_default().push((path, part))
                }
                FileMsg::Done(i, item, Ok(done)) => {
                    pending.insert(i, (item, done));
                }
                FileMsg::Done(_, _, Err(panic)) => {
                    // Wake and stop the other workers, then re-raise.
                    drop(token_rx);
                    drop(token_tx);
                    std::panic::resume_unwind(panic);
                }
            }
            while let Some((item, done)) = pending.remove(&next_emit) {
                deliver(&item, done, &mut *each);
                next_emit += 1;
                let _ = token_tx.send(());
                for (path, part) in handed_early.remove(&next_emit).into_iter().flatten() {
                    each(&path, part, false);
                }
            }
        }
        drop(token_tx);
    });
    walk = walk_shared
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner);
    stats.errors.extend(walk.into_errors());
    finish(stats, named_failures)
}

/// What a worker of [`read_paths_per_file`] tells the calling thread.
enum FileMsg<R> {
    /// A result handed on before file `0` ended.
    Part(usize, std::sync::Arc<Path>, R),
    /// File `0` is read (or its worker panicked).
    Done(usize, Item, std::thread::Result<FileDone<R>>),
}

/// A file's way to hand results to [`read_paths_per_file`]'s caller before
/// the file ends; given to the file's sink when it is made.
pub struct HandOn<R> {
    file: usize,
    path: std::sync::Arc<Path>,
    to: Sender<FileMsg<R>>,
}

impl<R> HandOn<R> {
    /// Hands `part` on: the caller gets it after what this file handed on
    /// before, and before the file's closing result.
    pub fn hand_on(&self, part: R) {
        // The receiver outlives every worker; a failed send means the read
        // is being torn down by a panic, which is re-raised there.
        let _ = self.to.send(FileMsg::Part(
            self.file,
            std::sync::Arc::clone(&self.path),
            part,
        ));
    }
}

/// The read-ahead window of parallel reading: a worker takes a token before
/// starting a file and the delivering thread returns it once that file is
/// delivered. Without it, small files (which fit in their channel) are read
/// far ahead of a slow consumer and memory grows with the number of files.
fn read_ahead_tokens(threads: usize) -> (Sender<()>, Receiver<()>) {
    let window = threads * 8;
    let (token_tx, token_rx) = bounded::<()>(window);
    for _ in 0..window {
        let _ = token_tx.send(());
    }
    (token_tx, token_rx)
}

/// The next file of a walk shared by workers.
fn next_item(walk: &Mutex<Walk>) -> Option<(usize, Item)> {
    walk.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .next_numbered()
}

/// What a worker of [`read_paths_per_file`] returns for one file: how it went,
/// events and skipped records read, and the closed sink's result.
type FileDone<R> = (Outcome, u64, u64, R);

/// Workers for a read: [`ReadOptions::threads`] (0: one per core), at most
/// one per file.
fn worker_threads(opts: &ReadOptions, walk: &mut Walk) -> usize {
    let wanted = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    (1..=wanted)
        .rev()
        .find(|&n| walk.has_at_least(n))
        .unwrap_or(1)
}

/// Adds a file's outcome to `stats`; an explicitly named file that could not
/// be read, or is no trace, goes to `named_failures` (see [`finish`]).
fn record_outcome(
    item: &Item,
    outcome: Outcome,
    stats: &mut ReadStats,
    named_failures: &mut Vec<ReadError>,
) {
    match outcome {
        Outcome::Read { format, bytes } => {
            stats.files += 1;
            *stats.formats.entry(format).or_default() += 1;
            stats.bytes += bytes;
        }
        Outcome::Failed(failure) => {
            if item.explicit {
                named_failures.push(failure.into_error(&item.path));
            } else {
                match failure {
                    Failure::NotTrace(reason) => stats.ignored.push(Ignored {
                        path: item.path.clone(),
                        reason,
                    }),
                    Failure::Error(e) => stats.errors.push(e),
                }
            }
        }
    }
}

/// Reads one file (format detected unless forced). A file that is no trace
/// is an error here.
pub fn read_file(
    path: &Path,
    opts: &ReadOptions,
    sink: &mut (dyn Sink + Send),
) -> Result<ReadStats, ReadError> {
    read_paths(&[path.to_path_buf()], opts, sink)
}

/// Reads a file's bytes (plain, gzip or zstd). `path_for_messages` names the
/// input in skipped records and errors; nothing is read from disk (an Agent
/// Trace `metadata.json` is not merged). Returns the format read.
pub fn read_bytes(
    bytes: &[u8],
    path_for_messages: &Path,
    format: Option<SourceFormat>,
    sink: &mut dyn Sink,
) -> Result<SourceFormat, ReadError> {
    let ctx = FileCtx {
        path: path_for_messages,
        forced: format,
        load_sidecars: false,
        session_hint: None,
        first_line: 1,
        size: Some(bytes.len() as u64),
        reopenable: false,
    };
    read_stream(Box::new(bytes), &ctx, sink).map_err(|f| f.into_error(path_for_messages))
}

/// Reads the tail of a line-oriented file: `bytes` start at line `first_line`
/// (1-based) of the file, so reported line numbers and derived event ids are
/// the same as in a full read. `session_hint` is the session id to use until a
/// line names one (attocode-ts names its session only in `session.start`;
/// without a hint the file stem of `path_for_messages` is used, as a full
/// read of a file without `session.start` would). Bytes must be plain text.
pub fn read_bytes_from(
    bytes: &[u8],
    path_for_messages: &Path,
    format: SourceFormat,
    first_line: u64,
    session_hint: Option<String>,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    if !is_line_oriented(format) {
        return Err(ReadError::Invalid {
            path: path_for_messages.to_path_buf(),
            format,
            reason: "not a line-oriented format: it can only be read whole".to_owned(),
        });
    }
    let source = Source {
        path: path_for_messages.to_path_buf(),
        format,
    };
    let ctx = FileCtx {
        path: path_for_messages,
        forced: Some(format),
        load_sidecars: false,
        session_hint,
        first_line,
        size: Some(bytes.len() as u64),
        reopenable: false,
    };
    let bytes = match bytes.strip_prefix(BOM) {
        Some(rest) if first_line == 1 => rest,
        _ => bytes,
    };
    let mut parser = line_parser(&ctx, format);
    sink.begin(&source);
    let result = drive_lines(bytes, first_line, &source, parser.as_mut(), sink);
    sink.end(&source);
    result
}

/// Why a file was not read.
enum Failure {
    /// Not a trace (binary, not JSON, unknown JSON).
    NotTrace(String),
    /// Unreadable or broken.
    Error(ReadError),
}

impl Failure {
    fn into_error(self, path: &Path) -> ReadError {
        match self {
            Failure::NotTrace(reason) => ReadError::Unrecognized {
                path: path.to_path_buf(),
                reason,
            },
            Failure::Error(e) => e,
        }
    }
}

enum Outcome {
    Read { format: SourceFormat, bytes: u64 },
    Failed(Failure),
}

/// Everything a reader of one file needs besides the bytes.
struct FileCtx<'a> {
    path: &'a Path,
    forced: Option<SourceFormat>,
    /// Read sibling files (Agent Trace `metadata.json`) from disk.
    load_sidecars: bool,
    session_hint: Option<String>,
    first_line: u64,
    /// Bytes in the input, when known (a regular file's size).
    size: Option<u64>,
    /// The input is the regular file at `path`, which can be opened again
    /// (a reader may go over it twice instead of holding it).
    reopenable: bool,
}

fn read_one(path: &Path, opts: &ReadOptions, sink: &mut dyn Sink) -> Outcome {
    let _unread = crate::fields::leave_out(opts.unread_payload);
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(io_failure(path)(e)),
    };
    let metadata = file.metadata().ok();
    let bytes = metadata.as_ref().map_or(0, |m| m.len());
    let ctx = FileCtx {
        path,
        forced: opts.format,
        load_sidecars: true,
        session_hint: None,
        first_line: 1,
        // Only a regular file's size says how much one read can return (a
        // FIFO's is 0, and its reads stop at whatever was written so far).
        size: metadata.as_ref().filter(|m| m.is_file()).map(|m| m.len()),
        reopenable: metadata.is_some_and(|m| m.is_file()),
    };
    let reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
    match read_stream(Box::new(reader), &ctx, sink) {
        Ok(format) => Outcome::Read { format, bytes },
        Err(f) => Outcome::Failed(f),
    }
}

/// Decompresses if needed, detects, then reads line by line or whole.
fn read_stream(
    input: Box<dyn BufRead + '_>,
    ctx: &FileCtx<'_>,
    sink: &mut dyn Sink,
) -> Result<SourceFormat, Failure> {
    let io_failure = io_failure(ctx.path);
    let mut input = input;
    let head = input.fill_buf().map_err(io_failure)?;
    let compressed = head.starts_with(GZIP_MAGIC) || head.starts_with(ZSTD_MAGIC);
    let utf16 = is_utf16(head);
    // Plain UTF-8 input whose first buffer holds the whole sniffing prefix
    // (nearly always: the buffer is larger) is detected in place and read
    // from the same buffer, with no copy of the prefix.
    let whole_prefix = head.len() as u64 >= ctx.size.unwrap_or(u64::MAX).min(SNIFF_BYTES);
    if !compressed && !utf16 && whole_prefix {
        let prefix = &head[..head.len().min(SNIFF_BYTES as usize)];
        let format = detect(prefix, ctx)?;
        let reopen = || -> io::Result<Box<dyn BufRead>> {
            let mut file = BufReader::with_capacity(READ_BUFFER_BYTES, File::open(ctx.path)?);
            skip_bom(&mut file)?;
            Ok(Box::new(file))
        };
        let reopen: Option<Reopen<'_>> = ctx.reopenable.then_some(&reopen);
        return read_detected(input, format, ctx, ctx.size, reopen, sink);
    }
    let cut: CutNote = Rc::default();
    let mut stream = decoded(input, &cut).map_err(io_failure)?;
    let mut prefix = Vec::with_capacity(SNIFF_BYTES as usize);
    stream
        .by_ref()
        .take(SNIFF_BYTES)
        .read_to_end(&mut prefix)
        .map_err(io_failure)?;
    let format = detect(&prefix, ctx)?;
    let whole = BufReader::with_capacity(READ_BUFFER_BYTES, Cursor::new(prefix).chain(stream));
    // A regular file is decoded again rather than held (its decoded size
    // is unknown).
    let reopen = || -> io::Result<Box<dyn BufRead>> {
        let file = BufReader::with_capacity(READ_BUFFER_BYTES, File::open(ctx.path)?);
        let mut again = BufReader::with_capacity(READ_BUFFER_BYTES, decoded(Box::new(file), &cut)?);
        skip_bom(&mut again)?;
        Ok(Box::new(again))
    };
    let reopen: Option<Reopen<'_>> = ctx.reopenable.then_some(&reopen);
    let format = read_detected(Box::new(whole), format, ctx, None, reopen, sink)?;
    if let Some(reason) = cut.take() {
        sink.skip(Skipped::new(ctx.path, None, reason));
    }
    Ok(format)
}

/// Where [`CutShort`] notes that a compressed stream ended early.
type CutNote = Rc<Cell<Option<String>>>;

/// A decompressor whose data is cut short (the log of a writer that
/// crashed, a copy made while it was written) ends where the data ends:
/// what was decoded is read, as a torn plain file would be, and the cut is
/// noted for the caller to report. A stream that decodes nothing at all,
/// or whose data is corrupt rather than cut, stays an error.
struct CutShort<R> {
    inner: R,
    decoded: u64,
    cut: CutNote,
}

impl<R: Read> Read for CutShort<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.decoded += n as u64;
                Ok(n)
            }
            // Only a stream that ends early (`UnexpectedEof` from both
            // decoders) is a cut; corrupt data stays an error.
            Err(e) if e.kind() != io::ErrorKind::UnexpectedEof => Err(e),
            Err(e) if self.decoded == 0 => Err(io::Error::new(
                e.kind(),
                format!("compressed data cut short before anything could be decoded ({e})"),
            )),
            Err(e) => {
                self.cut.set(Some(format!(
                    "compressed data cut short after {} decoded bytes ({e}); what came before was read",
                    self.decoded
                )));
                Ok(0)
            }
        }
    }
}

/// `input` decompressed (gzip or zstd, by its magic bytes) and, when it is
/// UTF-16 with its byte order mark (what Windows PowerShell's `>` writes),
/// decoded to UTF-8; any other input passes through unchanged, invalid
/// UTF-8 included (the line readers report it). A UTF-8 byte order mark is
/// dropped.
fn decoded<'a>(mut input: Box<dyn BufRead + 'a>, cut: &CutNote) -> io::Result<Box<dyn Read + 'a>> {
    let head = input.fill_buf()?;
    let cut_short = |inner: Box<dyn Read + 'a>| -> Box<dyn Read + 'a> {
        Box::new(CutShort {
            inner,
            decoded: 0,
            cut: Rc::clone(cut),
        })
    };
    let stream: Box<dyn Read + 'a> = if head.starts_with(GZIP_MAGIC) {
        cut_short(Box::new(flate2::bufread::MultiGzDecoder::new(input)))
    } else if head.starts_with(ZSTD_MAGIC) {
        cut_short(Box::new(zstd::stream::read::Decoder::with_buffer(input)?))
    } else {
        Box::new(input)
    };
    Ok(Box::new(
        DecodeReaderBytesBuilder::new()
            .utf8_passthru(true)
            .strip_bom(true)
            .build(stream),
    ))
}

/// The format of an input starting with `prefix`: the forced one, else the
/// one its content shows.
fn detect(prefix: &[u8], ctx: &FileCtx<'_>) -> Result<SourceFormat, Failure> {
    if let Some(f) = ctx.forced {
        return Ok(f);
    }
    match sniff(prefix) {
        Sniff::Format(f) => Ok(f),
        Sniff::Binary => Err(Failure::NotTrace("binary data, not a trace".to_owned())),
        Sniff::NotJson if prefix.iter().all(u8::is_ascii_whitespace) => {
            Err(Failure::NotTrace("empty file".to_owned()))
        }
        Sniff::NotJson => Err(Failure::NotTrace("text that is not JSON".to_owned())),
        Sniff::ForeignJson(what) => Err(Failure::NotTrace(what)),
    }
}

/// Reads a whole (decompressed) input, from its start, as `format`.
/// `size`: its length, when known; `reopen`: how to read it again from its
/// start, when it can be (a regular file).
fn read_detected(
    mut input: Box<dyn BufRead + '_>,
    format: SourceFormat,
    ctx: &FileCtx<'_>,
    size: Option<u64>,
    reopen: Option<Reopen<'_>>,
    sink: &mut dyn Sink,
) -> Result<SourceFormat, Failure> {
    let source = Source {
        path: ctx.path.to_path_buf(),
        format,
    };
    skip_bom(&mut *input).map_err(io_failure(ctx.path))?;
    if is_line_oriented(format) {
        let mut parser = line_parser(ctx, format);
        sink.begin(&source);
        let result = drive_lines(input, ctx.first_line, &source, parser.as_mut(), sink);
        sink.end(&source);
        result.map_err(Failure::Error)?;
    } else if let Some(reopen) = reopen.filter(|_| format == SourceFormat::Otlp) {
        // OTLP from a file: gone over twice rather than held whole.
        sink.begin(&source);
        let result = read_otlp_twice(&mut *input, size, reopen, &source, sink);
        sink.end(&source);
        result.map_err(Failure::Error)?;
    } else if format == SourceFormat::MyAgent
        && reopen.is_some()
        && size.is_none_or(|n| n >= STREAMED_DOCUMENT)
    {
        // A large (or compressed) MyAgent export: parsed from the input,
        // its traces mapped one at a time.
        sink.begin(&source);
        let result = crate::myagent::read_from(&mut *input, reopen, &source, sink);
        sink.end(&source);
        result.map_err(Failure::Error)?;
    } else if reopen.is_none() && matches!(format, SourceFormat::Otlp | SourceFormat::MyAgent) {
        // From a pipe, formats read in two passes are held when small, else
        // written to a temporary file as they arrive and read from there
        // like any file.
        let mut bytes = Vec::new();
        (&mut input)
            .take(SPOOL_FROM)
            .read_to_end(&mut bytes)
            .map_err(io_failure(ctx.path))?;
        let spooled = if bytes.len() as u64 == SPOOL_FROM {
            match spool(&bytes, &mut *input).map_err(io_failure(ctx.path))? {
                Some(file) => {
                    bytes = Vec::new();
                    Some(file)
                }
                None => None,
            }
        } else {
            None
        };
        sink.begin(&source);
        let result = match &spooled {
            Some(file) => {
                let reopen = || -> io::Result<Box<dyn BufRead>> {
                    Ok(Box::new(BufReader::with_capacity(
                        READ_BUFFER_BYTES,
                        file.reopen()?,
                    )))
                };
                let size = file.as_file().metadata().map(|m| m.len()).ok();
                match reopen() {
                    Ok(mut first) if format == SourceFormat::Otlp => {
                        read_otlp_twice(&mut *first, size, &reopen, &source, sink)
                    }
                    Ok(first) => crate::myagent::read_from(first, Some(&reopen), &source, sink),
                    Err(error) => Err(ReadError::io_at(ctx.path)(error)),
                }
            }
            None => {
                // Smaller than the spooling size, or no temporary file
                // could be made: held.
                input
                    .read_to_end(&mut bytes)
                    .map_err(ReadError::io_at(ctx.path))
                    .and_then(|_| read_whole(&bytes, &source, sink))
            }
        };
        sink.end(&source);
        result.map_err(Failure::Error)?;
    } else {
        // Room for the whole file at once: growing by doubling would copy
        // a large document several times over.
        let room = ctx
            .size
            .and_then(|n| usize::try_from(n).ok())
            .map_or(0, |n| n.saturating_add(1));
        let mut bytes = Vec::with_capacity(room);
        input
            .read_to_end(&mut bytes)
            .map_err(io_failure(ctx.path))?;
        sink.begin(&source);
        let result = read_whole(&bytes, &source, sink);
        sink.end(&source);
        result.map_err(Failure::Error)?;
    }
    Ok(format)
}

/// Reads OTLP that can be read again from its start (`reopen`), JSON or
/// protobuf, in two passes without holding it whole.
fn read_otlp_twice(
    input: &mut dyn BufRead,
    size: Option<u64>,
    reopen: Reopen<'_>,
    source: &Source,
    sink: &mut dyn Sink,
) -> Result<(), ReadError> {
    if input.fill_buf().is_ok_and(is_protobuf) {
        crate::otlp::read_proto_file(input, size, reopen, source, sink)
    } else {
        crate::otlp::read_json_file(input, size, reopen, source, sink)
    }
}

/// MyAgent exports from this size on (or of unknown size) are parsed from
/// the file rather than read into memory first, so their reader maps them
/// a trace at a time (OTLP has its own threshold, in `otlp/file.rs`).
const STREAMED_DOCUMENT: u64 = 16 << 20;

/// OTLP or a MyAgent export read from a pipe larger than this is written
/// to a temporary file ([`spool`]) rather than held: reading it takes two
/// passes. Small, so what is held first stays small too.
const SPOOL_FROM: u64 = 1 << 20;

/// `head` and the rest of `input` written to a new temporary file (deleted
/// when dropped), or `None`, with nothing consumed past `head`, when no
/// temporary file can be made.
fn spool(head: &[u8], input: &mut dyn BufRead) -> io::Result<Option<tempfile::NamedTempFile>> {
    let Ok(mut file) = tempfile::NamedTempFile::new() else {
        return Ok(None);
    };
    let mut out = BufWriter::with_capacity(READ_BUFFER_BYTES, &mut file);
    out.write_all(head)?;
    io::copy(input, &mut out)?;
    out.flush()?;
    drop(out);
    Ok(Some(file))
}

/// The UTF-8 byte order mark some Windows tools put before JSON.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Whether `prefix` starts with a UTF-16 byte order mark (little- or
/// big-endian): text the readers decode to UTF-8 first, so byte offsets in
/// the file are no line boundaries of what they read.
pub fn is_utf16(prefix: &[u8]) -> bool {
    prefix.starts_with(b"\xFF\xFE") || prefix.starts_with(b"\xFE\xFF")
}

/// Whether a UTF-16 byte order mark (see [`is_utf16`]) says big-endian.
pub fn is_utf16_big_endian(prefix: &[u8]) -> bool {
    prefix.starts_with(b"\xFE\xFF")
}

/// The whole lines at the start of UTF-16 text (after its byte order
/// mark), decoded to UTF-8: the bytes they take and their text. What
/// follows the last newline (a line still being written, or half a code
/// unit) is left for later, as line readers leave a partial line. For
/// following a growing UTF-16 file (`loupe tail`); unpaired surrogates
/// become U+FFFD.
pub fn utf16_whole_lines(bytes: &[u8], big_endian: bool) -> (usize, String) {
    let newline: [u8; 2] = if big_endian { [0, b'\n'] } else { [b'\n', 0] };
    let end = bytes
        .chunks_exact(2)
        .rposition(|unit| unit == newline)
        .map_or(0, |i| 2 * i + 2);
    let encoding = if big_endian {
        encoding_rs::UTF_16BE
    } else {
        encoding_rs::UTF_16LE
    };
    let (text, _) = encoding.decode_without_bom_handling(&bytes[..end]);
    (end, text.into_owned())
}

/// Skips a byte order mark at the start of `input`: JSON parsers refuse
/// it, and it would cost a line-oriented file its first line (detection
/// already looks past it).
fn skip_bom(input: &mut dyn BufRead) -> io::Result<()> {
    if input.fill_buf()?.starts_with(BOM) {
        input.consume(BOM.len());
    }
    Ok(())
}

/// The parser for a line-oriented format.
fn line_parser(ctx: &FileCtx<'_>, format: SourceFormat) -> Box<dyn LineParser> {
    let fallback = || {
        ctx.session_hint
            .clone()
            .unwrap_or_else(|| file_stem_session(ctx.path))
    };
    match format {
        SourceFormat::AttocodeTs => Box::new(AttocodeTsReader::new(fallback())),
        SourceFormat::AttocodePy | SourceFormat::AttocodePyLegacy => {
            Box::new(AttocodePyReader::new(fallback()))
        }
        SourceFormat::AgentTrace => {
            let (metadata, problem) = if ctx.load_sidecars {
                agent_trace_metadata(ctx.path)
            } else {
                (None, None)
            };
            let fallback = ctx
                .session_hint
                .clone()
                .unwrap_or_else(|| agent_trace_dir_session(ctx.path));
            Box::new(AgentTraceReader::new(fallback, metadata, problem))
        }
        SourceFormat::Attoswarm => {
            Box::new(AttoswarmReader::new(ctx.path, ctx.session_hint.clone()))
        }
        // Canonical lines name their session; whole-file formats never get here.
        _ => Box::new(CanonicalReader::default()),
    }
}

/// The `metadata.json` beside an Agent Trace `events.jsonl`, when there is
/// one; else, when one is there but cannot be used, why (a skipped record:
/// the events are read without it).
fn agent_trace_metadata(events_path: &Path) -> (Option<Map<String, Value>>, Option<Skipped>) {
    let Some(meta_path) = events_path.parent().map(|dir| dir.join("metadata.json")) else {
        return (None, None);
    };
    let problem = |reason: String| (None, Some(Skipped::new(&meta_path, None, reason)));
    let bytes = match std::fs::read(&meta_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (None, None),
        Err(e) => return problem(format!("cannot read it ({e}); session metadata left out")),
    };
    let text = bytes.strip_prefix(BOM).unwrap_or(&bytes);
    let parsed = serde_json::from_slice(text).or_else(|e| match crate::lenient::repair(text) {
        Some(repaired) => serde_json::from_slice(&repaired),
        None => Err(e),
    });
    match parsed {
        Ok(Value::Object(map)) => (Some(map), None),
        Ok(_) => problem("not a JSON object; session metadata left out".to_owned()),
        Err(e) => problem(format!("invalid JSON ({e}); session metadata left out")),
    }
}

/// `session-{id}` directory → `{id}`.
fn agent_trace_dir_session(events_path: &Path) -> String {
    events_path
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .map(|n| n.strip_prefix("session-").map(str::to_owned).unwrap_or(n))
        .unwrap_or_else(|| file_stem_session(events_path))
}

/// Counts what passes through to a sink (owned, or `&mut` the caller's).
struct Counting<S> {
    inner: S,
    events: u64,
    skipped: u64,
}

impl<S: Sink> Sink for Counting<S> {
    fn begin(&mut self, source: &Source) {
        self.inner.begin(source);
    }
    fn event(&mut self, source: &Source, event: Event) {
        self.events += 1;
        self.inner.event(source, event);
    }
    fn skip(&mut self, skipped: Skipped) {
        self.skipped += 1;
        self.inner.skip(skipped);
    }
    fn session_done(&mut self, source: &Source, session_id: &str) {
        self.inner.session_done(source, session_id);
    }
    fn end(&mut self, source: &Source) {
        self.inner.end(source);
    }
}

/// A message from a worker about the file it reads.
enum Msg {
    Begin(Source),
    Events(Vec<Event>),
    Skip(Skipped),
    SessionDone(Source, String),
    End(Source),
    Done(Outcome),
}

/// A [`Sink`] that batches records and sends them to the caller's thread.
struct ChannelSink {
    tx: Sender<Msg>,
    batch: Vec<Event>,
}

impl ChannelSink {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_EVENTS));
            // A closed channel means the caller stopped listening; drop quietly.
            let _ = self.tx.send(Msg::Events(batch));
        }
    }
}

impl Sink for ChannelSink {
    fn begin(&mut self, source: &Source) {
        let _ = self.tx.send(Msg::Begin(source.clone()));
    }
    fn event(&mut self, _source: &Source, event: Event) {
        self.batch.push(event);
        if self.batch.len() >= BATCH_EVENTS {
            self.flush();
        }
    }
    fn skip(&mut self, skipped: Skipped) {
        self.flush();
        let _ = self.tx.send(Msg::Skip(skipped));
    }
    fn session_done(&mut self, source: &Source, session_id: &str) {
        self.flush();
        let _ = self
            .tx
            .send(Msg::SessionDone(source.clone(), session_id.to_owned()));
    }
    fn end(&mut self, source: &Source) {
        self.flush();
        let _ = self.tx.send(Msg::End(source.clone()));
    }
}

/// Workers read files in parallel; this thread delivers their records to
/// `sink` file by file, in order. Each worker holds one file at a time and
/// announces its channel when it starts, so the file the caller waits for is
/// always being read and nothing can deadlock.
fn read_parallel(
    walk: Walk,
    opts: &ReadOptions,
    threads: usize,
    sink: &mut (dyn Sink + Send),
    stats: &mut ReadStats,
    record: &mut dyn FnMut(&Item, Outcome, &mut ReadStats),
) -> Walk {
    let walk = Mutex::new(walk);
    let (announce_tx, announce_rx) = unbounded::<(usize, Item, Receiver<Msg>)>();
    let (token_tx, token_rx) = read_ahead_tokens(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let announce_tx = announce_tx.clone();
            let token_rx = token_rx.clone();
            let walk = &walk;
            scope.spawn(move || loop {
                if token_rx.recv().is_err() {
                    break;
                }
                let Some((i, item)) = next_item(walk) else {
                    break;
                };
                let (tx, rx) = bounded(CHANNEL_BATCHES);
                if announce_tx.send((i, item.clone(), rx)).is_err() {
                    break;
                }
                let mut channel_sink = ChannelSink {
                    tx,
                    batch: Vec::with_capacity(BATCH_EVENTS),
                };
                let outcome = read_one(&item.path, opts, &mut channel_sink);
                channel_sink.flush();
                let _ = channel_sink.tx.send(Msg::Done(outcome));
            });
        }
        drop(announce_tx);
        let mut pending: HashMap<usize, (Item, Receiver<Msg>)> = HashMap::new();
        // Files in walk order, until every worker has stopped (the walk is
        // done) and all they announced has been delivered.
        for i in 0.. {
            let next = loop {
                if let Some(next) = pending.remove(&i) {
                    break Some(next);
                }
                match announce_rx.recv() {
                    Ok((j, item, rx)) => {
                        pending.insert(j, (item, rx));
                    }
                    Err(_) => break None,
                }
            };
            let Some((item, rx)) = next else { break };
            let mut current: Option<Source> = None;
            while let Ok(msg) = rx.recv() {
                match msg {
                    Msg::Begin(s) => {
                        sink.begin(&s);
                        current = Some(s);
                    }
                    Msg::Events(batch) => {
                        stats.events += batch.len() as u64;
                        let source = current.get_or_insert_with(|| Source {
                            path: item.path.clone(),
                            format: SourceFormat::Loupe,
                        });
                        for e in batch {
                            sink.event(source, e);
                        }
                    }
                    Msg::Skip(s) => {
                        stats.skipped += 1;
                        sink.skip(s);
                    }
                    Msg::SessionDone(s, id) => sink.session_done(&s, &id),
                    Msg::End(s) => sink.end(&s),
                    Msg::Done(outcome) => {
                        record(&item, outcome, stats);
                        break;
                    }
                }
            }
            let _ = token_tx.send(());
        }
        // Wakes workers still waiting for a token so the scope can end.
        drop(token_tx);
    });
    walk.into_inner().unwrap_or_else(PoisonError::into_inner)
}
