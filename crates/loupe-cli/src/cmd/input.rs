//! Shared plumbing of the analysis commands (`view`, `analyze`, `issues`,
//! `fixes`, `compare`, `stats`, `export`): read paths into sessions, filter
//! them (`--session`, `--since`, `--until`), analyse them with the user's
//! prices/thresholds/score model, and write the result to stdout or `--out`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};

use super::diag;
use loupe_analyze::{Session, SessionAnalysis, SessionAssembler, SessionSource};
use loupe_formats::{HandOn, ReadOptions, Sink, Skipped, Source};
use loupe_model::{SourceFormat, Timestamp};
use loupe_report::SkippedRecord;

/// Where traces are when no PATH is given (design §4).
pub(crate) const DEFAULT_TRACE_DIR: &str = ".loupe/traces";

/// Input selection shared by every analysis command.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct InputArgs {
    /// Trace files or directories (searched recursively); `-` reads standard
    /// input. Default: .loupe/traces
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Only the session with this id (or unique id prefix).
    #[arg(long, value_name = "ID")]
    pub(crate) session: Option<String>,
    /// Only sessions active at or after T: RFC 3339 (UTC when it names no offset), a date (its
    /// 00:00 UTC), or relative (30m, 2h, 7d).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) since: Option<Timestamp>,
    /// Only sessions active at or before T: RFC 3339 (UTC when it names no offset), a date (up to its 00:00 UTC, not
    /// included: `--until 2026-03-02` leaves out that day), or relative (30m, 2h, 7d).
    #[arg(long, value_name = "T", value_parser = parse_until)]
    pub(crate) until: Option<Timestamp>,
}

/// `--until`: as [`parse_time`], but a bare date ends just before its
/// midnight, so a session starting at 00:00:00 of that day is left out
/// with the rest of the day.
fn parse_until(s: &str) -> Result<Timestamp, String> {
    let t = parse_time(s)?;
    let bare_date = s.trim().len() == 10 && !s.contains(['T', 't', ' ']);
    Ok(if bare_date { t.minus_millis(0.001) } else { t })
}

/// `--format NAME`: the input format override of `view`, `analyze`, `stats`
/// and `compare` (`export` names it `--input-format`, as its `--format` is
/// the output format).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct FormatArg {
    /// Read every file as this format instead of detecting it
    /// (loupe, attocode-ts, attocode-py, attocode-py-legacy, agent-trace, myagent,
    /// victor-workflow, victor-execution, attoswarm, otlp).
    #[arg(long, value_name = "NAME", value_parser = parse_format)]
    pub(crate) format: Option<SourceFormat>,
}

/// Analysis settings shared by `view`, `analyze`, `issues`, `fixes`, `compare`, `stats`, `export`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct AnalysisArgs {
    /// Efficiency score model.
    #[arg(long, value_name = "MODEL", default_value = "loupe", value_parser = ["loupe", "attocode-py", "attocode-ts"])]
    pub(crate) score: String,
    /// TOML price table overriding the built-in prices (per million tokens).
    #[arg(long, value_name = "FILE.toml")]
    pub(crate) prices: Option<PathBuf>,
    /// TOML file overriding the detectors' thresholds.
    #[arg(long, value_name = "FILE.toml")]
    pub(crate) thresholds: Option<PathBuf>,
}

pub(crate) fn parse_format(s: &str) -> Result<SourceFormat, String> {
    SourceFormat::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = SourceFormat::ALL.iter().map(|f| f.as_str()).collect();
        format!("unknown format {s:?}; known: {}", names.join(", "))
    })
}

pub(crate) use loupe_model::parse_time;

/// Sessions read from the input, with what the readers skipped.
pub(crate) struct Loaded {
    pub(crate) sessions: Vec<Session>,
    pub(crate) skipped: Vec<SkippedRecord>,
    /// Files that could not be used (said on stderr as they were found).
    pub(crate) unread_files: Vec<SkippedRecord>,
    /// The files each session's events came from (a session read from
    /// several files was joined: one trace in parts, or runs reusing an id).
    pub(crate) session_files: HashMap<String, BTreeSet<PathBuf>>,
}

/// What the JSON document's `skipped` lists: records skipped inside files,
/// then files that could not be used at all (`line` null).
pub(crate) fn json_skipped(
    skipped: &[SkippedRecord],
    unread_files: &[SkippedRecord],
) -> Vec<SkippedRecord> {
    skipped.iter().chain(unread_files).cloned().collect()
}

