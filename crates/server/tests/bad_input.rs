//! Bad input: each answer has the right status and JSON error body, the
//! server keeps serving and the store is unchanged.

mod common;

use std::time::Duration;

use common::{ev, harness, Harness, TOKEN};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Commits one known event and returns the store's NDJSON.
async fn seed(h: &Harness) -> String {
    let mut e = ev("/seed/1", "seeded", json!({"k": "v"}));
    e["options"] = json!({"storeDataAsReference": true});
    h.commit_ok(json!([e])).await;
    h.post("/api/v1/stream", json!({"subject": "/"})).await.text
}

async fn assert_unchanged(h: &Harness, before: &str) {
    let r = h.get("/api/v1/status/ping", None).await;
    assert_eq!(r.text, "pong");
    let now = h.post("/api/v1/stream", json!({"subject": "/"})).await.text;
    assert_eq!(now, before, "store changed");
    h.assert_audit_passes(1).await;
}

#[tokio::test]
async fn malformed_bodies_and_wrong_types_are_400_naming_the_field() {
    let h = harness().await;
    let before = seed(&h).await;
    let good = || ev("/a", "t", json!({}));
    let with = |k: &str, v: Value| {
        let mut e = good();
        e[k] = v;
        json!({"events": [good(), e]})
    };
    let without = |k: &str| {
        let mut e = good();
        e.as_object_mut().unwrap().remove(k);
        json!({"events": [e]})
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "JSON object"),
        (json!("x"), "JSON object"),
        (json!({}), "events"),
        (json!({"events": null}), "events"),
        (json!({"events": {}}), "events"),
        (json!({"events": []}), "events"),
        (json!({"events": [1]}), "events[0]"),
        (json!({"events": ["x"]}), "events[0]"),
        (with("source", json!(1)), "events[1].source"),
        (with("source", json!("")), "events[1].source"),
        (with("source", json!(null)), "events[1].source"),
        (without("source"), "events[0].source"),
        (with("subject", json!(["/a"])), "events[1].subject"),
        (with("subject", json!("customer/1")), "events[1].subject"),
        (with("subject", json!("")), "events[1].subject"),
        (with("subject", json!("/")), "events[1].subject"),
        (with("subject", json!("/a//b")), "events[1].subject"),
        (with("subject", json!("/a/")), "events[1].subject"),
        (without("subject"), "events[0].subject"),
        (with("type", json!(true)), "events[1].type"),
        (with("type", json!("")), "events[1].type"),
        (without("type"), "events[0].type"),
        (without("data"), "events[0].data"),
        (with("options", json!("yes")), "events[1].options"),
        (
            with("options", json!({"storeDataAsReference": "yes"})),
            "events[1].options.storeDataAsReference",
        ),
        (
            json!({"events": [good()], "preconditions": {}}),
            "preconditions",
        ),
        (
            json!({"events": [good()], "preconditions": [1]}),
            "preconditions[0]",
        ),
        (
            json!({"events": [good()], "preconditions": [{"payload": {"subject": "/a"}}]}),
            "preconditions[0].type",
        ),
        (
            json!({"events": [good()], "preconditions": [{"type": "isSubjectNew"}]}),
            "preconditions[0].payload",
        ),
        (
            json!({"events": [good()], "preconditions": [{"type": "isSubjectNew", "payload": "/a"}]}),
            "preconditions[0].payload",
        ),
        (
            json!({"events": [good()], "preconditions": [{"type": "isSubjectNew", "payload": {"subject": 1}}]}),
            "preconditions[0].payload.subject",
        ),
        (
            json!({"events": [good()], "preconditions": [{"type": "isSubjectExisting", "payload": {}}]}),
            "preconditions[0].payload.subject",
        ),
        (
            json!({"events": [good()], "preconditions": [{"type": "isQueryResultTrue", "payload": {"query": 5}}]}),
            "preconditions[0].payload.query",
        ),
        (
            json!({"events": [good()], "preconditions": [{"type": "isSubjectNew", "payload": {"subject": "/z"}}, {"type": "isEverythingFine", "payload": {}}]}),
            "unknown precondition type",
        ),
    ];
    for (body, needle) in cases {
        let r = h.post("/api/v1/commit", body.clone()).await;
        let msg = r.assert_error(400, "bad_request");
        assert!(msg.contains(needle), "{body}: {msg:?} lacks {needle:?}");
    }
    for raw in [
        "",
        "{",
        "{\"events\": [}",
        "not json",
        "{\"events\":[]} trailing",
        "\u{0}",
    ] {
        let r = h
            .post_raw("/api/v1/commit", raw.to_string(), Some(TOKEN))
            .await;
        r.assert_error(400, "bad_request");
    }
    // Read routes.
    let read_cases: Vec<(&str, Value, &str)> = vec![
        ("/api/v1/stream", json!({}), "subject"),
        ("/api/v1/stream", json!({"subject": 1}), "subject"),
        ("/api/v1/stream", json!({"subject": "customer"}), "subject"),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": []}),
            "options",
        ),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": {"lowerBound": 7}}),
            "options.lowerBound",
        ),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": {"upperBound": {}}}),
            "options.upperBound",
        ),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": {"includeLowerBoundEvent": "true"}}),
            "options.includeLowerBoundEvent",
        ),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": {"includeUpperBoundEvent": 1}}),
            "options.includeUpperBoundEvent",
        ),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": {"latestByEventType": 1}}),
            "options.latestByEventType",
        ),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": {"lowerBound": "00000000-0000-4000-8000-000000000000"}}),
            "unknown event id",
        ),
        (
            "/api/v1/stream",
            json!({"subject": "/", "options": {"upperBound": "nope"}}),
            "unknown event id",
        ),
        (
            "/api/v1/observe",
            json!({"subject": "/", "options": {"lowerBound": "nope"}}),
            "unknown event id",
        ),
        ("/api/v1/observe", json!({"subject": ["/"]}), "subject"),
        ("/api/v1/erase", json!({}), "subject"),
        ("/api/v1/erase", json!({"subject": "user"}), "subject"),
        ("/api/v1/erase", json!({"subject": null}), "subject"),
    ];
    for (path, body, needle) in read_cases {
        let msg = h
            .post(path, body.clone())
            .await
            .assert_error(400, "bad_request");
        assert!(
            msg.contains(needle),
            "{path} {body}: {msg:?} lacks {needle:?}"
        );
    }
    for path in [
        "/api/v1/stream",
        "/api/v1/observe",
        "/api/v1/erase",
        "/api/v1/q",
    ] {
        h.post_raw(path, "{".to_string(), Some(TOKEN))
            .await
            .assert_error(400, "bad_request");
    }
    assert_unchanged(&h, &before).await;
}

