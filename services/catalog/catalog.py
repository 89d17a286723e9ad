"""The catalog's use cases: drafting, reviewing, versioning, reading and searching entries.

Each operation checks the caller, the deployment's zone and the entry's state, then
writes in one transaction that holds the entry's head row locked, records what
happened in the entry's event history, and after commit announces the change on
``CATALOG_CHANGED`` so the caches of query and authorization drop the entry.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

import grpc

from services.catalog import lifecycle, paging, rules, search
from services.catalog.directory import DepartmentDirectory
from services.catalog.endpoints import EndpointChecker
from services.catalog.index import Filters, Visibility
from services.catalog.indexing import IndexKeeper
from services.catalog.lifecycle import Edit
from services.catalog.model import (
    Entry,
    EntryFilter,
    EntryHead,
    EntryState,
    Highlight,
    MandateChange,
    Page,
    ProjectStatus,
    ReviewDecision,
    is_public,
)
from services.catalog.store import CatalogStore, CatalogTransaction, View
from services.runtime import duties, pagination
from services.runtime.actors import Actor, actor_of
from services.runtime.admin_events import refusals_logged
from services.runtime.duties import DATA_OFFICER, REVIEWER
from services.runtime.errors import (
    FieldViolation,
    ServiceError,
    already_exists,
    dependency_failure,
    describe,
    failed_precondition,
    invalid_argument,
    not_found,
)
from services.runtime.identifiers import credit_code_error
from services.runtime.identity import Caller
from services.runtime.masking import Masker
from services.runtime.pagination import page_size as effective_page_size
from services.runtime.person_sessions import PersonSessions
from services.runtime.workdays import add_working_days

log = logging.getLogger(__name__)

Notify = Callable[[str], Awaitable[None]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _document(entry: Entry) -> search.Document:
    """What a version is found by, stored with it (the index is rebuilt from it)."""
    return search.document_of(entry.name, entry.summary, [item.name for item in entry.items])


class Catalog:
    """The resource catalog of one deployment (zone ``extranet`` or ``intranet``)."""

    def __init__(self, store: CatalogStore, notify: Notify, zone: str, masker: Masker,
                 update_working_days: int, endpoints: EndpointChecker | None = None,
                 index: IndexKeeper | None = None, foundation_target: str = "",
                 directory: DepartmentDirectory | None = None, sessions: PersonSessions | None = None) -> None:
        self._store = store
        #: Reads a person's session against their row before their review or retirement (None: not asked).
        self._sessions = sessions
        #: The authorization service's department directory (None: every well-formed code is taken as a department).
        self._directory = directory
        #: The foundation service's address (GOVSHARE_FOUNDATION_TARGET): an entry naming it reads the foundation.
        self._foundation_target = foundation_target
        #: Checks a department endpoint answers for its entry before publishing (None: not checked).
        self._endpoints = endpoints
        #: The replica's search index (None: every search takes the PostgreSQL path).
        self._index = index
        self._notify = notify
        self._zone = zone
        self._masker = masker
        self._update_working_days = update_working_days

    # Writes -----------------------------------------------------------------------------------

    def _refusals_logged(self, caller: Caller, action: str, code: str) -> AbstractAsyncContextManager[None]:
        """Logs a refusal (PERMISSION_DENIED) of ``action`` on the entry, once its transaction is over, as the
        step it tried: a 审批人 or another department drafting, submitting, editing or retiring an entry, or
        anyone but the authority's 审核员 reviewing it, left no trace, while every step taken is logged
        (R-SEC-3). The code is the target only when it has a code's form (review is refused before the code is
        checked)."""
        return refusals_logged(self._store.record_admin, caller, action, code if rules.code_error(code) is None else "")


    async def create(self, caller: Caller, draft: Entry) -> Entry:
        """Drafts version 1 of a new entry in the caller's department."""
        draft = rules.trimmed(draft)
        lifecycle.require_zone(draft, self._zone)
        rules.require_valid(draft, self._masker.known, new_code=True)
        async with self._refusals_logged(caller, "catalog.create", draft.code):
            duties.require_role(caller, DATA_OFFICER, "draft catalog entries", draft.provider_department_code)
            lifecycle.require_provider(caller, draft.provider_department_code, draft.code)
            lifecycle.require_endpoint_owner(caller, draft, None)
        await self._require_not_retired(draft.provider_department_code)
        await self._still_theirs(caller, "catalog.create", draft.code)
        now = _now()
        entry = copy.deepcopy(draft)
        entry.state, entry.version, entry.publish_time, entry.return_reason = EntryState.DRAFT, 1, None, ""
        entry.submitted_by = entry.reviewed_by = Actor()
        entry.create_time = entry.update_time = now
        async with self._store.transaction() as tx:
            if not await tx.create_head(entry.code, entry.provider_department_code, now):
                raise already_exists(f"catalog entry {entry.code}")
            await tx.insert_version(entry, _document(entry))
            await tx.add_event(entry, "create", caller, now)
        await self._announce(entry.code)
        return entry

    async def update(self, caller: Caller, patch: Entry, paths: list[str], etag: str = "") -> Entry:
        """Edits a draft or returned version in place; a published one gets a new draft version. An edit that
        changes nothing (a form saved as it was read) writes nothing and answers the version as it is.

        With ``etag`` (Entry.etag of the version the caller edited), only if that is still the latest version as
        read: two people editing one entry at once, the second's form (every field, from the console) silently
        replaced the first's saved change."""
        fields = rules.mask_paths(paths)
        rules.check_code(patch.code, "entry.code")
        await self._still_theirs(caller, "catalog.update", patch.code)
        now = _now()
        async with self._refusals_logged(caller, "catalog.update", patch.code), self._store.transaction() as tx:
            head, latest = await self._lock(tx, caller, patch.code)
            duties.require_role(caller, DATA_OFFICER, "edit catalog entries", head.provider_department_code)
            lifecycle.require_provider(caller, head.provider_department_code, head.code)
            lifecycle.require_etag(latest, etag)
            edit = lifecycle.edit_of(latest)
            entry = lifecycle.unlisted(rules.apply_mask(latest, rules.trimmed(patch), fields))
            lifecycle.require_zone(entry, self._zone)
            changed = rules.changed_fields(latest, entry, fields)
            rules.require_valid_edit(latest, entry, self._masker.known, changed)
            lifecycle.require_provider(caller, entry.provider_department_code, entry.code)
            lifecycle.require_provider_kept(head, entry)
            lifecycle.require_endpoint_owner(caller, entry, latest)
            if not changed:
                return latest  # nothing to change: no new version to review, no catalog work to count
            if "subject" in changed:
                rules.require_subject_numbered(entry)
            entry.update_time = now
            document = _document(entry)
            if edit is Edit.IN_PLACE:
                await tx.update_version(entry, document)
            else:
                entry.version, entry.state, entry.publish_time, entry.return_reason = \
                    latest.version + 1, EntryState.DRAFT, None, ""
                entry.submitted_by = entry.reviewed_by = Actor()
                entry.create_time = now
                await tx.insert_version(entry, document)
            await tx.save_head(EntryHead(head.code, entry.provider_department_code, entry.version,
                                         head.public_version))
            await tx.add_event(entry, "update", caller, now, fields=changed)
        await self._announce(entry.code)
        return entry

    async def submit(self, caller: Caller, code: str) -> Entry:
        """The provider hands a draft (or a reworked returned version) to the authority."""
        rules.check_code(code)
        if (known := await self._store.head(code)) is not None:  # asked before the entry's lock is taken
            await self._require_not_retired(known.provider_department_code)
        await self._still_theirs(caller, "catalog.submit", code)
        now = _now()
        async with self._refusals_logged(caller, "catalog.submit", code), self._store.transaction() as tx:
            head, latest = await self._lock(tx, caller, code)
            duties.require_role(caller, DATA_OFFICER, "submit catalog entries", head.provider_department_code)
            lifecycle.require_provider(caller, head.provider_department_code, code)
            lifecycle.require_state(latest, "submitted", lifecycle.SUBMITTABLE)
            # Rules (e.g. configured mask rules) may have changed since the draft was written.
            rules.require_valid(latest, self._masker.known)
            await self._require_own_endpoint(tx, latest)
            await self._require_related(tx, latest)
            entry = await self._transition(tx, latest, EntryState.SUBMITTED, now, return_reason="",
                                           submitted_by=actor_of(caller), reviewed_by=Actor())
            await tx.add_event(entry, "submit", caller, now)
        await self._announce(code)
        return entry

    async def review(self, caller: Caller, code: str, decision: int, reason: str, etag: str = "") -> Entry:
        """The authority publishes a submitted version, or returns it with the reason it must be reworked. With
        ``etag`` (Entry.etag of the version the reviewer read), only if that is still the latest version: a version
        returned, edited in place and submitted again keeps its number, and a review from a page shown before
        published content its reviewer never saw."""
        step = "catalog.return" if decision == ReviewDecision.RETURN else "catalog.publish"
        reason = rules.one_line_break(reason)  # the console's 退回理由 box sends CRLF: counted and kept as LF
        async with self._refusals_logged(caller, step, code):
            duties.require_person(caller, REVIEWER, "review catalog entries")
            lifecycle.require_authority(caller, "review catalog entries")
            await self._require_other_reviewer(caller, code)
        rules.check_review(code, decision, reason)
        checked = await self._check_endpoint(caller, code) if decision != ReviewDecision.RETURN else None
        if decision != ReviewDecision.RETURN and (known := await self._store.head(code)) is not None:
            await self._require_not_retired(known.provider_department_code, publishing=True)
        await self._still_theirs(caller, step, code)  # last before the change: the directory's answer named first
        now = _now()
        async with self._store.transaction() as tx:
            head, latest = await self._lock(tx, caller, code)
            lifecycle.require_etag(latest, etag)
            lifecycle.require_state(latest, "reviewed", lifecycle.REVIEWABLE)
            lifecycle.require_other_reviewer(caller, latest, await tx.version_authors(code, latest.version))
            if checked is not None and checked != (latest.version, latest.endpoint.target, latest.endpoint.dataset):
                raise failed_precondition("CHANGED_DURING_REVIEW", f"{code} changed while its endpoint was checked: "
                                                                   "review it again")
            if decision == ReviewDecision.RETURN:
                entry = await self._transition(tx, latest, EntryState.RETURNED, now, return_reason=reason.strip(),
                                               reviewed_by=actor_of(caller))
                await tx.add_event(entry, "return", caller, now, reason.strip())
            else:
                # Checked again here: another provider's entry on the dataset may have been published since.
                await self._require_own_endpoint(tx, latest)
                await self._require_related(tx, latest)  # one it names may have been retired since it was submitted
                previous = await tx.version(code, head.public_version) if head.public_version else None
                await self._supersede(tx, head, now)
                entry = await self._transition(tx, lifecycle.listed(latest, previous, now), EntryState.PUBLISHED,
                                               now, publish_time=now, reviewed_by=actor_of(caller))
                await tx.save_head(EntryHead(code, head.provider_department_code, head.latest_version,
                                             latest.version))
                await tx.add_event(entry, "publish", caller, now)
        await self._announce(code)
        return entry

    async def _still_theirs(self, caller: Caller, action: str, code: str) -> None:
        """Refuses a person's session ended (signed out, disabled, re-roled, reset) while the announcement of the
        end has not reached this process (Redis lost it: the verifier learns of it at its reload, a minute later),
        before their review or retirement, and their draft, edit or submission (a 编目员 who left drafted and
        submitted entries for that minute, in their department's name): one question to the authorization
        service, logged when refused."""
        if self._sessions is not None:
            await self._sessions.still_theirs(caller, self._store.record_admin, action,
                                              code if rules.code_error(code) is None else "")

    async def _require_not_retired(self, department_code: str, publishing: bool = False) -> None:
        """Refuses an entry drafted, submitted or published for a department retired in a 机构改革
        (DEPARTMENT_RETIRED): the authority's bulk cataloguing, acting for departments, drafted and submitted one,
        which its reviewer then published, a resource of a department nobody answers for (its applications refused
        DEPARTMENT_RETIRED, its data read from a 前置机 nobody runs). Its drafts left from before do not block its
        retirement; they are neither submitted nor published after it.

        A draft or a submission goes on while the directory does not answer (cataloguing keeps working with the
        authorization service down, its log entries kept in the outbox): the publication, which makes the
        resource real, is where a retirement is always checked, and is UNAVAILABLE DIRECTORY_UNAVAILABLE then."""
        if self._directory is None:
            return
        try:
            await self._directory.require_not_retired(department_code)
        except ServiceError as error:
            if publishing or error.reason != "DIRECTORY_UNAVAILABLE":
                raise
            log.warning("the department directory did not answer: a draft or submission went on without its "
                        "department's retirement checked (its publication checks it)")

    async def _require_other_reviewer(self, caller: Caller, code: str) -> None:
        """Refuses (logged) the submitter's own review before anything else is checked or asked of the 前置机;
        checked again under the entry's lock."""
        if rules.code_error(code) is not None:
            return  # check_review says what is wrong with it
        head = await self._store.head(code)
        latest = await self._store.version(code, head.latest_version) if head is not None else None
        if latest is not None and latest.state == EntryState.SUBMITTED:
            async with self._store.transaction() as tx:
                authors = await tx.version_authors(code, latest.version)
            lifecycle.require_other_reviewer(caller, latest, authors)

    async def _require_own_endpoint(self, tx: CatalogTransaction, entry: Entry) -> None:
        readers = await tx.endpoint_readers(entry.endpoint.dataset, entry.code)
        lifecycle.require_own_endpoint(entry, readers, self._foundation_target)

    @staticmethod
    async def _require_related(tx: CatalogTransaction, entry: Entry) -> None:
        if entry.related_codes:
            lifecycle.require_related(entry, await tx.relations(entry.related_codes))

    async def _check_endpoint(self, caller: Caller, code: str) -> tuple[int, str, str] | None:
        """Before publishing: the submitted version's department endpoint answers and serves it (no transaction
        is held during the call). Returns what was checked, to be compared under the lock."""
        if self._endpoints is None:
            return None
        head = await self._store.head(code)
        latest = await self._store.version(code, head.latest_version) if head is not None else None
        if latest is None or latest.state != EntryState.SUBMITTED or not latest.endpoint.target:
            return None  # the transaction says why it cannot be reviewed, or there is nothing to ask
        async with self._store.transaction() as tx:
            # The catalog's own rule first (it holds whatever the endpoint answers); checked again under the lock.
            await self._require_own_endpoint(tx, latest)
        await self._endpoints.check(latest, caller.department_code)
        return latest.version, latest.endpoint.target, latest.endpoint.dataset

    async def retire(self, caller: Caller, code: str, reason: str) -> Entry:
        """Closes an entry: its published version and any version in progress become RETIRED; an entry never
        published is withdrawn the same way (its draft, returned or submitted version becomes RETIRED)."""
        rules.check_code(code)
        reason = rules.one_line_break(reason)  # the console's 撤销理由 box sends CRLF: counted and kept as LF
        rules.check_reason(reason)
        await self._still_theirs(caller, "catalog.retire", code)
        now = _now()
        async with self._refusals_logged(caller, "catalog.retire", code), self._store.transaction() as tx:
            head, latest = await self._lock(tx, caller, code)
            duties.require_role(caller, DATA_OFFICER, "retire catalog entries", head.provider_department_code)
            lifecycle.require_provider(caller, head.provider_department_code, code)
            published = await tx.version(code, head.public_version) if head.public_version else None
            if published is not None:
                # Every grant of it stops at once (NOT_PUBLISHED), for good: a 编目员 answers for that, not a token
                # (one leaked system secret closed all its department's sharing). A never-published entry a
                # system may still withdraw (bulk cataloguing).
                duties.require_person(caller, DATA_OFFICER, "retire a published catalog entry",
                                      head.provider_department_code)
            target = published or latest
            lifecycle.require_state(target, "retired",
                                    lifecycle.RETIRABLE if published else lifecycle.RETIRABLE_UNPUBLISHED)
            if published is not None:
                rules.require_retire_reason(reason)
            entry = await self._transition(tx, target, EntryState.RETIRED, now, retire_reason=reason.strip())
            await tx.retire_pending(code, now, entry.retire_reason)
            await tx.add_event(entry, "retire", caller, now, entry.retire_reason)
        await self._announce(code)
        return entry

    async def report_mandate_change(self, caller: Caller, department_code: str, description: str,
                                    change_time: dt.datetime | None) -> dt.datetime:
        """Records a legal or mandate change; the department's catalog update is due N working days later. The same
        change reported again is the one recorded (store.add_mandate_change): its due time is answered."""
        now = _now()
        change_time = change_time or now
        # The console's 职能变更 box sends its line breaks as CRLF, an API call as LF: counted, stored and matched
        # with a report of the same change as LF, as an entry's text is (rules.trimmed).
        description = rules.one_line_break(description)
        rules.check_mandate_change(department_code, description, change_time, now)
        # The department code was checked above: the refused report's target, as an accepted one's.
        async with refusals_logged(self._store.record_admin, caller, "catalog.report_mandate_change", department_code):
            # The authority's 编目员 reports any department's change (a person of the authority was refused
            # NOT_YOUR_DEPARTMENT for every department but its own, while its systems could); others their own.
            duties.require_role(caller, DATA_OFFICER, "report a mandate change",
                                "" if caller.authority else department_code)
            if not caller.authority and caller.department_code != department_code:
                lifecycle.require_authority(caller, "report a mandate change of another department")
        if self._directory is not None:  # a department the directory does not hold (or retired) updates nothing
            await self._directory.require_in_service(department_code)
        if self._sessions is not None:
            await self._sessions.still_theirs(caller, self._store.record_admin, "catalog.report_mandate_change",
                                              department_code)
        due = add_working_days(change_time, self._update_working_days)
        change = MandateChange(department_code, description.strip(), change_time, due.astimezone(dt.UTC),
                               self._update_working_days)
        return await self._store.add_mandate_change(change, caller, now)

    # Reads ------------------------------------------------------------------------------------

    async def get(self, caller: Caller, code: str, version: int) -> Entry:
        """Version ``version`` of an entry, or (0) the current one: the published version, else the latest."""
        rules.check_code(code)
        if version < 0:
            raise invalid_argument([FieldViolation("version", "must not be negative (0 means the current version)")])
        head = await self._store.head(code)
        privileged = head is not None and lifecycle.is_privileged(caller, head.provider_department_code)
        wanted = version or (head.current_version(privileged) if head is not None else None)
        entry = await self._store.version(code, wanted) if wanted else None
        if entry is None or not (privileged or is_public(entry)):
            raise not_found(f"catalog entry {code}" + (f" version {version}" if version else ""))
        lifecycle.require_servable(entry, self._zone)
        shown = lifecycle.shown_to(caller, entry)
        if privileged:
            shown.returns = (await self._store.returns(code, [shown.version])).get(shown.version, [])
        return shown

    async def versions(self, caller: Caller, code: str, page_size: int, page_token: str) -> Page:
        """A page of the versions the caller may see, oldest first.

        An entry gains a version with every change over the years, so the versions are paged like any
        listing: the token holds the last version shown and is bound to the entry's code.
        """
        rules.check_code(code)
        size = effective_page_size(page_size)
        request = paging.fingerprint("versions", code)
        after = paging.decode(page_token, request, (int,))
        head = await self._store.head(code)
        if head is None:
            raise not_found(f"catalog entry {code}")
        public_only = not lifecycle.is_privileged(caller, head.provider_department_code)
        # Whether the entry may be served here is decided by its newest visible version, on every page.
        newest = await self._store.last_version(code, public_only)
        if newest is None:
            raise not_found(f"catalog entry {code}")
        lifecycle.require_servable(newest, self._zone)
        found = await self._store.versions(code, public_only, after[0] if after else 0, size + 1)
        shown = [lifecycle.shown_to(caller, entry) for entry in found[:size]]
        if not public_only and shown:  # the provider's and the authority's: each version's returns
            returns = await self._store.returns(code, [entry.version for entry in shown])
            for entry in shown:
                entry.returns = returns.get(entry.version, [])
        token = paging.encode((shown[-1].version,), request) if len(found) > size else ""
        return Page(shown, token)

    async def list_entries(self, caller: Caller, entry_filter: EntryFilter, page_size: int, page_token: str) -> Page:
        """The current version of each entry the caller may see, in code order.

        With a state filter: every visible version in that state, so the authority's review queue
        shows new versions of published entries too.
        """
        entry_filter = rules.trimmed_filter(entry_filter)
        rules.check_filter(entry_filter)
        size = effective_page_size(page_size)
        request = paging.fingerprint("list", entry_filter)
        after = paging.decode(page_token, request, (str, int))
        found = [lifecycle.shown_to(caller, entry) for entry in
                 await self._store.list_current(View.of(caller, self._zone), entry_filter, after, size + 1)]
        if len(found) <= size:
            return Page(found, "")
        last = found[size - 1]
        return Page(found[:size], paging.encode((last.code, last.version), request))

    async def search_entries(self, caller: Caller, query: str, entry_filter: EntryFilter, page_size: int,
                             page_token: str) -> Page:
        """Entries whose name, summary or item names contain every word of ``query``, best first (R-CAT-4).

        Answered by the replica's search index; with a state filter (the authority's review queue, which
        lists every visible version in that state, not only current ones) by the PostgreSQL path.
        """
        terms = search.parse_query(query)
        entry_filter = rules.trimmed_filter(entry_filter)
        rules.check_filter(entry_filter)
        size = effective_page_size(page_size)
        if entry_filter.state or self._index is None:
            page = await self._search_database(caller, terms, entry_filter, size, page_token)
        else:
            page = await self._search_index(caller, terms, entry_filter, size, page_token)
        highlights = [Highlight(search.spans(e.name, terms), search.spans(e.summary, terms)) for e in page.entries]
        return Page(page.entries, page.next_page_token, highlights)

    async def _search_index(self, caller: Caller, terms: list[str], entry_filter: EntryFilter, size: int,
                            page_token: str) -> Page:
        assert self._index is not None
        request = paging.fingerprint("index", terms, entry_filter)
        # (class, key in three parts, the walk's stamp in two); a token of four is one from before the stamp.
        after = paging.decode(page_token, request, (int,) * 6, older=((int,) * 4,))
        resume = None if after is None else (after[0], (after[1] << 44) | (after[2] << 22) | after[3])
        as_of = None if after is None or len(after) < 6 else (after[4] << 22) | after[5]
        view = View.of(caller, self._zone)
        hits, as_of = await self._index.search(
            terms, Visibility(view.sees_everything, view.department_code, view.extranet),
            Filters(entry_filter.provider_department_code, entry_filter.category, entry_filter.share_type,
                    entry_filter.zone, entry_filter.update_cycle, entry_filter.subject, entry_filter.project_code),
            resume, as_of, size + 1)
        found = await self._store.versions_of([(hit.code, hit.version) for hit in hits[:size]])
        entries = [lifecycle.shown_to(caller, entry) for entry in
                   (found.get((hit.code, hit.version)) for hit in hits[:size]) if entry is not None
                   and self._searchable(caller, entry)]
        if len(hits) <= size:
            return Page(entries, "")
        last = hits[size - 1]
        mask = (1 << 22) - 1  # the 64-bit key in three parts a token's integers hold
        return Page(entries, paging.encode((last.cls, last.key >> 44, (last.key >> 22) & mask, last.key & mask,
                                            as_of >> 22, as_of & mask), request))

    def _searchable(self, caller: Caller, entry: Entry) -> bool:
        """Rechecked on the rows read: the index may be a few milliseconds behind a retirement or a zone."""
        if entry.state == EntryState.RETIRED or (self._zone != "intranet" and entry.restricted):
            return False
        return is_public(entry) or lifecycle.is_privileged(caller, entry.provider_department_code)

    async def _search_database(self, caller: Caller, terms: list[str], entry_filter: EntryFilter, size: int,
                               page_token: str) -> Page:
        """The PostgreSQL path (search.py): substring match over the bigram GIN index."""
        request = paging.fingerprint("search", terms, entry_filter)
        after = paging.decode(page_token, request, (int, str, int))
        found = await self._store.search(View.of(caller, self._zone), entry_filter, terms,
                                         search.query_grams(terms), after, size + 1)
        entries = [lifecycle.shown_to(caller, entry) for _, entry in found[:size]]
        if len(found) <= size:
            return Page(entries, "")
        rank, last = found[size - 1]
        return Page(entries, paging.encode((rank, last.code, last.version), request))

    async def project_status(self, caller: Caller, project_code: str) -> ProjectStatus:
        """How many of a government IT project's entries are published (R-CAT-5).

        The counts cover every entry of the project, since its completeness is what is asked; the codes of
        the unpublished ones are named only to whom could read them (their department, the authority), as
        a draft's existence is not revealed to other departments.
        """
        project_code = project_code.strip()
        rules.check_project_code(project_code)
        entries = await self._store.project_states(project_code, extranet=self._zone != "intranet")
        unpublished = [entry for entry in entries if entry.state != EntryState.PUBLISHED]
        named = [entry.code for entry in unpublished
                 if entry.public or lifecycle.is_privileged(caller, entry.provider_department_code)]
        return ProjectStatus(project_code, len(entries), len(entries) - len(unpublished), named)

    async def overdue(self, caller: Caller, page_size: int, page_token: str,
                      department_code: str = "") -> tuple[list[MandateChange], str]:
        """A page of the mandate changes whose catalog update is past due (R-CAT-3), longest overdue first, and the
        token of the next page ("" on the last): the authority's of every department or of ``department_code``, a
        department's of its own. A department's 编目员 had no way to learn its own update was late but from the
        authority (the listing was the authority's only), though the update is theirs to make."""
        department = self._overdue_department(caller, department_code)
        size = effective_page_size(page_size)
        after = pagination.time_keyset_after(page_token, pagination.bigint_id)
        found = await self._store.overdue(_now(), after, size + 1, department)
        page, token = found[:size], ""
        if len(found) > size:
            last_id, last = found[size - 1]
            token = pagination.time_keyset_token(last.due_time, last_id)
        return await self._in_service([change for _, change in page]), token

    @staticmethod
    def _overdue_department(caller: Caller, department_code: str) -> str | None:
        """The department whose overdue updates ``caller`` is shown (None: every department's, the authority's)."""
        if department_code and (problem := credit_code_error(department_code)) is not None:
            raise invalid_argument([FieldViolation("department_code", problem)])
        if caller.authority:
            return department_code or None
        if department_code and department_code != caller.department_code:
            lifecycle.require_authority(caller, "list another department's overdue catalog updates")
        return caller.department_code

    async def _in_service(self, changes: list[MandateChange]) -> list[MandateChange]:
        """``changes`` less those of departments since retired (机构改革): a retired department updates no
        catalogue any more (its duties' entries are the successor's, for which the authority reports a change of
        its own), so its update would stay at the top of the overdue list for ever, nobody to press. The months it
        was overdue in keep it (supervision's CATALOG_NOT_UPDATED). A page may so be shorter than asked."""
        if self._directory is None or not changes:
            return changes
        retired = await self._directory.retired_among(change.department_code for change in changes)
        return [change for change in changes if change.department_code not in retired]

    # Helpers ----------------------------------------------------------------------------------

    async def _lock(self, tx: CatalogTransaction, caller: Caller, code: str) -> tuple[EntryHead, Entry]:
        """The entry's head (locked) and latest version; NOT_FOUND for entries the caller may not see."""
        head = await tx.lock_head(code)
        if head is None or not (head.public_version or lifecycle.is_privileged(caller, head.provider_department_code)):
            raise not_found(f"catalog entry {code}")
        latest = await tx.version(code, head.latest_version)
        if latest is None:
            raise ServiceError(grpc.StatusCode.DATA_LOSS, "MISSING_VERSION",
                               f"catalog entry {code} has lost version {head.latest_version}")
        lifecycle.require_zone(latest, self._zone)
        return head, latest

    @staticmethod
    async def _transition(tx: CatalogTransaction, entry: Entry, state: EntryState, now: dt.datetime,
                          **changes: object) -> Entry:
        moved = copy.deepcopy(entry)
        moved.state, moved.update_time = state, now
        for name, value in changes.items():
            setattr(moved, name, value)
        await tx.update_version(moved, _document(moved))
        return moved

    async def _supersede(self, tx: CatalogTransaction, head: EntryHead, now: dt.datetime) -> None:
        """Publishing a new version replaces the published one, which stays readable as SUPERSEDED."""
        if head.public_version is None:
            return
        previous = await tx.version(head.code, head.public_version)
        if previous is not None and previous.state == EntryState.PUBLISHED:
            await self._transition(tx, previous, EntryState.SUPERSEDED, now)

    async def _announce(self, code: str) -> None:
        """Best effort after commit: subscribers bound staleness with a TTL should the event be lost."""
        try:
            await self._notify(code)
        except Exception as exc:
            # Redis down is an outage (one line); anything else is a bug and keeps its traceback.
            log.warning("could not announce the change of catalog entry %s (%s)", code, describe(exc),
                        exc_info=dependency_failure(exc) is None)
