"""Forms through the sealed link, driven like a person: "Send a form…" in the call window while
the client waits (a Python stand-in for their page answers it), and the client page's Forms tab:
send by link, check for answers, read them and the signed consent, withdraw, build a form."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.calls import VideoCall
from desktop.core.practice import ClientDetails, Practice
from desktop.core.sessions import Modality
from desktop.ui import formats
from desktop.ui.call_window import CallWindow
from desktop.ui.clinical.form_builder import FormBuilderDialog, QuestionDialog
from desktop.ui.clinical.forms_tab import AnswersDialog, ConsentDialog, FormsTab, SendLinkDialog
from desktop.ui.clinical.mailbox_sync import NO_SERVICE
from desktop.ui.clinical.mailbox_transfer import post_form
from desktop.ui.clinical.waiting_room_forms import ChooseFormDialog, form_choices
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.client_page import ClientPage
from desktop.ui.qt import QApplication, QEvent, QGuiApplication, QLabel, Qt, QWidget
from telehealth import protocol
from telehealth.forms import Answer, FieldKind, FormDocument, FormKind, FormReply, Signature
from telehealth.lifecycle import CallState
from telehealth.mailbox_box import parse_box_link

from .vocabulary import words_on_screen
from .waiting import client_shown

LEFT = Qt.MouseButton.LeftButton
CLIENT = "Avery Applewood"
VAULT_NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


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


# -- the Forms tab ---------------------------------------------------------------------------------
def open_forms_tab(page: ClientPage) -> FormsTab:
    for index in range(page.tabs.count()):
        if page.tabs.tabText(index).replace("&", "") == "Forms":
            page.tabs.setCurrentIndex(index)
            return page.clinical.forms
    raise AssertionError("no Forms tab")


def use_relay(practice: Practice, relay: Any) -> None:
    practice.update_settings(replace(practice.settings, relay_url=relay.base_url))


def the_client_answers(link: str, answers: Callable[[FormDocument], FormReply]) -> str:
    """The client's page in a few lines: fetch the sealed form with the link, answer, seal the
    answers and put them in the box. Returns the form's title as the page showed it."""
    box = parse_box_link(link)
    with urllib.request.urlopen(box.url("form"), timeout=10) as response:
        document = box.open_form(response.read().decode())
    sealed = box.seal_reply(answers(document)).encode()
    put = urllib.request.Request(box.url("reply"), data=sealed, method="PUT")
    with urllib.request.urlopen(put, timeout=10) as response:
        assert response.status == 201
    return document.title


def phq9_reply(document: FormDocument) -> FormReply:
    """Item 9 answered "Several days": flagged."""
    answers: dict[str, Answer] = {f.key: 1 for f in document.fields if f.kind is FieldKind.CHOICE}
    return FormReply(document.id, answers)


def consent_reply(document: FormDocument) -> FormReply:
    assert document.consent is not None
    signature = Signature(CLIENT, "2026-01-05T08:30:00Z")
    return FormReply(document.id, {"signature": signature}, consent_hash=document.consent.hash)


def send_by_link(qtbot: QtBot, tab: FormsTab, title: str) -> SendLinkDialog:
    qtbot.mouseClick(tab.send_button, LEFT)
    dialog = visible_dialog(qtbot, tab, SendLinkDialog)
    dialog.form_choice.setCurrentIndex(dialog.form_choice.findText(title))
    assert dialog.form_choice.currentText() == title
    qtbot.mouseClick(dialog.send_button, LEFT)
    qtbot.waitUntil(dialog.link_panel.isVisible, timeout=10_000)
    return dialog


def row_texts(tab: FormsTab) -> list[tuple[str, str, str]]:
    items = (tab.requests.topLevelItem(i) for i in range(tab.requests.topLevelItemCount()))
    return [(i.text(1), i.text(2), i.text(3)) for i in items if i is not None]


