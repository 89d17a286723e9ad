"""Bar charts as inline SVG, rendered on the server: no script, nothing fetched, allowed by the strict CSP.

Colours come from the stylesheet (classes), so the chart follows the page's contrast; every bar carries its value
as text and a <title>, so the chart reads without colour and with a screen reader.
"""

from __future__ import annotations

from html import escape

BAR = 22
GAP = 10
LABEL = 190
WIDTH = 620
#: Characters of a label drawn (13 px type in LABEL px); a longer one is cut with "…", whole in its <title>.
LABEL_CHARS = 13


def _shown(label: str) -> str:
    """``label`` cut to LABEL_CHARS with "…"; a closing （…） is kept whole and the name before it cut: it is what
    tells two departments of one name apart (市人力资源和社会保障局（北京市朝阳区）), and cut off, both bars read the
    same."""
    if len(label) <= LABEL_CHARS:
        return label
    head, mark = _marked(label)
    if mark and len(mark) < LABEL_CHARS - 1:
        return head[:LABEL_CHARS - 1 - len(mark)] + "…" + mark
    return label[:LABEL_CHARS - 1] + "…"


def _marked(label: str) -> tuple[str, str]:
    """``label`` as (name, its closing （…）), or (label, "") without one."""
    start = label.rfind("（")
    return (label[:start], label[start:]) if start > 0 and label.endswith("）") else (label, "")


def bar_chart(rows: list[tuple[str, float]], maximum: float, title: str) -> str:
    """A horizontal bar chart of ``rows`` (label, value ≤ maximum) as an SVG element. Each value is written to two
    decimals, as the evaluations' table beside it writes the scores: to one, 99.99 read 100.0 on its bar, the score
    of a department that missed nothing, beside the table's 99.99."""
    height = len(rows) * (BAR + GAP) + GAP
    span = WIDTH - LABEL - 60
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
             f'width="100%" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(rows):
        y = GAP + index * (BAR + GAP)
        width = 0 if maximum <= 0 else max(0.0, min(value, maximum)) / maximum * span
        parts.append(
            f'<g><title>{escape(label)}: {value:.2f}</title>'
            f'<text class="chart-label" x="{LABEL - 6}" y="{y + BAR * 0.7:.1f}" text-anchor="end">'
            f'{escape(_shown(label))}</text>'
            f'<rect class="chart-bar" x="{LABEL}" y="{y}" width="{width:.1f}" height="{BAR}"></rect>'
            f'<text class="chart-value" x="{LABEL + width + 6:.1f}" y="{y + BAR * 0.7:.1f}">{value:.2f}</text></g>')
    parts.append("</svg>")
    return "".join(parts)
