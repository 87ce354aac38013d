//! `loupe serve`: the team-scale face of Loupe.
//!
//! Agents in any language send traces over OTLP/HTTP (`POST /v1/traces`) or
//! as canonical JSONL (`POST /api/v1/events`); people browse, search and
//! watch them through the REST API, the live stream and the web viewer.
//!
//! Data flows one way: a request is decoded into loupe-model events on the
//! async workers, queued (module `ingest`), appended by one writer thread in
//! group commits, and only then acknowledged ("acknowledged means stored").
//! The writer marks the sessions it touched; the summariser thread
//! (module `summarise`) rebuilds their summary rows with loupe-analyze, at a rate
//! that adapts to how long that takes, and both announce what changed on the
//! live channel (module `live`) that SSE clients and the web viewer follow.
//!
//! Module map:
//! - [`config`]: bind address, keys, limits, retention.
//! - `state`: what every handler shares.
//! - `ingest` / `otlp` / `native`: the write path.
//! - `summarise`: session summaries and scheduled retention.
//! - `api` / `live` / `web`: the read path; `analysis`: full analyses, cached.
//! - `auth` / `metrics`: API keys off loopback, Prometheus `/metrics`.

pub mod config;

mod analysis;
mod api;
mod auth;
mod body;
mod ingest;
mod live;
mod metrics;
mod native;
mod otlp;
mod state;
mod summarise;
mod web;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use loupe_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::{ConfigError, ServerConfig};
pub use live::LiveUpdate;

use state::AppState;

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unsafe or inconsistent.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Binding or serving failed.
    // The I/O error is in the message, so it is not also a `source`.
    #[error("{doing}: {error}")]
    Io {
        /// What the server was doing.
        doing: String,
        /// The I/O error.
        error: std::io::Error,
    },
}

/// Builds the whole HTTP surface over `state`.
fn router(state: AppState) -> Router {
    // The ingest handlers read their bodies under the configured limit
    // themselves (`body::read_limited`, which drains an oversized one); the
    // layer holds any other body extractor to the same limit instead of
    // axum's own 2 MiB default.
    let body_limit = axum::extract::DefaultBodyLimit::max(state.config.max_body_bytes);
    Router::new()
        .merge(otlp::routes())
        .merge(native::routes())
        .merge(api::routes())
        .merge(live::routes())
        .merge(web::routes())
        .merge(metrics::routes())
        .layer(body_limit)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting,
/// lets in-flight requests finish, commits everything queued and refreshes
/// the summaries of the sessions still pending.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener.local_addr().map_err(|error| ServerError::Io {
        doing: "reading the bound address".to_owned(),
        error,
    })?;
    config.check(addr)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (state, background) =
        AppState::start(config, store, stop_rx).map_err(|error| ServerError::Io {
            doing: "starting the writer and summariser threads".to_owned(),
            error,
        })?;
    let app = router(state);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // Ends the live streams, which would otherwise hold the graceful shutdown open.
            let _ = stop_tx.send(true);
        })
        .await
        .map_err(|error| ServerError::Io {
            doing: format!("serving on {addr}"),
            error,
        });
    // The router (and with it every queue sender) is gone: the writer drains and stops.
    tokio::task::spawn_blocking(move || background.join())
        .await
        .ok();
    result
}

/// A server running on its own threads, for tests, the TUI and embedding.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServerError>>>,
}

impl ServerHandle {
    /// Binds `config.bind` and starts serving in the background.
    pub fn start(config: ServerConfig, store: Arc<dyn Store>) -> Result<ServerHandle, ServerError> {
        // Tokio panics on zero workers; say which limit is wrong instead.
        config.check(config.bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .thread_name("loupe-http")
            .enable_all()
            .build()
            .map_err(|error| ServerError::Io {
                doing: "starting the async runtime".to_owned(),
                error,
            })?;
        let bind = config.bind;
        let listener =
            runtime
                .block_on(TcpListener::bind(bind))
                .map_err(|error| ServerError::Io {
                    doing: format!("binding {bind}"),
                    error,
                })?;
        let addr = listener.local_addr().map_err(|error| ServerError::Io {
            doing: "reading the bound address".to_owned(),
            error,
        })?;
        config.check(addr)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("loupe-server".to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, config, store, async move {
                    let _ = stopped.await;
                }))
            })
            .map_err(|error| ServerError::Io {
                doing: "starting the server thread".to_owned(),
                error,
            })?;
        Ok(ServerHandle {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops gracefully and waits: everything acknowledged is stored and
    /// every pending summary refreshed when this returns.
    pub fn shutdown(mut self) -> Result<(), ServerError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}
