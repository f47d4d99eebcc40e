"""How dates, local times and amounts appear on paper, chosen by the caller: the app passes its
locale's formats (QLocale), the command line these neutral defaults. No PDF library here, so
that the UI can build one without loading the PDF writer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime


def _default_date(value: date) -> str:
    return value.strftime("%d %b %Y")


def _default_time(value: datetime) -> str:
    return value.astimezone().strftime("%d %b %Y %H:%M")


def _default_money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


@dataclass(frozen=True)
class Formats:
    """How dates, local times and amounts appear on paper."""

    date: Callable[[date], str] = _default_date
    time: Callable[[datetime], str] = _default_time  # an aware UTC time, shown in local time
    money: Callable[[int], str] = _default_money  # cents
    letter_paper: bool = False  # US Letter instead of A4
