"""Open-loop (constant-rate) send times.

A closed-loop client waits for each reply before sending the next request, so a
server that slows down also slows the client: the queue forms inside the client
where nobody measures it ("coordinated omission"). An open-loop client sends at
fixed times whatever the server does, and measures each latency from the time
the request *should* have been sent; queueing then shows up in the percentiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ConstantRate:
    """Request ``i`` is due at ``start + i / rate`` (clock seconds)."""

    rate: float
    start: float

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"rate must be positive, not {self.rate}")

    def send_time(self, index: int) -> float:
        return self.start + index / self.rate

    def due(self, now: float) -> int:
        """How many requests should have been sent by ``now`` (all those with send time <= now)."""
        if now < self.start:
            return 0
        # The epsilon absorbs float error at exact boundaries (now == send_time(i) must count i).
        return math.floor((now - self.start) * self.rate + 1e-9) + 1

    def count_between(self, begin: float, end: float) -> int:
        """Requests due in [begin, end): what a window of the run should have sent."""
        return self.due(math.nextafter(end, -math.inf)) - self.due(math.nextafter(begin, -math.inf))
