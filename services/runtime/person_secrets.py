"""TOTP secrets sealed at rest with AES-256-GCM under ``GOVSHARE_PERSON_SECRET_KEY``.

Why: a TOTP secret, unlike a password hash, is usable as it is stored. A copy of the persons table (a backup,
a read replica, a careless dump) must not hand out everyone's second factor, so the table holds the secret
sealed under a key that lives in the authorization service's Secret, not in the database.

The stored form is ``v1:<key id>:<base64url(nonce ‖ ciphertext)>``. The person's id is the associated data, so
a sealed secret copied onto another person's row does not open. The setting may list several keys (comma or
whitespace separated): the first seals, every one opens (rotation: put the new key first, re-seal with
``ResetPersonTotp`` or leave old rows to open under the old key, then drop it). A value without the ``v1:``
prefix is a secret stored before sealing existed; it is read as it is and sealed at its next change.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v1:"
#: A key must carry at least this many characters (of a random secret: `govshare up` generates 43).
KEY_MIN_LENGTH = 32
_NONCE_BYTES = 12
_INFO = b"govshare person totp secrets v1"


class SecretUnreadable(Exception):
    """A sealed secret no configured key opens (the key was dropped, or the row was tampered with)."""


def key_problems(setting: str) -> list[str]:
    """Why ``setting`` cannot serve as GOVSHARE_PERSON_SECRET_KEY (empty: it can, or it is unset)."""
    short = [key for key in _keys(setting) if len(key) < KEY_MIN_LENGTH]
    return [f"GOVSHARE_PERSON_SECRET_KEY: every key must be a random secret of at least {KEY_MIN_LENGTH} "
            f"characters ({len(short)} shorter)"] if short else []


def _keys(setting: str) -> list[str]:
    return [key for key in re.split(r"[\s,]+", setting.strip()) if key]


def _key_id(key: str) -> str:
    """Names the key in the stored form without revealing anything of it."""
    return hashlib.sha256(b"govshare key id\0" + key.encode()).hexdigest()[:8]


def _cipher(key: str) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(key.encode())
    return AESGCM(derived)


class TotpSealer:
    """Seals and opens persons' TOTP secrets (one per authorization process; no I/O)."""

    def __init__(self, setting: str) -> None:
        keys = _keys(setting)
        if not keys:
            raise ValueError("GOVSHARE_PERSON_SECRET_KEY is empty")
        self._sealing_id = _key_id(keys[0])
        self._ciphers = {_key_id(key): _cipher(key) for key in keys}

    def seal(self, person_id: str, secret: str) -> str:
        if not secret:
            return ""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._ciphers[self._sealing_id].encrypt(nonce, secret.encode(), person_id.encode())
        return f"{PREFIX}{self._sealing_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, person_id: str, stored: str) -> str:
        """The secret in ``stored``; SecretUnreadable when no configured key opens it."""
        if not stored.startswith(PREFIX):
            return stored  # stored before sealing existed (or empty: an OIDC-only person)
        key_id, _, body = stored[len(PREFIX):].partition(":")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise SecretUnreadable(f"sealed under key {key_id}, which GOVSHARE_PERSON_SECRET_KEY no longer lists")
        try:
            raw = base64.urlsafe_b64decode(body.encode())
            return cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], person_id.encode()).decode()
        except (ValueError, InvalidTag):
            raise SecretUnreadable("the sealed secret does not open (altered, or moved from another person)") \
                from None

    @property
    def sealing_prefix(self) -> str:
        """How every value sealed under the sealing key begins (others are worth re-sealing)."""
        return f"{PREFIX}{self._sealing_id}:"
