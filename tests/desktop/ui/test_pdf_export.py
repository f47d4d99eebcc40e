"""Print / export: a note or a client's record to PDF through the disclosure dialog, audited with
recipient and purpose; psychotherapy notes only when ticked; cancelling writes nothing. The PDFs
are read back with Qt's own PDF reader (QtPdf) to count pages and extract the text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtPdf import QPdfDocument
from pytestqt.qtbot import QtBot

from desktop.core.disclosure import Document, DocumentSection
from desktop.core.practice import ClientDetails, Practice
from desktop.ui import disclosure_dialog, pdf
from desktop.ui.disclosure_dialog import DisclosureDialog, start_disclosure
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import (
    QAbstractButton,
    QApplication,
    QLocale,
    QPageSize,
    QPoint,
    QPrinter,
    Qt,
    QWidget,
)

PROGRESS_TEXT = "Discussed coping plan for the holidays."
PSY_TEXT = "CANARY-psychotherapy hypotheses about the recurring dream"


class SavePrompt:
    """Stands in for the file dialog: answers with ``path`` (None: the user cancelled)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.asked: list[str] = []

    def __call__(self, parent: QWidget, suggested: str, on_chosen: Callable[[Any], None]) -> None:
        self.asked.append(suggested)
        on_chosen(self.path)


@pytest.fixture
def save_to(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[SavePrompt]:
    prompt = SavePrompt(tmp_path / "out" / "disclosure.pdf")
    assert prompt.path is not None
    prompt.path.parent.mkdir()
    monkeypatch.setattr(disclosure_dialog, "ask_save_path", prompt)
    yield prompt


def read_pdf(path: Path) -> tuple[int, str]:
    document = QPdfDocument()
    assert document.load(str(path)) == QPdfDocument.Error.None_
    pages = document.pageCount()
    text = "\n".join(document.getAllText(i).text() for i in range(pages))
    document.close()
    return pages, text.replace("\r\n", "\n")


def today(window: MainWindow) -> str:
    return window.ctx.now().astimezone().date().isoformat()


def signed(practice: Practice, note_id: str, texts: dict[str, str]) -> str:
    practice.save_draft(note_id, texts)
    practice.sign_note(note_id)
    return note_id


@pytest.fixture
def record(practice: Practice) -> dict[str, str]:
    client = practice.create_client(ClientDetails(name="Imogen Tarrant", phone="555-0142"))
    note = signed(practice, practice.create_note(client.id, "soap").id, {"plan": PROGRESS_TEXT})
    psy = practice.create_psychotherapy_note(client.id)
    signed(practice, psy.id, {"note": PSY_TEXT})
    return {"client": client.id, "note": note, "psy": psy.id}


def disclosures(practice: Practice) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for entry in practice.audit_entries():
        if entry.action.endswith((".exported", ".printed")):
            found.append((entry.action, entry.object_id, json.loads(entry.details)))
    return found


def fill(qtbot: QtBot, dialog: DisclosureDialog, recipient: str, purpose: str) -> None:
    qtbot.waitUntil(dialog.isVisible)
    qtbot.keyClicks(dialog.recipient, recipient)
    line = dialog.purpose.lineEdit()
    assert line is not None
    qtbot.keyClicks(line, purpose)


def finish(qtbot: QtBot, dialog: DisclosureDialog) -> None:
    """Continue, and wait for the document to be fetched, rendered and the dialog closed."""
    with qtbot.waitSignal(dialog.finished, timeout=10_000):
        qtbot.mouseClick(dialog.go_button, Qt.MouseButton.LeftButton)


def tick(qtbot: QtBot, box: QAbstractButton) -> None:
    """Click a check box or radio button on its indicator (the widget spans the dialog)."""
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def open_dialog() -> DisclosureDialog:
    (dialog,) = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, DisclosureDialog) and w.isVisible()
    ]
    return dialog


