"""Writing and opening backup files as streams, in constant memory whatever their size.

``write_backup`` / ``BackupWriter`` seal a byte stream; ``open_backup`` checks the header (key slot,
then header MAC) before returning a ``BackupReader`` that releases plaintext one verified 64 KiB
chunk at a time. A chunk's plaintext is authentic when released, but the stream as a whole is only
complete when reading ends without an error: a restore must stage what it reads and discard it on
any ``BackupError``.
"""

from __future__ import annotations

import errno
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal, Protocol, cast

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto.backup import keys
from crypto.backup.errors import (
    BackupCancelledError,
    BackupError,
    BackupIOError,
    ChunkCorruptError,
    HeaderCorruptError,
    KdfLimitError,
    KeySlotMissingError,
    TrailingDataError,
    TruncatedError,
    WrongKeyError,
)
from crypto.backup.format import (
    CHUNK_SIZE,
    FILE_KEY_BYTES,
    MAX_CHUNKS,
    PAYLOAD_NONCE_BYTES,
    SEALED_CHUNK_SIZE,
    SLOT_NAMES,
    VAULT_SALT_BYTES,
    X25519_KEY_BYTES,
    Header,
    PassphraseSlot,
    Readable,
    RecipientSlot,
    Slot,
    SlotType,
    VaultSlot,
    chunk_nonce,
    encode_header_body,
    pad_final,
    read_header,
    read_upto,
    unpad_final,
)
from crypto.errors import PassphrasePolicyError, WeakParametersError
from crypto.kdf import (
    MAX_MEMORY_KIB,
    MAX_PARALLELISM,
    MAX_TIME_COST,
    RFC9106_LOW_MEMORY,
    SALT_BYTES,
    KdfParams,
)

ProgressCallback = Callable[[int], None]
"""Called after each chunk with the number of plaintext bytes processed so far."""
CancelCheck = Callable[[], bool]
"""Polled before each chunk; return True to stop (pass ``threading.Event().is_set``)."""

_NO_DATA = b""
BytesLike = bytes | bytearray | memoryview


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class WriterRandomness:
    """Every random value a backup needs. Fresh by default; fixed only for known-answer vectors.

    ``ephemeral_private_key`` is the one-time X25519 scalar of the recovery-key slot; like the file
    key it must never be reused or revealed (it and the file give the file key). ``vault_salt`` is
    the vault-key slot's HKDF salt (public, stored in the slot, fresh per backup).
    """

    file_key: bytes = field(default_factory=lambda: secrets.token_bytes(FILE_KEY_BYTES), repr=False)
    payload_nonce: bytes = field(default_factory=lambda: secrets.token_bytes(PAYLOAD_NONCE_BYTES))
    passphrase_salt: bytes = field(default_factory=lambda: secrets.token_bytes(SALT_BYTES))
    ephemeral_private_key: bytes = field(
        default_factory=lambda: secrets.token_bytes(X25519_KEY_BYTES), repr=False
    )
    vault_salt: bytes = field(default_factory=lambda: secrets.token_bytes(VAULT_SALT_BYTES))

    def __post_init__(self) -> None:
        sizes = {
            "file_key": (self.file_key, FILE_KEY_BYTES),
            "payload_nonce": (self.payload_nonce, PAYLOAD_NONCE_BYTES),
            "passphrase_salt": (self.passphrase_salt, SALT_BYTES),
            "ephemeral_private_key": (self.ephemeral_private_key, X25519_KEY_BYTES),
            "vault_salt": (self.vault_salt, VAULT_SALT_BYTES),
        }
        for name, (value, size) in sizes.items():
            if len(value) != size:
                raise ValueError(f"{name} must be {size} bytes")


@dataclass(frozen=True)
class KdfLimits:
    """The most Argon2id work a reader accepts from a header it has not yet authenticated.

    The header is only authenticated after the KDF has run, so these caps are what stop a crafted
    file from asking for 4 GiB and an hour. The defaults admit anything a writer may produce.
    """

    max_memory_kib: int = MAX_MEMORY_KIB
    max_time_cost: int = MAX_TIME_COST
    max_parallelism: int = MAX_PARALLELISM


