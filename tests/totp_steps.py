"""Authenticator codes of a step other than the current one, for tests that prove several codes in turn.

The service accepts each code once, and a code of the step before or after the current one (TOTP_DRIFT_STEPS): a
test proving three codes takes the previous step's, this one's and the next's, so it need not wait 30 s for the clock.
The previous step's is two steps back once the current step ends between the code being computed and the service
reading it, which a loaded machine's slow call can make happen: "the authenticator code is wrong or expired".
"""

from __future__ import annotations

import asyncio
import time

import pyotp

#: How long a code may take from being computed to being read by the service, on a loaded machine (a browser
#: filling a form and posting it, or a gRPC call queued behind others).
IN_FLIGHT_SECONDS = 8.0


async def previous_step_code(totp: pyotp.TOTP) -> str:
    """The code of the step before the current one, computed early enough in the current step that the service
    reads it before the step ends: when the step ends within IN_FLIGHT_SECONDS, the next step is waited for first
    (the wait is for the clock's step, an event, not a margin on the platform's speed)."""
    left = totp.interval - time.time() % totp.interval
    if left < IN_FLIGHT_SECONDS:
        await asyncio.sleep(left + 0.05)
    return totp.at(time.time() - totp.interval)
