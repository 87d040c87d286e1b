//! The error `start` returns.

use std::fmt;
use std::path::Path;

/// What kind of failure stopped the server from starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerErrorKind {
    /// The address could not be bound (port in use, bad host, ...).
    Bind,
    /// The data directory holds corrupt data; nothing was changed.
    Corrupt,
    /// Another I/O failure on the data directory.
    Io,
}

/// Why the server could not start. Its `Display` is a full sentence.
#[derive(Debug, Clone)]
pub struct ServerError {
    kind: ServerErrorKind,
    message: String,
}

impl ServerError {
    pub(crate) fn bind(addr: &str, e: &std::io::Error) -> ServerError {
        ServerError {
            kind: ServerErrorKind::Bind,
            message: format!("cannot listen on {addr}: {e}"),
        }
    }

    pub(crate) fn corrupt(file: &Path, offset: u64, why: &str) -> ServerError {
        ServerError {
            kind: ServerErrorKind::Corrupt,
            message: format!(
                "refusing to start: corrupt data in {} at offset {offset}: {why}",
                file.display()
            ),
        }
    }

    pub(crate) fn io(path: &Path, what: &str, e: &std::io::Error) -> ServerError {
        ServerError {
            kind: ServerErrorKind::Io,
            message: format!("cannot {what} {}: {e}", path.display()),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ServerErrorKind {
        self.kind
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServerError {}
