//! Helpers shared by the HTTP tests: a server on a free port and a client.
#![allow(dead_code)]

use std::time::Duration;

use genesisdb_server::{start, RunningServer, ServerConfig};
use serde_json::{json, Value};

pub const TOKEN: &str = "test-token";

pub struct Harness {
    pub server: RunningServer,
    pub url: String,
    pub http: reqwest::Client,
}

pub async fn harness() -> Harness {
    harness_with(ServerConfig {
        token: TOKEN.into(),
        heartbeat: Duration::from_millis(100),
        ..Default::default()
    })
    .await
}

pub async fn harness_with(config: ServerConfig) -> Harness {
    let server = start(config).await.expect("server starts");
    let url = server.url();
    Harness {
        server,
        url,
        http: reqwest::Client::new(),
    }
}

pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }

    pub fn lines(&self) -> Vec<Value> {
        assert!(
            self.text.is_empty() || self.text.ends_with('\n'),
            "last line not terminated: {:?}",
            self.text
        );
        self.text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line ({e}): {l:?}")))
            .collect()
    }

    /// Asserts an error answer with the JSON error body.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.text);
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        let v = self.json();
        assert_eq!(v["error"], code, "{v}");
        let msg = v["message"].as_str().expect("message string").to_string();
        assert!(!msg.is_empty());
        msg
    }
}

impl Harness {
    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> Resp {
        let mut rb = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        to_resp(rb.send().await.expect("request sent")).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.post_raw(path, body.to_string(), Some(TOKEN)).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        let mut rb = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        to_resp(rb.send().await.expect("request sent")).await
    }

    pub async fn commit(&self, events: Value) -> Resp {
        self.post("/api/v1/commit", json!({ "events": events }))
            .await
    }

    pub async fn commit_ok(&self, events: Value) {
        let r = self.commit(events).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.text, "");
    }

    pub async fn stream(&self, subject: &str, options: Option<Value>) -> Vec<Value> {
        let mut body = json!({ "subject": subject });
        if let Some(o) = options {
            body["options"] = o;
        }
        let r = self.post("/api/v1/stream", body).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.content_type.starts_with("application/x-ndjson"));
        r.lines()
    }

    pub async fn audit(&self) -> String {
        let r = self.get("/api/v1/status/audit", Some(TOKEN)).await;
        assert_eq!(r.status, 200);
        assert!(r.content_type.starts_with("text/plain"));
        r.text
    }

    pub async fn assert_audit_passes(&self, n: usize) {
        assert_eq!(
            self.audit().await,
            format!("Audit passed. All {n} events integrity checks succeeded.")
        );
    }
}

pub async fn to_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.expect("body read");
    Resp {
        status,
        content_type,
        text,
    }
}

pub fn ev(subject: &str, ty: &str, data: Value) -> Value {
    json!({ "source": "io.genesisdb.test", "subject": subject, "type": ty, "data": data })
}
