"""The catalog service over real sockets, on real PostgreSQL and Redis (DOMAIN §2-3, §9).

Two servers share one database: an extranet deployment (the default) and an intranet one,
which may hold classified entries. Every test works with its own departments and codes,
so tests do not depend on each other or on what else the session's database holds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
import pytest_asyncio
from caller_metadata import CallerMetadata, person_of
from google.protobuf import field_mask_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum.cn import uscc

from govshare.catalog.v1 import catalog_pb2 as pb
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.common.v1 import common_pb2 as common
from services.catalog.component import create_component, flag_stored_codes, flag_unmasked_rules
from services.catalog.figures import department_figures
from services.catalog.rules import ITEM_NUMBERS
from services.catalog.store import CatalogStore
from services.runtime import db
from services.runtime.cache import CATALOG_CHANGED
from services.runtime.duties import DATA_OFFICER, REVIEWER
from services.runtime.errors import details_of
from services.runtime.figures import parse_dimension
from services.runtime.identity import Caller, service_caller
from services.runtime.server import RunningServer, start_server
from services.runtime.settings import Settings
from services.runtime.workdays import CHINA, add_working_days

pytestmark = pytest.mark.integration

AUTHORITY = Caller("sys-authority", "11100000MB0143820E", authority=True)  # 大数据局
#: Reviews are the authority's reviewer's decisions (issue 12).
AUTHORITY_REVIEWER = person_of(AUTHORITY, REVIEWER)
_CREDIT_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_random = random.Random()


def credit_code() -> str:
    """A fresh, valid 统一社会信用代码: a department no other test uses."""
    body = "11" + "110000" + "".join(_random.choice(_CREDIT_CHARS) for _ in range(9))
    return body + uscc.calc_check_digit(body)


def new_code(category: int = 1, subject: str = "人口") -> str:
    """A fresh code numbering every part from 1 (a part of zeros only is refused), its 项 the subject's number."""
    item = ITEM_NUMBERS.get(category, {}).get(subject) or f"{_random.randrange(1, 100):02d}"  # type: ignore[call-overload]
    classification = f"{category}{item}{_random.randrange(1, 1000):03d}"
    return f"{classification}/{_random.randrange(1, 10**6):06d}"


def department(code: str | None = None) -> Caller:
    code = code or credit_code()
    return Caller(f"sys-{code}", code)


def make_entry(dept: str, category: int = pb.CATEGORY_FOUNDATION, **fields: object) -> pb.Entry:
    """A valid foundation entry of ``dept``; ``fields`` override it."""
    subject = {pb.CATEGORY_FOUNDATION: "人口", pb.CATEGORY_THEME: "健康保障"}.get(category, "税务征管")
    entry = pb.Entry(
        code=new_code(category, str(fields.get("subject", subject)).strip()), name="人口基础信息",
        summary="全员人口的身份与户籍信息", category=category, subject=subject,
        provider_department_code=dept, provider_name="公安厅", format_class=pb.FORMAT_CLASS_DATABASE,
        format_type="JSON",
        items=[
            pb.DataItem(name="公民身份号码", machine_name="citizen_id", data_type=pb.DATA_TYPE_CHARACTER, length=18,
                        sensitive=True, mask_rule="citizen_id", basic=True,
                        identifier=pb.IDENTIFIER_KIND_CITIZEN_ID),
            pb.DataItem(name="姓名", machine_name="name", data_type=pb.DATA_TYPE_CHARACTER, length=50,
                        sensitive=True, mask_rule="name", basic=True),
            pb.DataItem(name="出生日期", machine_name="birth_date", data_type=pb.DATA_TYPE_DATE),
        ],
        key_item="citizen_id", share_type=common.SHARE_TYPE_UNCONDITIONAL,
        share_methods=[common.SHARE_METHOD_ONLINE_QUERY], update_cycle=pb.UPDATE_CYCLE_DAILY,
        zone=common.ZONE_EXTRANET, secrecy=pb.SECRECY_NON_CLASSIFIED,
        endpoint=pb.ProviderEndpoint(dataset="population"),
    )
    for name, value in fields.items():
        if name in ("items", "share_methods", "related_codes"):
            entry.ClearField(name)
            getattr(entry, name).extend(value)  # type: ignore[arg-type]
        elif name == "endpoint":
            entry.endpoint.CopyFrom(value)  # type: ignore[arg-type]
        else:
            setattr(entry, name, value)
    return entry


class Client:
    """A caller of the catalog: a system with its token, a platform service with its signed identity."""

    def __init__(self, channel: grpc.aio.Channel, signer: CallerMetadata) -> None:
        self.stub = catalog_pb2_grpc.CatalogServiceStub(channel)
        self._signer = signer

    def __call__(self, method: str, request: object, caller: Caller) -> object:
        return getattr(self.stub, method)(request, metadata=self._signer.metadata(caller), timeout=10)

    async def create(self, entry: pb.Entry, caller: Caller | None = None) -> pb.Entry:
        caller = caller or department(entry.provider_department_code)
        return (await self("CreateEntry", pb.CreateEntryRequest(entry=entry), caller)).entry

    async def get(self, code: str, caller: Caller, version: int = 0) -> pb.Entry:
        return (await self("GetEntry", pb.GetEntryRequest(code=code, version=version), caller)).entry

    async def submit(self, code: str, caller: Caller) -> pb.Entry:
        return (await self("SubmitEntry", pb.SubmitEntryRequest(code=code), caller)).entry

    async def review(self, code: str, decision: int = pb.REVIEW_DECISION_PUBLISH, reason: str = "",
                     caller: Caller = AUTHORITY_REVIEWER, etag: str = "") -> pb.Entry:
        request = pb.ReviewEntryRequest(code=code, decision=decision, reason=reason, etag=etag)
        return (await self("ReviewEntry", request, caller)).entry

    async def update(self, entry: pb.Entry, paths: list[str], caller: Caller) -> pb.Entry:
        request = pb.UpdateEntryRequest(entry=entry, update_mask=field_mask_pb2.FieldMask(paths=paths))
        return (await self("UpdateEntry", request, caller)).entry

    async def publish(self, entry: pb.Entry) -> pb.Entry:
        """Create, submit and publish: a published entry in one step."""
        created = await self.create(entry)
        await self.submit(created.code, department(entry.provider_department_code))
        return await self.review(created.code)

    async def list(self, caller: Caller, page_size: int = 0, page_token: str = "",
                   **filters: object) -> pb.ListEntriesResponse:
        request = pb.ListEntriesRequest(filter=pb.EntryFilter(**filters), page_size=page_size, page_token=page_token)
        return await self("ListEntries", request, caller)

    async def search(self, query: str, caller: Caller, page_size: int = 0, page_token: str = "",
                     **filters: object) -> pb.SearchEntriesResponse:
        request = pb.SearchEntriesRequest(query=query, filter=pb.EntryFilter(**filters), page_size=page_size,
                                          page_token=page_token)
        return await self("SearchEntries", request, caller)


async def _start(settings: Settings) -> tuple[RunningServer, grpc.aio.Channel]:
    running = await start_server(settings, create_component(settings))
    return running, grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def catalog(base_settings: Settings) -> AsyncIterator[Client]:
    """The extranet deployment's catalog."""
    running, channel = await _start(base_settings.with_overrides(component="catalog", zone="extranet"))
    yield Client(channel, CallerMetadata.of(base_settings))
    await channel.close()
    await running.stop(0)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def intranet(base_settings: Settings) -> AsyncIterator[Client]:
    """The intranet deployment's catalog (same database here; separate clusters in production)."""
    settings = base_settings.with_overrides(component="catalog", zone="intranet")
    running, channel = await _start(settings)
    yield Client(channel, CallerMetadata.of(settings))
    await channel.close()
    await running.stop(0)


async def fails(call: object, code: grpc.StatusCode) -> tuple[str, list[str], str]:
    """Awaits a call that must fail with ``code``; returns its reason, violated fields and message."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    error = caught.value
    assert error.code() == code, error.details()
    info, bad = details_of(error)
    fields = [v.field for v in bad.field_violations] if bad else []
    return (info.reason if info else ""), fields, error.details() or ""


# Lifecycle -------------------------------------------------------------------------------------


async def test_lifecycle_versions_supersede_and_retire(catalog: Client) -> None:
    owner, reader = department(), department()
    draft = await catalog.create(make_entry(owner.department_code))
    assert (draft.state, draft.version) == (pb.ENTRY_STATE_DRAFT, 1)
    assert draft.create_time.seconds > 0 and not draft.HasField("publish_time")

    submitted = await catalog.submit(draft.code, owner)
    assert submitted.state == pb.ENTRY_STATE_SUBMITTED
    published = await catalog.review(draft.code)
    assert (published.state, published.version) == (pb.ENTRY_STATE_PUBLISHED, 1)
    assert published.publish_time.seconds > 0

    # Editing a published entry drafts version 2; everybody keeps reading version 1.
    change = pb.Entry(code=draft.code, name="人口基础信息（第二版）")
    v2 = await catalog.update(change, ["name"], owner)
    assert (v2.state, v2.version, v2.name) == (pb.ENTRY_STATE_DRAFT, 2, "人口基础信息（第二版）")
    assert v2.summary == draft.summary and list(v2.items) == list(draft.items)
    for caller in (reader, owner, AUTHORITY):
        current = await catalog.get(draft.code, caller)
        assert (current.version, current.state, current.name) == (1, pb.ENTRY_STATE_PUBLISHED, "人口基础信息")
    assert (await catalog.get(draft.code, owner, version=2)).state == pb.ENTRY_STATE_DRAFT

    await catalog.submit(draft.code, owner)
    v2_published = await catalog.review(draft.code)
    assert (v2_published.version, v2_published.state) == (2, pb.ENTRY_STATE_PUBLISHED)
    assert (await catalog.get(draft.code, reader)).version == 2
    assert (await catalog.get(draft.code, reader, version=1)).state == pb.ENTRY_STATE_SUPERSEDED
    versions = (await catalog("ListEntryVersions", pb.ListEntryVersionsRequest(code=draft.code), reader)).versions
    assert [(v.version, v.state) for v in versions] == [(1, pb.ENTRY_STATE_SUPERSEDED), (2, pb.ENTRY_STATE_PUBLISHED)]

    v3 = await catalog.update(pb.Entry(code=draft.code, summary="第三版摘要"), ["summary"], owner)  # in progress
    # Retiring it ends every grant of it: the departments that used it are told why, so a reason is required
    # (a revoked grant's is); nothing changes without one.
    for blank in ("", " 。 "):
        _, fields, message = await fails(catalog("RetireEntry", pb.RetireEntryRequest(code=draft.code, reason=blank),
                                                 person_of(owner, DATA_OFFICER)), grpc.StatusCode.INVALID_ARGUMENT)
        assert fields == ["reason"] and "say why" in message
    assert (await catalog.get(draft.code, reader)).state == pb.ENTRY_STATE_PUBLISHED
    retired = (await catalog("RetireEntry", pb.RetireEntryRequest(code=draft.code, reason=" 职能划转至市司法局 "),
                             person_of(owner, DATA_OFFICER))).entry
    assert (retired.version, retired.state) == (2, pb.ENTRY_STATE_RETIRED)
    # The reason is read wherever the retired entry is (it was kept in a history no call read): by the departments
    # whose grants it ended, and on the version in progress it closed; the superseded version was not retired.
    shown = await catalog.get(draft.code, reader)
    assert (shown.state, shown.retire_reason) == (pb.ENTRY_STATE_RETIRED, "职能划转至市司法局")  # stays readable
    assert (retired.retire_reason, (await catalog.get(draft.code, owner, version=v3.version)).retire_reason) == \
        ("职能划转至市司法局", "职能划转至市司法局")
    assert (await catalog.get(draft.code, reader, version=1)).retire_reason == ""
    reason, _, message = await fails(catalog.update(change, ["name"], owner), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "INVALID_STATE" and "RETIRED" in message


async def test_an_edit_that_changes_nothing_drafts_no_version(catalog: Client) -> None:
    """The console sends every field with each save (update_mask *): a published entry's form saved as it was read
    drafted version 2, identical to version 1, left among the department's work in progress."""
    owner = department()
    entry = await catalog.create(make_entry(owner.department_code))
    await catalog.submit(entry.code, owner)
    published = await catalog.review(entry.code)
    same = pb.Entry()
    same.CopyFrom(published)
    for output_only in ("state", "version", "publish_time", "create_time", "update_time", "submitted_by",
                        "reviewed_by", "etag"):
        same.ClearField(output_only)
    answered = await catalog.update(same, ["*"], owner)
    assert (answered.version, answered.state) == (1, pb.ENTRY_STATE_PUBLISHED)
    versions = (await catalog("ListEntryVersions", pb.ListEntryVersionsRequest(code=entry.code), owner)).versions
    assert [(v.version, v.state) for v in versions] == [(1, pb.ENTRY_STATE_PUBLISHED)]
    # The share methods are a set: sent in another order (the console's checkboxes'), they change nothing.
    both = await catalog.publish(make_entry(owner.department_code, share_methods=[
        common.SHARE_METHOD_BATCH_DOWNLOAD, common.SHARE_METHOD_ONLINE_QUERY]))
    reordered = pb.Entry(code=both.code, share_methods=[common.SHARE_METHOD_ONLINE_QUERY,
                                                        common.SHARE_METHOD_BATCH_DOWNLOAD])
    assert (await catalog.update(reordered, ["share_methods"], owner)).version == 1
    same.summary = "全员人口的身份、户籍与婚姻信息"
    assert (await catalog.update(same, ["*"], owner)).version == 2  # a change still drafts the next version


