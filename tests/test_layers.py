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
    # the command line, like the UI, reaches the vault only through the desktop.core facade
    "desktop/cli": {"PySide6", "crypto"},
    # the UI reaches the vault only through the desktop.core facade, and the call's media only
    # through telehealth (its tracks live in telehealth.capture_feed / outgoing_tracks)
    "desktop/ui": {"crypto", "aiortc", "av"},
}

# desktop.core drives a call's state from telehealth's lifecycle, so it may import telehealth,
# but only its pure modules: no network, no asyncio, no media stack (docs/architecture.md).
CORE_MAY_IMPORT_FROM_TELEHEALTH = {
    "telehealth.lifecycle",
    "telehealth.invite",
    "telehealth.errors",
    "telehealth.relay_credentials",  # the credential's format, for the practice's setting
    # forms through the sealed link: their format, and sealing the mailbox's two envelopes
    "telehealth.forms",
    "telehealth.mailbox_box",
    "telehealth.sealing",
    "telehealth.protocol",
    "telehealth.encoding",
}
PURE_TELEHEALTH_MAY_IMPORT = {"telehealth", "cryptography"}


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


def test_desktop_core_imports_only_pure_telehealth_modules() -> None:
    used = {
        module
        for path in sorted((ROOT / "desktop" / "core").rglob("*.py"))
        for module in imports_of(path)
        if violates(module, {"telehealth"})
    }
    assert used <= CORE_MAY_IMPORT_FROM_TELEHEALTH, used - CORE_MAY_IMPORT_FROM_TELEHEALTH
    # ...and those modules stay pure: standard library, cryptography and each other only.
    stdlib = __import__("sys").stdlib_module_names
    for name in sorted(CORE_MAY_IMPORT_FROM_TELEHEALTH):
        path = ROOT / (name.replace(".", "/") + ".py")
        outside = {
            m
            for m in imports_of(path)
            if m.split(".")[0] not in stdlib and m.split(".")[0] not in PURE_TELEHEALTH_MAY_IMPORT
        }
        assert outside == set(), f"{name} imports {outside}"
        assert {m for m in imports_of(path) if m.startswith("telehealth")} <= (
            CORE_MAY_IMPORT_FROM_TELEHEALTH | {"telehealth.encoding"}
        )
