"""Type stubs (``*_pb2_grpc.pyi``) for the SDK's gRPC stubs, written from the protos' descriptor set.

protoc's ``--pyi_out`` types the messages only; grpcio-tools writes no types for the stubs, and grpcio ships
none, so every raw stub call was ``Any`` to a business system's type checker. Each stub's method is typed here
as a :mod:`govshare_client.calls` protocol over its request and response messages, with the proto's comment as
its docstring, and each stub gets an ``…AsyncStub`` twin (the same class at run time) typed for grpc.aio.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf import descriptor_pb2

_SERVICE, _METHOD = 6, 2  # field numbers in FileDescriptorProto and ServiceDescriptorProto (source info paths)
_HEADER = '''"""Typed stubs of {proto} (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls
'''


def module_of(proto: str, package: str) -> str:
    """The Python module protoc writes for ``proto`` (``govshare/query/v1/query.proto``), in the SDK's package."""
    module = proto.removesuffix(".proto").replace("/", ".") + "_pb2"
    return f"{package}.{module.removeprefix('govshare.')}" if module.startswith("govshare.") else module


def _message_types(files: Iterable[descriptor_pb2.FileDescriptorProto],
                   package: str) -> dict[str, tuple[str, str]]:
    """Each message's full name (``.govshare.query.v1.QueryRequest``) → (its module, its Python name)."""
    found: dict[str, tuple[str, str]] = {}

    def add(prefix: str, python: str, messages: Iterable[descriptor_pb2.DescriptorProto], module: str) -> None:
        for message in messages:
            found[f"{prefix}.{message.name}"] = (module, f"{python}{message.name}")
            add(f"{prefix}.{message.name}", f"{python}{message.name}.", message.nested_type, module)

    for file in files:
        add(f".{file.package}" if file.package else "", "", file.message_type, module_of(file.name, package))
    return found


def _comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    """The comment before each element, by its source info path, without the space each ``//`` line begins with."""
    return {tuple(location.path): "\n".join(line.removeprefix(" ").rstrip()
                                            for line in location.leading_comments.strip("\n").splitlines()).strip()
            for location in file.source_code_info.location if location.leading_comments.strip()}


def _docstring(text: str, indent: str) -> list[str]:
    if not text:
        return []
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = text.splitlines()
    return [f'{indent}"""{lines[0]}', *(f"{indent}{line}".rstrip() for line in lines[1:]), f'{indent}"""'] \
        if len(lines) > 1 else [f'{indent}"""{text}"""']


def _alias(module: str) -> str:
    return "_" + module.replace(".", "_")


def _python_type(types: dict[str, tuple[str, str]], message: str) -> str:
    """How a stub file names a message (``.govshare.query.v1.QueryRequest``) through its module's alias."""
    module, name = types[message]
    return f"{_alias(module)}.{name}"


def _stub(file: descriptor_pb2.FileDescriptorProto, index: int, types: dict[str, tuple[str, str]],
          comments: dict[tuple[int, ...], str], asynchronous: bool) -> list[str]:
    service = file.service[index]
    name = f"{service.name}AsyncStub" if asynchronous else f"{service.name}Stub"
    channel = "grpc.aio.Channel" if asynchronous else "grpc.Channel"
    lines = [f"class {name}:", *_docstring(comments.get((_SERVICE, index), ""), "    "),
             f"    def __init__(self, channel: {channel}) -> None: ...", ""]
    for number, method in enumerate(service.method):
        if method.client_streaming:
            kind = "Any"  # no public RPC streams its requests; typed when one does
        else:
            kind = ("AsyncUnaryStream" if method.server_streaming else "AsyncUnaryUnary") if asynchronous else (
                "UnaryStream" if method.server_streaming else "UnaryUnary")
            request, response = _python_type(types, method.input_type), _python_type(types, method.output_type)
            kind = f"calls.{kind}[{request}, {response}]"
        lines += [f"    {method.name}: {kind}",
                  *_docstring(comments.get((_SERVICE, index, _METHOD, number), ""), "    ")]
    return [*lines, "", ""]


def _servicer(service: descriptor_pb2.ServiceDescriptorProto, types: dict[str, tuple[str, str]]) -> list[str]:
    """The server side protoc also writes: declared, so that the module's every name is known to a checker."""
    lines = [f"class {service.name}Servicer:"]
    for method in service.method:
        lines.append(f"    def {method.name}(self, request: {_python_type(types, method.input_type)}, "
                     f"context: Any) -> Any: ...")
    return [*lines, "", "",
            f"def add_{service.name}Servicer_to_server(servicer: {service.name}Servicer, server: Any) -> None: ...",
            "", "",
            f"class {service.name}:", *(f"    {method.name}: Any" for method in service.method), "", ""]


def render_file(file: descriptor_pb2.FileDescriptorProto, types: dict[str, tuple[str, str]]) -> str:
    """The ``*_pb2_grpc.pyi`` of one proto file that defines services."""
    comments = _comments(file)
    used = sorted({types[t][0] for service in file.service for method in service.method
                   for t in (method.input_type, method.output_type)})
    lines = [_HEADER.format(proto=file.name), "import grpc", "import grpc.aio",
             *(f"import {module} as {_alias(module)}" for module in used), "",
             "GRPC_GENERATED_VERSION: str", "GRPC_VERSION: str", "", ""]
    for index, service in enumerate(file.service):
        lines += _stub(file, index, types, comments, False) + _stub(file, index, types, comments, True)
        lines += _servicer(service, types)
    return "\n".join(lines).rstrip("\n") + "\n"


def render(descriptors: descriptor_pb2.FileDescriptorSet, package: str,
           internal: Iterable[str]) -> dict[str, str]:
    """Each public proto with services → its ``*_pb2_grpc.pyi`` (path relative to protoc's output)."""
    types = _message_types(descriptors.file, package)
    skipped = set(internal)
    return {file.name.removesuffix(".proto") + "_pb2_grpc.pyi": render_file(file, types)
            for file in descriptors.file if file.service and file.name not in skipped}


def async_aliases(descriptors: descriptor_pb2.FileDescriptorSet, proto: str) -> str:
    """The lines added to a generated ``*_pb2_grpc.py``: each ``…AsyncStub`` is its stub under a second name."""
    for file in descriptors.file:
        if file.name == proto and file.service:
            names = "".join(f"{s.name}AsyncStub = {s.name}Stub\n" for s in file.service)
            return f"\n\n# Typed for grpc.aio channels in the .pyi (govshare_client.calls): the same class.\n{names}"
    return ""
