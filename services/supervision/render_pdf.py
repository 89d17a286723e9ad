"""A report as PDF, in Chinese, with fpdf2 and Noto Sans SC from PyPI (pylopdf-fonts-zh-cn).

Both install from PyPI with the project, so the PDF renders the same on a fresh machine with no system font:
the font is embedded (subset to the characters used). Charts are drawn with PDF primitives, the same bars as
the HTML's SVG. A character the font has no glyph for (the rare ideographs of CJK Extensions B to I that people's,
places' and departments' names hold) is written as its code point, [U+2003E], and a closing note says so: set in
the font, it was left out of the page without a trace, and a name missing a character reads as another name.
"""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.fonts import FontFace
from pylopdf_fonts_zh_cn import sans_path

from services.supervision.document import BarChart, Document, Heading, Paragraph, Table

FONT = "NotoSansSC"
BAR_RGB = (47, 111, 176)
#: Room (mm) for the start of what a heading or a table's caption introduces: a table's heading row and first row
#: (6 mm lines), or a paragraph's first lines. Less left on the page, the heading or caption goes to the next page.
KEPT_WITH_NEXT = 16.0


#: Said at the end of a PDF that wrote a character as its code point; the HTML and the CSV hold the character.
UNSET_NOTE = ("注：本文件所用字体（Noto Sans SC）没有的字以其 Unicode 编码表示，如 [U+2003E]；"
              "同一报告的 HTML、CSV 格式中为原字。")


def _shown(character: str) -> bool:
    """Whether a character the font lacks is one a reader should see: a letter, digit, mark of punctuation or
    symbol, or an ideograph of planes 2 and 3 (which this Python's Unicode tables may not know yet). Line breaks,
    format characters and variation selectors are not glyphs of their own."""
    return 0x20000 <= ord(character) < 0x40000 or unicodedata.category(character)[0] in "LNPS"


