//! The HTTP client: requests, error mapping, timeouts, retries, streaming bodies.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{Error, PreconditionFailure, TimeoutKind};
use crate::event::{
    validate_commit, validate_preconditions, validate_subject, CommitEvent, Event, Precondition,
    StreamOptions,
};
use crate::ndjson::{EventParser, LineDecoder, LineParser, RowParser};
use crate::observe::{ObserveSettings, Observer};
use crate::queue::{queue, BatchStream, Producer, QUEUE_ITEMS};
use crate::retry::Backoff;

pub(crate) const ROUTE_PING: &str = "status/ping";
pub(crate) const ROUTE_AUDIT: &str = "status/audit";
pub(crate) const ROUTE_STREAM: &str = "stream";
pub(crate) const ROUTE_OBSERVE: &str = "observe";
pub(crate) const ROUTE_COMMIT: &str = "commit";
pub(crate) const ROUTE_ERASE: &str = "erase";
pub(crate) const ROUTE_Q: &str = "q";

/// Error bodies are read up to this many bytes.
const MAX_ERROR_BODY: usize = 64 * 1024;

const NDJSON: &str = "application/x-ndjson";

struct Inner {
    config: Config,
    http: Mutex<Option<reqwest::Client>>,
    cancel: CancellationToken,
    auth: HeaderValue,
}

/// A Genesis DB client. Cheap to clone; clones share the connection pool and the close state.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.inner.config.api_url)
            .field("api_version", &self.inner.config.api_version)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Whether a call may be retried after an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Read-only: retried on connect failures, broken connections, 502/503/504.
    Read,
    /// Write: retried only when the connection could not be established.
    Write,
}

impl Safety {
    fn allows(self, err: &Error) -> bool {
        match self {
            Safety::Read => err.is_retryable_read(),
            Safety::Write => err.is_retryable_write(),
        }
    }
}

/// A request body and headers.
#[derive(Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) route: &'static str,
    pub(crate) body: Option<Bytes>,
    pub(crate) ndjson: bool,
}

#[derive(Serialize)]
struct SubjectBody<'a> {
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<&'a StreamOptions>,
}

#[derive(Serialize)]
struct CommitBody<'a> {
    events: &'a [CommitEvent],
    #[serde(skip_serializing_if = "<[Precondition]>::is_empty")]
    preconditions: &'a [Precondition],
}

#[derive(Serialize)]
struct QueryBody<'a> {
    query: &'a str,
}

fn to_body<T: Serialize>(value: &T) -> Result<Bytes, Error> {
    serde_json::to_vec(value)
        .map(Bytes::from)
        .map_err(|e| Error::InvalidInput(format!("cannot encode the request body: {e}")))
}

/// `{"subject":..,"options":{..}}` with `options` omitted when no option is set.
pub(crate) fn subject_body(subject: &str, opts: &StreamOptions) -> Result<Bytes, Error> {
    to_body(&SubjectBody {
        subject,
        options: if opts.is_empty() { None } else { Some(opts) },
    })
}

