"""The client list and the client page, driven like a person: keys, clicks, dialogs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientStatus
from desktop.core.clinical.diagnoses import DiagnosisDetails
from desktop.core.clinical.plans import PlanContent, Problem
from desktop.core.notes import NoteStatus
from desktop.core.practice import ClientDetails, Practice, VaultOptions
from desktop.core.sessions import Attendance, Modality
from desktop.ui import formats
from desktop.ui.client_forms import ClientFormDialog, FormDialog, NewNoteDialog, SessionFormDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.pages import client_page
from desktop.ui.pages.client_page import ClientPage
from desktop.ui.qt import QApplication, QEvent, QLocale, Qt, QWidget
from telehealth.forms import FormReply, Signature

from .waiting import client_shown, list_shown

D = TypeVar("D", bound=FormDialog[Any])

ALT = Qt.KeyboardModifier.AltModifier
CTRL = Qt.KeyboardModifier.ControlModifier
LEFT = Qt.MouseButton.LeftButton

FULL = ClientDetails(
    name="Marisol Quintero-Vance",
    preferred_name="Mari",
    date_of_birth=date(1988, 7, 14),
    pronouns="she/her",
    email="marisol.qv@example.org",
    phone="555-0147",
    address="14 Demo Lane\nHarbourton",
    emergency_contact="Tomas Quintero (brother), 555-0148",
    diagnosis_codes="F41.1, Z63.0",
)


@pytest.fixture(autouse=True)
def earlier_windows_gone() -> None:
    """Delete the windows of earlier tests (pytest-qt's ``deleteLater`` waits for an event loop
    that the tests never return to), so that ``widget_text()`` sees this test's widgets only."""
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def actions(practice: Practice) -> list[str]:
    """Every audit action so far (raw entries: reading them writes nothing)."""
    return [entry.action for entry in practice.audit_entries()]


def count(practice: Practice, action: str) -> int:
    return actions(practice).count(action)


def dialog_of(qtbot: QtBot, parent: QWidget, kind: type[D]) -> D:
    """The dialog of that kind the page has just opened (non-blocking, so it is visible now)."""
    found: list[D] = []

    def visible() -> bool:
        found[:] = [d for d in parent.findChildren(kind) if d.isVisible()]
        return len(found) == 1

    qtbot.waitUntil(visible)
    return found[0]


def activate(qtbot: QtBot, window: QWidget) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def client_page_of(main_window: MainWindow) -> ClientPage:
    assert main_window.current_page() is main_window.client_page
    return main_window.client_page


# -- the list --------------------------------------------------------------------------------------


