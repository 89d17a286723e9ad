"""The requests load tests send, built once from the demo's resources and keys.

Shared by the Locust harness and the benchmark so both ask the same questions:
basic population items (unconditionally shared, DOMAIN R-SHR-4), legal-entity
records (unconditional), verifications of a person's name, batches, and the
refusals a real mix contains (a not-shared resource, conditional items asked
for without a grant).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2

POPULATION = "101001/000001"
LEGAL_ENTITY = "102001/000001"
PLACES = "103002/000001"
NOT_SHARED = "301001/000001"
#: The demo catalog names the resources by title; the codes above are the fallback.
RESOURCE_TITLES = {POPULATION: "人口基本信息", LEGAL_ENTITY: "法人单位基本信息", PLACES: "标准地名地址",
                   NOT_SHARED: "在侦案件涉案人员信息"}

BASIC_PERSON_ITEMS = ("citizen_id", "name")
#: Conditional items of the population: refused (ITEM_NOT_GRANTED / NOT_GRANTED) without a grant.
CONDITIONAL_PERSON_ITEMS = ("citizen_id", "name", "birth_date", "address")
ENTITY_ITEMS = ("credit_code", "name", "entity_type", "status")

QUERY_METHOD = "/govshare.query.v1.QueryService/Query"
BATCH_QUERY_METHOD = "/govshare.query.v1.QueryService/BatchQuery"
VERIFY_METHOD = "/govshare.query.v1.QueryService/Verify"

#: How to read each method's reply (the Locust users decode replies; the benchmark generator does not).
RESPONSE_TYPES = {QUERY_METHOD: query_pb2.QueryResponse, BATCH_QUERY_METHOD: query_pb2.BatchQueryResponse,
                  VERIFY_METHOD: query_pb2.VerifyResponse}

PURPOSE = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE, text="load test")
VERIFY_PURPOSE = common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_DATA_VERIFICATION, text="load test")


def resource_code(resources: Mapping[str, str], code: str) -> str:
    """The code the seeded catalog uses for the demo resource ``code`` (by its title), else ``code``."""
    return resources.get(RESOURCE_TITLES.get(code, ""), code)


def person_query(key: str, items: Sequence[str] = BASIC_PERSON_ITEMS, resource: str = POPULATION,
                 purpose: common_pb2.Purpose = PURPOSE) -> query_pb2.QueryRequest:
    return query_pb2.QueryRequest(resource_code=resource, key=key, items=list(items), purpose=purpose)


def entity_query(key: str, resource: str = LEGAL_ENTITY) -> query_pb2.QueryRequest:
    return query_pb2.QueryRequest(resource_code=resource, key=key, items=list(ENTITY_ITEMS), purpose=PURPOSE)


def person_batch(keys: Sequence[str], items: Sequence[str] = BASIC_PERSON_ITEMS,
                 resource: str = POPULATION) -> query_pb2.BatchQueryRequest:
    return query_pb2.BatchQueryRequest(resource_code=resource, keys=list(keys), items=list(items), purpose=PURPOSE)


def name_verification(key: str, claimed_name: str, resource: str = POPULATION) -> query_pb2.VerifyRequest:
    """核验: does the person with this ID number bear this name? (Answers 一致/不一致/库无, never the data.)"""
    return query_pb2.VerifyRequest(resource_code=resource, key=key, claims={"name": claimed_name},
                                   purpose=VERIFY_PURPOSE)


def serialized(messages: Sequence[object]) -> list[bytes]:
    """Pre-serialized requests for the lean generator (it sends bytes, with no serializer)."""
    return [message.SerializeToString() for message in messages]  # type: ignore[attr-defined]


def batches(keys: Sequence[str], size: int) -> list[list[str]]:
    """``keys`` cut into consecutive batches of ``size`` (the last one dropped if short: batches stay comparable)."""
    return [list(keys[i:i + size]) for i in range(0, len(keys) - size + 1, size)]
