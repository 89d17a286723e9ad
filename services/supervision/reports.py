"""The reports the rules require (R-SUP-2), built from the platform's own records (the monthly snapshots).

* the **yearly sharing report** (Art. 18: by the end of February for the previous year) of one department or
  of the whole platform: totals, on-time rates, monthly trends, share types, evaluations and violations;
* the **monthly usage feedback** to a provider (003 Art. 35): which departments used its resources, how
  often, for which purposes and with what result, and what they disputed.

Each is a :class:`~services.supervision.document.Document`, rendered to HTML or PDF by the renderers. A month
without a snapshot is named in the report, never silently counted as zero.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.runtime.identifiers import told_apart
from services.supervision.document import BarChart, Document, Heading, Paragraph, Table, percent_number
from services.supervision.evaluation import evaluate, mean_score, weight_text, weights_total
from services.supervision.months import CST, Month
from services.supervision.snapshot import STOCKS, Figures
from services.supervision.violations import Violation

SHARE_TYPES = {"UNCONDITIONAL": "无条件共享", "CONDITIONAL": "有条件共享", "NOT_SHARED": "不予共享"}
PURPOSES = {"ADMINISTRATIVE_BASIS": "行政依据", "WORK_REFERENCE": "工作参考", "DATA_VERIFICATION": "数据校核",
            "BUSINESS_COLLABORATION": "业务协同", "UNSPECIFIED": "未说明"}
RESULTS = {"ANSWERED": "已应答", "NOT_FOUND": "库无", "DENIED": "拒绝", "INVALID": "无效请求", "FAILED": "失败"}
RULES = {1: "未按要求更新政务信息资源目录", 2: "未向共享平台及时提供共享信息", 3: "提供的数据不一致或无法使用",
         4: "超出授权用途使用共享信息", 5: "调用量异常激增"}
INDICATORS = {"catalog_on_time": "目录更新按时率", "reply_on_time": "申请答复按时率",
              "dispute_on_time": "疑义答复按时率", "availability": "服务可用率", "freshness": "数据更新及时率",
              "purpose_compliance": "按授权用途使用率"}
PLATFORM = "全平台"
#: Figures no report reads, left out when a report's snapshots are read: each system's calls of every day of the
#: month and the 28 before it (burst detection's history, judged when the month is computed) are most of a
#: snapshot's rows under a large audit trail.
UNREAD = ("queries.system_daily",)
#: The evidence of a violation (services/supervision/violations.py), in the order a reader follows it.
EVIDENCE = {"change": "职能变更", "due": "应更新日期", "system": "业务系统", "resource": "资源代码",
            "dataset": "数据集", "purpose": "用途", "refused_calls": "被拒调用次数", "records": "记录数",
            "stale_records": "超过更新周期的记录数", "calls": "调用次数", "failed_calls": "失败调用次数",
            "failure_rate": "失败率", "disputes_unanswered_overdue": "逾期未答复疑义数",
            "conflicts_open": "未处理冲突数", "conflicts_raised": "本月新增冲突数",
            "conflicts_resolved": "本月已处理冲突数", "day": "日期",
            "baseline_daily_calls": "此前28日日均调用次数", "threshold": "判定阈值（次/日）"}


#: The parts of a violation's subject (services/supervision/violations.py: "resource:<code>:endpoint",
#: "system:<id>:resource:<code>:purpose:<purpose>", "mandate_change:<id>", "dataset:<name>", "conflicts"): a name
#: followed by its value, or a word alone.
SUBJECT_NAMES = {"mandate_change": "职能变更", "resource": "资源", "dataset": "数据集", "system": "业务系统",
                 "purpose": "用途"}
SUBJECT_WORDS = {"endpoint": "服务接口", "disputes": "疑义数据", "conflicts": "数据冲突"}


@dataclass(frozen=True)
class Retirement:
    """A department retired (RetireDepartment): when, in Beijing's calendar its last month is the one it falls in,
    and the department that took over its duties ("" when none was named)."""

    time: dt.datetime
    merged_into: str = ""


@dataclass(frozen=True)
class ReportInput:
    """What a report is made of: the months' snapshots (by department), their violations, names, and the weights
    each month is evaluated under (those in force in it: a later change of the weights does not reach back)."""

    months: list[Month]
    snapshots: Mapping[Month, Mapping[str, Figures]]
    violations: list[Violation]
    names: Mapping[str, str]
    weights: Mapping[Month, Mapping[str, float]]
    generated: dt.datetime
    #: When each month's snapshots were computed: a month computed before it ended holds its figures until then.
    computed: Mapping[Month, dt.datetime] = field(default_factory=dict)
    #: Business systems' names by id (the system a violation is about).
    systems: Mapping[str, str] = field(default_factory=dict)
    #: The retired departments by code: the months after its retirement are computed without it.
    retired: Mapping[str, Retirement] = field(default_factory=dict)

    def retired_before(self, code: str, month: Month) -> Retirement | None:
        """``code``'s retirement, if it came before ``month`` began (a month it had no part in)."""
        retirement = self.retired.get(code)
        return retirement if retirement is not None and retirement.time < month.start else None

    def partial(self, month: Month) -> dt.datetime | None:
        """When ``month``'s figures stop, if its snapshots were computed before the month ended (else None)."""
        computed = self.computed.get(month)
        return computed if computed is not None and computed < month.end else None


