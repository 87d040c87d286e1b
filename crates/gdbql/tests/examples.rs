//! Every example query of gdbql.md §1 parses; each feature evaluates as the
//! spec says; the §7 fixtures at the engine level; error positions.

mod common;

use common::*;
use serde_json::{json, Value};

const EXAMPLES_CURRENT: &[&str] = &[
    "STREAM e FROM events WHERE e.data.email == 'john.doe@example.com' MAP COUNT() == 0",
    "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' AND e.time >= '2024-01-01T00:00:00Z' MAP SUM(e.data.amount) + 500 <= 10000",
    "STREAM e FROM events WHERE e.subject UNDER '/conference/2024/registrations' AND e.type == 'registration-created' GROUP BY e.data.ticketType HAVING e.data.ticketType == 'premium' MAP COUNT() < 50",
    "STREAM e FROM events WHERE e.type == \"io.genesisdb.app.customer-added\" ORDER BY e.time DESC LIMIT 20 MAP { subject: e.subject, firstName: e.data.firstName }",
    "STREAM e FROM events WHERE e.subject UNDER '/customer' ORDER BY e.time MAP { id: e.id, firstName: e.data.firstName }",
    "STREAM e FROM events WHERE e.subject UNDER '/user' ORDER BY e.time MAP { id: e.id, firstName: e.data.firstName }",
    "STREAM e FROM events\nWHERE e.type == 'io.genesisdb.app.customer-added'\nORDER BY e.time\nMAP { id: e.id, firstName: e.data.firstName, lastName: e.data.lastName }",
    "STREAM e FROM events WHERE e.subject == '/customer/8d3e1a52-0c0a-4a39-9a7c-2f1f0f5b1c3d' ORDER BY e.time MAP { id: e.id, firstName: e.data.firstName }",
    "STREAM e FROM events WHERE e.data.email == 'john.doe.8d3e1a52@example.com' MAP COUNT() == 0",
    "STREAM e FROM events WHERE e.subject == '/test/query/8d3e1a52-0c0a-4a39-9a7c-2f1f0f5b1c3d' MAP { subject: e.subject, value: e.data.value }",
    "STREAM e FROM events WHERE e.type == \"io.genesisdb.demo.cart-created\" ORDER BY e.time DESC MAP { cartId: e.data.cartId }",
    "STREAM e FROM events WHERE e.type == \"io.genesisdb.demo.warehouse-created\" ORDER BY e.time DESC MAP { warehouseId: e.data.warehouseId }",
    "STREAM e FROM events WHERE e.type == \"io.genesisdb.demo.library-created\" ORDER BY e.time DESC MAP { libraryId: e.data.libraryId }",
    "STREAM e FROM events WHERE e.type == \"io.genesisdb.demo.list-created\" ORDER BY e.time DESC MAP { listId: e.data.listId }",
    "STREAM e FROM events WHERE e.subject == '/test' MAP COUNT() < 100",
    "STREAM e FROM events WHERE e.data.email == 'test@example.com' MAP COUNT() == 0",
    "STREAM e FROM events MAP e.data",
    "STREAM e FROM events WHERE false",
    "STREAM e FROM events",
    "STREAM e FROM events WHERE e.data.email == 'bruce@example.com' MAP COUNT() == 0",
    "STREAM e FROM events WHERE e.subject UNDER '/customer' MAP { name: e.data.name, total: e.data.total }",
    "STREAM e FROM events WHERE e.type == 'io.example.shop.order-placed' MAP COUNT()",
    "STREAM e FROM events WHERE e.type == 'io.example.shop.item-added' GROUP BY e.data.category MAP { category: e.data.category, items: COUNT(), revenue: SUM(e.data.total) }",
    "STREAM e FROM events MAP { name: e.data.name }",
    "STREAM e FROM events WHERE e.subject DESCENDANTS '/sdk-test-rust/0a1b2c' ORDER BY e.data.age MAP { name: e.data.name }",
    "STREAM e FROM events WHERE e.subject DESCENDANTS '/sdk-test-rust/0a1b2c' MAP COUNT()",
];

const EXAMPLES_OLD: &[&str] = &[
    "FROM e IN events WHERE e.data.eventId == 'conf-2024' PROJECT INTO COUNT() < 500",
    "FROM e IN events WHERE e.type == \"io.genesisdb.app.customer-added\" ORDER BY e.time DESC TOP 20 PROJECT INTO { subject: e.subject, firstName: e.data.firstName }",
    "FROM e IN events\nWHERE e.type == 'io.genesisdb.app.customer-added'\nORDER BY e.time\nPROJECT INTO {\n  id: e.id,\n  firstName: e.data.firstName,\n  lastName: e.data.lastName\n}",
    "FROM e IN events WHERE e.type == 'io.genesisdb.test.query-test' ORDER BY e.time PROJECT INTO { id: e.id, name: e.data.name, value: e.data.value }",
    "FROM e IN events WHERE e.type == 'io.genesisdb.test.integration' ORDER BY e.time PROJECT INTO { step: e.data.step, message: e.data.message }",
    "FROM e IN events WHERE e.source == 'io.genesisdb.test.integration' ORDER BY e.time DESC TOP 5 PROJECT INTO { id: e.id, type: e.type, subject: e.subject }",
    "FROM e IN events WHERE e.type == 'user-created' TOP 10",
    "FROM e IN events WHERE e.type == 'io.genesisdb.example.customer-added' ORDER BY e.time PROJECT INTO {\n id: e.id,\n firstName: e.data.firstName,\n lastName: e.data.lastName,\n email: e.data.email\n}",
    "FROM e IN events WHERE e.type == 'io.genesisdb.test.customer-added' ORDER BY e.time PROJECT INTO { id: e.id, firstName: e.data.firstName, lastName: e.data.lastName }",
    "FROM e IN events PROJECT INTO e.data",
    "FROM e IN events WHERE false",
    "FROM e IN events",
    // EventQL comparisons (§1.C) that fit the grammar.
    "FROM e IN events WHERE e.data.title == \"2001 – A Space Odyssey\" PROJECT INTO COUNT() == 0",
    "FROM e IN events WHERE e.type == 'io.eventsourcingdb.library.book-borrowed' PROJECT INTO COUNT () < 10",
    "FROM e IN events PROJECT INTO true",
    "FROM e IN events WHERE e.price > 100 AND e.category == \"electronics\" ORDER BY e.timestamp DESC LIMIT 10 PROJECT INTO { id: e.id, price: e.price }",
];

