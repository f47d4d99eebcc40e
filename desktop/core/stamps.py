"""Identifiers and timestamps as the practice domain stores them: random hex ids, UTC ISO 8601."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from crypto.vault import iso_utc


def new_id() -> str:
    return uuid.uuid4().hex


def to_iso(moment: datetime) -> str:
    """UTC with microseconds and Z: sorts as text in time order."""
    if moment.tzinfo is None:
        raise ValueError("times must carry a time zone")
    return iso_utc(moment)


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def maybe_from_iso(text: str | None) -> datetime | None:
    return None if text is None else from_iso(text)


def date_to_text(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def date_from_text(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text)
