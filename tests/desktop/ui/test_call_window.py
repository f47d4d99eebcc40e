"""The therapist's call window driven like a person would, against a real call: a relay on
127.0.0.1, the window's own TherapistSession, and a Python stand-in for the client's page (an
answering CallEngine with synthetic colour bars and a tone). The window is a view of a core
VideoCall opened through the facade; what it records is checked in test_video_sessions.py and
tests/desktop/core/test_call_state.py."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.calls import VideoCall
from desktop.core.practice import ClientDetails, Practice
from desktop.core.sessions import Modality
from desktop.ui.call_window import CODE_NAME, UNVERIFIED_TEXT, CallWindow, format_code
from desktop.ui.local_media import PLACEHOLDER_BACKGROUND, LocalMedia
from desktop.ui.qt import QColor, QGuiApplication, QImage, Qt
from telehealth import protocol
from telehealth.engine import RgbFrame
from telehealth.lifecycle import CallState

CLIENT = "Ana María"


@pytest.fixture
def open_call(practice: Practice, tmp_path: Path) -> Callable[[str], VideoCall]:
    """A video appointment's call on the relay at ``origin``, opened through the facade."""
    client = practice.create_client(ClientDetails(name=CLIENT))
    appointment = practice.schedule_session(
        client.id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    )
    return lambda origin: practice.open_video_call(appointment.id, origin)


