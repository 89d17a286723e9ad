"""Wiring of the authorization service: store, catalog lookup, event bus, workflows and servicers."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import grpc

from gateway.routing import PUBLIC_SERVICES
from govshare.authorization.v1 import (
    admin_log_pb2_grpc,
    authorization_pb2_grpc,
    directory_pb2_grpc,
    figures_pb2,
    figures_pb2_grpc,
    persons_pb2_grpc,
    roles_pb2_grpc,
    sharing_pb2_grpc,
    subject_access_policy_pb2_grpc,
    token_pb2_grpc,
)
from services.authorization import admin_log, credentials, figures, person_credentials
from services.authorization.admin_log import AdminLog
from services.authorization.authorizer import Authorizer
from services.authorization.closing import RetiredClosing
from services.authorization.directory import Directory
from services.authorization.disputes import OpenDisputes
from services.authorization.entries import EntryLookup
from services.authorization.jwks_endpoint import JwksEndpoint
from services.authorization.oidc import OidcVerifier
from services.authorization.person_store import PersonStore
from services.authorization.persons import Persons
from services.authorization.persons_servicer import PersonServicer, SessionServicer
from services.authorization.policy_events import PolicyEvents
from services.authorization.servicer import (
    AdminLogIntakeServicer,
    AdminLogServicer,
    AuthorizationServicer,
    DirectoryServicer,
    SharingServicer,
    TokenServicer,
)
from services.authorization.sessions import Sessions
from services.authorization.sharing import Sharing
from services.authorization.store import Store
from services.authorization.subject_access import SubjectAccessPolicy
from services.authorization.subject_access_servicer import RoleServicer, SubjectAccessPolicyServicer
from services.runtime import workdays
from services.runtime.callers import caller_verifier
from services.runtime.checkpoints import Checkpoint, Checkpointer, CheckpointSigner, CheckpointVerifier
from services.runtime.figures import FigureRow, FigureSource, FiguresServicer
from services.runtime.keys import ed25519_private_key, ed25519_public_keys
from services.runtime.person_secrets import TotpSealer
from services.runtime.settings import Settings
from services.runtime.system_states_watch import SystemStatesWatch

log = logging.getLogger(__name__)


class AuthorizationComponent:
    """Departments, systems, tokens, applications, grants, the access decision and the administrative log."""

    name = "authorization"
    service_names = (
        "govshare.authorization.v1.DirectoryService",
        "govshare.authorization.v1.TokenService",
        "govshare.authorization.v1.SharingService",
        "govshare.authorization.v1.AuthorizationService",
        "govshare.authorization.v1.AdminLogService",
        "govshare.authorization.v1.AdminLogIntakeService",
        "govshare.authorization.v1.SharingFiguresService",
        "govshare.authorization.v1.RoleService",
        "govshare.authorization.v1.SubjectAccessPolicyService",
        "govshare.authorization.v1.SessionService",
        "govshare.authorization.v1.PersonService",
    )
    #: The edge routes reflection here (gateway.routing.EDGE_COMPANION): it lists every public service (their
    #: descriptors are loaded by gateway.routing) and nothing internal.
    reflected_services = tuple(PUBLIC_SERVICES)

    def __init__(self, settings: Settings) -> None:
        if problem := credentials.signing_key_problem(settings.token_private_key):
            raise ValueError(problem)
        self._settings = settings
        self._store = Store()
        self._entries = EntryLookup(settings)
        self._events = PolicyEvents()
        #: Tokens of disabled systems and rotated secrets are refused here too (the edge cannot ask); the states
        #: come from this service's own store.
        self._states = SystemStatesWatch(settings, self.name)
        self._verifier = caller_verifier(settings, check=self._states.check)
        self._disputes = OpenDisputes(settings)
        self._sharing = Sharing(self._store, self._entries, self._events, settings)
        #: Applications of a resource are closed when its retirement is announced, and all at start.
        self._closing = RetiredClosing(self._sharing)
        self._entries.watch(self._closing.changed)
        self._directory = Directory(self._store, settings, self._events, self._entries, self._disputes,
                                    self._sharing.close_retired)
        # The log's checkpoints are signed with the platform's token signing key, which authorization alone
        # holds (the chart gives it no other key), under the log's own context so that no signature made for
        # a token or for another log can pass for one (docs/architecture.md). Verified with every token public
        # key, current or retired: a key dropped from GOVSHARE_TOKEN_PUBLIC_KEY (a rotation's last step, or at
        # once when it leaked, so that its tokens are refused) still vouches for the checkpoints it signed before.
        signer = CheckpointSigner(ed25519_private_key(settings.token_private_key), admin_log.CONTEXT)
        trusted = [key for pem in (settings.token_public_key, settings.token_retired_public_keys) if pem
                   for key in ed25519_public_keys(pem)]
        self._admin_log = AdminLog(self._store, signer,
                                   CheckpointVerifier([signer.public_key, *trusted], admin_log.CONTEXT,
                                                      admin_log.TRUSTED_KEYS))
        self._checkpointer: Checkpointer | None = None
        self._authorizer = Authorizer(self._store, self._entries, settings)
        #: The token keys for the edge (GOVSHARE_JWKS_LISTEN); served from start, while dependencies come up.
        self.jwks = JwksEndpoint(settings)
        self._subject_access = SubjectAccessPolicy(self._store)
        self._person_store = person_store = PersonStore(self._store)
        self._sealer = TotpSealer(settings.person_secret_key) if settings.person_secret_key else None
        self._persons = Persons(self._store, person_store, self._events, self._sealer)
        self._sessions = Sessions(person_store, self._persons, self._events, settings,
                                  OidcVerifier.from_settings(settings), self._sealer)

    def register(self, server: grpc.aio.Server) -> None:
        verifier = self._verifier
        directory_pb2_grpc.add_DirectoryServiceServicer_to_server(DirectoryServicer(verifier, self._directory), server)
        token_pb2_grpc.add_TokenServiceServicer_to_server(TokenServicer(verifier, self._directory), server)
        sharing_pb2_grpc.add_SharingServiceServicer_to_server(
            SharingServicer(verifier, self._sharing, self._subject_access), server)
        authorization_pb2_grpc.add_AuthorizationServiceServicer_to_server(
            AuthorizationServicer(verifier, self._authorizer, self._directory), server)
        admin_log_pb2_grpc.add_AdminLogServiceServicer_to_server(AdminLogServicer(verifier, self._admin_log), server)
        authorization_pb2_grpc.add_AdminLogIntakeServiceServicer_to_server(
            AdminLogIntakeServicer(verifier, self._admin_log), server)
        roles_pb2_grpc.add_RoleServiceServicer_to_server(RoleServicer(verifier, self._subject_access), server)
        subject_access_policy_pb2_grpc.add_SubjectAccessPolicyServiceServicer_to_server(
            SubjectAccessPolicyServicer(verifier, self._subject_access), server)
        persons_pb2_grpc.add_SessionServiceServicer_to_server(
            SessionServicer(verifier, self._sessions, self._settings.signin_forwarders), server)
        persons_pb2_grpc.add_PersonServiceServicer_to_server(PersonServicer(verifier, self._persons), server)
        figures_pb2_grpc.add_SharingFiguresServiceServicer_to_server(
            FiguresServicer(verifier, self._figure_source, figures_pb2.ListDepartmentFiguresResponse), server)

    async def start(self) -> None:
        """Opens the pool and the event bus (raising while they are down), then the catalog lookup."""
        await self._close()
        await self.jwks.start()
        await self._store.open(self._settings.database_url, settings=self._settings)
        await self._events.open(self._settings.redis_url)
        await self._entries.open()
        self._disputes.open()
        await self._states.start(self._store.all_system_states)
        log.info("statutory calendar: %s", workdays.calendar_description())
        if report := (await self._sharing.recount_dues()).report("reply deadlines"):
            log.info(report)
        # Computed once off the event loop, so the first unknown system id is not answered faster or slower.
        await asyncio.to_thread(credentials.decoy_hash)
        await asyncio.to_thread(person_credentials.decoy_password_hash)
        if self._sealer is not None:
            sealed, unreadable = await self._person_store.seal_secrets(self._sealer)
            if sealed or unreadable:
                log.warning("persons' TOTP secrets: %d sealed under the current GOVSHARE_PERSON_SECRET_KEY, %d that "
                            "no listed key opens (those persons need ResetPersonTotp)", sealed, unreadable)
        self._checkpointer = Checkpointer(self._admin_log.signer, self._store.admin_log_head, lambda _: None,
                                          self._store.insert_admin_checkpoints,
                                          self._settings.audit_checkpoint_seconds, close_at_stop=False)
        self._checkpointer.start()

    async def checkpoint(self) -> list[Checkpoint]:
        """Signs and stores the administrative log's head now (what the timer does every interval)."""
        return await self._checkpointer.checkpoint() if self._checkpointer is not None else []

    async def until_ready(self) -> None:
        """Ready once the business systems' states are loaded: until then every token is refused."""
        await self._states.until_ready()

    async def stop(self) -> None:
        await self._close()
        await self.jwks.stop()

    async def _close(self) -> None:
        if self._checkpointer is not None:
            checkpointer, self._checkpointer = self._checkpointer, None
            try:  # the head at the stop; if it cannot be written, the last periodic one stands
                await checkpointer.stop()
            except Exception as exc:
                log.error("the administrative log's checkpoint at stop could not be written (%s)",
                          type(exc).__name__)
        await self._states.stop()
        await self._entries.close()
        await self._closing.stop()
        await self._disputes.close()
        await self._events.close()
        await self._store.close()

    def _figure_source(self) -> FigureSource:
        """Application and grant figures for supervision (R-SUP-1)."""
        store, entries, sharing = self._store, self._entries, self._sharing

        async def compute(_request: object, start: dt.datetime, end: dt.datetime) -> list[FigureRow]:
            # An application of a retired resource is no longer the provider's to answer: closed first (as of the
            # retirement), it is not counted as waiting, unless its reply had fallen due before the retirement.
            await sharing.close_retired()
            return await figures.department_figures(store, start, end, dt.datetime.now(dt.UTC), entries.retired_at)
        return compute


def create_component(settings: Settings) -> AuthorizationComponent:
    return AuthorizationComponent(settings)
