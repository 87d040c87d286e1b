//! Batched async iterators: each `next_batch(max)` await hands Python every item that is
//! already decoded (up to `max`), so one await crossing serves many events. `close()` (or
//! dropping the iterator) drops the Rust stream and closes its HTTP connection.
use std::sync::Arc;

use genesisdb_core::{EventStream, Observer, RowStream};
use pyo3::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::convert::Rows;
use crate::errors::to_pyerr;
use crate::event::MaybeEvents;
use crate::runtime::{future_into_py, runtime};

/// Largest batch one await may return.
const MAX_BATCH: usize = 65_536;

/// An optional batch of rows (None at the end).
pub struct MaybeRows(pub Option<Vec<Box<genesisdb_core::RawValue>>>);

impl<'py> IntoPyObject<'py> for MaybeRows {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        match self.0 {
            Some(v) => Ok(Rows(v).into_pyobject(py)?.into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

macro_rules! batch_iter {
    ($name:ident, $pyname:literal, $stream:ty, $wrap:ident, $doc:literal) => {
        #[doc = $doc]
        #[pyclass(frozen, module = "genesisdb._native", name = $pyname)]
        pub struct $name {
            inner: Arc<tokio::sync::Mutex<Option<$stream>>>,
            cancel: CancellationToken,
        }

        impl $name {
            pub fn new(stream: $stream) -> Self {
                $name {
                    inner: Arc::new(tokio::sync::Mutex::new(Some(stream))),
                    cancel: CancellationToken::new(),
                }
            }
        }

        #[pymethods]
        impl $name {
            /// Awaitable: a list of up to ``max`` ready items (waits for at least one), or
            /// None when the stream has ended (or was closed).
            #[pyo3(signature = (max=1024))]
            fn next_batch<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyAny>> {
                let max = max.clamp(1, MAX_BATCH);
                let inner = Arc::clone(&self.inner);
                let cancel = self.cancel.clone();
                future_into_py(py, async move {
                    let mut guard = inner.lock().await;
                    let Some(stream) = guard.as_mut() else {
                        return Ok($wrap(None));
                    };
                    let result = tokio::select! {
                        biased;
                        _ = cancel.cancelled() => Ok(None),
                        r = stream.next_batch(max) => r,
                    };
                    match result {
                        Ok(Some(items)) => Ok($wrap(Some(items))),
                        Ok(None) => {
                            *guard = None;
                            Ok($wrap(None))
                        }
                        Err(e) => {
                            *guard = None;
                            Err(to_pyerr(e))
                        }
                    }
                })
            }

            /// Ends the stream now and closes its connection (idempotent).
            fn close(&self) {
                self.cancel.cancel();
                match self.inner.try_lock() {
                    Ok(mut guard) => {
                        guard.take();
                    }
                    Err(_) => {
                        // A next_batch is in flight; it sees the cancellation and lets go.
                        let inner = Arc::clone(&self.inner);
                        if let Ok(rt) = runtime() {
                            rt.spawn(async move {
                                inner.lock().await.take();
                            });
                        }
                    }
                }
            }

            /// True once the stream ended or was closed.
            #[getter]
            fn closed(&self) -> bool {
                self.cancel.is_cancelled()
                    || self.inner.try_lock().map(|g| g.is_none()).unwrap_or(false)
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.cancel.cancel();
            }
        }
    };
}

batch_iter!(
    EventIter,
    "EventIter",
    EventStream,
    MaybeEvents,
    "Batches of events of one stream request (see ``Client.iter_events``)."
);
batch_iter!(
    RowIter,
    "RowIter",
    RowStream,
    MaybeRows,
    "Batches of rows of one query (see ``Client.iter_query``)."
);
batch_iter!(
    ObserveIter,
    "ObserveIter",
    Observer,
    MaybeEvents,
    "Batches of observed events (see ``Client.observe_events``)."
);