#[test]
fn every_example_query_parses() {
    for q in EXAMPLES_CURRENT.iter().chain(EXAMPLES_OLD) {
        if let Err(e) = genesisdb_gdbql::parse(q) {
            panic!("{q:?} failed: {e}");
        }
    }
}

#[test]
fn old_form_matches_new_form() {
    let evs: Vec<Value> = (0..6)
        .map(|i| {
            event(
                i,
                "/conf",
                "t",
                json!({"eventId": if i % 2 == 0 { "conf-2024" } else { "x" }}),
            )
        })
        .collect();
    let old = ndjson(
        "FROM e IN events WHERE e.data.eventId == 'conf-2024' PROJECT INTO COUNT() < 500",
        &evs,
    );
    let new = ndjson(
        "STREAM e FROM events WHERE e.data.eventId == 'conf-2024' MAP COUNT() < 500",
        &evs,
    );
    assert_eq!(old, "true\n");
    assert_eq!(old, new);
    assert_eq!(
        ndjson(
            "FROM e IN events WHERE e.data.eventId == 'conf-2024' PROJECT INTO COUNT()",
            &evs
        ),
        "3\n"
    );
    let top = run(
        "FROM e IN events ORDER BY e.time DESC TOP 2 PROJECT INTO e.id",
        &evs,
    );
    assert_eq!(top, vec![evs[5]["id"].clone(), evs[4]["id"].clone()]);
}

// ---- §7 fixtures at the engine level ----------------------------------

fn bruce_selina(root: &str) -> Vec<Value> {
    vec![
        event(
            1,
            "/other/customer/9",
            "t",
            json!({"name": "Other", "age": 1}),
        ),
        event(
            2,
            &format!("{root}/customer/1"),
            "t",
            json!({"name": "Bruce", "age": 40}),
        ),
        event(
            3,
            &format!("{root}/customer/2"),
            "t",
            json!({"name": "Selina", "age": 35}),
        ),
    ]
}

#[test]
fn fixture1_descendants_count_and_order() {
    let evs = bruce_selina("/sdk/ab12");
    assert_eq!(
        ndjson(
            "STREAM e FROM events WHERE e.subject DESCENDANTS '/sdk/ab12' MAP COUNT()",
            &evs
        ),
        "2\n"
    );
    assert_eq!(
        ndjson(
            "STREAM e FROM events WHERE e.subject DESCENDANTS '/sdk/ab12' ORDER BY e.data.age MAP { name: e.data.name }",
            &evs
        ),
        "{\"name\":\"Selina\"}\n{\"name\":\"Bruce\"}\n"
    );
    assert_eq!(
        ndjson(
            "STREAM e FROM events WHERE e.subject DESCENDANTS '/sdk/ab12' ORDER BY e.data.age DESC MAP { name: e.data.name }",
            &evs
        ),
        "{\"name\":\"Bruce\"}\n{\"name\":\"Selina\"}\n"
    );
}

#[test]
fn fixture2_exact_subject_map_keys() {
    let evs = vec![
        event(
            1,
            "/customer/X",
            "added",
            json!({"firstName": "Ann", "lastName": "A"}),
        ),
        event(2, "/customer/Y", "added", json!({"firstName": "Bob"})),
        event(3, "/customer/X", "renamed", json!({"firstName": "Anna"})),
    ];
    let rows = run(
        "STREAM e FROM events WHERE e.subject == '/customer/X' ORDER BY e.time MAP { id: e.id, firstName: e.data.firstName }",
        &evs,
    );
    assert_eq!(
        rows,
        vec![
            json!({"id": evs[0]["id"], "firstName": "Ann"}),
            json!({"id": evs[2]["id"], "firstName": "Anna"}),
        ]
    );
    for r in &rows {
        let keys: Vec<&String> = r
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, vec!["id", "firstName"]);
    }
}

#[test]
fn fixture3_uniqueness() {
    let q = "STREAM e FROM events WHERE e.data.email == 'john.doe@example.com' MAP COUNT() == 0";
    let mut evs = vec![event(1, "/user/1", "created", json!({"name": "no email"}))];
    assert!(holds(q, &evs));
    evs.push(event(
        2,
        "/user/456",
        "created",
        json!({"email": "john.doe@example.com"}),
    ));
    assert!(!holds(q, &evs));
}

