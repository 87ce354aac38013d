//! Redaction of secrets and truncation of long strings, applied by the
//! writer thread to every string in an event's `data` (recursively) and to
//! the `agent` identity, so the agent's thread never pays for a regex.
//!
//! Truncation only cuts free text: keys, and the values of the members of
//! `data` this library writes as identifiers or counts ([`FIXED_KEYS`]), are
//! redacted but never cut, so a small limit cannot break the format.

use std::sync::OnceLock;

use std::borrow::Cow;

use loupe_model::{keys, AgentRef, Event};
use regex::{Regex, RegexSet};
use serde_json::{Map, Value};

use crate::config::ConfigError;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Built-in secret patterns. Each either replaces the whole match, or keeps
/// the capture group `keep` (a key name, `Bearer `) and replaces the rest.
const BUILTIN_PATTERNS: &[&str] = &[
    // PEM private key blocks (RSA, EC, OPENSSH, plain PKCS#8...).
    r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
    // Anthropic (`sk-ant-api03-...`), OpenAI (`sk-...`, `sk-proj-...`).
    r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}",
    // AWS access key ids.
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    // GitHub tokens (classic and fine-grained).
    r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
    // Google API keys.
    r"\bAIza[0-9A-Za-z_\-]{35}",
    // Slack tokens.
    r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    // Stripe secret and restricted keys (`pk_` keys are public).
    r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}",
    // JSON Web Tokens: base64url header and payload (both JSON objects, so
    // `eyJ`), then the signature (empty for unsigned tokens).
    r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
    // Hugging Face tokens.
    r"\bhf_[A-Za-z0-9]{30,}",
    // `Authorization: Bearer <token>`; the token must look like one
    // ([`looks_like_a_token`]), so "the bearer instrument" stays.
    r"(?i)(?P<keep>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=\-]{8,})",
    // `password=...`, `"api_key": "..."`, `secret: ...` in free text or JSON text.
    // A value an earlier pattern already redacted is taken whole (first
    // alternative), else the `]` of `[REDACTED]` would be left behind. The
    // separator is `:`, `=` or `:=`, never a comparison (`==`, `!=`, `<=`,
    // `>=`: a value cannot start with `=`), and code or prose after it is
    // left alone ([`is_code_or_prose`]).
    r#"(?i)(?P<keep>["']?\b(?:password|passwd|pwd|passphrase|secret|client_secret|api[_-]?key|private[_-]?key|ssh[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|token)\b["']?\s*(?::=|[:=])\s*)(?P<value>\[REDACTED\]|"[^"]*"|'[^']*'|[^\r\n,;&}\]"'=][^\r\n,;&}\]"']*)"#,
    // The password in a URL's user info: `postgres://user:pw@host`.
    r"(?P<keep>\b[A-Za-z][A-Za-z0-9+.\-]*://[^/?#@\s:]*:)[^/?#@\s]+(?P<after>@)",
];

/// The index in [`BUILTIN_PATTERNS`] of the `Bearer` pattern and of the
/// `key=value` pattern, whose matches are checked again in code (the regex
/// crate has no look-around).
const BEARER_PATTERN: usize = 9;
const KEY_VALUE_PATTERN: usize = 10;

/// Whether a built-in pattern's match is not a secret after all.
fn builtin_false_positive(pattern: usize, caps: &regex::Captures<'_>) -> bool {
    let Some(value) = caps.name("value").map(|m| m.as_str()) else {
        return false;
    };
    match pattern {
        BEARER_PATTERN => !looks_like_a_token(value),
        KEY_VALUE_PATTERN => is_code_or_prose(value),
        _ => false,
    }
}

/// A bearer token has a digit or both upper and lower case letters (base64,
/// hex, JWTs, API keys all do); a word after "bearer" in prose has neither.
fn looks_like_a_token(value: &str) -> bool {
    let has = |f: fn(&char) -> bool| value.chars().any(|c| f(&c));
    has(char::is_ascii_digit) || (has(char::is_ascii_uppercase) && has(char::is_ascii_lowercase))
}

