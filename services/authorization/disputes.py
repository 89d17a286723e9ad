"""The open disputes (疑义) about a department's data, asked of the query service, for RetireDepartment.

The query service owns disputes; only the providing department answers one (Art. 13, R-DSP-1), by its 审批人. A
department retired while a dispute about its data was open left it answerable by nobody: overdue for ever in
its reporter's list and in supervision. The query service is asked as the authorization service (its signed
identity, which reads every dispute as the authority does); a query service that does not answer is UNAVAILABLE
naming it, never INTERNAL, and the retirement waits for it.
"""

from __future__ import annotations

import contextlib

import grpc

from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc
from services.runtime.clients import call_metadata, open_channel
from services.runtime.errors import unavailable
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.pagination import MAX_PAGE_SIZE
from services.runtime.settings import Settings

DISPUTE_SERVICE = "govshare.query.v1.DisputeService"


class OpenDisputes:
    """Counts the open disputes a department has to answer; open() before use, close() after."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> None:
        """Opens the channel when there is a query service to ask: only an authorization service started without
        GOVSHARE_QUERY_TARGET (a test of it alone; `govshare up` and the chart give it) has none, and then counts
        no dispute, as before."""
        if self._settings.query_target:
            self._channel = open_channel(self._settings.query_target, self._settings, [DISPUTE_SERVICE])

    async def close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
            self._channel = None

    async def to_answer(self, department_code: str) -> dict[str, int]:
        """``{"open_disputes": n}``: the disputes still open about the data ``department_code`` provides (those
        it reported are answered by their provider, and do not need it). UNAVAILABLE QUERY_UNAVAILABLE when the
        query service does not answer."""
        if self._channel is None:
            return {"open_disputes": 0}
        stub = dispute_pb2_grpc.DisputeServiceStub(self._channel)
        request = dispute_pb2.ListDisputesRequest(state=dispute_pb2.DISPUTE_STATE_OPEN, page_size=MAX_PAGE_SIZE)
        signer = AssertionSigner(self._settings.internal_key)
        count = 0
        try:
            while True:
                page = await stub.ListDisputes(request, timeout=self._settings.call_timeout_seconds,
                                               metadata=call_metadata(signer, service_caller("authorization")))
                count += sum(d.provider_department_code == department_code for d in page.disputes)
                if not page.next_page_token:
                    return {"open_disputes": count}
                request.page_token = page.next_page_token
        except grpc.aio.AioRpcError as exc:
            raise unavailable("QUERY_UNAVAILABLE", "the query service, which holds the disputes, did not answer "
                              f"({exc.code().name}); retry", dependency="query") from None
