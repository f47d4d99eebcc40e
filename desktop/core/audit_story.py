"""The audit log read as sentences a person can scan: "You opened Jordan A.'s progress note of
7 December". The raw fields (action, actor, ids, details) stay in the log and in its export; the
audit page shows them only behind "Technical details".

``sentence`` is pure: the caller passes the client names it already holds, what each note or
appointment an entry names is about (``Subject``, resolved by ``audit_view`` in the same read),
and a function that writes a date the way the therapist's locale does (the UI's QLocale), so no
date format is decided here.

An action with no sentence of its own (for example one a later feature adds) reads as its name in
words ("Measure scored"), never as the raw ``measure.scored``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from desktop.core.stamps import from_iso

DateText = Callable[[datetime], str]


@dataclass(frozen=True)
class Subject:
    """What a note or an appointment named by an entry is, read with the entry."""

    client_id: str
    label: str  # "progress note", "psychotherapy note", "amendment", "appointment", ...
    when: datetime | None  # the session's start (or, for a note without one, when written)


class Entry(Protocol):
    """The fields of an audit entry a sentence is made from (``audit_view.AuditRecord``)."""

    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def object_type(self) -> str: ...
    @property
    def object_id(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def details(self) -> Mapping[str, object]: ...
    @property
    def subject(self) -> Subject | None: ...
    @property
    def parent(self) -> Subject | None: ...


def short_name(name: str) -> str:
    """ "Jordan Avery" -> "Jordan A."; a single word stays as it is."""
    words = name.split()
    if len(words) < 2:
        return name.strip()
    return f"{words[0]} {words[-1][0]}."


FIELD_WORDS = {
    "name": "name",
    "preferred_name": "preferred name",
    "date_of_birth": "date of birth",
    "pronouns": "pronouns",
    "email": "e-mail",
    "phone": "phone",
    "address": "address",
    "emergency_contact": "emergency contact",
    "diagnosis_codes": "diagnosis codes",
    "status": "status",
    "starts_at": "time",
    "duration_minutes": "length",
    "modality": "how it is held",
    "attendance": "attendance",
    "therapist_name": "your name",
    "therapist_credentials": "your credentials",
    "late_entry_hours": "late entries",
    "auto_lock_minutes": "auto-lock",
    "retention_years": "how long records are kept",
}


def _words(name: str) -> str:
    return FIELD_WORDS.get(name, name.replace("_", " "))


def _fields(details: Mapping[str, object], key: str) -> str:
    value = details.get(key)
    if not isinstance(value, str) or not value:
        return ""
    return ", ".join(_words(n) for n in value.split(",") if n)


def humanise(action: str) -> str:
    """ "measure.scored" -> "Measure scored"."""
    text = action.replace(".", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


class _Story:
    def __init__(self, entry: Entry, names: Mapping[str, str], date_text: DateText) -> None:
        self.e = entry
        self.names = names
        self.date_text = date_text

    @property
    def who(self) -> str:
        return "You" if self.e.actor.startswith("user") else "Quietroom"

    @property
    def failed(self) -> bool:
        return self.e.outcome != "success"

    def client_id(self) -> str | None:
        if self.e.object_type == "client" and self.e.object_id:
            return self.e.object_id
        value = self.e.details.get("client_id")
        if isinstance(value, str):
            return value
        subject = self.subject()
        return subject.client_id if subject else None

    def client(self) -> str:
        """ "Jordan A." or "a client" (destroyed, or not among the names)."""
        client_id = self.client_id()
        name = self.names.get(client_id or "")
        return short_name(name) if name else "a client"

    def whose(self) -> str:
        name = self.client()
        return "a client's" if name == "a client" else f"{name}'s"

    def subject(self) -> Subject | None:
        return self.e.subject

    def thing(self, fallback: str) -> str:
        """ "Jordan A.'s progress note of 7 December"."""
        subject = self.subject()
        label = subject.label if subject else fallback
        text = f"{self.whose()} {label}"
        if subject is not None and subject.when is not None:
            text += f" of {self.date_text(subject.when)}"
        return text

    def number(self, key: str) -> int | None:
        value = self.e.details.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def disclosure(self) -> str:
        recipient = str(self.e.details.get("recipient") or "").strip()
        purpose = str(self.e.details.get("purpose") or "").strip()
        text = f" for {recipient}" if recipient else ""
        if purpose:
            text += f" ({purpose})"
        if self.e.details.get("include_psychotherapy") is True:
            text += ", psychotherapy notes included"
        return text

    def tell(self) -> str:
        a, who, d = self.e.action, self.who, self.e.details
        if a == "vault.created":
            return f"{who} set up Quietroom"
        if a == "vault.unlocked":
            failed = self.number("failed_attempts") or 0
            after = f" after {failed} failed attempt{'s' if failed != 1 else ''}" if failed else ""
            return f"{who} unlocked Quietroom{after}"
        if a == "vault.unlock_failed":
            at = d.get("attempted_at")
            when = ""
            if isinstance(at, str):
                try:
                    when = f" ({self.date_text(from_iso(at))})"
                except ValueError:
                    when = ""
            return f"Someone tried to unlock Quietroom with a wrong passphrase or key{when}"
        if a == "vault.recovery_unlock":
            return f"{who} opened Quietroom with the recovery key (emergency access)"
        if a == "vault.locked":
            return "Quietroom was locked"
        if a == "vault.passphrase_changed":
            if self.failed:
                return "A passphrase change was refused: the current passphrase was not right"
            return f"{who} changed the passphrase"
        if a == "vault.rekeyed":
            return f"{who} renewed the encryption key and got a new recovery key"
        if a == "vault.rekey_interrupted":
            if self.failed:
                return (
                    "A renewal of the encryption key was interrupted before it took effect: "
                    "the earlier recovery key still works"
                )
            return (
                "A renewal of the encryption key was interrupted after it took effect: "
                "the new recovery key is the one that works"
            )
        if a == "vault.rollback_accepted":
            return f"{who} chose to go on with an older copy of the records"
        if a == "audit.verified":
            if self.failed:
                at = self.number("first_bad_seq")
                where = f" at entry {at}" if at else ""
                return f"The check of the audit log found a problem{where}"
            count = self.number("entries")
            return f"{who} checked the audit log" + (
                f": all {count:,} entries intact" if count is not None else ""
            )
        if a == "audit.exported":
            count = self.number("entries")
            return f"{who} exported the audit log" + (f" ({count:,} entries)" if count else "")
        if a == "audit.viewed":
            if self.e.object_type == "client" and self.e.object_id:
                return f"{who} viewed the audit log of {self.client()}"
            return f"{who} viewed the audit log"
        if a == "backup.created":
            return "A backup could not be made" if self.failed else f"{who} made a backup"
        if a == "backup.verified":
            return "A backup failed its check" if self.failed else f"{who} checked a backup: intact"
        if a == "backup.restored":
            return "A restore from a backup failed" if self.failed else f"{who} restored a backup"
        if a == "client.listed":
            return f"{who} viewed the client list"
        if a == "client.opened":
            return f"{who} opened {self.whose()} record"
        if a == "client.created":
            return f"{who} added {self.client()} as a client"
        if a == "client.updated":
            changed = _fields(d, "fields")
            return f"{who} changed {self.whose()} details" + (f" ({changed})" if changed else "")
        if a == "client.archived":
            return f"{who} archived {self.client()}"
        if a == "client.restored":
            return f"{who} brought {self.client()} back from the archive"
        if a == "client.destroyed":
            return f"{who} destroyed a client's record (the audit entries are kept)"
        if a in ("client.printed", "client.exported"):
            verb = "printed" if a == "client.printed" else "exported"
            return f"{who} {verb} {self.whose()} record{self.disclosure()}"
        if a == "session.created":
            return f"{who} scheduled {self.thing('appointment')}"
        if a == "session.updated":
            changed = _fields(d, "fields")
            return f"{who} changed {self.thing('appointment')}" + (
                f" ({changed})" if changed else ""
            )
        if a == "session.listed":
            return f"{who} viewed the schedule"
        if a == "note.created":
            return f"{who} started {self.thing('note')}"
        if a == "note.opened":
            return f"{who} opened {self.thing('progress note')}"
        if a == "note.edited":
            return f"{who} wrote in {self.thing('draft note')}"
        if a == "note.draft_discarded":
            return f"{who} discarded a draft note of {self.client()}"
        if a == "note.signed":
            late = " (a late entry)" if d.get("late") is True else ""
            return f"{who} signed {self.thing('note')}{late}"
        if a in ("note.amended", "note.addendum_added", "note.late_entry_added"):
            kind = {"note.amended": "an amendment", "note.addendum_added": "an addendum",
                    "note.late_entry_added": "a late entry"}[a]  # fmt: skip
            parent = self.e.parent
            about = f"{self.whose()} {parent.label}" if parent else f"{self.whose()} note"
            if parent is not None and parent.when is not None:
                about += f" of {self.date_text(parent.when)}"
            return f"{who} started {kind} to {about}"
        if a == "note.history_viewed":
            return f"{who} viewed the history of {self.thing('note')}"
        if a == "note.signature_mismatch":
            return (
                f"{self.thing('note')[:1].upper()}{self.thing('note')[1:]} no longer matches "
                "its signature"
            )
        if a in ("note.printed", "note.exported"):
            verb = "printed" if a == "note.printed" else "exported"
            return f"{who} {verb} {self.thing('note')}{self.disclosure()}"
        if a == "psychotherapy_note.listed":
            return f"{who} listed {self.whose()} psychotherapy notes"
        if a == "psychotherapy_note.opened":
            return f"{who} opened {self.thing('psychotherapy note')}"
        if a == "search.performed":
            clients, notes = self.number("client_hits"), self.number("note_hits")
            found = []
            if clients is not None:
                found.append(f"{clients} client{'s' if clients != 1 else ''}")
            if notes is not None:
                found.append(f"{notes} note{'s' if notes != 1 else ''}")
            text = f"{who} searched" + (f" ({' and '.join(found)} found)" if found else "")
            if d.get("include_psychotherapy") is True:
                text += ", psychotherapy notes included"
            return text
        if a == "template.created":
            return f"{who} created a note template"
        if a == "template.updated":
            return f"{who} changed a note template"
        if a == "template.archived":
            return f"{who} archived a note template"
        if a == "settings.changed":
            changed = _fields(d, "changed") or _fields(d, "fields")
            return f"{who} changed the settings" + (f" ({changed})" if changed else "")
        if a == "demo.filled":
            count = self.number("clients")
            return "Demo data was added" + (f" ({count} made-up clients)" if count else "")
        if a.startswith("call."):
            return self.call()
        if a.startswith("calendar."):
            return self.calendar_export()
        if a.split(".")[0] in ("record", "practice", "import", "billing"):
            return self.records()
        if a.split(".")[0] in CLINICAL or a == "note.goals_addressed":
            return self.clinical()
        text = humanise(a)
        client_id = self.client_id()
        if client_id and client_id in self.names:
            text += f" ({self.client()})"
        return text

    def call(self) -> str:
        a, who = self.e.action, self.who
        session = self.thing("video session")
        if self.number("device") == 2 or a == "call.device_left":
            return self.call_device()
        if a == "call.invite_created":
            return f"{who} made the invitation link for {session}"
        if a == "call.client_admitted":
            return f"{who} let {self.client()} in from the waiting room"
        if a == "call.client_details":
            return (
                f"{who} saw where {self.client()} was and their emergency number before letting "
                "them in (kept with the session)"
            )
        if a == "call.client_declined":
            return f"{who} turned away the person in the waiting room for {session}"
        if a == "call.started":
            return f"The video session with {self.client()} connected"
        if a == "call.verified":
            return f"{who} and {self.client()} read the same security code"
        if a == "call.verification_mismatch":
            return "The security codes differed, so the video session was ended"
        if a == "call.ended":
            seconds = self.number("duration_seconds") or 0
            if self.e.details.get("connected") is False:
                return f"The video session with {self.client()} ended before it connected"
            minutes = max(1, round(seconds / 60)) if seconds else 0
            length = f" after {minutes} minute{'s' if minutes != 1 else ''}" if minutes else ""
            broke = " (it broke off)" if self.failed else ""
            also = " and a second participant" if self.number("devices") == 2 else ""
            return f"The video session with {self.client()}{also} ended{length}{broke}"
        text = humanise(a)
        return f"{text} ({self.client()})" if self.client_id() in self.names else text

    def calendar_export(self) -> str:
        """The calendar exported for the therapist's own calendar app (a disclosure per client
        when names were in it)."""
        a, who, d = self.e.action, self.who, self.e.details
        count = self.number("events") or 0
        events = f"{count} appointment{'s' if count != 1 else ''}"
        if a == "calendar.names_disclosed":
            recipient = str(d.get("recipient") or "your own calendar app")
            return f"{who} disclosed {self.whose()} name and {events} to {recipient}"
        if a != "calendar.exported":
            return humanise(a)
        days = ""
        with contextlib.suppress(KeyError, TypeError, ValueError):
            first = datetime.fromisoformat(str(d["first_day"]))
            last = datetime.fromisoformat(str(d["last_day"]))
            days = f" ({self.date_text(first)} to {self.date_text(last)})"
        if d.get("names_included") is True:
            clients = self.number("clients") or 0
            named = f"{clients} client{'s' if clients != 1 else ''}"
            return (
                f"{who} exported {events}{days} for your own calendar app, with the names of "
                f"{named}"
            )
        return f"{who} exported {events}{days} for your own calendar app, without client names"

    def measure(self) -> str:
        key = self.e.details.get("measure")
        if not isinstance(key, str):
            return "a measure"
        return MEASURE_NAMES.get(key, "a measure of your own")

    def clinical(self) -> str:
        """Diagnoses, treatment plans, measures, forms and consents (desktop.core.clinical)."""
        a, who, d = self.e.action, self.who, self.e.details
        plan = f"{self.whose()} treatment plan"
        version = self.number("version")
        numbered = f" (version {version})" if version else ""
        simple = {
            "clinical.summary_viewed": f"{who} viewed {self.whose()} diagnoses and treatment plan",
            "diagnosis.listed": f"{who} viewed {self.whose()} diagnoses",
            "diagnosis.added": f"{who} added a diagnosis for {self.client()}",
            "note.goals_addressed": f"{who} noted which treatment goals "
            f"{self.thing('progress note')} addressed",
            "treatment_plan.created": f"{who} started {plan}",
            "treatment_plan.opened": f"{who} opened {plan}{numbered}",
            "treatment_plan.edited": f"{who} wrote in {self.whose()} draft treatment plan",
            "treatment_plan.signed": f"{who} signed {plan}{numbered}",
            "treatment_plan.revised": f"{who} started a revision of {plan}{numbered}",
            "treatment_plan.draft_discarded": f"{who} discarded a draft of {plan}",
            "treatment_plan.signature_mismatch": f"{plan[:1].upper()}{plan[1:]} no longer "
            "matches its signature",
            "treatment_plan.goals_listed": f"{who} viewed {self.whose()} treatment goals",
            "treatment_plan.reviews_listed": f"{who} viewed the treatment plans due for review",
            "measure.defined": f"{who} saved a measure of your own",
            "measure.archived": f"{who} archived a measure of your own",
            "measure.listed": f"{who} viewed {self.whose()} measures",
            "measure.viewed": f"{who} viewed {self.whose()} {self.measure()} over time",
            "measure.voided": f"{who} marked one of {self.whose()} measure results as entered "
            "in error",
            "measure.flags_listed": f"{who} checked for flagged answers not yet seen",
            "measure.flag_acknowledged": f"{who} saw {self.whose()} flagged answer",
            "form.defined": f"{who} saved a form of your own",
            "form.archived": f"{who} archived a form of your own",
            "form.refused": f"Answers to a form sent to {self.client()} did not check out and "
            "were not kept",
            "form.expired": f"A form link sent to {self.client()} ran out unanswered",
            "form.withdrawn": f"{who} withdrew a form link sent to {self.client()}",
            "form.listed": f"{who} viewed the forms sent to {self.client()}",
            "form.response_opened": f"{who} read {self.whose()} answers to a form",
            "consent.signed": f"{self.client()[:1].upper()}{self.client()[1:]} signed a consent "
            "(kept read-only, as signed)",
        }
        if a in simple:
            return simple[a]
        if a == "diagnosis.updated":
            changed = _fields(d, "fields")
            return f"{who} changed a diagnosis of {self.client()}" + (
                f" ({changed})" if changed else ""
            )
        if a == "measure.recorded":
            where = {"waiting_room": " (answered in the waiting room)",
                     "mailbox": " (answered by link)"}.get(str(d.get("source")), "")  # fmt: skip
            flagged = ", with a flagged answer" if d.get("flagged") is True else ""
            return f"{who} recorded {self.whose()} {self.measure()}{where}{flagged}"
        if a in ("measure.printed", "measure.exported"):
            verb = "printed" if a == "measure.printed" else "exported"
            return f"{who} {verb} {self.whose()} {self.measure()} with its chart{self.disclosure()}"
        kind = FORM_KINDS.get(str(d.get("kind")), "a form")
        how = " by link" if d.get("channel") == "mailbox" else " to the waiting room"
        if a == "form.sent":
            return f"{who} sent {self.client()} {kind}{how if d.get('channel') else ''}"
        if a == "form.answered":
            name = self.client()
            return f"{name[:1].upper()}{name[1:]} answered {kind}"
        text = humanise(a)
        return f"{text} ({self.client()})" if self.client_id() in self.names else text

    def call_device(self) -> str:
        """A couples or family session's second device, and any device leaving."""
        a, who = self.e.action, self.who
        session = self.thing("video session")
        if a == "call.device_left":
            seconds = self.number("duration_seconds") or 0
            minutes = max(1, round(seconds / 60)) if seconds else 0
            length = f" after {minutes} minute{'s' if minutes != 1 else ''}" if minutes else ""
            person = "The second participant" if self.number("device") == 2 else self.client()
            return f"{person} left the video session{length}"
        if a == "call.invite_created":
            return f"{who} made an invitation link for a second participant's device, for {session}"
        if a == "call.client_admitted":
            return f"{who} let the second participant in from the waiting room"
        if a == "call.client_details":
            return (
                f"{who} saw where the second participant was and their emergency number before "
                "letting them in (kept with the session)"
            )
        if a == "call.client_declined":
            return f"{who} turned away the person waiting at the second participant's link"
        if a == "call.verified":
            return f"{who} and the second participant read the same security code"
        if a == "call.verification_mismatch":
            return (
                "The security codes with the second participant's device differed, so that "
                "device was cut off"
            )
        return humanise(a)

    def records(self) -> str:
        """Copies, exports, imports and billing (desktop.core.records)."""
        a, who = self.e.action, self.who
        if a == "record.exported":
            kind = "a protected copy" if self.e.details.get("encrypted") is True else "a copy"
            return f"{who} made {kind} of {self.whose()} record{self.disclosure()}"
        if a == "practice.exported":
            count = self.number("clients")
            return f"{who} exported everything" + (f" ({count} clients)" if count else "")
        if a in ("import.checked", "import.completed"):
            kind = str(self.e.details.get("kind") or "records")
            if a == "import.checked":
                adds, refused = self.number("add") or 0, self.number("refuse") or 0
                return f"{who} checked an import of {kind}: {adds} to add, {refused} refused"
            added = self.number("added") or 0
            kind = kind.removesuffix("s") if added == 1 else kind
            return f"{who} imported {added} {kind} from another program"
        if a == "billing.superbill_created":
            return f"{who} made a superbill for {self.client()}{self.disclosure()}"
        if a == "billing.payment_recorded":
            return f"{who} recorded a payment from {self.client()}"
        if a == "billing.payment_deleted":
            return f"{who} removed a payment of {self.client()} recorded in error"
        if a == "billing.charge_set":
            return f"{who} changed what {self.thing('appointment')} is billed as"
        if a == "billing.ledger_viewed":
            return f"{who} viewed {self.whose()} billing"
        if a == "billing.fee_changed":
            return f"{who} changed a fee"
        if a == "billing.profile_changed":
            return f"{who} changed the billing details"
        if a == "billing.insurance_changed":
            if self.e.details.get("removed"):
                return f"{who} removed {self.whose()} insurance: they pay for themselves"
            return f"{who} changed {self.whose()} insurance details"
        return humanise(a)


