"""The reports' figures as the authority reads them, from snapshots the integration month cannot stage (several
providers of the same share type)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace

from govshare.supervision.v1 import supervision_pb2 as sup
from services.runtime.figures import FigureRow, dimension
from services.supervision.charts import FONT, LABEL_WIDTH, fitted, label_width
from services.supervision.document import Paragraph, Table
from services.supervision.evaluation import evaluate
from services.supervision.months import CST, Month
from services.supervision.reports import ReportInput, Retirement, monthly_feedback, yearly_report
from services.supervision.snapshot import Figures
from services.supervision.violations import Violation

MONTH = Month(2026, 3)
GENERATED = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
WEIGHTS = {"catalog_on_time": 20.0, "reply_on_time": 20.0, "dispute_on_time": 15.0, "availability": 15.0,
           "freshness": 15.0, "purpose_compliance": 15.0}
#: The same weights in force in every month (a report's input gives each month's own).
EVERY_MONTH: defaultdict[Month, dict[str, float]] = defaultdict(lambda: WEIGHTS)


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
    data = ReportInput([MONTH], {MONTH: snapshots}, [], {}, EVERY_MONTH, GENERATED)
    blocks = yearly_report(2026, None, data).blocks
    assert ("编目资源数（3月末）", "8") in _table_after(blocks, "一、总体情况").rows  # 2026 is not over
    assert _table_after(blocks, "四、共享类型").rows == (("无条件共享", "4"), ("有条件共享", "3"), ("不予共享", "1"))
    chart = next(block for block in blocks if getattr(block, "title", None) == "编目资源共享类型分布")
    assert chart.values == (4.0, 3.0, 1.0)


def test_a_violations_evidence_reads_in_chinese_with_its_rate_as_a_percentage() -> None:
    """The evidence column showed the detector's keys: "calls=8；failed_calls=3；failure_rate=0.375；…" and
    "purpose=WORK_REFERENCE" in a report written for the authority in Chinese."""
    provider, user = "11110100MB00000027", "11110100MB0000007N"
    violations = [
        Violation(provider, MONTH, sup.VIOLATION_RULE_DATA_NOT_PROVIDED, "resource:301901/000002:endpoint",
                  {"resource": "301901/000002", "failed_calls": "3", "calls": "8", "failure_rate": "0.375"}),
        Violation(user, MONTH, sup.VIOLATION_RULE_PURPOSE_NOT_GRANTED,
                  "system:sys-1:resource:101001/000001:purpose:WORK_REFERENCE",
                  {"system": "sys-1", "resource": "101001/000001", "purpose": "WORK_REFERENCE",
                   "refused_calls": "2"})]
    data = ReportInput([MONTH], {MONTH: {provider: Figures(provider), user: Figures(user)}}, violations,
                       {provider: "市公安局", user: "市民政局"}, EVERY_MONTH, GENERATED)
    rows = _table_after(yearly_report(2026, None, data).blocks, "六、违规情况").rows
    assert [row[-1] for row in rows] == [
        "资源代码：301901/000002；调用次数：8；失败调用次数：3；失败率：37.5%",
        "业务系统：sys-1；资源代码：101001/000001；用途：工作参考；被拒调用次数：2"]
    assert [row[2] for row in rows] == ["未向共享平台及时提供共享信息", "超出授权用途使用共享信息"]


def test_the_score_is_the_same_under_proportional_weights_however_small() -> None:
    """Weights of 5e-324 each (allowed: 0-100, not all 0) lost their precision once multiplied by a rate: a
    department with half its calls failed scored 83.33 instead of the 91.67 it has under equal weights."""
    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, "queries.served", "", 4), FigureRow(code, "queries.failed", "", 2),
                             FigureRow(code, "queries.served_to", dimension(department=code, purpose="WORK_REFERENCE",
                                                                            resource="r", result="ANSWERED"), 2)])
    for weight in (15.0, 1e-300, 5e-324, 100.0):
        assert evaluate(figures, dict.fromkeys(WEIGHTS, weight), 0).score == 91.67, weight
    assert evaluate(figures, {**dict.fromkeys(WEIGHTS, 0.0), "availability": 5e-324}, 0).score == 50.0


def test_a_score_short_of_every_indicator_met_is_never_100_nor_one_partly_met_0() -> None:
    """Rounded to two decimals, 19,999 of 20,000 applications replied to on time (weighed 20 of 100) scored 100.00, tied
    with a department that missed nothing, and a department that met 1 of 100,000 of its one weighed indicator
    scored 0.00, as one that met none."""
    code = "11110100MB00000027"
    late = Figures(code, [FigureRow(code, name, "", value) for name, value in (
        ("applications.replied_on_time", 19_999), ("applications.replied_late", 1))])
    assert evaluate(late, WEIGHTS, 0).score == 99.99
    assert evaluate(Figures(code), WEIGHTS, 0).score == 100.0
    scarce = Figures(code, [FigureRow(code, name, "", value) for name, value in (
        ("applications.replied_on_time", 1), ("applications.replied_late", 99_999))])
    only_replies = {**dict.fromkeys(WEIGHTS, 0.0), "reply_on_time": 20.0}
    assert evaluate(scarce, only_replies, 0).score == 0.01
    none = Figures(code, [FigureRow(code, "applications.replied_late", "", 3)])
    assert evaluate(none, only_replies, 0).score == 0.0


def test_a_mean_score_short_of_every_month_met_is_never_100_in_the_platforms_ranking() -> None:
    """A department that replied late to 1 of 20,000 applications in one month (99.99) and missed nothing in the other
    averaged 99.995, shown 100.00 in the platform's 平均评分, the figure of the department that missed nothing above
    it: the supervisor read a tie ranked apart."""
    late, perfect = "11110100MB00000027", "11110100MB0000011X"
    january, february = Month(2026, 1), Month(2026, 2)
    short = Figures(late, [FigureRow(late, name, "", value) for name, value in (
        ("applications.replied_on_time", 19_999), ("applications.replied_late", 1))])
    data = ReportInput([january, february], {january: {late: Figures(late), perfect: Figures(perfect)},
                                             february: {late: short, perfect: Figures(perfect)}},
                       [], {late: "市公安局", perfect: "市民政局"}, EVERY_MONTH, GENERATED)
    ranking = _table_after(yearly_report(2026, None, data).blocks, "五、部门评价")
    assert [row[1] for row in ranking.rows] == ["100.00", "99.99"]
    assert ranking.rows[0][0].startswith("市民政局")


def test_a_catalogue_updated_late_is_not_said_to_be_not_updated() -> None:
    """catalog.updates_overdue counts the mandate changes with no catalogue work by their due date, work that came
    later included: the yearly report labelled them 逾期未更新目录, and a department that updated its catalogue a day
    late read as one that had not updated it."""
    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, name, "", value) for name, value in (
        ("catalog.updates_due", 2), ("catalog.updates_on_time", 1), ("catalog.updates_overdue", 1))])
    data = ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH, GENERATED)
    overall = dict(_table_after(yearly_report(2026, code, data).blocks, "一、总体情况").rows)
    assert overall["未按期更新目录（含逾期更新）"] == "1"
    assert "逾期未更新目录" not in overall


def test_the_disputes_answered_late_are_counted_beside_the_others() -> None:
    """The yearly report and the monthly feedback listed disputes answered on time and unanswered past due, not
    those answered late: the year's 1 + 0 did not add up to the 疑义答复 rate's 应办 3 two sections below."""
    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, name, "", value) for name, value in (
        ("disputes.received", 3), ("disputes.answered_on_time", 1), ("disputes.answered_late", 2))])
    data = ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH, GENERATED)
    yearly = yearly_report(2026, code, data).blocks
    assert ("疑义答复", "1", "3", "33.3%") in _table_after(yearly, "二、按时率").rows
    assert ("逾期答复疑义", "2") in _table_after(yearly, "一、总体情况").rows
    assert ("逾期答复疑义", "2") in _table_after(monthly_feedback(MONTH, code, data).blocks, "一、总体情况").rows


def test_calls_made_are_not_said_to_be_of_other_departments_resources() -> None:
    """queries.made counts every call a department made, to its own resources too (市公安局 querying its 在侦案件
    resource through the platform): the report called it 调用他部门资源次数 and said so of calls to itself."""
    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, "queries.made", "", 1), FigureRow(code, "queries.served", "", 1)])
    blocks = yearly_report(2026, code, ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"},
                                                   EVERY_MONTH, GENERATED)).blocks
    overall = dict(_table_after(blocks, "一、总体情况").rows)
    assert overall["调用共享资源次数"] == "1" and "调用他部门资源次数" not in overall
    assert _table_after(blocks, "三、按月趋势").header == ("月份", "资源被调用次数", "调用共享资源次数", "评分")


def test_a_rate_of_nothing_due_reads_as_a_dash_not_as_100_percent() -> None:
    """A department with no application or dispute due read "100.0%" on time in the yearly report's annex, and the
    按时率 chart drew a full bar labelled 100.0% for it: 0 of 0 is not 100 % on time (the score still counts it as
    met, which the annex's caption says)."""
    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, name, "", value) for name, value in (
        ("disputes.received", 2), ("disputes.answered_on_time", 1), ("disputes.answered_late", 1))])
    data = ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH, GENERATED)
    blocks = yearly_report(2026, code, data).blocks
    annex = _table_after(blocks, "（附）年度评价指标")
    rates = {row[0]: row[3] for row in annex.rows}
    assert rates["申请答复按时率"] == "—" and rates["疑义答复按时率"] == "50.0%", annex.rows
    assert "“—”为无应办事项，不扣分" in (annex.caption or "")
    chart = next(block for block in blocks if getattr(block, "title", None) == "按时率")
    assert chart.values == (None, None, 50.0)
    assert [chart.value_label(value) for value in chart.values] == ["—", "—", "50.0%"]
    assert chart.share(None) == 0.0 and chart.share(50.0) == 0.5


