"""``ClinicalRecords``: the clinical record's door, reached as ``Practice.clinical``.

Thin: each method delegates to the module that owns the concept (diagnoses, plans, goal links,
the code set) and those write their own audit entries, so no caller can read or change the
clinical record without leaving a trace.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clients import load_client
from desktop.core.clinical import diagnoses, forms, goal_links, measures, plans
from desktop.core.clinical.codeset import CodeEntry, lookup_code, search_codes
from desktop.core.clinical.diagnoses import Diagnosis, DiagnosisDetails
from desktop.core.clinical.goal_links import NoteGoals
from desktop.core.clinical.instruments import Instrument
from desktop.core.clinical.measures import (
    FlagListeners,
    FlagNotice,
    MeasureHistory,
    MeasureResult,
    ResultSource,
)
from desktop.core.clinical.plans import (
    PlanContent,
    PlanReview,
    PlanSummary,
    TreatmentPlan,
)
from desktop.core.clinical.schema import CLINICAL_MIGRATIONS, COMPONENT
from desktop.core.disclosure import DisclosureKind, Document
from desktop.core.sessions import load_session
from telehealth.forms import FormReply


@dataclass(frozen=True)
class ClinicalSummary:
    """What the client page shows of the clinical record in one audited read: the diagnoses,
    the plan in effect and a draft (no content), and whether a review is due."""

    client_id: str
    diagnoses: tuple[Diagnosis, ...]
    plan: PlanSummary | None  # the latest signed version
    draft: PlanSummary | None  # a first draft or a revision in progress
    review: PlanReview | None


class ClinicalRecords:
    """Diagnoses, treatment plans and the goals notes addressed, for one open vault."""

    def __init__(self, vault: Vault, author: Callable[[], str]) -> None:
        self._vault = vault
        self._author = author
        self._flag_listeners = FlagListeners()
        vault.migrate(COMPONENT, CLINICAL_MIGRATIONS)

    def _today(self) -> date:
        """The therapist's local date (review dates are calendar days where they work)."""
        return self._vault.options.clock().astimezone().date()

    # -- the client page ----------------------------------------------------------------------
    def summary(self, client_id: str) -> ClinicalSummary:
        client = load_client(self._vault, client_id)
        found = diagnoses.diagnoses_of(self._vault, client_id)
        history = plans.versions_of(self._vault, client_id)
        current = plans.in_effect(history)
        summary = ClinicalSummary(
            client_id,
            found,
            current,
            plans.draft_of(history),
            plans.review_of(history, client.details.name, self._today()),
        )
        self._vault.audit(
            AuditAction.CLINICAL_SUMMARY_VIEWED,
            object_type="client",
            object_id=client_id,
            details={
                "diagnoses": len(found),
                "plan_version": None if current is None else current.version,
            },
        )
        return summary

    # -- the code set (no PHI, not audited) --------------------------------------------------
    def search_codes(self, text: str, limit: int = 50) -> tuple[CodeEntry, ...]:
        """ICD-10-CM codes by code or words (the first call parses the code set: ~2 s)."""
        return search_codes(text, limit)

    def lookup_code(self, code: str) -> CodeEntry:
        return lookup_code(code)

    # -- diagnoses ----------------------------------------------------------------------------
    def list_diagnoses(self, client_id: str) -> tuple[Diagnosis, ...]:
        return diagnoses.list_diagnoses(self._vault, client_id)

    def add_diagnosis(self, client_id: str, details: DiagnosisDetails) -> Diagnosis:
        """A billable ICD-10-CM code (else ``UnknownCodeError``/``CodeNotBillableError``)."""
        return diagnoses.add_diagnosis(self._vault, client_id, lookup_code(details.code), details)

    def update_diagnosis(self, diagnosis_id: str, details: DiagnosisDetails) -> Diagnosis:
        return diagnoses.update_diagnosis(self._vault, diagnosis_id, details, lookup_code)

    # -- treatment plans ----------------------------------------------------------------------
    def start_plan(self, client_id: str) -> TreatmentPlan:
        """The client's first plan: an empty draft from today, to review in 90 days."""
        return plans.start_plan(self._vault, client_id, author=self._author(), today=self._today())

    def open_plan(self, plan_id: str) -> TreatmentPlan:
        """A version with its signature checked, its history and goal progress; audited."""
        return plans.open_plan(self._vault, plan_id)

    def save_plan(self, plan_id: str, content: PlanContent) -> TreatmentPlan:
        return plans.save_plan(self._vault, plan_id, content)

    def sign_plan(self, plan_id: str) -> TreatmentPlan:
        """Sign and lock a complete draft (``PlanIncompleteError`` says what is missing)."""
        return plans.sign_plan(self._vault, plan_id, author=self._author())

    def revise_plan(self, plan_id: str, reason: str) -> TreatmentPlan:
        """A new draft version of the plan in effect, prefilled with it."""
        return plans.revise_plan(self._vault, plan_id, reason, author=self._author())

    def discard_plan_draft(self, plan_id: str) -> None:
        plans.discard_plan_draft(self._vault, plan_id)

    def plans_due_for_review(
        self, within_days: int = plans.REVIEW_NOTICE_DAYS
    ) -> tuple[PlanReview, ...]:
        """Plans in effect whose review date is past or within ``within_days`` (for the
        calendar and reminders); audited."""
        today = self._today()
        return plans.reviews_due(self._vault, today, today + timedelta(days=within_days))

    def plan_reviews_between(self, start: date, end: date) -> tuple[PlanReview, ...]:
        """Plans in effect whose review date falls in [start, end] (a calendar's range)."""
        found = plans.reviews_due(self._vault, self._today(), end)
        return tuple(r for r in found if r.review_on >= start)

    # -- goals a note addressed ---------------------------------------------------------------
    def note_goals(self, note_id: str) -> NoteGoals:
        return goal_links.note_goals(self._vault, note_id)

    def set_note_goals(self, note_id: str, goal_ids: Iterable[str]) -> NoteGoals:
        return goal_links.set_note_goals(self._vault, note_id, goal_ids)

    # -- measures ------------------------------------------------------------------------------
    def measures(self) -> tuple[Instrument, ...]:
        """PHQ-9, GAD-7, PCL-5, then the therapist's own measures (no PHI, not audited)."""
        return measures.available(self._vault)

    def measure(self, key: str, version: int | None = None) -> Instrument:
        return measures.instrument(self._vault, key, version)

    def save_measure(self, definition: Instrument) -> Instrument:
        """A new measure of the therapist's own, or a new version of one (checked so that every
        set of answers can be scored); audited as ``measure.defined``."""
        return measures.save_definition(self._vault, definition)

    def archive_measure(self, key: str) -> None:
        measures.archive_definition(self._vault, key)

    def record_measure(
        self,
        client_id: str,
        key: str,
        answers: Mapping[str, int],
        *,
        administered_at: datetime | None = None,
        source: ResultSource = ResultSource.THERAPIST,
        extras: Mapping[str, str] | None = None,
        session_id: str | None = None,
    ) -> MeasureResult:
        """Score and store the answers (the score is computed, never typed). A flagged answer
        (PHQ-9 item 9) is told to every flag listener at once."""
        result = measures.record_result(
            self._vault,
            client_id,
            measures.instrument(self._vault, key),
            answers,
            administered_at=administered_at or self._vault.options.clock(),
            source=source,
            entered_by=self._author(),
            extras=extras,
            session_id=session_id,
        )
        if result.flagged:
            self._flag_listeners.notify(measures.flag_notice(self._vault, result))
        return result

    def list_measure_results(self, client_id: str) -> tuple[MeasureResult, ...]:
        return measures.list_results(self._vault, client_id)

    def measure_history(self, client_id: str, key: str) -> MeasureHistory:
        """One measure's results over time, with reliable and clinically significant change
        from the first result; audited as ``measure.viewed``."""
        return measures.open_history(self._vault, client_id, key)

    def void_measure_result(self, result_id: str, reason: str) -> MeasureResult:
        return measures.void_result(self._vault, result_id, reason)

    def measure_document(
        self,
        client_id: str,
        key: str,
        kind: DisclosureKind,
        *,
        recipient: str,
        purpose: str,
        day_text: Callable[[datetime], str],
    ) -> tuple[Document, MeasureHistory]:
        """The measure's results as a document to print or export with its chart (a
        disclosure, audited with recipient and purpose)."""
        return measures.measure_document(self._vault, client_id, key, kind, recipient=recipient,
                                         purpose=purpose, day_text=day_text)  # fmt: skip

    # -- flagged answers -----------------------------------------------------------------------
    def add_flag_listener(self, listener: Callable[[FlagNotice], None]) -> Callable[[], None]:
        """``listener(notice)`` runs on the recording thread whenever a flagged answer is
        stored; returns a function that removes it."""
        return self._flag_listeners.add(listener)

    def unacknowledged_flags(self) -> tuple[FlagNotice, ...]:
        return measures.unacknowledged_flags(self._vault)

    def acknowledge_flag(self, result_id: str) -> None:
        measures.acknowledge_flag(self._vault, result_id, by=self._author())

    # -- forms through the sealed link ---------------------------------------------------------
    def form_templates(self) -> tuple[forms.FormTemplate, ...]:
        """The built-in intake and telehealth consent, then the therapist's own (not audited:
        no PHI)."""
        return forms.templates(self._vault)

    def form_template(self, key: str, version: int | None = None) -> forms.FormTemplate:
        return forms.template(self._vault, key, version)

    def save_form_template(self, template: forms.FormTemplate) -> forms.FormTemplate:
        """A new form of one's own or a new version of one (``form.defined``)."""
        return forms.save_template(self._vault, template)

    def archive_form_template(self, key: str) -> None:
        forms.archive_template(self._vault, key)

    def _form_source(self, key: str) -> forms.FormTemplate | Instrument:
        if key in forms.BUILT_IN or key.startswith("form:"):
            return forms.template(self._vault, key)
        return measures.instrument(self._vault, key)

    def waiting_room_form(self, session_id: str, key: str) -> forms.FormRequest:
        """A form (template or measure ``key``) for the client waiting in ``session_id``'s
        video session; send ``request.document`` with the session (``form.sent``)."""
        session = load_session(self._vault, session_id)
        return forms.create_request(self._vault, session.client_id, self._form_source(key),
                                    forms.Channel.WAITING_ROOM, session_id=session_id)  # fmt: skip

    def receive_waiting_room_reply(self, session_id: str, reply: FormReply) -> forms.FormResponse:
        """The client's answers from the waiting room, checked against the form (refused with
        ``FormRefusedError`` otherwise) and kept; a measure's result is scored and a flagged
        answer told to the flag listeners."""
        return forms.receive_reply(self._vault, reply, channel=forms.Channel.WAITING_ROOM,
                                   session_id=session_id, entered_by=self._author(),
                                   on_measure=self._measure_arrived)  # fmt: skip

    def mailbox_form(self, client_id: str, key: str, relay_origin: str) -> forms.FormRequest:
        """A form for the client to fill in between sessions: ``request.box.link`` is the link
        to send them, ``request.box.seal_form(request.document)`` what to put in the relay's
        mailbox (``form.sent``). The link stays open for ``forms.MAILBOX_DAYS`` days."""
        return forms.create_request(self._vault, client_id, self._form_source(key),
                                    forms.Channel.MAILBOX, relay_origin=relay_origin)  # fmt: skip

    def open_mailbox_forms(self) -> tuple[forms.FormRequest, ...]:
        """Forms sent between sessions and not answered yet (to collect their answers)."""
        return forms.open_mailbox_requests(self._vault)

    def receive_mailbox_reply(self, request_id: str, envelope: str) -> forms.FormResponse:
        """A sealed reply collected from the mailbox: opened with the request's key, checked
        and kept (as ``receive_waiting_room_reply``)."""
        return forms.receive_mailbox_envelope(self._vault, request_id, envelope,
                                              entered_by=self._author(),
                                              on_measure=self._measure_arrived)  # fmt: skip

    def form_expired(self, request_id: str) -> forms.FormRequest:
        return forms.set_status(self._vault, request_id, forms.RequestStatus.EXPIRED)

    def withdraw_form(self, request_id: str) -> forms.FormRequest:
        return forms.set_status(self._vault, request_id, forms.RequestStatus.WITHDRAWN)

    def client_forms(self, client_id: str) -> forms.ClientForms:
        """Forms sent to the client and the consents they signed (``form.listed``)."""
        return forms.client_forms(self._vault, client_id)

    def open_form_response(self, request_id: str) -> forms.FormResponse:
        return forms.open_response(self._vault, request_id)

    def _measure_arrived(self, result: MeasureResult) -> None:
        if result.flagged:
            self._flag_listeners.notify(measures.flag_notice(self._vault, result))
