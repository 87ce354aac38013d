//! Cross-session statistics, computed incrementally: [`StatsAccumulator::add`]
//! one session at a time, then [`StatsAccumulator::finish`]. For parallel
//! callers, [`SessionStats::compute`] extracts a session's share on any thread
//! and [`StatsAccumulator::add_session_stats`] folds the shares in order. Only small
//! per-key aggregates and a bounded heap of the slowest LLM calls are kept,
//! never events, so memory does not grow with the number of sessions (only
//! with the number of distinct models, agents, days, tools, nodes and error
//! patterns).
//!
//! * slowest LLM calls (top N by duration);
//! * tool failure rate per tool;
//! * tokens and cost by model, by agent and by day (UTC, of each call);
//! * most common errors (normalised patterns, [`crate::normalise_error`]);
//! * consistently slow workflow nodes: seen in at least 2 sessions with a mean
//!   above `slow_node_ms` (2 s, Victor's threshold, seed spec/004);
//! * per agent: success rate (sessions completed / sessions) and mean LLM and
//!   session durations (MyAgent's `analyze_agent_performance`, seed spec/002).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::HashMap;

use loupe_model::{keys, SessionStatus, TokenTotals, UnreadMember};
use serde::Serialize;

use crate::facts::Facts;
use crate::pricing::PriceTable;
use crate::tools::{error_text, ErrorPattern, ErrorPatternCounter};
use crate::{Session, SessionAnalysis};

/// Payload members no cross-session statistic depends on: tool arguments
/// and results. `loupe stats` lets readers skip building them
/// (`ReadOptions::unread_payload`), which spares it a good part of the
/// parsing on traces with large tool payloads; the test
/// `stats_do_not_depend_on_unread_payload` holds it to this.
pub const STATS_UNREAD_PAYLOAD: &[UnreadMember] = &[
    UnreadMember::everywhere(keys::ARGS),
    UnreadMember::everywhere(keys::RESULT),
];

/// One of the slowest LLM calls.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlowLlmCall {
    /// Session.
    pub session_id: String,
    /// Model, when known.
    pub model: Option<String>,
    /// Producing agent (subagent id) when not the main agent.
    pub agent: Option<String>,
    /// Duration.
    pub duration_ms: f64,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// When the call ended.
    pub timestamp: loupe_model::Timestamp,
    /// Iteration.
    pub iteration: Option<u32>,
}

/// Failure rate of one tool.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolFailureRate {
    /// Tool name.
    pub tool: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// `errors / calls`.
    pub failure_rate: f64,
    /// Mean duration of calls with a duration.
    pub avg_duration_ms: f64,
}

/// Tokens and cost under one key (model, agent or day).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UsageBucket {
    /// The model, agent or `YYYY-MM-DD`.
    pub key: String,
    /// LLM calls.
    pub llm_calls: u64,
    /// Tokens, OpenTelemetry semantics.
    pub tokens: TokenTotals,
    /// Cost (reported, else priced; unpriced calls add 0).
    pub cost_usd: f64,
    /// Calls that had no reported cost and no price.
    pub unpriced_calls: u64,
    /// Prompt tokens of the calls that report cache reads or writes: the
    /// base of [`UsageBucket::cache_hit_rate`].
    pub cache_reported_input_tokens: u64,
}

impl UsageBucket {
    /// Cache reads over the prompt tokens of the calls that report cache
    /// use; `None` when no call does (unknown, not 0 %).
    pub fn cache_hit_rate(&self) -> Option<f64> {
        (self.cache_reported_input_tokens > 0)
            .then(|| self.tokens.cache_read_tokens as f64 / self.cache_reported_input_tokens as f64)
    }
}

/// A workflow node that is slow across sessions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeSlowness {
    /// Node id.
    pub node_id: String,
    /// Sessions the node ran in.
    pub sessions: u64,
    /// Executions.
    pub runs: u64,
    /// Mean duration over all executions.
    pub avg_duration_ms: f64,
    /// Sessions where its mean was above the threshold.
    pub slow_sessions: u64,
}

