"""Business-system secrets: generated once, stored only as a slow salted hash.

A stolen table must not yield working credentials, so secrets are hashed with
scrypt (memory-hard) under a random salt, and compared in constant time. The
secrets themselves are 256 random bits: they are shown once to the caller that
created or rotated them and never stored or logged.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# scrypt cost: about 16 MiB and a few tens of milliseconds per verification.
_N, _R, _P = 2**14, 8, 1
_SALT_BYTES = 16
_HASH_BYTES = 32
_SCHEME = "scrypt"
SYSTEM_ID_PREFIX = "sys-"


def new_secret() -> str:
    """A fresh random secret (URL-safe text, 256 bits). Drawn again when it would begin with '-': a command line
    (`govshare report --secret …`, any argparse or getopt tool) takes such a value for an option and refuses it."""
    while (secret := secrets.token_urlsafe(32)).startswith("-"):
        pass
    return secret


def new_system_id() -> str:
    """A stable, unguessable system id."""
    return SYSTEM_ID_PREFIX + secrets.token_hex(8)


def _derive(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=_HASH_BYTES, maxmem=64 * 1024 * 1024)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    """The storable form ``scrypt$N$r$p$salt$hash``; parameters travel with the hash so they can be raised later."""
    salt = secrets.token_bytes(_SALT_BYTES)
    return "$".join((_SCHEME, str(_N), str(_R), str(_P), _b64(salt), _b64(_derive(secret, salt, _N, _R, _P))))


def verify_secret(secret: str, stored: str) -> bool:
    """True when ``secret`` matches ``stored``; a malformed stored hash never matches."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != _SCHEME:
            return False
        actual = _derive(secret, _unb64(salt), int(n), int(r), int(p))
        return hmac.compare_digest(actual, _unb64(expected))
    except (ValueError, TypeError):
        return False


@functools.cache
def decoy_hash() -> str:
    """Verified against when a system id is unknown, so that a wrong id costs as much time as a wrong
    secret and response times do not reveal which system ids exist."""
    return hash_secret(new_secret())


def signing_key_problem(private_key_pem: str) -> str | None:
    """Why the token signing key cannot sign EdDSA tokens, or None; checked at start, not at the first token."""
    try:
        key = load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        return f"GOVSHARE_TOKEN_PRIVATE_KEY is not a PEM private key ({exc})"
    if not isinstance(key, Ed25519PrivateKey):
        return "GOVSHARE_TOKEN_PRIVATE_KEY must be an Ed25519 key (tokens are signed with EdDSA)"
    return None
