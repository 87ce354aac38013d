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
        // An unknown cost or token count is within no bound.
        let cost = row.metrics.cost_usd;
        let min_c_ok = self
            .min_cost_usd
            .is_none_or(|m| cost.is_some_and(|c| c >= m));
        let max_c_ok = self
            .max_cost_usd
            .is_none_or(|m| cost.is_some_and(|c| c <= m));
        let tokens = row.metrics.total_tokens();
        let min_t_ok = self
            .min_tokens
            .is_none_or(|m| tokens.is_some_and(|t| t >= m));
        let max_t_ok = self
            .max_tokens
            .is_none_or(|m| tokens.is_some_and(|t| t <= m));
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
            SessionSort::Cost => a
                .metrics
                .cost_usd
                .unwrap_or(0.0)
                .total_cmp(&b.metrics.cost_usd.unwrap_or(0.0)),
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

    /// Compares two rows in the order a query asks for, rows whose key is
    /// unknown (cost, tokens) last in either direction: an unpriced session
    /// is neither the cheapest nor the dearest.
    pub fn compare_in(self, a: &SessionRow, b: &SessionRow, descending: bool) -> Ordering {
        let ord = self.compare(a, b);
        let ord = if descending { ord.reverse() } else { ord };
        self.unknown(a).cmp(&self.unknown(b)).then(ord)
    }

    /// Whether `row`'s value of this key is unknown (sorted last).
    pub fn unknown(self, row: &SessionRow) -> bool {
        match self {
            SessionSort::Cost => row.metrics.cost_usd.is_none(),
            SessionSort::Tokens => row.metrics.total_tokens().is_none(),
            SessionSort::StartedAt | SessionSort::Duration | SessionSort::Name => false,
        }
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

/// Tokens of a text as SQLite FTS5's `unicode61` tokenizer (the store's
/// FTS table, default `remove_diacritics 1`) makes them: runs of
/// alphanumeric characters, lowercased, a Latin letter with one diacritic
/// folded to its base letter (`résumé` → `resume`, `İ` → `i`) and the
/// combining diacritics it removes dropped, so the in-memory and ClickHouse
/// backends find what SQLite finds. Letters with two diacritics (`ǖ`) keep
/// them, as `unicode61` does.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut token = String::new();
    for c in text.chars() {
        if is_removed_diacritic(c) {
            // Part of the token (`e\u{301}cole` is one word), but not kept.
            continue;
        }
        if !c.is_alphanumeric() {
            if !token.is_empty() {
                tokens.push(std::mem::take(&mut token));
            }
            continue;
        }
        match LATIN_FOLD.binary_search_by_key(&c, |&(from, _)| from) {
            Ok(i) => token.push(LATIN_FOLD[i].1),
            Err(_) => match c {
                // Case folds `unicode61` makes that lowercasing does not.
                'µ' => token.push('μ'),
                'ſ' | 'ẛ' => token.push('s'),
                'ς' => token.push('σ'),
                'ϐ' => token.push('β'),
                'ϑ' => token.push('θ'),
                'ϕ' => token.push('φ'),
                'ϖ' => token.push('π'),
                'ϰ' => token.push('κ'),
                'ϱ' => token.push('ρ'),
                'ϵ' => token.push('ε'),
                _ => token.extend(c.to_lowercase()),
            },
        }
    }
    if !token.is_empty() {
        tokens.push(token);
    }
    tokens
}

/// The combining diacritics (U+0300..U+0331) `unicode61` removes, by the
/// bit masks of SQLite's `sqlite3Fts5UnicodeIsdiacritic`.
fn is_removed_diacritic(c: char) -> bool {
    const LOW: u32 = 0x0802_9FDF;
    const HIGH: u32 = 0x0003_61F8;
    match u32::from(c) {
        code @ 0x300..=0x31F => LOW & (1 << (code - 0x300)) != 0,
        code @ 0x320..=0x331 => HIGH & (1 << (code - 0x320)) != 0,
        _ => false,
    }
}