/// Feeds read events into a [`SessionAssembler`], remembering skipped records.
struct AssemblingSink {
    assembler: SessionAssembler,
    skipped: Vec<SkippedRecord>,
    /// The source of the file being read, built once per file rather than per event.
    current: Option<(PathBuf, SessionSource)>,
    /// `--session`: only sessions whose id starts with it are assembled.
    keep_prefix: Option<String>,
    /// Ids of the sessions not assembled.
    others: HashSet<String>,
    progress: ReadProgress,
    /// See [`Loaded::session_files`]; noted when the session or file
    /// changes from one event to the next, not per event.
    session_files: HashMap<String, BTreeSet<PathBuf>>,
    /// The session and file of the last event.
    last_noted: Option<(String, PathBuf)>,
}

impl AssemblingSink {
    /// Makes `current` describe `source`.
    fn refresh(&mut self, source: &Source) {
        let fresh = matches!(&self.current, Some((p, s))
            if p.as_os_str() == source.path.as_os_str() && s.format == source.format);
        if !fresh {
            self.current = Some((
                source.path.clone(),
                SessionSource {
                    path: source.path.display().to_string(),
                    format: source.format,
                },
            ));
        }
    }
}

impl Sink for AssemblingSink {
    fn begin(&mut self, source: &Source) {
        self.refresh(source);
    }

    fn event(&mut self, source: &Source, event: loupe_model::Event) {
        if let Some(prefix) = &self.keep_prefix {
            if !event.session_id.starts_with(prefix.as_str()) {
                // Only its id is kept, to count the sessions read.
                if !self.others.contains(&event.session_id) {
                    self.others.insert(event.session_id);
                }
                return;
            }
        }
        self.refresh(source);
        let noted = matches!(&self.last_noted, Some((id, path))
            if *id == event.session_id && path.as_os_str() == source.path.as_os_str());
        if !noted {
            self.session_files
                .entry(event.session_id.clone())
                .or_default()
                .insert(source.path.clone());
            self.last_noted = Some((event.session_id.clone(), source.path.clone()));
        }
        if let Some((_, session_source)) = &self.current {
            self.assembler.push(session_source, event);
        }
    }

    fn skip(&mut self, skipped: Skipped) {
        self.skipped.push(skipped_record(skipped));
    }

    fn end(&mut self, source: &Source) {
        self.progress.file_done(&source.path);
    }
}

/// A reader's skipped record as the reports show it.
fn skipped_record(skipped: Skipped) -> SkippedRecord {
    SkippedRecord {
        path: skipped.path,
        line: skipped.line,
        reason: skipped.reason,
    }
}

/// A spinner on stderr while traces are read (files and bytes so far), so a
/// gigabyte of input does not look like a hang. Drawn only on a terminal.
struct ReadProgress {
    bar: indicatif::ProgressBar,
    bytes: std::cell::Cell<u64>,
}

impl ReadProgress {
    fn start() -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::with_draw_target(
                None,
                indicatif::ProgressDrawTarget::stderr(),
            );
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} reading traces: {pos} files, {msg} [{elapsed}]",
            ) {
                bar.set_style(style);
            }
            bar.set_message(indicatif::HumanBytes(0).to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        } else {
            indicatif::ProgressBar::hidden()
        };
        ReadProgress {
            bar,
            bytes: std::cell::Cell::new(0),
        }
    }

    fn file_done(&self, path: &Path) {
        if self.bar.is_hidden() {
            return;
        }
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        self.bytes.set(self.bytes.get() + size);
        self.bar.inc(1);
        self.bar
            .set_message(indicatif::HumanBytes(self.bytes.get()).to_string());
    }
}

