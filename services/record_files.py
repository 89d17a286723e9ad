"""A department's file of foundation records, as `govshare load-records` reads it.

Data officers hold their records in spreadsheets and database exports, not in code: LoadRecords alone left them to
write a program for every load. The file is CSV as Excel and database tools write it: a first line naming the
dataset's items (their machine names, as ListDatasets gives them), a record a line, an empty cell for an item the
record does not have. Excel on Chinese Windows writes "CSV" in GBK, not UTF-8: read as UTF-8, every Chinese value
was refused or the file stopped at its first name, so the encoding is found before anything is sent (UTF-8 with or
without its BOM, else GB18030, of which GBK and GB2312 are parts), and a file that is neither is refused whole.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from services.foundation.datasets import Dataset
from services.foundation.loading import EARLIEST_AS_OF, lines_taken_in, values_hold_line_breaks
from services.foundation.validation import BYTE_ORDER_MARK, CHINA_TIME, ascii_form, iso_date, written_moment
from services.runtime.errors import written_otherwise

#: ``--encoding``: "auto" finds which of the others the file is in.
ENCODINGS = ("auto", "utf-8", "gb18030")
#: The names an officer gives the encodings by (the help and the docs call Excel's Chinese CSV GBK): GB18030 holds
#: GBK and GB2312 whole, so a file in either is read as it; ``--encoding gbk`` was refused.
_ALIASES = {"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030", "utf8": "utf-8", "utf-8-sig": "utf-8"}
#: A column of this name is each record's as-of time (RecordInput.as_of_time), not an item.
AS_OF_COLUMN = "as_of_time"
#: The columns ``--rejected`` writes before each rejected record (its line in the file loaded, why it was rejected).
REJECTION_COLUMNS = ("line", "reasons")
#: An as-of time written without an offset is Beijing time, as the departments' clocks are: UTC+8, as the platform
#: says times (validation.CHINA_TIME). Asia/Shanghai's history made a 1988-06-01 of the file 1988-05-31T15:00Z (the
#: summer time of 1986-1991), said back as 1988-05-31 23:00+08:00, and a date before 1901 8 h 5 min 43 s ahead.
_BEIJING = CHINA_TIME
_READ_BYTES = 1 << 20
#: The first year an as-of time may be of, as the platform takes them.
_EARLIEST_YEAR = EARLIEST_AS_OF.year
#: What to do with a file whose lines are in two encodings (one export appended to another).
_MIXED = ("its lines are in two encodings (lines of one export appended to another's?): save the whole file in one, "
          "as CSV UTF-8, or load its parts apart")


class FileProblem(Exception):
    """A file that cannot be loaded at all (nothing of it is sent): what is wrong and how to fix it."""


@dataclass
class FileRow:
    """One record of the file: its first line, its cells, and what the file itself gets wrong in it (``problem``,
    reported as a rejection without being sent)."""

    line: int
    cells: list[str]
    values: dict[str, str] = field(default_factory=dict)
    as_of: dt.datetime | None = None
    problem: str = ""


def file_encoding(path: Path, encoding: str) -> str:
    """The codec ``path`` is read with; FileProblem when it is not in ``encoding`` ("auto": UTF-8, else GB18030).

    The whole file is decoded once before a record is sent: a byte that does not decode on line 90,000 otherwise
    stopped a load half done."""
    encoding = _ALIASES.get(encoding.strip().lower(), encoding.strip().lower())
    if encoding not in ENCODINGS:
        raise FileProblem(f"--encoding {encoding!r}: one of {', '.join(ENCODINGS)} (gbk and gb2312 are read as "
                          "gb18030, which holds them)")
    if (kind := _not_text(path)) is not None:
        raise FileProblem(f"{path} {kind}: save it as CSV UTF-8 (in Excel: 另存为, 'CSV UTF-8 (逗号分隔)')")
    if encoding == "auto":
        if (line := _decodes(path, "utf-8-sig")) is None:
            return "utf-8-sig"
        with open(path, "rb") as file:
            if file.read(3) == codecs.BOM_UTF8:
                raise FileProblem(f"{path}: begins as UTF-8 but line {line} is not UTF-8 (GBK?): {_MIXED}")
        if (other := _decodes(path, "gb18030")) is None:
            return "gb18030"
        if other != line:
            # Lines of a GBK file appended to a UTF-8 one (or the other way round): "neither UTF-8 nor GB18030 (line
            # 2)" named a UTF-8 line, which the officer's editor showed as right, and nothing of the mix.
            raise FileProblem(f"{path}: line {line} is not UTF-8 (GBK?) and line {other} is not GBK (UTF-8?): "
                              f"{_MIXED}")
        raise FileProblem(f"{path}: neither UTF-8 nor GB18030/GBK (line {line}): save it as CSV UTF-8")
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    if (line := _decodes(path, codec)) is not None:
        other = "gb18030" if encoding == "utf-8" else "utf-8"
        raise FileProblem(f"{path}: line {line} is not {encoding.upper()}: pass --encoding {other} (or auto) if "
                          f"the file is in {other.upper()}")
    return codec


#: The first bytes of what an officer may give instead of the CSV file, and what it is: the workbook itself was
#: refused "neither UTF-8 nor GB18030/GBK (line 1)", as if it were a text file in another encoding.
_OTHER_FORMATS = ((b"PK\x03\x04", "is an Excel workbook (.xlsx) or another zip archive, not a CSV file"),
                  (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "is an Excel 97-2003 workbook (.xls), not a CSV file"),
                  (codecs.BOM_UTF16_LE, "is in UTF-16 (Excel's 'Unicode text'), which is not read"),
                  (codecs.BOM_UTF16_BE, "is in UTF-16, which is not read"))


def _not_text(path: Path) -> str | None:
    """What ``path`` is when its first bytes say it is one of _OTHER_FORMATS; None otherwise."""
    with open(path, "rb") as file:
        start = file.read(8)
    return next((kind for magic, kind in _OTHER_FORMATS if start.startswith(magic)), None)


def _decodes(path: Path, codec: str) -> int | None:
    """None when the whole of ``path`` decodes as ``codec``; else the line of the first byte that does not."""
    decoder = codecs.getincrementaldecoder(codec)()
    lines = 1
    with open(path, "rb") as file:
        while chunk := file.read(_READ_BYTES):
            try:
                lines += decoder.decode(chunk).count("\n")
            except UnicodeDecodeError as error:
                return lines + chunk[:error.start].count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return lines
    return None


def header_of(names: list[str], dataset: Dataset) -> list[str]:
    """The first line's column names, checked against ``dataset``: every name an item (or the as-of column), none
    twice, every required item present. FileProblem names each problem at once.

    A column without a name is no column (``""``): Excel writes one for every column of the sheet's used range, so a
    sheet whose cells beyond the data were once formatted or cleared leaves a file whose lines end with commas,
    and such a file was refused whole, "'', '' are not items …;  named twice". A value under it is its record's
    rejection (:func:`_row`).

    A name typed with a Chinese input method's full-width forms (ｃｉｔｉｚｅｎ＿ｉｄ) or holding a character nobody
    sees (a zero-width space copied from a document) is the name it shows: such a header was refused as naming no
    item, quoting a name that looked right. One that differs from an item's name only by case or blanks for
    underscores (Birth Date) is refused naming the item."""
    columns = [_plain(name) for name in names]
    named = [name for name in columns if name]
    if _a_record(columns, dataset):
        raise FileProblem("the first line is a record, not the names of the columns (a file exported without them?): "
                          "add a first line naming the item of each column, in the order of its values, as "
                          f"ListDatasets names them ({','.join(dataset.item_order)}; and {AS_OF_COLUMN})")
    problems = []
    if unknown := [n for n in named if n not in dataset.item_names and n != AS_OF_COLUMN]:
        verb = "is not an item" if len(unknown) == 1 else "are not items"
        # The as-of column too: "As Of Time" was refused naming no column meant, as "Birth Date" was not.
        meant = {n: m for n in unknown
                 if (m := re.sub(r"[\s-]+", "_", n.lower())) in dataset.item_names or m == AS_OF_COLUMN}
        apart = {plain: (raw.strip(), how) for raw, plain in zip(names, columns, strict=True)
                 if plain in unknown and (how := _separated_otherwise(raw, dataset))}
        said = ", ".join(f"{apart[n][0]!r} (its names are separated by {apart[n][1]})" if n in apart else
                         f"{n!r} (did you mean {meant[n]}?)" if n in meant else repr(n) for n in unknown)
        problems.append(f"{said} {verb} of {dataset.name} (its items: "
                        f"{', '.join(dataset.item_order)}; and {AS_OF_COLUMN})")
    if twice := sorted({n for n in named if named.count(n) > 1}):
        problems.append(f"{', '.join(twice)} named twice")
    if missing := [item.name for item in dataset.items if item.required and item.name not in columns]:
        problems.append(f"no column of the required item{'s' * (len(missing) > 1)} {', '.join(missing)}")
    if problems:
        raise FileProblem("the first line must name the items of each column: " + "; ".join(problems))
    return columns


#: Six digits in a row: a 公民身份号码, a 统一社会信用代码, a date, a phone number; never an item's name.
_DIGITS_IN_A_ROW = re.compile(r"[0-9]{6}")


def _a_record(columns: list[str], dataset: Dataset) -> bool:
    """Whether a first line is a record rather than names (a file exported without its column names): it names no
    item and holds a value no name holds (six digits in a row). Refused as names, its every value was quoted in the
    refusal ("'11010119491001001X', '张建国', … are not items of population"), a person's 公民身份号码 and name on
    the terminal and in the log of the job that ran the load."""
    named = [name for name in columns if name]
    if any(name in dataset.item_names or name == AS_OF_COLUMN for name in named):
        return False
    return any(_DIGITS_IN_A_ROW.search(ascii_form(name)) for name in named)


#: What a first line's names may be separated by instead of a comma, and what to do about it.
_OTHER_SEPARATORS = {
    "\uff0c": "full-width commas (，, typed with a Chinese input method): type them as commas (,)",
    "\u3001": "enumeration commas (、): type them as commas (,)",
    "\t": "tabs (a tab-separated export, .txt or .tsv): save the file as CSV, comma-separated",
    ";": "semicolons: save the file as CSV, comma-separated",
}


def _separated_otherwise(raw: str, dataset: Dataset) -> str:
    """What separates the items' names ``raw`` holds instead of a comma (one of _OTHER_SEPARATORS), or "".

    A first line typed with a Chinese input method on (citizen_id，name，sex) or written by a tab-separated export is
    read as one column: it was refused as "'citizen_id,name,sex' is not an item", its full-width commas shown as
    the commas they stand for (and its tabs not at all), a line that looked right."""
    for separator, said in _OTHER_SEPARATORS.items():
        parts = [_plain(part) for part in raw.split(separator)]
        if len(parts) > 1 and any(part in dataset.item_names or part == AS_OF_COLUMN for part in parts):
            return said
    return ""


def _values_separated_otherwise(cells: list[str], named: int) -> str:
    """What separates a short line's values instead of commas (one of _OTHER_SEPARATORS), when split by it the
    line has a value for each named column; else "". A record typed with the input method on was rejected "1 values
    where the first line names 6 columns", its full-width commas looking like the commas of every other line."""
    for separator, said in _OTHER_SEPARATORS.items():
        # Twice at least: an address holding one full-width comma on a line short of a value is not so separated.
        if sum(cell.count(separator) for cell in cells) >= 2 and \
                sum(len(cell.split(separator)) for cell in cells) >= named:
            return said
    return ""


