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
