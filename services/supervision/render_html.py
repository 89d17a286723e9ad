"""A report as one self-contained HTML page (tables, inline SVG charts), in Chinese."""

from __future__ import annotations

from html import escape

from services.supervision.charts import to_svg
from services.supervision.document import BarChart, Document, Heading, Paragraph, Table

STYLE = ("body{font-family:'Noto Sans SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif;"
         "max-width:960px;margin:2em auto;color:#222;line-height:1.6}"
         "h1{font-size:1.6em;text-align:center;margin-bottom:0}.subtitle{text-align:center;color:#555}"
         "table{border-collapse:collapse;width:100%;margin:0.8em 0}"
         "th,td{border:1px solid #999;padding:4px 8px;text-align:left}th{background:#eef2f7}"
         "td.n{text-align:right}caption{caption-side:top;text-align:left;font-weight:bold}")


def _cell(text: str) -> str:
    numeric = text.replace(",", "").replace(".", "", 1).rstrip("%").isdigit()
    return f'<td class="n">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>"


def _table(table: Table) -> str:
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in table.rows)
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(document: Document) -> bytes:
    """The page, UTF-8."""
    body = []
    for block in document.blocks:
        if isinstance(block, Heading):
            body.append(f"<h2>{escape(block.text)}</h2>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{escape(block.text)}</p>")
        elif isinstance(block, Table):
            body.append(_table(block))
        elif isinstance(block, BarChart):
            body.append(f"<figure>{to_svg(block)}</figure>")
    page = (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(document.title)}'
            f"</title><style>{STYLE}</style></head><body><h1>{escape(document.title)}</h1>"
            f'<p class="subtitle">{escape(document.subtitle)}</p>{"".join(body)}</body></html>')
    return page.encode("utf-8")
