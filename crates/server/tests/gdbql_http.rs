//! GDBQL end to end over HTTP: the gdbql.md §7 fixtures through
//! `POST /api/v1/q` (and `/api/v1/query`), and the official SDK README's
//! `isQueryResultTrue` examples through `POST /api/v1/commit`.

mod common;

use common::{ev, harness, Harness, Resp};
use serde_json::{json, Value};

async fn q(h: &Harness, query: &str) -> Resp {
    h.post("/api/v1/q", json!({ "query": query })).await
}

/// Runs a query that must succeed; returns the raw NDJSON body.
async fn q_ok(h: &Harness, query: &str) -> String {
    let r = q(h, query).await;
    assert_eq!(r.status, 200, "{query}: {}", r.text);
    assert!(
        r.content_type.starts_with("application/x-ndjson"),
        "{}",
        r.content_type
    );
    r.text
}

async fn rows(h: &Harness, query: &str) -> Vec<Value> {
    let text = q_ok(h, query).await;
    assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn precondition(query: &str) -> Value {
    json!([{ "type": "isQueryResultTrue", "payload": { "query": query } }])
}

async fn commit_with(h: &Harness, events: Value, pre: Value) -> Resp {
    h.post(
        "/api/v1/commit",
        json!({ "events": events, "preconditions": pre }),
    )
    .await
}

fn assert_412(r: &Resp, index: u64) {
    assert_eq!(r.status, 412, "{}", r.text);
    let v = r.json();
    assert_eq!(v["type"], "isQueryResultTrue", "{v}");
    assert_eq!(v["index"], index, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

async fn count_all(h: &Harness) -> usize {
    h.stream("/", None).await.len()
}

#[tokio::test]
async fn fixture1_descendants_count_and_age_order() {
    let h = harness().await;
    let root = "/sdk-test-rust/5f2c9a";
    h.commit_ok(json!([
        ev(
            "/elsewhere/customer/1",
            "t",
            json!({"name": "Other", "age": 1})
        ),
        ev(
            &format!("{root}/customer/1"),
            "t",
            json!({"name": "Bruce", "age": 40})
        ),
        ev(
            &format!("{root}/customer/2"),
            "t",
            json!({"name": "Selina", "age": 35})
        ),
    ]))
    .await;
    assert_eq!(
        q_ok(
            &h,
            &format!("STREAM e FROM events WHERE e.subject DESCENDANTS '{root}' MAP COUNT()")
        )
        .await,
        "2\n"
    );
    assert_eq!(
        rows(&h, &format!("STREAM e FROM events WHERE e.subject DESCENDANTS '{root}' ORDER BY e.data.age MAP {{ name: e.data.name }}")).await,
        vec![json!({"name": "Selina"}), json!({"name": "Bruce"})]
    );
    assert_eq!(
        rows(&h, &format!("STREAM e FROM events WHERE e.subject DESCENDANTS '{root}' ORDER BY e.data.age DESC MAP {{ name: e.data.name }}")).await,
        vec![json!({"name": "Bruce"}), json!({"name": "Selina"})]
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn fixture2_subject_rows_with_exact_keys_on_both_routes() {
    let h = harness().await;
    let subject = "/customer/2b0e8c2e-9d7e-4a36-9f65-5b5f1f4d6c11";
    h.commit_ok(json!([
        ev(
            subject,
            "io.genesisdb.app.customer-added",
            json!({"firstName": "Bruce", "lastName": "Wayne"})
        ),
        ev(
            "/customer/other",
            "io.genesisdb.app.customer-added",
            json!({"firstName": "X"})
        ),
        ev(
            subject,
            "io.genesisdb.app.customer-renamed",
            json!({"firstName": "Batman"})
        ),
    ]))
    .await;
    let stored = h.stream(subject, None).await;
    let query = format!(
        "STREAM e FROM events WHERE e.subject == '{subject}' ORDER BY e.time MAP {{ id: e.id, firstName: e.data.firstName }}"
    );
    let got = rows(&h, &query).await;
    assert_eq!(
        got,
        vec![
            json!({"id": stored[0]["id"], "firstName": "Bruce"}),
            json!({"id": stored[1]["id"], "firstName": "Batman"}),
        ]
    );
    for r in &got {
        let keys: Vec<&String> = r
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["id", "firstName"]);
    }
    // The VS Code UI's alias route answers the same.
    let alias = h.post("/api/v1/query", json!({ "query": query })).await;
    assert_eq!(alias.status, 200);
    assert_eq!(alias.lines(), got);
    h.server.shutdown().await;
}

#[tokio::test]
async fn readme_uniqueness_check() {
    let h = harness().await;
    let query =
        "STREAM e FROM events WHERE e.data.email == 'john.doe@example.com' MAP COUNT() == 0";
    let user = |subject: &str| {
        json!([{
            "source": "io.genesisdb.app",
            "subject": subject,
            "type": "io.genesisdb.app.user-created",
            "data": {"firstName": "John", "lastName": "Doe", "email": "john.doe@example.com"}
        }])
    };
    h.commit_ok(json!([ev(
        "/user/1",
        "io.genesisdb.app.user-created",
        json!({"email": "other@example.com"})
    )]))
    .await;
    let r = commit_with(&h, user("/user/456"), precondition(query)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = commit_with(&h, user("/user/457"), precondition(query)).await;
    assert_412(&r, 0);
    assert_eq!(count_all(&h).await, 2, "the failed commit wrote nothing");
    assert!(h.stream("/user/457", None).await.is_empty());
    // The precondition sees the store before the batch: two users with the
    // same email in one batch pass the check.
    let r = commit_with(
        &h,
        json!([
            ev("/user/900", "t", json!({"email": "fresh@example.com"})),
            ev("/user/901", "t", json!({"email": "fresh@example.com"})),
        ]),
        precondition(
            "STREAM e FROM events WHERE e.data.email == 'fresh@example.com' MAP COUNT() == 0",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    h.assert_audit_passes(4).await;
    h.server.shutdown().await;
}

#[tokio::test]
async fn readme_transaction_limit() {
    let h = harness().await;
    let query = "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' AND e.time >= '2024-01-01T00:00:00Z' MAP SUM(e.data.amount) + 500 <= 10000";
    let readme_commit = json!([{
        "source": "io.genesisdb.banking",
        "subject": "/user/123/transactions",
        "type": "io.genesisdb.banking.transaction-processed",
        "data": {"amount": 500.00, "currency": "EUR"}
    }]);
    let tx = |subject: &str, amount: f64| {
        ev(
            subject,
            "transaction-processed",
            json!({"amount": amount, "currency": "EUR"}),
        )
    };
    // Empty history: SUM is 0, the commit passes.
    let r = commit_with(&h, readme_commit.clone(), precondition(query)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // 9000 already spent (another user and exact-type equality do not count).
    h.commit_ok(json!([
        tx("/user/123/transactions", 4000.0),
        tx("/user/123/transactions", 5000.0),
        tx("/user/1234/transactions", 5000.0),
        ev(
            "/user/123/transactions",
            "io.genesisdb.banking.transaction-processed",
            json!({"amount": 5000.0})
        ),
    ]))
    .await;
    assert_eq!(
        q_ok(&h, "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' MAP SUM(e.data.amount)").await,
        "9000\n"
    );
    let r = commit_with(&h, readme_commit.clone(), precondition(query)).await;
    assert_eq!(r.status, 200, "9000 + 500 <= 10000: {}", r.text);
    h.commit_ok(json!([tx("/user/123/transactions", 600.0)]))
        .await;
    let before = count_all(&h).await;
    let r = commit_with(&h, readme_commit, precondition(query)).await;
    assert_412(&r, 0);
    assert_eq!(count_all(&h).await, before);
    h.server.shutdown().await;
}

#[tokio::test]
async fn readme_premium_registrations() {
    let h = harness().await;
    let query = "STREAM e FROM events WHERE e.subject UNDER '/conference/2024/registrations' AND e.type == 'registration-created' GROUP BY e.data.ticketType HAVING e.data.ticketType == 'premium' MAP COUNT() < 50";
    let subject = "/conference/2024/registrations";
    let readme_commit = json!([{
        "source": "io.genesisdb.events",
        "subject": subject,
        "type": "io.genesisdb.events.registration-created",
        "data": {"attendeeId": "att-789", "ticketType": "premium"}
    }]);
    let reg = |i: usize, ticket: &str| {
        ev(
            subject,
            "registration-created",
            json!({"attendeeId": format!("att-{i}"), "ticketType": ticket}),
        )
    };
    // Zero premium registrations: no group survives HAVING, the result is
    // empty and the precondition holds.
    let r = commit_with(&h, readme_commit.clone(), precondition(query)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Many standard registrations do not matter; 49 premium still pass.
    let mut seed: Vec<Value> = (0..60).map(|i| reg(i, "standard")).collect();
    seed.extend((100..149).map(|i| reg(i, "premium")));
    h.commit_ok(Value::Array(seed)).await;
    assert_eq!(rows(&h, query).await, vec![json!(true)]);
    let r = commit_with(&h, readme_commit.clone(), precondition(query)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The 50th premium registration-created closes the cap.
    h.commit_ok(json!([reg(149, "premium")])).await;
    assert_eq!(rows(&h, query).await, vec![json!(false)]);
    let r = commit_with(&h, readme_commit, precondition(query)).await;
    assert_412(&r, 0);
    h.server.shutdown().await;
}

#[tokio::test]
async fn readme_customer_list_latest_twenty() {
    let h = harness().await;
    let events: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "source": "io.genesisdb.app",
                "subject": format!("/customer/{i}"),
                "type": "io.genesisdb.app.customer-added",
                "data": {"firstName": format!("Name{i}"), "lastName": "Doe"}
            })
        })
        .chain(std::iter::once(ev(
            "/customer/x",
            "io.genesisdb.app.customer-updated",
            json!({"firstName": "No"}),
        )))
        .collect();
    h.commit_ok(Value::Array(events)).await;
    let got = rows(
        &h,
        "STREAM e FROM events WHERE e.type == \"io.genesisdb.app.customer-added\" ORDER BY e.time DESC LIMIT 20 MAP { subject: e.subject, firstName: e.data.firstName }",
    )
    .await;
    let expected: Vec<Value> = (5..25)
        .rev()
        .map(|i| json!({"subject": format!("/customer/{i}"), "firstName": format!("Name{i}")}))
        .collect();
    assert_eq!(got, expected);
    // The older syntax gives the same rows.
    let old = rows(
        &h,
        "FROM e IN events WHERE e.type == \"io.genesisdb.app.customer-added\" ORDER BY e.time DESC TOP 20 PROJECT INTO { subject: e.subject, firstName: e.data.firstName }",
    )
    .await;
    assert_eq!(old, expected);
    h.server.shutdown().await;
}

#[tokio::test]
async fn fixtures_subjects_missing_fields_and_numbers() {
    let h = harness().await;
    h.commit_ok(json!([
        ev("/user/1", "t", json!({"amount": 500.00, "n": 1})),
        ev("/user/1/orders/1", "t", json!({"amount": 500.00, "n": 2})),
        ev("/user/10", "t", json!({"amount": 1.5, "n": 3})),
        ev("/other", "t", json!("plain string data")),
    ]))
    .await;
    let subjects = |v: Vec<Value>| {
        v.into_iter()
            .map(|r| r.as_str().map(String::from))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        subjects(
            rows(
                &h,
                "STREAM e FROM events WHERE e.subject UNDER '/user/1' MAP e.subject"
            )
            .await
        ),
        [Some("/user/1".into()), Some("/user/1/orders/1".into())]
    );
    assert_eq!(
        subjects(
            rows(
                &h,
                "STREAM e FROM events WHERE e.subject DESCENDANTS '/user/1' MAP e.subject"
            )
            .await
        ),
        [Some("/user/1/orders/1".into())]
    );
    assert_eq!(
        rows(
            &h,
            "STREAM e FROM events WHERE e.subject UNDER '/' MAP e.subject"
        )
        .await
        .len(),
        4
    );
    // Missing fields are null, never an error.
    assert_eq!(
        q_ok(&h, "STREAM e FROM events WHERE e.data.email == 'x'").await,
        ""
    );
    assert_eq!(
        q_ok(
            &h,
            "STREAM e FROM events WHERE e.subject == '/other' MAP { a: e.data.nope }"
        )
        .await,
        "{\"a\":null}\n"
    );
    // Integral results are JSON integers.
    assert_eq!(
        q_ok(
            &h,
            "STREAM e FROM events WHERE e.subject UNDER '/user/1' MAP COUNT()"
        )
        .await,
        "2\n"
    );
    assert_eq!(
        q_ok(
            &h,
            "STREAM e FROM events WHERE e.subject UNDER '/user/1' MAP SUM(e.data.amount)"
        )
        .await,
        "1000\n"
    );
    assert_eq!(
        q_ok(&h, "STREAM e FROM events MAP AVG(e.data.n)").await,
        "2\n"
    );
    assert_eq!(
        q_ok(
            &h,
            "STREAM e FROM events WHERE e.data.n > 1 MAP AVG(e.data.n)"
        )
        .await,
        "2.5\n"
    );
    assert_eq!(
        q_ok(&h, "STREAM e FROM events WHERE false MAP COUNT()").await,
        "0\n"
    );
    assert_eq!(
        q_ok(&h, "STREAM e FROM events WHERE false MAP [AVG(e.data.n), MIN(e.data.n), MAX(e.data.n), SUM(e.data.n)]").await,
        "[null,null,null,0]\n"
    );
    // No MAP: the stored events, exactly as the stream route returns them.
    assert_eq!(
        rows(&h, "STREAM e FROM events").await,
        h.stream("/", None).await
    );
    h.server.shutdown().await;
}

#[tokio::test]
async fn query_errors_are_400_with_position() {
    let h = harness().await;
    h.commit_ok(json!([ev("/a", "t", json!({"x": 1}))])).await;
    for (query, needle) in [
        ("INVALID QUERY", "line 1, column 1"),
        (
            "STREAM e FROM events WHERE COUNT() > 0",
            "line 1, column 28",
        ),
        (
            "STREAM e FROM events WHERE x.type == 'a'",
            "unknown name 'x'",
        ),
        (
            "STREAM e FROM events\nWHERE e.data.x ==",
            "line 2, column 18",
        ),
        (
            "STREAM e FROM events MAP e.data.x + COUNT()",
            "outside an aggregate",
        ),
    ] {
        let r = q(&h, query).await;
        assert_eq!(r.status, 400, "{query:?}: {}", r.text);
        assert!(
            r.content_type.starts_with("application/json"),
            "{}",
            r.content_type
        );
        let v = r.json();
        assert!(v["error"].is_string(), "{v}");
        let msg = v["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{query:?}: {msg}");
    }
    for body in [json!({}), json!({"query": 5}), json!({"query": ""})] {
        let r = h.post("/api/v1/q", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    // An empty result is 200 with an empty body.
    assert_eq!(q_ok(&h, "STREAM e FROM events WHERE false").await, "");
    // A precondition query that does not parse is 400, not 412, and writes nothing.
    let r = commit_with(
        &h,
        json!([ev("/b", "t", json!({}))]),
        precondition("STREAM e FROM"),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("line 1, column 14"), "{}", r.text);
    assert_eq!(count_all(&h).await, 1);
    h.server.shutdown().await;
}

#[tokio::test]
async fn preconditions_combine_and_report_the_failing_index() {
    let h = harness().await;
    h.commit_ok(json!([ev("/cart/1", "cart-created", json!({"items": 3}))]))
        .await;
    let pre = json!([
        {"type": "isSubjectExisting", "payload": {"subject": "/cart/1"}},
        {"type": "isQueryResultTrue", "payload": {"query": "STREAM e FROM events WHERE e.subject == '/cart/1' MAP COUNT() == 1"}},
        {"type": "isQueryResultTrue", "payload": {"query": "STREAM e FROM events WHERE e.subject == '/cart/1' MAP e.data.items < 3"}},
    ]);
    let r = commit_with(&h, json!([ev("/cart/1", "item-added", json!({}))]), pre).await;
    assert_412(&r, 2);
    let pre = json!([
        {"type": "isQueryResultTrue", "payload": {"query": "STREAM e FROM events WHERE e.subject == '/cart/1' MAP e.data.items"}},
        {"type": "isQueryResultTrue", "payload": {"query": "FROM e IN events WHERE e.data.eventId == 'conf-2024' PROJECT INTO COUNT() < 500"}},
    ]);
    let r = commit_with(&h, json!([ev("/cart/1", "item-added", json!({}))]), pre).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(count_all(&h).await, 2);
    h.server.shutdown().await;
}

#[tokio::test]
async fn limit_over_many_events_streams_only_what_is_asked() {
    let h = harness().await;
    let batch: Vec<Value> = (0..2000)
        .map(|i| ev(&format!("/bulk/{}", i % 10), "bulk", json!({"i": i})))
        .collect();
    h.commit_ok(Value::Array(batch)).await;
    assert_eq!(
        rows(
            &h,
            "STREAM e FROM events WHERE e.data.i % 2 == 1 LIMIT 3 MAP e.data.i"
        )
        .await,
        vec![json!(1), json!(3), json!(5)]
    );
    assert_eq!(q_ok(&h, "STREAM e FROM events MAP COUNT()").await, "2000\n");
    let all = rows(
        &h,
        "STREAM e FROM events WHERE e.subject == '/bulk/3' MAP e.data.i",
    )
    .await;
    assert_eq!(all.len(), 200);
    assert_eq!(
        rows(&h, "STREAM e FROM events GROUP BY e.subject ORDER BY e.subject DESC LIMIT 2 MAP { s: e.subject, n: COUNT() }").await,
        vec![json!({"s": "/bulk/9", "n": 200}), json!({"s": "/bulk/8", "n": 200})]
    );
    h.server.shutdown().await;
}
