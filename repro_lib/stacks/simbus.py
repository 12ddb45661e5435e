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
        self._of: dict[str, set[str]] = {}      # owner -> its subjects (a kill of one of 10,000 edges: O(1))

    def subscribe(self, subject: str, owner: str) -> None:
        old = self.subscribers.get(subject)
        if old is not None and old != owner:
            self._of.get(old, set()).discard(subject)
        self.subscribers[subject] = owner
        self._of.setdefault(owner, set()).add(subject)

    def unsubscribe_owner(self, owner: str) -> None:
        for subject in self._of.pop(owner, set()):
            if self.subscribers.get(subject) == owner:
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
