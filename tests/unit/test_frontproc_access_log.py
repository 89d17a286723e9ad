"""The 前置机's access log under the department's log rotation."""

from __future__ import annotations

from pathlib import Path

from frontproc.access_log import AccessLog, read
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
