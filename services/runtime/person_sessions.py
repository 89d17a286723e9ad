"""A person's session read against their row before a decision of theirs taken outside the authorization service.

Every verifier refuses an ended session (signed out, disabled, roles changed, credentials reset) once its
SystemStates hears of it: from the ``govshare.systems.changed`` event, or, when Redis lost that event, from the
reload a minute later. Meanwhile the token is accepted. For reading that is the documented window; for a
person's decision it is not: a 审核员 just disabled (who left, or was suspended) published a catalog entry, a
审批人 answered a dispute ("经核实无误", closing it for the reporter), a 编目员 resolved a conflict between
sources. Authorization's own decisions read the person's row (directory.still_theirs); catalog, query and
foundation ask authorization for it (AuthorizationService.GetPersonState) before such a decision, and before a
person's lesser actions too (a catalog draft, edit or submission, a mandate change's report, a records-changed
notice, a dispute's report, a month's snapshots): a 编目员 who left drafted and submitted entries in their
department's name for that minute. They are rare (a few a day per person, never on the query path), so one call
each costs nothing that matters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from govshare.authorization.v1 import authorization_pb2, authorization_pb2_grpc
from services.runtime.admin_events import AdminEvent
from services.runtime.clients import call_metadata
from services.runtime.errors import ServiceError, unavailable
from services.runtime.identity import AssertionSigner, Caller
from services.runtime.system_states import SystemState, SystemStates, refuse_ended

#: The administrative log's result of a decision tried with a token that no longer holds (as authorization's).
CREDENTIALS_REVOKED = "CREDENTIALS_REVOKED"

Record = Callable[[AdminEvent], Awaitable[None]]


class PersonSessions:
    """Asks the authorization service whether a person's token still holds, as their row says now."""

    def __init__(self, channel: grpc.aio.Channel, signer: AssertionSigner, identity: Caller, timeout: float,
                 states: SystemStates | None = None) -> None:
        """``states``, the process's verifier states, learn what is read (an ended session is then refused at
        once on every call, without waiting for the event)."""
        self._stub = authorization_pb2_grpc.AuthorizationServiceStub(channel)
        self._signer = signer
        self._identity = identity
        self._timeout = timeout
        self._states = states

    async def still_theirs(self, caller: Caller, record: Record, action: str, target: str) -> None:
        """Refuses a person's token their row no longer accepts (UNAUTHENTICATED saying why, as every verifier
        does), logging ``action`` on ``target`` with result CREDENTIALS_REVOKED; a system's or a service's
        token is not asked about. UNAVAILABLE naming the authorization service when it does not answer: the
        decision waits rather than being taken unchecked."""
        if not caller.is_person:
            return
        state = await self._state(caller.person_id)
        if state is not None and self._states is not None:
            self._states.apply(caller.system_id, state)
        try:
            refuse_ended(caller, state)
        except ServiceError:
            await record(AdminEvent.by(caller, action, target, result=CREDENTIALS_REVOKED))
            raise

    async def _state(self, person_id: str) -> SystemState | None:
        try:
            response = await self._stub.GetPersonState(
                authorization_pb2.GetPersonStateRequest(person_id=person_id), timeout=self._timeout,
                metadata=call_metadata(self._signer, self._identity))
        except grpc.aio.AioRpcError as exc:
            raise unavailable("AUTHORIZATION_UNAVAILABLE", "the person's session could not be checked with the "
                              f"authorization service ({exc.code().name}); retry", dependency="authorization"
                              ) from None
        if not response.HasField("state"):
            return None
        given = response.state
        return SystemState(disabled=given.disabled, not_before=given.not_before_time.seconds,
                           reason=given.not_before_reason, version=given.version)
