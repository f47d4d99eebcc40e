"""Placeholder for the AuditPage (being built)."""

from __future__ import annotations

from desktop.ui.pages.base import Page


class AuditPage(Page):
    nav_title = r"Audit\ log"

    def filter_client(self, client_id: str | None) -> None:
        """Show the audit entries of one client (or all)."""
