"""A report as one CSV file for Excel: its title, every paragraph, table and chart in order, in Chinese.

The HTML and the PDF are for reading; a supervisor who compares departments or months works in a spreadsheet and
copied the tables out of them cell by cell. The file is written as the console's other exports are
(services/runtime/excel_csv.py: a byte order mark so Excel reads the Chinese, CRLF, no cell taken for a formula).
A chart is written as the values it draws, so the file says everything the report says.
"""

from __future__ import annotations

from services.runtime.excel_csv import lines_bytes
from services.supervision.document import BarChart, Block, Document, Heading, Paragraph, Table, percent_number

Line = tuple[str, ...]


def _lines(block: Block) -> list[Line]:
    """A block's lines: a heading after a blank line, a paragraph as one cell, a table or a chart after its
    caption or title."""
    if isinstance(block, Heading):
        return [(), (block.text,)]
    if isinstance(block, Paragraph):
        return [(block.text,)]
    if isinstance(block, Table):
        return [*([(block.caption,)] if block.caption else []), block.header, *block.rows]
    if isinstance(block, BarChart):
        return [(block.title,), ("项目", f"数值（{block.unit}）" if block.unit else "数值"),
                *((label, _number(block, value)) for label, value in zip(block.labels, block.values, strict=True))]
    return []


def _number(chart: BarChart, value: float | None) -> str:
    """A chart's value as a number Excel can add up, its unit in the column's header: written as the chart labels
    it ("1,234次"), Excel read every value as text, and a sum of the months came to 0."""
    if value is None:
        return "—"
    return percent_number(value) if chart.unit == "%" else f"{value:.0f}"


def render_csv(document: Document) -> bytes:
    """The report as CSV: the title and subtitle, then each block."""
    lines: list[Line] = [(document.title,), (document.subtitle,)]
    for block in document.blocks:
        lines.extend(_lines(block))
    return lines_bytes(lines)
