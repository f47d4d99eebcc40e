"""The facade the UI and the command line use: one object per unlocked vault, plus the few
operations that happen before a vault is open (create, unlock, recover).

Vault-level errors (``crypto.errors``) pass through unchanged: they already speak to the user.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from crypto.audit.chain import VerifyReport
from crypto.audit.entry import AuditEntry
from crypto.kdf import PROFILES, KdfParams, calibrate
from crypto.recovery_key import RecoveryKey
from crypto.vault import UnlockInfo, Vault, VaultOptions, vault_exists
from desktop.core.errors import PassphraseTooWeakError

MIN_PASSPHRASE_CHARS = 10


def check_new_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise PassphraseTooWeakError(
            f"use at least {MIN_PASSPHRASE_CHARS} characters for the passphrase"
        )


def kdf_for_profile(name: str) -> KdfParams:
    """``calibrated`` measures this machine (about 0.75 s); the others are fixed profiles."""
    if name == "calibrated":
        return calibrate()
    return PROFILES[name]


@dataclass(frozen=True)
class VaultStatus:
    exists: bool
    path: Path


def status(path: Path) -> VaultStatus:
    return VaultStatus(exists=vault_exists(path), path=path)


class Practice:
    """An unlocked practice vault."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: Path,
        passphrase: str,
        *,
        kdf: KdfParams | None = None,
        options: VaultOptions | None = None,
    ) -> tuple[Practice, RecoveryKey]:
        check_new_passphrase(passphrase)
        vault, recovery = Vault.create(path, passphrase, kdf=kdf, options=options)
        return cls(vault), recovery

    @classmethod
    def unlock(
        cls,
        path: Path,
        passphrase: str,
        *,
        options: VaultOptions | None = None,
        accept_audit_damage: bool = False,
    ) -> Practice:
        return cls(
            Vault.unlock(path, passphrase, options=options, accept_audit_damage=accept_audit_damage)
        )

    @classmethod
    def recover(
        cls,
        path: Path,
        recovery_key: str,
        new_passphrase: str,
        *,
        options: VaultOptions | None = None,
        accept_audit_damage: bool = False,
    ) -> Practice:
        check_new_passphrase(new_passphrase)
        key = RecoveryKey.parse(recovery_key)
        return cls(
            Vault.recover(
                path,
                key,
                new_passphrase,
                options=options,
                accept_audit_damage=accept_audit_damage,
            )
        )

    # -- the open vault ---------------------------------------------------------------------
    @property
    def unlock_info(self) -> UnlockInfo | None:
        return self._vault.unlock_info

    @property
    def is_open(self) -> bool:
        return self._vault.is_open

    def change_passphrase(self, new_passphrase: str) -> None:
        check_new_passphrase(new_passphrase)
        self._vault.change_passphrase(new_passphrase)

    def rekey(self, passphrase: str) -> RecoveryKey:
        return self._vault.rekey(passphrase)

    def verify_audit(self) -> VerifyReport:
        return self._vault.verify_audit()

    def export_audit(self, out: TextIO, fmt: Literal["csv", "jsonl"]) -> int:
        return self._vault.export_audit(out, fmt)

    def audit_entries(self) -> Iterator[AuditEntry]:
        return self._vault.audit_entries()

    def lock(self) -> None:
        self._vault.lock()
