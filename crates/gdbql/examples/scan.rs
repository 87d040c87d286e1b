//! Rough timing of the evaluator over many events:
//! `cargo run --release -p genesisdb-gdbql --example scan -- 1000000`.

use serde_json::{json, Value};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let events: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "source": "io.genesisdb.bench",
                "subject": format!("/user/{}/tx", i % 1000),
                "type": if i % 3 == 0 { "transaction-processed" } else { "other" },
                "specversion": "1.0",
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "time": format!("2025-01-01T{:02}:{:02}:{:02}.{:09}Z", i / 3_600_000 % 24, i / 60_000 % 60, i / 1000 % 60, i % 1000 * 1000),
                "datacontenttype": "application/json",
                "predecessorhash": "0".repeat(64),
                "data": {"amount": i % 100, "email": format!("u{i}@example.com")},
                "hash": "0".repeat(64),
            })
        })
        .collect();
    let queries = [
        "STREAM e FROM events WHERE e.data.email == 'u5@example.com' MAP COUNT() == 0",
        "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' AND e.time >= '2024-01-01T00:00:00Z' MAP SUM(e.data.amount) + 500 <= 10000",
        "STREAM e FROM events WHERE e.type == 'other' MAP { id: e.id, a: e.data.amount }",
        "STREAM e FROM events ORDER BY e.time DESC LIMIT 20 MAP e.id",
        "STREAM e FROM events GROUP BY e.subject MAP { s: e.subject, n: COUNT(), t: SUM(e.data.amount) }",
        "STREAM e FROM events LIMIT 10",
    ];
    for q in queries {
        let parsed = match genesisdb_gdbql::parse(q) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{q}: {e}");
                continue;
            }
        };
        let t = Instant::now();
        let rows = parsed.rows(events.iter()).count();
        println!(
            "{:>8.1} ms  {rows:>8} rows  {q}",
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
