"""The therapist's call window: invitation, waiting room, video, verification, chat, end.

The window is a view of one :class:`desktop.core.calls.VideoCall`, the one owner of the call's
state (state, the client's name, the code, verified or not, duration) and of what is recorded
about it. The window runs the call's :class:`telehealth.session.TherapistSession` (its own threads)
with the call's callbacks in front of its :class:`CallBridge`, whose queued signals bring every
report to the UI thread to be rendered; the therapist's intents go to the session (admit, decline,
hang up) or to the call (verified, codes differ). It keeps nothing of the call: when the call ends
the picture, the chat and the name leave the widgets, and nothing is ever written to disk.

A couples or family session adds a second client device (**Invite a second person**): a
:class:`desktop.ui.second_device.SecondDevice` with its own link, session, code, picture and voice,
joined to the first through :class:`telehealth.forwarding.Forwarding` so that the two clients see
and hear each other. The session ends when every device's session has.

Its signals tell the rest of the UI what to show (they record nothing): ``client_waiting(name)``,
``client_admitted(name)``, ``client_declined(name)``, ``call_started()``, ``verified(code)``,
``verification_mismatch(code)``, ``call_ended(duration_seconds)`` (only for a call that
connected), ``session_finished(state)`` ("ended" or "failed", always once), ``problem(text)`` (a
step the call could not record) and ``stopped()`` once the session's threads are gone.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Final

from desktop.core.calls import VideoCall
from desktop.core.errors import PracticeError
from desktop.ui.audio_player import AudioPlayer
from desktop.ui.background import run_in_background
from desktop.ui.call_bridge import CallBridge, describe_error
from desktop.ui.call_quality import Advice, Quality, QualityMeter, VideoAdvisor
from desktop.ui.local_media import Device, LocalMedia
from desktop.ui.qr import qr_pixmap
from desktop.ui.qt import (
    QCloseEvent,
    QColor,
    QComboBox,
    QFont,
    QFontDatabase,
    QFrame,
    QGuiApplication,
    QHBoxLayout,
    QKeySequence,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPalette,
    QPlainTextEdit,
    QPushButton,
    QResizeEvent,
    QScrollArea,
    QShortcut,
    QSizePolicy,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from desktop.ui.screen_share import ScreenShare, ShareSource, available_sources
from desktop.ui.second_device import SecondDevice
from desktop.ui.video_widget import VideoView
from telehealth.engine import MAX_CHAT_CHARS, IceServer
from telehealth.errors import TelehealthError
from telehealth.forwarding import Forwarding
from telehealth.invite import Invite
from telehealth.lifecycle import CallEvent, CallState
from telehealth.session import VERIFY_SECONDS, SessionCallbacks, TherapistSession

Q = Qt.ConnectionType.QueuedConnection
TITLE: Final = "Quietroom - video session"  # never the client's name (see _on_client_waiting)
SELF_VIEW_SIZE: Final = (192, 144)
STYLE: Final = """
CallWindow { background: #f4f1ec; }
QFrame#panel { background: #ffffff; border: 1px solid #ddd6cb; border-radius: 8px; }
QFrame#waitingBanner { background: #fff4d6; border: 1px solid #e3c77a; border-radius: 8px; }
QFrame#adviceBanner { background: #e4efe9; border: 1px solid #9cc0ab; border-radius: 8px; }
QFrame#errorBanner { background: #fbe3e0; border: 1px solid #d9948c; border-radius: 8px; }
QLabel#panelTitle { font-weight: 600; color: #35474d; }
QLabel#status { font-size: 15px; font-weight: 600; color: #22313a; }
QLabel#code { color: #1f2a2e; }
QLabel#code[verified="true"] { color: #2e6b3a; }
QLabel#quality[level="good"] { color: #2e6b3a; }
QLabel#quality[level="fair"] { color: #8a6212; }
QLabel#quality[level="poor"] { color: #a3261b; }
QLabel#quality[level="unknown"] { color: #5b6a70; }
QPushButton#endCall { background: #b3261e; color: white; border-radius: 6px; padding: 6px 14px; }
QPushButton#endCall:disabled { background: #d8b5b2; }
QPushButton#admit { background: #2e6b3a; color: white; border-radius: 6px; padding: 6px 14px; }
QPlainTextEdit#chatLog { background: #fbfaf7; border: 1px solid #e4ded4; }
QLabel#tileLabel { background: rgba(20, 22, 24, 180); color: #f2f2f2; border-radius: 9px;
  padding: 2px 8px; }
"""


CODE_NAME: Final = "Security code"  # the same words as on the client's page
UNVERIFIED_TEXT: Final = (
    "This call could not be verified: no security code appeared. Someone may be listening in "
    "between. Do not discuss anything private; end the session and send a new link another way."
)


def format_code(code: str) -> str:
    """``"048213"`` -> ``"048 213"``, as both people read it."""
    return f"{code[:3]} {code[3:]}" if len(code) == 6 else code


def format_duration(seconds: float) -> str:
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def plain_label(text: str = "", *, name: str | None = None) -> QLabel:
    """A label that never interprets markup: it may show a name or chat the client typed."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if name:
        label.setAccessibleName(name)
    return label


def panel(title: str) -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("panel")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(12, 10, 12, 12)
    layout.setSpacing(6)
    heading = plain_label(title)
    heading.setObjectName("panelTitle")
    layout.addWidget(heading)
    return frame, layout


