//! `loupe serve [--db FILE] [--bind 127.0.0.1:4318]`: run the ingestion
//! server, REST API, live stream and web viewer (loupe-server) over the
//! embedded store until Ctrl-C, then stop gracefully (everything
//! acknowledged is stored, pending summaries are refreshed).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use loupe_model::parse_duration_ms;
use loupe_server::config::{Retention, DEFAULT_BIND};
use loupe_server::{ServerConfig, ServerHandle};
use loupe_store::DEFAULT_DB_PATH;

use super::diag;

/// Arguments of `loupe serve`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The store (created if missing).
    #[arg(long, value_name = "FILE|URL", default_value = DEFAULT_DB_PATH, env = "LOUPE_DB", help = super::DB_HELP)]
    db: PathBuf,
    /// Address to listen on. Off loopback, API keys are required.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_BIND)]
    bind: SocketAddr,
    /// A key accepted for ingest and read (repeatable; also LOUPE_API_KEY, comma-separated).
    #[arg(long = "api-key", value_name = "KEY")]
    api_keys: Vec<String>,
    /// A key accepted for ingest only (repeatable; also LOUPE_INGEST_KEY).
    #[arg(long = "ingest-key", value_name = "KEY")]
    ingest_keys: Vec<String>,
    /// A key accepted for reading only (repeatable; also LOUPE_READ_KEY).
    #[arg(long = "read-key", value_name = "KEY")]
    read_keys: Vec<String>,
    /// Events accepted but not yet stored, at most; beyond it ingest answers 429.
    #[arg(long, value_name = "N", value_parser = at_least_one, default_value_t = ServerConfig::default().queue_events)]
    queue_events: usize,
    /// Largest request body in MiB (as sent, possibly gzip-compressed).
    #[arg(long, value_name = "MIB", value_parser = at_least_one, default_value_t = 32)]
    max_body_mib: usize,
    /// Scheduled retention: delete sessions older than this (e.g. 30d).
    #[arg(long, value_parser = parse_duration_ms, value_name = "AGE")]
    max_age: Option<f64>,
    /// Scheduled retention: keep at most this many sessions.
    #[arg(long, value_name = "N")]
    max_count: Option<usize>,
    /// How often scheduled retention runs.
    #[arg(long, value_parser = parse_duration_ms, value_name = "INTERVAL", default_value = "1h")]
    prune_every: f64,
    /// HTTP worker threads.
    #[arg(long, value_name = "N", value_parser = at_least_one, default_value_t = 2)]
    workers: usize,
}

/// A count that must be at least 1 (a usage error otherwise, naming the flag).
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A server whose SQLite store cannot be written would answer every agent
/// with "retry later" for ever: refused at start instead. SQLite writes the
/// file and, beside it, its `-wal` and `-shm` files.
fn check_writable(db: &std::path::Path) -> anyhow::Result<()> {
    let cannot = |what: &std::path::Path| {
        format!(
            "{}: cannot be written; `loupe serve` stores what agents send (pick another --db)",
            what.display()
        )
    };
    std::fs::OpenOptions::new()
        .append(true)
        .open(db)
        .with_context(|| cannot(db))?;
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let probe = dir.join(format!(".loupe-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| cannot(dir))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    if super::clickhouse_target(&args.db).is_none() {
        if let Some(dir) = args.db.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create directory", dir.display()))?;
        }
    }
    let store: Arc<dyn loupe_store::Store> = Arc::from(super::open_any_store(&args.db)?);
    if super::clickhouse_target(&args.db).is_none() {
        check_writable(&args.db)?;
    }
    let mut config = ServerConfig {
        bind: args.bind,
        queue_events: args.queue_events,
        max_body_bytes: args.max_body_mib.saturating_mul(1 << 20),
        worker_threads: args.workers,
        retention: (args.max_age.is_some() || args.max_count.is_some()).then(|| Retention {
            max_age_ms: args.max_age,
            max_count: args.max_count,
            every: Duration::from_millis(args.prune_every.max(1_000.0) as u64),
        }),
        ..ServerConfig::default()
    }
    .with_env_keys();
    config.ingest_keys.extend(args.api_keys.iter().cloned());
    config.read_keys.extend(args.api_keys);
    config.ingest_keys.extend(args.ingest_keys);
    config.read_keys.extend(args.read_keys);
    let server = ServerHandle::start(config, store)?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    // Ctrl-C, and SIGTERM/SIGHUP too (the `termination` feature): systemd,
    // Docker and Kubernetes stop a service with SIGTERM, which must store
    // what was acknowledged and refresh summaries as Ctrl-C does.
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })?;
    diag!(
        "loupe: serving {} on {} (OTLP/HTTP at /v1/traces, web viewer at /); Ctrl-C to stop",
        args.db.display(),
        server.url()
    );
    let _ = stop_rx.recv();
    diag!("loupe: stopping: storing what was acknowledged...");
    server.shutdown()?;
    Ok(ExitCode::SUCCESS)
}
