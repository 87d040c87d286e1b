//! Hostile and faulty servers: tiny scripted TCP servers writing canned HTTP responses.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use genesisdb_core::{
    Client, CommitEvent, Config, Error, ObserveSettings, RawValue, ReconnectInfo, RetryPolicy,
    StreamOptions, TimeoutKind,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const TOKEN: &str = "hostile-token-77aa";

#[derive(Clone, Debug, Default)]
struct Recorded {
    head: String,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
    fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

struct Script {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Script {
    fn count(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }
    fn get(&self, i: usize) -> Recorded {
        self.requests
            .lock()
            .ok()
            .and_then(|r| r.get(i).cloned())
            .unwrap_or_default()
    }
}

async fn read_request(s: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let rec = Recorded {
        head,
        body: String::new(),
    };
    let len: usize = rec
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    Some(Recorded {
        body: String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
        ..rec
    })
}

/// Serves every connection with `f(request_index, stream)` after reading one request.
async fn serve<F, Fut>(f: F) -> R<Script>
where
    F: Fn(usize, TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let requests = Arc::new(Mutex::new(Vec::new()));
    let reqs = requests.clone();
    let f = Arc::new(f);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let reqs = reqs.clone();
            let f = f.clone();
            tokio::spawn(async move {
                if let Some(r) = read_request(&mut s).await {
                    let i = match reqs.lock() {
                        Ok(mut v) => {
                            v.push(r);
                            v.len() - 1
                        }
                        Err(_) => return,
                    };
                    f(i, s).await;
                }
            });
        }
    });
    Ok(Script { url, requests })
}

fn response(status: &str, ctype: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

async fn reply(mut s: TcpStream, text: String) {
    let _ = s.write_all(text.as_bytes()).await;
    let _ = s.shutdown().await;
}

fn fast_config(url: &str) -> Config {
    let mut c = Config::new(url, TOKEN);
    c.request_timeout = Duration::from_millis(800);
    c.observe_idle_timeout = Duration::from_millis(400);
    c.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_elapsed: Duration::from_secs(5),
    };
    c
}

fn client(url: &str) -> R<Client> {
    Ok(Client::new(fast_config(url))?)
}

fn event() -> R<CommitEvent> {
    Ok(CommitEvent {
        source: "s".into(),
        subject: "/a".into(),
        r#type: "t".into(),
        data: RawValue::from_string(r#"{"x":1}"#.to_owned())?,
        options: None,
    })
}

fn no_token(e: &Error) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(TOKEN), "token leaked: {text}");
}

const EV: &str = r#"{"id":"e1","type":"t","data":{}}"#;

#[tokio::test]
async fn not_json_line_is_a_protocol_error() -> R<()> {
    let s = serve(|_, st| {
        reply(
            st,
            response(
                "200 OK",
                "application/x-ndjson",
                &format!("{EV}\nnot json\n"),
            ),
        )
    })
    .await?;
    let c = client(&s.url)?;
    match c.stream_events("/", &StreamOptions::default()).await {
        Err(e @ Error::Protocol { line: 2, .. }) => no_token(&e),
        other => panic!("{other:?}"),
    }
    // Not retried: a garbage body is not a transient failure.
    assert_eq!(s.count(), 1);
    let mut it = c.iter_events("/", &StreamOptions::default()).await?;
    let first = it.next_batch(10).await;
    let second = match first {
        Ok(Some(b)) if b.len() == 1 => it.next_batch(10).await,
        other => other,
    };
    assert!(
        matches!(second, Err(Error::Protocol { line: 2, .. })),
        "{second:?}"
    );
    Ok(())
}