def test_a_rate_short_of_all_never_reads_100_percent_nor_one_above_none_0_percent() -> None:
    """Rounded to one decimal, 1,999 replies on time of 2,000 read 100.0% in the report's 按时率 table, annex, chart
    and CSV (1 of 3,000 read 0.0%), and a failure rate of 1,999 calls in 2,000 read 100.0% in a violation's evidence:
    the authority read the department as having met every deadline (the console, reading the same month, said
    99.9%)."""
    from services.supervision.render_csv import render_csv
    from services.supervision.reports import evidence_text

    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, name, "", value) for name, value in (
        ("applications.received", 2000), ("applications.replied_on_time", 1999), ("applications.replied_late", 1),
        ("disputes.received", 3000), ("disputes.answered_on_time", 1), ("disputes.answered_late", 2999))])
    data = ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH, GENERATED)
    document = yearly_report(2026, code, data)
    rates = {row[0]: row[3] for row in _table_after(document.blocks, "二、按时率").rows}
    assert (rates["申请答复"], rates["疑义答复"]) == ("99.9%", "0.1%"), rates
    annex = {row[0]: row[3] for row in _table_after(document.blocks, "（附）年度评价指标").rows}
    assert (annex["申请答复按时率"], annex["疑义答复按时率"]) == ("99.9%", "0.1%"), annex
    chart = next(block for block in document.blocks if getattr(block, "title", None) == "按时率")
    assert [chart.value_label(value) for value in chart.values] == ["—", "99.9%", "0.1%"]
    assert "申请答复,99.9\r\n" in render_csv(document).decode("utf-8-sig")
    assert evidence_text({"calls": "2000", "failed_calls": "1999", "failure_rate": "0.9995"}, {}).endswith(
        "失败率：99.9%")
    assert evidence_text({"calls": "3", "failed_calls": "3", "failure_rate": "1.000"}, {}).endswith("失败率：100.0%")


