"""What a started query process gives its servicers (built by the component in ``start``)."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import redis.asyncio as aioredis

from services.query.audit import AuditWriter
from services.query.checkpoints import Checkpointer, CheckpointVerifier
from services.query.decisions import DecisionCache, Quotas
from services.query.disputes import OpenDisputes
from services.query.records import ProviderClients, RecordCache
from services.query.resources import Resources
from services.query.store import QueryStore
from services.query.subjects import SubjectPolicy
from services.query.verifications import VerificationRunner
from services.runtime.admin_events import AdminOutbox
from services.runtime.errors import ServiceError
from services.runtime.identity import AssertionVerifier, Caller
from services.runtime.masking import Masker
from services.runtime.person_sessions import PersonSessions
from services.runtime.settings import Settings


@dataclass(frozen=True, slots=True)
class Dependencies:
    settings: Settings
    resources: Resources
    decisions: DecisionCache
    quotas: Quotas
    records: RecordCache
    providers: ProviderClients
    open_disputes: OpenDisputes
    audit: AuditWriter
    checkpointer: Checkpointer
    checkpoint_verifier: CheckpointVerifier
    store: QueryStore
    masker: Masker
    redis: aioredis.Redis
    #: Dispute reports and answers go to the administrative log through it.
    admin_outbox: AdminOutbox
    #: Authorization's answers for the persons' view (AuditService.ListSubjectAccesses).
    subjects: SubjectPolicy | None = None
    #: Runs the full verifications of the audit trail in the background (AuditService.StartAuditVerification).
    verifications: VerificationRunner | None = None
    #: Reads a person's session against their row before their answer to a dispute (None: not asked).
    sessions: PersonSessions | None = None


class DependentServicer:
    """Base of the query process's servicers: they get their dependencies once the process has started."""

    def __init__(self, verifier: AssertionVerifier) -> None:
        self._verifier = verifier
        self.deps: Dependencies | None = None

    def _begin(self, context: grpc.aio.ServicerContext) -> tuple[Dependencies, Caller]:
        """The verified caller and the dependencies; UNAVAILABLE while the process is still starting."""
        caller = self._verifier.from_context(context)
        deps = self.deps
        if deps is None:
            raise ServiceError(grpc.StatusCode.UNAVAILABLE, "STARTING", "the query service is starting")
        return deps, caller
