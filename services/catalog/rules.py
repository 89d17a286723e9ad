"""What makes a catalog entry acceptable (R-CAT-1, R-CAT-2, R-SHR-3, R-ZON-2).

Every rule reports into one list of field violations, so a department fixes every
problem of an entry in one round trip instead of discovering them one at a time.
Paths follow the request (``entry.items[1].machine_name``).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterable

from services.catalog.model import (
    Category,
    DataType,
    Entry,
    EntryFilter,
    EntryState,
    FormatClass,
    IdentifierKind,
    ReviewDecision,
    Secrecy,
    ShareMethod,
    ShareType,
    UpdateCycle,
    Zone,
    is_known,
)
from services.runtime.errors import (
    BLANK_LETTERS,
    HIDDEN_FORMATTING,
    FieldViolation,
    hidden_formatting,
    invalid_argument,
    one_line_break,
    reason_violation,
    says_something,
)
from services.runtime.identifiers import credit_code_error, resource_code_slip

#: 信息资源代码: 类 (1 digit, 1-3) 项 (2) 目 (3) optional 细目 (3) "/" sequence (6).
CODE_PATTERN = re.compile(r"([1-3])([0-9]{2})([0-9]{3})([0-9]{3})?/([0-9]{6})")
MACHINE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
DATASET_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

#: R-CAT-2 (Art. 10(3)): the subjects of the foundation and theme categories.
FOUNDATION_SUBJECTS = ("人口", "法人单位", "自然资源和空间地理", "社会信用", "电子证照")
THEME_SUBJECTS = ("健康保障", "社会保障", "食品药品安全", "安全生产", "价格监管", "能源安全", "信用体系",
                  "城乡建设", "社区治理", "生态环保", "应急维稳")
SUBJECTS = {Category.FOUNDATION: FOUNDATION_SUBJECTS, Category.THEME: THEME_SUBJECTS}
#: The 项 of a foundation or theme resource's code is its subject's number in its category's list above (101001 人口,
#: 102001 法人单位, 202001 社会保障); a department resource's 项 is the department's own classification.
ITEM_NUMBERS = {category: {subject: f"{index:02d}" for index, subject in enumerate(subjects, 1)}
                for category, subjects in SUBJECTS.items()}

MAX_NAME = 100
MAX_SUMMARY = 256
MAX_SUBJECT = 50
MAX_SHORT_TEXT = 64
MAX_LONG_TEXT = 2000
MAX_TARGET = 255
MAX_ITEMS = 500
MAX_RELATED = 100
# Mandate changes are dated from the platform's era; a few minutes of clock skew are tolerated.
EARLIEST_CHANGE = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
CLOCK_SKEW = dt.timedelta(minutes=5)
#: Character types need a declared length (字符型 in the national guide).
LENGTH_REQUIRED = frozenset({DataType.CHARACTER})

#: Fields a caller may name in UpdateEntry's update_mask (AIP-134); code, state, version and
#: the output-only times are not among them.
UPDATABLE_FIELDS = (
    "name", "summary", "category", "subject", "provider_department_code", "provider_name", "format_class",
    "format_type", "items", "key_item", "share_type", "share_condition", "share_methods", "legal_basis",
    "open_to_public", "open_condition", "update_cycle", "related_codes", "zone", "secrecy", "endpoint",
    "project_code",
)
UPDATABLE_NESTED = {"endpoint.target", "endpoint.dataset"}
#: Every other field of Entry: an update mask naming one is told it cannot be changed, not that it is unknown.
OUTPUT_ONLY_FIELDS = ("code", "state", "version", "publish_time", "return_reason", "create_time", "update_time",
                      "etag", "retire_reason", "submitted_by", "reviewed_by", "returns")


def code_error(code: str) -> str | None:
    """Why ``code`` is not a well-formed 信息资源代码, or None, with what made it differ from one
    (identifiers.resource_code_slip: /v1/entries/101001%252F000001 reached the catalog as 101001%2F000001)."""
    if not code:
        return "is required"
    if CODE_PATTERN.fullmatch(code) is None:
        if slip := resource_code_slip(code, CODE_PATTERN.fullmatch):  # shorter, so the slip is said whole
            return f"must be a 信息资源代码 like 101001/000001{slip}"
        return ("must be the classification (类 1 digit 1-3, 项 2 digits, 目 3 digits, optional 细目 3 digits), "
                "'/', and a 6-digit sequence, e.g. 101001/000001")
    return None


#: The numbered parts of a well-formed code (CODE_PATTERN's groups after the 类) and the numbers each may take: a
#: part of zeros only numbers nothing (the 项, 目 and 细目 of a 类 and the sequence of a classification count from 1).
NUMBERED_PARTS = (("项", 2, "01-99"), ("目", 3, "001-999"), ("细目", 4, "001-999"), ("顺序号", 5, "000001-999999"))


def zero_parts_problem(code: str) -> str | None:
    """Why a well-formed ``code`` cannot be given to a new entry because a part of it is zeros only (101000/000001,
    100001/000001, 101001/000000), naming each such part and the numbers it may take; None when there is none."""
    match = CODE_PATTERN.fullmatch(code)
    if match is None:
        return None
    zeros = [f"{part} {match.group(group)} (allowed: {allowed})" for part, group, allowed in NUMBERED_PARTS
             if match.group(group) is not None and not match.group(group).strip("0")]
    return f"numbers a part with zeros only: {'; '.join(zeros)}" if zeros else None


def item_number_problem(code: str, category: int, subject: str) -> str | None:
    """Why the 项 of a well-formed ``code`` does not stand for ``subject`` in a foundation or theme ``category`` (the
    seeds' subjects, numbered in order), naming the numbers allowed; None when it does, or when it cannot be said (a
    department resource, a subject or 类 that is wrong itself, a 项 00 which zero_parts_problem names)."""
    numbers = ITEM_NUMBERS.get(Category(category)) if is_known(Category, category) else None
    match = CODE_PATTERN.fullmatch(code)
    if numbers is None or match is None or int(match.group(1)) != category or subject not in numbers \
            or match.group(2) in ("00", numbers[subject]):
        return None
    allowed = "、".join(f"{number} {name}" for name, number in numbers.items())
    return (f"the 项 {match.group(2)} does not stand for the subject {subject}: a {Category(category).name} resource's "
            f"项 is one of {allowed}, so {subject} is {numbers[subject]}")


def stored_code_problem(code: str, category: int, subject: str) -> str | None:
    """What the code rules of a new entry (zero_parts_problem, item_number_problem) say of an entry stored before
    them, or None: such an entry keeps its code (a code never changes) and is flagged to the authority."""
    return zero_parts_problem(code) or item_number_problem(code, category, subject)


def code_category(code: str) -> int:
    """The category a well-formed code's 类 digit stands for."""
    return int(code[0])


