//! The JSON output of `loupe view` / `loupe analyze` (`--output json`), design §4.
//!
//! # Wire format
//!
//! One JSON object (pretty-printed, UTF-8, trailing newline):
//!
//! ```text
//! {
//!   "sessions": [ {
//!     "session_id": string,
//!     "source": { "path": string, "format": string },   // format: loupe, attocode-ts, attocode-py,
//!                                                       // attocode-py-legacy, agent-trace, myagent,
//!                                                       // victor-workflow, victor-execution, attoswarm, otlp
//!     "task": string | null,
//!     "model": string | null,
//!     "status": "running" | "completed" | "failed" | "cancelled",
//!     "started_at": RFC 3339 string | null,            // UTC, microseconds, `Z`
//!     "ended_at": RFC 3339 string | null,
//!     "duration_ms": number | null,
//!     "metrics": {
//!       "iterations", "llm_calls", "tool_calls", "tool_errors", "errors": integer,
//!       "input_tokens", "output_tokens", "cache_read_tokens",
//!       "cache_write_tokens", "reasoning_tokens": integer | null, // OpenTelemetry GenAI semantics:
//!                                                           // input includes cache read + write,
//!                                                           // output includes reasoning; null when
//!                                                           // no LLM call reports its usage
//!       "total_tokens": integer | null,                     // addition: input + output, plus
//!                                                           // totals reported without a split
//!       "cache_hit_rate": number | null,                    // cache_read / input, 0 without input,
//!                                                           // null when no call reports cache use
//!       "cost_usd": number | null,                          // reported cost wins, else priced; a
//!                                                           // lower bound with unpriced_models,
//!                                                           // null when no call has a cost or price
//!       "compactions", "subagents": integer,
//!       "unpriced_models": [string]                         // addition: models with no price
//!     },
//!     "efficiency_score": number,                           // 0–100
//!     "issues": [ {
//!       "category": string,                                 // stable rule name (doom_loop, cache_drop…)
//!       "severity": "low" | "medium" | "high" | "critical",
//!       "title": string, "description": string,
//!       "iteration": integer | null,
//!       "suggestion": string,
//!       "evidence": [string]                                // addition
//!     } ],
//!     "tools": [ { "name": string, "calls": integer, "errors": integer,
//!                  "avg_duration_ms": number | null, "p95_duration_ms": number | null } ],
//!     "nodes": [ { "node_id": string, "node_type": string | null,  // addition: workflow nodes,
//!                  "runs", "failures": integer,                    // slowest first; [] without
//!                  "total_duration_ms", "avg_duration_ms": number } ],  // workflow nodes
//!     "timeline": [ { "offset_ms", "kind", "label", ... } ],   // only with `view --view timeline|all`
//!     "tree": { "kind", "label", "status", "children": [...] }, // only with `--view tree|all`
//!     "token_flow": { "rows": [...], ...,                      // only with `--view tokens|all`
//!                     "cache_boundary": { "window_size", "window_requests": integer,  // null when no
//!                       "window_hit_rate", "hit_rate": number,  // main-agent call
//!                       "estimated_boundary": integer, ... } | null }  // reports cache counts
//!   } ],
//!   "skipped": [ { "path": string, "line": integer | null, "reason": string } ]
//! }
//! ```
//!
//! Costs in USD are written rounded to 1e-9 USD and durations and offsets
//! in milliseconds (keys ending in `_ms`) to 3 decimals (`text::round_usd`,
//! `text::round_ms`); the analysis keeps the exact values.
//!
//! Every key above is always present (absent values are `null`, never a
//! missing key), so scripts can index without guards. Keys may be added in
//! later versions; none of the keys above will be renamed or removed.
//! `tests/json_contract.rs` decodes this output with its own, independent
//! types.

use loupe_analyze::{Issue, SessionAnalysis, ToolStats};

use crate::terminal::View;
use serde::Serialize;

