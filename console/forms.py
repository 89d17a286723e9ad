"""Forms to requests: what a person typed becomes the protobuf the service validates.

The console checks nothing the service does not check again; it only keeps what was typed so a refused form
comes back filled in, with each server violation beside its field (violation paths are the input names).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping

from google.protobuf import timestamp_pb2
from starlette.datastructures import FormData

from govshare.catalog.v1 import catalog_pb2
from services.query.keys import normalize_key
from services.runtime.workdays import CHINA

#: Rows of data items the entry form offers at least (blank rows are ignored); an entry with more items gets a row
#: for each, and two blank ones (item_rows).
ITEM_ROWS = 8
#: The most item rows a form is shown with or read by: an entry holds at most 500 items (services/catalog/rules.py).
MAX_ITEM_ROWS = 502
_ITEM_FIELD = re.compile(r"items\[(\d{1,3})\]\.(?:name|machine_name)")
#: The largest value of a protobuf int32 (enums, years, versions) and int64 (quotas, ids).
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
#: Full-width digits (０-９, what a Chinese input method types) to ASCII.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
#: Digits grouped by three with commas (ASCII or full-width), as documents write large numbers: 1,000 and 10，000.
_GROUPED = re.compile(r"[0-9]{1,3}(?:[,，][0-9]{3})+")


def number(raw: object, maximum: int = INT32_MAX) -> int | None:
    """A non-negative whole number typed in a form or a query string, or None when it is not one.

    Full-width digits (typed with a Chinese input method) count as digits, and so do thousands separators in
    their places ("10,000", "10，000": a quota copied from a document was refused as no number); anything else that
    ``str.isdigit`` accepts but ``int`` does not (superscripts, circled digits), a sign, or a value the protobuf
    field cannot hold is None — ``int()`` on them would raise, and the protobuf constructor too, which was a 500
    page.
    """
    text = str(raw).strip().translate(_FULL_WIDTH)
    if _GROUPED.fullmatch(text):
        text = text.replace(",", "").replace("，", "")
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(maximum)):
        return None
    value = int(text)
    return value if value <= maximum else None


def unit_removed(raw: str, unit: str) -> str:
    """A number typed with its unit after it (2026年, 11月, full-width too): the number's text, for ``number``."""
    return raw.strip().removesuffix(unit).strip()


def item_rows(values: Mapping[str, object]) -> int:
    """How many item rows a form (or the values it is filled with) holds: up to its last named row, and two blank
    ones to add items, ITEM_ROWS at least. The rows were ITEM_ROWS always: an entry of 12 items (人口 has more than
    8) was shown with its first 8 and saved with them only, its other items dropped from the new version."""
    used = [int(found.group(1)) for key in values if (found := _ITEM_FIELD.fullmatch(key)) and values[key]]
    return min(MAX_ITEM_ROWS, max(ITEM_ROWS, max(used, default=-1) + 3))


def _int(form: FormData, name: str) -> int:
    return number(form.get(name, "")) or 0


def _text(form: FormData, name: str) -> str:
    return str(form.get(name, "")).strip()


def entry_from_form(form: FormData, department_code: str, department_name: str) -> catalog_pb2.Entry:
    """The catalog entry the form describes, provided by the person's own department; its codes typed with a
    Chinese input method (full-width digits and slash) are the codes they show (``typed_code``)."""
    entry = catalog_pb2.Entry(
        code=typed_code(_text(form, "code")), name=_text(form, "name"), summary=_text(form, "summary"),
        category=_int(form, "category"), subject=_text(form, "subject"),
        provider_department_code=department_code, provider_name=department_name,
        format_class=_int(form, "format_class"), format_type=_text(form, "format_type"),
        key_item=_text(form, "key_item"), share_type=_int(form, "share_type"),
        share_condition=_text(form, "share_condition"),
        share_methods=[n for v in form.getlist("share_methods") if (n := number(v))],
        legal_basis=_text(form, "legal_basis"), open_to_public=form.get("open_to_public") == "on",
        open_condition=_text(form, "open_condition"), update_cycle=_int(form, "update_cycle"),
        related_codes=[typed_code(c) for c in _text(form, "related_codes").replace("，", ",").split(",") if c.strip()],
        zone=_int(form, "zone"), secrecy=_int(form, "secrecy"), project_code=_text(form, "project_code"),
        endpoint=catalog_pb2.ProviderEndpoint(target=_text(form, "endpoint.target"),
                                              dataset=_text(form, "endpoint.dataset")))
    for row in range(item_rows(form)):
        prefix = f"items[{row}]"
        name, machine = _text(form, f"{prefix}.name"), _text(form, f"{prefix}.machine_name")
        if not name and not machine:
            continue
        machine_name = machine
        entry.items.append(catalog_pb2.DataItem(
            name=name, machine_name=machine_name, data_type=_int(form, f"{prefix}.data_type"),
            length=_int(form, f"{prefix}.length"), sensitive=form.get(f"{prefix}.sensitive") == "on",
            mask_rule=_text(form, f"{prefix}.mask_rule"),
            basic=form.get(f"{prefix}.basic") == "on",
            identifier=_int(form, f"{prefix}.identifier") if machine_name == entry.key_item else 0))
    return entry


