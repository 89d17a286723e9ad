"""Optional: the 前置机 hears its own database's NOTIFY and tells the platform itself.

A resource with ``watch_channel`` (and its catalog ``resource_code``) is listened to on one connection of its
own (PostgreSQL LISTEN). A trigger on the department's table sends ``pg_notify(channel, key)`` for a changed
row, or an empty payload for "everything may have changed"; the 前置机 gathers what it heard for a moment
(``FLUSH_SECONDS``) and sends QueryService.NotifyRecordsChanged through the edge as the department (its
``platform`` credentials). A notice the platform could not take is kept and sent again. While the listening
connection is lost, changes cannot be heard: once it is back, the whole resource is announced as changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import grpc

from frontproc.config import FrontprocConfig, ResourceConfig
from frontproc.platform import tls_advice
from frontproc.store import CONNECT_TIMEOUT_SECONDS, DatabaseConnector, sql_name, stored_key
from services.query.keys import key_error
from services.runtime.errors import details_of, masked
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)
#: How long notices are gathered before one call per resource.
FLUSH_SECONDS = 0.2
RETRY_SECONDS = 2.0
#: The listening connection is asked this often whether the database still answers (it sends nothing otherwise)…
LISTEN_CHECK_SECONDS = 30.0
#: … and replaced when it does not answer within this: a host that lost power or failed over closes nothing.
LISTEN_CHECK_TIMEOUT_SECONDS = 5.0
#: A notice refused for the system's secret (rotated, say) is sent again this often: the secret file is read again
#: for each attempt, so it goes through once the department has written the current secret there.
CREDENTIALS_RETRY_SECONDS = 30.0
MAX_KEYS_PER_NOTICE = 1000
#: A channel's notices that carry no valid key are said at most this often (with how many since).
UNREADABLE_NOTICE_LOG_SECONDS = 60.0
ALL = None
#: Refusals that a second attempt would get again (a configuration to fix, not an outage).
_FINAL = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.FAILED_PRECONDITION)

#: (resource code, keys — empty for all) -> keys dropped; frontproc.notify.notify bound to the configuration.
Send = Callable[[str, Sequence[str]], Awaitable[int]]


def _refusal_reason(exc: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason of the platform's UNAUTHENTICATED refusal of the system's token ("" for another code)."""
    if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
        return ""
    info, _ = details_of(exc)
    return info.reason if info is not None else ""


def _department_retired(exc: grpc.aio.AioRpcError) -> bool:
    """The platform's refusal of the system's token because its department was retired (IssueToken's reason)."""
    return _refusal_reason(exc) == "DEPARTMENT_RETIRED"


def _credentials_advice(exc: grpc.aio.AioRpcError, system_id: str, secret_file: str) -> str:
    """What the department does about a notice whose token was refused: a disabled system (SYSTEM_DISABLED) is
    enabled by the authority's 管理员, no secret written here helps (the data officer was told to write the current
    secret, which they had); any other refusal, write the system's current secret to the file."""
    if _refusal_reason(exc) == "SYSTEM_DISABLED":
        return (f"system {system_id} is disabled: ask the authority's 管理员 (共享主管部门) to enable it again "
                "(EnableSystem); writing a secret does not help")
    return f"write the current secret of system {system_id} to {secret_file}"


def _gbk_as_utf8(resource: ResourceConfig) -> str:
    """The trigger's payload of a SQL_ASCII database's key kept in GBK, as UTF-8 (store.GBK_IN_SQL_ASCII's)."""
    column = f"NEW.{sql_name(resource.key_column.value)}" if resource.key_column is not None else "NEW.key"
    return f"convert_from(convert(convert_to({column}::text, 'SQL_ASCII'), 'GBK', 'UTF8'), 'SQL_ASCII')"


