"""How a call tells the Locust interceptor its statistics name, the status it expects and when it was due (the
time its response time counts from: open loop, its scheduled time; closed loop, when the user began it, getting
its token included).

Three ``x-loadtest-*`` metadata entries ride with the call from the user to its
channel's interceptor, which reads and removes them before the call leaves the
process. Kept apart from the Locust glue (which patches grpc for gevent on
import) so that it can be tested anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence

NAME_HEADER = "x-loadtest-name"
EXPECT_HEADER = "x-loadtest-expect"
DUE_HEADER = "x-loadtest-due"
_LABELS = (NAME_HEADER, EXPECT_HEADER, DUE_HEADER)


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


def grpc_target(host: str) -> str:
    """``host:port`` from what a load tester may pass as --host (grpc://…, http://…, or bare).

    The port is required: without one gRPC would quietly dial 443, where no gateway listens, and every call of
    the run would fail UNAVAILABLE."""
    target = host
    for scheme in ("grpc://", "http://", "https://"):
        target = target.removeprefix(scheme)
    target = target.rstrip("/")
    name, _, port = target.rpartition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{host!r} is not HOST:PORT: give the gateway's address with its port, "
                         f"e.g. 127.0.0.1:50051")
    return target
