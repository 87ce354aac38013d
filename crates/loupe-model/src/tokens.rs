//! Token counts and costs, in OpenTelemetry GenAI semantics.
//!
//! `input_tokens` counts *every* prompt token, including cache reads and cache
//! writes; `cache_read_tokens` and `cache_write_tokens` are parts of it.
//! `output_tokens` includes `reasoning_tokens`. Readers convert from each
//! system's own convention (attocode-py is additive, Anthropic style) with the
//! constructors here, so the rest of Loupe never has to ask.

use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// Token usage of one LLM call as reported. A missing count is `None`, never 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    /// All prompt tokens, cache reads and writes included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// All completion tokens, reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt tokens served from the provider's cache (part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    /// Prompt tokens written to the provider's cache (part of `input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Reasoning / thinking tokens (part of `output_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// A total reported without its input/output split (attocode's CLI
    /// `TraceWriter` writes only `tokens`). Counted only when neither
    /// `input_tokens` nor `output_tokens` is known; see [`Self::total_only`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
}

impl TokenUsage {
    /// From OpenTelemetry-style counts (input already includes the cache parts).
    pub fn otel(input: u64, output: u64) -> Self {
        TokenUsage {
            input_tokens: Some(input),
            output_tokens: Some(output),
            ..Default::default()
        }
    }

    /// From additive, Anthropic-style counts where `uncached_input` excludes
    /// cache reads and writes (attocode-py, the Anthropic API).
    pub fn from_additive(
        uncached_input: Option<u64>,
        output: Option<u64>,
        cache_read: Option<u64>,
        cache_write: Option<u64>,
    ) -> Self {
        let input = match (uncached_input, cache_read, cache_write) {
            (None, None, None) => None,
            (a, b, c) => Some(
                a.unwrap_or(0)
                    .saturating_add(b.unwrap_or(0))
                    .saturating_add(c.unwrap_or(0)),
            ),
        };
        TokenUsage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            reasoning_tokens: None,
            total_tokens: None,
        }
    }

    /// With cache parts set (builder style).
    pub fn with_cache(mut self, read: u64, write: u64) -> Self {
        self.cache_read_tokens = Some(read);
        self.cache_write_tokens = Some(write);
        self
    }

    /// With `total` kept as [`Self::total_tokens`] when it is all there is:
    /// neither input nor output is known (builder style). A total beside a
    /// split says nothing more and is not kept.
    pub fn with_unsplit_total(mut self, total: Option<u64>) -> Self {
        if self.input_tokens.is_none() && self.output_tokens.is_none() {
            self.total_tokens = total;
        }
        self
    }

    /// With reasoning tokens set (builder style).
    pub fn with_reasoning(mut self, reasoning: u64) -> Self {
        self.reasoning_tokens = Some(reasoning);
        self
    }

    /// True when no count is present at all.
    pub fn is_empty(&self) -> bool {
        *self == TokenUsage::default()
    }

    /// Whether cache reads or writes are reported (a count, even 0), so a
    /// hit rate of 0 means no caching rather than "not recorded".
    pub fn reports_cache(&self) -> bool {
        self.cache_read_tokens.is_some() || self.cache_write_tokens.is_some()
    }

    /// Prompt tokens, 0 when unknown.
    pub fn input(&self) -> u64 {
        self.input_tokens.unwrap_or(0)
    }

    /// Completion tokens, 0 when unknown.
    pub fn output(&self) -> u64 {
        self.output_tokens.unwrap_or(0)
    }

    /// Cache-read tokens, 0 when unknown.
    pub fn cache_read(&self) -> u64 {
        self.cache_read_tokens.unwrap_or(0)
    }

    /// Cache-write tokens, 0 when unknown.
    pub fn cache_write(&self) -> u64 {
        self.cache_write_tokens.unwrap_or(0)
    }

    /// Reasoning tokens, 0 when unknown.
    pub fn reasoning(&self) -> u64 {
        self.reasoning_tokens.unwrap_or(0)
    }

    /// Prompt tokens neither read from nor written to the cache.
    pub fn fresh_input(&self) -> u64 {
        self.input()
            .saturating_sub(self.cache_read())
            .saturating_sub(self.cache_write())
    }

    /// Output tokens that are not reasoning.
    pub fn visible_output(&self) -> u64 {
        self.output().saturating_sub(self.reasoning())
    }

    /// The reported total when the split is not known: `total_tokens` if
    /// neither input nor output is reported, else 0 (the split counts).
    pub fn total_only(&self) -> u64 {
        match (self.input_tokens, self.output_tokens) {
            (None, None) => self.total_tokens.unwrap_or(0),
            _ => 0,
        }
    }

    /// `input + output`, or the reported total when neither is known.
    pub fn total(&self) -> u64 {
        self.input()
            .saturating_add(self.output())
            .saturating_add(self.total_only())
    }

    /// `cache_read / input`, `None` when there is no input. Never above 1:
    /// cache reads are part of the input, so a trace reporting more of them
    /// than input tokens is inconsistent, and its input was all cached.
    pub fn cache_hit_rate(&self) -> Option<f64> {
        let input = self.input();
        (input > 0).then(|| (self.cache_read() as f64 / input as f64).min(1.0))
    }
}

