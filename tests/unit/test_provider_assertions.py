"""The platform's per-call assertion to a department's 前置机, and query's guard of each department endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path

import grpc
import pytest

from console.errors import REASON_SENTENCES, problem_of
from govshare.catalog.v1 import catalog_pb2 as cat
from govshare.provider.v1 import provider_pb2
from services.catalog.endpoints import _require_serves
from services.catalog.model import DataItem, Endpoint, Entry
from services.query.endpoints import CircuitOpen, EndpointDown, EndpointGuard
from services.runtime import provider_assertions
from services.runtime.errors import ServiceError, to_status
from services.runtime.keys import generate_keys
from services.runtime.provider_assertions import (
    CURRENT_ACCESS,
    LEEWAY_SECONDS,
    AccessClaims,
    ProviderAssertionSigner,
    ProviderAssertionVerifier,
    provider_public_keys,
)

KEY = generate_keys().provider_signing_key
ENDPOINT = "dept.example:7100"
CLAIMS = AccessClaims("11110100MB0000007X", "system-1", "WORK_REFERENCE", "audit-1")


def _verifier(clock=None) -> ProviderAssertionVerifier:  # type: ignore[no-untyped-def]
    return ProviderAssertionVerifier(provider_public_keys(KEY), ENDPOINT, **({"clock": clock} if clock else {}))


def _refused(verifier: ProviderAssertionVerifier, metadata) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as error:
        verifier.verify(metadata)
    assert error.value.code == grpc.StatusCode.UNAUTHENTICATED
    return error.value.message


def test_a_fresh_assertion_names_the_access_and_is_accepted_once() -> None:
    verifier, metadata = _verifier(), ProviderAssertionSigner(KEY).metadata(ENDPOINT, CLAIMS)
    verified = verifier.verify(metadata)
    assert verified.claims == CLAIMS and verified.jti
    assert "replay" in _refused(verifier, metadata)


def test_a_changed_keys_file_is_trusted_without_a_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    """A 前置机 read platform.pem once, at start. A department that added the platform's new key beside the old
    one, as a rotation asks (docs/deploy.md), still refused every call signed with it, an outage from the moment
    the platform switched until someone restarted the 前置机; one that dropped the retired key went on trusting it.
    The file is read again once it changes (a stat at most every second); an unusable one changes nothing."""
    monkeypatch.setattr(provider_assertions, "KEYS_FILE_CHECK_SECONDS", 0.0)
    new = generate_keys().provider_signing_key
    pem = tmp_path / "platform.pem"
    pem.write_text(provider_public_keys(KEY))
    verifier = ProviderAssertionVerifier(pem.read_text(), ENDPOINT, keys_file=str(pem))
    assert "does not trust" in _refused(verifier, ProviderAssertionSigner(new).metadata(ENDPOINT, CLAIMS))
    pem.write_text(provider_public_keys(KEY) + provider_public_keys(new))  # during the rotation: both
    for key in (new, KEY):
        assert verifier.verify(ProviderAssertionSigner(key).metadata(ENDPOINT, CLAIMS)).claims == CLAIMS
    pem.write_text("-----BEGIN PUBLIC KEY-----\nhalf written")
    with caplog.at_level(logging.ERROR, logger=provider_assertions.__name__):
        assert verifier.verify(ProviderAssertionSigner(new).metadata(ENDPOINT, CLAIMS)).claims == CLAIMS
    assert "cannot be used" in caplog.text and "stay trusted" in caplog.text
    pem.write_text(provider_public_keys(new))  # the retired key dropped
    assert "does not trust" in _refused(verifier, ProviderAssertionSigner(KEY).metadata(ENDPOINT, CLAIMS))
    assert verifier.verify(ProviderAssertionSigner(new).metadata(ENDPOINT, CLAIMS)).claims == CLAIMS


def test_expired_foreign_and_misdirected_assertions_are_refused() -> None:
    verifier = _verifier()
    assert "expired" in _refused(verifier, ProviderAssertionSigner(KEY, ttl_seconds=-60).metadata(ENDPOINT, CLAIMS))
    assert "another endpoint" in _refused(verifier, ProviderAssertionSigner(KEY).metadata("other:1", CLAIMS))
    assert "does not trust" in _refused(verifier, ProviderAssertionSigner(generate_keys().provider_signing_key)
                                        .metadata(ENDPOINT, CLAIMS))
    assert "no platform assertion" in _refused(verifier, ())
    assert "malformed" in _refused(verifier, (("x-govshare-provider-assertion", "not.a.jwt"),))


async def test_the_frontproc_logs_why_the_platform_s_calls_are_refused_once_a_minute(
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """A 前置机 whose ``endpoint`` is not the registered target (or whose platform.pem is not the platform's key)
    refused every call of the platform and said nothing: its data officer saw only the platform report it as not
    answering. The refusal now names both endpoints, and the log says what to fix, at most once a minute."""
    from types import SimpleNamespace

    from frontproc.access_log import AccessLog
    from frontproc.limits import RateLimit
    from frontproc.servicer import FrontprocServicer

    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    servicer = FrontprocServicer(SimpleNamespace(resources={}), _verifier(), None, access_log, RateLimit(10, 10))  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="frontproc.servicer")
    for _ in range(2):
        metadata = ProviderAssertionSigner(KEY).metadata("fqj.rsj.example.gov.cn:7100", CLAIMS)
        with pytest.raises(ServiceError) as error:
            await servicer.Lookup(provider_pb2.LookupRequest(dataset="d", key="k"),
                                  SimpleNamespace(invocation_metadata=lambda metadata=metadata: metadata,
                                                  peer=lambda: "ipv4:127.0.0.1:7100"))
        assert error.value.message == ("platform assertion is for another endpoint (audience): it names "
                                       f"'fqj.rsj.example.gov.cn:7100', this endpoint is '{ENDPOINT}'")
    access_log.close()
    assert [json.loads(line)["outcome"] for line in (tmp_path / "access.jsonl").read_text().splitlines()] == [
        "REFUSED", "REFUSED"]  # each refusal in the access log, the department's log said once
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and said[0].endswith("set `endpoint` in the configuration to the target the catalog entry "
                                               "registers")


async def test_a_frontproc_whose_clock_is_behind_the_platforms_says_so_not_that_the_call_was_not_the_platforms(
        caplog: pytest.LogCaptureFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 前置机 whose clock is behind the platform's by more than the leeway refused every call of the platform
    "platform assertion is invalid (ImmatureSignatureError)", and its log said "a call not from the platform is
    refused so": the officer looked for an intruder while the platform's calls all failed. The refusal says the
    assertion is not valid yet, by how much, and the log to synchronise this machine's clock."""
    from types import SimpleNamespace

    from frontproc.access_log import AccessLog
    from frontproc.limits import RateLimit
    from frontproc.servicer import FrontprocServicer

    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    servicer = FrontprocServicer(SimpleNamespace(resources={}), _verifier(), None, access_log, RateLimit(10, 10))  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="frontproc.servicer")
    now = provider_assertions.time.time()
    with monkeypatch.context() as platform_clock:  # the platform's clock, a minute ahead of this machine's
        platform_clock.setattr(provider_assertions.time, "time", lambda: now + 60)
        metadata = ProviderAssertionSigner(KEY).metadata(ENDPOINT, CLAIMS)
    with pytest.raises(ServiceError) as error:
        await servicer.Lookup(provider_pb2.LookupRequest(dataset="d", key="k"),
                              SimpleNamespace(invocation_metadata=lambda: metadata, peer=lambda: "ipv4:127.0.0.1:7100"))
    access_log.close()
    assert error.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert error.value.message.startswith("platform assertion is not valid yet (issued ")
    assert error.value.message.endswith(" s ahead of this endpoint's clock)")
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and said[0].endswith("if the platform calls so, this machine's clock is behind the "
                                               "platform's: synchronise it (NTP)"), said


