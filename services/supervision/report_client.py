"""`govshare report`: fetches a report through the gateway (GenerateReport) and writes it as files.

One code path for the command and the RPC: the command is a client of the RPC, so what it writes is exactly
what any business system or the console gets.
"""

from __future__ import annotations

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
    """Writes the report in each format under ``out``; prints each file's path. Exit status 1 on a refusal."""
    out.mkdir(parents=True, exist_ok=True)
    options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(gateway, options=options) as channel:
        try:
            metadata = (("authorization", f"Bearer {issue_token(channel, system_id, secret)}"),)
            stub = supervision_pb2_grpc.SupervisionServiceStub(channel)
            for name in formats:
                response = stub.GenerateReport(supervision_pb2.GenerateReportRequest(
                    kind=KINDS[kind], year=year, month=month, department_code=department, format=FORMATS[name]),
                    metadata=metadata, timeout=TIMEOUT_SECONDS)
                path = out / response.file_name
                path.write_bytes(response.content)
                print(path)
        except grpc.RpcError as error:
            print_error(error)
            return 1
    return 0
