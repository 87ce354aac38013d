//! `loupe query [--db FILE] [filters]`: list stored sessions (or, with
//! `--tool-runs`, tool runs) matching filters, sorted and paged, as a text
//! table, JSON or CSV. JSON session rows carry `session_id` and the design §4
//! `metrics` object.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use loupe_model::{SessionStatus, Timestamp};
use loupe_store::{
    SessionFilter, SessionQuery, SessionRow, SessionSort, Store, ToolRun, ToolRunQuery,
    DEFAULT_DB_PATH,
};

use crate::cmd::input::parse_time;
pub(crate) use loupe_model::parse_duration_ms;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    Text,
    Json,
    Csv,
}

/// Arguments of `loupe query`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The store.
    #[arg(long, value_name = "FILE|URL", default_value = DEFAULT_DB_PATH, env = "LOUPE_DB", help = super::DB_HELP)]
    db: PathBuf,
    /// List tool runs instead of sessions: --tool, --min-duration and --success-only filter
    /// the runs, the session filters (--session, --since, --agent, --status...) their sessions.
    #[arg(long)]
    tool_runs: bool,
    /// Exact agent name.
    #[arg(long)]
    agent: Option<String>,
    /// Case-insensitive part of the agent name or task.
    #[arg(long)]
    name: Option<String>,
    /// Session id or unique id prefix (repeatable: any of them).
    #[arg(long = "session", value_name = "ID")]
    sessions: Vec<String>,
    /// Exact model name.
    #[arg(long)]
    model: Option<String>,
    /// Outcome: running, completed, failed or cancelled.
    #[arg(long, value_parser = parse_status)]
    status: Option<SessionStatus>,
    /// Sessions started at or after (RFC 3339, YYYY-MM-DD, or relative: 2h, 7d).
    #[arg(long, value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Sessions started before (same forms as --since; a date means its 00:00 UTC).
    #[arg(long, value_parser = parse_time)]
    until: Option<Timestamp>,
    /// Only sessions with errors.
    #[arg(long, conflicts_with = "no_errors")]
    has_errors: bool,
    /// Only sessions without errors.
    #[arg(long)]
    no_errors: bool,
    /// Minimum duration (ms, or 2s, 5m, 1h).
    #[arg(long, value_parser = parse_duration_ms, value_name = "DURATION")]
    min_duration: Option<f64>,
    /// Maximum duration (ms, or 2s, 5m, 1h).
    #[arg(long, value_parser = parse_duration_ms, value_name = "DURATION")]
    max_duration: Option<f64>,
    /// Minimum cost in USD (sessions of unknown cost never match).
    #[arg(long, value_name = "USD", value_parser = parse_cost)]
    min_cost: Option<f64>,
    /// Maximum cost in USD (sessions of unknown cost never match).
    #[arg(long, value_name = "USD", value_parser = parse_cost)]
    max_cost: Option<f64>,
    /// Minimum input + output tokens.
    #[arg(long, value_name = "N")]
    min_tokens: Option<u64>,
    /// Maximum input + output tokens.
    #[arg(long, value_name = "N")]
    max_tokens: Option<u64>,
    /// Tool used (repeatable: sessions must use all; tool runs: any of them).
    #[arg(long = "tool", value_name = "NAME")]
    tools: Vec<String>,
    /// Tag (repeatable: all of them).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Metadata key=value (repeatable: all of them).
    #[arg(long = "meta", value_parser = parse_meta, value_name = "KEY=VALUE")]
    metadata: Vec<(String, String)>,
    /// Full-text query over messages, tool arguments and results, errors and
    /// thinking: every word must appear in one text; `word*` matches a prefix.
    #[arg(long, value_name = "QUERY")]
    text: Option<String>,
    /// Tool runs: only successful ones.
    #[arg(long, requires = "tool_runs")]
    success_only: bool,
    /// Sort key: started_at, duration, cost, tokens or name.
    #[arg(long, default_value = "started_at", value_parser = parse_sort)]
    sort: SessionSort,
    /// Ascending order (default: descending, newest or largest first).
    #[arg(long)]
    asc: bool,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Skip this many rows first.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    output: Output,
}

