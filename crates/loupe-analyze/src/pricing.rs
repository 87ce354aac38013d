//! Model prices and context windows, per million tokens.
//!
//! The built-in table holds published list prices as of 2025-11 (provider
//! pricing pages; DeepSeek's API as of 2026-04; Meta and open-weight Qwen
//! models at typical hosted prices).
//! Prices change: override or extend them with a TOML file
//! ([`PriceTable::from_toml_str`], [`PriceTable::with_overrides`]).
//!
//! Lookup order: exact id → alias → normalised id (lowercase, provider prefix
//! such as `anthropic/` stripped, `@date`, `-YYYYMMDD`, `-YYYY-MM-DD` and
//! `-latest` suffixes stripped, `claude-3.5` spelled `claude-3-5`) → the
//! longest known family id that prefixes it at a `-`/`:`/`.` boundary.
//! An unknown model has no price: it is reported as unpriced, never priced at
//! a silent default (attocode-ts falls back to Gemini Flash prices; Loupe does not).
//!
//! Cost of one call in OpenTelemetry semantics:
//! `fresh_input × input + cache_read × cache_read_price + cache_write × cache_write_price + output × output_price`
//! with `fresh_input = input − cache_read − cache_write`; reasoning is billed as output.
//! A cost reported in the trace (`data.cost_usd`) always wins over the table.

use std::collections::HashMap;

use loupe_model::{Cost, CostSource, TokenUsage};
use serde::{Deserialize, Serialize};

/// Price of one model, US dollars per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelPrice {
    /// Uncached prompt tokens.
    pub input: f64,
    /// Completion tokens (reasoning included).
    pub output: f64,
    /// Prompt tokens read from the cache.
    pub cache_read: f64,
    /// Prompt tokens written to the cache.
    pub cache_write: f64,
    /// Context window in tokens, when known.
    pub context_window: Option<u64>,
}

impl ModelPrice {
    /// Cost of one call with `usage` (OTel semantics).
    pub fn cost(&self, usage: &TokenUsage) -> f64 {
        (usage.fresh_input() as f64 * self.input
            + usage.cache_read() as f64 * self.cache_read
            + usage.cache_write() as f64 * self.cache_write
            + usage.output() as f64 * self.output)
            / 1_000_000.0
    }
}

/// A price table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    /// The TOML text is invalid (the message names line and column).
    #[error("invalid price table {origin}: {message}")]
    Toml {
        /// Where the text came from (file path or `<string>`).
        origin: String,
        /// What is wrong, with position.
        message: String,
    },
    /// A price is negative or not finite.
    #[error("invalid price table {origin}: model {model:?}: {reason}")]
    Value {
        /// Where the text came from.
        origin: String,
        /// The model entry.
        model: String,
        /// What is wrong.
        reason: String,
    },
}

