"""decide(): every rule of the access decision and every deny reason (R-SHR-1..4, R-USE-1, R-SEC-2, R-ZON-2)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import grpc
import pytest

from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.common.v1 import common_pb2 as common
from services.authorization.decisions import AccessRequest, decide, in_force
from services.authorization.grants import ACTIVE, REVOKED, Grant
from services.runtime.errors import ServiceError

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(seconds=30)
USER = "11110100MB0000007N"
PROVIDER = "11110100MB00000027"
CODE = "101001/000001"
ONLINE = common.SHARE_METHOD_ONLINE_QUERY
DOWNLOAD = common.SHARE_METHOD_BATCH_DOWNLOAD
ADMIN = common.PURPOSE_TYPE_ADMINISTRATIVE_BASIS
WORK = common.PURPOSE_TYPE_WORK_REFERENCE


def _entry(share_type: int = common.SHARE_TYPE_CONDITIONAL, category: int = cat.CATEGORY_FOUNDATION,
           **changes: object) -> cat.Entry:
    items = [
        cat.DataItem(machine_name="citizen_id", sensitive=True, mask_rule="citizen_id", basic=True),
        cat.DataItem(machine_name="name", sensitive=True, mask_rule="name", basic=True),
        cat.DataItem(machine_name="birth_date"),
        cat.DataItem(machine_name="address", sensitive=True, mask_rule="address"),
        cat.DataItem(machine_name="phone", sensitive=True),
        cat.DataItem(machine_name="status"),
    ]
    fields = dict(code=CODE, category=category, provider_department_code=PROVIDER, items=items,
                  share_type=share_type, share_methods=[ONLINE, DOWNLOAD], zone=common.ZONE_EXTRANET,
                  secrecy=cat.SECRECY_NON_CLASSIFIED, state=cat.ENTRY_STATE_PUBLISHED)
    fields.update(changes)
    return cat.Entry(**fields)  # type: ignore[arg-type]


def _grant(**changes: object) -> Grant:
    fields: dict[str, object] = dict(
        id="grt-" + "a" * 32, application_id="app-" + "b" * 32, department_code=USER,
        provider_department_code=PROVIDER, resource_code=CODE, system_ids=(),
        items=("citizen_id", "name", "birth_date", "address", "phone"), unmasked_items=("address",),
        purposes=(ADMIN,), methods=(ONLINE,), expire_time=NOW + dt.timedelta(days=30), quota=500, state=ACTIVE)
    fields.update(changes)
    return Grant(**fields)  # type: ignore[arg-type]


def _request(*items: str, purpose: int = ADMIN, method: int = ONLINE, system: str = "sys-0001aaaa",
             department: str = USER, code: str = CODE) -> AccessRequest:
    return AccessRequest(system_id=system, department_code=department, resource_code=code, purpose=purpose,
                         items=items, method=method)


def _decide(entry: cat.Entry | None, grants: list[Grant], request: AccessRequest, zone: str = "extranet"):  # type: ignore[no-untyped-def]
    return decide(entry, grants, request, NOW, zone, TTL)


def _denied(decision, reason: int) -> None:  # type: ignore[no-untyped-def]
    assert not decision.allowed
    assert decision.deny_reason == reason, common.DenyReason.Name(decision.deny_reason)
    assert decision.message
    assert not decision.allowed_items and not decision.masks and not decision.grant_id
    assert decision.expire_time == NOW + TTL


# Bad input and unknown resources are errors, not decisions.

def test_missing_entry_is_not_found() -> None:
    with pytest.raises(ServiceError) as error:
        _decide(None, [], _request("name"))
    assert error.value.code == grpc.StatusCode.NOT_FOUND


def test_unspecified_purpose_is_invalid() -> None:
    with pytest.raises(ServiceError) as error:
        _decide(_entry(), [_grant()], _request("name", purpose=common.PURPOSE_TYPE_UNSPECIFIED))
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in error.value.violations] == ["purpose"]


def test_unknown_item_is_invalid_and_named() -> None:
    with pytest.raises(ServiceError) as error:
        _decide(_entry(), [_grant()], _request("name", "salary", "Bad-Name"))
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field: v.description for v in error.value.violations}
    assert set(fields) == {"items[1]", "items[2]"}
    assert "salary" in fields["items[1]"]


def test_an_unknown_item_alone_is_invalid_only_once_the_entry_is_usable() -> None:
    with pytest.raises(ServiceError) as error:
        _decide(_entry(), [], _request("salary"))
    assert [v.field for v in error.value.violations] == ["items[0]"]
    # Whoever may not use the entry at all is told that first.
    _denied(_decide(_entry(state=cat.ENTRY_STATE_RETIRED), [], _request("salary")), common.DENY_REASON_NOT_PUBLISHED)


def test_unknown_method_value_is_invalid() -> None:
    with pytest.raises(ServiceError) as error:
        _decide(_entry(), [], _request("name", method=99))
    assert [v.field for v in error.value.violations] == ["method"]


# Entry-level rules.

@pytest.mark.parametrize("state", [cat.ENTRY_STATE_RETIRED, cat.ENTRY_STATE_DRAFT, cat.ENTRY_STATE_SUBMITTED])
def test_unpublished_entry_is_denied(state: int) -> None:
    _denied(_decide(_entry(state=state), [_grant()], _request("birth_date")), common.DENY_REASON_NOT_PUBLISHED)


def test_classified_entry_is_wrong_zone_on_the_extranet_only() -> None:
    classified = _entry(common.SHARE_TYPE_UNCONDITIONAL, secrecy=cat.SECRECY_CLASSIFIED)
    _denied(_decide(classified, [], _request("status")), common.DENY_REASON_WRONG_ZONE)
    assert _decide(classified, [], _request("status"), zone="intranet").allowed


def test_intranet_entry_is_wrong_zone_on_the_extranet() -> None:
    intranet = _entry(common.SHARE_TYPE_UNCONDITIONAL, zone=common.ZONE_INTRANET)
    _denied(_decide(intranet, [], _request("status")), common.DENY_REASON_WRONG_ZONE)


def test_method_the_entry_does_not_offer_is_denied() -> None:
    online_only = _entry(common.SHARE_TYPE_UNCONDITIONAL, share_methods=[ONLINE])
    _denied(_decide(online_only, [], _request("status", method=DOWNLOAD)), common.DENY_REASON_METHOD_NOT_GRANTED)


def test_a_refusal_of_the_resource_itself_names_no_denied_items() -> None:
    """denied_items names the items to ask again without (the ErrorInfo's metadata.denied_items, read by programs
    that narrow their request). A refusal of the resource itself — not published, another network's, a method it
    does not offer, not shared, every grant's quota used — is not about the items: it named every item asked for,
    and a program that left them out asked again for every item it may have and was refused the same."""
    online_only = _entry(common.SHARE_TYPE_UNCONDITIONAL, share_methods=[ONLINE])
    used_up = dataclasses.replace(_request("birth_date", "status"), exclude_grant_ids=frozenset({_grant().id}))
    for decision, reason in (
            (_decide(_entry(state=cat.ENTRY_STATE_RETIRED), [_grant()], _request("birth_date")),
             common.DENY_REASON_NOT_PUBLISHED),
            (_decide(_entry(zone=common.ZONE_INTRANET), [], _request("status")), common.DENY_REASON_WRONG_ZONE),
            (_decide(online_only, [], _request("status", method=DOWNLOAD)), common.DENY_REASON_METHOD_NOT_GRANTED),
            (_decide(_entry(common.SHARE_TYPE_NOT_SHARED), [_grant()], _request("name", "status")),
             common.DENY_REASON_NOT_SHARED),
            (_decide(_entry(), [_grant(items=("birth_date", "status"))], used_up), common.DENY_REASON_QUOTA_EXHAUSTED)):
        _denied(decision, reason)
        assert decision.denied_items == (), common.DenyReason.Name(reason)
    # A refusal of the items still names them.
    assert _decide(_entry(), [], _request("name", "status")).denied_items == ("status",)


def test_unspecified_method_means_online_query() -> None:
    online_only = _entry(common.SHARE_TYPE_UNCONDITIONAL, share_methods=[ONLINE])
    assert _decide(online_only, [], _request("status", method=common.SHARE_METHOD_UNSPECIFIED)).allowed


# Unconditional (R-SHR-1).

def test_unconditional_allows_every_requested_item_with_masks() -> None:
    decision = _decide(_entry(common.SHARE_TYPE_UNCONDITIONAL), [], _request("name", "status", "phone"))
    assert decision.allowed
    assert decision.allowed_items == ("name", "status", "phone")
    assert dict(decision.masks) == {"name": "name", "phone": "full"}
    assert decision.expire_time == NOW + TTL
    assert decision.grant_id == "" and decision.quota == 0 and not decision.denied_items


def test_unconditional_empty_request_means_every_item() -> None:
    decision = _decide(_entry(common.SHARE_TYPE_UNCONDITIONAL), [], _request())
    assert decision.allowed_items == ("citizen_id", "name", "birth_date", "address", "phone", "status")


# Conditional (R-SHR-2, R-SHR-4, R-USE-1).

def test_basic_items_of_a_foundation_entry_need_no_grant() -> None:
    decision = _decide(_entry(), [], _request("citizen_id", "name"))
    assert decision.allowed and decision.allowed_items == ("citizen_id", "name")
    assert dict(decision.masks) == {"citizen_id": "citizen_id", "name": "name"}
    assert decision.grant_id == ""


def test_basic_items_of_a_non_foundation_entry_need_a_grant() -> None:
    _denied(_decide(_entry(category=cat.CATEGORY_THEME), [], _request("name")), common.DENY_REASON_NOT_GRANTED)


def test_conditional_without_grant_is_not_granted_and_says_how_to_apply() -> None:
    decision = _decide(_entry(), [], _request("birth_date"))
    _denied(decision, common.DENY_REASON_NOT_GRANTED)
    assert "SubmitApplication" in decision.message
    assert decision.denied_items == ("birth_date",)


def test_a_refusal_of_basic_and_other_items_names_the_items_that_need_a_grant() -> None:
    """Asked for two basic items and one other, the refusal said only "your department has no grant" and listed
    all three as denied: the caller could not tell that the basic two need no grant."""
    decision = _decide(_entry(), [], _request("citizen_id", "name", "birth_date"))
    _denied(decision, common.DENY_REASON_NOT_GRANTED)
    assert decision.denied_items == ("birth_date",)
    assert decision.message.startswith(f"items birth_date of resource {CODE} need a grant (only its basic items "
                                       "citizen_id, name are shared without one); your department has no grant")
    assert "SubmitApplication" in decision.message
    expired = _decide(_entry(), [_grant(expire_time=NOW - dt.timedelta(days=1))],
                      _request("name", "phone", "status"))
    _denied(expired, common.DENY_REASON_EXPIRED)
    assert expired.denied_items == ("phone", "status") and "items phone, status of resource" in expired.message


def test_empty_request_without_grant_gets_only_the_basic_items() -> None:
    decision = _decide(_entry(), [], _request())
    assert decision.allowed and decision.allowed_items == ("citizen_id", "name")
    assert decision.denied_items == ("birth_date", "address", "phone", "status")
    assert "SubmitApplication" in decision.message


def test_grant_allows_items_with_masks_quota_and_capped_expiry() -> None:
    decision = _decide(_entry(), [_grant()], _request("citizen_id", "birth_date", "address", "phone"))
    assert decision.allowed
    assert decision.allowed_items == ("citizen_id", "birth_date", "address", "phone")
    # address is unmasked by the grant; phone has no rule, so it is fully masked.
    assert dict(decision.masks) == {"citizen_id": "citizen_id", "phone": "full"}
    assert decision.grant_id == _grant().id and decision.quota == 500
    assert decision.expire_time == NOW + TTL


def test_decision_expires_with_a_grant_that_ends_sooner_than_the_ttl() -> None:
    ending = NOW + dt.timedelta(seconds=5)
    assert _decide(_entry(), [_grant(expire_time=ending)], _request("birth_date")).expire_time == ending


def test_empty_request_under_a_grant_means_the_grant_items_plus_basic_ones() -> None:
    decision = _decide(_entry(), [_grant(items=("birth_date", "status"))], _request())
    assert decision.allowed_items == ("citizen_id", "name", "birth_date", "status")


def test_a_grant_of_basic_items_alone_serves_no_request_naming_no_items() -> None:
    """A grant giving nothing beyond the basic items was chosen for a request naming no items (counted against its
    quota for what any department gets free), and chosen over a grant of status, address and phone because citizen_id
    and name counted in its width: the answer left out the items the other grant gives."""
    basic_only = _grant(id="grt-" + "c" * 32, items=("citizen_id", "name"), unmasked_items=())
    alone = _decide(_entry(), [basic_only], _request())
    assert alone.allowed_items == ("citizen_id", "name") and not alone.grant_id and not alone.quota
    wide = _grant(id="grt-" + "d" * 32, items=("citizen_id", "name", "birth_date"), unmasked_items=())
    wider = _grant(id="grt-" + "e" * 32, items=("address", "phone", "status"), unmasked_items=())
    decision = _decide(_entry(), [wide, wider], _request())
    assert decision.grant_id == wider.id
    assert decision.allowed_items == ("citizen_id", "name", "address", "phone", "status")


def test_a_grant_unmasking_basic_items_serves_a_request_of_basic_items_alone() -> None:
    """A provider approved citizen_id and name unmasked (a social-security system needs the whole ID number), yet a
    query of citizen_id or name alone, or naming no items under a grant of basic items only, came back masked: basic
    items were answered as without a grant, and the grant unmasked them only beside a non-basic item (birth_date).
    The grant unmasking the most of them serves now (counted against its quota, named in the decision); a grant for
    another purpose, method or system, a revoked or used-up one, or one unmasking nothing still leaves them masked
    and uncounted, as without a grant."""
    whole = _grant(id="grt-" + "c" * 32, items=("citizen_id", "name"), unmasked_items=("citizen_id",))
    for request in (_request("citizen_id"), _request("citizen_id", "name"), _request()):
        decision = _decide(_entry(), [whole], request)
        assert decision.allowed and decision.grant_id == whole.id and decision.quota == 500, request
        assert dict(decision.masks) == ({"name": "name"} if "name" in decision.allowed_items else {}), request
    wider = _grant(id="grt-" + "d" * 32, items=("citizen_id", "name"), unmasked_items=("citizen_id", "name"),
                   expire_time=NOW + dt.timedelta(days=1))
    assert _decide(_entry(), [whole, wider], _request("citizen_id", "name")).grant_id == wider.id
    assert _decide(_entry(), [whole, wider], _request("citizen_id")).grant_id == whole.id  # the longer-lived
    masked = {"citizen_id": "citizen_id"}
    for grants, request in (([whole], _request("citizen_id", purpose=WORK)),
                            ([whole], _request("citizen_id", method=DOWNLOAD)),
                            ([dataclasses.replace(whole, system_ids=("sys-0002bbbb",))], _request("citizen_id")),
                            ([dataclasses.replace(whole, state=REVOKED)], _request("citizen_id")),
                            ([whole], dataclasses.replace(_request("citizen_id"),
                                                          exclude_grant_ids=frozenset({whole.id}))),
                            ([_grant(items=("citizen_id", "name"), unmasked_items=())], _request("citizen_id"))):
        decision = _decide(_entry(), grants, request)
        assert decision.allowed and dict(decision.masks) == masked, request
        assert not decision.grant_id and not decision.quota, request


def test_items_beyond_the_grant_are_listed() -> None:
    decision = _decide(_entry(), [_grant(items=("birth_date",))], _request("name", "birth_date", "status", "phone"))
    _denied(decision, common.DENY_REASON_ITEM_NOT_GRANTED)
    assert decision.denied_items == ("status", "phone")


def test_another_grant_covering_the_items_is_used() -> None:
    narrow = _grant(items=("birth_date",))
    wide = _grant(id="grt-" + "c" * 32, items=("birth_date", "status"), quota=0)
    decision = _decide(_entry(), [narrow, wide], _request("birth_date", "status"))
    assert decision.allowed and decision.grant_id == wide.id and decision.quota == 0


def test_a_grant_whose_quota_query_found_used_up_gives_way_to_another_that_covers_the_request() -> None:
    """Query counts quotas; the decision picks by items and term. A department that applied again after its wider
    grant's quota ran out must be served by the new grant once query says the old one is used up."""
    wide = _grant(items=("birth_date", "status"), quota=1)
    again = _grant(id="grt-" + "c" * 32, items=("birth_date",), quota=100, expire_time=NOW + dt.timedelta(days=5))
    assert _decide(_entry(), [wide, again], _request("birth_date")).grant_id == wide.id
    instead = _decide(_entry(), [wide, again], dataclasses.replace(_request("birth_date"),
                                                                  exclude_grant_ids=frozenset({wide.id})))
    assert instead.allowed and instead.grant_id == again.id and instead.quota == 100
    # The other grant must cover the request: one that does not leaves the items refused as not granted.
    narrower = _decide(_entry(), [wide, again], dataclasses.replace(_request("birth_date", "status"),
                                                                   exclude_grant_ids=frozenset({wide.id})))
    _denied(narrower, common.DENY_REASON_ITEM_NOT_GRANTED)
    every = _decide(_entry(), [wide, again], dataclasses.replace(
        _request("birth_date"), exclude_grant_ids=frozenset({wide.id, again.id})))
    _denied(every, common.DENY_REASON_QUOTA_EXHAUSTED)
    assert "has used up its call quota" in every.message


