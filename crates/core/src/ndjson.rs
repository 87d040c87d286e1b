//! Incremental NDJSON decoding over a byte stream.
//!
//! Works on bytes: lines are split on `\n` with memchr as chunks arrive (so UTF-8 split across
//! chunks is harmless), a trailing `\r` is stripped, blank lines are skipped, a `data: ` prefix
//! is stripped, heartbeats (`{"payload":""}`) are dropped, a final line without `\n` counts.
//! A complete line inside one chunk is parsed in place; only a line split across chunks is
//! copied into the (reused) carry-over buffer. Line length is bounded by `max_line_bytes`.

use serde_json::value::RawValue;

use crate::error::Error;
use crate::event::Event;

/// A line that could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: u64,
    /// What is wrong.
    pub message: String,
}

impl LineError {
    /// As an [`Error::Protocol`] of `route`.
    pub fn into_error(self, route: &str) -> Error {
        Error::Protocol {
            route: route.to_owned(),
            line: self.line,
            message: self.message,
        }
    }
}

/// Turns one non-blank line (prefix already stripped) into an item; `Ok(None)` drops it.
pub trait LineParser {
    /// The decoded item.
    type Item;
    /// Parses one line.
    fn parse(&mut self, line: &[u8]) -> Result<Option<Self::Item>, String>;
}

/// Parses events; drops heartbeats.
#[derive(Clone, Copy, Debug, Default)]
pub struct EventParser;

impl LineParser for EventParser {
    type Item = Event;
    fn parse(&mut self, line: &[u8]) -> Result<Option<Event>, String> {
        match serde_json::from_slice::<Event>(line) {
            Ok(e) if e.is_heartbeat() => Ok(None),
            Ok(e) => Ok(Some(e)),
            Err(err) => Err(describe(line, &err)),
        }
    }
}

/// Parses arbitrary JSON values (query rows); drops heartbeats.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowParser;

impl LineParser for RowParser {
    type Item = Box<RawValue>;
    fn parse(&mut self, line: &[u8]) -> Result<Option<Box<RawValue>>, String> {
        match serde_json::from_slice::<Box<RawValue>>(line) {
            Ok(v) => {
                if line.len() <= 64
                    && line.first() == Some(&b'{')
                    && memchr::memmem::find(line, b"payload").is_some()
                    && is_heartbeat_value(&v)
                {
                    Ok(None)
                } else {
                    Ok(Some(v))
                }
            }
            Err(err) => Err(describe(line, &err)),
        }
    }
}

fn is_heartbeat_value(v: &RawValue) -> bool {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(v.get()) {
        Ok(m) => m.len() == 1 && m.get("payload").and_then(|p| p.as_str()) == Some(""),
        Err(_) => false,
    }
}

fn describe(line: &[u8], err: &serde_json::Error) -> String {
    const MAX: usize = 60;
    let shown = &line[..line.len().min(MAX)];
    let mut text = String::from_utf8_lossy(shown).into_owned();
    if line.len() > MAX {
        text.push_str("...");
    }
    format!("not a valid JSON line ({err}): {text:?}")
}

/// The incremental line splitter.
#[derive(Debug)]
pub struct LineDecoder {
    carry: Vec<u8>,
    line_no: u64,
    max_line_bytes: usize,
}

impl LineDecoder {
    /// A decoder refusing lines longer than `max_line_bytes` (excluding the `\n`).
    pub fn new(max_line_bytes: usize) -> LineDecoder {
        LineDecoder {
            carry: Vec::new(),
            line_no: 0,
            max_line_bytes: max_line_bytes.max(1),
        }
    }

    /// Lines completed so far (blank ones included).
    pub fn lines_seen(&self) -> u64 {
        self.line_no
    }

    /// True when an incomplete line is buffered.
    pub fn has_partial(&self) -> bool {
        !self.carry.is_empty()
    }

    /// Drops a buffered incomplete line (used when a connection is replaced).
    pub fn reset(&mut self) {
        self.carry.clear();
        self.line_no = 0;
    }

    /// Feeds one chunk; appends every item of the lines it completes to `out`.
    pub fn feed<P: LineParser>(
        &mut self,
        chunk: &[u8],
        parser: &mut P,
        out: &mut Vec<P::Item>,
    ) -> Result<(), LineError> {
        let mut rest = chunk;
        if !self.carry.is_empty() {
            match memchr::memchr(b'\n', rest) {
                None => {
                    self.push_carry(rest)?;
                    return Ok(());
                }
                Some(pos) => {
                    self.push_carry(&rest[..pos])?;
                    let carry = std::mem::take(&mut self.carry);
                    let res = self.line(&carry, parser, out);
                    self.carry = carry;
                    self.carry.clear();
                    res?;
                    rest = &rest[pos + 1..];
                }
            }
        }
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let line = &rest[..pos];
            if line.len() > self.max_line_bytes {
                return Err(self.too_long(1));
            }
            self.line(line, parser, out)?;
            rest = &rest[pos + 1..];
        }
        if !rest.is_empty() {
            self.push_carry(rest)?;
        }
        Ok(())
    }

    /// Ends the body: a final line without `\n` still counts.
    pub fn finish<P: LineParser>(
        &mut self,
        parser: &mut P,
        out: &mut Vec<P::Item>,
    ) -> Result<(), LineError> {
        if self.carry.is_empty() {
            return Ok(());
        }
        let carry = std::mem::take(&mut self.carry);
        let res = self.line(&carry, parser, out);
        self.carry = carry;
        self.carry.clear();
        res
    }

    fn push_carry(&mut self, bytes: &[u8]) -> Result<(), LineError> {
        if self.carry.len() + bytes.len() > self.max_line_bytes {
            self.carry.clear();
            return Err(self.too_long(1));
        }
        self.carry.extend_from_slice(bytes);
        Ok(())
    }

    fn too_long(&self, ahead: u64) -> LineError {
        LineError {
            line: self.line_no + ahead,
            message: format!("line longer than {} bytes", self.max_line_bytes),
        }
    }

    fn line<P: LineParser>(
        &mut self,
        raw: &[u8],
        parser: &mut P,
        out: &mut Vec<P::Item>,
    ) -> Result<(), LineError> {
        self.line_no += 1;
        let line = trim(raw);
        if line.is_empty() {
            return Ok(());
        }
        let line = strip_data_prefix(line);
        if line.is_empty() {
            return Ok(());
        }
        match parser.parse(line) {
            Ok(Some(item)) => {
                out.push(item);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(message) => Err(LineError {
                line: self.line_no,
                message,
            }),
        }
    }
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn strip_data_prefix(line: &[u8]) -> &[u8] {
    match line.strip_prefix(b"data:") {
        Some(rest) => trim(rest),
        None => line,
    }
}

/// Decodes a whole body at once (for tests and small bodies).
pub fn decode_all<P: LineParser>(
    body: &[u8],
    parser: &mut P,
    max_line_bytes: usize,
) -> Result<Vec<P::Item>, LineError> {
    let mut d = LineDecoder::new(max_line_bytes);
    let mut out = Vec::new();
    d.feed(body, parser, &mut out)?;
    d.finish(parser, &mut out)?;
    Ok(out)
}
