"""The records screens, driven as a therapist would: a client's copy of their record from the
client page, the billing dialog (payment, balance, superbill), billing details in Settings (the
NPI check), importing a CSV with a check of every line, and exporting everything. Files are
chosen through a stand-in for the file dialog; what lands on disk and in the audit log is
checked. Screenshots for the README with QUIETROOM_SCREENSHOTS=1."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice
from desktop.core.records.billing_profile import BillingProfile
from desktop.core.records.import_layouts import ImportKind
from desktop.core.sessions import Attendance, Modality
from desktop.ui import records_common
from desktop.ui.billing_dialog import BillingDialog
from desktop.ui.billing_settings_dialog import BillingSettingsDialog
from desktop.ui.import_dialog import ImportDialog
from desktop.ui.insurance_dialog import InsuranceDialog
from desktop.ui.main_window import MainWindow
from desktop.ui.practice_export_dialog import PracticeExportDialog
from desktop.ui.qt import QApplication, QDialog, Qt, QWidget
from desktop.ui.record_copy_dialog import RecordCopyDialog

from .vocabulary import words_on_screen
from .waiting import client_shown

PROFILE = BillingProfile(
    name="Dr Ada Test", credentials="PsyD", license_number="PSY 12345 (CA)", npi="1234567893",
    tax_id="12-3456789", address="1 Quiet Street\nSpringfield, CA 90000",
)  # fmt: skip


class Chooser:
    """Stands in for the save/open file dialogs: answers with ``path``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def save(self, parent: QWidget, title: str, suggested: str, name_filter: str,
             on_chosen: Callable[[Any], None]) -> None:  # fmt: skip
        on_chosen(self.path)


