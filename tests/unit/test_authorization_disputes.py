"""RetireDepartment counts the open disputes a department must answer, asked of the query service
(services.authorization.disputes): only those about its own data, across pages; a query service that does not
answer is UNAVAILABLE naming it (never INTERNAL)."""

from __future__ import annotations

import grpc
import pytest
from free_ports import free_port

from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc
from services.authorization.disputes import OpenDisputes
from services.runtime.errors import ServiceError
from services.runtime.settings import Settings

PROVIDER = "11110000000000001X"
REPORTER = "11110000000000002X"


class _Disputes(dispute_pb2_grpc.DisputeServiceServicer):
    """Two pages of open disputes: two about PROVIDER's data on the first, one on the second, and one PROVIDER
    reported about another department's data."""

    def __init__(self) -> None:
        self.requests: list[dispute_pb2.ListDisputesRequest] = []

    async def ListDisputes(self, request, context):  # type: ignore[no-untyped-def]
        self.requests.append(request)
        about, by = dispute_pb2.Dispute(provider_department_code=PROVIDER, reporter_department_code=REPORTER), \
            dispute_pb2.Dispute(provider_department_code=REPORTER, reporter_department_code=PROVIDER)
        if not request.page_token:
            return dispute_pb2.ListDisputesResponse(disputes=[about, by, about], next_page_token="next")
        return dispute_pb2.ListDisputesResponse(disputes=[about])


def _settings(target: str) -> Settings:
    return Settings(component="authorization", query_target=target, internal_key=b"i" * 48, call_timeout_seconds=2.0)


async def test_the_disputes_about_its_data_are_counted_across_pages() -> None:
    server, servicer = grpc.aio.server(), _Disputes()
    dispute_pb2_grpc.add_DisputeServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    disputes = OpenDisputes(_settings(f"127.0.0.1:{port}"))
    disputes.open()
    try:
        assert await disputes.to_answer(PROVIDER) == {"open_disputes": 3}
    finally:
        await disputes.close()
        await server.stop(0)
    assert {r.state for r in servicer.requests} == {dispute_pb2.DISPUTE_STATE_OPEN}
    assert [r.page_token for r in servicer.requests] == ["", "next"]


async def test_a_query_service_that_does_not_answer_is_unavailable_naming_it() -> None:
    disputes = OpenDisputes(_settings(f"127.0.0.1:{free_port()}").with_overrides(call_timeout_seconds=0.5))
    disputes.open()
    try:
        with pytest.raises(ServiceError) as raised:
            await disputes.to_answer(PROVIDER)
    finally:
        await disputes.close()
    assert (raised.value.code, raised.value.reason) == (grpc.StatusCode.UNAVAILABLE, "QUERY_UNAVAILABLE")
    assert "query service" in raised.value.message