#[test]
fn fixture4_transaction_limit() {
    let q = "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' AND e.time >= '2024-01-01T00:00:00Z' MAP SUM(e.data.amount) + 500 <= 10000";
    assert!(holds(q, &[]));
    let seed = |amounts: &[f64], time: &str| -> Vec<Value> {
        amounts
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let mut e = event(
                    i,
                    "/user/123/transactions",
                    "transaction-processed",
                    json!({"amount": a}),
                );
                e["time"] = json!(time);
                e
            })
            .collect()
    };
    let t = "2025-03-01T10:00:00.123456789Z";
    assert!(!holds(q, &seed(&[5000.0, 4600.0], t)));
    assert!(holds(q, &seed(&[5000.0, 4500.0], t)));
    // Before 2024 does not count.
    let mut evs = seed(&[5000.0, 4500.0], t);
    evs.extend(seed(&[1000.0], "2023-12-31T23:59:59.999999999Z"));
    assert!(holds(q, &evs));
    // Another user does not count; /user/1234 is not under /user/123.
    let mut other = event(
        9,
        "/user/1234/transactions",
        "transaction-processed",
        json!({"amount": 1000}),
    );
    other["time"] = json!(t);
    evs.push(other);
    assert!(holds(q, &evs));
    assert_eq!(
        ndjson(
            "STREAM e FROM events WHERE e.subject UNDER '/user/123' MAP SUM(e.data.amount)",
            &evs
        ),
        "10500\n"
    );
}

#[test]
fn fixture5_premium_cap() {
    let q = "STREAM e FROM events WHERE e.subject UNDER '/conference/2024/registrations' AND e.type == 'registration-created' GROUP BY e.data.ticketType HAVING e.data.ticketType == 'premium' MAP COUNT() < 50";
    let reg = |n: usize, ticket: &str| {
        event(
            n,
            "/conference/2024/registrations",
            "registration-created",
            json!({"attendeeId": format!("att-{n}"), "ticketType": ticket}),
        )
    };
    let mut evs: Vec<Value> = (0..100).map(|i| reg(i, "standard")).collect();
    assert!(holds(q, &evs), "zero premium holds (no group)");
    assert_eq!(run(q, &evs), Vec::<Value>::new());
    evs.extend((100..149).map(|i| reg(i, "premium")));
    assert!(holds(q, &evs), "49 premium holds");
    evs.push(reg(149, "premium"));
    assert!(!holds(q, &evs), "50 premium fails");
    assert_eq!(run(q, &evs), vec![json!(false)]);
}

#[test]
fn fixture6_latest_twenty_newest_first() {
    let evs: Vec<Value> = (0..30)
        .map(|i| {
            let ty = if i % 6 == 5 {
                "other"
            } else {
                "io.genesisdb.app.customer-added"
            };
            event(
                i,
                &format!("/customer/{i}"),
                ty,
                json!({"firstName": format!("n{i}")}),
            )
        })
        .collect();
    let rows = run(
        "STREAM e FROM events WHERE e.type == \"io.genesisdb.app.customer-added\" ORDER BY e.time DESC LIMIT 20 MAP { subject: e.subject, firstName: e.data.firstName }",
        &evs,
    );
    let expected: Vec<Value> = evs
        .iter()
        .rev()
        .filter(|e| e["type"] == "io.genesisdb.app.customer-added")
        .take(20)
        .map(|e| json!({"subject": e["subject"], "firstName": e["data"]["firstName"]}))
        .collect();
    assert_eq!(rows.len(), 20);
    assert_eq!(rows, expected);
}

#[test]
fn fixture7_under_and_segment_boundaries() {
    let subjects = ["/user/1", "/user/1/x", "/user/10", "/user", "/other"];
    let evs: Vec<Value> = subjects
        .iter()
        .enumerate()
        .map(|(i, s)| event(i, s, "t", json!({})))
        .collect();
    let subj = |q: &str| -> Vec<Value> { run(q, &evs) };
    assert_eq!(
        subj("STREAM e FROM events WHERE e.subject UNDER '/user/1' MAP e.subject"),
        vec![json!("/user/1"), json!("/user/1/x")]
    );
    assert_eq!(
        subj("STREAM e FROM events WHERE e.subject UNDER '/' MAP e.subject").len(),
        5
    );
    assert_eq!(
        subj("STREAM e FROM events WHERE e.subject DESCENDANTS '/user/1' MAP e.subject"),
        vec![json!("/user/1/x")]
    );
    assert_eq!(
        subj("STREAM e FROM events WHERE e.subject NOT UNDER '/user' MAP e.subject"),
        vec![json!("/other")]
    );
}

#[test]
fn fixture8_missing_fields() {
    let evs = vec![
        event(1, "/a", "t", json!({"name": "x"})),
        event(2, "/b", "t", json!(5)),
    ];
    assert_eq!(
        run("STREAM e FROM events WHERE e.data.email == 'x'", &evs),
        Vec::<Value>::new()
    );
    assert_eq!(
        run("STREAM e FROM events MAP { a: e.data.nope }", &evs),
        vec![json!({"a": null}), json!({"a": null})]
    );
    assert_eq!(
        run("STREAM e FROM events MAP e.data.name.first.x", &evs),
        vec![json!(null), json!(null)]
    );
    // != is two-valued: missing is null, and null != 'a' holds.
    assert_eq!(
        run("STREAM e FROM events WHERE e.data.name != 'a' MAP 1", &evs).len(),
        2
    );
}

