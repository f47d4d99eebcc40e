"""The facade the UI and the command line use: one object per unlocked vault, plus the few
operations that happen before a vault is open (create, unlock, recover).

Every call that returns PHI writes its audit entry itself (in the domain modules it delegates to),
so no UI path can read a client's data without leaving a trace. Vault-level errors
(``crypto.errors``) pass through unchanged: they already speak to the user; the domain's own
errors derive from ``desktop.core.errors.PracticeError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO

from crypto.audit.chain import VerifyReport
from crypto.audit.entry import AuditEntry
from crypto.errors import (
    AuditIntegrityError,
    CryptoError,
    PassphrasePolicyError,
    RekeyConfirmationError,
    RollbackDetectedError,
    UnlockError,
    UnlockThrottledError,
    VaultExistsError,
    VaultNotFoundError,
    WeakParametersError,
)
from crypto.header import VaultHeader
from crypto.kdf import PROFILES, KdfParams, calibrate
from crypto.paths import default_state_dir, default_vault_dir
from crypto.recovery_key import RecoveryKey
from crypto.vault import HEADER_NAME, PendingRekey, UnlockInfo, Vault, VaultOptions, vault_exists
from desktop.core import (
    calendar,
    calendar_export,
    clients,
    disclosure,
    note_header,
    notes,
    sessions,
    templates,
)
from desktop.core import calls as video_calls
from desktop.core.audit_view import AuditFilter, AuditRecord, view_audit
from desktop.core.autosave import DraftAutosaver, DraftSaveState
from desktop.core.backup_settings import BackupSettingsStore
from desktop.core.backups import BackupService
from desktop.core.call_schema import CALL_MIGRATIONS
from desktop.core.call_schema import COMPONENT as CALLS_COMPONENT
from desktop.core.clients import (
    Client,
    ClientDetails,
    ClientStatus,
    ClientSummary,
    DestructionReason,
    DestructionReport,
)
from desktop.core.clinical.facade import ClinicalRecords
from desktop.core.disclosure import DisclosureKind, Document
from desktop.core.note_header import NoteHeader
from desktop.core.notes import Compartment, Note, NoteKind, NoteSummary
from desktop.core.passphrase_strength import MIN_PASSPHRASE_CHARS, check_new_passphrase
from desktop.core.record import ClientRecord, open_client
from desktop.core.records.facade import Records
from desktop.core.records.schema import BILLING_MIGRATIONS
from desktop.core.records.schema import COMPONENT as RECORDS_COMPONENT
from desktop.core.schema import COMPONENT, PRACTICE_MIGRATIONS
from desktop.core.search import SearchResults, search
from desktop.core.sessions import Attendance, Modality, ScheduledSession, Session
from desktop.core.settings import PracticeSettings, load_settings, save_settings
from desktop.core.templates import FREE_FORM, Template, TemplateSection

if TYPE_CHECKING:
    from desktop.core.demo import DemoReport


# What the UI needs from below the facade, re-exported so that desktop/ui imports only desktop.core
# (checked by tests/test_layers.py).
__all__ = [
    "MIN_PASSPHRASE_CHARS",
    "USAGE_ERRORS",
    "AuditIntegrityError",
    "CryptoError",
    "KdfParams",
    "PendingRekey",
    "Practice",
    "RecoveryKey",
    "RekeyConfirmationError",
    "RollbackDetectedError",
    "UnlockError",
    "UnlockThrottledError",
    "VaultOptions",
    "VaultStatus",
    "calibrate",
    "check_new_passphrase",
    "default_state_dir",
    "default_vault_dir",
    "kdf_for_profile",
    "status",
    "vault_exists",
]


def kdf_for_profile(name: str) -> KdfParams:
    """``calibrated`` measures this machine (about 0.75 s); the others are fixed profiles."""
    if name == "calibrated":
        return calibrate()
    return PROFILES[name]


def _local_now() -> datetime:
    return datetime.now().astimezone()


# Vault errors that mean "this cannot be done as asked" (a usage problem, not a failed check).
USAGE_ERRORS: tuple[type[CryptoError], ...] = (
    VaultNotFoundError,
    VaultExistsError,
    PassphrasePolicyError,
    WeakParametersError,
)


@dataclass(frozen=True)
class VaultStatus:
    """What can be said of a vault folder without unlocking it (no PHI is readable there)."""

    exists: bool
    path: Path
    readable: bool = False  # the header parsed
    created_at: str = ""
    key_generation: int = 0  # 0 until the first rekey
    kdf: KdfParams | None = None
    audit_checkpoint: int = 0  # the audit entries the header vouches for


def status(path: Path) -> VaultStatus:
    if not vault_exists(path):
        return VaultStatus(exists=False, path=path)
    try:
        header = VaultHeader.from_bytes((path / HEADER_NAME).read_bytes())
    except (OSError, CryptoError):
        return VaultStatus(exists=True, path=path)
    return VaultStatus(
        exists=True,
        path=path,
        readable=True,
        created_at=header.created_at,
        key_generation=header.generation,
        kdf=header.kdf,
        audit_checkpoint=header.checkpoint.seq if header.checkpoint else 0,
    )


class Practice:
    """An unlocked practice vault. Opening one brings the practice tables up to date."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        vault.migrate(COMPONENT, PRACTICE_MIGRATIONS)
        vault.migrate(calendar.COMPONENT, calendar.MIGRATIONS)
        vault.migrate(RECORDS_COMPONENT, BILLING_MIGRATIONS)
        vault.migrate(CALLS_COMPONENT, CALL_MIGRATIONS)
        self._settings = load_settings(vault)
        self._records = Records(vault, lambda: self._author)
        self._autosaver = DraftAutosaver(vault)
        notes.fold_autosaves(vault)  # text autosaved before a crash joins its draft and the index
        self._clinical = ClinicalRecords(vault, lambda: self._author)

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
        accept_rollback: bool = False,
    ) -> Practice:
        return cls(
            Vault.unlock(
                path,
                passphrase,
                options=options,
                accept_audit_damage=accept_audit_damage,
                accept_rollback=accept_rollback,
            )
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
        accept_rollback: bool = False,
    ) -> Practice:
        key = RecoveryKey.parse(recovery_key)  # a typo is reported as such, first
        check_new_passphrase(new_passphrase)  # both before the slow unlock
        return cls(
            Vault.recover(
                path,
                key,
                new_passphrase,
                options=options,
                accept_audit_damage=accept_audit_damage,
                accept_rollback=accept_rollback,
            )
        )

    # -- the open vault ---------------------------------------------------------------------
    @property
    def unlock_info(self) -> UnlockInfo | None:
        return self._vault.unlock_info

    @property
    def is_open(self) -> bool:
        return self._vault.is_open

    def change_passphrase(
        self, new_passphrase: str, *, current_passphrase: str | None = None
    ) -> None:
        """New passphrase (instant re-wrap). The app passes ``current_passphrase`` so that an
        unattended open vault cannot be taken over; a wrong one is audited and refused."""
        check_new_passphrase(new_passphrase)
        self._vault.change_passphrase(new_passphrase, current_passphrase=current_passphrase)

    def rekey(self, passphrase: str) -> RecoveryKey:
        """Both steps at once (tools and tests); people get ``prepare_rekey``/``commit_rekey``."""
        return self._vault.rekey(passphrase)

    # -- rekey in two steps (vault): show the new recovery key, switch only once it is typed back
    def prepare_rekey(self, passphrase: str) -> PendingRekey:
        return self._vault.prepare_rekey(passphrase)

    def commit_rekey(self, pending: PendingRekey, typed_recovery_key: str) -> None:
        self._vault.commit_rekey(pending, typed_recovery_key)

    def cancel_rekey(self, pending: PendingRekey) -> None:
        self._vault.cancel_rekey(pending)

    def verify_audit(self) -> VerifyReport:
        return self._vault.verify_audit()

    def export_audit(self, out: TextIO, fmt: Literal["csv", "jsonl"]) -> int:
        return self._vault.export_audit(out, fmt)

    def audit_entries(self) -> Iterator[AuditEntry]:
        """Raw entries, unaudited (for verification tools); the UI uses ``view_audit``."""
        return self._vault.audit_entries()

    def view_audit(self, audit_filter: AuditFilter | None = None) -> tuple[AuditRecord, ...]:
        """The audit log, newest first, filtered by time, action and client; audited."""
        return view_audit(self._vault, audit_filter)

    def lock(self) -> None:
        """Write pending drafts, then lock (audited by the vault)."""
        try:
            if self._vault.is_open:
                self._autosaver.close_all()
        finally:
            self._vault.lock()

    def vault_for_backups(self) -> Vault:
        """The open vault, for the backup feature (which audits itself); pending drafts are
        written first so that a backup holds what was typed."""
        self._autosaver.flush()
        return self._vault

    def backup_service(self) -> BackupService:
        """Backups of this vault, their settings kept in the per-user state folder."""
        vault = self.vault_for_backups()
        return BackupService(vault, BackupSettingsStore(vault.options.state_dir, vault.path))

    # -- settings ---------------------------------------------------------------------------
    @property
    def settings(self) -> PracticeSettings:
        return self._settings

    def update_settings(self, settings: PracticeSettings) -> PracticeSettings:
        self._settings = save_settings(self._vault, settings)
        return self._settings

    @property
    def _author(self) -> str:
        return self._settings.author(self._vault.options.actor)

    @property
    def _late_threshold(self) -> timedelta:
        return timedelta(hours=self._settings.late_entry_hours)

    # -- clients ----------------------------------------------------------------------------
    def list_clients(
        self, *, include_archived: bool = False, status: ClientStatus | None = None
    ) -> tuple[ClientSummary, ...]:
        return clients.list_clients(self._vault, include_archived=include_archived, status=status)

    def create_client(self, details: ClientDetails) -> Client:
        return clients.create_client(self._vault, details)

    def open_client(self, client_id: str) -> ClientRecord:
        """Details, sessions and the progress-note timeline; psychotherapy notes only counted."""
        return open_client(self._vault, client_id)

    def update_client(self, client_id: str, details: ClientDetails) -> Client:
        return clients.update_client(self._vault, client_id, details)

    def archive_client(self, client_id: str) -> Client:
        return clients.set_archived(self._vault, client_id, True)

    def restore_client(self, client_id: str) -> Client:
        return clients.set_archived(self._vault, client_id, False)

    def destroy_client(
        self,
        client_id: str,
        *,
        confirm_name: str,
        reason: DestructionReason,
        before_retention_ends: bool = False,
    ) -> DestructionReport:
        """The retention action; see ``clients.destroy_client``."""
        return clients.destroy_client(
            self._vault,
            client_id,
            confirm_name=confirm_name,
            reason=reason,
            retention_years=self._settings.retention_years,
            before_retention_ends=before_retention_ends,
        )

    # -- sessions ---------------------------------------------------------------------------
    def schedule_session(
        self,
        client_id: str,
        starts_at: datetime,
        *,
        duration_minutes: int = sessions.DEFAULT_MINUTES,
        modality: Modality = Modality.IN_PERSON,
        attendance: Attendance = Attendance.SCHEDULED,
    ) -> Session:
        return sessions.schedule_session(
            self._vault,
            client_id,
            starts_at,
            duration_minutes=duration_minutes,
            modality=modality,
            attendance=attendance,
        )

    def update_session(
        self,
        session_id: str,
        *,
        starts_at: datetime | None = None,
        duration_minutes: int | None = None,
        modality: Modality | None = None,
        attendance: Attendance | None = None,
    ) -> Session:
        return sessions.update_session(
            self._vault,
            session_id,
            starts_at=starts_at,
            duration_minutes=duration_minutes,
            modality=modality,
            attendance=attendance,
        )

    def list_sessions(self, start: datetime, end: datetime) -> tuple[ScheduledSession, ...]:
        return sessions.list_sessions(self._vault, start, end)

    # -- templates --------------------------------------------------------------------------
    def templates(self, *, include_archived: bool = False) -> tuple[Template, ...]:
        return templates.list_templates(self._vault, include_archived=include_archived)

    def create_template(
        self, name: str, sections: tuple[TemplateSection, ...], description: str = ""
    ) -> Template:
        return templates.create_template(self._vault, name, sections, description)

    def update_template(
        self, key: str, name: str, sections: tuple[TemplateSection, ...], description: str = ""
    ) -> Template:
        return templates.update_template(self._vault, key, name, sections, description)

    def archive_template(self, key: str) -> None:
        templates.archive_template(self._vault, key)

    # -- notes ------------------------------------------------------------------------------
    def create_note(
        self, client_id: str, template_key: str = "soap", *, session_id: str | None = None
    ) -> Note:
        """A new progress-note draft from a template."""
        template = templates.get_template(self._vault, template_key)
        return notes.create_note(
            self._vault, client_id, template, author=self._author, session_id=session_id
        )

    def create_psychotherapy_note(
        self,
        client_id: str,
        template_key: str = FREE_FORM,
        *,
        session_id: str | None = None,
    ) -> Note:
        template = templates.get_template(self._vault, template_key)
        return notes.create_note(
            self._vault,
            client_id,
            template,
            author=self._author,
            session_id=session_id,
            compartment=Compartment.PSYCHOTHERAPY,
        )

    def open_note(self, note_id: str) -> Note:
        """A progress note (or linked entry) with its signature checked; audited."""
        self._autosaver.flush(note_id)
        return notes.open_note(self._vault, note_id, Compartment.PROGRESS, self._late_threshold)

    def open_psychotherapy_note(self, note_id: str) -> Note:
        """The explicit, separately audited way to read a psychotherapy note."""
        self._autosaver.flush(note_id)
        return notes.open_note(
            self._vault, note_id, Compartment.PSYCHOTHERAPY, self._late_threshold
        )

    def list_psychotherapy_notes(self, client_id: str) -> tuple[NoteSummary, ...]:
        return notes.list_psychotherapy_notes(self._vault, client_id)

    def save_draft(self, note_id: str, texts: Mapping[str, str]) -> DraftSaveState:
        """Call as often as you like (e.g. on every change); see ``autosave``."""
        return self._autosaver.save(note_id, texts)

    def autosave_tick(self) -> tuple[str, ...]:
        """Call from a timer (about every 0.5 s) so that a pause in typing gets saved."""
        return self._autosaver.tick()

    def flush_drafts(self) -> None:
        self._autosaver.flush()

    def close_draft(self, note_id: str) -> None:
        self._autosaver.close(note_id)

    # -- calendar (day) ----------------------------------------------------------------------
    def appointments(self, start: datetime, end: datetime) -> tuple[calendar.Appointment, ...]:
        """Every appointment between two times, across clients (audited as a look at the
        schedule); recurring series are extended first."""
        return calendar.appointments(self._vault, start, end)

    def create_appointment(
        self,
        client_id: str,
        starts_at: datetime,
        *,
        duration_minutes: int = sessions.DEFAULT_MINUTES,
        modality: Modality = Modality.IN_PERSON,
        repeat: calendar.Repeat = calendar.Repeat.NONE,
        until: date | None = None,
        tzid: str = "UTC",
    ) -> Session:
        return calendar.create_appointment(
            self._vault, client_id, starts_at, duration_minutes=duration_minutes,
            modality=modality, repeat=repeat, until=until, tzid=tzid,
        )  # fmt: skip

    def move_appointment(
        self,
        session_id: str,
        starts_at: datetime,
        *,
        scope: calendar.Scope = calendar.Scope.THIS,
        duration_minutes: int | None = None,
        tzid: str = "UTC",
    ) -> Session:
        return calendar.move_appointment(
            self._vault, session_id, starts_at, scope=scope,
            duration_minutes=duration_minutes, tzid=tzid,
        )  # fmt: skip

    def cancel_appointment(
        self, session_id: str, *, scope: calendar.Scope = calendar.Scope.THIS, late: bool = False
    ) -> Session:
        return calendar.cancel_appointment(self._vault, session_id, scope=scope, late=late)

    def set_attendance(self, session_id: str, attendance: Attendance) -> Session:
        return calendar.set_attendance(self._vault, session_id, attendance)

    def booking_conflicts(
        self, starts_at: datetime, duration_minutes: int, *, ignore: tuple[str, ...] = ()
    ) -> tuple[ScheduledSession, ...]:
        """Appointments that overlap this time (a double booking to warn about)."""
        return calendar.conflicts(self._vault, starts_at, duration_minutes, ignore=ignore)

    # -- calendar export (ics): the therapist's own calendar app ------------------------------
    def export_calendar(
        self,
        to: Path,
        first_day: date,
        last_day: date,
        *,
        include_names: bool = False,
        zone: tzinfo | None = None,
    ) -> calendar_export.CalendarExport:
        """The appointments of these days as an iCalendar (.ics) file: times and "Session" only
        unless ``include_names`` (then each named client is audited as a disclosure)."""
        return calendar_export.export_calendar(
            self._vault, to, first_day, last_day, include_names=include_names, zone=zone
        )

    def calendar_export_days(self, zone: tzinfo | None = None) -> calendar_export.ExportDays:
        """Today, three months on, and the latest day an export may reach (no read)."""
        return calendar_export.export_days(self._vault, zone)

    # -- note header fields (day) --------------------------------------------------------------
    def set_note_header(self, note_id: str, header: NoteHeader) -> NoteHeader:
        """When, how long and how the session was held, for a draft (audited as an edit)."""
        return note_header.set_header(self._vault, note_id, header)

    def discard_draft(self, note_id: str) -> None:
        self._autosaver.forget(note_id)
        notes.discard_draft(self._vault, note_id)

    def sign_note(self, note_id: str) -> Note:
        """Sign and lock (the pending draft text is written first)."""
        self._autosaver.flush(note_id)
        signed = notes.sign_note(
            self._vault, note_id, author=self._author, late_threshold=self._late_threshold
        )
        self._autosaver.forget(note_id)
        return signed

    def amend_note(self, note_id: str, reason: str) -> Note:
        """A draft amendment, prefilled with the signed text, linked to the original."""
        return notes.add_linked_entry(
            self._vault, note_id, NoteKind.AMENDMENT, reason, author=self._author
        )

    def add_addendum(self, note_id: str, reason: str) -> Note:
        return notes.add_linked_entry(
            self._vault, note_id, NoteKind.ADDENDUM, reason, author=self._author
        )

    def add_late_entry(self, note_id: str, reason: str) -> Note:
        return notes.add_linked_entry(
            self._vault, note_id, NoteKind.LATE_ENTRY, reason, author=self._author
        )

    # -- search -----------------------------------------------------------------------------
    def search(
        self, text: str, *, include_psychotherapy: bool = False, limit: int = 50
    ) -> SearchResults:
        return search(self._vault, text, include_psychotherapy=include_psychotherapy, limit=limit)

    # -- print and export (disclosures) -----------------------------------------------------
    def note_document(
        self,
        note_id: str,
        kind: DisclosureKind,
        *,
        recipient: str,
        purpose: str,
        include_psychotherapy: bool = False,
    ) -> Document:
        """The note as a document to print or export (audited as a disclosure)."""
        self._autosaver.flush(note_id)
        return disclosure.note_document(
            self._vault,
            note_id,
            kind,
            recipient=recipient,
            purpose=purpose,
            include_psychotherapy=include_psychotherapy,
        )

    def client_document(
        self,
        client_id: str,
        kind: DisclosureKind,
        *,
        recipient: str,
        purpose: str,
        include_psychotherapy: bool = False,
    ) -> Document:
        return disclosure.client_document(
            self._vault,
            client_id,
            kind,
            recipient=recipient,
            purpose=purpose,
            include_psychotherapy=include_psychotherapy,
        )

    # -- records (desktop.core.records): access requests, practice export, import, billing ---
    @property
    def records(self) -> Records:
        return self._records

    # -- clinical record (desktop.core.clinical) --------------------------------------------
    @property
    def clinical(self) -> ClinicalRecords:
        """Diagnoses, treatment plans, the goals notes addressed (audited like notes)."""
        return self._clinical

    # -- demo data --------------------------------------------------------------------------
    def fill_demo(self, clients: int, notes_per_client: int, seed: int = 1) -> DemoReport:
        from desktop.core.demo import fill_demo_vault

        return fill_demo_vault(self._vault, clients, notes_per_client, seed)

    # -- video calls (desktop.core.calls) ---------------------------------------------------
    # A VideoCall owns one call's state and records each step (against the session and its
    # client) from the telehealth session's lifecycle events; the UI renders it and forwards the
    # therapist's intents. Details hold ids, whole seconds and flags only.
    def check_video_session(self, session_id: str) -> Session:
        """The appointment, if a video session may start for it; else ``SessionNotFoundError``,
        ``NotAVideoSessionError``, ``SessionCancelledError`` or ``ClientArchivedError``."""
        return video_calls.check_video_session(self._vault, session_id)

    def open_video_call(
        self,
        session_id: str,
        relay_origin: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _local_now,
    ) -> video_calls.VideoCall:
        """Check the appointment, make its invitation on ``relay_origin``
        (``call.invite_created``) and return the call to hand to a session."""
        call = video_calls.open_video_call(
            self._vault, session_id, relay_origin, clock=clock, now=now
        )
        # Forms filled in from the waiting room go to the clinical record, checked.
        call.form_sink = lambda reply: self._clinical.receive_waiting_room_reply(session_id, reply)
        return call

    def write_call_note(
        self, call: video_calls.VideoCall, template_key: str = "soap"
    ) -> Note | None:
        """The prefilled progress note for a call that connected and ended (``note.created``);
        ``None`` when the call never connected or has not ended."""
        template = templates.get_template(self._vault, template_key)
        return video_calls.create_note_for_call(
            self._vault, call, template=template, author=self._author
        )

    def create_call_note(
        self,
        session_id: str,
        started_at: datetime,
        duration_s: float,
        template_key: str = "soap",
    ) -> Note:
        """A progress-note draft for the session, prefilled with the call's date, time, duration
        and modality (``note.created``, as ``create_note``)."""
        template = templates.get_template(self._vault, template_key)
        return video_calls.create_call_note(
            self._vault,
            session_id,
            started_at,
            duration_s,
            template=template,
            author=self._author,
        )
