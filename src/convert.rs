//! Python objects <-> JSON, and Python arguments -> core inputs.
//!
//! Commit input is walked directly into JSON bytes (no `serde_json::Value`, no pythonize):
//! dict (str keys, insertion order), list/tuple, str, int (big ints too), float (finite only),
//! bool, None. Anything else is an error naming the event index and the key path.
//!
//! The encoder is on the hot path of every commit, so: the UTF-8 of a `str` is read in place
//! when the interpreter allows it (see [`Utf8Fn`]), strings are escaped straight into the
//! output, numbers are formatted by serde_json (itoa/ryu), the field names of an event are
//! interned Python strings, and one output buffer is reused for all the events of a commit.
//! The output is byte for byte what the previous encoder (and serde_json) produced.
use std::cell::Cell;
use std::fmt::{Display, Write as _};
use std::os::raw::c_char;

use genesisdb_core::{CommitEvent, EventOptions, Precondition, RawValue, StreamOptions};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

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
    pub fn into_pyerr<P: Display + ?Sized>(self, prefix: &P, root: &str) -> PyErr {
        let mut text = String::new();
        let _ = write!(text, "{prefix}");
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

/// The prefix of an error message about the `index`-th item, e.g. `event 3: options: `;
/// rendered only when there is an error.
#[derive(Clone, Copy)]
struct Prefix<'a> {
    what: &'a str,
    index: usize,
    tail: &'a str,
}

impl Display for Prefix<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.what, self.index, self.tail)
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

/// `PyUnicode_AsUTF8AndSize`: the UTF-8 of a `str` without a copy (CPython caches it in the
/// object; for an ASCII str it is the str's own buffer). It is part of the limited API only
/// from Python 3.10, and this extension is built for the 3.9 limited API (abi3-py39), so it is
/// not linked: it is looked up once at run time, and only when the running interpreter is
/// CPython 3.10 or later, where the stable ABI guarantees the symbol and this exact signature.
/// On 3.9, or if the lookup fails, strings go through `PyUnicode_AsUTF8String` (one
/// temporary bytes object, escaped straight from its buffer).
type Utf8Fn = unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::Py_ssize_t) -> *const c_char;

static UTF8_FN: PyOnceLock<Option<Utf8Fn>> = PyOnceLock::new();

fn utf8_fn(py: Python<'_>) -> Option<Utf8Fn> {
    *UTF8_FN.get_or_init(py, || lookup_utf8_fn(py))
}

fn lookup_utf8_fn(py: Python<'_>) -> Option<Utf8Fn> {
    if py.version_info() < (3, 10) {
        return None;
    }
    // The address of the interpreter's own exported function, through ctypes (stdlib, same
    // process): no platform-specific dlsym/GetProcAddress needed.
    let addr = (|| -> PyResult<Option<usize>> {
        let implementation = py.import("sys")?.getattr("implementation")?;
        if implementation.getattr("name")?.extract::<String>()? != "cpython" {
            return Ok(None);
        }
        let ctypes = py.import("ctypes")?;
        let func = ctypes
            .getattr("pythonapi")?
            .getattr("PyUnicode_AsUTF8AndSize")?;
        ctypes
            .getattr("cast")?
            .call1((func, ctypes.getattr("c_void_p")?))?
            .getattr("value")?
            .extract()
    })()
    .ok()
    .flatten()
    .filter(|a| *a != 0)?;
    // SAFETY: `addr` is the non-null address of CPython's `PyUnicode_AsUTF8AndSize`, whose
    // C signature `const char *(PyObject *, Py_ssize_t *)` is the one of `Utf8Fn` (stable ABI
    // from 3.10, checked above).
    Some(unsafe { std::mem::transmute::<*const (), Utf8Fn>(addr as *const ()) })
}

fn surrogate_err() -> EncodeError {
    EncodeError::value_err("str is not valid Unicode (lone surrogate)".into())
}

/// Encodes Python objects to JSON through serde_json's serializer (its escaping, itoa and
/// ryu: the same bytes as before), so that commit data becomes a `RawValue` with
/// `serde_json::value::to_raw_value`, which does not parse the text again.
#[derive(Clone, Copy)]
pub struct Encoder {
    utf8: Option<Utf8Fn>,
}

