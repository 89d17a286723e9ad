"""What leaves the 前置机: a department column's value as text a caller can read, and the record's as-of time.

A department's database is not the platform's: its times may carry no zone (Beijing time, in a Chinese
department), and its columns may be of any type PostgreSQL has.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import pytest

from frontproc.access_log import AccessLog, read
from frontproc.config import KEY_KINDS, ConfigError, parse
from frontproc.limits import RateLimit
from frontproc.servicer import FrontprocServicer
from frontproc.store import DepartmentStore, check_resources
from govshare.provider.v1 import provider_pb2, provider_pb2_grpc
from services.query.keys import normalize_key
from services.runtime.embedded import create_database
from services.runtime.errors import ServiceError
from services.runtime.keys import generate_keys
from services.runtime.provider_assertions import (
    AccessClaims,
    ProviderAssertionSigner,
    ProviderAssertionVerifier,
    provider_public_keys,
)

BEIJING = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
async def database_url(embedded) -> str:  # type: ignore[no-untyped-def]
    url = await create_database(embedded.database_url, f"dept_values_{uuid.uuid4().hex[:8]}")
    await _execute(url, """
            CREATE TABLE registry (
                code text PRIMARY KEY, updated timestamp, updated_tz timestamptz, day date, amount numeric,
                ratio float8, photo bytea, tags text[], term interval, label text, flag "char");
            INSERT INTO registry VALUES ('a', '2026-12-01 10:00:00', '2026-12-01 10:00:00+08', '2026-12-01',
                12.50, 0.00001, '\\x00ff', '{x,y}', '1 day', 'ok');
            INSERT INTO registry (code, day) VALUES ('b', '2026-12-01');""")
    return url


async def _execute(url: str, sql: str) -> None:
    """Runs a department's DDL and data, as its DBA would."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _config(tmp_path: Path, url: str, items: dict[str, str], as_of: str = "updated", zone: str = "") -> str:
    (tmp_path / "platform.pem").write_text(provider_public_keys(generate_keys().provider_signing_key))
    mapped = "".join(f"      {item}: {column}\n" for item, column in items.items())
    return (f"department:\n  code: 91110000600037341L\n"
            f"database:\n  url: {url}\n" + (f"  time_zone: {zone}\n" if zone else "") +
            "platform:\n  public_keys_file: platform.pem\n"
            "resources:\n  - dataset: registry\n    key: {item: code, kind: text}\n    table: registry\n"
            f"    key_column: code\n    as_of_column: {as_of}\n    items:\n      code: code\n{mapped}")


async def _query_store(tmp_path: Path, database_url: str, items: dict[str, str], sql: str) -> DepartmentStore:
    """An opened store serving registry by ``query: sql`` (its key $1) instead of its table, the items mapped."""
    text = (_config(tmp_path, database_url, items).replace("    as_of_column: updated\n", "")
            .replace("    table: registry\n    key_column: code\n", f"    query: {sql}\n"))
    store = DepartmentStore(parse(text, str(tmp_path / "dept.yaml")))
    await store.open()
    return store

async def _unreadable_alone_and_in_a_batch(store: DepartmentStore, key: str, other: str, said: str) -> None:
    """``key`` is its record's RECORD_UNREADABLE saying ``said``, asked alone and in a batch beside ``other``."""
    for ask in (store.lookup("registry", key), store.batch_lookup("registry", [other, key])):
        with pytest.raises(ServiceError) as error:
            await ask
        assert (error.value.code, error.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "RECORD_UNREADABLE")
        assert said in error.value.message


async def _read(tmp_path: Path, text: str, key: str):  # type: ignore[no-untyped-def]
    config = parse(text, str(tmp_path / "dept.yaml"))
    connection = await asyncpg.connect(config.database_url)
    try:
        await check_resources(config, connection)
    finally:
        await connection.close()
    store = DepartmentStore(config)
    await store.open()
    try:
        return await store.lookup("registry", key)
    finally:
        await store.close()


async def test_a_time_without_a_zone_is_beijing_time_unless_the_database_says_otherwise(
        tmp_path: Path, database_url: str) -> None:
    items = {"updated": "updated", "updated_tz": "updated_tz"}
    row = await _read(tmp_path, _config(tmp_path, database_url, items), "a")
    # Read as UTC, the row updated at 10:00 in Beijing would have said it was true at 18:00.
    assert row.as_of == dt.datetime(2026, 12, 1, 10, tzinfo=BEIJING)
    assert row.values["updated"] == "2026-12-01T10:00:00+08:00"
    assert row.values["updated_tz"] == "2026-12-01T10:00:00+08:00"

    row = await _read(tmp_path, _config(tmp_path, database_url, items, zone="UTC"), "a")
    assert row.as_of == dt.datetime(2026, 12, 1, 10, tzinfo=dt.UTC)
    assert row.values["updated"] == "2026-12-01T10:00:00+00:00"
    assert row.values["updated_tz"] == "2026-12-01T02:00:00+00:00"


async def test_a_date_as_of_is_the_start_of_that_day_in_the_databases_zone(
        tmp_path: Path, database_url: str) -> None:
    row = await _read(tmp_path, _config(tmp_path, database_url, {"day": "day"}, as_of="day"), "b")
    assert row.as_of == dt.datetime(2026, 12, 1, tzinfo=BEIJING)
    assert row.values == {"code": "b", "day": "2026-12-01"}  # NULL columns are left out


async def test_a_time_before_the_zones_standard_time_carries_its_standard_offset_not_local_mean_time(
        tmp_path: Path, database_url: str) -> None:
    """Before 1901 the IANA database gives Asia/Shanghai its local mean time, +08:05:43: a 1900 登记时间 left as
    1900-01-01T00:00:00+08:05:43, and its as-of time 5 min 43 s off, beside every later time's +08:00."""
    await _execute(database_url, "INSERT INTO registry (code, updated, updated_tz, day) VALUES "
                                 "('old', '1900-01-01 00:00', '1900-01-01 00:00+08', '1900-01-01')")
    items = {"updated": "updated", "updated_tz": "updated_tz", "day": "day"}
    row = await _read(tmp_path, _config(tmp_path, database_url, items), "old")
    assert row.values == {"code": "old", "updated": "1900-01-01T00:00:00+08:00",
                          "updated_tz": "1900-01-01T00:00:00+08:00", "day": "1900-01-01"}
    assert row.as_of == dt.datetime(1900, 1, 1, tzinfo=BEIJING)
    assert row.as_of.utcoffset() == dt.timedelta(hours=8)
    row = await _read(tmp_path, _config(tmp_path, database_url, items, as_of="day"), "old")
    assert row.as_of == dt.datetime(1900, 1, 1, tzinfo=BEIJING)
    # Another zone's local mean time (Asia/Urumqi's +05:50:20 before 1928) alike: its first standard offset.
    row = await _read(tmp_path, _config(tmp_path, database_url, items, zone="Asia/Urumqi"), "old")
    assert row.values["updated"] == "1900-01-01T00:00:00+06:00"
    assert row.values["updated_tz"] == "1899-12-31T22:00:00+06:00"


async def test_numbers_leave_in_decimal_without_an_exponent(tmp_path: Path, database_url: str) -> None:
    row = await _read(tmp_path, _config(tmp_path, database_url, {"amount": "amount", "ratio": "ratio"}), "a")
    assert row.values["amount"] == "12.50" and row.values["ratio"] == "0.00001"