def length_violations(form: FormData) -> dict[str, str]:
    """The data items' lengths typed that are no length (letters, a sign, beyond an int32), by request field:
    ``entry_from_form`` reads them as 0, and the item was saved without the length that was typed."""
    return {f"entry.items[{row}].length": "长度请填写不超过 2147483647 的正整数（不限长度请留空）。"
            for row in range(item_rows(form))
            if (typed := _text(form, f"items[{row}].length")) and number(typed) is None}


def form_of_entry(entry: catalog_pb2.Entry) -> dict[str, object]:
    """The form's values for an entry (editing a draft, or a refused form shown again)."""
    values: dict[str, object] = {
        "code": entry.code, "name": entry.name, "summary": entry.summary, "category": entry.category,
        "subject": entry.subject, "format_class": entry.format_class, "format_type": entry.format_type,
        "key_item": entry.key_item, "share_type": entry.share_type, "share_condition": entry.share_condition,
        "share_methods": list(entry.share_methods), "legal_basis": entry.legal_basis,
        "open_to_public": entry.open_to_public, "open_condition": entry.open_condition,
        "update_cycle": entry.update_cycle, "related_codes": ", ".join(entry.related_codes), "zone": entry.zone,
        "secrecy": entry.secrecy, "project_code": entry.project_code, "endpoint.target": entry.endpoint.target,
        "endpoint.dataset": entry.endpoint.dataset,
        # The version as read: saving it over a change made meanwhile (by another officer) is refused (409).
        "etag": entry.etag,
        # What the reviewer asked for, shown above the form while the officer reworks a returned version.
        "return_reason": entry.return_reason,
        # Every return of the version, with when and by whom: the latest reason alone left the earlier ones unread.
        "returns": list(entry.returns),
    }
    for row in range(min(MAX_ITEM_ROWS, max(ITEM_ROWS, len(entry.items) + 2))):
        item = entry.items[row] if row < len(entry.items) else catalog_pb2.DataItem()
        prefix = f"items[{row}]"
        values.update({f"{prefix}.name": item.name, f"{prefix}.machine_name": item.machine_name,
                       f"{prefix}.data_type": item.data_type, f"{prefix}.length": item.length or "",
                       f"{prefix}.sensitive": item.sensitive, f"{prefix}.mask_rule": item.mask_rule,
                       f"{prefix}.basic": item.basic,
                       f"{prefix}.identifier": item.identifier})
    return values


def field_errors(fields: dict[str, str], prefix: str = "") -> dict[str, str]:
    """Server violations keyed by form input name (``entry.items[1].name`` → ``items[1].name``)."""
    errors: dict[str, str] = {}
    for path, description in fields.items():
        name = path.removeprefix(prefix) if prefix else path
        errors.setdefault(name, description)
        # A violation of a list element also shows beside the list's field (share_methods[0] → share_methods,
        # an application's items[2] → items); a field of a row (items[1].name) has an input of its own.
        head = name.split("[", 1)[0]
        if head != name and "]." not in name:
            errors.setdefault(head, description)
    return errors


#: A grant's id as SharingService gives it (and AccessRecord.grant_id names it).
GRANT_ID = re.compile(r"grt-[0-9a-f]{32}")


