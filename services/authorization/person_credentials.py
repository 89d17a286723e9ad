"""Persons' local credentials: argon2id password hashes and TOTP (RFC 6238) as the second factor.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended option: 64 MiB,
3 passes), so a stolen table yields no password cheaply; the hash carries its parameters, so they can be
raised later. An unknown username is verified against a decoy hash, so the answer time does not say which
usernames exist. A password is hashed and compared in NFKC (NIST SP 800-63B 5.1.1.2), so the same characters
typed in full-width forms or decomposed still match. TOTP codes are 6 digits over 30-second steps, one step of
clock drift either way accepted; the step of the last accepted code is kept, so a code (seen over a shoulder, or
replayed) is never accepted twice.
"""

from __future__ import annotations

import functools
import hmac
import re
import secrets
import time
import unicodedata

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from services.runtime.errors import invisible_character
from services.runtime.identity import PERSON_PREFIX

#: Password length bounds: long enough to resist guessing (NIST SP 800-63B asks for 8; the platform 12),
#: short enough that hashing cannot be used to burn CPU.
PASSWORD_MIN = 12
PASSWORD_MAX = 256
#: Different characters a password must use: twelve of one character (or a two-character pattern) are no secret.
PASSWORD_MIN_DISTINCT = 5
TOTP_ISSUER = "govshare"
TOTP_STEP_SECONDS = 30
TOTP_DIGITS = 6
#: Steps of clock drift accepted either side of the current one.
TOTP_DRIFT_STEPS = 1
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
#: What a guesser tries first (NIST SP 800-63B 5.1.1.2: "commonly-used values"), written as a password's letters
#: read after the digits and symbols around them are dropped and look-alike digits read as letters (P@ssw0rd2026!
#: is "password"): the words the common-password lists start with, in English and in pinyin, and the platform's
#: context. Keyboard, alphabet and digit runs are found apart (_SEQUENCES).
_COMMON_WORDS = frozenset({
    "password", "passwd", "pass", "admin", "administrator", "root", "test", "guest", "user", "login", "welcome",
    "letmein", "changeme", "iloveyou", "monkey", "dragon", "master", "superman", "sunshine", "princess", "shadow",
    "football", "baseball", "hello", "trustno", "secret", "woaini", "woaiwojia", "nihao", "zhongguo", "china",
    "beijing", "shanghai", "huawei", "zhengfu", "gov", "mima", "wodemima",
})
#: Runs a guesser walks (forward and backward, from anywhere): keyboard rows and columns, the alphabet, the digits.
_SEQUENCES = ("1234567890" * 3, "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm",
              "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p", "qazwsxedcrfvtgbyhnujmikolp", "1q2w3e4r5t6y7u8i9o0p")
#: Digits and symbols read as the letters they stand for in a "clever" password (p@ssw0rd, adm1n).
_LOOK_ALIKES = str.maketrans({"0": "o", "@": "a", "$": "s", "3": "e", "1": "i", "!": "i", "5": "s", "7": "t",
                              "4": "a"})
#: What is dropped around a password's letters before they are compared with the common words.
_AROUND = "0123456789!@#$%^&*()-_=+.,?~`'\";:/<>[]{}| "
PERSON_ID = re.compile(r"psn-[0-9a-f]{16}")


def typed_username(username: str) -> str:
    """A username as a person may type it at sign-in: in any case, and in full-width letters, digits and ．＿－ (a
    Chinese input method in full-width mode types ｐｏｌｉｃｅ．ｚｈａｎｇ), which NFKC reads as the ASCII they show; a
    username is ASCII (USERNAME), so nothing else is changed. Typed so, the sign-in was refused as a wrong username
    or password, while a full-width TOTP code was read."""
    return unicodedata.normalize("NFKC", username).strip().lower()


@functools.cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def new_person_id() -> str:
    return PERSON_PREFIX + secrets.token_hex(8)


def password_problem(password: str, username: str = "") -> str | None:
    """Why ``password`` cannot be set for the person ``username``, or None.

    Beyond the length, what NIST SP 800-63B (5.1.1.2) has a verifier refuse because a guesser tries it first:
    repetitive characters (twelve spaces, ``aaaaaaaaaaaa``, ``abababababab`` passed the length alone) and the
    account's own username (``zhang.san.2026`` for ``zhang.san``)."""
    if len(password) < PASSWORD_MIN:
        return f"must be at least {PASSWORD_MIN} characters"
    if len(password) > PASSWORD_MAX:
        return f"must be at most {PASSWORD_MAX} characters"
    if "\x00" in password:
        return "must not contain NUL characters"
    if (hidden := invisible_character(password)) is not None:
        # No sign-in form types a line break, a tab or a zero-width space: a password holding one (the final newline
        # of the file a provisioning job read it from, a character copied with it) is one its person never signs in
        # with. Said by position and name, never quoting the password.
        return f"must hold only characters a sign-in form can type: {hidden.rsplit(': ', 1)[0]}: remove it"
    password = normalized_password(password)  # as it is compared: ｚｈａｎｇ.ｓａｎ is the username
    if len(set(password)) < PASSWORD_MIN_DISTINCT:
        return (f"must use at least {PASSWORD_MIN_DISTINCT} different characters (a repeated character or pattern, "
                "such as aaaaaaaaaaaa, is guessed first)")
    if username and (username.lower() in password.lower() or _letters_and_digits(username)
                     in _letters_and_digits(password)):
        return "must not contain the username (it is guessed first)"
    if _common(password):
        return ("must not be a common password, nor a keyboard, alphabet or digit run, with or without digits or "
                "symbols around it (it is guessed first): use a few unrelated words")
    return None


