"""Placeholder: print / export to PDF as an audited disclosure (being built)."""

from __future__ import annotations

from desktop.ui.context import UiContext
from desktop.ui.qt import QWidget


def start_disclosure(
    ctx: UiContext,
    parent: QWidget,
    *,
    client_id: str | None = None,
    note_id: str | None = None,
) -> None:
    """Ask for recipient and purpose (and whether psychotherapy notes go too), then print or save
    the client record (``client_id``) or one note (``note_id``) as a PDF. Non-blocking."""
