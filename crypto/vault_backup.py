"""Backups of a vault: create, verify, restore, list.

A backup file (docs/backup-format.md) holds, inside its encryption, a manifest and then the vault
itself: the header bytes and a consistent snapshot of the database, which are still encrypted
under the vault's own keys. No plaintext exists at any point: the snapshot is the database file
read under a write lock after a full WAL checkpoint (``Vault.frozen``), and staging during
verify/restore writes the same encrypted pages next to the target. Every temporary file is removed
on every exit path.

Who can open a backup:
- the recovery key: it opens the backup (X25519 recipient) *and* the vault inside it;
- the backup passphrase, if one was set: it opens the backup; the vault inside still needs the
  vault passphrase it had when the backup was made;
- the vault itself, while unlocked (a key slot under the vault's backup sub-key), so the app can
  verify and list its own backups without asking for anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from crypto.anchor import Anchor
from crypto.atomic import fsync_dir
from crypto.audit.actions import AuditAction
from crypto.audit.chain import VerifyReport
from crypto.backup import (
    BackupIOError,
    BackupReader,
    ManifestError,
    open_backup,
    read_manifest,
    write_backup_with_manifest,
)
from crypto.errors import (
    AuditIntegrityError,
    CryptoError,
    DatabaseDamagedError,
    RollbackDetectedError,
    VaultExistsError,
)
from crypto.header import VaultHeader
from crypto.kdf import RFC9106_LOW_MEMORY, KdfParams
from crypto.recovery_key import RecoveryKey
from crypto.vault import (
    Snapshot,
    Vault,
    VaultOptions,
    iso_utc,
    passphrase_bytes,
    unwrap_with_passphrase,
    unwrap_with_recovery_key,
    vault_exists,
)
from crypto.vault_files import STAGING_PREFIX, STRAY_AFTER_S, remove_stray_staging

SUFFIX = ".qrbackup"
MANIFEST_FORMAT = "quietroom-vault-backup"
MANIFEST_VERSION = 1
MAX_HEADER_BYTES = 16 * 1024
_COPY = 1024 * 1024
_SYNC_EVERY = 4 * 1024 * 1024  # bytes of backup written between two fdatasync calls

Progress = Callable[[int], None]
Cancel = Callable[[], bool]


class BackupContentError(CryptoError):
    """The backup opened, but what is inside is not a usable vault (a different format, a
    snapshot that fails its checks, or an audit log that does not match the manifest). Try
    another backup."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    backup_id: str
    created_at: str
    size: int
    audit_seq: int


@dataclass(frozen=True)
class VerifyResult:
    manifest: dict[str, Any]
    report: VerifyReport
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class BackupSecret:
    """What the person (or the app) holds that opens a backup: exactly one of these."""

    backup_passphrase: str | None = None
    recovery_key: RecoveryKey | None = None
    vault_secret: bytes | None = None  # the unlocked vault's backup sub-key

    def open(self, handle: BinaryIO) -> BackupReader:
        given = [
            x is not None for x in (self.backup_passphrase, self.recovery_key, self.vault_secret)
        ]
        if sum(given) != 1:
            raise ValueError("give exactly one secret to open a backup")
        if self.backup_passphrase is not None:
            return open_backup(handle, passphrase=passphrase_bytes(self.backup_passphrase))
        if self.recovery_key is not None:
            return open_backup(handle, recovery_secret=self.recovery_key.secret)
        return open_backup(handle, vault_secret=self.vault_secret)


def file_name(vault_id: str, created: datetime, backup_id: str) -> str:
    """``quietroom-<vault>-<UTC time>Z-<backup id>.qrbackup``: sorts by time, names its backup."""
    stamp = created.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    return f"quietroom-{vault_id[:8]}-{stamp}Z-{backup_id[:12]}{SUFFIX}"


