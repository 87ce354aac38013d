//! Recorder configuration: defaults, the builder's settings, `LOUPE_*`
//! environment variables and an optional TOML file.
//!
//! Precedence, lowest first: defaults, then a TOML file
//! ([`crate::Builder::from_toml_file`]), then the environment
//! ([`crate::Builder::from_env`]), then builder calls made afterwards.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Default trace directory, shared with the CLI (design.md §4).
pub const DEFAULT_DIR: &str = ".loupe/traces";
/// Default file name pattern.
pub const DEFAULT_FILE_PATTERN: &str = "{session_id}.jsonl";
/// Default maximum length of a string in `data`, in characters.
pub const DEFAULT_MAX_CONTENT_CHARS: usize = 16_384;
/// Path the HTTP sink posts to, appended to [`Config::endpoint`].
pub const EVENTS_PATH: &str = "/api/v1/events";

/// What a record call does once it returns, and so what a `SIGKILL` can lose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// The call hands the event to the background writer and returns at once.
    /// The writer batches lines and writes them when its buffer fills, every
    /// flush interval, on [`crate::Recorder::flush`], on drop, on panic and at
    /// exit. A `SIGKILL` loses what had not been written yet and may tear the
    /// last line.
    #[default]
    Buffered,
    /// The call waits until the writer has written, flushed and `fsync`ed its
    /// event. Nothing a returned call recorded is lost, even on `SIGKILL` or
    /// power loss; each call costs a disk sync (milliseconds).
    EveryEvent,
}

/// What a record call does when the writer's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueueFullPolicy {
    /// Drop the event and count it; the count is written into the trace as a
    /// `loupe_dropped` event and reported in the summary. Never blocks.
    #[default]
    Drop,
    /// Wait for room in the queue. Loses nothing; can stall the agent when the
    /// disk cannot keep up.
    Block,
}

/// Which content the recorder keeps. Counts, names and timings are always kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capture {
    /// LLM request messages and response text.
    pub messages: bool,
    /// Reasoning / thinking text.
    pub thinking: bool,
    /// Tool arguments.
    pub tool_args: bool,
    /// Tool results.
    pub tool_results: bool,
}

impl Default for Capture {
    fn default() -> Self {
        Capture {
            messages: true,
            thinking: true,
            tool_args: true,
            tool_results: true,
        }
    }
}

