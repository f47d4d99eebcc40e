"""The relay's sealed mailbox: boxes made only by a practice's credential, answered once by
whoever holds the link, collected and forgotten by the same practice, expiring; stored as
ciphertext only, in memory or in a directory that survives a restart."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from telehealth.errors import MailboxError
from telehealth.forms import Field, FieldKind, FormDocument, FormKind, FormReply
from telehealth.mailbox import (
    Box,
    DirectoryMailbox,
    Mailbox,
    MailboxClient,
    MailboxLimits,
    MemoryMailbox,
)
from telehealth.mailbox_box import MailboxBox, new_box
from telehealth.mailbox_redis import RedisMailbox, box_hash
from telehealth.relay_cli import _mailbox_factory
from telehealth.relay_config import RelayConfig, build_config
from telehealth.relay_credentials import CredentialStore

TITLE = "CANARY-TITLE Sleep and worry questionnaire"
ANSWER = "CANARY-ANSWER I lie awake thinking about the accident"
NAME = "CANARY-NAME Ana Lima"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


def document() -> FormDocument:
    return FormDocument(os.urandom(16), FormKind.INTAKE, TITLE, "",
                        (Field("story", FieldKind.TEXT, "What keeps you awake?"),
                         Field("name", FieldKind.TEXT, "Your name")))  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "credentials.json")


def box_on(base: str) -> MailboxBox:
    return new_box(base)


def test_a_box_from_form_to_reply_to_gone(relay_server: Any, store: CredentialStore) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    _other, other_token = store.issue("Dr Other", 5)
    mailbox = MemoryMailbox()

    async def scenario() -> None:
        async with (
            relay_server(credentials=store, mailbox=mailbox) as (_server, base),
            aiohttp.ClientSession() as http,
        ):
            app, stranger = MailboxClient(token), MailboxClient(None)
            box = box_on(base)
            form = document()
            envelope = box.seal_form(form)
            # only a practice's credential makes a box
            with pytest.raises(MailboxError, match="key"):
                await stranger.put_form(box, envelope)
            await app.put_form(box, envelope, ttl=3600)
            with pytest.raises(MailboxError, match="409"):
                await app.put_form(box, envelope)
            assert await app.get_reply(box) is None  # not answered yet
            # the page: fetch the form with the link's box id, put the sealed answers once
            async with http.get(box.url("form")) as response:
                assert response.status == 200
                assert response.headers["Cache-Control"] == "no-store"
                assert box.open_form(await response.text()) == form
            reply = FormReply(form.id, {"story": ANSWER, "name": NAME})
            sealed = box.seal_reply(reply)
            async with http.put(box.url("reply"), data=sealed) as response:
                assert response.status == 201
            async with http.put(box.url("reply"), data=sealed) as response:
                assert response.status == 409  # once
            # another practice cannot collect it, nor a stranger
            with pytest.raises(MailboxError, match="expired"):
                await MailboxClient(other_token).get_reply(box)
            with pytest.raises(MailboxError, match="401"):
                await stranger.get_reply(box)
            collected = await app.get_reply(box)
            assert collected is not None and box.open_reply(collected) == reply
            await app.delete(box)
            with pytest.raises(MailboxError, match="expired"):
                await app.get_reply(box)
            async with http.get(box.url("form")) as response:
                assert response.status == 404
            # garbage is refused before it is stored
            other = box_on(base)
            await app.put_form(other, other.seal_form(document()))
            for bad in ("not an envelope", '{"v":1,"x":"\u00e9"}', '{"v":' + "a" * 120_000):
                async with http.put(other.url("reply"), data=bad.encode()) as response:
                    assert response.status in (400, 413)
            async with http.get(f"{base}/mb/NOT-HEX/form") as response:
                assert response.status == 404

    run(scenario())


def test_boxes_expire(relay_server: Any, store: CredentialStore) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    now = [1_000_000.0]

    async def scenario() -> None:
        mailbox = MemoryMailbox()
        async with relay_server(credentials=store, mailbox=mailbox) as (_server, base):
            app = MailboxClient(token)
            box = box_on(base)
            await app.put_form(box, box.seal_form(document()), ttl=60)
            (stored,) = mailbox.boxes.values()
            stored.expires_at = now[0] - 1  # as if the minute had passed
            with pytest.raises(MailboxError, match="expired"):
                await app.get_reply(box)
            assert mailbox.boxes == {}
            with pytest.raises(MailboxError, match="400"):
                await app.put_form(box, box.seal_form(document()), ttl=10)  # under a minute

    run(scenario())


def test_a_directory_mailbox_survives_a_restart_and_holds_ciphertext_only(
    relay_server: Any, store: CredentialStore, tmp_path: Path
) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    folder = tmp_path / "mailbox"
    form = document()

    async def scenario() -> None:
        app = MailboxClient(token)
        async with relay_server(credentials=store, mailbox=DirectoryMailbox(folder)) as (_s, base):
            box = box_on(base)
            await app.put_form(box, box.seal_form(form))
            async with aiohttp.ClientSession() as http:
                data = box.seal_reply(FormReply(form.id, {"story": ANSWER, "name": NAME}))
                async with http.put(box.url("reply"), data=data) as response:
                    assert response.status == 201
        assert oct(folder.stat().st_mode & 0o777) == "0o700"
        (stored,) = folder.iterdir()
        assert oct(stored.stat().st_mode & 0o777) == "0o600"
        raw = stored.read_bytes()
        for secret in (TITLE, ANSWER, NAME, "CANARY", "What keeps you awake", "Dr Rivera"):
            assert secret.encode() not in raw
        assert box.box_id in stored.name and box.link.split("#")[1] not in raw.decode()
        # a new relay on the same folder still has the answer
        async with relay_server(credentials=store, mailbox=DirectoryMailbox(folder)) as (_s, b2):
            again = MailboxBox(b2, box.secret)
            collected = await app.get_reply(again)
            assert collected is not None
            assert again.open_reply(collected).answers["story"] == ANSWER

    run(scenario())


def test_a_practice_cannot_fill_the_relay(relay_server: Any, store: CredentialStore) -> None:
    _cred, token = store.issue("Dr Rivera", 5)
    mailbox = MemoryMailbox()

    async def scenario() -> None:
        async with relay_server(credentials=store, mailbox=mailbox) as (server, base):
            relay_app = server.runner.app
            for route in relay_app.router.routes():
                handler = getattr(route.handler, "__self__", None)
                if isinstance(handler, Mailbox):
                    handler.limits = MailboxLimits(max_boxes_per_credential=2, request_burst=100)
            app = MailboxClient(token)
            for _ in range(2):
                box = box_on(base)
                await app.put_form(box, box.seal_form(document()))
            box = box_on(base)
            with pytest.raises(MailboxError, match="507"):
                await app.put_form(box, box.seal_form(document()))

    run(scenario())


def test_instances_sharing_redis_share_the_mailbox(
    relay_server: Any, store: CredentialStore, redis_url: str, tmp_path: Path
) -> None:
    """Behind a load balancer the app, the page and the app again may each reach a different
    instance: a box made on A is fetched and answered on B and collected on A; Redis holds
    ciphertext only, under half the box id's hash."""
    _cred, token = store.issue("Dr Rivera", 5)
    _other, other_token = store.issue("Dr Other", 5)

    async def scenario() -> None:
        a_store, b_store = RedisMailbox(redis_url), RedisMailbox(redis_url)
        async with (
            relay_server(credentials=store, mailbox=a_store) as (_a, a_base),
            relay_server(credentials=store, mailbox=b_store) as (_b, b_base),
            aiohttp.ClientSession() as http,
        ):
            app = MailboxClient(token)
            on_a = box_on(a_base)
            on_b = MailboxBox(b_base, on_a.secret)
            form = document()
            await app.put_form(on_a, on_a.seal_form(form))
            with pytest.raises(MailboxError, match="409"):
                await app.put_form(on_b, on_b.seal_form(form))  # one box per id, on any instance
            async with http.get(on_b.url("form")) as response:
                assert response.status == 200 and on_b.open_form(await response.text()) == form
            reply = FormReply(form.id, {"story": ANSWER, "name": NAME})
            async with http.put(on_b.url("reply"), data=on_b.seal_reply(reply)) as response:
                assert response.status == 201
            async with http.put(on_a.url("reply"), data=on_a.seal_reply(reply)) as response:
                assert response.status == 409  # answered once, whichever instance is asked
            with pytest.raises(MailboxError, match="expired"):
                await MailboxClient(other_token).get_reply(on_b)  # another practice's box
            collected = await app.get_reply(on_a)
            assert collected is not None and on_a.open_reply(collected) == reply

            # What Redis holds: no box id, no title, no answer, no name.
            keys = sorted(await a_store.redis.keys("*"))
            dump = repr(keys)
            for key in keys:
                kind = await a_store.redis.type(key)
                if kind == "hash":
                    dump += repr(await a_store.redis.hgetall(key))
                elif kind == "zset":
                    dump += repr(await a_store.redis.zrange(key, 0, -1))
            assert f"qr:mb:{box_hash(on_a.box_id)}" in keys
            for secret in (on_a.box_id, TITLE, ANSWER, NAME, "CANARY"):
                assert secret not in dump

            await app.delete(on_b)
            with pytest.raises(MailboxError, match="expired"):
                await app.get_reply(on_a)
            assert await a_store.count() == 0

            # Expiry: Redis forgets the box with it; the count follows.
            later = box_on(a_base)
            await a_store.create(later.box_id, Box(later.seal_form(form), time.time() + 0.3, ""))
            assert await b_store.get(later.box_id, time.time()) is not None
            assert await b_store.get(later.box_id, time.time() + 10) is None  # by our clock
            await asyncio.sleep(0.5)
            assert await b_store.get(later.box_id, time.time()) is None
            assert await b_store.sweep(time.time()) == 1 and await b_store.count() == 0

    run(scenario())


def test_the_relay_command_picks_the_mailbox_store(tmp_path: Path) -> None:
    """Redis when the rooms are shared (every instance sees every box), else the folder, else
    memory."""
    shared = _mailbox_factory(RelayConfig(redis_url="unix:///run/redis.sock",
                                          mailbox_dir=tmp_path / "boxes"))  # fmt: skip
    assert shared is not None and isinstance(shared(), RedisMailbox)
    folder = _mailbox_factory(RelayConfig(mailbox_dir=tmp_path / "boxes"))
    assert folder is not None and isinstance(folder(), DirectoryMailbox)
    assert (tmp_path / "boxes").stat().st_mode & 0o777 == 0o700
    assert _mailbox_factory(RelayConfig()) is None
    config = build_config(environ={"QUIETROOM_RELAY_MAILBOX_DIR": str(tmp_path / "other"),
                                   "QUIETROOM_RELAY_OPEN_ADMISSION": "true"})  # fmt: skip
    assert config.mailbox_dir == tmp_path / "other"