/// A record a reader skipped, as reported in `skipped`. The CLI converts the
/// readers' own type into this one so this crate does not depend on them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRecord {
    /// The file.
    pub path: String,
    /// 1-based line, for line-oriented formats.
    pub line: Option<u64>,
    /// Why it was skipped.
    pub reason: String,
}

impl std::fmt::Display for SkippedRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.path, l, self.reason),
            None => write!(f, "{}: {}", self.path, self.reason),
        }
    }
}

/// The whole `--output json` document.
#[derive(Debug, Serialize)]
pub struct ReportJson<'a> {
    /// One entry per session.
    pub sessions: Vec<SessionJson<'a>>,
    /// Records the readers skipped.
    pub skipped: &'a [SkippedRecord],
}

/// One session of the JSON document.
#[derive(Debug, Serialize)]
pub struct SessionJson<'a> {
    /// Session id.
    pub session_id: &'a str,
    /// Where it was read from.
    pub source: SourceJson<'a>,
    /// Task, when recorded.
    pub task: Option<&'a str>,
    /// Main model.
    pub model: Option<&'a str>,
    /// Outcome.
    pub status: &'static str,
    /// First event (RFC 3339).
    pub started_at: Option<String>,
    /// Last event (RFC 3339).
    pub ended_at: Option<String>,
    /// Wall-clock duration.
    pub duration_ms: Option<f64>,
    /// Metrics.
    pub metrics: MetricsJson<'a>,
    /// Efficiency score 0–100.
    pub efficiency_score: f64,
    /// Issues, most severe first.
    pub issues: Vec<IssueJson<'a>>,
    /// Per-tool statistics.
    pub tools: Vec<ToolJson<'a>>,
    /// Workflow nodes, slowest first (empty without workflow nodes).
    pub nodes: &'a [loupe_analyze::NodeStats],
    /// Every event in order (`loupe view --view timeline|all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<&'a [loupe_analyze::TimelineEntry]>,
    /// The span tree (`--view tree|all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree: Option<&'a loupe_analyze::SpanNode>,
    /// Per-iteration token flow (`--view tokens|all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_flow: Option<&'a loupe_analyze::TokenFlow>,
}

/// `source` of a session.
#[derive(Debug, Serialize)]
pub struct SourceJson<'a> {
    /// File or directory.
    pub path: &'a str,
    /// Format name.
    pub format: &'static str,
}

/// `metrics` of a session.
#[allow(missing_docs)] // the keys are documented in the module's wire format
#[derive(Debug, Serialize)]
pub struct MetricsJson<'a> {
    pub iterations: u64,
    pub llm_calls: u64,
    pub tool_calls: u64,
    pub tool_errors: u64,
    pub errors: u64,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub total_tokens: Option<u64>,
    pub cache_hit_rate: Option<f64>,
    pub cost_usd: Option<f64>,
    pub compactions: u64,
    pub subagents: u64,
    pub unpriced_models: &'a [String],
}

/// One issue.
#[allow(missing_docs)] // the keys are documented in the module's wire format
#[derive(Debug, Serialize)]
pub struct IssueJson<'a> {
    pub category: &'a str,
    pub severity: loupe_analyze::Severity,
    pub title: &'a str,
    pub description: &'a str,
    pub iteration: Option<u32>,
    pub suggestion: &'a str,
    pub evidence: &'a [String],
}

/// One tool's statistics.
#[allow(missing_docs)] // the keys are documented in the module's wire format
#[derive(Debug, Serialize)]
pub struct ToolJson<'a> {
    pub name: &'a str,
    pub calls: u64,
    pub errors: u64,
    pub avg_duration_ms: Option<f64>,
    pub p95_duration_ms: Option<f64>,
}

