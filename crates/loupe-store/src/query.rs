//! Query descriptions shared by every backend, and their reference semantics
//! (`SessionFilter::matches_row`, `text_terms`) that the in-memory backend
//! uses directly and the SQL backends translate.

use std::cmp::Ordering;

use loupe_model::{SessionStatus, Timestamp};

use crate::rows::{SessionRow, ToolRun};

/// Which sessions to return. Every set field must match (AND); list fields
/// require every element (a session must use *all* the given tools, carry
/// *all* the tags...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionFilter {
    /// Only these session ids (any of them), when non-empty.
    pub session_ids: Vec<String>,
    /// Exact agent name.
    pub agent: Option<String>,
    /// Case-insensitive substring of the agent name or the task.
    pub name_contains: Option<String>,
    /// Exact model name.
    pub model: Option<String>,
    /// Outcome.
    pub status: Option<SessionStatus>,
    /// Sessions that started at or after this instant.
    pub since: Option<Timestamp>,
    /// Sessions that started before this instant.
    pub until: Option<Timestamp>,
    /// `Some(true)`: only sessions with errors; `Some(false)`: only without.
    pub has_errors: Option<bool>,
    /// Minimum duration (inclusive).
    pub min_duration_ms: Option<f64>,
    /// Maximum duration (inclusive).
    pub max_duration_ms: Option<f64>,
    /// Minimum cost (inclusive).
    pub min_cost_usd: Option<f64>,
    /// Maximum cost (inclusive).
    pub max_cost_usd: Option<f64>,
    /// Minimum `input + output` tokens (inclusive).
    pub min_tokens: Option<u64>,
    /// Maximum `input + output` tokens (inclusive).
    pub max_tokens: Option<u64>,
    /// Tools the session must have used (all of them).
    pub tools: Vec<String>,
    /// Tags the session must carry (all of them).
    pub tags: Vec<String>,
    /// Metadata `key = value` pairs (all of them); values compare as text
    /// (see [`crate::rows::metadata_value_text`]).
    pub metadata: Vec<(String, String)>,
    /// Full-text query: sessions with at least one event matching every term
    /// (see [`text_terms`] and [`texts_match`]).
    pub text: Option<String>,
}

impl SessionFilter {
    /// Whether a row passes every filter except `text` (which needs events).
    pub fn matches_row(&self, row: &SessionRow) -> bool {
        let ids_ok = self.session_ids.is_empty() || self.session_ids.contains(&row.session_id);
        let agent_ok = self
            .agent
            .as_ref()
            .is_none_or(|a| row.agent_name.as_deref() == Some(a.as_str()));
        let name_ok = self.name_contains.as_ref().is_none_or(|needle| {
            let needle = needle.to_lowercase();
            [&row.agent_name, &row.task].iter().any(|f| {
                f.as_ref()
                    .is_some_and(|v| v.to_lowercase().contains(&needle))
            })
        });
        let model_ok = self
            .model
            .as_ref()
            .is_none_or(|m| row.model.as_deref() == Some(m.as_str()));
        let status_ok = self.status.is_none_or(|s| row.status == s);
        let since_ok = self
            .since
            .is_none_or(|t| row.started_at.is_some_and(|s| s >= t));
        let until_ok = self
            .until
            .is_none_or(|t| row.started_at.is_some_and(|s| s < t));
        let errors_ok = self
            .has_errors
            .is_none_or(|want| row.metrics.has_errors() == want);
        let duration = row.duration_ms;
        let min_d_ok = self
            .min_duration_ms
            .is_none_or(|m| duration.is_some_and(|d| d >= m));
        let max_d_ok = self
            .max_duration_ms
            .is_none_or(|m| duration.is_some_and(|d| d <= m));
        let cost = row.metrics.cost_usd;
        let min_c_ok = self.min_cost_usd.is_none_or(|m| cost >= m);
        let max_c_ok = self.max_cost_usd.is_none_or(|m| cost <= m);
        let tokens = row.metrics.total_tokens();
        let min_t_ok = self.min_tokens.is_none_or(|m| tokens >= m);
        let max_t_ok = self.max_tokens.is_none_or(|m| tokens <= m);
        let tools_ok = self.tools.iter().all(|t| row.tools.contains(t));
        let tags_ok = self.tags.iter().all(|t| row.tags.contains(t));
        let meta_ok = self
            .metadata
            .iter()
            .all(|(k, v)| row.metadata_text(k).as_deref() == Some(v.as_str()));
        ids_ok
            && agent_ok
            && name_ok
            && model_ok
            && status_ok
            && since_ok
            && until_ok
            && errors_ok
            && min_d_ok
            && max_d_ok
            && min_c_ok
            && max_c_ok
            && min_t_ok
            && max_t_ok
            && tools_ok
            && tags_ok
            && meta_ok
    }
}

