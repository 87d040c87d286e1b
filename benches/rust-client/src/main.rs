//! The benchmarks' "limit" client: the same workloads as `benches/worker.py`, done by a
//! pure-Rust program on `genesisdb-core`, with no Python at all.
//!
//! `genesisdb-bench-rust --url URL --workload w1 --subject /bench/w1 [--size N] [--reps R] ...`
//! reads the token from `GENESISDB_AUTH_TOKEN` and prints one JSON line in the same shape as
//! the Python worker: `{"runs": [...], "error": null}`.

use std::collections::HashMap;
use std::time::Instant;

use clap::Parser;
use genesisdb_core::{
    Client, CommitEvent, Config, Error, Event, ObserveSettings, RawValue, StreamOptions,
};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Pure-Rust Genesis DB benchmark client (the limit)")]
struct Args {
    /// Server base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Workload: w1 w2 w3 w4_seq w4_conc w4_batch w5_one w5_many w6.
    #[arg(long)]
    workload: String,
    /// Subject (root) the workload reads or writes.
    #[arg(long)]
    subject: String,
    /// Number of commits (w4), events (w5).
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// Events per commit (w4_batch).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed repetitions.
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Concurrent tasks (w4_conc).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Observers (w5).
    #[arg(long, default_value_t = 1)]
    observers: usize,
    /// GDBQL query (w6).
    #[arg(long, default_value = "")]
    query: String,
    /// Subject streamed once before timing (connection pool warm-up).
    #[arg(long, default_value = "/bench/warm")]
    warm_subject: String,
}

type BenchResult<T> = Result<T, String>;

fn err(e: Error) -> String {
    e.to_string()
}

fn main() {
    let args = Args::parse();
    let out = match run(&args) {
        Ok(runs) => json!({ "runs": runs, "error": Value::Null }),
        Err(e) => json!({ "runs": [], "error": e }),
    };
    println!("{out}");
}

fn run(args: &Args) -> BenchResult<Vec<Value>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async_main(args))
}

async fn async_main(args: &Args) -> BenchResult<Vec<Value>> {
    let token = std::env::var("GENESISDB_AUTH_TOKEN")
        .map_err(|_| "GENESISDB_AUTH_TOKEN is not set".to_string())?;
    let client = Client::new(Config::new(args.url.clone(), token)).map_err(err)?;
    client
        .stream_events(&args.warm_subject, &StreamOptions::default())
        .await
        .map_err(err)?;
    let mut runs = Vec::with_capacity(args.reps);
    for rep in 0..args.reps {
        let r = match args.workload.as_str() {
            "w1" => w_stream(&client, args, true).await?,
            "w2" => w_stream(&client, args, false).await?,
            "w3" => w_iter(&client, args).await?,
            "w6" => w_query(&client, args).await?,
            "w4_seq" | "w4_batch" => w_commit_seq(&client, args, rep).await?,
            "w4_conc" => w_commit_conc(&client, args, rep).await?,
            "w5_one" | "w5_many" => w_observe(&client, args, rep).await?,
            other => return Err(format!("unknown workload {other}")),
        };
        runs.push(r);
    }
    client.close();
    Ok(runs)
}

// ------------------------------------------------------------------ events

/// The same event as `benches/common.py::make_event`.
fn make_event(root: &str, i: i64) -> BenchResult<CommitEvent> {
    let data = json!({
        "seq": i,
        "firstName": "Bruce",
        "lastName": format!("Wayne-{i:07}"),
        "email": format!("bruce.wayne.{i:07}@enterprise.wayne"),
        "amount": (i.rem_euclid(100_000)) as f64 / 4.0,
        "active": i % 3 == 0,
        "tags": ["vip", "gotham"],
        "address": {"street": "1007 Mountain Drive", "city": "Gotham", "zip": "53540"},
    });
    let data = serde_json::value::to_raw_value(&data).map_err(|e| e.to_string())?;
    Ok(CommitEvent {
        source: "io.genesisdb.bench".to_string(),
        subject: format!("{root}/{:04}", i.rem_euclid(1000)),
        r#type: if i % 2 == 0 {
            "io.genesisdb.bench.customer-added".to_string()
        } else {
            "io.genesisdb.bench.customer-updated".to_string()
        },
        data,
        options: None,
    })
}

fn seq_of(raw: Option<&RawValue>) -> i64 {
    #[derive(serde::Deserialize)]
    struct Seq {
        seq: i64,
    }
    raw.and_then(|r| serde_json::from_str::<Seq>(r.get()).ok())
        .map(|s| s.seq)
        .unwrap_or(i64::MIN)
}

fn len_of(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, |s| s.len())
}