impl<'a> SessionJson<'a> {
    /// The JSON view of one analysis.
    pub fn new(a: &'a SessionAnalysis) -> Self {
        let m = &a.metrics;
        let tokens = |n: u64| a.tokens_reported().then_some(n);
        SessionJson {
            session_id: &a.session_id,
            source: SourceJson {
                path: &a.source.path,
                format: a.source.format.as_str(),
            },
            task: a.task.as_deref(),
            model: a.model.as_deref(),
            status: a.status.as_str(),
            started_at: a.started_at.map(|t| t.to_rfc3339()),
            ended_at: a.ended_at.map(|t| t.to_rfc3339()),
            duration_ms: a.duration_ms.filter(|d| d.is_finite()),
            metrics: MetricsJson {
                iterations: m.iterations,
                llm_calls: m.llm_calls,
                tool_calls: m.tool_calls,
                tool_errors: m.tool_errors,
                errors: m.errors,
                input_tokens: tokens(m.tokens.input_tokens),
                output_tokens: tokens(m.tokens.output_tokens),
                cache_read_tokens: tokens(m.tokens.cache_read_tokens),
                cache_write_tokens: tokens(m.tokens.cache_write_tokens),
                reasoning_tokens: tokens(m.tokens.reasoning_tokens),
                total_tokens: tokens(m.tokens.total()),
                cache_hit_rate: a.known_cache_hit_rate().map(finite),
                cost_usd: a.known_cost_usd().map(finite),
                compactions: m.compactions,
                subagents: m.subagents,
                unpriced_models: &m.unpriced_models,
            },
            efficiency_score: finite(a.efficiency_score),
            issues: a.issues.iter().map(IssueJson::new).collect(),
            tools: a.tools.iter().map(ToolJson::new).collect(),
            nodes: &a.nodes,
            timeline: None,
            tree: None,
            token_flow: None,
        }
    }

    /// With the parts `view` shows beyond the summary.
    pub fn with_view(mut self, a: &'a SessionAnalysis, view: View) -> Self {
        let all = view == View::All;
        if all || view == View::Timeline {
            self.timeline = Some(&a.timeline);
        }
        if all || view == View::Tree {
            self.tree = Some(&a.tree);
        }
        if all || view == View::Tokens {
            self.token_flow = Some(&a.token_flow);
        }
        self
    }
}

impl<'a> IssueJson<'a> {
    fn new(i: &'a Issue) -> Self {
        IssueJson {
            category: &i.category,
            severity: i.severity,
            title: &i.title,
            description: &i.description,
            iteration: i.iteration,
            suggestion: &i.suggestion,
            evidence: &i.evidence,
        }
    }
}

impl<'a> ToolJson<'a> {
    fn new(t: &'a ToolStats) -> Self {
        ToolJson {
            name: &t.name,
            calls: t.calls,
            errors: t.errors,
            avg_duration_ms: t.known_durations().map(|(avg, _)| finite(avg)),
            p95_duration_ms: t.known_durations().map(|(_, p95)| finite(p95)),
        }
    }
}

/// serde_json writes non-finite floats as `null`; the contract promises numbers.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

/// The `--output json` document for `analyses`, pretty-printed with a trailing newline.
pub fn render(analyses: &[SessionAnalysis], skipped: &[SkippedRecord]) -> String {
    render_view(analyses, skipped, View::Summary)
}

/// [`render`], each session also with what `view` shows beyond the summary
/// (`timeline`, `tree`, `token_flow`).
pub fn render_view(analyses: &[SessionAnalysis], skipped: &[SkippedRecord], view: View) -> String {
    let doc = ReportJson {
        sessions: analyses
            .iter()
            .map(|a| SessionJson::new(a).with_view(a, view))
            .collect(),
        skipped,
    };
    let mut out = piece(&doc, 0);
    out.push('\n');
    out
}

/// One session as it appears in [`render`]'s document, `levels` deep (two
/// spaces a level, the first line indented too), for output built session
/// by session (`loupe analyze` streams its sessions).
pub fn session_piece(analysis: &SessionAnalysis, levels: usize) -> String {
    piece(&SessionJson::new(analysis), levels)
}

/// One session of the `loupe issues` / `loupe fixes` JSON document: what it
/// is and its issues, each with its fix (`suggestion`).
#[derive(Debug, Serialize)]
pub struct IssuesSessionJson<'a> {
    /// Session id.
    pub session_id: &'a str,
    /// Where it came from.
    pub source: &'a loupe_analyze::SessionSource,
    /// Outcome.
    pub status: loupe_model::SessionStatus,
    /// Efficiency score.
    pub efficiency_score: f64,
    /// Issues, most severe first.
    pub issues: &'a [Issue],
}