@dataclass(frozen=True)
class BackupSummary:
    plaintext_bytes: int
    chunks: int
    file_bytes: int


class BackupWriter:
    """Seal bytes given to ``write`` into ``dst``; ``close`` writes the final chunk.

    Give any non-empty combination of: a backup passphrase; the vault's backup recipient
    (``recipient_public_key``, the 32-byte X25519 public key from the vault header); the unlocked
    vault's 32-byte backup sub-key (``vault_secret``). The recipient needs no secret, so automatic
    backups can be made without the recovery key; only the recovery key opens that slot. The
    vault-key slot lets the running app read back and verify what it wrote; it cannot restore
    anything once the vault is gone, so a real backup also carries one of the other two.

    Use as a context manager: if the block raises, the final chunk is *not* written, so the partial
    file can never pass for a complete backup (it reads as truncated).
    """

    def __init__(
        self,
        dst: Writable,
        *,
        passphrase: bytes | None = None,
        recipient_public_key: bytes | None = None,
        vault_secret: bytes | None = None,
        kdf_params: KdfParams = RFC9106_LOW_MEMORY,
        randomness: WriterRandomness | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> None:
        if passphrase is None and recipient_public_key is None and vault_secret is None:
            raise ValueError(
                "a backup needs a passphrase, a recipient public key or a vault secret (or several)"
            )
        if passphrase is not None and not passphrase:
            raise PassphrasePolicyError("the backup passphrase must not be empty")
        if vault_secret is not None:
            keys.check_vault_secret(vault_secret)
        rnd = randomness if randomness is not None else WriterRandomness()
        slots: list[Slot] = []
        # The cheap slots first, so a bad public key is refused before Argon2id runs.
        if recipient_public_key is not None:
            slots.append(
                keys.make_recipient_slot(
                    recipient_public_key, rnd.ephemeral_private_key, rnd.file_key
                )
            )
        if vault_secret is not None:
            slots.append(keys.make_vault_slot(vault_secret, rnd.vault_salt, rnd.file_key))
        if passphrase is not None:
            kdf_params.check()
            slots.append(
                keys.make_passphrase_slot(passphrase, kdf_params, rnd.passphrase_salt, rnd.file_key)
            )
        slots.sort(key=lambda slot: slot.type)  # the header lists slots in type order
        authenticated = encode_header_body(rnd.payload_nonce, tuple(slots))
        self._dst = dst
        self._aead = ChaCha20Poly1305(keys.payload_key(rnd.file_key, rnd.payload_nonce))
        self._progress = progress
        self._cancel = cancel
        self._buffer = bytearray()
        self._index = 0
        self._plaintext_bytes = 0
        self._file_bytes = 0
        self._closed = False
        self._summary: BackupSummary | None = None
        self._emit(authenticated + keys.header_mac(rnd.file_key, authenticated))

    def write(self, data: BytesLike) -> int:
        if self._closed:
            raise ValueError("write to a closed BackupWriter")
        view = memoryview(data).cast("B")
        size = len(view)
        pos = 0
        if self._buffer:
            take = min(CHUNK_SIZE - len(self._buffer), size)
            self._buffer += view[:take]
            pos = take
            if len(self._buffer) == CHUNK_SIZE:
                self._seal(self._buffer, final=False)
                self._buffer.clear()
        while size - pos >= CHUNK_SIZE:
            self._seal(view[pos : pos + CHUNK_SIZE], final=False)
            pos += CHUNK_SIZE
        self._buffer += view[pos:]
        return size

    def close(self) -> BackupSummary:
        """Write the final chunk (idempotent) and return what was written."""
        if self._summary is None:
            if self._closed:
                raise ValueError("this backup was abandoned after an error; it is incomplete")
            self._seal(pad_final(self._buffer), final=True, data_bytes=len(self._buffer))
            self._buffer.clear()
            self._closed = True
            flush = getattr(self._dst, "flush", None)
            if callable(flush):
                try:
                    flush()
                except OSError as exc:
                    raise BackupIOError("write the backup file", exc) from exc
            self._summary = BackupSummary(self._plaintext_bytes, self._index, self._file_bytes)
        return self._summary

    def abandon(self) -> None:
        """Stop without writing the final chunk; the output then reads as truncated."""
        self._closed = True
        self._buffer.clear()

    def __enter__(self) -> BackupWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()

    def _seal(
        self, chunk: bytes | bytearray | memoryview, *, final: bool, data_bytes: int | None = None
    ) -> None:
        if self._cancel is not None and self._cancel():
            self.abandon()
            raise BackupCancelledError(self._plaintext_bytes)
        if self._index >= MAX_CHUNKS:
            raise ValueError("backup too large")
        sealed = self._aead.encrypt(chunk_nonce(self._index, final), chunk, None)
        self._emit(sealed)
        self._index += 1
        self._plaintext_bytes += len(chunk) if data_bytes is None else data_bytes
        if self._progress is not None:
            self._progress(self._plaintext_bytes)

    def _emit(self, data: bytes) -> None:
        try:
            written = self._dst.write(data)
            # A raw (unbuffered) file may accept only part of the bytes; finish the job.
            view = memoryview(data)
            while isinstance(written, int) and 0 <= written < len(view):
                if written == 0:
                    raise OSError(errno.EIO, "the destination accepted no bytes")
                view = view[written:]
                written = self._dst.write(bytes(view))
        except OSError as exc:
            self.abandon()
            raise BackupIOError("write the backup file", exc) from exc
        self._file_bytes += len(data)


def write_backup(
    src: Readable | Iterable[BytesLike],
    dst: Writable,
    *,
    passphrase: bytes | None = None,
    recipient_public_key: bytes | None = None,
    vault_secret: bytes | None = None,
    kdf_params: KdfParams = RFC9106_LOW_MEMORY,
    randomness: WriterRandomness | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCheck | None = None,
) -> BackupSummary:
    """Encrypt everything from ``src`` (a binary file or an iterable of byte strings) into ``dst``.

    Give any non-empty combination of a backup passphrase, the vault's 32-byte backup recipient
    public key and the unlocked vault's 32-byte backup sub-key (``vault_secret``): the passphrase,
    the recovery key or that vault then opens the file.
    On any error the final chunk is not written, so ``dst`` holds an unusable, truncated file that
    the caller should delete (write to a temporary name and rename on success).
    """
    writer = BackupWriter(
        dst,
        passphrase=passphrase,
        recipient_public_key=recipient_public_key,
        vault_secret=vault_secret,
        kdf_params=kdf_params,
        randomness=randomness,
        progress=progress,
        cancel=cancel,
    )
    with writer:
        for piece in iter_source(src):
            writer.write(piece)
    return writer.close()


def iter_source(src: Readable | Iterable[BytesLike]) -> Iterator[BytesLike]:
    reader: Callable[[int], bytes] | None = getattr(src, "read", None)
    try:
        if reader is None:
            yield from cast(Iterable[BytesLike], src)
            return
        while piece := reader(CHUNK_SIZE):
            yield piece
    except OSError as exc:
        raise BackupIOError("read the data to back up", exc) from exc


OpenedWith = Literal["backup passphrase", "recovery key", "vault key"]
_OPENED_WITH: dict[SlotType, OpenedWith] = {
    SlotType.PASSPHRASE: "backup passphrase",
    SlotType.RECOVERY_RECIPIENT: "recovery key",
    SlotType.VAULT_KEY: "vault key",
}


class BackupReader:
    """Plaintext of an opened backup, verified chunk by chunk. Made by ``open_backup``."""

    def __init__(
        self, src: Readable, header: Header, payload_key: bytes, opened_with: OpenedWith
    ) -> None:
        self.header = header
        self.opened_with: OpenedWith = opened_with
        self._src = src
        self._aead = ChaCha20Poly1305(payload_key)
        self._index = 0
        self._done = False
        self._failure: BackupError | None = None
        self._pending = _NO_DATA  # the last chunk's plaintext, consumed by read() from _offset
        self._offset = 0
        self._released = 0

    @property
    def finished(self) -> bool:
        """True once the final chunk has been verified and nothing follows it."""
        return self._done and self._offset >= len(self._pending)

    def chunks(
        self, *, progress: ProgressCallback | None = None, cancel: CancelCheck | None = None
    ) -> Iterator[bytes]:
        """Yield the remaining plaintext, one verified chunk at a time (empty chunks skipped)."""
        if self._offset < len(self._pending):
            pending = self._pending[self._offset :]
            self._pending, self._offset = _NO_DATA, 0
            yield pending
        while True:
            if cancel is not None and cancel():
                raise BackupCancelledError(self._released)
            data = self._next_chunk()
            if data is None:
                return
            if progress is not None:
                progress(self._released)
            if data:
                yield data

    def copy_to(
        self,
        dst: Writable,
        *,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> int:
        """Write the remaining plaintext to ``dst``; return how many bytes were written."""
        total = 0
        for data in self.chunks(progress=progress, cancel=cancel):
            try:
                dst.write(data)
            except OSError as exc:
                raise BackupIOError("write the restored data", exc) from exc
            total += len(data)
        return total

    def read(self, size: int = -1) -> bytes:
        """File-like read of verified plaintext; ``read()`` loads all of it into memory."""
        if size < 0:
            return b"".join(self.chunks())
        parts: list[bytes] = []
        want = size
        while want > 0:
            if self._offset >= len(self._pending):
                data = self._next_chunk()
                if data is None:
                    break
                self._pending, self._offset = data, 0
                continue
            piece = self._pending[self._offset : self._offset + want]
            self._offset += len(piece)
            parts.append(piece)
            want -= len(piece)
        return b"".join(parts)

    def _next_chunk(self) -> bytes | None:
        if self._failure is not None:
            raise self._failure
        if self._done:
            return None
        try:
            data = self._open_chunk()
        except BackupError as exc:
            self._failure = exc
            raise
        self._released += len(data)
        return data

    def _open_chunk(self) -> bytes:
        index = self._index
        sealed = read_upto(self._src, SEALED_CHUNK_SIZE)
        if not sealed:
            where = "before its contents" if index == 0 else f"after chunk {index - 1}"
            raise TruncatedError(f"{where}, before the final chunk")
        if len(sealed) < SEALED_CHUNK_SIZE:
            raise TruncatedError(f"in the middle of chunk {index}")
        # Finality is authenticated by the nonce: try the common case first, then the final flag.
        try:
            plaintext = self._aead.decrypt(chunk_nonce(index, final=False), sealed, None)
        except InvalidTag:
            plaintext = None
        if plaintext is not None:
            self._index += 1
            return plaintext
        try:
            padded = self._aead.decrypt(chunk_nonce(index, final=True), sealed, None)
        except InvalidTag:
            raise ChunkCorruptError(index) from None
        data = unpad_final(padded)
        if data is None:
            raise ChunkCorruptError(index, "has malformed padding")
        if read_upto(self._src, 1):
            raise TrailingDataError(index)
        self._index += 1
        self._done = True
        return data


def inspect_backup(src: Readable) -> Header:
    """Read the header without a key, to ask for the right one. Not authenticated: a hint only."""
    return read_header(src)


def open_backup(
    src: Readable,
    *,
    passphrase: bytes | None = None,
    recovery_secret: bytes | None = None,
    recovery_identity: X25519PrivateKey | None = None,
    vault_secret: bytes | None = None,
    kdf_limits: KdfLimits | None = None,
) -> BackupReader:
    """Parse the header, unwrap the file key with whichever key was given, check the header MAC.

    The recovery key is given as the raw 16-byte ``recovery_secret`` or, already derived, as the
    recipient private key ``recovery_identity`` (``crypto.backup.recipient.recipient_private_key``).
    ``vault_secret`` is the unlocked vault's 32-byte backup sub-key; it opens only the vault-key
    slot. Only the slots matching a key given are tried. Nothing is decrypted before the header is
    authenticated. Raises a ``BackupError`` subclass for every kind of damage; ``WrongKeyError``
    for a wrong passphrase, recovery key or vault secret.
    """
    if recovery_secret is not None and recovery_identity is not None:
        raise ValueError("give the recovery secret or the recovery identity, not both")
    if recovery_secret is not None:
        recovery_identity = keys.recovery_identity(recovery_secret)
    if vault_secret is not None:
        keys.check_vault_secret(vault_secret)
    if passphrase is None and recovery_identity is None and vault_secret is None:
        raise ValueError("give a backup passphrase, a recovery secret or a vault secret")
    header = read_header(src)
    limits = kdf_limits if kdf_limits is not None else KdfLimits()
    offered = [
        slot
        for slot in header.slots
        if (isinstance(slot, PassphraseSlot) and passphrase is not None)
        or (isinstance(slot, RecipientSlot) and recovery_identity is not None)
        or (isinstance(slot, VaultSlot) and vault_secret is not None)
    ]
    if not offered:
        given = (
            ("backup passphrase", passphrase is not None),
            ("recovery key", recovery_identity is not None),
            ("vault key", vault_secret is not None),
        )
        kind = " or ".join(name for name, present in given if present)
        raise KeySlotMissingError(kind, tuple(SLOT_NAMES[t] for t in header.slot_types))
    # The cheap slots first (recipient, vault key; in type order); a passphrase slot over the KDF
    # limits or a malformed recipient slot is reported only if nothing else opened the file.
    offered.sort(key=lambda slot: slot.type is SlotType.PASSPHRASE)
    refused: HeaderCorruptError | None = None
    for slot in offered:
        try:
            if isinstance(slot, RecipientSlot) and recovery_identity is not None:
                wrapping_key = _recipient_wrapping_key(slot, recovery_identity)
            elif isinstance(slot, VaultSlot) and vault_secret is not None:
                wrapping_key = keys.vault_wrapping_key(vault_secret, slot.salt)
            elif isinstance(slot, PassphraseSlot) and passphrase is not None:
                wrapping_key = _passphrase_wrapping_key(slot, passphrase, limits)
            else:  # not offered (filtered above)
                continue
        except HeaderCorruptError as exc:
            refused = refused or exc
            continue
        file_key = keys.unwrap_file_key(wrapping_key, slot)
        if file_key is None:
            continue
        if not keys.header_mac_valid(file_key, header):
            raise HeaderCorruptError("it does not match its checksum (altered or damaged)")
        payload_key = keys.payload_key(file_key, header.payload_nonce)
        return BackupReader(src, header, payload_key, _OPENED_WITH[slot.type])
    if refused is not None:
        raise refused
    raise WrongKeyError()


def _recipient_wrapping_key(slot: RecipientSlot, identity: X25519PrivateKey) -> bytes:
    wrapping_key = keys.recipient_unwrapping_key(identity, slot)
    if wrapping_key is None:
        # A low-order ephemeral key: no writer makes one, and anyone can see it without a key.
        raise HeaderCorruptError("its recovery-key slot holds an invalid public key")
    return wrapping_key


def _passphrase_wrapping_key(slot: PassphraseSlot, passphrase: bytes, limits: KdfLimits) -> bytes:
    params = slot.params
    if params.memory_kib > limits.max_memory_kib or params.time_cost > limits.max_time_cost:
        raise KdfLimitError(
            f"it asks for {_kib(params.memory_kib)} and {params.time_cost} passes to check the "
            f"passphrase, more than the {_kib(limits.max_memory_kib)} and "
            f"{limits.max_time_cost} passes allowed"
        )
    if params.parallelism > limits.max_parallelism:
        raise KdfLimitError(
            f"it asks for {params.parallelism} lanes to check the passphrase, more than the "
            f"{limits.max_parallelism} allowed"
        )
    try:
        return keys.passphrase_wrapping_key(passphrase, params, slot.salt)
    except WeakParametersError as exc:
        raise HeaderCorruptError(f"its key-derivation parameters are not allowed ({exc})") from exc


def _kib(amount: int) -> str:
    return f"{amount // 1024} MiB" if amount % 1024 == 0 else f"{amount} KiB"
