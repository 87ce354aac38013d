//! `loupe demo`: record a simulated coding agent through the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `loupe demo`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Directory to write the traces to.
    #[arg(long, default_value = ".loupe/traces")]
    out: PathBuf,
    /// Number of sessions to record.
    #[arg(long, default_value_t = 3)]
    sessions: usize,
    /// Seed for the simulation (same seed, same traces).
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    // A demo, not a load generator (bench/ has those): bounded so a typo
    // does not fill the disk.
    const MAX_SESSIONS: usize = 100_000;
    if args.sessions == 0 || args.sessions > MAX_SESSIONS {
        anyhow::bail!("--sessions must be between 1 and {MAX_SESSIONS}");
    }
    let report = loupe::demo::run_demo(&args.out, args.sessions, args.seed)
        .with_context(|| format!("recording the demo into {}", args.out.display()))?;
    super::outln!(
        "Recorded {} sessions ({} events) into {}",
        report.files.len(),
        report.events,
        args.out.display()
    );
    for file in &report.files {
        super::outln!("  {}", file.display());
    }
    super::outln!(
        "Next: loupe view {}   (or: loupe analyze {})",
        args.out.display(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
