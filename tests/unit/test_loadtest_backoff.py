"""A closed-loop user's pause after a refusal asking it to wait (loadtest/backoff.py): the SDK's rules."""

from __future__ import annotations

import random

import grpc
import pytest

from loadtest.backoff import LONGEST_PAUSE_SECONDS, MAX_BACKOFF_SECONDS, Backoff


def test_a_retry_info_is_waited_exactly_once() -> None:
    backoff = Backoff()
    assert backoff.after(grpc.StatusCode.RESOURCE_EXHAUSTED, 1.0) == 1.0
    assert backoff.take() == 1.0
    assert backoff.take() == 0.0  # the next call after it goes at once


def test_a_retry_info_of_any_failure_is_honoured_and_a_long_one_bounded() -> None:
    backoff = Backoff()
    assert backoff.after(grpc.StatusCode.ABORTED, 0.3) == 0.3
    assert backoff.after(grpc.StatusCode.UNAVAILABLE, 3600.0) == LONGEST_PAUSE_SECONDS


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_without_retry_info_the_pause_grows_jittered_up_to_the_sdk_s_longest(code: grpc.StatusCode) -> None:
    backoff = Backoff(rng=random.Random(7))
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    pauses = [backoff.after(code) for _ in ceilings]
    assert all(0 <= pause <= ceiling for pause, ceiling in zip(pauses, ceilings, strict=True))
    assert max(pauses) <= MAX_BACKOFF_SECONDS and pauses[-1] > 0.1
    assert backoff.after(None) == 0.0  # answered: the next refusal starts over
    assert backoff.in_a_row == 0


@pytest.mark.parametrize("code", [None, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.DEADLINE_EXCEEDED])
def test_other_answers_ask_for_no_pause(code: grpc.StatusCode | None) -> None:
    backoff = Backoff()
    assert backoff.after(code) == 0.0
    assert backoff.take() == 0.0
