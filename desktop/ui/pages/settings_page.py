"""Settings kept inside the vault (never QSettings): how notes are signed, auto-lock, late
entries, retention, the video-session relay (a hosted one, or the one inside the app for this
computer or this network); the therapist's own note templates; and changing the passphrase."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from desktop.core.errors import PracticeError, SettingsError
from desktop.core.passphrase_strength import judge_new_passphrase
from desktop.core.practice import MIN_PASSPHRASE_CHARS, CryptoError
from desktop.core.settings import MAX_TEXT, build_default_relay
from desktop.core.templates import Template, TemplateSection
from desktop.ui import billing_settings_dialog, import_dialog, practice_export_dialog
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSpinBox,
    Qt,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.rekey_dialog import RekeyDialog
from desktop.ui.relay_setup import RelaySetup
from desktop.ui.relay_setup import intro as relay_intro
from desktop.ui.template_editor import TemplateEditor
from desktop.ui.widgets import error_label, heading, paragraph, secret_field

KEY_ROLE = Qt.ItemDataRole.UserRole


def _hint(text: str) -> QLabel:
    label = paragraph(text)
    label.setObjectName("hint")
    label.setStyleSheet("QLabel#hint { color: palette(placeholder-text); }")
    return label


def _spin(name: str, low: int, high: int, suffix: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSuffix(suffix)
    spin.setAccessibleName(name)
    spin.setMinimumWidth(120)
    return spin


class SettingsPage(Page):
    nav_title = "Settings"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self.editor: TemplateEditor | None = None
        self.archive_box: QMessageBox | None = None
        self.rekey_dialog: RekeyDialog | None = None
        self._templates: dict[str, Template] = {}

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        content = QWidget()
        scroll.setWidget(content)
        page = QVBoxLayout(content)
        page.setContentsMargins(28, 24, 28, 20)
        page.setSpacing(12)
        page.addWidget(heading("Settings"))
        columns = QHBoxLayout()
        columns.setSpacing(20)
        left, right = QVBoxLayout(), QVBoxLayout()
        left.setSpacing(12)
        right.setSpacing(12)
        columns.addLayout(left, 1)
        columns.addLayout(right, 1)
        page.addLayout(columns)
        page.addStretch(1)

        left.addWidget(self._practice_box())
        left.addWidget(self._relay_box())
        self.error = error_label()
        self.error.setAccessibleName("Settings not saved")
        left.addWidget(self.error)
        self.save_button = QPushButton("&Save settings")
        self.save_button.setAccessibleName("Save settings")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        left.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignRight)
        left.addStretch(1)

        right.addWidget(self._templates_box())
        right.addWidget(self._passphrase_box())
        right.addWidget(self._records_box())
        right.addStretch(1)

    # -- building ---------------------------------------------------------------------------
    def _practice_box(self) -> QGroupBox:
        box = QGroupBox("Practice")
        form = QFormLayout(box)
        self.name_field = QLineEdit()
        self.name_field.setAccessibleName("Your name")
        self.name_field.setMaxLength(MAX_TEXT)
        self.name_field.setPlaceholderText("e.g. Dr Ada Lovelace")
        form.addRow("Your &name", self.name_field)
        self.credentials_field = QLineEdit()
        self.credentials_field.setAccessibleName("Credentials")
        self.credentials_field.setMaxLength(MAX_TEXT)
        self.credentials_field.setPlaceholderText("e.g. PsyD, LMFT")
        form.addRow("&Credentials", self.credentials_field)
        form.addRow("", _hint("Notes are signed with your name and credentials."))
        self.auto_lock = _spin("Auto-lock after minutes without use", 1, 240, " minutes")
        form.addRow("&Lock after", self.auto_lock)
        self.late_hours = _spin("Late entry after hours", 1, 24 * 30, " hours")
        self.late_hours.setToolTip(
            "A note signed later than this after its session is marked as a late entry."
        )
        form.addRow("La&te entry after", self.late_hours)
        self.retention = _spin("Keep records for years", 0, 100, " years")
        self.retention.setToolTip(
            "The least time a record is kept after the last session or after archiving."
        )
        form.addRow("&Keep records", self.retention)
        for field in (self.name_field, self.credentials_field):
            field.returnPressed.connect(self.save)
        return box

    def _relay_box(self) -> QGroupBox:
        box = QGroupBox("Video sessions")
        self.relay_box = box
        layout = QVBoxLayout(box)
        layout.addWidget(relay_intro())
        self.relay_setup = RelaySetup(default_address=build_default_relay())
        self.relay_field = self.relay_setup.address_field
        self.relay_field.returnPressed.connect(self.save)
        self.relay_setup.key_field.returnPressed.connect(self.save)
        layout.addWidget(self.relay_setup)
        self.relay_error = error_label()
        self.relay_error.setAccessibleName("Relay address problem")
        layout.addWidget(self.relay_error)
        self.network_check = QCheckBox("Without a service: let clients on this &network join")
        self.network_check.setAccessibleName("Let clients on this network join")
        layout.addWidget(self.network_check)
        layout.addWidget(
            _hint(
                "Their browser will warn that the connection is not private. Off, only this "
                "computer can open the link."
            )
        )
        return box

    def _templates_box(self) -> QGroupBox:
        box = QGroupBox("Note templates")
        layout = QVBoxLayout(box)
        self.template_list = QListWidget()
        self.template_list.setAccessibleName("Note templates")
        self.template_list.setFixedHeight(150)
        self.template_list.currentItemChanged.connect(self._template_chosen)
        self.template_list.itemActivated.connect(lambda _item: self._edit_or_duplicate())
        layout.addWidget(self.template_list)
        self.template_about = QLabel()
        self.template_about.setAccessibleName("About the template")
        self.template_about.setWordWrap(True)
        self.template_about.setTextFormat(Qt.TextFormat.PlainText)
        self.template_about.setMinimumHeight(self.template_about.fontMetrics().lineSpacing() * 2)
        layout.addWidget(self.template_about)
        buttons = QHBoxLayout()
        self.new_template_button = self._button("Ne&w…", "New template", self.new_template)
        self.duplicate_button = self._button(
            "&Duplicate…", "Duplicate the template", self.duplicate_template
        )
        self.edit_button = self._button("&Edit…", "Edit the template", self.edit_template)
        self.archive_button = self._button(
            "&Archive…", "Archive the template", self.archive_template
        )
        for button in (
            self.new_template_button,
            self.duplicate_button,
            self.edit_button,
            self.archive_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addWidget(
            _hint(
                "Built-in templates cannot change; duplicate one to start your own. Editing a "
                "template never changes notes already written with it."
            )
        )
        return box

    def _passphrase_box(self) -> QGroupBox:
        box = QGroupBox("Passphrase")
        layout = QVBoxLayout(box)
        layout.addWidget(
            _hint(
                f"At least {MIN_PASSPHRASE_CHARS} characters; a few unrelated words work well. "
                "You will need the new passphrase the next time you unlock."
            )
        )
        self.current_passphrase = secret_field("Current passphrase", "Current passphrase")
        self.new_passphrase = secret_field("New passphrase", "New passphrase")
        self.confirm_passphrase = secret_field("Confirm the new passphrase", "Type it again")
        self.confirm_passphrase.returnPressed.connect(self.change_passphrase)
        layout.addWidget(self.current_passphrase)
        layout.addWidget(self.new_passphrase)
        layout.addWidget(self.confirm_passphrase)
        self.passphrase_error = error_label()
        self.passphrase_error.setAccessibleName("Passphrase problem")
        layout.addWidget(self.passphrase_error)
        self.passphrase_status = QLabel()
        self.passphrase_status.setAccessibleName("Passphrase status")
        self.passphrase_status.setWordWrap(True)
        self.passphrase_status.hide()
        layout.addWidget(self.passphrase_status)
        self.passphrase_button = self._button(
            "C&hange passphrase", "Change passphrase", self.change_passphrase
        )
        layout.addWidget(self.passphrase_button, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(
            _hint("Lost your recovery sheet, or someone may have seen it? Make a new one.")
        )
        self.rekey_button = self._button(
            "New &recovery key...", "New recovery key", self.new_recovery_key
        )
        layout.addWidget(self.rekey_button, 0, Qt.AlignmentFlag.AlignRight)
        return box

    def new_recovery_key(self) -> None:
        """A new recovery key (a new key for the whole vault): desktop/ui/rekey_dialog.py."""
        self.rekey_dialog = RekeyDialog(self.ctx.practice, self)
        self.rekey_dialog.finished.connect(self._rekey_finished)
        self.rekey_dialog.open()

    def _rekey_finished(self) -> None:
        dialog, self.rekey_dialog = self.rekey_dialog, None
        if dialog is not None:
            if dialog.switched:
                self._passphrase_note("Your new recovery key is in force.")
            dialog.deleteLater()

    def _records_box(self) -> QGroupBox:
        """Records and billing (desktop/ui: billing_settings_dialog, import_dialog,
        practice_export_dialog)."""
        box = QGroupBox("Records and billing")
        layout = QVBoxLayout(box)
        layout.addWidget(
            _hint(
                "Your billing details and fees for superbills; bring clients and appointments "
                "in from another program; export everything in open formats."
            )
        )
        row = QHBoxLayout()
        for text, name, slot in (
            ("&Billing details…", "Billing details", self.billing_details),
            ("&Import…", "Import from another program", self.import_records),
            ("E&xport everything…", "Export everything", self.export_everything),
        ):
            row.addWidget(self._button(text, name, slot))
        row.addStretch(1)
        layout.addLayout(row)
        return box

    def billing_details(self) -> None:
        billing_settings_dialog.start_billing_settings(self.ctx, self)

    def import_records(self) -> None:
        import_dialog.start_import(self.ctx, self)

    def export_everything(self) -> None:
        practice_export_dialog.start_practice_export(self.ctx, self)

    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    # -- the Page contract ------------------------------------------------------------------
    def activated(self) -> None:
        self.load()

    def clear_phi(self) -> None:
        """Settings and templates hold no client data; the typed passphrase and the practice's
        relay key go all the same (load() brings the key back from the vault)."""
        self.relay_setup.clear()
        for field in (self.current_passphrase, self.new_passphrase, self.confirm_passphrase):
            field.clear()
        self._passphrase_note("")
        for label in (self.error, self.relay_error, self.passphrase_error):
            label.clear()
            label.hide()
        for dialog in (self.editor, self.archive_box, self.rekey_dialog):
            if dialog is not None:
                dialog.reject()
        self.editor = self.archive_box = None

    def load(self) -> None:
        """Show the stored settings (discarding unsaved edits) and the templates."""
        settings = self.ctx.practice.settings
        self.name_field.setText(settings.therapist_name)
        self.credentials_field.setText(settings.therapist_credentials)
        self.auto_lock.setValue(settings.auto_lock_minutes)
        self.late_hours.setValue(settings.late_entry_hours)
        self.retention.setValue(settings.retention_years)
        self.relay_setup.load(settings)
        self.network_check.setChecked(settings.local_relay_network)
        for label in (self.error, self.relay_error):
            label.hide()
        self.refresh_templates()

    # -- settings ---------------------------------------------------------------------------
    def save(self) -> None:
        practice = self.ctx.practice
        wanted = replace(
            practice.settings,
            therapist_name=self.name_field.text().strip(),
            therapist_credentials=self.credentials_field.text().strip(),
            auto_lock_minutes=self.auto_lock.value(),
            late_entry_hours=self.late_hours.value(),
            retention_years=self.retention.value(),
            local_relay_network=self.network_check.isChecked(),
        )
        wanted = self.relay_setup.apply(wanted)
        self.error.hide()
        self.relay_error.hide()
        try:
            practice.update_settings(wanted)
        except SettingsError as exc:
            message = str(exc)
            label = self.relay_error if message.startswith("relay") else self.error
            label.setText(f"Not saved: {message}.")
            label.show()
            if label is self.relay_error:
                self.relay_field.setFocus()
            return
        self.ctx.nav.settings_changed()
        self.ctx.nav.notify("Settings saved")

    # -- templates --------------------------------------------------------------------------
    def refresh_templates(self, select: str | None = None) -> None:
        current = self.template_list.currentItem()
        select = select or (current.data(KEY_ROLE) if current is not None else None)
        templates = self.ctx.practice.templates()
        self._templates = {t.key: t for t in templates}
        self.template_list.blockSignals(True)
        self.template_list.clear()
        for template in templates:
            kind = "built-in" if template.builtin else "yours"
            item = QListWidgetItem(f"{template.name}  ·  {kind}")
            item.setData(KEY_ROLE, template.key)
            self.template_list.addItem(item)
            if template.key == select:
                self.template_list.setCurrentItem(item)
        self.template_list.blockSignals(False)
        if self.template_list.currentItem() is None and self.template_list.count():
            self.template_list.setCurrentRow(0)
        self._template_chosen(self.template_list.currentItem())

    def selected_template(self) -> Template | None:
        item = self.template_list.currentItem()
        return None if item is None else self._templates.get(item.data(KEY_ROLE))

    def _template_chosen(self, _item: QListWidgetItem | None) -> None:
        template = self.selected_template()
        own = template is not None and not template.builtin
        self.edit_button.setEnabled(own)
        self.archive_button.setEnabled(own)
        self.duplicate_button.setEnabled(template is not None)
        if template is None:
            self.template_about.clear()
            return
        sections = ", ".join(s.title for s in template.sections)
        about = template.description if template.description != sections else ""
        self.template_about.setText(f"{about}\nSections: {sections}".strip())

    def _edit_or_duplicate(self) -> None:
        template = self.selected_template()
        if template is not None and template.builtin:
            self.duplicate_template()
        else:
            self.edit_template()

    def _open_editor(self, editor: TemplateEditor) -> None:
        if self.editor is not None:
            self.editor.reject()
        self.editor = editor
        editor.finished.connect(lambda _result: self._editor_closed(editor))
        editor.open()
        editor.name_field.setFocus()

    def _editor_closed(self, editor: TemplateEditor) -> None:
        if self.editor is editor:
            self.editor = None
        editor.deleteLater()

    def new_template(self) -> None:
        practice = self.ctx.practice

        def save(name: str, description: str, sections: tuple[TemplateSection, ...]) -> None:
            created = practice.create_template(name, sections, description)
            self._template_saved(created.key, "Template created")

        self._open_editor(TemplateEditor(self, "New template", save))

    def duplicate_template(self) -> None:
        template = self.selected_template()
        if template is None:
            return
        practice = self.ctx.practice

        def save(name: str, description: str, sections: tuple[TemplateSection, ...]) -> None:
            created = practice.create_template(name, sections, description)
            self._template_saved(created.key, "Template created")

        editor = TemplateEditor(
            self, "New template", save, template, name=f"{template.name} (my copy)"
        )
        self._open_editor(editor)

    def edit_template(self) -> None:
        template = self.selected_template()
        if template is None or template.builtin:
            return
        practice = self.ctx.practice
        key = template.key

        def save(name: str, description: str, sections: tuple[TemplateSection, ...]) -> None:
            practice.update_template(key, name, sections, description)
            self._template_saved(key, "Template saved")

        self._open_editor(TemplateEditor(self, "Edit template", save, template))

    def _template_saved(self, key: str, message: str) -> None:
        self.refresh_templates(select=key)
        self.ctx.nav.notify(message)

    def archive_template(self) -> None:
        template = self.selected_template()
        if template is None or template.builtin:
            return
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Archive template",
            f"Archive the template “{template.name}”?\n\nIt will no longer be offered for new "
            "notes. Notes already written with it keep their own copy.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.button(QMessageBox.StandardButton.Yes).setText("Archive")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        key = template.key
        box.accepted.connect(lambda: self._archive(key))
        box.finished.connect(lambda _result: self._archive_box_closed(box))
        self.archive_box = box
        box.open()

    def _archive_box_closed(self, box: QMessageBox) -> None:
        if self.archive_box is box:
            self.archive_box = None
        box.deleteLater()

    def _archive(self, key: str) -> None:
        try:
            self.ctx.practice.archive_template(key)
        except PracticeError as exc:
            self.ctx.nav.notify(f"The template was not archived: {exc}")
            return
        self.refresh_templates()
        self.ctx.nav.notify("Template archived")

    # -- passphrase -------------------------------------------------------------------------
    def change_passphrase(self) -> None:
        """Needs the current passphrase (so that a vault left open cannot be taken over) and a
        new one that zxcvbn rates strong, as at setup."""
        current, new = self.current_passphrase.text(), self.new_passphrase.text()
        self.passphrase_error.hide()
        self._passphrase_note("")
        if not current:
            self._passphrase_problem("Type your current passphrase first.")
            return
        choice = judge_new_passphrase(
            new, self.confirm_passphrase.text(), [self.ctx.practice.settings.therapist_name]
        )
        if not choice.ok:
            self._passphrase_problem(choice.refusal)
            return
        practice = self.ctx.practice
        self.passphrase_button.setEnabled(False)
        self._passphrase_note("Changing the passphrase…")

        def done(_: object) -> None:
            self.passphrase_button.setEnabled(True)
            self.current_passphrase.clear()
            self.new_passphrase.clear()
            self.confirm_passphrase.clear()
            self._passphrase_note("Passphrase changed. Use the new one the next time you unlock.")
            self.ctx.nav.notify("Passphrase changed")

        def failed(exc: Exception) -> None:
            self.passphrase_button.setEnabled(True)
            self._passphrase_note("")
            if isinstance(exc, CryptoError):  # the current passphrase did not open the vault
                self.current_passphrase.selectAll()
                self.current_passphrase.setFocus()
                self._passphrase_problem(
                    "The current passphrase is not right; nothing was changed."
                )
            else:
                self._passphrase_problem(f"The passphrase was not changed: {exc}")

        run_in_background(
            lambda: practice.change_passphrase(new, current_passphrase=current),
            done,
            failed,
            owner=self,
        )

    def _passphrase_note(self, text: str) -> None:
        self.passphrase_status.setText(text)
        self.passphrase_status.setVisible(bool(text))

    def _passphrase_problem(self, text: str) -> None:
        self.passphrase_error.setText(text)
        self.passphrase_error.show()
