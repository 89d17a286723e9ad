"""Bar charts as SVG (for the HTML report): self-contained, no script, no external font or stylesheet."""

from __future__ import annotations

from html import escape

from services.supervision.document import BarChart

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 36, 48
COLOR = "#2f6fb0"
FONT = 11
#: Rows of a chart drawn sideways (its labels too long for columns): each row's height, and the labels' width.
ROW, LABEL_WIDTH = 22, 180


def label_width(label: str, size: float) -> float:
    """About how wide ``label`` is set at ``size``: a CJK or full-width character is as wide as the size, any other
    about half of it (no font metrics are at hand in the SVG)."""
    return sum(size if ord(char) > 0x2E7F else size * 0.55 for char in label)


def fitted(label: str, width: float, size: float) -> str:
    """``label`` cut with "…" to fit ``width`` (whole when it fits). A closing （…） is kept whole and the name before
    it cut: it is what tells two departments of one name apart (市人力资源和社会保障局（北京市朝阳区）)."""
    if label_width(label, size) <= width:
        return label
    start = label.rfind("（")
    mark = label[start:] if start > 0 and label.endswith("）") else ""
    head = label[:len(label) - len(mark)]
    if not mark or label_width(head[:1] + "…" + mark, size) > width:
        head, mark = label, ""
    while head and label_width(head + "…" + mark, size) > width:
        head = head[:-1]
    return head + "…" + mark


def sideways(chart: BarChart, slot: float, size: float) -> bool:
    """Whether the chart is drawn as rows: a label wider than its column (a monthly feedback's using departments,
    市人力资源和社会保障局 in a column of a tenth of the page) overlapped its neighbours' into one unreadable line."""
    return any(label_width(label, size) > slot for label in chart.labels)


def to_svg(chart: BarChart) -> str:
    """The chart as an inline ``<svg>`` element with a title, value labels and category labels; each bar's
    ``<title>`` holds its whole label and value."""
    count = max(len(chart.values), 1)
    if sideways(chart, (WIDTH - LEFT - RIGHT) / count, FONT):
        return _rows_svg(chart)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / count
    bar = slot * 0.6
    parts = [_open(chart, HEIGHT),
             f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - RIGHT}" y2="{TOP + inner_h}" stroke="#444"/>']
    for index, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        height = inner_h * chart.share(value)
        x = LEFT + index * slot + (slot - bar) / 2
        y = TOP + inner_h - height
        parts.append(f"<g><title>{escape(label)}：{escape(chart.value_label(value))}</title>"
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="{COLOR}"/>'
                     f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="{FONT}">'
                     f'{escape(chart.value_label(value))}</text>'
                     f'<text x="{x + bar / 2:.1f}" y="{TOP + inner_h + 16}" text-anchor="middle" font-size="{FONT}">'
                     f"{escape(label)}</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def _open(chart: BarChart, height: float) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
            f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{escape(chart.title)}">'
            f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">{escape(chart.title)}</text>')


def _rows_svg(chart: BarChart) -> str:
    """One row per label: the label (cut with "…" when too long) on the left, the bar and its value after it."""
    left, span = LABEL_WIDTH + 8, WIDTH - LABEL_WIDTH - 8 - RIGHT - 60
    parts = [_open(chart, TOP + ROW * len(chart.values) + 8)]
    for index, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        y = TOP + index * ROW
        width = span * chart.share(value)
        parts.append(f"<g><title>{escape(label)}：{escape(chart.value_label(value))}</title>"
                     f'<text x="{LABEL_WIDTH}" y="{y + ROW * 0.7:.1f}" text-anchor="end" font-size="{FONT}">'
                     f"{escape(fitted(label, LABEL_WIDTH, FONT))}</text>"
                     f'<rect x="{left}" y="{y + 3}" width="{width:.1f}" height="{ROW - 6}" fill="{COLOR}"/>'
                     f'<text x="{left + width + 4:.1f}" y="{y + ROW * 0.7:.1f}" font-size="{FONT}">'
                     f"{escape(chart.value_label(value))}</text></g>")
    parts.append("</svg>")
    return "".join(parts)
