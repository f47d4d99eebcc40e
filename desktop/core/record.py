"""The client's page: details, sessions and the progress-note timeline, read in one audited call.
Psychotherapy notes are not part of it; only their count is (they are listed apart)."""

from __future__ import annotations

from dataclasses import dataclass

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clients import Client, load_client
from desktop.core.notes import Compartment, NoteSummary, summaries
from desktop.core.sessions import Session, sessions_of


@dataclass(frozen=True)
class ClientRecord:
    client: Client
    sessions: tuple[Session, ...]  # newest first
    notes: tuple[NoteSummary, ...]  # progress notes and their linked entries, newest first
    psychotherapy_note_count: int


def open_client(vault: Vault, client_id: str) -> ClientRecord:
    client = load_client(vault, client_id)
    sessions = sessions_of(vault, client_id)
    notes = summaries(vault, client_id, Compartment.PROGRESS)
    (count,) = vault.query(
        "SELECT count(*) FROM notes WHERE client_id = ? AND compartment = 'psychotherapy'",
        (client_id,),
    )[0]
    vault.audit(
        AuditAction.CLIENT_OPENED,
        object_type="client",
        object_id=client_id,
        details={"sessions": len(sessions), "notes": len(notes)},
    )
    return ClientRecord(client, sessions, notes, int(count))
