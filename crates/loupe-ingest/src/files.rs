//! File ingest (`loupe ingest`): read trace files with loupe-formats,
//! append their events to a store in batches, then rebuild the summary rows
//! of the sessions they touched. Free of terminal concerns: progress goes
//! through a callback.
//!
//! Incremental: the store remembers each file's size, mtime, a hash of its
//! first 4 KiB and how many complete lines were consumed. An unchanged file
//! is skipped; a line-oriented file that only grew is read from its last
//! complete line; anything else is read whole (event ids deduplicate).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::Context;
use loupe_analyze::AnalysisConfig;
use loupe_formats::{ReadError, ReadOptions, Sink, Skipped, Source};
use loupe_model::{Event, SourceFormat};

use crate::summary::summarise;
use loupe_store::{AppendOutcome, IngestedFile, SourceRef, Store, StoreError};

/// Events per store transaction.
pub const BATCH_EVENTS: usize = 20_000;

/// Bytes hashed to notice that a file was replaced rather than appended to.
const HEAD_BYTES: usize = 4096;

/// What an ingest run did.
#[derive(Debug, Default)]
pub struct IngestSummary {
    /// Files read (wholly or their new tail).
    pub files_read: u64,
    /// Files skipped because they did not change since the last ingest.
    pub files_unchanged: u64,
    /// Files of a directory walk that are no trace.
    pub files_ignored: u64,
    /// Events stored for the first time / already present.
    pub events: AppendOutcome,
    /// Sessions whose summary was rebuilt.
    pub sessions: u64,
    /// Records the readers skipped.
    pub skipped: Vec<Skipped>,
    /// Files that could not be read (directory walks only; named files fail the run).
    pub errors: Vec<String>,
    /// Files of a directory walk left out whose name says they are traces
    /// (`.jsonl`, `.ndjson`, possibly compressed) but whose content is not:
    /// worth a warning, as `loupe view` gives.
    pub ignored_traces: Vec<String>,
    /// Bytes of input read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// One input file and whether the user named it (its errors make the ingest
/// exit 2; a walked file that is no trace is passed over).
pub struct InputFile {
    pub path: PathBuf,
    pub explicit: bool,
    pub size: u64,
}

/// Expands paths (`-` is standard input): files as given, directories walked recursively in sorted
/// order, hidden entries and symlinked directories skipped, an Agent Trace
/// `metadata.json` left to the reader of its `events.jsonl`.
pub fn expand_paths(paths: &[PathBuf]) -> anyhow::Result<Vec<InputFile>> {
    fn walk(dir: &Path, out: &mut Vec<InputFile>) -> anyhow::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("{}: cannot list directory", dir.display()))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        let has_events = entries.iter().any(|e| e.file_name() == "events.jsonl");
        for entry in entries {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || (has_events && name == "metadata.json") {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                walk(&path, out)?;
            } else if kind.is_file() {
                let size = entry.metadata().map_or(0, |m| m.len());
                out.push(InputFile {
                    path,
                    explicit: false,
                    size,
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(InputFile {
                path: loupe_formats::resolve_stdin(p),
                explicit: true,
                size: 0,
            });
            continue;
        }
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot read", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(InputFile {
                path: p.clone(),
                explicit: true,
                size: meta.len(),
            });
        }
    }
    Ok(out)
}

/// Appends events in batches as the reader produces them, across files: an
/// ingest of thousands of small files commits once per [`BATCH_EVENTS`]
/// events, not once per file. A file's ingest state is recorded only after
/// the batch holding its last events committed, so a killed ingest never
/// marks a file whose events are not all stored (re-reading it deduplicates).
/// A store error stops further appends and is reported after the file.
struct BatchingSink<'a> {
    store: &'a dyn Store,
    batch: Vec<Event>,
    outcome: AppendOutcome,
    touched: BTreeSet<String>,
    sources: BTreeMap<String, SourceRef>,
    skipped: Vec<Skipped>,
    /// The last session id of the file being read.
    last_session: Option<String>,
    /// Files read whole whose state is recorded at the next commit.
    pending_files: Vec<IngestedFile>,
    /// Commits so far (to tell whether a failed file's events are all still in `batch`).
    commits: u64,
    error: Option<StoreError>,
    /// OpenTelemetry traces read under their trace id and under a session name.
    trace_links: crate::merge::TraceLinks,
}