/// Words that start a sentence, not a secret: `secret: we cache results`.
const PROSE_STARTS: &[&str] = &[
    "a", "an", "the", "we", "i", "you", "he", "she", "it", "they", "is", "are", "was", "were",
    "be", "to", "of", "in", "on", "for", "with", "and", "or", "not", "this", "that", "these",
    "those", "our", "your", "its", "their", "there", "here", "if", "when", "then", "as", "at",
    "by", "from", "so", "but", "how", "what", "which", "who", "why", "should", "must", "can",
    "will", "do", "does",
];

/// Values that are a type or a placeholder, not a secret: `token: string`
/// (a type annotation), `password: none`.
const PLACEHOLDER_VALUES: &[&str] = &[
    "string",
    "str",
    "number",
    "int",
    "bool",
    "boolean",
    "any",
    "unknown",
    "none",
    "null",
    "nil",
    "undefined",
    "true",
    "false",
    "required",
    "optional",
    "empty",
    "unset",
    "redacted",
    "hidden",
];

/// Whether an unquoted value after `password=` / `token:` is code or prose
/// rather than a secret: a call or a member access (`make_token(user)`,
/// `user.password_hash`, `config["key"]`), a type or placeholder word, or a
/// sentence starting with a function word. Quoted values are literals and
/// stay redacted.
fn is_code_or_prose(value: &str) -> bool {
    if value.starts_with(['"', '\'', '[']) {
        return false;
    }
    let value = value.trim_end();
    let ident_len = value
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(value.len(), |(i, _)| i);
    let (ident, rest) = value.split_at(ident_len);
    let starts_ident = ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if starts_ident {
        // A call of any function; a member or index of a lower-case name
        // (`eyJhbGci….eyJ…`, a JWT, is caught by its own pattern anyway).
        if rest.starts_with('(') {
            return true;
        }
        let snake = ident
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if snake && (rest.starts_with('.') || rest.starts_with('[')) {
            return rest
                .chars()
                .nth(1)
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '"' || c == '\'');
        }
    }
    if rest.is_empty()
        && PLACEHOLDER_VALUES
            .iter()
            .any(|w| w.eq_ignore_ascii_case(ident))
    {
        return true;
    }
    let mut words = value.split_whitespace();
    let first = words.next().unwrap_or("");
    words.next().is_some() && PROSE_STARTS.contains(&first)
}

/// Every built-in pattern contains one of these (ASCII case-insensitively):
/// a string without any of them cannot hold a built-in secret, and one SIMD
/// scan (`aho-corasick`) rules out the regexes for nearly every string.
const BUILTIN_TRIGGERS: &[&str] = &[
    "private key",
    "private_key",
    "private-key",
    "privatekey",
    "ssh_key",
    "ssh-key",
    "sshkey",
    "passphrase",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "eyj",
    "hf_",
    "sk-",
    "akia",
    "asia",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "aiza",
    "xox",
    "bearer",
    "password",
    "passwd",
    "pwd",
    "secret",
    "api_key",
    "api-key",
    "apikey",
    "token",
    "://",
];

/// Object keys whose value is a secret whatever it looks like, as the
/// words a key ends with (see [`is_secret_key`]): `x-api-key`,
/// `OPENAI_API_KEY`, `apiKey`, `db_password`, `Proxy-Authorization`,
/// `aws_secret_access_key`. Whole words only: `input_tokens`, `max_tokens`
/// and `cache_key` are not secrets.
const SECRET_KEY_ENDINGS: &[&[&str]] = &[
    &["password"],
    &["passwd"],
    &["pwd"],
    &["secret"],
    &["token"],
    &["apikey"],
    &["api", "key"],
    &["private", "key"],
    &["privatekey"],
    &["ssh", "key"],
    &["passphrase"],
    &["secret", "key"],
    &["access", "key"],
    &["authorization"],
    &["cookie"],
];

/// Whether `key` names a secret: its words (split at `_`, `-`, `.`, spaces
/// and lower-to-upper case changes, compared in lower case) end with one of
/// [`SECRET_KEY_ENDINGS`].
fn is_secret_key(key: &str) -> bool {
    // Most keys (`tool`, `args`, `model`...) hold none of the endings' last
    // words: ruled out without splitting anything.
    const LAST_WORDS: &[&str] = &[
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "key",
        "passphrase",
        "authorization",
        "cookie",
    ];
    let lower_has = |word: &str| {
        key.as_bytes()
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
    };
    if key.len() > 128 || !LAST_WORDS.iter().any(|w| lower_has(w)) {
        return false;
    }
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        word.extend(c.to_lowercase());
    }
    if !word.is_empty() {
        words.push(word);
    }
    SECRET_KEY_ENDINGS.iter().any(|ending| {
        words.len() >= ending.len()
            && words
                .iter()
                .rev()
                .zip(ending.iter().rev())
                .all(|(w, e)| w == e)
    })
}

