//! Observe: live delivery, replay + live with no gap and no duplicate at the
//! seam, heartbeats, upper bound, slow and vanished readers, shutdown.

mod common;

use std::time::Duration;

use common::{ev, harness, harness_with, Harness, TOKEN};
use futures::StreamExt;
use genesisdb_server::ServerConfig;
use serde_json::{json, Value};

/// Reads an observe body line by line.
struct Lines {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: Vec<u8>,
}

const WAIT: Duration = Duration::from_secs(20);

impl Lines {
    async fn open(h: &Harness, body: Value) -> Lines {
        let resp = h
            .http
            .post(format!("{}/api/v1/observe", h.url))
            .bearer_auth(TOKEN)
            .header("accept", "application/x-ndjson")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
        Lines {
            stream: resp.bytes_stream().boxed(),
            buf: Vec::new(),
        }
    }

    /// Next raw line, `None` at the end of the body.
    async fn next_raw(&mut self) -> Option<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(String::from_utf8(line[..line.len() - 1].to_vec()).unwrap());
            }
            match tokio::time::timeout(WAIT, self.stream.next()).await {
                Ok(Some(Ok(b))) => self.buf.extend_from_slice(&b),
                Ok(Some(Err(_))) | Ok(None) => {
                    assert!(self.buf.is_empty(), "unterminated last line");
                    return None;
                }
                Err(_) => panic!("observe stalled"),
            }
        }
    }

    /// Next event, skipping heartbeats.
    async fn next_event(&mut self) -> Option<Value> {
        loop {
            let l = self.next_raw().await?;
            if l == r#"{"payload":""}"# {
                continue;
            }
            return Some(serde_json::from_str(&l).unwrap());
        }
    }
}