async def test_line_breaks_sent_as_a_browser_form_sends_them_count_and_compare_as_one(catalog: Client) -> None:
    """A browser submits a textarea's line breaks as CRLF. An entry a business system catalogued with a summary of
    two lines (LF), saved from the console's 编目 as it was read, drafted version 2 changing nothing; and a summary
    the form counted 256 characters (console.js counts a line break once) was refused as longer."""
    owner = department()
    published = await catalog.publish(make_entry(owner.department_code, summary="全员人口的身份信息\n户籍与婚姻信息",
                                                 legal_basis="第一条\n第二条"))
    as_a_form = pb.Entry(code=published.code, summary="全员人口的身份信息\r\n户籍与婚姻信息",
                         legal_basis="第一条\r\n第二条")
    assert (await catalog.update(as_a_form, ["summary", "legal_basis"], owner)).version == 1
    lines = "\r\n".join(["户" * 50] * 5) + "\r\n" + "籍"  # 256 characters, line breaks counted once
    edited = await catalog.update(pb.Entry(code=published.code, summary=lines), ["summary"], owner)
    assert (edited.version, edited.summary) == (2, lines.replace("\r\n", "\n"))


async def test_reasons_and_mandate_changes_sent_as_a_browser_form_sends_them_count_and_keep_lf(
        catalog: Client) -> None:
    """The console's 退回理由, 撤销理由 and 职能变更 boxes send their line breaks as CRLF, as a browser's form does:
    a text the page counted 2000 characters (console.js counts a line break once) was refused as 2004, one within
    it was stored with CRLF, and a mandate change reported again from the API (LF) was recorded as a second
    change, the department listed twice as overdue. They are counted, kept and matched with LF, as an entry's
    text is."""
    owner = department()
    draft = await catalog.create(make_entry(owner.department_code))
    await catalog.submit(draft.code, owner)
    long_text = "\r\n".join(["改" * 399] * 5) + "正"  # 2000 characters, line breaks counted once
    returned = await catalog.review(draft.code, pb.REVIEW_DECISION_RETURN, long_text)
    assert returned.return_reason == long_text.replace("\r\n", "\n")
    retired = (await catalog("RetireEntry", pb.RetireEntryRequest(code=draft.code, reason="不再发布：\r\n职能划转"),
                             owner)).entry
    assert retired.retire_reason == "不再发布：\n职能划转"
    changed, idle = _stamp(dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)), department()  # idle: no update since
    for description in (long_text, long_text.replace("\r\n", "\n")):  # from the console, then from the API
        await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
            department_code=idle.department_code, description=description, change_time=changed), idle)
    listed = (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(
        department_code=idle.department_code), idle)).updates
    assert [u.description for u in listed] == [long_text.replace("\r\n", "\n")]