def test_export_a_signed_note_from_the_editor(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    record: dict[str, str],
    save_to: SavePrompt,
) -> None:
    main_window.open_note(record["note"])
    qtbot.mouseClick(main_window.note_editor.export_button, Qt.MouseButton.LeftButton)
    dialog = open_dialog()
    assert dialog.windowTitle() == "Quietroom - print or export"
    assert not dialog.include_psychotherapy.isVisible()  # a progress note: nothing to include
    fill(qtbot, dialog, "Dr. Lee (GP)", "Continuity of care")
    finish(qtbot, dialog)

    assert save_to.asked == [
        f"quietroom-note-{today(main_window)}.pdf"
    ]  # no client name in the name
    assert save_to.path is not None
    raw = save_to.path.read_bytes()
    assert raw.startswith(b"%PDF")
    pages, text = read_pdf(save_to.path)
    assert pages == 1
    assert "Imogen Tarrant" in text and PROGRESS_TEXT in text
    assert "Recipient Dr. Lee (GP)" in text and "Purpose Continuity of care" in text
    assert "Prepared by Dr Ada Test, PsyD" in text
    assert "Page 1 of 1" in text and "Confidential" in text
    assert [p.name for p in save_to.path.parent.iterdir()] == ["disclosure.pdf"]  # no temp left
    assert save_to.path.stat().st_mode & 0o077 == 0  # readable by this user only
    assert disclosures(practice) == [
        ("note.exported", record["note"], {
            "client_id": record["client"], "recipient": "Dr. Lee (GP)",
            "purpose": "Continuity of care", "include_psychotherapy": False,
        }),
    ]  # fmt: skip
    assert main_window.statusBar().currentMessage() == "Saved the PDF (1 page)."


@pytest.mark.parametrize("include", [False, True])
def test_client_record_leaves_psychotherapy_notes_out_unless_ticked(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    record: dict[str, str],
    save_to: SavePrompt,
    include: bool,
) -> None:
    dialog = start_disclosure(main_window.ctx, main_window, client_id=record["client"])
    assert dialog.include_psychotherapy.isVisible()
    assert not dialog.include_psychotherapy.isChecked()
    assert dialog.include_psychotherapy.text() == (
        "Include psychotherapy notes (this disclosure only)"
    )
    fill(qtbot, dialog, "Client (self)", "")
    dialog.purpose.setCurrentIndex(dialog.purpose.findText("Requested by the client"))
    if include:
        tick(qtbot, dialog.include_psychotherapy)
    finish(qtbot, dialog)

    assert save_to.path is not None
    pages, text = read_pdf(save_to.path)
    assert pages >= 1
    assert "Client record — Imogen Tarrant" in text and "555-0142" in text
    assert PROGRESS_TEXT in text
    assert (PSY_TEXT in text) is include
    assert disclosures(practice) == [
        ("client.exported", record["client"], {
            "notes": 2 if include else 1, "recipient": "Client (self)",
            "purpose": "Requested by the client", "include_psychotherapy": include,
        }),
    ]  # fmt: skip


