"""Generate the known-answer vectors for backup format version 1.

    .venv/bin/python tests/vectors/backup/generate.py          # rewrite the vector files
    .venv/bin/python tests/vectors/backup/generate.py --check  # fail if they would change

Every random value (file key, payload nonce, passphrase salt, the ephemeral X25519 private key of
the recovery-key slot, and for vectors with a vault-key slot its salt) is fixed per vector and
recorded in ``vectors.json``, so another implementation can reproduce each file byte for byte. The
writer is given the recipient public key (derived from the recovery secret as the vault does); the
reader, the recovery secret. Vectors with a vault-key slot (type 0x03) also record the 32-byte
vault secret (the unlocked vault's backup sub-key); older vectors have no such keys at all, so
their entries stay byte for byte what they were before that slot type existed. Small vectors
are stored whole as ``<name>.qrbackup``; larger ones by size and SHA-256. ``negative.json`` lists
damaged variants with the error each must raise; the expected errors are written here by hand, and
generation stops if the code disagrees. Once format version 1 is released these files are frozen:
regenerating must not change them (``--check``).

The test suite imports the helpers below (``plaintext_for``, ``build``, ``mutate``) through
``tests/crypto/backup/conftest.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QUIETROOM_ALLOW_TEST_KDF", "1")  # vectors use the cheap test profile

from cryptography.hazmat.primitives.asymmetric.x25519 import (  # noqa: E402
    X25519PrivateKey,
    X25519PublicKey,
)

from crypto.backup import keys  # noqa: E402
from crypto.backup.format import SEALED_CHUNK_SIZE  # noqa: E402
from crypto.backup.recipient import recipient_public_key  # noqa: E402
from crypto.backup.stream import WriterRandomness, open_backup, write_backup  # noqa: E402
from crypto.kdf import KdfParams  # noqa: E402

PASSPHRASE = "correct horse battery staple"
RECOVERY_SECRET = "000102030405060708090a0b0c0d0e0f"
RECIPIENT_PUBLIC_KEY = recipient_public_key(bytes.fromhex(RECOVERY_SECRET)).hex()
VAULT_SECRET = bytes(range(0x20, 0x40)).hex()  # stands in for the vault's backup sub-key
TEST_KDF = {"time_cost": 1, "memory_kib": 64, "parallelism": 1}
OWASP_KDF = {"time_cost": 2, "memory_kib": 19 * 1024, "parallelism": 1}
STORE_WHOLE_UP_TO = 70_000  # bytes; bigger backups are checked by hash


def _randomness(tag: str, *, vault: bool) -> dict[str, str]:
    """Distinct, obviously non-random values per vector: SHA-256 of a label, truncated."""

    def h(field: str, n: int) -> str:
        return hashlib.sha256(f"{tag}/{field}".encode()).digest()[:n].hex()

    values = {
        "file_key": h("file_key", 32),
        "payload_nonce": h("payload_nonce", 16),
        "passphrase_salt": h("passphrase_salt", 16),
        "ephemeral_private_key": h("ephemeral_private_key", 32),
    }
    if vault:
        values["vault_salt"] = h("vault_salt", 16)
    return values


VALID: list[dict[str, Any]] = [
    {
        "name": "passphrase-empty",
        "description": "passphrase slot only, empty payload: one final chunk of padding",
        "passphrase": PASSPHRASE,
        "recovery_secret": None,
        "kdf": TEST_KDF,
        "plaintext": {"hex": ""},
    },
    {
        "name": "recovery-hello",
        "description": "recovery-key (X25519 recipient) slot only, a 13-byte payload",
        "passphrase": None,
        "recovery_secret": RECOVERY_SECRET,
        "kdf": None,
        "plaintext": {"hex": b"hello, world\n".hex()},
    },
    {
        "name": "both-slots-short",
        "description": "both slots, 1000 bytes: one final chunk",
        "passphrase": PASSPHRASE,
        "recovery_secret": RECOVERY_SECRET,
        "kdf": TEST_KDF,
        "plaintext": {"pattern": "i mod 251", "length": 1000},
    },
    {
        "name": "passphrase-owasp-minimum",
        "description": "passphrase slot with the OWASP floor (m=19 MiB, t=2, p=1), usable outside "
        "the test suite",
        "passphrase": PASSPHRASE,
        "recovery_secret": None,
        "kdf": OWASP_KDF,
        "plaintext": {"hex": b"minimum production parameters".hex()},
    },
    {
        "name": "both-slots-last-byte-of-chunk",
        "description": "65535 bytes: the most one final chunk holds",
        "passphrase": PASSPHRASE,
        "recovery_secret": RECOVERY_SECRET,
        "kdf": TEST_KDF,
        "plaintext": {"pattern": "i mod 251", "length": 65535},
    },
    {
        "name": "both-slots-exactly-one-chunk",
        "description": "65536 bytes: one full chunk, then a final chunk holding only padding",
        "passphrase": PASSPHRASE,
        "recovery_secret": RECOVERY_SECRET,
        "kdf": TEST_KDF,
        "plaintext": {"pattern": "i mod 251", "length": 65536},
    },
    {
        "name": "both-slots-multi-chunk",
        "description": "3 full chunks and 100 bytes in the final chunk",
        "passphrase": PASSPHRASE,
        "recovery_secret": RECOVERY_SECRET,
        "kdf": TEST_KDF,
        "plaintext": {"pattern": "i mod 251", "length": 3 * 65536 + 100},
    },
    # Added with the vault-key slot (type 0x03). Only these entries carry "vault_secret".
    {
        "name": "vault-key-hello",
        "description": "vault-key slot only (HKDF of the vault's backup sub-key), 13 bytes",
        "passphrase": None,
        "recovery_secret": None,
        "vault_secret": VAULT_SECRET,
        "kdf": None,
        "plaintext": {"hex": b"hello, vault\n".hex()},
    },
    {
        "name": "recovery-and-vault-short",
        "description": "recovery-key and vault-key slots (what an automatic backup carries), "
        "1000 bytes",
        "passphrase": None,
        "recovery_secret": RECOVERY_SECRET,
        "vault_secret": VAULT_SECRET,
        "kdf": None,
        "plaintext": {"pattern": "i mod 251", "length": 1000},
    },
    {
        "name": "all-slots-short",
        "description": "all three slots (passphrase, recovery key, vault key), 1000 bytes",
        "passphrase": PASSPHRASE,
        "recovery_secret": RECOVERY_SECRET,
        "vault_secret": VAULT_SECRET,
        "kdf": TEST_KDF,
        "plaintext": {"pattern": "i mod 251", "length": 1000},
    },
    {
        "name": "all-slots-multi-chunk",
        "description": "all three slots, 3 full chunks and 100 bytes in the final chunk",
        "passphrase": PASSPHRASE,
        "recovery_secret": RECOVERY_SECRET,
        "vault_secret": VAULT_SECRET,
        "kdf": TEST_KDF,
        "plaintext": {"pattern": "i mod 251", "length": 3 * 65536 + 100},
    },
]
for _spec in VALID:
    _spec["recipient_public_key"] = RECIPIENT_PUBLIC_KEY if _spec["recovery_secret"] else None
    _spec["randomness"] = _randomness(_spec["name"], vault="vault_secret" in _spec)

_BASE = "both-slots-multi-chunk"
# Offsets in a header with both slots (see docs/backup-format.md): magic 0, version 8, header
# length 10, payload nonce 12, slot count 28, passphrase slot 29 (t 32, m 36, p 40, salt 41,
# wrapped key 57), recovery slot 105 (ephemeral public key 108, wrapped key 140), MAC 188,
# chunk 0 at 220.
NEGATIVE: list[dict[str, Any]] = [
    {"name": "empty-file", "mutation": {"op": "truncate", "length": 0}, "error": "EmptyFileError"},
    {
        "name": "not-a-backup",
        "mutation": {"op": "set", "offset": 0, "hex": "504b0304"},
        "error": "NotABackupError",
    },
    {
        "name": "future-version",
        "mutation": {"op": "set", "offset": 8, "hex": "0002"},
        "error": "UnsupportedVersionError",
    },
    {
        "name": "header-length-too-big",
        "mutation": {"op": "set", "offset": 10, "hex": "ffff"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "three-slots",
        "mutation": {"op": "set", "offset": 28, "hex": "03"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "unknown-slot-type",
        "mutation": {"op": "set", "offset": 105, "hex": "07"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "kdf-memory-out-of-range",
        "mutation": {"op": "set", "offset": 36, "hex": "ffffffff"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "truncated-in-header",
        "mutation": {"op": "truncate", "length": 100},
        "error": "TruncatedError",
    },
    {
        "name": "payload-nonce-flipped",
        "mutation": {"op": "flip", "offset": 12, "bit": 0},
        "error": "HeaderCorruptError",
    },
    {
        "name": "passphrase-salt-flipped",
        "mutation": {"op": "flip", "offset": 41, "bit": 7},
        "error": "WrongKeyError",
    },
    {
        "name": "other-slot-flipped",
        "mutation": {"op": "flip", "offset": 130, "bit": 3},
        "error": "HeaderCorruptError",
    },
    {
        "name": "recipient-ephemeral-key-flipped",
        "mutation": {"op": "flip", "offset": 120, "bit": 6},
        "open_with": "recovery",
        "error": "WrongKeyError",
    },
    {
        "name": "recipient-wrapped-key-flipped",
        "mutation": {"op": "flip", "offset": 187, "bit": 0},
        "open_with": "recovery",
        "error": "WrongKeyError",
    },
    {
        "name": "recipient-ephemeral-key-zero",
        "mutation": {"op": "set", "offset": 108, "hex": "00" * 32},
        "open_with": "recovery",
        "error": "HeaderCorruptError",
    },
    {
        "name": "recipient-ephemeral-key-low-order",
        "mutation": {
            "op": "set",
            "offset": 108,
            "hex": "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        },
        "open_with": "recovery",
        "error": "HeaderCorruptError",
    },
    {
        "name": "recipient-slot-flipped-opened-with-passphrase",
        "mutation": {"op": "flip", "offset": 110, "bit": 2},
        "error": "HeaderCorruptError",
    },
    {
        "name": "passphrase-slot-flipped-opened-with-recovery-key",
        "mutation": {"op": "flip", "offset": 60, "bit": 4},
        "open_with": "recovery",
        "error": "HeaderCorruptError",
    },
    {
        "name": "header-mac-flipped",
        "mutation": {"op": "flip", "offset": 188, "bit": 1},
        "error": "HeaderCorruptError",
    },
    {
        "name": "wrong-passphrase",
        "mutation": None,
        "open_with": "wrong-passphrase",
        "error": "WrongKeyError",
    },
    {
        "name": "wrong-recovery-key",
        "mutation": None,
        "open_with": "wrong-recovery",
        "error": "WrongKeyError",
    },
    {
        "name": "recovery-key-of-another-vault",
        "mutation": None,
        "open_with": "other-recovery",
        "error": "WrongKeyError",
    },
    {
        "name": "chunk-1-flipped",
        "mutation": {"op": "flip", "offset": 220 + SEALED_CHUNK_SIZE + 5, "bit": 2},
        "error": "ChunkCorruptError",
        "chunk_index": 1,
    },
    {
        "name": "final-chunk-tag-flipped",
        "mutation": {"op": "flip", "offset": -1, "bit": 0},
        "error": "ChunkCorruptError",
        "chunk_index": 3,
    },
    {
        "name": "truncated-at-chunk-boundary",
        "mutation": {"op": "truncate", "length": 220 + 3 * SEALED_CHUNK_SIZE},
        "error": "TruncatedError",
    },
    {
        "name": "truncated-mid-chunk",
        "mutation": {"op": "truncate", "length": 220 + SEALED_CHUNK_SIZE + 1000},
        "error": "TruncatedError",
    },
    {
        "name": "truncated-after-header",
        "mutation": {"op": "truncate", "length": 220},
        "error": "TruncatedError",
    },
    {
        "name": "chunks-swapped",
        "mutation": {"op": "swap_chunks", "i": 0, "j": 1},
        "error": "ChunkCorruptError",
        "chunk_index": 0,
    },
    {
        "name": "chunk-duplicated",
        "mutation": {"op": "duplicate_chunk", "i": 1},
        "error": "ChunkCorruptError",
        "chunk_index": 2,
    },
    {
        "name": "chunk-deleted",
        "mutation": {"op": "delete_chunk", "i": 1},
        "error": "ChunkCorruptError",
        "chunk_index": 1,
    },
    {
        "name": "final-chunk-duplicated",
        "mutation": {"op": "duplicate_chunk", "i": 3},
        "error": "TrailingDataError",
    },
    {
        "name": "byte-appended",
        "mutation": {"op": "append", "hex": "00"},
        "error": "TrailingDataError",
    },
    {
        "name": "vault-key-on-a-file-without-a-vault-slot",
        "mutation": None,
        "open_with": "vault",
        "error": "KeySlotMissingError",
    },
]
for _spec in NEGATIVE:
    _spec["base"] = _BASE
    _spec.setdefault("open_with", "passphrase")
    _spec.setdefault("chunk_index", None)

_BASE_ALL = "all-slots-multi-chunk"
# Offsets in a header with all three slots: as above up to the recovery slot (105), then the
# vault-key slot at 188 (salt 191, wrapped key 207), MAC 255, chunk 0 at 287.
_H_ALL = 287
NEGATIVE_ALL: list[dict[str, Any]] = [
    {
        "name": "all-slots-four-slots",
        "mutation": {"op": "set", "offset": 28, "hex": "04"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-count-two",
        "mutation": {"op": "set", "offset": 28, "hex": "02"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-vault-slot-type-repeated",
        "mutation": {"op": "set", "offset": 188, "hex": "02"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-vault-slot-type-unknown",
        "mutation": {"op": "set", "offset": 188, "hex": "04"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-vault-slot-length-wrong",
        "mutation": {"op": "set", "offset": 189, "hex": "0041"},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-vault-salt-flipped",
        "mutation": {"op": "flip", "offset": 191, "bit": 0},
        "error": "WrongKeyError",
    },
    {
        "name": "all-slots-vault-wrapped-key-flipped",
        "mutation": {"op": "flip", "offset": 254, "bit": 7},
        "error": "WrongKeyError",
    },
    {
        "name": "all-slots-vault-slot-flipped-opened-with-passphrase",
        "mutation": {"op": "flip", "offset": 200, "bit": 1},
        "open_with": "passphrase",
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-vault-slot-flipped-opened-with-recovery-key",
        "mutation": {"op": "flip", "offset": 230, "bit": 4},
        "open_with": "recovery",
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-passphrase-slot-flipped",
        "mutation": {"op": "flip", "offset": 60, "bit": 2},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-recipient-slot-flipped",
        "mutation": {"op": "flip", "offset": 120, "bit": 6},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-payload-nonce-flipped",
        "mutation": {"op": "flip", "offset": 12, "bit": 0},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-header-mac-flipped",
        "mutation": {"op": "flip", "offset": 255, "bit": 1},
        "error": "HeaderCorruptError",
    },
    {
        "name": "all-slots-wrong-vault-secret",
        "mutation": None,
        "open_with": "wrong-vault",
        "error": "WrongKeyError",
    },
    {
        "name": "all-slots-chunk-0-flipped",
        "mutation": {"op": "flip", "offset": _H_ALL + 5, "bit": 2},
        "error": "ChunkCorruptError",
        "chunk_index": 0,
    },
    {
        "name": "all-slots-truncated-after-header",
        "mutation": {"op": "truncate", "length": _H_ALL},
        "error": "TruncatedError",
    },
    {
        "name": "all-slots-final-chunk-duplicated",
        "mutation": {"op": "duplicate_chunk", "i": 3},
        "error": "TrailingDataError",
    },
]
for _spec in NEGATIVE_ALL:
    _spec["base"] = _BASE_ALL
    _spec.setdefault("open_with", "vault")
    _spec.setdefault("chunk_index", None)
NEGATIVE += NEGATIVE_ALL


def plaintext_for(spec: dict[str, Any]) -> bytes:
    p = spec["plaintext"]
    if "hex" in p:
        return bytes.fromhex(p["hex"])
    assert p["pattern"] == "i mod 251"
    return bytes(i % 251 for i in range(p["length"]))


def build(spec: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    kdf = spec["kdf"]
    vault_secret = spec.get("vault_secret")
    write_backup(
        io.BytesIO(plaintext_for(spec)),
        out,
        passphrase=spec["passphrase"].encode() if spec["passphrase"] else None,
        recipient_public_key=(
            bytes.fromhex(spec["recipient_public_key"]) if spec["recipient_public_key"] else None
        ),
        vault_secret=bytes.fromhex(vault_secret) if vault_secret else None,
        kdf_params=KdfParams(**kdf) if kdf else KdfParams(1, 64, 1),
        randomness=WriterRandomness(**{k: bytes.fromhex(v) for k, v in spec["randomness"].items()}),
    )
    return out.getvalue()


def mutate(data: bytes, mutation: dict[str, Any] | None, header_size: int) -> bytes:
    """Apply one damage operation from ``negative.json`` to a backup."""
    if mutation is None:
        return data
    op = mutation["op"]
    buf = bytearray(data)
    if op == "flip":
        buf[mutation["offset"]] ^= 1 << mutation["bit"]
        return bytes(buf)
    if op == "set":
        raw = bytes.fromhex(mutation["hex"])
        buf[mutation["offset"] : mutation["offset"] + len(raw)] = raw
        return bytes(buf)
    if op == "truncate":
        return data[: mutation["length"]]
    if op == "append":
        return data + bytes.fromhex(mutation["hex"])
    header, body = data[:header_size], data[header_size:]
    chunks = [body[i : i + SEALED_CHUNK_SIZE] for i in range(0, len(body), SEALED_CHUNK_SIZE)]
    if op == "swap_chunks":
        i, j = mutation["i"], mutation["j"]
        chunks[i], chunks[j] = chunks[j], chunks[i]
    elif op == "duplicate_chunk":
        chunks.insert(mutation["i"] + 1, chunks[mutation["i"]])
    elif op == "delete_chunk":
        del chunks[mutation["i"]]
    else:
        raise ValueError(f"unknown mutation {op}")
    return header + b"".join(chunks)


def open_kwargs(open_with: str) -> dict[str, Any]:
    return {
        "passphrase": {"passphrase": PASSPHRASE.encode()},
        "recovery": {"recovery_secret": bytes.fromhex(RECOVERY_SECRET)},
        "wrong-passphrase": {"passphrase": PASSPHRASE.encode() + b"!"},
        "wrong-recovery": {"recovery_secret": bytes(16)},
        "other-recovery": {"recovery_secret": bytes.fromhex(RECOVERY_SECRET)[::-1]},
        "vault": {"vault_secret": bytes.fromhex(VAULT_SECRET)},
        "wrong-vault": {"vault_secret": bytes(32)},
    }[open_with]


def _describe(spec: dict[str, Any], data: bytes) -> dict[str, Any]:
    header_size = 12 + int.from_bytes(data[10:12], "big") + 32
    file_key = bytes.fromhex(spec["randomness"]["file_key"])
    nonce = bytes.fromhex(spec["randomness"]["payload_nonce"])
    plaintext = plaintext_for(spec)
    entry = {k: v for k, v in spec.items()}
    derived = {
        "payload_key": keys.payload_key(file_key, nonce).hex(),
        "header_mac": keys.header_mac(file_key, data[: header_size - 32]).hex(),
    }
    if spec["recipient_public_key"]:
        derived.update(_recipient_intermediates(spec))
    if spec.get("vault_secret"):
        derived["vault_wrapping_key"] = keys.vault_wrapping_key(
            bytes.fromhex(spec["vault_secret"]), bytes.fromhex(spec["randomness"]["vault_salt"])
        ).hex()
    entry.update(
        {
            "format_version": 1,
            "plaintext_sha256": hashlib.sha256(plaintext).hexdigest(),
            "header_size": header_size,
            "header_hex": data[:header_size].hex(),
            "derived": derived,
            "backup_size": len(data),
            "backup_sha256": hashlib.sha256(data).hexdigest(),
            "backup_file": f"{spec['name']}.qrbackup" if len(data) <= STORE_WHOLE_UP_TO else None,
        }
    )
    return entry


def _recipient_intermediates(spec: dict[str, Any]) -> dict[str, str]:
    """The recovery-key slot's steps (docs/backup-format.md §3), for other implementations."""
    ephemeral = X25519PrivateKey.from_private_bytes(
        bytes.fromhex(spec["randomness"]["ephemeral_private_key"])
    )
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    recipient = bytes.fromhex(spec["recipient_public_key"])
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    return {
        "ephemeral_public_key": ephemeral_public.hex(),
        "x25519_shared_secret": shared.hex(),
        "recipient_wrapping_key": keys.recipient_wrapping_key(
            shared, ephemeral_public, recipient
        ).hex(),
    }


