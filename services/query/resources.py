"""Catalog entries as the query path needs them, resolved once per entry version.

The catalog cache hands out the same Entry object until the entry changes, so
the derived view (item set, key kind, endpoint) is computed once per version and
the hot path only does dictionary lookups.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import grpc

from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from services.query.audit import clean
from services.query.keys import CODE_KINDS, UPPER_CASE_KINDS, normalize_key
from services.runtime.catalog_client import CatalogCache, basic_items, no_entry_in_time
from services.runtime.errors import ServiceError, written_otherwise

# Item data types whose values are numbers: 200, 200.0 and 200.00 are one value of them.
NUMERIC_TYPES = frozenset({catalog_pb2.DATA_TYPE_NUMERIC, catalog_pb2.DATA_TYPE_CURRENCY, catalog_pb2.DATA_TYPE_DOUBLE,
                           catalog_pb2.DATA_TYPE_INTEGER, catalog_pb2.DATA_TYPE_FLOAT})

#: The unit of a 货币型 (currency) item whose name declares none: China's amounts are in 元.
YUAN = "元"
# The unit a numeric item's name declares at its end, as catalogs name them: 注册资本(万元), 面积（平方米）.
UNIT_IN_NAME = re.compile(r"[(（]\s*([^()（）\s]{1,8})\s*[)）]\s*$")

#: The catalog name of a person's ethnic group, as the national cataloguing guide and GB/T 3304 name the item.
ETHNICITY_NAME = "民族"
#: The catalog name of a person's sex (GB/T 2261.1's 性别).
SEX_NAME = "性别"
#: The catalog name of a market entity's registration status (企业信用信息公示系统's 登记状态).
ENTITY_STATUS_NAME = "登记状态"

#: The mask rule of a telephone number (services.runtime.masking.DEFAULT_RULES): the catalog's mark of a phone item.
PHONE_RULE = "phone"
#: What the catalog names a telephone number it does not mask (an office's 办公电话, a company's public 联系电话, a
#: 传真): the catalog lets only a sensitive item have a mask rule, so the phone rule cannot mark such an item.
PHONE_NAME = re.compile("电话|手机|传真")

# 信息资源代码: 类 (1) 项 (2) 目 (3) [细目 (3)] "/" sequence (6), e.g. 101001/000001.
RESOURCE_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3})?/[0-9]{6}")


@dataclass(frozen=True, slots=True)
class Resource:
    """What the query path needs from one version of a catalog entry."""

    entry: catalog_pb2.Entry
    code: str
    provider_department_code: str
    items: frozenset[str]
    key_kind: int
    dataset: str
    #: Provider endpoint (host:port); the foundation service when the entry names none.
    target: str
    published: bool
    #: False when this deployment's zone may not serve the entry (R-ZON-2).
    servable_here: bool
    #: Items the catalog declares numeric (数值型, 货币型, 双精度型, 整型, 浮点型): verified as numbers.
    numeric_items: frozenset[str] = frozenset()
    #: The unit each numeric item's name declares (registered_capital → 万元 for 注册资本(万元)): a claim copied
    #: with it (200万元) is the number the record holds without it.
    numeric_units: Mapping[str, str] = field(default_factory=dict)
    #: Items the catalog marks as 公民身份号码 or 统一社会信用代码: upper case by standard, so a claimed
    #: ``91451402024600190c`` is the record's ``91451402024600190C`` (as the same key finds the record).
    upper_case_items: frozenset[str] = frozenset()
    #: The identifier kind of each item the catalog marks as a code (公民身份号码, 统一社会信用代码, 行政区划代码): a
    #: claim of one that is no valid code is refused naming it (projection.claim_error).
    code_items: Mapping[str, int] = field(default_factory=dict)
    #: Items the catalog marks as 公民身份号码: a claimed first-generation 15-digit number is the record's
    #: 18-character one it became (projection.same_citizen_id).
    citizen_id_items: frozenset[str] = frozenset()
    #: Items the catalog declares dates (日期型): verified as dates (2009年8月30日 is the record's 2009-08-30).
    date_items: frozenset[str] = frozenset()
    #: Items the catalog declares date and time (日期时间型): verified as moments (2020-01-05 10:00:00 in China's time
    #: is the record's 2020-01-05T10:00:00+08:00).
    datetime_items: frozenset[str] = frozenset()
    #: Items the catalog declares logical (逻辑型): verified as yes or no (是 is the record's true).
    logical_items: frozenset[str] = frozenset()
    #: Items the catalog names 民族: verified with or without the 族 the 居民身份证 leaves out (its 民族 汉 is the
    #: record's 汉族, projection.same_ethnicity), or by GB/T 3304's number (01 for 汉族).
    ethnicity_items: frozenset[str] = frozenset()
    #: Items the catalog names 性别: verified by GB/T 2261.1's number too (1 for 男, 2 for 女).
    sex_items: frozenset[str] = frozenset()
    #: Items the catalog names 登记状态: verified in 企业信用信息公示系统's words too (在营 is the record's 存续,
    #: projection.same_entity_status).
    entity_status_items: frozenset[str] = frozenset()
    #: Items the catalog masks by the phone rule (联系电话, 手机号码), or names a telephone number (电话, 手机 or
    #: 传真 in the name, an unmasked 办公电话): verified as the digits of the number, however
    #: grouped (138 1234 5678, 0571-87654321) and with or without China's +86 (projection.same_phone).
    phone_items: frozenset[str] = frozenset()
    #: The key item's machine name, and its mask rule when the catalog marks it sensitive: an export row's key
    #: is that item's value, so it is shown as the item would be (services.query.projection.key_mask_rule).
    key_item: str = ""
    key_mask: str | None = None
    #: The basic items of a conditional resource, which every department may have without a grant (R-SHR-4): a
    #: verification of these alone needs none. None for a not-shared one: only a coordinated grant opens it.
    basic_items: frozenset[str] = frozenset()
    #: True when the platform's foundation service holds the records (the entry names no other endpoint): its text
    #: keys are stored in NFKC form, so a key typed in full width is read so too (keys.normalize_key).
    foundation: bool = False

    def key(self, typed: str) -> str:
        """``typed`` in the form this resource's provider keys its records by (keys.normalize_key)."""
        return normalize_key(self.key_kind, typed, full_width_text=self.foundation)

    @classmethod
    def of(cls, entry: catalog_pb2.Entry, zone: str, foundation_target: str) -> Resource:
        key = next((item for item in entry.items if item.machine_name == entry.key_item), None)
        key_kind = key.identifier if key is not None else catalog_pb2.IDENTIFIER_KIND_UNSPECIFIED
        classified = entry.secrecy == catalog_pb2.SECRECY_CLASSIFIED or entry.zone == common_pb2.ZONE_INTRANET
        return cls(
            entry=entry,
            code=entry.code,
            provider_department_code=entry.provider_department_code,
            items=frozenset(item.machine_name for item in entry.items),
            key_kind=key_kind,
            dataset=entry.endpoint.dataset,
            target=entry.endpoint.target or foundation_target,
            published=entry.state == catalog_pb2.ENTRY_STATE_PUBLISHED,
            servable_here=zone == "intranet" or not classified,
            numeric_items=frozenset(item.machine_name for item in entry.items if item.data_type in NUMERIC_TYPES),
            numeric_units=_units(entry),
            upper_case_items=frozenset(item.machine_name for item in entry.items
                                       if item.identifier in UPPER_CASE_KINDS),
            code_items={item.machine_name: item.identifier for item in entry.items if item.identifier in CODE_KINDS},
            citizen_id_items=frozenset(item.machine_name for item in entry.items
                                       if item.identifier == catalog_pb2.IDENTIFIER_KIND_CITIZEN_ID),
            date_items=frozenset(item.machine_name for item in entry.items
                                 if item.data_type == catalog_pb2.DATA_TYPE_DATE),
            datetime_items=frozenset(item.machine_name for item in entry.items
                                     if item.data_type == catalog_pb2.DATA_TYPE_DATETIME),
            logical_items=frozenset(item.machine_name for item in entry.items
                                    if item.data_type == catalog_pb2.DATA_TYPE_LOGICAL),
            ethnicity_items=_named(entry, ETHNICITY_NAME),
            sex_items=_named(entry, SEX_NAME),
            entity_status_items=_named(entry, ENTITY_STATUS_NAME),
            phone_items=frozenset(item.machine_name for item in entry.items if item.mask_rule == PHONE_RULE
                                  or PHONE_NAME.search(unicodedata.normalize("NFKC", item.name))),
            key_item=entry.key_item,
            key_mask=(key.mask_rule or "full") if key is not None and key.sensitive else None,
            basic_items=basic_items(entry) if entry.share_type == common_pb2.SHARE_TYPE_CONDITIONAL else frozenset(),
            foundation=(entry.endpoint.target or foundation_target) == foundation_target,
        )