/// Members of `data` that this library writes as identifiers, names, fixed
/// words or counts (`model`, `usage`, `status`, `format_version`, the
/// `session_end` summary...): their values are redacted like any other but
/// never truncated. Cutting them would make lines the schema refuses and
/// lose token counts; free text (messages, results, arguments, errors,
/// task) is what the limit is for.
pub(crate) const FIXED_KEYS: &[&str] = &[
    keys::FORMAT,
    keys::FORMAT_VERSION,
    keys::MODEL,
    keys::PROVIDER,
    keys::USAGE,
    keys::COST_USD,
    keys::STOP_REASON,
    keys::TOOL_CALLS,
    keys::MESSAGE_COUNT,
    keys::TOOL_COUNT,
    keys::TOOL,
    keys::CALL_ID,
    keys::STATUS,
    keys::ERROR_TYPE,
    keys::AGENT_ID,
    keys::AGENT_TYPE,
    keys::AGENT_NAME,
    keys::NODE_ID,
    keys::NODE_TYPE,
    keys::WORKFLOW,
    keys::NAME,
    keys::DROPPED,
    keys::TOKENS,
    keys::TOKENS_BEFORE,
    keys::TOKENS_AFTER,
    keys::TOKENS_SAVED,
    keys::USAGE_FRACTION,
    "task_id",
    "summary",
];

/// Whether strings are cut to the limit, or only redacted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cut {
    Truncate,
    RedactOnly,
}

/// Payload nesting kept, at most: deeper arrays and objects are replaced by
/// a marker, so every line the recorder writes reads back (JSON parsers
/// stop at 128 levels, the event and its `data` take two).
pub(crate) const MAX_NESTING: usize = 100;

/// Secrets straddling the truncation point are still found: redaction looks
/// this many characters past the limit before the string is cut.
const REDACTION_MARGIN_CHARS: usize = 1024;

/// A compiled set of patterns: a `RegexSet` answers "any match?" in one pass,
/// then only the matching patterns rewrite the string.
#[derive(Debug)]
struct PatternSet {
    /// Literal prefilter; `None` for user patterns (their literals are unknown).
    triggers: Option<aho_corasick::AhoCorasick>,
    /// Second look at a match of pattern `i`: true when it is not a secret
    /// (only the built-in patterns have one).
    false_positive: Option<fn(usize, &regex::Captures<'_>) -> bool>,
    any: RegexSet,
    each: Vec<Regex>,
}

impl PatternSet {
    fn compile(sources: &[String], origin: impl Fn(usize) -> String) -> Result<Self, ConfigError> {
        let mut each = Vec::with_capacity(sources.len());
        for (i, p) in sources.iter().enumerate() {
            each.push(Regex::new(p).map_err(|e| ConfigError {
                origin: origin(i),
                reason: e.to_string(),
            })?);
        }
        let any = RegexSet::new(sources).map_err(|e| ConfigError {
            origin: "redaction patterns".into(),
            reason: e.to_string(),
        })?;
        Ok(PatternSet {
            triggers: None,
            false_positive: None,
            any,
            each,
        })
    }

    fn redact(&self, s: &mut String) {
        if let Some(t) = &self.triggers {
            if !t.is_match(s.as_str()) {
                return;
            }
        }
        let hits = self.any.matches(s);
        for i in hits.iter() {
            if let Some(re) = self.each.get(i) {
                let replaced = re.replace_all(s, |caps: &regex::Captures<'_>| {
                    if self.false_positive.is_some_and(|check| check(i, caps)) {
                        return caps.get(0).map_or("", |m| m.as_str()).to_owned();
                    }
                    let kept = |name| caps.name(name).map_or("", |m| m.as_str());
                    format!("{}{REDACTED}{}", kept("keep"), kept("after"))
                });
                if let std::borrow::Cow::Owned(r) = replaced {
                    *s = r;
                }
            }
        }
    }
}

