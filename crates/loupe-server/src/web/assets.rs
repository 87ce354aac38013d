//! Stylesheets and scripts embedded in the binary, served under `/assets/`.
//!
//! Pages link them as `/assets/NAME?v=HASH`: the hash changes whenever the
//! content does, so browsers may cache them for a year.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

const VIEWER_CSS: &str = include_str!("../../assets/viewer.css");
const VIEWER_JS: &str = include_str!("../../assets/viewer.js");

/// One embedded file.
pub(super) struct Asset {
    pub(super) name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

/// Everything `/assets/` serves; the report's stylesheet is shared so the
/// viewer's charts and trees look like `loupe report --html`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "report.css",
        content_type: "text/css; charset=utf-8",
        body: loupe_report::html::CSS,
    },
    Asset {
        name: "viewer.css",
        content_type: "text/css; charset=utf-8",
        body: VIEWER_CSS,
    },
    Asset {
        name: "viewer.js",
        content_type: "text/javascript; charset=utf-8",
        body: VIEWER_JS,
    },
];

/// FNV-1a: enough to tell versions of our own files apart.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// The cache-busting version of an asset (empty for unknown names).
pub(super) fn version(name: &str) -> String {
    ASSETS
        .iter()
        .find(|a| a.name == name)
        .map(|a| format!("{:016x}", fnv1a(a.body.as_bytes())))
        .unwrap_or_default()
}

pub(super) async fn serve(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == name) {
        Some(asset) => (
            [
                (CONTENT_TYPE, asset.content_type),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            asset.body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
