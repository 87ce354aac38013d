//! The token-flow view: per-iteration In / Out / Cache read / Cache write /
//! Hit% / Cost with `█▓░` bars, totals, cache-efficiency rating,
//! recommendation, trend and peak. (The attocode README promised this table;
//! its renderer drew only bars — see seed-formats.md, "Seed timeline format …
//! do not exist".)

use std::fmt::Write as _;

use loupe_analyze::{CacheRating, SessionAnalysis, Trend};
use loupe_model::TokenTotals;

use super::{Align, Painter, Table};
use crate::text::{
    cache_boundary_sentences, human_tokens, one_line, percent, short_name, thousands, usd,
};

/// Width of the longest bar, in characters.
const BAR_WIDTH: usize = 30;

/// Renders the token flow of one session.
pub fn render(a: &SessionAnalysis, color: bool) -> String {
    let p = Painter::new(color);
    let flow = &a.token_flow;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {}",
        p.bold("Token flow"),
        p.bold(&one_line(&a.session_id, 120))
    );
    let max = flow
        .rows
        .iter()
        .map(|r| r.tokens.total())
        .max()
        .unwrap_or(0);
    // Traces that report some calls' tokens only as a total get a Total
    // column and bar part of their own: their split is unknown, not zero.
    let unsplit = a.metrics.tokens.total_only_tokens > 0;
    let mut columns = vec![
        ("Iter", Align::Right),
        ("In", Align::Right),
        ("Out", Align::Right),
    ];
    if unsplit {
        columns.push(("Total", Align::Right));
    }
    columns.extend([
        ("Cache read", Align::Right),
        ("Cache write", Align::Right),
        ("Hit%", Align::Right),
        ("Cost", Align::Right),
        ("", Align::Left),
    ]);
    let mut table = Table::new(&columns);
    let cells = |label: String, t: &TokenTotals, hit: f64, cost: f64, bar: String| {
        let mut row = vec![label, thousands(t.input_tokens), thousands(t.output_tokens)];
        if unsplit {
            row.push(thousands(t.total()));
        }
        row.extend([
            thousands(t.cache_read_tokens),
            thousands(t.cache_write_tokens),
            percent(hit),
            usd(cost),
            bar,
        ]);
        row
    };
    for r in &flow.rows {
        let t = &r.tokens;
        let parts = BarParts {
            cached: t.cache_read_tokens,
            fresh: t.input_tokens.saturating_sub(t.cache_read_tokens),
            output: t.output_tokens,
            unsplit: t.total_only_tokens,
        };
        table.row(cells(
            r.iteration.to_string(),
            t,
            r.cache_hit_rate,
            r.cost_usd,
            bar(parts, max),
        ));
    }
    let tot = &a.metrics.tokens;
    table.row(cells(
        "Total".to_owned(),
        tot,
        a.metrics.cache_hit_rate,
        a.metrics.cost_usd,
        String::new(),
    ));
    out.push_str(&table.render(2, p));
    if !a.metrics.unpriced_models.is_empty() {
        let names: Vec<String> = a
            .metrics
            .unpriced_models
            .iter()
            .map(|s| short_name(s, 60))
            .collect();
        let _ = writeln!(
            out,
            "  Cost leaves out calls to unpriced models: {} (price them with --prices FILE.toml)",
            names.join(", ")
        );
    }
    if unsplit {
        let _ = writeln!(
            out,
            "  Legend: █ cache read  ▓ fresh input  ░ output  ▒ total without an input/output split"
        );
    } else {
        let _ = writeln!(out, "  Legend: █ cache read  ▓ fresh input  ░ output");
    }
    if let Some(b) = &flow.cache_boundary {
        let (numbers, meaning) = cache_boundary_sentences(b);
        let _ = writeln!(out, "\n  {numbers}\n  {}", p.dim(&meaning));
    }
    out.push('\n');
    let rating = match flow.cache_rating {
        CacheRating::Good => p.ok("GOOD"),
        CacheRating::Fair => p.fg(anstyle::AnsiColor::Yellow, "FAIR"),
        CacheRating::Poor => p.bad("POOR"),
        CacheRating::None => p.dim("NONE"),
        CacheRating::Unreported => p.dim("UNREPORTED"),
    };
    if flow.cache_rating == CacheRating::Unreported {
        let _ = writeln!(out, "  Cache efficiency: {rating} (no cache counts)");
    } else {
        let _ = writeln!(
            out,
            "  Cache efficiency: {rating} ({} hit rate)",
            percent(a.metrics.cache_hit_rate)
        );
    }
    if !flow.recommendation.is_empty() {
        let _ = writeln!(
            out,
            "  Recommendation: {}",
            one_line(&flow.recommendation, 200)
        );
    }
    let trend = match flow.trend {
        Trend::Increasing => "↑ increasing",
        Trend::Decreasing => "↓ decreasing",
        Trend::Stable => "→ stable",
    };
    let _ = writeln!(out, "  Trend: {trend}");
    if let Some((peak, tokens)) = flow.peak() {
        let _ = writeln!(
            out,
            "  Peak: iteration {peak} ({} tokens)",
            human_tokens(tokens)
        );
    }
    out
}

/// The parts of one row's bar, in tokens.
#[derive(Clone, Copy)]
pub(crate) struct BarParts {
    /// Input read from the cache (`█`).
    pub(crate) cached: u64,
    /// Input neither read from the cache (`▓`).
    pub(crate) fresh: u64,
    /// Output (`░`).
    pub(crate) output: u64,
    /// Tokens reported only as a total (`▒`).
    pub(crate) unsplit: u64,
}

/// A bar of at most [`BAR_WIDTH`] characters scaled to `max`. A non-zero
/// part gets at least one cell so small but present parts stay visible.
pub(crate) fn bar(parts: BarParts, max: u64) -> String {
    if max == 0 {
        return String::new();
    }
    let cells = |n: u64| -> usize {
        if n == 0 {
            0
        } else {
            (((n as f64 / max as f64) * BAR_WIDTH as f64).round() as usize).max(1)
        }
    };
    let mut s = String::new();
    s.push_str(&"█".repeat(cells(parts.cached)));
    s.push_str(&"▓".repeat(cells(parts.fresh)));
    s.push_str(&"░".repeat(cells(parts.output)));
    s.push_str(&"▒".repeat(cells(parts.unsplit)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_iteration() {
        let parts = |cached, fresh, output, unsplit| BarParts {
            cached,
            fresh,
            output,
            unsplit,
        };
        assert_eq!(bar(parts(0, 0, 0, 0), 0), "");
        let full = bar(parts(20, 5, 5, 0), 30);
        assert_eq!(full.chars().filter(|c| *c == '█').count(), 20);
        assert_eq!(full.chars().filter(|c| *c == '▓').count(), 5);
        assert_eq!(full.chars().filter(|c| *c == '░').count(), 5);
        let tiny = bar(parts(0, 1, 1, 0), 1_000_000);
        assert_eq!(tiny, "▓░");
        assert_eq!(bar(parts(0, 0, 0, 15), 30), "▒".repeat(15));
    }
}
