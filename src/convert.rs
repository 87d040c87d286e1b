//! Python objects <-> JSON, and Python arguments -> core inputs.
//!
//! Commit input is walked directly into JSON bytes (no `serde_json::Value`, no pythonize):
//! dict (str keys, insertion order), list/tuple, str, int (big ints too), float (finite only),
//! bool, None. Anything else is an error naming the event index and the key path.
use std::fmt::Write as _;

use genesisdb_core::{CommitEvent, EventOptions, Precondition, RawValue, StreamOptions};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::errors::{invalid_input, invalid_type};

/// Deepest nesting accepted when encoding (a guard against reference cycles).
const MAX_DEPTH: usize = 256;

/// One step of the path to a value that cannot be encoded.
enum Seg {
    Key(String),
    Index(usize),
}

/// Why a value cannot be encoded; `path` is collected innermost first.
pub struct EncodeError {
    path: Vec<Seg>,
    message: String,
    is_type: bool,
}

impl EncodeError {
    fn type_err(message: String) -> Self {
        EncodeError {
            path: Vec::new(),
            message,
            is_type: true,
        }
    }
    fn value_err(message: String) -> Self {
        EncodeError {
            path: Vec::new(),
            message,
            is_type: false,
        }
    }

    /// Renders e.g. `event 1: data['tags'][2]: set is not JSON-serialisable`.
    pub fn into_pyerr(self, prefix: &str, root: &str) -> PyErr {
        let mut text = String::new();
        text.push_str(prefix);
        text.push_str(root);
        for seg in self.path.iter().rev() {
            match seg {
                Seg::Key(k) => {
                    let _ = write!(text, "[{}]", py_str_repr(k));
                }
                Seg::Index(i) => {
                    let _ = write!(text, "[{i}]");
                }
            }
        }
        text.push_str(": ");
        text.push_str(&self.message);
        if self.is_type {
            invalid_type(text)
        } else {
            invalid_input(text)
        }
    }
}

/// A short Python-style repr of a str key (single quotes).
fn py_str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_string())
}

fn write_str(out: &mut Vec<u8>, s: &Bound<'_, PyString>) -> Result<(), EncodeError> {
    let text = s
        .to_cow()
        .map_err(|_| EncodeError::value_err("str is not valid Unicode (lone surrogate)".into()))?;
    serde_json::to_writer(&mut *out, text.as_ref())
        .map_err(|e| EncodeError::value_err(format!("cannot encode str: {e}")))
}

/// Appends the JSON encoding of `obj` to `out`.
pub fn write_json(
    obj: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::value_err(format!(
            "nested deeper than {MAX_DEPTH} levels (a reference cycle?)"
        )));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return write_str(out, s);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        out.push(b'{');
        let mut first = true;
        for item in DictItems::new(d) {
            let (k, v) = item?;
            let key = match k.cast::<PyString>() {
                Ok(k) => k,
                Err(_) => {
                    return Err(EncodeError::type_err(format!(
                        "dict keys must be str, got {} key {}",
                        type_name(&k),
                        k.repr().map(|r| r.to_string()).unwrap_or_default()
                    )))
                }
            };
            if !first {
                out.push(b',');
            }
            first = false;
            write_str(out, key)?;
            out.push(b':');
            if let Err(mut e) = write_json(&v, out, depth + 1) {
                e.path.push(Seg::Key(
                    key.to_cow().map(|c| c.into_owned()).unwrap_or_default(),
                ));
                return Err(e);
            }
        }
        out.push(b'}');
        return Ok(());
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return write_array(l.iter(), out, depth);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return Ok(());
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(v) = obj.extract::<i64>() {
            let _ = write!(ByteWriter(out), "{v}");
            return Ok(());
        }
        if let Ok(v) = obj.extract::<u64>() {
            let _ = write!(ByteWriter(out), "{v}");
            return Ok(());
        }
        // A big int: its decimal digits are valid JSON. `__index__` turns an int subclass
        // (e.g. an IntEnum) into a plain int whose repr is the number.
        let digits = obj
            .call_method0("__index__")
            .and_then(|i| i.repr())
            .map_err(|_| EncodeError::value_err("cannot encode int".into()))?;
        let digits = digits
            .to_cow()
            .map_err(|_| EncodeError::value_err("cannot encode int".into()))?;
        out.extend_from_slice(digits.as_bytes());
        return Ok(());
    }
    if obj.is_instance_of::<PyFloat>() {
        let v: f64 = obj
            .extract()
            .map_err(|_| EncodeError::value_err("cannot encode float".into()))?;
        if !v.is_finite() {
            return Err(EncodeError::value_err(format!(
                "{} is not JSON-compliant (NaN and infinities are not allowed)",
                if v.is_nan() {
                    "NaN"
                } else {
                    "an infinite float"
                }
            )));
        }
        serde_json::to_writer(&mut *out, &v)
            .map_err(|e| EncodeError::value_err(format!("cannot encode float: {e}")))?;
        return Ok(());
    }
    if obj.is_none() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return write_array(t.iter(), out, depth);
    }
    Err(EncodeError::type_err(format!(
        "{} is not JSON-serialisable",
        type_name(obj)
    )))
}

