from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from desktop.core.backup_policy import Retention, Schedule, Trigger, health_warning

NOW = datetime(2026, 6, 15, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "trigger,last,due",
    [
        (Trigger.LOCK, None, True),
        (Trigger.LOCK, NOW - timedelta(hours=3), False),
        (Trigger.LOCK, NOW - timedelta(days=1), True),
        (Trigger.QUIT, NOW - timedelta(hours=23, minutes=59), False),
        (Trigger.MANUAL, NOW - timedelta(minutes=1), True),
    ],
)
def test_at_most_once_a_day_unless_manual(
    trigger: Trigger, last: datetime | None, due: bool
) -> None:
    assert Schedule().is_due(trigger, last, NOW) is due


def test_triggers_can_be_turned_off() -> None:
    schedule = Schedule(on_lock=False, on_quit=False)
    assert not schedule.is_due(Trigger.LOCK, None, NOW)
    assert not schedule.is_due(Trigger.QUIT, None, NOW)
    assert schedule.is_due(Trigger.TIMER, None, NOW)


def test_retention_keeps_daily_weekly_monthly() -> None:
    # two backups a day for 120 days
    created = [NOW - timedelta(days=d, hours=h) for d in range(120) for h in (0, 5)]
    kept = Retention(daily=7, weekly=4, monthly=3).keep(created)
    days = {(t.year, t.month, t.day) for t in kept}
    # the newest backup of each of the last 7 days
    for d in range(7):
        assert NOW - timedelta(days=d) in kept
    assert len([t for t in kept if NOW - t < timedelta(days=7)]) == 7
    months = {(t.year, t.month) for t in kept}
    assert len(months) == 3
    assert len(kept) <= 7 + 4 + 3
    assert max(created) in kept and len(days) == len(kept)


def test_retention_of_nothing_and_of_one() -> None:
    assert Retention().keep([]) == set()
    assert Retention(daily=0, weekly=0, monthly=0).keep([NOW]) == {NOW}


def test_health_warnings() -> None:
    assert health_warning(NOW - timedelta(days=2), True, NOW) is None
    assert "8 days old" in (health_warning(NOW - timedelta(days=8), True, NOW) or "")
    assert "no backup yet" in (health_warning(None, True, NOW) or "")
    assert "cannot be reached" in (health_warning(NOW, False, NOW) or "")
