//! What every page shares: the layout, links that keep the API key, HTML
//! error pages and number formatting.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use loupe_report::html::escape;

use super::assets;
use crate::body::Problem;

/// Per-request page context: the read key the page was opened with, which
/// every link, asset and script request must carry on.
pub(super) struct Ctx {
    key: Option<String>,
}

impl Ctx {
    pub(super) fn new(params: &HashMap<String, String>) -> Ctx {
        Ctx {
            key: params.get("key").filter(|k| !k.is_empty()).cloned(),
        }
    }

    /// `path` (which may already hold a query) with `key=` added when
    /// needed, HTML-escaped for an attribute.
    pub(super) fn href(&self, path: &str) -> String {
        match &self.key {
            None => escape(path),
            Some(key) => {
                let sep = if path.contains('?') { '&' } else { '?' };
                escape(&format!("{path}{sep}key={}", url_encode(key)))
            }
        }
    }

    fn asset(&self, name: &str) -> String {
        self.href(&format!("/assets/{name}?v={}", assets::version(name)))
    }

    /// A complete page. `body` is trusted markup built with [`escape`].
    pub(super) fn layout(&self, title: &str, active: &str, body: &str) -> String {
        let mut out = String::with_capacity(body.len() + 2048);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{} · Loupe</title>\n\
             <link rel=\"stylesheet\" href=\"{}\">\n<link rel=\"stylesheet\" href=\"{}\">\n\
             <script defer src=\"{}\"></script>\n</head>\n<body>\n<nav class=\"top\">\
             <a class=\"brand\" href=\"{}\">Loupe</a>",
            escape(title),
            self.asset("report.css"),
            self.asset("viewer.css"),
            self.asset("viewer.js"),
            self.href("/"),
        );
        for (path, name) in [("/", "Sessions"), ("/dashboard", "Dashboard")] {
            let class = if name == active {
                " class=\"active\""
            } else {
                ""
            };
            let _ = write!(out, "<a{class} href=\"{}\">{name}</a>", self.href(path));
        }
        out.push_str("</nav>\n<main>\n");
        out.push_str(body);
        out.push_str("</main>\n</body>\n</html>\n");
        out
    }
}

/// A page that could not be shown, as an HTML page with the right status.
pub(super) struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    pub(super) fn not_found(message: impl Into<String>) -> PageError {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl From<Problem> for PageError {
    fn from(p: Problem) -> PageError {
        PageError {
            status: p.status,
            message: p.message,
        }
    }
}

impl From<loupe_store::StoreError> for PageError {
    fn from(e: loupe_store::StoreError) -> PageError {
        PageError::from(Problem::from(e))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Bad request",
            _ => "Error",
        };
        let body = format!(
            "<h1>{title}</h1>\n<p class=\"error-message\">{}</p>\n<p><a href=\"/\">Back to the sessions</a></p>\n",
            escape(&self.message)
        );
        let html = Ctx { key: None }.layout(title, "", &body);
        (
            self.status,
            [(CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response()
    }
}

/// Runs a blocking store call off the async workers.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, PageError> + Send + 'static,
) -> Result<T, PageError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| PageError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })?
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub(super) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string from pairs, values encoded, empty values left out.
pub(super) fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if v.is_empty() {
            continue;
        }
        out.push(if out.is_empty() { '?' } else { '&' });
        let _ = write!(out, "{k}={}", url_encode(v));
    }
    out
}

/// A cost that leaves out calls to unpriced models says so.
pub(super) fn cost_text(v: f64, unpriced_models: &[String]) -> String {
    if unpriced_models.is_empty() {
        usd(v)
    } else {
        format!("{} + unpriced", usd(v))
    }
}

/// A figure the session does not report: unknown, never 0.
pub(super) const UNKNOWN: &str = "—";

/// `f(value)`, or [`UNKNOWN`] when there is none.
pub(super) fn known<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| UNKNOWN.to_owned(), f)
}

/// A session's cost: unknown is "unpriced" when a model has no price.
pub(super) fn known_cost_text(v: Option<f64>, unpriced_models: &[String]) -> String {
    match v {
        Some(v) => cost_text(v, unpriced_models),
        None if !unpriced_models.is_empty() => "unpriced".to_owned(),
        None => UNKNOWN.to_owned(),
    }
}

pub(super) fn usd(v: f64) -> String {
    if v == 0.0 {
        "$0".to_owned()
    } else if v < 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

pub(super) fn percent(rate: f64) -> String {
    // A rate above 0 never reads as 0% (1 failure in 512 is not none).
    if rate > 0.0 && rate < 0.005 {
        return "<1%".to_owned();
    }
    format!("{:.0}%", rate * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_carry_the_key_encoded_and_escaped() {
        let params = HashMap::from([("key".to_owned(), "a&b c".to_owned())]);
        let ctx = Ctx::new(&params);
        assert_eq!(ctx.href("/x?y=1"), "/x?y=1&amp;key=a%26b%20c");
        assert_eq!(Ctx::new(&HashMap::new()).href("/x"), "/x");
    }

    #[test]
    fn query_strings_skip_empty_values() {
        assert_eq!(
            query_string([("a", "x y"), ("b", ""), ("c", "<")]),
            "?a=x%20y&c=%3C"
        );
    }
}
