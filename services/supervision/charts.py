"""Bar charts as SVG (for the HTML report): self-contained, no script, no external font or stylesheet."""

from __future__ import annotations

from html import escape

from services.supervision.document import BarChart

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 36, 48
COLOR = "#2f6fb0"


def to_svg(chart: BarChart) -> str:
    """The chart as an inline ``<svg>`` element with a title, value labels and category labels."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(chart.values), 1)
    slot = inner_w / count
    bar = slot * 0.6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(chart.title)}">',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15">{escape(chart.title)}</text>',
             f'<line x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - RIGHT}" y2="{TOP + inner_h}" stroke="#444"/>']
    for index, (label, value) in enumerate(zip(chart.labels, chart.values, strict=True)):
        height = inner_h * chart.share(value)
        x = LEFT + index * slot + (slot - bar) / 2
        y = TOP + inner_h - height
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" fill="{COLOR}"/>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="11">'
                     f'{escape(chart.value_label(value))}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{TOP + inner_h + 16}" text-anchor="middle" font-size="11">'
                     f'{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
