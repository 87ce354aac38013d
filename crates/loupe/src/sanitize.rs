//! Redaction of secrets and truncation of long strings, applied by the
//! writer thread to every string in an event's `data` (recursively), so the
//! agent's thread never pays for a regex.

use std::sync::OnceLock;

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
    // `Authorization: Bearer <token>`.
    r"(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9._~+/=\-]{8,}",
    // `password=...`, `"api_key": "..."`, `secret: ...` in free text or JSON text.
    r#"(?i)(?P<keep>["']?\b(?:password|passwd|pwd|secret|client_secret|api[_-]?key|access[_-]?token|refresh[_-]?token|auth[_-]?token|token)\b["']?\s*[:=]\s*)(?:"[^"]*"|'[^']*'|[^\r\n,;&}\]"']+)"#,
];

/// Every built-in pattern contains one of these (ASCII case-insensitively):
/// a string without any of them cannot hold a built-in secret, and one SIMD
/// scan (`aho-corasick`) rules out the regexes for nearly every string.
const BUILTIN_TRIGGERS: &[&str] = &[
    "private key",
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
                let replaced =
                    re.replace_all(s, |caps: &regex::Captures<'_>| match caps.name("keep") {
                        Some(k) => format!("{}{REDACTED}", k.as_str()),
                        None => REDACTED.to_owned(),
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

    /// Sanitises every string in `data`, recursively: values, and keys too
    /// (a secret or a megabyte can be a key as well as a value).
    pub(crate) fn sanitize_map(&self, data: &mut Map<String, Value>) {
        self.sanitize_map_at(data, 1);
    }

    fn sanitize_map_at(&self, data: &mut Map<String, Value>, depth: usize) {
        let renamed: Vec<(String, String)> = data
            .keys()
            .filter_map(|key| match self.sanitized(key) {
                std::borrow::Cow::Owned(clean) => Some((key.clone(), clean)),
                std::borrow::Cow::Borrowed(_) => None,
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
            self.sanitize_entry(key, value, depth);
        }
    }

    fn sanitize_entry(&self, key: &str, value: &mut Value, depth: usize) {
        if self.redact_keys && !value.is_null() && is_secret_key(key) {
            *value = Value::String(REDACTED.to_owned());
            return;
        }
        self.sanitize_value(value, depth);
    }

    /// `value` sits at nesting `depth` (1 for a member of `data`).
    fn sanitize_value(&self, value: &mut Value, depth: usize) {
        match value {
            Value::String(s) => self.sanitize_string(s),
            Value::Array(_) | Value::Object(_) if depth >= MAX_NESTING => {
                let cut = std::mem::replace(
                    value,
                    Value::String(format!("[nested deeper than {MAX_NESTING} levels]")),
                );
                drop_flat(cut);
            }
            Value::Array(items) => items
                .iter_mut()
                .for_each(|v| self.sanitize_value(v, depth + 1)),
            Value::Object(map) => self.sanitize_map_at(map, depth + 1),
            _ => {}
        }
    }

    /// `s` as it will be written: borrowed when sanitising cannot change it
    /// (short enough, and the literal pre-check rules out every built-in
    /// pattern), else a sanitised copy. The writer's fast path for strings.
    pub(crate) fn sanitized<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        let surely_clean = s.len() <= self.max_chars
            && self.user.is_none()
            && self
                .builtin
                .is_none_or(|p| p.triggers.as_ref().is_some_and(|t| !t.is_match(s)));
        if surely_clean {
            std::borrow::Cow::Borrowed(s)
        } else {
            let mut owned = s.to_owned();
            self.sanitize_string(&mut owned);
            std::borrow::Cow::Owned(owned)
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
        if let Some(p) = self.builtin {
            p.redact(s);
        }
        if let Some(p) = &self.user {
            p.redact(s);
        }
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
    fn keys_are_redacted_and_truncated_like_values() {
        let long = "k".repeat(500);
        let out = clean(json!({
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz": "v",
            long.clone(): 1,
            "plain": 2,
        }));
        let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|k| !k.contains("sk-ant-api03")), "{keys:?}");
        assert!(keys.iter().all(|k| k.chars().count() < 150), "{keys:?}");
        assert_eq!(out["plain"], 2);
        assert_eq!(out.as_object().unwrap().len(), 3);
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