/// `{"events":[..]}` plus `preconditions` when not empty. `data` is written verbatim.
pub fn commit_body(
    events: &[CommitEvent],
    preconditions: &[Precondition],
) -> Result<Vec<u8>, Error> {
    // Sized up front (the raw JSON plus room for the fields and some escapes), so that a
    // large commit is not built through a chain of reallocations.
    let estimate = events
        .iter()
        .map(|e| e.data.get().len() + e.source.len() + e.subject.len() + e.r#type.len() + 96)
        .chain(
            preconditions
                .iter()
                .map(|p| p.payload.get().len() + p.r#type.len() + 32),
        )
        .fold(64usize, usize::saturating_add);
    let mut body = Vec::with_capacity(estimate);
    serde_json::to_writer(
        &mut body,
        &CommitBody {
            events,
            preconditions,
        },
    )
    .map_err(|e| Error::InvalidInput(format!("cannot encode the request body: {e}")))?;
    Ok(body)
}

/// The text of an error and its sources, without the URL's query (there is none) or token.
fn chain_message(err: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = err.to_string();
    let mut src = err.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        src = s.source();
    }
    msg
}

pub(crate) fn map_reqwest(route: &str, err: reqwest::Error) -> Error {
    let message = chain_message(&err);
    if err.is_connect() {
        if err.is_timeout() {
            Error::Timeout {
                route: route.to_owned(),
                kind: TimeoutKind::Connect,
            }
        } else {
            Error::Connect {
                route: route.to_owned(),
                message,
            }
        }
    } else if err.is_timeout() {
        Error::Timeout {
            route: route.to_owned(),
            kind: TimeoutKind::Request,
        }
    } else if err.is_builder() {
        Error::InvalidConfig(message)
    } else {
        Error::Transport {
            route: route.to_owned(),
            message,
        }
    }
}

fn timeout_err(route: &str, kind: TimeoutKind) -> Error {
    Error::Timeout {
        route: route.to_owned(),
        kind,
    }
}

/// Runs `fut` unless `cancel` fires first (then `Error::Closed`).
pub(crate) async fn cancellable<T>(
    cancel: &CancellationToken,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(Error::Closed),
        r = fut => r,
    }
}

/// `now + limit`, or far in the future when that overflows.
fn deadline_after(limit: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// Runs `fut` within `limit`, else a timeout error of `kind`.
pub(crate) async fn within<T>(
    limit: Duration,
    route: &str,
    kind: TimeoutKind,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(timeout_err(route, kind)),
    }
}

/// Reads the next chunk within `limit`.
pub(crate) async fn next_chunk(
    resp: &mut reqwest::Response,
    route: &str,
    limit: Duration,
    kind: TimeoutKind,
) -> Result<Option<Bytes>, Error> {
    match tokio::time::timeout(limit, resp.chunk()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(map_reqwest(route, e)),
        Err(_) => Err(timeout_err(route, kind)),
    }
}

/// The `POST stream` request for `subject` (validated) and `opts`.
fn stream_request(subject: &str, opts: &StreamOptions) -> Result<Request, Error> {
    validate_subject(subject)?;
    Ok(Request {
        method: Method::POST,
        route: ROUTE_STREAM,
        body: Some(subject_body(subject, opts)?),
        ndjson: true,
    })
}

async fn read_limited(resp: &mut reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

fn parse_precondition(body: &str) -> Option<PreconditionFailure> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let o = v.as_object()?;
    let get = |k: &str| o.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    Some(PreconditionFailure {
        r#type: get("type"),
        message: get("message").or_else(|| get("error")),
        index: o.get("index").and_then(|v| v.as_u64()),
    })
}

async fn status_error(route: &str, status: StatusCode, mut resp: reqwest::Response) -> Error {
    let body = read_limited(&mut resp, MAX_ERROR_BODY).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    let precondition = if status == StatusCode::PRECONDITION_FAILED {
        parse_precondition(&body)
    } else {
        None
    };
    Error::Http {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Unknown").to_owned(),
        body,
        route: route.to_owned(),
        precondition,
    }
}

