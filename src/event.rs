//! `Event`: an immutable stored event. `data` is decoded from its raw JSON text on first
//! access (jiter) and cached.
use genesisdb_core::RawValue;
use pyo3::exceptions::{PyAttributeError, PyKeyError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt;

use crate::convert::{parse_json, to_json_text};
use crate::errors::invalid_type;

/// The known CloudEvents attributes, in the order the server writes them.
const FIELDS: [&str; 10] = [
    "source",
    "subject",
    "type",
    "specversion",
    "id",
    "time",
    "datacontenttype",
    "predecessorhash",
    "data",
    "hash",
];

/// A stored Genesis DB event (immutable).
///
/// Attributes: ``id source subject type time data specversion datacontenttype
/// predecessorhash hash``. Also a read-only mapping: ``event['type']``, ``event.get('x')``,
/// ``'data' in event``, ``event.keys()``; unknown attributes sent by the server are kept
/// (``event['extension']`` or ``event.extension``). ``to_dict()`` returns a plain dict.
#[pyclass(frozen, mapping, module = "genesisdb._native", name = "Event")]
pub struct PyEvent {
    id: Option<String>,
    source: Option<String>,
    subject: Option<String>,
    r#type: Option<String>,
    time: Option<String>,
    specversion: Option<String>,
    datacontenttype: Option<String>,
    predecessorhash: Option<String>,
    hash: Option<String>,
    data_raw: Option<Box<RawValue>>,
    extra: Vec<(String, Box<RawValue>)>,
    data_cache: PyOnceLock<Py<PyAny>>,
}

impl From<genesisdb_core::Event> for PyEvent {
    fn from(e: genesisdb_core::Event) -> Self {
        PyEvent {
            id: e.id,
            source: e.source,
            subject: e.subject,
            r#type: e.r#type,
            time: e.time,
            specversion: e.specversion,
            datacontenttype: e.datacontenttype,
            predecessorhash: e.predecessorhash,
            hash: e.hash,
            data_raw: e.data,
            extra: e.extra,
            data_cache: PyOnceLock::new(),
        }
    }
}

/// A batch of core events that becomes a Python list of `Event` when handed to Python.
pub struct Events(pub Vec<genesisdb_core::Event>);

impl<'py> IntoPyObject<'py> for Events {
    type Target = PyList;
    type Output = Bound<'py, PyList>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        PyList::new(py, self.0.into_iter().map(PyEvent::from))
    }
}

/// An optional batch (None at the end of a stream).
pub struct MaybeEvents(pub Option<Vec<genesisdb_core::Event>>);

impl<'py> IntoPyObject<'py> for MaybeEvents {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        match self.0 {
            Some(v) => Ok(Events(v).into_pyobject(py)?.into_any()),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

impl PyEvent {
    fn str_field(&self, name: &str) -> Option<Option<&str>> {
        let v = match name {
            "id" => &self.id,
            "source" => &self.source,
            "subject" => &self.subject,
            "type" => &self.r#type,
            "time" => &self.time,
            "specversion" => &self.specversion,
            "datacontenttype" => &self.datacontenttype,
            "predecessorhash" => &self.predecessorhash,
            "hash" => &self.hash,
            _ => return None,
        };
        Some(v.as_deref())
    }

    fn data_obj<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let Some(raw) = self.data_raw.as_ref() else {
            return Ok(py.None().into_bound(py));
        };
        let cached = self
            .data_cache
            .get_or_try_init(py, || parse_json(py, raw.get()).map(Bound::unbind))?;
        Ok(cached.bind(py).clone())
    }

    /// The value of `key`, or None when the event has no such attribute.
    fn lookup<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        if key == "data" {
            return if self.data_raw.is_some() {
                Ok(Some(self.data_obj(py)?))
            } else {
                Ok(None)
            };
        }
        if let Some(v) = self.str_field(key) {
            return Ok(v.map(|s| PyString::new(py, s).into_any()));
        }
        for (k, raw) in &self.extra {
            if k == key {
                return Ok(Some(parse_json(py, raw.get())?));
            }
        }
        Ok(None)
    }

