"""Forms through the sealed link, in a real Chromium: a client completes an intake form, signs the
telehealth consent and answers a PHQ-9 (item 9 above "Not at all") first in the waiting room of a
video session, then through the relay's mailbox while the therapist's app is closed (the vault
locked); the answers arrive in the vault (at once in the waiting room, on the next unlock from the
mailbox), the page refusing a blank required answer and a signature without a name before
anything is sent. Then every frame the relay forwarded, every byte its mailbox held and every body
the page sent it are searched for the answers, the typed names and the forms' titles and
questions: none is there."""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.clients import ClientDetails
from desktop.core.clinical.forms import RequestStatus
from desktop.core.clinical.measures import FlagNotice, ResultSource
from desktop.core.practice import Practice
from desktop.core.sessions import Modality
from desktop.ui.clinical.mailbox_transfer import collect_answers, post_form
from telehealth.mailbox import Mailbox, MemoryMailbox
from telehealth.session import SessionCallbacks, TherapistSession

SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("QUIETROOM_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="qr-shots-"))
)
PASSPHRASE = "correct horse battery staple"
CLIENT = "Zephyrine Canarywood"
STORY = "CANARY-STORY panic on the number 12 bus every morning"
STORY_2 = "CANARY-MAILBOX since the move the panic comes at night"
SECRETS = (
    CLIENT, "Zephyrine", "Canarywood", "CANARY", "number 12 bus",
    # titles and questions of the three forms, and the consent's words
    "Before we meet", "Consent to telehealth", "Patient Health Questionnaire",
    "Little interest or pleasure", "better off dead", "What brings you to therapy",
    "end-to-end encrypted video connection", "Several days",
)  # fmt: skip


def mailbox_of(relay: Any) -> MemoryMailbox:
    for route in relay.server.runner.app.router.routes():
        handler = getattr(route.handler, "__self__", None)
        if isinstance(handler, Mailbox):
            assert isinstance(handler.store, MemoryMailbox)
            return handler.store
    raise AssertionError("the relay has no mailbox")


def fill_intake(page: Page, form: Any, story: str) -> None:
    form.get_by_label("Your full name").fill(CLIENT)
    form.get_by_label("Date of birth").fill("1991-03-14")
    form.get_by_label("A phone number we can reach you on").fill("555-0199")
    form.get_by_label("Emergency contact (name, relationship, phone)").fill("Io, sister, 555-0198")
    form.get_by_label("What brings you to therapy now?").fill(story)
    form.get_by_label("No", exact=True).check()
    form.get_by_label("4", exact=True).check()


def answer_phq9(form: Any) -> None:
    for item in range(1, 10):
        group = form.locator("fieldset").nth(item - 1)
        group.get_by_label("Several days").check()


def forms_in(page: Page, container: str) -> Any:
    return page.locator(f"#{container} form.client-form")


