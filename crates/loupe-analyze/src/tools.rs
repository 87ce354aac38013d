//! Tool and workflow-node statistics and error-message patterns.
//!
//! * [`ToolStats`]: calls, errors, mean and p95 (nearest rank) duration per tool.
//! * [`NodeStats`]: workflow node durations summed per `node_id`, like Victor's
//!   `analyze_trace` `slowest_nodes` (seed-formats.md §5), plus the mean.
//! * [`ErrorPattern`]: error messages with numbers, paths, hex ids and quoted
//!   strings replaced by placeholders, counted (Victor's "error patterns").

use crate::HashMap;

use loupe_model::{keys, EventKind};
use serde::{Deserialize, Serialize};

use crate::facts::Facts;
use crate::{Session, ToolStats};

/// Statistics of one workflow node id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Node id.
    pub node_id: String,
    /// Node type, when recorded.
    pub node_type: Option<String>,
    /// Executions.
    pub runs: u64,
    /// Failed executions.
    pub failures: u64,
    /// Summed duration.
    pub total_duration_ms: f64,
    /// Mean duration.
    pub avg_duration_ms: f64,
}

/// A normalised error message and how often it occurred.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorPattern {
    /// The message with variable parts replaced (`<n>`, `<path>`, `<hex>`, `<str>`).
    pub pattern: String,
    /// Occurrences.
    pub count: u64,
    /// One original message.
    pub example: String,
}

/// 95th percentile by nearest rank of an ascending slice.
pub(crate) fn p95_sorted(sorted: &[f64]) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((0.95 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

pub(crate) fn tool_stats(f: &Facts<'_>) -> Vec<ToolStats> {
    let mut by_name: HashMap<&str, (u64, u64, Vec<f64>, u64)> = HashMap::default();
    for t in &f.tools {
        let e = by_name.entry(t.name).or_default();
        e.0 += 1;
        e.1 += u64::from(t.failed);
        match t.duration_ms {
            Some(d) => e.2.push(d),
            None => e.3 += u64::from(crate::session::invalid_duration(t.event)),
        }
    }
    let mut out: Vec<ToolStats> = by_name
        .into_iter()
        .map(|(name, (calls, errors, mut durs, invalid_durations))| {
            durs.sort_unstable_by(f64::total_cmp);
            let avg = if durs.is_empty() {
                0.0
            } else {
                durs.iter().sum::<f64>() / durs.len() as f64
            };
            ToolStats {
                name: name.to_owned(),
                calls,
                errors,
                avg_duration_ms: avg,
                p95_duration_ms: p95_sorted(&durs),
                timed_calls: durs.len() as u64,
                invalid_durations,
            }
        })
        .collect();
    out.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Per-tool statistics of a session, most called first.
pub fn tools(session: &Session) -> Vec<ToolStats> {
    tool_stats(&Facts::build(session, &crate::pricing::PriceTable::empty()))
}

/// Workflow nodes by summed duration, slowest first.
pub fn slowest_nodes(session: &Session) -> Vec<NodeStats> {
    let mut by_id: HashMap<&str, NodeStats> = HashMap::default();
    // Runs whose recorded duration is negative, per node: left out of the
    // mean rather than counted as 0 s (docs/analysis.md, Durations).
    let mut invalid: HashMap<&str, u64> = HashMap::default();
    for e in &session.events {
        if e.kind != EventKind::NodeEnd {
            continue;
        }
        let Some(id) = e.str(keys::NODE_ID) else {
            continue;
        };
        let n = by_id.entry(id).or_insert_with(|| NodeStats {
            node_id: id.to_owned(),
            ..Default::default()
        });
        if n.node_type.is_none() {
            n.node_type = e.str(keys::NODE_TYPE).map(str::to_owned);
        }
        n.runs += 1;
        n.failures += u64::from(e.status().is_some_and(crate::facts::is_fail_status));
        match e.duration_ms {
            Some(d) if crate::session::valid_duration(d) => n.total_duration_ms += d,
            Some(_) => *invalid.entry(id).or_default() += 1,
            None => {}
        }
    }
    let mut out: Vec<NodeStats> = by_id
        .into_values()
        .map(|mut n| {
            let timed = n.runs - invalid.get(n.node_id.as_str()).copied().unwrap_or(0);
            n.avg_duration_ms = n.total_duration_ms / timed.max(1) as f64;
            n
        })
        .collect();
    out.sort_by(|a, b| {
        b.total_duration_ms
            .total_cmp(&a.total_duration_ms)
            .then_with(|| a.node_id.cmp(&b.node_id))
    });
    out
}

/// Error messages of a session (failed tools, LLM errors, error events,
/// failed nodes and subagents), grouped by pattern, most frequent first.
pub fn error_patterns(session: &Session) -> Vec<ErrorPattern> {
    let mut acc = ErrorPatternCounter::default();
    for e in &session.events {
        if let Some(msg) = error_text(e) {
            acc.add(&msg);
        }
    }
    acc.finish()
}

/// The error message of a failing event, if it is one.
pub(crate) fn error_text(e: &loupe_model::Event) -> Option<String> {
    // A failed session's (or swarm's) end repeats the failures already
    // counted inside it: left out, so the patterns add up to the errors
    // metric.
    if matches!(e.kind, EventKind::SessionEnd | EventKind::SwarmComplete) {
        return None;
    }
    let failing = e.kind.is_error()
        || e.status().is_some_and(crate::facts::is_fail_status)
        || matches!(e.kind, EventKind::NodeEnd | EventKind::ToolEnd) && e.error_message().is_some();
    if !failing {
        return None;
    }
    e.error_message()
        .or_else(|| e.str(keys::MESSAGE).map(str::to_owned))
        .or_else(|| {
            e.status()
                .map(|s| format!("{} {s}", e.tool_name().unwrap_or(e.kind.as_str())))
        })
}

/// Counts messages by pattern; keeps one example each.
#[derive(Debug, Default, Clone)]
pub struct ErrorPatternCounter {
    counts: HashMap<String, (u64, String)>,
}

impl ErrorPatternCounter {
    /// Adds one message.
    pub fn add(&mut self, message: &str) {
        let pattern = normalise_error(message);
        let e = self
            .counts
            .entry(pattern)
            .or_insert_with(|| (0, crate::facts::truncate_chars(message, 200)));
        e.0 += 1;
    }

    /// The pattern of `message` and the example kept for it: the parts of
    /// [`ErrorPatternCounter::add`] that need no counter, so they can run
    /// elsewhere and be counted later with `add_normalised`.
    pub(crate) fn pattern_and_example(message: &str) -> (String, String) {
        (
            normalise_error(message),
            crate::facts::truncate_chars(message, 200),
        )
    }

    /// Counts a message already split by `pattern_and_example`.
    pub(crate) fn add_normalised(&mut self, pattern: String, example: String) {
        self.counts.entry(pattern).or_insert((0, example)).0 += 1;
    }

    /// Adds a counted pattern (merging counters).
    pub fn merge(&mut self, other: ErrorPatternCounter) {
        for (p, (n, ex)) in other.counts {
            self.counts.entry(p).or_insert((0, ex)).0 += n;
        }
    }

    /// Patterns, most frequent first.
    pub fn finish(self) -> Vec<ErrorPattern> {
        let mut out: Vec<ErrorPattern> = self
            .counts
            .into_iter()
            .map(|(pattern, (count, example))| ErrorPattern {
                pattern,
                count,
                example,
            })
            .collect();
        out.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.pattern.cmp(&b.pattern))
        });
        out
    }
}

