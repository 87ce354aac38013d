//! Repository hygiene, checked as part of the test suite (after rust-analyzer's
//! `tidy.rs`): every source file explains itself with a `//!` header, and no
//! test is silenced with `#[ignore]` or hidden behind `#[should_panic]`.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "snapshots" {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn all_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    rust_files(&workspace_root().join("crates"), &mut files);
    assert!(files.len() > 10, "found too few sources: {files:?}");
    files
}

#[test]
fn every_library_source_file_starts_with_a_module_doc() {
    let mut missing = Vec::new();
    for file in all_sources() {
        if !file.components().any(|c| c.as_os_str() == "src") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            missing.push(file.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "files without a //! header: {missing:#?}"
    );
}

#[test]
fn no_test_is_ignored_or_expects_a_panic() {
    let mut offenders = Vec::new();
    for file in all_sources() {
        if file.ends_with("tidy.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (i, line) in text.lines().enumerate() {
            let l = line.trim();
            if l.starts_with("#[ignore") || l.starts_with("#[should_panic") {
                offenders.push(format!("{}:{}", file.display(), i + 1));
            }
        }
    }
    assert!(offenders.is_empty(), "silenced tests: {offenders:#?}");
}
