//! Shared plumbing of the analysis commands (`view`, `analyze`, `issues`,
//! `fixes`, `compare`, `stats`, `export`): read paths into sessions, filter
//! them (`--session`, `--since`, `--until`), analyse them with the user's
//! prices/thresholds/score model, and write the result to stdout or `--out`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use loupe_analyze::{Session, SessionAnalysis, SessionAssembler, SessionSource};
use loupe_formats::{ReadOptions, Sink, Skipped, Source};
use loupe_model::{SourceFormat, Timestamp};
use loupe_report::SkippedRecord;

/// Where traces are when no PATH is given (design §4).
pub(crate) const DEFAULT_TRACE_DIR: &str = ".loupe/traces";

/// Input selection shared by every analysis command.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct InputArgs {
    /// Trace files or directories (searched recursively). Default: .loupe/traces
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<PathBuf>,
    /// Only the session with this id (or unique id prefix).
    #[arg(long, value_name = "ID")]
    pub(crate) session: Option<String>,
    /// Only sessions active at or after T: RFC 3339, a date, or relative (30m, 2h, 7d).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) since: Option<Timestamp>,
    /// Only sessions active at or before T: RFC 3339, a date, or relative (30m, 2h, 7d).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub(crate) until: Option<Timestamp>,
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
}

/// Feeds read events into a [`SessionAssembler`], remembering skipped records.
struct AssemblingSink {
    assembler: SessionAssembler,
    skipped: Vec<SkippedRecord>,
    /// The source of the file being read, built once per file rather than per event.
    current: Option<(PathBuf, SessionSource)>,
}

impl AssemblingSink {
    /// Makes `current` describe `source`.
    fn refresh(&mut self, source: &Source) {
        let fresh =
            matches!(&self.current, Some((p, s)) if *p == source.path && s.format == source.format);
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
        self.refresh(source);
        if let Some((_, session_source)) = &self.current {
            self.assembler.push(session_source, event);
        }
    }

    fn skip(&mut self, skipped: Skipped) {
        self.skipped.push(SkippedRecord {
            path: skipped.path,
            line: skipped.line,
            reason: skipped.reason,
        });
    }
}

/// Reads `args.paths` (or the default trace directory) into filtered sessions.
pub(crate) fn load(args: &InputArgs, format: Option<SourceFormat>) -> anyhow::Result<Loaded> {
    let paths = input_paths(args)?;
    let mut sink = AssemblingSink {
        assembler: SessionAssembler::new(),
        skipped: Vec::new(),
        current: None,
    };
    let opts = ReadOptions { format, threads: 0 };
    let stats = loupe_formats::read_paths(&paths, &opts, &mut sink)?;
    for err in &stats.errors {
        eprintln!("loupe: warning: {err}");
    }
    let mut sessions = sink.assembler.finish();
    if sessions.is_empty() && stats.files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        bail!("{}: no trace files found", shown.join(", "));
    }
    if let Some(id) = &args.session {
        sessions = select_session(sessions, id)?;
    }
    if args.since.is_some() || args.until.is_some() {
        sessions.retain(|s| in_window(s, args.since, args.until));
    }
    Ok(Loaded {
        sessions,
        skipped: sink.skipped,
    })
}

/// Streams sessions file by file: each file's events are assembled, filtered
/// and handed to `each` when the file ends, then dropped, so memory is bounded
/// by the largest file rather than by the whole input (`loupe stats` over
/// gigabytes). A session whose events are split across several files reaches
/// `each` once per file; the count of such sessions is returned so the caller
/// can say so.
pub(crate) fn stream(
    args: &InputArgs,
    format: Option<SourceFormat>,
    each: &mut (dyn FnMut(&Session) + Send),
) -> anyhow::Result<Streamed> {
    let paths = input_paths(args)?;
    let mut sink = StreamingSink {
        inner: AssemblingSink {
            assembler: SessionAssembler::new(),
            skipped: Vec::new(),
            current: None,
        },
        args,
        each,
        seen: std::collections::HashSet::new(),
        split: 0,
        sessions: 0,
    };
    let opts = ReadOptions { format, threads: 0 };
    let stats = loupe_formats::read_paths(&paths, &opts, &mut sink)?;
    sink.flush();
    for err in &stats.errors {
        eprintln!("loupe: warning: {err}");
    }
    if sink.sessions == 0 && stats.files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        bail!("{}: no trace files found", shown.join(", "));
    }
    Ok(Streamed {
        skipped: std::mem::take(&mut sink.inner.skipped),
        split_sessions: sink.split,
    })
}

/// What [`stream`] leaves once every session has been handed over.
pub(crate) struct Streamed {
    pub(crate) skipped: Vec<SkippedRecord>,
    /// Sessions that appeared in more than one file.
    pub(crate) split_sessions: usize,
}

struct StreamingSink<'a> {
    inner: AssemblingSink,
    args: &'a InputArgs,
    each: &'a mut (dyn FnMut(&Session) + Send),
    /// Session ids already handed over (ids only: small).
    seen: std::collections::HashSet<String>,
    split: usize,
    sessions: usize,
}

impl StreamingSink<'_> {
    fn flush(&mut self) {
        let assembler = std::mem::take(&mut self.inner.assembler);
        for session in assembler.finish() {
            if let Some(id) = &self.args.session {
                if !session.session_id.starts_with(id.as_str()) {
                    continue;
                }
            }
            if (self.args.since.is_some() || self.args.until.is_some())
                && !in_window(&session, self.args.since, self.args.until)
            {
                continue;
            }
            if !self.seen.insert(session.session_id.clone()) {
                self.split += 1;
            }
            self.sessions += 1;
            (self.each)(&session);
        }
    }
}

impl Sink for StreamingSink<'_> {
    fn begin(&mut self, source: &Source) {
        self.inner.begin(source);
    }

    fn event(&mut self, source: &Source, event: loupe_model::Event) {
        self.inner.event(source, event);
    }

    fn skip(&mut self, skipped: Skipped) {
        self.inner.skip(skipped);
    }

    fn end(&mut self, _source: &Source) {
        self.flush();
    }
}

/// The paths to read: the arguments, else the default trace directory.
fn input_paths(args: &InputArgs) -> anyhow::Result<Vec<PathBuf>> {
    if !args.paths.is_empty() {
        return Ok(args.paths.clone());
    }
    let default = PathBuf::from(DEFAULT_TRACE_DIR);
    if !default.exists() {
        bail!("no PATH given and {DEFAULT_TRACE_DIR} does not exist (run `loupe demo` first, or pass trace files or directories)");
    }
    Ok(vec![default])
}

/// The session whose id is `id`, else the one whose id starts with `id`.
fn select_session(sessions: Vec<Session>, id: &str) -> anyhow::Result<Vec<Session>> {
    let total = sessions.len();
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
        eprintln!(
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

/// Analyses every session.
pub(crate) fn analyze_all(
    sessions: &[Session],
    config: &loupe_analyze::AnalysisConfig,
) -> Vec<SessionAnalysis> {
    sessions
        .iter()
        .map(|s| loupe_analyze::analyze(s, config))
        .collect()
}

/// Whether to colour output going to stdout: a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn use_color(out: Option<&Path>) -> bool {
    out.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes `text` to `out`, or to stdout when `out` is `None`.
pub(crate) fn write_output(out: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("{}: cannot create directory", dir.display()))?;
            }
            std::fs::write(path, text).with_context(|| format!("{}: cannot write", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(())
        }
    }
}
