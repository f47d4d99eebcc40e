"""The sealed mailbox shared by several relay instances through Redis (``redis_url``), so that a
form put in on one instance is fetched, answered and collected through any other.

* ``qr:mb:<h>`` is a box's hash: ``form`` and, once answered, ``reply`` (the two sealed
  envelopes), ``e`` (the expiry, Unix milliseconds) and ``o`` (the owner tag of
  :func:`telehealth.mailbox.owner_tag`), where ``<h>`` is half the SHA-256 of the box id: Redis
  never holds a box id, as it never holds a room id. The key expires with the box.
* ``qr:mb:all`` and ``qr:mb:o:<owner tag>`` are sorted sets of ``<h>`` by expiry, for the
  relay's limits (boxes in all, boxes per credential); expired members are dropped as they are
  counted and by the sweeper.

Creating a box and answering it run as Lua scripts: one box per id, one reply per box, even
when two instances are asked at once. A Redis failure answers 503 (the app and the page say the
service could not be reached, and try again later).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Final

import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from telehealth.errors import RelayConfigError
from telehealth.mailbox import Box

PREFIX: Final = "qr:mb:"
ALL: Final = "qr:mb:all"
MAX_CONNECTIONS: Final = 16

_CREATE = """
local box, all_key, owner_key = KEYS[1], KEYS[2], KEYS[3]
local form, owner, expires, h = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
if redis.call('EXISTS', box) == 1 then return 0 end
redis.call('HSET', box, 'form', form, 'o', owner, 'e', ARGV[3])
redis.call('PEXPIREAT', box, expires)
redis.call('ZADD', all_key, expires, h)
if owner ~= '' then redis.call('ZADD', owner_key, expires, h) end
return 1
"""

_REPLY = """
local box, reply, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
local e = redis.call('HGET', box, 'e')
if not e or tonumber(e) <= now then return 'missing' end
if redis.call('HEXISTS', box, 'reply') == 1 then return 'answered' end
redis.call('HSET', box, 'reply', reply)
return 'stored'
"""

_DELETE = """
local box, all_key, h = KEYS[1], KEYS[2], ARGV[1]
local owner = redis.call('HGET', box, 'o')
redis.call('DEL', box)
redis.call('ZREM', all_key, h)
if owner and owner ~= '' then redis.call('ZREM', 'qr:mb:o:' .. owner, h) end
return 1
"""


def box_hash(box_id: str) -> str:
    """What Redis may know of a box: half the SHA-256 of its id."""
    return hashlib.sha256(box_id.encode("ascii", "replace")).hexdigest()[:32]


@contextlib.asynccontextmanager
async def _unavailable() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise web.HTTPServiceUnavailable() from exc


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class RedisMailbox:
    """A :class:`telehealth.mailbox.MailboxStore` in Redis."""

    def __init__(self, url: str) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise RelayConfigError("redis_url must start with redis://, rediss:// or unix://")
        self.redis = aioredis.from_url(url, decode_responses=True,
                                       max_connections=MAX_CONNECTIONS)  # fmt: skip
        self._create = self.redis.register_script(_CREATE)
        self._reply = self.redis.register_script(_REPLY)
        self._delete = self.redis.register_script(_DELETE)

    async def create(self, box_id: str, box: Box) -> bool:
        h = box_hash(box_id)
        keys = [PREFIX + h, ALL, f"{PREFIX}o:{box.owner}"]
        async with _unavailable():
            made = await self._create(keys=keys, args=[box.form, box.owner,
                                                       _ms(box.expires_at), h])  # fmt: skip
        return bool(made)

    async def get(self, box_id: str, now: float) -> Box | None:
        async with _unavailable():
            raw = await self.redis.hgetall(PREFIX + box_hash(box_id))
        data = {str(k): str(v) for k, v in raw.items()}  # decode_responses: already str
        if "form" not in data:
            return None
        expires = int(data["e"]) / 1000
        if expires <= now:  # Redis's own expiry may lag by a moment
            return None
        return Box(data["form"], expires, data.get("o", ""), data.get("reply"))

    async def set_reply(self, box_id: str, reply: str, now: float) -> str:
        async with _unavailable():
            outcome = await self._reply(keys=[PREFIX + box_hash(box_id)], args=[reply, _ms(now)])
        return str(outcome)

    async def delete(self, box_id: str) -> None:
        h = box_hash(box_id)
        async with _unavailable():
            await self._delete(keys=[PREFIX + h, ALL], args=[h])

    async def sweep(self, now: float) -> int:
        """Forget the expired boxes' places in the counts (their keys expire by themselves)."""
        async with _unavailable():
            return int(await self.redis.zremrangebyscore(ALL, "-inf", _ms(now)))

    async def count(self, owner: str | None = None) -> int:
        key = ALL if owner is None else f"{PREFIX}o:{owner}"
        async with _unavailable():
            await self.redis.zremrangebyscore(key, "-inf", _ms(time.time()))
            return int(await self.redis.zcard(key))

    async def close(self) -> None:
        await self.redis.aclose()
