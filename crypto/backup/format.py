"""Byte layout of a Quietroom backup file, version 1: constants, header model, strict parser.

Pure structure, no cryptography: this module turns bytes into a ``Header`` and back. Every length
and count read from the file is checked against a fixed limit before it is used, and every kind of
damage maps to one ``BackupError`` subclass. ``docs/backup-format.md`` is the specification; keep
the two in step, and never change what version 1 means once released (bump ``VERSION``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Final, Protocol

from crypto.backup.errors import (
    BackupIOError,
    EmptyFileError,
    HeaderCorruptError,
    NotABackupError,
    TruncatedError,
    UnsupportedVersionError,
)
from crypto.kdf import SALT_BYTES, KdfParams

# PNG-style signature: the high byte catches 7-bit transfers, CR LF catches line-ending conversion,
# ^Z stops DOS `type`, the final LF catches LF -> CR LF. Never changes across versions.
MAGIC: Final = b"\x89QRB\r\n\x1a\n"
VERSION: Final = 1
SUPPORTED_VERSIONS: Final = (VERSION,)
PREFIX: Final = MAGIC + struct.pack(">H", VERSION)  # bound into every key-slot wrap as AAD

FILE_KEY_BYTES: Final = 32
PAYLOAD_NONCE_BYTES: Final = 16
RECOVERY_SECRET_BYTES: Final = 16
VAULT_SECRET_BYTES: Final = 32  # the unlocked vault's backup sub-key
X25519_KEY_BYTES: Final = 32  # public keys, private scalars and shared secrets alike
TAG_BYTES: Final = 16
WRAPPED_KEY_BYTES: Final = FILE_KEY_BYTES + TAG_BYTES
MAC_BYTES: Final = 32

CHUNK_SIZE: Final = 64 * 1024  # plaintext bytes in every chunk, the final one included (padded)
SEALED_CHUNK_SIZE: Final = CHUNK_SIZE + TAG_BYTES
COUNTER_BYTES: Final = 11  # chunk nonce = 11-byte big-endian index || 1-byte final flag
MAX_CHUNKS: Final = 1 << (8 * COUNTER_BYTES)
FINAL_PAD_MARKER: Final = 0x80  # final chunk plaintext = data || 0x80 || 0x00...

MAX_SLOTS: Final = 3
# The format's own ranges for Argon2id fields. What a reader is willing to *run* is tighter
# (``KdfLimits``, by default crypto.kdf's caps: what this app would ever write).
FORMAT_MAX_MEMORY_KIB: Final = 4 * 1024 * 1024
FORMAT_MAX_TIME_COST: Final = 64
FORMAT_MAX_PARALLELISM: Final = 16
MAX_HEADER_BODY: Final = 1024  # far above the largest valid v1 header body (243 bytes)


class SlotType(IntEnum):
    """Kinds of key slot (age calls them stanzas). Each wraps the same file key."""

    PASSPHRASE = 0x01  # Argon2id(backup passphrase, salt, params) -> wrapping key
    # X25519(ephemeral, recipient public key), then HKDF-SHA256 -> wrapping key (age's X25519
    # stanza); the recipient private key is derived from the vault's recovery secret.
    RECOVERY_RECIPIENT = 0x02
    # HKDF-SHA256(the unlocked vault's backup sub-key, salt) -> wrapping key: lets the running app
    # read back and verify its own backups ("this vault").
    VAULT_KEY = 0x03


SLOT_NAMES: Final = {
    SlotType.PASSPHRASE: "backup passphrase",
    SlotType.RECOVERY_RECIPIENT: "recovery key",
    SlotType.VAULT_KEY: "vault key",
}

_KDF_FIELDS = struct.Struct(">IIB")  # time_cost, memory_kib, parallelism
PASSPHRASE_SLOT_BYTES: Final = _KDF_FIELDS.size + SALT_BYTES + WRAPPED_KEY_BYTES  # 73
RECIPIENT_SLOT_BYTES: Final = X25519_KEY_BYTES + WRAPPED_KEY_BYTES  # 80
VAULT_SALT_BYTES: Final = 16
VAULT_SLOT_BYTES: Final = VAULT_SALT_BYTES + WRAPPED_KEY_BYTES  # 64
_SLOT_BYTES: Final = {
    SlotType.PASSPHRASE: PASSPHRASE_SLOT_BYTES,
    SlotType.RECOVERY_RECIPIENT: RECIPIENT_SLOT_BYTES,
    SlotType.VAULT_KEY: VAULT_SLOT_BYTES,
}
_SLOT_HEAD = struct.Struct(">BH")  # type, body length


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class PassphraseSlot:
    """The file key wrapped under Argon2id(backup passphrase); the parameters travel with it."""

    params: KdfParams
    salt: bytes
    wrapped_key: bytes

    type: ClassVar[SlotType] = SlotType.PASSPHRASE

    def fields(self) -> bytes:
        p = self.params
        return _KDF_FIELDS.pack(p.time_cost, p.memory_kib, p.parallelism) + self.salt


@dataclass(frozen=True)
class RecipientSlot:
    """The file key wrapped to the vault's backup recipient (an X25519 public key), as in age.

    ``ephemeral_public`` is the writer's one-time X25519 public key; the wrapping key comes from
    its shared secret with the recipient key, which only the recovery secret's holder can redo.
    """

    ephemeral_public: bytes
    wrapped_key: bytes

    type: ClassVar[SlotType] = SlotType.RECOVERY_RECIPIENT

    def fields(self) -> bytes:
        return self.ephemeral_public


@dataclass(frozen=True)
class VaultSlot:
    """The file key wrapped under HKDF-SHA256(the vault's backup sub-key, salt).

    Only an unlocked vault (or whoever holds its master key) can redo the wrapping key, so the
    running app can read back and verify its own backups without the recovery key or a backup
    passphrase. ``salt`` is fresh per backup, so each wrapping key is used once.
    """

    salt: bytes
    wrapped_key: bytes

    type: ClassVar[SlotType] = SlotType.VAULT_KEY

    def fields(self) -> bytes:
        return self.salt


Slot = PassphraseSlot | RecipientSlot | VaultSlot


def slot_aad(slot_type: SlotType, fields: bytes) -> bytes:
    """AAD for wrapping the file key: the format prefix and the slot's own bytes before the key."""
    return PREFIX + _SLOT_HEAD.pack(slot_type, _SLOT_BYTES[slot_type]) + fields


@dataclass(frozen=True)
class Header:
    """A parsed header. ``authenticated`` holds the exact bytes the header MAC covers."""

    version: int
    payload_nonce: bytes
    slots: tuple[Slot, ...]
    mac: bytes
    authenticated: bytes

    @property
    def size(self) -> int:
        return len(self.authenticated) + MAC_BYTES

    @property
    def slot_types(self) -> tuple[SlotType, ...]:
        return tuple(s.type for s in self.slots)

    def slot(self, slot_type: SlotType) -> Slot | None:
        return next((s for s in self.slots if s.type == slot_type), None)


def encode_header_body(payload_nonce: bytes, slots: tuple[Slot, ...]) -> bytes:
    """Everything the MAC covers: prefix, body length, payload nonce, slots."""
    if len(payload_nonce) != PAYLOAD_NONCE_BYTES:
        raise ValueError("payload nonce must be 16 bytes")
    if not 1 <= len(slots) <= MAX_SLOTS or [s.type for s in slots] != sorted(
        {s.type for s in slots}
    ):
        raise ValueError("one to three key slots, at most one of each type, in type order")
    body = bytearray(payload_nonce)
    body.append(len(slots))
    for slot in slots:
        encoded = slot.fields() + slot.wrapped_key
        if len(encoded) != _SLOT_BYTES[slot.type]:
            raise ValueError(f"malformed {SLOT_NAMES[slot.type]} slot")
        body += _SLOT_HEAD.pack(slot.type, len(encoded)) + encoded
    return PREFIX + struct.pack(">H", len(body)) + bytes(body)


def read_exact(src: Readable, n: int, where: str) -> bytes:
    """Read exactly ``n`` bytes or raise ``TruncatedError`` naming ``where`` the file ended."""
    data = read_upto(src, n)
    if len(data) < n:
        raise TruncatedError(where)
    return data


def read_upto(src: Readable, n: int) -> bytes:
    """Read up to ``n`` bytes, fewer only at end of file (loops over short reads from pipes)."""
    try:
        data = src.read(n)
        if len(data) >= n or not data:
            return data
        parts = [data]
        got = len(data)
        while got < n:
            more = src.read(n - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)
    except OSError as exc:
        raise BackupIOError("read the backup file", exc) from exc


def read_header(src: Readable) -> Header:
    """Parse and structurally check a header; the MAC is checked later, once a key is known."""
    magic = read_upto(src, len(MAGIC))
    if not magic:
        raise EmptyFileError()
    if magic != MAGIC[: len(magic)]:
        raise NotABackupError()
    if len(magic) < len(MAGIC):
        raise TruncatedError("inside the file signature")
    raw_version = read_exact(src, 2, "inside the format version")
    (version,) = struct.unpack(">H", raw_version)
    if version not in SUPPORTED_VERSIONS:
        raise UnsupportedVersionError(version, SUPPORTED_VERSIONS)
    raw_length = read_exact(src, 2, "inside the header")
    (length,) = struct.unpack(">H", raw_length)
    if not PAYLOAD_NONCE_BYTES + 1 <= length <= MAX_HEADER_BODY:
        raise HeaderCorruptError(f"header length {length} is out of range")
    body = read_exact(src, length, "inside the header")
    mac = read_exact(src, MAC_BYTES, "inside the header")
    payload_nonce, slots = _parse_body(body)
    return Header(
        version=version,
        payload_nonce=payload_nonce,
        slots=slots,
        mac=mac,
        authenticated=magic + raw_version + raw_length + body,
    )


def _parse_body(body: bytes) -> tuple[bytes, tuple[Slot, ...]]:
    payload_nonce = body[:PAYLOAD_NONCE_BYTES]
    count = body[PAYLOAD_NONCE_BYTES]
    if not 1 <= count <= MAX_SLOTS:
        raise HeaderCorruptError(f"{count} key slots (1 to {MAX_SLOTS} allowed)")
    pos = PAYLOAD_NONCE_BYTES + 1
    slots: list[Slot] = []
    for _ in range(count):
        if pos + _SLOT_HEAD.size > len(body):
            raise HeaderCorruptError("key slot runs past the end of the header")
        raw_type, slot_len = _SLOT_HEAD.unpack_from(body, pos)
        pos += _SLOT_HEAD.size
        try:
            slot_type = SlotType(raw_type)
        except ValueError:
            raise HeaderCorruptError(f"unknown key slot type {raw_type}") from None
        if slots and slot_type <= slots[-1].type:
            raise HeaderCorruptError("key slots repeated or out of order")
        if slot_len != _SLOT_BYTES[slot_type]:
            raise HeaderCorruptError(f"key slot type {raw_type} has length {slot_len}")
        if pos + slot_len > len(body):
            raise HeaderCorruptError("key slot runs past the end of the header")
        slots.append(_parse_slot(slot_type, body[pos : pos + slot_len]))
        pos += slot_len
    if pos != len(body):
        raise HeaderCorruptError(f"{len(body) - pos} unexpected bytes at the end of the header")
    return payload_nonce, tuple(slots)


def _parse_slot(slot_type: SlotType, raw: bytes) -> Slot:
    if slot_type is SlotType.RECOVERY_RECIPIENT:
        return RecipientSlot(
            ephemeral_public=raw[:X25519_KEY_BYTES], wrapped_key=raw[X25519_KEY_BYTES:]
        )
    if slot_type is SlotType.VAULT_KEY:
        return VaultSlot(salt=raw[:VAULT_SALT_BYTES], wrapped_key=raw[VAULT_SALT_BYTES:])
    time_cost, memory_kib, parallelism = _KDF_FIELDS.unpack_from(raw)
    if not (
        1 <= parallelism <= FORMAT_MAX_PARALLELISM
        and 1 <= time_cost <= FORMAT_MAX_TIME_COST
        and 8 * parallelism <= memory_kib <= FORMAT_MAX_MEMORY_KIB
    ):
        raise HeaderCorruptError(
            f"key-derivation parameters out of range (t={time_cost}, m={memory_kib} KiB, "
            f"p={parallelism})"
        )
    params = KdfParams(time_cost, memory_kib, parallelism, profile="from-backup")
    salt_end = _KDF_FIELDS.size + SALT_BYTES
    return PassphraseSlot(
        params=params, salt=raw[_KDF_FIELDS.size : salt_end], wrapped_key=raw[salt_end:]
    )


def chunk_nonce(index: int, final: bool) -> bytes:
    """STREAM nonce (age): the chunk index, big-endian, then 0x01 on the final chunk, else 0x00."""
    return index.to_bytes(COUNTER_BYTES, "big") + (b"\x01" if final else b"\x00")


def pad_final(data: bytes | bytearray | memoryview) -> bytes:
    """Fill the final chunk to ``CHUNK_SIZE``: data, one 0x80, then zeros (ISO/IEC 7816-4)."""
    if len(data) >= CHUNK_SIZE:
        raise ValueError("the final chunk holds at most CHUNK_SIZE - 1 bytes of data")
    return bytes(data) + b"\x80" + bytes(CHUNK_SIZE - len(data) - 1)


def unpad_final(plaintext: bytes) -> bytes | None:
    """Undo ``pad_final``; ``None`` if the padding is malformed."""
    end = len(plaintext.rstrip(b"\x00")) - 1
    if end < 0 or plaintext[end] != FINAL_PAD_MARKER:
        return None
    return plaintext[:end]


def backup_size(payload_bytes: int, header_bytes: int) -> int:
    """Exact size of a backup of ``payload_bytes``: the header plus one chunk per started 64 KiB,
    plus the final chunk (which always carries at least the padding marker)."""
    return header_bytes + (payload_bytes // CHUNK_SIZE + 1) * SEALED_CHUNK_SIZE