#[test]
fn fixture9_number_formatting() {
    let evs = vec![
        event(1, "/a", "t", json!({"n": 1, "f": 1.5, "g": 2.0})),
        event(2, "/a", "t", json!({"n": 2, "f": 2.5, "g": 3.0})),
    ];
    let one = |q: &str| ndjson(q, &evs);
    assert_eq!(one("STREAM e FROM events MAP COUNT()"), "2\n");
    assert_eq!(one("STREAM e FROM events MAP SUM(e.data.n)"), "3\n");
    assert_eq!(one("STREAM e FROM events MAP SUM(e.data.g)"), "5\n");
    assert_eq!(one("STREAM e FROM events MAP SUM(e.data.f)"), "4\n");
    assert_eq!(one("STREAM e FROM events MAP AVG(e.data.n)"), "1.5\n");
    assert_eq!(one("STREAM e FROM events MAP AVG(e.data.f)"), "2\n");
    assert_eq!(one("STREAM e FROM events MAP MIN(e.data.n)"), "1\n");
    assert_eq!(one("STREAM e FROM events MAP MAX(e.data.g)"), "3\n");
    assert_eq!(one("STREAM e FROM events MAP e.data.n / 2"), "0.5\n1\n");
    let none: Vec<Value> = Vec::new();
    let empty = |q: &str| ndjson(q, &none);
    assert_eq!(empty("STREAM e FROM events MAP COUNT()"), "0\n");
    assert_eq!(empty("STREAM e FROM events MAP SUM(e.data.n)"), "0\n");
    assert_eq!(empty("STREAM e FROM events MAP AVG(e.data.n)"), "null\n");
    assert_eq!(empty("STREAM e FROM events MAP MIN(e.data.n)"), "null\n");
    assert_eq!(empty("STREAM e FROM events MAP MAX(e.data.n)"), "null\n");
    assert_eq!(
        empty("STREAM e FROM events MAP { c: COUNT(), s: SUM(e.data.n), a: AVG(e.data.n) }"),
        "{\"c\":0,\"s\":0,\"a\":null}\n"
    );
}

#[test]
fn fixture10_errors() {
    let e = parse_err("INVALID QUERY");
    assert_eq!((e.line, e.column), (1, 1));
    assert!(e.message.contains("STREAM"), "{}", e.message);
    let e = parse_err("STREAM e FROM events WHERE COUNT() > 1");
    assert_eq!((e.line, e.column), (1, 28));
    assert!(e.message.contains("WHERE"));
    let e = parse_err("STREAM e FROM events WHERE x.type == 'a'");
    assert_eq!((e.line, e.column), (1, 28));
    assert!(e.message.contains("'x'"));
    assert_eq!(
        run(
            "STREAM e FROM events WHERE false",
            &[event(1, "/a", "t", json!(1))]
        )
        .len(),
        0
    );
}

// ---- features ---------------------------------------------------------

fn people() -> Vec<Value> {
    vec![
        event(
            1,
            "/p/1",
            "person",
            json!({"name": "Ann", "age": 31, "city": "Berlin", "tags": ["vip", "new"], "address": {"city": "Berlin", "zip": "10115"}}),
        ),
        event(
            2,
            "/p/2",
            "person",
            json!({"name": "Bob", "age": 25, "city": "Hamburg", "tags": []}),
        ),
        event(
            3,
            "/p/3",
            "person",
            json!({"name": "Cid", "age": 42, "city": "Berlin", "tags": ["vip"]}),
        ),
        event(
            4,
            "/p/4",
            "robot",
            json!({"name": "R2", "age": null, "city": "Köln"}),
        ),
    ]
}

fn names(q: &str) -> Vec<Value> {
    run(q, &people())
}

#[test]
fn comparison_operators() {
    let base = "STREAM e FROM events WHERE e.data.age";
    assert_eq!(
        names(&format!("{base} == 31 MAP e.data.name")),
        vec![json!("Ann")]
    );
    assert_eq!(names(&format!("{base} != 31 MAP e.data.name")).len(), 3);
    assert_eq!(
        names(&format!("{base} < 31 MAP e.data.name")),
        vec![json!("Bob")]
    );
    assert_eq!(
        names(&format!("{base} <= 31 MAP e.data.name")),
        vec![json!("Ann"), json!("Bob")]
    );
    assert_eq!(
        names(&format!("{base} > 31 MAP e.data.name")),
        vec![json!("Cid")]
    );
    assert_eq!(
        names(&format!("{base} >= 31 MAP e.data.name")),
        vec![json!("Ann"), json!("Cid")]
    );
    // Lenient aliases.
    assert_eq!(
        names(&format!("{base} = 31 MAP e.data.name")),
        vec![json!("Ann")]
    );
    assert_eq!(names(&format!("{base} <> 31 MAP e.data.name")).len(), 3);
    // No string/number coercion; int and float are equal.
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.age == '31' MAP 1").len(),
        0
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.age == 31.0 MAP 1").len(),
        1
    );
    // Strings compare by code point.
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name < 'B' MAP e.data.name"),
        vec![json!("Ann")]
    );
}

