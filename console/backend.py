"""The public services as the console calls them: through the edge, with the signed-in person's token.

One channel for the process; each call carries the session's bearer token and a deadline. The console never
adds an identity of its own: what a person may see or do is what the services allow that person's token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc

from govshare.authorization.v1 import admin_log_pb2_grpc, sharing_pb2_grpc
from govshare.catalog.v1 import catalog_pb2_grpc
from govshare.foundation.v1 import foundation_pb2_grpc
from govshare.query.v1 import audit_pb2_grpc, dispute_pb2_grpc
from govshare.supervision.v1 import supervision_pb2_grpc
from services.runtime.clients import CHANNEL_OPTIONS

Response = TypeVar("Response")


class Services:
    """Stubs of the public services over one channel to the edge."""

    def __init__(self, gateway: str, timeout: float, ca_file: str = "") -> None:
        if ca_file:
            # TLS to the edge, verified against the mesh CA; the console presents no client certificate: the
            # edge authenticates every call by the person's bearer token.
            credentials = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
            self.channel = grpc.aio.secure_channel(gateway, credentials, options=CHANNEL_OPTIONS)
        else:
            self.channel = grpc.aio.insecure_channel(gateway, options=CHANNEL_OPTIONS)
        self.timeout = timeout
        self.catalog = catalog_pb2_grpc.CatalogServiceStub(self.channel)
        self.sharing = sharing_pb2_grpc.SharingServiceStub(self.channel)
        self.disputes = dispute_pb2_grpc.DisputeServiceStub(self.channel)
        self.audit = audit_pb2_grpc.AuditServiceStub(self.channel)
        self.admin_log = admin_log_pb2_grpc.AdminLogServiceStub(self.channel)
        self.foundation = foundation_pb2_grpc.FoundationAdminServiceStub(self.channel)
        self.supervision = supervision_pb2_grpc.SupervisionServiceStub(self.channel)

    async def call(self, token: str, method: Callable[..., Awaitable[Response]], request: Any,
                   wait_seconds: float = 0.0) -> Response:
        """``method(request)`` as the person whose ``token`` this is, waiting the console's call timeout or
        ``wait_seconds`` if longer (a report takes seconds to render)."""
        return await method(request, metadata=(("authorization", f"Bearer {token}"),),
                            timeout=max(self.timeout, wait_seconds))

    async def close(self) -> None:
        await self.channel.close()
