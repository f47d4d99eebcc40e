"""Fixtures for the UI tests: vault options, screenshots, and for the call window a relay on
127.0.0.1 and a Python stand-in for the client's page, each on its own thread, so that a pytest-qt
test drives the window on the UI thread against a real call."""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import gc
import os
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
import av
import pytest
from aiortc import MediaStreamTrack
from pytestqt.qtbot import QtBot

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.practice import Practice, PracticeSettings
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QEvent,
    QLabel,
    QLineEdit,
    QModelIndex,
    QPlainTextEdit,
    Qt,
    QTextEdit,
)
from telehealth import protocol
from telehealth.engine import CallEngine, EngineCallbacks, PcmChunk, RgbFrame
from telehealth.invite import Invite
from telehealth.relay import RelayLimits, RelayServer, start_relay
from telehealth.relay_wire import parse_presence_notice
from telehealth.sealing import Opener, Sealer
from telehealth.synthetic_media import ToneAudio
from telehealth.verification import Verifier

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
PASSPHRASE = "lantern meadow copper tide"


@pytest.fixture
def options(tmp_path: Path) -> VaultOptions:
    return VaultOptions(
        actor="user:test", clock=lambda: datetime(2026, 1, 5, 9, tzinfo=UTC),
        state_dir=tmp_path / "state",
    )  # fmt: skip


@pytest.fixture(autouse=True)
def collect_on_the_ui_thread() -> Iterator[None]:
    """As the app does (desktop/ui/gc_on_ui_thread.py): no automatic collection, which could
    run on a worker thread and destroy Qt objects there; collect on this thread after each
    test instead."""
    gc.disable()
    try:
        yield
    finally:
        QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        gc.collect()
        gc.enable()


class FakeClock:
    """A clock for the idle timer: seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def practice(tmp_path: Path, options: VaultOptions) -> Iterator[Practice]:
    """An unlocked, empty practice vault (cheap test KDF) with the therapist's name set."""
    opened, _ = Practice.create(tmp_path / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options)
    opened.update_settings(
        PracticeSettings(therapist_name="Dr Ada Test", therapist_credentials="PsyD")
    )
    try:
        yield opened
    finally:
        if opened.is_open:
            opened.lock()


@pytest.fixture
def main_window(
    qtbot: QtBot, practice: Practice, tmp_path: Path, fake_clock: FakeClock
) -> Iterator[MainWindow]:
    """The unlocked main window on ``practice``, its idle timer on ``fake_clock``; locking it
    locks the practice."""
    window = MainWindow(
        practice, tmp_path / "vault", practice.lock, backups=practice.backup_service(),
        idle_clocks=(fake_clock,),
    )  # fmt: skip
    qtbot.addWidget(window)
    window.show()
    yield window
    window.idle.stop()


def _item_view_texts(view: QAbstractItemView) -> list[str]:
    model = view.model()
    if model is None:
        return []
    found: list[str] = []
    pending = [QModelIndex()]
    while pending:
        parent = pending.pop()
        try:
            columns = max(1, model.columnCount(parent))
        except TypeError:  # list models keep columnCount private: one column
            columns = 1
        for row in range(model.rowCount(parent)):
            for column in range(columns):
                index = model.index(row, column, parent)
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                    value = model.data(index, role)
                    if value:
                        found.append(str(value))
            pending.append(model.index(row, 0, parent))
    return found


def all_widget_text() -> str:
    """Every text any live widget of the application holds: titles, labels, fields, buttons,
    editors, combo boxes and the models behind item views (shown or not). Widgets already
    scheduled for deletion (``deleteLater``: closed windows, earlier tests' windows) are deleted
    first, as the next turn of the event loop would."""
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    found: list[str] = []
    for widget in QApplication.allWidgets():
        found.append(widget.windowTitle())
        found.append(widget.toolTip())
        found.append(widget.accessibleName())
        found.append(widget.accessibleDescription())
        if isinstance(widget, QLabel | QLineEdit | QAbstractButton):
            found.append(widget.text())
        if isinstance(widget, QPlainTextEdit | QTextEdit):
            found.append(widget.toPlainText())
            found.append(widget.placeholderText())
        if isinstance(widget, QComboBox):
            found.extend(widget.itemText(i) for i in range(widget.count()))
        if isinstance(widget, QAbstractItemView):
            found.extend(_item_view_texts(widget))
    return "\n".join(t for t in found if t)


