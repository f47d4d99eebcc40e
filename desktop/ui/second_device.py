"""The second client device of a couples or family session, in the call window.

A view of one :class:`desktop.core.calls.CallDevice` (device 2: the second participant, named by
the therapist) and the runner of its own :class:`telehealth.session.TherapistSession` (its own
link, room, keys and security code), joined to the first device's session through the window's
:class:`telehealth.forwarding.Forwarding` so that the two clients see and hear each other. It owns
its widgets (a panel for the side column with the name, the link and the code; a waiting-room
banner; its picture on the stage), its speaker output and its bridge; the window places them and
hears its signals. Like the window, it keeps nothing of the call once it ends.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Final

from desktop.core.calls import CallDevice
from desktop.ui.audio_player import AudioPlayer
from desktop.ui.background import run_in_background
from desktop.ui.call_bridge import CallBridge, describe_error
from desktop.ui.qr import qr_pixmap
from desktop.ui.qt import (
    QFont,
    QFontDatabase,
    QFrame,
    QGuiApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QObject,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
    Signal,
)
from desktop.ui.video_widget import VideoView
from telehealth.forwarding import Forwarding
from telehealth.invite import Invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.session import SessionCallbacks, TherapistSession

Q = Qt.ConnectionType.QueuedConnection
QR_SIZE: Final = 144
SessionMaker = Callable[[Invite, SessionCallbacks], TherapistSession]


def _plain(text: str = "", *, name: str | None = None) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)  # names are typed by people: never markup
    label.setWordWrap(True)
    if name:
        label.setAccessibleName(name)
    return label


def _code_text(code: str) -> str:
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


class SecondDevice(QObject):
    """Device 2 of the call: its session, its panel, its banner, its picture and its voice."""

    connected = Signal()  # its media connected (the call may start here)
    finished = Signal()  # its session ended (the call goes on if device 1 is still in)
    chat = Signal(str)  # a chat line for the window's log ("<name>: text")
    peer_video = Signal(bool)  # the person switched the call to sound only, or back
    problem = Signal(str)  # a step that could not be recorded
    error = Signal(str)

    def __init__(
        self,
        device: CallDevice,
        *,
        forwarding: Forwarding,
        make_session: SessionMaker,
        replacing: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        assert device.participant is not None
        self.device = device
        self.participant = device.participant
        self._forwarding = forwarding
        self._replacing = replacing
        self._done = False
        self._stopping = False
        self.session_stopped = False
        self.bridge = CallBridge(self)
        callbacks = device.observe(
            forwarding.callbacks(2, self.bridge.callbacks()), on_problem=self.bridge.emit_problem
        )
        self.session = make_session(device.invite, callbacks)
        self.player = AudioPlayer(self)
        self.view = VideoView(f"{self.participant} has not joined yet.")
        self.view.setAccessibleName(f"{self.participant}'s video")
        self._build()
        self._connect()

    # -- widgets --------------------------------------------------------------------------------

    def _build(self) -> None:
        self.banner = QFrame()
        self.banner.setObjectName("waitingBanner")
        row = QHBoxLayout(self.banner)
        row.setContentsMargins(12, 8, 12, 8)
        self.waiting_label = _plain(name="Second device's waiting room")
        self.admit_button = QPushButton("Admit")
        self.admit_button.setObjectName("admit")
        self.admit_button.setAccessibleName(f"Admit at {self.participant}'s link")
        self.admit_button.clicked.connect(self.admit)
        self.decline_button = QPushButton("Decline")
        self.decline_button.setAccessibleName(f"Decline at {self.participant}'s link")
        self.decline_button.clicked.connect(self.decline)
        row.addWidget(self.waiting_label, 1)
        row.addWidget(self.admit_button)
        row.addWidget(self.decline_button)
        self.banner.hide()

        self.panel = QFrame()
        self.panel.setObjectName("panel")
        layout = QVBoxLayout(self.panel)
        layout.setContentsMargins(12, 10, 12, 12)
        layout.setSpacing(6)
        title = _plain(f"{self.participant}, on a second device")
        title.setObjectName("panelTitle")
        layout.addWidget(title)
        self.status = _plain(
            f"Send this link to {self.participant} by a way you trust. They will wait until "
            "you let them in.",
            name="Second device status",
        )
        layout.addWidget(self.status)
        self.link_row = QWidget()
        links = QHBoxLayout(self.link_row)
        links.setContentsMargins(0, 0, 0, 0)
        self.link_field = QLineEdit(self.device.link)
        self.link_field.setReadOnly(True)
        self.link_field.setAccessibleName(f"Invitation link for {self.participant}")
        self.link_field.setCursorPosition(0)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setAccessibleName(f"Copy {self.participant}'s link")
        self.copy_button.clicked.connect(self.copy_link)
        self.qr_button = QPushButton("QR code")
        self.qr_button.setCheckable(True)
        self.qr_button.setToolTip(f"Show {self.participant}'s link as a QR code, for a phone")
        links.addWidget(self.link_field, 1)
        links.addWidget(self.copy_button)
        links.addWidget(self.qr_button)
        layout.addWidget(self.link_row)
        self.qr_label = QLabel()
        self.qr_label.setAccessibleName(f"{self.participant}'s link as a QR code")
        pixmap = qr_pixmap(self.device.link, QR_SIZE)
        if pixmap is not None:
            self.qr_label.setPixmap(pixmap)
            self.qr_label.setFixedSize(pixmap.size())
            layout.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignHCenter)
            self.qr_button.toggled.connect(self.qr_label.setVisible)
        else:
            self.qr_button.hide()
        self.qr_label.hide()  # on request: two QR codes would not fit a laptop's screen
        codes = QVBoxLayout()
        codes.setContentsMargins(0, 0, 0, 0)
        codes.addWidget(_plain("Security code"))
        self.code_label = _plain("--- ---", name=f"Security code with {self.participant}")
        self.code_label.setObjectName("code")
        self.code_label.setWordWrap(False)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setWeight(QFont.Weight.DemiBold)
        self.code_label.setFont(font)
        codes.addWidget(self.code_label)
        self.verified_button = QPushButton("Verified")
        self.verified_button.setToolTip(f"{self.participant} read the same code aloud")
        self.verified_button.clicked.connect(self.mark_verified)
        self.mismatch_button = QPushButton("Codes differ")
        self.mismatch_button.setToolTip(
            f"Cut {self.participant}'s device off: someone may be in between"
        )
        self.mismatch_button.clicked.connect(self.codes_differ)
        buttons = QHBoxLayout()
        buttons.addWidget(self.verified_button)
        buttons.addWidget(self.mismatch_button)
        buttons.addStretch(1)
        codes.addLayout(buttons)
        self.code_row = QWidget()
        self.code_row.setLayout(codes)
        self.code_row.hide()
        layout.addWidget(self.code_row)
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)

    def _connect(self) -> None:
        b = self.bridge
        b.state_changed.connect(self._on_state, Q)
        b.client_waiting.connect(self._render_waiting, Q)
        b.client_details.connect(self._render_waiting, Q)
        b.verification_code.connect(self._on_code, Q)
        b.video_ready.connect(self._paint, Q)
        b.audio_ready.connect(self._play, Q)
        b.chat_received.connect(self._on_chat, Q)
        b.peer_video.connect(self.peer_video, Q)
        b.problem.connect(self.problem, Q)
        b.error.connect(self._on_error, Q)

    # -- what the person is called here ---------------------------------------------------------

    @property
    def name(self) -> str:
        """The name the person typed, or the one the therapist gave before they knocked."""
        return self.device.client_name or self.participant

    # -- actions --------------------------------------------------------------------------------

    def start(self) -> None:
        """Join the relay with this device's own link, and join the two clients' media."""
        future = self.session.start()
        if self._replacing:
            self._forwarding.reattach(2, self.session)
        else:
            self._forwarding.attach(2, self.session)
        self.bridge.watch(future, on_failure=lambda exc: self._on_error(exc))

    def admit(self) -> None:
        self.admit_button.setEnabled(False)
        self.decline_button.setEnabled(False)
        self._call(self.session.admit)

    def decline(self) -> None:
        self.admit_button.setEnabled(False)
        self.decline_button.setEnabled(False)
        self._call(self.session.decline)

    def hang_up(self) -> None:
        self._call(self.session.hang_up)

    def copy_link(self) -> None:
        QGuiApplication.clipboard().setText(self.link_field.text())
        self.status.setText(f"Copied. Paste it into your message to {self.participant}.")

    def mark_verified(self) -> None:
        code = self.device.code
        if code is None or not self.device.mark_verified():
            return
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)
        self.code_label.setText(f"{_code_text(code)} ✓")
        self.code_label.setProperty("verified", True)
        self.code_label.style().unpolish(self.code_label)
        self.code_label.style().polish(self.code_label)
        self.status.setText(f"Verified: nobody is between you and {self.name}.")

    def codes_differ(self) -> None:
        if self.device.code is None or not self.device.codes_differ():
            return
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)
        self._end_reason = (
            f"The codes did not match, so {self.participant}'s device was cut off. Someone may "
            "have been in between. Invite again and send the new link another way."
        )
        self.hang_up()

    def send_chat(self, text: str) -> None:
        with contextlib.suppress(Exception):  # not connected: the window tells the first device
            self.bridge.watch(self.session.send_chat(text))

    def set_video(self, on: bool) -> None:
        """Tell this device the session goes to sound only, or back to video."""
        if self.device.state in (CallState.CONNECTED, CallState.RECONNECTING):
            self._call(lambda: self.session.set_video(on))

    def select_speaker(self, speaker: bytes | None) -> None:
        self.player.select_speaker(speaker)

    def _call(self, action: Callable[[], concurrent.futures.Future[None]]) -> None:
        try:
            future = action()
        except RuntimeError:  # the session already stopped
            return
        self.bridge.watch(future, on_failure=self._on_error)

    # -- reports --------------------------------------------------------------------------------

    _end_reason: str | None = None

    def _on_state(self, state: CallState, event: CallEvent) -> None:
        if self._done:
            return
        name = self.name
        if state is CallState.INVITED and event is CallEvent.PEER_LEFT:
            self._between_rounds()
            self.banner.hide()
            self.status.setText(f"{name} left. They can join again with the same link.")
            self.view.clear(f"{name} left. They can join again with the same link.")
        elif state is CallState.WAITING:
            if event is CallEvent.KNOCK_AGAIN:
                self._between_rounds()
            self._render_waiting()
            self.admit_button.setEnabled(True)
            self.decline_button.setEnabled(True)
            self.banner.show()
            self.status.setText(f"{name} is in the waiting room.")
        elif state in (CallState.ADMITTED, CallState.CONNECTING):
            self.banner.hide()
            self.status.setText(f"Connecting to {name}...")
        elif state is CallState.CONNECTED:
            self.banner.hide()
            self.link_row.hide()
            self.qr_label.hide()
            if self.device.code is None:
                self.status.setText(f"In session with {name}.")
            self.connected.emit()
        elif state is CallState.RECONNECTING:
            self.status.setText(f"The connection to {name} dropped. Reconnecting...")
        elif state in (CallState.ENDED, CallState.FAILED):
            if state is CallState.FAILED:
                self.status.setText(f"{self.participant}'s connection could not continue.")
            elif self._end_reason is not None:
                self.status.setText(self._end_reason)
            elif event is CallEvent.DECLINE_GIVEN:
                self.status.setText(f"You declined the person at {self.participant}'s link.")
            else:
                self.status.setText(f"{self.participant}'s device is no longer in the session.")
            self.finish()
            self.finished.emit()

    def _between_rounds(self) -> None:
        self.bridge.take_video()
        self.bridge.take_audio()
        self.code_label.setText("--- ---")
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)

    def _render_waiting(self, *_args: str) -> None:
        typed = self.device.client_name or "Someone"
        if self.device.rejoining:
            first = (
                f"{typed} is asking to join again at {self.participant}'s link, from another "
                "device or a reloaded page. Admit only if you expect them; you will compare a "
                "new code."
            )
        else:
            first = f"{typed} is waiting at {self.participant}'s link."
        details = self.device.client_details
        second = (
            "They have not yet said where they are or given an emergency phone number; the "
            "page asks them to."
            if details is None
            else f"Where they are now: {details.location}\n"
            f"Emergency phone number: {details.emergency_phone}"
        )
        self.waiting_label.setText(f"{first}\n{second}")

    def _on_code(self, code: str) -> None:
        self.code_row.show()
        self.code_label.setText(_code_text(code))
        self.verified_button.setEnabled(True)
        self.mismatch_button.setEnabled(True)
        self.status.setText(
            f"Ask {self.name} to read the security code on their screen aloud. If it is the "
            "same, press Verified."
        )

    def _paint(self) -> None:
        frame = self.bridge.take_video()
        if frame is not None and not self._done:
            self.view.show_frame(frame)

    def _play(self) -> None:
        for chunk in self.bridge.take_audio():
            if not self._done:
                self.player.play(chunk)

    def _on_chat(self, text: str) -> None:
        if not self._done:
            self.chat.emit(f"{self.name}: {text}")

    def _on_error(self, error: object) -> None:
        text = describe_error(error) if isinstance(error, Exception) else str(error)
        self.error.emit(text)

    # -- the end --------------------------------------------------------------------------------

    def finish(self) -> None:
        """Nothing of this device stays: its picture, its voice, its link; its session stops."""
        if self._done:
            return
        self._done = True
        self.player.stop()
        self.bridge.take_video()
        self.bridge.take_audio()
        self.view.clear(f"{self.participant} is not in the session.")
        self.banner.hide()
        self.link_field.clear()
        self.link_row.hide()
        self.qr_label.clear()
        self.qr_label.hide()
        for button in (self.admit_button, self.decline_button, self.verified_button,
                       self.mismatch_button, self.copy_button):  # fmt: skip
            button.setEnabled(False)
        self.stop()

    def stop(self) -> None:
        """Hang up (if still in) and stop the session's threads, in the background."""
        if self._stopping:
            return
        self._stopping = True
        run_in_background(self.session.stop, self._stopped, self._stopped)

    def _stopped(self, _result: object) -> None:
        with contextlib.suppress(RuntimeError):
            self.session_stopped = True