impl<'a> IssuesSessionJson<'a> {
    /// The issues of `a`.
    pub fn new(a: &'a SessionAnalysis) -> Self {
        IssuesSessionJson {
            session_id: &a.session_id,
            source: &a.source,
            status: a.status,
            efficiency_score: a.efficiency_score,
            issues: &a.issues,
        }
    }
}

/// The `loupe issues -o json` (and `fixes`) document: `{sessions: [{session_id,
/// source, status, efficiency_score, issues}], skipped}`.
pub fn render_issues(analyses: &[SessionAnalysis], skipped: &[SkippedRecord]) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        sessions: Vec<IssuesSessionJson<'a>>,
        skipped: &'a [SkippedRecord],
    }
    let doc = Doc {
        sessions: analyses.iter().map(IssuesSessionJson::new).collect(),
        skipped,
    };
    let mut out = piece(&doc, 0);
    out.push('\n');
    out
}

/// [`session_piece`] for [`render_issues`]'s document.
pub fn issues_piece(analysis: &SessionAnalysis, levels: usize) -> String {
    piece(&IssuesSessionJson::new(analysis), levels)
}

/// `value` pretty-printed `levels` deep, the first line indented too.
fn piece<T: Serialize>(value: &T, levels: usize) -> String {
    let mut out = Vec::with_capacity(4096);
    let mut formatter = NestedPretty {
        base: levels,
        depth: 0,
        has_value: false,
        in_key: false,
        key: String::new(),
    };
    // Writing to a Vec cannot fail.
    let _ = formatter.write_indent(&mut out);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, &mut formatter);
    // Serialising plain structs of strings and numbers cannot fail, and
    // serde_json writes UTF-8.
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// serde_json's pretty layout (`PrettyFormatter` with two spaces) starting
/// `base` levels in. Each line's indentation is written in one piece, where
/// `PrettyFormatter` writes it a level at a time. Numbers are rounded as
/// they are written, by the key they belong to ([`rounded`]).
struct NestedPretty {
    base: usize,
    depth: usize,
    has_value: bool,
    /// Whether the string being written is an object key.
    in_key: bool,
    /// The last object key written: the one a number that follows belongs to.
    key: String,
}

/// `v` rounded for output by what its key says it is: a cost in USD
/// (`cost_usd`, `cumulative_cost_usd`) by [`crate::text::round_usd`], a
/// duration or offset in milliseconds (`duration_ms`, `offset_ms`,
/// `avg_duration_ms`…) by [`crate::text::round_ms`].
fn rounded(key: &str, v: f64) -> f64 {
    if key.ends_with("cost_usd") {
        crate::text::round_usd(v)
    } else if key.ends_with("_ms") {
        crate::text::round_ms(v)
    } else {
        v
    }
}