def _sum(snapshots: Mapping[str, Figures], department: str | None) -> Figures:
    """One department's figures, or every department's added up (the platform)."""
    if department is not None:
        return snapshots.get(department, Figures(department))
    total = Figures("")
    for figures in snapshots.values():
        total.rows.extend(figures.rows)
    return total


def _rate(numerator: int, denominator: int) -> float | None:
    """None when nothing was due: the evaluation counts 0 of 0 as met, but a report printing 100.0% for it told
    the authority that replies had been made on time."""
    return 100.0 * numerator / denominator if denominator else None


def _percent(numerator: int, denominator: int) -> str:
    rate = _rate(numerator, denominator)
    return "—" if rate is None else f"{percent_number(rate)}%"


def _who(names: Mapping[str, str], code: str) -> str:
    return f"{names.get(code, '')}（{code}）" if names.get(code) else code


def _names_then(data: ReportInput, code: str, months: list[Month]) -> list[str]:
    """The names ``code`` had in ``months`` (as their snapshots keep them), each once, the latest first."""
    names: list[str] = []
    for month in sorted(months, reverse=True):
        figures = data.snapshots.get(month, {}).get(code)
        if figures is not None and figures.name and figures.name not in names:
            names.append(figures.name)
    return names


def _who_then(data: ReportInput, code: str, months: list[Month]) -> str:
    """A department as it was named in ``months`` (a report's period, or the month a row is of), with the names it
    had before in the period and today's beside it: a department renamed or merged since was named by today's name
    in last year's figures, which the supervisor could not match with that year's documents. A month computed
    before names were kept has today's."""
    then = _names_then(data, code, months)
    if not then:
        return _who(data.names, code)
    notes = [code]
    if len(then) > 1:
        notes.append("本期曾用名：" + "、".join(then[1:]))
    if (now := data.names.get(code)) and now != then[0]:
        notes.append(f"现名：{now}")
    return f"{then[0]}（{'；'.join(notes)}）"


def _missing(data: ReportInput) -> list[Month]:
    """The months never computed (their figures were never gathered)."""
    return [m for m in data.months if m not in data.snapshots and m not in data.computed]


def _without_departments(data: ReportInput) -> list[Month]:
    """The months computed while no department had joined the platform (before it was set up): said "尚无监督快照",
    they read as months still to be computed."""
    return [m for m in data.months if m not in data.snapshots and m in data.computed]


def _left_out(data: ReportInput, department: str | None) -> list[Month]:
    """The months computed without ``department``: every department that existed in a month has its snapshot (empty
    if it did nothing), so one left out had not joined the platform when the month was computed, or had been retired
    before it began. Counted as an empty snapshot, such a month read as 0 calls and a score of 100.00 in the
    department's trend."""
    if department is None:
        return []
    return [m for m in data.months if (m in data.snapshots and department not in data.snapshots[m])
            or (m not in data.snapshots and m in data.computed)]