class VideoStage(QWidget):
    """The client's video filling the stage, the therapist's own picture in the corner; in a
    couples or family session the second person's video beside it, each with a name."""

    def __init__(self, *, mirror_self: bool = True) -> None:
        super().__init__()
        self.remote = VideoView("Your client's video will appear here.", parent=self)
        self.remote.setAccessibleName("Client's video")
        self.second: VideoView | None = None
        self.labels = (plain_label("", name="Name"), plain_label("", name="Name"))
        for label in self.labels:
            label.setParent(self)
            label.setObjectName("tileLabel")
            label.setWordWrap(False)
            label.hide()
        # A camera's self view is mirrored, as people expect; a test pattern is not.
        self.local = VideoView("Camera starting...", mirrored=mirror_self, framed=True, parent=self)
        self.local.setAccessibleName("Your camera")
        self.local.setFixedSize(*SELF_VIEW_SIZE)
        self.setMinimumSize(480, 320)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_second(self, view: VideoView | None) -> None:
        """The second person's tile (``None``: back to one picture)."""
        if self.second is not None and self.second is not view:
            self.second.hide()
            self.second.setParent(None)
        self.second = view
        if view is not None:
            view.setParent(self)
            view.show()
        for label in self.labels:
            label.setVisible(view is not None)
        self._arrange()

    def set_names(self, first: str, second: str) -> None:
        """The names on the two tiles (plain text: one of them was typed by a client)."""
        for label, text in zip(self.labels, (first, second), strict=True):
            label.setText(text)
            label.adjustSize()
        self._arrange()

    def _arrange(self) -> None:
        rect = self.rect()
        if self.second is None:
            self.remote.setGeometry(rect)
        else:
            half = rect.width() // 2
            self.remote.setGeometry(0, 0, half - 1, rect.height())
            self.second.setGeometry(half + 1, 0, rect.width() - half - 1, rect.height())
            for label, x in zip(self.labels, (8, half + 9), strict=True):
                label.adjustSize()
                label.move(x, 8)
                label.raise_()
        margin = 12
        self.local.move(
            self.width() - self.local.width() - margin, self.height() - self.local.height() - margin
        )
        self.local.raise_()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        self._arrange()
        super().resizeEvent(event)


