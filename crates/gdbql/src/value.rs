//! Value semantics: numbers, time strings, equality and ordering.

use serde_json::{Number, Value};
use std::cmp::Ordering;

/// A JSON number as the evaluator sees it: an exact integer or a finite float.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    I(i128),
    F(f64),
}

pub fn num_of(v: &Value) -> Option<Num> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        Some(Num::I(i as i128))
    } else if let Some(u) = n.as_u64() {
        Some(Num::I(u as i128))
    } else {
        n.as_f64().filter(|f| f.is_finite()).map(Num::F)
    }
}

impl Num {
    pub fn as_f64(self) -> f64 {
        match self {
            Num::I(i) => i as f64,
            Num::F(f) => f,
        }
    }
}

const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// Writes a computed number: integral values become JSON integers
/// (`2`, never `2.0`); non-finite values become `null`.
pub fn num_value(n: Num) -> Value {
    match n {
        Num::I(i) => {
            if let Ok(v) = i64::try_from(i) {
                Value::Number(v.into())
            } else if let Ok(v) = u64::try_from(i) {
                Value::Number(v.into())
            } else {
                float_value(i as f64)
            }
        }
        Num::F(f) => float_value(f),
    }
}

fn float_value(f: f64) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    if f.fract() == 0.0 && f.abs() < TWO_63 {
        return Value::Number((f as i64).into());
    }
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Normalises a value read from an event when it is returned as a computed
/// result (MIN/MAX): integral floats become integers.
pub fn normalise_number(v: Value) -> Value {
    match num_of(&v) {
        Some(n) => num_value(n),
        None => v,
    }
}

/// Exact comparison of two numbers (no precision loss between i128 and f64).
pub fn cmp_num(a: Num, b: Num) -> Ordering {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x.cmp(&y),
        (Num::F(x), Num::F(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Num::I(x), Num::F(y)) => cmp_int_float(x, y),
        (Num::F(x), Num::I(y)) => cmp_int_float(y, x).reverse(),
    }
}

fn cmp_int_float(i: i128, f: f64) -> Ordering {
    const TWO_127: f64 = 1.7014118346046923e38;
    if f.is_nan() {
        return Ordering::Equal;
    }
    if f >= TWO_127 {
        return Ordering::Less;
    }
    if f < -TWO_127 {
        return Ordering::Greater;
    }
    let t = f.trunc();
    let ti = t as i128;
    match i.cmp(&ti) {
        Ordering::Equal => {
            let frac = f - t;
            if frac > 0.0 {
                Ordering::Less
            } else if frac < 0.0 {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        }
        o => o,
    }
}

/// Parses an RFC 3339 date-time into nanoseconds since the Unix epoch.
pub fn parse_time(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    // Cheap pre-check so ordinary strings never reach the parser.
    if b.len() < 20 || b.get(4) != Some(&b'-') || !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp_nanos())
}

fn cmp_str(a: &str, b: &str) -> Ordering {
    if let (Some(x), Some(y)) = (parse_time(a), parse_time(b)) {
        x.cmp(&y)
    } else {
        a.cmp(b)
    }
}

/// `==`: deep equality; numbers compare numerically (`1 == 1.0`), time
/// strings as instants, object key order is ignored.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(_), Value::Number(_)) => match (num_of(a), num_of(b)) {
            (Some(x), Some(y)) => cmp_num(x, y) == Ordering::Equal,
            _ => false,
        },
        (Value::String(x), Value::String(y)) => x == y || cmp_str(x, y) == Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| loose_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| loose_eq(v, w)))
        }
        _ => false,
    }
}

