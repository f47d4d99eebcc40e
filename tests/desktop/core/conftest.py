"""Fixtures for the practice domain: a practice in tmp_path with a cheap KDF and a fake clock,
plus helpers that read the audit log without writing to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice

PASSPHRASE = "correct horse battery staple"


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


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
def practice(vault_dir: Path, options: VaultOptions) -> Iterator[Practice]:
    opened, _ = Practice.create(vault_dir, PASSPHRASE, kdf=TEST_ONLY, options=options)
    yield opened
    if opened.is_open:
        opened.lock()


@pytest.fixture
def reopen(vault_dir: Path, options: VaultOptions) -> Callable[[Practice], Practice]:
    def again(current: Practice) -> Practice:
        if current.is_open:
            current.lock()
        return Practice.unlock(vault_dir, PASSPHRASE, options=options)

    return again


@pytest.fixture
def client_id(practice: Practice) -> str:
    return practice.create_client(
        ClientDetails(name="Avery Applewood", preferred_name="Ave", diagnosis_codes="F41.1")
    ).id


@pytest.fixture
def new_entries(practice: Practice) -> Callable[[], list[tuple[str, str, str]]]:
    """(action, object_type, object_id) of the entries written since the last call."""
    seen = [sum(1 for _ in practice.audit_entries())]

    def since() -> list[tuple[str, str, str]]:
        entries = list(practice.audit_entries())
        fresh = entries[seen[0] :]
        seen[0] = len(entries)
        return [(e.action, e.object_type, e.object_id) for e in fresh]

    return since


@pytest.fixture
def all_details(practice: Practice) -> Callable[[], str]:
    """Every audit entry's text, to check that no PHI ever reaches the log."""

    def text() -> str:
        return "\n".join(
            f"{e.action} {e.object_type} {e.object_id} {e.details}"
            for e in practice.audit_entries()
        )

    return text
