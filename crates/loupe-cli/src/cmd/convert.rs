//! `loupe convert`: rewrite any supported trace as canonical Loupe JSONL or
//! OTLP JSON, one output file per session.

use std::path::PathBuf;
use std::process::ExitCode;

use loupe_formats::{ConvertTarget, ExistingOutput, ReadOptions};

use super::diag;

/// Output format of `loupe convert`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum To {
    /// Canonical Loupe JSONL (`{session_id}.jsonl`).
    Canonical,
    /// OTLP JSON (`{session_id}.otlp.json`).
    Otlp,
}

/// Arguments of `loupe convert`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Trace files or directories (read recursively; format detected per
    /// file); `-` reads standard input.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long)]
    to: To,
    /// Output directory (created if missing). An output file that exists
    /// already is not overwritten: the conversion fails, naming it, and
    /// leaves no output behind (see --force).
    #[arg(long)]
    out: PathBuf,
    /// Overwrite output files that exist already.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    format: super::input::FormatArg,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = ReadOptions {
        format: args.format.format,
        ..ReadOptions::default()
    };
    let to = match args.to {
        To::Canonical => ConvertTarget::Canonical,
        To::Otlp => ConvertTarget::Otlp,
    };
    let existing = if args.force {
        ExistingOutput::Overwrite
    } else {
        ExistingOutput::Refuse
    };
    let report = loupe_formats::convert_paths(&args.paths, &opts, to, &args.out, existing)?;
    if report.read.files == 0 && report.sessions.is_empty() {
        for problem in super::input::read_problems(&report.read) {
            diag!("loupe: {problem}");
        }
        let shown: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        anyhow::bail!("{}: no trace files found", shown.join(", "));
    }
    let events: u64 = report.sessions.iter().map(|s| s.events).sum();
    super::outln!(
        "Converted {} files into {} sessions ({} events) in {}",
        report.read.files,
        report.sessions.len(),
        events,
        args.out.display()
    );
    for s in &report.sessions {
        super::outln!("  {}  {} events", s.path.display(), s.events);
    }
    for problem in super::input::read_problems(&report.read) {
        diag!("loupe: {problem}");
    }
    if report.duplicates > 0 {
        diag!(
            "loupe: {} event{} read twice written once (same session, event id and time)",
            report.duplicates,
            if report.duplicates == 1 { "" } else { "s" }
        );
    }
    if !report.skipped.is_empty() {
        diag!("{} malformed records skipped:", report.skipped.len());
        for s in &report.skipped {
            diag!("  {s}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
