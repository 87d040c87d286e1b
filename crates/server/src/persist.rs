//! On-disk storage for `--data-dir`.
//!
//! Layout:
//! - `events.log`: append-only records, one per committed batch or erase.
//!   Each record is a 44-byte header (`GDBR`, payload length as u32 LE, its
//!   bitwise complement, SHA-256 of the payload) followed by the JSON payload.
//! - `lock`: locked while a server uses the directory.
//! - `refs/<event id>.json`: the payload of each by-reference event; the log
//!   only holds its SHA-256, so erase deletes the payload for real.
//!
//! At start the log is replayed and the hash chain verified. A last record
//! that was cut short (crash mid-write) is cut off; anything else that does
//! not verify is a refusal to start naming the file and offset.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ServerError;
use crate::event::{self, Parts, StoredEvent, ZERO_HASH};

const MAGIC: &[u8; 4] = b"GDBR";
const HEADER: usize = 44;
/// How long a busy directory lock is waited for.
const LOCK_WAIT_MS: u64 = 2000;
const LOG_FILE: &str = "events.log";
const REFS_DIR: &str = "refs";

/// A failed write. `fatal` is set when the log could not be rolled back.
#[derive(Debug)]
pub struct LogError {
    pub message: String,
    pub fatal: Option<String>,
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The open log.
pub struct Log {
    dir: PathBuf,
    file: File,
    len: u64,
    /// Held (locked) for the life of the server: one server per directory.
    _lock: File,
}

fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(payload));
    out.extend_from_slice(payload);
    Some(out)
}

fn valid_id(id: &str) -> bool {
    id.len() == 36 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Log {
    fn ref_path(&self, id: &str) -> PathBuf {
        self.dir.join(REFS_DIR).join(format!("{id}.json"))
    }

    fn write_record(&mut self, payload: &[u8]) -> Result<(), LogError> {
        let rec = frame(payload).ok_or_else(|| LogError {
            message: "record too large".into(),
            fatal: None,
        })?;
        let res = self
            .file
            .write_all(&rec)
            .and_then(|_| self.file.sync_data());
        match res {
            Ok(()) => {
                self.len += rec.len() as u64;
                Ok(())
            }
            Err(e) => {
                let rollback = self
                    .file
                    .set_len(self.len)
                    .and_then(|_| self.file.sync_all());
                Err(LogError {
                    message: e.to_string(),
                    fatal: rollback
                        .err()
                        .map(|r| format!("a failed write could not be rolled back: {r}")),
                })
            }
        }
    }

    /// Writes a committed batch: by-reference payloads first, then one record,
    /// fsynced.
    pub fn append_commit(&mut self, events: &[(StoredEvent, String)]) -> Result<(), LogError> {
        let mut written = Vec::new();
        let mut res: io::Result<()> = Ok(());
        for (e, data_json) in events {
            if e.data_ref.is_some() {
                let p = self.ref_path(&e.id);
                res = File::create(&p).and_then(|mut f| {
                    f.write_all(data_json.as_bytes())?;
                    f.sync_all()
                });
                written.push(p);
                if res.is_err() {
                    break;
                }
            }
        }
        if res.is_ok() && !written.is_empty() {
            res = sync_dir(&self.dir.join(REFS_DIR));
        }
        if let Err(e) = res {
            for p in &written {
                let _ = fs::remove_file(p);
            }
            return Err(LogError {
                message: e.to_string(),
                fatal: None,
            });
        }
        let recs: Vec<Value> = events
            .iter()
            .map(|(e, _)| {
                let mut v = e.value.clone();
                if let (Some(r), Value::Object(m)) = (&e.data_ref, &mut v) {
                    m.insert("data".into(), Value::Null);
                    m.insert("dataref".into(), Value::String(r.clone()));
                }
                v
            })
            .collect();
        let payload = event::to_json(&serde_json::json!({"t": "commit", "events": recs}));
        let r = self.write_record(payload.as_bytes());
        if r.is_err() {
            for p in &written {
                let _ = fs::remove_file(p);
            }
        }
        r
    }

    /// Writes an erase record (fsynced), then deletes the payload files.
    pub fn append_erase(&mut self, erased: &[(usize, StoredEvent)]) -> Result<(), LogError> {
        let recs: Vec<Value> = erased
            .iter()
            .map(|(_, e)| serde_json::json!({"id": e.id, "data": e.data()}))
            .collect();
        let payload = event::to_json(&serde_json::json!({"t": "erase", "events": recs}));
        self.write_record(payload.as_bytes())?;
        for (_, e) in erased {
            let p = self.ref_path(&e.id);
            if let Err(err) = fs::remove_file(&p) {
                if err.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(
                        "could not delete {}: {err} (retried at next start)",
                        p.display()
                    );
                }
            }
        }
        if let Err(err) = sync_dir(&self.dir.join(REFS_DIR)) {
            tracing::warn!("could not sync the refs directory: {err}");
        }
        Ok(())
    }
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Result<&'a str, String> {
    m.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("event field {k} is missing or not a string"))
}