def _plain(name: str) -> str:
    """A column's name as it shows: trimmed, in ASCII for full-width forms, without characters nobody sees."""
    meant = written_otherwise(name.strip())
    return (meant[0] if meant else name).strip()


def rows_of(path: Path, codec: str, dataset: Dataset) -> tuple[list[str], Iterator[FileRow]]:
    """The header and the file's records (blank lines skipped), each with what it holds for the platform."""
    file = open(path, encoding=codec, newline="")  # noqa: SIM115 - closed when the rows are read
    reader = csv.reader(file)
    try:
        # Blank lines before the names are skipped, as blank lines between records are: a sheet whose first row
        # was left empty (above the column names, or where a deleted title was) was refused naming no column.
        first = next((cells for cells in reader if any(cell.strip() for cell in cells)), None)
        if first is None:
            raise FileProblem(f"{path} is empty: its first line must name the items of each column")
        skip = _rejection_columns(first, dataset)
        header = header_of(first[skip:], dataset)
    except FileProblem:
        file.close()
        raise
    except csv.Error as error:
        file.close()
        raise FileProblem(f"{path}, line {reader.line_num}: {unreadable(reader.line_num, reader.line_num, error)} "
                          "(the first line names the items of each column)") from error

    def rows() -> Iterator[FileRow]:
        with file:
            line = reader.line_num + 1
            #: The line that named the columns again in another order than line 1 (or named one line 1 does not),
            #: and the name of each of its cells: the lines after it are read by them.
            layout: tuple[int, list[str]] | None = None
            while (cells := _next_cells(reader)) is not None:
                if isinstance(cells, csv.Error):
                    yield FileRow(line, [], problem=unreadable(line, reader.line_num, cells))
                elif (names := _names_again(cells[skip:], header, dataset)) is not None:
                    # A file of rejections holds every record in line 1's order (_laid_out), such a line too.
                    layout = None if skip or _in_order(names, header) else (line, names)
                    yield FileRow(line, cells[skip:], problem=_named_again(
                        layout is not None, _not_in(names, header), _not_in(header, names, AS_OF_COLUMN)))
                elif any(cell.strip() for cell in cells[skip:]):
                    if layout is not None:
                        row = _laid_out(line, cells[skip:], layout, header, skip)
                    else:
                        row = _row(line, cells[skip:], header, skip)
                    if reader.line_num > line:
                        broken = _broken_values(row, reader.dialect.delimiter) if not row.problem else []
                        said = values_hold_line_breaks(line, reader.line_num, broken) if broken \
                            else spans_lines(line, reader.line_num)
                        row.problem = "; ".join(filter(None, (said, row.problem)))
                    yield row
                line = reader.line_num + 1

    return header, rows()


