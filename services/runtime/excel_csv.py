"""Tables as CSV files a supervisor opens in Excel (the console's 监督 exports, the supervision reports' CSV).

Excel opens a .csv by double-click in the machine's ANSI code page (GBK on a Chinese Windows) unless the file starts
with a UTF-8 byte order mark: without it every Chinese header and name is mojibake. A cell that begins with = + - @
(or a tab or carriage return) is taken for a formula, and a department's or a system's name is whatever an
administrator typed: such a cell is written with a leading apostrophe, which Excel shows as text (OWASP's advice
for CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

#: What makes a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """A cell's text, never a formula (a number is written as it is: the exports hold no negative one)."""
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """The table as CSV (CRLF lines, RFC 4180), UTF-8 with a byte order mark so Excel reads its Chinese."""
    return lines_bytes([header, *rows])


def lines_bytes(lines: Iterable[Sequence[object]]) -> bytes:
    """Lines of any width (a report's titles, tables and blank lines between them) as ``csv_bytes`` writes a
    table: CRLF, every cell made safe, UTF-8 with a byte order mark."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([cell(value) for value in line] for line in lines)
    return out.getvalue().encode("utf-8-sig")
