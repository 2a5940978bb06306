"""One exception tree: every exception class of the package lives in `cryptomonitor.exceptions`
and derives from `CryptoMonitorError`, so that a broad ``except CryptoMonitorError`` (the
CLI's exit statuses) knows every deliberate error there is."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pathlib
from collections.abc import Iterator
from types import ModuleType

from cryptomonitor import exceptions
from tests.support.paths import ROOT

PACKAGE = ROOT / "cryptomonitor"


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def class_statements() -> Iterator[tuple[str, ast.ClassDef]]:
    """Every ``class`` statement of the package, at any depth (in functions too)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "static" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                yield module_name(path), node


def resolve(node: ast.expr, module: ModuleType) -> object:
    """What a base-class expression names in `module` (``Name``, ``a.b``, ``X[T]``)."""
    if isinstance(node, ast.Subscript):
        return resolve(node.value, module)
    if isinstance(node, ast.Attribute):
        return getattr(resolve(node.value, module), node.attr)
    if isinstance(node, ast.Name):
        if hasattr(module, node.id):
            return getattr(module, node.id)
        return getattr(builtins, node.id)
    raise AssertionError(f"{module.__name__}: a base the test cannot read: {ast.unparse(node)}")


def is_exception(base: object) -> bool:
    return inspect.isclass(base) and issubclass(base, BaseException)


def test_every_exception_class_is_defined_in_exceptions() -> None:
    elsewhere = [
        f"{name}:{node.lineno} {node.name}"
        for name, node in class_statements()
        if name != exceptions.__name__
        and any(is_exception(resolve(b, importlib.import_module(name))) for b in node.bases)
    ]
    assert elsewhere == [], "define them in cryptomonitor/exceptions.py"


def test_every_exception_class_derives_from_the_root() -> None:
    defined = [
        value
        for value in vars(exceptions).values()
        if inspect.isclass(value) and value.__module__ == exceptions.__name__
    ]
    statements = [n.name for name, n in class_statements() if name == exceptions.__name__]
    assert sorted(c.__name__ for c in defined) == sorted(statements)  # none hidden, none nested
    assert exceptions.CryptoMonitorError.__bases__ == (Exception,)
    for cls in defined:
        assert issubclass(cls, exceptions.CryptoMonitorError), cls
        assert cls.__doc__ and "__doc__" in vars(cls), f"{cls.__name__} needs a docstring"


def test_the_test_sees_an_exception_class_defined_elsewhere() -> None:
    """The scan is not vacuous: a class with an exception base outside exceptions.py is found,
    however it names the base."""
    tree = ast.parse(
        "class A(Exception): pass\nclass B(exceptions.SourceError): pass\nclass C(int): pass"
    )
    found = [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            is_exception(resolve(b, importlib.import_module("cryptomonitor"))) for b in node.bases
        )
    ]
    assert found == ["A", "B"]


def test_signals_stay_out_of_the_branches_their_catchers_do_not_expect() -> None:
    """Re-parenting changed no handler: the writer's race signal is not a database failure
    (the pipeline would drop or keep the batch for it), and a receiver's failure is neither a
    source's nor the database's (the delivery thread's database handler would reset)."""
    assert not issubclass(exceptions.AlreadyStored, exceptions.DatabaseError)
    assert not issubclass(
        exceptions.DeliveryError, exceptions.DatabaseError | exceptions.SourceError
    )
    for signal in (
        exceptions.RetryableStatus,
        exceptions.StreamSilent,
        exceptions.SubscriptionRefused,
    ):
        assert issubclass(signal, exceptions.SourceError)
        assert not issubclass(signal, exceptions.SourceUnavailable | exceptions.ResponseError)
