"""The sealed mailbox on the relay: forms filled in between sessions, while the therapist's app
may be closed. It holds ciphertext only, under a random name, and forgets it when it expires.

What it stores per box (named by the box id derived from the link's secret, see
:mod:`telehealth.mailbox_box`): the therapist's sealed form envelope, then at most one sealed
reply envelope, the expiry time, and a tag of the credential that made it (so that only the same
practice can collect the reply). It never sees a name, a title, a question or an answer, and the
envelopes are padded to fixed sizes (1, 4, 16 or 80 KiB of plaintext). Nothing it holds is
written to its log: only counts.

Routes (added to the relay's application by :func:`add_mailbox_routes`):

=============================  ===========  ======================================================
route                          who          what
=============================  ===========  ======================================================
``PUT /mb/<box>/form?ttl=s``   the app      store the sealed form (operator credential required);
                                            201, or 409 if the box exists
``GET /mb/<box>/form``         the page     the sealed form; 404 when unknown or expired
``PUT /mb/<box>/reply``        the page     store the sealed reply once; 201, 404 (no box), 409
                                            (already answered)
``GET /mb/<box>/reply``        the app      the sealed reply (same credential); 200, 204 not yet,
                                            404 unknown or expired
``DELETE /mb/<box>``           the app      forget the box (same credential); 204
``GET /m/``                    the page     the mailbox page (``mailbox.html``)
=============================  ===========  ======================================================

Limits: envelopes as the signalling ones (printable ASCII starting ``{"v":``, at most 112 KiB);
boxes expire after ``ttl`` seconds (default 14 days, at most 30); at most ``max_boxes`` boxes on
an instance and ``max_boxes_per_credential`` per credential; each client address gets a token
bucket for its requests. A box lives in memory (:class:`MemoryMailbox`), as files in a directory
so that a restart loses nothing (:class:`DirectoryMailbox`, mode 0700/0600), or in Redis beside
the rooms so that every instance sees every box (:mod:`telehealth.mailbox_redis`).

The app's side of the same routes is :class:`MailboxClient` (aiohttp).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

import aiohttp
from aiohttp import web

from telehealth.errors import MailboxError
from telehealth.mailbox_box import MailboxBox
from telehealth.ratelimit import TokenBucket
from telehealth.relay_credentials import bearer_token
from telehealth.sealing import MAX_ENVELOPE_CHARS

log = logging.getLogger("quietroom.mailbox")

DEFAULT_TTL: Final = 14 * 24 * 3600
MAX_TTL: Final = 30 * 24 * 3600
_BOX_ID = re.compile(r"[0-9a-f]{32}")
_PRINTABLE = re.compile(r"[\x20-\x7e]+")


@dataclass(frozen=True)
class MailboxLimits:
    default_ttl: int = DEFAULT_TTL
    max_ttl: int = MAX_TTL
    max_boxes: int = 20_000
    max_boxes_per_credential: int = 2_000
    requests_per_second: float = 2.0  # per client address, sustained
    request_burst: int = 20
    sweep_interval: float = 60.0


@dataclass
class Box:
    form: str
    expires_at: float
    owner: str  # a tag of the credential that made it ("" with open admission)
    reply: str | None = None


class MailboxStore(Protocol):
    async def create(self, box_id: str, box: Box) -> bool: ...
    async def get(self, box_id: str, now: float) -> Box | None: ...
    async def set_reply(self, box_id: str, reply: str, now: float) -> str: ...
    async def delete(self, box_id: str) -> None: ...
    async def sweep(self, now: float) -> int: ...
    async def count(self, owner: str | None = None) -> int: ...


class MemoryMailbox:
    """Boxes in the relay's memory (lost on restart)."""

    def __init__(self) -> None:
        self.boxes: dict[str, Box] = {}

    async def create(self, box_id: str, box: Box) -> bool:
        if box_id in self.boxes:
            return False
        self.boxes[box_id] = box
        return True

    async def get(self, box_id: str, now: float) -> Box | None:
        box = self.boxes.get(box_id)
        if box is not None and box.expires_at <= now:
            del self.boxes[box_id]
            return None
        return box

    async def set_reply(self, box_id: str, reply: str, now: float) -> str:
        box = await self.get(box_id, now)
        if box is None:
            return "missing"
        if box.reply is not None:
            return "answered"
        box.reply = reply
        return "stored"

    async def delete(self, box_id: str) -> None:
        self.boxes.pop(box_id, None)

    async def sweep(self, now: float) -> int:
        gone = [k for k, b in self.boxes.items() if b.expires_at <= now]
        for key in gone:
            del self.boxes[key]
        return len(gone)

    async def count(self, owner: str | None = None) -> int:
        return sum(1 for b in self.boxes.values() if owner is None or b.owner == owner)


