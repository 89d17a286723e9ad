"""The very first credential: the authority department and one of its systems (`govshare seed`).

Every other department and system is registered through DirectoryService by the
authority, so someone must hold an authority credential before anything can be
registered. This writes one directly into the store, idempotently: run again,
it keeps the department and the system and hands out a fresh secret.
"""

from __future__ import annotations

import asyncio

from govshare.authorization.v1 import directory_pb2
from services.authorization import credentials
from services.authorization.directory import Department, System, department_problems
from services.authorization.store import Store
from services.authorization.validation import name_problem
from services.runtime import db
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import FieldViolation, invalid_argument

SEED_ACTOR = "cli:govshare-seed"


def region_level(region_code: str) -> int:
    """The administrative level of a 行政区划代码 (GB/T 2260): 100000 the nation, XX0000 a province (直辖市 too),
    XXXX00 a prefecture-level city, any other a county. The authority was registered NATIONAL whatever its region:
    the demo's 市大数据管理局 of 110100 was listed as a national department in the directory and its reports."""
    if region_code == "100000":
        return directory_pb2.ADMINISTRATIVE_LEVEL_NATIONAL
    if region_code.endswith("0000"):
        return directory_pb2.ADMINISTRATIVE_LEVEL_PROVINCIAL
    if region_code.endswith("00"):
        return directory_pb2.ADMINISTRATIVE_LEVEL_MUNICIPAL
    return directory_pb2.ADMINISTRATIVE_LEVEL_COUNTY


async def bootstrap_authority(database_url: str, department_code: str, name: str, region_code: str,
                              system_name: str) -> tuple[str, str]:
    """Creates (or keeps) the authority department and its system; returns (system_id, secret).

    An existing department is flagged as the authority; an existing system of that name gets a new
    secret (the old one stops working) and is enabled again. Bad input raises ServiceError
    (INVALID_ARGUMENT) listing every problem.
    """
    # Stored as checked: without the spaces around them (validation.name_problem).
    name, system_name = name.strip(), system_name.strip()
    department = Department(code=department_code, name=name, level=region_level(region_code), region_code=region_code,
                            authority=True)
    problems = department_problems(department, prefix="authority")
    if error := name_problem(system_name):
        problems.append(FieldViolation("authority.system_name", error))
    if problems:
        raise invalid_argument(problems)
    await db.migrate(database_url, "authorization")
    store = Store()
    await store.open(database_url, min_size=1, max_size=2)
    try:
        await store.ensure_authority(department)
        secret = credentials.new_secret()
        secret_hash = await asyncio.to_thread(credentials.hash_secret, secret)
        system = System(id=credentials.new_system_id(), department_code=department_code, name=system_name)
        # Logged like any directory change; the actor is the operator's command, not a system.
        admin = AdminEvent(action="directory.bootstrap_authority", target=system.id, actor_system_id=SEED_ACTOR,
                           actor_department_code=department_code, details={"department_code": department_code})
        system_id = await store.upsert_named_system(system, secret_hash, admin)
        return system_id, secret
    finally:
        await store.close()