#[test]
fn boolean_operators_and_precedence() {
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.city == 'Berlin' AND e.data.age > 40 MAP e.data.name"),
        vec![json!("Cid")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name == 'Bob' OR e.data.name == 'R2' MAP e.data.name"),
        vec![json!("Bob"), json!("R2")]
    );
    // AND binds tighter than OR.
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name == 'Bob' OR e.data.city == 'Berlin' AND e.data.age > 40 MAP e.data.name"),
        vec![json!("Bob"), json!("Cid")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE (e.data.name == 'Bob' OR e.data.city == 'Berlin') AND e.data.age > 30 MAP e.data.name"),
        vec![json!("Ann"), json!("Cid")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE NOT e.data.city == 'Berlin' MAP e.data.name"),
        vec![json!("Bob"), json!("R2")]
    );
    // Keywords are case-insensitive.
    assert_eq!(
        names("stream e from events where e.data.age > 40 and not false map e.data.name"),
        vec![json!("Cid")]
    );
}

#[test]
fn in_between_contains_like() {
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name IN ('Ann', 'Cid') MAP e.data.name"),
        vec![json!("Ann"), json!("Cid")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name IN ['Bob'] MAP e.data.name"),
        vec![json!("Bob")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name NOT IN ('Ann', 'Cid') MAP e.data.name"),
        vec![json!("Bob"), json!("R2")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE 'vip' IN e.data.tags MAP e.data.name"),
        vec![json!("Ann"), json!("Cid")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.age BETWEEN 25 AND 31 AND e.type == 'person' MAP e.data.name"),
        vec![json!("Ann"), json!("Bob")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.age NOT BETWEEN 25 AND 31 MAP e.data.name"),
        vec![json!("Cid"), json!("R2")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.tags CONTAINS 'new' MAP e.data.name"),
        vec![json!("Ann")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.city CONTAINS 'erl' MAP e.data.name"),
        vec![json!("Ann"), json!("Cid")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name LIKE '_o%' MAP e.data.name"),
        vec![json!("Bob")]
    );
    assert_eq!(
        names("STREAM e FROM events WHERE e.data.name NOT LIKE '%n' MAP e.data.name"),
        vec![json!("Bob"), json!("Cid"), json!("R2")]
    );
}

#[test]
fn arithmetic_and_strings() {
    let evs = people();
    let q = |m: &str| {
        run(
            &format!("STREAM e FROM events WHERE e.data.name == 'Ann' MAP {m}"),
            &evs,
        )
    };
    assert_eq!(q("e.data.age + 1"), vec![json!(32)]);
    assert_eq!(q("e.data.age - 1.5"), vec![json!(29.5)]);
    assert_eq!(q("e.data.age * 2"), vec![json!(62)]);
    assert_eq!(q("e.data.age / 2"), vec![json!(15.5)]);
    assert_eq!(q("e.data.age % 10"), vec![json!(1)]);
    assert_eq!(q("-e.data.age"), vec![json!(-31)]);
    assert_eq!(q("2 + 3 * 4"), vec![json!(14)]);
    assert_eq!(q("(2 + 3) * 4"), vec![json!(20)]);
    assert_eq!(q("10 - 4 - 3"), vec![json!(3)]);
    assert_eq!(q("e.data.age / 0"), vec![json!(null)]);
    assert_eq!(q("e.data.nope + 1"), vec![json!(null)]);
    assert_eq!(
        q("e.data.name + ' from ' + e.data.city"),
        vec![json!("Ann from Berlin")]
    );
    assert_eq!(q("e.data.name + e.data.age"), vec![json!("Ann31")]);
    assert_eq!(q("\"double\" + 'single'"), vec![json!("doublesingle")]);
    assert_eq!(
        q("CONCAT(e.data.name, '-', e.data.age)"),
        vec![json!("Ann-31")]
    );
    assert_eq!(
        q("UPPER(e.data.name) + LOWER('X') + LENGTH(e.data.tags)"),
        vec![json!("ANNx2")]
    );
    assert_eq!(q("e.data.address.city"), vec![json!("Berlin")]);
    assert_eq!(q("e.data['address']['zip']"), vec![json!("10115")]);
    assert_eq!(q("e.data.tags[1]"), vec![json!("new")]);
    assert_eq!(
        q("[1, 'a', null, true, {x: [2]}]"),
        vec![json!([1, "a", null, true, {"x": [2]}])]
    );
    assert_eq!(
        q("{ 'quoted key': 1, type: e.type, nested: { n: e.data.name }, }"),
        vec![json!({"quoted key": 1, "type": "person", "nested": {"n": "Ann"}})]
    );
    assert_eq!(q("e.data.tags"), vec![json!(["vip", "new"])]);
    assert_eq!(q("e.data.age > 30 AND true"), vec![json!(true)]);
}

#[test]
fn time_strings_are_instants() {
    let mut a = event(1, "/t", "t", json!({"at": "2024-01-01T00:00:00Z"}));
    let mut b = event(2, "/t", "t", json!({"at": "2024-01-01T00:00:00.5Z"}));
    let mut c = event(3, "/t", "t", json!({"at": "2024-01-01T01:00:00+02:00"}));
    a["time"] = json!("2024-01-01T00:00:00Z");
    b["time"] = json!("2024-01-01T00:00:00.500000000Z");
    c["time"] = json!("2023-12-31T23:00:00Z");
    let evs = vec![a, b, c];
    assert_eq!(
        run("STREAM e FROM events ORDER BY e.data.at MAP e.id", &evs),
        vec![
            evs[2]["id"].clone(),
            evs[0]["id"].clone(),
            evs[1]["id"].clone()
        ]
    );
    assert_eq!(
        run(
            "STREAM e FROM events WHERE e.time > '2024-01-01T00:00:00Z' MAP e.id",
            &evs
        ),
        vec![evs[1]["id"].clone()]
    );
    assert_eq!(
        run(
            "STREAM e FROM events WHERE e.time == '2024-01-01T00:00:00.000Z' MAP e.id",
            &evs
        ),
        vec![evs[0]["id"].clone()]
    );
    assert_eq!(
        run("STREAM e FROM events MAP MIN(e.data.at)", &evs),
        vec![json!("2024-01-01T01:00:00+02:00")]
    );
}

#[test]
fn aggregates_group_by_having() {
    let evs = vec![
        event(
            1,
            "/s",
            "item-added",
            json!({"category": "books", "total": 10}),
        ),
        event(
            2,
            "/s",
            "item-added",
            json!({"category": "games", "total": 30.5}),
        ),
        event(
            3,
            "/s",
            "item-added",
            json!({"category": "books", "total": 5}),
        ),
        event(4, "/s", "item-added", json!({"total": 1})),
        event(5, "/s", "other", json!({"category": "books", "total": 100})),
    ];
    assert_eq!(
        ndjson("STREAM e FROM events WHERE e.type == 'item-added' GROUP BY e.data.category MAP { category: e.data.category, items: COUNT(), revenue: SUM(e.data.total) }", &evs),
        "{\"category\":\"books\",\"items\":2,\"revenue\":15}\n{\"category\":\"games\",\"items\":1,\"revenue\":30.5}\n{\"category\":null,\"items\":1,\"revenue\":1}\n"
    );
    assert_eq!(
        run(
            "STREAM e FROM events GROUP BY e.data.category HAVING COUNT() > 1 MAP e.data.category",
            &evs
        ),
        vec![json!("books")]
    );
    assert_eq!(
        run("STREAM e FROM events GROUP BY e.data.category ORDER BY SUM(e.data.total) DESC MAP [e.data.category, SUM(e.data.total)]", &evs),
        vec![json!(["books", 115]), json!(["games", 30.5]), json!([null, 1])]
    );
    assert_eq!(
        run(
            "STREAM e FROM events GROUP BY e.data.category ORDER BY e.data.category LIMIT 2",
            &evs
        ),
        vec![json!(null), json!("books")]
    );
    assert_eq!(
        run(
            "STREAM e FROM events GROUP BY e.type, e.data.category SKIP 1 LIMIT 2",
            &evs
        ),
        vec![json!(["item-added", "games"]), json!(["item-added", null])]
    );
    assert_eq!(
        run("STREAM e FROM events MAP { n: COUNT(e.data.category), big: COUNT(e.data.total > 9), max: MAX(e.data.total), avg: AVG(e.data.total) }", &evs),
        vec![json!({"n": 4, "big": 3, "max": 100, "avg": 29.3})]
    );
    assert_eq!(
        run(
            "STREAM e FROM events WHERE e.type == 'item-added' MAP SUM(e.data.total) * 2 + COUNT()",
            &evs
        ),
        vec![json!(97)]
    );
    // LIMIT applies after aggregation; an aggregate always gives one row.
    assert_eq!(
        run("STREAM e FROM events WHERE false LIMIT 5 MAP COUNT()", &evs),
        vec![json!(0)]
    );
    // Key expressions can be extended.
    assert_eq!(
        run("STREAM e FROM events GROUP BY e.data HAVING e.data.total == 1 MAP e.data.total + COUNT()", &evs),
        vec![json!(2)]
    );
}

#[test]
fn order_skip_limit_distinct() {
    let evs = people();
    let q = |s: &str| run(s, &evs);
    // Nulls first ascending, last descending.
    assert_eq!(
        q("STREAM e FROM events ORDER BY e.data.age MAP e.data.name"),
        vec![json!("R2"), json!("Bob"), json!("Ann"), json!("Cid")]
    );
    assert_eq!(
        q("STREAM e FROM events ORDER BY e.data.age DESC MAP e.data.name"),
        vec![json!("Cid"), json!("Ann"), json!("Bob"), json!("R2")]
    );
    // Stable: ties keep commit order; several keys.
    assert_eq!(
        q("STREAM e FROM events ORDER BY e.data.city ASC, e.data.age DESC MAP e.data.name"),
        vec![json!("Cid"), json!("Ann"), json!("Bob"), json!("R2")]
    );
    assert_eq!(
        q("STREAM e FROM events ORDER BY e.type SKIP 1 LIMIT 2 MAP e.data.name"),
        vec![json!("Bob"), json!("Cid")]
    );
    assert_eq!(
        q("STREAM e FROM events OFFSET 3 MAP e.data.name"),
        vec![json!("R2")]
    );
    assert_eq!(q("STREAM e FROM events LIMIT 0"), Vec::<Value>::new());
    assert_eq!(q("STREAM e FROM events LIMIT 1"), vec![evs[0].clone()]);
    assert_eq!(
        q("STREAM e FROM events MAP DISTINCT e.data.city"),
        vec![json!("Berlin"), json!("Hamburg"), json!("Köln")]
    );
    assert_eq!(
        q("FROM e IN events PROJECT INTO DISTINCT e.type"),
        vec![json!("person"), json!("robot")]
    );
    // ORDER BY before GROUP BY and LIMIT before SKIP are accepted too.
    assert_eq!(
        q("STREAM e FROM events ORDER BY e.type DESC GROUP BY e.type LIMIT 1 SKIP 0"),
        vec![json!("robot")]
    );
}

#[test]
fn streaming_is_lazy_and_limit_stops_the_scan() {
    use std::cell::Cell;
    let ev = event(1, "/a", "t", json!({"n": 1}));
    let pulled = Cell::new(0usize);
    let q = genesisdb_gdbql::parse("STREAM e FROM events WHERE e.data.n == 1 LIMIT 3 MAP e.id")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(q.is_streaming());
    let endless = std::iter::repeat_with(|| {
        pulled.set(pulled.get() + 1);
        &ev
    });
    let rows: Vec<_> = q.rows(endless).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(pulled.get(), 3);
    // A lazy first row over an endless source.
    let q = genesisdb_gdbql::parse("STREAM e FROM events").unwrap_or_else(|e| panic!("{e}"));
    let mut it = q.rows(std::iter::repeat(&ev));
    assert!(matches!(it.next(), Some(Ok(_))));
    for s in [
        "STREAM e FROM events ORDER BY e.time",
        "STREAM e FROM events MAP COUNT()",
        "STREAM e FROM events GROUP BY e.type",
    ] {
        let q = genesisdb_gdbql::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(!q.is_streaming(), "{s}");
    }
}

#[test]
fn no_map_returns_the_event() {
    let evs = people();
    assert_eq!(
        run("STREAM e FROM events WHERE e.data.name == 'Bob'", &evs),
        vec![evs[1].clone()]
    );
    assert_eq!(
        run(
            "STREAM e FROM events WHERE e.data.name == 'Bob' MAP e",
            &evs
        ),
        vec![evs[1].clone()]
    );
    // The event keeps its field order.
    let text = ndjson("STREAM e FROM events LIMIT 1", &evs);
    assert!(text.starts_with("{\"source\""), "{text}");
}

#[test]
fn truthiness_rule() {
    let evs = people();
    assert!(
        holds("STREAM e FROM events WHERE false MAP e", &evs),
        "empty holds"
    );
    assert!(holds("STREAM e FROM events MAP e.data.name", &evs));
    assert!(
        !holds("STREAM e FROM events MAP e.data.age", &evs),
        "a null row fails"
    );
    assert!(!holds("STREAM e FROM events MAP ''", &evs));
    assert!(!holds("STREAM e FROM events MAP 0", &evs));
    assert!(holds("STREAM e FROM events MAP {}", &evs));
    assert!(holds("STREAM e FROM events MAP []", &evs));
    assert!(holds("STREAM e FROM events MAP COUNT() == 4", &evs));
    assert!(!holds("STREAM e FROM events MAP COUNT() == 3", &evs));
}

#[test]
fn keyword_field_names() {
    let evs = vec![event(
        1,
        "/a",
        "t",
        json!({"type": "x", "count": 3, "limit": 9, "from": "y"}),
    )];
    assert_eq!(
        run(
            "// leading comment\nSTREAM e /* alias */ FROM events\n  WHERE e.data.type == 'x'\n  MAP { count: e.data.count, limit: e.data.limit, from: e.data.from, map: 1 }",
            &evs
        ),
        vec![json!({"count": 3, "limit": 9, "from": "y", "map": 1})]
    );
    // Any alias name works.
    assert_eq!(
        run("STREAM ev FROM events MAP ev.data.count", &evs),
        vec![json!(3)]
    );
}

// ---- errors -----------------------------------------------------------

#[test]
fn error_positions_and_messages() {
    let cases: &[(&str, usize, usize, &str)] = &[
        ("", 1, 1, "expected STREAM"),
        ("STREAM", 1, 7, "variable name"),
        ("STREAM e", 1, 9, "FROM"),
        ("STREAM e FROM subjects", 1, 15, "'events'"),
        (
            "STREAM e FROM events WHERE",
            1,
            27,
            "expected an expression",
        ),
        (
            "STREAM e FROM events WHERE e.data.x ==",
            1,
            39,
            "expected an expression",
        ),
        (
            "STREAM e FROM events\nWHERE e.data.x == 'a\n",
            2,
            19,
            "unterminated string",
        ),
        (
            "STREAM e FROM events\n  WHERE e.a == 1 2",
            2,
            18,
            "expected an operator",
        ),
        (
            "STREAM e FROM events WHERE e.a == 1 WHERE e.b == 2",
            1,
            37,
            "not allowed",
        ),
        (
            "STREAM e FROM events MAP 1 WHERE true",
            1,
            28,
            "not allowed",
        ),
        (
            "STREAM e FROM events LIMIT -1",
            1,
            28,
            "non-negative integer",
        ),
        (
            "STREAM e FROM events LIMIT 1.5",
            1,
            28,
            "non-negative integer",
        ),
        (
            "STREAM e FROM events LIMIT 99999999999999999999999",
            1,
            28,
            "too large",
        ),
        ("STREAM e FROM events MAP FOO(1)", 1, 26, "unknown function"),
        ("STREAM e FROM events MAP SUM(COUNT())", 1, 30, "nested"),
        ("STREAM e FROM events MAP SUM()", 1, 26, "exactly one"),
        ("STREAM e FROM events MAP { a: 1", 1, 32, "',' or '}'"),
        ("STREAM e FROM events MAP { a 1 }", 1, 30, "':'"),
        ("STREAM e FROM events MAP (1 + 2", 1, 32, "')'"),
        (
            "STREAM e FROM events WHERE e.a < 1 < 2",
            1,
            36,
            "do not chain",
        ),
        (
            "STREAM e FROM events WHERE e.a BETWEEN 1 OR 2",
            1,
            42,
            "AND",
        ),
        ("STREAM e FROM events MAP e.", 1, 28, "field name"),
        (
            "STREAM e FROM events MAP e.data.x + COUNT()",
            1,
            26,
            "outside an aggregate",
        ),
        (
            "STREAM e FROM events GROUP BY e.type MAP e.data.x",
            1,
            42,
            "outside an aggregate",
        ),
        ("STREAM e FROM events GROUP BY COUNT()", 1, 31, "GROUP BY"),
        ("STREAM e FROM events ORDER BY COUNT()", 1, 31, "ORDER BY"),
        ("STREAM e FROM events WHERE e.a == 1 ! 2", 1, 37, "NOT"),
        (
            "STREAM e FROM events WHERE e.a == 'x\\q'",
            1,
            37,
            "invalid escape",
        ),
        (
            "STREAM e FROM events /* open",
            1,
            22,
            "unterminated comment",
        ),
        ("STREAM e FROM events MAP 1e999", 1, 26, "out of range"),
        ("STREAM e FROM events MAP 12abc", 1, 28, "invalid number"),
        ("STREAM e FROM events MAP #", 1, 26, "unexpected character"),
        ("STREAM where FROM events", 1, 8, "keyword"),
        ("STREAM e FROM events MAP WHERE", 1, 26, "keyword"),
        ("SELECT * FROM events", 1, 1, "expected STREAM"),
        ("STREAM e FROM events HAVING true", 1, 22, "expected"),
        ("STREAM e FROM events GROUP e.type", 1, 28, "BY"),
    ];
    for (q, line, col, needle) in cases {
        let e = parse_err(q);
        assert_eq!((e.line, e.column), (*line, *col), "{q:?}: {e}");
        assert!(e.message.contains(needle), "{q:?}: {e} (wanted {needle:?})");
        assert_eq!(
            e.to_string(),
            format!("line {line}, column {col}: {}", e.message)
        );
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!(
        "STREAM e FROM events MAP {}1{}",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    assert!(parse_err(&deep).message.contains("nested too deeply"));
    let deep = format!("STREAM e FROM events MAP {}1", "-".repeat(10_000));
    assert!(parse_err(&deep).message.contains("nested too deeply"));
    let deep = format!("STREAM e FROM events MAP {}", "NOT ".repeat(10_000));
    assert!(parse_err(&deep).message.contains("nested too deeply"));
    let long = format!("STREAM e FROM events MAP 1{}", " + 1".repeat(10_000));
    assert!(parse_err(&long).message.contains("too deep"));
    let long = format!("STREAM e FROM events MAP e{}", ".a".repeat(10_000));
    assert!(parse_err(&long).message.contains("too deep"));
    // Long flat AND/OR chains and lists are fine.
    let chain = format!(
        "STREAM e FROM events WHERE true{} MAP COUNT()",
        " AND true".repeat(5_000)
    );
    assert_eq!(
        run(&chain, &[event(1, "/a", "t", json!(1))]),
        vec![json!(1)]
    );
    let list = format!(
        "STREAM e FROM events WHERE 1 IN (0{}) MAP COUNT()",
        ", 1".repeat(5_000)
    );
    assert_eq!(run(&list, &[event(1, "/a", "t", json!(1))]), vec![json!(1)]);
    // Trees just under the depth limit evaluate (no stack overflow).
    let ev1 = [event(1, "/a", "t", json!(1))];
    let sum = format!("STREAM e FROM events MAP 1{}", " + 1".repeat(250));
    assert_eq!(run(&sum, &ev1), vec![json!(251)]);
    let fields = format!("STREAM e FROM events MAP e{}", ".a".repeat(250));
    assert_eq!(run(&fields, &ev1), vec![json!(null)]);
    let grouped = format!(
        "STREAM e FROM events GROUP BY e.data MAP COUNT(){}",
        " + 1".repeat(250)
    );
    assert_eq!(run(&grouped, &ev1), vec![json!(251)]);
    // 60 nested arithmetic levels evaluate.
    let ok = format!(
        "STREAM e FROM events MAP {}1{}",
        "(1 + ".repeat(60),
        ")".repeat(60)
    );
    assert_eq!(run(&ok, &[event(1, "/a", "t", json!(1))]), vec![json!(61)]);
}