    fn present_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = FIELDS
            .iter()
            .copied()
            .filter(|k| {
                if *k == "data" {
                    self.data_raw.is_some()
                } else {
                    matches!(self.str_field(k), Some(Some(_)))
                }
            })
            .collect();
        keys.extend(self.extra.iter().map(|(k, _)| k.as_str()));
        keys
    }

    fn same_json(py: Python<'_>, a: &RawValue, b: &RawValue) -> PyResult<bool> {
        if a.get() == b.get() {
            return Ok(true);
        }
        parse_json(py, a.get())?.eq(parse_json(py, b.get())?)
    }
}

#[pymethods]
impl PyEvent {
    /// Builds an event from a mapping (and/or keyword arguments), e.g. for tests.
    #[new]
    #[pyo3(signature = (mapping=None, **kwargs))]
    fn new(
        py: Python<'_>,
        mapping: Option<&Bound<'_, PyAny>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let merged = PyDict::new(py);
        if let Some(m) = mapping.filter(|m| !m.is_none()) {
            let d = m.cast::<PyDict>().map_err(|_| {
                invalid_type(format!(
                    "Event() takes a dict, got {}",
                    m.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            merged.update(d.as_mapping())?;
        }
        if let Some(k) = kwargs {
            merged.update(k.as_mapping())?;
        }
        let mut ev = PyEvent {
            id: None,
            source: None,
            subject: None,
            r#type: None,
            time: None,
            specversion: None,
            datacontenttype: None,
            predecessorhash: None,
            hash: None,
            data_raw: None,
            extra: Vec::new(),
            data_cache: PyOnceLock::new(),
        };
        for (k, v) in merged.iter() {
            let key: String = k
                .cast::<PyString>()
                .map_err(|_| invalid_type("Event keys must be str"))?
                .to_cow()?
                .into_owned();
            if key == "data" {
                let text = to_json_text(&v, "data")?;
                ev.data_raw = Some(
                    RawValue::from_string(text)
                        .map_err(|e| crate::errors::invalid_input(format!("data: {e}")))?,
                );
                continue;
            }
            let slot = match key.as_str() {
                "id" => Some(&mut ev.id),
                "source" => Some(&mut ev.source),
                "subject" => Some(&mut ev.subject),
                "type" => Some(&mut ev.r#type),
                "time" => Some(&mut ev.time),
                "specversion" => Some(&mut ev.specversion),
                "datacontenttype" => Some(&mut ev.datacontenttype),
                "predecessorhash" => Some(&mut ev.predecessorhash),
                "hash" => Some(&mut ev.hash),
                _ => None,
            };
            match slot {
                Some(slot) => {
                    if v.is_none() {
                        *slot = None;
                    } else {
                        let s = v.cast::<PyString>().map_err(|_| {
                            invalid_type(format!("Event '{key}' must be a str or None"))
                        })?;
                        *slot = Some(s.to_cow()?.into_owned());
                    }
                }
                None => {
                    let text = to_json_text(&v, &key)?;
                    let raw = RawValue::from_string(text)
                        .map_err(|e| crate::errors::invalid_input(format!("{key}: {e}")))?;
                    ev.extra.push((key, raw));
                }
            }
        }
        Ok(ev)
    }

    /// The event id (a UUID string).
    #[getter]
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The event source, e.g. ``io.genesisdb.app``.
    #[getter]
    fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// The subject, e.g. ``/customer/42``.
    #[getter]
    fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    /// The event type, e.g. ``io.genesisdb.app.customer-added``.
    #[getter(r#type)]
    fn get_type(&self) -> Option<&str> {
        self.r#type.as_deref()
    }
    /// The server time of the commit (RFC 3339, UTC, nanoseconds).
    #[getter]
    fn time(&self) -> Option<&str> {
        self.time.as_deref()
    }
    /// The CloudEvents spec version (``"1.0"``).
    #[getter]
    fn specversion(&self) -> Option<&str> {
        self.specversion.as_deref()
    }
    /// The content type of ``data`` (``"application/json"``).
    #[getter]
    fn datacontenttype(&self) -> Option<&str> {
        self.datacontenttype.as_deref()
    }
    /// The hash of the previous event in the global chain.
    #[getter]
    fn predecessorhash(&self) -> Option<&str> {
        self.predecessorhash.as_deref()
    }
    /// The hash of this event.
    #[getter]
    fn hash(&self) -> Option<&str> {
        self.hash.as_deref()
    }
    /// The event payload, decoded on first access and cached (None when absent).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.data_obj(py)
    }

    /// The raw JSON text of ``data`` (None when absent), without decoding it.
    #[getter]
    fn data_json(&self) -> Option<&str> {
        self.data_raw.as_ref().map(|r| r.get())
    }

    fn __getattr__<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        for (k, raw) in &self.extra {
            if k == name {
                return parse_json(py, raw.get());
            }
        }
        Err(PyAttributeError::new_err(format!(
            "'Event' object has no attribute '{name}'"
        )))
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Ok(k) = key.cast::<PyString>() else {
            return Err(PyKeyError::new_err(key.clone().unbind()));
        };
        match self.lookup(py, &k.to_cow()?)? {
            Some(v) => Ok(v),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    /// ``event.get(key, default=None)``: the attribute's value, or ``default``.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let found = match key.cast::<PyString>() {
            Ok(k) => self.lookup(py, &k.to_cow()?)?,
            Err(_) => None,
        };
        Ok(found.unwrap_or_else(|| default.unwrap_or_else(|| py.None().into_bound(py))))
    }

    fn __contains__(&self, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(k) = key.cast::<PyString>() else {
            return Ok(false);
        };
        let k = k.to_cow()?;
        Ok(self.present_keys().contains(&k.as_ref()))
    }

    fn __len__(&self) -> usize {
        self.present_keys().len()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, self.present_keys())?
            .try_iter()
            .map(Bound::into_any)
    }

    /// The attribute names present on this event, in wire order (unknown ones last).
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.present_keys())
    }

