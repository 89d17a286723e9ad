"""System secrets: random, stored only as a salted scrypt hash, compared in constant time."""

from __future__ import annotations

from services.authorization import credentials


def test_a_secret_verifies_against_its_hash_only() -> None:
    secret = credentials.new_secret()
    stored = credentials.hash_secret(secret)
    assert credentials.verify_secret(secret, stored)
    assert not credentials.verify_secret(secret + "x", stored)
    assert not credentials.verify_secret(credentials.new_secret(), stored)


def test_the_hash_is_salted_and_never_contains_the_secret() -> None:
    secret = credentials.new_secret()
    first, second = credentials.hash_secret(secret), credentials.hash_secret(secret)
    assert first != second
    assert secret not in first
    assert first.startswith("scrypt$")


def test_malformed_stored_hashes_never_match() -> None:
    for stored in ("", "plain", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AAAA$AAAA", "scrypt$16384$8$1$!!$!!"):
        assert not credentials.verify_secret("anything", stored)


def test_secrets_and_ids_are_unique_and_well_formed() -> None:
    assert len({credentials.new_secret() for _ in range(50)}) == 50
    system_id = credentials.new_system_id()
    assert system_id.startswith("sys-") and len(system_id) == 20
    assert len(credentials.new_secret()) >= 43


def test_the_token_signing_key_is_checked_up_front() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

    from services.runtime.keys import generate_keys

    assert credentials.signing_key_problem(generate_keys().token_private_key) is None
    assert "PEM" in (credentials.signing_key_problem("not a key") or "")
    ec_pem = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    assert "Ed25519" in (credentials.signing_key_problem(ec_pem) or "")


def test_a_secret_never_starts_with_a_dash_so_any_command_line_takes_it() -> None:
    """One URL-safe secret in 64 began with '-', and `govshare report … --secret -Xy…` was then refused by the
    command's parser as a missing value (a CI run failed on such a draw); a secret is handed to command lines."""
    import argparse

    drawn = [credentials.new_secret() for _ in range(2000)]
    assert not [secret for secret in drawn if secret.startswith("-")]
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret")
    assert all(parser.parse_args(["--secret", secret]).secret == secret for secret in drawn[:200])