/// Everything a recorder needs to know, with sensible defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// When false, recording costs one branch and writes nothing.
    pub enabled: bool,
    /// Directory of trace files (created if missing).
    pub dir: PathBuf,
    /// File name inside `dir`; `{session_id}` and `{timestamp}` are replaced.
    /// An existing file is appended to (a resumed session reads as one), and
    /// the start says so on stderr.
    pub file_pattern: String,
    /// Capacity of the queue between record calls and the writer, in events.
    pub queue_capacity: usize,
    /// Bytes the writer accumulates before a write to the file.
    pub buffer_size: usize,
    /// Longest time an event waits in the writer's buffer.
    pub flush_interval: Duration,
    /// See [`Durability`].
    pub durability: Durability,
    /// See [`QueueFullPolicy`].
    pub queue_full: QueueFullPolicy,
    /// Fraction of sessions recorded, chosen deterministically from the session id.
    pub sample_rate: f64,
    /// Which content is kept.
    pub capture: Capture,
    /// Longer free-text strings in `data` are cut and marked
    /// `…[truncated N chars]`; keys and the library's own fields are not
    /// (see the crate docs, "Redaction and truncation").
    pub max_content_chars: usize,
    /// Apply the built-in secret patterns (and `redact_patterns`) to every
    /// string in `data` and to the `agent` identity (not to session or
    /// trace ids; see the crate docs).
    pub redact: bool,
    /// Extra regular expressions whose matches are replaced by `[REDACTED]`.
    pub redact_patterns: Vec<String>,
    /// Flush live recorders from a panic hook (chained to the previous hook).
    pub flush_on_panic: bool,
    /// Flush live recorders when the process exits (`atexit`), without ending sessions.
    pub flush_at_exit: bool,
    /// A `loupe serve` (or compatible) base URL, e.g. `http://127.0.0.1:4318`:
    /// when set, a background thread also sends every line to
    /// `{endpoint}/api/v1/events`. Plain `http://` only.
    pub endpoint: Option<String>,
    /// Sent as `Authorization: Bearer {api_key}` with every batch.
    pub api_key: Option<String>,
    /// Write the local JSONL file (default). With an endpoint it stays the
    /// crash-safe record; turn it off to only send.
    pub write_file: bool,
    /// Lines per HTTP batch at most.
    pub http_batch_size: usize,
    /// Longest time a line waits in the HTTP sink before its batch is sent
    /// (on top of the writer's `flush_interval`).
    pub http_max_delay: Duration,
    /// Bytes of lines the HTTP sink holds while the server is slow or down;
    /// beyond it lines are dropped per [`Config::queue_full`] and counted.
    pub http_buffer_bytes: usize,
    /// How long ending a session (or process exit) waits for the HTTP sink to
    /// deliver what is pending.
    pub http_shutdown_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            dir: PathBuf::from(DEFAULT_DIR),
            file_pattern: DEFAULT_FILE_PATTERN.to_owned(),
            queue_capacity: 65_536,
            buffer_size: 64 * 1024,
            flush_interval: Duration::from_millis(500),
            durability: Durability::Buffered,
            queue_full: QueueFullPolicy::Drop,
            sample_rate: 1.0,
            capture: Capture::default(),
            max_content_chars: DEFAULT_MAX_CONTENT_CHARS,
            redact: true,
            redact_patterns: Vec::new(),
            flush_on_panic: true,
            flush_at_exit: true,
            endpoint: None,
            api_key: None,
            write_file: true,
            http_batch_size: 1_000,
            http_max_delay: Duration::from_millis(200),
            http_buffer_bytes: 16 << 20,
            http_shutdown_timeout: Duration::from_secs(2),
        }
    }
}

/// A configuration or setup error: names the file or variable, the line when
/// known, and the reason.
#[derive(Debug)]
pub struct ConfigError {
    /// Where the bad value came from (`LOUPE_SAMPLE_RATE`, `loupe.toml:3`...).
    pub origin: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// The TOML file's shape: every key optional, same names as [`Config`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    enabled: Option<bool>,
    dir: Option<PathBuf>,
    file_pattern: Option<String>,
    queue_capacity: Option<usize>,
    buffer_size: Option<usize>,
    flush_interval_ms: Option<u64>,
    durability: Option<String>,
    queue_full: Option<String>,
    sample_rate: Option<f64>,
    capture_messages: Option<bool>,
    capture_thinking: Option<bool>,
    capture_tool_args: Option<bool>,
    capture_tool_results: Option<bool>,
    max_content_chars: Option<usize>,
    redact: Option<bool>,
    redact_patterns: Option<Vec<String>>,
    flush_on_panic: Option<bool>,
    flush_at_exit: Option<bool>,
    endpoint: Option<String>,
    api_key: Option<String>,
    write_file: Option<bool>,
    http_batch_size: Option<usize>,
    http_max_delay_ms: Option<u64>,
    http_buffer_bytes: Option<usize>,
    http_shutdown_timeout_ms: Option<u64>,
}

