"""Field checks shared by the directory, the sharing workflow and Check.

Each check returns the problem as text (or None), so callers can gather every
violation of a request into one INVALID_ARGUMENT. Values reach PostgreSQL only
after these checks: text with NUL characters or ids of the wrong shape would
otherwise fail inside the database and surface as INTERNAL.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from govshare.common.v1 import common_pb2
from services.runtime import pagination
from services.runtime.errors import FieldViolation, invalid_argument, not_found, text_violation, written_otherwise
from services.runtime.identifiers import credit_code_error, is_printable, resource_code_slip, unprintable

# 信息资源代码: 类(1)+项(2)+目(3) [+细目(3)] "/" sequence(6).
RESOURCE_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3})?/[0-9]{6}")
SYSTEM_ID = re.compile(r"sys-[0-9a-z]{4,64}")
APPLICATION_ID = re.compile(r"app-[0-9a-f]{32}")
GRANT_ID = re.compile(r"grt-[0-9a-f]{32}")
ITEM_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
# AIP-155's request_id: a UUID in its canonical text form, any version, either case.
REQUEST_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

NAME_MAX = 200
TEXT_MAX = 2000
LIST_MAX = 500

T = TypeVar("T")

PURPOSES = frozenset(v for v in common_pb2.PurposeType.values() if v != common_pb2.PURPOSE_TYPE_UNSPECIFIED)
METHODS = frozenset(v for v in common_pb2.ShareMethod.values() if v != common_pb2.SHARE_METHOD_UNSPECIFIED)
#: Purposes and share methods as an application's history says them to the departments' staff (Art. 12, R-USE-1).
PURPOSE_LABELS = {common_pb2.PURPOSE_TYPE_ADMINISTRATIVE_BASIS: "行政依据",
                  common_pb2.PURPOSE_TYPE_WORK_REFERENCE: "工作参考",
                  common_pb2.PURPOSE_TYPE_DATA_VERIFICATION: "数据校核",
                  common_pb2.PURPOSE_TYPE_BUSINESS_COLLABORATION: "业务协同"}
METHOD_LABELS = {common_pb2.SHARE_METHOD_ONLINE_QUERY: "联机查询",
                 common_pb2.SHARE_METHOD_SYSTEM_INTEGRATION: "系统对接",
                 common_pb2.SHARE_METHOD_FRONT_END_EXCHANGE: "前置机共享",
                 common_pb2.SHARE_METHOD_BATCH_DOWNLOAD: "部门批量下载"}


def shown(value: str, limit: int = 40) -> str:
    """A caller's value quoted in an error message, cut short: errors travel in trailers of bounded size."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def text_problem(value: str, limit: int = TEXT_MAX, required: bool = False,
                 own_invisible_check: bool = False) -> str | None:
    """Free text (reasons, bases): bounded, free of NUL, which PostgreSQL text cannot hold, and of invisible
    formatting characters (:func:`services.runtime.errors.text_violation`)."""
    violation = text_violation("", value, limit, required, own_invisible_check)
    return violation.description if violation is not None else None


def name_problem(value: str, limit: int = NAME_MAX) -> str | None:
    """Display names: required, bounded, printable, as they are stored: without the spaces around them (a
    full-width 　 a Chinese input method or a copied table cell leaves after a name included, as an ASCII space
    is). Every caller stores ``value.strip()``."""
    value = value.strip()
    if not value:
        return "is required"
    if len(value) > limit:
        return f"must be at most {limit} characters"
    if not is_printable(value):
        return f"must contain only printable characters: {unprintable(value)}"
    return None


def request_id_problem(value: str) -> str | None:
    """An idempotency key is optional; given, it must be a UUID, so that keys of different callers cannot meet by
    chance (a counter or a date would)."""
    if value and not REQUEST_ID.fullmatch(value):
        return (f"must be a UUID such as 0f8e4c2a-5b7d-4e1f-9a3c-2d6b8e0f1a4c (got {shown(value)}), "
                "or empty; make a new one for each application")
    return None


