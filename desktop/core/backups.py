"""Backups as the therapist sees them: back up now, automatic backups on lock and quit, retention,
history, verify, restore, and the warning when backups are stale. The file work is
``crypto.vault_backup``'s; this module decides when and where, reports progress in steps a progress
bar can show, and says what went wrong in words.

The UI never imports ``crypto`` (tests/test_layers.py): what it needs from there (the error types
it tells apart, the results) is reached through this module."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, cast

from crypto.audit.actions import AuditAction, Outcome
from crypto.backup import (
    BackupCancelledError,
    BackupError,
    BackupIOError,
    BackupReader,
    KeySlotMissingError,
    SlotType,
    UnsupportedVersionError,
    WrongKeyError,
    inspect_backup,
)
from crypto.errors import CryptoError, VaultExistsError, VaultLockedError
from crypto.kdf import KdfParams
from crypto.recovery_key import RecoveryKey
from crypto.vault import AuditQuery, Vault, VaultOptions, vault_exists
from crypto.vault_backup import (
    BackupResult,
    BackupSecret,
    Cancel,
    ListedBackup,
    Progress,
    VerifyResult,
    create_backup,
    list_backups,
    record_verification,
    restore_backup,
    verify_backup,
)
from desktop.core.backup_policy import Retention, Schedule, Trigger, health_warning
from desktop.core.backup_settings import BackupSettings, BackupSettingsStore
from desktop.core.errors import PracticeError
from desktop.core.passphrase_strength import check_new_passphrase

# What the UI needs from below, re-exported so that desktop/ui imports only desktop.core.
__all__ = [
    "BackupCancelledError",
    "BackupError",
    "BackupRecord",
    "BackupResult",
    "BackupService",
    "BackupSettings",
    "Phase",
    "RestoreKey",
    "RestoreRequest",
    "RestoreResult",
    "Step",
    "Trigger",
    "VaultExistsError",
    "VerifyResult",
    "explain",
    "has_backup_passphrase",
    "is_cancelled",
    "list_folder",
    "restore",
    "verify_file",
]

_NAME = re.compile(r"-(\d{8}T\d{6})Z-([0-9a-f]{12})\.qrbackup$")
# The manifest (and its small container prefix) written ahead of the vault's bytes; only used to
# scale the progress bar, so a rough figure is enough.
_MANIFEST_ALLOWANCE = 1024
HISTORY_SLACK = timedelta(days=1)  # a backup's entries are written just after its name's time
HISTORY_ENTRIES = 10_000  # backup entries read for the history (retention keeps far fewer)


@dataclass(frozen=True)
class BackupRecord:
    """A backup file in the destination, with what the audit log says about it."""

    path: Path
    created: datetime
    size: int
    verified: bool | None  # None: never verified since it was written
    # whether a backup passphrase also opens it (from its unauthenticated header); None: unknown
    passphrase: bool | None = None


def parse_name(path: Path) -> tuple[datetime, str] | None:
    """(creation time, short backup id) from a backup's file name."""
    match = _NAME.search(path.name)
    if not match:
        return None
    moment = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return moment, match.group(2)


def created_at(path: Path) -> datetime | None:
    parsed = parse_name(path)
    return parsed[0] if parsed else None


def has_backup_passphrase(path: Path) -> bool | None:
    """Whether the backup has a backup-passphrase slot, from its header alone (a few hundred
    bytes, no key, nothing decrypted; not authenticated, so a hint for display only). ``None``
    when the file cannot be read as a backup."""
    try:
        with open(path, "rb") as handle:
            header = inspect_backup(handle)
    except (OSError, BackupError):
        return None
    return SlotType.PASSPHRASE in header.slot_types


# --------------------------------------------------------------------------- progress
class Phase(StrEnum):
    """What a long backup operation is doing; the values are the words a progress bar shows."""

    WRITING = "Writing the backup"
    CHECKING_WRITE = "Reading the backup back to check it"
    READING = "Reading the backup"
    CHECKING = "Checking the database and the audit log"


