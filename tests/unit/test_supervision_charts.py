"""The reports' bar charts stay readable however many, and however long, their labels (the monthly feedback's
using departments)."""

from __future__ import annotations

import io
import re
from html import unescape

from pypdf import PdfReader

from services.supervision.charts import FONT, label_width, to_svg
from services.supervision.document import BarChart, Document
from services.supervision.render_pdf import render_pdf

DEPARTMENTS = ("市人力资源和社会保障局", "市自然资源和规划局", "市市场监督管理局", "市政务服务管理局", "市大数据管理局",
               "市民政局", "市住房和城乡建设局", "市卫生健康委员会", "市生态环境局", "市交通运输局",
               "市退役军人事务局", "市城市管理综合行政执法局")


def _labels(svg: str) -> list[tuple[float, float, str, str]]:
    """(x, y, anchor, text) of every text drawn under the bars (the value labels are numbers with 次)."""
    found = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)" font-size="11">([^<]*)</text>', svg)
    return [(float(x), float(y), anchor, unescape(text)) for x, y, anchor, text in found if not text.endswith("次")]


def test_long_labels_never_overlap_and_each_bar_keeps_its_whole_name() -> None:
    """Twelve using departments in a monthly feedback: their names, centred under columns 48 px apart, ran into
    each other in one unreadable line."""
    chart = BarChart("各使用部门调用次数", DEPARTMENTS, tuple(float(n) for n in range(1, 13)), "次")
    svg = to_svg(chart)
    labels = _labels(svg)
    assert len(labels) == len(DEPARTMENTS)
    for index, (x, y, anchor, text) in enumerate(labels):
        for x2, y2, anchor2, text2 in labels[index + 1:]:
            if abs(y - y2) >= FONT:
                continue
            assert anchor == anchor2 == "middle", (text, text2)
            assert abs(x - x2) >= (label_width(text, FONT) + label_width(text2, FONT)) / 2, (text, text2)
    titles = re.findall(r"<title>([^<：]*)：", svg)
    assert titles == list(DEPARTMENTS)


def test_short_labels_stay_in_columns() -> None:
    months = tuple(f"{m}月" for m in range(1, 13))
    chart = BarChart("按月资源被调用次数", months, tuple(float(m) for m in range(12)), "次")
    assert {anchor for _, _, anchor, _ in _labels(to_svg(chart))} == {"middle"}


def test_the_pdf_draws_long_labels_as_rows() -> None:
    document = Document("反馈", "致：测试")
    document.add(BarChart("各使用部门调用次数", DEPARTMENTS, tuple(float(n) for n in range(1, 13)), "次"))
    text = PdfReader(io.BytesIO(render_pdf(document))).pages[0].extract_text().replace("\x00", "")
    lines = text.splitlines()
    # Each department on a line of its own with its count, not all names run together on one line.
    assert any(line.startswith("市人力资源和社会保障局") and line.endswith("1次") for line in lines), lines
    assert any(line.startswith("市大数据管理局") and line.endswith("5次") for line in lines), lines