impl ReadProgress {
    /// Clears the spinner before anything else is printed.
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for ReadProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Reads `args.paths` (or the default trace directory) into filtered sessions.
pub(crate) fn load(args: &InputArgs, format: Option<SourceFormat>) -> anyhow::Result<Loaded> {
    load_reading(args, format, &[])
}

/// [`load`], the readers leaving out the payload members `unread_payload`
/// names (the caller never reads them: less memory for large sessions).
pub(crate) fn load_reading(
    args: &InputArgs,
    format: Option<SourceFormat>,
    unread_payload: &'static [loupe_model::UnreadMember],
) -> anyhow::Result<Loaded> {
    check_window(args.since, args.until)?;
    let paths = input_paths(args)?;
    // With `--session`, only the sessions it can select are kept in memory.
    let mut sink = AssemblingSink {
        assembler: SessionAssembler::new(),
        skipped: Vec::new(),
        current: None,
        keep_prefix: args.session.clone(),
        others: HashSet::new(),
        progress: ReadProgress::start(),
        session_files: HashMap::new(),
        last_noted: None,
    };
    let opts = ReadOptions {
        format,
        unread_payload,
        ..ReadOptions::default()
    };
    let stats = loupe_formats::read_paths(&paths, &opts, &mut sink);
    sink.progress.finish();
    let stats = stats?;
    for problem in read_problems(&stats) {
        diag!("loupe: {problem}");
    }
    let (sessions, duplicates) = sink.assembler.finish_ranked();
    let mut sessions: Vec<Session> = sessions.into_iter().map(|(_, s)| s).collect();
    report_duplicates(duplicates);
    let total = sessions.len() + sink.others.len();
    if total == 0 && stats.files == 0 {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        bail!("{}: no trace files found", shown.join(", "));
    }
    if total == 0 {
        if let Some(err) = nothing_read(&sink.skipped, format) {
            return Err(err);
        }
    }
    if let Some(id) = &args.session {
        sessions = select_session(sessions, id, total)?;
    }
    if args.since.is_some() || args.until.is_some() {
        sessions.retain(|s| in_window(s, args.since, args.until));
    }
    Ok(Loaded {
        sessions,
        skipped: sink.skipped,
        unread_files: problem_records(&stats),
        session_files: sink.session_files,
    })
}

/// Streams sessions file by file and works on them in parallel, with memory
/// bounded by the files in flight rather than by the whole input (`loupe
/// stats` and `loupe analyze` over gigabytes).
///
/// Each file is read, assembled into sessions, filtered (`--session` prefix,
/// `--since`, `--until`) and worked on (`work` on each session) by the same
/// worker thread ([`loupe_formats::read_paths_per_file`]), so its events never
/// cross threads. Results come back to `each` on the calling thread in input
/// order (files in walk order, sessions in order of first appearance), so
/// output does not depend on scheduling.
///
/// A session whose events are split across several files is worked on once
/// per file; [`Streamed::split_sessions`] counts those so the caller can say
/// so, or fall back to [`load`] when [`Streamed::repeated_sessions`] is not 0.
pub(crate) fn stream<R: Send>(
    args: &InputArgs,
    format: Option<SourceFormat>,
    unread_payload: &'static [loupe_model::UnreadMember],
    work: &(dyn Fn(Session) -> R + Sync),
    each: &mut dyn FnMut(R),
) -> anyhow::Result<Streamed> {
    check_window(args.since, args.until)?;
    let paths = input_paths(args)?;
    let filter = SessionFilter {
        session: args.session.as_deref(),
        since: args.since,
        until: args.until,
    };
    let mut summary = Streamed {
        read_errors: Vec::new(),
        skipped: Vec::new(),
        unread_files: Vec::new(),
        split_sessions: 0,
        repeated_sessions: 0,
        sessions: 0,
        duplicates: 0,
    };
    // Sessions seen so far, by a 64-bit hash of their id: 16 bytes each
    // rather than the id, so memory barely grows with the input. Two ids
    // with one hash (odds about n²/2⁶⁵) would only count a session as split.
    let mut seen: HashSet<u64> = HashSet::new();
    // OpenTelemetry traces seen under a session name, and under their own
    // id only: a trace in both was split across files, and only reading
    // everything joins it (`SessionAssembler::finish_ranked`).
    let (mut named_traces, mut unnamed_traces): (HashSet<u64>, HashSet<u64>) = Default::default();
    let progress = ReadProgress::start();
    let open = |hand_on| FileCollector::new(&filter, work, hand_on);
    let close = |file: FileCollector<'_, R>| file.finish();
    let opts = ReadOptions {
        format,
        threads: 0,
        unread_payload,
    };
    let mut take = |path: &Path, file: FileParts<R>, last: bool| {
        if last {
            progress.file_done(path);
        }
        summary.skipped.extend(file.skipped);
        summary.duplicates += file.duplicates;
        for part in file.parts {
            summary.sessions += 1;
            let first = seen.insert(part.session_key);
            summary.repeated_sessions += usize::from(!first);
            for &trace in &part.traces {
                let split = if part.by_trace {
                    unnamed_traces.insert(trace);
                    named_traces.contains(&trace)
                } else {
                    named_traces.insert(trace);
                    unnamed_traces.contains(&trace)
                };
                summary.repeated_sessions += usize::from(split);
            }
            if let Some(result) = part.result {
                summary.split_sessions += usize::from(!first);
                each(result);
            }
        }
    };
    let read = loupe_formats::read_paths_per_file(&paths, &opts, &open, &close, &mut take);
    progress.finish();
    let stats = read?;
    if summary.sessions == 0 && stats.files == 0 {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        // A directory whose traces could not be opened says why.
        let problems = read_problems(&stats);
        if !problems.is_empty() {
            bail!(
                "{}: no trace file could be read: {}",
                shown.join(", "),
                problems.join("; ")
            );
        }
        bail!("{}: no trace files found", shown.join(", "));
    }
    if summary.sessions == 0 {
        if let Some(err) = nothing_read(&summary.skipped, format) {
            return Err(err);
        }
    }
    summary.unread_files = problem_records(&stats);
    Ok(Streamed {
        read_errors: read_problems(&stats),
        ..summary
    })
}

/// Refuses a time window that ends before it starts (it would select
/// nothing, silently).
pub(crate) fn check_window(
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> anyhow::Result<()> {
    if let (Some(since), Some(until)) = (since, until) {
        if since > until {
            bail!(
                "--since {} is after --until {}: the window selects nothing",
                since.to_rfc3339(),
                until.to_rfc3339()
            );
        }
    }
    Ok(())
}

/// The error for a read that found trace files but no event in them, every
/// record being skipped (a `--format` that does not fit the files, or files
/// of nothing but broken lines); `None` when nothing was skipped (empty
/// files read fine and hold no sessions).
fn nothing_read(
    skipped: &[loupe_report::SkippedRecord],
    forced: Option<SourceFormat>,
) -> Option<anyhow::Error> {
    let first = skipped.first()?;
    let n = skipped.len();
    let lines = if n == 1 { "record" } else { "records" };
    Some(match forced {
        Some(format) => anyhow::anyhow!(
            "no event read as {} (--format): all {n} {lines} skipped, first {first}; \
             without --format Loupe detects each file's format by its content",
            format.as_str()
        ),
        None => anyhow::anyhow!("no event read: all {n} {lines} skipped, first {first}"),
    })
}

/// What to warn about after a read: files of a directory walk that could not
/// be read, and ignored files whose name says they are traces (`.jsonl`,
/// `.ndjson`, possibly compressed) but whose content is not (a corrupt or
/// truncated trace). Other non-trace files (READMEs, unrelated JSON) are
/// skipped quietly, as `rg` skips binary files.
///
/// Each message starts with `error: ` or `warning: `. A file that could not
/// be read (an I/O error, or a file named on the command line that is no
/// trace) also makes the command exit 2 once its output is written
/// ([`read_failed`]), as `rg` does: what could be read is still shown, and
/// a script still learns that the input was incomplete.
pub(crate) fn read_problems(stats: &loupe_formats::ReadStats) -> Vec<String> {
    if !stats.errors.is_empty() {
        READ_FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    problem_files(stats)
        .map(|(error, path, reason)| {
            let level = if error { "error" } else { "warning" };
            format!("{level}: {path}: {reason}")
        })
        .collect()
}

/// The files [`read_problems`] names, as skipped records (no line) for the
/// JSON document's `skipped`.
pub(crate) fn problem_records(stats: &loupe_formats::ReadStats) -> Vec<SkippedRecord> {
    problem_files(stats)
        .map(|(_, path, reason)| SkippedRecord {
            path,
            line: None,
            reason,
        })
        .collect()
}

/// (is an error, path, reason) of each file a read could not use and should say so.
fn problem_files(
    stats: &loupe_formats::ReadStats,
) -> impl Iterator<Item = (bool, String, String)> + '_ {
    use loupe_formats::ReadError;
    let errors = stats.errors.iter().map(|e| {
        let (path, reason) = match e {
            ReadError::Io { path, error } => (path, error.to_string()),
            ReadError::Unrecognized { path, reason } => {
                (path, format!("not a trace Loupe can read: {reason}"))
            }
            ReadError::Invalid {
                path,
                format,
                reason,
            } => (path, format!("invalid {format} file: {reason}")),
        };
        (true, path.display().to_string(), reason)
    });
    let ignored = stats
        .ignored
        .iter()
        .filter(|i| loupe_formats::named_as_json_lines(&i.path))
        .map(|i| {
            (
                false,
                i.path.display().to_string(),
                format!("not a trace Loupe can read ({}); skipped", i.reason),
            )
        });
    errors.chain(ignored)
}

/// Set once a read met a file it could not read ([`read_problems`]):
/// `main` then exits 2 after the command's output. Every command reads
/// through this module, and the exit status is decided in one place.
static READ_FAILED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a read of this run met a file it could not read.
pub(crate) fn read_failed() -> bool {
    READ_FAILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// What [`stream`] leaves once every session has been handed over.
pub(crate) struct Streamed {
    pub(crate) skipped: Vec<SkippedRecord>,
    /// Files that could not be used (see [`Loaded::unread_files`]).
    pub(crate) unread_files: Vec<SkippedRecord>,
    /// Parts of sessions that had already appeared in an earlier file (0 when
    /// no session is split across files).
    pub(crate) split_sessions: usize,
    /// Like `split_sessions`, filtered out or not: non-zero when a session
    /// filtered out in one file but kept in another could have been kept as a whole.
    pub(crate) repeated_sessions: usize,
    /// Sessions (per file) read, before filtering.
    pub(crate) sessions: usize,
    /// Files of a directory walk that could not be read (see [`Streamed::warn`]).
    pub(crate) read_errors: Vec<String>,
    /// Events dropped as read twice within a file.
    pub(crate) duplicates: usize,
}

impl Streamed {
    /// Prints the files that could not be read, and the events read twice,
    /// on stderr, as [`load`] does.
    pub(crate) fn warn(&self) {
        for problem in &self.read_errors {
            diag!("loupe: {problem}");
        }
        report_duplicates(self.duplicates);
    }
}

/// Says on stderr how many events were dropped as read twice.
fn report_duplicates(n: usize) {
    if n > 0 {
        diag!(
            "loupe: {n} event{} read twice dropped (same session, event id and time: \
             a file read twice, or the same traces in two files)",
            if n == 1 { "" } else { "s" }
        );
    }
}

/// `--session`, `--since` and `--until` as a test on one session.
struct SessionFilter<'a> {
    session: Option<&'a str>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

impl SessionFilter<'_> {
    fn keeps(&self, session: &Session) -> bool {
        self.session
            .is_none_or(|id| session.session_id.starts_with(id))
            && ((self.since.is_none() && self.until.is_none())
                || in_window(session, self.since, self.until))
    }
}

/// One file's sessions and skipped records, assembled on the worker reading
/// it as events arrive (no intermediate list of the file's events). A
/// session the reader says is complete is worked on at once, and its result
/// handed on as soon as every session that appeared before it has been, so
/// a file of many sessions is not held whole, nor are their results.
struct FileCollector<'w, R> {
    source: Option<SessionSource>,
    sessions: SessionAssembler,
    skipped: Vec<SkippedRecord>,
    /// Sessions finished early and not yet handed on, by rank in order of
    /// first appearance.
    done: BTreeMap<usize, Part<R>>,
    /// Rank of the first session not ready yet.
    next_rank: usize,
    /// Parts ready to be handed on, in order.
    ready: Vec<Part<R>>,
    hand_on: HandOn<FileParts<R>>,
    filter: &'w SessionFilter<'w>,
    work: &'w (dyn Fn(Session) -> R + Sync),
}

impl<'w, R> FileCollector<'w, R> {
    fn new(
        filter: &'w SessionFilter<'w>,
        work: &'w (dyn Fn(Session) -> R + Sync),
        hand_on: HandOn<FileParts<R>>,
    ) -> Self {
        FileCollector {
            source: None,
            sessions: SessionAssembler::new(),
            skipped: Vec::new(),
            done: BTreeMap::new(),
            next_rank: 0,
            ready: Vec::new(),
            hand_on,
            filter,
            work,
        }
    }

