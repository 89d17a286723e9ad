import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from govshare_client.pb.common.v1 import figures_pb2 as _figures_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ViolationRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIOLATION_RULE_UNSPECIFIED: _ClassVar[ViolationRule]
    VIOLATION_RULE_CATALOG_NOT_UPDATED: _ClassVar[ViolationRule]
    VIOLATION_RULE_DATA_NOT_PROVIDED: _ClassVar[ViolationRule]
    VIOLATION_RULE_DATA_UNUSABLE: _ClassVar[ViolationRule]
    VIOLATION_RULE_PURPOSE_NOT_GRANTED: _ClassVar[ViolationRule]
    VIOLATION_RULE_USE_BURST: _ClassVar[ViolationRule]

class ReportKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_KIND_UNSPECIFIED: _ClassVar[ReportKind]
    REPORT_KIND_YEARLY: _ClassVar[ReportKind]
    REPORT_KIND_MONTHLY_FEEDBACK: _ClassVar[ReportKind]

class ReportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REPORT_FORMAT_UNSPECIFIED: _ClassVar[ReportFormat]
    REPORT_FORMAT_HTML: _ClassVar[ReportFormat]
    REPORT_FORMAT_PDF: _ClassVar[ReportFormat]
    REPORT_FORMAT_CSV: _ClassVar[ReportFormat]
VIOLATION_RULE_UNSPECIFIED: ViolationRule
VIOLATION_RULE_CATALOG_NOT_UPDATED: ViolationRule
VIOLATION_RULE_DATA_NOT_PROVIDED: ViolationRule
VIOLATION_RULE_DATA_UNUSABLE: ViolationRule
VIOLATION_RULE_PURPOSE_NOT_GRANTED: ViolationRule
VIOLATION_RULE_USE_BURST: ViolationRule
REPORT_KIND_UNSPECIFIED: ReportKind
REPORT_KIND_YEARLY: ReportKind
REPORT_KIND_MONTHLY_FEEDBACK: ReportKind
REPORT_FORMAT_UNSPECIFIED: ReportFormat
REPORT_FORMAT_HTML: ReportFormat
REPORT_FORMAT_PDF: ReportFormat
REPORT_FORMAT_CSV: ReportFormat