def test_the_platforms_mean_score_and_a_departments_year_score_each_say_how_they_are_counted() -> None:
    """The platform's ranking gives each department the mean of its monthly scores (平均评分), its own yearly report
    the year's indicators pooled (年度综合评分): for one department 87.34 in one and 76.17 in the other, with nothing
    saying why. Each table's caption now says how its score is counted."""
    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, name, "", value) for name, value in (
        ("disputes.received", 2), ("disputes.answered_on_time", 1), ("disputes.answered_late", 1))])
    data = ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH, GENERATED)
    ranking = _table_after(yearly_report(2026, None, data).blocks, "五、部门评价")
    assert "平均评分为各月综合评分的平均值" in ranking.caption and "二者可能不同" in ranking.caption
    annex = _table_after(yearly_report(2026, code, data).blocks, "（附）年度评价指标")
    assert "按全年累计的指标计算，不是各月评分的平均值" in annex.caption


def test_the_years_freshness_counts_the_records_held_not_the_months_added_up() -> None:
    """A source holding 10,000 records, 200 of them stale in March and none in April, read 数据更新及时率 19,800 of
    20,000 in its yearly report: the records held were added up over the months as if they were calls."""
    code = "11110100MB00000027"
    april = MONTH.next()

    def held(stale: int) -> Figures:
        return Figures(code, [FigureRow(code, "datasets.records", dimension(dataset="population"), 10_000),
                              FigureRow(code, "datasets.stale_records", dimension(dataset="population"), stale)])

    data = ReportInput([MONTH, april], {MONTH: {code: held(200)}, april: {code: held(0)}}, [], {code: "市公安局"},
                       EVERY_MONTH, dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
    annex = _table_after(yearly_report(2026, code, data).blocks, "（附）年度评价指标")
    assert ("数据更新及时率（4月）", "10000", "10000", "100.0%", "15") in annex.rows, annex.rows


def _paragraphs(blocks: list) -> list[str]:
    return [block.text for block in blocks if isinstance(block, Paragraph)]


def test_a_report_of_a_period_not_over_says_so_and_until_when_its_figures_run() -> None:
    """On 2026-12-02 the yearly report of 2026 and December's feedback read as final: nothing said the year and
    the month were not over, December's figures were those of its snapshot (14:35 that day), and the catalog's
    resources were called 编目资源数（年末）."""
    code, november, december = "11110100MB00000027", Month(2026, 11), Month(2026, 12)
    figures = Figures(code, [FigureRow(code, "catalog.resources", "", 5), FigureRow(code, "queries.served", "", 3)])
    computed = {november: dt.datetime(2026, 12, 1, 1, 30, tzinfo=CST),
                december: dt.datetime(2026, 12, 2, 14, 35, tzinfo=CST)}
    months = [Month(2026, m) for m in range(1, 13)]
    data = ReportInput(months, {november: {code: figures}, december: {code: figures}}, [], {code: "市公安局"},
                       EVERY_MONTH, dt.datetime(2026, 12, 2, 14, 40, tzinfo=CST), computed)
    blocks = yearly_report(2026, code, data).blocks
    notes = _paragraphs(blocks)
    assert "2026年度尚未结束，本报告为阶段性报告，年度结束后应重新生成。" in notes
    assert any("12月（截至2026-12-02 14:35，北京时间）" in note and "11月" not in note for note in notes
               if note.startswith("以下月份的监督快照计算时该月尚未结束")), notes
    assert ("编目资源数（截至2026-12-02 14:35）", "5") in _table_after(blocks, "一、总体情况").rows
    feedback = monthly_feedback(december, code, data).blocks
    assert ("2026年12月尚未结束（监督快照计算于2026-12-02 14:35，北京时间）：以下为截至该时间的阶段性数据，"
            "月度结束后应重新生成。") in _paragraphs(feedback)
    assert not any("尚未结束" in note for note in _paragraphs(monthly_feedback(november, code, data).blocks))

    # The year over and December computed after its end (the schedule's run on 1 January): final, as before.
    done = ReportInput(months, {november: {code: figures}, december: {code: figures}}, [], {code: "市公安局"},
                       EVERY_MONTH, dt.datetime(2027, 1, 5, 9, 0, tzinfo=CST),
                       {**computed, december: dt.datetime(2027, 1, 1, 1, 30, tzinfo=CST)})
    blocks = yearly_report(2026, code, done).blocks
    assert not any("尚未结束" in note for note in _paragraphs(blocks))
    assert ("编目资源数（年末）", "5") in _table_after(blocks, "一、总体情况").rows

    # December over, but its snapshots not computed again since 2 December: not "not over", yet not the whole month.
    stale = ReportInput(months, {december: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH,
                        dt.datetime(2027, 1, 5, 9, 0, tzinfo=CST), computed)
    notes = _paragraphs(monthly_feedback(december, code, stale).blocks)
    assert ("本月监督快照计算于2026-12-02 14:35（北京时间），早于月末：以下为截至该时间的数据，"
            "重新计算该月后再生成可得全月数据。") in notes
    assert not any("尚未结束" in note for note in notes)
    blocks = yearly_report(2026, code, stale).blocks
    assert ("编目资源数（截至2026-12-02 14:35）", "5") in _table_after(blocks, "一、总体情况").rows


def test_a_month_without_a_snapshot_has_no_bar_in_the_trend_as_it_has_no_figures_in_its_table() -> None:
    """The 按月趋势 table said "—" for January to October (no snapshot, not counted) and its chart drew them as
    "0次": the report said two different things of the same months."""
    code, december = "11110100MB00000027", Month(2026, 12)
    figures = Figures(code, [FigureRow(code, "queries.served", "", 3)])
    data = ReportInput([Month(2026, 11), december], {december: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH,
                       dt.datetime(2027, 1, 5, tzinfo=CST))
    blocks = yearly_report(2026, code, data).blocks
    assert _table_after(blocks, "三、按月趋势").rows[0][:3] == ("11月", "—", "—")
    chart = next(block for block in blocks if getattr(block, "title", None) == "按月资源被调用次数")
    assert chart.values == (None, 3.0)
    assert [chart.value_label(value) for value in chart.values] == ["—", "3次"]


def test_a_department_has_no_figures_or_score_in_the_months_before_it_joined() -> None:
    """A department that joined in December (November computed with the others, not with it) read in its yearly
    report's trend as 0 calls and a score of 100.00 for November, and its November feedback said no resource of it
    had been called, as if it had served the platform then."""
    code, other, november, december = "11110100MB00000027", "11110100MB0000003A", Month(2026, 11), Month(2026, 12)
    figures = Figures(code, [FigureRow(code, "queries.served", "", 3)])
    data = ReportInput([november, december], {november: {other: Figures(other)}, december: {code: figures}}, [],
                       {code: "市公安局", other: "市市场监督管理局"}, EVERY_MONTH, dt.datetime(2027, 1, 5, tzinfo=CST))
    blocks = yearly_report(2026, code, data).blocks
    assert _table_after(blocks, "三、按月趋势").rows[0] == ("11月", "—", "—", "—")
    chart = next(block for block in blocks if getattr(block, "title", None) == "按月资源被调用次数")
    assert chart.values == (None, 3.0)
    assert "以下月份计算监督快照时该部门尚未加入共享平台，无该部门数据，未计入本报告：11月。" in _paragraphs(blocks)
    # The platform's report is of every department that existed: November is no month without a snapshot.
    assert not any("11月" in text for text in _paragraphs(yearly_report(2026, None, data).blocks))
    feedback = monthly_feedback(november, code, data).blocks
    assert _paragraphs(feedback) == ["计算2026年11月监督快照时贵单位尚未加入共享平台，本月无贵单位数据。"]
    assert not any(isinstance(block, Table) for block in feedback)


def test_the_months_after_a_departments_retirement_say_it_was_retired_not_that_it_had_not_joined() -> None:
    """A department retired on 15 October (RetireDepartment, merged into another) is left out of the months
    computed after: its yearly report and November feedback said "计算监督快照时该部门尚未加入共享平台" (it had not
    joined yet) of a department that had served the platform all year."""
    code, heir, october = "11110100MB00000506", "11110100MB0000007N", Month(2026, 10)
    november, december = Month(2026, 11), Month(2026, 12)
    figures = Figures(code, [FigureRow(code, "queries.made", "", 3)])
    retired = {code: Retirement(dt.datetime(2026, 10, 15, 10, tzinfo=CST), heir)}
    snapshots = {october: {code: figures, heir: Figures(heir)}, november: {heir: Figures(heir)},
                 december: {heir: Figures(heir)}}
    data = ReportInput([october, november, december], snapshots,
                       [], {code: "市档案局", heir: "市民政局"}, EVERY_MONTH, dt.datetime(2027, 1, 5, tzinfo=CST),
                       retired=retired)
    paragraphs = _paragraphs(yearly_report(2026, code, data).blocks)
    assert ("该部门已于2026年10月15日撤销（职责并入市民政局（11110100MB0000007N）），"
            "以下月份无该部门数据，未计入本报告：11月、12月。") in paragraphs
    assert not any("尚未加入" in text for text in paragraphs)
    assert _paragraphs(monthly_feedback(november, code, data).blocks) == [
        "贵单位已于2026年10月15日撤销（职责并入市民政局（11110100MB0000007N）），2026年11月无贵单位数据。"]
    # Its last month is October's (it took part in it), and a department retired without an heir is said so too.
    assert any(isinstance(block, Table) for block in monthly_feedback(october, code, data).blocks)
    alone = ReportInput([october, november], {october: {code: figures}, november: {heir: Figures(heir)}}, [],
                        {code: "市档案局"}, EVERY_MONTH, dt.datetime(2027, 1, 5, tzinfo=CST),
                        retired={code: Retirement(dt.datetime(2026, 10, 31, 23, tzinfo=CST))})
    assert "该部门已于2026年10月31日撤销，以下月份无该部门数据，未计入本报告：11月。" in \
        _paragraphs(yearly_report(2026, code, alone).blocks)
    # The platform's ranking says it too: its score is the mean of the months until its retirement, October's
    # included (it said 撤销前各月 of it); retired as November began, October is a month before it.
    ranking = {row[0] for row in _table_after(yearly_report(2026, None, data).blocks, "五、部门评价").rows}
    assert ranking == {"市档案局（11110100MB00000506），已于2026年10月15日撤销（职责并入市民政局"
                       "（11110100MB0000007N）），评分为撤销当月及以前各月的平均", "市民政局（11110100MB0000007N）"}
    at_november = replace(data, retired={code: Retirement(november.start, heir)})
    ranking = {row[0] for row in _table_after(yearly_report(2026, None, at_november).blocks, "五、部门评价").rows}
    assert "市档案局（11110100MB00000506），已于2026年11月1日撤销（职责并入市民政局（11110100MB0000007N）），" \
        "评分为撤销前各月的平均" in ranking


def test_a_year_without_a_counted_month_has_no_figures_and_no_score() -> None:
    """A year none of whose months was computed (or whose months were all computed before the department joined)
    read 编目资源数（年末）0, every count 0 and, for a department, 年度综合评分：100.00: figures nobody gathered, and a
    perfect score for a year the department was not evaluated in."""
    code, other = "11110100MB00000027", "11110100MB0000003A"
    never = ReportInput([Month(2025, m) for m in range(1, 13)], {}, [], {code: "市公安局"}, EVERY_MONTH,
                        dt.datetime(2026, 12, 3, tzinfo=CST))
    names = {code: "市公安局", other: "市市场监督管理局"}
    before = ReportInput([Month(2026, 11)], {Month(2026, 11): {other: Figures(other)}}, [], names, EVERY_MONTH,
                         dt.datetime(2026, 12, 3, tzinfo=CST))
    for year, department, data in ((2025, None, never), (2025, code, never), (2026, code, before)):
        blocks = yearly_report(year, department, data).blocks
        assert not any(isinstance(block, Table) for block in blocks)
        assert f"{year}年度没有可计入本报告的监督快照，无统计数据，不作年度评价。" in _paragraphs(blocks)
        assert not any("100.00" in text for text in _paragraphs(blocks))


def test_a_violation_names_its_business_system_not_only_its_id() -> None:
    """The evidence of a use beyond purpose said 业务系统：sys-5c1f…: an id the authority reading the report cannot
    tell one system from another by. The system's name comes first, its id beside it; an unknown id stays."""
    user = "11110100MB0000007N"
    violations = [Violation(user, MONTH, sup.VIOLATION_RULE_PURPOSE_NOT_GRANTED, f"system:{system}", {"system": system})
                  for system in ("sys-5c1f", "sys-gone")]
    data = ReportInput([MONTH], {MONTH: {user: Figures(user)}}, violations, {user: "市民政局"}, EVERY_MONTH, GENERATED,
                       systems={"sys-5c1f": "低保审核系统"})
    rows = _table_after(yearly_report(2026, user, data).blocks, "五、违规情况").rows
    assert [row[-1] for row in rows] == ["业务系统：低保审核系统（sys-5c1f）", "业务系统：sys-gone"]


def test_what_a_violation_is_about_reads_in_chinese() -> None:
    """The 对象 column printed the detector's keys: resource:301901/000002:endpoint, dataset:place, conflicts,
    system:sys-1:resource:101001/000001:purpose:WORK_REFERENCE."""
    code = "11110100MB00000027"
    subjects = ["conflicts", "dataset:place", "mandate_change:5f0c", "resource:301901/000002",
                "resource:301901/000002:disputes", "resource:301901/000002:endpoint",
                "system:sys-1:resource:101001/000001:purpose:WORK_REFERENCE", "system:sys-2"]
    violations = [Violation(code, MONTH, sup.VIOLATION_RULE_DATA_UNUSABLE, subject) for subject in subjects]
    data = ReportInput([MONTH], {MONTH: {code: Figures(code)}}, violations, {code: "市公安局"}, EVERY_MONTH, GENERATED,
                       systems={"sys-1": "审核系统"})
    rows = _table_after(yearly_report(2026, code, data).blocks, "五、违规情况").rows
    assert [row[4] for row in rows] == [
        "数据冲突", "数据集：place", "职能变更：5f0c", "资源：301901/000002", "资源：301901/000002；疑义数据",
        "资源：301901/000002；服务接口", "业务系统：审核系统（sys-1）；资源：101001/000001；用途：工作参考",
        "业务系统：sys-2"]


def test_a_month_computed_before_any_department_joined_is_not_said_to_await_its_snapshot() -> None:
    """The platform set up in December: November, computed by the schedule with no department to count, was listed
    among the months 尚无监督快照 (not computed yet), in the platform's report and each department's."""
    code, october, november, december = "11110100MB00000027", Month(2026, 10), Month(2026, 11), Month(2026, 12)
    at = dt.datetime(2027, 1, 2, tzinfo=CST)
    data = ReportInput([october, november, december], {december: {code: Figures(code)}}, [], {code: "市公安局"},
                       EVERY_MONTH, dt.datetime(2027, 1, 5, tzinfo=CST), {november: at, december: at})
    platform = _paragraphs(yearly_report(2026, None, data).blocks)
    assert "以下月份尚无监督快照，未计入本报告：10月。" in platform
    assert "以下月份计算监督快照时共享平台尚无部门，无数据：11月。" in platform
    department = _paragraphs(yearly_report(2026, code, data).blocks)
    assert "以下月份尚无监督快照，未计入本报告：10月。" in department
    assert "以下月份计算监督快照时该部门尚未加入共享平台，无该部门数据，未计入本报告：11月。" in department
    assert _paragraphs(monthly_feedback(november, code, data).blocks) == [
        "计算2026年11月监督快照时贵单位尚未加入共享平台，本月无贵单位数据。"]
    assert _paragraphs(monthly_feedback(october, code, data).blocks) == ["2026年10月尚无监督快照，无法生成反馈。"]


def test_a_report_as_csv_holds_its_tables_for_excel() -> None:
    """GenerateReport offered HTML and PDF only: a supervisor comparing departments in a spreadsheet copied the
    report's tables out cell by cell. The CSV holds the title, every table after its heading and a chart's values,
    UTF-8 with a byte order mark, CRLF lines, and a department's name that begins with = is no formula."""
    import csv
    import io

    from services.supervision.render_csv import render_csv

    provider, user = "11110100MB00000027", "11110100MB0000007N"
    violations = [Violation(provider, MONTH, sup.VIOLATION_RULE_DATA_NOT_PROVIDED, "resource:301901/000002:endpoint",
                            {"resource": "301901/000002", "failed_calls": "3", "calls": "8", "failure_rate": "0.375"})]
    data = ReportInput([MONTH], {MONTH: {provider: _resources(provider, CONDITIONAL=1), user: Figures(user)}},
                       violations, {provider: "=市公安局", user: "市民政局"}, EVERY_MONTH, GENERATED)
    document = yearly_report(2026, None, data)
    content = render_csv(document)
    assert content.startswith(b"\xef\xbb\xbf") and b"\r\n" in content and b"\n" not in content.replace(b"\r\n", b"")
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert lines[0] == [document.title]
    table = _table_after(document.blocks, "六、违规情况")
    at = lines.index(["六、违规情况"])
    assert lines[at + 1] == list(table.header)
    assert lines[at + 2][-1] == "资源代码：301901/000002；调用次数：8；失败调用次数：3；失败率：37.5%"
    assert lines[at + 2][1] == "'=市公安局（11110100MB00000027）"
    assert ["编目资源共享类型分布"] in lines and ["有条件共享", "1"] in lines


def test_a_reports_charts_in_csv_are_numbers_excel_adds_up() -> None:
    """A chart's values were written as it labels them, '1,234次' and '50.0%': text to Excel, whose sum of the
    months' calls came to 0. The unit is in the column's header, each value a plain number ('—' for none)."""
    import csv
    import io

    from services.supervision.render_csv import render_csv

    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, "queries.served", "", 1234),
                             FigureRow(code, "applications.replied_on_time", "", 1),
                             FigureRow(code, "applications.replied_late", "", 1)])
    data = ReportInput([MONTH, MONTH.next()], {MONTH: {code: figures}}, [], {code: "市公安局"}, EVERY_MONTH,
                       dt.datetime(2026, 5, 2, tzinfo=CST))
    lines = list(csv.reader(io.StringIO(render_csv(yearly_report(2026, code, data)).decode("utf-8-sig"))))
    at = lines.index(["按月资源被调用次数"])
    assert lines[at + 1:at + 4] == [["项目", "数值（次）"], ["3月", "1234"], ["4月", "—"]]
    at = lines.index(["按时率"])
    assert lines[at + 1:at + 3] == [["项目", "数值（%）"], ["目录更新", "—"]]
    assert ["申请答复", "50.0"] in lines[at + 3:at + 5]


