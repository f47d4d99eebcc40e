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
    REKEY_INTERRUPTED = "vault.rekey_interrupted"  # settled at the next unlock
    ROLLBACK_ACCEPTED = "vault.rollback_accepted"  # the person restored an older copy on purpose
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_VIEWED = "audit.viewed"
    # Backups (crypto.vault_backup)
    BACKUP_CREATED = "backup.created"
    BACKUP_VERIFIED = "backup.verified"
    BACKUP_RESTORED = "backup.restored"
    # The practice domain (desktop.core). Object ids only; details never hold note text.
    CLIENTS_LISTED = "client.listed"
    CLIENT_OPENED = "client.opened"
    CLIENT_CREATED = "client.created"
    CLIENT_UPDATED = "client.updated"
    CLIENT_ARCHIVED = "client.archived"
    CLIENT_RESTORED = "client.restored"
    CLIENT_DESTROYED = "client.destroyed"  # the explicit retention action
    CLIENT_PRINTED = "client.printed"
    CLIENT_EXPORTED = "client.exported"
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    SESSIONS_LISTED = "session.listed"
    NOTE_CREATED = "note.created"
    NOTE_OPENED = "note.opened"
    NOTE_EDITED = "note.edited"  # coalesced: once per editing session of a draft
    NOTE_DRAFT_DISCARDED = "note.draft_discarded"
    NOTE_SIGNED = "note.signed"
    NOTE_AMENDED = "note.amended"
    NOTE_ADDENDUM_ADDED = "note.addendum_added"
    NOTE_LATE_ENTRY_ADDED = "note.late_entry_added"
    NOTE_HISTORY_VIEWED = "note.history_viewed"
    NOTE_SIGNATURE_MISMATCH = "note.signature_mismatch"
    NOTE_PRINTED = "note.printed"
    NOTE_EXPORTED = "note.exported"
    PSYCHOTHERAPY_NOTES_LISTED = "psychotherapy_note.listed"
    PSYCHOTHERAPY_NOTE_OPENED = "psychotherapy_note.opened"
    SEARCHED = "search.performed"
    TEMPLATE_CREATED = "template.created"
    TEMPLATE_UPDATED = "template.updated"
    TEMPLATE_ARCHIVED = "template.archived"
    SETTINGS_CHANGED = "settings.changed"
    DEMO_FILLED = "demo.filled"
    # Records (desktop.core.records): access-request copies, the whole-practice export, imports
    # from another practice suite, billing. Details hold ids, counts, codes, amounts and the
    # disclosure's recipient and purpose; never note text or a client's details.
    RECORD_EXPORTED = "record.exported"  # a client's copy: formats, what it held, encrypted
    PRACTICE_EXPORTED = "practice.exported"  # everything, in open formats
    IMPORT_CHECKED = "import.checked"  # a dry run: rows it would take and refuse
    IMPORT_COMPLETED = "import.completed"  # rows added, found again, refused
    BILLING_PROFILE_CHANGED = "billing.profile_changed"
    BILLING_FEE_CHANGED = "billing.fee_changed"
    BILLING_CHARGE_SET = "billing.charge_set"  # a session's service code and fee
    BILLING_PAYMENT_RECORDED = "billing.payment_recorded"
    BILLING_PAYMENT_DELETED = "billing.payment_deleted"
    BILLING_LEDGER_VIEWED = "billing.ledger_viewed"
    BILLING_SUPERBILL_CREATED = "billing.superbill_created"  # a disclosure (recipient, purpose)
    BILLING_INSURANCE_CHANGED = "billing.insurance_changed"  # field names, or removed (self-pay)
    # Video calls (desktop.core.calls), against the session (object) and its client (details).
    # Details hold ids, whole seconds and flags only: never the name the client typed, the
    # verification code or anything said in the call.
    CALL_INVITE_CREATED = "call.invite_created"
    CALL_CLIENT_ADMITTED = "call.client_admitted"
    CALL_CLIENT_DECLINED = "call.client_declined"
    CALL_STARTED = "call.started"  # the media connected
    CALL_VERIFIED = "call.verified"  # both people read the same code
    CALL_VERIFICATION_MISMATCH = "call.verification_mismatch"  # codes differed: call ended
    CALL_ENDED = "call.ended"  # duration, whether it connected; outcome failure if it broke
    CALL_CLIENT_DETAILS = "call.client_details"  # location + emergency number kept (not logged)
    CALL_DEVICE_LEFT = "call.device_left"  # a client device left; its connected seconds
    # The clinical record (desktop.core.clinical), against the diagnosis, plan version or note
    # (object) and its client (details). Details hold ids, counts, versions and statuses only:
    # never a code's words, a goal's text or a signature's name.
    CLINICAL_SUMMARY_VIEWED = "clinical.summary_viewed"  # diagnoses and plan on the client page
    DIAGNOSIS_ADDED = "diagnosis.added"
    DIAGNOSIS_UPDATED = "diagnosis.updated"  # names of the changed fields
    DIAGNOSES_LISTED = "diagnosis.listed"
    NOTE_GOALS_ADDRESSED = "note.goals_addressed"  # which plan goals a draft note addressed
    TREATMENT_PLAN_CREATED = "treatment_plan.created"
    TREATMENT_PLAN_OPENED = "treatment_plan.opened"
    TREATMENT_PLAN_EDITED = "treatment_plan.edited"
    TREATMENT_PLAN_SIGNED = "treatment_plan.signed"  # carries the signature (display anchor)
    TREATMENT_PLAN_REVISED = "treatment_plan.revised"  # a new draft version of a signed plan
    TREATMENT_PLAN_DRAFT_DISCARDED = "treatment_plan.draft_discarded"
    TREATMENT_PLAN_SIGNATURE_MISMATCH = "treatment_plan.signature_mismatch"
    TREATMENT_PLAN_GOALS_LISTED = "treatment_plan.goals_listed"  # the goals a note may address
    TREATMENT_PLAN_REVIEWS_LISTED = "treatment_plan.reviews_listed"  # plans due for review
    MEASURE_DEFINED = "measure.defined"  # the therapist's own measure, a new version
    MEASURE_ARCHIVED = "measure.archived"
    MEASURE_RECORDED = "measure.recorded"  # measure, source, flagged: never answers or score
    MEASURES_LISTED = "measure.listed"
    MEASURE_VIEWED = "measure.viewed"  # one measure's results over time (the chart)
    MEASURE_VOIDED = "measure.voided"  # marked as entered in error
    MEASURE_FLAGS_LISTED = "measure.flags_listed"  # flagged answers not yet seen
    MEASURE_FLAG_ACKNOWLEDGED = "measure.flag_acknowledged"
    MEASURE_PRINTED = "measure.printed"  # a disclosure: recipient, purpose
    MEASURE_EXPORTED = "measure.exported"
    # Forms through the sealed link (desktop.core.clinical.forms): kinds and channels only, never
    # a title, a question, an answer or a typed name.
    FORM_DEFINED = "form.defined"  # the therapist's own form, a new version
    FORM_ARCHIVED = "form.archived"
    FORM_SENT = "form.sent"  # to the waiting room or through the mailbox
    FORM_ANSWERED = "form.answered"
    FORM_REFUSED = "form.refused"  # a reply that did not check out: nothing kept
    FORM_EXPIRED = "form.expired"
    FORM_WITHDRAWN = "form.withdrawn"
    FORMS_LISTED = "form.listed"
    FORM_RESPONSE_OPENED = "form.response_opened"
    CONSENT_SIGNED = "consent.signed"  # with the document's hash

    # The calendar (desktop.core.calendar): recurring series, against the series (object) and its
    # client (details). Single appointments keep the session.* actions.
    APPOINTMENTS_SCHEDULED = "appointment.series_created"
    APPOINTMENTS_CHANGED = "appointment.series_changed"
    # The calendar export (desktop.core.calendar_export): every export (counts, days, whether
    # client names were in it); with names, a disclosure per client named (recipient, purpose).
    CALENDAR_EXPORTED = "calendar.exported"
    CALENDAR_NAMES_DISCLOSED = "calendar.names_disclosed"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
