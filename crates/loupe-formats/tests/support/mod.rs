//! Helpers shared by the loupe-formats integration tests: where the seed
//! samples live and a per-session summary of what a read produced.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use loupe_formats::{Collected, Sink, Skipped, Source};
use loupe_model::{Event, EventKind, SourceFormat, TokenTotals};
use serde::Serialize;

/// `../shared/samples` beside the repository. Fails loudly when it is missing:
/// CI clones `shared/` next to the repo and these tests must not pass vacuously.
pub fn samples_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/samples"
    ));
    assert!(
        dir.is_dir(),
        "seed samples not found at {} — clone the `shared/` directory beside the repository",
        dir.display()
    );
    dir.canonicalize().unwrap()
}

/// Metrics of one session, computed from the events alone.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct SessionSummary {
    pub events: u64,
    pub llm_calls: u64,
    pub tool_calls: u64,
    pub tool_errors: u64,
    pub errors: u64,
    pub tokens: TokenTotals,
    pub subagent_events: u64,
}

/// What one file produced.
#[derive(Debug, Default, Clone, PartialEq, Serialize)]
pub struct FileSummary {
    pub format: String,
    pub events: u64,
    pub skipped: u64,
    pub sessions: BTreeMap<String, SessionSummary>,
}

impl SessionSummary {
    pub fn add(&mut self, e: &Event) {
        self.events += 1;
        match e.kind {
            EventKind::LlmResponse => {
                self.llm_calls += 1;
                self.tokens += &e.usage();
            }
            EventKind::ToolEnd => self.tool_calls += 1,
            EventKind::ToolError => {
                self.tool_calls += 1;
                self.tool_errors += 1;
            }
            _ => {}
        }
        if matches!(
            e.kind,
            EventKind::ToolError | EventKind::Error | EventKind::LlmError
        ) {
            self.errors += 1;
        }
        if e.agent.is_some() {
            self.subagent_events += 1;
        }
    }
}

/// A sink summarising per file (keyed by path relative to `root`) and per session.
#[derive(Debug, Default)]
pub struct Summaries {
    pub root: PathBuf,
    pub files: BTreeMap<String, FileSummary>,
    pub skipped: Vec<Skipped>,
}

impl Summaries {
    pub fn new(root: &Path) -> Self {
        Summaries {
            root: root.to_path_buf(),
            ..Default::default()
        }
    }
    fn key(&self, p: &Path) -> String {
        p.strip_prefix(&self.root)
            .unwrap_or(p)
            .display()
            .to_string()
    }
    /// All sessions across files, merged by id.
    pub fn sessions(&self) -> BTreeMap<String, SessionSummary> {
        let mut out: BTreeMap<String, SessionSummary> = BTreeMap::new();
        for f in self.files.values() {
            for (sid, s) in &f.sessions {
                let m = out.entry(sid.clone()).or_default();
                m.events += s.events;
                m.llm_calls += s.llm_calls;
                m.tool_calls += s.tool_calls;
                m.tool_errors += s.tool_errors;
                m.errors += s.errors;
                m.tokens += &s.tokens;
                m.subagent_events += s.subagent_events;
            }
        }
        out
    }
}

impl Sink for Summaries {
    fn begin(&mut self, source: &Source) {
        let k = self.key(&source.path);
        self.files.entry(k).or_default().format = source.format.as_str().to_owned();
    }
    fn event(&mut self, source: &Source, event: Event) {
        let k = self.key(&source.path);
        let f = self.files.entry(k).or_default();
        f.events += 1;
        f.sessions
            .entry(event.session_id.clone())
            .or_default()
            .add(&event);
    }
    fn skip(&mut self, skipped: Skipped) {
        let k = self.key(Path::new(&skipped.path));
        self.files.entry(k).or_default().skipped += 1;
        self.skipped.push(skipped);
    }
}

/// Reads bytes as `format` into memory.
pub fn collect_bytes(bytes: &[u8], name: &str, format: Option<SourceFormat>) -> Collected {
    let mut c = Collected::default();
    loupe_formats::read_bytes(bytes, Path::new(name), format, &mut c).unwrap();
    c
}

/// Non-blank lines of a file, parsed as JSON.
pub fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Truncations and byte flips of `bytes`, deterministic, a few hundred at most.
pub fn mutations(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![bytes.to_vec()];
    let step = (bytes.len() / 40).max(1);
    for cut in (0..bytes.len()).step_by(step) {
        out.push(bytes[..cut].to_vec());
        for replacement in [b'"', b'{', b']', 0xff, b'0', b'\n'] {
            let mut m = bytes.to_vec();
            m[cut] = replacement;
            out.push(m);
        }
    }
    out
}

/// The committed fuzz seeds of `target` (`fuzz/corpus-seed/<target>/`), sorted.
pub fn seed_files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus-seed"
    ))
    .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("fuzz seeds {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
}
