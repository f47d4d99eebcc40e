"""Forms through the sealed link, driven like a person: "Send a form…" in the call window while
the client waits (a Python stand-in for their page answers it), and the client page's Forms tab:
send by link, check for answers, read them and the signed consent, withdraw, build a form."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.calls import VideoCall
from desktop.core.practice import ClientDetails, Practice
from desktop.core.sessions import Modality
from desktop.ui.call_window import CallWindow
from desktop.ui.clinical.waiting_room_forms import ChooseFormDialog
from desktop.ui.qt import QApplication, QEvent, Qt, QWidget
from telehealth import protocol
from telehealth.forms import FormReply, Signature
from telehealth.lifecycle import CallState

LEFT = Qt.MouseButton.LeftButton
CLIENT = "Avery Applewood"


@pytest.fixture(autouse=True)
def earlier_windows_gone() -> None:
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def visible_dialog(qtbot: QtBot, parent: QWidget, kind: type[Any]) -> Any:
    found: list[Any] = []

    def visible() -> bool:
        found[:] = [d for d in parent.findChildren(kind) if d.isVisible()]
        return len(found) == 1

    qtbot.waitUntil(visible)
    return found[0]


def tick(dialog: ChooseFormDialog, *labels: str) -> None:
    for i in range(dialog.forms.count()):
        item = dialog.forms.item(i)
        assert item is not None
        if item.text() in labels:
            item.setCheckState(Qt.CheckState.Checked)


@pytest.fixture
def open_call(practice: Practice) -> Callable[[str], VideoCall]:
    client = practice.create_client(ClientDetails(name=CLIENT))
    appointment = practice.schedule_session(
        client.id, datetime(2026, 1, 5, 9, tzinfo=UTC), modality=Modality.VIDEO
    )
    return lambda origin: practice.open_video_call(appointment.id, origin)


@pytest.mark.slow
def test_send_a_form_reaches_the_waiting_room_and_its_answers_the_vault(
    qtbot: QtBot,
    practice: Practice,
    relay: Any,
    loopback_only: None,
    make_client: Callable[..., Any],
    open_call: Callable[[str], VideoCall],
    screenshot_dir: Path | None,
) -> None:
    from desktop.ui.clinical.waiting_room_forms import attach_to_call_window

    call = open_call(relay.base_url)
    window = CallWindow(call, ice_servers=[], connect_timeout=15, stats_interval=None)
    qtbot.addWidget(window)
    send_button = attach_to_call_window(window, practice)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.state is CallState.INVITED, timeout=5000)
    client = make_client(call.invite)
    with qtbot.waitSignal(window.client_waiting, timeout=5000):
        first = client.join(CLIENT)
    assert send_button.isVisible()

    # Nothing ticked: refused in the dialog; then the telehealth consent.
    qtbot.mouseClick(send_button, LEFT)
    dialog = visible_dialog(qtbot, window, ChooseFormDialog)
    labels = [dialog.forms.item(i).text() for i in range(dialog.forms.count())]
    assert labels[:2] == ["Before we meet: about you", "Consent to telehealth sessions"]
    assert "Patient Health Questionnaire (PHQ-9)" in labels
    qtbot.mouseClick(dialog.save_button, LEFT)
    assert dialog.isVisible() and "Tick at least one form" in dialog.error.text()
    tick(dialog, "Consent to telehealth sessions")
    qtbot.mouseClick(dialog.save_button, LEFT)
    qtbot.waitUntil(lambda: not dialog.isVisible())

    form = first.result(10)  # the client's page receives the form while waiting
    assert isinstance(form, protocol.Form)
    assert form.document.title == "Consent to telehealth sessions"
    note = window.findChild(QWidget, "formsSentNote")
    qtbot.waitUntil(lambda: note.text() == "Forms sent: Consent to telehealth sessions")

    # The client signs; the answers are kept in the vault and the window says so.
    consent = form.document.consent
    assert consent is not None
    reply = FormReply(
        form.document.id,
        {"signature": Signature(CLIENT, "2026-01-05T09:01:00Z")},
        consent_hash=consent.hash,
    )
    client.loop.run(client._send(protocol.FormReply(reply))).result(5)
    answered = "Forms sent: Consent to telehealth sessions (answered)"
    qtbot.waitUntil(lambda: note.text() == answered, timeout=5000)
    (signed,) = practice.clinical.client_forms(call.client_id).consents
    assert signed.signed_name == CLIENT and signed.title == "Consent to telehealth sessions"
    if screenshot_dir is not None:
        window.grab().save(str(screenshot_dir / "call-window-send-form.png"))
