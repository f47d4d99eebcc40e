"""The audit action vocabulary: one enum, extended by later features (clients, notes, backups,
calls). Values are stable strings stored in the log: never rename one, only add."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    VAULT_CREATED = "vault.created"
    UNLOCK = "vault.unlocked"
    UNLOCK_FAILED = "vault.unlock_failed"
    RECOVERY_UNLOCK = "vault.recovery_unlock"  # emergency access (HIPAA 164.312(a)(2)(ii))
    LOCK = "vault.locked"
    PASSPHRASE_CHANGED = "vault.passphrase_changed"  # noqa: S105
    REKEY = "vault.rekeyed"
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_EXPORTED = "audit.exported"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