impl Encoder {
    pub fn new(py: Python<'_>) -> Self {
        Encoder { utf8: utf8_fn(py) }
    }

    /// Calls `f` with the UTF-8 of `s`; `None` if `s` cannot be encoded (a lone surrogate),
    /// and then the Python error is left set for the caller to take.
    fn with_utf8<R>(&self, s: &Bound<'_, PyString>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        if let Some(as_utf8) = self.utf8 {
            let mut size: ffi::Py_ssize_t = 0;
            // SAFETY: `s` is a live str (we hold a reference and the interpreter is attached);
            // the function returns NULL with an exception set, or a pointer to `size` bytes
            // owned by `s`, valid while `s` lives (a str is immutable).
            let ptr = unsafe { as_utf8(s.as_ptr(), &mut size) };
            if ptr.is_null() {
                return None;
            }
            let len = usize::try_from(size).ok()?;
            // SAFETY: see above; `s` outlives this borrow.
            let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
            return Some(f(bytes));
        }
        // SAFETY: `s` is a live str; the result is a new reference, or NULL with an exception.
        let raw = unsafe { ffi::PyUnicode_AsUTF8String(s.as_ptr()) };
        // SAFETY: `raw` is an owned reference (or NULL) just returned to us.
        let bytes = unsafe { Bound::from_owned_ptr_or_opt(s.py(), raw) }?;
        let bytes = bytes.cast_into::<PyBytes>().ok()?;
        Some(f(bytes.as_bytes()))
    }

    /// Calls `f` with the text of `s`, or returns the error for a str that cannot be encoded.
    fn with_str<R>(
        &self,
        s: &Bound<'_, PyString>,
        f: impl FnOnce(&str) -> R,
    ) -> Result<R, EncodeError> {
        // SAFETY: both ways of `with_utf8` hand over the output of CPython's strict UTF-8
        // encoder (a str with a lone surrogate is an error there), which is valid UTF-8; pyo3's
        // own `PyString::to_str` relies on the same guarantee.
        match self.with_utf8(s, |b| f(unsafe { std::str::from_utf8_unchecked(b) })) {
            Some(r) => Ok(r),
            None => {
                let _ = PyErr::take(s.py());
                Err(surrogate_err())
            }
        }
    }

    /// A str as a Rust `String` (the Python error if it cannot be encoded).
    fn string(&self, s: &Bound<'_, PyString>) -> PyResult<String> {
        match self.with_utf8(s, |b| std::str::from_utf8(b).map(str::to_owned)) {
            Some(Ok(text)) => Ok(text),
            Some(Err(_)) => Ok(s.to_cow()?.into_owned()),
            None => Err(PyErr::fetch(s.py())),
        }
    }

    fn json<'a, 'py>(
        &'a self,
        obj: &'a Bound<'py, PyAny>,
        err: &'a Cell<Option<EncodeError>>,
    ) -> PyJson<'a, 'py> {
        PyJson {
            obj,
            enc: self,
            depth: 0,
            err,
        }
    }

    /// Encodes `obj` as a JSON `RawValue`; errors are prefixed with `prefix` and `root`.
    fn raw_value<P: Display + ?Sized>(
        &self,
        obj: &Bound<'_, PyAny>,
        prefix: &P,
        root: &str,
    ) -> PyResult<Box<RawValue>> {
        let err = Cell::new(None);
        serde_json::value::to_raw_value(&self.json(obj, &err))
            .map_err(|e| encode_failure(err.take(), e, prefix, root))
    }

    /// Encodes `obj` as JSON text; errors are prefixed with `root`.
    fn text(&self, obj: &Bound<'_, PyAny>, root: &str) -> PyResult<String> {
        let err = Cell::new(None);
        serde_json::to_string(&self.json(obj, &err))
            .map_err(|e| encode_failure(err.take(), e, "", root))
    }
}

fn encode_failure<P: Display + ?Sized>(
    err: Option<EncodeError>,
    e: serde_json::Error,
    prefix: &P,
    root: &str,
) -> PyErr {
    match err {
        Some(err) => err.into_pyerr(prefix, root),
        None => invalid_input(format!("{prefix}{root}: {e}")),
    }
}

