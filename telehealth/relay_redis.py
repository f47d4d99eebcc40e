"""Rooms shared between several relay instances through Redis (``redis_url``).

Each instance keeps its own sockets; Redis keeps who sits in which seat and carries the frames.

* ``qr:i:<instance>`` exists while an instance is alive (a short expiry it keeps renewing). A
  seat held by a member of an instance that is gone is free: after an instance stops (or dies),
  both people reconnect through another instance and take their seats back.
* ``qr:r:<h>`` is a room's hash (therapist, client, credential id, opening time), where ``<h>`` is
  half the SHA-256 of the room id: Redis never holds a room id. It expires unless an instance
  with a socket in it renews it.
* ``qr:q:<credential id>`` is a sorted set of the rooms a credential holds (for its quota).
* Channel ``qr:c:<h>`` carries the room's frames, presence changes and "close this socket"
  requests to every instance that holds a socket of the room (or a client waiting for it).

Seat claims run as Lua scripts, so two instances never give one seat to two sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, Final

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from telehealth.errors import RelayConfigError, RoomsUnavailableError
from telehealth.relay_rooms import Claim, Claimed, RoomEvents, Seat

log = logging.getLogger("telehealth.relay")

INSTANCE_TTL_MS: Final = 3000
ROOM_TTL_MS: Final = 30_000
RENEW_EVERY: Final = 1.0
MAX_CONNECTIONS: Final = 32


@contextlib.asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    """Redis failures reach the relay as one error it knows (it closes just that socket)."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise RoomsUnavailableError(f"Redis: {type(exc).__name__}") from exc


_ALIVE = """
local function alive(m)
  if not m then return false end
  local inst = string.match(m, '^(.*):[0-9]+$')
  return inst ~= nil and redis.call('EXISTS', 'qr:i:' .. inst) == 1
end
"""

_CLAIM = (
    _ALIVE
    + """
local room, quota_key = KEYS[1], KEYS[2]
local seat, member, cred, quota = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local now, ttl, h = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
local t = redis.call('HGET', room, 't')
if t and not alive(t) then redis.call('HDEL', room, 't'); t = false end
local c = redis.call('HGET', room, 'c')
if c and not alive(c) then redis.call('HDEL', room, 'c'); c = false end
if seat == 'c' then
  if not t then return {'no-therapist', 0, ''} end
  if c then return {'full', 0, ''} end
  redis.call('HSET', room, 'c', member)
  redis.call('PEXPIRE', room, ttl)
  return {'ok', 2, ''}
end
if not t and not c then
  local old = redis.call('HGET', room, 'cred')
  if old and old ~= '' then redis.call('ZREM', 'qr:q:' .. old, h) end
  if cred ~= '' then
    redis.call('ZREMRANGEBYSCORE', quota_key, '-inf', now)
    if redis.call('ZCARD', quota_key) >= quota then return {'quota', 0, ''} end
    redis.call('ZADD', quota_key, now + ttl, h)
    redis.call('PEXPIRE', quota_key, ttl)
  end
  redis.call('DEL', room)
  redis.call('HSET', room, 'cred', cred, 'born', now, 't', member)
  redis.call('PEXPIRE', room, ttl)
  return {'ok', 1, ''}
end
local room_cred = redis.call('HGET', room, 'cred') or ''
local replaced = ''
if t then
  if cred == '' or cred ~= room_cred then return {'full', 0, ''} end
  replaced = t
elseif cred ~= '' and room_cred ~= '' and room_cred ~= cred then
  return {'full', 0, ''}
end
redis.call('HSET', room, 't', member)
redis.call('PEXPIRE', room, ttl)
if c then return {'ok', 2, replaced} end
return {'ok', 1, replaced}
"""
)

_LEAVE = """
local room, member, h = KEYS[1], ARGV[1], ARGV[2]
local t = redis.call('HGET', room, 't')
local c = redis.call('HGET', room, 'c')
if t == member then redis.call('HDEL', room, 't'); t = false
elseif c == member then redis.call('HDEL', room, 'c'); c = false
else return -1 end
if not t and not c then
  local cred = redis.call('HGET', room, 'cred')
  if cred and cred ~= '' then redis.call('ZREM', 'qr:q:' .. cred, h) end
  redis.call('DEL', room)
  return 0
end
if t and c then return 2 end
return 1
"""

_PRESENT = (
    _ALIVE
    + """
local t = redis.call('HGET', KEYS[1], 't')
if alive(t) then return 1 end
return 0
"""
)

_RENEW = """
local ttl, now = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, room in ipairs(KEYS) do
  if redis.call('PEXPIRE', room, ttl) == 1 then
    local cred = redis.call('HGET', room, 'cred')
    if cred and cred ~= '' then
      redis.call('ZADD', 'qr:q:' .. cred, 'XX', now + ttl, ARGV[2 + i])
      redis.call('PEXPIRE', 'qr:q:' .. cred, ttl)
    end
  end
end
return 0
"""


def room_hash(room_id: str) -> str:
    return hashlib.sha256(room_id.encode("ascii", "replace")).hexdigest()[:32]