def test_more_used_up_grants_than_a_department_could_hold_is_a_malformed_check() -> None:
    request = dataclasses.replace(_request("birth_date"),
                                  exclude_grant_ids=frozenset(f"grt-{i:032d}" for i in range(17)))
    with pytest.raises(ServiceError) as error:
        _decide(_entry(), [_grant()], request)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 16 grants, got 17" in str(error.value)


def test_purpose_outside_the_grant_is_denied() -> None:
    _denied(_decide(_entry(), [_grant()], _request("birth_date", purpose=WORK)),
            common.DENY_REASON_PURPOSE_NOT_GRANTED)


def test_method_outside_the_grant_is_denied() -> None:
    _denied(_decide(_entry(), [_grant()], _request("birth_date", method=DOWNLOAD)),
            common.DENY_REASON_METHOD_NOT_GRANTED)


def test_grant_limited_to_other_systems_is_denied() -> None:
    grant = _grant(system_ids=("sys-other001",))
    _denied(_decide(_entry(), [grant], _request("birth_date")), common.DENY_REASON_SYSTEM_NOT_GRANTED)
    assert _decide(_entry(), [grant], _request("birth_date", system="sys-other001")).allowed


def test_revoked_grant_and_nothing_else_is_revoked() -> None:
    """The refusal names the grant and why it was revoked (it said "your grant … was revoked", which one and why
    left to find), the latest of several."""
    older = _grant(id="grt-" + "c" * 32, state=REVOKED, create_time=NOW - dt.timedelta(days=9), revoke_reason="旧")
    revoked = _grant(state=REVOKED, create_time=NOW - dt.timedelta(days=2), revoke_reason="项目结束")
    decision = _decide(_entry(), [revoked, older], _request("birth_date"))
    _denied(decision, common.DENY_REASON_REVOKED)
    assert f"your grant {revoked.id} for resource {CODE} was revoked (项目结束): a revoked grant is final; apply " \
           "through SharingService.SubmitApplication again" in decision.message, decision.message