def send(form: Any) -> None:
    form.get_by_role("button", name="Send to your therapist").click()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    event = threading.Event()
    for _ in range(int(timeout * 20)):
        if condition():
            return
        event.wait(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_forms_in_the_waiting_room_and_through_the_mailbox(
    browser: Browser, relay: Any, tmp_path: Path
) -> None:
    options = VaultOptions(actor="user:test", state_dir=tmp_path / "state")
    practice, _ = Practice.create(tmp_path / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options)
    client_id = practice.create_client(ClientDetails(name="Zephyrine Canarywood")).id
    session = practice.schedule_session(client_id, datetime.now(UTC), modality=Modality.VIDEO)
    flags: list[FlagNotice] = []
    practice.clinical.add_flag_listener(flags.append)
    sent_bodies: list[str] = []
    page_errors: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda error: page_errors.append(str(error)))
        page.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: sent_bodies.append(r.post_data or "") if r.method == "PUT"
                else None)  # fmt: skip

    # -- 1. the waiting room, before a video session ------------------------------------------
    call = practice.open_video_call(session.id, relay.base_url)
    therapist = TherapistSession(call.invite, callbacks=call.observe(SessionCallbacks()),
                                 media=lambda: [], ice_servers=[], connect_timeout=20)  # fmt: skip
    context = browser.new_context(viewport={"width": 900, "height": 1400})
    page = context.new_page()
    watch(page)
    try:
        therapist.start().result(10)
        page.goto(call.invite.link)
        page.get_by_label("Your name").fill("Zephyrine")
        page.get_by_label("Your name").press("Enter")
        expect(page.get_by_text("Your therapist will let you in.")).to_be_visible()
        wait_until(lambda: call.client_name == "Zephyrine", "the client's knock")
        for key in ("intake", "telehealth-consent", "phq9"):
            request = practice.clinical.waiting_room_form(session.id, key)
            therapist.send_form(request.document).result(5)
        waiting = forms_in(page, "waiting-forms")
        expect(waiting).to_have_count(3)
        intake, consent, phq9 = waiting.nth(0), waiting.nth(1), waiting.nth(2)
        expect(consent.locator(".consent-text")).to_contain_text("end-to-end encrypted video")

        # The page refuses a blank required answer and a signature without a name: nothing goes.
        send(intake)
        expect(intake.get_by_role("status")).to_have_text("Some answers are missing.")
        expect(intake.locator(".problem").first).to_have_text("Please answer this question.")
        consent.get_by_label("Signature — type your full name to sign").fill(" ")
        send(consent)
        expect(consent.locator(".problem")).to_have_text("Please answer this question.")
        consent.get_by_label("Signature — type your full name to sign").fill("Z")
        send(consent)
        expect(consent.locator(".problem")).to_have_text("Please type your full name to sign.")
        assert practice.clinical.client_forms(client_id).consents == ()

        fill_intake(page, intake, STORY)
        send(intake)
        expect(intake.get_by_role("status")).to_have_text("Sent to your therapist. Thank you.")
        consent.get_by_label("Signature — type your full name to sign").fill(CLIENT)
        send(consent)
        expect(consent.get_by_role("status")).to_have_text("Sent to your therapist. Thank you.")
        answer_phq9(phq9)
        phq9.get_by_label("Very difficult").check()
        page.screenshot(path=str(SCREENSHOTS / "client-forms-waiting.png"), full_page=True)
        send(phq9)
        expect(phq9.get_by_role("status")).to_have_text("Sent to your therapist. Thank you.")

        # In the vault at once: the intake's answers, the signed consent, the scored PHQ-9.
        def answered() -> int:
            requests = practice.clinical.client_forms(client_id).requests
            return sum(r.status is RequestStatus.ANSWERED for r in requests)

        wait_until(lambda: answered() == 3, "the three waiting-room forms in the vault")
        assert call.problems == []
    finally:
        therapist.stop()
        context.close()
    forms = practice.clinical.client_forms(client_id)
    (consent_record,) = forms.consents
    assert consent_record.signed_name == CLIENT and consent_record.version == "2026-1"
    intake_request = next(r for r in forms.requests if r.kind.value == "intake")
    lines = dict(practice.clinical.open_form_response(intake_request.id).answer_lines())
    assert lines["What brings you to therapy now?"] == STORY
    (phq9_result,) = practice.clinical.list_measure_results(client_id)
    assert (phq9_result.total, phq9_result.band, phq9_result.source) == (
        9, "Mild", ResultSource.WAITING_ROOM)  # fmt: skip
    assert phq9_result.flagged and [f.result_id for f in flags] == [phq9_result.id]

    # -- 2. between sessions, through the mailbox, with the app closed ------------------------
    links = {key: post_form(practice, client_id, key, relay.base_url, None).box.link  # type: ignore[union-attr]
             for key in ("intake", "telehealth-consent", "phq9")}  # fmt: skip
    practice.lock()  # the therapist's app is closed from here on
    store = mailbox_of(relay)
    assert len(store.boxes) == 3
    context = browser.new_context(viewport={"width": 420, "height": 1200}, is_mobile=True)
    try:
        for key, link in links.items():
            page = context.new_page()
            watch(page)
            page.goto(link)
            form = forms_in(page, "mailbox-forms")
            expect(form).to_have_count(1)
            if key == "intake":
                send(form)  # blank: refused on the page, nothing put in the box
                expect(form.get_by_role("status")).to_have_text("Some answers are missing.")
                fill_intake(page, form, STORY_2)
                page.screenshot(path=str(SCREENSHOTS / "client-mailbox-form.png"), full_page=True)
            elif key == "telehealth-consent":
                form.get_by_label("Signature — type your full name to sign").fill(CLIENT)
            else:
                answer_phq9(form)
            send(form)
            expect(page.locator("#mailbox-status")).to_contain_text("sent to your therapist")
            page.close()
        assert all(box.reply is not None for box in store.boxes.values())
        # a second answer to the same link is refused by the relay
        page = context.new_page()
        page.goto(links["intake"])
        fill_intake(page, forms_in(page, "mailbox-forms"), STORY_2)
        send(forms_in(page, "mailbox-forms"))
        expect(forms_in(page, "mailbox-forms").get_by_role("status")).to_contain_text(
            "already sent"
        )
    finally:
        context.close()

    # What the relay held and forwarded, and every body the page sent it: ciphertext only.
    held = [text for box in store.boxes.values() for text in (box.form, box.reply or "")]
    for haystack in [*held, *relay.forwarded, *sent_bodies]:
        for secret in SECRETS:
            assert secret not in haystack, f"{secret!r} reached the relay"
    assert all(body.startswith('{"v":1,"from":"client"') for body in sent_bodies if body)

    # -- 3. the next unlock: the answers come into the vault, the relay forgets them ----------
    practice = Practice.unlock(tmp_path / "vault", PASSPHRASE, options=options)
    flags.clear()
    practice.clinical.add_flag_listener(flags.append)
    try:
        collected = collect_answers(practice, None)
        assert (collected.arrived, collected.waiting, collected.problem) == (3, 0, None)
        assert store.boxes == {}
        forms = practice.clinical.client_forms(client_id)
        assert sum(r.status is RequestStatus.ANSWERED for r in forms.requests) == 6
        assert len(forms.consents) == 2 and {c.channel.value for c in forms.consents} == {
            "waiting_room", "mailbox"}  # fmt: skip
        mailbox_intake = next(
            r for r in forms.requests if r.kind.value == "intake" and r.channel.value == "mailbox"
        )
        lines = dict(practice.clinical.open_form_response(mailbox_intake.id).answer_lines())
        assert lines["What brings you to therapy now?"] == STORY_2
        results = practice.clinical.list_measure_results(client_id)
        assert [r.source for r in results] == [ResultSource.MAILBOX, ResultSource.WAITING_ROOM]
        assert [f.result_id for f in flags] == [results[0].id]  # item 9 told at once
        assert collect_answers(practice, None) == collect_answers(practice, None)  # nothing left
    finally:
        practice.lock()
    assert page_errors == []
