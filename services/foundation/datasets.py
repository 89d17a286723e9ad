"""The five foundation datasets (DOMAIN §7, R-FND-1): their key, items, code tables and checks.

Item machine names are shared with the seed catalog and the query service, so they are
fixed here once. Each item says how its string form is parsed (validation.py) and which
column type holds it, which in turn fixes the canonical string form every reader sees:
text as loaded, dates YYYY-MM-DD, numbers in plain decimal notation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from services.foundation import validation as v
from services.runtime.code_tables import ETHNICITIES, SEXES
from services.runtime.errors import FieldViolation

PERSON_STATUSES = ("正常", "死亡", "迁出", "注销")
#: A person no longer registered here: their 户籍地址 is the last one they had.
PERSON_CLOSED_STATUSES = ("死亡", "迁出", "注销")
ENTITY_STATUSES = ("存续", "在业", "吊销", "注销", "迁出")
LICENCE_STATUSES = ("有效", "注销", "过期")
PLACE_KINDS = ("地址", "地块")

TEXT, DATE, NUMERIC = "text", "date", "numeric"


def _format_text(value: object) -> str:
    return value  # type: ignore[return-value]


def _format_date(value: object) -> str:
    return value.isoformat()  # type: ignore[attr-defined]


def _format_numeric(value: object) -> str:
    return format(value, "f")  # type: ignore[arg-type]


FORMATTERS: dict[str, Callable[[object], str]] = {TEXT: _format_text, DATE: _format_date, NUMERIC: _format_numeric}


@dataclass(frozen=True)
class Item:
    """One data item (信息项) of a dataset."""

    name: str
    parse: v.Parser
    column_type: str = TEXT
    required: bool = True

    @property
    def format(self) -> Callable[[object], str]:
        """Typed value -> canonical string."""
        return FORMATTERS[self.column_type]


@dataclass(frozen=True)
class Dataset:
    """One foundation dataset: a table keyed by one identifying item."""

    name: str
    key_item: str
    items: tuple[Item, ...]
    record_checks: tuple[v.RecordCheck, ...] = ()

    @cached_property
    def item_names(self) -> frozenset[str]:
        return frozenset(item.name for item in self.items)

    @cached_property
    def item_order(self) -> tuple[str, ...]:
        return tuple(item.name for item in self.items)

    @cached_property
    def by_name(self) -> dict[str, Item]:
        return {item.name: item for item in self.items}

    @cached_property
    def non_key_items(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.name != self.key_item)

    def canonical(self, values: dict[str, object]) -> dict[str, str]:
        """Typed values -> canonical strings (absent optional items stay absent)."""
        return {item.name: item.format(values[item.name]) for item in self.items
                if values.get(item.name) is not None}


POPULATION = Dataset(
    name="population",
    key_item="citizen_id",
    items=(
        Item("citizen_id", v.citizen_id),
        Item("name", v.person_name(64)),
        Item("sex", v.code(*SEXES, numbered_by="GB/T 2261.1")),
        Item("ethnicity", v.code(*ETHNICITIES, numbered_by="GB/T 3304")),
        Item("birth_date", v.past_date, DATE),
        Item("address", v.text(200), required=False),
        Item("address_region_code", v.region_code, required=False),
        Item("status", v.code(*PERSON_STATUSES)),
    ),
    record_checks=(v.person_matches_id, v.regions_in_force("address_region_code", closed=PERSON_CLOSED_STATUSES)),
)

LEGAL_ENTITY = Dataset(
    name="legal_entity",
    key_item="credit_code",
    items=(
        Item("credit_code", v.credit_code),
        Item("name", v.text(200)),
        Item("entity_type", v.text(64)),
        Item("legal_representative", v.person_name(64)),
        Item("registered_capital", v.amount, NUMERIC, required=False),
        Item("established_date", v.past_date, DATE),
        Item("address", v.text(200), required=False),
        Item("registration_authority", v.text(100)),
        Item("status", v.code(*ENTITY_STATUSES)),
    ),
)

REGION = Dataset(
    name="region",
    key_item="region_code",
    items=(
        Item("region_code", v.region_code),
        Item("name", v.text(64)),
        Item("level", v.code(*v.REGION_LEVELS)),
        Item("parent_code", v.region_code, required=False),
    ),
    record_checks=(v.region_hierarchy, v.regions_in_force("region_code", "parent_code")),
)

PLACE = Dataset(
    name="place",
    key_item="place_code",
    items=(
        Item("place_code", v.text_key),
        Item("kind", v.code(*PLACE_KINDS)),
        Item("address", v.text(200)),
        Item("region_code", v.region_code),
        Item("longitude", v.longitude, NUMERIC),
        Item("latitude", v.latitude, NUMERIC),
    ),
    record_checks=(v.regions_in_force("region_code"),),
)

LICENCE = Dataset(
    name="licence",
    key_item="licence_number",
    items=(
        Item("licence_number", v.text_key),
        Item("licence_type", v.text(64)),
        Item("holder_id", v.holder_id),
        Item("holder_name", v.text(200)),
        Item("issuing_authority", v.text(100)),
        Item("issue_date", v.past_date, DATE),
        Item("valid_until", v.any_date, DATE, required=False),
        Item("status", v.code(*LICENCE_STATUSES)),
    ),
    record_checks=(v.validity_period_ordered, v.holder_born_before_issue),
)

DATASETS: dict[str, Dataset] = {d.name: d for d in (POPULATION, LEGAL_ENTITY, REGION, PLACE, LICENCE)}


def find_dataset(name: str, violations: list[FieldViolation]) -> Dataset | None:
    """The dataset called ``name``; None (with a ``dataset`` violation added) when there is none."""
    dataset = DATASETS.get(name)
    if dataset is None:
        violations.append(FieldViolation("dataset", f"must be one of {', '.join(DATASETS)}"))
    return dataset