def test_a_psychotherapy_note_goes_only_when_included(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    record: dict[str, str],
    save_to: SavePrompt,
) -> None:
    main_window.open_note(record["psy"], psychotherapy=True)
    qtbot.mouseClick(main_window.note_editor.export_button, Qt.MouseButton.LeftButton)
    dialog = open_dialog()
    assert dialog.include_psychotherapy.isVisible()
    fill(qtbot, dialog, "Dr. Okafor", "Consultation or supervision")
    qtbot.mouseClick(dialog.go_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.error.isVisible()
    assert save_to.asked == [] and disclosures(practice) == []
    tick(qtbot, dialog.include_psychotherapy)
    finish(qtbot, dialog)
    assert save_to.path is not None
    assert PSY_TEXT in read_pdf(save_to.path)[1]
    assert [(a, d["include_psychotherapy"]) for a, _, d in disclosures(practice)] == [
        ("note.exported", True)
    ]


def test_cancel_and_missing_answers_write_nothing(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    record: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cancel = SavePrompt(None)
    monkeypatch.setattr(disclosure_dialog, "ask_save_path", cancel)
    before = sorted(tmp_path.rglob("*"))
    dialog = start_disclosure(main_window.ctx, main_window, note_id=record["note"])
    qtbot.waitUntil(dialog.isVisible)
    qtbot.mouseClick(dialog.go_button, Qt.MouseButton.LeftButton)  # no recipient yet
    assert dialog.error.text() == "Say who receives this disclosure."
    qtbot.keyClicks(dialog.recipient, "Dr. Lee")
    qtbot.keyClick(dialog.recipient, Qt.Key.Key_Return)  # Enter = continue; still no purpose
    assert dialog.error.text() == "Say what the disclosure is for."
    assert cancel.asked == []
    fill(qtbot, dialog, "", "Referral")
    qtbot.mouseClick(dialog.go_button, Qt.MouseButton.LeftButton)
    assert cancel.asked == [
        f"quietroom-note-{today(main_window)}.pdf"
    ]  # the file dialog was cancelled
    assert dialog.isVisible()  # back in the dialog, nothing fetched
    with qtbot.waitSignal(dialog.rejected):
        qtbot.keyClick(dialog.recipient, Qt.Key.Key_Escape)
    assert disclosures(practice) == []
    assert sorted(tmp_path.rglob("*")) == before


def test_print_is_audited_as_printed(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    record: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    printer = QPrinter(QPrinter.PrinterMode.HighResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)  # a "printer" we can read back
    printer.setOutputFileName(str(tmp_path / "printed.pdf"))
    monkeypatch.setattr(disclosure_dialog, "ask_printer", lambda parent, done: done(printer))
    dialog = start_disclosure(main_window.ctx, main_window, note_id=record["note"])
    fill(qtbot, dialog, "Dr. Lee", "Referral")
    tick(qtbot, dialog.print_choice)
    assert dialog.go_button.text() == "Print…"
    finish(qtbot, dialog)
    assert PROGRESS_TEXT in read_pdf(tmp_path / "printed.pdf")[1]
    assert [(a, d["recipient"]) for a, _, d in disclosures(practice)] == [
        ("note.printed", "Dr. Lee")
    ]


def test_lock_closes_the_dialog_and_forgets_the_answers(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    record: dict[str, str],
    widget_text: Callable[[], str],
) -> None:
    dialog = start_disclosure(main_window.ctx, main_window, client_id=record["client"])
    fill(qtbot, dialog, "Zanzibar Counselling Group", "Referral")
    assert "Zanzibar" in widget_text()
    main_window.lock()
    assert "Zanzibar" not in widget_text()
    assert not practice.is_open


def big_document(sections: int) -> Document:
    text = "\n".join(f"Line {i}: the client described the week in some detail." for i in range(30))
    return Document(
        title="Client record — Test Person",
        sections=tuple(DocumentSection(f"Note {n}", text) for n in range(sections)),
        footer="Disclosed to Dr X for care. Confidential health information.",
    )


LETTERHEAD = pdf.Letterhead("Dr Ada Test, PsyD", "Dr X", "care", date(2026, 1, 5))


def test_pages_paper_size_and_numbering(qtbot: QtBot, tmp_path: Path) -> None:
    us = QLocale(QLocale.Language.English, QLocale.Country.UnitedStates)
    de = QLocale(QLocale.Language.German, QLocale.Country.Germany)
    assert pdf.page_size_for(us) == QPageSize.PageSizeId.Letter
    assert pdf.page_size_for(de) == QPageSize.PageSizeId.A4
    target = tmp_path / "big.pdf"
    pages = pdf.write_pdf(big_document(12), LETTERHEAD, target, page_size=pdf.page_size_for(us))
    assert pages > 3
    count, text = read_pdf(target)
    assert count == pages
    assert f"Page {pages} of {pages}" in text and "Line 29" in text
    document = QPdfDocument()
    document.load(str(target))
    size = document.pagePointSize(0)
    assert (round(size.width()), round(size.height())) == (612, 792)  # US Letter in points
    document.close()


def test_a_failed_write_leaves_the_old_file_and_no_temp(
    qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "kept.pdf"
    target.write_bytes(b"%PDF-old")

    def broken(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pdf, "_paint", broken)
    with pytest.raises(OSError):
        pdf.write_pdf(big_document(1), LETTERHEAD, target)
    assert target.read_bytes() == b"%PDF-old"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.pdf"]


def test_note_text_is_escaped_not_markup() -> None:
    document = Document("T", (DocumentSection("<b>Plan</b>", "a < b & <i>c</i>"),), "f")
    html = pdf.document_html(document, LETTERHEAD)
    assert "<i>c</i>" not in html and "&lt;i&gt;c&lt;/i&gt;" in html
    assert "&lt;b&gt;Plan&lt;/b&gt;" in html
