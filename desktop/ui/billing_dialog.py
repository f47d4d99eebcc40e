"""A client's billing: each billed session (date, service, fee, paid), payments, the balance;
record a payment, change what a session is billed as, and save a superbill for a period for the
client's insurer. Every read and change is audited by the domain."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from desktop.core.errors import PracticeError
from desktop.core.records.insurance import Insurance
from desktop.core.records.ledger import PAYMENT_METHODS, Charge, Ledger
from desktop.ui import formats, records_common
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QComboBox,
    QDate,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QLocale,
    QPushButton,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import error_label, heading

TITLE = "Quietroom - billing"


def _qdate(value: date) -> QDate:
    return QDate(value.year, value.month, value.day)


def _pydate(value: QDate) -> date:
    return date(value.year(), value.month(), value.day())


class BillingDialog(QDialog):
    def __init__(self, ctx: UiContext, parent: QWidget, client_id: str) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.client_id = client_id
        self.ledger: Ledger | None = None
        self.insurance: Insurance | None = None
        self.resize(760, 620)
        locale = QLocale()

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Billing"))
        self.balance = QLabel()
        self.balance.setAccessibleName("Balance")
        layout.addWidget(self.balance)
        insurance_row = QHBoxLayout()
        self.insurance_label = QLabel()
        self.insurance_label.setWordWrap(True)
        self.insurance_label.setAccessibleName("Insurance")
        self.insurance_button = QPushButton("&Insurance…")
        self.insurance_button.setAccessibleName("Change the client's insurance")
        self.insurance_button.setEnabled(False)
        self.insurance_button.clicked.connect(self.edit_insurance)
        insurance_row.addWidget(self.insurance_label, 1)
        insurance_row.addWidget(self.insurance_button)
        layout.addLayout(insurance_row)
        self.charges = QTreeWidget()
        self.charges.setAccessibleName("Billed sessions")
        self.charges.setHeaderLabels(["Date", "Service", "Fee", "Paid"])
        self.charges.setRootIsDecorated(False)
        header = self.charges.header()
        assert header is not None
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.charges, 2)

        service_row = QHBoxLayout()
        self.service = QComboBox()
        self.service.setAccessibleName("Service for the chosen session")
        for s in ctx.practice.records.services():
            self.service.addItem(f"{s.code} {s.description}", s.code)
        self.set_service_button = QPushButton("Bill the chosen session &as this")
        self.set_service_button.setAccessibleName("Bill the chosen session as this service")
        self.set_service_button.clicked.connect(self.set_service)
        self.session_superbill_button = QPushButton("Superbill for &this session…")
        self.session_superbill_button.setAccessibleName("Superbill for the chosen session")
        self.session_superbill_button.clicked.connect(self.save_session_superbill)
        service_row.addWidget(self.service, 1)
        service_row.addWidget(self.set_service_button)
        service_row.addWidget(self.session_superbill_button)
        layout.addLayout(service_row)

        payment = QGroupBox("Record a payment")
        form = QFormLayout(payment)
        self.amount = QLineEdit()
        self.amount.setAccessibleName("Amount")
        self.amount.setPlaceholderText(records_common.money_text(13000, locale))
        form.addRow("A&mount", self.amount)
        self.received = QDateEdit(_qdate(ctx.now().astimezone().date()))
        self.received.setCalendarPopup(True)
        self.received.setAccessibleName("Received on")
        form.addRow("&Received on", self.received)
        self.method = QComboBox()
        self.method.addItems([m.capitalize() for m in PAYMENT_METHODS])
        self.method.setAccessibleName("Paid by")
        form.addRow("Paid &by", self.method)
        self.for_session = QComboBox()
        self.for_session.setAccessibleName("For the session")
        form.addRow("For", self.for_session)
        self.pay_button = QPushButton("Record &payment")
        self.pay_button.setAccessibleName("Record payment")
        self.pay_button.clicked.connect(self.record_payment)
        form.addRow("", self.pay_button)
        layout.addWidget(payment)

        superbill = QGroupBox("Superbill for the client's insurer")
        row = QHBoxLayout(superbill)
        today = ctx.now().astimezone().date()
        self.first_day = QDateEdit(_qdate(today.replace(day=1)))
        self.first_day.setCalendarPopup(True)
        self.first_day.setAccessibleName("Superbill from")
        self.last_day = QDateEdit(_qdate(today))
        self.last_day.setCalendarPopup(True)
        self.last_day.setAccessibleName("Superbill until")
        self.superbill_button = QPushButton("Save &superbill…")
        self.superbill_button.setAccessibleName("Save superbill")
        self.superbill_button.clicked.connect(self.save_superbill)
        row.addWidget(QLabel("From"))
        row.addWidget(self.first_day)
        row.addWidget(QLabel("until"))
        row.addWidget(self.last_day)
        row.addStretch(1)
        row.addWidget(self.superbill_button)
        layout.addWidget(superbill)

        self.error = error_label()
        layout.addWidget(self.error)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        box.rejected.connect(self.reject)
        layout.addWidget(box)
        self.finished.connect(lambda _: self.deleteLater())
        self.reload()

    # -- reading ----------------------------------------------------------------------------
    def reload(self) -> None:
        records, client_id = self.ctx.practice.records, self.client_id
        run_in_background(
            lambda: records.client_billing(client_id), self._show, self._failed, owner=self
        )

    def _show(self, billing: tuple[Ledger, Insurance | None]) -> None:
        ledger, insurance = billing
        self.ledger = ledger
        self._show_insurance(insurance)
        money = records_common.money_text
        self.charges.clear()
        self.for_session.clear()
        self.for_session.addItem("No one session", None)
        for charge in ledger.charges:
            paid = sum(p.amount_cents for p in ledger.payments if p.session_id == charge.session.id)
            day = formats.short_date(charge.session.starts_at)
            item = QTreeWidgetItem(
                [day, f"{charge.service_code} {charge.description}", money(charge.fee_cents),
                 money(paid) if paid else ""]
            )  # fmt: skip
            item.setData(0, Qt.ItemDataRole.UserRole, charge.session.id)
            for column in (2, 3):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight)
            self.charges.addTopLevelItem(item)
            self.for_session.addItem(f"{day}, {charge.service_code}", charge.session.id)
        owed = ledger.balance_cents
        self.balance.setText(
            f"Billed {money(ledger.charged_cents)}, paid {money(ledger.paid_cents)}: "
            + (f"{money(owed)} still to pay." if owed > 0 else
               f"paid in advance by {money(-owed)}." if owed < 0 else "nothing owed.")
        )  # fmt: skip
        self.error.hide()

    def _show_insurance(self, insurance: Insurance | None) -> None:
        self.insurance = insurance
        self.insurance_button.setEnabled(True)
        if insurance is None:
            self.insurance_label.setText("Insurance: none on file, the client pays for themselves.")
            return
        words = f"Insurance: {insurance.payer_name}, member ID {insurance.member_id}"
        if insurance.group_number:
            words += f", group {insurance.group_number}"
        if not insurance.client_is_subscriber:
            words += f"; policy holder {insurance.subscriber_name}"
        self.insurance_label.setText(words + ".")

    def edit_insurance(self) -> None:
        from desktop.ui.insurance_dialog import start_insurance

        start_insurance(self.ctx, self, self.client_id, self.insurance, self._show_insurance)

    def selected_charge(self) -> Charge | None:
        item = self.charges.currentItem()
        if item is None or self.ledger is None:
            return None
        session_id = item.data(0, Qt.ItemDataRole.UserRole)
        return next((c for c in self.ledger.charges if c.session.id == session_id), None)

    # -- changes ----------------------------------------------------------------------------
    def set_service(self) -> None:
        charge = self.selected_charge()
        if charge is None:
            self._show_error("Choose a session in the list first.")
            return
        records, code = self.ctx.practice.records, str(self.service.currentData())
        session_id = charge.session.id
        run_in_background(
            lambda: records.set_charge(session_id, code), lambda _: self.reload(), self._failed,
            owner=self,
        )  # fmt: skip

    def record_payment(self) -> None:
        cents = records_common.parse_money(self.amount.text())
        if not cents:
            self._show_error("Type the amount received, for example 130 or 130.50.")
            self.amount.setFocus()
            return
        records, client_id = self.ctx.practice.records, self.client_id
        received = _pydate(self.received.date())
        method = PAYMENT_METHODS[self.method.currentIndex()]
        session_id = self.for_session.currentData()

        def done(_: object) -> None:
            self.amount.clear()
            self.ctx.nav.notify("Payment recorded.")
            self.reload()

        run_in_background(
            lambda: records.record_payment(client_id, cents, received, method,
                                           session_id=session_id),
            done, self._failed, owner=self,
        )  # fmt: skip

    def save_superbill(self) -> None:
        first, last = _pydate(self.first_day.date()), _pydate(self.last_day.date())
        records_common.ask_save_path(
            self, "Quietroom - save the superbill", f"superbill-{first.isoformat()}.pdf",
            "PDF documents (*.pdf)", lambda path: self._write_superbill(path, first, last),
        )  # fmt: skip

    def save_session_superbill(self) -> None:
        charge = self.selected_charge()
        if charge is None:
            self._show_error("Choose a session in the list first.")
            return
        session_id = charge.session.id
        day = charge.session.starts_at.astimezone().date().isoformat()
        records_common.ask_save_path(
            self, "Quietroom - save the superbill", f"superbill-{day}.pdf",
            "PDF documents (*.pdf)",
            lambda path: self._write_superbill(path, session_id=session_id),
        )  # fmt: skip

    def _write_superbill(
        self,
        path: Path | None,
        first: date | None = None,
        last: date | None = None,
        *,
        session_id: str | None = None,
    ) -> None:
        if path is None:
            return
        if path.suffix.lower() != ".pdf":
            path = path.with_name(path.name + ".pdf")
        records, client_id = self.ctx.practice.records, self.client_id
        formats = records_common.locale_formats()
        run_in_background(
            lambda: records.write_superbill(client_id, path, first_day=first, last_day=last,
                                            session_id=session_id, formats=formats),
            lambda _: self.ctx.nav.notify("Saved the superbill."), self._failed, owner=self,
        )  # fmt: skip

    def _show_error(self, message: str) -> None:
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, PracticeError):
            self._show_error(str(exc))
        elif isinstance(exc, OSError):
            self._show_error(f"Could not write the file: {exc.strerror or 'not writable'}.")
        else:
            self._show_error(f"Unexpected problem: {type(exc).__name__}")


def start_billing(ctx: UiContext, parent: QWidget, client_id: str) -> BillingDialog:
    dialog = BillingDialog(ctx, parent, client_id)
    dialog.open()
    return dialog