class CallWindow(QWidget):
    """One video session, from the invitation to the goodbye."""

    client_waiting = Signal(str)
    client_admitted = Signal(str)
    client_declined = Signal(str)
    call_started = Signal()
    verified = Signal(str)
    verification_mismatch = Signal(str)
    call_ended = Signal(float)  # seconds from connected to the end
    session_finished = Signal(str)  # the final state: "ended" or "failed"
    stopped = Signal()  # the session's threads have stopped
    problem = Signal(str)  # a step of the call that could not be recorded
    setup_requested = Signal()  # "Set up video sessions…": the link only works on this computer

    def __init__(
        self,
        call: VideoCall,
        *,
        media: LocalMedia | None = None,
        player: AudioPlayer | None = None,
        ice_servers: Sequence[IceServer] | None = None,
        connect_timeout: float = 30.0,
        stats_interval: float | None = 2.0,
        clock: Callable[[], float] = time.monotonic,
        ssl_context: ssl.SSLContext | None = None,
        relay_note: str = "",
        verify_timeout: float = VERIFY_SECONDS,
        relay_credential: str | None = None,
        local_only: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        """``ssl_context`` verifies an https relay (default: the system's CAs; the in-app relay's
        self-signed certificate needs its own); ``relay_note`` is a line under the controls about
        the relay (the certificate warning the client will see), shown until the call connects;
        never client data. ``relay_credential``: the practice's key for a hosted relay.
        ``local_only``: no session service is set up and the in-app relay answers only this
        computer, so the window says the link works here only and offers to set one up instead
        of asking the therapist to send it."""
        super().__init__(parent)
        self.local_only = local_only
        self.setWindowTitle(TITLE)
        # The call window has its own calm light look (its style sheet sets light backgrounds),
        # so it takes a light palette too: dark text on those panels under a dark system theme.
        self.setPalette(QPalette(QColor("#f4f1ec")))
        self.setStyleSheet(STYLE)
        self._clock = clock
        self.call = call
        self.media = media if media is not None else LocalMedia(parent=self)
        self.player = player if player is not None else AudioPlayer(self)
        self.bridge = CallBridge(self)
        # Each client device's session is joined to the others' through the app (a couples or
        # family session); with one device this only watches who is here.
        self.forwarding = Forwarding()
        self._make_session = functools.partial(
            TherapistSession,
            media=self.media.feed.tracks,
            ice_servers=ice_servers,
            connect_timeout=connect_timeout,
            stats_interval=stats_interval,
            ssl_context=ssl_context,
            verify_timeout=verify_timeout,
            relay_credential=relay_credential,
        )
        self.session = self._new_session(
            call.invite,
            call.observe(
                self.forwarding.callbacks(1, self.bridge.callbacks()),
                on_problem=self.bridge.emit_problem,
            ),
        )
        self.second: SecondDevice | None = None  # a couples or family session's second device
        self._retired_seconds: list[SecondDevice] = []
        self._meter = QualityMeter(clock)
        self._advisor = VideoAdvisor()
        self._advice: Advice | None = None
        self._showing_audio_only = False
        self.screen_share: ScreenShare | None = None
        self.share_menu: QMenu | None = None
        self._shown_connected = False
        self._present = True  # the client's page is on the relay (a hint)
        self._last_error: str | None = None
        self._end_reason: str | None = None  # why the therapist ended it, when not plain
        self._finished = False
        self._stopping = False
        self.session_stopped = False  # the session's threads are gone
        self._notes: dict[str, str] = {}  # device problems, by device kind
        self._elapsed_timer = QTimer(self)
        self._elapsed_timer.setInterval(1000)
        self._elapsed_timer.timeout.connect(self._tick)

        self._relay_note = relay_note
        self._build(call.link)
        self._connect_bridge()
        self._fill_devices()
        self.resize(1120, 700)

    def _new_session(self, invite: Invite, callbacks: SessionCallbacks) -> TherapistSession:
        """A session for one client device, with this window's settings and camera."""
        return self._make_session(invite, callbacks=callbacks)

    # -- the call's state, as the core call holds it -----------------------------------------

    @property
    def state(self) -> CallState:
        return self.call.state

    @property
    def client_name(self) -> str | None:
        return self.call.client_name

    @property
    def code(self) -> str | None:
        return self.call.code

    @property
    def is_verified(self) -> bool:
        return self.call.verified

    # -- construction -------------------------------------------------------------------------

    def _build(self, link: str) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 12, 16, 16)
        outer.setSpacing(10)

        top = QHBoxLayout()
        self.status = plain_label("Starting the session...", name="Session status")
        self.status.setObjectName("status")
        self.elapsed = plain_label("", name="Call duration")
        self.elapsed.setWordWrap(False)
        self.quality = plain_label("", name="Connection quality")
        self.quality.setObjectName("quality")
        self.quality.setWordWrap(False)
        self.close_button = QPushButton("Close window")
        self.close_button.clicked.connect(self.close)
        self.close_button.hide()
        top.addWidget(self.status, 1)
        top.addWidget(self.elapsed)
        top.addSpacing(16)
        top.addWidget(self.quality)
        top.addWidget(self.close_button)
        outer.addLayout(top)

        self.waiting_banner = QFrame()
        self.waiting_banner.setObjectName("waitingBanner")
        banner = QHBoxLayout(self.waiting_banner)
        banner.setContentsMargins(12, 8, 12, 8)
        self.waiting_label = plain_label("", name="Waiting room")
        self.admit_button = QPushButton("Admit")
        self.admit_button.setObjectName("admit")
        self.admit_button.clicked.connect(self.admit)
        self.decline_button = QPushButton("Decline")
        self.decline_button.clicked.connect(self.decline)
        banner.addWidget(self.waiting_label, 1)
        banner.addWidget(self.admit_button)
        banner.addWidget(self.decline_button)
        self.waiting_banner.hide()
        # One waiting-room banner per client device (a second one in a couples session).
        self.waiting_layout = QVBoxLayout()
        self.waiting_layout.setSpacing(6)
        self.waiting_layout.addWidget(self.waiting_banner)
        outer.addLayout(self.waiting_layout)

        self.advice_banner = QFrame()
        self.advice_banner.setObjectName("adviceBanner")
        advice_row = QHBoxLayout(self.advice_banner)
        advice_row.setContentsMargins(12, 6, 12, 6)
        self.advice_label = plain_label("", name="Suggestion")
        self.advice_button = QPushButton("")
        self.advice_button.clicked.connect(self._take_advice)
        self.advice_dismiss = QPushButton("Not now")
        self.advice_dismiss.clicked.connect(self.advice_banner.hide)
        advice_row.addWidget(self.advice_label, 1)
        advice_row.addWidget(self.advice_button)
        advice_row.addWidget(self.advice_dismiss)
        self.advice_banner.hide()
        outer.addWidget(self.advice_banner)

        self.error_banner = QFrame()
        self.error_banner.setObjectName("errorBanner")
        error_row = QHBoxLayout(self.error_banner)
        error_row.setContentsMargins(12, 6, 12, 6)
        self.error_label = plain_label("", name="Problem")
        error_row.addWidget(self.error_label)
        self.error_banner.hide()
        outer.addWidget(self.error_banner)

        body = QHBoxLayout()
        body.setSpacing(12)
        outer.addLayout(body, 1)

        left = QVBoxLayout()
        left.setSpacing(8)
        self.stage = VideoStage(mirror_self=not self.media.synthetic)
        self.remote_view = self.stage.remote
        self.self_view = self.stage.local
        left.addWidget(self.stage, 1)
        left.addLayout(self._controls())
        left.addLayout(self._device_row())
        # About the relay (the certificate warning the client will see), until the call connects;
        # under the controls, where the width keeps it to a line or two.
        self.relay_note = plain_label(self._relay_note, name="About the connection")
        self.relay_note.setObjectName("relayNote")
        self.relay_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.relay_note.setVisible(bool(self._relay_note))
        left.addWidget(self.relay_note)
        self.device_note = plain_label("", name="Device status")
        self.device_note.hide()
        left.addWidget(self.device_note)
        body.addLayout(left, 1)

        side = QVBoxLayout()
        side.setSpacing(10)
        side.addWidget(self._invite_panel(link))
        side.addWidget(self._second_person_panel())
        side.addWidget(self._verification_panel())
        self._side = side
        side.addWidget(self._chat_panel(), 1)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(330)
        side.setContentsMargins(0, 0, 0, 0)
        # The column scrolls rather than growing the window past a laptop's screen (two
        # invitations with their QR codes in a couples session are taller than 700 pixels).
        self.side_scroll = QScrollArea()
        self.side_scroll.setWidget(side_widget)
        self.side_scroll.setWidgetResizable(True)
        self.side_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.side_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.side_scroll.setFixedWidth(
            330 + self.side_scroll.verticalScrollBar().sizeHint().width()
        )
        self.side_scroll.setStyleSheet("QScrollArea { background: transparent; }")
        self.side_scroll.viewport().setAutoFillBackground(False)
        side_widget.setAutoFillBackground(False)
        body.addWidget(self.side_scroll)
        # Qt sizes a panel by its labels' one-line height; word-wrapped at this width they need
        # more, and the invitation panel would clip its QR code (which then does not scan).
        for fixed in (self.invite_panel, self.verification_panel):
            layout = fixed.layout()
            if layout is not None:
                fixed.setMinimumHeight(layout.totalHeightForWidth(330) + 12)

    def _controls(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.mute_button = QPushButton("Mute")
        self.mute_button.setCheckable(True)
        self.mute_button.setToolTip("Mute or unmute your microphone (Ctrl+D)")
        self.mute_button.toggled.connect(self.set_muted)
        self.camera_button = QPushButton("Camera off")
        self.camera_button.setCheckable(True)
        self.camera_button.setToolTip("Turn your camera off or on (Ctrl+E)")
        self.camera_button.toggled.connect(self.set_camera_off)
        self.end_button = QPushButton("End session")
        self.end_button.setObjectName("endCall")
        self.end_button.setAccessibleName("Hang up")
        self.end_button.clicked.connect(self.confirm_end)
        self.end_confirmation: QMessageBox | None = None
        self.end_confirm_button: QPushButton | None = None
        QShortcut(QKeySequence("Ctrl+D"), self).activated.connect(self.mute_button.toggle)
        QShortcut(QKeySequence("Ctrl+E"), self).activated.connect(self.camera_button.toggle)
        row.addWidget(self.mute_button)
        row.addWidget(self.camera_button)
        self.audio_only_button = QPushButton("Audio only")
        self.audio_only_button.setCheckable(True)
        self.audio_only_button.setToolTip(
            "Turn video off on both sides to keep the sound clear on a weak connection"
        )
        self.audio_only_button.toggled.connect(self.set_audio_only)
        row.addWidget(self.audio_only_button)
        self.share_button = QPushButton("Share screen")
        self.share_button.setToolTip(
            "Show your client a screen or a window (a worksheet, a chart) instead of your camera"
        )
        self.share_button.clicked.connect(self._share_clicked)
        row.addWidget(self.share_button)
        self.invite_second_button = QPushButton("Invite a second person…")
        self.invite_second_button.setAccessibleName("Invite a second person")
        self.invite_second_button.setToolTip(
            "A couples or family session: a second link, for someone joining from their own "
            "device. Each of you compares a security code with you; they see and hear each other."
        )
        self.invite_second_button.clicked.connect(self.ask_second_person)
        row.addWidget(self.invite_second_button)
        row.addStretch(1)
        row.addWidget(self.end_button)
        return row

    def _device_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.camera_picker = QComboBox()
        self.camera_picker.setAccessibleName("Camera")
        self.microphone_picker = QComboBox()
        self.microphone_picker.setAccessibleName("Microphone")
        self.speaker_picker = QComboBox()
        self.speaker_picker.setAccessibleName("Speaker")
        for text, picker in (
            ("Camera", self.camera_picker),
            ("Microphone", self.microphone_picker),
            ("Speaker", self.speaker_picker),
        ):
            label = plain_label(text)
            label.setWordWrap(False)
            label.setBuddy(picker)
            picker.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            picker.setMinimumContentsLength(12)
            row.addWidget(label)
            row.addWidget(picker, 1)
        self.camera_picker.activated.connect(self._camera_picked)
        self.microphone_picker.activated.connect(self._microphone_picked)
        self.speaker_picker.activated.connect(self._speaker_picked)
        return row

    def _invite_panel(self, link: str) -> QFrame:
        frame, layout = panel("Invitation")
        self.invite_panel = frame
        if self.local_only:
            # Never ask for a link to be sent that cannot work: say what it is good for.
            self.invite_text = plain_label(
                "This link works only on this computer: no session service is set up, so your "
                "client cannot open it from anywhere else. You can use it to try a session here.",
                name="Invitation",
            )
            layout.addWidget(self.invite_text)
            self.setup_button = QPushButton("Set up video sessions…")
            self.setup_button.setAccessibleName("Set up video sessions")
            self.setup_button.clicked.connect(self.setup_requested.emit)
            layout.addWidget(self.setup_button)
        else:
            self.invite_text = plain_label(
                "Send this link to your client by a way you trust. Whoever has it can knock; "
                "you decide who comes in.",
                name="Invitation",
            )
            layout.addWidget(self.invite_text)
        row = QHBoxLayout()
        self.link_field = QLineEdit(link)
        self.link_field.setReadOnly(True)
        self.link_field.setAccessibleName("Invitation link")
        self.link_field.setCursorPosition(0)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setAccessibleName("Copy link")
        self.copy_button.clicked.connect(self.copy_link)
        row.addWidget(self.link_field, 1)
        row.addWidget(self.copy_button)
        layout.addLayout(row)
        self.copy_note = plain_label("", name="Copy status")
        layout.addWidget(self.copy_note)
        self.qr_label = QLabel()
        self.qr_label.setAccessibleName("Invitation link as a QR code")
        # A phone cannot open a link that works only on this computer: no QR code for it.
        pixmap = None if self.local_only else qr_pixmap(link, 176)
        if pixmap is not None:
            self.qr_label.setPixmap(pixmap)
            self.qr_label.setFixedSize(pixmap.size())  # a clipped QR code does not scan
            layout.addWidget(self.qr_label, 0, Qt.AlignmentFlag.AlignHCenter)
        else:
            self.qr_label.hide()
        return frame

    def _second_person_panel(self) -> QFrame:
        """Asks who joins from a second device, before making their link."""
        frame, layout = panel("A second person")
        self.ask_panel = frame
        layout.addWidget(
            plain_label(
                "Who will join from their own device? Their name is for your record and the "
                "progress note; it is never sent over the internet.",
                name="About the second person",
            )
        )
        self.second_name = QLineEdit()
        self.second_name.setAccessibleName("Second person's name")
        self.second_name.setPlaceholderText("Their name")
        self.second_name.setMaxLength(100)
        self.second_name.returnPressed.connect(self._second_name_given)
        layout.addWidget(self.second_name)
        self.second_note = plain_label("", name="Second person problem")
        self.second_note.hide()
        layout.addWidget(self.second_note)
        row = QHBoxLayout()
        self.make_second_link = QPushButton("Make their link")
        self.make_second_link.clicked.connect(self._second_name_given)
        cancel = QPushButton("Cancel")
        cancel.clicked.connect(frame.hide)
        row.addWidget(self.make_second_link)
        row.addWidget(cancel)
        row.addStretch(1)
        layout.addLayout(row)
        frame.hide()
        return frame

    def _verification_panel(self) -> QFrame:
        frame, layout = panel(CODE_NAME)  # the page calls it so too
        self.verification_panel = frame
        self.verification_hint = plain_label(
            "A code appears here once the call connects.", name="Security code hint"
        )
        layout.addWidget(self.verification_hint)
        self.code_label = plain_label("--- ---", name=CODE_NAME)
        self.code_label.setObjectName("code")
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(font.pointSizeF() * 2.2)
        font.setWeight(QFont.Weight.DemiBold)
        self.code_label.setFont(font)
        layout.addWidget(self.code_label)
        row = QHBoxLayout()
        self.verified_button = QPushButton("Verified")
        self.verified_button.setToolTip("The client read the same code aloud")
        self.verified_button.clicked.connect(self.mark_verified)
        self.mismatch_button = QPushButton("Codes differ")
        self.mismatch_button.setToolTip("End the session: someone may be in between")
        self.mismatch_button.clicked.connect(self.codes_differ)
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)
        row.addWidget(self.verified_button)
        row.addWidget(self.mismatch_button)
        row.addStretch(1)
        layout.addLayout(row)
        return frame

    def _chat_panel(self) -> QFrame:
        frame, layout = panel("Chat")
        self.chat_log = QPlainTextEdit()
        self.chat_log.setObjectName("chatLog")
        self.chat_log.setReadOnly(True)
        self.chat_log.setAccessibleName("Chat messages")
        self.chat_log.setPlaceholderText("Messages are end-to-end encrypted and never saved.")
        layout.addWidget(self.chat_log, 1)
        row = QHBoxLayout()
        self.chat_input = QLineEdit()
        self.chat_input.setAccessibleName("Message")
        self.chat_input.setPlaceholderText("Chat opens when the call connects")
        self.chat_input.setMaxLength(MAX_CHAT_CHARS)
        self.chat_input.returnPressed.connect(self.send_chat)
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send_chat)
        self.chat_input.setEnabled(False)
        self.send_button.setEnabled(False)
        row.addWidget(self.chat_input, 1)
        row.addWidget(self.send_button)
        layout.addLayout(row)
        return frame

    def _connect_bridge(self) -> None:
        b = self.bridge
        b.state_changed.connect(self._on_state, Q)
        b.client_waiting.connect(self._on_client_waiting, Q)
        b.client_present.connect(self._on_client_present, Q)
        b.verification_code.connect(self._on_code, Q)
        b.video_ready.connect(self._paint_remote, Q)
        b.audio_ready.connect(self._play_audio, Q)
        b.chat_received.connect(self._on_chat, Q)
        b.chat_open.connect(self._on_chat_open, Q)
        b.stats.connect(self._on_stats, Q)
        b.error.connect(self._on_error, Q)
        b.problem.connect(self.problem, Q)
        b.unverified.connect(self._on_unverified, Q)
        b.client_details.connect(self._render_waiting, Q)
        b.peer_video.connect(self._on_peer_video, Q)
        self.media.self_view_frame.connect(self.self_view.show_frame)
        self.media.camera_status.connect(self._on_camera_status)
        self.media.microphone_status.connect(self._on_microphone_status)
        self.media.devices_changed.connect(self._fill_devices)
        self.player.status.connect(self._on_speaker_status)
        self.player.devices_changed.connect(self._fill_devices)

    # -- devices --------------------------------------------------------------------------------

    @staticmethod
    def _fill(picker: QComboBox, devices: list[Device], current: bytes | None, empty: str) -> None:
        picker.blockSignals(True)
        picker.clear()
        if not devices:
            picker.addItem(empty, "")
            picker.setEnabled(False)
        else:
            for device in devices:
                picker.addItem(device.name, device.id.hex())
            picker.setEnabled(True)
            index = picker.findData(current.hex()) if current is not None else -1
            picker.setCurrentIndex(max(0, index))
        picker.blockSignals(False)

    def _fill_devices(self) -> None:
        self._fill(self.camera_picker, self.media.cameras(), self.media.camera_id,
                   "No camera found")  # fmt: skip
        self._fill(self.microphone_picker, self.media.microphones(), self.media.microphone_id,
                   "No microphone found")  # fmt: skip
        speakers = [Device(id_, name) for id_, name in self.player.speakers()]
        self._fill(self.speaker_picker, speakers, self.player.speaker_id, "No speaker found")

    @staticmethod
    def _picked(picker: QComboBox) -> bytes | None:
        data = picker.currentData()
        return bytes.fromhex(data) if isinstance(data, str) and data else None

    def _camera_picked(self) -> None:
        self.media.select_camera(self._picked(self.camera_picker))

    def _microphone_picked(self) -> None:
        self.media.select_microphone(self._picked(self.microphone_picker))

    def _speaker_picked(self) -> None:
        speaker = self._picked(self.speaker_picker)
        self.player.select_speaker(speaker)
        if self.second is not None:
            self.second.select_speaker(speaker)

    def _note(self, key: str, text: str) -> None:
        self._notes[key] = text
        notes = [n for n in self._notes.values() if n]
        self.device_note.setText("\n".join(notes))
        self.device_note.setVisible(bool(notes) and not self._finished)

    def _on_camera_status(self, text: str) -> None:
        self._note("camera", text)
        if text and not self.camera_button.isChecked():
            self.self_view.clear("No camera" if "No camera" in text else "Camera unavailable")

    def _on_microphone_status(self, text: str) -> None:
        self._note("microphone", text)

    def _on_speaker_status(self, text: str) -> None:
        self._note("speaker", text)

    # -- actions --------------------------------------------------------------------------------

    def start(self) -> None:
        """Open the camera and microphone and join the relay; the link is ready to share."""
        self.media.start()
        self.bridge.watch(self.session.start(), on_failure=self._start_failed)
        self.forwarding.attach(1, self.session)

    # -- a second person (a couples or family session) -----------------------------------------

    def ask_second_person(self) -> None:
        """Ask who joins from a second device (the panel in the side column)."""
        if self._finished or not self._second_allowed():
            return
        self.second_note.hide()
        self.ask_panel.show()
        self.second_name.setFocus()

    def _second_allowed(self) -> bool:
        second = self.second
        return second is None or second.device.state in (CallState.ENDED, CallState.FAILED)

    def _second_name_given(self) -> None:
        if self.add_second_device(self.second_name.text()) is not None:
            self.second_name.clear()
            self.ask_panel.hide()

    def add_second_device(self, participant: str) -> SecondDevice | None:
        """Invite a second client device for ``participant``: its own link (shown with Copy and
        a QR code), its own waiting room, code, picture and voice; the two clients see and hear
        each other through this app."""
        if self._finished:
            return None
        replacing = self.second is not None
        try:
            device = self.call.add_device(participant)
        except PracticeError as exc:
            self.second_note.setText(f"{str(exc)[:1].upper()}{str(exc)[1:]}.")
            self.second_note.show()
            return None
        old = self.second
        if old is not None:  # its session ended: the new invitation takes its place
            old.finish()
            old.panel.hide()
            self._retired_seconds.append(old)
        second = SecondDevice(
            device, forwarding=self.forwarding, make_session=self._new_session,
            replacing=replacing, parent=self,
        )  # fmt: skip
        self.second = second
        second.player.select_speaker(self.player.speaker_id)
        self.waiting_layout.addWidget(second.banner)
        self._side.insertWidget(self._side.indexOf(self.verification_panel) + 1, second.panel)
        second.panel.show()  # (a widget added to a window already shown starts hidden)
        self.stage.set_second(second.view)
        self._name_tiles()
        second.connected.connect(self._call_connected)
        second.connected.connect(self._name_tiles)
        second.finished.connect(self._second_finished)
        second.chat.connect(self._chat_line)
        second.peer_video.connect(self._on_second_peer_video)
        second.problem.connect(self.problem)
        second.bridge.client_waiting.connect(self._name_tiles, Q)
        self.invite_second_button.setEnabled(False)
        if self.call.audio_only:
            second.view.clear("Audio only: video is off to keep the sound clear.")
        second.start()
        return second

    def _name_tiles(self, *_args: object) -> None:
        second = self.second
        if second is not None:
            self.stage.set_names(self.client_name or "Your client", second.name)

    def _second_finished(self) -> None:
        self.invite_second_button.setEnabled(not self._finished)
        if self.call.finished and not self._finished:
            self._finish(CallState.ENDED)

    def _start_failed(self, exc: Exception) -> None:
        self._on_error(exc)
        if not self._finished:
            self._finish(CallState.FAILED)

    def admit(self) -> None:
        self.admit_button.setEnabled(False)
        self.decline_button.setEnabled(False)
        self._call(self.session.admit)

    def decline(self) -> None:
        self.admit_button.setEnabled(False)
        self.decline_button.setEnabled(False)
        self._call(self.session.decline)

    def confirm_end(self) -> None:
        """End session asks first: a click by mistake would cut a client off mid-sentence."""
        if self._finished or self.end_confirmation is not None:
            return
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle(TITLE)
        if self.second is None:
            box.setText("End the session for both of you?")
            box.setInformativeText("Your client will see that the session has ended.")
        else:
            box.setText("End the session for all of you?")
            box.setInformativeText("Both people will see that the session has ended.")
        end = box.addButton("End session", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep the session", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)  # Enter keeps the session going
        box.setEscapeButton(keep)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.buttonClicked.connect(lambda clicked: self._end_answered(clicked is end))
        self.end_confirmation, self.end_confirm_button = box, end
        box.open()

    def _end_answered(self, end: bool) -> None:
        box, self.end_confirmation, self.end_confirm_button = self.end_confirmation, None, None
        if box is not None:
            box.deleteLater()
        if end:
            self.hang_up()

    def hang_up(self) -> None:
        self.end_button.setEnabled(False)
        self._call(self.session.hang_up)
        if self.second is not None:
            self.second.hang_up()

    def _call(self, action: Callable[[], concurrent.futures.Future[None]]) -> None:
        try:
            future = action()
        except RuntimeError:  # the session already stopped
            return
        self.bridge.watch(future, on_failure=self._on_error)

    def set_muted(self, muted: bool) -> None:
        self.media.set_microphone_on(not muted)
        self.mute_button.setText("Unmute" if muted else "Mute")
        self.mute_button.setChecked(muted)

    def set_camera_off(self, off: bool) -> None:
        self.media.set_camera_on(not off)
        self.camera_button.setText("Camera on" if off else "Camera off")
        self.camera_button.setChecked(off)
        if off:
            self.self_view.clear("Camera off")
        else:
            self.self_view.set_placeholder("Camera starting...")

    def copy_link(self) -> None:
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(self.link_field.text())
        self.copy_note.setText("Copied. Paste it into your message to the client.")

    def mark_verified(self) -> None:
        if self.code is None or not self.call.mark_verified():
            return
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)
        self._hint("Verified: the code matched, so nobody is between you and your client.")
        self.code_label.setText(f"{format_code(self.code)} ✓")
        self.code_label.setProperty("verified", True)
        self.code_label.style().unpolish(self.code_label)
        self.code_label.style().polish(self.code_label)
        self.verified.emit(self.code)

    def codes_differ(self) -> None:
        if self.code is None or not self.call.codes_differ():
            return
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)
        self._end_reason = (
            "The codes did not match, so the session was ended. Someone may have been in "
            "between. Create a new link and send it another way."
        )
        self.verification_mismatch.emit(self.code)
        self.hang_up()

    def send_chat(self) -> None:
        text = self.chat_input.text().strip()
        if not text or self._finished:
            return
        second = self.second
        if second is not None and second.device.state is CallState.CONNECTED:
            second.send_chat(text)  # everyone in the session reads the therapist's messages
        try:
            future = self.session.send_chat(text)
        except TelehealthError as exc:
            self._chat_line(f"Not sent: {describe_error(exc)}")
            return
        self.chat_input.clear()
        self.bridge.watch(
            future,
            on_success=lambda: self._chat_line(f"You: {text}"),
            on_failure=lambda exc: self._chat_line(f"Not sent: {describe_error(exc)}"),
        )

    # -- reports from the session ---------------------------------------------------------------

    def _on_state(self, state: CallState, event: CallEvent) -> None:
        name = self.client_name or "your client"
        if state is CallState.INVITED and event is CallEvent.PEER_LEFT:
            self._between_rounds()
            self.waiting_banner.hide()
            self._set_status(
                f"{name[:1].upper()}{name[1:]} left the session. If that was a mistake, they can "
                "join again with the same link. Press End session when you are done."
            )
        elif state is CallState.INVITED:
            if self.local_only:
                self._set_status(
                    "To try a session, open the link in a browser on this computer. To meet "
                    "clients elsewhere, set up video sessions."
                )
            else:
                self._set_status(
                    "Send the link to your client. They will wait until you let them in."
                )
        elif state is CallState.WAITING:
            if event is CallEvent.KNOCK_AGAIN:
                self._between_rounds()
            self._set_status(f"{name} is in the waiting room.")
        elif state is CallState.ADMITTED:
            self.waiting_banner.hide()
            self._set_status(f"Connecting to {name}...")
            if event is CallEvent.ADMIT_GIVEN:
                self.client_admitted.emit(self.client_name or "")
        elif state is CallState.CONNECTING:
            self._set_status(f"Connecting to {name}...")
        elif state is CallState.CONNECTED:
            self._set_status(f"In session with {name}")
            self.error_banner.hide()
            self._name_tiles()
            self._call_connected()
        elif state is CallState.RECONNECTING:
            self._set_status(f"The connection to {name} dropped. Reconnecting...")
        elif state in (CallState.ENDED, CallState.FAILED):
            if event is CallEvent.DECLINE_GIVEN:
                self.client_declined.emit(self.client_name or "")
            if self.call.finished:
                self._finish(state, event)
            else:
                self._first_device_ended(state)

    def _call_connected(self) -> None:
        """The first device to connect starts the call (its duration, the auto-lock hold)."""
        if self._shown_connected or self._finished:
            return
        self._shown_connected = True
        self._meter = QualityMeter(self._clock)  # frame rate from the call's start
        self._elapsed_timer.start()
        self._tick()
        self.invite_panel.hide()
        self.relay_note.hide()
        self.call_started.emit()

    def _first_device_ended(self, state: CallState) -> None:
        """The first client's device is out for good, and the second one is still in: the
        session goes on with them."""
        name = self.client_name or "Your client"
        self._between_rounds()
        self.waiting_banner.hide()
        self.invite_panel.hide()
        self.remote_view.clear(f"{name} is not in the session.")
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)
        second = self.second.name if self.second is not None else "the second person"
        broke = " could not continue" if state is CallState.FAILED else " is no longer in"
        self._set_status(f"{name}{broke} the session. You are still in session with {second}.")

    def _hint(self, text: str) -> None:
        """The line above the code, with the panel grown to fit it (Qt sizes the panel by one
        line; a longer, word-wrapped hint would be clipped)."""
        self.verification_hint.setText(text)
        layout = self.verification_panel.layout()
        if layout is not None:
            self.verification_panel.setMinimumHeight(layout.totalHeightForWidth(330) + 12)

    def _between_rounds(self) -> None:
        """The client left, or another page or device knocked: no media until someone is
        admitted again, who will compare a new code (and starts with video)."""
        if self._showing_audio_only:
            self.set_audio_only(False, tell_client=False)
        self.advice_banner.hide()
        self.bridge.take_video()
        self.bridge.take_audio()
        self.remote_view.clear("Your client's video will appear here.")
        self.error_banner.hide()
        self.chat_input.setEnabled(False)
        self.send_button.setEnabled(False)
        self.code_label.setText("--- ---")
        self.code_label.setProperty("verified", False)
        self.code_label.style().unpolish(self.code_label)
        self.code_label.style().polish(self.code_label)
        self._hint("A new code appears here once the call connects again.")
        self.verified_button.setEnabled(False)
        self.mismatch_button.setEnabled(False)

    def _on_unverified(self) -> None:
        if self._finished or self.code is not None or not self.call.unverified:
            return
        self.error_label.setText(UNVERIFIED_TEXT)
        self.error_banner.show()
        self._hint(
            "No code appeared, so this call could not be verified. Your client sees the same "
            "warning."
        )

    def _on_client_waiting(self, name: str) -> None:
        # The name stays inside the window: titles reach task bars, window switchers and
        # screen-sharing pickers, so the title is always the generic TITLE.
        self._render_waiting()
        self.admit_button.setEnabled(True)
        self.decline_button.setEnabled(True)
        self.waiting_banner.show()
        self.client_waiting.emit(name)

    def _render_waiting(self, *_details: str) -> None:
        """The waiting room's prompt: who knocks and, before the therapist admits them, where
        they are and an emergency number (telehealth practice asks for both)."""
        name = self.client_name or "Someone"
        if self.call.rejoining:
            first = (
                f"{name} is asking to join again, from another device or a reloaded page. "
                "Admit only if you expect them; you will compare a new code."
            )
        else:
            first = f"{name} is waiting." + (
                "" if self._present else " (their page is closed for now)"
            )
        details = self.call.client_details
        if details is None:
            second = (
                "They have not yet said where they are or given an emergency phone number; "
                "the page asks them to."
            )
        else:
            second = (
                f"Where they are now: {details.location}\n"
                f"Emergency phone number: {details.emergency_phone}"
            )
        self.waiting_label.setText(f"{first}\n{second}")

    def _on_client_present(self, here: bool) -> None:
        self._present = here
        if self.state is CallState.WAITING and self.client_name:
            self._render_waiting()

    def _on_code(self, code: str) -> None:
        if self.error_label.text() == UNVERIFIED_TEXT:
            self.error_banner.hide()
        self.code_label.setText(format_code(code))
        name = self.client_name or "your client"
        self._hint(
            f"Ask {name} to read the security code on their screen aloud. If it is the same, "
            "press Verified."
        )
        self.verified_button.setEnabled(True)
        self.mismatch_button.setEnabled(True)

    def _paint_remote(self) -> None:
        frame = self.bridge.take_video()
        if frame is not None and not self._finished and not self.call.audio_only:
            self.remote_view.show_frame(frame)
            self._meter.frame_received()

    def _play_audio(self) -> None:
        for chunk in self.bridge.take_audio():
            if not self._finished:
                self.player.play(chunk)

    def _on_chat_open(self) -> None:
        if self._finished:
            return
        self.chat_input.setEnabled(True)
        self.send_button.setEnabled(True)
        self.chat_input.setPlaceholderText("Write a message")

    def _on_chat(self, text: str) -> None:
        if not self._finished:
            self._chat_line(f"{self.client_name or 'Client'}: {text}")

    def _chat_line(self, line: str) -> None:
        self.chat_log.appendPlainText(line)

    def _on_stats(self, stats: dict[str, float]) -> None:
        if self.state is CallState.CONNECTED:
            quality = self._meter.update(stats)
            self.show_quality(quality)
            advice = self._advisor.update(quality, stats, audio_only=self.call.audio_only)
            if advice is not None:
                self.suggest(advice)

    # -- sharing a screen or a window ---------------------------------------------------------

    def _share_clicked(self) -> None:
        if self.screen_share is not None:
            self.stop_sharing()
            return
        menu = QMenu(self)
        sources = available_sources(exclude=self)
        for source in sources:
            action = menu.addAction(source.label)
            action.triggered.connect(lambda _checked=False, s=source: self.share(s))
        if not sources:
            menu.addAction("Nothing can be shared on this computer").setEnabled(False)
        self.share_menu = menu
        menu.popup(self.share_button.mapToGlobal(self.share_button.rect().bottomLeft()))

    def share(self, source: ShareSource) -> None:
        """Send ``source`` (a screen, a window) to the client instead of the camera."""
        if self._finished or self.call.audio_only:
            return
        self.stop_sharing()
        share = ScreenShare(source, self)
        share.picture.connect(self.media.share_picture)
        share.stopped.connect(self._share_stopped)
        self.screen_share = share
        self.media.set_sharing(True)
        share.start()
        self.share_button.setText("Stop sharing")
        self.audio_only_button.setEnabled(False)
        self._note("share", f"You are sharing {source.label.lower()}. Your client sees it.")

    def stop_sharing(self) -> None:
        share, self.screen_share = self.screen_share, None
        if share is None:
            return
        share.stop()
        share.deleteLater()
        self.media.set_sharing(False)
        self.share_button.setText("Share screen")
        self.audio_only_button.setEnabled(not self._finished)
        self._note("share", "")

    def _share_stopped(self, why: str) -> None:
        self.stop_sharing()
        self._note("share", why)

    # -- audio only -----------------------------------------------------------------------------

    def suggest(self, advice: Advice) -> None:
        """Offer sound only when video cannot be sustained, and video again when it can."""
        self._advice = advice
        if advice == "audio_only":
            self.advice_label.setText(
                "The connection is too weak for video. Switch to audio only to keep the sound "
                "clear? Your client's video stops too."
            )
            self.advice_button.setText("Audio only")
        else:
            self.advice_label.setText("The connection is better now. Turn video back on?")
            self.advice_button.setText("Turn video on")
        self.advice_banner.show()

    def _take_advice(self) -> None:
        self.advice_banner.hide()
        self.set_audio_only(self._advice == "audio_only")

    def set_audio_only(
        self, on: bool, *, tell_client: bool = True, tell_second: bool | None = None
    ) -> None:
        """Sound only (everyone stops sending video: each client is told), or video again.
        ``tell_client`` / ``tell_second``: whether the first / second device is told (not the
        one who switched)."""
        if self._finished:
            return
        self.forwarding.set_video(not on)
        second = self.second
        if second is not None:
            if tell_second if tell_second is not None else tell_client:
                second.set_video(not on)
            if on:
                second.bridge.take_video()
                second.view.clear("Audio only: video is off to keep the sound clear.")
            else:
                second.view.set_placeholder("Video is coming back...")
        was = self._showing_audio_only  # (the call may hold the client's switch already)
        self._showing_audio_only = on
        self.call.set_audio_only(on)
        self.audio_only_button.blockSignals(True)
        self.audio_only_button.setChecked(on)
        self.audio_only_button.setText("Turn video on" if on else "Audio only")
        self.audio_only_button.blockSignals(False)
        self.camera_button.setEnabled(not on)
        if self._advice is not None and (self._advice == "audio_only") == on:
            self.advice_banner.hide()
        if on:
            self.media.set_camera_on(False, placeholder="Audio only")
            self.self_view.clear("Audio only")
            self.bridge.take_video()
            self.remote_view.clear("Audio only: video is off to keep the sound clear.")
        elif was:
            if not self.camera_button.isChecked():
                self.media.set_camera_on(True)
                self.self_view.set_placeholder("Camera starting...")
            else:
                self.media.set_camera_on(False)
            self.remote_view.set_placeholder("Video is coming back...")
        if (
            tell_client
            and was != on
            and self.state
            in (
                CallState.CONNECTED,
                CallState.RECONNECTING,
            )
        ):
            self._call(lambda: self.session.set_video(not on))

    def _on_peer_video(self, video: bool) -> None:
        name = self.client_name or "Your client"
        self.set_audio_only(not video, tell_client=False, tell_second=True)
        self._set_status(
            f"{name} switched to audio only." if not video else f"In session with {name}"
        )

    def _on_second_peer_video(self, video: bool) -> None:
        second = self.second
        name = second.name if second is not None else "The second person"
        self.set_audio_only(not video, tell_client=True, tell_second=False)
        self._set_status(f"{name} switched to audio only." if not video else "In session.")

    def show_quality(self, quality: Quality) -> None:
        self.quality.setText("● " + quality.text())
        self.quality.setProperty("level", quality.level)
        self.quality.style().unpolish(self.quality)
        self.quality.style().polish(self.quality)

    def _on_error(self, error: object) -> None:
        text = describe_error(error) if isinstance(error, Exception) else str(error)
        self._last_error = self._last_error or text
        if not self._finished:
            self.error_label.setText(text[:1].upper() + text[1:])
            self.error_banner.show()

    def _tick(self) -> None:
        elapsed = self.call.elapsed()
        if elapsed is not None:
            self.elapsed.setText(format_duration(elapsed))

    def _set_status(self, text: str) -> None:
        self.status.setText(text)

    # -- the end --------------------------------------------------------------------------------

    def _finish(self, state: CallState, event: CallEvent | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        self._elapsed_timer.stop()
        duration = self.call.duration
        if duration is not None:
            self.elapsed.setText(format_duration(duration))
        self.stop_sharing()
        self.media.stop()
        self.player.stop()
        if self.second is not None:
            self.second.finish()
        self.ask_panel.hide()
        self.invite_second_button.setEnabled(False)
        # Nothing of the call stays in the window.
        self.bridge.take_video()
        self.bridge.take_audio()
        self.remote_view.clear("The session has ended.")
        self.self_view.clear("Camera off")
        self.chat_log.clear()
        self.chat_input.clear()
        for widget in (
            self.chat_input,
            self.send_button,
            self.mute_button,
            self.camera_button,
            self.audio_only_button,
            self.share_button,
            self.advice_button,
            self.end_button,
            self.verified_button,
            self.mismatch_button,
            self.camera_picker,
            self.microphone_picker,
            self.speaker_picker,
        ):
            widget.setEnabled(False)
        self.waiting_banner.hide()
        self.error_banner.hide()
        self.advice_banner.hide()
        self.device_note.hide()
        self.relay_note.hide()
        self.invite_panel.hide()
        # The invitation is spent: the link and its QR code leave the window too.
        self.link_field.clear()
        self.qr_label.clear()
        self.copy_button.setEnabled(False)
        self.quality.setText("")
        self.close_button.show()
        self._set_status(self._final_text(state, event))
        if duration is not None:
            self.call_ended.emit(duration)
        self.session_finished.emit(state.value)
        self._stop_session()

    def _final_text(self, state: CallState, event: CallEvent | None) -> str:
        name = self.client_name or "your client"
        if state is CallState.FAILED:
            reason = self._last_error or "the connection was lost"
            return f"The session could not continue: {reason}"
        if self._end_reason is not None:
            return self._end_reason
        if event is CallEvent.DECLINE_GIVEN:
            return f"You declined {name}. The session has ended."
        if event is CallEvent.BYE_RECEIVED:
            ended = f"{name[:1].upper()}{name[1:]} left the session."
        else:
            ended = "The session has ended."
        duration = self.call.duration
        if duration is not None:
            return f"{ended} Duration {format_duration(duration)}."
        return ended

    def stop_sessions(self, timeout: float) -> None:
        """Hang up every device's session and wait (at most ``timeout`` each) for their
        threads: the app locks or quits."""
        for second in (self.second, *self._retired_seconds):
            if second is not None:
                with contextlib.suppress(Exception):
                    second.session.stop(timeout=timeout)
        self.session.stop(timeout=timeout)

    def _stop_session(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for second in (self.second, *self._retired_seconds):
            if second is not None:
                second.stop()
        run_in_background(self.session.stop, self._stopped, self._stopped)

    def _stopped(self, _result: object) -> None:
        with contextlib.suppress(RuntimeError):  # the window may be gone already
            self.session_stopped = True
            self.stopped.emit()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt's name)
        """Closing the window ends the session (the client is told) and releases the devices."""
        self.media.stop()
        self.player.stop()
        if self.second is not None:
            self.second.player.stop()
        self._stop_session()
        event.accept()
