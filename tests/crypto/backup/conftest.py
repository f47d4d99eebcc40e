"""Shared fixtures for the backup format tests (tests cannot import each other: importlib mode)."""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from crypto.backup import KdfLimits, open_backup, write_backup
from crypto.backup.recipient import recipient_public_key
from crypto.kdf import TEST_ONLY

VECTORS_DIR = Path(__file__).resolve().parents[2] / "vectors" / "backup"


@dataclass(frozen=True)
class Keys:
    passphrase: bytes = b"a long backup passphrase"
    recovery_secret: bytes = bytes(range(16, 32))
    wrong_passphrase: bytes = b"a long backup passphrasE"
    wrong_recovery_secret: bytes = bytes(range(17, 33))
    # The unlocked vault's backup sub-key (32 bytes), and another vault's.
    vault_secret: bytes = bytes(range(32, 64))
    wrong_vault_secret: bytes = bytes(range(33, 65))
    # The writer's side of the recovery key: the public half, as kept in the vault header.
    recipient_public_key: bytes = field(
        default_factory=lambda: recipient_public_key(bytes(range(16, 32)))
    )
    # Another vault's recipient (the public half of ``wrong_recovery_secret``).
    other_recipient_public_key: bytes = field(
        default_factory=lambda: recipient_public_key(bytes(range(17, 33)))
    )
    # Cheap but real caps: a mutated header may ask for up to 1 MiB and 4 passes, no more.
    limits: KdfLimits = field(
        default_factory=lambda: KdfLimits(max_memory_kib=1024, max_time_cost=4)
    )


MakeBackup = Callable[..., bytes]
OpenAll = Callable[..., bytes]


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys()


@pytest.fixture(scope="session")
def make_backup(keys: Keys) -> MakeBackup:
    """``make_backup(plaintext, passphrase=True, recovery=True, vault=False) -> bytes`` with the
    test KDF."""

    def make(
        plaintext: bytes, *, passphrase: bool = True, recovery: bool = True, vault: bool = False
    ) -> bytes:
        out = io.BytesIO()
        write_backup(
            io.BytesIO(plaintext),
            out,
            passphrase=keys.passphrase if passphrase else None,
            recipient_public_key=keys.recipient_public_key if recovery else None,
            vault_secret=keys.vault_secret if vault else None,
            kdf_params=TEST_ONLY,
        )
        return out.getvalue()

    return make


@pytest.fixture(scope="session")
def open_all(keys: Keys) -> OpenAll:
    """``open_all(data, **key) -> plaintext``: open and read to the end (tight KDF limits)."""

    def run(data: bytes, **key: Any) -> bytes:
        if not key:
            key = {"passphrase": keys.passphrase}
        return open_backup(io.BytesIO(data), kdf_limits=keys.limits, **key).read()

    return run


@pytest.fixture(scope="session")
def vectors_lib() -> ModuleType:
    """The vector generator module (``build``, ``mutate``, ``plaintext_for``...)."""
    spec = importlib.util.spec_from_file_location(
        "backup_vectors_generate", VECTORS_DIR / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def payloads() -> dict[str, bytes]:
    """Deterministic payloads around the chunk size (64 KiB)."""

    def pattern(n: int) -> bytes:
        return bytes((i * 31 + 7) % 256 for i in range(n))

    c = 64 * 1024
    return {
        "empty": b"",
        "one-byte": b"x",
        "chunk-minus-1": pattern(c - 1),
        "exactly-one-chunk": pattern(c),
        "chunk-plus-1": pattern(c + 1),
        "two-chunks-minus-1": pattern(2 * c - 1),
        "multi-chunk": pattern(5 * c + 12345),
    }
