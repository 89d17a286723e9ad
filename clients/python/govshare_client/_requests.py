"""The requests both clients send, built from Python arguments and checked before anything is sent.

A mistake Python would let through is refused here with a ``TypeError`` or ``ValueError`` naming the
argument, instead of reaching the platform as something else: ``items="name"`` became the four items
``n``, ``a``, ``m``, ``e``; ``items=[None]`` or a claim of ``5`` raised protobuf's "bad argument type for
built-in operation"; a timeout of 0 or below was a DEADLINE_EXCEEDED no call could avoid.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping

from google.protobuf.message import Message

from govshare_client.pb.common.v1 import common_pb2
from govshare_client.pb.query.v1 import query_pb2
from govshare_client.results import Purpose


def text(value: str, argument: str) -> str:
    """A str argument (a resource code, a key); None is "" (the platform then says it is required)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a str, not {type(value).__name__}")
    return encodable(value, argument)


def encodable(value: str, argument: str) -> str:
    """``value``, which must be valid Unicode: a lone surrogate (bytes that were not UTF-8, e.g. a GBK file read
    with ``errors="surrogateescape"``, or such a command-line argument) was protobuf's bare UnicodeEncodeError,
    naming no argument."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{argument} holds {value[exc.start]!r} at position {exc.start}, not a character: text "
                         f"decoded from bytes that were not UTF-8 (GBK?); decode it with its own encoding") from None
    return value


#: What an item's machine name looks like (``established_date``), which an error may quote: it is no personal data.
_ITEM_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


def strings(value: Iterable[str] | None, argument: str, *, personal: bool = False) -> list[str]:
    """A list of strings (item names, keys), or TypeError naming the argument and the element at fault.

    ``personal``: the strings may be personal data (a batch's keys, 公民身份号码), never repeated in the error, which
    ends up in the business system's logs: ``keys="3423…"`` was told "e.g. ['3423…']", the ID number whole. Nor is
    a value that is no item's name: ``query(code, "name", "3423…")``, the key and the items swapped, was told so."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        named = isinstance(value, str) and not personal and _ITEM_NAME.fullmatch(value)
        example = f"[{value!r}]" if named else f"[{argument.removesuffix('s')}]"
        raise TypeError(f"{argument} must be a list of strings, e.g. {example}, not one {type(value).__name__}")
    listed = list(value)
    for index, element in enumerate(listed):
        if not isinstance(element, str):
            raise TypeError(f"{argument}[{index}] must be a str, not {type(element).__name__}")
        encodable(element, f"{argument}[{index}]")
    return listed


def item_names(items: Iterable[str] | None) -> list[str]:
    """The items asked for; None asks for every item the grant allows, and so does an empty list on the wire.

    An empty list is refused: asked for nothing (say, the items wanted that a grant covers, when it covers none
    of them), a query was answered with every item the grant allows: personal data the system never meant to
    read.
    """
    names = strings(items, "items")
    if items is not None and not names:
        raise ValueError("items is empty, which the platform reads as every item your grant allows: give the items "
                         "you need, or items=None for all of them")
    return names


def claims_of(claims: Mapping[str, str]) -> dict[str, str]:
    """Claimed values by item name; each a str, as the record holds it (a number claimed is written as text). A value
    of another type is refused without repeating it: a claim is personal data (an ID number or a phone number given
    as an int), and the error ends up in the business system's logs."""
    if not isinstance(claims, Mapping):
        raise TypeError(f"claims must be a mapping of item name to claimed value, not {type(claims).__name__}")
    for item, value in claims.items():
        if not isinstance(item, str):
            raise TypeError(f"claims: the item name {item!r} must be a str, not {type(item).__name__}")
        if not isinstance(value, str):
            raise TypeError(f"claims[{item!r}] must be a str (the value written as the record holds it: "
                            f"str(value)), not {type(value).__name__}")
        encodable(item, "claims: an item name")
        encodable(value, f"claims[{item!r}]")
    return dict(claims)


def purpose_of(purpose: Purpose | str, purpose_text: str) -> common_pb2.Purpose:
    """The declared purpose; ValueError listing the four there are. The value given is quoted only when it reads as
    a name (``curiosity``): the purpose's text given in its place (``purpose="低保审核 张三"``, the case's words, a
    name) is not repeated into the business system's logs."""
    try:
        chosen = Purpose(purpose)
    except ValueError:
        choices = ", ".join(p.value for p in Purpose)
        given = f"purpose {purpose!r}" if isinstance(purpose, str) and _ITEM_NAME.fullmatch(purpose) else "purpose"
        raise ValueError(f"{given} is not one of {choices} (or a Purpose); the case's words go in purpose_text") \
            from None
    return chosen.to_proto(text(purpose_text, "purpose_text"))


def message_of(request: object, method: str) -> Message:
    """A raw stub's request, which must be a protobuf message: anything else failed as an INTERNAL status
    ("Exception serializing request!") in the blocking client, and went out as an empty request in the asyncio
    one, answered as if every field were missing."""
    if not isinstance(request, Message):
        raise TypeError(f"the request of {method} must be a protobuf message (from govshare_client.pb), "
                        f"not {type(request).__name__}")
    return request


#: A gRPC metadata key: lower-case letters, digits, '-', '_' and '.' (gRPC's PROTOCOL-HTTP2.md, Header-Name).
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")
#: What a text value may hold: printable ASCII and the space (a value ending -bin carries bytes).
_METADATA_TEXT = re.compile(r"[\x20-\x7e]*")


def metadata_of(metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
    """Refuses, naming the entry, metadata gRPC cannot carry: a key in capitals (``X-Request-Id``, as HTTP writes a
    header) or with another character, a text value holding other than printable ASCII (an operator's name 张三, a
    line break). gRPC refused each only once the call had begun, as INTERNAL "Invalid metadata", which the client
    raised as the platform's own failure, naming neither the entry nor what to send."""
    for key, value in metadata or ():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            if isinstance(key, str) and _METADATA_KEY.fullmatch(key.lower()):
                raise ValueError(f"metadata key {key!r} must be written in lower case ({key.lower()!r}): gRPC "
                                 f"metadata keys are lower-case letters, digits, '-', '_' and '.'")
            odd = next((c for c in key if not _METADATA_KEY.fullmatch(c.lower())), key) if isinstance(key, str) else key
            raise ValueError(f"metadata key {key!r} holds {odd!r}, which a gRPC metadata key cannot: keys are "
                             f"lower-case letters, digits, '-', '_' and '.'")
        if key.endswith("-bin"):
            continue
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if isinstance(text, str) and not _METADATA_TEXT.fullmatch(text):
            position = next(i for i, c in enumerate(text) if not _METADATA_TEXT.fullmatch(c))
            raise ValueError(f"metadata {key!r}: its value holds {text[position]!r} (position {position}), which "
                             f"gRPC metadata cannot carry: send printable ASCII (percent-encode text, "
                             f"urllib.parse.quote), or bytes under a key ending in -bin")


def with_request_id(request: Message) -> Message:
    """``request``, given an idempotency key (AIP-155) when it has a ``request_id`` field left empty.

    The key is what makes a repeat safe: the platform answers it with what the first attempt made. Left empty
    (it is optional, and only the docs asked for it), a ``SubmitApplication`` whose reply was lost to an outage
    was raised ``UNAVAILABLE`` untried, and the caller, not knowing whether it had been made, submitted it again
    and the provider got two applications to answer. As AIP-155 asks of client libraries, the client fills it
    with a UUID of its own, once per call, so every attempt of the call carries the same key. The caller's
    message is left as it was.
    """
    field = request.DESCRIPTOR.fields_by_name.get("request_id")
    if field is None or field.type != field.TYPE_STRING or request.request_id:  # type: ignore[attr-defined]
        return request
    keyed = type(request)()
    keyed.CopyFrom(request)
    keyed.request_id = str(uuid.uuid4())  # type: ignore[attr-defined]
    return keyed


#: The longest deadline given to gRPC (about 31 years): grpcio fails a call at once, DEADLINE_EXCEEDED before
#: anything is sent, when its deadline lies more than about 300 years ahead, so a caller's "as good as none"
#: (1e12 seconds, sys.maxsize) is held to this instead.
MAX_TIMEOUT = 1e9


def timeout_of(timeout: float | None, argument: str = "timeout") -> float | None:
    """A deadline in seconds, or None; a deadline that has passed before the call starts is a ValueError."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{argument} must be a number of seconds, not {type(timeout).__name__}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"{argument} must be a positive, finite number of seconds, not {timeout!r}")
    return min(float(timeout), MAX_TIMEOUT)


#: A full method path, as gRPC names the method of a call: ``/govshare.query.v1.QueryService/BatchQuery``.
_METHOD_PATH = re.compile(r"/[A-Za-z_][\w.]*\.[A-Za-z_]\w*/[A-Za-z_]\w*")


def timeouts_of(timeouts: Mapping[str, float], defaults: Mapping[str, float]) -> dict[str, float]:
    """Per-method deadlines (full method path → seconds) over ``defaults``, each checked as a timeout.

    A key that is not a full method path is a ValueError: ``{"BatchQuery": 120}`` was silently never used, as no
    call's method is called that. The methods not given keep their defaults (``BatchQuery``'s 30 s was lost to
    the client's 10 s when another method's deadline was given).
    """
    if not isinstance(timeouts, Mapping):
        raise TypeError(f"timeouts must be a mapping of method path to seconds, not {type(timeouts).__name__}")
    for method in timeouts:
        if not (isinstance(method, str) and _METHOD_PATH.fullmatch(method)):
            raise ValueError(f"timeouts: {method!r} is not a method path: give /package.Service/Method, e.g. "
                             f"'/govshare.query.v1.QueryService/BatchQuery'")
    merged = {**defaults, **timeouts}
    return {method: timeout_of(seconds, f"timeouts[{method!r}]") for method, seconds in merged.items()}  # type: ignore[misc]


def query_request(resource_code: str, key: str, items: Iterable[str] | None, purpose: Purpose | str,
                  purpose_text: str) -> query_pb2.QueryRequest:
    return query_pb2.QueryRequest(resource_code=text(resource_code, "resource_code"), key=text(key, "key"),
                                  items=item_names(items),
                                  purpose=purpose_of(purpose, purpose_text))


def batch_query_request(resource_code: str, keys: Iterable[str], items: Iterable[str] | None,
                        purpose: Purpose | str, purpose_text: str) -> query_pb2.BatchQueryRequest:
    return query_pb2.BatchQueryRequest(resource_code=text(resource_code, "resource_code"),
                                       keys=strings(keys, "keys", personal=True), items=item_names(items),
                                       purpose=purpose_of(purpose, purpose_text))


def verify_request(resource_code: str, key: str, claims: Mapping[str, str], purpose: Purpose | str,
                   purpose_text: str) -> query_pb2.VerifyRequest:
    return query_pb2.VerifyRequest(resource_code=text(resource_code, "resource_code"), key=text(key, "key"),
                                   claims=claims_of(claims),
                                   purpose=purpose_of(purpose, purpose_text))


def export_request(resource_code: str, items: Iterable[str] | None, purpose: Purpose | str,
                   purpose_text: str) -> query_pb2.ExportRequest:
    return query_pb2.ExportRequest(resource_code=text(resource_code, "resource_code"), items=item_names(items),
                                   purpose=purpose_of(purpose, purpose_text))
