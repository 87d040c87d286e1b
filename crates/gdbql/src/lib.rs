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
//!
//! Additions: [`Query::holds_over`] (the `isQueryResultTrue` rule),
//! [`Query::is_aggregate`], [`Query::alias`].
//!
//! Modules: `lexer` (tokens with positions), `parser` (recursive descent to
//! the `ast`, with depth limits), `eval` (expressions over one event or one
//! group), `value` (numbers, time strings, equality and ordering).
//!
//! ```
//! use serde_json::json;
//!
//! let events = vec![
//!     json!({"subject": "/user/1", "type": "added", "data": {"amount": 2}}),
//!     json!({"subject": "/user/1/x", "type": "added", "data": {"amount": 3.5}}),
//!     json!({"subject": "/user/10", "type": "added", "data": {"amount": 9}}),
//! ];
//! let q = genesisdb_gdbql::parse(
//!     "STREAM e FROM events WHERE e.subject UNDER '/user/1' MAP SUM(e.data.amount)",
//! )?;
//! let rows: Vec<_> = q.rows(events.iter()).collect::<Result<_, _>>()?;
//! assert_eq!(rows, vec![json!(5.5)]);
//!
//! let guard = genesisdb_gdbql::parse("STREAM e FROM events MAP COUNT() < 3")?;
//! assert!(!guard.holds_over(events.iter())?);
//!
//! let err = genesisdb_gdbql::parse("STREAM e FROM events WHERE").err();
//! assert_eq!(
//!     err.map(|e| e.to_string()).as_deref(),
//!     Some("line 1, column 27: expected an expression, found end of query")
//! );
//! # Ok::<(), genesisdb_gdbql::Error>(())
//! ```

mod ast;
mod eval;
mod lexer;
mod parser;
mod value;

use ast::QueryAst;
use eval::{eval, holds, Ctx};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

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
    ast: QueryAst,
}

/// Parses a GDBQL query (`STREAM e FROM events ...` or the older
/// `FROM e IN events ... PROJECT INTO ...`).
pub fn parse(src: &str) -> Result<Query, Error> {
    parser::parse_query(src).map(|ast| Query { ast })
}

impl Query {
    /// True when rows can be produced while the events are scanned.
    pub fn is_streaming(&self) -> bool {
        !self.ast.aggregate && self.ast.order_by.is_empty()
    }

    /// True when the query aggregates (GROUP BY or an aggregate function):
    /// it then yields one row per group, or exactly one row without GROUP BY
    /// (before SKIP/LIMIT).
    pub fn is_aggregate(&self) -> bool {
        self.ast.aggregate
    }

    /// The name of the stream variable (`e` in `STREAM e FROM events`).
    pub fn alias(&self) -> &str {
        &self.ast.alias
    }