class DirectoryMailbox:
    """Boxes as files under ``folder`` (0700): ``<box>.json`` holds the two envelopes, the expiry
    and the owner tag; written atomically (temporary file, then rename)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        self._lock = asyncio.Lock()

    def _path(self, box_id: str) -> Path:
        return self.folder / f"{box_id}.json"

    def _read(self, box_id: str) -> Box | None:
        try:
            data = json.loads(self._path(box_id).read_text("ascii"))
        except (OSError, ValueError):
            return None
        return Box(data["form"], float(data["expires_at"]), data["owner"], data["reply"])

    def _write(self, box_id: str, box: Box) -> None:
        path = self._path(box_id)
        temporary = path.with_suffix(".tmp")
        text = json.dumps({"form": box.form, "expires_at": box.expires_at, "owner": box.owner,
                           "reply": box.reply})  # fmt: skip
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)

    async def create(self, box_id: str, box: Box) -> bool:
        async with self._lock:
            if self._path(box_id).exists():
                return False
            self._write(box_id, box)
            return True

    async def get(self, box_id: str, now: float) -> Box | None:
        async with self._lock:
            box = self._read(box_id)
            if box is not None and box.expires_at <= now:
                self._path(box_id).unlink(missing_ok=True)
                return None
            return box

    async def set_reply(self, box_id: str, reply: str, now: float) -> str:
        async with self._lock:
            box = self._read(box_id)
            if box is None or box.expires_at <= now:
                return "missing"
            if box.reply is not None:
                return "answered"
            box.reply = reply
            self._write(box_id, box)
            return "stored"

    async def delete(self, box_id: str) -> None:
        async with self._lock:
            self._path(box_id).unlink(missing_ok=True)

    async def sweep(self, now: float) -> int:
        gone = 0
        async with self._lock:
            for path in self.folder.glob("*.json"):
                box = self._read(path.stem)
                if box is None or box.expires_at <= now:
                    path.unlink(missing_ok=True)
                    gone += 1
        return gone

    async def count(self, owner: str | None = None) -> int:
        async with self._lock:
            boxes = (self._read(p.stem) for p in self.folder.glob("*.json"))
            return sum(1 for b in boxes if b is not None and (owner is None or b.owner == owner))


def owner_tag(credential_id: str) -> str:
    return hashlib.sha256(f"quietroom/v1 mailbox-owner\n{credential_id}".encode()).hexdigest()[:16]


def _envelope(text: str) -> bool:
    return (
        len(text) <= MAX_ENVELOPE_CHARS
        and text.startswith('{"v":')
        and _PRINTABLE.fullmatch(text) is not None
    )


class CredentialCheck(Protocol):
    def verify(self, token: str | None) -> object | None: ...


@dataclass
class Mailbox:
    """The routes' state. ``credentials=None`` is open admission (the in-app relay)."""

    store: MailboxStore
    limits: MailboxLimits = field(default_factory=MailboxLimits)
    credentials: CredentialCheck | None = None
    address_of: Callable[[web.Request], str] = lambda request: request.remote or ""
    wall_clock: Callable[[], float] = time.time
    clock: Callable[[], float] = time.monotonic
    static_dir: Path | None = None
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def _allowed(self, request: web.Request) -> bool:
        address = self.address_of(request)
        bucket = self._buckets.get(address)
        if bucket is None:
            if len(self._buckets) > 50_000:
                self._buckets.clear()  # bounded memory; the limit restarts for everyone
            bucket = self._buckets[address] = TokenBucket(
                self.limits.requests_per_second, self.limits.request_burst, self.clock
            )
        return bucket.take()

    def _owner(self, request: web.Request) -> str | None:
        """The credential's tag, "" with open admission, None when refused."""
        if self.credentials is None:
            return ""
        header = request.headers.get("Authorization")
        if header is None:
            return None
        credential = self.credentials.verify(bearer_token(header))
        if credential is None:
            return None
        return owner_tag(str(getattr(credential, "id", "")))

    @staticmethod
    def _box_id(request: web.Request) -> str:
        box_id = request.match_info["box_id"]
        if not _BOX_ID.fullmatch(box_id):
            raise web.HTTPNotFound()
        return box_id

    async def _body(self, request: web.Request) -> str:
        raw = await request.content.read(MAX_ENVELOPE_CHARS + 1)
        if len(raw) > MAX_ENVELOPE_CHARS:
            raise web.HTTPRequestEntityTooLarge(MAX_ENVELOPE_CHARS, len(raw))
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise web.HTTPBadRequest() from None
        if not _envelope(text):
            raise web.HTTPBadRequest()
        return text

    def _check_rate(self, request: web.Request) -> None:
        if not self._allowed(request):
            raise web.HTTPTooManyRequests()

    async def put_form(self, request: web.Request) -> web.Response:
        self._check_rate(request)
        owner = self._owner(request)
        if owner is None:
            raise web.HTTPUnauthorized()
        box_id = self._box_id(request)
        try:
            ttl = int(request.query.get("ttl", self.limits.default_ttl))
        except ValueError:
            raise web.HTTPBadRequest() from None
        if not 60 <= ttl <= self.limits.max_ttl:
            raise web.HTTPBadRequest()
        envelope = await self._body(request)
        if await self.store.count() >= self.limits.max_boxes or (
            owner and await self.store.count(owner) >= self.limits.max_boxes_per_credential
        ):
            raise web.HTTPInsufficientStorage()
        box = Box(envelope, self.wall_clock() + ttl, owner)
        if not await self.store.create(box_id, box):
            raise web.HTTPConflict()
        log.info("mailbox: a box was opened (%d open)", await self.store.count())
        return web.Response(status=201)

    async def get_form(self, request: web.Request) -> web.Response:
        self._check_rate(request)
        box = await self.store.get(self._box_id(request), self.wall_clock())
        if box is None:
            raise web.HTTPNotFound()
        return web.Response(text=box.form, headers={"Cache-Control": "no-store"})

    async def put_reply(self, request: web.Request) -> web.Response:
        self._check_rate(request)
        box_id = self._box_id(request)
        envelope = await self._body(request)
        outcome = await self.store.set_reply(box_id, envelope, self.wall_clock())
        if outcome == "missing":
            raise web.HTTPNotFound()
        if outcome == "answered":
            raise web.HTTPConflict()
        log.info("mailbox: a reply arrived")
        return web.Response(status=201)

    async def _own_box(self, request: web.Request) -> tuple[str, Box | None]:
        owner = self._owner(request)
        if owner is None:
            raise web.HTTPUnauthorized()
        box_id = self._box_id(request)
        box = await self.store.get(box_id, self.wall_clock())
        if box is not None and box.owner != owner:
            raise web.HTTPNotFound()  # another practice's box: as good as absent
        return box_id, box

    async def get_reply(self, request: web.Request) -> web.Response:
        self._check_rate(request)
        _, box = await self._own_box(request)
        if box is None:
            raise web.HTTPNotFound()
        if box.reply is None:
            return web.Response(status=204, headers={"Cache-Control": "no-store"})
        return web.Response(text=box.reply, headers={"Cache-Control": "no-store"})

    async def delete_box(self, request: web.Request) -> web.Response:
        self._check_rate(request)
        box_id, box = await self._own_box(request)
        if box is not None:
            await self.store.delete(box_id)
        return web.Response(status=204)

    async def page(self, _request: web.Request) -> web.StreamResponse:
        if self.static_dir is not None:
            page = self.static_dir / "mailbox.html"
            if page.is_file():
                return web.FileResponse(page, headers={"Cache-Control": "no-cache"})
        raise web.HTTPNotFound()


