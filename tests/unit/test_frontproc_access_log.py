"""The 前置机's access log under the department's log rotation."""

from __future__ import annotations

import logging
from pathlib import Path

import grpc
import pytest

from frontproc.access_log import MAX_REFUSAL_KEYS, REFUSAL_WINDOW_SECONDS, REFUSED, AccessLog, RefusalThrottle, read
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


def test_a_refusal_quoting_a_citizen_id_is_written_with_it_masked(tmp_path: Path) -> None:
    """A refusal's words may quote what the caller sent: the 前置机's log (kept by the department, read by its
    operators) holds a 公民身份号码 masked, as the platform's own refusals carry it."""
    path = tmp_path / "access.jsonl"
    log = AccessLog(str(path))
    log.open()
    try:
        log.refused("Lookup", "social_insurance", "ipv4:10.0.0.9:51000",
                    unauthenticated("platform assertion names key '342322194911060454', not this call's"))
        [line] = read(str(path))
        assert line["reason"] == "platform assertion names key '342322********0454', not this call's"
        assert "342322194911060454" not in path.read_text()
    finally:
        log.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_flood_of_unauthenticated_calls_writes_a_line_a_second_per_peer_with_the_rest_counted(tmp_path: Path) -> None:
    """Anyone who can reach a 前置机 made it write a line per call sent without an assertion, before any rate limit
    applies: a flood filled its disk. Now one line a second per peer host and status, the rest counted, and the
    platform's own refusals (a verified assertion over the rate limit, each with its audit id) all written."""
    path = tmp_path / "access.jsonl"
    clock = _Clock()
    log = AccessLog(str(path), RefusalThrottle(clock))
    log.open()
    missing = unauthenticated("missing platform assertion")
    try:
        for port in range(10_000):  # a connection per call: each its own port, one host
            log.refused("Lookup", f"dataset-{port}", f"ipv4:10.0.0.9:{port + 1024}", missing)
        log.refused("Lookup", "social_insurance", "ipv4:10.0.0.7:40000", missing)
        for endpoint in ("a:1", "b:2"):  # another kind is a line of its own; the endpoint named is no new kind
            log.refused("Lookup", "social_insurance", "ipv4:10.0.0.9:7", unauthenticated(
                f"platform assertion is for another endpoint (audience): it names {endpoint!r}"))
        for n in range(3):
            log.refused("Lookup", "social_insurance", "ipv4:10.0.0.8:52000",
                        ServiceError(grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", "at most 1 call per second"),
                        _served(f"a-{n}"))
        clock.now += REFUSAL_WINDOW_SECONDS
        log.refused("Export", "social_insurance", "ipv4:10.0.0.9:9", missing)
        log.refused("Export", "social_insurance", "ipv4:10.0.0.9:10", missing)
    finally:
        log.close()
    lines = read(str(path))
    flood = [line for line in lines if line["peer"].startswith("ipv4:10.0.0.9") and "missing" in line["reason"]]
    assert [line.get("suppressed", 0) for line in flood] == [0, 9_999, 1], flood
    assert flood[1]["operation"] == "Export" and flood[2]["peer"] == "ipv4:10.0.0.9"
    assert [line["peer"] for line in lines].count("ipv4:10.0.0.7:40000") == 1
    assert [line["audit_id"] for line in lines if line["status"] == "RESOURCE_EXHAUSTED"] == ["a-0", "a-1", "a-2"]
    [audience, unwritten] = [line for line in lines if "another endpoint" in line["reason"]]
    assert audience.get("suppressed", 0) == 0 and unwritten["suppressed"] == 1 and unwritten["peer"] == "ipv4:10.0.0.9"
    assert len(lines) == 9


def test_the_throttle_follows_a_bounded_number_of_peers() -> None:
    """Many peers at once share one count rather than growing the throttle without bound."""
    clock = _Clock()
    throttle = RefusalThrottle(clock)
    admitted = [throttle.admit((f"ipv4:10.{n >> 16}.{(n >> 8) & 255}.{n & 255}", "UNAUTHENTICATED", "missing"))
                for n in range(MAX_REFUSAL_KEYS + 50)]
    assert admitted.count(0) == MAX_REFUSAL_KEYS + 1 and admitted.count(None) == 49
    clock.now += REFUSAL_WINDOW_SECONDS
    assert throttle.admit(("ipv4:10.9.9.9", "UNAUTHENTICATED", "missing")) == 0  # the quiet keys are forgotten
    assert ("(many peers)", "", "") in dict(throttle.pending())


def test_a_log_that_cannot_be_written_refuses_the_call_saying_so_once_then_serves_again(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A full disk (here /dev/full, behind the log's path) made each call's OSError go up as it was: the 前置机
    logged every call as "network unavailable (OSError: [Errno 28] No space left on device)", and the line the
    failed file held was written with the next one that could be, for a call the platform had been refused. The
    call is UNAVAILABLE naming the access log, the log says so once with what to do, and once the path is
    writable again (space freed) the next line is written alone, the log saying so."""
    path = tmp_path / "access.jsonl"
    path.symlink_to("/dev/full")
    log = AccessLog(str(path))
    log.open()
    caplog.set_level(logging.INFO, logger="frontproc.access_log")
    try:
        for audit_id in ("a-1", "a-2"):
            with pytest.raises(ServiceError) as error:
                log.write(_served(audit_id), "Lookup", "social_insurance", 1, 1)
            assert (error.value.code, error.value.metadata["dependency"]) == (grpc.StatusCode.UNAVAILABLE,
                                                                               "access log")
        said = [record.getMessage() for record in caplog.records]
        assert said == [f"the access log {path} cannot be written (No space left on device): the platform's calls are "
                        "refused (UNAVAILABLE) until it can, as none is answered without its line: free space on its "
                        "volume, or make it writable again (a volume remounted read-only?)"], said
        path.unlink()  # space freed: the path is a file that takes lines again
        log.write(_served("a-3"), "Lookup", "social_insurance", 1, 0)
        assert [line["audit_id"] for line in read(str(path))] == ["a-3"]
        assert caplog.records[-1].getMessage() == f"the access log {path} is written again: the platform's calls " \
                                                  "are served"
    finally:
        log.close()
