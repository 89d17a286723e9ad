"""Who may do what to an entry, and in which state (R-CAT-3, R-ZON-2).

The lifecycle of one entry version::

    DRAFT ──submit──▶ SUBMITTED ──publish──▶ PUBLISHED ──retire──▶ RETIRED
      ▲                   │                      │
      └──(edit)── RETURNED ◀──return (reason)    └─ a newer version is published ─▶ SUPERSEDED

Published versions are never overwritten: editing a published entry drafts version
n+1 while version n stays the one everybody reads, until n+1 is published and n
becomes SUPERSEDED. Retiring closes the whole entry: the published version and any
version still in progress become RETIRED and stay readable for audit. An entry never
published is withdrawn the same way: its one version, draft, submitted or returned,
becomes RETIRED.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from enum import Enum

import grpc

from services.catalog.model import Endpoint, EndpointReader, Entry, EntryHead, EntryState, RelatedHead, label
from services.runtime.errors import FieldViolation, ServiceError, not_found, permission_denied
from services.runtime.identity import Caller
from services.runtime.workdays import CHINA

EDITABLE = (EntryState.DRAFT, EntryState.RETURNED)
SUBMITTABLE = (EntryState.DRAFT, EntryState.RETURNED)
REVIEWABLE = (EntryState.SUBMITTED,)
RETIRABLE = (EntryState.PUBLISHED,)
#: An entry never published is withdrawn by retiring its one version: a draft a department no longer means to
#: publish (or one in review, or returned) otherwise stayed in its catalog and its reviewers' queue for good.
RETIRABLE_UNPUBLISHED = (EntryState.DRAFT, EntryState.SUBMITTED, EntryState.RETURNED)


class Edit(Enum):
    """How UpdateEntry applies to the entry's latest version."""

    IN_PLACE = "in_place"
    NEW_VERSION = "new_version"


def wrong_state(entry: Entry, action: str, allowed: Iterable[EntryState]) -> ServiceError:
    """FAILED_PRECONDITION naming the state the entry is in and the states the action needs."""
    state = label(EntryState, entry.state)
    return ServiceError(
        grpc.StatusCode.FAILED_PRECONDITION, "INVALID_STATE",
        f"entry {entry.code} version {entry.version} is {state}: only {' or '.join(s.name for s in allowed)} "
        f"entries can be {action}",
        metadata={"code": entry.code, "version": str(entry.version), "state": state},
    )


def listed(entry: Entry, previous: Entry | None, now: dt.datetime) -> Entry:
    """``entry`` as published at ``now``, each item saying since when it has been published without a break: an item
    of ``previous`` (the version published until now) keeps its time, any other is listed from ``now``.

    Grants name items by machine name: an item a version dropped and a later one added back (perhaps meaning
    something else) was again answered under the grants made before it was dropped. Its listed_since, later than
    those grants, tells the authorization service's decision that they do not cover it."""
    kept = {item.machine_name: item.listed_since or previous.publish_time or now
            for item in previous.items} if previous is not None and previous.state == EntryState.PUBLISHED else {}
    return dataclasses.replace(entry, items=[dataclasses.replace(item, listed_since=kept.get(item.machine_name, now))
                                             for item in entry.items])


def unlisted(entry: Entry) -> Entry:
    """``entry``'s items without listed_since: a version in the making (a draft copied from the published one) is
    listed only when it is published, by :func:`listed`."""
    return dataclasses.replace(entry, items=[dataclasses.replace(item, listed_since=None) for item in entry.items])


def edit_of(latest: Entry) -> Edit:
    """Drafts and returned versions are edited in place; a published one gets a new draft version."""
    if latest.state in EDITABLE:
        return Edit.IN_PLACE
    if latest.state == EntryState.PUBLISHED:
        return Edit.NEW_VERSION
    raise wrong_state(latest, "updated", (*EDITABLE, EntryState.PUBLISHED))


def require_etag(latest: Entry, etag: str) -> None:
    """ABORTED ETAG_MISMATCH when ``etag`` is given and is not the latest version's (changed since it was read)."""
    if etag and etag != latest.etag:
        # When, in Beijing time and saying so: the officers reading it (the console shows the message) are there,
        # and the bare UTC time it showed read eight hours early.
        when = "" if latest.update_time is None else f"{latest.update_time.astimezone(CHINA):%Y-%m-%d %H:%M:%S}"
        changed = f", last changed {when} Beijing time" if when else ""
        state = label(EntryState, latest.state)
        # The metadata lets the console say it in Chinese (console/errors.entry_changed_sentence).
        raise ServiceError(grpc.StatusCode.ABORTED, "ETAG_MISMATCH", (
            f"entry {latest.code} was changed since you read it (now version {latest.version}, "
            f"{state}{changed}): nothing was changed; read the entry again, then edit or review what it now "
            "holds"),
            metadata={"code": latest.code, "version": str(latest.version), "state": state, "changed": when})


