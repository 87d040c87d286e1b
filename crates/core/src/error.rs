//! The one error type of the client core.

use std::fmt;

/// Which limit ran out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// The connection could not be established in `connect_timeout`.
    Connect,
    /// The request did not complete in `request_timeout`.
    Request,
    /// An observe connection was silent for `observe_idle_timeout`.
    ObserveIdle,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::Request => "request",
            TimeoutKind::ObserveIdle => "observe idle",
        })
    }
}

/// What a 412 response says about the failed precondition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreconditionFailure {
    /// The precondition type, e.g. `isSubjectNew`.
    pub r#type: Option<String>,
    /// The server's message.
    pub message: Option<String>,
    /// Index of the failed precondition in the request.
    pub index: Option<u64>,
}

/// Every failure of the client core. No message ever contains the auth token.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// URL and/or token given neither explicitly nor in the environment.
    #[error("Missing required environment variables: {}", .vars.join(", "))]
    MissingConfig {
        /// Names of the missing variables.
        vars: Vec<String>,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Bad input detected before anything was sent.
    #[error("{0}")]
    InvalidInput(String),
    /// The server answered with a non-2xx status.
    #[error("{}", http_message(*.status, .reason, .body, .route, .precondition.as_ref()))]
    Http {
        /// HTTP status code.
        status: u16,
        /// Canonical reason phrase.
        reason: String,
        /// Response body text (truncated to 64 KiB).
        body: String,
        /// API route, e.g. `commit`.
        route: String,
        /// Parsed from a 412 JSON body.
        precondition: Option<PreconditionFailure>,
    },
    /// The connection could not be established; the request never reached the server.
    #[error("cannot connect to Genesis DB ({route}): {message}")]
    Connect {
        /// API route.
        route: String,
        /// What went wrong.
        message: String,
    },
    /// The connection broke after the request may have been sent.
    #[error("connection to Genesis DB failed ({route}): {message}")]
    Transport {
        /// API route.
        route: String,
        /// What went wrong.
        message: String,
    },
    /// A time limit ran out.
    #[error("{kind} timeout ({route})")]
    Timeout {
        /// API route.
        route: String,
        /// Which limit.
        kind: TimeoutKind,
    },
    /// A response that cannot be read.
    #[error("unreadable response from Genesis DB ({route}), line {line}: {message}")]
    Protocol {
        /// API route.
        route: String,
        /// 1-based line number of the NDJSON body (0 when not about a line).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

fn http_message(
    status: u16,
    reason: &str,
    body: &str,
    route: &str,
    precondition: Option<&PreconditionFailure>,
) -> String {
    let mut s = format!("API Error: {status} {reason} ({route})");
    if let Some(p) = precondition {
        if let Some(t) = &p.r#type {
            s.push_str(": precondition ");
            s.push_str(t);
            s.push_str(" failed");
            if let Some(m) = &p.message {
                s.push_str(": ");
                s.push_str(m);
            }
            return s;
        }
    }
    let body = body.trim();
    if !body.is_empty() {
        s.push_str(": ");
        let mut end = body.len().min(500);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        s.push_str(&body[..end]);
        if end < body.len() {
            s.push_str("...");
        }
    }
    s
}

impl Error {
    /// The HTTP status of an [`Error::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The route the error is about, when there is one.
    pub fn route(&self) -> Option<&str> {
        match self {
            Error::Http { route, .. }
            | Error::Connect { route, .. }
            | Error::Transport { route, .. }
            | Error::Timeout { route, .. }
            | Error::Protocol { route, .. } => Some(route),
            _ => None,
        }
    }

    /// True when the request certainly did not reach the server.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            Error::Connect { .. }
                | Error::Timeout {
                    kind: TimeoutKind::Connect,
                    ..
                }
        )
    }

    /// True for 502, 503 and 504.
    pub fn is_gateway(&self) -> bool {
        matches!(self, Error::Http { status, .. } if matches!(status, 502..=504))
    }

    /// Whether a read-only (idempotent) call may be retried after this error.
    pub fn is_retryable_read(&self) -> bool {
        self.is_connect() || self.is_gateway() || matches!(self, Error::Transport { .. })
    }

    /// Whether a write (commit, erase) may be retried after this error: only when the
    /// request cannot have reached the server.
    pub fn is_retryable_write(&self) -> bool {
        self.is_connect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_config_message() {
        let e = Error::MissingConfig {
            vars: vec!["GENESISDB_API_URL".into(), "GENESISDB_AUTH_TOKEN".into()],
        };
        assert_eq!(
            e.to_string(),
            "Missing required environment variables: GENESISDB_API_URL, GENESISDB_AUTH_TOKEN"
        );
    }

    #[test]
    fn http_message_names_precondition() {
        let e = Error::Http {
            status: 412,
            reason: "Precondition Failed".into(),
            body: "{}".into(),
            route: "commit".into(),
            precondition: Some(PreconditionFailure {
                r#type: Some("isSubjectNew".into()),
                message: Some("subject /a exists".into()),
                index: Some(0),
            }),
        };
        assert_eq!(
            e.to_string(),
            "API Error: 412 Precondition Failed (commit): precondition isSubjectNew failed: subject /a exists"
        );
        assert!(!e.is_retryable_read());
    }
}