def _letters_and_digits(text: str) -> str:
    """``text`` in lower case without its separators: zhang.san is zhangsan in a password too."""
    return "".join(c for c in text.lower() if c.isalnum())


def _common(password: str) -> bool:
    """Whether ``password`` is a common word (a look-alike digit or symbol read as its letter) with only digits and
    symbols around it (Admin@123456, P@ssw0rd2026!, woaini1314520), or a keyboard, alphabet or digit run
    (123456789012, qwertyuiop12, 1qaz2wsx3edc): each passes the length and the different characters, and is
    among the first a guesser tries."""
    lowered = normalized_password(password).lower()
    run = _letters_and_digits(lowered)
    core = lowered.strip(_AROUND)
    if core.translate(_LOOK_ALIKES) in _COMMON_WORDS or core.replace("1", "l").translate(_LOOK_ALIKES) in _COMMON_WORDS:
        return True
    return any(len(part) >= 3 and (part in sequence or part in sequence[::-1])
               for part in (run, core) for sequence in _SEQUENCES)


def normalized_password(password: str) -> str:
    """``password`` as it is hashed and compared: in NFKC (NIST SP 800-63B 5.1.1.2), as the username and the TOTP
    code are read. The same characters reach the service written in more than one way: full-width letters from a
    Chinese input method in 全角 mode (ｒｉｖｅｒ), an accented letter precomposed by Windows and decomposed by macOS;
    compared as sent, the person typing their own password was refused it, each try counted toward the lock."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """The argon2id PHC string of ``password`` normalised (slow on purpose: call it off the event loop)."""
    return _hasher().hash(normalized_password(password))


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; an empty or malformed hash never matches. A hash stored before
    passwords were normalised holds the password as it was sent then: one NFKC changes is tried as sent too (an
    unknown username's decoy likewise, so the time taken depends on the password typed, never on the account)."""
    if not stored or len(password) > PASSWORD_MAX:
        return False
    normalized = normalized_password(password)
    return _matches(stored, normalized) or (normalized != password and _matches(stored, password))


def _matches(stored: str, password: str) -> bool:
    try:
        return _hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def decoy_password_hash() -> str:
    """Verified against for an unknown username, so it costs as much time as a wrong password."""
    return hash_password(secrets.token_urlsafe(24))


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app scans (shown once, at enrolment)."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def current_totp(secret: str, at: float | None = None) -> str:
    """The code an authenticator shows now (the demo's `govshare totp` and tests)."""
    return pyotp.TOTP(secret).at(at if at is not None else time.time())


def totp_step(secret: str, code: str, last_step: int, at: float | None = None) -> int | None:
    """The time step ``code`` belongs to (within the drift allowed, and after ``last_step``), or None."""
    return next((step for step in _code_steps(secret, code, at) if step > last_step), None)


#: A right code of the step last used: typed again (a second sign-in, 修改密码 right after signing in).
REUSED = "REUSED"
#: A right code of a step before the one last used, perhaps never used itself: a code of a later step (typed from a
#: device whose clock is ahead, or a second authenticator of the same secret) was accepted first.
SUPERSEDED = "SUPERSEDED"


def totp_passed(secret: str, code: str, last_step: int, at: float | None = None) -> str | None:
    """Why ``code``, the code of a step within the drift allowed, may no longer sign in: REUSED when it is the code
    of the step last used, SUPERSEDED when of a step before it (a later code was used; this one perhaps never),
    None when it is no such code (a guess, or expired). Neither is a guess. Only the last step used is kept, so an
    earlier step's code is refused because a later one was accepted: called "already used", the person who had
    never typed it (their authenticator's clock behind the device that signed in before) was told something false
    and looked for whoever had used their code."""
    steps = [step for step in _code_steps(secret, code, at) if step <= last_step]
    if not steps:
        return None
    return REUSED if last_step in steps else SUPERSEDED


def _code_steps(secret: str, code: str, at: float | None) -> list[int]:
    """The time steps within the drift allowed whose code ``code`` is."""
    # NFKC: a Chinese input method's full-width digits (１２３４５６) are the same code; any other script's
    # digits are not ASCII and a wrong code (compare_digest refuses non-ASCII strings with a TypeError). The blanks
    # inside are not read: authenticator apps show the code in two groups (123 456), and typed or copied so it was a
    # wrong code, counted toward the lock.
    code = "".join(unicodedata.normalize("NFKC", code).split())
    if not secret or len(code) != TOTP_DIGITS or not (code.isascii() and code.isdigit()):
        return []
    now = at if at is not None else time.time()
    totp = pyotp.TOTP(secret)
    current = int(now // TOTP_STEP_SECONDS)
    return [step for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1)
            if hmac.compare_digest(totp.generate_otp(step), code)]