def _stand_in_ideograph(value: str) -> tuple[int, str] | None:
    """The first character of ``value`` drawn like a Han character it is not (a Kangxi radical ⼈ for 人, a
    compatibility ideograph), with the character it stands for, or None. Such a name reads as another entry's
    (⼈口基本信息 beside 人口基本信息) while no text typed with an input method matches it byte for byte."""
    for index, character in enumerate(value):
        standard = unicodedata.normalize("NFKC", character)
        if standard != character and len(standard) == 1 \
                and unicodedata.name(standard, "").startswith("CJK UNIFIED IDEOGRAPH"):
            return index, standard
    return None


class _Report:
    """Collects violations; text checks are shared so no field escapes the basic ones."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def text(self, path: str, value: str, limit: int, required: bool = False) -> bool:
        """Checks presence, length and the NUL character PostgreSQL text cannot hold; True if usable."""
        if "\x00" in value:
            self.add(path, "must not contain the NUL character")
            return False
        if required and not value.strip():
            self.add(path, "is required")
            return False
        if len(value) > limit:
            self.add(path, f"must be at most {limit} characters, got {len(value)}")
            return False
        return True

    def free_text(self, path: str, value: str, limit: int) -> bool:
        """Text of several lines shown to other departments and kept in the trail (a summary, a condition, a legal
        basis, a reason): besides :meth:`text`, no direction override, zero-width or control character
        (services.runtime.errors.hidden_formatting), which showed the provider, the applicant and the authority
        another text than the one stored and matched; line breaks, tabs and full-width spaces are taken."""
        if not self.text(path, value, limit):
            return False
        if (problem := hidden_formatting(value)) is not None:
            self.add(path, f"{HIDDEN_FORMATTING}: {problem}")
            return False
        return True

    def name(self, path: str, value: str, required: bool = False, limit: int = MAX_NAME) -> bool:
        """A name shown wherever the entry is (the catalog, search, the console, reports): besides :meth:`text`,
        no control or invisible formatting character (a zero-width space, a right-to-left override that shows
        the rest reversed), and, when required, a letter or a digit: a name of nothing but such characters was
        published as a blank line in the catalog. A department's subject and a project code are such names too:
        shown beside the entry and matched byte for byte by a filter or GetProjectStatus that was typed."""
        if not self.text(path, value, limit, required):
            return False
        if (hidden := _hidden_character(value)) is not None:
            self.add(path, f"must not contain control or invisible formatting characters (U+{ord(value[hidden]):04X} "
                           f"at position {hidden}): type the name as it is to be shown")
            return False
        if (stand_in := _stand_in_ideograph(value)) is not None:
            index, standard = stand_in
            self.add(path, f"U+{ord(value[index]):04X} at position {index} is a radical or compatibility form drawn "
                           f"like {standard} (U+{ord(standard):04X}): write {standard}")
            return False
        if required and not says_something(value):
            self.add(path, "holds no letter or digit: give the name as it is to be shown")
            return False
        return True

    def enum(self, path: str, enum: type, value: int, required: bool = True) -> bool:
        if value == 0:
            if required:
                self.add(path, f"is required: one of {', '.join(m.name for m in enum if m.value)}")
            return False
        if not is_known(enum, value):
            self.add(path, f"unknown value {value}: expected one of {', '.join(m.name for m in enum if m.value)}")
            return False
        return True


def validate_entry(entry: Entry, known_mask_rule: Callable[[str], bool], prefix: str = "entry",
                   new_code: bool = False) -> list[FieldViolation]:
    """Every violation of ``entry``; an empty list means it may be stored. With ``new_code`` (CreateEntry) the code
    is being given and must number every part; an entry stored under a code given before that rule keeps it."""
    report = _Report()
    _check_identity(report, entry, prefix)
    if new_code:
        _check_new_code(report, entry, prefix)
    _check_description(report, entry, prefix)
    _check_items(report, entry, prefix, known_mask_rule)
    _check_sharing(report, entry, prefix)
    _check_placement(report, entry, prefix)
    return report.violations


def _check_identity(report: _Report, entry: Entry, prefix: str) -> None:
    """Code, category and subject must agree with each other (R-CAT-1, R-CAT-2)."""
    category_ok = report.enum(f"{prefix}.category", Category, entry.category)
    problem = code_error(entry.code)
    if problem is not None:
        report.add(f"{prefix}.code", problem)
    elif category_ok and code_category(entry.code) != entry.category:
        report.add(f"{prefix}.code", f"the 类 digit {entry.code[0]} means {Category(code_category(entry.code)).name}"
                                     f" but the category is {Category(entry.category).name}: they must agree")
    if report.name(f"{prefix}.subject", entry.subject, required=True, limit=MAX_SUBJECT) and category_ok:
        allowed = SUBJECTS.get(Category(entry.category))
        if allowed is not None and entry.subject not in allowed:
            report.add(f"{prefix}.subject", f"a {Category(entry.category).name} resource's subject must be one of "
                                            f"{'、'.join(allowed)}")


def _check_new_code(report: _Report, entry: Entry, prefix: str) -> None:
    """A code being given numbers every part and its 项 stands for the subject (the parts first: a code numbering
    nothing is typed again whole)."""
    problem = zero_parts_problem(entry.code) or item_number_problem(entry.code, entry.category, entry.subject)
    if problem is not None:
        report.add(f"{prefix}.code", problem)


def require_subject_numbered(entry: Entry) -> None:
    """INVALID_ARGUMENT when an edit of an entry's subject leaves its code's 项 standing for another: the code never
    changes, so the subject must stay the one it numbers (an entry stored before the rule is edited freely
    otherwise, and may be brought into agreement this way)."""
    if (problem := item_number_problem(entry.code, entry.category, entry.subject)) is not None:
        raise invalid_argument([FieldViolation("entry.subject", problem)])


def _check_description(report: _Report, entry: Entry, prefix: str) -> None:
    report.name(f"{prefix}.name", entry.name, required=True)
    report.free_text(f"{prefix}.summary", entry.summary, MAX_SUMMARY)
    if report.text(f"{prefix}.provider_department_code", entry.provider_department_code, MAX_SHORT_TEXT,
                   required=True):
        problem = credit_code_error(entry.provider_department_code)
        if problem is not None:
            report.add(f"{prefix}.provider_department_code", problem)
    report.name(f"{prefix}.provider_name", entry.provider_name)
    report.enum(f"{prefix}.format_class", FormatClass, entry.format_class)
    report.name(f"{prefix}.format_type", entry.format_type, limit=MAX_SHORT_TEXT)
    report.enum(f"{prefix}.update_cycle", UpdateCycle, entry.update_cycle)
    report.name(f"{prefix}.project_code", entry.project_code, limit=MAX_SHORT_TEXT)
    _check_related(report, entry, prefix)


def _check_related(report: _Report, entry: Entry, prefix: str) -> None:
    if len(entry.related_codes) > MAX_RELATED:
        report.add(f"{prefix}.related_codes", f"at most {MAX_RELATED} related codes")
        return
    seen: set[str] = set()
    for index, code in enumerate(entry.related_codes):
        path = f"{prefix}.related_codes[{index}]"
        problem = code_error(code)
        if problem is not None:
            report.add(path, problem)
        elif code == entry.code:
            report.add(path, "an entry cannot be related to itself")
        elif code in seen:
            report.add(path, f"{code} is listed twice")
        seen.add(code)


def _check_items(report: _Report, entry: Entry, prefix: str, known_mask_rule: Callable[[str], bool]) -> None:
    """信息项: named, typed, uniquely machine-named; the key item says how keys are validated."""
    if not entry.items:
        report.add(f"{prefix}.items", "at least one data item is required")
    elif len(entry.items) > MAX_ITEMS:
        report.add(f"{prefix}.items", f"at most {MAX_ITEMS} data items")
        return
    first_index: dict[str, int] = {}
    first_named: dict[str, int] = {}
    machine_names = {item.machine_name for item in entry.items}
    for index, item in enumerate(entry.items):
        path = f"{prefix}.items[{index}]"
        if report.name(f"{path}.name", item.name, required=True):
            _check_item_name(report, prefix, index, item.name, first_named)
        if report.text(f"{path}.machine_name", item.machine_name, MAX_SHORT_TEXT, required=True):
            if MACHINE_NAME_PATTERN.fullmatch(item.machine_name) is None:
                report.add(f"{path}.machine_name", "must be lower_snake_case (a-z, 0-9 and single underscores, "
                                                   "starting with a letter)")
            elif item.machine_name in first_index:
                report.add(f"{path}.machine_name", f"{item.machine_name} is already used by "
                                                   f"{prefix}.items[{first_index[item.machine_name]}]")
            else:
                first_index[item.machine_name] = index
        if report.enum(f"{path}.data_type", DataType, item.data_type) \
                and item.data_type in LENGTH_REQUIRED and item.length <= 0:
            report.add(f"{path}.length", f"a {DataType(item.data_type).name} item needs a length above 0")
        elif item.length < 0:
            report.add(f"{path}.length", "must not be negative")
        if item.mask_rule and report.text(f"{path}.mask_rule", item.mask_rule, MAX_SHORT_TEXT):
            if not known_mask_rule(item.mask_rule):
                report.add(f"{path}.mask_rule", f"unknown masking rule {item.mask_rule!r}")
            elif not item.sensitive:
                # Only a sensitive item is masked: the rule was kept and ignored, the values served in full to
                # every department that an officer who chose 姓名's rule and forgot 敏感 meant to mask.
                report.add(f"{path}.mask_rule", "masks a sensitive item only: this item is not sensitive, so its "
                                                "values would be shown in full: mark it sensitive, or clear the rule")
        if report.enum(f"{path}.identifier", IdentifierKind, item.identifier, required=False) \
                and item.machine_name != entry.key_item and entry.key_item in machine_names:
            report.add(f"{path}.identifier", "is set on the key item only")
    if entry.items:
        _check_key_item(report, entry, prefix)


def _shown_alike(name: str) -> str:
    """The form in which two item names read the same to a person: NFKC (a full-width ｎａｍｅ, a Kangxi radical ⼈
    for 人), case-folded, without spaces (a 全角 space, a trailing blank)."""
    return "".join(unicodedata.normalize("NFKC", name).casefold().split())


def _check_item_name(report: _Report, prefix: str, index: int, name: str, first_named: dict[str, int]) -> None:
    """An item's name is unique in its entry as a person reads it. Applicants tick items, approvers grant them and
    auditors read them by these names (the console, the reply form, a grant's scope): two items named 姓名, or 姓名
    and 姓名 written with a look-alike, could not be told apart, and the one granted might be the sensitive one."""
    shown = _shown_alike(name)
    if shown in first_named:
        other = first_named[shown]
        report.add(f"{prefix}.items[{index}].name", f"reads as the name of {prefix}.items[{other}]: give each item a "
                                                    "name of its own, as applicants and approvers choose items by "
                                                    "name")
    else:
        first_named[shown] = index


def _check_key_item(report: _Report, entry: Entry, prefix: str) -> None:
    path = f"{prefix}.key_item"
    if not report.text(path, entry.key_item, MAX_SHORT_TEXT, required=True):
        return
    key = next((item for item in entry.items if item.machine_name == entry.key_item), None)
    if key is None:
        report.add(path, f"{entry.key_item} is not the machine name of any item")
    elif key.identifier == IdentifierKind.UNSPECIFIED:
        report.add(path, f"the key item {entry.key_item} must set identifier (how query validates keys)")


def _check_sharing(report: _Report, entry: Entry, prefix: str) -> None:
    """共享属性: conditions, legal basis and methods per share type (R-SHR-1..3)."""
    share_ok = report.enum(f"{prefix}.share_type", ShareType, entry.share_type)
    report.free_text(f"{prefix}.share_condition", entry.share_condition, MAX_LONG_TEXT)
    report.free_text(f"{prefix}.legal_basis", entry.legal_basis, MAX_LONG_TEXT)
    report.free_text(f"{prefix}.open_condition", entry.open_condition, MAX_LONG_TEXT)
    seen: set[int] = set()
    for index, method in enumerate(entry.share_methods):
        path = f"{prefix}.share_methods[{index}]"
        if report.enum(path, ShareMethod, method):
            if method in seen:
                report.add(path, f"{ShareMethod(method).name} is listed twice")
            seen.add(method)
    if not share_ok:
        return
    # Words, not only punctuation: "。" states no condition and cites no law.
    if entry.share_type == ShareType.CONDITIONAL and not says_something(entry.share_condition):
        report.add(f"{prefix}.share_condition", "a CONDITIONAL resource must state its share condition")
    # A condition an unconditional resource never applies: every department reading GetEntry saw "仅限…" on a
    # resource served to all, and the console, which shows a condition only beside 有条件共享, hid what was typed.
    if entry.share_type == ShareType.UNCONDITIONAL and entry.share_condition:
        report.add(f"{prefix}.share_condition", "an UNCONDITIONAL resource is shared with every department without "
                                                "conditions: clear the share condition, or make the resource "
                                                "CONDITIONAL")
    if entry.open_condition and not entry.open_to_public:
        report.add(f"{prefix}.open_condition", "the resource is not open to the public: clear the open condition, "
                                               "or set open_to_public")
    if entry.share_type == ShareType.NOT_SHARED and not says_something(entry.legal_basis):
        report.add(f"{prefix}.legal_basis", "a NOT_SHARED resource must cite the law, regulation or policy that "
                                            "excludes it from sharing (Art. 10(1))")
    if entry.share_type in (ShareType.UNCONDITIONAL, ShareType.CONDITIONAL) and not entry.share_methods:
        report.add(f"{prefix}.share_methods", f"a {ShareType(entry.share_type).name} resource must offer at least "
                                              "one share method")


def _check_placement(report: _Report, entry: Entry, prefix: str) -> None:
    """Zone, secrecy and the provider endpoint (§9)."""
    zone_ok = report.enum(f"{prefix}.zone", Zone, entry.zone)
    secrecy_ok = report.enum(f"{prefix}.secrecy", Secrecy, entry.secrecy)
    if zone_ok and secrecy_ok and entry.secrecy == Secrecy.CLASSIFIED:
        if entry.zone != Zone.INTRANET:
            report.add(f"{prefix}.zone", "a CLASSIFIED resource must be in zone INTRANET")
        if entry.open_to_public:
            report.add(f"{prefix}.open_to_public", "a CLASSIFIED resource cannot be open to the public")
    endpoint = entry.endpoint
    if report.text(f"{prefix}.endpoint.dataset", endpoint.dataset, MAX_SHORT_TEXT, required=True) \
            and DATASET_PATTERN.fullmatch(endpoint.dataset) is None:
        report.add(f"{prefix}.endpoint.dataset", "must be letters, digits, '_', '.' or '-'")
    if report.text(f"{prefix}.endpoint.target", endpoint.target, MAX_TARGET) and endpoint.target \
            and (not endpoint.target.isprintable() or any(c.isspace() for c in endpoint.target)):
        report.add(f"{prefix}.endpoint.target", "must be a gRPC target such as host:port (no spaces); "
                                                "empty means the platform's foundation service")


#: Text an officer types, trimmed before it is checked and stored: a pasted " 人口" or "智慧政务（一期） " is what
#: was meant without the spaces, and kept with them a subject was refused as none of the allowed ones, and a
#: project code or a name matched no filter or GetProjectStatus call written without them.
TRIMMED_FIELDS = ("name", "summary", "subject", "provider_name", "format_type", "share_condition", "legal_basis",
                  "open_condition", "project_code")


def trimmed(entry: Entry) -> Entry:
    """``entry`` with its typed text (TRIMMED_FIELDS and the items' names) stripped of surrounding whitespace,
    full-width spaces included, and its line breaks written as LF (:func:`one_line_break`); codes and machine names
    are checked as sent."""
    tidy = copy.deepcopy(entry)
    for name in TRIMMED_FIELDS:
        setattr(tidy, name, one_line_break(getattr(tidy, name).strip()))
    for item in tidy.items:
        item.name = item.name.strip()
    return tidy


def trimmed_filter(entry_filter: EntryFilter) -> EntryFilter:
    """The filter's typed text trimmed as entries' is, so that " 人口" finds what "人口" does. The provider's
    统一社会信用代码 is read as a query's key of that kind (services.query.keys.normalize_key) and the access log's
    department filter are: in lower case or full width (a Chinese input method's 全角) it names the same department,
    where 目录's 提供方代码 typed 11110100mb0000007n was refused of a code whose M it holds."""
    code = entry_filter.provider_department_code
    if not code.isascii():
        code = unicodedata.normalize("NFKC", code)
    return dataclasses.replace(entry_filter, subject=entry_filter.subject.strip(),
                               project_code=entry_filter.project_code.strip(),
                               provider_department_code=code.strip().upper())


def require_valid(entry: Entry, known_mask_rule: Callable[[str], bool], new_code: bool = False) -> None:
    """Raises INVALID_ARGUMENT listing every violation of ``entry`` (``new_code``: see validate_entry)."""
    violations = validate_entry(entry, known_mask_rule, new_code=new_code)
    if violations:
        raise invalid_argument(violations)


def require_valid_edit(before: Entry, after: Entry, known_mask_rule: Callable[[str], bool],
                       changed: Iterable[str]) -> None:
    """Raises INVALID_ARGUMENT listing the violations of an edited entry that the edit is answerable for. A stored
    version may break a rule made after it was stored (a summary holding a zero-width space from before hidden
    formatting was refused): every UpdateEntry of it was refused on that field, even one renaming the entry, until
    the summary was cleaned. A violation the stored version has too (same field, same words) is left out while its
    field is not among the ``changed`` ones (changed_fields' names), so old data blocks no unrelated edit; on a
    changed field one the stored value broke too (the same rule) is said with a note that the stored value holds it,
    so the editor knows to clean the text kept from it.
    SubmitEntry still checks the whole version (require_valid)."""
    violations = validate_entry(after, known_mask_rule)
    if not violations:
        return
    stored = validate_entry(before, known_mask_rule)
    stored_words = {(v.field, v.description) for v in stored}
    stored_rules = {(v.field, _rule_of(v.description)) for v in stored}
    touched = {path.partition(".")[0] for path in changed}
    answerable: list[FieldViolation] = []
    for violation in violations:
        field = _entry_field(violation.field)
        if field not in touched:
            if (violation.field, violation.description) in stored_words:
                continue
        elif (violation.field, _rule_of(violation.description)) in stored_rules:
            violation = FieldViolation(violation.field, f"{violation.description} (the stored {field} holds it "
                                                         f"already: clean this field)")
        answerable.append(violation)
    if answerable:
        raise invalid_argument(answerable)


def _rule_of(description: str) -> str:
    """A violation's rule without its particulars (which character, where): the words before the first colon."""
    return description.partition(":")[0]


def _entry_field(path: str) -> str:
    """The Entry field a violation's path is in: entry.items[2].name is in items, entry.endpoint.target in
    endpoint."""
    return re.split(r"[.\[]", path.removeprefix("entry."), maxsplit=1)[0]


def check_code(code: str, path: str = "code") -> None:
    """Raises INVALID_ARGUMENT when ``code`` cannot name an entry."""
    problem = code_error(code)
    if problem is not None:
        raise invalid_argument([FieldViolation(path, problem)])


def mask_paths(paths: Iterable[str]) -> list[str]:
    """The update mask's paths, expanded and checked (AIP-134); INVALID_ARGUMENT names every bad one."""
    paths = list(paths)
    if not paths:
        raise invalid_argument([FieldViolation("update_mask", "is required: name the fields to change")])
    violations: list[FieldViolation] = []
    expanded: list[str] = []
    for index, path in enumerate(paths):
        if path == "*":
            expanded.extend(UPDATABLE_FIELDS)
        elif path in UPDATABLE_FIELDS or path in UPDATABLE_NESTED:
            expanded.append(path)
        elif path in OUTPUT_ONLY_FIELDS:
            violations.append(FieldViolation(f"update_mask.paths[{index}]", f"{path} cannot be changed"))
        else:
            violations.append(FieldViolation(f"update_mask.paths[{index}]",
                                             f"unknown field {path!r}: expected one of {', '.join(UPDATABLE_FIELDS)}"))
    if violations:
        raise invalid_argument(violations)
    return expanded


def apply_mask(current: Entry, patch: Entry, paths: Iterable[str]) -> Entry:
    """``current`` with the masked fields taken from ``patch``; everything else, identity included, kept."""
    merged = copy.deepcopy(current)
    for path in paths:
        head, _, nested = path.partition(".")
        if nested:
            setattr(getattr(merged, head), nested, copy.deepcopy(getattr(getattr(patch, head), nested)))
        else:
            setattr(merged, head, copy.deepcopy(getattr(patch, head)))
    return merged


def changed_fields(before: Entry, after: Entry, paths: Iterable[str]) -> list[str]:
    """Of the masked ``paths`` (mask_paths' names), those whose value ``after`` does not share with ``before``.

    The console sends every field with each edit (update_mask ``*``): what an edit changed is what differs, not
    what it named, or the entry's history said every field of the entry was changed by each save. The share
    methods are a set: the console sends them in its checkboxes' order, and an entry a business system catalogued
    with 批量下载 before 联机查询, saved as it was read, drafted a version 2 changing nothing for the authority
    to review. Line breaks are compared as one LF (:func:`one_line_break`)."""
    def value(entry: Entry, path: str) -> object:
        head, _, nested = path.partition(".")
        found = getattr(entry, head)
        if head == "share_methods":
            return sorted(found)
        found = getattr(found, nested) if nested else found
        # A version stored before line breaks were written as LF (CRLF, from the console) is the same text.
        return one_line_break(found) if isinstance(found, str) else found
    return [path for path in dict.fromkeys(paths) if value(before, path) != value(after, path)]


def check_filter(entry_filter: EntryFilter, prefix: str = "filter") -> None:
    """Raises INVALID_ARGUMENT for filters no entry could match because they are malformed. A subject or project
    code holding an invisible character (人口\u200b基础, copied from a web page) was answered with no entry, which
    read as "there is none"; no entry's is stored so, so it is refused naming the character."""
    report = _Report()
    if entry_filter.provider_department_code and report.text(
            f"{prefix}.provider_department_code", entry_filter.provider_department_code, MAX_SHORT_TEXT):
        problem = credit_code_error(entry_filter.provider_department_code)
        if problem is not None:
            report.add(f"{prefix}.provider_department_code", problem)
    report.enum(f"{prefix}.category", Category, entry_filter.category, required=False)
    report.enum(f"{prefix}.share_type", ShareType, entry_filter.share_type, required=False)
    report.enum(f"{prefix}.zone", Zone, entry_filter.zone, required=False)
    report.enum(f"{prefix}.state", EntryState, entry_filter.state, required=False)
    report.enum(f"{prefix}.update_cycle", UpdateCycle, entry_filter.update_cycle, required=False)
    for path, value, limit in ((f"{prefix}.subject", entry_filter.subject, MAX_SUBJECT),
                               (f"{prefix}.project_code", entry_filter.project_code, MAX_SHORT_TEXT)):
        if report.text(path, value, limit) and (hidden := _hidden_character(value)) is not None:
            report.add(path, f"must not contain control or invisible formatting characters (U+{ord(value[hidden]):04X} "
                             f"at position {hidden}): no entry's is stored with one (_Report.name refuses them), so "
                             "the filter would match none: type it again")
    if report.violations:
        raise invalid_argument(report.violations)


def _hidden_character(value: str) -> int | None:
    """Where ``value`` holds a control or invisible formatting character, or a Hangul filler, drawn as nothing;
    None when it holds none."""
    return next((i for i, c in enumerate(value) if unicodedata.category(c) in ("Cc", "Cf") or c in BLANK_LETTERS),
                None)


def check_reason(reason: str, field: str = "reason") -> None:
    """Optional free text kept in the audit trail."""
    report = _Report()
    report.free_text(field, reason, MAX_LONG_TEXT)
    if report.violations:
        raise invalid_argument(report.violations)


def require_retire_reason(reason: str) -> None:
    """Retiring a published entry ends every grant of it at once, for good: the departments that used it read why
    in its retire_reason, as a revoked grant's holder reads the revocation's reason (RevokeGrant requires one)."""
    if not says_something(reason):
        raise invalid_argument([FieldViolation("reason", "retiring a published entry ends every grant of it: say why "
                                                         "(e.g. the duty moved to another department), for the "
                                                         "departments that used it")])


def check_review(code: str, decision: int, reason: str) -> None:
    """A review names a decision; returning says what must be reworked."""
    report = _Report()
    problem = code_error(code)
    if problem is not None:
        report.add("code", problem)
    if decision not in (ReviewDecision.PUBLISH, ReviewDecision.RETURN):
        report.add("decision", "must be PUBLISH or RETURN")
    if report.text("reason", reason, MAX_LONG_TEXT):
        if decision == ReviewDecision.RETURN and not says_something(reason):
            report.add("reason", "is required when returning (words, not only punctuation): say what must be "
                                 "reworked")
        else:
            report.free_text("reason", reason, MAX_LONG_TEXT)
    if report.violations:
        raise invalid_argument(report.violations)


def check_project_code(project_code: str) -> None:
    """GetProjectStatus's project code: a code holding an invisible character (智慧政务\u200b一期, copied from a web
    page) was answered 0 entries, read as a project nothing is catalogued for; no entry's is stored so
    (_Report.name refuses them), so it is refused naming the character, as ListEntries' filter is."""
    report = _Report()
    if report.text("project_code", project_code, MAX_SHORT_TEXT, required=True) \
            and (hidden := _hidden_character(project_code)) is not None:
        report.add("project_code", f"must not contain control or invisible formatting characters "
                                   f"(U+{ord(project_code[hidden]):04X} at position {hidden}): no entry's is stored "
                                   "with one, so no entry would be counted: type it again")
    if report.violations:
        raise invalid_argument(report.violations)


def check_mandate_change(department_code: str, description: str, change_time: dt.datetime, now: dt.datetime) -> None:
    """A mandate change names a real department, says what changed, and has already happened. What changed is a
    word, not "。" or a zero-width space: ListOverdueUpdates (the console's 职能变更, for the authority and the
    department's 编目员) shows it as why the department's catalog update is due, and such a description started
    the clock saying nothing."""
    report = _Report()
    problem = credit_code_error(department_code)
    if problem is not None:
        report.add("department_code", problem)
    why = "say what changed in the department's duties (e.g. 承接原市编办的事业单位登记职能)"
    if (violation := reason_violation("description", description, MAX_LONG_TEXT, why)) is not None:
        report.violations.append(violation)
    if change_time > now + CLOCK_SKEW:
        report.add("change_time", "must not be in the future")
    elif change_time < EARLIEST_CHANGE:
        report.add("change_time", f"must not be before {EARLIEST_CHANGE.date()}")
    if report.violations:
        raise invalid_argument(report.violations)
