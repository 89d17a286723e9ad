"""One exception hierarchy for every failed call, decoded from the ``grpc-status-details-bin`` trailer.

The platform puts a ``google.rpc.Status`` in that trailer with an ``ErrorInfo`` (the machine-readable
``reason``, e.g. ``NOT_GRANTED``), for bad input one ``BadRequest`` listing every field violation, and for a
rate limit a ``RetryInfo``. A business system should branch on the exception class and ``reason``, never on
the message text (which is for people and may change).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


class GovshareError(grpc.RpcError):
    """A call the platform (or the network on the way to it) did not answer.

    It is a ``grpc.RpcError``, so existing ``except grpc.RpcError`` handlers still catch it; but ``code`` is an
    attribute here (a ``grpc.StatusCode``), not the ``code()`` method of a raw gRPC error.
    """

    def __init__(self, code: grpc.StatusCode, message: str, *, reason: str = "", domain: str = "",
                 metadata: Mapping[str, str] | None = None,
                 field_violations: Sequence[tuple[str, str]] = (), retry_delay: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        #: ``ErrorInfo.reason``: what went wrong, as a stable UPPER_SNAKE word (``""`` when the status had none).
        self.reason = reason
        #: ``ErrorInfo.domain``: which service said so (e.g. ``query.govshare``).
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})
        #: Every ``BadRequest`` violation as ``(field, description)``, fields as dotted paths (``purpose.type``).
        self.field_violations: list[tuple[str, str]] = list(field_violations)
        #: Seconds the platform asked to wait before retrying (``RetryInfo``), or None when it did not say.
        self.retry_delay = retry_delay

    @property
    def audit_id(self) -> str:
        """The access record the platform wrote of this call (``metadata["audit_id"]``: a refused or failed query,
        verification or export is recorded too), ``""`` when none names one. Quote it to the platform's operator."""
        return self.metadata.get("audit_id", "")

    def __reduce__(self) -> tuple[type[GovshareError], tuple[grpc.StatusCode, str], dict[str, object]]:
        """Pickled and copied whole: a worker of a ``ProcessPoolExecutor`` or ``multiprocessing.Pool`` hands its
        exception back pickled, and the default (the message alone as the constructor's arguments) failed to
        unpickle, which broke the pool and lost every other task's answer."""
        return type(self), (self.code, self.message), dict(self.__dict__)

    def __str__(self) -> str:
        reason = f" {self.reason}" if self.reason and self.reason != self.code.name else ""
        return f"{self.code.name}{reason}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, reason={self.reason!r}, message={self.message!r})"


class Unauthenticated(GovshareError):
    """No, a malformed, an expired or a wrong token, or a wrong system id or secret."""


class PermissionDenied(GovshareError):
    """Refused by authorisation: ``reason`` says why (``NOT_GRANTED``, ``PURPOSE_NOT_GRANTED``, ``NOT_SHARED``…)."""


class InvalidArgument(GovshareError):
    """Bad input: ``field_violations`` lists every field to fix."""


class NotFound(GovshareError):
    """No such resource, or no record for the key."""


class AlreadyExists(GovshareError):
    """The object to create exists already."""


class FailedPrecondition(GovshareError):
    """The object is not in a state that allows the call."""


class Aborted(GovshareError):
    """Another change came first: ``reason`` ``ETAG_MISMATCH`` when the object changed since it was read (an
    ``UpdateEntry`` with its ``etag``): read it again and redo the change."""


class ResourceExhausted(GovshareError):
    """Rate limit or quota: wait ``retry_delay`` seconds when given."""


class Unavailable(GovshareError):
    """The platform or one of its dependencies is down or unreachable: try again later."""


class DeadlineExceeded(GovshareError):
    """No answer within the call's deadline."""


