"""The platform as the 前置机 calls it (change notices, `govshare submit-entry`): through its edge, as the
department's business system, with a token issued for that system's secret."""

from __future__ import annotations

from pathlib import Path

import grpc

from frontproc.config import ConfigError, FrontprocConfig
from govshare.authorization.v1 import token_pb2, token_pb2_grpc

#: Statuses that say the platform did not answer the call (its edge, or the service behind it, unreachable or
#: too slow), not that it refused it.
_NOT_ANSWERED = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def platform_secret(config: FrontprocConfig) -> str:
    """The system's secret as it is now: a secret_file is read again for every notice, so a secret the department
    rotates (RotateSystemSecret, the new one written to the file) is used at once by the running 前置机, which
    otherwise went on sending the old one, every change notice refused until it was restarted (the platform
    meanwhile answering the changed records from its copies). The secret read at start while the file cannot be
    read now."""
    if config.platform_secret_file:
        try:
            with open(config.platform_secret_file, encoding="utf-8-sig") as file:
                return file.read().strip() or config.platform_secret
        except (OSError, ValueError):
            pass
    return config.platform_secret


def edge_channel(config: FrontprocConfig) -> grpc.aio.Channel:
    """A channel to the platform's edge: TLS, checked against platform.edge_ca_file (else the system's roots),
    unless the configuration says the edge speaks plaintext (FrontprocConfig.platform_edge_tls)."""
    if not config.platform_edge_tls:
        return grpc.aio.insecure_channel(config.platform_edge)
    try:
        roots = Path(config.platform_edge_ca).read_bytes() if config.platform_edge_ca else None
    except OSError as exc:
        raise ConfigError(f"{config.path}: platform.edge_ca_file: cannot read {config.platform_edge_ca} "
                          f"({exc.strerror})") from None
    return grpc.aio.secure_channel(config.platform_edge, grpc.ssl_channel_credentials(roots))


def require_platform(config: FrontprocConfig, doing: str) -> None:
    """Refuses, before any call, a configuration that does not say how to reach the platform."""
    if not (config.platform_edge and config.platform_system_id and config.platform_secret):
        raise ConfigError(f"{config.path}: platform.edge, platform.system_id and platform.secret (or secret_file) "
                          f"are needed to {doing}")


async def authorization(channel: grpc.aio.Channel, config: FrontprocConfig) -> tuple[tuple[str, str], ...]:
    """The call metadata of the department's system: a token issued now for its current secret."""
    issued = await token_pb2_grpc.TokenServiceStub(channel).IssueToken(
        token_pb2.IssueTokenRequest(system_id=config.platform_system_id, secret=platform_secret(config)), timeout=10)
    return (("authorization", f"Bearer {issued.token}"),)


def tls_advice(config: FrontprocConfig, error: grpc.aio.AioRpcError) -> str:
    """What to set when the call failed its TLS handshake with the edge ("" otherwise): gRPC says only
    CERTIFICATE_VERIFY_FAILED, or WRONG_VERSION_NUMBER (TLS spoken to a plaintext edge)."""
    details = error.details() or ""
    if "CERTIFICATE_VERIFY_FAILED" in details:
        trusted = f"the CA in {config.platform_edge_ca}" if config.platform_edge_ca else "the system's roots"
        return (f"the edge's certificate is not one {trusted} issued: give the certificate of the CA that issued the "
                "edge's (the platform's operator has it) as platform.edge_ca_file")
    if "WRONG_VERSION_NUMBER" in details and config.platform_edge_tls:
        return "the edge does not speak TLS: for an edge that speaks plaintext, set platform.edge_plaintext: true"
    return ""


def failure(command: str, refuser: str, config: FrontprocConfig, error: grpc.aio.AioRpcError) -> str:
    """The command's one line for a failed call. The platform down (or its edge's address wrong) was said as
    "the platform refused: UNAVAILABLE", which sent the officer to look for what the platform disliked."""
    said = f"{error.code().name}: {error.details()}"
    if advice := tls_advice(config, error):
        return f"govshare {command}: the platform at {config.platform_edge} could not be reached ({said}): {advice}"
    if error.code() in _NOT_ANSWERED:
        return (f"govshare {command}: the platform at {config.platform_edge} did not answer ({said}): is it running, "
                "and is platform.edge its edge's address?")
    return f"govshare {command}: the {refuser} refused: {said}"