/// Replaces the variable parts of an error message: quoted strings → `<str>`,
/// paths → `<path>`, hex ids → `<hex>`, numbers → `<n>`. At most 200 chars.
pub fn normalise_error(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len().min(200));
    for (i, word) in split_keep_spaces(msg).into_iter().enumerate() {
        let _ = i;
        if word.chars().all(char::is_whitespace) {
            out.push(' ');
            continue;
        }
        out.push_str(&normalise_word(word));
        if out.len() > 200 {
            break;
        }
    }
    crate::facts::truncate_chars(out.trim(), 200)
}

fn split_keep_spaces(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_space = None;
    for (i, c) in s.char_indices() {
        let sp = c.is_whitespace();
        match in_space {
            Some(prev) if prev != sp => {
                parts.push(&s[start..i]);
                start = i;
            }
            _ => {}
        }
        in_space = Some(sp);
    }
    if start < s.len() {
        parts.push(&s[start..]);
    }
    parts
}

fn normalise_word(word: &str) -> String {
    // Strip surrounding punctuation we want to keep.
    let trimmed = word.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '[' | ']'));
    let lead = &word[..word.find(trimmed).unwrap_or(0)];
    let tail = &word[lead.len() + trimmed.len()..];
    let core = if trimmed.len() >= 2
        && ((trimmed.starts_with('"') && trimmed.ends_with('"'))
            || (trimmed.starts_with('\'') && trimmed.ends_with('\''))
            || (trimmed.starts_with('`') && trimmed.ends_with('`')))
    {
        "<str>".to_owned()
    } else if (trimmed.contains('/') || trimmed.contains('\\'))
        // A fraction or a date (`1/5`, `2026/03/01`) is numbers, not a path.
        && trimmed.chars().any(|c| c.is_alphabetic() || matches!(c, '.' | '~' | '_'))
    {
        "<path>".to_owned()
    } else if is_hex_id(trimmed) {
        "<hex>".to_owned()
    } else {
        replace_digit_runs(trimmed)
    };
    format!("{lead}{core}{tail}")
}

fn is_hex_id(w: &str) -> bool {
    let body = w.strip_prefix("0x").unwrap_or(w);
    (w.starts_with("0x") && !body.is_empty() || body.len() >= 8)
        && body.bytes().all(|b| b.is_ascii_hexdigit())
        && body.bytes().any(|b| b.is_ascii_digit())
}

