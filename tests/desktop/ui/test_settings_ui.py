"""The settings page, driven like a person: auto-lock takes effect on save, a bad relay address
is refused inline and nothing is saved, the in-app relay can be opened to this network, own
templates are created, edited and archived through the dialog, built-ins stay read-only, and the
passphrase can be changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from crypto.errors import UnlockError
from crypto.vault import VaultOptions
from desktop.core.practice import Practice
from desktop.ui.main_window import MainWindow
from desktop.ui.pages.settings_page import KEY_ROLE, SettingsPage
from desktop.ui.qt import QDialogButtonBox, QMessageBox, QSpinBox, Qt
from desktop.ui.template_editor import TemplateEditor, section_key

OLD_PASSPHRASE = "lantern meadow copper tide"  # the practice fixture's


def open_settings(window: MainWindow) -> SettingsPage:
    window.show_settings()
    page = window.settings_page
    assert window.current_page() is page
    return page


def set_spin(qtbot: QtBot, spin: QSpinBox, value: int) -> None:
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, str(value))
    assert spin.value() == value


def click(qtbot: QtBot, widget: object) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[arg-type]


def select_template(page: SettingsPage, key: str) -> None:
    for row in range(page.template_list.count()):
        item = page.template_list.item(row)
        if item.data(KEY_ROLE) == key:
            page.template_list.setCurrentItem(item)
            return
    raise AssertionError(f"{key} not listed")


def save_dialog(qtbot: QtBot, editor: TemplateEditor) -> None:
    click(qtbot, editor.button_box.button(QDialogButtonBox.StandardButton.Save))


def test_shows_the_stored_settings(main_window: MainWindow, practice: Practice) -> None:
    page = open_settings(main_window)
    assert page.name_field.text() == "Dr Ada Test"
    assert page.credentials_field.text() == "PsyD"
    assert page.auto_lock.value() == 5
    assert page.late_hours.value() == 48
    assert page.retention.value() == 7
    assert page.relay_field.text() == ""
    assert (page.auto_lock.minimum(), page.auto_lock.maximum()) == (1, 240)


def test_auto_lock_minutes_take_effect_on_save(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    page = open_settings(main_window)
    set_spin(qtbot, page.auto_lock, 1)
    set_spin(qtbot, page.late_hours, 72)
    page.credentials_field.setText("PsyD, LMFT")
    click(qtbot, page.save_button)
    assert main_window.idle.minutes == 1
    assert practice.settings.auto_lock_minutes == 1
    assert practice.settings.late_entry_hours == 72
    assert practice.settings.therapist_credentials == "PsyD, LMFT"
    assert main_window.statusBar().currentMessage() == "Settings saved"
    changed = [e for e in practice.audit_entries() if e.action == "settings.changed"][-1]
    assert changed.details_dict()["changed"] == (
        "auto_lock_minutes,late_entry_hours,therapist_credentials"
    )


def test_a_bad_relay_address_is_refused_inline_and_nothing_is_saved(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    page = open_settings(main_window)
    set_spin(qtbot, page.auto_lock, 9)
    page.relay_field.setFocus()
    qtbot.keyClicks(page.relay_field, "http://relay.example.org")
    qtbot.keyClick(page.relay_field, Qt.Key.Key_Return)  # Enter saves
    assert page.relay_error.isVisible()
    assert page.relay_error.text().startswith("Not saved: relay address must be https://")
    assert practice.settings.auto_lock_minutes == 5 and practice.settings.relay_url == ""
    assert main_window.idle.minutes == 5
    assert main_window.statusBar().currentMessage() == ""

    page.relay_field.setText("https://relay.example.org")
    click(qtbot, page.save_button)
    assert not page.relay_error.isVisible()
    assert practice.settings.relay_url == "https://relay.example.org"
    assert main_window.idle.minutes == 9

    page.relay_field.clear()  # empty: the relay runs inside the app again
    click(qtbot, page.save_button)
    assert practice.settings.relay_url == ""


def test_letting_clients_on_this_network_join(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    """The in-app relay's "same network" checkbox: off by default, saved with the rest, shown
    again as stored, and an unsaved tick is dropped when coming back."""
    page = open_settings(main_window)
    check = page.network_check
    assert not check.isChecked() and practice.settings.local_relay_network is False
    assert check.accessibleName() == "Let clients on this network join"
    check.setFocus()
    qtbot.keyClick(check, Qt.Key.Key_Space)  # ticked from the keyboard, as a person would
    assert check.isChecked()
    assert practice.settings.local_relay_network is False  # not before Save
    click(qtbot, page.save_button)
    assert practice.settings.local_relay_network is True
    assert main_window.statusBar().currentMessage() == "Settings saved"
    changed = [e for e in practice.audit_entries() if e.action == "settings.changed"][-1]
    assert changed.details_dict() == {"changed": "local_relay_network", "local_relay_network": True}

    main_window.show_clients()
    assert open_settings(main_window).network_check.isChecked()  # shown as stored

    qtbot.keyClick(check, Qt.Key.Key_Space)
    main_window.show_clients()  # unsaved: dropped
    assert open_settings(main_window).network_check.isChecked()
    check.setChecked(False)
    click(qtbot, page.save_button)
    assert practice.settings.local_relay_network is False


def test_unsaved_edits_are_dropped_when_coming_back(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    page = open_settings(main_window)
    set_spin(qtbot, page.retention, 10)
    main_window.show_clients()
    open_settings(main_window)
    assert page.retention.value() == 7


def test_own_template_create_edit_archive(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    page = open_settings(main_window)
    click(qtbot, page.new_template_button)
    editor = page.editor
    assert editor is not None and editor.isVisible()
    qtbot.keyClicks(editor.name_field, "Intake")
    qtbot.keyClicks(editor.description_field, "First meeting")
    editor.title_field.selectAll()
    qtbot.keyClicks(editor.title_field, "Presenting concern")
    qtbot.keyClicks(editor.prompt_field, "In the client's words")
    click(qtbot, editor.add_button)
    qtbot.keyClicks(editor.title_field, "Risk & safety")  # replaces the selected default title
    qtbot.keyClicks(editor.prompt_field, "Screen for risk")
    assert [editor.section_list.item(i).text() for i in range(2)] == [
        "Presenting concern", "Risk & safety"
    ]  # fmt: skip
    save_dialog(qtbot, editor)
    assert not editor.isVisible()
    (own,) = [t for t in practice.templates() if not t.builtin]
    assert (own.name, own.description) == ("Intake", "First meeting")
    assert [(s.key, s.title, s.prompt) for s in own.sections] == [
        ("presenting_concern", "Presenting concern", "In the client's words"),
        ("risk_safety", "Risk & safety", "Screen for risk"),
    ]
    assert page.selected_template() == own
    assert main_window.statusBar().currentMessage() == "Template created"

    # edit: rename, retitle a section (its key stays), move it up, add one
    assert page.edit_button.isEnabled() and page.archive_button.isEnabled()
    click(qtbot, page.edit_button)
    editor = page.editor
    assert editor is not None
    editor.name_field.selectAll()
    qtbot.keyClicks(editor.name_field, "Intake assessment")
    editor.section_list.setCurrentRow(1)
    editor.title_field.selectAll()
    qtbot.keyClicks(editor.title_field, "Risk")
    click(qtbot, editor.up_button)
    click(qtbot, editor.add_button)
    editor.title_field.selectAll()
    qtbot.keyClicks(editor.title_field, "Plan")
    save_dialog(qtbot, editor)
    (own,) = [t for t in practice.templates() if not t.builtin]
    assert own.name == "Intake assessment"
    assert [(s.key, s.title) for s in own.sections] == [
        ("risk_safety", "Risk"), ("plan", "Plan"), ("presenting_concern", "Presenting concern")
    ]  # fmt: skip
    assert "Intake assessment  ·  yours" in [
        page.template_list.item(i).text() for i in range(page.template_list.count())
    ]

    # archive, after confirming
    click(qtbot, page.archive_button)
    box = page.archive_box
    assert box is not None and box.isVisible()
    click(qtbot, box.button(QMessageBox.StandardButton.Yes))
    assert [t for t in practice.templates() if not t.builtin] == []
    assert [t.name for t in practice.templates(include_archived=True) if not t.builtin] == [
        "Intake assessment"
    ]
    assert main_window.statusBar().currentMessage() == "Template archived"
    actions = [e.action for e in practice.audit_entries() if e.action.startswith("template.")]
    assert actions == ["template.created", "template.updated", "template.archived"]


def test_archive_can_be_cancelled(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    own = practice.create_template("Brief", (practice.templates()[0].sections[0],))
    page = open_settings(main_window)
    select_template(page, own.key)
    click(qtbot, page.archive_button)
    assert page.archive_box is not None
    click(qtbot, page.archive_box.button(QMessageBox.StandardButton.Cancel))
    assert own.key in [t.key for t in practice.templates()]


def test_builtins_are_read_only_and_can_be_duplicated(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    page = open_settings(main_window)
    select_template(page, "soap")
    assert not page.edit_button.isEnabled() and not page.archive_button.isEnabled()
    assert "Subjective" in page.template_about.text()
    click(qtbot, page.duplicate_button)
    editor = page.editor
    assert editor is not None
    assert editor.name_field.text() == "SOAP (my copy)"
    save_dialog(qtbot, editor)
    (copy,) = [t for t in practice.templates() if not t.builtin]
    soap = next(t for t in practice.templates() if t.key == "soap")
    assert copy.name == "SOAP (my copy)" and copy.sections == soap.sections


def test_template_errors_show_in_the_dialog(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    page = open_settings(main_window)
    click(qtbot, page.new_template_button)
    editor = page.editor
    assert editor is not None
    save_dialog(qtbot, editor)  # no name
    assert editor.isVisible() and editor.error.isVisible()
    assert "name" in editor.error.text()
    qtbot.keyClicks(editor.name_field, "Empty sections")
    editor.title_field.selectAll()
    qtbot.keyClick(editor.title_field, Qt.Key.Key_Delete)
    save_dialog(qtbot, editor)
    assert editor.isVisible() and "title" in editor.error.text()
    assert [t for t in practice.templates() if not t.builtin] == []
    main_window.lock()  # an open editor is closed on lock
    assert not editor.isVisible()


def test_section_keys_from_titles() -> None:
    assert section_key("Risk & safety", set()) == "risk_safety"
    assert section_key("Plan", {"plan"}) == "plan_2"
    assert section_key("Évaluation", set()) == "evaluation"
    assert section_key("1st impressions", set()) == "section_1st_impressions"
    assert section_key("***", set()) == "section"


def test_change_passphrase(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    tmp_path: Path,
    options: VaultOptions,
) -> None:
    page = open_settings(main_window)
    qtbot.keyClicks(page.new_passphrase, "orchard lantern river stone")
    qtbot.keyClicks(page.confirm_passphrase, "orchard lantern river stone")
    click(qtbot, page.passphrase_button)
    assert "current passphrase" in page.passphrase_error.text()
    qtbot.keyClicks(page.current_passphrase, "not the passphrase at all")
    click(qtbot, page.passphrase_button)  # a wrong current one: refused, audited, unchanged
    qtbot.waitUntil(lambda: "not right" in page.passphrase_error.text(), timeout=10_000)
    failed = [e for e in practice.audit_entries()
              if e.action == "vault.passphrase_changed" and e.outcome == "failure"]  # fmt: skip
    assert len(failed) == 1
    page.current_passphrase.setText(OLD_PASSPHRASE)
    page.confirm_passphrase.setText("orchard lantern river ston")
    click(qtbot, page.passphrase_button)
    assert page.passphrase_error.isVisible() and "differ" in page.passphrase_error.text()
    page.new_passphrase.setText("password1234")
    page.confirm_passphrase.setText("password1234")
    click(qtbot, page.passphrase_button)
    assert "too easy to guess" in page.passphrase_error.text()
    page.new_passphrase.setText("short")
    page.confirm_passphrase.setText("short")
    click(qtbot, page.passphrase_button)
    assert "at least 10 characters" in page.passphrase_error.text()

    page.new_passphrase.setText("orchard lantern river stone")
    page.confirm_passphrase.setText("orchard lantern river stone")
    qtbot.keyClick(page.confirm_passphrase, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.passphrase_status.text().startswith("Passphrase changed"))
    assert not page.passphrase_error.isVisible()
    assert page.new_passphrase.text() == "" and page.confirm_passphrase.text() == ""
    assert page.current_passphrase.text() == ""
    main_window.lock()
    reopened = Practice.unlock(tmp_path / "vault", "orchard lantern river stone", options=options)
    reopened.lock()
    with pytest.raises(UnlockError):
        Practice.unlock(tmp_path / "vault", OLD_PASSPHRASE, options=options)


def test_screenshot(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, screenshot_dir: Path | None
) -> None:
    soap = next(t for t in practice.templates() if t.key == "soap")
    practice.create_template("Intake assessment", soap.sections[:2], "First meeting")
    page = open_settings(main_window)
    page.relay_field.setText("https://relay.example.org")
    select_template(page, "soap")
    image = main_window.grab()
    assert image.width() == 1180
    if screenshot_dir is not None:
        image.save(str(screenshot_dir / "settings.png"))