def _day(moment: dt.datetime) -> str:
    local = moment.astimezone(CST)
    return f"{local.year}年{local.month}月{local.day}日"


def _retirement_text(data: ReportInput, retirement: Retirement) -> str:
    """已于2026年10月15日撤销（职责并入市民政局（…）): said of the months after it, which read "尚未加入共享平台" (not
    joined yet) of a department that had served the platform for years."""
    merged = f"（职责并入{_who(data.names, retirement.merged_into)}）" if retirement.merged_into else ""
    return f"已于{_day(retirement.time)}撤销{merged}"


def _beijing(moment: dt.datetime) -> str:
    return f"{moment.astimezone(CST):%Y-%m-%d %H:%M}"


def _partial_note(data: ReportInput) -> Paragraph | None:
    """Which months' figures stop before the month's end: a report of a period not over (this month, this year)
    read as if the period were complete, its counts final and its resources those of the year's end."""
    partial = [(m, at) for m in data.months if m in data.snapshots and (at := data.partial(m)) is not None]
    if not partial:
        return None
    return Paragraph("以下月份的监督快照计算时该月尚未结束，其数据截至计算时间，为阶段性数据："
                     + "、".join(f"{m.month}月（截至{_beijing(at)}，北京时间）" for m, at in partial) + "。")


def _resources_label(year: int, months: list[Month], data: ReportInput) -> str:
    """What 编目资源数 counts: the catalog's resources when the latest month's snapshot was computed. That is the
    year's end only when December's snapshot was computed once December was over."""
    if not months:
        return "编目资源数（年末）"
    latest = max(months)
    if latest == Month(year, 12) and data.partial(latest) is None and latest.end <= data.generated:
        return "编目资源数（年末）"
    at = data.partial(latest)
    return f"编目资源数（截至{_beijing(at)}）" if at is not None else f"编目资源数（{latest.month}月末）"


