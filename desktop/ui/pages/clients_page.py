"""The client list: who the therapist sees, with their last and next session.

Each activation reads the list once (``list_clients``, audited as ``client.listed``); typing in
the filter and choosing a status narrow the rows already loaded, so no keystroke reaches the
facade. Enter or a double-click opens a client; Ctrl+N adds one.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import Enum

from desktop.core.clients import Client, ClientDetails, ClientStatus, ClientSummary
from desktop.core.practice import Practice
from desktop.ui.background import run_in_background
from desktop.ui.client_forms import (
    STATUS_LABELS,
    ClientFormDialog,
    FormDialog,
    error_text,
    local_time,
    row_size,
)
from desktop.ui.context import UiContext
from desktop.ui.pages.base import Page
from desktop.ui.qt import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QEvent,
    QHBoxLayout,
    QHeaderView,
    QKeyEvent,
    QKeySequence,
    QLabel,
    QLineEdit,
    QObject,
    QPushButton,
    QShortcut,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)
from desktop.ui.widgets import heading

NEW_CLIENT_KEYS = "Ctrl+N"
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole


class StatusFilter(Enum):
    ALL_ACTIVE = "All active"  # every client not archived
    ACTIVE = "Active"
    WAITLIST = "Waitlist"
    DISCHARGED = "Discharged"
    ARCHIVED = "Archived"

    def admits(self, client: ClientSummary) -> bool:
        if self is StatusFilter.ARCHIVED:
            return client.archived
        if client.archived:
            return False
        return self is StatusFilter.ALL_ACTIVE or _STATUS_OF.get(self) is client.status


_STATUS_OF = {
    StatusFilter.ACTIVE: ClientStatus.ACTIVE,
    StatusFilter.WAITLIST: ClientStatus.WAITLIST,
    StatusFilter.DISCHARGED: ClientStatus.DISCHARGED,
}


def folded(text: str) -> str:
    """Case- and accent-blind form for the filter (typing "zoe" finds "Zoë")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class Column:
    NAME, PREFERRED, STATUS, NEXT, LAST = range(5)
    TITLES = ("Name", "Preferred name", "Status", "Next session", "Last session")


def row_texts(client: ClientSummary) -> list[str]:
    """A row's texts (made off the UI thread: dates through the locale, for every client)."""
    status = STATUS_LABELS[client.status] + (" (archived)" if client.archived else "")
    return [
        client.name,
        client.preferred_name,
        status,
        local_time(client.next_session_at) if client.next_session_at else "",
        local_time(client.last_session_at) if client.last_session_at else "",
    ]


def read_list(practice: Practice) -> tuple[tuple[ClientSummary, ...], list[list[str]]]:
    """Off the UI thread: the list (one audited ``list_clients``) and every row's texts."""
    found = practice.list_clients(include_archived=True)
    return found, [row_texts(client) for client in found]


class ClientItem(QTreeWidgetItem):
    """A row; sorts by the value kept under ``SORT_ROLE`` (dates as dates, names case-blind)."""

    def __init__(self, client: ClientSummary, texts: list[str] | None = None) -> None:
        texts = texts or row_texts(client)
        super().__init__(texts)
        self.client_id = client.id
        self.search_text = folded(f"{client.name} {client.preferred_name}")
        self.setData(Column.NAME, ID_ROLE, client.id)
        self.setData(Column.NAME, SORT_ROLE, folded(client.name))
        self.setData(Column.PREFERRED, SORT_ROLE, folded(client.preferred_name))
        self.setData(Column.STATUS, SORT_ROLE, texts[Column.STATUS])
        self.setData(Column.NEXT, SORT_ROLE, _stamp(client.next_session_at, missing=9e12))
        self.setData(Column.LAST, SORT_ROLE, _stamp(client.last_session_at, missing=-9e12))

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        tree = self.treeWidget()
        column = tree.sortColumn() if tree is not None else 0
        mine, theirs = self.data(column, SORT_ROLE), other.data(column, SORT_ROLE)
        if mine == theirs:
            return bool(self.data(0, SORT_ROLE) < other.data(0, SORT_ROLE))
        return bool(mine < theirs)


