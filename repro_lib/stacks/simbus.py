"""Core-NATS semantics for the sim: at-most-once, no storage, no error without subscribers."""

from __future__ import annotations

__all__ = ["Bus"]


class Bus:
    """Which subjects have a live subscriber, and which edges are cut off from the server.

    A publish to a subject with no live subscriber succeeds for the publisher and is dropped
    by the server; the sim records it as ``lost``. A message to or from a partitioned edge is
    ``dropped``."""

    def __init__(self) -> None:
        self.subscribers: dict[str, str] = {}   # subject -> owner (edge name or "orchestrator")
        self.partitioned: set[str] = set()

    def subscribe(self, subject: str, owner: str) -> None:
        self.subscribers[subject] = owner

    def unsubscribe_owner(self, owner: str) -> None:
        for subject in [s for s, o in self.subscribers.items() if o == owner]:
            del self.subscribers[subject]

    def route(self, subject: str, sender: str) -> tuple[str | None, str]:
        """``(owner, outcome)`` with outcome ``delivered``, ``lost`` or ``dropped``."""
        owner = self.subscribers.get(subject)
        if sender in self.partitioned:
            return None, "dropped"
        if owner is None:
            return None, "lost"
        if owner in self.partitioned:
            return None, "dropped"
        return owner, "delivered"