fn parse_status(s: &str) -> Result<SessionStatus, String> {
    match s {
        "running" => Ok(SessionStatus::Running),
        "completed" => Ok(SessionStatus::Completed),
        "failed" => Ok(SessionStatus::Failed),
        "cancelled" => Ok(SessionStatus::Cancelled),
        _ => Err(format!(
            "unknown status {s:?}: use running, completed, failed or cancelled"
        )),
    }
}

fn parse_sort(s: &str) -> Result<SessionSort, String> {
    SessionSort::from_name(s).ok_or_else(|| {
        format!("unknown sort key {s:?}: use started_at, duration, cost, tokens or name")
    })
}

fn parse_meta(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some(("", _)) => Err(format!("the key is empty in {s:?}: expected KEY=VALUE")),
        Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
        None => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// A cost bound: a finite, non-negative number of dollars (`NaN` would
/// match nothing, or everything, depending on the backend).
fn parse_cost(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd >= 0.0 => Ok(usd),
        _ => Err(format!(
            "expected a cost in USD (a number, 0 or more), got {s:?}"
        )),
    }
}

pub(crate) fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    crate::cmd::input::check_window(args.since, args.until)?;
    if let Some(text) = &args.text {
        // Punctuation, emoji or `*` alone tokenise to nothing, which would
        // list no session as if none matched.
        if loupe_store::query::text_terms(text).is_empty() {
            anyhow::bail!("no searchable word in --text {text:?} (words are letters and digits)");
        }
    }
    let store = super::open_store_for_reading(&args.db)?;
    args.sessions = args
        .sessions
        .iter()
        .map(|id| resolve_session_id(&*store, id))
        .collect::<anyhow::Result<_>>()?;
    let mut out = std::io::stdout().lock();
    if args.tool_runs {
        if args.max_duration.is_some() {
            anyhow::bail!(
                "--max-duration applies to sessions, not to --tool-runs (use --min-duration)"
            );
        }
        // Session filters pick the sessions whose runs are listed; --tool
        // and --min-duration apply to the runs themselves.
        let mut sessions = SessionFilter {
            tools: Vec::new(),
            min_duration_ms: None,
            ..filter(&args)
        };
        let session_ids = if sessions
            == (SessionFilter {
                session_ids: args.sessions.clone(),
                ..SessionFilter::default()
            }) {
            args.sessions.clone()
        } else {
            sessions.session_ids = args.sessions.clone();
            let rows = store.sessions(&SessionQuery {
                filter: sessions,
                sort: SessionSort::StartedAt,
                descending: true,
                limit: None,
                offset: 0,
            })?;
            if rows.is_empty() {
                write_runs(&mut out, &[], args.output)?;
                out.flush()?;
                return Ok(ExitCode::SUCCESS);
            }
            rows.into_iter().map(|r| r.session_id).collect()
        };
        // A store query binds each id; many sessions are asked in chunks
        // (SQLite allows 32,766 parameters) and merged in the store's order.
        const CHUNK: usize = 10_000;
        let query = |ids: &[String], limit: Option<usize>, offset: usize| {
            store.tool_runs(&ToolRunQuery {
                session_ids: ids.to_vec(),
                tools: args.tools.clone(),
                min_duration_ms: args.min_duration,
                success_only: args.success_only,
                limit,
                offset,
            })
        };
        let runs = if session_ids.len() <= CHUNK {
            query(&session_ids, Some(args.limit), args.offset)?
        } else {
            let mut runs = Vec::new();
            for ids in session_ids.chunks(CHUNK) {
                runs.extend(query(ids, Some(args.offset + args.limit), 0)?);
            }
            runs.sort_by(ToolRunQuery::compare);
            runs.into_iter()
                .skip(args.offset)
                .take(args.limit)
                .collect()
        };
        write_runs(&mut out, &runs, args.output)?;
    } else {
        // One more than the page, to say whether more sessions match.
        let mut rows = store.sessions(&SessionQuery {
            filter: filter(&args),
            sort: args.sort,
            descending: !args.asc,
            limit: Some(args.limit.saturating_add(1)),
            offset: args.offset,
        })?;
        let more = rows.len() > args.limit;
        rows.truncate(args.limit);
        write_sessions(&mut out, &rows, args.output)?;
        if more {
            let hint = if args.limit == 0 {
                "more sessions match: raise --limit to list them".to_owned()
            } else {
                format!(
                    "more sessions match: see the next page with --offset {} (or raise --limit)",
                    args.offset + rows.len()
                )
            };
            // The table says it under its rows; JSON and CSV say it on
            // stderr, where it does not corrupt the document.
            if args.output == Output::Text {
                writeln!(out, "{hint}")?;
            } else {
                out.flush()?;
                super::diag!("loupe: {hint}");
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The stored session whose id is `id`, else the one whose id starts with
/// `id` (tables show ids cut short); an error when none or several do.
fn resolve_session_id(store: &dyn Store, id: &str) -> anyhow::Result<String> {
    if store.session(id)?.is_some() {
        return Ok(id.to_owned());
    }
    let mut matching = store.session_ids_with_prefix(id, 6)?;
    match matching.len() {
        0 => anyhow::bail!("no stored session has the id or id prefix {id:?}"),
        1 => Ok(matching.remove(0)),
        n => {
            let more = if n > 5 { ", ..." } else { "" };
            matching.truncate(5);
            anyhow::bail!(
                "several stored sessions start with {id:?} ({}{more}); give more of the id",
                matching.join(", ")
            )
        }
    }
}

fn filter(args: &Args) -> SessionFilter {
    SessionFilter {
        session_ids: args.sessions.clone(),
        agent: args.agent.clone(),
        name_contains: args.name.clone(),
        model: args.model.clone(),
        status: args.status,
        since: args.since,
        until: args.until,
        has_errors: if args.has_errors {
            Some(true)
        } else if args.no_errors {
            Some(false)
        } else {
            None
        },
        min_duration_ms: args.min_duration,
        max_duration_ms: args.max_duration,
        min_cost_usd: args.min_cost,
        max_cost_usd: args.max_cost,
        min_tokens: args.min_tokens,
        max_tokens: args.max_tokens,
        tools: args.tools.clone(),
        tags: args.tags.clone(),
        metadata: args.metadata.clone(),
        text: args.text.clone(),
    }
}

const SESSION_COLUMNS: &[&str] = &[
    "session_id",
    "agent_name",
    "task",
    "model",
    "status",
    "started_at",
    "ended_at",
    "duration_ms",
    "iterations",
    "llm_calls",
    "tool_calls",
    "tool_errors",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cache_hit_rate",
    "cost_usd",
    "compactions",
    "subagents",
    "efficiency_score",
    "tags",
    "tools",
    "source_path",
    "source_format",
];

fn session_record(r: &SessionRow) -> Vec<String> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let m = &r.metrics;
    vec![
        r.session_id.clone(),
        opt(r.agent_name.clone()),
        opt(r.task.clone()),
        opt(r.model.clone()),
        r.status.as_str().to_owned(),
        opt(r.started_at.map(|t| t.to_rfc3339())),
        opt(r.ended_at.map(|t| t.to_rfc3339())),
        opt(r.duration_ms.map(|d| d.to_string())),
        m.iterations.to_string(),
        m.llm_calls.to_string(),
        m.tool_calls.to_string(),
        m.tool_errors.to_string(),
        m.errors.to_string(),
        // Unknown figures are empty cells, not 0.
        opt(m.input_tokens.map(|n| n.to_string())),
        opt(m.output_tokens.map(|n| n.to_string())),
        opt(m.cache_read_tokens.map(|n| n.to_string())),
        opt(m.cache_write_tokens.map(|n| n.to_string())),
        opt(m.reasoning_tokens.map(|n| n.to_string())),
        opt(m.cache_hit_rate.map(|r| r.to_string())),
        opt(m.cost_usd.map(|c| c.to_string())),
        m.compactions.to_string(),
        m.subagents.to_string(),
        opt(r.efficiency_score.map(|s| s.to_string())),
        r.tags.join(";"),
        r.tools.join(";"),
        opt(r.source.as_ref().map(|s| s.path.clone())),
        opt(r.source.as_ref().map(|s| s.format.as_str().to_owned())),
    ]
}

fn write_sessions(out: &mut dyn Write, rows: &[SessionRow], output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, rows)?;
            writeln!(out)?;
        }
        Output::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record(SESSION_COLUMNS)?;
            for r in rows {
                w.write_record(
                    session_record(r)
                        .iter()
                        .map(|c| loupe_report::csv::spreadsheet_safe(c).into_owned()),
                )?;
            }
            w.flush()?;
        }
        Output::Text => {
            writeln!(
                out,
                "{:<27} {:<24} {:<14} {:<22} {:<9} {:>10} {:>10} {:>9} {:>6}",
                "STARTED",
                "SESSION",
                "AGENT",
                "MODEL",
                "STATUS",
                "DURATION",
                "TOKENS",
                "COST",
                "ERRORS"
            )?;
            for r in rows {
                writeln!(
                    out,
                    "{:<27} {:<24} {:<14} {:<22} {:<9} {:>10} {:>10} {:>9} {:>6}",
                    r.started_at
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "-".into()),
                    clip(&r.session_id, 24),
                    clip(r.agent_name.as_deref().unwrap_or("-"), 14),
                    clip(r.model.as_deref().unwrap_or("-"), 22),
                    r.status.as_str(),
                    r.duration_ms.map(format_ms).unwrap_or_else(|| "-".into()),
                    r.metrics
                        .total_tokens()
                        .map(loupe_report::thousands)
                        .unwrap_or_else(|| "—".into()),
                    cost_cell(&r.metrics),
                    r.metrics.errors,
                )?;
            }
            let n = rows.len();
            writeln!(out, "{n} session{}", if n == 1 { "" } else { "s" })?;
        }
    }
    Ok(())
}