/// Appends the items of a list or tuple as a JSON array.
fn write_array<'py>(
    items: impl Iterator<Item = Bound<'py, PyAny>>,
    out: &mut Vec<u8>,
    depth: usize,
) -> Result<(), EncodeError> {
    out.push(b'[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if let Err(mut e) = write_json(&item, out, depth + 1) {
            e.path.push(Seg::Index(i));
            return Err(e);
        }
    }
    out.push(b']');
    Ok(())
}

/// The items of a dict, in order. Unlike pyo3's dict iterator, which panics when the dict
/// changes size while it is walked (Python code, e.g. an int subclass's `__index__` or a
/// finalizer, may run between two items), this one ends with an error.
struct DictItems<'a, 'py> {
    dict: &'a Bound<'py, PyDict>,
    pos: pyo3::ffi::Py_ssize_t,
    len: usize,
    failed: bool,
}

impl<'a, 'py> DictItems<'a, 'py> {
    fn new(dict: &'a Bound<'py, PyDict>) -> Self {
        DictItems {
            dict,
            pos: 0,
            len: dict.len(),
            failed: false,
        }
    }
}

impl<'py> Iterator for DictItems<'_, 'py> {
    type Item = Result<(Bound<'py, PyAny>, Bound<'py, PyAny>), EncodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.dict.len() != self.len {
            self.failed = true;
            return Some(Err(EncodeError::value_err(
                "dict changed size while it was being encoded".into(),
            )));
        }
        let mut key: *mut pyo3::ffi::PyObject = std::ptr::null_mut();
        let mut value: *mut pyo3::ffi::PyObject = std::ptr::null_mut();
        let py = self.dict.py();
        // SAFETY: `dict` is a live dict (the interpreter is attached: we hold a `Bound`), and
        // `PyDict_Next` bounds-checks `pos` against the current table, so a mutation between
        // calls cannot make it read out of bounds. The borrowed references it returns are
        // turned into owned ones at once, before any Python code can run.
        let found = unsafe {
            pyo3::ffi::PyDict_Next(self.dict.as_ptr(), &mut self.pos, &mut key, &mut value)
        };
        if found == 0 || key.is_null() || value.is_null() {
            return None;
        }
        // SAFETY: non-null borrowed references from `PyDict_Next`, valid while the dict holds
        // them, i.e. until Python code runs; `from_borrowed_ptr` takes a new reference.
        let (key, value) = unsafe {
            (
                Bound::from_borrowed_ptr(py, key),
                Bound::from_borrowed_ptr(py, value),
            )
        };
        Some(Ok((key, value)))
    }
}

