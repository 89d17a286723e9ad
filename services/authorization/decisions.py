"""The access decision (R-SEC-2 "先授权后共享"), as one pure function.

``decide`` looks only at its arguments: the resource's catalog entry, the
caller department's grants on it, the request, the time and the deployment's
zone. It returns a Decision that query can cache and apply as is: which items,
which masks, until when, under which grant. A denial is a Decision too (never
an RPC error), saying why and what the caller can do about it, so that query
can cache and audit denials like any other answer. Only malformed requests and
unknown resources are errors.

The rules, in order:
  1. the entry must exist (NOT_FOUND) and the request be well formed (INVALID_ARGUMENT);
  2. the entry must be published (NOT_PUBLISHED);
  3. classified entries are served only on the intranet (WRONG_ZONE, R-ZON-2);
  4. the entry must offer the method (METHOD_NOT_GRANTED), and have the items (INVALID_ARGUMENT);
  5. unconditional entries allow every item (R-SHR-1);
  6. not-shared entries are refused unless the authority granted access by coordination (R-SHR-3);
  7. conditional entries allow a foundation database's basic items to everyone (R-SHR-4), and the
     rest under a live grant for the department, its system, the purpose, the method and the items
     (R-SHR-2, R-USE-1); a grant whose every item was dropped from the catalog since it was made (added back
     or not) covers nothing (GRANT_LAPSED).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from govshare.catalog.v1 import catalog_pb2
from govshare.common.v1 import common_pb2
from services.authorization.entries import classified, item_names, listed_after, offered_methods
from services.authorization.grants import Grant
from services.authorization.validation import (
    METHODS,
    PURPOSES,
    department_code_problem,
    item_list_problems,
    resource_code_problem,
    shown,
)
from services.runtime.catalog_client import basic_items
from services.runtime.enums import ShortNames
from services.runtime.errors import FieldViolation, invalid_argument, not_found
from services.runtime.workdays import CHINA, term_end_text

ONLINE_QUERY = common_pb2.SHARE_METHOD_ONLINE_QUERY
_ENTRY_STATES = ShortNames(catalog_pb2.EntryState)
_METHODS = ShortNames(common_pb2.ShareMethod)
_PURPOSES = ShortNames(common_pb2.PurposeType)
APPLY = "apply through SharingService.SubmitApplication"


def _widened(grants: Sequence[Grant], ask: str) -> str:
    """What a refused holder may do for more than ``grants`` give: ``ask`` the provider to widen one, unless each
    was given by the authority's coordination decision, which its provider may not widen (grants.beyond_coordination)
    and a new application is the way."""
    if grants and all(g.coordinated for g in grants):
        return (f"{APPLY} again (your grant was given by the authority's coordination decision, which its provider "
                "may narrow but not widen)")
    return ask


#: CheckRequest.exclude_grant_ids: more used-up grants than a department holds live on one resource.
MAX_EXCLUDED_GRANTS = 16


@dataclass(frozen=True)
class AccessRequest:
    """One use of a resource: a system of a department, for a purpose, by a method, some items."""

    system_id: str
    department_code: str
    resource_code: str
    purpose: int
    items: tuple[str, ...] = ()
    method: int = ONLINE_QUERY
    #: Grants whose call quota is used up (the query service counts quotas): decided as if they did not exist.
    exclude_grant_ids: frozenset[str] = frozenset()
    #: The one grant of the department to decide under (CheckRequest.only_grant_id), "" for all of them.
    only_grant_id: str = ""
    #: The entry version the query service answers with (CheckRequest.min_entry_version): decided on it or later.
    min_entry_version: int = 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    expire_time: dt.datetime
    deny_reason: int = common_pb2.DENY_REASON_UNSPECIFIED
    message: str = ""
    allowed_items: tuple[str, ...] = ()
    masks: Mapping[str, str] = field(default_factory=dict)
    policy_version: int = 0
    grant_id: str = ""
    quota: int = 0
    denied_items: tuple[str, ...] = ()


def request_problems(request: AccessRequest) -> list[FieldViolation]:
    """What is malformed in a request, whatever the entry."""
    problems: list[FieldViolation] = []
    if error := resource_code_problem(request.resource_code):
        problems.append(FieldViolation("resource_code", error))
    if error := department_code_problem(request.department_code):
        problems.append(FieldViolation("department_code", error))
    if request.purpose not in PURPOSES:
        problems.append(FieldViolation("purpose", "declare the purpose of the use (R-USE-1): ADMINISTRATIVE_BASIS, "
                                       "WORK_REFERENCE, DATA_VERIFICATION or BUSINESS_COLLABORATION"))
    if request.method and request.method not in METHODS:
        problems.append(FieldViolation("method", "is not a valid share method"))
    problems += item_list_problems("items", request.items)
    if len(request.exclude_grant_ids) > MAX_EXCLUDED_GRANTS:
        problems.append(FieldViolation("exclude_grant_ids", f"at most {MAX_EXCLUDED_GRANTS} grants, got "
                                                            f"{len(request.exclude_grant_ids)}"))
    return problems


def decide(entry: catalog_pb2.Entry | None, grants: Sequence[Grant], request: AccessRequest, now: dt.datetime,
           zone: str, ttl: dt.timedelta = dt.timedelta(seconds=30)) -> Decision:
    """The decision on ``request``; ``grants`` are the caller department's grants on the resource."""
    if entry is None:
        raise not_found(f"resource {shown(request.resource_code)}")
    problems = request_problems(request)
    unknown = _unknown_items(entry, request, problems)
    if problems:
        raise invalid_argument(problems + unknown)
    decider = _Decider(entry, request, now, now + ttl)
    if (denial := decider.entry_denial(zone)) is not None:
        return denial
    if unknown:
        raise invalid_argument(unknown)
    return decider.by_share_type(grants)


