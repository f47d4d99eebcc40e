"""Opening a SQLCipher 4 database with a raw 256-bit key, and nothing else.

SQLCipher treats any key string that is not of the form ``x'<64 hex>'`` as a passphrase and runs
PBKDF2 over it, silently. Our keys are already derived (Argon2id, then HKDF), so the only door in is
``open_database(path, key: bytes)`` with exactly 32 bytes; anything else is refused.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import sqlcipher3

from crypto.errors import KeyFormatError, UnlockError

Connection = Any  # sqlcipher3 ships no type information
DatabaseError = sqlcipher3.DatabaseError
IntegrityError = sqlcipher3.IntegrityError

KEY_BYTES = 32
MEMORY_SECURITY_ENV = "QUIETROOM_SQLCIPHER_MEMORY_SECURITY"


def memory_security_enabled() -> bool:
    """SQLCipher's ``cipher_memory_security`` (wipe and lock every allocation) is OFF by default.

    Measured on the target machine it makes database work 5-12x slower (search p95 99 ms instead
    of 16 ms on 200,000 notes), and what it guards against, reading the process's freed memory, is
    outside our threat model (docs/threat-model.md); Python's own copies of note text would stay
    unprotected anyway. SQLCipher itself turned it off by default in 4.5 for the same cost.
    ``QUIETROOM_SQLCIPHER_MEMORY_SECURITY=1`` turns it on for a hardened deployment.
    """
    return os.environ.get(MEMORY_SECURITY_ENV) == "1"


CACHE_KIB = 64 * 1024


def raw_key_literal(key: bytes) -> str:
    """The only key form we hand to SQLCipher: ``"x'<64 hex digits>'"``."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise KeyFormatError("a database key must be exactly 32 raw bytes")
    return f"\"x'{key.hex()}'\""


def open_database(path: Path, key: bytes) -> Connection:
    """Open (or create) the encrypted database at ``path``; raise ``UnlockError`` if the key does
    not open it or a page fails its HMAC."""
    literal = raw_key_literal(key)
    # Create the file ourselves, owner-only: SQLite would use the umask (often 0644), and it gives
    # the -wal and -shm files the database file's mode.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlcipher3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        # SQLCipher logs to stderr by default; our errors carry what the person needs.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = {literal}")
        if memory_security_enabled():
            # Process-wide in SQLCipher, and cannot be turned off again once on.
            conn.execute("PRAGMA cipher_memory_security = ON")
        # Reading the schema forces key derivation and the HMAC check of page 1.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA foreign_keys = ON")
        # Decrypted pages live in the page cache; a larger cache means fewer decryptions.
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    except sqlcipher3.DatabaseError:
        with contextlib.suppress(sqlcipher3.Error):
            conn.close()
        raise UnlockError() from None
    return conn


def attach_encrypted(conn: Connection, path: Path, alias: str, key: bytes) -> None:
    """Attach another encrypted database, keyed with a raw key as well."""
    if not alias.isidentifier():
        raise ValueError("bad alias")
    literal = raw_key_literal(key)
    conn.execute(f"ATTACH DATABASE ? AS {alias} KEY {literal}", (str(path),))


def integrity_problems(conn: Connection) -> list[str]:
    """Run SQLCipher's page-HMAC check and SQLite's structural check; return what they report."""
    return page_problems(conn) + structure_problems(conn)


def page_problems(conn: Connection) -> list[str]:
    """SQLCipher's check of every page's HMAC (``PRAGMA cipher_integrity_check``)."""
    try:
        return [str(row[0]) for row in conn.execute("PRAGMA cipher_integrity_check")]
    except sqlcipher3.DatabaseError as exc:
        return [f"database damaged: {exc}"]


def structure_problems(conn: Connection) -> list[str]:
    """SQLite's own structural check (``PRAGMA integrity_check``)."""
    try:
        checks = [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except sqlcipher3.DatabaseError as exc:
        return [f"database damaged: {exc}"]
    return [c for c in checks if c != "ok"]
