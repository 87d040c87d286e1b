//! Property tests: the evaluator agrees with a straightforward reference
//! implementation for WHERE / ORDER BY / SKIP / LIMIT on random events, and
//! the parser never panics and always terminates on arbitrary input.

mod common;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

// ---- the reference model ----------------------------------------------

/// A field value as the reference sees it. Times carry their instant, so the
/// reference never parses RFC 3339 itself.
#[derive(Debug, Clone, PartialEq)]
enum RV {
    Missing,
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Time(i128, String),
}

impl RV {
    fn to_json(&self) -> Option<Value> {
        Some(match self {
            RV::Missing => return None,
            RV::Null => Value::Null,
            RV::Bool(b) => json!(b),
            RV::Int(i) => json!(i),
            RV::Float(f) => json!(f),
            RV::Str(s) | RV::Time(_, s) => json!(s),
        })
    }

    /// GDBQL literal text.
    fn literal(&self) -> String {
        match self {
            RV::Missing | RV::Null => "null".into(),
            RV::Bool(b) => b.to_string(),
            RV::Int(i) => i.to_string(),
            RV::Float(f) => format!("{f:?}"),
            RV::Str(s) | RV::Time(_, s) => format!("'{s}'"),
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            RV::Int(i) => Some(*i as f64),
            RV::Float(f) => Some(*f),
            _ => None,
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            RV::Str(s) | RV::Time(_, s) => Some(s),
            _ => None,
        }
    }
}

