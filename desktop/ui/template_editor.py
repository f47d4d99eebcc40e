"""The dialog for the therapist's own note templates: a name, a description and sections (title
and prompt), in order. Section keys, stored with every note, are made from the titles of new
sections and kept for existing ones, so that renaming a section never orphans written notes.

The dialog never saves by itself: it hands the result to a ``save`` callable (the settings page's
facade call); an error from it (``PracticeError``) is shown in the dialog, which stays open."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from desktop.core.errors import PracticeError
from desktop.core.templates import MAX_PROMPT, MAX_SECTIONS, MAX_TITLE, Template, TemplateSection
from desktop.ui.qt import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import dialog_buttons, error_label

SaveTemplate = Callable[[str, str, tuple[TemplateSection, ...]], None]


def section_key(title: str, taken: set[str]) -> str:
    """A key for a new section: lower-case ASCII letters, digits and _, unique in ``taken``."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_title.lower()).strip("_")[:30].strip("_")
    if not base or not base[0].isalpha():
        base = ("section_" + base).strip("_")
    key, number = base, 2
    while key in taken:
        key = f"{base}_{number}"
        number += 1
    return key


@dataclass
class _Section:
    key: str | None  # None until saved: made from the title
    title: str
    prompt: str


class TemplateEditor(QDialog):
    def __init__(
        self,
        parent: QWidget,
        heading: str,
        save: SaveTemplate,
        template: Template | None = None,
        *,
        name: str | None = None,
        keep_keys: bool = True,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(heading)
        self._save = save
        self._sections = [
            _Section(s.key if keep_keys else None, s.title, s.prompt)
            for s in (template.sections if template is not None else ())
        ] or [_Section(None, "Note", "")]

        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name_field = QLineEdit(
            name if name is not None else (template.name if template else "")
        )
        self.name_field.setAccessibleName("Template name")
        self.name_field.setMaxLength(MAX_TITLE)
        self.name_field.setPlaceholderText("e.g. Intake assessment")
        form.addRow("&Name", self.name_field)
        self.description_field = QLineEdit(template.description if template else "")
        self.description_field.setAccessibleName("Template description")
        self.description_field.setPlaceholderText("A line to recognise it by in the picker")
        form.addRow("&Description", self.description_field)
        layout.addLayout(form)

        layout.addWidget(QLabel("Sections, in the order they appear in a note:"))
        row = QHBoxLayout()
        self.section_list = QListWidget()
        self.section_list.setAccessibleName("Sections")
        self.section_list.setMaximumWidth(220)
        self.section_list.currentRowChanged.connect(self._show_section)
        row.addWidget(self.section_list)
        detail = QVBoxLayout()
        section_form = QFormLayout()
        self.title_field = QLineEdit()
        self.title_field.setAccessibleName("Section title")
        self.title_field.setMaxLength(MAX_TITLE)
        self.title_field.textEdited.connect(self._title_edited)
        section_form.addRow("&Title", self.title_field)
        self.prompt_field = QPlainTextEdit()
        self.prompt_field.setAccessibleName("Section prompt")
        self.prompt_field.setPlaceholderText(
            "What to write here (shown in grey in an empty section)"
        )
        self.prompt_field.setTabChangesFocus(True)
        self.prompt_field.textChanged.connect(self._prompt_edited)
        section_form.addRow("&Prompt", self.prompt_field)
        detail.addLayout(section_form)
        buttons = QHBoxLayout()
        self.add_button = self._button("&Add section", "Add a section after this one", self.add)
        self.remove_button = self._button("&Remove", "Remove this section", self.remove)
        self.up_button = self._button(
            "Move &up", "Move this section up", lambda: self.move_section(-1)
        )
        self.down_button = self._button(
            "Move do&wn", "Move this section down", lambda: self.move_section(1)
        )
        for button in (self.add_button, self.remove_button, self.up_button, self.down_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        detail.addLayout(buttons)
        row.addLayout(detail, 1)
        layout.addLayout(row, 1)

        self.error = error_label()
        layout.addWidget(self.error)
        self.button_box, _ = dialog_buttons(
            self, "Save", self.submit, kind=QDialogButtonBox.StandardButton.Save
        )
        layout.addWidget(self.button_box)

        for section in self._sections:
            self.section_list.addItem(section.title)
        self.section_list.setCurrentRow(0)
        self.resize(680, 460)

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.setAutoDefault(False)
        button.clicked.connect(slot)
        return button

    # -- editing ----------------------------------------------------------------------------
    def _current(self) -> _Section | None:
        row = self.section_list.currentRow()
        return self._sections[row] if 0 <= row < len(self._sections) else None

    def _show_section(self, row: int) -> None:
        section = self._current()
        self.title_field.setText(section.title if section else "")
        self.prompt_field.blockSignals(True)
        self.prompt_field.setPlainText(section.prompt if section else "")
        self.prompt_field.blockSignals(False)
        count = len(self._sections)
        self.remove_button.setEnabled(count > 1)
        self.up_button.setEnabled(row > 0)
        self.down_button.setEnabled(0 <= row < count - 1)
        self.add_button.setEnabled(count < MAX_SECTIONS)

    def _title_edited(self, text: str) -> None:
        section = self._current()
        if section is not None:
            section.title = text
            item = self.section_list.currentItem()
            if item is not None:
                item.setText(text or "(untitled)")

    def _prompt_edited(self) -> None:
        section = self._current()
        if section is not None:
            section.prompt = self.prompt_field.toPlainText()

    def add(self) -> None:
        row = self.section_list.currentRow() + 1
        self._sections.insert(row, _Section(None, "New section", ""))
        self.section_list.insertItem(row, "New section")
        self.section_list.setCurrentRow(row)
        self.title_field.setFocus()
        self.title_field.selectAll()

    def remove(self) -> None:
        row = self.section_list.currentRow()
        if len(self._sections) <= 1 or row < 0:
            return
        del self._sections[row]
        self.section_list.takeItem(row)
        self.section_list.setCurrentRow(min(row, len(self._sections) - 1))

    def move_section(self, step: int) -> None:
        row = self.section_list.currentRow()
        target = row + step
        if row < 0 or not 0 <= target < len(self._sections):
            return
        self._sections[row], self._sections[target] = self._sections[target], self._sections[row]
        item = self.section_list.takeItem(row)
        self.section_list.insertItem(target, item)
        self.section_list.setCurrentRow(target)

    # -- saving -----------------------------------------------------------------------------
    def sections(self) -> tuple[TemplateSection, ...]:
        taken = {s.key for s in self._sections if s.key is not None}
        result = []
        for section in self._sections:
            key = section.key
            if key is None:
                key = section_key(section.title, taken)
                taken.add(key)
            result.append(TemplateSection(key, section.title.strip(), section.prompt.strip()))
        return tuple(result)

    def submit(self) -> None:
        if any(len(s.prompt) > MAX_PROMPT for s in self._sections):
            self._show_error(f"Keep each prompt under {MAX_PROMPT} characters.")
            return
        try:
            self._save(self.name_field.text(), self.description_field.text(), self.sections())
        except PracticeError as exc:
            message = str(exc)
            self._show_error(message[:1].upper() + message[1:])
            return
        self.accept()

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
