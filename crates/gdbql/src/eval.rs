//! Expression evaluation over one event (row mode) or one group (aggregate mode).

use crate::ast::*;
use crate::value::*;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

static NULL: Value = Value::Null;

/// What an expression is evaluated against.
#[derive(Clone, Copy)]
pub enum Ctx<'v> {
    /// One event, bound to the alias.
    Row(&'v Value),
    /// One group: its key values and its member events.
    Group {
        keys: &'v [Value],
        members: &'v [&'v Value],
    },
}

fn truth(v: &Value) -> bool {
    matches!(v, Value::Bool(true))
}

fn owned<'v>(v: Value) -> Cow<'v, Value> {
    Cow::Owned(v)
}

fn boolean<'v>(b: bool) -> Cow<'v, Value> {
    Cow::Owned(Value::Bool(b))
}

/// Evaluates `e`; never fails: type mismatches give `null` or `false` as the
/// spec says.
pub fn eval<'v>(e: &'v Expr, ctx: Ctx<'v>) -> Cow<'v, Value> {
    match &e.kind {
        ExprKind::Lit(v) => Cow::Borrowed(v),
        ExprKind::Alias => match ctx {
            Ctx::Row(ev) => Cow::Borrowed(ev),
            Ctx::Group { .. } => Cow::Borrowed(&NULL),
        },
        ExprKind::GroupKey(i) => match ctx {
            Ctx::Group { keys, .. } => keys
                .get(*i)
                .map(Cow::Borrowed)
                .unwrap_or(Cow::Borrowed(&NULL)),
            Ctx::Row(_) => Cow::Borrowed(&NULL),
        },
        ExprKind::Field(base, name) => match eval(base, ctx) {
            Cow::Borrowed(v) => Cow::Borrowed(v.get(name.as_str()).unwrap_or(&NULL)),
            Cow::Owned(Value::Object(mut m)) => {
                owned(m.swap_remove(name.as_str()).unwrap_or(Value::Null))
            }
            Cow::Owned(_) => Cow::Borrowed(&NULL),
        },
        ExprKind::Index(base, idx) => {
            let i = eval(idx, ctx);
            let b = eval(base, ctx);
            index(b, &i)
        }
        ExprKind::Object(members) => {
            let mut m = Map::with_capacity(members.len());
            for (k, x) in members {
                m.insert(k.clone(), eval(x, ctx).into_owned());
            }
            owned(Value::Object(m))
        }
        ExprKind::Array(items) => owned(Value::Array(
            items.iter().map(|x| eval(x, ctx).into_owned()).collect(),
        )),
        ExprKind::And(items) => boolean(items.iter().all(|x| truth(&eval(x, ctx)))),
        ExprKind::Or(items) => boolean(items.iter().any(|x| truth(&eval(x, ctx)))),
        ExprKind::Unary(op, x) => {
            let v = eval(x, ctx);
            match op {
                UnOp::Not => boolean(!truth(&v)),
                UnOp::Plus => match num_of(&v) {
                    Some(n) => owned(num_value(n)),
                    None => Cow::Borrowed(&NULL),
                },
                UnOp::Neg => match num_of(&v) {
                    Some(Num::I(i)) => owned(num_value(Num::I(-i))),
                    Some(Num::F(f)) => owned(num_value(Num::F(-f))),
                    None => Cow::Borrowed(&NULL),
                },
            }
        }
        ExprKind::Binary(op, a, b) => {
            let x = eval(a, ctx);
            let y = eval(b, ctx);
            owned(binary(*op, &x, &y))
        }
        ExprKind::In(x, list) => {
            let v = eval(x, ctx);
            let found = match list {
                InList::Items(items) => items.iter().any(|i| loose_eq(&v, &eval(i, ctx))),
                InList::Value(arr) => match &*eval(arr, ctx) {
                    Value::Array(a) => a.iter().any(|i| loose_eq(&v, i)),
                    _ => false,
                },
            };
            boolean(found)
        }
        ExprKind::Between(x, lo, hi) => {
            let v = eval(x, ctx);
            let l = eval(lo, ctx);
            let h = eval(hi, ctx);
            let ok = matches!(
                cmp_values(&v, &l),
                Some(Ordering::Greater | Ordering::Equal)
            ) && matches!(cmp_values(&v, &h), Some(Ordering::Less | Ordering::Equal));
            boolean(ok)
        }
        ExprKind::Call(f, args) => owned(call(*f, args, ctx)),
        ExprKind::Agg(f, arg) => match ctx {
            Ctx::Group { members, .. } => owned(aggregate(*f, arg.as_deref(), members)),
            Ctx::Row(_) => Cow::Borrowed(&NULL),
        },
    }
}

