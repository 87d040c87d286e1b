//! Events as received, and the inputs of commit/stream/observe.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::error::Error;

/// A stored event as received. `data` is kept as raw JSON text; unknown attributes are kept in
/// `extra` in wire order.
#[derive(Clone, Debug, Default)]
pub struct Event {
    /// Event id (UUID).
    pub id: Option<String>,
    /// CloudEvents source.
    pub source: Option<String>,
    /// Subject, e.g. `/customer/1`.
    pub subject: Option<String>,
    /// Event type.
    pub r#type: Option<String>,
    /// RFC 3339 time.
    pub time: Option<String>,
    /// CloudEvents spec version.
    pub specversion: Option<String>,
    /// Content type of `data`.
    pub datacontenttype: Option<String>,
    /// Hash of the previous event in the chain.
    pub predecessorhash: Option<String>,
    /// Hash of this event.
    pub hash: Option<String>,
    /// Raw JSON text of `data`.
    pub data: Option<Box<RawValue>>,
    /// Unknown attributes, in wire order.
    pub extra: Vec<(String, Box<RawValue>)>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        fn raw_eq(a: &RawValue, b: &RawValue) -> bool {
            a.get() == b.get()
        }
        self.id == other.id
            && self.source == other.source
            && self.subject == other.subject
            && self.r#type == other.r#type
            && self.time == other.time
            && self.specversion == other.specversion
            && self.datacontenttype == other.datacontenttype
            && self.predecessorhash == other.predecessorhash
            && self.hash == other.hash
            && match (&self.data, &other.data) {
                (Some(a), Some(b)) => raw_eq(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.extra.len() == other.extra.len()
            && self
                .extra
                .iter()
                .zip(other.extra.iter())
                .all(|((ka, va), (kb, vb))| ka == kb && raw_eq(va, vb))
    }
}

impl Event {
    /// True for the observe heartbeat `{"payload":""}` (an object whose only key is `payload`
    /// with the value `""`).
    pub fn is_heartbeat(&self) -> bool {
        self.id.is_none()
            && self.source.is_none()
            && self.subject.is_none()
            && self.r#type.is_none()
            && self.time.is_none()
            && self.specversion.is_none()
            && self.datacontenttype.is_none()
            && self.predecessorhash.is_none()
            && self.hash.is_none()
            && self.data.is_none()
            && self.extra.len() == 1
            && self.extra[0].0 == "payload"
            && self.extra[0].1.get() == "\"\""
    }

    /// Parses one JSON object (one NDJSON line).
    pub fn from_json(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The event as compact JSON (known attributes in the stored order, then `extra`).
    pub fn to_json(&self) -> String {
        // Serializing strings and raw values into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

enum Key {
    Id,
    Source,
    Subject,
    Type,
    Time,
    Specversion,
    Datacontenttype,
    Predecessorhash,
    Hash,
    Data,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "id" => Key::Id,
                    "source" => Key::Source,
                    "subject" => Key::Subject,
                    "type" => Key::Type,
                    "time" => Key::Time,
                    "specversion" => Key::Specversion,
                    "datacontenttype" => Key::Datacontenttype,
                    "predecessorhash" => Key::Predecessorhash,
                    "hash" => Key::Hash,
                    "data" => Key::Data,
                    other => Key::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Event, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = Event;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Event, A::Error> {
                let mut e = Event::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Id => e.id = map.next_value()?,
                        Key::Source => e.source = map.next_value()?,
                        Key::Subject => e.subject = map.next_value()?,
                        Key::Type => e.r#type = map.next_value()?,
                        Key::Time => e.time = map.next_value()?,
                        Key::Specversion => e.specversion = map.next_value()?,
                        Key::Datacontenttype => e.datacontenttype = map.next_value()?,
                        Key::Predecessorhash => e.predecessorhash = map.next_value()?,
                        Key::Hash => e.hash = map.next_value()?,
                        Key::Data => e.data = Some(map.next_value::<Box<RawValue>>()?),
                        Key::Other(name) => {
                            let v = map.next_value::<Box<RawValue>>()?;
                            e.extra.push((name, v));
                        }
                    }
                }
                Ok(e)
            }
        }
        d.deserialize_map(EventVisitor)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let strings = [
            ("source", &self.source),
            ("subject", &self.subject),
            ("type", &self.r#type),
            ("specversion", &self.specversion),
            ("id", &self.id),
            ("time", &self.time),
            ("datacontenttype", &self.datacontenttype),
            ("predecessorhash", &self.predecessorhash),
        ];
        for (k, v) in strings {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        if let Some(d) = &self.data {
            m.serialize_entry("data", d)?;
        }
        if let Some(h) = &self.hash {
            m.serialize_entry("hash", h)?;
        }
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// Options of stream and observe. snake_case here, camelCase on the wire; `None` = key omitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamOptions {
    /// Start at this event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lower_bound: Option<String>,
    /// Include the lower bound event itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_lower_bound_event: Option<bool>,
    /// Stop at this event id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upper_bound: Option<String>,
    /// Include the upper bound event itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_upper_bound_event: Option<bool>,
    /// Only the latest event of this type per subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_by_event_type: Option<String>,
}

impl StreamOptions {
    /// True when no option is set (the `options` key is then omitted).
    pub fn is_empty(&self) -> bool {
        self.lower_bound.is_none()
            && self.include_lower_bound_event.is_none()
            && self.upper_bound.is_none()
            && self.include_upper_bound_event.is_none()
            && self.latest_by_event_type.is_none()
    }
}

/// Per-event commit options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventOptions {
    /// Store `data` by reference so that `erase_data` can delete it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_data_as_reference: Option<bool>,
}

/// One event to commit.
#[derive(Clone, Debug, Serialize)]
pub struct CommitEvent {
    /// CloudEvents source.
    pub source: String,
    /// Subject, must start with `/`.
    pub subject: String,
    /// Event type.
    pub r#type: String,
    /// Already-encoded JSON.
    pub data: Box<RawValue>,
    /// The `options` key is sent iff `Some`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<EventOptions>,
}

/// A commit precondition `{"type": .., "payload": ..}`.
#[derive(Clone, Debug, Serialize)]
pub struct Precondition {
    /// e.g. `isSubjectNew`.
    pub r#type: String,
    /// Already-encoded JSON payload.
    pub payload: Box<RawValue>,
}

impl Precondition {
    fn with_string(r#type: &str, key: &str, value: &str) -> Precondition {
        let mut text = String::with_capacity(value.len() + key.len() + 8);
        text.push('{');
        push_json_string(&mut text, key);
        text.push(':');
        push_json_string(&mut text, value);
        text.push('}');
        Precondition {
            r#type: r#type.to_owned(),
            // A JSON object built from escaped strings is always valid.
            payload: RawValue::from_string(text).unwrap_or_else(|_| raw_null()),
        }
    }

