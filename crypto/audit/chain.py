"""The keyed MAC chain over audit entries, and its verification.

``MAC_n = HMAC-SHA256(audit key of entry n's epoch, encode(entry n) || MAC_{n-1})`` with
``MAC_0`` = 32 zero bytes. A key epoch changes only through a ``vault.rekeyed`` entry, sealed with
the old key and naming the new epoch; so history re-sealed with a newer key fails (its entries claim
an epoch that was not in force at their sequence number, or carry MACs of the wrong key).
The checkpoint outside the database catches truncation and rollback of the database file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from crypto.audit.actions import AuditAction
from crypto.audit.entry import AuditEntry, Row, encode_fields
from crypto.errors import AuditIntegrityError
from crypto.header import Checkpoint

GENESIS_MAC = bytes(32)
_CHECKPOINT_LABEL = b"QRCHECKPOINT1"
_CHECKPOINT_LABEL_V2 = b"QRCHECKPOINT2"


def entry_mac(key: bytes, entry: AuditEntry, prev_mac: bytes) -> bytes:
    return hmac.digest(key, entry.encode() + prev_mac, "sha256")


def checkpoint_tag(
    key: bytes,
    vault_id: str,
    seq: int,
    epoch: int,
    mac: bytes,
    commit: int | None = None,
    slot_epoch: int | None = None,
) -> bytes:
    """Version 1 (no commit counter): ``"QRCHECKPOINT1" || vault_id || u64 seq || u32 epoch ||
    mac``. Version 2 appends ``u64 commit || u32 slot_epoch`` under ``"QRCHECKPOINT2"``."""
    if commit is None:
        message = _CHECKPOINT_LABEL + vault_id.encode("ascii") + struct.pack(">QI", seq, epoch)
        return hmac.new(key, message + mac, hashlib.sha256).digest()
    message = _CHECKPOINT_LABEL_V2 + vault_id.encode("ascii") + struct.pack(">QI", seq, epoch)
    message += mac + struct.pack(">QI", commit, slot_epoch or 0)
    return hmac.new(key, message, hashlib.sha256).digest()


def make_checkpoint(
    key: bytes,
    vault_id: str,
    seq: int,
    epoch: int,
    mac: bytes,
    commit: int | None = None,
    slot_epoch: int | None = None,
) -> Checkpoint:
    tag = checkpoint_tag(key, vault_id, seq, epoch, mac, commit, slot_epoch)
    if commit is not None and slot_epoch is None:
        slot_epoch = 0
    return Checkpoint(seq=seq, epoch=epoch, mac=mac, tag=tag, commit=commit, slot_epoch=slot_epoch)


@dataclass(frozen=True)
class ChainHead:
    seq: int
    epoch: int
    mac: bytes


@dataclass(frozen=True)
class VerifyReport:
    entries: int
    head: ChainHead
    checkpoint_seq: int
    commit: int = 0  # the sealed commit counter (0 for a vault sealed before counters existed)
    tables: int = 0  # tables whose rows were checked against their sealed sums

    @property
    def checkpoint_lag(self) -> int:
        """Entries committed after the last checkpoint write (non-zero only after a crash)."""
        return self.head.seq - self.checkpoint_seq


def walk(rows: Iterable[Row], keys: Mapping[int, bytes], start: ChainHead) -> ChainHead:
    """Check stored rows (columns of ``audit_log``, MAC last) in order after ``start``; return the
    new head. A head's ``epoch`` is the key epoch the *next* entry must carry.

    Works on raw rows rather than ``AuditEntry`` objects: verification must stay above 100,000
    entries per second.
    """
    seq, mac, expected_epoch = start.seq, start.mac, start.epoch
    # One keyed HMAC state per epoch, copied per entry: the key schedule is not redone each time.
    keyed = {epoch: hmac.new(key, digestmod=hashlib.sha256) for epoch, key in keys.items()}
    for row in rows:
        seq += 1
        if row[0] != seq:
            raise AuditIntegrityError(seq, "entry missing or out of order")
        epoch = row[8]
        if epoch != expected_epoch:
            raise AuditIntegrityError(seq, "sealed with a key that was not in force")
        state = keyed.get(epoch)
        if state is None:
            raise AuditIntegrityError(seq, "sealed with an unknown key")
        state = state.copy()
        state.update(encode_fields(seq, epoch, row[1:8]))
        state.update(mac)
        mac = state.digest()
        if not hmac.compare_digest(mac, row[9]):
            raise AuditIntegrityError(seq, "entry changed (MAC mismatch)")
        if row[3] == AuditAction.REKEY:
            expected_epoch = _next_epoch(row[7], epoch, seq)
    return ChainHead(seq=seq, epoch=expected_epoch, mac=mac)


GENESIS = ChainHead(seq=0, epoch=0, mac=GENESIS_MAC)


def verify_checkpoint(
    checkpoint: Checkpoint | None,
    key: bytes,
    vault_id: str,
    last_seq: int,
    mac_at: Mapping[int, bytes],
) -> int:
    """Check the checkpoint's own tag and that the log still holds the entry it names; return the
    checkpoint's sequence number (0 for a vault whose checkpoint has never been written)."""
    if checkpoint is None:
        if last_seq:
            raise AuditIntegrityError(1, "checkpoint missing")
        return 0
    expected = checkpoint_tag(
        key,
        vault_id,
        checkpoint.seq,
        checkpoint.epoch,
        checkpoint.mac,
        checkpoint.commit,
        checkpoint.slot_epoch,
    )
    if not hmac.compare_digest(expected, checkpoint.tag):
        raise AuditIntegrityError(checkpoint.seq, "checkpoint does not match its key")
    if checkpoint.seq > last_seq:
        raise AuditIntegrityError(
            last_seq + 1,
            f"log truncated or database rolled back: checkpoint names entry {checkpoint.seq}, "
            f"log ends at {last_seq}",
        )
    stored = mac_at.get(checkpoint.seq)
    if stored is None or not hmac.compare_digest(stored, checkpoint.mac):
        raise AuditIntegrityError(
            checkpoint.seq, "database rolled back or forked: entry differs from the checkpoint"
        )
    return checkpoint.seq


def _next_epoch(details: str, epoch: int, seq: int) -> int:
    try:
        new_epoch = json.loads(details).get("new_epoch")
    except (ValueError, AttributeError):
        new_epoch = None
    if not isinstance(new_epoch, int) or isinstance(new_epoch, bool) or new_epoch != epoch + 1:
        raise AuditIntegrityError(seq, "rekey entry names no valid next key")
    return new_epoch
