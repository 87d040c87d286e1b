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


def _stub_docstrings() -> Iterator[Tuple[str, Any, str]]:
    """(qualified name, runtime object, docstring) of every documented name in the stubs."""
    import ast
    import pathlib

    from genesisdb import _native

    stub = pathlib.Path(genesisdb.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text(encoding="utf-8"))

    def walk(body: List[ast.stmt], owner: Any, prefix: str) -> Iterator[Tuple[str, Any, str]]:
        for node in body:
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                continue
            if node.name.startswith("_"):
                continue
            runtime = vars(owner).get(node.name)
            doc = ast.get_docstring(node)
            if doc is not None:
                yield f"{prefix}{node.name}", runtime, doc
            if isinstance(node, ast.ClassDef):
                yield from walk(node.body, runtime, f"{prefix}{node.name}.")

    yield from walk(tree.body, _native, "")


def test_native_stub_docstrings_match_the_runtime():
    # IDEs read the stubs, not the extension: the stubs carry the Rust doc comments verbatim
    seen = 0
    for name, runtime, doc in _stub_docstrings():
        seen += 1
        assert runtime is not None, f"{name}: in the stub but not at runtime"
        assert doc == inspect.cleandoc(runtime.__doc__ or ""), f"{name}: stub docstring differs"
    assert seen > 40


def test_every_public_native_name_has_a_stub_docstring():
    from genesisdb import _native

    documented = {name for name, _, _ in _stub_docstrings()}
    expected = set()
    for name in _native.__all__:
        if name.startswith("_"):
            continue
        expected.add(name)
        obj = getattr(_native, name)
        if inspect.isclass(obj):
            expected.update(
                f"{name}.{m}" for m, v in vars(obj).items() if _is_public(m) and _documentable(v)
                and m != "__init__"
            )
    assert sorted(expected - documented) == []