def _named(entry: catalog_pb2.Entry, name: str) -> frozenset[str]:
    """The machine names of the items ``entry`` names ``name`` (read NFKC, trimmed)."""
    return frozenset(item.machine_name for item in entry.items
                     if unicodedata.normalize("NFKC", item.name).strip() == name)


def _units(entry: catalog_pb2.Entry) -> dict[str, str]:
    """The unit each numeric item of ``entry`` declares at the end of its name (注册资本(万元): 万元); a 货币型 item
    declaring none holds 元 (缴费基数: a statement's 9612.08元 or ￥9612.08 was 不一致 of the record's 9612.08)."""
    units = {}
    for item in entry.items:
        if item.data_type in NUMERIC_TYPES and (found := UNIT_IN_NAME.search(item.name)) is not None:
            units[item.machine_name] = found[1]
        elif item.data_type == catalog_pb2.DATA_TYPE_CURRENCY:
            units[item.machine_name] = YUAN
    return units


def valid_resource_code(code: str) -> bool:
    return RESOURCE_CODE.fullmatch(code) is not None


class Resources:
    """Resolves resource codes to :class:`Resource` views over the catalog cache."""

    def __init__(self, catalog: CatalogCache, zone: str, foundation_target: str) -> None:
        self._catalog = catalog
        self._zone = zone
        self._foundation_target = foundation_target
        self._views: dict[str, Resource] = {}

    async def get(self, code: str) -> Resource | None:
        """The entry ``code`` (any state), or None when the catalog has none; UNAVAILABLE if it cannot say."""
        try:
            entry = await self._catalog.get(code, not_in_time=no_entry_in_time)
        except grpc.aio.AioRpcError as exc:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "CATALOG_UNAVAILABLE",
                               f"the catalog could not be reached ({exc.code().name})") from exc
        if entry is None:
            return None
        view = self._views.get(code)
        if view is None or view.entry is not entry:
            view = Resource.of(entry, self._zone, self._foundation_target)
            if len(self._views) > 100_000:
                self._views.clear()
            self._views[code] = view
        return view

    def version(self, code: str) -> int:
        """The version of entry ``code`` the last answer was resolved with, 0 when none is held: a decision is asked
        on it (CheckRequest.min_entry_version), so that the authorization service, which hears the entry's change
        event on its own, does not decide on the version before it."""
        view = self._views.get(code)
        return view.entry.version if view is not None else 0

    def invalidate(self, code: str | None = None) -> None:
        """Drops one entry or all (after a reconnection, when events may have been lost)."""
        self._catalog.invalidate(code)
        if code is None:
            self._views.clear()
        else:
            self._views.pop(code, None)


