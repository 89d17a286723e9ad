"""Retiring the token signing key (a rotation, or at once when it leaked): the administrative log's checkpoints
it signed still verify, and nothing it signed is a token any more."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from services.authorization import admin_log
from services.authorization.component import AuthorizationComponent
from services.runtime.checkpoints import CheckpointSigner, Head, key_id
from services.runtime.errors import ServiceError
from services.runtime.keys import ed25519_private_key, ed25519_public_keys, generate_keys
from services.runtime.settings import SettingsError, load
from services.runtime.tokens import Caller, TokenVerifier, issue_token

ENV = {"GOVSHARE_INTERNAL_KEY": "k" * 40, "GOVSHARE_DATABASE_URL": "postgresql://x/y",
       "GOVSHARE_REDIS_URL": "redis://r:6379/0", "GOVSHARE_CATALOG_TARGET": "c:1"}


def test_the_logs_checkpoints_of_a_retired_token_key_verify_and_its_tokens_do_not() -> None:
    """The token key also signs the administrative log's checkpoints, verified with the keys of
    GOVSHARE_TOKEN_PUBLIC_KEY only: once the old key was dropped from it (deploy.md's rotation, step 3, or at once
    after a leak, so that its tokens are refused), VerifyAdminLog reported every checkpoint made before as forged
    ('not a trusted audit key') and the log as not intact, for good. GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS names
    such keys: trusted for the log's checkpoints, never for a token, nor published in the JWKS."""
    old, new = generate_keys(), generate_keys()
    settings = load("authorization", {**ENV, "GOVSHARE_TOKEN_PRIVATE_KEY": new.token_private_key,
                                      "GOVSHARE_TOKEN_PUBLIC_KEY": new.token_public_key,
                                      "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS": old.token_public_key})
    component = AuthorizationComponent(settings)
    before = CheckpointSigner(ed25519_private_key(old.token_private_key), admin_log.CONTEXT).sign(
        Head(admin_log.CHAIN_ID, 7, "ab" * 32), dt.datetime(2026, 12, 1, tzinfo=dt.UTC), False)
    assert component._admin_log._verifier.problem(before) is None
    # The retired key verifies no token, and the edge is not given it.
    leaked = issue_token(old.token_private_key, Caller("sys-0123456789abcdef", "11110100MB0000006K"), 600).token
    with pytest.raises(ServiceError) as refused:
        component._verifier.caller((("authorization", f"Bearer {leaked}"),), check=False)
    assert refused.value.code.name == "UNAUTHENTICATED"
    assert key_id(ed25519_public_keys(old.token_public_key)[0]) not in component.jwks._document.decode()


def test_a_retired_token_key_that_is_no_public_key_is_refused_at_start() -> None:
    keys = generate_keys()
    with pytest.raises(SettingsError, match="GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS: no PEM public key found"):
        load("authorization", {**ENV, "GOVSHARE_TOKEN_PRIVATE_KEY": keys.token_private_key,
                               "GOVSHARE_TOKEN_PUBLIC_KEY": keys.token_public_key,
                               "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS": "nothing"})


def test_a_token_of_a_key_a_service_does_not_hold_is_refused_naming_its_kid_and_the_keys_held() -> None:
    """Between the restarts of a rotation (or of the leaked-key runbook) a service still holding the old public key
    refused the new key's tokens, and every service refused the retired key's, with the same words, "signed by a
    key the platform does not publish": wrong of the new key (the JWKS publishes it), and the operator reading a
    caller's report could not tell which key it was nor which service was behind. The refusal names both."""
    old, new = generate_keys(), generate_keys()
    verifier = TokenVerifier(old.token_public_key)
    token = issue_token(new.token_private_key, Caller("sys-0123456789abcdef", "11110100MB0000006K"), 600).token
    with pytest.raises(ServiceError) as refused:
        verifier.verify(token, check=False)
    assert refused.value.code.name == "UNAUTHENTICATED"
    new_kid, old_kid = (key_id(ed25519_public_keys(k.token_public_key)[0]) for k in (new, old))
    assert f"a key this service does not verify with (kid '{new_kid}'; it verifies with {old_kid})" \
        in refused.value.message


def test_a_key_retired_but_still_listed_as_a_public_key_is_refused_at_start() -> None:
    """Retiring a token key is two edits of the Secret (deploy.md's step 3, or the leaked-key runbook): append it to
    token-retired-public-keys, drop it from token-public-key. With the second forgotten, every service, which
    verifies tokens with GOVSHARE_TOKEN_PUBLIC_KEY alone, still accepted its tokens and the JWKS still published
    it, while the operator had read that a retired key's tokens are refused. Authorization now refuses to start
    so, naming the key and what to do."""
    old, new = generate_keys(), generate_keys()
    with pytest.raises(SettingsError) as refused:
        load("authorization", {**ENV, "GOVSHARE_TOKEN_PRIVATE_KEY": new.token_private_key,
                               "GOVSHARE_TOKEN_PUBLIC_KEY": new.token_public_key + old.token_public_key,
                               "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS": old.token_public_key})
    kid = key_id(ed25519_public_keys(old.token_public_key)[0])
    assert (f"GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS: key {kid} is still in GOVSHARE_TOKEN_PUBLIC_KEY, so every service "
            "accepts its tokens: drop it from GOVSHARE_TOKEN_PUBLIC_KEY") in str(refused.value)


RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("bash")), reason="needs openssl and bash")
def test_the_leaked_key_runbook_keeps_the_keys_retired_before_it(tmp_path: Path) -> None:
    """operations.md's block for a leaked token key appended the leaked public key to token-retired-public.pem,
    "the earlier retired ones", which no command of the block fetched: run as printed on the on-call person's
    machine, the file held the leaked key alone and the patch replaced token-retired-public-keys with it, so every
    administrative log checkpoint signed by a key retired at an earlier rotation was reported forged from then on.
    The block now reads the Secret's retired keys first. Run here as printed (openssl for real, kubectl answering
    from a Secret with one earlier retired key): the patched Secret starts authorization, whose log verifier
    trusts the earlier and the leaked key's checkpoints, and whose tokens are the new key's only."""
    text = RUNBOOK.read_text(encoding="utf-8")
    section = text[text.index("## The token signing key leaked"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    earlier, leaked = generate_keys(), generate_keys()
    secret = {"token-public-key": leaked.token_public_key, "token-private-key": leaked.token_private_key,
              "token-retired-public-keys": earlier.token_public_key}
    answers = "".join(f"    *'jsonpath={{.data.{key}}}'*) printf %s '{base64.b64encode(value.encode()).decode()}' ;;\n"
                      for key, value in secret.items())
    kubectl = ('kubectl() {\n  case "$*" in\n' + answers +
               '    *" patch secret "*) printf "%s\\0" "$@" >> patches; printf "\\n" >> patches ;;\n'
               '    *) echo "$*" >> others ;;\n  esac\n}\n')
    done = subprocess.run(["bash", "-c", "set -eu\n" + kubectl + block], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    patches = [line.split("\0")[:-1] for line in (tmp_path / "patches").read_text().split("\n") if line]
    assert len(patches) == 1
    for key, value in json.loads(patches[0][patches[0].index("-p") + 1])["data"].items():
        secret[key] = base64.b64decode(value).decode()
    settings = load("authorization", {**ENV, "GOVSHARE_TOKEN_PRIVATE_KEY": secret["token-private-key"],
                                      "GOVSHARE_TOKEN_PUBLIC_KEY": secret["token-public-key"],
                                      "GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS": secret["token-retired-public-keys"]})
    component = AuthorizationComponent(settings)
    for old in (earlier, leaked):
        checkpoint = CheckpointSigner(ed25519_private_key(old.token_private_key), admin_log.CONTEXT).sign(
            Head(admin_log.CHAIN_ID, 7, "ab" * 32), dt.datetime(2026, 12, 1, tzinfo=dt.UTC), False)
        assert component._admin_log._verifier.problem(checkpoint) is None
    with pytest.raises(ServiceError):
        component._verifier.caller((("authorization", "Bearer " + issue_token(
            leaked.token_private_key, Caller("sys-0123456789abcdef", "11110100MB0000006K"), 600).token),),
            check=False)


def test_a_checkpoint_of_a_token_key_retired_unlisted_names_the_lists_to_fix() -> None:
    """After a token key rotation whose retired key was not appended to token-retired-public-keys, VerifyAdminLog
    reported each checkpoint it signed "signed by key '…', which is not a trusted audit key": the administrative
    log's checkpoints are the token key's, not the audit key's, and the auditor or operator went to look at
    GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS, which changes nothing here. The problem names the token keys' settings;
    the access log's names the audit keys'."""
    from services.query.checkpoints import CheckpointSigner as AccessSigner
    from services.query.checkpoints import CheckpointVerifier as AccessVerifier

    old, new = generate_keys(), generate_keys()
    settings = load("authorization", {**ENV, "GOVSHARE_TOKEN_PRIVATE_KEY": new.token_private_key,
                                      "GOVSHARE_TOKEN_PUBLIC_KEY": new.token_public_key})
    before = CheckpointSigner(ed25519_private_key(old.token_private_key), admin_log.CONTEXT).sign(
        Head(admin_log.CHAIN_ID, 7, "ab" * 32), dt.datetime(2026, 12, 1, tzinfo=dt.UTC), False)
    problem = AuthorizationComponent(settings)._admin_log._verifier.problem(before)
    assert problem is not None and "which is not a trusted token signing key (authorization trusts " \
        "GOVSHARE_TOKEN_PUBLIC_KEY and GOVSHARE_TOKEN_RETIRED_PUBLIC_KEYS" in problem, problem
    access = AccessSigner(ed25519_private_key(old.audit_signing_key)).sign(
        Head("ab" * 16, 7, "cd" * 32), dt.datetime(2026, 12, 1, tzinfo=dt.UTC), False)
    problem = AccessVerifier([ed25519_public_keys(new.token_public_key)[0]]).problem(access)
    assert problem is not None and "GOVSHARE_AUDIT_RETIRED_PUBLIC_KEYS" in problem, problem


def test_an_archived_month_of_a_retired_audit_key_names_the_key_to_give() -> None:
    """`govshare audit verify-archive` of a month archived before an audit key rotation, given the current audit
    public key only, said "signed by a key that is not a trusted audit key": not which key, nor that the retired
    key's public half is what to give (--public-key, repeated). It names the key and where the retired ones are."""
    import hashlib
    import json

    from services.query.archive import FORMAT, verify_file

    retired, current = generate_keys(), generate_keys()
    header = json.dumps({"format": FORMAT, "partition": "access_log_202501"}).encode() + b"\n"
    kid = key_id(ed25519_public_keys(retired.token_public_key)[0])
    trailer = json.dumps({"trailer": {"rows": 0, "sha256": hashlib.sha256(header).hexdigest(), "key_id": kid,
                                      "signature": ""}}).encode() + b"\n"
    _, problems = verify_file([header, trailer], ed25519_public_keys(current.token_public_key))
    assert problems == [f"signed by key '{kid}', which is not a trusted audit key (none of the public keys given: "
                        "a month archived before a rotation of the audit signing key needs the retired key's public "
                        "half, audit-retired-public-keys)"]
