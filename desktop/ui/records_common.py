"""What the records dialogs share: the locale's formats for the PDFs the domain writes, a save
dialog that keeps file names out of the system's recent-files list, and money as the therapist
types and reads it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from desktop.core.records.formats import Formats
from desktop.ui import formats
from desktop.ui.qt import QFileDialog, QLocale, QWidget

PathCallback = Callable[[Path | None], None]


def locale_formats(locale: QLocale | None = None) -> Formats:
    """Dates, local times and amounts as the system locale writes them (QLocale), and US Letter
    paper where the locale measures in US units."""
    loc = locale or QLocale()

    return Formats(
        date=formats.date_text,
        time=lambda moment: f"{formats.date_text(moment)}, {formats.time_text(moment)}",
        money=lambda cents: money_text(cents, loc),
        letter_paper=loc.measurementSystem() == QLocale.MeasurementSystem.ImperialUSSystem,
    )


def money_text(cents: int, locale: QLocale | None = None) -> str:
    return (locale or QLocale()).toCurrencyString(cents / 100)


def parse_money(text: str, locale: QLocale | None = None) -> int | None:
    """Cents from what was typed ("130", "130.50", the locale's own decimal sign), or None."""
    loc = locale or QLocale()
    cleaned = text.strip().replace(loc.currencySymbol(), "").strip()
    value, ok = loc.toDouble(cleaned)
    if not ok:
        value, ok = QLocale.c().toDouble(cleaned)
    if not ok or value < 0:
        return None
    return round(value * 100)


def documents_folder() -> Path:
    documents = Path.home() / "Documents"
    return documents if documents.is_dir() else Path.home()


def ask_save_path(
    parent: QWidget, title: str, suggested: str, name_filter: str, on_chosen: PathCallback
) -> None:
    """Ask where to save (non-blocking); ``on_chosen`` gets the path, or None. Qt's own dialog:
    platform pickers add what they save to the OS "recent files" list."""
    dialog = QFileDialog(parent, title)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setNameFilter(name_filter)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setDirectory(str(documents_folder()))
    dialog.selectFile(suggested)
    chosen: list[Path] = []
    dialog.fileSelected.connect(lambda name: chosen.append(Path(name)))

    def finished(_: int) -> None:
        dialog.deleteLater()
        on_chosen(chosen[0] if chosen else None)

    dialog.finished.connect(finished)
    dialog.open()


def ask_open_path(parent: QWidget, title: str, name_filter: str, on_chosen: PathCallback) -> None:
    dialog = QFileDialog(parent, title)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setNameFilter(name_filter)
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setDirectory(str(documents_folder()))
    chosen: list[Path] = []
    dialog.fileSelected.connect(lambda name: chosen.append(Path(name)))

    def finished(_: int) -> None:
        dialog.deleteLater()
        on_chosen(chosen[0] if chosen else None)

    dialog.finished.connect(finished)
    dialog.open()