/// Reads every field; `data` is fully parsed (the Rust equivalent of building the dict).
fn touch_all(events: &[Event]) -> BenchResult<Value> {
    let (mut n, mut seq, mut added, mut bytes) = (0u64, 0i64, 0u64, 0usize);
    for e in events {
        bytes += len_of(&e.id)
            + len_of(&e.source)
            + len_of(&e.subject)
            + len_of(&e.time)
            + len_of(&e.specversion)
            + len_of(&e.datacontenttype)
            + len_of(&e.predecessorhash)
            + len_of(&e.hash);
        if e.r#type.as_deref().is_some_and(|t| t.ends_with("added")) {
            added += 1;
        }
        let data: Value = match &e.data {
            Some(raw) => serde_json::from_str(raw.get()).map_err(|x| x.to_string())?,
            None => Value::Null,
        };
        seq += data.get("seq").and_then(Value::as_i64).unwrap_or(0);
        n += 1;
    }
    std::hint::black_box(bytes);
    Ok(json!({"count": n, "seq_sum": seq, "added": added}))
}

fn touch_ts(events: &[Event], n: &mut u64, added: &mut u64) {
    for e in events {
        std::hint::black_box(len_of(&e.subject));
        if e.r#type.as_deref().is_some_and(|t| t.ends_with("added")) {
            *added += 1;
        }
        *n += 1;
    }
}

// ------------------------------------------------------------------ reads

async fn w_stream(client: &Client, args: &Args, all: bool) -> BenchResult<Value> {
    let t0 = Instant::now();
    let events = client
        .stream_events(&args.subject, &StreamOptions::default())
        .await
        .map_err(err)?;
    let checksum = if all {
        touch_all(&events)?
    } else {
        let (mut n, mut added) = (0, 0);
        touch_ts(&events, &mut n, &mut added);
        json!({"count": n, "added": added})
    };
    let seconds = t0.elapsed().as_secs_f64();
    drop(events);
    Ok(json!({"seconds": seconds, "checksum": checksum}))
}

async fn w_iter(client: &Client, args: &Args) -> BenchResult<Value> {
    let mem = PeakRss::start();
    let t0 = Instant::now();
    let mut stream = client
        .iter_events(&args.subject, &StreamOptions::default())
        .await
        .map_err(err)?;
    let (mut n, mut added) = (0, 0);
    while let Some(batch) = stream.next_batch(1024).await.map_err(err)? {
        touch_ts(&batch, &mut n, &mut added);
    }
    let seconds = t0.elapsed().as_secs_f64();
    Ok(json!({"seconds": seconds, "rss_growth": mem.growth(),
              "checksum": {"count": n, "added": added}, "mode": "iter"}))
}

async fn w_query(client: &Client, args: &Args) -> BenchResult<Value> {
    let t0 = Instant::now();
    let rows = client.query(&args.query).await.map_err(err)?;
    let (mut n, mut seq, mut bytes) = (0u64, 0i64, 0usize);
    for row in &rows {
        let v: Value = serde_json::from_str(row.get()).map_err(|e| e.to_string())?;
        for key in ["id", "subject", "type", "email"] {
            bytes += v.get(key).and_then(Value::as_str).map_or(0, str::len);
        }
        std::hint::black_box(v.get("amount"));
        seq += v.get("seq").and_then(Value::as_i64).unwrap_or(0);
        n += 1;
    }
    let seconds = t0.elapsed().as_secs_f64();
    std::hint::black_box(bytes);
    Ok(json!({"seconds": seconds, "checksum": {"count": n, "seq_sum": seq}}))
}

// ------------------------------------------------------------------ commits

fn batches(args: &Args, rep: usize, per_commit: usize) -> BenchResult<Vec<Vec<CommitEvent>>> {
    let root = format!("{}/{rep}", args.subject);
    (0..args.size)
        .map(|i| {
            (0..per_commit)
                .map(|j| make_event(&root, (i * per_commit + j) as i64))
                .collect()
        })
        .collect()
}

