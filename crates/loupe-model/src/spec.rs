//! Time specifications users type: instants (`--since 2h`, RFC 3339, a
//! date) and durations (`--max-age 30d`, `--min-duration 1.5s`), shared by
//! the CLI and the server's query parameters.

use crate::Timestamp;

/// RFC 3339 / date via [`Timestamp::parse`], or `N` + `s|m|h|d|w` before now.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    parse_time_at(s, Timestamp::now())
}

/// [`parse_time`] with an explicit "now", for tests and replays.
pub fn parse_time_at(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Some(unit) = s.chars().last().filter(|c| c.is_ascii_alphabetic()) {
        let number = &s[..s.len() - 1];
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            let n: f64 = number.parse().map_err(|_| format!("bad number in {s:?}"))?;
            let secs = match unit {
                's' => 1.0,
                'm' => 60.0,
                'h' => 3_600.0,
                'd' => 86_400.0,
                'w' => 604_800.0,
                _ => return Err(format!("unknown unit in {s:?}: use s, m, h, d or w")),
            };
            return Ok(now.minus_millis(n * secs * 1_000.0));
        }
    }
    Timestamp::parse(s)
        .map_err(|e| format!("{e} in {s:?} (expected RFC 3339, YYYY-MM-DD, or 30m/2h/7d)"))
}

/// A duration in milliseconds: a bare number is milliseconds; `ms`, `s`,
/// `m`, `h` and `d` suffixes scale it.
pub fn parse_duration_ms(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("bad duration {s:?}: use e.g. 1500, 2s, 5m, 12h, 30d"))?;
    let scale = match unit {
        "" | "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        "w" => 604_800_000.0,
        _ => {
            return Err(format!(
                "bad duration unit in {s:?}: use ms, s, m, h, d or w"
            ))
        }
    };
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_absolute_or_relative_to_now() {
        let now = Timestamp::parse("2026-03-01T12:00:00Z").unwrap();
        assert_eq!(
            parse_time_at("2h", now).unwrap(),
            Timestamp::parse("2026-03-01T10:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time_at("30m", now).unwrap(),
            Timestamp::parse("2026-03-01T11:30:00Z").unwrap()
        );
        assert_eq!(
            parse_time_at("7d", now).unwrap(),
            Timestamp::parse("2026-02-22T12:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time_at("2026-02-28", now).unwrap(),
            Timestamp::parse("2026-02-28T00:00:00Z").unwrap()
        );
        assert!(parse_time_at("2x", now).is_err());
        assert!(parse_time_at("yesterday", now).is_err());
    }

    #[test]
    fn durations_accept_units_and_plain_milliseconds() {
        assert_eq!(parse_duration_ms("1500").unwrap(), 1500.0);
        assert_eq!(parse_duration_ms("2s").unwrap(), 2_000.0);
        assert_eq!(parse_duration_ms("5m").unwrap(), 300_000.0);
        assert_eq!(parse_duration_ms("30d").unwrap(), 2_592_000_000.0);
        assert!(parse_duration_ms("5 parsecs").is_err());
        assert!(parse_duration_ms("").is_err());
    }
}
