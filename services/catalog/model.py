"""The catalog's domain model: entry versions, their items, and the values they take (R-CAT-1).

Enumerations mirror the numbers of the protobuf contract (govshare.catalog.v1 and
govshare.common.v1), so the servicer maps them by value. Entry fields that hold an
enumeration are typed ``int`` on purpose: a request may carry a number the contract
does not define (proto3 enums are open), and the rules must be able to report it as
a field violation instead of failing on conversion.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from enum import IntEnum

from services.runtime.actors import Actor


class Category(IntEnum):
    """信息资源分类; the value is also the 类 digit that starts the resource code."""

    UNSPECIFIED = 0
    FOUNDATION = 1
    THEME = 2
    DEPARTMENT = 3


class FormatClass(IntEnum):
    UNSPECIFIED = 0
    ELECTRONIC_FILE = 1
    SPREADSHEET = 2
    DATABASE = 3
    GRAPHIC_IMAGE = 4
    STREAMING_MEDIA = 5
    SELF_DESCRIBING = 6
    OTHER = 7


class DataType(IntEnum):
    UNSPECIFIED = 0
    CHARACTER = 1
    NUMERIC = 2
    CURRENCY = 3
    DATE = 4
    DATETIME = 5
    LOGICAL = 6
    MEMO = 7
    GENERAL = 8
    DOUBLE = 9
    INTEGER = 10
    FLOAT = 11


class IdentifierKind(IntEnum):
    UNSPECIFIED = 0
    CITIZEN_ID = 1
    CREDIT_CODE = 2
    REGION_CODE = 3
    TEXT = 4


class UpdateCycle(IntEnum):
    UNSPECIFIED = 0
    REALTIME = 1
    DAILY = 2
    WEEKLY = 3
    MONTHLY = 4
    QUARTERLY = 5
    HALF_YEARLY = 6
    YEARLY = 7
    IRREGULAR = 8


class Secrecy(IntEnum):
    UNSPECIFIED = 0
    NON_CLASSIFIED = 1
    CLASSIFIED = 2


class ShareType(IntEnum):
    UNSPECIFIED = 0
    UNCONDITIONAL = 1
    CONDITIONAL = 2
    NOT_SHARED = 3


class ShareMethod(IntEnum):
    UNSPECIFIED = 0
    ONLINE_QUERY = 1
    SYSTEM_INTEGRATION = 2
    FRONT_END_EXCHANGE = 3
    BATCH_DOWNLOAD = 4


class Zone(IntEnum):
    UNSPECIFIED = 0
    EXTRANET = 1
    INTRANET = 2


class EntryState(IntEnum):
    """Lifecycle state of one entry version (R-CAT-3)."""

    UNSPECIFIED = 0
    DRAFT = 1
    SUBMITTED = 2
    PUBLISHED = 3
    RETURNED = 4
    RETIRED = 5
    SUPERSEDED = 6


class ReviewDecision(IntEnum):
    UNSPECIFIED = 0
    PUBLISH = 1
    RETURN = 2


#: States everyone may read: what the authority published, including history kept for audit. A version in
#: one of them is public only if it was published (it has a publish time): retiring an entry also closes
#: its draft in progress as RETIRED, and that draft was never reviewed (see :func:`is_public`).
PUBLIC_STATES = frozenset({EntryState.PUBLISHED, EntryState.RETIRED, EntryState.SUPERSEDED})
#: States of work in progress, visible only to the provider department and the authority.
PENDING_STATES = frozenset({EntryState.DRAFT, EntryState.SUBMITTED, EntryState.RETURNED})


def is_known(enum: type[IntEnum], value: int) -> bool:
    """Whether ``value`` is a defined, specified member of ``enum``."""
    return value != 0 and value in enum._value2member_map_


def label(enum: type[IntEnum], value: int) -> str:
    """A readable name for messages, also for numbers the contract does not define."""
    member = enum._value2member_map_.get(value)
    return member.name if member is not None else str(value)


@dataclass
class DataItem:
    """信息项: one data item of a resource."""

    name: str = ""
    machine_name: str = ""
    data_type: int = DataType.UNSPECIFIED
    length: int = 0
    sensitive: bool = False
    mask_rule: str = ""
    basic: bool = False
    identifier: int = IdentifierKind.UNSPECIFIED
    #: Set on a published version's items (lifecycle.listed): the publish time of the first version of the item's
    #: unbroken run of published versions. Grants made before it do not cover the item (it was dropped and added
    #: back since). Not compared: an edit sends the items without it, and the same item is no change.
    listed_since: dt.datetime | None = field(default=None, compare=False)


@dataclass
class Endpoint:
    """Where query fetches records; an empty target means the platform's foundation service."""

    target: str = ""
    dataset: str = ""


@dataclass
class EntryReturn:
    """One return of a version by the authority: what had to be reworked, when, by whom."""

    reason: str
    time: dt.datetime
    returned_by: Actor


