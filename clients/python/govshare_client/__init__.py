"""Python client for the govshare platform (政务信息资源共享平台): query, verify and the raw gRPC stubs.

    from govshare_client import Client
    client = Client()  # GOVSHARE_ENDPOINT, GOVSHARE_SYSTEM_ID, GOVSHARE_SYSTEM_SECRET
    answer = client.query("102001/000001", "924103023250193249", purpose="work_reference",
                          purpose_text="窗口受理 2026-001")
"""

from govshare_client.aio import AsyncClient, AsyncExport
from govshare_client.client import Client, Export, RetryPolicy, is_idempotent
from govshare_client.errors import (
    SECRET_ROTATED,
    SYSTEM_DISABLED,
    TOKEN_PREDATES_DISABLE,
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    GovshareError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    from_rpc_error,
)
from govshare_client.paging import async_pages, pages
from govshare_client.results import (
    BatchItem,
    BatchQueryResult,
    ExportRow,
    ExportSummary,
    Provenance,
    Purpose,
    QueryResult,
    VerifyOutcome,
    VerifyResult,
)

__all__ = [
    "SECRET_ROTATED",
    "SYSTEM_DISABLED",
    "TOKEN_PREDATES_DISABLE",
    "Aborted",
    "AlreadyExists",
    "AsyncClient",
    "AsyncExport",
    "BatchItem",
    "BatchQueryResult",
    "Client",
    "DeadlineExceeded",
    "Export",
    "ExportRow",
    "ExportSummary",
    "FailedPrecondition",
    "GovshareError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "Provenance",
    "Purpose",
    "QueryResult",
    "ResourceExhausted",
    "RetryPolicy",
    "Unauthenticated",
    "Unavailable",
    "VerifyOutcome",
    "VerifyResult",
    "async_pages",
    "from_rpc_error",
    "is_idempotent",
    "pages",
]
