//! The event store: one globally ordered list of events, a commit lock that
//! serializes preconditions, validation, hashing, persistence and append,
//! and a watch channel that wakes observers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::{Bytes, BytesMut};
use serde_json::Value;
use tokio::sync::watch;

use crate::event::{self, covers, Parts, StoredEvent, ZERO_HASH};
use crate::persist::Log;

/// Most events looked at by one `read_lines` call.
const MAX_SCAN: usize = 16 * 1024;

/// An event to commit, validated by the HTTP layer.
pub struct NewEvent {
    pub source: String,
    pub subject: String,
    pub event_type: String,
    pub data: Value,
    /// `data` serialized (computed once, outside the commit lock).
    pub data_json: String,
    pub by_ref: bool,
}

/// A validated precondition.
pub enum Precondition {
    SubjectNew(String),
    SubjectExisting(String),
    QueryResultTrue(Box<genesisdb_gdbql::Query>),
}

impl Precondition {
    fn type_name(&self) -> &'static str {
        match self {
            Precondition::SubjectNew(_) => "isSubjectNew",
            Precondition::SubjectExisting(_) => "isSubjectExisting",
            Precondition::QueryResultTrue(_) => "isQueryResultTrue",
        }
    }
}

/// Why a commit or erase did not happen.
#[derive(Debug)]
pub enum StoreError {
    /// A precondition did not hold (412).
    Precondition {
        index: usize,
        kind: &'static str,
        message: String,
    },
    /// The request is invalid in a way only the store can tell (400).
    BadRequest(String),
    /// Nothing in scope (404).
    NotFound(String),
    /// Storage failed (500); nothing was acknowledged.
    Internal(String),
}

/// Everything the commit lock protects.
struct Writer {
    last_hash: String,
    last_time: i128,
    log: Option<Log>,
    /// Set when a failed write could not be rolled back: the store refuses
    /// further writes rather than risk a corrupt log.
    failed: Option<String>,
}

/// Events and indexes, read by many, written under the commit lock.
#[derive(Default)]
struct Inner {
    events: Vec<Arc<StoredEvent>>,
    by_id: HashMap<String, usize>,
    /// Number of events per exact subject.
    subjects: HashMap<String, usize>,
}

/// The store.
pub struct Store {
    inner: RwLock<Inner>,
    writer: Mutex<Writer>,
    notify: watch::Sender<usize>,
    durable: bool,
}

fn read(l: &RwLock<Inner>) -> RwLockReadGuard<'_, Inner> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write(l: &RwLock<Inner>) -> RwLockWriteGuard<'_, Inner> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