@dataclass(frozen=True)
class Step:
    """One progress report: ``done`` of ``total`` bytes (``total`` 0: no measure, show busy)."""

    phase: Phase
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> int | None:
        if self.total <= 0:
            return None
        return max(0, min(100, self.done * 100 // self.total))

    @property
    def cancellable(self) -> bool:
        """Reading and writing stop at the next 64 KiB when cancelled; the checks that follow
        run to their end (they are short and leave nothing behind)."""
        return self.phase in (Phase.WRITING, Phase.READING)


OnStep = Callable[[Step], None]


class _WriteMeter:
    """Turns the writer's byte counts into steps. The vault is frozen (checkpointed, write-locked)
    from the first count on, so its database size is then exact."""

    def __init__(self, vault: Vault, on_step: OnStep, progress: Progress | None) -> None:
        self._vault = vault
        self._on_step = on_step
        self._progress = progress
        self._payload: int | None = None
        on_step(Step(Phase.WRITING, 0, _vault_bytes(vault, with_wal=True) + _MANIFEST_ALLOWANCE))

    def __call__(self, done: int) -> None:
        if self._progress is not None:
            self._progress(done)
        if self._payload is None:
            self._payload = _vault_bytes(self._vault, with_wal=False)
        if done >= self._payload:  # the final chunk: only the read-back check is left
            self._on_step(Step(Phase.CHECKING_WRITE))
        else:
            self._on_step(Step(Phase.WRITING, done, self._payload + _MANIFEST_ALLOWANCE))


def _vault_bytes(vault: Vault, *, with_wal: bool) -> int:
    header = vault.header
    database = vault.path / header.database
    total = len(header.to_bytes())
    for path in (database, database.with_name(database.name + "-wal")) if with_wal else (database,):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


class _ReadMeter:
    """Counts the bytes read from a backup file: steps for the bar, and the cancel check."""

    def __init__(self, path: Path, on_step: OnStep | None, cancel: Cancel | None) -> None:
        try:
            self.total = path.stat().st_size
        except OSError:
            self.total = 0  # opening it will say why
        self._on_step = on_step
        self._cancel = cancel
        self._read_all = False
        if on_step is not None:
            on_step(Step(Phase.READING, 0, self.total))

    def check(self, done: int) -> None:
        if self._cancel is not None and self._cancel():
            raise BackupCancelledError(done)

    def advance(self, done: int) -> None:
        if self._on_step is None or self._read_all:
            return
        if self.total and done >= self.total:
            self._read_all = True
            self._on_step(Step(Phase.CHECKING))
        else:
            self._on_step(Step(Phase.READING, done, self.total))


class _MeteredFile:
    """A backup file handle that reports what was read and stops when cancelled."""

    def __init__(self, handle: BinaryIO, meter: _ReadMeter) -> None:
        self._handle = handle
        self._meter = meter
        self._done = 0

    def read(self, size: int = -1) -> bytes:
        self._meter.check(self._done)
        data = self._handle.read(size)
        self._done += len(data)
        self._meter.advance(self._done)
        return data


@dataclass(frozen=True)
class _MeteredSecret(BackupSecret):
    """A ``BackupSecret`` whose reads are metered (verify and restore take no progress callback
    of their own; their reading is almost all of their time)."""

    meter: _ReadMeter | None = None

    def open(self, handle: BinaryIO) -> BackupReader:
        if self.meter is None:
            return super().open(handle)
        return super().open(cast(BinaryIO, _MeteredFile(handle, self.meter)))


def _secret(
    *,
    path: Path,
    on_step: OnStep | None,
    cancel: Cancel | None,
    backup_passphrase: str | None = None,
    recovery_key: RecoveryKey | None = None,
    vault_secret: bytes | None = None,
) -> BackupSecret:
    meter = _ReadMeter(path, on_step, cancel) if on_step or cancel else None
    return _MeteredSecret(
        backup_passphrase=backup_passphrase,
        recovery_key=recovery_key,
        vault_secret=vault_secret,
        meter=meter,
    )


# --------------------------------------------------------------------------- errors in words
def is_cancelled(exc: BaseException) -> bool:
    return isinstance(exc, BackupCancelledError)


def explain(exc: BaseException) -> str:
    """A sentence for the person: what happened and what to do. Backup errors hold no PHI."""
    if isinstance(exc, BackupCancelledError):
        return "Cancelled. Nothing was written."
    if isinstance(exc, WrongKeyError):
        return (
            "That key does not open this backup. Check the recovery key or passphrase (caps "
            "lock, keyboard layout) and try again."
        )
    if isinstance(exc, VaultExistsError):
        return (
            "A vault is already in that folder. Choose a new folder, or allow moving the "
            "existing vault aside."
        )
    if isinstance(exc, VaultLockedError):
        return "Quietroom was locked before this finished."
    if isinstance(exc, CryptoError | PracticeError | ValueError | OSError):
        text = str(exc).strip() or type(exc).__name__
        text = text[0].upper() + text[1:]
        return text if text.endswith((".", "!", "?")) else text + "."
    return f"Something unexpected went wrong ({type(exc).__name__})."


# Errors that say nothing about the backup itself: no "failed" verdict is recorded for them.
_NO_VERDICT = (
    BackupCancelledError,
    BackupIOError,
    KeySlotMissingError,
    UnsupportedVersionError,
    VaultLockedError,
    WrongKeyError,
)


# --------------------------------------------------------------------------- restore
class RestoreKey(StrEnum):
    """What opens the backup being restored."""

    RECOVERY_KEY = "recovery key"
    BACKUP_PASSPHRASE = "backup passphrase"  # noqa: S105 (a name, not a password)
    THIS_VAULT = "this vault"  # the open vault's own key: only its own backups


@dataclass(frozen=True)
class RestoreRequest:
    """Restore ``backup`` into the new vault folder ``target``.

    ``secret`` is the typed recovery key or the backup passphrase (unused with ``THIS_VAULT``).
    ``passphrase`` is, with the recovery key, the new passphrase of the restored vault (recorded as
    emergency access); otherwise the vault passphrase the vault had when the backup was made.
    ``replace_existing`` moves a vault already in ``target`` aside (never deleted)."""

    backup: Path
    target: Path
    key: RestoreKey
    secret: str = ""
    passphrase: str = ""
    replace_existing: bool = False


@dataclass(frozen=True)
class RestoreResult:
    target: Path
    moved_aside: Path | None  # where a vault that was in ``target`` went


def restore(
    request: RestoreRequest,
    *,
    vault_secret: bytes | None = None,
    protect: Path | None = None,
    options: VaultOptions | None = None,
    on_step: OnStep | None = None,
    cancel: Cancel | None = None,
) -> RestoreResult:
    """Restore a backup into a new folder; never into ``protect`` (the open vault's folder).

    ``target`` must not exist, or be an empty folder, or hold a vault that ``replace_existing``
    allows moving aside; a folder holding anything else is refused. Reading the backup reports
    progress and honours ``cancel``; a failure or a cancel leaves ``target`` as it was."""
    target = request.target
    if protect is not None and _overlaps(target, protect):
        raise ValueError(
            "that folder holds the vault you have open; choose a new folder for the restored vault"
        )
    secret = _restore_secret(request, vault_secret, on_step, cancel)
    emptied = False
    if target.is_dir() and not vault_exists(target):
        if any(target.iterdir()):
            raise ValueError(
                f"{target} is not empty; choose a new or empty folder for the restored vault"
            )
        target.rmdir()  # restore_backup renames the restored folder into place
        emptied = True
    elif target.exists() and not target.is_dir():
        raise ValueError(f"{target} is a file; choose a folder for the restored vault")
    try:
        moved = restore_backup(
            request.backup,
            target,
            secret,
            vault_passphrase=None if request.key is RestoreKey.RECOVERY_KEY else request.passphrase,
            new_passphrase=request.passphrase if request.key is RestoreKey.RECOVERY_KEY else None,
            overwrite=request.replace_existing,
            options=options,
        )
    except BaseException:
        if emptied:
            target.mkdir(exist_ok=True)
        raise
    return RestoreResult(target, moved)


def _restore_secret(
    request: RestoreRequest,
    vault_secret: bytes | None,
    on_step: OnStep | None,
    cancel: Cancel | None,
) -> BackupSecret:
    path = request.backup
    if request.key is RestoreKey.RECOVERY_KEY:
        key = RecoveryKey.parse(request.secret)
        check_new_passphrase(request.passphrase)
        return _secret(path=path, on_step=on_step, cancel=cancel, recovery_key=key)
    if not request.passphrase:
        raise ValueError(
            "type the passphrase the vault had when the backup was made: the vault inside the "
            "backup opens with it"
        )
    if request.key is RestoreKey.BACKUP_PASSPHRASE:
        if not request.secret:
            raise ValueError("type the backup passphrase")
        return _secret(path=path, on_step=on_step, cancel=cancel, backup_passphrase=request.secret)
    if vault_secret is None:
        raise ValueError("only an unlocked vault can open its own backups with its key")
    return _secret(path=path, on_step=on_step, cancel=cancel, vault_secret=vault_secret)


def verify_file(path: Path, key: RestoreKey, secret: str, passphrase: str = "") -> VerifyResult:
    """Verify a backup without an open vault (on a new machine, say): with the recovery key, or
    the backup passphrase plus the passphrase the vault had. Nothing records it, since no vault
    is open; ``BackupService.verify`` is the audited way for the open vault's own backups."""
    if key is RestoreKey.RECOVERY_KEY:
        opening = _secret(
            path=path, on_step=None, cancel=None, recovery_key=RecoveryKey.parse(secret)
        )
        return verify_backup(path, opening)
    if key is RestoreKey.BACKUP_PASSPHRASE:
        opening = _secret(path=path, on_step=None, cancel=None, backup_passphrase=secret)
        return verify_backup(path, opening, vault_passphrase=passphrase)
    raise ValueError("only an unlocked vault can open its own backups with its key")


def list_folder(folder: Path) -> list[ListedBackup]:
    """Every backup file in ``folder`` (any vault's), newest first."""
    return list_backups(folder)


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


# --------------------------------------------------------------------------- the service
class BackupService:
    def __init__(self, vault: Vault, store: BackupSettingsStore) -> None:
        self._vault = vault
        self._store = store
        self._prefix = f"quietroom-{vault.vault_id[:8]}-"

    @property
    def settings(self) -> BackupSettings:
        return self._store.load()

    def save_settings(self, settings: BackupSettings) -> None:
        self._store.save(settings)

    def destination(self) -> Path | None:
        configured = self.settings.destination
        return Path(configured) if configured else None

    def back_up_now(
        self,
        destination: Path | None = None,
        *,
        backup_passphrase: str | None = None,
        kdf: KdfParams | None = None,
        progress: Progress | None = None,
        cancel: Cancel | None = None,
        on_step: OnStep | None = None,
    ) -> BackupResult:
        target = destination or self.destination()
        if target is None:
            raise ValueError("choose a backup folder first")
        result = create_backup(
            self._vault,
            target,
            backup_passphrase=backup_passphrase,
            kdf=kdf,
            progress=progress if on_step is None else _WriteMeter(self._vault, on_step, progress),
            cancel=cancel,
        )
        self.prune(target)
        return result

    def maybe_back_up(self, trigger: Trigger) -> BackupResult | None:
        """Run an automatic backup if the schedule says one is due (lock, quit, timer)."""
        settings = self.settings
        target = self.destination()
        if target is None or not target.is_dir():
            return None
        schedule = Schedule(on_lock=settings.on_lock, on_quit=settings.on_quit)
        if not schedule.is_due(trigger, self.last_good(), self._vault.options.clock()):
            return None
        return self.back_up_now(target)

    def _own(self, folder: Path) -> list[ListedBackup]:
        """This vault's backups in ``folder`` (a shared folder may hold other vaults' too: they
        are never pruned, listed or counted here), newest first."""
        return [b for b in list_backups(folder) if b.path.name.startswith(self._prefix)]

    def prune(self, folder: Path) -> list[Path]:
        """Delete this vault's backups that retention does not keep; return what was removed."""
        settings = self.settings
        retention = Retention(settings.keep_daily, settings.keep_weekly, settings.keep_monthly)
        dated = {
            moment: listed.path
            for listed in self._own(folder)
            if (moment := created_at(listed.path)) is not None
        }
        keep = retention.keep(dated)
        removed = [path for moment, path in dated.items() if moment not in keep]
        for path in removed:
            path.unlink(missing_ok=True)
        return removed

    def verify(
        self, path: Path, *, on_step: OnStep | None = None, cancel: Cancel | None = None
    ) -> VerifyResult:
        """Verify one of this vault's backups with the vault's own key; audited. A backup found
        damaged (by a check, or because it cannot be read as a backup at all) is recorded as
        failed; a cancel, a folder that cannot be reached or a key that does not fit records
        nothing."""
        secret = _secret(
            path=path, on_step=on_step, cancel=cancel, vault_secret=self._vault.backup_key()
        )
        try:
            result = verify_backup(path, secret, vault=self._vault)
        except CryptoError as exc:
            if not isinstance(exc, _NO_VERDICT):
                self._record_damage(path, exc)
            raise
        if cancel is not None and cancel():
            raise BackupCancelledError(0)
        record_verification(self._vault, path, result)
        return result

    def _record_damage(self, path: Path, exc: CryptoError) -> None:
        parsed = parse_name(path)
        with contextlib.suppress(CryptoError):  # locked meanwhile: the damage is still reported
            self._vault.audit(
                AuditAction.BACKUP_VERIFIED,
                object_type="backup",
                object_id=parsed[1] if parsed else path.name[:64],
                outcome=Outcome.FAILURE,
                details={"ok": False, "error": type(exc).__name__},
            )

    def restore(
        self,
        request: RestoreRequest,
        *,
        on_step: OnStep | None = None,
        cancel: Cancel | None = None,
    ) -> RestoreResult:
        """``restore`` with this vault's options, never into this vault's folder; with
        ``RestoreKey.THIS_VAULT`` the backup opens with this vault's own key. The open vault is
        not touched."""
        vault_secret = self._vault.backup_key() if request.key is RestoreKey.THIS_VAULT else None
        return restore(
            request,
            vault_secret=vault_secret,
            protect=self._vault.path,
            options=self._vault.options,
            on_step=on_step,
            cancel=cancel,
        )

    def history(self) -> list[BackupRecord]:
        """This vault's backups in the destination, newest first. A backup written by this vault
        was read back and checked when it was made (verified); a later ``verify`` updates that."""
        folder = self.destination()
        if folder is None:
            return []
        listed = self._own(folder)
        if not listed:
            return []
        state: dict[str, bool] = {}
        oldest = min((m for b in listed if (m := created_at(b.path)) is not None), default=None)
        # Only the backup entries since the oldest backup listed, through the log's action and
        # time index (newest first; read oldest first so that the latest check wins).
        entries = self._vault.audit_query(
            AuditQuery(
                start=None if oldest is None else oldest - HISTORY_SLACK,
                actions=(AuditAction.BACKUP_CREATED, AuditAction.BACKUP_VERIFIED),
                limit=HISTORY_ENTRIES,
            )
        )
        for entry in reversed(entries):
            if entry.action == AuditAction.BACKUP_CREATED:
                state[entry.object_id[:12]] = True
            elif entry.action == AuditAction.BACKUP_VERIFIED:
                state[entry.object_id[:12]] = bool(entry.details_dict().get("ok"))
        records = []
        for backup in listed:
            parsed = parse_name(backup.path)
            if parsed is not None:
                moment, short_id = parsed
                records.append(
                    BackupRecord(
                        backup.path,
                        moment,
                        backup.size,
                        state.get(short_id),
                        has_backup_passphrase(backup.path),
                    )
                )
        return records

    def last_good(self) -> datetime | None:
        folder = self.destination()
        if folder is None:
            return None
        moments = [m for listed in self._own(folder) if (m := created_at(listed.path))]
        return max(moments, default=None)

    def warning(self) -> str | None:
        folder = self.destination()
        reachable = folder is not None and folder.is_dir()
        if folder is None:
            return (
                "No backup folder is set. Choose one so that a lost laptop does not mean lost "
                "records."
            )
        return health_warning(self.last_good(), reachable, self._vault.options.clock())
