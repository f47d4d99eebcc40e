"""The client's side of the protocol's holes and of the waiting room, in real Chromium:

1. a connected call whose security code never appears (the therapist's end stands in for a man in
   the middle who never sends his reveal) tells the client, in words, that it could not be
   verified, and the therapist's session reports it too;
2. the client leaves, then presses "Join again" while the therapist's session is still open:
   the new page knocks, is admitted, and both sides show the same new code.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import aioice.ice
import pytest
from aiortc import AudioStreamTrack
from playwright.sync_api import Browser, expect

from telehealth.engine import RgbFrame
from telehealth.invite import new_invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ShadeVideo


class View:
    def __init__(self) -> None:
        self.states: list[tuple[CallState, CallEvent]] = []
        self.waiting: list[str] = []
        self.codes: list[str] = []
        self.unverified = 0
        self.frames = 0
        self.last_frame: RgbFrame | None = None
        self.details: list[tuple[str, str]] = []
        self.peer_video: list[bool] = []
        self._cond = threading.Condition()

    def _note(self, update: Callable[[], None]) -> None:
        with self._cond:
            update()
            self._cond.notify_all()

    def _count_unverified(self) -> None:
        self.unverified += 1

    def _frame(self, frame: RgbFrame) -> None:
        self.frames += 1
        self.last_frame = frame

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout), f"timed out waiting for {what}"

    def count(self, state: CallState) -> int:
        return sum(1 for s, _ in self.states if s is state)

    def callbacks(self) -> SessionCallbacks:
        return SessionCallbacks(
            on_state=lambda state, event: self._note(lambda: self.states.append((state, event))),
            on_client_waiting=lambda name: self._note(lambda: self.waiting.append(name)),
            on_verification_code=lambda code: self._note(lambda: self.codes.append(code)),
            on_unverified=lambda: self._note(self._count_unverified),
            on_client_details=lambda where, phone: self._note(
                lambda: self.details.append((where, phone))
            ),
            on_video=lambda frame: self._note(lambda: self._frame(frame)),
            on_peer_video=lambda video: self._note(lambda: self.peer_video.append(video)),
        )


def card(frame: RgbFrame | None) -> bool:
    """The page's camera-off card (#2b3a40 with light words) as the therapist decodes it."""
    if frame is None:
        return False

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        i = y * frame.stride + x * 3
        return frame.data[i], frame.data[i + 1], frame.data[i + 2]

    corner = pixel(4, 4)
    slate = all(abs(a - b) < 20 for a, b in zip(corner, (0x2B, 0x3A, 0x40), strict=True))
    middle = max(sum(pixel(x, frame.height // 2)) // 3 for x in range(frame.width))
    return slate and middle > 150


class WithholdingSession(TherapistSession):
    """The therapist's session, except that while ``withhold`` is set it never sends its reveal:
    what a man in the middle who holds the link does (he cannot complete both exchanges)."""

    withhold = True

    async def _maybe_reveal(self) -> None:
        if not self.withhold:
            await super()._maybe_reveal()


@pytest.mark.slow
def test_unverified_call_is_told_and_join_again_works(
    browser: Browser, relay: Any, instrument: str, loopback_only: None
) -> None:
    view = View()
    invite = new_invite(relay.base_url)
    session = WithholdingSession(
        invite,
        callbacks=view.callbacks(),
        media=lambda: [ShadeVideo(), AudioStreamTrack()],
        ice_servers=[],
        connect_timeout=20,
        verify_timeout=3.0,
    )
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(instrument)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        session.start().result(10)
        page.goto(invite.link)
        expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")
        view.wait(lambda: bool(view.waiting), 10, "the client's hello")

        # -- the waiting room asks where the client is and an emergency number -------------
        send = page.get_by_role("button", name="Send to your therapist")
        page.get_by_label("Where you are right now").fill("12 Rue Oberkampf, Paris")
        page.get_by_label("A phone number for emergencies").fill("+33 6 12 34 56 78")
        send.click()  # not confirmed yet
        expect(page.locator("#details-error")).to_contain_text("confirm")
        page.get_by_label("This is where I am right now").check()
        send.click()
        expect(page.locator("#details-status")).to_contain_text("Sent")
        view.wait(lambda: bool(view.details), 10, "the details before admitting")
        assert view.details[-1] == ("12 Rue Oberkampf, Paris", "+33 6 12 34 56 78")
        assert session.client_location == "12 Rue Oberkampf, Paris"
        session.admit().result(10)
        view.wait(lambda: view.count(CallState.CONNECTED) == 1, 20, "the connection")

        # -- 1. no code: both people are told -----------------------------------------------
        warning = page.locator("#unverified")
        expect(warning).to_be_hidden()
        expect(warning).to_be_visible(timeout=10_000)
        expect(warning).to_contain_text("could not be verified")
        expect(page.locator("#code-box")).to_be_hidden()
        view.wait(lambda: view.unverified == 1, 10, "the therapist to be told")
        assert view.codes == []

        # -- 2. the client leaves, and joins again while the session is open -----------------
        page.get_by_role("button", name="Leave").click()
        page.get_by_role("dialog").get_by_role("button", name="Leave").click()  # it asks first
        expect(page.locator("#end-title")).to_have_text("You have left the session")
        view.wait(lambda: view.states[-1][1] is CallEvent.PEER_LEFT, 10, "the client to leave")
        assert session.state is CallState.INVITED
        session.withhold = False  # the honest therapist's app from here on
        page.get_by_role("button", name="Join again").click()
        expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")
        view.wait(lambda: len(view.waiting) == 2, 10, "the second knock")
        expect(page.locator("#screen-waiting")).to_be_visible()
        session.admit().result(10)
        view.wait(lambda: bool(view.codes), 20, "the new code")
        code = f"{view.codes[0][:3]} {view.codes[0][3:]}"
        expect(page.locator("#code")).to_have_text(code, timeout=10_000)
        expect(page.locator("#unverified")).to_be_hidden()

        # -- 3. camera off: the therapist sees a "Camera off" card, not a black picture ------
        view.wait(lambda: view.frames >= 5 and not card(view.last_frame), 10, "the camera")
        page.get_by_role("button", name="Camera off").click()
        view.wait(lambda: card(view.last_frame), 10, "the camera-off card")
        page.get_by_role("button", name="Camera on").click()
        view.wait(lambda: not card(view.last_frame), 10, "the camera again")
        assert page_errors == []
    finally:
        context.close()
        session.stop()
    # (closing the page sends its farewell: an INVITED may come before the final ENDED)
    assert [s for s, _ in view.states][:10] == [
        CallState.INVITED,
        CallState.WAITING,
        CallState.ADMITTED,
        CallState.CONNECTING,
        CallState.CONNECTED,
        CallState.INVITED,
        CallState.WAITING,
        CallState.ADMITTED,
        CallState.CONNECTING,
        CallState.CONNECTED,
    ]
    assert view.states[-1][0] is CallState.ENDED


SOCKETS = """
window.__sockets = [];
const NativeWS = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const ws = new NativeWS(url, protocols);
  window.__sockets.push(ws);
  return ws;
};
window.WebSocket.prototype = NativeWS.prototype;
Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
"""


@pytest.mark.slow
def test_the_page_comes_back_after_its_socket_and_the_network_dropped(
    browser: Browser,
    relay: Any,
    instrument: str,
    loopback_only: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The network goes and the page's relay socket with it: the session sends no new offer until
    the page that comes back has said hello (it might be another device); the page says hello as
    soon as its socket is back, and the call resumes with the same code."""
    cut = threading.Event()
    original = aioice.ice.StunProtocol.datagram_received

    def datagram_received(protocol: Any, data: bytes | str, addr: tuple[Any, ...]) -> None:
        if not cut.is_set():
            original(protocol, data, addr)

    monkeypatch.setattr(aioice.ice.StunProtocol, "datagram_received", datagram_received)
    view = View()
    invite = new_invite(relay.base_url)
    session = TherapistSession(
        invite,
        callbacks=view.callbacks(),
        media=lambda: [ShadeVideo(), AudioStreamTrack()],
        ice_servers=[],
        connect_timeout=20,
        media_timeout=1.5,
    )
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(instrument)
    page.add_init_script(SOCKETS)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        session.start().result(10)
        page.goto(invite.link)
        expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")
        view.wait(lambda: bool(view.waiting), 10, "the client's hello")
        session.admit().result(10)
        view.wait(lambda: bool(view.codes), 20, "the code")
        code = f"{view.codes[0][:3]} {view.codes[0][3:]}"
        expect(page.locator("#code")).to_have_text(code)
        view.wait(lambda: view.frames >= 10, 10, "frames from the browser")

        cut.set()  # the network goes...
        page.evaluate("window.__sockets[window.__sockets.length - 1].close()")  # ...the socket too
        view.wait(lambda: view.count(CallState.RECONNECTING) == 1, 10, "reconnecting")
        cut.clear()
        view.wait(lambda: view.count(CallState.CONNECTED) == 2, 30, "the call to come back")
        assert page.evaluate("window.__sockets.length") >= 2  # the page's socket came back
        assert session.restart_count >= 1
        expect(page.locator("#code")).to_have_text(code)
        assert len(view.codes) == 1 and session.verification_code == view.codes[0]
        assert page_errors == []
    finally:
        cut.clear()
        context.close()
        session.stop()


SLOW_LINK = """
window.__slow = false;
const nativeGetStats = RTCPeerConnection.prototype.getStats;
RTCPeerConnection.prototype.getStats = async function (...args) {
  const report = await nativeGetStats.apply(this, args);
  if (!window.__slow) return report;
  const out = new Map();  // a 600 ms round trip, as on a congested link
  report.forEach((v, k) =>
    out.set(k, v.type === "candidate-pair" ? {...v, currentRoundTripTime: 0.6} : v));
  return out;
};
"""

NO_VIDEO_SENDING = """() => {
  const pc = window.__test.pcs[window.__test.pcs.length - 1];
  return pc.getSenders().every((s) => !s.track || s.track.kind !== "video");
}"""

VIDEO_SENDING = """() => {
  const pc = window.__test.pcs[window.__test.pcs.length - 1];
  return pc.getSenders().some((s) => s.track && s.track.kind === "video");
}"""


@pytest.mark.slow
def test_audio_only_from_either_side_and_suggested_on_a_weak_link(
    browser: Browser, relay: Any, instrument: str, loopback_only: None
) -> None:
    view = View()
    invite = new_invite(relay.base_url)
    session = TherapistSession(
        invite,
        callbacks=view.callbacks(),
        media=lambda: [ShadeVideo(), AudioStreamTrack()],
        ice_servers=[],
        connect_timeout=20,
    )
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(instrument)
    page.add_init_script(SLOW_LINK)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        session.start().result(10)
        page.goto(invite.link)
        expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")
        view.wait(lambda: bool(view.waiting), 10, "the client's hello")
        session.admit().result(10)
        view.wait(lambda: view.frames >= 10, 20, "video from the browser")
        assert page.evaluate(VIDEO_SENDING) is True

        # -- the therapist switches to audio only: the page stops sending video ------------
        session.set_video(False).result(5)
        expect(page.locator("#remote-status")).to_contain_text("Audio only")
        expect(page.get_by_role("button", name="Turn video on")).to_be_visible()
        page.wait_for_function(NO_VIDEO_SENDING)
        page.wait_for_timeout(1500)
        before = view.frames
        page.wait_for_timeout(1500)
        assert view.frames - before <= 1  # nothing (or a last frame) arrives
        # -- the client turns video back on: the therapist is told, video flows ----------------
        page.get_by_role("button", name="Turn video on").click()
        view.wait(lambda: view.peer_video == [True], 10, "the therapist to be told")
        view.wait(lambda: view.frames > before + 10, 10, "video again")

        # -- a weak link for three reports: the page suggests audio only -------------------
        page.evaluate("window.__slow = true")
        advice = page.locator("#advice")
        expect(advice).to_be_visible(timeout=12_000)
        expect(page.locator("#advice-text")).to_contain_text("too weak for video")
        page.locator("#advice-yes").click()
        view.wait(lambda: view.peer_video == [True, False], 10, "the therapist to be told")
        # -- better again for a while: video is offered back ------------------------------
        page.evaluate("window.__slow = false")
        expect(advice).to_be_visible(timeout=15_000)
        expect(page.locator("#advice-yes")).to_have_text("Turn video on")
        assert page_errors == []
    finally:
        context.close()
        session.stop()
