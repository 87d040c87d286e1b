//! The v1 routes over real HTTP: commit, stream, erase, audit, ping, auth,
//! paths, status codes and error bodies.

mod common;

use common::{ev, harness, TOKEN};
use serde_json::{json, Value};

const KEYS: [&str; 10] = [
    "source",
    "subject",
    "type",
    "specversion",
    "id",
    "time",
    "datacontenttype",
    "predecessorhash",
    "data",
    "hash",
];

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_digit() || ('a'..='f').contains(&c)
            }
        })
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
}

#[tokio::test]
async fn commit_then_stream_returns_stored_events_in_shape_and_order() {
    let h = harness().await;
    h.commit_ok(json!([
        ev(
            "/customer/1",
            "io.genesisdb.app.customer-added",
            json!({"firstName": "Bruce", "price": 2990000.00, "z": 1, "a": 2})
        ),
        ev(
            "/customer/2",
            "io.genesisdb.app.customer-added",
            json!({"firstName": "Alfred"})
        ),
        ev(
            "/article/1",
            "io.genesisdb.app.article-added",
            json!({"name": "x"})
        ),
    ]))
    .await;
    let r = h
        .post("/api/v1/stream", json!({"subject": "/customer"}))
        .await;
    assert_eq!(r.status, 200);
    // Raw key order of every line, exactly the ten fields.
    for line in r.text.lines() {
        let v: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        let keys: Vec<&str> = v.keys().map(String::as_str).collect();
        assert_eq!(keys, KEYS);
    }
    let evs = r.lines();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0]["subject"], "/customer/1");
    assert_eq!(evs[1]["subject"], "/customer/2");
    // Client key order inside data is kept.
    assert!(
        r.text
            .contains(r#""data":{"firstName":"Bruce","price":2990000.0,"z":1,"a":2}"#),
        "{}",
        r.text
    );
    let all = h.stream("/", None).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["predecessorhash"], "0".repeat(64));
    for w in all.windows(2) {
        assert_eq!(w[1]["predecessorhash"], w[0]["hash"]);
        assert!(w[0]["time"].as_str().unwrap() < w[1]["time"].as_str().unwrap());
    }
    for e in &all {
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["datacontenttype"], "application/json");
        assert!(is_uuid_v4(e["id"].as_str().unwrap()), "{}", e["id"]);
        let t = e["time"].as_str().unwrap();
        assert_eq!(t.len(), 30, "{t}");
        assert!(t.ends_with('Z') && &t[19..20] == ".", "{t}");
        let hash = e["hash"].as_str().unwrap();
        assert!(
            hash.len() == 64
                && hash
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }
    h.assert_audit_passes(3).await;
}

