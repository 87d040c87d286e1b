//! The one conversion from `genesisdb_core::Error` to the Python exceptions of
//! `genesisdb.errors` (defined in Python; the classes are imported lazily when raised, so
//! building an error never needs the interpreter).
use genesisdb_core::{Error, TimeoutKind};
use pyo3::exceptions::PyRuntimeError;
use pyo3::PyErr;

pyo3::import_exception!(genesisdb.errors, ConfigurationError);
pyo3::import_exception!(genesisdb.errors, InvalidInputError);
pyo3::import_exception!(genesisdb.errors, InvalidInputTypeError);
pyo3::import_exception!(genesisdb.errors, HTTPError);
pyo3::import_exception!(genesisdb.errors, BadRequestError);
pyo3::import_exception!(genesisdb.errors, AuthenticationError);
pyo3::import_exception!(genesisdb.errors, NotFoundError);
pyo3::import_exception!(genesisdb.errors, MethodNotAllowedError);
pyo3::import_exception!(genesisdb.errors, PreconditionFailedError);
pyo3::import_exception!(genesisdb.errors, PayloadTooLargeError);
pyo3::import_exception!(genesisdb.errors, ServerError);
pyo3::import_exception!(genesisdb.errors, TransportError);
pyo3::import_exception!(genesisdb.errors, ConnectError);
pyo3::import_exception!(genesisdb.errors, TimeoutError);
pyo3::import_exception!(genesisdb.errors, ProtocolError);
pyo3::import_exception!(genesisdb.errors, ClientClosedError);

/// `InvalidInputError(message)` (a `ValueError`).
pub fn invalid_input(message: impl Into<String>) -> PyErr {
    InvalidInputError::new_err(message.into())
}

/// `InvalidInputTypeError(message)` (a `ValueError` and a `TypeError`).
pub fn invalid_type(message: impl Into<String>) -> PyErr {
    InvalidInputTypeError::new_err(message.into())
}

/// `ConfigurationError(message)` (a `ValueError`).
pub fn configuration(message: impl Into<String>) -> PyErr {
    ConfigurationError::new_err(message.into())
}

/// `ClientClosedError(message)`.
pub fn client_closed(message: impl Into<String>) -> PyErr {
    ClientClosedError::new_err(message.into())
}

/// THE conversion: every core error becomes exactly one Python exception class.
pub fn to_pyerr(err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::MissingConfig { .. } | Error::InvalidConfig(_) => configuration(message),
        Error::InvalidInput(_) => invalid_input(message),
        Error::Http {
            status,
            reason,
            body,
            route,
            precondition,
        } => {
            let args = (message, status, reason, body, route);
            match status {
                400 => BadRequestError::new_err(args),
                401 => AuthenticationError::new_err(args),
                404 => NotFoundError::new_err(args),
                405 => MethodNotAllowedError::new_err(args),
                412 => {
                    let (message, status, reason, body, route) = args;
                    let (ptype, pmsg, pindex) = match precondition {
                        Some(p) => (p.r#type, p.message, p.index),
                        None => (None, None, None),
                    };
                    PreconditionFailedError::new_err((
                        message, status, reason, body, route, ptype, pmsg, pindex,
                    ))
                }
                413 => PayloadTooLargeError::new_err(args),
                500..=599 => ServerError::new_err(args),
                _ => HTTPError::new_err(args),
            }
        }
        Error::Connect { route, .. } => ConnectError::new_err((message, route)),
        Error::Transport { route, .. } => TransportError::new_err((message, route)),
        Error::Timeout { route, kind } => {
            let kind = match kind {
                TimeoutKind::Connect => "connect",
                TimeoutKind::Request => "request",
                TimeoutKind::ObserveIdle => "observe_idle",
            };
            TimeoutError::new_err((message, route, kind))
        }
        Error::Protocol { route, line, .. } => ProtocolError::new_err((message, route, line)),
        Error::Closed => client_closed(message),
        #[allow(unreachable_patterns)]
        _ => PyRuntimeError::new_err(message),
    }
}

/// Maps a core result to a Python result.
pub fn lift<T>(result: Result<T, Error>) -> Result<T, PyErr> {
    result.map_err(to_pyerr)
}
