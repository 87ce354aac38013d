//! `loupe analyze` (summary + issues + fixes), `loupe issues` and `loupe fixes`.

use std::io::{Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use loupe_analyze::{AnalysisConfig, SessionAnalysis};
use loupe_report::SkippedRecord;

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
    let out = args.out.as_deref();
    // Text and JSON are a sequence of per-session pieces: stream them. The
    // other formats, `--session` (its id must be unique among all sessions)
    // and inputs with sessions split across files take the whole input.
    let streamable = matches!(args.output, Output::Text | Output::Json);
    if streamable && args.input.session.is_none() {
        if let Some(spool) = stream(&args, focus, &config, out)? {
            spool.write_to(out)?;
            return Ok(ExitCode::SUCCESS);
        }
    }
    let loaded = input::load(&args.input, args.format.format)?;
    let analyses = input::analyze_all(&loaded.sessions, &config);
    // On stderr whatever the output: JSON also lists them in the document.
    input::report_skipped(&loaded.skipped);
    let text = match args.output {
        Output::Text => {
            let color = input::use_color(out);
            let mut text = String::new();
            for (i, a) in analyses.iter().enumerate() {
                if i > 0 {
                    text.push('\n');
                }
                text.push_str(&render_text(a, focus, color));
            }
            if analyses.is_empty() {
                text.push_str(NO_SESSIONS);
            }
            text
        }
        Output::Json => match focus {
            Focus::All => loupe_report::json::render(
                &analyses,
                &input::json_skipped(&loaded.skipped, &loaded.unread_files),
            ),
            Focus::Issues | Focus::Fixes => loupe_report::json::render_issues(
                &analyses,
                &input::json_skipped(&loaded.skipped, &loaded.unread_files),
            ),
        },
        Output::Csv => match focus {
            Focus::All => loupe_report::csv::sessions(&analyses),
            Focus::Issues | Focus::Fixes => loupe_report::csv::issues(&analyses),
        },
        Output::Md => match focus {
            Focus::All => loupe_report::markdown::render(&analyses),
            Focus::Issues | Focus::Fixes => loupe_report::markdown::render_issues(&analyses),
        },
        Output::Html => loupe_report::html::render(&analyses, Some(loupe_model::Timestamp::now())),
    };
    input::write_output(out, &text)?;
    Ok(ExitCode::SUCCESS)
}

const NO_SESSIONS: &str = "No sessions found.\n";

fn render_text(a: &SessionAnalysis, focus: Focus, color: bool) -> String {
    match focus {
        Focus::All => loupe_report::terminal::summary::render(a, color),
        Focus::Issues => loupe_report::terminal::summary::render_issues_only(a, color),
        Focus::Fixes => loupe_report::terminal::summary::render_fixes(a, color),
    }
}

/// Text or JSON output, analysed and rendered session by session on worker
/// threads and kept as text only (sessions and analyses are dropped at once),
/// so memory stays flat whatever the input size. The output is the same as
/// rendering all analyses at once. `None` when a session is split across
/// files: only reading everything first can merge it.
fn stream(
    args: &Args,
    focus: Focus,
    config: &AnalysisConfig,
    out: Option<&Path>,
) -> anyhow::Result<Option<Spool>> {
    // Neither text nor JSON shows the span tree or the timeline.
    let config = AnalysisConfig {
        summary_only: true,
        ..config.clone()
    };
    let json = args.output == Output::Json;
    let color = !json && input::use_color(out);
    let mut spool = Spool::default();
    let mut count = 0usize;
    let mut failed: Option<std::io::Error> = None;
    let streamed = input::stream(
        &args.input,
        args.format.format,
        loupe_analyze::ANALYSIS_UNREAD_PAYLOAD,
        &|session| {
            let analysis = loupe_analyze::analyze(&session, &config);
            if json {
                json_session(&analysis, focus)
            } else {
                render_text(&analysis, focus, color)
            }
        },
        &mut |piece| {
            let separator = match (json, count) {
                (true, 0) => JSON_HEAD,
                (true, _) => ",\n",
                (false, 0) => "",
                (false, _) => "\n",
            };
            count += 1;
            if failed.is_none() {
                failed = spool
                    .push(separator)
                    .and_then(|()| spool.push(&piece))
                    .err();
            }
        },
    )?;
    if let Some(err) = failed {
        return Err(err).context("cannot buffer the output");
    }
    if streamed.repeated_sessions > 0 {
        return Ok(None);
    }
    streamed.warn();
    input::report_skipped(&streamed.skipped);
    if json {
        spool.push(&json_tail(
            count,
            &input::json_skipped(&streamed.skipped, &streamed.unread_files),
        ))?;
    } else if count == 0 {
        spool.push(NO_SESSIONS)?;
    }
    Ok(Some(spool))
}

/// What precedes the first session of the JSON document.
const JSON_HEAD: &str = "{\n  \"sessions\": [\n";

/// One session as it appears inside the JSON document's `sessions` array
/// (pretty-printed two levels in).
fn json_session(a: &SessionAnalysis, focus: Focus) -> String {
    match focus {
        Focus::All => loupe_report::json::session_piece(a, 2),
        Focus::Issues | Focus::Fixes => loupe_report::json::issues_piece(a, 2),
    }
}