fn index<'v>(base: Cow<'v, Value>, i: &Value) -> Cow<'v, Value> {
    match (base, i) {
        (Cow::Borrowed(Value::Object(m)), Value::String(k)) => {
            Cow::Borrowed(m.get(k).unwrap_or(&NULL))
        }
        (Cow::Owned(Value::Object(mut m)), Value::String(k)) => {
            owned(m.swap_remove(k).unwrap_or(Value::Null))
        }
        (b @ (Cow::Borrowed(Value::Array(_)) | Cow::Owned(Value::Array(_))), Value::Number(_)) => {
            let pos = match num_of(i) {
                Some(Num::I(n)) => usize::try_from(n).ok(),
                Some(Num::F(f)) if f.fract() == 0.0 && (0.0..1e15).contains(&f) => Some(f as usize),
                _ => None,
            };
            match (b, pos) {
                (Cow::Borrowed(Value::Array(a)), Some(p)) => {
                    Cow::Borrowed(a.get(p).unwrap_or(&NULL))
                }
                (Cow::Owned(Value::Array(mut a)), Some(p)) if p < a.len() => {
                    owned(a.swap_remove(p))
                }
                _ => Cow::Borrowed(&NULL),
            }
        }
        _ => Cow::Borrowed(&NULL),
    }
}

fn binary(op: BinOp, x: &Value, y: &Value) -> Value {
    match op {
        BinOp::Eq => Value::Bool(loose_eq(x, y)),
        BinOp::Ne => Value::Bool(!loose_eq(x, y)),
        BinOp::Lt => Value::Bool(cmp_values(x, y) == Some(Ordering::Less)),
        BinOp::Le => Value::Bool(matches!(
            cmp_values(x, y),
            Some(Ordering::Less | Ordering::Equal)
        )),
        BinOp::Gt => Value::Bool(cmp_values(x, y) == Some(Ordering::Greater)),
        BinOp::Ge => Value::Bool(matches!(
            cmp_values(x, y),
            Some(Ordering::Greater | Ordering::Equal)
        )),
        BinOp::Under => Value::Bool(match (x, y) {
            (Value::String(s), Value::String(p)) => under(s, p),
            _ => false,
        }),
        BinOp::Descendants => Value::Bool(match (x, y) {
            (Value::String(s), Value::String(p)) => descendant(s, p),
            _ => false,
        }),
        BinOp::Like => Value::Bool(match (x, y) {
            (Value::String(s), Value::String(p)) => like(s, p),
            _ => false,
        }),
        BinOp::Contains => Value::Bool(match (x, y) {
            (Value::Array(a), _) => a.iter().any(|i| loose_eq(i, y)),
            (Value::String(s), Value::String(p)) => s.contains(p.as_str()),
            _ => false,
        }),
        BinOp::Add => match (x, y) {
            (Value::String(_), Value::String(_) | Value::Number(_))
            | (Value::Number(_), Value::String(_)) => match (concat_text(x), concat_text(y)) {
                (Some(a), Some(b)) => Value::String(a + &b),
                _ => Value::Null,
            },
            _ => arith(op, x, y),
        },
        BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => arith(op, x, y),
    }
}

fn arith(op: BinOp, x: &Value, y: &Value) -> Value {
    let (Some(a), Some(b)) = (num_of(x), num_of(y)) else {
        return Value::Null;
    };
    if let (Num::I(p), Num::I(q)) = (a, b) {
        let r = match op {
            BinOp::Add => p.checked_add(q),
            BinOp::Sub => p.checked_sub(q),
            BinOp::Mul => p.checked_mul(q),
            BinOp::Rem => {
                if q == 0 {
                    return Value::Null;
                }
                p.checked_rem(q)
            }
            _ => None,
        };
        if let Some(r) = r {
            return num_value(Num::I(r));
        }
    }
    let (p, q) = (a.as_f64(), b.as_f64());
    let r = match op {
        BinOp::Add => p + q,
        BinOp::Sub => p - q,
        BinOp::Mul => p * q,
        BinOp::Div => {
            if q == 0.0 {
                return Value::Null;
            }
            p / q
        }
        BinOp::Rem => {
            if q == 0.0 {
                return Value::Null;
            }
            p % q
        }
        _ => return Value::Null,
    };
    num_value(Num::F(r))
}