class Indicator(_message.Message):
    __slots__ = ("name", "numerator", "denominator", "rate", "weight")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    name: str
    numerator: int
    denominator: int
    rate: float
    weight: float
    def __init__(self, name: _Optional[str] = ..., numerator: _Optional[int] = ..., denominator: _Optional[int] = ..., rate: _Optional[float] = ..., weight: _Optional[float] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("department_code", "year", "month", "score", "indicators", "violations", "department_name")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    INDICATORS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    year: int
    month: int
    score: float
    indicators: _containers.RepeatedCompositeFieldContainer[Indicator]
    violations: int
    department_name: str
    def __init__(self, department_code: _Optional[str] = ..., year: _Optional[int] = ..., month: _Optional[int] = ..., score: _Optional[float] = ..., indicators: _Optional[_Iterable[_Union[Indicator, _Mapping]]] = ..., violations: _Optional[int] = ..., department_name: _Optional[str] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("department_code", "year", "month", "figures", "compute_time", "evaluation")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    FIGURES_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    EVALUATION_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    year: int
    month: int
    figures: _containers.RepeatedCompositeFieldContainer[_figures_pb2.Figure]
    compute_time: _timestamp_pb2.Timestamp
    evaluation: Evaluation
    def __init__(self, department_code: _Optional[str] = ..., year: _Optional[int] = ..., month: _Optional[int] = ..., figures: _Optional[_Iterable[_Union[_figures_pb2.Figure, _Mapping]]] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evaluation: _Optional[_Union[Evaluation, _Mapping]] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("id", "department_code", "year", "month", "rule", "article", "subject", "evidence")
    class EvidenceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    ARTICLE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    department_code: str
    year: int
    month: int
    rule: ViolationRule
    article: str
    subject: str
    evidence: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., department_code: _Optional[str] = ..., year: _Optional[int] = ..., month: _Optional[int] = ..., rule: _Optional[_Union[ViolationRule, str]] = ..., article: _Optional[str] = ..., subject: _Optional[str] = ..., evidence: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ComputeSnapshotsRequest(_message.Message):
    __slots__ = ("year", "month")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ...) -> None: ...

class ComputeSnapshotsResponse(_message.Message):
    __slots__ = ("departments", "violations")
    DEPARTMENTS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    departments: int
    violations: int
    def __init__(self, departments: _Optional[int] = ..., violations: _Optional[int] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ("department_code", "year", "month")
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    department_code: str
    year: int
    month: int
    def __init__(self, department_code: _Optional[str] = ..., year: _Optional[int] = ..., month: _Optional[int] = ...) -> None: ...

class GetSnapshotResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: Snapshot
    def __init__(self, snapshot: _Optional[_Union[Snapshot, _Mapping]] = ...) -> None: ...

class ListEvaluationsRequest(_message.Message):
    __slots__ = ("year", "month", "page_size", "page_token")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    page_size: int
    page_token: str
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEvaluationsResponse(_message.Message):
    __slots__ = ("evaluations", "next_page_token", "compute_time")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    COMPUTE_TIME_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    next_page_token: str
    compute_time: _timestamp_pb2.Timestamp
    def __init__(self, evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., compute_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListViolationsRequest(_message.Message):
    __slots__ = ("year", "month", "department_code", "page_size", "page_token")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    department_code: str
    page_size: int
    page_token: str
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., department_code: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListViolationsResponse(_message.Message):
    __slots__ = ("violations", "next_page_token")
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    next_page_token: str
    def __init__(self, violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Weight(_message.Message):
    __slots__ = ("indicator", "weight")
    INDICATOR_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    indicator: str
    weight: float
    def __init__(self, indicator: _Optional[str] = ..., weight: _Optional[float] = ...) -> None: ...

class GetEvaluationWeightsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetEvaluationWeightsResponse(_message.Message):
    __slots__ = ("weights",)
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.RepeatedCompositeFieldContainer[Weight]
    def __init__(self, weights: _Optional[_Iterable[_Union[Weight, _Mapping]]] = ...) -> None: ...

class UpdateEvaluationWeightsRequest(_message.Message):
    __slots__ = ("weights",)
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.RepeatedCompositeFieldContainer[Weight]
    def __init__(self, weights: _Optional[_Iterable[_Union[Weight, _Mapping]]] = ...) -> None: ...

class UpdateEvaluationWeightsResponse(_message.Message):
    __slots__ = ("weights",)
    WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    weights: _containers.RepeatedCompositeFieldContainer[Weight]
    def __init__(self, weights: _Optional[_Iterable[_Union[Weight, _Mapping]]] = ...) -> None: ...

class GenerateReportRequest(_message.Message):
    __slots__ = ("kind", "year", "month", "department_code", "format", "also_formats")
    KIND_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DEPARTMENT_CODE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ALSO_FORMATS_FIELD_NUMBER: _ClassVar[int]
    kind: ReportKind
    year: int
    month: int
    department_code: str
    format: ReportFormat
    also_formats: _containers.RepeatedScalarFieldContainer[ReportFormat]
    def __init__(self, kind: _Optional[_Union[ReportKind, str]] = ..., year: _Optional[int] = ..., month: _Optional[int] = ..., department_code: _Optional[str] = ..., format: _Optional[_Union[ReportFormat, str]] = ..., also_formats: _Optional[_Iterable[_Union[ReportFormat, str]]] = ...) -> None: ...

class GenerateReportResponse(_message.Message):
    __slots__ = ("content", "content_type", "file_name", "also")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    ALSO_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    content_type: str
    file_name: str
    also: _containers.RepeatedCompositeFieldContainer[ReportFile]
    def __init__(self, content: _Optional[bytes] = ..., content_type: _Optional[str] = ..., file_name: _Optional[str] = ..., also: _Optional[_Iterable[_Union[ReportFile, _Mapping]]] = ...) -> None: ...

class ReportFile(_message.Message):
    __slots__ = ("content", "content_type", "file_name")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    content_type: str
    file_name: str
    def __init__(self, content: _Optional[bytes] = ..., content_type: _Optional[str] = ..., file_name: _Optional[str] = ...) -> None: ...
