"""govshare.supervision.v1.SupervisionService: protobuf ↔ the supervision workflows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc

from govshare.common.v1 import figures_pb2
from govshare.supervision.v1 import supervision_pb2, supervision_pb2_grpc
from services.runtime.callers import CallerVerifier
from services.runtime.errors import FieldViolation, invalid_argument
from services.runtime.pagination import NOT_ISSUED, decode_token, encode_token, page_size, text_id
from services.runtime.timestamps import to_timestamp
from services.supervision.document import Document
from services.supervision.evaluation import Evaluation
from services.supervision.months import Month, month_of
from services.supervision.render_csv import render_csv
from services.supervision.render_html import render_html
from services.supervision.render_pdf import render_pdf
from services.supervision.supervision import Supervision
from services.supervision.violations import Violation

Context = grpc.aio.ServicerContext


def evaluation_to_proto(evaluation: Evaluation, month: Month) -> supervision_pb2.Evaluation:
    return supervision_pb2.Evaluation(
        department_code=evaluation.department_code, year=month.year, month=month.month, score=evaluation.score,
        violations=evaluation.violations, department_name=evaluation.department_name,
        indicators=[supervision_pb2.Indicator(name=i.name, numerator=i.numerator, denominator=i.denominator,
                                              rate=i.rate, weight=i.weight) for i in evaluation.indicators])


def violation_to_proto(violation: Violation) -> supervision_pb2.Violation:
    return supervision_pb2.Violation(
        id=violation.id, department_code=violation.department_code, year=violation.month.year,
        month=violation.month.month, rule=violation.rule, article=violation.article, subject=violation.subject,
        evidence=violation.evidence)


def _text_after(token: str) -> str:
    position = decode_token(token)
    if position is None:
        return ""
    try:
        return text_id(position.get("d"))
    except (TypeError, ValueError):
        raise invalid_argument([FieldViolation("page_token", NOT_ISSUED)]) from None


def _violation_after(token: str) -> tuple[str, str] | None:
    """The (department, violation id) a token resumes after: printable and bounded text, as issued (a lone
    surrogate, which PostgreSQL cannot take, failed in the driver as INTERNAL)."""
    position = decode_token(token)
    if position is None:
        return None
    try:
        return text_id(position.get("d")), text_id(position.get("i"))
    except (TypeError, ValueError):
        raise invalid_argument([FieldViolation("page_token", NOT_ISSUED)]) from None


class SupervisionServicer(supervision_pb2_grpc.SupervisionServiceServicer):
    def __init__(self, verifier: CallerVerifier, supervision: Callable[[], Supervision]) -> None:
        self._verifier = verifier
        self._supervision = supervision

    async def ComputeSnapshots(self, request: supervision_pb2.ComputeSnapshotsRequest, context: Context
                               ) -> supervision_pb2.ComputeSnapshotsResponse:
        caller = self._verifier.from_context(context)
        computed = await self._supervision().compute(caller, month_of(request.year, request.month))
        return supervision_pb2.ComputeSnapshotsResponse(departments=computed.departments,
                                                        violations=computed.violations)

    async def GetSnapshot(self, request: supervision_pb2.GetSnapshotRequest, context: Context
                          ) -> supervision_pb2.GetSnapshotResponse:
        caller = self._verifier.from_context(context)
        month = month_of(request.year, request.month)
        figures, computed, evaluation = await self._supervision().snapshot(caller, request.department_code, month)
        return supervision_pb2.GetSnapshotResponse(snapshot=supervision_pb2.Snapshot(
            department_code=figures.department_code, year=month.year, month=month.month,
            figures=[figures_pb2.Figure(department_code=r.department_code, name=r.name, dimension=r.dimension,
                                        value=r.value) for r in figures.rows],
            compute_time=to_timestamp(computed), evaluation=evaluation_to_proto(evaluation, month)))

    async def ListEvaluations(self, request: supervision_pb2.ListEvaluationsRequest, context: Context
                              ) -> supervision_pb2.ListEvaluationsResponse:
        caller = self._verifier.from_context(context)
        month, size = month_of(request.year, request.month), page_size(request.page_size)
        found, computed = await self._supervision().evaluations(caller, month, _text_after(request.page_token),
                                                                size + 1)
        token = encode_token({"d": found[size - 1].department_code}) if len(found) > size else ""
        return supervision_pb2.ListEvaluationsResponse(
            evaluations=[evaluation_to_proto(e, month) for e in found[:size]], next_page_token=token,
            compute_time=to_timestamp(computed))

    async def ListViolations(self, request: supervision_pb2.ListViolationsRequest, context: Context
                             ) -> supervision_pb2.ListViolationsResponse:
        caller = self._verifier.from_context(context)
        month, size = month_of(request.year, request.month), page_size(request.page_size)
        found = await self._supervision().violations(caller, month, request.department_code,
                                                     _violation_after(request.page_token), size + 1)
        token = ""
        if len(found) > size:
            token = encode_token({"d": found[size - 1].department_code, "i": found[size - 1].id})
        return supervision_pb2.ListViolationsResponse(violations=[violation_to_proto(v) for v in found[:size]],
                                                      next_page_token=token)

    async def GetEvaluationWeights(self, request: supervision_pb2.GetEvaluationWeightsRequest, context: Context
                                   ) -> supervision_pb2.GetEvaluationWeightsResponse:
        caller = self._verifier.from_context(context)
        weights = await self._supervision().weights(caller)
        return supervision_pb2.GetEvaluationWeightsResponse(
            weights=[supervision_pb2.Weight(indicator=k, weight=v) for k, v in weights.items()])

    async def UpdateEvaluationWeights(self, request: supervision_pb2.UpdateEvaluationWeightsRequest,
                                      context: Context) -> supervision_pb2.UpdateEvaluationWeightsResponse:
        caller = self._verifier.from_context(context)
        weights = await self._supervision().update_weights(caller, [(w.indicator, w.weight) for w in request.weights])
        return supervision_pb2.UpdateEvaluationWeightsResponse(
            weights=[supervision_pb2.Weight(indicator=k, weight=v) for k, v in weights.items()])

    async def GenerateReport(self, request: supervision_pb2.GenerateReportRequest, context: Context
                             ) -> supervision_pb2.GenerateReportResponse:
        caller = self._verifier.from_context(context)
        violations = []
        if request.format not in _RENDERERS:
            violations.append(FieldViolation("format", "must be REPORT_FORMAT_HTML, REPORT_FORMAT_PDF or "
                                             "REPORT_FORMAT_CSV"))
        if request.kind not in (supervision_pb2.REPORT_KIND_YEARLY, supervision_pb2.REPORT_KIND_MONTHLY_FEEDBACK):
            violations.append(FieldViolation("kind", "must be REPORT_KIND_YEARLY or REPORT_KIND_MONTHLY_FEEDBACK"))
        violations.extend(_also_formats_violations(request))
        if request.kind == supervision_pb2.REPORT_KIND_YEARLY and request.month:
            # Ignoring it would hand back the whole year to a caller who asked for one month.
            violations.append(FieldViolation("month", "a yearly report covers the whole year: leave month unset (0), "
                                             "or ask for REPORT_KIND_MONTHLY_FEEDBACK"))
        if violations:
            raise invalid_argument(violations)
        if request.kind == supervision_pb2.REPORT_KIND_YEARLY:
            month_of(request.year, 1)  # validates the year
            document = await self._supervision().yearly_report(caller, request.year, request.department_code)
        else:
            document = await self._supervision().monthly_feedback(caller, month_of(request.year, request.month),
                                                                  request.department_code)
        response = await _rendered(document, request.format)
        for also in request.also_formats:
            # The same document, read once: every file of one request says the same figures and generation time.
            rendered = await _rendered(document, also)
            response.also.add(content=rendered.content, content_type=rendered.content_type,
                              file_name=rendered.file_name)
        return response


def _also_formats_violations(request: supervision_pb2.GenerateReportRequest) -> list[FieldViolation]:
    """also_formats holds further formats only: one unknown, `format` again or one twice would answer a file the
    caller cannot tell from another, or none."""
    seen = {request.format}
    for index, also in enumerate(request.also_formats):
        if also not in _RENDERERS:
            return [FieldViolation(f"also_formats[{index}]", "must be REPORT_FORMAT_HTML, REPORT_FORMAT_PDF or "
                                                             "REPORT_FORMAT_CSV")]
        if also in seen:
            return [FieldViolation(f"also_formats[{index}]", f"{supervision_pb2.ReportFormat.Name(also)} is asked "
                                                             "for already: name each format once")]
        seen.add(also)
    return []


#: Each format's renderer, content type and file extension.
_RENDERERS: dict[int, tuple[Callable[[Document], bytes], str, str]] = {
    supervision_pb2.REPORT_FORMAT_HTML: (render_html, "text/html; charset=utf-8", "html"),
    supervision_pb2.REPORT_FORMAT_PDF: (render_pdf, "application/pdf", "pdf"),
    supervision_pb2.REPORT_FORMAT_CSV: (render_csv, "text/csv; charset=utf-8", "csv"),
}


async def _rendered(document: Document, report_format: int) -> supervision_pb2.GenerateReportResponse:
    """The document in the format asked for; the PDF is laid out in a thread (it takes tens of milliseconds
    to a second, which the event loop should not wait through)."""
    render, content_type, extension = _RENDERERS[report_format]
    content = await asyncio.to_thread(render, document) if render is render_pdf else render(document)
    return supervision_pb2.GenerateReportResponse(content=content, content_type=content_type,
                                                  file_name=f"{document.file_stem}.{extension}")
