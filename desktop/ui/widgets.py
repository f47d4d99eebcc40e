"""Small shared building blocks: a centred card page, headings, secret fields."""

from __future__ import annotations

from collections.abc import Callable

from desktop.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QFont,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    Qt,
    QVBoxLayout,
    QWidget,
)


def heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setPointSizeF(font.pointSizeF() * 1.6)
    font.setWeight(QFont.Weight.DemiBold)
    label.setFont(font)
    label.setAccessibleName(text)
    return label


def paragraph(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def secret_field(name: str, placeholder: str) -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    field.setAccessibleName(name)
    field.setMinimumWidth(320)
    return field


def error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setObjectName("error")
    label.setStyleSheet("QLabel#error { color: palette(bright-text); background: #b3261e;"
                        " border-radius: 6px; padding: 6px 10px; }")  # fmt: skip
    label.setAccessibleName("Error")
    label.hide()
    return label


def dialog_buttons(
    dialog: QDialog,
    action: str,
    on_accept: Callable[[], object],
    *,
    kind: QDialogButtonBox.StandardButton = QDialogButtonBox.StandardButton.Ok,
) -> tuple[QDialogButtonBox, QPushButton]:
    """The action button (default, named ``action``) and Cancel, wired to ``on_accept`` and
    ``dialog.reject``; returns the box and the action button."""
    box = QDialogButtonBox(kind | QDialogButtonBox.StandardButton.Cancel)
    button = box.button(kind)
    assert button is not None
    button.setText(action)
    button.setAccessibleName(action.replace("&", ""))
    button.setDefault(True)
    box.accepted.connect(on_accept)
    box.rejected.connect(dialog.reject)
    return box, button


class CardPage(QWidget):
    """A page whose content sits in a centred column of readable width."""

    def __init__(self) -> None:
        super().__init__()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(32, 32, 32, 32)
        outer.addStretch(1)
        row = QHBoxLayout()
        row.addStretch(1)
        self.card = QFrame()
        # A fixed column width lets word-wrapped labels compute their height correctly.
        self.card.setFixedWidth(460)
        self.body = QVBoxLayout(self.card)
        self.body.setSpacing(12)
        row.addWidget(self.card)
        row.addStretch(1)
        outer.addLayout(row)
        outer.addStretch(2)