    fn part(&self, session: Session) -> Part<R> {
        let by_trace = loupe_analyze::is_named_by_its_trace(&session);
        // Distinct trace ids: a set, since one session may span many traces.
        let mut traces: HashSet<u64> = HashSet::new();
        if session.source.format == SourceFormat::Otlp {
            let mut last = None;
            for t in session.events.iter().filter_map(|e| e.trace_id.as_deref()) {
                // Consecutive events mostly share a trace: hash it once.
                if last != Some(t) {
                    traces.insert(session_key(t));
                    last = Some(t);
                }
            }
        }
        Part {
            session_key: session_key(&session.session_id),
            traces,
            by_trace,
            result: self.filter.keeps(&session).then(|| (self.work)(session)),
        }
    }

    /// Every session's part not handed on yet, in order of first appearance.
    fn finish(mut self) -> FileParts<R> {
        let (rest, duplicates) = std::mem::take(&mut self.sessions).finish_ranked();
        let mut parts: Vec<(usize, Part<R>)> = std::mem::take(&mut self.done).into_iter().collect();
        parts.extend(rest.into_iter().map(|(rank, s)| (rank, self.part(s))));
        parts.sort_by_key(|(rank, _)| *rank);
        let mut ready = std::mem::take(&mut self.ready);
        ready.extend(parts.into_iter().map(|(_, p)| p));
        FileParts {
            parts: ready,
            skipped: self.skipped,
            duplicates,
        }
    }
}

impl<R> Sink for FileCollector<'_, R> {
    fn begin(&mut self, source: &Source) {
        if self.source.is_none() {
            self.source = Some(SessionSource {
                path: source.path.display().to_string(),
                format: source.format,
            });
        }
    }

