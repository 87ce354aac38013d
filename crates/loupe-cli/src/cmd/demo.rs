//! `loupe demo`: record a simulated coding agent through the library.

use std::path::PathBuf;
use std::process::ExitCode;

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
    let _ = (&args.out, args.sessions, args.seed);
    anyhow::bail!("loupe demo is not wired yet")
}
