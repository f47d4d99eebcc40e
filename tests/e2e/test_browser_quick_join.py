"""A client who types their name faster than the browser grants the camera and microphone still
joins with both. Before, the page went to the waiting room with no camera or microphone while its
permission request was still open; the call then ran with the client's own picture on their
screen and nothing at the therapist's end, for the whole session."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from telehealth.invite import new_invite
from telehealth.lifecycle import CallState
from telehealth.session import TherapistSession
from telehealth.synthetic_media import ToneAudio
from tests.e2e.test_browser_call import MovingPattern, TherapistView

# The browser's permission prompt, answered two seconds after the page asked.
SLOW_PERMISSION = """(() => {
  const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = (constraints) =>
    new Promise((resolve) => setTimeout(resolve, 2000)).then(() => real(constraints));
})();"""


def test_a_name_typed_before_the_camera_is_allowed_still_joins_with_camera_and_microphone(
    browser: Browser, relay: Any, instrument: str, loopback_only: None
) -> None:
    view = TherapistView()
    invite = new_invite(relay.base_url)
    session = TherapistSession(
        invite,
        callbacks=view.callbacks(),
        media=lambda: [MovingPattern(), ToneAudio()],
        ice_servers=None,
        connect_timeout=20,
        stats_interval=1.0,
    )
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(instrument)
    page.add_init_script(SLOW_PERMISSION)
    try:
        session.start().result(10)
        page.goto(invite.link)
        expect(page.locator("#device-status")).to_contain_text("Asking your browser")
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")  # before the prompt is answered
        expect(page.locator("#device-status")).to_contain_text("as soon as your browser")
        view.wait(lambda: "Ana" in view.waiting, 15, "the client's hello")
        session.admit().result(10)
        view.wait(lambda: view.state is CallState.CONNECTED, 20, "the media connection")
        view.wait(
            lambda: len(view.video) >= 15 and view.audio_peak > 500,
            20,
            "the client's camera and microphone at the therapist's end",
        )
    finally:
        context.close()
        session.stop()
