"""Send times of the open-loop (constant-rate) schedule (loadtest.schedule)."""

from __future__ import annotations

import pytest

from loadtest.schedule import ConstantRate


def test_send_times_are_evenly_spaced_from_the_start() -> None:
    schedule = ConstantRate(rate=250.0, start=100.0)
    assert [schedule.send_time(i) for i in range(4)] == pytest.approx([100.0, 100.004, 100.008, 100.012])


def test_due_counts_every_send_time_at_or_before_now() -> None:
    schedule = ConstantRate(rate=10.0, start=5.0)
    assert schedule.due(4.999) == 0
    assert schedule.due(5.0) == 1  # the first request is due at the start itself
    assert schedule.due(5.05) == 1
    assert schedule.due(5.1) == 2
    assert schedule.due(6.0) == 11


@pytest.mark.parametrize("rate", [1.0, 333.3, 7919.0])
def test_each_send_time_makes_exactly_its_request_due(rate: float) -> None:
    schedule = ConstantRate(rate=rate, start=1234.5)
    for index in (0, 1, 2, 17, 1000, 99_999):
        assert schedule.due(schedule.send_time(index)) == index + 1


def test_count_between_is_what_a_window_should_send() -> None:
    schedule = ConstantRate(rate=1000.0, start=0.0)
    assert schedule.count_between(1.0, 3.0) == 2000
    assert schedule.count_between(0.0, 0.0105) == 11  # 0 ms, 1 ms, … 10 ms
    assert schedule.count_between(-5.0, 0.0) == 0


def test_a_late_generator_owes_every_missed_send() -> None:
    """Open loop: after a stall the schedule says how many sends are owed, so none is skipped."""
    schedule = ConstantRate(rate=100.0, start=0.0)
    sent = schedule.due(0.5)
    assert schedule.due(0.75) - sent == 25


@pytest.mark.parametrize("rate", [0.0, -3.0])
def test_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError):
        ConstantRate(rate=rate, start=0.0)