    fn event(&mut self, source: &Source, event: loupe_model::Event) {
        self.begin(source);
        if let Some(source) = &self.source {
            self.sessions.push(source, event);
        }
    }

    fn skip(&mut self, skipped: Skipped) {
        self.skipped.push(skipped_record(skipped));
    }

    fn session_done(&mut self, _source: &Source, session_id: &str) {
        let Some((rank, session)) = self.sessions.take(session_id) else {
            return;
        };
        let part = self.part(session);
        self.done.insert(rank, part);
        while let Some(part) = self.done.remove(&self.next_rank) {
            self.ready.push(part);
            self.next_rank += 1;
        }
        // Handed on a few at a time, not a message (and a wake-up of the
        // receiving thread) per session.
        if self.ready.len() >= HAND_ON_BATCH {
            self.hand_on.hand_on(FileParts {
                parts: std::mem::take(&mut self.ready),
                skipped: std::mem::take(&mut self.skipped),
                duplicates: 0,
            });
        }
    }
}

/// Finished sessions' parts handed on together.
const HAND_ON_BATCH: usize = 16;

/// One session of a file as a worker leaves it: `None` when filtered out.
struct Part<R> {
    /// [`session_key`] of its id.
    session_key: u64,
    /// [`session_key`]s of its OpenTelemetry trace ids (none for other formats).
    traces: HashSet<u64>,
    /// Named by its trace id alone ([`loupe_analyze::is_named_by_its_trace`]).
    by_trace: bool,
    result: Option<R>,
}