def _unknown_items(entry: catalog_pb2.Entry, request: AccessRequest,
                   problems: list[FieldViolation]) -> list[FieldViolation]:
    """Well-formed requested items the entry does not have."""
    known = set(item_names(entry))
    malformed = {p.field for p in problems}
    return [FieldViolation(f"items[{index}]", f"{item} is not an item of resource {entry.code}")
            for index, item in enumerate(request.items) if item not in known and f"items[{index}]" not in malformed]


class _Decider:
    """One decision in the making: the request, its entry and the time, shared by the rule steps."""

    def __init__(self, entry: catalog_pb2.Entry, request: AccessRequest, now: dt.datetime,
                 cache_until: dt.datetime) -> None:
        self.entry = entry
        self.request = request
        self.now = now
        self.cache_until = cache_until
        self.method = request.method or ONLINE_QUERY
        self.code = entry.code
        #: The caller department's grants on the resource as stored, by id (their items before in_force).
        self.stored: dict[str, Grant] = {}

    def entry_denial(self, zone: str) -> Decision | None:
        """Denials that hold for everyone, whatever their grants: the entry cannot be used this way."""
        entry = self.entry
        if entry.state != catalog_pb2.ENTRY_STATE_PUBLISHED:
            state = _ENTRY_STATES.name(entry.state)
            return self.deny_resource(common_pb2.DENY_REASON_NOT_PUBLISHED,
                                     f"resource {self.code} is not published (state {state}) and cannot be used")
        if zone != "intranet" and classified(entry):
            return self.deny_resource(common_pb2.DENY_REASON_WRONG_ZONE,
                                     f"resource {self.code} is classified (涉密): it is served only by the intranet "
                                     "platform (共享平台(内网))")
        if self.method not in offered_methods(entry):
            offered = ", ".join(_method_name(m) for m in sorted(offered_methods(entry))) or "none"
            return self.deny_resource(common_pb2.DENY_REASON_METHOD_NOT_GRANTED,
                                     f"resource {self.code} is not shared by {_method_name(self.method)} "
                                     f"(it offers: {offered})")
        return None

    def by_share_type(self, grants: Sequence[Grant]) -> Decision:
        entry = self.entry
        if entry.share_type == common_pb2.SHARE_TYPE_UNCONDITIONAL:
            return self.allow(self.request.items or tuple(item_names(entry)), None)
        if entry.share_type != common_pb2.SHARE_TYPE_CONDITIONAL:
            grants = [g for g in grants if g.coordinated]
            if not grants:
                return self.deny_resource(common_pb2.DENY_REASON_NOT_SHARED,
                                         f"resource {self.code} is not shared (不予共享): {APPLY}; the request goes "
                                         "to the authority for coordination (Art. 12)")
        return self.conditional(grants)

    def conditional(self, grants: Sequence[Grant]) -> Decision:
        """A conditional resource (or a not-shared one opened by coordination): basic items, else a grant.

        Asked under one grant alone (only_grant_id: the one an export began under), the basic items are not given
        without it: the answer is that grant's, or why it no longer serves, REVOKED, EXPIRED or which part of the
        use it was narrowed to leave out, so the export stops saying which."""
        request, basic = self.request, basic_items(self.entry)
        if request.only_grant_id:
            grants = [g for g in grants if g.id == request.only_grant_id]
        elif request.items and basic.issuperset(request.items):
            return self.allow(request.items, self.unmasking(grants, request.items))
        stored = [g for g in grants if g.department_code == request.department_code and g.resource_code == self.code]
        self.stored = {g.id: g for g in stored}
        mine = [in_force(g, self.entry) for g in stored]
        live = [g for g in mine if g.live(self.now) and not g.lapsed]
        if not live:
            return self.no_live_grant(mine, basic)
        candidates = [g for g in live if not g.system_ids or request.system_id in g.system_ids]
        if not candidates:
            return self.refuse(common_pb2.DENY_REASON_SYSTEM_NOT_GRANTED, basic,
                               f"your department's grants for resource {self.code} are limited to other systems: "
                               + _widened(live, f"ask the provider to add system {request.system_id} "
                                          "(SharingService.UpdateGrant)"))
        candidates = [g for g in candidates if request.purpose in g.purposes]
        if not candidates:
            return self.refuse(common_pb2.DENY_REASON_PURPOSE_NOT_GRANTED, basic,
                               f"no grant for resource {self.code} covers purpose {_purpose_name(request.purpose)}: "
                               f"declare a granted purpose or {APPLY}")
        widenable = candidates
        candidates = [g for g in candidates if self.method in g.methods]
        if not candidates:
            return self.refuse(common_pb2.DENY_REASON_METHOD_NOT_GRANTED, basic,
                               f"no grant for resource {self.code} includes {_method_name(self.method)}: "
                               + _widened(widenable, f"ask the provider to extend the grant or {APPLY}"))
        # Which grant serves is chosen by items and term, not by the calls left (query counts those): when the
        # chosen one is used up, query asks again without it, so a department that applied again is served by its
        # new grant instead of refused QUOTA_EXHAUSTED by the old one.
        candidates = [g for g in candidates if g.id not in self.request.exclude_grant_ids]
        if not candidates:
            return self.deny_resource(common_pb2.DENY_REASON_QUOTA_EXHAUSTED,
                                     f"every grant of your department for resource {self.code} that covers this "
                                     "use has used up its call quota: ask the provider department to raise one "
                                     f"(SharingService.UpdateGrant), or {APPLY} again")
        return self.by_items(candidates, basic)

    def by_items(self, grants: list[Grant], basic: frozenset[str]) -> Decision:
        """Of the grants that cover the items, the one unmasking the most of them, else the first (widest, then
        longest-lived); else which items none covers.

        Widest by the items it gives beyond the basic ones, which every department gets without a grant: counted
        with them, a grant of citizen_id, name and birth_date was wider than one of status and address. A request
        naming no items is answered under a grant only when the grant gives more than the basic items; one that
        gives none beyond them (approved so, or its other items dropped from the catalog since) was chosen, named
        in the access record and counted against its quota for an answer any department gets free."""
        grants = sorted(grants, key=lambda g: (-len(set(g.items).difference(basic)), -g.expire_time.timestamp(),
                                               g.id))
        if not self.request.items:
            grant = grants[0]
            if basic.issuperset(grant.items):
                # None gives more than the basic items: the one that unmasks the most of them serves, if any does.
                items = tuple(i for i in item_names(self.entry) if i in basic)
                return self.allow(items, _most_unmasking(grants, self.masked(items)))
            return self.allow(tuple(i for i in item_names(self.entry) if i in grant.items or i in basic), grant)
        needed = [item for item in self.request.items if item not in basic]
        needed_set = set(needed)
        if covering := [grant for grant in grants if needed_set.issubset(grant.items)]:
            # Of those, the one unmasking the most of the items asked: a narrower grant the provider approved with
            # 住址 unmasked was passed over for a wider one unmasking nothing, and the item answered masked.
            return self.allow(self.request.items,
                              _most_unmasking(covering, self.masked(self.request.items)) or covering[0])
        closest = max(grants, key=lambda g: len(needed_set.intersection(g.items)))
        missing = tuple(item for item in needed if item not in closest.items)
        # The grant that named them may be another than the closest: one whose every item lapsed serves nothing
        # (Grant.lapsed), so it is not among ``grants``, and the caller was told to have the closest widened.
        named = [self.stored.get(closest.id, closest), *(g for g in self.stored.values() if g.live(self.now))]
        for holder in named:
            if relisted := relisted_items(holder, self.entry, missing):
                return self.deny(common_pb2.DENY_REASON_ITEM_NOT_GRANTED,
                                 f"items {', '.join(relisted)} of resource {self.code} were dropped from the catalog "
                                 f"and added back after grant {holder.id} was made, which therefore no longer covers "
                                 f"them (they may mean something else now): {APPLY} for them again", denied=missing)
        return self.deny(common_pb2.DENY_REASON_ITEM_NOT_GRANTED,
                         f"items {', '.join(missing)} of resource {self.code} are not granted to you: ask only for "
                         f"granted items, or ask the provider to widen grant {closest.id}, or {APPLY}", denied=missing)

    def masked(self, items: Iterable[str]) -> frozenset[str]:
        """Of ``items``, those answered masked without a grant (sensitive ones)."""
        return frozenset(item.machine_name for item in self.entry.items if item.sensitive).intersection(items)

    def unmasking(self, grants: Sequence[Grant], items: Sequence[str]) -> Grant | None:
        """For a request of basic items only, which every department gets without a grant but masked where the
        catalog's rules say: the department's grant in force for this system, purpose and method that unmasks the
        most of them (the provider approved them whole: unmasked_items, as the key item of an export is), or None
        when none does, and they are answered as without a grant, nothing counted. Such a grant was never used:
        its unmasked basic items came back masked unless a non-basic item was asked for beside them."""
        masked = self.masked(items)
        if not masked:
            return None
        request = self.request
        usable = [g for g in (in_force(g, self.entry) for g in grants
                              if g.department_code == request.department_code and g.resource_code == self.code)
                  if g.live(self.now) and not g.lapsed and (not g.system_ids or request.system_id in g.system_ids)
                  and request.purpose in g.purposes and self.method in g.methods
                  and g.id not in request.exclude_grant_ids]
        return _most_unmasking(usable, masked)

    def no_live_grant(self, grants: list[Grant], basic: frozenset[str]) -> Decision:
        """Why none of the department's grants serves: one in force whose every item lapsed says so before an older
        one that expired or was revoked (it is the one the caller holds, and thinks covers the call)."""
        if lapsed := [g for g in grants if g.live(self.now) and g.lapsed]:
            latest = max(lapsed, key=lambda g: (g.expire_time, g.id))
            return self.refuse(common_pb2.DENY_REASON_GRANT_LAPSED, basic,
                               f"every item of your grant {latest.id} for resource {self.code} "
                               f"({', '.join(latest.lapsed_items)}) was dropped from the catalog after the grant was "
                               "made (an item added back since may mean something else), so it covers none of them "
                               f"now: {APPLY} again for the items as they are now")
        expired = [g for g in grants if g.expired(self.now)]
        if expired:
            latest = max(expired, key=lambda g: g.expire_time)
            # Its provider may still extend an expired grant (UpdateGrant), which keeps its application and quota;
            # not one the authority's coordination decision gave (grants.beyond_coordination).
            extend = ("" if latest.coordinated else "ask the provider department to extend it "
                      "(SharingService.UpdateGrant, a later expire_time), or ")
            # In Beijing time, as the grant's 有效期至 reads on the console and in its history: the UTC instant
            # ("08:59:59+00:00") read as a different hour, or the day before, from the term the department was shown.
            at = latest.expire_time.astimezone(CHINA).isoformat(timespec="seconds")
            return self.refuse(common_pb2.DENY_REASON_EXPIRED, basic,
                               f"your grant {latest.id} for resource {self.code} expired at {at} (有效期至 "
                               f"{term_end_text(latest.expire_time)}): {extend}{APPLY} again")
        if grants:
            latest = max(grants, key=lambda g: (g.create_time or dt.datetime.min.replace(tzinfo=dt.UTC), g.id))
            why = f" ({latest.revoke_reason})" if latest.revoke_reason else ""
            return self.refuse(common_pb2.DENY_REASON_REVOKED, basic,
                               f"your grant {latest.id} for resource {self.code} was revoked{why}: a revoked grant "
                               f"is final; {APPLY} again")
        return self.refuse(common_pb2.DENY_REASON_NOT_GRANTED, basic,
                           f"your department has no grant for conditional resource {self.code}: {APPLY}")

    def refuse(self, reason: int, basic: frozenset[str], message: str) -> Decision:
        """A denial, except that a request for "everything I may have" still gets the basic items.

        A request naming items is refused for those beyond the basic ones, and the message names them: asked for
        citizen_id, name and sex, a caller told only "your department has no grant" could not tell that the basic
        two need none, and read the refusal as covering them. Asked under one grant alone (only_grant_id), the
        refusal is that grant's, whatever the items."""
        if not basic or self.request.only_grant_id:
            return self.deny(reason, message)
        if self.request.items:
            beyond = tuple(item for item in self.request.items if item not in basic)
            basics = ", ".join(i for i in item_names(self.entry) if i in basic)
            return self.deny(reason, f"items {', '.join(beyond)} of resource {self.code} need a grant (only its "
                                     f"basic items {basics} are shared without one); {message}", denied=beyond)
        allowed = tuple(i for i in item_names(self.entry) if i in basic)
        others = tuple(i for i in item_names(self.entry) if i not in basic)
        # Allowed, with why no more is given (the grant that gave more revoked, expired): an export that began
        # under that grant ends with that reason, not on with other rows (query's _still_allowed).
        return self.allow(allowed, None, denied=others, reason=reason,
                          message=f"only the basic items are shared without a grant; {message}")

    def allow(self, items: Iterable[str], grant: Grant | None, denied: tuple[str, ...] = (),
              message: str = "", reason: int = common_pb2.DENY_REASON_UNSPECIFIED) -> Decision:
        items = tuple(items)
        unmasked = set(grant.unmasked_items) if grant is not None else set()
        masks = {item.machine_name: item.mask_rule or "full" for item in self.entry.items
                 if item.sensitive and item.machine_name in items and item.machine_name not in unmasked}
        expire_time = min(grant.expire_time, self.cache_until) if grant is not None else self.cache_until
        return Decision(allowed=True, expire_time=expire_time, deny_reason=reason, message=message,
                        allowed_items=items, masks=masks,
                        grant_id=grant.id if grant is not None else "",
                        quota=grant.quota if grant is not None else 0, denied_items=denied)

    def deny_resource(self, reason: int, message: str) -> Decision:
        """A denial of the resource itself, whatever the items asked for (not published, another network's, a
        method it does not offer, not shared, every quota used): it names no denied items. They are the items to
        ask again without (the refusal's metadata.denied_items), and naming every item asked for sent a program
        that narrows its request back for every item it may have, to be refused the same."""
        return self.deny(reason, message, denied=())

    def deny(self, reason: int, message: str, denied: tuple[str, ...] | None = None) -> Decision:
        return Decision(allowed=False, expire_time=self.cache_until, deny_reason=reason, message=message,
                        denied_items=self.request.items if denied is None else denied)