#[tokio::test]
async fn body_cut_mid_line() -> R<()> {
    // Content-Length promises more than is sent.
    let s = serve(|_, mut st| async move {
        let body = format!("{EV}\n{{\"id\":\"e2\",\"ty");
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\n\r\n",
            body.len() + 50
        );
        let _ = st.write_all(head.as_bytes()).await;
        let _ = st.write_all(body.as_bytes()).await;
        let _ = st.shutdown().await;
    })
    .await?;
    let c = Client::new(Config {
        retry: RetryPolicy::none(),
        ..fast_config(&s.url)
    })?;
    let r = c.stream_events("/", &StreamOptions::default()).await;
    assert!(matches!(r, Err(Error::Transport { .. })), "{r:?}");

    // Close-delimited body ending mid-line: the last line is not JSON.
    let s2 = serve(|_, mut st| async move {
        let text = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n{EV}\n{{\"id\":\"e2\",\"ty"
        );
        let _ = st.write_all(text.as_bytes()).await;
        let _ = st.shutdown().await;
    })
    .await?;
    let c2 = client(&s2.url)?;
    let r = c2.stream_events("/", &StreamOptions::default()).await;
    assert!(matches!(r, Err(Error::Protocol { line: 2, .. })), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn never_ending_line_is_bounded() -> R<()> {
    let s = serve(|_, mut st| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n";
        if st.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 8192, "a".repeat(8192));
        // At most ~80 MB, stops as soon as the client hangs up.
        for _ in 0..10_000 {
            if st.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
        }
    })
    .await?;
    let c = Client::new(Config {
        max_line_bytes: 256 * 1024,
        ..fast_config(&s.url)
    })?;
    let r = c.stream_events("/", &StreamOptions::default()).await;
    match r {
        Err(Error::Protocol {
            line: 1, message, ..
        }) => assert!(message.contains("longer")),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn wrong_content_type_and_garbage() -> R<()> {
    let s = serve(|i, st| {
        let text = match i {
            0 => response(
                "200 OK",
                "text/html",
                "<html><body>proxy login</body></html>",
            ),
            1 => response("200 OK", "text/plain", &format!("{EV}\n")),
            _ => response("200 OK", "application/x-ndjson", "\u{0}\u{1}garbage\u{7f}"),
        };
        reply(st, text)
    })
    .await?;
    let c = client(&s.url)?;
    let r = c.stream_events("/", &StreamOptions::default()).await;
    assert!(matches!(r, Err(Error::Protocol { line: 1, .. })), "{r:?}");
    // Valid NDJSON under another content type is accepted (tolerant reader).
    let ok = c.stream_events("/", &StreamOptions::default()).await?;
    assert_eq!(ok.len(), 1);
    let r = c.query("x").await;
    assert!(matches!(r, Err(Error::Protocol { line: 1, .. })), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn silent_server_times_out() -> R<()> {
    let s = serve(|_, st| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(st);
    })
    .await?;
    let c = client(&s.url)?;
    let r = c.ping().await;
    assert!(
        matches!(
            r,
            Err(Error::Timeout {
                kind: TimeoutKind::Request,
                ..
            })
        ),
        "{r:?}"
    );
    let r = c.commit_events(&[event()?], &[]).await;
    assert!(
        matches!(
            r,
            Err(Error::Timeout {
                kind: TimeoutKind::Request,
                ..
            })
        ),
        "{r:?}"
    );
    let r = c
        .observe_events("/", &StreamOptions::default(), ObserveSettings::default())
        .await;
    assert!(matches!(r, Err(Error::Timeout { .. })), "{:?}", r.err());
    // A request timeout is not retried: one request each.
    assert_eq!(s.count(), 3);
    Ok(())
}

#[tokio::test]
async fn reads_are_retried_after_dropped_connections() -> R<()> {
    // Drops the first 2 requests (reads them, closes without answering), then answers.
    let s = serve(|i, st| async move {
        if i < 2 {
            drop(st);
        } else {
            reply(st, response("200 OK", "text/plain", "pong")).await;
        }
    })
    .await?;
    let c = client(&s.url)?;
    assert_eq!(c.ping().await?, "pong");
    assert_eq!(s.count(), 3);

    // 503 twice, then events: stream retried.
    let s = serve(|i, st| {
        let text = if i < 2 {
            response("503 Service Unavailable", "text/plain", "busy")
        } else {
            response("200 OK", "application/x-ndjson", &format!("{EV}\n"))
        };
        reply(st, text)
    })
    .await?;
    let c = client(&s.url)?;
    assert_eq!(
        c.stream_events("/", &StreamOptions::default()).await?.len(),
        1
    );
    assert_eq!(s.count(), 3);

    // Attempts are bounded: always 502 -> 3 requests, then the 502 error.
    let s = serve(|_, st| reply(st, response("502 Bad Gateway", "text/plain", ""))).await?;
    let c = client(&s.url)?;
    let r = c.audit().await;
    assert!(matches!(r, Err(Error::Http { status: 502, .. })), "{r:?}");
    assert_eq!(s.count(), 3);
    Ok(())
}

#[tokio::test]
async fn commit_is_never_repeated_once_sent() -> R<()> {
    // The server reads the whole commit, then the response is lost.
    let s = serve(|_, st| async move { drop(st) }).await?;
    let c = client(&s.url)?;
    let r = c.commit_events(&[event()?], &[]).await;
    match &r {
        Err(e @ Error::Transport { route, .. }) => {
            assert_eq!(route, "commit");
            no_token(e);
        }
        other => panic!("{other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(s.count(), 1, "the commit must not be sent twice");
    assert!(s.get(0).body.contains(r#""events""#));

    // A 503 on commit is not retried either.
    let s = serve(|_, st| reply(st, response("503 Service Unavailable", "text/plain", ""))).await?;
    let c = client(&s.url)?;
    let r = c.commit_events(&[event()?], &[]).await;
    assert!(matches!(r, Err(Error::Http { status: 503, .. })), "{r:?}");
    let r = c.erase_data("/a").await;
    assert!(matches!(r, Err(Error::Http { status: 503, .. })), "{r:?}");
    assert_eq!(s.count(), 2);
    Ok(())
}

#[tokio::test]
async fn commit_is_retried_when_it_could_not_connect() -> R<()> {
    // Reserve a port, free it, and only start listening after a while.
    let probe = TcpListener::bind("127.0.0.1:0").await?;
    let addr = probe.local_addr()?;
    drop(probe);
    let mut config = Config::new(format!("http://{addr}"), TOKEN);
    config.retry = RetryPolicy {
        max_attempts: 40,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(40),
        max_elapsed: Duration::from_secs(10),
    };
    let c = Client::new(config)?;
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let l = TcpListener::bind(addr).await?;
        let (mut st, _) = l.accept().await?;
        let _ = read_request(&mut st).await;
        h2.fetch_add(1, Ordering::SeqCst);
        reply(st, response("200 OK", "text/plain", "")).await;
        Ok::<(), std::io::Error>(())
    });
    c.commit_events(&[event()?], &[]).await?;
    late.await??;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn request_shapes_and_headers() -> R<()> {
    let s = serve(|_, st| reply(st, response("200 OK", "application/x-ndjson", ""))).await?;
    let c = Client::new(Config::new(format!("{}/", s.url), TOKEN))?;
    c.stream_events("/test", &StreamOptions::default()).await?;
    c.commit_events(&[event()?], &[]).await?;
    c.erase_data("/test/subject").await?;
    c.query("FROM e IN events PROJECT INTO e.data").await?;
    let _ = c.ping().await?;
    let stream = s.get(0);
    assert_eq!(stream.request_line(), "POST /api/v1/stream HTTP/1.1");
    assert_eq!(stream.body, r#"{"subject":"/test"}"#);
    assert_eq!(
        stream.header("authorization"),
        Some(format!("Bearer {TOKEN}"))
    );
    assert_eq!(
        stream.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        stream.header("accept").as_deref(),
        Some("application/x-ndjson")
    );
    assert_eq!(
        stream.header("user-agent").as_deref(),
        Some("genesisdb-sdk")
    );
    let commit = s.get(1);
    assert_eq!(commit.request_line(), "POST /api/v1/commit HTTP/1.1");
    assert_eq!(
        commit.body,
        r#"{"events":[{"source":"s","subject":"/a","type":"t","data":{"x":1}}]}"#
    );
    // reqwest's default `*/*` (as httpx sends); never the NDJSON type on commit.
    assert_ne!(
        commit.header("accept").as_deref(),
        Some("application/x-ndjson")
    );
    let erase = s.get(2);
    assert_eq!(erase.request_line(), "POST /api/v1/erase HTTP/1.1");
    assert_eq!(erase.body, r#"{"subject":"/test/subject"}"#);
    let q = s.get(3);
    assert_eq!(q.request_line(), "POST /api/v1/q HTTP/1.1");
    assert_eq!(
        q.body,
        r#"{"query":"FROM e IN events PROJECT INTO e.data"}"#
    );
    let ping = s.get(4);
    assert_eq!(ping.request_line(), "GET /api/v1/status/ping HTTP/1.1");
    assert_eq!(ping.header("content-type"), None);
    Ok(())
}

#[tokio::test]
async fn error_bodies() -> R<()> {
    let s = serve(|i, st| {
        let text = match i {
            0 => response("412 Precondition Failed", "text/plain", "nope"),
            _ => response(
                "412 Precondition Failed",
                "application/json",
                r#"{"error":"precondition_failed","message":"subject exists","type":"isSubjectNew","index":1}"#,
            ),
        };
        reply(st, text)
    })
    .await?;
    let c = client(&s.url)?;
    match c.commit_events(&[event()?], &[]).await {
        Err(Error::Http {
            status: 412,
            body,
            precondition,
            reason,
            ..
        }) => {
            assert_eq!(body, "nope");
            assert_eq!(reason, "Precondition Failed");
            assert!(precondition.is_none() || precondition.and_then(|p| p.r#type).is_none());
        }
        other => panic!("{other:?}"),
    }
    match c.commit_events(&[event()?], &[]).await {
        Err(e @ Error::Http { status: 412, .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("isSubjectNew") && text.contains("subject exists"),
                "{text}"
            );
            if let Error::Http {
                precondition: Some(p),
                ..
            } = e
            {
                assert_eq!(p.index, Some(1));
            } else {
                panic!("no precondition");
            }
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

fn observe_head() -> &'static str {
    "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\nconnection: close\r\n\r\n"
}

#[tokio::test]
async fn observe_resumes_after_last_delivered_event() -> R<()> {
    // 1st connection: two events then a cut line and a drop; 2nd: an idle connection (only
    // headers); 3rd: the last delivered event again, one more event, then heartbeats.
    let s = serve(|i, mut st| async move {
        let _ = st.write_all(observe_head().as_bytes()).await;
        match i {
            0 => {
                let body = "{\"id\":\"e1\",\"type\":\"t\"}\n{\"payload\":\"\"}\n{\"id\":\"e2\",\"type\":\"t\"}\n{\"id\":\"e3\",\"ty";
                let _ = st.write_all(body.as_bytes()).await;
                let _ = st.shutdown().await;
            }
            1 => {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            _ => {
                // A server ignoring includeLowerBoundEvent:false repeats e2: dropped.
                let _ = st
                    .write_all(b"{\"id\":\"e2\",\"type\":\"t\"}\n{\"id\":\"e3\",\"type\":\"t\"}\n")
                    .await;
                for _ in 0..300 {
                    if st.write_all(b"{\"payload\":\"\"}\n").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
    .await?;
    let c = client(&s.url)?;
    let infos: Arc<Mutex<Vec<ReconnectInfo>>> = Arc::default();
    let i2 = infos.clone();
    let settings = ObserveSettings {
        on_reconnect: Some(Arc::new(move |info: &ReconnectInfo| {
            if let Ok(mut v) = i2.lock() {
                v.push(info.clone());
            }
        })),
        ..Default::default()
    };
    let opts = StreamOptions {
        latest_by_event_type: Some("t".into()),
        ..Default::default()
    };
    let mut obs = c.observe_events("/x", &opts, settings).await?;
    let mut ids = Vec::new();
    while ids.len() < 3 {
        let b = tokio::time::timeout(Duration::from_secs(10), obs.next_batch(10)).await??;
        ids.extend(b.ok_or("ended")?.into_iter().filter_map(|e| e.id));
    }
    assert_eq!(ids, ["e1", "e2", "e3"]);
    assert_eq!(
        s.get(0).body,
        r#"{"subject":"/x","options":{"latestByEventType":"t"}}"#
    );
    let resume = r#"{"subject":"/x","options":{"lowerBound":"e2","includeLowerBoundEvent":false,"latestByEventType":"t"}}"#;
    assert_eq!(s.get(1).body, resume);
    assert_eq!(s.get(2).body, resume);
    let infos = infos.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(infos.len(), 2);
    assert_eq!(infos[0].last_event_id.as_deref(), Some("e2"));
    assert!(infos[1].reason.contains("idle"), "{:?}", infos[1]);
    Ok(())
}

#[tokio::test]
async fn observe_reconnects_are_bounded_and_can_be_off() -> R<()> {
    // First connection delivers nothing and closes; every reconnect gets a 503.
    let s = serve(|i, st| async move {
        if i == 0 {
            reply(st, observe_head().to_owned()).await;
        } else {
            reply(st, response("503 Service Unavailable", "text/plain", "")).await;
        }
    })
    .await?;
    let c = client(&s.url)?;
    let opts = StreamOptions {
        lower_bound: Some("b0".into()),
        ..Default::default()
    };
    let settings = ObserveSettings {
        max_reconnects: Some(2),
        ..Default::default()
    };
    let mut obs = c.observe_events("/", &opts, settings).await?;
    let r = tokio::time::timeout(Duration::from_secs(10), obs.next_batch(10)).await?;
    assert!(matches!(r, Err(Error::Http { status: 503, .. })), "{r:?}");
    assert_eq!(s.count(), 3);
    // No event was delivered: the reconnect used the caller's own options.
    assert_eq!(
        s.get(1).body,
        r#"{"subject":"/","options":{"lowerBound":"b0"}}"#
    );

    let s = serve(|_, st| reply(st, format!("{}{EV}\n", observe_head()))).await?;
    let c = client(&s.url)?;
    let settings = ObserveSettings {
        reconnect: false,
        ..Default::default()
    };
    let mut obs = c
        .observe_events("/", &StreamOptions::default(), settings)
        .await?;
    let b = obs.next_batch(10).await?;
    assert_eq!(b.map(|v| v.len()), Some(1));
    assert!(obs.next_batch(10).await?.is_none());
    assert_eq!(s.count(), 1);
    Ok(())
}

#[tokio::test]
async fn close_interrupts_a_hanging_call() -> R<()> {
    let s = serve(|_, st| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(st);
    })
    .await?;
    let mut config = fast_config(&s.url);
    config.request_timeout = Duration::from_secs(30);
    let c = Client::new(config)?;
    let c2 = c.clone();
    let call = tokio::spawn(async move { c2.stream_events("/", &StreamOptions::default()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c.close();
    let r = tokio::time::timeout(Duration::from_secs(5), call).await??;
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    Ok(())
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() -> R<()> {
    let probe = TcpListener::bind("127.0.0.1:0").await?;
    let addr = probe.local_addr()?;
    drop(probe);
    let c = client(&format!("http://{addr}"))?;
    let r = c.ping().await;
    match r {
        Err(e @ Error::Connect { .. }) => {
            assert!(e.is_connect());
            no_token(&e);
        }
        other => panic!("{other:?}"),
    }
    Ok(())
}

/// The reader stops reading the socket while batches are not taken (bounded memory), and
/// dropping the stream closes the connection.
#[tokio::test]
async fn slow_consumer_applies_backpressure() -> R<()> {
    let written = Arc::new(AtomicUsize::new(0));
    let closed = Arc::new(AtomicUsize::new(0));
    let (w2, c2) = (written.clone(), closed.clone());
    let s = serve(move |_, mut st| {
        let (written, closed) = (w2.clone(), c2.clone());
        async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n";
            if st.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut body = String::new();
            for i in 0..600 {
                body.push_str(&format!(
                    "{{\"id\":\"{i:08}\",\"type\":\"t\",\"data\":{{\"pad\":\"{}\"}}}}\n",
                    "p".repeat(60)
                ));
            }
            let chunk = format!("{:x}\r\n{body}\r\n", body.len());
            // Up to ~1 GB if nobody pushed back.
            for _ in 0..15_000 {
                if st.write_all(chunk.as_bytes()).await.is_err() {
                    closed.store(1, Ordering::SeqCst);
                    return;
                }
                written.fetch_add(chunk.len(), Ordering::SeqCst);
            }
        }
    })
    .await?;
    let c = client(&s.url)?;
    let mut it = c.iter_events("/", &StreamOptions::default()).await?;
    let first = it.next_batch(100).await?.map(|b| b.len());
    assert_eq!(first, Some(100));
    tokio::time::sleep(Duration::from_millis(700)).await;
    let w = written.load(Ordering::SeqCst);
    assert!(w < 40 * 1024 * 1024, "the client read {w} bytes ahead");
    drop(it);
    for _ in 0..100 {
        if closed.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        closed.load(Ordering::SeqCst),
        1,
        "the connection stayed open"
    );
    Ok(())
}

#[test]
fn ca_file_is_loaded_or_refused() -> R<()> {
    let mut config = Config::new("https://localhost:1", TOKEN);
    config.ca_file =
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/isrg-root-x2.pem").into());
    Client::new(config.clone())?;
    let dir = tempfile::tempdir()?;
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate")?;
    config.ca_file = Some(bad);
    assert!(matches!(
        Client::new(config.clone()),
        Err(Error::InvalidConfig(_))
    ));
    config.ca_file = Some(dir.path().join("missing.pem"));
    assert!(matches!(Client::new(config), Err(Error::InvalidConfig(_))));
    Ok(())
}

/// A server that flushes every event as its own HTTP chunk: while the consumer is busy the
/// decoded events accumulate, so one `next_batch` hands over many of them (one crossing into
/// Python per batch, not per event).
#[tokio::test]
async fn per_event_chunks_are_batched() -> R<()> {
    let s = serve(|_, mut st| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n";
        if st.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        for i in 0..3000 {
            let line = format!("{{\"id\":\"{i}\",\"type\":\"t\"}}\n");
            let chunk = format!("{:x}\r\n{line}\r\n", line.len());
            if st.write_all(chunk.as_bytes()).await.is_err() {
                return;
            }
            let _ = st.flush().await;
        }
        let _ = st.write_all(b"0\r\n\r\n").await;
        let _ = st.shutdown().await;
    })
    .await?;
    let c = client(&s.url)?;
    let mut it = c.iter_events("/", &StreamOptions::default()).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = it.next_batch(100_000).await?.map(|b| b.len()).unwrap_or(0);
    assert!(first >= 100, "first batch held only {first} events");
    let mut total = first;
    while let Some(b) = it.next_batch(100_000).await? {
        total += b.len();
    }
    assert_eq!(total, 3000);
    Ok(())
}

/// A 2xx is the answer of a commit: a body that breaks off afterwards does not turn a stored
/// commit into an error (which would invite a duplicate commit).
#[tokio::test]
async fn commit_success_with_a_broken_body_is_success() -> R<()> {
    let s = serve(|_, mut st| async move {
        let _ = st
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"ok\":")
            .await;
        let _ = st.shutdown().await;
    })
    .await?;
    let c = client(&s.url)?;
    c.commit_events(&[event()?], &[]).await?;
    c.erase_data("/a").await?;
    assert_eq!(s.count(), 2);
    Ok(())
}