    /// The attribute values, in the order of ``keys()``.
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for k in self.present_keys() {
            list.append(self.lookup(py, k)?)?;
        }
        Ok(list)
    }

    /// ``(key, value)`` pairs, in the order of ``keys()``.
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for k in self.present_keys() {
            let v = self.lookup(py, k)?;
            list.append(PyTuple::new(
                py,
                [PyString::new(py, k).into_any(), v.into_bound_py_any(py)?],
            )?)?;
        }
        Ok(list)
    }

    /// A plain ``dict`` of every attribute present (``data`` decoded).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for k in self.present_keys() {
            if let Some(v) = self.lookup(py, k)? {
                d.set_item(k, v)?;
            }
        }
        Ok(d)
    }

    fn __richcmp__(
        &self,
        py: Python<'_>,
        other: &Bound<'_, PyAny>,
        op: pyo3::basic::CompareOp,
    ) -> PyResult<Py<PyAny>> {
        use pyo3::basic::CompareOp;
        let Ok(other) = other.cast::<PyEvent>() else {
            return Ok(py.NotImplemented());
        };
        let other = other.get();
        let equal = (|| -> PyResult<bool> {
            let same_strs = self.id == other.id
                && self.source == other.source
                && self.subject == other.subject
                && self.r#type == other.r#type
                && self.time == other.time
                && self.specversion == other.specversion
                && self.datacontenttype == other.datacontenttype
                && self.predecessorhash == other.predecessorhash
                && self.hash == other.hash
                && self.extra.len() == other.extra.len();
            if !same_strs {
                return Ok(false);
            }
            match (&self.data_raw, &other.data_raw) {
                (None, None) => {}
                (Some(a), Some(b)) => {
                    if !Self::same_json(py, a, b)? {
                        return Ok(false);
                    }
                }
                _ => return Ok(false),
            }
            for (k, a) in &self.extra {
                match other.extra.iter().find(|(ok, _)| ok == k) {
                    Some((_, b)) => {
                        if !Self::same_json(py, a, b)? {
                            return Ok(false);
                        }
                    }
                    None => return Ok(false),
                }
            }
            Ok(true)
        })()?;
        match op {
            CompareOp::Eq => Ok(equal.into_py_any(py)?),
            CompareOp::Ne => Ok((!equal).into_py_any(py)?),
            _ => Ok(py.NotImplemented()),
        }
    }

    #[classattr]
    const __hash__: Option<Py<PyAny>> = None;

    fn __repr__(&self) -> String {
        format!(
            "Event(id={}, type={}, subject={})",
            repr_opt(self.id.as_deref()),
            repr_opt(self.r#type.as_deref()),
            repr_opt(self.subject.as_deref())
        )
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let d = slf.get().to_dict(py)?;
        PyTuple::new(
            py,
            [
                slf.get_type().into_any(),
                PyTuple::new(py, [d.into_any()])?.into_any(),
            ],
        )
    }
}

fn repr_opt(v: Option<&str>) -> String {
    match v {
        Some(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        None => "None".to_string(),
    }
}
