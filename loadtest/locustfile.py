"""Locust harness for govshare's online query path.

    python -m loadtest.run --scenario mix --users 50 --duration 60s          (a local `govshare up`)
    python -m loadtest.run --scenario hot --host 10.0.0.5:50051 --credentials creds.json
    locust -f loadtest/locustfile.py Mix --host 127.0.0.1:50051               (Locust's web UI)

User classes (closed loop: each user sends its next call when the previous one has ended; after a refusal that
asks it to wait — a RetryInfo, UNAVAILABLE, RESOURCE_EXHAUSTED — once it has waited, as the SDK waits:
loadtest/backoff.py; the refusal is counted as a failure, and the pauses are summed in one line at the end):

* ``HotKeys``   Query of basic person items, Zipf-distributed over 1,000 persons (mostly cache hits)
* ``ColdKeys``  Query of basic person items, uniform over the whole population (mostly misses)
* ``Verify``    核验 of a person's name: mostly 一致, some 不一致, some 库无
* ``Batch``     BatchQuery of 100 uniformly drawn persons
* ``Mix``       all of the above, legal-entity queries, and refusals (a not-shared resource, conditional
                items without a grant) that count as successes only when refused

``ConstantRate`` is the open-loop mode: its users send ``--scenario``'s calls at ``--rate`` calls per
second in total whatever the server does, each call in its own greenlet, and report latency from the
time the call was *due* — so a slow server cannot hide its queue by slowing the client down.
(``--pace N`` gives the closed-loop classes Locust's ``constant_throughput(N)`` instead: open-loop-ish
while the server keeps up, but a user whose call runs late skips sends, so queueing is partly hidden.)

The first IssueToken that cannot reach the platform (no connection, or no answer in FIRST_CONTACT_TIMEOUT_SECONDS)
stops the run in one line, unless ``--wait-for-platform SECONDS`` asks to wait that long for a platform still
starting; an IssueToken the platform answers with a failure, or failing once a token was issued (a restart), is
retried every second. A call refused UNAUTHENTICATED for its token (expired, SECRET_ROTATED, TOKEN_PREDATES_DISABLE)
renews it; one refused SYSTEM_DISABLED does not (no token is issued to a disabled system): it is counted as a failure
by that reason, and an IssueToken refused SYSTEM_DISABLED stops a run that has no token yet, saying the system is
disabled, else is asked again every DISABLED_RECHECK_SECONDS only. Credentials IssueToken refuses stop the run in
one line, at its start or during it (a secret rotated meanwhile: the token held is refused SECRET_ROTATED too).

Credentials and keys come from the demo credentials file `govshare up` writes (``--credentials``,
default ``.govshare/demo-credentials.json``); keys are computed from the synthetic generator's seed.

A run that ends (its run time, Ctrl-C, SIGTERM) sends no call more and waits for the calls in flight, up to their
deadline (``--stop-timeout`` is at least ``STOP_TIMEOUT_SECONDS``): every call sent is counted with its outcome, and
one cut off after that is a failure, ``NOT_ANSWERED``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import logging
import os
import random
import signal
import time
from argparse import Namespace
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import gevent
import grpc
import locust.stats
from gevent.event import Event
from gevent.lock import Semaphore
from gevent.pool import Pool
from locust import constant_throughput, events, runners, task
from locust.env import Environment
from locust.exception import StopUser
from locust.html import get_html_report, process_html_filename
from locust.runners import WorkerRunner
from locust.stats import StatsCSVFileWriter

from govshare.authorization.v1 import token_pb2, token_pb2_grpc
from loadtest import workloads
from loadtest.backoff import Backoff
from loadtest.call_labels import grpc_target, root_certificates, uses_tls
from loadtest.credentials import DEFAULT_SYSTEM, CredentialsError, bearer, default_path, load_credentials
from loadtest.grpc_user import (  # patches grpc for gevent
    ANSWER_HEADER,
    DUE_HEADER,
    EXPECT_HEADER,
    NAME_HEADER,
    GrpcUser,
    http_status_of,
    no_connection,
    retry_delay_of,
    status_of,
)
from loadtest.parent_death import stop_with_parent
from loadtest.scenarios import SCENARIOS, Action, Call, KeySpace, WeightedActions
from loadtest.schedule import ConstantRate as Schedule
from services.arguments import non_negative
from services.demo import DemoCredentials
from services.runtime.system_states import SECRET_ROTATED, SYSTEM_DISABLED, TOKEN_PREDATES_DISABLE

CALL_TIMEOUT_SECONDS = 10.0
#: How long a stopped run waits for the calls in flight (Locust's --stop-timeout, at least): their deadline, and a
#: second. Locust's default, 0, killed the users at once and their calls in flight were never counted: the calls a
#: hung platform held at the end of a run were dropped, and the run read as a clean one.
STOP_TIMEOUT_SECONDS = CALL_TIMEOUT_SECONDS + 1.0
#: Heartbeats a --processes run's master waits before it counts a worker missing (Locust's default: 3, one a
#: second). Each worker computes the demo's keys in its init event, after it has connected, holding its event loop
#: for seconds (4-5 s on two busy cores): at 3 the master dropped every worker and ended the run with no call made.
runners.HEARTBEAT_LIVENESS = 60
#: The longest a token is kept: renewed after this long even when the platform issues it for longer.
TOKEN_REFRESH_SECONDS = 1800.0
#: Renewed once this share of its lifetime (IssueTokenResponse.expire_time) has passed: a platform may issue
#: tokens for as little as a minute (GOVSHARE_TOKEN_TTL_SECONDS), and a run must not outlive its token.
TOKEN_RENEW_AT_SHARE = 0.8
#: While IssueToken fails (the platform down or starting), how often it is tried again, all users together.
TOKEN_RETRY_SECONDS = 1.0
#: The ErrorInfo reasons of an UNAUTHENTICATED refusing the token itself, which a new token may mend (the SDK's
#: TOKEN_REFUSALS): expired or signed by a retired key ('' from an edge whose refusal carries no ErrorInfo,
#: UNAUTHENTICATED), issued before the secret was rotated (SECRET_ROTATED: the file may hold the new one) or before
#: a disable since lifted (TOKEN_PREDATES_DISABLE). Not SYSTEM_DISABLED: no token is issued to a disabled system,
#: and the harness asked IssueToken again after every such refusal, a second apart, into the edge's IssueToken rate
#: limit that every system shares, only to be refused.
RENEWED_REFUSALS = frozenset({"", "UNAUTHENTICATED", SECRET_ROTATED, TOKEN_PREDATES_DISABLE})
#: Once IssueToken has been refused SYSTEM_DISABLED during a run, how long before it is asked again (the SDK's
#: DISABLED_RECHECK), unless a call's refusal says the system was enabled again (TOKEN_PREDATES_DISABLE).
DISABLED_RECHECK_SECONDS = 30.0
#: IssueToken failures no retry mends: the credentials are wrong for this platform, and the run stops.
CREDENTIALS_REFUSED = frozenset({grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                                 grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                                 grpc.StatusCode.FAILED_PRECONDITION})
#: Until the platform has issued a first token, how long IssueToken waits for an answer: a --host where nothing
#: answers (a listener that never speaks, a packet filter dropping the calls) is said within a few seconds, not
#: after the call's 10 s deadline and the stop timeout's 11 s more.
FIRST_CONTACT_TIMEOUT_SECONDS = 3.0
#: How gRPC itself says a first IssueToken got no answer by its deadline (the edge's own reply names what it
#: waited for): with no connection (grpc_user.no_connection), a call that reached no server.
BARE_DEADLINE = "Deadline Exceeded"
#: Constant-rate mode: the status of a call that was due but not sent, for want of a token.
NOT_SENT = "NOT_SENT"


class CallNotSent(Exception):
    """A constant-rate call that was due but not sent: no token (IssueToken fails, refused the credentials, or is
    not served at the address)."""

    def __init__(self, why: str = "IssueToken fails") -> None:
        super().__init__(why)
        self.why = why

    def __repr__(self) -> str:
        return f"{NOT_SENT}: no token ({self.why})"

    __str__ = __repr__


#: The process that imported this file: Locust imports it before a --processes run forks its workers, so a worker
#: whose pid is not this one was forked by it (its master, or the process that waits for --worker's children).
IMPORTED_BY = os.getpid()

#: Constant-rate mode: calls one user may have in flight before it stops sending (and falls behind).
MAX_IN_FLIGHT_PER_USER = 1000


@events.init_command_line_parser.add_listener
def _arguments(parser) -> None:  # type: ignore[no-untyped-def]
    group = parser.add_argument_group("govshare")
    group.add_argument("--credentials", default=str(default_path()), help="demo credentials file (govshare up)")
    group.add_argument("--system", default=DEFAULT_SYSTEM, help="demo business system to call as")
    group.add_argument("--scenario", default="mix", choices=sorted(SCENARIOS), help="ConstantRate: calls to send")
    group.add_argument("--rate", type=non_negative(float), default=0.0,
                       help="ConstantRate: calls per second, all users together")
    group.add_argument("--pace", type=non_negative(float), default=0.0,
                       help="closed-loop users: task runs per second per user (Locust's constant_throughput)")
    group.add_argument("--wait-for-platform", type=non_negative(float), default=0.0, metavar="SECONDS",
                       help="wait up to this long for a platform still starting to issue the first token (default: "
                            "stop at once when the first IssueToken cannot reach it)")
    # Set by the master as the run starts (_share_the_user_count), never on a command line: Locust passes a
    # locustfile's own options on to its workers, and not --users.
    parser.add_argument("--govshare-total-users", type=int, default=0, include_in_web_ui=False,
                        help=argparse.SUPPRESS)


def not_reached(error: grpc.RpcError) -> bool:
    """Whether a failed call reached no server (no connection, or gRPC's bare deadline), as against one a server
    answered with a failure (an UNAVAILABLE of the edge with the authorization service still starting)."""
    return no_connection(error) or (error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                                     and error.details() == BARE_DEADLINE)


def token_lifetime(response: token_pb2.IssueTokenResponse) -> float:
    """Seconds an issued token is valid for: its ``exp`` less its ``iat`` (both the platform's clock, so a load
    generator whose clock is off still renews in time), else its expire_time less now, else the longest kept."""
    try:
        payload = response.token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return max(0.0, float(claims["exp"]) - float(claims["iat"]))
    except (IndexError, ValueError, KeyError, TypeError):
        pass
    if response.HasField("expire_time"):
        return max(0.0, response.expire_time.ToSeconds() - time.time())
    return TOKEN_REFRESH_SECONDS


class Demo:
    """What every user of this process shares: the credentials, the key space, the system's token."""

    def __init__(self, credentials: DemoCredentials, system: str, path: Path | None = None,
                 wait_for_platform: float = 0.0) -> None:
        self.credentials = credentials
        #: The address the users call, for the line saying it was not reached (``GovshareUser.on_start``).
        self.host = credentials.gateway
        #: How long a platform not reached yet is waited for (--wait-for-platform), from the first IssueToken.
        self.wait_for_platform = wait_for_platform
        self._first_try: float | None = None
        #: Whether the platform has issued a token once: until then a call not reaching it is a --host to check.
        self._reached = False
        self.system_name = system
        self.path = path
        self.system = credentials.systems[system]
        self.keys = KeySpace(credentials.persons, credentials.seed, credentials.resources)
        # Computed before the test starts, so that no user's first calls wait for them.
        _ = self.keys.hot_keys, self.keys.entity_keys, self.keys.verify_pool
        self._metadata: tuple[tuple[str, str], ...] = ()
        self._renew_at = 0.0
        #: When the last renewal a refusal asked for was due (they are at least TOKEN_RETRY_SECONDS apart).
        self._refusal_renewal = -TOKEN_RETRY_SECONDS
        #: No IssueToken before this time: TOKEN_RETRY_SECONDS after a failure, DISABLED_RECHECK_SECONDS after a
        #: refusal saying the system is disabled.
        self._retry_at = 0.0
        #: The failures of IssueToken logged already (their status, and reason when it has one).
        self._logged: set[str] = set()
        #: Why no token can be had, once IssueToken has said so (the credentials refused, the address no gateway):
        #: no call can be made any more, and the run stops (a token still held too: the platform refuses it, or will
        #: once it expires). ``not_sent`` is its few words for a NOT_SENT failure.
        self.refused = ""
        #: The reason the platform last refused the token held for (RENEWED_REFUSALS), which asked for a new one.
        self._token_refusal = ""
        self.not_sent = "IssueToken fails"
        self.stopping = False
        self._lock = Semaphore()
        #: Closed loop: the pauses the platform's refusals asked for, by status, and their seconds in all.
        self.pauses: collections.Counter[str] = collections.Counter()
        self.paused_seconds = 0.0

    def metadata(self, channel: grpc.Channel) -> tuple[tuple[str, str], ...]:
        """Bearer metadata; the token is issued once per process (reported as "IssueToken") and renewed when
        80% of its lifetime has passed (at most after TOKEN_REFRESH_SECONDS), or after a call refused it.

        Empty while no token can be had: a failed IssueToken is reported by the interceptor and logged once
        (not a traceback per user), and tried again at most every TOKEN_RETRY_SECONDS, so that a run started
        before the platform, or across its restart, calls as soon as it answers (every DISABLED_RECHECK_SECONDS
        while the system is disabled)."""
        if self._due():
            with self._lock:
                if self._due():
                    self._issue(channel)
        return self._metadata

    def _due(self) -> bool:
        """Whether IssueToken is to be asked now: the token is missing or stale, and may be had."""
        return self._stale() and not self.refused and time.monotonic() >= self._retry_at

    def _stale(self) -> bool:
        return not self._metadata or time.monotonic() >= self._renew_at

    def refused_token(self, metadata: tuple[tuple[str, str], ...], reason: str) -> None:
        """A call sent with ``metadata`` was refused UNAUTHENTICATED with ErrorInfo ``reason``. When the reason
        refuses the token itself (RENEWED_REFUSALS: it expired early, the platform restarted with new keys, the
        system was enabled again since it was issued), the next call renews it, instead of every call failing
        until its renewal time; SYSTEM_DISABLED is not renewed (the call is counted as a failure by that reason,
        and the token held is kept for when the system is enabled again). The refused token is still sent until a
        new one comes, so that each call is still made and counted. Renewals for refusals are TOKEN_RETRY_SECONDS
        apart at least: when every new token is refused too (the edge trusts another key), renewing on every
        refused call sent the platform an IssueToken per call, and all IssueToken calls share one rate-limit
        bucket, every system's."""
        if reason not in RENEWED_REFUSALS:
            return
        if metadata and metadata == self._metadata:
            self._token_refusal = reason
            now = time.monotonic()
            if reason == TOKEN_PREDATES_DISABLE:  # enabled again: IssueToken no longer refuses it
                self._retry_at = min(self._retry_at, now)
            if self._renew_at > now:
                self._refusal_renewal = max(now, self._refusal_renewal + TOKEN_RETRY_SECONDS)
                self._renew_at = min(self._renew_at, self._refusal_renewal)

    def _issue(self, channel: grpc.Channel) -> None:
        if self._first_try is None:
            self._first_try = time.monotonic()
        try:
            response = token_pb2_grpc.TokenServiceStub(channel).IssueToken(
                token_pb2.IssueTokenRequest(system_id=self.system["system_id"], secret=self.system["secret"]),
                metadata=((NAME_HEADER, "IssueToken"),),
                timeout=CALL_TIMEOUT_SECONDS if self._reached else FIRST_CONTACT_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            self._retry_at = time.monotonic() + TOKEN_RETRY_SECONDS
            self._token_failed(error)
            return
        self._reached = True
        keep = min(TOKEN_REFRESH_SECONDS, token_lifetime(response) * TOKEN_RENEW_AT_SHARE)
        self._metadata, self._renew_at = bearer(response.token), time.monotonic() + keep

    def _token_failed(self, error: grpc.RpcError) -> None:
        """One line per kind of failure: the refusal of the credentials, or an address that serves no IssueToken,
        stops the run; others (the platform down or starting) are retried."""
        code = error.code()
        http = http_status_of(error)
        reason = status_of(error)[1]
        if code == grpc.StatusCode.UNAUTHENTICATED and reason == SYSTEM_DISABLED:
            self._system_disabled(error)
        elif http is not None and (code in CREDENTIALS_REFUSED or code == grpc.StatusCode.UNIMPLEMENTED):
            # Not the platform's refusal: gRPC's code made up from the HTTP status of whatever answered instead.
            self.refused = (f"the address called answered IssueToken with HTTP {http}, not a gRPC status: not the "
                            f"platform but what stands before it or in its place (a load balancer, a WAF, a proxy, "
                            f"another server); give --host the platform's gateway (the gateway of "
                            f"{self.path or 'the credentials file'}), or let the calls through")
            self.not_sent = f"the address answered HTTP {http}"
            logging.error("%s", self.refused)
        elif code in CREDENTIALS_REFUSED and SECRET_ROTATED in (reason, self._token_refusal):
            self.refused = (f"the secret of system {self.system_name!r} ({self.system['system_id']}) in "
                            f"{self.path or 'the credentials file'} was replaced during the run (RotateSystemSecret): "
                            f"the platform refused its token SECRET_ROTATED, and IssueToken the secret the file holds "
                            f"({code.name} {error.details()}); the run stops: write the new secret into the file and "
                            f"run again")
            self.not_sent = "the secret was replaced"
            logging.error("%s", self.refused)
        elif code in CREDENTIALS_REFUSED:
            self.refused = (f"the platform refused system {self.system_name!r} ({self.system['system_id']}) of "
                            f"{self.path or 'the credentials file'}: {code.name} {error.details()}; check "
                            f"--credentials and --system (the file of the `govshare up` you test against)")
            self.not_sent = "the credentials were refused"
            logging.error("%s", self.refused)
        elif code == grpc.StatusCode.UNIMPLEMENTED:
            # A gRPC server without TokenService (a service's own port) or an HTTP/2 server that is no gRPC one
            # (Envoy's admin): retrying it every second left the run making no call for its whole --run-time.
            self.refused = (f"the address called serves no IssueToken: {code.name} {error.details()}; give --host "
                            f"the platform's gateway (the port `govshare up` prints, the gateway of "
                            f"{self.path or 'the credentials file'}), not a service's port or another server")
            self.not_sent = "the address is no gateway"
            logging.error("%s", self.refused)
        elif not_reached(error) and self._gave_up_waiting():
            self.refused = self._not_reached(error)
            self.not_sent = "the platform was not reached"
            logging.error("%s", self.refused)
        elif code.name not in self._logged:
            self._logged.add(code.name)
            logging.error("IssueToken failed: %s %s; no call is made until the platform issues a token "
                          "(tried again every %gs)", code.name, error.details(), TOKEN_RETRY_SECONDS)

    def _system_disabled(self, error: grpc.RpcError) -> None:
        """IssueToken refused UNAUTHENTICATED SYSTEM_DISABLED: the credentials are right, the system is disabled,
        and no token is issued to it until the authority's 管理员 enables it again. Before any token (disabled
        before the run) the run stops saying so, not "check --credentials"; during the run it goes on with the
        token held (its calls counted as failures UNAUTHENTICATED SYSTEM_DISABLED, and once the system is enabled
        again TOKEN_PREDATES_DISABLE, which renews it), and IssueToken is asked again DISABLED_RECHECK_SECONDS
        later only. The run stopped renewing for good, on the credentials' advice: once the system was enabled
        again, every call of the rest of the run failed TOKEN_PREDATES_DISABLE."""
        system = f"system {self.system_name!r} ({self.system['system_id']}) of {self.path or 'the credentials file'}"
        enable = ("the authority's 管理员 enables it again (DirectoryService.EnableSystem, or 启用 on the console's "
                  "/systems)")
        if not self._metadata:
            self.refused = (f"{system} is disabled on the platform: IssueToken refused it UNAUTHENTICATED "
                            f"SYSTEM_DISABLED ({error.details()}); no token is issued to it until {enable}: have "
                            f"it enabled, or give --system another system of the file")
            self.not_sent = "the system is disabled"
            logging.error("%s", self.refused)
            return
        self._retry_at = time.monotonic() + DISABLED_RECHECK_SECONDS
        if SYSTEM_DISABLED not in self._logged:
            self._logged.add(SYSTEM_DISABLED)
            logging.error("%s was disabled during the run: IssueToken refused it UNAUTHENTICATED SYSTEM_DISABLED (%s); "
                          "its calls are counted as failures UNAUTHENTICATED SYSTEM_DISABLED until %s, the token "
                          "held is sent on, and IssueToken is asked again every %gs (at once when a call is refused "
                          "TOKEN_PREDATES_DISABLE: enabled again)", system, error.details(), enable,
                          DISABLED_RECHECK_SECONDS)


    def _gave_up_waiting(self) -> bool:
        """Whether a platform never reached is no longer waited for: at once, or after --wait-for-platform. Once it
        has issued a token, a failure (a restart) is retried for the rest of the run, as before."""
        waited = time.monotonic() - (self._first_try if self._first_try is not None else time.monotonic())
        return not self._reached and waited >= self.wait_for_platform

    def _not_reached(self, error: grpc.RpcError) -> str:
        """One line: what was tried (IssueToken to which address, how, for how long) and what to check."""
        how = "TLS" if uses_tls(self.host) else "plaintext"
        waited = f", waited {self.wait_for_platform:g}s" if self.wait_for_platform else ""
        return (f"could not reach the platform: IssueToken to {grpc_target(self.host)} ({how}, "
                f"{FIRST_CONTACT_TIMEOUT_SECONDS:g}s per try{waited}) failed {error.code().name} {error.details()}; "
                f"check --host (the gateway `govshare up` prints; the gateway of "
                f"{self.path or 'the credentials file'} is {self.credentials.gateway}; https:// only for a gateway "
                f"that speaks TLS), that the platform is up and the port not filtered, or give --wait-for-platform "
                f"SECONDS for a platform still starting")


@events.init.add_listener
def _load_demo(environment: Environment, **_kwargs: object) -> None:
    options = environment.parsed_options
    if options is None:
        return
    try:
        credentials = load_credentials(Path(options.credentials), options.system)
    except CredentialsError as exc:  # one line, not Locust's traceback of an event handler
        raise SystemExit(f"govshare: {exc}") from None
    if not environment.host:
        environment.host = credentials.gateway
    try:
        grpc_target(environment.host)
        if uses_tls(environment.host):
            root_certificates()
    except ValueError as exc:
        raise SystemExit(f"govshare: --host {exc}") from None
    if options.rate <= 0 and environment.user_classes == [ConstantRate]:
        raise SystemExit("govshare: ConstantRate needs --rate (calls per second, all users together)")
    if problem := _user_classes_problem(options):
        raise SystemExit(f"govshare: {problem}")
    _forked_workers_stop_with_their_parent(environment)
    GovshareUser.demo = Demo(credentials, options.system, Path(options.credentials), options.wait_for_platform)
    _ctrl_c_stops_the_run()
    # Distributed, the master sends its own to the workers.
    environment.stop_timeout = max(environment.stop_timeout or 0.0, STOP_TIMEOUT_SECONDS)
    environment.events.quit.add_listener(partial(_write_final_files, environment))  # quit names no environment
    environment.events.test_start.add_listener(_share_the_user_count)
    environment.events.quitting.add_listener(_no_call_is_a_failed_run)
    environment.events.quitting.add_listener(_report_pauses)
    # Computing the keys held the event loop for seconds; its clock is read again, else Locust's --run-time
    # timer, armed next from the stale clock, would end the run that much early.
    gevent.get_hub().loop.update_now()


def _forked_workers_stop_with_their_parent(environment: Environment) -> None:
    """A worker forked by a --processes run gets SIGTERM when the process that forked it dies. A master killed
    outright (kill -9, the OOM killer, loadtest.run's parent-death SIGTERM reaches the master only) left its workers
    running their users against the platform, reporting to no one, until Locust's 60 s without the master's
    heartbeat (MASTER_HEARTBEAT_TIMEOUT). A worker started on its own (--worker, no --processes) is left alone: its
    parent is a shell, and its master may be on another machine."""
    if isinstance(environment.runner, WorkerRunner) and os.getpid() != IMPORTED_BY:
        stop_with_parent(IMPORTED_BY)


def _share_the_user_count(environment: Environment, **_kwargs: object) -> None:
    """The master (or the only process) records the run's user count in the option its workers receive with their
    share of the users, so that each ConstantRate user takes its share of --rate (``total_users``)."""
    options, runner = environment.parsed_options, environment.runner
    if options is not None and runner is not None and not isinstance(runner, WorkerRunner):
        options.govshare_total_users = runner.target_user_count


def total_users(environment: Environment) -> int:
    """The run's users, all processes', among which --rate is shared. Not a worker's --users: Locust sends a worker
    the master's own options but not its user count, so a worker started on its own (``locust … --worker``; the web
    UI's count with --processes) read its own --users, none (1), and each of its users sent the whole --rate: 4
    users asked for 10 calls/s sent 40."""
    options, runner = environment.parsed_options, environment.runner
    if runner is not None and not isinstance(runner, WorkerRunner) and runner.target_user_count:
        return int(runner.target_user_count)
    told = getattr(options, "govshare_total_users", 0) if options is not None else 0
    return max(1, told or (options.num_users if options is not None and options.num_users else 1))


def _user_classes_problem(options: Namespace) -> str:
    """Why the user classes named cannot run what the options ask for ('' if they can). Locust runs every class of
    the file when none is named: the five scenarios and ConstantRate at once, a blend no scenario describes (and,
    without --rate, a sixth of the users idle); and the closed-loop classes ignored --rate, so a run meant to be
    open loop at a rate was a closed loop, its queue hidden, without a word."""
    named = list(getattr(options, "user_classes", None) or [])
    if not named and not getattr(options, "class_picker", False):
        return ("name the user class to run: HotKeys, ColdKeys, Verify, Batch or Mix (closed loop), or ConstantRate "
                "with --rate (open loop); without one Locust runs them all at once")
    if options.rate > 0 and named and ConstantRate.__name__ not in named:
        return (f"--rate is the open loop's: name ConstantRate with it ({', '.join(named)} would ignore it and run "
                f"a closed loop), or drop --rate")
    return ""


def _ctrl_c_stops_the_run() -> None:
    """Ctrl-C is raised in Locust's main greenlet, which stops the run (its users, summary and files), wherever
    the process was when it came. Python raises KeyboardInterrupt in the greenlet running at that moment, and
    Locust's console table printer catches it and ends: a Ctrl-C that came while the table printed (half of them, a
    run printing to a pipe) was lost, and the run went on, its table no longer printed, until a second Ctrl-C."""
    hub = gevent.get_hub()
    main = hub.parent  # the greenlet that runs Locust's main(), waiting on its runner
    gevent.signal_handler(signal.SIGINT, lambda: hub.loop.run_callback(main.throw, KeyboardInterrupt))


def _no_call_is_a_failed_run(environment: Environment, **_kwargs: object) -> None:
    """A run that made no call of its scenario measured nothing: it exits 1 saying so (it exited 0 with an empty
    table, e.g. when every worker of a --processes run went missing, or with IssueToken's one call alone, e.g. a
    --rate too low for any call to fall due within the run time), so a script never takes it for a clean run."""
    tokens = environment.stats.entries.get(("IssueToken", "grpc"))  # not .get(), which would add the row
    if isinstance(environment.runner, WorkerRunner) or (
            environment.stats.total.num_requests > (tokens.num_requests if tokens is not None else 0)):
        return
    logging.error("govshare: the run made no call: nothing was measured (see the messages above: workers missing, "
                  "the platform out of reach, a --run-time too short to start the users, or a --rate too low for a "
                  "call to fall due in it)")
    environment.process_exit_code = 1


def _report_pauses(environment: Environment, **_kwargs: object) -> None:
    """One line saying how often closed-loop users waited because the platform asked them to, and how long (each
    process its own): the refusals themselves are in the failures, the pauses only here, and they lower the run's
    req/s, which is then not the platform's capacity. The seconds are those waited (``GovshareUser.wait_time``,
    ``stop``), not those asked for: a pause the run's end cuts short counts up to then."""
    demo = GovshareUser.demo
    if demo is None or not demo.pauses:
        return
    statuses = ", ".join(f"{status} {count:,}" for status, count in demo.pauses.most_common())
    logging.warning("govshare: closed-loop users paused %s times, %.1f s in all, as the "
                    "platform's refusals asked (their RetryInfo, else the SDK's backoff): %s; each refusal is "
                    "counted as a failure, and the req/s is not the platform's capacity",
                    f"{demo.pauses.total():,}", demo.paused_seconds, statuses)


def _write_final_files(environment: Environment, **_kwargs: object) -> None:
    """The HTML report, when Locust has not written it, as the process quits (the master's, when distributed). The
    CSV files are written once more by Locust's writer as it closes them (FinalStatsCSVWriter)."""
    options = environment.parsed_options
    if options is None or isinstance(environment.runner, WorkerRunner):
        return
    _write_html_if_missing(environment, options)


class FinalStatsCSVWriter(StatsCSVFileWriter):
    """Locust's CSV writer (``--csv``), whose files end on the final statistics, the ones Locust prints.

    Locust writes the files once a second, and not once more at the end: _stats.csv, _failures.csv and
    _exceptions.csv missed the calls of the run's last second that the printed summary and the HTML report count,
    and the last row of _stats_history.csv lagged as far behind the final totals (2,654 calls of a 6 s mix whose
    summary counted 2,658). As Locust closes the files (after the summary, however the run ended: its run time,
    Ctrl-C, SIGTERM), the three tables are written anew from the final statistics, and the history ends on a row of
    the final totals: the one-second row of that same second is replaced, so a second still has one row."""

    #: The second of the last history rows written and where they start in the file (None: none written yet).
    _last_rows: tuple[int, int] | None = None

    def _stats_history_data_rows(self, csv_writer: Any, now: float) -> None:
        self._last_rows = (int(now), self.stats_history_csv_filehandle.tell())
        super()._stats_history_data_rows(csv_writer, now)

    def close_files(self) -> None:
        self._write_tables()
        self._write_final_history()
        super().close_files()

    def _write_tables(self) -> None:
        """_stats.csv, _failures.csv and _exceptions.csv, whole, as the writer's pass writes them each second."""
        for file, writer, columns, write in (
                (self.requests_csv_filehandle, self.requests_csv_writer, self.requests_csv_columns,
                 self._requests_data_rows),
                (self.failures_csv_filehandle, self.failures_csv_writer, self.failures_columns,
                 self._failures_data_rows),
                (self.exceptions_csv_filehandle, self.exceptions_csv_writer, self.exceptions_columns,
                 self._exceptions_data_rows)):
            file.seek(0)
            writer.writerow(columns)
            write(writer)
            file.truncate()

    def _write_final_history(self) -> None:
        """The history's last rows: the final totals, in place of the rows of the same second if there are any."""
        now = time.time()
        file = self.stats_history_csv_filehandle
        if self._last_rows is None:  # closed before the writer's first pass: not even the header
            file.seek(0)
            file.truncate()
            self.stats_history_csv_writer.writerow(self.stats_history_csv_columns)
        elif self._last_rows[0] == int(now):
            file.seek(self._last_rows[1])
            file.truncate()
        self._stats_history_data_rows(self.stats_history_csv_writer, now)


#: Locust's main() makes its CSV writer from this name, after it has imported the locustfile.
locust.stats.StatsCSVFileWriter = FinalStatsCSVWriter  # type: ignore[misc]


def _write_html_if_missing(environment: Environment, options: Namespace) -> None:
    """The --html report, when Locust has not written it for this run: it writes it after its main loop ends (the
    run time, Ctrl-C) but not when SIGTERM stops it (how loadtest.run stops it, and a CI job's cancel), so a run
    stopped that way left no report, or the previous run's under the same name."""
    if not getattr(options, "html_file", None):
        return
    process_html_filename(options)  # the {u}, {r}, {t} of its name, as Locust fills them in
    path = Path(options.html_file)
    with contextlib.suppress(OSError):
        if path.stat().st_mtime >= environment.stats.start_time:
            return  # Locust wrote it
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(get_html_report(environment, show_download_link=False), encoding="utf-8")


class GovshareUser(GrpcUser):
    """A business system calling the platform: one channel, the process's token, the demo's keys."""

    abstract = True
    demo: ClassVar[Demo | None] = None

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        # One callable per method, made on first use (not one per call).
        self._methods: dict[str, grpc.UnaryUnaryMultiCallable] = {}
        self.backoff = Backoff()
        #: --pace's Locust constant_throughput, else None (no wait between calls).
        self._pacing: Callable[[GovshareUser], float] | None = None
        #: Set when the run asks this user to stop (``stop``): no call is started after it.
        self.stop_asked = Event()
        #: The status whose refusal asked for the pause to come, and when the pause being waited ends (monotonic).
        self._pause_status = ""
        self._pause_ends = 0.0

    def stop(self, force: bool = False) -> bool:
        """Locust asks the user to stop: its state STOPPING while a task runs, or, while it waits between calls, a
        kill thrown into it at the event loop's next turn. Two things went wrong between that and the user:

        * open loop, the wait for the next call's time did not end: a user whose share of --rate was low slept on
          to that time (1 / rate: 100 s at --rate 0.02 for 2 users), and the run outlived its run time by the whole
          stop timeout, its users then killed;
        * closed loop, a wait that ended in that same turn (a pause the platform asked for, as long as the run's
          remaining time) let the user start its next call before the kill came, and the kill cut it off: a
          failure NOT_ANSWERED that no platform caused, sometimes before the call had even left.

        ``stop_asked`` ends the first wait at once, and no call starts once it is set (``perform``); a pause the
        platform asked for that the stop cuts short counts as waited up to now only."""
        self.stop_asked.set()
        if self.demo is not None and (left := self._pause_ends - time.monotonic()) > 0:
            self.demo.paused_seconds -= left
        self._pause_ends = 0.0
        return bool(super().stop(force))

    def wait_time(self) -> float:  # type: ignore[override]
        """Closed loop, between a call and the next: the pause the platform asked for after refusing the call
        (Backoff: a user refused at once resent at once, a storm measuring the refusal path), or --pace's. The
        platform's pause is counted as it starts (``_report_pauses``): one asked for after the last call of the run
        was never waited, and was said as waited in full."""
        paced = self._pacing(self) if self._pacing is not None else 0.0
        pause = self.backoff.take()
        if pause and self.demo is not None:
            self.demo.pauses[self._pause_status] += 1
            self.demo.paused_seconds += pause
            self._pause_ends = time.monotonic() + pause
        return max(paced, pause)

    def on_start(self) -> None:
        if self.demo is None:
            raise RuntimeError("the demo credentials were not loaded (run through locust with this locustfile)")
        pace = self.environment.parsed_options.pace if self.environment.parsed_options else 0
        if pace > 0:
            self._pacing = constant_throughput(pace)
        self.demo.host = self.host or self.demo.host  # --host, or the web UI's form (which reaches the users only)
        self.demo.metadata(self.channel)  # the token, before the first timed call (a failure is retried)

    @property
    def keys(self) -> KeySpace:
        assert self.demo is not None
        return self.demo.keys

    def perform(self, call: Call, due: float | None = None) -> None:
        """Makes the call; the interceptor reports it (a failed call is not an error of the user)."""
        assert self.demo is not None
        if due is None and self.stop_asked.is_set():  # closed loop, asked to stop (the open loop's due calls go)
            raise StopUser()
        # Timed from here, not from when the call leaves: a call that renews the token, or waits while another
        # user renews it, took that long for the caller too (open loop: from when it was due).
        started = due if due is not None else time.perf_counter()
        token = self.demo.metadata(self.channel)
        if not token or self.demo.refused:  # refused: even a token held, whose calls the platform refuses
            if due is not None:
                self._not_sent(call)
            self._no_token()
            return
        labels = [(NAME_HEADER, call.name), (EXPECT_HEADER, call.expect), (DUE_HEADER, repr(started))]
        if call.answer:
            labels.append((ANSWER_HEADER, call.answer))
        method = self._methods.get(call.method)
        if method is None:
            method = self._methods[call.method] = self.channel.unary_unary(
                call.method, request_serializer=type(call.request).SerializeToString,
                response_deserializer=workloads.RESPONSE_TYPES[call.method].FromString)
        error: grpc.RpcError | None = None
        try:
            method(call.request, metadata=(*token, *labels), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as failed:  # reported by the interceptor already
            error = failed
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                self.demo.refused_token(token, status_of(error)[1])
        if due is None:  # closed loop (the open loop sends on its schedule whatever the answers)
            self._back_off(error)

    def _back_off(self, error: grpc.RpcError | None) -> None:
        """The pause before this user's next call, if the platform's answer asked for one."""
        assert self.demo is not None
        code = error.code() if error is not None else None
        if self.backoff.after(code, retry_delay_of(error) if error is not None else None):
            self._pause_status = code.name if code is not None else "?"

    def _not_sent(self, call: Call) -> None:
        """Open loop: a call due now that cannot be made (no token) is a failure of its own name, not a call that
        never was: a run that sent a fraction of its --rate must say so in its failures, not only in a lower
        req/s beside IssueToken's one failure a second."""
        self.environment.events.request.fire(
            request_type="grpc", name=call.name, response_time=None, response_length=0, response=None,
            context={"status": NOT_SENT}, exception=CallNotSent(self.demo.not_sent if self.demo else "no credentials"))

    def _no_token(self) -> None:
        """No call without a token: the run is stopped if the credentials were refused, else the user waits for
        the next try (yielding, so that a closed-loop user does not spin)."""
        assert self.demo is not None
        runner = self.environment.runner
        if self.demo.refused and not self.demo.stopping and runner is not None:
            self.demo.stopping = True
            options = self.environment.parsed_options
            # From another greenlet: stopping kills this user's.
            gevent.spawn(runner.quit if options is not None and options.headless else runner.stop)
        gevent.sleep(TOKEN_RETRY_SECONDS)


def _task(action: Action) -> Callable[[GovshareUser], None]:
    def run(user: GovshareUser) -> None:
        user.perform(action(user.keys))

    run.__name__ = action.__name__
    return run


def scenario_tasks(name: str) -> dict[Callable[[GovshareUser], None], int]:
    """A scenario's actions as Locust tasks with their weights."""
    return {_task(action): weight for action, weight in SCENARIOS[name].items()}


class HotKeys(GovshareUser):
    tasks = scenario_tasks("hot")  # type: ignore[assignment]


class ColdKeys(GovshareUser):
    tasks = scenario_tasks("cold")  # type: ignore[assignment]


class Verify(GovshareUser):
    tasks = scenario_tasks("verify")  # type: ignore[assignment]


class Batch(GovshareUser):
    tasks = scenario_tasks("batch")  # type: ignore[assignment]


class Mix(GovshareUser):
    tasks = scenario_tasks("mix")  # type: ignore[assignment]


class ConstantRate(GovshareUser):
    """Open loop: sends at a fixed rate whatever the server does; latency counts from each call's due time."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.in_flight = Pool(MAX_IN_FLIGHT_PER_USER)
        self.rate = 0.0

    def on_start(self) -> None:
        super().on_start()
        options = self.environment.parsed_options
        if options is None or options.rate <= 0:  # chosen in the web UI without --rate; the task stops the user
            logging.error("ConstantRate needs --rate (calls per second, all users together)")
            return
        self.rate = options.rate / total_users(self.environment)
        self.next_action = WeightedActions(SCENARIOS[options.scenario])

    @task
    def send_on_schedule(self) -> None:
        if self.rate <= 0:
            raise StopUser()  # from a task, Locust ends the user quietly (from on_start, with a traceback)
        # Users start at random phases so that their sends interleave instead of arriving in bursts.
        schedule = Schedule(self.rate, time.perf_counter() + random.random() / self.rate)
        sent = 0
        while not self.stop_asked.is_set():  # asked to stop: no call more, the calls sent are waited for
            for _ in range(schedule.due(time.perf_counter()) - sent):
                due = schedule.send_time(sent)
                sent += 1
                self.in_flight.spawn(self.perform, self.next_action()(self.keys), due)  # waits while full
            self.stop_asked.wait(max(0.0, schedule.send_time(sent) - time.perf_counter()))
        self.in_flight.join()  # within the stop timeout: after it, Locust kills the user, and on_stop the calls
        raise StopUser()

    def on_stop(self) -> None:
        self.in_flight.kill()  # each call cut off is counted NOT_ANSWERED
        super().on_stop()
