"""The client's record set as a readable PDF: who and what, sessions, diagnoses, treatment plans,
measures, then every signed note with its amendments and addenda, in the order written."""

from __future__ import annotations

from desktop.core.notes import Compartment, Note, NoteKind
from desktop.core.records.clinical_sources import Diagnosis
from desktop.core.records.formats import Formats
from desktop.core.records.insurance import Insurance, Relationship
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


def _since(dx: Diagnosis, formats: Formats) -> str:
    day = dx.onset or dx.recorded_on
    return formats.date(day) if day else ""


def _dx_status(dx: Diagnosis) -> str:
    if dx.verification == "entered-in-error":
        return "Entered in error"
    if dx.verification == "refuted":
        return "Ruled out"
    status = {"active": "Active", "remission": "In remission", "resolved": "Resolved"}.get(
        dx.clinical_status, dx.clinical_status
    )
    return status + (" (provisional)" if dx.verification == "provisional" else "")


def _insurance_text(insurance: Insurance | None) -> str:
    if insurance is None:
        return "None on file (self-pay)"
    parts = [insurance.payer_name, f"member ID {insurance.member_id}"]
    if insurance.group_number:
        parts.append(f"group {insurance.group_number}")
    if not insurance.client_is_subscriber:
        who = {Relationship.SPOUSE: " (spouse or partner)", Relationship.CHILD: " (parent)"}
        parts.append(
            f"insured through {insurance.subscriber_name}{who.get(insurance.relationship, '')}"
        )
    return ", ".join(parts)


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
            ("Insurance", _insurance_text(record.insurance)),
        ]
    )
    page.heading("Diagnoses")
    if record.diagnoses:
        page.table(
            ["ICD-10-CM", "Description", "Since", "Status"],
            [
                (
                    dx.code + (" (primary)" if dx.primary else ""),
                    dx.description + (f"\n{dx.note}" if dx.note else ""),
                    _since(dx, formats),
                    _dx_status(dx),
                )
                for dx in record.diagnoses
            ],
            [30, 88, 28, 28],
        )
    else:
        page.text("None recorded.")
    if record.treatment_plans:
        page.heading("Treatment plans")
        for plan in reversed(record.treatment_plans):  # the plan in effect first
            state = "in effect" if plan.status == "active" else "replaced by a later version"
            page.heading(f"{plan.title}, signed {formats.date(plan.created_on)} ({state})", 3)
            if plan.review_on:
                page.text(f"Review by {formats.date(plan.review_on)}", small=True)
            for problem in plan.problems:
                page.text(f"Problem: {problem}")
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
