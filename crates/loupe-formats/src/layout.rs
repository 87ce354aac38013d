//! [`LayoutCursor`]: reads one JSON line laid out exactly as a known writer
//! lays it out (key order, separators), for a reader's fastest path.
//!
//! A generic JSON parser spends most of its time on the envelope of an event
//! line: matching each key against the field names, dispatching on the
//! value's type. When a writer always emits the same keys in the same order
//! with the same separators (Python's `json.dumps` with its defaults, say),
//! the envelope is a fixed sequence of literals and values, and reading it
//! is a few byte comparisons. Any byte off that layout makes the cursor give
//! up (`None`/`false`), and the reader parses the line with serde as usual,
//! which is also what words the errors. So the cursor need not be lenient,
//! only never wrong: whatever it returns is what serde_json returns for the
//! same bytes. The cursor reads plain strings and short numbers whose
//! value it can compute exactly as serde_json does; other numbers and all
//! nested objects are handed to serde_json itself.

use serde::Deserialize;

/// A position in one line of text; see the module docs.
pub(crate) struct LayoutCursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> LayoutCursor<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        LayoutCursor { text, pos: 0 }
    }

    fn rest(&self) -> &'a [u8] {
        self.text.as_bytes().get(self.pos..).unwrap_or_default()
    }

    /// Consumes `literal` if the line goes on with it.
    pub(crate) fn eat(&mut self, literal: &str) -> bool {
        let found = self.rest().starts_with(literal.as_bytes());
        if found {
            self.pos += literal.len();
        }
        found
    }

    /// Consumes `literal`, or gives up.
    pub(crate) fn expect(&mut self, literal: &str) -> Option<()> {
        self.eat(literal).then_some(())
    }

    /// Whether the whole line has been consumed.
    pub(crate) fn at_end(&self) -> bool {
        self.pos == self.text.len()
    }

    /// A string with no escapes, borrowed from the line. Strings with
    /// escapes give up: serde_json decodes those.
    pub(crate) fn plain_string(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        if rest.first() != Some(&b'"') {
            return None;
        }
        let body = rest.get(1..)?;
        let len = memchr::memchr2(b'"', b'\\', body)?;
        // JSON strings hold no raw control characters; serde_json rejects them.
        if body.get(len) != Some(&b'"') || body[..len].iter().any(|&b| b < 0x20) {
            return None;
        }
        let start = self.pos + 1;
        // `start..start + len` ends before an ASCII quote, so it is on char
        // boundaries of the (valid UTF-8) line.
        let s = self.text.get(start..start + len)?;
        self.pos = start + len + 1;
        Some(s)
    }

    /// The JSON number token at the cursor, not yet checked.
    fn number_token(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        if len == 0 {
            return None;
        }
        let token = self.text.get(self.pos..self.pos + len)?;
        self.pos += len;
        Some(token)
    }

    /// A number as serde_json reads it into an `f64` (grammar, range and
    /// rounding included).
    pub(crate) fn f64(&mut self) -> Option<f64> {
        if let Some((x, len)) = short_decimal(self.rest()) {
            self.pos += len;
            return Some(x);
        }
        serde_json::from_str(self.number_token()?).ok()
    }

    /// A number as serde_json reads it into a `u32`.
    pub(crate) fn u32(&mut self) -> Option<u32> {
        let token = self.number_token()?;
        match short_natural(token) {
            Some(n) => u32::try_from(n).ok(),
            None => serde_json::from_str(token).ok(),
        }
    }

    /// A JSON object deserialised by serde_json into `T`, which may borrow
    /// from the line.
    pub(crate) fn object<T: Deserialize<'a>>(&mut self) -> Option<T> {
        if self.rest().first() != Some(&b'{') {
            return None;
        }
        let rest = self.text.get(self.pos..)?;
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<T>();
        let value = values.next()?.ok()?;
        self.pos += values.byte_offset();
        Some(value)
    }
}