/// Model id → price, with aliases.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTable {
    /// Normalised id → price. Family ids double as prefixes.
    models: HashMap<String, ModelPrice>,
    /// Alias (as written, lowercased) → model id.
    aliases: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTable {
    #[serde(default)]
    models: HashMap<String, TomlPrice>,
    #[serde(default)]
    aliases: HashMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlPrice {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write: Option<f64>,
    context_window: Option<u64>,
}

const K200: Option<u64> = Some(200_000);
const K128: Option<u64> = Some(128_000);
const M1: Option<u64> = Some(1_048_576);

/// (id, input, output, cache read, cache write, context window); per million tokens.
type PriceRow = (&'static str, f64, f64, f64, f64, Option<u64>);

#[rustfmt::skip]
const BUILTIN: &[PriceRow] = &[
    // Anthropic (cache write = 5-minute TTL price)
    ("claude-opus-4-5",   5.0, 25.0, 0.50, 6.25, K200),
    ("claude-opus-4-1",  15.0, 75.0, 1.50, 18.75, K200),
    ("claude-opus-4",    15.0, 75.0, 1.50, 18.75, K200),
    ("claude-sonnet-4-5", 3.0, 15.0, 0.30, 3.75, K200),
    ("claude-sonnet-4",   3.0, 15.0, 0.30, 3.75, K200),
    ("claude-3-7-sonnet", 3.0, 15.0, 0.30, 3.75, K200),
    ("claude-3-5-sonnet", 3.0, 15.0, 0.30, 3.75, K200),
    ("claude-3-sonnet",   3.0, 15.0, 0.30, 3.75, K200),
    ("claude-haiku-4-5",  1.0,  5.0, 0.10, 1.25, K200),
    ("claude-3-5-haiku",  0.8,  4.0, 0.08, 1.00, K200),
    ("claude-3-haiku",    0.25, 1.25, 0.03, 0.30, K200),
    ("claude-3-opus",    15.0, 75.0, 1.50, 18.75, K200),
    // OpenAI (no cache-write surcharge)
    ("gpt-5",        1.25, 10.0, 0.125, 1.25, Some(400_000)),
    ("gpt-5-mini",   0.25,  2.0, 0.025, 0.25, Some(400_000)),
    ("gpt-5-nano",   0.05,  0.4, 0.005, 0.05, Some(400_000)),
    ("gpt-4.1",      2.0,   8.0, 0.50,  2.0,  M1),
    ("gpt-4.1-mini", 0.4,   1.6, 0.10,  0.4,  M1),
    ("gpt-4.1-nano", 0.1,   0.4, 0.025, 0.1,  M1),
    ("gpt-4o",       2.5,  10.0, 1.25,  2.5,  K128),
    // The first gpt-4o snapshot kept its launch price (no prompt caching).
    ("gpt-4o-2024-05-13", 5.0, 15.0, 5.0, 5.0, K128),
    // Realtime: text tokens (audio tokens cost more and are not told apart).
    ("gpt-4o-realtime-preview", 5.0, 20.0, 2.5, 5.0, K128),
    ("gpt-4o-mini",  0.15,  0.6, 0.075, 0.15, K128),
    ("o3",           2.0,   8.0, 0.50,  2.0,  K200),
    ("o3-mini",      1.1,   4.4, 0.55,  1.1,  K200),
    ("o4-mini",      1.1,   4.4, 0.275, 1.1,  K200),
    ("o3-pro",      20.0,  80.0, 20.0, 20.0,  K200),
    ("o3-deep-research",      10.0, 40.0, 2.5, 10.0, K200),
    ("o4-mini-deep-research",  2.0,  8.0, 0.5,  2.0, K200),
    ("o1",          15.0,  60.0, 7.50, 15.0,  K200),
    ("o1-mini",      1.1,   4.4, 0.55,  1.1,  K128),
    ("gpt-4.5-preview", 75.0, 150.0, 37.5, 75.0, K128),
    ("gpt-4-turbo", 10.0,  30.0, 10.0, 10.0,  K128),
    // GPT-4 Turbo under its preview names (not the 8k gpt-4).
    ("gpt-4-turbo-preview",  10.0, 30.0, 10.0, 10.0, K128),
    ("gpt-4-1106-preview",   10.0, 30.0, 10.0, 10.0, K128),
    ("gpt-4-0125-preview",   10.0, 30.0, 10.0, 10.0, K128),
    ("gpt-4-vision-preview", 10.0, 30.0, 10.0, 10.0, K128),
    ("gpt-4",       30.0,  60.0, 30.0, 30.0,  Some(8_192)),
    ("gpt-4-32k",   60.0, 120.0, 60.0, 60.0,  Some(32_768)),
    ("gpt-3.5-turbo", 0.5,  1.5, 0.5,   0.5,  Some(16_385)),
    ("gpt-3.5-turbo-instruct", 1.5, 2.0, 1.5, 1.5, Some(4_096)),
    // Google (prompts ≤ 200k tokens)
    ("gemini-2.5-pro",   1.25,  10.0, 0.125,   1.25,  M1),
    ("gemini-2.5-flash", 0.30,   2.5, 0.03,    0.30,  M1),
    ("gemini-2.5-flash-lite", 0.10, 0.4, 0.01,  0.10,  M1),
    ("gemini-2.0-flash", 0.10,   0.4, 0.025,   0.10,  M1),
    ("gemini-1.5-pro",   1.25,   5.0, 0.3125,  1.25,  Some(2_097_152)),
    ("gemini-1.5-flash", 0.075,  0.3, 0.01875, 0.075, M1),
    // DeepSeek API as of 2026-04 (cache miss = input and cache write, cache
    // hit = cache read): since V3.2 (2025-09) both API names serve the same
    // model at one price.
    ("deepseek-chat",     0.28, 0.42, 0.028, 0.28, K128),
    ("deepseek-reasoner", 0.28, 0.42, 0.028, 0.28, K128),
    // The open-weight V3 and R1 by name, at the API's earlier prices for them
    // (hosts serving these weights price them near that).
    ("deepseek-v3",       0.27, 1.10, 0.07, 0.27, K128),
    ("deepseek-r1",       0.55, 2.19, 0.14, 0.55, K128),
    // Meta (typical hosted prices; no caching)
    ("llama-3.1-405b",   3.5,  3.5,  3.5,  3.5,  K128),
    ("llama-3.1-70b",    0.88, 0.88, 0.88, 0.88, K128),
    ("llama-3.1-8b",     0.18, 0.18, 0.18, 0.18, K128),
    ("llama-3.3-70b",    0.88, 0.88, 0.88, 0.88, K128),
    ("llama-4-maverick", 0.27, 0.85, 0.27, 0.27, M1),
    ("llama-4-scout",    0.18, 0.59, 0.18, 0.18, Some(10_000_000)),
    // Qwen (Alibaba Model Studio international; open weights at hosted prices)
    ("qwen-2.5-72b", 0.35, 0.40, 0.35, 0.35, K128),
    ("qwen3",        0.20, 0.60, 0.20, 0.20, K128),
    ("qwen3-coder",  0.40, 1.60, 0.40, 0.40, Some(262_144)),
    ("qwen-max",     1.60, 6.40, 1.60, 1.60, Some(32_768)),
    ("qwen-plus",    0.40, 1.20, 0.40, 0.40, K128),
    ("qwen-turbo",   0.05, 0.20, 0.05, 0.05, M1),
    // Mistral
    ("mistral-large",  2.0, 6.0, 2.0, 2.0, K128),
    ("mistral-medium", 0.4, 2.0, 0.4, 0.4, K128),
    ("mistral-small",  0.1, 0.3, 0.1, 0.1, K128),
    ("codestral",      0.3, 0.9, 0.3, 0.3, Some(256_000)),
    ("ministral",      0.1, 0.1, 0.1, 0.1, K128),
];

impl Default for PriceTable {
    fn default() -> Self {
        PriceTable::builtin()
    }
}

impl PriceTable {
    /// The built-in table (prices as of 2025-11; DeepSeek's API as of 2026-04).
    pub fn builtin() -> Self {
        let models = BUILTIN
            .iter()
            .map(
                |&(id, input, output, cache_read, cache_write, context_window)| {
                    (
                        id.to_owned(),
                        ModelPrice {
                            input,
                            output,
                            cache_read,
                            cache_write,
                            context_window,
                        },
                    )
                },
            )
            .collect();
        PriceTable {
            models,
            aliases: HashMap::new(),
        }
    }

    /// A table with no models (everything unpriced).
    pub fn empty() -> Self {
        PriceTable {
            models: HashMap::new(),
            aliases: HashMap::new(),
        }
    }

    /// Reads a table from TOML:
    /// ```toml
    /// [models."my-model"]
    /// input = 1.0          # $ per million tokens
    /// output = 2.0
    /// cache_read = 0.1     # optional, defaults to input
    /// cache_write = 1.25   # optional, defaults to input
    /// context_window = 128000  # optional
    /// [aliases]
    /// "prod-model" = "gpt-4o"
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Self, PriceError> {
        Self::from_toml_named(text, "<string>")
    }

    /// [`PriceTable::from_toml_str`] naming the file in errors.
    pub fn from_toml_named(text: &str, origin: &str) -> Result<Self, PriceError> {
        let parsed: TomlTable = toml::from_str(text).map_err(|e| PriceError::Toml {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        let mut table = PriceTable::empty();
        for (model, p) in parsed.models {
            let price = ModelPrice {
                input: p.input,
                output: p.output,
                cache_read: p.cache_read.unwrap_or(p.input),
                cache_write: p.cache_write.unwrap_or(p.input),
                context_window: p.context_window,
            };
            for (name, v) in [
                ("input", price.input),
                ("output", price.output),
                ("cache_read", price.cache_read),
                ("cache_write", price.cache_write),
            ] {
                if !v.is_finite() || v < 0.0 {
                    return Err(PriceError::Value {
                        origin: origin.to_owned(),
                        model,
                        reason: format!("{name} = {v} is not a non-negative number"),
                    });
                }
            }
            table.models.insert(model.to_ascii_lowercase(), price);
        }
        for (alias, target) in parsed.aliases {
            table
                .aliases
                .insert(alias.to_ascii_lowercase(), target.to_ascii_lowercase());
        }
        Ok(table)
    }

    /// This table with `overrides`' models and aliases added or replaced.
    pub fn with_overrides(mut self, overrides: PriceTable) -> Self {
        self.models.extend(overrides.models);
        self.aliases.extend(overrides.aliases);
        self
    }

    /// Sets one model's price.
    pub fn insert(&mut self, model: &str, price: ModelPrice) {
        self.models.insert(model.to_ascii_lowercase(), price);
    }

    /// The price of `model`, `None` when unknown.
    pub fn lookup(&self, model: &str) -> Option<&ModelPrice> {
        let lower = model.trim().to_ascii_lowercase();
        if let Some(p) = self.models.get(&lower) {
            return Some(p);
        }
        // A dated id listed on its own (`gpt-4o-2024-05-13`) under a provider
        // prefix, before the date is stripped.
        if let Some(p) = lower
            .rsplit_once('/')
            .and_then(|(_, bare)| self.models.get(bare))
        {
            return Some(p);
        }
        if let Some(target) = self.aliases.get(&lower) {
            if target != &lower {
                return self.lookup_normalised(&normalise_model(target));
            }
        }
        let norm = normalise_model(&lower);
        if let Some(target) = self.aliases.get(&norm) {
            return self.lookup_normalised(&normalise_model(target));
        }
        self.lookup_normalised(&norm)
    }

    fn lookup_normalised(&self, norm: &str) -> Option<&ModelPrice> {
        if let Some(p) = self.models.get(norm) {
            return Some(p);
        }
        // Longest family id that prefixes the name at a separator boundary,
        // unless what follows names another model of the family.
        let mut end = norm.len();
        while let Some(pos) = norm[..end].rfind(['-', ':', '.', '_']) {
            if let Some(p) = self.models.get(&norm[..pos]) {
                return (!names_another_model(&norm[pos + 1..])).then_some(p);
            }
            end = pos;
        }
        None
    }

    /// Cost of one call: the reported cost when present, else priced, else unpriced (0).
    pub fn cost(&self, model: Option<&str>, usage: &TokenUsage, reported: Option<f64>) -> Cost {
        if let Some(usd) = reported.filter(|c| c.is_finite() && *c >= 0.0) {
            return Cost {
                usd,
                source: CostSource::Reported,
            };
        }
        match model.and_then(|m| self.lookup(m)) {
            Some(p) => Cost {
                usd: p.cost(usage),
                source: CostSource::Priced,
            },
            None => Cost {
                usd: 0.0,
                source: CostSource::Unpriced,
            },
        }
    }

    /// Context window of `model`, when known.
    pub fn context_window(&self, model: &str) -> Option<u64> {
        self.lookup(model).and_then(|p| p.context_window)
    }
}

/// Whether `rest`, what follows a known family id in a model name, makes it
/// a different model with its own price: a tier (`o1-mini`, `o3-pro`,
/// `gemini-2.5-flash-lite`), a purpose-built variant (`o3-deep-research`,
/// `gpt-4o-realtime-preview`, `gpt-4o-audio-preview`, `gpt-4o-search-preview`,
/// `gpt-4o-transcribe`, `gpt-4o-mini-tts`), a context size (`gpt-4-32k`) or a
/// minor version (`gpt-4.5-preview`, `claude-opus-4-6`). Such a name is unpriced
/// (and listed as such) rather than priced as its family; dates, `preview`,
/// `instruct` and sizes of open-weight models (`qwen3-235b-a22b`) are not.
fn names_another_model(rest: &str) -> bool {
    const TIERS: &[&str] = &[
        "mini",
        "nano",
        "pro",
        "lite",
        "turbo",
        "max",
        "plus",
        "ultra",
        "flash",
        "haiku",
        "sonnet",
        "opus",
        "large",
        "medium",
        "small",
        // Variants priced apart from their base model.
        "deep",
        "realtime",
        "audio",
        "search",
        "transcribe",
        "tts",
    ];
    let first = rest.split(['-', ':', '.', '_']).next().unwrap_or("");
    let b = first.as_bytes();
    TIERS.contains(&first)
        || (b.len() == 1 && b[0].is_ascii_digit())
        || (b.len() > 1
            && b[b.len() - 1] == b'k'
            && b[..b.len() - 1].iter().all(u8::is_ascii_digit))
}

/// Lowercase, provider prefix stripped, date/`-latest` suffixes stripped.
pub fn normalise_model(model: &str) -> String {
    let mut s = model.trim().to_ascii_lowercase();
    if let Some(pos) = s.rfind('/') {
        s = s[pos + 1..].to_owned();
    }
    if let Some(pos) = s.find('@') {
        s.truncate(pos);
    }
    if let Some(stripped) = s.strip_suffix("-latest") {
        s = stripped.to_owned();
    }
    // -YYYYMMDD
    if s.len() > 9 && s.is_char_boundary(s.len() - 9) {
        let (head, tail) = s.split_at(s.len() - 9);
        if tail.starts_with('-') && tail[1..].bytes().all(|b| b.is_ascii_digit()) {
            s = head.to_owned();
        }
    }
    // -YYYY-MM-DD
    if s.len() > 11 && s.is_char_boundary(s.len() - 11) {
        let (head, tail) = s.split_at(s.len() - 11);
        let b = tail.as_bytes();
        if b[0] == b'-'
            && b[5] == b'-'
            && b[8] == b'-'
            && tail.bytes().filter(|c| c.is_ascii_digit()).count() == 8
        {
            s = head.to_owned();
        }
    }
    if s.starts_with("claude") {
        s = s.replace('.', "-");
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn looks_up_dated_prefixed_and_family_names() {
        let t = PriceTable::builtin();
        let sonnet = t.lookup("claude-sonnet-4-5").unwrap();
        assert_eq!(sonnet.input, 3.0);
        assert_eq!(t.lookup("claude-sonnet-4-20250514").unwrap().input, 3.0);
        assert_eq!(
            t.lookup("anthropic/claude-3.5-sonnet").unwrap().output,
            15.0
        );
        assert_eq!(t.lookup("claude-3-5-haiku-latest").unwrap().input, 0.8);
        assert_eq!(t.lookup("claude-opus-4-5-20251101").unwrap().input, 5.0);
        assert_eq!(t.lookup("claude-opus-4-1@20250805").unwrap().input, 15.0);
        assert_eq!(t.lookup("openai/gpt-4o-mini").unwrap().input, 0.15);
        assert_eq!(t.lookup("gpt-4o-2024-08-06").unwrap().input, 2.5);
        assert_eq!(t.lookup("gpt-4.1-mini").unwrap().input, 0.4);
        assert_eq!(t.lookup("o3-mini").unwrap().input, 1.1);
        assert_eq!(t.lookup("deepseek/deepseek-chat").unwrap().input, 0.28);
        assert_eq!(
            t.lookup("meta-llama/llama-3.1-70b-instruct").unwrap().input,
            0.88
        );
        assert_eq!(t.lookup("qwen3-235b-a22b").unwrap().input, 0.2);
        assert!(t.lookup("qwen3-coder-plus").is_none(), "a tier of its own");
        assert_eq!(t.lookup("mistral-large-2411").unwrap().input, 2.0);
        assert_eq!(
            t.lookup("gemini-2.5-flash-preview-05-20").unwrap().input,
            0.3
        );
    }

    #[test]
    fn other_models_of_a_family_are_not_priced_as_the_family() {
        let t = PriceTable::builtin();
        // Listed on their own.
        assert_eq!(t.lookup("o1-mini").unwrap().input, 1.1);
        assert_eq!(t.lookup("o3-pro").unwrap().input, 20.0);
        assert_eq!(t.lookup("gpt-4.5-preview").unwrap().input, 75.0);
        assert_eq!(t.lookup("gpt-4-32k-0613").unwrap().input, 60.0);
        assert_eq!(t.lookup("gemini-2.5-flash-lite").unwrap().input, 0.10);
        // Not listed: unpriced, not their family's price.
        for other in [
            "claude-opus-4-6",
            "gpt-4o-pro",
            "o4-mini-pro",
            "gemini-2.5-pro-max",
            "gpt-4.1-nano-lite",
            "gpt-4-8k",
        ] {
            assert!(t.lookup(other).is_none(), "{other} priced as its family");
        }
        // Dates, previews and suffixes of the same model still find it.
        assert_eq!(t.lookup("o3-mini-high").unwrap().input, 1.1);
        assert_eq!(t.lookup("deepseek-v3-0324").unwrap().input, 0.27);
    }

    #[test]
    fn variants_priced_apart_from_their_family_get_their_own_price_or_none() {
        let t = PriceTable::builtin();
        let price = |m: &str| {
            let p = t.lookup(m).unwrap_or_else(|| panic!("{m} unpriced"));
            (p.input, p.output, p.cache_read, p.context_window)
        };
        // GPT-4 Turbo under its preview names, not the 8k gpt-4.
        for turbo in [
            "gpt-4-turbo-preview",
            "gpt-4-1106-preview",
            "gpt-4-0125-preview",
            "gpt-4-vision-preview",
            "openai/gpt-4-1106-preview",
        ] {
            assert_eq!(price(turbo), (10.0, 30.0, 10.0, Some(128_000)), "{turbo}");
        }
        assert_eq!(t.context_window("gpt-4-0125-preview"), Some(128_000));
        // The first gpt-4o snapshot, exact and under a provider prefix.
        assert_eq!(price("gpt-4o-2024-05-13"), (5.0, 15.0, 5.0, Some(128_000)));
        assert_eq!(price("openai/gpt-4o-2024-05-13").0, 5.0);
        assert_eq!(price("gpt-4o-2024-08-06").0, 2.5);
        assert_eq!(price("o3-deep-research"), (10.0, 40.0, 2.5, Some(200_000)));
        assert_eq!(price("o3-deep-research-2025-06-26").0, 10.0);
        assert_eq!(
            price("o4-mini-deep-research"),
            (2.0, 8.0, 0.5, Some(200_000))
        );
        assert_eq!(
            price("gpt-4o-realtime-preview"),
            (5.0, 20.0, 2.5, Some(128_000))
        );
        assert_eq!(price("gpt-4o-realtime-preview-2024-12-17").1, 20.0);
        assert_eq!(
            price("gpt-3.5-turbo-instruct"),
            (1.5, 2.0, 1.5, Some(4_096))
        );
        assert_eq!(price("gpt-3.5-turbo-instruct-0914").0, 1.5);
        // Unlisted variants of these kinds are unpriced, never the family's price.
        for other in [
            "o3-deep-research-pro",
            "gpt-4.1-deep-research",
            "gpt-4o-mini-realtime-preview",
            "gpt-4o-audio-preview",
            "gpt-4o-mini-search-preview",
            "gpt-4o-transcribe",
            "gpt-4o-mini-tts",
            "gpt-5-search-api",
        ] {
            assert!(t.lookup(other).is_none(), "{other} priced as its family");
        }
    }

    #[test]
    fn deepseek_api_names_cost_the_v3_2_price_and_open_weights_keep_theirs() {
        let t = PriceTable::builtin();
        for api in [
            "deepseek-chat",
            "deepseek-reasoner",
            "deepseek/deepseek-reasoner",
        ] {
            let p = t.lookup(api).unwrap();
            assert_eq!(
                (
                    p.input,
                    p.cache_read,
                    p.cache_write,
                    p.output,
                    p.context_window
                ),
                (0.28, 0.028, 0.28, 0.42, Some(128_000)),
                "{api}"
            );
        }
        assert_eq!(t.lookup("deepseek-v3").unwrap().output, 1.10);
        assert_eq!(t.lookup("deepseek-r1").unwrap().output, 2.19);
    }

    #[test]
    fn unknown_models_are_unpriced_not_defaulted() {
        let t = PriceTable::builtin();
        assert!(t.lookup("z-ai/glm-4.7").is_none());
        assert!(t.lookup("gpt").is_none());
        assert!(t.lookup("").is_none());
        assert!(t.lookup("modèle-économique-2025").is_none());
        assert!(t.lookup("ünïcödé-1234567890").is_none());
        let c = t.cost(Some("my-model"), &TokenUsage::otel(1000, 10), None);
        assert_eq!(c.source, CostSource::Unpriced);
        assert_eq!(c.usd, 0.0);
    }

    #[test]
    fn cost_uses_otel_semantics_and_reported_cost_wins() {
        let t = PriceTable::builtin();
        // 10_000 input of which 6_000 cache read and 1_000 cache write; 500 output.
        let u = TokenUsage::otel(10_000, 500).with_cache(6_000, 1_000);
        let c = t.cost(Some("claude-sonnet-4-5"), &u, None);
        let expected = (3_000.0 * 3.0 + 6_000.0 * 0.3 + 1_000.0 * 3.75 + 500.0 * 15.0) / 1e6;
        assert!((c.usd - expected).abs() < 1e-12);
        assert_eq!(c.source, CostSource::Priced);
        let r = t.cost(Some("claude-sonnet-4-5"), &u, Some(0.5));
        assert_eq!((r.usd, r.source), (0.5, CostSource::Reported));
    }

    #[test]
    fn toml_overrides_and_aliases() {
        let o = PriceTable::from_toml_str(
            "[models.\"my-model\"]\ninput = 1.0\noutput = 2.0\ncache_read = 0.1\n\
             [models.\"gpt-4o\"]\ninput = 9.0\noutput = 9.0\n[aliases]\n\"prod\" = \"my-model\"\n",
        )
        .unwrap();
        let t = PriceTable::builtin().with_overrides(o);
        let m = t.lookup("my-model").unwrap();
        assert_eq!((m.input, m.cache_read, m.cache_write), (1.0, 0.1, 1.0));
        assert_eq!(t.lookup("PROD").unwrap().output, 2.0);
        assert_eq!(t.lookup("gpt-4o").unwrap().input, 9.0);
        assert_eq!(t.lookup("gpt-4o-mini").unwrap().input, 0.15);
    }

    #[test]
    fn bad_toml_names_the_position_and_bad_values_the_model() {
        let e = PriceTable::from_toml_named("[models.x]\ninput = \"a\"\n", "prices.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("prices.toml") && e.contains("line 2"), "{e}");
        let e = PriceTable::from_toml_str("[models.x]\ninput = -1.0\noutput = 1.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"x\"") && e.contains("input"), "{e}");
    }
}
