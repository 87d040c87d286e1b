//! The HTTP client.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::Error;
use crate::event::{CommitEvent, Event, Precondition, StreamOptions};
use crate::observe::{ObserveSettings, Observer};

fn todo_err() -> Error {
    Error::InvalidInput("not implemented yet".into())
}

struct Inner {
    config: Config,
    cancel: CancellationToken,
}

/// A Genesis DB client. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.config.api_url)
            .field("api_version", &self.inner.config.api_version)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client (one pooled HTTP client).
    pub fn new(config: Config) -> Result<Client, Error> {
        config.validate()?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                cancel: CancellationToken::new(),
            }),
        })
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// `GET status/ping`.
    pub async fn ping(&self) -> Result<String, Error> {
        Err(todo_err())
    }
    /// `GET status/audit`.
    pub async fn audit(&self) -> Result<String, Error> {
        Err(todo_err())
    }
    /// `POST stream`, all events.
    pub async fn stream_events(
        &self,
        _subject: &str,
        _opts: &StreamOptions,
    ) -> Result<Vec<Event>, Error> {
        Err(todo_err())
    }
    /// `POST stream`, as batches.
    pub async fn iter_events(
        &self,
        _subject: &str,
        _opts: &StreamOptions,
    ) -> Result<EventStream, Error> {
        Err(todo_err())
    }
    /// `POST commit`.
    pub async fn commit_events(
        &self,
        _events: &[CommitEvent],
        _preconditions: &[Precondition],
    ) -> Result<(), Error> {
        Err(todo_err())
    }
    /// `POST erase`.
    pub async fn erase_data(&self, _subject: &str) -> Result<(), Error> {
        Err(todo_err())
    }
    /// `POST q`, all rows.
    pub async fn query(&self, _query: &str) -> Result<Vec<Box<RawValue>>, Error> {
        Err(todo_err())
    }
    /// `POST q`, as batches.
    pub async fn iter_query(&self, _query: &str) -> Result<RowStream, Error> {
        Err(todo_err())
    }
    /// `POST observe`.
    pub async fn observe_events(
        &self,
        _subject: &str,
        _opts: &StreamOptions,
        _settings: ObserveSettings,
    ) -> Result<Observer, Error> {
        Err(todo_err())
    }
    /// Closes the client; idempotent.
    pub fn close(&self) {
        self.inner.cancel.cancel();
    }
    /// Whether `close` was called.
    pub fn is_closed(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }
}

/// Events of `iter_events`, in batches.
pub struct EventStream {
    _p: (),
}

impl EventStream {
    /// Next batch; `Ok(None)` at the end.
    pub async fn next_batch(&mut self, _max: usize) -> Result<Option<Vec<Event>>, Error> {
        Err(todo_err())
    }
}

/// Rows of `iter_query`, in batches.
pub struct RowStream {
    _p: (),
}

impl RowStream {
    /// Next batch; `Ok(None)` at the end.
    pub async fn next_batch(&mut self, _max: usize) -> Result<Option<Vec<Box<RawValue>>>, Error> {
        Err(todo_err())
    }
}
