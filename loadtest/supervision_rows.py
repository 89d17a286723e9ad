"""Access-log rows for the supervision benchmark, shaped as query writes them (services/query/audit.py COLUMNS).

Each row is what one audited call leaves: a chain id and sequence, the time, the calling system and its
department, the resource and its provider, the operation, the items, the key, the purpose, the result and
deny reason. The hashes are random hex of the right length rather than a computed chain: supervision never
reads them, and hashing ten million rows would measure the generator. Keys are valid 公民身份号码 (from the
synthetic generator), so the persons' view indexes see realistic values.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg

from services.foundation.synthetic import citizen_id_of
from services.query.audit import COLUMNS

PURPOSES = ("ADMINISTRATIVE_BASIS", "WORK_REFERENCE", "DATA_VERIFICATION", "BUSINESS_COLLABORATION")
# Most calls are answered; some refused (mostly for an ungranted purpose), a few not found or failed.
OUTCOMES = (("ANSWERED", "", 0.90), ("DENIED", "PURPOSE_NOT_GRANTED", 0.04), ("DENIED", "NOT_GRANTED", 0.02),
            ("NOT_FOUND", "", 0.03), ("FAILED", "", 0.01))


@dataclass(frozen=True)
class Shape:
    """How many departments, systems per department and resources the traffic spreads over. As in practice, each
    system uses a few resources, each for its own usual purpose; one call in ten declares another purpose."""

    departments: int = 60
    systems_per_department: int = 3
    resources: int = 40
    resources_per_system: int = 3
    persons: int = 1_000_000


def department_code(serial: int) -> str:
    from stdnum.cn import uscc

    body = f"1111{'0100'}MB{serial:07d}"
    return body + uscc.calc_check_digit(body)


def rows(count: int, start: dt.datetime, end: dt.datetime, shape: Shape = Shape(), seed: int = 7) -> Iterator[tuple]:
    """``count`` rows with times spread evenly over [start, end), in time order (as the writers append them)."""
    rng = random.Random(seed)
    departments = [department_code(100 + n) for n in range(shape.departments)]
    systems = [(d, f"sys-bench{i:03d}{s}") for i, d in enumerate(departments)
               for s in range(shape.systems_per_department)]
    resources = [(f"3{n:05d}/000001", departments[n % len(departments)]) for n in range(shape.resources)]
    weights = [w for _, _, w in OUTCOMES]
    people = [citizen_id_of(i) for i in range(min(shape.persons, 100_000))]
    uses = {system: [(*resources[rng.randrange(len(resources))], rng.choice(PURPOSES))
                     for _ in range(shape.resources_per_system)] for _, system in systems}
    span = (end - start) / count
    chain = uuid.uuid4().hex
    for seq in range(1, count + 1):
        department, system = systems[rng.randrange(len(systems))]
        resource, provider, purpose = rng.choice(uses[system])
        if rng.random() < 0.1:
            purpose = rng.choice(PURPOSES)
        result, reason, _ = rng.choices(OUTCOMES, weights)[0]
        key = people[rng.randrange(len(people))]
        yield (uuid.uuid4().hex, chain, seq, start + span * (seq - 1), system, department, resource, provider,
               "Query", ["name", "birth_date"], key, [], purpose, "", result, reason, "",
               f"{rng.getrandbits(256):064x}", f"{rng.getrandbits(256):064x}")


_CST = dt.timezone(dt.timedelta(hours=8))


async def _copy(conn: asyncpg.Connection, chunk: list[tuple], months: set[dt.date]) -> None:
    """COPYs one chunk, first creating the monthly partitions (CST, as the service does) its times fall in."""
    month, last = (row[3].astimezone(_CST).date().replace(day=1) for row in (chunk[0], chunk[-1]))
    while month <= last:
        if month not in months:
            await conn.execute("SELECT query.access_log_partition($1)", month)
            months.add(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    await conn.copy_records_to_table("access_log", schema_name="query", records=chunk, columns=COLUMNS)


async def insert(conn: asyncpg.Connection, source: Iterator[tuple], batch: int = 50_000) -> int:
    """COPYs the rows (in time order) into query.access_log in batches; returns how many."""
    written = 0
    chunk: list[tuple] = []
    months: set[dt.date] = set()
    for row in source:
        chunk.append(row)
        if len(chunk) == batch:
            await _copy(conn, chunk, months)
            written += len(chunk)
            chunk = []
    if chunk:
        await _copy(conn, chunk, months)
        written += len(chunk)
    return written
