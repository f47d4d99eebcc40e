"""Where forms sent between sessions wait, and collecting their answers off the UI thread.

Forms sent by link wait in the session service's sealed mailbox (the hosted relay set up for
video sessions): the in-app relay stops when Quietroom closes, so a client could not reach a form
there while the app is closed. ``mailbox_service`` says which service to use (or None);
``collect_in_background`` runs ``mailbox_transfer.collect_answers`` on the worker pool at every
unlock and on "Check for answers", and ``collected_text`` is the status-bar sentence (counts only,
never a name or a title)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from desktop.ui.background import run_in_background
from desktop.ui.clinical.mailbox_transfer import Collected, collect_answers
from desktop.ui.context import UiContext
from desktop.ui.qt import QObject

NO_SERVICE = (
    "Sending forms by link needs a session service (Settings, Video sessions): Quietroom's own "
    "relay stops when the app closes, so a client could not reach the form."
)


@dataclass(frozen=True)
class MailboxService:
    origin: str  # https://host[:port] of the hosted relay
    credential: str | None  # the practice's key there


def mailbox_service(ctx: UiContext) -> MailboxService | None:
    """The hosted relay from the settings (or the build's default), else None."""
    settings = ctx.practice.settings
    hosted = ctx.relay_url() if ctx.relay_url is not None else ""
    hosted = hosted or settings.relay_address
    if not hosted:
        return None
    return MailboxService(hosted, settings.relay_credential or None)


def collected_text(collected: Collected) -> str | None:
    """What the status bar says after a check (counts only); None when there is nothing to say."""
    parts = []
    if collected.arrived:
        parts.append(
            "1 form was answered" if collected.arrived == 1
            else f"{collected.arrived} forms were answered"
        )  # fmt: skip
    if collected.expired:
        parts.append(
            "1 link ran out unanswered" if collected.expired == 1
            else f"{collected.expired} links ran out unanswered"
        )  # fmt: skip
    if collected.refused:
        parts.append(
            "1 answer did not check out and was not kept" if collected.refused == 1
            else f"{collected.refused} answers did not check out and were not kept"
        )  # fmt: skip
    if collected.problem is not None:
        parts.append(f"the session service could not be reached ({collected.problem})")
    if not parts:
        return None
    text = "; ".join(parts)
    return "Forms sent by link: " + text + "."


def collect_in_background(
    ctx: UiContext,
    owner: QObject,
    done: Callable[[Collected], None],
    failed: Callable[[Exception], None],
) -> bool:
    """Start collecting; False (and nothing started) without a session service."""
    service = mailbox_service(ctx)
    if service is None:
        return False
    practice = ctx.practice
    run_in_background(
        lambda: collect_answers(practice, service.credential), done, failed, owner=owner
    )
    return True


def collect_at_unlock(ctx: UiContext, owner: QObject) -> None:
    """Answers that arrived while Quietroom was closed or locked: collected in the background,
    told in the status bar (counts only)."""

    def done(collected: Collected) -> None:
        text = collected_text(collected)
        if text is not None:
            ctx.nav.notify(text)

    def failed(_exc: Exception) -> None:
        ctx.nav.notify("Answers to forms sent by link could not be collected; try Check for "
                       "answers on the client's Forms tab.")  # fmt: skip

    collect_in_background(ctx, owner, done, failed)
