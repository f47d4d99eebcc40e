"""The call window with two client devices (a couples session), driven like a person would:
Invite a second person (the name typed into the window), two Python stand-ins for the client
pages on a real relay, each admitted separately and verified with its own code; the window shows
and plays both, each client is told about the other; End session ends it for everyone and the
audit trail names each device's steps (never a name)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.calls import VideoCall
from desktop.core.practice import ClientDetails, Practice
from desktop.core.sessions import Modality
from desktop.ui.call_window import CallWindow, format_code
from desktop.ui.local_media import LocalMedia
from desktop.ui.qt import QGuiApplication, Qt
from telehealth import protocol
from telehealth.lifecycle import CallState
from tests.desktop.ui.test_call_window import end_session, image_brightness

CLIENT = "Ana María"
PARTNER = "Tomasz Wieczorek"


@pytest.fixture
def open_call(practice: Practice) -> Callable[[str], VideoCall]:
    client = practice.create_client(ClientDetails(name=CLIENT))
    appointment = practice.schedule_session(
        client.id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    )
    return lambda origin: practice.open_video_call(appointment.id, origin)


def next_besides(client: Any, wanted: Callable[[protocol.Message], bool]) -> protocol.Message:
    """The next message the client's page gets that ``wanted`` accepts (others are skipped)."""
    while True:
        message = client.next_message().result(10)
        if wanted(message):
            return message


def next_besides_others(client: Any) -> protocol.Message:
    return next_besides(client, lambda m: not isinstance(m, protocol.Others))


