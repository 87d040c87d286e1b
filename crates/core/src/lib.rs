//! Genesis DB client core: a pure-Rust async client of the Genesis DB v1 HTTP API.
//!
//! One [`Client`] holds one pooled HTTP connection pool (reqwest, rustls) and a cancellation
//! token fired by [`Client::close`]. NDJSON responses are decoded incrementally as the bytes
//! arrive ([`ndjson`]); events keep `data` as raw JSON text ([`RawValue`]).

#![warn(missing_docs)]
// `Error::Http` carries the response details by value (the pyo3 layer matches on it).
#![allow(clippy::result_large_err)]

pub mod client;
pub mod config;
pub mod error;
pub mod event;
pub mod ndjson;
pub mod observe;
mod queue;
pub mod retry;

pub use serde_json::value::RawValue;

pub use client::{Client, EventStream, RowStream};
pub use config::{Config, RetryPolicy, Secret};
pub use error::{Error, PreconditionFailure, TimeoutKind};
pub use event::{
    validate_commit, validate_preconditions, validate_subject, CommitEvent, Event, EventOptions,
    Precondition, StreamOptions,
};
pub use observe::{ObserveSettings, Observer, ReconnectInfo};
