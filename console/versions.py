"""What a new version of a published entry changes, as the 审核 page tells the authority's reviewer.

Grants name a resource's items by machine name and read whatever the published version says of them: a version
that drops an item's sensitivity, makes it a basic item, widens the share type or gives a machine name to another
item changes what every existing grant reads the moment it is published. The review page showed the submitted
version alone (its code, name, provider, share type), so the reviewer published such a change without being shown
it; these lines say, against the published version, what the new one changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console import labels

#: Fields compared as their labels (an enum's Chinese name) or as they are; the text fields only say changed. Each
#: is named as the entry's form and page name it (labels.ENTRY_FIELDS, R-CAT-1's names), so the reviewer finds it.
_SHOWN: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("name", str),
    ("subject", str),
    ("share_type", lambda v: labels.SHARE_TYPE.get(v, str(v))),
    ("update_cycle", lambda v: labels.UPDATE_CYCLE.get(v, str(v))),
    ("zone", lambda v: labels.ZONE.get(v, str(v))),
    ("secrecy", lambda v: labels.SECRECY.get(v, str(v))),
    ("open_to_public", lambda v: "是" if v else "否"),
    ("key_item", str),
    ("format_class", lambda v: labels.FORMAT_CLASS.get(v, str(v))),
    ("format_type", str),
    ("project_code", str),
)
_TEXTS = ("summary", "share_condition", "legal_basis", "open_condition")


def version_changes(published: Any, submitted: Any) -> list[str]:
    """The changes of ``submitted`` (a catalog_pb2.Entry) against ``published``, one Chinese line each."""
    title = labels.ENTRY_FIELDS
    lines = [f"{title[name]}：{show(getattr(published, name))} → {show(getattr(submitted, name))}"
             for name, show in _SHOWN if getattr(published, name) != getattr(submitted, name)]
    lines += [f"{title[name]}已修改" for name in _TEXTS
              if _one_line_break(getattr(published, name)) != _one_line_break(getattr(submitted, name))]
    if sorted(published.share_methods) != sorted(submitted.share_methods):  # a set, whatever order it was sent in
        lines.append(f"{title['share_methods']}：{_methods(published)} → {_methods(submitted)}")
    if list(published.related_codes) != list(submitted.related_codes):
        lines.append(f"{title['related_codes']}：{_codes(published)} → {_codes(submitted)}")
    if (published.endpoint.target, published.endpoint.dataset) != (submitted.endpoint.target,
                                                                   submitted.endpoint.dataset):
        lines.append(f"数据来源：{_source(published)} → {_source(submitted)}")
    return lines + _item_changes(published, submitted)


def _one_line_break(text: str) -> str:
    """``text`` with its line breaks as LF: a version saved from the console before the catalog wrote them so holds
    CRLF (a browser's form encoding), and the next version, the same text in LF, was said 信息资源摘要已修改."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _item_changes(published: Any, submitted: Any) -> list[str]:
    """Items added, removed, and what changed in each kept one (by machine name: what grants name)."""
    before = {item.machine_name: item for item in published.items}
    after = {item.machine_name: item for item in submitted.items}
    lines = [f"新增信息项：{_item(item)}" for name, item in after.items() if name not in before]
    lines += [f"删除信息项：{_item(item)}" for name, item in before.items() if name not in after]
    for name, item in after.items():
        if name in before and (changed := _item_change(before[name], item)):
            lines.append(f"信息项 {name}：{'；'.join(changed)}")
    return lines


def _item_change(old: Any, new: Any) -> list[str]:
    """What changed in one item; a change that lets existing grants read more says so."""
    changed: list[str] = []
    if old.name != new.name:
        changed.append(f"名称 {old.name} → {new.name}（已获授权的部门将读到改名后的内容）")
    if (old.data_type, old.length) != (new.data_type, new.length):
        changed.append(f"类型 {_type(old)} → {_type(new)}")
    if old.sensitive and not new.sensitive:
        changed.append("不再是敏感项（已获授权的部门将读到未脱敏的值）")
    elif new.sensitive and not old.sensitive:
        changed.append("改为敏感项")
    elif old.sensitive and old.mask_rule != new.mask_rule:
        changed.append(f"脱敏规则 {old.mask_rule or '全部遮盖'} → {new.mask_rule or '全部遮盖'}")
    if old.identifier != new.identifier:
        changed.append(f"键类型 {_kind(old)} → {_kind(new)}（查询键按新的类型校验）")
    if new.basic and not old.basic:
        changed.append("改为基础项（基础信息资源的基础项无需授权即可使用）")
    elif old.basic and not new.basic:
        changed.append("不再是基础项")
    return changed


def _item(item: Any) -> str:
    return f"{item.name}（{item.machine_name}）"


def _type(item: Any) -> str:
    kind = labels.DATA_TYPE.get(item.data_type, str(item.data_type))
    return f"{kind}，长度 {item.length}" if item.length else kind


def _kind(item: Any) -> str:
    return labels.IDENTIFIER_KIND.get(item.identifier, str(item.identifier)) if item.identifier else "无"


def _codes(entry: Any) -> str:
    return "、".join(entry.related_codes) or "无"


def _methods(entry: Any) -> str:
    return "、".join(labels.SHARE_METHOD.get(m, str(m)) for m in entry.share_methods) or "无"


def _source(entry: Any) -> str:
    where = f"前置机 {entry.endpoint.target}" if entry.endpoint.target else "平台基础库"
    return f"{where} · 数据集 {entry.endpoint.dataset}"
