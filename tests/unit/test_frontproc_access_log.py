"""The 前置机's access log under the department's log rotation."""

from __future__ import annotations

from pathlib import Path

import grpc

from frontproc.access_log import REFUSED, AccessLog, read
from services.runtime.errors import ServiceError, unauthenticated
from services.runtime.provider_assertions import AccessClaims, VerifiedAssertion


def _served(audit_id: str) -> VerifiedAssertion:
    return VerifiedAssertion(jti=f"jti-{audit_id}", claims=AccessClaims("11100000000000001X", "sys-a", "WORK_REFERENCE",
                                                                       audit_id), expires_at=0)


def test_lines_after_a_rotation_go_to_the_file_at_the_path_not_to_the_moved_or_removed_one(tmp_path: Path) -> None:
    """logrotate moves (or removes) the file: the lines after it went to the archive, or to a removed file and
    were lost, until the 前置机 restarted."""
    path = tmp_path / "logs" / "access.jsonl"
    log = AccessLog(str(path))
    log.open()
    try:
        log.write(_served("a-1"), "Lookup", "social_insurance", 1, 1)
        path.rename(tmp_path / "logs" / "access.jsonl.1")  # logrotate's default: move, and a new file is made
        log.write(_served("a-2"), "Lookup", "social_insurance", 1, 0)
        assert [line["audit_id"] for line in read(str(tmp_path / "logs" / "access.jsonl.1"))] == ["a-1"]
        assert [line["audit_id"] for line in read(str(path))] == ["a-2"]
        path.unlink()  # or removed outright
        log.write(_served("a-3"), "BatchLookup", "social_insurance", 2, 2)
        [line] = read(str(path))
        assert line["audit_id"] == "a-3" and line["keys"] == 2 and line["records"] == 2
    finally:
        log.close()


def test_a_refused_call_is_written_with_who_and_why(tmp_path: Path) -> None:
    """Refusals left no line: a replayed or forged assertion, or anyone but the platform, went unseen."""
    path = tmp_path / "access.jsonl"
    log = AccessLog(str(path))
    log.open()
    try:
        log.refused("Lookup", "social_insurance", "ipv4:10.0.0.9:51000", unauthenticated("platform assertion was "
                                                                                        "already used"))
        log.refused("Export", "x" * 500, "ipv4:10.0.0.8:52000",
                    ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", "at most 1 call per second"),
                    _served("a-9"))
        first, second = read(str(path))
        assert first["outcome"] == REFUSED and first["status"] == "UNAUTHENTICATED"
        assert first["peer"] == "ipv4:10.0.0.9:51000" and first["reason"] == "platform assertion was already used"
        assert first["system_id"] == "" and first["operation"] == "Lookup" and first["dataset"] == "social_insurance"
        assert second["status"] == "RESOURCE_EXHAUSTED" and second["audit_id"] == "a-9"
        assert second["system_id"] == "sys-a" and second["assertion_id"] == "jti-a-9"
        assert len(second["dataset"]) == 64
    finally:
        log.close()
