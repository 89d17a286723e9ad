"""The catalog asks the directory whether a department a mandate change names is one (services.catalog.directory):
a code the directory does not hold is NOT_FOUND naming it, a retired department DEPARTMENT_RETIRED with the
retirement's metadata, a directory that does not answer UNAVAILABLE naming it (never INTERNAL)."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from free_ports import free_port

from govshare.authorization.v1 import directory_pb2, directory_pb2_grpc
from services.catalog.directory import DepartmentDirectory
from services.runtime.errors import ServiceError
from services.runtime.settings import Settings

IN_SERVICE = "11110000000000001X"
RETIRED = "11110000000000002X"
SUCCESSOR = "11110000000000003X"


class _Directory(directory_pb2_grpc.DirectoryServiceServicer):
    """Holds one department in service and one retired (merged into another) on 2026-03-31 in China."""

    async def GetDepartment(self, request, context):  # type: ignore[no-untyped-def]
        department = directory_pb2.Department(code=request.code, name="某局")
        if request.code == RETIRED:
            department.retire_time.FromDatetime(dt.datetime(2026, 3, 30, 16, 30, tzinfo=dt.UTC))
            department.merged_into = SUCCESSOR
        elif request.code != IN_SERVICE:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"department {request.code} not found")
        return directory_pb2.GetDepartmentResponse(department=department)


def _settings(target: str) -> Settings:
    return Settings(component="catalog", authorization_target=target, internal_key=b"i" * 48,
                    call_timeout_seconds=2.0)


async def _refusal(directory: DepartmentDirectory, code: str) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        await directory.require_in_service(code)
    return raised.value


async def test_only_a_department_in_service_passes() -> None:
    server = grpc.aio.server()
    directory_pb2_grpc.add_DirectoryServiceServicer_to_server(_Directory(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    directory = DepartmentDirectory(_settings(f"127.0.0.1:{port}"))
    directory.open()
    try:
        await directory.require_in_service(IN_SERVICE)
        unknown = await _refusal(directory, "91110000MA0000000X")
        assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
        assert "91110000MA0000000X" in unknown.message
        retired = await _refusal(directory, RETIRED)
        assert (retired.code, retired.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "DEPARTMENT_RETIRED")
        assert retired.message == f"department {RETIRED} was retired on 2026-03-31, merged into {SUCCESSOR}"
        assert retired.metadata == {"department_code": RETIRED, "retire_date": "2026-03-31",
                                    "merged_into": SUCCESSOR}
        # ListOverdueUpdates leaves out the retired ones; a code the directory does not hold is not retired.
        assert await directory.retired_among([IN_SERVICE, RETIRED, "91110000MA0000000X", RETIRED]) == {RETIRED}
    finally:
        await directory.close()
        await server.stop(0)


async def test_a_directory_that_does_not_answer_is_unavailable_naming_it() -> None:
    directory = DepartmentDirectory(_settings(f"127.0.0.1:{free_port()}").with_overrides(call_timeout_seconds=0.5))
    directory.open()
    try:
        down = await _refusal(directory, IN_SERVICE)
        with pytest.raises(ServiceError) as listing:
            await directory.retired_among([IN_SERVICE])
    finally:
        await directory.close()
    assert (down.code, down.reason) == (grpc.StatusCode.UNAVAILABLE, "DIRECTORY_UNAVAILABLE")
    assert "directory" in down.message
    assert (listing.value.code, listing.value.reason) == (grpc.StatusCode.UNAVAILABLE, "DIRECTORY_UNAVAILABLE")
