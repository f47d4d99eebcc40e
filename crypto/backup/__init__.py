"""Quietroom's encrypted backup file format (version 1): a pure, streaming module.

It owns the bytes of a ``.qrbackup`` file and nothing else: no vault, no paths, no Qt. A backup is
a header (key slots that wrap a fresh file key, authenticated by a MAC keyed from that key) and a
payload of 64 KiB ChaCha20-Poly1305 chunks in age's STREAM construction. A backup passphrase, the
vault's recovery key, or the unlocked vault that wrote it opens it, as chosen by the writer. The
recovery-key slot is an X25519 recipient (as in age): the writer needs only the public key kept in
the vault header, so backups can be made without the recovery key. The vault-key slot lets the
running app read back and verify its own backups with its backup sub-key. The byte-level
specification is ``docs/backup-format.md``.

Public operations::

    write_backup(src, dst, passphrase=..., recipient_public_key=..., vault_secret=...)
    reader = open_backup(src, passphrase=... or recovery_secret=... or vault_secret=...)
    for chunk in reader.chunks(): ...        # or reader.copy_to(dst) / reader.read(n)
    write_backup_with_manifest(manifest, src, dst, ...); read_manifest(reader)
"""

from __future__ import annotations

from crypto.backup.container import read_manifest, write_backup_with_manifest
from crypto.backup.errors import (
    BackupCancelledError,
    BackupError,
    BackupIOError,
    ChunkCorruptError,
    EmptyFileError,
    HeaderCorruptError,
    KdfLimitError,
    KeySlotMissingError,
    ManifestError,
    NotABackupError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
    WrongKeyError,
)
from crypto.backup.format import CHUNK_SIZE, MAGIC, VERSION, Header, SlotType, backup_size
from crypto.backup.recipient import recipient_private_key, recipient_public_key
from crypto.backup.stream import (
    BackupReader,
    BackupSummary,
    BackupWriter,
    KdfLimits,
    WriterRandomness,
    inspect_backup,
    open_backup,
    write_backup,
)

__all__ = [
    "CHUNK_SIZE",
    "MAGIC",
    "VERSION",
    "BackupCancelledError",
    "BackupError",
    "BackupIOError",
    "BackupReader",
    "BackupSummary",
    "BackupWriter",
    "ChunkCorruptError",
    "EmptyFileError",
    "Header",
    "HeaderCorruptError",
    "KdfLimitError",
    "KdfLimits",
    "KeySlotMissingError",
    "ManifestError",
    "NotABackupError",
    "SlotType",
    "TrailingDataError",
    "TruncatedError",
    "UnsupportedVersionError",
    "WriterRandomness",
    "WrongKeyError",
    "backup_size",
    "inspect_backup",
    "open_backup",
    "read_manifest",
    "recipient_private_key",
    "recipient_public_key",
    "write_backup",
    "write_backup_with_manifest",
]