def test_expired_grant_is_expired() -> None:
    """The refusal says its provider may extend it, as it may (UpdateGrant on an expired grant): it said only to
    apply again, a new application's review for what an adjustment gives back."""
    expired = _grant(expire_time=NOW - dt.timedelta(seconds=1))
    decision = _decide(_entry(), [expired], _request("birth_date"))
    _denied(decision, common.DENY_REASON_EXPIRED)
    # In Beijing time, as 有效期至 shows the term, not the UTC instant (08:59:59+00:00) read as another hour.
    assert f"your grant {expired.id} for resource {CODE} expired at 2026-03-02T16:59:59+08:00 (有效期至 " \
           "2026-03-02 16:59:59): ask the provider department to extend it (SharingService.UpdateGrant, a later " \
           "expire_time)" in decision.message
    _denied(_decide(_entry(), [expired, _grant(id="grt-" + "d" * 32, state=REVOKED)], _request("birth_date")),
            common.DENY_REASON_EXPIRED)


def test_a_live_grant_wins_over_revoked_and_expired_ones() -> None:
    grants = [_grant(id="grt-" + "e" * 32, state=REVOKED), _grant(id="grt-" + "f" * 32, expire_time=NOW), _grant()]
    decision = _decide(_entry(), grants, _request("birth_date"))
    assert decision.allowed and decision.grant_id == _grant().id


