"""Writes row-integrity.json: fixed inputs and the row MACs, table sum, seal and checkpoint tag
they give (docs/vault-format.md). Run once; the vectors are then fixed, and
tests/crypto/test_vault_vectors.py checks both crypto and an independent re-implementation against
them.

    .venv/bin/python tests/vectors/vault/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path

from crypto import integrity
from crypto import keys as keyring
from crypto.audit.chain import ChainHead, checkpoint_tag

MASTER = bytes(range(32))
VAULT_ID = "0123456789abcdef0123456789abcdef"
ROWS = [
    ("notes", 1, [1, "c1", "first note", None]),
    ("notes", 2, [2, "c2", "Zoë's note ✓", 3.5]),
    ("notes", 7, [7, "c1", "", b"\x00\xff"]),
    ("tags", None, [1, "intake"]),
]
HEAD = ChainHead(seq=15, epoch=0, mac=bytes([0xAB]) * 32)


def main() -> None:
    rows_key = keyring.subkey(MASTER, keyring.LABEL_ROWS, VAULT_ID)
    macs = [integrity.row_mac(rows_key, t, r, v) for t, r, v in ROWS]
    sums: dict[str, bytes] = {}
    for (table, _r, _v), mac in zip(ROWS, macs, strict=True):
        sums[table] = integrity.add(sums.get(table, integrity.ZERO), mac)
    seal = integrity.seal_of(rows_key, VAULT_ID, 42, 3, HEAD, sums.items())
    seal_v2 = integrity.seal_of(rows_key, VAULT_ID, 42, 3, HEAD, sums.items(), (40, 37))
    audit_key = keyring.subkey(MASTER, keyring.LABEL_AUDIT, VAULT_ID)
    tag = checkpoint_tag(audit_key, VAULT_ID, HEAD.seq, HEAD.epoch, HEAD.mac, 42, 3)

    def plain(value: object) -> object:
        return {"blob": value.hex()} if isinstance(value, bytes) else value

    doc = {
        "master_key": MASTER.hex(),
        "vault_id": VAULT_ID,
        "row_key": rows_key.hex(),
        "audit_key": audit_key.hex(),
        "rows": [
            {"table": t, "rowid": r, "values": [plain(v) for v in vals], "row_mac": m.hex()}
            for (t, r, vals), m in zip(ROWS, macs, strict=True)
        ],
        "sums": {t: a.hex() for t, a in sums.items()},
        "seal_input": {
            "commit": 42,
            "slot_epoch": 3,
            "seq": HEAD.seq,
            "epoch": HEAD.epoch,
            "mac": HEAD.mac.hex(),
        },
        "seal": seal.hex(),
        "seal_v2_checkpointed": [40, 37],
        "seal_v2": seal_v2.hex(),
        "checkpoint_v2_tag": tag.hex(),
    }
    out = Path(__file__).with_name("row-integrity.json")
    out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