fn lock(m: &Mutex<Writer>) -> MutexGuard<'_, Writer> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// An in-memory store.
    pub fn memory() -> Store {
        Store::with(Vec::new(), None)
    }

    /// A store over replayed events and an open log.
    pub fn with(events: Vec<StoredEvent>, log: Option<Log>) -> Store {
        let mut inner = Inner::default();
        let mut last_hash = ZERO_HASH.to_string();
        let mut last_time = 0i128;
        for e in events {
            last_hash = e.hash.clone();
            if let Some(t) = event::parse_time(&e.time) {
                last_time = last_time.max(t);
            }
            inner.push(Arc::new(e));
        }
        let (notify, _) = watch::channel(inner.events.len());
        let durable = log.is_some();
        Store {
            durable,
            inner: RwLock::new(inner),
            writer: Mutex::new(Writer {
                last_hash,
                last_time,
                log,
                failed: None,
            }),
            notify,
        }
    }

    /// True when events are written to a data directory.
    pub fn is_durable(&self) -> bool {
        self.durable
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        read(&self.inner).events.len()
    }

    /// A receiver that changes whenever events are appended.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.notify.subscribe()
    }

    /// Position of the event with this id.
    pub fn position(&self, id: &str) -> Option<usize> {
        read(&self.inner).by_id.get(id).copied()
    }

    /// A snapshot of all events (cheap: `Arc`s).
    pub fn snapshot(&self) -> Vec<Arc<StoredEvent>> {
        read(&self.inner).events.clone()
    }

    /// The event at a position.
    #[cfg(test)]
    pub fn get(&self, pos: usize) -> Option<Arc<StoredEvent>> {
        read(&self.inner).events.get(pos).cloned()
    }

    /// Copies lines of events in `[from, to)` that pass `keep` into one
    /// buffer of about `max_bytes`; returns the buffer and the next position.
    pub fn read_lines(
        &self,
        from: usize,
        to: usize,
        max_bytes: usize,
        keep: &dyn Fn(&StoredEvent) -> bool,
    ) -> (Bytes, usize) {
        let inner = read(&self.inner);
        let to = to.min(inner.events.len());
        let mut buf = BytesMut::new();
        let mut pos = from;
        // Bounded work per call, so a narrow scope over a large store does
        // not hold the lock for long (an empty chunk is simply skipped).
        let to = to.min(from.saturating_add(MAX_SCAN));
        while pos < to && buf.len() < max_bytes {
            if let Some(e) = inner.events.get(pos) {
                if keep(e) {
                    buf.extend_from_slice(&e.line);
                }
            }
            pos += 1;
        }
        (buf.freeze(), pos)
    }

    /// Lines of the events at the given positions, starting at `idx`.
    pub fn read_positions(
        &self,
        positions: &[usize],
        idx: usize,
        max_bytes: usize,
    ) -> (Bytes, usize) {
        let inner = read(&self.inner);
        let mut buf = BytesMut::new();
        let mut i = idx;
        while i < positions.len() && buf.len() < max_bytes {
            if let Some(e) = positions.get(i).and_then(|p| inner.events.get(*p)) {
                buf.extend_from_slice(&e.line);
            }
            i += 1;
        }
        (buf.freeze(), i)
    }

    /// Positions in `[from, to)` of the newest event of `event_type` per
    /// subject covered by `scope`, in global order.
    pub fn latest_by_type(
        &self,
        scope: &str,
        event_type: &str,
        from: usize,
        to: usize,
    ) -> Vec<usize> {
        let inner = read(&self.inner);
        let to = to.min(inner.events.len());
        let mut latest: HashMap<&str, usize> = HashMap::new();
        for pos in from..to {
            if let Some(e) = inner.events.get(pos) {
                if e.event_type == event_type && covers(scope, &e.subject) {
                    latest.insert(e.subject.as_str(), pos);
                }
            }
        }
        let mut v: Vec<usize> = latest.into_values().collect();
        v.sort_unstable();
        v
    }

    /// Commits a batch atomically.
    pub fn commit(
        &self,
        events: Vec<NewEvent>,
        preconditions: &[Precondition],
    ) -> Result<(), StoreError> {
        let w = lock(&self.writer);
        self.commit_locked(w, events, preconditions)
    }

    /// Commits only if the commit lock is free right now; otherwise hands
    /// the events back (so an async caller never waits on the lock).
    pub fn try_commit(
        &self,
        events: Vec<NewEvent>,
        preconditions: &[Precondition],
    ) -> Result<Result<(), StoreError>, Vec<NewEvent>> {
        let w = match self.writer.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(events),
        };
        Ok(self.commit_locked(w, events, preconditions))
    }

    fn commit_locked(
        &self,
        mut w: MutexGuard<'_, Writer>,
        events: Vec<NewEvent>,
        preconditions: &[Precondition],
    ) -> Result<(), StoreError> {
        if let Some(why) = &w.failed {
            return Err(StoreError::Internal(format!(
                "the store refuses writes: {why}"
            )));
        }
        {
            let inner = read(&self.inner);
            for (index, p) in preconditions.iter().enumerate() {
                let fail = |message: String| StoreError::Precondition {
                    index,
                    kind: p.type_name(),
                    message,
                };
                match p {
                    Precondition::SubjectNew(s) => {
                        if inner.subjects.get(s).copied().unwrap_or(0) > 0 {
                            return Err(fail(format!(
                                "precondition {index} (isSubjectNew) failed: subject {s} already has events"
                            )));
                        }
                    }
                    Precondition::SubjectExisting(s) => {
                        if inner.subjects.get(s).copied().unwrap_or(0) == 0 {
                            return Err(fail(format!(
                                "precondition {index} (isSubjectExisting) failed: subject {s} has no events"
                            )));
                        }
                    }
                    Precondition::QueryResultTrue(q) => {
                        let mut rows = q.rows(inner.events.iter().map(|e| &e.value));
                        for row in rows.by_ref() {
                            match row {
                                Ok(v) => {
                                    if !genesisdb_gdbql::is_truthy(&v) {
                                        return Err(fail(format!(
                                            "precondition {index} (isQueryResultTrue) failed: the query returned {}",
                                            event::to_json(&v)
                                        )));
                                    }
                                }
                                Err(e) => {
                                    return Err(StoreError::BadRequest(format!(
                                        "preconditions[{index}].payload.query: {e}"
                                    )))
                                }
                            }
                        }
                    }
                }
            }
        }

        let mut built = Vec::with_capacity(events.len());
        let mut pred = w.last_hash.clone();
        let mut t = w.last_time;
        let now = event::now_nanos();
        for ev in events {
            t = if now > t { now } else { t + 1 };
            let id = uuid::Uuid::new_v4().to_string();
            let time = event::format_time(t);
            let data_ref = ev
                .by_ref
                .then(|| event::sha256_hex(ev.data_json.as_bytes()));
            let parts = Parts {
                source: &ev.source,
                subject: &ev.subject,
                event_type: &ev.event_type,
                id: &id,
                time: &time,
                predecessorhash: &pred,
            };
            let hash = parts.hash(&ev.data_json, data_ref.as_deref());
            let stored = parts.build(ev.data, &ev.data_json, data_ref, false, hash);
            pred = stored.hash.clone();
            built.push((stored, ev.data_json));
        }

        if let Some(log) = w.log.as_mut() {
            if let Err(e) = log.append_commit(&built) {
                let msg = format!("could not write the event log: {e}");
                if let Some(f) = e.fatal {
                    w.failed = Some(f);
                }
                return Err(StoreError::Internal(msg));
            }
        }

        let len = {
            let mut inner = write(&self.inner);
            for (e, _) in built {
                inner.push(Arc::new(e));
            }
            inner.events.len()
        };
        w.last_hash = pred;
        w.last_time = t;
        drop(w);
        self.notify.send_replace(len);
        Ok(())
    }

    /// Erases the by-reference payloads of every event in scope; returns how
    /// many were erased.
    pub fn erase(&self, scope: &str) -> Result<usize, StoreError> {
        let mut w = lock(&self.writer);
        if let Some(why) = &w.failed {
            return Err(StoreError::Internal(format!(
                "the store refuses writes: {why}"
            )));
        }
        let mut any = false;
        let mut targets = Vec::new();
        {
            let inner = read(&self.inner);
            for (pos, e) in inner.events.iter().enumerate() {
                if covers(scope, &e.subject) {
                    any = true;
                    if e.data_ref.is_some() && !e.erased {
                        targets.push((pos, event::blank(e.data())));
                    }
                }
            }
        }
        if !any {
            return Err(StoreError::NotFound(format!(
                "no events for subject {scope}"
            )));
        }
        if targets.is_empty() {
            return Ok(0);
        }
        let mut replaced = Vec::with_capacity(targets.len());
        {
            let inner = read(&self.inner);
            for (pos, blanked) in targets {
                if let Some(old) = inner.events.get(pos) {
                    let dj = event::to_json(&blanked);
                    let e = old.parts().build(
                        blanked,
                        &dj,
                        old.data_ref.clone(),
                        true,
                        old.hash.clone(),
                    );
                    replaced.push((pos, e));
                }
            }
        }
        if let Some(log) = w.log.as_mut() {
            if let Err(e) = log.append_erase(&replaced) {
                let msg = format!("could not write the event log: {e}");
                if let Some(f) = e.fatal {
                    w.failed = Some(f);
                }
                return Err(StoreError::Internal(msg));
            }
        }
        let n = replaced.len();
        {
            let mut inner = write(&self.inner);
            for (pos, e) in replaced {
                if let Some(slot) = inner.events.get_mut(pos) {
                    *slot = Arc::new(e);
                }
            }
        }
        Ok(n)
    }

    /// Recomputes the whole chain. `Ok(n)` when all `n` events pass, else the
    /// text naming the first broken event.
    pub fn audit(&self) -> Result<usize, String> {
        let events = self.snapshot();
        audit_events(&events)
    }

    #[cfg(test)]
    pub(crate) fn tamper(&self, pos: usize, e: StoredEvent) {
        let mut inner = write(&self.inner);
        if let Some(slot) = inner.events.get_mut(pos) {
            *slot = Arc::new(e);
        }
    }
}