struct Pending {
    source: String,
    subject: String,
    event_type: String,
    id: String,
    time: String,
    predecessorhash: String,
    hash: String,
    data: Value,
    data_ref: Option<String>,
    offset: u64,
}

/// Opens (creating if needed) the data directory, replays and verifies it.
pub fn open(dir: &Path) -> Result<(Log, Vec<StoredEvent>), ServerError> {
    let refs = dir.join(REFS_DIR);
    fs::create_dir_all(&refs).map_err(|e| ServerError::io(&refs, "create", &e))?;
    let lock_path = dir.join("lock");
    let lock = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| ServerError::io(&lock_path, "open", &e))?;
    // A lock that is busy only for a moment (a child process forked by this
    // process holds a copy of the descriptor until it execs) is waited for.
    let mut waited = 0;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if waited < LOCK_WAIT_MS => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                waited += 20;
            }
            Err(fs::TryLockError::WouldBlock) => {
                let e = io::Error::other("the data directory is in use by another server");
                return Err(ServerError::io(&lock_path, "lock", &e));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(ServerError::io(&lock_path, "lock", &e));
            }
        }
    }
    let path = dir.join(LOG_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| ServerError::io(&path, "open", &e))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| ServerError::io(&path, "read", &e))?;

    let corrupt = |off: u64, why: &str| ServerError::corrupt(&path, off, why);

    let mut pending: Vec<Pending> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut erased: HashMap<usize, Value> = HashMap::new();
    let mut off = 0usize;
    let mut good = 0usize;
    let total = bytes.len();
    while off < total {
        let rest = &bytes[off..];
        let o = off as u64;
        if rest.len() < HEADER {
            if rest.starts_with(&MAGIC[..rest.len().min(4)]) || rest.iter().all(|b| *b == 0) {
                break; // torn header
            }
            return Err(corrupt(o, "bad record header"));
        }
        if &rest[..4] != MAGIC {
            if rest.iter().all(|b| *b == 0) {
                break; // zero-filled tail of an interrupted write
            }
            return Err(corrupt(o, "bad record header (no GDBR marker)"));
        }
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let check = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
        if check != !len {
            return Err(corrupt(o, "bad record length"));
        }
        let len = len as usize;
        if rest.len() - HEADER < len {
            break; // torn: the record was cut short
        }
        let payload = &rest[HEADER..HEADER + len];
        if Sha256::digest(payload).as_slice() != &rest[12..44] {
            // JSON never holds a NUL byte: zeros in the payload and nothing
            // but zeros after it are a partially written last append.
            let after = &rest[HEADER + len..];
            if payload.contains(&0) && after.iter().all(|b| *b == 0) {
                break;
            }
            return Err(corrupt(o, "record checksum mismatch"));
        }
        let v: Value = serde_json::from_slice(payload)
            .map_err(|e| corrupt(o, &format!("record is not valid JSON: {e}")))?;
        let kind = v.get("t").and_then(Value::as_str).unwrap_or("");
        let evs = v
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| corrupt(o, "record has no events"))?;
        match kind {
            "commit" => {
                for e in evs {
                    let m = e
                        .as_object()
                        .ok_or_else(|| corrupt(o, "event is not an object"))?;
                    let p = (|| -> Result<Pending, String> {
                        Ok(Pending {
                            source: str_field(m, "source")?.to_string(),
                            subject: str_field(m, "subject")?.to_string(),
                            event_type: str_field(m, "type")?.to_string(),
                            id: str_field(m, "id")?.to_string(),
                            time: str_field(m, "time")?.to_string(),
                            predecessorhash: str_field(m, "predecessorhash")?.to_string(),
                            hash: str_field(m, "hash")?.to_string(),
                            data: m.get("data").cloned().unwrap_or(Value::Null),
                            data_ref: m.get("dataref").and_then(Value::as_str).map(String::from),
                            offset: o,
                        })
                    })()
                    .map_err(|why| corrupt(o, &why))?;
                    if !valid_id(&p.id) {
                        return Err(corrupt(o, &format!("invalid event id {:?}", p.id)));
                    }
                    let expected_pred =
                        pending.last().map(|x| x.hash.as_str()).unwrap_or(ZERO_HASH);
                    if p.predecessorhash != expected_pred {
                        return Err(corrupt(
                            o,
                            &format!("event {}: predecessorhash does not match the previous event's hash", p.id),
                        ));
                    }
                    if let Some(prev) = pending.last() {
                        if p.time <= prev.time {
                            return Err(corrupt(
                                o,
                                &format!("event {}: time does not increase", p.id),
                            ));
                        }
                    }
                    let parts = Parts {
                        source: &p.source,
                        subject: &p.subject,
                        event_type: &p.event_type,
                        id: &p.id,
                        time: &p.time,
                        predecessorhash: &p.predecessorhash,
                    };
                    let h = parts.hash(&event::to_json(&p.data), p.data_ref.as_deref());
                    if h != p.hash {
                        return Err(corrupt(
                            o,
                            &format!("event {}: hash does not match its content", p.id),
                        ));
                    }
                    if by_id.insert(p.id.clone(), pending.len()).is_some() {
                        return Err(corrupt(o, &format!("event {}: duplicate id", p.id)));
                    }
                    pending.push(p);
                }
            }
            "erase" => {
                for e in evs {
                    let id = e.get("id").and_then(Value::as_str).unwrap_or("");
                    let pos = *by_id
                        .get(id)
                        .ok_or_else(|| corrupt(o, &format!("erase of unknown event {id:?}")))?;
                    if pending.get(pos).and_then(|p| p.data_ref.as_ref()).is_none() {
                        return Err(corrupt(
                            o,
                            &format!("erase of event {id} that is not by reference"),
                        ));
                    }
                    erased.insert(pos, e.get("data").cloned().unwrap_or(Value::Null));
                }
            }
            _ => return Err(corrupt(o, "unknown record type")),
        }
        off += HEADER + len;
        good = off;
    }

    // Build the events, loading by-reference payloads.
    let mut events = Vec::with_capacity(pending.len());
    let mut live_refs = HashSet::new();
    for (pos, p) in pending.into_iter().enumerate() {
        let parts = Parts {
            source: &p.source,
            subject: &p.subject,
            event_type: &p.event_type,
            id: &p.id,
            time: &p.time,
            predecessorhash: &p.predecessorhash,
        };
        let (data, is_erased) = match (&p.data_ref, erased.remove(&pos)) {
            (None, _) => (p.data, false),
            (Some(_), Some(blank)) => {
                let rp = refs.join(format!("{}.json", p.id));
                if rp.exists() {
                    // The erase record is durable; finish the deletion.
                    let _ = fs::remove_file(&rp);
                }
                (blank, true)
            }
            (Some(r), None) => {
                let rp = refs.join(format!("{}.json", p.id));
                let content = fs::read(&rp).map_err(|e| {
                    ServerError::corrupt(
                        &path,
                        p.offset,
                        &format!(
                            "by-reference payload {} of event {} cannot be read: {e}",
                            rp.display(),
                            p.id
                        ),
                    )
                })?;
                if event::sha256_hex(&content) != *r {
                    return Err(ServerError::corrupt(
                        &rp,
                        0,
                        &format!(
                            "payload of event {} does not match its reference hash",
                            p.id
                        ),
                    ));
                }
                let v: Value = serde_json::from_slice(&content).map_err(|e| {
                    ServerError::corrupt(&rp, 0, &format!("payload is not valid JSON: {e}"))
                })?;
                live_refs.insert(p.id.clone());
                (v, false)
            }
        };
        let dj = event::to_json(&data);
        events.push(parts.build(data, &dj, p.data_ref, is_erased, p.hash));
    }

    // Payload files of commits that never made it into the log.
    if let Ok(rd) = fs::read_dir(&refs) {
        for entry in rd.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let id = name.strip_suffix(".json").unwrap_or(&name);
            if !live_refs.contains(id) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    if good < total {
        tracing::warn!(
            "{}: cut off an incomplete last record at offset {good} ({} bytes)",
            path.display(),
            total - good
        );
        file.set_len(good as u64)
            .and_then(|_| file.sync_all())
            .map_err(|e| ServerError::io(&path, "truncate", &e))?;
    }
    Ok((
        Log {
            dir: dir.to_path_buf(),
            file,
            len: good as u64,
            _lock: lock,
        },
        events,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewEvent, Store};
    use proptest::prelude::*;

    /// Writes a small log (some by-reference events, one erase) and returns
    /// its bytes and the NDJSON of its events.
    fn sample(dir: &Path) -> (Vec<u8>, Vec<String>) {
        let (log, events) = open(dir).unwrap();
        let store = Store::with(events, Some(log));
        for i in 0..4 {
            let data = serde_json::json!({"i": i, "name": "x"});
            let ev = NewEvent {
                source: "s".into(),
                subject: format!("/s/{}", i % 2),
                event_type: "t".into(),
                data_json: event::to_json(&data),
                data,
                by_ref: i % 2 == 1,
            };
            store.commit(vec![ev], &[]).unwrap();
        }
        store.erase("/s/1").unwrap();
        let lines = store
            .snapshot()
            .iter()
            .map(|e| String::from_utf8(e.line.to_vec()).unwrap())
            .collect();
        drop(store);
        (fs::read(dir.join(LOG_FILE)).unwrap(), lines)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any truncation starts with a prefix of the events; never a panic.
        #[test]
        fn truncation_keeps_a_prefix(cut in 0usize..4096) {
            let dir = tempfile::tempdir().unwrap();
            let (bytes, lines) = sample(dir.path());
            let cut = cut % (bytes.len() + 1);
            fs::write(dir.path().join(LOG_FILE), &bytes[..cut]).unwrap();
            match open(dir.path()) {
                Ok((_, events)) => {
                    let got: Vec<String> = events.iter().map(|e| String::from_utf8(e.line.to_vec()).unwrap()).collect();
                    prop_assert!(got.len() <= lines.len());
                    for (g, l) in got.iter().zip(lines.iter()) {
                        let gv: Value = serde_json::from_str(g).unwrap();
                        let lv: Value = serde_json::from_str(l).unwrap();
                        prop_assert_eq!(&gv["id"], &lv["id"]);
                    }
                }
                Err(e) => {
                    // Only a cut that drops the erase record after its payload
                    // file was deleted is refused.
                    prop_assert!(e.to_string().contains("cannot be read"), "{}", e);
                }
            }
        }

        /// Any flipped byte is either a clean refusal or (in a torn tail) a
        /// prefix; never a panic.
        #[test]
        fn flipped_byte_is_detected(pos in 0usize..4096, bit in 0u8..8) {
            let dir = tempfile::tempdir().unwrap();
            let (mut bytes, lines) = sample(dir.path());
            let pos = pos % bytes.len();
            bytes[pos] ^= 1 << bit;
            fs::write(dir.path().join(LOG_FILE), &bytes).unwrap();
            match open(dir.path()) {
                Ok((_, events)) => prop_assert!(events.len() < lines.len()),
                Err(e) => prop_assert!(e.to_string().contains("events.log"), "{}", e),
            }
        }
    }
}
