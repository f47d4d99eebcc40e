"""The client's page on a phone and a tablet (Chromium's mobile emulation), the front/back camera
switch during a call, and the video codec each browser ends up with.

A real therapist session (Python) and the real page through the relay, as in test_browser_call;
the browser is Debian's Chromium with fake cameras (``two_camera_browser``), which is what a phone
with a front and a back camera looks like to the page. Screenshots go to docs/screenshots/ with
QUIETROOM_SCREENSHOTS=1 (else to a temporary folder)."""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from telehealth.invite import new_invite
from telehealth.lifecycle import CallState
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ShadeVideo, ToneAudio

SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("QUIETROOM_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="qr-shots-"))
)
# Chromium's fake camera 1 delivers 16-bit depth frames (Y16), which its WebRTC encoder does not
# take; cameras 0 and 2 deliver ordinary pictures (I420, MJPEG), like a phone's front and back.
ORDINARY_CAMERAS_ONLY = """
const listDevices = navigator.mediaDevices.enumerateDevices.bind(navigator.mediaDevices);
navigator.mediaDevices.enumerateDevices = async () =>
  (await listDevices()).filter((d) => d.label !== "fake_device_1");
"""
PHONE = {"width": 390, "height": 844}
TABLET = {"width": 820, "height": 1180}


class Frames:
    def __init__(self) -> None:
        self.count = 0
        self.states: list[CallState] = []
        self.waiting = threading.Event()
        self._cond = threading.Condition()

    def on_video(self, _frame: Any) -> None:
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def more(self, than: int, extra: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= than + extra, timeout)


def no_sideways_scrolling(page: Page, where: str) -> None:
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
    )
    assert max(widths[0], widths[1]) <= widths[2], f"{where}: the page scrolls sideways {widths}"


def outbound_video(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """async () => {
            const pc = window.__test.pcs[window.__test.pcs.length - 1];
            const sender = pc.getSenders().find((s) => s.track && s.track.kind === "video");
            const out = {trackId: sender ? sender.track.id : null,
                         deviceId: sender ? sender.track.getSettings().deviceId : null,
                         codecs: []};
            const report = await pc.getStats();
            report.forEach((s) => {
              if ((s.type === "inbound-rtp" || s.type === "outbound-rtp") && s.kind === "video"
                  && s.codecId && report.get(s.codecId)) {
                const c = report.get(s.codecId);
                out.codecs.push(s.type + " " + c.mimeType + " " + (c.sdpFmtpLine || ""));
              }
            });
            return out;
        }"""
    )
    return result


def join_and_admit(page: Page, session: TherapistSession, frames: Frames, shots: str) -> None:
    page.goto(session.link)
    expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
    no_sideways_scrolling(page, "device check")
    page.screenshot(path=str(SCREENSHOTS / f"{shots}-check.png"))
    page.get_by_label("Your name").fill("Ana María Quispe")
    page.get_by_role("button", name="Join the waiting room").click()
    expect(page.get_by_text("Your therapist will let you in.")).to_be_visible()
    no_sideways_scrolling(page, "waiting room")
    assert frames.waiting.wait(10)
    session.admit().result(10)
    expect(page.locator("#screen-call")).to_be_visible()
    assert frames.more(0, 10, 20), "no video from the browser"


def start_session(frames: Frames, relay: Any) -> TherapistSession:
    session = TherapistSession(
        new_invite(relay.base_url),
        callbacks=SessionCallbacks(
            on_state=lambda state, _event: frames.states.append(state),
            on_client_waiting=lambda _name: frames.waiting.set(),
            on_video=frames.on_video,
        ),
        media=lambda: [ShadeVideo(320, 240, fps=15), ToneAudio()],
        ice_servers=[],
        connect_timeout=20,
    )
    session.start().result(10)
    return session


