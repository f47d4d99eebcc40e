"""An optional layout for the encrypted payload: a JSON manifest, then a byte stream.

The backup format itself carries arbitrary bytes. A vault backup wants to say what is inside
(format of the snapshot, vault id, app version, created-at) before the snapshot itself, and that
description is as private as the rest, so it goes *inside* the encrypted payload:

    "QRMF" | container version (u8 = 1) | manifest length (u32 BE, <= 1 MiB) | manifest JSON | data

The manifest is a UTF-8 JSON object. It is authenticated with the payload, so damage shows as a
``ChunkCorruptError``; ``ManifestError`` only means a faulty writer.
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Iterable, Mapping
from typing import Final, NoReturn

from crypto.backup.errors import ManifestError
from crypto.backup.format import Readable
from crypto.backup.stream import (
    BackupReader,
    BackupSummary,
    BytesLike,
    CancelCheck,
    ProgressCallback,
    Writable,
    WriterRandomness,
    iter_source,
    write_backup,
)
from crypto.kdf import RFC9106_LOW_MEMORY, KdfParams

CONTAINER_MAGIC: Final = b"QRMF"
CONTAINER_VERSION: Final = 1
MAX_MANIFEST_BYTES: Final = 1024 * 1024
_PREFIX = struct.Struct(">4sBI")


def encode_manifest(manifest: Mapping[str, object]) -> bytes:
    """The container prefix for ``manifest``: canonical JSON (sorted keys, no NaN)."""
    text = json.dumps(
        dict(manifest), ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
    ).encode("utf-8")
    if len(text) > MAX_MANIFEST_BYTES:
        raise ValueError(f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes")
    return _PREFIX.pack(CONTAINER_MAGIC, CONTAINER_VERSION, len(text)) + text


def write_backup_with_manifest(
    manifest: Mapping[str, object],
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
    """Like ``write_backup``, with ``manifest`` stored encrypted in front of the data."""
    return write_backup(
        itertools.chain([encode_manifest(manifest)], iter_source(src)),
        dst,
        passphrase=passphrase,
        recipient_public_key=recipient_public_key,
        vault_secret=vault_secret,
        kdf_params=kdf_params,
        randomness=randomness,
        progress=progress,
        cancel=cancel,
    )


def read_manifest(reader: BackupReader) -> dict[str, object]:
    """Read the manifest from a freshly opened backup; the reader then yields only the data."""
    head = reader.read(_PREFIX.size)
    if len(head) < _PREFIX.size:
        _fail("the backup is too short to hold a manifest")
    magic, version, length = _PREFIX.unpack(head)
    if magic != CONTAINER_MAGIC:
        _fail("the backup does not start with a manifest")
    if version != CONTAINER_VERSION:
        _fail(f"manifest container version {version} is not supported")
    if length > MAX_MANIFEST_BYTES:
        _fail(f"the manifest is {length} bytes, more than {MAX_MANIFEST_BYTES}")
    raw = reader.read(length)
    if len(raw) < length:
        _fail("the manifest is cut short")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ManifestError(f"the manifest is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        _fail("the manifest is not a JSON object")
    return value


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


def _fail(reason: str) -> NoReturn:
    raise ManifestError(reason)
