"""Grants: approved applications, and how providers adjust them (R-APP-4; 003 Art. 11).

A grant says who (a department, optionally some of its systems), what (items,
and which of the sensitive ones come unmasked), why (purposes), how (methods),
until when, and how many calls. Providers may widen or narrow a grant later,
within what the catalog entry offers; a revoked grant is final.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc

from govshare.authorization.v1 import sharing_pb2
from govshare.catalog.v1 import catalog_pb2
from services.authorization.applications import Application
from services.authorization.entries import item_names, listed_after, offered_methods
from services.authorization.validation import (
    METHOD_LABELS,
    METHODS,
    PURPOSE_LABELS,
    PURPOSES,
    enum_list_problems,
    item_list_problems,
    shown,
    system_id_problems,
    unique,
)
from services.runtime.actors import Actor
from services.runtime.errors import FieldViolation, ServiceError
from services.runtime.identity import Caller
from services.runtime.workdays import end_problem, term_end_text

ACTIVE = sharing_pb2.GRANT_STATE_ACTIVE
REVOKED = sharing_pb2.GRANT_STATE_REVOKED
#: What a grant that is stored ACTIVE is called once its expire_time has passed (never stored: it is read so).
EXPIRED = sharing_pb2.GRANT_STATE_EXPIRED
#: What a grant that is not revoked is called while its entry is retired (never stored: retiring an entry ends its
#: grants for good, and a grant is read so from the entry's state, Sharing.in_force).
ENDED = sharing_pb2.GRANT_STATE_ENDED
STATES = frozenset((ACTIVE, REVOKED, EXPIRED, ENDED))
#: The step a revocation leaves in the grant's history (its time is when the grant stopped letting its holder in).
REVOKED_EVENT = "GRANT_REVOKED"
#: The step a change leaves in the grant's history; its note says what the changed fields are now (change_note).
UPDATED_EVENT = "GRANT_UPDATED"
UPDATABLE = ("items", "unmasked_items", "purposes", "methods", "expire_time", "quota", "system_ids")
#: How a change step's note names a change of the grant's systems: "业务系统 …" since the notes are in Chinese,
#: "system_ids" in the English notes written before. The persons' view reads them (Store.confidential_grants): a
#: grant whose systems changed withholds its department's accesses from every system.
SYSTEMS_NOTE = "业务系统 "
SYSTEMS_NOTE_PATTERNS = ("%system_ids%", f"%{SYSTEMS_NOTE}%")


def change_note(changed: dict[str, object], items: Mapping[str, str] | None = None) -> str:
    """A grant change as its application's history says it to both departments' staff, in Chinese, with the new
    values (items by their catalog names, ``items``, as the approval's note names them): it read "changed
    expire_time, quota", the fields' English names, on the application's page of the console."""
    def names(values: object, labels: Mapping[Any, str] | None = None, empty: str = "无") -> str:
        texts = [labels.get(v, str(v)) if labels is not None else str(v) for v in values]  # type: ignore[attr-defined]
        return "、".join(texts) or empty

    items = items or {}
    said = {"items": lambda v: f"信息项 {names(v, items)}", "unmasked_items": lambda v: f"不脱敏 {names(v, items)}",
            "purposes": lambda v: f"用途 {names(v, PURPOSE_LABELS)}",
            "methods": lambda v: f"使用方式 {names(v, METHOD_LABELS)}",
            "expire_time": lambda v: f"有效期至 {term_end_text(v)}",  # type: ignore[arg-type]
            "quota": lambda v: f"调用上限 {v or '不限'}",
            "system_ids": lambda v: f"{SYSTEMS_NOTE}{names(v, empty='本部门全部系统')}"}
    return "授权范围调整为：" + "；".join(said[name](changed[name]) for name in UPDATABLE if name in changed)


@dataclass(frozen=True)
class Grant:
    id: str
    application_id: str
    department_code: str
    provider_department_code: str
    resource_code: str
    system_ids: tuple[str, ...]
    items: tuple[str, ...]
    unmasked_items: tuple[str, ...]
    purposes: tuple[int, ...]
    methods: tuple[int, ...]
    expire_time: dt.datetime
    quota: int
    state: int = ACTIVE
    coordinated: bool = False
    policy_version: int = 0
    create_time: dt.datetime | None = None
    revoke_reason: str = ""
    #: Accesses under a confidential grant are withheld from the persons' view until release_time.
    confidential: bool = False
    release_time: dt.datetime | None = None
    #: Who approved it (the provider's approver, or the authority's reviewer coordinating), and who last
    #: adjusted or revoked it (issue 12).
    granted_by: Actor = field(default_factory=Actor)
    changed_by: Actor = field(default_factory=Actor)
    #: Items the grant was made for that the catalog dropped since (and perhaps added back), so no longer covered
    #: (never stored: decisions.in_force leaves them out of items and unmasked_items and names them here).
    lapsed_items: tuple[str, ...] = ()
    #: Its entry is retired, which ended it for good (never stored: Sharing.in_force reads it from the catalog).
    ended: bool = False

    @property
    def etag(self) -> str:
        """Of the grant as it is now: every change of a grant gives it a new policy version."""
        return hashlib.sha256(f"{self.id}:{self.policy_version}".encode()).hexdigest()[:16]

    def live(self, now: dt.datetime) -> bool:
        return self.state == ACTIVE and self.expire_time > now

    @property
    def lapsed(self) -> bool:
        """Every item it was made for has lapsed (decisions.in_force named them all in lapsed_items): in force, it
        covers nothing, so it serves no call and counts none against its quota."""
        return bool(self.lapsed_items) and not self.items

    def expired(self, now: dt.datetime) -> bool:
        return self.state == ACTIVE and self.expire_time <= now

    def state_at(self, now: dt.datetime) -> int:
        """The state it is in at ``now``: an active grant past its expiry is EXPIRED (listed ACTIVE, a caller took
        a grant that lets nothing through for one in force), one its entry's retirement ended is ENDED (read ACTIVE
        or EXPIRED, it was taken for one in force or one its provider may extend); a revocation stays REVOKED."""
        if self.state == ACTIVE and self.ended:
            return ENDED
        return EXPIRED if self.expired(now) else self.state

    def visible_to(self, caller: Caller) -> bool:
        """The grantee, the provider and the authority see a grant."""
        return caller.authority or caller.department_code in (self.department_code, self.provider_department_code)


@dataclass(frozen=True)
class GrantsEnding:
    """ListGrants' narrowing to one side of the caller's department (an ApplicationRole, 0 both) and to the grants
    in force ending before ``before``; ``problems``: the request's fields that could not be read."""

    role: int = 0
    before: dt.datetime | None = None
    problems: tuple[FieldViolation, ...] = ()
    #: Only coordinated grants their provider adjusted at or after this time (the authority is told of them).
    adjusted_after: dt.datetime | None = None


@dataclass(frozen=True)
class GrantUpdate:
    """New values for the fields named by ``paths`` (an update_mask); the others are ignored."""

    paths: tuple[str, ...]
    system_ids: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    unmasked_items: tuple[str, ...] = ()
    purposes: tuple[int, ...] = ()
    methods: tuple[int, ...] = ()
    expire_time: dt.datetime | None = None
    quota: int = 0
    problems: tuple[FieldViolation, ...] = ()
    #: Grant.etag as the caller read the grant: when given, the change is made only over that state of it.
    etag: str = ""
    #: Why (UpdateGrantRequest.reason): kept in the step's note; required of the provider on a coordinated grant.
    reason: str = ""

    def touches(self, *names: str) -> bool:
        return any(name in self.paths for name in names)


def require_etag(grant: Grant, etag: str) -> None:
    """ABORTED ETAG_MISMATCH when ``etag`` is given and is not the grant's now (changed since it was read)."""
    if etag and etag != grant.etag:
        raise etag_mismatch(grant)


def etag_mismatch(grant: Grant) -> ServiceError:
    return ServiceError(grpc.StatusCode.ABORTED, "ETAG_MISMATCH", (
        f"grant {grant.id} was changed since you read it (now at policy version {grant.policy_version}): nothing "
        "was changed; read the grant again and redo your adjustment"))


def mask_problems(update: GrantUpdate) -> list[FieldViolation]:
    """The update_mask must name at least one field, and only fields a provider may adjust."""
    if not update.paths:
        return [FieldViolation("update_mask", f"name the fields to change: {', '.join(UPDATABLE)}")]
    allowed = ", ".join(UPDATABLE)
    return [FieldViolation(f"update_mask.paths[{index}]", f"{shown(path)} cannot be changed; use {allowed}")
            for index, path in enumerate(update.paths) if path not in UPDATABLE]


def changes(grant: Grant, update: GrantUpdate, entry: catalog_pb2.Entry | None,
            now: dt.datetime) -> tuple[dict[str, object], list[FieldViolation]]:
    """The grant fields ``update`` changes, and every problem with them.

    ``entry`` is the resource's catalog entry, needed when items or methods change: a grant can
    never give more than the resource has and offers.
    """
    problems = [*update.problems, *mask_problems(update)]
    changed: dict[str, object] = {}
    relisted = listed_after(entry, grant.create_time) if entry is not None else frozenset()
    if update.touches("items"):
        known = item_names(entry) if entry is not None else None
        problems += item_list_problems("grant.items", update.items, known, f"an item of resource {grant.resource_code}")
        problems += relisted_problems("grant.items", update.items, relisted, grant)
        if not update.items:
            # A coordinated grant is revoked by the authority only (Sharing._managed_grant): its provider sent to
            # RevokeGrant was refused there too.
            instead = ("ask the authority (共享主管部门) to revoke it: the authority's coordination decision gave it"
                       if grant.coordinated else "revoke the grant instead")
            problems.append(FieldViolation("grant.items", f"at least one item is required; {instead}"))
        changed["items"] = update.items
    items = changed.get("items", grant.items)
    if update.touches("unmasked_items"):
        problems += item_list_problems("grant.unmasked_items", update.unmasked_items, items, "a granted item")
        problems += relisted_problems("grant.unmasked_items", update.unmasked_items, relisted, grant)
        changed["unmasked_items"] = update.unmasked_items
    elif "items" in changed:
        # Narrowing the items drops the unmasking of the items it removes.
        changed["unmasked_items"] = tuple(i for i in grant.unmasked_items if i in items)
    if update.touches("purposes"):
        problems += enum_list_problems("grant.purposes", update.purposes, PURPOSES, "purpose")
        changed["purposes"] = unique(update.purposes)
    if update.touches("methods"):
        problems += _method_problems(update.methods, entry)
        changed["methods"] = unique(update.methods)
    if update.touches("expire_time"):
        if update.expire_time is None:
            if not any(p.field == "grant.expire_time" for p in problems):
                problems.append(FieldViolation("grant.expire_time", "is required"))
        elif update.expire_time <= now:
            problems.append(FieldViolation("grant.expire_time", "must be in the future; revoke the grant instead"))
        elif error := end_problem(update.expire_time):
            problems.append(FieldViolation("grant.expire_time", error))
        changed["expire_time"] = update.expire_time
    if update.touches("quota"):
        if update.quota < 0:
            problems.append(FieldViolation("grant.quota", "must not be negative (0 means unlimited)"))
        changed["quota"] = update.quota
    if update.touches("system_ids"):
        problems += system_id_problems("grant.system_ids", update.system_ids)
        changed["system_ids"] = update.system_ids
    return changed, problems


def relisted_problems(name: str, items: tuple[str, ...], relisted: frozenset[str],
                      grant: Grant) -> list[FieldViolation]:
    """Items an adjustment names that the catalog dropped and added back since the grant was made: the grant does not
    cover them (decisions.in_force), whatever its items say, and an adjustment cannot give them back either, since
    the applicant asked for the item as it was then (it may mean something else now)."""
    return [FieldViolation(f"{name}[{index}]", f"{item} was dropped from the catalog and added back after grant "
                           f"{grant.id} was made, so it is not covered: a new application covers the item as it is now")
            for index, item in enumerate(items) if item in relisted]


def made(grant: Grant, changed: dict[str, object]) -> dict[str, object]:
    """The changes that change something: a field named in the update_mask with the value the grant already has is
    left out. The console's 授权 form sends its items (and the expiry once edited) with every adjustment, so a
    quota raised alone was written to the application's history as "授权范围调整为：信息项 …；不脱敏 无；调用上限 …"
    and to the administrative log as a change of items and unmasked_items too: a trail saying the scope changed
    when it did not. A list is compared as a set: the same items, purposes, methods or systems in another order change
    nothing the decision reads, and a new version with a history step saying the scope changed would say what did
    not happen."""
    def same(value: object, now: object) -> bool:
        if isinstance(value, tuple) and isinstance(now, tuple):
            return set(value) == set(now)
        return value == now

    return {name: value for name, value in changed.items() if not same(value, getattr(grant, name))}


def beyond_request(changed: dict[str, object], application: Application) -> list[FieldViolation]:
    """What an adjustment gives beyond the application the grant answers: items, purposes, methods or systems
    the user department never asked for.

    An approval may only narrow the request (applications.narrow), but an adjustment was bounded by the resource
    alone: a provider could approve two items and then widen the grant to items, purposes or methods the applicant
    never asked for nor justified (R-APP-1), and the same way undo the authority's coordination decision on a
    grant it gave. A new need is a new application; the term and the quota stay adjustable as needs change."""
    asked: dict[str, tuple[object, ...]] = {"items": application.items, "purposes": application.purposes,
                                            "methods": application.methods, "system_ids": application.system_ids}
    what = {"items": "item", "purposes": "purpose", "methods": "share method", "system_ids": "system"}
    problems = []
    for name, requested in asked.items():
        values = changed.get(name)
        if values is None or not requested:  # an application naming no method or system asked for any of them
            continue
        if name == "system_ids" and not values:
            # No system is every system of the department (decisions: ``not g.system_ids``): a cleared list widened
            # a grant for the systems applied for to all of them, where each system named beyond them is refused.
            problems.append(FieldViolation(
                "grant.system_ids", f"an empty list opens the grant to every system of department "
                f"{application.applicant_department_code}, but application {application.id} asked for "
                f"{', '.join(requested)} only: name the systems, among those (a new need is a new application)"))
            continue
        problems += [FieldViolation(f"grant.{name}[{index}]",
                                    f"the {what[name]} {value} was not requested by application {application.id}: an "
                                    "adjustment, like an approval, stays within what was applied for (a new need "
                                    "is a new application)")
                     for index, value in enumerate(values) if value not in requested]  # type: ignore[attr-defined]
    return problems


def beyond_coordination(grant: Grant, changed: dict[str, object]) -> list[FieldViolation]:
    """What an adjustment would widen of a grant the authority's coordination decision gave (Art. 12): an item,
    an unmasked item, a purpose, a method or a system it does not give, a later end, a higher (or no) call limit.

    The provider had refused (or the resource is not shared, which no provider's approval opens) and the authority
    decided how far the use goes; the provider's 审批人 then widened the grant within the application, to the items,
    the term or the unmasking the authority had held back, undoing the decision as surely as a revocation would
    (which is the authority's). It may still narrow the grant as needs change (003 Art. 11); a wider use is a new
    application, which the authority coordinates when the provider refuses it."""
    decision = f"the authority's coordination decision gave grant {grant.id}"
    rule = "its provider may narrow a coordinated grant, not widen it (a wider use is a new application)"
    beyond = f"beyond what {decision}: {rule}"
    problems = []
    what = {"items": "the item", "unmasked_items": "unmasking", "purposes": "the purpose",
            "methods": "the share method", "system_ids": "the system"}
    for name, said in what.items():
        values = changed.get(name)
        given: tuple[object, ...] = getattr(grant, name)
        if values is None or (name == "system_ids" and not given):  # no system named is every system: all narrow
            continue
        if name == "system_ids" and not values:
            problems.append(FieldViolation("grant.system_ids", f"an empty list opens the grant to every system of "
                                           f"department {grant.department_code}, which is {beyond}"))
            continue
        problems += [FieldViolation(f"grant.{name}[{index}]", f"{said} {value} is {beyond}")
                     for index, value in enumerate(values) if value not in given]  # type: ignore[attr-defined]
    end = changed.get("expire_time")
    if isinstance(end, dt.datetime) and end > grant.expire_time:
        problems.append(FieldViolation("grant.expire_time", f"is later than {term_end_text(grant.expire_time)}, "
                                       f"the end {decision}: {rule}"))
    quota = changed.get("quota")
    if isinstance(quota, int) and grant.quota and (not quota or quota > grant.quota):
        problems.append(FieldViolation("grant.quota", f"{quota or 'unlimited'} calls is more than the "
                                       f"{grant.quota} {decision}: {rule}"))
    return problems


def _method_problems(methods: tuple[int, ...], entry: catalog_pb2.Entry | None) -> list[FieldViolation]:
    problems = enum_list_problems("grant.methods", methods, METHODS, "share method")
    offered = offered_methods(entry) if entry is not None else METHODS
    problems += [FieldViolation(f"grant.methods[{index}]", "the resource is not shared by this method")
                 for index, method in enumerate(methods) if method in METHODS and method not in offered]
    return problems