/// A Python object to serialize. The first encoding error is kept in `err` (serde's error
/// type cannot carry it) and each enclosing container adds its step of the path.
struct PyJson<'a, 'py> {
    obj: &'a Bound<'py, PyAny>,
    enc: &'a Encoder,
    depth: usize,
    err: &'a Cell<Option<EncodeError>>,
}

impl<'a, 'py> PyJson<'a, 'py> {
    fn fail<E: ser::Error>(&self, e: EncodeError) -> E {
        let message = e.message.clone();
        self.err.set(Some(e));
        E::custom(message)
    }

    fn child<'b>(&'b self, obj: &'b Bound<'py, PyAny>) -> PyJson<'b, 'py> {
        PyJson {
            obj,
            enc: self.enc,
            depth: self.depth + 1,
            err: self.err,
        }
    }

    /// Adds a step to the path of the error a child left, if any.
    fn add_step(&self, seg: impl FnOnce() -> Seg) {
        if let Some(mut e) = self.err.take() {
            e.path.push(seg());
            self.err.set(Some(e));
        }
    }

    fn str<S: Serializer>(&self, s: &Bound<'_, PyString>, ser: S) -> Result<S::Ok, S::Error> {
        match self.enc.with_str(s, |text| ser.serialize_str(text)) {
            Ok(r) => r,
            Err(e) => Err(self.fail(e)),
        }
    }

    fn dict<S: Serializer>(&self, d: &Bound<'py, PyDict>, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(None)?;
        for item in DictItems::new(d) {
            let (k, v) = item.map_err(|e| self.fail::<S::Error>(e))?;
            let key = match k.cast::<PyString>() {
                Ok(k) => k,
                Err(_) => {
                    return Err(self.fail(EncodeError::type_err(format!(
                        "dict keys must be str, got {} key {}",
                        type_name(&k),
                        k.repr().map(|r| r.to_string()).unwrap_or_default()
                    ))))
                }
            };
            match self.enc.with_str(key, |text| map.serialize_key(text)) {
                Ok(r) => r?,
                Err(e) => return Err(self.fail(e)),
            }
            if let Err(e) = map.serialize_value(&self.child(&v)) {
                self.add_step(|| {
                    Seg::Key(key.to_cow().map(|c| c.into_owned()).unwrap_or_default())
                });
                return Err(e);
            }
        }
        map.end()
    }

    fn seq<S: Serializer>(
        &self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        ser: S,
    ) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(None)?;
        for (i, item) in items.enumerate() {
            if let Err(e) = seq.serialize_element(&self.child(&item)) {
                self.add_step(|| Seg::Index(i));
                return Err(e);
            }
        }
        seq.end()
    }

    fn int<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let obj = self.obj;
        if let Ok(v) = obj.extract::<i64>() {
            return ser.serialize_i64(v);
        }
        if let Ok(v) = obj.extract::<u64>() {
            return ser.serialize_u64(v);
        }
        // A big int: its decimal digits are valid JSON, written verbatim as a (checked, short)
        // RawValue. `__index__` turns an int subclass (e.g. an IntEnum) into a plain int whose
        // repr is the number.
        let digits = obj
            .call_method0("__index__")
            .and_then(|i| i.repr())
            .ok()
            .and_then(|r| r.to_cow().ok().map(|c| c.into_owned()))
            .and_then(|d| RawValue::from_string(d).ok());
        match digits {
            Some(raw) => raw.serialize(ser),
            None => Err(self.fail(EncodeError::value_err("cannot encode int".into()))),
        }
    }

    fn float<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let v: f64 = match self.obj.extract() {
            Ok(v) => v,
            Err(_) => return Err(self.fail(EncodeError::value_err("cannot encode float".into()))),
        };
        if !v.is_finite() {
            return Err(self.fail(EncodeError::value_err(format!(
                "{} is not JSON-compliant (NaN and infinities are not allowed)",
                if v.is_nan() {
                    "NaN"
                } else {
                    "an infinite float"
                }
            ))));
        }
        ser.serialize_f64(v)
    }
}

