"""The client's record set as a readable PDF: who and what, sessions, diagnoses, treatment plans,
measures, then every signed note with its amendments and addenda, in the order written."""

from __future__ import annotations

from desktop.core.notes import Compartment, Note, NoteKind
from desktop.core.records.formats import Formats
from desktop.core.records.pdf_render import Page
from desktop.core.records.record_set import RecordSet
from desktop.core.sessions import Attendance, Modality

_MODALITY = {
    Modality.IN_PERSON: "In person",
    Modality.VIDEO: "Video",
    Modality.PHONE: "Phone",
}
_ATTENDANCE = {
    Attendance.SCHEDULED: "Scheduled",
    Attendance.ATTENDED: "Attended",
    Attendance.CANCELLED: "Cancelled",
    Attendance.NO_SHOW: "Did not attend",
}
_KIND = {
    NoteKind.ORIGINAL: "",
    NoteKind.AMENDMENT: "Amendment",
    NoteKind.ADDENDUM: "Addendum",
    NoteKind.LATE_ENTRY: "Late entry",
}


def _note_heading(note: Note, formats: Formats) -> str:
    kind = _KIND[note.kind]
    name = f"{note.template_name} note" if not kind else f"{kind} to a {note.template_name} note"
    if note.compartment is Compartment.PSYCHOTHERAPY:
        name = f"Psychotherapy note: {name}"
    signed = formats.time(note.signed_at) if note.signed_at else ""
    return f"{name}, signed {signed}"


def record_pdf(
    record: RecordSet, *, recipient: str, purpose: str, formats: Formats | None = None
) -> bytes:
    formats = formats or Formats()
    d = record.client.details
    page = Page(
        title=f"Client record: {d.name}",
        footer=f"Confidential health information. Disclosed to {recipient} for {purpose}.",
        formats=formats,
    )
    page.heading(f"Client record: {d.name}", 1)
    page.text(
        f"Prepared {formats.time(record.generated_at)} by {record.therapist}, "
        f"for {recipient} ({purpose}).",
        small=True,
    )
    if not record.include_psychotherapy:
        page.text(
            "Psychotherapy notes are kept separately and are not part of this copy.", small=True
        )
    page.heading("Client")
    page.key_values(
        [
            ("Name", d.name),
            ("Preferred name", d.preferred_name),
            ("Date of birth", formats.date(d.date_of_birth) if d.date_of_birth else ""),
            ("Pronouns", d.pronouns),
            ("E-mail", d.email),
            ("Phone", d.phone),
            ("Address", d.address),
            ("Emergency contact", d.emergency_contact),
        ]
    )
    page.heading("Diagnoses")
    if record.diagnoses:
        page.table(
            ["ICD-10-CM", "Description", "Since", "Status"],
            [
                (
                    dx.code,
                    dx.description,
                    formats.date(dx.recorded_on) if dx.recorded_on else "",
                    "Active" if dx.active else "Resolved",
                )
                for dx in record.diagnoses
            ],
            [28, 90, 28, 28],
        )
    else:
        page.text("None recorded.")
    if record.treatment_plans:
        page.heading("Treatment plans")
        for plan in record.treatment_plans:
            page.heading(f"{plan.title} ({plan.status}, {formats.date(plan.created_on)})", 3)
            for goal in plan.goals:
                page.text(f"Goal: {goal}")
            for item in plan.interventions:
                page.text(f"Intervention: {item}")
    if record.measures:
        page.heading("Measures")
        page.table(
            ["Date", "Measure", "Score"],
            [(formats.time(m.taken_at), m.instrument, str(m.score)) for m in record.measures],
            [50, 80, 30],
            right_align=[2],
        )
    page.heading("Sessions")
    if record.sessions:
        page.table(
            ["Date and time", "Length", "How", "Attendance", "Service"],
            [
                (
                    formats.time(s.starts_at),
                    f"{s.duration_minutes} min",
                    _MODALITY[s.modality],
                    _ATTENDANCE[s.attendance],
                    record.service_codes.get(s.id, ""),
                )
                for s in record.sessions
            ],
            [48, 22, 30, 34, 24],
        )
    else:
        page.text("None.")
    page.heading("Notes")
    if not record.notes:
        page.text("No signed notes.")
    for note in record.notes:
        page.heading(_note_heading(note, formats), 3)
        page.text(f"Author: {note.author}" + (" — written late" if note.late else ""), small=True)
        if note.reason:
            page.text(f"Reason: {note.reason}", small=True)
        for section in note.sections:
            if section.text.strip():
                page.text(section.title, small=True)
                page.text(section.text)
        page.space(2)
    return page.render()
