"""A small real OpenID Connect provider for the tests (issue 12): an HTTP server on a socket, shaped like a
Keycloak realm (``/realms/gov/protocol/openid-connect/...``), reduced to what the platform and the console rely on.

- ``certs``: the JWKS publishing its RSA signing key (and, after ``rotate``, the previous ones until withdrawn);
- ``auth``: the authorization endpoint: a sign-in page whose one button ("登录") posts back to it, as Keycloak's
  does (so the browser returns to the console from a page of the IdP's origin: a cross-site navigation); the
  post signs in as ``Idp.user`` (the test says who; ``None`` answers ``error=access_denied``) and redirects
  back with a one-time code and the state;
- ``token``: redeems a code for a public client: checks the client id, the redirect URI and the PKCE verifier
  against the S256 challenge (RFC 7636), and answers an RS256 ID token carrying the nonce;
- ``logout``: the end-session endpoint; records the call and redirects to ``post_logout_redirect_uri``.

Imported by tests/integration/test_oidc.py and the console's browser tests (not a fixture module: a conftest.py
in tests/integration/browser would shadow the integration one).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "govshare-console"
REALM = "/realms/gov"
PROTOCOL = f"{REALM}/protocol/openid-connect"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


@dataclass
class Grant:
    """An authorization code's context, checked when it is redeemed."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    username: str


@dataclass
class Idp:
    """A signing key, the JWKS that publishes it, the issuer URL and the flow's endpoints."""

    base: str
    key: rsa.RSAPrivateKey
    kid: str
    client_id: str = AUDIENCE
    #: Who the authorization endpoint signs in (None: the person declines, error=access_denied).
    user: str | None = None
    codes: dict[str, Grant] = field(default_factory=dict)
    #: An ID token the token endpoint answers instead of a fresh one (a replayed token of another sign-in).
    substitute: str | None = None
    #: Every token request's refusal (the OAuth error code), and every end-session call's parameters.
    refusals: list[str] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)
    #: Keys the IdP rotated away from and still publishes (kid: key), and how many times the JWKS was fetched.
    previous: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    jwks_fetches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def issuer(self) -> str:
        return f"{self.base}{REALM}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base}{PROTOCOL}/certs"

    @property
    def authorize_url(self) -> str:
        return f"{self.base}{PROTOCOL}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base}{PROTOCOL}/token"

    @property
    def logout_url(self) -> str:
        return f"{self.base}{PROTOCOL}/logout"

    def id_token(self, username: str, key: rsa.RSAPrivateKey | None = None, *, kid: str | None = None,
                 **claims: object) -> str:
        now = int(time.time())
        # One account per username, as at a real IdP: its sub stays (the platform binds the person to it).
        body = {"iss": self.issuer, "aud": self.client_id, "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, username)),
                "preferred_username": username, "iat": now, "exp": now + 300, **claims}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def rotate(self) -> str:
        """A signing key rotation, as Keycloak's: a new key and kid sign from now on; the previous key stays
        published (tokens it signed still verify) until ``withdraw``. Returns the previous kid."""
        old = self.kid
        self.previous[old] = self.key
        self.key, self.kid = rsa.generate_private_key(public_exponent=65537, key_size=2048), uuid.uuid4().hex[:8]
        return old

    def withdraw(self, kid: str) -> None:
        """The previous key ``kid`` is published no more (its rotation's last step, or at once if it leaked)."""
        del self.previous[kid]

    def jwks(self) -> bytes:
        keys = {self.kid: self.key, **self.previous}
        return json.dumps({"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                                     "n": _b64(key.public_key().public_numbers().n),
                                     "e": _b64(key.public_key().public_numbers().e)}
                                    for kid, key in keys.items()]}).encode()

    # -- the endpoints ---------------------------------------------------------------------------------------

    def sign_in_page(self, query: dict[str, str]) -> bytes:
        """The IdP's sign-in page: the authorization request's parameters kept in a form with one button."""
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in query.items())
        return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>统一身份认证</title></head>'
                f'<body><form method="post" action="{PROTOCOL}/auth">{hidden}<button type="submit">登录</button>'
                f'</form></body></html>').encode()

    def authorize(self, query: dict[str, str]) -> str:
        """The URL the authorization endpoint redirects the browser to."""
        back = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not back.startswith(("http://", "https://")):
            raise ValueError("unknown client or redirect URI")  # Keycloak shows an error page, never redirects
        answer: dict[str, str] = {"state": query.get("state", "")}
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" \
                or not query.get("code_challenge") or "openid" not in query.get("scope", "").split():
            answer["error"] = "invalid_request"
        elif self.user is None:
            answer["error"] = "access_denied"
        else:
            code = secrets.token_urlsafe(24)
            with self.lock:
                self.codes[code] = Grant(self.client_id, back, query["code_challenge"], query.get("nonce", ""),
                                         self.user)
            answer["code"] = code
        return f"{back}{'&' if '?' in back else '?'}{urlencode(answer)}"

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The token endpoint's status and JSON answer for a public client's authorization-code request."""
        with self.lock:
            grant = self.codes.pop(form.get("code", ""), None)  # a code is redeemed once, even if refused
        if "client_secret" in form:
            error = "invalid_client"  # a public client has no secret: one sent is a misconfiguration
        elif form.get("grant_type") != "authorization_code" or grant is None:
            error = "invalid_grant"
        elif form.get("client_id") != grant.client_id:
            error = "invalid_client"
        elif form.get("redirect_uri") != grant.redirect_uri:
            error = "invalid_grant"
        elif s256(form.get("code_verifier", "")) != grant.challenge:
            error = "invalid_grant"  # PKCE verification failed
        else:
            token = self.substitute or self.id_token(grant.username, nonce=grant.nonce)
            return 200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                         "id_token": token}
        self.refusals.append(error)
        return 400, {"error": error}


def _handler(idp: Idp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == f"{PROTOCOL}/certs":
                idp.jwks_fetches += 1
                self._send(200, idp.jwks())
            elif url.path == f"{PROTOCOL}/auth":
                self._send(200, idp.sign_in_page(query), "text/html; charset=utf-8")
            elif url.path == f"{PROTOCOL}/logout":
                idp.logouts.append(query)
                self._redirect(query.get("post_logout_redirect_uri", idp.base))
            else:
                self.send_error(404)

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if path == f"{PROTOCOL}/auth":
                try:
                    self._redirect(idp.authorize(form))
                except ValueError:
                    self._send(400, b"invalid client or redirect_uri", "text/plain")
            elif path == f"{PROTOCOL}/token":
                status, body = idp.token(form)
                self._send(status, json.dumps(body).encode())
            else:
                self.send_error(404)

        def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@contextmanager
def running_idp() -> Iterator[Idp]:
    """An IdP on 127.0.0.1 (a port of its own) until the block ends."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    idp = Idp(base="", key=key, kid=uuid.uuid4().hex[:8])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(idp))
    idp.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
