"""Tables as CSV files a supervisor opens in Excel (the console's 监督 exports, the supervision reports' CSV).

Excel opens a .csv by double-click in the machine's ANSI code page (GBK on a Chinese Windows) unless the file starts
with a UTF-8 byte order mark: without it every Chinese header and name is mojibake. A cell that begins with = + - @
(or a tab or carriage return) is taken for a formula, and a department's or a system's name is whatever an
administrator typed: such a cell is written with a leading apostrophe, which Excel shows as text (OWASP's advice
for CSV injection). A code of digits alone that Excel would read as a number and change is written after a tab,
which Excel keeps as text: a 统一社会信用代码 of 18 digits (as a 机关's often is: its 组织机构代码 is digits, and so
may be its check character) showed as 1.11101E+17 and, saved again, as 111101050000000000, another department.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

#: What makes a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


#: The significant digits Excel keeps of a number: a longer run of digits read as one loses the rest.
EXCEL_DIGITS = 15


def _changed_as_a_number(text: str) -> bool:
    """Whether Excel, reading ``text`` as a number, would show other digits: more than it keeps, or leading zeros
    (a sequence code 000001 read as 1)."""
    return text.isascii() and text.isdigit() and (len(text) > EXCEL_DIGITS or (len(text) > 1 and text[0] == "0"))


def cell(value: object) -> str:
    """A cell's text, never a formula, and a code of digits never read as a number (a number is written as it
    is: the exports hold no negative one)."""
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _changed_as_a_number(text):
        return "\t" + text
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
