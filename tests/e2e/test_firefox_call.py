"""The client joins from Firefox: Debian's firefox-esr, headless, with its fake camera and
microphone, driven over WebDriver BiDi (conftest's ``firefox``: no geckodriver, no Playwright
build). The same call as test_browser_call.py: invite link served by the relay, device check,
waiting room, admitted by the Python therapist session, video and audio both ways between host
candidates on 127.0.0.1, the same verification code, chat both ways, leave. Firefox must ask
nothing of any host but the relay, and contact nothing outside this machine."""

from __future__ import annotations

import array
import asyncio
import fractions
import threading
import time
from collections.abc import Callable
from typing import Any

import av
import pytest
from aiortc import MediaStreamTrack

from telehealth.engine import PcmChunk, RgbFrame
from telehealth.invite import new_invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ToneAudio

CLIENT_NAME = "Ana María Quispe"
THERAPIST_SAYS = "Hello Ana, can you see me in Firefox?"
CLIENT_SAYS = "Yes, I can see and hear you."


class Pattern(MediaStreamTrack):
    """Therapist's synthetic camera: 320x240 at 15 fps, brightness changing every frame."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 15)
        frame = av.VideoFrame(320, 240, "yuv420p")
        frame.planes[0].update(bytes([(self._count * 4) % 256]) * frame.planes[0].buffer_size)
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
        self.audio_chunks = 0
        self.audio_peak = 0
        self._changed = threading.Condition()

    def _note(self, update: Callable[[], None]) -> None:
        with self._changed:
            update()
            self._changed.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        with self._changed:
            assert self._changed.wait_for(predicate, timeout), f"timed out waiting for {what}"

    def on_audio(self, chunk: PcmChunk) -> None:
        peak = max((abs(s) for s in array.array("h", chunk.data)), default=0)

        def update() -> None:
            self.audio_chunks += 1
            self.audio_peak = max(self.audio_peak, peak)

        self._note(update)

    def on_video(self, frame: RgbFrame) -> None:
        if len(self.video) < 500:
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
        )

    @property
    def state(self) -> CallState | None:
        return self.states[-1][0] if self.states else None


# The page's own RTCPeerConnection.getStats(), read through the conftest instrumentation. Firefox
# has no "transport" stats: its selected pair is the candidate-pair marked "selected".
BROWSER_STATS = """async () => {
    const pc = window.__test.pcs[0];
    const out = {videoFrames: 0, videoWidth: 0, audioPackets: 0, audioEnergy: 0,
                 sentVideoFrames: 0, sentAudioPackets: 0, localPair: 0, nonHost: 0};
    if (!pc) return out;
    const report = await pc.getStats();
    let pair = null;
    report.forEach((s) => {
      if (s.type === "local-candidate" && s.candidateType !== "host") out.nonHost += 1;
      if (s.type === "inbound-rtp" && s.kind === "video") {
        out.videoFrames += s.framesDecoded || 0;
        out.videoWidth = s.frameWidth || 0;
      }
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        out.audioPackets += s.packetsReceived || 0;
        out.audioEnergy += s.totalAudioEnergy || 0;
      }
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.sentVideoFrames += s.framesSent || s.framesEncoded || 0;
      }
      if (s.type === "outbound-rtp" && s.kind === "audio") {
        out.sentAudioPackets += s.packetsSent || 0;
      }
      if (s.type === "candidate-pair" && (s.selected || s.nominated) && s.state === "succeeded") {
        pair = s;
      }
    });
    if (pair) {
      const local = report.get(pair.localCandidateId);
      const remote = report.get(pair.remoteCandidateId);
      const addr = (c) => c && (c.address || c.ip);
      // aiortc's first connectivity check may reach Firefox before its candidate does: Firefox
      // then knows the same 127.0.0.1 host address as peer-reflexive. Direct either way.
      out.localPair =
        addr(remote) === "127.0.0.1" && local.candidateType === "host" &&
        ["host", "prflx"].includes(remote.candidateType) ? 1 : 0;
    }
    return out;
}"""


def click(firefox: Any, element_id: str) -> None:
    firefox.evaluate(f"document.getElementById({element_id!r}).click()")


def text(firefox: Any, element_id: str) -> str:
    value: str = firefox.evaluate(f"document.getElementById({element_id!r}).textContent")
    return " ".join(value.split())


def visible(element_id: str) -> str:
    """A JS expression: the element is rendered (it and its ancestors not hidden)."""
    return f"document.getElementById({element_id!r}).checkVisibility()"


def wait_for_browser(
    firefox: Any, predicate: Callable[[dict[str, float]], bool], what: str
) -> None:
    deadline = time.monotonic() + 30
    stats: dict[str, float] = {}
    while time.monotonic() < deadline:
        stats = firefox.call(BROWSER_STATS)
        if predicate(stats):
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last browser stats {stats}")


@pytest.mark.slow
def test_client_joins_from_firefox_and_talks_with_the_therapist(
    firefox: Any, relay: Any, instrument: str, loopback_only: None
) -> None:
    view = TherapistView()
    invite = new_invite(relay.base_url)
    session = TherapistSession(
        invite,
        callbacks=view.callbacks(),
        media=lambda: [Pattern(), ToneAudio()],
        ice_servers=None,  # ask the relay, like the page does; it has no ICE config: []
        connect_timeout=30,
        stats_interval=1.0,
    )
    firefox.add_preload_script(instrument)
    try:
        session.start().result(10)

        # -- device check: Firefox's fake camera and microphone ------------------------------
        firefox.navigate(invite.link)
        firefox.poll(visible("check-title"), "the device check")
        firefox.poll(
            "document.getElementById('device-status').textContent"
            ".includes('camera and microphone are working')",
            "the devices",
        )
        firefox.poll("document.getElementById('preview').videoWidth > 0", "the camera preview")
        firefox.poll("document.getElementById('meter').value > 0.01", "the level meter")

        # An empty name is refused, then a real one is accepted.
        click(firefox, "join")
        firefox.poll(
            "document.getElementById('name-error').textContent.includes('Please write your name')",
            "the empty-name message",
        )
        firefox.evaluate(f"document.getElementById('name').value = {CLIENT_NAME!r}")
        click(firefox, "join")

        # -- waiting room --------------------------------------------------------------------
        firefox.poll(visible("waiting-title"), "the waiting room")
        view.wait(lambda: CLIENT_NAME in view.waiting, 15, "the client's hello")
        assert session.state is CallState.WAITING and session.client_name == CLIENT_NAME
        firefox.poll(
            "document.getElementById('waiting-status').textContent"
            " === 'Your therapist knows you are here.'",
            "the therapist's presence",
        )
        firefox.poll("document.getElementById('waiting-preview').videoWidth > 0", "the self view")

        # -- admitted: media both ways -------------------------------------------------------
        admitted_at = time.monotonic()
        session.admit().result(10)
        firefox.poll(visible("remote"), "the call screen")
        view.wait(lambda: view.state is CallState.CONNECTED, 30, "the media connection")
        wait_for_browser(
            firefox,
            lambda s: s["videoFrames"] >= 15 and s["audioPackets"] >= 25 and s["audioEnergy"] > 0,
            "decoded video and audible audio in Firefox",
        )
        view.wait(
            lambda: len(view.video) >= 15 and view.audio_chunks >= 25 and view.audio_peak > 500,
            30,
            "video frames and audible audio from Firefox",
        )
        setup_seconds = time.monotonic() - admitted_at
        stats = firefox.call(BROWSER_STATS)
        assert stats["videoWidth"] == 320  # the therapist's pattern
        assert stats["sentVideoFrames"] > 0 and stats["sentAudioPackets"] > 0
        assert stats["localPair"] == 1, "the call did not run directly on 127.0.0.1"
        assert stats["nonHost"] == 0, "Firefox gathered STUN or TURN candidates"
        frame = view.video[-1]
        assert frame.width > 0 and frame.height > 0  # Firefox's fake camera
        assert firefox.evaluate("window.__test.configs[0].iceServers") == []
        firefox.poll("document.getElementById('remote').videoWidth === 320", "the remote video")

        # -- the same verification code on both sides ----------------------------------------
        view.wait(lambda: bool(view.codes), 15, "the therapist's verification code")
        code = view.codes[0]
        firefox.poll(
            f"document.getElementById('code').textContent === {code[:3] + ' ' + code[3:]!r}",
            "the verification code in Firefox",
        )
        assert session.verification_code == code

        # -- chat both ways over the data channel --------------------------------------------
        click(firefox, "chat-toggle")
        firefox.poll("!document.getElementById('chat-input').disabled", "the chat channel")
        session.send_chat(THERAPIST_SAYS).result(5)
        firefox.poll(
            f"document.getElementById('chat-log').textContent.includes({THERAPIST_SAYS!r})",
            "the therapist's chat message",
        )
        firefox.evaluate(f"document.getElementById('chat-input').value = {CLIENT_SAYS!r}")
        click(firefox, "chat-send")
        view.wait(lambda: CLIENT_SAYS in view.chat, 15, "the client's chat message")

        # -- mute, and the quality badge -----------------------------------------------------
        click(firefox, "mute")
        assert text(firefox, "mute") == "Unmute"
        audio_sender = "window.__test.pcs[0].getSenders().find(s => s.track?.kind === 'audio')"
        assert firefox.evaluate(audio_sender + ".track.enabled") is False
        click(firefox, "mute")
        assert firefox.evaluate(audio_sender + ".track.enabled") is True
        firefox.poll(
            "document.getElementById('quality').dataset.level !== 'unknown'", "the quality badge"
        )

        # -- leave ---------------------------------------------------------------------------
        click(firefox, "leave")
        firefox.poll("document.getElementById('leave-dialog').open", "Leave asks first")
        click(firefox, "leave-confirm")
        firefox.poll(
            "document.getElementById('end-title').textContent === 'You have left the session'",
            "the end screen",
        )
        view.wait(lambda: view.state is CallState.INVITED, 15, "the therapist to see them leave")
        # The therapist's session stays open: "Join again" would knock again.
        assert view.states[-1] == (CallState.INVITED, CallEvent.PEER_LEFT)
        assert firefox.evaluate("document.querySelectorAll('#chat-log li').length") == 0
        leftovers = firefox.call(
            """async () => ({
                local: localStorage.length, session: sessionStorage.length,
                cookies: document.cookie,
                idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
                caches: (await caches.keys()).length,
            })"""
        )
        assert leftovers == {"local": 0, "session": 0, "cookies": "", "idb": 0, "caches": 0}
        assert firefox.evaluate("window.__test.csp") == []
        assert firefox.errors == []
    finally:
        session.stop()

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
    assert setup_seconds < 20

    # The page asked nothing of any other host, and Firefox itself tried to reach nothing
    # outside this machine (everything not on 127.0.0.1 is proxied to the sink).
    assert firefox.requests and all(
        url.startswith(relay.base_url) or url.startswith("data:") for url in firefox.requests
    ), firefox.requests
    assert firefox.sink.seen == []
    everything = "\n".join(relay.forwarded)
    for secret in ("a=fingerprint", "candidate:", "127.0.0.1", CLIENT_NAME, CLIENT_SAYS):
        assert secret not in everything, f"the relay saw {secret!r}"