/// Per-agent outcome and speed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AgentStats {
    /// Agent name (session `agent_name`, else the source format).
    pub agent: String,
    /// Sessions.
    pub sessions: u64,
    /// Sessions that completed.
    pub completed: u64,
    /// `completed / sessions`.
    pub success_rate: f64,
    /// Mean LLM call duration (the agent's response time per call).
    pub mean_llm_duration_ms: f64,
    /// Mean session duration.
    pub mean_session_duration_ms: f64,
    /// LLM calls of the main agent (the mean is over those with a duration).
    pub llm_calls: u64,
    /// Of those, the calls with a duration: with none, the mean is unknown
    /// (reported as 0).
    pub timed_llm_calls: u64,
}

/// Statistics over many sessions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossStats {
    /// Sessions added.
    pub sessions: u64,
    /// Totals over all sessions.
    pub total: UsageBucket,
    /// Slowest LLM calls, slowest first.
    pub slowest_llm_calls: Vec<SlowLlmCall>,
    /// Tools by failure rate (then calls), highest first.
    pub tool_failure_rates: Vec<ToolFailureRate>,
    /// Usage by model, most expensive first (then most tokens).
    pub by_model: Vec<UsageBucket>,
    /// Usage by agent (main agents by name, subagents by type or id).
    pub by_agent: Vec<UsageBucket>,
    /// Usage by UTC day, in date order.
    pub by_day: Vec<UsageBucket>,
    /// Most common error patterns (top N).
    pub common_errors: Vec<ErrorPattern>,
    /// Consistently slow workflow nodes, slowest first.
    pub slow_nodes: Vec<NodeSlowness>,
    /// Agents by session count.
    pub agents: Vec<AgentStats>,
}

#[derive(Default)]
struct ToolAgg {
    calls: u64,
    errors: u64,
    dur_sum: f64,
    dur_n: u64,
}

#[derive(Default)]
struct NodeAgg {
    sessions: u64,
    runs: u64,
    total_ms: f64,
    slow_sessions: u64,
}

#[derive(Default)]
struct AgentAgg {
    sessions: u64,
    completed: u64,
    llm_ms: f64,
    /// Main-agent LLM calls, and those with a duration (for the mean).
    llm_calls: u64,
    llm_n: u64,
    session_ms: f64,
    session_n: u64,
}

/// Heap entry ordered by duration (then sequence, for determinism).
struct HeapCall(f64, u64, SlowLlmCall);

impl PartialEq for HeapCall {
    fn eq(&self, o: &Self) -> bool {
        self.0.total_cmp(&o.0).is_eq() && self.1 == o.1
    }
}
impl Eq for HeapCall {}
impl PartialOrd for HeapCall {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for HeapCall {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0).then_with(|| o.1.cmp(&self.1))
    }
}

/// What one session adds to [`CrossStats`]: computed from the session alone
/// by [`SessionStats::compute`] (so sessions can be worked on in parallel),
/// then folded by [`StatsAccumulator::add_session_stats`]. Holds a few values
/// per LLM call, tool call, error and node, never events.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionStats {
    session_id: String,
    main_agent: String,
    calls: Vec<CallStats>,
    tools: Vec<ToolCallStats>,
    /// (normalised pattern, example) per error message, in event order.
    errors: Vec<(String, String)>,
    nodes: Vec<crate::NodeStats>,
    completed: bool,
    duration_ms: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
struct CallStats {
    model_key: String,
    /// Subagent type, name or id; `None` for the main agent.
    agent_key: Option<String>,
    day: String,
    usage: loupe_model::TokenUsage,
    cost_usd: f64,
    unpriced: bool,
    /// Finite, non-negative duration.
    duration_ms: Option<f64>,
    model: Option<String>,
    agent: Option<String>,
    timestamp: loupe_model::Timestamp,
    iteration: Option<u32>,
}

#[derive(Clone, Debug, PartialEq)]
struct ToolCallStats {
    name: String,
    failed: bool,
    duration_ms: Option<f64>,
}

