"""Couples and family sessions in the record: a second client device, invited for a second
participant the therapist names, admitted and verified on its own; entries per device (ids,
device numbers, seconds and flags only: never a name or a place); the session ends when every
device's session has; the note names the second participant."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from desktop.core.audit_story import ACTION_LABELS, sentence
from desktop.core.calls import SecondDeviceError, VideoCall, client_details_of
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.sessions import Modality, Session
from telehealth.lifecycle import CallEvent, CallState
from tests.desktop.core.test_calls import ADMIT, CONNECT, KNOCK, Clock, open_call

S, E = CallState, CallEvent
CLIENT = "Marisol Quennell-Oduya"
PARTNER = "Tomasz Wieczorek-Ibáñez"
Entries = Callable[[], list[tuple[str, str, str]]]


@pytest.fixture
def video(practice: Practice) -> Session:
    client = practice.create_client(ClientDetails(name=CLIENT))
    return practice.schedule_session(
        client.id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    )


def entries_since(practice: Practice, count: int) -> list[tuple[str, dict[str, object]]]:
    return [(e.action, json.loads(e.details)) for e in list(practice.audit_entries())[count:]]


def drive(device: object, *steps: tuple[CallState, CallEvent]) -> None:
    for state, event in steps:
        device.lifecycle(state, event)  # type: ignore[attr-defined]


def test_two_devices_each_admitted_and_verified_then_the_note_names_both(
    practice: Practice, video: Session, all_details: Callable[[], str]
) -> None:
    clock = Clock()
    call = open_call(practice, video.id, clock)
    client = {"client_id": video.client_id}
    start = len(list(practice.audit_entries()))

    # The client's device: as in any call.
    drive(call, *KNOCK)
    call.client_waiting("Marisol")
    call.details_given("Calle Mayor 3, Burgos", "+34 947 000 000")
    drive(call, *ADMIT, *CONNECT)
    call.code_ready("111111")
    assert call.mark_verified()

    # A second device for the partner: its own invitation, its own code.
    second = call.add_device(f"  {PARTNER} ")
    assert second.number == 2 and second.participant == PARTNER
    assert second.link != call.link and second.invite.relay_origin == "https://relay.example"
    assert call.second is second and call.devices == [call.first, second]
    with pytest.raises(SecondDeviceError):
        call.add_device("Someone else")  # one second device at a time
    clock.now += 60
    drive(second, *KNOCK)
    second.client_waiting("Tomek")
    second.details_given("Hotel Rex, Madrid", "+34 910 000 000")
    drive(second, *ADMIT, *CONNECT)
    assert second.code is None and not second.mark_verified()  # no code yet
    second.code_ready("222222")
    assert second.mark_verified() and not second.codes_differ()
    assert call.code == "111111" and call.verified  # device 1's own
    clock.now += 600
    assert second.connected_seconds() == 600

    # The partner leaves and comes back; the client stays.
    drive(second, (S.INVITED, E.PEER_LEFT))
    assert not second.verified and second.code is None and not call.finished and call.live
    drive(second, (S.WAITING, E.HELLO_RECEIVED), *ADMIT, *CONNECT)
    second.code_ready("333333")
    assert second.mark_verified()
    clock.now += 120

    # End session: each device's session ends; the call ends with the last one.
    drive(call, (S.ENDED, E.HANG_UP))
    assert not call.finished and call.live  # the partner's session is still closing
    drive(second, (S.ENDED, E.HANG_UP))
    assert call.finished and call.duration == 780

    assert entries_since(practice, start) == [
        ("call.client_admitted", client),
        ("call.client_details", client),
        ("call.started", client | {"attendance_marked": True}),
        ("session.updated", entries_since(practice, start)[3][1]),
        ("call.verified", client),
        ("call.invite_created", client | {"device": 2}),
        ("call.client_admitted", client | {"device": 2}),
        ("call.client_details", client | {"device": 2}),
        ("call.verified", client | {"device": 2}),
        ("call.device_left", client | {"device": 2, "duration_seconds": 600, "verified": True}),
        ("call.client_admitted", client | {"device": 2}),
        ("call.verified", client | {"device": 2}),
        ("call.device_left", client | {"device": 1, "duration_seconds": 780, "verified": True}),
        ("call.device_left", client | {"device": 2, "duration_seconds": 120, "verified": True}),
        (
            "call.ended",
            client | {"connected": True, "duration_seconds": 780, "verified": True, "devices": 2},
        ),
    ]
    log = all_details()
    for secret in (CLIENT, PARTNER, "Tomek", "Marisol", "Rex", "Burgos", "222222", "910 000 000"):
        assert secret not in log

    # The audit page tells each step in words, and which device it was about.
    names = {video.client_id: CLIENT}
    told = [
        sentence(r, names, lambda d: d.date().isoformat())
        for r in reversed(list(practice.view_audit()))  # newest first: oldest first here
        if r.action.startswith("call.")
    ][-14:-1]  # up to the end
    assert told == [
        "You let Marisol Q. in from the waiting room",
        "You saw where Marisol Q. was and their emergency number before letting them in (kept "
        "with the session)",
        "The video session with Marisol Q. connected",
        "You and Marisol Q. read the same security code",
        "You made an invitation link for a second participant's device, for Marisol Q.'s "
        "video session of 2026-01-05",
        "You let the second participant in from the waiting room",
        "You saw where the second participant was and their emergency number before letting "
        "them in (kept with the session)",
        "You and the second participant read the same security code",
        "The second participant left the video session after 10 minutes",
        "You let the second participant in from the waiting room",
        "You and the second participant read the same security code",
        "Marisol Q. left the video session after 13 minutes",
        "The second participant left the video session after 2 minutes",
    ]
    assert sentence(
        next(r for r in practice.view_audit() if r.action == "call.ended"), names, str
    ) == ("The video session with Marisol Q. and a second participant ended after 13 minutes")
    assert "call.device_left" in ACTION_LABELS

    # The note: who else took part, and where each was.
    note = practice.write_call_note(call)
    assert note is not None
    first = note.sections[0].text
    assert first.startswith(
        f"Second participant: {PARTNER}, from their own device (connected about 12 min; "
        "security code compared separately).\n\n"
        "Client's location (confirmed by the client): Calle Mayor 3, Burgos\n"
    )
    assert f"{PARTNER}'s location (confirmed by them): Hotel Rex, Madrid\n" in first
    assert f"{PARTNER}'s emergency phone number: +34 910 000 000\n" in first
    assert note.header is not None and note.header.duration_minutes == 13
    # Kept with the session in the vault (never in the log).
    assert practice._vault.query("SELECT name, device FROM call_participants") == [(PARTNER, 2)]
    assert [d.device for d in client_details_of(practice._vault, video.id)] == [1, 2]


def test_a_declined_or_mismatched_second_device_leaves_the_session_going(
    practice: Practice, video: Session
) -> None:
    clock = Clock()
    call = open_call(practice, video.id, clock)
    drive(call, *KNOCK, *ADMIT, *CONNECT)
    second = call.add_device(PARTNER)
    start = len(list(practice.audit_entries()))
    drive(second, *KNOCK, (S.ENDED, E.DECLINE_GIVEN))
    assert second.finished and not call.finished and call.live
    assert [a for a, _ in entries_since(practice, start)] == ["call.client_declined"]

    # Invited again: the new invitation replaces the ended one; a late report of the old one
    # changes nothing.
    again = call.add_device(PARTNER)
    assert again is not second and again.link != second.link and call.second is again
    drive(second, (S.ENDED, E.HANG_UP))
    drive(again, *KNOCK, *ADMIT, *CONNECT)
    again.code_ready("444444")
    clock.now += 5
    assert again.codes_differ()  # the caller cuts this device off
    drive(again, (S.ENDED, E.HANG_UP))
    assert not call.finished and call.state is S.CONNECTED
    assert entries_since(practice, start)[1:] == [
        ("call.invite_created", {"client_id": video.client_id, "device": 2}),
        ("call.client_admitted", {"client_id": video.client_id, "device": 2}),
        ("call.verification_mismatch", {"client_id": video.client_id, "device": 2}),
        (
            "call.device_left",
            {"client_id": video.client_id, "device": 2, "duration_seconds": 5, "verified": False},
        ),
    ]
    assert list(practice.audit_entries())[-2].outcome == "failure"  # the mismatch

    # The session ends with the client's device; the second one never stayed.
    clock.now += 55
    drive(call, (S.ENDED, E.HANG_UP))
    assert call.finished
    ended = entries_since(practice, start)[-1]
    assert ended[0] == "call.ended"
    assert ended[1]["devices"] == 2 and ended[1]["duration_seconds"] == 60
    assert ended[1]["verified"] is False  # neither device's code was confirmed


def test_a_second_participant_who_never_joined_and_the_refusals(
    practice: Practice, video: Session
) -> None:
    clock = Clock()
    call = open_call(practice, video.id, clock)
    for bad in ("", "   ", "x" * 101, "Ana\u202eBob", "Ana\nBob"):
        with pytest.raises(SecondDeviceError):
            call.add_device(bad)
    call.add_device(PARTNER)
    drive(call, *KNOCK, *ADMIT, *CONNECT)
    clock.now += 1800
    call.close()  # the app locks: the session is recorded as ended
    assert call.finished
    with pytest.raises(SecondDeviceError):
        call.add_device(PARTNER)  # over: nobody joins any more
    note = practice.write_call_note(call)
    assert note is not None
    assert note.sections[0].text.startswith(
        f"Second participant: {PARTNER} was invited to join from their own device, and did not "
        "join.\n\n"
    )
    last = list(practice.audit_entries())[-2:]  # the call's end, then the note
    assert [e.action for e in last] == ["call.ended", "note.created"]


def test_a_one_device_call_records_as_before(practice: Practice, video: Session) -> None:
    """Without a second device nothing new is written at the end, and the ended entry has no
    device count: the trail of a one-device call is unchanged."""
    clock = Clock()
    call: VideoCall = open_call(practice, video.id, clock)
    drive(call, *KNOCK, *ADMIT, *CONNECT)
    start = len(list(practice.audit_entries()))
    clock.now += 42
    drive(call, (S.ENDED, E.HANG_UP))
    ((action, details),) = entries_since(practice, start)
    assert action == "call.ended" and "devices" not in details
    assert call.second is None and call.note_offer() is not None
    assert call.note_offer().participant is None  # type: ignore[union-attr]
