"""Failed unlock attempts, counted outside the encrypted database and outside the vault folder.

Nothing here is PHI: a time and a method per failure. Keeping the count outside the vault folder
means a wrong passphrase leaves every vault file byte-identical. The count is shown and audited at
the next successful unlock, then cleared. Repeated failures meet a growing delay; this slows
guessing through the app (an attacker with a copy of the files is slowed by Argon2id instead).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from crypto.atomic import atomic_write, private_dir

FREE_ATTEMPTS = 3
MAX_DELAY_S = 300.0
MAX_RECORDED = 100


@dataclass(frozen=True)
class FailedAttempt:
    at: str
    method: str


def delay_after(failures: int) -> float:
    """Seconds to wait before the next attempt: none for the first three failures, then 1, 2, 4...
    seconds, capped at five minutes."""
    if failures < FREE_ATTEMPTS:
        return 0.0
    return float(min(MAX_DELAY_S, 2.0 ** (failures - FREE_ATTEMPTS)))


class AttemptStore:
    def __init__(self, state_dir: Path, vault_dir: Path) -> None:
        digest = hashlib.sha256(str(vault_dir.resolve()).encode("utf-8")).hexdigest()[:32]
        self.path = state_dir / "unlock-attempts" / f"{digest}.json"

    def load(self) -> list[FailedAttempt]:
        try:
            doc = json.loads(self.path.read_text("utf-8"))
            return [FailedAttempt(at=str(f["at"]), method=str(f["method"])) for f in doc][
                -MAX_RECORDED:
            ]
        except FileNotFoundError:
            return []
        except (ValueError, TypeError, KeyError):
            # A damaged counter must not lock the therapist out; count it as one failure.
            return [FailedAttempt(at="unknown", method="unknown")]

    def retry_after(self, now: datetime) -> float:
        failures = self.load()
        wait = delay_after(len(failures))
        if not wait:
            return 0.0
        try:
            last = datetime.fromisoformat(failures[-1].at.replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        remaining = (last + timedelta(seconds=wait) - now).total_seconds()
        return max(0.0, remaining)

    def record(self, at: str, method: str) -> None:
        failures = [*self.load(), FailedAttempt(at=at, method=method)][-MAX_RECORDED:]
        private_dir(self.path.parent, levels=2)
        doc = [{"at": f.at, "method": f.method} for f in failures]
        atomic_write(self.path, json.dumps(doc).encode("utf-8"))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
