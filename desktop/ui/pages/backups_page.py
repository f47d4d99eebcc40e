"""Placeholder for the BackupsPage (being built)."""

from __future__ import annotations

from desktop.ui.pages.base import Page


class BackupsPage(Page):
    nav_title = "Backups"
