//! Small text helpers shared by the renderers: number formatting, truncation,
//! and scrubbing of control characters from trace content.

/// Tokens as `950`, `9.6K`, `1.2M`.
pub fn human_tokens(n: u64) -> String {
    if n < 1_000 {
        n.to_string()
    } else if n < 1_000_000 {
        format!("{:.1}K", n as f64 / 1_000.0)
    } else {
        format!("{:.1}M", n as f64 / 1_000_000.0)
    }
}

/// Durations as `45ms`, `2.4s`, `3m05s`, `1h02m`.
pub fn human_duration_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "-".to_owned();
    }
    if ms < 1_000.0 {
        format!("{}ms", ms.round() as u64)
    } else if ms < 60_000.0 {
        format!("{:.1}s", ms / 1_000.0)
    } else if ms < 3_600_000.0 {
        let s = (ms / 1_000.0).round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = (ms / 60_000.0).round() as u64;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

/// A tool's mean and p95 durations as the tools tables show them: `-` each
/// when they are unknown ([`loupe_analyze::ToolStats::known_durations`]).
pub(crate) fn tool_durations(t: &loupe_analyze::ToolStats) -> (String, String) {
    match t.known_durations() {
        Some((avg, p95)) => (human_duration_ms(avg), human_duration_ms(p95)),
        None => ("-".to_owned(), "-".to_owned()),
    }
}

/// Why some durations show as unknown, once per session that has any
/// (docs/analysis.md, Durations).
pub fn invalid_durations_note(n: u64) -> Option<String> {
    (n > 0).then(|| {
        format!(
            "{n} recorded duration{} negative (an end before its start: clock skew?), shown as unknown and left out of means and sums",
            if n == 1 { " is" } else { "s are" }
        )
    })
}

/// An efficiency score out of 100, as every output shows it: one decimal
/// when it has one (`69.5/100`, `100/100`), so the text, Markdown and HTML
/// agree with the JSON and CSV figure.
pub fn score(v: f64) -> String {
    let tenths = (v * 10.0).round() / 10.0;
    if tenths.fract() == 0.0 {
        format!("{tenths:.0}/100")
    } else {
        format!("{tenths:.1}/100")
    }
}

/// Output rounding, the one place it is decided (docs/analysis.md, Metrics):
/// a cost in USD to 1e-9 USD, so float noise (`0.003400000000000001`) does
/// not show. The analysis keeps the exact sums; only what is written is
/// rounded.
pub(crate) fn round_usd(v: f64) -> f64 {
    round_to(v, 1e9)
}

/// A duration or offset in milliseconds to 3 decimals (a microsecond), so
/// durations computed from float seconds (`8700.000047683716`) do not show
/// their noise.
pub(crate) fn round_ms(v: f64) -> f64 {
    round_to(v, 1e3)
}

fn round_to(v: f64, scale: f64) -> f64 {
    let scaled = v * scale;
    // Beyond 2^52 a float has no fraction left to round away.
    if !scaled.is_finite() || scaled.abs() >= 4.5e15 {
        return v;
    }
    scaled.round() / scale
}

/// A duration in milliseconds as a CSV cell: rounded by [`round_ms`],
/// written as Rust writes floats (`1500`, `8700.5`).
pub(crate) fn ms_cell(v: f64) -> String {
    round_ms(v).to_string()
}

/// Integer with thousands separators: `39,100`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// US dollars with 4 decimals below $1 (agent calls are cheap), 2 above.
pub(crate) fn usd(v: f64) -> String {
    if !v.is_finite() {
        "-".to_owned()
    } else if v.abs() < 1.0 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

/// A fraction as a percentage with one decimal.
pub(crate) fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.1}%", fraction * 100.0)
    } else {
        "-".to_owned()
    }
}

/// Trace text made safe for a terminal: control characters (including ESC, so
/// a trace cannot inject terminal escape sequences) and bidirectional
/// overrides (which would reorder what follows them on screen) become
/// `\u{..}` escapes, newlines and tabs become spaces, and the result is cut
/// to `max_chars` characters with an ellipsis.
pub fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    for (count, c) in s.chars().enumerate() {
        if count >= max_chars {
            out.push('…');
            return out;
        }
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() || is_bidi_control(c) => {
                out.push_str(&c.escape_unicode().to_string());
            }
            c => out.push(c),
        }
    }
    out
}

