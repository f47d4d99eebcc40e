"""Global search: clients and notes as the therapist types, with highlighted snippets.

Typing waits for a pause (``SEARCH_DELAY_MS``) and then runs one ``practice.search`` off the UI
thread; the domain audits each executed search, so a pause, not a keystroke, makes one entry.
Results carry a generation number: an answer that arrives after a newer search was started is
dropped, so a slow old query never overwrites a newer one. Snippets come from the domain as
``(text, highlighted)`` parts; every text is HTML-escaped before it becomes rich text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime

from desktop.core.clients import ClientStatus
from desktop.core.notes import Compartment, NoteKind, NoteStatus
from desktop.core.search import ClientHit, NoteHit, SearchResults, SnippetPart
from desktop.ui.background import run_in_background
from desktop.ui.context import UiContext
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QAbstractItemView,
    QAbstractTextDocumentLayout,
    QApplication,
    QCheckBox,
    QColor,
    QEvent,
    QFont,
    QHBoxLayout,
    QKeyEvent,
    QLabel,
    QLineEdit,
    QModelIndex,
    QObject,
    QPainter,
    QPalette,
    QPersistentModelIndex,
    QSize,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    Qt,
    QTextDocument,
    QTimer,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)
from desktop.ui.widgets import heading

SEARCH_DELAY_MS = 250  # a pause in typing this long runs the search
RESULT_LIMIT = 50  # per group (clients, notes)
HIT_ROLE = Qt.ItemDataRole.UserRole  # the ClientHit / NoteHit behind a row
HTML_ROLE = Qt.ItemDataRole.UserRole + 1  # the row as rich text (every PHI text escaped)

_KIND_LABELS = {
    NoteKind.AMENDMENT: "amendment",
    NoteKind.ADDENDUM: "addendum",
    NoteKind.LATE_ENTRY: "late entry",
}
_STATUS_LABELS = {
    ClientStatus.ACTIVE: "active",
    ClientStatus.WAITLIST: "waitlist",
    ClientStatus.DISCHARGED: "discharged",
}


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def snippet_html(parts: Sequence[SnippetPart]) -> str:
    """The snippet as rich text: highlighted parts in ``<b class="mark">``, all text escaped."""
    out = []
    for part in parts:
        text = html.escape(_one_line(part.text), quote=True)
        out.append(f'<b class="mark">{text}</b>' if part.highlighted else text)
    return "".join(out)


def snippet_text(parts: Sequence[SnippetPart]) -> str:
    return _one_line("".join(part.text for part in parts)).strip()


def _date(moment: datetime) -> str:
    local = moment.astimezone()
    return f"{local.day} {local:%b %Y}"


def _title(name: str, about: str) -> str:
    return f"<b>{html.escape(name)}</b>&nbsp;&nbsp;<span class='muted'>{html.escape(about)}</span>"


def client_hit_lines(hit: ClientHit) -> tuple[str, str, str]:
    """(title html, plain text, snippet html) of a client result."""
    facts = []
    if hit.preferred_name and hit.preferred_name != hit.name:
        facts.append(f"“{hit.preferred_name}”")
    facts.append(_STATUS_LABELS.get(hit.status, str(hit.status)))
    if hit.archived:
        facts.append("archived")
    about = " · ".join(facts)
    title = _title(hit.name, about)
    plain = f"{hit.name} ({about}): {snippet_text(hit.snippet)}"
    return title, plain, snippet_html(hit.snippet)


def note_hit_lines(hit: NoteHit) -> tuple[str, str, str]:
    """(title html, plain text, snippet html) of a note result."""
    psychotherapy = hit.compartment is Compartment.PSYCHOTHERAPY
    if hit.kind is NoteKind.ORIGINAL:
        what = "Psychotherapy note" if psychotherapy else "Progress note"
    else:
        what = _KIND_LABELS.get(hit.kind, str(hit.kind)).capitalize()
        what += " (psychotherapy)" if psychotherapy else ""
    state = "draft" if hit.status is NoteStatus.DRAFT else "signed"
    about = f"{what} · {_date(hit.created_at)} · {state}"
    title = _title(hit.client_name, about)
    plain = f"{hit.client_name}, {about}: {snippet_text(hit.snippet)}"
    return title, plain, snippet_html(hit.snippet)


class RichTextDelegate(QStyledItemDelegate):
    """Paints rows that carry ``HTML_ROLE`` as rich text (two lines: title, snippet), in the
    view's palette; highlighted snippet words get bold type on a soft highlight."""

    PADDING = 6

    def _document(self, option: QStyleOptionViewItem, text: str, selected: bool) -> QTextDocument:
        palette = option.palette
        base = palette.color(QPalette.ColorRole.Base)
        accent = palette.color(QPalette.ColorRole.Highlight)
        if selected:
            muted = _blend(palette.color(QPalette.ColorRole.HighlightedText), accent, 0.15)
            mark = "transparent"
        else:
            muted = _blend(palette.color(QPalette.ColorRole.Text), base, 0.4)
            mark = _blend(base, accent, 0.28).name()
        doc = QTextDocument()
        doc.setDocumentMargin(0)
        doc.setDefaultFont(option.font)
        doc.setDefaultStyleSheet(
            f".muted {{ color: {muted.name()}; }} .mark {{ background-color: {mark}; }}"
        )
        doc.setHtml(text)
        return doc

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        text = index.data(HTML_ROLE)
        if not text:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        doc = self._document(opt, str(text), selected)
        rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, opt, widget)
        rect = rect.adjusted(self.PADDING, self.PADDING // 2, -self.PADDING, 0)
        painter.save()
        painter.translate(rect.topLeft())
        painter.setClipRect(rect.translated(-rect.topLeft()))
        context = QAbstractTextDocumentLayout.PaintContext()
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        context.palette.setColor(QPalette.ColorRole.Text, opt.palette.color(role))
        doc.documentLayout().draw(painter, context)
        painter.restore()

    def sizeHint(  # noqa: N802 (Qt API)
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        text = index.data(HTML_ROLE)
        if not text:
            return super().sizeHint(option, index)
        doc = self._document(option, str(text), False)
        return QSize(int(doc.idealWidth()) + 2 * self.PADDING, int(doc.size().height()) + 12)


def _blend(a: QColor, b: QColor, amount: float) -> QColor:
    return QColor(
        round(a.red() + (b.red() - a.red()) * amount),
        round(a.green() + (b.green() - a.green()) * amount),
        round(a.blue() + (b.blue() - a.blue()) * amount),
    )


class SearchPage(Page):
    nav_title = "Search"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self._generation = 0  # bumped by every search started (and by clearing)
        self._running: int | None = None  # the generation of the search in flight
        self._results: SearchResults | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(28, 24, 28, 20)
        layout.setSpacing(12)
        layout.addWidget(heading("Search"))

        row = QHBoxLayout()
        self.field = QLineEdit()
        self.field.setPlaceholderText("Search clients and notes: a name, a word, a code (F41.1)")
        self.field.setAccessibleName("Search text")
        self.field.setClearButtonEnabled(True)
        self.field.setMinimumWidth(360)
        self.field.textChanged.connect(self._text_changed)
        self.field.returnPressed.connect(self._return_in_field)
        self.field.installEventFilter(self)
        row.addWidget(self.field, 1)
        self.psychotherapy = QCheckBox("Include &psychotherapy notes")
        self.psychotherapy.setAccessibleName("Include psychotherapy notes")
        self.psychotherapy.setToolTip(
            "Psychotherapy notes are kept apart; include them in this search only when you "
            "need to. The search log records that you did."
        )
        self.psychotherapy.toggled.connect(self._psychotherapy_toggled)
        row.addWidget(self.psychotherapy)
        layout.addLayout(row)

        self.status = QLabel()
        self.status.setAccessibleName("Search summary")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.status)

        self.results = QTreeWidget()
        self.results.setAccessibleName("Search results")
        self.results.setHeaderHidden(True)
        self.results.setRootIsDecorated(False)
        self.results.setIndentation(0)
        self.results.setItemsExpandable(False)
        self.results.setUniformRowHeights(False)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setItemDelegate(RichTextDelegate(self.results))
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.itemActivated.connect(self._item_activated)
        self.results.installEventFilter(self)
        layout.addWidget(self.results, 1)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SEARCH_DELAY_MS)
        self._timer.timeout.connect(self.run_search)

    # -- the Page contract ------------------------------------------------------------------
    def activated(self) -> None:
        # Psychotherapy notes are searched only when asked for, each time anew.
        if self.psychotherapy.isChecked():
            self.psychotherapy.blockSignals(True)
            self.psychotherapy.setChecked(False)
            self.psychotherapy.blockSignals(False)
            self._drop_results()
            if self.field.text().strip():
                self.run_search()
        self.field.setFocus()

    def clear_phi(self) -> None:
        self._timer.stop()
        self._generation += 1  # an answer still on its way is dropped
        self.field.blockSignals(True)
        self.field.clear()
        self.field.blockSignals(False)
        self.psychotherapy.blockSignals(True)
        self.psychotherapy.setChecked(False)
        self.psychotherapy.blockSignals(False)
        self._drop_results()

    def focus_search(self, text: str = "") -> None:
        """Put the cursor in the search field, optionally pre-filled."""
        if text:
            self.field.setText(text)
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()

    # -- searching --------------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """A search is waiting for a pause in typing."""
        return self._timer.isActive()

    @property
    def searching(self) -> bool:
        """A search is waiting for a pause or running."""
        return self.pending or self._running == self._generation

    def _text_changed(self, text: str) -> None:
        if not text.strip():
            self._timer.stop()
            self._generation += 1
            self._drop_results()
            return
        self._timer.start()  # restarts: only a pause runs the search

    def _psychotherapy_toggled(self, _checked: bool) -> None:
        if self.field.text().strip():
            self.run_search()

    def run_search(self) -> None:
        """Run the search for the field's text now (off the UI thread)."""
        self._timer.stop()
        text = self.field.text()
        self._generation += 1
        if not text.strip():
            self._drop_results()
            return
        generation = self._generation
        self._running = generation
        include = self.psychotherapy.isChecked()
        practice = self.ctx.practice
        if self._results is None:
            self.status.setText("Searching…")
        run_in_background(
            lambda: practice.search(text, include_psychotherapy=include, limit=RESULT_LIMIT),
            lambda results: self.show_results(generation, results),
            lambda exc: self._search_failed(generation, exc),
            owner=self,
        )

    def show_results(self, generation: int, results: SearchResults) -> None:
        """The answer to search ``generation``; dropped unless it is the newest."""
        if generation != self._generation:
            return
        self._running = None
        self._results = results
        self.results.clear()
        for title, hits in (("Clients", results.clients), ("Notes", results.notes)):
            if not hits:
                continue
            group = QTreeWidgetItem([f"{title} ({len(hits)})"])
            group.setFlags(Qt.ItemFlag.ItemIsEnabled)
            font = group.font(0)
            font.setWeight(QFont.Weight.DemiBold)
            group.setFont(0, font)
            group.setSizeHint(0, QSize(0, 30))
            self.results.addTopLevelItem(group)
            for hit in hits:
                self._add_hit(group, hit)
            group.setExpanded(True)
        self.status.setText(_summary(results))

    def _add_hit(self, group: QTreeWidgetItem, hit: ClientHit | NoteHit) -> None:
        if isinstance(hit, ClientHit):
            title, plain, snippet = client_hit_lines(hit)
        else:
            title, plain, snippet = note_hit_lines(hit)
        item = QTreeWidgetItem(group, [plain])
        item.setData(0, HIT_ROLE, hit)
        item.setData(0, HTML_ROLE, f"{title}<br>{snippet}")
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)

    def _search_failed(self, generation: int, exc: Exception) -> None:
        if generation != self._generation:
            return
        self._running = None
        self._drop_results()
        self.status.setText(f"The search could not run: {exc}")

    def _drop_results(self) -> None:
        self._results = None
        self.results.clear()
        self.status.clear()

    # -- opening a hit ----------------------------------------------------------------------
    def hit_items(self) -> list[QTreeWidgetItem]:
        """The result rows in the order shown (clients first, then notes)."""
        items: list[QTreeWidgetItem] = []
        for i in range(self.results.topLevelItemCount()):
            group = self.results.topLevelItem(i)
            assert group is not None
            items.extend(c for j in range(group.childCount()) if (c := group.child(j)))
        return items

    def open_item(self, item: QTreeWidgetItem) -> None:
        hit = item.data(0, HIT_ROLE)
        if isinstance(hit, ClientHit):
            self.ctx.nav.open_client(hit.client_id)
        elif isinstance(hit, NoteHit):
            psychotherapy = hit.compartment is Compartment.PSYCHOTHERAPY
            self.ctx.nav.open_note(hit.note_id, psychotherapy=psychotherapy)

    def _item_activated(self, item: QTreeWidgetItem, _column: int) -> None:
        self.open_item(item)

    def _return_in_field(self) -> None:
        if self.pending or self._results is None:
            self.run_search()
        else:
            self._enter_results()

    def _enter_results(self) -> bool:
        items = self.hit_items()
        if not items:
            return False
        self.results.setFocus(Qt.FocusReason.TabFocusReason)
        self.results.setCurrentItem(items[0])
        return True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() != QEvent.Type.KeyPress:
            return False
        assert isinstance(event, QKeyEvent)
        key = event.key()
        if watched is self.field and key in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            return self._enter_results()
        if watched is self.results:
            items = self.hit_items()
            current = self.results.currentItem()
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and current in items:
                assert current is not None
                self.open_item(current)
                return True
            if key in (Qt.Key.Key_Up, Qt.Key.Key_Down) and items:
                position = items.index(current) if current in items else -1
                step = -1 if key == Qt.Key.Key_Up else 1
                if position + step < 0:
                    self.field.setFocus(Qt.FocusReason.BacktabFocusReason)
                else:  # header rows are skipped
                    self.results.setCurrentItem(items[min(position + step, len(items) - 1)])
                return True
        return False


def _summary(results: SearchResults) -> str:
    clients, notes = len(results.clients), len(results.notes)
    if not clients and not notes:
        return "Nothing matches. Check the spelling, or use fewer or shorter words."
    text = f"{_count(clients, 'client')} and {_count(notes, 'note')} found"
    if RESULT_LIMIT in (clients, notes):
        text += f"; at most {RESULT_LIMIT} of each are shown, the best first: add a word to narrow"
    return text


def _count(number: int, noun: str) -> str:
    return f"{number or 'No'} {noun}{'' if number == 1 else 's'}"
