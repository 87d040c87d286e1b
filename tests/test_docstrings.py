"""Every public name of the package has a docstring: modules, classes, functions, methods and
properties, the native extension's included (its docstrings come from the Rust doc comments).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from typing import Any, Iterator, List, Tuple

import genesisdb


def _modules() -> List[types.ModuleType]:
    names = ["genesisdb"] + [
        f"genesisdb.{m.name}" for m in pkgutil.iter_modules(genesisdb.__path__)
    ]
    # __main__ is the command line; importing it must not run anything
    return [importlib.import_module(name) for name in names]


def _is_public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def _documentable(obj: Any) -> bool:
    return (
        inspect.isroutine(obj)
        or isinstance(obj, (property, staticmethod, classmethod))
        or inspect.isgetsetdescriptor(obj)
        or inspect.ismemberdescriptor(obj)
    )


def _own(module: types.ModuleType, obj: Any) -> bool:
    """Defined by this package (not re-exported from the standard library)."""
    return str(getattr(obj, "__module__", module.__name__)).startswith("genesisdb")


def _public_names(module: types.ModuleType) -> Iterator[Tuple[str, Any]]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if _is_public(n)]
    for name in names:
        yield f"{module.__name__}.{name}", getattr(module, name)


def _undocumented() -> List[str]:
    missing: List[str] = []
    seen: set = set()
    for module in _modules():
        if not (module.__doc__ or "").strip():
            missing.append(module.__name__)
        for qualname, obj in _public_names(module):
            if inspect.ismodule(obj) or not _own(module, obj) or id(obj) in seen:
                continue
            if not (inspect.isclass(obj) or inspect.isroutine(obj)):
                continue
            seen.add(id(obj))
            if not (inspect.getdoc(obj) or "").strip():
                missing.append(qualname)
            if not inspect.isclass(obj):
                continue
            for name, member in vars(obj).items():
                if not _is_public(name) or not _documentable(member):
                    continue
                target = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                if not (getattr(target, "__doc__", None) or "").strip():
                    missing.append(f"{qualname}.{name}")
    return missing


def test_every_public_name_has_a_docstring():
    missing = _undocumented()
    assert not missing, "no docstring: " + ", ".join(missing)


def test_the_walk_covers_the_native_classes():
    # guards the test above against walking nothing
    from genesisdb import _native

    names = {n for n, _ in _public_names(_native)}
    assert {"genesisdb._native.CoreClient", "genesisdb._native.runtime_stats"} <= names
    assert inspect.getdoc(_native.CoreClient.observe_events)
    assert inspect.getdoc(_native.Event.data)