async def test_free_text_holding_a_direction_override_is_refused_naming_the_field_and_where(catalog: Client) -> None:
    """An entry's summary, a return reason and a mandate change's description took a right-to-left override as
    sent (依据《<U+202E>例条》 shown reversed to the applicant, the reviewer and in the history, "Trojan Source"): each
    is refused INVALID_ARGUMENT on its field, naming the character and where it is; CJK text, a full-width space and
    line breaks are taken as before."""
    owner = department()
    _, fields, message = await fails(catalog.create(make_entry(owner.department_code, summary="全员人口\u202e信息")),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["entry.summary"] and "character 5 is U+202E (RIGHT-TO-LEFT OVERRIDE)" in message, message
    draft = await catalog.create(make_entry(owner.department_code, summary="全员人口　身份信息\n户籍信息"))
    await catalog.submit(draft.code, owner)
    _, fields, message = await fails(catalog.review(draft.code, pb.REVIEW_DECISION_RETURN, "请补充\u200b摘要"),
                                     grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["reason"] and "character 4 is U+200B (ZERO WIDTH SPACE)" in message, message
    _, fields, message = await fails(catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
        department_code=owner.department_code, description="承接\u2067登记职能"), owner),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["description"] and "character 3 is U+2067 (RIGHT-TO-LEFT ISOLATE)" in message, message


async def test_a_summary_stored_with_a_hidden_character_blocks_no_edit_that_leaves_it(
        catalog: Client, base_settings: Settings) -> None:
    """An entry stored before hidden formatting was refused, its summary holding a zero-width space, was refused
    every UpdateEntry on entry.summary until that summary was cleaned, even a rename, even the console's form saved
    with the summary as read: only an edit that changes the summary answers for it, told that the stored summary
    holds the character; a summary cleaned is taken."""
    owner = department()
    published = await catalog.publish(make_entry(owner.department_code))
    connection = await asyncpg.connect(base_settings.database_url)
    try:  # stored as a release before the rule did
        await connection.execute("UPDATE catalog.entry_versions SET summary = $2 WHERE code = $1",
                                 published.code, "全员人口\u200b信息")
    finally:
        await connection.close()
    renamed = await catalog.update(pb.Entry(code=published.code, name="人口基础信息（更名）"), ["name"], owner)
    assert (renamed.version, renamed.name, renamed.summary) == (2, "人口基础信息（更名）", "全员人口\u200b信息")
    as_read = pb.Entry()
    as_read.CopyFrom(renamed)
    for output_only in ("state", "version", "publish_time", "create_time", "update_time", "submitted_by",
                        "reviewed_by", "etag"):
        as_read.ClearField(output_only)
    as_read.legal_basis = "《政务信息资源共享管理暂行办法》第十条"
    saved = await catalog.update(as_read, ["*"], owner)  # the console's form: every field, the summary as read
    assert (saved.version, saved.legal_basis) == (2, "《政务信息资源共享管理暂行办法》第十条")
    _, fields, message = await fails(catalog.update(pb.Entry(code=published.code, summary="全员人口\u200b基础信息"),
                                                    ["summary"], owner), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["entry.summary"] and "U+200B (ZERO WIDTH SPACE)" in message, message
    assert "the stored summary holds it" in message, message
    cleaned = await catalog.update(pb.Entry(code=published.code, summary="全员人口信息"), ["summary"], owner)
    assert (cleaned.version, cleaned.summary) == (2, "全员人口信息")
    # A new violation of a field the edit leaves is still refused: a name broken by the edit names its field.
    _, fields, _ = await fails(catalog.update(pb.Entry(code=published.code, name="人口\u200b信息"), ["name"], owner),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["entry.name"]


@pytest.mark.parametrize("submitted", [False, True])
async def test_an_entry_never_published_is_withdrawn_by_retiring_it(catalog: Client, submitted: bool) -> None:
    """RetireEntry accepted only a published entry: a draft the department no longer meant to publish (or one
    waiting in review) could never leave its catalog or the reviewers' queue."""
    owner, reader = department(), department()
    draft = await catalog.create(make_entry(owner.department_code))
    if submitted:
        await catalog.submit(draft.code, owner)
    retired = (await catalog("RetireEntry", pb.RetireEntryRequest(code=draft.code), owner)).entry  # no reason needed
    assert (retired.version, retired.state) == (1, pb.ENTRY_STATE_RETIRED)
    assert not retired.HasField("publish_time")
    assert (await catalog.get(draft.code, owner)).state == pb.ENTRY_STATE_RETIRED
    await fails(catalog.get(draft.code, reader), grpc.StatusCode.NOT_FOUND)  # never public, as before
    reason, _, message = await fails(catalog.submit(draft.code, owner), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "INVALID_STATE" and "RETIRED" in message
    await fails(catalog.review(draft.code), grpc.StatusCode.FAILED_PRECONDITION)


async def test_related_codes_name_entries_a_reader_can_follow(catalog: Client) -> None:
    """关联资源代码 were only checked for their form: an entry was submitted and published naming codes no entry has
    (a typo), another department's unpublished draft or a retired entry, and its readers followed them to nothing.
    Submitting and publishing now refuse each such code by its place; a published entry and one the department is
    still writing (two related entries drafted together) are accepted."""
    owner, other = department(), department()
    published = await catalog.publish(make_entry(other.department_code))
    others_draft = await catalog.create(make_entry(other.department_code))
    own_draft = await catalog.create(make_entry(owner.department_code))
    missing = new_code()
    entry = await catalog.create(make_entry(owner.department_code, related_codes=[
        published.code, own_draft.code, missing, others_draft.code]))

    reason, fields, message = await fails(catalog.submit(entry.code, owner), grpc.StatusCode.FAILED_PRECONDITION)
    assert (reason, fields) == ("UNKNOWN_RELATED_ENTRY", ["entry.related_codes[2]", "entry.related_codes[3]"])
    assert f"{missing} is not a published catalog entry" in message
    assert f"{others_draft.code} is not a published catalog entry" in message  # a draft is not said to exist
    assert (await catalog.get(entry.code, owner)).state == pb.ENTRY_STATE_DRAFT

    await catalog.update(pb.Entry(code=entry.code, related_codes=[published.code, own_draft.code]),
                         ["related_codes"], owner)
    assert (await catalog.submit(entry.code, owner)).state == pb.ENTRY_STATE_SUBMITTED
    # Retired while the entry waited for its review: publishing it is refused too.
    await catalog("RetireEntry", pb.RetireEntryRequest(code=published.code, reason="职能划转"),
                  person_of(other, DATA_OFFICER))
    reason, fields, message = await fails(catalog.review(entry.code), grpc.StatusCode.FAILED_PRECONDITION)
    assert (reason, fields) == ("UNKNOWN_RELATED_ENTRY", ["entry.related_codes[0]"])
    assert (await catalog.get(entry.code, owner)).state == pb.ENTRY_STATE_SUBMITTED


async def test_publishing_first_version_only_for_submitted(catalog: Client) -> None:
    owner = department()
    draft = await catalog.create(make_entry(owner.department_code))
    reason, _, message = await fails(catalog.review(draft.code), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "INVALID_STATE" and "DRAFT" in message
    await catalog.submit(draft.code, owner)
    _, _, message = await fails(catalog.submit(draft.code, owner), grpc.StatusCode.FAILED_PRECONDITION)
    assert "SUBMITTED" in message
    _, _, message = await fails(catalog.update(pb.Entry(code=draft.code, name="x"), ["name"], owner),
                                grpc.StatusCode.FAILED_PRECONDITION)
    assert "SUBMITTED" in message


async def test_every_start_names_the_published_items_a_masking_rule_leaves_unmasked(  # type: ignore[no-untyped-def]
        catalog: Client, base_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """An entry published before the catalog refused a masking rule on an item not sensitive is served as it was,
    that item unmasked: every start of the catalog names it and its items to the authority, who has the provider
    correct it; an entry whose masked items are sensitive is not named."""
    owner = department()
    leaky = await catalog.publish(make_entry(owner.department_code))
    sound = await catalog.publish(make_entry(owner.department_code))
    connection = await asyncpg.connect(base_settings.database_url)
    try:  # stored as a release before the rule did: 姓名 with its rule, not sensitive
        await connection.execute(
            "UPDATE catalog.entry_versions SET items = (SELECT jsonb_agg(CASE WHEN item->>'machine_name' = 'name'"
            " THEN item || '{\"sensitive\": false}'::jsonb ELSE item END) FROM jsonb_array_elements(items) AS item)"
            " WHERE code = $1", leaky.code)
    finally:
        await connection.close()
    pool = await db.create_pool(base_settings.database_url, "catalog")
    try:
        with caplog.at_level(logging.WARNING, logger="services.catalog.component"):
            flagged = await flag_unmasked_rules(CatalogStore(pool))
    finally:
        await pool.close()
    assert leaky.code in flagged and sound.code not in flagged
    said = " ".join(record.getMessage() for record in caplog.records)
    assert "query serves them unmasked" in said
    assert f"{leaky.code}: name" in said or "more" in said


async def test_return_needs_a_reason_and_returned_entries_are_reworked(catalog: Client) -> None:
    owner = department()
    draft = await catalog.create(make_entry(owner.department_code))
    await catalog.submit(draft.code, owner)
    _, fields, _ = await fails(catalog.review(draft.code, pb.REVIEW_DECISION_RETURN, "  "),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["reason"]
    _, fields, _ = await fails(catalog.review(draft.code, pb.REVIEW_DECISION_UNSPECIFIED),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["decision"]

    returned = await catalog.review(draft.code, pb.REVIEW_DECISION_RETURN, "摘要不完整")
    assert (returned.state, returned.return_reason) == (pb.ENTRY_STATE_RETURNED, "摘要不完整")
    reworked = await catalog.update(pb.Entry(code=draft.code, summary="全员人口的身份、户籍与状态信息"),
                                    ["summary"], owner)
    assert (reworked.state, reworked.version) == (pb.ENTRY_STATE_RETURNED, 1)
    resubmitted = await catalog.submit(draft.code, owner)
    assert (resubmitted.state, resubmitted.return_reason) == (pb.ENTRY_STATE_SUBMITTED, "")
    assert (await catalog.review(draft.code)).state == pb.ENTRY_STATE_PUBLISHED


async def test_a_versions_returns_stay_readable_after_it_is_submitted_again(catalog: Client) -> None:
    """A returned version is reworked in place and submitted again under its number, and its return_reason is
    cleared: what the authority had asked for was then kept only in the catalog's trail (entry_events), which no
    call reads. The provider's 编目员 resubmitting a second time, or the reviewer checking that the rework answered
    the return, could not read it. GetEntry and ListEntryVersions now give the version's returns, oldest first,
    with when and who, to the provider and the authority; other departments do not see them."""
    owner, reader = department(), department()
    draft = await catalog.create(make_entry(owner.department_code))
    asked = ["摘要不完整：\n请补充数据来源", "共享方式应为联机查询"]
    for reason in asked:
        await catalog.submit(draft.code, owner)
        await catalog.review(draft.code, pb.REVIEW_DECISION_RETURN, reason)
    await catalog.submit(draft.code, owner)
    listed = (await catalog("ListEntryVersions", pb.ListEntryVersionsRequest(code=draft.code), owner)).versions
    for seen in (await catalog.get(draft.code, owner), await catalog.get(draft.code, AUTHORITY), *listed):
        assert (seen.version, seen.state, seen.return_reason) == (1, pb.ENTRY_STATE_SUBMITTED, "")
        assert [r.reason for r in seen.returns] == asked
        assert {r.returned_by.id for r in seen.returns} == {AUTHORITY_REVIEWER.system_id}
        assert seen.returns[0].time.ToDatetime() <= seen.returns[1].time.ToDatetime()
    await catalog.review(draft.code)
    assert not (await catalog.get(draft.code, reader)).returns
    assert [r.reason for r in (await catalog.get(draft.code, owner)).returns] == asked


async def test_update_mask_is_required_and_checked(catalog: Client) -> None:
    owner = department()
    draft = await catalog.create(make_entry(owner.department_code))
    _, fields, _ = await fails(catalog.update(pb.Entry(code=draft.code), [], owner), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["update_mask"]
    _, fields, _ = await fails(catalog.update(pb.Entry(code=draft.code), ["name", "colour", "state", "code"], owner),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["update_mask.paths[1]", "update_mask.paths[2]", "update_mask.paths[3]"]
    moved = await catalog.update(pb.Entry(code=draft.code, endpoint=pb.ProviderEndpoint(dataset="population_v2")),
                                 ["endpoint.dataset"], owner)
    assert (moved.endpoint.dataset, moved.name) == ("population_v2", draft.name)
    # The merged entry is validated as a whole.
    _, fields, _ = await fails(catalog.update(pb.Entry(code=draft.code, key_item="nothing"), ["key_item"], owner),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["entry.key_item"]
    await fails(catalog.update(pb.Entry(code=new_code(), name="x"), ["name"], owner), grpc.StatusCode.NOT_FOUND)


# Validation ------------------------------------------------------------------------------------


async def test_a_new_codes_item_number_must_stand_for_its_subject(catalog: Client) -> None:
    """A foundation or theme code's 项 numbers its subject (101… 人口, 102… 法人单位): 102… for 人口 and 107… (no
    foundation subject) were accepted. The code never changes, so an edit of the subject keeps to its 项."""
    owner = department()
    for code in (new_code(1, "法人单位"), f"107{new_code()[3:]}"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.create(make_entry(owner.department_code, code=code))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        _, bad = details_of(caught.value)
        assert bad is not None and [v.field for v in bad.field_violations] == ["entry.code"]
        assert "so 人口 is 01" in bad.field_violations[0].description
    created = await catalog.create(make_entry(owner.department_code))
    assert created.code[1:3] == "01"
    patch = pb.Entry(code=created.code, subject="法人单位", summary="新摘要")
    _, fields, _ = await fails(catalog.update(patch, ["subject", "summary"], owner), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["entry.subject"]
    assert (await catalog.update(patch, ["summary"], owner)).summary == "新摘要"


async def test_entries_stored_under_codes_the_rules_now_refuse_are_kept_and_flagged_at_start(
        catalog: Client, base_settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Entries a release before the code rules stored under 100…/… (项 00) or 107…/… for 人口 are not renumbered nor
    hidden (grants and audit records name them by code): they are served as before, and every start of the catalog
    names them to the authority in its log."""
    owner = department()
    entry = await catalog.create(make_entry(owner.department_code))
    legacy = [f"100{entry.code[3:]}", f"107{entry.code[3:]}"]
    connection = await asyncpg.connect(base_settings.database_url)
    try:  # stored as a release before the rules did: copies of the entry under those codes
        for code in legacy:
            await connection.execute(
                "INSERT INTO catalog.entries (code, provider_department_code, latest_version, public_version,"
                " create_time) SELECT $2, provider_department_code, latest_version, public_version, create_time"
                " FROM catalog.entries WHERE code = $1", entry.code, code)
            await connection.execute(
                "INSERT INTO catalog.entry_versions SELECT"
                " (jsonb_populate_record(v, jsonb_build_object('code', $2::text))).*"
                " FROM catalog.entry_versions v WHERE code = $1", entry.code, code)
    finally:
        await connection.close()
    pool = await db.create_pool(base_settings.database_url, "catalog")
    try:
        with caplog.at_level(logging.WARNING, logger="services.catalog.component"):
            flagged = await flag_stored_codes(CatalogStore(pool))
    finally:
        await pool.close()
    assert set(legacy) <= set(flagged) and entry.code not in flagged
    said = " ".join(record.getMessage() for record in caplog.records)
    assert "they are kept and served as they are" in said
    assert all(code in said for code in legacy) or "more" in said
    assert f"{legacy[1]}: the 项 07 does not stand for the subject 人口" in said or "more" in said
    for code in legacy:  # read, and edited, as before
        assert (await catalog.get(code, owner)).code == code
        assert (await catalog.update(pb.Entry(code=code, summary="仍可修改"), ["summary"], owner)).summary == "仍可修改"


async def test_a_new_code_numbering_a_part_with_zeros_is_refused(catalog: Client) -> None:
    """100001/000001 (项 00), 101000/… (目 000) and …/000000 (the sequence) were accepted as new entries' codes."""
    owner = department()
    for code, part in (("100001", "项 00"), ("101000", "目 000"), ("101001", "顺序号 000000")):
        sequence = "000000" if part.startswith("顺序号") else f"{_random.randrange(1, 10**6):06d}"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await catalog.create(make_entry(owner.department_code, code=f"{code}/{sequence}"))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
        _, bad = details_of(caught.value)
        assert bad is not None and [v.field for v in bad.field_violations] == ["entry.code"]
        assert part in bad.field_violations[0].description


async def test_a_bad_entry_gets_every_violation_listed(catalog: Client) -> None:
    owner = department()
    entry = make_entry(
        owner.department_code, code="401001/1", name="", summary="长" * 257, subject="天气",
        provider_department_code="91110000600037341X", format_class=0, share_type=common.SHARE_TYPE_CONDITIONAL,
        share_methods=[], update_cycle=0, endpoint=pb.ProviderEndpoint(),
        items=[pb.DataItem(name="公民身份号码", machine_name="CitizenId", data_type=pb.DATA_TYPE_CHARACTER),
               pb.DataItem(machine_name="name", data_type=0, mask_rule="rot13"),
               pb.DataItem(name="姓名", machine_name="name", data_type=pb.DATA_TYPE_CHARACTER, length=20)],
        key_item="citizen_id", related_codes=["bad"])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await catalog.create(entry, AUTHORITY)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    _, bad = details_of(caught.value)
    assert bad is not None
    described = {v.field: v.description for v in bad.field_violations}
    assert len(described) == len(bad.field_violations) == 18
    assert set(described) == {
        "entry.code", "entry.name", "entry.summary", "entry.subject", "entry.provider_department_code",
        "entry.format_class", "entry.update_cycle", "entry.related_codes[0]",
        "entry.items[0].machine_name", "entry.items[0].length", "entry.items[1].name", "entry.items[1].data_type",
        "entry.items[1].mask_rule", "entry.items[2].machine_name", "entry.key_item", "entry.share_condition",
        "entry.share_methods", "entry.endpoint.dataset",
    }
    assert described["entry.items[2].machine_name"] == "name is already used by entry.items[1]"
    # The message names the first few; the BadRequest holds them all.
    assert "(and 15 more: see the BadRequest details)" in (caught.value.details() or "")


VALIDATION_CASES = {
    "code format": ({"code": "101001-000001"}, "entry.code"),
    "code with 细目": ({"code": "101001001/00000"}, "entry.code"),
    "类 digit must match category": ({"code": "201001/000001"}, "entry.code"),
    "类 digit out of range": ({"code": "401001/000001"}, "entry.code"),
    "name required": ({"name": "   "}, "entry.name"),
    "name too long": ({"name": "名" * 101}, "entry.name"),
    "summary at most 256": ({"summary": "摘" * 257}, "entry.summary"),
    "category set": ({"category": 0, "code": "101001/000001"}, "entry.category"),
    "category known": ({"category": 9, "code": "101001/000001"}, "entry.category"),
    "subject required": ({"subject": ""}, "entry.subject"),
    "foundation subject": ({"subject": "健康保障"}, "entry.subject"),
    "provider code check digit": ({"provider_department_code": "91110000600037341A"},
                                  "entry.provider_department_code"),
    "format class set": ({"format_class": 0}, "entry.format_class"),
    "items required": ({"items": []}, "entry.items"),
    "machine name lower_snake": ({"items": [
        pb.DataItem(name="号码", machine_name="citizen_id", length=18, data_type=pb.DATA_TYPE_CHARACTER,
                    identifier=pb.IDENTIFIER_KIND_CITIZEN_ID),
        pb.DataItem(name="地区", machine_name="Region-Code", data_type=pb.DATA_TYPE_INTEGER)]},
        "entry.items[1].machine_name"),
    "data type set": ({"items": [pb.DataItem(name="号码", machine_name="citizen_id",
                                             identifier=pb.IDENTIFIER_KIND_CITIZEN_ID)]}, "entry.items[0].data_type"),
    "character length": ({"items": [pb.DataItem(name="号码", machine_name="citizen_id", length=0,
                                                data_type=pb.DATA_TYPE_CHARACTER,
                                                identifier=pb.IDENTIFIER_KIND_CITIZEN_ID)]}, "entry.items[0].length"),
    "key item has an identifier": ({"items": [pb.DataItem(name="号码", machine_name="citizen_id", length=18,
                                                          data_type=pb.DATA_TYPE_CHARACTER)]}, "entry.key_item"),
    "identifier only on the key": ({"items": [
        pb.DataItem(name="号码", machine_name="citizen_id", length=18, data_type=pb.DATA_TYPE_CHARACTER,
                    identifier=pb.IDENTIFIER_KIND_CITIZEN_ID),
        pb.DataItem(name="地区", machine_name="region_code", length=6, data_type=pb.DATA_TYPE_CHARACTER,
                    identifier=pb.IDENTIFIER_KIND_REGION_CODE)]}, "entry.items[1].identifier"),
    "mask rule known": ({"items": [pb.DataItem(name="号码", machine_name="citizen_id", length=18,
                                               data_type=pb.DATA_TYPE_CHARACTER, mask_rule="stars",
                                               identifier=pb.IDENTIFIER_KIND_CITIZEN_ID)]},
                        "entry.items[0].mask_rule"),
    "key item names an item": ({"key_item": "passport"}, "entry.key_item"),
    "share type set": ({"share_type": 0}, "entry.share_type"),
    "conditional needs a condition": ({"share_type": common.SHARE_TYPE_CONDITIONAL}, "entry.share_condition"),
    "not shared needs a legal basis": ({"share_type": common.SHARE_TYPE_NOT_SHARED}, "entry.legal_basis"),
    "shared needs a method": ({"share_methods": []}, "entry.share_methods"),
    "method known": ({"share_methods": [common.SHARE_METHOD_ONLINE_QUERY, 42]}, "entry.share_methods[1]"),
    "update cycle set": ({"update_cycle": 0}, "entry.update_cycle"),
    "zone set": ({"zone": 0}, "entry.zone"),
    "secrecy set": ({"secrecy": 0}, "entry.secrecy"),
    "dataset required": ({"endpoint": pb.ProviderEndpoint(target="10.0.0.1:50051")}, "entry.endpoint.dataset"),
    "target is a target": ({"endpoint": pb.ProviderEndpoint(target="not a host", dataset="population")},
                           "entry.endpoint.target"),
    "related codes well-formed": ({"related_codes": ["101001/000001", "1/2"]}, "entry.related_codes[1]"),
}


@pytest.mark.parametrize("fields,path", VALIDATION_CASES.values(), ids=VALIDATION_CASES.keys())
async def test_each_rule_names_its_field(catalog: Client, fields: dict, path: str) -> None:
    owner = department()
    _, violated, _ = await fails(catalog.create(make_entry(owner.department_code, **fields)),
                                 grpc.StatusCode.INVALID_ARGUMENT)
    assert violated == [path]


async def test_share_types_with_what_they_need_are_accepted(catalog: Client) -> None:
    owner = department()
    conditional = await catalog.create(make_entry(owner.department_code, share_type=common.SHARE_TYPE_CONDITIONAL,
                                                  share_condition="仅限社会保障业务使用"))
    not_shared = await catalog.create(make_entry(owner.department_code, share_type=common.SHARE_TYPE_NOT_SHARED,
                                                 legal_basis="《中华人民共和国居民身份证法》第十九条",
                                                 share_methods=[]))
    department_entry = await catalog.create(make_entry(owner.department_code, category=pb.CATEGORY_DEPARTMENT,
                                                       subject="任意部门业务"))
    theme = await catalog.create(make_entry(owner.department_code, category=pb.CATEGORY_THEME, subject="社区治理"))
    assert {e.state for e in (conditional, not_shared, department_entry, theme)} == {pb.ENTRY_STATE_DRAFT}
    _, fields, _ = await fails(catalog.create(make_entry(owner.department_code, category=pb.CATEGORY_THEME,
                                                         subject="人口")), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["entry.subject"]


async def test_codes_are_unique(catalog: Client) -> None:
    owner = department()
    entry = make_entry(owner.department_code)
    await catalog.create(entry)
    await fails(catalog.create(entry), grpc.StatusCode.ALREADY_EXISTS)


# Zones -----------------------------------------------------------------------------------------


async def test_extranet_refuses_classified_entries_the_intranet_holds(catalog: Client, intranet: Client) -> None:
    owner = department()
    classified = make_entry(owner.department_code, zone=common.ZONE_INTRANET, secrecy=pb.SECRECY_CLASSIFIED)
    reason, _, message = await fails(catalog.create(classified), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "WRONG_ZONE" and "intranet" in message
    intranet_only = make_entry(owner.department_code, zone=common.ZONE_INTRANET)
    reason, _, _ = await fails(catalog.create(intranet_only), grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "WRONG_ZONE"

    held = await intranet.create(classified)
    assert (held.secrecy, held.zone) == (pb.SECRECY_CLASSIFIED, common.ZONE_INTRANET)
    # A classified entry must be on the intranet zone even there.
    _, fields, _ = await fails(intranet.create(make_entry(owner.department_code, secrecy=pb.SECRECY_CLASSIFIED)),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["entry.zone"]
    # Making an extranet entry classified is refused too.
    plain = await catalog.create(make_entry(owner.department_code))
    reason, _, _ = await fails(catalog.update(pb.Entry(code=plain.code, secrecy=pb.SECRECY_CLASSIFIED,
                                                       zone=common.ZONE_INTRANET), ["secrecy", "zone"], owner),
                               grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "WRONG_ZONE"
    # The extranet neither serves nor lists it, even should it find it in its database.
    reason, _, _ = await fails(catalog.get(held.code, service_caller("query")), grpc.StatusCode.NOT_FOUND)
    assert reason == "WRONG_ZONE"
    assert (await intranet.get(held.code, service_caller("query"))).secrecy == pb.SECRECY_CLASSIFIED
    listed = await catalog.list(AUTHORITY, provider_department_code=owner.department_code)
    assert [e.code for e in listed.entries] == [plain.code]
    both = await intranet.list(AUTHORITY, provider_department_code=owner.department_code)
    assert sorted(e.code for e in both.entries) == sorted([plain.code, held.code])


# Authorisation and visibility ------------------------------------------------------------------


async def test_departments_catalog_only_their_own_resources(catalog: Client) -> None:
    owner, other = department(), department()
    reason, _, _ = await fails(catalog.create(make_entry(owner.department_code), other),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_PROVIDER"
    on_behalf = await catalog.create(make_entry(owner.department_code), AUTHORITY)
    published = await catalog.publish(make_entry(owner.department_code))
    change = pb.Entry(code=published.code, name="改名")
    reason, _, _ = await fails(catalog.update(change, ["name"], other), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_PROVIDER"
    await fails(catalog("RetireEntry", pb.RetireEntryRequest(code=published.code), other),
                grpc.StatusCode.PERMISSION_DENIED)
    # A department cannot hand its entry to another one; the authority can.
    reason, _, _ = await fails(catalog.update(pb.Entry(code=on_behalf.code,
                                                       provider_department_code=other.department_code),
                                              ["provider_department_code"], owner), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_PROVIDER"
    await catalog.update(pb.Entry(code=on_behalf.code, provider_department_code=other.department_code),
                         ["provider_department_code"], AUTHORITY)
    assert (await catalog.submit(on_behalf.code, other)).state == pb.ENTRY_STATE_SUBMITTED
    # A review is the authority's reviewer's (issue 12): a department's system, or its person, is refused.
    reason, _, _ = await fails(catalog.review(on_behalf.code, caller=owner), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "PERSON_REQUIRED"
    reason, _, _ = await fails(catalog.review(on_behalf.code, caller=person_of(other, DATA_OFFICER)),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "ROLE_REQUIRED"


async def test_a_published_entry_is_not_handed_to_another_department(catalog: Client) -> None:
    """The authority handed a published entry to another department (UpdateEntry of provider_department_code, the
    new version published): its grants and open applications stayed the first department's, whose 审批人 went on
    approving access to data it no longer provides and revoking its grants, while the department now providing it
    could do neither. Once published, the provider is fixed: FAILED_PRECONDITION PUBLISHED_PROVIDER, saying the
    department taking over catalogues its own entry; nothing changes. A draft never published is still handed."""
    owner, other = department(), department()
    published = await catalog.publish(make_entry(owner.department_code))
    handed = pb.Entry(code=published.code, provider_department_code=other.department_code)
    reason, _, message = await fails(catalog.update(handed, ["provider_department_code"], AUTHORITY),
                                     grpc.StatusCode.FAILED_PRECONDITION)
    assert reason == "PUBLISHED_PROVIDER" and owner.department_code in message and "CreateEntry" in message, message
    kept = await catalog("GetEntry", pb.GetEntryRequest(code=published.code), AUTHORITY)
    assert (kept.entry.version, kept.entry.provider_department_code) == (published.version, owner.department_code)
    draft = await catalog.create(make_entry(owner.department_code), AUTHORITY)
    moved = await catalog.update(pb.Entry(code=draft.code, provider_department_code=other.department_code),
                                 ["provider_department_code"], AUTHORITY)
    assert moved.provider_department_code == other.department_code


async def test_a_review_of_a_version_changed_since_it_was_read_is_refused(catalog: Client) -> None:
    """Reviewer A opens 审核; reviewer B returns the entry; the officer edits the returned version in place (its
    number unchanged) and submits it again; A's 通过 from the page shown before published content A never saw. With
    the etag A read, the review is ABORTED and changes nothing; with the etag of what is there now it is made."""
    owner = department()
    draft = await catalog.create(make_entry(owner.department_code))
    read_by_a = await catalog.submit(draft.code, owner)
    returned = await catalog.review(draft.code, pb.REVIEW_DECISION_RETURN, "请补充摘要", etag=read_by_a.etag)
    edited = pb.Entry()
    edited.CopyFrom(returned)
    edited.summary = "编目员改过的摘要"
    await catalog.update(edited, ["summary"], owner)
    again = await catalog.submit(draft.code, owner)
    assert again.version == read_by_a.version and again.etag != read_by_a.etag
    reason, _, message = await fails(catalog.review(draft.code, etag=read_by_a.etag), grpc.StatusCode.ABORTED)
    assert reason == "ETAG_MISMATCH" and "read the entry again, then edit or review" in message, message
    assert (await catalog.get(draft.code, owner)).state == pb.ENTRY_STATE_SUBMITTED
    published = await catalog.review(draft.code, etag=again.etag)
    assert (published.state, published.summary) == (pb.ENTRY_STATE_PUBLISHED, "编目员改过的摘要")


async def test_an_edit_made_over_another_persons_with_the_etag_read_is_refused(catalog: Client) -> None:
    """Two officers with the same draft open: the second's form (every field, mask "*", as the console sends it)
    silently replaced the first's saved change. With the etag read, the second edit is ABORTED and changes nothing;
    without one, an edit is made as before."""
    owner = department()
    draft = await catalog.create(make_entry(owner.department_code))
    read = await catalog.get(draft.code, owner)
    assert read.etag and read.etag == draft.etag
    first, second = pb.Entry(), pb.Entry()
    first.CopyFrom(read)
    second.CopyFrom(read)
    first.name, second.summary = "人口基础信息（甲改）", "乙改的摘要"
    saved = await catalog.update(first, ["*"], owner)
    assert saved.etag != read.etag
    reason, _, message = await fails(catalog.update(second, ["*"], owner), grpc.StatusCode.ABORTED)
    assert reason == "ETAG_MISMATCH" and "read the entry again" in message
    kept = await catalog.get(draft.code, owner)
    assert (kept.name, kept.summary, kept.etag) == ("人口基础信息（甲改）", read.summary, saved.etag)
    # A submit moves the etag too: an edit read before it is refused, even where the state would allow it.
    submitted = await catalog.submit(draft.code, owner)
    returned = await catalog.review(draft.code, pb.REVIEW_DECISION_RETURN, "请补充摘要")
    assert len({saved.etag, submitted.etag, returned.etag}) == 3
    await fails(catalog.update(kept, ["summary"], owner), grpc.StatusCode.ABORTED)
    second.etag = ""
    assert (await catalog.update(second, ["summary"], owner)).summary == "乙改的摘要"
    _, fields, _ = await fails(catalog.update(pb.Entry(code=draft.code), ["etag"], owner),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["update_mask.paths[0]"]


async def test_drafts_are_seen_by_their_department_and_the_authority_only(catalog: Client) -> None:
    owner, other = department(), department()
    draft = await catalog.create(make_entry(owner.department_code))
    for caller in (owner, AUTHORITY, service_caller("query")):
        assert (await catalog.get(draft.code, caller)).state == pb.ENTRY_STATE_DRAFT
    await fails(catalog.get(draft.code, other), grpc.StatusCode.NOT_FOUND)
    await fails(catalog.get(draft.code, other, version=1), grpc.StatusCode.NOT_FOUND)
    await fails(catalog.submit(draft.code, other), grpc.StatusCode.NOT_FOUND)
    await fails(catalog("ListEntryVersions", pb.ListEntryVersionsRequest(code=draft.code), other),
                grpc.StatusCode.NOT_FOUND)
    assert not (await catalog.list(other, provider_department_code=owner.department_code)).entries
    assert [e.code for e in (await catalog.list(owner, provider_department_code=owner.department_code)).entries] \
        == [draft.code]

    await catalog.submit(draft.code, owner)
    await catalog.review(draft.code)
    await catalog.update(pb.Entry(code=draft.code, name="新版本"), ["name"], owner)
    versions = (await catalog("ListEntryVersions", pb.ListEntryVersionsRequest(code=draft.code), other)).versions
    assert [v.version for v in versions] == [1]
    versions = (await catalog("ListEntryVersions", pb.ListEntryVersionsRequest(code=draft.code), owner)).versions
    assert [v.version for v in versions] == [1, 2]
    await fails(catalog.get(draft.code, other, version=2), grpc.StatusCode.NOT_FOUND)


async def test_calls_without_a_signed_identity_are_refused(catalog: Client) -> None:
    await fails(catalog.stub.GetEntry(pb.GetEntryRequest(code="101001/000001"), timeout=10),
                grpc.StatusCode.UNAUTHENTICATED)


# Listing and search ----------------------------------------------------------------------------


async def test_list_filters_and_pages_walk_every_entry_once(catalog: Client) -> None:
    owner = department()
    codes: set[str] = set()
    published: list[str] = []
    for index in range(7):
        entry = make_entry(owner.department_code, category=pb.CATEGORY_DEPARTMENT if index % 2 else
                           pb.CATEGORY_FOUNDATION, update_cycle=pb.UPDATE_CYCLE_MONTHLY if index < 3 else
                           pb.UPDATE_CYCLE_DAILY)
        created = await (catalog.publish(entry) if index < 4 else catalog.create(entry))
        codes.add(created.code)
        if index < 4:
            published.append(created.code)

    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = await catalog.list(owner, page_size=3, page_token=token, provider_department_code=owner.department_code)
        assert len(page.entries) <= 3
        seen += [e.code for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(codes) and len(seen) == len(set(seen))

    def listed(response: pb.ListEntriesResponse) -> int:
        return len(response.entries)

    dept = owner.department_code
    assert listed(await catalog.list(owner, provider_department_code=dept, category=pb.CATEGORY_DEPARTMENT)) == 3
    assert listed(await catalog.list(owner, provider_department_code=dept,
                                     update_cycle=pb.UPDATE_CYCLE_MONTHLY)) == 3
    assert listed(await catalog.list(owner, provider_department_code=dept, state=pb.ENTRY_STATE_PUBLISHED)) == 4
    assert listed(await catalog.list(department(), provider_department_code=dept)) == 4  # drafts hidden
    assert listed(await catalog.list(owner, provider_department_code=dept, zone=common.ZONE_INTRANET)) == 0

    # The authority's review queue holds new versions of published entries too.
    revised = published[0]
    await catalog.update(pb.Entry(code=revised, name="修订"), ["name"], owner)
    await catalog.submit(revised, owner)
    queue = await catalog.list(AUTHORITY, provider_department_code=dept, state=pb.ENTRY_STATE_SUBMITTED)
    assert [(e.code, e.version) for e in queue.entries] == [(revised, 2)]
    # Without a state filter, the published version stays the one listed.
    current = await catalog.list(department(), provider_department_code=dept)
    assert (revised, 1) in [(e.code, e.version) for e in current.entries]


@pytest.mark.parametrize("walk", ["list", "list published", "search published"])
async def test_an_entry_republished_between_pages_is_listed_once(catalog: Client, walk: str) -> None:
    """ListEntries lists each entry once, by its current version, resuming after the last one shown, and so do
    ListEntries and SearchEntries of the published (the console's 目录): a page ending at an entry whose new version
    was published before the next page was asked for showed it again at the next page's top (the position was its
    code and old version number, and (code, 2) comes after (code, 1))."""
    owner = department()
    dept = owner.department_code
    codes = sorted([(await catalog.publish(make_entry(dept))).code for _ in range(3)])
    reader = department()
    filters: dict[str, object] = {"provider_department_code": dept}
    if walk != "list":
        filters["state"] = pb.ENTRY_STATE_PUBLISHED

    async def page(token: str) -> pb.ListEntriesResponse:
        if walk.startswith("search"):
            return await catalog.search("人口", reader, page_size=1, page_token=token, **filters)
        return await catalog.list(reader, page_size=1, page_token=token, **filters)

    first = await page("")
    assert [(e.code, e.version) for e in first.entries] == [(codes[0], 1)]
    await catalog.update(pb.Entry(code=codes[0], summary="全员人口的身份、户籍与婚姻信息"), ["summary"], owner)
    await catalog.submit(codes[0], owner)
    await catalog.review(codes[0])
    rest: list[str] = []
    token = first.next_page_token
    while token:
        answer = await page(token)
        rest += [e.code for e in answer.entries]
        token = answer.next_page_token
    assert rest == codes[1:]


async def test_bad_page_tokens_and_sizes_are_invalid_arguments(catalog: Client) -> None:
    owner = department()
    for _ in range(3):
        await catalog.create(make_entry(owner.department_code))
    for token in ("garbage!", "e30=", "eyJrIjpbMSwyXSwiZiI6IngifQ=="):
        _, fields, _ = await fails(catalog.list(owner, page_token=token), grpc.StatusCode.INVALID_ARGUMENT)
        assert fields == ["page_token"]
    page = await catalog.list(owner, page_size=1, provider_department_code=owner.department_code)
    assert page.next_page_token
    # A token belongs to its filters.
    _, fields, _ = await fails(catalog.list(owner, page_token=page.next_page_token, category=pb.CATEGORY_THEME),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["page_token"]
    _, fields, _ = await fails(catalog.list(owner, page_size=-1), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["page_size"]
    _, fields, _ = await fails(catalog.search("人口", owner, page_token="garbage!"), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["page_token"]


async def test_search_finds_chinese_words_name_matches_first(catalog: Client) -> None:
    owner = department()
    dept = owner.department_code
    people = await catalog.publish(make_entry(dept, name="人口基础信息库", summary="全员人口的身份与户籍信息"))
    entities = await catalog.publish(make_entry(dept, name="法人单位基础信息", summary="含从业人口统计口径"))
    licences = await catalog.publish(make_entry(dept, name="电子证照目录", summary="证照的签发与状态"))
    latin = await catalog.publish(make_entry(dept, name="ＧＩＳ空间数据", summary="地理信息"))
    draft = await catalog.create(make_entry(dept, name="人口迁移草稿", summary="未发布"))

    async def found(query: str, caller: Caller = AUTHORITY) -> list[str]:
        return [e.code for e in (await catalog.search(query, caller, provider_department_code=dept)).entries]

    assert (await found("人口"))[:2] == [min(people.code, draft.code), max(people.code, draft.code)]
    assert (await found("人口"))[2:] == [entities.code]  # found in the summary only: after name matches
    assert await found("人口", department()) == [people.code, entities.code]  # drafts stay hidden
    assert await found("人口  户籍") == [people.code]  # every word must appear
    assert await found("基础 信息") == sorted([people.code, entities.code])
    assert await found("证") == [licences.code]  # a single character
    assert await found("gis") == [latin.code]  # full-width and case folded
    assert await found("人口 证照") == []
    assert await found("口基") == [people.code]

    walked: list[str] = []
    token = ""
    while True:
        page = await catalog.search("信息", AUTHORITY, page_size=1, page_token=token, provider_department_code=dept)
        walked += [e.code for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert sorted(walked) == sorted([people.code, entities.code, latin.code])
    assert len(walked) == len(set(walked))
    _, fields, _ = await fails(catalog.search("   ", owner), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["query"]


# Projects, due dates, events -------------------------------------------------------------------


async def test_project_status_counts_current_versions(catalog: Client) -> None:
    owner = department()
    project = f"XM-{_random.randrange(10**9)}"
    first = await catalog.publish(make_entry(owner.department_code, project_code=project))
    second = await catalog.create(make_entry(owner.department_code, project_code=project))

    async def status(caller: Caller | None = None) -> pb.GetProjectStatusResponse:
        return await catalog("GetProjectStatus", pb.GetProjectStatusRequest(project_code=project),
                             caller or department())

    before = await status()
    assert (before.entry_count, before.published_count, before.all_published) == (2, 1, False)
    # Another department's draft is counted, not named (its existence is not revealed).
    assert list(before.unpublished_codes) == []
    assert list((await status(owner)).unpublished_codes) == [second.code]
    await catalog.submit(second.code, owner)
    await catalog.review(second.code)
    # A new draft of a published entry does not undo the project's publication.
    await catalog.update(pb.Entry(code=first.code, name="修订"), ["name"], owner)
    after = await status()
    assert (after.entry_count, after.published_count, after.all_published) == (2, 2, True)
    empty = await catalog("GetProjectStatus", pb.GetProjectStatusRequest(project_code=f"{project}-none"), owner)
    assert (empty.entry_count, empty.all_published) == (0, False)
    _, fields, _ = await fails(catalog("GetProjectStatus", pb.GetProjectStatusRequest(), owner),
                               grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["project_code"]
    # Copied with a zero-width space: refused naming it, not answered 0 entries (no entry's is stored so).
    _, fields, message = await fails(
        catalog("GetProjectStatus", pb.GetProjectStatusRequest(project_code=f"{project}\u200b"), owner),
        grpc.StatusCode.INVALID_ARGUMENT)
    assert (fields, "U+200B" in message) == (["project_code"], True), message


async def test_a_draft_withdrawn_before_publication_leaves_its_project_to_be_completed(catalog: Client) -> None:
    """A department withdraws a draft made by mistake (RetireEntry of a never-published entry, its code typed wrong
    and the entry made again): GetProjectStatus counted it as an unpublished entry of the project, which so could
    never be all published. An entry retired after publication is still counted unpublished (the proto says so)."""
    owner = department()
    project = f"XM-{_random.randrange(10**9)}"
    published = await catalog.publish(make_entry(owner.department_code, project_code=project))
    mistaken = await catalog.create(make_entry(owner.department_code, project_code=project))
    await catalog("RetireEntry", pb.RetireEntryRequest(code=mistaken.code), owner)
    for caller in (owner, department(), AUTHORITY):
        status = await catalog("GetProjectStatus", pb.GetProjectStatusRequest(project_code=project), caller)
        assert (status.entry_count, status.published_count, status.all_published, list(status.unpublished_codes)) \
            == (1, 1, True, [])
    await catalog("RetireEntry", pb.RetireEntryRequest(code=published.code, reason="职能划转至市数据局"),
                  person_of(owner, DATA_OFFICER))
    status = await catalog("GetProjectStatus", pb.GetProjectStatusRequest(project_code=project), department())
    assert (status.entry_count, status.all_published, list(status.unpublished_codes)) == (1, False, [published.code])


async def test_typed_text_is_trimmed_so_subjects_projects_and_filters_match(catalog: Client) -> None:
    """An officer pastes " 人口" or "智慧政务（一期）　": the entry keeps the text without the spaces (full-width
    ones too). Kept with them, the subject was refused as none of the allowed ones, and the project code matched
    no GetProjectStatus or filter written without them."""
    owner = department()
    project = f"智慧政务（一期）-{_random.randrange(10**9)}"
    items = list(make_entry(owner.department_code).items)
    items[1].name = "　姓名 "
    created = await catalog.create(make_entry(owner.department_code, name="  人口迁移信息　", subject=" 人口",
                                              summary="迁入迁出登记 ", project_code=f" {project}\u3000",
                                              items=items))
    assert (created.name, created.subject, created.summary, created.project_code, created.items[1].name) == \
        ("人口迁移信息", "人口", "迁入迁出登记", project, "姓名")
    status = await catalog("GetProjectStatus", pb.GetProjectStatusRequest(project_code=project), owner)
    assert (status.entry_count, list(status.unpublished_codes)) == (1, [created.code])
    padded = await catalog("GetProjectStatus", pb.GetProjectStatusRequest(project_code=f"{project} "), owner)
    assert (padded.project_code, padded.entry_count) == (project, 1)
    listed = await catalog.list(owner, subject="人口 ", project_code=f"　{project}")
    assert [e.code for e in listed.entries] == [created.code]
    updated = await catalog.update(pb.Entry(code=created.code, name=" 人口迁移登记信息 "), ["name"], owner)
    assert updated.name == "人口迁移登记信息"


def _stamp(value: dt.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


async def test_a_provisional_catalog_update_due_date_is_counted_again_once_the_calendar_has_its_year(  # type: ignore[no-untyped-def]
        catalog: Client, base_settings: Settings, monkeypatch) -> None:
    """A mandate change of Friday 25 Dec 2099 obliges the department to update its catalog 15 working days later,
    in 2100, a year chinese-calendar does not cover: counted Monday to Friday (less 元旦), due Monday 18 Jan,
    provisional. It was stored so and never counted again (reply and dispute deadlines are, at start): with a
    calendar that knows 2100 (here 1-7 Jan off) the change still said 18 Jan, and ListOverdueUpdates and supervision
    found the department late from the 19th. The catalog service now counts such due dates again at start (22
    Jan)."""
    from calendar_release import publish_2100

    from services.catalog.store import CatalogStore
    from services.runtime import workdays

    dept = department()
    await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
        department_code=dept.department_code, description="机构改革职能调整"), dept)
    made = dt.datetime(2099, 12, 25, 10, 0, tzinfo=workdays.CHINA)
    days = base_settings.catalog_update_working_days
    counted = workdays.add_working_days(made, days)
    assert counted.date() == dt.date(2100, 1, 18) and workdays.provisional(counted)
    pool = await asyncpg.create_pool(base_settings.database_url, min_size=1, max_size=2,
                                     server_settings={"search_path": "catalog"})
    try:
        stored = await pool.fetchrow("SELECT due_working_days, due_provisional FROM mandate_changes"
                                     " WHERE department_code = $1", dept.department_code)
        assert (stored["due_working_days"], stored["due_provisional"]) == (days, False)  # due this year: known
        await pool.execute("UPDATE mandate_changes SET change_time = $2, due_time = $3, due_provisional = true"
                           " WHERE department_code = $1", dept.department_code, made, counted)
        store = CatalogStore(pool)
        await store.recount_dues()  # 2100 still unknown: nothing moves
        assert await pool.fetchval("SELECT due_time FROM mandate_changes WHERE department_code = $1",
                                   dept.department_code) == counted
        publish_2100(monkeypatch)  # a release that knows 2099 and 2100: 1-7 Jan 2100 off
        assert (await store.recount_dues()).provisional >= 1
        row = await pool.fetchrow("SELECT due_time, due_provisional FROM mandate_changes WHERE department_code = $1",
                                  dept.department_code)
    finally:
        await pool.close()
    assert row["due_time"].astimezone(workdays.CHINA).date() == dt.date(2100, 1, 22) and not row["due_provisional"]


async def test_an_open_catalog_update_due_date_is_counted_again_once_its_years_holiday_file_is_corrected(  # type: ignore[no-untyped-def]
        catalog: Client, base_settings: Settings, monkeypatch, tmp_path) -> None:
    """The operator entered 2027's notice (GOVSHARE_HOLIDAYS_FILE) with 春节 ending on Thursday 11 Feb: a mandate
    change of Friday 29 Jan 2027 made the catalog update due 15 working days later on Wednesday 24 Feb, not
    provisional. Restarted with the corrected file, the start recounted only provisional due dates: the department
    was listed overdue (ListOverdueUpdates, supervision) from the 25th, a day early. The catalog service now counts
    again at start every due date of a change the department has not yet updated its catalog for (25 Feb); one it
    has keeps its date."""
    from calendar_release import FILED_2027, NOTICE_2027, NOTICE_2027_MISTYPED, enter_2027

    from services.catalog.store import CatalogStore
    from services.runtime import workdays

    idle, diligent = department(), department()
    for dept in (idle, diligent):
        await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
            department_code=dept.department_code, description="机构改革职能调整"), dept)
    await catalog.create(make_entry(diligent.department_code))  # updated its catalog after the change
    enter_2027(monkeypatch, tmp_path, NOTICE_2027_MISTYPED)
    days = base_settings.catalog_update_working_days
    counted = workdays.add_working_days(FILED_2027, days)
    assert counted.date() == dt.date(2027, 2, 24) and not workdays.provisional(counted)
    codes = [idle.department_code, diligent.department_code]
    pool = await asyncpg.create_pool(base_settings.database_url, min_size=1, max_size=2,
                                     server_settings={"search_path": "catalog"})
    try:  # as changed on 29 Jan 2027 and counted on the file as first entered; the update made after it
        await pool.execute("UPDATE mandate_changes SET change_time = $2, due_time = $3, due_provisional = false"
                           " WHERE department_code = ANY($1::text[])", codes, FILED_2027, counted)
        await pool.execute("UPDATE entry_events SET time = $2 WHERE provider_department_code = $1",
                           diligent.department_code, FILED_2027 + dt.timedelta(days=3))
        store = CatalogStore(pool)
        await store.recount_dues()  # the calendar they were counted on: they do not move (other tests' may)
        assert set(await pool.fetchval("SELECT array_agg(due_time) FROM mandate_changes"
                                       " WHERE department_code = ANY($1::text[])", codes)) == {counted}
        enter_2027(monkeypatch, tmp_path, NOTICE_2027)  # the operator corrects the file and restarts
        assert (await store.recount_dues()).corrected == 1
        assert not await store.recount_dues()
        rows = await pool.fetch("SELECT department_code, due_time, due_provisional FROM mandate_changes"
                                " WHERE department_code = ANY($1::text[])", codes)
    finally:
        await pool.close()
    dues = {r["department_code"]: (r["due_time"].astimezone(workdays.CHINA).date(), r["due_provisional"])
            for r in rows}
    assert dues == {idle.department_code: (dt.date(2027, 2, 25), False),
                    diligent.department_code: (dt.date(2027, 2, 24), False)}


async def test_overdue_catalog_updates(catalog: Client, base_settings: Settings) -> None:
    idle, diligent, current = department(), department(), department()
    changed = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)

    async def report(dept: Caller, when: dt.datetime | None, caller: Caller | None = None) -> dt.datetime:
        request = pb.ReportMandateChangeRequest(department_code=dept.department_code, description="机构改革职能调整",
                                                change_time=_stamp(when) if when else None)
        response = await catalog("ReportMandateChange", request, caller or dept)
        return response.due_time.ToDatetime(tzinfo=dt.UTC)

    due = await report(idle, changed, AUTHORITY)
    assert due == add_working_days(changed, base_settings.catalog_update_working_days)
    again = await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
        department_code=idle.department_code, description="机构改革职能调整", change_time=_stamp(changed)), AUTHORITY)
    assert not again.due_time_provisional  # 2024's holiday arrangement is published
    await report(diligent, changed)
    await catalog.create(make_entry(diligent.department_code))  # updated the catalog after the change
    await report(current, None)  # due in the future

    overdue = (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(page_size=1000),
                                AUTHORITY)).updates
    departments = {u.department_code for u in overdue}
    assert idle.department_code in departments
    assert not departments & {diligent.department_code, current.department_code}
    mine = next(u for u in overdue if u.department_code == idle.department_code)
    assert (mine.description, mine.change_time.ToDatetime(tzinfo=dt.UTC)) == ("机构改革职能调整", changed)

    # A department sees its own overdue updates (its 编目员 makes them), no other department's.
    own = (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(page_size=1000), idle)).updates
    # The change reported again (again, above) is the one change.
    assert [(u.department_code, u.description) for u in own] == [(idle.department_code, "机构改革职能调整")]
    named = pb.ListOverdueUpdatesRequest(department_code=idle.department_code)
    assert len((await catalog("ListOverdueUpdates", named, idle)).updates) == 1
    assert not (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(), diligent)).updates
    reason, _, _ = await fails(catalog("ListOverdueUpdates", named, diligent), grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_AUTHORITY"
    # The authority narrows the listing to one department.
    assert {u.department_code for u in (await catalog("ListOverdueUpdates", named, AUTHORITY)).updates} == {
        idle.department_code}
    _, fields, _ = await fails(catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(department_code="123"),
                                       AUTHORITY), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["department_code"]
    await fails(report(idle, changed, diligent), grpc.StatusCode.PERMISSION_DENIED)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    _, fields, _ = await fails(report(idle, future), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["change_time"]
    bad = pb.ReportMandateChangeRequest(department_code="123", description="")
    _, fields, _ = await fails(catalog("ReportMandateChange", bad, AUTHORITY), grpc.StatusCode.INVALID_ARGUMENT)
    assert fields == ["department_code", "description"]


async def test_an_overdue_update_says_when_its_due_date_was_counted_without_the_years_calendar(
        catalog: Client) -> None:
    """ReportMandateChange says a due date counted without its year's holiday arrangement is provisional, but
    ListOverdueUpdates did not: the authority reading the overdue list could not tell a department late by the
    statutory calendar from one late by a Monday-to-Friday count (chinese-calendar knows no year before 2004)."""
    counted_so, known = department(), department()
    for dept, when in ((counted_so, dt.datetime(2003, 6, 2, 2, 0, tzinfo=dt.UTC)),
                       (known, dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC))):
        reported = await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
            department_code=dept.department_code, description="机构改革职能调整", change_time=_stamp(when)), dept)
        assert reported.due_time_provisional == (dept is counted_so)
    updates = (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(page_size=1000), AUTHORITY)).updates
    flags = {u.department_code: u.due_time_provisional for u in updates}
    assert (flags[counted_so.department_code], flags[known.department_code]) == (True, False)


async def test_a_mandate_change_reported_twice_is_one_change(catalog: Client, base_settings: Settings) -> None:
    """报告职能变更 sent twice (a form posted twice, a retry after a lost reply, the department's two 编目员 reporting
    the same 机构改革) recorded two changes: ListOverdueUpdates listed the department twice for one change, and
    supervision counted two updates overdue. The same change (its department, its words and its day in Beijing) is
    now the one recorded, sent one after another or six at once: each answer is its due time, one row, one event.
    Another day or other words are another change."""
    dept = department()
    changed = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)

    async def report(description: str, when: dt.datetime) -> dt.datetime:
        answer = await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
            department_code=dept.department_code, description=description, change_time=_stamp(when)), dept)
        return answer.due_time.ToDatetime(tzinfo=dt.UTC)

    first = await report("机构改革职能调整", changed)
    dues = await asyncio.gather(*(report("机构改革职能调整", changed + dt.timedelta(hours=h)) for h in range(6)))
    assert set(dues) == {first}
    assert await report("机构改革职能调整", changed - dt.timedelta(days=1)) != first  # another day: another change
    await report("划入食品安全监管职责", changed)
    listed = (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(
        department_code=dept.department_code, page_size=100), dept)).updates
    assert sorted((u.description, u.change_time.ToDatetime(tzinfo=dt.UTC)) for u in listed) == sorted([
        ("机构改革职能调整", changed), ("机构改革职能调整", changed - dt.timedelta(days=1)),
        ("划入食品安全监管职责", changed)])
    pool = await asyncpg.create_pool(base_settings.database_url, min_size=1, max_size=1,
                                     server_settings={"search_path": "catalog"})
    try:
        # In the outbox, or already in authorization's log: a platform other tests started on this database
        # relays catalog's outbox there (and empties it), when it runs. One event per change either way.
        delivered = await pool.fetchval("SELECT to_regclass('\"authorization\".admin_log') IS NOT NULL")
        logged = await pool.fetchval(
            "SELECT count(DISTINCT event_id) FROM (SELECT event_id FROM admin_outbox WHERE target = $1 AND action = $2"
            + (' UNION ALL SELECT event_id FROM "authorization".admin_log WHERE target = $1 AND action = $2'
               if delivered else "") + ") AS events", dept.department_code, "catalog.report_mandate_change")
    finally:
        await pool.close()
    assert logged == 3


async def test_the_authoritys_officer_reports_any_departments_mandate_change(catalog: Client) -> None:
    """The authority's 编目员 may report any department's mandate change (the console's 职能变更 says so beside the
    department's code), but a person was refused NOT_YOUR_DEPARTMENT for every department but the authority: only
    the authority's systems could. Another department's 编目员 still reports only its own."""
    dept = department()
    changed = dt.datetime(2024, 3, 4, 2, 0, tzinfo=dt.UTC)
    request = pb.ReportMandateChangeRequest(department_code=dept.department_code, description="机构改革，划入登记职能",
                                            change_time=_stamp(changed))
    answer = await catalog("ReportMandateChange", request, person_of(AUTHORITY, DATA_OFFICER))
    assert answer.due_time.ToDatetime(tzinfo=dt.UTC) > changed
    listed = (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(
        department_code=dept.department_code, page_size=100), dept)).updates
    assert [u.description for u in listed] == ["机构改革，划入登记职能"]
    reason, _, _ = await fails(catalog("ReportMandateChange", request, person_of(department(), DATA_OFFICER)),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "NOT_YOUR_DEPARTMENT"
    reason, _, _ = await fails(catalog("ReportMandateChange", request, person_of(AUTHORITY, REVIEWER)),
                               grpc.StatusCode.PERMISSION_DENIED)
    assert reason == "ROLE_REQUIRED"


async def test_retiring_entries_after_a_mandate_change_is_the_update_it_asked_for(  # type: ignore[no-untyped-def]
        catalog: Client, base_settings: Settings) -> None:
    """A department whose duty was transferred away updates its catalog by retiring what it no longer holds:
    only create, update and submit counted as catalog work, so it stayed overdue (and a CATALOG_NOT_UPDATED
    violation) however promptly it retired its entries."""
    leaving = department()
    entry = await catalog.create(make_entry(leaving.department_code))
    await catalog.submit(entry.code, leaving)
    await catalog.review(entry.code)
    connection = await asyncpg.connect(base_settings.database_url)
    try:  # catalogued long before the change
        await connection.execute("UPDATE catalog.entry_events SET time = time - interval '400 days' "
                                 "WHERE provider_department_code = $1", leaving.department_code)
    finally:
        await connection.close()
    await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
        department_code=leaving.department_code, description="机构改革：职能划出",
        change_time=_stamp(dt.datetime.now(dt.UTC) - dt.timedelta(days=60))), leaving)

    async def overdue() -> set[str]:
        updates = (await catalog("ListOverdueUpdates", pb.ListOverdueUpdatesRequest(page_size=1000), AUTHORITY)).updates
        return {update.department_code for update in updates}

    assert leaving.department_code in await overdue()
    await catalog("RetireEntry", pb.RetireEntryRequest(code=entry.code, reason="职能划出，不再提供"),
                  person_of(leaving, DATA_OFFICER))
    assert leaving.department_code not in await overdue()


async def test_a_periods_resources_are_those_published_at_its_end(catalog: Client, base_settings) -> None:  # type: ignore[no-untyped-def]
    """Supervision's catalog.resources of a period are its end's (the yearly report's 编目资源数（11月末）), but were
    the entries published now: November recomputed in December (the schedule recomputes last month all through this
    one) lost an entry retired in December, and one whose second version was published in December, both published
    all November."""
    owner = department()
    revised, retired = make_entry(owner.department_code), make_entry(owner.department_code)
    for entry in (revised, retired):
        await catalog.publish(entry)
    end = dt.datetime.now(dt.UTC)
    await catalog.update(pb.Entry(code=revised.code, name="人口基础信息（修订）"), ["name"], owner)
    await catalog.submit(revised.code, owner)
    await catalog.review(revised.code)
    await catalog("RetireEntry", pb.RetireEntryRequest(code=retired.code, reason="职能划出"),
                  person_of(owner, DATA_OFFICER))
    pool = await db.create_pool(base_settings.database_url, "catalog")
    try:
        store = CatalogStore(pool)
        now = dt.datetime.now(dt.UTC)
        then = await department_figures(store, end - dt.timedelta(hours=1), end, now)
        today = await department_figures(store, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1), now)
    finally:
        await pool.close()

    def resources(rows: list) -> list[str]:
        return sorted(parse_dimension(row.dimension)["resource"] for row in rows
                      if row.department_code == owner.department_code and row.name == "catalog.resource")

    assert resources(then) == sorted([revised.code, retired.code])
    assert resources(today) == [revised.code]


async def test_a_mandate_change_reported_after_its_due_month_is_counted_in_the_month_it_was_reported(  # type: ignore[no-untyped-def]
        catalog: Client, base_settings) -> None:
    """Supervision counts a catalogue update in the month it fell due, and recomputes only the previous and the
    current month: a change reported with its change_time months back (a 机构改革 of March reported in December)
    fell due in March, a month long computed, and the department's overdue update was never counted nor found
    CATALOG_NOT_UPDATED, while ListOverdueUpdates listed it. It is counted in the month it was reported in (its
    evidence naming the day it fell due), and once: not in the month it fell due in, recomputed later."""
    late = department()
    changed = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)
    due = (await catalog("ReportMandateChange", pb.ReportMandateChangeRequest(
        department_code=late.department_code, description="机构改革职能调整（补报）", change_time=_stamp(changed)),
        AUTHORITY)).due_time.ToDatetime(tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    pool = await db.create_pool(base_settings.database_url, "catalog")
    try:
        store = CatalogStore(pool)
        reported_in = await department_figures(store, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1), now)
        due_in = await department_figures(store, due - dt.timedelta(hours=1), due + dt.timedelta(hours=1), now)
    finally:
        await pool.close()

    def mine(rows: list) -> list[tuple[str, str]]:
        return sorted((row.name, row.dimension) for row in rows if row.department_code == late.department_code)

    [overdue] = [dim for name, dim in mine(reported_in) if name == "catalog.update_overdue"]
    assert parse_dimension(overdue)["due"] == due.astimezone(CHINA).date().isoformat()
    assert [name for name, _ in mine(reported_in)] == ["catalog.update_overdue", "catalog.updates_due",
                                                       "catalog.updates_overdue"]
    assert mine(due_in) == []


async def test_every_state_change_is_announced(catalog: Client, redis_client) -> None:  # type: ignore[no-untyped-def]
    owner = department()
    entry = make_entry(owner.department_code)
    async with redis_client.pubsub() as pubsub:
        await pubsub.subscribe(CATALOG_CHANGED)
        await pubsub.get_message(timeout=1)  # the subscription confirmation
        await catalog.create(entry)
        await catalog.submit(entry.code, owner)
        await catalog.review(entry.code)
        await catalog.update(pb.Entry(code=entry.code, name="修订"), ["name"], owner)
        await catalog("RetireEntry", pb.RetireEntryRequest(code=entry.code, reason="职能调整"),
                      person_of(owner, DATA_OFFICER))
        received: list[dict] = []
        async with asyncio.timeout(10):
            while len(received) < 5:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    payload = json.loads(message["data"])
                    if payload.get("code") == entry.code:
                        received.append(payload)
    assert received == [{"code": entry.code}] * 5


# Fuzz ------------------------------------------------------------------------------------------

_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", "101001/000001", "人口", "91110000600037341L", "\x00", "人\x00口", "a b", "3999999999/999999", " " * 300])
_enum = st.integers(min_value=-3, max_value=20)
_int32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
_token = st.sampled_from(["", "e30=", "eyJrIjpbIjEwMTAwMS8wMDAwMDEiLDFdLCJmIjoieCJ9", "%%%"]) | _text
_items = st.lists(st.builds(pb.DataItem, name=_text, machine_name=_text | st.just("citizen_id"), data_type=_enum,
                            length=_int32, mask_rule=_text, identifier=_enum, sensitive=st.booleans()), max_size=3)
_entries = st.builds(
    pb.Entry, code=_text, name=_text, summary=_text, category=_enum, subject=_text,
    provider_department_code=_text | st.just(AUTHORITY.department_code), format_class=_enum, items=_items,
    key_item=_text, share_type=_enum, share_condition=_text, share_methods=st.lists(_enum, max_size=3),
    legal_basis=_text, update_cycle=_enum, related_codes=st.lists(_text, max_size=2), zone=_enum, secrecy=_enum,
    endpoint=st.builds(pb.ProviderEndpoint, target=_text, dataset=_text), project_code=_text)
_filters = st.builds(pb.EntryFilter, provider_department_code=_text, category=_enum, share_type=_enum, zone=_enum,
                     state=_enum, update_cycle=_enum, subject=_text, project_code=_text)
_FIELD_VALUES = {
    "name": _text, "summary": _text, "category": _enum, "subject": _text, "provider_department_code": _text,
    "format_class": _enum, "items": _items, "key_item": _text, "share_type": _enum, "share_condition": _text,
    "share_methods": st.lists(_enum, max_size=3), "legal_basis": _text, "update_cycle": _enum,
    "related_codes": st.lists(_text, max_size=2), "zone": _enum, "secrecy": _enum, "project_code": _text,
    "open_condition": _text, "format_type": _text, "provider_name": _text,
    "endpoint": st.builds(pb.ProviderEndpoint, target=_text, dataset=_text),
}


@st.composite
def _mutated_entries(draw: st.DrawFn) -> pb.Entry:
    """A valid entry of the authority with one field replaced: requests that get past the first checks."""
    name = draw(st.sampled_from(sorted(_FIELD_VALUES)))
    return make_entry(AUTHORITY.department_code, **{name: draw(_FIELD_VALUES[name])})


_REQUESTS = {
    # Valid entries but for one or two fields reach the deepest code; arbitrary ones test the first checks.
    "CreateEntry": st.builds(lambda e: pb.CreateEntryRequest(entry=e), _mutated_entries() | _entries),
    "GetEntry": st.builds(pb.GetEntryRequest, code=_text, version=_int32),
    "ListEntries": st.builds(pb.ListEntriesRequest, filter=_filters, page_size=_int32, page_token=_token),
    "SearchEntries": st.builds(pb.SearchEntriesRequest, query=_text, filter=_filters, page_size=_int32,
                               page_token=_token),
}


@pytest.mark.parametrize("method", sorted(_REQUESTS))
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_fuzzed_requests_never_fail_internally(catalog: Client, method: str, data: st.DataObject) -> None:
    request = data.draw(_REQUESTS[method])
    caller = data.draw(st.sampled_from([AUTHORITY, department(AUTHORITY.department_code), department()]))
    try:
        await catalog(method, request, caller)
    except grpc.aio.AioRpcError as error:
        assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), error.details()


async def test_a_provider_filter_typed_in_lower_case_or_full_width_names_the_department(catalog: Client) -> None:
    """目录's 提供方代码 (ListEntries' and SearchEntries' provider_department_code) is read as a query's key of that
    kind and the access log's department filter are: a code typed in lower case (or pasted from a lower-cased
    export) was refused "character 9 is the letter m, which it cannot hold there" of a code whose M it holds, and
    one typed in 全角 the same."""
    body = "11110000MB" + "".join(_random.choice("0123456789") for _ in range(7))
    owner = department(body + uscc.calc_check_digit(body))
    dept = owner.department_code
    code = (await catalog.publish(make_entry(dept))).code
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in dept)
    for typed in (dept.lower(), full_width, f" {dept} "):
        listed = await catalog.list(department(), provider_department_code=typed)
        assert [e.code for e in listed.entries] == [code], typed
        found = await catalog.search("人口", department(), provider_department_code=typed)
        assert [e.code for e in found.entries] == [code], typed
