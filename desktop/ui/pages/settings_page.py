"""Placeholder for the SettingsPage (being built)."""

from __future__ import annotations

from desktop.ui.pages.base import Page


class SettingsPage(Page):
    nav_title = "Settings"
