//! Routes of the v1 API.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::event::{self, StoredEvent, MAX_EVENT_BYTES};
use crate::store::{NewEvent, Precondition, Store, StoreError};

/// Largest request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// An oversized body up to this size is read and discarded before the 413 is sent, so
/// that clients still writing it get the answer instead of a connection reset.
const DRAIN_LIMIT_BYTES: usize = 4 * MAX_BODY_BYTES;

/// Reads and discards at most `limit` bytes of `body`.
async fn drain(mut body: Body, limit: usize) {
    let mut seen: usize = 0;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(chunk) = frame.into_data() {
            seen = seen.saturating_add(chunk.len());
            if seen > limit {
                break;
            }
        }
    }
}
/// Bytes gathered into one response chunk when streaming stored events.
const CHUNK_BYTES: usize = 64 * 1024;
const NDJSON: &str = "application/x-ndjson";
/// Largest in-memory batch committed on the async thread itself.
const QUICK_COMMIT_EVENTS: usize = 16;
const HEARTBEAT: &[u8] = b"{\"payload\":\"\"}\n";

/// Shared state of all handlers.
pub struct AppState {
    pub store: Arc<Store>,
    pub token_hash: [u8; 32],
    pub heartbeat: Duration,
    /// Number of open observe responses.
    pub observers: Arc<AtomicUsize>,
}

/// Counts an open observer until dropped.
struct ObserverGuard(Arc<AtomicUsize>);

impl ObserverGuard {
    fn new(c: &Arc<AtomicUsize>) -> ObserverGuard {
        c.fetch_add(1, Ordering::SeqCst);
        ObserverGuard(c.clone())
    }
}

impl Drop for ObserverGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An error answer: `{"error", "message"}` (+ `type`, `index` on 412).
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    precondition: Option<(&'static str, usize)>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            precondition: None,
        }
    }

    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Precondition {
                index,
                kind,
                message,
            } => ApiError {
                status: StatusCode::PRECONDITION_FAILED,
                code: "precondition_failed",
                message,
                precondition: Some((kind, index)),
            },
            StoreError::BadRequest(m) => ApiError::bad(m),
            StoreError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            StoreError::Internal(m) => {
                tracing::error!("{m}");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut m = Map::new();
        m.insert("error".into(), Value::String(self.code.into()));
        m.insert("message".into(), Value::String(self.message));
        if let Some((t, i)) = self.precondition {
            m.insert("type".into(), Value::String(t.into()));
            m.insert("index".into(), Value::from(i));
        }
        let body = event::to_json(&Value::Object(m));
        let mut resp = (self.status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// The router (paths already normalised by the caller).
pub fn router(state: Arc<AppState>) -> Router {
    let authed = Router::new()
        .route("/api/v1/commit", post(commit))
        .route("/api/v1/stream", post(stream))
        .route("/api/v1/observe", post(observe))
        .route("/api/v1/erase", post(erase))
        .route("/api/v1/q", post(query))
        .route("/api/v1/query", post(query))
        .route("/api/v1/status/audit", get(audit))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth));
    Router::new()
        .route("/api/v1/status/ping", get(ping))
        .merge(authed)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {}", req.uri().path()),
    )
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "method {} is not allowed on {}",
            req.method(),
            req.uri().path()
        ),
    )
}

/// Hash of a token, so comparisons are constant-time whatever the lengths.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

async fn auth(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    let ok = match given {
        Some(t) => bool::from(token_hash(t).ct_eq(&st.token_hash)),
        None => false,
    };
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
        .into_response();
    }
    next.run(req).await
}

async fn ping() -> Response {
    text("pong".to_string())
}

fn text(s: String) -> Response {
    let mut r = s.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

async fn audit(State(st): State<Arc<AppState>>) -> Response {
    let store = st.store.clone();
    let res = tokio::task::spawn_blocking(move || store.audit()).await;
    match res {
        Ok(Ok(n)) => text(format!(
            "Audit passed. All {n} events integrity checks succeeded."
        )),
        Ok(Err(why)) => text(format!("Audit failed. {why}")),
        Err(e) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("audit task failed: {e}"),
        )
        .into_response(),
    }
}