impl Config {
    /// Applies a TOML document (keys as in [`Config`], `flush_interval_ms`,
    /// `capture_*`); `origin` names it in errors.
    pub fn apply_toml(&mut self, text: &str, origin: &str) -> Result<(), ConfigError> {
        let file: FileConfig = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            ConfigError {
                origin: match line {
                    Some(l) => format!("{origin}:{l}"),
                    None => origin.to_owned(),
                },
                reason: e.message().to_owned(),
            }
        })?;
        let at = |key: &str| format!("{origin}: {key}");
        macro_rules! set {
            ($field:ident => $target:expr) => {
                if let Some(v) = file.$field {
                    $target = v;
                }
            };
        }
        set!(enabled => self.enabled);
        set!(dir => self.dir);
        set!(file_pattern => self.file_pattern);
        set!(queue_capacity => self.queue_capacity);
        set!(buffer_size => self.buffer_size);
        set!(capture_messages => self.capture.messages);
        set!(capture_thinking => self.capture.thinking);
        set!(capture_tool_args => self.capture.tool_args);
        set!(capture_tool_results => self.capture.tool_results);
        set!(max_content_chars => self.max_content_chars);
        set!(redact => self.redact);
        set!(redact_patterns => self.redact_patterns);
        set!(flush_on_panic => self.flush_on_panic);
        set!(flush_at_exit => self.flush_at_exit);
        set!(write_file => self.write_file);
        set!(http_batch_size => self.http_batch_size);
        set!(http_buffer_bytes => self.http_buffer_bytes);
        if let Some(ms) = file.flush_interval_ms {
            self.flush_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = file.http_max_delay_ms {
            self.http_max_delay = Duration::from_millis(ms);
        }
        if let Some(ms) = file.http_shutdown_timeout_ms {
            self.http_shutdown_timeout = Duration::from_millis(ms);
        }
        if let Some(key) = file.api_key {
            self.api_key = Some(key).filter(|k| !k.is_empty());
        }
        if let Some(url) = file.endpoint {
            self.endpoint = check_endpoint(&url).map_err(|reason| ConfigError {
                origin: at("endpoint"),
                reason,
            })?;
        }
        if let Some(d) = file.durability {
            self.durability = parse_durability(&d).map_err(|reason| ConfigError {
                origin: at("durability"),
                reason,
            })?;
        }
        if let Some(q) = file.queue_full {
            self.queue_full = parse_queue_full(&q).map_err(|reason| ConfigError {
                origin: at("queue_full"),
                reason,
            })?;
        }
        if let Some(r) = file.sample_rate {
            self.sample_rate = check_rate(r).map_err(|reason| ConfigError {
                origin: at("sample_rate"),
                reason,
            })?;
        }
        Ok(())
    }

    /// Reads and applies a TOML file.
    pub fn apply_toml_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: path.display().to_string(),
            reason: e.to_string(),
        })?;
        self.apply_toml(&text, &path.display().to_string())
    }

    /// Applies `LOUPE_*` variables read through `get` (the process environment
    /// in [`Config::apply_env`]; a map in tests).
    pub fn apply_env_with(
        &mut self,
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let err = |var: &str, value: &str, reason: String| ConfigError {
            origin: format!("{var}={value:?}"),
            reason,
        };
        let boolean = |var: &str| -> Result<Option<bool>, ConfigError> {
            match get(var) {
                None => Ok(None),
                Some(v) => parse_bool(&v)
                    .map(Some)
                    .ok_or_else(|| err(var, &v, "expected true/false/1/0/yes/no/on/off".into())),
            }
        };
        let number = |var: &str| -> Result<Option<u64>, ConfigError> {
            match get(var) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|e| err(var, &v, format!("expected a whole number ({e})"))),
            }
        };
        if let Some(b) = boolean("LOUPE_ENABLED")? {
            self.enabled = b;
        }
        if let Some(d) = get("LOUPE_DIR") {
            self.dir = PathBuf::from(d);
        }
        if let Some(p) = get("LOUPE_FILE_PATTERN") {
            self.file_pattern = p;
        }
        if let Some(n) = number("LOUPE_QUEUE_CAPACITY")? {
            self.queue_capacity = n as usize;
        }
        if let Some(n) = number("LOUPE_BUFFER_SIZE")? {
            self.buffer_size = n as usize;
        }
        if let Some(n) = number("LOUPE_FLUSH_INTERVAL_MS")? {
            self.flush_interval = Duration::from_millis(n);
        }
        if let Some(v) = get("LOUPE_DURABILITY") {
            self.durability = parse_durability(&v).map_err(|r| err("LOUPE_DURABILITY", &v, r))?;
        }
        if let Some(v) = get("LOUPE_QUEUE_FULL") {
            self.queue_full = parse_queue_full(&v).map_err(|r| err("LOUPE_QUEUE_FULL", &v, r))?;
        }
        if let Some(v) = get("LOUPE_SAMPLE_RATE") {
            let rate = v
                .trim()
                .parse::<f64>()
                .map_err(|e| err("LOUPE_SAMPLE_RATE", &v, e.to_string()))?;
            self.sample_rate = check_rate(rate).map_err(|r| err("LOUPE_SAMPLE_RATE", &v, r))?;
        }
        if let Some(b) = boolean("LOUPE_CAPTURE_MESSAGES")? {
            self.capture.messages = b;
        }
        if let Some(b) = boolean("LOUPE_CAPTURE_THINKING")? {
            self.capture.thinking = b;
        }
        if let Some(b) = boolean("LOUPE_CAPTURE_TOOL_ARGS")? {
            self.capture.tool_args = b;
        }
        if let Some(b) = boolean("LOUPE_CAPTURE_TOOL_RESULTS")? {
            self.capture.tool_results = b;
        }
        if let Some(n) = number("LOUPE_MAX_CONTENT_CHARS")? {
            self.max_content_chars = n as usize;
        }
        if let Some(b) = boolean("LOUPE_REDACT")? {
            self.redact = b;
        }
        if let Some(v) = get("LOUPE_REDACT_PATTERNS") {
            // A JSON array of patterns, or one pattern.
            self.redact_patterns = if v.trim_start().starts_with('[') {
                serde_json::from_str(&v)
                    .map_err(|e| err("LOUPE_REDACT_PATTERNS", &v, format!("bad JSON array: {e}")))?
            } else {
                vec![v]
            };
        }
        if let Some(b) = boolean("LOUPE_FLUSH_ON_PANIC")? {
            self.flush_on_panic = b;
        }
        if let Some(b) = boolean("LOUPE_FLUSH_AT_EXIT")? {
            self.flush_at_exit = b;
        }
        if let Some(v) = get("LOUPE_ENDPOINT") {
            self.endpoint = check_endpoint(&v).map_err(|r| err("LOUPE_ENDPOINT", &v, r))?;
        }
        if let Some(v) = get("LOUPE_API_KEY") {
            self.api_key = Some(v.trim().to_owned()).filter(|k| !k.is_empty());
        }
        if let Some(b) = boolean("LOUPE_WRITE_FILE")? {
            self.write_file = b;
        }
        if let Some(n) = number("LOUPE_HTTP_BATCH_SIZE")? {
            self.http_batch_size = n as usize;
        }
        if let Some(n) = number("LOUPE_HTTP_MAX_DELAY_MS")? {
            self.http_max_delay = Duration::from_millis(n);
        }
        if let Some(n) = number("LOUPE_HTTP_BUFFER_BYTES")? {
            self.http_buffer_bytes = n as usize;
        }
        if let Some(n) = number("LOUPE_HTTP_SHUTDOWN_TIMEOUT_MS")? {
            self.http_shutdown_timeout = Duration::from_millis(n);
        }
        Ok(())
    }

    /// Applies the process's `LOUPE_*` environment variables.
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
        self.apply_env_with(|k| std::env::var(k).ok())
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_durability(v: &str) -> Result<Durability, String> {
    match v.trim().to_ascii_lowercase().replace('-', "_").as_str() {
        "buffered" => Ok(Durability::Buffered),
        "every_event" | "durable" | "fsync" => Ok(Durability::EveryEvent),
        other => Err(format!(
            "unknown durability {other:?} (buffered, every_event)"
        )),
    }
}