def _stamp(moment: datetime | None, *, missing: float) -> float:
    return moment.timestamp() if moment is not None else missing


class ClientsPage(Page):
    nav_title = "Clients"

    def __init__(self, ctx: UiContext) -> None:
        super().__init__(ctx)
        self._clients: tuple[ClientSummary, ...] = ()
        self._generation = 0
        self._loading = False
        self._read_shown = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 16)
        layout.setSpacing(12)

        top = QHBoxLayout()
        top.addWidget(heading("Clients"))
        top.addStretch(1)
        self.new_button = QPushButton("&New client…")
        self.new_button.setAccessibleName("New client")
        self.new_button.setToolTip(f"Add a client ({NEW_CLIENT_KEYS})")
        self.new_button.clicked.connect(self.new_client)
        top.addWidget(self.new_button)
        layout.addLayout(top)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        filter_label = QLabel("&Filter")
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Type part of a name")
        self.filter.setClearButtonEnabled(True)
        self.filter.setAccessibleName("Filter clients by name")
        self.filter.setToolTip(
            "Narrow the list as you type (Alt+F). Down arrow moves to the list; Enter opens the "
            "selected client."
        )
        self.filter.textChanged.connect(self._apply_filter)
        self.filter.returnPressed.connect(self.open_current)
        self.filter.installEventFilter(self)
        filter_label.setBuddy(self.filter)
        status_label = QLabel("&Show")
        self.status = QComboBox()
        for choice in StatusFilter:
            self.status.addItem(choice.value, choice.name)
        self.status.setAccessibleName("Show clients with status")
        self.status.setToolTip("Which clients to list (Alt+S)")
        self.status.currentIndexChanged.connect(self._apply_filter)
        status_label.setBuddy(self.status)
        bar.addWidget(filter_label)
        bar.addWidget(self.filter, 1)
        bar.addSpacing(12)
        bar.addWidget(status_label)
        bar.addWidget(self.status)
        layout.addLayout(bar)

        self.table = QTreeWidget()
        self.table.setAccessibleName("Clients")
        self.table.setToolTip("")
        self.table.setColumnCount(len(Column.TITLES))
        self.table.setHeaderLabels(list(Column.TITLES))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setAlternatingRowColors(True)
        self.table.setAllColumnsShowFocus(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(Column.NAME, Qt.SortOrder.AscendingOrder)
        header = self.table.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        for column, width in (
            (Column.PREFERRED, 150),
            (Column.STATUS, 150),
            (Column.NEXT, 190),
            (Column.LAST, 190),
        ):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        self.table.itemActivated.connect(self._activated)
        layout.addWidget(self.table, 1)

        foot = QHBoxLayout()
        self.count = QLabel()
        self.count.setAccessibleName("Number of clients shown")
        foot.addWidget(self.count, 1)
        self.open_button = QPushButton("&Open")
        self.open_button.setAccessibleName("Open client")
        self.open_button.setToolTip("Open the selected client (Enter)")
        self.open_button.clicked.connect(self.open_current)
        foot.addWidget(self.open_button)
        layout.addLayout(foot)

        shortcut = QShortcut(QKeySequence(NEW_CLIENT_KEYS), self)
        shortcut.activated.connect(self.new_client)
        self.setTabOrder(self.new_button, self.filter)
        self.setTabOrder(self.filter, self.status)
        self.setTabOrder(self.status, self.table)
        self.setTabOrder(self.table, self.open_button)

    # -- loading ---------------------------------------------------------------------------------
    def activated(self) -> None:
        self.reload()
        focus = QApplication.focusWidget()
        if focus is None or not focus.isVisible() or self.isAncestorOf(focus):
            self.filter.setFocus()

    @property
    def loading(self) -> bool:
        """The list is being read (off the UI thread)."""
        return self._loading

    @property
    def shown_read(self) -> bool:
        """The list on screen is the latest read (none is on its way)."""
        return self._read_shown and not self._loading

    def reload(self) -> None:
        """Read the list off the UI thread (one audited call), then show it under the current
        filter."""
        self._generation += 1
        generation = self._generation
        self._loading = True
        if not self._clients:
            self.count.setText("Reading the client list…")
        practice = self.ctx.practice
        run_in_background(
            lambda: read_list(practice),
            lambda read: self._loaded(generation, *read),
            lambda exc: self._failed(generation, exc),
            owner=self,
        )

    def _failed(self, generation: int, exc: Exception) -> None:
        if generation == self._generation:
            self._loading = False
            self.count.setText(f"The client list could not be read. {error_text(exc)}")

    def _loaded(
        self, generation: int, found: tuple[ClientSummary, ...], texts: list[list[str]]
    ) -> None:
        if generation != self._generation:
            return
        self._loading = False
        self._read_shown = True
        self._clients = found
        selected = self.current_client_id()
        self.table.setSortingEnabled(False)
        self.table.clear()
        items = [ClientItem(c, t) for c, t in zip(self._clients, texts, strict=True)]
        size = row_size(self.table)
        for item in items:
            item.setSizeHint(Column.NAME, size)
        self.table.addTopLevelItems(items)
        self.table.setSortingEnabled(True)
        self._apply_filter(keep=selected)

    def _apply_filter(self, *_: object, keep: str | None = None) -> None:
        words = folded(self.filter.text()).split()
        choice = StatusFilter[str(self.status.currentData())]
        admitted = {c.id for c in self._clients if choice.admits(c)}
        shown: list[ClientItem] = []
        for row in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(row)
            assert isinstance(item, ClientItem)
            visible = item.client_id in admitted and all(w in item.search_text for w in words)
            item.setHidden(not visible)
            if visible:
                shown.append(item)
        current = self.table.currentItem()
        wanted = next((i for i in shown if i.client_id == keep), None)
        if wanted is not None:
            self.table.setCurrentItem(wanted)
        elif shown and (current is None or current.isHidden()):
            self.table.setCurrentItem(shown[0])
        elif not shown:
            self.table.selectionModel().clear()
        self.open_button.setEnabled(bool(shown))
        self.count.setText(self._count_text(len(shown), choice))

    def _count_text(self, shown: int, choice: StatusFilter) -> str:
        if not self._clients:
            return f"No clients yet. Press {NEW_CLIENT_KEYS} to add the first."
        if shown == 0:
            return "No clients match."
        noun = "client" if shown == 1 else "clients"
        if choice is StatusFilter.ARCHIVED:
            noun = "archived " + noun
        return f"{shown} {noun}"

    # -- opening ---------------------------------------------------------------------------------
    def current_client_id(self) -> str | None:
        item = self.table.currentItem()
        if isinstance(item, ClientItem) and not item.isHidden():
            return item.client_id
        return None

    def open_current(self) -> None:
        client_id = self.current_client_id()
        if client_id is not None:
            self.ctx.nav.open_client(client_id)

    def _activated(self, item: QTreeWidgetItem, _column: int) -> None:
        if isinstance(item, ClientItem):
            self.ctx.nav.open_client(item.client_id)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        """Down arrow in the filter moves to the list, keeping the selection."""
        if watched is self.filter and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_PageDown):
                self.table.setFocus()
                return True
        return super().eventFilter(watched, event)

    # -- new client ------------------------------------------------------------------------------
    def new_client(self) -> None:
        if not self.isVisible():
            return
        dialog = ClientFormDialog(self, None, self._create, self._created)
        dialog.open()

    def _create(self, details: ClientDetails) -> Client:
        return self.ctx.practice.create_client(details)

    def _created(self, client: Client) -> None:
        self.ctx.nav.notify("Client added.")
        self.ctx.nav.open_client(client.id)

    # -- lock ------------------------------------------------------------------------------------
    def clear_phi(self) -> None:
        self._generation += 1
        self._loading = False
        self._read_shown = False
        for dialog in self.findChildren(FormDialog):
            dialog.reject()
            dialog.clear_phi()
            dialog.deleteLater()
        self._clients = ()
        self.table.clear()
        self.filter.clear()  # a typed name is PHI too
        self.count.clear()

    def client_ids_shown(self) -> list[str]:
        """The ids of the visible rows, top to bottom (for tests and accessibility checks)."""
        found = []
        for row in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(row)
            if isinstance(item, ClientItem) and not item.isHidden():
                found.append(item.client_id)
        return found
