//! `loupe analyze` (summary + issues + fixes), `loupe issues` and `loupe fixes`.

use std::path::PathBuf;
use std::process::ExitCode;

use super::input::{self, AnalysisArgs, FormatArg, InputArgs};
use super::view::Output;

/// Arguments of `loupe analyze`, `loupe issues` and `loupe fixes`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    format: FormatArg,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Output,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// Which of the three commands runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Focus {
    /// Summary, issues and fixes.
    All,
    /// Issues (with their fixes) only.
    Issues,
    /// Fixes only.
    Fixes,
}

pub(crate) fn run(args: Args, focus: Focus) -> anyhow::Result<ExitCode> {
    let config = input::analysis_config(&args.analysis)?;
    let loaded = input::load(&args.input, args.format.format)?;
    let analyses = input::analyze_all(&loaded.sessions, &config);
    let out = args.out.as_deref();
    let text = match args.output {
        Output::Text => {
            input::report_skipped(&loaded.skipped);
            let color = input::use_color(out);
            let mut text = String::new();
            for (i, a) in analyses.iter().enumerate() {
                if i > 0 {
                    text.push('\n');
                }
                text.push_str(&match focus {
                    Focus::All => loupe_report::terminal::summary::render(a, color),
                    Focus::Issues => loupe_report::terminal::summary::render_issues_only(a, color),
                    Focus::Fixes => loupe_report::terminal::summary::render_fixes(a, color),
                });
            }
            if analyses.is_empty() {
                text.push_str("No sessions found.\n");
            }
            text
        }
        Output::Json => loupe_report::json::render(&analyses, &loaded.skipped),
        Output::Csv => loupe_report::csv::sessions(&analyses),
        Output::Md => loupe_report::markdown::render(&analyses),
        Output::Html => loupe_report::html::render(&analyses, Some(loupe_model::Timestamp::now())),
    };
    input::write_output(out, &text)?;
    Ok(ExitCode::SUCCESS)
}
