"""A department's figures of one month, as kept in its snapshot, with the lookups the rules need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from services.runtime.figures import FigureRow, parse_dimension


@dataclass
class Figures:
    """One department's figures: totals by name, and the dimensioned rows by name."""

    department_code: str
    rows: list[FigureRow] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(row.value for row in self.rows if row.name == name and not row.dimension)

    def breakdown(self, name: str) -> Iterator[tuple[dict[str, str], int]]:
        """The dimensioned rows of ``name`` as (parsed dimension, value)."""
        for row in self.rows:
            if row.name == name and row.dimension:
                yield parse_dimension(row.dimension), row.value


def by_department(rows: Iterable[FigureRow], departments: Iterable[str]) -> dict[str, Figures]:
    """Rows grouped by department, sorted; every listed department present, even with no figure."""
    grouped: dict[str, list[FigureRow]] = defaultdict(list)
    for code in departments:
        grouped[code]
    for row in rows:
        if row.department_code:
            grouped[row.department_code].append(row)
    return {code: Figures(code, sorted(grouped[code], key=lambda r: (r.name, r.dimension)))
            for code in sorted(grouped)}
