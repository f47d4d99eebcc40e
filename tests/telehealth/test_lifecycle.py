from __future__ import annotations

import re
from pathlib import Path

import pytest

from telehealth import lifecycle
from telehealth.errors import InvalidTransitionError, TelehealthError
from telehealth.lifecycle import TRANSITIONS, CallEvent, CallLifecycle, CallState, Effect

E, S, F = CallEvent, CallState, Effect
# Relative to this checkout, not to the package: CI tests an installed (non-editable) copy.
DOCS = Path(__file__).resolve().parents[2] / "docs" / "telehealth.md"


def run(events: list[CallEvent]) -> list[tuple[CallState, tuple[Effect, ...]]]:
    machine = CallLifecycle()
    steps = []
    for event in events:
        effects = machine.handle(event)
        steps.append((machine.state, effects))
    return steps


def test_therapist_happy_path_with_a_reconnect() -> None:
    assert run(
        [
            E.INVITE_CREATED,
            E.HELLO_RECEIVED,
            E.ADMIT_GIVEN,
            E.NEGOTIATION_STARTED,
            E.MEDIA_CONNECTED,
            E.MEDIA_INTERRUPTED,
            E.MEDIA_CONNECTED,
            E.HANG_UP,
            E.RESET,
        ]
    ) == [
        (S.INVITED, (F.CONNECT_RELAY,)),
        (S.WAITING, (F.NOTIFY_CLIENT_WAITING,)),
        (S.ADMITTED, (F.SEND_ADMIT, F.OPEN_MEDIA)),
        (S.CONNECTING, (F.START_CONNECT_TIMER,)),
        (S.CONNECTED, (F.STOP_CONNECT_TIMER, F.SHOW_VERIFICATION_CODE, F.START_VERIFY_TIMER)),
        (S.RECONNECTING, (F.SHOW_RECONNECTING, F.START_RECONNECT_TIMER, F.RESTART_MEDIA)),
        (S.CONNECTED, (F.STOP_RECONNECT_TIMER,)),
        (S.ENDED, (F.SEND_BYE, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_ENDED)),
        (S.IDLE, ()),
    ]


def test_client_happy_path_ended_by_the_therapist() -> None:
    assert run(
        [
            E.INVITE_OPENED,
            E.HELLO_SENT,
            E.ADMIT_RECEIVED,
            E.NEGOTIATION_STARTED,
            E.MEDIA_CONNECTED,
            E.BYE_RECEIVED,
        ]
    ) == [
        (S.INVITED, (F.CONNECT_RELAY, F.SEND_HELLO)),
        (S.WAITING, (F.SHOW_WAITING_ROOM,)),
        (S.ADMITTED, (F.OPEN_MEDIA,)),
        (S.CONNECTING, (F.START_CONNECT_TIMER,)),
        (S.CONNECTED, (F.STOP_CONNECT_TIMER, F.SHOW_VERIFICATION_CODE, F.START_VERIFY_TIMER)),
        (S.ENDED, (F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_ENDED)),
    ]


def test_declined_client() -> None:
    assert run([E.INVITE_OPENED, E.HELLO_SENT, E.DECLINE_RECEIVED]) == [
        (S.INVITED, (F.CONNECT_RELAY, F.SEND_HELLO)),
        (S.WAITING, (F.SHOW_WAITING_ROOM,)),
        (S.ENDED, (F.CLOSE_RELAY, F.SHOW_DECLINED)),
    ]
    assert run([E.INVITE_CREATED, E.HELLO_RECEIVED, E.HELLO_RECEIVED, E.DECLINE_GIVEN])[-2:] == [
        (S.WAITING, (F.NOTIFY_CLIENT_WAITING,)),
        (S.ENDED, (F.SEND_DECLINE, F.CLOSE_RELAY, F.SHOW_ENDED)),
    ]


def test_connect_timeout_fails_the_call() -> None:
    assert run(
        [E.INVITE_CREATED, E.HELLO_RECEIVED, E.ADMIT_GIVEN, E.NEGOTIATION_STARTED, E.TIMED_OUT]
    )[-1] == (
        S.FAILED,
        (F.SEND_BYE, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_FAILURE),
    )


