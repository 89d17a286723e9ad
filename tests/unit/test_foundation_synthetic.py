"""The synthetic data generator: valid by the platform's own rules, canonical, unique and deterministic."""

from __future__ import annotations

from itertools import islice

import pytest

from services.foundation import synthetic
from services.foundation.datasets import DATASETS
from services.foundation.validation import region_level_of, validate_record
from services.runtime import identifiers

COUNT = 3000


def assert_valid_and_canonical(dataset: str, records: list[dict[str, str]]) -> None:
    definition = DATASETS[dataset]
    for record in records:
        checked = validate_record(definition, record)
        assert checked.ok, (record, checked.problems)
        assert definition.canonical(checked.values) == record  # read back, a record equals what was generated


def test_persons_are_valid_unique_and_computable_by_index() -> None:
    persons = list(synthetic.persons(COUNT, seed=7))
    assert_valid_and_canonical("population", persons)
    numbers = [p["citizen_id"] for p in persons]
    assert len(set(numbers)) == COUNT
    assert all(identifiers.citizen_id_error(n) is None for n in numbers)
    for i in (0, 1, 1234, COUNT - 1):
        assert synthetic.citizen_id_of(i, seed=7) == numbers[i]
        assert synthetic.person(i, seed=7) == persons[i]


def test_citizen_ids_stay_unique_far_into_the_index_space() -> None:
    indexes = list(range(0, synthetic.PERSON_SPACE, synthetic.PERSON_SPACE // 5000))
    numbers = {synthetic.citizen_id_of(i) for i in indexes}
    assert len(numbers) == len(indexes)
    with pytest.raises(ValueError):
        synthetic.citizen_id_of(synthetic.PERSON_SPACE)


def test_generation_is_deterministic_per_seed() -> None:
    assert list(synthetic.persons(50, seed=1)) == list(synthetic.persons(50, seed=1))
    assert list(synthetic.entities(50, seed=1)) == list(synthetic.entities(50, seed=1))
    assert list(synthetic.persons(50, seed=1)) != list(synthetic.persons(50, seed=2))
    assert synthetic.citizen_id_of(3, seed=1) != synthetic.citizen_id_of(3, seed=2)


def test_legal_entities_are_valid_and_unique() -> None:
    entities = list(synthetic.entities(COUNT, seed=11))
    assert_valid_and_canonical("legal_entity", entities)
    assert len({e["credit_code"] for e in entities}) == COUNT
    assert {e["credit_code"][1] for e in entities} == {"1", "2", "3"}
    assert synthetic.credit_code_of(42, seed=11) == entities[42]["credit_code"]


def test_licences_are_valid_and_held_by_generated_holders() -> None:
    licences = list(synthetic.licences(COUNT, seed=5, persons=200, entities=100))
    assert_valid_and_canonical("licence", licences)
    assert len({lic["licence_number"] for lic in licences}) == COUNT
    holders = {p["citizen_id"]: p["name"] for p in synthetic.persons(200, seed=5)}
    holders |= {e["credit_code"]: e["name"] for e in synthetic.entities(100, seed=5)}
    assert all(holders[lic["holder_id"]] == lic["holder_name"] for lic in licences)
    assert {lic["status"] for lic in licences} == {"有效", "过期", "注销"}


def test_licences_need_holders() -> None:
    with pytest.raises(ValueError):
        synthetic.licence(0, persons=0, entities=0)


def test_places_are_valid_and_unique() -> None:
    places = list(synthetic.places(COUNT, seed=3))
    assert_valid_and_canonical("place", places)
    assert len({p["place_code"] for p in places}) == COUNT
    assert {p["kind"] for p in places} == {"地址", "地块"}


def test_regions_cover_the_table_with_parents_first() -> None:
    regions = list(synthetic.regions())
    assert_valid_and_canonical("region", regions)
    seen: set[str] = set()
    for region in regions:
        assert region.get("parent_code", "") in seen | {""}, region
        seen.add(region["region_code"])
    provinces = [r for r in regions if r["level"] == "省级"]
    assert len(provinces) == 34
    assert {"region_code": "110105", "name": "朝阳区", "level": "县级", "parent_code": "110100"} in regions
    assert len([r for r in regions if r["level"] == "县级"]) > 2500


def test_the_birth_places_of_each_year_are_the_counties_in_force_that_year() -> None:
    """Made in one pass (for speed): the same codes, in the same order, as filtering the table year by year, so
    the synthetic persons (and the keys a load test computes for them) stay what they were."""
    for year in range(synthetic.BIRTH_START.year, synthetic.REFERENCE_DAY.year + 1):
        expected = tuple(code for code, d in synthetic.divisions().items()
                         if region_level_of(code) == "县级" and d.in_force(year))
        assert synthetic._birth_places(year) == expected, year


def test_birth_places_were_in_force_in_the_birth_year() -> None:
    # python-stdnum rejects a region code outside its years; every generated id passes, so this holds.
    for number in islice((synthetic.citizen_id_of(i, seed=9) for i in range(0, 10**7, 997)), 3000):
        assert identifiers.citizen_id_error(number) is None, number