def _relisted(entry: cat.Entry, *items: str) -> cat.Entry:
    """``entry`` with ``items`` dropped and added back by a catalogue update published yesterday."""
    for item in entry.items:
        if item.machine_name in items:
            item.listed_since.FromDatetime(NOW - dt.timedelta(days=1))
    return entry


def test_a_grant_whose_every_item_was_dropped_and_added_back_serves_nothing() -> None:
    """Its items in force were none, yet it was live: a request naming no items was allowed under it (the basic
    items, or none at all on a resource without basic items, its id and quota in the decision, so query counted the
    call), though it covers nothing. It is GRANT_LAPSED, before an older grant's expiry."""
    old = _grant(items=("birth_date", "address"), create_time=NOW - dt.timedelta(days=10))
    entry = _relisted(_entry(), "birth_date", "address")
    decision = _decide(entry, [old], _request())
    assert decision.allowed and decision.allowed_items == ("citizen_id", "name") and not decision.grant_id
    assert not decision.quota and f"every item of your grant {old.id}" in decision.message
    refused = _decide(entry, [old], _request("name", "birth_date"))
    _denied(refused, common.DENY_REASON_GRANT_LAPSED)
    assert refused.denied_items == ("birth_date",) and "(birth_date, address) was dropped" in refused.message
    expired = _grant(id="grt-" + "c" * 32, expire_time=NOW - dt.timedelta(days=1))
    _denied(_decide(entry, [expired, old], _request("status")), common.DENY_REASON_GRANT_LAPSED)
    department = _relisted(_entry(category=cat.CATEGORY_DEPARTMENT), "birth_date", "address")
    _denied(_decide(department, [old], _request()), common.DENY_REASON_GRANT_LAPSED)
    # One item kept: the grant serves it, as before.
    kept = _relisted(_entry(), "address")
    assert _decide(kept, [old], _request()).grant_id == old.id


