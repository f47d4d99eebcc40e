"""The vault folder on disk: file names, the folder lock, the header file, and the hygiene of
files left by interrupted operations. Nothing here holds a key.

Folder layout (docs/vault-format.md)::

    vault.header        JSON: KDF parameters, wrapped master key (two slots), audit checkpoint
    vault-<gen>.db      SQLCipher 4 database (+ -wal, -shm while open)
    vault.lock          held while a process has the vault open
    vault.rekey         present only while a two-step rekey is prepared (no secret)
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from datetime import datetime
from pathlib import Path

import filelock

from crypto.atomic import atomic_write
from crypto.errors import DatabaseDamagedError, UnlockError, VaultBusyError
from crypto.header import MAX_HEADER_BYTES, VaultHeader

HEADER_NAME = "vault.header"
LOCK_NAME = "vault.lock"
REKEY_MARKER = "vault.rekey"
# SQLCipher 4's page size (cipher_page_size): every valid database file is a whole number of them.
PAGE_SIZE = 4096


def vault_exists(path: Path) -> bool:
    return (path / HEADER_NAME).is_file()


def acquire(path: Path) -> filelock.BaseFileLock:
    # Not thread-local: the app unlocks on a worker thread and may lock on another.
    lock = filelock.FileLock(str(path / LOCK_NAME), timeout=0, mode=0o600, thread_local=False)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise VaultBusyError("the vault is open in another Quietroom process") from None
    return lock


def read_header(path: Path) -> bytes:
    try:
        with open(path / HEADER_NAME, "rb") as handle:
            return handle.read(MAX_HEADER_BYTES + 1)
    except OSError:
        raise UnlockError() from None


def write_header(path: Path, header: VaultHeader) -> None:
    atomic_write(path / HEADER_NAME, header.to_bytes())


def check_database_file(db: Path) -> None:
    """Refuse, before SQLCipher touches it, a database file that cannot be whole: missing, empty,
    shorter than one page, or not a whole number of pages (cut short). Opening such a file would
    make SQLite write a fresh schema into it or read past its end."""
    try:
        size = db.stat().st_size
    except FileNotFoundError:
        raise DatabaseDamagedError("the database file is missing") from None
    if size < PAGE_SIZE:
        raise DatabaseDamagedError(f"the database file holds {size} bytes, less than one page")
    if size % PAGE_SIZE:
        raise DatabaseDamagedError(
            f"the database file holds {size} bytes, not a whole number of {PAGE_SIZE}-byte "
            "pages: it was cut short"
        )


def database_files(db: Path) -> list[Path]:
    return [db, *(db.with_name(db.name + s) for s in ("-wal", "-shm", "-journal"))]


def remove_database_files(db: Path) -> None:
    for file in database_files(db):
        file.unlink(missing_ok=True)


def remove_strays(path: Path, current: str) -> list[str]:
    """Remove what interrupted operations leave: databases other than the one the header names
    (a rekey interrupted before or after its switch) with their journals, and half-written
    temporary header files. Returns the names removed."""
    removed = []
    for candidate in sorted(path.glob("vault-*.db*")):
        base = candidate.name.split(".db", 1)[0] + ".db"
        suffix = candidate.name[len(base) :]
        if base != current and suffix in ("", "-wal", "-shm", "-journal"):
            candidate.unlink(missing_ok=True)
            removed.append(candidate.name)
    for temporary in path.glob(f".{HEADER_NAME}.*.tmp"):
        temporary.unlink(missing_ok=True)
        removed.append(temporary.name)
    return removed


STAGING_PREFIX = ".qr-staging-"
STRAY_AFTER_S = 3600.0


def remove_stray_staging(folder: Path, *, older_than_s: float = STRAY_AFTER_S) -> list[str]:
    """Remove staging folders that a restore or a backup verification interrupted by a crash left
    in ``folder`` (the vault's parent, or a backup folder): named ``.qr-staging-*``, untouched for
    an hour, and not held open (their vault lock is free). Returns the names removed."""
    removed = []
    now = time.time()
    for staging in sorted(folder.glob(STAGING_PREFIX + "*")):
        try:
            if not staging.is_dir() or now - staging.stat().st_mtime < older_than_s:
                continue
            if (staging / LOCK_NAME).exists():
                held = filelock.FileLock(str(staging / LOCK_NAME), timeout=0)
                try:
                    held.acquire()
                except filelock.Timeout:
                    continue  # a restore in another process is using it
                held.release()
            shutil.rmtree(staging)
        except OSError:
            continue
        removed.append(staging.name)
    return removed


def set_aside_orphans(path: Path, now: datetime) -> None:
    """A database without a header (a creation interrupted before its header was written) can
    never be opened: its key is gone. Move it aside rather than delete it."""
    stamp = now.strftime("%Y%m%dT%H%M%S")
    for orphan in path.glob("vault-*.db*"):
        orphan.rename(orphan.with_name(f"{orphan.name}.orphan-{stamp}"))


def write_rekey_marker(path: Path, generation: int, started_at: str) -> None:
    atomic_write(
        path / REKEY_MARKER,
        json.dumps({"new_generation": generation, "started_at": started_at}).encode() + b"\n",
    )


def read_rekey_marker(path: Path) -> dict[str, object] | None:
    marker = path / REKEY_MARKER
    if not marker.exists():
        return None
    try:
        doc = json.loads(marker.read_bytes())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def remove_rekey_marker(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (path / REKEY_MARKER).unlink()
