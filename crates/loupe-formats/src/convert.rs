//! `loupe convert`: read any traces and write one file per session.
//!
//! Canonical output is streamed: each event is appended to
//! `{out_dir}/{session_id}.jsonl` as it is read, so memory stays flat. Several
//! input files may feed one session (an attoswarm directory); their events
//! land in the same output file. A session file written out of time order
//! (OTLP: a span's start and end are read together, so a parent's end comes
//! before its children) is sorted by time, stably, once its reader says the
//! session is done or its input file ends: one session's lines are held at a
//! time.
//!
//! An output file that exists already is not overwritten unless the caller
//! says so ([`ExistingOutput`]); a conversion refused for one removes the
//! files it wrote before it met it.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use loupe_model::{keys, Event, EventKind};
use serde_json::Value;

use crate::canonical::CanonicalWriter;
use crate::read::{read_paths, ReadOptions, ReadStats};
use crate::{ReadError, Sink, Skipped, Source};

/// Output files kept open at once; beyond that they are closed and reopened
/// for appending, so a directory of 100,000 sessions does not exhaust file
/// descriptors.
const MAX_OPEN_OUTPUTS: usize = 128;

/// What `convert` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertTarget {
    /// Canonical Loupe JSONL, `{session_id}.jsonl`.
    Canonical,
    /// OTLP JSON, `{session_id}.otlp.json` (one `ExportTraceServiceRequest`).
    Otlp,
}

/// What `convert` does with an output file that exists before it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExistingOutput {
    /// Fail with [`ConvertError::OutputExists`], leaving no output behind.
    #[default]
    Refuse,
    /// Write over it.
    Overwrite,
}

/// One output file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConvertedSession {
    /// The session id.
    pub session_id: String,
    /// The file written.
    pub path: PathBuf,
    /// Events written.
    pub events: u64,
}

/// What `convert` did.
#[derive(Debug, Default)]
pub struct ConvertReport {
    /// One entry per session, in the order sessions were first seen.
    pub sessions: Vec<ConvertedSession>,
    /// Records that could not be read.
    pub skipped: Vec<Skipped>,
    /// The read's statistics (files, ignored files, per-file errors).
    pub read: ReadStats,
    /// Events read twice (the id and time of an earlier event of their
    /// session: a file given twice, the same traces in two exports), not
    /// written again: an event id is unique within its session.
    pub duplicates: usize,
}

/// Why `convert` failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The input could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The output directory holds input files or lies inside an input
    /// directory: output files would be written over files still being read.
    #[error("{}: the output directory {} the input {}; converting there would write over files being read (choose another --out)", out.display(), if *inside { "is inside" } else { "holds" }, input.display())]
    OutputOverlapsInput {
        /// The output directory.
        out: PathBuf,
        /// The input it overlaps.
        input: PathBuf,
        /// Whether `out` is inside the input directory (else it holds the input file).
        inside: bool,
    },
    /// An output file exists already and [`ExistingOutput::Refuse`] was
    /// asked: nothing is left written.
    #[error("{}: the output file exists already; converting would overwrite it (pass --force to overwrite, or choose another --out)", path.display())]
    OutputExists {
        /// The existing file.
        path: PathBuf,
    },
    /// An output file could not be written.
    // The I/O error is in the message, so it is not also a `source`.
    #[error("{path}: cannot write: {error}")]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
}

/// Reads `paths` and writes one output file per session into `out_dir`
/// (created if missing); `existing` says what to do with an output file
/// that is there already.
pub fn convert_paths(
    paths: &[PathBuf],
    opts: &ReadOptions,
    to: ConvertTarget,
    out_dir: &Path,
    existing: ExistingOutput,
) -> Result<ConvertReport, ConvertError> {
    check_out_dir(paths, out_dir)?;
    let created = !out_dir.exists();
    let result = convert_into(paths, opts, to, out_dir, existing);
    // A failed or empty conversion leaves no empty directory behind.
    if created && result.as_ref().map_or(true, |r| r.sessions.is_empty()) {
        let _ = std::fs::remove_dir(out_dir);
    }
    result
}

