//! Stored events: their serialized form, the canonical form that is hashed,
//! and the helpers that build them.

use bytes::Bytes;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// `predecessorhash` of the very first event.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Largest serialized stored event (one NDJSON line without its `\n`).
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Fixed length of the server-assigned parts of a stored event line:
/// id (36), time (30), predecessorhash (64), hash (64).
const ID_LEN: usize = 36;
const TIME_LEN: usize = 30;
const HASH_LEN: usize = 64;

/// One stored event, immutable once built (erase replaces the whole value).
#[derive(Debug)]
pub struct StoredEvent {
    pub source: String,
    pub subject: String,
    pub event_type: String,
    pub id: String,
    pub time: String,
    pub predecessorhash: String,
    pub hash: String,
    /// For events committed with `storeDataAsReference`: the SHA-256 (hex) of
    /// the original payload's JSON, which is what the hash chain covers.
    pub data_ref: Option<String>,
    /// True once the by-reference payload was erased.
    pub erased: bool,
    /// The ten fields as a JSON object (for GDBQL).
    pub value: Value,
    /// The NDJSON line (ends with `\n`).
    pub line: Bytes,
}

/// Appends `s` as a JSON string literal.
pub fn push_json_str(out: &mut String, s: &str) {
    // serde_json's escaping of a plain &str cannot fail.
    match serde_json::to_string(s) {
        Ok(q) => out.push_str(&q),
        Err(_) => out.push_str("\"\""),
    }
}

/// Serializes a JSON value compactly (key order kept).
pub fn to_json(v: &Value) -> String {
    // Serializing a `Value` cannot fail (all keys are strings).
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The event without its closing brace, `data` rendered as `data_json`.
#[allow(clippy::too_many_arguments)]
fn render_prefix(
    source: &str,
    subject: &str,
    event_type: &str,
    id: &str,
    time: &str,
    predecessorhash: &str,
    data_json: &str,
) -> String {
    let mut s = String::with_capacity(
        200 + source.len() + subject.len() + event_type.len() + data_json.len(),
    );
    s.push_str("{\"source\":");
    push_json_str(&mut s, source);
    s.push_str(",\"subject\":");
    push_json_str(&mut s, subject);
    s.push_str(",\"type\":");
    push_json_str(&mut s, event_type);
    s.push_str(",\"specversion\":\"1.0\",\"id\":");
    push_json_str(&mut s, id);
    s.push_str(",\"time\":");
    push_json_str(&mut s, time);
    s.push_str(",\"datacontenttype\":\"application/json\",\"predecessorhash\":");
    push_json_str(&mut s, predecessorhash);
    s.push_str(",\"data\":");
    s.push_str(data_json);
    s
}

/// Length of the NDJSON line (without `\n`) an event with these client parts
/// will have once stored.
pub fn stored_len(source: &str, subject: &str, event_type: &str, data_json: &str) -> usize {
    let id = "0".repeat(ID_LEN);
    let time = "0".repeat(TIME_LEN);
    let h = "0".repeat(HASH_LEN);
    render_prefix(source, subject, event_type, &id, &time, &h, data_json).len()
        + ",\"hash\":\"\"}".len()
        + HASH_LEN
}

/// The parts of an event that a hash is computed from.
pub struct Parts<'a> {
    pub source: &'a str,
    pub subject: &'a str,
    pub event_type: &'a str,
    pub id: &'a str,
    pub time: &'a str,
    pub predecessorhash: &'a str,
}

impl Parts<'_> {
    /// The canonical serialisation that is hashed: the event without `hash`,
    /// where `data` of a by-reference event is the SHA-256 of its payload.
    pub fn canonical(&self, data_json: &str, data_ref: Option<&str>) -> String {
        let mut s = match data_ref {
            Some(r) => {
                let mut q = String::with_capacity(HASH_LEN + 2);
                push_json_str(&mut q, r);
                self.prefix(&q)
            }
            None => self.prefix(data_json),
        };
        s.push('}');
        s
    }

    fn prefix(&self, data_json: &str) -> String {
        render_prefix(
            self.source,
            self.subject,
            self.event_type,
            self.id,
            self.time,
            self.predecessorhash,
            data_json,
        )
    }

    /// The hash of the event.
    pub fn hash(&self, data_json: &str, data_ref: Option<&str>) -> String {
        sha256_hex(self.canonical(data_json, data_ref).as_bytes())
    }

    /// Builds the stored event with a known hash.
    pub fn build(
        &self,
        data: Value,
        data_json: &str,
        data_ref: Option<String>,
        erased: bool,
        hash: String,
    ) -> StoredEvent {
        let mut line = self.prefix(data_json);
        line.push_str(",\"hash\":");
        push_json_str(&mut line, &hash);
        line.push_str("}\n");
        let mut m = Map::with_capacity(10);
        m.insert("source".into(), Value::String(self.source.to_string()));
        m.insert("subject".into(), Value::String(self.subject.to_string()));
        m.insert("type".into(), Value::String(self.event_type.to_string()));
        m.insert("specversion".into(), Value::String("1.0".into()));
        m.insert("id".into(), Value::String(self.id.to_string()));
        m.insert("time".into(), Value::String(self.time.to_string()));
        m.insert(
            "datacontenttype".into(),
            Value::String("application/json".into()),
        );
        m.insert(
            "predecessorhash".into(),
            Value::String(self.predecessorhash.to_string()),
        );
        m.insert("data".into(), data);
        m.insert("hash".into(), Value::String(hash.clone()));
        StoredEvent {
            source: self.source.to_string(),
            subject: self.subject.to_string(),
            event_type: self.event_type.to_string(),
            id: self.id.to_string(),
            time: self.time.to_string(),
            predecessorhash: self.predecessorhash.to_string(),
            hash,
            data_ref,
            erased,
            value: Value::Object(m),
            line: Bytes::from(line.into_bytes()),
        }
    }
}

