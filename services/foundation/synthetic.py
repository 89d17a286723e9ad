"""Deterministic synthetic foundation data: persons, legal entities, licences, regions and places.

Demos and load tests need millions of records that pass the platform's own checks,
without shipping personal data. Record ``i`` of each kind is a pure function of
``(i, seed)``: it draws from its own ``random.Random`` stream, and its identifier comes
from a seeded permutation of the identifier space, so identifiers are unique per ``i``
and a load test can compute the key of any existing person (``citizen_id_of``) without
reading the database. Every value is in the canonical form the service stores, so a
record read back equals the record generated.

Region codes come from the GB/T 2260 table that python-stdnum ships (``cn/loc``): a
person's birth place is a county code that was in force in the person's birth year, as
the 公民身份号码 rules require.
"""

from __future__ import annotations

import math
import random
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from itertools import accumulate
from typing import TypeVar

from stdnum import numdb
from stdnum.cn import ric, uscc

from services.foundation.validation import canonical_decimal, region_level_of

# Dates are drawn relative to this fixed day (not today), so a seed always yields the same records.
REFERENCE_DAY = date(2023, 12, 31)
BIRTH_START = date(1930, 1, 1)
BIRTH_DAYS = (REFERENCE_DAY - BIRTH_START).days + 1
SEQUENCES = 1000  # 3-digit sequence part of a 公民身份号码
PERSON_SPACE = BIRTH_DAYS * SEQUENCES
ORGANISATION_SPACE = 10**8  # 8-digit body of an organisation code
NUMBER_SPACE = 10**10

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
    "金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红建国文辉力鹏宇浩然子涵梓轩欣怡思雨佳琪"
    "晨阳雪梅海燕志强俊杰德华春生秋菊冬梅家豪嘉欣一诺若曦天佑博文睿泽雅婷诗涵瑞林晓东立新永红丹丹"
)
STREETS = ("人民路", "解放路", "建设路", "中山路", "和平街", "新华街", "胜利路", "长江路", "黄河路", "文化路",
           "光明街", "友谊路", "幸福街", "团结路", "朝阳路", "育才路", "迎宾大道", "科技路", "滨河路", "青年路")
BRANDS = ("华信", "恒通", "新元", "博远", "鼎盛", "嘉禾", "天成", "瑞丰", "远航", "宏达", "金桥", "汇众", "盛世",
          "同创", "中联", "海纳", "启明", "安泰", "正阳", "德润")
TRADES = ("科技", "贸易", "建设", "物流", "餐饮", "信息技术", "医药", "农业", "文化传媒", "电子", "服装", "机械制造",
          "环保", "教育咨询", "房地产开发", "食品")
COMPANY_TYPES = (("有限责任公司", "有限公司"), ("股份有限公司", "股份有限公司"), ("个人独资企业", "商行"),
                 ("合伙企业", "合伙企业（有限合伙）"))
PERSON_STATUS_WEIGHTS = (("正常", 950), ("迁出", 25), ("死亡", 20), ("注销", 5))
ENTITY_STATUS_WEIGHTS = (("存续", 800), ("在业", 100), ("吊销", 40), ("注销", 50), ("迁出", 10))
CAPITALS = ("3", "10", "30", "50", "100", "200", "500", "1000", "2000", "5000", "10000", "12.5", "66.6")
PERSON_LICENCES = (("机动车驾驶证", "JSZ", "公安局交通警察支队", 6), ("教师资格证", "JSZG", "教育局", 0),
                   ("医师执业证书", "YSZY", "卫生健康委员会", 0), ("不动产权证书", "BDC", "自然资源和规划局", 0),
                   ("居民身份证", "SFZ", "公安局", 20))
ENTITY_LICENCES = (("营业执照", "YYZZ", "市场监督管理局", 0), ("食品经营许可证", "SPJY", "市场监督管理局", 5),
                   ("药品经营许可证", "YPJY", "药品监督管理局", 5), ("道路运输经营许可证", "DLYS", "交通运输局", 4),
                   ("建筑业企业资质证书", "JZQY", "住房和城乡建设局", 5))