#: A lower-case letter or digit's next capital: camelCase (establishedDate) written as the snake_case of the
#: catalog's machine names (established_date), for a refusal to name the item meant.
_CAMEL_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")


def not_an_item(item: str, resource: Resource) -> str:
    """Why ``item`` is refused, naming the item meant when it is one written otherwise: a Java or JavaScript
    caller's camelCase (establishedDate, as its JSON library writes a field), the name the catalog shows
    (成立日期), where every call takes the machine name (established_date), or either with a character nobody
    sees or in full-width forms (birth<U+200B>_date, ｂｉｒｔｈ_ｄａｔｅ), which is said: the refusal quoted a name
    that looked right. Read on a refusal only."""
    if not item.strip():
        # items ["name", ""] (a list joined and split again, "name,"), claims {"": …}: "'' is not an item" read as
        # a quoting slip; an application's empty item is said so (authorization.validation.item_list_problems).
        return (f"{'is empty' if not item else 'holds blanks only'}: name an item of {resource.code} by its machine "
                f"name (such as {resource.key_item or 'name'})")
    refused = f"{clean(item, 64)!r} is not an item of {resource.code}"
    if (listed := _listed_in_one(item, resource)) is not None:
        return f"{refused}: it names {len(listed)} items in one; give each as an item of its own: {', '.join(listed)}"
    otherwise = written_otherwise(item)
    meant = _item_meant(otherwise[0] if otherwise else item, resource)
    if otherwise and meant:
        return f"{refused}: {otherwise[1]}; the item is {meant!r}"
    return f"{refused}: items are named by their machine name, here {meant!r}" if meant else refused


def _item_meant(item: str, resource: Resource) -> str | None:
    """The machine name of the item ``item`` writes in camelCase or by its catalog name (read NFKC, as a name
    typed with full-width brackets is the same name), else None."""
    snake = _CAMEL_HUMP.sub(r"_\1", item.strip()).lower()
    if snake in resource.items:
        return snake
    name = unicodedata.normalize("NFKC", item.strip())
    names = [(each.machine_name, unicodedata.normalize("NFKC", each.name))
             for each in resource.entry.items if each.name]
    # The catalog name without the unit it ends with (注册资本 of 注册资本(万元)), as a desk says the item's name.
    return next((machine for machine, shown in names if shown == name), None) or next(
        (machine for machine, shown in names if UNIT_IN_NAME.search(shown) and UNIT_IN_NAME.sub("", shown) == name),
        None)


#: What separates the items of a list written as one text (name,status; name、status; a full-width ，; blanks).
_LIST_SEPARATORS = re.compile(r"\s*[,，、;；]\s*|\s+")


def _listed_in_one(item: str, resource: Resource) -> list[str] | None:
    """The items ``item`` names when it is several items of ``resource`` written as one text, by their machine names
    (["name,status"]: a list joined where it should have been sent as one, a REST query's ``?items=name,status``
    read as one value), else None. It was refused as no item, naming neither."""
    parts = [part for part in _LIST_SEPARATORS.split(item.strip()) if part]
    if len(parts) < 2 or len(parts) > 64:
        return None
    listed = []
    for part in parts:
        meant = part if part in resource.items else _item_meant(part, resource)
        if meant is None:
            return None
        listed.append(meant)
    return listed


