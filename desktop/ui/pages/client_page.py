"""Placeholder for the ClientPage (being built)."""

from __future__ import annotations

from desktop.ui.pages.base import Page


class ClientPage(Page):
    nav_title = ""

    def show_client(self, client_id: str) -> None:
        """Load and show one client (an audited ``open_client``)."""