def _check_negative(spec: dict[str, Any], base: bytes, header_size: int) -> None:
    damaged = mutate(base, spec["mutation"], header_size)
    try:
        open_backup(io.BytesIO(damaged), **open_kwargs(spec["open_with"])).read()
    except Exception as exc:  # whatever came out is reported
        got, index = type(exc).__name__, getattr(exc, "index", None)
        if got != spec["error"] or (
            spec["chunk_index"] is not None and index != spec["chunk_index"]
        ):
            raise SystemExit(
                f"{spec['name']}: expected {spec['error']}, got {got} ({exc})"
            ) from exc
        return
    raise SystemExit(f"{spec['name']}: expected {spec['error']}, but it opened")


def generate() -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    entries = []
    built: dict[str, tuple[bytes, int]] = {}
    for spec in VALID:
        data = build(spec)
        entry = _describe(spec, data)
        entries.append(entry)
        built[spec["name"]] = (data, entry["header_size"])
        if entry["backup_file"]:
            files[entry["backup_file"]] = data
    for spec in NEGATIVE:
        _check_negative(spec, *built[spec["base"]])
    files["vectors.json"] = (json.dumps(entries, indent=1) + "\n").encode()
    files["negative.json"] = (json.dumps(NEGATIVE, indent=1) + "\n").encode()
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description="generate backup format test vectors")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    files = generate()
    if args.check:
        stale = [
            n for n, d in files.items() if not (HERE / n).exists() or (HERE / n).read_bytes() != d
        ]
        if stale:
            raise SystemExit(f"vectors would change: {', '.join(stale)}")
        print("vectors unchanged")
        return
    for name, data in files.items():
        (HERE / name).write_bytes(data)
        print(f"wrote {name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