/// The built-in patterns, compiled once per process (compiling them costs
/// milliseconds; sessions are cheap).
fn builtin() -> Option<&'static PatternSet> {
    static BUILTIN: OnceLock<Option<PatternSet>> = OnceLock::new();
    BUILTIN
        .get_or_init(|| {
            let sources: Vec<String> = BUILTIN_PATTERNS.iter().map(|s| (*s).to_owned()).collect();
            let mut set =
                PatternSet::compile(&sources, |i| format!("built-in redaction pattern {i}"))
                    .ok()?;
            set.false_positive = Some(builtin_false_positive);
            set.triggers = aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(BUILTIN_TRIGGERS)
                .ok();
            Some(set)
        })
        .as_ref()
}

/// Redacts and truncates strings in place.
#[derive(Debug)]
pub(crate) struct Sanitizer {
    max_chars: usize,
    builtin: Option<&'static PatternSet>,
    user: Option<PatternSet>,
    redact_keys: bool,
}

impl Sanitizer {
    /// Uses the built-in patterns (when `redact`) and compiles the user's.
    pub(crate) fn new(
        redact: bool,
        user_patterns: &[String],
        max_chars: usize,
    ) -> Result<Self, ConfigError> {
        let user = if user_patterns.is_empty() {
            None
        } else {
            Some(PatternSet::compile(user_patterns, |i| {
                format!(
                    "redaction pattern {:?}",
                    user_patterns.get(i).map_or("", String::as_str)
                )
            })?)
        };
        Ok(Sanitizer {
            max_chars,
            builtin: if redact { builtin() } else { None },
            user,
            redact_keys: redact,
        })
    }

    /// Sanitises every string in `data`, recursively: values are redacted
    /// and (but for [`FIXED_KEYS`]) truncated; keys are redacted, never
    /// truncated (a secret can be a key as well as a value).
    pub(crate) fn sanitize_map(&self, data: &mut Map<String, Value>) {
        self.sanitize_map_at(data, 1, FIXED_KEYS, Cut::Truncate);
    }

    /// Sanitises what the writer writes of an event: its `data`
    /// ([`Sanitizer::sanitize_map`]) and its `agent` identity
    /// ([`Sanitizer::agent`]). Ids, `session_id` and `trace_id` are left
    /// as given.
    pub(crate) fn sanitize_event(&self, ev: &mut Event) {
        if !ev.data.is_empty() {
            self.sanitize_map(&mut ev.data);
        }
        if let Some(agent) = ev.agent.as_deref_mut() {
            if let Cow::Owned(clean) = self.agent(agent) {
                *agent = clean;
            }
        }
    }

    /// Values under the keys in `fixed` are only redacted, others as `cut`
    /// says (nested in a fixed member, they are only redacted too).
    fn sanitize_map_at(
        &self,
        data: &mut Map<String, Value>,
        depth: usize,
        fixed: &[&str],
        cut: Cut,
    ) {
        let renamed: Vec<(String, String)> = data
            .keys()
            .filter_map(|key| match self.redacted(key) {
                Cow::Owned(clean) => Some((key.clone(), clean)),
                Cow::Borrowed(_) => None,
            })
            .collect();
        for (key, mut clean) in renamed {
            if let Some(value) = data.remove(&key) {
                // Two keys may sanitise alike; neither value is lost.
                while data.contains_key(&clean) {
                    clean.push('\'');
                }
                data.insert(clean, value);
            }
        }
        for (key, value) in data.iter_mut() {
            let cut = if fixed.contains(&key.as_str()) {
                Cut::RedactOnly
            } else {
                cut
            };
            self.sanitize_entry(key, value, depth, cut);
        }
    }

    fn sanitize_entry(&self, key: &str, value: &mut Value, depth: usize, cut: Cut) {
        if self.redact_keys && !value.is_null() && is_secret_key(key) {
            *value = Value::String(REDACTED.to_owned());
            return;
        }
        self.sanitize_value(value, depth, cut);
    }