/// Unicode's explicit bidirectional formatting characters (embeddings,
/// overrides, isolates and marks; the "Trojan Source" characters): text
/// after one can be shown in another order than it is stored.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A name (tool, node, model, agent) made safe like [`one_line`] and, when
/// longer than `max_chars`, shortened in the middle: names that share a long
/// prefix (`mcp__github__create_pull_request_review_comment`, `…_thread`)
/// differ at the end, so the start and the end are kept with `…` between.
pub(crate) fn short_name(s: &str, max_chars: usize) -> String {
    // Never more characters than bytes: nothing is cut here.
    let safe = one_line(s, s.len());
    let chars: Vec<char> = safe.chars().collect();
    if chars.len() <= max_chars {
        return safe;
    }
    let keep = max_chars.saturating_sub(1);
    let tail = keep / 2;
    let head = keep - tail;
    let mut out: String = chars.iter().take(head).collect();
    out.push('…');
    out.extend(chars.iter().skip(chars.len() - tail));
    out
}

/// Cuts `s` to at most `max_chars` characters, marking the cut with `…`.
pub(crate) fn truncate_chars(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => {
            let mut t = s[..i].to_owned();
            t.push('…');
            t
        }
        None => s.to_owned(),
    }
}

/// A cost that leaves out calls to unpriced models says so: `$0.0000` alone
/// would read as free.
pub(crate) fn cost_text(usd_value: f64, unpriced_models: &[String]) -> String {
    if unpriced_models.is_empty() {
        usd(usd_value)
    } else {
        format!("{} + unpriced", usd(usd_value))
    }
}

/// Display width in terminal columns: CJK and most emoji take two, so
/// tables holding them stay aligned.
pub(crate) fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// The serialised name of a unit enum variant (`"node"`, `"fair"`...), as it
/// appears in JSON output, so every format spells it the same way.
pub(crate) fn serde_name<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The cache boundary tracker's findings, shared by the text, Markdown and
/// HTML token sections: the numbers, then what they mean.
pub(crate) fn cache_boundary_sentences(b: &loupe_analyze::CacheBoundaryStats) -> (String, String) {
    let rates = if b.total_requests == 1 {
        format!("{} hit rate on the only request", percent(b.hit_rate))
    } else if b.window_requests >= b.total_requests {
        // The window holds every request: one rate says it all.
        format!(
            "{} hit rate over all {} (the window holds the last {})",
            percent(b.hit_rate),
            count_of(b.total_requests, "request"),
            b.window_size
        )
    } else {
        format!(
            "{} hit rate over the last {} vs {} all-time ({})",
            percent(b.window_hit_rate),
            count_of(b.window_requests, "request"),
            percent(b.hit_rate),
            count_of(b.total_requests, "request")
        )
    };
    if b.estimated_boundary == 0 {
        return (
            format!("Cache boundary: {rates}; no cached prefix yet."),
            "No recent call read from the cache: each one sent its whole prompt uncached."
                .to_owned(),
        );
    }
    let numbers = format!(
        "Cache boundary: {rates}; the cached prefix ends near {} tokens.",
        thousands(b.estimated_boundary)
    );
    // Five points either way is noise in a hit rate.
    let lately = if b.window_requests >= b.total_requests {
        ""
    } else if b.window_hit_rate + 0.05 < b.hit_rate {
        " Recent calls reuse less of the prompt than earlier ones: something above the boundary keeps changing."
    } else if b.window_hit_rate > b.hit_rate + 0.05 {
        " Recent calls reuse more of the prompt than earlier ones."
    } else {
        ""
    };
    let meaning = format!(
        "Prompt content before the boundary is read from the cache on each call (recency-weighted mean cache read); changing anything above it sends the rest uncached.{lately}"
    );
    (numbers, meaning)
}

/// `n` and `noun`, with an `s` unless `n` is 1.
fn count_of(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{} {noun}s", thousands(n))
    }
}

/// Issues a human-readable report lists of one category at most: a trace with
/// thousands of issues of one kind (a fan-out repeating the same read) would
/// otherwise bury the others in megabytes of text. JSON lists them all.
pub(crate) const ISSUES_PER_CATEGORY: usize = 5;

