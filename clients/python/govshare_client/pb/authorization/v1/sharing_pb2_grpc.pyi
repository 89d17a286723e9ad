"""Typed stubs of govshare/authorization/v1/sharing.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.authorization.v1.sharing_pb2 as _govshare_client_pb_authorization_v1_sharing_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class SharingServiceStub:
    """Applications for conditional resources, grants and coordination (DOMAIN §4)."""
    def __init__(self, channel: grpc.Channel) -> None: ...

    SubmitApplication: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.SubmitApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.SubmitApplicationResponse]
    """A user department applies for a conditional (or, for escalation, not-shared) resource."""
    GetApplication: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.GetApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.GetApplicationResponse]
    ListApplications: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.ListApplicationsRequest, _govshare_client_pb_authorization_v1_sharing_pb2.ListApplicationsResponse]
    """Applications the caller's department made or received; the authority sees all."""
    ReplyApplication: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.ReplyApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.ReplyApplicationResponse]
    """The provider approves (possibly narrowing) or refuses with a reason."""
    EscalateApplication: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.EscalateApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.EscalateApplicationResponse]
    """The applicant escalates a refused or not-shared request to the authority."""
    WithdrawApplication: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.WithdrawApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.WithdrawApplicationResponse]
    """The applicant withdraws an application nobody has decided yet (SUBMITTED, or ESCALATED and not yet
    coordinated): one made by mistake, or no longer needed, is ended instead of being left for the provider or the
    authority to answer (or to fall overdue). To change what was asked, withdraw it and apply again.
    """
    RecordCoordinationDecision: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.RecordCoordinationDecisionRequest, _govshare_client_pb_authorization_v1_sharing_pb2.RecordCoordinationDecisionResponse]
    """The authority records a coordination decision (grant or final refusal) (Art. 12)."""
    GetGrant: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.GetGrantRequest, _govshare_client_pb_authorization_v1_sharing_pb2.GetGrantResponse]
    ListGrants: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.ListGrantsRequest, _govshare_client_pb_authorization_v1_sharing_pb2.ListGrantsResponse]
    UpdateGrant: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.UpdateGrantRequest, _govshare_client_pb_authorization_v1_sharing_pb2.UpdateGrantResponse]
    """The provider adjusts a grant's scope (003 Art. 11)."""
    RevokeGrant: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.RevokeGrantRequest, _govshare_client_pb_authorization_v1_sharing_pb2.RevokeGrantResponse]
    """Revokes a grant; effective on the next query."""
    SetGrantConfidentiality: calls.UnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.SetGrantConfidentialityRequest, _govshare_client_pb_authorization_v1_sharing_pb2.SetGrantConfidentialityResponse]
    """Marks a grant confidential (e.g. an investigation) until a release time, or lifts the mark: the accesses
    made under it are withheld from the persons' view until then (docs/api.md); the provider or the authority.
    """


class SharingServiceAsyncStub:
    """Applications for conditional resources, grants and coordination (DOMAIN §4)."""
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    SubmitApplication: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.SubmitApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.SubmitApplicationResponse]
    """A user department applies for a conditional (or, for escalation, not-shared) resource."""
    GetApplication: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.GetApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.GetApplicationResponse]
    ListApplications: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.ListApplicationsRequest, _govshare_client_pb_authorization_v1_sharing_pb2.ListApplicationsResponse]
    """Applications the caller's department made or received; the authority sees all."""
    ReplyApplication: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.ReplyApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.ReplyApplicationResponse]
    """The provider approves (possibly narrowing) or refuses with a reason."""
    EscalateApplication: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.EscalateApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.EscalateApplicationResponse]
    """The applicant escalates a refused or not-shared request to the authority."""
    WithdrawApplication: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.WithdrawApplicationRequest, _govshare_client_pb_authorization_v1_sharing_pb2.WithdrawApplicationResponse]
    """The applicant withdraws an application nobody has decided yet (SUBMITTED, or ESCALATED and not yet
    coordinated): one made by mistake, or no longer needed, is ended instead of being left for the provider or the
    authority to answer (or to fall overdue). To change what was asked, withdraw it and apply again.
    """
    RecordCoordinationDecision: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.RecordCoordinationDecisionRequest, _govshare_client_pb_authorization_v1_sharing_pb2.RecordCoordinationDecisionResponse]
    """The authority records a coordination decision (grant or final refusal) (Art. 12)."""
    GetGrant: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.GetGrantRequest, _govshare_client_pb_authorization_v1_sharing_pb2.GetGrantResponse]
    ListGrants: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.ListGrantsRequest, _govshare_client_pb_authorization_v1_sharing_pb2.ListGrantsResponse]
    UpdateGrant: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.UpdateGrantRequest, _govshare_client_pb_authorization_v1_sharing_pb2.UpdateGrantResponse]
    """The provider adjusts a grant's scope (003 Art. 11)."""
    RevokeGrant: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.RevokeGrantRequest, _govshare_client_pb_authorization_v1_sharing_pb2.RevokeGrantResponse]
    """Revokes a grant; effective on the next query."""
    SetGrantConfidentiality: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_sharing_pb2.SetGrantConfidentialityRequest, _govshare_client_pb_authorization_v1_sharing_pb2.SetGrantConfidentialityResponse]
    """Marks a grant confidential (e.g. an investigation) until a release time, or lifts the mark: the accesses
    made under it are withheld from the persons' view until then (docs/api.md); the provider or the authority.
    """


class SharingServiceServicer:
    def SubmitApplication(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.SubmitApplicationRequest, context: Any) -> Any: ...
    def GetApplication(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.GetApplicationRequest, context: Any) -> Any: ...
    def ListApplications(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.ListApplicationsRequest, context: Any) -> Any: ...
    def ReplyApplication(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.ReplyApplicationRequest, context: Any) -> Any: ...
    def EscalateApplication(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.EscalateApplicationRequest, context: Any) -> Any: ...
    def WithdrawApplication(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.WithdrawApplicationRequest, context: Any) -> Any: ...
    def RecordCoordinationDecision(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.RecordCoordinationDecisionRequest, context: Any) -> Any: ...
    def GetGrant(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.GetGrantRequest, context: Any) -> Any: ...
    def ListGrants(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.ListGrantsRequest, context: Any) -> Any: ...
    def UpdateGrant(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.UpdateGrantRequest, context: Any) -> Any: ...
    def RevokeGrant(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.RevokeGrantRequest, context: Any) -> Any: ...
    def SetGrantConfidentiality(self, request: _govshare_client_pb_authorization_v1_sharing_pb2.SetGrantConfidentialityRequest, context: Any) -> Any: ...


def add_SharingServiceServicer_to_server(servicer: SharingServiceServicer, server: Any) -> None: ...


class SharingService:
    SubmitApplication: Any
    GetApplication: Any
    ListApplications: Any
    ReplyApplication: Any
    EscalateApplication: Any
    WithdrawApplication: Any
    RecordCoordinationDecision: Any
    GetGrant: Any
    ListGrants: Any
    UpdateGrant: Any
    RevokeGrant: Any
    SetGrantConfidentiality: Any
