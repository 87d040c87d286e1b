//! Python bindings of the Genesis DB client core (`genesisdb._native`).
//!
//! This layer converts and delegates: protocol logic lives in `genesisdb-core`, the local
//! server in `genesisdb-server`.
use pyo3::prelude::*;

mod bridge;
mod client;
mod convert;
mod errors;
mod event;
mod json;
mod runtime;
mod server;
mod streams;

/// Encodes a Python object to compact JSON text with the same rules as commit data.
#[pyfunction]
fn dumps(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    convert::to_json_text(obj, "value")
}

/// Decodes JSON text to Python objects (key order kept, big ints exact).
#[pyfunction]
fn loads<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    convert::parse_json(py, text)
}

/// Forwards Rust log records to Python's `logging` while the interpreter is alive.
struct GuardedLogger(pyo3_log::Logger);

impl log::Log for GuardedLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        runtime::while_python_alive(|| self.0.enabled(metadata)).unwrap_or(false)
    }
    fn log(&self, record: &log::Record<'_>) {
        let _ = runtime::while_python_alive(|| self.0.log(record));
    }
    fn flush(&self) {}
}

fn install_logging(py: Python<'_>) {
    use log::LevelFilter;
    let logger = match pyo3_log::Logger::new(py, pyo3_log::Caching::Loggers) {
        Ok(l) => l,
        Err(_) => return,
    };
    // Rust targets `genesisdb_core::x` become Python loggers `genesisdb.genesisdb_core.x`,
    // children of the `genesisdb` logger. Other crates (hyper, reqwest, ...) stay silent.
    let logger = logger
        .set_prefix("genesisdb")
        .filter(LevelFilter::Off)
        .filter_target("genesisdb_core".to_string(), LevelFilter::Debug)
        .filter_target("genesisdb_server".to_string(), LevelFilter::Info)
        .filter_target("_native".to_string(), LevelFilter::Debug);
    if log::set_boxed_logger(Box::new(GuardedLogger(logger))).is_ok() {
        log::set_max_level(LevelFilter::Debug);
    }
}

/// The native core of ``genesisdb`` (Rust, pyo3): client, events, streams, local server.
/// Use the ``genesisdb`` package; this module is an implementation detail.
#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_logging(m.py());
    let exiting = wrap_pyfunction!(runtime::_interpreter_exiting, m)?;
    m.py()
        .import("atexit")?
        .call_method1("register", (exiting.clone(),))?;
    m.add_function(exiting)?;
    m.add_class::<client::CoreClient>()?;
    m.add_class::<event::PyEvent>()?;
    m.add_class::<streams::EventIter>()?;
    m.add_class::<streams::RowIter>()?;
    m.add_class::<streams::ObserveIter>()?;
    m.add_class::<server::LocalServer>()?;
    m.add_function(wrap_pyfunction!(dumps, m)?)?;
    m.add_function(wrap_pyfunction!(loads, m)?)?;
    m.add_function(wrap_pyfunction!(runtime::runtime_stats, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
