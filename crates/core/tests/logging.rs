//! Log records: retries and reconnects are logged; never the token, never event data.

use std::sync::Mutex;
use std::time::Duration;

use genesisdb_core::{Client, Config, ObserveSettings, RetryPolicy, StreamOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TOKEN: &str = "log-test-token-c0ffee";
const DATA_MARKER: &str = "very-private-event-data";

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if let Ok(mut v) = RECORDS.lock() {
            v.push((
                record.level(),
                format!("{} {}", record.target(), record.args()),
            ));
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture;

#[tokio::test]
async fn retries_and_reconnects_are_logged_without_secrets(
) -> Result<(), Box<dyn std::error::Error>> {
    log::set_logger(&LOGGER).map_err(|e| e.to_string())?;
    log::set_max_level(log::LevelFilter::Trace);

    // Every connection: read the request, send one event, then close (observe reconnects);
    // every other request gets a 503 first (ping retried).
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let mut n = 0u32;
        while let Ok((mut s, _)) = listener.accept().await {
            n += 1;
            let odd = n % 2 == 1;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                let text = if odd {
                    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
                } else {
                    let body = format!(
                        "{{\"id\":\"id{n}\",\"type\":\"t\",\"data\":{{\"x\":\"{DATA_MARKER}\"}}}}\n"
                    );
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = s.write_all(text.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });

    let mut config = Config::new(&url, TOKEN);
    config.retry = RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    };
    let c = Client::new(config)?;
    let mut obs = c
        .observe_events("/", &StreamOptions::default(), ObserveSettings::default())
        .await?;
    let mut got = 0;
    while got < 3 {
        let b = tokio::time::timeout(Duration::from_secs(10), obs.next_batch(10)).await??;
        got += b.map(|v| v.len()).unwrap_or(0);
    }
    drop(obs);
    c.close();

    let records = RECORDS.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(
        records
            .iter()
            .any(|(l, m)| *l == log::Level::Info && m.contains("retrying observe")),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .any(|(l, m)| *l == log::Level::Warn && m.contains("reconnecting")),
        "{records:?}"
    );
    for (_, m) in &records {
        assert!(!m.contains(TOKEN), "token in a log record: {m}");
        assert!(!m.contains(DATA_MARKER), "event data in a log record: {m}");
    }
    Ok(())
}