impl SessionStats {
    /// Extracts what `session` adds to the statistics, pricing calls with
    /// `prices` (give the accumulator's prices). One pass over the events; no
    /// detectors, tree or timeline.
    pub fn compute(session: &Session, prices: &PriceTable) -> SessionStats {
        let facts = Facts::build(session, prices);
        let main_agent = facts
            .agent_name
            .map(str::to_owned)
            .unwrap_or_else(|| session.source.format.as_str().to_owned());
        let calls = facts
            .llm
            .iter()
            .map(|c| CallStats {
                model_key: c.model.unwrap_or("(unknown model)").to_owned(),
                agent_key: c.event.agent.as_ref().map(|a| {
                    a.agent_type
                        .clone()
                        .or_else(|| a.name.clone())
                        .unwrap_or_else(|| a.id.clone())
                }),
                day: c.event.timestamp.date_string(),
                usage: c.usage,
                cost_usd: c.cost_usd,
                unpriced: c.cost_source == loupe_model::CostSource::Unpriced,
                duration_ms: c
                    .event
                    .duration_ms
                    .filter(|d| crate::session::valid_duration(*d)),
                model: c.model.map(str::to_owned),
                agent: c.agent.map(str::to_owned),
                timestamp: c.event.timestamp,
                iteration: c.iteration,
            })
            .collect();
        let tools = facts
            .tools
            .iter()
            .map(|t| ToolCallStats {
                name: t.name.to_owned(),
                failed: t.failed,
                duration_ms: t.duration_ms,
            })
            .collect();
        let errors = session
            .events
            .iter()
            .filter_map(error_text)
            .map(|msg| ErrorPatternCounter::pattern_and_example(&msg))
            .collect();
        SessionStats {
            session_id: session.session_id.clone(),
            main_agent,
            calls,
            tools,
            errors,
            nodes: crate::tools::slowest_nodes(session),
            completed: facts.status == SessionStatus::Completed,
            duration_ms: facts.duration_ms(),
        }
    }
}

/// Folds sessions into [`CrossStats`].
pub struct StatsAccumulator {
    prices: PriceTable,
    keep: usize,
    slow_node_ms: f64,
    seq: u64,
    sessions: u64,
    total: UsageBucket,
    slowest: BinaryHeap<Reverse<HeapCall>>,
    tools: HashMap<String, ToolAgg>,
    by_model: HashMap<String, UsageBucket>,
    by_agent: HashMap<String, UsageBucket>,
    by_day: HashMap<String, UsageBucket>,
    errors: ErrorPatternCounter,
    nodes: HashMap<String, NodeAgg>,
    agents: HashMap<String, AgentAgg>,
}

impl StatsAccumulator {
    /// An accumulator pricing calls with `prices`, keeping up to 100 slowest calls.
    pub fn new(prices: PriceTable) -> Self {
        StatsAccumulator {
            prices,
            keep: 100,
            slow_node_ms: 2000.0,
            seq: 0,
            sessions: 0,
            total: UsageBucket {
                key: "total".to_owned(),
                ..Default::default()
            },
            slowest: BinaryHeap::new(),
            tools: HashMap::default(),
            by_model: HashMap::default(),
            by_agent: HashMap::default(),
            by_day: HashMap::default(),
            errors: ErrorPatternCounter::default(),
            nodes: HashMap::default(),
            agents: HashMap::default(),
        }
    }

    /// Keeps up to `n` slowest calls (the most `finish` can return).
    pub fn with_top_n(mut self, n: usize) -> Self {
        self.keep = n.max(1);
        self
    }

    /// Threshold for consistently slow nodes (default 2,000 ms).
    pub fn with_slow_node_ms(mut self, ms: f64) -> Self {
        self.slow_node_ms = ms;
        self
    }

    /// Adds one session and its analysis.
    pub fn add(&mut self, analysis: &SessionAnalysis, session: &Session) {
        let mut part = SessionStats::compute(session, &self.prices);
        // The caller's analysis is authoritative for outcome and duration.
        part.completed = analysis.status == SessionStatus::Completed;
        part.duration_ms = analysis.duration_ms;
        self.add_session_stats(part);
    }