#[tokio::test]
async fn size_limits_event_400_body_413() {
    let h = harness().await;
    let before = seed(&h).await;
    // One event over 64 KiB is a validation error naming it.
    let big = "x".repeat(64 * 1024);
    let msg = h
        .commit(json!([
            ev("/a", "t", json!({"ok": 1})),
            ev("/a", "t", json!({"blob": big}))
        ]))
        .await
        .assert_error(400, "bad_request");
    assert!(msg.contains("events[1]"), "{msg}");
    // A body over 16 MiB, with and without a Content-Length.
    let huge = format!(
        "{{\"events\": [{{\"source\":\"s\",\"subject\":\"/a\",\"type\":\"t\",\"data\":\"{}\"}}]}}",
        "y".repeat(16 * 1024 * 1024)
    );
    h.post_raw("/api/v1/commit", huge.clone(), Some(TOKEN))
        .await
        .assert_error(413, "payload_too_large");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = huge
        .into_bytes()
        .chunks(1 << 20)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = h
        .http
        .post(format!("{}/api/v1/commit", h.url))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await;
    // The server may answer before reading everything and close; either the
    // 413 arrives or the upload is cut off, but nothing is stored.
    if let Ok(r) = r {
        common::to_resp(r)
            .await
            .assert_error(413, "payload_too_large");
    }
    assert_unchanged(&h, &before).await;
}

#[tokio::test]
async fn event_at_the_size_limit_is_accepted() {
    let h = harness().await;
    // Find the largest payload whose stored line is <= 64 KiB by committing
    // once below and once above the limit.
    let overhead = {
        h.commit_ok(json!([ev("/a", "t", json!(""))])).await;
        let line = h
            .post("/api/v1/stream", json!({"subject": "/a"}))
            .await
            .text;
        line.len() - 1 // without the newline; data is ""
    };
    let fits = "x".repeat(64 * 1024 - overhead);
    h.commit_ok(json!([ev("/a", "t", json!(fits))])).await;
    let over = "x".repeat(64 * 1024 - overhead + 1);
    h.commit(json!([ev("/a", "t", json!(over))]))
        .await
        .assert_error(400, "bad_request");
    let lines = h.stream("/a", None).await;
    assert_eq!(lines.len(), 2);
    let raw = h
        .post("/api/v1/stream", json!({"subject": "/a"}))
        .await
        .text;
    assert_eq!(raw.lines().nth(1).unwrap().len(), 64 * 1024);
}

async fn raw_request(url: &str, req: &[u8], read: bool) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut out = Vec::new();
    if read {
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn clients_that_vanish_mid_request_or_mid_observe_change_nothing() {
    let h = harness().await;
    let before = seed(&h).await;
    let host = h.url.trim_start_matches("http://").to_string();
    // Body announced but cut short.
    let body = json!({"events": [ev("/cut", "t", json!({}))]}).to_string();
    let req = format!(
        "POST /api/v1/commit HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
        body.len() + 100,
        &body[..body.len() / 2]
    );
    raw_request(&h.url, req.as_bytes(), false).await;
    // Headers only, then gone.
    raw_request(
        &h.url,
        b"POST /api/v1/commit HTTP/1.1\r\nhost: x\r\n",
        false,
    )
    .await;
    // Garbage that is not HTTP.
    let out = raw_request(&h.url, b"\x16\x03\x01garbage\r\n\r\n", true).await;
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 400"), "{out:?}");
    // Observe opened then dropped.
    for _ in 0..5 {
        let resp = h
            .http
            .post(format!("{}/api/v1/observe", h.url))
            .bearer_auth(TOKEN)
            .body(json!({"subject": "/"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        drop(resp);
    }
    // A chunked body aborted midway.
    let req = format!(
        "POST /api/v1/commit HTTP/1.1\r\nhost: {host}\r\nauthorization: Bearer {TOKEN}\r\ntransfer-encoding: chunked\r\n\r\n10\r\n{{\"events\": [{{\"s"
    );
    raw_request(&h.url, req.as_bytes(), false).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_unchanged(&h, &before).await;
}
