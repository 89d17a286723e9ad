"""docs/operations.md: the on-call runbook for a leaked business-system credential, its commands run as printed.

Each marked block runs as one bash script against the shared platform's edge (its address put in place of the
printed one), on a system of its own (disabling a demo system would cut the tokens other tests hold), and what
the runbook says each command prints is checked, then what the steps did: the leaked token and the old secret
refused, the new secret working, each refused try in the administrative log and the access audit.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pyotp
import pytest

from govshare.authorization.v1 import (
    directory_pb2,
    directory_pb2_grpc,
    persons_pb2,
    persons_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from govshare.common.v1 import common_pb2
from govshare.query.v1 import query_pb2, query_pb2_grpc

pytestmark = pytest.mark.integration

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
PRINTED_GATEWAY = "127.0.0.1:50051"
PASSWORD = "correct horse battery"


def _block(marker: str) -> str:
    (block,) = re.findall(rf"<!-- {marker}:.*?-->\s*```sh\n(.*?)```", RUNBOOK.read_text(encoding="utf-8"), re.S)
    return block


def _run(block: str, gateway: str, env: dict[str, str]) -> list[str]:
    """The block as one script, as the on-call person pastes it (python: this interpreter, as in their venv)."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    done = subprocess.run(["bash", "-c", block.replace(PRINTED_GATEWAY, gateway)], capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, "PATH": path, **env})
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done.stdout.splitlines()


async def _person(platform, department: str, role: int) -> tuple[str, pyotp.TOTP]:  # type: ignore[no-untyped-def]
    """A person of the demo department ``department`` created by the authority's system, with their TOTP."""
    username = f"u{uuid.uuid4().hex[:10]}"
    created = await persons_pb2_grpc.PersonServiceStub(platform.channel).CreatePerson(persons_pb2.CreatePersonRequest(
        person=persons_pb2.Person(username=username, display_name=f"值班{username[-4:]}", roles=[role],
                                  department_code=platform.credentials.systems[department]["department"]),
        password=PASSWORD), metadata=platform.metadata("authority"), timeout=10)
    return username, pyotp.parse_uri(created.totp_provisioning_uri)


async def _token(platform, system_id: str, secret: str) -> str:  # type: ignore[no-untyped-def]
    return (await token_pb2_grpc.TokenServiceStub(platform.channel).IssueToken(
        token_pb2.IssueTokenRequest(system_id=system_id, secret=secret), timeout=10)).token


