"""Persons' passwords (services/authorization/person_credentials.py): what a guesser tries first is refused."""

from __future__ import annotations

import pytest

from console.admin import initial_password
from console.errors import field_sentence
from services.authorization import person_credentials as pc
from services.authorization.sessions import signin_client
from services.runtime.settings import Settings


@pytest.mark.parametrize("password", [" " * 12, "a" * 12, "ab" * 6, "1231231231231", "１１１１１１１１１１１１"])
def test_a_repeated_character_or_pattern_is_no_password(password: str) -> None:
    problem = pc.password_problem(password, "zhang.san")
    assert problem is not None and problem.startswith("must use at least 5 different characters"), problem


@pytest.mark.parametrize("password", ["zhang.san2026!", "ZHANG.SAN-pass-word", "my name is Zhang.San",
                                      "Zhangsan@2026", "zhang_san-2026-07"])
def test_a_password_holding_the_username_is_refused(password: str) -> None:
    assert pc.password_problem(password, "zhang.san") == "must not contain the username (it is guessed first)"


@pytest.mark.parametrize("password", ["Admin@123456", "P@ssw0rd2026!", "Password1234", "woaini1314520",
                                      "123456789012", "qwertyuiop12", "1qaz2wsx3edc", "abc-def-ghi-jkl",
                                      "2026.Welcome!", "987654321098"])
def test_a_common_password_or_a_run_is_refused(password: str) -> None:
    """Each passed the length and the different characters, and is among the first a guesser tries (NIST SP
    800-63B 5.1.1.2: commonly-used values): a common word with digits or symbols around it, a look-alike digit
    read as its letter, a keyboard, alphabet or digit run."""
    problem = pc.password_problem(password, "zhang.san")
    assert problem is not None and problem.startswith("must not be a common password"), problem


@pytest.mark.parametrize("password", ["correct horse battery", "govshare-demo-2026", "123412341234x",
                                      "a new long passw0rd", "换一个足够长的新密码2026", "password manager picked it"])
def test_a_long_varied_password_of_someone_else_is_accepted(password: str) -> None:
    assert pc.password_problem(password, "zhang.san") is None


def test_the_consoles_initial_password_never_holds_a_short_username() -> None:
    """The console makes a first password for a new account; a username of three letters could turn up among its
    twenty random ones, and the service would refuse the account."""
    for _ in range(2000):
        password = initial_password("ace")
        assert "ace" not in password.lower().replace("-", "")
        assert pc.password_problem(password, "ace") is None


@pytest.mark.parametrize(("password", "where"), [("a brand new password\n", "character 21 is U+000A"),
                                                 ("river\tstone lantern", "character 6 is U+0009"),
                                                 ("river\u200bstone lantern", "character 6 is U+200B"),
                                                 ("\ufeffriver stone lantern", "character 1 is U+FEFF")])
def test_a_character_no_sign_in_form_types_is_refused_by_where_it_is(password: str, where: str) -> None:
    """A password set with its file's final newline, a tab or a zero-width space is one its person never types;
    said by position (never quoting it), and in Chinese on the console's forms."""
    problem = pc.password_problem(password, "zhang.san")
    assert problem is not None and problem.startswith("must hold only characters a sign-in form can type"), problem
    assert where in problem and "river" not in problem and "brand" not in problem
    assert field_sentence(problem).startswith(f"第 {where.split()[1]} 个字符（U+"), field_sentence(problem)


def test_a_full_width_space_is_typed_and_taken() -> None:
    assert pc.password_problem("全角　空格密码很长的一句话", "zhang.san") is None


def test_a_password_matches_however_unicode_writes_it_and_a_hash_stored_before_still_signs_in() -> None:
    """Hashed in NFKC: full-width letters and a decomposed accent are the characters they show. A hash of the
    password as sent, stored before passwords were normalised, still matches it, and only it."""
    stored = pc.hash_password("ｒｉｖｅｒ ｓｔｏｎｅ ｌａｎｔｅｒｎ")
    assert pc.verify_password("river stone lantern", stored)
    assert pc.verify_password("ｒｉｖｅｒ ｓｔｏｎｅ ｌａｎｔｅｒｎ", stored)
    assert pc.verify_password("café au lait fourteen", pc.hash_password("cafe\u0301 au lait fourteen"))
    assert not pc.verify_password("river stone lanterns", stored)
    before = pc._hasher().hash("ｒｉｖｅｒ ｓｔｏｎｅ ｌａｎｔｅｒｎ")  # as an older release stored it
    assert pc.verify_password("ｒｉｖｅｒ ｓｔｏｎｅ ｌａｎｔｅｒｎ", before)
    assert not pc.verify_password("ｒｉｖｅｒ ｓｔｏｎｅ ｌａｎｔｅｒｎｓ", before)
    assert pc.password_problem("ｚｈａｎｇ.ｓａｎ-river-2026", "zhang.san") == ("must not contain the username (it is "
                                                                          "guessed first)")


def test_the_consoles_initial_password_never_holds_a_short_username_typed_in_full_width() -> None:
    """ＡＣＥ (an input method in full-width mode) is the username ace to the service (person_credentials.
    typed_username), so the first password must not hold ace either: compared as typed, it never matched."""
    for _ in range(2000):
        assert pc.password_problem(initial_password("ＡＣＥ"), pc.typed_username("ＡＣＥ")) is None


def test_the_address_a_sign_ins_failures_count_against_is_the_edges_or_a_forwarders_browsers() -> None:
    """The edge's address for a client of its own; the browser's a forwarder (the console, on the loopback or a
    private network by default) passes on, none without one or with one of those networks (the console's own
    proxy, every browser's address then); none for a call that did not cross the edge; an IPv6 client by its /64."""
    forwarders = Settings().signin_forwarders

    def client(**headers: str) -> str | None:
        return signin_client([(name.replace("_", "-"), value) for name, value in headers.items()], forwarders)

    assert client(govshare_client_address="203.0.113.9") == "203.0.113.9"
    assert client(govshare_client_address="203.0.113.9", govshare_signin_client="198.51.100.1") == "203.0.113.9"
    assert client(govshare_client_address="127.0.0.1", govshare_signin_client="198.51.100.1") == "198.51.100.1"
    assert client(govshare_client_address="10.1.2.3", govshare_signin_client="::ffff:198.51.100.1") == \
        "198.51.100.1"
    assert client(govshare_client_address="10.1.2.3") is None
    assert client(govshare_client_address="10.1.2.3", govshare_signin_client="192.168.1.20") is None
    assert client(govshare_client_address="127.0.0.1", govshare_signin_client="not an address") is None
    assert client(govshare_signin_client="198.51.100.1") is None
    assert client(govshare_client_address="2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    narrowed = ("10.244.0.0/16",)  # an intranet counting its own clients: the console's pods alone forward
    assert signin_client([("govshare-client-address", "10.1.2.3")], narrowed) == "10.1.2.3"
