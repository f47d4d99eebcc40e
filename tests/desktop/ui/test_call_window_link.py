"""The call window tells the truth about its link. With no session service set up, the in-app
relay answers this computer only: the window says so, shows no QR code for a phone, offers "Set up
video sessions…" and never asks to send the link. With a hosted service that requires the
practice's key, the window's session presents the key from the vault and the relay lets it open
the room. The QR code is whole at every size the window allows and encodes the real link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import segno
from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.sessions import Modality
from desktop.core.settings import PracticeSettings
from desktop.ui.local_media import LocalMedia
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QImage, Qt, QWidget
from desktop.ui.video_sessions import VideoSessions
from telehealth.invite import parse_invite_link
from telehealth.lifecycle import CallState
from telehealth.loop_thread import LoopThread
from telehealth.relay import RelayServer, start_relay
from telehealth.relay_credentials import CredentialStore


@pytest.fixture
def video(main_window: MainWindow) -> Iterator[VideoSessions]:
    sessions = main_window.video
    sessions.ice_servers = []
    sessions.media = lambda: LocalMedia(synthetic=True)
    sessions.local_host = "127.0.0.1"
    sessions.connect_timeout = 15.0
    try:
        yield sessions
    finally:
        sessions.shutdown()


@pytest.fixture
def appointment_id(practice: Practice) -> str:
    client = practice.create_client(ClientDetails(name="Ana Quispe"))
    return practice.schedule_session(
        client.id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    ).id


def all_text(widget: QWidget) -> str:
    texts = []
    for child in widget.findChildren(QWidget):
        text = getattr(child, "text", None)
        if callable(text) and child.isVisibleTo(widget):
            value = text()
            if isinstance(value, str):
                texts.append(value)
    return "\n".join(texts)


def qr_matches(image: QImage, link: str) -> bool:
    """Sample the centre of every module of the shown QR code against the link's own code."""
    matrix = segno.make_qr(link, error="m", boost_error=False).matrix
    modules = len(matrix) + 8
    scale = image.width() / modules
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            px = image.pixelColor(int((x + 4.5) * scale), int((y + 4.5) * scale)).lightness()
            if (px < 128) != bool(dark):
                return False
    return True


def test_without_a_service_the_link_is_said_to_work_here_only(
    qtbot: QtBot,
    main_window: MainWindow,
    video: VideoSessions,
    appointment_id: str,
    screenshot_dir: Path | None,
) -> None:
    main_window.start_video_session(appointment_id)
    window = video.window
    assert window is not None and window.local_only
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
    text = all_text(window)
    assert "works only on this computer" in text
    assert "Send this link" not in text and "Send the link" not in text
    qtbot.waitUntil(
        lambda: "open the link in a browser on this computer" in window.status.text(), timeout=5000
    )
    assert window.qr_label.isHidden()  # no QR code a phone could not open
    assert window.setup_button.isVisible()
    shot = window.grab()
    assert not shot.isNull()
    if screenshot_dir is not None:
        shot.save(str(screenshot_dir / "call-window-this-computer-only.png"))
    qtbot.mouseClick(window.setup_button, Qt.MouseButton.LeftButton)
    assert main_window.current_page() is main_window.settings_page


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[tuple[str, str, RelayServer]]:
    store = CredentialStore(tmp_path / "credentials.json")
    _cred, key = store.issue("Dr Ada Test", 2)
    thread = LoopThread("hosted-relay")
    thread.start()
    server: RelayServer = thread.submit(
        start_relay("127.0.0.1", 0, static_dir=None, credentials=store)
    ).result(10)
    try:
        yield f"http://127.0.0.1:{server.port}", key, server
    finally:
        thread.stop(server.stop(), 10)


def test_a_hosted_service_gets_the_practice_key_and_the_qr_is_whole(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment_id: str,
    hosted: tuple[str, str, RelayServer],
) -> None:
    url, key, server = hosted
    practice.update_settings(
        PracticeSettings(therapist_name="Dr Ada Test", relay_url=url, relay_credential=key)
    )
    main_window.start_video_session(appointment_id)
    window = video.window
    assert window is not None and not window.local_only and video.local_relay is None
    # The relay admits only a key holder as the room's opener: INVITED means it was accepted.
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
    # The relay seated it as the room's therapist (a socket without the key would only wait).
    qtbot.waitUntil(lambda: server.relay.room_count == 1, timeout=5000)
    assert server.relay.waiting_count == 0
    link = window.link_field.text()
    assert parse_invite_link(link).relay_origin == url
    assert "Send this link to your client" in all_text(window)
    window.show()
    for size in ((1, 1), (800, 500), (1120, 700), (1600, 1000)):
        window.resize(*size)
        qtbot.wait(50)
        panel = window.invite_panel
        assert panel.rect().contains(window.qr_label.geometry()), size
        assert window.qr_label.visibleRegion().boundingRect() == window.qr_label.rect(), size
        image = window.qr_label.grab().toImage()
        assert qr_matches(image, link), size
    # The smallest the window allows still shows it whole (it was shrunk to that above).
    assert window.width() >= window.minimumSizeHint().width()


def test_a_refused_key_is_not_a_silent_failure(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment_id: str,
    hosted: tuple[str, str, RelayServer],
) -> None:
    url, key, _server = hosted
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    practice.update_settings(
        PracticeSettings(therapist_name="Dr Ada Test", relay_url=url, relay_credential=wrong)
    )
    main_window.start_video_session(appointment_id)
    window = video.window
    assert window is not None
    # Refused at once, in words that say what to do: not "Send the link" forever.
    qtbot.waitUntil(lambda: window.state is CallState.FAILED, timeout=10_000)
    qtbot.waitUntil(lambda: "could not continue" in window.status.text(), timeout=5000)
    assert "did not accept your practice's key" in window.status.text()
    assert "Test connection" in window.status.text()


def test_the_in_app_relay_on_the_network_opens_rooms_only_for_this_app(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment_id: str,
) -> None:
    """Clients on this network can join, but a stranger on it cannot open rooms to fill it:
    the in-app relay holds a credential made in memory that only this app presents."""
    import asyncio
    from dataclasses import replace

    import aiohttp

    from telehealth.relay_wire import parse_presence_notice

    practice.update_settings(replace(practice.settings, local_relay_network=True))
    main_window.start_video_session(appointment_id)
    window = video.window
    local = video.local_relay
    assert window is not None and local is not None and local.credential is not None
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
    context = local.client_ssl_context()

    async def stranger() -> tuple[int | None, int]:
        room = "5" * 32
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(f"{local.origin}/ws/{room}", ssl=context or False)
            msg = await ws.receive(timeout=5)
            count = parse_presence_notice(msg.data)
            async with s.get(f"{local.origin}/ice/{room}", ssl=context or False) as r:
                status = r.status  # 404: no room was opened for the stranger
            await ws.close()
            return count, status

    count, status = asyncio.run(stranger())
    assert (count, status) == (1, 404)
    # The window's own session did open its room (a stranger's socket only waits).
    own = parse_invite_link(window.link_field.text()).keys.room_id

    async def own_room() -> int:
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"{local.origin}/ice/{own}", ssl=context or False) as r,
        ):
            return r.status

    assert asyncio.run(own_room()) == 200
