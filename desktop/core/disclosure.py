"""Print and export: the domain builds a plain document (headings and text) that the UI renders
with Qt's PDF writer. Each is a disclosure, audited with its recipient and purpose. Psychotherapy
notes are left out unless the therapist includes them for this one act."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clients import load_client
from desktop.core.errors import CompartmentError, InvalidFieldError
from desktop.core.notes import Compartment, Note, NoteStatus, read_note, summaries
from desktop.core.sessions import sessions_of

MAX_DISCLOSURE_TEXT = 100


class DisclosureKind(StrEnum):
    PRINT = "print"
    EXPORT = "export"


@dataclass(frozen=True)
class DocumentSection:
    heading: str
    text: str


@dataclass(frozen=True)
class Document:
    title: str
    sections: tuple[DocumentSection, ...]
    footer: str


def _check(text: str, what: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_DISCLOSURE_TEXT:
        raise InvalidFieldError(f"give the {what} (1-{MAX_DISCLOSURE_TEXT} characters)")
    return text


def _note_sections(note: Note) -> list[DocumentSection]:
    label = note.kind.value.replace("_", " ")
    state = (
        f"signed by {note.author} at {note.signed_at:%Y-%m-%d %H:%M} UTC, "
        f"signature {note.signature} ({note.signature_check.value})"
        if note.status is NoteStatus.SIGNED and note.signed_at is not None
        else "draft, not signed"
    )
    flags = " — late entry" if note.late else ""
    out = [DocumentSection(f"{note.template_name} {label}{flags}", f"{state}")]
    if note.reason:
        out.append(DocumentSection("Reason", note.reason))
    out += [DocumentSection(s.title, s.text) for s in note.sections]
    return out


def note_document(
    vault: Vault,
    note_id: str,
    kind: DisclosureKind,
    *,
    recipient: str,
    purpose: str,
    include_psychotherapy: bool = False,
) -> Document:
    recipient, purpose = _check(recipient, "recipient"), _check(purpose, "purpose")
    note = read_note(vault, note_id)
    if note.compartment is Compartment.PSYCHOTHERAPY and not include_psychotherapy:
        raise CompartmentError("psychotherapy notes are left out unless included for this act")
    client = load_client(vault, note.client_id)
    vault.audit(
        AuditAction.NOTE_PRINTED if kind is DisclosureKind.PRINT else AuditAction.NOTE_EXPORTED,
        object_type="note",
        object_id=note.id,
        details={
            "client_id": note.client_id,
            "recipient": recipient,
            "purpose": purpose,
            "include_psychotherapy": include_psychotherapy,
        },
    )
    return Document(
        title=f"{client.details.name} — {note.created_at:%Y-%m-%d}",
        sections=tuple(_note_sections(note)),
        footer=f"Disclosed to {recipient} for {purpose}. Confidential health information.",
    )


def client_document(
    vault: Vault,
    client_id: str,
    kind: DisclosureKind,
    *,
    recipient: str,
    purpose: str,
    include_psychotherapy: bool = False,
) -> Document:
    """The client's record: details, sessions and signed progress notes (drafts are left out)."""
    recipient, purpose = _check(recipient, "recipient"), _check(purpose, "purpose")
    client = load_client(vault, client_id)
    d = client.details
    details = "\n".join(
        f"{label}: {value}"
        for label, value in (
            ("Preferred name", d.preferred_name),
            ("Date of birth", d.date_of_birth.isoformat() if d.date_of_birth else ""),
            ("Pronouns", d.pronouns),
            ("E-mail", d.email),
            ("Phone", d.phone),
            ("Address", d.address),
            ("Emergency contact", d.emergency_contact),
            ("Diagnosis codes", d.diagnosis_codes),
            ("Status", d.status.value),
        )
        if value
    )
    sections = [DocumentSection("Client", details)]
    session_lines = "\n".join(
        f"{s.starts_at:%Y-%m-%d %H:%M} UTC, {s.duration_minutes} min, {s.modality.value}, "
        f"{s.attendance.value}"
        for s in reversed(sessions_of(vault, client_id))
    )
    sections.append(DocumentSection("Sessions", session_lines))
    compartments = [Compartment.PROGRESS] + (
        [Compartment.PSYCHOTHERAPY] if include_psychotherapy else []
    )
    count = 0
    for compartment in compartments:
        for summary in reversed(summaries(vault, client_id, compartment)):
            if summary.status is NoteStatus.SIGNED:
                sections += _note_sections(read_note(vault, summary.id))
                count += 1
    vault.audit(
        AuditAction.CLIENT_PRINTED if kind is DisclosureKind.PRINT else AuditAction.CLIENT_EXPORTED,
        object_type="client",
        object_id=client_id,
        details={
            "notes": count,
            "recipient": recipient,
            "purpose": purpose,
            "include_psychotherapy": include_psychotherapy,
        },
    )
    return Document(
        title=f"Client record — {d.name}",
        sections=tuple(sections),
        footer=f"Disclosed to {recipient} for {purpose}. Confidential health information.",
    )
