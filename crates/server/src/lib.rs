//! A local Genesis DB v1-compatible server, for development and tests.
//!
//! ```no_run
//! # async fn demo() -> Result<(), genesisdb_server::ServerError> {
//! let server = genesisdb_server::start(genesisdb_server::ServerConfig {
//!     port: 0,
//!     token: "secret".into(),
//!     ..Default::default()
//! })
//! .await?;
//! println!("listening on {}", server.url());
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod error;
mod event;
mod http;
mod persist;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::Uri;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

pub use error::{ServerError, ServerErrorKind};
pub use event::MAX_EVENT_BYTES;
pub use http::MAX_BODY_BYTES;

/// How to run the server. `Debug` never shows the token.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on; default `127.0.0.1`.
    pub host: String,
    /// Port; `0` picks a free one.
    pub port: u16,
    /// The bearer token every route but ping requires; default `secret`.
    pub token: String,
    /// Keep events in this directory (append-only log); `None` = in memory.
    pub data_dir: Option<PathBuf>,
    /// Observe heartbeat interval; default 1 s.
    pub heartbeat: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("token", &"***")
            .field("data_dir", &self.data_dir)
            .field("heartbeat", &self.heartbeat)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_string(),
            port: 0,
            token: "secret".to_string(),
            data_dir: None,
            heartbeat: Duration::from_secs(1),
        }
    }
}

/// A running server; stop it with [`RunningServer::shutdown`].
pub struct RunningServer {
    addr: SocketAddr,
    cancel: CancellationToken,
    tracker: TaskTracker,
    accept: Option<JoinHandle<()>>,
    observers: Arc<AtomicUsize>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Number of observe responses currently open (a diagnostic: it drops
    /// back once a client closes its connection and the next write fails).
    pub fn open_observers(&self) -> usize {
        self.observers.load(Ordering::SeqCst)
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting and drops every open connection (observe included),
    /// like a killed process. Acknowledged commits are already durable.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(a) = self.accept.take() {
            let _ = a.await;
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Dropped without `shutdown()`: still stop serving.
        self.cancel.cancel();
    }
}

/// `//api/v1/x` is served like `/api/v1/x`.
fn normalize_path(req: &mut Request<Incoming>) {
    let path = req.uri().path();
    if !path.starts_with("//") {
        return;
    }
    let trimmed = format!("/{}", path.trim_start_matches('/'));
    let pq = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed,
    };
    let mut parts = req.uri().clone().into_parts();
    if let Ok(p) = pq.parse() {
        parts.path_and_query = Some(p);
        if let Ok(u) = Uri::from_parts(parts) {
            *req.uri_mut() = u;
        }
    }
}

/// Binds, replays the data directory if any, and serves on the current tokio
/// runtime. Returns once listening.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    let store = match &config.data_dir {
        Some(dir) => {
            let dir = dir.clone();
            let (log, events) = tokio::task::spawn_blocking(move || persist::open(&dir))
                .await
                .map_err(|e| {
                    ServerError::io(
                        config
                            .data_dir
                            .as_deref()
                            .unwrap_or(std::path::Path::new(".")),
                        "open",
                        &std::io::Error::other(e.to_string()),
                    )
                })??;
            store::Store::with(events, Some(log))
        }
        None => store::Store::memory(),
    };
    let addr_text = format!("{}:{}", config.host, config.port);
    // A fixed port that is busy only for a moment (a restart while a child
    // process forked by this one still holds the old socket) is retried.
    let mut attempts = 0;
    let listener = loop {
        match TcpListener::bind((config.host.as_str(), config.port)).await {
            Ok(l) => break l,
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && config.port != 0
                    && attempts < 25 =>
            {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(ServerError::bind(&addr_text, &e)),
        }
    };
    let addr = listener
        .local_addr()
        .map_err(|e| ServerError::bind(&addr_text, &e))?;
    let observers = Arc::new(AtomicUsize::new(0));
    let state = Arc::new(http::AppState {
        observers: observers.clone(),
        store: Arc::new(store),
        token_hash: http::token_hash(&config.token),
        heartbeat: if config.heartbeat.is_zero() {
            Duration::from_millis(1)
        } else {
            config.heartbeat
        },
    });
    let router = http::router(state);
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let accept = {
        let cancel = cancel.clone();
        let tracker = tracker.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = cancel.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                let cancel = cancel.clone();
                tracker.spawn(async move {
                    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                        normalize_path(&mut req);
                        router.clone().oneshot(req.map(axum::body::Body::new))
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::select! {
                        r = conn => {
                            if let Err(e) = r {
                                tracing::debug!("connection ended: {e}");
                            }
                        }
                        _ = cancel.cancelled() => {}
                    }
                });
            }
        })
    };
    Ok(RunningServer {
        addr,
        cancel,
        tracker,
        accept: Some(accept),
        observers,
    })
}

#[cfg(test)]
mod tests {
    use super::ServerConfig;

    #[test]
    fn debug_never_shows_the_token() {
        let config = ServerConfig {
            token: "tok-Sekr3t-debug".into(),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("Sekr3t"), "{shown}");
        assert!(shown.contains("127.0.0.1"), "{shown}");
    }
}
