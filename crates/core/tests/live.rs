//! Every operation against the real local server (`genesisdb-server`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use genesisdb_core::{
    Client, CommitEvent, Config, Error, Event, EventOptions, ObserveSettings, Precondition,
    RawValue, StreamOptions,
};
use genesisdb_server::{RunningServer, ServerConfig};

const TOKEN: &str = "live-test-token-9f3";

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn server() -> R<RunningServer> {
    Ok(genesisdb_server::start(ServerConfig {
        port: 0,
        token: TOKEN.into(),
        heartbeat: Duration::from_millis(200),
        ..Default::default()
    })
    .await?)
}

fn client(url: &str) -> R<Client> {
    let mut c = Config::new(url, TOKEN);
    c.request_timeout = Duration::from_secs(10);
    Ok(Client::new(c)?)
}

fn raw(s: &str) -> R<Box<RawValue>> {
    Ok(RawValue::from_string(s.to_owned())?)
}

fn ev(subject: &str, ty: &str, data: &str) -> R<CommitEvent> {
    Ok(CommitEvent {
        source: "io.genesisdb.test".into(),
        subject: subject.into(),
        r#type: ty.into(),
        data: raw(data)?,
        options: None,
    })
}

fn ids(events: &[Event]) -> Vec<String> {
    events.iter().filter_map(|e| e.id.clone()).collect()
}

