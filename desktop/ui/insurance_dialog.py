"""A client's health insurance, as their superbills show it: the insurance company, the member ID
and group number from the card, and who holds the policy when it is not the client. Or none:
the client pays for themselves. The domain checks and audits the change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from desktop.core.errors import PracticeError
from desktop.core.records.insurance import RELATIONSHIP_LABELS, Insurance, Relationship
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.qt import (
    QCheckBox,
    QComboBox,
    QDate,
    QDateEdit,
    QDialog,
    QFormLayout,
    QGroupBox,
    QLineEdit,
    QLocale,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import dialog_buttons, error_label, heading, paragraph

TITLE = "Quietroom - insurance"
_NOT_KNOWN = QDate(1900, 1, 1)  # the date field's "not known" value (shown as words)


class InsuranceDialog(QDialog):
    def __init__(
        self,
        ctx: UiContext,
        parent: QWidget,
        client_id: str,
        current: Insurance | None,
        on_saved: Callable[[Insurance | None], None],
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.ctx = ctx
        self.client_id = client_id
        self.on_saved = on_saved
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Insurance"))
        layout.addWidget(
            paragraph(
                "What the client's superbills tell their insurer. Copy it from the front of "
                "the insurance card."
            )
        )
        self.self_pay = QCheckBox("&No insurance: the client pays for themselves")
        self.self_pay.setAccessibleName("No insurance, the client pays for themselves")
        self.self_pay.setChecked(current is None)
        self.self_pay.toggled.connect(self._update)
        layout.addWidget(self.self_pay)

        self.policy = QGroupBox("The insurance card")
        form = QFormLayout(self.policy)
        cover = current or Insurance("", "")
        self.payer = QLineEdit(cover.payer_name)
        self.payer.setPlaceholderText("e.g. Blue Shield of California")
        self.payer.setAccessibleName("Insurance company")
        form.addRow("Insurance &company", self.payer)
        self.member_id = QLineEdit(cover.member_id)
        self.member_id.setAccessibleName("Member ID")
        form.addRow("&Member ID", self.member_id)
        self.group_number = QLineEdit(cover.group_number)
        self.group_number.setAccessibleName("Group number")
        self.group_number.setPlaceholderText("if the card has one")
        form.addRow("&Group number", self.group_number)
        self.holder = QComboBox()
        self.holder.setAccessibleName("Who holds the policy")
        for relationship, label in RELATIONSHIP_LABELS.items():
            self.holder.addItem(label, str(relationship))
        self.holder.setCurrentIndex(self.holder.findData(str(cover.relationship)))
        self.holder.currentIndexChanged.connect(self._update)
        form.addRow("Policy &holder", self.holder)
        self.subscriber_name = QLineEdit(cover.subscriber_name)
        self.subscriber_name.setAccessibleName("Policy holder's name")
        form.addRow("Policy holder's &name", self.subscriber_name)
        self.subscriber_born = QDateEdit()
        self.subscriber_born.setAccessibleName("Policy holder's date of birth")
        self.subscriber_born.setCalendarPopup(True)
        self.subscriber_born.setMinimumDate(_NOT_KNOWN)
        self.subscriber_born.setSpecialValueText("Not known")
        self.subscriber_born.setDisplayFormat(
            formats.locale().dateFormat(QLocale.FormatType.ShortFormat)
        )
        born = cover.subscriber_date_of_birth
        self.subscriber_born.setDate(formats.qdate(born) if born else _NOT_KNOWN)
        form.addRow("Policy holder's &date of birth", self.subscriber_born)
        self.holder_rows = (self.subscriber_name, self.subscriber_born)
        layout.addWidget(self.policy)

        self.error = error_label()
        layout.addWidget(self.error)
        box, self.save_button = dialog_buttons(self, "&Save", self.save)
        layout.addWidget(box)
        self.finished.connect(lambda _: self.deleteLater())
        for edit in (self.payer, self.member_id, self.group_number, self.subscriber_name):
            edit.textEdited.connect(self.error.hide)
        self._update()

    def _update(self) -> None:
        self.policy.setEnabled(not self.self_pay.isChecked())
        others = self.holder.currentData() != str(Relationship.SELF)
        for field in self.holder_rows:
            field.setEnabled(others)

    def insurance(self) -> Insurance | None:
        if self.self_pay.isChecked():
            return None
        born = self.subscriber_born.date()
        return Insurance(
            payer_name=self.payer.text(),
            member_id=self.member_id.text(),
            group_number=self.group_number.text(),
            relationship=Relationship(str(self.holder.currentData())),
            subscriber_name=self.subscriber_name.text(),
            subscriber_date_of_birth=None
            if born == _NOT_KNOWN
            else date(born.year(), born.month(), born.day()),
        )

    def save(self) -> None:
        records, client_id, chosen = self.ctx.practice.records, self.client_id, self.insurance()

        def done(saved: Insurance | None) -> None:
            self.ctx.nav.notify("Insurance saved." if saved else "Marked as self-pay.")
            self.on_saved(saved)
            self.accept()

        run_in_background(
            lambda: records.save_insurance(client_id, chosen), done, self._failed, owner=self
        )

    def _failed(self, exc: Exception) -> None:
        message = str(exc) if isinstance(exc, PracticeError) else type(exc).__name__
        self.error.setText(message[:1].upper() + message[1:])
        self.error.show()


def start_insurance(
    ctx: UiContext,
    parent: QWidget,
    client_id: str,
    current: Insurance | None,
    on_saved: Callable[[Insurance | None], None],
) -> InsuranceDialog:
    dialog = InsuranceDialog(ctx, parent, client_id, current, on_saved)
    dialog.open()
    return dialog