def add_mailbox_routes(app: web.Application, mailbox: Mailbox) -> None:
    """Register the mailbox's routes and its sweeper on the relay's application."""
    app.router.add_put("/mb/{box_id}/form", mailbox.put_form)
    app.router.add_get("/mb/{box_id}/form", mailbox.get_form)
    app.router.add_put("/mb/{box_id}/reply", mailbox.put_reply)
    app.router.add_get("/mb/{box_id}/reply", mailbox.get_reply)
    app.router.add_delete("/mb/{box_id}", mailbox.delete_box)
    app.router.add_get("/m/", mailbox.page)

    async def sweeper(_app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(mailbox.limits.sweep_interval)
                gone = await mailbox.store.sweep(mailbox.wall_clock())
                if gone:
                    log.info("mailbox: %d expired boxes removed", gone)

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        close = getattr(mailbox.store, "close", None)  # a Redis store's connections
        if close is not None:
            await close()

    app.cleanup_ctx.append(sweeper)


# -- the app's side ----------------------------------------------------------------------------
class MailboxClient:
    """What the therapist's app does with a box: put the sealed form, collect the sealed reply,
    forget the box. ``credential`` is the practice's operator credential (None for the in-app
    relay); ``ssl`` the context that trusts the relay (None: the system's)."""

    def __init__(
        self, credential: str | None = None, *, ssl: object = None, timeout: float = 15.0
    ) -> None:
        self._headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        self._ssl = ssl
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _request(self, method: str, url: str, body: str | None = None) -> tuple[int, str]:
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as http,
                http.request(method, url, data=body, headers=self._headers,
                             ssl=self._ssl if self._ssl is not None else True) as response,  # type: ignore[arg-type]
            ):  # fmt: skip
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise MailboxError("the session service could not be reached") from exc

    async def put_form(self, box: MailboxBox, envelope: str, ttl: int = DEFAULT_TTL) -> None:
        status, _ = await self._request("PUT", f"{box.url('form')}?ttl={ttl}", envelope)
        if status == 401:
            raise MailboxError("the session service did not accept this practice's key")
        if status != 201:
            raise MailboxError(f"the session service refused the form ({status})")

    async def get_reply(self, box: MailboxBox) -> str | None:
        """The sealed reply; None if not answered yet; ``MailboxError`` if the box is gone."""
        status, text = await self._request("GET", box.url("reply"))
        if status == 204:
            return None
        if status == 200:
            return text
        if status == 404:
            raise MailboxError("the link expired before the form was answered")
        raise MailboxError(f"the session service refused ({status})")

    async def delete(self, box: MailboxBox) -> None:
        await self._request("DELETE", box.url(""))