@pytest.mark.slow
@pytest.mark.parametrize(("name", "viewport"), [("phone", PHONE), ("tablet", TABLET)])
def test_the_page_works_on_a_phone_and_a_tablet(
    two_camera_browser: Browser,
    relay: Any,
    instrument: str,
    loopback_only: None,
    name: str,
    viewport: dict[str, int],
) -> None:
    frames = Frames()
    session = start_session(frames, relay)
    context = two_camera_browser.new_context(
        viewport=viewport, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.add_init_script(instrument)
    page.add_init_script(ORDINARY_CAMERAS_ONLY)
    try:
        join_and_admit(page, session, frames, f"client-{name}")
        page.wait_for_timeout(500)  # the remote picture settles
        no_sideways_scrolling(page, "call")
        page.screenshot(path=str(SCREENSHOTS / f"client-{name}-call.png"))

        # Portrait: the therapist's picture takes most of the screen; controls are big enough
        # for a thumb (44 CSS px, Apple's and Google's minimum) and all on screen.
        stage = page.locator(".stage").bounding_box()
        assert stage is not None and stage["height"] >= 0.4 * viewport["height"]
        assert stage["width"] >= 0.9 * viewport["width"]
        buttons = page.locator(".controls button:visible")
        names = [buttons.nth(i).inner_text() for i in range(buttons.count())]
        for name in ("Mute", "Camera off", "Audio only", "Switch camera", "Chat", "Leave"):
            assert name in names, names
        for i in range(buttons.count()):
            box = buttons.nth(i).bounding_box()
            assert box is not None and box["height"] >= 44 and box["width"] >= 44
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"]
            assert box["y"] + box["height"] <= viewport["height"], "a control is below the fold"

        # Front/back camera: the same call carries on with the other camera, no renegotiation.
        before = outbound_video(page)
        count = frames.count
        page.get_by_role("button", name="Switch camera").click()
        deadline = time.monotonic() + 10
        after = outbound_video(page)
        while after["trackId"] == before["trackId"] and time.monotonic() < deadline:
            page.wait_for_timeout(100)
            after = outbound_video(page)
        assert after["trackId"] != before["trackId"]
        assert after["deviceId"] != before["deviceId"]
        assert frames.more(count, 15, 10), "the therapist stopped receiving video after the switch"
        assert len(page.evaluate("window.__test.pcs")) == 1  # no new connection was needed
        # Chromium here encodes H.264 in software (not power-efficient): VP8 both ways.
        assert after["codecs"] and all("video/VP8" in c for c in after["codecs"]), after
    finally:
        context.close()
        session.stop()


@pytest.mark.slow
def test_a_browser_with_efficient_h264_receives_h264(
    browser: Browser, relay: Any, instrument: str, loopback_only: None
) -> None:
    """Safari and phones decode H.264 in hardware: the page then puts H.264 first, with the
    constrained-baseline profile aiortc sends (42e01f; another profile shows black video in
    Safari). Here Chromium is told so through the standard Media Capabilities answer: the
    therapist's video must then arrive as H.264, and the browser's still reach the therapist."""
    frames = Frames()
    session = start_session(frames, relay)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.add_init_script(instrument)
    page.add_init_script(
        "navigator.mediaCapabilities.encodingInfo = async () =>"
        " ({supported: true, smooth: true, powerEfficient: true});"
    )
    try:
        join_and_admit(page, session, frames, "client-h264")
        stats = outbound_video(page)
        deadline = time.monotonic() + 10
        while len(stats["codecs"]) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(200)
            stats = outbound_video(page)
        assert len(stats["codecs"]) == 2, stats
        inbound = next(c for c in stats["codecs"] if c.startswith("inbound-rtp"))
        outbound = next(c for c in stats["codecs"] if c.startswith("outbound-rtp"))
        # What the browser decodes follows its answer: H.264 in the profile aiortc sends.
        assert "video/H264" in inbound and "profile-level-id=42e01f" in inbound, stats
        # What it encodes follows the offer's order (VP8 first, aiortc's), see telehealth.md.
        assert "video/VP8" in outbound, stats
        count = frames.count
        assert frames.more(count, 15, 10), "aiortc did not decode the browser's H.264"
    finally:
        context.close()
        session.stop()
