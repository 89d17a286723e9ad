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
    #: PEM Ed25519 key that signs one-way bundles (its own key, not the token key: see services/bundle.py).
    bundle_signing_key: str = ""


def _private_pem(private: Ed25519PrivateKey) -> str:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


def _public_pem(private: Ed25519PrivateKey) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def generate_keys() -> PlatformKeys:
    """A random HMAC key for internal assertions, an Ed25519 pair for system tokens and a bundle-signing key."""
    private = Ed25519PrivateKey.generate()
    return PlatformKeys(internal_key=secrets.token_urlsafe(48), token_private_key=_private_pem(private),
                        token_public_key=_public_pem(private),
                        bundle_signing_key=_private_pem(Ed25519PrivateKey.generate()))


def bundle_public_key(signing_key_pem: str) -> str:
    """The PEM public key an intranet lists in GOVSHARE_BUNDLE_TRUSTED_KEYS to trust ``signing_key_pem``."""
    private = serialization.load_pem_private_key(signing_key_pem.encode(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError("the bundle-signing key is not an Ed25519 key")
    return _public_pem(private)
