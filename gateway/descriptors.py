"""The protobuf descriptor set the REST/JSON transcoder reads, built from the generated code itself.

Envoy's gRPC-JSON transcoder needs a ``FileDescriptorSet`` of every public
service with its imports (the ``google.api.http`` annotations among them, and
``google.rpc.Status`` with the error details, so errors come back as JSON).
The generated ``*_pb2`` modules carry exactly that, so the set is serialised from
the process's descriptor pool: it can never disagree with the code that serves.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.message import DecodeError

# The error model a transcoded error is printed with (google.rpc.Status and its usual details).
from google.rpc import error_details_pb2, status_pb2  # noqa: F401

from gateway.routing import PUBLIC_SERVICES

_ERROR_FILES = ("google/rpc/status.proto", "google/rpc/error_details.proto")


def _with_dependencies(file: FileDescriptor, seen: dict[str, FileDescriptor]) -> None:
    if file.name in seen:
        return
    for dependency in file.dependencies:
        _with_dependencies(dependency, seen)
    seen[file.name] = file  # dependencies first, as protoc writes them


def descriptor_set(services: tuple[str, ...] = tuple(PUBLIC_SERVICES)) -> bytes:
    """A serialised FileDescriptorSet of ``services``, their imports and the google.rpc error model."""
    pool = descriptor_pool.Default()
    files: dict[str, FileDescriptor] = {}
    for name in (*(pool.FindServiceByName(service).file.name for service in services), *_ERROR_FILES):
        _with_dependencies(pool.FindFileByName(name), files)
    result = descriptor_pb2.FileDescriptorSet()
    for file in files.values():
        file.CopyToProto(result.file.add())
    return result.SerializeToString()


def descriptor_set_problems(path: str, services: tuple[str, ...] = tuple(PUBLIC_SERVICES)) -> list[str]:
    """What is wrong with ``GOVSHARE_DESCRIPTOR_SET``'s file for the edge's transcoder, named with the variable.

    Only a missing file was said: any other file (a YAML, the OpenAPI, a set built from other protos) started
    Envoy, which stopped with "transcoding_filter: Unable to parse proto descriptor" or "Could not find
    'govshare…' in the proto descriptor", naming no setting, and `govshare up` restarted it forever."""
    variable = "GOVSHARE_DESCRIPTOR_SET"
    fix = "(unset it: the edge builds one from the generated code)"
    try:
        with open(path, "rb") as file:
            data = file.read()
    except FileNotFoundError:
        return [f"{variable}: no such file {path} {fix}"]
    except OSError as exc:
        return [f"{variable}: cannot read {path} ({exc.strerror}) {fix}"]
    found = descriptor_pb2.FileDescriptorSet()
    try:
        found.ParseFromString(data)
    except DecodeError:
        return [f"{variable}: {path} is not a protobuf descriptor set (a serialised FileDescriptorSet, as "
                f"`buf build -o` or `protoc --include_imports --descriptor_set_out` write) {fix}"]
    described = {f"{file.package}.{service.name}" if file.package else service.name
                 for file in found.file for service in file.service}
    missing = [service for service in services if service not in described]
    if missing:
        named = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        return [f"{variable}: {path} does not describe {named}, which the edge transcodes {fix}"]
    return []
