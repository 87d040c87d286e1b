//! Two ways to await a tokio task from asyncio, for `bench.py`:
//!
//! * `noop_fip()`: `pyo3_async_runtimes::tokio::future_into_py` (what `src/runtime.rs` uses):
//!   the task finishes on a tokio worker, a `spawn_blocking` thread takes the GIL and calls
//!   `loop.call_soon_threadsafe(...)`, which writes the loop's self-pipe.
//! * `spawn_noop(id)` + `take()` + `fd()`: the task pushes `(id, result)` on a queue and, if
//!   the queue was empty, writes one byte to a socket the loop watches (`loop.add_reader`);
//!   the loop thread drains the queue and sets the futures. No GIL is taken off the loop
//!   thread and one wake-up serves every completion that is ready.
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, OnceLock};

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

static QUEUE: Mutex<Vec<(u64, u64)>> = Mutex::new(Vec::new());
static PAIR: OnceLock<(UnixStream, UnixStream)> = OnceLock::new();

fn pair() -> PyResult<&'static (UnixStream, UnixStream)> {
    if let Some(p) = PAIR.get() {
        return Ok(p);
    }
    let (a, b) = UnixStream::pair().map_err(|e| PyOSError::new_err(e.to_string()))?;
    a.set_nonblocking(true)
        .and_then(|_| b.set_nonblocking(true))
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    Ok(PAIR.get_or_init(|| (a, b)))
}

fn push(id: u64, value: u64) {
    let mut q = QUEUE.lock().unwrap_or_else(|e| e.into_inner());
    let was_empty = q.is_empty();
    q.push((id, value));
    drop(q);
    if was_empty {
        if let Some((_, w)) = PAIR.get() {
            let _ = (&*w).write(&[1]);
        }
    }
}

/// The file descriptor the event loop watches.
#[pyfunction]
fn fd() -> PyResult<i32> {
    Ok(pair()?.0.as_raw_fd())
}

/// Every completion ready so far (and the wake-up bytes drained).
#[pyfunction]
fn take() -> PyResult<Vec<(u64, u64)>> {
    let mut buf = [0u8; 256];
    let r = &pair()?.0;
    while let Ok(n) = (&*r).read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    Ok(std::mem::take(
        &mut *QUEUE.lock().unwrap_or_else(|e| e.into_inner()),
    ))
}

/// Starts a tokio task that yields once and completes `id` through the queue.
#[pyfunction]
fn spawn_noop(id: u64) {
    pyo3_async_runtimes::tokio::get_runtime().spawn(async move {
        tokio::task::yield_now().await;
        push(id, id);
    });
}

/// The same task awaited through `future_into_py`.
#[pyfunction]
fn noop_fip(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    pyo3_async_runtimes::tokio::future_into_py(py, async move {
        tokio::task::yield_now().await;
        Ok(0u64)
    })
}

#[pymodule]
fn bridge_experiment(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fd, m)?)?;
    m.add_function(wrap_pyfunction!(take, m)?)?;
    m.add_function(wrap_pyfunction!(spawn_noop, m)?)?;
    m.add_function(wrap_pyfunction!(noop_fip, m)?)?;
    Ok(())
}