/// Every character below U+1F00 whose canonical decomposition is an ASCII
/// letter and one removed diacritic, with that letter lowercased: the
/// letters `unicode61` folds (checked against SQLite over the whole BMP).
/// Sorted, for binary search.
const LATIN_FOLD: &[(char, char)] = &[
    ('\u{c0}', 'a'),
    ('\u{c1}', 'a'),
    ('\u{c2}', 'a'),
    ('\u{c3}', 'a'),
    ('\u{c4}', 'a'),
    ('\u{c5}', 'a'),
    ('\u{c7}', 'c'),
    ('\u{c8}', 'e'),
    ('\u{c9}', 'e'),
    ('\u{ca}', 'e'),
    ('\u{cb}', 'e'),
    ('\u{cc}', 'i'),
    ('\u{cd}', 'i'),
    ('\u{ce}', 'i'),
    ('\u{cf}', 'i'),
    ('\u{d1}', 'n'),
    ('\u{d2}', 'o'),
    ('\u{d3}', 'o'),
    ('\u{d4}', 'o'),
    ('\u{d5}', 'o'),
    ('\u{d6}', 'o'),
    ('\u{d9}', 'u'),
    ('\u{da}', 'u'),
    ('\u{db}', 'u'),
    ('\u{dc}', 'u'),
    ('\u{dd}', 'y'),
    ('\u{e0}', 'a'),
    ('\u{e1}', 'a'),
    ('\u{e2}', 'a'),
    ('\u{e3}', 'a'),
    ('\u{e4}', 'a'),
    ('\u{e5}', 'a'),
    ('\u{e7}', 'c'),
    ('\u{e8}', 'e'),
    ('\u{e9}', 'e'),
    ('\u{ea}', 'e'),
    ('\u{eb}', 'e'),
    ('\u{ec}', 'i'),
    ('\u{ed}', 'i'),
    ('\u{ee}', 'i'),
    ('\u{ef}', 'i'),
    ('\u{f1}', 'n'),
    ('\u{f2}', 'o'),
    ('\u{f3}', 'o'),
    ('\u{f4}', 'o'),
    ('\u{f5}', 'o'),
    ('\u{f6}', 'o'),
    ('\u{f9}', 'u'),
    ('\u{fa}', 'u'),
    ('\u{fb}', 'u'),
    ('\u{fc}', 'u'),
    ('\u{fd}', 'y'),
    ('\u{ff}', 'y'),
    ('\u{100}', 'a'),
    ('\u{101}', 'a'),
    ('\u{102}', 'a'),
    ('\u{103}', 'a'),
    ('\u{104}', 'a'),
    ('\u{105}', 'a'),
    ('\u{106}', 'c'),
    ('\u{107}', 'c'),
    ('\u{108}', 'c'),
    ('\u{109}', 'c'),
    ('\u{10a}', 'c'),
    ('\u{10b}', 'c'),
    ('\u{10c}', 'c'),
    ('\u{10d}', 'c'),
    ('\u{10e}', 'd'),
    ('\u{10f}', 'd'),
    ('\u{112}', 'e'),
    ('\u{113}', 'e'),
    ('\u{114}', 'e'),
    ('\u{115}', 'e'),
    ('\u{116}', 'e'),
    ('\u{117}', 'e'),
    ('\u{118}', 'e'),
    ('\u{119}', 'e'),
    ('\u{11a}', 'e'),
    ('\u{11b}', 'e'),
    ('\u{11c}', 'g'),
    ('\u{11d}', 'g'),
    ('\u{11e}', 'g'),
    ('\u{11f}', 'g'),
    ('\u{120}', 'g'),
    ('\u{121}', 'g'),
    ('\u{122}', 'g'),
    ('\u{123}', 'g'),
    ('\u{124}', 'h'),
    ('\u{125}', 'h'),
    ('\u{128}', 'i'),
    ('\u{129}', 'i'),
    ('\u{12a}', 'i'),
    ('\u{12b}', 'i'),
    ('\u{12c}', 'i'),
    ('\u{12d}', 'i'),
    ('\u{12e}', 'i'),
    ('\u{12f}', 'i'),
    ('\u{130}', 'i'),
    ('\u{134}', 'j'),
    ('\u{135}', 'j'),
    ('\u{136}', 'k'),
    ('\u{137}', 'k'),
    ('\u{139}', 'l'),
    ('\u{13a}', 'l'),
    ('\u{13b}', 'l'),
    ('\u{13c}', 'l'),
    ('\u{13d}', 'l'),
    ('\u{13e}', 'l'),
    ('\u{143}', 'n'),
    ('\u{144}', 'n'),
    ('\u{145}', 'n'),
    ('\u{146}', 'n'),
    ('\u{147}', 'n'),
    ('\u{148}', 'n'),
    ('\u{14c}', 'o'),
    ('\u{14d}', 'o'),
    ('\u{14e}', 'o'),
    ('\u{14f}', 'o'),
    ('\u{150}', 'o'),
    ('\u{151}', 'o'),
    ('\u{154}', 'r'),
    ('\u{155}', 'r'),
    ('\u{156}', 'r'),
    ('\u{157}', 'r'),
    ('\u{158}', 'r'),
    ('\u{159}', 'r'),
    ('\u{15a}', 's'),
    ('\u{15b}', 's'),
    ('\u{15c}', 's'),
    ('\u{15d}', 's'),
    ('\u{15e}', 's'),
    ('\u{15f}', 's'),
    ('\u{160}', 's'),
    ('\u{161}', 's'),
    ('\u{162}', 't'),
    ('\u{163}', 't'),
    ('\u{164}', 't'),
    ('\u{165}', 't'),
    ('\u{168}', 'u'),
    ('\u{169}', 'u'),
    ('\u{16a}', 'u'),
    ('\u{16b}', 'u'),
    ('\u{16c}', 'u'),
    ('\u{16d}', 'u'),
    ('\u{16e}', 'u'),
    ('\u{16f}', 'u'),
    ('\u{170}', 'u'),
    ('\u{171}', 'u'),
    ('\u{172}', 'u'),
    ('\u{173}', 'u'),
    ('\u{174}', 'w'),
    ('\u{175}', 'w'),
    ('\u{176}', 'y'),
    ('\u{177}', 'y'),
    ('\u{178}', 'y'),
    ('\u{179}', 'z'),
    ('\u{17a}', 'z'),
    ('\u{17b}', 'z'),
    ('\u{17c}', 'z'),
    ('\u{17d}', 'z'),
    ('\u{17e}', 'z'),
    ('\u{1a0}', 'o'),
    ('\u{1a1}', 'o'),
    ('\u{1af}', 'u'),
    ('\u{1b0}', 'u'),
    ('\u{1cd}', 'a'),
    ('\u{1ce}', 'a'),
    ('\u{1cf}', 'i'),
    ('\u{1d0}', 'i'),
    ('\u{1d1}', 'o'),
    ('\u{1d2}', 'o'),
    ('\u{1d3}', 'u'),
    ('\u{1d4}', 'u'),
    ('\u{1e6}', 'g'),
    ('\u{1e7}', 'g'),
    ('\u{1e8}', 'k'),
    ('\u{1e9}', 'k'),
    ('\u{1ea}', 'o'),
    ('\u{1eb}', 'o'),
    ('\u{1f0}', 'j'),
    ('\u{1f4}', 'g'),
    ('\u{1f5}', 'g'),
    ('\u{1f8}', 'n'),
    ('\u{1f9}', 'n'),
    ('\u{200}', 'a'),
    ('\u{201}', 'a'),
    ('\u{202}', 'a'),
    ('\u{203}', 'a'),
    ('\u{204}', 'e'),
    ('\u{205}', 'e'),
    ('\u{206}', 'e'),
    ('\u{207}', 'e'),
    ('\u{208}', 'i'),
    ('\u{209}', 'i'),
    ('\u{20a}', 'i'),
    ('\u{20b}', 'i'),
    ('\u{20c}', 'o'),
    ('\u{20d}', 'o'),
    ('\u{20e}', 'o'),
    ('\u{20f}', 'o'),
    ('\u{210}', 'r'),
    ('\u{211}', 'r'),
    ('\u{212}', 'r'),
    ('\u{213}', 'r'),
    ('\u{214}', 'u'),
    ('\u{215}', 'u'),
    ('\u{216}', 'u'),
    ('\u{217}', 'u'),
    ('\u{218}', 's'),
    ('\u{219}', 's'),
    ('\u{21a}', 't'),
    ('\u{21b}', 't'),
    ('\u{21e}', 'h'),
    ('\u{21f}', 'h'),
    ('\u{226}', 'a'),
    ('\u{227}', 'a'),
    ('\u{228}', 'e'),
    ('\u{229}', 'e'),
    ('\u{22e}', 'o'),
    ('\u{22f}', 'o'),
    ('\u{232}', 'y'),
    ('\u{233}', 'y'),
    ('\u{1e00}', 'a'),
    ('\u{1e01}', 'a'),
    ('\u{1e02}', 'b'),
    ('\u{1e03}', 'b'),
    ('\u{1e04}', 'b'),
    ('\u{1e05}', 'b'),
    ('\u{1e06}', 'b'),
    ('\u{1e07}', 'b'),
    ('\u{1e0a}', 'd'),
    ('\u{1e0b}', 'd'),
    ('\u{1e0c}', 'd'),
    ('\u{1e0d}', 'd'),
    ('\u{1e0e}', 'd'),
    ('\u{1e0f}', 'd'),
    ('\u{1e10}', 'd'),
    ('\u{1e11}', 'd'),
    ('\u{1e12}', 'd'),
    ('\u{1e13}', 'd'),
    ('\u{1e18}', 'e'),
    ('\u{1e19}', 'e'),
    ('\u{1e1a}', 'e'),
    ('\u{1e1b}', 'e'),
    ('\u{1e1e}', 'f'),
    ('\u{1e1f}', 'f'),
    ('\u{1e20}', 'g'),
    ('\u{1e21}', 'g'),
    ('\u{1e22}', 'h'),
    ('\u{1e23}', 'h'),
    ('\u{1e24}', 'h'),
    ('\u{1e25}', 'h'),
    ('\u{1e26}', 'h'),
    ('\u{1e27}', 'h'),
    ('\u{1e28}', 'h'),
    ('\u{1e29}', 'h'),
    ('\u{1e2a}', 'h'),
    ('\u{1e2b}', 'h'),
    ('\u{1e2c}', 'i'),
    ('\u{1e2d}', 'i'),
    ('\u{1e30}', 'k'),
    ('\u{1e31}', 'k'),
    ('\u{1e32}', 'k'),
    ('\u{1e33}', 'k'),
    ('\u{1e34}', 'k'),
    ('\u{1e35}', 'k'),
    ('\u{1e36}', 'l'),
    ('\u{1e37}', 'l'),
    ('\u{1e3a}', 'l'),
    ('\u{1e3b}', 'l'),
    ('\u{1e3c}', 'l'),
    ('\u{1e3d}', 'l'),
    ('\u{1e3e}', 'm'),
    ('\u{1e3f}', 'm'),
    ('\u{1e40}', 'm'),
    ('\u{1e41}', 'm'),
    ('\u{1e42}', 'm'),
    ('\u{1e43}', 'm'),
    ('\u{1e44}', 'n'),
    ('\u{1e45}', 'n'),
    ('\u{1e46}', 'n'),
    ('\u{1e47}', 'n'),
    ('\u{1e48}', 'n'),
    ('\u{1e49}', 'n'),
    ('\u{1e4a}', 'n'),
    ('\u{1e4b}', 'n'),
    ('\u{1e54}', 'p'),
    ('\u{1e55}', 'p'),
    ('\u{1e56}', 'p'),
    ('\u{1e57}', 'p'),
    ('\u{1e58}', 'r'),
    ('\u{1e59}', 'r'),
    ('\u{1e5a}', 'r'),
    ('\u{1e5b}', 'r'),
    ('\u{1e5e}', 'r'),
    ('\u{1e5f}', 'r'),
    ('\u{1e60}', 's'),
    ('\u{1e61}', 's'),
    ('\u{1e62}', 's'),
    ('\u{1e63}', 's'),
    ('\u{1e6a}', 't'),
    ('\u{1e6b}', 't'),
    ('\u{1e6c}', 't'),
    ('\u{1e6d}', 't'),
    ('\u{1e6e}', 't'),
    ('\u{1e6f}', 't'),
    ('\u{1e70}', 't'),
    ('\u{1e71}', 't'),
    ('\u{1e72}', 'u'),
    ('\u{1e73}', 'u'),
    ('\u{1e74}', 'u'),
    ('\u{1e75}', 'u'),
    ('\u{1e76}', 'u'),
    ('\u{1e77}', 'u'),
    ('\u{1e7c}', 'v'),
    ('\u{1e7d}', 'v'),
    ('\u{1e7e}', 'v'),
    ('\u{1e7f}', 'v'),
    ('\u{1e80}', 'w'),
    ('\u{1e81}', 'w'),
    ('\u{1e82}', 'w'),
    ('\u{1e83}', 'w'),
    ('\u{1e84}', 'w'),
    ('\u{1e85}', 'w'),
    ('\u{1e86}', 'w'),
    ('\u{1e87}', 'w'),
    ('\u{1e88}', 'w'),
    ('\u{1e89}', 'w'),
    ('\u{1e8a}', 'x'),
    ('\u{1e8b}', 'x'),
    ('\u{1e8c}', 'x'),
    ('\u{1e8d}', 'x'),
    ('\u{1e8e}', 'y'),
    ('\u{1e8f}', 'y'),
    ('\u{1e90}', 'z'),
    ('\u{1e91}', 'z'),
    ('\u{1e92}', 'z'),
    ('\u{1e93}', 'z'),
    ('\u{1e94}', 'z'),
    ('\u{1e95}', 'z'),
    ('\u{1e96}', 'h'),
    ('\u{1e97}', 't'),
    ('\u{1e98}', 'w'),
    ('\u{1e99}', 'y'),
    ('\u{1ea0}', 'a'),
    ('\u{1ea1}', 'a'),
    ('\u{1ea2}', 'a'),
    ('\u{1ea3}', 'a'),
    ('\u{1eb8}', 'e'),
    ('\u{1eb9}', 'e'),
    ('\u{1eba}', 'e'),
    ('\u{1ebb}', 'e'),
    ('\u{1ebc}', 'e'),
    ('\u{1ebd}', 'e'),
    ('\u{1ec8}', 'i'),
    ('\u{1ec9}', 'i'),
    ('\u{1eca}', 'i'),
    ('\u{1ecb}', 'i'),
    ('\u{1ecc}', 'o'),
    ('\u{1ecd}', 'o'),
    ('\u{1ece}', 'o'),
    ('\u{1ecf}', 'o'),
    ('\u{1ee4}', 'u'),
    ('\u{1ee5}', 'u'),
    ('\u{1ee6}', 'u'),
    ('\u{1ee7}', 'u'),
    ('\u{1ef2}', 'y'),
    ('\u{1ef3}', 'y'),
    ('\u{1ef4}', 'y'),
    ('\u{1ef5}', 'y'),
    ('\u{1ef6}', 'y'),
    ('\u{1ef7}', 'y'),
    ('\u{1ef8}', 'y'),
    ('\u{1ef9}', 'y'),
];

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The tokens SQLite's FTS5 `unicode61` (as the store's table is
    /// declared) makes of `text`.
    fn sqlite_tokens(conn: &rusqlite::Connection, text: &str) -> Vec<String> {
        conn.execute("DELETE FROM t", []).unwrap();
        conn.execute("INSERT INTO t(x) VALUES (?1)", [text])
            .unwrap();
        let mut stmt = conn.prepare("SELECT term FROM v ORDER BY term").unwrap();
        let terms = stmt.query_map([], |r| r.get(0)).unwrap();
        terms.collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn words_with_diacritics_are_found_without_them_as_sqlite_finds_them() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61');
             CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row');",
        )
        .unwrap();
        let mut samples: Vec<String> = [
            "résumé",
            "ÉCOLE",
            "naïve",
            "İstanbul",
            "e\u{301}cole",
            "ǖber",
            "Straße",
            "łódź Ørsted",
            "a \u{301} b",
            "a\u{20d7}b",
            "ΣΟΦΟΣ σοφος",
            "µs ſ",
            "日本語 テスト",
            "x²y",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every Latin letter, each inside a word.
        for c in ('\u{c0}'..='\u{24f}').chain('\u{1e00}'..='\u{1eff}') {
            samples.push(format!("q{c}z"));
        }
        for text in &samples {
            let mut ours = tokenize(text);
            ours.sort();
            ours.dedup();
            assert_eq!(ours, sqlite_tokens(&conn, text), "{text:?}");
        }
        let found = |query: &str, text: &str| texts_match(&[text], &text_terms(query));
        assert!(found("resume", "Résumé attached"));
        assert!(found("ecole", "ÉCOLE normale"));
        assert!(found("naive", "a naïve approach"));
        assert!(found("istanbul", "İstanbul office"));
        assert!(found("résumé", "resume"));
    }
}
