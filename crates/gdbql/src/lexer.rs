//! Lexer: turns query text into tokens with 1-based line/column positions.

use crate::Error;

/// A position in the query text (1-based line and column, columns count chars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub fn error(self, message: impl Into<String>) -> Error {
        Error {
            line: self.line,
            column: self.column,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A word: identifier, keyword or function name (keywords are matched
    /// case-insensitively by the parser).
    Word(String),
    Str(String),
    /// A number literal; `integer` is true when it had no fraction or exponent.
    Num {
        text: String,
        integer: bool,
    },
    Dot,
    Comma,
    Colon,
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Eof,
}

impl Tok {
    /// How the token is named in error messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("'{w}'"),
            Tok::Str(s) => {
                let short: String = s.chars().take(30).collect();
                if short.len() < s.len() {
                    format!("string '{short}…'")
                } else {
                    format!("string '{short}'")
                }
            }
            Tok::Num { text, .. } => format!("number {text}"),
            Tok::Dot => "'.'".into(),
            Tok::Comma => "','".into(),
            Tok::Colon => "':'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::LBracket => "'['".into(),
            Tok::RBracket => "']'".into(),
            Tok::LBrace => "'{'".into(),
            Tok::RBrace => "'}'".into(),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Star => "'*'".into(),
            Tok::Slash => "'/'".into(),
            Tok::Percent => "'%'".into(),
            Tok::EqEq => "'=='".into(),
            Tok::NotEq => "'!='".into(),
            Tok::Lt => "'<'".into(),
            Tok::Le => "'<='".into(),
            Tok::Gt => "'>'".into(),
            Tok::Ge => "'>='".into(),
            Tok::Eof => "end of query".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

struct Cursor<'s> {
    chars: std::iter::Peekable<std::str::Chars<'s>>,
    line: usize,
    column: usize,
}

impl Cursor<'_> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }
}

