#!/usr/bin/env python3
"""Read a Quietroom vault or backup without Quietroom, and export every table to CSV.

Needs only Python 3.11+, `cryptography`, `argon2-cffi` and `sqlcipher3` (SQLCipher 4):

    pip install cryptography argon2-cffi sqlcipher3
    python3 recover_without_quietroom.py VAULT_FOLDER_OR_BACKUP_FILE OUT_FOLDER [options]

Keys (typed at the prompt, or read from a file: only a final line break is dropped):
  --recovery-key-file F        the printed recovery key (the default; opens a vault or a backup)
  --passphrase-file F          the vault passphrase (opens a vault folder; with a backup
                               passphrase, the passphrase the vault had when the backup was made)
  --backup-passphrase-file F   a backup passphrase (opens a backup made with one)

Written from docs/vault-format.md and docs/backup-format.md alone; it shares no code with
Quietroom, so it also checks that those documents say enough. It writes one CSV per table (blobs as
hex) into OUT_FOLDER; the database it reads stays encrypted on disk.
"""

from __future__ import annotations

import argparse
import base64
import csv
import getpass
import hashlib
import hmac
import json
import shutil
import struct
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import BinaryIO

import sqlcipher3
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAX_MEMORY_KIB, MAX_TIME, MAX_LANES = 1024 * 1024, 10, 4  # what Quietroom ever writes
BACKUP_MAGIC = b"\x89QRB\r\n\x1a\n"
CHUNK, SEALED = 65536, 65536 + 16