async def test_an_assertion_of_a_key_not_trusted_names_it_and_the_keys_trusted_and_is_logged_once_a_minute(
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """After the platform rotated provider-signing-key, a 前置机 whose platform.pem lacked the new key refused every
    call "signed by a key this endpoint does not trust", naming neither key: its data officer could not tell the
    platform's new key from a stranger's, nor check the file against the provider-public.pem handed over. The
    refusal names the assertion's kid and the kids trusted; the department's log still says it once a minute per
    reason, however many keys the callers name."""
    from types import SimpleNamespace

    from frontproc.access_log import AccessLog
    from frontproc.limits import RateLimit
    from frontproc.servicer import FrontprocServicer
    from services.runtime.keys import ed25519_public_keys
    from services.runtime.tokens import key_id

    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    servicer = FrontprocServicer(SimpleNamespace(resources={}), _verifier(), None, access_log, RateLimit(10, 10))  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="frontproc.servicer")
    trusted = key_id(ed25519_public_keys(provider_public_keys(KEY))[0])
    for _ in range(3):
        stranger = generate_keys().provider_signing_key
        kid = key_id(ed25519_public_keys(provider_public_keys(stranger))[0])
        metadata = ProviderAssertionSigner(stranger).metadata(ENDPOINT, CLAIMS)
        with pytest.raises(ServiceError) as error:
            await servicer.Lookup(provider_pb2.LookupRequest(dataset="d", key="k"),
                                  SimpleNamespace(invocation_metadata=lambda metadata=metadata: metadata,
                                                  peer=lambda: "ipv4:127.0.0.1:7100"))
        assert error.value.message == ("platform assertion is signed by a key this endpoint does not trust (kid "
                                       f"'{kid}'; it trusts {trusted})")
    access_log.close()
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and "ask its operator for provider-public.pem" in said[0]


