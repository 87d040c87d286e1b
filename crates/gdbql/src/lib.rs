//! GDBQL (Genesis DB Query Language): lexer, parser and evaluator.
//!
//! No HTTP and no I/O: parse a string with [`parse`], then evaluate the
//! [`Query`] over stored events (each a JSON object with the ten stored
//! fields) with [`Query::rows`].
//!
//! CONTRACT (used by `genesisdb-server`; keep these signatures):
//! - `parse(&str) -> Result<Query, Error>`
//! - `Query::is_streaming(&self) -> bool`: rows can be produced while events
//!   are scanned (no ORDER BY, GROUP BY or aggregate).
//! - `Query::rows(&self, events) -> impl Iterator<Item = Result<Value, Error>>`
//! - `is_truthy(&Value) -> bool` (false, 0, "", null are falsy).
//! - `Error` has `line`, `column`, `message` and displays as
//!   `line L, column C: message`.

use serde_json::Value;

/// A parse or evaluation error with its position in the query text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct Error {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 1-based column of the offending token.
    pub column: usize,
    /// What was wrong and what was expected.
    pub message: String,
}

/// A parsed GDBQL query.
#[derive(Debug, Clone)]
pub struct Query {
    _private: (),
}

/// Parses a GDBQL query.
pub fn parse(_src: &str) -> Result<Query, Error> {
    Err(Error {
        line: 1,
        column: 1,
        message: "GDBQL not available".to_string(),
    })
}

impl Query {
    /// True when rows can be produced while the events are scanned.
    pub fn is_streaming(&self) -> bool {
        true
    }

    /// Evaluates the query over `events` in global commit order.
    pub fn rows<'a, I>(&'a self, events: I) -> Box<dyn Iterator<Item = Result<Value, Error>> + 'a>
    where
        I: Iterator<Item = &'a Value> + 'a,
    {
        let _ = events;
        Box::new(std::iter::empty())
    }
}

/// GDBQL truthiness: `false`, `0`, `""` and `null` are falsy, all else truthy.
pub fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().map(|f| f != 0.0).unwrap_or(true),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}