def grant_id_error(grant_id: str) -> dict[str, str]:
    """The 审计 page's 授权编号 said wrong beside its input, before any call (the service's hint is English)."""
    if not grant_id or GRANT_ID.fullmatch(grant_id):
        return {}
    return {"grant": "授权编号应为 grt- 加 32 位小写十六进制字符，如“授权”页或使用记录中所列。"}


def reason_error(reason: int, result: int, denied: int, denied_label: str) -> dict[str, str]:
    """The 审计 page's 拒绝原因 with an outcome other than 拒绝: only refusals have a reason, so the listing could
    hold nothing, which would read as "no such access" (the service refuses the pair; said here in Chinese)."""
    if not reason or not result or result == denied:
        return {}
    return {"reason": f"拒绝原因只用于结果为“{denied_label}”的访问：请把结果选为“{denied_label}”或“全部结果”，"
                      "或不选拒绝原因。"}


#: A catalog resource code (信息资源代码): the 6- or 9-digit classification, a slash, the 6-digit sequence.
RESOURCE_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3})?/[0-9]{6}")
#: A resource code typed with a Chinese input method: full-width digits and slash (１０１００１／０００００１).
_FULL_WIDTH_CODE = str.maketrans("０１２３４５６７８９／", "0123456789/")


def typed_code(raw: str) -> str:
    """A resource code as typed in a form: full-width digits and slash typed with a Chinese input method mean the
    code they show ("１０１００１／０００００１" was refused as no resource code)."""
    return raw.strip().translate(_FULL_WIDTH_CODE)


def resource_filter(raw: str) -> tuple[str, dict[str, str]]:
    """The 审计 page's 资源代码 as ListAccesses takes it (``typed_code``), and its hint in Chinese beside the input
    when it is none (before any call: the service's hint is English)."""
    code = typed_code(raw)
    if not code or RESOURCE_CODE.fullmatch(code):
        return code, {}
    return code, {"resource": "资源代码应为分类码、“/”、顺序码，如 101001/000001（见“目录”页）；留空则不限资源。"}


def department_filter(raw: str) -> str:
    """The 审计 page's 使用部门 as ListAccesses reads it (services.query.keys.normalize_key of a credit code): typed
    in lower case or full width it names the same department. The page kept it as typed, so the listing (which
    the service reads so) showed that department's accesses while 资源使用统计, whose rows the page picks by the
    code as typed, said 所选期间没有使用记录 of the same days."""
    return normalize_key(catalog_pb2.IDENTIFIER_KIND_CREDIT_CODE, raw)


#: Whose calls an access names (AccessRecord.system_id): a business system's id as the directory gives it, or a
#: person's, whose refused calls are recorded too (services.query.audit_servicer.CALLER_ID).
CALLER_ID = re.compile(r"sys-[0-9a-z]{4,64}|psn-[0-9a-f]{16}")


def system_id_error(system_id: str) -> dict[str, str]:
    """The 审计 page's 系统标识 said wrong beside its input, before any call (the service's hint is English)."""
    if not system_id or CALLER_ID.fullmatch(system_id):
        return {}
    return {"system": "系统标识应为 sys- 加小写字母和数字，如使用记录“系统”一列所列。"}


#: The ways a date is written that read_day reads: 2026-01-31, 2026/1/31, 2026.1.31, 2026年1月31日, 20260131.
_DAY_FORMS = (re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"), re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?"),
              re.compile(r"(\d{4})(\d{2})(\d{2})"))
#: A date's dashes and slashes typed with a Chinese input method (全角), read as their ASCII forms.
_FULL_WIDTH_DATE = str.maketrans("－／．", "-/.")


def read_day(text: str) -> dt.date | None:
    """A date as people write it (a date input's YYYY-MM-DD, and what a browser without one, a link edited by hand
    or a paste from a document holds: 2026/1/31, 2026年1月31日, full-width digits), or None when it is none of these
    or no day (2026-02-30). date.fromisoformat alone also read ISO week dates (2026-W05 as Monday 26 January) and
    refused 2026/01/31: the 审计 page filtered by a day its date inputs, which show only YYYY-MM-DD, left blank."""
    parts = _day_parts(text)
    try:
        return dt.date(*parts) if parts is not None else None
    except ValueError:
        return None


