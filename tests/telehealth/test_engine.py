"""Two Python call engines talking over 127.0.0.1 with synthetic media."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import aioice.ice
import pytest
from aiortc import AudioStreamTrack, MediaStreamTrack

from telehealth.engine import (
    CallEngine,
    EngineCallbacks,
    PcmChunk,
    RgbFrame,
    ice_servers_from_json,
)
from telehealth.errors import CallConnectionError, MessageFormatError, TelehealthError
from telehealth.synthetic_media import ShadeVideo
from telehealth.verification import Verifier


class Recorder:
    """Collects what one engine reports, with an event per thing a test waits for."""

    def __init__(self) -> None:
        self.states: list[str] = []
        self.chat: list[str] = []
        self.errors: list[TelehealthError] = []
        self.video: list[RgbFrame] = []
        self.audio: list[PcmChunk] = []
        self.stats: list[dict[str, float]] = []
        self.connected = threading.Event()
        self.chat_open = threading.Event()
        self.got_chat = threading.Event()
        self.got_video = threading.Event()
        self.got_audio = threading.Event()
        self.failed = threading.Event()

    def callbacks(self) -> EngineCallbacks:
        def on_state(state: str) -> None:
            self.states.append(state)
            if state == "connected":
                self.connected.set()

        def on_chat(text: str) -> None:
            self.chat.append(text)
            self.got_chat.set()

        def on_video(frame: RgbFrame) -> None:
            self.video.append(frame)
            if len(self.video) >= 3:
                self.got_video.set()

        def on_audio(chunk: PcmChunk) -> None:
            self.audio.append(chunk)
            self.got_audio.set()

        def on_error(error: TelehealthError) -> None:
            self.errors.append(error)
            self.failed.set()

        return EngineCallbacks(
            on_state=on_state,
            on_chat=on_chat,
            on_chat_open=self.chat_open.set,
            on_video=on_video,
            on_audio=on_audio,
            on_stats=self.stats.append,
            on_error=on_error,
        )


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Gather host candidates on 127.0.0.1 only: no other interface, no STUN, no TURN."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def media() -> list[MediaStreamTrack]:
    return [ShadeVideo(), AudioStreamTrack()]


@pytest.mark.slow
def test_two_engines_exchange_media_and_chat(loopback_only: None, make_sdp: Any) -> None:
    therapist_seen, client_seen = Recorder(), Recorder()
    therapist = CallEngine(
        "offerer",
        ice_servers=[],
        callbacks=therapist_seen.callbacks(),
        media=media,
        connect_timeout=15,
        stats_interval=0.5,
    )
    client = CallEngine("answerer", ice_servers=[], callbacks=client_seen.callbacks(), media=media)
    therapist.start()
    client.start()
    try:
        offer = therapist.create_offer().result(timeout=10)
        assert "127.0.0.1" in offer
        answer = client.accept_offer(offer).result(timeout=10)
        therapist.accept_answer(answer).result(timeout=10)
        assert therapist_seen.connected.wait(15) and client_seen.connected.wait(15)

        # The verification code from the SDP aiortc really produces agrees on both sides.
        key = b"\x11" * 32
        t_verifier, c_verifier = Verifier("offerer", key), Verifier("answerer", key)
        commit = t_verifier.commit()
        t_verifier.set_local_sdp(therapist.local_sdp().result(timeout=5) or "")
        c_verifier.receive_commit(commit)
        c_verifier.set_remote_sdp(client.remote_sdp().result(timeout=5) or "")
        c_verifier.set_local_sdp(client.local_sdp().result(timeout=5) or "")
        t_verifier.set_remote_sdp(therapist.remote_sdp().result(timeout=5) or "")
        t_verifier.receive_reveal(c_verifier.reveal())
        c_verifier.receive_reveal(t_verifier.reveal())
        assert t_verifier.code() == c_verifier.code()

        assert therapist_seen.chat_open.wait(10) and client_seen.chat_open.wait(10)
        therapist.send_chat("Hello, can you hear me?").result(timeout=5)
        assert client_seen.got_chat.wait(10)
        client.send_chat("Yes, loud and clear 👍").result(timeout=5)
        assert therapist_seen.got_chat.wait(10)
        assert client_seen.chat == ["Hello, can you hear me?"]
        assert therapist_seen.chat == ["Yes, loud and clear 👍"]

        assert client_seen.got_video.wait(15) and therapist_seen.got_video.wait(15)
        assert client_seen.got_audio.wait(10) and therapist_seen.got_audio.wait(10)
        frame = client_seen.video[-1]
        assert (frame.width, frame.height) == (160, 120)
        assert len(frame.data) >= frame.stride * frame.height
        chunk = client_seen.audio[-1]
        assert chunk.sample_rate == 48000 and len(chunk.data) > 0

        deadline = time.monotonic() + 5
        while not therapist_seen.stats and time.monotonic() < deadline:
            time.sleep(0.1)
        assert therapist_seen.stats and any("bytesSent" in k for k in therapist_seen.stats[-1])
        assert not therapist_seen.errors and not client_seen.errors
    finally:
        therapist.stop()
        client.stop()
    assert "closed" in therapist_seen.states[-1:]


def test_ice_failure_is_reported_after_the_timeout(loopback_only: None) -> None:
    seen = Recorder()
    engine = CallEngine("offerer", ice_servers=[], callbacks=seen.callbacks(), connect_timeout=0.5)
    engine.start()
    try:
        engine.create_offer().result(timeout=10)  # nobody ever answers
        assert seen.failed.wait(5)
        assert isinstance(seen.errors[0], CallConnectionError)
    finally:
        engine.stop()


def test_bad_input_is_refused_without_touching_the_network() -> None:
    engine = CallEngine("answerer", ice_servers=[], callbacks=EngineCallbacks())
    with pytest.raises(RuntimeError):
        engine.create_offer()  # not started
    with pytest.raises(MessageFormatError):
        engine.send_chat("")
    with pytest.raises(MessageFormatError):
        engine.send_chat("x" * 4001)
    with pytest.raises(ValueError):
        CallEngine("observer", ice_servers=[], callbacks=EngineCallbacks())  # type: ignore[arg-type]
    engine.stop()  # harmless when never started


def test_ice_servers_from_relay_json() -> None:
    servers = ice_servers_from_json(
        [
            {"urls": ["stun:stun.example.org:3478"]},
            {"urls": "turn:turn.example.org", "username": "1:ab", "credential": "c2VjcmV0"},
        ]
    )
    assert servers[0].urls == ("stun:stun.example.org:3478",)
    assert servers[1].username == "1:ab" and "c2VjcmV0" not in repr(servers[1])
    bad: list[Callable[[], Any]] = [
        lambda: ice_servers_from_json([{"urls": 5}]),
        lambda: ice_servers_from_json([{"urls": ["turn:x"], "credential": 5}]),
    ]
    for call in bad:
        with pytest.raises(MessageFormatError):
            call()
