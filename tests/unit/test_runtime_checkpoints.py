"""The shared checkpoint construction (services/runtime/checkpoints.py) as the administrative log uses it."""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.authorization.admin_log import CHAIN_ID, CONTEXT
from services.query import checkpoints as access
from services.runtime.checkpoints import Checkpoint, Checkpointer, CheckpointSigner, CheckpointVerifier, Head

T0 = dt.datetime(2026, 11, 30, 8, 0, tzinfo=dt.UTC)


def test_a_checkpoint_of_one_log_never_verifies_as_one_of_another() -> None:
    key = Ed25519PrivateKey.generate()
    signed = CheckpointSigner(key, CONTEXT).sign(Head(CHAIN_ID, 3, "a" * 64), T0, False)
    assert CheckpointVerifier([key.public_key()], CONTEXT).problem(signed) is None
    assert access.CheckpointVerifier([key.public_key()]).problem(signed) == (
        "the signature does not match the checkpoint")


async def test_a_log_that_outlives_the_process_signs_an_ordinary_checkpoint_at_stop_from_async_heads() -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate(), CONTEXT)
    head = Head(CHAIN_ID, 5, "b" * 64)
    written: list[Checkpoint] = []

    async def heads() -> tuple[Head | None, list[Head]]:  # read from the database, as authorization does
        return head, []

    async def write(batch: list[Checkpoint]) -> None:
        written.extend(batch)

    keeper = Checkpointer(signer, heads, lambda _: None, write, interval=3600, clock=lambda: T0,
                          close_at_stop=False)
    assert [c.seq for c in await keeper.checkpoint()] == [5]
    assert await keeper.checkpoint() == []  # the head has not moved
    head = Head(CHAIN_ID, 7, "c" * 64)
    await keeper.stop()
    assert [(c.seq, c.final) for c in written] == [(5, False), (7, False)]