fn convert_into(
    paths: &[PathBuf],
    opts: &ReadOptions,
    to: ConvertTarget,
    out_dir: &Path,
    existing: ExistingOutput,
) -> Result<ConvertReport, ConvertError> {
    std::fs::create_dir_all(out_dir).map_err(|e| ConvertError::Write {
        path: out_dir.to_path_buf(),
        // "File exists" would not say what is wrong with it.
        error: if out_dir.exists() && !out_dir.is_dir() {
            io::Error::other("it exists and is not a directory")
        } else {
            e
        },
    })?;
    let outputs = Outputs::new(out_dir, existing);
    let (read, outputs) = match to {
        ConvertTarget::Canonical => {
            let mut sink = SessionFiles::new(outputs);
            let read = read_paths(paths, opts, &mut sink)?;
            (read, sink.finish())
        }
        ConvertTarget::Otlp => {
            let mut sink = OtlpFiles::new(outputs);
            let read = read_paths(paths, opts, &mut sink)?;
            (read, sink.finish())
        }
    };
    outputs.into_report(read)
}

/// What both output sinks keep: the files written, one per session, and
/// what the report says besides.
struct Outputs {
    out_dir: PathBuf,
    sessions: Vec<ConvertedSession>,
    /// Index into `sessions` of each session written.
    index: HashMap<String, usize>,
    skipped: Vec<Skipped>,
    duplicates: usize,
    /// The first write that failed: the conversion fails with it.
    error: Option<ConvertError>,
    existing: ExistingOutput,
}

impl Outputs {
    fn new(out_dir: &Path, existing: ExistingOutput) -> Self {
        Outputs {
            out_dir: out_dir.to_path_buf(),
            sessions: Vec::new(),
            index: HashMap::new(),
            skipped: Vec::new(),
            duplicates: 0,
            error: None,
            existing,
        }
    }

    /// The output file of `sid`, if one was named already.
    fn path_of(&self, sid: &str) -> Option<PathBuf> {
        self.index.get(sid).map(|&i| self.sessions[i].path.clone())
    }

    /// Names the output file of a session seen for the first time
    /// (`{stem}.{extension}` in the output directory) and lists it; refuses
    /// a file that exists when told to.
    fn add(&mut self, sid: &str, extension: &str) -> Result<PathBuf, ConvertError> {
        let path = self
            .out_dir
            .join(format!("{}.{extension}", session_file_stem(sid)));
        // `symlink_metadata`: a dangling link is something in the way too.
        if self.existing == ExistingOutput::Refuse && path.symlink_metadata().is_ok() {
            return Err(ConvertError::OutputExists { path });
        }
        self.index.insert(sid.to_owned(), self.sessions.len());
        self.sessions.push(ConvertedSession {
            session_id: sid.to_owned(),
            path: path.clone(),
            events: 0,
        });
        Ok(path)
    }

    /// The listed session `sid`, to count its events.
    fn session_mut(&mut self, sid: &str) -> Option<&mut ConvertedSession> {
        self.index.get(sid).map(|&i| &mut self.sessions[i])
    }

    fn into_report(self, read: ReadStats) -> Result<ConvertReport, ConvertError> {
        if let Some(e) = self.error {
            if matches!(e, ConvertError::OutputExists { .. }) {
                // Refused: what was written before the existing file came
                // up goes, so the directory holds what it held before. (Every
                // listed file was created by this conversion: an existing
                // one is refused before it is listed.)
                for session in &self.sessions {
                    let _ = std::fs::remove_file(&session.path);
                }
            }
            return Err(e);
        }
        Ok(ConvertReport {
            sessions: self.sessions,
            skipped: self.skipped,
            read,
            duplicates: self.duplicates,
        })
    }
}

