"""The anchor: the newest vault state this user account has seen, kept outside the vault folder.

``<state dir>/anchors/<vault id>.json`` holds the commit counter, the audit chain head (sequence
number and MAC) and the key-slot epoch: no PHI. It is written at unlock, at lock, after a key
change and after a backup; each backup's manifest carries the same fields. A vault found behind an
anchor (a lower commit counter, or the same counter with another chain head) was rolled back.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.atomic import atomic_write, private_dir

_VAULT_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Anchor:
    vault_id: str
    commit: int
    seq: int
    mac: bytes
    slot_epoch: int

    def to_json(self) -> dict[str, Any]:
        return {
            "vault_id": self.vault_id,
            "commit": self.commit,
            "seq": self.seq,
            "mac": self.mac.hex(),
            "slot_epoch": self.slot_epoch,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Anchor | None:
        """Parse leniently: an anchor that cannot be read is treated as absent (it is a hint
        kept outside the vault, not a key)."""
        try:
            anchor = cls(
                vault_id=str(doc["vault_id"]),
                commit=int(doc["commit"]),
                seq=int(doc["seq"]),
                mac=bytes.fromhex(str(doc["mac"])),
                slot_epoch=int(doc.get("slot_epoch", 0)),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if not _VAULT_ID.fullmatch(anchor.vault_id) or len(anchor.mac) != 32:
            return None
        return anchor


def _path(state_dir: Path, vault_id: str) -> Path:
    return state_dir / "anchors" / f"{vault_id}.json"


def load(state_dir: Path, vault_id: str) -> Anchor | None:
    try:
        doc = json.loads(_path(state_dir, vault_id).read_bytes())
    except (OSError, ValueError):
        return None
    anchor = Anchor.from_json(doc)
    return anchor if anchor is not None and anchor.vault_id == vault_id else None


def save(state_dir: Path, anchor: Anchor) -> None:
    """Record ``anchor`` (never moving backwards: a lower commit than the one recorded is kept
    out, except through ``reset``)."""
    current = load(state_dir, anchor.vault_id)
    if current is not None and current.commit > anchor.commit:
        return
    reset(state_dir, anchor)


def reset(state_dir: Path, anchor: Anchor) -> None:
    """Record ``anchor`` even if it is older: the person restored an older copy on purpose."""
    with contextlib.suppress(OSError):  # a read-only state folder must not block the vault
        private_dir(_path(state_dir, anchor.vault_id).parent, levels=2)
        data = json.dumps(anchor.to_json(), sort_keys=True).encode("ascii") + b"\n"
        atomic_write(_path(state_dir, anchor.vault_id), data)


def behind(anchor: Anchor, commit: int, mac_at_anchor: bytes | None) -> bool:
    """True when a vault at ``commit`` (whose log holds ``mac_at_anchor`` at the anchor's
    sequence number, or nothing) is older than, or forked from, what the anchor saw."""
    if commit < anchor.commit:
        return True
    return mac_at_anchor != anchor.mac