def test_each_call_gets_its_own_assertion_naming_the_current_access() -> None:
    signer = ProviderAssertionSigner(KEY)
    token = CURRENT_ACCESS.set(CLAIMS)
    try:
        first, second = signer.metadata(ENDPOINT), signer.metadata(ENDPOINT)
    finally:
        CURRENT_ACCESS.reset(token)
    assert first != second
    verifier = _verifier()
    assert verifier.verify(first).claims == verifier.verify(second).claims == CLAIMS


def test_seen_ids_are_forgotten_once_their_assertion_expired() -> None:
    now = [1_000_000_000.0]
    verifier = _verifier(clock=lambda: now[0])
    verifier.verify(ProviderAssertionSigner(KEY).metadata(ENDPOINT, CLAIMS))
    assert len(verifier._seen) == 1
    now[0] += 10 ** 10  # far later: the id (and its expired assertion) is of no use any more
    verifier._forget_expired(int(now[0]))
    assert not verifier._seen


def test_an_assertion_issued_before_the_frontproc_restarted_is_refused() -> None:
    """The ids seen are held in memory: after a restart, an assertion captured before it was taken again for the
    rest of its life (30 s). One issued before the 前置机 started (beyond the clocks' leeway) is now refused."""
    import time

    metadata = ProviderAssertionSigner(KEY).metadata(ENDPOINT, CLAIMS)
    assert _verifier().verify(metadata).claims == CLAIMS
    restarted = _verifier(clock=lambda: time.time() + LEEWAY_SECONDS + 2)  # started 7 s after the assertion
    # 7 s, or 8 when a second began between the signing and the start.
    assert re.fullmatch(r"platform assertion was issued before this endpoint started \(replay refused: issued [78] s "
                        r"before the start by this endpoint's clock\)", _refused(restarted, metadata))


async def test_the_platforms_calls_refused_after_a_start_for_a_clock_ahead_say_to_synchronise_it(
        caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    """A 前置机 whose clock is ahead of the platform's by more than the leeway refused every call of the platform
    for that long after each start as "issued before this endpoint started (replay refused)", and its log said "a
    call not from the platform is refused so". The refusal says by how much, and the log what to look at."""
    import time
    from types import SimpleNamespace

    from frontproc.access_log import AccessLog
    from frontproc.limits import RateLimit
    from frontproc.servicer import FrontprocServicer

    access_log = AccessLog(str(tmp_path / "access.jsonl"))
    access_log.open()
    ahead = _verifier(clock=lambda: time.time() + 20)  # this machine's clock 20 s ahead of the platform's
    servicer = FrontprocServicer(SimpleNamespace(resources={}), ahead, None, access_log, RateLimit(10, 10))  # type: ignore[arg-type]
    caplog.set_level(logging.WARNING, logger="frontproc.servicer")
    metadata = ProviderAssertionSigner(KEY).metadata(ENDPOINT, CLAIMS)
    with pytest.raises(ServiceError) as error:
        await servicer.Lookup(provider_pb2.LookupRequest(dataset="d", key="k"),
                              SimpleNamespace(invocation_metadata=lambda: metadata, peer=lambda: "ipv4:127.0.0.1:7100"))
    access_log.close()
    # 20 s, or 19 when a second began between the start and the signing.
    assert re.search(r"\(replay refused: issued (19|20) s before the start by this endpoint's clock\)$",
                     error.value.message), error.value.message
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and said[0].endswith(
        "if the platform's calls are, for a while after each start, this machine's clock is ahead of the platform's: "
        "synchronise it (NTP)"), said


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _fail(guard: EndpointGuard) -> None:
    with pytest.raises(EndpointDown):
        async with guard.call():
            raise EndpointDown(_rpc_error())


def _rpc_error() -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "down")


async def test_the_circuit_opens_after_consecutive_failures_and_closes_on_a_success() -> None:
    clock = Clock()
    guard = EndpointGuard("dept:1", concurrency=4, failures_to_open=3, open_seconds=5.0, clock=clock)
    for _ in range(3):
        await _fail(guard)
    with pytest.raises(CircuitOpen) as rested:
        async with guard.call():
            pass
    assert rested.value.code == grpc.StatusCode.UNAVAILABLE
    clock.now += 5.1  # half open: one trial goes through, and its success closes the circuit
    async with guard.call():
        pass
    assert not guard.open
    async with guard.call():
        pass


