"""Test-wide settings: cheap KDF allowed, Qt offscreen, nothing written outside tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["QUIETROOM_ALLOW_TEST_KDF"] = "1"
