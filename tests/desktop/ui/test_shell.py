"""The main window's frame: title, navigation, lock, auto-lock and the privacy screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pytestqt.qtbot import QtBot

from desktop.core.practice import ClientDetails, Practice, PracticeSettings
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QDialog, QMessageBox, Qt

from .waiting import client_shown


def add_client(practice: Practice, name: str = "Rosalind Quarrie") -> str:
    return practice.create_client(ClientDetails(name=name)).id


def test_title_is_always_quietroom(main_window: MainWindow) -> None:
    assert main_window.windowTitle() == "Quietroom"
    for page in main_window.pages:
        main_window.show_page(page)
        assert main_window.windowTitle() == "Quietroom"


def test_ctrl_l_locks_and_empties_every_page(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    qtbot.keyClick(main_window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert not practice.is_open
    assert main_window.idle.idle_seconds() >= 0


def test_auto_lock_after_idle_minutes(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, fake_clock: Any
) -> None:
    assert main_window.idle.minutes == 5
    fake_clock.advance(4 * 60)
    main_window.idle.check()
    assert practice.is_open
    qtbot.keyClick(main_window, Qt.Key.Key_Shift)  # activity restarts the count
    fake_clock.advance(4 * 60)
    main_window.idle.check()
    assert practice.is_open
    fake_clock.advance(61)
    main_window.idle.check()
    assert not practice.is_open


def test_auto_lock_with_a_modal_dialog_open(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, fake_clock: Any
) -> None:
    box = QMessageBox(QMessageBox.Icon.Question, "Quietroom", "Discard this draft?",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                      main_window)  # fmt: skip
    box.setWindowModality(Qt.WindowModality.ApplicationModal)
    box.open()
    qtbot.waitUntil(box.isVisible)
    fake_clock.advance(5 * 60 + 1)
    qtbot.waitUntil(lambda: not practice.is_open, timeout=5000)  # the real 1 s timer fires
    assert not box.isVisible()
    assert box.result() == QDialog.DialogCode.Rejected


def test_wake_from_sleep_locks_at_the_next_tick(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, fake_clock: Any
) -> None:
    """A laptop lid closed for an hour: the wall clock jumps; the first tick locks."""
    fake_clock.advance(3600)
    qtbot.waitUntil(lambda: not practice.is_open, timeout=5000)


def test_auto_lock_time_follows_the_setting(
    main_window: MainWindow, practice: Practice, fake_clock: Any
) -> None:
    practice.update_settings(PracticeSettings(auto_lock_minutes=1))
    main_window.settings_changed()
    fake_clock.advance(61)
    main_window.idle.check()
    assert not practice.is_open


def test_live_call_holds_auto_lock(
    main_window: MainWindow, practice: Practice, fake_clock: Any
) -> None:
    main_window.set_call_active(True)
    fake_clock.advance(50 * 60)
    main_window.idle.check()
    assert practice.is_open
    main_window.set_call_active(False)  # the count starts again when the call ends
    fake_clock.advance(5 * 60 + 1)
    main_window.idle.check()
    assert not practice.is_open


def test_privacy_screen_hides_everything_and_comes_back(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    box = QMessageBox(QMessageBox.Icon.Information, "Quietroom", "A dialog", parent=main_window)
    box.open()
    box.activateWindow()
    qtbot.waitUntil(box.isActiveWindow)
    both = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(box, Qt.Key.Key_H, both)  # the hotkey works from inside a dialog too
    assert main_window.privacy_on
    assert main_window.screen_stack.currentWidget() is main_window.cover
    assert not box.isVisible()
    assert main_window.windowTitle() == "Quietroom"
    qtbot.mouseClick(main_window.cover.reveal_button, Qt.MouseButton.LeftButton)
    assert not main_window.privacy_on
    assert box.isVisible()
    assert practice.is_open
    box.close()


def test_no_phi_in_widgets_after_lock(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    widget_text: Callable[[], str],
) -> None:
    client_id = add_client(practice, "Zebulon Marchetti")
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    main_window.lock()
    assert not practice.is_open
    assert "Zebulon" not in widget_text()


def test_privacy_screen_hides_other_windows_too(qtbot: QtBot, main_window: MainWindow) -> None:
    """The call window is a window of its own: the privacy screen hides it with the rest."""
    from desktop.ui.qt import QWidget

    other = QWidget()
    other.setWindowTitle("Quietroom - video session")
    qtbot.addWidget(other)
    other.show()
    main_window.toggle_privacy()
    assert not other.isVisible()
    main_window.toggle_privacy()
    assert other.isVisible()


def _dark_palette() -> Any:
    from desktop.ui.qt import QColor, QPalette

    palette = QPalette()
    for role, colour in [
        (QPalette.ColorRole.Window, "#2b2b2e"), (QPalette.ColorRole.WindowText, "#e8e8e8"),
        (QPalette.ColorRole.Base, "#1f1f22"), (QPalette.ColorRole.AlternateBase, "#29292d"),
        (QPalette.ColorRole.Text, "#e8e8e8"), (QPalette.ColorRole.Button, "#3a3a3e"),
        (QPalette.ColorRole.ButtonText, "#e8e8e8"), (QPalette.ColorRole.Highlight, "#3d7bd9"),
        (QPalette.ColorRole.HighlightedText, "#ffffff"), (QPalette.ColorRole.Mid, "#555555"),
    ]:  # fmt: skip
        palette.setColor(role, QColor(colour))
    return palette


def test_follows_a_dark_system_palette(
    qtbot: QtBot, practice: Practice, tmp_path: Any, screenshot_dir: Any
) -> None:
    """Colours come from the palette: under a dark scheme the pages are dark with light text."""
    from desktop.ui.qt import QApplication

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    before = app.palette()
    app.setPalette(_dark_palette())
    try:
        client_id = add_client(practice, "Dana Fernhollow")
        window = MainWindow(practice, tmp_path / "vault", practice.lock)
        qtbot.addWidget(window)
        window.resize(1180, 760)
        window.show()
        window.open_client(client_id)
        client_shown(qtbot, window, client_id)
        image = window.grab().toImage()
        background = image.pixelColor(700, 600)  # empty page area
        assert background.lightness() < 80
        name = window.client_page.findChildren(type(window.unlock_notice))
        heading = next(label for label in name if label.text() == "Dana Fernhollow")
        assert heading.palette().color(heading.foregroundRole()).lightness() > 180
        if screenshot_dir is not None:
            window.grab().save(str(screenshot_dir / "dark-client-page.png"))
        window.lock()
    finally:
        app.setPalette(before)
