//! One module per subcommand. Each defines `Args` (clap) and
//! `run(Args) -> anyhow::Result<ExitCode>`; `main.rs` only dispatches.

pub(crate) mod analyze;
pub(crate) mod compare;
pub(crate) mod convert;
pub(crate) mod demo;
pub(crate) mod export;
pub(crate) mod ingest;
pub(crate) mod input;
pub(crate) mod prune;
pub(crate) mod query;
pub(crate) mod serve;
pub(crate) mod stats;
pub(crate) mod tail;
pub(crate) mod tui;
pub(crate) mod tui_server;
pub(crate) mod view;

use std::path::Path;

/// `println!` that returns an error instead of panicking when standard
/// output is closed (`| head`) or full; `main` ends quietly on a closed pipe
/// and names the failure otherwise.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        anyhow::Context::context(
            writeln!(std::io::stdout(), $($arg)*),
            "writing to standard output",
        )?
    }};
}
pub(crate) use outln;

use loupe_store::{SqliteStore, SCHEMA_VERSION};

/// Opens (creating if missing) a SQLite store, saying on stderr first when
/// the store is from an older Loupe and will be upgraded: the upgrade
/// rewrites its events once, which takes a while on a big store.
pub(crate) fn open_store(path: &Path) -> loupe_store::StoreResult<SqliteStore> {
    if let Some(version) = SqliteStore::stored_schema_version(path) {
        if version > 0 && version < SCHEMA_VERSION {
            eprintln!(
                "loupe: upgrading the store {} from schema {version} to {SCHEMA_VERSION} (once; a big store takes a while)",
                path.display()
            );
        }
    }
    SqliteStore::open(path)
}