class ChangeWatcher:
    def __init__(self, config: FrontprocConfig, send: Send, connector: DatabaseConnector | None = None) -> None:
        self._config = config
        self._send = send
        #: The store's, so that a URL read again from database.url_file serves both.
        self._connector = connector or DatabaseConnector(config)
        #: The resources each channel announces changes of: one trigger's channel may serve several datasets read
        #: from one table (an open subset and the full record, say), each told of under its own code. Kept one per
        #: channel, the last resource declared on it was the only one told; the others were answered from the
        #: platform's copies until they expired.
        self._watched: dict[str, list[ResourceConfig]] = {}
        for resource in config.resources.values():
            if resource.watch_channel is not None:
                self._watched.setdefault(resource.watch_channel.value, []).append(resource)
        self._pending: dict[str, set[str] | None] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        #: By channel: when notices without a valid key were last said, and how many came since.
        self._unreadable: dict[str, tuple[float, int]] = {}
        #: When the database's closing the listening connection was last said, and how many times since.
        self._closed: tuple[float, int] = (float("-inf"), 0)
        #: Set once the platform said the department was retired (机构改革): final, so nothing is sent from then on.
        self._retired = False

    @property
    def active(self) -> bool:
        return bool(self._watched)

    def start(self) -> None:
        if self._watched:
            self._task = asyncio.create_task(self._run(), name="frontproc-watch")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    def _heard(self, _connection: object, _pid: int, channel: str, payload: str) -> None:
        for resource in self._watched.get(channel, ()):
            self._add(resource, payload.strip() or ALL)

    def _add(self, resource: ResourceConfig, key: str | None) -> None:
        code = resource.resource_code.value if resource.resource_code else ""
        if key is not ALL:
            key = stored_key(resource.key_kind, key)
            if key_error(resource.key_kind, key) is not None:
                self._say_unreadable(resource, code)
                key = ALL
        keys = self._pending.get(code, set())
        if key is ALL or keys is None:
            self._pending[code] = None
        else:
            keys.add(key)
            self._pending[code] = keys
        self._wake.set()

    def _say_unreadable(self, resource: ResourceConfig, code: str) -> None:
        """A notice whose payload is no key of the resource (a trigger sending row_to_json(NEW), or a row's key
        mistyped): the row changed all the same, so the whole resource is announced instead, and this is said at
        most once a minute per channel, with how many such notices came since.

        Such a notice was ignored with a warning each: a trigger sending JSON left every change untold (the
        platform answering from its copies until they expired), and a reload of a million rows wrote a million
        lines. Named by channel only: the payload may be personal data."""
        channel = resource.watch_channel.value  # type: ignore[union-attr]
        now = time.monotonic()
        said, since = self._unreadable.get(channel, (float("-inf"), 0))
        if now - said < UNREADABLE_NOTICE_LOG_SECONDS:
            self._unreadable[channel] = (said, since + 1)
            return
        self._unreadable[channel] = (now, 0)
        # As text: pg_notify takes nothing else, and a key column of another type (a bigint) passed as it is fails
        # the trigger, and with it every write to the department's table.
        column = f"NEW.{sql_name(resource.key_column.value)}::text" if resource.key_column is not None \
            else "the row's key"
        others = f" ({since} more since the last such warning)" if since else ""
        log.warning("a notice on %s carries no valid key of %s%s: the whole resource is announced as changed "
                    "instead; the trigger should send the changed row's key alone (pg_notify('%s', %s)), or '' for "
                    "every record", channel, code, others, channel, column)

    async def _run(self) -> None:
        flusher = asyncio.create_task(self._flush_forever())
        try:
            while True:
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("cannot listen to the department database (%s); retrying", type(exc).__name__)
                await asyncio.sleep(RETRY_SECONDS)
        finally:
            await cancel(flusher)

    async def _listen(self) -> None:
        """Listens until the connection is lost or stops answering; announces every watched resource once listening
        (what changed while nobody listened is not known)."""
        connection = await self._connector.connect(timeout=CONNECT_TIMEOUT_SECONDS)
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _c: lost.set())
        try:
            for channel in self._watched:
                await connection.add_listener(channel, self._heard)
            for resources in self._watched.values():
                for resource in resources:
                    self._add(resource, ALL)
            while await self._answers(connection, lost):
                pass
            if lost.is_set():
                self._say_closed(connection.get_settings().server_encoding)
        finally:
            if not connection.is_closed():
                connection.terminate()  # not close(): a connection that stopped answering would not answer it

    def _say_closed(self, encoding: str) -> None:
        """Says that the database closed the listening connection, at most once a minute (with how many times
        since), and in a SQL_ASCII database what most likely closed it: a notice whose payload is not UTF-8.

        Such a notice (a key kept in GBK, sent by the trigger as it is) cannot be sent to the 前置机, which reads
        UTF-8: PostgreSQL ends the listening connection for it ('invalid byte sequence for encoding "UTF8"',
        'protocol synchronization was lost'), and the notices after it on that connection with it. The 前置机
        listened again and announced the whole resource without a word, at every such change. Never the payload:
        personal data."""
        now = time.monotonic()
        said, since = self._closed
        if now - said < UNREADABLE_NOTICE_LOG_SECONDS:
            self._closed = (said, since + 1)
            return
        self._closed = (now, 0)
        others = f" ({since} more times since the last such warning)" if since else ""
        why = ""
        if encoding == "SQL_ASCII":
            sends = "; ".join(
                f"pg_notify('{channel}', {_gbk_as_utf8(resources[0])})" for channel, resources in self._watched.items())
            why = (": in a SQL_ASCII database a notice whose payload is not UTF-8 (a key kept in GBK) cannot be sent "
                   "to the 前置机, and PostgreSQL closes the connection for it, with the notices after it; make the "
                   f"trigger send such keys converted ({sends})")
        log.warning("the department database closed the 前置机's listening connection%s: listening again on a new "
                    "one, the whole resource announced as changed (the changes made meanwhile cannot be known)%s",
                    others, why)

    @staticmethod
    async def _answers(connection: asyncpg.Connection, lost: asyncio.Event) -> bool:
        """Whether the listening connection still answers, after LISTEN_CHECK_SECONDS (False once it is lost).

        The connection was waited on until it said it was closed: a database host that lost power or failed over,
        or a firewall dropping an idle connection, closes nothing, and the 前置机 waited for ever on a connection no
        notice came through, the platform answering from its copies until they expired, the log silent."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lost.wait(), LISTEN_CHECK_SECONDS)
            return False
        try:
            await connection.fetchval("SELECT 1", timeout=LISTEN_CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("the department database did not answer the 前置机's listening connection within %g s (its "
                        "host restarted or failed over, or the network dropped the connection?): listening on a new "
                        "connection, the changes made meanwhile announced as the whole resource",
                        LISTEN_CHECK_TIMEOUT_SECONDS)
            return False
        return True

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(FLUSH_SECONDS)
            self._wake.clear()
            pending, self._pending = self._pending, {}
            if self._retired:
                continue
            for code, keys in pending.items():
                try:
                    if keys is None:
                        await self._send(code, [])
                    else:
                        ordered = sorted(keys)
                        for start in range(0, len(ordered), MAX_KEYS_PER_NOTICE):
                            await self._send(code, ordered[start:start + MAX_KEYS_PER_NOTICE])
                except grpc.aio.AioRpcError as exc:
                    if exc.code() == grpc.StatusCode.NOT_FOUND:
                        # Not (yet) in the catalog — e.g. the announcement at start, before it is registered:
                        # the platform holds no copy of it, so there is nothing to drop.
                        log.info("change notice for %s not needed: the platform does not know the resource yet",
                                 code)
                        continue
                    if exc.code() == grpc.StatusCode.INVALID_ARGUMENT and keys is not None:
                        self._keys_refused(code, exc)
                        continue
                    if exc.code() in _FINAL:
                        log.error("the platform refused a change notice for %s (%s): %s", code, exc.code().name,
                                  exc.details())
                        continue
                    if _department_retired(exc):
                        self._stop_sending(exc.details())
                        break
                    if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                        # Dropped, the changed records were answered from the platform's copies until they expired.
                        log.error("the platform refused a change notice for %s (UNAUTHENTICATED): %s; %s: the "
                                  "notice is sent again every %g s", code, exc.details(),
                                  _credentials_advice(exc, self._config.platform_system_id,
                                                      self._config.platform_secret_file or "platform.secret"),
                                  CREDENTIALS_RETRY_SECONDS)
                        self._requeue(code, keys, CREDENTIALS_RETRY_SECONDS)
                        continue
                    advice = tls_advice(self._config, exc)
                    log.warning("the platform did not take a change notice for %s (%s)%s; sending it again", code,
                                exc.code().name, f": {advice}" if advice else "")
                    self._requeue(code, keys)
                except Exception as exc:
                    # A notice that could not even be sent (the edge's CA file unreadable while it is replaced, a
                    # channel gRPC refuses to open) ended this task: the 前置机 went on listening and serving, and
                    # no change was told to the platform again until it was restarted, nothing said after the first.
                    log.error("could not send a change notice for %s (%s: %s): sending it again in %g s", code,
                              type(exc).__name__, masked(str(exc)), CREDENTIALS_RETRY_SECONDS)
                    self._requeue(code, keys, CREDENTIALS_RETRY_SECONDS)

    def _keys_refused(self, code: str, exc: grpc.aio.AioRpcError) -> None:
        """A notice whose keys the platform refuses: the whole resource is announced instead, and the log names the
        fields at fault, never the refusal's words.

        Such a notice (keys checked by another identifier kind than key.kind here: the catalog entry's key item is
        of another kind) was dropped with the refusal logged as it was: the changed records were answered from the
        platform's copies until they expired, and the log held what the refusal quoted of a key (a person's region
        code, their birth date)."""
        _, bad = details_of(exc)
        fields = ", ".join(dict.fromkeys(violation.field for violation in bad.field_violations)) if bad else "keys"
        log.warning("the platform refused the keys of a change notice for %s (INVALID_ARGUMENT: %s): the whole "
                    "resource is announced instead; the platform checks them by the catalog entry's key item: make "
                    "key.kind in %s the entry's identifier kind (govshare frontproc --check --entry says whether they "
                    "differ)", code, fields, self._config.path)
        self._requeue(code, None, 0.0)

    def _stop_sending(self, details: str | None) -> None:
        """The department was retired: no secret written to the file will get a token again, so the notice is
        not sent again every CREDENTIALS_RETRY_SECONDS with advice to write one; said once, what to do instead."""
        self._retired = True
        self._pending = {}
        log.error("the platform refused the change notices: %s. This 前置机's department was retired: the platform "
                  "no longer reads it or takes its notices, and sends it nothing; stop this 前置机 (the department "
                  "that took over its duties publishes its own resources, from its own 前置机)", details)

    def _requeue(self, code: str, keys: set[str] | None, delay: float = RETRY_SECONDS) -> None:
        current = self._pending.get(code, set())
        self._pending[code] = None if keys is None or current is None else current | keys
        asyncio.get_running_loop().call_later(delay, self._wake.set)