/// `< <= > >=`: numbers, strings (time-aware) and booleans of the same kind;
/// `None` for anything else (the comparison is then false).
pub fn cmp_values(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => Some(cmp_num(num_of(a)?, num_of(b)?)),
        (Value::String(x), Value::String(y)) => Some(cmp_str(x, y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn kind_rank(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// A total order for ORDER BY, MIN and MAX: by kind first
/// (null < bool < number < string < array < object), then by value.
/// Among strings, RFC 3339 times come first (ordered as instants), then the
/// other strings by code point; this keeps the order total on mixed data.
pub fn sort_cmp(a: &Value, b: &Value) -> Ordering {
    let (ra, rb) = (kind_rank(a), kind_rank(b));
    if ra != rb {
        return ra.cmp(&rb);
    }
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Number(_), Value::Number(_)) => match (num_of(a), num_of(b)) {
            (Some(x), Some(y)) => cmp_num(x, y),
            _ => Ordering::Equal,
        },
        (Value::String(x), Value::String(y)) => match (parse_time(x), parse_time(y)) {
            (Some(p), Some(q)) => p.cmp(&q),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => x.cmp(y),
        },
        (Value::Array(x), Value::Array(y)) => {
            for (p, q) in x.iter().zip(y) {
                let o = sort_cmp(p, q);
                if o != Ordering::Equal {
                    return o;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(_), Value::Object(_)) => canonical_key(a).cmp(&canonical_key(b)),
        _ => Ordering::Equal,
    }
}

/// A sort key prepared once per row, so that sorting does not re-parse
/// time strings on every comparison. Orders exactly like [`sort_cmp`].
#[derive(Debug)]
pub enum SortVal {
    Null,
    Bool(bool),
    Num(Num),
    Time(i128),
    Str(String),
    Other(Value),
}

pub fn prepare(v: Value) -> SortVal {
    match v {
        Value::Null => SortVal::Null,
        Value::Bool(b) => SortVal::Bool(b),
        Value::Number(_) => match num_of(&v) {
            Some(n) => SortVal::Num(n),
            None => SortVal::Other(v),
        },
        Value::String(s) => match parse_time(&s) {
            Some(t) => SortVal::Time(t),
            None => SortVal::Str(s),
        },
        other => SortVal::Other(other),
    }
}

pub fn cmp_prepared(a: &SortVal, b: &SortVal) -> Ordering {
    fn rank(v: &SortVal) -> u8 {
        match v {
            SortVal::Null => 0,
            SortVal::Bool(_) => 1,
            SortVal::Num(_) => 2,
            SortVal::Time(_) => 3,
            SortVal::Str(_) => 4,
            SortVal::Other(Value::Array(_)) => 5,
            SortVal::Other(_) => 6,
        }
    }
    match (a, b) {
        (SortVal::Bool(x), SortVal::Bool(y)) => x.cmp(y),
        (SortVal::Num(x), SortVal::Num(y)) => cmp_num(*x, *y),
        (SortVal::Time(x), SortVal::Time(y)) => x.cmp(y),
        (SortVal::Str(x), SortVal::Str(y)) => x.cmp(y),
        (SortVal::Other(x), SortVal::Other(y)) => sort_cmp(x, y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// A string that is equal for two values exactly when [`loose_eq`] holds;
/// used to group and to drop duplicates.
pub fn canonical_key(v: &Value) -> String {
    let mut out = String::new();
    write_key(v, &mut out);
    out
}

fn write_key(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push('n'),
        Value::Bool(true) => out.push('T'),
        Value::Bool(false) => out.push('F'),
        Value::Number(_) => {
            out.push('#');
            match num_of(v) {
                Some(Num::I(i)) => out.push_str(&i.to_string()),
                Some(Num::F(f)) => {
                    if f.fract() == 0.0 && f.abs() < 1.0e38 {
                        out.push_str(&(f as i128).to_string());
                    } else {
                        out.push_str(&format!("{f:e}"));
                    }
                }
                None => out.push('?'),
            }
        }
        Value::String(s) => match parse_time(s) {
            Some(t) => {
                out.push('@');
                out.push_str(&t.to_string());
            }
            None => {
                out.push('s');
                out.push_str(&s.len().to_string());
                out.push(':');
                out.push_str(s);
            }
        },
        Value::Array(a) => {
            out.push('[');
            for x in a {
                write_key(x, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                out.push_str(&k.len().to_string());
                out.push(':');
                out.push_str(k);
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_key(x, out);
                }
                out.push(',');
            }
            out.push('}');
        }
    }
}

/// `s UNDER p`: `s` is `p` or below it, on whole path segments.
pub fn under(s: &str, p: &str) -> bool {
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        return s.starts_with('/');
    }
    s == p || (s.starts_with(p) && s.as_bytes().get(p.len()) == Some(&b'/'))
}

/// `s DESCENDANTS p`: `s` is strictly below `p` (any depth), not `p` itself.
pub fn descendant(s: &str, p: &str) -> bool {
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        return s.starts_with('/') && s.len() > 1;
    }
    s.len() > p.len() + 1 && s.starts_with(p) && s.as_bytes().get(p.len()) == Some(&b'/')
}

/// SQL LIKE with `%` (any run) and `_` (one char), case-sensitive; linear
/// memory, no backtracking blow-up.
pub fn like(s: &str, pat: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pat.chars().collect();
    let (mut i, mut j) = (0usize, 0usize);
    let mut star: Option<usize> = None;
    let mut mark = 0usize;
    while i < s.len() {
        if j < p.len() && (p[j] == '_' || (p[j] != '%' && p[j] == s[i])) {
            i += 1;
            j += 1;
        } else if j < p.len() && p[j] == '%' {
            star = Some(j);
            mark = i;
            j += 1;
        } else if let Some(st) = star {
            j = st + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while j < p.len() && p[j] == '%' {
        j += 1;
    }
    j == p.len()
}

/// Text of a value for string concatenation (numbers as JSON text).
pub fn concat_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) => num_of(v).map(|n| num_value(n).to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers() {
        assert_eq!(num_value(Num::F(2.0)).to_string(), "2");
        assert_eq!(num_value(Num::F(2.5)).to_string(), "2.5");
        assert_eq!(num_value(Num::F(f64::INFINITY)), Value::Null);
        assert!(loose_eq(&json!(1), &json!(1.0)));
        assert_eq!(
            cmp_num(Num::I(9007199254740993), Num::F(9007199254740992.0)),
            Ordering::Greater
        );
        assert_eq!(cmp_num(Num::I(-1), Num::F(-0.5)), Ordering::Less);
    }

    #[test]
    fn times() {
        assert!(loose_eq(
            &json!("2024-01-01T00:00:00Z"),
            &json!("2024-01-01T00:00:00.000000000Z")
        ));
        assert_eq!(
            cmp_values(
                &json!("2024-01-01T00:00:00Z"),
                &json!("2024-01-01T00:00:00.5Z")
            ),
            Some(Ordering::Less)
        );
        assert_eq!(
            cmp_values(
                &json!("2024-01-01T01:00:00+02:00"),
                &json!("2024-01-01T00:00:00Z")
            ),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn subjects() {
        assert!(under("/user/1", "/user/1"));
        assert!(under("/user/1/x", "/user/1"));
        assert!(!under("/user/10", "/user/1"));
        assert!(under("/a", "/"));
        assert!(under("/user/1/x", "/user/1/"));
        assert!(!descendant("/user/1", "/user/1"));
        assert!(descendant("/user/1/x/y", "/user/1"));
        assert!(!descendant("/user/10", "/user/1"));
        assert!(descendant("/a", "/"));
    }

    #[test]
    fn prepared_sort_matches_sort_cmp() {
        let vals = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1),
            json!(0.5),
            json!(2),
            json!(18446744073709551615u64),
            json!("2024-01-01T00:00:00Z"),
            json!("2024-01-01T00:00:00.5Z"),
            json!("2023-12-31T23:59:59+01:00"),
            json!("a"),
            json!("B"),
            json!([]),
            json!([1, "a"]),
            json!({}),
            json!({"a": 1}),
        ];
        for a in &vals {
            for b in &vals {
                assert_eq!(
                    cmp_prepared(&prepare(a.clone()), &prepare(b.clone())),
                    sort_cmp(a, b),
                    "{a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o"));
        assert!(like("hello", "h_llo"));
        assert!(like("hello", "%"));
        assert!(!like("hello", "H%"));
        assert!(like("", "%%"));
        assert!(!like("abc", "a_"));
        assert!(like("aaaaaaaaaaaaaaaaaaaaaaaaaab", "%a%a%a%a%a%b"));
    }
}
