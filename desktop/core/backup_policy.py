"""When to make an automatic backup, which backups to keep, and when to warn. Pure functions of
times and names: no files, no clock of their own (the caller passes ``now``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

STALE_AFTER = timedelta(days=7)


class Trigger(StrEnum):
    LOCK = "lock"
    QUIT = "quit"
    MANUAL = "manual"
    TIMER = "timer"


@dataclass(frozen=True)
class Schedule:
    """Automatic backups: on lock and on quit, at most once per ``min_interval`` (a day by
    default). A manual "Back up now" always runs."""

    on_lock: bool = True
    on_quit: bool = True
    min_interval: timedelta = timedelta(days=1)

    def is_due(self, trigger: Trigger, last_good: datetime | None, now: datetime) -> bool:
        if trigger == Trigger.MANUAL:
            return True
        if trigger == Trigger.LOCK and not self.on_lock:
            return False
        if trigger == Trigger.QUIT and not self.on_quit:
            return False
        return last_good is None or now - last_good >= self.min_interval


@dataclass(frozen=True)
class Retention:
    """Keep the newest backup of each of the last ``daily`` days, ``weekly`` ISO weeks and
    ``monthly`` months (grandfather-father-son), and always the newest of all."""

    daily: int = 7
    weekly: int = 4
    monthly: int = 12

    def keep(self, created: Iterable[datetime]) -> set[datetime]:
        newest_first = sorted(set(created), reverse=True)
        kept: set[datetime] = set(newest_first[:1])
        periods: tuple[tuple[int, Callable[[datetime], tuple[int, ...]]], ...] = (
            (self.daily, lambda t: (t.year, t.month, t.day)),
            (self.weekly, lambda t: tuple(t.isocalendar())[:2]),
            (self.monthly, lambda t: (t.year, t.month)),
        )
        for count, period in periods:
            seen: list[tuple[int, ...]] = []
            for moment in newest_first:
                key = period(moment)
                if key in seen:
                    continue
                if len(seen) == count:
                    break
                seen.append(key)
                kept.add(moment)
        return kept


def health_warning(
    last_good: datetime | None, destination_reachable: bool, now: datetime
) -> str | None:
    """The warning the app shows, or ``None`` when backups are healthy."""
    if not destination_reachable:
        return "The backup folder cannot be reached. Connect the drive or choose another folder."
    if last_good is None:
        return (
            "There is no backup yet. Back up now so that a lost laptop does not mean lost records."
        )
    age = now - last_good
    if age > STALE_AFTER:
        return f"The last good backup is {age.days} days old. Back up now."
    return None
