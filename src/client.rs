//! `CoreClient`: the native client. Converts arguments, delegates to `genesisdb_core::Client`
//! and hands back asyncio awaitables. No protocol logic lives here.
use std::sync::Arc;
use std::time::Duration;

use genesisdb_core::{Config, ObserveSettings, RetryPolicy};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

use crate::convert::{self, Rows};
use crate::errors::{client_closed, configuration, invalid_type, lift};
use crate::event::Events;
use crate::runtime::while_python_alive;
use crate::runtime::{future_into_py, runtime};
use crate::streams::{EventIter, ObserveIter, RowIter};

fn seconds(name: &str, value: Option<f64>) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 => Duration::try_from_secs_f64(v)
            .map(Some)
            .map_err(|_| configuration(format!("{name} is out of range: {v:?} seconds"))),
        Some(v) => Err(configuration(format!(
            "{name} must be a positive number of seconds, got {v:?}"
        ))),
    }
}

/// A whole-number setting from 0 to `max`; named in the error (a bare `OverflowError` or
/// `TypeError` from argument extraction would not say which setting is wrong).
fn whole(name: &str, value: Option<&Bound<'_, PyAny>>, max: u64) -> PyResult<Option<u64>> {
    let Some(v) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
        return Err(invalid_type(format!(
            "{name} must be an int, got {}",
            convert::type_name(v)
        )));
    }
    match v.extract::<u64>() {
        Ok(n) if n <= max => Ok(Some(n)),
        _ => Err(configuration(format!(
            "{name} must be a whole number from 0 to {max}, got {}",
            v.repr().map(|r| r.to_string()).unwrap_or_default()
        ))),
    }
}

/// The native Genesis DB client (use ``genesisdb.Client``).
#[pyclass(frozen, module = "genesisdb._native", name = "CoreClient")]
pub struct CoreClient {
    inner: genesisdb_core::Client,
    pid: u32,
}

impl CoreClient {
    /// The core client, unless this object was inherited through `os.fork()`.
    fn client(&self) -> PyResult<genesisdb_core::Client> {
        let pid = std::process::id();
        if pid != self.pid {
            return Err(client_closed(format!(
                "this Client was created in process {} and cannot be used in process {pid} \
                 (after os.fork()); create a new Client in this process",
                self.pid
            )));
        }
        Ok(self.inner.clone())
    }
}

