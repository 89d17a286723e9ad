"""The load-test scenarios: which calls, in which proportions, with which keys.

Kept free of Locust so that the mix can be read, tested and reused on its own.
A scenario is a weighted set of *actions*; an action builds one call (method,
request, a name for the statistics, and the status it expects). Refusals are
part of real traffic — a system asking for a resource that is not shared, or
for conditional items it holds no grant for — so the mix includes them and
counts them as successes when they are refused as they should be; an expected
refusal that is *answered* is the failure.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from google.protobuf.message import Message

from loadtest import workloads
from loadtest.call_labels import EVERY_KEY_FOUND, KEY_ITEM_CHECK, VERIFY_CHECK
from loadtest.keys import UniformSampler, ZipfSampler, citizen_ids, credit_codes, spread

HOT_KEYS = 1000
ZIPF_EXPONENT = 1.1
VERIFY_POOL = 1000
BATCH_SIZE = 100
#: Legal entities the demo seeds (services.demo.seed_demo's default).
DEMO_ENTITIES = 2000


@dataclass(frozen=True)
class Call:
    """One call to make."""

    method: str
    request: Message
    #: The name the statistics group it under.
    name: str
    #: The status that counts as success: "OK", or for an expected refusal its status and ErrorInfo reason
    #: ("PERMISSION_DENIED NOT_SHARED"), so that a refusal for another reason (a suspended system…) is a failure.
    expect: str = "OK"
    #: What the reply of an answered call must hold (call_labels.answer_problem): every key found, a verification's
    #: outcome; "" when its status says it all.
    answer: str = ""


class KeySpace:
    """Keys of the seeded demo data, drawn without reading the database.

    Hot keys: a Zipf draw over HOT_KEYS persons spread over the population (mostly cache hits).
    Cold keys: uniform over every person (mostly misses when the population is large).
    Verification: true names of a pool of persons, some claims deliberately wrong, some keys absent."""

    def __init__(self, persons: int, seed: int, resources: dict[str, str], rng: random.Random | None = None) -> None:
        if persons < 1:
            raise ValueError("the key space needs a seeded population")
        self.persons = persons
        self.seed = seed
        self.rng = rng or random.Random()
        self.population = workloads.resource_code(resources, workloads.POPULATION)
        self.legal_entity = workloads.resource_code(resources, workloads.LEGAL_ENTITY)
        self.not_shared = workloads.resource_code(resources, workloads.NOT_SHARED)
        self._hot_rank = ZipfSampler(min(HOT_KEYS, persons), ZIPF_EXPONENT, self.rng)
        self._cold_index = UniformSampler(persons, self.rng)

    @cached_property
    def hot_keys(self) -> list[str]:
        return citizen_ids(spread(min(HOT_KEYS, self.persons), self.persons, seed=3), self.seed)

    @cached_property
    def entity_keys(self) -> list[str]:
        return credit_codes(range(DEMO_ENTITIES), self.seed)

    @cached_property
    def verify_pool(self) -> list[tuple[str, str]]:
        """(citizen id, true name) of a pool of persons: computing a synthetic person costs about a millisecond."""
        from services.foundation.synthetic import person

        indexes = spread(min(VERIFY_POOL, self.persons), self.persons, seed=17)
        return [(record["citizen_id"], record["name"]) for record in (person(i, self.seed) for i in indexes)]

    def hot_person(self) -> str:
        return self.hot_keys[self._hot_rank()]

    def cold_person(self) -> str:
        return citizen_ids([self._cold_index()], self.seed)[0]

    def absent_person(self) -> str:
        """A valid 公民身份号码 of nobody loaded (index beyond the population): 库无."""
        return citizen_ids([self.persons + self.rng.randrange(1_000_000)], self.seed)[0]

    def entity(self) -> str:
        return self.entity_keys[self.rng.randrange(len(self.entity_keys))]


# -- actions: each builds one call from the key space ------------------------------------------------------------------


#: What an answered Query's reply must hold: the record of the key asked for (its key item, as masked).
PERSON_RECORD = KEY_ITEM_CHECK + "citizen_id"
ENTITY_RECORD = KEY_ITEM_CHECK + "credit_code"


def hot_query(keys: KeySpace) -> Call:
    return Call(workloads.QUERY_METHOD, workloads.person_query(keys.hot_person(), resource=keys.population),
                "Query person (hot)", answer=PERSON_RECORD)


def cold_query(keys: KeySpace) -> Call:
    return Call(workloads.QUERY_METHOD, workloads.person_query(keys.cold_person(), resource=keys.population),
                "Query person (cold)", answer=PERSON_RECORD)


def entity_query(keys: KeySpace) -> Call:
    return Call(workloads.QUERY_METHOD, workloads.entity_query(keys.entity(), resource=keys.legal_entity),
                "Query legal entity", answer=ENTITY_RECORD)


def verify_name(keys: KeySpace) -> Call:
    """Mostly true claims (一致), some wrong names (不一致), some absent persons (库无)."""
    roll = keys.rng.random()
    if roll < 0.05:
        key, name, outcome = keys.absent_person(), "张三", "NO_RECORD"
    else:
        key, name = keys.verify_pool[keys.rng.randrange(len(keys.verify_pool))]
        outcome = "MATCH"
        if roll < 0.25:
            name, outcome = name[:-1] + ("伟" if name[-1] != "伟" else "芳"), "MISMATCH"
    return Call(workloads.VERIFY_METHOD, workloads.name_verification(key, name, resource=keys.population),
                "Verify name", answer=VERIFY_CHECK + outcome)


def batch_query(keys: KeySpace) -> Call:
    batch = [keys.cold_person() for _ in range(BATCH_SIZE)]
    return Call(workloads.BATCH_QUERY_METHOD, workloads.person_batch(batch, resource=keys.population),
                f"BatchQuery ({BATCH_SIZE} keys)", answer=f"{EVERY_KEY_FOUND} {PERSON_RECORD}")


def refused_not_shared(keys: KeySpace) -> Call:
    """不予共享: refused whoever asks (R-SHR-3)."""
    return Call(workloads.QUERY_METHOD, workloads.person_query(keys.hot_person(), resource=keys.not_shared),
                "Query not-shared resource (refused)", expect="PERMISSION_DENIED NOT_SHARED")


def refused_conditional(keys: KeySpace) -> Call:
    """Conditional items without a grant: refused (R-SHR-2)."""
    request = workloads.person_query(keys.hot_person(), workloads.CONDITIONAL_PERSON_ITEMS, resource=keys.population)
    return Call(workloads.QUERY_METHOD, request, "Query conditional items, no grant (refused)",
                expect="PERMISSION_DENIED NOT_GRANTED")


Action = Callable[[KeySpace], Call]

SCENARIOS: dict[str, dict[Action, int]] = {
    "hot": {hot_query: 1},
    "cold": {cold_query: 1},
    "verify": {verify_name: 1},
    "batch": {batch_query: 1},
    "mix": {hot_query: 55, cold_query: 15, verify_name: 15, entity_query: 5, batch_query: 2,
            refused_not_shared: 4, refused_conditional: 4},
}


class WeightedActions:
    """Draws actions in the scenario's proportions (for the constant-rate mode, which has no Locust task picker)."""

    def __init__(self, actions: dict[Action, int], rng: random.Random | None = None) -> None:
        if not actions or any(weight <= 0 for weight in actions.values()):
            raise ValueError("a scenario needs actions with positive weights")
        self._actions = list(actions)
        self._weights = list(actions.values())
        self._rng = rng or random.Random()

    def __call__(self) -> Action:
        return self._rng.choices(self._actions, self._weights)[0]
