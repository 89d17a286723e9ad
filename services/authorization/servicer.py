"""gRPC servicers: protobuf ↔ domain mapping for the four authorization services, nothing else.

Every RPC first verifies the caller's signed assertion; the domain workflows
then decide what that caller may do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import grpc
from google.protobuf import timestamp_pb2

from govshare.authorization.v1 import (
    admin_log_pb2,
    admin_log_pb2_grpc,
    authorization_pb2,
    authorization_pb2_grpc,
    directory_pb2,
    directory_pb2_grpc,
    sharing_pb2,
    sharing_pb2_grpc,
    token_pb2,
    token_pb2_grpc,
)
from services.authorization.admin_log import CHAIN_ID, AdminLog, AdminLogFilter, LogEntry, typed_department_code
from services.authorization.applications import Application, Draft, Terms
from services.authorization.authorizer import Authorizer
from services.authorization.decisions import AccessRequest, Decision
from services.authorization.directory import Department, Directory, System
from services.authorization.grants import Grant, GrantsEnding, GrantUpdate
from services.authorization.sharing import Sharing
from services.authorization.subject_access import SubjectAccessPolicy
from services.authorization.validation import request_id_problem
from services.runtime import checkpoints
from services.runtime.actors import actor_pb
from services.runtime.admin_events import AdminEvent
from services.runtime.errors import FieldViolation, ServiceError, invalid_argument
from services.runtime.identity import AssertionVerifier
from services.runtime.pagination import bind_tokens_to
from services.runtime.system_states import SystemState
from services.runtime.timestamps import from_timestamp, to_timestamp
from services.runtime.workdays import provisional

Context = grpc.aio.ServicerContext


def _time(message: object, name: str, path: str, problems: list[FieldViolation]) -> dt.datetime | None:
    """The timestamp field ``name`` of ``message`` as an aware datetime; None when unset or invalid."""
    if not message.HasField(name):  # type: ignore[attr-defined]
        return None
    return from_timestamp(getattr(message, name), path, problems)


# Directory

def _department_pb(department: Department) -> directory_pb2.Department:
    return directory_pb2.Department(code=department.code, name=department.name, level=department.level,
                                    region_code=department.region_code, authority=department.authority,
                                    create_time=to_timestamp(department.create_time),
                                    retire_time=to_timestamp(department.retire_time),
                                    merged_into=department.merged_into)


def _system_pb(system: System) -> directory_pb2.System:
    return directory_pb2.System(id=system.id, department_code=system.department_code, name=system.name,
                                disabled=system.disabled, create_time=to_timestamp(system.create_time))


class DirectoryServicer(directory_pb2_grpc.DirectoryServiceServicer):
    def __init__(self, verifier: AssertionVerifier, directory: Directory) -> None:
        self._verifier = verifier
        self._directory = directory

    async def CreateDepartment(self, request: directory_pb2.CreateDepartmentRequest, context: Context
                               ) -> directory_pb2.CreateDepartmentResponse:
        caller = self._verifier.from_context(context)
        given = request.department
        department = Department(code=given.code.strip(), name=given.name.strip(), level=given.level,
                                region_code=given.region_code.strip(), authority=given.authority)
        created = await self._directory.create_department(caller, department)
        return directory_pb2.CreateDepartmentResponse(department=_department_pb(created))

    async def GetDepartment(self, request: directory_pb2.GetDepartmentRequest, context: Context
                            ) -> directory_pb2.GetDepartmentResponse:
        caller = self._verifier.from_context(context)
        department = await self._directory.get_department(caller, request.code)
        return directory_pb2.GetDepartmentResponse(department=_department_pb(department))

    async def RenameDepartment(self, request: directory_pb2.RenameDepartmentRequest, context: Context
                               ) -> directory_pb2.RenameDepartmentResponse:
        caller = self._verifier.from_context(context)
        renamed = await self._directory.rename_department(caller, request.code.strip(), request.name,
                                                          request.current_name.strip())
        return directory_pb2.RenameDepartmentResponse(department=_department_pb(renamed))

    async def RetireDepartment(self, request: directory_pb2.RetireDepartmentRequest, context: Context
                               ) -> directory_pb2.RetireDepartmentResponse:
        caller = self._verifier.from_context(context)
        retired = await self._directory.retire_department(caller, request.code.strip(), request.merged_into.strip())
        return directory_pb2.RetireDepartmentResponse(department=_department_pb(retired))

    async def ListDepartments(self, request: directory_pb2.ListDepartmentsRequest, context: Context
                              ) -> directory_pb2.ListDepartmentsResponse:
        caller = self._verifier.from_context(context)
        departments, token = await self._directory.list_departments(caller, request.page_size, request.page_token)
        return directory_pb2.ListDepartmentsResponse(departments=[_department_pb(d) for d in departments],
                                                     next_page_token=token)

    async def CreateSystem(self, request: directory_pb2.CreateSystemRequest, context: Context
                           ) -> directory_pb2.CreateSystemResponse:
        caller = self._verifier.from_context(context)
        system = System(id="", department_code=request.system.department_code.strip(), name=request.system.name)
        created, secret = await self._directory.create_system(caller, system)
        return directory_pb2.CreateSystemResponse(system=_system_pb(created), secret=secret)

    async def GetSystem(self, request: directory_pb2.GetSystemRequest, context: Context
                        ) -> directory_pb2.GetSystemResponse:
        caller = self._verifier.from_context(context)
        return directory_pb2.GetSystemResponse(system=_system_pb(await self._directory.get_system(caller, request.id)))

    async def ListSystems(self, request: directory_pb2.ListSystemsRequest, context: Context
                          ) -> directory_pb2.ListSystemsResponse:
        caller = self._verifier.from_context(context)
        systems, token = await self._directory.list_systems(caller, request.department_code, request.page_size,
                                                            request.page_token)
        return directory_pb2.ListSystemsResponse(systems=[_system_pb(s) for s in systems], next_page_token=token)

    async def RotateSystemSecret(self, request: directory_pb2.RotateSystemSecretRequest, context: Context
                                 ) -> directory_pb2.RotateSystemSecretResponse:
        caller = self._verifier.from_context(context)
        return directory_pb2.RotateSystemSecretResponse(secret=await self._directory.rotate_secret(caller, request.id))

    async def DisableSystem(self, request: directory_pb2.DisableSystemRequest, context: Context
                            ) -> directory_pb2.DisableSystemResponse:
        caller = self._verifier.from_context(context)
        system = await self._directory.disable_system(caller, request.id)
        return directory_pb2.DisableSystemResponse(system=_system_pb(system))

    async def EnableSystem(self, request: directory_pb2.EnableSystemRequest, context: Context
                           ) -> directory_pb2.EnableSystemResponse:
        caller = self._verifier.from_context(context)
        system = await self._directory.enable_system(caller, request.id)
        return directory_pb2.EnableSystemResponse(system=_system_pb(system))


class TokenServicer(token_pb2_grpc.TokenServiceServicer):
    """Reached without a token (the edge lets IssueToken through): the system's secret in the request is what
    authenticates the call."""

    def __init__(self, verifier: AssertionVerifier, directory: Directory) -> None:
        self._verifier = verifier
        self._directory = directory

    async def IssueToken(self, request: token_pb2.IssueTokenRequest, context: Context
                         ) -> token_pb2.IssueTokenResponse:
        issued = await self._directory.issue_token(request.system_id, request.secret)
        expire = timestamp_pb2.Timestamp(seconds=int(issued.expires_at))
        return token_pb2.IssueTokenResponse(token=issued.token, expire_time=expire)


# Sharing

def _application_pb(application: Application, now: dt.datetime) -> sharing_pb2.Application:
    return sharing_pb2.Application(
        id=application.id, applicant_department_code=application.applicant_department_code,
        system_ids=application.system_ids, resource_code=application.resource_code,
        provider_department_code=application.provider_department_code, items=application.items,
        purposes=application.purposes, purpose_text=application.purpose_text, basis=application.basis,
        requested_expire_time=to_timestamp(application.requested_expire_time), methods=application.methods,
        quota=application.quota, state=application.state, reply_due_time=to_timestamp(application.reply_due_time),
        overdue=application.overdue(now), reply_reason=application.reply_reason, grant_id=application.grant_id,
        coordination_reason=application.coordination_reason,
        history=[sharing_pb2.ApplicationEvent(action=e.action, actor_department_code=e.actor_department_code,
                                              actor_system_id=e.actor_system_id, note=e.note,
                                              time=to_timestamp(e.time), actor_display_name=e.actor_display_name)
                 for e in application.history],
        create_time=to_timestamp(application.create_time),
        reply_due_time_provisional=provisional(application.reply_due_time),
        replied_by=actor_pb(application.replied_by), coordinated_by=actor_pb(application.coordinated_by))


def _grant_pb(grant: Grant, now: dt.datetime) -> sharing_pb2.Grant:
    """``now``: a grant past its expiry is EXPIRED, however it is stored (Grant.state_at)."""
    return sharing_pb2.Grant(
        id=grant.id, application_id=grant.application_id, department_code=grant.department_code,
        system_ids=grant.system_ids, resource_code=grant.resource_code, items=grant.items,
        unmasked_items=grant.unmasked_items, purposes=grant.purposes, methods=grant.methods,
        expire_time=to_timestamp(grant.expire_time), quota=grant.quota,
        state=grant.state_at(now),
        revoke_reason=grant.revoke_reason, policy_version=grant.policy_version,
        create_time=to_timestamp(grant.create_time), confidential=grant.confidential,
        release_time=to_timestamp(grant.release_time), granted_by=actor_pb(grant.granted_by),
        changed_by=actor_pb(grant.changed_by), etag=grant.etag, lapsed_items=grant.lapsed_items)


def _draft(request: sharing_pb2.SubmitApplicationRequest) -> Draft:
    application = request.application
    problems: list[FieldViolation] = []
    expire = _time(application, "requested_expire_time", "application.requested_expire_time", problems)
    if error := request_id_problem(request.request_id):
        problems.append(FieldViolation("request_id", error))
    return Draft(applicant_department_code=application.applicant_department_code,
                 resource_code=application.resource_code.strip(), system_ids=tuple(application.system_ids),
                 items=tuple(application.items), purposes=tuple(application.purposes),
                 purpose_text=application.purpose_text, basis=application.basis, requested_expire_time=expire,
                 methods=tuple(application.methods), quota=application.quota, problems=tuple(problems),
                 request_id=request.request_id.lower(),
                 fingerprint=hashlib.sha256(application.SerializeToString(deterministic=True)).digest())


class SharingServicer(sharing_pb2_grpc.SharingServiceServicer):
    def __init__(self, verifier: AssertionVerifier, sharing: Sharing,
                 subject_access: SubjectAccessPolicy | None = None) -> None:
        self._verifier = verifier
        self._sharing = sharing
        self._subject_access = subject_access

    def _application(self, application: Application) -> sharing_pb2.Application:
        return _application_pb(application, self._sharing.now())

    async def SubmitApplication(self, request: sharing_pb2.SubmitApplicationRequest, context: Context
                                ) -> sharing_pb2.SubmitApplicationResponse:
        caller = self._verifier.from_context(context)
        application = await self._sharing.submit(caller, _draft(request))
        return sharing_pb2.SubmitApplicationResponse(application=self._application(application))

    async def GetApplication(self, request: sharing_pb2.GetApplicationRequest, context: Context
                             ) -> sharing_pb2.GetApplicationResponse:
        caller = self._verifier.from_context(context)
        application = await self._sharing.get_application(caller, request.id)
        return sharing_pb2.GetApplicationResponse(application=self._application(application))

    async def ListApplications(self, request: sharing_pb2.ListApplicationsRequest, context: Context
                               ) -> sharing_pb2.ListApplicationsResponse:
        caller = self._verifier.from_context(context)
        found, token = await self._sharing.list_applications(caller, request.role, request.state,
                                                             request.overdue_only, request.page_size,
                                                             request.page_token, request.order_by)
        return sharing_pb2.ListApplicationsResponse(applications=[self._application(a) for a in found],
                                                    next_page_token=token)

    async def ReplyApplication(self, request: sharing_pb2.ReplyApplicationRequest, context: Context
                               ) -> sharing_pb2.ReplyApplicationResponse:
        caller = self._verifier.from_context(context)
        problems: list[FieldViolation] = []
        terms = Terms(items=tuple(request.items), unmasked_items=tuple(request.unmasked_items),
                      expire_time=_time(request, "expire_time", "expire_time", problems), quota=request.quota,
                      purposes=tuple(request.purposes), problems=tuple(problems))
        application, grant = await self._sharing.reply(caller, request.id, request.decision, request.reason, terms)
        return sharing_pb2.ReplyApplicationResponse(application=self._application(application),
                                                    grant=_grant_pb(grant, self._sharing.now()) if grant else None)

    async def EscalateApplication(self, request: sharing_pb2.EscalateApplicationRequest, context: Context
                                  ) -> sharing_pb2.EscalateApplicationResponse:
        caller = self._verifier.from_context(context)
        application = await self._sharing.escalate(caller, request.id, request.reason)
        return sharing_pb2.EscalateApplicationResponse(application=self._application(application))

    async def WithdrawApplication(self, request: sharing_pb2.WithdrawApplicationRequest, context: Context
                                  ) -> sharing_pb2.WithdrawApplicationResponse:
        caller = self._verifier.from_context(context)
        application = await self._sharing.withdraw(caller, request.id, request.reason)
        return sharing_pb2.WithdrawApplicationResponse(application=self._application(application))

    async def RecordCoordinationDecision(self, request: sharing_pb2.RecordCoordinationDecisionRequest,
                                         context: Context) -> sharing_pb2.RecordCoordinationDecisionResponse:
        caller = self._verifier.from_context(context)
        problems: list[FieldViolation] = []
        terms = Terms(items=tuple(request.items), unmasked_items=tuple(request.unmasked_items),
                      expire_time=_time(request, "expire_time", "expire_time", problems), quota=request.quota,
                      purposes=tuple(request.purposes), problems=tuple(problems))
        application, grant = await self._sharing.coordinate(caller, request.id, request.grant, request.reason, terms)
        return sharing_pb2.RecordCoordinationDecisionResponse(application=self._application(application),
                                                              grant=_grant_pb(grant, self._sharing.now())
                                                              if grant else None)

    async def GetGrant(self, request: sharing_pb2.GetGrantRequest, context: Context) -> sharing_pb2.GetGrantResponse:
        caller = self._verifier.from_context(context)
        grant = await self._sharing.get_grant(caller, request.id)
        return sharing_pb2.GetGrantResponse(grant=_grant_pb(grant, self._sharing.now()))

    async def ListGrants(self, request: sharing_pb2.ListGrantsRequest, context: Context
                         ) -> sharing_pb2.ListGrantsResponse:
        caller = self._verifier.from_context(context)
        problems: list[FieldViolation] = []
        before = _time(request, "expire_before", "expire_before", problems)
        adjusted = _time(request, "provider_adjusted_after", "provider_adjusted_after", problems)
        ending = GrantsEnding(role=request.role, before=before, problems=tuple(problems), adjusted_after=adjusted)
        found, token = await self._sharing.list_grants(caller, request.resource_code.strip(), request.state,
                                                       request.page_size, request.page_token, ending)
        now = self._sharing.now()
        return sharing_pb2.ListGrantsResponse(grants=[_grant_pb(g, now) for g in found], next_page_token=token)

    async def UpdateGrant(self, request: sharing_pb2.UpdateGrantRequest, context: Context
                          ) -> sharing_pb2.UpdateGrantResponse:
        caller = self._verifier.from_context(context)
        given, problems = request.grant, []
        update = GrantUpdate(
            paths=tuple(request.update_mask.paths), system_ids=tuple(given.system_ids), items=tuple(given.items),
            unmasked_items=tuple(given.unmasked_items), purposes=tuple(given.purposes),
            methods=tuple(given.methods), expire_time=_time(given, "expire_time", "grant.expire_time", problems),
            quota=given.quota, problems=tuple(problems), etag=given.etag, reason=request.reason)
        grant = await self._sharing.update_grant(caller, given.id, update)
        return sharing_pb2.UpdateGrantResponse(grant=_grant_pb(grant, self._sharing.now()))

    async def RevokeGrant(self, request: sharing_pb2.RevokeGrantRequest, context: Context
                          ) -> sharing_pb2.RevokeGrantResponse:
        caller = self._verifier.from_context(context)
        grant = await self._sharing.revoke_grant(caller, request.id, request.reason)
        return sharing_pb2.RevokeGrantResponse(grant=_grant_pb(grant, self._sharing.now()))

    async def SetGrantConfidentiality(self, request: sharing_pb2.SetGrantConfidentialityRequest, context: Context
                                      ) -> sharing_pb2.SetGrantConfidentialityResponse:
        caller = self._verifier.from_context(context)
        if self._subject_access is None:
            raise ServiceError(grpc.StatusCode.UNIMPLEMENTED, "UNIMPLEMENTED", "confidential grants are not wired")
        violations: list[FieldViolation] = []
        release = (from_timestamp(request.release_time, "release_time", violations)
                   if request.HasField("release_time") else None)
        if violations:
            raise invalid_argument(violations)
        grant = await self._subject_access.set_confidentiality(caller, request.grant_id, request.confidential,
                                                               release, request.reason)
        return sharing_pb2.SetGrantConfidentialityResponse(grant=_grant_pb(grant, self._sharing.now()))


# Check

def _decision_pb(decision: Decision) -> authorization_pb2.Decision:
    return authorization_pb2.Decision(
        allowed=decision.allowed, deny_reason=decision.deny_reason, message=decision.message,
        allowed_items=decision.allowed_items, masks=dict(decision.masks),
        expire_time=to_timestamp(decision.expire_time), policy_version=decision.policy_version,
        grant_id=decision.grant_id, quota=decision.quota, denied_items=decision.denied_items)


def _system_state_pb(system_id: str, state: SystemState) -> authorization_pb2.SystemState:
    return authorization_pb2.SystemState(
        system_id=system_id, disabled=state.disabled, not_before_reason=state.reason, version=state.version,
        not_before_time=timestamp_pb2.Timestamp(seconds=state.not_before) if state.not_before else None)


class AuthorizationServicer(authorization_pb2_grpc.AuthorizationServiceServicer):
    def __init__(self, verifier: AssertionVerifier, authorizer: Authorizer, directory: Directory) -> None:
        self._verifier = verifier
        self._authorizer = authorizer
        self._directory = directory

    async def ListSystemStates(self, request: authorization_pb2.ListSystemStatesRequest, context: Context
                               ) -> authorization_pb2.ListSystemStatesResponse:
        caller = self._verifier.from_context(context)
        states, token = await self._directory.system_states(caller, request.page_size, request.page_token)
        return authorization_pb2.ListSystemStatesResponse(
            next_page_token=token, states=[_system_state_pb(system_id, state) for system_id, state in states])

    async def GetPersonState(self, request: authorization_pb2.GetPersonStateRequest, context: Context
                             ) -> authorization_pb2.GetPersonStateResponse:
        caller = self._verifier.from_context(context)
        state = await self._directory.person_state(caller, request.person_id)
        if state is None:
            return authorization_pb2.GetPersonStateResponse()
        return authorization_pb2.GetPersonStateResponse(state=_system_state_pb(request.person_id, state))

    async def Check(self, request: authorization_pb2.CheckRequest, context: Context
                    ) -> authorization_pb2.CheckResponse:
        caller = self._verifier.from_context(context)
        access = AccessRequest(system_id=request.system_id, department_code=request.department_code,
                               resource_code=request.resource_code, purpose=request.purpose,
                               items=tuple(request.items), method=request.method,
                               exclude_grant_ids=frozenset(request.exclude_grant_ids),
                               only_grant_id=request.only_grant_id, min_entry_version=request.min_entry_version)
        decision = await self._authorizer.check(caller, access)
        return authorization_pb2.CheckResponse(decision=_decision_pb(decision))


# The administrative log

def _admin_event_pb(entry: LogEntry) -> admin_log_pb2.AdminEvent:
    return admin_log_pb2.AdminEvent(
        id=entry.event_id, seq=entry.seq, time=to_timestamp(entry.time), service=entry.service,
        actor_system_id=entry.actor_system_id, actor_department_code=entry.actor_department_code,
        action=entry.action, target=entry.target, details_json=entry.details, result=entry.result, hash=entry.hash)


_LOG_STATES = {checkpoints.INTACT: admin_log_pb2.ADMIN_LOG_STATE_INTACT,
               checkpoints.TRUNCATED: admin_log_pb2.ADMIN_LOG_STATE_TRUNCATED,
               checkpoints.VANISHED: admin_log_pb2.ADMIN_LOG_STATE_VANISHED,
               checkpoints.BROKEN: admin_log_pb2.ADMIN_LOG_STATE_BROKEN}
#: Held checkpoints' hash and key id: what the platform writes, with room to spare (never NUL, which
#: PostgreSQL text cannot hold).
_MAX_CHECKPOINT_TEXT = 128


def _checkpoint_pb(checkpoint: checkpoints.Checkpoint) -> admin_log_pb2.AdminLogCheckpoint:
    return admin_log_pb2.AdminLogCheckpoint(sequence=checkpoint.seq, hash=checkpoint.hash,
                                            time=to_timestamp(checkpoint.time), key_id=checkpoint.key_id,
                                            signature=checkpoint.signature)


def _held_checkpoints(request: admin_log_pb2.VerifyAdminLogRequest
                      ) -> tuple[list[checkpoints.Checkpoint], list[FieldViolation]]:
    """The auditor's own checkpoints, as the verifier reads them (their signatures are checked later), and what
    is wrong with them (raised once the caller is known to be the authority)."""
    problems: list[FieldViolation] = []
    held = []
    for index, given in enumerate(request.checkpoints):
        path = f"checkpoints[{index}]"
        time = _time(given, "time", f"{path}.time", problems)
        if not given.HasField("time"):
            problems.append(FieldViolation(f"{path}.time", "is required"))
        if given.sequence <= 0:
            problems.append(FieldViolation(f"{path}.sequence", "must be positive"))
        for name in ("hash", "key_id"):
            value = getattr(given, name)
            if len(value) > _MAX_CHECKPOINT_TEXT or "\x00" in value:
                problems.append(FieldViolation(f"{path}.{name}", f"at most {_MAX_CHECKPOINT_TEXT} characters, no NUL"))
        if time is not None:
            held.append(checkpoints.Checkpoint(CHAIN_ID, given.sequence, given.hash, time, False, given.key_id,
                                               given.signature))
    return held, problems


class AdminLogServicer(admin_log_pb2_grpc.AdminLogServiceServicer):
    """The authority's view of the administrative log."""

    def __init__(self, verifier: AssertionVerifier, log: AdminLog) -> None:
        self._verifier = verifier
        self._log = log

    async def ListAdminEvents(self, request: admin_log_pb2.ListAdminEventsRequest, context: Context
                              ) -> admin_log_pb2.ListAdminEventsResponse:
        caller = self._verifier.from_context(context)
        problems: list[FieldViolation] = []
        department = typed_department_code(request.actor_department_code)
        if department != request.actor_department_code:  # its page tokens bound to the code as read
            bound = admin_log_pb2.ListAdminEventsRequest()
            bound.CopyFrom(request)
            bound.actor_department_code = department
            bind_tokens_to(bound)
        where = AdminLogFilter(actor_department_code=department or None,
                               action=request.action.strip() or None,
                               start_time=_time(request, "start_time", "start_time", problems),
                               end_time=_time(request, "end_time", "end_time", problems))
        if problems:
            raise invalid_argument(problems)
        rows, token = await self._log.list(caller, where, request.page_size, request.page_token)
        return admin_log_pb2.ListAdminEventsResponse(events=[_admin_event_pb(r) for r in rows],
                                                     next_page_token=token)

    async def VerifyAdminLog(self, request: admin_log_pb2.VerifyAdminLogRequest, context: Context
                             ) -> admin_log_pb2.VerifyAdminLogResponse:
        caller = self._verifier.from_context(context)
        held, problems = _held_checkpoints(request)
        result = await self._log.verify(caller, held, problems)
        return admin_log_pb2.VerifyAdminLogResponse(
            intact=result.intact, checked_count=result.checked, first_broken_seq=result.first_broken_seq,
            problem=result.problem, head_hash=result.head_hash, state=_LOG_STATES[result.state],
            last_matching_checkpoint=_checkpoint_pb(result.matched) if result.matched else None,
            unsigned_count=result.unsigned,
            forged_checkpoints=[admin_log_pb2.ForgedAdminLogCheckpoint(checkpoint=_checkpoint_pb(f.checkpoint),
                                                                       reason=f.reason) for f in result.forged])

    async def ExportAdminLogCheckpoints(self, request: admin_log_pb2.ExportAdminLogCheckpointsRequest,
                                        context: Context) -> admin_log_pb2.ExportAdminLogCheckpointsResponse:
        caller = self._verifier.from_context(context)
        found, token = await self._log.export_checkpoints(caller, request.page_size, request.page_token)
        signer = self._log.signer
        return admin_log_pb2.ExportAdminLogCheckpointsResponse(
            checkpoints=[_checkpoint_pb(c) for c in found], next_page_token=token, key_id=signer.key_id,
            public_key_pem=checkpoints.public_pem(signer.public_key))


