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