    /// Adds what one session contributes, computed beforehand (possibly on
    /// another thread) by [`SessionStats::compute`] with the same prices.
    /// Folding contributions in input order gives exactly the statistics
    /// [`StatsAccumulator::add`] gives, floating-point sums included.
    pub fn add_session_stats(&mut self, part: SessionStats) {
        self.sessions += 1;
        let SessionStats {
            session_id,
            main_agent,
            calls,
            tools,
            errors,
            nodes,
            completed,
            duration_ms,
        } = part;
        let mut llm_ms = 0.0;
        let mut llm_n = 0u64;
        let mut llm_calls = 0u64;
        for c in calls {
            llm_calls += u64::from(c.agent.is_none());
            let unpriced = u64::from(c.unpriced);
            let agent_key = c.agent_key.as_deref().unwrap_or(&main_agent);
            for bucket in [
                &mut self.total,
                bucket(&mut self.by_model, &c.model_key),
                bucket(&mut self.by_agent, agent_key),
                bucket(&mut self.by_day, &c.day),
            ] {
                bucket.llm_calls += 1;
                bucket.tokens += &c.usage;
                if c.usage.reports_cache() {
                    bucket.cache_reported_input_tokens += c.usage.input();
                }
                bucket.cost_usd += c.cost_usd;
                bucket.unpriced_calls += unpriced;
            }
            if let Some(d) = c.duration_ms {
                if c.agent.is_none() {
                    llm_ms += d;
                    llm_n += 1;
                }
                self.offer(d, || SlowLlmCall {
                    session_id: session_id.clone(),
                    model: c.model,
                    agent: c.agent,
                    duration_ms: d,
                    input_tokens: c.usage.input(),
                    output_tokens: c.usage.output(),
                    timestamp: c.timestamp,
                    iteration: c.iteration,
                });
            }
        }
        for t in tools {
            let agg = self.tools.entry(t.name).or_default();
            agg.calls += 1;
            agg.errors += u64::from(t.failed);
            if let Some(d) = t.duration_ms {
                agg.dur_sum += d;
                agg.dur_n += 1;
            }
        }
        for (pattern, example) in errors {
            self.errors.add_normalised(pattern, example);
        }
        for n in nodes {
            let agg = self.nodes.entry(n.node_id).or_default();
            agg.sessions += 1;
            agg.runs += n.runs;
            agg.total_ms += n.total_duration_ms;
            agg.slow_sessions += u64::from(n.avg_duration_ms > self.slow_node_ms);
        }
        let agent = self.agents.entry(main_agent).or_default();
        agent.sessions += 1;
        agent.completed += u64::from(completed);
        agent.llm_ms += llm_ms;
        agent.llm_n += llm_n;
        agent.llm_calls += llm_calls;
        if let Some(d) = duration_ms {
            agent.session_ms += d;
            agent.session_n += 1;
        }
    }

    fn offer(&mut self, duration: f64, make: impl FnOnce() -> SlowLlmCall) {
        self.seq += 1;
        if self.slowest.len() < self.keep {
            self.slowest
                .push(Reverse(HeapCall(duration, self.seq, make())));
        } else if self
            .slowest
            .peek()
            .is_some_and(|Reverse(min)| duration > min.0)
        {
            self.slowest.pop();
            self.slowest
                .push(Reverse(HeapCall(duration, self.seq, make())));
        }
    }

