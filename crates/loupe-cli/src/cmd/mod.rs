//! One module per subcommand. Each defines `Args` (clap) and
//! `run(Args) -> anyhow::Result<ExitCode>`; `main.rs` only dispatches.

pub(crate) mod demo;