/// Sort key for session lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionSort {
    /// Start time (sessions without one sort first ascending).
    #[default]
    StartedAt,
    /// Duration.
    Duration,
    /// Cost.
    Cost,
    /// `input + output` tokens.
    Tokens,
    /// Agent name, then task.
    Name,
}

impl SessionSort {
    /// Parses `started_at|duration|cost|tokens|name`.
    pub fn from_name(name: &str) -> Option<SessionSort> {
        Some(match name {
            "started_at" | "start" | "time" => SessionSort::StartedAt,
            "duration" => SessionSort::Duration,
            "cost" => SessionSort::Cost,
            "tokens" => SessionSort::Tokens,
            "name" => SessionSort::Name,
            _ => return None,
        })
    }

    /// Compares two rows by this key ascending; ties break on session id so
    /// every backend returns the same order.
    pub fn compare(self, a: &SessionRow, b: &SessionRow) -> Ordering {
        let primary = match self {
            SessionSort::StartedAt => a.started_at.cmp(&b.started_at),
            SessionSort::Duration => a
                .duration_ms
                .unwrap_or(-1.0)
                .total_cmp(&b.duration_ms.unwrap_or(-1.0)),
            SessionSort::Cost => a.metrics.cost_usd.total_cmp(&b.metrics.cost_usd),
            SessionSort::Tokens => a.metrics.total_tokens().cmp(&b.metrics.total_tokens()),
            SessionSort::Name => (
                a.agent_name.as_deref().unwrap_or(""),
                a.task.as_deref().unwrap_or(""),
            )
                .cmp(&(
                    b.agent_name.as_deref().unwrap_or(""),
                    b.task.as_deref().unwrap_or(""),
                )),
        };
        primary.then_with(|| a.session_id.cmp(&b.session_id))
    }
}

/// A session list request: filter, order and page.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionQuery {
    /// Which sessions.
    pub filter: SessionFilter,
    /// Order key.
    pub sort: SessionSort,
    /// Newest / largest first when true (the default).
    pub descending: bool,
    /// At most this many rows (`None`: all).
    pub limit: Option<usize>,
    /// Skip this many rows first.
    pub offset: usize,
}

impl Default for SessionQuery {
    fn default() -> Self {
        SessionQuery {
            filter: SessionFilter::default(),
            sort: SessionSort::StartedAt,
            descending: true,
            limit: None,
            offset: 0,
        }
    }
}

/// Which events of one session to return, in time order (ties in insertion order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventQuery {
    /// Only events at or after this instant.
    pub since: Option<Timestamp>,
    /// Only events before this instant.
    pub until: Option<Timestamp>,
    /// Skip this many events first.
    pub offset: usize,
    /// At most this many (`None`: all).
    pub limit: Option<usize>,
}

/// Which tool runs to return, newest first (ties on session then event id).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ToolRunQuery {
    /// Only runs of these sessions, when non-empty.
    pub session_ids: Vec<String>,
    /// Only runs of these tools (any of them), when non-empty.
    pub tools: Vec<String>,
    /// Only runs that took at least this long.
    pub min_duration_ms: Option<f64>,
    /// Only successful runs.
    pub success_only: bool,
    /// At most this many rows (`None`: all).
    pub limit: Option<usize>,
    /// Skip this many rows first.
    pub offset: usize,
}