impl NestedPretty {
    /// Writes the indentation of a line at the current depth.
    fn write_indent<W: ?Sized + std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        const SPACES: &[u8] = &[b' '; 64];
        let mut left = (self.base + self.depth) * 2;
        while left > 0 {
            let n = left.min(SPACES.len());
            w.write_all(&SPACES[..n])?;
            left -= n;
        }
        Ok(())
    }

    fn new_line<W: ?Sized + std::io::Write>(&self, w: &mut W, first: bool) -> std::io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.write_indent(w)
    }

    fn open<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        bracket: &[u8],
    ) -> std::io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            w.write_all(b"\n")?;
            self.write_indent(w)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for &mut NestedPretty {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.new_line(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.in_key = true;
        self.new_line(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        if self.in_key {
            self.key.clear();
        }
        w.write_all(b"\"")
    }
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        if self.in_key {
            self.key.push_str(fragment);
        }
        w.write_all(fragment.as_bytes())
    }
    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.in_key = false;
        Ok(())
    }
    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        serde_json::ser::Formatter::write_f64(
            &mut serde_json::ser::CompactFormatter,
            w,
            rounded(&self.key, v),
        )
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn metrics_of(a: &SessionAnalysis) -> serde_json::Value {
        let doc: serde_json::Value =
            serde_json::from_str(&render(std::slice::from_ref(a), &[])).unwrap();
        doc["sessions"][0]["metrics"].clone()
    }

    #[test]
    fn usage_no_call_reports_is_null_not_zero() {
        let mut a = crate::testing::sample_analysis();
        a.metrics.tokens = loupe_model::TokenTotals::default();
        a.metrics.cost_usd = 0.0;
        a.token_flow.cache_rating = loupe_analyze::CacheRating::None;
        let m = metrics_of(&a);
        for key in [
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
            "total_tokens",
            "cache_hit_rate",
            "cost_usd",
        ] {
            assert!(m.get(key).is_some_and(|v| v.is_null()), "{key}: {m}");
        }
        assert_eq!(m["llm_calls"], 3);
    }

    #[test]
    fn unreported_cache_is_null_and_a_session_without_llm_calls_is_zero() {
        let mut a = crate::testing::sample_analysis();
        a.token_flow.cache_rating = loupe_analyze::CacheRating::Unreported;
        let m = metrics_of(&a);
        assert!(m["cache_hit_rate"].is_null(), "{m}");
        assert!(m["input_tokens"].is_u64(), "{m}");

        a.metrics.llm_calls = 0;
        a.metrics.cache_hit_rate = 0.0;
        a.metrics.tokens = loupe_model::TokenTotals::default();
        a.metrics.cost_usd = 0.0;
        a.token_flow.cache_rating = loupe_analyze::CacheRating::None;
        let m = metrics_of(&a);
        assert_eq!(m["input_tokens"], 0);
        assert_eq!(m["cost_usd"], 0.0);
        assert_eq!(m["cache_hit_rate"], 0.0);
    }

    #[test]
    fn cost_is_null_only_when_every_model_is_unpriced() {
        let mut a = crate::testing::sample_analysis();
        a.metrics.cost_usd = 0.0;
        a.metrics.unpriced_models = vec!["mystery".to_owned()];
        a.models = vec![loupe_analyze::ModelUsage {
            model: "mystery".to_owned(),
            llm_calls: 3,
            ..Default::default()
        }];
        assert!(metrics_of(&a)["cost_usd"].is_null());
        // Another, priced model: a lower bound, with the unpriced one named.
        a.models.push(loupe_analyze::ModelUsage {
            model: "claude-sonnet-4-5".to_owned(),
            llm_calls: 1,
            ..Default::default()
        });
        a.metrics.cost_usd = 0.25;
        let m = metrics_of(&a);
        assert_eq!(m["cost_usd"], 0.25);
        assert_eq!(m["unpriced_models"][0], "mystery");
    }

    #[test]
    fn float_noise_is_rounded_where_it_is_written() {
        let mut a = crate::testing::sample_analysis();
        a.metrics.cost_usd = 0.003_400_000_000_000_001;
        a.duration_ms = Some(8_700.000_047_683_716);
        a.tools[0].avg_duration_ms = 19_166.666_666_666_668;
        a.tree.duration_ms = Some(4_099.999_904_632_568);
        let out = render_view(&[a.clone()], &[], View::All);
        assert!(out.contains("\"cost_usd\": 0.0034,"), "{out}");
        assert!(out.contains("\"duration_ms\": 8700.0,"), "{out}");
        assert!(out.contains("\"avg_duration_ms\": 19166.667,"), "{out}");
        assert!(out.contains("\"duration_ms\": 4100.0,"), "{out}");
        // The streamed piece rounds the same way.
        assert!(session_piece(&a, 2).contains("\"cost_usd\": 0.0034,"));
        // The analysis itself keeps the exact value.
        assert_eq!(a.metrics.cost_usd, 0.003_400_000_000_000_001);
    }
}