def select_row(tab: FormsTab, title: str) -> None:
    for i in range(tab.requests.topLevelItemCount()):
        item = tab.requests.topLevelItem(i)
        if item is not None and item.text(1) == title:
            tab.requests.setCurrentItem(item)
            return
    raise AssertionError(title)


def outside_link(findings: list[Any], link: str) -> list[Any]:
    """The link's random code may look like anything: findings in it are not words."""
    return [f for f in findings if f.match not in link]


@pytest.mark.slow
def test_forms_tab_sends_by_link_collects_answers_and_reads_the_consent(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, relay: Any,
    screenshot_dir: Path | None,
) -> None:  # fmt: skip
    main_window.ctx.now = lambda: VAULT_NOW  # the vault's clock in these tests
    client_id = practice.create_client(ClientDetails(name=CLIENT)).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    before = len(list(practice.audit_entries()))
    tab = open_forms_tab(page)
    assert [e.action for e in practice.audit_entries()][before:] == ["form.listed"]
    # No session service: the in-app relay is gone when the app closes, so no link.
    assert tab.service_note.text() == NO_SERVICE and not tab.send_button.isEnabled()

    use_relay(practice, relay)
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    tab = open_forms_tab(page)
    assert tab.send_button.isEnabled() and tab.check_button.isEnabled()
    dialog = send_by_link(qtbot, tab, "Patient Health Questionnaire (PHQ-9)")
    link = dialog.link.text()
    assert link.startswith(relay.base_url + "/m/#")
    qtbot.mouseClick(dialog.copy_button, LEFT)
    assert QGuiApplication.clipboard().text() == link
    assert dialog.qr.pixmap() is not None and not dialog.qr.pixmap().isNull()
    assert outside_link(words_on_screen([dialog]), link) == []
    if screenshot_dir is not None:
        dialog.grab().save(str(screenshot_dir / "send-form-by-link.png"))
    qtbot.mouseClick(dialog.done_button, LEFT)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    (row,) = row_texts(tab)
    assert row[:2] == ("Patient Health Questionnaire (PHQ-9)", "By link")
    assert row[2].startswith("Waiting for answers (link open until ")

    consent_dialog = send_by_link(qtbot, tab, "Consent to telehealth sessions")
    consent_link = consent_dialog.link.text()
    consent_dialog.reject()
    intake_dialog = send_by_link(qtbot, tab, "Before we meet: about you")
    intake_dialog.reject()

    # The client answers two of them in their browser; "Check for answers" brings them in.
    assert the_client_answers(link, phq9_reply) == "Patient Health Questionnaire (PHQ-9)"
    the_client_answers(consent_link, consent_reply)
    qtbot.mouseClick(tab.check_button, LEFT)
    status = main_window.statusBar()
    qtbot.waitUntil(lambda: status.currentMessage() == "Forms sent by link: 2 forms were answered.",
                    timeout=10_000)  # fmt: skip
    rows = {title: (how, what) for title, how, what in row_texts(tab)}
    assert rows["Patient Health Questionnaire (PHQ-9)"][1].startswith("Answered ")
    assert rows["Consent to telehealth sessions"][1].startswith("Answered ")
    assert rows["Before we meet: about you"][1].startswith("Waiting for answers")
    assert tab.service_note.text() == "1 form sent by link is waiting for answers."
    # Item 9 answered "Several days": the alert is up at once, wherever the therapist is.
    qtbot.waitUntil(main_window.flag_alert.isVisible)
    assert "PHQ-9" in main_window.flag_alert.text.text()

    # The answers, read-only; then the signed consent exactly as signed.
    select_row(tab, "Patient Health Questionnaire (PHQ-9)")
    qtbot.mouseClick(tab.answers_button, LEFT)
    answers = visible_dialog(qtbot, tab, AnswersDialog)
    first = answers.answers.topLevelItem(0)
    assert first is not None and first.text(1) == "Several days"
    assert words_on_screen([answers]) == []
    answers.reject()
    tab.consents.setCurrentItem(tab.consents.topLevelItem(0))
    qtbot.mouseClick(tab.consent_button, LEFT)
    read = visible_dialog(qtbot, tab, ConsentDialog)
    signed = practice.clinical.client_forms(client_id).consents[0]
    assert read.view.document.toPlainText() == signed.document_text
    shown = [label.text() for label in read.findChildren(QLabel) if label.isVisible()]
    assert "Consent to telehealth sessions, version 2026-1" in shown
    at = formats.date_time_text(formats.local(datetime(2026, 1, 5, 8, 30, tzinfo=UTC)))
    assert any(text.startswith(f"Signed “{CLIENT}”, {at} on their device") for text in shown)
    assert words_on_screen([read]) == []  # the fingerprint is under Technical details
    assert signed.document_hash in read.view.details.text()
    if screenshot_dir is not None:
        read.grab().save(str(screenshot_dir / "signed-consent.png"))
    read.reject()

    # Withdraw the intake's link: the relay forgets it, the page can no longer fetch it.
    select_row(tab, "Before we meet: about you")
    intake = next(r for r in practice.clinical.client_forms(client_id).requests
                  if r.title == "Before we meet: about you")  # fmt: skip
    assert intake.box is not None
    qtbot.mouseClick(tab.withdraw_button, LEFT)
    qtbot.waitUntil(lambda: ("Before we meet: about you", "By link", "Withdrawn")
                    in row_texts(tab), timeout=10_000)  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as gone:
        urllib.request.urlopen(intake.box.url("form"), timeout=10)
    assert gone.value.code == 404
    if screenshot_dir is not None:
        main_window.grab().save(str(screenshot_dir / "client-forms-tab.png"))
    assert words_on_screen([tab]) == []

    # Lock: the tab forgets it all, and an open link (it opens the form) goes with its dialog.
    still_open = send_by_link(qtbot, tab, "Patient Health Questionnaire (PHQ-9)")
    main_window.lock()
    assert not still_open.isVisible() and still_open.link.text() == ""
    assert tab.requests.topLevelItemCount() == 0 and tab.consents.topLevelItemCount() == 0


