//! Recursive-descent parser: tokens to [`QueryAst`].

use crate::ast::*;
use crate::lexer::{tokenize, Pos, Tok, Token};
use crate::Error;
use serde_json::Value;

/// Deepest nesting of parentheses, brackets, braces, unary operators and
/// calls the parser accepts (bounds its recursion).
pub const MAX_NESTING: u32 = 64;

const KEYWORDS: &[&str] = &[
    "STREAM",
    "FROM",
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
    "TRUE",
    "FALSE",
    "NULL",
    "TOP",
    "PROJECT",
    "INTO",
];

fn is_keyword(w: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(w))
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    alias: String,
    nesting: u32,
    in_agg: bool,
}

pub fn parse_query(src: &str) -> Result<QueryAst, Error> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        alias: String::new(),
        nesting: 0,
        in_agg: false,
    };
    p.query()
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `i` never passes it.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.i + n).min(self.toks.len() - 1)].tok
    }

    fn pos(&self) -> Pos {
        self.peek().pos
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn unexpected(&self, expected: &str) -> Error {
        let t = self.peek();
        t.pos
            .error(format!("expected {expected}, found {}", t.tok.describe()))
    }

    fn expect_kw(&mut self, kw: &str, after: &str) -> Result<(), Error> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected(&format!("{kw} after {after}")))
        }
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<Token, Error> {
        if self.peek().tok == tok {
            Ok(self.advance())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn enter(&mut self) -> Result<(), Error> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.pos().error(format!(
                "query nested too deeply (more than {MAX_NESTING} levels)"
            )));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting = self.nesting.saturating_sub(1);
    }

    // ---- query level -------------------------------------------------

    fn query(&mut self) -> Result<QueryAst, Error> {
        let old_form = if self.eat_kw("STREAM") {
            false
        } else if self.eat_kw("FROM") {
            true
        } else {
            return Err(self.unexpected("STREAM at the start of the query"));
        };
        self.alias = self.alias_name()?;
        if old_form {
            self.expect_kw("IN", &format!("FROM {}", self.alias))?;
        } else {
            self.expect_kw("FROM", &format!("STREAM {}", self.alias))?;
        }
        let src_pos = self.pos();
        match self.advance().tok {
            Tok::Word(w) if w.eq_ignore_ascii_case("events") => {}
            other => {
                return Err(src_pos.error(format!(
                    "expected the source 'events', found {}",
                    other.describe()
                )))
            }
        }

        let mut q = QueryAst {
            alias: self.alias.clone(),
            filter: None,
            group_by: Vec::new(),
            having: None,
            order_by: Vec::new(),
            skip: 0,
            limit: None,
            distinct: false,
            map: None,
            aggregate: false,
        };
        // Clause ranks: WHERE 1; GROUP BY / ORDER BY 2 (either order);
        // SKIP / LIMIT 3 (either order); MAP 4.
        let mut rank = 0u8;
        let (mut seen_group, mut seen_order, mut seen_skip, mut seen_limit) =
            (false, false, false, false);
        loop {
            let pos = self.pos();
            let expected = expected_clauses(rank, seen_group, seen_order, seen_skip, seen_limit);
            let clause = match &self.peek().tok {
                Tok::Eof => break,
                Tok::Word(w) => w.to_ascii_uppercase(),
                _ => return Err(self.unexpected(&expected)),
            };
            let (r, ok) = match clause.as_str() {
                "WHERE" => (1, rank < 1),
                "GROUP" => (2, rank <= 2 && !seen_group),
                "ORDER" => (2, rank <= 2 && !seen_order),
                "SKIP" | "OFFSET" => (3, rank <= 3 && !seen_skip),
                "LIMIT" | "TOP" => (3, rank <= 3 && !seen_limit),
                "MAP" | "PROJECT" => (4, rank < 4),
                _ => return Err(self.unexpected(&expected)),
            };
            if !ok {
                return Err(pos.error(format!("{clause} is not allowed here: expected {expected}")));
            }
            rank = r;
            self.advance();
            match clause.as_str() {
                "WHERE" => {
                    let e = self.expr()?;
                    if let Some(a) = e.find_agg() {
                        return Err(a.pos.error(
                            "aggregate functions are not allowed in WHERE (use MAP or HAVING)",
                        ));
                    }
                    q.filter = Some(e);
                }
                "GROUP" => {
                    seen_group = true;
                    self.expect_kw("BY", "GROUP")?;
                    loop {
                        let e = self.expr()?;
                        if let Some(a) = e.find_agg() {
                            return Err(a
                                .pos
                                .error("aggregate functions are not allowed in GROUP BY"));
                        }
                        q.group_by.push(e);
                        if self.peek().tok != Tok::Comma {
                            break;
                        }
                        self.advance();
                    }
                    if self.eat_kw("HAVING") {
                        q.having = Some(self.expr()?);
                    }
                }
                "ORDER" => {
                    seen_order = true;
                    self.expect_kw("BY", "ORDER")?;
                    loop {
                        let expr = self.expr()?;
                        let desc = if self.eat_kw("DESC") {
                            true
                        } else {
                            self.eat_kw("ASC");
                            false
                        };
                        q.order_by.push(SortKey { expr, desc });
                        if self.peek().tok != Tok::Comma {
                            break;
                        }
                        self.advance();
                    }
                }
                "SKIP" | "OFFSET" => {
                    seen_skip = true;
                    q.skip = self.count(&clause)?;
                }
                "LIMIT" | "TOP" => {
                    seen_limit = true;
                    q.limit = Some(self.count(&clause)?);
                }
                _ => {
                    // MAP or PROJECT INTO
                    if clause == "PROJECT" {
                        self.expect_kw("INTO", "PROJECT")?;
                    }
                    q.distinct = self.eat_kw("DISTINCT");
                    q.map = Some(self.expr()?);
                }
            }
        }
        finish(q)
    }

    fn alias_name(&mut self) -> Result<String, Error> {
        let pos = self.pos();
        match self.advance().tok {
            Tok::Word(w) if !is_keyword(&w) => Ok(w),
            Tok::Word(w) => Err(pos.error(format!(
                "expected a variable name (like e), found the keyword '{w}'"
            ))),
            other => Err(pos.error(format!(
                "expected a variable name (like e), found {}",
                other.describe()
            ))),
        }
    }

    fn count(&mut self, clause: &str) -> Result<u64, Error> {
        let pos = self.pos();
        match self.advance().tok {
            Tok::Num {
                text,
                integer: true,
            } => text
                .parse::<u64>()
                .map_err(|_| pos.error(format!("{clause} value {text} is too large"))),
            other => Err(pos.error(format!(
                "expected a non-negative integer after {clause}, found {}",
                other.describe()
            ))),
        }
    }

    // ---- expressions -------------------------------------------------

    fn expr(&mut self) -> Result<Expr, Error> {
        self.enter()?;
        let r = self.or_expr();
        self.leave();
        r
    }

    fn or_expr(&mut self) -> Result<Expr, Error> {
        let first = self.and_expr()?;
        if !self.is_kw("OR") {
            return Ok(first);
        }
        let pos = first.pos;
        let mut items = vec![first];
        while self.eat_kw("OR") {
            items.push(self.and_expr()?);
        }
        Expr::new(ExprKind::Or(items), pos)
    }

    fn and_expr(&mut self) -> Result<Expr, Error> {
        let first = self.not_expr()?;
        if !self.is_kw("AND") {
            return Ok(first);
        }
        let pos = first.pos;
        let mut items = vec![first];
        while self.eat_kw("AND") {
            items.push(self.not_expr()?);
        }
        Expr::new(ExprKind::And(items), pos)
    }

    fn not_expr(&mut self) -> Result<Expr, Error> {
        if self.is_kw("NOT") {
            let pos = self.advance().pos;
            self.enter()?;
            let inner = self.not_expr();
            self.leave();
            return Expr::new(ExprKind::Unary(UnOp::Not, Box::new(inner?)), pos);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Expr, Error> {
        let left = self.additive()?;
        let e = self.predicate_tail(left)?;
        if self.at_predicate_op() {
            return Err(
                self.unexpected("AND or OR (comparisons do not chain: write a < b AND b < c)")
            );
        }
        Ok(e)
    }

    fn at_predicate_op(&self) -> bool {
        matches!(
            self.peek().tok,
            Tok::EqEq | Tok::NotEq | Tok::Lt | Tok::Le | Tok::Gt | Tok::Ge
        ) || ["IN", "BETWEEN", "UNDER", "DESCENDANTS", "CONTAINS", "LIKE"]
            .iter()
            .any(|k| self.is_kw(k))
            || (self.is_kw("NOT")
                && ["IN", "BETWEEN", "UNDER", "DESCENDANTS", "CONTAINS", "LIKE"]
                    .iter()
                    .any(|k| self.is_kw_at(1, k)))
    }

    fn predicate_tail(&mut self, left: Expr) -> Result<Expr, Error> {
        let op_pos = self.pos();
        let cmp = match self.peek().tok {
            Tok::EqEq => Some(BinOp::Eq),
            Tok::NotEq => Some(BinOp::Ne),
            Tok::Lt => Some(BinOp::Lt),
            Tok::Le => Some(BinOp::Le),
            Tok::Gt => Some(BinOp::Gt),
            Tok::Ge => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = cmp {
            self.advance();
            let right = self.additive()?;
            return Expr::new(
                ExprKind::Binary(op, Box::new(left), Box::new(right)),
                op_pos,
            );
        }
        let negated = self.is_kw("NOT")
            && ["IN", "BETWEEN", "UNDER", "DESCENDANTS", "CONTAINS", "LIKE"]
                .iter()
                .any(|k| self.is_kw_at(1, k));
        if negated {
            self.advance();
        }
        let e = if self.eat_kw("IN") {
            let list = if self.peek().tok == Tok::LParen {
                self.advance();
                self.enter()?;
                let items = self.expr_list(Tok::RParen, "')'");
                self.leave();
                InList::Items(items?)
            } else {
                InList::Value(Box::new(self.additive()?))
            };
            Expr::new(ExprKind::In(Box::new(left), list), op_pos)?
        } else if self.eat_kw("BETWEEN") {
            let lo = self.additive()?;
            self.expect_kw("AND", "the lower bound of BETWEEN")?;
            let hi = self.additive()?;
            Expr::new(
                ExprKind::Between(Box::new(left), Box::new(lo), Box::new(hi)),
                op_pos,
            )?
        } else {
            let op = if self.eat_kw("UNDER") {
                BinOp::Under
            } else if self.eat_kw("DESCENDANTS") {
                BinOp::Descendants
            } else if self.eat_kw("CONTAINS") {
                BinOp::Contains
            } else if self.eat_kw("LIKE") {
                BinOp::Like
            } else {
                return Ok(left);
            };
            let right = self.additive()?;
            Expr::new(
                ExprKind::Binary(op, Box::new(left), Box::new(right)),
                op_pos,
            )?
        };
        if negated {
            Expr::new(ExprKind::Unary(UnOp::Not, Box::new(e)), op_pos)
        } else {
            Ok(e)
        }
    }

    fn additive(&mut self) -> Result<Expr, Error> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(left),
            };
            let pos = self.advance().pos;
            let right = self.multiplicative()?;
            left = Expr::new(ExprKind::Binary(op, Box::new(left), Box::new(right)), pos)?;
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, Error> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Rem,
                _ => return Ok(left),
            };
            let pos = self.advance().pos;
            let right = self.unary()?;
            left = Expr::new(ExprKind::Binary(op, Box::new(left), Box::new(right)), pos)?;
        }
    }

    fn unary(&mut self) -> Result<Expr, Error> {
        let op = match self.peek().tok {
            Tok::Minus => UnOp::Neg,
            Tok::Plus => UnOp::Plus,
            _ => return self.postfix(),
        };
        let pos = self.advance().pos;
        self.enter()?;
        let inner = self.unary();
        self.leave();
        Expr::new(ExprKind::Unary(op, Box::new(inner?)), pos)
    }

    fn postfix(&mut self) -> Result<Expr, Error> {
        let mut e = self.primary()?;
        loop {
            match self.peek().tok {
                Tok::Dot => {
                    self.advance();
                    let pos = self.pos();
                    match self.advance().tok {
                        Tok::Word(name) => {
                            e = Expr::new(ExprKind::Field(Box::new(e), name), pos)?;
                        }
                        other => {
                            return Err(pos.error(format!(
                                "expected a field name after '.', found {}",
                                other.describe()
                            )))
                        }
                    }
                }
                Tok::LBracket => {
                    let pos = self.advance().pos;
                    let idx = self.expr()?;
                    self.expect(Tok::RBracket, "']'")?;
                    e = Expr::new(ExprKind::Index(Box::new(e), Box::new(idx)), pos)?;
                }
                _ => return Ok(e),
            }
        }
    }

    /// Comma-separated expressions up to `close` (a trailing comma is allowed).
    fn expr_list(&mut self, close: Tok, close_name: &str) -> Result<Vec<Expr>, Error> {
        let mut items = Vec::new();
        loop {
            if self.peek().tok == close {
                self.advance();
                return Ok(items);
            }
            items.push(self.expr()?);
            if self.peek().tok == Tok::Comma {
                self.advance();
            } else if self.peek().tok == close {
                self.advance();
                return Ok(items);
            } else {
                return Err(self.unexpected(&format!("',' or {close_name}")));
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, Error> {
        let tok = self.advance();
        let pos = tok.pos;
        match tok.tok {
            Tok::Num { text, integer } => {
                Expr::new(ExprKind::Lit(number(&text, integer, pos)?), pos)
            }
            Tok::Str(s) => Expr::new(ExprKind::Lit(Value::String(s)), pos),
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::LBracket => {
                self.enter()?;
                let items = self.expr_list(Tok::RBracket, "']'");
                self.leave();
                Expr::new(ExprKind::Array(items?), pos)
            }
            Tok::LBrace => {
                self.enter()?;
                let members = self.object_members();
                self.leave();
                Expr::new(ExprKind::Object(members?), pos)
            }
            Tok::Word(w) => {
                if self.peek().tok == Tok::LParen {
                    return self.call(w, pos);
                }
                if w.eq_ignore_ascii_case("true") {
                    Expr::new(ExprKind::Lit(Value::Bool(true)), pos)
                } else if w.eq_ignore_ascii_case("false") {
                    Expr::new(ExprKind::Lit(Value::Bool(false)), pos)
                } else if w.eq_ignore_ascii_case("null") {
                    Expr::new(ExprKind::Lit(Value::Null), pos)
                } else if w == self.alias {
                    Expr::new(ExprKind::Alias, pos)
                } else if is_keyword(&w) {
                    Err(pos.error(format!("expected an expression, found the keyword '{w}'")))
                } else {
                    Err(pos.error(format!(
                        "unknown name '{w}': expected an expression over the variable '{}' (like {}.data.x)",
                        self.alias, self.alias
                    )))
                }
            }
            other => Err(pos.error(format!(
                "expected an expression, found {}",
                other.describe()
            ))),
        }
    }

    fn object_members(&mut self) -> Result<Vec<(String, Expr)>, Error> {
        let mut members: Vec<(String, Expr)> = Vec::new();
        loop {
            let kpos = self.pos();
            let key = match self.advance().tok {
                Tok::RBrace => return Ok(members),
                Tok::Word(w) => w,
                Tok::Str(s) => s,
                other => {
                    return Err(kpos.error(format!(
                        "expected a key or '}}' in the object, found {}",
                        other.describe()
                    )))
                }
            };
            self.expect(Tok::Colon, &format!("':' after the key '{key}'"))?;
            let value = self.expr()?;
            if let Some(slot) = members.iter_mut().find(|(k, _)| *k == key) {
                slot.1 = value;
            } else {
                members.push((key, value));
            }
            match self.peek().tok {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RBrace => {
                    self.advance();
                    return Ok(members);
                }
                _ => return Err(self.unexpected("',' or '}' in the object")),
            }
        }
    }

    fn call(&mut self, name: String, pos: Pos) -> Result<Expr, Error> {
        self.advance(); // '('
        if let Some(f) = AggFn::from_name(&name) {
            if self.in_agg {
                return Err(pos.error(format!(
                    "aggregate {name}() cannot be nested inside another aggregate"
                )));
            }
            self.in_agg = true;
            self.enter()?;
            let args = self.expr_list(Tok::RParen, "')'");
            self.leave();
            self.in_agg = false;
            let mut args = args?;
            let arg = match (f, args.len()) {
                (AggFn::Count, 0) => None,
                (_, 1) => args.pop().map(Box::new),
                (AggFn::Count, _) => {
                    return Err(pos.error(format!(
                        "{name}() takes zero or one argument, found {}",
                        args.len()
                    )))
                }
                _ => {
                    return Err(pos.error(format!(
                        "{name}() takes exactly one argument, found {}",
                        args.len()
                    )))
                }
            };
            return Expr::new(ExprKind::Agg(f, arg), pos);
        }
        if let Some(f) = ScalarFn::from_name(&name) {
            self.enter()?;
            let args = self.expr_list(Tok::RParen, "')'");
            self.leave();
            let args = args?;
            let (lo, hi) = f.arity();
            if args.len() < lo || args.len() > hi {
                return Err(pos.error(format!(
                    "{name}() takes {} argument{}, found {}",
                    lo,
                    if lo == 1 { "" } else { "s" },
                    args.len()
                )));
            }
            return Expr::new(ExprKind::Call(f, args), pos);
        }
        Err(pos.error(format!(
            "unknown function '{name}': expected COUNT, SUM, AVG, MIN, MAX, CONCAT, LOWER, UPPER or LENGTH"
        )))
    }
}

fn number(text: &str, integer: bool, pos: Pos) -> Result<Value, Error> {
    if integer {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = text.parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
    }
    let f: f64 = text
        .parse()
        .map_err(|_| pos.error(format!("invalid number {text}")))?;
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| pos.error(format!("number {text} is out of range")))
}

fn expected_clauses(rank: u8, group: bool, order: bool, skip: bool, limit: bool) -> String {
    let mut v: Vec<&str> = Vec::new();
    if rank > 0 {
        v.push("an operator");
    }
    if rank < 1 {
        v.push("WHERE");
    }
    if rank <= 2 && !group {
        v.push("GROUP BY");
    }
    if rank <= 2 && !order {
        v.push("ORDER BY");
    }
    if rank <= 3 && !skip {
        v.push("SKIP");
    }
    if rank <= 3 && !limit {
        v.push("LIMIT");
    }
    if rank < 4 {
        v.push("MAP");
    }
    v.push("end of query");
    let last = v.pop().unwrap_or("end of query");
    if v.is_empty() {
        last.to_string()
    } else {
        format!("{} or {last}", v.join(", "))
    }
}

/// Decides the evaluation mode and binds GROUP BY keys in MAP, HAVING and
/// ORDER BY.
fn finish(mut q: QueryAst) -> Result<QueryAst, Error> {
    q.aggregate = !q.group_by.is_empty()
        || q.map.as_ref().is_some_and(Expr::has_agg)
        || q.having.as_ref().is_some_and(Expr::has_agg)
        || q.order_by.iter().any(|k| k.expr.has_agg());
    if !q.aggregate {
        return Ok(q);
    }
    if q.group_by.is_empty() && q.map.is_none() {
        if let Some(a) = q.order_by.iter().find_map(|k| k.expr.find_agg()) {
            return Err(a
                .pos
                .error("an aggregate in ORDER BY needs GROUP BY or an aggregate in MAP"));
        }
    }
    let keys = std::mem::take(&mut q.group_by);
    if let Some(m) = q.map.take() {
        q.map = Some(bind_keys(m, &keys, &q.alias)?);
    }
    if let Some(h) = q.having.take() {
        q.having = Some(bind_keys(h, &keys, &q.alias)?);
    }
    let order = std::mem::take(&mut q.order_by);
    for k in order {
        q.order_by.push(SortKey {
            expr: bind_keys(k.expr, &keys, &q.alias)?,
            desc: k.desc,
        });
    }
    q.group_by = keys;
    Ok(q)
}

/// Replaces every subtree equal to a GROUP BY key by [`ExprKind::GroupKey`];
/// fails on a use of the alias that is neither inside an aggregate nor part
/// of a key.
fn bind_keys(e: Expr, keys: &[Expr], alias: &str) -> Result<Expr, Error> {
    if let Some(i) = keys.iter().position(|k| k.same(&e)) {
        return Expr::new(ExprKind::GroupKey(i), e.pos);
    }
    let pos = e.pos;
    let b =
        |x: Box<Expr>| -> Result<Box<Expr>, Error> { Ok(Box::new(bind_keys(*x, keys, alias)?)) };
    let v = |xs: Vec<Expr>| -> Result<Vec<Expr>, Error> {
        xs.into_iter().map(|x| bind_keys(x, keys, alias)).collect()
    };
    let kind = match e.kind {
        ExprKind::Alias => {
            return Err(pos.error(format!(
                "'{alias}' is used outside an aggregate: with GROUP BY or an aggregate, fields of '{alias}' may only appear inside COUNT/SUM/AVG/MIN/MAX or as a GROUP BY key"
            )))
        }
        k @ (ExprKind::Lit(_) | ExprKind::GroupKey(_) | ExprKind::Agg(..)) => k,
        ExprKind::Field(x, n) => ExprKind::Field(b(x)?, n),
        ExprKind::Index(x, i) => ExprKind::Index(b(x)?, b(i)?),
        ExprKind::Object(m) => ExprKind::Object(
            m.into_iter()
                .map(|(k, x)| Ok((k, bind_keys(x, keys, alias)?)))
                .collect::<Result<_, Error>>()?,
        ),
        ExprKind::Array(xs) => ExprKind::Array(v(xs)?),
        ExprKind::And(xs) => ExprKind::And(v(xs)?),
        ExprKind::Or(xs) => ExprKind::Or(v(xs)?),
        ExprKind::Call(f, xs) => ExprKind::Call(f, v(xs)?),
        ExprKind::Unary(o, x) => ExprKind::Unary(o, b(x)?),
        ExprKind::Binary(o, x, y) => ExprKind::Binary(o, b(x)?, b(y)?),
        ExprKind::In(x, InList::Items(xs)) => ExprKind::In(b(x)?, InList::Items(v(xs)?)),
        ExprKind::In(x, InList::Value(y)) => ExprKind::In(b(x)?, InList::Value(b(y)?)),
        ExprKind::Between(x, y, z) => ExprKind::Between(b(x)?, b(y)?, b(z)?),
    };
    Expr::new(kind, pos)
}
