//! `loupe stats`: statistics across many sessions — slowest LLM calls, tool
//! failure rates, tokens and cost by model / agent / day, common errors,
//! consistently slow workflow nodes.

use std::path::PathBuf;
use std::process::ExitCode;

use loupe_analyze::{SessionStats, StatsAccumulator, STATS_UNREAD_PAYLOAD};

use super::diag;
use super::input::{self, AnalysisArgs, FormatArg, InputArgs};

/// Output formats of `stats`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Aligned tables.
    Text,
    /// One JSON document.
    Json,
    /// Long-form CSV (section, key, metric, value).
    Csv,
}

/// Arguments of `loupe stats`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    format: FormatArg,
    /// Length of ranked lists: slowest LLM calls, tools by failure rate,
    /// most common errors, consistently slow nodes.
    #[arg(long, value_name = "N", default_value_t = 10,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    top: usize,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Output,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = input::analysis_config(&args.analysis)?;
    let mut acc = StatsAccumulator::new(config.prices.clone()).with_top_n(args.top.max(1));
    // Streamed file by file so memory does not grow with the input; each
    // session's contribution is computed on a worker thread and folded here
    // in input order, so the result is the same as a sequential pass.
    let prices = &config.prices;
    let streamed = input::stream(
        &args.input,
        args.format.format,
        STATS_UNREAD_PAYLOAD,
        &|session| SessionStats::compute(&session, prices),
        &mut |part| acc.add_session_stats(part),
    )?;
    let skipped = if streamed.repeated_sessions > 0 {
        // Sessions split across files (a rotated log, the same traces in two
        // exports) are counted whole, once: read everything, as `view`
        // does, so their parts are merged and events read twice dropped.
        // Said, since runs that reuse a session id are merged this way too
        // (`compare --run-per-file` keeps them apart).
        diag!(
            "loupe: {} session part{} in more than one file, each session counted once (a trace exported in parts, or runs that reuse a session id)",
            streamed.split_sessions.max(1),
            if streamed.split_sessions == 1 { " was" } else { "s were" }
        );
        let loaded = input::load(&args.input, args.format.format)?;
        acc = StatsAccumulator::new(config.prices.clone()).with_top_n(args.top.max(1));
        for session in &loaded.sessions {
            acc.add_session_stats(SessionStats::compute(session, prices));
        }
        loaded.skipped
    } else {
        streamed.warn();
        streamed.skipped
    };
    let stats = acc.finish(args.top.max(1));
    if let Some(id) = &args.input.session {
        if stats.sessions == 0 {
            anyhow::bail!("no session matches {id:?}");
        }
    }
    let out = args.out.as_deref();
    input::report_skipped(&skipped);
    let text = match args.output {
        Output::Text => loupe_report::stats::text(&stats, input::use_color(out)),
        Output::Json => loupe_report::stats::json(&stats),
        Output::Csv => loupe_report::stats::csv(&stats),
    };
    input::write_output(out, &text)?;
    Ok(ExitCode::SUCCESS)
}
