//! The `loupe` binary: parse arguments, call the library crates, set the exit
//! code in one place.
//!
//! Exit codes (design §4): 0 success; 1 a gate failed (`--fail-on-regression`,
//! thresholds); 2 bad usage or unreadable input. A closed stdout (`loupe view |
//! head`) exits 0.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// mimalloc rather than glibc malloc: reading, analysing and serving build and
// free millions of small strings and maps, often freed on another thread;
// measured 1.6-2.5x less CPU on the store's 100k-event session read
// (docs/benchmarks.md, Store).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Record, read, analyse and show the traces of LLM agents.
#[derive(Parser)]
#[command(name = "loupe", version, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record a simulated coding agent's sessions through the Loupe library.
    Demo(cmd::demo::Args),
    /// Convert traces to canonical Loupe JSONL or OTLP JSON, one file per session.
    Convert(cmd::convert::Args),
    /// Show sessions: summary, timeline, span tree or token flow (text, JSON, CSV, Markdown, HTML).
    View(cmd::view::Args),
    /// Summary, detected issues and their fixes.
    Analyze(cmd::analyze::Args),
    /// Detected issues only, with fixes.
    Issues(cmd::analyze::Args),
    /// The fixes for detected issues only.
    Fixes(cmd::analyze::Args),
    /// Compare two runs or groups of runs; `--fail-on-regression` exits 1 on regressions.
    Compare(cmd::compare::Args),
    /// Statistics across many sessions.
    Stats(cmd::stats::Args),
    /// Export sessions (JSON, JSONL, CSV, Markdown, HTML, OTLP) or a compact summary for an LLM.
    Export(cmd::export::Args),
    /// Store traces in the embedded store (idempotent, incremental).
    Ingest(cmd::ingest::Args),
    /// List stored sessions or tool runs matching filters.
    Query(cmd::query::Args),
    /// Delete old sessions from the store (--max-age 30d, --max-count N).
    Prune(cmd::prune::Args),
    /// Run the ingestion server (OTLP/HTTP and native), REST API, live stream and web viewer.
    Serve(cmd::serve::Args),
    /// Interactive dashboard: browse, inspect and compare sessions, refreshed live.
    Tui(cmd::tui::Args),
    /// Print each event of a growing trace as it arrives, with running totals.
    Tail(cmd::tail::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Ingest(args) => cmd::ingest::run(args),
        Command::Query(args) => cmd::query::run(args),
        Command::Prune(args) => cmd::prune::run(args),
        Command::View(args) => cmd::view::run(args),
        Command::Analyze(args) => cmd::analyze::run(args, cmd::analyze::Focus::All),
        Command::Issues(args) => cmd::analyze::run(args, cmd::analyze::Focus::Issues),
        Command::Fixes(args) => cmd::analyze::run(args, cmd::analyze::Focus::Fixes),
        Command::Compare(args) => cmd::compare::run(args),
        Command::Stats(args) => cmd::stats::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Tui(args) => cmd::tui::run(args),
        Command::Tail(args) => cmd::tail::run(args),
    };
    match result {
        // A file that could not be read fails the run once what could be
        // read is shown (see `input::read_problems`).
        Ok(code) if code == ExitCode::SUCCESS && cmd::input::read_failed() => ExitCode::from(2),
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("loupe: {}", cmd::terminal_safe(&error_chain(&err)));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-separated like `{err:#}`, leaving out a
/// cause whose text the message already holds (errors that print their
/// source and also return it would say it twice).
fn error_chain(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|e| {
        // JSON and CSV writers wrap the I/O error in their own type, which
        // does not give it as its source.
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|json| json.io_error_kind() == Some(BrokenPipe))
            || e.downcast_ref::<csv::Error>().is_some_and(
                |csv| matches!(csv.kind(), csv::ErrorKind::Io(io) if io.kind() == BrokenPipe),
            )
    })
}
