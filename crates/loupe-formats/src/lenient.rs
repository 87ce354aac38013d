//! JSON that common writers produce but strict JSON refuses, repaired so
//! that one odd value does not cost a whole line or document.
//!
//! - **Lone UTF-16 surrogate escapes** (`"\ud83d"` with no low half). Valid
//!   JSON grammar, and common in agent traces: JavaScript's `JSON.stringify`
//!   and Python's `json.dumps` write one whenever text is cut in the middle
//!   of an emoji (previews, truncated tool output) or was decoded with
//!   `surrogateescape`. Each becomes U+FFFD, as a lenient reader keeps it.
//! - **`NaN`, `Infinity`, `-Infinity`** as bare values: Python's `json.dumps`
//!   writes them by default (`allow_nan=True`), e.g. for a duration computed
//!   from a missing clock. Each becomes `null`: a value that is not a number
//!   is unknown, and the rest of the event (its tokens, its cost) still counts.
//! - **Numbers out of `f64`'s range** (`1e999`, a 400-digit integer): some
//!   writers print an infinite float that way, and serde_json refuses it
//!   ("number out of range"). Each becomes `null`, as `Infinity` does.
//!
//! serde_json refuses all three, so a reader that fails retries once with
//! the repaired text; well-formed input never pays for this.

/// `bytes` with the repairs above made, or `None` when there was nothing to
/// repair (the failure was something else).
pub(crate) fn repair(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut repaired = false;
    let mut in_string = false;
    // The last byte outside strings that was not whitespace: a bare value
    // follows `:`, `,` or `[`.
    let mut last_structural = b'{';
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'"' => {
                    in_string = false;
                    out.push(b);
                    i += 1;
                }
                b'\\' => {
                    let (step, replaced) = escape(bytes, i, &mut out);
                    repaired |= replaced;
                    i += step;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
            continue;
        }
        if b == b'"' {
            in_string = true;
            last_structural = b;
            out.push(b);
            i += 1;
            continue;
        }
        if matches!(last_structural, b':' | b',' | b'[') {
            if let Some(len) = non_finite_at(bytes, i).or_else(|| out_of_range_at(bytes, i)) {
                out.extend_from_slice(b"null");
                repaired = true;
                last_structural = b'l';
                i += len;
                continue;
            }
        }
        if !b.is_ascii_whitespace() {
            last_structural = b;
        }
        out.push(b);
        i += 1;
    }
    repaired.then_some(out)
}

/// Copies the escape at `at` (inside a string) to `out`, a lone surrogate
/// as `\ufffd`; returns the bytes consumed and whether it replaced one.
fn escape(bytes: &[u8], at: usize, out: &mut Vec<u8>) -> (usize, bool) {
    match escape_unit(bytes, at) {
        Some(unit) if (0xD800..=0xDBFF).contains(&unit) => {
            let low = escape_unit(bytes, at + 6).filter(|u| (0xDC00..=0xDFFF).contains(u));
            if low.is_some() {
                out.extend_from_slice(&bytes[at..at + 12]);
                (12, false)
            } else {
                out.extend_from_slice(b"\\ufffd");
                (6, true)
            }
        }
        Some(unit) if (0xDC00..=0xDFFF).contains(&unit) => {
            out.extend_from_slice(b"\\ufffd");
            (6, true)
        }
        _ => {
            // Any other escape: the backslash and the escaped byte together,
            // so `\\u` is not read as the start of an escape, nor `\"` as
            // the end of the string.
            let end = (at + 2).min(bytes.len());
            out.extend_from_slice(&bytes[at..end]);
            (end - at, false)
        }
    }
}

/// The code unit of a `\uXXXX` escape starting at `at`.
fn escape_unit(bytes: &[u8], at: usize) -> Option<u32> {
    let esc = bytes.get(at..at + 6)?;
    if esc[0] != b'\\' || esc[1] != b'u' {
        return None;
    }
    let hex = std::str::from_utf8(&esc[2..]).ok()?;
    u32::from_str_radix(hex, 16).ok()
}

/// The length of a bare `NaN`, `Infinity` or `-Infinity` at `at`, when one
/// ends there as a whole value.
fn non_finite_at(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = &bytes[at..];
    let len = [&b"NaN"[..], b"Infinity", b"-Infinity"]
        .iter()
        .find(|word| rest.starts_with(word))?
        .len();
    match rest.get(len) {
        None => Some(len),
        Some(b) if b.is_ascii_whitespace() || matches!(b, b',' | b'}' | b']') => Some(len),
        Some(_) => None,
    }
}

