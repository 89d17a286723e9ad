"""Domain errors and their mapping to rich gRPC statuses (google.rpc.Status).

Domain and store code raise :class:`ServiceError`; the server's error interceptor
turns it into a status carrying an ``ErrorInfo`` (UPPER_SNAKE reason, the service
as domain) and, for bad input, one ``BadRequest`` listing every field violation,
so a caller can fix every problem of a request in one round trip.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

DOMAIN_SUFFIX = "govshare"


@dataclass
class FieldViolation:
    """One problem with one request field (``field`` is a dotted path, e.g. ``entry.items[2].name``)."""

    field: str
    description: str


@dataclass
class ServiceError(Exception):
    """An expected failure with the status, reason and message the caller should see."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"


# Errors travel in gRPC trailers, which clients refuse past 8 KiB (and the message is percent-encoded:
# a Chinese character takes 9 bytes). A request with thousands of bad values must still get its
# INVALID_ARGUMENT, so the violations, their texts and the message are bounded.
MAX_VIOLATIONS = 25
MAX_VIOLATION_TEXT = 200
MAX_DETAIL_BYTES = 3000
MESSAGE_VIOLATIONS = 3


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_VIOLATION_TEXT else text[:MAX_VIOLATION_TEXT - 1] + "…"


def _within_budget(violations: Iterable[FieldViolation]) -> list[FieldViolation]:
    """The first violations that fit the trailer budget, and one more saying how many were left out."""
    kept: list[FieldViolation] = []
    size = 0
    pending = [FieldViolation(_bounded(v.field), _bounded(v.description)) for v in violations]
    for index, violation in enumerate(pending):
        size += len(violation.field.encode()) + len(violation.description.encode()) + 8
        if len(kept) == MAX_VIOLATIONS - 1 or size > MAX_DETAIL_BYTES:
            left = len(pending) - index
            if left == 1 and size <= MAX_DETAIL_BYTES:
                kept.append(violation)
            else:
                kept.append(FieldViolation("request", f"{left} more problems not listed"))
            break
        kept.append(violation)
    return kept


def invalid_argument(violations: Iterable[FieldViolation], reason: str = "INVALID_ARGUMENT") -> ServiceError:
    """Bad input: INVALID_ARGUMENT with every violation in BadRequest (as many as a trailer holds, and how
    many more), the first few of them in the message."""
    items = _within_budget(violations)
    message = "; ".join(f"{v.field}: {v.description}" for v in items[:MESSAGE_VIOLATIONS]) or "invalid request"
    if len(items) > MESSAGE_VIOLATIONS:
        message += f" (and {len(items) - MESSAGE_VIOLATIONS} more: see the BadRequest details)"
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, items)


def not_found(what: str, reason: str = "NOT_FOUND") -> ServiceError:
    return ServiceError(grpc.StatusCode.NOT_FOUND, reason, f"{what} not found")


def permission_denied(reason: str, message: str, **metadata: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, reason, message, metadata=metadata)


def failed_precondition(reason: str, message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, reason, message)


def already_exists(what: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS, "ALREADY_EXISTS", f"{what} already exists")


def unauthenticated(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", message)


def to_status(error: ServiceError, service: str) -> grpc.Status:
    """The grpc.Status (with rich details in trailing metadata) for a ServiceError."""
    details: list[any_pb2.Any] = []
    info = error_details_pb2.ErrorInfo(
        reason=error.reason, domain=f"{service}.{DOMAIN_SUFFIX}", metadata=dict(error.metadata)
    )
    packed = any_pb2.Any()
    packed.Pack(info)
    details.append(packed)
    if error.violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        details.append(packed)
    status = status_pb2.Status(code=error.code.value[0], message=error.message, details=details)
    return rpc_status.to_status(status)


def internal_status(service: str, incident: str) -> grpc.Status:
    """A generic INTERNAL status that leaks nothing but an incident id to find the log line."""
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=f"{service}.{DOMAIN_SUFFIX}",
                                       metadata={"incident": incident})
    packed = any_pb2.Any()
    packed.Pack(info)
    status = status_pb2.Status(code=code_pb2.INTERNAL, message=f"internal error (incident {incident})",
                               details=[packed])
    return rpc_status.to_status(status)


def details_of(error: grpc.RpcError) -> tuple[error_details_pb2.ErrorInfo | None, error_details_pb2.BadRequest | None]:
    """The ErrorInfo and BadRequest a failed call carried, for clients and tests."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info = bad = None
    if status is None:
        return None, None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
    return info, bad