/// Summed token counts (absent counts add as 0); same meanings as [`TokenUsage`].
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenTotals {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// Tokens of calls that reported only a total, no input/output split
    /// ([`TokenUsage::total_only`]); part of [`Self::total`], of neither side.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub total_only_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TokenTotals {
    /// `input + output`, plus the tokens reported only as a total.
    pub fn total(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.total_only_tokens)
    }

    /// Whether all there is is a total without its input/output split, so
    /// per-side figures (and a hit rate) would show unknowns as zeros.
    pub fn split_unknown(&self) -> bool {
        self.input_tokens == 0 && self.output_tokens == 0 && self.total_only_tokens > 0
    }

    /// Prompt tokens neither read from nor written to the cache.
    pub fn fresh_input(&self) -> u64 {
        self.input_tokens
            .saturating_sub(self.cache_read_tokens)
            .saturating_sub(self.cache_write_tokens)
    }

    /// `cache_read / input`, 0 when there is no input, never above 1 (see
    /// [`TokenUsage::cache_hit_rate`]).
    pub fn cache_hit_rate(&self) -> f64 {
        if self.input_tokens == 0 {
            0.0
        } else {
            (self.cache_read_tokens as f64 / self.input_tokens as f64).min(1.0)
        }
    }
}

impl AddAssign<&TokenUsage> for TokenTotals {
    fn add_assign(&mut self, u: &TokenUsage) {
        // Saturating: corrupt counts must not overflow (and panic in debug builds).
        self.input_tokens = self.input_tokens.saturating_add(u.input());
        self.output_tokens = self.output_tokens.saturating_add(u.output());
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(u.cache_read());
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(u.cache_write());
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(u.reasoning());
        self.total_only_tokens = self.total_only_tokens.saturating_add(u.total_only());
    }
}

impl AddAssign<&TokenTotals> for TokenTotals {
    fn add_assign(&mut self, u: &TokenTotals) {
        self.input_tokens = self.input_tokens.saturating_add(u.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(u.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(u.cache_read_tokens);
        self.cache_write_tokens = self.cache_write_tokens.saturating_add(u.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.saturating_add(u.reasoning_tokens);
        self.total_only_tokens = self.total_only_tokens.saturating_add(u.total_only_tokens);
    }
}

/// Where a cost figure came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// Reported in the trace (by the provider or the agent). Always wins.
    Reported,
    /// Computed from a price table.
    Priced,
    /// No reported cost and the model is not in the price table.
    Unpriced,
}

/// A cost in US dollars with its provenance.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// US dollars.
    pub usd: f64,
    /// Provenance.
    pub source: CostSource,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_total_counts_only_where_the_split_is_unknown() {
        let alone = TokenUsage::default().with_unsplit_total(Some(700));
        assert_eq!((alone.total_only(), alone.total()), (700, 700));
        // Beside a split, a total says nothing more: not kept, not added.
        let split = TokenUsage::otel(500, 50).with_unsplit_total(Some(550));
        assert_eq!((split.total_tokens, split.total()), (None, 550));
        let stale = TokenUsage {
            total_tokens: Some(10_000),
            ..TokenUsage::otel(500, 50)
        };
        assert_eq!((stale.total_only(), stale.total()), (0, 550));
        let mut sum = TokenTotals::default();
        sum += &alone;
        sum += &split;
        assert_eq!(
            (sum.input_tokens, sum.total_only_tokens, sum.total()),
            (500, 700, 1250)
        );
        assert!(!sum.split_unknown());
        let mut only = TokenTotals::default();
        only += &alone;
        assert!(only.split_unknown());
    }

    #[test]
    fn additive_counts_become_otel_totals() {
        // attocode-py healthy.jsonl, iteration 1: input 5200 uncached + 5200 cache write.
        let u = TokenUsage::from_additive(Some(5200), Some(310), Some(0), Some(5200));
        assert_eq!(u.input(), 10400);
        assert_eq!(u.fresh_input(), 5200);
        assert_eq!(u.cache_hit_rate(), Some(0.0));
        let u = TokenUsage::from_additive(Some(100), Some(10), Some(900), None);
        assert_eq!(u.cache_hit_rate(), Some(0.9));
        // Inconsistent: more cache reads than input.
        let odd = TokenUsage::otel(100, 50).with_cache(1000, 0);
        assert_eq!(odd.cache_hit_rate(), Some(1.0));
        let mut t = TokenTotals::default();
        t += &odd;
        assert_eq!(t.cache_hit_rate(), 1.0);
    }

    #[test]
    fn missing_counts_stay_missing() {
        let u = TokenUsage::from_additive(None, None, None, None);
        assert!(u.is_empty());
        assert_eq!(serde_json::to_string(&u).unwrap(), "{}");
        assert_eq!(u.cache_hit_rate(), None);
    }

    #[test]
    fn totals_add_up() {
        let mut t = TokenTotals::default();
        t += &TokenUsage::otel(1000, 50)
            .with_cache(800, 100)
            .with_reasoning(20);
        t += &TokenUsage::otel(500, 10);
        assert_eq!(t.input_tokens, 1500);
        assert_eq!(t.fresh_input(), 600);
        assert!((t.cache_hit_rate() - 800.0 / 1500.0).abs() < 1e-12);
        assert_eq!(t.reasoning_tokens, 20);
    }
}
