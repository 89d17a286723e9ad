"""Reading a Verify's request off the wire without reading more claims than any entry has items.

``claims`` is a protobuf map, and protobuf reads a map entry by entry into a hash table: a Verify of 400,000 claims
(5 MB, within the 8 MiB a call may carry) held the query process for about 1.5 s in ``FromString`` alone, before the
servicer's check (more than MAX_ITEMS claims are refused) could look at it, every other call on the process waiting.
The same bytes read as a list of opaque entries cost a few milliseconds: a request too long to be harmless is read
so first, and when it holds more entries than the limit it is refused with the first ones read, the rest never.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from govshare.query.v1 import query_pb2

#: A request no longer than this is read whole as it comes: even made of empty claims it holds too few to matter
#: (about 8,000, a few milliseconds), and nearly every Verify is a few hundred bytes.
READ_WHOLE_BYTES = 16 * 1024

#: Claims a Verify sent when it sent more than it was read with (its entries on the wire, duplicates included:
#: no client's map repeats a key), else None. Set by the deserializer in the call's own task, before its handler
#: runs, which reads it there.
_CLAIMS_SENT: ContextVar[int | None] = ContextVar("claims_sent", default=None)


def _entries_type() -> type:
    """VerifyRequest's wire form with each field a list of opaque bytes: claims (3) as map entries left unread,
    resource_code (1), key (2) and purpose (4) as every occurrence sent, so that writing it back and reading that
    as a VerifyRequest is what reading the original would have been (a string's last occurrence, a message's
    merged) but for the claims dropped."""
    file = descriptor_pb2.FileDescriptorProto(name="govshare/query/v1/verify_entries.proto",
                                              package="govshare.query.v1.internal", syntax="proto3")
    message = file.message_type.add(name="VerifyRequestEntries")
    for name, number in (("resource_code", 1), ("key", 2), ("claims", 3), ("purpose", 4)):
        message.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                          label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("govshare.query.v1.internal."
                                                                      "VerifyRequestEntries"))


_ENTRIES = _entries_type()


class _VerifyRequestReader:
    """Verify's deserializer (its bound ``read``). The runtime names the field of a request that is not valid
    UTF-8 from the deserializer's ``__self__.DESCRIPTOR``, as it does of a generated ``FromString``."""

    DESCRIPTOR = query_pb2.VerifyRequest.DESCRIPTOR

    def __init__(self, max_claims: int) -> None:
        self._max_claims = max_claims

    def read(self, data: bytes) -> query_pb2.VerifyRequest:
        if len(data) <= READ_WHOLE_BYTES:
            _CLAIMS_SENT.set(None)
            return query_pb2.VerifyRequest.FromString(data)
        entries = _ENTRIES.FromString(data)
        sent = len(entries.claims)
        if sent <= self._max_claims:
            _CLAIMS_SENT.set(None)
            return query_pb2.VerifyRequest.FromString(data)
        del entries.claims[self._max_claims:]
        _CLAIMS_SENT.set(sent)
        return query_pb2.VerifyRequest.FromString(entries.SerializeToString())


def verify_request_reader(max_claims: int) -> Callable[[bytes], query_pb2.VerifyRequest]:
    """The deserializer of Verify's requests: a request holding more than ``max_claims`` claims is read with its
    first ``max_claims`` alone (claims_sent says how many it held)."""
    return _VerifyRequestReader(max_claims).read


def claims_sent(request: query_pb2.VerifyRequest) -> int:
    """How many claims the call being served sent: more than ``request`` holds when the reader left some unread."""
    return max(_CLAIMS_SENT.get() or 0, len(request.claims))


def add_query_service(servicer: object, server: grpc.aio.Server,
                      read_verify: Callable[[bytes], query_pb2.VerifyRequest]) -> None:
    """query_pb2_grpc.add_QueryServiceServicer_to_server, but for Verify's requests, read by ``read_verify``.
    Built from the service's descriptor, so that a method added to query.proto is served as the generated code
    would serve it."""
    service = query_pb2.DESCRIPTOR.services_by_name["QueryService"]
    handlers = {}
    for method in service.methods:
        reader = (read_verify if method.name == "Verify"
                  else message_factory.GetMessageClass(method.input_type).FromString)
        writer = message_factory.GetMessageClass(method.output_type).SerializeToString
        make = grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(getattr(servicer, method.name), request_deserializer=reader,
                                     response_serializer=writer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)
