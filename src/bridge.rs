//! The awaitable bridge: a completion queue per (process, event loop), drained on the loop's
//! own thread.
//!
//! Every awaitable the extension hands out is a plain asyncio future of the running loop. The
//! Rust future runs as a tokio task that produces Rust values only (no interpreter needed);
//! when it finishes it pushes a conversion closure onto its loop's queue and, when the queue
//! was empty, writes one byte to a socket the loop watches (`loop.add_reader`). The reader
//! runs on the loop thread: it drains every ready completion at once, converts each result to
//! Python objects there and sets the futures. No tokio thread ever attaches to the
//! interpreter on this path, so interpreter exit cannot race with it.
//!
//! Cancelling the asyncio future (or the task awaiting it) aborts the tokio task, which drops
//! the Rust future and closes its connection. Each task pushes exactly one completion, even
//! when it is aborted or panics (a drop guard), so no entry is left behind.
//!
//! One socket pair per (process, loop), registered on first use in that loop. Entries of
//! closed loops are dropped when another loop registers (their sockets are closed, their
//! pending tasks aborted); a closed loop is never called. After `os.fork()` the parent's
//! entries are forgotten untouched (their epoll registrations belong to the parent) and the
//! child registers afresh. Loops without `add_reader` (e.g. Windows' proactor loop) fall back
//! to `pyo3_async_runtimes`' generic bridge.
use std::collections::HashMap;
use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyNotImplementedError, PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::{intern, IntoPyObjectExt};
use tokio::task::AbortHandle;

/// Turns a finished task's Rust result into a Python object (run on the loop thread).
type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The thread-safe half of a loop's bridge: tokio tasks push here and wake the loop.
struct Queue {
    /// `(call id, conversion)`; `None` when the task ended without a result (aborted, panic).
    items: Mutex<Vec<(u64, Option<Convert>)>>,
    /// Write end of the socket pair the loop watches.
    wake: UnixStream,
}

impl Queue {
    fn push(&self, id: u64, item: Option<Convert>) {
        let mut items = lock(&self.items);
        let was_empty = items.is_empty();
        items.push((id, item));
        drop(items);
        if was_empty {
            // One byte per empty -> non-empty transition. WouldBlock means the socket already
            // holds unread bytes, i.e. a wake-up is pending anyway.
            loop {
                match (&self.wake).write(&[1]) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    _ => break,
                }
            }
        }
    }
}

/// Pushes the task's completion exactly once: its result, or `None` if the task is dropped
/// first (aborted by a cancellation, or unwound by a panic).
struct Slot {
    queue: Arc<Queue>,
    id: u64,
    done: bool,
}

impl Slot {
    fn complete(mut self, convert: Convert) {
        self.done = true;
        self.queue.push(self.id, Some(convert));
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.done {
            self.queue.push(self.id, None);
        }
    }
}

/// A call in flight: its asyncio future, the done-callback that aborts the task on
/// cancellation, and the task's abort handle.
struct Pending {
    future: Py<PyAny>,
    on_done: Py<PyAny>,
    abort: AbortHandle,
}

/// One event loop's bridge. Holds Python objects: only dropped with the interpreter attached
/// (from the registry or when the loop releases its reader).
struct LoopBridge {
    queue: Arc<Queue>,
    /// Read end of the socket pair (registered with `loop.add_reader`).
    wakeup: UnixStream,
    pending: Mutex<HashMap<u64, Pending>>,
}

impl LoopBridge {
    /// Runs on the loop thread: sets the result of every call that completed.
    fn drain(&self, py: Python<'_>) {
        // Consume the wake-up bytes BEFORE taking the queue: a push that lands in between
        // writes a new byte (it saw an empty queue) and is served by the next wake-up.
        let mut buf = [0u8; 256];
        loop {
            match (&self.wakeup).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                _ => break,
            }
        }
        let items = std::mem::take(&mut *lock(&self.queue.items));
        for (id, convert) in items {
            let entry = lock(&self.pending).remove(&id);
            if let Some(entry) = entry {
                settle(py, entry, convert);
            }
        }
    }
}

