"""The pure parts of loading: row checks, cross-checking and which conflicts to record or close."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from services.foundation import synthetic
from services.foundation.datasets import DATASETS
from services.foundation.loading import LoadRow, check_rows, compare, plan_conflicts
from services.foundation.sources import Designation
from services.foundation.store import (
    KEEP_AUTHORITATIVE,
    OPEN,
    RESOLVED,
    Conflict,
    Disagreement,
    SourceValues,
    StoredRecord,
)

POPULATION = DATASETS["population"]
NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def conflict(id_: int, item: str, ours: str, theirs: str, state: int = OPEN, resolution: str = "") -> Conflict:
    return Conflict(id_, "population", "K", item, ours, theirs, "OTHER", state, resolution, NOW)


def test_check_rows_keeps_good_rows_and_names_each_bad_one() -> None:
    good = synthetic.person(0, seed=3)
    rows = [LoadRow(good), LoadRow({**synthetic.person(1, seed=3), "sex": "?"}), LoadRow(synthetic.person(2, seed=3))]
    accepted, rejected = check_rows(POPULATION, rows, NOW)
    assert [g.index for g in accepted] == [0, 2]
    assert len(rejected) == 1 and rejected[0].index == 1
    assert rejected[0].key == synthetic.citizen_id_of(1, seed=3)
    assert rejected[0].reasons[0].startswith("sex: ")
    assert accepted[0].canonical == good and accepted[0].as_of_time == NOW


def test_check_rows_rejects_a_repeated_key_and_implausible_as_of_times() -> None:
    record = synthetic.person(0, seed=4)
    rows = [LoadRow(record), LoadRow(record), LoadRow(synthetic.person(1, seed=4), NOW + timedelta(hours=1)),
            LoadRow(synthetic.person(2, seed=4), datetime(1800, 1, 1, tzinfo=UTC)),
            LoadRow(synthetic.person(3, seed=4), None, ("as_of_time: not a valid timestamp",))]
    accepted, rejected = check_rows(POPULATION, rows, NOW)
    assert [g.index for g in accepted] == [0]
    reasons = {r.index: r.reasons for r in rejected}
    # By its position as the bulk loader names it, not quoting the key: a reason is what a loader prints or logs.
    assert reasons[1] == ("citizen_id: repeats record #0 of this load",)
    assert "in the future" in reasons[2][0]
    assert "before 1900" in reasons[3][0]
    assert reasons[4] == ("as_of_time: not a valid timestamp",)


def test_an_implausible_as_of_time_is_said_in_beijing_time() -> None:
    """A typed 2999-11-30 (Beijing time, as the file has it) was said to be '2999-11-29T16:00:00+00:00 is in the
    future'; and 1900-01-01 03:00 in Beijing time was 'before 1900', as its UTC instant is."""
    beijing = timezone(timedelta(hours=8))
    rows = [LoadRow(synthetic.person(0, seed=5), datetime(2999, 11, 30, tzinfo=beijing)),
            LoadRow(synthetic.person(1, seed=5), datetime(1899, 12, 31, 23, tzinfo=beijing)),
            LoadRow(synthetic.person(2, seed=5), datetime(1900, 1, 1, 3, tzinfo=beijing))]
    accepted, rejected = check_rows(POPULATION, rows, NOW)
    assert [r.reasons for r in rejected] == [("as_of_time: 2999-11-30 00:00:00+08:00 is in the future",),
                                             ("as_of_time: 1899-12-31 23:00:00+08:00 is before 1900",)]
    assert [g.index for g in accepted] == [2]


def test_compare_reports_disagreeing_and_agreeing_items_only_for_what_the_other_source_said() -> None:
    ours = StoredRecord("K", {"citizen_id": "K", "name": "张三", "status": "正常"}, "SOURCE", NOW, NOW)
    theirs = SourceValues("K", "OTHER", {"citizen_id": "K", "name": "张叁", "status": "正常", "address": "某地"}, NOW)
    differ, agree = compare(POPULATION, Designation("population", "SOURCE"), ours, theirs)
    assert differ == [Disagreement("K", "name", "张三", "张叁", "OTHER"),
                      Disagreement("K", "address", "", "某地", "OTHER")]
    assert agree == [("K", "status", "OTHER")]


def test_compare_skips_the_items_the_other_source_is_authoritative_for() -> None:
    ours = StoredRecord("K", {"citizen_id": "K", "name": "张三", "status": "正常"}, "SOURCE", NOW, NOW)
    theirs = SourceValues("K", "OTHER", {"citizen_id": "K", "name": "张叁", "status": "死亡"}, NOW)
    designation = Designation("population", "SOURCE", {"status": "OTHER"})
    differ, agree = compare(POPULATION, designation, ours, theirs)
    assert differ == [Disagreement("K", "name", "张三", "张叁", "OTHER")] and agree == []


def test_plan_closes_open_conflicts_that_now_agree_and_does_not_reraise_dismissed_ones() -> None:
    existing = [conflict(1, "status", "正常", "死亡"),
                conflict(2, "name", "张三", "张叁", RESOLVED, f"{KEEP_AUTHORITATIVE}: 户籍底册为准")]
    found = [Disagreement("K", "name", "张三", "张叁", "OTHER"), Disagreement("K", "address", "甲", "乙", "OTHER")]
    to_record, to_close = plan_conflicts(found, [("K", "status", "OTHER")], existing)
    assert to_record == [Disagreement("K", "address", "甲", "乙", "OTHER")]
    assert to_close == [1]


def test_plan_raises_a_dismissed_item_again_when_the_values_change() -> None:
    existing = [conflict(2, "name", "张三", "张叁", RESOLVED, KEEP_AUTHORITATIVE)]
    found = [Disagreement("K", "name", "张三", "章三", "OTHER")]
    assert plan_conflicts(found, [], existing) == (found, [])
