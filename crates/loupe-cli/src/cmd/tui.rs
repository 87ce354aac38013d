//! `loupe tui [PATH | --db FILE | --server URL]`: the interactive dashboard
//! (crate `loupe-tui`) over trace files or a store, refreshed live.
//!
//! PATH mode polls the files' sizes and modification times once a second
//! and re-reads everything when one changed (a whole re-read keeps session
//! assembly exact across files; incremental reading is left for later).
//! Polls run on the dashboard's loader thread, so a long re-read of a large
//! growing file does not hold up keys; the footer says `loading…`.
//! `--db` opens the SQLite store and re-reads it when the database or its
//! WAL changes. `--server` follows a Loupe server's REST API (see
//! [`super::tui_server`]).

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context as _};
use loupe_analyze::{AnalysisConfig, SessionAnalysis, SessionAssembler, SessionSource};
use loupe_formats::{ReadOptions, Sink, Skipped, Source};
use loupe_model::SourceFormat;
use loupe_store::{EventQuery, SessionQuery, Store};

use super::input;

/// How often the dashboard looks for changed data.
const REFRESH: Duration = Duration::from_secs(1);

/// Arguments of `loupe tui`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Trace file or directory to browse (searched recursively). Default: .loupe/traces
    #[arg(value_name = "PATH", conflicts_with_all = ["db", "server"])]
    path: Option<PathBuf>,
    /// Browse a Loupe store, read-only: a SQLite file written by `loupe ingest`,
    /// or clickhouse://HOST:PORT/DATABASE.
    #[arg(long, value_name = "FILE|URL", conflicts_with = "server")]
    db: Option<PathBuf>,
    /// Browse a Loupe server (`loupe serve`), e.g. http://127.0.0.1:4318.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Read key for `--server` (also LOUPE_READ_KEY or LOUPE_API_KEY).
    #[arg(long, value_name = "KEY", requires = "server")]
    api_key: Option<String>,
    #[command(flatten)]
    format: input::FormatArg,
    #[command(flatten)]
    analysis: input::AnalysisArgs,
}

/// Runs the dashboard until the user quits.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = input::analysis_config(&args.analysis)?;
    let mut feed: Box<dyn loupe_tui::Feed + Send> = match (&args.server, &args.db) {
        (Some(url), _) => {
            let key = args
                .api_key
                .clone()
                .or_else(|| std::env::var("LOUPE_READ_KEY").ok())
                .or_else(|| std::env::var("LOUPE_API_KEY").ok())
                .and_then(|k| k.split(',').next().map(|k| k.trim().to_owned()))
                .filter(|k| !k.is_empty());
            Box::new(super::tui_server::ServerFeed::new(url, key, config))
        }
        (None, Some(db)) => Box::new(DbFeed::new(db, config)?),
        (None, None) => {
            let path = args
                .path
                .clone()
                .unwrap_or_else(|| PathBuf::from(input::DEFAULT_TRACE_DIR));
            if !path.exists() {
                bail!(
                    "{}: no such file or directory (pass a trace file or directory)",
                    path.display()
                );
            }
            Box::new(PathFeed::new(path, args.format.format, config))
        }
    };
    if !std::io::stdout().is_terminal() {
        bail!("loupe tui needs a terminal (use `loupe view` for text output)");
    }
    // The first load happens before the screen switches, so a bad input is a
    // plain error message rather than a flash of the dashboard.
    let mut app = loupe_tui::first_load(feed.as_mut()).map_err(anyhow::Error::msg)?;
    let exit = loupe_tui::run(&mut app, feed, REFRESH).context("terminal error")?;
    // Ended by SIGTERM/SIGHUP/SIGINT: 128 + its number, as a shell reports it.
    Ok(ExitCode::from(exit.status()))
}

/// Size and modification time of each file under the followed paths.
type Stamp = Vec<(PathBuf, u64, Option<SystemTime>)>;

fn stamp_into(path: &Path, out: &mut Stamp) {
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            stamp_into(&entry.path(), out);
        }
    } else {
        out.push((path.to_path_buf(), meta.len(), meta.modified().ok()));
    }
}

/// Trace files or a directory, re-read when anything under them changes.
struct PathFeed {
    path: PathBuf,
    format: Option<SourceFormat>,
    config: AnalysisConfig,
    /// `None` until the first load, so the first poll always loads.
    stamp: Option<Stamp>,
    /// What went wrong in the last load, for the footer.
    warning: Option<String>,
}

impl PathFeed {
    fn new(path: PathBuf, format: Option<SourceFormat>, config: AnalysisConfig) -> Self {
        PathFeed {
            path,
            format,
            config,
            stamp: None,
            warning: None,
        }
    }

