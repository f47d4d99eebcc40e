"""Placeholder for the NoteEditorPage (being built)."""

from __future__ import annotations

from desktop.ui.pages.base import Page


class NoteEditorPage(Page):
    nav_title = ""

    def open_note(self, note_id: str, *, psychotherapy: bool = False) -> None:
        """Load a note (audited) into the editor or, when signed, the read-only view."""

    def close_note(self) -> None:
        """Save and close the open draft (called before the page is left and before lock)."""