class _Pdf(FPDF):
    def __init__(self, footer_text: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self._footer_text = footer_text
        font = str(sans_path())
        # One face for both: table headings ask for bold, which Noto Sans SC Regular stands in for.
        self.add_font(FONT, "", font)
        self.add_font(FONT, "B", font)
        self._glyphs = self.fonts[FONT.lower()].cmap
        #: The characters written as their code points, for the closing note.
        self.unset: set[str] = set()
        self.set_auto_page_break(auto=True, margin=16)

    def normalize_text(self, text: str) -> str:
        """Every text set on a page (cells, paragraphs, tables, the footer, widths measured) passes here: a
        character the font has no glyph for becomes its code point, which the font has."""
        return "".join(self._set(character) for character in super().normalize_text(text))

    def _set(self, character: str) -> str:
        if ord(character) in self._glyphs or not _shown(character):
            return character
        self.unset.add(character)
        return f"[U+{ord(character):04X}]"

    def footer(self) -> None:
        """The report's title and 第 N 页，共 M 页 (fpdf2 writes the page count in place of its alias once the
        last page is laid out): a printed report said 第 N 页 alone, and a sheet missing from the end of the stack
        (the violations, the last section) could not be told from a report that ended there."""
        self.set_y(-12)
        self.set_font(FONT, size=8)
        self.cell(0, 6, f"{self._footer_text}　第 {self.page_no()} 页，共 {self.str_alias_nb_pages} 页", align="C")


def _chart(pdf: _Pdf, chart: BarChart) -> None:
    width, height = pdf.epw, 60.0
    pdf.set_font(FONT, size=7)
    slot = width / max(len(chart.values), 1)
    if any(pdf.get_string_width(label) > slot for label in chart.labels):
        _rows_chart(pdf, chart)
        return
    if pdf.will_page_break(height + 16):
        pdf.add_page()
    pdf.set_font(FONT, size=11)
    pdf.cell(0, 8, chart.title, align="C", new_x="LMARGIN", new_y="NEXT")
    left, top = pdf.l_margin, pdf.get_y()
    base = top + height
    pdf.set_draw_color(68, 68, 68)
    pdf.line(left, base, left + width, base)
    slot = width / max(len(chart.values), 1)
    bar = slot * 0.6
    pdf.set_font(FONT, size=7)
    for index, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        h = (height - 8) * chart.share(value)
        x = left + index * slot + (slot - bar) / 2
        if h > 0:
            # The bar colour in a local context: a fill colour left set would fill the next table's rows.
            with pdf.local_context(fill_color=BAR_RGB):
                pdf.rect(x, base - h, bar, h, style="F")
        pdf.set_xy(x - 4, base - h - 5)
        pdf.cell(bar + 8, 4, chart.value_label(value), align="C")
        pdf.set_xy(x - 4, base + 1)
        pdf.cell(bar + 8, 4, label, align="C")
    pdf.set_y(base + 8)


def _fitted(pdf: _Pdf, label: str, width: float) -> str:
    """``label`` cut with "…" to fit ``width`` in the current font (whole when it fits)."""
    if pdf.get_string_width(label) <= width:
        return label
    while label and pdf.get_string_width(label + "…") > width:
        label = label[:-1]
    return label + "…"


def _rows_chart(pdf: _Pdf, chart: BarChart) -> None:
    """The chart as one row per label (as the HTML's, services/supervision/charts.py): labels too long for a column
    of their own were printed over each other."""
    row, label_width = 6.0, 55.0
    span = pdf.epw - label_width - 22
    pdf.set_font(FONT, size=11)
    if pdf.will_page_break(8 + 2 * row):
        pdf.add_page()
    pdf.cell(0, 8, chart.title, align="C", new_x="LMARGIN", new_y="NEXT")
    for label, value in zip(chart.labels, chart.values, strict=True):
        if pdf.will_page_break(row):
            pdf.add_page()
        left, top = pdf.l_margin, pdf.get_y()
        pdf.set_font(FONT, size=8)
        pdf.cell(label_width, row, _fitted(pdf, label, label_width - 2), align="R")
        bar = span * chart.share(value)
        if bar > 0:
            with pdf.local_context(fill_color=BAR_RGB):
                pdf.rect(left + label_width + 2, top + 1, bar, row - 2, style="F")
        pdf.set_xy(left + label_width + 4 + bar, top)
        pdf.cell(20, row, chart.value_label(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)


def _keep_with_next(pdf: _Pdf, height: float) -> None:
    """A new page unless ``height`` and the start of what follows fit on this one: a heading (二、按时率) or a table's
    caption (年度综合评分：…) set at the foot of a page, its table all on the next, read on paper as a section
    with nothing in it, and the table overleaf as one without its title."""
    if pdf.will_page_break(height + KEPT_WITH_NEXT):
        pdf.add_page()


def _table(pdf: _Pdf, table: Table) -> None:
    pdf.set_font(FONT, size=9)
    if table.caption:
        _keep_with_next(pdf, 7)
        pdf.cell(0, 7, table.caption, new_x="LMARGIN", new_y="NEXT")
    with pdf.table(headings_style=FontFace(emphasis="B", fill_color=(238, 242, 247)), line_height=6) as out:
        for row in (table.header, *table.rows):
            cells = out.row()
            for text in row:
                cells.cell(text)
    pdf.ln(3)


def render_pdf(document: Document) -> bytes:
    pdf = _Pdf(document.title)
    pdf.set_title(document.title)
    pdf.set_creator("govshare")
    pdf.add_page()
    pdf.set_font(FONT, size=18)
    pdf.multi_cell(0, 10, document.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.multi_cell(0, 6, document.subtitle, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    for block in document.blocks:
        if isinstance(block, Heading):
            pdf.set_font(FONT, size=13)
            _keep_with_next(pdf, 2 + 8 + 7)  # its line, and a caption under it
            pdf.ln(2)
            pdf.multi_cell(0, 8, block.text, new_x="LMARGIN", new_y="NEXT")
        elif isinstance(block, Paragraph):
            pdf.set_font(FONT, size=10)
            pdf.multi_cell(0, 6, block.text, new_x="LMARGIN", new_y="NEXT")
        elif isinstance(block, Table):
            _table(pdf, block)
        elif isinstance(block, BarChart):
            _chart(pdf, block)
    if pdf.unset:
        pdf.set_font(FONT, size=9)
        pdf.ln(4)
        pdf.multi_cell(0, 6, UNSET_NOTE, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