async fn w_commit_seq(client: &Client, args: &Args, rep: usize) -> BenchResult<Value> {
    let all = batches(args, rep, args.batch.max(1))?;
    let t0 = Instant::now();
    for b in &all {
        client.commit_events(b, &[]).await.map_err(err)?;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let events: usize = all.iter().map(Vec::len).sum();
    Ok(json!({"seconds": seconds, "commits": all.len(), "events": events}))
}

async fn w_commit_conc(client: &Client, args: &Args, rep: usize) -> BenchResult<Value> {
    let tasks = args.concurrency.max(1);
    let mut per_task: Vec<Vec<Vec<CommitEvent>>> = (0..tasks).map(|_| Vec::new()).collect();
    for (i, b) in batches(args, rep, 1)?.into_iter().enumerate() {
        if let Some(slot) = per_task.get_mut(i % tasks) {
            slot.push(b);
        }
    }
    let t0 = Instant::now();
    let handles: Vec<_> = per_task
        .into_iter()
        .map(|mine| {
            let c = client.clone();
            tokio::spawn(async move {
                for b in &mine {
                    c.commit_events(b, &[]).await.map_err(err)?;
                }
                Ok::<(), String>(())
            })
        })
        .collect();
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    let seconds = t0.elapsed().as_secs_f64();
    Ok(json!({"seconds": seconds, "commits": args.size, "events": args.size}))
}

// ------------------------------------------------------------------ observe

async fn w_observe(client: &Client, args: &Args, rep: usize) -> BenchResult<Value> {
    let observers = args.observers.max(1);
    let root = format!("{}/{rep}", args.subject);
    let subject = format!("{root}/x");
    let event = |seq: i64| -> BenchResult<CommitEvent> {
        let mut ev = make_event(&root, seq)?;
        ev.subject = subject.clone();
        Ok(ev)
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, i64, Instant)>();
    let mut handles = Vec::with_capacity(observers);
    for k in 0..observers {
        let mut obs = client
            .observe_events(
                &subject,
                &StreamOptions::default(),
                ObserveSettings::default(),
            )
            .await
            .map_err(err)?;
        let tx = tx.clone();
        handles.push(tokio::spawn(async move {
            while let Ok(Some(batch)) = obs.next_batch(1024).await {
                let t = Instant::now();
                for e in &batch {
                    if tx.send((k, seq_of(e.data.as_deref()), t)).is_err() {
                        return;
                    }
                }
            }
        }));
    }
    drop(tx);
    let mut arrived: HashMap<i64, Vec<Instant>> = HashMap::new();
    let mut ready = vec![false; observers];
    let mut warm = 0i64;
    while ready.iter().any(|r| !r) {
        warm -= 1;
        if warm < -300 {
            return Err("observers never received a warm-up event".into());
        }
        client
            .commit_events(&[event(warm)?], &[])
            .await
            .map_err(err)?;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        while let Ok((k, _, _)) = rx.try_recv() {
            if let Some(r) = ready.get_mut(k) {
                *r = true;
            }
        }
    }
    let mut latencies: Vec<f64> = Vec::with_capacity(args.size);
    let mut from_send: Vec<f64> = Vec::with_capacity(args.size);
    for seq in 0..args.size as i64 {
        let t_send = Instant::now();
        client
            .commit_events(&[event(seq)?], &[])
            .await
            .map_err(err)?;
        let t_resp = Instant::now();
        loop {
            if arrived.get(&seq).map_or(0, Vec::len) >= observers {
                break;
            }
            let got = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv())
                .await
                .map_err(|_| format!("event {seq} not delivered within 30 s"))?;
            match got {
                Some((_, s, t)) => arrived.entry(s).or_default().push(t),
                None => return Err("observers ended".into()),
            }
        }
        let last = arrived
            .remove(&seq)
            .and_then(|v| v.into_iter().max())
            .unwrap_or(t_resp);
        let us = if last >= t_resp {
            last.duration_since(t_resp).as_secs_f64() * 1e6
        } else {
            -(t_resp.duration_since(last).as_secs_f64() * 1e6)
        };
        latencies.push(us);
        from_send.push(last.saturating_duration_since(t_send).as_secs_f64() * 1e6);
    }
    for h in handles {
        h.abort();
    }
    let clamped: Vec<f64> = latencies.iter().map(|x| x.max(0.0)).collect();
    Ok(json!({
        "seconds": clamped.iter().sum::<f64>() / 1e6,
        "p50_us": percentile(&clamped, 50.0),
        "p99_us": percentile(&clamped, 99.0),
        "send_p50_us": percentile(&from_send, 50.0),
        "send_p99_us": percentile(&from_send, 99.0),
        "early": latencies.iter().filter(|x| **x < 0.0).count(),
        "events": args.size,
        "observers": observers,
    }))
}

/// Nearest-rank percentile, as `benches/common.py::percentile`.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((q / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted
        .get(k.min(sorted.len() - 1))
        .copied()
        .unwrap_or(f64::NAN)
}

// ------------------------------------------------------------------ memory

/// Peak RSS growth (Linux: resets VmHWM through /proc/self/clear_refs).
struct PeakRss {
    start: u64,
    reset: bool,
}

fn status_kb(field: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl PeakRss {
    fn start() -> PeakRss {
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        PeakRss {
            start: status_kb("VmRSS") * 1024,
            reset,
        }
    }
    fn growth(&self) -> u64 {
        let peak = if self.reset {
            status_kb("VmHWM")
        } else {
            status_kb("VmRSS")
        } * 1024;
        peak.saturating_sub(self.start)
    }
}