/// A token of at most nine digits with no leading zero (or `0` itself), as
/// a number: JSON's grammar for it and its value are then plain.
fn short_natural(token: &str) -> Option<u64> {
    let b = token.as_bytes();
    if b.is_empty() || b.len() > 9 || (b.len() > 1 && b[0] == b'0') {
        return None;
    }
    let mut n = 0u64;
    for &d in b {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    Some(n)
}

/// Exact powers of ten, as serde_json's own table has them.
const POW10: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A JSON number with no exponent and at most 15 digits (`-?int(.frac)?`)
/// at the start of `b`, such as an epoch timestamp or a duration, as an
/// `f64` and its length; `None` if what starts `b` is any other number
/// token. Its digits make an integer below 2^53 and its scale an exact
/// power of ten, so one division gives the correctly rounded value, which
/// is also what serde_json computes for it (with or without its
/// `float_roundtrip` feature).
fn short_decimal(b: &[u8]) -> Option<(f64, usize)> {
    let negative = b.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let mut significand = 0u64;
    let mut digits = 0;
    let mut run = |i: &mut usize| {
        let start = *i;
        while let Some(&d) = b.get(*i).filter(|d| d.is_ascii_digit()) {
            significand = significand * 10 + u64::from(d - b'0');
            digits += 1;
            *i += 1;
            if digits > 15 {
                return None;
            }
        }
        Some(*i - start)
    };
    let int_start = i;
    let int_len = run(&mut i)?;
    if int_len == 0 || (int_len > 1 && b[int_start] == b'0') {
        return None;
    }
    let mut frac_len = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_len = run(&mut i)?;
        if frac_len == 0 {
            return None;
        }
    }
    // The token must end here (no exponent, nothing number-like after it),
    // so it is exactly the token serde_json would read.
    if matches!(
        b.get(i),
        Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
    ) {
        return None;
    }
    let x = significand as f64 / POW10.get(frac_len)?;
    Some((if negative { -x } else { x }, i))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn string_as_serde(text: &str) -> Option<String> {
        serde_json::from_str(text).ok()
    }

    #[test]
    fn plain_strings_are_read_and_others_left_to_serde() {
        for (text, expected) in [
            (r#""abc""#, Some("abc")),
            (r#""""#, Some("")),
            ("\"h\u{e9}llo \u{1F600}\"", Some("h\u{e9}llo \u{1F600}")),
            (r#""a\"b""#, None),
            (r#""a\nb""#, None),
            ("\"a\tb\"", None),
            (r#""abc"#, None),
            (r#"abc"#, None),
        ] {
            let mut c = LayoutCursor::new(text);
            assert_eq!(c.plain_string(), expected, "{text}");
            if let Some(s) = expected {
                assert_eq!(string_as_serde(text).as_deref(), Some(s));
                assert!(c.at_end());
            }
        }
    }

    #[test]
    fn an_object_is_read_by_serde_and_the_cursor_goes_past_it() {
        let text = r#"{"a": [1, {"b": "}"}]}, "next": 1}"#;
        let mut c = LayoutCursor::new(text);
        let v: serde_json::Value = c.object().unwrap();
        assert_eq!(v["a"][1]["b"], "}");
        assert!(c.eat(r#", "next": "#));
        assert_eq!(c.u32(), Some(1));
        assert!(c.eat("}") && c.at_end());
        assert!(LayoutCursor::new("[1]")
            .object::<serde_json::Value>()
            .is_none());
        assert!(LayoutCursor::new("{\"a\": }")
            .object::<serde_json::Value>()
            .is_none());
    }

    proptest! {
        /// Any number-like token reads as serde_json reads it, or not at all
        /// where serde_json refuses it.
        #[test]
        fn numbers_read_as_serde_reads_them(token in "[-+0-9.eE]{1,24}") {
            let f = LayoutCursor::new(&token).f64();
            prop_assert_eq!(f.map(f64::to_bits), serde_json::from_str::<f64>(&token).ok().map(f64::to_bits));
            prop_assert_eq!(LayoutCursor::new(&token).u32(), serde_json::from_str::<u32>(&token).ok());
        }

        #[test]
        fn numbers_in_the_shapes_writers_use(n in any::<u64>(), x in any::<f64>(), neg in any::<bool>(), scale in 0u32..20) {
            let sign = if neg { "-" } else { "" };
            let tokens = [
                n.to_string(),
                (n % 1_000_000_000).to_string(),
                format!("{x:?}"),
                format!("{sign}{}", n as f64 / 1000.0),
                // Epoch seconds with a fraction, as Python prints them.
                format!("{sign}{}", (n % 4_000_000_000_000) as f64 / 10f64.powi(scale as i32)),
                format!("{sign}{}.{}", n % 10_000_000_000, n % 10u64.pow(scale)),
                format!("{sign}{}.0", n % 100_000),
            ];
            for token in tokens {
                let f = LayoutCursor::new(&token).f64();
                prop_assert_eq!(f.map(f64::to_bits), serde_json::from_str::<f64>(&token).ok().map(f64::to_bits), "{}", token);
                prop_assert_eq!(LayoutCursor::new(&token).u32(), serde_json::from_str::<u32>(&token).ok());
            }
        }

        /// Any quoted text reads as serde_json reads it, when it reads.
        #[test]
        fn strings_read_as_serde_reads_them(body in "[ -~\u{80}-\u{10FFFF}\t\n]{0,16}") {
            let text = format!("\"{body}\"");
            let mut c = LayoutCursor::new(&text);
            match c.plain_string() {
                Some(s) if c.at_end() => prop_assert_eq!(Some(s.to_owned()), string_as_serde(&text)),
                // It stopped at a quote inside: what follows is not the layout.
                Some(_) => prop_assert!(body.contains('"')),
                None => prop_assert!(body.contains(['\\', '\t', '\n']), "{}", text),
            }
        }
    }
}
