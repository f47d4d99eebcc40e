"""Moving sealed forms to and from the session service's mailbox (no Qt: the UI runs these in the
background, a test or a script can call them directly).

``post_form`` makes the form request in the vault (``Practice.clinical.mailbox_form``) and puts
its sealed envelope into the relay's mailbox; if the relay refuses or cannot be reached the
request is withdrawn, so the record never claims a form was sent that was not.
``collect_answers`` runs at every unlock and on "Check for answers": for each form still open it
asks the relay for the sealed reply, hands it to the vault (which opens, checks and keeps it) and
then deletes the box; a box the relay no longer has marks the request expired, and an answer
that does not check out (recorded as refused, nothing kept) closes the request. ``withdraw``
closes a link the therapist no longer wants answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from desktop.core.clinical.forms import FormRequest
from desktop.core.errors import PracticeError
from desktop.core.practice import Practice
from telehealth.errors import FormRefusedError, MailboxError
from telehealth.mailbox import MailboxClient

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on a loop of its own, on a thread of its own: callers may be on a thread
    that already runs a loop (a test driving a browser) or on the UI's worker pool."""
    box: list[T] = []
    errors: list[BaseException] = []

    def main() -> None:
        try:
            box.append(asyncio.run(coro))
        except BaseException as exc:  # handed back to the caller below
            errors.append(exc)

    thread = threading.Thread(target=main, name="quietroom-mailbox")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return box[0]


@dataclass(frozen=True)
class Collected:
    arrived: int = 0  # answers now in the vault
    waiting: int = 0  # forms not answered yet
    expired: int = 0  # links that ran out before an answer came
    refused: int = 0  # answers that did not check out (nothing kept)
    problem: str | None = None  # the service could not be reached


def post_form(
    practice: Practice,
    client_id: str,
    key: str,
    relay_origin: str,
    credential: str | None,
    *,
    ssl: object = None,
) -> FormRequest:
    request = practice.clinical.mailbox_form(client_id, key, relay_origin)
    box = request.box
    assert box is not None
    client = MailboxClient(credential, ssl=ssl)
    try:
        _run(client.put_form(box, box.seal_form(request.document)))
    except MailboxError:
        practice.clinical.withdraw_form(request.id)
        raise
    return request


def withdraw(
    practice: Practice, request_id: str, credential: str | None, *, ssl: object = None
) -> FormRequest:
    """Close a link sent between sessions: withdrawn in the record first, then the relay's box
    is deleted (if the service cannot be reached the box simply expires unanswered; an answer
    that still arrives there is never collected)."""
    request = practice.clinical.withdraw_form(request_id)
    box = request.box
    if box is not None:
        with contextlib.suppress(MailboxError):
            _run(MailboxClient(credential, ssl=ssl).delete(box))
    return request


def collect_answers(practice: Practice, credential: str | None, *, ssl: object = None) -> Collected:
    pending = practice.clinical.open_mailbox_forms()
    if not pending:
        return Collected()
    client = MailboxClient(credential, ssl=ssl)
    counts = {"arrived": 0, "waiting": 0, "expired": 0, "refused": 0}

    async def collect() -> None:
        for request in pending:
            box = request.box
            assert box is not None
            try:
                envelope = await client.get_reply(box)
            except MailboxError as exc:
                if "expired" not in str(exc):
                    raise
                practice.clinical.form_expired(request.id)
                counts["expired"] += 1
                continue
            if envelope is None:
                counts["waiting"] += 1
                continue
            try:
                practice.clinical.receive_mailbox_reply(request.id, envelope)
                counts["arrived"] += 1
            except (FormRefusedError, PracticeError):
                # Recorded as form.refused; the link cannot be answered again, so it is closed
                # and the therapist sends a new one.
                practice.clinical.withdraw_form(request.id)
                counts["refused"] += 1
            await client.delete(box)  # kept in the vault, or refused: the relay can forget it

    try:
        _run(collect())
    except MailboxError as exc:
        return _collected(counts, str(exc))
    return _collected(counts, None)


def _collected(counts: dict[str, int], problem: str | None) -> Collected:
    return Collected(counts["arrived"], counts["waiting"], counts["expired"], counts["refused"],
                     problem)  # fmt: skip