class RedisRooms:
    """The room directory in Redis (see the module docstring)."""

    def __init__(self, url: str, *, instance: str | None = None) -> None:
        self.url = url
        self.instance = instance or secrets.token_hex(4)
        self._redis: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._events: RoomEvents | None = None
        self._reader: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._subscriptions: Counter[str] = Counter()  # room hash -> local reasons to listen
        self._room_ids: dict[str, str] = {}  # room hash -> room id (rooms we listen to)
        self._held: Counter[str] = Counter()  # room hash -> seats held by this instance
        self._scripts: dict[str, Any] = {}

    @property
    def redis(self) -> aioredis.Redis:
        assert self._redis is not None, "RedisRooms used before start()"
        return self._redis

    async def start(self, events: RoomEvents) -> None:
        self._events = events
        try:
            # A bounded pool that waits for a free connection rather than failing under a burst.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=MAX_CONNECTIONS, timeout=10, decode_responses=True
            )
            self._redis = aioredis.Redis(connection_pool=pool)
            await self._redis.ping()
        except (RedisError, OSError, ValueError) as exc:
            raise RelayConfigError(
                f"cannot reach Redis at the configured redis_url: {exc}"
            ) from exc
        for name, body in (
            ("claim", _CLAIM),
            ("leave", _LEAVE),
            ("present", _PRESENT),
            ("renew", _RENEW),
        ):
            self._scripts[name] = self._redis.register_script(body)
        await self._alive()
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(f"qr:x:{self.instance}")  # keeps the listener connected
        self._reader = asyncio.create_task(self._read())
        self._renewer = asyncio.create_task(self._renew_loop())
        log.info("rooms shared through Redis (instance %s)", self.instance)

    async def stop(self) -> None:
        for task in (self._reader, self._renewer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RedisError):
                    await task
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(f"qr:i:{self.instance}")
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()
        self._events = None

    async def _alive(self) -> None:
        await self.redis.set(f"qr:i:{self.instance}", "1", px=INSTANCE_TTL_MS)

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await self._alive()
                held = [h for h, n in self._held.items() if n > 0]
                if held:
                    now = int(time.time() * 1000)
                    await self._scripts["renew"](
                        keys=[f"qr:r:{h}" for h in held], args=[ROOM_TTL_MS, now, *held]
                    )
            except (RedisError, OSError) as exc:
                log.warning("cannot renew this instance's rooms in Redis: %s", type(exc).__name__)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (RedisError, OSError) as exc:
                log.warning("lost the Redis subscription: %s", type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            await self._dispatch(str(message["channel"]), str(message["data"]))

    async def _dispatch(self, channel: str, data: str) -> None:
        h = channel.removeprefix("qr:c:")
        room_id = self._room_ids.get(h)
        events = self._events
        if room_id is None or events is None:
            return
        kind, _, rest = data.partition("|")
        if kind == "F":
            sender, _, text = rest.partition("|")
            await events.deliver(room_id, sender, text)
        elif kind == "P":
            await events.presence(room_id, int(rest))
        elif kind == "K" and rest.startswith(self.instance + ":"):
            await events.kick(rest)

    async def _listen(self, room_id: str) -> str:
        h = room_hash(room_id)
        self._subscriptions[h] += 1
        if self._subscriptions[h] == 1:
            self._room_ids[h] = room_id
            await self._pubsub.subscribe(f"qr:c:{h}")
        return h

    async def _unlisten(self, room_id: str) -> None:
        h = room_hash(room_id)
        if self._subscriptions[h] <= 0:
            return
        self._subscriptions[h] -= 1
        if self._subscriptions[h] == 0:
            del self._subscriptions[h]
            self._room_ids.pop(h, None)
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(f"qr:c:{h}")

    async def claim(
        self, room_id: str, seat: Seat, member: str, credential: str | None, quota: int
    ) -> Claimed:
        cred = credential or ""
        async with _unavailable():
            h = await self._listen(room_id)
            try:
                result = await self._scripts["claim"](
                    keys=[f"qr:r:{h}", f"qr:q:{cred}"],
                    args=[seat.value, member, cred, quota, int(time.time() * 1000), ROOM_TTL_MS, h],
                )
            except BaseException:
                await self._unlisten(room_id)
                raise
            outcome, count, replaced = str(result[0]), int(result[1]), str(result[2])
            if outcome != "ok":
                await self._unlisten(room_id)
                return Claimed(Claim(outcome))
            self._held[h] += 1
            if replaced:
                await self.redis.publish(f"qr:c:{h}", f"K|{replaced}")
            await self.redis.publish(f"qr:c:{h}", f"P|{count}")
            return Claimed(Claim.OK, replaced=replaced or None)

    async def leave(self, room_id: str, member: str) -> None:
        h = room_hash(room_id)
        try:
            async with _unavailable():
                count = int(await self._scripts["leave"](keys=[f"qr:r:{h}"], args=[member, h]))
                if count >= 0:
                    await self.redis.publish(f"qr:c:{h}", f"P|{count}")
        finally:
            if self._held[h] > 0:
                self._held[h] -= 1
                if self._held[h] == 0:
                    del self._held[h]
            await self._unlisten(room_id)

    async def forward(self, room_id: str, sender: str, text: str) -> None:
        async with _unavailable():
            await self.redis.publish(f"qr:c:{room_hash(room_id)}", f"F|{sender}|{text}")

    async def watch(self, room_id: str) -> None:
        async with _unavailable():
            await self._listen(room_id)

    async def unwatch(self, room_id: str) -> None:
        await self._unlisten(room_id)

    async def therapist_present(self, room_id: str) -> bool:
        async with _unavailable():
            key = f"qr:r:{room_hash(room_id)}"
            return bool(await self._scripts["present"](keys=[key], args=[]))

    async def age(self, room_id: str) -> float | None:
        async with _unavailable():
            born = await self.redis.hget(f"qr:r:{room_hash(room_id)}", "born")
        if born is None:
            return None
        return time.time() - int(born) / 1000