impl Client {
    /// Builds a client: one pooled HTTP client (rustls, system roots plus `ca_file`).
    pub fn new(config: Config) -> Result<Client, Error> {
        let mut config = config;
        config.api_url = config.api_url.trim_end_matches('/').to_owned();
        config.validate()?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.auth_token.expose()))
            .map_err(|_| {
                Error::InvalidConfig(
                    "auth_token contains characters not allowed in a header".into(),
                )
            })?;
        auth.set_sensitive(true);
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| Error::InvalidConfig("user_agent is not a valid header value".into()))?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(user_agent);
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                Error::InvalidConfig(format!("cannot read ca_file {}: {e}", path.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::InvalidConfig(format!("ca_file {} is not PEM: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(Error::InvalidConfig(format!(
                    "ca_file {} holds no certificate",
                    path.display()
                )));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| {
            Error::InvalidConfig(format!(
                "cannot build the HTTP client: {}",
                chain_message(&e)
            ))
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http: Mutex::new(Some(http)),
                cancel: CancellationToken::new(),
                auth,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Closes the client: every in-flight call and stream ends with [`Error::Closed`], new
    /// calls fail with it, and the connection pool is released. Idempotent.
    pub fn close(&self) {
        if !self.inner.cancel.is_cancelled() {
            log::debug!("genesisdb: client closed");
        }
        self.inner.cancel.cancel();
        if let Ok(mut guard) = self.inner.http.lock() {
            guard.take();
        }
    }

    /// Whether [`Client::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.inner.cancel
    }

    fn http(&self) -> Result<reqwest::Client, Error> {
        if self.inner.cancel.is_cancelled() {
            return Err(Error::Closed);
        }
        match self.inner.http.lock() {
            Ok(guard) => guard.clone().ok_or(Error::Closed),
            Err(poisoned) => poisoned.into_inner().clone().ok_or(Error::Closed),
        }
    }

    /// Sends one request and returns the response if its status is 2xx.
    pub(crate) async fn send_once(&self, req: &Request) -> Result<reqwest::Response, Error> {
        let http = self.http()?;
        let config = &self.inner.config;
        let mut rb = http
            .request(req.method.clone(), config.url(req.route))
            .header(AUTHORIZATION, self.inner.auth.clone());
        if req.ndjson {
            rb = rb.header(ACCEPT, NDJSON);
        }
        if let Some(body) = &req.body {
            rb = rb
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let resp = rb.send().await.map_err(|e| map_reqwest(req.route, e))?;
        let status = resp.status();
        if status.is_success() {
            Ok(resp)
        } else {
            Err(status_error(req.route, status, resp).await)
        }
    }

    /// Retries `attempt` per the policy while `safety` allows it.
    pub(crate) async fn with_retry<T, F, Fut>(
        &self,
        route: &str,
        safety: Safety,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut backoff = Backoff::new(&self.inner.config.retry);
        loop {
            let err = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !safety.allows(&err) {
                return Err(err);
            }
            let Some(delay) = backoff.next_delay() else {
                if backoff.attempts() > 1 {
                    log::warn!(
                        "genesisdb: {route} failed after {} attempts: {err}",
                        backoff.attempts()
                    );
                }
                return Err(err);
            };
            log::info!(
                "genesisdb: retrying {route} in {} ms (attempt {}/{}) after: {err}",
                delay.as_millis(),
                backoff.attempts(),
                self.inner.config.retry.max_attempts
            );
            tokio::time::sleep(delay).await;
            if self.is_closed() {
                return Err(Error::Closed);
            }
        }
    }

    /// A whole non-streaming request: send, read the body, all within `request_timeout`.
    async fn simple(&self, req: Request, safety: Safety) -> Result<Bytes, Error> {
        let limit = self.inner.config.request_timeout;
        let route = req.route;
        let fut = self.with_retry(route, safety, || async {
            let deadline = deadline_after(limit);
            let resp = match tokio::time::timeout_at(deadline, self.send_once(&req)).await {
                Ok(r) => r?,
                Err(_) => return Err(timeout_err(route, TimeoutKind::Request)),
            };
            match safety {
                Safety::Read => match tokio::time::timeout_at(deadline, resp.bytes()).await {
                    Ok(r) => r.map_err(|e| map_reqwest(route, e)),
                    Err(_) => Err(timeout_err(route, TimeoutKind::Request)),
                },
                // The 2xx status is the answer; a body (ignored in v1) cannot undo it.
                Safety::Write => {
                    let _ = tokio::time::timeout_at(deadline, resp.bytes()).await;
                    Ok(Bytes::new())
                }
            }
        });
        cancellable(&self.inner.cancel, fut).await
    }

    /// Sends a streaming request (retried before any body byte), headers within
    /// `request_timeout`.
    pub(crate) async fn open(&self, req: &Request) -> Result<reqwest::Response, Error> {
        let limit = self.inner.config.request_timeout;
        let fut = self.with_retry(req.route, Safety::Read, || {
            within(limit, req.route, TimeoutKind::Request, self.send_once(req))
        });
        cancellable(&self.inner.cancel, fut).await
    }

    /// Reads a whole NDJSON body (retried as a whole, nothing was delivered yet).
    async fn collect<P: LineParser + Clone>(
        &self,
        req: Request,
        parser: P,
    ) -> Result<Vec<P::Item>, Error> {
        let config = &self.inner.config;
        let limit = config.request_timeout;
        let route = req.route;
        let fut = self.with_retry(route, Safety::Read, || {
            let mut parser = parser.clone();
            let req = &req;
            async move {
                let mut resp =
                    within(limit, route, TimeoutKind::Request, self.send_once(req)).await?;
                let mut decoder = LineDecoder::new(config.max_line_bytes);
                let mut out = Vec::new();
                while let Some(chunk) =
                    next_chunk(&mut resp, route, limit, TimeoutKind::Request).await?
                {
                    decoder
                        .feed(&chunk, &mut parser, &mut out)
                        .map_err(|e| e.into_error(route))?;
                }
                decoder
                    .finish(&mut parser, &mut out)
                    .map_err(|e| e.into_error(route))?;
                Ok(out)
            }
        });
        cancellable(&self.inner.cancel, fut).await
    }

    fn spawn_reader<P>(
        &self,
        resp: reqwest::Response,
        route: &'static str,
        parser: P,
    ) -> BatchStream<P::Item>
    where
        P: LineParser + Send + 'static,
        P::Item: Send + 'static,
    {
        let stop = self.inner.cancel.child_token();
        let task_stop = stop.clone();
        let (producer, consumer) = queue(QUEUE_ITEMS, stop, self.inner.cancel.clone());
        let limit = self.inner.config.request_timeout;
        let max_line = self.inner.config.max_line_bytes;
        tokio::spawn(async move {
            let result = tokio::select! {
                biased;
                _ = task_stop.cancelled() => None,
                r = read_body(resp, route, parser, limit, max_line, &producer) => Some(r),
            };
            if let Some(r) = result {
                producer.finish(r);
            }
        });
        consumer
    }

    /// `GET status/ping`: the body text (`pong`). Retried.
    pub async fn ping(&self) -> Result<String, Error> {
        self.get_text(ROUTE_PING).await
    }

    /// `GET status/audit`: the report text. Retried.
    pub async fn audit(&self) -> Result<String, Error> {
        self.get_text(ROUTE_AUDIT).await
    }

    /// A retried `GET` whose body is text (invalid UTF-8 is replaced, never an error).
    async fn get_text(&self, route: &'static str) -> Result<String, Error> {
        let req = Request {
            method: Method::GET,
            route,
            body: None,
            ndjson: false,
        };
        let body = self.simple(req, Safety::Read).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `POST stream`: every event of `subject` (and below) as one list. Retried as a whole.
    pub async fn stream_events(
        &self,
        subject: &str,
        opts: &StreamOptions,
    ) -> Result<Vec<Event>, Error> {
        let req = stream_request(subject, opts)?;
        self.collect(req, EventParser).await
    }

    /// `POST stream` as batches with bounded memory. Retried until the response headers
    /// arrived; errors while reading the body end the stream.
    pub async fn iter_events(
        &self,
        subject: &str,
        opts: &StreamOptions,
    ) -> Result<EventStream, Error> {
        let req = stream_request(subject, opts)?;
        let resp = self.open(&req).await?;
        Ok(EventStream {
            inner: self.spawn_reader(resp, ROUTE_STREAM, EventParser),
        })
    }

    /// `POST commit`. Retried only when the connection could not be established (the
    /// request cannot have reached the server): at most once.
    pub async fn commit_events(
        &self,
        events: &[CommitEvent],
        preconditions: &[Precondition],
    ) -> Result<(), Error> {
        validate_commit(events)?;
        validate_preconditions(preconditions)?;
        let body = commit_body(events, preconditions)?;
        self.simple(
            Request {
                method: Method::POST,
                route: ROUTE_COMMIT,
                body: Some(Bytes::from(body)),
                ndjson: false,
            },
            Safety::Write,
        )
        .await?;
        Ok(())
    }

    /// `POST erase`. Retried only when the connection could not be established.
    pub async fn erase_data(&self, subject: &str) -> Result<(), Error> {
        validate_subject(subject)?;
        #[derive(Serialize)]
        struct EraseBody<'a> {
            subject: &'a str,
        }
        self.simple(
            Request {
                method: Method::POST,
                route: ROUTE_ERASE,
                body: Some(to_body(&EraseBody { subject })?),
                ndjson: false,
            },
            Safety::Write,
        )
        .await?;
        Ok(())
    }

    /// `POST q`: every row. Retried as a whole.
    pub async fn query(&self, query: &str) -> Result<Vec<Box<RawValue>>, Error> {
        let req = Request {
            method: Method::POST,
            route: ROUTE_Q,
            body: Some(to_body(&QueryBody { query })?),
            ndjson: true,
        };
        self.collect(req, RowParser).await
    }

    /// `POST q` as batches with bounded memory.
    pub async fn iter_query(&self, query: &str) -> Result<RowStream, Error> {
        let req = Request {
            method: Method::POST,
            route: ROUTE_Q,
            body: Some(to_body(&QueryBody { query })?),
            ndjson: true,
        };
        let resp = self.open(&req).await?;
        Ok(RowStream {
            inner: self.spawn_reader(resp, ROUTE_Q, RowParser),
        })
    }

    /// `POST observe`: a live, resumable stream of events (see [`Observer`]). Returns once
    /// the server accepted the request.
    pub async fn observe_events(
        &self,
        subject: &str,
        opts: &StreamOptions,
        settings: ObserveSettings,
    ) -> Result<Observer, Error> {
        validate_subject(subject)?;
        crate::observe::start(self.clone(), subject.to_owned(), opts.clone(), settings).await
    }
}

/// Reads a body chunk by chunk, decoding lines and handing them over.
async fn read_body<P: LineParser>(
    mut resp: reqwest::Response,
    route: &'static str,
    mut parser: P,
    limit: Duration,
    max_line: usize,
    producer: &Producer<P::Item>,
) -> Result<(), Error> {
    let mut decoder = LineDecoder::new(max_line);
    let mut got_bytes = false;
    pump(
        &mut resp,
        route,
        limit,
        TimeoutKind::Request,
        &mut decoder,
        &mut parser,
        producer,
        |_| {},
        &mut got_bytes,
    )
    .await?;
    let mut out = Vec::new();
    decoder
        .finish(&mut parser, &mut out)
        .map_err(|e| e.into_error(route))?;
    producer.push(&mut out).await
}

/// Reads `resp` until the end of its body (`Ok`; the decoder may still hold a last line
/// without newline) or an error, decoding lines and pushing the items of every chunk into
/// the queue (which waits while the consumer is behind). Items decoded before a bad line are
/// handed over before the error is returned. `before_push` sees every batch first.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn pump<P, F>(
    resp: &mut reqwest::Response,
    route: &'static str,
    limit: Duration,
    kind: TimeoutKind,
    decoder: &mut LineDecoder,
    parser: &mut P,
    producer: &Producer<P::Item>,
    mut before_push: F,
    got_bytes: &mut bool,
) -> Result<(), Error>
where
    P: LineParser,
    F: FnMut(&mut Vec<P::Item>),
{
    let mut out: Vec<P::Item> = Vec::new();
    loop {
        match next_chunk(resp, route, limit, kind).await? {
            Some(chunk) => {
                *got_bytes |= !chunk.is_empty();
                let fed = decoder.feed(&chunk, parser, &mut out);
                if !out.is_empty() {
                    before_push(&mut out);
                    producer.push(&mut out).await?;
                }
                fed.map_err(|e| e.into_error(route))?;
            }
            None => return Ok(()),
        }
    }
}