@pytest.mark.slow
def test_two_clients_each_admitted_and_verified_see_each_other_then_end(
    qtbot: QtBot,
    relay: Any,
    loopback_only: None,
    make_client: Callable[..., Any],
    screenshot_dir: Path | None,
    open_call: Callable[[str], VideoCall],
    practice: Practice,
) -> None:
    call = open_call(relay.base_url)
    window = CallWindow(
        call, media=LocalMedia(synthetic=True), ice_servers=[], connect_timeout=20,
        stats_interval=0.5,
    )  # fmt: skip
    qtbot.addWidget(window)
    window.resize(1240, 760)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)

    # Invite a second person: the window asks their name (for the record only), then shows
    # their own link with Copy and a QR code.
    qtbot.mouseClick(window.invite_second_button, Qt.MouseButton.LeftButton)
    assert window.ask_panel.isVisible()
    qtbot.mouseClick(window.make_second_link, Qt.MouseButton.LeftButton)  # no name yet
    assert window.second is None and window.second_note.isVisible()
    assert "second participant's name" in window.second_note.text()
    qtbot.keyClicks(window.second_name, PARTNER)
    qtbot.mouseClick(window.make_second_link, Qt.MouseButton.LeftButton)
    second = window.second
    assert second is not None and not window.ask_panel.isVisible()
    assert second.link_field.text() == second.device.link != window.link_field.text()
    assert second.panel.isVisible() and not second.qr_label.isVisible()
    qtbot.mouseClick(second.qr_button, Qt.MouseButton.LeftButton)  # for a phone: on request
    assert second.qr_label.isVisible() and not second.qr_label.pixmap().isNull()
    qtbot.mouseClick(second.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == second.device.link
    assert not window.invite_second_button.isEnabled()  # one second device at a time

    # The client knocks and is admitted; their page is told a second person is expected.
    first_client = make_client(call.invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        answer = first_client.join(CLIENT, ("Calle Mayor 3, Burgos", "+34 947 000 000"))
    qtbot.mouseClick(window.admit_button, Qt.MouseButton.LeftButton)
    assert answer.result(5) == protocol.Admit()
    first_code = first_client.connect().result(15)
    qtbot.waitUntil(lambda: window.code_label.text() == format_code(first_code), timeout=10_000)
    assert [p.state for p in first_client.others[-1].people] == ["expected"]
    qtbot.waitUntil(lambda: window.state is CallState.CONNECTED, timeout=15_000)
    qtbot.mouseClick(window.verified_button, Qt.MouseButton.LeftButton)
    assert call.verified

    # The partner knocks at their own link: their own banner, their own Admit.
    partner = make_client(second.device.invite)
    let_in = partner.join("Tomek", ("Hotel Rex, Madrid", "+34 910 000 000"))
    qtbot.waitUntil(second.banner.isVisible, timeout=5000)
    assert second.waiting_label.text().splitlines()[0] == (f"Tomek is waiting at {PARTNER}'s link.")
    assert "Hotel Rex, Madrid" in second.waiting_label.text()
    assert not window.waiting_banner.isVisible()
    qtbot.mouseClick(second.admit_button, Qt.MouseButton.LeftButton)
    assert let_in.result(5) == protocol.Admit()
    partner_code = partner.connect().result(15)
    qtbot.waitUntil(lambda: second.code_label.text() == format_code(partner_code), timeout=10_000)
    assert partner_code != first_code  # each device compares its own code
    assert window.code_label.text().startswith(format_code(first_code))
    qtbot.waitUntil(lambda: second.device.state is CallState.CONNECTED, timeout=15_000)
    qtbot.mouseClick(second.verified_button, Qt.MouseButton.LeftButton)
    assert second.device.verified and second.code_label.text().endswith("✓")

    # Everyone sees and hears everyone: both pictures and both voices in the window, and each
    # client is told who the other is.
    qtbot.waitUntil(lambda: window.remote_view.frames_painted >= 5, timeout=10_000)
    qtbot.waitUntil(lambda: second.view.frames_painted >= 5, timeout=10_000)
    assert image_brightness(window.remote_view.image()) > 60
    assert image_brightness(second.view.image()) > 60
    qtbot.waitUntil(lambda: window.player.peak > 2000, timeout=5000)
    qtbot.waitUntil(lambda: second.player.peak > 2000, timeout=5000)
    qtbot.waitUntil(lambda: first_client.frames > 20 and partner.frames > 20, timeout=10_000)
    assert [(p.name, p.state) for p in partner.others[-1].people] == [(CLIENT, "here")]
    told = next_besides(first_client, lambda m: isinstance(m, protocol.Others)
                        and m.people[0].state == "here")  # fmt: skip
    assert isinstance(told, protocol.Others) and told.people[0].name == "Tomek"
    assert [label.text() for label in window.stage.labels] == [CLIENT, "Tomek"]
    assert all(label.isVisible() for label in window.stage.labels)
    assert window.status.text() == f"In session with {CLIENT}"
    qtbot.waitUntil(lambda: window.elapsed.text() != "00:00", timeout=3000)
    save_to = screenshot_dir or Path(os.environ.get("QUIETROOM_SHOTS", tempfile.mkdtemp()))
    window.grab().save(str(save_to / "call-window-couples.png"))

    # The therapist's chat reaches both; each one's reaches the therapist, named.
    qtbot.waitUntil(window.send_button.isEnabled, timeout=5000)
    assert first_client.chat_open.wait(5) and partner.chat_open.wait(5)
    qtbot.keyClicks(window.chat_input, "Welcome, both of you.")
    qtbot.mouseClick(window.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: first_client.chat == partner.chat == ["Welcome, both of you."], timeout=5000
    )
    partner.send_chat("Hello from Madrid.")
    qtbot.waitUntil(
        lambda: "Tomek: Hello from Madrid." in window.chat_log.toPlainText(), timeout=5000
    )

    # End session asks "for all of you", and ends both devices' sessions.
    with qtbot.waitSignal(window.session_finished, timeout=10_000) as finished:
        qtbot.mouseClick(window.end_button, Qt.MouseButton.LeftButton)
        assert window.end_confirmation is not None
        assert window.end_confirmation.text() == "End the session for all of you?"
        end_session(qtbot, window)
    assert finished.args == ["ended"] and call.finished
    assert next_besides_others(first_client) == protocol.Bye(reason="hangup")
    assert next_besides_others(partner) == protocol.Bye(reason="hangup")
    assert second.view.image() is None and window.remote_view.image() is None
    assert second.link_field.text() == "" and window.chat_log.toPlainText() == ""
    qtbot.waitUntil(lambda: window.session_stopped and second.session_stopped, timeout=15_000)

    entries = [
        (e.action, json.loads(e.details).get("device"))
        for e in practice.audit_entries()
        if e.action.startswith("call.")
    ]
    entries[9:11] = sorted(entries[9:11], key=str)
    assert entries == [
        ("call.invite_created", None),
        ("call.invite_created", 2),
        ("call.client_admitted", None),
        ("call.client_details", None),
        ("call.started", None),
        ("call.verified", None),
        ("call.client_admitted", 2),
        ("call.client_details", 2),
        ("call.verified", 2),
        # each device that was in: how long (the two sessions end in either order)
        ("call.device_left", 1),
        ("call.device_left", 2),
        ("call.ended", None),
    ]
    log = "\n".join(e.details for e in practice.audit_entries())
    assert PARTNER not in log and "Tomek" not in log and "Rex" not in log
    # The note offered afterwards names the second participant.
    note = practice.write_call_note(call)
    assert note is not None
    assert note.sections[0].text.startswith(f"Second participant: {PARTNER}, from their own")