# --------------------------------------------------------------------------- create
def create_backup(
    vault: Vault,
    destination: Path,
    *,
    backup_passphrase: str | None = None,
    kdf: KdfParams | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> BackupResult:
    """Write a verified backup of the open ``vault`` into the folder ``destination``.

    Atomic: the file appears under its final name only once it is complete and has been read
    back and checked; otherwise nothing is left behind. Audited as ``backup.created``.
    """
    if not destination.is_dir():
        raise BackupIOError(
            "reach the backup folder", FileNotFoundError(2, "folder not found", str(destination))
        )
    remove_stray_staging(destination)  # left by a verification a crash interrupted
    _remove_stray_partials(destination)
    problems = vault.structure_problems()  # on a snapshot: writers go on meanwhile
    if problems:
        raise DatabaseDamagedError("; ".join(problems[:5]))
    _check_not_behind_backups(vault, destination)
    created = vault.options.clock()
    backup_id = uuid.uuid4().hex
    final = destination / file_name(vault.vault_id, created, backup_id)
    partial = destination / f".{final.name}.partial"
    try:
        with vault.frozen() as snapshot:  # the vault waits only while its bytes are read
            manifest, digest = _write(
                vault,
                snapshot,
                backup_id,
                created,
                partial,
                backup_passphrase,
                kdf,
                progress,
                cancel,
            )
        _read_back(partial, vault.backup_key(), manifest, digest)
        os.replace(partial, final)
        fsync_dir(destination)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    size = final.stat().st_size
    vault.audit(
        AuditAction.BACKUP_CREATED,
        object_type="backup",
        object_id=backup_id,
        details={"bytes": size, "audit_seq": snapshot.audit_seq, "commit": snapshot.commit},
    )
    vault.record_anchor()
    return BackupResult(final, backup_id, manifest["created_at"], size, snapshot.audit_seq)


def _write(
    vault: Vault,
    snapshot: Snapshot,
    backup_id: str,
    created: datetime,
    partial: Path,
    backup_passphrase: str | None,
    kdf: KdfParams | None,
    progress: Progress | None,
    cancel: Cancel | None,
) -> tuple[dict[str, Any], bytes]:
    """Stream the frozen vault into ``partial`` and fsync it; return the manifest and the SHA-256
    of what was written."""
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "backup_id": backup_id,
        "created_at": iso_utc(created),
        "app_version": _app_version(),
        "vault_id": snapshot.vault_id,
        "generation": snapshot.generation,
        "schema": snapshot.schema,
        "audit": {
            "seq": snapshot.audit_seq,
            "mac": snapshot.audit_mac.hex(),
            "commit": snapshot.commit,
            "slot_epoch": snapshot.slot_epoch,
        },
        "parts": {"header": len(snapshot.header), "database": snapshot.database.stat().st_size},
    }
    header = VaultHeader.from_bytes(snapshot.header)
    digest = hashlib.sha256()
    try:
        with open(partial, "xb", opener=_owner_only) as out:
            write_backup_with_manifest(
                manifest,
                _payload(snapshot.header, snapshot.database, digest),
                _SteadyWriter(out),
                passphrase=None
                if backup_passphrase is None
                else passphrase_bytes(backup_passphrase),
                recipient_public_key=header.backup_recipient,
                vault_secret=vault.backup_key(),
                kdf_params=kdf or RFC9106_LOW_MEMORY,
                progress=progress,
                cancel=cancel,
            )
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise BackupIOError("write the backup", exc) from exc
    return manifest, digest.digest()