    fn load(&mut self) -> Result<Vec<SessionAnalysis>, String> {
        let mut sink = TuiSink {
            assembler: SessionAssembler::new(),
            skipped: 0,
            first_skipped: None,
        };
        let opts = ReadOptions {
            format: self.format,
            ..ReadOptions::default()
        };
        let stats = loupe_formats::read_paths(std::slice::from_ref(&self.path), &opts, &mut sink)
            .map_err(|e| e.to_string())?;
        let sessions = sink.assembler.finish();
        let analyses = sessions
            .iter()
            .map(|s| loupe_analyze::analyze(s, &self.config))
            .collect();
        // Problems with single files do not stop the dashboard: the footer shows them.
        self.warning = match (stats.errors.first(), sink.first_skipped) {
            (Some(first), _) => Some(format!(
                "{} unreadable file(s), first: {first}",
                stats.errors.len()
            )),
            (None, Some(first)) => Some(format!(
                "{} malformed record(s) skipped, first: {first}",
                sink.skipped
            )),
            (None, None) => None,
        };
        Ok(analyses)
    }
}

impl loupe_tui::Feed for PathFeed {
    fn poll(&mut self) -> Result<Option<Vec<SessionAnalysis>>, String> {
        let mut now = Stamp::new();
        stamp_into(&self.path, &mut now);
        now.sort();
        if self.stamp.as_ref() == Some(&now) {
            return Ok(None);
        }
        self.stamp = Some(now);
        self.load().map(Some)
    }

    fn warning(&self) -> Option<String> {
        self.warning.clone()
    }
}

/// Assembles sessions from everything read, counting skipped records
/// (warnings are not printed: they would scribble over the dashboard).
struct TuiSink {
    assembler: SessionAssembler,
    skipped: u64,
    first_skipped: Option<Skipped>,
}

impl Sink for TuiSink {
    fn event(&mut self, source: &Source, event: loupe_model::Event) {
        let session_source = SessionSource {
            path: source.path.display().to_string(),
            format: source.format,
        };
        self.assembler.push(&session_source, event);
    }

    fn skip(&mut self, skipped: Skipped) {
        self.skipped += 1;
        self.first_skipped.get_or_insert(skipped);
    }
}

/// A store: a SQLite file, re-read when the database file or its WAL
/// changes, or a ClickHouse server, re-read every few seconds.
struct DbFeed {
    path: PathBuf,
    store: Box<dyn Store>,
    config: AnalysisConfig,
    stamp: Option<Stamp>,
    /// For a ClickHouse store: when it was last read.
    remote_read: Option<Option<Instant>>,
}

/// How often a ClickHouse store is read again (it has no file to watch).
const REMOTE_REFRESH: Duration = Duration::from_secs(5);

impl DbFeed {
    fn new(path: &Path, config: AnalysisConfig) -> anyhow::Result<Self> {
        let remote = super::clickhouse_target(path).is_some();
        // `SqliteStore::open` creates missing stores; a viewer must not.
        if !remote && !path.is_file() {
            bail!(
                "{}: no such store (run `loupe ingest` first)",
                path.display()
            );
        }
        let store = super::open_store_for_reading(path)?;
        Ok(DbFeed {
            path: path.to_path_buf(),
            store,
            config,
            stamp: None,
            remote_read: remote.then_some(None),
        })
    }

    fn load(&self) -> Result<Vec<SessionAnalysis>, String> {
        let rows = self
            .store
            .sessions(&SessionQuery::default())
            .map_err(|e| e.to_string())?;
        let mut analyses = Vec::with_capacity(rows.len());
        for row in rows {
            // Where the session was read from, as the server analyses it
            // (an OpenTelemetry session's outcome depends on it).
            let source = match &row.source {
                Some(s) => SessionSource {
                    path: s.path.clone(),
                    format: s.format,
                },
                None => SessionSource {
                    path: self.path.display().to_string(),
                    format: SourceFormat::Loupe,
                },
            };
            let events = self
                .store
                .events(&row.session_id, &EventQuery::default())
                .map_err(|e| e.to_string())?;
            let mut session = loupe_analyze::Session {
                session_id: row.session_id,
                source,
                events,
            };
            loupe_analyze::finish_session(&mut session);
            analyses.push(loupe_analyze::analyze(&session, &self.config));
        }
        Ok(analyses)
    }
}

impl loupe_tui::Feed for DbFeed {
    fn poll(&mut self) -> Result<Option<Vec<SessionAnalysis>>, String> {
        if let Some(last) = self.remote_read {
            if last.is_some_and(|t| t.elapsed() < REMOTE_REFRESH) {
                return Ok(None);
            }
            self.remote_read = Some(Some(Instant::now()));
            return self.load().map(Some);
        }
        let mut now = Stamp::new();
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        for path in [&self.path, &wal] {
            if let Ok(meta) = std::fs::metadata(path) {
                now.push((path.clone(), meta.len(), meta.modified().ok()));
            }
        }
        if self.stamp.as_ref() == Some(&now) {
            return Ok(None);
        }
        self.stamp = Some(now);
        self.load().map(Some)
    }
}
