"""The therapist's billing details (as a superbill shows them) and the fee for each service.
The domain checks the NPI's check digit and the tax id's form; saving is audited."""

from __future__ import annotations

from desktop.core.errors import PracticeError
from desktop.core.records.billing_profile import BillingProfile
from desktop.ui import records_common
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import dialog_buttons, error_label, heading, paragraph

TITLE = "Quietroom - billing details"
_FIELDS = (
    ("name", "&Name", "e.g. Dr Robin Example"),
    ("credentials", "&Credentials", "e.g. PhD, LMFT"),
    ("license_number", "&License", "e.g. LMFT 123456 (CA)"),
    ("npi", "N&PI", "10 digits"),
    ("tax_id", "&Tax id", "EIN, e.g. 12-3456789"),
    ("phone", "P&hone", ""),
    ("email", "&E-mail", ""),
)


class BillingSettingsDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.setMinimumWidth(980)
        records = ctx.practice.records
        profile = records.billing_profile()
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Billing details"))
        layout.addWidget(paragraph("What your superbills show your clients' insurers."))
        columns = QHBoxLayout()
        details = QGroupBox("You and your practice")
        form = QFormLayout(details)
        self.fields: dict[str, QLineEdit] = {}
        for name, label, hint in _FIELDS:
            field = QLineEdit(getattr(profile, name))
            field.setPlaceholderText(hint)
            field.setAccessibleName(label.replace("&", ""))
            field.setMinimumWidth(240)
            form.addRow(label, field)
            self.fields[name] = field
        self.address = QPlainTextEdit(profile.address)
        self.address.setAccessibleName("Practice address")
        self.address.setTabChangesFocus(True)
        self.address.setFixedHeight(70)
        self.address.setMinimumWidth(240)
        form.addRow("Practice &address", self.address)
        columns.addWidget(details, 3)

        fees = QGroupBox("Fee for each service")
        fee_form = QFormLayout(fees)
        self.fees: dict[str, QLineEdit] = {}
        schedule = records.fee_schedule()
        for service in records.services():
            field = QLineEdit(records_common.money_text(schedule[service.code]))
            field.setAccessibleName(f"Fee for {service.description}")
            field.setToolTip(service.description)
            field.setFixedWidth(110)
            fee_form.addRow(f"{service.code} {service.description}", field)
            self.fees[service.code] = field
        columns.addWidget(fees, 4)
        layout.addLayout(columns)
        self.error = error_label()
        layout.addWidget(self.error)
        box, self.save_button = dialog_buttons(self, "&Save", self.save)
        layout.addWidget(box)
        self.finished.connect(lambda _: self.deleteLater())

    def save(self) -> None:
        profile = BillingProfile(
            **{name: field.text() for name, field in self.fields.items()},
            address=self.address.toPlainText(),
        )
        fees: dict[str, int] = {}
        for code, field in self.fees.items():
            cents = records_common.parse_money(field.text())
            if cents is None:
                self._show_error(f"The fee for {code} is not an amount.")
                field.setFocus()
                return
            fees[code] = cents
        records = self.ctx.practice.records
        before = records.fee_schedule()

        def op() -> None:
            records.save_billing_profile(profile)
            for code, cents in fees.items():
                if before.get(code) != cents:
                    records.set_fee(code, cents)

        def done(_: None) -> None:
            self.ctx.nav.notify("Billing details saved.")
            self.accept()

        run_in_background(op, done, self._failed, owner=self)

    def _show_error(self, message: str) -> None:
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()

    def _failed(self, exc: Exception) -> None:
        self._show_error(str(exc) if isinstance(exc, PracticeError) else type(exc).__name__)


def start_billing_settings(ctx: UiContext, parent: QWidget) -> BillingSettingsDialog:
    dialog = BillingSettingsDialog(ctx, parent)
    dialog.open()
    return dialog
