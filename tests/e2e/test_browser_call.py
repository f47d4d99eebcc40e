"""A real browser joins a session: headless Chromium with a fake camera and microphone opens the
invite link served by the relay, passes the device check and the waiting room, is admitted by the
Python therapist session, exchanges video and audio both ways, shows the same verification code,
chats both ways and leaves. Everything the relay forwarded is then checked for leaks."""

from __future__ import annotations

import array
import asyncio
import fractions
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import MediaStreamTrack
from playwright.sync_api import Browser, Page, expect

from telehealth.engine import PcmChunk, RgbFrame
from telehealth.invite import new_invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ToneAudio

# Screenshots for the README only when asked (QUIETROOM_SCREENSHOTS=1); otherwise to a temp folder,
# so a test run does not rewrite files in the checkout.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("QUIETROOM_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="qr-shots-"))
)
CLIENT_NAME = "Ana María Quispe"
THERAPIST_SAYS = "Hello Ana, can you see me?"
CLIENT_SAYS = "Yes, I can see and hear you."


class MovingPattern(MediaStreamTrack):
    """Therapist's synthetic camera: a diagonal gradient that scrolls, 320x240 at 15 fps."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 15)
        shift = self._count * 4
        row = bytes(((x + shift) * 255 // 320) % 256 for x in range(320))
        y_plane = b"".join(row[y % 64 :] + row[: y % 64] for y in range(240))
        frame = av.VideoFrame(320, 240, "yuv420p")
        frame.planes[0].update(y_plane)
        frame.planes[1].update(bytes([90]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([160]) * frame.planes[2].buffer_size)
        frame.pts = self._count * 6000
        frame.time_base = fractions.Fraction(1, 90000)
        self._count += 1
        return frame


class TherapistView:
    """What the desktop call window would be told, collected for assertions."""

    def __init__(self) -> None:
        self.states: list[tuple[CallState, CallEvent]] = []
        self.waiting: list[str] = []
        self.codes: list[str] = []
        self.chat: list[str] = []
        self.errors: list[Exception] = []
        self.video: list[RgbFrame] = []
        self.audio_peak = 0
        self.audio_chunks = 0
        self.stats: list[dict[str, float]] = []
        self._changed = threading.Condition()

    def _note(self, update: Callable[[], None]) -> None:
        with self._changed:
            update()
            self._changed.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), f"timed out waiting for {what}"

    def on_audio(self, chunk: PcmChunk) -> None:
        samples = array.array("h", chunk.data)
        peak = max((abs(s) for s in samples), default=0)

        def update() -> None:
            self.audio_chunks += 1
            self.audio_peak = max(self.audio_peak, peak)

        self._note(update)

    def on_video(self, frame: RgbFrame) -> None:
        if len(self.video) < 500:  # keep memory bounded; only the count and shape matter
            self._note(lambda: self.video.append(frame))

    def callbacks(self) -> SessionCallbacks:
        return SessionCallbacks(
            on_state=lambda state, event: self._note(lambda: self.states.append((state, event))),
            on_client_waiting=lambda name: self._note(lambda: self.waiting.append(name)),
            on_verification_code=lambda code: self._note(lambda: self.codes.append(code)),
            on_chat=lambda text: self._note(lambda: self.chat.append(text)),
            on_error=lambda error: self._note(lambda: self.errors.append(error)),
            on_video=self.on_video,
            on_audio=self.on_audio,
            on_stats=self.stats.append,
        )

    @property
    def state(self) -> CallState | None:
        return self.states[-1][0] if self.states else None


def browser_stats(page: Page) -> dict[str, float]:
    """Inbound and selected-pair figures from the page's own RTCPeerConnection.getStats()."""
    result: dict[str, float] = page.evaluate(
        """async () => {
            const pc = window.__test.pcs[0];
            const out = {videoFrames: 0, audioPackets: 0, audioEnergy: 0, videoWidth: 0,
                         sentVideoFrames: 0, sentAudioPackets: 0, localPair: 0};
            if (!pc) return out;
            const report = await pc.getStats();
            let pairId = null;
            report.forEach((s) => {
              if (s.type === "transport" && s.selectedCandidatePairId) {
                pairId = s.selectedCandidatePairId;
              }
            });
            report.forEach((s) => {
              if (s.type === "inbound-rtp" && s.kind === "video") {
                out.videoFrames += s.framesDecoded || 0;
                out.videoWidth = s.frameWidth || 0;
              }
              if (s.type === "inbound-rtp" && s.kind === "audio") {
                out.audioPackets += s.packetsReceived || 0;
                out.audioEnergy += s.totalAudioEnergy || 0;
              }
              if (s.type === "outbound-rtp" && s.kind === "video") {
                out.sentVideoFrames += s.framesSent || 0;
              }
              if (s.type === "outbound-rtp" && s.kind === "audio") {
                out.sentAudioPackets += s.packetsSent || 0;
              }
            });
            const pair = pairId && report.get(pairId);
            if (pair) {
              const local = report.get(pair.localCandidateId);
              const remote = report.get(pair.remoteCandidateId);
              const addr = (c) => c && (c.address || c.ip);
              // The therapist side offers 127.0.0.1 only; Chromium may answer from another of
              // this machine's own addresses. Host candidates only: no STUN, no TURN.
              out.localPair =
                addr(remote) === "127.0.0.1" && local.candidateType === "host" &&
                remote.candidateType === "host" ? 1 : 0;
            }
            return out;
        }"""
    )
    return result


