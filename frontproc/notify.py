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
from govshare.authorization.v1 import token_pb2, token_pb2_grpc
from govshare.query.v1 import query_pb2, query_pb2_grpc


def platform_secret(config: FrontprocConfig) -> str:
    """The system's secret as it is now: a secret_file is read again for every notice, so a secret the department
    rotates (RotateSystemSecret, the new one written to the file) is used at once by the running 前置机, which
    otherwise went on sending the old one, every change notice refused until it was restarted (the platform
    meanwhile answering the changed records from its copies). The secret read at start while the file cannot be
    read now."""
    if config.platform_secret_file:
        try:
            with open(config.platform_secret_file, encoding="utf-8-sig") as file:
                return file.read().strip() or config.platform_secret
        except (OSError, ValueError):
            pass
    return config.platform_secret


async def notify(config: FrontprocConfig, resource_code: str, keys: Sequence[str]) -> int:
    """Sends the notice; returns the number of keys the platform dropped (0 for a whole resource)."""
    if not (config.platform_edge and config.platform_system_id and config.platform_secret):
        raise ConfigError(f"{config.path}: platform.edge, platform.system_id and platform.secret (or secret_file) "
                          "are needed to notify the platform")
    async with grpc.aio.insecure_channel(config.platform_edge) as channel:
        issued = await token_pb2_grpc.TokenServiceStub(channel).IssueToken(
            token_pb2.IssueTokenRequest(system_id=config.platform_system_id, secret=platform_secret(config)),
            timeout=10)
        response = await query_pb2_grpc.QueryServiceStub(channel).NotifyRecordsChanged(
            query_pb2.NotifyRecordsChangedRequest(resource_code=resource_code, keys=list(keys),
                                                  all_records=not keys),
            metadata=(("authorization", f"Bearer {issued.token}"),), timeout=10)
    return response.keys_dropped


def main(config_path: str, resource_code: str, keys: Sequence[str]) -> int:
    try:
        config = load(config_path)
        dropped = asyncio.run(notify(config, resource_code, keys))
    except ConfigError as exc:
        print(f"govshare notify-changes: {exc}", file=sys.stderr)
        return 2
    except grpc.aio.AioRpcError as exc:
        print(f"govshare notify-changes: the platform refused: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(f"the platform dropped {'every record' if not keys else f'{dropped} record' + 's' * (dropped != 1)} "
          f"of {resource_code}")
    return 0
