//! Parses arbitrary bytes as a query; when it parses, evaluates it over a
//! few events. Run: `cd crates/gdbql/fuzz && cargo fuzz run parse_eval`
//! (on a stable toolchain prefix `RUSTC_BOOTSTRAP=1`). Seed it by copying
//! `../tests/corpus/*.txt` into `corpus/parse_eval/` (git-ignored) first;
//! libFuzzer writes new inputs into its first corpus directory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = genesisdb_gdbql::parse(text) else {
        return;
    };
    let events = [
        json!({"source": "s", "subject": "/a", "type": "x", "specversion": "1.0",
               "id": "1", "time": "2024-01-01T00:00:00Z", "datacontenttype": "application/json",
               "predecessorhash": "", "data": {"n": 1, "x": "a", "l": [1, "a", null]}, "hash": ""}),
        json!({"source": "s", "subject": "/a/b", "type": "t", "specversion": "1.0",
               "id": "2", "time": "2024-01-01T00:00:00.5Z", "datacontenttype": "application/json",
               "predecessorhash": "", "data": {"n": 2.5, "x": {"y": "2024-01-01T00:00:00Z"}}, "hash": ""}),
        json!({"source": "s", "subject": "/c", "type": "t", "specversion": "1.0",
               "id": "3", "time": "2025-01-01T00:00:00Z", "datacontenttype": "application/json",
               "predecessorhash": "", "data": null, "hash": ""}),
    ];
    for row in query.rows(events.iter()).take(1000) {
        let _ = row;
    }
    let _ = query.holds_over(events.iter());
});