def test_a_department_renamed_since_is_named_in_each_month_as_it_was_then_with_todays_name_beside() -> None:
    """民政局 renamed 社会事务局 in October and 社会服务局 since: its yearly report, the platform's ranking and
    violations and the feedback of a month before named it by today's name in the figures of months it bore
    another, which the supervisor could not match with that time's documents. Each row names it as its month's
    snapshot keeps it, today's name beside; a month computed before names were kept has today's."""
    code, user, march, november = "11110100MB0000007N", "11110100MB0000003A", Month(2026, 3), Month(2026, 11)
    served_to = FigureRow(code, "queries.served_to", dimension(department=user, resource="101001/000001",
                                                               purpose="WORK_REFERENCE", result="ANSWERED"), 2)
    snapshots = {march: {code: Figures(code, [served_to], "市民政局"), user: Figures(user, [], "市公安局")},
                 november: {code: Figures(code, [], "市社会事务局"), user: Figures(user, [], "市公安局")}}
    violations = [Violation(code, march, sup.VIOLATION_RULE_DATA_NOT_PROVIDED, "resource:101001/000001:endpoint",
                            {"resource": "101001/000001"})]
    data = ReportInput([march, november], snapshots, violations, {code: "市社会服务局", user: "市公安局"}, EVERY_MONTH,
                       dt.datetime(2027, 1, 5, tzinfo=CST))
    yearly = yearly_report(2026, code, data)
    assert yearly.subtitle.startswith(
        "报告对象：市社会事务局（11110100MB0000007N；本期曾用名：市民政局；现名：市社会服务局）")
    then = "市民政局（11110100MB0000007N；现名：市社会服务局）"
    assert _table_after(yearly.blocks, "五、违规情况").rows[0][1] == then
    platform = yearly_report(2026, None, data).blocks
    ranking = {row[0] for row in _table_after(platform, "五、部门评价").rows}
    assert ranking == {"市社会事务局（11110100MB0000007N；本期曾用名：市民政局；现名：市社会服务局）",
                       "市公安局（11110100MB0000003A）"}
    assert _table_after(platform, "六、违规情况").rows[0][1] == then
    feedback = monthly_feedback(march, code, data)
    assert feedback.subtitle.startswith("致：市民政局（11110100MB0000007N；现名：市社会服务局）")
    # A month computed before names were kept: today's name, as before.
    unnamed = ReportInput([march], {march: {code: Figures(code)}}, [], {code: "市社会服务局"}, EVERY_MONTH, GENERATED)
    assert yearly_report(2026, code, unnamed).subtitle.startswith("报告对象：市社会服务局（11110100MB0000007N）")


