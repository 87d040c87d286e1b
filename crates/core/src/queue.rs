//! The bounded hand-over queue between a body reader task and its consumer.
//!
//! The reader pushes decoded items; while the queue holds `cap` items or more it waits, so it
//! stops reading the socket and TCP flow control stops the server. The consumer takes every
//! ready item (up to `max`) in one call, so a slow consumer gets large batches and a fast one
//! gets items as soon as they are decoded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::Error;

/// Items held by the queue before the reader waits.
pub(crate) const QUEUE_ITEMS: usize = 4096;

struct State<T> {
    items: VecDeque<T>,
    end: Option<Result<(), Error>>,
    consumer_gone: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    data: Notify,
    space: Notify,
    cap: usize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A new queue: the producer side for the reader task, the consumer side for the caller.
/// Dropping the consumer cancels `stop` (the reader task selects on it).
pub(crate) fn queue<T>(
    cap: usize,
    stop: CancellationToken,
    client_cancel: CancellationToken,
) -> (Producer<T>, BatchStream<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            end: None,
            consumer_gone: false,
        }),
        data: Notify::new(),
        space: Notify::new(),
        cap: cap.max(1),
    });
    (
        Producer {
            shared: shared.clone(),
        },
        BatchStream {
            shared,
            client_cancel,
            done: false,
            _stop: stop.drop_guard(),
        },
    )
}

/// The reader's side.
pub(crate) struct Producer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Producer<T> {
    /// Moves every item of `out` into the queue (leaving `out` empty, capacity kept), after
    /// waiting while the queue is full. `Err(Closed)` when the consumer is gone.
    pub(crate) async fn push(&self, out: &mut Vec<T>) -> Result<(), Error> {
        if out.is_empty() {
            return Ok(());
        }
        loop {
            let notified = self.shared.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.shared.lock();
                if st.consumer_gone {
                    return Err(Error::Closed);
                }
                if st.items.len() < self.shared.cap {
                    st.items.extend(out.drain(..));
                    drop(st);
                    self.shared.data.notify_one();
                    return Ok(());
                }
            }
            notified.await;
        }
    }

    /// Ends the queue: the consumer gets the remaining items, then `result` (`Ok` = end).
    pub(crate) fn finish(&self, result: Result<(), Error>) {
        {
            let mut st = self.shared.lock();
            if st.end.is_none() {
                st.end = Some(result);
            }
        }
        self.shared.data.notify_one();
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        // A reader that stops without `finish` was cancelled (client closed, consumer gone).
        self.finish(Err(Error::Closed));
    }
}

/// The consumer's side.
pub(crate) struct BatchStream<T> {
    shared: Arc<Shared<T>>,
    client_cancel: CancellationToken,
    done: bool,
    _stop: DropGuard,
}

impl<T> BatchStream<T> {
    /// Waits until at least one item is ready, then returns every ready item up to `max`;
    /// `Ok(None)` at the end; an error once, then `Ok(None)`.
    pub(crate) async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<T>>, Error> {
        let max = max.max(1);
        loop {
            if self.done {
                return Ok(None);
            }
            if self.client_cancel.is_cancelled() {
                self.done = true;
                self.shared.lock().items.clear();
                return Err(Error::Closed);
            }
            let notified = self.shared.data.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.shared.lock();
                if !st.items.is_empty() {
                    let out: Vec<T> = if st.items.len() <= max {
                        Vec::from(std::mem::take(&mut st.items))
                    } else {
                        st.items.drain(..max).collect()
                    };
                    drop(st);
                    self.shared.space.notify_one();
                    return Ok(Some(out));
                }
                if let Some(end) = st.end.take() {
                    self.done = true;
                    return end.map(|()| None);
                }
            }
            tokio::select! {
                biased;
                _ = self.client_cancel.cancelled() => {}
                _ = notified => {}
            }
        }
    }
}

impl<T> Drop for BatchStream<T> {
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.consumer_gone = true;
            st.items.clear();
        }
        self.shared.space.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hands_over_everything_ready_and_bounds_the_producer() {
        let (p, mut c) = queue::<u32>(10, CancellationToken::new(), CancellationToken::new());
        let producer = tokio::spawn(async move {
            for i in 0..100u32 {
                let mut out = vec![i];
                if p.push(&mut out).await.is_err() {
                    return;
                }
            }
            p.finish(Ok(()));
        });
        tokio::task::yield_now().await;
        let mut got = Vec::new();
        while let Ok(Some(b)) = c.next_batch(7).await {
            assert!(!b.is_empty() && b.len() <= 7);
            got.extend(b);
        }
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert!(producer.await.is_ok());
    }

    #[tokio::test]
    async fn errors_and_close() {
        let client = CancellationToken::new();
        let (p, mut c) = queue::<u32>(10, CancellationToken::new(), client.clone());
        p.push(&mut vec![1, 2]).await.ok();
        p.finish(Err(Error::InvalidInput("x".into())));
        assert_eq!(c.next_batch(10).await.ok().flatten(), Some(vec![1, 2]));
        assert!(matches!(
            c.next_batch(10).await,
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(c.next_batch(10).await, Ok(None)));

        let (p, mut c) = queue::<u32>(10, CancellationToken::new(), client.clone());
        client.cancel();
        assert!(matches!(c.next_batch(10).await, Err(Error::Closed)));
        drop(c);
        assert!(matches!(p.push(&mut vec![1]).await, Err(Error::Closed)));
    }
}
