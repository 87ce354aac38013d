//! The `loupe` binary: parse arguments, call the library crates, set the exit
//! code in one place.
//!
//! Exit codes (design §4): 0 success; 1 a gate failed (`--fail-on-regression`,
//! thresholds); 2 bad usage or unreadable input. A closed stdout (`loupe view |
//! head`) exits 0.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Record, read, analyse and show the traces of LLM agents.
#[derive(Parser)]
#[command(name = "loupe", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Record a simulated coding agent's sessions through the Loupe library.
    Demo(cmd::demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cmd::demo::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("loupe: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
