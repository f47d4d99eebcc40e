"""Makes a small vault with whatever Quietroom version is on PYTHONPATH (the vectors here were
made by the version before row integrity, "pre-integrity", and by the first row-integrity version,
"seal-v1"; passphrase "legacy passphrase", test-only KDF). Usage:

    PYTHONPATH=<checkout of that version> python make_legacy.py <output folder>
"""

from __future__ import annotations

import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

os.environ["QUIETROOM_ALLOW_TEST_KDF"] = "1"

import crypto.vault as v
from crypto.kdf import TEST_ONLY
from crypto.migrations import Migration, statements


def clock() -> datetime:
    return datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def main() -> None:
    out = Path(sys.argv[1])
    shutil.rmtree(out, ignore_errors=True)
    state = out.parent / (out.name + "-state")
    opts = v.VaultOptions(actor="user:legacy", clock=clock, state_dir=state)
    vault, recovery = v.Vault.create(out, "legacy passphrase", kdf=TEST_ONLY, options=opts)
    notes = "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)"
    vault.migrate("notes", (Migration(1, "notes", statements(notes)),))
    with vault.transaction() as tx:
        for i in range(5):
            tx.execute("INSERT INTO notes(id, body) VALUES (?, ?)", (i, f"legacy note {i}"))
        tx.audit("note.created", object_type="note", object_id="0")
    vault.lock()
    (out / "vault.lock").unlink(missing_ok=True)
    print(recovery.formatted())


if __name__ == "__main__":
    main()