/// Reads a JSON object body of at most [`MAX_BODY_BYTES`].
async fn read_json(headers: &HeaderMap, body: Body) -> Result<Map<String, Value>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(len) = declared {
        if len > MAX_BODY_BYTES as u64 {
            // Read (and discard) a moderately oversized body before answering, so the
            // client sees the 413 instead of a reset while it is still sending.
            if len <= DRAIN_LIMIT_BYTES as u64 {
                drain(body, DRAIN_LIMIT_BYTES).await;
            }
            return Err(too_large());
        }
    }
    let mut body = body;
    let mut buf = Vec::with_capacity(declared.map_or(0, |l| l as usize));
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad(format!("could not read the request body: {e}")))?;
        if let Ok(chunk) = frame.into_data() {
            if buf.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
                let seen = buf.len().saturating_add(chunk.len());
                if seen <= DRAIN_LIMIT_BYTES {
                    drain(body, DRAIN_LIMIT_BYTES - seen).await;
                }
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
    }
    let v: Value = serde_json::from_slice(&buf)
        .map_err(|e| ApiError::bad(format!("malformed JSON body: {e}")))?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::bad("the request body must be a JSON object")),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn nonempty_str(v: Option<&Value>, field: &str) -> Result<String, ApiError> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(ApiError::bad(format!("{field} must not be empty"))),
        Some(other) => Err(ApiError::bad(format!(
            "{field} must be a string, not {}",
            type_name(other)
        ))),
        None => Err(ApiError::bad(format!("{field} is required"))),
    }
}

/// A subject for commit: starts with `/`, no empty segment.
fn commit_subject(v: Option<&Value>, field: &str) -> Result<String, ApiError> {
    let s = nonempty_str(v, field)?;
    if !s.starts_with('/') {
        return Err(ApiError::bad(format!(
            "{field} must start with \"/\": {s:?}"
        )));
    }
    if s[1..].split('/').any(str::is_empty) {
        return Err(ApiError::bad(format!(
            "{field} must not have an empty segment: {s:?}"
        )));
    }
    Ok(s)
}

/// A subject to read or erase: starts with `/`.
fn scope_subject(v: Option<&Value>, field: &str) -> Result<String, ApiError> {
    let s = nonempty_str(v, field)?;
    if !s.starts_with('/') {
        return Err(ApiError::bad(format!(
            "{field} must start with \"/\": {s:?}"
        )));
    }
    Ok(s)
}

fn opt_bool(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<bool>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::bad(format!(
            "{field} must be a boolean, not {}",
            type_name(other)
        ))),
    }
}

fn opt_str(m: &Map<String, Value>, key: &str, field: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad(format!(
            "{field} must be a string, not {}",
            type_name(other)
        ))),
    }
}

fn parse_query(q: &str, field: &str) -> Result<genesisdb_gdbql::Query, ApiError> {
    genesisdb_gdbql::parse(q).map_err(|e| ApiError::bad(format!("{field}: {e}")))
}

