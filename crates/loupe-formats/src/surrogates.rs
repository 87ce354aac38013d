//! Lone UTF-16 surrogate escapes (`"\ud83d"` with no low half after it).
//!
//! They are valid JSON grammar and common in agent traces: JavaScript's
//! `JSON.stringify` and Python's `json.dumps` write one whenever text is cut
//! in the middle of an emoji (previews, truncated tool output) or was decoded
//! with `surrogateescape`. serde_json refuses them, which would cost the whole
//! line or document, so a reader that fails retries once with each lone
//! surrogate replaced by U+FFFD, as a lenient JSON reader (Python's) keeps it.

/// `bytes` with every lone surrogate escape replaced by `\ufffd`, or `None`
/// when it holds none (the failure was something else).
pub(crate) fn replace_lone_surrogates(bytes: &[u8]) -> Option<Vec<u8>> {
    // Cheap test first: the repair only runs after a failed parse, but a
    // large document without any `\u` escape should not be copied.
    memchr::memmem::find(bytes, b"\\u")?;
    let mut out = Vec::with_capacity(bytes.len());
    let mut replaced = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match escape_unit(bytes, i) {
            Some(unit) if (0xD800..=0xDBFF).contains(&unit) => {
                let low = escape_unit(bytes, i + 6).filter(|u| (0xDC00..=0xDFFF).contains(u));
                if low.is_some() {
                    out.extend_from_slice(&bytes[i..i + 12]);
                    i += 12;
                } else {
                    out.extend_from_slice(b"\\ufffd");
                    replaced = true;
                    i += 6;
                }
            }
            Some(unit) if (0xDC00..=0xDFFF).contains(&unit) => {
                out.extend_from_slice(b"\\ufffd");
                replaced = true;
                i += 6;
            }
            _ => {
                // Any other escape: copy the backslash and the escaped byte
                // together, so `\\u` is not read as the start of an escape.
                let end = (i + 2).min(bytes.len());
                out.extend_from_slice(&bytes[i..end]);
                i = end;
            }
        }
    }
    replaced.then_some(out)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fixed(s: &str) -> Option<String> {
        replace_lone_surrogates(s.as_bytes()).map(|v| String::from_utf8(v).unwrap())
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
        fn never_panics_and_output_has_no_lone_halves(s in ".{0,64}", cut in 0usize..8) {
            let json = serde_json::to_string(&s).unwrap();
            let mut bytes = json.into_bytes();
            bytes.truncate(bytes.len().saturating_sub(cut));
            if let Some(out) = replace_lone_surrogates(&bytes) {
                proptest::prop_assert!(replace_lone_surrogates(&out).is_none());
            }
        }
    }
}
