"""Issue 8 sweep: an attacker's view of the platform, through the gateway, with the demo's departments.

Each test is a hole found by trying: a department reading or doing what it is not entitled to, or bad
input that reached PostgreSQL and came back as INTERNAL. Every call goes client → gateway → service
over real sockets with real tokens, on real PostgreSQL and Redis (tests/integration/conftest.py).
"""

from __future__ import annotations

import base64
import json
import uuid

import grpc
import pytest

from govshare.query.v1 import audit_pb2, audit_pb2_grpc, dispute_pb2, dispute_pb2_grpc
from services.runtime.errors import details_of

pytestmark = pytest.mark.integration


def _token(position: dict) -> str:
    """A page token as the platform encodes them (base64 JSON), with a position of the attacker's choice."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


async def _fails(call: object, code: grpc.StatusCode) -> tuple[str, list[str]]:
    """Awaits a call that must fail with ``code``; returns its ErrorInfo reason and the fields it names."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    info, bad = details_of(caught.value)
    return (info.reason if info else ""), ([v.field for v in bad.field_violations] if bad else [])


# Tampered (time, id) page tokens: timestamps PostgreSQL cannot take, ids it cannot hold ------------------------

_TAMPERED_TIME_TOKENS = [
    # Valid ISO times whose UTC instant falls outside datetime's range (year 0 / year 10000).
    _token({"t": "0001-01-01T00:00:00+14:00", "i": str(uuid.uuid4())}),
    _token({"t": "9999-12-31T23:59:59-14:00", "i": str(uuid.uuid4())}),
]


@pytest.mark.parametrize("token", _TAMPERED_TIME_TOKENS, ids=["year-0", "year-10000"])
@pytest.mark.parametrize("system", ["civil", "authority"])
async def test_dispute_listing_refuses_tampered_page_tokens(platform, system: str, token: str) -> None:  # type: ignore[no-untyped-def]
    stub = dispute_pb2_grpc.DisputeServiceStub(platform.channel)
    call = stub.ListDisputes(dispute_pb2.ListDisputesRequest(page_token=token), metadata=platform.metadata(system),
                             timeout=10)
    assert await _fails(call, grpc.StatusCode.INVALID_ARGUMENT) == ("INVALID_ARGUMENT", ["page_token"])


@pytest.mark.parametrize("token", [
    *_TAMPERED_TIME_TOKENS,
    _token({"t": "2026-01-01T00:00:00+00:00", "i": "a\x00b"}),  # NUL: PostgreSQL text cannot hold it
    _token({"t": "2026-01-01T00:00:00+00:00", "i": "x" * 100_000}),
], ids=["year-0", "year-10000", "nul-id", "huge-id"])
@pytest.mark.parametrize("system", ["police", "authority"])
async def test_access_listing_refuses_tampered_page_tokens(platform, system: str, token: str) -> None:  # type: ignore[no-untyped-def]
    stub = audit_pb2_grpc.AuditServiceStub(platform.channel)
    call = stub.ListAccesses(audit_pb2.ListAccessesRequest(page_token=token), metadata=platform.metadata(system),
                             timeout=10)
    assert await _fails(call, grpc.StatusCode.INVALID_ARGUMENT) == ("INVALID_ARGUMENT", ["page_token"])
