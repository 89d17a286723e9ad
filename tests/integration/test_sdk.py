"""The client SDK against the real platform: edge, services, PostgreSQL and Redis over real sockets.

The SDK is synchronous and the platform serves from this test's event loop, so each SDK session runs in a
worker thread (``asyncio.to_thread``) while the loop keeps serving.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from stalling_proxy import StallingProxy

import govshare_client.client
from govshare_client import (
    AsyncClient,
    Client,
    Export,
    ExportRow,
    GovshareError,
    InvalidArgument,
    PermissionDenied,
    Purpose,
    Unauthenticated,
    VerifyOutcome,
)
from govshare_client.pb.catalog.v1 import catalog_pb2, catalog_pb2_grpc
from services.foundation.synthetic import citizen_id_of, credit_code_of, entity, person
from services.runtime.identity import Caller
from services.runtime.tokens import issue_token

pytestmark = pytest.mark.integration

POPULATION = "101001/000001"  # conditional; citizen_id and name are basic (unconditional) items
ENTITIES = "102001/000001"  # unconditional, online + batch download
PLACES = "103002/000001"  # unconditional, online only
SYSTEM = "resources"  # 市自然资源和规划局: no test of the session grants it population data
T = TypeVar("T")


async def _with_client(platform, work: Callable[[Client], T], system: str = SYSTEM) -> T:  # type: ignore[no-untyped-def]
    entry = platform.credentials.systems[system]

    def run() -> T:
        with Client(platform.gateway, entry["system_id"], entry["secret"], plaintext=True) as client:
            return work(client)

    return await asyncio.to_thread(run)


async def test_query_returns_granted_items_masked_with_provenance(platform) -> None:  # type: ignore[no-untyped-def]
    company = entity(0)
    answer = await _with_client(platform, lambda c: c.query(
        ENTITIES, credit_code_of(0), ["name", "status", "legal_representative"], purpose=Purpose.WORK_REFERENCE,
        purpose_text="窗口受理 2026-001"))
    assert answer.values["name"] == company["name"]
    assert answer.values["status"] == company["status"]
    assert "legal_representative" in answer.masked_items
    assert answer.values["legal_representative"] != company["legal_representative"]
    assert answer.provenance.provider_department_code == platform.credentials.systems["market"]["department"]
    assert answer.provenance.as_of_time is not None
    assert answer.audit_id


async def test_batch_query_answers_each_key(platform) -> None:  # type: ignore[no-untyped-def]
    keys = [credit_code_of(0), credit_code_of(1), credit_code_of(0)[:17] + "?"]
    batch = await _with_client(platform, lambda c: c.batch_query(ENTITIES, keys, ["name"], purpose="work_reference"))
    assert [item.key for item in batch.items] == keys
    assert [item.found for item in batch.items] == [True, True, False]
    assert batch.items[1].values["name"] == entity(1)["name"]
    assert batch.items[2].error


async def test_verify_says_match_and_mismatch_never_the_data(platform) -> None:  # type: ignore[no-untyped-def]
    someone = person(0)
    claims = {"name": someone["name"], "citizen_id": citizen_id_of(0)}
    right = await _with_client(platform, lambda c: c.verify(POPULATION, citizen_id_of(0), claims))
    wrong = await _with_client(platform, lambda c: c.verify(POPULATION, citizen_id_of(0), {"name": "不是此人"}))
    assert right.outcomes == {"name": VerifyOutcome.MATCH, "citizen_id": VerifyOutcome.MATCH}
    assert wrong.outcomes == {"name": VerifyOutcome.MISMATCH}


async def test_a_refused_query_raises_permission_denied_not_granted(platform) -> None:  # type: ignore[no-untyped-def]
    """Beyond the basic items, the population resource needs an approved application."""
    with pytest.raises(PermissionDenied) as refused:
        await _with_client(platform, lambda c: c.query(POPULATION, citizen_id_of(0), ["citizen_id", "birth_date"],
                                                       purpose="administrative_basis", purpose_text="低保审核"))
    assert refused.value.reason == "NOT_GRANTED"
    assert refused.value.domain.startswith("query")
    assert citizen_id_of(0) not in str(refused.value)


async def test_an_invalid_key_raises_invalid_argument_naming_key(platform) -> None:  # type: ignore[no-untyped-def]
    good = citizen_id_of(0)
    bad = good[:17] + ("0" if good[17] != "0" else "1")  # a wrong check character
    with pytest.raises(InvalidArgument) as invalid:
        await _with_client(platform, lambda c: c.query(POPULATION, bad, ["name"], purpose="work_reference"))
    assert [field for field, _ in invalid.value.field_violations] == ["key"]


async def test_export_streams_rows_and_a_refusal_raises(platform) -> None:  # type: ignore[no-untyped-def]
    def whole(client: Client) -> tuple[list[ExportRow], Export]:
        export = client.export(ENTITIES, ["credit_code", "name"], purpose="work_reference")
        return list(export), export

    rows, export = await _with_client(platform, whole)
    # What the stream's last message says: whole, every row counted, none left out; and its access record.
    assert (export.complete, export.row_count, export.skipped_count) == (True, len(rows), 0)
    assert export.audit_id
    by_key = {row.key: row for row in rows}
    assert by_key[credit_code_of(0)].values == {"credit_code": credit_code_of(0), "name": entity(0)["name"]}
    assert all(row.as_of_time is not None for row in rows)
    with pytest.raises(PermissionDenied) as refused:  # 标准地名地址 offers online query only
        await _with_client(platform, lambda c: list(c.export(PLACES, purpose="work_reference")))
    assert refused.value.reason == "METHOD_NOT_GRANTED"

    entry = platform.credentials.systems[SYSTEM]
    async with AsyncClient(platform.gateway, entry["system_id"], entry["secret"], plaintext=True) as client:
        aexport = client.export(ENTITIES, ["name"], purpose="work_reference")
        streamed = [row.key async for row in aexport]
        with pytest.raises(PermissionDenied):
            [row async for row in client.export(PLACES, purpose="work_reference")]
    assert set(streamed) == set(by_key)
    assert (aexport.complete, aexport.row_count, aexport.skipped_count) == (True, len(rows), 0)


async def test_raw_stubs_carry_the_token(platform) -> None:  # type: ignore[no-untyped-def]
    response = await _with_client(platform, lambda c: c.stub(catalog_pb2_grpc.CatalogServiceStub).GetEntry(
        catalog_pb2.GetEntryRequest(code=ENTITIES)))
    assert response.entry.code == ENTITIES


async def test_a_token_the_edge_finds_expired_is_renewed_and_the_call_answered(platform) -> None:  # type: ignore[no-untyped-def]
    entry = platform.credentials.systems[SYSTEM]
    expired = issue_token(platform.settings["authorization"].token_private_key,
                          Caller(entry["system_id"], entry["department"]), -60).token

    def run(client: Client) -> str:
        client.query(ENTITIES, credit_code_of(0), ["name"], purpose="work_reference")
        client._tokens._token = expired  # as if the held token had expired on the way (clock skew, a long pause)
        return client.query(ENTITIES, credit_code_of(0), ["name"], purpose="work_reference").values["name"]

    assert await _with_client(platform, run) == entity(0)["name"]


async def test_a_wrong_secret_is_unauthenticated(platform) -> None:  # type: ignore[no-untyped-def]
    entry = platform.credentials.systems[SYSTEM]

    def run() -> None:
        with Client(platform.gateway, entry["system_id"], "not-the-secret", plaintext=True) as client:
            client.query(ENTITIES, credit_code_of(0), purpose="work_reference")

    with pytest.raises(Unauthenticated):
        await asyncio.to_thread(run)


async def test_a_connection_dropped_on_the_way_without_a_word_is_found_dead_and_replaced(  # type: ignore[no-untyped-def]
        platform, monkeypatch: pytest.MonkeyPatch) -> None:
    """A firewall or NAT that drops a business system's idle session to the edge closes nothing: the client's
    connection looked open, every call on it waited its whole deadline and raised DeadlineExceeded (retried by
    nobody), and so did every later call, for as long as the socket lived. The client now pings its connection, with
    calls or without, and replaces one that does not answer; Client and AsyncClient alike. The pings' period and
    timeout are shortened here (30 s and 10 s by default)."""
    monkeypatch.setattr(govshare_client.client, "KEEPALIVE_SECONDS", 1.0, raising=False)
    monkeypatch.setattr(govshare_client.client, "KEEPALIVE_TIMEOUT_SECONDS", 1.0, raising=False)
    entry = platform.credentials.systems[SYSTEM]

    def query(client: Client) -> str:
        return client.query(ENTITIES, credit_code_of(0), ["name"], purpose="work_reference").values["name"]

    async with StallingProxy(platform.gateway) as proxy:
        client = Client(proxy.address, entry["system_id"], entry["secret"], plaintext=True)
        try:
            assert await asyncio.to_thread(query, client) == entity(0)["name"]
            proxy.stall()
            assert await proxy.given_up(), "the Client never found its stalled connection dead"
            assert await asyncio.to_thread(query, client) == entity(0)["name"]
        finally:
            client.close()
    async with StallingProxy(platform.gateway) as proxy, AsyncClient(
            proxy.address, entry["system_id"], entry["secret"], plaintext=True) as aclient:
        assert (await aclient.query(ENTITIES, credit_code_of(0), ["name"], purpose="work_reference")).values
        proxy.stall()
        assert await proxy.given_up(), "the AsyncClient never found its stalled connection dead"
        answer = await aclient.query(ENTITIES, credit_code_of(0), ["name"], purpose="work_reference")
        assert answer.values["name"] == entity(0)["name"]


async def test_the_async_client_queries_and_is_refused_alike(platform) -> None:  # type: ignore[no-untyped-def]
    entry = platform.credentials.systems[SYSTEM]
    async with AsyncClient(platform.gateway, entry["system_id"], entry["secret"], plaintext=True) as client:
        answer = await client.query(ENTITIES, credit_code_of(0), ["name"], purpose="work_reference")
        with pytest.raises(PermissionDenied) as refused:
            await client.query(POPULATION, citizen_id_of(0), ["birth_date"], purpose="administrative_basis")
    assert answer.values == {"name": entity(0)["name"]}
    assert refused.value.reason == "NOT_GRANTED"


def _docs_error_snippet() -> str:
    """docs/api.md's example of catching the SDK's errors (the Python block that starts with their import)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(from govshare_client import InvalidArgument, PermissionDenied\n.*?)```", text,
                      re.DOTALL)
    assert match, "docs/api.md has no block catching PermissionDenied and InvalidArgument"
    return match.group(1)


async def test_the_docs_error_example_meets_the_refusals_its_comments_name(platform) -> None:  # type: ignore[no-untyped-def]
    """The example says its query is refused NOT_GRANTED without a grant, and INVALID_ARGUMENT on ``key`` for a
    wrong check character. Asked without items, the query was answered instead (the basic items of a
    conditional resource are shared with every department): its PermissionDenied branch could not be reached."""
    snippet = _docs_error_snippet().replace("...", "raise")  # each branch hands back what it caught

    def run(key: str) -> Callable[[Client], GovshareError | None]:
        def caught(client: Client) -> GovshareError | None:
            try:
                exec(snippet, {"client": client, "key": key})  # the documentation's own code
            except GovshareError as error:
                return error
            return None
        return caught

    valid = citizen_id_of(0)
    refused = await _with_client(platform, run(valid))  # SYSTEM has no grant for population data
    bad = await _with_client(platform, run(valid[:-1] + ("1" if valid[-1] != "1" else "2")))
    assert isinstance(refused, PermissionDenied) and refused.reason == "NOT_GRANTED"
    assert isinstance(bad, InvalidArgument) and bad.field_violations[0][0] == "key"
    assert "check character" in bad.field_violations[0][1]


async def test_a_token_issued_ahead_of_a_services_clock_is_unavailable_and_said_in_its_log(  # type: ignore[no-untyped-def]
        platform, caplog: pytest.LogCaptureFixture) -> None:
    """A host whose clock lags the authorization service's by more than the 5 s tolerated refused every token the
    platform issued UNAUTHENTICATED "bearer token is invalid (issued in the future)": the caller was told its
    credentials were wrong (the SDK's new token refused alike, the console signing the person out), and nothing
    in the service's log told the operator. The token's signature is the platform's, so the fault is the hosts'
    clocks: UNAVAILABLE CLOCK_SKEW (another replica answers the retry), said in the log once a minute."""
    import time

    import grpc

    from services.runtime.errors import details_of

    entry = platform.credentials.systems[SYSTEM]
    # As the authorization service issues it when its clock runs 30 s ahead of the catalog's.
    ahead = issue_token(platform.settings["authorization"].token_private_key,
                        Caller(entry["system_id"], entry["department"]), 600, not_before=int(time.time()) + 30).token
    stub = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    caplog.set_level("WARNING", logger="services.runtime.tokens")
    for _ in range(2):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetEntry(catalog_pb2.GetEntryRequest(code=ENTITIES),
                                metadata=(("authorization", f"Bearer {ahead}"),))
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE, refused.value.details()
        info, _ = details_of(refused.value)
        assert info is not None and info.reason == "CLOCK_SKEW"
        assert re.fullmatch(r"the bearer token was issued (29|30) s ahead of this service's clock \(more than the 5 s "
                            r"tolerated\): the platform's hosts disagree on the time, which its operators correct; "
                            r"retry with backoff", refused.value.details()), refused.value.details()
    said = [r.getMessage() for r in caplog.records if r.name == "services.runtime.tokens"]
    assert len(said) == 1, said
    assert "this host's clock lags the authorization service's; correct the time of the platform's hosts (NTP)" \
        in said[0]