def test_create_a_client_then_find_open_and_edit_it(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    practice.create_client(ClientDetails(name="Bertram Okonkwo"))
    practice.create_client(ClientDetails(name="Marianne Ellery", preferred_name="Annie"))
    activate(qtbot, main_window)
    clients = main_window.clients_page
    main_window.show_clients()
    list_shown(qtbot, main_window)
    assert clients.count.text() == "2 clients"

    qtbot.keyClick(clients.filter, Qt.Key.Key_N, CTRL)  # Ctrl+N: new client
    form = dialog_of(qtbot, clients, ClientFormDialog)
    assert form.windowTitle() == "Quietroom - new client"
    qtbot.keyClick(form.name, Qt.Key.Key_Return)  # nothing typed yet
    assert form.isVisible() and form.error.isVisible()
    assert form.error.text() == "Enter the client's name."
    qtbot.keyClicks(form.name, FULL.name)
    qtbot.keyClicks(form.preferred_name, FULL.preferred_name)
    qtbot.keyClicks(form.pronouns, FULL.pronouns)
    qtbot.keyClicks(form.date_of_birth, "07/14/1988")  # month first: not how dates are written here
    qtbot.keyClicks(form.email, FULL.email)
    qtbot.keyClicks(form.phone, FULL.phone)
    qtbot.keyClicks(form.diagnosis_codes, FULL.diagnosis_codes)
    qtbot.keyClicks(form.status, "W")  # keyboard search in the combo box: Waitlist
    qtbot.mouseClick(form.save_button, LEFT)
    assert form.isVisible()
    assert f"as you write dates, e.g. {formats.date_example()}" in form.error.text()
    assert form.focusWidget() is form.date_of_birth  # the field to fix has the focus
    form.date_of_birth.selectAll()
    qtbot.keyClicks(form.date_of_birth, "1988-07-14")
    qtbot.keyClick(form.date_of_birth, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not form.isVisible())

    # The new client opens at once.
    page = client_page_of(main_window)
    qtbot.waitUntil(lambda: page.name_label.text() == FULL.name)
    assert "Mari" in page.subtitle.text() and "she/her" in page.subtitle.text()
    assert page.status_chip.text() == "Waitlist"
    assert page.detail_labels["date_of_birth"].text() == formats.date_text(date(1988, 7, 14))
    assert page.detail_labels["email"].text() == FULL.email
    assert page.detail_labels["address"].text() == "—"
    assert main_window.windowTitle() == "Quietroom"

    # Back to the list: type to filter, Enter opens the one match.
    activate(qtbot, main_window)  # (offscreen, no window is active once the dialog is gone)
    main_window.show_clients()
    list_shown(qtbot, main_window)
    assert clients.filter.hasFocus()
    qtbot.keyClicks(clients.filter, "mari")
    assert len(clients.client_ids_shown()) == 2  # Marianne and Marisol
    qtbot.keyClicks(clients.filter, " vance")
    shown = clients.client_ids_shown()
    assert len(shown) == 1
    qtbot.keyClick(clients.filter, Qt.Key.Key_Return)
    page = client_shown(qtbot, main_window, shown[0])
    assert page.name_label.text() == FULL.name

    # Edit the details from the Details tab.
    activate(qtbot, main_window)
    qtbot.mouseClick(page.edit_button, LEFT)
    form = dialog_of(qtbot, page, ClientFormDialog)
    assert form.windowTitle() == "Quietroom - client details"
    assert form.name.text() == FULL.name
    form.phone.selectAll()
    qtbot.keyClicks(form.phone, "555-0199")
    qtbot.keyClicks(form.address, "14 Demo Lane")
    qtbot.keyClicks(form.status, "A")  # Active
    qtbot.mouseClick(form.save_button, LEFT)
    qtbot.waitUntil(lambda: not form.isVisible())
    qtbot.waitUntil(lambda: page.detail_labels["phone"].text() == "555-0199")  # read again
    assert page.detail_labels["address"].text() == "14 Demo Lane"
    assert page.status_chip.text() == "Active"
    updated = [e for e in practice.audit_entries() if e.action == "client.updated"]
    assert len(updated) == 1 and updated[0].object_id == shown[0]
    assert updated[0].details_dict()["fields"] == "phone,address,status"


def test_status_filter_and_keyboard_navigation(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    ids = {
        name: practice.create_client(ClientDetails(name=name, status=status)).id
        for name, status in (
            ("Aurelio Banks", ClientStatus.ACTIVE),
            ("Constance Dufour", ClientStatus.WAITLIST),
            ("Efua Fairbanks", ClientStatus.DISCHARGED),
            ("Gideon Halloran", ClientStatus.ACTIVE),
        )
    }
    practice.archive_client(ids["Gideon Halloran"])
    clients = main_window.clients_page
    main_window.show_clients()
    list_shown(qtbot, main_window)
    listed = count(practice, "client.listed")

    def shown() -> list[str]:
        names = {v: k for k, v in ids.items()}
        return [names[i] for i in clients.client_ids_shown()]

    assert shown() == ["Aurelio Banks", "Constance Dufour", "Efua Fairbanks"]
    for choice, expected in (
        ("Active", ["Aurelio Banks"]),
        ("Waitlist", ["Constance Dufour"]),
        ("Discharged", ["Efua Fairbanks"]),
        ("Archived", ["Gideon Halloran"]),
    ):
        clients.status.setFocus()
        clients.status.setCurrentIndex(clients.status.findText(choice))
        assert shown() == expected
    assert clients.count.text() == "1 archived client"
    clients.status.setCurrentIndex(0)  # All active
    qtbot.keyClicks(clients.filter, "zzz")
    assert shown() == [] and clients.count.text() == "No clients match."
    clients.filter.clear()
    assert count(practice, "client.listed") == listed  # filtering never reads again

    # Down arrow from the filter to the list, then Enter opens the selected row.
    activate(qtbot, main_window)
    clients.filter.setFocus()
    qtbot.keyClick(clients.filter, Qt.Key.Key_Down)
    assert clients.table.hasFocus()
    qtbot.keyClick(clients.table, Qt.Key.Key_Down)
    qtbot.keyClick(clients.table, Qt.Key.Key_Return)
    page = client_page_of(main_window)
    qtbot.waitUntil(lambda: page.name_label.text() == "Constance Dufour")


def test_each_activation_lists_once_and_each_opening_reads_once(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client_id = practice.create_client(FULL).id
    before = count(practice, "client.listed")
    main_window.show_clients()
    list_shown(qtbot, main_window)
    assert count(practice, "client.listed") == before + 1
    main_window.show_search()
    main_window.show_clients()
    list_shown(qtbot, main_window)
    assert count(practice, "client.listed") == before + 2
    qtbot.keyClicks(main_window.clients_page.filter, "Marisol")
    main_window.clients_page.status.setCurrentIndex(1)
    assert count(practice, "client.listed") == before + 2

    opened = count(practice, "client.opened")
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    assert count(practice, "client.opened") == opened + 1
    assert count(practice, "client.listed") == before + 2
    assert count(practice, "psychotherapy_note.listed") == 0


# -- sessions --------------------------------------------------------------------------------------


def test_schedule_a_video_session_and_start_it(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[str] = []
    monkeypatch.setattr(main_window, "start_video_session", started.append)
    client_id = practice.create_client(FULL).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = client_page_of(main_window)
    activate(qtbot, main_window)
    qtbot.keyClick(page.tabs, Qt.Key.Key_S, ALT)  # the Sessions tab
    assert page.tabs.currentIndex() == 1
    assert page.sessions.topLevelItemCount() == 0 and page.sessions_empty.isVisible()

    QLocale.setDefault(QLocale("en_GB"))  # typed as a British therapist's system writes it
    qtbot.mouseClick(page.schedule_button, LEFT)
    form = dialog_of(qtbot, page, SessionFormDialog)
    QLocale.setDefault(QLocale.c())
    assert form.windowTitle() == "Quietroom - schedule session"
    when = datetime(2026, 3, 2, 10, 30)  # local time, as typed
    form.starts_at.setFocus()
    form.starts_at.selectAll()
    form.starts_at.setDateTime(formats.qdatetime(when.astimezone()))  # (its calendar pop-up)
    assert form.starts_at.text() == "02/03/2026  10:30"  # shown as the locale writes it
    form.duration.selectAll()
    qtbot.keyClicks(form.duration, "60")
    qtbot.keyClicks(form.modality, "V")  # Video
    qtbot.mouseClick(form.save_button, LEFT)
    qtbot.waitUntil(lambda: not form.isVisible())

    client_shown(qtbot, main_window, client_id)  # read again, the new session in its list
    (session,) = practice.open_client(client_id).sessions
    assert session.starts_at == when.astimezone().astimezone(UTC)
    assert session.duration_minutes == 60
    assert session.modality is Modality.VIDEO and session.attendance is Attendance.SCHEDULED
    item = page.sessions.currentItem()
    assert item is not None and item.text(0) == formats.date_time_text(when.astimezone())
    assert item.text(2) == "Video" and item.text(3) == "Scheduled"
    assert page.video_button.isVisible()
    qtbot.mouseClick(page.video_button, LEFT)
    assert started == [session.id]

    # Enter on the session edits it; a cancelled video session cannot be started.
    page.sessions.setFocus()
    qtbot.keyClick(page.sessions, Qt.Key.Key_Return)
    form = dialog_of(qtbot, page, SessionFormDialog)
    assert form.windowTitle() == "Quietroom - session"
    qtbot.keyClicks(form.attendance, "C")  # Cancelled
    qtbot.keyClick(form.duration, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not form.isVisible())
    client_shown(qtbot, main_window, client_id)
    assert page.sessions.currentItem().text(3) == "Cancelled"  # type: ignore[union-attr]
    assert not page.video_button.isVisible()
    assert [e.details_dict().get("fields") for e in practice.audit_entries()
            if e.action == "session.updated"] == ["attendance"]  # fmt: skip


# -- notes -----------------------------------------------------------------------------------------


class NoteSpy:
    """Records the navigation to the note editor and lets it happen."""

    def __init__(self, main_window: MainWindow) -> None:
        self.calls: list[tuple[str, bool]] = []
        self._real = main_window.open_note

    def __call__(self, note_id: str, *, psychotherapy: bool = False) -> None:
        self.calls.append((note_id, psychotherapy))
        self._real(note_id, psychotherapy=psychotherapy)


def test_new_soap_note_from_the_notes_tab(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = NoteSpy(main_window)
    monkeypatch.setattr(main_window, "open_note", spy)
    client_id = practice.create_client(FULL).id
    held = practice.schedule_session(
        client_id, datetime.now(UTC) - timedelta(hours=2), attendance=Attendance.ATTENDED
    )
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = client_page_of(main_window)
    activate(qtbot, main_window)
    qtbot.keyClick(page.tabs, Qt.Key.Key_N, ALT)  # the Notes tab
    assert page.tabs.currentIndex() == 2 and page.notes_empty.isVisible()

    qtbot.keyClick(page.tabs, Qt.Key.Key_N, CTRL)  # Ctrl+N: new note
    form = dialog_of(qtbot, page, NewNoteDialog)
    assert form.windowTitle() == "Quietroom - new note"
    assert [form.template.itemText(i) for i in range(form.template.count())][:2] == [
        "SOAP",
        "DAP",
    ]
    assert form.template.currentText() == "SOAP"
    assert form.session.currentData() == held.id  # the session just held, still without a note
    qtbot.mouseClick(form.save_button, LEFT)
    qtbot.waitUntil(lambda: not form.isVisible())

    created = [e for e in practice.audit_entries() if e.action == "note.created"]
    assert len(created) == 1
    note_id = created[0].object_id
    assert spy.calls == [(note_id, False)]
    assert main_window.current_page() is main_window.note_editor

    # Back on the client: the draft is in the timeline, linked to the session; Enter opens it.
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    assert page.tabs.currentIndex() == 2  # the same client keeps its tab
    item = page.notes.currentItem()
    assert item is not None
    assert [item.text(c) for c in range(1, 4)] == ["SOAP", "Original", "Draft"]
    assert item.text(4) != "—"
    page.notes.setFocus()
    qtbot.keyClick(page.notes, Qt.Key.Key_Return)
    assert spy.calls[-1] == (note_id, False)


def test_amendments_sit_under_their_original(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client_id = practice.create_client(FULL).id
    note = practice.create_note(client_id, "dap")
    practice.save_draft(note.id, {"data": "Reported better sleep."})
    practice.sign_note(note.id)
    amendment = practice.amend_note(note.id, "Wrong medication name")
    later = practice.create_note(client_id, "free")
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    tree = main_window.client_page.notes
    assert tree.topLevelItemCount() == 2
    top = [tree.topLevelItem(i) for i in range(2)]
    assert [i.data(0, Qt.ItemDataRole.UserRole) for i in top] == [later.id, note.id]  # type: ignore[union-attr]
    original = top[1]
    assert original is not None and original.text(3).startswith("Signed ")
    assert original.childCount() == 1
    child = original.child(0)
    assert child.data(0, Qt.ItemDataRole.UserRole) == amendment.id
    assert child.text(2) == "Amendment" and child.text(3) == "Draft"


def test_psychotherapy_notes_are_listed_only_on_request(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = NoteSpy(main_window)
    monkeypatch.setattr(main_window, "open_note", spy)
    client_id = practice.create_client(FULL).id
    other_id = practice.create_client(ClientDetails(name="Bertram Okonkwo")).id
    private = practice.create_psychotherapy_note(client_id)
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = client_page_of(main_window)
    activate(qtbot, main_window)
    qtbot.keyClick(page.tabs, Qt.Key.Key_P, ALT)
    assert page.tabs.currentIndex() == 3
    assert page.psy_count.text() == "1 psychotherapy note."
    assert page.psy_notes.topLevelItemCount() == 0 and not page.psy_notes.isVisible()
    assert count(practice, "psychotherapy_note.listed") == 0

    qtbot.mouseClick(page.show_psy_button, LEFT)
    assert count(practice, "psychotherapy_note.listed") == 1
    assert page.psy_notes.isVisible() and page.psy_notes.topLevelItemCount() == 1
    assert page.psy_notes.hasFocus()
    qtbot.keyClick(page.psy_notes, Qt.Key.Key_Return)
    assert spy.calls == [(private.id, True)]

    # Showing a client (another, or the same one again) hides the list; nothing is re-read.
    main_window.open_client(other_id)
    client_shown(qtbot, main_window, other_id)
    assert not page.psychotherapy_list_shown and page.psy_notes.topLevelItemCount() == 0
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    assert not page.psychotherapy_list_shown
    assert count(practice, "psychotherapy_note.listed") == 1

    # A new one goes straight to the editor, in its compartment.
    page.tabs.setCurrentIndex(3)
    activate(qtbot, main_window)
    qtbot.mouseClick(page.new_psy_button, LEFT)
    form = dialog_of(qtbot, page, NewNoteDialog)
    assert form.windowTitle() == "Quietroom - new psychotherapy note"
    assert form.template.currentText() == "Free form" or form.template.currentData() == "free"
    qtbot.mouseClick(form.save_button, LEFT)
    qtbot.waitUntil(lambda: not form.isVisible())
    created = [e for e in practice.audit_entries() if e.action == "note.created"]
    assert spy.calls[-1] == (created[-1].object_id, True)
    assert created[-1].details_dict()["compartment"] == "psychotherapy"
    assert count(practice, "psychotherapy_note.listed") == 1


# -- archive, print, audit -------------------------------------------------------------------------


def test_archive_and_restore(qtbot: QtBot, main_window: MainWindow, practice: Practice) -> None:
    client_id = practice.create_client(FULL).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = client_page_of(main_window)
    activate(qtbot, main_window)
    qtbot.keyClick(page.tabs, Qt.Key.Key_A, ALT)  # Archive client (a mnemonic "animates" the click)
    qtbot.waitUntil(page.archived_chip.isVisible)
    assert page.archived_chip.isVisible() and page.archived_notice.isVisible()
    assert page.restore_button.isVisible() and not page.archive_button.isVisible()
    assert not page.schedule_button.isEnabled() and not page.new_note_button.isEnabled()
    assert page.detail_labels["archived_at"].text() != "—"
    assert count(practice, "client.archived") == 1

    main_window.show_clients()

    list_shown(qtbot, main_window)
    assert main_window.clients_page.client_ids_shown() == []
    clients = main_window.clients_page
    clients.status.setCurrentIndex(clients.status.findText("Archived"))
    assert clients.client_ids_shown() == [client_id]
    clients.open_current()

    activate(qtbot, main_window)
    qtbot.keyClick(page.tabs, Qt.Key.Key_R, ALT)  # Restore client
    qtbot.waitUntil(lambda: not page.archived_chip.isVisible())
    assert not page.archived_chip.isVisible() and page.archive_button.isVisible()
    assert page.schedule_button.isEnabled()
    assert count(practice, "client.restored") == 1


def test_print_and_audit_buttons(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop.ui import disclosure_dialog

    asked: list[tuple[Any, Any, str | None]] = []
    monkeypatch.setattr(
        disclosure_dialog,
        "start_disclosure",
        lambda ctx, parent, *, client_id=None, note_id=None: asked.append((ctx, parent, client_id)),
    )
    audited: list[str | None] = []
    monkeypatch.setattr(main_window, "show_audit", audited.append)
    client_id = practice.create_client(FULL).id
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = client_page_of(main_window)
    qtbot.mouseClick(page.export_button, LEFT)
    assert asked == [(main_window.ctx, page, client_id)]
    qtbot.mouseClick(page.audit_button, LEFT)
    assert audited == [client_id]


# -- privacy ---------------------------------------------------------------------------------------


def test_lock_leaves_no_client_text_anywhere(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, widget_text: Callable[[], str]
) -> None:
    client_id = practice.create_client(FULL).id
    session = practice.schedule_session(client_id, datetime(2026, 1, 2, 15, tzinfo=UTC))
    practice.create_note(client_id, "soap", session_id=session.id)
    practice.create_psychotherapy_note(client_id)
    practice.clinical.add_diagnosis(client_id, DiagnosisDetails("F41.1"))
    plan = practice.clinical.start_plan(client_id)
    practice.clinical.save_plan(plan.id, PlanContent((Problem("Sleeplessness since the move"),)))
    sent = practice.clinical.mailbox_form(client_id, "telehealth-consent", "https://relay.test")
    consent = sent.document.consent
    assert sent.box is not None and consent is not None
    signature = Signature("Marisol Q. Vance", "2026-01-04T20:00:00Z")  # a consent on Forms
    reply = FormReply(sent.document.id, {"signature": signature}, consent_hash=consent.hash)
    practice.clinical.receive_mailbox_reply(sent.id, sent.box.seal_reply(reply))
    main_window.show_clients()
    list_shown(qtbot, main_window)
    qtbot.keyClicks(main_window.clients_page.filter, "Quintero")
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = client_page_of(main_window)
    for index in range(page.tabs.count()):  # every tab shown once, the clinical ones included
        page.tabs.setCurrentIndex(index)
    qtbot.mouseClick(page.show_psy_button, LEFT)
    qtbot.mouseClick(page.edit_button, LEFT)  # a dialog full of details stays open
    form = dialog_of(qtbot, page, ClientFormDialog)
    assert FULL.name not in form.windowTitle() and main_window.windowTitle() == "Quietroom"
    text = widget_text()
    for value in (FULL.name, FULL.phone, FULL.email, "Demo Lane", "Tomas", "Quintero",
                  "Generalized anxiety disorder", "Sleeplessness since the move",
                  "Marisol Q. Vance"):  # fmt: skip
        assert value in text

    main_window.lock()

    assert not form.isVisible()
    text = widget_text()
    for value in (FULL.name, "Mari", FULL.phone, FULL.email, "Demo Lane", "Tomas", "Quintero",
                  "F41.1", "she/her", "1988", "SOAP", "Free form", "Generalized anxiety",
                  "Sleeplessness", "Marisol Q. Vance"):  # fmt: skip
        assert value not in text, value
    assert main_window.windowTitle() == "Quietroom"


# -- screenshots -----------------------------------------------------------------------------------


def test_screenshots(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    options: VaultOptions,
    screenshot_dir: Path | None,
) -> None:
    """A few fake clients with sessions and notes; saved as README screenshots on request."""
    now = options.clock()
    main_window.ctx.now = options.clock  # the page's "now" and the vault's agree
    practice.fill_demo(clients=9, notes_per_client=6, seed=7)
    listed = practice.list_clients()
    first = listed[1]
    soon = now.replace(hour=15) + timedelta(days=2)
    practice.schedule_session(first.id, soon, modality=Modality.VIDEO)
    for index, client in enumerate(listed[2:6]):
        practice.schedule_session(client.id, soon + timedelta(days=index, hours=index - 2))
    signed = [n for n in practice.open_client(first.id).notes if n.status is NoteStatus.SIGNED]
    addendum = practice.add_addendum(signed[1].id, "Client phoned the next day")
    practice.save_draft(addendum.id, {"addendum": "Sleep has improved since the session."})
    practice.sign_note(addendum.id)
    main_window.resize(1180, 760)
    main_window.show_clients()
    list_shown(qtbot, main_window)
    assert main_window.clients_page.table.topLevelItemCount() == len(listed)
    if screenshot_dir is not None:
        qtbot.wait(50)
        main_window.grab().save(str(screenshot_dir / "clients.png"))

    main_window.open_client(first.id)

    client_shown(qtbot, main_window, first.id)
    page = client_page_of(main_window)
    page.tabs.setCurrentIndex(2)
    notes = [page.notes.topLevelItem(i) for i in range(page.notes.topLevelItemCount())]
    assert [n.childCount() for n in notes if n is not None].count(1) == 1  # the addendum
    if screenshot_dir is not None:
        qtbot.wait(50)
        main_window.grab().save(str(screenshot_dir / "client-page.png"))


class HeldRead:
    """The client page's background read, held back for one client until released: the record
    is read, then the worker waits, as on a slow disk."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, page: ClientPage, held_id: str) -> None:
        self.release = threading.Event()
        self.read = threading.Event()  # the held client's record has been read
        self.delivered: list[int] = []  # generations of the reads that reached the page
        read = client_page.read_client

        def held(practice: Practice, client_id: str) -> Any:
            record = read(practice, client_id)
            if client_id == held_id:
                self.read.set()
                self.release.wait(10)
            return record

        loaded = page._loaded

        def spied(generation: int, *rest: Any) -> None:
            self.delivered.append(generation)
            loaded(generation, *rest)

        monkeypatch.setattr(client_page, "read_client", held)
        monkeypatch.setattr(page, "_loaded", spied)


def test_a_read_overtaken_by_a_newer_one_is_dropped(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = practice.create_client(ClientDetails(name="Hortensia Blackwood")).id
    second = practice.create_client(ClientDetails(name="Ignatius Merriweather")).id
    held = HeldRead(monkeypatch, main_window.client_page, first)
    main_window.open_client(first)  # read, then held back
    main_window.open_client(second)  # the therapist moved on
    page = client_shown(qtbot, main_window, second)
    held.release.set()
    qtbot.waitUntil(lambda: len(held.delivered) == 2)  # the first read came back late
    assert page.shown_client_id == second
    assert page.name_label.text() == "Ignatius Merriweather"


def test_a_read_that_comes_back_after_locking_shows_nothing(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    monkeypatch: pytest.MonkeyPatch,
    widget_text: Callable[[], str],
) -> None:
    client_id = practice.create_client(ClientDetails(name="Hortensia Blackwood")).id
    held = HeldRead(monkeypatch, main_window.client_page, client_id)
    main_window.open_client(client_id)
    qtbot.waitUntil(held.read.is_set)  # the record is in the worker's hands
    main_window.lock()
    held.release.set()
    qtbot.waitUntil(lambda: len(held.delivered) == 1)  # the record reached the page...
    assert "Hortensia" not in widget_text()  # ... and was dropped: the app is locked
    assert main_window.client_page.shown_client_id is None