def _next_cells(reader: Iterator[list[str]]) -> list[str] | csv.Error | None:
    """The next record's cells; the csv.Error of a record csv cannot read (it goes on at the line after it); None at
    the end of the file."""
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as error:
        return error


def unreadable(first: int, last: int, error: csv.Error) -> str:
    """The problem of a record csv cannot read, running from line ``first`` to line ``last``.

    Such a record (a value past csv's limit of 131,072 characters: a pasted document, or a double quote opened and
    not closed taking in the lines after it) stopped the whole load, exit 2, "cannot be read after line N" naming
    the last line sent: the records read with it in its call were not sent, nor any after it, and a load resumed
    at that line met it again. It is that record's rejection, as the bulk loader's is; the reading goes on after
    it."""
    lines = "the line" if last <= first else f"the record runs from line {first} to line {last} and"
    if "field limit" in str(error):
        return (f"{lines} cannot be read as CSV ({error}): a value longer than any item takes, or a double quote "
                "opened and not closed that takes in the lines after it: fix it and load it again")
    return f"{lines} cannot be read as CSV ({error}): fix it and load it again"


def spans_lines(first: int, last: int) -> str:
    """The problem of a record whose values hold line breaks, running from line ``first`` to line ``last``.

    A value between double quotes may span lines; a quote opened by mistake and not closed (a name typed "张三, an
    address cut by an export) takes in every line after it, up to the next quote, as that value. The command
    rejected such a record for its count of values alone ('line 2: 2 values where the first line names 7
    columns'): the lines it took in were neither loaded nor rejected, and nothing said where they went. No item
    takes a line break (as the bulk loader's reason says), so the record is rejected saying which lines it took."""
    return (f"the record runs from line {first} to line {last} (a value holds line breaks: a double quote opened "
            "and not closed takes in the lines after it as part of that value, and they are not read as records): "
            "close the quote, or remove the line breaks")