def yearly_report(year: int, department: str | None, data: ReportInput) -> Document:
    """The yearly sharing report of ``department`` (None: the platform)."""
    subject = PLATFORM if department is None else _who_then(data, department, data.months)
    doc = Document(f"{year}年度政务信息资源共享情况报告", f"报告对象：{subject}　生成时间："
                   f"{_beijing(data.generated)}（北京时间）",
                   file_stem=f"yearly-{year}-{department or 'platform'}")
    absent = _left_out(data, department)
    gone = [m for m in absent if data.retired_before(department or "", m)]
    retirement = data.retired.get(department or "") if gone else None
    monthly = {m: _sum(data.snapshots[m], department) for m in data.months if m in data.snapshots and m not in absent}
    year_rows = [row for f in monthly.values() for row in f.rows]
    total = Figures(department or "", year_rows)
    latest = monthly[max(monthly)] if monthly else Figures(department or "")
    violations = [v for v in data.violations if department is None or v.department_code == department]
    doc.add(Paragraph("本报告依据《政务信息资源共享管理暂行办法》（国发〔2016〕51号）第十六条至第十八条，"
                      "由共享平台按月监督快照自动生成，数据均来自平台自身记录。"))
    if Month(year, 12).end > data.generated:
        doc.add(Paragraph(f"{year}年度尚未结束，本报告为阶段性报告，年度结束后应重新生成。"))
    if missing := _missing(data):
        doc.add(Paragraph("以下月份尚无监督快照，未计入本报告：" + "、".join(f"{m.month}月" for m in missing) + "。"))
    if before := [m for m in absent if m not in gone]:
        doc.add(Paragraph("以下月份计算监督快照时该部门尚未加入共享平台，无该部门数据，未计入本报告："
                          + "、".join(f"{m.month}月" for m in before) + "。"))
    if retirement is not None:
        doc.add(Paragraph(f"该部门{_retirement_text(data, retirement)}，以下月份无该部门数据，未计入本报告："
                          + "、".join(f"{m.month}月" for m in gone) + "。"))
    if department is None and (empty := _without_departments(data)):
        doc.add(Paragraph("以下月份计算监督快照时共享平台尚无部门，无数据："
                          + "、".join(f"{m.month}月" for m in empty) + "。"))
    if note := _partial_note(data):
        doc.add(note)
    if not monthly:
        # No month of the year holds the subject's figures (none computed yet, or all before it joined): the tables
        # read 编目资源数（年末）0, every count 0 and, for a department, 年度综合评分：100.00, figures nobody gathered.
        doc.add(Paragraph(f"{year}年度没有可计入本报告的监督快照，无统计数据，不作年度评价。"))
        return doc
    due = total.total("catalog.updates_due")
    replies = (total.total("applications.replied_on_time") + total.total("applications.replied_late")
               + total.total("applications.unreplied_overdue"))
    answers = (total.total("disputes.answered_on_time") + total.total("disputes.answered_late")
               + total.total("disputes.unanswered_overdue"))
    doc.add(Heading("一、总体情况"), Table(("指标", "数值"), (
        (_resources_label(year, list(monthly), data), str(latest.total("catalog.resources"))),
        ("应更新目录（职能变更）", str(due)),
        ("按时更新目录", str(total.total("catalog.updates_on_time"))),
        # Late updates count here with those never made (catalog.updates_overdue: no work by the due date), as the
        # rule finds them both CATALOG_NOT_UPDATED: labelled 逾期未更新目录, a department that updated its catalogue a
        # day late read as one that had not updated it.
        ("未按期更新目录（含逾期更新）", str(total.total("catalog.updates_overdue"))),
        ("收到共享申请", str(total.total("applications.received"))),
        ("按时答复申请", str(total.total("applications.replied_on_time"))),
        ("逾期答复申请", str(total.total("applications.replied_late"))),
        ("逾期未答复申请", str(total.total("applications.unreplied_overdue"))),
        ("拒绝申请", str(total.total("applications.refused"))),
        ("提出共享申请", str(total.total("applications.made"))),
        ("资源被调用次数", str(total.total("queries.served"))),
        ("资源调用失败次数", str(total.total("queries.failed"))),
        ("调用共享资源次数", str(total.total("queries.made"))),
        ("收到疑义数据", str(total.total("disputes.received"))),
        ("按时答复疑义", str(total.total("disputes.answered_on_time"))),
        ("逾期答复疑义", str(total.total("disputes.answered_late"))),
        ("逾期未答复疑义", str(total.total("disputes.unanswered_overdue"))),
        ("发现违规", str(len(violations))),
    )))
    rates = (("目录更新", total.total("catalog.updates_on_time"), due),
             ("申请答复", total.total("applications.replied_on_time"), replies),
             ("疑义答复", total.total("disputes.answered_on_time"), answers))
    doc.add(Heading("二、按时率"), Table(("事项", "按时", "应办", "按时率"), tuple(
        (name, str(n), str(d), _percent(n, d)) for name, n, d in rates)),
        BarChart("按时率", tuple(name for name, _, _ in rates), tuple(_rate(n, d) for _, n, d in rates), "%",
                 maximum=100.0))
    doc.add(Heading("三、按月趋势"))
    trend_rows = []
    for month in data.months:
        figures = monthly.get(month)
        if figures is None:
            trend_rows.append((f"{month.month}月", "—", "—", "—"))
            continue
        score = "—"
        if department is not None:
            count = sum(1 for v in violations if v.month == month)
            score = f"{evaluate(figures, data.weights[month], count).score:.2f}"
        trend_rows.append((f"{month.month}月", str(figures.total("queries.served")),
                           str(figures.total("queries.made")), score))
    doc.add(Table(("月份", "资源被调用次数", "调用共享资源次数", "评分"), tuple(trend_rows)),
            BarChart("按月资源被调用次数", tuple(f"{m.month}月" for m in data.months),
                     tuple(float(monthly[m].total("queries.served")) if m in monthly else None
                           for m in data.months), "次"))
    if department is not None and (weighting := _weights_note(data, list(monthly))):
        doc.add(weighting)
    shares = _share_types(latest)
    doc.add(Heading("四、共享类型"), Table(("共享类型", "资源数"), tuple(
        (SHARE_TYPES[key], str(shares.get(key, 0))) for key in SHARE_TYPES)),
        BarChart("编目资源共享类型分布", tuple(SHARE_TYPES.values()),
                 tuple(float(shares.get(key, 0)) for key in SHARE_TYPES), "个"))
    if department is None:
        # Said beside the table: a department's own yearly report scores the year's indicators pooled (年度综合评分),
        # which is not the mean of its months (87.34 here, 76.17 there, for one department), and each reader took
        # the other's figure for a mistake.
        doc.add(Heading("五、部门评价"), Table(("部门", "平均评分", "违规数"), _ranking(data), caption=(
            "平均评分为各月综合评分的平均值；部门年度报告中的年度综合评分按全年累计的指标计算，二者可能不同")))
        if weighting := _weights_note(data, list(monthly)):
            doc.add(weighting)
    else:
        # Records held are a stock, not a flow: added up over the months they were counted once a month (10,000
        # records read 30,000 after three months). The year's freshness is that of the latest month's records.
        # The year is weighed as its latest month is (a change of the weights in the year applies from then on).
        weighted = max(monthly, default=data.months[-1])
        year_eval = evaluate(Figures(department, [r for r in year_rows if r.name not in STOCKS]
                                     + [r for r in latest.rows if r.name in STOCKS]), data.weights[weighted],
                             len(violations))
        as_of = f"（{max(monthly).month}月）" if monthly else ""
        doc.add(Heading("（附）年度评价指标"), Table(("指标", "完成", "应完成", "比率", "权重"), tuple(
            (INDICATORS.get(i.name, i.name) + (as_of if i.name == "freshness" else ""), str(i.numerator),
             str(i.denominator), _percent(i.numerator, i.denominator), weight_text(i.weight))
            for i in year_eval.indicators),
            caption=f"年度综合评分：{year_eval.score:.2f}（按全年累计的指标计算，不是各月评分的平均值；“—”为无应办事项，"
                    f"不扣分；权重为{weighted.month}月适用的权重）"))
    doc.add(Heading("六、违规情况" if department is None else "五、违规情况"), _violation_table(violations, data))
    return doc