def resource_code_problem(value: str) -> str | None:
    """Why ``value`` is no 信息资源代码, or None, with what made it differ from one (identifiers.resource_code_slip:
    a / that came as %2F, a blank, full-width forms)."""
    if not value:
        return "is required"
    if not RESOURCE_CODE.fullmatch(value):
        return ("must be a 信息资源代码 like 101001/000001 (6 or 9 classification digits, '/', 6 digits)"
                + resource_code_slip(value, RESOURCE_CODE.fullmatch))
    return None


def department_code_problem(code: str) -> str | None:
    """A department's 统一社会信用代码: required and valid."""
    return "is required" if not code else credit_code_error(code)


def enum_list_problems(field: str, values: Sequence[int], allowed: frozenset[int], what: str,
                       required: bool = True) -> list[FieldViolation]:
    """Repeated enum fields: at least one (when required), every value known and specified, none listed twice.
    A repeat is refused as a repeated item or system is (item_list_problems): it was quietly dropped, so one list
    was read two ways, and a caller's list with a mistake in it (a purpose typed twice instead of two) was taken
    as meaning less than it asked for without a word."""
    problems: list[FieldViolation] = []
    if required and not values:
        problems.append(FieldViolation(field, f"at least one {what} is required"))
    seen: set[int] = set()
    for index, value in enumerate(values):
        if value not in allowed:
            problems.append(FieldViolation(f"{field}[{index}]", f"is not a valid {what}"))
        elif value in seen:
            problems.append(FieldViolation(f"{field}[{index}]", f"{enum_name(value, what)} is listed twice"))
        seen.add(value)
    return problems


def enum_name(value: int, what: str) -> str:
    """A purpose or share method as the proto spells it (PURPOSE_TYPE_WORK_REFERENCE), which a caller that sent a
    number can look up."""
    kind = common_pb2.PurposeType if what == "purpose" else common_pb2.ShareMethod
    return kind.Name(value)


def item_list_problems(field: str, items: Sequence[str], known: Iterable[str] | None = None,
                       known_as: str = "") -> list[FieldViolation]:
    """Item machine names: well formed, not repeated, and (when ``known`` is given) among them."""
    problems: list[FieldViolation] = []
    if len(items) > LIST_MAX:
        return [FieldViolation(field, f"must list at most {LIST_MAX} items")]
    allowed = None if known is None else set(known)
    seen: set[str] = set()
    for index, item in enumerate(items):
        path = f"{field}[{index}]"
        if not item.strip():
            problems.append(FieldViolation(path, "is empty: name an item by its machine name (lower_snake, such as "
                                                 "name), or leave the empty entry out"))
        elif not ITEM_NAME.fullmatch(item):
            problems.append(FieldViolation(path, _not_a_machine_name(item)))
        elif item in seen:
            problems.append(FieldViolation(path, f"{item} is listed twice"))
        elif allowed is not None and item not in allowed:
            problems.append(FieldViolation(path, f"{item} is not {known_as}"))
        seen.add(item)
    return problems


def _not_a_machine_name(item: str) -> str:
    """Why ``item`` is no machine name; one that is a machine name but for a character nobody sees or full-width
    forms is said so (the refusal quoted a name that looked right)."""
    refused = f"{shown(item)} is not an item machine name (lower_snake)"
    otherwise = written_otherwise(item)
    if otherwise is not None and ITEM_NAME.fullmatch(otherwise[0]):
        return f"{refused}: {otherwise[1]}; write {otherwise[0]}"
    return refused


def system_id_problems(field: str, ids: Sequence[str]) -> list[FieldViolation]:
    problems: list[FieldViolation] = []
    if len(ids) > LIST_MAX:
        return [FieldViolation(field, f"must list at most {LIST_MAX} systems")]
    seen: set[str] = set()
    for index, system_id in enumerate(ids):
        if not SYSTEM_ID.fullmatch(system_id):
            problems.append(FieldViolation(f"{field}[{index}]", f"{shown(system_id)} is not a system id (sys-…)"))
        elif system_id in seen:
            problems.append(FieldViolation(f"{field}[{index}]", f"{system_id} is listed twice"))
        seen.add(system_id)
    return problems