impl Serialize for PyJson<'_, '_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        if self.depth > MAX_DEPTH {
            return Err(self.fail(EncodeError::value_err(format!(
                "nested deeper than {MAX_DEPTH} levels (a reference cycle?)"
            ))));
        }
        let obj = self.obj;
        // Exact built-in types first (a pointer comparison each); subclasses take the
        // isinstance chain below, in the same order as before, so they encode as they did.
        // SAFETY: `obj` is a live object; this reads its type pointer and takes the addresses
        // of the built-in type objects, nothing else.
        let ty = unsafe { ffi::Py_TYPE(obj.as_ptr()) };
        if ty == (&raw mut ffi::PyUnicode_Type) {
            // SAFETY: the exact type is str.
            return self.str(unsafe { obj.cast_unchecked::<PyString>() }, ser);
        }
        if ty == (&raw mut ffi::PyLong_Type) {
            return self.int(ser);
        }
        if ty == (&raw mut ffi::PyDict_Type) {
            // SAFETY: the exact type is dict.
            return self.dict(unsafe { obj.cast_unchecked::<PyDict>() }, ser);
        }
        if ty == (&raw mut ffi::PyFloat_Type) {
            return self.float(ser);
        }
        if ty == (&raw mut ffi::PyList_Type) {
            // SAFETY: the exact type is list.
            return self.seq(unsafe { obj.cast_unchecked::<PyList>() }.iter(), ser);
        }
        if let Ok(s) = obj.cast::<PyString>() {
            return self.str(s, ser);
        }
        if let Ok(d) = obj.cast::<PyDict>() {
            return self.dict(d, ser);
        }
        if let Ok(l) = obj.cast::<PyList>() {
            return self.seq(l.iter(), ser);
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return ser.serialize_bool(b.is_true());
        }
        if obj.is_instance_of::<PyInt>() {
            return self.int(ser);
        }
        if obj.is_instance_of::<PyFloat>() {
            return self.float(ser);
        }
        if obj.is_none() {
            return ser.serialize_unit();
        }
        if let Ok(t) = obj.cast::<PyTuple>() {
            return self.seq(t.iter(), ser);
        }
        Err(self.fail(EncodeError::type_err(format!(
            "{} is not JSON-serialisable",
            type_name(obj)
        ))))
    }
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

/// Encodes any JSON-serialisable object to text (used by `Event(...)` and `dumps`).
pub fn to_json_text(obj: &Bound<'_, PyAny>, root: &str) -> PyResult<String> {
    Encoder::new(obj.py()).text(obj, root)
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

fn str_field<'py, K, P>(
    enc: &Encoder,
    d: &Bound<'py, PyDict>,
    key: &K,
    prefix: &P,
    required: bool,
) -> PyResult<Option<String>>
where
    K: IntoPyObject<'py> + Display + Copy,
    P: Display + ?Sized,
{
    match d.get_item(*key)? {
        None => {
            if required {
                Err(invalid_input(format!("{prefix}missing '{key}'")))
            } else {
                Ok(None)
            }
        }
        Some(v) if v.is_none() && !required => Ok(None),
        Some(v) => match v.cast::<PyString>() {
            Ok(s) => Ok(Some(enc.string(s)?)),
            Err(_) => Err(invalid_type(format!(
                "{prefix}'{key}' must be a str, got {}",
                type_name(&v)
            ))),
        },
    }
}

