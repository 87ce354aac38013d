//! Inline SVG charts for the dashboard and compare pages: horizontal bars
//! and a line over time buckets. Pure functions from numbers to markup;
//! every label goes through [`escape`]. Colours come from classes in
//! `viewer.css` (no `style` attributes: the CSP forbids them).

use std::fmt::Write as _;

use loupe_report::html::escape;

/// One bar: label, value, shown value, and an extra class (`bad`...).
pub(super) struct Bar {
    pub(super) label: String,
    pub(super) value: f64,
    pub(super) text: String,
    pub(super) class: &'static str,
}

/// Horizontal bars scaled to the largest value.
pub(super) fn bars(out: &mut String, aria: &str, bars: &[Bar]) {
    if bars.is_empty() {
        out.push_str("<p class=\"muted\">No data.</p>\n");
        return;
    }
    let (label_w, track_w, row_h) = (180.0_f64, 300.0_f64, 20.0_f64);
    // Room right of the track for the longest value label, so the label of
    // the largest bar is never cut off.
    let value_w = bars
        .iter()
        .map(|b| text_width(&b.text))
        .fold(40.0_f64, f64::max)
        + 10.0;
    let max = bars
        .iter()
        .map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let height = bars.len() as f64 * row_h;
    let _ = writeln!(
        out,
        "<svg class=\"chart bars\" viewBox=\"0 0 {w} {height}\" role=\"img\" aria-label=\"{}\">",
        escape(aria),
        w = label_w + track_w + value_w
    );
    for (i, b) in bars.iter().enumerate() {
        let y = i as f64 * row_h;
        let width = if b.value.is_finite() && b.value > 0.0 {
            (b.value / max * track_w).max(1.0)
        } else {
            0.0
        };
        let label = fit(&b.label, label_w - 8.0);
        let _ = writeln!(
            out,
            "<g><title>{full}: {text}</title><text x=\"0\" y=\"{ty:.1}\">{label}</text>\
             <rect class=\"bar {class}\" x=\"{label_w}\" y=\"{ry:.1}\" width=\"{width:.1}\" height=\"14\" rx=\"2\"></rect>\
             <text class=\"value\" x=\"{tx:.1}\" y=\"{ty:.1}\">{text}</text></g>",
            full = escape(&b.label),
            text = escape(&b.text),
            label = escape(&label),
            class = b.class,
            ty = y + 14.0,
            ry = y + 3.0,
            tx = label_w + width + 6.0,
        );
    }
    out.push_str("</svg>\n");
}

/// Estimated width of `s` at the charts' 13px font, in SVG units: SVG
/// text cannot end in a CSS ellipsis, so labels are cut to fit by this
/// estimate. Generous (0.62em a character, a full em for wide CJK ones) so
/// it errs on the short side.
fn text_width(s: &str) -> f64 {
    s.chars().map(|c| if is_wide(c) { 13.0 } else { 8.0 }).sum()
}

/// East Asian wide characters (CJK, kana, Hangul, full-width forms).
fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x20000..=0x3FFFD)
}

/// `s` cut to `max` SVG units with a trailing ellipsis when too long.
fn fit(s: &str, max: f64) -> String {
    if text_width(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = text_width("…");
    for c in s.chars() {
        used += text_width(c.encode_utf8(&mut [0; 4]));
        if used > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// A line (with dots) over labelled points; `None` leaves a gap. `y_text`
/// formats the axis maximum and the tooltips.
pub(super) fn line(
    out: &mut String,
    aria: &str,
    points: &[(String, Option<f64>)],
    y_max: Option<f64>,
    y_text: impl Fn(f64) -> String,
) {
    let values: Vec<f64> = points.iter().filter_map(|p| p.1).collect();
    if values.is_empty() {
        out.push_str("<p class=\"muted\">No data.</p>\n");
        return;
    }
    let (w, h, pad_l, pad) = (560.0_f64, 180.0_f64, 56.0_f64, 18.0_f64);
    let max = y_max
        .unwrap_or_else(|| values.iter().copied().fold(0.0_f64, f64::max))
        .max(f64::MIN_POSITIVE);
    let step = if points.len() > 1 {
        (w - pad_l - pad) / (points.len() - 1) as f64
    } else {
        0.0
    };
    let x_of = |i: usize| pad_l + i as f64 * step;
    let y_of = |v: f64| h - pad - (v / max).clamp(0.0, 1.0) * (h - 2.0 * pad);
    let _ = writeln!(
        out,
        "<svg class=\"chart line\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">\
         <line class=\"axis\" x1=\"{pad_l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\"></line>\
         <text class=\"axis\" x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{}</text>\
         <text class=\"axis\" x=\"{tx}\" y=\"{b}\" text-anchor=\"end\">0</text>",
        escape(aria),
        escape(&y_text(max)),
        b = h - pad,
        r = w - pad,
        tx = pad_l - 4.0,
        ty = pad + 4.0,
    );
    // Segments of consecutive known points.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, (_, v)) in points.iter().enumerate() {
        match v {
            Some(v) => {
                let _ = write!(
                    path,
                    "{}{:.1},{:.1} ",
                    if pen_down { "L" } else { "M" },
                    x_of(i),
                    y_of(*v)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = writeln!(
        out,
        "<path class=\"series\" d=\"{}\"></path>",
        path.trim_end()
    );
    for (i, (label, v)) in points.iter().enumerate() {
        if let Some(v) = v {
            let _ = writeln!(
                out,
                "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{}: {}</title></circle>",
                x_of(i),
                y_of(*v),
                escape(label),
                escape(&y_text(*v))
            );
        }
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = writeln!(
            out,
            "<text class=\"axis\" x=\"{pad_l}\" y=\"{h}\">{}</text><text class=\"axis\" x=\"{}\" y=\"{h}\" text-anchor=\"end\">{}</text>",
            escape(&first.0),
            w - pad,
            escape(&last.0)
        );
    }
    out.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let mut out = String::new();
        bars(
            &mut out,
            "t",
            &[
                Bar {
                    label: "<b>".into(),
                    value: 10.0,
                    text: "10".into(),
                    class: "",
                },
                Bar {
                    label: "half".into(),
                    value: 5.0,
                    text: "5".into(),
                    class: "bad",
                },
            ],
        );
        assert!(out.contains("width=\"300.0\""));
        assert!(out.contains("width=\"150.0\""));
        assert!(out.contains("&lt;b&gt;") && !out.contains("<b>"));
    }

    #[test]
    fn long_labels_end_in_an_ellipsis() {
        assert_eq!(fit("bash", 100.0), "bash");
        let cut = fit(&"x".repeat(80), 100.0);
        assert!(cut.ends_with('…') && text_width(&cut) <= 100.0, "{cut}");
        assert!(text_width("長い") > text_width("ab"));
    }

    #[test]
    fn line_breaks_at_missing_points() {
        let mut out = String::new();
        let points = vec![
            ("a".to_owned(), Some(1.0)),
            ("b".to_owned(), None),
            ("c".to_owned(), Some(2.0)),
        ];
        line(&mut out, "t", &points, None, |v| format!("{v}"));
        let d = out.split("d=\"").nth(1).unwrap_or_default();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(out.matches("<circle").count(), 2);
    }
}