#[tokio::test]
async fn ping_audit_commit_stream() -> R<()> {
    let srv = server().await?;
    let c = client(&srv.url())?;
    assert_eq!(c.ping().await?, "pong");
    c.commit_events(
        &[
            ev(
                "/customer/1",
                "io.genesisdb.app.customer-added",
                r#"{"firstName":"Bruce","lastName":"Wayne","price":2990000.00}"#,
            )?,
            ev(
                "/customer/2",
                "io.genesisdb.app.customer-added",
                r#"{"firstName":"Alfred"}"#,
            )?,
            ev("/article/1", "io.genesisdb.app.article-added", r#"{"n":1}"#)?,
        ],
        &[],
    )
    .await?;
    let events = c
        .stream_events("/customer", &StreamOptions::default())
        .await?;
    assert_eq!(events.len(), 2);
    let e0 = &events[0];
    assert_eq!(e0.subject.as_deref(), Some("/customer/1"));
    assert_eq!(
        e0.r#type.as_deref(),
        Some("io.genesisdb.app.customer-added")
    );
    assert_eq!(e0.source.as_deref(), Some("io.genesisdb.test"));
    assert_eq!(e0.specversion.as_deref(), Some("1.0"));
    assert!(e0.id.is_some() && e0.time.is_some() && e0.hash.is_some());
    let data: serde_json::Value =
        serde_json::from_str(e0.data.as_ref().map_or("null", |d| d.get()))?;
    assert_eq!(data["firstName"], "Bruce");
    assert_eq!(
        c.stream_events("/", &StreamOptions::default()).await?.len(),
        3
    );
    assert!(c
        .stream_events("/nobody", &StreamOptions::default())
        .await?
        .is_empty());
    let audit = c.audit().await?;
    assert!(audit.contains("3"), "{audit}");
    srv.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn bounds_and_latest_by_type() -> R<()> {
    let srv = server().await?;
    let c = client(&srv.url())?;
    for i in 0..3 {
        c.commit_events(&[ev("/b", "t.seq", &format!(r#"{{"i":{i}}}"#))?], &[])
            .await?;
    }
    let all = c.stream_events("/b", &StreamOptions::default()).await?;
    let id = ids(&all);
    assert_eq!(id.len(), 3);
    let lower = |inc| StreamOptions {
        lower_bound: Some(id[0].clone()),
        include_lower_bound_event: inc,
        ..Default::default()
    };
    assert_eq!(ids(&c.stream_events("/b", &lower(None)).await?), id[1..]);
    assert_eq!(
        ids(&c.stream_events("/b", &lower(Some(true))).await?),
        id[..]
    );
    let both = StreamOptions {
        lower_bound: Some(id[0].clone()),
        upper_bound: Some(id[2].clone()),
        ..Default::default()
    };
    assert_eq!(ids(&c.stream_events("/b", &both).await?), id[1..2]);
    let latest = StreamOptions {
        latest_by_event_type: Some("t.seq".into()),
        ..Default::default()
    };
    assert_eq!(ids(&c.stream_events("/b", &latest).await?), id[2..]);
    srv.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn preconditions_errors_and_erase() -> R<()> {
    let srv = server().await?;
    let c = client(&srv.url())?;
    let e = ev("/user/456", "t.created", r#"{"a":1}"#)?;
    let pre = [Precondition::is_subject_new("/user/456")];
    c.commit_events(std::slice::from_ref(&e), &pre).await?;
    match c.commit_events(std::slice::from_ref(&e), &pre).await {
        Err(Error::Http {
            status: 412,
            precondition: Some(p),
            route,
            ..
        }) => {
            assert_eq!(p.r#type.as_deref(), Some("isSubjectNew"));
            assert_eq!(p.index, Some(0));
            assert_eq!(route, "commit");
        }
        other => panic!("expected a 412, got {other:?}"),
    }
    c.commit_events(
        std::slice::from_ref(&e),
        &[Precondition::is_subject_existing("/user/456")],
    )
    .await?;
    // GDPR: by-reference data is emptied by erase.
    let secret = CommitEvent {
        options: Some(EventOptions {
            store_data_as_reference: Some(true),
        }),
        ..ev("/gdpr/1", "t.pii", r#"{"firstName":"Jane","email":"j@x"}"#)?
    };
    c.commit_events(&[secret], &[]).await?;
    c.erase_data("/gdpr/1").await?;
    let after = c
        .stream_events("/gdpr/1", &StreamOptions::default())
        .await?;
    assert_eq!(after.len(), 1);
    assert_eq!(
        after[0].data.as_ref().map(|d| d.get()),
        Some(r#"{"firstName":"","email":""}"#)
    );
    match c.erase_data("/never").await {
        Err(Error::Http { status: 404, .. }) => {}
        other => panic!("expected a 404, got {other:?}"),
    }
    // Bad query: 400 from the server.
    match c.query("THIS IS NOT GDBQL").await {
        Err(Error::Http {
            status: 400, route, ..
        }) => assert_eq!(route, "q"),
        other => panic!("expected a 400, got {other:?}"),
    }
    // Bad input never reaches the server.
    assert!(matches!(
        c.commit_events(&[], &[]).await,
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        c.stream_events("nope", &StreamOptions::default()).await,
        Err(Error::InvalidInput(_))
    ));
    // Wrong token: 401, and the token is in no message.
    let bad = Client::new(Config::new(srv.url(), "wrong-token-xyz"))?;
    match bad.stream_events("/", &StreamOptions::default()).await {
        Err(e @ Error::Http { status: 401, .. }) => {
            let text = format!("{e} {e:?}");
            assert!(!text.contains("wrong-token-xyz"), "{text}");
        }
        other => panic!("expected a 401, got {other:?}"),
    }
    assert!(!format!("{c:?} {:?}", c.config()).contains(TOKEN));
    srv.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn query_and_batches() -> R<()> {
    let srv = server().await?;
    let c = client(&srv.url())?;
    let events: Vec<CommitEvent> = (0..500)
        .map(|i| {
            ev(
                &format!("/many/{}", i % 7),
                "t.n",
                &format!(r#"{{"i":{i}}}"#),
            )
        })
        .collect::<R<_>>()?;
    c.commit_events(&events, &[]).await?;
    let rows = c
        .query("STREAM e FROM events WHERE e.type == 't.n' MAP { i: e.data.i }")
        .await?;
    assert_eq!(rows.len(), 500);
    assert_eq!(rows[3].get(), r#"{"i":3}"#);

    let mut s = c.iter_events("/many", &StreamOptions::default()).await?;
    let mut seen = Vec::new();
    while let Some(batch) = s.next_batch(64).await? {
        assert!(!batch.is_empty() && batch.len() <= 64);
        seen.extend(batch);
    }
    assert!(s.next_batch(64).await?.is_none());
    assert_eq!(seen.len(), 500);
    let order: Vec<String> = seen
        .iter()
        .filter_map(|e| e.data.as_ref().map(|d| d.get().to_owned()))
        .collect();
    let want: Vec<String> = (0..500).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
    assert_eq!(order, want);

    let mut rs = c
        .iter_query("STREAM e FROM events WHERE e.type == 't.n' MAP { i: e.data.i }")
        .await?;
    let mut n = 0;
    while let Some(b) = rs.next_batch(1000).await? {
        n += b.len();
    }
    assert_eq!(n, 500);
    // Dropping a stream early is fine.
    let mut early = c.iter_events("/", &StreamOptions::default()).await?;
    assert!(early.next_batch(1).await?.is_some());
    drop(early);
    assert_eq!(c.ping().await?, "pong");
    srv.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn observe_live_and_upper_bound() -> R<()> {
    let srv = server().await?;
    let c = client(&srv.url())?;
    let mut obs = c
        .observe_events(
            "/obs",
            &StreamOptions::default(),
            ObserveSettings::default(),
        )
        .await?;
    c.commit_events(&[ev("/other", "t.x", "1")?], &[]).await?;
    c.commit_events(&[ev("/obs/a", "t.x", "1")?, ev("/obs/b", "t.x", "2")?], &[])
        .await?;
    let mut got = Vec::new();
    while got.len() < 2 {
        let b = tokio::time::timeout(Duration::from_secs(10), obs.next_batch(100)).await??;
        got.extend(b.ok_or("observe ended")?);
    }
    let subjects: Vec<_> = got.iter().filter_map(|e| e.subject.clone()).collect();
    assert_eq!(subjects, ["/obs/a", "/obs/b"]);
    drop(obs);

    // With bounds: replay then end at the upper bound.
    let all = ids(&c.stream_events("/obs", &StreamOptions::default()).await?);
    let mut bounded = c
        .observe_events(
            "/obs",
            &StreamOptions {
                lower_bound: Some(all[0].clone()),
                include_lower_bound_event: Some(true),
                upper_bound: Some(all[1].clone()),
                include_upper_bound_event: Some(true),
                ..Default::default()
            },
            ObserveSettings::default(),
        )
        .await?;
    let mut got = Vec::new();
    while let Some(b) =
        tokio::time::timeout(Duration::from_secs(10), bounded.next_batch(100)).await??
    {
        got.extend(b);
    }
    assert_eq!(ids(&got), all);
    srv.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn close_ends_calls_and_streams() -> R<()> {
    let srv = server().await?;
    let c = client(&srv.url())?;
    let mut obs = c
        .observe_events("/", &StreamOptions::default(), ObserveSettings::default())
        .await?;
    let c2 = c.clone();
    let waiter = tokio::spawn(async move { obs.next_batch(10).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    c2.close();
    c2.close();
    let r = tokio::time::timeout(Duration::from_secs(5), waiter).await??;
    assert!(matches!(r, Err(Error::Closed)), "{r:?}");
    assert!(c.is_closed());
    assert!(matches!(c.ping().await, Err(Error::Closed)));
    assert!(matches!(
        c.stream_events("/", &StreamOptions::default()).await,
        Err(Error::Closed)
    ));
    // The server sees the observe connection go away.
    for _ in 0..100 {
        if srv.open_observers() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(srv.open_observers(), 0);
    srv.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn dropped_observers_release_connections_and_tasks() -> R<()> {
    let srv = server().await?;
    let c = client(&srv.url())?;
    assert_eq!(c.ping().await?, "pong");
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let mut open = Vec::new();
    for i in 0..200 {
        let o = c
            .observe_events("/", &StreamOptions::default(), ObserveSettings::default())
            .await?;
        if i % 2 == 0 {
            drop(o);
        } else {
            open.push(o);
        }
    }
    assert!(metrics.num_alive_tasks() > baseline + 100);
    drop(open);
    for _ in 0..200 {
        if srv.open_observers() == 0 && metrics.num_alive_tasks() <= baseline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(srv.open_observers(), 0);
    assert!(
        metrics.num_alive_tasks() <= baseline,
        "{} tasks alive, {baseline} before",
        metrics.num_alive_tasks()
    );
    assert_eq!(c.ping().await?, "pong");
    srv.shutdown().await;
    Ok(())
}

/// The server is shut down and restarted on the same port (same data dir) while events are
/// committed: the observer gets every event exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_survives_server_restart() -> R<()> {
    let dir = tempfile::tempdir()?;
    let cfg = ServerConfig {
        port: 0,
        token: TOKEN.into(),
        heartbeat: Duration::from_millis(100),
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let srv = genesisdb_server::start(cfg.clone()).await?;
    let port = srv.local_addr().port();
    let mut config = Config::new(srv.url(), TOKEN);
    config.retry.initial_backoff = Duration::from_millis(20);
    config.retry.max_backoff = Duration::from_millis(100);
    config.retry.max_attempts = 50;
    config.retry.max_elapsed = Duration::from_secs(20);
    config.observe_idle_timeout = Duration::from_secs(2);
    let c = Client::new(config)?;
    let reconnects = Arc::new(AtomicU32::new(0));
    let r2 = reconnects.clone();
    let settings = ObserveSettings {
        on_reconnect: Some(Arc::new(move |_info| {
            r2.fetch_add(1, Ordering::SeqCst);
        })),
        ..Default::default()
    };
    let mut obs = c
        .observe_events("/r", &StreamOptions::default(), settings)
        .await?;

    const N: usize = 60;
    let committer = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut done = 0usize;
            while done < N {
                let e = ev("/r/x", "t.r", &format!(r#"{{"n":{done}}}"#))?;
                match c.commit_events(&[e], &[]).await {
                    Ok(()) => done += 1,
                    // Connection refused: the commit did not happen; try again.
                    Err(err) if err.is_connect() => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    // Outcome unknown (connection dropped after sending): count what is stored.
                    Err(Error::Transport { .. }) | Err(Error::Timeout { .. }) => loop {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        if let Ok(stored) = c.stream_events("/r/x", &StreamOptions::default()).await
                        {
                            done = stored.len();
                            break;
                        }
                    },
                    Err(err) => {
                        return Err(Box::new(err) as Box<dyn std::error::Error + Send + Sync>)
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
    };

    let mut got: Vec<Event> = Vec::new();
    let mut srv = Some(srv);
    let mut restarted = false;
    while got.len() < N {
        if !restarted && got.len() >= N / 3 {
            if let Some(s) = srv.take() {
                s.shutdown().await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
            srv = Some(
                genesisdb_server::start(ServerConfig {
                    port,
                    ..cfg.clone()
                })
                .await?,
            );
            restarted = true;
        }
        let b = tokio::time::timeout(Duration::from_secs(20), obs.next_batch(100)).await??;
        got.extend(b.ok_or("observe ended")?);
    }
    committer.await??;
    let seq: Vec<String> = got
        .iter()
        .filter_map(|e| e.data.as_ref().map(|d| d.get().to_owned()))
        .collect();
    let want: Vec<String> = (0..N).map(|n| format!(r#"{{"n":{n}}}"#)).collect();
    assert_eq!(seq, want);
    assert!(reconnects.load(Ordering::SeqCst) >= 1);
    // Nothing more arrives (no duplicates after the last one).
    let extra = tokio::time::timeout(Duration::from_millis(300), obs.next_batch(100)).await;
    assert!(extra.is_err(), "unexpected extra events: {extra:?}");
    if let Some(s) = srv {
        s.shutdown().await;
    }
    Ok(())
}
