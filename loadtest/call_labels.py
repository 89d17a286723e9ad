"""How a call tells the Locust interceptor its statistics name, the status it expects, what its reply must hold and
when it was due (the time its response time counts from: open loop, its scheduled time; closed loop, when the user
began it, getting its token included).

``x-loadtest-*`` metadata entries ride with the call from the user to its
channel's interceptor, which reads and removes them before the call leaves the
process. Kept apart from the Locust glue (which patches grpc for gevent on
import) so that it can be tested anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from govshare.query.v1 import query_pb2

NAME_HEADER = "x-loadtest-name"
EXPECT_HEADER = "x-loadtest-expect"
DUE_HEADER = "x-loadtest-due"
#: What an answered call's reply must hold (``answer_problem``'s checks), when its status alone does not say.
ANSWER_HEADER = "x-loadtest-answer"
_LABELS = (NAME_HEADER, EXPECT_HEADER, DUE_HEADER, ANSWER_HEADER)
#: Checks of a reply: every key of a batch found (they are the seeded population's), each with its own record when
#: a key item follows ("found key:citizen_id"), or a verification's outcome for the claimed name ("verify:MATCH",
#: "verify:MISMATCH", "verify:NO_RECORD").
EVERY_KEY_FOUND = "found"
VERIFY_CHECK = "verify:"
#: Check of a Query's reply: the record's key item ("key:citizen_id", "key:credit_code") is the key asked for.
KEY_ITEM_CHECK = "key:"
#: The character the platform masks an item's characters with ('511023********4364').
MASK = "*"


class GrpcStatusFailure(Exception):
    """A call that ended with another status than expected; Locust names the failure by its repr."""

    def __init__(self, status: str, reason: str = "", expected: str = "OK") -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason
        self.expected = expected

    def __repr__(self) -> str:
        # A reason that only repeats the status (UNAUTHENTICATED's) is not said twice.
        name = f"{self.status} {self.reason}" if self.reason and self.reason != self.status else self.status
        return name if self.expected == "OK" else f"{name} (expected {self.expected})"

    __str__ = __repr__


#: The status of a call still in flight when its user was stopped for good (the run's end, after the calls in flight
#: were waited for): sent, and never answered.
NOT_ANSWERED = "NOT_ANSWERED"


class CallNotAnswered(Exception):
    """A call cut off by the end of the run (or its user's) with no answer: a failure, not a call that never was."""

    def __repr__(self) -> str:
        return f"{NOT_ANSWERED}: in flight when the run stopped"

    __str__ = __repr__


class WrongAnswer(Exception):
    """An answered call whose reply is not the one its keys and claims call for: a failure, as a refused one."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem

    def __repr__(self) -> str:
        return f"WRONG_ANSWER: {self.problem}"

    __str__ = __repr__


def answer_problem(check: str, request: Any, reply: Any) -> str:
    """What is wrong with an answered call's ``reply`` by its ``check`` ('' when nothing is, or there is no check).

    A BatchQuery answers OK whatever it finds, and a Verify answers 库无 for a key nobody holds: a platform (or a
    credentials file of another seed or population) that found none of the keys was a clean run, while the same
    keys' Query calls failed NOT_FOUND. A Query answered OK with another key's record (a cache or a provider mixing
    keys up: another person's data) counted as a success too. The words stay few, so that Locust's failure table
    groups them."""
    if check.startswith(EVERY_KEY_FOUND):
        answered = {result.key for result in reply.results if result.found and not result.error}
        if not answered >= set(request.keys):
            return "keys of the seeded population not found"
        item = check.removeprefix(EVERY_KEY_FOUND).strip().removeprefix(KEY_ITEM_CHECK)
        mixed = item and any(result.found and not same_key(result.values.get(item, ""), result.key)
                             for result in reply.results)
        return f"{item} of another record" if mixed else ""
    if check.startswith(KEY_ITEM_CHECK):
        item = check.removeprefix(KEY_ITEM_CHECK)
        if item not in reply.values:
            return f"{item} not in the reply"
        return "" if same_key(reply.values[item], request.key) else f"{item} of another record"
    if check.startswith(VERIFY_CHECK):
        expected = check.removeprefix(VERIFY_CHECK)
        outcome = query_pb2.VerifyOutcome.Name(reply.outcomes.get("name", 0)).removeprefix("VERIFY_OUTCOME_")
        return "" if outcome == expected else f"name {outcome}, expected {expected}"
    return ""


def same_key(value: str, key: str) -> bool:
    """Whether a record's key item ``value`` is ``key``, read through its mask: the characters the platform shows are
    the key's ('511023********4364' is 511023199708204364's, not 511023199708204365's)."""
    return len(value) == len(key) and all(shown in (MASK, wanted) for shown, wanted in zip(value.upper(), key.upper(),
                                                                                          strict=True))


def as_expected(expected: str, status: str, reason: str) -> bool:
    """Whether a call ended as expected: ``expected`` is a status ("OK"), or a status and its ErrorInfo reason."""
    return expected == (f"{status} {reason}" if " " in expected else status)


def split_labels(metadata: Sequence[tuple[str, str]] | None) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The x-loadtest-* labels of a call, and the metadata that is really sent."""
    labels: dict[str, str] = {}
    sent: list[tuple[str, str]] = []
    for key, value in metadata or ():
        if key in _LABELS:
            labels[key] = value
        else:
            sent.append((key, value))
    return labels, sent


#: --host schemes of a gateway that speaks TLS (a cluster's gRPC Ingress, a TLS load balancer): the users connect with
#: TLS and verify its certificate, against the system's roots or, as the SDK does, the CA of GOVSHARE_ROOT_CA.
TLS_SCHEMES = ("https://", "grpcs://")
ROOT_CA_ENV = "GOVSHARE_ROOT_CA"


def uses_tls(host: str) -> bool:
    """Whether --host names a TLS gateway (https://…, grpcs://…); any other is called in plaintext."""
    return host.strip().lower().startswith(TLS_SCHEMES)


def root_certificates() -> bytes | None:
    """The PEM certificates of the CA a TLS gateway's certificate is checked against: GOVSHARE_ROOT_CA's file, or
    None for the system's roots. A ValueError names a file that cannot be read or holds no certificate."""
    path = os.environ.get(ROOT_CA_ENV, "").strip()
    if not path:
        return None
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{ROOT_CA_ENV}={path}: {exc.strerror}: give the PEM file of the CA that signed the "
                         f"gateway's certificate") from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        raise ValueError(f"{ROOT_CA_ENV}={path} holds no PEM certificate: give the PEM file of the CA that signed "
                         f"the gateway's certificate")
    return pem


def grpc_target(host: str) -> str:
    """``host:port`` from what a load tester may pass as --host (grpc://…, http://…, https://…, grpcs://…, or
    bare; the last two are called with TLS: ``uses_tls``).

    The port is required: without one gRPC would quietly dial 443, where no gateway listens, and every call of
    the run would fail UNAVAILABLE."""
    target = host.strip()
    for scheme in ("grpc://", "http://", *TLS_SCHEMES):
        target = target.removeprefix(scheme)
    target = target.rstrip("/")
    name, _, port = target.rpartition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{host!r} is not HOST:PORT: give the gateway's address with its port, "
                         f"e.g. 127.0.0.1:50051")
    return target