fn write_runs(out: &mut dyn Write, runs: &[ToolRun], output: Output) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            serde_json::to_writer_pretty(&mut *out, runs)?;
            writeln!(out)?;
        }
        Output::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "session_id",
                "event_id",
                "tool",
                "timestamp",
                "duration_ms",
                "success",
                "iteration",
            ])?;
            for r in runs {
                w.write_record(
                    [
                        r.session_id.clone(),
                        r.event_id.clone(),
                        r.tool.clone(),
                        r.timestamp.to_rfc3339(),
                        r.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
                        r.success.to_string(),
                        r.iteration.map(|i| i.to_string()).unwrap_or_default(),
                    ]
                    .iter()
                    .map(|c| loupe_report::csv::spreadsheet_safe(c).into_owned()),
                )?;
            }
            w.flush()?;
        }
        Output::Text => {
            writeln!(
                out,
                "{:<27} {:<24} {:<20} {:>10} {:<7}",
                "TIME", "SESSION", "TOOL", "DURATION", "RESULT"
            )?;
            for r in runs {
                writeln!(
                    out,
                    "{:<27} {:<24} {:<20} {:>10} {:<7}",
                    r.timestamp.to_rfc3339(),
                    clip(&r.session_id, 24),
                    clip(&r.tool, 20),
                    r.duration_ms.map(format_ms).unwrap_or_else(|| "-".into()),
                    if r.success { "ok" } else { "failed" }
                )?;
            }
            let n = runs.len();
            writeln!(out, "{n} tool run{}", if n == 1 { "" } else { "s" })?;
        }
    }
    Ok(())
}

/// The table's cost: unknown is "unpriced" when a model has no price, "—"
/// when the calls report no usage, never $0.
fn cost_cell(m: &loupe_store::SessionMetrics) -> String {
    match m.cost_usd {
        Some(usd) => format!("${usd:.4}"),
        None if !m.unpriced_models.is_empty() => "unpriced".to_owned(),
        None => "—".to_owned(),
    }
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

fn format_ms(ms: f64) -> String {
    if ms >= 60_000.0 {
        format!("{:.1}m", ms / 60_000.0)
    } else if ms >= 1_000.0 {
        format!("{:.1}s", ms / 1_000.0)
    } else {
        format!("{ms:.0}ms")
    }
}
