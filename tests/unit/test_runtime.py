"""Unit tests of the shared runtime: settings, identity, masking, working days, identifiers, pages."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import time

import grpc
import pytest
from google.rpc import error_details_pb2

from services.runtime import identifiers, pagination, workdays
from services.runtime.errors import FieldViolation, ServiceError, invalid_argument, status_of
from services.runtime.identity import AssertionSigner, AssertionVerifier, Caller, service_caller
from services.runtime.keys import generate_keys
from services.runtime.masking import Masker
from services.runtime.settings import SettingsError, load
from services.runtime.singleflight import SingleFlight

KEY = b"k" * 40


def test_settings_report_every_problem_at_once() -> None:
    env = {"GOVSHARE_ZONE": "moon", "GOVSHARE_WORKERS": "zero", "GOVSHARE_LISTEN": "nowhere",
           "GOVSHARE_REFLECTION": "maybe"}
    with pytest.raises(SettingsError) as info:
        load("query", env)
    message = str(info.value)
    for expected in ("GOVSHARE_ZONE", "GOVSHARE_WORKERS", "GOVSHARE_LISTEN", "GOVSHARE_REFLECTION",
                     "GOVSHARE_INTERNAL_KEY", "GOVSHARE_DATABASE_URL", "GOVSHARE_AUTHORIZATION_TARGET"):
        assert expected in message


def test_a_listening_port_no_socket_can_have_is_refused_at_load() -> None:
    env = {"GOVSHARE_INTERNAL_KEY": KEY.decode(), "GOVSHARE_LISTEN": "0.0.0.0:70000",
           "GOVSHARE_HEALTH_LISTEN": "0.0.0.0:65536", "GOVSHARE_EDGE_ADMIN": "127.0.0.1:9901"}
    with pytest.raises(SettingsError) as info:
        load("gateway", env)
    message = str(info.value)
    assert "GOVSHARE_LISTEN='0.0.0.0:70000': the port must be between 0 and 65535" in message
    assert "GOVSHARE_HEALTH_LISTEN='0.0.0.0:65536': the port must be between 0 and 65535" in message
    assert "GOVSHARE_EDGE_ADMIN" not in message


def test_settings_load_a_valid_environment() -> None:
    env = {"GOVSHARE_INTERNAL_KEY": KEY.decode(), "GOVSHARE_DATABASE_URL": "postgresql://x/y",
           "GOVSHARE_REDIS_URL": "redis://r:6379/0", "GOVSHARE_ZONE": "INTRANET", "GOVSHARE_WORKERS": "3",
           "GOVSHARE_MASK_RULES": "phone=3,2;secret=full", "GOVSHARE_AUTHORIZATION_TARGET": "authorization:50051",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key}
    settings = load("catalog", env)
    assert settings.zone == "intranet" and settings.workers == 3
    assert settings.mask_rules == {"phone": "3,2", "secret": "full"}


def test_listing_and_search_budgets_are_settings() -> None:
    env = {"GOVSHARE_INTERNAL_KEY": KEY.decode(), "GOVSHARE_DATABASE_URL": "postgresql://x/y",
           "GOVSHARE_REDIS_URL": "redis://r:6379/0", "GOVSHARE_AUTHORIZATION_TARGET": "authorization:50051",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key,
           "GOVSHARE_DB_LISTING_POOL_SIZE": "6", "GOVSHARE_DB_LISTING_TIMEOUT_MS": "1500",
           "GOVSHARE_DB_SEARCH_POOL_SIZE": "3", "GOVSHARE_DB_SEARCH_TIMEOUT_MS": "8000"}
    settings = load("catalog", env)
    assert (settings.db_listing_pool_size, settings.db_listing_timeout_ms) == (6, 1500)
    assert (settings.db_search_pool_size, settings.db_search_timeout_ms) == (3, 8000)
    with pytest.raises(SettingsError, match="GOVSHARE_DB_LISTING_TIMEOUT_MS"):
        load("catalog", {**env, "GOVSHARE_DB_LISTING_TIMEOUT_MS": "0"})  # no budget is not a budget


def test_tls_settings_must_come_together() -> None:
    env = {"GOVSHARE_INTERNAL_KEY": KEY.decode(), "GOVSHARE_DATABASE_URL": "x", "GOVSHARE_REDIS_URL": "y",
           "GOVSHARE_TLS_CERT": "/c.pem"}
    with pytest.raises(SettingsError, match="must be set together"):
        load("catalog", env)


def test_signed_assertion_round_trip() -> None:
    caller = Caller("sys-1", "91110000600037341L", authority=False)
    metadata = AssertionSigner(KEY).metadata(caller)
    assert AssertionVerifier(KEY).caller(metadata) == caller


@pytest.mark.parametrize("tamper", ["other-key", "edit-assertion", "missing-signature", "none"])
def test_forged_assertions_are_refused(tamper: str) -> None:
    (header, assertion), (sig_header, signature) = AssertionSigner(KEY).metadata(Caller("sys-1", "D", False))
    if tamper == "other-key":
        metadata = AssertionSigner(b"x" * 40).metadata(Caller("sys-1", "D", True))
    elif tamper == "edit-assertion":
        metadata = ((header, assertion.replace("|0|", "|1|")), (sig_header, signature))
    elif tamper == "missing-signature":
        metadata = ((header, assertion),)
    else:
        metadata = ()
    with pytest.raises(ServiceError) as info:
        AssertionVerifier(KEY).caller(metadata)
    assert info.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_pods_of_the_old_and_the_new_internal_key_call_each_other_through_its_rotation() -> None:
    """GOVSHARE_INTERNAL_KEY held one key: rotated as deploy.md said (the Secret's new content, then a rollout
    restart), the pods restarted with the new key and those not yet restarted refused each other's service
    identities ('caller identity signature is invalid': query's decisions, the catalog's directory look-ups, the
    systems' states) until the last pod had restarted. It now takes several keys, comma separated: the first
    signs, every one verifies, and each step of the three-step rotation talks with the one before."""
    from services.runtime.callers import caller_verifier

    old, new = "o" * 40, "n" * 40
    env = {"GOVSHARE_DATABASE_URL": "postgresql://h/d", "GOVSHARE_REDIS_URL": "redis://r:6379/0",
           "GOVSHARE_TOKEN_PUBLIC_KEY": generate_keys().token_public_key, "GOVSHARE_AUTHORIZATION_TARGET": "a:1"}
    steps = [load("catalog", {**env, "GOVSHARE_INTERNAL_KEY": value})
             for value in (old, f"{old},{new}", f"{new},{old}", new)]
    for before, after in itertools.pairwise(steps):
        for signing, verifying in ((before, after), (after, before)):
            metadata = AssertionSigner(signing.internal_key).metadata(service_caller("query"))
            assert caller_verifier(verifying).caller(metadata, check=False) == service_caller("query")
    assert steps[2].verifying_internal_keys == (new.encode(), old.encode())
    # A key is taken byte for byte, as before (a pod of this release must sign as the pods it replaces do).
    assert load("catalog", {**env, "GOVSHARE_INTERNAL_KEY": f"{old}\n"}).internal_key == f"{old}\n".encode()
    with pytest.raises(ServiceError, match="signature is invalid"):
        caller_verifier(steps[3]).caller(AssertionSigner(old.encode()).metadata(service_caller("query")))
    with pytest.raises(SettingsError, match="each of at least 32"):
        load("catalog", {**env, "GOVSHARE_INTERNAL_KEY": f"{new},short"})


def test_expired_assertion_is_refused() -> None:
    signer = AssertionSigner(KEY)
    old = int(time.time()) - 3600
    import hashlib
    import hmac

    assertion = f"v2|sys-1|D|0|{old}|0"
    signature = hmac.new(KEY, assertion.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(ServiceError, match="expired"):
        AssertionVerifier(KEY).caller((("x-govshare-caller", assertion), ("x-govshare-caller-sig", signature)))
    assert signer.metadata(service_caller("query"))  # services sign like anyone else


@pytest.mark.parametrize(("value", "rule", "expected"), [
    ("11010519491231002X", "citizen_id", "110105********002X"),
    ("张三丰", "name", "张**"),
    ("13812345678", "phone", "138****5678"),
    ("北京市朝阳区某街1号", "address", "北京市朝阳区****"),
    # An address shows the divisions it starts with, never its street, number or building: one with no division
    # in front showed its street and number ("the first six characters").
    ("建国路88号院3号楼2单元501室", "address", "*" * 17),
    ("朝阳区建国路88号院3号楼", "address", "朝阳区" + "*" * 10),
    ("新疆维吾尔自治区乌鲁木齐市天山区解放路1号", "address", "新疆维吾尔自治区乌鲁木齐市天山区" + "*" * 5),
    ("北京朝阳区建国路1号", "address", "北京朝阳区*****"),
    ("人民路区政府大院", "address", "*" * 8),
    ("北京市", "address", "***"),
    # A street named after a province (西藏中路, 北京路, in most cities) is no division: its name showed after the
    # divisions (上海市黄浦区西藏******), or alone. A province's short form is one only first, before a division.
    ("上海市黄浦区西藏中路120号", "address", "上海市黄浦区" + "*" * 8),
    ("上海市西藏中路120号", "address", "上海市" + "*" * 8),
    ("北京路5号3栋", "address", "*" * 7),
    ("吉林大路1号", "address", "*" * 6),
    ("新疆乌鲁木齐市天山区解放路1号", "address", "新疆乌鲁木齐市天山区" + "*" * 5),
    ("abc", "full", "***"),
    ("abc", "no-such-rule", "***"),
    ("ab", "citizen_id", "a*"),
    ("", "name", ""),
    # Values no longer than what the rule keeps: never shown whole, a one-character name included.
    ("王", "name", "*"),
    ("7", "phone", "*"),
    ("1234567", "phone", "1******"),
    # A CHAR(n) column's padding is no part of the value: the rule applies to what it pads.
    ("王" + " " * 19, "name", "*"),
    ("王五" + " " * 18, "name", "王*"),
    ("13812345678    ", "phone", "138****5678"),
    ("   ", "name", ""),
])
def test_masking_rules(value: str, rule: str, expected: str) -> None:
    assert Masker().mask(value, rule) == expected


def test_mask_rules_are_configurable() -> None:
    assert Masker({"phone": "0,4"}).mask("13812345678", "phone") == "*******5678"
    # A rule that keeps no head shows no head of a value too short for its tail.
    assert Masker({"phone": "0,4"}).mask("1234", "phone") == "****"
    with pytest.raises(ValueError, match="expected"):
        Masker({"phone": "three"})
    assert Masker({"address": "6,0"}).mask("建国路88号院3号楼", "address") == "建国路88号****"
    assert Masker({"workplace": "division"}).mask("上海市浦东新区世纪大道1号", "workplace") == "上海市浦东新区******"


def test_working_days_skip_national_day_and_count_adjusted_saturday() -> None:
    # 2026: 1-7 Oct are holidays; Saturday 10 Oct is an adjusted working day (调休).
    assert not workdays.is_working_day(dt.date(2026, 10, 2))
    assert workdays.is_working_day(dt.date(2026, 10, 10))
    start = dt.datetime(2026, 9, 30, 9, 0, tzinfo=workdays.CHINA)
    assert workdays.add_working_days(start, 1).date() == dt.date(2026, 10, 8)
    # 8 Oct (Thu), 9 Oct (Fri), 10 Oct (Sat, adjusted) are working days 1-3.
    assert workdays.add_working_days(start, 3).date() == dt.date(2026, 10, 10)


def test_working_days_fall_back_to_weekdays_beyond_the_calendar() -> None:
    assert not workdays.calendar_covers(dt.date(2099, 1, 1))
    due = workdays.add_working_days(dt.datetime(2099, 1, 2, tzinfo=workdays.CHINA), 10)  # a Friday
    assert due.date() == dt.date(2099, 1, 16)


def test_beyond_the_calendar_the_holidays_the_law_dates_are_not_working_days() -> None:
    """chinese-calendar knows no 2027 yet: an application filed on Friday 18 Dec 2026 was due on 1 Jan 2027
    (元旦), one filed on 17 Sep 2027 on 1 Oct (国庆节)."""
    assert not workdays.calendar_covers(dt.date(2027, 1, 1))
    friday = dt.datetime(2026, 12, 18, 23, 59, tzinfo=workdays.CHINA)
    assert workdays.add_working_days(friday, 10).date() == dt.date(2027, 1, 4)
    assert workdays.add_working_days(dt.datetime(2027, 9, 17, 10, 0, tzinfo=workdays.CHINA), 10).date() == \
        dt.date(2027, 10, 4)
    for holiday in (dt.date(2027, 1, 1), dt.date(2027, 4, 5), dt.date(2028, 5, 2), dt.date(2027, 10, 1)):
        assert not workdays.is_working_day(holiday), holiday  # 元旦, 清明 (a solar term), 劳动节, 国庆节
    assert workdays.is_working_day(dt.date(2027, 4, 6)) and workdays.is_working_day(dt.date(2027, 10, 4))
    assert workdays.is_working_day(dt.date(2101, 4, 5))  # beyond the solar terms chinese-calendar computes


@pytest.mark.parametrize(("value", "ok"), [
    ("11010519491231002X", True), ("110105194912310021", False), ("1101051949123100", False),
    ("11010519491331002X", False), ("99010519491231002X", False),
])
def test_citizen_ids(value: str, ok: bool) -> None:
    assert (identifiers.citizen_id_error(value) is None) is ok


@pytest.mark.parametrize(("value", "ok"), [
    ("91110000600037341L", True), ("91110000600037341M", False), ("91110000600037341", False),
    ("9111000060003734IL", False),
])
def test_credit_codes(value: str, ok: bool) -> None:
    assert (identifiers.credit_code_error(value) is None) is ok


def test_citizen_id_errors_say_which_part_is_wrong() -> None:
    from stdnum.cn import ric

    bad_date = "11010519491331002"
    assert "birth date" in identifiers.citizen_id_error(bad_date + ric.calc_check_digit(bad_date + "0"))
    body = "99010519491231002"
    assert "region code" in identifiers.citizen_id_error(body + ric.calc_check_digit(body + "0"))


def test_a_code_of_the_wrong_length_says_what_in_a_spreadsheet_made_it_so() -> None:
    """A department's export: an 18-digit number shown as 3.42322E+17, a text mark left in front, an old
    15-digit 公民身份号码; each reason says what to do, not only the length."""
    assert "scientific notation" in identifiers.citizen_id_error("3.42322E+17")
    assert "scientific notation" in identifiers.credit_code_error("9.24103E+17")
    assert "remove the '" in identifiers.citizen_id_error("'11010519491231002X")
    assert "18-digit form (19 inserted before its 2-digit birth year, after the 6th digit, and its check character " \
        "added" in identifiers.citizen_id_error("110105491231002")  # how, not only what: it was the latter alone
    assert identifiers.citizen_id_error("1101054912310").endswith("got 13")
    assert "18-digit form" not in identifiers.credit_code_error("911100006000373")
    # A code read with a configuration file's final newline, or pasted with a blank (a REST URL's %0A, %20).
    for padded in ("11110100MB00000014\n", " 11110100MB00000014", "11110100MB00000014\r\n"):
        assert identifiers.credit_code_error(padded).endswith(
            "got " + str(len(padded)) + ": it has a blank or a line break before or after it: send the code alone")
    assert "blank" not in identifiers.credit_code_error("11110100MB0000001")
    # A code copied from a document with a character nobody sees: "got 19" of a code that shows 18.
    assert identifiers.citizen_id_error("110105194912\u200b31002X") == (
        "公民身份号码 must have 18 characters, got 19: it holds an invisible character, U+200B, at position 13 "
        "(copied from a document or a web page?): remove it")
    assert identifiers.credit_code_error("\u202a11110100MB00000014").endswith(", U+202A, at position 1 (copied from "
                                                                             "a document or a web page?): remove it")


def test_a_code_a_spreadsheet_rounded_to_15_digits_says_so_not_only_that_its_check_character_is_wrong() -> None:
    """A spreadsheet holding an 18-digit code as a number writes its first 15 digits and 000 (342322194911060454 as
    342322194911060000): the reason was "invalid check character", read as the person's number mistyped. It says
    what the file's column did; another wrong check character is said as before."""
    for error in (identifiers.citizen_id_error("342322194911060000"),
                  identifiers.credit_code_error("911101086000373000")):
        assert error is not None and error.endswith(
            "has an invalid check character: it ends in 000, as a spreadsheet writes an 18-digit code it kept as a "
            "number (15 digits, then zeros): keep the code as text: format its column as text and export it again "
            "from the source"), error
    assert identifiers.citizen_id_error("342322194911060455") == "公民身份号码 has an invalid check character"
    # The console says it in Chinese, as it says the other reasons.
    from console.errors import field_sentence

    assert field_sentence(identifiers.citizen_id_error("342322194911060000") or "").startswith(
        "公民身份号码的校验位不正确，且末尾为 000：电子表格")


def test_region_codes_come_from_the_code_table() -> None:
    assert identifiers.region_code_error("110105") is None
    assert identifiers.region_name("110105") == "北京市朝阳区"
    assert identifiers.region_code_error("119999") is not None
    assert identifiers.region_code_error("11a105") is not None


def test_page_tokens() -> None:
    token = pagination.encode_token({"after": "101001/000001"})
    assert pagination.decode_token(token) == {"after": "101001/000001"}
    assert pagination.decode_token("") is None
    with pytest.raises(ServiceError) as info:
        pagination.decode_token("!!not-a-token")
    assert info.value.violations[0].field == "page_token"
    assert pagination.page_size(0) == pagination.DEFAULT_PAGE_SIZE
    assert pagination.page_size(10**6) == pagination.MAX_PAGE_SIZE
    with pytest.raises(ServiceError):
        pagination.page_size(-1)
    assert [v.field for v in pagination.page_size_violations(-1)] == ["page_size"]
    assert pagination.page_size_violations(0) == []


def test_a_page_token_does_not_give_back_the_identifier_its_request_held() -> None:
    """A token is bound to its request by a digest, and travels in URLs and logs: a plain hash of a request holding
    a 公民身份号码 (ListSubjectAccesses) could be reversed by trying every possible number. The digest is keyed."""
    import base64
    import hashlib
    import json

    from govshare.query.v1 import audit_pb2

    request = audit_pb2.ListSubjectAccessesRequest(citizen_id="342322194911060454", page_size=5)
    bare = audit_pb2.ListSubjectAccessesRequest(citizen_id="342322194911060454")
    tokens = []
    for secret in (b"k" * 32, b"j" * 32):
        scope = pagination.TokenScope("AuditService/ListSubjectAccesses", pagination.token_key(secret))
        reset = pagination.serving(scope, request)
        try:
            tokens.append(pagination.encode_token({"after": "x"}))
        finally:
            pagination.CALL.reset(reset)
    bindings = [json.loads(base64.urlsafe_b64decode(t.rpartition(".")[0]))["b"] for t in tokens]
    assert hashlib.sha256(bare.SerializeToString(deterministic=True)).hexdigest()[:16] not in bindings
    assert bindings[0] != bindings[1]  # it depends on the platform's key, which the holder of a token lacks


def test_a_listing_paged_across_the_internal_keys_rotation_goes_on() -> None:
    """Page tokens are signed with a key derived from GOVSHARE_INTERNAL_KEY's first key. At the rotation's second
    step (NEW,OLD: the first key changes) a listing whose pages straddled the rollout was refused INVALID_ARGUMENT
    "is not a page token this listing issued" on its next page, from a pod that no longer signed with OLD: a
    console page's 下一页 or an export script failed until started again. A pod reads the tokens of every key it
    lists (TokenScope.previous), and signs with the first only; a key no longer listed is refused."""
    from govshare.catalog.v1 import catalog_pb2

    old, new = pagination.token_key(b"o" * 40), pagination.token_key(b"n" * 40)
    request = catalog_pb2.ListEntriesRequest(page_size=5)

    def served(scope: pagination.TokenScope, call: object) -> object:
        reset = pagination.serving(scope, request)
        try:
            return call()  # type: ignore[operator]
        finally:
            pagination.CALL.reset(reset)

    token = served(pagination.TokenScope("CatalogService/ListEntries", old),
                   lambda: pagination.encode_token({"after": "x"}))
    rotated = pagination.TokenScope("CatalogService/ListEntries", new, (old,))
    assert served(rotated, lambda: pagination.decode_token(token)) == {"after": "x"}  # type: ignore[arg-type]
    again = served(rotated, lambda: pagination.encode_token({"after": "y"}))
    assert served(pagination.TokenScope("CatalogService/ListEntries", new),
                  lambda: pagination.decode_token(again)) == {"after": "y"}  # type: ignore[arg-type]
    with pytest.raises(ServiceError) as refused:
        served(pagination.TokenScope("CatalogService/ListEntries", new), lambda: pagination.decode_token(token))  # type: ignore[arg-type]
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_time_keyset_tokens_round_trip_and_refuse_what_they_did_not_make() -> None:
    import uuid

    when = dt.datetime(2026, 11, 21, 8, 30, tzinfo=dt.UTC)
    row = uuid.uuid4()
    assert pagination.time_keyset_after(pagination.time_keyset_token(when, row), lambda v: uuid.UUID(str(v))) == \
        (when, row)
    assert pagination.time_keyset_after(pagination.time_keyset_token(when, "a-1"), pagination.text_id) == \
        (when, "a-1")
    assert pagination.time_keyset_after("", pagination.text_id) is None
    naive = pagination.encode_token({"t": "2026-11-21T08:30:00", "i": "a-1"})
    not_text = pagination.encode_token({"t": when.isoformat(), "i": 7})
    no_time, bad_time = pagination.encode_token({"i": "a-1"}), pagination.encode_token({"t": "x", "i": "a"})
    for token in (naive, not_text, no_time, bad_time):
        with pytest.raises(ServiceError) as info:
            pagination.time_keyset_after(token, pagination.text_id)
        assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert info.value.violations[0].field == "page_token"


async def test_singleflight_collapses_concurrent_misses() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = 0

    async def work() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return 7

    results = await asyncio.gather(*(flight.do("k", work) for _ in range(20)))
    assert results == [7] * 20 and calls == 1


async def test_singleflight_a_cancelled_caller_does_not_cancel_the_others() -> None:
    """The first caller's client went away: the callers who joined it still get the answer, from one call."""
    flight: SingleFlight[int] = SingleFlight()
    calls = 0
    release = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return 7

    first = asyncio.create_task(flight.do("k", work))
    await asyncio.sleep(0)
    others = [asyncio.create_task(flight.do("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*others) == [7, 7, 7]
    assert first.cancelled() and calls == 1
    assert await flight.do("k", work) == 7 and calls == 2  # nothing left in flight


async def test_key_batcher_batches_a_turn_of_lookups_and_keeps_no_idle_lane() -> None:
    """Lookups made in one turn of the loop leave as one call; afterwards the batcher holds nothing, whether the
    call succeeded or failed."""
    from services.runtime.batching import KeyBatcher

    calls: list[tuple[object, list[str]]] = []

    async def fetch(lane: object, keys: list[str]) -> dict[str, int]:
        calls.append((lane, keys))
        await asyncio.sleep(0)
        if lane == "broken":
            raise LookupError("down")
        return {key: len(key) for key in keys if key != "absent"}

    batcher: KeyBatcher[int] = KeyBatcher(fetch, max_batch=3)
    assert await asyncio.gather(*(batcher.get("a", key) for key in ("x", "yy", "x", "absent", "zzzz"))) == [
        1, 2, 1, None, 4]
    assert calls == [("a", ["x", "yy", "absent"]), ("a", ["zzzz"])]  # bounded at 3, a key asked twice is one
    with pytest.raises(LookupError):
        await batcher.get("broken", "k")
    assert not batcher._lanes and not batcher._tasks


def test_logs_are_json_lines_with_the_trace_id() -> None:
    import json
    import logging

    from services.runtime.telemetry import JsonFormatter, TraceContextFilter

    record = logging.LogRecord("govshare", logging.WARNING, __file__, 1, "caller %s refused: 'quoted'", ("sys-1",),
                               None)
    TraceContextFilter().filter(record)
    entry = json.loads(JsonFormatter("query").format(record))
    assert entry["message"] == "caller sys-1 refused: 'quoted'"
    assert entry["component"] == "query" and entry["level"] == "WARNING" and entry["trace_id"] == "-"


def test_invalid_argument_lists_everything_that_fits() -> None:
    from services.runtime.errors import FieldViolation, invalid_argument

    few = invalid_argument([FieldViolation("a", "bad"), FieldViolation("b", "worse")])
    assert [v.field for v in few.violations] == ["a", "b"] and few.message == "a: bad; b: worse"
    many = invalid_argument([FieldViolation(f"f{i}", "身份号码校验位错误" * 30) for i in range(100)])
    assert many.violations[-1].description.endswith("more problems not listed")
    assert sum(len(v.description.encode()) for v in many.violations) < 4000
    assert len(many.violations) - 1 + int(many.violations[-1].description.split()[0]) == 100


def test_enum_short_names_go_both_ways_and_unknowns_stay_recognisable() -> None:
    from govshare.common.v1 import common_pb2
    from services.runtime.enums import ShortNames

    purposes = ShortNames(common_pb2.PurposeType)
    assert purposes.name(common_pb2.PURPOSE_TYPE_WORK_REFERENCE) == "WORK_REFERENCE"
    assert purposes.value("WORK_REFERENCE") == common_pb2.PURPOSE_TYPE_WORK_REFERENCE
    assert purposes.name(0) == "UNSPECIFIED" and purposes.value("NO_SUCH_PURPOSE") == 0
    assert purposes.name(999) == "UNKNOWN_999" and not purposes.known(999)
    for name, value in common_pb2.DenyReason.items():
        assert ShortNames(common_pb2.DenyReason).value(name.removeprefix("DENY_REASON_")) == value


def test_a_deadline_is_provisional_only_beyond_the_published_calendar() -> None:
    assert not workdays.provisional(dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=workdays.CHINA))
    assert workdays.provisional(dt.datetime(2099, 1, 16, 23, 59, 59, tzinfo=workdays.CHINA))
    # The Beijing date decides: 16:30 UTC on 31 Dec 2098 is already 2099 in Beijing.
    assert workdays.provisional(dt.datetime(2098, 12, 31, 16, 30, tzinfo=dt.UTC))


async def test_cancel_stops_a_running_task_and_accepts_none() -> None:
    import asyncio

    from services.runtime.tasks import cancel

    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(forever())
    await started.wait()
    await cancel(task)
    assert task.cancelled()
    await cancel(None)


async def test_cancel_cancels_again_a_task_that_lost_the_first_cancellation(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """As redis-py's pub/sub reconnect does when a cancellation coincides with its own timeout."""
    import asyncio

    from services.runtime import tasks

    monkeypatch.setattr(tasks, "RECANCEL_SECONDS", 0.01)
    started, swallowed = asyncio.Event(), []

    async def swallows_once() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            swallowed.append(True)
        await asyncio.Event().wait()

    task = asyncio.create_task(swallows_once(), name="listener")
    await started.wait()
    await tasks.cancel(task)
    assert task.cancelled() and swallowed == [True]


async def test_cancel_passes_on_the_error_a_task_ended_with() -> None:
    import asyncio

    from services.runtime.tasks import cancel

    async def fails() -> None:
        raise LookupError("the task's own failure")

    task = asyncio.create_task(fails())
    await asyncio.wait({task})
    with pytest.raises(LookupError, match="own failure"):
        await cancel(task)


async def test_a_cancelled_caller_of_cancel_is_cancelled_too() -> None:
    """The caller's own cancellation (a component stopped while it stops a task) is not swallowed."""
    import asyncio

    from services.runtime.tasks import cancel

    async def slow_to_end() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.2)  # cleanup that outlasts the caller's patience

    inner = asyncio.create_task(slow_to_end())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel(inner))
    await asyncio.sleep(0.01)
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await asyncio.wait({inner})
    assert inner.cancelled()


def test_a_callback_that_holds_the_loop_is_counted_as_loop_lag() -> None:
    """A blocking call stalls every call of the process; the lag histogram must record it at its size."""
    from services.runtime import telemetry

    def over(bound: float) -> float:
        counts = {sample.labels["le"]: sample.value for metric in telemetry.LOOP_LAG.collect()
                  for sample in metric.samples if sample.name.endswith("_bucket")}
        return counts["+Inf"] - counts[str(bound)]

    async def stall_once() -> None:
        watcher = asyncio.create_task(telemetry.watch_loop_lag(interval=0.01))
        await asyncio.sleep(0.03)
        time.sleep(0.12)  # noqa: ASYNC251 - holds the loop on purpose, as a blocking call in a handler would
        await asyncio.sleep(0.03)
        watcher.cancel()

    before = over(0.1)
    asyncio.run(stall_once())
    # The timer due during the stall ran at least 0.11 s late; a slower machine only makes it later.
    assert over(0.1) >= before + 1


def test_a_public_key_setting_given_a_files_path_says_to_give_the_pem_text(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from services.runtime.keys import ed25519_public_keys, public_pem

    path = tmp_path / "bundle-public.pem"
    path.write_text(public_pem(Ed25519PrivateKey.generate()), encoding="utf-8")
    assert len(ed25519_public_keys(path.read_text(encoding="utf-8"))) == 1
    with pytest.raises(ValueError, match=r"the value is a file's path; give the PEM text itself"):
        ed25519_public_keys(str(path))
    with pytest.raises(ValueError, match=r"^no PEM public key found$"):
        ed25519_public_keys(str(tmp_path / "no-such.pem"))  # not a file: nothing to suggest


def test_a_private_key_setting_given_the_public_half_or_a_path_says_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from services.runtime.keys import ed25519_private_key, private_pem, public_pem

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "bundle-signing.pem"
    path.write_text(private_pem(key), encoding="utf-8")
    assert ed25519_private_key(path.read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=r"^not a PEM private key: this is a public key \(-----BEGIN PUBLIC KEY"):
        ed25519_private_key(public_pem(key))
    with pytest.raises(ValueError, match=r"^not a PEM private key: the value is a file's path; give the PEM text"):
        ed25519_private_key(str(path))
    with pytest.raises(ValueError, match=r"^not a PEM private key$"):
        ed25519_private_key("garbage")


def test_a_failed_call_is_described_by_its_status_and_message() -> None:
    """grpc's text of a failed call is a multi-line dump; the warnings that quote it cut it at 200 characters,
    which kept "<AioRpcError of RPC that terminated with: status = …" and lost the message."""
    from services.runtime.errors import describe

    class Failed(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

        def details(self) -> str:
            return "failed to connect to all addresses"

    assert describe(Failed()) == "gRPC call failed: UNAVAILABLE: failed to connect to all addresses"
    assert describe(ValueError("two\nlines")) == "ValueError: two lines"
    assert describe(ValueError("x" * 300)).endswith("…") and len(describe(ValueError("x" * 300))) == 212


def test_a_target_without_a_port_or_with_an_impossible_one_is_refused_at_load() -> None:
    """`GOVSHARE_QUERY_TARGET=query` was taken as is: the edge rendered it into Envoy's clusters, a service dialled
    it at its first call."""
    env = {"GOVSHARE_JWKS_URL": "http://a:8081/.well-known/jwks.json", "GOVSHARE_CATALOG_TARGET": "catalog:50051",
           "GOVSHARE_AUTHORIZATION_TARGET": "authorization:50051", "GOVSHARE_QUERY_TARGET": "query",
           "GOVSHARE_FOUNDATION_TARGET": "foundation:99999", "GOVSHARE_QUERY_HEAVY_READ_TARGET": "q-heavy"}
    with pytest.raises(SettingsError) as info:
        load("gateway", env)
    message = str(info.value)
    assert "GOVSHARE_QUERY_TARGET='query': expected host:port" in message
    assert "GOVSHARE_FOUNDATION_TARGET='foundation:99999': the port must be between 0 and 65535" in message
    assert "GOVSHARE_QUERY_HEAVY_READ_TARGET" in message and "GOVSHARE_CATALOG_TARGET" not in message


class _SlowPipeline:
    """A Redis pipeline whose execute waits for ``release``: the moment a cancellation may arrive."""

    def __init__(self, redis: _SlowRedis) -> None:
        self._redis = redis
        self._queued: list[str] = []

    async def __aenter__(self) -> _SlowPipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def delete(self, *names: str) -> None:
        self._queued += names

    async def execute(self) -> None:
        self._redis.executing.set()
        await self._redis.release.wait()
        self._redis.deleted += self._queued


class _SlowRedis:
    def __init__(self) -> None:
        self.executing, self.release = asyncio.Event(), asyncio.Event()
        self.deleted: list[str] = []
        self.published: list[tuple[str, str]] = []

    def pipeline(self, transaction: bool = True) -> _SlowPipeline:
        return _SlowPipeline(self)

    async def publish(self, channel: str, message: str) -> None:
        self.published.append((channel, message))


async def test_an_invalidation_whose_caller_is_cancelled_still_deletes_and_announces() -> None:
    """A load commits, then invalidates its records: a client that hangs up just then cancels the call, and the
    cached records must still go (they were kept until the cache TTL, the change being committed)."""
    from services.runtime.cache import FOUNDATION_ENDPOINT, RECORDS_CHANGED, RecordInvalidator, record_cache_key

    redis = _SlowRedis()
    invalidator = RecordInvalidator(retry_seconds=0.01)
    invalidator.attach(redis)  # type: ignore[arg-type]
    call = asyncio.create_task(invalidator.records_changed(FOUNDATION_ENDPOINT, "population", ["11010519491231002X"]))
    await asyncio.wait_for(redis.executing.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    redis.release.set()
    for _ in range(100):
        if redis.published:
            break
        await asyncio.sleep(0.01)
    # The entry, and the one a query process of the release before would read (a rolling upgrade).
    assert redis.deleted == [record_cache_key(FOUNDATION_ENDPOINT, "population", "11010519491231002X"),
                             "rec:population:11010519491231002X"]
    assert [channel for channel, _ in redis.published] == [RECORDS_CHANGED]
    assert invalidator.pending == 0


def test_a_deadline_whose_days_are_all_beyond_the_calendar_is_not_counted_again(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Every start recounts the provisional deadlines; one whose every day lies beyond the calendar ends where it
    did, and counting it again day by day (a year ahead: hundreds of days, each through the fallback) made a start
    take minutes on a database holding many. It is returned as stored; one whose first day the calendar now
    knows is counted again."""
    start = dt.datetime(2101, 3, 2, 10, tzinfo=workdays.CHINA)
    due = workdays.add_working_days(start, 258)

    def counted(*_args: object) -> dt.datetime:
        raise AssertionError("counted again, though no day of it is known")

    with monkeypatch.context() as patch:
        patch.setattr(workdays, "add_working_days", counted)
        assert workdays.recount(start, due, 258) == (due, 258, True)
    known = dt.datetime(2026, 12, 28, 10, tzinfo=workdays.CHINA)
    stored = workdays.add_working_days(known, 10) + dt.timedelta(days=3)  # counted on an older calendar
    assert workdays.recount(known, stored, 10)[0] == workdays.add_working_days(known, 10)


def test_a_refusals_texts_leave_with_every_citizen_id_masked() -> None:
    """status_of is where every ServiceError becomes a status: a 公民身份号码 the refusal quotes (the caller's
    value, in its message, a violation or its metadata) leaves masked, as the console and the logs see it."""
    number = "342322194911060454"
    error = invalid_argument([FieldViolation("id", f"{number!r} is not a well-formed person id"),
                              FieldViolation("items[0]", "'34232219491106045X' is not an item")])
    error.metadata = {"value": number, "code": "91110000600037341L"}
    status = status_of(error, "authorization")
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    status.details[0].Unpack(info)
    status.details[1].Unpack(bad)
    assert status.message == "id: '342322********0454' is not a well-formed person id; items[0]: " \
                             "'342322********045X' is not an item"
    assert [v.description for v in bad.field_violations] == [
        "'342322********0454' is not a well-formed person id", "'342322********045X' is not an item"]
    assert dict(info.metadata) == {"value": "342322********0454", "code": "91110000600037341L"}
    assert number not in str(status)


def test_a_violations_field_quoting_a_citizen_id_leaves_masked() -> None:
    """A Verify claim keyed by the record's 公民身份号码 by mistake ({"claims": {"342322194911060454": "武文辉"}}) is
    refused on the field claims["<the key>"]: the message and the description left masked, but the BadRequest's
    field held the number whole, for the caller's logs and the console. The field is masked as the texts are."""
    number = "342322194911060454"
    status = status_of(invalid_argument([FieldViolation(f'claims["{number}"]', f"'{number}' is not an item"),
                                         FieldViolation('claims["name"]', "claim a non-empty value")]), "query")
    bad = error_details_pb2.BadRequest()
    status.details[1].Unpack(bad)
    assert [v.field for v in bad.field_violations] == ['claims["342322********0454"]', 'claims["name"]']
    assert number not in str(status)


@pytest.mark.parametrize("admin", ["0.0.0.0:9901", "[::]:9901", "10.0.0.5:9901", "edge.example:9901"])
def test_an_edge_admin_listener_other_machines_reach_is_refused_at_load(admin: str) -> None:
    """Envoy's admin listener has no authentication (/quitquitquit stops the edge): GOVSHARE_EDGE_ADMIN=0.0.0.0:9901
    was taken as given, though docs/configuration.md says to keep it on localhost."""
    env = {"GOVSHARE_INTERNAL_KEY": KEY.decode(), "GOVSHARE_EDGE_ADMIN": admin}
    with pytest.raises(SettingsError) as info:
        load("gateway", env)
    assert f"GOVSHARE_EDGE_ADMIN={admin!r}: Envoy's admin listener must stay on this machine" in str(info.value)


@pytest.mark.parametrize("admin", ["127.0.0.1:9901", "127.0.0.2:9901", "[::1]:9901", "localhost:9901"])
def test_an_edge_admin_listener_on_this_machine_is_taken(admin: str) -> None:
    env = {"GOVSHARE_INTERNAL_KEY": KEY.decode(), "GOVSHARE_EDGE_ADMIN": admin}
    with pytest.raises(SettingsError) as info:
        load("gateway", env)
    assert "GOVSHARE_EDGE_ADMIN" not in str(info.value)