    /// `value` sits at nesting `depth` (1 for a member of `data`).
    fn sanitize_value(&self, value: &mut Value, depth: usize, cut: Cut) {
        match value {
            Value::String(s) => match cut {
                Cut::Truncate => self.sanitize_string(s),
                Cut::RedactOnly => self.redact_string(s),
            },
            Value::Array(_) | Value::Object(_) if depth >= MAX_NESTING => {
                let cut = std::mem::replace(
                    value,
                    Value::String(format!("[nested deeper than {MAX_NESTING} levels]")),
                );
                drop_flat(cut);
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.sanitize_value(v, depth + 1, cut)),
            Value::Object(map) => self.sanitize_map_at(map, depth + 1, &[], cut),
            _ => {}
        }
    }

    /// Whether redaction surely leaves `s` as it is: no user patterns, and
    /// the literal pre-check rules out every built-in one.
    fn surely_secret_free(&self, s: &str) -> bool {
        self.user.is_none()
            && self
                .builtin
                .is_none_or(|p| p.triggers.as_ref().is_some_and(|t| !t.is_match(s)))
    }

    /// `s` as it will be written: borrowed when sanitising cannot change it
    /// (short enough, and secret-free), else a sanitised copy. The writer's
    /// fast path for free-text strings.
    pub(crate) fn sanitized<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if s.len() <= self.max_chars && self.surely_secret_free(s) {
            Cow::Borrowed(s)
        } else {
            let mut owned = s.to_owned();
            self.sanitize_string(&mut owned);
            Cow::Owned(owned)
        }
    }

    /// `s` redacted but never truncated: keys, identifiers and the fixed
    /// fields ([`FIXED_KEYS`]). Borrowed when redaction cannot change it.
    pub(crate) fn redacted<'a>(&self, s: &'a str) -> Cow<'a, str> {
        if self.surely_secret_free(s) {
            return Cow::Borrowed(s);
        }
        let mut owned = s.to_owned();
        self.redact_string(&mut owned);
        if owned == s {
            Cow::Borrowed(s)
        } else {
            Cow::Owned(owned)
        }
    }

    /// The agent identity an event carries, redacted like an identifier
    /// (id, name, type; not `parent_session_id`, a session id): the same
    /// text as the subagent's `data.agent_id`, so the two still match.
    /// Borrowed when nothing changes.
    pub(crate) fn agent<'a>(&self, agent: &'a AgentRef) -> Cow<'a, AgentRef> {
        let id = self.redacted(&agent.id);
        let name = agent.name.as_deref().map(|n| self.redacted(n));
        let agent_type = agent.agent_type.as_deref().map(|t| self.redacted(t));
        let changed = matches!(id, Cow::Owned(_))
            || matches!(name, Some(Cow::Owned(_)))
            || matches!(agent_type, Some(Cow::Owned(_)));
        if !changed {
            return Cow::Borrowed(agent);
        }
        let (id, name, agent_type) = (
            id.into_owned(),
            name.map(Cow::into_owned),
            agent_type.map(Cow::into_owned),
        );
        let mut clean = agent.clone();
        clean.id = id;
        clean.name = name;
        clean.agent_type = agent_type;
        Cow::Owned(clean)
    }

    /// Redacts one string in place, without truncating it.
    fn redact_string(&self, s: &mut String) {
        if let Some(p) = self.builtin {
            p.redact(s);
        }
        if let Some(p) = &self.user {
            p.redact(s);
        }
    }

    /// Redacts, then truncates one string. A huge string is first cut a
    /// margin past the limit so redaction never scans megabytes it will drop.
    pub(crate) fn sanitize_string(&self, s: &mut String) {
        let original_chars = (s.len() > self.max_chars).then(|| s.chars().count());
        let too_long = original_chars.is_some_and(|n| n > self.max_chars);
        if too_long {
            if let Some((cut, _)) = s
                .char_indices()
                .nth(self.max_chars + REDACTION_MARGIN_CHARS)
            {
                s.truncate(cut);
            }
        }
        self.redact_string(s);
        if let (true, Some(total)) = (too_long, original_chars) {
            let kept = match s.char_indices().nth(self.max_chars) {
                Some((cut, _)) => {
                    s.truncate(cut);
                    self.max_chars
                }
                None => s.chars().count(),
            };
            s.push_str(&format!(
                "…[truncated {} chars]",
                total.saturating_sub(kept)
            ));
        } else if s.len() > self.max_chars {
            // Redaction made the string longer than the limit.
            truncate_in_place(s, self.max_chars);
        }
    }
}