async def test_the_leaked_secret_runbook_does_what_it_says(platform) -> None:  # type: ignore[no-untyped-def]
    civil = platform.credentials.systems["civil"]
    created = await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateSystem(
        directory_pb2.CreateSystemRequest(system=directory_pb2.System(
            name=f"泄露演练系统{uuid.uuid4().hex[:6]}", department_code=civil["department"])),
        metadata=platform.metadata("authority"), timeout=10)
    system_id, old_secret = created.system.id, created.secret
    sibling_created = await directory_pb2_grpc.DirectoryServiceStub(platform.channel).CreateSystem(
        directory_pb2.CreateSystemRequest(system=directory_pb2.System(
            name=f"演练兄弟系统{uuid.uuid4().hex[:6]}", department_code=civil["department"])),
        metadata=platform.metadata("authority"), timeout=10)
    sibling = sibling_created.system.id
    leaked = await _token(platform, system_id, old_secret)
    query = query_pb2_grpc.QueryServiceStub(platform.channel)
    request = query_pb2.QueryRequest(resource_code="102001/000001", key="924103023250193249",
                                     purpose=common_pb2.Purpose(type=common_pb2.PURPOSE_TYPE_WORK_REFERENCE,
                                                                text="泄露前的调用"))
    await query.Query(request, metadata=(("authorization", f"Bearer {leaked}"),), timeout=10)  # it works, before
    # Whoever holds it tries to take the department's other systems: a system of their own, a sibling's new
    # secret. Both are refused (the authority's 管理员's), and logged; its own secret it may rotate, and does.
    directory = directory_pb2_grpc.DirectoryServiceStub(platform.channel)
    leaked_md = (("authorization", f"Bearer {leaked}"),)
    for attempt in (directory.CreateSystem(directory_pb2.CreateSystemRequest(system=directory_pb2.System(
                        name=f"冒用系统{uuid.uuid4().hex[:6]}", department_code=civil["department"])),
                        metadata=leaked_md, timeout=10),
                    directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=sibling),
                                                 metadata=leaked_md, timeout=10)):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await attempt
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, denied.value.details()
    taken = (await directory.RotateSystemSecret(directory_pb2.RotateSystemSecretRequest(id=system_id),
                                                metadata=leaked_md, timeout=10)).secret
    leaked = await _token(platform, system_id, taken)

    admin, admin_totp = await _person(platform, "authority", persons_pb2.PERSON_ROLE_ADMINISTRATOR)
    out = await asyncio.to_thread(_run, _block("leaked-secret"), platform.gateway, {
        "ADMIN_USER": admin, "ADMIN_PASSWORD": PASSWORD, "TOTP_CODE": admin_totp.now(), "SYSTEM_ID": system_id,
        "LEAKED_TOKEN": leaked})
    disabled, refused, rotated, enabled = out
    assert json.loads(disabled)["system"]["disabled"] is True
    assert refused == "401"
    new_secret = json.loads(rotated)["secret"]
    assert new_secret and new_secret != old_secret
    assert not json.loads(enabled)["system"].get("disabled", False)

    # After the runbook: the leaked token and the old secret are refused, the new secret works.
    with pytest.raises(grpc.aio.AioRpcError) as still:
        await query.Query(request, metadata=(("authorization", f"Bearer {leaked}"),), timeout=10)
    assert still.value.code() == grpc.StatusCode.UNAUTHENTICATED and "was rotated" in still.value.details()
    for secret in (old_secret, taken):  # the department's, and the one whoever held the leaked secret rotated to
        with pytest.raises(grpc.aio.AioRpcError) as old:
            await _token(platform, system_id, secret)
        assert old.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert await _token(platform, system_id, new_secret)
    # Meanwhile the department's other systems go on calling: more calls than the auditor's page holds, all newer
    # than the leaked system's, so a listing of the department's page filtered in the client shows none of them.
    sibling_md = (("authorization", f"Bearer {await _token(platform, sibling, sibling_created.secret)}"),)
    for _ in range(3):
        await asyncio.gather(*(query.Query(request, metadata=sibling_md, timeout=10) for _ in range(35)),
                             return_exceptions=True)

    auditor, auditor_totp = await _person(platform, "authority", persons_pb2.PERSON_ROLE_AUDITOR)
    found = await asyncio.to_thread(_run, _block("leaked-secret-audit"), platform.gateway, {
        "AUDITOR_USER": auditor, "AUDITOR_PASSWORD": PASSWORD, "TOTP_CODE": auditor_totp.now(),
        "DEPARTMENT": civil["department"], "SYSTEM_ID": system_id})
    assert any(line.endswith(f"{system_id} BAD_SECRET") for line in found), found
    changed = [line.split()[1:] for line in found if " directory." in line]
    assert ["directory.rotate_system_secret", sibling, "ADMINISTRATOR_ONLY"] in changed, found
    assert ["directory.create_system", civil["department"], "ADMINISTRATOR_ONLY"] in changed, found
    assert ["directory.rotate_system_secret", system_id, "OK"] in changed, found
    calls = [line.split()[1:] for line in found if "Query" in line]
    assert ["Query", "102001/000001", "ACCESS_RESULT_DENIED", "DENY_REASON_CREDENTIALS_REVOKED"] in calls, found
    assert ["Query", "102001/000001", "ACCESS_RESULT_ANSWERED"] in calls, found  # what it read before