async def test_an_outage_is_logged_per_change_of_state_not_per_call(caplog: pytest.LogCaptureFixture) -> None:
    """A 前置机 that stops answering was visible only in metrics: nothing in the query service's log said which
    department's endpoint failed, or why, or when it came back."""
    clock = Clock()
    guard = EndpointGuard("dept.example:7100", concurrency=4, failures_to_open=3, open_seconds=5.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="services.query.endpoints"):
        for _ in range(3):
            await _fail(guard)
        for _ in range(10):  # rested: refused without a call, and without a line each
            with pytest.raises(CircuitOpen):
                async with guard.call():
                    pass
        clock.now += 5.1
        await _fail(guard)  # the trial fails: the circuit opens again, said already
        clock.now += 5.1
        async with guard.call():
            pass
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines == [
        ("WARNING", "provider endpoint dept.example:7100 did not answer (UNAVAILABLE); queries of its resources are "
                    "UNAVAILABLE while it fails"),
        ("WARNING", "provider endpoint dept.example:7100 failed 3 times in a row: not called for 5s at a time, "
                    "then tried with one call until it answers"),
        ("INFO", "provider endpoint dept.example:7100 answers again, after 4 failed calls"),
    ]


async def test_a_failed_trial_opens_the_circuit_again() -> None:
    clock = Clock()
    guard = EndpointGuard("dept:2", concurrency=4, failures_to_open=2, open_seconds=5.0, clock=clock)
    await _fail(guard)
    await _fail(guard)
    clock.now += 5.1
    await _fail(guard)
    with pytest.raises(CircuitOpen):
        async with guard.call():
            pass


async def test_answers_about_the_request_never_open_the_circuit() -> None:
    guard = EndpointGuard("dept:3", concurrency=4, failures_to_open=1, open_seconds=5.0)
    for _ in range(3):
        with pytest.raises(ValueError):
            async with guard.call():
                raise ValueError("INVALID_ARGUMENT from the endpoint")
    async with guard.call():
        pass


async def test_a_trial_the_endpoint_answers_about_the_request_closes_the_circuit() -> None:
    """A trial call refused for its own key (INVALID_ARGUMENT, a row the database cannot send) got an answer: the
    endpoint is up. The circuit stayed half open, so calls made together were refused "rested" one trial at a
    time."""
    clock = Clock()
    guard = EndpointGuard("dept:5", concurrency=4, failures_to_open=2, open_seconds=5.0, clock=clock)
    await _fail(guard)
    await _fail(guard)
    clock.now += 5.1
    with pytest.raises(grpc.aio.AioRpcError):
        async with guard.call():
            raise grpc.aio.AioRpcError(grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                       "key: not a key of this dataset")
    async with guard.call(), guard.call():  # the second is made while the first is out
        pass


async def test_concurrency_to_one_endpoint_is_bounded() -> None:
    guard = EndpointGuard("dept:4", concurrency=2, failures_to_open=5, open_seconds=5.0)
    inside, most, release = 0, 0, asyncio.Event()

    async def call() -> None:
        nonlocal inside, most
        async with guard.call():
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(call()) for _ in range(6)]
    for _ in range(20):
        await asyncio.sleep(0)
    assert inside == 2
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


def _entry() -> Entry:
    return Entry(code="202001/000001", provider_department_code="11110100MB0000006K",
                 items=[DataItem(name="公民身份号码", machine_name="citizen_id", data_type=cat.DATA_TYPE_CHARACTER),
                        DataItem(name="参保状态", machine_name="status", data_type=cat.DATA_TYPE_CHARACTER)],
                 endpoint=Endpoint(target="dept:7100", dataset="social_insurance"))


@pytest.mark.parametrize(("answer", "reason"), [
    (provider_pb2.DescribeResponse(serves=False, department_code="11110100MB0000006K"), "ENDPOINT_DOES_NOT_SERVE"),
    (provider_pb2.DescribeResponse(serves=True, department_code="11110100MB0000007N", items=["citizen_id", "status"]),
     "ENDPOINT_OF_ANOTHER_DEPARTMENT"),
    (provider_pb2.DescribeResponse(serves=True, department_code="11110100MB0000006K", items=["citizen_id"]),
     "ENDPOINT_MISSES_ITEMS"),
])
def test_the_catalog_publishes_only_what_the_endpoint_serves(answer, reason) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as refused:
        _require_serves(_entry(), answer)
    assert refused.value.reason == reason
    # The console's reviewer is told in Chinese what the provider department is to fix, not "当前状态不允许此操作"
    # (the entry's state allows publishing: its 前置机 does not serve it as registered).
    status = to_status(refused.value, "catalog")
    said = problem_of(grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), grpc.aio.Metadata(
        *status.trailing_metadata), status.details)).message
    assert said.startswith(REASON_SENTENCES[reason]) and "目录未发布" in said and "当前状态不允许" not in said
    _require_serves(_entry(), provider_pb2.DescribeResponse(serves=True, department_code="11110100MB0000006K",
                                                            items=["citizen_id", "status", "other"]))
