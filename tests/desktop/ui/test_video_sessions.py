"""Starting a video session from an appointment, against a real call: the main window's
VideoSessions starts the in-app relay on 127.0.0.1, opens the call window, and a Python stand-in
for the client's page (conftest's ClientStandIn) joins through it. The audit trail, auto-lock, the
note offered afterwards, the window titles and lock during a call are checked on the way; and the
"same network" mode (https on this machine's LAN address with a self-signed certificate)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.practice import ClientDetails, Practice, PracticeSettings, VaultOptions
from desktop.core.sessions import Attendance, Modality, Session
from desktop.ui.call_window import CallWindow
from desktop.ui.local_media import LocalMedia
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QApplication, Qt
from desktop.ui.video_sessions import VideoSessions
from telehealth import local_relay, protocol
from telehealth.invite import parse_invite_link
from telehealth.lifecycle import CallState

CLIENT = "Ana María Quintero"  # what the client types into the page, and their record's name
PLACE = "14 Calle del Olmo, 3B, Valencia"  # where the client says they are (waiting room)
PHONE = "+34 612 345 678"  # the emergency number they give
PASSPHRASE = "lantern meadow copper tide"  # tests/desktop/ui/conftest.py
TITLE = "Quietroom - video session"


class OpenWatch:
    """Paths opened for writing by Python code while active (audit hooks cannot be removed, so
    one is installed once and switched on and off)."""

    installed: OpenWatch | None = None

    def __init__(self) -> None:
        self.active = False
        self.paths: list[str] = []

    @classmethod
    def get(cls) -> OpenWatch:
        if cls.installed is None:
            cls.installed = OpenWatch()
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
def video(main_window: MainWindow) -> Iterator[VideoSessions]:
    """The main window's VideoSessions with the synthetic camera, no STUN, 127.0.0.1."""
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
def appointment(practice: Practice) -> Session:
    client = practice.create_client(ClientDetails(name=CLIENT))
    return practice.schedule_session(
        client.id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    )


@pytest.fixture
def titles() -> list[str]:
    """Every title the call window was given, and every top-level window's title sampled at
    each step by ``seen(titles)``."""
    return []


def seen(titles: list[str]) -> None:
    titles.extend(w.windowTitle() for w in QApplication.topLevelWidgets())


def call_entries(practice: Practice) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (e.action, e.object_type, e.object_id, json.loads(e.details))
        for e in practice.audit_entries()
        if e.action.startswith("call.")
    ]


def end_session(qtbot: QtBot, window: CallWindow) -> None:
    """Answer End session's question with End session."""
    qtbot.waitUntil(lambda: window.end_confirmation is not None, timeout=2000)
    assert window.end_confirmation is not None and window.end_confirmation.isVisible()
    assert window.end_confirm_button is not None
    qtbot.mouseClick(window.end_confirm_button, Qt.MouseButton.LeftButton)


def port_is_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def connect_a_call(
    qtbot: QtBot,
    main_window: MainWindow,
    video: VideoSessions,
    appointment: Session,
    make_client: Callable[..., Any],
    titles: list[str],
) -> tuple[CallWindow, Any]:
    """Start the session from the appointment, let the stand-in knock, admit it, connect."""
    main_window.start_video_session(appointment.id)
    window = video.window
    assert window is not None and window.isVisible()
    watched = window.windowTitleChanged
    watched.connect(titles.append)
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
    assert window.windowTitle() == TITLE
    seen(titles)

    invite = parse_invite_link(window.link_field.text())
    client = make_client(invite)
    with qtbot.waitSignal(window.client_waiting, timeout=10_000):
        answer = client.join(CLIENT, (PLACE, PHONE))
    # Inside the window (fine): who waits, where they are and an emergency number.
    qtbot.waitUntil(lambda: "Where they are now" in window.waiting_label.text(), timeout=5000)
    assert window.waiting_label.text() == (
        f"{CLIENT} is waiting.\nWhere they are now: {PLACE}\nEmergency phone number: {PHONE}"
    )
    seen(titles)
    with qtbot.waitSignal(window.client_admitted, timeout=5000):
        qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert answer.result(10) == protocol.Admit()
    code = client.connect()
    qtbot.waitUntil(lambda: video.call_live, timeout=20_000)
    # The core call is live; the window has rendered it (and held auto-lock) right after.
    qtbot.waitUntil(lambda: window.elapsed.text() != "", timeout=5000)
    qtbot.waitUntil(lambda: window.code is not None, timeout=10_000)
    assert window.code == code.result(10)
    seen(titles)
    return window, client