def _most_unmasking(grants: Iterable[Grant], masked: frozenset[str]) -> Grant | None:
    """Of ``grants``, the one unmasking the most of ``masked`` (then the longest-lived), or None if none unmasks any."""
    unmasking = [g for g in grants if masked.intersection(g.unmasked_items)]
    return min(unmasking, key=lambda g: (-len(masked.intersection(g.unmasked_items)), -g.expire_time.timestamp(), g.id),
               default=None)


def _listed_after(grant: Grant, entry: catalog_pb2.Entry) -> frozenset[str]:
    """The grant's items the entry has published again since the grant was made (DataItem.listed_since after its
    create_time): dropped by a catalogue update and added back later, so not the items the grant approved."""
    return listed_after(entry, grant.create_time).intersection(grant.items)


def in_force(grant: Grant, entry: catalog_pb2.Entry) -> Grant:
    """``grant`` as it applies to the entry now: without the items the catalog dropped since it was made, whether
    added back since (a grant names the items approved at the time, by machine name) or not, which it names in
    lapsed_items. Computed on a decision-cache miss only, and for GetGrant, ListGrants and UpdateGrant's answers
    (Sharing.in_force), so what a grant is shown to cover is what the decision lets through; a grant left with no
    item covers nothing (Grant.lapsed)."""
    gone = _listed_after(grant, entry).union(set(grant.items).difference(item_names(entry)))
    if not gone:
        return grant
    return dataclasses.replace(grant, items=tuple(i for i in grant.items if i not in gone),
                               unmasked_items=tuple(i for i in grant.unmasked_items if i not in gone),
                               lapsed_items=tuple(i for i in grant.items if i in gone))


def relisted_items(grant: Grant, entry: catalog_pb2.Entry, items: Iterable[str]) -> tuple[str, ...]:
    """Of ``items``, those ``grant`` (as stored) names but no longer covers, listed again since it was made."""
    relisted = _listed_after(grant, entry)
    return tuple(item for item in items if item in relisted)


def _method_name(method: int) -> str:
    return _METHODS.name(method)


def _purpose_name(purpose: int) -> str:
    return _PURPOSES.name(purpose)
