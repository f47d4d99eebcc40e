"""Who sits in which room: the two seats of every room and the fan-out of frames between them.

A room has two seats, the therapist's and the client's. The therapist's seat is taken by a socket
that holds an operator-issued credential (or, with open admission, by whoever comes first); the
client's seat only while the therapist's is taken. A room exists while either seat is taken.

Two implementations share this interface: :class:`LocalRooms` for a single relay process, and
``telehealth.relay_redis.RedisRooms`` for several relay instances sharing rooms through Redis.
Both call back into the relay through :class:`RoomEvents` to deliver frames and presence to the
sockets this process holds; members are named ``"<instance>:<n>"``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Seat(Enum):
    THERAPIST = "t"
    CLIENT = "c"


class Claim(Enum):
    OK = "ok"
    NO_THERAPIST = "no-therapist"  # a client came before the therapist
    FULL = "full"  # the seat is taken by someone who is still there
    QUOTA = "quota"  # the credential already holds its maximum number of rooms


@dataclass(frozen=True)
class Claimed:
    outcome: Claim
    replaced: str | None = None  # the member whose seat this claim took over (same credential)


class RoomEvents(Protocol):
    """What the room directory tells the relay process about the sockets it holds."""

    async def deliver(self, room_id: str, sender: str, text: str) -> None: ...

    async def presence(self, room_id: str, count: int) -> None: ...

    async def kick(self, member: str) -> None: ...


class Rooms(Protocol):
    """The room directory (see the module docstring)."""

    async def start(self, events: RoomEvents) -> None: ...

    async def stop(self) -> None: ...

    async def claim(
        self, room_id: str, seat: Seat, member: str, credential: str | None, quota: int
    ) -> Claimed: ...

    async def leave(self, room_id: str, member: str) -> None: ...

    async def forward(self, room_id: str, sender: str, text: str) -> None: ...

    async def watch(self, room_id: str) -> None:
        """Start telling this process about ``room_id`` (a client waits for its therapist)."""
        ...

    async def unwatch(self, room_id: str) -> None: ...

    async def therapist_present(self, room_id: str) -> bool: ...

    async def age(self, room_id: str) -> float | None:
        """Seconds since the room was opened, or ``None`` if there is no such room."""
        ...


@dataclass
class _LocalRoom:
    created_at: float
    credential: str | None
    therapist: str | None = None
    client: str | None = None

    @property
    def count(self) -> int:
        return (self.therapist is not None) + (self.client is not None)


class LocalRooms:
    """Rooms of one relay process, in memory."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rooms: dict[str, _LocalRoom] = {}
        self._by_credential: dict[str, set[str]] = {}
        self._events: RoomEvents | None = None
        self._clock = clock

    async def start(self, events: RoomEvents) -> None:
        self._events = events

    async def stop(self) -> None:
        self._events = None

    async def _presence(self, room_id: str, count: int) -> None:
        if self._events is not None:
            await self._events.presence(room_id, count)

    async def claim(
        self, room_id: str, seat: Seat, member: str, credential: str | None, quota: int
    ) -> Claimed:
        room = self._rooms.get(room_id)
        replaced: str | None = None
        if seat is Seat.CLIENT:
            if room is None or room.therapist is None:
                return Claimed(Claim.NO_THERAPIST)
            if room.client is not None:
                return Claimed(Claim.FULL)
            room.client = member
        else:
            if room is None:
                if credential is not None:
                    held = self._by_credential.setdefault(credential, set())
                    if len(held) >= quota:
                        return Claimed(Claim.QUOTA)
                    held.add(room_id)
                room = self._rooms[room_id] = _LocalRoom(self._clock(), credential)
            elif room.therapist is not None:
                # The same credential may take its own seat back (a therapist reconnecting
                # before the relay noticed the old socket die); anyone else may not.
                if credential is None or credential != room.credential:
                    return Claimed(Claim.FULL)
                replaced = room.therapist
            elif credential is not None and room.credential not in (None, credential):
                return Claimed(Claim.FULL)
            room.therapist = member
        if replaced is not None and self._events is not None:
            await self._events.kick(replaced)
        await self._presence(room_id, room.count)
        return Claimed(Claim.OK, replaced=replaced)

    async def leave(self, room_id: str, member: str) -> None:
        room = self._rooms.get(room_id)
        if room is None:
            return
        if room.therapist == member:
            room.therapist = None
        elif room.client == member:
            room.client = None
        else:
            return
        if room.count == 0:
            del self._rooms[room_id]
            if room.credential is not None:
                held = self._by_credential.get(room.credential, set())
                held.discard(room_id)
                if not held:
                    self._by_credential.pop(room.credential, None)
        await self._presence(room_id, room.count)

    async def forward(self, room_id: str, sender: str, text: str) -> None:
        if self._events is not None:
            await self._events.deliver(room_id, sender, text)

    async def watch(self, room_id: str) -> None:
        return None

    async def unwatch(self, room_id: str) -> None:
        return None

    async def therapist_present(self, room_id: str) -> bool:
        room = self._rooms.get(room_id)
        return room is not None and room.therapist is not None

    async def age(self, room_id: str) -> float | None:
        room = self._rooms.get(room_id)
        return None if room is None else self._clock() - room.created_at