def test_reconnect_timeout_and_errors_stop_their_timers() -> None:
    base = [E.INVITE_CREATED, E.HELLO_RECEIVED, E.ADMIT_GIVEN, E.NEGOTIATION_STARTED]
    assert run([*base, E.ERROR])[-1] == (
        S.FAILED,
        (F.STOP_CONNECT_TIMER, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_FAILURE),
    )
    reconnecting = [*base, E.MEDIA_CONNECTED, E.MEDIA_INTERRUPTED]
    assert run([*reconnecting, E.TIMED_OUT])[-1][0] is S.FAILED
    assert run([*reconnecting, E.HANG_UP])[-1] == (
        S.ENDED,
        (F.STOP_RECONNECT_TIMER, F.SEND_BYE, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_ENDED),
    )


@pytest.mark.parametrize(
    ("events", "bad"),
    [
        ([], E.ADMIT_GIVEN),
        ([], E.MEDIA_CONNECTED),
        ([E.INVITE_CREATED], E.ADMIT_GIVEN),  # nobody is waiting yet
        ([E.INVITE_CREATED, E.HELLO_RECEIVED, E.HANG_UP], E.ADMIT_GIVEN),  # after the end
        ([E.INVITE_CREATED, E.HELLO_RECEIVED, E.DECLINE_GIVEN], E.HANG_UP),
        ([E.INVITE_OPENED, E.HELLO_SENT, E.ADMIT_RECEIVED], E.MEDIA_INTERRUPTED),
        ([E.INVITE_CREATED], E.RESET),
    ],
)
def test_invalid_transitions_raise_and_leave_the_state_alone(
    events: list[CallEvent], bad: CallEvent
) -> None:
    machine = CallLifecycle()
    for event in events:
        machine.handle(event)
    before = machine.state
    assert not machine.can_handle(bad)
    with pytest.raises(InvalidTransitionError) as info:
        machine.handle(bad)
    assert isinstance(info.value, TelehealthError)
    assert info.value.state == before.value and info.value.event == bad.value
    assert machine.state is before


def test_observer_sees_every_transition() -> None:
    seen: list[tuple[CallState, CallEvent, CallState]] = []
    machine = CallLifecycle(on_transition=lambda a, e, b, _fx: seen.append((a, e, b)))
    machine.handle(E.INVITE_CREATED)
    machine.handle(E.HANG_UP)
    assert seen == [(S.IDLE, E.INVITE_CREATED, S.INVITED), (S.INVITED, E.HANG_UP, S.ENDED)]


def test_table_shape() -> None:
    reachable = {S.IDLE} | {target for target, _ in TRANSITIONS.values()}
    assert reachable == set(CallState)
    for state in set(CallState) - lifecycle.TERMINAL_STATES - {S.IDLE}:
        # Every live call can always be hung up and fail.
        assert (state, E.HANG_UP) in TRANSITIONS and (state, E.ERROR) in TRANSITIONS
    for state in lifecycle.TERMINAL_STATES:
        assert {e for (s, e) in TRANSITIONS if s is state} == {E.RESET}
    for (state, event), (target, effects) in TRANSITIONS.items():
        if target in lifecycle.TERMINAL_STATES:
            assert F.CLOSE_RELAY in effects, (state, event)
        if state in (S.CONNECTING, S.RECONNECTING, S.CONNECTED, S.ADMITTED) and target in (
            lifecycle.TERMINAL_STATES
        ):
            assert F.CLOSE_MEDIA in effects, (state, event)
    with pytest.raises(TypeError):
        TRANSITIONS[(S.IDLE, E.RESET)] = (S.IDLE, ())  # type: ignore[index]


def test_docs_diagram_matches_the_table() -> None:
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```mermaid\n(.*?)```", text, flags=re.DOTALL)
    assert lifecycle.to_mermaid() in blocks
