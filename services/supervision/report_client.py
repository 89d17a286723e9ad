"""`govshare report`: fetches a report through the gateway (GenerateReport) and writes it as files.

One code path for the command and the RPC: the command is a client of the RPC, so what it writes is exactly
what any business system or the console gets.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import grpc

from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
from services.client import issue_token, print_error

KINDS = {"yearly": supervision_pb2.REPORT_KIND_YEARLY, "monthly": supervision_pb2.REPORT_KIND_MONTHLY_FEEDBACK}
FORMATS = {"html": supervision_pb2.REPORT_FORMAT_HTML, "pdf": supervision_pb2.REPORT_FORMAT_PDF,
           "csv": supervision_pb2.REPORT_FORMAT_CSV}
TIMEOUT_SECONDS = 120


def run_report(gateway: str, system_id: str, secret: str, *, kind: str, year: int, month: int, department: str,
               formats: list[str], out: Path) -> int:
    """Writes the report in each format under ``out``; prints each file's path. Exit status 1 on a refusal.

    One GenerateReport call answers every format (also_formats), so the files are renderings of one reading of the
    snapshots: asked for apart, a month recomputed between two calls gave an HTML and a PDF of two generation times
    and two sets of figures.

    ``out`` is made when the first file arrives, not before (a refused report left an empty directory), and each
    file is written beside under a hidden name and renamed when whole: a report cut short (a full disk, a Ctrl-C)
    never lies under the report's name, where a reader (or a job copying the reports) would take it as the report.
    """
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(out))
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(gateway, options=options) as channel:
        try:
            metadata = (("authorization", f"Bearer {issue_token(channel, system_id, secret)}"),)
            stub = supervision_pb2_grpc.SupervisionServiceStub(channel)
            response = stub.GenerateReport(supervision_pb2.GenerateReportRequest(
                kind=KINDS[kind], year=year, month=month, department_code=department, format=FORMATS[formats[0]],
                also_formats=[FORMATS[name] for name in formats[1:]]), metadata=metadata, timeout=TIMEOUT_SECONDS)
            for file_name, content in [(response.file_name, response.content),
                                       *((also.file_name, also.content) for also in response.also)]:
                out.mkdir(parents=True, exist_ok=True)
                path = out / file_name
                partial = out / f".{file_name}.partial"
                try:
                    partial.write_bytes(content)
                    os.replace(partial, path)
                finally:
                    partial.unlink(missing_ok=True)
                print(path)
        except grpc.RpcError as error:
            print_error(error)
            return 1
    return _all_answered(formats, len(response.also))


def _all_answered(formats: list[str], also: int) -> int:
    """0 when the platform answered every format asked for; else says which it did not, and 1. A platform older
    than also_formats ignores the field and answers the first format alone: the command said nothing of the rest
    and exited 0, a job taking the reports found no PDF."""
    if also == len(formats) - 1:
        return 0
    missing = ",".join(formats[1 + also:])
    print(f"the platform answered only {','.join(formats[:1 + also])}: it is older than this govshare and makes one "
          f"format a call; ask for the rest with --format {missing} (written at another time, they may hold "
          "figures computed since)", file=sys.stderr)
    return 1
