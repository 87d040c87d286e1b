//! Client configuration: URL, token, timeouts, retry policy.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;

/// Environment variable holding the API URL.
pub const ENV_API_URL: &str = "GENESISDB_API_URL";
/// Environment variable holding the API version.
pub const ENV_API_VERSION: &str = "GENESISDB_API_VERSION";
/// Environment variable holding the auth token.
pub const ENV_AUTH_TOKEN: &str = "GENESISDB_AUTH_TOKEN";

/// A secret string (the auth token). `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret value itself. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Retry policy for the calls where a retry is safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts including the first one; 1 = no retry. Default 3.
    pub max_attempts: u32,
    /// Backoff before the first retry (doubled each time, with jitter). Default 100 ms.
    pub initial_backoff: Duration,
    /// Upper limit of one backoff. Default 2 s.
    pub max_backoff: Duration,
    /// No retry is started once this much time has passed since the first attempt. Default 10 s.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            max_elapsed: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }
}

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout of a non-streaming request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default observe idle timeout.
pub const DEFAULT_OBSERVE_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default maximum NDJSON line length.
pub const DEFAULT_MAX_LINE_BYTES: usize = 32 * 1024 * 1024;
/// Default User-Agent header.
pub const DEFAULT_USER_AGENT: &str = "genesisdb-sdk";

/// Everything a [`crate::Client`] needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Base URL, e.g. `http://localhost:8080` (a trailing `/` is trimmed).
    pub api_url: String,
    /// API version path segment, default `v1`.
    pub api_version: String,
    /// Bearer token.
    pub auth_token: Secret,
    /// User-Agent header, default `genesisdb-sdk`.
    pub user_agent: String,
    /// Time allowed to establish a TCP (and TLS) connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Whole-request limit for non-streaming calls; for streaming calls the limit until the
    /// response headers and between two reads of the body. Default 30 s.
    pub request_timeout: Duration,
    /// Observe: no byte (heartbeats included) for this long means the connection is dropped.
    /// Default 30 s.
    pub observe_idle_timeout: Duration,
    /// Retry policy of the calls where retrying is safe.
    pub retry: RetryPolicy,
    /// Extra PEM root certificate(s) trusted for `https://` URLs.
    pub ca_file: Option<PathBuf>,
    /// A longer NDJSON line is a protocol error. Default 32 MiB.
    pub max_line_bytes: usize,
}

impl Config {
    /// A configuration with every default and the given URL and token.
    pub fn new(api_url: impl Into<String>, auth_token: impl Into<String>) -> Config {
        let api_url: String = api_url.into();
        Config {
            api_url: trim_url(&api_url),
            api_version: "v1".to_owned(),
            auth_token: Secret::new(auth_token),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            observe_idle_timeout: DEFAULT_OBSERVE_IDLE_TIMEOUT,
            retry: RetryPolicy::default(),
            ca_file: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
        }
    }

    /// Explicit values win, then `GENESISDB_API_URL` / `GENESISDB_API_VERSION` /
    /// `GENESISDB_AUTH_TOKEN`; the version falls back to `v1`; a missing (or empty) URL or
    /// token is [`Error::MissingConfig`].
    pub fn resolve(
        api_url: Option<String>,
        api_version: Option<String>,
        auth_token: Option<String>,
    ) -> Result<Config, Error> {
        fn pick(explicit: Option<String>, var: &str) -> Option<String> {
            match explicit {
                Some(v) if !v.is_empty() => Some(v),
                _ => std::env::var(var).ok().filter(|v| !v.is_empty()),
            }
        }
        let url = pick(api_url, ENV_API_URL);
        let version = pick(api_version, ENV_API_VERSION).unwrap_or_else(|| "v1".to_owned());
        let token = pick(auth_token, ENV_AUTH_TOKEN);
        let mut vars = Vec::new();
        if url.is_none() {
            vars.push(ENV_API_URL.to_owned());
        }
        if token.is_none() {
            vars.push(ENV_AUTH_TOKEN.to_owned());
        }
        match (url, token) {
            (Some(url), Some(token)) => {
                let mut config = Config::new(url, token);
                config.api_version = version;
                Ok(config)
            }
            _ => Err(Error::MissingConfig { vars }),
        }
    }

    /// Checks the values (URL scheme, version, timeouts, line limit).
    pub fn validate(&self) -> Result<(), Error> {
        let url = self.api_url.trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidConfig(format!(
                "api_url must start with http:// or https://, got {url:?}"
            )));
        }
        if self.api_version.is_empty() || self.api_version.contains('/') {
            return Err(Error::InvalidConfig(format!(
                "api_version must be a non-empty path segment, got {:?}",
                self.api_version
            )));
        }
        if self.auth_token.expose().is_empty() {
            return Err(Error::MissingConfig {
                vars: vec![ENV_AUTH_TOKEN.to_owned()],
            });
        }
        if self.auth_token.expose().contains(['\r', '\n']) {
            return Err(Error::InvalidConfig(
                "auth_token must not contain line breaks".to_owned(),
            ));
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
            ("observe_idle_timeout", self.observe_idle_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::InvalidConfig(format!("{name} must be positive")));
            }
        }
        if self.max_line_bytes == 0 {
            return Err(Error::InvalidConfig(
                "max_line_bytes must be positive".to_owned(),
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(Error::InvalidConfig(
                "retry.max_attempts must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// `{api_url}/api/{api_version}/{route}`.
    pub fn url(&self, route: &str) -> String {
        format!(
            "{}/api/{}/{}",
            self.api_url.trim_end_matches('/'),
            self.api_version,
            route
        )
    }
}

fn trim_url(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_hidden() {
        let s = Secret::new("tok-123");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        let c = Config::new("http://x/", "tok-123");
        assert!(!format!("{c:?}").contains("tok-123"));
        assert_eq!(c.api_url, "http://x");
        assert_eq!(c.url("status/ping"), "http://x/api/v1/status/ping");
    }

    #[test]
    fn explicit_values_win() {
        let c = Config::resolve(
            Some("http://h:1//".into()),
            Some("v2".into()),
            Some("t".into()),
        )
        .map_err(|e| e.to_string());
        let c = c
            .as_ref()
            .map(|c| (c.api_url.as_str(), c.api_version.as_str()));
        assert_eq!(c, Ok(("http://h:1", "v2")));
    }

    #[test]
    fn missing_values_are_named() {
        // Only meaningful when the environment does not provide them.
        if std::env::var_os(ENV_API_URL).is_some() || std::env::var_os(ENV_AUTH_TOKEN).is_some() {
            return;
        }
        let e = Config::resolve(None, None, None).map(|_| ());
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err(
                "Missing required environment variables: GENESISDB_API_URL, GENESISDB_AUTH_TOKEN"
                    .to_owned()
            )
        );
        let e = Config::resolve(Some(String::new()), None, Some("t".into())).map(|_| ());
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("Missing required environment variables: GENESISDB_API_URL".to_owned())
        );
        let c = Config::resolve(Some("http://h".into()), None, Some("t".into()));
        assert_eq!(c.map(|c| c.api_version).ok().as_deref(), Some("v1"));
    }

    #[test]
    fn validation() {
        assert!(Config::new("localhost:8080", "t").validate().is_err());
        assert!(Config::new("http://h", "").validate().is_err());
        assert!(Config::new("http://h", "a\nb").validate().is_err());
        let mut c = Config::new("https://h", "t");
        assert!(c.validate().is_ok());
        c.request_timeout = Duration::ZERO;
        assert!(c.validate().is_err());
    }
}