def _broken_values(row: FileRow, delimiter: str) -> list[str]:
    """The items of ``row`` (read by its column names) whose values hold a line break typed in a cell, or none when a
    value holding one may be lines taken in by a quote left open (lines_taken_in)."""
    broken = [item for item, value in row.values.items() if "\n" in value or "\r" in value]
    return [] if any(lines_taken_in(row.values[item], delimiter) for item in broken) else broken


def _rejection_columns(first: list[str], dataset: Dataset) -> int:
    """How many columns of a file ``--rejected`` wrote precede its records' (REJECTION_COLUMNS), 0 for another file.

    The command writes the rejected records "to correct and load again", each after its line and reasons; loaded
    again as written, the file was refused whole, "'line', 'reasons' are not items of population", and the officer
    had to delete two columns of every file of corrections first. They are read as what they are, and not sent."""
    names = tuple(_plain(name) for name in first[:len(REJECTION_COLUMNS)])
    if names != REJECTION_COLUMNS or any(name in dataset.item_names for name in names):
        return 0
    return len(REJECTION_COLUMNS)


def _row(line: int, cells: list[str], header: list[str], skip: int = 0) -> FileRow:
    """A record of the file; a line short of a named column, or holding a value under no name, is its problem.
    ``cells`` are those after the ``skip`` columns of a file of rejected records (their line and reasons), which
    the column numbers said count too.

    Cells past the header or under a nameless column are no values while they are empty (Excel's trailing commas,
    on some lines and not others): a record whose line ended ",," was rejected for its count of values."""
    row = FileRow(line, cells)
    named = max((index + 1 for index, name in enumerate(header) if name), default=0)
    if len(cells) < named:
        row.problem = _too_few(len(cells) + skip, "the first line", named + skip)
        if how := _values_separated_otherwise(cells, named):
            row.problem += f": its values are separated by {how}"
        return row
    if unnamed := [index + 1 + skip for index, cell in enumerate(cells)
                   if cell.strip() and (index >= len(header) or not header[index])]:
        row.problem = (f"column {unnamed[0]} holds a value but has no name in the first line: name its item "
                       "there, or empty the column")
        return row
    for name, written in zip(header, cells, strict=False):
        cell = _excel_text(written)
        if name == AS_OF_COLUMN:
            row.as_of, row.problem = _as_of(cell)
        elif name and cell != "":
            row.values[name] = cell
    return row


