"""A report as blocks (headings, paragraphs, tables, bar charts), rendered to HTML or PDF by the renderers.

Keeping the content apart from the format means the HTML and the PDF of a report say exactly the same thing,
and a test can check the figures once in the model and then in each rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def percent_number(percent: float) -> str:
    """A percentage (0-100) to one decimal, never 100.0 or 0.0 unless it is: rounded, a service that failed 1 call
    in 2,000 read 100.0% available in the reports, as one that never failed, while the console said 99.9%."""
    text = f"{percent:.1f}"
    if text == "100.0" and percent < 100:
        return "99.9"
    if text == "0.0" and percent > 0:
        return "0.1"
    return text


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class BarChart:
    """Vertical bars, one per label; ``unit`` follows each value (e.g. "%" or "次"). A value of None is a bar with
    nothing to show (a rate of 0 of 0): no bar, labelled "—"."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float | None, ...]
    unit: str = ""
    maximum: float | None = None

    @property
    def scale(self) -> float:
        top = self.maximum if self.maximum is not None else max(
            (value for value in self.values if value is not None), default=0.0)
        return top if top > 0 else 1.0

    def share(self, value: float | None) -> float:
        """The bar's height as a share of the chart's."""
        return 0.0 if value is None else min(value / self.scale, 1.0)

    def value_label(self, value: float | None) -> str:
        if value is None:
            return "—"
        text = percent_number(value) if self.unit == "%" else f"{value:,.0f}"
        return f"{text}{self.unit}"


Block = Heading | Paragraph | Table | BarChart


@dataclass
class Document:
    title: str
    subtitle: str
    blocks: list[Block] = field(default_factory=list)
    file_stem: str = "report"

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)