def image_brightness(image: QImage | None) -> float:
    """Mean grey level over a grid of pixels (0 = black)."""
    assert image is not None and not image.isNull()
    values = [
        image.pixelColor(x * image.width() // 16, y * image.height() // 12).lightness()
        for x in range(16)
        for y in range(12)
    ]
    return sum(values) / len(values)


class WriteWatch:
    """Records every file opened for writing by Python code (an audit hook; hooks cannot be
    removed, so it only records while ``active``)."""

    installed: WriteWatch | None = None

    def __init__(self) -> None:
        self.active = False
        self.paths: list[str] = []

    @classmethod
    def get(cls) -> WriteWatch:
        if cls.installed is None:
            cls.installed = WriteWatch()
            sys.addaudithook(cls.installed._hook)
        return cls.installed

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active or event != "open" or len(args) < 3:
            return
        path, mode, flags = args[0], args[1], args[2]
        if isinstance(path, int):  # an already open descriptor (os.fdopen), not a new file
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        name = str(path)
        if writing and not name.startswith(("/dev/", "/proc/")) and "__pycache__" not in name:
            self.paths.append(name)


@pytest.fixture
def no_writes(tmp_path: Path) -> Iterator[Callable[[], list[str]]]:
    """Files written so far in the test, other than the (encrypted) vault's own (its audit
    entries: ids and numbers only)."""
    watch = WriteWatch.get()
    watch.paths.clear()
    watch.active = True
    vault_dir = str(tmp_path / "vault")
    try:
        yield lambda: [p for p in watch.paths if not p.startswith(vault_dir)]
    finally:
        watch.active = False


def end_session(qtbot: QtBot, window: CallWindow) -> None:
    """Answer End session's question with End session."""
    qtbot.waitUntil(lambda: window.end_confirmation is not None, timeout=2000)
    assert window.end_confirmation is not None and window.end_confirmation.isVisible()
    assert window.end_confirm_button is not None
    qtbot.mouseClick(window.end_confirm_button, Qt.MouseButton.LeftButton)


def shows_placeholder(frame: RgbFrame | None) -> bool:
    """The dark slate card with light words (local_media.placeholder_image), as decoded."""
    if frame is None:
        return False

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        i = y * frame.stride + x * 3
        return frame.data[i], frame.data[i + 1], frame.data[i + 2]

    expected = QColor(PLACEHOLDER_BACKGROUND)
    corner = pixel(4, 4)
    want = (expected.red(), expected.green(), expected.blue())
    near = all(abs(a - b) < 20 for a, b in zip(corner, want, strict=True))
    middle = [sum(pixel(x, frame.height // 2)) // 3 for x in range(frame.width)]
    return near and max(middle) > 150  # the words are there


def save(window: CallWindow, folder: Path | None, name: str) -> None:
    image = window.grab()
    assert not image.isNull() and image.width() > 600
    if folder is not None:
        image.save(str(folder / name))


@pytest.mark.slow
def test_a_whole_call_from_the_waiting_room_to_hang_up(
    qtbot: QtBot,
    relay: Any,
    loopback_only: None,
    make_client: Callable[..., Any],
    screenshot_dir: Path | None,
    no_writes: Callable[[], list[str]],
    open_call: Callable[[str], VideoCall],
) -> None:
    call = open_call(relay.base_url)
    invite = call.invite
    media = LocalMedia(synthetic=True)
    window = CallWindow(call, media=media, ice_servers=[], connect_timeout=15, stats_interval=0.5)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)

    # The invitation: the link, a Copy button, a QR code; the self view shows the camera.
    assert window.link_field.text() == invite.link
    qtbot.mouseClick(window.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == invite.link
    assert window.qr_label.pixmap() is not None and not window.qr_label.pixmap().isNull()
    window.resize(1120, 700)  # the default size: the whole QR code fits in its panel
    qtbot.waitUntil(lambda: window.invite_panel.height() >= window.invite_panel.minimumHeight())
    assert window.invite_panel.rect().contains(window.qr_label.geometry())
    qtbot.waitUntil(lambda: window.self_view.frames_painted > 0, timeout=3000)
    assert window.camera_picker.currentText() == "Test pattern"

    # The client knocks: the waiting-room prompt names them.
    client = make_client(invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000) as waiting:
        answer = client.join(CLIENT)
    assert waiting.args == [CLIENT]
    assert window.waiting_banner.isVisible()
    assert window.waiting_label.text().splitlines()[0] == f"{CLIENT} is waiting."
    assert "not yet said where they are" in window.waiting_label.text()

    # Admit: the call connects and both sides show the same verification code.
    with qtbot.waitSignal(window.client_admitted, timeout=5000) as admitted:
        qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert admitted.args == [CLIENT]
    assert answer.result(5) == protocol.Admit()
    client_code = client.connect()
    qtbot.waitUntil(lambda: window.code is not None, timeout=10_000)
    assert window.code == client_code.result(5)
    # The core call holds the code first; the window renders it on the UI thread right after.
    qtbot.waitUntil(lambda: window.code_label.text() == format_code(window.code or ""))
    assert not window.waiting_banner.isVisible()
    with qtbot.waitSignal(window.call_started, timeout=15_000):
        pass

    # The client's video is painted, and it is not black; their voice reaches the player.
    qtbot.waitUntil(lambda: window.remote_view.frames_painted >= 5, timeout=10_000)
    assert image_brightness(window.remote_view.image()) > 60
    qtbot.waitUntil(lambda: window.player.peak > 2000, timeout=5000)
    assert window.player.chunks_received > 0
    assert client.frames > 0 and client.last_brightness() > 60  # our test pattern reached them

    # Verified, after the client read the code aloud.
    with qtbot.waitSignal(window.verified, timeout=1000) as verified:
        qtbot.mouseClick(window.verified_button, Qt.MouseButton.LeftButton)
    assert verified.args == [window.code]
    assert not window.verified_button.isEnabled()

    # Chat both ways.
    qtbot.waitUntil(window.send_button.isEnabled, timeout=5000)
    assert client.chat_open.wait(5)
    qtbot.keyClicks(window.chat_input, "How are you today?")
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: client.chat == ["How are you today?"], timeout=5000)
    client.send_chat("A little better, thank you.")
    qtbot.waitUntil(
        lambda: f"{CLIENT}: A little better, thank you." in window.chat_log.toPlainText(),
        timeout=5000,
    )
    assert "You: How are you today?" in window.chat_log.toPlainText()

    # The quality indicator fills in from the stats.
    qtbot.waitUntil(lambda: "connection" in window.quality.text(), timeout=5000)
    assert "fps" in window.quality.text()

    # Mute: the client hears silence; unmute: the tone again.
    assert client.loudest_since(time.monotonic() - 1) > 2000
    qtbot.mouseClick(window.mute_button, Qt.MouseButton.LeftButton)
    assert window.mute_button.text() == "Unmute"
    muted_at = time.monotonic()
    qtbot.wait(700)
    qtbot.waitUntil(lambda: 0 <= client.loudest_since(muted_at + 0.5) < 100, timeout=3000)
    qtbot.mouseClick(window.mute_button, Qt.MouseButton.LeftButton)
    assert window.mute_button.text() == "Mute"
    unmuted_at = time.monotonic()
    qtbot.waitUntil(lambda: client.loudest_since(unmuted_at) > 2000, timeout=3000)

    # Camera off: the self view says so and the client sees a "Camera off" card (not a black
    # picture they might take for a fault); on: the picture returns.
    qtbot.mouseClick(window.camera_button, Qt.MouseButton.LeftButton)
    assert window.camera_button.text() == "Camera on"
    assert window.self_view.image() is None and window.self_view.placeholder == "Camera off"
    qtbot.waitUntil(lambda: shows_placeholder(client.last_frame), timeout=3000)
    qtbot.mouseClick(window.camera_button, Qt.MouseButton.LeftButton)
    assert window.camera_button.text() == "Camera off"
    qtbot.waitUntil(lambda: window.self_view.image() is not None, timeout=3000)
    qtbot.waitUntil(lambda: client.last_brightness() > 60, timeout=3000)
    qtbot.waitUntil(lambda: " ms" in window.quality.text(), timeout=5000)  # RTT from RTCP
    qtbot.waitUntil(lambda: window.elapsed.text() != "00:00", timeout=3000)
    save(window, screenshot_dir, "call-window.png")

    # End session asks first; "Keep the session" (the default) keeps it going.
    qtbot.mouseClick(window.end_button, Qt.MouseButton.LeftButton)
    box = window.end_confirmation
    assert box is not None and box.isVisible() and box.text() == "End the session for both of you?"
    assert box.defaultButton().text() == "Keep the session"
    qtbot.mouseClick(box.defaultButton(), Qt.MouseButton.LeftButton)
    assert window.end_confirmation is None and window.state is CallState.CONNECTED
    assert window.end_button.isEnabled()

    # Hang up: the client is told, the window emits the duration and keeps nothing.
    durations: list[float] = []
    window.call_ended.connect(durations.append)
    with qtbot.waitSignal(window.session_finished, timeout=5000) as finished:
        qtbot.mouseClick(window.end_button, Qt.MouseButton.LeftButton)
        end_session(qtbot, window)
    assert finished.args == ["ended"]
    assert len(durations) == 1 and 0 < durations[0] < 60
    assert window.state is CallState.ENDED
    assert window.status.text().startswith("The session has ended. Duration 00:")
    assert window.chat_log.toPlainText() == ""
    assert window.remote_view.image() is None and window.self_view.image() is None
    assert not window.end_button.isEnabled() and window.close_button.isVisible()
    assert client.next_message().result(5) == protocol.Bye(reason="hangup")
    qtbot.waitUntil(lambda: window.session_stopped, timeout=15_000)
    assert no_writes() == []


def test_no_devices_waiting_client_declined(
    qtbot: QtBot,
    relay: Any,
    make_client: Callable[..., Any],
    no_writes: Callable[[], list[str]],
    open_call: Callable[[str], VideoCall],
) -> None:
    """On a machine without camera, microphone or speaker the window says so and carries on."""
    call = open_call(relay.base_url)
    invite = call.invite
    window = CallWindow(call, media=LocalMedia(), ice_servers=[])
    qtbot.addWidget(window)
    window.show()
    ended: list[float] = []
    declined: list[str] = []
    window.call_ended.connect(ended.append)
    window.client_declined.connect(declined.append)
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)
    assert window.camera_picker.currentText() == "No camera found"
    assert not window.camera_picker.isEnabled()
    assert window.microphone_picker.currentText() == "No microphone found"
    assert "No camera found" in window.device_note.text()
    assert "No microphone found" in window.device_note.text()
    assert window.self_view.placeholder == "No camera"

    client = make_client(invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        answer = client.join("<b>Mallory</b>")
    # A name is untrusted text: shown as typed, never as markup.
    assert window.waiting_label.textFormat() == Qt.TextFormat.PlainText
    assert window.waiting_label.text().splitlines()[0] == "<b>Mallory</b> is waiting."
    with qtbot.waitSignal(window.session_finished, timeout=5000):
        qtbot.mouseClick(window.decline_button, Qt.MouseButton.LeftButton)
    assert declined == ["<b>Mallory</b>"]
    assert answer.result(5) == protocol.Decline()
    assert window.status.text() == "You declined <b>Mallory</b>. The session has ended."
    assert ended == []  # no call took place
    qtbot.waitUntil(lambda: window.session_stopped, timeout=10_000)
    assert no_writes() == []


def test_unreachable_relay_fails_calmly(
    qtbot: QtBot, open_call: Callable[[str], VideoCall]
) -> None:
    window = CallWindow(open_call("http://127.0.0.1:9"), media=LocalMedia(synthetic=True))
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.session_finished, timeout=10_000) as finished:
        window.start()
    assert finished.args == ["failed"]
    assert window.status.text().startswith("The session could not continue:")
    assert "relay" in window.status.text()
    qtbot.waitUntil(lambda: window.session_stopped, timeout=10_000)


def test_closing_the_window_ends_the_session(
    qtbot: QtBot, relay: Any, open_call: Callable[[str], VideoCall]
) -> None:
    window = CallWindow(open_call(relay.base_url), media=LocalMedia(synthetic=True))
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)
    with qtbot.waitSignal(window.stopped, timeout=10_000):
        window.close()
    assert window.session.state is CallState.ENDED
    assert window.media.frames.latest() is None  # the camera was released


def test_codes_differ_ends_the_session(
    qtbot: QtBot,
    relay: Any,
    loopback_only: None,
    make_client: Callable[..., Any],
    open_call: Callable[[str], VideoCall],
) -> None:
    call = open_call(relay.base_url)
    invite = call.invite
    window = CallWindow(call, media=LocalMedia(synthetic=True), ice_servers=[])
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)
    client = make_client(invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        answer = client.join(CLIENT)
    qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert answer.result(5) == protocol.Admit()
    client.connect()
    qtbot.waitUntil(window.mismatch_button.isEnabled, timeout=10_000)
    with qtbot.waitSignal(window.verification_mismatch, timeout=1000) as mismatch:
        qtbot.mouseClick(window.mismatch_button, Qt.MouseButton.LeftButton)
    assert mismatch.args == [window.code]
    qtbot.waitUntil(lambda: window.state is CallState.ENDED, timeout=5000)
    qtbot.waitUntil(lambda: window.status.text().startswith("The codes did not match"))
    assert not window.is_verified
    qtbot.waitUntil(lambda: window.session_stopped, timeout=10_000)


def test_the_code_has_the_same_name_in_the_window_and_on_the_page(qtbot: QtBot) -> None:
    page = (Path(__file__).parents[3] / "resources" / "web" / "index.html").read_text("utf-8")
    assert f'<span class="badge-label">{CODE_NAME}</span>' in page
    assert CODE_NAME == "Security code"


@pytest.mark.slow
def test_an_unverified_call_a_client_who_leaves_and_joins_again(
    qtbot: QtBot,
    relay: Any,
    loopback_only: None,
    make_client: Callable[..., Any],
    open_call: Callable[[str], VideoCall],
    practice: Practice,
    screenshot_dir: Path | None,
) -> None:
    """No code within the deadline: the window says so in words. The client leaves: the window
    says they can join again, and a new page's knock is let in with a new code."""
    call = open_call(relay.base_url)
    window = CallWindow(call, media=LocalMedia(synthetic=True), ice_servers=[], verify_timeout=1.5)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)
    mallory = make_client(call.invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        answer = mallory.join(CLIENT)
    qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert answer.result(5) == protocol.Admit()
    assert mallory.connect(reveal=False).result(10) == ""
    qtbot.waitUntil(window.error_banner.isVisible, timeout=10_000)
    assert window.error_label.text() == UNVERIFIED_TEXT
    assert "could not be verified" in window.error_label.text()
    assert call.unverified and call.code is None
    assert window.code_label.text() == "--- ---" and not window.verified_button.isEnabled()
    save(window, screenshot_dir, "call-window-unverified.png")

    # The client leaves: the session stays open, the window says what happens next.
    mallory.leave()
    qtbot.waitUntil(lambda: "left the session" in window.status.text(), timeout=5000)
    assert window.state is CallState.INVITED and call.client_left
    assert "join again with the same link" in window.status.text()
    assert not window.error_banner.isVisible() and window.end_button.isEnabled()

    # "Join again": a new page knocks, is admitted, and both read the same new code.
    again = make_client(call.invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        answer = again.join(CLIENT)
    assert window.waiting_banner.isVisible() and window.admit_button.isEnabled()
    qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert answer.result(5) == protocol.Admit()
    code = again.connect().result(10)
    qtbot.waitUntil(lambda: window.code_label.text() == format_code(code), timeout=10_000)
    assert not call.unverified
    qtbot.mouseClick(window.verified_button, Qt.MouseButton.LeftButton)
    assert call.verified
    with qtbot.waitSignal(window.session_finished, timeout=5000):
        window.hang_up()
    actions = [e.action for e in practice.audit_entries() if e.action.startswith("call.")]
    assert actions == [
        "call.invite_created",
        "call.client_admitted",
        "call.started",
        "call.device_left",  # the client left (how long they were connected)
        "call.client_admitted",  # the second page, admitted again
        "call.verified",
        "call.ended",
    ]
    qtbot.waitUntil(lambda: window.session_stopped, timeout=10_000)


@pytest.mark.slow
def test_audio_only_from_either_side_and_when_the_connection_is_weak(
    qtbot: QtBot,
    relay: Any,
    loopback_only: None,
    make_client: Callable[..., Any],
    open_call: Callable[[str], VideoCall],
    screenshot_dir: Path | None,
) -> None:
    call = open_call(relay.base_url)
    window = CallWindow(call, media=LocalMedia(synthetic=True), ice_servers=[], stats_interval=0.5)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)
    client = make_client(call.invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        answer = client.join(CLIENT)
    qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert answer.result(5) == protocol.Admit()
    client.connect().result(10)
    qtbot.waitUntil(lambda: window.remote_view.frames_painted >= 3, timeout=10_000)
    qtbot.waitUntil(lambda: client.last_brightness() > 60, timeout=5000)

    # The therapist switches to audio only: the client is told, and sees an "Audio only" card.
    qtbot.mouseClick(window.audio_only_button, Qt.MouseButton.LeftButton)
    assert call.audio_only and window.audio_only_button.text() == "Turn video on"
    assert client.next_message().result(5) == protocol.MediaMode(video=False)
    qtbot.waitUntil(lambda: shows_placeholder(client.last_frame), timeout=3000)
    assert window.remote_view.image() is None
    assert window.remote_view.placeholder.startswith("Audio only")
    assert not window.camera_button.isEnabled()
    painted = window.remote_view.frames_painted
    qtbot.wait(500)
    assert window.remote_view.frames_painted == painted  # the client's video is not shown
    save(window, screenshot_dir, "call-window-audio-only.png")

    # The client turns video back on: so does the window.
    client.send(protocol.MediaMode(video=True))
    qtbot.waitUntil(lambda: not call.audio_only and not window.audio_only_button.isChecked())
    qtbot.waitUntil(lambda: window.remote_view.frames_painted > painted, timeout=5000)
    qtbot.waitUntil(lambda: client.last_brightness() > 60 and not shows_placeholder(
        client.last_frame), timeout=5000)  # fmt: skip

    # The client switches to audio only from their side.
    client.send(protocol.MediaMode(video=False))
    qtbot.waitUntil(lambda: window.audio_only_button.isChecked(), timeout=5000)
    assert "switched to audio only" in window.status.text()
    window.set_audio_only(False)
    assert client.next_message().result(5) == protocol.MediaMode(video=True)

    # A weak connection for three reports in a row: the window suggests audio only.
    poor = {"remote-inbound-rtp.audio.roundTripTime": 0.6}
    for _ in range(3):
        window._on_stats(poor)
    assert window.advice_banner.isVisible() and window.advice_button.text() == "Audio only"
    assert "too weak for video" in window.advice_label.text()
    qtbot.mouseClick(window.advice_button, Qt.MouseButton.LeftButton)
    assert call.audio_only and not window.advice_banner.isVisible()
    assert client.next_message().result(5) == protocol.MediaMode(video=False)
    # ...and video again once it has been good for a while.
    good = {"remote-inbound-rtp.audio.roundTripTime": 0.02}
    for _ in range(5):
        window._on_stats(good)
    assert window.advice_banner.isVisible() and window.advice_button.text() == "Turn video on"
    qtbot.mouseClick(window.advice_button, Qt.MouseButton.LeftButton)
    assert not call.audio_only
    assert client.next_message().result(5) == protocol.MediaMode(video=True)
    with qtbot.waitSignal(window.session_finished, timeout=5000):
        window.hang_up()


def mean_colour(frame: RgbFrame | None) -> tuple[int, int, int]:
    assert frame is not None
    points = [(x * frame.width // 8, y * frame.height // 6) for x in range(1, 8) for y in (2, 3, 4)]
    total = [0, 0, 0]
    for x, y in points:
        i = y * frame.stride + x * 3
        for c in range(3):
            total[c] += frame.data[i + c]
    r, g, b = (t // len(points) for t in total)
    return r, g, b


@pytest.mark.slow
def test_sharing_a_window_with_the_client(
    qtbot: QtBot,
    relay: Any,
    loopback_only: None,
    make_client: Callable[..., Any],
    open_call: Callable[[str], VideoCall],
) -> None:
    """The shared window replaces the camera on the call's video track; the camera comes back
    when sharing stops. (A window grab here: the offscreen platform has no screen to capture;
    the app's picker offers screens and other applications' windows through QtMultimedia.)"""
    from desktop.ui.qt import QLabel
    from desktop.ui.screen_share import ShareSource, available_sources

    call = open_call(relay.base_url)
    window = CallWindow(call, media=LocalMedia(synthetic=True), ice_servers=[])
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)
    client = make_client(call.invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        answer = client.join(CLIENT)
    qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert answer.result(5) == protocol.Admit()
    client.connect().result(10)
    qtbot.waitUntil(lambda: client.last_brightness() > 60, timeout=10_000)

    worksheet = QLabel("Thought record: situation, feeling, thought")
    worksheet.setWindowTitle("Worksheet")
    worksheet.setStyleSheet("background: #ff8800; color: #ff8800; font-size: 1px;")
    worksheet.resize(400, 300)
    qtbot.addWidget(worksheet)
    worksheet.show()
    # The picker lists the screens (and other applications' windows), never the call window.
    assert all(s.label != f"Window: {window.windowTitle()}" for s in available_sources(window))

    window.share(ShareSource("Window: Worksheet", "widget", widget=worksheet))
    assert window.share_button.text() == "Stop sharing" and window.media.sharing
    assert "You are sharing window: worksheet" in window.device_note.text()

    def orange() -> bool:
        r, g, b = mean_colour(client.last_frame)
        return r > 200 and 100 < g < 170 and b < 60

    qtbot.waitUntil(orange, timeout=5000)  # the client sees the worksheet
    assert window.screen_share is not None and window.screen_share.pictures > 0
    window.stop_sharing()
    assert window.share_button.text() == "Share screen" and not window.media.sharing
    qtbot.waitUntil(lambda: not orange() and client.last_brightness() > 60, timeout=5000)

    # A whole screen through QtMultimedia's QScreenCapture (the offscreen platform has one).
    screens = [s for s in available_sources(window) if s.kind == "screen"]
    assert screens, "no screen to share"
    window.share(screens[0])
    qtbot.waitUntil(
        lambda: window.screen_share is not None and window.screen_share.pictures >= 3,
        timeout=5000,
    )
    frames = client.frames
    qtbot.waitUntil(lambda: client.frames > frames + 5, timeout=5000)
    window.stop_sharing()

    # Closing the shared window stops the share, and the window says so.
    window.share(ShareSource("Window: Worksheet", "widget", widget=worksheet))
    qtbot.waitUntil(orange, timeout=5000)
    worksheet.close()
    qtbot.waitUntil(lambda: window.screen_share is None, timeout=3000)
    assert "The shared window was closed." in window.device_note.text()
    with qtbot.waitSignal(window.session_finished, timeout=5000):
        window.hang_up()