def _too_few(count: int, naming: str, named: int) -> str:
    """The problem of a line with fewer values than the line naming its columns (``naming``) names."""
    return f"{count} value{'s' * (count != 1)} where {naming} names {named} columns"


def _names_again(cells: list[str], header: list[str], dataset: Dataset) -> list[str] | None:
    """For a line naming columns again (another export's first line: two files joined into one, copy /b a.csv+b.csv
    or cat), the name each of its cells gives ("": none); None for any other line.

    Such a line was rejected as a record whose every value was wrong ("citizen_id: 公民身份号码 must have 18
    characters, got 10; sex: 'sex' is not in its code table; …"), which did not say what the line was; and when it
    named the columns in another order, the lines after it were read in line 1's order without a word: a name read
    as an address and an address as a name, both text, loaded so.

    It may name items line 1 does not (the other export had more columns): such a line was read as a record, and
    the lines after it in line 1's columns, a value of the item line 1 lacks loaded as the item line 1 has there
    (an address_region_code as the address)."""
    names = [_plain(cell.lstrip(BYTE_ORDER_MARK)) for cell in cells]
    named = [name for name in names if name]
    if len(named) < 2 or len(set(named)) < len(named) or \
            any(name not in header and name not in dataset.item_names and name != AS_OF_COLUMN for name in named):
        return None
    return names


def _in_order(names: list[str], header: list[str]) -> bool:
    """Whether a line naming the columns again names each of line 1's where line 1 does (the lines after it read
    alike). One naming fewer is not: its records, a value short of line 1's, were each rejected "7 values where the
    first line names 8 columns" while the line said only to delete it."""
    return all(position < len(header) and header[position] == name for position, name in enumerate(names) if name) \
        and {name for name in header if name} <= set(names)


def _not_in(names: list[str], other: list[str], *but: str) -> list[str]:
    """The items ``names`` names that ``other`` does not (but for ``but``)."""
    return [name for name in names if name and name not in other and name not in but]


def _named_again(reordered: bool, lacking: list[str], without: list[str]) -> str:
    """The problem of a line naming the columns again (:func:`_names_again`); ``lacking``: the items it names that
    line 1 does not; ``without``: those line 1 names and it does not, which the records after it are loaded without
    (as a file without their columns is, of which the command says so at the end: of these lines it said nothing,
    and each record loaded from them lost its address without a word)."""
    said = ("the line names the columns, as a first line does (another file's first line: files joined?): it is no "
            "record")
    if not reordered:
        return f"{said}; delete it"
    if lacking:
        said += (f"; it names {', '.join(lacking)}, which the first line does not: a record after it holding a value "
                 f"of {'it' if len(lacking) == 1 else 'them'} is rejected (loaded without it, the record would lose "
                 "it: a load gives each record whole): load those lines as a file of their own")
    if without:
        them = "it" if len(without) == 1 else "them"
        said += (f"; it has no column of {', '.join(without)}: the records after it are loaded without {them}, "
                 f"whatever they held before (a load gives each record whole)")
    return (f"{said}; the lines after it are read in its order of the columns, and written to --rejected in line 1's "
            "order")