class _CountedRows(list):  # type: ignore[type-arg]
    """A snapshot's rows that count how often they are read through."""

    reads = 0

    def __iter__(self):  # type: ignore[no-untyped-def]
        type(self).reads += 1
        return super().__iter__()


def test_the_platforms_yearly_report_reads_each_snapshot_once_not_once_per_figure() -> None:
    """Every figure looked up read all of a snapshot's rows: some twenty per evaluation, an evaluation per department
    and month, over snapshots of thousands of rows under a large audit trail (each system's every day): the
    platform's yearly report of a few hundred departments ran past the 120 s a report is given. A snapshot's rows
    are now indexed by name on the first lookup."""
    codes = [f"11110100MB{n:08d}" for n in range(3)]
    months = [Month(2026, m) for m in (1, 2)]
    snapshots = {m: {c: Figures(c, _CountedRows([FigureRow(c, "queries.served", "", 2),
                                                 FigureRow(c, "applications.replied_late", "", 1)]))
                     for c in codes} for m in months}
    violations = [Violation(codes[0], months[0], sup.VIOLATION_RULE_DATA_NOT_PROVIDED, "resource:r:endpoint", {})]
    _CountedRows.reads = 0
    blocks = yearly_report(2026, None, ReportInput(months, snapshots, violations, {}, EVERY_MONTH, GENERATED)).blocks
    assert ("逾期答复申请", "6") in _table_after(blocks, "一、总体情况").rows
    assert _CountedRows.reads <= 2 * len(codes) * len(months)  # gathered into the year, indexed: twice each at most