# Approximate centre of each province-level division (longitude, latitude), for place coordinates.
PROVINCE_CENTRES = {
    "11": (116.40, 39.90), "12": (117.20, 39.13), "13": (114.52, 38.05), "14": (112.55, 37.87),
    "15": (111.67, 40.82), "21": (123.43, 41.80), "22": (125.32, 43.90), "23": (126.53, 45.80),
    "31": (121.47, 31.23), "32": (118.78, 32.07), "33": (120.15, 30.28), "34": (117.27, 31.86),
    "35": (119.30, 26.08), "36": (115.89, 28.68), "37": (117.00, 36.67), "41": (113.65, 34.76),
    "42": (114.31, 30.52), "43": (112.94, 28.23), "44": (113.26, 23.13), "45": (108.32, 22.82),
    "46": (110.35, 20.02), "50": (106.55, 29.56), "51": (104.07, 30.67), "52": (106.71, 26.58),
    "53": (102.71, 25.04), "54": (91.13, 29.65), "61": (108.95, 34.27), "62": (103.83, 36.06),
    "63": (101.78, 36.62), "64": (106.28, 38.47), "65": (87.62, 43.82), "71": (121.50, 25.05),
    "81": (114.17, 22.28), "82": (113.54, 22.19),
}

# Names of grouping codes that are not a place (市辖区 = "districts of the city", 县 = "its counties").
PLACEHOLDERS = frozenset({"市辖区", "县", "省直辖县级行政单位", "自治区直辖县级行政单位"})
T = TypeVar("T")
_SPAN = re.compile(r"\[(\d*)-(\d*)\](.*)")
# Stream ids keep the random streams of different record kinds apart.
_PERSON, _ENTITY, _LICENCE, _PLACE = 1, 2, 3, 4


# ---- the GB/T 2260 table -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Division:
    """One 行政区划代码 with the spans of years its names were in force."""

    code: str
    spans: tuple[tuple[int | None, int | None, str], ...]

    @property
    def current_name(self) -> str | None:
        """The name in force today, or None for an abolished code."""
        for _start, end, name in self.spans:
            if end is None:
                return name
        return None

    def in_force(self, year: int) -> bool:
        return any((start is None or start <= year) and (end is None or year <= end) for start, end, _ in self.spans)


def _spans(raw: str) -> tuple[tuple[int | None, int | None, str], ...]:
    spans = []
    for part in raw.split(","):
        match = _SPAN.fullmatch(part)
        if match is None:
            spans.append((None, None, part))
        else:
            start, end, name = match.groups()
            spans.append((int(start) if start else None, int(end) if end else None, name))
    return tuple(spans)


@lru_cache(maxsize=1)
def divisions() -> dict[str, Division]:
    """Every code of the table (provinces, prefectures, counties), in code order."""
    table: dict[str, Division] = {}
    for _length, province, _high, props, children in numdb.get("cn/loc").prefixes:
        table[province + "0000"] = Division(province + "0000", _spans(props["province"]))
        for _clength, rest, _chigh, child_props, _ in children:
            if "county" in child_props:
                code = province + rest
                table[code] = Division(code, _spans(child_props["county"]))
    return dict(sorted(table.items()))


@lru_cache(maxsize=1)
def _current_counties() -> tuple[str, ...]:
    return tuple(code for code, d in divisions().items()
                 if region_level_of(code) == "县级" and d.current_name and d.current_name not in PLACEHOLDERS)


@lru_cache(maxsize=1)
def _current_prefectures() -> tuple[str, ...]:
    return tuple(code for code, d in divisions().items()
                 if region_level_of(code) == "地级" and d.current_name and d.current_name not in PLACEHOLDERS)


@lru_cache(maxsize=1)
def _birth_days() -> tuple[str, ...]:
    """YYYYMMDD of every possible birth day, by day index."""
    # isoformat less its dashes: formatting each of the 34,000 days with strftime cost 0.3 s in every process.
    return tuple((BIRTH_START + timedelta(days=d)).isoformat().replace("-", "") for d in range(BIRTH_DAYS))


def _birth_places(year: int) -> tuple[str, ...]:
    """County codes a 公民身份号码 of someone born in ``year`` may carry."""
    by_year = _birth_places_by_year()
    if year in by_year:
        return by_year[year]
    return tuple(code for code, d in divisions().items() if region_level_of(code) == "县级" and d.in_force(year))