struct ByteWriter<'a>(&'a mut Vec<u8>);
impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Encodes `obj` as a JSON `RawValue`; errors are prefixed with `prefix` and `root`.
pub fn to_raw(obj: &Bound<'_, PyAny>, prefix: &str, root: &str) -> PyResult<Box<RawValue>> {
    let mut out = Vec::with_capacity(128);
    write_json(obj, &mut out, 0).map_err(|e| e.into_pyerr(prefix, root))?;
    // The writer only emits valid UTF-8 JSON; from_string re-checks it cheaply.
    let text = String::from_utf8(out).map_err(|e| invalid_input(format!("{prefix}{root}: {e}")))?;
    RawValue::from_string(text).map_err(|e| invalid_input(format!("{prefix}{root}: {e}")))
}

/// Encodes any JSON-serialisable object to text (used by `Event(...)` and `dumps`).
pub fn to_json_text(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<String> {
    let mut out = Vec::with_capacity(128);
    write_json(obj, &mut out, 0).map_err(|e| e.into_pyerr("", root))?;
    String::from_utf8(out).map_err(|e| invalid_input(format!("{root}: {e}")))
}

/// Decodes JSON text to Python objects.
pub fn parse_json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    crate::json::parse(py, text)
}

/// A list of raw JSON rows that becomes a Python list when handed back to Python.
pub struct Rows(pub Vec<Box<RawValue>>);

impl<'py> IntoPyObject<'py> for Rows {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        let list = PyList::empty(py);
        for row in &self.0 {
            list.append(parse_json(py, row.get())?)?;
        }
        Ok(list)
    }
}

fn str_field(
    d: &Bound<'_, PyDict>,
    key: &str,
    prefix: &str,
    required: bool,
) -> PyResult<Option<String>> {
    match d.get_item(key)? {
        None => {
            if required {
                Err(invalid_input(format!("{prefix}missing '{key}'")))
            } else {
                Ok(None)
            }
        }
        Some(v) if v.is_none() && !required => Ok(None),
        Some(v) => match v.cast::<PyString>() {
            Ok(s) => Ok(Some(s.to_cow()?.into_owned())),
            Err(_) => Err(invalid_type(format!(
                "{prefix}'{key}' must be a str, got {}",
                type_name(&v)
            ))),
        },
    }
}

fn bool_field(d: &Bound<'_, PyDict>, key: &str, prefix: &str) -> PyResult<Option<bool>> {
    match d.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => match v.cast::<PyBool>() {
            Ok(b) => Ok(Some(b.is_true())),
            Err(_) => Err(invalid_type(format!(
                "{prefix}'{key}' must be a bool, got {}",
                type_name(&v)
            ))),
        },
    }
}

