"""TOTP secrets sealed at rest (services/runtime/person_secrets.py): what a stolen table does not give away."""

from __future__ import annotations

import pytest

from services.runtime import person_secrets
from services.runtime.person_secrets import SecretUnreadable, TotpSealer
from services.runtime.settings import Settings, validate

KEY = "k" * 20 + "0123456789abcdefghijklmnop"
OTHER = "z" * 20 + "0123456789abcdefghijklmnop"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_a_sealed_secret_reveals_nothing_and_opens_for_its_person_only() -> None:
    sealer = TotpSealer(KEY)
    stored = sealer.seal("psn-0000000000000001", SECRET)
    assert stored.startswith(sealer.sealing_prefix) and SECRET not in stored
    assert sealer.seal("psn-0000000000000001", SECRET) != stored  # a fresh nonce each time
    assert sealer.open("psn-0000000000000001", stored) == SECRET
    with pytest.raises(SecretUnreadable, match="another person"):
        sealer.open("psn-0000000000000002", stored)


def test_rotation_opens_under_every_listed_key_and_seals_under_the_first() -> None:
    old = TotpSealer(OTHER).seal("psn-0000000000000001", SECRET)
    rotated = TotpSealer(f"{KEY}, {OTHER}")
    assert rotated.open("psn-0000000000000001", old) == SECRET
    assert not old.startswith(rotated.sealing_prefix)
    assert rotated.seal("psn-0000000000000001", SECRET).startswith(TotpSealer(KEY).sealing_prefix)
    with pytest.raises(SecretUnreadable, match="no longer lists"):
        TotpSealer(KEY).open("psn-0000000000000001", old)


def test_an_altered_value_does_not_open_and_a_clear_one_is_read_as_stored() -> None:
    sealer = TotpSealer(KEY)
    stored = sealer.seal("psn-0000000000000001", SECRET)
    altered = stored[:-6] + ("A" if stored[-6] != "A" else "B") + stored[-5:]
    with pytest.raises(SecretUnreadable):
        sealer.open("psn-0000000000000001", altered)
    assert sealer.open("psn-0000000000000001", SECRET) == SECRET  # stored before sealing existed
    assert sealer.seal("psn-0000000000000001", "") == "" and sealer.open("psn-0000000000000001", "") == ""


def test_a_short_key_is_refused_at_start() -> None:
    assert person_secrets.key_problems("") == []
    assert person_secrets.key_problems(KEY) == []
    problems = person_secrets.key_problems(f"{KEY},short")
    assert problems and "at least 32 characters" in problems[0]
    settings = Settings(component="authorization", internal_key=b"i" * 48, person_secret_key="short")
    assert any("GOVSHARE_PERSON_SECRET_KEY" in problem for problem in validate(settings))
