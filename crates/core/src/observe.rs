//! Resumable observe.

use std::sync::Arc;

use crate::error::Error;
use crate::event::Event;

/// What a reconnect callback is told.
#[derive(Clone, Debug)]
pub struct ReconnectInfo {
    /// 1-based attempt within the current outage.
    pub attempt: u32,
    /// Id of the last delivered event, the lower bound of the new request.
    pub last_event_id: Option<String>,
    /// Why the connection was replaced.
    pub reason: String,
}

/// Reconnect callback.
pub type ReconnectCallback = Arc<dyn Fn(&ReconnectInfo) + Send + Sync>;

/// Observe reconnection settings.
#[derive(Clone)]
pub struct ObserveSettings {
    /// Reconnect after a dropped connection (default true).
    pub reconnect: bool,
    /// Consecutive failed reconnection attempts allowed; `None` = unlimited.
    pub max_reconnects: Option<u32>,
    /// Called before every reconnection attempt.
    pub on_reconnect: Option<ReconnectCallback>,
}

impl Default for ObserveSettings {
    fn default() -> ObserveSettings {
        ObserveSettings {
            reconnect: true,
            max_reconnects: None,
            on_reconnect: None,
        }
    }
}

impl std::fmt::Debug for ObserveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveSettings")
            .field("reconnect", &self.reconnect)
            .field("max_reconnects", &self.max_reconnects)
            .field("on_reconnect", &self.on_reconnect.is_some())
            .finish()
    }
}

/// A live observe.
pub struct Observer {
    _p: (),
}

impl Observer {
    /// Next batch; `Ok(None)` when the observe ended (upper bound reached).
    pub async fn next_batch(&mut self, _max: usize) -> Result<Option<Vec<Event>>, Error> {
        Err(Error::InvalidInput("not implemented yet".into()))
    }
}
