from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto.kdf import TEST_ONLY
from crypto.vault import Vault, VaultOptions

PASSPHRASE = "correct horse battery staple"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def passphrase() -> str:
    return PASSPHRASE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def options(tmp_path: Path, clock: FakeClock) -> VaultOptions:
    return VaultOptions(actor="user:test", clock=clock, state_dir=tmp_path / "state")


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    return tmp_path / "vault"


@pytest.fixture
def make_vault(vault_dir: Path, options: VaultOptions) -> Callable[[], Vault]:
    def make() -> Vault:
        vault, _ = Vault.create(vault_dir, PASSPHRASE, kdf=TEST_ONLY, options=options)
        return vault

    return make


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, str]]:
    """Hashes of every file under a folder, to prove nothing changed."""

    def take(folder: Path) -> dict[str, str]:
        return {
            str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file()
        }

    return take
