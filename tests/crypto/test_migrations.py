from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crypto.audit.store import VAULT_MIGRATIONS
from crypto.database import open_database
from crypto.errors import SchemaError
from crypto.migrations import Migration, current_version, migrate, statements
from crypto.vault import Vault, VaultOptions

KEY = bytes(range(32))


def tables(conn: Any) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_vault_schema_from_nothing_to_latest(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "v.db", KEY)
    assert current_version(conn, "vault") == 0
    assert migrate(conn, "vault", VAULT_MIGRATIONS) == len(VAULT_MIGRATIONS)
    assert {"audit_log", "audit_keys", "schema_versions"} <= tables(conn)
    # running again is a no-op
    assert migrate(conn, "vault", VAULT_MIGRATIONS) == len(VAULT_MIGRATIONS)
    conn.close()


PRACTICE = (
    Migration(1, "clients", statements("CREATE TABLE clients(id INTEGER PRIMARY KEY, name TEXT)")),
    Migration(
        2,
        "client status",
        statements(
            "ALTER TABLE clients ADD COLUMN status TEXT NOT NULL DEFAULT 'active'",
            "CREATE INDEX clients_status ON clients(status)",
        ),
    ),
)


def test_each_migration_from_the_previous_version(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "v.db", KEY)
    migrate(conn, "practice", PRACTICE[:1])
    conn.execute("INSERT INTO clients(name) VALUES ('kept')")
    assert migrate(conn, "practice", PRACTICE) == 2
    assert conn.execute("SELECT name, status FROM clients").fetchall() == [("kept", "active")]
    assert current_version(conn, "practice") == 2
    conn.close()


def test_failing_migration_rolls_back_whole(tmp_path: Path) -> None:
    broken = (
        *PRACTICE[:1],
        Migration(2, "broken", statements("CREATE TABLE half(x)", "THIS IS NOT SQL")),
    )
    conn = open_database(tmp_path / "v.db", KEY)
    migrate(conn, "practice", PRACTICE[:1])
    with pytest.raises(SchemaError, match="migration 2"):
        migrate(conn, "practice", broken)
    assert "half" not in tables(conn)
    assert current_version(conn, "practice") == 1
    conn.close()


def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "v.db", KEY)
    migrate(conn, "practice", PRACTICE)
    with pytest.raises(SchemaError, match="newer"):
        migrate(conn, "practice", PRACTICE[:1])
    assert current_version(conn, "practice") == 2
    conn.close()


def test_numbering_must_be_contiguous(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "v.db", KEY)
    with pytest.raises(SchemaError):
        migrate(conn, "practice", (PRACTICE[1],))
    conn.close()


def test_vault_runs_component_migrations(make_vault: Callable[[], Vault]) -> None:
    vault = make_vault()
    assert vault.migrate("practice", PRACTICE) == 2
    with pytest.raises(ValueError):
        vault.migrate("vault", VAULT_MIGRATIONS)
    vault.lock()


def test_unlock_refuses_a_vault_from_the_future(
    make_vault: Callable[[], Vault], vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    vault = make_vault()
    with vault.transaction() as tx:
        tx.execute("UPDATE schema_versions SET version = 99 WHERE component = 'vault'")
    vault.lock()
    with pytest.raises(SchemaError):
        Vault.unlock(vault_dir, passphrase, options=options)