async fn commit(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut body = read_json(&headers, body).await?;
    let events = match body.remove("events") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => return Err(ApiError::bad("events must not be empty")),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "events must be an array, not {}",
                type_name(&other)
            )))
        }
        None => return Err(ApiError::bad("events is required")),
    };
    let mut new_events = Vec::with_capacity(events.len());
    for (i, mut e) in events.into_iter().enumerate() {
        let what = type_name(&e);
        let m = e
            .as_object_mut()
            .ok_or_else(|| ApiError::bad(format!("events[{i}] must be an object, not {what}")))?;
        let source = nonempty_str(m.get("source"), &format!("events[{i}].source"))?;
        let subject = commit_subject(m.get("subject"), &format!("events[{i}].subject"))?;
        let event_type = nonempty_str(m.get("type"), &format!("events[{i}].type"))?;
        let data = m
            .remove("data")
            .ok_or_else(|| ApiError::bad(format!("events[{i}].data is required")))?;
        let by_ref = match m.get("options") {
            None | Some(Value::Null) => false,
            Some(Value::Object(o)) => opt_bool(
                o,
                "storeDataAsReference",
                &format!("events[{i}].options.storeDataAsReference"),
            )?
            .unwrap_or(false),
            Some(other) => {
                return Err(ApiError::bad(format!(
                    "events[{i}].options must be an object, not {}",
                    type_name(other)
                )))
            }
        };
        let data_json = event::to_json(&data);
        let size = event::stored_len(&source, &subject, &event_type, &data_json);
        if size > MAX_EVENT_BYTES {
            return Err(ApiError::bad(format!(
                "events[{i}] is {size} bytes once stored; the limit is {MAX_EVENT_BYTES}"
            )));
        }
        new_events.push(NewEvent {
            source,
            subject,
            event_type,
            data,
            data_json,
            by_ref,
        });
    }
    let mut preconditions = Vec::new();
    match body.get("preconditions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) => {
            for (i, p) in a.iter().enumerate() {
                let m = p.as_object().ok_or_else(|| {
                    ApiError::bad(format!(
                        "preconditions[{i}] must be an object, not {}",
                        type_name(p)
                    ))
                })?;
                let t = nonempty_str(m.get("type"), &format!("preconditions[{i}].type"))?;
                let payload = match m.get("payload") {
                    Some(Value::Object(o)) => o,
                    Some(other) => {
                        return Err(ApiError::bad(format!(
                            "preconditions[{i}].payload must be an object, not {}",
                            type_name(other)
                        )))
                    }
                    None => {
                        return Err(ApiError::bad(format!(
                            "preconditions[{i}].payload is required"
                        )))
                    }
                };
                let pc = match t.as_str() {
                    "isSubjectNew" => Precondition::SubjectNew(commit_subject(
                        payload.get("subject"),
                        &format!("preconditions[{i}].payload.subject"),
                    )?),
                    "isSubjectExisting" => Precondition::SubjectExisting(commit_subject(
                        payload.get("subject"),
                        &format!("preconditions[{i}].payload.subject"),
                    )?),
                    "isQueryResultTrue" => {
                        let field = format!("preconditions[{i}].payload.query");
                        let q = nonempty_str(payload.get("query"), &field)?;
                        Precondition::QueryResultTrue(Box::new(parse_query(&q, &field)?))
                    }
                    other => {
                        return Err(ApiError::bad(format!(
                            "preconditions[{i}].type: unknown precondition type {other:?} (known: isSubjectNew, isSubjectExisting, isQueryResultTrue)"
                        )))
                    }
                };
                preconditions.push(pc);
            }
        }
        Some(other) => {
            return Err(ApiError::bad(format!(
                "preconditions must be an array, not {}",
                type_name(other)
            )))
        }
    }
    // A small batch in memory without a query to evaluate is a few
    // microseconds of CPU: do it here (if the commit lock is free) rather
    // than pay a thread hop. Disk writes, big batches, GDBQL evaluation and
    // a busy lock go to the blocking pool, so async threads never wait.
    let quick = !st.store.is_durable()
        && new_events.len() <= QUICK_COMMIT_EVENTS
        && !preconditions
            .iter()
            .any(|p| matches!(p, Precondition::QueryResultTrue(_)));
    let new_events = if quick {
        match st.store.try_commit(new_events, &preconditions) {
            Ok(res) => {
                res?;
                return Ok(StatusCode::OK.into_response());
            }
            Err(events) => events,
        }
    } else {
        new_events
    };
    let store = st.store.clone();
    tokio::task::spawn_blocking(move || store.commit(new_events, &preconditions))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("commit task failed: {e}"),
            )
        })??;
    Ok(StatusCode::OK.into_response())
}

async fn erase(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body).await?;
    let subject = scope_subject(body.get("subject"), "subject")?;
    let store = st.store.clone();
    tokio::task::spawn_blocking(move || store.erase(&subject))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("erase task failed: {e}"),
            )
        })??;
    Ok(StatusCode::OK.into_response())
}

/// Parsed stream/observe request.
struct ReadRequest {
    subject: String,
    lower: Option<(usize, bool)>,
    upper: Option<(usize, bool)>,
    latest_by_type: Option<String>,
}

fn read_request(st: &AppState, body: &Map<String, Value>) -> Result<ReadRequest, ApiError> {
    let subject = scope_subject(body.get("subject"), "subject")?;
    let empty = Map::new();
    let (opts, prefix) = match body.get("options") {
        None | Some(Value::Null) => (&empty, "options."),
        Some(Value::Object(o)) => (o, "options."),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "options must be an object, not {}",
                type_name(other)
            )))
        }
    };
    // Old clients send the option keys at the top level; `options` wins.
    let get_str = |k: &str| -> Result<Option<String>, ApiError> {
        match opt_str(opts, k, &format!("{prefix}{k}"))? {
            Some(s) => Ok(Some(s)),
            None => opt_str(body, k, k),
        }
    };
    let get_bool = |k: &str| -> Result<Option<bool>, ApiError> {
        match opt_bool(opts, k, &format!("{prefix}{k}"))? {
            Some(b) => Ok(Some(b)),
            None => opt_bool(body, k, k),
        }
    };
    let bound = |id_key: &str, inc_key: &str| -> Result<Option<(usize, bool)>, ApiError> {
        let inc = get_bool(inc_key)?.unwrap_or(false);
        match get_str(id_key)? {
            None => Ok(None),
            Some(id) => match st.store.position(&id) {
                Some(p) => Ok(Some((p, inc))),
                None => Err(ApiError::bad(format!("{id_key}: unknown event id {id:?}"))),
            },
        }
    };
    let lower = bound("lowerBound", "includeLowerBoundEvent")?;
    let upper = bound("upperBound", "includeUpperBoundEvent")?;
    let latest_by_type = get_str("latestByEventType")?;
    Ok(ReadRequest {
        subject,
        lower,
        upper,
        latest_by_type,
    })
}

