"""Where a vault and the app's small state files live by default (per-user folders)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir, user_state_dir

APP = "Quietroom"
VAULT_ENV = "QUIETROOM_VAULT"
STATE_ENV = "QUIETROOM_STATE_DIR"


def default_vault_dir() -> Path:
    """``$QUIETROOM_VAULT`` if set, else the platform's per-user data folder."""
    env = os.environ.get(VAULT_ENV)
    return Path(env) if env else Path(user_data_dir(APP, appauthor=False)) / "vault"


def default_state_dir() -> Path:
    """Non-PHI state (failed unlock counters): ``$QUIETROOM_STATE_DIR`` or the per-user state
    folder."""
    env = os.environ.get(STATE_ENV)
    return Path(env) if env else Path(user_state_dir(APP, appauthor=False))
