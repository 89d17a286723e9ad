"""Calendar months in China Standard Time: the period of a snapshot, a monthly feedback, a yearly report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.runtime.errors import FieldViolation, invalid_argument

#: China Standard Time (no daylight saving): the platform's months begin at midnight in Beijing.
CST = dt.timezone(dt.timedelta(hours=8), "CST")
MIN_YEAR, MAX_YEAR = 2000, 2100


@dataclass(frozen=True, order=True, slots=True)
class Month:
    year: int
    month: int

    @property
    def first_day(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def start(self) -> dt.datetime:
        """Midnight of the month's first day in Beijing, as an aware datetime."""
        return dt.datetime(self.year, self.month, 1, tzinfo=CST)

    @property
    def end(self) -> dt.datetime:
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def label(self) -> str:
        return f"{self.year}-{self.month:02d}"

    @classmethod
    def of(cls, moment: dt.datetime) -> Month:
        local = moment.astimezone(CST)
        return cls(local.year, local.month)

    @classmethod
    def of_date(cls, day: dt.date) -> Month:
        return cls(day.year, day.month)


def month_of(year: int, month: int) -> Month:
    """The month a request names, or INVALID_ARGUMENT naming the bad fields."""
    violations = []
    if not MIN_YEAR <= year <= MAX_YEAR:
        violations.append(FieldViolation("year", f"must be between {MIN_YEAR} and {MAX_YEAR}"))
    if not 1 <= month <= 12:
        violations.append(FieldViolation("month", "must be between 1 and 12"))
    if violations:
        raise invalid_argument(violations)
    return Month(year, month)
