"""Placeholder: starting a video session from an appointment (being built)."""

from __future__ import annotations

from desktop.ui.context import UiContext


class VideoSessions:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx

    def start(self, session_id: str) -> None:
        """Open the call window for a video appointment."""

    def shutdown(self) -> None:
        """End any live call and stop the in-app relay (on lock and quit)."""