def _day_parts(text: str) -> tuple[int, int, int] | None:
    """The year, month and day a date is written with (read_day's forms), whether or not they make a day."""
    typed = text.strip().translate(_FULL_WIDTH).translate(_FULL_WIDTH_DATE)
    for form in _DAY_FORMS:
        if (match := form.fullmatch(typed)) is not None:
            year, month, day = (int(part) for part in match.groups())
            return year, month, day
    return None


def day_text(text: str) -> str:
    """A date typed, as a date input shows it (YYYY-MM-DD) when read_day reads it; as typed when not (said so)."""
    return read.isoformat() if (read := read_day(text)) is not None else text.strip()


def unread_day(text: str) -> str:
    """What to say of a date read_day cannot read, quoting it (cut short): a date input shows only a date it reads,
    so the text sent is otherwise nowhere on the page."""
    typed = text.strip()
    if (parts := _day_parts(typed)) is not None:
        return f"没有这一天：{parts[0]} 年 {parts[1]} 月 {parts[2]} 日不是实有的日期，请核对。"
    quoted = typed if len(typed) <= 20 else typed[:20] + "…"
    return f"无法识别日期“{quoted}”：请按 年-月-日 填写，例如 2026-01-31。"


def audit_period(first: str, last: str) -> tuple[dict[str, timestamp_pb2.Timestamp], dict[str, str]]:
    """The 审计 page's 起始日期 and 截止日期 (YYYY-MM-DD, Beijing days, both included) as ListAccesses' start_time
    and end_time (the first day's midnight in Beijing, the midnight after the last: the service's end is
    exclusive), or the inputs' hints in Chinese. A day is Beijing's, not UTC's: an access at 07:30 Beijing time on
    the 1st is the 1st's, though UTC still says the last day of the month before."""
    times: dict[str, timestamp_pb2.Timestamp] = {}
    errors: dict[str, str] = {}
    days: dict[str, dt.date] = {}
    for name, text, field_name, bound in (("from", first, "start_time", start_of_day),
                                          ("to", last, "end_time", end_after_day)):
        if not text.strip():
            continue
        if (read := read_day(text)) is None:
            errors[name] = unread_day(text)
            continue
        days[name] = read
        times[field_name] = bound(read)
    if "from" in days and "to" in days and days["to"] < days["from"]:
        errors["to"] = "截止日期不能早于起始日期。"
    return (times, errors) if not errors else ({}, errors)


def day_of(text: str) -> dt.date | None:
    """A date typed (read_day: a date input's value, or as people write it), or None when blank or malformed."""
    return read_day(text)


def start_of_day(day: dt.date) -> timestamp_pb2.Timestamp:
    """Midnight Beijing time beginning ``day`` (a day is Beijing's: a change of the 1st is not the 31st's in UTC).
    That of 0001-01-01 (a date input's first day, typed for "from the beginning") is before the first instant a
    Timestamp holds, 0001-01-01 00:00 UTC: it is that instant (the conversion's OverflowError was a 500 page)."""
    stamp = timestamp_pb2.Timestamp()
    try:
        stamp.FromDatetime(dt.datetime.combine(day, dt.time(), tzinfo=CHINA).astimezone(dt.UTC))
    except OverflowError:
        stamp.FromDatetime(dt.datetime.min.replace(tzinfo=dt.UTC))
    return stamp


def end_after_day(day: dt.date) -> timestamp_pb2.Timestamp:
    """The midnight after ``day`` in Beijing, an exclusive end; after 9999-12-31 (typed for "no end": the day after
    it is no date, an OverflowError and a 500 page), the last instant a Timestamp holds."""
    if day == dt.date.max:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(dt.datetime.max.replace(microsecond=0, tzinfo=dt.UTC))
        return stamp
    return start_of_day(day + dt.timedelta(days=1))


def end_of_day(text: str) -> timestamp_pb2.Timestamp | None:
    """23:59:59 Beijing time of a date typed (read_day), or None when blank or malformed."""
    if (day := read_day(text)) is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=CHINA).astimezone(dt.UTC))
    return stamp