@pytest.fixture
def widget_text() -> Callable[[], str]:
    """``widget_text()``: all text held by live widgets (for "no PHI after lock" checks)."""
    return all_widget_text


@pytest.fixture
def screenshot_dir() -> Path | None:
    """Where to save screenshots for the README: only when QUIETROOM_SCREENSHOTS=1."""
    if os.environ.get("QUIETROOM_SCREENSHOTS") != "1":
        return None
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


class LoopThread:
    """An asyncio loop on a daemon thread; ``run(coro)`` returns a concurrent future."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


class RelayThread(LoopThread):
    def __init__(self, static_dir: Path) -> None:
        super().__init__()
        self.server: RelayServer = self.run(
            start_relay("127.0.0.1", 0, static_dir=static_dir,
                        limits=RelayLimits(sweep_interval=3600.0))
        ).result(10)  # fmt: skip

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def close(self) -> None:
        self.run(self.server.stop()).result(10)
        super().close()


class ColourBars(MediaStreamTrack):
    """The client's synthetic camera: bright moving colour bars, 320x240 at 15 fps."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        await asyncio.sleep(1 / 15)
        colours = [(230, 80, 60), (240, 200, 70), (70, 170, 110), (60, 120, 220)]
        shift = self._count * 4
        row = b"".join(bytes(colours[((x + shift) // 80) % 4]) for x in range(320))
        frame = av.VideoFrame(320, 240, "rgb24")
        plane = frame.planes[0]
        padding = bytes(plane.line_size - len(row))
        plane.update((row + padding) * 240)
        frame = frame.reformat(format="yuv420p")
        frame.pts = self._count * 6000
        frame.time_base = fractions.Fraction(1, 90000)
        self._count += 1
        return frame


def brightness(frame: RgbFrame) -> float:
    """Mean of a sparse sample of the frame's bytes (0 = black)."""
    step = max(1, len(frame.data) // 997)
    sample = frame.data[::step]
    return sum(sample) / len(sample)


def peak(chunk: PcmChunk) -> int:
    view = memoryview(chunk.data)[: len(chunk.data) // 2 * 2].cast("h")
    return max((abs(v) for v in view), default=0)


class ClientStandIn:
    """The client's page in Python: sealed signalling over the relay, an answering CallEngine."""

    def __init__(self, invite: Invite, ssl_context: ssl.SSLContext | None = None) -> None:
        self.invite = invite
        self.ssl_context = ssl_context  # for an https relay whose certificate is self-signed
        key = invite.keys.signalling_key
        self.sealer = Sealer("client", key)
        self.opener = Opener("therapist", key)
        self.loop = LoopThread()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.http: aiohttp.ClientSession | None = None
        self.received: list[protocol.Message] = []
        self.others: list[protocol.Others] = []
        self.code: str | None = None
        self.chat: list[str] = []
        self.chat_open = threading.Event()
        self.frames = 0
        self.last_frame: RgbFrame | None = None
        self.audio_peaks: list[tuple[float, int]] = []
        self.engine = CallEngine(
            "answerer",
            ice_servers=[],
            callbacks=EngineCallbacks(
                on_video=self._video, on_audio=self._audio,
                on_chat=self.chat.append, on_chat_open=self.chat_open.set,
            ),
            media=lambda: [ColourBars(), ToneAudio()],
        )  # fmt: skip
        self.engine.start()

    def _video(self, frame: RgbFrame) -> None:
        self.frames += 1
        self.last_frame = frame

    def _audio(self, chunk: PcmChunk) -> None:
        self.audio_peaks.append((time.monotonic(), peak(chunk)))

    def last_brightness(self) -> float:
        frame = self.last_frame
        return -1.0 if frame is None else brightness(frame)

    def loudest_since(self, since: float) -> int:
        return max((p for t, p in list(self.audio_peaks) if t >= since), default=-1)

    # -- signalling ------------------------------------------------------------------------------

    async def _send(self, message: protocol.Message) -> None:
        assert self.ws is not None
        await self.ws.send_str(self.sealer.seal(message))

    async def _next(self, timeout: float = 15) -> protocol.Message:
        assert self.ws is not None
        while True:
            msg = await self.ws.receive(timeout=timeout)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            if parse_presence_notice(msg.data) is None:
                message = self.opener.open(msg.data)
                self.received.append(message)
                return message

    async def _join(self, name: str, details: tuple[str, str] | None) -> protocol.Message:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(
            self.invite.websocket_url(),
            ssl=self.ssl_context if self.ssl_context is not None else True,
        )
        while True:  # the relay drops what is sent while alone: wait for the therapist
            msg = await self.ws.receive(timeout=10)
            peers = parse_presence_notice(msg.data)
            if peers is not None and peers >= 2:
                break
        await self._send(protocol.Hello(name=name))
        if details is not None:  # the waiting room's location and emergency number
            await self._send(protocol.Details(location=details[0], emergency_phone=details[1]))
        return await self._next()

    def join(
        self, name: str, details: tuple[str, str] | None = None
    ) -> concurrent.futures.Future[protocol.Message]:
        """Open the link and say hello (and, with ``details``, give the location and emergency
        number); the future gives the therapist's answer (admit or decline)."""
        return self.loop.run(self._join(name, details))

    async def _connect(self, reveal: bool) -> str:
        verifier = Verifier("answerer", self.invite.keys.verification_key)
        commit = await self._next()
        assert isinstance(commit, protocol.Commit)
        verifier.receive_commit(commit)
        offer = await self._next()
        while isinstance(offer, protocol.Others):  # a couples session: who else is there
            self.others.append(offer)
            offer = await self._next()
        assert isinstance(offer, protocol.Offer)
        verifier.set_remote_sdp(offer.sdp)
        answer = await asyncio.wrap_future(self.engine.accept_offer(offer.sdp))
        verifier.set_local_sdp(answer)
        await self._send(protocol.Answer(sdp=answer))
        if not reveal:  # a man in the middle who cannot complete the exchange
            return ""
        await self._send(verifier.reveal())
        reveal_message = await self._next()
        assert isinstance(reveal_message, protocol.Reveal)
        verifier.receive_reveal(reveal_message)
        self.code = verifier.code()
        return self.code

    def connect(self, *, reveal: bool = True) -> concurrent.futures.Future[str]:
        """After admission: answer the offer, run the verification exchange; gives the code
        (``reveal=False``: never reveal, as a man in the middle; gives "")."""
        return self.loop.run(self._connect(reveal))

    def send(self, message: protocol.Message) -> None:
        self.loop.run(self._send(message)).result(5)

    def leave(self) -> None:
        """Press Leave: say goodbye (the therapist's session stays open for a new page)."""
        self.loop.run(self._send(protocol.Bye(reason="hangup"))).result(5)
        self.loop.run(self._close()).result(5)  # the page closes its socket, as app.js does

    def next_message(self) -> concurrent.futures.Future[protocol.Message]:
        return self.loop.run(self._next())

    def send_chat(self, text: str) -> None:
        self.engine.send_chat(text).result(5)

    async def _close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.http is not None:
            await self.http.close()

    def close(self) -> None:
        self.loop.run(self._close()).result(5)
        self.engine.stop()
        self.loop.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayThread]:
    running = RelayThread(tmp_path / "no-web")
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """ICE gathers 127.0.0.1 only: the call stays on this machine."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture
def make_client() -> Iterator[Callable[..., ClientStandIn]]:
    clients: list[ClientStandIn] = []

    def make(invite: Invite, ssl_context: ssl.SSLContext | None = None) -> ClientStandIn:
        clients.append(ClientStandIn(invite, ssl_context))
        return clients[-1]

    try:
        yield make
    finally:
        for client in clients:
            client.close()