impl ReadRequest {
    fn start(&self) -> usize {
        match self.lower {
            Some((p, true)) => p,
            Some((p, false)) => p + 1,
            None => 0,
        }
    }

    /// Exclusive end position implied by the upper bound.
    fn end(&self) -> Option<usize> {
        match self.upper {
            Some((p, true)) => Some(p + 1),
            Some((p, false)) => Some(p),
            None => None,
        }
    }
}

fn ndjson(body: Body) -> Response {
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON));
    r
}

fn keep_fn(subject: String, event_type: Option<String>) -> impl Fn(&StoredEvent) -> bool {
    move |e: &StoredEvent| {
        event::covers(&subject, &e.subject)
            && event_type.as_deref().is_none_or(|t| e.event_type == t)
    }
}

async fn stream(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body).await?;
    let req = read_request(&st, &body)?;
    let store = st.store.clone();
    let len = store.len();
    let start = req.start();
    let end = req.end().unwrap_or(len).min(len);
    if let Some(t) = req.latest_by_type.clone() {
        let positions = {
            let store = store.clone();
            let subject = req.subject.clone();
            tokio::task::spawn_blocking(move || store.latest_by_type(&subject, &t, start, end))
                .await
                .unwrap_or_default()
        };
        let s = futures::stream::unfold(0usize, move |i| {
            let store = store.clone();
            let positions_len = positions.len();
            let (chunk, next) = store.read_positions(&positions, i, CHUNK_BYTES);
            async move {
                if i >= positions_len || chunk.is_empty() && next >= positions_len {
                    None
                } else {
                    Some((Ok::<_, Infallible>(chunk), next))
                }
            }
        });
        return Ok(ndjson(Body::from_stream(s)));
    }
    let keep = keep_fn(req.subject, None);
    let s = futures::stream::unfold(start, move |pos| {
        let out = if pos >= end {
            None
        } else {
            let (chunk, next) = store.read_lines(pos, end, CHUNK_BYTES, &keep);
            Some((Ok::<_, Infallible>(chunk), next))
        };
        async move { out }
    });
    Ok(ndjson(Body::from_stream(s)))
}

/// State of one observer: it tracks the next position to send and reads
/// from the store, so a slow reader never blocks commits and never misses
/// an event.
struct Observer {
    store: Arc<Store>,
    keep: Box<dyn Fn(&StoredEvent) -> bool + Send + Sync>,
    next: usize,
    /// Exclusive end (from `upperBound`).
    end: Option<usize>,
    /// Replay positions (`latestByEventType`) still to send.
    replay: Vec<usize>,
    replay_idx: usize,
    rx: watch::Receiver<usize>,
    heartbeat: Duration,
    last_write: Instant,
    _guard: ObserverGuard,
}

impl Observer {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.replay_idx < self.replay.len() {
            let (chunk, i) = self
                .store
                .read_positions(&self.replay, self.replay_idx, CHUNK_BYTES);
            self.replay_idx = i;
            if !chunk.is_empty() {
                self.last_write = Instant::now();
                return Some(chunk);
            }
        }
        loop {
            if let Some(end) = self.end {
                if self.next >= end {
                    return None;
                }
            }
            // Mark the current version seen before reading the store, so a
            // commit after this point wakes us (no lost wake-up).
            self.rx.borrow_and_update();
            let len = self.store.len();
            let to = self.end.map_or(len, |e| e.min(len));
            if self.next < to {
                let (chunk, next) = self
                    .store
                    .read_lines(self.next, to, CHUNK_BYTES, &*self.keep);
                self.next = next;
                if !chunk.is_empty() {
                    self.last_write = Instant::now();
                    return Some(chunk);
                }
                // Nothing in scope in this slice: let other tasks run.
                tokio::task::yield_now().await;
                continue;
            }
            let deadline = self.last_write + self.heartbeat;
            match tokio::time::timeout_at(deadline, self.rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return None, // store gone
                Err(_) => {
                    self.last_write = Instant::now();
                    return Some(Bytes::from_static(HEARTBEAT));
                }
            }
        }
    }
}