@lru_cache(maxsize=1)
def _birth_places_by_year() -> dict[int, tuple[str, ...]]:
    """The county codes in force in each year a birth day falls in, in code order, made in one pass over the
    counties' spans. Filtering the whole table once per year cost 2 s of CPU (6 s on a busy machine) in every
    process that makes a person or a key: each `govshare up`, each load-test worker before its first call."""
    first, last = BIRTH_START.year, REFERENCE_DAY.year
    places: dict[int, list[str]] = {year: [] for year in range(first, last + 1)}
    for code, division in divisions().items():
        if region_level_of(code) != "县级":
            continue
        for start, end, _name in division.spans:
            for year in range(max(first, start or first), min(last, last if end is None else end) + 1):
                if not places[year] or places[year][-1] != code:  # spans of one code may overlap: once a year
                    places[year].append(code)
    return {year: tuple(codes) for year, codes in places.items()}


def _parent_of(code: str) -> str:
    level = region_level_of(code)
    if level == "省级":
        return ""
    prefecture = code[:4] + "00"
    table = divisions()
    if level == "县级" and prefecture in table and table[prefecture].current_name:
        return prefecture
    return code[:2] + "0000"


@lru_cache(maxsize=8192)
def place_name(code: str) -> str:
    """Province + prefecture + county names of a current code, as written in an address."""
    table = divisions()
    parts = [table[code[:2] + "0000"].current_name or ""]
    prefecture = table.get(code[:4] + "00")
    if code[2:4] != "00" and prefecture and prefecture.current_name and prefecture.current_name not in PLACEHOLDERS:
        parts.append(prefecture.current_name or "")
    if region_level_of(code) == "县级":
        parts.append(table[code].current_name or "")
    return "".join(dict.fromkeys(parts))


def regions() -> Iterator[dict[str, str]]:
    """Every division in force, parents before children (region dataset rows)."""
    for code, division in divisions().items():
        name = division.current_name
        if not name:
            continue
        row = {"region_code": code, "name": name, "level": region_level_of(code)}
        parent = _parent_of(code)
        if parent:
            row["parent_code"] = parent
        yield row


# ---- deterministic draws -------------------------------------------------------------------------------------------


def _rng(kind: int, i: int, seed: int) -> random.Random:
    """The random stream of record ``i`` of one kind: independent of every other record."""
    return random.Random(((seed & 0xFFFFFFFF) << 44) | (kind << 40) | i)


