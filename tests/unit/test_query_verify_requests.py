"""Verify's requests read off the wire with no more claims than any entry has items (services/query/verify_requests)."""

from __future__ import annotations

import grpc

from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2
from services.query.verify_requests import add_query_service, claims_sent, verify_request_reader

PURPOSE = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_DATA_VERIFICATION, text="核验企业名称")


def test_a_request_of_too_many_claims_keeps_its_other_fields_and_its_first_claims() -> None:
    """The fields after the claims on the wire (purpose) and before them are read as a whole request reads them;
    the claims are the first ones sent, and claims_sent says how many there were."""
    request = query_pb2.VerifyRequest(resource_code="102001/000001", key="91110000600037341L", purpose=PURPOSE,
                                      claims={f"item_{i:05d}": "值" for i in range(3000)})
    read = verify_request_reader(500)(request.SerializeToString())
    assert (read.resource_code, read.key, read.purpose) == (request.resource_code, request.key, PURPOSE)
    assert len(read.claims) == 500 and set(read.claims).issubset(request.claims)
    assert claims_sent(read) == 3000


def test_a_request_within_the_limit_is_read_as_it_was_sent() -> None:
    long_claims = {f"item_{i:03d}": "很长的地址" * 20 for i in range(400)}  # over READ_WHOLE_BYTES, within 500
    for request in (query_pb2.VerifyRequest(resource_code="a", key="b", claims={"name": "张三"}, purpose=PURPOSE),
                    query_pb2.VerifyRequest(resource_code="a", key="b", claims=long_claims, purpose=PURPOSE)):
        read = verify_request_reader(500)(request.SerializeToString())
        assert read == request
        assert claims_sent(read) == len(request.claims)


class _Server:
    """What add_query_service registers."""

    def __init__(self) -> None:
        self.registered: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: tuple) -> None:
        pass

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.registered = handlers


def test_every_method_of_the_service_is_registered_as_the_generated_code_registers_it() -> None:
    server = _Server()
    reader = verify_request_reader(500)
    add_query_service(_Servicer(), server, reader)  # type: ignore[arg-type]
    methods = query_pb2.DESCRIPTOR.services_by_name["QueryService"].methods
    assert set(server.registered) == {method.name for method in methods}
    assert server.registered["Verify"].request_deserializer is reader
    assert server.registered["Export"].response_streaming and not server.registered["Query"].response_streaming
    assert server.registered["Query"].request_deserializer(
        query_pb2.QueryRequest(key="k").SerializeToString()) == query_pb2.QueryRequest(key="k")


class _Servicer:
    def __getattr__(self, name: str) -> object:
        return lambda request, context: None
