//! Genesis DB client core: a pure-Rust async client of the Genesis DB v1 HTTP API.
//!
//! One [`Client`] holds one pooled HTTP connection pool (reqwest, rustls) and a cancellation
//! token fired by [`Client::close`]. NDJSON responses are decoded incrementally as the bytes
//! arrive ([`ndjson`]); events keep `data` as raw JSON text ([`RawValue`]).
//!
//! ```no_run
//! use genesisdb_core::{Client, CommitEvent, Config, ObserveSettings, Precondition, RawValue, StreamOptions};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::new(Config::resolve(None, None, None)?)?; // GENESISDB_* variables
//! client
//!     .commit_events(
//!         &[CommitEvent {
//!             source: "io.genesisdb.app".into(),
//!             subject: "/customer/1".into(),
//!             r#type: "io.genesisdb.app.customer-added".into(),
//!             data: RawValue::from_string(r#"{"firstName":"Bruce"}"#.into())?,
//!             options: None,
//!         }],
//!         &[Precondition::is_subject_new("/customer/1")],
//!     )
//!     .await?;
//! let mut events = client.iter_events("/customer", &StreamOptions::default()).await?;
//! while let Some(batch) = events.next_batch(1000).await? {
//!     for e in batch {
//!         println!("{:?} {}", e.r#type, e.data.as_ref().map_or("null", |d| d.get()));
//!     }
//! }
//! let mut observer = client
//!     .observe_events("/customer", &StreamOptions::default(), ObserveSettings::default())
//!     .await?;
//! if let Some(batch) = observer.next_batch(100).await? {
//!     println!("{} live events", batch.len());
//! }
//! client.close();
//! # Ok(())
//! # }
//! ```

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