impl ToolRunQuery {
    /// Whether a run passes the filters.
    pub fn matches(&self, run: &ToolRun) -> bool {
        (self.session_ids.is_empty() || self.session_ids.contains(&run.session_id))
            && (self.tools.is_empty() || self.tools.contains(&run.tool))
            && self
                .min_duration_ms
                .is_none_or(|m| run.duration_ms.is_some_and(|d| d >= m))
            && (!self.success_only || run.success)
    }

    /// The order runs are returned in: newest first, then session, then event id.
    pub fn compare(a: &ToolRun, b: &ToolRun) -> Ordering {
        b.timestamp
            .cmp(&a.timestamp)
            .then_with(|| a.session_id.cmp(&b.session_id))
            .then_with(|| a.event_id.cmp(&b.event_id))
    }
}

/// What a prune deletes: sessions whose last event is older than `max_age_ms`
/// before `now`, and the oldest sessions beyond the newest `max_count`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetentionPolicy {
    /// Maximum age in milliseconds of a session's last activity.
    pub max_age_ms: Option<f64>,
    /// Maximum number of sessions kept (newest by last activity).
    pub max_count: Option<usize>,
    /// The reference instant (`Timestamp::now()` in production; fixed in tests).
    pub now: Timestamp,
}

/// Splits a full-text query into lowercase terms the way the SQLite FTS5
/// `unicode61` tokenizer splits text: runs of alphanumeric characters. A
/// trailing `*` on a word makes its last term a prefix match. An event
/// matches when one of its searchable texts (see [`crate::derive`]) has a
/// token matching every term.
pub fn text_terms(query: &str) -> Vec<TextTerm> {
    let mut terms = Vec::new();
    for word in query.split_whitespace() {
        let prefix = word.ends_with('*');
        let tokens = tokenize(word);
        let last = tokens.len().saturating_sub(1);
        for (i, token) in tokens.into_iter().enumerate() {
            terms.push(TextTerm {
                token,
                prefix: prefix && i == last,
            });
        }
    }
    terms
}

/// One term of a full-text query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextTerm {
    /// Lowercase alphanumeric token.
    pub token: String,
    /// Matches any token starting with `token`.
    pub prefix: bool,
}

/// Lowercase alphanumeric tokens of a text (the in-memory FTS).
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether one of `texts` contains every term (a match is within one text
/// value, as with one FTS5 row per stored text).
pub fn texts_match(texts: &[&str], terms: &[TextTerm]) -> bool {
    if terms.is_empty() {
        return false;
    }
    texts.iter().any(|text| {
        let tokens = tokenize(text);
        terms.iter().all(|term| {
            tokens.iter().any(|tok| {
                if term.prefix {
                    tok.starts_with(&term.token)
                } else {
                    *tok == term.token
                }
            })
        })
    })
}

/// Applies a retention policy to `(last activity, session id)` pairs and
/// returns the ids to delete, sorted. Sessions with no known activity time
/// count as oldest. Shared by every backend so they delete the same sessions.
pub fn sessions_to_prune(
    sessions: &mut [(Option<Timestamp>, String)],
    policy: &RetentionPolicy,
) -> Vec<String> {
    // Newest first; ties on id so the choice is deterministic.
    sessions.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let cutoff = policy.max_age_ms.map(|ms| policy.now.minus_millis(ms));
    let mut doomed: Vec<String> = sessions
        .iter()
        .enumerate()
        .filter(|(rank, (last, _))| {
            let too_old = cutoff.is_some_and(|c| last.is_none_or(|t| t < c));
            let too_many = policy.max_count.is_some_and(|n| *rank >= n);
            too_old || too_many
        })
        .map(|(_, (_, id))| id.clone())
        .collect();
    doomed.sort();
    doomed
}
