"""Generation of the platform's secrets for embedded runs and tests.

Production keys come from Kubernetes Secrets; `govshare up` and the test suite
generate fresh ones into the data directory (never into the repository).
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


@dataclass(frozen=True)
class PlatformKeys:
    internal_key: str
    token_private_key: str
    token_public_key: str
    #: Signs the audit chains' checkpoints (query only); empty in key files written before it existed.
    audit_signing_key: str = ""
    #: Signs one-way bundles (`govshare export-bundle`, extranet); its own key, not the token key.
    bundle_signing_key: str = ""
    #: Signs the per-call assertions query sends to departments' 前置机 (query only); its public half is published.
    provider_signing_key: str = ""
    #: Seals persons' TOTP secrets at rest (authorization only): a random string, not a key pair.
    person_secret_key: str = ""


def generate_keys() -> PlatformKeys:
    """A random HMAC key for internal assertions, an Ed25519 pair for system tokens, and Ed25519 keys for
    audit checkpoints and for bundles (each its own: neither the query service nor the export job holds the
    key that mints tokens)."""
    private = Ed25519PrivateKey.generate()
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return PlatformKeys(internal_key=secrets.token_urlsafe(48), token_private_key=private_pem(private),
                        token_public_key=public_pem, audit_signing_key=private_pem(Ed25519PrivateKey.generate()),
                        bundle_signing_key=private_pem(Ed25519PrivateKey.generate()),
                        provider_signing_key=private_pem(Ed25519PrivateKey.generate()),
                        person_secret_key=secrets.token_urlsafe(32))


def private_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def ed25519_private_key(pem: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``pem``; ValueError saying why it is not one."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(f"not a PEM private key{_private_key_advice(pem)}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("must be an Ed25519 key")
    return key


def _private_key_advice(pem: str) -> str:
    """What a value that is no private key is instead, when it says so: an operator rotating a key (the bundle-
    signing key, the token or audit key) who set the public half, or the file's path as `govshare up` keeps it,
    read "not a PEM private key" alone, as if the key were damaged."""
    if "PUBLIC KEY-----" in pem:
        return (": this is a public key (-----BEGIN PUBLIC KEY-----); give the private key it is the public half "
                "of (-----BEGIN PRIVATE KEY-----)")
    if "\n" not in pem.strip() and os.path.isfile(pem.strip()):
        return ": the value is a file's path; give the PEM text itself, e.g. \"$(cat the-file.pem)\""
    return ""


def ed25519_public_keys(pem: str) -> list[Ed25519PublicKey]:
    """Every Ed25519 public key in ``pem`` (one or more PEM blocks); ValueError for anything else."""
    blocks = re.findall(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", pem, flags=re.S)
    if not blocks:
        if "PRIVATE KEY-----" in pem:
            # A 前置机 given the platform's signing key instead of provider-public.pem said only "no PEM public
            # key found", as if the file were empty.
            raise ValueError("this is a private key: give the public key (its public half, such as "
                             "provider-public.pem, -----BEGIN PUBLIC KEY-----); a private key does not leave "
                             "where it signs")
        if "\n" not in pem.strip() and os.path.isfile(pem.strip()):
            # `govshare up` writes its keys as files; settings carry the PEM text (a Secret's value, not a path).
            raise ValueError("no PEM public key found: the value is a file's path; give the PEM text itself, "
                             "e.g. \"$(cat the-file.pem)\"")
        raise ValueError("no PEM public key found")
    keys = []
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block.encode())
        except (ValueError, TypeError):
            raise ValueError("not a PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("must be Ed25519 keys")
        keys.append(key)
    return keys


def public_pem(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def bundle_public_key(signing_key_pem: str) -> str:
    """The PEM public key an intranet lists in GOVSHARE_BUNDLE_TRUSTED_KEYS to trust ``signing_key_pem``."""
    return public_pem(ed25519_private_key(signing_key_pem))