def test_two_user_departments_of_one_name_are_told_apart_in_the_feedbacks_chart() -> None:
    """The usage feedback's chart of calls by using department labelled each by name alone: the 民政局 of two
    districts read as two bars 民政局 (the table beside names them with their codes). A colliding name is followed by
    its region; the SVG's row cuts a long name, not what tells it apart."""
    provider, chaoyang, haidian = "11110100MB00000027", "11110105MB00000170", "11110108MB00000269"
    rows = [FigureRow(provider, "queries.served_to", dimension(department=user, purpose="WORK_REFERENCE",
                                                                resource="101001/000001", result="ANSWERED"), calls)
            for user, calls in ((chaoyang, 3), (haidian, 5))]
    snapshots = {provider: Figures(provider, rows, "市公安局"), chaoyang: Figures(chaoyang, [], "民政局"),
                 haidian: Figures(haidian, [], "民政局")}
    data = ReportInput([MONTH], {MONTH: snapshots}, [], {provider: "市公安局", chaoyang: "民政局", haidian: "民政局"},
                       EVERY_MONTH, GENERATED)
    chart = next(block for block in monthly_feedback(MONTH, provider, data).blocks
                 if getattr(block, "title", None) == "各使用部门调用次数")
    assert chart.labels == ("民政局（北京市朝阳区）", "民政局（北京市海淀区）")
    assert chart.values == (3.0, 5.0)
    label = "市人力资源和社会保障局信息中心数据管理处（北京市朝阳区）"
    cut = fitted(label, LABEL_WIDTH, FONT)
    assert cut.endswith("…（北京市朝阳区）") and label_width(cut, FONT) <= LABEL_WIDTH, cut


