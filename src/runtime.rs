//! One tokio runtime per process, rebuilt in a child after `os.fork()`.
//!
//! pyo3-async-runtimes' global tokio runtime cannot be replaced once built, and tokio does not
//! survive `fork()` (the worker threads are not copied). So the extension keeps its own runtime,
//! keyed by the process id. Futures reach asyncio through the completion queue of
//! `crate::bridge`; loops that cannot watch a socket use `pyo3_async_runtimes::generic` with
//! a runtime type that spawns onto this runtime.
use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3_async_runtimes::generic::{self, ContextExt, Runtime as GenericRuntime};
use pyo3_async_runtimes::TaskLocals;
use tokio::runtime::{Builder, Runtime};

/// (pid, runtime). Runtimes are leaked on purpose: a runtime copied into a forked child must
/// never be dropped there (its threads do not exist), and the parent's lives for the process.
static RUNTIME: Mutex<Option<(u32, &'static Runtime)>> = Mutex::new(None);

/// The runtime of the current process, built on first use (and again after a fork).
pub fn runtime() -> PyResult<&'static Runtime> {
    let pid = std::process::id();
    let mut guard = RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((owner, rt)) = *guard {
        if owner == pid {
            return Ok(rt);
        }
    }
    let rt = Builder::new_multi_thread()
        .enable_all()
        .thread_name("genesisdb-worker")
        .build()
        .map_err(|e| {
            pyo3::exceptions::PyRuntimeError::new_err(format!(
                "genesisdb: cannot start the tokio runtime: {e}"
            ))
        })?;
    let rt: &'static Runtime = Box::leak(Box::new(rt));
    *guard = Some((pid, rt));
    Ok(rt)
}

/// Diagnostics of the extension's tokio runtime (built on first use):
/// ``{"alive_tasks": int, "workers": int}``. ``alive_tasks`` counts the tasks not yet
/// finished, the in-process ``LocalServer``'s included; it returns to its baseline once
/// streams are closed or cancelled.
#[pyfunction]
pub fn runtime_stats(py: Python<'_>) -> PyResult<Bound<'_, pyo3::types::PyDict>> {
    let metrics = runtime()?.metrics();
    let stats = pyo3::types::PyDict::new(py);
    stats.set_item("alive_tasks", metrics.num_alive_tasks())?;
    stats.set_item("workers", metrics.num_workers())?;
    Ok(stats)
}

/// False once the interpreter started to exit (set from an `atexit` hook). After that no
/// tokio thread may attach to the interpreter: attaching during finalization aborts CPython.
static PY_ALIVE: AtomicBool = AtomicBool::new(true);

/// Rust threads currently inside (or about to enter) the interpreter.
static ATTACHING: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` (which attaches to the interpreter) unless the interpreter is exiting.
/// Returns None when skipped.
pub fn while_python_alive<R>(f: impl FnOnce() -> R) -> Option<R> {
    ATTACHING.fetch_add(1, Ordering::SeqCst);
    let result = if PY_ALIVE.load(Ordering::SeqCst) {
        Some(f())
    } else {
        None
    };
    ATTACHING.fetch_sub(1, Ordering::SeqCst);
    result
}

/// Called from `atexit`, before finalization: from now on Rust threads leave the interpreter
/// alone, and the threads already inside get (up to 2 s) to leave. A foreign thread still
/// attached when CPython finalizes would abort the process.
#[pyfunction]
pub fn _interpreter_exiting(py: Python<'_>) {
    PY_ALIVE.store(false, Ordering::SeqCst);
    py.detach(|| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while ATTACHING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
}

/// The runtime type handed to pyo3-async-runtimes' generic bridge.
pub struct PidRuntime;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

/// A join handle that is either a real tokio one or an already-failed spawn.
pub enum Join {
    Task(tokio::task::JoinHandle<()>),
    Failed,
}

/// The error type of [`Join`].
pub struct JoinErr(Option<tokio::task::JoinError>);

impl generic::JoinError for JoinErr {
    fn is_panic(&self) -> bool {
        self.0.as_ref().is_some_and(|e| e.is_panic())
    }
    fn into_panic(self) -> Box<dyn std::any::Any + Send + 'static> {
        match self.0 {
            Some(e) if e.is_panic() => e.into_panic(),
            _ => Box::new("task failed"),
        }
    }
}

impl Future for Join {
    type Output = Result<(), JoinErr>;
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        match self.get_mut() {
            Join::Task(handle) => Pin::new(handle)
                .poll(cx)
                .map(|r| r.map_err(|e| JoinErr(Some(e)))),
            Join::Failed => std::task::Poll::Ready(Err(JoinErr(None))),
        }
    }
}

impl GenericRuntime for PidRuntime {
    type JoinError = JoinErr;
    type JoinHandle = Join;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match runtime() {
            Ok(rt) => Join::Task(rt.spawn(fut)),
            Err(_) => Join::Failed,
        }
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        // The bridge only spawns blocking closures that attach to the interpreter (to set an
        // asyncio future's result); skip them once the interpreter is exiting.
        match runtime() {
            Ok(rt) => Join::Task(rt.spawn_blocking(move || {
                let _ = while_python_alive(f);
            })),
            Err(_) => Join::Failed,
        }
    }
}

impl ContextExt for PidRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}

/// Turns a Rust future into an asyncio awaitable running on this process's runtime, through
/// the loop-thread completion queue of `crate::bridge`. Cancelling the Python future drops the
/// Rust future (closing its connection).
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    // Build (or rebuild after fork) the runtime before the bridge needs it, so a failure is an
    // exception here rather than a silently dropped task.
    let rt = runtime()?;
    match crate::bridge::spawn_awaitable(py, rt, fut)? {
        Ok(awaitable) => Ok(awaitable),
        // a loop that cannot watch a socket: the generic bridge
        Err(fut) => generic::future_into_py::<PidRuntime, F, T>(py, fut),
    }
}
