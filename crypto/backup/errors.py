"""Errors raised while writing or opening a backup file.

``BackupError`` is the root and is never raised itself; it subclasses ``crypto.errors.CryptoError``
so one ``except CryptoError`` still catches everything from ``crypto``. Each subclass's docstring
speaks to the person restoring: what probably happened and what they can do.

Authentication failures are deliberately opaque: a wrong passphrase, a wrong recovery key, a wrong
vault secret and a damaged key slot all raise ``WrongKeyError`` with one message. The other
classes only describe damage that anyone can see without a key (the file is too short, is not a
backup, was written by a newer Quietroom) or damage found after the right key has been proven
(the header or a chunk fails its check), so they tell an attacker nothing.
"""

from __future__ import annotations

from crypto.errors import CryptoError


class BackupError(CryptoError):
    """Root of every error about a backup file. Never raised itself."""


class EmptyFileError(BackupError):
    """The file is empty (0 bytes). The copy probably failed or the disk filled up while the backup
    was being written; use another backup."""

    def __init__(self) -> None:
        super().__init__("the file is empty: it holds no backup")


class NotABackupError(BackupError):
    """This file is not a Quietroom backup (it does not start with the backup signature). Check that
    you picked the right file; a backup ends in ``.qrbackup``."""

    def __init__(self) -> None:
        super().__init__("this file is not a Quietroom backup")


class UnsupportedVersionError(BackupError):
    """The backup was written in a format version this Quietroom does not know, most likely by a
    newer Quietroom. Update Quietroom and try again; the file was not changed."""

    def __init__(self, version: int, supported: tuple[int, ...]) -> None:
        self.version = version
        self.supported = supported
        known = ", ".join(str(v) for v in supported)
        super().__init__(
            f"backup format version {version} is not supported by this Quietroom "
            f"(it reads version {known}); update Quietroom to open it"
        )


class TruncatedError(BackupError):
    """The backup file ends too early: it was cut off, for example by an interrupted copy or
    download, or a disk that filled up while it was written. Use a complete copy of the backup."""

    def __init__(self, where: str) -> None:
        self.where = where
        super().__init__(f"the backup is incomplete: the file ends {where}")


class HeaderCorruptError(BackupError):
    """The backup's header is damaged or was altered: the file cannot be trusted. Use another copy
    of the backup."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"the backup header is damaged: {reason}")


class KdfLimitError(HeaderCorruptError):
    """The backup asks for more memory or time to check the passphrase than this computer allows.
    The file is probably damaged or was crafted to exhaust this computer; if you made it yourself on
    a much larger machine, open it there."""


class KeySlotMissingError(BackupError):
    """This backup cannot be opened with the kind of key given: it was made for another one (the
    backup passphrase, the vault's recovery key, or the vault that wrote it). Try another key."""

    def __init__(self, offered: str, available: tuple[str, ...]) -> None:
        self.offered = offered
        self.available = available
        kinds = " or ".join(available) if available else "no key"
        super().__init__(
            f"this backup cannot be opened with a {offered}; it opens with the {kinds}"
        )


class WrongKeyError(BackupError):
    """The backup passphrase or recovery key is wrong, or the key slot in the file is damaged.
    Check the passphrase (caps lock, keyboard layout) or the recovery key and try again.

    Deliberately opaque: a wrong passphrase, a wrong recovery key, a wrong vault secret (another
    vault, or this vault after a rekey) and a damaged key slot raise exactly this, with exactly
    this message.
    """

    MESSAGE = "could not open the backup: wrong passphrase or recovery key, or a damaged file"

    def __init__(self) -> None:
        super().__init__(self.MESSAGE)


class ChunkCorruptError(BackupError):
    """Part of the backup's contents is damaged, was altered, or is out of order. The file cannot
    be restored safely; use another copy of the backup. Anything read so far must be discarded."""

    def __init__(self, index: int, reason: str = "failed its integrity check") -> None:
        self.index = index
        super().__init__(f"backup chunk {index} {reason}")


class TrailingDataError(BackupError):
    """The backup has extra data after its end: the file was altered or two files were joined.
    Use another copy of the backup."""

    def __init__(self, final_index: int) -> None:
        self.final_index = final_index
        super().__init__(f"unexpected data after the final chunk ({final_index}) of the backup")


class ManifestError(BackupError):
    """The backup's manifest (the description of its contents) is not readable. The backup was
    written by a faulty program; use another backup."""


class BackupCancelledError(BackupError):
    """The backup or restore was cancelled. Nothing written so far is usable: delete the partial
    file (a restore leaves the vault untouched)."""

    def __init__(self, done_bytes: int) -> None:
        self.done_bytes = done_bytes
        super().__init__(f"cancelled after {done_bytes} bytes")


class BackupIOError(BackupError):
    """The backup could not be read from or written to the disk (for example the disk is full, was
    removed, or the folder is read-only). Free space or pick another place and try again; a partly
    written backup file is not usable and should be deleted."""

    def __init__(self, action: str, cause: OSError) -> None:
        self.action = action
        self.errno = cause.errno
        detail = cause.strerror or str(cause) or type(cause).__name__
        super().__init__(f"could not {action}: {detail}")
