"""RetireDepartment on the platform as deployed: what other services hold of a department blocks its retirement
too (the authorization service asks the query service for the disputes it must answer)."""

from __future__ import annotations

import random

import grpc
import pytest

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
from govshare.query.v1 import dispute_pb2, dispute_pb2_grpc
from services.foundation import synthetic
from services.runtime.duties import APPROVER
from services.runtime.errors import details_of

POPULATION = "101001/000001"


async def test_an_open_dispute_about_its_data_blocks_a_retirement(platform) -> None:  # type: ignore[no-untyped-def]
    """A dispute the civil affairs bureau reported about the police's population data, still open: retiring the
    police is refused with the disputes' count and what to do (its 审批人 answers them), so that no dispute is left
    with nobody to answer it. Every other blocker of the demo's police stays, so nothing is retired here."""
    disputes = dispute_pb2_grpc.DisputeServiceStub(platform.channel)
    person = synthetic.person(random.randrange(20, 40), platform.credentials.seed)
    dispute = (await disputes.ReportDispute(dispute_pb2.ReportDisputeRequest(dispute=dispute_pb2.Dispute(
        resource_code=POPULATION, key=person["citizen_id"], item="name", claimed_value="王小明", evidence="户口簿")),
        metadata=platform.metadata("civil"), timeout=10)).dispute
    police = platform.credentials.systems["police"]["department"]
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await directory.RetireDepartment(directory_pb2.RetireDepartmentRequest(code=police),
                                             metadata=platform.metadata("authority"), timeout=10)
    finally:
        await disputes.AnswerDispute(dispute_pb2.AnswerDisputeRequest(id=dispute.id, corrected=False,
                                                                      answer="经核实无误"),
                                     metadata=platform.person("police", APPROVER), timeout=10)
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info, _ = details_of(caught.value)
    assert info is not None and int(info.metadata["open_disputes"]) >= 1, dict(info.metadata) if info else None
    assert "open disputes about its data: " in caught.value.details()
    assert "(have its approver answer them with AnswerDispute)" in caught.value.details()