/// The length of a number at `at` too large for an `f64` (it parses as
/// infinite), when one ends there as a whole value.
fn out_of_range_at(bytes: &[u8], at: usize) -> Option<usize> {
    let rest = &bytes[at..];
    if !rest
        .first()
        .is_some_and(|b| *b == b'-' || b.is_ascii_digit())
    {
        return None;
    }
    let len = rest
        .iter()
        .position(|b| !(b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')))
        .unwrap_or(rest.len());
    match rest.get(len) {
        None => {}
        Some(b) if b.is_ascii_whitespace() || matches!(b, b',' | b'}' | b']') => {}
        Some(_) => return None,
    }
    let number: f64 = std::str::from_utf8(&rest[..len]).ok()?.parse().ok()?;
    number.is_infinite().then_some(len)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fixed(s: &str) -> Option<String> {
        repair(s.as_bytes()).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn lone_halves_become_replacement_characters() {
        assert_eq!(fixed(r#"{"a":"x \ud83d"}"#).unwrap(), r#"{"a":"x \ufffd"}"#);
        assert_eq!(fixed(r#"{"a":"\udcff y"}"#).unwrap(), r#"{"a":"\ufffd y"}"#);
        assert_eq!(
            fixed(r#"{"a":"\uD800\u0041"}"#).unwrap(),
            r#"{"a":"\ufffd\u0041"}"#
        );
        let v: serde_json::Value =
            serde_json::from_str(&fixed(r#"{"a":"cut \ud83d"}"#).unwrap()).unwrap();
        assert_eq!(v["a"], "cut \u{fffd}");
    }

    #[test]
    fn bare_non_finite_numbers_become_null() {
        assert_eq!(
            fixed(r#"{"duration_ms": NaN, "b": [Infinity, -Infinity], "c": 1}"#).unwrap(),
            r#"{"duration_ms": null, "b": [null, null], "c": 1}"#
        );
        assert_eq!(fixed(r#"{"a":NaN}"#).unwrap(), r#"{"a":null}"#);
        // Inside strings, or as part of a longer word, they stay.
        assert_eq!(fixed(r#"{"a":"NaN","b":"x\"NaN"}"#), None);
        assert_eq!(fixed(r#"{"a":NaNx}"#), None);
    }

    #[test]
    fn numbers_out_of_range_become_null() {
        assert_eq!(
            fixed(r#"{"duration_ms": 1e999, "b": [-1E+400, 2.5], "c": 1e308}"#).unwrap(),
            r#"{"duration_ms": null, "b": [null, 2.5], "c": 1e308}"#
        );
        let huge = format!(r#"{{"tokens":{}}}"#, "9".repeat(400));
        assert_eq!(fixed(&huge).unwrap(), r#"{"tokens":null}"#);
        let v: serde_json::Value =
            serde_json::from_str(&fixed(r#"{"a":1e999,"b":3}"#).unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"a": null, "b": 3}));
        // In range, tiny (serde_json reads it as 0), inside strings or
        // followed by more: left alone.
        assert_eq!(fixed(r#"{"a":1e308,"b":1e-999}"#), None);
        assert_eq!(fixed(r#"{"a":"1e999"}"#), None);
        assert_eq!(fixed(r#"{"a":1e999x}"#), None);
    }

    #[test]
    fn pairs_and_other_escapes_are_left_alone() {
        assert_eq!(fixed(r#"{"a":"\ud83d\ude00"}"#), None);
        assert_eq!(
            fixed(r#"{"a":"\\ud83d"}"#),
            None,
            "an escaped backslash, not an escape"
        );
        assert_eq!(fixed(r#"{"a":"\n\u00e9"}"#), None);
        assert_eq!(fixed(r#"{"a":"no escapes"}"#), None);
        assert_eq!(
            fixed(r#"{"a":"\ud8"}"#),
            None,
            "a short escape is another error"
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_repairs_once(s in ".{0,64}", cut in 0usize..8) {
            let json = serde_json::to_string(&s).unwrap();
            let mut bytes = json.into_bytes();
            bytes.truncate(bytes.len().saturating_sub(cut));
            if let Some(out) = repair(&bytes) {
                proptest::prop_assert!(repair(&out).is_none());
            }
        }

        #[test]
        fn valid_json_needs_no_repair(v in proptest::collection::vec(".{0,12}", 0..4)) {
            let json = serde_json::to_string(&serde_json::json!({"v": v, "n": 1.5})).unwrap();
            proptest::prop_assert!(repair(json.as_bytes()).is_none());
        }
    }
}