async fn observe(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body).await?;
    let req = read_request(&st, &body)?;
    let store = st.store.clone();
    let rx = store.subscribe();
    let len = store.len();
    let (next, replay) = match (&req.lower, &req.latest_by_type) {
        (None, _) => (len, Vec::new()),
        (Some(_), None) => (req.start(), Vec::new()),
        (Some(_), Some(t)) => {
            let end = req.end().unwrap_or(len).min(len);
            let replay = {
                let store = store.clone();
                let subject = req.subject.clone();
                let t = t.clone();
                let start = req.start();
                tokio::task::spawn_blocking(move || store.latest_by_type(&subject, &t, start, end))
                    .await
                    .unwrap_or_default()
            };
            (len.max(req.start()), replay)
        }
    };
    let obs = Observer {
        store,
        keep: Box::new(keep_fn(req.subject.clone(), req.latest_by_type.clone())),
        next,
        end: req.end(),
        replay,
        replay_idx: 0,
        rx,
        heartbeat: st.heartbeat,
        last_write: Instant::now(),
        _guard: ObserverGuard::new(&st.observers),
    };
    let s = futures::stream::unfold(obs, |mut obs| async move {
        let chunk = obs.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), obs))
    });
    Ok(ndjson(Body::from_stream(s)))
}

/// Longest time a produced row waits in the buffer before it is sent.
const ROW_FLUSH: std::time::Duration = std::time::Duration::from_millis(5);

/// Batches serialized query rows into chunks for the response body.
struct RowSink {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, String>>,
    buf: Vec<u8>,
    last: std::time::Instant,
    dead: bool,
}

impl RowSink {
    fn flush(&mut self) {
        if self.buf.is_empty() || self.dead {
            return;
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        if self.tx.blocking_send(Ok(chunk)).is_err() {
            self.dead = true;
        }
        self.last = std::time::Instant::now();
    }

    fn tick(&mut self) {
        if !self.buf.is_empty() && self.last.elapsed() >= ROW_FLUSH {
            self.flush();
        }
    }

    fn fail(&mut self, message: String) {
        let _ = self.tx.blocking_send(Err(message));
    }
}

async fn query(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_json(&headers, body).await?;
    let q = nonempty_str(body.get("query"), "query")?;
    let parsed = parse_query(&q, "query")?;
    let snapshot = st.store.snapshot();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Bytes, String>>(8);
    tokio::task::spawn_blocking(move || {
        let sink = std::cell::RefCell::new(RowSink {
            tx,
            buf: Vec::with_capacity(CHUNK_BYTES),
            last: std::time::Instant::now(),
            dead: false,
        });
        // Rows that wait in the buffer are sent after ROW_FLUSH even while
        // the evaluator is still scanning; a vanished client stops the scan.
        let input = snapshot.iter().enumerate().map_while(|(i, e)| {
            if i % 256 == 0 {
                let mut s = sink.borrow_mut();
                s.tick();
                if s.dead {
                    return None;
                }
            }
            Some(&e.value)
        });
        let rows = parsed.rows(input);
        for row in rows {
            let mut s = sink.borrow_mut();
            match row {
                Ok(v) => {
                    if serde_json::to_writer(&mut s.buf, &v).is_err() {
                        s.fail("could not serialize a row".into());
                        return;
                    }
                    s.buf.push(b'\n');
                    if s.buf.len() >= CHUNK_BYTES {
                        s.flush();
                    } else {
                        s.tick();
                    }
                    if s.dead {
                        return; // client gone
                    }
                }
                Err(e) => {
                    s.flush();
                    s.fail(e.to_string());
                    return;
                }
            }
        }
        sink.borrow_mut().flush();
    });
    // An error before the first row is still a clean 400.
    let first = match rx.recv().await {
        None => return Ok(ndjson(Body::empty())),
        Some(Err(e)) => return Err(ApiError::bad(format!("query: {e}"))),
        Some(Ok(b)) => b,
    };
    let rest = futures::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Some(Ok(b)) => Some((Ok::<_, std::io::Error>(b), rx)),
            Some(Err(e)) => {
                // Abort the body so the client sees an incomplete response
                // rather than a silently shortened result.
                tracing::warn!("query evaluation failed midway: {e}");
                Some((Err(std::io::Error::other(e)), rx))
            }
            None => None,
        }
    });
    let s = futures::StreamExt::chain(
        futures::stream::once(async move { Ok::<_, std::io::Error>(first) }),
        rest,
    );
    Ok(ndjson(Body::from_stream(s)))
}