def _laid_out(line: int, cells: list[str], layout: tuple[int, list[str]], header: list[str],
              skip: int) -> FileRow:
    """A record after the line ``layout[0]`` that named the columns in another order (``layout[1]``, their names):
    its cells moved to the columns of line 1 they stand under, then read as a record of line 1's (so --rejected
    writes it as line 1 orders them, a value of an item line 1 does not name after them). A value of such an item
    is the record's rejection: loaded without it, the record would lose it."""
    named_at, names = layout
    moved = [""] * len(header)
    extra = []
    lacking = []
    for position, cell in enumerate(cells):
        name = names[position] if position < len(names) else ""
        if name and name in header:
            moved[header.index(name)] = cell
        else:
            extra.append(cell)
            if name and cell.strip():
                lacking.append(name)
    moved += [cell for cell in extra if cell.strip()]
    if len(cells) < (named := max(position + 1 for position, name in enumerate(names) if name)):
        return FileRow(line, moved, problem=_too_few(len(cells) + skip, f"line {named_at}", named + skip))
    if lacking:
        return FileRow(line, moved, problem=(
            f"{', '.join(lacking)}: line {named_at} names {'it' if len(lacking) == 1 else 'them'} and the first line "
            f"does not: loaded without {'it' if len(lacking) == 1 else 'them'}, the record would lose "
            f"{'it' if len(lacking) == 1 else 'them'}: load the lines after line {named_at} as a file of their own"))
    return _row(line, moved, header, skip)


#: A cell a department system wrote as Excel's formula of a text (="110101199001011234"), so that Excel shows an
#: 18-digit code as the text it is and not as 1.10101E+17.
_FORMULA_TEXT = re.compile(r'\s*="((?:[^"]|"")*)"\s*')


def _excel_text(cell: str) -> str:
    """The text a cell written ="…" shows (its doubled quotes single), else the cell: sent as it was, every
    公民身份号码 of such an export was rejected 'must have 18 characters, got 21'."""
    found = _FORMULA_TEXT.fullmatch(cell)
    return found.group(1).replace('""', '"') if found else cell


def _real(day: str) -> bool:
    """Whether the calendar has ``day`` (YYYY-MM-DD)."""
    try:
        dt.date.fromisoformat(day)
    except ValueError:
        return False
    return True


def _as_of(cell: str) -> tuple[dt.datetime | None, str]:
    """The as-of time of a cell: ISO 8601 (a date alone is its midnight), or a date and time as a spreadsheet writes
    them, year first (2026/11/30 8:00, 2026年11月30日: a column Excel in a Chinese locale formats as a date-time,
    whose every record was rejected 'is not a time'); Beijing time when no offset is given."""
    text = cell.strip()
    if not text:
        return None, ""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        if (written := written_moment(text)) is None:
            if (day := iso_date(re.split(r"[\sT]", text, maxsplit=1)[0])) is not None and not _real(day):
                # 2026-11-31, 2026/2/29: a day the calendar has not was said to be "not a time (e.g. 2026-11-30…)",
                # of a cell written in that very form; a date item so written is "not a real calendar date".
                return None, f"{AS_OF_COLUMN}: {day} is not a real calendar date"
            return None, f"{AS_OF_COLUMN}: {text!r} is not a time (e.g. 2026-11-30 or 2026-11-30T08:00:00+08:00)"
        when = written
    when = when if when.tzinfo else when.replace(tzinfo=_BEIJING)
    # Said here, as the platform would say it: in UTC, year 1 and year 9999 are out of Python's range, and the
    # command ended in a traceback (OverflowError) on a database's time for none (.NET's 0001-01-01 00:00:00).
    if when.year < _EARLIEST_YEAR:
        return None, (f"{AS_OF_COLUMN}: {text} is before {_EARLIEST_YEAR} (a database's time for none?): leave the "
                      "cell empty to have the record as of its load")
    if when.year >= dt.MAXYEAR:
        return None, f"{AS_OF_COLUMN}: {text} is in the future"
    return when, ""
