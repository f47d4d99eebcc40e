"""Placeholder for the ClientsPage (being built)."""

from __future__ import annotations

from desktop.ui.pages.base import Page


class ClientsPage(Page):
    nav_title = "Clients"
