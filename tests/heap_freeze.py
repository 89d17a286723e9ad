"""Between test modules, the heap the run has built is collected once and frozen (``gc.freeze``), as each service
does after its start (services.runtime.server), so that the collector's full passes during a test walk only what
the test itself made.

The suite runs every service of a platform, and of every module's platforms, in one process: by the outage tests
its heap held ~250,000 tracked objects, and a full pass of the collector stopped the one event loop they share for
0.3-0.8 s (measured with gc.callbacks over tests/integration/test_[a-o]*.py, 2026-12-05: 41 passes over 50 ms, the
longest 819 ms, in test_outage). A service in production is a process of its own that froze its start-up heap;
here such a pause fell inside a deadline under test (a Query given 2 s answered after the edge had ended it) and
slowed every later test. Garbage frozen is never freed: what a module leaves is collected first, so little is.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


def _module_ends(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    return nextitem is None or nextitem.module is not item.module  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last test of a module (its module-scoped fixtures just finalized): collect, then freeze."""
    result = yield
    if _module_ends(item, nextitem):
        gc.collect()
        gc.freeze()
    return result