fn call<'v>(f: ScalarFn, args: &'v [Expr], ctx: Ctx<'v>) -> Value {
    match f {
        ScalarFn::Concat => {
            let mut s = String::new();
            for a in args {
                let v = eval(a, ctx);
                match &*v {
                    Value::Null => {}
                    Value::String(x) => s.push_str(x),
                    other => match concat_text(other) {
                        Some(t) => s.push_str(&t),
                        None => s.push_str(&other.to_string()),
                    },
                }
            }
            Value::String(s)
        }
        ScalarFn::Lower | ScalarFn::Upper | ScalarFn::Length => {
            let Some(a) = args.first() else {
                return Value::Null;
            };
            let v = eval(a, ctx);
            match (f, &*v) {
                (ScalarFn::Lower, Value::String(s)) => Value::String(s.to_lowercase()),
                (ScalarFn::Upper, Value::String(s)) => Value::String(s.to_uppercase()),
                (ScalarFn::Length, Value::String(s)) => Value::from(s.chars().count()),
                (ScalarFn::Length, Value::Array(a)) => Value::from(a.len()),
                (ScalarFn::Length, Value::Object(m)) => Value::from(m.len()),
                _ => Value::Null,
            }
        }
    }
}

/// Computes an aggregate over the members of a group.
pub fn aggregate(f: AggFn, arg: Option<&Expr>, members: &[&Value]) -> Value {
    let vals = || {
        members
            .iter()
            .map(move |ev| arg.map(|a| eval(a, Ctx::Row(ev))))
    };
    match f {
        AggFn::Count => {
            let n = match arg {
                None => members.len(),
                Some(_) => vals()
                    .filter(|v| match v.as_deref() {
                        Some(Value::Bool(b)) => *b,
                        Some(Value::Null) | None => false,
                        Some(_) => true,
                    })
                    .count(),
            };
            Value::from(n)
        }
        AggFn::Sum | AggFn::Avg => {
            let mut int_sum: i128 = 0;
            let mut int_ok = true;
            let mut float_sum = 0.0f64;
            let mut n = 0u64;
            for v in vals() {
                let Some(num) = v.as_deref().and_then(num_of) else {
                    continue;
                };
                n += 1;
                float_sum += num.as_f64();
                match num {
                    Num::I(i) if int_ok => match int_sum.checked_add(i) {
                        Some(s) => int_sum = s,
                        None => int_ok = false,
                    },
                    Num::F(x) if int_ok && x.fract() == 0.0 && x.abs() < 9.0e15 => {
                        match int_sum.checked_add(x as i128) {
                            Some(s) => int_sum = s,
                            None => int_ok = false,
                        }
                    }
                    _ => int_ok = false,
                }
            }
            match f {
                AggFn::Sum if int_ok => num_value(Num::I(int_sum)),
                AggFn::Sum => num_value(Num::F(float_sum)),
                _ if n == 0 => Value::Null,
                _ if int_ok => num_value(Num::F(int_sum as f64 / n as f64)),
                _ => num_value(Num::F(float_sum / n as f64)),
            }
        }
        AggFn::Min | AggFn::Max => {
            let mut best: Option<Value> = None;
            for v in vals() {
                let Some(v) = v else { continue };
                if v.is_null() {
                    continue;
                }
                let better = match &best {
                    None => true,
                    Some(b) => {
                        let o = sort_cmp(&v, b);
                        if f == AggFn::Min {
                            o == Ordering::Less
                        } else {
                            o == Ordering::Greater
                        }
                    }
                };
                if better {
                    best = Some(v.into_owned());
                }
            }
            best.map(normalise_number).unwrap_or(Value::Null)
        }
    }
}

/// WHERE / HAVING: kept only when the predicate is exactly `true`.
pub fn holds<'v>(e: &'v Expr, ctx: Ctx<'v>) -> bool {
    truth(&eval(e, ctx))
}
