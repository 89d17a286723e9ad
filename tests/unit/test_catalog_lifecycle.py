"""Lifecycle transitions, access rules and the zone rule of the catalog, without a server (R-CAT-3, R-ZON-2)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import grpc
import pytest

from services.catalog import lifecycle
from services.catalog.lifecycle import Edit
from services.catalog.model import Entry, EntryHead, EntryState, ProjectStatus, Secrecy, Zone
from services.runtime.errors import ServiceError
from services.runtime.identity import Caller, service_caller

OWNER = "91110000600037341L"
AUTHORITY = Caller("sys-authority", "11100000MB0143820E", authority=True)


def at(state: EntryState, version: int = 1) -> Entry:
    return Entry(code="101001/000001", state=state, version=version)


@pytest.mark.parametrize("state,edit", [(EntryState.DRAFT, Edit.IN_PLACE), (EntryState.RETURNED, Edit.IN_PLACE),
                                        (EntryState.PUBLISHED, Edit.NEW_VERSION)])
def test_edits(state: EntryState, edit: Edit) -> None:
    assert lifecycle.edit_of(at(state)) is edit


@pytest.mark.parametrize("state", [EntryState.SUBMITTED, EntryState.RETIRED, EntryState.SUPERSEDED])
def test_entries_under_review_or_closed_cannot_be_edited(state: EntryState) -> None:
    with pytest.raises(ServiceError) as caught:
        lifecycle.edit_of(at(state, 3))
    error = caught.value
    assert (error.code, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_STATE")
    assert state.name in error.message and error.metadata["state"] == state.name


def test_an_etag_mismatch_says_when_the_entry_changed_in_beijing_time() -> None:
    """The message showed the stored UTC time bare ("last changed 2026-12-02 15:21:05" for a change at 23:21
    Beijing), which an officer in Beijing, reading it in the console's 409, took for the local time."""
    latest = dataclasses.replace(at(EntryState.DRAFT),
                                 update_time=dt.datetime(2026, 12, 2, 15, 21, 5, 123, tzinfo=dt.UTC))
    with pytest.raises(ServiceError) as caught:
        lifecycle.require_etag(latest, "old")
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.ABORTED, "ETAG_MISMATCH")
    assert "last changed 2026-12-02 23:21:05 Beijing time" in caught.value.message, caught.value.message
    lifecycle.require_etag(latest, latest.etag)


def test_require_state_names_the_current_state() -> None:
    lifecycle.require_state(at(EntryState.SUBMITTED), "reviewed", lifecycle.REVIEWABLE)
    with pytest.raises(ServiceError, match="is DRAFT: only SUBMITTED"):
        lifecycle.require_state(at(EntryState.DRAFT), "reviewed", lifecycle.REVIEWABLE)


def test_who_sees_work_in_progress() -> None:
    assert lifecycle.is_privileged(Caller("s1", OWNER), OWNER)
    assert lifecycle.is_privileged(AUTHORITY, OWNER)
    assert lifecycle.is_privileged(service_caller("query"), OWNER)
    assert not lifecycle.is_privileged(Caller("s2", "91350100M000100Y43"), OWNER)
    assert not lifecycle.is_privileged(Caller("s3", ""), "")


def test_departments_act_on_their_own_entries_only() -> None:
    lifecycle.require_provider(Caller("s1", OWNER), OWNER, "101001/000001")
    lifecycle.require_provider(AUTHORITY, OWNER, "101001/000001")
    with pytest.raises(ServiceError) as caught:
        lifecycle.require_provider(Caller("s2", "91350100M000100Y43"), OWNER, "101001/000001")
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_PROVIDER")
    with pytest.raises(ServiceError) as caught:
        lifecycle.require_authority(Caller("s1", OWNER), "review")
    assert caught.value.reason == "NOT_AUTHORITY"


@pytest.mark.parametrize("zone,secrecy", [(Zone.INTRANET, Secrecy.NON_CLASSIFIED), (Zone.INTRANET, Secrecy.CLASSIFIED),
                                          (Zone.EXTRANET, Secrecy.CLASSIFIED)])
def test_the_extranet_holds_no_restricted_entry(zone: Zone, secrecy: Secrecy) -> None:
    restricted = Entry(code="101001/000001", zone=zone, secrecy=secrecy)
    lifecycle.require_zone(restricted, "intranet")
    with pytest.raises(ServiceError) as caught:
        lifecycle.require_zone(restricted, "extranet")
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "WRONG_ZONE")
    lifecycle.require_zone(Entry(zone=Zone.EXTRANET, secrecy=Secrecy.NON_CLASSIFIED), "extranet")
    lifecycle.require_servable(restricted, "intranet")
    with pytest.raises(ServiceError) as caught:
        lifecycle.require_servable(restricted, "extranet")
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.NOT_FOUND, "WRONG_ZONE")


def test_current_version() -> None:
    assert EntryHead("c", OWNER, latest_version=3, public_version=2).current_version(privileged=False) == 2
    assert EntryHead("c", OWNER, latest_version=3, public_version=2).current_version(privileged=True) == 2
    assert EntryHead("c", OWNER, latest_version=1, public_version=None).current_version(privileged=True) == 1
    assert EntryHead("c", OWNER, latest_version=1, public_version=None).current_version(privileged=False) is None


def test_a_project_without_entries_is_not_complete() -> None:
    assert not ProjectStatus("p", 0, 0, []).all_published
    assert ProjectStatus("p", 2, 2, []).all_published
    assert not ProjectStatus("p", 2, 1, ["101001/000001"]).all_published