@dataclass
class Entry:
    """One version of a catalog entry. Output-only fields are ignored on input."""

    code: str = ""
    name: str = ""
    summary: str = ""
    category: int = Category.UNSPECIFIED
    subject: str = ""
    provider_department_code: str = ""
    provider_name: str = ""
    format_class: int = FormatClass.UNSPECIFIED
    format_type: str = ""
    items: list[DataItem] = field(default_factory=list)
    key_item: str = ""
    share_type: int = ShareType.UNSPECIFIED
    share_condition: str = ""
    share_methods: list[int] = field(default_factory=list)
    legal_basis: str = ""
    open_to_public: bool = False
    open_condition: str = ""
    update_cycle: int = UpdateCycle.UNSPECIFIED
    related_codes: list[str] = field(default_factory=list)
    zone: int = Zone.UNSPECIFIED
    secrecy: int = Secrecy.UNSPECIFIED
    endpoint: Endpoint = field(default_factory=Endpoint)
    project_code: str = ""
    # Output only.
    state: int = EntryState.UNSPECIFIED
    version: int = 0
    publish_time: dt.datetime | None = None
    return_reason: str = ""
    create_time: dt.datetime | None = None
    update_time: dt.datetime | None = None
    #: Who submitted this version, and who published or returned it (issue 12).
    submitted_by: Actor = field(default_factory=Actor)
    reviewed_by: Actor = field(default_factory=Actor)
    #: Why RetireEntry closed it (a retired version only; "" when none was given).
    retire_reason: str = ""
    #: Every return of this version, oldest first (CatalogStore.returns): read by GetEntry and ListEntryVersions
    #: for the provider and the authority only, empty elsewhere.
    returns: list[EntryReturn] = field(default_factory=list)

    @property
    def etag(self) -> str:
        """Of this version as it is now: every write of a version (edit, submit, review) moves its update_time."""
        stamp = self.update_time.isoformat() if self.update_time is not None else ""
        return hashlib.sha256(f"{self.code}:{self.version}:{stamp}".encode()).hexdigest()[:16]

    @property
    def restricted(self) -> bool:
        """Whether only an intranet deployment may hold it (R-ZON-2)."""
        return self.secrecy == Secrecy.CLASSIFIED or self.zone == Zone.INTRANET


def is_public(entry: Entry) -> bool:
    """Whether every department may read this version: published once, whatever it became since."""
    return entry.state in PUBLIC_STATES and entry.publish_time is not None


@dataclass(frozen=True)
class EntryHead:
    """What is known of an entry as a whole: its owner and which versions count."""

    code: str
    provider_department_code: str
    latest_version: int
    public_version: int | None

    def current_version(self, privileged: bool) -> int | None:
        """The version GetEntry returns by default: the published one, else (for insiders) the latest."""
        if self.public_version is not None:
            return self.public_version
        return self.latest_version if privileged else None


@dataclass(frozen=True)
class EntryFilter:
    """Filters shared by list and search; zero values do not filter."""

    provider_department_code: str = ""
    category: int = 0
    share_type: int = 0
    zone: int = 0
    state: int = 0
    update_cycle: int = 0
    subject: str = ""
    project_code: str = ""


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    next_page_token: str
    #: Search only: where the query's words occur in each entry's name and summary (same order as entries).
    highlights: list[Highlight] = field(default_factory=list)


@dataclass(frozen=True)
class Highlight:
    """[start, end) code point ranges of the matched words in an entry's name and summary, as stored."""

    name: list[tuple[int, int]]
    summary: list[tuple[int, int]]


@dataclass(frozen=True)
class ProjectStatus:
    project_code: str
    entry_count: int
    published_count: int
    #: The unpublished entries the caller may know of (others' drafts are counted, not named).
    unpublished_codes: list[str]

    @property
    def all_published(self) -> bool:
        """A project with no registered entry has not joined the catalog yet, so it is not complete."""
        return self.entry_count > 0 and self.published_count == self.entry_count


@dataclass(frozen=True)
class ProjectEntry:
    """The current version of one entry of a project, as GetProjectStatus counts it."""

    code: str
    state: int
    provider_department_code: str
    #: Whether the entry was ever published (so every department may read it).
    public: bool


@dataclass(frozen=True)
class RelatedHead:
    """An entry named as related by another: whose it is, and whether it is published or still being written."""

    code: str
    provider_department_code: str
    public_state: EntryState | None
    latest_state: EntryState


@dataclass(frozen=True)
class EndpointReader:
    """A published entry reading a dataset: which provider, through which endpoint."""

    code: str
    provider_department_code: str
    target: str


@dataclass(frozen=True)
class MandateChange:
    """A legal or mandate change that obliges a department to update its catalog (R-CAT-3)."""

    department_code: str
    description: str
    change_time: dt.datetime
    due_time: dt.datetime
    #: The working days ``due_time`` was counted with, so that a due date counted without its year's calendar is
    #: counted again once the calendar has it (workdays.recount); None when not kept.
    due_working_days: int | None = None
