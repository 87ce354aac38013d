//! `loupe compare A B`: metric deltas with direction, tool and node
//! slowdowns, and a verdict; `--fail-on-regression` exits 1 when B regressed.
//!
//! A and B are each a trace file, a directory (a group of runs), or a
//! session id looked up in `--dir` (default `.loupe/traces`). One session on
//! each side is compared directly; otherwise the groups are compared by their
//! medians (with a significance test for larger groups).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use loupe_analyze::{CompareConfig, SessionAnalysis};
use loupe_model::SourceFormat;
use loupe_report::compare::Side;

use super::diag;
use super::input::{self, AnalysisArgs, FormatArg, InputArgs};

/// Output formats of `compare`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Aligned text.
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `loupe compare`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// Baseline: a trace file, a directory of runs, or a session id.
    a: String,
    /// Candidate: a trace file, a directory of runs, or a session id.
    b: String,
    /// Exit with status 1 if anything regressed.
    #[arg(long)]
    fail_on_regression: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    output: Output,
    /// Where to look up session ids given as A or B.
    #[arg(long, value_name = "DIR", default_value = input::DEFAULT_TRACE_DIR)]
    dir: PathBuf,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// A tool or node is slower when its mean grew by more than MS
    /// milliseconds...
    #[arg(long, value_name = "MS", default_value_t = CompareConfig::default().slowdown_threshold_ms)]
    slowdown_ms: f64,
    /// ...and by more than PCT percent.
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().slowdown_relative * 100.0)]
    slowdown_pct: f64,
    /// Tokens, duration and tool calls regress beyond PCT percent.
    #[arg(long, value_name = "PCT", default_value_t = CompareConfig::default().relative * 100.0)]
    change_pct: f64,
    /// Cost regresses when it grew by more than USD dollars.
    #[arg(long, value_name = "USD", default_value_t = CompareConfig::default().cost_abs_usd)]
    cost_usd: f64,
    /// Iterations regress when they grew by more than N.
    #[arg(long, value_name = "N", default_value_t = CompareConfig::default().iterations_abs)]
    iterations: f64,
    /// Errors regress when they grew by more than N (0: any new error).
    #[arg(long, value_name = "N", default_value_t = CompareConfig::default().errors_abs)]
    errors: f64,
    /// The efficiency score regresses when it fell by more than POINTS.
    #[arg(long, value_name = "POINTS", default_value_t = CompareConfig::default().efficiency_abs)]
    efficiency_points: f64,
    /// The cache hit rate regresses when it fell by more than PP
    /// percentage points.
    #[arg(long, value_name = "PP", default_value_t = CompareConfig::default().cache_hit_rate_abs * 100.0)]
    cache_pp: f64,
    /// The success rate regresses when it fell by more than PP percentage
    /// points (0: any drop).
    #[arg(long, value_name = "PP", default_value_t = CompareConfig::default().success_rate_abs * 100.0)]
    success_pp: f64,
    /// Significance level of the Mann–Whitney test for groups.
    #[arg(long, value_name = "P", default_value_t = CompareConfig::default().alpha)]
    alpha: f64,
    /// In a directory, each trace file is one run, even when runs reuse a
    /// session id (by default files naming one session are joined into one).
    #[arg(long)]
    run_per_file: bool,
    /// Groups with fewer runs than N are judged on medians alone (with 3
    /// runs a side the test can never reach p < 0.05, so 4 is the least
    /// that tests).
    #[arg(long, value_name = "N", default_value_t = CompareConfig::default().min_group_runs)]
    min_group_runs: usize,
    #[command(flatten)]
    format: FormatArg,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// The comparison thresholds the flags set, checked.
