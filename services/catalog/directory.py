"""The departments the catalog names, asked of the authorization service's directory.

A code whose check digit is right is not yet a department: the catalog must not record anything (a mandate
change, with the overdue catalogue update it creates) for a code the directory does not hold, or for a
department it retired (机构改革). The directory is asked as the catalog service (its signed identity), as the
systems' states are; a directory that does not answer is UNAVAILABLE naming it, never INTERNAL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import grpc

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
from services.runtime.clients import call_metadata, open_channel
from services.runtime.errors import ServiceError, not_found, unavailable
from services.runtime.identity import AssertionSigner, service_caller
from services.runtime.settings import Settings
from services.runtime.workdays import CHINA

DIRECTORY_SERVICE = "govshare.authorization.v1.DirectoryService"


class DepartmentDirectory:
    """Checks that a department is in the directory and in service; open() before use, close() after."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> None:
        """Opens the channel, when there is a directory to ask: only a catalog started alone without
        GOVSHARE_AUTHORIZATION_TARGET (a test of the catalog by itself; the setting is required when deployed)
        has none, and then accepts every well-formed code, as before."""
        if self._settings.authorization_target:
            self._channel = open_channel(self._settings.authorization_target, self._settings, [DIRECTORY_SERVICE])

    async def close(self) -> None:
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()
            self._channel = None

    async def retired_among(self, codes: Iterable[str]) -> set[str]:
        """Which of ``codes`` the directory holds retired (each asked once, at once); a code it does not hold is
        not retired. Empty without a directory; UNAVAILABLE DIRECTORY_UNAVAILABLE when it does not answer."""
        if self._channel is None:
            return set()
        wanted = sorted(set(codes))
        departments = await asyncio.gather(*(self._department(self._channel, code) for code in wanted))
        return {code for code, department in zip(wanted, departments, strict=True)
                if department is not None and department.HasField("retire_time")}

    async def _department(self, channel: grpc.aio.Channel, code: str) -> directory_pb2.Department | None:
        """The directory's department ``code``, None when it holds none; UNAVAILABLE when it does not answer."""
        stub = directory_pb2_grpc.DirectoryServiceStub(channel)
        metadata = call_metadata(AssertionSigner(self._settings.internal_key), service_caller("catalog"))
        try:
            response = await stub.GetDepartment(directory_pb2.GetDepartmentRequest(code=code),
                                                timeout=self._settings.call_timeout_seconds, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise unavailable("DIRECTORY_UNAVAILABLE", "the authorization service's department directory did not "
                              f"answer ({exc.code().name}); retry", dependency="directory") from None
        return response.department

    async def require_not_retired(self, code: str) -> None:
        """Refuses ``code`` when the directory holds it retired (FAILED_PRECONDITION DEPARTMENT_RETIRED, as
        require_in_service); a code it does not hold passes (the catalog drafts for departments it is not told
        of); UNAVAILABLE DIRECTORY_UNAVAILABLE when it does not answer."""
        if self._channel is None:
            return
        department = await self._department(self._channel, code)
        if department is not None and department.HasField("retire_time"):
            raise retired_error(department)

    async def require_in_service(self, code: str) -> None:
        """Refuses ``code`` unless the directory holds it in service: NOT_FOUND naming it, FAILED_PRECONDITION
        DEPARTMENT_RETIRED (with the retirement's metadata, as authorization refuses it), UNAVAILABLE
        DIRECTORY_UNAVAILABLE when the directory does not answer."""
        if self._channel is None:
            return
        department = await self._department(self._channel, code)
        if department is None:
            raise not_found(f"department {code}")
        if department.HasField("retire_time"):
            raise retired_error(department)


def retired_error(department: directory_pb2.Department) -> ServiceError:
    """DEPARTMENT_RETIRED as the authorization service words it (services.authorization.retirement), the metadata
    too, so that the console says it in Chinese the same way."""
    day = department.retire_time.ToDatetime(tzinfo=CHINA).date().isoformat()
    into = f", merged into {department.merged_into}" if department.merged_into else ""
    return ServiceError(grpc.StatusCode.FAILED_PRECONDITION, "DEPARTMENT_RETIRED",
                        f"department {department.code} was retired on {day}{into}",
                        metadata={"department_code": department.code, "retire_date": day,
                                  "merged_into": department.merged_into})