def test_a_name_with_a_character_the_pdfs_font_lacks_is_written_as_its_code_point_not_left_out() -> None:
    """Noto Sans SC has no glyph for most ideographs of CJK Extensions B to I, which names hold (a5ca65b6 let a
    department be named with one): the PDF set them in the font anyway, the page showed nothing where they stood,
    and 𠀾家庄镇人民政府 read as 家庄镇人民政府, another name, in the title, the tables and the footer alike. The
    character is now written as its code point and a closing note says why; the characters the font has are
    untouched, and a report without such a character has no note."""
    import io

    from pypdf import PdfReader

    from services.supervision.render_pdf import UNSET_NOTE, render_pdf

    def text(content: bytes) -> str:
        pages = PdfReader(io.BytesIO(content)).pages
        return "".join("".join(page.extract_text().replace("\x00", "").split()) for page in pages)

    code = "11110100MB00000027"
    name = "𠀾家庄镇\U00031350\U0002EBF0人民政府"  # Extension B, H (Unicode 15.0) and I (15.1)
    data = ReportInput([MONTH], {MONTH: {code: Figures(code)}}, [], {code: name}, EVERY_MONTH, GENERATED)
    written = text(render_pdf(yearly_report(2026, code, data)))
    shown = "[U+2003E]家庄镇[U+31350][U+2EBF0]人民政府"
    assert f"报告对象：{shown}（{code}）" in written
    assert "家庄镇人民政府" not in written
    assert "".join(UNSET_NOTE.split()) in written
    plain = text(render_pdf(yearly_report(2026, code, ReportInput(
        [MONTH], {MONTH: {code: Figures(code)}}, [], {code: "市公安局"}, EVERY_MONTH, GENERATED))))
    assert "报告对象：市公安局（11110100MB00000027）" in plain and "[U+" not in plain and "注：" not in plain