impl Drop for LoopBridge {
    fn drop(&mut self) {
        // The loop is gone: nobody can receive these results any more.
        for p in lock(&self.pending).values() {
            p.abort.abort();
        }
    }
}

/// Sets one future's outcome (unless it was cancelled meanwhile).
fn settle(py: Python<'_>, entry: Pending, convert: Option<Convert>) {
    let future = entry.future.bind(py);
    let done = future
        .call_method0(intern!(py, "done"))
        .and_then(|d| d.is_truthy())
        .unwrap_or(true);
    if done {
        return; // cancelled: the task was aborted by the done-callback
    }
    // Completed normally: the abort callback is not needed (and not worth a loop iteration).
    let _ = future.call_method1(intern!(py, "remove_done_callback"), (&entry.on_done,));
    let result = match convert {
        Some(convert) => catch_unwind(AssertUnwindSafe(|| convert(py))).unwrap_or_else(|_| {
            Err(PyRuntimeError::new_err(
                "genesisdb: internal error while converting a result",
            ))
        }),
        None => Err(PyRuntimeError::new_err(
            "genesisdb: the operation ended without a result (internal error)",
        )),
    };
    let outcome = match result {
        Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
        Err(err) => future.call_method1(intern!(py, "set_exception"), (err.into_value(py),)),
    };
    if let Err(err) = outcome {
        err.write_unraisable(py, Some(future));
    }
}

/// The `add_reader` callback of one loop.
#[pyclass(frozen, module = "genesisdb._native")]
struct Drainer {
    bridge: Arc<LoopBridge>,
}

#[pymethods]
impl Drainer {
    fn __call__(&self, py: Python<'_>) {
        self.bridge.drain(py);
    }
}

/// The done-callback of a call's future: aborts its task (only still attached when the
/// future was cancelled or completed from elsewhere).
#[pyclass(frozen, module = "genesisdb._native")]
struct AbortTask {
    handle: AbortHandle,
}

#[pymethods]
impl AbortTask {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        self.handle.abort();
    }
}

/// A registered loop: its queue bridge, or `None` when it cannot watch a socket.
struct Entry {
    event_loop: Py<PyAny>,
    bridge: Option<Arc<LoopBridge>>,
}

struct Registry {
    pid: u32,
    entries: Vec<Entry>,
}

/// Only touched with the interpreter attached, and never while calling into Python (so a
/// fork cannot copy it locked, and a `__del__` cannot re-enter it).
static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    pid: 0,
    entries: Vec::new(),
});

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

enum Lookup {
    Queue(Arc<LoopBridge>),
    Fallback,
}

fn os_error(e: std::io::Error) -> PyErr {
    PyOSError::new_err(format!(
        "genesisdb: cannot create the event loop's wake-up socket: {e}"
    ))
}

