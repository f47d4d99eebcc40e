"""Waiting for what a person waits for. The client list and the client page read the vault off
the UI thread, so a test that opens one waits, as a person does, until it shows what was read:
the client's name at the top of their page, the list with its count under it."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from desktop.ui.main_window import MainWindow
from desktop.ui.pages.client_page import ClientPage
from desktop.ui.pages.clients_page import ClientsPage

TIMEOUT_MS = 10_000


def client_shown(qtbot: QtBot, window: MainWindow, client_id: str) -> ClientPage:
    """Until the client page shows this client's record (name, details, sessions, notes and
    the clinical tabs, all filled from one read)."""
    page = window.client_page
    qtbot.waitUntil(lambda: page.shown_client_id == client_id, timeout=TIMEOUT_MS)
    return page


def list_shown(qtbot: QtBot, window: MainWindow) -> ClientsPage:
    """Until the client list shows what it read (the count under it says how many)."""
    page = window.clients_page
    qtbot.waitUntil(lambda: page.shown_read, timeout=TIMEOUT_MS)
    return page
