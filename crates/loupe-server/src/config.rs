//! Server configuration: where to listen, who may write and read, and the
//! limits that keep memory bounded under load.

use std::net::SocketAddr;
use std::time::Duration;

use loupe_analyze::AnalysisConfig;

/// The OTLP/HTTP default port on loopback, so an OpenTelemetry SDK's default
/// exporter reaches the server with no configuration.
pub const DEFAULT_BIND: &str = "127.0.0.1:4318";

/// Environment variables holding API keys (comma-separated lists).
pub mod env {
    /// Keys accepted for both ingest and read.
    pub const API_KEY: &str = "LOUPE_API_KEY";
    /// Keys accepted for ingest only.
    pub const INGEST_KEY: &str = "LOUPE_INGEST_KEY";
    /// Keys accepted for reading only.
    pub const READ_KEY: &str = "LOUPE_READ_KEY";
}

/// Everything `loupe serve` can be told.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Bearer keys that may ingest. Empty: ingest is open (loopback only).
    pub ingest_keys: Vec<String>,
    /// Bearer keys that may read (API, live stream, web viewer, metrics).
    /// Empty: reading is open (loopback only).
    pub read_keys: Vec<String>,
    /// Events accepted but not yet stored, at most; beyond it ingest answers
    /// 429 with `Retry-After` instead of growing memory.
    pub queue_events: usize,
    /// Largest request body as sent (possibly gzip-compressed).
    pub max_body_bytes: usize,
    /// Largest request body after decompression (guards against gzip bombs).
    pub max_decoded_bytes: usize,
    /// Most events the writer commits in one transaction.
    pub max_commit_events: usize,
    /// HTTP worker threads.
    pub worker_threads: usize,
    /// Shortest time between two summaries of the same live session.
    pub summary_interval: Duration,
    /// Retention applied on a schedule, if any.
    pub retention: Option<Retention>,
    /// How the summariser analyses sessions (prices, thresholds, score).
    pub analysis: AnalysisConfig,
}

/// Retention run by the server on a schedule (the policy of `loupe prune`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retention {
    /// Delete sessions that started longer ago than this.
    pub max_age_ms: Option<f64>,
    /// Keep at most this many sessions (the newest).
    pub max_count: Option<usize>,
    /// How often to apply it.
    pub every: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 4318)),
            ingest_keys: Vec::new(),
            read_keys: Vec::new(),
            queue_events: 262_144,
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 128 << 20,
            max_commit_events: 50_000,
            worker_threads: 2,
            summary_interval: Duration::from_secs(1),
            retention: None,
            analysis: AnalysisConfig::default(),
        }
    }
}

/// A configuration the server refuses to run with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Listening beyond loopback without keys would expose every trace.
    #[error(
        "refusing to listen on {addr} without API keys: off loopback both ingest and read need a key \
         (set {api} or --api-key; or {ingest} and {read} separately), or bind 127.0.0.1",
        api = env::API_KEY,
        ingest = env::INGEST_KEY,
        read = env::READ_KEY
    )]
    KeysRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A limit is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
}

impl ServerConfig {
    /// Adds the keys named by the `LOUPE_*_KEY` environment variables.
    pub fn with_env_keys(mut self) -> Self {
        let list = |name: &str| -> Vec<String> {
            std::env::var(name)
                .ok()
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let both = list(env::API_KEY);
        self.ingest_keys.extend(both.iter().cloned());
        self.read_keys.extend(both);
        self.ingest_keys.extend(list(env::INGEST_KEY));
        self.read_keys.extend(list(env::READ_KEY));
        self
    }

    /// Checks the configuration for the address actually bound.
    pub fn check(&self, addr: SocketAddr) -> Result<(), ConfigError> {
        if !addr.ip().is_loopback() && (self.ingest_keys.is_empty() || self.read_keys.is_empty()) {
            return Err(ConfigError::KeysRequired { addr });
        }
        for (value, name) in [
            (self.queue_events, "queue_events"),
            (self.max_body_bytes, "max_body_bytes"),
            (self.max_decoded_bytes, "max_decoded_bytes"),
            (self.max_commit_events, "max_commit_events"),
            (self.worker_threads, "worker_threads"),
        ] {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_required_off_loopback_only() {
        let config = ServerConfig::default();
        assert!(config.check("127.0.0.1:4318".parse().unwrap()).is_ok());
        assert!(config.check("[::1]:4318".parse().unwrap()).is_ok());
        let err = config.check("0.0.0.0:4318".parse().unwrap()).unwrap_err();
        assert!(err.to_string().contains("LOUPE_API_KEY"), "{err}");
        let keyed = ServerConfig {
            ingest_keys: vec!["i".into()],
            read_keys: vec!["r".into()],
            ..ServerConfig::default()
        };
        assert!(keyed.check("0.0.0.0:4318".parse().unwrap()).is_ok());
    }
}