#[tokio::test]
async fn subjects_are_recursive_by_segment() {
    let h = harness().await;
    h.commit_ok(json!([
        ev("/customer", "t", json!(0)),
        ev("/customer/1", "t", json!(1)),
        ev("/customer/1/orders/9", "t", json!(2)),
        ev("/customers", "t", json!(3)),
        ev("/cust", "t", json!(4)),
    ]))
    .await;
    let data = |v: Vec<Value>| v.iter().map(|e| e["data"].clone()).collect::<Vec<_>>();
    assert_eq!(
        data(h.stream("/customer", None).await),
        vec![json!(0), json!(1), json!(2)]
    );
    assert_eq!(data(h.stream("/cust", None).await), vec![json!(4)]);
    assert_eq!(
        data(h.stream("/customer/1", None).await),
        vec![json!(1), json!(2)]
    );
    assert_eq!(h.stream("/", None).await.len(), 5);
    let r = h
        .post("/api/v1/stream", json!({"subject": "/nobody"}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
}

#[tokio::test]
async fn bounds_are_exclusive_by_default_and_inclusive_on_request() {
    let h = harness().await;
    for i in 0..3 {
        h.commit_ok(json!([ev("/s", "t", json!({"seq": i}))])).await;
    }
    h.commit_ok(json!([ev("/other", "t", json!({"seq": 99}))]))
        .await;
    let all = h.stream("/s", None).await;
    let id = |i: usize| all[i]["id"].as_str().unwrap().to_string();
    let seqs = |v: Vec<Value>| {
        v.iter()
            .map(|e| e["data"]["seq"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seqs(h.stream("/s", Some(json!({"lowerBound": id(0)}))).await),
        [1, 2]
    );
    assert_eq!(
        seqs(
            h.stream(
                "/s",
                Some(json!({"lowerBound": id(1), "includeLowerBoundEvent": true}))
            )
            .await
        ),
        [1, 2]
    );
    assert_eq!(
        seqs(h.stream("/s", Some(json!({"upperBound": id(2)}))).await),
        [0, 1]
    );
    assert_eq!(
        seqs(
            h.stream(
                "/s",
                Some(json!({"upperBound": id(1), "includeUpperBoundEvent": true}))
            )
            .await
        ),
        [0, 1]
    );
    assert_eq!(
        seqs(
            h.stream(
                "/s",
                Some(json!({"lowerBound": id(0), "upperBound": id(2)}))
            )
            .await
        ),
        [1]
    );
    // A bound of another subject is a position in the global log.
    assert_eq!(
        seqs(h.stream("/", Some(json!({"lowerBound": id(2)}))).await),
        [99]
    );
    // Old clients put the keys at the top level.
    let r = h
        .post(
            "/api/v1/stream",
            json!({"subject": "/s", "lowerBound": id(0), "includeLowerBoundEvent": true}),
        )
        .await;
    assert_eq!(r.lines().len(), 3);
    // Empty options and explicit nulls are accepted.
    assert_eq!(h.stream("/s", Some(json!({}))).await.len(), 3);
    assert_eq!(
        h.stream("/s", Some(json!({"lowerBound": null})))
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn latest_by_event_type_keeps_newest_per_subject_in_global_order() {
    let h = harness().await;
    h.commit_ok(json!([
        ev("/user/a", "updated", json!({"v": 1})),
        ev("/user/b", "updated", json!({"v": 2})),
        ev("/user/a", "updated", json!({"v": 3})),
        ev("/user/a", "deleted", json!({"v": 4})),
        ev("/other/c", "updated", json!({"v": 5})),
    ]))
    .await;
    let got = h
        .stream("/user", Some(json!({"latestByEventType": "updated"})))
        .await;
    let v: Vec<i64> = got
        .iter()
        .map(|e| e["data"]["v"].as_i64().unwrap())
        .collect();
    assert_eq!(v, [2, 3]);
    let got = h
        .stream("/", Some(json!({"latestByEventType": "nothing"})))
        .await;
    assert!(got.is_empty());
}

#[tokio::test]
async fn commit_is_atomic_and_preconditions_give_412_with_type_and_index() {
    let h = harness().await;
    let pre = |t: &str, s: &str| json!({"type": t, "payload": {"subject": s}});
    let r = h
        .post(
            "/api/v1/commit",
            json!({"events": [ev("/user/456", "registered", json!({}))], "preconditions": [pre("isSubjectNew", "/user/456")]}),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let r = h
        .post(
            "/api/v1/commit",
            json!({"events": [ev("/user/456", "registered", json!({})), ev("/x/1", "t", json!({}))],
                   "preconditions": [pre("isSubjectExisting", "/user/456"), pre("isSubjectNew", "/user/456")]}),
        )
        .await;
    r.assert_error(412, "precondition_failed");
    let v = r.json();
    assert_eq!(v["type"], "isSubjectNew");
    assert_eq!(v["index"], 1);
    assert_eq!(
        h.stream("/", None).await.len(),
        1,
        "nothing of the failed batch is written"
    );
    // Exact subject only: /user has no events of its own.
    let r = h
        .post("/api/v1/commit", json!({"events": [ev("/user/1", "t", json!({}))], "preconditions": [pre("isSubjectExisting", "/user")]}))
        .await;
    assert_eq!(r.json()["type"], "isSubjectExisting");
    let r = h
        .post("/api/v1/commit", json!({"events": [ev("/user", "t", json!({}))], "preconditions": [pre("isSubjectNew", "/user")]}))
        .await;
    assert_eq!(r.status, 200);
    // Empty preconditions, empty options, null options and extra fields are fine.
    let mut e = ev("/y", "t", json!({"a": 1}));
    e["options"] = json!({});
    e["id"] = json!("client-chosen");
    e["time"] = json!("2024-01-01T12:00:00Z");
    e["metadata"] = json!({"k": 1});
    let r = h
        .post(
            "/api/v1/commit",
            json!({"events": [e], "preconditions": [], "extra": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = h.stream("/y", None).await;
    assert_ne!(got[0]["id"], "client-chosen");
    assert!(got[0].get("metadata").is_none());
    h.assert_audit_passes(3).await;
}

#[tokio::test]
async fn erase_blanks_by_reference_payloads_and_audit_still_passes() {
    let h = harness().await;
    let mut secret = ev(
        "/user/456",
        "registered",
        json!({"firstName": "Jane", "age": 42, "address": {"city": "Wien", "zip": 1010}, "tags": ["a", "b"], "ok": true, "none": null}),
    );
    secret["options"] = json!({"storeDataAsReference": true});
    h.commit_ok(json!([
        secret,
        ev("/user/456", "plain", json!({"note": "keep"})),
        ev("/user/4567", "registered", json!({"firstName": "Other"}))
    ]))
    .await;
    let mut other_ref = ev("/user/4567", "registered", json!({"firstName": "Other"}));
    other_ref["options"] = json!({"storeDataAsReference": true});
    h.commit_ok(json!([other_ref])).await;
    // Before erase the payload is inline.
    let before = h.stream("/user/456", None).await;
    assert_eq!(before[0]["data"]["firstName"], "Jane");
    let r = h
        .post("/api/v1/erase", json!({"subject": "/user/456"}))
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    let after = h.stream("/user/456", None).await;
    assert_eq!(after.len(), 2);
    assert_eq!(
        after[0]["data"],
        json!({"firstName": "", "age": "", "address": {"city": "", "zip": ""}, "tags": [], "ok": "", "none": ""})
    );
    assert_eq!(after[0]["hash"], before[0]["hash"]);
    assert_eq!(
        after[1]["data"],
        json!({"note": "keep"}),
        "events without the option stay"
    );
    // /user/4567 is not under /user/456.
    let o = h.stream("/user/4567", None).await;
    assert_eq!(o[1]["data"]["firstName"], "Other");
    h.assert_audit_passes(4).await;
    // Erase again: nothing left to erase, still 200. Unknown subject: 404.
    assert_eq!(
        h.post("/api/v1/erase", json!({"subject": "/user/456"}))
            .await
            .status,
        200
    );
    h.post("/api/v1/erase", json!({"subject": "/nobody"}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn ping_audit_auth_paths_and_methods() {
    let h = harness().await;
    let r = h.get("/api/v1/status/ping", None).await;
    assert_eq!((r.status, r.text.as_str()), (200, "pong"));
    assert!(r.content_type.starts_with("text/plain"));
    // A doubled slash (base URL ending in "/") is served like a single one.
    let r = h.get("//api/v1/status/ping", None).await;
    assert_eq!((r.status, r.text.as_str()), (200, "pong"));
    let r = h
        .post(
            "//api/v1/commit",
            json!({"events": [ev("/a", "t", json!(1))]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        h.audit().await,
        "Audit passed. All 1 events integrity checks succeeded."
    );
    // Auth on every route but ping.
    for (m, p) in [
        ("POST", "/api/v1/commit"),
        ("POST", "/api/v1/stream"),
        ("POST", "/api/v1/observe"),
        ("POST", "/api/v1/erase"),
        ("POST", "/api/v1/q"),
        ("POST", "/api/v1/query"),
        ("GET", "/api/v1/status/audit"),
    ] {
        for token in [
            None,
            Some("wrong"),
            Some("test-toke"),
            Some("test-token-longer"),
        ] {
            let r = if m == "GET" {
                h.get(p, token).await
            } else {
                h.post_raw(
                    p,
                    json!({"subject": "/", "events": [ev("/a", "t", json!(1))], "query": "x"})
                        .to_string(),
                    token,
                )
                .await
            };
            r.assert_error(401, "unauthorized");
        }
    }
    // Scheme is case-insensitive.
    let r = common::to_resp(
        h.http
            .get(format!("{}/api/v1/status/audit", h.url))
            .header("authorization", format!("bearer {TOKEN}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    // Unknown route and wrong method.
    h.get("/api/v1/nope", Some(TOKEN))
        .await
        .assert_error(404, "not_found");
    h.get("/api/v2/stream", Some(TOKEN))
        .await
        .assert_error(404, "not_found");
    h.get("/api/v1/commit", Some(TOKEN))
        .await
        .assert_error(405, "method_not_allowed");
    h.get("/api/v1/stream", None)
        .await
        .assert_error(405, "method_not_allowed");
    h.post("/api/v1/status/ping", json!({}))
        .await
        .assert_error(405, "method_not_allowed");
    // GET with text/plain content type (as the official clients send).
    let r = common::to_resp(
        h.http
            .get(format!("{}/api/v1/status/audit", h.url))
            .bearer_auth(TOKEN)
            .header("content-type", "text/plain")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200);
    h.assert_audit_passes(1).await;
}

#[tokio::test]
async fn query_routes_answer_400_with_the_parser_message_for_a_bad_query() {
    let h = harness().await;
    for path in ["/api/v1/q", "/api/v1/query"] {
        let msg = h
            .post(path, json!({"query": "THIS IS ) NOT GDBQL ("}))
            .await
            .assert_error(400, "bad_request");
        assert!(msg.contains("line 1, column"), "{msg}");
        h.post(path, json!({"query": 1}))
            .await
            .assert_error(400, "bad_request");
        h.post(path, json!({}))
            .await
            .assert_error(400, "bad_request");
    }
    // isQueryResultTrue with a query that does not parse is a 400, not a 412.
    let r = h
        .post(
            "/api/v1/commit",
            json!({"events": [ev("/a", "t", json!(1))], "preconditions": [{"type": "isQueryResultTrue", "payload": {"query": "))"}}]}),
        )
        .await;
    let msg = r.assert_error(400, "bad_request");
    assert!(msg.contains("preconditions[0].payload.query"), "{msg}");
    assert!(h.stream("/", None).await.is_empty());
}

#[tokio::test]
async fn query_rows_stream_over_many_chunks_and_a_vanished_reader_is_harmless() {
    let h = harness().await;
    let n = 3000;
    let pad = "p".repeat(100);
    for b in 0..(n / 500) {
        let batch: Vec<Value> = (0..500)
            .map(|k| ev("/q", "t", json!({"i": b * 500 + k, "pad": pad})))
            .collect();
        h.commit_ok(Value::Array(batch)).await;
    }
    let r = h
        .post(
            "/api/v1/q",
            json!({"query": "STREAM e FROM events MAP e.data"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.content_type.starts_with("application/x-ndjson"));
    let rows = r.lines();
    assert_eq!(rows.len(), n);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["i"], i);
    }
    let r = h
        .post(
            "/api/v1/query",
            json!({"query": "STREAM e FROM events WHERE e.data.i < 0 MAP e.id"}),
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (200, ""));
    // Readers that go away before reading anything.
    for _ in 0..5 {
        let resp = h
            .http
            .post(format!("{}/api/v1/q", h.url))
            .bearer_auth(TOKEN)
            .body(json!({"query": "STREAM e FROM events MAP e"}).to_string())
            .send()
            .await
            .unwrap();
        drop(resp);
    }
    let r = h
        .post(
            "/api/v1/q",
            json!({"query": "STREAM e FROM events MAP COUNT()"}),
        )
        .await;
    assert_eq!(r.text, format!("{n}\n"));
    h.assert_audit_passes(n).await;
}

/// Racing committers: preconditions are checked under the same lock as the
/// append, so exactly the allowed number of batches get through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_preconditions_admit_exactly_the_allowed_batches() {
    let h = std::sync::Arc::new(harness().await);
    let race = |subject: &'static str, pre: Value| {
        let mut tasks = Vec::new();
        for i in 0..32 {
            let (h, pre) = (h.clone(), pre.clone());
            tasks.push(tokio::spawn(async move {
                h.post(
                    "/api/v1/commit",
                    json!({"events": [ev(subject, "t", json!({"i": i}))], "preconditions": [pre]}),
                )
                .await
                .status
            }));
        }
        tasks
    };
    let mut statuses = Vec::new();
    for t in race(
        "/race/new",
        json!({"type": "isSubjectNew", "payload": {"subject": "/race/new"}}),
    ) {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 412),
        "{statuses:?}"
    );
    assert_eq!(h.stream("/race/new", None).await.len(), 1);

    let query = "STREAM e FROM events WHERE e.subject == '/race/q' MAP COUNT() < 3";
    let mut statuses = Vec::new();
    for t in race(
        "/race/q",
        json!({"type": "isQueryResultTrue", "payload": {"query": query}}),
    ) {
        statuses.push(t.await.expect("task"));
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 412),
        "{statuses:?}"
    );
    assert_eq!(h.stream("/race/q", None).await.len(), 3);
    h.assert_audit_passes(4).await;
}
