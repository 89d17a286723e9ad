"""Typed stubs of govshare/authorization/v1/token.proto (written by scripts/typed_stubs.py: do not edit)."""

from typing import Any

from govshare_client import calls

import grpc
import grpc.aio
import govshare_client.pb.authorization.v1.token_pb2 as _govshare_client_pb_authorization_v1_token_pb2

GRPC_GENERATED_VERSION: str
GRPC_VERSION: str


class TokenServiceStub:
    """Issues signed bearer tokens to business systems (client-credentials style).
    The gateway lets IssueToken through without a token: the system's secret authenticates it.
    """
    def __init__(self, channel: grpc.Channel) -> None: ...

    IssueToken: calls.UnaryUnary[_govshare_client_pb_authorization_v1_token_pb2.IssueTokenRequest, _govshare_client_pb_authorization_v1_token_pb2.IssueTokenResponse]


class TokenServiceAsyncStub:
    """Issues signed bearer tokens to business systems (client-credentials style).
    The gateway lets IssueToken through without a token: the system's secret authenticates it.
    """
    def __init__(self, channel: grpc.aio.Channel) -> None: ...

    IssueToken: calls.AsyncUnaryUnary[_govshare_client_pb_authorization_v1_token_pb2.IssueTokenRequest, _govshare_client_pb_authorization_v1_token_pb2.IssueTokenResponse]


class TokenServiceServicer:
    def IssueToken(self, request: _govshare_client_pb_authorization_v1_token_pb2.IssueTokenRequest, context: Any) -> Any: ...


def add_TokenServiceServicer_to_server(servicer: TokenServiceServicer, server: Any) -> None: ...


class TokenService:
    IssueToken: Any
