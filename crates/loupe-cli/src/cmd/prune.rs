//! `loupe prune --max-age 30d | --max-count N [--db FILE] [--dry-run]`: delete whole
//! sessions (summary, events, tool runs, text no longer referenced) from the
//! store. The server applies the same [`loupe_store::RetentionPolicy`] on a schedule.

use std::path::PathBuf;
use std::process::ExitCode;

use loupe_model::Timestamp;
use loupe_store::{RetentionPolicy, DEFAULT_DB_PATH};

use crate::cmd::query::parse_duration_ms;

/// Arguments of `loupe prune`.
#[derive(clap::Args)]
#[command(group = clap::ArgGroup::new("policy").required(true).multiple(true).args(["max_age", "max_count"]))]
pub(crate) struct Args {
    /// The store.
    #[arg(long, value_name = "FILE|URL", default_value = DEFAULT_DB_PATH, env = "LOUPE_DB", help = super::DB_HELP)]
    db: PathBuf,
    /// Delete sessions whose last activity is older than this (`30d`, `12h`, `90m`, `500ms`).
    #[arg(long, value_parser = parse_age, value_name = "AGE")]
    max_age: Option<f64>,
    /// Keep only the newest N sessions (by last activity).
    #[arg(long, value_name = "N")]
    max_count: Option<usize>,
    /// List the sessions the policy would delete, and delete nothing.
    #[arg(long)]
    dry_run: bool,
}

/// An age with its unit: a bare number is refused, since `--max-age 30`
/// read as 30 ms would delete every session.
fn parse_age(s: &str) -> Result<f64, String> {
    if s.trim().parse::<f64>().is_ok() {
        return Err(format!("give a unit, e.g. 30d (got {s:?})"));
    }
    parse_duration_ms(s)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let store = super::open_existing_store(&args.db)?;
    let policy = RetentionPolicy {
        max_age_ms: args.max_age,
        max_count: args.max_count,
        now: Timestamp::now(),
    };
    if args.dry_run {
        let doomed = store.prune_preview(&policy)?;
        super::outln!(
            "would prune {} session{} from {} (dry run: nothing deleted)",
            doomed.len(),
            if doomed.len() == 1 { "" } else { "s" },
            args.db.display()
        );
        for id in &doomed {
            super::outln!("  {id}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let outcome = store.prune(&policy)?;
    super::outln!(
        "pruned {} sessions ({} events) from {}",
        outcome.sessions.len(),
        outcome.events,
        args.db.display()
    );
    for id in &outcome.sessions {
        super::outln!("  {id}");
    }
    Ok(ExitCode::SUCCESS)
}