/// `path` made absolute with symlinks resolved, as far as it exists (a
/// directory still to be created keeps its missing tail as written).
fn resolved(path: &Path) -> PathBuf {
    let mut tail = Vec::new();
    let mut at = path.to_path_buf();
    loop {
        if let Ok(real) = at.canonicalize() {
            return tail.iter().rev().fold(real, |p, c| p.join(c));
        }
        match (at.file_name().map(ToOwned::to_owned), at.parent()) {
            (Some(name), Some(parent)) => {
                tail.push(name);
                at = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// Refuses an output directory that is, or is inside, an input directory,
/// or that holds an input file: converting there would truncate files
/// before they are read (or read the output back as input).
fn check_out_dir(paths: &[PathBuf], out_dir: &Path) -> Result<(), ConvertError> {
    let out = resolved(out_dir);
    for input in paths {
        if input.as_os_str() == "-" {
            continue;
        }
        let Ok(real) = input.canonicalize() else {
            continue; // reading will report it
        };
        let overlap = if real.is_dir() {
            out.starts_with(&real).then_some(true)
        } else {
            (real.parent() == Some(out.as_path())).then_some(false)
        };
        if let Some(inside) = overlap {
            return Err(ConvertError::OutputOverlapsInput {
                out: out_dir.to_path_buf(),
                input: input.clone(),
                inside,
            });
        }
    }
    Ok(())
}

/// A 64-bit digest of an event's id and time, the key events read twice
/// share (8 bytes an event rather than its id).
fn event_key(e: &Event) -> u64 {
    let mut buf = Vec::with_capacity(e.event_id.len() + 8);
    buf.extend_from_slice(e.event_id.as_bytes());
    buf.extend_from_slice(&e.timestamp.0.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// Drops from one session's events each one whose id and time an earlier
/// one has, keeping the fuller copy ([`Event::is_fuller_than`]) in the
/// first one's place (as `loupe_analyze::finish_session` does).
fn drop_repeated(events: &mut Vec<Event>) {
    let mut first: HashMap<(&str, i64), usize> = HashMap::new();
    let mut richer: Vec<(usize, usize)> = Vec::new();
    let mut repeated = vec![false; events.len()];
    for (i, e) in events.iter().enumerate() {
        match first.get(&(e.event_id.as_str(), e.timestamp.0)) {
            Some(&f) => {
                repeated[i] = true;
                if e.is_fuller_than(&events[f]) {
                    richer.push((f, i));
                }
            }
            None => {
                first.insert((e.event_id.as_str(), e.timestamp.0), i);
            }
        }
    }
    for (f, i) in richer {
        // The richest copy wins: `i` is richer than `f` as it stands.
        if events[i].is_fuller_than(&events[f]) {
            events.swap(f, i);
        }
    }
    let mut i = 0;
    events.retain(|_| {
        i += 1;
        !repeated[i - 1]
    });
}

/// OTLP output: one `{session}.otlp.json` request per session. A request
/// needs its session's events together, so they are held until the reader
/// says the session is done (OTLP) or its file ends, then written; a session
/// that continues in a later file is read back from its output (the writer's
/// read-back is exact), joined and written again. Memory is bounded by the
/// sessions of one file, not by the input.
struct OtlpFiles {
    out: Outputs,
    /// Events of sessions not written since they last had events.
    pending: HashMap<String, Vec<Event>>,
    /// `pending`'s sessions in order of first appearance (and sessions
    /// flushed since, skipped by [`OtlpFiles::flush_all`]).
    order: Vec<String>,
}

impl OtlpFiles {
    fn new(out: Outputs) -> Self {
        OtlpFiles {
            out,
            pending: HashMap::new(),
            order: Vec::new(),
        }
    }

    fn finish(mut self) -> Outputs {
        self.flush_all();
        self.out
    }

    fn flush_all(&mut self) {
        for sid in std::mem::take(&mut self.order) {
            self.flush(&sid);
        }
    }

    /// Writes the held events of `sid`, joined with what was written of it
    /// before.
    fn flush(&mut self, sid: &str) {
        // `order` keeps `sid` until the file ends (a flushed session is
        // skipped there): removing it here would cost a scan per session.
        let Some(mut events) = self.pending.remove(sid) else {
            return;
        };
        if self.out.error.is_some() {
            return;
        }
        let path = match self.out.path_of(sid) {
            Some(path) => match read_back(&path) {
                Ok(mut written) => {
                    written.append(&mut events);
                    events = written;
                    path
                }
                Err(e) => {
                    self.out.error = Some(e);
                    return;
                }
            },
            None => match self.out.add(sid, "otlp.json") {
                Ok(path) => path,
                Err(e) => {
                    self.out.error = Some(e);
                    return;
                }
            },
        };
        let before = events.len();
        drop_repeated(&mut events);
        self.out.duplicates += before - events.len();
        // The events are dropped once they are spans, and the text is
        // written as it is made: a huge session is held once, not three times.
        let count = events.len() as u64;
        let request = crate::otlp::events_to_request(&events);
        drop(events);
        let written = File::create(&path).and_then(|file| {
            let mut out = BufWriter::new(file);
            crate::otlp::write_request_json(&mut out, &request)?;
            io::Write::flush(&mut out)
        });
        if let Err(e) = written {
            self.out.error = Some(ConvertError::Write { path, error: e });
            return;
        }
        if let Some(session) = self.out.session_mut(sid) {
            session.events = count;
        }
    }
}

/// The events of an OTLP file this conversion wrote.
fn read_back(path: &Path) -> Result<Vec<Event>, ConvertError> {
    let bytes = std::fs::read(path).map_err(|e| ConvertError::Write {
        path: path.to_path_buf(),
        error: e,
    })?;
    let source = Source {
        path: path.to_path_buf(),
        format: loupe_model::SourceFormat::Otlp,
    };
    let mut back = crate::Collected::default();
    crate::otlp::read_json(&bytes, &source, &mut back)?;
    Ok(back.events.into_iter().map(|(_, e)| e).collect())
}

impl Sink for OtlpFiles {
    fn event(&mut self, _source: &Source, event: Event) {
        match self.pending.get_mut(&event.session_id) {
            Some(held) => held.push(event),
            None => {
                self.order.push(event.session_id.clone());
                self.pending.insert(event.session_id.clone(), vec![event]);
            }
        }
    }

    fn skip(&mut self, skipped: Skipped) {
        self.out.skipped.push(skipped);
    }

    fn session_done(&mut self, _source: &Source, session_id: &str) {
        self.flush(session_id);
    }

    fn end(&mut self, _source: &Source) {
        self.flush_all();
    }
}

/// A file name for a session id: letters, digits, `.`, `_` and `-` are kept,
/// anything else becomes `_`; when that changed the id, a short hash of the
/// original is appended so two ids never share a file.
pub fn session_file_stem(session_id: &str) -> String {
    let mut clean: String = session_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(150)
        .collect();
    if clean.starts_with('.') || clean.is_empty() {
        clean.insert(0, '_');
    }
    if clean != session_id {
        let h = xxhash_rust::xxh3::xxh3_64(session_id.as_bytes());
        clean.push_str(&format!("-{:08x}", h as u32));
    }
    clean
}

/// The [`Sink`] of canonical conversion: events are appended to their
/// session's file as they come (at most [`MAX_OPEN_OUTPUTS`] open at once).
struct SessionFiles {
    out: Outputs,
    open: HashMap<String, CanonicalWriter<BufWriter<File>>>,
    /// Per session, the [`event_key`]s written and the [`Event::fullness`]
    /// the copy written had: an event read twice is written once, unless
    /// the later copy holds more (MyAgent's traces export after its runs
    /// export: the session's task and metadata). Canonical output streams,
    /// so the fuller copy is written after the first, and readers keep the
    /// fuller of two copies of an event, as `view` does with the input.
    /// 12 bytes an event.
    written: HashMap<String, HashMap<u64, u32>>,
    /// Per session, the latest time written, in µs.
    latest: HashMap<String, i64>,
    /// Sessions with an event written before an earlier-written later one:
    /// their files are sorted by time when the session is done or its
    /// input file ends.
    unordered: Vec<String>,
}

impl SessionFiles {
    fn new(out: Outputs) -> Self {
        SessionFiles {
            out,
            open: HashMap::new(),
            written: HashMap::new(),
            latest: HashMap::new(),
            unordered: Vec::new(),
        }
    }

    fn finish(mut self) -> Outputs {
        self.close_all();
        self.sort_unordered(None);
        self.out
    }

    /// Sorts the files of the sessions written out of time order (only
    /// `only`, when given).
    fn sort_unordered(&mut self, only: Option<&str>) {
        let sids: Vec<String> = match only {
            Some(sid) => match self.unordered.iter().position(|s| s == sid) {
                Some(at) => vec![self.unordered.swap_remove(at)],
                None => return,
            },
            None => std::mem::take(&mut self.unordered),
        };
        for sid in sids {
            if self.out.error.is_some() {
                return;
            }
            // Its writer's buffer must reach the file first.
            if let Some(w) = self.open.remove(&sid) {
                if let Err(e) = w.into_inner() {
                    let path = self.out.path_of(&sid).unwrap_or_default();
                    self.out.error = Some(ConvertError::Write { path, error: e });
                    return;
                }
            }
            if let Some(path) = self.out.path_of(&sid) {
                if let Err(error) = sort_lines_by_time(&path) {
                    self.out.error = Some(ConvertError::Write { path, error });
                }
            }
        }
    }

    fn close_all(&mut self) {
        for (sid, w) in self.open.drain() {
            if let Err(e) = w.into_inner() {
                let path = self.out.path_of(&sid).unwrap_or_default();
                self.out
                    .error
                    .get_or_insert(ConvertError::Write { path, error: e });
            }
        }
    }

    fn write(&mut self, event: &Event) -> Result<(), ConvertError> {
        let sid = &event.session_id;
        if !self.open.contains_key(sid) {
            if self.open.len() >= MAX_OPEN_OUTPUTS {
                self.close_all();
            }
            let (path, append) = match self.out.path_of(sid) {
                Some(path) => (path, true),
                None => (self.out.add(sid, "jsonl")?, false),
            };
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(&path)
                .map_err(|e| ConvertError::Write {
                    path: path.clone(),
                    error: e,
                })?;
            self.open
                .insert(sid.clone(), CanonicalWriter::new(BufWriter::new(file)));
        }
        if let Some(w) = self.open.get_mut(sid) {
            w.write(event).map_err(|e| ConvertError::Write {
                path: self.out.path_of(sid).unwrap_or_default(),
                error: e,
            })?;
            if let Some(session) = self.out.session_mut(sid) {
                session.events += 1;
            }
            let ts = event.timestamp.as_micros();
            match self.latest.get_mut(sid) {
                Some(latest) if ts < *latest => {
                    if !self.unordered.contains(sid) {
                        self.unordered.push(sid.clone());
                    }
                }
                Some(latest) => *latest = ts,
                None => {
                    self.latest.insert(sid.clone(), ts);
                }
            }
        }
        Ok(())
    }
}

/// Sorts a canonical JSONL file's lines by their events' time, stably (a
/// line without a readable time keeps its place among those before it).
fn sort_lines_by_time(path: &Path) -> io::Result<()> {
    #[derive(serde::Deserialize)]
    struct At {
        timestamp: loupe_model::Timestamp,
    }
    let text = std::fs::read_to_string(path)?;
    let mut lines: Vec<(i64, &str)> = Vec::new();
    let mut previous = i64::MIN;
    for line in text.lines() {
        let ts = serde_json::from_str::<At>(line).map_or(previous, |at| at.timestamp.as_micros());
        lines.push((ts, line));
        previous = ts;
    }
    if lines.is_sorted_by_key(|(ts, _)| *ts) {
        return Ok(());
    }
    lines.sort_by_key(|(ts, _)| *ts);
    let mut out = BufWriter::new(File::create(path)?);
    for (_, line) in lines {
        io::Write::write_all(&mut out, line.as_bytes())?;
        io::Write::write_all(&mut out, b"\n")?;
    }
    io::Write::flush(&mut out)
}

/// Makes a `session_start` say it is canonical Loupe (`format`,
/// `format_version`, as docs/format.md requires), keeping a source's own
/// `format` member, if it had another one, as `original_format`.
fn mark_canonical(event: &mut Event) {
    if event.kind != EventKind::SessionStart {
        return;
    }
    let data = &mut event.data;
    if data.get(keys::FORMAT).and_then(Value::as_str) != Some(loupe_model::FORMAT_NAME) {
        if let Some(own) = data.remove(keys::FORMAT) {
            data.insert("original_format".to_owned(), own);
        }
        data.insert(keys::FORMAT.to_owned(), loupe_model::FORMAT_NAME.into());
    }
    if data
        .get(keys::FORMAT_VERSION)
        .and_then(Value::as_u64)
        .is_none_or(|v| v == 0)
    {
        data.insert(
            keys::FORMAT_VERSION.to_owned(),
            loupe_model::FORMAT_VERSION.into(),
        );
    }
}

impl Sink for SessionFiles {
    fn event(&mut self, _source: &Source, mut event: Event) {
        mark_canonical(&mut event);
        if self.out.error.is_some() {
            return;
        }
        let key = event_key(&event);
        let written = match self.written.get_mut(&event.session_id) {
            Some(set) => set,
            None => self.written.entry(event.session_id.clone()).or_default(),
        };
        let members = u32::try_from(event.fullness()).unwrap_or(u32::MAX);
        match written.entry(key) {
            std::collections::hash_map::Entry::Occupied(mut first) => {
                self.out.duplicates += 1;
                if members <= *first.get() {
                    return;
                }
                first.insert(members);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(members);
            }
        }
        if let Err(e) = self.write(&event) {
            self.out.error = Some(e);
        }
    }
    fn skip(&mut self, skipped: Skipped) {
        self.out.skipped.push(skipped);
    }

    fn session_done(&mut self, _source: &Source, session_id: &str) {
        self.sort_unordered(Some(session_id));
    }

    fn end(&mut self, _source: &Source) {
        self.sort_unordered(None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_file_names_are_safe_and_distinct() {
        assert_eq!(session_file_stem("session-123"), "session-123");
        let a = session_file_stem("a/b");
        let b = session_file_stem("a_b");
        assert_ne!(a, b);
        assert!(a.starts_with("a_b-"));
        assert!(session_file_stem("..").starts_with("_"));
        assert!(!session_file_stem("").is_empty());
    }
}
