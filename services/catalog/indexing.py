"""What keeps a replica's search index current: the rebuild at start, change events, and a catch-up.

* **Rebuild**: at start the index is built from PostgreSQL (entries read in code
  order, a page per query) in the background, on the event loop a few milliseconds
  at a time so calls keep being answered; the catalog serves every other call meanwhile, and a
  search gets UNAVAILABLE with RetryInfo until the index is ready (a search falling
  back to the PostgreSQL path would put 10-second scans on the primary exactly when
  a replica restarts under load).
* **Events**: every committed change of an entry is announced on
  ``govshare.catalog.changed`` (component._announce); every replica re-reads the
  entries named and replaces their documents, in batches, so a publication or a
  retirement is searchable everywhere within milliseconds. The replica that made
  the change applies it before the call returns (a department finds its own new
  entry at once).
* **Catch-up**: every ``CATCH_UP_SECONDS`` (and when the event subscription is
  re-established) the entries whose versions were written since the last pass,
  less an overlap for transactions committing late and for clock skew, are applied
  again: an event lost while Redis was down is repaired within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from services.catalog.index import Hit, SearchIndex
from services.catalog.store import CatalogStore
from services.runtime.cache import CATALOG_CHANGED, Subscriber
from services.runtime.errors import describe, unavailable
from services.runtime.tasks import cancel

log = logging.getLogger(__name__)

#: How often missed events are looked for in PostgreSQL.
CATCH_UP_SECONDS = 5.0
#: How far back each catch-up reaches before its last watermark (late commits, clock skew between replicas).
OVERLAP = dt.timedelta(seconds=30)
#: Entries read per query of the rebuild, and documents added per turn of the event loop (a few milliseconds).
BUILD_BATCH = 2000
BUILD_CHUNK = 100
#: How long a write waits for its own change to be searchable on this replica before it returns anyway.
TOUCH_WAIT_SECONDS = 2.0
#: What a search is told while the index builds (google.rpc.RetryInfo).
BUILD_RETRY_SECONDS = 5.0


class IndexKeeper:
    """One replica's SearchIndex and the tasks that build it and keep it current."""

    def __init__(self, redis_url: str, catch_up_seconds: float = CATCH_UP_SECONDS) -> None:
        self.index = SearchIndex()
        self._redis_url = redis_url
        self._catch_up_seconds = catch_up_seconds
        self._store: CatalogStore | None = None
        self._pending: set[str] = set()
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._catch_up_now = False
        self._watermark: dt.datetime | None = None
        self._task: asyncio.Task | None = None
        self._subscriber: Subscriber | None = None
        #: Seconds the last rebuild took and the documents it indexed (logged; the benchmark reports them).
        self.build_seconds: float | None = None

    def start(self, store: CatalogStore) -> None:
        self._store = store
        self._subscriber = Subscriber(self._redis_url, {CATALOG_CHANGED: self._on_event}, resync=self._resync)
        self._subscriber.start()
        self._task = asyncio.create_task(self._run(), name="catalog-search-index")

    async def stop(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.stop()
            self._subscriber = None
        await cancel(self._task)
        self._task = None
        for waiter in self._waiters:
            waiter.cancel()

    # Reading ------------------------------------------------------------------------------------

    def require_ready(self) -> SearchIndex:
        """The built index; UNAVAILABLE with RetryInfo while it is (re)built from PostgreSQL."""
        if not self.index.ready:
            raise unavailable("SEARCH_INDEX_BUILDING", "the catalog search index is being built: retry shortly",
                              retry_after=BUILD_RETRY_SECONDS)
        return self.index

    async def search(self, *args: object) -> tuple[list[Hit], int]:
        """SearchIndex.search_page in a worker thread (Tantivy releases the event loop meanwhile)."""
        index = self.require_ready()
        return await asyncio.to_thread(index.search_page, *args)  # type: ignore[arg-type]

    # Keeping current ----------------------------------------------------------------------------

    async def touch(self, code: str) -> None:
        """Applies a change made by this replica before its call returns (bounded: the event and the
        catch-up apply it anyway)."""
        if not self.index.ready or self._task is None:
            self._pending.add(code)
            return
        waiter = asyncio.get_running_loop().create_future()
        self._pending.add(code)
        self._waiters.append(waiter)
        self._wake.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(waiter), TOUCH_WAIT_SECONDS)

    def _on_event(self, payload: dict) -> None:
        code = payload.get("code")
        if isinstance(code, str) and code:
            self._pending.add(code)
            self._wake.set()

    def catch_up_soon(self) -> None:
        """Runs the catch-up now rather than at its next period (after this replica refreshed the usage)."""
        self._catch_up_now = True
        self._wake.set()

    def _resync(self) -> None:
        """The subscription is (re)established: events may have been missed while it was down."""
        self._catch_up_now = True
        self._wake.set()

    async def _run(self) -> None:
        await self._build()
        loop = asyncio.get_running_loop()
        last_catch_up = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._catch_up_seconds)
            self._wake.clear()
            # Due by the clock even while events keep arriving, so a lost one never waits on a quiet moment.
            due = self._catch_up_now or loop.time() - last_catch_up >= self._catch_up_seconds
            self._catch_up_now = False
            try:
                if due:
                    last_catch_up = loop.time()
                    await self._catch_up()
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("search index update failed (%s); retrying", describe(exc))
                self._catch_up_now = True
                await asyncio.sleep(1.0)

    async def _build(self) -> None:
        """Builds the index from PostgreSQL, retrying until the database answers."""
        assert self._store is not None
        delay = 1.0
        while True:
            started = dt.datetime.now(dt.UTC)
            clock = asyncio.get_running_loop().time()
            try:
                self.index.begin_build()
                count, after = 0, ""
                while True:
                    rows, after = await self._store.indexed_page(after, BUILD_BATCH)
                    if not after:
                        break
                    # On the event loop, a small chunk at a time: a worker thread turning rows into documents
                    # would hold the GIL against the loop, and the catalog would stop answering for seconds.
                    for start in range(0, len(rows), BUILD_CHUNK):
                        self.index.add_batch(rows[start:start + BUILD_CHUNK])
                        await asyncio.sleep(0)
                    count += len(rows)
                await asyncio.to_thread(self.index.finish_build)  # Tantivy's commit releases the GIL
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("search index build failed (%s); retrying in %.0fs", describe(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self.build_seconds = asyncio.get_running_loop().time() - clock
            # Changes committed while the snapshot was read are caught up at once.
            self._watermark, self._catch_up_now = started, True
            self._wake.set()
            log.info("search index built: %d entries in %.1fs", count, self.build_seconds)
            return

    async def _catch_up(self) -> None:
        assert self._store is not None and self._watermark is not None
        codes, latest = await self._store.changed_since(self._watermark - OVERLAP)
        self._pending.update(codes)
        if latest is not None and latest > self._watermark:
            self._watermark = latest

    async def _flush(self) -> None:
        """Applies the pending entries: re-read from PostgreSQL, replaced in the index, one commit."""
        assert self._store is not None
        codes, self._pending = self._pending, set()
        waiters, self._waiters = self._waiters, []
        try:
            if codes:
                rows = await self._store.indexed_of(sorted(codes))
                await asyncio.to_thread(self.index.apply, codes, rows)
        except BaseException:
            self._pending |= codes
            self._waiters = waiters + self._waiters
            raise
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