def require_state(entry: Entry, action: str, allowed: tuple[EntryState, ...]) -> None:
    if entry.state not in allowed:
        raise wrong_state(entry, action, allowed)


def is_privileged(caller: Caller, owner_department: str) -> bool:
    """The authority, platform services and the provider department see work in progress."""
    return caller.authority or caller.is_service or (bool(caller.department_code)
                                                    and caller.department_code == owner_department)


def shown_to(caller: Caller, entry: Entry) -> Entry:
    """The entry as ``caller`` may read it: without its endpoint unless privileged.

    Where query fetches the records (a department's 前置机 address, its dataset name) is the platform's
    business and the provider's; other departments use the resource through query and need neither.
    """
    if is_privileged(caller, entry.provider_department_code):
        return entry
    return dataclasses.replace(entry, endpoint=Endpoint())


def require_provider(caller: Caller, department_code: str, code: str) -> None:
    """Departments catalog only their own resources (the authority may act for any)."""
    if caller.authority or (caller.department_code and caller.department_code == department_code):
        return
    raise permission_denied(
        "NOT_PROVIDER",
        f"entry {code or '(new)'} belongs to department {department_code or '(none)'}: a department may only "
        f"catalog its own resources", code=code, department_code=department_code)


def require_provider_kept(head: EntryHead, entry: Entry) -> None:
    """An entry once published keeps its provider: its grants and applications name the department that published
    it, whose 审批人 answer and manage them (services/authorization). Handed to another department by an update, the
    first went on approving access to data it no longer provided and revoking the grants, while the department now
    providing it could do neither. A draft never published is still handed over (the authority catalogues for a
    department); a published one is taken over by the new department cataloguing its own, the old one retired."""
    if head.public_version is None or entry.provider_department_code == head.provider_department_code:
        return
    raise ServiceError(
        grpc.StatusCode.FAILED_PRECONDITION, "PUBLISHED_PROVIDER",
        f"entry {entry.code} is published as department {head.provider_department_code}'s, whose approvers answer "
        "its applications and manage its grants: it is not handed to another department. The department taking "
        "over catalogues the resource as its own (CreateEntry), and this entry is retired (RetireEntry)",
        metadata={"department_code": head.provider_department_code})


def require_endpoint_owner(caller: Caller, entry: Entry, before: Entry | None) -> None:
    """Only the provider department itself names or changes its entry's endpoint (its own 前置机): not the
    authority, whose right to act for a department stops at where the department's data is read from."""
    old = (before.endpoint.target, before.endpoint.dataset) if before is not None else ("", "")
    new = (entry.endpoint.target, entry.endpoint.dataset)
    if new == old or (not entry.endpoint.target and not old[0]):
        return
    if caller.department_code and caller.department_code == entry.provider_department_code \
            and not caller.is_service:
        return
    raise permission_denied(
        "NOT_ENDPOINT_OWNER",
        f"only department {entry.provider_department_code or '(none)'} may set or change the endpoint of entry "
        f"{entry.code or '(new)'}", code=entry.code, department_code=entry.provider_department_code)


def require_other_reviewer(caller: Caller, entry: Entry, authors: frozenset[str]) -> None:
    """The person who drafted, edited or submitted a version (``authors``) does not review it (separation of
    duties: four eyes on what is published). The authority's persons may hold 编目员 and 审核员 together, to
    catalog the authority's own resources; without this one person wrote an entry and published it alone."""
    if caller.is_person and (entry.submitted_by.id == caller.person_id or caller.person_id in authors):
        raise permission_denied("OWN_SUBMISSION",
                                f"{entry.code} version {entry.version} was drafted, edited or submitted by you: "
                                "another 审核员 (REVIEWER) of the authority must review it (separation of duties)",
                                code=entry.code)


def require_authority(caller: Caller, action: str) -> None:
    if not caller.authority:
        raise permission_denied("NOT_AUTHORITY", f"only the sharing authority (共享主管部门) may {action}")


