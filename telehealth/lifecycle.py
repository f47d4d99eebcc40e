"""The call lifecycle as an explicit state machine: states, events, one transition table.

The machine is the same for both sides; events name who did what (``ADMIT_GIVEN`` happens on the
therapist's side, ``ADMIT_RECEIVED`` on the client's). Each transition returns the effects the
caller must carry out, in order. The machine does no I/O itself, so it is tested by feeding events
and asserting the exact states and effects; docs/telehealth.md holds the diagram, which a test keeps
in step with :data:`TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from types import MappingProxyType

from telehealth.errors import InvalidTransitionError


class CallState(Enum):
    IDLE = "idle"
    INVITED = "invited"  # invitation exists, our side is on the relay, nobody else yet
    WAITING = "waiting"  # the client is in the waiting room
    ADMITTED = "admitted"  # the therapist let the client in; media about to be negotiated
    CONNECTING = "connecting"  # offer/answer exchanged, ICE and DTLS in progress
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"  # media path lost, trying to get it back
    ENDED = "ended"  # someone hung up, declined, or left
    FAILED = "failed"  # could not connect, or lost for too long, or a protocol error


class CallEvent(Enum):
    INVITE_CREATED = "invite_created"  # therapist made an invitation
    INVITE_OPENED = "invite_opened"  # client opened the link
    HELLO_SENT = "hello_sent"  # client announced itself
    HELLO_RECEIVED = "hello_received"  # therapist saw the client arrive
    ADMIT_GIVEN = "admit_given"  # therapist pressed Admit
    ADMIT_RECEIVED = "admit_received"  # client was admitted
    DECLINE_GIVEN = "decline_given"  # therapist pressed Decline
    DECLINE_RECEIVED = "decline_received"  # client was declined
    NEGOTIATION_STARTED = "negotiation_started"  # offer sent (therapist) or received (client)
    MEDIA_CONNECTED = "media_connected"  # ICE + DTLS up
    MEDIA_INTERRUPTED = "media_interrupted"  # ICE disconnected
    TIMED_OUT = "timed_out"  # a stage took longer than its limit
    HANG_UP = "hang_up"  # our user ended the call
    BYE_RECEIVED = "bye_received"  # the other side ended the call
    PEER_LEFT = "peer_left"  # therapist: the client left; the same link lets them back in
    KNOCK_AGAIN = "knock_again"  # therapist: another page or device knocked during the call
    ERROR = "error"  # relay lost, protocol error, verification failure
    RESET = "reset"  # ready for a new call


class Effect(Enum):
    CONNECT_RELAY = "connect_relay"
    SEND_HELLO = "send_hello"
    SHOW_WAITING_ROOM = "show_waiting_room"  # client: "your therapist will let you in"
    NOTIFY_CLIENT_WAITING = "notify_client_waiting"  # therapist: "a client is waiting"
    SEND_ADMIT = "send_admit"
    SEND_DECLINE = "send_decline"
    OPEN_MEDIA = "open_media"  # create the peer connection, camera and microphone
    START_CONNECT_TIMER = "start_connect_timer"
    STOP_CONNECT_TIMER = "stop_connect_timer"
    SHOW_VERIFICATION_CODE = "show_verification_code"
    START_VERIFY_TIMER = "start_verify_timer"  # no code by then: say the call is not verified
    SHOW_PEER_LEFT = "show_peer_left"  # therapist: "they left; they can join again"
    SHOW_RECONNECTING = "show_reconnecting"
    START_RECONNECT_TIMER = "start_reconnect_timer"
    RESTART_MEDIA = "restart_media"  # offerer: new peer connection and offer; answerer: await it
    STOP_RECONNECT_TIMER = "stop_reconnect_timer"
    SEND_BYE = "send_bye"
    CLOSE_MEDIA = "close_media"
    CLOSE_RELAY = "close_relay"
    SHOW_DECLINED = "show_declined"
    SHOW_ENDED = "show_ended"
    SHOW_FAILURE = "show_failure"


S = CallState
E = CallEvent
F = Effect

Transition = tuple[CallState, tuple[Effect, ...]]

_PRE_MEDIA = (S.INVITED, S.WAITING)
_WITH_MEDIA = (S.ADMITTED, S.CONNECTING, S.CONNECTED, S.RECONNECTING)
_TIMERS = {
    S.CONNECTING: (F.STOP_CONNECT_TIMER,),
    S.RECONNECTING: (F.STOP_RECONNECT_TIMER,),
}


def _build() -> dict[tuple[CallState, CallEvent], Transition]:
    table: dict[tuple[CallState, CallEvent], Transition] = {
        (S.IDLE, E.INVITE_CREATED): (S.INVITED, (F.CONNECT_RELAY,)),
        (S.IDLE, E.INVITE_OPENED): (S.INVITED, (F.CONNECT_RELAY, F.SEND_HELLO)),
        (S.INVITED, E.HELLO_SENT): (S.WAITING, (F.SHOW_WAITING_ROOM,)),
        (S.INVITED, E.HELLO_RECEIVED): (S.WAITING, (F.NOTIFY_CLIENT_WAITING,)),
        (S.WAITING, E.ADMIT_GIVEN): (S.ADMITTED, (F.SEND_ADMIT, F.OPEN_MEDIA)),
        (S.WAITING, E.ADMIT_RECEIVED): (S.ADMITTED, (F.OPEN_MEDIA,)),
        (S.WAITING, E.DECLINE_GIVEN): (S.ENDED, (F.SEND_DECLINE, F.CLOSE_RELAY, F.SHOW_ENDED)),
        (S.WAITING, E.DECLINE_RECEIVED): (S.ENDED, (F.CLOSE_RELAY, F.SHOW_DECLINED)),
        (S.ADMITTED, E.NEGOTIATION_STARTED): (S.CONNECTING, (F.START_CONNECT_TIMER,)),
        (S.CONNECTING, E.MEDIA_CONNECTED): (
            S.CONNECTED,
            (F.STOP_CONNECT_TIMER, F.SHOW_VERIFICATION_CODE, F.START_VERIFY_TIMER),
        ),
        # The client left the waiting room: the link still works, they may come back.
        (S.WAITING, E.PEER_LEFT): (S.INVITED, (F.SHOW_PEER_LEFT,)),
        (S.CONNECTED, E.MEDIA_INTERRUPTED): (
            S.RECONNECTING,
            (F.SHOW_RECONNECTING, F.START_RECONNECT_TIMER, F.RESTART_MEDIA),
        ),
        (S.RECONNECTING, E.MEDIA_CONNECTED): (S.CONNECTED, (F.STOP_RECONNECT_TIMER,)),
        (S.ENDED, E.RESET): (S.IDLE, ()),
        (S.FAILED, E.RESET): (S.IDLE, ()),
    }
    # A duplicate "hello" (the client page reloaded) keeps the therapist's waiting room as is.
    table[(S.WAITING, E.HELLO_RECEIVED)] = (S.WAITING, (F.NOTIFY_CLIENT_WAITING,))
    for state in _PRE_MEDIA:
        table[(state, E.HANG_UP)] = (S.ENDED, (F.SEND_BYE, F.CLOSE_RELAY, F.SHOW_ENDED))
        table[(state, E.BYE_RECEIVED)] = (S.ENDED, (F.CLOSE_RELAY, F.SHOW_ENDED))
        table[(state, E.TIMED_OUT)] = (S.FAILED, (F.SEND_BYE, F.CLOSE_RELAY, F.SHOW_FAILURE))
        table[(state, E.ERROR)] = (S.FAILED, (F.CLOSE_RELAY, F.SHOW_FAILURE))
    for state in _WITH_MEDIA:
        timers = _TIMERS.get(state, ())
        table[(state, E.HANG_UP)] = (
            S.ENDED,
            (*timers, F.SEND_BYE, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_ENDED),
        )
        table[(state, E.BYE_RECEIVED)] = (
            S.ENDED,
            (*timers, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_ENDED),
        )
        table[(state, E.ERROR)] = (
            S.FAILED,
            (*timers, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_FAILURE),
        )
        # The client left (their page said goodbye): the therapist's session stays open on the
        # relay, so "Join again" (a new page) knocks and is admitted like the first time.
        table[(state, E.PEER_LEFT)] = (S.INVITED, (*timers, F.CLOSE_MEDIA, F.SHOW_PEER_LEFT))
        # Another page or device took the client's seat (after a blip, a reload, or someone else
        # holding the link): no media until the therapist admits it, with a new code to compare.
        table[(state, E.KNOCK_AGAIN)] = (
            S.WAITING,
            (*timers, F.CLOSE_MEDIA, F.NOTIFY_CLIENT_WAITING),
        )
    for state in (S.ADMITTED, S.CONNECTING, S.RECONNECTING):
        table[(state, E.TIMED_OUT)] = (
            S.FAILED,
            (F.SEND_BYE, F.CLOSE_MEDIA, F.CLOSE_RELAY, F.SHOW_FAILURE),
        )
    return table


TRANSITIONS: Mapping[tuple[CallState, CallEvent], Transition] = MappingProxyType(_build())
TERMINAL_STATES = frozenset({S.ENDED, S.FAILED})


class CallLifecycle:
    """One call's current state; :meth:`handle` applies an event and returns its effects."""

    def __init__(
        self,
        *,
        on_transition: Callable[[CallState, CallEvent, CallState, tuple[Effect, ...]], None]
        | None = None,
    ) -> None:
        self._state = CallState.IDLE
        self._on_transition = on_transition

    @property
    def state(self) -> CallState:
        return self._state

    def can_handle(self, event: CallEvent) -> bool:
        return (self._state, event) in TRANSITIONS

    def handle(self, event: CallEvent) -> tuple[Effect, ...]:
        """Apply ``event``; raise :class:`InvalidTransitionError` if it does not fit the state."""
        try:
            new_state, effects = TRANSITIONS[(self._state, event)]
        except KeyError:
            raise InvalidTransitionError(self._state.value, event.value) from None
        old_state, self._state = self._state, new_state
        if self._on_transition is not None:
            self._on_transition(old_state, event, new_state, effects)
        return effects


def to_mermaid() -> str:
    """The transition table as a mermaid ``stateDiagram-v2`` (effects left out for legibility)."""
    lines = ["stateDiagram-v2", "    [*] --> idle"]
    edges: dict[tuple[CallState, CallState], list[str]] = {}
    for (source, event), (target, _effects) in sorted(
        TRANSITIONS.items(), key=lambda item: list(CallEvent).index(item[0][1])
    ):
        edges.setdefault((source, target), []).append(event.value)
    order = list(CallState)
    for (source, target), events in sorted(
        edges.items(), key=lambda item: (order.index(item[0][0]), order.index(item[0][1]))
    ):
        lines.append(f"    {source.value} --> {target.value}: {', '.join(events)}")
    return "\n".join(lines) + "\n"
