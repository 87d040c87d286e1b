//! Resumable observe: reconnects after a dropped connection, an idle timeout or a
//! 502/503/504, resuming after the last delivered event.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use reqwest::Method;

use crate::client::{pump, subject_body, within, Client, Request, ROUTE_OBSERVE};
use crate::error::{Error, TimeoutKind};
use crate::event::{Event, StreamOptions};
use crate::ndjson::{EventParser, LineDecoder};
use crate::queue::{queue, BatchStream, Producer, QUEUE_ITEMS};
use crate::retry::backoff_delay;

/// What a reconnect callback is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconnectInfo {
    /// 1-based attempt within the current outage (reset once a new connection delivered a
    /// byte).
    pub attempt: u32,
    /// Id of the last delivered event: the exclusive lower bound of the new request.
    pub last_event_id: Option<String>,
    /// Why the previous connection was given up.
    pub reason: String,
}

/// Reconnect callback.
pub type ReconnectCallback = Arc<dyn Fn(&ReconnectInfo) + Send + Sync>;

/// Observe reconnection settings.
#[derive(Clone)]
pub struct ObserveSettings {
    /// Reconnect after a dropped connection (default true).
    pub reconnect: bool,
    /// Reconnection attempts allowed per outage; `None` = unlimited.
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

/// A live observe. Never ends on its own unless an `upper_bound` was given (then it ends when
/// the server ends the body), the client is closed, or reconnecting is off / exhausted.
/// Dropping it closes the connection.
pub struct Observer {
    inner: BatchStream<Event>,
}

impl Observer {
    /// Waits until at least one event is ready, then returns every event already decoded (up
    /// to `max`) without waiting for more; `Ok(None)` when the observe ended.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Event>>, Error> {
        self.inner.next_batch(max).await
    }
}

type Tx = Producer<Event>;

pub(crate) async fn start(
    client: Client,
    subject: String,
    opts: StreamOptions,
    settings: ObserveSettings,
) -> Result<Observer, Error> {
    let req = Request {
        method: Method::POST,
        route: ROUTE_OBSERVE,
        body: Some(subject_body(&subject, &opts)?),
        ndjson: true,
    };
    let resp = client.open(&req).await?;
    let stop = client.cancel_token().child_token();
    let task_stop = stop.clone();
    let (producer, consumer) = queue(QUEUE_ITEMS, stop, client.cancel_token().clone());
    tokio::spawn(async move {
        let run = Run {
            client,
            subject,
            opts,
            settings,
            last_id: None,
            seam: false,
        };
        let result = tokio::select! {
            biased;
            _ = task_stop.cancelled() => None,
            r = run.run(resp, &producer) => Some(r),
        };
        if let Some(r) = result {
            producer.finish(r);
        }
    });
    Ok(Observer { inner: consumer })
}

struct Run {
    client: Client,
    subject: String,
    opts: StreamOptions,
    settings: ObserveSettings,
    last_id: Option<String>,
    /// Just reconnected and no event arrived yet: an event repeating `last_id` (a server
    /// that ignored `includeLowerBoundEvent: false`) is dropped.
    seam: bool,
}

/// How one connection ended.
enum End {
    /// The body ended normally.
    Finished,
    /// The connection broke (or went idle, or the body ended mid-line).
    Dropped(Error),
}

impl Run {
    fn resume_options(&self) -> StreamOptions {
        match &self.last_id {
            Some(id) => StreamOptions {
                lower_bound: Some(id.clone()),
                include_lower_bound_event: Some(false),
                ..self.opts.clone()
            },
            None => self.opts.clone(),
        }
    }