impl BatchingSink<'_> {
    /// Commits the batch, then records the files it completed.
    fn flush(&mut self) {
        if self.error.is_some() {
            self.batch.clear();
            return;
        }
        if !self.batch.is_empty() {
            match self.store.append_events(&self.batch) {
                Ok(o) => self.outcome += o,
                Err(e) => self.error = Some(e),
            }
            self.batch.clear();
            self.commits += 1;
        }
        if self.error.is_none() && !self.pending_files.is_empty() {
            if let Err(e) = self.store.record_ingested_files(&self.pending_files) {
                self.error = Some(e);
            }
            self.pending_files.clear();
        }
    }
}

impl Sink for BatchingSink<'_> {
    fn event(&mut self, source: &Source, event: Event) {
        if !self.touched.contains(&event.session_id) {
            self.touched.insert(event.session_id.clone());
            self.sources
                .entry(event.session_id.clone())
                .or_insert_with(|| SourceRef {
                    path: source.path.display().to_string(),
                    format: source.format,
                });
        }
        if self.last_session.as_deref() != Some(event.session_id.as_str()) {
            self.last_session = Some(event.session_id.clone());
        }
        self.trace_links.note(source.format, &event);
        self.batch.push(event);
        if self.batch.len() >= BATCH_EVENTS {
            self.flush();
        }
    }

    fn skip(&mut self, skipped: Skipped) {
        self.skipped.push(skipped);
    }
}

/// A file's size and modification time.
struct FileState {
    size: u64,
    mtime_us: i64,
}

fn file_state(path: &Path) -> anyhow::Result<FileState> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mtime_us = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as i64);
    Ok(FileState {
        size: meta.len(),
        mtime_us,
    })
}

/// Hash of the file's first `len` bytes (at most [`HEAD_BYTES`]). The length
/// is bounded by what was consumed, so appending never changes the hash but
/// replacing the file does.
fn head_hash(path: &Path, len: u64) -> anyhow::Result<String> {
    let mut head = vec![0u8; len.min(HEAD_BYTES as u64) as usize];
    let mut file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let n = read_up_to(&mut file, &mut head)?;
    head.truncate(n);
    Ok(blake3::hash(&head).to_hex()[..32].to_owned())
}

/// How many leading bytes the remembered head hash covers.
fn head_len(file: &IngestedFile) -> u64 {
    if file.offset > 0 {
        file.offset
    } else {
        file.size
    }
}

