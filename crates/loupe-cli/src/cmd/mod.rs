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

/// `eprintln!` for diagnostics: their text names files and quotes input
/// (paths, reasons), so control characters in it are escaped by
/// [`terminal_safe`] before it reaches the terminal.
macro_rules! diag {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::cmd::terminal_safe(&format!($($arg)*)))
    };
}
pub(crate) use diag;

/// `text` with the characters that would act on a terminal instead of being
/// shown (control characters but newline and tab, and the bidirectional
/// overrides that reorder what follows) written as `\u{..}` escapes, as
/// `loupe view` shows them in trace text.
pub(crate) fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let acts = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(acts) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if acts(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

use loupe_store::{ClickHouseStore, SqliteStore, Store, READABLE_SCHEMA_VERSION, SCHEMA_VERSION};

/// Help text of every `--db`: a SQLite file, or a ClickHouse server.
pub(crate) const DB_HELP: &str = "The store: a SQLite file, or clickhouse://HOST:PORT/DATABASE (ClickHouse's HTTP interface; ingest and serve create the database if missing)";

/// A ClickHouse `--db` (`clickhouse://HOST:PORT[/DATABASE]`) as the HTTP
/// URL and database name; `None` for a SQLite path.
pub(crate) fn clickhouse_target(db: &Path) -> Option<(String, String)> {
    let text = db.to_str()?;
    let rest = text.strip_prefix("clickhouse://")?;
    let (host, database) = rest.split_once('/').unwrap_or((rest, "loupe"));
    let database = database.trim_end_matches('/');
    Some((
        format!("http://{host}"),
        if database.is_empty() {
            "loupe"
        } else {
            database
        }
        .to_owned(),
    ))
}

/// Opens the store `--db` names: a ClickHouse server, or a SQLite file
/// ([`open_store`]).
pub(crate) fn open_any_store(db: &Path) -> loupe_store::StoreResult<Box<dyn Store>> {
    match clickhouse_target(db) {
        Some((url, database)) => Ok(Box::new(ClickHouseStore::connect(&url, &database)?)),
        None => Ok(Box::new(open_store(db)?)),
    }
}

/// Opens the existing store `--db` names for a command that reads or
/// deletes but never adds: a missing SQLite file or ClickHouse database is
/// refused ([`existing_store`]) rather than created.
pub(crate) fn open_existing_store(db: &Path) -> anyhow::Result<Box<dyn Store>> {
    existing_store(db)?;
    Ok(match clickhouse_target(db) {
        Some((url, database)) => Box::new(ClickHouseStore::connect_existing(&url, &database)?),
        None => Box::new(open_store(db)?),
    })
}

/// Opens the existing store `--db` names for a command that only reads
/// (`query`, `tui --db`): a current SQLite store is opened read-only, so
/// the command neither waits for a writer's transaction nor needs to write
/// the store's directory; one too old to be read as it is is upgraded first.
pub(crate) fn open_store_for_reading(db: &Path) -> anyhow::Result<Box<dyn Store>> {
    if clickhouse_target(db).is_some() {
        return open_existing_store(db);
    }
    existing_store(db)?;
    match SqliteStore::stored_schema_version(db) {
        // Upgraded once where it can be (the upgrade also corrects what
        // older versions stored), read as it is where it cannot be written.
        Some(version) if version < SCHEMA_VERSION => match open_store(db) {
            Ok(store) => Ok(Box::new(store)),
            Err(e)
                if version >= READABLE_SCHEMA_VERSION
                    && e.kind() == loupe_store::StoreErrorKind::Io =>
            {
                diag!(
                    "loupe: {}: cannot upgrade it here ({}); reading it as it is",
                    db.display(),
                    e.reason()
                );
                Ok(Box::new(SqliteStore::open_read_only(db)?))
            }
            Err(e) => Err(e.into()),
        },
        // Current, or unreadable here: the read-only open says why.
        _ => Ok(Box::new(SqliteStore::open_read_only(db)?)),
    }
}

/// Refuses a SQLite `--db` that does not exist or is an empty file, for
/// commands that only read or delete (SQLite would create it, or take an
/// empty file for an empty database and write a schema into it). A
/// ClickHouse database is checked when connecting
/// ([`open_existing_store`]).
pub(crate) fn existing_store(db: &Path) -> anyhow::Result<()> {
    if clickhouse_target(db).is_some() {
        return Ok(());
    }
    if !db.exists() {
        anyhow::bail!("{}: no such store (run `loupe ingest` first)", db.display());
    }
    if std::fs::metadata(db).is_ok_and(|m| m.is_file() && m.len() == 0) {
        anyhow::bail!(
            "{}: empty file, not a Loupe store (run `loupe ingest` first)",
            db.display()
        );
    }
    Ok(())
}

/// Opens (creating if missing) a SQLite store, saying on stderr first when
/// the store is from an older Loupe and will be upgraded: the upgrade
/// rewrites its events once, which takes a while on a big store.
pub(crate) fn open_store(path: &Path) -> loupe_store::StoreResult<SqliteStore> {
    if let Some(version) = SqliteStore::stored_schema_version(path) {
        if version > 0 && version < SCHEMA_VERSION {
            diag!(
                "loupe: upgrading the store {} from schema {version} to {SCHEMA_VERSION} (once; a big store takes a while)",
                path.display()
            );
        }
    }
    SqliteStore::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_show_escape_sequences_and_bidi_overrides_instead_of_obeying_them() {
        assert_eq!(
            terminal_safe("a\u{1b}]0;pwned\u{7}b.jsonl:2: bad\nnext\tline"),
            "a\\u{1b}]0;pwned\\u{7}b.jsonl:2: bad\nnext\tline"
        );
        assert_eq!(terminal_safe("x\u{202e}txt.exe"), "x\\u{202e}txt.exe");
        assert!(matches!(
            terminal_safe("plain: fine"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn a_clickhouse_db_is_a_url_and_anything_else_a_file() {
        let target = |s: &str| clickhouse_target(Path::new(s));
        assert_eq!(
            target("clickhouse://127.0.0.1:8123/traces"),
            Some(("http://127.0.0.1:8123".into(), "traces".into()))
        );
        assert_eq!(
            target("clickhouse://ch:8123"),
            Some(("http://ch:8123".into(), "loupe".into()))
        );
        assert_eq!(target(".loupe/loupe.db"), None);
        assert_eq!(target("clickhouse.db"), None);
    }
}