fn bool_field<'py, K, P>(d: &Bound<'py, PyDict>, key: &K, prefix: &P) -> PyResult<Option<bool>>
where
    K: IntoPyObject<'py> + Display + Copy,
    P: Display + ?Sized,
{
    match d.get_item(*key)? {
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

/// True if every key of `d` is one of the `interned` strings itself (pointer identity: no
/// Python code runs, nothing is allocated). Keys written as literals in Python source are
/// interned, so this is the common case; otherwise `check_keys` decides.
fn keys_are_interned(d: &Bound<'_, PyDict>, interned: &[&Bound<'_, PyString>]) -> bool {
    let mut pos: ffi::Py_ssize_t = 0;
    let mut key: *mut ffi::PyObject = std::ptr::null_mut();
    let mut value: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `d` is a live dict; `PyDict_Next` bounds-checks `pos`, runs no Python code and
    // returns borrowed references that are only compared, never dereferenced.
    while unsafe { ffi::PyDict_Next(d.as_ptr(), &mut pos, &mut key, &mut value) } != 0 {
        if !interned.iter().any(|k| k.as_ptr() == key) {
            return false;
        }
    }
    true
}

fn check_keys<P: Display + ?Sized>(
    d: &Bound<'_, PyDict>,
    allowed: &[&str],
    what: &str,
    prefix: &P,
) -> PyResult<()> {
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
    let enc = Encoder::new(d.py());
    Ok(StreamOptions {
        lower_bound: str_field(&enc, d, &"lower_bound", p, false)?,
        include_lower_bound_event: bool_field(d, &"include_lower_bound_event", p)?,
        upper_bound: str_field(&enc, d, &"upper_bound", p, false)?,
        include_upper_bound_event: bool_field(d, &"include_upper_bound_event", p)?,
        latest_by_event_type: str_field(&enc, d, &"latest_by_event_type", p, false)?,
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
    let py = events.py();
    let items = list_items(events, "events")?;
    if items.is_empty() {
        return Err(invalid_input("events must not be empty"));
    }
    let enc = Encoder::new(py);
    let k_source = pyo3::intern!(py, "source");
    let k_subject = pyo3::intern!(py, "subject");
    let k_type = pyo3::intern!(py, "type");
    let k_data = pyo3::intern!(py, "data");
    let k_options = pyo3::intern!(py, "options");
    let interned = [k_source, k_subject, k_type, k_data, k_options];
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = Prefix {
            what: "event",
            index: i,
            tail: "",
        };
        let d = item.cast::<PyDict>().map_err(|_| {
            invalid_type(format!("{prefix}must be a dict, got {}", type_name(item)))
        })?;
        if !keys_are_interned(d, &interned) {
            check_keys(d, EVENT_KEYS, "event", &prefix)?;
        }
        let source = str_field(&enc, d, &k_source, &prefix, true)?.unwrap_or_default();
        let subject = str_field(&enc, d, &k_subject, &prefix, true)?.unwrap_or_default();
        let r#type = str_field(&enc, d, &k_type, &prefix, true)?.unwrap_or_default();
        let data = match d.get_item(k_data)? {
            Some(v) => enc.raw_value(&v, &prefix, "data")?,
            None => return Err(invalid_input(format!("{prefix}missing 'data'"))),
        };
        let options = match d.get_item(k_options)? {
            None => None,
            Some(o) if o.is_none() => None,
            Some(o) => {
                let od = o.cast::<PyDict>().map_err(|_| {
                    invalid_type(format!(
                        "{prefix}'options' must be a dict, got {}",
                        type_name(&o)
                    ))
                })?;
                let oprefix = Prefix {
                    tail: "options: ",
                    ..prefix
                };
                check_keys(od, EVENT_OPTION_KEYS, "option", &oprefix)?;
                Some(EventOptions {
                    store_data_as_reference: bool_field(od, &"store_data_as_reference", &oprefix)?,
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
    let enc = Encoder::new(pre.py());
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = Prefix {
            what: "precondition",
            index: i,
            tail: "",
        };
        let d = item.cast::<PyDict>().map_err(|_| {
            invalid_type(format!("{prefix}must be a dict, got {}", type_name(item)))
        })?;
        check_keys(d, PRECONDITION_KEYS, "precondition", &prefix)?;
        let r#type = str_field(&enc, d, &"type", &prefix, true)?.unwrap_or_default();
        if r#type.is_empty() {
            return Err(invalid_input(format!("{prefix}'type' must not be empty")));
        }
        let payload = match d.get_item("payload")? {
            Some(v) => enc.raw_value(&v, &prefix, "payload")?,
            None => return Err(invalid_input(format!("{prefix}missing 'payload'"))),
        };
        out.push(Precondition { r#type, payload });
    }
    Ok(out)
}