fn compare_config(args: &Args) -> anyhow::Result<CompareConfig> {
    let finite_non_negative = |v: f64, flag: &str| -> anyhow::Result<f64> {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            bail!("{flag} must be a number of at least 0, not {v}")
        }
    };
    let alpha = args.alpha;
    if !(alpha > 0.0 && alpha < 1.0) {
        bail!("--alpha must be between 0 and 1 (exclusive), not {alpha}");
    }
    Ok(CompareConfig {
        slowdown_threshold_ms: finite_non_negative(args.slowdown_ms, "--slowdown-ms")?,
        slowdown_relative: finite_non_negative(args.slowdown_pct, "--slowdown-pct")? / 100.0,
        relative: finite_non_negative(args.change_pct, "--change-pct")? / 100.0,
        cost_abs_usd: finite_non_negative(args.cost_usd, "--cost-usd")?,
        iterations_abs: finite_non_negative(args.iterations, "--iterations")?,
        errors_abs: finite_non_negative(args.errors, "--errors")?,
        efficiency_abs: finite_non_negative(args.efficiency_points, "--efficiency-points")?,
        cache_hit_rate_abs: finite_non_negative(args.cache_pp, "--cache-pp")? / 100.0,
        success_rate_abs: finite_non_negative(args.success_pp, "--success-pp")? / 100.0,
        alpha,
        min_group_runs: args.min_group_runs.max(2),
    })
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let config = input::analysis_config(&args.analysis)?;
    let cfg = compare_config(&args)?;
    if args.a == "-" && args.b == "-" {
        bail!("only one side of a comparison can be read from standard input (-)");
    }
    let (side_a, a) = resolve(&args.a, &args, &config)?;
    let (side_b, b) = resolve(&args.b, &args, &config)?;
    warn_of_shared_files(&a, &b);
    let comparison = match (a.as_slice(), b.as_slice()) {
        ([one_a], [one_b]) => loupe_analyze::compare_sessions(one_a, one_b, &cfg),
        _ => loupe_analyze::compare_groups(&a, &b, &cfg),
    };
    let out = args.out.as_deref();
    let text = match args.output {
        Output::Text => {
            loupe_report::compare::text(&side_a, &side_b, &comparison, input::use_color(out))
        }
        Output::Json => loupe_report::compare::json(&side_a, &side_b, &comparison),
    };
    input::write_output(out, &text)?;
    if args.fail_on_regression && comparison.regressed {
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Says on stderr when a trace file is on both sides: a baseline compared
/// with itself (or a candidate directory inside the baseline's) passes any
/// gate, which is rarely what was meant.
fn warn_of_shared_files(a: &[SessionAnalysis], b: &[SessionAnalysis]) {
    let file = |s: &SessionAnalysis| {
        let path = Path::new(&s.source.path);
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
    };
    let in_a: BTreeSet<PathBuf> = a.iter().map(file).collect();
    let shared: BTreeSet<PathBuf> = b.iter().map(file).filter(|f| in_a.contains(f)).collect();
    if let Some(first) = shared.iter().next() {
        diag!(
            "loupe: warning: {} trace file{} on both sides (first: {}): A and B overlap",
            shared.len(),
            if shared.len() == 1 { " is" } else { "s are" },
            first.display()
        );
    }
}

/// Reads one side: a path, or a session id in `--dir`.
fn resolve(
    spec: &str,
    args: &Args,
    config: &loupe_analyze::AnalysisConfig,
) -> anyhow::Result<(Side, Vec<SessionAnalysis>)> {
    let path = Path::new(spec);
    // `-` is standard input, as for every command that reads traces.
    let input = if path.exists() || spec == "-" {
        InputArgs {
            paths: vec![path.to_path_buf()],
            session: None,
            since: None,
            until: None,
        }
    } else if args.dir.is_dir() {
        InputArgs {
            paths: vec![args.dir.clone()],
            session: Some(spec.to_owned()),
            since: None,
            until: None,
        }
    } else {
        bail!(
            "{spec}: no such file or directory, and no {} to look it up as a session id",
            args.dir.display()
        );
    };
    // A spec that reads as a path (a separator, a trace extension) is one
    // that does not exist, not a session id to look up.
    let looks_like_path = spec.contains(std::path::MAIN_SEPARATOR)
        || [".jsonl", ".json", ".ndjson", ".gz", ".zst", ".pb"]
            .iter()
            .any(|ext| spec.ends_with(ext));
    // A path (not a session looked up by id) is read as `analyze` reads:
    // session by session on worker threads, each kept only as the pruned
    // analysis a comparison reads, so thousands of runs a side fit in little
    // memory. A session split across files needs the whole read below.
    if input.session.is_none() {
        let mut analyses = Vec::new();
        let streamed = input::stream(
            &input,
            args.format.format,
            loupe_analyze::ANALYSIS_UNREAD_PAYLOAD,
            &|session| {
                let mut analysis = loupe_analyze::analyze(&session, config);
                loupe_analyze::prune_for_comparison(&mut analysis);
                analysis
            },
            &mut |analysis| analyses.push(analysis),
        )?;
        if streamed.repeated_sessions == 0 {
            streamed.warn();
            input::report_skipped(&streamed.skipped);
            if analyses.is_empty() {
                bail!("{spec}: no sessions found");
            }
            let side = Side {
                label: spec.to_owned(),
                sessions: analyses.iter().map(|a| a.session_id.clone()).collect(),
            };
            return Ok((side, analyses));
        }
    }
    let loaded = match input::load(&input, args.format.format) {
        Err(e) if input.session.is_some() && looks_like_path => {
            bail!(
                "{spec}: no such file or directory (nor a session id in {}: {e:#})",
                args.dir.display()
            )
        }
        loaded => loaded?,
    };
    if loaded.sessions.is_empty() {
        bail!("{spec}: no sessions found");
    }
    // On stderr whatever the output.
    input::report_skipped(&loaded.skipped);
    // Sessions read from several files (Agent Trace keeps one in a
    // directory of files: that is one run).
    let joined: Vec<(&String, &BTreeSet<PathBuf>)> = loaded
        .sessions
        .iter()
        .filter(|s| s.source.format != SourceFormat::AgentTrace)
        .filter_map(|s| {
            let (id, files) = loaded.session_files.get_key_value(&s.session_id)?;
            (files.len() > 1).then_some((id, files))
        })
        .collect();
    if args.run_per_file && !joined.is_empty() {
        let mut files: Vec<&PathBuf> = loaded.session_files.values().flatten().collect();
        files.sort();
        files.dedup();
        let mut analyses = Vec::new();
        for file in files {
            let one = InputArgs {
                paths: vec![file.clone()],
                session: None,
                since: None,
                until: None,
            };
            let loaded = input::load(&one, args.format.format)?;
            analyses.extend(input::analyze_all(&loaded.sessions, config));
        }
        let side = Side {
            label: spec.to_owned(),
            sessions: analyses.iter().map(|a| a.session_id.clone()).collect(),
        };
        return Ok((side, analyses));
    }
    for (id, files) in &joined {
        let shown: Vec<String> = files
            .iter()
            .take(3)
            .map(|f| f.display().to_string())
            .collect();
        let more = if files.len() > 3 { ", ..." } else { "" };
        diag!(
            "loupe: warning: {spec}: session {id} is in {} files ({}{more}), read as one run; if they are separate runs that reuse the id, add --run-per-file",
            files.len(),
            shown.join(", ")
        );
    }
    let analyses = input::analyze_all(&loaded.sessions, config);
    let side = Side {
        label: spec.to_owned(),
        sessions: analyses.iter().map(|a| a.session_id.clone()).collect(),
    };
    Ok((side, analyses))
}