def _weights_note(data: ReportInput, months: list[Month]) -> Paragraph | None:
    """Which weights the evaluated ``months`` were scored under, a run of months with the same weights at a time: a
    change of the weights applies from the month it was made in, so a year's months may have been scored under
    different weightings, and a reader comparing two months' scores must know it."""
    runs: list[tuple[list[Month], Mapping[str, float]]] = []
    for month in sorted(months):
        weights = data.weights[month]
        if runs and runs[-1][1] == weights:
            runs[-1][0].append(month)
        else:
            runs.append(([month], weights))
    if not runs:
        return None
    # The authority may set any weights from 0 to 100: summing to 80 (one set to 0), a reader adding up weight ×
    # rate from the table came to 80 at most, beside a score of 100.00, and took the score for a mistake.
    scaled = "" if all(weights_total(weights.values()) == 100 for _, weights in runs) else (
        "权重合计不为100：评分为各指标比率按权重的加权平均，折算为百分制（100 × Σ权重×比率 ÷ Σ权重）。")
    if len(runs) == 1:
        return Paragraph(f"评分所用评价权重：{_weights_text(runs[0][1])}。{scaled}")
    return Paragraph("评分按各月适用的评价权重计算，期间权重有调整：" + "；".join(
        f"{_span(spanned)}为{_weights_text(weights)}" for spanned, weights in runs) + f"。{scaled}")


def _span(months: list[Month]) -> str:
    first, last = months[0], months[-1]
    return f"{first.month}月" if first == last else f"{first.month}月至{last.month}月"


def _weights_text(weights: Mapping[str, float]) -> str:
    return "、".join(f"{label}{weight_text(weights.get(name, 0.0))}" for name, label in INDICATORS.items())


def _share_types(figures: Figures) -> dict[str, int]:
    """Resources by share type, added up: the platform's figures hold one row per department and share type."""
    shares: dict[str, int] = defaultdict(int)
    for parts, value in figures.breakdown("catalog.resources"):
        if "share_type" in parts:
            shares[parts["share_type"]] += value
    return shares