impl StoredEvent {
    /// The hash-relevant parts.
    pub fn parts(&self) -> Parts<'_> {
        Parts {
            source: &self.source,
            subject: &self.subject,
            event_type: &self.event_type,
            id: &self.id,
            time: &self.time,
            predecessorhash: &self.predecessorhash,
        }
    }

    /// The event's `data`.
    pub fn data(&self) -> &Value {
        self.value.get("data").unwrap_or(&Value::Null)
    }

    /// Checks this event's own hash (and its payload against its reference
    /// hash when the payload is still there). Returns why it is broken.
    pub fn verify(&self) -> Result<(), String> {
        let data_json = to_json(self.data());
        if let Some(r) = &self.data_ref {
            if !self.erased && sha256_hex(data_json.as_bytes()) != *r {
                return Err("its by-reference payload does not match its reference hash".into());
            }
        }
        let h = self.parts().hash(&data_json, self.data_ref.as_deref());
        if h != self.hash {
            return Err(format!(
                "its hash {} does not match its content (expected {h})",
                self.hash
            ));
        }
        Ok(())
    }
}

/// True when `scope` covers `subject`: `/` covers all, `S` covers `S` and
/// every subject starting with `S/`.
pub fn covers(scope: &str, subject: &str) -> bool {
    if scope == "/" {
        return true;
    }
    match subject.strip_prefix(scope) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The same shape with every leaf `""` and every array `[]`.
pub fn blank(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), blank(v))).collect()),
        Value::Array(_) => Value::Array(Vec::new()),
        _ => Value::String(String::new()),
    }
}

/// RFC 3339 UTC with nine fraction digits.
pub fn format_time(nanos: i128) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.nanosecond()
        ),
        Err(_) => "1970-01-01T00:00:00.000000000Z".to_string(),
    }
}

/// Parses a stored time back to Unix nanoseconds.
pub fn parse_time(s: &str) -> Option<i128> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

/// Now, in Unix nanoseconds.
pub fn now_nanos() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_rule() {
        assert!(covers("/", "/a"));
        assert!(covers("/customer", "/customer"));
        assert!(covers("/customer", "/customer/1"));
        assert!(!covers("/cust", "/customer"));
        assert!(!covers("/customer/1", "/customer"));
    }

    #[test]
    fn blank_shape() {
        let v = serde_json::json!({"a": "x", "b": 1, "c": {"d": true, "e": [1, 2]}, "f": null});
        assert_eq!(
            blank(&v),
            serde_json::json!({"a": "", "b": "", "c": {"d": "", "e": []}, "f": ""})
        );
    }

    #[test]
    fn time_format_roundtrip() {
        let t = 1_748_878_801_157_792_875i128;
        let s = format_time(t);
        assert_eq!(s, "2025-06-02T15:40:01.157792875Z");
        assert_eq!(parse_time(&s), Some(t));
    }

    #[test]
    fn stored_len_is_exact() {
        let data = serde_json::json!({"k": "v"});
        let dj = to_json(&data);
        let id = uuid::Uuid::new_v4().to_string();
        let time = format_time(now_nanos());
        let p = Parts {
            source: "s",
            subject: "/a",
            event_type: "t",
            id: &id,
            time: &time,
            predecessorhash: ZERO_HASH,
        };
        let h = p.hash(&dj, None);
        let e = p.build(data, &dj, None, false, h);
        assert_eq!(e.line.len() - 1, stored_len("s", "/a", "t", &dj));
        assert!(e.verify().is_ok());
        let v: Value = serde_json::from_slice(&e.line).unwrap();
        assert_eq!(v, e.value);
    }
}
