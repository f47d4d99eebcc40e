"""Domain settings kept inside the vault (never in QSettings): late-entry threshold, auto-lock
time, retention period, how the therapist signs, and where video sessions are relayed (with the
practice's credential for a hosted relay: it lives in the vault, never in QSettings).

A build can carry a default relay address (``resources/build-defaults.json``,
``{"relay_url": "https://..."}``, written by whoever builds Quietroom for a hosted service): it is
used while the practice has not entered an address of its own."""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import asdict, dataclass, fields
from urllib.parse import urlsplit

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.errors import SettingsError
from telehealth.relay_credentials import credential_id

_RANGES = {
    "late_entry_hours": (1, 24 * 30),
    "auto_lock_minutes": (1, 240),
    "retention_years": (0, 100),
}
MAX_TEXT = 200
_FLAGS = frozenset({"local_relay_network"})  # on/off settings, audited with their new value


@dataclass(frozen=True)
class PracticeSettings:
    late_entry_hours: int = 48  # a note signed later than this after its session is a late entry
    auto_lock_minutes: int = 5
    retention_years: int = 7  # minimum time a record is kept after the last service
    therapist_name: str = ""  # shown as the author of notes and in signatures
    therapist_credentials: str = ""
    # Video sessions: "" runs a relay inside the app on this machine; otherwise a hosted relay's
    # https:// address (http:// only for this machine: the browser needs a secure context).
    relay_url: str = ""
    # With relay_url empty: False (the safe default) lets only this computer reach the in-app
    # relay (http://127.0.0.1); True lets clients on this network join over https with a
    # self-signed certificate, which their browser warns about (docs/telehealth.md).
    local_relay_network: bool = False
    # The practice's credential for the hosted relay (qrc_..., issued by its operator); it lets
    # the app open rooms there. Empty for the in-app relay.
    relay_credential: str = ""

    def check(self) -> PracticeSettings:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise SettingsError(f"{name.replace('_', ' ')} must be between {low} and {high}")
        for name in ("therapist_name", "therapist_credentials"):
            value = getattr(self, name)
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise SettingsError(f"{name.replace('_', ' ')} must be at most {MAX_TEXT} chars")
        if not isinstance(self.relay_url, str) or not _relay_url_ok(self.relay_url):
            raise SettingsError(
                "relay address must be https://host[:port] (http:// only for localhost)"
            )
        if not isinstance(self.local_relay_network, bool):
            raise SettingsError("local relay network must be true or false")
        if not isinstance(self.relay_credential, str) or not (
            self.relay_credential == "" or credential_id(self.relay_credential)
        ):
            raise SettingsError(
                "relay key must be the whole key from your provider (it starts with qrc_)"
            )
        return self

    @property
    def relay_address(self) -> str:
        """The relay video sessions use: the practice's own, else the build's default, else ""
        (the relay inside the app)."""
        return self.relay_url or build_default_relay()

    def author(self, fallback: str) -> str:
        """How notes are signed: "Name, credentials", or the vault's actor when no name is set."""
        name = self.therapist_name.strip()
        if not name:
            return fallback
        credentials = self.therapist_credentials.strip()
        return f"{name}, {credentials}" if credentials else name


def _relay_url_ok(url: str) -> bool:
    if url == "":
        return True
    if len(url) > MAX_TEXT or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url)
    if parts.query or parts.fragment or parts.username or parts.password or not parts.hostname:
        return False
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1", "::1"}


def read_build_defaults(text: str) -> str:
    """The relay address in a build-defaults.json text, or "" when absent or unusable."""
    try:
        value = json.loads(text).get("relay_url", "")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) and value and _relay_url_ok(value) else ""


@functools.cache
def build_default_relay() -> str:
    """The relay address this build of Quietroom was made for, or "" (none, or unusable)."""
    try:
        text = (importlib.resources.files("resources") / "build-defaults.json").read_text("utf-8")
    except (OSError, ModuleNotFoundError):
        return ""
    return read_build_defaults(text)


def load_settings(vault: Vault) -> PracticeSettings:
    stored = dict(vault.query("SELECT key, value FROM settings"))
    known = {f.name for f in fields(PracticeSettings)}
    values = {k: json.loads(v) for k, v in stored.items() if k in known}
    try:
        return PracticeSettings(**values).check()
    except (SettingsError, TypeError):
        return PracticeSettings()  # a damaged value falls back to safe defaults


def save_settings(vault: Vault, settings: PracticeSettings) -> PracticeSettings:
    settings.check()
    before = asdict(load_settings(vault))
    after = asdict(settings)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return settings
    with vault.transaction() as tx:
        tx.executemany(
            "INSERT INTO settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(after[k])) for k in changed],
        )
        details: dict[str, str | int | bool | None] = {"changed": ",".join(changed)}
        details.update({k: after[k] for k in changed if k in _RANGES or k in _FLAGS})
        tx.audit(AuditAction.SETTINGS_CHANGED, object_type="settings", details=details)
    return settings
