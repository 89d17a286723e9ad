"""Telling the platform that the department's records changed (``govshare notify-changes``).

Through the edge, as the department: the 前置机's configuration names the edge and a business system of the
department (``platform.system_id`` and its secret); a token is issued for it and
QueryService.NotifyRecordsChanged names the changed keys, or the whole resource. Every query replica then
drops its copies, so the next query reads the 前置机 again.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import grpc

from frontproc.config import ConfigError, FrontprocConfig, load
from frontproc.platform import authorization, edge_channel, failure, require_platform
from frontproc.store import stored_key
from govshare.query.v1 import query_pb2, query_pb2_grpc


async def notify(config: FrontprocConfig, resource_code: str, keys: Sequence[str]) -> int:
    """Sends the notice; returns the number of keys the platform dropped (0 for a whole resource)."""
    require_platform(config, "notify the platform")
    async with edge_channel(config) as channel:
        metadata = await authorization(channel, config)
        response = await query_pb2_grpc.QueryServiceStub(channel).NotifyRecordsChanged(
            query_pb2.NotifyRecordsChangedRequest(resource_code=resource_code, keys=list(keys),
                                                  all_records=not keys),
            metadata=metadata, timeout=10)
    return response.keys_dropped


def announced(config: FrontprocConfig, resource_code: str, keys: Sequence[str]) -> list[str]:
    """``keys`` as the platform asks for them, when the configuration serves ``resource_code``: a key copied from
    the department's table in the form it keeps (a 15-digit ID number, an x in lower case) is the key the 前置机
    answers for it (store.stored_key), as the trigger's notices are (watch).

    Copied from a table filled before 1999, 342322491106045 was refused by the platform ("must have 18
    characters"), though the 前置机 answers that row for 342322194911060454."""
    resource = next((resource for resource in config.resources.values()
                     if resource.resource_code is not None and resource.resource_code.value == resource_code), None)
    if resource is None:
        return list(keys)
    return [stored_key(resource.key_kind, key) for key in keys]


def main(config_path: str, resource_code: str, keys: Sequence[str]) -> int:
    try:
        config = load(config_path)
        dropped = asyncio.run(notify(config, resource_code, announced(config, resource_code, keys)))
    except ConfigError as exc:
        print(f"govshare notify-changes: {exc}", file=sys.stderr)
        return 2
    except grpc.aio.AioRpcError as exc:
        print(failure("notify-changes", "platform", config, exc), file=sys.stderr)
        return 1
    print(f"the platform dropped {'every record' if not keys else f'{dropped} record' + 's' * (dropped != 1)} "
          f"of {resource_code}")
    return 0
