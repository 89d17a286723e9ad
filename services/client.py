"""A small synchronous client for trying the platform by hand (`govshare query`, `govshare verify`)."""

from __future__ import annotations

import json
import sys

import grpc
from google.protobuf import json_format

from govshare.authorization.v1 import token_pb2, token_pb2_grpc
from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2, query_pb2_grpc
from services.runtime.errors import details_of

PURPOSES = {
    "administrative_basis": common_pb2.PURPOSE_TYPE_ADMINISTRATIVE_BASIS,
    "work_reference": common_pb2.PURPOSE_TYPE_WORK_REFERENCE,
    "data_verification": common_pb2.PURPOSE_TYPE_DATA_VERIFICATION,
    "business_collaboration": common_pb2.PURPOSE_TYPE_BUSINESS_COLLABORATION,
}


def issue_token(channel: grpc.Channel, system_id: str, secret: str) -> str:
    return token_pb2_grpc.TokenServiceStub(channel).IssueToken(
        token_pb2.IssueTokenRequest(system_id=system_id, secret=secret), timeout=10).token


def print_error(error: grpc.RpcError) -> None:
    """The status, reason and every field violation, as a caller needs them to fix the request."""
    info, bad = details_of(error)
    out = {"status": error.code().name, "message": error.details()}
    if info is not None:
        out["reason"] = info.reason
        out["domain"] = info.domain
    if bad is not None:
        out["violations"] = [{"field": v.field, "description": v.description} for v in bad.field_violations]
    print(json.dumps(out, ensure_ascii=False, indent=2), file=sys.stderr)


def _call(gateway: str, system_id: str, secret: str, call) -> int:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(gateway) as channel:
        try:
            token = issue_token(channel, system_id, secret)
            response = call(query_pb2_grpc.QueryServiceStub(channel), (("authorization", f"Bearer {token}"),))
        except grpc.RpcError as error:
            print_error(error)
            return 1
    print(json.dumps(json_format.MessageToDict(response), ensure_ascii=False, indent=2))
    return 0


def run_query(gateway: str, system_id: str, secret: str, *, resource: str, key: str, items: list[str],
              purpose: str, purpose_text: str) -> int:
    request = query_pb2.QueryRequest(resource_code=resource, key=key, items=items,
                                     purpose=common_pb2.Purpose(type=PURPOSES[purpose], text=purpose_text))
    return _call(gateway, system_id, secret, lambda stub, md: stub.Query(request, metadata=md, timeout=10))


def run_verify(gateway: str, system_id: str, secret: str, *, resource: str, key: str, claims: dict[str, str],
               purpose: str, purpose_text: str) -> int:
    request = query_pb2.VerifyRequest(resource_code=resource, key=key, claims=claims,
                                      purpose=common_pb2.Purpose(type=PURPOSES[purpose], text=purpose_text))
    return _call(gateway, system_id, secret, lambda stub, md: stub.Verify(request, metadata=md, timeout=10))
