"""Known-answer vectors (tests/vectors/backup): frozen bytes for format version 1."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

import crypto.backup.errors as backup_errors
from crypto.backup import SlotType, inspect_backup, open_backup
from crypto.backup import keys as key_schedule
from crypto.backup.format import SEALED_CHUNK_SIZE, PassphraseSlot, RecipientSlot, VaultSlot
from crypto.backup.recipient import recipient_private_key, recipient_public_key

VECTORS_DIR = Path(__file__).resolve().parents[2] / "vectors" / "backup"
VALID = json.loads((VECTORS_DIR / "vectors.json").read_text())
NEGATIVE = json.loads((VECTORS_DIR / "negative.json").read_text())
BY_NAME = {v["name"]: v for v in VALID}


def _open_kwargs(vector: dict[str, Any]) -> list[dict[str, Any]]:
    ways = []
    if vector["passphrase"]:
        ways.append({"passphrase": vector["passphrase"].encode()})
    if vector["recovery_secret"]:
        ways.append({"recovery_secret": bytes.fromhex(vector["recovery_secret"])})
    if vector.get("vault_secret"):
        ways.append({"vault_secret": bytes.fromhex(vector["vault_secret"])})
    return ways


def test_vectors_cover_the_cases() -> None:
    assert len(VALID) >= 6 and len(NEGATIVE) >= 30
    assert sum(1 for v in VALID if v["backup_file"]) >= 3
    assert {c["open_with"] for c in NEGATIVE} >= {"passphrase", "recovery", "other-recovery"}
    # The vault-key slot: alone, next to the recovery key, with all three; whole files of each.
    with_vault = [v for v in VALID if v.get("vault_secret")]
    assert {(bool(v["passphrase"]), bool(v["recovery_secret"])) for v in with_vault} >= {
        (False, False),
        (False, True),
        (True, True),
    }
    assert sum(1 for v in with_vault if v["backup_file"]) >= 3
    assert {c["open_with"] for c in NEGATIVE} >= {"vault", "wrong-vault"}
    assert {c["error"] for c in NEGATIVE if c["open_with"] == "vault"} >= {
        "HeaderCorruptError",
        "WrongKeyError",
        "KeySlotMissingError",
        "ChunkCorruptError",
        "TruncatedError",
        "TrailingDataError",
    }


def test_vectors_from_before_the_vault_slot_are_unchanged() -> None:
    """The first seven vectors predate slot type 0x03: no vault fields, and their frozen sizes."""
    old = VALID[:7]
    assert [v["name"] for v in old] == [
        "passphrase-empty",
        "recovery-hello",
        "both-slots-short",
        "passphrase-owasp-minimum",
        "both-slots-last-byte-of-chunk",
        "both-slots-exactly-one-chunk",
        "both-slots-multi-chunk",
    ]
    for v in old:
        assert "vault_secret" not in v and "vault_salt" not in v["randomness"]
        assert "vault_wrapping_key" not in v["derived"]
        assert v["header_size"] in (137, 144, 220)
    assert {v["header_size"] for v in VALID[7:]} == {128, 211, 287}


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_writer_reproduces_the_vector(vector: dict[str, Any], vectors_lib: ModuleType) -> None:
    data = vectors_lib.build(vector)
    assert len(data) == vector["backup_size"]
    assert data[: vector["header_size"]].hex() == vector["header_hex"]
    assert hashlib.sha256(data).hexdigest() == vector["backup_sha256"]
    if vector["backup_file"]:
        assert data == (VECTORS_DIR / vector["backup_file"]).read_bytes()


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_reader_opens_the_vector(vector: dict[str, Any], vectors_lib: ModuleType) -> None:
    if vector["backup_file"]:
        data = (VECTORS_DIR / vector["backup_file"]).read_bytes()  # independent of the writer
    else:
        data = vectors_lib.build(vector)
    assert hashlib.sha256(data).hexdigest() == vector["backup_sha256"]
    for kwargs in _open_kwargs(vector):
        plaintext = open_backup(io.BytesIO(data), **kwargs).read()
        assert hashlib.sha256(plaintext).hexdigest() == vector["plaintext_sha256"]
        assert plaintext == vectors_lib.plaintext_for(vector)


@pytest.mark.parametrize("vector", VALID, ids=lambda v: v["name"])
def test_key_schedule_intermediates(vector: dict[str, Any]) -> None:
    header = inspect_backup(io.BytesIO(bytes.fromhex(vector["header_hex"])))
    rnd = {k: bytes.fromhex(v) for k, v in vector["randomness"].items()}
    assert header.payload_nonce == rnd["payload_nonce"]
    assert (
        key_schedule.payload_key(rnd["file_key"], rnd["payload_nonce"]).hex()
        == (vector["derived"]["payload_key"])
    )
    assert header.mac.hex() == vector["derived"]["header_mac"]
    assert key_schedule.header_mac_valid(rnd["file_key"], header)
    slot = header.slot(SlotType.PASSPHRASE)
    if isinstance(slot, PassphraseSlot):
        assert slot.salt == rnd["passphrase_salt"]
        assert (slot.params.time_cost, slot.params.memory_kib, slot.params.parallelism) == (
            vector["kdf"]["time_cost"],
            vector["kdf"]["memory_kib"],
            vector["kdf"]["parallelism"],
        )
    slot = header.slot(SlotType.RECOVERY_RECIPIENT)
    assert (slot is not None) == (vector["recovery_secret"] is not None)
    if isinstance(slot, RecipientSlot):
        derived = vector["derived"]
        secret = bytes.fromhex(vector["recovery_secret"])
        assert recipient_public_key(secret).hex() == vector["recipient_public_key"]
        ephemeral = X25519PrivateKey.from_private_bytes(rnd["ephemeral_private_key"])
        assert slot.ephemeral_public == ephemeral.public_key().public_bytes_raw()
        assert slot.ephemeral_public.hex() == derived["ephemeral_public_key"]
        shared = recipient_private_key(secret).exchange(
            X25519PublicKey.from_public_bytes(slot.ephemeral_public)
        )
        assert shared.hex() == derived["x25519_shared_secret"]
        wrapping_key = key_schedule.recipient_unwrapping_key(recipient_private_key(secret), slot)
        assert wrapping_key is not None and wrapping_key.hex() == derived["recipient_wrapping_key"]
        assert key_schedule.unwrap_file_key(wrapping_key, slot) == rnd["file_key"]
    slot = header.slot(SlotType.VAULT_KEY)
    assert (slot is not None) == (vector.get("vault_secret") is not None)
    if isinstance(slot, VaultSlot):
        assert slot.salt == rnd["vault_salt"]
        wrapping_key = key_schedule.vault_wrapping_key(
            bytes.fromhex(vector["vault_secret"]), slot.salt
        )
        assert wrapping_key.hex() == vector["derived"]["vault_wrapping_key"]
        assert key_schedule.unwrap_file_key(wrapping_key, slot) == rnd["file_key"]
    size = vector["header_size"] + (len_plain(vector) // 65536 + 1) * SEALED_CHUNK_SIZE
    assert size == vector["backup_size"]


def len_plain(vector: dict[str, Any]) -> int:
    p = vector["plaintext"]
    return len(p["hex"]) // 2 if "hex" in p else int(p["length"])


@pytest.mark.parametrize("case", NEGATIVE, ids=lambda c: c["name"])
def test_negative_vector(case: dict[str, Any], vectors_lib: ModuleType) -> None:
    base = BY_NAME[case["base"]]
    data = vectors_lib.build(base)
    assert hashlib.sha256(data).hexdigest() == base["backup_sha256"]
    damaged = vectors_lib.mutate(data, case["mutation"], base["header_size"])
    expected = getattr(backup_errors, case["error"])
    with pytest.raises(expected) as info:
        open_backup(io.BytesIO(damaged), **vectors_lib.open_kwargs(case["open_with"])).read()
    assert type(info.value) is expected
    if case["chunk_index"] is not None:
        assert getattr(info.value, "index", None) == case["chunk_index"]


def test_vector_files_are_up_to_date(vectors_lib: ModuleType) -> None:
    for name, data in vectors_lib.generate().items():
        assert (VECTORS_DIR / name).read_bytes() == data, f"{name} changed: vectors are frozen"