    /// `isSubjectNew` for `subject`.
    pub fn is_subject_new(subject: &str) -> Precondition {
        Precondition::with_string("isSubjectNew", "subject", subject)
    }

    /// `isSubjectExisting` for `subject`.
    pub fn is_subject_existing(subject: &str) -> Precondition {
        Precondition::with_string("isSubjectExisting", "subject", subject)
    }

    /// `isQueryResultTrue` for `query`.
    pub fn is_query_result_true(query: &str) -> Precondition {
        Precondition::with_string("isQueryResultTrue", "query", query)
    }
}

fn raw_null() -> Box<RawValue> {
    RawValue::NULL.to_owned()
}

fn push_json_string(out: &mut String, s: &str) {
    // Serializing a &str to JSON cannot fail.
    if let Ok(q) = serde_json::to_string(s) {
        out.push_str(&q);
    }
}

/// A subject must be a non-empty string starting with `/`.
pub fn validate_subject(subject: &str) -> Result<(), Error> {
    if subject.starts_with('/') {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "subject must start with '/', got {subject:?}"
        )))
    }
}

/// A commit needs at least one event, each with a non-empty `source` and `type` and a subject
/// starting with `/`. The message names the event index and the field.
pub fn validate_commit(events: &[CommitEvent]) -> Result<(), Error> {
    if events.is_empty() {
        return Err(Error::InvalidInput(
            "events must be a non-empty list".to_owned(),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        if e.source.is_empty() {
            return Err(Error::InvalidInput(format!(
                "events[{i}].source must be a non-empty string"
            )));
        }
        if e.r#type.is_empty() {
            return Err(Error::InvalidInput(format!(
                "events[{i}].type must be a non-empty string"
            )));
        }
        if !e.subject.starts_with('/') {
            return Err(Error::InvalidInput(format!(
                "events[{i}].subject must start with '/', got {:?}",
                e.subject
            )));
        }
    }
    Ok(())
}

/// Preconditions need a non-empty type.
pub fn validate_preconditions(preconditions: &[Precondition]) -> Result<(), Error> {
    for (i, p) in preconditions.iter().enumerate() {
        if p.r#type.is_empty() {
            return Err(Error::InvalidInput(format!(
                "preconditions[{i}].type must be a non-empty string"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_and_extra_in_one_pass() {
        let line = br#"{"source":"s","subject":"/a","type":"t","specversion":"1.0","id":"x","time":"T","datacontenttype":"application/json","predecessorhash":"00","data":{"b":1,"a":[1,2]},"hash":"ff","zz":{"k":true},"aa":null}"#;
        let e = Event::from_json(line).map_err(|e| e.to_string());
        let e = match e {
            Ok(e) => e,
            Err(m) => panic!("{m}"),
        };
        assert_eq!(e.id.as_deref(), Some("x"));
        assert_eq!(
            e.data.as_ref().map(|d| d.get()),
            Some(r#"{"b":1,"a":[1,2]}"#)
        );
        let extra: Vec<_> = e.extra.iter().map(|(k, v)| (k.as_str(), v.get())).collect();
        assert_eq!(extra, vec![("zz", r#"{"k":true}"#), ("aa", "null")]);
        assert!(!e.is_heartbeat());
        assert_eq!(
            e.to_json(),
            r#"{"source":"s","subject":"/a","type":"t","specversion":"1.0","id":"x","time":"T","datacontenttype":"application/json","predecessorhash":"00","data":{"b":1,"a":[1,2]},"hash":"ff","zz":{"k":true},"aa":null}"#
        );
    }

    #[test]
    fn heartbeat() {
        let hb = Event::from_json(br#"{"payload":""}"#).ok();
        assert!(hb.map(|e| e.is_heartbeat()).unwrap_or(false));
        let not = Event::from_json(br#"{"payload":"x"}"#).ok();
        assert!(!not.map(|e| e.is_heartbeat()).unwrap_or(true));
    }

    #[test]
    fn bodies() {
        let o = StreamOptions {
            lower_bound: Some("1".into()),
            include_lower_bound_event: Some(true),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&o).ok().as_deref(),
            Some(r#"{"lowerBound":"1","includeLowerBoundEvent":true}"#)
        );
        let p = Precondition::is_subject_new("/a\"b");
        assert_eq!(p.payload.get(), r#"{"subject":"/a\"b"}"#);
        assert!(validate_subject("x").is_err());
        assert!(validate_commit(&[]).is_err());
    }
}
