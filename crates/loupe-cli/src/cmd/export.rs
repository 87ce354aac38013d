//! `loupe export`: write sessions in a file format — the JSON contract,
//! canonical Loupe JSONL of the events, CSV, Markdown, HTML, OTLP/JSON — or,
//! with `--llm`, a compact summary of at most ~4,000 tokens to paste into a model.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::input::{self, AnalysisArgs, InputArgs};

/// Export formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// The JSON document of `view --output json`.
    Json,
    /// Canonical Loupe JSONL, one event per line.
    Jsonl,
    /// One CSV row per session.
    Csv,
    /// Markdown.
    Md,
    /// Self-contained HTML report.
    Html,
    /// OTLP/JSON `ExportTraceServiceRequest`.
    Otlp,
}

/// Arguments of `loupe export`.
#[derive(clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Output format (ignored with --llm).
    #[arg(long, value_enum, default_value = "json")]
    format: ExportFormat,
    /// Read every input file as this format instead of detecting it.
    #[arg(long, value_name = "NAME", value_parser = input::parse_format)]
    input_format: Option<loupe_model::SourceFormat>,
    /// Compact JSON summary for pasting into a model (at most ~4,000 tokens).
    #[arg(long)]
    llm: bool,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = input::load(&args.input, args.input_format)?;
    input::report_skipped(&loaded.skipped);
    let out = args.out.as_deref();
    let text = if args.llm {
        let config = input::analysis_config(&args.analysis)?;
        loupe_report::llm::render(&input::analyze_all(&loaded.sessions, &config))
    } else {
        match args.format {
            ExportFormat::Jsonl => {
                let mut buf = Vec::new();
                for s in &loaded.sessions {
                    loupe_formats::write_canonical(&mut buf, &s.events)
                        .context("writing canonical JSONL")?;
                }
                String::from_utf8(buf).context("canonical JSONL is not UTF-8")?
            }
            ExportFormat::Otlp => {
                let events: Vec<loupe_model::Event> = loaded
                    .sessions
                    .iter()
                    .flat_map(|s| s.events.iter().cloned())
                    .collect();
                let mut json = loupe_formats::otlp::events_to_otlp_json(&events);
                json.push('\n');
                json
            }
            format => {
                let config = input::analysis_config(&args.analysis)?;
                let analyses = input::analyze_all(&loaded.sessions, &config);
                match format {
                    ExportFormat::Csv => loupe_report::csv::sessions(&analyses),
                    ExportFormat::Md => loupe_report::markdown::render(&analyses),
                    ExportFormat::Html => {
                        loupe_report::html::render(&analyses, Some(loupe_model::Timestamp::now()))
                    }
                    _ => loupe_report::json::render(
                        &analyses,
                        &input::json_skipped(&loaded.skipped, &loaded.unread_files),
                    ),
                }
            }
        }
    };
    input::write_output(out, &text)?;
    Ok(ExitCode::SUCCESS)
}