_CLASSES: dict[grpc.StatusCode, type[GovshareError]] = {
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Aborted,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def _status_of(trailers: Sequence[tuple[str, str | bytes]] | None) -> status_pb2.Status | None:
    for key, value in trailers or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except Exception:  # a trailer we cannot read must not hide the status code itself
                return None
            return status
    return None


#: gRPC's words when the server closed the connection with HTTP/2's COMPRESSION_ERROR (9): the edge does so to a
#: request whose headers are more than it takes (60 KiB, docs/api.md). It is about this request, not the network:
#: sent again, it is refused again.
HEADERS_REFUSED = "GOAWAY received; Error code: 9;"

#: What a TLS client told the edge's certificate names another host than the one it dials is to change.
_NAME_HINT = ("the edge's certificate is not issued for the host this client dials: give endpoint= or "
              "GOVSHARE_ENDPOINT the host name the certificate names, not an IP address or another alias of the edge")

#: What a TLS client told the edge's certificate is out of its validity is to do. It was told to give
#: root_certificates= (the words of any CERTIFICATE_VERIFY_FAILED): its developer looked for another CA file, where the
#: platform's operator has a certificate to renew, or this machine's clock is wrong.
_EXPIRED_HINT = ("the edge's certificate is out of its validity by this machine's clock: if the clock is right, ask "
                 "the platform's operator to renew the edge's certificate; root_certificates= cannot mend it")

#: A failed connection's words (OpenSSL's, gRPC's) that do not say which setting to change, and what to change.
_CONNECTION_HINTS = (
    (HEADERS_REFUSED, "the edge closed the connection over this call's request headers, more than it takes (60 KiB, "
                      "the metadata and the token included): sending them again fails the same way; send less "
                      "in metadata"),
    ("WRONG_VERSION_NUMBER", "the edge does not speak TLS: for a platform on your own machine give plaintext=True "
                             "or set GOVSHARE_PLAINTEXT=1"),
    # Before CERTIFICATE_VERIFY_FAILED, whose words they follow: a CA file is not what is wrong.
    ("certificate has expired", _EXPIRED_HINT),
    ("certificate is not yet valid", _EXPIRED_HINT),
    ("CERTIFICATE_VERIFY_FAILED", "this client does not trust the edge's certificate: give root_certificates= or "
                                  "set GOVSHARE_ROOT_CA to the PEM file of the CA that signed it"),
    # gRPC's words alone, naming no setting: an edge reached by its IP address or another alias than its certificate's
    # name (older gRPC: "Peer name … is not in peer certificate").
    ("Hostname Verification Check failed", _NAME_HINT),
    ("is not in peer certificate", _NAME_HINT),
    # A wrong address: these were gRPC's words alone, naming no setting (and the HTTP/1 one "UNIMPLEMENTED").
    ("Connection refused", "nothing accepts connections there: is the platform running, and is that the edge's "
                           "host:port (endpoint= or GOVSHARE_ENDPOINT)?"),
    ("Domain name not found", "no such host: check the edge's host name in endpoint= or GOVSHARE_ENDPOINT"),
    ("Trying to connect an http1.x server", "an HTTP/1 server answers there, not the platform's gRPC edge (the "
                                            "console's address?): give the edge's host:port in endpoint= or "
                                            "GOVSHARE_ENDPOINT"),
)

#: Said of an endpoint that does not serve TokenService.IssueToken, the first call of every client: a gRPC server
#: that is not the platform's edge (a service's or a 前置机's own port, another program), which answered
#: "UNIMPLEMENTED: Method not found!" and nothing more.
NOT_THE_EDGE = ("this address does not serve TokenService.IssueToken, so it is not the platform's edge (a service's "
                "or a 前置机's own port?): give the edge's host:port in endpoint= or GOVSHARE_ENDPOINT (`govshare up` "
                "prints it as gRPC)")


#: The reasons of a business system's token refused after an incident (docs/api.md's error table). A program
#: branches on them, not on the message: SYSTEM_DISABLED, stop and ask the authority (no token is issued);
#: SECRET_ROTATED, the secret held is the replaced one (the client tries it once, in case it is the new one);
#: TOKEN_PREDATES_DISABLE, issued before a disable since lifted (the client gets a new token, as for an expired one).
SYSTEM_DISABLED = "SYSTEM_DISABLED"
SECRET_ROTATED = "SECRET_ROTATED"
TOKEN_PREDATES_DISABLE = "TOKEN_PREDATES_DISABLE"

#: What a disabled system's refusal adds: the client asks for no new token (none would be issued), and who lifts it.
DISABLED_HINT = ("this client asks for no new token: none is issued to a disabled system until the authority's "
                 "管理员 (ADMINISTRATOR, 共享主管部门) enables it again with DirectoryService.EnableSystem; ask them, "
                 "retrying does not help")
#: What a rotated secret's refusal adds once the secret the client holds was refused too.
OLD_SECRET = ("the secret this client holds is the one the rotation replaced: give the client the system's new "
              "secret (secret=, or GOVSHARE_SYSTEM_SECRET), which whoever rotated it received (the authority's "
              "管理员, or the system's own automated rotation)")


def _with_reason_hint(code: grpc.StatusCode, reason: str, message: str) -> str:
    """``message``, followed by what to do when its reason is one no retry and no new token mends."""
    if code == grpc.StatusCode.UNAUTHENTICATED and reason == SYSTEM_DISABLED and DISABLED_HINT not in message:
        return f"{message} ({DISABLED_HINT})"
    return message


def issuance_error(error: GovshareError) -> GovshareError:
    """The error of a failed ``IssueToken``, saying the endpoint is not the edge when it does not serve it."""
    if error.code != grpc.StatusCode.UNIMPLEMENTED or NOT_THE_EDGE in error.message:
        return error
    return type(error)(error.code, f"{error.message} ({NOT_THE_EDGE})", reason=error.reason, domain=error.domain,
                       metadata=error.metadata, field_violations=error.field_violations,
                       retry_delay=error.retry_delay)


def _with_hint(code: grpc.StatusCode, message: str) -> str:
    """``message``, followed by what to change when it is a TLS handshake that failed for a client setting (a
    client left on TLS, its default, against `govshare up`'s plaintext edge read only "Tls handshake failed …
    WRONG_VERSION_NUMBER")."""
    if code != grpc.StatusCode.UNAVAILABLE:
        return message
    for words, hint in _CONNECTION_HINTS:
        if words in message:
            return f"{message} ({hint})"
    return message


#: gRPC's words for a stream the edge reset with HTTP/2's INTERNAL_ERROR (2): Envoy does so when the service behind
#: it goes away (killed, restarted, its pod evicted) after the call's headers were answered, an export's after its
#: first page; it can then send no status. gRPC calls it INTERNAL, which read as the platform's own bug, with no
#: reason and nothing saying to try again: live, an export cut by a restarting query service raised
#: "INTERNAL: Stream removed (RST_STREAM (Received RST_STREAM with error code 2))".
STREAM_RESET = "RST_STREAM with error code 2"
STREAM_RESET_HINT = ("the edge reset the stream: the platform's service behind it went away (restarting?) after the "
                     "call had begun, so whether it completed is unknown; a read may be made again, an export read "
                     "again from its start")


def _reset_on_the_way(code: grpc.StatusCode, message: str, status: status_pb2.Status | None) -> bool:
    """Whether the call was cut by the edge resetting its stream (:data:`STREAM_RESET`), not a status it sent."""
    return code == grpc.StatusCode.INTERNAL and status is None and STREAM_RESET in message


#: gRPC's and OpenSSL's words for a connection that failed because of a client setting, not the network: a TLS
#: client meeting a plaintext edge (WRONG_VERSION_NUMBER), an edge certificate the client does not trust or that
#: names another host than the one dialled, an HTTP/1 server at the address. The next attempt meets the same edge
#: with the same settings: a client retrying them to its deadline (about 3 s of pauses with the default policy)
#: kept the business system's developer waiting for the hint that says what to change.
SETTING_FAILURES = ("WRONG_VERSION_NUMBER", "CERTIFICATE_VERIFY_FAILED", "Hostname Verification Check failed",
                    "is not in peer certificate", "Trying to connect an http1.x server")


def failed_for_a_setting(error: GovshareError) -> bool:
    """Whether ``error`` is an UNAVAILABLE a client setting caused (:data:`SETTING_FAILURES`): no retry mends it."""
    return error.code == grpc.StatusCode.UNAVAILABLE and any(words in error.message for words in SETTING_FAILURES)


def refused_for_its_headers(error: GovshareError) -> bool:
    """Whether the edge closed the connection over the request's headers (:data:`HEADERS_REFUSED`): an
    UNAVAILABLE that no retry mends, which a client retrying it to its deadline turned into a DEADLINE_EXCEEDED
    saying nothing of the headers."""
    return error.code == grpc.StatusCode.UNAVAILABLE and HEADERS_REFUSED in error.message


def error_from_status(code: grpc.StatusCode, message: str,
                      trailers: Sequence[tuple[str, str | bytes]] | None) -> GovshareError:
    """The exception for a status code, its message and the call's trailing metadata."""
    reason = domain = ""
    metadata: dict[str, str] = {}
    violations: list[tuple[str, str]] = []
    retry_delay: float | None = None
    status = _status_of(trailers)
    if _reset_on_the_way(code, message, status):  # UNAVAILABLE as the service went away, retried where it may be
        code, message = grpc.StatusCode.UNAVAILABLE, f"{message} ({STREAM_RESET_HINT})"
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend((v.field, v.description) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_delay = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    cls = _CLASSES.get(code, GovshareError)
    return cls(code, _with_reason_hint(code, reason, _with_hint(code, message)), reason=reason, domain=domain,
               metadata=metadata, field_violations=violations, retry_delay=retry_delay)


def from_rpc_error(error: grpc.RpcError) -> GovshareError:
    """The GovshareError for a raw gRPC error (e.g. one raised while iterating a server stream)."""
    if isinstance(error, GovshareError):
        return error
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN  # type: ignore[attr-defined]
    message = error.details() if hasattr(error, "details") else str(error)  # type: ignore[attr-defined]
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None  # type: ignore[attr-defined]
    return error_from_status(code, message or "", trailers)
