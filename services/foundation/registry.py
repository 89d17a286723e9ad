"""The authority's registrations and designations of sources (sources.py says why), over the store.

Each change runs in a transaction holding the dataset lock, the lock every load takes, so a
load sees the designation either wholly before or wholly after a change. Every change is
kept with who made it (system and department) and when, in ``source_designations``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.foundation.datasets import Dataset
from services.foundation.invalidation import FOUNDATION_ENDPOINT, RecordInvalidator
from services.foundation.loading import apply_designated_values
from services.foundation.sources import DatasetSources, SourcesPosition, require_authority
from services.foundation.store import FoundationStore
from services.runtime import pagination
from services.runtime.errors import failed_precondition, not_found
from services.runtime.identity import Caller


class SourceRegistry:
    def __init__(self, store: FoundationStore, recorded: Callable[[], None] = lambda: None,
                 invalidator: RecordInvalidator | None = None) -> None:
        self._store = store
        #: Drops the query path's cached copies of the records a designation rewrote.
        self._invalidator = invalidator or RecordInvalidator()
        #: Called after a commit that recorded administrative events (the outbox relay delivers them at once).
        self._recorded = recorded

    async def register(self, caller: Caller, dataset: Dataset, department_code: str) -> DatasetSources:
        """Makes ``department_code`` a source of ``dataset``; registering a source again changes nothing."""
        require_authority(caller, "registers the sources of a foundation dataset")
        async with self._store.transaction() as tx:
            await tx.lock_dataset(dataset.name)
            await tx.register_source(dataset.name, department_code, caller)
        self._recorded()
        return await self._store.sources(dataset.name, SourcesPosition(), pagination.DEFAULT_PAGE_SIZE, fresh=True)

    async def retire(self, caller: Caller, dataset: Dataset, department_code: str) -> DatasetSources:
        """Retires a source that no longer provides ``dataset``: it loads nothing more (NOT_A_SOURCE), its kept
        values stay but are no longer cross-checked, the conflicts it raised are closed (SOURCE_RETIRED). The
        records, their history and the source's registration stay on record. An authoritative source is not
        retired: the authority designates another first, or its items would have no source (一数一源)."""
        require_authority(caller, "retires the sources of a foundation dataset")
        async with self._store.transaction() as tx:
            designation = await tx.lock_designation(dataset.name)
            if designation.is_authoritative(department_code):
                raise failed_precondition(
                    "SOURCE_IS_AUTHORITATIVE",
                    f"department {department_code} is an authoritative source of {dataset.name}: designate another "
                    "department (DesignateAuthoritativeSource) for the dataset or item first, then retire it")
            if department_code not in designation.sources:
                raise not_found(f"source {department_code} of {dataset.name}", reason="SOURCE_NOT_FOUND")
            await tx.retire_source(dataset.name, department_code, caller)
        self._recorded()
        return await self._store.sources(dataset.name, SourcesPosition(), pagination.DEFAULT_PAGE_SIZE, fresh=True)

    async def designate(self, caller: Caller, dataset: Dataset, item: str, department_code: str) -> DatasetSources:
        """Makes ``department_code`` the authoritative source of ``dataset`` or (``item`` set) of one item.

        The department becomes a registered source if it was not one. Designating the department that
        already is authoritative changes nothing and records nothing. The conflicts it raised on the items it is
        now the source of are closed (SOURCE_DESIGNATED), and the values it asserted of those items become the
        records' values at once (loading.apply_designated_values), not at its next load.
        """
        require_authority(caller, "designates authoritative sources")
        changed: list[str] = []
        async with self._store.transaction() as tx:
            designation = await tx.lock_designation(dataset.name)
            previous = (designation.item_authorities.get(item) if item else designation.authority) or ""
            await tx.register_source(dataset.name, department_code, caller)
            if previous != department_code:
                await tx.designate(dataset.name, item, department_code, previous, caller)
                # What it asserted against the former source's values is now the item's value to decide, not a
                # disagreement: left open, nobody could resolve it and supervision counted it as left open.
                owned = [item] if item else [i.name for i in dataset.non_key_items
                                             if designation.item_authorities.get(i.name, department_code)
                                             == department_code]
                await tx.close_conflicts_raised_by(dataset.name, owned, department_code,
                                                   caller.department_code or caller.system_id)
                changed = (await apply_designated_values(tx, dataset, department_code, owned,
                                                         datetime.now(UTC))).changed_keys
        self._recorded()
        await self._invalidator.records_changed(FOUNDATION_ENDPOINT, dataset.name, changed)
        return await self._store.sources(dataset.name, SourcesPosition(), pagination.DEFAULT_PAGE_SIZE, fresh=True)

    async def sources(self, caller: Caller, dataset: Dataset, page_size: int, page_token: str) -> DatasetSources:
        """The authority and the dataset's own sources see its sources and their history, a page at a time."""
        if not caller.authority:
            designation = await self._store.designation(dataset.name)
            if not designation.is_source(caller.department_code):
                require_authority(caller, "or a source of the dataset sees its sources")
        return await self._store.sources(dataset.name, SourcesPosition.of(page_token),
                                         pagination.page_size(page_size))
