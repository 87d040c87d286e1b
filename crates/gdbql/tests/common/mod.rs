#![allow(dead_code)]
//! Helpers shared by the gdbql test files: build stored-event-shaped values.

use serde_json::{json, Value};

/// A stored event with the ten fields in order; `n` makes id and time unique
/// and increasing.
pub fn event(n: usize, subject: &str, ty: &str, data: Value) -> Value {
    json!({
        "source": "io.genesisdb.test",
        "subject": subject,
        "type": ty,
        "specversion": "1.0",
        "id": format!("00000000-0000-4000-8000-{:012}", n),
        "time": format!("2025-01-01T00:00:{:02}.{:09}Z", n / 1000 % 60, n % 1000 * 1000),
        "datacontenttype": "application/json",
        "predecessorhash": "0".repeat(64),
        "data": data,
        "hash": "0".repeat(64),
    })
}

/// Runs `query` over `events`, panicking (in tests only) on a parse error.
pub fn run(query: &str, events: &[Value]) -> Vec<Value> {
    let q = match genesisdb_gdbql::parse(query) {
        Ok(q) => q,
        Err(e) => panic!("{query}: {e}"),
    };
    q.rows(events.iter())
        .map(|r| match r {
            Ok(v) => v,
            Err(e) => panic!("{query}: {e}"),
        })
        .collect()
}

/// The rows as compact JSON text, one per line (what the server writes).
pub fn ndjson(query: &str, events: &[Value]) -> String {
    run(query, events)
        .iter()
        .map(|v| format!("{v}\n"))
        .collect()
}

pub fn holds(query: &str, events: &[Value]) -> bool {
    match genesisdb_gdbql::parse(query) {
        Ok(q) => match q.holds_over(events.iter()) {
            Ok(b) => b,
            Err(e) => panic!("{query}: {e}"),
        },
        Err(e) => panic!("{query}: {e}"),
    }
}

pub fn parse_err(query: &str) -> genesisdb_gdbql::Error {
    match genesisdb_gdbql::parse(query) {
        Ok(_) => panic!("{query}: parsed but should not"),
        Err(e) => e,
    }
}