fn read_up_to(file: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Ingests every file under `paths` into `store`; `progress(bytes)` is
/// called after each file with the bytes it accounted for.
pub fn ingest(
    store: &dyn Store,
    files: &[InputFile],
    format: Option<SourceFormat>,
    config: &AnalysisConfig,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<IngestSummary> {
    let started = Instant::now();
    let mut summary = IngestSummary::default();
    let mut sink = BatchingSink {
        store,
        batch: Vec::with_capacity(BATCH_EVENTS),
        outcome: AppendOutcome::default(),
        touched: BTreeSet::new(),
        sources: BTreeMap::new(),
        skipped: Vec::new(),
        last_session: None,
        pending_files: Vec::new(),
        commits: 0,
        error: None,
        trace_links: Default::default(),
    };
    for file in files {
        let outcome = ingest_file(&mut sink, file, format);
        progress(file.size);
        match outcome {
            Ok(FileOutcome::Unchanged) => summary.files_unchanged += 1,
            Ok(FileOutcome::Read { bytes }) => {
                summary.files_read += 1;
                summary.bytes += bytes;
            }
            Err(IngestError::Store(e)) => return Err(e.into()),
            // A file named on the command line that cannot be read or is no
            // trace is an error, but the other inputs are still stored and
            // summarised: stopping here left events stored without summaries.
            Err(IngestError::Read(e)) if file.explicit => summary.errors.push(e.to_string()),
            Err(IngestError::Read(e @ ReadError::Unrecognized { .. })) => {
                summary.files_ignored += 1;
                if loupe_formats::named_as_json_lines(&file.path) {
                    summary.ignored_traces.push(e.to_string());
                }
            }
            Err(IngestError::Read(e)) => summary.errors.push(e.to_string()),
            Err(IngestError::Other(e)) => summary.errors.push(format!("{e:#}")),
        }
    }
    sink.flush();
    if let Some(e) = sink.error.take() {
        return Err(e.into());
    }
    summary.events = sink.outcome;
    summary.skipped = std::mem::take(&mut sink.skipped);
    let mut touched = std::mem::take(&mut sink.touched);
    // A trace split over files, part of it under its trace id only: one session.
    let stored = |id: &str| -> loupe_store::StoreResult<bool> { Ok(store.session(id)?.is_some()) };
    for (by_trace, named) in sink.trace_links.merges(&stored)? {
        crate::merge::merge_sessions(store, &by_trace, &named)?;
        touched.remove(&by_trace);
        touched.insert(named);
    }
    // Sessions an earlier, interrupted run stored but never summarised
    // (their files are recorded as read, so nothing else would).
    touched.extend(store.sessions_needing_summary(usize::MAX)?);
    summary.sessions = summarise(store, &touched, &sink.sources, config)?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

enum FileOutcome {
    Unchanged,
    /// Read (wholly or its new tail): `bytes` of input.
    Read {
        bytes: u64,
    },
}

enum IngestError {
    Store(StoreError),
    Read(ReadError),
    Other(anyhow::Error),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Store(e)
    }
}

fn ingest_file(
    sink: &mut BatchingSink<'_>,
    file: &InputFile,
    forced: Option<SourceFormat>,
) -> Result<FileOutcome, IngestError> {
    let store = sink.store;
    if !std::fs::metadata(&file.path).is_ok_and(|m| m.is_file()) {
        return read_stream_once(sink, file, forced);
    }
    let key = std::fs::canonicalize(&file.path)
        .unwrap_or_else(|_| file.path.clone())
        .display()
        .to_string();
    let state = file_state(&file.path).map_err(IngestError::Other)?;
    let previous = store.ingested_file(&key)?;
    let same_head = match &previous {
        Some(prev) => {
            head_hash(&file.path, head_len(prev)).map_err(IngestError::Other)? == prev.head_hash
        }
        None => false,
    };
    if let Some(prev) = &previous {
        if same_head && prev.size == state.size && prev.mtime_us == state.mtime_us {
            return Ok(FileOutcome::Unchanged);
        }
    }
    sink.last_session = None;
    // Where this file's events start in the batch, to take them back out if
    // the file fails before any of them is committed.
    let (batch_start, commits_before) = (sink.batch.len(), sink.commits);
    let read = read_into(sink, file, forced, previous.as_ref(), same_head, &state);
    if let Some(e) = sink.error.take() {
        return Err(IngestError::Store(e));
    }
    let (format, lines, offset, bytes) = match read {
        Ok(read) => read,
        Err(e) => {
            if sink.commits == commits_before {
                sink.batch.truncate(batch_start);
            }
            return Err(e);
        }
    };
    let head_hash = head_hash(&file.path, if offset > 0 { offset } else { state.size })
        .map_err(IngestError::Other)?;
    sink.pending_files.push(IngestedFile {
        path: key,
        size: state.size,
        mtime_us: state.mtime_us,
        head_hash,
        lines,
        offset,
        format: format.as_str().to_owned(),
        session_hint: sink.last_session.clone(),
    });
    Ok(FileOutcome::Read { bytes })
}

/// Reads standard input or a named pipe: once, with nothing remembered for
/// a later ingest (it cannot be read again; events already stored are
/// deduplicated by id if the same trace comes again).
fn read_stream_once(
    sink: &mut BatchingSink<'_>,
    file: &InputFile,
    forced: Option<SourceFormat>,
) -> Result<FileOutcome, IngestError> {
    sink.last_session = None;
    let (batch_start, commits_before) = (sink.batch.len(), sink.commits);
    let opts = ReadOptions {
        format: forced,
        threads: 1,
        ..ReadOptions::default()
    };
    let read = loupe_formats::read_file(&file.path, &opts, &mut *sink);
    if let Some(e) = sink.error.take() {
        return Err(IngestError::Store(e));
    }
    match read {
        Ok(stats) => Ok(FileOutcome::Read { bytes: stats.bytes }),
        Err(e) => {
            if sink.commits == commits_before {
                sink.batch.truncate(batch_start);
            }
            Err(IngestError::Read(e))
        }
    }
}

/// Reads a file (or the tail it grew by) into the sink; returns the format,
/// the complete lines and byte offset consumed, and the bytes read.
fn read_into(
    sink: &mut BatchingSink<'_>,
    file: &InputFile,
    forced: Option<SourceFormat>,
    previous: Option<&IngestedFile>,
    same_head: bool,
    state: &FileState,
) -> Result<(SourceFormat, u64, u64, u64), IngestError> {
    // A line-oriented plain-text file that grew from the same head: read its
    // tail, unless the session its last lines belonged to was pruned since
    // (its tail alone would come back as a fragment of it, with no start):
    // then the whole file again (stored events are deduplicated by id).
    let store = sink.store;
    let tail_from = previous.filter(|prev| {
        same_head
            && state.size >= prev.offset
            && prev.offset > 0
            && SourceFormat::from_name(&prev.format).is_some_and(loupe_formats::is_line_oriented)
            && prev
                .session_hint
                .as_deref()
                .is_none_or(|s| store.session(s).is_ok_and(|row| row.is_some()))
    });
    if let Some(prev) = tail_from {
        let format = SourceFormat::from_name(&prev.format).unwrap_or(SourceFormat::Loupe);
        let (tail, tail_lines) =
            read_complete_lines(&file.path, prev.offset).map_err(IngestError::Other)?;
        sink.last_session = prev.session_hint.clone();
        loupe_formats::read_bytes_from(
            &tail,
            &file.path,
            format,
            prev.lines + 1,
            prev.session_hint.clone(),
            &mut *sink,
        )
        .map_err(IngestError::Read)?;
        Ok((
            format,
            prev.lines + tail_lines,
            prev.offset + tail.len() as u64,
            tail.len() as u64,
        ))
    } else {
        let opts = ReadOptions {
            format: forced,
            threads: 1,
            ..ReadOptions::default()
        };
        let stats =
            loupe_formats::read_file(&file.path, &opts, &mut *sink).map_err(IngestError::Read)?;
        let format = stats
            .formats
            .keys()
            .next()
            .copied()
            .unwrap_or(SourceFormat::Loupe);
        // Remember where the last complete line ends so a later tail read
        // starts there (a partial last line is read again, whole, next time).
        let (lines, offset) = if loupe_formats::is_line_oriented(format) && !is_encoded(&file.path)
        {
            count_complete_lines(&file.path).map_err(IngestError::Other)?
        } else {
            (0, 0)
        };
        Ok((format, lines, offset, stats.bytes))
    }
}

/// Compressed or UTF-16: byte offsets in the file are no line boundaries
/// of the text read, so such a file is read whole when it changes.
fn is_encoded(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)
        .and_then(|mut f| read_up_to(&mut f, &mut magic))
        .unwrap_or(0);
    let magic = &magic[..n];
    magic.starts_with(&[0x1f, 0x8b])
        || magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || loupe_formats::is_utf16(magic)
}

/// The bytes from `offset` up to the last newline, and how many lines they hold.
fn read_complete_lines(path: &Path, offset: u64) -> anyhow::Result<(Vec<u8>, u64)> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    file.seek(SeekFrom::Start(offset))
        .with_context(|| format!("{}: cannot seek to byte {offset}", path.display()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(end);
    let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    Ok((bytes, lines))
}

/// Complete lines in a file and the offset just after the last one.
fn count_complete_lines(path: &Path) -> anyhow::Result<(u64, u64)> {
    let (bytes, lines) = read_complete_lines(path, 0)?;
    Ok((lines, bytes.len() as u64))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use super::*;
    use loupe_model::{EventKind, Timestamp};
    use loupe_store::testing::Intercepted;
    use loupe_store::{EventQuery, MemoryStore};

    /// What the ingest asked of the store, in order.
    #[derive(Debug, PartialEq)]
    enum Call {
        /// Session ids of the appended events.
        Append(Vec<String>),
        /// Files recorded.
        Record(Vec<String>),
    }

    /// A memory store that logs appends and file records.
    struct Logging {
        store: Intercepted<MemoryStore>,
        calls: Arc<Mutex<Vec<Call>>>,
    }

    impl Default for Logging {
        fn default() -> Self {
            let calls = Arc::new(Mutex::new(Vec::new()));
            let mut store = Intercepted::new(MemoryStore::new());
            let log = calls.clone();
            store.before_append = Some(Box::new(move |events: &[Event]| {
                let ids = events.iter().map(|e| e.session_id.clone()).collect();
                log.lock().unwrap().push(Call::Append(ids));
                Ok(())
            }));
            let log = calls.clone();
            store.before_record = Some(Box::new(move |files: &[IngestedFile]| {
                let paths = files.iter().map(|f| f.path.clone()).collect();
                log.lock().unwrap().push(Call::Record(paths));
                Ok(())
            }));
            Logging { store, calls }
        }
    }

    /// A canonical session file of `events` events.
    fn write_session(dir: &Path, id: &str, events: usize) -> PathBuf {
        let path = dir.join(format!("{id}.jsonl"));
        let mut text = String::new();
        for n in 0..events {
            let e = Event::new(
                format!("{id}-{n}"),
                EventKind::Custom,
                Timestamp(1_767_225_600_000_000 + n as i64),
                id,
            );
            text.push_str(&serde_json::to_string(&e).unwrap());
            text.push('\n');
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// An empty directory of its own under the system's temporary directory.
    fn fresh_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loupe-ingest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Ingests everything under `dir` into `store`.
    fn ingest_dir(logging: &Logging, dir: &Path) -> IngestSummary {
        let files = expand_paths(&[dir.to_path_buf()]).unwrap();
        let config = AnalysisConfig::default();
        ingest(&logging.store, &files, None, &config, &mut |_| {}).unwrap()
    }

    #[test]
    fn sessions_an_interrupted_run_stored_but_never_summarised_are_summarised_next_time() {
        let dir = fresh_dir("interrupted");
        let traces = dir.join("traces");
        std::fs::create_dir_all(&traces).unwrap();
        write_session(&traces, "s1", 5);
        let store = loupe_store::SqliteStore::open(dir.join("loupe.db")).unwrap();
        let files = expand_paths(std::slice::from_ref(&traces)).unwrap();
        let config = AnalysisConfig::default();
        let run = |store: &loupe_store::SqliteStore| {
            ingest(store, &files, None, &config, &mut |_| {}).unwrap()
        };
        assert_eq!(run(&store).sessions, 1);
        // What a run killed between storing events and summarising leaves:
        // events of a new session and more of s1, their files already
        // recorded (here: nothing new to read), no summary.
        let late = |session: &str, n: i64| {
            Event::new(
                format!("{session}-late{n}"),
                EventKind::Custom,
                Timestamp(1_767_225_700_000_000 + n),
                session,
            )
        };
        store
            .append_events(&[late("s2", 0), late("s2", 1), late("s1", 0)])
            .unwrap();
        assert_eq!(store.sessions_needing_summary(10).unwrap(), ["s1", "s2"]);
        let again = run(&store);
        assert_eq!((again.files_unchanged, again.sessions), (1, 2));
        assert!(store.sessions_needing_summary(10).unwrap().is_empty());
        assert!(store.session("s2").unwrap().is_some());
        let events = |id: &str| store.events(id, &EventQuery::default()).unwrap().len();
        assert_eq!((events("s1"), events("s2")), (6, 2));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn small_files_share_commits_and_each_is_recorded_after_its_last_event_committed() {
        let dir = fresh_dir("batching");
        // 40 files of 1,000 events: 40,000 events, two full batches.
        for i in 0..40 {
            write_session(&dir, &format!("s{i:02}"), 1_000);
        }
        let store = Logging::default();
        let summary = ingest_dir(&store, &dir);
        assert_eq!(summary.events.inserted, 40_000);
        assert_eq!(summary.files_read, 40);
        assert_eq!(summary.sessions, 40);
        let calls = store.calls.lock().unwrap();
        let appends = calls
            .iter()
            .filter(|c| matches!(c, Call::Append(_)))
            .count();
        let records = calls
            .iter()
            .filter(|c| matches!(c, Call::Record(_)))
            .count();
        assert_eq!(
            appends, 2,
            "one commit per {BATCH_EVENTS} events, not one per file"
        );
        // Per commit, plus the file whose last event filled the last batch.
        assert_eq!(records, 3, "files are recorded per commit");
        // Every recorded file's session was appended in full before the record.
        let mut appended: std::collections::HashMap<String, usize> = Default::default();
        for call in calls.iter() {
            match call {
                Call::Append(ids) => {
                    for id in ids {
                        *appended.entry(id.clone()).or_default() += 1;
                    }
                }
                Call::Record(paths) => {
                    for path in paths {
                        let stem = Path::new(path).file_stem().unwrap().to_string_lossy();
                        assert_eq!(appended.get(stem.as_ref()), Some(&1_000), "{path}");
                    }
                }
            }
        }
        drop(calls);
        // A second ingest finds every file unchanged.
        let again = ingest_dir(&store, &dir);
        assert_eq!(again.files_unchanged, 40);
        assert_eq!(again.events.inserted, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `text` as UTF-16LE with its byte order mark.
    fn utf16le(text: &[u8]) -> Vec<u8> {
        let text = std::str::from_utf8(text).unwrap();
        [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect()
    }

    #[test]
    fn a_utf16_file_that_grows_is_read_again_whole_not_from_a_byte_offset() {
        let dir = fresh_dir("utf16");
        let path = write_session(&dir, "u", 30);
        let first = std::fs::read(&path).unwrap();
        std::fs::write(&path, utf16le(&first)).unwrap();
        let store = Logging::default();
        let summary = ingest_dir(&store, &dir);
        assert_eq!(summary.events.inserted, 30);
        assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);
        // The agent appends 20 events: same head, larger file.
        write_session(&dir, "u", 50);
        let grown = std::fs::read(&path).unwrap();
        assert!(grown.starts_with(&first));
        std::fs::write(&path, utf16le(&grown)).unwrap();
        let again = ingest_dir(&store, &dir);
        assert!(again.skipped.is_empty(), "{:?}", again.skipped);
        assert!(again.errors.is_empty(), "{:?}", again.errors);
        assert_eq!(again.events.inserted, 20);
        assert_eq!(
            store
                .store
                .events("u", &EventQuery::default())
                .unwrap()
                .len(),
            50
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_fails_keeps_none_of_its_events_while_they_are_uncommitted() {
        let dir = fresh_dir("failing");
        write_session(&dir, "a", 10);
        // A gzip stream whose checksum is wrong: its events are read (and
        // batched) before the decoder fails at the end. (A stream merely
        // cut short is read up to the cut.)
        let plain = std::fs::read(write_session(&dir, "b", 2_000)).unwrap();
        std::fs::remove_file(dir.join("b.jsonl")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &plain).unwrap();
        let gz = gz.finish().unwrap();
        let mut gz = gz;
        let crc_at = gz.len() - 8;
        gz[crc_at] ^= 0xff;
        std::fs::write(dir.join("b.jsonl.gz"), &gz).unwrap();
        write_session(&dir, "c", 10);
        let store = Logging::default();
        let summary = ingest_dir(&store, &dir);
        assert_eq!(summary.files_read, 2);
        assert_eq!(summary.errors.len(), 1, "{:?}", summary.errors);
        assert!(
            summary.errors[0].contains("b.jsonl.gz"),
            "{}",
            summary.errors[0]
        );
        // Only a and c: none of b's events, although some were read.
        assert_eq!(summary.events.inserted, 20);
        assert!(store
            .store
            .events("b", &EventQuery::default())
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pruned_session_whose_file_grows_comes_back_whole_not_as_a_fragment() {
        let dir = fresh_dir("pruned-grows");
        let path = write_session(&dir, "p", 100);
        let full = std::fs::read_to_string(&path).unwrap();
        let cut = full.match_indices('\n').nth(39).unwrap().0 + 1;
        std::fs::write(&path, &full[..cut]).unwrap();
        let store = Logging::default();
        assert_eq!(ingest_dir(&store, &dir).events.inserted, 40);
        let policy = loupe_store::RetentionPolicy {
            max_age_ms: None,
            max_count: Some(0),
            now: Timestamp(1_767_225_600_000_000),
        };
        store.store.prune(&policy).unwrap();
        assert!(store.store.session("p").unwrap().is_none());
        // Unchanged, the file stays skipped: the prune holds.
        assert_eq!(ingest_dir(&store, &dir).events.inserted, 0);
        // Grown, it is read whole again: all 100 events, not the last 60.
        std::fs::write(&path, &full).unwrap();
        let again = ingest_dir(&store, &dir);
        assert_eq!(again.events.inserted, 100);
        let events = store.store.events("p", &EventQuery::default()).unwrap();
        assert_eq!(events.len(), 100);
        assert_eq!(events[0].event_id, "p-0");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
