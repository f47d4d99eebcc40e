"""The vault header (``vault.header``): a small JSON document, parsed strictly.

It holds everything needed to unlock the vault except the secrets: the Argon2id parameters and salt,
the master key wrapped twice (passphrase slot and recovery slot), the name of the current database
file, and the audit checkpoint. Each wrapped slot is bound, as AEAD associated data, to the header
fields that matter for it, so that editing a parameter makes the unwrap fail. The spec is
docs/vault-format.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, replace
from typing import Any

from crypto.errors import UnlockError
from crypto.kdf import SALT_BYTES, KdfParams
from crypto.keys import MASTER_KEY_BYTES, NONCE_BYTES

FORMAT = "quietroom-vault"
VERSION = 1
MAX_HEADER_BYTES = 16 * 1024
_TAG_BYTES = 16
RECIPIENT_BYTES = 32
_DB_NAME = re.compile(r"^vault-[0-9]{1,9}\.db$")
_VAULT_ID = re.compile(r"^[0-9a-f]{32}$")
_ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


@dataclass(frozen=True)
class WrappedKey:
    nonce: bytes
    ciphertext: bytes


@dataclass(frozen=True)
class Checkpoint:
    """The audit chain head, kept outside the database: last sequence number, its MAC, the key
    epoch that sealed it, the commit counter and key-slot epoch of the database it was written
    for, and a tag over all of that under the current audit key. A checkpoint written before
    commit counters existed (``commit is None``) is read as the legacy form."""

    seq: int
    epoch: int
    mac: bytes
    tag: bytes
    commit: int | None = None
    slot_epoch: int | None = None


@dataclass(frozen=True)
class VaultHeader:
    vault_id: str
    created_at: str
    generation: int
    kdf: KdfParams
    kdf_salt: bytes
    recovery_salt: bytes
    # X25519 public key derived from the recovery key: backups are encrypted to it
    backup_recipient: bytes
    passphrase_slot: WrappedKey
    recovery_slot: WrappedKey
    checkpoint: Checkpoint | None = None

    @property
    def database(self) -> str:
        return f"vault-{self.generation}.db"

    def with_checkpoint(self, checkpoint: Checkpoint) -> VaultHeader:
        return replace(self, checkpoint=checkpoint)

    # -- associated data ------------------------------------------------------------------------
    def _common(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            "vault_id": self.vault_id,
            "created_at": self.created_at,
            "generation": self.generation,
            # Bound into both slots: swapping it would send future backups to someone else.
            "backup_recipient": _b64(self.backup_recipient),
        }

    def passphrase_aad(self) -> bytes:
        return _canonical(
            {**self._common(), "slot": "passphrase", "kdf": _kdf_json(self.kdf, self.kdf_salt)}
        )

    def recovery_aad(self) -> bytes:
        return _canonical({**self._common(), "slot": "recovery", "salt": _b64(self.recovery_salt)})

    # -- encoding -------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            **self._common(),
            "database": self.database,
            "kdf": _kdf_json(self.kdf, self.kdf_salt),
            "recovery": {"salt": _b64(self.recovery_salt)},
            "wrapped": {
                "passphrase": _slot_json(self.passphrase_slot),
                "recovery": _slot_json(self.recovery_slot),
            },
            "checkpoint": None if self.checkpoint is None else _checkpoint_json(self.checkpoint),
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode("utf-8") + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> VaultHeader:
        """Parse strictly. Any defect raises the opaque ``UnlockError``: a damaged header and a
        wrong passphrase look the same to callers."""
        try:
            return _parse(data)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError, binascii.Error):
            raise UnlockError() from None


def _parse(data: bytes) -> VaultHeader:
    if len(data) > MAX_HEADER_BYTES:
        raise ValueError("header too large")
    doc = json.loads(data.decode("utf-8"))
    _keys(
        doc,
        {
            "format",
            "version",
            "vault_id",
            "created_at",
            "generation",
            "backup_recipient",
            "database",
            "kdf",
            "recovery",
            "wrapped",
            "checkpoint",
        },
    )
    if doc["format"] != FORMAT or doc["version"] != VERSION:
        raise ValueError("unknown format or version")
    vault_id = _str(doc["vault_id"], _VAULT_ID)
    created_at = _str(doc["created_at"], _ISO_UTC)
    generation = _int(doc["generation"], 0, 10**9 - 1)
    if _str(doc["database"], _DB_NAME) != f"vault-{generation}.db":
        raise ValueError("database name does not match generation")
    kdf_doc = doc["kdf"]
    _keys(
        kdf_doc,
        {"algorithm", "version", "time_cost", "memory_kib", "parallelism", "profile", "salt"},
    )
    if kdf_doc["algorithm"] != "argon2id" or kdf_doc["version"] != 19:
        raise ValueError("unsupported KDF")
    kdf = KdfParams(
        time_cost=_int(kdf_doc["time_cost"], 1, 10**6),
        memory_kib=_int(kdf_doc["memory_kib"], 1, 10**9),
        parallelism=_int(kdf_doc["parallelism"], 1, 10**3),
        profile=_str(kdf_doc["profile"], re.compile(r"^[a-z0-9-]{1,32}$")),
    )
    kdf_salt = _bytes(kdf_doc["salt"], SALT_BYTES)
    _keys(doc["recovery"], {"salt"})
    recovery_salt = _bytes(doc["recovery"]["salt"], SALT_BYTES)
    backup_recipient = _bytes(doc["backup_recipient"], RECIPIENT_BYTES)
    _keys(doc["wrapped"], {"passphrase", "recovery"})
    checkpoint = None
    if doc["checkpoint"] is not None:
        cp = doc["checkpoint"]
        legacy = {"seq", "epoch", "mac", "tag"}
        if not (isinstance(cp, dict) and set(cp) == legacy):
            _keys(cp, legacy | {"commit", "slot_epoch"})
        checkpoint = Checkpoint(
            seq=_int(cp["seq"], 1, 2**62),
            epoch=_int(cp["epoch"], 0, generation),
            mac=_bytes(cp["mac"], 32),
            tag=_bytes(cp["tag"], 32),
            commit=_int(cp["commit"], 1, 2**62) if "commit" in cp else None,
            slot_epoch=_int(cp["slot_epoch"], 0, 2**31) if "slot_epoch" in cp else None,
        )
    return VaultHeader(
        vault_id=vault_id,
        created_at=created_at,
        generation=generation,
        kdf=kdf,
        kdf_salt=kdf_salt,
        recovery_salt=recovery_salt,
        backup_recipient=backup_recipient,
        passphrase_slot=_parse_slot(doc["wrapped"]["passphrase"]),
        recovery_slot=_parse_slot(doc["wrapped"]["recovery"]),
        checkpoint=checkpoint,
    )


def _checkpoint_json(cp: Checkpoint) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "seq": cp.seq,
        "epoch": cp.epoch,
        "mac": _b64(cp.mac),
        "tag": _b64(cp.tag),
    }
    if cp.commit is not None:
        doc["commit"] = cp.commit
        doc["slot_epoch"] = cp.slot_epoch
    return doc


def _parse_slot(doc: Any) -> WrappedKey:
    _keys(doc, {"nonce", "ciphertext"})
    return WrappedKey(
        nonce=_bytes(doc["nonce"], NONCE_BYTES),
        ciphertext=_bytes(doc["ciphertext"], MASTER_KEY_BYTES + _TAG_BYTES),
    )


def _keys(doc: Any, expected: set[str]) -> None:
    if not isinstance(doc, dict) or set(doc) != expected:
        raise ValueError("unexpected fields")


def _str(value: Any, pattern: re.Pattern[str]) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError("bad string field")
    return value


def _int(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError("bad integer field")
    return value


def _bytes(value: Any, length: int) -> bytes:
    if not isinstance(value, str):
        raise ValueError("bad binary field")
    raw = base64.b64decode(value.encode("ascii"), validate=True)
    if len(raw) != length:
        raise ValueError("bad binary length")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _kdf_json(kdf: KdfParams, salt: bytes) -> dict[str, Any]:
    return {
        "algorithm": "argon2id",
        "version": 19,
        "time_cost": kdf.time_cost,
        "memory_kib": kdf.memory_kib,
        "parallelism": kdf.parallelism,
        "profile": kdf.profile,
        "salt": _b64(salt),
    }


def _slot_json(slot: WrappedKey) -> dict[str, str]:
    return {"nonce": _b64(slot.nonce), "ciphertext": _b64(slot.ciphertext)}


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")
