"""Every public RPC, through the edge, given messages no generated client would write: each answer is a deliberate
status whose message says what to fix, never INTERNAL or UNKNOWN, and the platform serves on afterwards.

The other fuzz tests (test_outage.py and those beside each service's tests) draw well-formed messages of plausible
values: integers 0..1000, timestamps 1970..2096, at most three repeats, nesting three deep. These are what they never
send, written on the wire by hand from each request's descriptor: invalid UTF-8 in a string field, a field with
the wrong wire type, unknown fields, bytes that are no protobuf at all, two hundred nested groups of an unknown
field, negative and 64-bit numbers, timestamps outside 0001..9999 and with negative nanos, and a 100,000-element
repeated field.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor, descriptor_pool
from google.protobuf.internal import encoder

from gateway.routing import Route, RoutingTable
from govshare.catalog.v1 import catalog_pb2, catalog_pb2_grpc

pytestmark = pytest.mark.integration

ROUTES = sorted(RoutingTable.from_descriptors(), key=lambda route: route.method)
FIELD = descriptor.FieldDescriptor
INTEGERS = (FIELD.TYPE_INT32, FIELD.TYPE_INT64, FIELD.TYPE_UINT32, FIELD.TYPE_UINT64, FIELD.TYPE_ENUM, FIELD.TYPE_BOOL)
#: The services whose methods a person calls, not a business system.
PERSON_ONLY = ("/govshare.authorization.v1.PersonService/", "/govshare.authorization.v1.SessionService/")
#: Timestamps protobuf holds out of range (before 0001-01-01, after 9999-12-31) or malformed (negative nanos).
BAD_TIMES = ((-62_135_596_801, 0), (253_402_300_800, 0), (0, -1), (0, 1_000_000_000))


def _varint(value: int) -> bytes:
    return encoder._VarintBytes(value & (2**64 - 1))


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def _delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, 2) + _varint(len(payload)) + payload


def _timestamp(seconds: int, nanos: int) -> bytes:
    return _tag(1, 0) + _varint(seconds) + _tag(2, 0) + _varint(nanos)


def hostile(message: descriptor.Descriptor) -> Iterator[tuple[str, bytes]]:
    """(what, bytes): encodings of ``message`` that a generated client never writes."""
    yield "no protobuf", b"\xff\xff\xff\xff\xff\xff"
    yield "unknown fields", _tag(9999, 0) + _varint(1) + _delimited(9998, b"\xff\xfe")
    nested = b""
    for _ in range(200):
        nested = _delimited(9997, nested)
    yield "200 nested unknown fields", nested
    for fld in message.fields:
        number = fld.number
        if fld.type == FIELD.TYPE_STRING:
            yield f"{fld.name}: invalid UTF-8", _delimited(number, b"ab\xff\xfe\xc3\x28")
            yield f"{fld.name}: a varint", _tag(number, 0) + _varint(5)
            if fld.is_repeated:
                yield f"{fld.name}: 100,000 values", b"".join(_delimited(number, b"101001/000001")
                                                             for _ in range(100_000))
        elif fld.type in INTEGERS:
            for value in (-1, -(2**31), 2**63 - 1, 2**64 - 1):
                yield f"{fld.name}: {value}", _tag(number, 0) + _varint(value)
            yield f"{fld.name}: length-delimited", _delimited(number, b"hello")
        elif fld.type == FIELD.TYPE_MESSAGE:
            if fld.message_type.full_name == "google.protobuf.Timestamp":
                for seconds, nanos in BAD_TIMES:
                    yield f"{fld.name}: {seconds}s {nanos}ns", _delimited(number, _timestamp(seconds, nanos))
            else:
                yield f"{fld.name}: not a message", _delimited(number, b"\xff\xff\xff")
                for inner in fld.message_type.fields:
                    if inner.type == FIELD.TYPE_STRING:
                        yield (f"{fld.name}.{inner.name}: invalid UTF-8",
                               _delimited(number, _delimited(inner.number, b"\xff\xfe")))


def _request_type(route: Route) -> descriptor.Descriptor:
    service, _, name = route.method[1:].rpartition("/")
    return descriptor_pool.Default().FindServiceByName(service).methods_by_name[name].input_type


async def _status(platform, route: Route, request: bytes, metadata) -> tuple[grpc.StatusCode, str]:  # type: ignore[no-untyped-def]
    try:
        if route.server_streaming:
            async for _ in platform.channel.unary_stream(route.method)(request, metadata=metadata, timeout=30):
                pass
        else:
            await platform.channel.unary_unary(route.method)(request, metadata=metadata, timeout=30)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize("route", ROUTES, ids=[route.method.rpartition(".")[2] for route in ROUTES])
async def test_hand_made_hostile_messages_get_a_status_that_says_what_to_fix(platform, route: Route) -> None:  # type: ignore[no-untyped-def]
    # A system of the authority, or for the person-only methods a person of its whose roles reach them: the
    # caller the method's own checks run for (one caller: each message is sent once, the suite's time counts).
    person_only = route.method.startswith(PERSON_ONLY)
    metadata = platform.person("authority", "ADMINISTRATOR") if person_only else platform.metadata("authority")
    wrong = []
    for what, request in hostile(_request_type(route)):
        code, message = await _status(platform, route, request, metadata)
        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNAVAILABLE) or (
                code != grpc.StatusCode.OK and len(message.strip()) < 8):
            wrong.append((what, code.name, message))
    assert not wrong, wrong
    # Still serving: a plain read answers.
    catalog = catalog_pb2_grpc.CatalogServiceStub(platform.channel)
    await catalog.ListEntries(catalog_pb2.ListEntriesRequest(page_size=1), metadata=platform.metadata("authority"),
                              timeout=30)