/// The events of [`Client::iter_events`], in batches.
pub struct EventStream {
    inner: BatchStream<Event>,
}

impl EventStream {
    /// Waits until at least one event is ready, then returns every event already decoded (up
    /// to `max`) without waiting for more; `Ok(None)` at the end of the body.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Event>>, Error> {
        self.inner.next_batch(max).await
    }
}

/// The rows of [`Client::iter_query`], in batches.
pub struct RowStream {
    inner: BatchStream<Box<RawValue>>,
}

impl RowStream {
    /// Waits until at least one row is ready, then returns every row already decoded (up to
    /// `max`) without waiting for more; `Ok(None)` at the end of the body.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Box<RawValue>>>, Error> {
        self.inner.next_batch(max).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventOptions;

    fn raw(s: &str) -> Box<RawValue> {
        match RawValue::from_string(s.to_owned()) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn request_bodies_match_official_clients() {
        let b = subject_body("/test", &StreamOptions::default()).ok();
        assert_eq!(b.as_deref(), Some(&br#"{"subject":"/test"}"#[..]));
        let o = StreamOptions {
            lower_bound: Some("123".into()),
            include_lower_bound_event: Some(true),
            latest_by_event_type: Some("test.type".into()),
            ..Default::default()
        };
        let b = subject_body("/test", &o).ok();
        assert_eq!(
            b.as_deref(),
            Some(&br#"{"subject":"/test","options":{"lowerBound":"123","includeLowerBoundEvent":true,"latestByEventType":"test.type"}}"#[..])
        );
        let ev = CommitEvent {
            source: "s".into(),
            subject: "/a".into(),
            r#type: "t".into(),
            data: raw(r#"{"z": 1, "a": [1.50, "x"]}"#),
            options: None,
        };
        let b = commit_body(std::slice::from_ref(&ev), &[]).ok();
        assert_eq!(
            b.as_deref(),
            Some(&br#"{"events":[{"source":"s","subject":"/a","type":"t","data":{"z": 1, "a": [1.50, "x"]}}]}"#[..])
        );
        let ev2 = CommitEvent {
            options: Some(EventOptions {
                store_data_as_reference: Some(true),
            }),
            ..ev
        };
        let b = commit_body(&[ev2], &[Precondition::is_subject_new("/a")]).ok();
        assert_eq!(
            b.as_deref(),
            Some(&br#"{"events":[{"source":"s","subject":"/a","type":"t","data":{"z": 1, "a": [1.50, "x"]},"options":{"storeDataAsReference":true}}],"preconditions":[{"type":"isSubjectNew","payload":{"subject":"/a"}}]}"#[..])
        );
    }
}

#[cfg(test)]
mod send_tests {
    use super::*;

    fn is_send<T: Send>(_: &T) {}
    fn is_send_sync<T: Send + Sync>() {}

    /// Every future and stream can move across threads (pyo3-async-runtimes needs it).
    #[allow(dead_code)]
    async fn futures_are_send(c: Client, mut s: EventStream, mut r: RowStream, mut o: Observer) {
        let opts = StreamOptions::default();
        is_send(&c.ping());
        is_send(&c.audit());
        is_send(&c.stream_events("/", &opts));
        is_send(&c.iter_events("/", &opts));
        is_send(&c.commit_events(&[], &[]));
        is_send(&c.erase_data("/"));
        is_send(&c.query(""));
        is_send(&c.iter_query(""));
        is_send(&c.observe_events("/", &opts, ObserveSettings::default()));
        is_send(&s.next_batch(1));
        is_send(&r.next_batch(1));
        is_send(&o.next_batch(1));
    }

    #[test]
    fn types_are_send_sync() {
        is_send_sync::<Client>();
        is_send_sync::<Error>();
        is_send_sync::<Event>();
        is_send_sync::<EventStream>();
        is_send_sync::<RowStream>();
        is_send_sync::<Observer>();
    }
}
