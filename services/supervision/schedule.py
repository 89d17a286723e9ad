"""`govshare supervise`: asks the supervision service to compute months (the chart's CronJob runs it).

It calls ComputeSnapshots as the platform service ``svc:supervision-snapshot`` (signed with
GOVSHARE_INTERNAL_KEY, over mTLS when GOVSHARE_TLS_* are set), so no business-system credential is needed
in the cluster; `govshare up` needs none of it (its supervision process recomputes on its own schedule).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from collections.abc import Mapping

import grpc

from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
from services.runtime.clients import call_metadata, open_channel
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.settings import Settings, internal_keys
from services.supervision.months import MAX_YEAR, MIN_YEAR, Month

COMPUTE_TIMEOUT_SECONDS = 900.0
#: How long the command waits for the supervision service to accept a connection (a CronJob may start while its
#: pods do; its backoffLimit runs it again). Waited for as long as a month's computation, a service that was not
#: there held the command silent for 15 minutes.
CONNECT_TIMEOUT_SECONDS = 60.0


class Unreachable(Exception):
    """The supervision service did not accept a connection within CONNECT_TIMEOUT_SECONDS."""


def months_named(names: str, now: dt.datetime) -> list[Month]:
    """``previous``, ``current`` or ``YYYY-MM``, comma-separated, in the order given: months that have begun (in
    Beijing), as the service computes no other."""
    current = Month.of(now)
    months = []
    for name in filter(None, (n.strip() for n in names.split(","))):
        if name == "previous":
            months.append(current.previous())
        elif name == "current":
            months.append(current)
        else:
            year, sep, month = name.partition("-")
            # isdecimal, not isdigit: a superscript ² is a digit int() cannot read (a traceback's words, not these).
            if not (sep and year.isdecimal() and month.isdecimal() and 1 <= int(month) <= 12):
                raise ValueError(f"{name!r}: expected previous, current or YYYY-MM")
            if not MIN_YEAR <= int(year) <= MAX_YEAR:
                # The service refuses such a year: said here, it is a usage error (exit 2), not a failed run (1).
                raise ValueError(f"{name!r}: the year must be between {MIN_YEAR} and {MAX_YEAR}")
            named = Month(int(year), int(month))
            if named > current:
                # The service refuses it ("the month has not begun") once reached: a slip of the year (2027-11 for
                # 2026-11) is a usage error said at once (exit 2), not a failed run (1) after a wait for the service.
                raise ValueError(f"{name!r}: {named.label()} has not begun (this month is {current.label()}, "
                                 "Beijing time)")
            months.append(named)
    if not months:
        raise ValueError("name at least one month")
    return months


def settings_from(env: Mapping[str, str]) -> Settings:
    """The few settings the command needs, or ValueError naming what is missing."""
    target, key = env.get("GOVSHARE_SUPERVISION_TARGET", "").strip(), env.get("GOVSHARE_INTERNAL_KEY", "")
    missing = [name for name, value in (("GOVSHARE_SUPERVISION_TARGET", target), ("GOVSHARE_INTERNAL_KEY", key))
               if not value]
    if missing:
        raise ValueError(f"set {' and '.join(missing)}, or run it where a `govshare up` is running (its data "
                         "directory: --data-dir or GOVSHARE_DATA_DIR)")
    return Settings(component="supervision", supervision_target=target, internal_key=internal_keys(key)[0],
                    tls_cert=env.get("GOVSHARE_TLS_CERT", ""), tls_key=env.get("GOVSHARE_TLS_KEY", ""),
                    tls_ca=env.get("GOVSHARE_TLS_CA", ""))


Computed = list[tuple[Month, supervision_pb2.ComputeSnapshotsResponse]]


async def compute(settings: Settings, months: list[Month]) -> Computed:
    """Computes each month in turn; the first failure raises (grpc.aio.AioRpcError)."""
    signer = AssertionSigner(settings.internal_key)
    done = []
    async with open_channel(settings.supervision_target, settings) as channel:
        try:
            await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT_SECONDS)
        except TimeoutError:
            raise Unreachable(f"the supervision service at {settings.supervision_target} did not answer within "
                              f"{CONNECT_TIMEOUT_SECONDS:.0f} s: is it running, and is GOVSHARE_SUPERVISION_TARGET "
                              "its address?") from None
        stub = supervision_pb2_grpc.SupervisionServiceStub(channel)
        for month in months:
            response = await stub.ComputeSnapshots(
                supervision_pb2.ComputeSnapshotsRequest(year=month.year, month=month.month),
                metadata=call_metadata(signer, service_caller("supervision-snapshot")),
                timeout=COMPUTE_TIMEOUT_SECONDS, wait_for_ready=True)
            done.append((month, response))
    return done


def main(names: str, env: Mapping[str, str] | None = None) -> int:
    """The command: prints one line per month computed; exit status 1 on the first failure."""
    try:
        settings = settings_from(os.environ if env is None else env)
        months = months_named(names, dt.datetime.now(dt.UTC))
    except ValueError as exc:
        print(f"govshare supervise: {exc}", file=sys.stderr)
        return 2
    try:
        for month, response in asyncio.run(compute(settings, months)):
            print(f"{month.label()}: {response.departments} departments, {response.violations} violations")
    except grpc.aio.AioRpcError as exc:
        print(f"govshare supervise: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    except Unreachable as exc:
        print(f"govshare supervise: {exc}", file=sys.stderr)
        return 1
    return 0
