"""Checked numbers for command lines: argparse types that refuse what could not work, before anything starts.

The govshare command (a port, a count of persons or workers) and the load tools (a benchmark starts a whole
platform first, then would run nothing or forever) share them.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(kind: type[int] | type[float], minimum: float, inclusive: bool) -> Callable[[str], int | float]:
    bound = f"at least {minimum:g}" if inclusive else f"more than {minimum:g}"
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not (value >= minimum if inclusive else value > minimum) or not value < math.inf:
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


def at_least(kind: type[int] | type[float], minimum: float) -> Callable[[str], int | float]:
    """A number of ``minimum`` or more (NaN and infinity refused)."""
    return _number(kind, minimum, inclusive=True)


def positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """A number above 0 (NaN and infinity refused)."""
    return _number(kind, 0, inclusive=False)


def non_negative(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    """A number of 0 or more (NaN and infinity refused)."""
    return at_least(kind, 0)
