"""Dates and times as the therapist's system writes them (Qt's ``QLocale``), always in local time.

The domain keeps aware UTC times; every screen shows them through these functions, so the
12- or 24-hour clock, the order of day and month, month names and separators all follow the
system's locale (``QLocale()``, which tests set with ``QLocale.setDefault``). Nothing here says
"UTC" or writes year-month-day, except where a locale itself does.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from desktop.ui.qt import QDate, QDateTime, QLocale, QTime

_WEEKDAY = re.compile(r"\s*d{4}\s*[,.]?\s*")
_YEAR = re.compile(r"[,\s]*y+[年.]?\s*")


# The locale used when the system names none (LANG unset, or C/POSIX: a minimal install, a
# container, a session started without a language). Qt's "C" locale writes a short date as
# "7 12 2026", which nobody types; British English keeps what "C" already does well (English
# names, day before month, the 24-hour clock: "7 December 2026, 15:05") and writes the short
# date the way most of the world reads it ("07/12/2026"). Year-month-day would be unambiguous,
# but it reads as a machine's date to a therapist and the app never shows it; typing it is
# still accepted (``parse_date``).
FALLBACK_LOCALE = "en_GB"


def locale() -> QLocale:
    """The system's locale (``QLocale()``), or ``FALLBACK_LOCALE`` when that is C/POSIX."""
    here = QLocale()
    if here.language() == QLocale.Language.C:
        return QLocale(FALLBACK_LOCALE)
    return here


def local(moment: datetime) -> datetime:
    """An aware time on this computer's clock (naive times are taken as already local)."""
    return moment.astimezone() if moment.tzinfo is not None else moment


def qdate(day: date) -> QDate:
    return QDate(day.year, day.month, day.day)


def qtime(moment: datetime) -> QTime:
    return QTime(moment.hour, moment.minute, moment.second)


def qdatetime(moment: datetime) -> QDateTime:
    here = local(moment)
    return QDateTime(qdate(here.date()), qtime(here))


def _as_date(value: date | datetime) -> date:
    return local(value).date() if isinstance(value, datetime) else value


def _long_without_weekday() -> str:
    pattern = locale().dateFormat(QLocale.FormatType.LongFormat)
    return _WEEKDAY.sub(" ", pattern).strip(" ,")


def day_month_pattern() -> str:
    """The locale's long date without weekday and year: "d MMMM", "MMMM d", "d. MMMM"."""
    return _YEAR.sub(" ", _long_without_weekday()).strip(" ,")


def date_text(value: date | datetime) -> str:
    """ "7 December 2026" / "December 7, 2026" / "7. Dezember 2026"."""
    return locale().toString(qdate(_as_date(value)), _long_without_weekday())


def day_month(value: date | datetime, *, today: date | None = None) -> str:
    """ "7 December" in this year, otherwise with the year ("7 December 2025")."""
    day = _as_date(value)
    this_year = (today or date.today()).year
    if day.year != this_year:
        return date_text(day)
    return locale().toString(qdate(day), day_month_pattern())


def short_date(value: date | datetime) -> str:
    """The locale's short date with a four-digit year: "07/12/2026", "12/7/2026"."""
    return locale().toString(qdate(_as_date(value)), date_input_pattern())


def time_text(moment: datetime) -> str:
    """ "10:00" or "10:00 AM", as the system's clock is set."""
    return locale().toString(qtime(local(moment)), QLocale.FormatType.ShortFormat)


def weekday(value: date | datetime) -> str:
    day = _as_date(value)
    return locale().dayName(day.isoweekday(), QLocale.FormatType.ShortFormat)


def date_time_text(moment: datetime, *, today: date | None = None) -> str:
    """ "Mon 7 December, 10:00" (the year only when it is not this one)."""
    here = local(moment)
    return f"{weekday(here)} {day_month(here, today=today)}, {time_text(here)}"


def time_range(start: datetime, end: datetime) -> str:
    """ "10:00 to 10:50" in local time."""
    return f"{time_text(start)} to {time_text(end)}"


def duration_text(seconds: float) -> str:
    """ "48 minutes", "1 hour 5 minutes", "less than a minute"."""
    minutes = round(seconds / 60)
    if minutes < 1:
        return "less than a minute"
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    return " ".join(parts)


def relative_day(value: date | datetime, *, today: date | None = None) -> str:
    """ "Today", "Tomorrow", "Yesterday", else the date."""
    day = _as_date(value)
    base = today or date.today()
    if day == base:
        return "Today"
    if day == base + timedelta(days=1):
        return "Tomorrow"
    if day == base - timedelta(days=1):
        return "Yesterday"
    return f"{weekday(day)} {day_month(day, today=base)}"


# -- typing dates -----------------------------------------------------------------------------


def date_input_pattern() -> str:
    """The locale's short date pattern, with a four-digit year ("dd/MM/yyyy", "M/d/yyyy",
    "dd.MM.yyyy"): what date fields show and what a person types first."""
    pattern = locale().dateFormat(QLocale.FormatType.ShortFormat)
    if "yyyy" not in pattern:
        pattern = pattern.replace("yy", "yyyy")
    return pattern


def date_time_input_pattern() -> str:
    """For date-and-time fields: the short date and the locale's own clock."""
    return f"{date_input_pattern()}  {locale().timeFormat(QLocale.FormatType.ShortFormat)}"


def date_example(example: date = date(1984, 3, 27)) -> str:
    """How a date is typed here, e.g. "27/03/1984" (en_GB) or "3/27/1984" (en_US)."""
    return short_date(example)


def parse_date(text: str, *, past: bool = False) -> date | None:
    """A date typed the way the locale writes it (short or long, four- or two-digit year), or
    year-month-day. ``past``: a two-digit year is the latest such year not in the future (for a
    date of birth). ``None`` when the text is not a date."""
    text = " ".join(text.split())
    if not text:
        return None
    here = locale()
    short = here.dateFormat(QLocale.FormatType.ShortFormat)
    four = date_input_pattern()
    two = four.replace("yyyy", "yy")
    candidates = [four, _lenient(four), _long_without_weekday(),
                  here.dateFormat(QLocale.FormatType.LongFormat), "yyyy-MM-dd"]  # fmt: skip
    for pattern in candidates:
        parsed = here.toDate(text, pattern)
        if parsed.isValid():
            return date(parsed.year(), parsed.month(), parsed.day())
    for pattern in dict.fromkeys((short, two, _lenient(short), _lenient(two))):
        if "yyyy" in pattern:
            continue
        parsed = here.toDate(text, pattern)
        if parsed.isValid():
            year = parsed.year() % 100
            today = date.today()
            century = today.year - today.year % 100
            full = century + year
            if past and full > today.year:
                full -= 100
            try:
                return date(full, parsed.month(), parsed.day())
            except ValueError:
                return None
    return None


def _lenient(pattern: str) -> str:
    """Day and month with one or two digits ("7.3." as well as "07.03.")."""
    return pattern.replace("dd", "d").replace("MM", "M")