/// The end of the JSON document after `sessions` sessions: the rest of
/// `sessions`, then `skipped`.
fn json_tail(sessions: usize, skipped: &[SkippedRecord]) -> String {
    let skipped = serde_json::to_string_pretty(skipped).unwrap_or_default();
    let head = if sessions == 0 {
        "{\n  \"sessions\": [],\n  \"skipped\": "
    } else {
        "\n  ],\n  \"skipped\": "
    };
    let mut tail = String::from(head);
    // The first line follows the key; the others are one level deeper.
    for (i, line) in skipped.lines().enumerate() {
        if i > 0 {
            tail.push_str("\n  ");
        }
        tail.push_str(line);
    }
    tail.push_str("\n}\n");
    tail
}

/// Output built piece by piece and written only once complete (so a read
/// that fails at the end leaves no partial output): in memory up to
/// [`SPOOL_MEMORY_BYTES`], then in an anonymous temporary file, which keeps
/// memory flat for outputs of any size.
#[derive(Default)]
struct Spool {
    memory: Vec<u8>,
    file: Option<std::io::BufWriter<std::fs::File>>,
}

const SPOOL_MEMORY_BYTES: usize = 8 << 20;

impl Spool {
    fn push(&mut self, text: &str) -> std::io::Result<()> {
        if let Some(file) = &mut self.file {
            return file.write_all(text.as_bytes());
        }
        if self.memory.len() + text.len() <= SPOOL_MEMORY_BYTES {
            self.memory.extend_from_slice(text.as_bytes());
            return Ok(());
        }
        let mut file = std::io::BufWriter::with_capacity(1 << 20, tempfile::tempfile()?);
        file.write_all(&self.memory)?;
        file.write_all(text.as_bytes())?;
        self.memory = Vec::new();
        self.file = Some(file);
        Ok(())
    }

    /// Writes everything to `out`, or to stdout when `None`.
    fn write_to(self, out: Option<&Path>) -> anyhow::Result<()> {
        let Some(file) = self.file else {
            return input::write_output_bytes(out, &self.memory);
        };
        let mut file = file.into_inner().map_err(|e| e.into_error())?;
        file.seek(std::io::SeekFrom::Start(0))?;
        match out {
            Some(path) => {
                input::create_parent_dir(path)?;
                let mut dest = std::fs::File::create(path)
                    .with_context(|| format!("{}: cannot write", path.display()))?;
                std::io::copy(&mut file, &mut dest)
                    .with_context(|| format!("{}: cannot write", path.display()))?;
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                std::io::copy(&mut file, &mut stdout)?;
                stdout.flush()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use loupe_analyze::SessionSource;
    use loupe_model::{Event, EventKind, SourceFormat, Timestamp};

    fn analyses(n: usize) -> Vec<SessionAnalysis> {
        let mut events = Vec::new();
        for s in 0..n {
            let id = format!("session-{s}");
            let mut start = Event::new("a", EventKind::SessionStart, Timestamp(1_000), &id);
            start.data.insert("task".into(), "fix \"the\"\nbug".into());
            events.push(start);
            let mut llm = Event::new("b", EventKind::LlmResponse, Timestamp(2_000), &id);
            llm.data.insert("model".into(), "gpt-4o".into());
            llm.data.insert("input_tokens".into(), 100.into());
            events.push(llm);
            let mut tool = Event::new("c", EventKind::ToolError, Timestamp(3_000), &id);
            tool.data.insert("tool".into(), "bash".into());
            tool.data.insert("error".into(), "exit 1".into());
            events.push(tool);
        }
        let source = SessionSource {
            path: "dir/f.jsonl".into(),
            format: SourceFormat::Loupe,
        };
        loupe_analyze::assemble(events, source)
            .iter()
            .map(|s| loupe_analyze::analyze(s, &AnalysisConfig::default()))
            .collect()
    }

    #[test]
    fn json_streamed_piece_by_piece_equals_the_whole_document() {
        let skipped = [
            SkippedRecord {
                path: "a.jsonl".into(),
                line: Some(3),
                reason: "not JSON".into(),
            },
            SkippedRecord {
                path: "b.json".into(),
                line: None,
                reason: "bad".into(),
            },
        ];
        for n in 0..=3 {
            let all = analyses(n);
            assert_eq!(all.len(), n);
            for skipped in [&skipped[..0], &skipped[..]] {
                let mut streamed = String::new();
                for (i, a) in all.iter().enumerate() {
                    streamed.push_str(if i == 0 { JSON_HEAD } else { ",\n" });
                    streamed.push_str(&json_session(a, Focus::All));
                }
                streamed.push_str(&json_tail(all.len(), skipped));
                assert_eq!(streamed, loupe_report::json::render(&all, skipped));
            }
        }
    }

    #[test]
    fn spool_moves_to_a_file_past_its_memory_budget_and_keeps_everything() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sub/out.txt");
        let piece = "x".repeat(1 << 20);
        let mut spool = Spool::default();
        let mut expected = String::new();
        for i in 0..12 {
            let tag = format!("<{i}>");
            spool.push(&tag).unwrap();
            spool.push(&piece).unwrap();
            expected.push_str(&tag);
            expected.push_str(&piece);
        }
        assert!(spool.file.is_some() && spool.memory.is_empty());
        spool.write_to(Some(&out)).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), expected);
    }
}
