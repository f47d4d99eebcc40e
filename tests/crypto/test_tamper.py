"""The attacks of issue 9, one test each: someone with the vault's files (and, where said, an older
copy of them) but not the key. Each was possible on the code before the row sums, the commit
counter, the key-slot epoch and the anchor; each is now refused or named."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlcipher3

from crypto import keys as keyring
from crypto.audit import store
from crypto.errors import (
    AuditIntegrityError,
    CryptoError,
    DatabaseDamagedError,
    RollbackDetectedError,
    RowIntegrityError,
    StaleHeaderError,
    VaultMismatchError,
)
from crypto.header import VaultHeader
from crypto.kdf import TEST_ONLY
from crypto.migrations import Migration, statements
from crypto.vault import HEADER_NAME, Vault, VaultOptions, unwrap_with_passphrase
from crypto.vault_backup import create_backup

from .conftest import PASSPHRASE

NOTES = (
    Migration(
        1,
        "notes",
        statements(
            "CREATE TABLE notes(id INTEGER PRIMARY KEY, client TEXT NOT NULL, body TEXT NOT NULL)",
            "CREATE INDEX notes_client ON notes(client)",
            "CREATE TABLE tags(note INTEGER, tag TEXT, PRIMARY KEY (note, tag)) WITHOUT ROWID",
        ),
    ),
)


def _fresh(tmp_path: Path, name: str) -> VaultOptions:
    """Options with a state folder of their own (no anchor: tests of the folder alone)."""
    return VaultOptions(actor="user:test", state_dir=tmp_path / f"state-{name}")


def _unlock(folder: Path, options: VaultOptions, passphrase: str = PASSPHRASE) -> Vault:
    vault = Vault.unlock(folder, passphrase, options=options)
    vault.migrate("notes", NOTES)
    return vault


def _write_notes(vault: Vault, start: int, count: int, *, audit: bool = True) -> None:
    with vault.transaction() as tx:
        for i in range(start, start + count):
            tx.execute(
                "INSERT INTO notes(id, client, body) VALUES (?, ?, ?)",
                (i, f"c{i % 5}", f"session note {i} " * 20),
            )
            tx.execute("INSERT INTO tags(note, tag) VALUES (?, 'intake')", (i,))
        if audit:
            tx.audit("note.created", object_type="note", object_id=str(start))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "vault"
    vault, _ = Vault.create(path, PASSPHRASE, kdf=TEST_ONLY, options=_fresh(tmp_path, "create"))
    vault.migrate("notes", NOTES)
    _write_notes(vault, 1, 40)
    vault.lock()
    return path


def _raw(folder: Path) -> sqlcipher3.Connection:
    """The database opened with the key by a tool that is not Quietroom (an insider)."""
    header = VaultHeader.from_bytes((folder / HEADER_NAME).read_bytes())
    master = unwrap_with_passphrase(header, PASSPHRASE.encode())
    key = keyring.subkey(master, keyring.LABEL_DATABASE, header.vault_id)
    conn = sqlcipher3.connect(str(folder / header.database), isolation_level=None)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return conn


def _dump(folder: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = _raw(folder)
    try:
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
            for table in ("notes", "tags", "audit_log", "settings_probe")
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        }
    finally:
        conn.close()


def test_rows_changed_with_the_key_but_outside_quietroom_are_named(
    folder: Path, tmp_path: Path
) -> None:
    conn = _raw(folder)
    with pytest.raises(sqlcipher3.OperationalError, match="qr_row_mac"):
        conn.execute("UPDATE notes SET body = 'rewritten' WHERE id = 3")  # triggers need the key
    conn.execute("DROP TRIGGER qr_rows_notes_u")
    conn.execute("UPDATE notes SET body = 'rewritten' WHERE id = 3")
    conn.close()
    vault = _unlock(folder, _fresh(tmp_path, "a"))  # the cheap unlock check cannot see rows
    with pytest.raises(RowIntegrityError) as caught:
        vault.verify_audit()
    assert caught.value.table == "notes"
    vault.lock()


def test_sums_changed_outside_quietroom_are_refused_at_unlock(folder: Path, tmp_path: Path) -> None:
    """The per-table sums are sealed with the commit: the cheap unlock check sees a change to
    them without reading a single row."""
    conn = _raw(folder)
    conn.execute("UPDATE integrity_sums SET acc = zeroblob(32) WHERE tbl = 'notes'")
    conn.close()
    with pytest.raises(RowIntegrityError, match="seal"):
        Vault.unlock(folder, PASSPHRASE, options=_fresh(tmp_path, "a"))


def test_a_deleted_row_in_a_without_rowid_table_is_named(folder: Path, tmp_path: Path) -> None:
    conn = _raw(folder)
    conn.execute("DROP TRIGGER qr_rows_tags_d")
    conn.execute("DELETE FROM tags WHERE note = 7")
    conn.close()
    vault = _unlock(folder, _fresh(tmp_path, "a"))
    with pytest.raises(RowIntegrityError) as caught:
        vault.verify_audit()
    assert caught.value.table == "tags"
    vault.lock()


def test_rows_written_without_an_audit_entry_are_still_sealed(folder: Path, tmp_path: Path) -> None:
    options = _fresh(tmp_path, "a")
    vault = _unlock(folder, options)
    before = vault.commit_count
    header = (folder / HEADER_NAME).read_bytes()
    _write_notes(vault, 100, 3, audit=False)  # an autosave, say: no entry of its own
    assert vault.commit_count == before + 1  # sealed in the database...
    assert (folder / HEADER_NAME).read_bytes() == header  # ...without a header write
    with pytest.raises(sqlcipher3.OperationalError, match=r"readonly|read-only|query_only"):
        vault.query("DELETE FROM notes")  # the read path cannot write unsealed changes
    report = vault.verify_audit()
    assert report.tables >= 3
    _write_notes(vault, 200, 1, audit=False)
    vault._close()  # the process dies after two autosaves: the header still opens the vault
    vault = Vault.unlock(folder, PASSPHRASE, options=options)
    assert vault.query("SELECT count(*) FROM notes WHERE id >= 100") == [(4,)]
    vault.verify_audit()
    vault.lock()


def test_a_database_rolled_back_over_autosaves_only_is_caught_by_the_anchor(
    folder: Path, tmp_path: Path
) -> None:
    """Commits that only change rows do not move the header, so the header cannot tell a
    database put back over them; the anchor (commit counter) can."""
    options = _fresh(tmp_path, "a")
    vault = _unlock(folder, options)
    with vault.frozen() as snapshot:  # the database as the header names it
        older = snapshot.database.read_bytes()
        header = (folder / HEADER_NAME).read_bytes()
    with vault.transaction() as tx:
        tx.execute("UPDATE notes SET body = 'autosaved later' WHERE id = 2")
    assert (folder / HEADER_NAME).read_bytes() == header
    vault.record_anchor()  # as a backup or a lock does
    db = snapshot.database
    vault._close()
    db.write_bytes(older)  # put back: consistent with the header, one autosave older
    with pytest.raises(RollbackDetectedError):
        Vault.unlock(folder, PASSPHRASE, options=options)
    # Without the anchor (the state folder rolled back too) it opens: the documented limit.
    Vault.unlock(folder, PASSPHRASE, options=_fresh(tmp_path, "b")).lock()


def test_header_from_before_a_passphrase_change_never_opens_again(
    folder: Path, tmp_path: Path
) -> None:
    options = _fresh(tmp_path, "a")
    old_header = (folder / HEADER_NAME).read_bytes()
    vault = _unlock(folder, options)
    vault.change_passphrase("a new passphrase entirely")
    vault.lock()
    current = (folder / HEADER_NAME).read_bytes()
    (folder / HEADER_NAME).write_bytes(old_header)
    with pytest.raises(StaleHeaderError):
        Vault.unlock(folder, PASSPHRASE, options=options)
    with pytest.raises(StaleHeaderError):  # even when the person says "accept the damage"
        Vault.unlock(folder, PASSPHRASE, options=options, accept_audit_damage=True)
    (folder / HEADER_NAME).write_bytes(current)
    Vault.unlock(folder, "a new passphrase entirely", options=options).lock()


def test_header_more_than_one_commit_behind_is_refused(folder: Path, tmp_path: Path) -> None:
    options = _fresh(tmp_path, "a")
    vault = _unlock(folder, options)
    old_header = (folder / HEADER_NAME).read_bytes()
    for i in range(15):
        vault.audit("client.opened", object_type="client", object_id=str(i))
    vault.lock()
    (folder / HEADER_NAME).write_bytes(old_header)
    with pytest.raises(VaultMismatchError, match="older copy"):
        Vault.unlock(folder, PASSPHRASE, options=options)


def test_one_commit_of_fifteen_entries_behind_is_crash_lag(folder: Path, tmp_path: Path) -> None:
    """A crash between a commit and its header write leaves the header one commit behind, however
    many entries that commit held: accepted and reported."""
    options = _fresh(tmp_path, "a")
    vault = _unlock(folder, options)
    old_header = (folder / HEADER_NAME).read_bytes()
    with vault.transaction() as tx:
        for i in range(15):
            tx.audit("client.opened", object_type="client", object_id=str(i))
    vault._close()  # the process dies; the header is put back to before that commit
    (folder / HEADER_NAME).write_bytes(old_header)
    vault = Vault.unlock(folder, PASSPHRASE, options=options)
    assert vault.unlock_info is not None and vault.unlock_info.checkpoint_lag == 15
    vault.verify_audit()
    vault.lock()


def test_audit_log_cut_back_with_an_older_header_is_refused(folder: Path, tmp_path: Path) -> None:
    """The effect of copying the audit-log pages and the header back from an older copy: the end
    of the log is gone, newer rows stay."""
    options = _fresh(tmp_path, "a")
    vault = _unlock(folder, options)
    vault.lock()
    old_header = (folder / HEADER_NAME).read_bytes()
    old_last = store.last(_raw(folder))
    assert old_last is not None
    vault = _unlock(folder, options)
    _write_notes(vault, 200, 5)
    vault.lock()
    conn = _raw(folder)
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute("DELETE FROM audit_log WHERE seq > ?", (old_last[0].seq,))
    conn.close()
    (folder / HEADER_NAME).write_bytes(old_header)
    with pytest.raises(AuditIntegrityError, match="last sealed commit"):
        Vault.unlock(folder, PASSPHRASE, options=options)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_equal_length_forks_do_not_mix(folder: Path, tmp_path: Path) -> None:
    """Two histories of the same length from one vault: neither's header opens the other's
    database, and neither's rows pass for the other's."""
    options = _fresh(tmp_path, "a")
    fork = _copy(folder, tmp_path / "fork")
    for path, body in ((folder, "ours"), (fork, "theirs")):
        vault = _unlock(path, _fresh(tmp_path, body))
        with vault.transaction() as tx:
            tx.execute("UPDATE notes SET body = ? WHERE id = 1", (body,))
            tx.audit("note.edited", object_type="note", object_id="1")
        vault.lock()
    ours = VaultHeader.from_bytes((folder / HEADER_NAME).read_bytes()).checkpoint
    theirs = VaultHeader.from_bytes((fork / HEADER_NAME).read_bytes()).checkpoint
    assert ours is not None and theirs is not None
    assert (ours.seq, ours.commit) == (theirs.seq, theirs.commit) and ours.mac != theirs.mac
    mixed = _copy(folder, tmp_path / "mixed")
    shutil.copy(fork / HEADER_NAME, mixed / HEADER_NAME)
    with pytest.raises(AuditIntegrityError, match="forked"):
        Vault.unlock(mixed, PASSPHRASE, options=options)


def _pages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [data[i : i + 4096] for i in range(0, len(data), 4096)]


def test_every_single_older_page_spliced_in_is_detected(folder: Path, tmp_path: Path) -> None:
    """Copy single pages of an older copy of the same vault into the current one, one at a
    time: every splice is refused at unlock or named by verification, unless it changed
    nothing a reader can see (a page SQLite no longer uses)."""
    old = _copy(folder, tmp_path / "old")
    vault = _unlock(folder, _fresh(tmp_path, "new"))
    _write_notes(vault, 300, 30)
    with vault.transaction() as tx:
        tx.execute("UPDATE notes SET body = 'amended' WHERE id = 5")
        tx.execute("DELETE FROM notes WHERE id = 9")
        tx.audit("note.amended", object_type="note", object_id="5")
    vault.lock()
    header = VaultHeader.from_bytes((folder / HEADER_NAME).read_bytes())
    old_pages, new_pages = _pages(old / header.database), _pages(folder / header.database)
    reference = _dump(folder)
    differing = [
        i for i in range(min(len(old_pages), len(new_pages))) if old_pages[i] != new_pages[i]
    ]
    assert len(differing) >= 5
    outcomes: dict[str, int] = {}
    for i in differing:
        spliced = _copy(folder, tmp_path / f"splice-{i}")
        pages = list(new_pages)
        pages[i] = old_pages[i]
        (spliced / header.database).write_bytes(b"".join(pages))
        try:
            attempt = Vault.unlock(spliced, PASSPHRASE, options=_fresh(tmp_path, f"s{i}"))
        except CryptoError as refused:
            outcomes[type(refused).__name__] = outcomes.get(type(refused).__name__, 0) + 1
            continue
        try:
            attempt.verify_audit()
        except CryptoError as named:
            outcomes[type(named).__name__] = outcomes.get(type(named).__name__, 0) + 1
            continue
        finally:
            attempt._close()
        visible = _dump(spliced)
        visible["audit_log"] = visible["audit_log"][: len(reference["audit_log"])]
        assert visible == reference, f"page {i} changed the records without being detected"
        outcomes["harmless"] = outcomes.get("harmless", 0) + 1
    assert sum(n for k, n in outcomes.items() if k != "harmless") >= 1, outcomes


@pytest.mark.parametrize("cut", [1, 100, 4095])
def test_a_database_cut_short_is_refused_at_unlock(folder: Path, tmp_path: Path, cut: int) -> None:
    header = VaultHeader.from_bytes((folder / HEADER_NAME).read_bytes())
    db = folder / header.database
    db.write_bytes(db.read_bytes()[:-cut])
    before = db.read_bytes()
    with pytest.raises(DatabaseDamagedError, match="cut short"):
        Vault.unlock(folder, PASSPHRASE, options=_fresh(tmp_path, "a"))
    assert db.read_bytes() == before


@pytest.mark.parametrize("size", [0, 1])
def test_an_empty_database_gets_no_schema_written_into_it(
    folder: Path, tmp_path: Path, size: int
) -> None:
    header = VaultHeader.from_bytes((folder / HEADER_NAME).read_bytes())
    db = folder / header.database
    db.write_bytes(b"\0" * size)
    with pytest.raises(DatabaseDamagedError, match="less than one page"):
        Vault.unlock(folder, PASSPHRASE, options=_fresh(tmp_path, "a"))
    assert db.read_bytes() == b"\0" * size


def test_backup_create_refuses_a_damaged_vault(folder: Path, tmp_path: Path) -> None:
    vault = _unlock(folder, _fresh(tmp_path, "a"))
    header = vault.header
    db = folder / header.database
    data = bytearray(db.read_bytes())
    data[3 * 4096 + 100] ^= 0xFF  # one byte of a page that is not cached by the open vault
    db.write_bytes(bytes(data))
    backups = tmp_path / "backups"
    backups.mkdir()
    with pytest.raises(DatabaseDamagedError):
        create_backup(vault, backups)
    assert list(backups.iterdir()) == []
    vault._close()


def test_whole_folder_rolled_back_is_reported_with_a_choice(folder: Path, tmp_path: Path) -> None:
    options = _fresh(tmp_path, "shared")
    _unlock(folder, options).lock()
    old = _copy(folder, tmp_path / "old")
    vault = _unlock(folder, options)
    _write_notes(vault, 400, 3)
    vault.lock()
    shutil.rmtree(folder)
    shutil.copytree(old, folder)
    with pytest.raises(RollbackDetectedError) as caught:
        Vault.unlock(folder, PASSPHRASE, options=options)
    assert caught.value.seen_commit > caught.value.found_commit
    vault = Vault.unlock(folder, PASSPHRASE, options=options, accept_rollback=True)
    assert vault.unlock_info is not None and vault.unlock_info.rolled_back_to is not None
    assert [e.action for e in vault.audit_entries()][-2] == "vault.rollback_accepted"
    vault.lock()
    Vault.unlock(folder, PASSPHRASE, options=options).lock()  # the anchor was reset


def test_folder_and_state_rolled_back_are_caught_by_a_newer_backup(
    folder: Path, tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    old = _copy(folder, tmp_path / "old")
    vault = _unlock(folder, _fresh(tmp_path, "a"))
    _write_notes(vault, 500, 3)
    create_backup(vault, backups)
    vault.lock()
    # Both the vault folder and this computer's state are put back: only the backup remembers.
    rolled = Vault.unlock(old, PASSPHRASE, options=_fresh(tmp_path, "b"))
    with pytest.raises(RollbackDetectedError, match="backup"):
        create_backup(rolled, backups)
    rolled.lock()


def test_rekey_never_switches_before_the_new_recovery_key_is_typed_back(
    folder: Path, tmp_path: Path
) -> None:
    from crypto.recovery_key import RecoveryKey
    from crypto.vault import RekeyConfirmationError

    vault = _unlock(folder, _fresh(tmp_path, "a"))
    before = (folder / HEADER_NAME).read_bytes()
    pending = vault.prepare_rekey(PASSPHRASE)
    assert (folder / HEADER_NAME).read_bytes() == before  # shown, not yet in force
    for wrong in (RecoveryKey.generate(), "not a key at all"):
        with pytest.raises(RekeyConfirmationError):
            vault.commit_rekey(pending, wrong)
    assert (folder / HEADER_NAME).read_bytes() == before
    assert vault.header.generation == 0
    vault.commit_rekey(pending, pending.recovery_key.formatted().lower())
    assert vault.header.generation == 1
    vault.verify_audit()
    vault.lock()
