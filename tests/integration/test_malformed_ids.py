"""An id that cannot be an id at all is bad input, named; a well-formed id of nothing is NOT_FOUND.

The authorization service answered NOT_FOUND "application 'x' not found" for GetApplication with a name or a
resource code where the application's id goes (and so for grants, systems and persons): a business system's
developer looked for a record that was deleted, not for the wrong field they sent.
"""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from govshare.authorization.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    roles_pb2,
    roles_pb2_grpc,
    sharing_pb2,
    sharing_pb2_grpc,
)
from services.runtime.duties import ADMINISTRATOR
from services.runtime.errors import details_of

pytestmark = pytest.mark.integration

_CALLS = {
    # RPC: (call(platform, id), the field named)
    "GetApplication": (lambda p, i: sharing_pb2_grpc.SharingServiceStub(p.channel).GetApplication(
        sharing_pb2.GetApplicationRequest(id=i), metadata=p.metadata("authority"), timeout=10), "id"),
    "GetGrant": (lambda p, i: sharing_pb2_grpc.SharingServiceStub(p.channel).GetGrant(
        sharing_pb2.GetGrantRequest(id=i), metadata=p.metadata("authority"), timeout=10), "id"),
    "RevokeGrant": (lambda p, i: sharing_pb2_grpc.SharingServiceStub(p.channel).RevokeGrant(
        sharing_pb2.RevokeGrantRequest(id=i, reason="测试"), metadata=p.metadata("authority"), timeout=10), "id"),
    "UpdateGrant": (lambda p, i: sharing_pb2_grpc.SharingServiceStub(p.channel).UpdateGrant(
        sharing_pb2.UpdateGrantRequest(grant=sharing_pb2.Grant(id=i, quota=5)), metadata=p.metadata("authority"),
        timeout=10), "grant.id"),
    "GetSystem": (lambda p, i: directory_pb2_grpc.DirectoryServiceStub(p.channel).GetSystem(
        directory_pb2.GetSystemRequest(id=i), metadata=p.metadata("authority"), timeout=10), "id"),
    "GetPerson": (lambda p, i: persons_pb2_grpc.PersonServiceStub(p.channel).GetPerson(
        persons_pb2.GetPersonRequest(id=i), metadata=p.person("authority", ADMINISTRATOR), timeout=10), "id"),
    "RevokeSystemRole": (lambda p, i: roles_pb2_grpc.RoleServiceStub(p.channel).RevokeSystemRole(
        roles_pb2.RevokeSystemRoleRequest(system_id=i, role=roles_pb2.SYSTEM_ROLE_SUBJECT_ACCESS_PORTAL),
        metadata=p.person("authority", ADMINISTRATOR), timeout=10), "system_id"),
}
_WELL_FORMED = {"GetPerson": "psn-" + "0" * 16, "RevokeSystemRole": "sys-0000000000000000",
                "GetApplication": "app-" + "0" * 32, "GetGrant": "grt-" + "0" * 32, "RevokeGrant": "grt-" + "0" * 32,
                "UpdateGrant": "grt-" + "0" * 32, "GetSystem": "sys-0000000000000000"}


@pytest.mark.parametrize("rpc", sorted(_CALLS))
async def test_a_malformed_id_is_invalid_argument_naming_the_field(platform, rpc: str) -> None:  # type: ignore[no-untyped-def]
    call, field = _CALLS[rpc]
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await call(platform, "101001/000001")
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT, malformed.value.details()
    _, bad = details_of(malformed.value)
    assert [v.field for v in bad.field_violations] == [field]
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await call(platform, _WELL_FORMED[rpc])
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND, unknown.value.details()


@pytest.mark.parametrize(("rpc", "sent", "said"), [
    ("GetGrant", "grt-" + "0" * 16, "after 'grt-' come 32 lower-case hex digits; this one has 16 (cut short?)"),
    ("GetApplication", "APP-" + "0A" * 16, "after 'app-' come 32 lower-case hex digits; write it in lower case"),
    ("GetSystem", "sys-ab_c", "after 'sys-' come 4 to 64 lower-case letters and digits; its character 7 is '_'"),
    ("GetPerson", "psn-" + "0" * 17, "after 'psn-' come 16 lower-case hex digits; this one has 17 (joined to more?)"),
])
async def test_an_id_that_begins_as_one_but_is_not_one_is_told_what_differs(  # type: ignore[no-untyped-def]
        platform, rpc: str, sent: str, said: str) -> None:
    """A grant id cut short by a copy (or a line break in a mail), upper-cased by a system that stores ids so, or
    with a character changed was told "… is not a well-formed grant id: pass the id the platform returned (it begins
    'grt-')", of an id that begins so: nothing said what was wrong with it. The refusal now says what follows the
    prefix and what differs."""
    call, field = _CALLS[rpc]
    with pytest.raises(grpc.aio.AioRpcError) as malformed:
        await call(platform, sent)
    assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT, malformed.value.details()
    _, bad = details_of(malformed.value)
    assert [v.field for v in bad.field_violations] == [field]
    assert said in bad.field_violations[0].description, bad.field_violations[0].description
    assert "it begins" not in bad.field_violations[0].description


async def test_a_citizen_id_sent_where_an_id_goes_is_masked_in_the_refusal_and_every_log(  # type: ignore[no-untyped-def]
        platform, span_exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture) -> None:
    """The refusal quotes the value sent, and a 公民身份号码 is what an 审批人 pastes into a person's id by mistake:
    the reply, the service's span (its status) and its log lines hold it masked, as the console shows it."""
    number = "342322194911060454"
    span_exporter.clear()
    caplog.clear()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _CALLS["GetPerson"][0](platform, number)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("id: '342322********0454' is not a well-formed person id")
    _, bad = details_of(refused.value)
    assert number not in str(bad)
    spans = span_exporter.get_finished_spans()
    assert any("342322********0454" in (span.status.description or "") for span in spans)
    assert not [span.name for span in spans if number in f"{span.status.description} {span.attributes} {span.events}"]
    assert not [record.getMessage() for record in caplog.records if number in record.getMessage()]
