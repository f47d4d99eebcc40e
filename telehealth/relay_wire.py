"""What the relay itself puts on the wire: WebSocket close codes and presence notices.

Everything else on a room's sockets is an opaque sealed envelope from the other participant: the
relay forwards only frames that start as an envelope does (:data:`ENVELOPE_PREFIX`), so a
participant cannot pass off a presence notice of its own to the other. Presence notices come from
the relay, are not authenticated, and are only hints ("the other person is here": show it, send
the hello again, try a new offer now rather than later); nothing security-relevant depends on
them, and a relay that lies about presence can only delay a call, as it could by dropping frames.
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import Final


class CloseCode(IntEnum):
    """Why the relay closed a socket (4000-4999 is the range RFC 6455 leaves to applications)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # the relay is shutting down
    ROOM_FULL = 4001  # two participants are already in this room
    MALFORMED = 4002  # a binary frame, or text that cannot be a sealed envelope
    TOO_BIG = 1009  # a frame over the size limit (RFC 6455 "message too big")
    RATE_LIMITED = 4004  # more frames than the rate limit allows
    ROOM_EXPIRED = 4005  # the room reached its maximum lifetime
    TOO_MANY_ROOMS = 4006  # this address has too many sockets open
    BAD_ROOM_ID = 4007  # the room id is not 32 lowercase hex characters
    RELAY_BUSY = 4008  # the relay holds its maximum number of rooms (or of waiting clients)
    CREDENTIAL_REFUSED = 4009  # the therapist's relay credential is unknown or revoked
    ROOM_QUOTA = 4010  # the therapist's credential already holds its maximum number of rooms
    THERAPIST_ABSENT = 4011  # a client waited for the therapist too long; join again


PRESENCE_KEY: Final = "relay"
ENVELOPE_PREFIX: Final = '{"v":'  # every sealed envelope starts so (telehealth.sealing)


def presence_notice(peers: int) -> str:
    """The notice sent to every socket in a room when its membership changes."""
    return json.dumps({PRESENCE_KEY: "peers", "count": peers}, separators=(",", ":"))


def parse_presence_notice(text: str) -> int | None:
    """The peer count if ``text`` is a presence notice, else ``None`` (it is an envelope then)."""
    if not text.startswith('{"relay"'):
        return None
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if (
        isinstance(obj, dict)
        and set(obj) == {PRESENCE_KEY, "count"}
        and obj[PRESENCE_KEY] == "peers"
        and type(obj["count"]) is int
        and 0 <= obj["count"] <= 2
    ):
        return int(obj["count"])
    return None