    async fn run(mut self, first: reqwest::Response, tx: &Tx) -> Result<(), Error> {
        let config = self.client.config().clone();
        let mut decoder = LineDecoder::new(config.max_line_bytes);
        let mut resp = first;
        let mut attempt: u32 = 0;
        loop {
            let (end, got_bytes) = self.read(&mut resp, &mut decoder, tx).await?;
            if got_bytes {
                attempt = 0;
            }
            let reason = match end {
                End::Finished if self.opts.upper_bound.is_some() || !self.settings.reconnect => {
                    return Ok(())
                }
                End::Finished => Error::Transport {
                    route: ROUTE_OBSERVE.to_owned(),
                    message: "the server ended the observe response".to_owned(),
                },
                End::Dropped(e) => e,
            };
            if !self.settings.reconnect {
                return Err(reason);
            }
            let mut reason = reason;
            resp = loop {
                attempt += 1;
                if let Some(max) = self.settings.max_reconnects {
                    if attempt > max {
                        log::warn!(
                            "genesisdb: observe {} gave up after {max} reconnection attempts: {reason}",
                            self.subject
                        );
                        return Err(reason);
                    }
                }
                let info = ReconnectInfo {
                    attempt,
                    last_event_id: self.last_id.clone(),
                    reason: reason.to_string(),
                };
                log::warn!(
                    "genesisdb: observe {} reconnecting (attempt {attempt}) after: {}",
                    self.subject,
                    info.reason
                );
                if let Some(cb) = &self.settings.on_reconnect {
                    if std::panic::catch_unwind(AssertUnwindSafe(|| cb(&info))).is_err() {
                        log::error!("genesisdb: the observe reconnect callback panicked");
                    }
                }
                tokio::time::sleep(backoff_delay(&config.retry, attempt)).await;
                let req = Request {
                    method: Method::POST,
                    route: ROUTE_OBSERVE,
                    body: Some(subject_body(&self.subject, &self.resume_options())?),
                    ndjson: true,
                };
                match within(
                    config.request_timeout,
                    ROUTE_OBSERVE,
                    TimeoutKind::Request,
                    self.client.send_once(&req),
                )
                .await
                {
                    Ok(r) => {
                        log::info!(
                            "genesisdb: observe {} reconnected (attempt {attempt})",
                            self.subject
                        );
                        break r;
                    }
                    Err(e) if e.is_retryable_read() || matches!(e, Error::Timeout { .. }) => {
                        reason = e;
                    }
                    Err(e) => return Err(e),
                }
            };
            decoder.reset();
            self.seam = self.last_id.is_some();
        }
    }

    /// Reads one connection until it ends; `got_bytes` tells whether any byte arrived.
    async fn read(
        &mut self,
        resp: &mut reqwest::Response,
        decoder: &mut LineDecoder,
        tx: &Tx,
    ) -> Result<(End, bool), Error> {
        let idle = self.client.config().observe_idle_timeout;
        let mut parser = EventParser;
        let mut got_bytes = false;
        let last_id = &mut self.last_id;
        let seam = &mut self.seam;
        let pumped = pump(
            resp,
            ROUTE_OBSERVE,
            idle,
            TimeoutKind::ObserveIdle,
            decoder,
            &mut parser,
            tx,
            |out| mark(last_id, seam, out),
            &mut got_bytes,
        )
        .await;
        match pumped {
            Ok(()) => {}
            Err(e @ (Error::Transport { .. } | Error::Timeout { .. })) => {
                return Ok((End::Dropped(e), got_bytes));
            }
            Err(e) => return Err(e),
        }
        if decoder.has_partial() && self.settings.reconnect {
            // A body cut mid-line: the line is replayed after reconnecting.
            return Ok((
                End::Dropped(Error::Transport {
                    route: ROUTE_OBSERVE.to_owned(),
                    message: "the observe response ended in the middle of a line".to_owned(),
                }),
                got_bytes,
            ));
        }
        let mut out = Vec::new();
        decoder
            .finish(&mut parser, &mut out)
            .map_err(|e| e.into_error(ROUTE_OBSERVE))?;
        mark(&mut self.last_id, &mut self.seam, &mut out);
        tx.push(&mut out).await?;
        Ok((End::Finished, got_bytes))
    }
}

/// Before a batch is handed over: drops a repeated lower bound event at the reconnect seam and
/// records the id of the last event as the resume point.
fn mark(last_id: &mut Option<String>, seam: &mut bool, out: &mut Vec<Event>) {
    if *seam && !out.is_empty() {
        *seam = false;
        if out[0].id.is_some() && out[0].id == *last_id {
            log::debug!("genesisdb: observe dropped a repeated lower bound event");
            out.remove(0);
        }
    }
    if let Some(id) = out.iter().rev().find_map(|e| e.id.as_ref()) {
        *last_id = Some(id.clone());
    }
}