def _ranking(data: ReportInput) -> tuple[tuple[str, ...], ...]:
    scores: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    monthly: dict[tuple[Month, str], int] = defaultdict(int)
    for violation in data.violations:
        counts[violation.department_code] += 1
        monthly[(violation.month, violation.department_code)] += 1
    for month, snapshots in data.snapshots.items():
        for code, figures in snapshots.items():
            scores[code].append(evaluate(figures, data.weights[month], monthly[(month, code)]).score)
    ranked = sorted(scores, key=lambda c: (-sum(scores[c]) / len(scores[c]), c))
    return tuple((_ranked_who(data, c), f"{mean_score(scores[c]):.2f}", str(counts[c])) for c in ranked)


def _ranked_who(data: ReportInput, code: str) -> str:
    """A department in the ranking, and its retirement when it came within the report's months: its score is the
    mean of the months before, which read as a whole year's beside the others' (the supervisor could not tell it
    from a department still serving)."""
    who = _who_then(data, code, data.months)
    retirement = data.retired.get(code)
    if retirement is None or not data.months or retirement.time >= data.months[-1].end:
        return who
    # The month it was retired in was evaluated when its snapshot holds the department (it served part of it): the
    # note said 撤销前各月 of a mean that counted that month too.
    months = "撤销当月及以前各月" if code in data.snapshots.get(Month.of(retirement.time), {}) else "撤销前各月"
    return f"{who}，{_retirement_text(data, retirement)}，评分为{months}的平均"


def _violation_table(violations: list[Violation], data: ReportInput) -> Table | Paragraph:
    if not violations:
        return Paragraph("本期未发现违规情况。")
    return Table(("月份", "部门", "违规类型", "依据", "对象", "证据"), tuple(
        (f"{v.month.month}月", _who_then(data, v.department_code, [v.month]), RULES.get(v.rule, str(v.rule)), v.article,
         subject_text(v.subject, data.systems), evidence_text(v.evidence, data.systems))
        for v in sorted(violations, key=lambda v: (v.month, v.department_code, v.rule, v.subject))))


def subject_text(subject: str, systems: Mapping[str, str]) -> str:
    """What a violation is about, in Chinese (资源：301901/000002；服务接口): the report printed the detector's key,
    resource:301901/000002:endpoint or system:sys-…:resource:…:purpose:WORK_REFERENCE. A part it does not know is
    kept as it is."""
    parts, tokens = [], subject.split(":")
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in SUBJECT_NAMES and index + 1 < len(tokens):
            value = tokens[index + 1]
            if token == "purpose":
                value = PURPOSES.get(value, value)
            elif token == "system" and systems.get(value):
                value = f"{systems[value]}（{value}）"
            parts.append(f"{SUBJECT_NAMES[token]}：{value}")
            index += 2
        else:
            parts.append(SUBJECT_WORDS.get(token, token))
            index += 1
    return "；".join(parts)


def evidence_text(evidence: Mapping[str, str], systems: Mapping[str, str]) -> str:
    """The evidence in Chinese, for the authority who reads the report: each figure by its label, a rate as a
    percentage, a purpose by its name and a system by its name beside its id (a key the labels do not know is
    shown as it is, never dropped)."""
    order = {key: index for index, key in enumerate(EVIDENCE)}
    parts = []
    for key in sorted(evidence, key=lambda k: (order.get(k, len(order)), k)):
        value = evidence[key]
        if key == "failure_rate" and value.replace(".", "", 1).isdigit():
            value = f"{percent_number(100 * float(value))}%"
        elif key == "purpose":
            value = PURPOSES.get(value, value)
        elif key == "system" and systems.get(value):
            value = f"{systems[value]}（{value}）"
        parts.append(f"{EVIDENCE.get(key, key)}：{value}")
    return "；".join(parts)


