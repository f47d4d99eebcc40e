"""The layering rules, checked by reading every module's imports (GUIDE.md: layers a machine
checks, not layers that hold by good will)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level modules it must never import
FORBIDDEN = {
    "crypto": {"PySide6", "aiortc", "av", "aiohttp", "desktop", "telehealth"},
    "telehealth": {"PySide6", "crypto", "desktop"},
    "desktop/core": {"PySide6", "desktop.ui", "desktop.cli", "aiortc", "av"},
    "desktop/cli": {"PySide6"},
    # the UI reaches the vault only through the desktop.core facade
    "desktop/ui": {"crypto"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violates(module: str, banned: set[str]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_its_layer(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no modules found under {package}"
    bad = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in files
        for module in sorted(imports_of(path))
        if violates(module, FORBIDDEN[package])
    ]
    assert bad == []


def test_only_desktop_ui_qt_imports_pyside() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "desktop" / "ui").rglob("*.py"))
        if path.name not in {"qt.py", "qt_media.py"}
        and any(m.startswith("PySide6") for m in imports_of(path))
    ]
    assert offenders == []
