//! Trace content cannot execute or break the HTML report, checked in a real
//! headless Chromium: every string field of two sessions carries a script tag,
//! an attribute breakout with an `onerror` image, and a `</style>`.
//!
//! Two renderings are loaded:
//! 1. the report exactly as shipped (strict CSP): the report's own script must
//!    run (its CSP hash is right) and no injected element may exist;
//! 2. the same report with the CSP removed and a probe script added, so that
//!    escaping alone is tested: had any payload become markup, its script or
//!    `onerror` handler would run and the probe would see `window.__pwned`.
//!
//! A screenshot of (1) is saved to `<workspace>/test-artifacts/html-escaping.png`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";
const PAYLOAD: &str =
    "<script>window.__pwned=1</script>\"><img src=x onerror=\"window.__pwned=1\"></style>";

/// Runs after load; records what happened in attributes of `<html>` so
/// `--dump-dom` shows them.
const PROBE: &str = r#"<script>
window.addEventListener("load", function () {
  (function () {
    var h = document.documentElement;
    h.setAttribute("data-pwned", String(window.__pwned || 0));
    h.setAttribute("data-imgs", String(document.querySelectorAll("img").length));
    h.setAttribute("data-scripts", String(document.querySelectorAll("script").length));
    h.setAttribute("data-styles", String(document.querySelectorAll("style").length));
    h.setAttribute("data-style-intact", getComputedStyle(document.body).maxWidth === "1200px" ? "1" : "0");
    h.setAttribute("data-title-ok", document.title.indexOf("window.__pwned=1<\/script>") >= 0 ? "1" : "0");
    h.setAttribute("data-probed", "1");
  })();
});
</script>"#;

fn chromium() -> &'static str {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/setup-test-deps.sh"
    );
    CHROMIUM
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn run(profile: &Path, extra: &[String], page: &Path) -> String {
    let out = Command::new("timeout")
        .arg("90")
        .arg(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn report() -> String {
    let a = loupe_report::testing::hostile_analysis(PAYLOAD);
    let mut b = loupe_report::testing::hostile_analysis(PAYLOAD);
    b.session_id.push_str("-second");
    loupe_report::html::render(&[a, b], Some(loupe_model::Timestamp(0)))
}

#[test]
fn hostile_trace_text_neither_executes_nor_breaks_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let html = report();

    // 1. As shipped.
    let shipped = dir.path().join("report.html");
    std::fs::write(&shipped, &html).unwrap();
    let dom = run(
        &dir.path().join("profile1"),
        &["--dump-dom".into()],
        &shipped,
    );
    assert!(
        dom.contains("data-ok=\"1\""),
        "the report's own script did not run:\n{dom:.2000}"
    );
    assert_eq!(dom.matches("<img").count(), 0, "an injected <img> exists");
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "an injected <script> exists"
    );
    assert_eq!(dom.matches("<style").count(), 1);
    assert!(
        dom.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"),
        "payload not shown as text"
    );
    // Every field's marker made it into the page as text.
    for field in [
        "session_id",
        "path",
        "task",
        "model",
        "category",
        "title",
        "description",
        "suggestion",
        "tool",
        "recommendation",
        "label",
        "unpriced",
    ] {
        assert!(
            dom.contains(&format!("[{field}]&lt;script&gt;")),
            "field {field} missing or unescaped"
        );
    }

    let artifacts = workspace_root().join("test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let shot = artifacts.join("html-escaping.png");
    let _ = std::fs::remove_file(&shot);
    run(
        &dir.path().join("profile2"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
        &shipped,
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "screenshot missing or empty"
    );

    // 2. Escaping alone: no CSP, plus a probe.
    let start = html
        .find("<meta http-equiv=\"Content-Security-Policy\"")
        .unwrap();
    let end = start + html[start..].find('>').unwrap() + 1;
    let mut open = format!("{}{}", &html[..start], &html[end..]);
    let body_end = open.rfind("</body>").unwrap();
    open.insert_str(body_end, PROBE);
    let probed = dir.path().join("probed.html");
    std::fs::write(&probed, &open).unwrap();
    let dom = run(
        &dir.path().join("profile3"),
        &["--dump-dom".into()],
        &probed,
    );
    assert!(
        dom.contains("data-probed=\"1\""),
        "probe did not run:\n{dom:.2000}"
    );
    assert!(
        dom.contains("data-pwned=\"0\""),
        "an injected script or handler ran"
    );
    assert!(dom.contains("data-imgs=\"0\""));
    assert!(
        dom.contains("data-scripts=\"2\""),
        "report script + probe only"
    );
    assert!(dom.contains("data-styles=\"1\""));
    assert!(
        dom.contains("data-style-intact=\"1\""),
        "`</style>` broke the stylesheet"
    );
    assert!(
        dom.contains("data-title-ok=\"1\""),
        "title lost the literal payload"
    );
    assert!(dom.contains("data-ok=\"1\""));
}