def test_a_pdf_heading_or_table_caption_is_never_left_at_a_pages_foot_without_its_table() -> None:
    """The PDF set a heading (二、按时率, （附）年度评价指标) or a table's caption (年度综合评分：…) wherever the
    page had room for that one line: at a page's foot, its table all on the next page, the printed report showed a
    section with nothing under it and, overleaf, a table without its title or the score it is the detail of. Tables
    of every length before them move the heading through every position at the foot of the first page."""
    import io

    from pypdf import PdfReader

    from services.supervision.document import Document, Heading
    from services.supervision.render_pdf import render_pdf

    orphaned = []
    for rows in range(28, 48):
        document = Document("2026年度政务信息资源共享情况报告", "报告对象：全平台")
        document.add(Table(("部门", "平均评分"), tuple((f"部门{n}", "90.00") for n in range(rows))),
                     Heading("（附）年度评价指标"),
                     Table(("指标", "完成"), (("目录更新按时率", "1"), ("申请答复按时率", "2")),
                           caption="年度综合评分：76.17"))
        pages = ["".join(page.extract_text().replace("\x00", "").split())
                 for page in PdfReader(io.BytesIO(render_pdf(document))).pages]
        orphaned += [(rows, title) for page in pages for title in ("（附）年度评价指标", "年度综合评分：76.17")
                     if title in page and "目录更新按时率" not in page]
    assert orphaned == [], orphaned


def test_each_page_of_a_pdf_report_says_how_many_pages_the_report_has() -> None:
    """The PDF's footer said 第 N 页 alone: a printed yearly report missing its last sheets (the violations are its
    last section) read as one that ended there. Each page says 第 N 页，共 M 页."""
    import io

    from pypdf import PdfReader

    from services.supervision.document import Document
    from services.supervision.render_pdf import render_pdf

    document = Document("2026年度政务信息资源共享情况报告", "报告对象：全平台")
    document.add(Table(("部门", "平均评分"), tuple((f"部门{n}", "90.00") for n in range(100))))
    pages = ["".join(page.extract_text().replace("\x00", "").split())
             for page in PdfReader(io.BytesIO(render_pdf(document))).pages]
    assert len(pages) > 1
    assert [page.endswith(f"2026年度政务信息资源共享情况报告第{n}页，共{len(pages)}页")
            for n, page in enumerate(pages, 1)] == [True] * len(pages), [page[-40:] for page in pages]


def test_weights_that_do_not_add_up_to_100_are_said_to_be_scaled() -> None:
    """The authority may set any weights from 0 to 100. With 目录更新按时率 set to 0 (the others 80 in all), a
    department meeting every indicator read 评分 100.00 beside weights adding up to 80, and a reader summing weight
    × rate took the score for a mistake: the report says how such weights are counted."""
    code = "11110100MB00000027"
    figures = Figures(code, [FigureRow(code, "disputes.received", "", 1),
                             FigureRow(code, "disputes.answered_on_time", "", 1)])
    # Weights of one decimal making 100 add up in binary to 100.00000000000001: said not to make 100.
    typed = dict(zip(WEIGHTS, (21.6, 6.9, 28.4, 27.0, 0.9, 15.2), strict=True))
    for weights, said in ((WEIGHTS, False), ({**WEIGHTS, "catalog_on_time": 0.0}, True), (typed, False)):
        data = ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"},
                           defaultdict(lambda weights=weights: weights), GENERATED)
        for department in (code, None):
            note = next(p for p in _paragraphs(yearly_report(2026, department, data).blocks) if "评价权重" in p)
            assert ("权重合计不为100：评分为各指标比率按权重的加权平均，折算为百分制" in note) is said, note
    # Weights of six decimals were printed to six digits (%g): 33.333333 as 33.3333.
    thirds = dict(zip(WEIGHTS, (33.333333, 33.333333, 33.333333, 0.0, 0.0, 0.0), strict=True))
    data = ReportInput([MONTH], {MONTH: {code: figures}}, [], {code: "市公安局"}, defaultdict(lambda: thirds),
                       GENERATED)
    note = next(p for p in _paragraphs(yearly_report(2026, code, data).blocks) if "评价权重" in p)
    assert note.count("33.333333") == 3 and "33.3333、" not in note, note