class _SteadyWriter:
    """Writes through to a file and hands what it wrote to the disk every ``_SYNC_EVERY``
    bytes. Without it a backup leaves its whole size dirty in the page cache until its final
    fsync, and the vault's own commits (an autosave's fsync) then queue behind hundreds of
    megabytes of writeback; with it they wait for a few megabytes at most."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._unsynced = 0

    def write(self, data: bytes, /) -> int:
        written = self._handle.write(data)
        self._unsynced += len(data)
        if self._unsynced >= _SYNC_EVERY:
            self._handle.flush()
            os.fdatasync(self._handle.fileno())
            self._unsynced = 0
        return written


def _payload(header: bytes, database: Path, digest: Any) -> Iterator[bytes]:
    digest.update(header)
    yield header
    with open(database, "rb") as handle:
        while block := handle.read(_COPY):
            digest.update(block)
            yield block


def _read_back(path: Path, vault_secret: bytes, manifest: dict[str, Any], digest: bytes) -> None:
    """Read the whole file back with the vault's own slot: every chunk authenticates and the
    content is byte for byte what was written."""
    check = hashlib.sha256()
    with open(path, "rb") as handle:
        reader = open_backup(handle, vault_secret=vault_secret)
        if read_manifest(reader) != manifest:
            raise BackupContentError("the backup read back with a different manifest")
        for chunk in reader.chunks():
            check.update(chunk)
    if check.digest() != digest:
        raise BackupContentError("the backup read back differs from what was written")


NEWEST_BACKUPS_COMPARED = 3


def manifest_anchor(manifest: dict[str, Any]) -> Anchor | None:
    """The vault state a backup recorded (None for backups made before commit counters)."""
    audit = manifest.get("audit") or {}
    if not isinstance(audit, dict) or "commit" not in audit:
        return None
    return Anchor.from_json({**audit, "vault_id": manifest.get("vault_id")})


def _check_not_behind_backups(vault: Vault, destination: Path) -> None:
    """A vault older than the newest backups of it in ``destination`` was rolled back (or the
    backups come from a fork of it): refuse rather than write a backup of the older state."""
    prefix = f"quietroom-{vault.vault_id[:8]}-"
    for listed in [b for b in list_backups(destination) if b.path.name.startswith(prefix)][
        :NEWEST_BACKUPS_COMPARED
    ]:
        try:
            manifest = read_backup_manifest(
                listed.path, BackupSecret(vault_secret=vault.backup_key())
            )
        except CryptoError:
            continue  # not readable with this vault's key: not one of its backups
        seen = manifest_anchor(manifest)
        if seen is not None and seen.vault_id == vault.vault_id and vault.is_behind(seen):
            raise RollbackDetectedError(
                seen.commit, vault.commit_count, f"the backup {listed.path.name}", seen.seq
            )


# --------------------------------------------------------------------------- open and stage
@contextlib.contextmanager
def _opened(path: Path, secret: BackupSecret) -> Iterator[tuple[dict[str, Any], BackupReader]]:
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed by the with below)
    except OSError as exc:
        raise BackupIOError("open the backup", exc) from exc
    with handle:
        reader = secret.open(handle)
        manifest = read_manifest(reader)
        _check_manifest(manifest)
        yield manifest, reader


def read_backup_manifest(path: Path, secret: BackupSecret) -> dict[str, Any]:
    """The manifest only (reads the first chunks, not the whole file)."""
    with _opened(path, secret) as (manifest, _reader):
        return manifest


def _check_manifest(manifest: dict[str, Any]) -> None:
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ManifestError("this backup does not hold a Quietroom vault")
    if manifest.get("version") != MANIFEST_VERSION:
        raise ManifestError(
            f"this backup's content is version {manifest.get('version')}; this Quietroom reads "
            f"version {MANIFEST_VERSION}: update Quietroom"
        )
    parts = manifest.get("parts")
    if (
        not isinstance(parts, dict)
        or not isinstance(parts.get("header"), int)
        or not isinstance(parts.get("database"), int)
        or not 0 < parts["header"] <= MAX_HEADER_BYTES
        or parts["database"] < 0
    ):
        raise ManifestError("the backup's manifest does not describe its parts")


def _stage(
    reader: BackupReader, manifest: dict[str, Any], folder: Path, *, durable: bool
) -> VaultHeader:
    """Write the vault inside the backup into ``folder`` (encrypted pages only); ``durable``
    fsyncs it (a restore must survive a crash; a verify's staging is thrown away)."""
    parts = manifest["parts"]
    header_bytes = reader.read(parts["header"])
    if len(header_bytes) != parts["header"]:
        raise BackupContentError("the backup ends inside the vault header")
    try:
        header = VaultHeader.from_bytes(header_bytes)
    except CryptoError:
        raise BackupContentError("the vault header inside the backup is damaged") from None
    try:
        with _private_file(folder / "vault.header") as out:
            out.write(header_bytes)
        remaining = parts["database"]
        with _private_file(folder / header.database) as out:
            while remaining:
                block = reader.read(min(_COPY, remaining))
                if not block:
                    raise BackupContentError("the backup ends inside the database")
                out.write(block)
                remaining -= len(block)
            out.flush()
            if durable:
                os.fsync(out.fileno())
    except OSError as exc:
        raise BackupIOError("write the restored vault", exc) from exc
    if reader.read(1):
        raise BackupContentError("the backup holds more than its manifest describes")
    return header


def _master_key(header: VaultHeader, secret: BackupSecret, vault_passphrase: str | None) -> bytes:
    if secret.recovery_key is not None:
        return unwrap_with_recovery_key(header, secret.recovery_key)
    if vault_passphrase is None:
        raise ValueError("the vault passphrase is needed to open the vault inside this backup")
    return unwrap_with_passphrase(header, passphrase_bytes(vault_passphrase))


def _check_staged(
    folder: Path,
    manifest: dict[str, Any],
    inspect: Callable[[Path], tuple[VerifyReport, list[str]]],
) -> VerifyResult:
    report, problems = inspect(folder)
    audit = manifest.get("audit") or {}
    if report.head.seq != audit.get("seq") or report.head.mac.hex() != audit.get("mac"):
        raise AuditIntegrityError(
            report.head.seq, "the audit log in the backup does not end where its manifest says"
        )
    return VerifyResult(manifest=manifest, report=report, problems=problems)


# --------------------------------------------------------------------------- verify
def verify_backup(
    path: Path,
    secret: BackupSecret,
    *,
    vault_passphrase: str | None = None,
    vault: Vault | None = None,
    options: VaultOptions | None = None,
) -> VerifyResult:
    """Check every chunk, open the snapshot, run the database integrity check and the whole
    audit-chain verification. Restores nothing; the staging folder is removed on every path.

    The vault inside is opened with the recovery key, or ``vault_passphrase``, or - for a backup
    of the unlocked ``vault`` itself - with that vault's own key."""
    staging = _staging_dir(path.parent)
    try:
        with _opened(path, secret) as (manifest, reader):
            header = _stage(reader, manifest, staging, durable=False)
        if vault is not None and header.vault_id == vault.vault_id:
            return _check_staged(staging, manifest, vault.inspect_copy)
        master = _master_key(header, secret, vault_passphrase)
        return _check_staged(
            staging, manifest, lambda folder: Vault.inspect(folder, master, options=options)
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def record_verification(vault: Vault, path: Path, result: VerifyResult) -> None:
    vault.audit(
        AuditAction.BACKUP_VERIFIED,
        object_type="backup",
        object_id=str(result.manifest.get("backup_id", path.name))[:64],
        details={"ok": result.ok, "entries": result.report.entries},
    )


# --------------------------------------------------------------------------- restore
def restore_backup(
    path: Path,
    target: Path,
    secret: BackupSecret,
    *,
    vault_passphrase: str | None = None,
    new_passphrase: str | None = None,
    overwrite: bool = False,
    options: VaultOptions | None = None,
) -> Path | None:
    """Restore into the vault folder ``target``; return where an old vault was moved, if any.

    Refuses an existing vault unless ``overwrite``; then the old folder is first moved aside
    (``<target>.replaced-<time>``), never deleted. With the recovery key a ``new_passphrase`` is
    set (emergency access); with the backup passphrase the vault opens with its own passphrase.
    The restored chain gets a ``backup.restored`` entry. A failure leaves ``target`` untouched.
    """
    if vault_exists(target) and not overwrite:
        raise VaultExistsError(
            f"a vault already exists in {target}; choose another folder or allow replacing it"
        )
    if secret.recovery_key is not None and new_passphrase is None:
        raise ValueError("restoring with the recovery key needs a new passphrase")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_dir(target.parent)
    try:
        with _opened(path, secret) as (manifest, reader):
            header = _stage(reader, manifest, staging, durable=True)
        master = _master_key(header, secret, vault_passphrase)
        _check_staged(
            staging, manifest, lambda folder: Vault.inspect(folder, master, options=options)
        )
        if secret.recovery_key is not None:
            assert new_passphrase is not None
            vault = Vault.recover(
                staging,
                secret.recovery_key,
                new_passphrase,
                options=options,
                accept_rollback=True,  # the person chose this backup: an older state on purpose
            )
        else:
            assert vault_passphrase is not None
            vault = Vault.unlock(staging, vault_passphrase, options=options, accept_rollback=True)
        try:
            vault.audit(
                AuditAction.BACKUP_RESTORED,
                object_type="backup",
                object_id=str(manifest["backup_id"])[:64],
                details={"backup_created_at": str(manifest.get("created_at", ""))[:40]},
            )
        finally:
            vault.lock()
        moved_aside = None
        if target.exists():
            stamp = (options or VaultOptions()).clock().strftime("%Y%m%dT%H%M%S")
            moved_aside = target.with_name(f"{target.name}.replaced-{stamp}")
            os.rename(target, moved_aside)
        os.rename(staging, target)
        fsync_dir(target.parent)
        return moved_aside
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


# --------------------------------------------------------------------------- list
@dataclass(frozen=True)
class ListedBackup:
    path: Path
    size: int
    modified: float


def list_backups(folder: Path) -> list[ListedBackup]:
    """Backup files in ``folder``, newest first (by name, which carries the UTC time)."""
    if not folder.is_dir():
        return []
    found = [
        ListedBackup(p, p.stat().st_size, p.stat().st_mtime)
        for p in folder.iterdir()
        if p.is_file() and p.name.endswith(SUFFIX) and not p.name.startswith(".")
    ]
    return sorted(found, key=lambda b: b.path.name, reverse=True)


def _remove_stray_partials(destination: Path) -> None:
    """Half-written backups a crash left (``.<name>.partial``), untouched for an hour."""
    now = datetime.now(UTC).timestamp()
    for partial in destination.glob(f".quietroom-*{SUFFIX}.partial"):
        with contextlib.suppress(OSError):
            if now - partial.stat().st_mtime >= STRAY_AFTER_S:
                partial.unlink()


def _private_file(path: Path) -> BinaryIO:
    """A new file only its owner can read (0600), open for writing."""
    return open(path, "wb", opener=_owner_only)


def _owner_only(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _staging_dir(near: Path) -> Path:
    """A private folder next to the target (same disk, so the final rename is atomic)."""
    try:
        return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=near))
    except OSError:
        return Path(tempfile.mkdtemp(prefix="qr-staging-"))


def _app_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("quietroom")
    except PackageNotFoundError:
        return "unknown"