/// What a worker leaves of one file.
struct FileParts<R> {
    parts: Vec<Part<R>>,
    skipped: Vec<SkippedRecord>,
    /// Events dropped as read twice.
    duplicates: usize,
}

/// A stable 64-bit hash of a session id (SipHash-1-3 with fixed keys).
fn session_key(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The paths to read: the arguments, else the default trace directory.
fn input_paths(args: &InputArgs) -> anyhow::Result<Vec<PathBuf>> {
    if !args.paths.is_empty() {
        // A path given twice (standard input included) is read once.
        let mut seen = HashSet::new();
        let mut paths = args.paths.clone();
        paths.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
        return Ok(paths);
    }
    let default = PathBuf::from(DEFAULT_TRACE_DIR);
    if !default.exists() {
        bail!("no PATH given and {DEFAULT_TRACE_DIR} does not exist (run `loupe demo` first, or pass trace files or directories)");
    }
    Ok(vec![default])
}

/// The session whose id is `id`, else the one whose id starts with `id`
/// (`total`: sessions read, for the message when none matches).
fn select_session(sessions: Vec<Session>, id: &str, total: usize) -> anyhow::Result<Vec<Session>> {
    if sessions.iter().any(|s| s.session_id == id) {
        return Ok(sessions
            .into_iter()
            .filter(|s| s.session_id == id)
            .collect());
    }
    let matching: Vec<Session> = sessions
        .into_iter()
        .filter(|s| s.session_id.starts_with(id))
        .collect();
    match matching.len() {
        0 => bail!("no session matches {id:?} ({total} sessions read)"),
        1 => Ok(matching),
        n => {
            let ids: Vec<&str> = matching
                .iter()
                .take(5)
                .map(|s| s.session_id.as_str())
                .collect();
            bail!(
                "{n} sessions start with {id:?} (e.g. {}); give more of the id",
                ids.join(", ")
            )
        }
    }
}

/// Whether the session's time span overlaps `[since, until]`.
fn in_window(s: &Session, since: Option<Timestamp>, until: Option<Timestamp>) -> bool {
    let (Some(first), Some(last)) = (
        s.events.iter().map(|e| e.start_time()).min(),
        s.events.iter().map(|e| e.timestamp).max(),
    ) else {
        return false;
    };
    since.is_none_or(|t| last >= t) && until.is_none_or(|t| first <= t)
}

/// Prints "N malformed lines skipped (first: file:line: reason)" on stderr
/// ("records" when some come from whole-file formats without line numbers).
pub(crate) fn report_skipped(skipped: &[SkippedRecord]) {
    if let Some(first) = skipped.first() {
        let n = skipped.len();
        let noun = if skipped.iter().all(|s| s.line.is_some()) {
            "line"
        } else {
            "record"
        };
        diag!(
            "loupe: {n} malformed {noun}{} skipped (first: {first})",
            if n == 1 { "" } else { "s" }
        );
    }
}

/// The analysis configuration for `args`: score model, prices, thresholds.
pub(crate) fn analysis_config(
    args: &AnalysisArgs,
) -> anyhow::Result<loupe_analyze::AnalysisConfig> {
    let score = match args.score.as_str() {
        "attocode-py" => loupe_analyze::ScoreModel::AttocodePy,
        "attocode-ts" => loupe_analyze::ScoreModel::AttocodeTs,
        _ => loupe_analyze::ScoreModel::Loupe,
    };
    let mut prices = loupe_analyze::PriceTable::builtin();
    if let Some(path) = &args.prices {
        let text = read_config(path)?;
        let overrides =
            loupe_analyze::PriceTable::from_toml_named(&text, &path.display().to_string())?;
        prices = prices.with_overrides(overrides);
    }
    let thresholds = match &args.thresholds {
        Some(path) => {
            let text = read_config(path)?;
            loupe_analyze::Thresholds::from_toml_named(&text, &path.display().to_string())?
        }
        None => loupe_analyze::Thresholds::default(),
    };
    Ok(loupe_analyze::AnalysisConfig {
        prices,
        thresholds,
        score,
        summary_only: false,
    })
}

fn read_config(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Analyses every session, on one thread per core; results in input order.
pub(crate) fn analyze_all(
    sessions: &[Session],
    config: &loupe_analyze::AnalysisConfig,
) -> Vec<SessionAnalysis> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sessions.len());
    if threads <= 1 {
        return sessions
            .iter()
            .map(|s| loupe_analyze::analyze(s, config))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut indexed: Vec<(usize, SessionAnalysis)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(session) = sessions.get(i) else {
                            break done;
                        };
                        done.push((i, loupe_analyze::analyze(session, config)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| match w.join() {
                Ok(done) => done,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    indexed.sort_unstable_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, a)| a).collect()
}

/// Whether to colour output going to stdout: a terminal that can show
/// colour (`TERM` is not `dumb`), and `NO_COLOR` unset or empty.
pub(crate) fn use_color(out: Option<&Path>) -> bool {
    out.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
}

/// Writes `text` to `out`, or to stdout when `out` is `None`.
pub(crate) fn write_output(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    write_output_bytes(out, text.as_bytes())
}

/// Writes `bytes` to `out` (and says so on stderr, as every command with
/// `--out` does), or to stdout when `out` is `None`.
pub(crate) fn write_output_bytes(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            create_parent_dir(path)?;
            std::fs::write(path, bytes)
                .with_context(|| format!("{}: cannot write", path.display()))?;
            diag!("loupe: wrote {}", path.display());
            Ok(())
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            stdout.flush()?;
            Ok(())
        }
    }
}

/// Creates the directory `path` goes in, if missing.
pub(crate) fn create_parent_dir(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create directory", dir.display()))?;
    }
    Ok(())
}
