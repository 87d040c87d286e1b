//! `LocalServer`: the embedded Genesis DB v1 server, started in-process.
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use genesisdb_server::{RunningServer, ServerConfig};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::runtime::runtime;

/// An in-process local server (use ``genesisdb.testing.local_server``).
#[pyclass(frozen, module = "genesisdb._native", name = "LocalServer")]
pub struct LocalServer {
    host: String,
    token: String,
    data_dir: Option<PathBuf>,
    heartbeat: Duration,
    /// Mirrors of the state for lock-free getters.
    port: AtomicU16,
    serving: AtomicBool,
    state: Mutex<State>,
}

struct State {
    port: u16,
    running: Option<RunningServer>,
    pid: u32,
}

/// The runtime, for a `block_on` from this thread. Tokio panics on a `block_on` made on one
/// of its own threads, where Python code runs too (e.g. a `logging` handler receiving a Rust
/// log record): refuse that with an exception instead.
fn blocking_runtime(what: &str) -> PyResult<&'static tokio::runtime::Runtime> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(PyRuntimeError::new_err(format!(
            "LocalServer.{what}() cannot run on a genesisdb runtime thread (e.g. inside a \
             logging handler called for a genesisdb log record); call it from a Python thread"
        )));
    }
    runtime()
}

#[pymethods]
impl LocalServer {
    #[new]
    #[pyo3(signature = (token, host=None, port=0, data_dir=None, heartbeat=1.0))]
    fn new(
        token: String,
        host: Option<String>,
        port: u16,
        data_dir: Option<PathBuf>,
        heartbeat: f64,
    ) -> PyResult<Self> {
        if token.is_empty() {
            return Err(PyValueError::new_err("token must not be empty"));
        }
        if !(heartbeat.is_finite() && heartbeat > 0.0) {
            return Err(PyValueError::new_err(
                "heartbeat must be a positive number of seconds",
            ));
        }
        let heartbeat = Duration::try_from_secs_f64(heartbeat)
            .map_err(|e| PyValueError::new_err(format!("heartbeat: {e}")))?;
        Ok(LocalServer {
            host: host.unwrap_or_else(|| "127.0.0.1".to_string()),
            token,
            data_dir,
            heartbeat,
            port: AtomicU16::new(port),
            serving: AtomicBool::new(false),
            state: Mutex::new(State {
                port,
                running: None,
                pid: std::process::id(),
            }),
        })
    }

    /// Starts serving (on the last port once it was started). Returns the URL.
    fn start(&self, py: Python<'_>) -> PyResult<String> {
        // Everything, the state lock included, runs detached from the interpreter: the server
        // may log (which attaches), and a thread waiting for the lock must not hold the GIL.
        py.detach(|| {
            let mut state = self
                .state
                .lock()
                .map_err(|_| PyRuntimeError::new_err("server state poisoned"))?;
            if let Some(r) = state.running.as_ref() {
                return Ok(r.url());
            }
            let config = ServerConfig {
                host: self.host.clone(),
                port: state.port,
                token: self.token.clone(),
                data_dir: self.data_dir.clone(),
                heartbeat: self.heartbeat,
            };
            let rt = blocking_runtime("start")?;
            let running = rt
                .block_on(genesisdb_server::start(config))
                .map_err(|e| PyOSError::new_err(e.to_string()))?;
            state.port = running.local_addr().port();
            state.pid = std::process::id();
            self.port.store(state.port, Ordering::SeqCst);
            self.serving.store(true, Ordering::SeqCst);
            let url = running.url();
            state.running = Some(running);
            Ok(url)
        })
    }

    /// Stops serving and drops every open connection (idempotent).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| {
            let mut state = self
                .state
                .lock()
                .map_err(|_| PyRuntimeError::new_err("server state poisoned"))?;
            self.serving.store(false, Ordering::SeqCst);
            let Some(running) = state.running.take() else {
                return Ok(());
            };
            if state.pid != std::process::id() {
                // Inherited through fork: the serving threads are not in this process.
                std::mem::forget(running);
                return Ok(());
            }
            let rt = match blocking_runtime("stop") {
                Ok(rt) => rt,
                Err(e) => {
                    state.running = Some(running);
                    self.serving.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            };
            rt.block_on(running.shutdown());
            Ok(())
        })
    }

    /// Observe responses currently open on the server (a diagnostic; 0 when stopped). It drops
    /// back once a client closed its connection and the server's next write failed.
    fn open_observers(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| {
            let state = self
                .state
                .lock()
                .map_err(|_| PyRuntimeError::new_err("server state poisoned"))?;
            Ok(state
                .running
                .as_ref()
                .map_or(0, RunningServer::open_observers))
        })
    }

    /// True while serving.
    #[getter]
    fn running(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }

    /// The port (the chosen one once started).
    #[getter]
    fn port(&self) -> u16 {
        self.port.load(Ordering::SeqCst)
    }

    /// The host it listens on.
    #[getter]
    fn host(&self) -> &str {
        &self.host
    }

    /// ``http://HOST:PORT``.
    #[getter]
    fn url(&self) -> String {
        let port = self.port();
        if self.host.contains(':') {
            format!("http://[{}]:{port}", self.host)
        } else {
            format!("http://{}:{port}", self.host)
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "LocalServer(url={:?}, running={})",
            self.url(),
            self.running()
        )
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Ok(state) = self.state.get_mut() {
            if state.pid != std::process::id() {
                if let Some(r) = state.running.take() {
                    std::mem::forget(r);
                }
            }
            // Otherwise RunningServer's own Drop cancels serving.
        }
    }
}
