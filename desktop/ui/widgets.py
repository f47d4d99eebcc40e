"""Small shared building blocks: a centred card page, headings, secret fields, and the "Technical
details" disclosure that keeps technical facts one click away from a therapist's screen."""

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
    QToolButton,
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


class TechnicalDetails(QWidget):
    """A closed "Technical details" disclosure: the facts whoever supports the therapist with IT
    needs (algorithms, parameters, hashes, raw log fields), hidden until asked for. Everything a
    therapist reads elsewhere on screen is in plain words; put the technical rest in here.

    ``set_text`` replaces the body (plain text, selectable so it can be copied to a helper)."""

    TITLE = "Technical details"

    def __init__(self, text: str = "", *, name: str = TITLE) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.toggle = QToolButton()
        self.toggle.setText(self.TITLE)
        self.toggle.setAccessibleName(name)
        self.toggle.setToolTip("For whoever helps you with your computer")
        self.toggle.setCheckable(True)
        self.toggle.setAutoRaise(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.toggle.toggled.connect(self._toggled)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        self.body = QLabel(text)
        self.body.setObjectName("technicalDetails")
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.PlainText)
        self.body.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.body.setAccessibleName(f"{name}, shown")
        self.body.setStyleSheet(
            "QLabel#technicalDetails { background: palette(alternate-base);"
            " border-radius: 6px; padding: 6px 10px; }"
        )
        self.body.hide()
        layout.addWidget(self.body)

    @property
    def is_open(self) -> bool:
        return self.toggle.isChecked()

    def set_open(self, shown: bool) -> None:
        self.toggle.setChecked(shown)

    def set_text(self, text: str) -> None:
        self.body.setText(text)

    def text(self) -> str:
        return self.body.text()

    def clear(self) -> None:
        self.body.clear()
        self.set_open(False)

    def _toggled(self, shown: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)
        self.body.setVisible(shown)