def test_an_item_of_a_lapsed_grant_is_said_dropped_and_added_back_beside_another_live_grant() -> None:
    """A department with a grant for birth_date (dropped and added back since, so it serves nothing) and another
    for status asked for birth_date and was told to have the status grant widened, not that its birth_date grant no
    longer covers the item as it is now."""
    old = _grant(items=("birth_date",), unmasked_items=(), create_time=NOW - dt.timedelta(days=10))
    other = _grant(id="grt-" + "c" * 32, items=("status",), unmasked_items=(), create_time=NOW)
    decision = _decide(_relisted(_entry(), "birth_date"), [old, other], _request("birth_date"))
    _denied(decision, common.DENY_REASON_ITEM_NOT_GRANTED)
    assert f"added back after grant {old.id} was made" in decision.message, decision.message


def test_a_grant_whose_every_item_the_catalog_dropped_serves_nothing() -> None:
    """The same of items dropped and not added back: the grant still served a request naming no items, with the
    basic items under it (counted), or with no item at all on a resource without basic items."""
    grant = _grant(items=("birth_date", "address"), unmasked_items=("address",))

    def without(entry: cat.Entry, *dropped: str) -> cat.Entry:
        kept = [item for item in entry.items if item.machine_name not in dropped]
        del entry.items[:]
        entry.items.extend(kept)
        return entry

    entry = without(_entry(), "birth_date", "address")
    decision = _decide(entry, [grant], _request())
    assert decision.allowed_items == ("citizen_id", "name") and not decision.grant_id and not decision.quota
    _denied(_decide(entry, [grant], _request("status")), common.DENY_REASON_GRANT_LAPSED)
    _denied(_decide(without(_entry(category=cat.CATEGORY_DEPARTMENT), "birth_date", "address"), [grant],
                    _request()), common.DENY_REASON_GRANT_LAPSED)
    shown = in_force(grant, without(_entry(), "address"))
    assert (shown.items, shown.unmasked_items, shown.lapsed_items) == (("birth_date",), (), ("address",))
    assert _decide(without(_entry(), "address"), [grant], _request()).grant_id == grant.id