fn replace_digit_runs(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let mut in_num = false;
    for c in w.chars() {
        if c.is_ascii_digit() || (in_num && c == '.') {
            if !in_num {
                out.push_str("<n>");
                in_num = true;
            }
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Trace;
    use loupe_model::EventKind;
    use serde_json::json;

    #[test]
    fn tool_stats_avg_and_nearest_rank_p95() {
        let mut t = Trace::new();
        for d in 1..=20 {
            t.tool("read_file", json!({}), d as f64 * 10.0);
        }
        t.tool_err("bash", json!({}), "exit 1");
        let stats = tools(&t.session());
        assert_eq!(stats[0].name, "read_file");
        assert_eq!(stats[0].calls, 20);
        assert_eq!(stats[0].avg_duration_ms, 105.0);
        assert_eq!(stats[0].p95_duration_ms, 190.0); // rank ceil(19) = 19th
        assert_eq!((stats[1].name.as_str(), stats[1].errors), ("bash", 1));
        assert_eq!(p95_sorted(&[5.0]), 5.0);
        assert_eq!(p95_sorted(&[]), 0.0);
    }

    #[test]
    fn nodes_are_summed_per_id_like_victor() {
        let mut t = Trace::new();
        for (id, ms, status) in [
            ("implement", 10_000.0, "completed"),
            ("review", 12_000.0, "completed"),
            ("implement", 5_400.0, "failed"),
        ] {
            let e = t.push(
                EventKind::NodeEnd,
                &[(keys::NODE_ID, id.into()), (keys::STATUS, status.into())],
            );
            e.duration_ms = Some(ms);
        }
        let n = slowest_nodes(&t.session());
        assert_eq!(n[0].node_id, "implement");
        assert_eq!(n[0].total_duration_ms, 15_400.0);
        assert_eq!(n[0].avg_duration_ms, 7_700.0);
        assert_eq!((n[0].runs, n[0].failures), (2, 1));
        assert_eq!(n[1].node_id, "review");
    }

    #[test]
    fn error_messages_group_by_pattern() {
        assert_eq!(
            normalise_error("ENOENT: no such file '/tmp/a.txt' (code 2)"),
            "ENOENT: no such file <str> (code <n>)"
        );
        assert_eq!(
            normalise_error("open /var/x failed after 3.5s id deadbeef12"),
            "open <path> failed after <n>s id <hex>"
        );
        assert_eq!(
            normalise_error("Task task-6 failed (attempt 1/5), retrying"),
            "Task task-<n> failed (attempt <n>/<n>), retrying"
        );
        let mut t = Trace::new();
        t.tool_err("bash", json!({}), "exit code 1: 3 failing");
        t.tool_err("bash", json!({}), "exit code 1: 5 failing");
        t.tool_err("read_file", json!({}), "ENOENT: no such file src/x.rs");
        t.tool("ok", json!({}), 1.0);
        let p = error_patterns(&t.session());
        assert_eq!(p[0].pattern, "exit code <n>: <n> failing");
        assert_eq!(p[0].count, 2);
        assert_eq!(p[0].example, "exit code 1: 3 failing");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn negative_durations_are_unknown_not_zero() {
        let mut t = Trace::new();
        t.iter(1);
        t.tool("read_file", json!({}), 300.0);
        t.tool("read_file", json!({}), -250.0);
        t.tool("bash", json!({}), -3_000.0);
        for (ms, status) in [(2_000.0, "completed"), (-1_000.0, "completed")] {
            let e = t.push(
                EventKind::NodeEnd,
                &[
                    (keys::NODE_ID, "plan".into()),
                    (keys::STATUS, status.into()),
                ],
            );
            e.duration_ms = Some(ms);
        }
        let session = t.session();
        let a = crate::analyze(&session, &crate::AnalysisConfig::default());
        let read = a.tools.iter().find(|t| t.name == "read_file").unwrap();
        // The mean of the one known duration, not (300 - 250) / 2 nor 150.
        assert_eq!(read.known_durations(), Some((300.0, 300.0)));
        let bash = a.tools.iter().find(|t| t.name == "bash").unwrap();
        assert_eq!((bash.invalid_durations, bash.known_durations()), (1, None));
        // A node run of -1 s is left out of the mean, not counted as 0 s.
        assert_eq!(
            (a.nodes[0].total_duration_ms, a.nodes[0].avg_duration_ms),
            (2_000.0, 2_000.0)
        );
        assert_eq!(a.invalid_durations, 3);
        // The tree and the timeline: unknown, never 0 or negative.
        let tools: Vec<Option<f64>> = a.tree.children[0]
            .children
            .iter()
            .filter(|n| n.kind == crate::SpanKind::Tool)
            .map(|n| n.duration_ms)
            .collect();
        assert_eq!(tools, [Some(300.0), None, None]);
        assert!(a
            .timeline
            .iter()
            .all(|e| e.duration_ms.is_none_or(|d| d >= 0.0)));
        assert!(a
            .timeline
            .iter()
            .all(|e| !e.label.contains("-2") && !e.label.contains("-3")));
    }
}
