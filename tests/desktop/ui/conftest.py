from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto.vault import VaultOptions

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


@pytest.fixture
def options(tmp_path: Path) -> VaultOptions:
    return VaultOptions(
        actor="user:test", clock=lambda: datetime(2026, 1, 5, 9, tzinfo=UTC),
        state_dir=tmp_path / "state",
    )  # fmt: skip


@pytest.fixture
def screenshot_dir() -> Path | None:
    """Where to save screenshots for the README: only when QUIETROOM_SCREENSHOTS=1."""
    if os.environ.get("QUIETROOM_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