def poll(page: Page, expression: str, what: str, timeout: float = 10) -> None:
    """Wait until ``expression`` is truthy in the page. (Playwright's wait_for_function compiles
    its predicate with eval, which the page's Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(100)


def wait_for_browser(page: Page, predicate: Callable[[dict[str, float]], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    stats: dict[str, float] = {}
    while time.monotonic() < deadline:
        stats = browser_stats(page)
        if predicate(stats):
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"timed out waiting for {what}; last browser stats {stats}")


@pytest.mark.slow
def test_client_joins_from_chromium_and_talks_with_the_therapist(
    browser: Browser, relay: Any, instrument: str, loopback_only: None
) -> None:
    view = TherapistView()
    invite = new_invite(relay.base_url)
    session = TherapistSession(
        invite,
        callbacks=view.callbacks(),
        media=lambda: [MovingPattern(), ToneAudio()],
        ice_servers=None,  # ask the relay, like the page does; it has no ICE config: []
        connect_timeout=20,
        stats_interval=1.0,
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.add_init_script(instrument)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on(
        "console",
        lambda msg: page_errors.append(msg.text) if msg.type == "error" else None,
    )
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    try:
        session.start().result(10)
        assert session.state is CallState.INVITED

        # -- device check --------------------------------------------------------------------
        page.goto(invite.link)
        expect(page.locator("#check-title")).to_be_visible()
        expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
        poll(page, "document.getElementById('preview').videoWidth > 0", "the camera preview")
        poll(page, "document.getElementById('meter').value > 0.01", "the level meter")

        # An empty name is refused with a calm explanation, then a real one is accepted.
        page.get_by_role("button", name="Join the waiting room").click()
        expect(page.locator("#name-error")).to_contain_text("Please write your name")
        page.get_by_label("Your name").fill(CLIENT_NAME)
        page.get_by_label("Your name").press("Enter")

        # -- waiting room --------------------------------------------------------------------
        expect(page.get_by_text("Your therapist will let you in.")).to_be_visible()
        view.wait(lambda: CLIENT_NAME in view.waiting, 10, "the client's hello")
        assert session.state is CallState.WAITING and session.client_name == CLIENT_NAME
        expect(page.locator("#waiting-status")).to_have_text("Your therapist knows you are here.")
        poll(page, "document.getElementById('waiting-preview').videoWidth > 0", "the self view")
        page.screenshot(path=str(SCREENSHOTS / "client-waiting.png"))

        # -- admitted: media both ways -------------------------------------------------------
        admitted_at = time.monotonic()
        session.admit().result(10)
        expect(page.locator("#screen-call")).to_be_visible()
        view.wait(lambda: view.state is CallState.CONNECTED, 20, "the media connection")
        wait_for_browser(
            page,
            lambda s: s["videoFrames"] >= 15 and s["audioPackets"] >= 25 and s["audioEnergy"] > 0,
            "decoded video and audible audio in the browser",
        )
        view.wait(
            lambda: len(view.video) >= 15 and view.audio_chunks >= 25 and view.audio_peak > 500,
            20,
            "video frames and audible audio from the browser",
        )
        setup_seconds = time.monotonic() - admitted_at
        stats = browser_stats(page)
        assert stats["videoWidth"] == 320  # the therapist's moving pattern
        assert stats["sentVideoFrames"] > 0 and stats["sentAudioPackets"] > 0
        assert stats["localPair"] == 1, "the call did not run between host candidates"
        frame = view.video[-1]
        assert frame.width > 0 and frame.height > 0  # Chromium's fake camera
        assert page.evaluate("window.__test.configs[0].iceServers") == []

        # -- the same verification code on both sides ----------------------------------------
        view.wait(lambda: bool(view.codes), 10, "the therapist's verification code")
        expect(page.locator("#code")).to_have_text(f"{view.codes[0][:3]} {view.codes[0][3:]}")
        assert session.verification_code == view.codes[0]

        # -- chat both ways over the data channel --------------------------------------------
        page.get_by_role("button", name="Chat").click()
        chat_input = page.get_by_role("textbox", name="Your message")
        expect(chat_input).to_be_enabled()
        session.send_chat(THERAPIST_SAYS).result(5)
        expect(page.locator("#chat-log")).to_contain_text(THERAPIST_SAYS)
        chat_input.fill(CLIENT_SAYS)
        chat_input.press("Enter")
        view.wait(lambda: CLIENT_SAYS in view.chat, 10, "the client's chat message")

        # -- controls ------------------------------------------------------------------------
        page.get_by_role("button", name="Mute").click()
        expect(page.get_by_role("button", name="Unmute")).to_be_visible()
        audio_enabled = "window.__test.pcs[0].getSenders().find(s => s.track?.kind === 'audio')"
        assert page.evaluate(audio_enabled + ".track.enabled") is False
        page.get_by_role("button", name="Unmute").click()
        page.get_by_role("button", name="Camera off").click()
        expect(page.get_by_role("button", name="Camera on")).to_be_visible()
        page.get_by_role("button", name="Camera on").click()
        expect(page.locator("#quality")).not_to_have_attribute(
            "data-level", "unknown", timeout=8000
        )
        expect(page.locator("#quality-text")).to_have_text(
            re.compile(r"Connection: (good|fair|poor) · \d+ ms · [\d.]+% loss · \d+ fps")
        )
        poll(page, "document.getElementById('remote').videoWidth > 0", "the remote video")
        page.mouse.move(1, 1)  # no hover highlight in the picture
        page.wait_for_timeout(300)  # let the remote video paint before the screenshot
        page.screenshot(path=str(SCREENSHOTS / "client-in-call.png"))

        # -- leave ---------------------------------------------------------------------------
        page.get_by_role("button", name="Leave").click()
        page.get_by_role("dialog").get_by_role("button", name="Leave").click()  # it asks first
        expect(page.locator("#end-title")).to_have_text("You have left the session")
        view.wait(lambda: view.state is CallState.INVITED, 10, "the therapist to see them leave")
        # The therapist's session stays open: "Join again" would knock again.
        assert view.states[-1] == (CallState.INVITED, CallEvent.PEER_LEFT)
        # Nothing of the call stays on the page or in the browser's storage.
        assert page.locator("#chat-log li").count() == 0
        leftovers = page.evaluate(
            """async () => ({
                local: localStorage.length, session: sessionStorage.length,
                cookies: document.cookie,
                idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
                caches: (await caches.keys()).length,
            })"""
        )
        assert leftovers == {"local": 0, "session": 0, "cookies": "", "idb": 0, "caches": 0}
        assert page.evaluate("window.__test.csp") == []
        assert page_errors == []
    finally:
        context.close()
        session.stop()

    # The lifecycle as the desktop app would audit it.
    assert [state for state, _ in view.states] == [
        CallState.INVITED,
        CallState.WAITING,
        CallState.ADMITTED,
        CallState.CONNECTING,
        CallState.CONNECTED,
        CallState.INVITED,  # the client left
        CallState.ENDED,  # the therapist ended the session
    ]
    assert view.errors == []
    assert setup_seconds < 15

    # The page asked nothing of any other host.
    assert all(url.startswith(relay.base_url) or url.startswith("data:") for url in requests)

    # Everything the relay forwarded: presence notices and opaque envelopes, nothing readable.
    assert relay.forwarded, "the relay forwarded nothing?"
    everything = "\n".join(relay.forwarded)
    # (Only strings that cannot turn up by chance in base64url ciphertext.)
    for secret in (
        "v=0",
        "a=fingerprint",
        "candidate:",
        "typ host",
        "ice-ufrag",
        "127.0.0.1",
        '"sdp"',
        '"type"',
        CLIENT_NAME,
        "Quispe",
        "Mar\\u00eda",
        THERAPIST_SAYS,
        CLIENT_SAYS,
    ):
        assert secret not in everything, f"the relay saw {secret!r}"
    for frame_text in relay.forwarded:
        assert frame_text.startswith('{"relay":"peers"') or frame_text.startswith('{"v":1,"from":')