fn is_word_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_word_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Splits `src` into tokens; the last token is always [`Tok::Eof`].
pub fn tokenize(src: &str) -> Result<Vec<Token>, Error> {
    let mut cur = Cursor {
        chars: src.chars().peekable(),
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    loop {
        // Skip whitespace and comments.
        loop {
            match cur.peek() {
                Some(c) if c.is_whitespace() => {
                    cur.bump();
                }
                Some('/') => {
                    let mut look = cur.chars.clone();
                    look.next();
                    match look.next() {
                        Some('/') => {
                            while let Some(c) = cur.peek() {
                                if c == '\n' {
                                    break;
                                }
                                cur.bump();
                            }
                        }
                        Some('*') => {
                            let start = cur.pos();
                            cur.bump();
                            cur.bump();
                            let mut closed = false;
                            while let Some(c) = cur.bump() {
                                if c == '*' && cur.eat('/') {
                                    closed = true;
                                    break;
                                }
                            }
                            if !closed {
                                return Err(start.error("unterminated comment: expected '*/'"));
                            }
                        }
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        let pos = cur.pos();
        let Some(c) = cur.bump() else {
            out.push(Token { tok: Tok::Eof, pos });
            return Ok(out);
        };
        let tok = match c {
            '.' => Tok::Dot,
            ',' => Tok::Comma,
            ':' => Tok::Colon,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '%' => Tok::Percent,
            '=' => {
                // `==`, and `=` as a lenient alias.
                cur.eat('=');
                Tok::EqEq
            }
            '!' => {
                if cur.eat('=') {
                    Tok::NotEq
                } else {
                    return Err(pos.error("unexpected '!': expected '!=' (use NOT for negation)"));
                }
            }
            '<' => {
                if cur.eat('=') {
                    Tok::Le
                } else if cur.eat('>') {
                    Tok::NotEq
                } else {
                    Tok::Lt
                }
            }
            '>' => {
                if cur.eat('=') {
                    Tok::Ge
                } else {
                    Tok::Gt
                }
            }
            '\'' | '"' => Tok::Str(lex_string(&mut cur, c, pos)?),
            c if c.is_ascii_digit() => lex_number(&mut cur, c)?,
            c if is_word_start(c) => {
                let mut w = String::new();
                w.push(c);
                while let Some(c) = cur.peek() {
                    if !is_word_char(c) {
                        break;
                    }
                    w.push(c);
                    cur.bump();
                }
                Tok::Word(w)
            }
            other => {
                return Err(pos.error(format!("unexpected character {other:?}")));
            }
        };
        out.push(Token { tok, pos });
    }
}

fn lex_string(cur: &mut Cursor<'_>, quote: char, start: Pos) -> Result<String, Error> {
    let mut s = String::new();
    loop {
        let esc_pos = cur.pos();
        let Some(c) = cur.bump() else {
            return Err(start.error(format!("unterminated string: expected closing {quote}")));
        };
        if c == quote {
            return Ok(s);
        }
        if c != '\\' {
            s.push(c);
            continue;
        }
        let Some(e) = cur.bump() else {
            return Err(start.error(format!("unterminated string: expected closing {quote}")));
        };
        match e {
            '\'' | '"' | '\\' | '/' => s.push(e),
            'n' => s.push('\n'),
            't' => s.push('\t'),
            'r' => s.push('\r'),
            'b' => s.push('\u{8}'),
            'f' => s.push('\u{c}'),
            'u' => {
                let hi = lex_hex4(cur, esc_pos)?;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by `\uDC00`..`\uDFFF`.
                    if !(cur.eat('\\') && cur.eat('u')) {
                        return Err(esc_pos.error("invalid \\u escape: lone surrogate"));
                    }
                    let lo = lex_hex4(cur, esc_pos)?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return Err(esc_pos.error("invalid \\u escape: lone surrogate"));
                    }
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    char::from_u32(code)
                } else {
                    char::from_u32(hi)
                };
                match ch {
                    Some(ch) => s.push(ch),
                    None => return Err(esc_pos.error("invalid \\u escape: lone surrogate")),
                }
            }
            other => {
                return Err(esc_pos.error(format!(
                    "invalid escape \\{other}: expected one of \\' \\\" \\\\ \\/ \\n \\t \\r \\b \\f \\uXXXX"
                )))
            }
        }
    }
}

fn lex_hex4(cur: &mut Cursor<'_>, esc_pos: Pos) -> Result<u32, Error> {
    let mut v = 0u32;
    for _ in 0..4 {
        let d = cur.peek().and_then(|c| c.to_digit(16));
        match d {
            Some(d) => {
                cur.bump();
                v = v * 16 + d;
            }
            None => {
                return Err(esc_pos.error("invalid \\u escape: expected four hex digits"));
            }
        }
    }
    Ok(v)
}

fn lex_number(cur: &mut Cursor<'_>, first: char) -> Result<Tok, Error> {
    let mut text = String::new();
    text.push(first);
    let mut integer = true;
    let digits = |cur: &mut Cursor<'_>, text: &mut String| {
        let mut n = 0;
        while let Some(c) = cur.peek() {
            if !c.is_ascii_digit() {
                break;
            }
            text.push(c);
            cur.bump();
            n += 1;
        }
        n
    };
    digits(cur, &mut text);
    // A fraction only when a digit follows the dot (so `1.x` is never a number).
    if cur.peek() == Some('.') {
        let mut look = cur.chars.clone();
        look.next();
        if look.peek().is_some_and(|c| c.is_ascii_digit()) {
            cur.bump();
            text.push('.');
            digits(cur, &mut text);
            integer = false;
        }
    }
    if matches!(cur.peek(), Some('e' | 'E')) {
        let pos = cur.pos();
        let mut look = cur.chars.clone();
        look.next();
        let mut next = look.next();
        if matches!(next, Some('+' | '-')) {
            next = look.next();
        }
        if next.is_some_and(|c| c.is_ascii_digit()) {
            if let Some(e) = cur.bump() {
                text.push(e);
            }
            if let Some(sign @ ('+' | '-')) = cur.peek() {
                text.push(sign);
                cur.bump();
            }
            digits(cur, &mut text);
            integer = false;
        } else {
            return Err(pos.error("invalid number: expected digits after the exponent"));
        }
    }
    if cur.peek().is_some_and(is_word_start) {
        return Err(cur.pos().error(format!(
            "invalid number {text}: expected an operator or space after it"
        )));
    }
    Ok(Tok::Num { text, integer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s)
            .map(|v| v.into_iter().map(|t| t.tok).collect())
            .unwrap_or_default()
    }

    #[test]
    fn basic_tokens() {
        assert_eq!(
            toks("e.a == 'x' <> \"y\" 1.5e3 //c\n/* d */ >="),
            vec![
                Tok::Word("e".into()),
                Tok::Dot,
                Tok::Word("a".into()),
                Tok::EqEq,
                Tok::Str("x".into()),
                Tok::NotEq,
                Tok::Str("y".into()),
                Tok::Num {
                    text: "1.5e3".into(),
                    integer: false
                },
                Tok::Ge,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(
            toks(r#"'a\'b\n\u00e9\ud83d\ude00'"#)[0],
            Tok::Str("a'b\né😀".into())
        );
        assert!(tokenize(r"'\ud83d'").is_err());
        assert!(tokenize(r"'\q'").is_err());
    }

    #[test]
    fn positions() {
        let t = tokenize("a\n  bb\n\t'x'").unwrap_or_default();
        assert_eq!(t[1].pos, Pos { line: 2, column: 3 });
        assert_eq!(t[2].pos, Pos { line: 3, column: 2 });
        let e = tokenize("a\n  'abc").err();
        assert_eq!(e.map(|e| (e.line, e.column)), Some((2, 3)));
    }
}
