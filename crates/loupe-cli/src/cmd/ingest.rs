//! `loupe ingest PATH... [--db FILE]`: store traces (any supported format)
//! in the embedded store. Idempotent and incremental; see
//! `loupe_ingest`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use loupe_store::DEFAULT_DB_PATH;

use loupe_ingest::{expand_paths, ingest};

use super::diag;

/// Arguments of `loupe ingest`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Trace files or directories (walked recursively); `-` reads standard
    /// input.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The store (created if missing).
    #[arg(long, value_name = "FILE|URL", default_value = DEFAULT_DB_PATH, env = "LOUPE_DB", help = super::DB_HELP)]
    db: PathBuf,
    #[command(flatten)]
    format: crate::cmd::input::FormatArg,
    /// Do not print the summary line.
    #[arg(long, short)]
    quiet: bool,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let files = expand_paths(&args.paths)?;
    let store = super::open_any_store(&args.db)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let bar = if std::io::stderr().is_terminal() && !args.quiet {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} ingesting [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let config = loupe_analyze::AnalysisConfig {
        prices: loupe_analyze::PriceTable::builtin(),
        thresholds: loupe_analyze::Thresholds::default(),
        score: loupe_analyze::ScoreModel::Loupe,
        summary_only: true,
    };
    let summary = ingest(&*store, &files, args.format.format, &config, &mut |bytes| {
        bar.inc(bytes)
    })?;
    bar.finish_and_clear();
    for s in summary.skipped.iter().take(20) {
        diag!("loupe: skipped {s}");
    }
    if summary.skipped.len() > 20 {
        diag!(
            "loupe: ... and {} more skipped records",
            summary.skipped.len() - 20
        );
    }
    for e in &summary.errors {
        diag!("loupe: error: {e}");
    }
    for name in &summary.ignored_traces {
        diag!("loupe: warning: {name}; skipped");
    }
    if summary.files_read + summary.files_unchanged == 0 {
        let shown: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        diag!("loupe: warning: {}: no trace files found", shown.join(", "));
    }
    if !args.quiet {
        let secs = summary.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            summary.events.inserted as f64 / secs
        } else {
            0.0
        };
        super::outln!(
            "ingested {} file{} ({} unchanged, {} ignored) into {}: {} new events, {} duplicates, {} session{} updated, {} skipped records in {:.2} s ({:.0} events/s)",
            summary.files_read,
            if summary.files_read == 1 { "" } else { "s" },
            summary.files_unchanged,
            summary.files_ignored,
            args.db.display(),
            summary.events.inserted,
            summary.events.duplicates,
            summary.sessions,
            if summary.sessions == 1 { "" } else { "s" },
            summary.skipped.len(),
            secs,
            rate
        );
    }
    Ok(if summary.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
