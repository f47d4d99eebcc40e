"""Consistent snapshots of an unlocked vault's encrypted database file, for backups, without
holding up writers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from crypto.database import open_database
from crypto.errors import VaultBusyError
from crypto.vault_core import VaultCore


@dataclass(frozen=True)
class Snapshot:
    """A consistent, still-encrypted database file plus the header that opens it."""

    header: bytes
    database: Path
    vault_id: str
    generation: int
    audit_seq: int
    audit_mac: bytes
    schema: dict[str, int]
    commit: int = 0
    slot_epoch: int = 0


class SnapshotAccess(VaultCore):
    @contextlib.contextmanager
    def frozen(self) -> Iterator[Snapshot]:
        """A consistent snapshot for a backup, valid inside the ``with``; writers go on.

        Under the vault's lock, every committed page is checkpointed from the WAL into the
        database file (``wal_checkpoint(TRUNCATE)``: the WAL is then empty) and a read
        transaction starts on a connection of its own. A reader that started on an empty WAL
        reads the database file alone, and while it lives SQLite backfills nothing into that file
        (a checkpoint needs the exclusive lock on that reader's slot). So the file's bytes stay
        exactly this snapshot while the caller reads them, and new commits go to the WAL. The
        bytes are SQLCipher pages, still encrypted under this vault's keys: nothing is
        decrypted or re-encrypted.
        """
        with self._mutex:
            conn = self._require_open()
            keys = self._require_keys()
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy:
                raise VaultBusyError("the vault is busy; try the backup again")
            reader = open_database(self.path / self._header.database, bytes(keys.database))
            try:
                reader.execute("PRAGMA query_only = ON")
                reader.execute("BEGIN")
                schema = dict(reader.execute("SELECT component, version FROM schema_versions"))
                snapshot = Snapshot(
                    header=self._header.to_bytes(),
                    database=self.path / self._header.database,
                    vault_id=self.vault_id,
                    generation=self._header.generation,
                    audit_seq=self._head.seq,
                    audit_mac=self._head.mac,
                    schema={str(k): int(v) for k, v in schema.items()},
                    commit=self.commit_count,
                    slot_epoch=self._slot_epoch,
                )
            except BaseException:
                reader.close()
                raise
        try:
            yield snapshot
        finally:
            with contextlib.suppress(Exception):
                reader.execute("ROLLBACK")
            reader.close()
