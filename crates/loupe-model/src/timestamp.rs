//! UTC timestamps with microsecond precision.
//!
//! Stored as an `i64` count of microseconds since the Unix epoch, serialised as
//! RFC 3339 (`2026-02-28T12:00:02.450000Z`). Parsing and formatting are written
//! out here rather than pulled from a date crate because this type sits on the
//! hot path of every reader and writer, and the model crate keeps no I/O or heavy
//! dependencies (see ARCHITECTURE.md).

use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, UTC, microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

/// Why a timestamp string could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimestampError(pub &'static str);

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid timestamp: {}", self.0)
    }
}

impl std::error::Error for TimestampError {}

const MICROS_PER_SEC: i64 = 1_000_000;
const SECS_PER_DAY: i64 = 86_400;

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_micros() as i64)
    }

    /// From fractional Unix epoch seconds (attocode-py, Victor, attoswarm).
    /// Rounded to the nearest microsecond.
    pub fn from_epoch_secs_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() || secs.abs() > 1.0e13 {
            return None;
        }
        Some(Timestamp((secs * 1e6).round() as i64))
    }

    /// From integer Unix epoch milliseconds (attocode-ts nested objects).
    pub fn from_epoch_millis(ms: i64) -> Self {
        Timestamp(ms.saturating_mul(1000))
    }

    /// From integer Unix epoch nanoseconds (OTLP).
    pub fn from_epoch_nanos(ns: u64) -> Self {
        Timestamp((ns / 1000) as i64)
    }

    /// Microseconds since the epoch.
    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch, fractional.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// Nanoseconds since the epoch (for OTLP), saturating at zero.
    pub fn as_epoch_nanos(self) -> u64 {
        (self.0.max(0) as u64).saturating_mul(1000)
    }

    /// `self - ms`, for deriving a span start from its end and duration.
    pub fn minus_millis(self, ms: f64) -> Self {
        // Saturating: a corrupt duration must not overflow (and panic in debug builds).
        Timestamp(self.0.saturating_sub((ms * 1000.0).round() as i64))
    }

    /// `self + ms`.
    pub fn plus_millis(self, ms: f64) -> Self {
        Timestamp(self.0.saturating_add((ms * 1000.0).round() as i64))
    }

    /// Milliseconds from `earlier` to `self` (negative if `earlier` is later).
    pub fn millis_since(self, earlier: Timestamp) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1000.0
    }

    /// Days since the epoch and the day's date, for grouping by day.
    pub fn date(self) -> (i32, u32, u32) {
        let days = self.0.div_euclid(MICROS_PER_SEC * SECS_PER_DAY);
        civil_from_days(days)
    }

    /// `YYYY-MM-DD` of the UTC day.
    pub fn date_string(self) -> String {
        let (y, m, d) = self.date();
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// RFC 3339 with microseconds and `Z`, the canonical form.
    pub fn to_rfc3339(self) -> String {
        let mut s = String::with_capacity(27);
        self.write_rfc3339(&mut s);
        s
    }

    /// Appends the canonical RFC 3339 form to `out` without allocating otherwise.
    pub fn write_rfc3339(self, out: &mut String) {
        let secs = self.0.div_euclid(MICROS_PER_SEC);
        let micros = self.0.rem_euclid(MICROS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let (y, mo, d) = civil_from_days(days);
        let (h, mi, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
        let mut buf = [0u8; 27];
        let year = y.clamp(0, 9999) as u32;
        put(&mut buf[0..4], year, 4);
        buf[4] = b'-';
        put(&mut buf[5..7], mo, 2);
        buf[7] = b'-';
        put(&mut buf[8..10], d, 2);
        buf[10] = b'T';
        put(&mut buf[11..13], h, 2);
        buf[13] = b':';
        put(&mut buf[14..16], mi, 2);
        buf[16] = b':';
        put(&mut buf[17..19], s, 2);
        buf[19] = b'.';
        put(&mut buf[20..26], micros, 6);
        buf[26] = b'Z';
        // All bytes written above are ASCII.
        out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
    }

    /// Parses RFC 3339 / ISO 8601 date-times as the seed systems write them:
    /// `T` or space separator, 0–9 fractional digits, `Z`, `+HH:MM`, `+HHMM` or
    /// no zone at all (taken as UTC). A bare date `YYYY-MM-DD` is midnight UTC.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let b = s.trim().as_bytes();
        if b.len() < 10 {
            return Err(TimestampError("too short"));
        }
        let year = digits(&b[0..4]).ok_or(TimestampError("bad year"))? as i32;
        if b[4] != b'-' || b[7] != b'-' {
            return Err(TimestampError("expected YYYY-MM-DD"));
        }
        let month = digits(&b[5..7]).ok_or(TimestampError("bad month"))?;
        let day = digits(&b[8..10]).ok_or(TimestampError("bad day"))?;
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(TimestampError("date out of range"));
        }
        let days = days_from_civil(year, month, day);
        if b.len() == 10 {
            return Ok(Timestamp(days * SECS_PER_DAY * MICROS_PER_SEC));
        }
        if !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') || b.len() < 16 {
            return Err(TimestampError("expected time after date"));
        }
        let hour = digits(&b[11..13]).ok_or(TimestampError("bad hour"))?;
        if b[13] != b':' {
            return Err(TimestampError("expected HH:MM"));
        }
        let minute = digits(&b[14..16]).ok_or(TimestampError("bad minute"))?;
        let mut i = 16;
        let mut second = 0;
        if i < b.len() && b[i] == b':' {
            if b.len() < i + 3 {
                return Err(TimestampError("bad seconds"));
            }
            second = digits(&b[i + 1..i + 3]).ok_or(TimestampError("bad seconds"))?;
            i += 3;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return Err(TimestampError("time out of range"));
        }
        let mut micros: i64 = 0;
        if i < b.len() && (b[i] == b'.' || b[i] == b',') {
            i += 1;
            let start = i;
            let mut scale = 100_000i64;
            while i < b.len() && b[i].is_ascii_digit() {
                if scale > 0 {
                    micros += (b[i] - b'0') as i64 * scale;
                    scale /= 10;
                }
                i += 1;
            }
            if i == start {
                return Err(TimestampError("empty fraction"));
            }
        }
        let mut offset_secs: i64 = 0;
        if i < b.len() {
            match b[i] {
                b'Z' | b'z' => i += 1,
                b'+' | b'-' => {
                    let sign = if b[i] == b'-' { -1 } else { 1 };
                    let rest = &b[i + 1..];
                    let (oh, om, used) = if rest.len() >= 5 && rest[2] == b':' {
                        (digits(&rest[0..2]), digits(&rest[3..5]), 5)
                    } else if rest.len() >= 4 {
                        (digits(&rest[0..2]), digits(&rest[2..4]), 4)
                    } else if rest.len() >= 2 {
                        (digits(&rest[0..2]), Some(0), 2)
                    } else {
                        (None, None, 0)
                    };
                    let (oh, om) = match (oh, om) {
                        (Some(h), Some(m)) if h < 24 && m < 60 => (h, m),
                        _ => return Err(TimestampError("bad zone offset")),
                    };
                    offset_secs = sign * (oh as i64 * 3600 + om as i64 * 60);
                    i += 1 + used;
                }
                _ => return Err(TimestampError("unexpected characters after time")),
            }
        }
        if i != b.len() {
            return Err(TimestampError("trailing characters"));
        }
        let secs = days * SECS_PER_DAY + hour as i64 * 3600 + minute as i64 * 60 + second as i64
            - offset_secs;
        Ok(Timestamp(secs * MICROS_PER_SEC + micros))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 string or epoch seconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_epoch_secs_f64(v)
                    .ok_or_else(|| E::custom("epoch seconds out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

fn put(buf: &mut [u8], mut v: u32, width: usize) {
    for i in (0..width).rev() {
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms.
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_canonical_form() {
        let t = Timestamp::from_epoch_secs_f64(1772280002.45).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-02-28T12:00:02.450000Z");
        assert_eq!(Timestamp::parse("2026-02-28T12:00:02.450000Z").unwrap(), t);
    }

    #[test]
    fn parses_the_seed_variants() {
        let base = Timestamp::parse("2026-02-28T12:00:21.371Z").unwrap();
        assert_eq!(
            Timestamp::parse("2026-02-28 12:00:21.371000+00:00").unwrap(),
            base
        );
        assert_eq!(
            Timestamp::parse("2026-02-28T13:00:21.371+01:00").unwrap(),
            base
        );
        assert_eq!(
            Timestamp::parse("2026-02-28T07:00:21.371-0500").unwrap(),
            base
        );
        assert_eq!(Timestamp::parse("2026-02-28T12:00:21.371").unwrap(), base);
        assert_eq!(
            Timestamp::parse("2026-02-06T22:10:00Z")
                .unwrap()
                .to_rfc3339(),
            "2026-02-06T22:10:00.000000Z"
        );
        assert_eq!(
            Timestamp::parse("2026-01-01").unwrap().to_rfc3339(),
            "2026-01-01T00:00:00.000000Z"
        );
        assert!(Timestamp::parse("2026-02-30T00:00:00Z").is_err());
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("2026-02-28T12:00:00Zjunk").is_err());
    }

    #[test]
    fn deserializes_numbers_as_epoch_seconds() {
        let t: Timestamp = serde_json::from_str("1772280000.0").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-02-28T12:00:00.000000Z");
        let t: Timestamp = serde_json::from_str("\"2026-02-28T12:00:00Z\"").unwrap();
        assert_eq!(t.as_micros(), 1_772_280_000_000_000);
    }

    #[test]
    fn pre_epoch_dates_round_trip() {
        let t = Timestamp::parse("1969-12-31T23:59:59.999999Z").unwrap();
        assert_eq!(t.as_micros(), -1);
        assert_eq!(t.to_rfc3339(), "1969-12-31T23:59:59.999999Z");
    }

    proptest::proptest! {
        #[test]
        fn any_micros_round_trip(us in -62_000_000_000_000_000i64..250_000_000_000_000_000i64) {
            let t = Timestamp(us);
            proptest::prop_assert_eq!(Timestamp::parse(&t.to_rfc3339()).unwrap(), t);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Timestamp::parse(&s);
        }
    }
}