def monthly_feedback(month: Month, provider: str, data: ReportInput) -> Document:
    """The usage feedback of ``month`` to the provider department (003 Art. 35)."""
    generated = _beijing(data.generated)
    doc = Document(f"{month.year}年{month.month}月共享信息使用情况反馈",
                   f"致：{_who_then(data, provider, [month])}　生成时间：{generated}（北京时间）",
                   file_stem=f"feedback-{month.label()}-{provider}")
    snapshots = data.snapshots.get(month)
    if snapshots is None and month not in data.computed:
        doc.add(Paragraph(f"{month.year}年{month.month}月尚无监督快照，无法生成反馈。"))
        return doc
    if snapshots is None or provider not in snapshots:
        if (retirement := data.retired_before(provider, month)) is not None:
            doc.add(Paragraph(f"贵单位{_retirement_text(data, retirement)}，"
                              f"{month.year}年{month.month}月无贵单位数据。"))
        else:
            doc.add(Paragraph(f"计算{month.year}年{month.month}月监督快照时贵单位尚未加入共享平台，本月无贵单位数据。"))
        return doc
    figures = snapshots[provider]
    if (at := data.partial(month)) is not None and month.end > data.generated:
        doc.add(Paragraph(f"{month.year}年{month.month}月尚未结束（监督快照计算于{_beijing(at)}，北京时间）："
                          "以下为截至该时间的阶段性数据，月度结束后应重新生成。"))
    elif at is not None:
        doc.add(Paragraph(f"本月监督快照计算于{_beijing(at)}（北京时间），早于月末：以下为截至该时间的数据，"
                          "重新计算该月后再生成可得全月数据。"))
    usage: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_department: dict[str, int] = defaultdict(int)
    by_purpose: dict[str, int] = defaultdict(int)
    by_result: dict[str, int] = defaultdict(int)
    for parts, value in figures.breakdown("queries.served_to"):
        usage[(parts["resource"], parts["department"], parts["purpose"])][parts["result"]] += value
        by_department[parts["department"]] += value
        by_purpose[parts["purpose"]] += value
        by_result[parts["result"]] += value
    doc.add(Paragraph("依据共享平台访问记录，本月贵单位共享资源的使用情况反馈如下。"),
            Heading("一、总体情况"), Table(("指标", "数值"), (
                ("资源被调用次数", str(figures.total("queries.served"))),
                ("使用部门数", str(len(by_department))),
                *((f"其中{RESULTS.get(key, key)}", str(value)) for key, value in sorted(by_result.items())),
                ("收到疑义数据", str(figures.total("disputes.received"))),
                ("按时答复疑义", str(figures.total("disputes.answered_on_time"))),
                ("逾期答复疑义", str(figures.total("disputes.answered_late"))),
                ("逾期未答复疑义", str(figures.total("disputes.unanswered_overdue"))),
            )))
    doc.add(Heading("二、使用明细"), Table(("资源代码", "使用部门", "用途", "已应答", "拒绝", "其他"), tuple(
        (resource, _who_then(data, user, [month]), PURPOSES.get(purpose, purpose), str(results.get("ANSWERED", 0)),
         str(results.get("DENIED", 0)),
         str(sum(v for k, v in results.items() if k not in ("ANSWERED", "DENIED"))))
        for (resource, user, purpose), results in sorted(usage.items()))) if usage else
        Paragraph("本月无调用记录。"))
    if by_department:
        # By name, two departments of one name (the 民政局 of two districts) told apart.
        users = told_apart({c: (_names_then(data, c, [month]) or [data.names.get(c, c)])[0] for c in by_department})
        doc.add(BarChart("各使用部门调用次数", tuple(users[c] for c in sorted(by_department)),
                         tuple(float(by_department[c]) for c in sorted(by_department)), "次"),
                BarChart("调用用途分布", tuple(PURPOSES.get(p, p) for p in sorted(by_purpose)),
                         tuple(float(by_purpose[p]) for p in sorted(by_purpose)), "次"))
    disputes = sorted(figures.breakdown("disputes.received"), key=lambda item: sorted(item[0].items()))
    doc.add(Heading("三、疑义数据"), Table(("资源代码", "报告部门", "疑义数"), tuple(
        (parts["resource"], _who_then(data, parts["department"], [month]), str(value)) for parts, value in disputes))
        if disputes else Paragraph("本月未收到疑义数据。"))
    return doc
