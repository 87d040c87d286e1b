//! `--data-dir`: kill and restart keeps every acknowledged event, a torn last
//! record is cut off, corruption refuses to start, erase deletes for real.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{ev, harness_with, Harness, TOKEN};
use genesisdb_server::{ServerConfig, ServerErrorKind};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_genesisdb-server");

fn config(dir: &Path) -> ServerConfig {
    ServerConfig {
        token: TOKEN.into(),
        data_dir: Some(dir.to_path_buf()),
        heartbeat: Duration::from_millis(100),
        ..Default::default()
    }
}

/// Starts the binary; returns it and its URL once it printed its line.
async fn spawn_bin(dir: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["--port", "0", "--data-dir"])
        .arg(dir)
        .env("GENESISDB_AUTH_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("server prints its line in time")
        .expect("read stdout")
        .expect("a line");
    let url = line
        .strip_prefix("Genesis DB local server listening on ")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"))
        .to_string();
    (child, url)
}

fn client_harness(url: &str) -> ClientOnly {
    ClientOnly {
        url: url.to_string(),
        http: reqwest::Client::new(),
    }
}

struct ClientOnly {
    url: String,
    http: reqwest::Client,
}

impl ClientOnly {
    async fn stream_all(&self) -> Vec<Value> {
        let r = self
            .http
            .post(format!("{}/api/v1/stream", self.url))
            .bearer_auth(TOKEN)
            .body(json!({"subject": "/"}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.text()
            .await
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    async fn audit(&self) -> String {
        self.http
            .get(format!("{}/api/v1/status/audit", self.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_and_restart_keeps_every_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_bin(dir.path()).await;
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let attempted = Arc::new(Mutex::new(HashSet::new()));
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (url, acked, attempted) = (url.clone(), acked.clone(), attempted.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0.. {
                let mut batch = Vec::new();
                for k in 0..(i % 3 + 1) {
                    let marker = format!("{w}-{i}-{k}");
                    attempted.lock().unwrap().insert(marker.clone());
                    let mut e = ev(&format!("/w/{w}"), "t", json!({"m": marker}));
                    if k == 1 {
                        e["options"] = json!({"storeDataAsReference": true});
                    }
                    batch.push(e);
                }
                let markers: Vec<String> = batch
                    .iter()
                    .map(|e| e["data"]["m"].as_str().unwrap().to_string())
                    .collect();
                let r = http
                    .post(format!("{url}/api/v1/commit"))
                    .bearer_auth(TOKEN)
                    .body(json!({ "events": batch }).to_string())
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => acked.lock().unwrap().extend(markers),
                    _ => return,
                }
            }
        }));
    }
    while acked.lock().unwrap().len() < 300 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().await.unwrap(); // SIGKILL while commits are in flight
    for t in tasks {
        t.await.unwrap();
    }
    let (mut child, url) = spawn_bin(dir.path()).await;
    let c = client_harness(&url);
    let events = c.stream_all().await;
    let got: Vec<String> = events
        .iter()
        .map(|e| e["data"]["m"].as_str().unwrap().to_string())
        .collect();
    let got_set: HashSet<String> = got.iter().cloned().collect();
    assert_eq!(got.len(), got_set.len(), "duplicates after restart");
    let acked = acked.lock().unwrap().clone();
    let missing: Vec<&String> = acked.difference(&got_set).collect();
    assert!(missing.is_empty(), "acknowledged events lost: {missing:?}");
    let attempted = attempted.lock().unwrap().clone();
    assert!(got_set.is_subset(&attempted));
    assert_eq!(
        c.audit().await,
        format!(
            "Audit passed. All {} events integrity checks succeeded.",
            events.len()
        )
    );
    // Per writer, batches are in commit order.
    for w in 0..4 {
        let mine: Vec<(u64, u64)> = got
            .iter()
            .filter(|m| m.starts_with(&format!("{w}-")))
            .map(|m| {
                let p: Vec<u64> = m.split('-').map(|x| x.parse().unwrap()).collect();
                (p[1], p[2])
            })
            .collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted);
    }
    // It keeps working after the restart.
    let r = c
        .http
        .post(format!("{url}/api/v1/commit"))
        .bearer_auth(TOKEN)
        .body(json!({"events": [ev("/after", "t", json!({"m": "after"}))]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    child.kill().await.unwrap();
}

async fn commit_batches(h: &Harness, n: usize) {
    for i in 0..n {
        let mut e = ev("/b", "t", json!({"i": i}));
        if i % 2 == 1 {
            e["options"] = json!({"storeDataAsReference": true});
        }
        h.commit_ok(json!([e, ev("/b", "t", json!({"i": i, "second": true}))]))
            .await;
    }
}

#[tokio::test]
async fn a_log_truncated_mid_record_restarts_with_the_complete_events() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_with(config(dir.path())).await;
    commit_batches(&h, 3).await;
    let before = h.stream("/", None).await;
    h.server.shutdown().await;
    let log = dir.path().join("events.log");
    let full = std::fs::metadata(&log).unwrap().len();
    let bytes = std::fs::read(&log).unwrap();
    // Cut the last record at several places: inside its payload, inside its
    // header, and leave a zero-filled tail as a crashed append would.
    for (cut, zero_tail) in [(full - 7, false), (full - 300, false), (full - 1, true)] {
        let mut b = bytes[..cut as usize].to_vec();
        if zero_tail {
            b.extend(std::iter::repeat_n(0u8, 100));
        }
        std::fs::write(&log, &b).unwrap();
        let h = harness_with(config(dir.path())).await;
        let after = h.stream("/", None).await;
        assert_eq!(after, before[..4].to_vec(), "cut at {cut}");
        h.assert_audit_passes(4).await;
        h.server.shutdown().await;
        // The torn bytes were cut off for good.
        assert!(std::fs::metadata(&log).unwrap().len() < cut);
    }
    // Only a header fragment left after the first record.
    let first_len = {
        let len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
        44 + len
    };
    std::fs::write(&log, &bytes[..first_len + 10]).unwrap();
    let h = harness_with(config(dir.path())).await;
    assert_eq!(h.stream("/", None).await, before[..2].to_vec());
    // New commits continue the chain after the cut.
    commit_batches(&h, 1).await;
    h.assert_audit_passes(4).await;
    h.server.shutdown().await;
    let h = harness_with(config(dir.path())).await;
    h.assert_audit_passes(4).await;
}

#[tokio::test]
async fn corruption_refuses_to_start_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_with(config(dir.path())).await;
    commit_batches(&h, 3).await;
    h.server.shutdown().await;
    let log = dir.path().join("events.log");
    let good = std::fs::read(&log).unwrap();
    let first_len = 44 + u32::from_le_bytes(good[4..8].try_into().unwrap()) as usize;
    let second_len =
        44 + u32::from_le_bytes(good[first_len + 4..first_len + 8].try_into().unwrap()) as usize;

    // A flipped byte inside the second record's payload.
    let mut bad = good.clone();
    bad[first_len + 60] ^= 0x01;
    std::fs::write(&log, &bad).unwrap();
    let err = genesisdb_server::start(config(dir.path()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ServerErrorKind::Corrupt);
    let msg = err.to_string();
    assert!(
        msg.contains("events.log") && msg.contains(&format!("offset {first_len}")),
        "{msg}"
    );

    // A broken length field in the first record.
    let mut bad = good.clone();
    bad[5] ^= 0x40;
    std::fs::write(&log, &bad).unwrap();
    let msg = genesisdb_server::start(config(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains("offset 0"), "{msg}");

    // Garbage after the last record that is not a torn append.
    let mut bad = good.clone();
    bad.extend_from_slice(b"garbage that is not a record header at all........");
    std::fs::write(&log, &bad).unwrap();
    let msg = genesisdb_server::start(config(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(msg.contains(&format!("offset {}", good.len())), "{msg}");

    // A by-reference payload file that was tampered with or deleted.
    std::fs::write(&log, &good).unwrap();
    let refs: Vec<_> = std::fs::read_dir(dir.path().join("refs"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(refs.len(), 1, "one by-reference event was committed");
    let rp = refs[0].path();
    let original = std::fs::read(&rp).unwrap();
    std::fs::write(&rp, b"{\"i\":7}").unwrap();
    let msg = genesisdb_server::start(config(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&rp.file_name().unwrap().to_string_lossy().to_string()),
        "{msg}"
    );
    std::fs::remove_file(&rp).unwrap();
    let msg = genesisdb_server::start(config(dir.path()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&format!("offset {first_len}")) && msg.contains("cannot be read"),
        "{msg}"
    );
    std::fs::write(&rp, &original).unwrap();

    // The binary refuses too, with a non-zero exit and the message.
    let mut bad = good.clone();
    bad[first_len + second_len + 50] ^= 0x20;
    std::fs::write(&log, &bad).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["--port", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("events.log")
            && stderr.contains(&format!("offset {}", first_len + second_len)),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    // Nothing was changed by the refusals: the good log starts again.
    std::fs::write(&log, &good).unwrap();
    let h = harness_with(config(dir.path())).await;
    h.assert_audit_passes(6).await;
}

#[tokio::test]
async fn erase_deletes_the_payload_from_disk_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_with(config(dir.path())).await;
    let marker = "Jane-7f3a9c-secret";
    let mut e = ev(
        "/user/456",
        "registered",
        json!({"firstName": marker, "nested": {"email": format!("{marker}@x")}}),
    );
    e["options"] = json!({"storeDataAsReference": true});
    h.commit_ok(json!([e, ev("/user/456", "plain", json!({"k": 1}))]))
        .await;
    let contains = |dir: &Path| -> bool {
        walk(dir).iter().any(|p| {
            let b = std::fs::read(p).unwrap();
            b.windows(marker.len()).any(|w| w == marker.as_bytes())
        })
    };
    assert!(contains(dir.path()), "payload is stored before erase");
    // One server per data directory.
    let err = genesisdb_server::start(config(dir.path()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    let log = std::fs::read(dir.path().join("events.log")).unwrap();
    assert!(
        !log.windows(marker.len()).any(|w| w == marker.as_bytes()),
        "the log never holds a by-reference payload"
    );
    h.server.shutdown().await;
    let h = harness_with(config(dir.path())).await;
    assert_eq!(
        h.stream("/user", None).await[0]["data"]["firstName"],
        marker
    );
    let r = h.post("/api/v1/erase", json!({"subject": "/user"})).await;
    assert_eq!(r.status, 200);
    assert!(!contains(dir.path()), "payload still on disk after erase");
    let erased = h.stream("/", None).await;
    assert_eq!(
        erased[0]["data"],
        json!({"firstName": "", "nested": {"email": ""}})
    );
    h.server.shutdown().await;
    let h = harness_with(config(dir.path())).await;
    assert_eq!(h.stream("/", None).await, erased);
    h.assert_audit_passes(2).await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_committers_stream_back_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    for data_dir in [None, Some(dir.path())] {
        let h = harness_with(ServerConfig {
            token: TOKEN.into(),
            data_dir: data_dir.map(Path::to_path_buf),
            ..Default::default()
        })
        .await;
        let per = 5;
        let mut tasks = Vec::new();
        for w in 0..64 {
            let url = h.url.clone();
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                for i in 0..per {
                    let pre = if i == 0 {
                        json!([{"type": "isSubjectNew", "payload": {"subject": format!("/c/{w}")}}])
                    } else {
                        json!([{"type": "isSubjectExisting", "payload": {"subject": format!("/c/{w}")}}])
                    };
                    let r = http
                        .post(format!("{url}/api/v1/commit"))
                        .bearer_auth(TOKEN)
                        .body(json!({"events": [ev(&format!("/c/{w}"), "t", json!({"w": w, "i": i}))], "preconditions": pre}).to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let all = h.stream("/", None).await;
        assert_eq!(all.len(), 64 * per);
        let mut seen = HashSet::new();
        let mut next = vec![0; 64];
        for e in &all {
            let (w, i) = (
                e["data"]["w"].as_u64().unwrap() as usize,
                e["data"]["i"].as_u64().unwrap(),
            );
            assert!(seen.insert((w, i)), "duplicate");
            assert_eq!(next[w], i, "writer {w} out of order");
            next[w] += 1;
        }
        for pair in all.windows(2) {
            assert_eq!(pair[1]["predecessorhash"], pair[0]["hash"]);
            assert!(pair[0]["time"].as_str() < pair[1]["time"].as_str());
        }
        h.assert_audit_passes(64 * per).await;
        h.server.shutdown().await;
    }
    let h = harness_with(config(dir.path())).await;
    h.assert_audit_passes(64 * 5).await;
}

#[tokio::test]
async fn sigterm_stops_the_binary_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_bin(dir.path()).await;
    let r = reqwest::Client::new()
        .post(format!("{url}/api/v1/commit"))
        .bearer_auth(TOKEN)
        .body(json!({"events": [ev("/t", "t", json!({"m": 1}))]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pid = child.id().expect("pid").to_string();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(st.success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("stops")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let (mut child, url) = spawn_bin(dir.path()).await;
    assert_eq!(client_harness(&url).stream_all().await.len(), 1);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn restart_on_the_same_port_after_shutdown_with_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let h = harness_with(config(dir.path())).await;
    let port = h.server.local_addr().port();
    h.commit_ok(json!([ev("/p", "t", json!({"n": 1}))])).await;
    // An open observe and an idle keep-alive connection at shutdown time.
    let obs = h
        .http
        .post(format!("{}/api/v1/observe", h.url))
        .bearer_auth(TOKEN)
        .body(json!({"subject": "/"}).to_string())
        .send()
        .await
        .unwrap();
    h.server.shutdown().await;
    drop(obs);
    let h2 = harness_with(ServerConfig {
        port,
        ..config(dir.path())
    })
    .await;
    assert_eq!(h2.server.local_addr().port(), port);
    assert_eq!(h2.stream("/", None).await.len(), 1);
}