    /// The statistics, lists cut to `top_n` where they are rankings.
    pub fn finish(self, top_n: usize) -> CrossStats {
        let mut slowest: Vec<HeapCall> = self.slowest.into_iter().map(|Reverse(h)| h).collect();
        slowest.sort_by(|a, b| b.cmp(a));
        let slowest_llm_calls = slowest.into_iter().take(top_n).map(|h| h.2).collect();

        let mut tool_failure_rates: Vec<ToolFailureRate> = self
            .tools
            .into_iter()
            .map(|(tool, a)| ToolFailureRate {
                tool,
                calls: a.calls,
                errors: a.errors,
                failure_rate: a.errors as f64 / a.calls.max(1) as f64,
                avg_duration_ms: if a.dur_n == 0 {
                    0.0
                } else {
                    a.dur_sum / a.dur_n as f64
                },
            })
            .collect();
        tool_failure_rates.sort_by(|a, b| {
            b.failure_rate
                .total_cmp(&a.failure_rate)
                .then(b.calls.cmp(&a.calls))
                .then_with(|| a.tool.cmp(&b.tool))
        });
        tool_failure_rates.truncate(top_n);

        let by_cost = |m: HashMap<String, UsageBucket>| {
            let mut v: Vec<UsageBucket> = m.into_values().collect();
            v.sort_by(|a, b| {
                b.cost_usd
                    .total_cmp(&a.cost_usd)
                    .then(b.tokens.total().cmp(&a.tokens.total()))
                    .then_with(|| a.key.cmp(&b.key))
            });
            v
        };
        let mut by_day: Vec<UsageBucket> = self.by_day.into_values().collect();
        by_day.sort_by(|a, b| a.key.cmp(&b.key));

        let mut common_errors = self.errors.finish();
        common_errors.truncate(top_n);

        let mut slow_nodes: Vec<NodeSlowness> = self
            .nodes
            .into_iter()
            .filter_map(|(node_id, a)| {
                let avg = a.total_ms / a.runs.max(1) as f64;
                (a.sessions >= 2 && avg > self.slow_node_ms).then_some(NodeSlowness {
                    node_id,
                    sessions: a.sessions,
                    runs: a.runs,
                    avg_duration_ms: avg,
                    slow_sessions: a.slow_sessions,
                })
            })
            .collect();
        slow_nodes.sort_by(|a, b| {
            b.avg_duration_ms
                .total_cmp(&a.avg_duration_ms)
                .then_with(|| a.node_id.cmp(&b.node_id))
        });
        slow_nodes.truncate(top_n);

        let mut agents: Vec<AgentStats> = self
            .agents
            .into_iter()
            .map(|(agent, a)| AgentStats {
                agent,
                sessions: a.sessions,
                completed: a.completed,
                success_rate: a.completed as f64 / a.sessions.max(1) as f64,
                timed_llm_calls: a.llm_n,
                mean_llm_duration_ms: if a.llm_n == 0 {
                    0.0
                } else {
                    a.llm_ms / a.llm_n as f64
                },
                mean_session_duration_ms: if a.session_n == 0 {
                    0.0
                } else {
                    a.session_ms / a.session_n as f64
                },
                llm_calls: a.llm_calls,
            })
            .collect();
        agents.sort_by(|a, b| {
            b.sessions
                .cmp(&a.sessions)
                .then_with(|| a.agent.cmp(&b.agent))
        });

        CrossStats {
            sessions: self.sessions,
            total: self.total,
            slowest_llm_calls,
            tool_failure_rates,
            by_model: by_cost(self.by_model),
            by_agent: by_cost(self.by_agent),
            by_day,
            common_errors,
            slow_nodes,
            agents,
        }
    }
}