fn parse_queue_full(v: &str) -> Result<QueueFullPolicy, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "drop" => Ok(QueueFullPolicy::Drop),
        "block" => Ok(QueueFullPolicy::Block),
        other => Err(format!("unknown queue-full policy {other:?} (drop, block)")),
    }
}

/// An endpoint as configured: empty means none; otherwise an `http://` URL
/// (the sink has no TLS: put a TLS proxy or `loupe serve` on the host).
pub(crate) fn check_endpoint(url: &str) -> Result<Option<String>, String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "endpoint {url:?} must start with http:// (https is not supported by the recorder)"
        ));
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("endpoint {url:?} has no host"));
    }
    Ok(Some(url.to_owned()))
}

fn check_rate(r: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!("sample rate {r} is outside 0..=1"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn env_overrides_defaults_and_names_the_bad_variable() {
        let vars = [
            ("LOUPE_DIR", "/tmp/x"),
            ("LOUPE_SAMPLE_RATE", "0.25"),
            ("LOUPE_DURABILITY", "every-event"),
            ("LOUPE_QUEUE_FULL", "block"),
            ("LOUPE_CAPTURE_THINKING", "off"),
            ("LOUPE_REDACT_PATTERNS", r#"["acme-[0-9]+", "x"]"#),
            ("LOUPE_ENDPOINT", "http://127.0.0.1:4318/"),
            ("LOUPE_API_KEY", "k1"),
            ("LOUPE_WRITE_FILE", "no"),
            ("LOUPE_HTTP_MAX_DELAY_MS", "50"),
        ];
        let get = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let mut c = Config::default();
        c.apply_env_with(get).unwrap();
        assert_eq!(c.dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.sample_rate, 0.25);
        assert_eq!(c.durability, Durability::EveryEvent);
        assert_eq!(c.queue_full, QueueFullPolicy::Block);
        assert!(!c.capture.thinking && c.capture.messages);
        assert_eq!(c.redact_patterns, vec!["acme-[0-9]+", "x"]);
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:4318/"));
        assert_eq!(c.api_key.as_deref(), Some("k1"));
        assert!(!c.write_file);
        assert_eq!(c.http_max_delay, Duration::from_millis(50));
        let e = Config::default()
            .apply_env_with(|k| (k == "LOUPE_ENDPOINT").then(|| "https://x".to_owned()))
            .unwrap_err();
        assert!(e.reason.contains("http://"), "{e}");

        let e = Config::default()
            .apply_env_with(|k| (k == "LOUPE_SAMPLE_RATE").then(|| "2".to_owned()))
            .unwrap_err();
        assert!(e.to_string().starts_with("LOUPE_SAMPLE_RATE=\"2\""), "{e}");
    }

    #[test]
    fn toml_file_sets_fields_and_errors_carry_the_line() {
        let mut c = Config::default();
        c.apply_toml(
            "dir = \"t\"\nflush_interval_ms = 20\ncapture_tool_results = false\nqueue_full = \"block\"\n",
            "loupe.toml",
        )
        .unwrap();
        assert_eq!(c.dir, PathBuf::from("t"));
        assert_eq!(c.flush_interval, Duration::from_millis(20));
        assert!(!c.capture.tool_results);
        assert_eq!(c.queue_full, QueueFullPolicy::Block);
        c.apply_toml(
            "endpoint = \"http://collector:4318\"\nhttp_batch_size = 10\nhttp_shutdown_timeout_ms = 500\n",
            "loupe.toml",
        )
        .unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(c.http_batch_size, 10);
        assert_eq!(c.http_shutdown_timeout, Duration::from_millis(500));

        let e = Config::default()
            .apply_toml("enabled = true\nbuffer_size = \"big\"\n", "loupe.toml")
            .unwrap_err();
        assert_eq!(e.origin, "loupe.toml:2");
        let e = Config::default()
            .apply_toml("colour = 1\n", "loupe.toml")
            .unwrap_err();
        assert!(e.reason.contains("colour"), "{e}");
    }
}
