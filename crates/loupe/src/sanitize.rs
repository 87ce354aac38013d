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

/// Object keys whose string value is a secret whatever it looks like.
/// Exact, case-insensitive match: `input_tokens` is not `token`.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "api-key",
    "token",
    "access_token",
    "refresh_token",
    "auth_token",
    "authorization",
    "private_key",
];

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

    /// Sanitises every string in `data`, recursively.
    pub(crate) fn sanitize_map(&self, data: &mut Map<String, Value>) {
        for (key, value) in data.iter_mut() {
            self.sanitize_entry(key, value);
        }
    }

    fn sanitize_entry(&self, key: &str, value: &mut Value) {
        if self.redact_keys
            && value.is_string()
            && SECRET_KEYS.iter().any(|k| k.eq_ignore_ascii_case(key))
        {
            *value = Value::String(REDACTED.to_owned());
            return;
        }
        self.sanitize_value(value);
    }

    fn sanitize_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.sanitize_string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.sanitize_value(v)),
            Value::Object(map) => self.sanitize_map(map),
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
