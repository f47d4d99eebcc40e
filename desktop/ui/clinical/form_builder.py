"""The therapist's own forms: an intake questionnaire or a consent, built from questions of five
kinds (a written answer, a choice, a scale, a date, a signature), each required or not.

``FormBuilderDialog`` edits the whole form (title, what the client reads first, for a consent its
document and version, the questions in order); ``QuestionDialog`` edits one question. Saving
checks the form as the client's page will show it (``clinical.save_form_template``: the same
rules the page and the app apply to the answers) and makes a new version: forms already sent
keep the exact questions they were sent with. A built-in form is never changed: starting from
one makes a form of one's own."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import replace

from desktop.core.clinical.forms import FieldKind, FormKind, FormTemplate, TemplateField
from desktop.ui.client_forms import FieldError, FormDialog
from desktop.ui.qt import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import paragraph

KIND_WORDS = {
    FieldKind.TEXT: "Written answer",
    FieldKind.CHOICE: "Choice",
    FieldKind.SCALE: "Scale",
    FieldKind.DATE: "Date",
    FieldKind.SIGNATURE: "Signature (typed full name)",
}
NEW_FORM = ""


def _box(placeholder: str, lines: int) -> QPlainTextEdit:
    box = QPlainTextEdit()
    box.setPlaceholderText(placeholder)
    box.setTabChangesFocus(True)
    box.setFixedHeight(box.fontMetrics().lineSpacing() * lines + 16)
    return box


def question_key(label: str, taken: Sequence[str]) -> str:
    """A short key for a question (the page and the app use it; the therapist never sees it):
    the label's first words in lower case ASCII, unique within the form."""
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())[:4]
    base = "_".join(words)[:32].strip("_") or "question"
    key, n = base, 2
    while key in taken:
        key, n = f"{base}_{n}", n + 1
    return key


class QuestionDialog(FormDialog[TemplateField]):
    def __init__(
        self,
        parent: QWidget,
        on_saved: Callable[[TemplateField], None],
        current: TemplateField | None = None,
    ) -> None:
        super().__init__(parent, "Quietroom - question", "&Keep question", on_saved)
        self._key = current.key if current is not None else ""
        self.label = QLineEdit()
        self.add_row("&Question", self.label, "Question", "What the client reads")
        self.kind = QComboBox()
        for kind, words in KIND_WORDS.items():
            self.kind.addItem(words, kind)
        self.add_row("&Answer", self.kind, "Kind of answer")
        self.required = QCheckBox("The client must answer this")
        self.required.setChecked(True)
        self.add_row("", self.required, "Required")
        self.multiline = QCheckBox("Room for several lines")
        self.add_row("", self.multiline, "Several lines")
        self.options = _box("One choice per line", 4)
        self.add_row("&Choices", self.options, "Choices", "Two to twenty, one per line")
        self.low = QSpinBox()
        self.low.setRange(-100, 100)
        self.high = QSpinBox()
        self.high.setRange(-100, 100)
        self.high.setValue(10)
        self.add_row("&From", self.low, "Scale from")
        self.add_row("&To", self.high, "Scale to")
        self.low_label = QLineEdit()
        self.low_label.setPlaceholderText("e.g. Not at all")
        self.add_row("&Lowest means", self.low_label, "Lowest means")
        self.high_label = QLineEdit()
        self.high_label.setPlaceholderText("e.g. Extremely")
        self.add_row("&Highest means", self.high_label, "Highest means")
        if current is not None:
            self.label.setText(current.label)
            self.kind.setCurrentIndex(self.kind.findData(current.kind))
            self.required.setChecked(current.required)
            self.multiline.setChecked(current.multiline)
            self.options.setPlainText("\n".join(current.options))
            self.low.setValue(current.low)
            self.high.setValue(current.high)
            self.low_label.setText(current.low_label)
            self.high_label.setText(current.high_label)
        self.kind.currentIndexChanged.connect(lambda _: self._show_rows())
        self._show_rows()
        self.resize(520, 360)

    def _kind(self) -> FieldKind:
        return FieldKind(str(self.kind.currentData()))  # Qt may hand the enum back as a str

    def _show_rows(self) -> None:
        kind = self._kind()
        self.form.setRowVisible(self.multiline, kind is FieldKind.TEXT)
        self.form.setRowVisible(self.options, kind is FieldKind.CHOICE)
        for widget in (self.low, self.high, self.low_label, self.high_label):
            self.form.setRowVisible(widget, kind is FieldKind.SCALE)

    def save(self) -> TemplateField:
        label = self.label.text().strip()
        if not label:
            raise FieldError("Write the question.", self.label)
        kind = self._kind()
        field = TemplateField(self._key, kind, label, self.required.isChecked())
        if kind is FieldKind.TEXT:
            field = replace(field, multiline=self.multiline.isChecked())
        elif kind is FieldKind.CHOICE:
            options = tuple(o.strip() for o in self.options.toPlainText().splitlines() if o.strip())
            if not 2 <= len(options) <= 20:
                raise FieldError("Give two to twenty choices, one per line.", self.options)
            field = replace(field, options=options)
        elif kind is FieldKind.SCALE:
            if self.low.value() >= self.high.value():
                raise FieldError("The scale runs from a lower to a higher number.", self.high)
            field = replace(field, low=self.low.value(), high=self.high.value(),
                            low_label=self.low_label.text().strip(),
                            high_label=self.high_label.text().strip())  # fmt: skip
        return field


