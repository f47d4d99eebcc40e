"""Every control a person can reach has a name a screen reader can say, and can take the focus
from the keyboard."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractSpinBox
from pytestqt.qtbot import QtBot

from desktop.core.practice import ClientDetails, Practice
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import (
    QAbstractButton,
    QAbstractItemView,
    QComboBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    Qt,
    QTextEdit,
    QWidget,
)

from .waiting import client_shown

CONTROLS = (QAbstractButton, QLineEdit, QComboBox, QAbstractItemView, QPlainTextEdit, QTextEdit,
            QAbstractSpinBox)  # fmt: skip


def spoken_name(widget: QWidget) -> str:
    """What assistive technology announces: the accessible name, a button's text, or the text of
    a label that names it as its buddy."""
    if widget.accessibleName():
        return widget.accessibleName()
    if isinstance(widget, QAbstractButton) and widget.text().replace("&", "").strip():
        return widget.text()
    window = widget.window()
    for label in window.findChildren(QLabel):
        if label.buddy() is widget and label.text():
            return label.text()
    return ""


def unnamed_controls(root: QWidget) -> list[str]:
    found = []
    for widget in root.findChildren(QWidget):
        if not isinstance(widget, CONTROLS) or not widget.isVisibleTo(root):
            continue
        if (
            type(widget).__name__.startswith("Q")
            and widget.parent() is not None
            and isinstance(widget.parent(), QAbstractSpinBox | QComboBox | QAbstractItemView)
        ):
            continue  # a spin box's or combo box's own line edit, a view's internal parts
        if not spoken_name(widget):
            found.append(f"{type(widget).__name__} {widget.objectName()!r} in "
                         f"{type(widget.window()).__name__}")  # fmt: skip
        elif widget.focusPolicy() == Qt.FocusPolicy.NoFocus and not isinstance(
            widget, QAbstractButton
        ):
            found.append(f"{type(widget).__name__} {spoken_name(widget)!r} cannot take focus")
    return found


def test_every_page_names_its_controls(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    client = practice.create_client(ClientDetails(name="Imogen Quist"))
    note = practice.create_note(client.id, "soap")
    problems: list[str] = []
    for page in main_window.pages:
        if page.nav_title:
            main_window.show_page(page)
            problems += unnamed_controls(main_window)
    main_window.open_client(client.id)
    client_shown(qtbot, main_window, client.id)
    problems += unnamed_controls(main_window)
    main_window.open_note(note.id)
    problems += unnamed_controls(main_window)
    assert problems == []


def test_the_check_finds_an_unnamed_control(qtbot: QtBot) -> None:
    root = QWidget()
    qtbot.addWidget(root)
    named = QLineEdit(root)
    named.setAccessibleName("Filter")
    QLineEdit(root).setObjectName("mystery")
    root.show()
    assert unnamed_controls(root) == ["QLineEdit 'mystery' in QWidget"]