@pytest.mark.slow
def test_a_video_session_from_the_appointment_to_the_note(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment: Session,
    loopback_only: None,
    make_client: Callable[..., Any],
    fake_clock: Any,
    titles: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert practice.settings.relay_url == ""
    opened: list[str] = []
    monkeypatch.setattr(
        main_window.note_editor, "open_note", lambda note_id, **_: opened.append(note_id)
    )
    watch = OpenWatch.get()
    watch.paths.clear()
    watch.active = True
    try:
        window, client = connect_a_call(qtbot, main_window, video, appointment, make_client, titles)
        # The in-app relay: on 127.0.0.1, a free port, and the link names it.
        relay = video.local_relay
        assert relay is not None and relay.running
        assert relay.origin == f"http://127.0.0.1:{relay.port}"
        assert parse_invite_link(window.link_field.text()).relay_origin == relay.origin

        # Auto-lock waits while the call is live.
        fake_clock.advance(60 * 60)
        main_window.idle.check()
        assert practice.is_open

        with qtbot.waitSignal(window.verified, timeout=2000):
            qtbot.mouseClick(window.verified_button, Qt.MouseButton.LeftButton)
        qtbot.wait(1200)  # a second of call, so the duration is not zero
        with qtbot.waitSignal(window.session_finished, timeout=10_000) as finished:
            qtbot.mouseClick(window.end_button, Qt.MouseButton.LeftButton)
            end_session(qtbot, window)
        assert finished.args == ["ended"]
        assert client.next_message().result(10) == protocol.Bye(reason="hangup")
        seen(titles)
    finally:
        watch.active = False
    # Nothing about the call was written anywhere but into the (encrypted) vault: its audit
    # entries and the attendance.
    vault_dir = str(tmp_path / "vault")
    assert [p for p in watch.paths if not p.startswith(vault_dir)] == []

    # The audit trail: every step against the session and its client; no name anywhere.
    entries = call_entries(practice)
    assert [(a, t, o) for a, t, o, _ in entries] == [
        ("call.invite_created", "session", appointment.id),
        ("call.client_admitted", "session", appointment.id),
        ("call.client_details", "session", appointment.id),  # kept with the session
        ("call.started", "session", appointment.id),
        ("call.verified", "session", appointment.id),
        ("call.ended", "session", appointment.id),
    ]
    assert all(d["client_id"] == appointment.client_id for *_, d in entries)
    ended = entries[-1][3]
    assert ended["connected"] is True and ended["verified"] is True
    assert 1 <= ended["duration_seconds"] < 60
    log = "\n".join(f"{e.action} {e.object_id} {e.details}" for e in practice.audit_entries())
    assert "Ana" not in log and "Quintero" not in log
    assert "Valencia" not in log and "612" not in log  # where they were: not in the log
    assert practice.check_video_session(appointment.id).attendance is Attendance.ATTENDED

    # The offer to write the note: non-modal, generic title; it creates the note and opens it.
    qtbot.waitUntil(lambda: video.note_offer is not None and video.note_offer.isVisible())
    offer = video.note_offer
    assert offer is not None and video.note_offer_button is not None
    assert offer.windowTitle() == "Quietroom"
    assert not offer.isModal()
    assert main_window.isEnabled()
    seen(titles)
    qtbot.mouseClick(video.note_offer_button, Qt.MouseButton.LeftButton)
    assert len(opened) == 1
    assert main_window.current_page() is main_window.note_editor
    assert not window.isVisible() and video.note_offer is None
    note = practice.open_note(opened[0])
    assert note.session_id == appointment.id and note.client_id == appointment.client_id
    # date, time, length and modality are the note's header fields, not text in Subjective
    assert note.header is not None and note.header.modality is Modality.VIDEO
    assert note.header.held_at.astimezone().date() == datetime.now().astimezone().date()
    assert note.header.duration_minutes == round(int(ended["duration_seconds"]) / 60)
    header = note.sections[0].text
    assert "Date:" not in header and "Duration:" not in header
    # The session record shows again where the client was and their emergency number.
    assert f"Client's location (confirmed by the client): {PLACE}\n" in header
    assert f"Emergency phone number: {PHONE}\n" in header
    created = [e for e in practice.audit_entries() if e.action == "note.created"]
    assert created[-1].object_id == note.id

    # The window's title never named the client, at any step.
    assert titles and all(CLIENT not in t and "Ana" not in t for t in titles)
    assert set(t for t in titles if "video" in t) == {TITLE}

    # The call is over: auto-lock counts again, and locking stops the in-app relay.
    port = relay.port
    fake_clock.advance(5 * 60 + 1)
    main_window.idle.check()
    assert not practice.is_open
    assert not relay.running and video.local_relay is None
    assert port_is_closed(port)


@pytest.mark.slow
def test_lock_during_a_call_ends_it_and_stops_the_relay(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment: Session,
    loopback_only: None,
    make_client: Callable[..., Any],
    titles: list[str],
    tmp_path: Path,
    options: VaultOptions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    active: list[bool] = []
    original = main_window.set_call_active

    def spy(on: bool) -> None:
        active.append(on)
        original(on)

    monkeypatch.setattr(main_window, "set_call_active", spy)
    window, client = connect_a_call(qtbot, main_window, video, appointment, make_client, titles)
    relay = video.local_relay
    assert relay is not None
    port = relay.port
    qtbot.wait(1100)

    main_window.lock()
    assert not practice.is_open
    assert active == [True, False]
    assert not window.isVisible() and video.window is None and video.note_offer is None
    assert window.session.state is CallState.ENDED  # hung up before the vault locked
    assert client.next_message().result(10) == protocol.Bye(reason="hangup")
    assert not relay.running and port_is_closed(port)
    qtbot.waitUntil(lambda: window.session_stopped, timeout=10_000)
    assert all(CLIENT not in t for t in titles)

    # The end was recorded before the lock, with the call's duration.
    again = Practice.unlock(tmp_path / "vault", PASSPHRASE, options=options)
    try:
        entries = call_entries(again)
        assert [a for a, *_ in entries] == [
            "call.invite_created",
            "call.client_admitted",
            "call.client_details",
            "call.started",
            "call.ended",
        ]
        ended = entries[-1][3]
        assert ended == {
            "client_id": appointment.client_id,
            "connected": True,
            "duration_seconds": ended["duration_seconds"],
            "verified": False,
        }
        assert ended["duration_seconds"] >= 1
    finally:
        again.lock()


def test_only_video_appointments_start_a_session(
    main_window: MainWindow, practice: Practice, video: VideoSessions, appointment: Session
) -> None:
    in_person = practice.schedule_session(
        appointment.client_id, datetime(2026, 1, 6, 9, tzinfo=UTC)
    )
    cancelled = practice.schedule_session(
        appointment.client_id,
        datetime(2026, 1, 7, 9, tzinfo=UTC),
        modality=Modality.VIDEO,
        attendance=Attendance.CANCELLED,
    )
    before = call_entries(practice)
    main_window.start_video_session(in_person.id)
    assert "not a video session" in main_window.statusBar().currentMessage()
    main_window.start_video_session(cancelled.id)
    assert "cancelled" in main_window.statusBar().currentMessage()
    main_window.start_video_session("0" * 32)
    assert "no longer in the record" in main_window.statusBar().currentMessage()
    assert video.window is None and video.local_relay is None  # no relay for nothing
    assert call_entries(practice) == before


def test_a_hosted_relay_and_a_declined_knock(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment: Session,
    relay: Any,
    make_client: Callable[..., Any],
    titles: list[str],
) -> None:
    """With a relay address in the settings, the app uses it and starts none of its own; a
    declined knock is recorded, and no note is offered for a call that never took place."""
    practice.update_settings(
        PracticeSettings(therapist_name="Dr Ada Test", relay_url=relay.base_url)
    )
    main_window.start_video_session(appointment.id)
    window = video.window
    assert window is not None and video.local_relay is None
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
    invite = parse_invite_link(window.link_field.text())
    assert invite.relay_origin == relay.base_url

    # A second start while this one is open brings it forward instead.
    main_window.start_video_session(appointment.id)
    assert video.window is window
    assert "already open" in main_window.statusBar().currentMessage()

    client = make_client(invite)
    with qtbot.waitSignal(window.client_waiting, timeout=10_000):
        answer = client.join(CLIENT)
    seen(titles)
    with qtbot.waitSignal(window.session_finished, timeout=10_000):
        qtbot.mouseClick(window.decline_button, Qt.MouseButton.LeftButton)
    assert answer.result(10) == protocol.Decline()
    assert window.link_field.text() == ""  # the spent link left the window
    seen(titles)
    assert all(CLIENT not in t for t in titles)

    entries = call_entries(practice)
    assert [a for a, *_ in entries] == [
        "call.invite_created",
        "call.client_declined",
        "call.ended",
    ]
    assert entries[-1][3] == {
        "client_id": appointment.client_id,
        "connected": False,
        "duration_seconds": 0,
        "verified": False,
    }
    qtbot.wait(200)
    assert video.note_offer is None
    assert practice.check_video_session(appointment.id).attendance is Attendance.SCHEDULED

    # After the end a new session can start; the old window gives way.
    main_window.start_video_session(appointment.id)
    assert video.window is not None and video.window is not window
    assert not window.isVisible()
    qtbot.waitUntil(lambda: window.session_stopped, timeout=10_000)


@pytest.mark.slow
def test_closing_the_call_window_ends_the_call_and_the_note_can_wait(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment: Session,
    loopback_only: None,
    make_client: Callable[..., Any],
    titles: list[str],
    fake_clock: Any,
) -> None:
    window, client = connect_a_call(qtbot, main_window, video, appointment, make_client, titles)
    notes_before = len(practice.open_client(appointment.client_id).notes)
    window.close()  # the window's close button, mid-call
    assert client.next_message().result(10) == protocol.Bye(reason="hangup")
    qtbot.waitUntil(lambda: video.note_offer is not None and video.note_offer.isVisible())
    offer = video.note_offer
    assert offer is not None and offer.parent() is main_window  # the call window is gone
    assert not video.call_live
    assert [a for a, *_ in call_entries(practice)][-1] == "call.ended"
    assert call_entries(practice)[-1][3]["connected"] is True

    not_now = next(b for b in offer.buttons() if b.text() == "Not now")
    qtbot.mouseClick(not_now, Qt.MouseButton.LeftButton)
    assert video.note_offer is None and not offer.isVisible()
    assert len(practice.open_client(appointment.client_id).notes) == notes_before
    fake_clock.advance(5 * 60 + 1)  # auto-lock is back
    main_window.idle.check()
    assert not practice.is_open


def https_status(url: str, cafile: Path) -> int:
    """GET over https from a client that trusts only that certificate (and checks the host)."""
    context = ssl.create_default_context(cafile=str(cafile))
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        return int(response.status)


def test_the_in_app_relay_for_clients_on_this_network(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment: Session,
    make_client: Callable[..., Any],
    titles: list[str],
) -> None:
    """With "Let clients on this network join", the in-app relay listens on this machine's LAN
    address over https with a self-signed certificate: the link is https://<lan-ip>:<port>, the
    app's own session and a client trusting that certificate both get through, and the window
    says what the client's browser will show. Turned off again: back to http://127.0.0.1."""
    address = local_relay.lan_address()  # this machine's own address (127.0.0.1 without one)
    practice.update_settings(replace(practice.settings, local_relay_network=True))
    main_window.start_video_session(appointment.id)
    window = video.window
    relay = video.local_relay
    assert window is not None and relay is not None and relay.running
    certificate = relay.certificate
    assert relay.self_signed and certificate is not None

    link = urlsplit(window.link_field.text())
    assert (link.scheme, link.hostname, link.port) == ("https", address, relay.port)
    assert link.path == "/j/" and link.fragment
    invite = parse_invite_link(window.link_field.text())
    assert invite.relay_origin == relay.origin == f"https://{address}:{relay.port}"
    # The app's own session joined through TLS, trusting exactly this certificate.
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
    assert https_status(f"{relay.origin}/healthz", certificate.cert_path) == 200

    # The line about the browser warning: the certificate's fingerprint, nothing about anyone.
    note = window.relay_note.text()
    assert window.relay_note.isVisibleTo(window)
    if relay.on_loopback:
        assert "this computer only" in note
    else:
        assert "not private" in note and certificate.short_fingerprint() in note
        assert len(certificate.short_fingerprint().split()) == 8
    assert window.relay_note.toolTip() == f"SHA-256 fingerprint: {certificate.fingerprint}"

    # A client on the network (trusting the certificate, as one who clicked through the warning)
    # knocks; declined here, which is enough to show the room works through this relay.
    client = make_client(invite, ssl.create_default_context(cafile=str(certificate.cert_path)))
    with qtbot.waitSignal(window.client_waiting, timeout=10_000):
        answer = client.join(CLIENT)
    seen(titles)
    assert CLIENT not in window.relay_note.text()
    with qtbot.waitSignal(window.session_finished, timeout=10_000):
        qtbot.mouseClick(window.decline_button, Qt.MouseButton.LeftButton)
    assert answer.result(10) == protocol.Decline()
    assert not window.invite_panel.isVisibleTo(window)  # the link and QR code go,
    assert not window.relay_note.isVisibleTo(window)  # and the note about the certificate
    assert all(CLIENT not in t for t in titles)

    # The same relay serves the next session while the setting stays on.
    main_window.start_video_session(appointment.id)
    assert video.local_relay is relay and relay.running
    qtbot.waitUntil(lambda: video.window is not None and video.window.state is CallState.INVITED)
    video.shutdown()
    assert not relay.running and relay.certificate is None
    assert not certificate.cert_path.exists() and not certificate.key_path.exists()
    assert not certificate.cert_path.parent.exists()  # the private temporary folder

    # Off again: this computer only, plain http on 127.0.0.1, no certificate, no note.
    practice.update_settings(replace(practice.settings, local_relay_network=False))
    main_window.start_video_session(appointment.id)
    window = video.window
    plain = video.local_relay
    assert window is not None and plain is not None and plain is not relay
    assert plain.origin == f"http://127.0.0.1:{plain.port}" and plain.certificate is None
    assert window.link_field.text().startswith(f"http://127.0.0.1:{plain.port}/j/#")
    assert not window.relay_note.isVisibleTo(window) and window.relay_note.text() == ""
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)


def test_switching_the_setting_restarts_the_in_app_relay(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    video: VideoSessions,
    appointment: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A relay started for this computer gives way to a network one when the setting is turned
    on between sessions; with no network found, the link is https://127.0.0.1 and the window
    says it works on this computer only."""
    main_window.start_video_session(appointment.id)
    first = video.local_relay
    window = video.window
    assert first is not None and first.origin.startswith("http://127.0.0.1:")
    assert window is not None
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
    with qtbot.waitSignal(window.session_finished, timeout=10_000):
        window.hang_up()

    monkeypatch.setattr(local_relay, "lan_address", lambda *_: "127.0.0.1")
    practice.update_settings(replace(practice.settings, local_relay_network=True))
    main_window.start_video_session(appointment.id)
    second = video.local_relay
    window = video.window
    assert second is not None and second is not first and not first.running
    assert window is not None and second.certificate is not None
    assert window.link_field.text().startswith(f"https://127.0.0.1:{second.port}/j/#")
    assert "this computer only" in window.relay_note.text()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=10_000)