fn check_keys(d: &Bound<'_, PyDict>, allowed: &[&str], what: &str, prefix: &str) -> PyResult<()> {
    for k in d.keys().iter() {
        let known = match k.cast::<PyString>() {
            Ok(s) => {
                let s = s.to_cow()?;
                allowed.contains(&s.as_ref())
            }
            Err(_) => false,
        };
        if !known {
            let key = k.repr().map(|r| r.to_string()).unwrap_or_default();
            return Err(invalid_input(format!(
                "{prefix}unknown {what} key {key} (allowed: {})",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn as_dict<'a, 'py>(obj: &'a Bound<'py, PyAny>, what: &str) -> PyResult<&'a Bound<'py, PyDict>> {
    obj.cast::<PyDict>()
        .map_err(|_| invalid_type(format!("{what} must be a dict, got {}", type_name(obj))))
}

const STREAM_KEYS: &[&str] = &[
    "lower_bound",
    "include_lower_bound_event",
    "upper_bound",
    "include_upper_bound_event",
    "latest_by_event_type",
];

/// `{'lower_bound': ..., ...}` (or None) -> `StreamOptions`; unknown keys are a ValueError.
pub fn stream_options(options: Option<&Bound<'_, PyAny>>) -> PyResult<StreamOptions> {
    let Some(options) = options.filter(|o| !o.is_none()) else {
        return Ok(StreamOptions::default());
    };
    let d = as_dict(options, "options")?;
    check_keys(d, STREAM_KEYS, "option", "options: ")?;
    let p = "options: ";
    Ok(StreamOptions {
        lower_bound: str_field(d, "lower_bound", p, false)?,
        include_lower_bound_event: bool_field(d, "include_lower_bound_event", p)?,
        upper_bound: str_field(d, "upper_bound", p, false)?,
        include_upper_bound_event: bool_field(d, "include_upper_bound_event", p)?,
        latest_by_event_type: str_field(d, "latest_by_event_type", p, false)?,
    })
}

/// A subject argument: must be a str.
pub fn subject_arg(subject: &Bound<'_, PyAny>) -> PyResult<String> {
    match subject.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.into_owned()),
        Err(_) => Err(invalid_type(format!(
            "subject must be a str, got {}",
            type_name(subject)
        ))),
    }
}

/// The items of a list or tuple argument named `what` (anything else is a type error).
fn list_items<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if let Ok(l) = obj.cast::<PyList>() {
        Ok(l.iter().collect())
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        Ok(t.iter().collect())
    } else {
        Err(invalid_type(format!(
            "{what} must be a list of dicts, got {}",
            type_name(obj)
        )))
    }
}

const EVENT_KEYS: &[&str] = &["source", "subject", "type", "data", "options"];
const EVENT_OPTION_KEYS: &[&str] = &["store_data_as_reference"];

/// The `events` argument of `commit_events` -> core events (validated, nothing sent).
pub fn commit_events(events: &Bound<'_, PyAny>) -> PyResult<Vec<CommitEvent>> {
    let items = list_items(events, "events")?;
    if items.is_empty() {
        return Err(invalid_input("events must not be empty"));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("event {i}: ");
        let d = item.cast::<PyDict>().map_err(|_| {
            invalid_type(format!("{prefix}must be a dict, got {}", type_name(item)))
        })?;
        check_keys(d, EVENT_KEYS, "event", &prefix)?;
        let source = str_field(d, "source", &prefix, true)?.unwrap_or_default();
        let subject = str_field(d, "subject", &prefix, true)?.unwrap_or_default();
        let r#type = str_field(d, "type", &prefix, true)?.unwrap_or_default();
        let data = match d.get_item("data")? {
            Some(v) => to_raw(&v, &prefix, "data")?,
            None => return Err(invalid_input(format!("{prefix}missing 'data'"))),
        };
        let options = match d.get_item("options")? {
            None => None,
            Some(o) if o.is_none() => None,
            Some(o) => {
                let od = o.cast::<PyDict>().map_err(|_| {
                    invalid_type(format!(
                        "{prefix}'options' must be a dict, got {}",
                        type_name(&o)
                    ))
                })?;
                let oprefix = format!("{prefix}options: ");
                check_keys(od, EVENT_OPTION_KEYS, "option", &oprefix)?;
                Some(EventOptions {
                    store_data_as_reference: bool_field(od, "store_data_as_reference", &oprefix)?,
                })
            }
        };
        out.push(CommitEvent {
            source,
            subject,
            r#type,
            data,
            options,
        });
    }
    genesisdb_core::validate_commit(&out).map_err(crate::errors::to_pyerr)?;
    Ok(out)
}

const PRECONDITION_KEYS: &[&str] = &["type", "payload"];

/// The `preconditions` argument (None, or a list of `{'type', 'payload'}` dicts).
pub fn preconditions(pre: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<Precondition>> {
    let Some(pre) = pre.filter(|p| !p.is_none()) else {
        return Ok(Vec::new());
    };
    let items = list_items(pre, "preconditions")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("precondition {i}: ");
        let d = item.cast::<PyDict>().map_err(|_| {
            invalid_type(format!("{prefix}must be a dict, got {}", type_name(item)))
        })?;
        check_keys(d, PRECONDITION_KEYS, "precondition", &prefix)?;
        let r#type = str_field(d, "type", &prefix, true)?.unwrap_or_default();
        if r#type.is_empty() {
            return Err(invalid_input(format!("{prefix}'type' must not be empty")));
        }
        let payload = match d.get_item("payload")? {
            Some(v) => to_raw(&v, &prefix, "payload")?,
            None => return Err(invalid_input(format!("{prefix}missing 'payload'"))),
        };
        out.push(Precondition { r#type, payload });
    }
    Ok(out)
}
