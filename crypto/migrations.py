"""A forward-only migration runner for the vault database.

Each component (the vault's own tables here; the practice domain in ``desktop.core``) owns an
ordered list of migrations and its version number in ``schema_versions``. A database written by a
newer version is refused untouched; a failing migration rolls back whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from crypto.database import Connection
from crypto.errors import SchemaError

Apply = Callable[[Connection], None]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Apply


def statements(*sql: str) -> Apply:
    """A migration step made of SQL statements, run one by one inside the migration's
    transaction (``executescript`` would commit first, breaking atomicity)."""

    def run(conn: Connection) -> None:
        for statement in sql:
            conn.execute(statement)

    return run


def current_version(conn: Connection, component: str) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute(
        "SELECT version FROM schema_versions WHERE component = ?", (component,)
    ).fetchone()
    return int(row[0]) if row else 0


def pending(conn: Connection, component: str, migrations: Sequence[Migration]) -> list[Migration]:
    """The migrations ``component`` still needs, in order; refuses a newer database."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise SchemaError(f"{component}: migrations must be numbered 1..n without gaps")
    latest = len(migrations)
    found = current_version(conn, component)
    if found > latest:
        raise SchemaError(
            f"this vault's {component} schema is version {found}, newer than this Quietroom "
            f"understands ({latest}); update Quietroom"
        )
    return list(migrations[found:])


def apply(conn: Connection, component: str, migration: Migration) -> None:
    """Run one migration and record its version, inside the caller's transaction."""
    try:
        _ensure_versions_table(conn)
        migration.apply(conn)
        conn.execute(
            "INSERT INTO schema_versions(component, version) VALUES (?, ?) "
            "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
            (component, migration.version),
        )
    except SchemaError:
        raise
    except Exception as exc:
        raise SchemaError(
            f"{component}: migration {migration.version} ({migration.name}) failed: {exc}"
        ) from exc


def migrate(conn: Connection, component: str, migrations: Sequence[Migration]) -> int:
    """Bring ``component`` to its latest version, one transaction per migration; return that
    version. (An unlocked vault migrates through ``Vault.migrate``, which also seals.)"""
    for migration in pending(conn, component, migrations):
        conn.execute("BEGIN IMMEDIATE")
        try:
            apply(conn, component, migration)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return len(migrations)


def _ensure_versions_table(conn: Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions("
        "component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