def require_zone(entry: Entry, deployment_zone: str) -> None:
    """R-ZON-2: an extranet deployment neither holds nor serves classified or intranet resources."""
    if deployment_zone != "intranet" and entry.restricted:
        raise ServiceError(
            grpc.StatusCode.FAILED_PRECONDITION, "WRONG_ZONE",
            f"entry {entry.code} is classified or in the intranet zone: this {deployment_zone} platform may not "
            "hold it; catalog it on the intranet platform (共享平台(内网))",
            metadata={"code": entry.code, "deployment_zone": deployment_zone})


def require_own_endpoint(entry: Entry, readers: Iterable[EndpointReader], foundation_target: str = "") -> None:
    """No entry reads another department's 前置机, nor another provider's foundation dataset by an address of its own.

    Behind a department's 前置机 is that department's data ("谁提供，谁负责", Art. 13), so no other provider's entry
    reads it even at the same address. Departments may name datasets alike at their own 前置机 (two districts'
    social_insurance): query caches records by endpoint, dataset and key (services/runtime/cache.py), so each
    entry reads, and caches, its own endpoint's. The platform's foundation service (the empty target) serves
    datasets whose sources the authority designates; several providers may catalog one, which is the authority's
    review to check, but not through the foundation's address spelled out (``foundation_target``: the same
    records, past that review). A provider's own entries may differ in target (it moves its 前置机 one entry at a
    time). ``readers`` are the other published entries reading the dataset.
    """
    mine = _endpoint_of(entry.endpoint.target, foundation_target)
    for other in readers:
        if other.provider_department_code == entry.provider_department_code:
            continue
        if _endpoint_of(other.target, foundation_target) != mine or not (other.target or entry.endpoint.target):
            continue
        raise ServiceError(
            grpc.StatusCode.FAILED_PRECONDITION, "ENDPOINT_IN_USE",
            f"dataset {entry.endpoint.dataset!r} of endpoint {entry.endpoint.target or '(the foundation service)'} "
            f"is already read by published entry {other.code} of department {other.provider_department_code}: a "
            "department's 前置机 is read by that department only, and a foundation dataset through the empty "
            "target; name your own 前置机's dataset",
            metadata={"code": entry.code, "dataset": entry.endpoint.dataset, "published_code": other.code})


def require_related(entry: Entry, known: Iterable[RelatedHead]) -> None:
    """关联资源代码 name entries a reader can follow: a published entry, or one the same department is still writing
    (two related entries are drafted together). A mistyped code, another department's unpublished draft (whose
    existence is not the submitter's to learn) or a retired entry is refused by its place in the list, before the
    entry reaches its reviewers or its readers."""
    heads = {head.code: head for head in known}
    violations = []
    for index, code in enumerate(entry.related_codes):
        problem = _relation_problem(entry, heads.get(code))
        if problem:
            violations.append(FieldViolation(f"entry.related_codes[{index}]", f"{code} {problem}"))
    if violations:
        raise ServiceError(
            grpc.StatusCode.FAILED_PRECONDITION, "UNKNOWN_RELATED_ENTRY",
            f"entry {entry.code} version {entry.version} names related entries readers cannot follow: "
            + "; ".join(f"{v.field}: {v.description}" for v in violations)
            + " (correct related_codes with UpdateEntry, then submit again)",
            violations, metadata={"code": entry.code})


def _relation_problem(entry: Entry, head: RelatedHead | None) -> str:
    if head is not None and head.public_state == EntryState.PUBLISHED:
        return ""
    own = head is not None and head.provider_department_code == entry.provider_department_code
    if not own:
        return "is not a published catalog entry"
    if head.latest_state == EntryState.RETIRED:
        return "is retired"
    return ""


def _endpoint_of(target: str, foundation_target: str) -> str:
    """The endpoint a target reaches: "" for the foundation service, however it is named."""
    return "" if not target or target == foundation_target else target


def require_servable(entry: Entry, deployment_zone: str) -> None:
    """R-ZON-2 on reads: to an extranet reader a restricted entry does not exist here (NOT_FOUND, WRONG_ZONE).

    The extranet never stores one (writes are refused), so this only guards against a database shared
    by mistake; NOT_FOUND keeps clients such as the CatalogCache treating it as absent.
    """
    if deployment_zone != "intranet" and entry.restricted:
        raise not_found(f"catalog entry {entry.code} on this {deployment_zone} platform (classified and intranet "
                        "resources are held on the intranet platform only)", reason="WRONG_ZONE")
