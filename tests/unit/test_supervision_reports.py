"""The reports' figures as the authority reads them, from snapshots the integration month cannot stage (several
providers of the same share type)."""

from __future__ import annotations

import datetime as dt

from services.runtime.figures import FigureRow, dimension
from services.supervision.document import Table
from services.supervision.months import Month
from services.supervision.reports import ReportInput, yearly_report
from services.supervision.snapshot import Figures

MONTH = Month(2026, 3)
GENERATED = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
WEIGHTS = {"catalog_on_time": 20.0, "reply_on_time": 20.0, "dispute_on_time": 15.0, "availability": 15.0,
           "freshness": 15.0, "purpose_compliance": 15.0}


def _resources(code: str, **by_share_type: int) -> Figures:
    """A provider's published resources: the total and one row per share type, as the catalog gives them."""
    rows = [FigureRow(code, "catalog.resources", "", sum(by_share_type.values()))]
    rows += [FigureRow(code, "catalog.resources", dimension(share_type=share_type), count)
             for share_type, count in by_share_type.items()]
    return Figures(code, rows)


def _table_after(blocks: list, heading: str) -> Table:
    index = next(i for i, block in enumerate(blocks) if getattr(block, "text", None) == heading)
    return next(block for block in blocks[index:] if isinstance(block, Table))


def test_the_platforms_share_types_add_up_every_providers_resources() -> None:
    """Each provider's row of a share type replaced the previous one's: 8 resources, of which 2 + 1 + 1 shown."""
    snapshots = {"11110100MB00000027": _resources("11110100MB00000027", CONDITIONAL=1, NOT_SHARED=1),
                 "11110100MB0000003A": _resources("11110100MB0000003A", UNCONDITIONAL=2),
                 "11110100MB0000004D": _resources("11110100MB0000004D", UNCONDITIONAL=2),
                 "11110100MB0000005G": _resources("11110100MB0000005G", CONDITIONAL=1),
                 "11110100MB0000006K": _resources("11110100MB0000006K", CONDITIONAL=1)}
    data = ReportInput([MONTH], {MONTH: snapshots}, [], {}, WEIGHTS, GENERATED)
    blocks = yearly_report(2026, None, data).blocks
    assert ("编目资源数（年末）", "8") in _table_after(blocks, "一、总体情况").rows
    assert _table_after(blocks, "四、共享类型").rows == (("无条件共享", "4"), ("有条件共享", "3"), ("不予共享", "1"))
    chart = next(block for block in blocks if getattr(block, "title", None) == "编目资源共享类型分布")
    assert chart.values == (4.0, 3.0, 1.0)