async def test_a_real_leaves_as_the_number_the_database_holds_not_its_binary_expansion(
        tmp_path: Path, database_url: str) -> None:
    """A real (float4) column's 123.45 left as 123.44999694824219, asyncpg's float8 nearest its binary value (and
    0.1 as 0.10000000149011612): not the number the department keeps, and a verification of 123.45 did not match.
    It leaves as PostgreSQL writes it, in decimal; NaN and ±Infinity are still no value."""
    await _execute(database_url, """
        ALTER TABLE registry ADD COLUMN area real;
        INSERT INTO registry (code, area, label) VALUES ('r1', 123.45, 'x'), ('r2', 0.1, 'y'), ('r3', 1e-7, 'z'),
            ('r4', 'NaN', 'w'), ('r5', 16777216, 'v');""")
    text = _config(tmp_path, database_url, {"area": "area", "label": "label"})
    expected = {"r1": "123.45", "r2": "0.1", "r3": "0.0000001", "r4": None, "r5": "16777216"}
    for key, area in expected.items():
        assert (await _read(tmp_path, text, key)).values.get("area") == area
    store = DepartmentStore(parse(text, str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        assert {row.key: row.values.get("area") for row in await store.batch_lookup("registry", list(expected))} \
            == expected
        assert {row.key: row.values.get("area") for row in (await store.page("registry", "b", 10)).rows} == expected
    finally:
        await store.close()


@pytest.mark.parametrize(("amount", "ratio"), [("NaN", "NaN"), ("Infinity", "-Infinity"), ("-Infinity", "Infinity")])
async def test_a_number_that_is_no_number_is_no_value(tmp_path: Path, database_url: str, amount: str,
                                                      ratio: str) -> None:
    """A numeric's 'NaN' (PostgreSQL's "not computed"), or a float's or numeric's ±Infinity, left as "NaN" and
    "Infinity": no number in decimal as the contract says numbers leave (a Java caller's new BigDecimal("NaN")
    throws). Such a value is left out as NULL is."""
    await _execute(database_url, f"INSERT INTO registry (code, amount, ratio, label) VALUES ('n', '{amount}', "
                                 f"'{ratio}', 'x')")
    text = _config(tmp_path, database_url, {"amount": "amount", "ratio": "ratio", "label": "label"})
    assert (await _read(tmp_path, text, "n")).values == {"code": "n", "label": "x"}


@pytest.mark.parametrize(("column", "kind"), [("photo", "bytea"), ("tags", "text[]"), ("term", "interval"),
                                             ("flag", "char")])
async def test_a_column_with_no_text_form_is_refused_at_check_naming_its_line(
        tmp_path: Path, database_url: str, column: str, kind: str) -> None:
    """A "char" column (PostgreSQL's one-byte type, which asyncpg reads as bytes) passed the check, and every call
    was then refused DATABASE_REFUSED as a column altered to bytea: it is named at check, as bytea is."""
    text = _config(tmp_path, database_url, {"extra": column})
    with pytest.raises(ConfigError) as error:
        await _read(tmp_path, text, "a")
    line = next(number for number, content in enumerate(text.splitlines(), 1) if f"extra: {column}" in content)
    assert f"dept.yaml:{line}: resources 'registry': extra maps to column '{column}' of type {kind}, which has " \
           "no text form to share" in str(error.value)


async def test_an_as_of_column_that_is_not_a_time_is_refused_at_check(tmp_path: Path, database_url: str) -> None:
    with pytest.raises(ConfigError) as error:
        await _read(tmp_path, _config(tmp_path, database_url, {}, as_of="label"), "a")
    assert "as_of_column 'label' is of type text: it must be a timestamp, timestamptz or date" in str(error.value)


@pytest.mark.parametrize("zone", ["Beijing", "Asia/Nowhere", "../etc/passwd"])
def test_a_time_zone_that_does_not_exist_is_refused_naming_its_line(tmp_path: Path, zone: str) -> None:
    text = _config(tmp_path, "postgresql://nobody@127.0.0.1:1/none", {}, zone=zone)
    with pytest.raises(ConfigError) as error:
        parse(text, "dept.yaml")
    assert f"dept.yaml:5: database.time_zone must be a time zone name such as Asia/Shanghai, got {zone!r}" \
        in str(error.value)


async def test_a_query_whose_key_parameter_is_not_text_is_refused_at_check(tmp_path: Path, database_url: str) -> None:
    # The check prepared it without complaint, and then the database refused every call: keys are text.
    await _execute(database_url, "CREATE TABLE numbered (n int PRIMARY KEY, label text); "
                                 "INSERT INTO numbered VALUES (42, 'answer')")
    text = _config(tmp_path, database_url, {}).replace(
        "    table: registry\n    key_column: code\n    as_of_column: updated\n",
        "    query: SELECT n::text AS code, label FROM numbered WHERE n = $1\n")
    with pytest.raises(ConfigError) as error:
        await _read(tmp_path, text, "42")
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "query:" in content)
    assert f"dept.yaml:{line}: resources 'registry': $1 is of type int4, but keys are text" in str(error.value)
    row = await _read(tmp_path, text.replace("WHERE n = $1", "WHERE n::text = $1"), "42")
    assert row is not None and row.values == {"code": "42"}
    # A key column of an enum type takes text as it is (and a domain over text is text).
    await _execute(database_url, "CREATE TYPE grade AS ENUM ('A', 'B'); CREATE TABLE graded (g grade, label text);"
                                 " INSERT INTO graded VALUES ('B', 'second')")
    enum = text.replace("SELECT n::text AS code, label FROM numbered WHERE n = $1",
                        "SELECT g::text AS code, label FROM graded WHERE g = $1")
    assert (await _read(tmp_path, enum, "B")).values == {"code": "B"}


async def test_a_table_renamed_under_the_frontproc_is_one_warning_and_a_refusal_not_a_traceback_per_call(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    config = parse(_config(tmp_path, database_url, {"label": "label"}), str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    connection = await asyncpg.connect(database_url)
    try:
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        await connection.execute("ALTER TABLE registry RENAME TO registry_old")
        caplog.set_level(logging.INFO, logger="frontproc.store")
        for call in (store.lookup("registry", "a"), store.batch_lookup("registry", ["a", "b"]),
                     store.page("registry", "", 10)):
            with pytest.raises(ServiceError) as error:
                await call
            assert error.value.code == grpc.StatusCode.FAILED_PRECONDITION and error.value.reason == "DATABASE_REFUSED"
        warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1 and 'relation "registry" does not exist' in warnings[0].getMessage()
        await connection.execute("ALTER TABLE registry_old RENAME TO registry")
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        assert "answers the statements of registry again" in caplog.records[-1].getMessage()
    finally:
        await connection.close()
        await store.close()


async def test_a_column_a_querys_select_star_no_longer_returns_is_a_refusal_naming_it_not_an_internal_error(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A ``query: SELECT * FROM registry WHERE code = $1`` (or one over a view) returns the columns its table has
    now: after the DBA renamed a mapped column, every call ended in KeyError (INTERNAL to the platform, a traceback
    per call). It is the statements refused (DATABASE_REFUSED, said once naming the column), till the column is
    back."""
    store = await _query_store(tmp_path, database_url, {"label": "label"}, "SELECT * FROM registry WHERE code = $1")
    connection = await asyncpg.connect(database_url)
    try:
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        await connection.execute("ALTER TABLE registry RENAME COLUMN label TO biaoqian")
        caplog.set_level(logging.INFO, logger="frontproc.store")
        for call in (store.lookup("registry", "a"), store.batch_lookup("registry", ["a", "b"])):
            with pytest.raises(ServiceError) as error:
                await call
            assert (error.value.code, error.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DATABASE_REFUSED")
        warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1 and "the statements of registry no longer return the column 'label' it maps " \
                                      "(it has amount, biaoqian, code, " in warnings[0], warnings
        await connection.execute("ALTER TABLE registry RENAME COLUMN biaoqian TO label")
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        assert "answers the statements of registry again" in caplog.records[-1].getMessage()
    finally:
        await connection.close()
        await store.close()


@pytest.mark.parametrize(("altered", "holds"), [("bytea USING label::bytea", "bytea"),
                                              ("text[] USING ARRAY[label]", "an array"),
                                              ("interval USING '1 day'", "an interval")])
async def test_a_column_altered_under_the_frontproc_to_a_type_with_no_text_form_is_refused_not_shared(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture, altered: str, holds: str) -> None:
    """The check at start refuses a column with no text form; altered to one while the 前置机 served (ALTER TABLE …
    TYPE bytea), its values left in Python's notation ("b'ok'", "['ok']", "1 day, 0:00:00") as the record's."""
    config = parse(_config(tmp_path, database_url, {"label": "label"}), str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    try:
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        await _execute(database_url, f"ALTER TABLE registry ALTER COLUMN label TYPE {altered}")
        caplog.set_level(logging.INFO, logger="frontproc.store")
        for call in (store.lookup("registry", "a"), store.batch_lookup("registry", ["a", "b"]),
                     store.page("registry", "", 10)):
            with pytest.raises(ServiceError) as error:
                await call
            assert error.value.code == grpc.StatusCode.FAILED_PRECONDITION and error.value.reason == "DATABASE_REFUSED"
        warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1 and f"column label (label) of registry no longer has a text form (it holds " \
                                      f"{holds}" in warnings[0], warnings
        await _execute(database_url, "ALTER TABLE registry ALTER COLUMN label TYPE text USING 'ok'")
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        assert "answers the statements of registry again" in caplog.records[-1].getMessage()
    finally:
        await store.close()


async def test_an_as_of_column_altered_under_the_frontproc_to_text_is_refused_not_read_as_now(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The check at start refuses an as-of column that is not a time; altered to text while the 前置机 served, its
    value was read as no time at all and the record said true as of the moment of the read, however old."""
    store = DepartmentStore(parse(_config(tmp_path, database_url, {"label": "label"}), str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        assert (await store.lookup("registry", "a")).as_of == dt.datetime(2026, 12, 1, 10, tzinfo=BEIJING)
        await _execute(database_url, "ALTER TABLE registry ALTER COLUMN updated TYPE text")
        caplog.set_level(logging.WARNING, logger="frontproc.store")
        with pytest.raises(ServiceError) as error:
            await store.lookup("registry", "a")
        assert error.value.reason == "DATABASE_REFUSED"
        assert "the as_of_column updated of registry no longer holds times" in caplog.records[-1].getMessage()
    finally:
        await store.close()


async def test_a_query_with_more_parameters_than_the_key_is_refused_at_check(tmp_path: Path, database_url: str) -> None:
    text = _config(tmp_path, database_url, {}).replace(
        "    table: registry\n    key_column: code\n    as_of_column: updated\n",
        "    query: SELECT code FROM registry WHERE code = $1 AND label = $2\n")
    with pytest.raises(ConfigError) as error:
        await _read(tmp_path, text, "a")
    assert "the query takes 2 parameters: it is given one, the key ($1)" in str(error.value)


async def test_a_query_whose_1_is_in_quotes_is_refused_at_check_naming_its_line(tmp_path: Path,
                                                                                 database_url: str) -> None:
    """'$1' in quotes (the text $1, not the key: the officer took the parameter for one substituted as text) made a
    query of no parameter: --check said the database "stopped answering during the check" (asyncpg's "the server
    expects 0 arguments for this query, 1 was passed"), and each call would have been INTERNAL."""
    text = _config(tmp_path, database_url, {}).replace(
        "    table: registry\n    key_column: code\n    as_of_column: updated\n",
        "    query: SELECT code FROM registry WHERE code = '$1'\n")
    with pytest.raises(ConfigError) as error:
        await _read(tmp_path, text, "a")
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "query:" in content)
    assert (f"dept.yaml:{line}: resources 'registry': the query takes no parameter: $1 is the key's parameter, "
            "written without quotes ('$1' is the text $1, not the key): WHERE column = $1") in str(error.value)


def _citizen_config(tmp_path: Path, url: str, table: str) -> str:
    """A resource keyed by 公民身份号码 over ``table`` (sfzhm, xm), without an as-of column."""
    return (_config(tmp_path, url, {"name": "xm"})
            .replace("key: {item: code, kind: text}", "key: {item: code, kind: citizen_id}")
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     f"    table: {table}\n    key_column: sfzhm\n")
            .replace("      code: code\n", "      code: sfzhm\n"))


async def _exported_keys(store: DepartmentStore, rows: int) -> list[str]:
    """The keys an export sends, walked as Export walks the table (a row a page), failing if it goes round."""
    after, keys = "", []
    while (page := await store.page("registry", after, 1)).rows:
        keys.append(page.rows[0].key)
        after = page.rows[0].cursor
        assert len(keys) <= rows, keys
    return keys


async def test_an_id_number_held_with_a_lower_case_x_is_found_and_paged_past(tmp_path: Path, database_url: str) -> None:
    """Many departments' tables keep the check character of a 公民身份号码 as a lower-case x; the platform asks with
    an upper-case X (and matches replies by it). Such a row was answered as absent."""
    await _execute(database_url, "CREATE TABLE people (sfzhm text PRIMARY KEY, xm text); INSERT INTO people VALUES"
                                 " ('11010519491231002x', '甲'), ('110105198001011000', '乙'),"
                                 " ('11010519800101106x', '丙')")
    text = _citizen_config(tmp_path, database_url, "people")
    row = await _read(tmp_path, text, "11010519491231002X")
    assert row is not None and row.key == "11010519491231002X" and row.values["name"] == "甲"
    # The key item's value is the key, as the platform writes it (the caller asked for ...002X, and was answered
    # citizen_id ...002x, its own systems comparing the two as different persons).
    assert row.values["code"] == "11010519491231002X"
    query = text.replace("    table: people\n    key_column: sfzhm\n",
                         "    query: SELECT sfzhm, xm FROM people WHERE sfzhm = $1\n")
    assert (await _read(tmp_path, query, "11010519491231002X")).values["name"] == "甲"

    config = parse(text, str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    try:
        rows = await store.batch_lookup("registry", ["11010519491231002X", "110105198001011000", "110105198001011019"])
        assert sorted(r.key for r in rows) == ["11010519491231002X", "110105198001011000"]
        assert sorted(r.values["code"] for r in rows) == ["11010519491231002X", "110105198001011000"]
        # (the old cursor, the upper-case key, came back to the same row forever)
        assert await _exported_keys(store, 3) == ["11010519491231002X", "110105198001011000", "11010519800101106X"]
    finally:
        await store.close()


async def test_a_row_whose_key_is_blank_is_left_out_of_a_batch_download_as_one_without_a_key(
        tmp_path: Path, database_url: str) -> None:
    """A 公民身份号码 column holding blanks (spaces, a full-width space pasted from a spreadsheet) instead of the
    number: such rows left a batch download under the key '', records of nobody, several under one empty key,
    while a row holding '' or NULL was left out (no lookup can find any of them)."""
    await _execute(database_url, "CREATE TABLE blanks (sfzhm text UNIQUE, xm text); INSERT INTO blanks VALUES"
                                 " ('   ', '甲'), (E'\\u3000', '乙'), ('', '丙'), (NULL, '丁'),"
                                 " ('11010519491231002X', '戊')")
    store = DepartmentStore(parse(_citizen_config(tmp_path, database_url, "blanks"), str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        after, keys = "", []
        while True:  # pages of one row, as _exported_keys walks them, and of the whole table
            page = await store.page("registry", after, 1)
            keys += [row.key for row in page.rows]
            if not page.after:
                break
            after = page.after
        assert keys == ["11010519491231002X"]
        assert [row.key for row in (await store.page("registry", "", 10)).rows] == ["11010519491231002X"]
    finally:
        await store.close()


async def test_a_first_generation_15_digit_id_number_is_found_by_the_18_character_number_it_became(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A department table filled before 1999 keeps 15-digit ID numbers (342322491106045); the platform asks only
    with the 18-character number GB 11643-1999 made of it (342322194911060454): such a row was answered as absent
    (库无 to the desk verifying a person the department holds), and the check called the key mistyped. The row is
    found, its key item answered in the 18-character form, paged past by an export, and the check is silent."""
    await _execute(database_url, "CREATE TABLE old_ids (sfzhm text PRIMARY KEY, xm text); INSERT INTO old_ids VALUES"
                                 " ('342322491106045', '甲'), ('110105198001011000', '乙'), ('110105491231002', '丙')")
    text = _citizen_config(tmp_path, database_url, "old_ids")
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    row = await _read(tmp_path, text, "342322194911060454")
    assert row is not None and row.key == "342322194911060454" and row.values["name"] == "甲"
    assert row.values["code"] == "342322194911060454"
    assert not [record for record in caplog.records if record.name == "frontproc.store"]
    query = text.replace("    table: old_ids\n    key_column: sfzhm\n",
                         "    query: SELECT sfzhm, xm FROM old_ids WHERE sfzhm = $1\n")
    assert (await _read(tmp_path, query, "11010519491231002X")).values["name"] == "丙"
    # One person kept under both numbers: answered with one row, and the check says so (the index sees two keys).
    await _execute(database_url, "INSERT INTO old_ids VALUES ('342322194911060454', '甲')")
    assert (await _read(tmp_path, text, "342322194911060454")) is not None
    said = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
    assert [line.split(": ", 1)[1] for line in said] == [
        "resources 'registry': 1 person is held under both the 15-digit ID number and the 18-character one it became "
        "(such as 342322********0454): the platform asks by the 18-character number and is answered with one of the "
        "two rows (the one true the latest by as_of_column), and a batch download sends the person twice: keep one "
        "row per person (the 18-character number)"], said
    await _execute(database_url, "DELETE FROM old_ids WHERE sfzhm = '342322194911060454'")
    # A number of someone born in the 2000s had no 15-digit form: only its own row answers it; nor does a number
    # differing from the one the 15-digit number became by its check character.
    assert await _read(tmp_path, text, "110105200001011002") is None
    assert await _read(tmp_path, text, "342322194911060455") is None

    store = DepartmentStore(parse(text, str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        rows = await store.batch_lookup("registry", ["342322194911060454", "110105198001011000", "11010519491231002X"])
        assert sorted((r.key, r.values["code"], r.values["name"]) for r in rows) == [
            ("11010519491231002X", "11010519491231002X", "丙"), ("110105198001011000", "110105198001011000", "乙"),
            ("342322194911060454", "342322194911060454", "甲")]
        assert await _exported_keys(store, 3) == ["110105198001011000", "11010519491231002X", "342322194911060454"]
    finally:
        await store.close()


async def test_the_check_says_when_a_key_is_held_both_in_upper_and_in_lower_case(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A table keeping one person as …002X and again as …002x (entered twice, by two systems): the unique index sees
    two keys, both rows answer the key, a batch download sends the person twice, and the check was silent."""
    await _execute(database_url, "CREATE TABLE people (sfzhm text PRIMARY KEY, xm text); INSERT INTO people VALUES"
                                 " ('11010519491231002x', '甲'), ('110105198001011000', '乙')")
    text = _citizen_config(tmp_path, database_url, "people")
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    assert (await _read(tmp_path, text, "11010519491231002X")).values["name"] == "甲"
    assert not [record for record in caplog.records if record.name == "frontproc.store"]
    await _execute(database_url, "INSERT INTO people VALUES ('11010519491231002X', '甲2')")
    assert (await _read(tmp_path, text, "11010519491231002X")).values["name"] == "甲2"
    said = [record.getMessage().split(": ", 1)[1] for record in caplog.records if record.name == "frontproc.store"]
    assert said == [
        "resources 'registry': 1 ID number is held both in upper case and in lower case (such as 110105********002X, "
        "in a row of its own as 110105********002x): the platform asks in upper case and is answered with the "
        "upper-case row, whichever is true the latest, and a batch download sends the record twice: keep one row "
        "per ID number"], said
    store = DepartmentStore(parse(text, str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        assert sorted(await _exported_keys(store, 3)) == ["11010519491231002X", "11010519491231002X",
                                                          "110105198001011000"]
    finally:
        await store.close()


@pytest.mark.parametrize(("ddl", "says"), [
    ("CREATE TABLE keyed (k text, v text)", "has no index on its key column k: every lookup reads the whole table"),
    ("CREATE TABLE keyed (k text, v text); CREATE INDEX ON keyed (k)", "the key column k of keyed is not unique"),
    ("CREATE TABLE keyed (k text PRIMARY KEY, v text)", ""),
    ("CREATE TABLE keyed (k int, v text); CREATE UNIQUE INDEX ON keyed ((k::text))", ""),
    # Lookups compare the key as text (k::text = ANY($1)): a primary key on an integer or a char(n) column (a
    # 公民身份号码 kept as char(18)) cannot serve them, and every lookup read the whole table without a word.
    ("CREATE TABLE keyed (k int PRIMARY KEY, v text)", "keyed's unique index on its key column k cannot serve "
     "lookups, which compare the column as text"),
    ("CREATE TABLE keyed (k char(18) PRIMARY KEY, v text)", "every lookup reads the whole table (CREATE UNIQUE INDEX"),
    # A materialized view (refreshed nightly from the department's systems) keeps indexes as a table does: taken
    # for a view, one without an index was read whole at every lookup, the check silent.
    ("CREATE TABLE source (k text PRIMARY KEY, v text); CREATE MATERIALIZED VIEW keyed AS SELECT * FROM source",
     "materialized view keyed has no index on its key column k: every lookup reads the whole table"),
    ("CREATE TABLE source (k text PRIMARY KEY, v text); CREATE MATERIALIZED VIEW keyed AS SELECT * FROM source; "
     "CREATE UNIQUE INDEX ON keyed (k)", ""),
    ("CREATE TABLE keyed (k char(18), v text); CREATE INDEX ON keyed (k)",
     "keyed's index on its key column k cannot serve lookups, which compare the column as text (k::text): every "
     "lookup reads the whole table (CREATE UNIQUE INDEX"),
    ("CREATE TABLE keyed (k varchar(18) PRIMARY KEY, v text)", ""),
    # An index holding every column read can be read whole instead of the table: no lookup by key either.
    ("CREATE TABLE keyed (k int PRIMARY KEY, v text); CREATE INDEX ON keyed (k, v)", "cannot serve lookups"),
    # An expression index of another column is no index of the key, whatever its name holds.
    ("CREATE TABLE keyed (k text, v text); CREATE UNIQUE INDEX keyed_k_idx ON keyed (lower(v))",
     "has no index on its key column k"),
    # A unique index on an expression of the key and something else (one row per key and year, one valid row per
    # key) was taken for the key's unique index: a key held by several rows passed without a word. One on a
    # function of the key alone (upper(k)) keeps the key unique, as the key's own does.
    ("CREATE TABLE keyed (k text, v text, nd int); CREATE INDEX ON keyed (k); CREATE UNIQUE INDEX ON keyed "
     "((k || nd::text)); INSERT INTO keyed VALUES ('A1', 'x', 2025), ('A1', 'y', 2026)",
     "the key column k of keyed is not unique: 1 key is held by several rows"),
    ("CREATE TABLE keyed (k text, v text); CREATE INDEX ON keyed (k); CREATE UNIQUE INDEX ON keyed "
     "((CASE WHEN v = '有效' THEN k END)); INSERT INTO keyed VALUES ('A1', '有效'), ('A1', '注销')",
     "the key column k of keyed is not unique: 1 key is held by several rows"),
    ("CREATE TABLE keyed (k text, v text); CREATE INDEX ON keyed (k); CREATE UNIQUE INDEX ON keyed (upper(k))", ""),
    ("CREATE TABLE base (k text, v text); CREATE VIEW keyed AS SELECT k, v FROM base", ""),  # a view: one row a key
    # A view joining a person to their addresses returns them twice: said as of a table without a unique key.
    ("CREATE TABLE base (k text, v text); INSERT INTO base VALUES ('A-2026-000001', '1'), ('A-2026-000001', '2'),"
     " ('B', '3'); CREATE VIEW keyed AS SELECT k, v FROM base", "keyed returns "
     "several rows for a key: 1 key is held by several rows (2 rows in all; A-20*****0001 in 2 rows); a key held by "
     'several rows answers with one of them'),
])
async def test_the_check_warns_of_a_key_column_without_a_unique_index(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture, ddl: str, says: str) -> None:
    """A key without an index made every lookup a scan of the department's table, and a key held by several rows
    answered with one of them; the 前置机 served either without a word."""
    await _execute(database_url, ddl)
    text = (_config(tmp_path, database_url, {"label": "v"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: keyed\n    key_column: k\n")
            .replace("      code: code\n", "      code: k\n"))
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    assert await _read(tmp_path, text, "1") is None
    warnings = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
    assert [says in warning for warning in warnings] == ([True] if says else [])


@pytest.mark.parametrize("partitioned", ["LIST (qx)", "HASH (k)"])
async def test_the_index_the_check_advises_on_a_partitioned_table_is_one_the_database_creates(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture, partitioned: str) -> None:
    """A table partitioned by region (a 户籍 table by 区县) can hold no unique index without its partition key, but
    the check advised CREATE UNIQUE INDEX ON keyed ((k::text)), which the database refuses ("unique constraint on
    partitioned table must include all partitioning columns"): the DBA ran the advice and got an error. Of such
    a table it advises the index lookups need; of one partitioned by the key alone, the unique one."""
    await _execute(database_url, f"""
        CREATE TABLE keyed (k text NOT NULL, v text, qx text NOT NULL) PARTITION BY {partitioned};
        {"CREATE TABLE keyed_1 PARTITION OF keyed FOR VALUES IN ('110101')" if "LIST" in partitioned else
         "CREATE TABLE keyed_1 PARTITION OF keyed FOR VALUES WITH (MODULUS 1, REMAINDER 0)"};
        INSERT INTO keyed VALUES ('1', 'a', '110101');""")
    text = (_config(tmp_path, database_url, {"label": "v"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: keyed\n    key_column: k\n")
            .replace("      code: code\n", "      code: k\n"))
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    assert (await _read(tmp_path, text, "1")).values == {"code": "1", "label": "a"}
    [warning] = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
    advised = re.search(r"CREATE (UNIQUE )?INDEX ON \S+ \(\(\S+::text\)\)", warning)
    assert advised is not None, warning
    assert bool(advised.group(1)) == ("HASH" in partitioned), warning
    await _execute(database_url, advised.group(0))  # the database creates it
    caplog.clear()
    await _read(tmp_path, text, "1")
    assert [record.getMessage() for record in caplog.records if record.name == "frontproc.store"] == []
    if "LIST" in partitioned:  # a key held twice: what to do first, and still no unique index
        await _execute(database_url, "CREATE TABLE keyed_2 PARTITION OF keyed FOR VALUES IN ('110102'); "
                                     "INSERT INTO keyed VALUES ('1', 'b', '110102')")
        await _read(tmp_path, text, "1")
        [warning] = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
        assert "1 key is held by several rows" in warning and "CREATE UNIQUE" not in warning, warning
        assert "partitioned LIST (qx), it can hold no unique index on k alone: keep one row per key" in warning


@pytest.mark.parametrize("index", ["", "CREATE INDEX ON dup (sfzhm);"])
async def test_the_unique_index_advice_on_a_table_holding_a_key_twice_says_which_masked_and_what_to_do(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture, index: str) -> None:
    """The check advised CREATE UNIQUE INDEX on a table holding keys in several rows: the DBA ran it and the
    database refused it ("could not create unique index … Key (sfzhm)=(342322194911060454) is duplicated"), one
    person's number in full at a time, nothing saying how many more. The check now says how many keys, in how
    many rows, a few of them masked, and what to do first."""
    await _execute(database_url, f"CREATE TABLE dup (sfzhm text, xm text, gxsj timestamp); {index}"
                                 "INSERT INTO dup VALUES ('342322194911060454', '甲', '2026-01-01'),"
                                 " ('342322194911060454', '乙', '2026-02-01'), ('342322194911060454', '丙', NULL),"
                                 " ('11010519491231002X', '丁', NULL), ('11010519491231002X', '戊', NULL),"
                                 " ('110105198001011000', '己', NULL)")
    text = (_config(tmp_path, database_url, {"name": "xm"}, as_of="gxsj")
            .replace("    table: registry\n    key_column: code\n", "    table: dup\n    key_column: sfzhm\n")
            .replace("      code: code\n", "      citizen_id: sfzhm\n")
            .replace("key: {item: code, kind: text}", "key: {item: citizen_id, kind: citizen_id}"))
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    config = parse(text, str(tmp_path / "dept.yaml"))
    connection = await asyncpg.connect(config.database_url)
    try:
        await check_resources(config, connection)
    finally:
        await connection.close()
    [warning] = [record.getMessage() for record in caplog.records
                 if record.name == "frontproc.store" and "several rows" in record.getMessage()]
    assert "2 keys are each held by several rows (5 rows in all; 342322********0454 in 3 rows, " \
           "110105********002X in 2 rows)" in warning
    assert "A unique index cannot be created while they are there" in warning
    assert 'share a view that does (SELECT DISTINCT ON ("sfzhm"::text) * FROM "dup" ORDER BY "sfzhm"::text, ' \
           '"gxsj" DESC NULLS LAST), then CREATE UNIQUE INDEX ON "dup" (("sfzhm"::text))' in warning
    assert ("until then CREATE INDEX" in warning) == (not index)
    assert "342322194911060454" not in warning and "11010519491231002X" not in warning
    # The view advised keeps the row the 前置机 answers with, the one true the latest: not the undated one, which
    # "gxsj DESC" alone put first (PostgreSQL sorts NULL first in a descending order).
    view = re.search(r"share a view that does \((SELECT DISTINCT ON .*?)\), then", warning)[1]  # type: ignore[index]
    connection = await asyncpg.connect(config.database_url)
    try:
        kept = await connection.fetchval(f"SELECT xm FROM ({view}) AS one WHERE sfzhm = '342322194911060454'")
    finally:
        await connection.close()
    assert kept == (await _read(tmp_path, text, "342322194911060454")).values["name"] == "乙"


async def test_a_refusal_quoting_a_value_is_logged_without_it(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A view that stopped converting (a name where a number was) makes PostgreSQL quote the value in its error:
    the 前置机's warning names the error's class and code, not the value."""
    await _execute(database_url, "CREATE TABLE raw (k text PRIMARY KEY, v text); INSERT INTO raw VALUES ('a', '12');"
                                 " CREATE VIEW converted AS SELECT k, v::int AS n FROM raw")
    text = (_config(tmp_path, database_url, {"n": "n"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: converted\n    key_column: k\n")
            .replace("      code: code\n", "      code: k\n"))
    config = parse(text, str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    try:
        assert (await store.lookup("registry", "a")).values["n"] == "12"
        await _execute(database_url, "UPDATE raw SET v = '张三丰' WHERE k = 'a'")
        caplog.set_level(logging.WARNING, logger="frontproc.store")
        with pytest.raises(ServiceError):
            await store.lookup("registry", "a")
        [warning] = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
        assert "InvalidTextRepresentationError, SQLSTATE 22P02" in warning and "张三丰" not in warning
    finally:
        await store.close()


async def test_a_row_the_database_cannot_send_is_that_records_problem_not_a_refusal_of_the_statements(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A data exception on one row (here a view's cast; GBK bytes in a SQL_ASCII database are another) was
    reported as the database refusing the dataset's statements, with --check to run, which finds them valid."""
    await _execute(database_url, "CREATE VIEW registry_numbers AS SELECT code, label::int AS number FROM registry")
    text = _config(tmp_path, database_url, {"number": "number"}).replace(
        "    table: registry\n    key_column: code\n    as_of_column: updated\n",
        "    table: registry_numbers\n    key_column: code\n")
    config = parse(text, str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    try:
        caplog.set_level(logging.INFO, logger="frontproc.store")
        with pytest.raises(ServiceError) as error:
            await store.lookup("registry", "a")
        assert error.value.code == grpc.StatusCode.FAILED_PRECONDITION and error.value.reason == "RECORD_UNREADABLE"
        warning = caplog.records[-1].getMessage()
        assert "a row of registry holds a value the department database cannot send (" \
               "InvalidTextRepresentationError, SQLSTATE 22P02)" in warning
        assert "refuses the statements" not in warning and "ok" not in warning
        assert (await store.lookup("registry", "b")).values == {"code": "b"}
        assert "answers the statements" not in caplog.records[-1].getMessage()
        # The call leaves its line, whose audit id is how the department finds the row (keys are not logged).
        keys = generate_keys()
        access_log = AccessLog(str(tmp_path / "access.jsonl"))
        access_log.open()
        servicer = FrontprocServicer(config, ProviderAssertionVerifier(
            provider_public_keys(keys.provider_signing_key), audience="fqj"), store, access_log, RateLimit(10, 10))
        assertion = ProviderAssertionSigner(keys.provider_signing_key).metadata("fqj", AccessClaims(audit_id="a-1"))
        with pytest.raises(ServiceError):
            await servicer.Lookup(provider_pb2.LookupRequest(dataset="registry", key="a"),
                                  SimpleNamespace(invocation_metadata=lambda: assertion))
        access_log.close()
        lines = read(str(tmp_path / "access.jsonl"))
        assert [(line["audit_id"], line["outcome"]) for line in lines] == [("a-1", "RECORD_UNREADABLE")]
    finally:
        await store.close()


async def test_an_export_leaves_out_the_rows_the_database_cannot_send_and_says_how_many(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """One row the database cannot send (a date typed 20260-03-01; a view's cast failing on that row) ended the whole
    export RECORD_UNREADABLE: the rows after it never left, and nothing said which row or how many. Such a row is
    left out now, named in the log by its key masked, the export goes on, and the platform is told how many
    (ExportResponse.skipped), as the access log's line is."""
    await _execute(database_url, """
        INSERT INTO registry (code, day, label) VALUES ('c', '20260-03-01', 'x'), ('d', '2026-01-02', 'y');
        CREATE TABLE nums (k text PRIMARY KEY, n text);
        INSERT INTO nums VALUES ('n1', '1'), ('n2', 'two'), ('n3', '3');
        CREATE VIEW numbers AS SELECT k, n::int AS number FROM nums;""")
    table = _config(tmp_path, database_url, {"day": "day", "label": "label"})
    view = (_config(tmp_path, database_url, {"number": "number"}).replace("    as_of_column: updated\n", "")
            .replace("    table: registry\n    key_column: code\n", "    table: numbers\n    key_column: k\n")
            .replace("      code: code\n", "      code: k\n"))
    keys = generate_keys()
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    for text, sent, why, shown in (
            (table, ["a", "b", "d"], "in its column day (item day) a day before year 1", "*"),
            (view, ["n1", "n3"], "cannot send (InvalidTextRepresentationError, SQLSTATE 22P02)", "n*")):
        config = parse(text, str(tmp_path / "dept.yaml"))
        store = DepartmentStore(config)
        await store.open()
        access_log = AccessLog(str(tmp_path / "access.jsonl"))
        access_log.open()
        try:
            servicer = FrontprocServicer(config, ProviderAssertionVerifier(
                provider_public_keys(keys.provider_signing_key), audience="fqj"), store, access_log, RateLimit(10, 10))
            assertion = ProviderAssertionSigner(keys.provider_signing_key).metadata("fqj", AccessClaims(audit_id="e"))
            context = SimpleNamespace(invocation_metadata=lambda assertion=assertion: assertion)
            pages = [page async for page in servicer.Export(
                provider_pb2.ExportRequest(dataset="registry", page_size=2), context)]
        finally:
            access_log.close()
            await store.close()
        assert [record.key for page in pages for record in page.records] == sent
        assert sum(page.skipped for page in pages) == 1
        said = [record.getMessage() for record in caplog.records]
        # Which row (its key masked, as the platform masks it: never in full), and before it, why.
        assert f"an export of registry left out the row of key {shown} (the warning before says why); it goes on " \
               "with the next rows" == said[-1]
        assert why in said[-2], said[-2]
        line = read(str(tmp_path / "access.jsonl"))[-1]
        assert (line["records"], line["skipped"], line["outcome"]) == (len(sent), 1, "RECORD_UNREADABLE")


async def test_an_export_of_heavy_records_goes_in_messages_the_platform_takes(
        tmp_path: Path, database_url: str) -> None:
    """A page went as one message whatever its records weighed: 500 records of 140 KB (a scanned document shared
    as base64, as the docs advise for a bytea) made one of 70 MB, and the platform's channel, which takes 64 MiB,
    failed the export RESOURCE_EXHAUSTED (to its caller: the department does not answer). A page is sent in
    messages of at most 4 MiB now (half what the platform's own may be), over a real gRPC server and the platform's
    channel options."""
    from services.runtime.clients import CHANNEL_OPTIONS

    await _execute(database_url, "INSERT INTO registry (code, label) SELECT 'd' || lpad(i::text, 3, '0'), "
                                 "repeat('A', 140000) FROM generate_series(1, 500) AS i")
    config = parse(_config(tmp_path, database_url, {"label": "label"}), str(tmp_path / "dept.yaml"))
    keys = generate_keys()
    store = DepartmentStore(config)
    await store.open()
    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    server = grpc.aio.server()
    provider_pb2_grpc.add_ProviderServiceServicer_to_server(FrontprocServicer(config, ProviderAssertionVerifier(
        provider_public_keys(keys.provider_signing_key), audience="fqj"), store, access_log, RateLimit(10, 10)), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=CHANNEL_OPTIONS) as channel:
            pages = [page async for page in provider_pb2_grpc.ProviderServiceStub(channel).Export(
                provider_pb2.ExportRequest(dataset="registry", page_size=500),
                metadata=ProviderAssertionSigner(keys.provider_signing_key).metadata("fqj", AccessClaims(
                    audit_id="heavy")))]
    finally:
        await server.stop(0)
        access_log.close()
        await store.close()
    received = [record.key for page in pages for record in page.records]
    assert received == ["a", "b"] + [f"d{index:03}" for index in range(1, 501)]
    assert max(page.ByteSize() for page in pages) <= 4 * 1024 * 1024 + 64
    line = read(str(tmp_path / "access.jsonl"))[-1]
    assert (line["audit_id"], line["records"], line["outcome"]) == ("heavy", 502, "OK")


async def test_a_call_that_fails_midway_leaves_its_line_with_the_records_that_left(
        tmp_path: Path, database_url: str) -> None:
    """An export whose table was renamed between two pages (a reload swapping tables), or whose platform call ended,
    had sent records and left no line in the access log: the department's log, reconciled with the platform's
    audit by audit id, missed the download. Each such call now leaves a line saying how many records left, the
    outcome FAILED and the status the platform got; so does a Lookup the database refused."""
    await _execute(database_url, "INSERT INTO registry (code, label) VALUES ('c', 'x')")
    config = parse(_config(tmp_path, database_url, {"label": "label"}), str(tmp_path / "dept.yaml"))
    keys = generate_keys()
    store = DepartmentStore(config)
    await store.open()
    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    connection = await asyncpg.connect(database_url)
    try:
        servicer = FrontprocServicer(config, ProviderAssertionVerifier(
            provider_public_keys(keys.provider_signing_key), audience="fqj"), store, access_log, RateLimit(10, 10))
        signer = ProviderAssertionSigner(keys.provider_signing_key)

        def context(audit_id: str) -> SimpleNamespace:
            assertion = signer.metadata("fqj", AccessClaims(audit_id=audit_id))
            return SimpleNamespace(invocation_metadata=lambda: assertion)

        request = provider_pb2.ExportRequest(dataset="registry", page_size=1)
        ended = servicer.Export(request, context("ended"))
        assert [record.key for record in (await anext(ended)).records] == ["a"]
        await ended.aclose()  # the platform's call ended (its deadline, its caller's cancel)
        refused = servicer.Export(request, context("refused"))
        assert [record.key for record in (await anext(refused)).records] == ["a"]
        assert [record.key for record in (await anext(refused)).records] == ["b"]
        await connection.execute("ALTER TABLE registry RENAME TO registry_old")
        with pytest.raises(ServiceError) as error:
            await anext(refused)
        assert error.value.reason == "DATABASE_REFUSED"
        with pytest.raises(ServiceError):
            await servicer.Lookup(provider_pb2.LookupRequest(dataset="registry", key="a"), context("lookup"))
    finally:
        await connection.close()
        access_log.close()
        await store.close()
    lines = {line["audit_id"]: line for line in read(str(tmp_path / "access.jsonl"))}
    assert {audit_id: (line["operation"], line["records"], line["outcome"], line["status"])
            for audit_id, line in lines.items()} == {
        "ended": ("Export", 1, "FAILED", "CANCELLED"),
        "refused": ("Export", 2, "FAILED", "FAILED_PRECONDITION"),
        "lookup": ("Lookup", 0, "FAILED", "FAILED_PRECONDITION")}
    assert lines["refused"]["reason"] == "DATABASE_REFUSED" and lines["lookup"]["keys"] == 1


async def test_a_call_refused_once_admitted_for_what_it_asks_leaves_its_line_naming_the_field(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The platform's calls refused once their assertion was verified, for what they asked — a dataset this
    前置机 does not serve (renamed in dept.yaml under a published entry: the platform answers every query of it 库无),
    a key, an export of a ``query`` resource — left no line in the access log, nor anything in the department's
    log: the platform's audit held accesses the department's log had no trace of. Each now leaves its line
    (outcome FAILED, the status the platform got, the reason with the fields at fault, never a key), and a
    dataset not served is said in the log."""
    text = _config(tmp_path, database_url, {"label": "label"}) + (
        "  - dataset: by_query\n    key: {item: code, kind: text}\n"
        "    query: SELECT code, label FROM registry WHERE code = $1\n    items:\n      code: code\n"
        "      label: label\n")
    config = parse(text, str(tmp_path / "dept.yaml"))
    keys = generate_keys()
    store = DepartmentStore(config)
    await store.open()
    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    signer = ProviderAssertionSigner(keys.provider_signing_key)

    def context(audit_id: str) -> SimpleNamespace:
        assertion = signer.metadata("fqj", AccessClaims(audit_id=audit_id))
        return SimpleNamespace(invocation_metadata=lambda: assertion, peer=lambda: "ipv4:10.0.0.9:51000")

    try:
        caplog.set_level(logging.INFO, logger="frontproc.servicer")
        servicer = FrontprocServicer(config, ProviderAssertionVerifier(
            provider_public_keys(keys.provider_signing_key), audience="fqj"), store, access_log, RateLimit(10, 10))
        calls = {
            "renamed": servicer.Lookup(provider_pb2.LookupRequest(dataset="registri", key="a"), context("renamed")),
            "key": servicer.BatchLookup(provider_pb2.BatchLookupRequest(dataset="registry", keys=["a", " \t"]),
                                        context("key")),
            "export": anext(servicer.Export(provider_pb2.ExportRequest(dataset="by_query"), context("export")))}
        for call in calls.values():
            with pytest.raises(ServiceError):
                await call
    finally:
        access_log.close()
        await store.close()
    lines = {line["audit_id"]: line for line in read(str(tmp_path / "access.jsonl"))}
    assert {audit_id: (line["operation"], line["dataset"], line["keys"], line["records"], line["outcome"],
                       line["status"], line["reason"]) for audit_id, line in lines.items()} == {
        "renamed": ("Lookup", "registri", 1, 0, "FAILED", "INVALID_ARGUMENT", "INVALID_ARGUMENT: dataset"),
        "key": ("BatchLookup", "registry", 2, 0, "FAILED", "INVALID_ARGUMENT", "INVALID_ARGUMENT: keys[1]"),
        "export": ("Export", "by_query", 0, 0, "FAILED", "UNIMPLEMENTED", "EXPORT_NOT_CONFIGURED")}
    said = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert said == ["the platform asked for dataset 'registri', which this 前置机 does not serve (it serves "
                    "registry, by_query): its calls are refused (INVALID_ARGUMENT) and the platform answers its "
                    "callers as if the records were absent; the catalog entry's endpoint.dataset names it: serve it "
                    f"under that name in {tmp_path / 'dept.yaml'} (a dataset renamed there?)"]


async def test_a_key_the_databases_encoding_cannot_hold_is_absent_not_an_unreadable_record(
        tmp_path: Path, embedded, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """An EUC_CN (GB2312) database holds no 喆: a text key holding it made the statement fail (SQLSTATE 22P05, the
    key not converting to the database's encoding), answered RECORD_UNREADABLE with a warning that a row held a
    value the database could not send, and a batch holding it failed whole. No row can hold such a key: absent."""
    name = f"dept_euc_{uuid.uuid4().hex[:8]}"
    await _execute(embedded.database_url, f"CREATE DATABASE {name} ENCODING 'EUC_CN' LC_COLLATE 'C' LC_CTYPE 'C' "
                                          "TEMPLATE template0")
    url = urlunsplit(urlsplit(embedded.database_url)._replace(path=f"/{name}"))
    await _execute(url, "CREATE TABLE plates (code text PRIMARY KEY, xm text); INSERT INTO plates VALUES "
                        "('京A12345', '甲')")
    text = (_config(tmp_path, url, {"name": "xm"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: plates\n    key_column: code\n"))
    query = text.replace("    table: plates\n    key_column: code\n",
                         "    query: SELECT code, xm FROM plates WHERE code = $1\n")
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    for served in (text, query):
        store = DepartmentStore(parse(served, str(tmp_path / "dept.yaml")))
        await store.open()
        try:
            assert await store.lookup("registry", "喆A12345") is None
            rows = await store.batch_lookup("registry", ["喆A12345", "京A12345"])
            assert [(row.key, row.values["name"]) for row in rows] == [("京A12345", "甲")]
            assert await store.batch_lookup("registry", ["喆A12345"]) == []
        finally:
            await store.close()
    assert not [record for record in caplog.records if record.name == "frontproc.store"]


async def test_a_sql_ascii_database_is_warned_of_with_the_view_that_reads_its_gbk_text(
        tmp_path: Path, embedded, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    """A SQL_ASCII database (older departments' systems) keeping names in GBK passed the check; each such row was
    RECORD_UNREADABLE, a batch download stopped at the first, and the advice to share a view converting the text
    met convert_from(xm, 'GBK'), which in such a database gives the same bytes back. The check says so, with the
    view column that does read it."""
    from frontproc.store import GBK_IN_SQL_ASCII

    name = f"dept_ascii_{uuid.uuid4().hex[:8]}"
    await _execute(embedded.database_url, f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' "
                                          "TEMPLATE template0")
    url = urlunsplit(urlsplit(embedded.database_url)._replace(path=f"/{name}"))
    await _execute(url, "CREATE TABLE people (code text PRIMARY KEY, xm text); INSERT INTO people VALUES "
                        "('a', convert_from('\\xd5c5c8fd'::bytea, 'SQL_ASCII'))")  # 张三 in GBK
    text = (_config(tmp_path, url, {"name": "xm"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: people\n    key_column: code\n"))
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    with pytest.raises(ServiceError):
        await _read(tmp_path, text, "a")  # the check passes, the row cannot be sent
    warnings = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
    assert any("dept.yaml: database: the department database's encoding is SQL_ASCII" in warning
               and GBK_IN_SQL_ASCII in warning for warning in warnings), warnings
    # A batch download leaves such a row out and goes on (it stopped at it, as the warning still said).
    assert any("a batch download leaves it out and goes on (a row whose key is not UTF-8 too)"
               in warning for warning in warnings), warnings
    await _execute(url, f"CREATE VIEW people_utf8 AS SELECT code, {GBK_IN_SQL_ASCII} FROM people")
    row = await _read(tmp_path, text.replace("table: people", "table: people_utf8"), "a")
    assert row is not None and row.values["name"] == "张三"

    # A key kept so (a 车牌号 京A12345): an export read past it, then failed reading the page's keys as an asyncpg
    # DataError, INTERNAL to the platform, which rested the endpoint for every caller; then it stopped there,
    # RECORD_UNREADABLE, the rows after it (é) never sent. It leaves that row out, the log naming the key column and
    # the view that reads it, and goes on.
    await _execute(url, "INSERT INTO people VALUES ('0', 'zero'), (convert_from('\\xbea941'::bytea, 'SQL_ASCII'), "
                        "'jing'), ('é', 'after')")  # 京A in GBK; é (c3 a9) sorts after it
    config = parse(text, str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    keys = generate_keys()
    sent: list[str] = []
    try:
        servicer = FrontprocServicer(config, ProviderAssertionVerifier(
            provider_public_keys(keys.provider_signing_key), audience="fqj"), store, access_log, RateLimit(10, 10))
        assertion = ProviderAssertionSigner(keys.provider_signing_key).metadata("fqj", AccessClaims(audit_id="e"))
        skipped = 0
        async for page in servicer.Export(provider_pb2.ExportRequest(dataset="registry", page_size=1),
                                          SimpleNamespace(invocation_metadata=lambda: assertion)):
            sent.extend(record.key for record in page.records)
            skipped += page.skipped
    finally:
        access_log.close()
        await store.close()
    assert (sent, skipped) == (["0", "é"], 2)  # a's name and 京A's key cannot be sent
    line = read(str(tmp_path / "access.jsonl"))[-1]
    assert (line["audit_id"], line["outcome"], line["records"], line["skipped"]) == ("e", "RECORD_UNREADABLE", 2, 2)
    [said] = [record.getMessage() for record in caplog.records if "whose key column" in record.getMessage()]
    assert said.startswith("an export of registry left out a row whose key column code holds text that is not "
                           "UTF-8, which the department database cannot send (SQLSTATE 22021): it goes on"), said
    assert "convert_from(convert(convert_to(code, 'SQL_ASCII'), 'GBK', 'UTF8'), 'SQL_ASCII') AS code" in said


async def test_a_row_larger_than_a_reply_may_be_is_that_records_problem_named_in_the_log(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A department column holding more text than a reply of the platform may carry (a scanned document pasted
    into a remarks column, a runaway concatenation) left as it was: it answered a REST caller HTTP 500 INTERNAL at
    the edge and a gRPC caller a transport error, and nothing in the 前置机's log. It is that record's
    RECORD_UNREADABLE, the log naming the column and its size (not its value); the other rows answer."""
    await _execute(database_url, "UPDATE registry SET label = repeat('很长的单位名称', 400000) WHERE code = 'a'")
    config = parse(_config(tmp_path, database_url, {"label": "label", "day": "day"}), str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    try:
        caplog.set_level(logging.WARNING, logger="frontproc.store")
        for read_row in (lambda: store.lookup("registry", "a"), lambda: store.batch_lookup("registry", ["a", "b"])):
            with pytest.raises(ServiceError) as error:
                await read_row()
            assert (error.value.code, error.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                              "RECORD_UNREADABLE")
        warning = caplog.records[-1].getMessage()
        assert "a row of registry holds 8,400," in warning and "column label (item label) holds 8,400,000 bytes" \
            in warning and "很长" not in warning
        assert (await store.lookup("registry", "b")).values == {"code": "b", "day": "2026-12-01"}
    finally:
        await store.close()


async def test_an_as_of_column_holding_infinity_is_that_records_problem_not_an_internal_error(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL's '-infinity' (a department's "since ever") in the as-of column ended the call in an
    OverflowError: INTERNAL, which the platform took for an endpoint that does not answer (PROVIDER_UNAVAILABLE,
    resting it for every caller); 'infinity' said the record was true as of 9999-12-31. Either is that record's
    RECORD_UNREADABLE, the log naming the column; such values of an item are left out (the next test)."""
    await _execute(database_url, """
        INSERT INTO registry (code, updated, updated_tz, day) VALUES
            ('past', '-infinity', '-infinity', '-infinity'), ('future', 'infinity', 'infinity', 'infinity'),
            ('edge', '2026-12-01 10:00', '9999-12-31 20:00+00', '2026-12-01');""")
    for as_of in ("updated", "updated_tz"):
        config = parse(_config(tmp_path, database_url, {"updated": "updated", "updated_tz": "updated_tz"}, as_of),
                       str(tmp_path / "dept.yaml"))
        store = DepartmentStore(config)
        await store.open()
        try:
            caplog.set_level(logging.WARNING, logger="frontproc.store")
            for key in ("past", "future"):
                with pytest.raises(ServiceError) as error:
                    await store.lookup("registry", key)
                assert (error.value.code, error.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                  "RECORD_UNREADABLE")
                assert f"a row of registry holds no time in its as_of_column {as_of} (infinity or -infinity)" \
                    in caplog.records[-1].getMessage()
        finally:
            await store.close()
    config = parse(_config(tmp_path, database_url, {"updated_tz": "updated_tz", "day": "day"}, "day"),
                   str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    try:
        # 20:00 UTC on the last day of year 9999 is beyond it in Beijing: the value leaves in its own offset.
        assert (await store.lookup("registry", "edge")).values["updated_tz"] == "9999-12-31T20:00:00+00:00"
    finally:
        await store.close()


async def test_an_endless_date_or_time_is_no_value_and_a_real_last_day_stays_alike_alone_in_a_batch_or_a_page(
        tmp_path: Path, database_url: str) -> None:
    """'infinity' (a 有效期至 of 长期) and '-infinity' left as 9999-12-31 and 0001-01-01 (a timestamp's as
    9999-12-31T23:59:59.999999+08:00): days nobody could tell from those a department really holds, 9999-12-31
    one the platform refuses to load (it keeps a date without end as no date). They are left out now, as NULL is,
    whether asked alone, in a batch, a page or through a query; a table's real 9999-12-31 stays."""
    await _execute(database_url, """
        INSERT INTO registry (code, updated, updated_tz, day, label) VALUES
            ('open', 'infinity', 'infinity', 'infinity', 'x'), ('ever', '-infinity', '-infinity', '-infinity', 'y'),
            ('last', '9999-12-31 10:00', '1970-01-01 00:00+00', '9999-12-31', 'z');""")
    text = _config(tmp_path, database_url, {"updated": "updated", "updated_tz": "updated_tz", "day": "day",
                                            "label": "label"}, as_of="amount")
    text = text.replace("    as_of_column: amount\n", "")
    query = text.replace("    table: registry\n    key_column: code\n",
                         "    query: SELECT code, updated, updated_tz, day, label FROM registry WHERE code = $1\n")
    expected = {"open": {"code": "open", "label": "x"}, "ever": {"code": "ever", "label": "y"},
                "last": {"code": "last", "label": "z", "updated": "9999-12-31T10:00:00+08:00",
                         "updated_tz": "1970-01-01T08:00:00+08:00", "day": "9999-12-31"}}
    for configured in (text, query):
        store = DepartmentStore(parse(configured, str(tmp_path / "dept.yaml")))
        await store.open()
        try:
            for key, values in expected.items():
                assert (await store.lookup("registry", key)).values == values
            assert {row.key: row.values for row in await store.batch_lookup("registry", list(expected))} == expected
            if store.can_export("registry"):
                assert {row.key: row.values for row in (await store.page("registry", "b", 10)).rows} == expected
        finally:
            await store.close()


async def test_a_day_no_date_can_write_is_that_records_problem_not_an_internal_error(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A year typed with a digit too many (20260-03-01) or a day BC is a date PostgreSQL keeps and Python cannot:
    asyncpg's codec raised ValueError or OverflowError, the call ended INTERNAL, and the platform rested the
    department's endpoint for every caller. It is that record's RECORD_UNREADABLE now, the log naming the column
    (never the value), the other records answered."""
    await _execute(database_url, """
        INSERT INTO registry (code, updated, updated_tz, day, label) VALUES
            ('typo', '2026-03-01', '2026-03-01 10:00+08', '20260-03-01', 'x'),
            ('late', '2026-03-01', '10000-01-01 00:00+00', '2026-03-01', 'y'),
            ('bc', '0044-03-15 BC', '2026-03-01 10:00+08', '2026-03-01', 'z');""")
    items = {"updated_tz": "updated_tz", "day": "day", "label": "label"}
    store = DepartmentStore(parse(_config(tmp_path, database_url, items), str(tmp_path / "dept.yaml")))
    await store.open()
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    try:
        for key, column in (("typo", "day"), ("late", "updated_tz"), ("bc", "updated")):
            for read in (store.lookup("registry", key), store.batch_lookup("registry", [key, "a"])):
                with pytest.raises(ServiceError) as error:
                    await read
                assert (error.value.code, error.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                  "RECORD_UNREADABLE")
                said = caplog.records[-1].getMessage()
                assert (f"in its column {column} (item {column}) a day before year 1 or after year 9999" in said
                        if column != "updated" else "holds no time in its as_of_column updated (a time before "
                        "year 1 or after year 9999)" in said), said
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
    finally:
        await store.close()


async def test_a_time_of_day_of_24_00_leaves_as_the_database_writes_it_not_an_internal_error(
        tmp_path: Path, database_url: str) -> None:
    """PostgreSQL keeps '24:00:00' in a time or timetz column (a 营业时间 ending at midnight); Python's time cannot
    hold it: asyncpg's codec raised ValueError, and a Query, a BatchQuery of that key or an export's page over its
    row ended INTERNAL. It leaves as PostgreSQL writes it; other times leave as they did."""
    await _execute(database_url, """
        ALTER TABLE registry ADD COLUMN closes time, ADD COLUMN closes_tz timetz;
        INSERT INTO registry (code, updated, closes, closes_tz) VALUES
            ('midnight', '2026-12-01', '24:00', '24:00:00+08'), ('noon', '2026-12-01', '12:30:00.5', '12:30-05:30');""")
    items = {"closes": "closes", "closes_tz": "closes_tz"}
    store = DepartmentStore(parse(_config(tmp_path, database_url, items), str(tmp_path / "dept.yaml")))
    await store.open()
    expected = {"midnight": {"code": "midnight", "closes": "24:00:00", "closes_tz": "24:00:00+08:00"},
                "noon": {"code": "noon", "closes": "12:30:00.500000", "closes_tz": "12:30:00-05:30"}}
    try:
        for key, values in expected.items():
            assert (await store.lookup("registry", key)).values == values
        assert {row.key: row.values for row in await store.batch_lookup("registry", list(expected))} == expected
        assert {row.key: row.values for row in (await store.page("registry", "b", 10)).rows} == expected
    finally:
        await store.close()


async def test_the_check_warns_of_days_no_date_can_write(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A 有效期至 typed 20260-03-01, a timestamp past year 9999, a day BC: the database keeps them, the 前置机 cannot
    send them (each row RECORD_UNREADABLE, left out of exports), and the check said nothing. It counts them now,
    column by column, never showing a value; 'infinity' and a real 9999-12-31 are no such day."""
    items = {"updated_tz": "updated_tz", "day": "day"}
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    await _execute(database_url, "INSERT INTO registry (code, updated, updated_tz, day) VALUES "
                                 "('open', 'infinity', 'infinity', '9999-12-31')")
    await _read(tmp_path, _config(tmp_path, database_url, items), "a")
    assert not [record for record in caplog.records if "no date can write" in record.getMessage()]
    await _execute(database_url, """
        INSERT INTO registry (code, updated, updated_tz, day) VALUES
            ('typo', '2026-03-01', '2026-03-01 10:00+08', '20260-03-01'),
            ('late', '2026-03-01', '10000-01-01 00:00+00', '20270-03-01'),
            ('bc', '0044-03-15 BC', '2026-03-01 10:00+08', '2026-03-01');""")
    await _read(tmp_path, _config(tmp_path, database_url, items), "a")
    said = [record.getMessage().split(": ", 2)[-1] for record in caplog.records
            if "no date can write" in record.getMessage()]
    assert said == ["rows of registry hold a day before year 1 or after year 9999, which no date can write (a year "
                    "typed with a digit too many, 20260-03-01?): day in 2 rows, updated in 1 row, updated_tz in 1 "
                    "row; each is answered RECORD_UNREADABLE and left out of batch downloads until it is fixed"]


@pytest.mark.parametrize(("key", "kind", "encoding"), [
    ("Q17 ", "text", "UTF8"), ("\u3000Q17", "text", "UTF8"), ("Q17\u00a0", "text", "UTF8"),
    ("３３０３２７１９９５１１０４２９６０", "citizen_id", "UTF8"),
    ("３３０３２７１９９５１１０４２９６０\u00a0", "citizen_id", "UTF8"),
    # A database in EUC_CN (GB2312: a Chinese department's older system) holds no no-break space: the check's
    # statement sending every blank was refused there, so it said nothing, and the view it advised (E'…\u00a0…',
    # normalize()) was refused too.
    ("\u3000Q17", "text", "EUC_CN"), ("Q17\t", "text", "EUC_CN"),
    ("３３０３２７１９９５１１０４２９６０\u3000", "citizen_id", "EUC_CN")])
async def test_the_check_warns_of_keys_the_platform_can_never_ask_for(  # type: ignore[no-untyped-def]
        tmp_path: Path, embedded, database_url: str, caplog: pytest.LogCaptureFixture, key: str, kind: str,
        encoding: str) -> None:
    """A key kept with blanks around it (a fixed-width import into a varchar, a no-break space pasted from a
    spreadsheet, which the check missed) or in full-width digits: the platform
    asks for keys trimmed and in ASCII, so the row was answered as absent (库无 to a verification of a person the
    department holds), and nothing said so. The check warns, naming the table and the column; a clean table
    gets no such warning (test_the_check_warns_of_a_key_column_without_a_unique_index)."""
    if encoding != "UTF8":
        name = f"dept_{encoding.lower()}_{uuid.uuid4().hex[:8]}"
        await _execute(embedded.database_url, f"CREATE DATABASE {name} ENCODING '{encoding}' LC_COLLATE 'C' "
                                              "LC_CTYPE 'C' TEMPLATE template0")
        database_url = urlunsplit(urlsplit(embedded.database_url)._replace(path=f"/{name}"))
    await _execute(database_url, f"CREATE TABLE spelled (k text PRIMARY KEY, v text); "
                                 f"INSERT INTO spelled VALUES ('{key}', 'x'), ('b', 'y')")
    text = (_config(tmp_path, database_url, {"label": "v"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: spelled\n    key_column: k\n")
            .replace("      code: code\n", "      code: k\n")
            .replace("kind: text", f"kind: {kind}"))
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    config = parse(text, str(tmp_path / "dept.yaml"))
    connection = await asyncpg.connect(config.database_url)
    try:
        await check_resources(config, connection)
    finally:
        await connection.close()
    # (the row keyed 'b' is no 公民身份号码: the citizen_id case is also told so, by the next test's warning)
    [warning] = [record.getMessage() for record in caplog.records
                 if record.name == "frontproc.store" and "with blanks around them" in record.getMessage()]
    assert "table spelled holds keys in k with blanks around them" in warning and "answered as absent" in warning
    assert key.strip() not in warning
    # The view advised gives the key as the platform asks for it (btrim alone trimmed only spaces).
    normalised = re.search(r"normalised \((.+?)(?: AS [^)]*)?\)$", warning)[1]  # type: ignore[index]
    connection = await asyncpg.connect(config.database_url)
    try:
        shared = await connection.fetchval(f"SELECT {normalised} FROM spelled WHERE v = 'x'")
    finally:
        await connection.close()
    assert shared == normalize_key(KEY_KINDS[kind], key), normalised


@pytest.mark.parametrize(("keys", "kind", "says"), [
    # A table keyed by 证照编号 configured as citizen_id: every lookup was 库无, the check silent.
    (["ZZ2026000001", "ZZ2026000002"], "citizen_id", "none of the 2 keys read from k (the first rows of kinds) is "
     "a valid citizen_id key (ZZ2026**0001: 公民身份号码 must have 18 characters, got 12): the platform asks "
     "only for valid ones, so every lookup is answered as absent; is key.kind right"),
    # One mistyped 公民身份号码 (its check character) among good ones: that person was never found.
    (["342322194911060454", "342322194911060455", "11010519491231002x"], "citizen_id",
     "1 of the 3 keys read from k (the first rows of kinds) are not valid citizen_id keys (342322********0455: "),
    (["342322194911060454", "11010519491231002x"], "citizen_id", ""),
    # A row whose key is empty or blank was shown as "(: must not be empty)", naming nothing.
    (["342322194911060454", ""], "citizen_id",
     "1 of the 2 keys read from k (the first rows of kinds) are not valid citizen_id keys (an empty or blank key: "
     "must not be empty)"),
    (["91110000600037341L"], "credit_code", ""),
    (["ZZ2026000001"], "text", ""),
])
async def test_the_check_warns_of_keys_that_are_not_of_the_configured_kind(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture, keys: list[str], kind: str,
        says: str) -> None:
    """The platform asks only for valid keys of the resource's kind: a kind other than the table holds answered
    every lookup as absent, and a row holding a mistyped key was never found; the check said nothing. It reads
    the first keys of the table and says so, the key shown masked."""
    rows = ", ".join(f"('{key}', 'x')" for key in keys)
    await _execute(database_url, f"CREATE TABLE kinds (k text PRIMARY KEY, v text); INSERT INTO kinds VALUES {rows}")
    text = (_config(tmp_path, database_url, {"label": "v"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: kinds\n    key_column: k\n")
            .replace("      code: code\n", "      code: k\n")
            .replace("kind: text", f"kind: {kind}"))
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    config = parse(text, str(tmp_path / "dept.yaml"))
    connection = await asyncpg.connect(config.database_url)
    try:
        await check_resources(config, connection)
    finally:
        await connection.close()
    warnings = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
    assert [says in warning for warning in warnings] == ([True] if says else []), warnings
    assert not any(key in warning for key in keys if kind != "text" and key for warning in warnings)


async def test_the_check_warns_of_rows_that_hold_no_key(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A row whose key column is NULL (a 低保对象 entered without their 身份证号) is found by no key and left out of
    a batch download: a record the department keeps that the platform never serves, the check silent."""
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    for key, says in (("'b'", False), ("NULL", True)):
        await _execute(database_url, "DROP TABLE IF EXISTS keyless; CREATE TABLE keyless (k text UNIQUE, v text);"
                                     f" INSERT INTO keyless VALUES ('a', 'x'), ({key}, 'y')")
        text = (_config(tmp_path, database_url, {"label": "v"})
                .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                         "    table: keyless\n    key_column: k\n")
                .replace("      code: code\n", "      code: k\n"))
        caplog.clear()
        assert (await _read(tmp_path, text, "a")).values["label"] == "x"
        said = [record.getMessage().split(": ", 1)[1] for record in caplog.records if record.name == "frontproc.store"]
        assert said == (["resources 'registry': rows of keyless hold no key (k IS NULL): no query finds them and a "
                         "batch download leaves them out; set their key, or keep them out of what you share (a view "
                         "WHERE k IS NOT NULL)"] if says else []), said
    # A key column kept with capitals is quoted in the view advised (WHERE K IS NOT NULL names a column k).
    await _execute(database_url, 'DROP TABLE keyless; CREATE TABLE keyless ("K" text UNIQUE, v text); INSERT INTO '
                                 "keyless VALUES ('a', 'x'), (NULL, 'y')")
    caplog.clear()
    assert (await _read(tmp_path, text.replace("key_column: k", "key_column: K").replace("code: k", "code: K"),
                        "a")).values["label"] == "x"
    [where] = [record.getMessage().rpartition("(a view ")[2].rstrip(")") for record in caplog.records
               if "hold no key" in record.getMessage()]
    assert where == 'WHERE "K" IS NOT NULL'
    await _execute(database_url, f"CREATE VIEW shared AS SELECT * FROM keyless {where}")


async def test_the_check_warns_of_rows_whose_as_of_time_is_null(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A row whose as_of_column is NULL (loaded before the column was added, say) is answered as true as of the
    moment of the read, however old: it passed for fresh in the platform's provenance, the check silent."""
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    for updated, says in (("'2026-12-01 10:00'", False), ("NULL", True)):
        await _execute(database_url, "DROP TABLE IF EXISTS dated; CREATE TABLE dated (k text PRIMARY KEY, t timestamp);"
                                     f" INSERT INTO dated VALUES ('a', '2026-12-01 10:00'), ('b', {updated})")
        text = (_config(tmp_path, database_url, {}, as_of="t")
                .replace("    table: registry\n    key_column: code\n", "    table: dated\n    key_column: k\n")
                .replace("      code: code\n", "      code: k\n"))
        caplog.clear()
        assert (await _read(tmp_path, text, "a")).as_of == dt.datetime(2026, 12, 1, 10, tzinfo=BEIJING)
        warnings = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
        assert [("rows of dated hold no as_of_column value (t IS NULL): they are answered without an as-of time"
                 ) in warning for warning in warnings] == ([True] if says else [])



async def test_the_check_warns_of_rows_dated_in_the_future(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A table holding Beijing time under database.time_zone: UTC says its rows changed in the last eight hours
    were true hours from now, and a 有效期至 mapped as as_of_column dates rows in years to come: the platform showed
    its callers those as-of times, the check silent. Rows within a few minutes of now (clocks differ a little),
    'infinity' (said by _beyond_dates_advice's neighbours) and the right zone are not warned of."""
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    await _execute(database_url, """
        CREATE TABLE dated_t (k text PRIMARY KEY, t timestamp, d date, tz timestamptz);
        INSERT INTO dated_t VALUES
            ('a', (now() AT TIME ZONE 'Asia/Shanghai') - interval '1 hour', '2026-01-01', now() + interval '1 minute'),
            ('b', '2026-01-01 10:00', current_date + 400, 'infinity'),
            ('c', '2026-01-01 10:00', current_date + 800, now() - interval '1 day');""")

    async def warned(as_of: str, zone: str = "") -> list[str]:
        text = (_config(tmp_path, database_url, {}, as_of=as_of, zone=zone)
                .replace("    table: registry\n    key_column: code\n", "    table: dated_t\n    key_column: k\n")
                .replace("      code: code\n", "      code: k\n"))
        config = parse(text, str(tmp_path / "dept.yaml"))
        caplog.clear()
        connection = await asyncpg.connect(config.database_url)
        try:
            await check_resources(config, connection)
            latest = await connection.fetchval("SELECT max(d) FROM dated_t")
        finally:
            await connection.close()
        return [record.getMessage().replace(latest.isoformat(), "LATEST") for record in caplog.records
                if record.name == "frontproc.store" and "time still to come" in record.getMessage()]

    for as_of, zone in (("t", ""), ("tz", "")):
        assert await warned(as_of, zone) == [], (as_of, zone)
    [warning] = await warned("t", "UTC")
    assert "1 row of dated_t say they were true at a time still to come (t up to " in warning
    assert "in UTC), which the platform would show its callers as the record's as-of time" in warning
    assert "is database.time_zone the zone the column's times are in" in warning
    [warning] = await warned("d")
    assert "2 rows of dated_t say they were true at a time still to come (d up to LATEST 00:00 in Asia/Shanghai)" \
        in warning and "(not a validity end or a planned date)" in warning

async def test_a_row_whose_as_of_time_is_null_leaves_without_one_not_as_of_the_read(
        tmp_path: Path, database_url: str) -> None:
    """A row of a dated table whose as_of_column is NULL left with the time of the read as its as-of time: a
    record nobody dated, perhaps years old, passed for current in the platform's provenance (DOMAIN R-USE-3: each
    record carries its as-of time). It leaves without one now; a dated row keeps its time, and a resource without
    as_of_column the time of the read (its table read as it is now)."""
    await _execute(database_url, "CREATE TABLE dated (k text PRIMARY KEY, t timestamp);"
                                 " INSERT INTO dated VALUES ('a', '2026-12-01 10:00'), ('b', NULL)")
    dated = (_config(tmp_path, database_url, {}, as_of="t")
             .replace("    table: registry\n    key_column: code\n", "    table: dated\n    key_column: k\n")
             .replace("      code: code\n", "      code: k\n"))
    keys = generate_keys()
    for text, expected in ((dated, {"a": True, "b": False}),
                           (dated.replace("    as_of_column: t\n", ""), {"a": True, "b": True})):
        config = parse(text, str(tmp_path / "dept.yaml"))
        store = DepartmentStore(config)
        await store.open()
        access_log = AccessLog(str(tmp_path / "access.jsonl"))
        access_log.open()
        try:
            servicer = FrontprocServicer(config, ProviderAssertionVerifier(
                provider_public_keys(keys.provider_signing_key), audience="fqj"), store, access_log, RateLimit(10, 10))

            def context() -> SimpleNamespace:
                signer = ProviderAssertionSigner(keys.provider_signing_key)
                assertion = signer.metadata("fqj", AccessClaims(audit_id="n"))
                return SimpleNamespace(invocation_metadata=lambda: assertion)

            alone = {key: (await servicer.Lookup(provider_pb2.LookupRequest(dataset="registry", key=key), context())
                           ).record for key in expected}
            batch = await servicer.BatchLookup(provider_pb2.BatchLookupRequest(dataset="registry", keys=["a", "b"]),
                                               context())
            pages = [page async for page in servicer.Export(provider_pb2.ExportRequest(dataset="registry"), context())]
        finally:
            access_log.close()
            await store.close()
        for records in (alone.values(), batch.records, [record for page in pages for record in page.records]):
            assert {record.key: record.HasField("as_of_time") for record in records} == expected
        if text is dated:
            assert alone["a"].as_of_time.ToDatetime(tzinfo=dt.UTC) == dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)


async def test_a_fixed_length_column_leaves_without_the_blanks_that_pad_it(tmp_path: Path, database_url: str) -> None:
    """A char(n) column (common in tables migrated from Oracle or DB2) holds its values padded with blanks to n
    characters, blanks PostgreSQL's own text form drops (xm::text): the 前置机 shared '张三        ', which callers
    compared and displayed as it came. A varchar keeps its blanks, as PostgreSQL does."""
    await _execute(database_url, "CREATE TABLE fixed (bh char(12) PRIMARY KEY, xm char(10), mz varchar(10));"
                                 " INSERT INTO fixed VALUES ('A1', '张三', '汉  '), ('B2', 'x', NULL)")
    text = (_config(tmp_path, database_url, {"name": "xm", "nation": "mz"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: fixed\n    key_column: bh\n")
            .replace("      code: code\n", "      code: bh\n"))
    row = await _read(tmp_path, text, "A1")
    assert row is not None and row.values == {"code": "A1", "name": "张三", "nation": "汉  "}
    query = text.replace("    table: fixed\n    key_column: bh\n",
                         "    query: SELECT bh, xm, mz FROM fixed WHERE bh = $1\n")
    assert (await _read(tmp_path, query, "A1")).values["name"] == "张三"

    store = DepartmentStore(parse(text, str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        page = (await store.page("registry", "", 10)).rows
        assert [(row.key, row.cursor, row.values["name"]) for row in page] == [("A1", "A1", "张三"), ("B2", "B2", "x")]
    finally:
        await store.close()


async def test_a_table_whose_names_are_chinese_or_quoted_is_shared_as_named(tmp_path: Path, database_url: str) -> None:
    """A Chinese department's tables often name their columns in Chinese (身份证号, 姓名), or were created with
    quoted names holding capitals or blanks ("Ming Cheng"); PostgreSQL takes them all. The configuration
    refused every such name ("resources[0].items.name must be a column name"): the table could not be shared
    without a view renaming each column."""
    await _execute(database_url, 'CREATE TABLE "人员 Info" (身份证号 text PRIMARY KEY, 姓名 text, "Ming Cheng" text,'
                                 ' 更新时间 timestamp); INSERT INTO "人员 Info" VALUES (\'a\', \'张三\', \'x y\','
                                 " '2026-12-01 10:00:00')")
    text = (_config(tmp_path, database_url, {"name": "姓名", "title": "Ming Cheng"}, as_of="更新时间")
            .replace("    table: registry\n    key_column: code\n", "    table: 人员 Info\n    key_column: 身份证号\n")
            .replace("      code: code\n", "      code: 身份证号\n"))
    row = await _read(tmp_path, text, "a")
    assert row is not None and row.values == {"code": "a", "name": "张三", "title": "x y"}
    assert row.as_of == dt.datetime(2026, 12, 1, 10, tzinfo=BEIJING)
    # A name the database cannot have is still refused with its line: a double quote, or more than 63 bytes.
    for bad in ('a"b', "长" * 22):
        broken = text.replace("name: 姓名", f"name: '{bad}'")
        with pytest.raises(ConfigError) as error:
            parse(broken, str(tmp_path / "dept.yaml"))
        assert "resources[0].items.name must be a column name" in str(error.value)


async def test_a_table_locked_during_the_check_is_said_not_waited_for_in_silence(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A DBA's ALTER TABLE or VACUUM FULL (or a reload left in an open transaction) holds the table's lock:
    preparing the resource's statements waited for it, and `govshare frontproc --check` (and the start) hung
    without a word for as long as the lock lasted."""
    from frontproc import store

    monkeypatch.setattr(store, "STATEMENT_TIMEOUT_SECONDS", 0.5)
    text = _config(tmp_path, database_url, {"label": "label"})
    config = parse(text, str(tmp_path / "dept.yaml"))
    holder, checker = await asyncpg.connect(database_url), await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE registry IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(store.CheckTimeout) as error:
                await check_resources(config, checker)
        line = next(number for number, content in enumerate(text.splitlines(), 1) if "table: registry" in content)
        assert f"dept.yaml:{line}: resources 'registry': the department database did not prepare its statements " \
               "within 0.5 s: is table registry locked" in str(error.value)
        await check_resources(config, checker)  # the lock released, the check passes
    finally:
        await holder.close()
        await checker.close()


async def _over_a_slow_view(tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> DepartmentStore:
    """An open store of the resource registry served from a view taking a second a row (the log captured)."""
    await _execute(database_url, "CREATE VIEW slow AS SELECT code, label FROM registry, pg_sleep(1)")
    text = (_config(tmp_path, database_url, {"label": "label"})
            .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                     "    table: slow\n    key_column: code\n"))
    department = DepartmentStore(parse(text, str(tmp_path / "dept.yaml")))
    await department.open()
    caplog.set_level(logging.INFO, logger="frontproc.store")
    return department


async def test_a_statement_outrunning_its_bound_is_said_to_be_slow_not_only_a_database_down(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A view slower than the statements' bound (or a table read whole for want of an index) left the officer
    "postgresql unavailable (TimeoutError)" in the log, a database down while it answered everything else. The
    call stays UNAVAILABLE (a TimeoutError, the runtime's), and the log says once what may be slow."""
    from frontproc import store

    monkeypatch.setattr(store, "STATEMENT_TIMEOUT_SECONDS", 0.5)
    department = await _over_a_slow_view(tmp_path, database_url, caplog)
    try:
        for _ in range(2):
            with pytest.raises(TimeoutError):
                await department.lookup("registry", "a")
        said = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
        assert len(said) == 1 and "a statement of registry got no answer within 0.5 s (the bound on each): the " \
            "department database is slow to answer it — a table read whole for want of an index" in said[0]
        await _execute(database_url, "CREATE OR REPLACE VIEW slow AS SELECT code, label FROM registry")
        assert (await department.lookup("registry", "a")).values["label"] == "ok"
        assert caplog.records[-1].getMessage() == "the department database answers the statements of registry in " \
                                                  "time again"
    finally:
        await department.close()



async def test_a_statement_the_databases_own_timeout_cancels_is_said_slow_not_a_database_down(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A DBA's statement_timeout on the 前置机's account or database (common on a shared department server) cut a
    slow view's statement: the log said only 'postgresql unavailable (QueryCanceledError: canceling statement due
    to statement timeout)', a database down while it answered everything else, nothing naming the dataset. It is
    said slow for its dataset, as a statement outrunning the 前置机's own bound is."""
    await _execute(database_url, f"ALTER DATABASE {urlsplit(database_url).path[1:]} SET statement_timeout = '300ms'")
    department = await _over_a_slow_view(tmp_path, database_url, caplog)
    try:
        for _ in range(2):
            with pytest.raises(asyncpg.QueryCanceledError):
                await department.lookup("registry", "a")
        said = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
        assert len(said) == 1 and said[0].startswith("a statement of registry got no answer within "), said
        assert " s (the database's statement_timeout cancelled it): the department database is slow to answer it" \
            in said[0]
    finally:
        await department.close()


async def test_a_table_locked_past_the_platforms_deadline_is_said_slow_for_its_dataset_not_only_hung(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The platform calls a 前置机 with a deadline of a couple of seconds, well within the statements' 10 s bound:
    with a table locked by a reload (or a slow view), the server answered UNAVAILABLE at the deadline and the log
    said only "…/Lookup: postgresql did not answer within 1.8s (hung)", a database down, while it answered every
    other table; the dataset's own line ("a statement of registry got no answer …") was never written. It is now,
    once, naming the dataset, beside the runtime's; a call that ends quickly says nothing of the kind."""
    from frontproc.component import create_component, server_settings
    from services.runtime.server import start_server

    keys = generate_keys()
    text = _config(tmp_path, database_url, {"label": "label"}).replace(
        "department:", "listen: 127.0.0.1:0\naccess_log: access.jsonl\ndepartment:", 1)
    (tmp_path / "platform.pem").write_text(provider_public_keys(keys.provider_signing_key))
    config = parse(text, str(tmp_path / "dept.yaml"))
    running = await start_server(server_settings(config), create_component(config))
    caplog.set_level(logging.INFO, logger="frontproc.store")
    locker = await asyncpg.connect(database_url)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = provider_pb2_grpc.ProviderServiceStub(channel)

            async def lookup() -> grpc.StatusCode:
                assertion = ProviderAssertionSigner(keys.provider_signing_key).metadata(
                    config.endpoint, AccessClaims(audit_id=uuid.uuid4().hex))
                try:
                    await stub.Lookup(provider_pb2.LookupRequest(dataset="registry", key="a"), metadata=assertion,
                                      timeout=2.0)
                except grpc.aio.AioRpcError as error:
                    return error.code()
                return grpc.StatusCode.OK

            assert await lookup() == grpc.StatusCode.OK
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE registry IN ACCESS EXCLUSIVE MODE")
            assert [await lookup(), await lookup()] == [grpc.StatusCode.UNAVAILABLE] * 2
            said = [record.getMessage() for record in caplog.records if record.name == "frontproc.store"]
            assert len(said) == 1, said
            assert said[0].startswith("a statement of registry got no answer within 1.") and \
                "s (when the platform's call ended): the department database is slow to answer it" in said[0] and \
                "a lock held by a reload" in said[0], said
            await transaction.rollback()
            assert await lookup() == grpc.StatusCode.OK
            assert caplog.records[-1].getMessage() == "the department database answers the statements of registry " \
                                                      "in time again"
    finally:
        await locker.close()
        await running.stop(0)

async def test_a_key_held_by_several_rows_answers_with_the_latest_alone_or_in_a_batch(
        tmp_path: Path, database_url: str) -> None:
    """A table without a unique key (the check warns of it) may hold a person twice. A Lookup answered with the first
    row the database returned and a BatchLookup with the last: Query and BatchQuery of one person gave two
    records. Both now answer with the row true the latest, and without an as-of time with the same row each time."""
    await _execute(database_url, "CREATE TABLE twice (k text, v text, t timestamp); INSERT INTO twice VALUES"
                                 " ('a', 'old', '2026-01-01'), ('a', 'new', '2026-06-01'),"
                                 " ('a', 'older', '2025-01-01'), ('b', 'x', NULL), ('b', 'y', NULL)")
    text = (_config(tmp_path, database_url, {"label": "v"}, as_of="t")
            .replace("    table: registry\n    key_column: code\n", "    table: twice\n    key_column: k\n")
            .replace("      code: code\n", "      code: k\n"))
    store = DepartmentStore(parse(text, str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        assert (await store.lookup("registry", "a")).values["label"] == "new"
        assert [row.values["label"] for row in await store.batch_lookup("registry", ["a"])] == ["new"]
        alone = (await store.lookup("registry", "b")).values["label"]
        assert [row.values["label"] for row in await store.batch_lookup("registry", ["b", "a"])
                if row.key == "b"] == [alone]
    finally:
        await store.close()


async def test_a_key_a_query_returns_several_rows_for_is_that_records_error_not_its_first_row(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A query joining a person to their addresses returned two rows for one key, and the first the database
    returned answered: either address, the department told nothing. It is that record's RECORD_UNREADABLE now,
    logged naming the resource and the number of rows (the key masked); the other keys answer."""
    await _execute(database_url, "CREATE TABLE addresses (k text, address text); INSERT INTO addresses VALUES"
                                 " ('Z001', 'one'), ('Z001', 'two'), ('Z002', 'three');"
                                 " INSERT INTO registry (code, label) VALUES ('p1', 'Z001'), ('p2', 'Z002')")
    store = await _query_store(tmp_path, database_url, {"address": "address"},
                               "SELECT r.code, a.address FROM registry r JOIN addresses a ON a.k = r.label"
                               " WHERE r.code = $1")
    try:
        caplog.set_level(logging.INFO, logger="frontproc.store")
        await _unreadable_alone_and_in_a_batch(store, "p1", "p2", "the query of registry returns 2 rows for this key")
        warning = caplog.records[-1].getMessage()
        assert "the query of registry returns 2 rows for the key " in warning
        assert "p1" not in warning and "two" not in warning
        assert (await store.lookup("registry", "p2")).values == {"code": "p2", "address": "three"}
    finally:
        await store.close()


async def test_a_key_a_subquery_returns_several_rows_for_is_that_records_error_not_a_refusal_of_the_statements(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A query (or a view) reading a person's address by a scalar subquery failed for a person with two addresses
    ("more than one row returned by a subquery used as an expression", SQLSTATE 21000): said to be the database
    refusing the dataset's statements (DATABASE_REFUSED, the endpoint rested for every caller, "--check says what
    the configuration needs", which passes), a batch holding that person failed whole, and the log said by turns
    that the statements failed and answered again. It is that record's RECORD_UNREADABLE, as a query returning two
    rows for a key is: the other keys answer, and an export leaves the row out."""
    await _execute(database_url, "CREATE TABLE addresses (k text, address text); INSERT INTO addresses VALUES"
                                 " ('Z001', 'one'), ('Z001', 'two'), ('Z002', 'three');"
                                 " INSERT INTO registry (code, label) VALUES ('p1', 'Z001'), ('p2', 'Z002');"
                                 " CREATE VIEW registry_addresses AS SELECT r.code, (SELECT a.address FROM addresses a"
                                 " WHERE a.k = r.label) AS address FROM registry r")
    store = await _query_store(tmp_path, database_url, {"address": "address"},
                               "SELECT r.code, (SELECT a.address FROM addresses a WHERE a.k = r.label) AS address"
                               " FROM registry r WHERE r.code = $1")
    caplog.set_level(logging.INFO, logger="frontproc.store")
    try:
        await _unreadable_alone_and_in_a_batch(store, "p1", "p2", "cannot be read by the department database's query")
        assert (await store.lookup("registry", "p2")).values == {"code": "p2", "address": "three"}
    finally:
        await store.close()
    said = [record.getMessage() for record in caplog.records]
    assert said and all(message.startswith("a record of registry cannot be read: a subquery of its query or view "
                                           "returns more than one row for it (CardinalityViolationError, SQLSTATE "
                                           "21000") for message in said), said
    view = (_config(tmp_path, database_url, {"address": "address"}).replace("    as_of_column: updated\n", "")
            .replace("table: registry\n", "table: registry_addresses\n"))
    store = DepartmentStore(parse(view, str(tmp_path / "dept.yaml")))
    await store.open()
    try:
        page = await store.page("registry", "", 10)
    finally:
        await store.close()
    assert ([row.key for row in page.rows], page.skipped) == (["a", "b", "p2"], 1)


async def test_a_row_a_query_returns_under_another_key_or_none_is_that_records_error_not_found_under_it(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A query whose key item comes from a LEFT JOIN's table (NULL for a person without a row there) answered
    that person found, under no key: the platform, matching records by the key it asked, answered them absent
    (库无), the access log saying the record had left. It is that record's RECORD_UNREADABLE now, said in the log
    with the key masked; a key whose row carries it answers."""
    await _execute(database_url, "CREATE TABLE cards (k text, card text); INSERT INTO cards VALUES ('p1', 'c1');"
                                 " INSERT INTO registry (code, label) VALUES ('p1', 'one'), ('p2', 'two')")
    store = await _query_store(tmp_path, database_url, {"label": "label"},
                               "SELECT c.k AS code, r.label FROM registry r LEFT JOIN cards c ON c.k = r.code"
                               " WHERE r.code = $1")
    try:
        caplog.set_level(logging.INFO, logger="frontproc.store")
        await _unreadable_alone_and_in_a_batch(store, "p2", "p1",
                                               "returns for this key a row whose key item holds no value")
        warning = caplog.records[-1].getMessage()
        assert "the query of registry returns, for the key " in warning
        assert "a row whose key item code (column code) holds no value" in warning and "p2" not in warning
        assert (await store.lookup("registry", "p1")).values == {"code": "p1", "label": "one"}
    finally:
        await store.close()


async def test_a_statement_a_standby_cancels_for_a_conflict_with_recovery_is_asked_again(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A 前置机 reading a hot standby has a statement cancelled "due to conflict with recovery" (SQLSTATE 40001)
    when the primary's changes replayed there need what it reads: the call was DATABASE_REFUSED, the log saying the
    database refused the statements until fixed, of a database that answered the next call. Such a statement is
    asked again; rolled back twice, the call is UNAVAILABLE (a database to wait for), said once."""
    await _execute(database_url, """
        INSERT INTO registry (code, label) VALUES ('p1', 'one');
        CREATE SEQUENCE conflicts; CREATE TABLE conflict_plan (every int); INSERT INTO conflict_plan VALUES (2);
        CREATE FUNCTION standby_conflict() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            IF nextval('conflicts') % (SELECT every FROM conflict_plan) <> 0 THEN
                RAISE EXCEPTION 'canceling statement due to conflict with recovery' USING ERRCODE = '40001';
            END IF;
            RETURN true;
        END $$;""")
    store = await _query_store(tmp_path, database_url, {"label": "label"},
                               "SELECT code, label FROM registry WHERE code = $1 AND"
                               " standby_conflict()")
    try:
        caplog.set_level(logging.INFO, logger="frontproc.store")
        assert (await store.lookup("registry", "p1")).values == {"code": "p1", "label": "one"}
        await _execute(database_url, "UPDATE conflict_plan SET every = 1000000")  # cancelled every time
        with pytest.raises(ServiceError) as error:
            await store.lookup("registry", "p1")
        assert (error.value.code, error.value.reason) == (grpc.StatusCode.UNAVAILABLE, "DEPENDENCY_UNAVAILABLE")
        warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
        assert len(warnings) == 1 and "rolled back a statement of registry twice in a row (SerializationError: " \
                                      "canceling statement due to conflict with recovery: on a hot standby" \
                                      in warnings[0], warnings
    finally:
        await store.close()


async def test_a_batch_of_a_querys_keys_is_asked_side_by_side_not_one_after_another(
        tmp_path: Path, database_url: str) -> None:
    """A resource served by a query (one key a statement) ran a BatchLookup's keys one after another: a 1,000-key
    BatchQuery waited for 1,000 round trips in a row and outran the platform's deadline. Each lookup here records
    when its statement ran in the database (and sleeps a little, as a real lookup's I/O takes time): run side by
    side over the pool, some of them overlap; run one after another, none could."""
    await _execute(database_url, """
        CREATE TABLE ran (k text, began timestamptz, ended timestamptz);
        CREATE FUNCTION looked_up(k text) RETURNS text LANGUAGE plpgsql AS $$
        DECLARE began timestamptz := clock_timestamp();
        BEGIN PERFORM pg_sleep(0.05); INSERT INTO ran VALUES (k, began, clock_timestamp()); RETURN k; END $$;
        INSERT INTO registry (code, label) SELECT 'k' || n, 'label ' || n FROM generate_series(1, 12) n""")
    store = await _query_store(tmp_path, database_url, {"label": "label"},
                               "SELECT looked_up(code) AS code, label FROM registry WHERE code ="
                               " $1")
    try:
        keys = [f"k{n}" for n in range(1, 13)] + ["absent"]
        rows = await store.batch_lookup("registry", keys)
    finally:
        await store.close()
    assert sorted(row.values["label"] for row in rows) == sorted(f"label {n}" for n in range(1, 13))
    conn = await asyncpg.connect(database_url)
    try:
        overlapping = await conn.fetchval("SELECT count(*) FROM ran a JOIN ran b ON a.k < b.k"
                                          " AND a.began < b.ended AND b.began < a.ended")
    finally:
        await conn.close()
    assert overlapping > 0


def _as_user(url: str, user: str) -> str:
    """``url`` connecting as ``user`` (the embedded database trusts local connections: no password)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


async def test_a_table_the_account_may_not_read_is_refused_by_the_check_not_at_every_call(
        tmp_path: Path, database_url: str) -> None:
    """PostgreSQL checks privileges when a statement runs, not when it is prepared: a table the department's
    account was never granted SELECT on (created after its GRANT SELECT ON ALL TABLES IN SCHEMA) passed --check,
    the 前置机 said it was serving, and every call was DATABASE_REFUSED "permission denied for table"."""
    reader = f"dept_{uuid.uuid4().hex[:8]}"
    await _execute(database_url, f"CREATE ROLE {reader} LOGIN; GRANT SELECT ON registry TO {reader}; "
                                 "CREATE TABLE hidden (k text PRIMARY KEY, v text)")
    text = _config(tmp_path, _as_user(database_url, reader), {"label": "label"})
    hidden_table = (text.replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                                 "    table: hidden\n    key_column: k\n")
                    .replace("code: code", "code: k").replace("label: label", "label: v"))
    hidden_query = text.replace("    table: registry\n    key_column: code\n",
                                "    query: SELECT * FROM hidden h JOIN registry r ON r.code = h.k WHERE h.k = $1\n")
    for granted, refused in ((text, None), (hidden_table, "table: hidden"), (hidden_query, "query: ")):
        config = parse(granted, str(tmp_path / "dept.yaml"))
        connection = await asyncpg.connect(config.database_url)
        try:
            if refused is None:
                await check_resources(config, connection)
                continue
            with pytest.raises(ConfigError) as error:
                await check_resources(config, connection)
        finally:
            await connection.close()
        line = next(number for number, content in enumerate(granted.splitlines(), 1) if refused in content)
        assert f"dept.yaml:{line}: resources 'registry': the database account {reader} may not read it " \
               "(InsufficientPrivilegeError: permission denied for table hidden): grant it SELECT on what the " \
               f"database names (GRANT SELECT ON … TO {reader})" in str(error.value)
    await _execute(database_url, f"DROP OWNED BY {reader}; DROP ROLE {reader}")


async def test_the_check_says_when_row_level_security_hides_every_row_from_the_account(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A table with ROW LEVEL SECURITY and no policy for the 前置机's account shows it no row, without an error:
    --check said the file was valid, and every lookup was 库无, every batch download empty."""
    reader = f"dept_{uuid.uuid4().hex[:8]}"
    await _execute(database_url, f"CREATE ROLE {reader} LOGIN; GRANT SELECT ON registry TO {reader}; "
                                 f"ALTER TABLE registry ENABLE ROW LEVEL SECURITY; CREATE POLICY own ON registry "
                                 f"FOR UPDATE TO {reader} USING (true)")
    text = _config(tmp_path, _as_user(database_url, reader), {"label": "label"})
    caplog.set_level(logging.WARNING, logger="frontproc.store")
    assert await _read(tmp_path, text, "a") is None
    said = [record.getMessage().split(": ", 2)[-1] for record in caplog.records
            if record.name == "frontproc.store" and "row-level security" in record.getMessage()]
    assert said == [f"row-level security is on for registry and no policy lets the database account {reader} read "
                    "its rows: it sees none, so every lookup is answered as absent and every batch download is empty;"
                    f" give it a policy (CREATE POLICY fqj_read ON \"registry\" FOR SELECT TO \"{reader}\" USING "
                    "(true), or the rows it may share), or share a view that its owner reads"]
    caplog.clear()
    # The policy advised: the row is read, and the check is silent.
    await _execute(database_url, f"CREATE POLICY fqj_read ON registry FOR SELECT TO {reader} USING (true)")
    assert (await _read(tmp_path, text, "a")).values["label"] == "ok"
    assert not [record for record in caplog.records if "row-level security" in record.getMessage()]
    await _execute(database_url, f"DROP OWNED BY {reader}; DROP ROLE {reader}")


async def test_a_url_file_rewritten_after_a_credential_rotation_serves_the_next_connection(
        tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """database.url_file (a mounted Secret, say) was read once, at start: once the DBA had rotated the account's
    credential and written the new URL to the file, every connection the running 前置机 opened (its pool
    replacing one, after the database restarted) was refused until someone restarted it. Here the account is
    renamed (the embedded database trusts local connections, so a new password would not be asked for)."""
    old, new = f"dept_{uuid.uuid4().hex[:8]}", f"dept_{uuid.uuid4().hex[:8]}"
    await _execute(database_url, f"CREATE ROLE {old} LOGIN; GRANT SELECT ON registry TO {old}")
    url_of = lambda user: _as_user(database_url, user)  # noqa: E731
    (tmp_path / "database.url").write_text(url_of(old) + "\n")
    text = _config(tmp_path, database_url, {"label": "label"}).replace(f"  url: {database_url}\n",
                                                                        "  url_file: database.url\n")
    config = parse(text, str(tmp_path / "dept.yaml"))
    store = DepartmentStore(config)
    await store.open()
    try:
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        await _execute(database_url, f"ALTER ROLE {old} RENAME TO {new}")
        (tmp_path / "database.url").write_text(url_of(new) + "\n")
        await store._pool.expire_connections()  # type: ignore[union-attr]  # as after a restart of the database
        caplog.set_level(logging.INFO, logger="frontproc.store")
        assert (await store.lookup("registry", "a")).values["label"] == "ok"
        assert any(f"with the URL {tmp_path / 'database.url'} now holds" in record.getMessage()
                   for record in caplog.records)
    finally:
        await store.close()
        await _execute(database_url, f"DROP OWNED BY {new}; DROP ROLE {new}")


class _StallingProxy:
    """A TCP proxy to the department database whose connections can be made to stall: no byte forwarded either
    way, and none closed, as when the database's host loses power or fails over, or a firewall drops the
    connection without a word. Connections opened after a stall are forwarded."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = dict(part.split("=", 1) for part in parts.query.split("&") if "=" in part)
        self._unix = f"{query['host']}/.s.PGSQL.{parts.port or 5432}" if query.get("host", "").startswith("/") else ""
        self._target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._path = parts.path
        self._user = parts.netloc.rpartition("@")[0] or "postgres"
        self._open: list[asyncio.Event] = []
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"postgresql://{self._user}@127.0.0.1:{port}{self._path}?sslmode=disable"

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()

    def stall(self) -> None:
        """The connections open now forward nothing from here on."""
        for flowing in self._open:
            flowing.clear()
        self._open = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        database_reader, database_writer = await (asyncio.open_unix_connection(self._unix) if self._unix
                                                  else asyncio.open_connection(*self._target))
        flowing = asyncio.Event()
        flowing.set()
        self._open.append(flowing)
        self._writers.extend((writer, database_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                await flowing.wait()
                sink.write(data)
            sink.close()

        await asyncio.gather(pipe(reader, database_writer), pipe(database_reader, writer), return_exceptions=True)


async def _health(running) -> int:  # type: ignore[no-untyped-def]
    from grpc_health.v1 import health_pb2

    return (await running.health.Check(health_pb2.HealthCheckRequest(), None)).status


async def _until_health(running, status: int) -> None:  # type: ignore[no-untyped-def]
    """Waits for health to say ``status``, watching it (the readiness watch checks every second)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60)
        async for said in watch:
            if said.status == status:
                watch.cancel()
                return
    raise AssertionError(f"health's watch ended before it said {status}")


async def test_health_follows_the_department_database_and_the_url_its_url_file_holds(
        tmp_path: Path, database_url: str) -> None:
    """Health said SERVING through an outage of the department database (only its start was waited for): a
    readiness probe kept the 前置机 in its Service and an ops person reading health saw nothing wrong, while every
    call of the platform was refused UNAVAILABLE. It says NOT_SERVING while the database does not answer, and
    SERVING once it does again, by the URL database.url_file holds now (a password rotated meanwhile)."""
    from grpc_health.v1 import health_pb2

    from frontproc.component import FrontprocComponent, server_settings
    from services.runtime.server import start_server

    proxy = _StallingProxy(database_url)
    (tmp_path / "database.url").write_text(await proxy.__aenter__())
    text = _config(tmp_path, database_url, {"label": "label"}).replace(
        f"  url: {database_url}\n", "  url_file: database.url\n") + "listen: 127.0.0.1:0\n"
    config = parse(text, str(tmp_path / "dept.yaml"))
    running = await start_server(server_settings(config), FrontprocComponent(config))
    try:
        assert await _health(running) == health_pb2.HealthCheckResponse.SERVING
        await proxy.__aexit__()  # the database's host gone: connections closed, new ones refused
        await _until_health(running, health_pb2.HealthCheckResponse.NOT_SERVING)
        (tmp_path / "database.url").write_text(database_url)  # back, at the address the file names now
        await _until_health(running, health_pb2.HealthCheckResponse.SERVING)
    finally:
        await running.stop(0)


async def test_a_listening_connection_that_stalls_is_replaced_and_the_changes_heard_again(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The 前置机 waited on its LISTEN connection until the connection said it was closed. A database host that
    loses power or fails over, or a firewall dropping an idle connection, closes nothing: the 前置机 waited for
    ever on a connection no notice would come through, the changes never announced, the platform answering from
    its copies until they expired, and nothing in the log. The connection is now asked whether the database still
    answers; one that does not is replaced, and the whole resource announced, as after any reconnection."""
    from frontproc import watch

    await _execute(database_url, """
        CREATE FUNCTION registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('registry_changed', NEW.code); RETURN NULL; END $$;
        CREATE TRIGGER registry_changed AFTER INSERT ON registry FOR EACH ROW EXECUTE FUNCTION registry_changed();""")
    monkeypatch.setattr(watch, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(watch, "RETRY_SECONDS", 0.1)
    monkeypatch.setattr(watch, "LISTEN_CHECK_SECONDS", 0.2)
    monkeypatch.setattr(watch, "LISTEN_CHECK_TIMEOUT_SECONDS", 0.5)
    sent: list[list[str]] = []
    heard = asyncio.Event()

    async def send(code: str, keys: list[str]) -> int:
        sent.append(list(keys))
        heard.set()
        return len(keys)

    proxy = _StallingProxy(database_url)
    async with proxy as proxied:
        watched = "    watch_channel: registry_changed\n    resource_code: 101001/000001\n"
        text = (_config(tmp_path, proxied, {"label": "label"})
                .replace("    as_of_column: updated\n", "    as_of_column: updated\n" + watched)
                .replace("public_keys_file: platform.pem\n", "public_keys_file: platform.pem\n  edge: 127.0.0.1:1\n"
                         "  system_id: s\n  secret: x\n"))
        watcher = watch.ChangeWatcher(parse(text, str(tmp_path / "dept.yaml")), send)  # type: ignore[arg-type]
        caplog.set_level(logging.WARNING, logger="frontproc.watch")
        watcher.start()
        try:
            await asyncio.wait_for(heard.wait(), 10)
            assert sent == [[]]  # listening: the whole resource, once
            heard.clear()
            await asyncio.sleep(0.6)  # the connection answers its checks meanwhile
            await _execute(database_url, "INSERT INTO registry (code) VALUES ('c')")
            await asyncio.wait_for(heard.wait(), 10)
            assert sent == [[], ["c"]] and not caplog.records
            heard.clear()
            proxy.stall()  # the database's host is gone without a word: nothing comes through from now on
            await asyncio.wait_for(heard.wait(), 10)
            assert sent[-1] == []  # listening again: the whole resource
            heard.clear()
            await _execute(database_url, "INSERT INTO registry (code) VALUES ('d')")
            await asyncio.wait_for(heard.wait(), 10)
            assert sent[-1] == ["d"]
        finally:
            await watcher.stop()
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and said[0].startswith("the department database did not answer the 前置机's listening "
                                                 "connection within 0.5 s"), said


@pytest.mark.parametrize("written", ["RSJ.SI_ENROLMENT", "si_enrolment", "rsj.Si_Enrolment"])
async def test_a_table_named_in_another_case_or_without_its_schema_is_refused_naming_the_one_there_is(
        tmp_path: Path, database_url: str, written: str) -> None:
    """Names are taken as written (quoted): a data officer used to Oracle writing RSJ.SI_ENROLMENT for a table
    created without quotes, which PostgreSQL keeps as rsj.si_enrolment, or si_enrolment for a table in a schema not
    on the account's search_path, was told only 'relation "RSJ.SI_ENROLMENT" does not exist' of a table they
    could see in their client."""
    await _execute(database_url, "CREATE SCHEMA rsj; CREATE TABLE rsj.si_enrolment (code text PRIMARY KEY, xm text);"
                                 "INSERT INTO rsj.si_enrolment VALUES ('a', '张三')")

    def text(table: str) -> str:
        return (_config(tmp_path, database_url, {"name": "xm"})
                .replace("    table: registry\n    key_column: code\n    as_of_column: updated\n",
                         f"    table: {table}\n    key_column: code\n"))

    with pytest.raises(ConfigError) as refused:
        await _read(tmp_path, text(written), "a")
    assert "does not exist: the database has rsj.si_enrolment: write table: rsj.si_enrolment (names are taken as " \
           "written" in str(refused.value), str(refused.value)
    assert (await _read(tmp_path, text("rsj.si_enrolment"), "a")).values == {"code": "a", "name": "张三"}


async def test_a_database_that_goes_away_during_the_check_is_said_to_not_a_traceback(
        tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The department database restarting (or its host going away) while --check, or the start's check, ran ended
    the 前置机 with a traceback, "asyncpg.exceptions._base.InterfaceError: connection is closed" (met while a
    statement was prepared: 'invalid configuration: … the database refuses it: ConnectionDoesNotExistError', exit 2,
    the officer looking for a fault in a file that had none). It is DatabaseUnreachable, exit 1, saying so."""
    import frontproc.__main__ as frontproc_main

    config = parse(_config(tmp_path, database_url, {"label": "label"}), str(tmp_path / "dept.yaml"))
    connect = frontproc_main.connect

    async def restarted_meanwhile(config, wait_seconds):  # type: ignore[no-untyped-def]
        connection = await connect(config, wait_seconds)
        await _execute(database_url, f"SELECT pg_terminate_backend({connection.get_server_pid()})")
        await asyncio.sleep(0.2)
        return connection

    monkeypatch.setattr(frontproc_main, "connect", restarted_meanwhile)
    with pytest.raises(frontproc_main.DatabaseUnreachable) as stopped:
        await frontproc_main.check(config)
    assert "stopped answering during the check (" in str(stopped.value)
    assert str(stopped.value).endswith("run it again once the database answers")