def test_grants_of_other_departments_or_resources_do_not_count() -> None:
    others = [_grant(department_code=PROVIDER), _grant(resource_code="101001/000002")]
    _denied(_decide(_entry(), others, _request("birth_date")), common.DENY_REASON_NOT_GRANTED)


# Not shared (R-SHR-3).

def test_not_shared_is_refused_even_for_basic_items() -> None:
    decision = _decide(_entry(common.SHARE_TYPE_NOT_SHARED), [_grant()], _request("name"))
    _denied(decision, common.DENY_REASON_NOT_SHARED)
    assert "coordination" in decision.message


def test_not_shared_opened_by_a_coordination_grant_acts_as_conditional() -> None:
    entry = _entry(common.SHARE_TYPE_NOT_SHARED)
    coordinated = _grant(coordinated=True)
    assert _decide(entry, [coordinated], _request("birth_date")).allowed
    _denied(_decide(entry, [coordinated], _request("birth_date", purpose=WORK)),
            common.DENY_REASON_PURPOSE_NOT_GRANTED)
    _denied(_decide(entry, [dataclasses.replace(coordinated, state=REVOKED)], _request("birth_date")),
            common.DENY_REASON_REVOKED)


def test_not_shared_entry_without_methods_leaves_them_to_the_coordination_grant() -> None:
    entry = _entry(common.SHARE_TYPE_NOT_SHARED, share_methods=[])
    assert _decide(entry, [_grant(coordinated=True)], _request("birth_date")).allowed
    _denied(_decide(entry, [_grant(coordinated=True)], _request("birth_date", method=DOWNLOAD)),
            common.DENY_REASON_METHOD_NOT_GRANTED)