#[tokio::test]
async fn live_events_after_the_request_only_in_scope_with_heartbeats() {
    let h = harness().await;
    h.commit_ok(json!([ev("/customer/0", "old", json!({}))]))
        .await;
    let mut obs = Lines::open(&h, json!({"subject": "/customer"})).await;
    // Idle: a heartbeat line, exactly.
    assert_eq!(obs.next_raw().await.unwrap(), r#"{"payload":""}"#);
    h.commit_ok(json!([
        ev("/other/1", "t", json!({"n": 0})),
        ev("/customer/1", "t", json!({"n": 1}))
    ]))
    .await;
    h.commit_ok(json!([
        ev("/customers/1", "t", json!({"n": 2})),
        ev("/customer", "t", json!({"n": 3}))
    ]))
    .await;
    let a = obs.next_event().await.unwrap();
    let b = obs.next_event().await.unwrap();
    assert_eq!(
        (a["data"]["n"].clone(), b["data"]["n"].clone()),
        (json!(1), json!(3))
    );
    let stored = h.stream("/customer", None).await;
    assert_eq!(vec![a, b], stored[1..].to_vec(), "same bytes as stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_then_live_has_no_gap_and_no_duplicate_with_racing_commits() {
    let h = harness().await;
    for i in 0..20 {
        h.commit_ok(json!([ev("/seam", "t", json!({"n": i}))]))
            .await;
    }
    let first = h.stream("/seam", None).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for round in 0..4 {
        let before = h.stream("/seam", None).await.len();
        let url = h.url.clone();
        let extra = 150;
        let committer = tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..extra {
                let batch: Vec<Value> = (0..(i % 3 + 1))
                    .map(|k| ev("/seam", "t", json!({"r": round, "i": i, "k": k})))
                    .collect();
                let r = http
                    .post(format!("{url}/api/v1/commit"))
                    .bearer_auth(TOKEN)
                    .body(json!({ "events": batch }).to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                if i % 10 == round {
                    tokio::task::yield_now().await;
                }
            }
        });
        // Let some commits land before and during the replay.
        for _ in 0..round {
            tokio::task::yield_now().await;
        }
        let mut obs = Lines::open(
            &h,
            json!({"subject": "/seam", "options": {"lowerBound": first, "includeLowerBoundEvent": true}}),
        )
        .await;
        committer.await.unwrap();
        let total = h.stream("/seam", None).await;
        let added: usize = (0..150).map(|i| i % 3 + 1).sum();
        assert_eq!(total.len(), before + added);
        let mut got = Vec::with_capacity(total.len());
        while got.len() < total.len() {
            got.push(obs.next_event().await.unwrap());
        }
        assert_eq!(
            got, total,
            "round {round}: observe must equal the stream exactly"
        );
        // And nothing more arrives but heartbeats.
        assert_eq!(obs.next_raw().await.unwrap(), r#"{"payload":""}"#);
    }
}

#[tokio::test]
async fn exclusive_lower_bound_and_upper_bound_end_the_body() {
    let h = harness().await;
    for i in 0..5 {
        h.commit_ok(json!([ev("/ub", "t", json!({"n": i}))])).await;
    }
    let all = h.stream("/ub", None).await;
    let id = |i: usize| all[i]["id"].as_str().unwrap().to_string();
    let mut obs = Lines::open(
        &h,
        json!({"subject": "/ub", "options": {"lowerBound": id(0), "upperBound": id(3)}}),
    )
    .await;
    let mut got = Vec::new();
    while let Some(e) = obs.next_event().await {
        got.push(e["data"]["n"].as_i64().unwrap());
    }
    assert_eq!(got, [1, 2]);
    let mut obs = Lines::open(
        &h,
        json!({"subject": "/ub", "options": {"lowerBound": id(3), "upperBound": id(3), "includeLowerBoundEvent": true, "includeUpperBoundEvent": true}}),
    )
    .await;
    assert_eq!(obs.next_event().await.unwrap()["data"]["n"], 3);
    assert!(obs.next_event().await.is_none());
    // Exclusive lower bound on the newest event: live only from there.
    let mut obs = Lines::open(
        &h,
        json!({"subject": "/ub", "options": {"lowerBound": id(4)}}),
    )
    .await;
    h.commit_ok(json!([ev("/ub", "t", json!({"n": 5}))])).await;
    assert_eq!(obs.next_event().await.unwrap()["data"]["n"], 5);
}

#[tokio::test]
async fn latest_by_event_type_replays_the_newest_then_live_of_that_type() {
    let h = harness().await;
    h.commit_ok(json!([
        ev("/q/a", "job", json!({"v": 1})),
        ev("/q/a", "job", json!({"v": 2})),
        ev("/q/b", "other", json!({"v": 3})),
        ev("/q/b", "job", json!({"v": 4})),
    ]))
    .await;
    let first = h.stream("/q", None).await[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut obs = Lines::open(
        &h,
        json!({"subject": "/q", "options": {"lowerBound": first, "includeLowerBoundEvent": true, "latestByEventType": "job"}}),
    )
    .await;
    assert_eq!(obs.next_event().await.unwrap()["data"]["v"], 2);
    assert_eq!(obs.next_event().await.unwrap()["data"]["v"], 4);
    h.commit_ok(json!([
        ev("/q/c", "other", json!({"v": 5})),
        ev("/q/c", "job", json!({"v": 6}))
    ]))
    .await;
    assert_eq!(obs.next_event().await.unwrap()["data"]["v"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_never_blocks_commits_or_other_readers_and_closing_frees_it() {
    let h = harness_with(ServerConfig {
        token: TOKEN.into(),
        heartbeat: Duration::from_millis(50),
        ..Default::default()
    })
    .await;
    // Opened and never read.
    let slow = h
        .http
        .post(format!("{}/api/v1/observe", h.url))
        .bearer_auth(TOKEN)
        .body(json!({"subject": "/"}).to_string())
        .send()
        .await
        .unwrap();
    let mut fast = Lines::open(&h, json!({"subject": "/"})).await;
    let blob = "z".repeat(9000);
    let n = 1500; // ~14 MB: more than the loopback socket buffers hold
    let url = h.url.clone();
    let committer = tokio::spawn(async move {
        let http = reqwest::Client::new();
        for i in 0..n {
            let r = http
                .post(format!("{url}/api/v1/commit"))
                .bearer_auth(TOKEN)
                .body(
                    json!({"events": [ev("/load", "t", json!({"i": i, "blob": blob}))]})
                        .to_string(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    });
    let mut seen = 0;
    while seen < n {
        let e = fast.next_event().await.unwrap();
        assert_eq!(e["data"]["i"], seen);
        seen += 1;
    }
    tokio::time::timeout(WAIT, committer)
        .await
        .expect("commits blocked")
        .unwrap();
    assert_eq!(h.server.open_observers(), 2);
    drop(slow);
    drop(fast);
    let mut waited = 0;
    while h.server.open_observers() > 0 {
        assert!(waited < 400, "closed observers were not freed");
        tokio::time::sleep(Duration::from_millis(25)).await;
        waited += 1;
    }
    h.assert_audit_passes(n).await;
}

#[tokio::test]
async fn shutdown_drops_open_observe_connections() {
    let h = harness().await;
    let mut obs = Lines::open(&h, json!({"subject": "/"})).await;
    let hb = obs.next_raw().await.unwrap();
    assert_eq!(hb, r#"{"payload":""}"#);
    let url = h.url.clone();
    h.server.shutdown().await;
    // The body ends (with an error or EOF) instead of hanging.
    let mut ended = false;
    for _ in 0..100 {
        match tokio::time::timeout(WAIT, obs.stream.next()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => {
                ended = true;
                break;
            }
            Err(_) => panic!("observe still open after shutdown"),
        }
    }
    assert!(ended);
    assert!(
        reqwest::get(format!("{url}/api/v1/status/ping"))
            .await
            .is_err(),
        "still accepting"
    );
}
