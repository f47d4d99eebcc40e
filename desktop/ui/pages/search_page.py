"""Placeholder for the SearchPage (being built)."""

from __future__ import annotations

from desktop.ui.pages.base import Page


class SearchPage(Page):
    nav_title = "Search"

    def focus_search(self, text: str = "") -> None:
        """Put the cursor in the search field, optionally pre-filled."""
