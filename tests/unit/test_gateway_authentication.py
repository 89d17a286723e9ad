"""Bearer tokens and the metadata a client may pass through the gateway."""

from __future__ import annotations

import grpc
import pytest

from gateway.authentication import ANONYMOUS, DROPPED_KEYS, Authenticator, bearer_token, inbound
from services.runtime.errors import ServiceError
from services.runtime.identity import Caller
from services.runtime.keys import PlatformKeys, generate_keys
from services.runtime.tokens import TokenVerifier, issue_token


def test_identity_headers_and_the_credential_are_stripped() -> None:
    metadata = (
        ("user-agent", "grpc-python"),
        ("authorization", "Bearer abc"),
        ("x-govshare-caller", "v1|sys-admin|000000000000|1|0"),
        ("x-govshare-caller-sig", "00"),
        ("x-govshare-anything", "x"),
        ("grpc-reserved", "x"),
        ("x-request-id", "r-1"),
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("x-blob-bin", b"\x00\xff"),
    )
    authorization, forwarded = inbound(metadata)
    assert authorization == "Bearer abc"
    assert forwarded == (
        ("x-request-id", "r-1"),
        ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        ("x-blob-bin", b"\x00\xff"),
    )


def test_the_caller_may_drop_more_keys() -> None:
    metadata = (("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"), ("x-request-id", "r-1"))
    assert inbound(metadata, DROPPED_KEYS | {"traceparent"}).forwarded == (("x-request-id", "r-1"),)


def test_nothing_to_forward_is_an_empty_tuple() -> None:
    assert inbound((("authorization", "Bearer abc"), ("user-agent", "ua"))) == ("Bearer abc", ())
    assert inbound(None) == (None, ())


def test_repeated_authorization_headers_read_as_malformed() -> None:
    authorization, _ = inbound((("authorization", "Bearer a"), ("authorization", "Bearer b")))
    with pytest.raises(ServiceError, match="exactly one"):
        bearer_token(authorization)


@pytest.mark.parametrize("header, token", [
    ("Bearer abc.def.ghi", "abc.def.ghi"),
    ("bearer abc", "abc"),
    ("BEARER   abc  ", "abc"),
])
def test_the_bearer_scheme_is_case_insensitive(header: str, token: str) -> None:
    assert bearer_token(header) == token


def test_a_missing_token_says_how_to_get_one() -> None:
    with pytest.raises(ServiceError) as raised:
        bearer_token(None)
    assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.message == (
        "missing bearer token: send 'authorization: Bearer <token>' obtained from "
        "govshare.authorization.v1.TokenService/IssueToken")


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer ", "Basic abc", "abc", "Bearer a b", "Bearer a,b"])
def test_malformed_headers_are_unauthenticated(header: str) -> None:
    with pytest.raises(ServiceError) as raised:
        bearer_token(header)
    assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert "malformed authorization header" in raised.value.message


def test_a_valid_token_yields_its_caller(keys: PlatformKeys) -> None:
    who = Caller("sys-1", "110000000001", True)
    token = issue_token(keys.token_private_key, who, 600).token
    assert Authenticator(TokenVerifier(keys.token_public_key)).caller(f"Bearer {token}") == who


@pytest.mark.parametrize("signer, ttl, reason", [("other", 600, "invalid"), ("platform", -5, "expired")])
def test_bad_tokens_say_why(keys: PlatformKeys, signer: str, ttl: int, reason: str) -> None:
    private = keys.token_private_key if signer == "platform" else generate_keys().token_private_key
    token = issue_token(private, Caller("sys-1", "110000000001"), ttl).token
    with pytest.raises(ServiceError) as raised:
        Authenticator(TokenVerifier(keys.token_public_key)).caller(f"Bearer {token}")
    assert raised.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert reason in raised.value.message


def test_the_anonymous_caller_is_not_a_service() -> None:
    assert (ANONYMOUS.system_id, ANONYMOUS.department_code, ANONYMOUS.authority) == ("anonymous", "", False)
    assert not ANONYMOUS.is_service
