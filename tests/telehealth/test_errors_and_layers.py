"""The error hierarchy and the package's import boundaries."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from telehealth import errors

# errors.__file__ rather than telehealth.__file__: an editable install made before telehealth had an
# __init__.py resolves the package as a namespace package, whose __file__ is None.
PACKAGE = Path(errors.__file__).parent
FORBIDDEN = ("crypto", "desktop", "PySide6", "shiboken6")


def test_every_error_derives_from_the_root_and_speaks_to_the_user() -> None:
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if obj.__module__ == errors.__name__
    ]
    assert errors.TelehealthError in classes and len(classes) > 5
    for cls in classes:
        assert issubclass(cls, errors.TelehealthError)
        assert cls.__doc__ and len(cls.__doc__.split()) >= 8, cls


def test_root_error_is_never_raised() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                assert not (isinstance(target, ast.Name) and target.id == "TelehealthError"), path


def test_authentication_failures_look_alike() -> None:
    assert str(errors.MessageRejectedError()) == errors.MessageRejectedError.MESSAGE
    assert isinstance(errors.ReplayedMessageError(), errors.MessageRejectedError)


def test_telehealth_imports_no_qt_no_vault_no_desktop() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_package_has_a_docstring_saying_what_it_owns() -> None:
    text = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    doc = ast.get_docstring(ast.parse(text))
    assert doc and "owns" in doc.lower()