#[pymethods]
impl CoreClient {
    #[new]
    #[pyo3(signature = (
        api_url=None, api_version=None, auth_token=None, *,
        timeout=None, connect_timeout=None, observe_idle_timeout=None,
        retries=None, retry_backoff=None, retry_max_backoff=None, retry_max_elapsed=None,
        ca_file=None, user_agent=None, max_line_bytes=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        api_url: Option<String>,
        api_version: Option<String>,
        auth_token: Option<String>,
        timeout: Option<f64>,
        connect_timeout: Option<f64>,
        observe_idle_timeout: Option<f64>,
        retries: Option<&Bound<'_, PyAny>>,
        retry_backoff: Option<f64>,
        retry_max_backoff: Option<f64>,
        retry_max_elapsed: Option<f64>,
        ca_file: Option<std::path::PathBuf>,
        user_agent: Option<String>,
        max_line_bytes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut config: Config = lift(Config::resolve(api_url, api_version, auth_token))?;
        if let Some(d) = seconds("timeout", timeout)? {
            config.request_timeout = d;
        }
        if let Some(d) = seconds("connect_timeout", connect_timeout)? {
            config.connect_timeout = d;
        }
        if let Some(d) = seconds("observe_idle_timeout", observe_idle_timeout)? {
            config.observe_idle_timeout = d;
        }
        let mut retry: RetryPolicy = config.retry.clone();
        if let Some(r) = whole("retries", retries, u64::from(u32::MAX - 1))? {
            retry.max_attempts = u32::try_from(r).unwrap_or(u32::MAX - 1).saturating_add(1);
        }
        if let Some(d) = seconds("retry_backoff", retry_backoff)? {
            retry.initial_backoff = d;
        }
        if let Some(d) = seconds("retry_max_backoff", retry_max_backoff)? {
            retry.max_backoff = d;
        }
        if let Some(d) = seconds("retry_max_elapsed", retry_max_elapsed)? {
            retry.max_elapsed = d;
        }
        config.retry = retry;
        if let Some(path) = ca_file {
            config.ca_file = Some(path);
        }
        if let Some(ua) = user_agent {
            config.user_agent = ua;
        }
        let max_bytes = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        if let Some(n) = whole("max_line_bytes", max_line_bytes, max_bytes)? {
            config.max_line_bytes = usize::try_from(n).unwrap_or(usize::MAX);
        }
        lift(config.validate())?;
        let rt = runtime()?;
        let _guard = rt.enter();
        let inner = lift(genesisdb_core::Client::new(config))?;
        Ok(CoreClient {
            inner,
            pid: std::process::id(),
        })
    }

    /// The API base URL (never includes the token).
    #[getter]
    fn api_url(&self) -> &str {
        &self.inner.config().api_url
    }

    /// The API version path segment, e.g. ``v1``.
    #[getter]
    fn api_version(&self) -> &str {
        &self.inner.config().api_version
    }

    /// The effective settings (timeouts in seconds); never the token.
    fn settings(&self) -> Vec<(&'static str, String)> {
        let c = self.inner.config();
        vec![
            ("api_url", c.api_url.clone()),
            ("api_version", c.api_version.clone()),
            ("user_agent", c.user_agent.clone()),
            ("timeout", c.request_timeout.as_secs_f64().to_string()),
            (
                "connect_timeout",
                c.connect_timeout.as_secs_f64().to_string(),
            ),
            (
                "observe_idle_timeout",
                c.observe_idle_timeout.as_secs_f64().to_string(),
            ),
            (
                "retries",
                c.retry.max_attempts.saturating_sub(1).to_string(),
            ),
        ]
    }

    /// True once ``close()`` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Closes the client: in-flight calls and streams fail with ``ClientClosedError``.
    fn close(&self) {
        self.inner.close();
    }

    /// Awaitable: ``GET status/ping`` -> str.
    fn ping<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client()?;
        future_into_py(py, async move { lift(c.ping().await) })
    }

    /// Awaitable: ``GET status/audit`` -> str.
    fn audit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client()?;
        future_into_py(py, async move { lift(c.audit().await) })
    }

    /// Awaitable: every event of ``subject`` (recursive) as a list of ``Event``.
    #[pyo3(signature = (subject, options=None))]
    fn stream_events<'py>(
        &self,
        py: Python<'py>,
        subject: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subject = convert::subject_arg(subject)?;
        let opts = convert::stream_options(options)?;
        let c = self.client()?;
        future_into_py(py, async move {
            lift(c.stream_events(&subject, &opts).await).map(Events)
        })
    }

    /// Awaitable: an ``EventIter`` over the events of ``subject``.
    #[pyo3(signature = (subject, options=None))]
    fn iter_events<'py>(
        &self,
        py: Python<'py>,
        subject: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subject = convert::subject_arg(subject)?;
        let opts = convert::stream_options(options)?;
        let c = self.client()?;
        future_into_py(py, async move {
            lift(c.iter_events(&subject, &opts).await).map(EventIter::new)
        })
    }

    /// Awaitable: commits ``events`` atomically (validated before anything is sent).
    #[pyo3(signature = (events, preconditions=None))]
    fn commit_events<'py>(
        &self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
        preconditions: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let events = convert::commit_events(events)?;
        let pre = convert::preconditions(preconditions)?;
        let c = self.client()?;
        future_into_py(
            py,
            async move { lift(c.commit_events(&events, &pre).await) },
        )
    }

    /// Awaitable: erases the by-reference payloads of ``subject`` (recursive).
    fn erase_data<'py>(
        &self,
        py: Python<'py>,
        subject: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subject = convert::subject_arg(subject)?;
        lift(genesisdb_core::validate_subject(&subject))?;
        let c = self.client()?;
        future_into_py(py, async move { lift(c.erase_data(&subject).await) })
    }

    /// Awaitable: the rows of a GDBQL query as a list.
    fn query<'py>(&self, py: Python<'py>, query: String) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client()?;
        future_into_py(py, async move { lift(c.query(&query).await).map(Rows) })
    }

    /// Awaitable: a ``RowIter`` over the rows of a GDBQL query.
    fn iter_query<'py>(&self, py: Python<'py>, query: String) -> PyResult<Bound<'py, PyAny>> {
        let c = self.client()?;
        future_into_py(py, async move {
            lift(c.iter_query(&query).await).map(RowIter::new)
        })
    }

    /// Awaitable: an ``ObserveIter`` for a live observe of ``subject``.
    ///
    /// ``notify(attempt, last_event_id, reason)`` is called (from a helper thread, with the
    /// interpreter attached) before every reconnection attempt.
    #[pyo3(signature = (subject, options=None, reconnect=true, max_reconnects=None, notify=None))]
    fn observe_events<'py>(
        &self,
        py: Python<'py>,
        subject: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyAny>>,
        reconnect: bool,
        max_reconnects: Option<u32>,
        notify: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let subject = convert::subject_arg(subject)?;
        let opts = convert::stream_options(options)?;
        let c = self.client()?;
        let on_reconnect: Option<genesisdb_core::observe::ReconnectCallback> =
            notify.map(|notify| {
                let notify = Arc::new(notify);
                let callback: genesisdb_core::observe::ReconnectCallback =
                    Arc::new(move |info: &genesisdb_core::ReconnectInfo| {
                        let notify = Arc::clone(&notify);
                        let info = info.clone();
                        // Never attach to the interpreter on a tokio worker: hand the call to
                        // a blocking thread.
                        let job = move || {
                            let _ = while_python_alive(|| {
                                Python::attach(|py| {
                                    let args = (info.attempt, info.last_event_id, info.reason);
                                    if let Err(e) = notify.call1(py, args) {
                                        e.write_unraisable(py, None);
                                    }
                                })
                            });
                        };
                        match tokio::runtime::Handle::try_current() {
                            Ok(handle) => {
                                handle.spawn_blocking(job);
                            }
                            Err(_) => job(),
                        }
                    });
                callback
            });
        let settings = ObserveSettings {
            reconnect,
            max_reconnects,
            on_reconnect,
        };
        future_into_py(py, async move {
            lift(c.observe_events(&subject, &opts, settings).await).map(ObserveIter::new)
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "CoreClient(api_url={:?}, api_version={:?})",
            self.inner.config().api_url,
            self.inner.config().api_version
        )
    }
}

impl Drop for CoreClient {
    fn drop(&mut self) {
        // Only in the process that made it: in a forked child the parent's runtime is gone.
        if std::process::id() == self.pid {
            self.inner.close();
        }
    }
}