/// Verifies a chain of events; names the first broken one.
pub fn audit_events(events: &[Arc<StoredEvent>]) -> Result<usize, String> {
    let mut pred = ZERO_HASH;
    for (pos, e) in events.iter().enumerate() {
        if e.predecessorhash != pred {
            return Err(format!(
                "event {} (position {pos}, subject {}): its predecessorhash {} does not match the hash {} of the event before it",
                e.id, e.subject, e.predecessorhash, pred
            ));
        }
        if let Err(why) = e.verify() {
            return Err(format!(
                "event {} (position {pos}, subject {}): {why}",
                e.id, e.subject
            ));
        }
        pred = &e.hash;
    }
    Ok(events.len())
}

impl Inner {
    fn push(&mut self, e: Arc<StoredEvent>) {
        let pos = self.events.len();
        self.by_id.insert(e.id.clone(), pos);
        *self.subjects.entry(e.subject.clone()).or_insert(0) += 1;
        self.events.push(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(subject: &str, by_ref: bool) -> NewEvent {
        let data = serde_json::json!({"name": "Jane", "n": 1, "tags": ["a"]});
        NewEvent {
            source: "test".into(),
            subject: subject.into(),
            event_type: "t".into(),
            data_json: event::to_json(&data),
            data,
            by_ref,
        }
    }

    #[test]
    fn chain_erase_and_audit() {
        let s = Store::memory();
        s.commit(vec![ev("/a", false), ev("/a/1", true)], &[])
            .unwrap();
        s.commit(vec![ev("/b", true)], &[]).unwrap();
        assert_eq!(s.audit(), Ok(3));
        assert_eq!(s.erase("/a").unwrap(), 1);
        assert_eq!(s.audit(), Ok(3));
        let e = s.get(1).unwrap();
        assert_eq!(
            e.data(),
            &serde_json::json!({"name": "", "n": "", "tags": []})
        );
        assert!(matches!(s.erase("/zzz"), Err(StoreError::NotFound(_))));
        // Times strictly increase, chain links.
        let all = s.snapshot();
        assert!(all[0].time < all[1].time && all[1].time < all[2].time);
        assert_eq!(all[1].predecessorhash, all[0].hash);
    }

    #[test]
    fn audit_names_broken_event() {
        let s = Store::memory();
        s.commit(vec![ev("/a", false), ev("/b", false)], &[])
            .unwrap();
        let old = s.get(1).unwrap();
        let data = serde_json::json!({"name": "Mallory"});
        let dj = event::to_json(&data);
        let forged = old.parts().build(data, &dj, None, false, old.hash.clone());
        s.tamper(1, forged);
        let err = s.audit().unwrap_err();
        assert!(err.contains(&old.id), "{err}");
    }

    #[test]
    fn preconditions() {
        let s = Store::memory();
        let p = [Precondition::SubjectNew("/a".into())];
        s.commit(vec![ev("/a", false)], &p).unwrap();
        match s.commit(vec![ev("/a", false)], &p) {
            Err(StoreError::Precondition { index, kind, .. }) => {
                assert_eq!(index, 0);
                assert_eq!(kind, "isSubjectNew");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.len(), 1);
        let p = [Precondition::SubjectExisting("/a/1".into())];
        assert!(s.commit(vec![ev("/a/1", false)], &p).is_err());
        let p = [Precondition::SubjectExisting("/a".into())];
        assert!(s.commit(vec![ev("/a/1", false)], &p).is_ok());
    }
}