class AdminLogIntakeServicer(authorization_pb2_grpc.AdminLogIntakeServiceServicer):
    """Internal: the other services' outbox relays deliver here."""

    def __init__(self, verifier: AssertionVerifier, log: AdminLog) -> None:
        self._verifier = verifier
        self._log = log

    async def AppendEvents(self, request: authorization_pb2.AppendEventsRequest, context: Context
                           ) -> authorization_pb2.AppendEventsResponse:
        caller = self._verifier.from_context(context)
        problems: list[FieldViolation] = []
        events = []
        for index, given in enumerate(request.events):
            time = _time(given, "time", f"events[{index}].time", problems)
            if not given.HasField("time"):
                problems.append(FieldViolation(f"events[{index}].time", "is required"))
            events.append(AdminEvent(action=given.action, target=given.target, actor_system_id=given.actor_system_id,
                                     actor_department_code=given.actor_department_code,
                                     details=_details(given.details_json, index, problems), result=given.result,
                                     event_id=given.id, time=time or dt.datetime.now(dt.UTC)))
        if problems:
            raise invalid_argument(problems)
        return authorization_pb2.AppendEventsResponse(appended_count=await self._log.append(caller, events))


def _details(text: str, index: int, problems: list[FieldViolation]) -> dict:
    """The details object of a delivered event (kept as the sender's canonical JSON)."""
    try:
        value = json.loads(text or "{}")
    except ValueError:
        value = None
    if not isinstance(value, dict):
        problems.append(FieldViolation(f"events[{index}].details_json", "must be a JSON object"))
        return {}
    return value