/// Drops a value however deep without recursing (a recursive drop of a
/// value nested thousands deep overflows the writer thread's stack).
fn drop_flat(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Cuts `s` to `max_chars` characters (never inside a UTF-8 character) and
/// appends `…[truncated N chars]`, N being the number of characters removed.
pub fn truncate_in_place(s: &mut String, max_chars: usize) {
    // A string of at most `max_chars` bytes has at most that many chars.
    if s.len() <= max_chars {
        return;
    }
    let Some((cut, _)) = s.char_indices().nth(max_chars) else {
        return;
    };
    let removed = s[cut..].chars().count();
    s.truncate(cut);
    s.push_str(&format!("…[truncated {removed} chars]"));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn clean(v: Value) -> Value {
        let s = Sanitizer::new(true, &["acme-[0-9]{4}".into()], 100).unwrap();
        let mut m = Map::new();
        m.insert("x".into(), v);
        s.sanitize_map(&mut m);
        m.remove("x").unwrap()
    }

    #[test]
    fn builtin_patterns_catch_each_secret_kind() {
        let cases = [
            "key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv here",
            "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx",
            "AKIAIOSFODNN7EXAMPLE",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "AIzaSyA-0123456789abcdefghijABCDEFGHIJK",
            "xoxb-1234567890-abcdefghij",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "order acme-1234 shipped",
        ];
        for c in cases {
            let out = clean(json!(c));
            let out = out.as_str().unwrap();
            assert!(out.contains(REDACTED), "{c} -> {out}");
        }
        let out = clean(json!("Authorization: Bearer abc.DEF-123_xyz"));
        assert_eq!(out, json!("Authorization: Bearer [REDACTED]"));
        let out = clean(json!("login password=hunter 22, user=bob"));
        assert_eq!(out, json!("login password=[REDACTED], user=bob"));
    }

    /// `clean` without the user pattern and the short limit.
    fn redact(v: Value) -> Value {
        let s = Sanitizer::new(true, &[], 10_000).unwrap();
        let mut m = Map::new();
        m.insert("x".into(), v);
        s.sanitize_map(&mut m);
        m.remove("x").unwrap()
    }

    #[test]
    fn code_and_prose_around_secret_words_are_left_alone() {
        let src = "def login(user, password):\n    if password == user.password_hash:\n        token = make_token(user)\n        return token\n";
        assert_eq!(redact(json!(src)), json!(src));
        for text in [
            "the bearer instrument was mentioned; secret: we cache results, then reuse",
            "if token != expected_token or password >= limit or pwd <= 3",
            "api_key = os.environ[\"OPENAI_API_KEY\"]",
            "token = self.token",
            "let password = read_password()?;",
            "token: string; password: str",
            "secret: the cache is warm",
            "contact bob@example.com for access",
        ] {
            assert_eq!(redact(json!(text)), json!(text), "{text}");
        }
        // Still secrets: literals, words, tokens.
        for (text, expected) in [
            ("token = \"abc123secret\"", "token = [REDACTED]"),
            ("password: hunter2", "password: [REDACTED]"),
            ("password := letmein", "password := [REDACTED]"),
            (
                "my password: correct horse battery staple",
                "my password: [REDACTED]",
            ),
            (
                "Authorization: Bearer abcdefghijklmnop1234",
                "Authorization: Bearer [REDACTED]",
            ),
            ("bearer AbCdEfGhIjKl", "bearer [REDACTED]"),
        ] {
            assert_eq!(redact(json!(text)), json!(expected), "{text}");
        }
        // The indices the second look relies on.
        assert!(BUILTIN_PATTERNS[BEARER_PATTERN].contains("bearer"));
        assert!(BUILTIN_PATTERNS[KEY_VALUE_PATTERN].contains("password"));
    }

    #[test]
    fn stripe_jwt_and_hugging_face_tokens_and_ssh_and_private_keys_are_redacted() {
        for (text, expected) in [
            (
                "stripe sk_live_51HxAbCdEfGhIjKlMnOpQrSt end",
                "stripe [REDACTED] end",
            ),
            ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "[REDACTED]"),
            ("rk_live_51HxAbCdEfGhIjKlMnOpQrSt", "[REDACTED]"),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x here",
                "jwt [REDACTED] here",
            ),
            ("hf_abcdefghijklmnopqrstuvwxyzABCD", "[REDACTED]"),
            ("passphrase: correct horse", "passphrase: [REDACTED]"),
            ("ssh_key=AAAAB3NzaC1yc2E", "ssh_key=[REDACTED]"),
            ("private-key: MIIEow0123", "private-key: [REDACTED]"),
        ] {
            assert_eq!(redact(json!(text)), json!(expected), "{text}");
        }
        // Publishable Stripe keys and short `hf_` words are not secrets.
        for text in ["pk_live_51HxAbCdEfGhIjKlMnOpQrSt", "hf_hub_download"] {
            assert_eq!(redact(json!(text)), json!(text), "{text}");
        }
        let out = redact(json!({
            "ssh_key": "ssh-rsa AAAAB3Nza",
            "passphrase": "correct horse",
            "private_key": {"pem": "x"},
            "email": "bob@example.com",
        }));
        assert_eq!(
            out,
            json!({
                "ssh_key": REDACTED,
                "passphrase": REDACTED,
                "private_key": REDACTED,
                "email": "bob@example.com",
            })
        );
    }

    #[test]
    fn secret_keys_are_replaced_but_token_counts_are_not() {
        let out = clean(
            json!({"password": "hunter2", "input_tokens": 12, "tokens": "many", "nested": [{"api_key": "k"}]}),
        );
        assert_eq!(
            out,
            json!({"password": "[REDACTED]", "input_tokens": 12, "tokens": "many", "nested": [{"api_key": "[REDACTED]"}]})
        );
    }

    #[test]
    fn secret_keys_are_found_by_their_last_words_and_any_value_is_replaced() {
        for key in [
            "x-api-key",
            "OPENAI_API_KEY",
            "apiKey",
            "db_password",
            "Proxy-Authorization",
            "aws_secret_access_key",
            "github.token",
            "Set-Cookie",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "input_tokens",
            "max_tokens",
            "cache_key",
            "key",
            "tokenizer",
            "token_count",
            "authorization_status",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
        let out = clean(json!({
            "api_key": 123456789,
            "secret": {"value": "nested-secret-value"},
            "x-api-key": "abcdef0123456789",
            "password": null,
        }));
        assert_eq!(
            out,
            json!({
                "api_key": REDACTED,
                "secret": REDACTED,
                "x-api-key": REDACTED,
                "password": null,
            })
        );
    }

    #[test]
    fn payloads_nested_too_deep_to_read_back_are_cut_with_a_marker() {
        let mut deep = json!("leaf");
        for _ in 0..1000 {
            deep = json!({ "a": [deep] });
        }
        let mut event = loupe_model::Event::new(
            "e",
            loupe_model::EventKind::ToolEnd,
            loupe_model::Timestamp(0),
            "s",
        );
        event.data.insert("args".into(), deep);
        Sanitizer::new(true, &[], 100)
            .unwrap()
            .sanitize_map(&mut event.data);
        let line = serde_json::to_string(&event).unwrap();
        assert!(line.contains("[nested deeper than 100 levels]"));
        let back: loupe_model::Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back.kind, loupe_model::EventKind::ToolEnd);
    }

    #[test]
    fn keys_are_redacted_but_never_truncated() {
        let long = "k".repeat(500);
        let out = clean(json!({
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz": "v",
            long.clone(): 1,
            "plain": 2,
        }));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|k| !k.contains("sk-ant-api03")), "{keys:?}");
        assert_eq!(out[&long], 1, "{keys:?}");
        assert_eq!(out["plain"], 2);
        assert_eq!(out.as_object().unwrap().len(), 3);
    }

    #[test]
    fn the_library_s_own_fields_are_redacted_but_never_truncated() {
        let s = Sanitizer::new(true, &[], 10).unwrap();
        let mut data = json!({
            "format": "loupe",
            "format_version": 1,
            "model": "claude-sonnet-4-5",
            "provider": "anthropic-bedrock",
            "status": "success-ish-status",
            "agent_id": "worker-sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv",
            "usage": {"cache_read_tokens": 500, "cache_write_tokens": 100},
            "summary": {"cache_write_tokens": 3, "note": "a long summary value"},
            "content": "a long response text",
            "args": {"model": "nested args are content"},
        });
        s.sanitize_map(data.as_object_mut().unwrap());
        assert_eq!(data["model"], "claude-sonnet-4-5");
        assert_eq!(data["provider"], "anthropic-bedrock");
        assert_eq!(data["status"], "success-ish-status");
        assert_eq!(data["format_version"], 1);
        assert_eq!(data["agent_id"], "worker-[REDACTED]");
        assert_eq!(
            data["usage"],
            json!({"cache_read_tokens": 500, "cache_write_tokens": 100})
        );
        assert_eq!(data["summary"]["note"], "a long summary value");
        assert_eq!(data["content"], "a long res…[truncated 10 chars]");
        assert_eq!(data["args"]["model"], "nested arg…[truncated 13 chars]");
    }

    #[test]
    fn a_value_two_patterns_match_is_redacted_once_without_a_stray_bracket() {
        let key = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789";
        for (input, expected) in [
            (format!("x-api-key: {key}"), "x-api-key: [REDACTED]"),
            (format!("api_key={key}"), "api_key=[REDACTED]"),
            (format!("token: {key}, next"), "token: [REDACTED], next"),
            ("password=hunter2".to_owned(), "password=[REDACTED]"),
        ] {
            assert_eq!(clean(json!(input)), json!(expected), "{input}");
        }
    }

    #[test]
    fn credentials_in_urls_are_redacted() {
        for (input, expected) in [
            (
                "postgres://user:s3cretpw@db",
                "postgres://user:[REDACTED]@db",
            ),
            (
                "connect to postgres://user:s3cretpw@db:5432/x now",
                "connect to postgres://user:[REDACTED]@db:5432/x now",
            ),
            ("https://:tok3n@host/p", "https://:[REDACTED]@host/p"),
            (
                "https://u:sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv@host",
                "https://u:[REDACTED]@host",
            ),
            // No password: nothing to redact.
            ("http://example.com:8080/a@b", "http://example.com:8080/a@b"),
            ("ssh://git@github.com/x", "ssh://git@github.com/x"),
        ] {
            assert_eq!(clean(json!(input)), json!(expected), "{input}");
        }
    }

    #[test]
    fn an_agent_identity_is_redacted_like_its_agent_id() {
        let s = Sanitizer::new(true, &[], 8).unwrap();
        let id = "worker-sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv";
        let agent = AgentRef {
            id: id.into(),
            name: Some("plain name longer than the limit".into()),
            agent_type: Some("type ghp_0123456789abcdefghijABCDEFGHIJ012345".into()),
            parent_session_id: Some("sk-ant-api03-session-id-kept-as-given".into()),
            spawned_at_iteration: Some(2),
        };
        let clean = s.agent(&agent).into_owned();
        let mut data = json!({"agent_id": id});
        s.sanitize_map(data.as_object_mut().unwrap());
        assert_eq!(clean.id, "worker-[REDACTED]");
        assert_eq!(data["agent_id"].as_str(), Some(clean.id.as_str()));
        assert_eq!(clean.name, agent.name, "identities are not truncated");
        assert_eq!(clean.agent_type.as_deref(), Some("type [REDACTED]"));
        assert_eq!(clean.parent_session_id, agent.parent_session_id);
        assert_eq!(clean.spawned_at_iteration, Some(2));
        let plain = AgentRef {
            id: "worker-1".into(),
            ..AgentRef::default()
        };
        assert!(matches!(s.agent(&plain), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_straddling_the_limit_is_redacted_not_half_kept() {
        let s = Sanitizer::new(true, &[], 20).unwrap();
        let mut text = format!(
            "{} sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv {}",
            "a".repeat(9),
            "b".repeat(5000)
        );
        let total = text.chars().count();
        s.sanitize_string(&mut text);
        assert!(!text.contains("sk-ant"), "{text}");
        assert!(text.starts_with("aaaaaaaaa [REDACTED]"), "{text}");
        assert!(
            text.ends_with(&format!("…[truncated {} chars]", total - 20)),
            "{text}"
        );
    }

    #[test]
    fn truncation_counts_chars_and_keeps_utf8_whole() {
        let mut s = "é".repeat(10);
        truncate_in_place(&mut s, 4);
        assert_eq!(s, "éééé…[truncated 6 chars]");
        let mut s = "abc".to_owned();
        truncate_in_place(&mut s, 3);
        assert_eq!(s, "abc");
    }
}