def unique(values: Iterable[int]) -> tuple[int, ...]:
    """Values without repeats, in first-seen order (repeated enum values carry no meaning)."""
    return tuple(dict.fromkeys(values))


def page_after(token: str, kind: type[int] | type[str]) -> int | str | None:
    """The keyset position a page token resumes after (a sequence number or a code); None on the first page.

    Tokens come back from callers, so a tampered one must be refused as bad input rather than reach the
    database as an out-of-range number or a string PostgreSQL cannot hold.
    """
    position = pagination.decode_token(token)
    if position is None:
        return None
    after = position.get("after")
    if kind is int:
        valid = isinstance(after, int) and not isinstance(after, bool) and 0 <= after < 2**63
    else:
        valid = isinstance(after, str) and len(after) <= 64 and after.isprintable()
    if not valid:
        raise invalid_argument([FieldViolation("page_token", "is not a token returned by a previous call")])
    return after


def page_of(rows: Sequence[tuple[object, T]], limit: int) -> tuple[list[T], str]:
    """The items of a page fetched as (position, item) with one extra row, and the token for the next page."""
    more = len(rows) > limit
    rows = rows[:limit]
    return [item for _, item in rows], pagination.encode_token({"after": rows[-1][0]}) if more else ""


#: What follows an id's prefix, by the character class and count its pattern gives (SYSTEM_ID, APPLICATION_ID,
#: GRANT_ID, person_credentials.PERSON_ID).
_ID_TAIL = re.compile(r"\[(0-9a-[fz])\]\{(\d+)(?:,(\d+))?\}")
_ID_CHARACTERS = {"0-9a-f": "lower-case hex digits", "0-9a-z": "lower-case letters and digits"}


def malformed_id(value: str, shape: re.Pattern[str], what: str) -> str:
    """Why ``value`` is no ``what`` id of ``shape`` (``grt-`` and 32 hex digits, say), within a violation's 200
    characters.

    An id that begins as one does but is not one — cut short by a copy or a line break, upper-cased by a system that
    stores ids so, a character changed — was told "pass the id the platform returned (it begins 'grt-')", which it
    does, and nothing of what was wrong: it is now told what follows the prefix, and what differs."""
    prefix = shape.pattern[:4]
    tail = _ID_TAIL.fullmatch(shape.pattern[4:])
    if not value.lower().startswith(prefix) or tail is None:
        return (f"{shown(value)} is not a well-formed {what} id: pass the id the platform returned (it begins "
                f"{prefix!r})")
    characters, least, most = tail.groups()
    rest, low, high = value[len(prefix):], int(least), int(most or least)
    wanted = (f"{shown(value)} is not a well-formed {what} id: after {prefix!r} come "
              f"{least if most is None else f'{least} to {most}'} {_ID_CHARACTERS[characters]}")
    if not low <= len(rest) <= high:
        return f"{wanted}; this one has {len(rest)} ({'cut short?' if len(rest) < low else 'joined to more?'})"
    if shape.fullmatch(value.lower()):
        return f"{wanted}; write it in lower case"
    position, odd = next((i, c) for i, c in enumerate(rest, len(prefix) + 1) if not re.fullmatch(f"[{characters}]", c))
    return f"{wanted}; its character {position} is {odd!r}"


async def find_by_id(value: str, shape: re.Pattern[str], lookup: Callable[[str], Awaitable[T | None]],
                     what: str, field: str = "id") -> T:
    """The record with id ``value``: an empty id, or one that cannot be an id at all (it never reaches the
    database), is INVALID_ARGUMENT naming ``field`` (a caller who sent a name or a code where the id goes is told
    so, not that it does not exist); a well-formed id of no record is NOT_FOUND."""
    if not value:
        raise invalid_argument([FieldViolation(field, "is required")])
    if not shape.fullmatch(value):
        raise invalid_argument([FieldViolation(field, malformed_id(value, shape, what))])
    found = await lookup(value)
    if found is None:
        raise not_found(f"{what} {shown(value)}")
    return found