    /// Evaluates the query over `events` in global commit order.
    ///
    /// Streaming queries (see [`Query::is_streaming`]) pull events only as
    /// rows are consumed, so `LIMIT` stops the scan early. The others read
    /// all events first (keeping only references to them).
    pub fn rows<'a, I>(&'a self, events: I) -> Box<dyn Iterator<Item = Result<Value, Error>> + 'a>
    where
        I: Iterator<Item = &'a Value> + 'a,
    {
        let q = &self.ast;
        let projected: Box<dyn Iterator<Item = Value> + 'a> = if q.aggregate {
            Box::new(std::iter::once_with(move || self.aggregate_rows(events)).flatten())
        } else {
            let matching = events.filter(move |ev| match &q.filter {
                Some(f) => holds(f, Ctx::Row(ev)),
                None => true,
            });
            if q.order_by.is_empty() {
                Box::new(matching.map(move |ev| self.project_row(ev)))
            } else {
                Box::new(
                    std::iter::once_with(move || self.sort_events(matching))
                        .flatten()
                        .map(move |ev| self.project_row(ev)),
                )
            }
        };
        let deduped: Box<dyn Iterator<Item = Value> + 'a> = if q.distinct {
            let mut seen = HashSet::new();
            Box::new(projected.filter(move |v| seen.insert(value::canonical_key(v))))
        } else {
            projected
        };
        let skip = usize::try_from(q.skip).unwrap_or(usize::MAX);
        let limited: Box<dyn Iterator<Item = Value> + 'a> = match q.limit {
            Some(n) => Box::new(
                deduped
                    .skip(skip)
                    .take(usize::try_from(n).unwrap_or(usize::MAX)),
            ),
            None => Box::new(deduped.skip(skip)),
        };
        Box::new(limited.map(Ok))
    }

    /// The `isQueryResultTrue` rule: every result row is truthy (see
    /// [`is_truthy`]); an empty result holds. Stops at the first falsy row.
    pub fn holds_over<'a, I>(&'a self, events: I) -> Result<bool, Error>
    where
        I: Iterator<Item = &'a Value> + 'a,
    {
        for row in self.rows(events) {
            if !is_truthy(&row?) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn project_row(&self, ev: &Value) -> Value {
        match &self.ast.map {
            Some(m) => eval(m, Ctx::Row(ev)).into_owned(),
            None => ev.clone(),
        }
    }

    fn sort_events<'a>(&self, events: impl Iterator<Item = &'a Value>) -> Vec<&'a Value> {
        let mut keyed: Vec<(Vec<value::SortVal>, &'a Value)> = events
            .map(|ev| {
                let keys = self
                    .ast
                    .order_by
                    .iter()
                    .map(|k| value::prepare(eval(&k.expr, Ctx::Row(ev)).into_owned()))
                    .collect();
                (keys, ev)
            })
            .collect();
        keyed.sort_by(|a, b| self.cmp_sort_keys(&a.0, &b.0));
        keyed.into_iter().map(|(_, ev)| ev).collect()
    }

    fn cmp_sort_keys(&self, a: &[value::SortVal], b: &[value::SortVal]) -> std::cmp::Ordering {
        for ((x, y), k) in a.iter().zip(b).zip(&self.ast.order_by) {
            let o = value::cmp_prepared(x, y);
            let o = if k.desc { o.reverse() } else { o };
            if o != std::cmp::Ordering::Equal {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    }

    fn aggregate_rows<'a>(&self, events: impl Iterator<Item = &'a Value>) -> Vec<Value> {
        let q = &self.ast;
        let mut groups: Vec<Group<'a>> = Vec::new();
        if q.group_by.is_empty() {
            groups.push((Vec::new(), Vec::new()));
        }
        let mut index: HashMap<String, usize> = HashMap::new();
        for ev in events {
            if let Some(f) = &q.filter {
                if !holds(f, Ctx::Row(ev)) {
                    continue;
                }
            }
            if q.group_by.is_empty() {
                groups[0].1.push(ev);
                continue;
            }
            let keys: Vec<Value> = q
                .group_by
                .iter()
                .map(|k| eval(k, Ctx::Row(ev)).into_owned())
                .collect();
            let mut ck = String::new();
            for k in &keys {
                ck.push_str(&value::canonical_key(k));
                ck.push('|');
            }
            match index.get(&ck) {
                Some(&i) => groups[i].1.push(ev),
                None => {
                    index.insert(ck, groups.len());
                    groups.push((keys, vec![ev]));
                }
            }
        }
        drop(index);
        let mut kept: Vec<&Group<'a>> = groups
            .iter()
            .filter(|g| match &q.having {
                Some(h) => holds(
                    h,
                    Ctx::Group {
                        keys: &g.0,
                        members: &g.1,
                    },
                ),
                None => true,
            })
            .collect();
        if !q.order_by.is_empty() {
            let mut keyed: Vec<(Vec<value::SortVal>, &Group<'a>)> = kept
                .into_iter()
                .map(|g| {
                    let ctx = Ctx::Group {
                        keys: &g.0,
                        members: &g.1,
                    };
                    let keys = q
                        .order_by
                        .iter()
                        .map(|k| value::prepare(eval(&k.expr, ctx).into_owned()))
                        .collect();
                    (keys, g)
                })
                .collect();
            keyed.sort_by(|a, b| self.cmp_sort_keys(&a.0, &b.0));
            kept = keyed.into_iter().map(|(_, g)| g).collect();
        }
        kept.into_iter()
            .map(|g| {
                let ctx = Ctx::Group {
                    keys: &g.0,
                    members: &g.1,
                };
                match &q.map {
                    Some(m) => eval(m, ctx).into_owned(),
                    None => group_key_value(&g.0),
                }
            })
            .collect()
    }
}

/// A group: its GROUP BY key values and its member events.
type Group<'a> = (Vec<Value>, Vec<&'a Value>);

fn group_key_value(keys: &[Value]) -> Value {
    match keys {
        [] => Value::Null,
        [k] => k.clone(),
        ks => Value::Array(ks.to_vec()),
    }
}

/// `Query` can be shared across threads (the server keeps it in handlers).
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Query>();
};

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