/// The bridge of `event_loop` in this process, registered on first use.
fn bridge_for(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Lookup> {
    {
        let pid = std::process::id();
        let mut registry = lock(&REGISTRY);
        if registry.pid != pid {
            // Inherited through fork: the sockets and loops are the parent's (closing or
            // unregistering them could touch the parent's epoll set). Leave them be.
            std::mem::forget(std::mem::take(&mut registry.entries));
            registry.pid = pid;
        }
        if let Some(entry) = registry
            .entries
            .iter()
            .find(|e| e.event_loop.as_ptr() == event_loop.as_ptr())
        {
            return Ok(match &entry.bridge {
                Some(bridge) => Lookup::Queue(Arc::clone(bridge)),
                None => Lookup::Fallback,
            });
        }
    }
    prune_closed(py);
    let entry = register(py, event_loop)?;
    let lookup = match &entry.bridge {
        Some(bridge) => Lookup::Queue(Arc::clone(bridge)),
        None => Lookup::Fallback,
    };
    lock(&REGISTRY).entries.push(entry);
    Ok(lookup)
}

/// Drops the entries of closed loops (their sockets close, their pending tasks are aborted).
fn prune_closed(py: Python<'_>) {
    let loops: Vec<Py<PyAny>> = lock(&REGISTRY)
        .entries
        .iter()
        .map(|e| e.event_loop.clone_ref(py))
        .collect();
    let closed: Vec<usize> = loops
        .iter()
        .filter(|l| {
            l.bind(py)
                .call_method0(intern!(py, "is_closed"))
                .and_then(|c| c.is_truthy())
                .unwrap_or(false)
        })
        .map(|l| l.as_ptr() as usize)
        .collect();
    if closed.is_empty() {
        return;
    }
    let removed: Vec<Entry> = {
        let mut registry = lock(&REGISTRY);
        let (gone, kept) = std::mem::take(&mut registry.entries)
            .into_iter()
            .partition(|e| closed.contains(&(e.event_loop.as_ptr() as usize)));
        registry.entries = kept;
        gone
    };
    // dropped here, outside the lock (may run Python finalizers)
    drop(removed);
    drop(loops);
}

/// Creates the socket pair of `event_loop` and registers its reader.
fn register(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Entry> {
    let (wakeup, wake) = UnixStream::pair().map_err(os_error)?;
    wakeup.set_nonblocking(true).map_err(os_error)?;
    wake.set_nonblocking(true).map_err(os_error)?;
    let bridge = Arc::new(LoopBridge {
        queue: Arc::new(Queue {
            items: Mutex::new(Vec::new()),
            wake,
        }),
        wakeup,
        pending: Mutex::new(HashMap::new()),
    });
    let fd = bridge.wakeup.as_raw_fd();
    let drainer = Py::new(
        py,
        Drainer {
            bridge: Arc::clone(&bridge),
        },
    )?;
    let event_loop_ref = event_loop.clone().unbind();
    match event_loop.call_method1(intern!(py, "add_reader"), (fd, drainer)) {
        Ok(_) => Ok(Entry {
            event_loop: event_loop_ref,
            bridge: Some(bridge),
        }),
        Err(e) if e.is_instance_of::<PyNotImplementedError>(py) => Ok(Entry {
            event_loop: event_loop_ref,
            bridge: None,
        }),
        Err(e) => Err(e),
    }
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// Runs `fut` on `rt` and returns an asyncio future of the running loop that gets its
/// result (converted on the loop thread). Cancelling the asyncio future aborts the task.
pub fn spawn_awaitable<'py, F, T>(
    py: Python<'py>,
    rt: &'static tokio::runtime::Runtime,
    fut: F,
) -> PyResult<Result<Bound<'py, PyAny>, F>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()?;
    let bridge = match bridge_for(py, &event_loop)? {
        Lookup::Queue(bridge) => bridge,
        Lookup::Fallback => return Ok(Err(fut)),
    };
    let future = event_loop.call_method0(intern!(py, "create_future"))?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let slot = Slot {
        queue: Arc::clone(&bridge.queue),
        id,
        done: false,
    };
    let abort = rt
        .spawn(async move {
            let result = fut.await;
            slot.complete(Box::new(move |py| result.and_then(|v| v.into_py_any(py))));
        })
        .abort_handle();
    // The task cannot be drained before the entry exists: draining runs on this thread.
    let on_done = match Py::new(
        py,
        AbortTask {
            handle: abort.clone(),
        },
    ) {
        Ok(cb) => cb.into_any(),
        Err(e) => {
            abort.abort();
            return Err(e);
        }
    };
    if let Err(e) = future.call_method1(intern!(py, "add_done_callback"), (&on_done,)) {
        abort.abort();
        return Err(e);
    }
    lock(&bridge.pending).insert(
        id,
        Pending {
            future: future.clone().unbind(),
            on_done,
            abort,
        },
    );
    Ok(Ok(future))
}
