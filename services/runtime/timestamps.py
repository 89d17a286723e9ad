"""Conversions between protobuf Timestamps and aware datetimes, shared by every servicer.

Callers can send any seconds/nanos pair; one outside what a datetime can hold is the caller's
error (INVALID_ARGUMENT naming the field), never an exception deep in a handler.
"""

from __future__ import annotations

import datetime as dt

from google.protobuf import timestamp_pb2

from services.runtime.errors import FieldViolation, invalid_argument

# 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range both protobuf and datetime accept.
MIN_SECONDS, MAX_SECONDS = -62_135_596_800, 253_402_300_799


def to_timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    """The Timestamp of ``value``; None stays None so optional fields stay unset."""
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def timestamp_problem(stamp: timestamp_pb2.Timestamp) -> str | None:
    """Why ``stamp`` is not a valid instant, or None."""
    if not MIN_SECONDS <= stamp.seconds <= MAX_SECONDS or not 0 <= stamp.nanos < 1_000_000_000:
        return "is not a valid timestamp"
    return None


def from_timestamp(stamp: timestamp_pb2.Timestamp, field: str,
                   violations: list[FieldViolation] | None = None) -> dt.datetime | None:
    """An aware UTC datetime; an invalid stamp is added to ``violations`` (None returned), or raised."""
    problem = timestamp_problem(stamp)
    if problem is None:
        return stamp.ToDatetime(tzinfo=dt.UTC)
    if violations is None:
        raise invalid_argument([FieldViolation(field, problem)])
    violations.append(FieldViolation(field, problem))
    return None
