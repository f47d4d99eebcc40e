"""Fixed vectors for the row-integrity format (tests/vectors/vault/row-integrity.json), checked
against crypto and against a second implementation written from docs/vault-format.md alone."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto import integrity
from crypto import keys as keyring
from crypto.audit.chain import ChainHead, checkpoint_tag
from crypto.database import open_database
from crypto.vault import Vault, VaultOptions

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "vault" / "row-integrity.json").read_text("utf-8")
)


def _value(value: Any) -> Any:
    return bytes.fromhex(value["blob"]) if isinstance(value, dict) else value


# ---- the independent reader: only docs/vault-format.md ------------------------------------
def doc_subkey(master: bytes, label: str, vault_id: str) -> bytes:
    info = label.encode("ascii") + b"|" + vault_id.encode("ascii")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def doc_value(v: Any) -> bytes:
    if v is None:
        return b"\x00"
    if isinstance(v, int):
        return b"\x01" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"\x02" + struct.pack(">d", v)
    if isinstance(v, str):
        raw = v.encode("utf-8")
        return b"\x03" + struct.pack(">I", len(raw)) + raw
    return b"\x04" + struct.pack(">I", len(v)) + v


def doc_row_mac(key: bytes, table: str, rowid: int | None, values: list[Any]) -> bytes:
    name = table.encode("utf-8")
    data = b"QRROW1" + struct.pack(">I", len(name)) + name + doc_value(rowid)
    data += struct.pack(">I", len(values)) + b"".join(doc_value(v) for v in values)
    return hmac.new(key, data, hashlib.sha256).digest()


def doc_seal(
    key: bytes,
    vault_id: str,
    s: dict[str, Any],
    sums: dict[str, bytes],
    checkpointed: list[int] | None = None,
) -> bytes:
    if checkpointed is None:
        data = b"QRSEAL1" + vault_id.encode("ascii")
        data += struct.pack(">QIQI", s["commit"], s["slot_epoch"], s["seq"], s["epoch"])
    else:
        data = b"QRSEAL2" + vault_id.encode("ascii")
        data += struct.pack(">QQQI", s["commit"], *checkpointed, s["slot_epoch"])
        data += struct.pack(">QI", s["seq"], s["epoch"])
    data += bytes.fromhex(s["mac"]) + struct.pack(">I", len(sums))
    for name in sorted(sums, key=lambda n: n.encode("utf-8")):
        raw = name.encode("utf-8")
        data += struct.pack(">I", len(raw)) + raw + sums[name]
    return hmac.new(key, data, hashlib.sha256).digest()


# ---- the checks -----------------------------------------------------------------------------
def test_keys_row_macs_sums_seal_and_checkpoint_match_the_vectors() -> None:
    master, vault_id = bytes.fromhex(VECTORS["master_key"]), VECTORS["vault_id"]
    rows_key = doc_subkey(master, "quietroom/v1/row-integrity-key", vault_id)
    assert rows_key.hex() == VECTORS["row_key"]
    assert keyring.subkey(master, keyring.LABEL_ROWS, vault_id) == rows_key
    sums: dict[str, int] = {}
    for row in VECTORS["rows"]:
        values = [_value(v) for v in row["values"]]
        mac = doc_row_mac(rows_key, row["table"], row["rowid"], values)
        assert mac.hex() == row["row_mac"]
        assert integrity.row_mac(rows_key, row["table"], row["rowid"], values) == mac
        sums[row["table"]] = (sums.get(row["table"], 0) + int.from_bytes(mac, "big")) % 2**256
    as_bytes = {t: v.to_bytes(32, "big") for t, v in sums.items()}
    assert {t: a.hex() for t, a in as_bytes.items()} == VECTORS["sums"]
    s = VECTORS["seal_input"]
    assert doc_seal(rows_key, vault_id, s, as_bytes).hex() == VECTORS["seal"]
    pair = VECTORS["seal_v2_checkpointed"]
    assert doc_seal(rows_key, vault_id, s, as_bytes, pair).hex() == VECTORS["seal_v2"]
    head = ChainHead(s["seq"], s["epoch"], bytes.fromhex(s["mac"]))
    seal = integrity.seal_of(
        rows_key, vault_id, s["commit"], s["slot_epoch"], head, as_bytes.items()
    )
    assert seal.hex() == VECTORS["seal"]
    seal_v2 = integrity.seal_of(
        rows_key, vault_id, s["commit"], s["slot_epoch"], head, as_bytes.items(), tuple(pair)
    )
    assert seal_v2.hex() == VECTORS["seal_v2"]
    audit_key = doc_subkey(master, "quietroom/v1/audit-mac-key", vault_id)
    message = b"QRCHECKPOINT2" + vault_id.encode() + struct.pack(">QI", s["seq"], s["epoch"])
    message += bytes.fromhex(s["mac"]) + struct.pack(">QI", s["commit"], s["slot_epoch"])
    tag = hmac.new(audit_key, message, hashlib.sha256).hexdigest()
    assert tag == VECTORS["checkpoint_v2_tag"]
    assert checkpoint_tag(audit_key, vault_id, s["seq"], s["epoch"], head.mac, 42, 3).hex() == tag


def test_the_triggers_keep_the_same_sums_as_the_vectors(tmp_path: Path) -> None:
    """Rows written through the generated triggers add up to the vector's sums (and deleting
    them brings a sum back to zero)."""
    conn = open_database(tmp_path / "v.db", bytes(32))
    rows_key = bytes.fromhex(VECTORS["row_key"])
    integrity.register(conn, rows_key)
    conn.execute("BEGIN")
    integrity.MIGRATION.apply(conn)
    conn.execute("CREATE TABLE notes(id INTEGER PRIMARY KEY, client TEXT, body TEXT, extra)")
    conn.execute("CREATE TABLE tags(note INTEGER, tag TEXT, PRIMARY KEY (note, tag)) WITHOUT ROWID")
    integrity.refresh(conn, rows_key)
    for row in VECTORS["rows"]:
        values = [_value(v) for v in row["values"]]
        marks = ", ".join("?" * len(values))
        conn.execute(f"INSERT INTO {row['table']} VALUES ({marks})", values)
    stored = {t: a.hex() for t, a in integrity.stored_sums(conn)}
    assert stored == VECTORS["sums"]
    conn.execute("UPDATE notes SET body = 'changed' WHERE id = 2")
    conn.execute("DELETE FROM notes")
    conn.execute("DELETE FROM tags")
    assert dict(integrity.stored_sums(conn)) == {"notes": bytes(32), "tags": bytes(32)}
    conn.execute("COMMIT")
    conn.close()


LEGACY = Path(__file__).parents[1] / "vectors" / "vault" / "legacy"


@pytest.mark.parametrize("name", ["pre-integrity", "seal-v1"])
def test_vaults_written_by_earlier_versions_open_and_are_upgraded(
    tmp_path: Path, name: str
) -> None:
    """Vaults made by earlier Quietroom (legacy/make_legacy.py, run with that version: before row
    integrity existed, and with the first seal format) unlock, gain the current seal, verify, and
    open again."""
    folder = tmp_path / name
    shutil.copytree(LEGACY / name, folder)
    options = VaultOptions(actor="user:test", state_dir=tmp_path / "state")
    vault = Vault.unlock(folder, "legacy passphrase", options=options)
    assert vault.query("SELECT count(*) FROM notes") == [(5,)]
    report = vault.verify_audit()
    assert report.commit == vault.commit_count - 1 and report.commit > 0 and report.tables >= 1
    checkpoint = vault.header.checkpoint
    assert checkpoint is not None and checkpoint.commit is not None
    vault.lock()
    vault = Vault.unlock(folder, "legacy passphrase", options=options)
    vault.verify_audit()
    vault.lock()
