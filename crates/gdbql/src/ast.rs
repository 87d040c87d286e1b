//! The syntax tree of a parsed query.

use crate::lexer::Pos;
use serde_json::Value;

/// Deepest expression tree the parser builds (keeps evaluation, cloning and
/// dropping far away from the stack limit).
pub const MAX_TREE_DEPTH: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    Count,
    Sum,
    Avg,
    Min,
    Max,
}

impl AggFn {
    pub fn from_name(name: &str) -> Option<AggFn> {
        Some(match name.to_ascii_uppercase().as_str() {
            "COUNT" => AggFn::Count,
            "SUM" => AggFn::Sum,
            "AVG" => AggFn::Avg,
            "MIN" => AggFn::Min,
            "MAX" => AggFn::Max,
            _ => return None,
        })
    }
}

/// Scalar (per-row) functions; local-server extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarFn {
    Concat,
    Lower,
    Upper,
    Length,
}

impl ScalarFn {
    pub fn from_name(name: &str) -> Option<ScalarFn> {
        Some(match name.to_ascii_uppercase().as_str() {
            "CONCAT" => ScalarFn::Concat,
            "LOWER" => ScalarFn::Lower,
            "UPPER" => ScalarFn::Upper,
            "LENGTH" | "LEN" => ScalarFn::Length,
            _ => return None,
        })
    }

    /// (min, max) number of arguments.
    pub fn arity(self) -> (usize, usize) {
        match self {
            ScalarFn::Concat => (0, usize::MAX),
            ScalarFn::Lower | ScalarFn::Upper | ScalarFn::Length => (1, 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Under,
    Descendants,
    Contains,
    Like,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Plus,
    Not,
}

#[derive(Debug, Clone)]
pub enum InList {
    /// `x IN (a, b)` or `x IN [a, b]`.
    Items(Vec<Expr>),
    /// `x IN e.data.tags`: membership in an array value.
    Value(Box<Expr>),
}

#[derive(Debug, Clone)]
pub enum ExprKind {
    Lit(Value),
    /// The stream alias (`e`).
    Alias,
    Field(Box<Expr>, String),
    Index(Box<Expr>, Box<Expr>),
    Object(Vec<(String, Expr)>),
    Array(Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    In(Box<Expr>, InList),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    Call(ScalarFn, Vec<Expr>),
    Agg(AggFn, Option<Box<Expr>>),
    /// In aggregate mode: the value of the i-th GROUP BY key.
    GroupKey(usize),
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
    pub depth: u32,
}

impl Expr {
    /// Builds a node, failing when the tree would get deeper than
    /// [`MAX_TREE_DEPTH`].
    pub fn new(kind: ExprKind, pos: Pos) -> Result<Expr, crate::Error> {
        let mut depth = 0;
        kind.for_each_child(|c| depth = depth.max(c.depth));
        let depth = depth + 1;
        if depth > MAX_TREE_DEPTH {
            return Err(pos.error(format!(
                "expression too deep (more than {MAX_TREE_DEPTH} levels)"
            )));
        }
        Ok(Expr { kind, pos, depth })
    }

    /// Structural equality, ignoring positions (used to match GROUP BY keys).
    pub fn same(&self, other: &Expr) -> bool {
        use ExprKind::*;
        match (&self.kind, &other.kind) {
            (Lit(a), Lit(b)) => a == b,
            (Alias, Alias) => true,
            (Field(a, x), Field(b, y)) => x == y && a.same(b),
            (Index(a, i), Index(b, j)) => a.same(b) && i.same(j),
            (Object(a), Object(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((k1, v1), (k2, v2))| k1 == k2 && v1.same(v2))
            }
            (Array(a), Array(b)) | (And(a), And(b)) | (Or(a), Or(b)) => all_same(a, b),
            (Unary(o1, a), Unary(o2, b)) => o1 == o2 && a.same(b),
            (Binary(o1, a1, b1), Binary(o2, a2, b2)) => o1 == o2 && a1.same(a2) && b1.same(b2),
            (In(a, l1), In(b, l2)) => {
                a.same(b)
                    && match (l1, l2) {
                        (InList::Items(x), InList::Items(y)) => all_same(x, y),
                        (InList::Value(x), InList::Value(y)) => x.same(y),
                        _ => false,
                    }
            }
            (Between(a1, b1, c1), Between(a2, b2, c2)) => a1.same(a2) && b1.same(b2) && c1.same(c2),
            (Call(f1, a), Call(f2, b)) => f1 == f2 && all_same(a, b),
            (Agg(f1, a), Agg(f2, b)) => {
                f1 == f2
                    && match (a, b) {
                        (None, None) => true,
                        (Some(a), Some(b)) => a.same(b),
                        _ => false,
                    }
            }
            (GroupKey(a), GroupKey(b)) => a == b,
            _ => false,
        }
    }

    /// True when an aggregate call occurs anywhere in the expression.
    pub fn has_agg(&self) -> bool {
        if matches!(self.kind, ExprKind::Agg(..)) {
            return true;
        }
        let mut found = false;
        self.kind.for_each_child(|c| found = found || c.has_agg());
        found
    }

    /// The first aggregate call in the expression, if any.
    pub fn find_agg(&self) -> Option<&Expr> {
        if matches!(self.kind, ExprKind::Agg(..)) {
            return Some(self);
        }
        let mut found = None;
        self.kind.for_each_child(|c| {
            if found.is_none() {
                found = c.find_agg();
            }
        });
        found
    }
}

fn all_same(a: &[Expr], b: &[Expr]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same(y))
}

impl ExprKind {
    pub fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a Expr)) {
        use ExprKind::*;
        match self {
            Lit(_) | Alias | GroupKey(_) | Agg(_, None) => {}
            Field(a, _) | Unary(_, a) | Agg(_, Some(a)) => f(a),
            Index(a, b) | Binary(_, a, b) => {
                f(a);
                f(b);
            }
            Object(m) => m.iter().for_each(|(_, v)| f(v)),
            Array(v) | And(v) | Or(v) | Call(_, v) => v.iter().for_each(f),
            In(a, l) => {
                f(a);
                match l {
                    InList::Items(v) => v.iter().for_each(f),
                    InList::Value(b) => f(b),
                }
            }
            Between(a, b, c) => {
                f(a);
                f(b);
                f(c);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct SortKey {
    pub expr: Expr,
    pub desc: bool,
}

/// A whole query.
#[derive(Debug, Clone)]
pub struct QueryAst {
    pub alias: String,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub order_by: Vec<SortKey>,
    pub skip: u64,
    pub limit: Option<u64>,
    pub distinct: bool,
    pub map: Option<Expr>,
    /// GROUP BY present or an aggregate in MAP, HAVING or ORDER BY.
    pub aggregate: bool,
}