@pytest.mark.slow
def test_answers_given_while_the_app_was_closed_arrive_at_the_next_unlock(
    qtbot: QtBot, practice: Practice, relay: Any, tmp_path: Path, fake_clock: Any
) -> None:
    use_relay(practice, relay)
    client_id = practice.create_client(ClientDetails(name=CLIENT)).id
    request = post_form(practice, client_id, "telehealth-consent", relay.base_url, None)
    assert request.box is not None
    the_client_answers(request.box.link, consent_reply)  # the app is not running
    assert practice.clinical.client_forms(client_id).consents == ()
    window = MainWindow(practice, tmp_path / "vault", practice.lock, idle_clocks=(fake_clock,))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.statusBar().currentMessage()
                    == "Forms sent by link: 1 form was answered.", timeout=10_000)  # fmt: skip
    (consent,) = practice.clinical.client_forms(client_id).consents
    assert consent.signed_name == CLIENT and consent.request_id == request.id
    window.idle.stop()


def test_build_a_consent_of_ones_own_and_send_it(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, screenshot_dir: Path | None
) -> None:
    client_id = practice.create_client(ClientDetails(name=CLIENT)).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    tab = open_forms_tab(main_window.client_page)
    qtbot.mouseClick(tab.own_button, LEFT)
    builder = visible_dialog(qtbot, tab, FormBuilderDialog)
    starts = [builder.start.itemText(i) for i in range(builder.start.count())]
    assert starts == ["A new form", "Copy of Before we meet: about you",
                      "Copy of Consent to telehealth sessions"]  # fmt: skip
    builder.title_field.setText("Consent to share with my doctor")
    builder.kind.setCurrentIndex(builder.kind.findData(FormKind.CONSENT))
    assert builder.consent_text.isVisible()
    builder.consent_text.setPlainText("I agree that my therapist may speak with my doctor.")
    builder.consent_version.setText("1")

    def add(question: str, kind: FieldKind, *, required: bool = True,
            fill: Callable[[QuestionDialog], None] = lambda _: None) -> QuestionDialog:  # fmt: skip
        qtbot.mouseClick(builder.add_button, LEFT)
        dialog = visible_dialog(qtbot, builder, QuestionDialog)
        dialog.label.setText(question)
        dialog.kind.setCurrentIndex(dialog.kind.findData(kind))
        dialog.required.setChecked(required)
        fill(dialog)
        qtbot.mouseClick(dialog.save_button, LEFT)
        return dialog

    add("Your doctor's name", FieldKind.TEXT)
    refused = add("How may we share?", FieldKind.CHOICE,
                  fill=lambda d: d.options.setPlainText("Phone"))  # fmt: skip
    assert refused.isVisible() and "two to twenty choices" in refused.error.text()
    refused.options.setPlainText("Phone\nLetter\n")
    qtbot.mouseClick(refused.save_button, LEFT)
    qtbot.waitUntil(lambda: not refused.isVisible())

    def scale(dialog: QuestionDialog) -> None:
        assert dialog.low.isVisible() and not dialog.options.isVisible()
        dialog.high.setValue(5)
        dialog.high_label.setText("Very")

    add("How comfortable are you with this?", FieldKind.SCALE, required=False, fill=scale)
    add("Until when?", FieldKind.DATE, required=False)
    qtbot.mouseClick(builder.save_button, LEFT)  # a consent without a signature: refused
    assert builder.isVisible() and "required signature" in builder.error.text()
    add("Your full name as signature", FieldKind.SIGNATURE)
    assert words_on_screen([builder]) == []
    if screenshot_dir is not None:
        builder.error.hide()
        builder.grab().save(str(screenshot_dir / "form-builder.png"))
    qtbot.mouseClick(builder.save_button, LEFT)
    qtbot.waitUntil(lambda: not builder.isVisible())

    (own,) = [t for t in practice.clinical.form_templates() if not t.built_in]
    assert (own.title, own.kind, own.version, own.consent_version) == (
        "Consent to share with my doctor", FormKind.CONSENT, 1, "1")  # fmt: skip
    assert [(f.key, f.kind, f.required) for f in own.fields] == [
        ("your_doctor_s_name", FieldKind.TEXT, True),
        ("how_may_we_share", FieldKind.CHOICE, True),
        ("how_comfortable_are_you", FieldKind.SCALE, False),
        ("until_when", FieldKind.DATE, False),
        ("your_full_name_as", FieldKind.SIGNATURE, True),
    ]
    assert own.fields[1].options == ("Phone", "Letter") and own.fields[2].high == 5
    # It can be sent like the built-in ones.
    assert ("form:" in own.key) and (own.key, own.title) in form_choices(practice)

    # A change is a new version of the same form; forms already sent keep theirs.
    qtbot.mouseClick(tab.own_button, LEFT)
    builder = visible_dialog(qtbot, tab, FormBuilderDialog)
    builder.start.setCurrentIndex(builder.start.findData(own.key))
    builder.start.activated.emit(builder.start.currentIndex())
    assert builder.title_field.text() == own.title and builder.questions.topLevelItemCount() == 5
    builder.questions.setCurrentItem(builder.questions.topLevelItem(3))
    qtbot.mouseClick(builder.up_button, LEFT)
    qtbot.mouseClick(builder.save_button, LEFT)
    qtbot.waitUntil(lambda: not builder.isVisible())
    again = practice.clinical.form_template(own.key)
    assert again.version == 2 and again.fields[2].key == "until_when"
    assert practice.clinical.form_template(own.key, 1) == own
