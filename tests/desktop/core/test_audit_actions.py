"""The audit view's list of known actions, offered by the audit page's filter."""

from __future__ import annotations

from crypto.audit.actions import AuditAction
from desktop.core.audit_view import ACTIONS


def test_actions_are_every_known_action_sorted() -> None:
    assert set(ACTIONS) == {a.value for a in AuditAction}
    assert list(ACTIONS) == sorted(ACTIONS)
    assert "client.opened" in ACTIONS
    assert "search.performed" in ACTIONS