/// The issues a text, Markdown or HTML report lists (at most
/// [`ISSUES_PER_CATEGORY`] of each category, in the analysis's order: most
/// severe first), and how many of each category it leaves out, in order of
/// first appearance.
pub(crate) fn listed_issues(
    issues: &[loupe_analyze::Issue],
) -> (Vec<&loupe_analyze::Issue>, Vec<(&str, usize)>) {
    let mut shown: Vec<&loupe_analyze::Issue> = Vec::new();
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for issue in issues {
        let category = issue.category.as_str();
        let at = match counts.iter().position(|(c, _)| *c == category) {
            Some(at) => at,
            None => {
                counts.push((category, 0));
                counts.len() - 1
            }
        };
        counts[at].1 += 1;
        if counts[at].1 <= ISSUES_PER_CATEGORY {
            shown.push(issue);
        }
    }
    let omitted = counts
        .into_iter()
        .filter(|(_, n)| *n > ISSUES_PER_CATEGORY)
        .map(|(c, n)| (c, n - ISSUES_PER_CATEGORY))
        .collect();
    (shown, omitted)
}

/// "… and 7,995 more redundant_tool_calls issues" for each category
/// [`listed_issues`] cut short.
pub(crate) fn omitted_issue_lines(omitted: &[(&str, usize)]) -> Vec<String> {
    omitted
        .iter()
        .map(|(category, n)| {
            format!(
                "… and {} more {category} issue{} (all are in --output json)",
                thousands(*n as u64),
                if *n == 1 { "" } else { "s" }
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cache_boundary_compares_the_window_with_all_time_only_when_they_differ() {
        let stats = |total: u64, window: u64, window_rate: f64, rate: f64| {
            loupe_analyze::CacheBoundaryStats {
                total_requests: total,
                window_size: 50,
                window_requests: window,
                window_hit_rate: window_rate,
                total_input_tokens: 0,
                total_cache_read: 0,
                total_cache_write: 0,
                hit_rate: rate,
                estimated_boundary: 7_600,
            }
        };
        let (numbers, meaning) = super::cache_boundary_sentences(&stats(6, 6, 0.658, 0.658));
        assert!(
            numbers.contains("65.8% hit rate over all 6 requests (the window holds the last 50)"),
            "{numbers}"
        );
        assert!(numbers.contains("ends near 7,600 tokens"), "{numbers}");
        assert!(!meaning.contains("Recent"), "{meaning}");
        let (numbers, meaning) = super::cache_boundary_sentences(&stats(120, 50, 0.2, 0.6));
        assert!(
            numbers.contains(
                "20.0% hit rate over the last 50 requests vs 60.0% all-time (120 requests)"
            ),
            "{numbers}"
        );
        assert!(meaning.contains("reuse less"), "{meaning}");
    }

    use super::*;

    #[test]
    fn wide_characters_take_two_columns() {
        assert_eq!(width("bash"), 4);
        assert_eq!(width("搜索代码"), 8);
        assert_eq!(width("é"), 1);
    }

    #[test]
    fn formats_numbers_for_people() {
        assert_eq!(human_tokens(950), "950");
        assert_eq!(human_tokens(9_550), "9.6K");
        assert_eq!(human_tokens(1_250_000), "1.2M");
        assert_eq!(human_duration_ms(45.4), "45ms");
        assert_eq!(human_duration_ms(30_981.0), "31.0s");
        assert_eq!(human_duration_ms(185_000.0), "3m05s");
        assert_eq!(human_duration_ms(f64::NAN), "-");
        assert_eq!(thousands(39_100), "39,100");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(usd(0.08279), "$0.0828");
        assert_eq!(usd(12.5), "$12.50");
    }

    #[test]
    fn one_line_removes_escape_sequences_and_newlines() {
        let s = one_line("a\x1b[31mred\nnext", 100);
        assert!(!s.contains('\x1b'));
        assert!(!s.contains('\n'));
        assert!(s.contains("\\u{1b}"));
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(short_name("abcdef", 6), "abcdef");
        assert_eq!(short_name("abcdefgh", 5), "ab…gh");
        let comment = short_name("mcp__github__create_pull_request_review_comment", 40);
        let thread = short_name("mcp__github__create_pull_request_review_thread", 40);
        assert_ne!(comment, thread);
        assert_eq!(comment.chars().count(), 40);
        assert!(comment.ends_with("review_comment"), "{comment}");
        assert_eq!(short_name("a\x1bb", 10), "a\\u{1b}b");
        // Bidi overrides are escaped: "txt.exe" must not show as "exe.txt".
        assert_eq!(one_line("a\u{202E}txt.exe", 20), "a\\u{202e}txt.exe");
        assert_eq!(one_line("\u{2066}x\u{2069}", 20), "\\u{2066}x\\u{2069}");
        assert_eq!(truncate_chars("héllo", 2), "hé…");
        assert_eq!(truncate_chars("hé", 2), "hé");
    }
}
