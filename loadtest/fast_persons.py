"""Fast seeding of generated persons for the large-population benchmark (10^8 persons in minutes, not hours).

The platform's bulk loader (services/foundation/bulk.py) stays the way real data goes in: validated, in
batches, COPYed by one client. Its rate on this machine is ~35,000 persons/s, bound by generating each person
in Python (a ``random.Random`` per record, services/foundation/synthetic.py) — 47 minutes for 10^8. A benchmark
of lookups only needs a table of that size whose rows look like the platform's, so here PostgreSQL generates
them itself: ``INSERT … SELECT`` over ``generate_series`` on key ranges, on several connections, into the
population table without its primary key, which is built once afterwards (a sort, not 10^8 B-tree inserts).

The persons are not synthetic.py's (its Mersenne Twister draws cannot be computed in SQL): person ``i`` here
is a pure function of ``(i, seed)`` made of integer hashes, computed alike by the SQL below and by
:meth:`FastPersons.person` in Python, which the benchmark uses to know its keys without reading the table.
Every row is what the bulk loader would write for that record: a valid 公民身份号码 (a county code in force in
the birth year, the birth date, a unique sequence, the ISO 7064 check digit), the canonical forms the
foundation store keeps (tests/integration/test_fast_persons.py loads the Python twin through the bulk loader
and compares the rows and the Query answers).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import asyncpg
from stdnum.cn import ric

from services.foundation import synthetic
from services.foundation.datasets import ETHNICITIES

#: ISO 7064 MOD 11-2 weights of the 17 body digits of a 公民身份号码 (2^(17-k) mod 11).
WEIGHTS = tuple(pow(2, 17 - k, 11) for k in range(17))
#: The check character by (weighted sum mod 11).
CHECK_CHARACTERS = "10X98765432"
#: The modulus of the per-field hashes (a prime below 2^31: i * multiplier stays inside a bigint up to i ~ 4e9).
PRIME = 2_147_483_647
#: The hashed fields of a person, in the order their multipliers are drawn.
FIELDS = ("birth_place", "surname", "given1", "given2", "two_given", "han", "minority", "home", "street",
          "number", "status")
#: Cumulative thousandths of the statuses (synthetic.PERSON_STATUS_WEIGHTS: 950 正常, 25 迁出, 20 死亡, 5 注销).
STATUSES = (("正常", 950), ("迁出", 975), ("死亡", 995), ("注销", 1000))
#: Rows per INSERT statement (the unit of progress).
CHUNK = 1_000_000
#: Birth-place slots: a 公民身份号码 is unique by (birth place, birth day, sequence), and synthetic.py's ids by
#: (birth day, sequence) alone, 3.4 x 10^7 of them. Here a person's place is drawn from one of SLOTS disjoint
#: blocks of the counties in force in the birth year (at least 2,325 in every year), so the ids are unique for
#: SPACE = 48 x 3.4 x 10^7 = 1.6 x 10^9 persons: the national population.
SLOTS = 48
SPACE = SLOTS * synthetic.PERSON_SPACE


def _weighted_digits(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=True))


@dataclass(frozen=True)
class FastPersons:
    """The generated population of one seed: person ``i`` in Python, and the SQL that writes persons in bulk."""

    seed: int = 42

    # -- the generator's constants -----------------------------------------------------------------------------

    @cached_property
    def permutation(self) -> tuple[int, int]:
        """Multiplier and offset of a permutation of (slot, birth day, sequence): unique ids for i < SPACE."""
        space = SPACE
        rng = random.Random(f"fast-persons:permutation:{self.seed}")
        a = rng.randrange(space // 3, space) | 1
        while math.gcd(a, space) != 1:
            a += 2
        return a, rng.randrange(space)

    @cached_property
    def hashes(self) -> dict[str, tuple[int, int]]:
        """Multiplier and offset of each field's hash h(i) = (i * m + c) mod PRIME."""
        rng = random.Random(f"fast-persons:hashes:{self.seed}")
        return {name: (rng.randrange(1 << 20, PRIME), rng.randrange(PRIME)) for name in FIELDS}

    def _h(self, name: str, i: int) -> int:
        m, c = self.hashes[name]
        return (i * m + c) % PRIME

    @cached_property
    def birth_places(self) -> dict[int, tuple[str, ...]]:
        """County codes in force in each birth year (a 公民身份号码's region must have been in force then)."""
        return {year: synthetic._birth_places(year)
                for year in range(synthetic.BIRTH_START.year, synthetic.REFERENCE_DAY.year + 1)}

    @cached_property
    def homes(self) -> tuple[tuple[str, str], ...]:
        """Current counties and their names as written in an address."""
        return tuple((code, synthetic.place_name(code)) for code in synthetic._current_counties())

    @cached_property
    def minorities(self) -> tuple[str, ...]:
        return ETHNICITIES[1:]

    # -- person i in Python --------------------------------------------------------------------------------------

    def citizen_id(self, i: int) -> str:
        """The 公民身份号码 of person ``i``."""
        a, b = self.permutation
        slot, j = divmod((a * i + b) % SPACE, synthetic.PERSON_SPACE)
        born = synthetic.BIRTH_START + dt.timedelta(days=j // synthetic.SEQUENCES)
        places = self.birth_places[born.year]
        step = len(places) // SLOTS
        place = places[slot * step + self._h("birth_place", i) % step]
        body = f"{place}{born:%Y%m%d}{j % synthetic.SEQUENCES:03d}"
        return body + ric.calc_check_digit(body + "0")

    def citizen_ids(self, indexes: list[int] | range) -> list[str]:
        return [self.citizen_id(i) for i in indexes]

    def person(self, i: int) -> dict[str, str]:
        """Person ``i`` as a population record (canonical strings, as LoadRecords and the bulk loader take)."""
        number = self.citizen_id(i)
        h = {name: self._h(name, i) for name in FIELDS}
        given = synthetic.GIVEN[h["given1"] % len(synthetic.GIVEN)]
        if h["two_given"] % 10 < 7:
            given += synthetic.GIVEN[h["given2"] % len(synthetic.GIVEN)]
        home, home_name = self.homes[h["home"] % len(self.homes)]
        street = synthetic.STREETS[h["street"] % len(synthetic.STREETS)]
        roll = h["status"] % 1000
        return {
            "citizen_id": number,
            "name": synthetic.SURNAMES[h["surname"] % len(synthetic.SURNAMES)] + given,
            "sex": "男" if int(number[16]) % 2 else "女",
            "ethnicity": "汉族" if h["han"] % 100 < 91 else self.minorities[h["minority"] % len(self.minorities)],
            "birth_date": f"{number[6:10]}-{number[10:12]}-{number[12:14]}",
            "address": f"{home_name}{street}{1 + h['number'] % 999}号",
            "address_region_code": home,
            "status": next(status for status, bound in STATUSES if roll < bound),
        }

    # -- the SQL ---------------------------------------------------------------------------------------------------

    def lookup_rows(self) -> dict[str, list[tuple]]:
        """The small tables the INSERT joins: birth days, birth places by year, homes (with digit sums)."""
        days = []
        for day in range(synthetic.BIRTH_DAYS):
            born = synthetic.BIRTH_START + dt.timedelta(days=day)
            days.append((day, born, f"{born:%Y%m%d}", born.year, _weighted_digits(f"{born:%Y%m%d}", WEIGHTS[6:14])))
        places = [(year, index, code, _weighted_digits(code, WEIGHTS[:6]))
                  for year, codes in self.birth_places.items() for index, code in enumerate(codes)]
        years = [(year, len(codes) // SLOTS) for year, codes in self.birth_places.items()]
        homes = [(index, code, name) for index, (code, name) in enumerate(self.homes)]
        return {"fp_day": days, "fp_birth_place": places, "fp_year": years, "fp_home": homes}

    def insert_sql(self, start: int, stop: int) -> str:
        """INSERT of persons start .. stop-1 (integers only are formatted in; the strings are parameters $1-$5:
        surnames, given-name characters, streets, minorities, and $5 the source, $6 the as-of time)."""
        a, b = self.permutation
        h = {name: f"((g.i * {m} + {c}) % {PRIME})" for name, (m, c) in self.hashes.items()}
        seq = f"(g.j % {synthetic.SEQUENCES})"
        status = " ".join(f"WHEN {h['status']} % 1000 < {bound} THEN '{name}'" for name, bound in STATUSES)
        check = (f"substr('{CHECK_CHARACTERS}', ((bp.digit_sum + d.digit_sum + ({seq} / 100) * {WEIGHTS[14]}"
                 f" + ({seq} / 10 % 10) * {WEIGHTS[15]} + ({seq} % 10) * {WEIGHTS[16]}) % 11)::int + 1, 1)")
        return f"""
INSERT INTO population (citizen_id, name, sex, ethnicity, birth_date, address, address_region_code, status,
                        source_department_code, as_of_time, recorded_time)
SELECT bp.code || d.ymd || lpad({seq}::text, 3, '0') || {check},
       substr($1, ({h['surname']} % char_length($1))::int + 1, 1)
         || substr($2, ({h['given1']} % char_length($2))::int + 1, 1)
         || CASE WHEN {h['two_given']} % 10 < 7 THEN substr($2, ({h['given2']} % char_length($2))::int + 1, 1)
                 ELSE '' END,
       CASE WHEN {seq} % 2 = 1 THEN '男' ELSE '女' END,
       CASE WHEN {h['han']} % 100 < 91 THEN '汉族'
            ELSE ($4::text[])[({h['minority']} % cardinality($4::text[]))::int + 1] END,
       d.born,
       home.name || ($3::text[])[({h['street']} % cardinality($3::text[]))::int + 1]
         || (1 + {h['number']} % 999)::text || '号',
       home.code,
       CASE {status} END,
       $5, $6, now()
FROM (SELECT i, p / {synthetic.PERSON_SPACE} AS slot, p % {synthetic.PERSON_SPACE} AS j
      FROM (SELECT i, (i * {a}::bigint + {b}) % {SPACE} AS p
            FROM generate_series({int(start)}::bigint, {int(stop) - 1}::bigint) AS i) AS n) AS g
JOIN fp_day AS d ON d.day = g.j / {synthetic.SEQUENCES}
JOIN fp_year AS y ON y.year = d.year
JOIN fp_birth_place AS bp
  ON bp.year = d.year AND bp.index = (g.slot * y.step + {h['birth_place']} % y.step)::int
JOIN fp_home AS home ON home.index = ({h['home']} % {len(self.homes)})::int
"""

    def parameters(self, source: str, as_of: dt.datetime) -> tuple:
        return (synthetic.SURNAMES, synthetic.GIVEN, list(synthetic.STREETS), list(self.minorities), source, as_of)


LOOKUP_TABLES = {
    "fp_day": "day int PRIMARY KEY, born date NOT NULL, ymd text NOT NULL, year int NOT NULL, digit_sum int NOT NULL",
    "fp_birth_place": "year int, index int, code text NOT NULL, digit_sum int NOT NULL, PRIMARY KEY (year, index)",
    "fp_year": "year int PRIMARY KEY, step int NOT NULL",
    "fp_home": "index int PRIMARY KEY, code text NOT NULL, name text NOT NULL",
}


@dataclass(frozen=True)
class SeedReport:
    persons: int
    insert_seconds: float
    #: Seconds to build the primary key, VACUUM and ANALYZE after the INSERTs.
    index_seconds: float

    @property
    def seconds(self) -> float:
        return self.insert_seconds + self.index_seconds

    @property
    def rate(self) -> float:
        """Persons per second, the primary key and ANALYZE included."""
        return self.persons / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return (f"fast seed: {self.persons:,} persons in {self.seconds:.1f} s ({self.insert_seconds:.1f} s of "
                f"INSERT, {self.index_seconds:.1f} s of primary key, VACUUM and ANALYZE): {self.rate:,.0f} persons/s")


async def _prepare(conn: asyncpg.Connection, generator: FastPersons) -> None:
    """Creates this session's lookup tables (temporary: nothing is left in the platform's schema)."""
    for name, rows in generator.lookup_rows().items():
        await conn.execute(f"CREATE TEMPORARY TABLE {name} ({LOOKUP_TABLES[name]})")
        await conn.copy_records_to_table(name, records=rows)
        await conn.execute(f"ANALYZE {name}")


async def seed_population(database_url: str, persons: int, seed: int = 42, *, connections: int = 2,
                          as_of: dt.datetime | None = None,
                          progress: Callable[[int, float], None] | None = None) -> SeedReport:
    """Replaces the platform's population with ``persons`` generated persons (index 0 .. persons-1).

    The rows carry the dataset's designated authoritative source, as a bulk load by that source would. The
    table is emptied and its primary key dropped, ``connections`` sessions insert disjoint key ranges of
    CHUNK persons, then the key is built and the table analysed. ``progress(rows_done, elapsed)`` is called
    after each chunk. Meant for a benchmark's own platform only: it drops the table's contents.
    """
    if persons < 0 or persons > SPACE:
        raise ValueError(f"persons must be within 0..{SPACE}")
    generator = FastPersons(seed)
    as_of = as_of or dt.datetime.now(dt.UTC)
    settings = {"search_path": "foundation,public", "application_name": "govshare-fast-seed"}
    admin = await asyncpg.connect(database_url, server_settings=settings)
    try:
        source = await admin.fetchval("SELECT authoritative_department_code FROM datasets WHERE name = 'population'")
        if source is None:
            raise PermissionError("population: no authoritative source is designated")
        await admin.execute("TRUNCATE population")
        await admin.execute("ALTER TABLE population DROP CONSTRAINT IF EXISTS population_pkey")
        started = time.monotonic()
        chunks = [(start, min(persons, start + CHUNK)) for start in range(0, persons, CHUNK)]
        queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        for chunk in chunks:
            queue.put_nowait(chunk)
        done = 0

        async def worker() -> None:
            nonlocal done
            conn = await asyncpg.connect(database_url, server_settings=settings)
            try:
                await _prepare(conn, generator)
                parameters = generator.parameters(source, as_of)
                while not queue.empty():
                    start, stop = queue.get_nowait()
                    await conn.execute(generator.insert_sql(start, stop), *parameters)
                    done += stop - start
                    if progress is not None:
                        progress(done, time.monotonic() - started)
            finally:
                await conn.close()

        await asyncio.gather(*(worker() for _ in range(max(1, min(connections, len(chunks))))))
        inserted = time.monotonic()
        await admin.execute("SET maintenance_work_mem = '1GB'")
        await admin.execute("ALTER TABLE population ADD CONSTRAINT population_pkey PRIMARY KEY (citizen_id)")
        # VACUUM, not only ANALYZE: right after a load every row's first reader sets its hint bits (writing the page)
        # and autovacuum soon reads the whole table for the visibility map; at 10^8 rows both fell on the first
        # measured phase (a core of "others" in the window). A population loaded for real is long settled by then.
        await admin.execute("VACUUM (ANALYZE) population")
        finished = time.monotonic()
    finally:
        await admin.close()
    return SeedReport(persons, inserted - started, finished - inserted)

