"""Generation of the platform's secrets for embedded runs and tests.

Production keys come from Kubernetes Secrets; `govshare up` and the test suite
generate fresh ones into the data directory (never into the repository).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class PlatformKeys:
    internal_key: str
    token_private_key: str
    token_public_key: str


def generate_keys() -> PlatformKeys:
    """A random HMAC key for internal assertions and an Ed25519 pair for system tokens."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return PlatformKeys(internal_key=secrets.token_urlsafe(48), token_private_key=private_pem,
                        token_public_key=public_pem)
