from __future__ import annotations

from pathlib import Path

import pytest

from crypto.database import IntegrityError, open_database
from crypto.errors import SchemaError
from crypto.migrations import Migration, current_version, migrate, statements
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.schema import COMPONENT, PRACTICE_MIGRATIONS

KEY = bytes(range(32))


def tables(conn: object) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")  # type: ignore[attr-defined]
    return {r[0] for r in rows}


def test_v0_to_latest_creates_every_table(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "v.db", KEY)
    assert current_version(conn, COMPONENT) == 0
    assert migrate(conn, COMPONENT, PRACTICE_MIGRATIONS) == len(PRACTICE_MIGRATIONS) == 3
    assert {
        "clients",
        "sessions",
        "notes",
        "templates",
        "settings",
        "retention_purge",
        "clients_fts",
        "notes_fts",
        "psychotherapy_fts",
        "note_headers",
    } <= tables(conn)
    assert migrate(conn, COMPONENT, PRACTICE_MIGRATIONS) == 3  # a second run changes nothing
    conn.close()


def test_each_migration_from_the_previous_version(tmp_path: Path) -> None:
    """Every migration applies on top of a database at the version before it, keeping rows."""
    conn = open_database(tmp_path / "v.db", KEY)
    for version in range(1, len(PRACTICE_MIGRATIONS) + 1):
        assert migrate(conn, COMPONENT, PRACTICE_MIGRATIONS[:version]) == version
        assert current_version(conn, COMPONENT) == version
        if version == 1:
            conn.execute(
                "INSERT INTO clients(id, name, status, created_at, updated_at)"
                " VALUES ('c1', 'Kept', 'active', 't', 't')"
            )
    assert conn.execute("SELECT name FROM clients").fetchall() == [("Kept",)]
    conn.close()


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "v.db", KEY)
    newer = (
        *PRACTICE_MIGRATIONS,
        Migration(len(PRACTICE_MIGRATIONS) + 1, "future", statements("CREATE TABLE future(x)")),
    )
    migrate(conn, COMPONENT, newer)
    with pytest.raises(SchemaError, match="newer"):
        migrate(conn, COMPONENT, PRACTICE_MIGRATIONS)
    conn.close()


def test_opening_a_practice_migrates(practice: Practice) -> None:
    rows = practice._vault.query(
        "SELECT version FROM schema_versions WHERE component = ?", (COMPONENT,)
    )
    assert rows == [(len(PRACTICE_MIGRATIONS),)]


def test_the_database_itself_refuses_to_change_a_signed_note(practice: Practice) -> None:
    client = practice.create_client(ClientDetails(name="Blake Brightwater"))
    note = practice.create_note(client.id, "free")
    practice.save_draft(note.id, {"note": "text"})
    practice.sign_note(note.id)
    with pytest.raises(IntegrityError, match="signed note"), practice._vault.transaction() as tx:
        tx.execute("UPDATE notes SET body = 'changed' WHERE id = ?", (note.id,))
    with pytest.raises(IntegrityError, match="retention"), practice._vault.transaction() as tx:
        tx.execute("DELETE FROM notes WHERE id = ?", (note.id,))
    with pytest.raises(IntegrityError, match="compartment"), practice._vault.transaction() as tx:
        tx.execute("UPDATE notes SET compartment = 'psychotherapy' WHERE status = 'draft'")
        tx.execute(
            "INSERT INTO notes(id, client_id, compartment, kind, template_key, template_name,"
            " sections, status, author, created_at, updated_at)"
            " VALUES ('d', ?, 'progress', 'original', 'free', 'Free', '[]', 'draft', 'a', 't',"
            " 't')",
            (client.id,),
        )
        tx.execute("UPDATE notes SET compartment = 'psychotherapy' WHERE id = 'd'")
