"""Who made a decision (issue 12): the person (or system) recorded beside every decision a service keeps."""

from __future__ import annotations

from dataclasses import dataclass

from govshare.common.v1 import common_pb2
from services.runtime.identity import Caller


@dataclass(frozen=True)
class Actor:
    """A person's id (``psn-...``) and display name at the time, or a system's id (no name), and the
    department they acted for."""

    id: str = ""
    display_name: str = ""
    department_code: str = ""

    def __bool__(self) -> bool:
        return bool(self.id)


def actor_of(caller: Caller) -> Actor:
    return Actor(caller.system_id, caller.display_name, caller.department_code)


def actor_pb(actor: Actor) -> common_pb2.Actor | None:
    """govshare.common.v1.Actor, or None (the field stays unset) when nobody has decided yet."""
    if not actor:
        return None
    return common_pb2.Actor(id=actor.id, display_name=actor.display_name, department_code=actor.department_code)