fn bucket<'m>(m: &'m mut HashMap<String, UsageBucket>, key: &str) -> &'m mut UsageBucket {
    // Look up by &str first so the common case allocates nothing.
    if !m.contains_key(key) {
        m.insert(
            key.to_owned(),
            UsageBucket {
                key: key.to_owned(),
                ..Default::default()
            },
        );
    }
    m.get_mut(key)
        .unwrap_or_else(|| unreachable!("inserted above"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::testing::Trace;
    use crate::{analyze, AnalysisConfig};
    use loupe_model::{keys, EventKind};
    use serde_json::json;

    fn session(id_ms: &[f64], status: &str, model: &str, node_ms: f64) -> Session {
        let mut t = Trace::new();
        for (i, ms) in id_ms.iter().enumerate() {
            t.iter(i as u32 + 1).llm_model(model, 1000, 100, 0, 0);
            t.tool("bash", json!({"i": i}), *ms);
            t.tool_err(
                "read_file",
                json!({"i": i}),
                &format!("ENOENT: no such file src/f{i}.rs"),
            );
        }
        let e = t.push(EventKind::NodeEnd, &[(keys::NODE_ID, "implement".into())]);
        e.duration_ms = Some(node_ms);
        t.end(status);
        t.session()
    }

    #[test]
    fn accumulates_across_sessions() {
        let mut acc = StatsAccumulator::new(PriceTable::builtin()).with_top_n(3);
        let cfg = AnalysisConfig {
            summary_only: true,
            ..Default::default()
        };
        for (ms, status, model) in [
            (&[10.0, 20.0][..], "completed", "gpt-4o"),
            (&[30.0][..], "failed", "claude-sonnet-4-5"),
        ] {
            let s = session(ms, status, model, 3000.0);
            acc.add(&analyze(&s, &cfg), &s);
        }
        let st = acc.finish(2);
        assert_eq!(st.sessions, 2);
        assert_eq!(st.total.llm_calls, 3);
        assert_eq!(st.slowest_llm_calls.len(), 2);
        assert_eq!(st.tool_failure_rates[0].tool, "read_file");
        assert_eq!(st.tool_failure_rates[0].failure_rate, 1.0);
        let bash = st
            .tool_failure_rates
            .iter()
            .find(|t| t.tool == "bash")
            .unwrap();
        assert_eq!(
            (bash.calls, bash.errors, bash.avg_duration_ms),
            (3, 0, 20.0)
        );
        assert_eq!(st.by_model.len(), 2);
        assert_eq!(st.by_model[0].key, "gpt-4o"); // 2 calls at $2.5/M input beat 1 sonnet call
        assert_eq!(st.by_day.len(), 1);
        assert_eq!(st.common_errors[0].pattern, "ENOENT: no such file <path>");
        assert_eq!(st.common_errors[0].count, 3);
        assert_eq!(st.slow_nodes[0].node_id, "implement");
        assert_eq!(st.slow_nodes[0].sessions, 2);
        assert_eq!(st.agents[0].sessions, 2);
        assert_eq!(st.agents[0].success_rate, 0.5);
        assert_eq!(st.agents[0].mean_llm_duration_ms, 1000.0);
    }

    #[test]
    fn contributions_computed_apart_fold_exactly_like_add() {
        let cfg = AnalysisConfig {
            summary_only: true,
            ..Default::default()
        };
        let sessions: Vec<Session> = [
            (&[10.0, 20.0][..], "completed", "gpt-4o", 3000.0),
            (
                &[30.0, 0.5, 7.25][..],
                "failed",
                "claude-sonnet-4-5",
                1000.0,
            ),
            (&[1.0][..], "completed", "gpt-4o", 2500.0),
        ]
        .iter()
        .map(|(ms, status, model, node)| session(ms, status, model, *node))
        .collect();
        let mut by_add = StatsAccumulator::new(PriceTable::builtin()).with_top_n(4);
        for s in &sessions {
            by_add.add(&analyze(s, &cfg), s);
        }
        // Computed on other threads, folded in input order.
        let parts: Vec<SessionStats> = std::thread::scope(|scope| {
            let handles: Vec<_> = sessions
                .iter()
                .map(|s| scope.spawn(|| SessionStats::compute(s, &PriceTable::builtin())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut by_parts = StatsAccumulator::new(PriceTable::builtin()).with_top_n(4);
        for p in parts {
            by_parts.add_session_stats(p);
        }
        let (a, b) = (by_add.finish(4), by_parts.finish(4));
        assert_eq!(a, b);
        assert_eq!(b.sessions, 3);
        assert_eq!(b.agents[0].completed, 2);
        assert_eq!(b.slowest_llm_calls.len(), 4);
        assert!(b.total.cost_usd > 0.0);
    }

    #[test]
    fn heap_keeps_only_the_slowest() {
        let mut acc = StatsAccumulator::new(PriceTable::builtin()).with_top_n(2);
        let mut t = Trace::new();
        for (i, d) in [5.0, 50.0, 1.0, 40.0].iter().enumerate() {
            t.iter(i as u32 + 1).llm(10, 1, 0, 0);
            let last = t.push(EventKind::LlmResponse, &[]);
            last.duration_ms = Some(*d * 1000.0);
        }
        let s = t.session();
        acc.add(&analyze(&s, &AnalysisConfig::default()), &s);
        let st = acc.finish(10);
        let d: Vec<f64> = st.slowest_llm_calls.iter().map(|c| c.duration_ms).collect();
        assert_eq!(d, vec![50_000.0, 40_000.0]);
    }
}
