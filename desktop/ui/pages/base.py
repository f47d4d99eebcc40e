"""The contract between the main window and its pages."""

from __future__ import annotations

from desktop.ui.context import UiContext
from desktop.ui.qt import QWidget


class Page(QWidget):
    """A page of the main window.

    ``activated`` runs each time the page is shown (load what it displays then: every read is an
    audited facade call, so nothing is read ahead). ``clear_phi`` runs on lock and must leave no
    client data in any widget or model of the page.
    """

    nav_title = ""  # the side-bar label; "" for pages reached only by navigation

    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx

    def activated(self) -> None:
        """The page became visible."""

    def clear_phi(self) -> None:
        """Drop every text, item and cached object that showed client data."""
