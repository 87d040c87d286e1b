//! JSON text -> Python objects, built directly (no `serde_json::Value`, no pythonize).
//!
//! jiter's `python` feature does not build for the abi3-py39 target (it needs `&str`
//! extraction, only in the 3.10+ limited API), so this is a small recursive-descent parser:
//! object key order is kept, integers of any size stay exact, floats round like `float(str)`.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyInt, PyList, PyString};
use pyo3::IntoPyObjectExt;
use std::sync::{Mutex, MutexGuard};

/// Deepest nesting accepted (a guard against stack exhaustion on hostile input).
const MAX_DEPTH: usize = 512;

/// Object keys repeat across events: a small cache of key strings (like jiter's) saves
/// creating the same Python str again and again.
const KEY_SLOTS: usize = 2048;
const MAX_CACHED_KEY: usize = 48;

type KeySlots = Vec<Option<(Box<str>, Py<PyString>)>>;
static KEY_CACHE: Mutex<KeySlots> = Mutex::new(Vec::new());

fn key_hash(s: &[u8]) -> usize {
    // FNV-1a
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h as usize) & (KEY_SLOTS - 1)
}

struct Parser<'a, 'py> {
    py: Python<'py>,
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// The key cache, when this thread got it (never waited for: see `parse`).
    keys: Option<MutexGuard<'static, KeySlots>>,
}

fn err(msg: &str, pos: usize) -> PyErr {
    PyValueError::new_err(format!("invalid JSON at byte {pos}: {msg}"))
}

/// Parses one JSON document into Python objects.
pub fn parse<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    // try_lock, never lock: waiting for the cache while holding the GIL could deadlock with
    // a thread that holds the cache and waits for the GIL.
    let mut keys = KEY_CACHE.try_lock().ok();
    if let Some(k) = keys.as_mut() {
        if k.is_empty() {
            k.resize_with(KEY_SLOTS, || None);
        }
    }
    let mut p = Parser {
        py,
        text,
        bytes: text.as_bytes(),
        pos: 0,
        keys,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.pos != p.bytes.len() {
        return Err(err("trailing characters", p.pos));
    }
    Ok(v)
}

impl<'a, 'py> Parser<'a, 'py> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_lit(&mut self, lit: &[u8]) -> PyResult<()> {
        if self.bytes.get(self.pos..self.pos + lit.len()) == Some(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            Err(err("unexpected character", self.pos))
        }
    }

    fn value(&mut self, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        if depth > MAX_DEPTH {
            return Err(err("nested too deeply", self.pos));
        }
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(self.string()?.into_any()),
            Some(b't') => {
                self.expect_lit(b"true")?;
                true.into_bound_py_any(self.py)
            }
            Some(b'f') => {
                self.expect_lit(b"false")?;
                false.into_bound_py_any(self.py)
            }
            Some(b'n') => {
                self.expect_lit(b"null")?;
                Ok(self.py.None().into_bound(self.py))
            }
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(err("unexpected character", self.pos)),
            None => Err(err("unexpected end", self.pos)),
        }
    }

    fn object(&mut self, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        self.pos += 1;
        let dict = PyDict::new(self.py);
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(dict.into_any());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(err("expected a string key", self.pos));
            }
            let key = self.key()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(err("expected ':'", self.pos));
            }
            self.pos += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            dict.set_item(key, v)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(dict.into_any());
                }
                _ => return Err(err("expected ',' or '}'", self.pos)),
            }
        }
    }

    fn array(&mut self, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        self.pos += 1;
        let list = PyList::empty(self.py);
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(list.into_any());
        }
        loop {
            self.ws();
            list.append(self.value(depth + 1)?)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(list.into_any());
                }
                _ => return Err(err("expected ',' or ']'", self.pos)),
            }
        }
    }

    fn hex4(&mut self) -> PyResult<u32> {
        let s = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or_else(|| err("short \\u escape", self.pos))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| err("bad \\u escape", self.pos))?;
        self.pos += 4;
        Ok(v)
    }

    /// An object key: like `string`, through the key cache for short keys without escapes.
    fn key(&mut self) -> PyResult<Bound<'py, PyString>> {
        let start = self.pos + 1;
        let mut end = start;
        while let Some(&b) = self.bytes.get(end) {
            if b == b'"' || b == b'\\' || b < 0x20 || end - start > MAX_CACHED_KEY {
                break;
            }
            end += 1;
        }
        if self.bytes.get(end) != Some(&b'"') || self.keys.is_none() {
            return self.string();
        }
        let text = self
            .text
            .get(start..end)
            .ok_or_else(|| err("bad string", start))?;
        self.pos = end + 1;
        let py = self.py;
        let slot = key_hash(text.as_bytes());
        if let Some(Some(Some((k, v)))) = self.keys.as_ref().map(|c| c.get(slot)) {
            if **k == *text {
                return Ok(v.bind(py).clone());
            }
        }
        let value = PyString::new(py, text);
        if let Some(cache) = self.keys.as_mut() {
            if let Some(entry) = cache.get_mut(slot) {
                *entry = Some((text.into(), value.clone().unbind()));
            }
        }
        Ok(value)
    }

    fn string(&mut self) -> PyResult<Bound<'py, PyString>> {
        self.pos += 1; // opening quote
        let start = self.pos;
        // Fast path: no escapes.
        while let Some(b) = self.peek() {
            match b {
                b'"' => {
                    let s = self
                        .text
                        .get(start..self.pos)
                        .ok_or_else(|| err("bad string", start))?;
                    self.pos += 1;
                    return Ok(PyString::new(self.py, s));
                }
                b'\\' => break,
                0..=0x1f => return Err(err("control character in string", self.pos)),
                _ => self.pos += 1,
            }
        }
        let mut out = String::from(self.text.get(start..self.pos).unwrap_or_default());
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(self.text.get(run_start..self.pos).unwrap_or_default());
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(PyString::new(self.py, &out));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let esc = self.peek().ok_or_else(|| err("unexpected end", self.pos))?;
                    self.pos += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&hi)
                                && self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u")
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                } else {
                                    self.pos = save;
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            // A lone surrogate cannot live in a Rust string: U+FFFD instead.
                            out.push(c.unwrap_or('\u{FFFD}'));
                        }
                        _ => return Err(err("bad escape", self.pos - 1)),
                    }
                }
                Some(_) => return Err(err("control character in string", self.pos)),
                None => return Err(err("unterminated string", self.pos)),
            }
        }
    }

    fn number(&mut self) -> PyResult<Bound<'py, PyAny>> {
        let start = self.pos;
        let mut is_float = false;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(err("bad number", start));
        }
        if self.peek() == Some(b'.') {
            is_float = true;
            self.pos += 1;
            let frac = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            if self.pos == frac {
                return Err(err("bad number", start));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            is_float = true;
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            let exp = self.pos;
            while let Some(b'0'..=b'9') = self.peek() {
                self.pos += 1;
            }
            if self.pos == exp {
                return Err(err("bad number", start));
            }
        }
        let s = self
            .text
            .get(start..self.pos)
            .ok_or_else(|| err("bad number", start))?;
        if is_float {
            let v: f64 = s.parse().map_err(|_| err("bad number", start))?;
            return Ok(PyFloat::new(self.py, v).into_any());
        }
        if let Ok(v) = s.parse::<i64>() {
            return v.into_bound_py_any(self.py);
        }
        if let Ok(v) = s.parse::<u64>() {
            return v.into_bound_py_any(self.py);
        }
        // Bigger than 64 bits: exact, through int(str).
        self.py.get_type::<PyInt>().call1((s,))
    }
}