@pytest.fixture
def chooser(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Chooser:
    chosen = Chooser(tmp_path / "out" / "file")
    (tmp_path / "out").mkdir()
    monkeypatch.setattr(records_common, "ask_save_path", chosen.save)
    return chosen


@pytest.fixture
def client_id(practice: Practice) -> str:
    client = practice.create_client(
        ClientDetails(
            name="Imogen Tarrant", date_of_birth=date(1984, 6, 1), diagnosis_codes="F41.1"
        )
    )
    start = datetime(2025, 12, 1, 15, 0, tzinfo=UTC)
    for week, minutes in enumerate((60, 53, 45)):
        practice.schedule_session(
            client.id, start + timedelta(weeks=week), duration_minutes=minutes,
            modality=Modality.VIDEO if week else Modality.IN_PERSON,
            attendance=Attendance.ATTENDED,
        )  # fmt: skip
    note = practice.create_note(client.id, "soap")
    practice.save_draft(note.id, {"plan": "Weekly sessions."})
    practice.sign_note(note.id)
    return client.id


def the_dialog(kind: type[QDialog]) -> Any:
    (dialog,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
    return dialog


def shot(widget: QWidget, name: str, screenshot_dir: Path | None) -> None:
    """Look at the screen as the therapist does: no technical vocabulary; save a picture."""
    assert words_on_screen([widget]) == []
    if screenshot_dir is not None:
        widget.grab().save(str(screenshot_dir / name))


def actions(practice: Practice) -> list[str]:
    return [e.action for e in practice.audit_entries()]


def test_copy_of_the_record_from_the_client_page(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, client_id: str, chooser: Chooser,
    screenshot_dir: Path | None,
) -> None:  # fmt: skip
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    qtbot.waitUntil(page.copy_button.isEnabled)
    qtbot.mouseClick(page.copy_button, Qt.MouseButton.LeftButton)
    dialog: RecordCopyDialog = the_dialog(RecordCopyDialog)
    assert dialog.pdf.isChecked() and dialog.fhir.isChecked()
    assert not dialog.include_psychotherapy.isChecked()
    dialog.protect.setChecked(True)
    dialog.passphrase.setText("short")
    dialog.go()
    assert dialog.error.isVisible() and dialog.isVisible()  # refused: too short
    dialog.passphrase.setText("amber orchard whistles at noon")
    dialog.again.setText("amber orchard whistles at noon")
    shot(dialog, "record-copy.png", screenshot_dir)
    with qtbot.waitSignal(dialog.finished, timeout=20_000):
        dialog.go()
    assert chooser.path is not None
    copy = chooser.path.with_name(chooser.path.name + ".pdf")  # a protected copy is a PDF
    assert copy.read_bytes().startswith(b"%PDF-")
    pages, attached = practice.records.read_protected_copy(copy, "amber orchard whistles at noon")
    assert pages >= 1 and sorted(attached) == ["record.fhir.json"]
    entry = [e for e in practice.audit_entries() if e.action == "record.exported"][-1]
    details = json.loads(entry.details)
    assert details["recipient"] == "The client" and details["encrypted"] is True


def test_billing_payment_balance_and_superbill(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, client_id: str, chooser: Chooser,
    screenshot_dir: Path | None,
) -> None:  # fmt: skip
    practice.records.save_billing_profile(PROFILE)
    main_window.open_client(client_id)
    client_shown(qtbot, main_window, client_id)
    page = main_window.client_page
    qtbot.waitUntil(page.billing_button.isEnabled)
    qtbot.mouseClick(page.billing_button, Qt.MouseButton.LeftButton)
    dialog: BillingDialog = the_dialog(BillingDialog)
    qtbot.waitUntil(lambda: dialog.charges.topLevelItemCount() == 3)
    assert "still to pay" in dialog.balance.text()
    dialog.charges.setCurrentItem(dialog.charges.topLevelItem(0))
    dialog.service.setCurrentIndex(dialog.service.findData("90791"))
    dialog.set_service()
    qtbot.waitUntil(lambda: "90791" in dialog.charges.topLevelItem(0).text(1))
    dialog.amount.setText("200")
    dialog.for_session.setCurrentIndex(1)
    dialog.record_payment()
    qtbot.waitUntil(lambda: dialog.charges.topLevelItem(0).text(3) != "")
    assert dialog.ledger is not None and dialog.ledger.paid_cents == 20000
    shot(dialog, "billing.png", screenshot_dir)
    dialog.first_day.setDate(dialog.first_day.date().addYears(-2))
    dialog.save_superbill()
    assert chooser.path is not None
    target = chooser.path.with_name("file.pdf")
    # Written, then recorded as a disclosure: wait for the entry.
    qtbot.waitUntil(lambda: "billing.superbill_created" in actions(practice), timeout=20_000)
    assert target.read_bytes().startswith(b"%PDF-")
    dialog.charges.setCurrentItem(dialog.charges.topLevelItem(1))
    chooser.path = chooser.path.with_name("one.pdf")
    dialog.save_session_superbill()
    qtbot.waitUntil(
        lambda: actions(practice).count("billing.superbill_created") == 2, timeout=20_000
    )
    assert chooser.path.read_bytes().startswith(b"%PDF-")
    dialog.amount.setText("lots")
    dialog.record_payment()
    assert dialog.error.isVisible()


def test_insurance_from_the_billing_dialog(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, client_id: str,
    screenshot_dir: Path | None,
) -> None:  # fmt: skip
    main_window.open_client(client_id)
    page = main_window.client_page
    qtbot.waitUntil(page.billing_button.isEnabled)
    qtbot.mouseClick(page.billing_button, Qt.MouseButton.LeftButton)
    billing: BillingDialog = the_dialog(BillingDialog)
    qtbot.waitUntil(billing.insurance_button.isEnabled)
    assert "pays for themselves" in billing.insurance_label.text()
    qtbot.mouseClick(billing.insurance_button, Qt.MouseButton.LeftButton)
    dialog: InsuranceDialog = the_dialog(InsuranceDialog)
    assert dialog.self_pay.isChecked() and not dialog.policy.isEnabled()
    dialog.self_pay.setChecked(False)
    assert dialog.policy.isEnabled() and not dialog.subscriber_name.isEnabled()
    dialog.payer.setText("Blue Shield of California")
    dialog.group_number.setText("GRP-00451")
    dialog.holder.setCurrentIndex(dialog.holder.findData("spouse"))
    assert dialog.subscriber_name.isEnabled()
    dialog.save()  # no member ID: refused, nothing saved
    qtbot.waitUntil(dialog.error.isVisible)
    assert "member ID" in dialog.error.text() and dialog.isVisible()
    qtbot.keyClicks(dialog.member_id, "XEH123456789")
    assert not dialog.error.isVisible()  # typing clears the message
    dialog.subscriber_name.setText("Sam Tarrant")
    dialog.subscriber_born.setDate(dialog.subscriber_born.date().addYears(85))  # 1985-01-01
    shot(dialog, "insurance.png", screenshot_dir)
    with qtbot.waitSignal(dialog.finished, timeout=10_000):
        dialog.save()
    saved = practice.records.client_billing(client_id)[1]
    assert saved is not None and saved.member_id == "XEH123456789"
    assert saved.relationship == "spouse" and saved.subscriber_name == "Sam Tarrant"
    assert saved.subscriber_date_of_birth == date(1985, 1, 1)
    assert "Blue Shield of California, member ID XEH123456789" in billing.insurance_label.text()
    assert "billing.insurance_changed" in actions(practice)
    # Back to self-pay.
    qtbot.mouseClick(billing.insurance_button, Qt.MouseButton.LeftButton)
    dialog = the_dialog(InsuranceDialog)
    assert dialog.member_id.text() == "XEH123456789"
    dialog.self_pay.setChecked(True)
    with qtbot.waitSignal(dialog.finished, timeout=10_000):
        dialog.save()
    assert practice.records.client_billing(client_id)[1] is None
    assert "pays for themselves" in billing.insurance_label.text()


def test_billing_details_refuse_a_wrong_npi(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, screenshot_dir: Path | None
) -> None:
    main_window.show_settings()
    main_window.settings_page.billing_details()
    dialog: BillingSettingsDialog = the_dialog(BillingSettingsDialog)
    for name, value in (("name", "Dr Ada Test"), ("npi", "1234567890"), ("tax_id", "12-3456789")):
        dialog.fields[name].setText(value)
    dialog.save()
    qtbot.waitUntil(dialog.error.isVisible)
    assert "NPI" in dialog.error.text()
    dialog.fields["npi"].setText("1234567893")
    dialog.fees["90837"].setText("185")
    shot(dialog, "billing-details.png", screenshot_dir)
    with qtbot.waitSignal(dialog.finished, timeout=10_000):
        dialog.save()
    assert practice.records.billing_profile().npi == "1234567893"
    assert practice.records.fee_schedule()["90837"] == 18500


def test_import_with_a_check_of_every_line(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, tmp_path: Path,
    screenshot_dir: Path | None,
) -> None:  # fmt: skip
    sample = files("resources") / "import-samples" / "simplepractice-like-clients.csv"
    path = tmp_path / "clients.csv"
    path.write_text(sample.read_text("utf-8") + "SP-9,,,,01/01/1990,,,,,,,,,Active\n")
    main_window.show_settings()
    main_window.settings_page.import_records()
    dialog: ImportDialog = the_dialog(ImportDialog)
    assert not dialog.check_button.isEnabled()
    dialog.load_file(path)
    qtbot.waitUntil(lambda: dialog.table is not None)
    assert dialog.layout_choice.currentData() == "simplepractice"
    assert dialog.mapping()["name"] == ("First Name", "Last Name")
    assert dialog.mapping()["external_id"] == ("Client ID",)
    assert dialog.mapping()["date_of_birth"] == ("Date of Birth",)
    assert dialog.preview.rowCount() == 5
    assert not dialog.import_button.isEnabled()  # nothing imported before a check
    dialog.check()
    qtbot.waitUntil(lambda: dialog.plan is not None)
    assert "4 to add" in dialog.summary.text() and "1 refused" in dialog.summary.text()
    assert dialog.outcomes.item(4, 4).text() == "no name"
    assert practice.list_clients() == ()
    shot(dialog, "import.png", screenshot_dir)
    dialog.run()
    qtbot.waitUntil(lambda: dialog.report is not None)
    assert dialog.report is not None and dialog.report.added == 4
    assert len(practice.list_clients(include_archived=True)) == 4
    assert actions(practice).count("import.completed") == 1
    # A second import of the same file adds nothing.
    _, report = practice.records.run_import(
        practice.records.read_import_file(path), ImportKind.CLIENTS, "simplepractice"
    )
    assert report.added == 0


def test_export_everything(
    qtbot: QtBot, main_window: MainWindow, practice: Practice, client_id: str, chooser: Chooser
) -> None:
    main_window.show_settings()
    main_window.settings_page.export_everything()
    dialog: PracticeExportDialog = the_dialog(PracticeExportDialog)
    shot(dialog, "export-everything.png", None)
    with qtbot.waitSignal(dialog.finished, timeout=20_000):
        dialog.go()
    assert chooser.path is not None
    with zipfile.ZipFile(chooser.path.with_name("file.zip")) as zipped:
        assert f"file/fhir/{client_id}.json" in zipped.namelist()
    assert "practice.exported" in actions(practice)
