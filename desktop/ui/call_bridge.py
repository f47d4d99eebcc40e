"""Hands what the call's background threads report to the UI thread, through queued signals.

:class:`CallBridge` lives on the UI thread. Its :meth:`CallBridge.callbacks` are given to the
:class:`telehealth.session.TherapistSession`; they run on the session's and the engine's threads
and do nothing but store a value and emit a signal, which Qt queues to the UI thread. So the engine
never waits for painting.

Video and audio are coalesced: the engine thread keeps only the newest video frame (a frame that
was not painted before the next one arrived is dropped, so a slow UI shows fewer frames instead of
older ones), and at most one "video ready" event is queued at a time. Audio chunks queue up to
about a second, then the oldest are dropped.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import itertools
import threading
from collections.abc import Callable
from typing import Any, Final

from desktop.ui.qt import QObject, Qt, Signal
from telehealth.engine import PcmChunk, RgbFrame
from telehealth.errors import TelehealthError
from telehealth.session import SessionCallbacks

MAX_AUDIO_CHUNKS: Final = 50  # about one second of 20 ms chunks


class CallBridge(QObject):
    state_changed = Signal(object, object)  # CallState, CallEvent
    client_waiting = Signal(str)
    client_present = Signal(bool)
    verification_code = Signal(str)
    video_ready = Signal()  # take the frame with take_video()
    audio_ready = Signal()  # take the chunks with take_audio()
    chat_received = Signal(str)
    chat_open = Signal()
    stats = Signal(object)  # dict[str, float]
    error = Signal(object)  # TelehealthError
    problem = Signal(str)  # a step of the call that could not be recorded
    unverified = Signal()  # connected, and no verification code appeared in time
    client_details = Signal(str, str)  # location, emergency phone (untrusted text)
    peer_video = Signal(bool)  # the client switched to sound only (False) or back (True)
    _finished = Signal(int, object)  # an operation's id, its exception or None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._video: RgbFrame | None = None
        self._audio: collections.deque[PcmChunk] = collections.deque(maxlen=MAX_AUDIO_CHUNKS)
        self.frames_dropped = 0
        self._ids = itertools.count()
        self._pending: dict[int, tuple[Callable[[], None], Callable[[Exception], None]]] = {}
        self._finished.connect(self._complete, Qt.ConnectionType.QueuedConnection)

    def callbacks(self) -> SessionCallbacks:
        return SessionCallbacks(
            on_state=lambda state, event: self._emit(self.state_changed, state, event),
            on_client_waiting=lambda name: self._emit(self.client_waiting, name),
            on_client_present=lambda here: self._emit(self.client_present, here),
            on_verification_code=lambda code: self._emit(self.verification_code, code),
            on_video=self._on_video,
            on_audio=self._on_audio,
            on_chat=lambda text: self._emit(self.chat_received, text),
            on_chat_open=lambda: self._emit(self.chat_open),
            on_stats=lambda stats: self._emit(self.stats, dict(stats)),
            on_error=lambda error: self._emit(self.error, error),
            on_unverified=lambda: self._emit(self.unverified),
            on_client_details=lambda where, phone: self._emit(self.client_details, where, phone),
            on_peer_video=lambda video: self._emit(self.peer_video, video),
        )

    def emit_problem(self, text: str) -> None:
        """From any thread: a step of the call could not be recorded."""
        self._emit(self.problem, text)

    @staticmethod
    def _emit(signal: Any, *args: Any) -> None:
        # After the window is gone its bridge may be deleted while a thread still reports.
        with contextlib.suppress(RuntimeError):
            signal.emit(*args)

    # -- media, coalesced ------------------------------------------------------------------------

    def _on_video(self, frame: RgbFrame) -> None:
        with self._lock:
            first = self._video is None
            if not first:
                self.frames_dropped += 1
            self._video = frame
        if first:
            self._emit(self.video_ready)

    def take_video(self) -> RgbFrame | None:
        with self._lock:
            frame, self._video = self._video, None
            return frame

    def _on_audio(self, chunk: PcmChunk) -> None:
        with self._lock:
            first = not self._audio
            self._audio.append(chunk)
        if first:
            self._emit(self.audio_ready)

    def take_audio(self) -> list[PcmChunk]:
        with self._lock:
            chunks = list(self._audio)
            self._audio.clear()
            return chunks

    # -- futures from the session ----------------------------------------------------------------

    def watch(
        self,
        future: concurrent.futures.Future[Any],
        on_success: Callable[[], None] = lambda: None,
        on_failure: Callable[[Exception], None] = lambda _exc: None,
    ) -> None:
        """Call ``on_success`` or ``on_failure`` on the UI thread when ``future`` is done."""
        key = next(self._ids)
        self._pending[key] = (on_success, on_failure)

        def done(f: concurrent.futures.Future[Any]) -> None:
            exc = f.exception() if not f.cancelled() else TimeoutError("cancelled")
            self._emit(self._finished, key, exc)

        future.add_done_callback(done)

    def _complete(self, key: int, exc: object) -> None:
        callbacks = self._pending.pop(key, None)
        if callbacks is None:
            return
        if exc is None:
            callbacks[0]()
        else:
            callbacks[1](exc if isinstance(exc, Exception) else RuntimeError(str(exc)))


def describe_error(error: Exception) -> str:
    """A sentence for the window: telehealth errors speak to the user already."""
    if isinstance(error, TelehealthError):
        return str(error)
    return "Something went wrong with the call."