def hkdf(ikm: bytes, info: bytes, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def argon2id(secret: bytes, salt: bytes, t: int, m: int, p: int) -> bytes:
    if not (1 <= t <= MAX_TIME and 8 * p <= m <= MAX_MEMORY_KIB and 1 <= p <= MAX_LANES):
        sys.exit("refused: the file asks for more Argon2id work than Quietroom ever uses")
    return hash_secret_raw(secret, salt, t, m, p, 32, Type.ID, 19)


def passphrase_bytes(text: str) -> bytes:
    return unicodedata.normalize("NFC", text).encode("utf-8")


def recovery_secret(typed: str) -> bytes:
    compact = "".join(c for c in typed.upper() if c not in " -\t\r\n")
    raw = base64.b32decode(compact.translate(str.maketrans("018", "OIB")))
    secret, check = raw[:16], raw[16:]
    if (
        len(raw) != 20
        or hashlib.sha256(b"quietroom recovery key v1" + secret).digest()[:4] != check
    ):
        sys.exit("this recovery key has a typo: compare it with the printed copy")
    return secret


# -- the vault folder (docs/vault-format.md) ----------------------------------------------------
def canonical(doc: dict[str, object]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def master_key(
    header: dict, *, recovery: bytes | None = None, passphrase: str | None = None
) -> bytes:
    common = {k: header[k] for k in ("format", "version", "vault_id", "created_at", "generation",
                                     "backup_recipient")}  # fmt: skip
    if recovery is not None:
        salt = base64.b64decode(header["recovery"]["salt"])
        kek = hkdf(recovery, b"quietroom/v1/recovery-kek|", salt)
        slot, aad = header["wrapped"]["recovery"], {**common, "slot": "recovery",
                                                    "salt": header["recovery"]["salt"]}  # fmt: skip
    else:
        kdf = header["kdf"]
        kek = argon2id(passphrase_bytes(passphrase), base64.b64decode(kdf["salt"]),
                       kdf["time_cost"], kdf["memory_kib"], kdf["parallelism"])  # fmt: skip
        slot, aad = header["wrapped"]["passphrase"], {**common, "slot": "passphrase", "kdf": kdf}
    nonce, sealed = base64.b64decode(slot["nonce"]), base64.b64decode(slot["ciphertext"])
    try:
        return AESGCM(kek).decrypt(nonce, sealed, canonical(aad))
    except InvalidTag:
        sys.exit("wrong key, or the vault header is damaged")


def export_vault(folder: Path, out: Path, **key: object) -> list[str]:
    header = json.loads((folder / "vault.header").read_text("utf-8"))
    master = master_key(header, **key)
    db_key = hkdf(master, b"quietroom/v1/sqlcipher-key|" + header["vault_id"].encode())
    with tempfile.TemporaryDirectory() as scratch:  # read a copy: never touch the original
        copy = Path(scratch) / "vault.db"
        shutil.copyfile(folder / header["database"], copy)
        for suffix in ("-wal", "-shm"):
            if (folder / (header["database"] + suffix)).exists():
                shutil.copyfile(folder / (header["database"] + suffix), f"{copy}{suffix}")
        conn = sqlcipher3.connect(str(copy))
        conn.execute(f"PRAGMA key = \"x'{db_key.hex()}'\"")
        tables = [row[1] for row in conn.execute("PRAGMA table_list") if row[2] == "table"
                  and row[0] == "main" and not row[1].startswith("sqlite_")]  # fmt: skip
        out.mkdir(parents=True, exist_ok=True)
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from the db)
            with open(out / f"{table}.csv", "w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow([d[0] for d in cursor.description])
                for row in cursor:
                    writer.writerow([v.hex() if isinstance(v, bytes) else v for v in row])
        conn.close()
    return tables


# -- a backup file (docs/backup-format.md) ------------------------------------------------------
def backup_file_key(head: bytes, slots: list[tuple[int, bytes]], **key: object) -> bytes:
    for kind, body in slots:
        aad = BACKUP_MAGIC + b"\x00\x01" + bytes([kind]) + struct.pack(">H", len(body))
        if kind == 1 and key.get("backup_passphrase") is not None:  # t, m, p, salt, wrapped
            t, m, p = struct.unpack(">IIB", body[:9])
            wrap = argon2id(passphrase_bytes(str(key["backup_passphrase"])), body[9:25], t, m, p)
            aad, wrapped = aad + body[:25], body[25:]
        elif kind == 2 and key.get("recovery") is not None:  # ephemeral public key, wrapped
            identity = X25519PrivateKey.from_private_bytes(
                hkdf(key["recovery"], b"quietroom/v1/backup-recipient")
            )
            e_pk = body[:32]
            shared = identity.exchange(X25519PublicKey.from_public_bytes(e_pk))
            mine = identity.public_key().public_bytes_raw()
            wrap = hkdf(shared, b"quietroom-backup v1 x25519 wrap", e_pk + mine)
            aad, wrapped = aad + e_pk, body[32:]
        else:
            continue
        try:
            file_key = ChaCha20Poly1305(wrap).decrypt(bytes(12), wrapped, aad)
        except InvalidTag:
            continue  # not this slot: try the next one
        mac_key = hkdf(file_key, b"quietroom-backup v1 header mac", b"")
        if not hmac.compare_digest(hmac.new(mac_key, head[:-32], "sha256").digest(), head[-32:]):
            sys.exit("the backup's header is damaged")
        return file_key
    sys.exit("wrong key for this backup (or it has no slot for that kind of key)")


def unpack_backup(path: Path, into: Path, **key: object) -> None:
    """Decrypt the payload and write the vault it holds (header + still-encrypted database)."""
    with open(path, "rb") as src, tempfile.TemporaryFile() as plain:
        fixed = src.read(12)
        if fixed[:8] != BACKUP_MAGIC or fixed[8:10] != b"\x00\x01":
            sys.exit("not a Quietroom backup of format version 1")
        (length,) = struct.unpack(">H", fixed[10:12])
        body = src.read(length)
        head = fixed + body + src.read(32)
        nonce, count, slots, pos = body[:16], body[16], [], 17
        for _ in range(count):
            kind, size = body[pos], struct.unpack(">H", body[pos + 1 : pos + 3])[0]
            slots.append((kind, body[pos + 3 : pos + 3 + size]))
            pos += 3 + size
        file_key = backup_file_key(head, slots, **key)
        aead = ChaCha20Poly1305(hkdf(file_key, b"quietroom-backup v1 payload", nonce))
        start = src.tell()
        total = (src.seek(0, 2) - start) // SEALED
        src.seek(start)
        for index in range(total):  # the payload: a manifest, then a SQLCipher file (encrypted)
            final = index == total - 1
            chunk_nonce = index.to_bytes(11, "big") + (b"\x01" if final else b"\x00")
            try:
                chunk = aead.decrypt(chunk_nonce, src.read(SEALED), b"")
            except InvalidTag:
                sys.exit(f"the backup is damaged or cut short (chunk {index})")
            plain.write(chunk.rstrip(b"\x00")[:-1] if final else chunk)  # 0x80 0x00... padding
        plain.seek(0)
        write_vault(plain, into)


def write_vault(plain: BinaryIO, into: Path) -> None:
    if plain.read(5) != b"QRMF\x01":
        sys.exit("unexpected payload: no manifest")
    (size,) = struct.unpack(">I", plain.read(4))
    parts = json.loads(plain.read(size))["parts"]
    header = plain.read(parts["header"])
    into.mkdir(parents=True)
    (into / "vault.header").write_bytes(header)
    with open(into / json.loads(header)["database"], "wb") as db:
        remaining = parts["database"]
        while remaining:
            block = plain.read(min(remaining, 1 << 20))
            db.write(block)
            remaining -= len(block)


def read_secret(path: Path | None, prompt: str) -> str:
    if path is None:
        return getpass.getpass(prompt)
    text = path.read_text("utf-8").removeprefix("\ufeff")
    return text.removesuffix("\n").removesuffix("\r") if text.endswith("\n") else text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="a vault folder or a .qrbackup file")
    parser.add_argument("out", type=Path, help="folder for the CSV files")
    parser.add_argument(
        "--key", choices=["recovery-key", "passphrase", "backup-passphrase"],
        default="recovery-key", help="what opens it (backup-passphrase: the vault passphrase too)",
    )  # fmt: skip
    for name in ("recovery-key", "passphrase", "backup-passphrase"):
        parser.add_argument(f"--{name}-file", type=Path, help=f"read the {name} from a file")
    args = parser.parse_args()
    if args.key == "recovery-key":
        typed = read_secret(args.recovery_key_file, "Recovery key: ")
        vault_key = backup_key = {"recovery": recovery_secret(typed)}
    else:
        if args.key == "backup-passphrase":
            backup_key = {"backup_passphrase": read_secret(args.backup_passphrase_file,
                                                           "Backup passphrase: ")}  # fmt: skip
        vault_key = {"passphrase": read_secret(args.passphrase_file, "Vault passphrase: ")}
    if args.source.is_dir():
        tables = export_vault(args.source, args.out, **vault_key)
    elif args.key == "passphrase":
        sys.exit("a backup opens with the recovery key or its backup passphrase")
    else:
        with tempfile.TemporaryDirectory() as scratch:
            unpack_backup(args.source, Path(scratch) / "vault", **backup_key)
            tables = export_vault(Path(scratch) / "vault", args.out, **vault_key)
    print(f"{len(tables)} tables written to {args.out}: {', '.join(tables)}")


if __name__ == "__main__":
    main()