def sentence(entry: Entry, names: Mapping[str, str], date_text: DateText) -> str:
    """One entry as a sentence (no final full stop), e.g. "You opened Jordan A.'s progress note
    of 7 December". ``entry`` is an ``audit_view.AuditRecord`` or any object with its fields;
    ``names`` maps client ids to names; ``date_text`` writes a date in the therapist's locale."""
    story = _Story(entry, names, date_text)
    text = story.tell()
    if story.failed and not any(
        w in text
        for w in (
            "refused",
            "failed",
            "problem",
            "could not",
            "wrong",
            "differed",
            "broke",
            "no longer",
        )
    ):
        text += " (refused)" if entry.outcome == "denied" else " (it failed)"  # fmt: skip
    return text


CLINICAL = ("clinical", "diagnosis", "treatment_plan", "measure", "form", "consent")
MEASURE_NAMES = {"phq9": "PHQ-9", "gad7": "GAD-7", "pcl5": "PCL-5"}
FORM_KINDS = {"intake": "an intake form", "consent": "a consent form", "measure": "a measure"}

ACTION_LABELS = {
    "vault.created": "Quietroom set up",
    "vault.unlocked": "Unlocked",
    "vault.unlock_failed": "Failed unlock attempts",
    "vault.recovery_unlock": "Opened with the recovery key",
    "vault.locked": "Locked",
    "vault.passphrase_changed": "Passphrase changed",
    "vault.rekeyed": "Encryption key renewed",
    "vault.rekey_interrupted": "Encryption key renewal interrupted",
    "vault.rollback_accepted": "Older copy of the records accepted",
    "audit.verified": "Audit log checked",
    "audit.exported": "Audit log exported",
    "audit.viewed": "Audit log viewed",
    "backup.created": "Backups made",
    "backup.verified": "Backups checked",
    "backup.restored": "Backups restored",
    "client.listed": "Client list viewed",
    "client.opened": "Client records opened",
    "client.created": "Clients added",
    "client.updated": "Client details changed",
    "client.archived": "Clients archived",
    "client.restored": "Clients brought back from the archive",
    "client.destroyed": "Client records destroyed",
    "client.printed": "Client records printed",
    "client.exported": "Client records exported",
    "session.created": "Appointments scheduled",
    "session.updated": "Appointments changed",
    "session.listed": "Schedule viewed",
    "note.created": "Notes started",
    "note.opened": "Progress notes opened",
    "note.edited": "Drafts written in",
    "note.draft_discarded": "Drafts discarded",
    "note.signed": "Notes signed",
    "note.amended": "Amendments started",
    "note.addendum_added": "Addenda started",
    "note.late_entry_added": "Late entries started",
    "note.history_viewed": "Note histories viewed",
    "note.signature_mismatch": "Notes that no longer match their signature",
    "note.printed": "Notes printed",
    "note.exported": "Notes exported",
    "psychotherapy_note.listed": "Psychotherapy notes listed",
    "psychotherapy_note.opened": "Psychotherapy notes opened",
    "search.performed": "Searches",
    "template.created": "Templates created",
    "template.updated": "Templates changed",
    "template.archived": "Templates archived",
    "settings.changed": "Settings changed",
    "demo.filled": "Demo data added",
    "call.invite_created": "Video invitations made",
    "call.client_admitted": "Clients let in to a video session",
    "call.client_declined": "People turned away from a video session",
    "call.client_details": "Client locations and emergency numbers kept",
    "call.started": "Video sessions connected",
    "call.verified": "Security codes matched",
    "call.verification_mismatch": "Security codes differed",
    "call.ended": "Video sessions ended",
    "call.device_left": "People who left a video session",
    "record.exported": "Copies of a record made",
    "practice.exported": "Everything exported",
    "import.checked": "Imports checked",
    "import.completed": "Imports",
    "billing.profile_changed": "Billing details changed",
    "billing.fee_changed": "Fees changed",
    "billing.charge_set": "Appointment billing changed",
    "billing.payment_recorded": "Payments recorded",
    "billing.payment_deleted": "Payments removed",
    "billing.ledger_viewed": "Billing viewed",
    "billing.insurance_changed": "Client insurance changed",
    "clinical.summary_viewed": "Diagnoses and treatment plans viewed",
    "diagnosis.listed": "Diagnoses viewed",
    "diagnosis.added": "Diagnoses added",
    "diagnosis.updated": "Diagnoses changed",
    "note.goals_addressed": "Treatment goals a note addressed",
    "treatment_plan.created": "Treatment plans started",
    "treatment_plan.opened": "Treatment plans opened",
    "treatment_plan.edited": "Draft treatment plans written in",
    "treatment_plan.signed": "Treatment plans signed",
    "treatment_plan.revised": "Treatment plan revisions started",
    "treatment_plan.draft_discarded": "Draft treatment plans discarded",
    "treatment_plan.signature_mismatch": "Treatment plans that no longer match their signature",
    "treatment_plan.goals_listed": "Treatment goals viewed",
    "treatment_plan.reviews_listed": "Plans due for review viewed",
    "measure.defined": "Measures of your own saved",
    "measure.archived": "Measures of your own archived",
    "measure.recorded": "Measures recorded",
    "measure.listed": "Measures viewed",
    "measure.viewed": "Measure charts viewed",
    "measure.voided": "Measure results marked in error",
    "measure.flags_listed": "Flagged answers checked",
    "measure.flag_acknowledged": "Flagged answers seen",
    "measure.printed": "Measures printed",
    "measure.exported": "Measures exported",
    "form.defined": "Forms of your own saved",
    "form.archived": "Forms of your own archived",
    "form.sent": "Forms sent",
    "form.answered": "Forms answered",
    "form.refused": "Form answers not kept",
    "form.expired": "Form links run out",
    "form.withdrawn": "Form links withdrawn",
    "form.listed": "Forms viewed",
    "form.response_opened": "Form answers read",
    "consent.signed": "Consents signed",
    "billing.superbill_created": "Superbills made",
    "calendar.exported": "Calendar exports",
    "calendar.names_disclosed": "Client names disclosed to your calendar app",
}


def action_label(action: str) -> str:
    """What the audit page's "Show" filter calls a kind of entry."""
    return ACTION_LABELS.get(action) or humanise(action)
