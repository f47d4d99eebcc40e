"""Therapists' relay credentials: issued by the relay's operator, stored only as hashes.

A credential is ``qrc_<id>_<secret>``: a 10-character id (which names the credential in lists and
logs) and 32 random bytes in base64url. The therapist's app sends it as
``Authorization: Bearer <credential>`` when it opens a room; browsers (clients) never hold one.
The file keeps, per credential, its id, the operator's label, the SHA-256 of the whole credential,
its room quota and whether it was revoked. 256 random bits need no slow hash: nobody can guess a
credential from its SHA-256.

The relay re-reads the file when it changes, so ``credentials revoke`` takes effect at once (for
new rooms; rooms already open run to their end). Writes are atomic (a new file renamed over the
old), mode 0600.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Final

from telehealth.errors import RelayConfigError

PREFIX: Final = "qrc_"
ID_CHARS: Final = 10
SECRET_BYTES: Final = 32
CREDENTIAL_PATTERN: Final = re.compile(rf"qrc_([a-z0-9]{{{ID_CHARS}}})_([A-Za-z0-9_-]{{43}})")
MAX_FILE_BYTES: Final = 4 * 1024 * 1024
MAX_LABEL: Final = 100
_ID_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class Credential:
    """One issued credential as the file keeps it (never the credential itself)."""

    id: str
    label: str
    sha256: str
    max_rooms: int
    issued_at: int
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def credential_id(token: str) -> str | None:
    """The id part of a well-formed credential, else ``None``."""
    match = CREDENTIAL_PATTERN.fullmatch(token)
    return match.group(1) if match else None


def bearer_token(header: str | None) -> str | None:
    """The credential in an ``Authorization: Bearer ...`` header, if it is well formed."""
    if not header or not header.startswith("Bearer "):
        return None
    token = header[len("Bearer ") :].strip()
    return token if credential_id(token) else None


class CredentialStore:
    """The credentials file. ``verify`` re-reads it when it changed on disk."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._stamp: tuple[int, int] | None = None
        self._by_id: dict[str, Credential] = {}

    # -- reading ---------------------------------------------------------------------------

    def _load(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._by_id = None, {}
            return
        except OSError as exc:
            raise RelayConfigError(f"cannot read the credentials file {self.path}") from exc
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        if stat.st_size > MAX_FILE_BYTES:
            raise RelayConfigError(f"the credentials file {self.path} is too large")
        try:
            doc = json.loads(self.path.read_bytes())
            items = doc["credentials"] if doc.get("version") == 1 else None
            if not isinstance(items, list):
                raise ValueError("no credentials list")
            by_id = {}
            for item in items:
                cred = Credential(**item)
                if not re.fullmatch(r"[0-9a-f]{64}", cred.sha256) or cred.max_rooms < 1:
                    raise ValueError("bad entry")
                by_id[cred.id] = cred
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RelayConfigError(
                f"the credentials file {self.path} is damaged; restore it from a backup"
            ) from exc
        self._stamp, self._by_id = stamp, by_id

    def check(self) -> None:
        """Raise :class:`RelayConfigError` now if the file cannot be used (for start-up)."""
        self._load()

    def verify(self, token: str | None) -> Credential | None:
        """The active credential ``token`` is, or ``None`` (unknown, revoked, malformed)."""
        if token is None:
            return None
        cred_id = credential_id(token)
        if cred_id is None:
            return None
        # Keep the last good copy: a half-edited file must not lock everyone out.
        with contextlib.suppress(RelayConfigError):
            self._load()
        cred = self._by_id.get(cred_id)
        if cred is None or not cred.active:
            return None
        return cred if hmac.compare_digest(_digest(token), cred.sha256) else None

    def all(self) -> list[Credential]:
        self._load()
        return sorted(self._by_id.values(), key=lambda c: (c.issued_at, c.id))

    # -- writing (the operator's admin command) ----------------------------------------------

    def _write(self, creds: list[Credential]) -> None:
        doc = {"version": 1, "credentials": [asdict(c) for c in creds]}
        data = json.dumps(doc, indent=1).encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".credentials-", dir=self.path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._stamp = None

    def issue(self, label: str, max_rooms: int) -> tuple[Credential, str]:
        """A new credential: its record and the credential itself (shown once, never stored)."""
        label = " ".join(label.split())
        if not 1 <= len(label) <= MAX_LABEL or not label.isprintable():
            raise RelayConfigError(f"the label must be 1 to {MAX_LABEL} printable characters")
        if max_rooms < 1:
            raise RelayConfigError("max rooms must be at least 1")
        existing = self.all()
        ids = {c.id for c in existing}
        cred_id = ""
        while not cred_id or cred_id in ids:
            cred_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(ID_CHARS))
        secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=")
        token = f"{PREFIX}{cred_id}_{secret.decode('ascii')}"
        cred = Credential(
            id=cred_id,
            label=label,
            sha256=_digest(token),
            max_rooms=max_rooms,
            issued_at=int(self._clock()),
        )
        self._write([*existing, cred])
        return cred, token

    def revoke(self, cred_id: str) -> Credential:
        creds = self.all()
        for index, cred in enumerate(creds):
            if cred.id == cred_id:
                if cred.active:
                    creds[index] = replace(cred, revoked_at=int(self._clock()))
                    self._write(creds)
                return creds[index]
        raise RelayConfigError(f"no credential with the id {cred_id!r}")


class SingleCredential:
    """A store holding one credential made in memory: the in-app relay's own."""

    def __init__(self, max_rooms: int = 50) -> None:
        secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=")
        self.token = f"{PREFIX}{'0' * ID_CHARS}_{secret.decode('ascii')}"
        self._cred = Credential(
            id="0" * ID_CHARS,
            label="this computer",
            sha256=_digest(self.token),
            max_rooms=max_rooms,
            issued_at=int(time.time()),
        )

    def check(self) -> None:
        return None

    def verify(self, token: str | None) -> Credential | None:
        if token is None or not hmac.compare_digest(_digest(token), self._cred.sha256):
            return None
        return self._cred
