"""Video calls in the record: which appointments may start one, one audit entry per call event
(against the session and its client, ids and numbers only), and the prefilled note."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from desktop.core.audit_view import AuditFilter
from desktop.core.calls import (
    NotAVideoSessionError,
    SafetyDetails,
    SessionCancelledError,
    VideoCall,
    VideoSessionError,
    call_header,
    record_ended,
)
from desktop.core.clients import ClientDetails
from desktop.core.errors import (
    ClientArchivedError,
    InvalidFieldError,
    PracticeError,
    SessionNotFoundError,
)
from desktop.core.note_header import NoteHeader
from desktop.core.notes import Compartment, NoteStatus, SignatureCheck
from desktop.core.practice import Practice
from desktop.core.sessions import Attendance, Modality, Session
from desktop.core.settings import PracticeSettings
from telehealth.lifecycle import CallEvent, CallState

NAME = "Marisol Quennell-Oduya"  # the client's name: never in the log
Entries = Callable[[], list[tuple[str, str, str]]]


@pytest.fixture
def client_id(practice: Practice) -> str:
    return practice.create_client(ClientDetails(name=NAME, email="mq@example.org")).id


@pytest.fixture
def video(practice: Practice, client_id: str) -> Session:
    return practice.schedule_session(
        client_id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    )


def last_details(practice: Practice) -> tuple[str, dict[str, object]]:
    entry = list(practice.audit_entries())[-1]
    return entry.outcome, json.loads(entry.details)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


LOCAL = datetime(2026, 1, 5, 10, 3, 20, tzinfo=timezone(timedelta(hours=1)))
S, E = CallState, CallEvent


def open_call(practice: Practice, session_id: str, clock: Clock | None = None) -> VideoCall:
    return practice.open_video_call(
        session_id, "https://relay.example", clock=clock or Clock(), now=lambda: LOCAL
    )


def drive(call: VideoCall, *steps: tuple[CallState, CallEvent]) -> None:
    for state, event in steps:
        call.lifecycle(state, event)


KNOCK = ((S.INVITED, E.INVITE_CREATED), (S.WAITING, E.HELLO_RECEIVED))
ADMIT = ((S.ADMITTED, E.ADMIT_GIVEN), (S.CONNECTING, E.NEGOTIATION_STARTED))
CONNECT = ((S.CONNECTED, E.MEDIA_CONNECTED),)


def test_opening_a_call_checks_the_appointment_and_records_the_invitation(
    practice: Practice, video: Session, new_entries: Entries, all_details: Callable[[], str]
) -> None:
    new_entries()
    call = open_call(practice, video.id)
    assert new_entries() == [("call.invite_created", "session", video.id)]
    assert last_details(practice) == ("success", {"client_id": video.client_id})
    assert call.link.startswith("https://relay.example/j/#")
    assert call.state is CallState.IDLE and call.client_name is None and not call.live


def test_each_lifecycle_step_writes_exactly_its_entry(
    practice: Practice, video: Session, new_entries: Entries, all_details: Callable[[], str]
) -> None:
    clock = Clock()
    call = open_call(practice, video.id, clock)
    new_entries()
    drive(call, *KNOCK)
    call.client_waiting(NAME)
    assert new_entries() == []  # a knock is not a step of the record
    drive(call, ADMIT[0])
    assert new_entries() == [("call.client_admitted", "session", video.id)]
    drive(call, ADMIT[1])
    assert new_entries() == []
    drive(call, *CONNECT)
    assert new_entries() == [
        ("call.started", "session", video.id),
        ("session.updated", "session", video.id),
    ]
    assert call.live and call.elapsed() == 0.0
    assert not call.mark_verified()  # no code yet: nothing to verify
    call.code_ready("048213")
    assert call.mark_verified() and not call.mark_verified()  # once
    assert not call.codes_differ()  # already judged
    assert new_entries() == [("call.verified", "session", video.id)]
    # A drop and a reconnection are the same call: no second start.
    drive(call, (S.RECONNECTING, E.MEDIA_INTERRUPTED), (S.CONNECTED, E.MEDIA_CONNECTED))
    assert new_entries() == []
    clock.now += 3012.4
    drive(call, (S.ENDED, E.HANG_UP))
    assert new_entries() == [("call.ended", "session", video.id)]
    assert last_details(practice) == (
        "success",
        {"client_id": video.client_id, "connected": True, "duration_seconds": 3012,
         "verified": True},
    )  # fmt: skip
    assert call.duration == pytest.approx(3012.4) and not call.live
    assert call.note_offer() is not None
    # The session may report more after the end (its threads stopping): nothing more is written.
    drive(call, (S.FAILED, E.ERROR))
    call.close()
    assert new_entries() == [] and call.state is CallState.ENDED
    assert NAME not in all_details() and "048213" not in all_details()


def test_a_declined_knock_and_a_failed_call(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    call = open_call(practice, video.id)
    new_entries()
    drive(call, *KNOCK, (S.ENDED, E.DECLINE_GIVEN))
    assert new_entries() == [
        ("call.client_declined", "session", video.id),
        ("call.ended", "session", video.id),
    ]
    assert last_details(practice)[1] == {
        "client_id": video.client_id, "connected": False, "duration_seconds": 0,
        "verified": False,
    }  # fmt: skip
    assert call.note_offer() is None  # never connected: no note offered

    clock = Clock()
    broken = open_call(practice, video.id, clock)
    new_entries()
    drive(broken, *KNOCK, *ADMIT, *CONNECT)
    broken.code_ready("111111")
    assert broken.codes_differ()
    clock.now += 125
    drive(broken, (S.FAILED, E.ERROR))
    assert [a for a, *_ in new_entries()] == [
        "call.client_admitted",
        "call.started",
        "session.updated",  # attended
        "call.verification_mismatch",
        "call.ended",
    ]
    assert last_details(practice) == (
        "failure",
        {"client_id": video.client_id, "connected": True, "duration_seconds": 125,
         "verified": False},
    )  # fmt: skip


def test_closing_a_live_call_records_its_end_once(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    clock = Clock()
    call = open_call(practice, video.id, clock)
    drive(call, *KNOCK, *ADMIT, *CONNECT)
    new_entries()
    clock.now += 42
    call.close()  # the app locks during the call
    call.close()
    drive(call, (S.ENDED, E.HANG_UP))  # the session's own report, after
    assert new_entries() == [("call.ended", "session", video.id)]
    assert last_details(practice)[1]["duration_seconds"] == 42
    assert call.finished and not call.live


def test_the_session_callbacks_reach_the_call_first(practice: Practice, video: Session) -> None:
    """observe() puts the call in front of the UI's callbacks: by the time the UI hears of a
    state, name or code, the call holds it."""

    @dataclass(frozen=True)
    class Callbacks:
        on_state: Callable[[CallState, CallEvent], None]
        on_client_waiting: Callable[[str], None]
        on_verification_code: Callable[[str], None]
        on_unverified: Callable[[], None]
        on_client_details: Callable[[str, str], None]
        on_peer_video: Callable[[bool], None]
        on_chat: Callable[[str], None]
        on_form_reply: Callable[[object], None] = lambda _reply: None

    call = open_call(practice, video.id)
    seen: list[object] = []
    ui = Callbacks(
        on_state=lambda state, _e: seen.append((state, call.state)),
        on_client_waiting=lambda name: seen.append((name, call.client_name)),
        on_verification_code=lambda code: seen.append((code, call.code)),
        on_unverified=lambda: seen.append(("unverified", call.unverified)),
        on_client_details=lambda where, _phone: seen.append((where, call.client_details)),
        on_peer_video=lambda video: seen.append((video, call.audio_only)),
        on_chat=seen.append,
    )
    wrapped = call.observe(ui)
    wrapped.on_state(S.INVITED, E.INVITE_CREATED)
    wrapped.on_client_waiting("Ana")
    wrapped.on_client_details("Lyon", "112")
    wrapped.on_unverified()  # (a late report: a code is in, so the call stays verifiable)
    wrapped.on_verification_code("123456")
    wrapped.on_peer_video(False)  # the client switched to audio only
    wrapped.on_chat("hello")
    assert seen == [
        (S.INVITED, S.INVITED),
        ("Ana", "Ana"),
        ("Lyon", SafetyDetails("Lyon", "112")),
        ("unverified", True),
        ("123456", "123456"),
        (False, True),
        "hello",
    ]
    assert not call.unverified  # the code arrived after all


def test_a_step_that_cannot_be_recorded_is_reported(
    practice: Practice, video: Session, client_id: str
) -> None:
    call = open_call(practice, video.id)
    problems: list[str] = []
    call.observe(
        Callbacks3(lambda *_: None, lambda _n: None, lambda _c: None), on_problem=problems.append
    )
    practice.archive_client(client_id)  # the record moved on meanwhile
    practice.lock()
    drive(call, *KNOCK, (S.ADMITTED, E.ADMIT_GIVEN))
    assert len(problems) == 1 and "was not recorded" in problems[0]
    assert call.problems == problems and call.state is CallState.ADMITTED


@dataclass(frozen=True)
class Callbacks3:
    on_state: Callable[[CallState, CallEvent], None]
    on_client_waiting: Callable[[str], None]
    on_verification_code: Callable[[str], None]
    on_unverified: Callable[[], None] = lambda: None
    on_client_details: Callable[[str, str], None] = lambda _where, _phone: None
    on_peer_video: Callable[[bool], None] = lambda _video: None
    on_form_reply: Callable[[object], None] = lambda _reply: None


def test_call_started_marks_the_appointment_attended(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    new_entries()
    drive(open_call(practice, video.id), *KNOCK, *ADMIT, *CONNECT)
    assert practice.check_video_session(video.id).attendance is Attendance.ATTENDED
    started = next(e for e in practice.audit_entries() if e.action == "call.started")
    assert json.loads(started.details) == {"client_id": video.client_id, "attendance_marked": True}
    # A second call of the same appointment leaves attendance alone.
    new_entries()
    drive(open_call(practice, video.id), *KNOCK, *ADMIT, *CONNECT)
    assert practice.check_video_session(video.id).attendance is Attendance.ATTENDED
    assert new_entries()[-1] == ("call.started", "session", video.id)
    assert last_details(practice)[1] == {"client_id": video.client_id, "attendance_marked": False}


def test_a_late_client_marked_no_show_becomes_attended(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    practice.update_session(video.id, attendance=Attendance.NO_SHOW)
    drive(open_call(practice, video.id), *KNOCK, *ADMIT, *CONNECT)
    assert practice.check_video_session(video.id).attendance is Attendance.ATTENDED


def test_the_calls_are_found_under_the_client(
    practice: Practice, video: Session, client_id: str
) -> None:
    call = open_call(practice, video.id)
    drive(call, *KNOCK, *ADMIT, *CONNECT)
    call.code_ready("123456")
    call.mark_verified()
    drive(call, (S.ENDED, E.BYE_RECEIVED))
    seen = practice.view_audit(AuditFilter(client_id=client_id))
    calls = [r.action for r in reversed(seen) if r.action.startswith("call.")]
    assert calls == [
        "call.invite_created",
        "call.client_admitted",
        "call.started",
        "call.verified",
        "call.ended",
    ]


def test_only_video_appointments_that_are_not_cancelled_can_start(
    practice: Practice, client_id: str, video: Session, new_entries: Entries
) -> None:
    assert practice.check_video_session(video.id) == video
    in_person = practice.schedule_session(client_id, datetime(2026, 1, 6, 9, tzinfo=UTC))
    phone = practice.schedule_session(
        client_id, datetime(2026, 1, 7, 9, tzinfo=UTC), modality=Modality.PHONE
    )
    cancelled = practice.schedule_session(
        client_id,
        datetime(2026, 1, 8, 9, tzinfo=UTC),
        modality=Modality.VIDEO,
        attendance=Attendance.CANCELLED,
    )
    new_entries()
    for session in (in_person, phone):
        with pytest.raises(NotAVideoSessionError, match="not a video session") as refused:
            practice.check_video_session(session.id)
        assert isinstance(refused.value, VideoSessionError)
        with pytest.raises(NotAVideoSessionError):
            open_call(practice, session.id)
        with pytest.raises(NotAVideoSessionError):
            practice.create_call_note(session.id, datetime.now(UTC), 60)
    with pytest.raises(SessionCancelledError, match="cancelled"):
        practice.check_video_session(cancelled.id)
    with pytest.raises(SessionCancelledError):
        open_call(practice, cancelled.id)
    with pytest.raises(SessionNotFoundError):
        practice.check_video_session("0" * 32)
    with pytest.raises(SessionNotFoundError):
        open_call(practice, "0" * 32)
    assert issubclass(VideoSessionError, PracticeError)
    assert new_entries() == []  # a refusal writes nothing

    practice.archive_client(client_id)
    new_entries()
    with pytest.raises(ClientArchivedError):
        practice.check_video_session(video.id)
    assert new_entries() == []


def test_the_call_note_is_prefilled_and_linked(
    practice: Practice, video: Session, new_entries: Entries, all_details: Callable[[], str]
) -> None:
    practice.update_settings(
        PracticeSettings(therapist_name="Dr Ada Test", therapist_credentials="PsyD")
    )
    started = datetime(2026, 1, 5, 10, 3, 20, tzinfo=timezone(timedelta(hours=1)))
    new_entries()
    note = practice.create_call_note(video.id, started, 50 * 60 + 12.3)
    assert new_entries() == [("note.created", "note", note.id)]
    assert last_details(practice)[1] == {"client_id": video.client_id, "compartment": "progress"}

    assert note.session_id == video.id and note.client_id == video.client_id
    assert note.compartment is Compartment.PROGRESS and note.status is NoteStatus.DRAFT
    assert note.template_key == "soap" and note.author == "Dr Ada Test, PsyD"
    # date, time, duration and modality are the note's header fields, not text in Subjective
    assert note.header == NoteHeader(started, 50, Modality.VIDEO)
    assert all(s.text == "" for s in note.sections)
    record = practice.open_client(video.client_id)
    assert [s.note_ids for s in record.sessions if s.id == video.id] == [(note.id,)]
    # It is an ordinary draft: editable, signable; the header is signed with it.
    practice.save_draft(note.id, {"subjective": "Client reports better sleep."})
    signed = practice.sign_note(note.id)
    assert signed.header == note.header
    assert signed.text("subjective") == "Client reports better sleep."
    assert practice.open_note(note.id).signature_check is SignatureCheck.VALID
    assert "better sleep" not in all_details()  # note text never reaches the log


def test_call_note_with_another_template(practice: Practice, video: Session) -> None:
    note = practice.create_call_note(
        video.id, datetime(2026, 1, 5, 23, 40, tzinfo=UTC), 3 * 3600 + 5, "dap"
    )
    assert note.template_key == "dap"
    assert note.header == NoteHeader(datetime(2026, 1, 5, 23, 40, tzinfo=UTC), 180, Modality.VIDEO)


def test_call_header_refuses_nonsense() -> None:
    with pytest.raises(InvalidFieldError):
        call_header(datetime(2026, 1, 5, 9), 60)
    with pytest.raises(InvalidFieldError):
        call_header(datetime(2026, 1, 5, 9, tzinfo=UTC), -1)
    with pytest.raises(InvalidFieldError):
        call_header(datetime(2026, 1, 5, 9, tzinfo=UTC), 25 * 3600)
    assert call_header(datetime(2026, 1, 5, 9, tzinfo=UTC), 9.4).duration_minutes == 0


def test_an_impossible_duration_is_refused(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    new_entries()
    with pytest.raises(InvalidFieldError):
        record_ended(practice._vault, video.id, -5.0, verified=False)
    with pytest.raises(InvalidFieldError):
        practice.create_call_note(video.id, datetime.now(UTC), 2 * 86_400)
    assert new_entries() == []


def test_a_new_knock_or_the_client_leaving_starts_a_new_verification(
    practice: Practice, video: Session, new_entries: Entries
) -> None:
    clock = Clock()
    call = open_call(practice, video.id, clock)
    drive(call, *KNOCK, *ADMIT, *CONNECT)
    call.code_ready("111111")
    assert call.mark_verified()
    new_entries()
    clock.now += 30
    drive(call, (S.INVITED, E.PEER_LEFT))  # the client left; the session stays open
    assert call.client_left and call.code is None and not call.verified and not call.finished
    assert new_entries() == [("call.device_left", "session", video.id)]
    assert last_details(practice)[1] == {
        "client_id": video.client_id,
        "device": 1,
        "duration_seconds": 30,
        "verified": True,
    }
    drive(call, (S.WAITING, E.HELLO_RECEIVED))  # "Join again"
    assert not call.rejoining and not call.client_left
    drive(call, *ADMIT, *CONNECT)
    call.not_verified()
    assert call.unverified
    drive(call, (S.WAITING, E.KNOCK_AGAIN))  # another device took the seat
    assert call.rejoining and not call.unverified and call.code is None
    clock.now += 60
    drive(call, (S.ENDED, E.HANG_UP))
    assert new_entries() == [
        ("call.client_admitted", "session", video.id),  # admitted again; started only once
        ("call.device_left", "session", video.id),  # another device took the seat
        ("call.ended", "session", video.id),
    ]
    assert last_details(practice)[1]["verified"] is False  # the last admission was not
    assert last_details(practice)[1]["duration_seconds"] == 90


def test_the_clients_location_is_kept_with_the_session_at_admission(
    practice: Practice, video: Session, new_entries: Entries, all_details: Callable[[], str]
) -> None:
    clock = Clock()
    call = open_call(practice, video.id, clock)
    drive(call, *KNOCK)
    call.details_given("Hotel Miramar, room 12, Santander", "+34 942 000 111")
    new_entries()
    drive(call, ADMIT[0])
    assert new_entries() == [
        ("call.client_admitted", "session", video.id),
        ("call.client_details", "session", video.id),
    ]
    assert "Miramar" not in all_details() and "942" not in all_details()  # kept, not logged
    drive(call, ADMIT[1], *CONNECT)
    clock.now += 50 * 60
    drive(call, (S.ENDED, E.HANG_UP))
    note = practice.write_call_note(call)
    assert note is not None
    header = note.sections[0].text
    assert "Client's location (confirmed by the client): Hotel Miramar, room 12, Santander\n" in (
        header
    )
    assert "Emergency phone number: +34 942 000 111\n" in header
    # A knock from another device forgets what the previous page said.
    again = open_call(practice, video.id)
    drive(again, *KNOCK)
    again.details_given("Somewhere", "112")
    drive(again, *ADMIT, *CONNECT, (S.WAITING, E.KNOCK_AGAIN))
    assert again.client_details is None
