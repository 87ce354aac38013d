//! `loupe view`: show sessions as a summary, timeline, span tree or token
//! flow, in the terminal or as JSON, CSV, Markdown or HTML.

use std::path::PathBuf;
use std::process::ExitCode;

use loupe_report::terminal::View;

use super::diag;
use super::input::{self, AnalysisArgs, FormatArg, InputArgs};

/// Output formats of `view` and `analyze`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Aligned text for the terminal (coloured on a TTY unless NO_COLOR is set).
    Text,
    /// One JSON document (design §4 contract).
    Json,
    /// CSV rows: `view` writes sessions (summary), spans (tree), events
    /// (timeline) or iterations (tokens); `analyze` sessions; `issues` and
    /// `fixes` one row per issue.
    Csv,
    /// Markdown.
    Md,
    /// A self-contained HTML report.
    Html,
}

/// Views of `loupe view --view`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ViewName {
    /// Overview, metrics, issues and tools.
    Summary,
    /// Every event in order with offsets.
    Timeline,
    /// The span tree.
    Tree,
    /// Per-iteration token flow.
    Tokens,
    /// All four.
    All,
}

impl ViewName {
    fn view(self) -> View {
        match self {
            ViewName::Summary => View::Summary,
            ViewName::Timeline => View::Timeline,
            ViewName::Tree => View::Tree,
            ViewName::Tokens => View::Tokens,
            ViewName::All => View::All,
        }
    }
}

/// Arguments of `loupe view`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    format: FormatArg,
    /// What to show [default: summary; for HTML, all: the whole report].
    #[arg(long, value_enum)]
    view: Option<ViewName>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Output,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Rows the text timeline and tree show per session (JSON and CSV list
    /// every row).
    #[arg(long, value_name = "N", default_value_t = loupe_report::terminal::ROW_LIMIT)]
    limit: usize,
    /// Show every row of the text timeline and tree (no --limit).
    #[arg(long, conflicts_with = "limit")]
    all: bool,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = input::analysis_config(&args.analysis)?;
    let view = args.view.unwrap_or(ViewName::Summary);
    // The summary and token views, but for the HTML report (always the
    // whole report's parts), show neither the span tree nor the timeline
    // nor tool results: the analysis skips the first two and the readers
    // the third, as `loupe analyze` does, which spares a large session's
    // memory (docs/benchmarks.md).
    let lean = matches!(view, ViewName::Summary | ViewName::Tokens) && args.output != Output::Html;
    config.summary_only = lean;
    let unread: &'static [loupe_model::UnreadMember] = if lean {
        loupe_analyze::ANALYSIS_UNREAD_PAYLOAD
    } else {
        &[]
    };
    let mut loaded = input::load_reading(&args.input, args.format.format, unread)?;
    let analyses = input::analyze_all(&loaded.sessions, &config);
    // The events are not needed past the analysis: freed before the
    // output, which can be as large, is written.
    loaded.sessions = Vec::new();
    let out = args.out.as_deref();
    // On stderr whatever the output: JSON also lists them in the document.
    input::report_skipped(&loaded.skipped);
    // The text and Markdown summaries say why some durations are unknown;
    // the other views and outputs say it here.
    let summary_shown = matches!(args.output, Output::Text | Output::Md)
        && matches!(view, ViewName::Summary | ViewName::All);
    if !summary_shown {
        let invalid = analyses.iter().map(|a| a.invalid_durations).sum();
        if let Some(note) = loupe_report::invalid_durations_note(invalid) {
            diag!("loupe: {note}");
        }
    }
    let text = match args.output {
        Output::Text => loupe_report::terminal::render_limited(
            &analyses,
            view.view(),
            input::use_color(out),
            (!args.all).then_some(args.limit),
        ),
        Output::Json => loupe_report::json::render_view(
            &analyses,
            &input::json_skipped(&loaded.skipped, &loaded.unread_files),
            view.view(),
        ),
        Output::Csv => match view {
            ViewName::Summary => loupe_report::csv::sessions(&analyses),
            ViewName::All => {
                // A CSV file holds one table.
                diag!(
                    "loupe: CSV holds one table: --view all writes the sessions table (--view tree, timeline or tokens write the others)"
                );
                loupe_report::csv::sessions(&analyses)
            }
            ViewName::Tree => loupe_report::csv::nodes(&analyses),
            ViewName::Timeline => loupe_report::csv::timeline(&analyses),
            ViewName::Tokens => loupe_report::csv::token_flow(&analyses),
        },
        Output::Md => loupe_report::markdown::render_view(&analyses, view.view()),
        Output::Html => loupe_report::html::render_view(
            &analyses,
            args.view.unwrap_or(ViewName::All).view(),
            Some(loupe_model::Timestamp::now()),
        ),
    };
    input::write_output(out, &text)?;
    Ok(ExitCode::SUCCESS)
}