@lru_cache(maxsize=64)
def _affine(space: int, seed: int, kind: int) -> tuple[int, int]:
    """Multiplier and offset of a seeded permutation of range(space): j = (a*i + b) mod space."""
    rng = random.Random(f"permutation:{kind}:{space}:{seed}")
    a = rng.randrange(space // 3, space) | 1
    while math.gcd(a, space) != 1:
        a += 2
    return a, rng.randrange(space)


def _permuted(i: int, space: int, seed: int, kind: int) -> int:
    if not 0 <= i < space:
        raise ValueError(f"index {i} outside 0..{space - 1}")
    a, b = _affine(space, seed, kind)
    return (a * i + b) % space


# Draws use rng.random() directly: a few times cheaper than randrange/choice, which matters at millions of rows.
def _below(rng: random.Random, n: int) -> int:
    return int(rng.random() * n)


def _pick(rng: random.Random, choices: Sequence[T]) -> T:
    return choices[int(rng.random() * len(choices))]


@lru_cache(maxsize=16)
def _cumulative(table: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    total = sum(weight for _, weight in table)
    return tuple(v for v, _ in table), tuple(accumulate(weight / total for _, weight in table))


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    values, bounds = _cumulative(table)
    return values[min(bisect_right(bounds, rng.random()), len(values) - 1)]


def _person_name(rng: random.Random) -> str:
    given = _pick(rng, GIVEN) + (_pick(rng, GIVEN) if rng.random() < 0.7 else "")
    return _pick(rng, SURNAMES) + given


def _street_address(rng: random.Random, code: str) -> str:
    return f"{place_name(code)}{_pick(rng, STREETS)}{1 + _below(rng, 999)}号"


def _day_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=_below(rng, (end - start).days + 1))


# ---- persons -------------------------------------------------------------------------------------------------------


def citizen_id_of(i: int, seed: int = 42) -> str:
    """The 公民身份号码 of person ``i``: unique per ``i`` (for i below PERSON_SPACE), valid, cheap to compute."""
    return _citizen_id(i, seed, _rng(_PERSON, i, seed))


def _citizen_id(i: int, seed: int, rng: random.Random) -> str:
    """Birth date and sequence come from the permuted index (so they are unique), the birth place from ``rng``."""
    j = _permuted(i, PERSON_SPACE, seed, _PERSON)
    born = _birth_days()[j // SEQUENCES]
    body = f"{_pick(rng, _birth_places(int(born[:4])))}{born}{j % SEQUENCES:03d}"
    return body + ric.calc_check_digit(body + "0")


def person(i: int, seed: int = 42) -> dict[str, str]:
    """Person ``i`` as a population record."""
    rng = _rng(_PERSON, i, seed)
    number = _citizen_id(i, seed, rng)
    own_region = number[:6]
    if own_region in _current_set() and rng.random() < 0.85:
        home = own_region
    else:
        counties = _current_counties()
        home = _pick(rng, counties)
    return {
        "citizen_id": number,
        "name": _person_name(rng),
        "sex": "男" if int(number[16]) % 2 else "女",
        "ethnicity": "汉族" if rng.random() < 0.91 else _pick(rng, _minorities()),
        "birth_date": f"{number[6:10]}-{number[10:12]}-{number[12:14]}",
        "address": _street_address(rng, home),
        "address_region_code": home,
        "status": _weighted(rng, PERSON_STATUS_WEIGHTS),
    }


@lru_cache(maxsize=1)
def _current_set() -> frozenset[str]:
    return frozenset(_current_counties())


@lru_cache(maxsize=1)
def _minorities() -> tuple[str, ...]:
    from services.foundation.datasets import ETHNICITIES

    return ETHNICITIES[1:]


def persons(count: int, seed: int = 42) -> Iterator[dict[str, str]]:
    """Persons 0 .. count-1."""
    for i in range(count):
        yield person(i, seed)


# ---- legal entities ------------------------------------------------------------------------------------------------


def _organisation_code(body: str) -> str:
    """GB 11714 organisation code: 8 characters plus their check character."""
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c, 36) * w for c, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def credit_code_of(i: int, seed: int = 42) -> str:
    """The 统一社会信用代码 of entity ``i``: unique per ``i`` (for i below 10^8), valid."""
    return _credit_code(i, seed, _rng(_ENTITY, i, seed))


def _credit_code(i: int, seed: int, rng: random.Random) -> str:
    """Registration type and region come from ``rng``, the organisation code from the permuted index."""
    roll = rng.random()  # 1 enterprise, 2 individual business (个体工商户), 3 farmers' cooperative
    kind = "1" if roll < 0.85 else "2" if roll < 0.97 else "3"
    regions_ = _current_counties() if kind != "1" else _current_prefectures() + _current_counties()
    region = _pick(rng, regions_)
    body = f"9{kind}{region}{_organisation_code(f'{_permuted(i, ORGANISATION_SPACE, seed, _ENTITY):08d}')}"
    return body + uscc.calc_check_digit(body)


def entity(i: int, seed: int = 42) -> dict[str, str]:
    """Legal entity ``i`` as a legal_entity record."""
    rng = _rng(_ENTITY, i, seed)
    code = _credit_code(i, seed, rng)
    region = code[2:8]
    city = _city_of(region)
    brand, trade = _pick(rng, BRANDS), _pick(rng, TRADES)
    if code[1] == "2":
        entity_type, name = "个体工商户", f"{place_name(region)}{brand}{trade}店"
    elif code[1] == "3":
        entity_type, name = "农民专业合作社", f"{place_name(region)}{brand}{trade}专业合作社"
    else:
        entity_type, suffix = _pick(rng, COMPANY_TYPES)
        name = f"{city}{brand}{trade}{suffix}"
    record = {
        "credit_code": code,
        "name": name,
        "entity_type": entity_type,
        "legal_representative": _person_name(rng),
        "established_date": _day_between(rng, date(1985, 1, 1), REFERENCE_DAY).isoformat(),
        "address": _street_address(rng, region if region_level_of(region) == "县级" else _county_in(rng, region)),
        "registration_authority": f"{city}市场监督管理局",
        "status": _weighted(rng, ENTITY_STATUS_WEIGHTS),
    }
    if code[1] != "3" or rng.random() < 0.5:
        record["registered_capital"] = format(canonical_decimal(Decimal(_pick(rng, CAPITALS))), "f")
    return record


def _city_of(region: str) -> str:
    """The province and prefecture part of an address (the whole name for a municipality's district)."""
    return place_name(region[:4] + "00") if region[:4] + "00" in divisions() else place_name(region[:2] + "0000")


def _county_in(rng: random.Random, prefecture: str) -> str:
    counties = _counties_in(prefecture[:4])
    return _pick(rng, counties) if counties else prefecture


@lru_cache(maxsize=1024)
def _counties_in(prefix: str) -> tuple[str, ...]:
    return tuple(code for code in _current_counties() if code.startswith(prefix))


def entities(count: int, seed: int = 42) -> Iterator[dict[str, str]]:
    """Legal entities 0 .. count-1."""
    for i in range(count):
        yield entity(i, seed)


# ---- licences ------------------------------------------------------------------------------------------------------


def licence(i: int, seed: int = 42, persons: int = 1000, entities: int = 1000) -> dict[str, str]:
    """Licence ``i``, held by one of the first ``persons`` persons or ``entities`` entities."""
    if persons <= 0 and entities <= 0:
        raise ValueError("licences need persons or entities to hold them")
    rng = _rng(_LICENCE, i, seed)
    by_entity = persons <= 0 or (entities > 0 and rng.random() < 0.5)
    if by_entity:
        holder = entity(_below(rng, entities), seed)
        holder_id, holder_name, since = holder["credit_code"], holder["name"], date.fromisoformat(
            holder["established_date"])
        kind, prefix, issuer, years = _pick(rng, ENTITY_LICENCES)
        region = holder_id[2:8]
    else:
        holder = person(_below(rng, persons), seed)
        holder_id, holder_name = holder["citizen_id"], holder["name"]
        born = date.fromisoformat(holder["birth_date"])
        adult = date(born.year + 18, born.month, min(born.day, 28))
        if adult <= REFERENCE_DAY:
            since, (kind, prefix, issuer, years) = adult, _pick(rng, PERSON_LICENCES)
        else:  # a minor holds an identity card only
            since, (kind, prefix, issuer, years) = born, PERSON_LICENCES[-1]
        region = holder["address_region_code"]
    issued = _day_between(rng, since, REFERENCE_DAY)
    record = {
        "licence_number": f"{prefix}{issued.year}{_permuted(i, NUMBER_SPACE, seed, _LICENCE):010d}",
        "licence_type": kind,
        "holder_id": holder_id,
        "holder_name": holder_name,
        "issuing_authority": f"{_city_of(region)}{issuer}",
        "issue_date": issued.isoformat(),
        "status": "注销" if rng.random() < 0.05 else "有效",
    }
    if years:
        until = date(issued.year + years, issued.month, 28 if issued.day > 28 else issued.day)
        record["valid_until"] = until.isoformat()
        if until < REFERENCE_DAY and record["status"] == "有效":
            record["status"] = "过期"
    return record


def licences(count: int, seed: int = 42, persons: int = 1000, entities: int = 1000) -> Iterator[dict[str, str]]:
    """Licences 0 .. count-1, held by generated persons and entities."""
    for i in range(count):
        yield licence(i, seed, persons, entities)


# ---- places --------------------------------------------------------------------------------------------------------


def place(i: int, seed: int = 42) -> dict[str, str]:
    """Place ``i``: a standard address or a land parcel, with coordinates near its province's centre."""
    rng = _rng(_PLACE, i, seed)
    counties = _current_counties()
    region = _pick(rng, counties)
    parcel = rng.random() < 0.3
    longitude, latitude = PROVINCE_CENTRES.get(region[:2], (116.40, 39.90))
    address = (f"{place_name(region)}{_pick(rng, STREETS)}以{_pick(rng, '东南西北')}{1 + _below(rng, 99)}号地块"
               if parcel else _street_address(rng, region))
    return {
        "place_code": f"{region}{'DK' if parcel else 'DZ'}{_permuted(i, ORGANISATION_SPACE, seed, _PLACE):08d}",
        "kind": "地块" if parcel else "地址",
        "address": address,
        "region_code": region,
        "longitude": _coordinate(longitude + rng.random() - 0.5),
        "latitude": _coordinate(latitude + rng.random() - 0.5),
    }


def _coordinate(degrees: float) -> str:
    return format(canonical_decimal(Decimal(f"{degrees:.6f}")), "f")


def places(count: int, seed: int = 42) -> Iterator[dict[str, str]]:
    """Places 0 .. count-1."""
    for i in range(count):
        yield place(i, seed)
