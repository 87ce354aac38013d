//! Request bodies and error answers shared by the handlers: content
//! encodings (gzip) with a bound on the decoded size, and [`Problem`], the
//! JSON error every endpoint answers with (`{"error": "..."}`).

use std::io::Read;

use axum::body::Body;
use axum::body::Bytes;
use axum::http::header::{CONTENT_ENCODING, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flate2::read::GzDecoder;

/// An error answer: a status, a message for people, and for retryable
/// refusals the seconds to wait.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Problem {
        Problem {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn retry(status: StatusCode, message: impl Into<String>, secs: u64) -> Problem {
        Problem {
            retry_after: Some(secs),
            ..Problem::new(status, message)
        }
    }

    /// Adds `Retry-After` to a response when the problem is retryable.
    pub(crate) fn with_headers(&self, mut response: Response) -> Response {
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message }).to_string();
        let response = (
            self.status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        self.with_headers(response)
    }
}

impl From<loupe_store::StoreError> for Problem {
    fn from(e: loupe_store::StoreError) -> Problem {
        Problem::retry(StatusCode::SERVICE_UNAVAILABLE, e.to_string(), 5)
    }
}

/// Bodies over the limit are still read to their end up to this many
/// bytes and thrown away, so the client reads the 413 instead of having the
/// connection closed under it mid-send (which exporters take for a network
/// error and retry). Beyond it, the connection is closed.
const DRAIN_BYTES: u64 = 512 << 20;

/// Reads a request body of at most `max_body` bytes (`--max-body-mib`), or
/// the JSON problem to answer: 413 naming the limit. `refused` counts the
/// refusal.
pub(crate) async fn read_limited(
    body: Body,
    max_body: usize,
    refused: impl FnOnce(&'static str),
) -> Result<Bytes, Problem> {
    use http_body_util::BodyExt as _;
    let too_large = || {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than the limit of {max_body} bytes (loupe serve --max-body-mib): send smaller batches"
            ),
        )
    };
    let mut body = body;
    let mut kept: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    let limit = u64::try_from(max_body).unwrap_or(u64::MAX);
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(e) => {
                refused("bad_request");
                return Err(Problem::bad_request(format!(
                    "the body could not be read: {e}"
                )));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len() as u64);
        if total > limit {
            kept = Vec::new();
            if total > DRAIN_BYTES {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if total > limit {
        refused("too_large");
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// The body with its `Content-Encoding` undone (identity or gzip), at most
/// `max_decoded` bytes.
pub(crate) fn decode(
    headers: &HeaderMap,
    body: Bytes,
    max_decoded: usize,
) -> Result<Bytes, Problem> {
    let encoding = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(body),
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_decoded));
            let limit = u64::try_from(max_decoded)
                .unwrap_or(u64::MAX)
                .saturating_add(1);
            GzDecoder::new(&body[..])
                .take(limit)
                .read_to_end(&mut out)
                .map_err(|e| {
                    Problem::bad_request(format!("the gzip body cannot be decoded: {e}"))
                })?;
            if out.len() > max_decoded {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the decompressed body is larger than the limit of {max_decoded} bytes"
                    ),
                ));
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Encoding {other:?}: send identity or gzip"),
        )),
    }
}

/// The media type of a request (`Content-Type` without parameters, lower case).
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}
