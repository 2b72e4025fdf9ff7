"""The studio's working days: Monday to Friday, less the holidays in ``POSTLINE_HOLIDAYS_FILE``.

The holidays file is plain text, one date a line, with comments::

    2026-12-25   # Christmas
    2026-12-26

Day arithmetic is numpy's business-day calendar (``numpy.busday_count`` / ``busday_offset``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from config.settings import get_settings


class HolidaysFileError(ValueError):
    """The holidays file cannot be read, or a line of it is not a date."""


def read_holidays(path: Path) -> tuple[date, ...]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HolidaysFileError(f"{path}: cannot read the holidays file ({exc.strerror or exc}); fix "
                                "POSTLINE_HOLIDAYS_FILE or the file") from None
    days = []
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            days.append(date.fromisoformat(entry))
        except ValueError:
            raise HolidaysFileError(f"{path}, line {number}: {entry[:40]!r} is not a date; write one YYYY-MM-DD a "
                                    "line (a comment after #)") from None
    return tuple(sorted(set(days)))


@dataclass(frozen=True)
class WorkCalendar:
    holidays: tuple[date, ...] = ()

    def _cal(self) -> np.busdaycalendar:
        return np.busdaycalendar(weekmask="1111100", holidays=list(self.holidays))

    def working_days(self, first: date, end: date) -> int:
        """Working days in ``[first, end)``."""
        return int(np.busday_count(first, end, busdaycal=self._cal())) if end > first else 0

    def turnaround(self, came_in: date, done: date) -> int:
        """Working days after the day something came in, up to and including the day it was done: in on a
        Friday, out on the Monday after is 1; in and out on the same day is 0."""
        return self.working_days(came_in + timedelta(days=1), done + timedelta(days=1))

    def add_working_days(self, day: date, count: int) -> date:
        """The working day ``count`` working days after ``day`` (a day off counts from the next working day)."""
        return np.busday_offset(day, count, roll="forward", busdaycal=self._cal()).astype(date)


def get_calendar() -> WorkCalendar:
    path = get_settings().holidays_file
    return WorkCalendar(read_holidays(path) if path else ())