class FormBuilderDialog(FormDialog[FormTemplate]):
    """One of the therapist's forms, new or as a new version; ``start`` lists the forms to
    start from (own forms are edited, built-in ones copied)."""

    def __init__(
        self,
        parent: QWidget,
        forms: Sequence[FormTemplate],
        save: Callable[[FormTemplate], FormTemplate],
        on_saved: Callable[[FormTemplate], None],
    ) -> None:
        super().__init__(parent, "Quietroom - your own forms", "&Save form", on_saved)
        self._save = save
        self._forms = {f.key: f for f in forms}
        self._key = NEW_FORM
        self._fields: list[TemplateField] = []
        self.start = QComboBox()
        self.start.addItem("A new form", NEW_FORM)
        for form in forms:
            words = f"Copy of {form.title}" if form.built_in else form.title
            self.start.addItem(words, form.key)
        self.start.activated.connect(lambda _: self._fill(self.start.currentData()))
        self.add_row("&Form", self.start, "Form",
                     "Change one of your forms (a new version), or start from another")  # fmt: skip
        self.title_field = QLineEdit()
        self.add_row("&Title", self.title_field, "Title", "The heading the client sees")
        self.kind = QComboBox()
        self.kind.addItem("Questionnaire", FormKind.INTAKE)
        self.kind.addItem("Consent to sign", FormKind.CONSENT)
        self.kind.currentIndexChanged.connect(lambda _: self._show_rows())
        self.add_row("&Kind", self.kind, "Kind of form")
        self.intro = _box("What the client reads first (optional)", 3)
        self.add_row("&Introduction", self.intro, "Introduction")
        self.consent_text = _box("The document the client reads and signs", 6)
        self.add_row("&Document", self.consent_text, "Consent document",
                     "Signed as it is: a change later is a new version")  # fmt: skip
        self.consent_version = QLineEdit()
        self.consent_version.setPlaceholderText("e.g. 2026-1")
        self.add_row("Document &version", self.consent_version, "Document version",
                     "Kept with each signature, so you know which text was signed")  # fmt: skip
        questions = QWidget()
        column = QVBoxLayout(questions)
        column.setContentsMargins(0, 0, 0, 0)
        self.questions = QTreeWidget()
        self.questions.setHeaderLabels(["Question", "Answer", "Required"])
        self.questions.setRootIsDecorated(False)
        self.questions.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.questions.header().resizeSection(0, 320)
        self.questions.header().resizeSection(1, 200)
        self.questions.setMinimumHeight(180)
        self.questions.itemDoubleClicked.connect(lambda *_: self.edit_question())
        self.questions.currentItemChanged.connect(lambda *_: self._enable())
        column.addWidget(self.questions)
        row = QHBoxLayout()
        self.add_button = self._button("&Add…", "Add a question", self.add_question)
        self.edit_button = self._button("&Edit…", "Edit the question", self.edit_question)
        self.up_button = self._button(
            "Move &up", "Move the question up", lambda: self.move_question(-1)
        )
        self.down_button = self._button("Move do&wn", "Move the question down",
                                        lambda: self.move_question(1))  # fmt: skip
        self.remove_button = self._button("&Remove", "Remove the question", self.remove)
        for button in (self.add_button, self.edit_button, self.up_button, self.down_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.remove_button)
        column.addLayout(row)
        self.add_row("&Questions", questions, "Questions")
        self.form.addRow(paragraph("Required questions are checked on the client's page and "
                                   "again here when the answers arrive."))  # fmt: skip
        self._fill(NEW_FORM)
        self.resize(720, 760)

    def _button(self, text: str, name: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    def _fill(self, key: object) -> None:
        form = self._forms.get(str(key))
        self._key = form.key if form is not None and not form.built_in else NEW_FORM
        self.title_field.setText(form.title if form is not None else "")
        kind = form.kind if form is not None else FormKind.INTAKE
        self.kind.setCurrentIndex(self.kind.findData(kind))
        self.intro.setPlainText(form.intro if form is not None else "")
        self.consent_text.setPlainText(form.consent_text if form is not None else "")
        self.consent_version.setText(form.consent_version if form is not None else "")
        self._fields = list(form.fields) if form is not None else []
        self._show_fields()
        self._show_rows()

    def _form_kind(self) -> FormKind:
        return FormKind(str(self.kind.currentData()))

    def _show_rows(self) -> None:
        consent = self._form_kind() is FormKind.CONSENT
        self.form.setRowVisible(self.consent_text, consent)
        self.form.setRowVisible(self.consent_version, consent)

    def _show_fields(self, select: int | None = None) -> None:
        self.questions.clear()
        for field in self._fields:
            required = "Yes" if field.required else "No"
            item = QTreeWidgetItem([field.label, KIND_WORDS[field.kind], required])
            self.questions.addTopLevelItem(item)
        chosen = self.questions.topLevelItem(select) if select is not None else None
        if chosen is not None:
            self.questions.setCurrentItem(chosen)
        self._enable()

    def _current(self) -> int:
        item = self.questions.currentItem()
        return -1 if item is None else self.questions.indexOfTopLevelItem(item)

    def _enable(self) -> None:
        index = self._current()
        self.edit_button.setEnabled(index >= 0)
        self.remove_button.setEnabled(index >= 0)
        self.up_button.setEnabled(index > 0)
        self.down_button.setEnabled(0 <= index < len(self._fields) - 1)

    def add_question(self) -> None:
        def keep(field: TemplateField) -> None:
            taken = [f.key for f in self._fields]
            self._fields.append(replace(field, key=question_key(field.label, taken)))
            self._show_fields(len(self._fields) - 1)

        QuestionDialog(self, keep).open()  # its key is made from the question once written

    def edit_question(self) -> None:
        index = self._current()
        if index < 0:
            return

        def keep(field: TemplateField) -> None:
            self._fields[index] = field
            self._show_fields(index)

        QuestionDialog(self, keep, self._fields[index]).open()

    def move_question(self, step: int) -> None:
        index = self._current()
        target = index + step
        if index < 0 or not 0 <= target < len(self._fields):
            return
        fields = self._fields
        fields[index], fields[target] = fields[target], fields[index]
        self._show_fields(target)

    def remove(self) -> None:
        index = self._current()
        if index >= 0:
            del self._fields[index]
            self._show_fields(min(index, len(self._fields) - 1))

    def template(self) -> FormTemplate:
        title = self.title_field.text().strip()
        if not title:
            raise FieldError("Give the form a title.", self.title_field)
        if not self._fields:
            raise FieldError("Add at least one question.", self.add_button)
        kind = self._form_kind()
        consent = kind is FormKind.CONSENT
        text = self.consent_text.toPlainText().strip() if consent else ""
        version = self.consent_version.text().strip() if consent else ""
        if consent and not text:
            raise FieldError("Write the document the client signs.", self.consent_text)
        if consent and not version:
            raise FieldError("Give the document a version, e.g. 2026-1.", self.consent_version)
        return FormTemplate(self._key, 0, kind, title, self.intro.toPlainText().strip(),
                            tuple(self._fields), text, version)  # fmt: skip

    def save(self) -> FormTemplate:
        return self._save(self.template())

    def clear_phi(self) -> None:
        super().clear_phi()
        self._fields = []
        self.questions.clear()