fn ref_eq(a: &RV, b: &RV) -> bool {
    match (a, b) {
        (RV::Missing | RV::Null, RV::Missing | RV::Null) => true,
        (RV::Bool(x), RV::Bool(y)) => x == y,
        (RV::Time(x, _), RV::Time(y, _)) => x == y,
        _ => match (a.num(), b.num(), a.text(), b.text()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// `<`-style comparison; `None` when the kinds do not compare.
fn ref_cmp(a: &RV, b: &RV) -> Option<Ordering> {
    match (a, b) {
        (RV::Bool(x), RV::Bool(y)) => Some(x.cmp(y)),
        (RV::Time(x, _), RV::Time(y, _)) => Some(x.cmp(y)),
        _ => match (a.num(), b.num(), a.text(), b.text()) {
            (Some(x), Some(y), _, _) => x.partial_cmp(&y),
            (_, _, Some(x), Some(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

/// ORDER BY: null/missing < bool < number < time strings < other strings.
fn ref_sort(a: &RV, b: &RV) -> Ordering {
    fn rank(v: &RV) -> u8 {
        match v {
            RV::Missing | RV::Null => 0,
            RV::Bool(_) => 1,
            RV::Int(_) | RV::Float(_) => 2,
            RV::Time(..) => 3,
            RV::Str(_) => 4,
        }
    }
    rank(a)
        .cmp(&rank(b))
        .then_with(|| ref_cmp(a, b).unwrap_or(Ordering::Equal))
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
enum Pred {
    Cmp(usize, Op, RV),
    In(usize, Vec<RV>),
    Between(usize, RV, RV),
    And(Box<Pred>, Box<Pred>),
    Or(Box<Pred>, Box<Pred>),
    Not(Box<Pred>),
    Lit(bool),
}

const FIELDS: [&str; 3] = ["n", "s", "t"];

fn render(p: &Pred) -> String {
    match p {
        Pred::Cmp(f, op, v) => {
            let o = match op {
                Op::Eq => "==",
                Op::Ne => "!=",
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Ge => ">=",
            };
            format!("e.data.{} {o} {}", FIELDS[*f], v.literal())
        }
        Pred::In(f, vs) => format!(
            "e.data.{} IN ({})",
            FIELDS[*f],
            vs.iter().map(RV::literal).collect::<Vec<_>>().join(", ")
        ),
        Pred::Between(f, lo, hi) => format!(
            "e.data.{} BETWEEN {} AND {}",
            FIELDS[*f],
            lo.literal(),
            hi.literal()
        ),
        Pred::And(a, b) => format!("({} AND {})", render(a), render(b)),
        Pred::Or(a, b) => format!("({} OR {})", render(a), render(b)),
        Pred::Not(a) => format!("NOT ({})", render(a)),
        Pred::Lit(b) => b.to_string(),
    }
}

fn holds(p: &Pred, ev: &[RV; 3]) -> bool {
    match p {
        Pred::Cmp(f, op, v) => {
            let x = &ev[*f];
            match op {
                Op::Eq => ref_eq(x, v),
                Op::Ne => !ref_eq(x, v),
                Op::Lt => ref_cmp(x, v) == Some(Ordering::Less),
                Op::Le => matches!(ref_cmp(x, v), Some(Ordering::Less | Ordering::Equal)),
                Op::Gt => ref_cmp(x, v) == Some(Ordering::Greater),
                Op::Ge => matches!(ref_cmp(x, v), Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Pred::In(f, vs) => vs.iter().any(|v| ref_eq(&ev[*f], v)),
        Pred::Between(f, lo, hi) => {
            matches!(
                ref_cmp(&ev[*f], lo),
                Some(Ordering::Greater | Ordering::Equal)
            ) && matches!(ref_cmp(&ev[*f], hi), Some(Ordering::Less | Ordering::Equal))
        }
        Pred::And(a, b) => holds(a, ev) && holds(b, ev),
        Pred::Or(a, b) => holds(a, ev) || holds(b, ev),
        Pred::Not(a) => !holds(a, ev),
        Pred::Lit(b) => *b,
    }
}

// ---- generators -------------------------------------------------------

fn time_value() -> impl Strategy<Value = RV> {
    (
        0i64..4,
        prop::sample::select(vec![0u32, 5, 500_000_000, 123_456_789]),
        0usize..3,
    )
        .prop_map(|(sec, nanos, style)| {
            let frac = match style {
                0 => format!(".{nanos:09}"),
                1 if nanos != 0 => format!(".{}", format!("{nanos:09}").trim_end_matches('0')),
                _ if nanos == 0 => String::new(),
                _ => format!(".{nanos:09}"),
            };
            let text = format!("2024-01-01T00:00:0{sec}{frac}Z");
            RV::Time(sec as i128 * 1_000_000_000 + nanos as i128, text)
        })
}

fn n_value() -> impl Strategy<Value = RV> {
    prop_oneof![
        3 => (-3i64..4).prop_map(RV::Int),
        2 => (-3i64..4).prop_map(|i| RV::Float(i as f64 + 0.5)),
        1 => (-3i64..4).prop_map(|i| RV::Float(i as f64)),
        1 => Just(RV::Missing),
        1 => Just(RV::Null),
        1 => any::<bool>().prop_map(RV::Bool),
        1 => prop::sample::select(vec!["a", "b"]).prop_map(|s| RV::Str(s.into())),
    ]
}

fn s_value() -> impl Strategy<Value = RV> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "ab", "B", "é"]).prop_map(|s| RV::Str(s.into())),
        1 => Just(RV::Missing),
        1 => Just(RV::Null),
    ]
}

fn t_value() -> impl Strategy<Value = RV> {
    prop_oneof![4 => time_value(), 1 => Just(RV::Missing)]
}

fn field_value(f: usize) -> BoxedStrategy<RV> {
    match f {
        0 => n_value().boxed(),
        1 => s_value().boxed(),
        _ => t_value().boxed(),
    }
}

fn literal_for(f: usize) -> BoxedStrategy<RV> {
    // Literals sometimes of another field's kind, to exercise cross-kind rules.
    prop_oneof![4 => field_value(f), 1 => field_value((f + 1) % 3)]
        .prop_map(|v| if v == RV::Missing { RV::Null } else { v })
        .boxed()
}

fn leaf() -> BoxedStrategy<Pred> {
    (0usize..3)
        .prop_flat_map(|f| {
            prop_oneof![
                6 => (
                    prop::sample::select(vec![Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge]),
                    literal_for(f)
                )
                    .prop_map(move |(op, v)| Pred::Cmp(f, op, v)),
                1 => prop::collection::vec(literal_for(f), 1..4).prop_map(move |vs| Pred::In(f, vs)),
                1 => (literal_for(f), literal_for(f)).prop_map(move |(a, b)| Pred::Between(f, a, b)),
                1 => any::<bool>().prop_map(Pred::Lit),
            ]
        })
        .boxed()
}

fn pred() -> impl Strategy<Value = Pred> {
    leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Pred::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Pred::Not(Box::new(a))),
        ]
    })
}

fn events() -> impl Strategy<Value = Vec<[RV; 3]>> {
    prop::collection::vec(
        (n_value(), s_value(), t_value()).prop_map(|(a, b, c)| [a, b, c]),
        0..25,
    )
}

fn to_events(rows: &[[RV; 3]]) -> Vec<Value> {
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            let mut data = Map::new();
            for (f, v) in r.iter().enumerate() {
                if let Some(j) = v.to_json() {
                    data.insert(FIELDS[f].to_string(), j);
                }
            }
            common::event(i, &format!("/p/{i}"), "t", Value::Object(data))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn where_order_limit_agree_with_reference(
        rows in events(),
        filter in prop::option::of(pred()),
        order in prop::collection::vec((0usize..3, any::<bool>()), 0..3),
        skip in prop::option::of(0u64..5),
        limit in prop::option::of(0u64..8),
    ) {
        let mut q = String::from("STREAM e FROM events");
        if let Some(p) = &filter {
            q += &format!(" WHERE {}", render(p));
        }
        if !order.is_empty() {
            let keys: Vec<String> = order
                .iter()
                .map(|(f, d)| format!("e.data.{}{}", FIELDS[*f], if *d { " DESC" } else { "" }))
                .collect();
            q += &format!(" ORDER BY {}", keys.join(", "));
        }
        if let Some(s) = skip {
            q += &format!(" SKIP {s}");
        }
        if let Some(l) = limit {
            q += &format!(" LIMIT {l}");
        }
        q += " MAP e.id";

        let evs = to_events(&rows);
        let got = common::run(&q, &evs);

        let mut idx: Vec<usize> = (0..rows.len())
            .filter(|&i| filter.as_ref().is_none_or(|p| holds(p, &rows[i])))
            .collect();
        idx.sort_by(|&a, &b| {
            for (f, desc) in &order {
                let o = ref_sort(&rows[a][*f], &rows[b][*f]);
                let o = if *desc { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
        let expected: Vec<Value> = idx
            .into_iter()
            .skip(skip.unwrap_or(0) as usize)
            .take(limit.map_or(usize::MAX, |l| l as usize))
            .map(|i| evs[i]["id"].clone())
            .collect();
        prop_assert_eq!(got, expected, "query: {}", q);
    }

    #[test]
    fn count_and_sum_agree_with_reference(rows in events(), filter in pred()) {
        let q = format!(
            "STREAM e FROM events WHERE {} MAP {{ c: COUNT(), s: SUM(e.data.n) }}",
            render(&filter)
        );
        let evs = to_events(&rows);
        let got = common::run(&q, &evs);
        let kept: Vec<&[RV; 3]> = rows.iter().filter(|r| holds(&filter, r)).collect();
        let sum: f64 = kept.iter().filter_map(|r| r[0].num()).sum();
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(&got[0]["c"], &json!(kept.len()));
        let s = got[0]["s"].as_f64();
        prop_assert_eq!(s, Some(sum), "query: {}", q);
        if sum.fract() == 0.0 {
            prop_assert!(got[0]["s"].is_i64(), "integral sum written as an integer: {}", got[0]["s"]);
        }
    }

    #[test]
    fn group_by_agrees_with_reference(rows in events(), filter in pred(), min_count in 0usize..3) {
        let q = format!(
            "STREAM e FROM events WHERE {} GROUP BY e.data.s HAVING COUNT() >= {min_count} MAP [e.data.s, COUNT(), SUM(e.data.n), MAX(e.data.t)]",
            render(&filter)
        );
        let evs = to_events(&rows);
        let got = common::run(&q, &evs);
        // Reference: groups in order of first appearance; missing and null share a group.
        let mut groups: Vec<(RV, Vec<usize>)> = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            if !holds(&filter, r) {
                continue;
            }
            let key = if r[1] == RV::Missing { RV::Null } else { r[1].clone() };
            match groups.iter_mut().find(|(k, _)| ref_eq(k, &key)) {
                Some((_, members)) => members.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        let expected: Vec<Value> = groups
            .into_iter()
            .filter(|(_, m)| m.len() >= min_count)
            .map(|(k, m)| {
                let sum: f64 = m.iter().filter_map(|&i| rows[i][0].num()).sum();
                let max = m
                    .iter()
                    .map(|&i| &rows[i][2])
                    .filter(|v| !matches!(v, RV::Missing | RV::Null))
                    .max_by(|a, b| ref_sort(a, b))
                    .and_then(RV::to_json)
                    .unwrap_or(Value::Null);
                json!([k.to_json(), m.len(), sum, max])
            })
            .collect();
        prop_assert_eq!(got.len(), expected.len(), "query: {}", q);
        for (g, e) in got.iter().zip(&expected) {
            prop_assert_eq!(&g[0], &e[0]);
            prop_assert_eq!(&g[1], &e[1]);
            prop_assert_eq!(g[2].as_f64(), e[2].as_f64());
            // MAX over equal instants may pick another spelling: compare instants.
            prop_assert!(
                g[3] == e[3] || (g[3].is_string() && e[3].is_string() && instants_equal(&g[3], &e[3])),
                "max {} vs {}", g[3], e[3]
            );
        }
    }

    #[test]
    fn integer_arithmetic_agrees_with_reference(
        a in any::<i64>(),
        b in any::<i64>(),
        op in prop::sample::select(vec!["+", "-", "*", "%"]),
    ) {
        // Parenthesised so that negative literals are plain unary minus.
        let q = format!("STREAM e FROM events MAP ({a}) {op} ({b})");
        let got = common::run(&q, &[common::event(0, "/x", "t", json!(0))]);
        let (x, y) = (a as i128, b as i128);
        let exact = match op {
            "+" => Some(x + y),
            "-" => Some(x - y),
            "*" => Some(x * y),
            _ => (y != 0).then(|| x % y),
        };
        let expected = match exact {
            None => Value::Null,
            Some(r) => match (i64::try_from(r), u64::try_from(r)) {
                (Ok(i), _) => json!(i),
                (_, Ok(u)) => json!(u),
                _ => json!(r as f64),
            },
        };
        prop_assert_eq!(got, vec![expected], "query: {}", q);
    }

    #[test]
    fn time_comparison_uses_instants_across_offsets_and_precision(
        s1 in 0i64..200_000, n1 in 0u32..1_000_000_000, o1 in -14i64..15, p1 in 0usize..10,
        s2 in 0i64..200_000, n2 in 0u32..1_000_000_000, o2 in -14i64..15, p2 in 0usize..10,
    ) {
        // Truncate the fractions to the written precision first.
        let trunc = |n: u32, p: usize| n / 10u32.pow(9 - p as u32) * 10u32.pow(9 - p as u32);
        let (n1, n2) = (trunc(n1, p1), trunc(n2, p2));
        let fmt = |secs: i64, nanos: u32, off_h: i64, prec: usize| -> String {
            let local = 1_700_000_000 + secs + off_h * 3600;
            let t = time::OffsetDateTime::from_unix_timestamp(local).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let frac = if prec == 0 { String::new() } else { format!(".{}", &format!("{nanos:09}")[..prec]) };
            let off = if off_h == 0 { "Z".to_string() } else { format!("{}{:02}:00", if off_h < 0 { '-' } else { '+' }, off_h.abs()) };
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{off}",
                t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second()
            )
        };
        let a = fmt(s1, n1, o1, p1);
        let b = fmt(s2, n2, o2, p2);
        let ra = (s1 as i128) * 1_000_000_000 + n1 as i128;
        let rb = (s2 as i128) * 1_000_000_000 + n2 as i128;
        let q = format!("STREAM e FROM events MAP ['{a}' < '{b}', '{a}' == '{b}', '{a}' >= '{b}']");
        let got = common::run(&q, &[common::event(0, "/x", "t", json!(0))]);
        prop_assert_eq!(got, vec![json!([ra < rb, ra == rb, ra >= rb])], "query: {}", q);
    }

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in "\\PC{0,200}") {
        exercise(&s);
    }

    #[test]
    fn parser_never_panics_on_token_soup(
        toks in prop::collection::vec(prop::sample::select(SOUP.to_vec()), 0..40)
    ) {
        exercise(&toks.join(" "));
    }

    #[test]
    fn parser_never_panics_on_mutated_examples(
        base in prop::sample::select(BASES.to_vec()),
        cut in 0usize..200,
        insert in prop::sample::select(SOUP.to_vec()),
    ) {
        let chars: Vec<char> = base.chars().collect();
        let at = cut.min(chars.len());
        let mutated: String = chars[..at].iter().collect::<String>() + insert + &chars[at..].iter().collect::<String>();
        exercise(&mutated);
        exercise(&chars[..at].iter().collect::<String>());
    }
}

const SOUP: &[&str] = &[
    "STREAM",
    "FROM",
    "e",
    "events",
    "WHERE",
    "GROUP",
    "BY",
    "HAVING",
    "ORDER",
    "ASC",
    "DESC",
    "LIMIT",
    "SKIP",
    "OFFSET",
    "MAP",
    "DISTINCT",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "UNDER",
    "DESCENDANTS",
    "CONTAINS",
    "LIKE",
    "TOP",
    "PROJECT",
    "INTO",
    "true",
    "false",
    "null",
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "CONCAT",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ".",
    "+",
    "-",
    "*",
    "/",
    "%",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "=",
    "<>",
    "'a'",
    "\"b\"",
    "'",
    "\"",
    "0",
    "1",
    "1.5",
    "-2",
    "1e3",
    "e.data",
    "e.data.x",
    "e.time",
    "e.subject",
    "'/a'",
    "//",
    "/*",
    "*/",
    "\\",
    "é",
    "\n",
    "x",
    "99999999999999999999",
];

const BASES: &[&str] = &[
    "STREAM e FROM events WHERE e.data.email == 'john.doe@example.com' MAP COUNT() == 0",
    "STREAM e FROM events WHERE e.subject UNDER '/user/123' AND e.type == 'transaction-processed' AND e.time >= '2024-01-01T00:00:00Z' MAP SUM(e.data.amount) + 500 <= 10000",
    "STREAM e FROM events WHERE e.subject UNDER '/c' GROUP BY e.data.ticketType HAVING e.data.ticketType == 'premium' MAP COUNT() < 50",
    "STREAM e FROM events WHERE e.type == \"x\" ORDER BY e.time DESC LIMIT 20 MAP { subject: e.subject, firstName: e.data.firstName }",
    "FROM e IN events WHERE e.type == 'x' ORDER BY e.time DESC TOP 5 PROJECT INTO { id: e.id, type: e.type }",
    "STREAM e FROM events WHERE e.data.n IN (1, 2) OR e.data.n BETWEEN 3 AND 4 MAP [e.data.n * 2 % 3, -e.data.n / 0]",
];

fn instants_equal(a: &Value, b: &Value) -> bool {
    let q = format!("STREAM e FROM events MAP {a} == {b}");
    common::run(&q, &[common::event(0, "/x", "t", json!(0))]) == vec![json!(true)]
}

/// Parses `s`; when it parses, evaluates it over a few events and drains
/// the rows. Must neither panic nor hang.
fn exercise(s: &str) {
    let evs = [
        common::event(
            1,
            "/a",
            "x",
            json!({"n": 1, "x": "a", "email": "john.doe@example.com"}),
        ),
        common::event(
            2,
            "/a/b",
            "t",
            json!({"n": 2.5, "x": [1, "a"], "ticketType": "premium"}),
        ),
        common::event(3, "/c", "t", json!(null)),
    ];
    match genesisdb_gdbql::parse(s) {
        Ok(q) => {
            for r in q.rows(evs.iter()).take(100) {
                let _ = r;
            }
            let _ = q.holds_over(evs.iter());
        }
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1, "{e:?}");
            assert!(!e.message.is_empty());
        }
    }
}
